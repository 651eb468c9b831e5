import BatchIR

/// The `key=value` options of one pass in a pipeline, with their locations in the pipeline text.
/// A pass takes the keys it knows; the pass manager reports any key left over.
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

  /// Removes and returns the option `key`, if present.
  public mutating func take(_ key: String) -> Entry? {
    guard let index = entries.firstIndex(where: { $0.key == key }) else { return nil }
    return entries.remove(at: index)
  }

  private func error(_ message: String, _ entry: Entry) -> Diagnostic {
    Diagnostic(file: source, location: entry.location, message: "\(passName): \(message)")
  }

  public mutating func string(_ key: String, default value: String) -> String {
    take(key)?.value ?? value
  }

  /// A value from a fixed set.
  public mutating func choice(_ key: String, _ allowed: [String], default value: String)
    throws(Diagnostic) -> String
  {
    guard let entry = take(key) else { return value }
    guard allowed.contains(entry.value) else {
      throw error(
        "option '\(key)' must be one of \(allowed.joined(separator: ", ")); got '\(entry.value)'",
        entry)
    }
    return entry.value
  }

  public mutating func int(_ key: String, default value: Int, range: ClosedRange<Int>)
    throws(Diagnostic) -> Int
  {
    guard let entry = take(key) else { return value }
    guard let parsed = Int(entry.value), range.contains(parsed) else {
      throw error(
        "option '\(key)' must be an integer in \(range.lowerBound)...\(range.upperBound); got '\(entry.value)'",
        entry)
    }
    return parsed
  }

  public mutating func double(_ key: String, default value: Double, range: ClosedRange<Double>)
    throws(Diagnostic) -> Double
  {
    guard let entry = take(key) else { return value }
    guard let parsed = Double(entry.value), parsed.isFinite, range.contains(parsed) else {
      throw error(
        "option '\(key)' must be a number in \(range.lowerBound)...\(range.upperBound); got '\(entry.value)'",
        entry)
    }
    return parsed
  }

  public mutating func bool(_ key: String, default value: Bool) throws(Diagnostic) -> Bool {
    guard let entry = take(key) else { return value }
    switch entry.value {
    case "true", "1", "": return true
    case "false", "0": return false
    default: throw error("option '\(key)' must be true or false; got '\(entry.value)'", entry)
    }
  }

  /// Fails on the first option no one took.
  public func requireAllTaken(known: [String]) throws(Diagnostic) {
    guard let entry = entries.first else { return }
    let list = known.isEmpty ? "it takes no options" : "it takes \(known.joined(separator: ", "))"
    throw error("unknown option '\(entry.key)' (\(list))", entry)
  }
}
