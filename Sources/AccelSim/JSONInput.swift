import BatchIR
import Foundation

/// Reads and writes the simulator's JSON files (programs, presets, reports), turning decoding errors into diagnostics that name the field and point at it in the file.
public enum JSONInput {
  /// Decodes `T` from `bytes`; `file` names the input in diagnostics.
  public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], file: String)
    throws(Diagnostic) -> T
  {
    let decoder = JSONDecoder()
    do {
      return try decoder.decode(type, from: Data(bytes))
    } catch let error as DecodingError {
      throw diagnostic(for: error, bytes: bytes, file: file)
    } catch {
      throw Diagnostic(file: file, location: .unknown, message: "\(error)")
    }
  }

  /// Encodes `value` as pretty-printed JSON with sorted keys and a final newline.
  public static func encode<T: Encodable>(_ value: T) -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    // Encoding plain structs of numbers and strings cannot fail.
    let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
    return [UInt8](data) + [UInt8(ascii: "\n")]
  }

  /// A coding path as text, e.g. `instructions[3].op`.
  static func pathText(_ path: [any CodingKey]) -> String {
    var text = ""
    for key in path {
      if let index = key.intValue {
        text += "[\(index)]"
      } else {
        text += (text.isEmpty ? "" : ".") + key.stringValue
      }
    }
    return text
  }

  static func diagnostic(for error: DecodingError, bytes: [UInt8], file: String) -> Diagnostic {
    switch error {
    case .keyNotFound(let key, let context):
      let field = pathText(context.codingPath + [key])
      return located(
        "missing field '\(field)'", near: context.codingPath, bytes: bytes, file: file)
    case .typeMismatch(let expected, let context):
      return located(
        "field '\(pathText(context.codingPath))' must be \(describe(expected))",
        near: context.codingPath, bytes: bytes, file: file)
    case .valueNotFound(let expected, let context):
      return located(
        "field '\(pathText(context.codingPath))' must be \(describe(expected)), not null",
        near: context.codingPath, bytes: bytes, file: file)
    case .dataCorrupted(let context):
      if context.codingPath.isEmpty {
        // A syntax error: Foundation's message says "line L, column C" when it knows.
        let text = "\(context.debugDescription) \(context.underlyingError.map { "\($0)" } ?? "")"
        var location = SourceLocation.unknown
        if let (line, column) = lineAndColumn(in: text) {
          location = SourceLocation(line: line, column: column)
        }
        return Diagnostic(file: file, location: location, message: "not valid JSON")
          .withSource(bytes)
      }
      return located(
        "field '\(pathText(context.codingPath))': \(context.debugDescription)",
        near: context.codingPath, bytes: bytes, file: file)
    @unknown default:
      return Diagnostic(file: file, location: .unknown, message: "\(error)")
    }
  }

  static func describe(_ type: Any.Type) -> String {
    switch type {
    case is String.Type: "a string"
    case is Bool.Type: "true or false"
    case is Double.Type, is Float.Type: "a number"
    case is Int.Type, is Int32.Type, is Int64.Type: "an integer"
    case is [Any].Type: "an array"
    default: "a \(type)"
    }
  }

  /// A diagnostic pointing at the last key of `path` in the text (the first `{` when the path is
  /// empty; no location inside arrays).
  static func located(_ message: String, near path: [any CodingKey], bytes: [UInt8], file: String)
    -> Diagnostic
  {
    // Keys inside arrays repeat, so only paths without an index are searched for.
    let location: SourceLocation
    if path.contains(where: { $0.intValue != nil }) {
      location = .unknown
    } else {
      location =
        path.last.flatMap { findKey($0.stringValue, in: bytes) }
        ?? findByte(UInt8(ascii: "{"), in: bytes) ?? .unknown
    }
    return Diagnostic(file: file, location: location, message: message).withSource(bytes)
  }

  /// Where `"key"` first occurs.
  static func findKey(_ key: String, in bytes: [UInt8]) -> SourceLocation? {
    let needle = Array("\"\(key)\"".utf8)
    guard needle.count <= bytes.count else { return nil }
    for start in 0...(bytes.count - needle.count)
    where bytes[start] == needle[0] && bytes[start..<start + needle.count].elementsEqual(needle) {
      return location(of: start, in: bytes)
    }
    return nil
  }

  static func findByte(_ byte: UInt8, in bytes: [UInt8]) -> SourceLocation? {
    bytes.firstIndex(of: byte).map { location(of: $0, in: bytes) }
  }

  static func location(of offset: Int, in bytes: [UInt8]) -> SourceLocation {
    var line = 1
    var lineStart = 0
    for i in 0..<offset where bytes[i] == UInt8(ascii: "\n") {
      line += 1
      lineStart = i + 1
    }
    return SourceLocation(line: line, column: offset - lineStart + 1)
  }

  /// "… line 3, column 7 …" → (3, 7).
  static func lineAndColumn(in text: String) -> (Int, Int)? {
    guard let lineRange = text.range(of: "line ") else { return nil }
    let afterLine = text[lineRange.upperBound...]
    let line = Int(afterLine.prefix { $0.isNumber })
    guard let line, let columnRange = afterLine.range(of: "column ") else { return nil }
    let column = Int(afterLine[columnRange.upperBound...].prefix { $0.isNumber })
    guard let column else { return nil }
    return (line, column)
  }
}
