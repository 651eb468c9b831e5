/// A position in a source text: 1-based line and column (columns count bytes).
public struct SourceLocation: Hashable, Sendable {
  public var line: Int32
  public var column: Int32

  public init(line: Int, column: Int) {
    self.line = Int32(clamping: line)
    self.column = Int32(clamping: column)
  }

  /// The location of things that were not read from a file (built in code).
  public static let unknown = SourceLocation(line: 0, column: 0)
}

/// An error with a location, printed like swiftc: `file:line:col: error: message`,
/// then the source line and a caret under the column.
public struct Diagnostic: Error, Equatable, Sendable, CustomStringConvertible {
  /// The file name as the user wrote it (or a pseudo name such as `<pipeline>`).
  public var file: String
  public var location: SourceLocation
  public var message: String
  /// The text of the offending line, when known, for the caret display.
  public var sourceLine: String?

  public init(file: String, location: SourceLocation, message: String, sourceLine: String? = nil) {
    self.file = file
    self.location = location
    self.message = message
    self.sourceLine = sourceLine
  }

  /// `file:line:col: error: message`, the first line of the rendering.
  public var headline: String {
    if location == .unknown { return "\(file): error: \(message)" }
    return "\(file):\(location.line):\(location.column): error: \(message)"
  }

  /// The full rendering: headline, source line and caret.
  public var description: String {
    guard let line = sourceLine, location.column > 0 else { return headline }
    let shown = String(line.prefix(200)).map { $0 == "\t" ? " " : $0 }
    let caretColumn = min(Int(location.column) - 1, shown.count)
    return headline + "\n" + String(shown) + "\n" + String(repeating: " ", count: caretColumn) + "^"
  }
}

/// Finds the text of line `line` (1-based) in a UTF-8 buffer, for diagnostics.
/// Invalid UTF-8 is repaired so the caret display never fails.
func sourceLineText(_ bytes: [UInt8], line: Int32) -> String? {
  guard line >= 1 else { return nil }
  var current: Int32 = 1
  var start = 0
  var index = 0
  while index < bytes.count, current < line {
    if bytes[index] == UInt8(ascii: "\n") {
      current += 1
      start = index + 1
    }
    index += 1
  }
  guard current == line else { return nil }
  var end = start
  while end < bytes.count, bytes[end] != UInt8(ascii: "\n"), end - start < 400 { end += 1 }
  return String(decoding: bytes[start..<end], as: UTF8.self)
}

extension Diagnostic {
  /// This diagnostic with the caret display filled in from the source text it points into.
  public func withSource(_ bytes: [UInt8]) -> Diagnostic {
    var copy = self
    if copy.sourceLine == nil { copy.sourceLine = sourceLineText(bytes, line: location.line) }
    return copy
  }
}
