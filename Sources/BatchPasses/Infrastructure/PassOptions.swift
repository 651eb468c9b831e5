import BatchIR

/// The `key=value` options written for one pass in a pipeline, with their locations in the
/// pipeline text. The pass's declared options (`PassOption`) read them.
public struct PassOptions: Sendable {
  public struct Entry: Sendable {
    public var key: String
    public var value: String
    public var location: SourceLocation
  }

  public private(set) var entries: [Entry]
  /// The pass the options belong to, for messages.
  public let passName: String
  /// The file name used in diagnostics (`<pipeline>` or `<policy>`).
  public let source: String

  public init(passName: String, entries: [Entry] = [], source: String = "<pipeline>") {
    self.passName = passName
    self.entries = entries
    self.source = source
  }
}

/// One option of a pass, declared once in the style of MLIR's `Option<T>` members: its key, the
/// syntax of its value, what it means, and how it is read into and written from the pass.
/// Parsing pipeline text, `--list-passes`, unknown-key errors and printing a pipeline back all
/// come from these declarations (`Pass.options`).
public struct PassOption<P: Pass> {
  public let key: String
  /// The value's syntax, for help: `fsm|agenda`, `INT`, `SECONDS`.
  public let syntax: String
  public let help: String
  /// What the default is, for help; nil: the value of `P()`.
  public let defaultText: String?
  /// Reads a value into the pass; returns what the value must be when it is not acceptable.
  let read: (inout P, String) throws(Diagnostic) -> String?
  /// The value as pipeline text; nil when unset.
  let write: (P) -> String?

  public init(
    _ key: String, syntax: String, help: String, default defaultText: String? = nil,
    read: @escaping (inout P, String) throws(Diagnostic) -> String?,
    write: @escaping (P) -> String?
  ) {
    self.key = key
    self.syntax = syntax
    self.help = help
    self.defaultText = defaultText
    self.read = read
    self.write = write
  }

  /// `key=syntax: help (default)`, one line of `--list-passes`.
  public var summary: String {
    "\(key)=\(syntax): \(help) (\(defaultText ?? write(P()) ?? "none"))"
  }
}

extension PassOption {
  /// A value from an enumeration's raw values.
  public static func choice<T: RawRepresentable & CaseIterable>(
    _ key: String, _ path: WritableKeyPath<P, T>, help: String
  ) -> PassOption where T.RawValue == String {
    let names = T.allCases.map(\.rawValue)
    return PassOption(
      key, syntax: names.joined(separator: "|"), help: help,
      read: { pass, text in
        guard let value = T(rawValue: text) else {
          return "must be one of \(names.joined(separator: ", "))"
        }
        pass[keyPath: path] = value
        return nil
      },
      write: { $0[keyPath: path].rawValue })
  }

  /// An integer in `range`.
  public static func int(
    _ key: String, _ path: WritableKeyPath<P, Int>, in range: ClosedRange<Int>,
    syntax: String = "INT", help: String
  ) -> PassOption {
    PassOption(
      key, syntax: syntax, help: help,
      read: { pass, text in
        guard let value = Int(text), range.contains(value) else {
          return "must be an integer in \(range.lowerBound)...\(range.upperBound)"
        }
        pass[keyPath: path] = value
        return nil
      },
      write: { String($0[keyPath: path]) })
  }

  /// An optional integer in `range`; unset by default.
  public static func int(
    _ key: String, _ path: WritableKeyPath<P, Int?>, in range: ClosedRange<Int>,
    syntax: String = "INT", help: String, default defaultText: String
  ) -> PassOption {
    PassOption(
      key, syntax: syntax, help: help, default: defaultText,
      read: { pass, text in
        guard let value = Int(text), range.contains(value) else {
          return "must be an integer in \(range.lowerBound)...\(range.upperBound)"
        }
        pass[keyPath: path] = value
        return nil
      },
      write: { $0[keyPath: path].map(String.init) })
  }

  /// A number in `range`.
  public static func double(
    _ key: String, _ path: WritableKeyPath<P, Double>, in range: ClosedRange<Double>,
    syntax: String = "X", help: String
  ) -> PassOption {
    PassOption(
      key, syntax: syntax, help: help,
      read: { pass, text in
        guard let value = Double(text), value.isFinite, range.contains(value) else {
          return "must be a number in \(range.lowerBound)...\(range.upperBound)"
        }
        pass[keyPath: path] = value
        return nil
      },
      write: { "\($0[keyPath: path])" })
  }

  /// Any text (a file name); unset by default.
  public static func string(
    _ key: String, _ path: WritableKeyPath<P, String?>, syntax: String, help: String,
    default defaultText: String
  ) -> PassOption {
    PassOption(
      key, syntax: syntax, help: help, default: defaultText,
      read: { pass, text in
        guard !text.isEmpty else { return "must not be empty" }
        pass[keyPath: path] = text
        return nil
      },
      write: { $0[keyPath: path] })
  }
}

extension Pass {
  public static var options: [PassOption<Self>] { [] }

  /// One line per declared option, for `--list-passes`.
  public static var optionSummary: [String] { options.map(\.summary) }

  /// The pass with the options written in a pipeline: each key must be declared, each value
  /// acceptable; errors point at the key in the pipeline text.
  public static func make(_ given: PassOptions) throws(Diagnostic) -> Self {
    let declared = options
    var pass = Self()
    for entry in given.entries {
      func fail(_ message: String) -> Diagnostic {
        Diagnostic(file: given.source, location: entry.location, message: "\(name): \(message)")
      }
      guard let option = declared.first(where: { $0.key == entry.key }) else {
        let list =
          declared.isEmpty
          ? "it takes no options" : "it takes \(declared.map(\.key).joined(separator: ", "))"
        throw fail("unknown option '\(entry.key)' (\(list))")
      }
      if let requirement = try option.read(&pass, entry.value) {
        throw fail("option '\(entry.key)' \(requirement); got '\(entry.value)'")
      }
    }
    return pass
  }

  /// The pass as pipeline text, every option that differs from its default written out
  /// (`fsm-batch{policy=agenda}`); parsing it gives the same pass.
  public var pipelineText: String {
    let defaults = Self()
    let written = Self.options.compactMap { option -> String? in
      guard let value = option.write(self), value != option.write(defaults) else { return nil }
      return "\(option.key)=\(quotedOptionValue(value))"
    }
    return written.isEmpty ? Self.name : "\(Self.name){\(written.joined(separator: ","))}"
  }
}

/// A value as pipeline text: quoted when it holds a separator, a blank or a quote.
func quotedOptionValue(_ value: String) -> String {
  let special: Set<Character> = [",", "{", "}", "=", " ", "'", "\""]
  guard value.isEmpty || value.contains(where: special.contains) else { return value }
  return value.contains("'") ? "\"\(value)\"" : "'\(value)'"
}
