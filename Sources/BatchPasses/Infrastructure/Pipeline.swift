import BatchIR

/// One element of a textual pipeline: a pass name and its options.
public struct PipelineElement: Sendable {
  public var name: String
  public var options: [PassOptions.Entry]
  public var location: SourceLocation
}

/// Parses pipeline text in the style of LLVM's `-passes=` and MLIR's pass options:
/// `fsm-batch{policy=agenda,seed=3},pq-layout`. Blanks around names, braces and values are
/// ignored (`fsm-batch {policy = agenda}`); a value may be quoted with `'` or `"` to hold commas,
/// braces or blanks (`load='a,b.fsm'`); the empty text is the empty pipeline.
public struct PipelineParser {
  public static func parse(_ text: String, source: String = "<pipeline>") throws(Diagnostic)
    -> [PipelineElement]
  {
    let bytes = Array(text.utf8)
    var index = 0
    var elements: [PipelineElement] = []
    func location(_ i: Int) -> SourceLocation { SourceLocation(line: 1, column: i + 1) }
    func fail(_ message: String, _ i: Int) -> Diagnostic {
      Diagnostic(file: source, location: location(i), message: message, sourceLine: text)
    }
    func skipBlanks() {
      while index < bytes.count, isBlank(bytes[index]) { index += 1 }
    }
    func word(stopAt stops: Set<UInt8>) -> (String, Int) {
      skipBlanks()
      let start = index
      while index < bytes.count, !stops.contains(bytes[index]) { index += 1 }
      var end = index
      while end > start, isBlank(bytes[end - 1]) { end -= 1 }
      return (String(decoding: bytes[start..<end], as: UTF8.self), start)
    }
    skipBlanks()
    if index == bytes.count { return [] }
    while true {
      let (name, nameStart) = word(stopAt: [
        UInt8(ascii: ","), UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "="),
        UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"),
      ])
      if name.isEmpty { throw fail("expected a pass name", nameStart) }
      if let bad = name.utf8.firstIndex(where: { !isNameByte($0) }) {
        throw fail(
          "invalid character in pass name '\(name)'",
          nameStart + name.utf8.distance(from: name.utf8.startIndex, to: bad))
      }
      var options: [PassOptions.Entry] = []
      skipBlanks()
      if index < bytes.count, bytes[index] == UInt8(ascii: "{") {
        index += 1
        while true {
          let (key, keyStart) = word(stopAt: [
            UInt8(ascii: "="), UInt8(ascii: ","), UInt8(ascii: "}"),
          ])
          if key.isEmpty {
            if index < bytes.count, bytes[index] == UInt8(ascii: "}"), options.isEmpty {
              index += 1
              break
            }
            throw fail("expected an option name", keyStart)
          }
          var value = ""
          if index < bytes.count, bytes[index] == UInt8(ascii: "=") {
            index += 1
            skipBlanks()
            if index < bytes.count,
              bytes[index] == UInt8(ascii: "'") || bytes[index] == UInt8(ascii: "\"")
            {
              let quote = bytes[index]
              let open = index
              index += 1
              let start = index
              while index < bytes.count, bytes[index] != quote { index += 1 }
              guard index < bytes.count else {
                throw fail("unterminated quoted value of option '\(key)'", open)
              }
              value = String(decoding: bytes[start..<index], as: UTF8.self)
              index += 1
              skipBlanks()
              guard index < bytes.count,
                bytes[index] == UInt8(ascii: ",") || bytes[index] == UInt8(ascii: "}")
              else {
                throw fail("expected ',' or '}' after the quoted value of '\(key)'", index)
              }
            } else {
              let (word, start) = word(stopAt: [UInt8(ascii: ","), UInt8(ascii: "}")])
              // Such a value could not be printed back in quotes (there is no escape).
              if word.contains("'") && word.contains("\"") {
                throw fail("the value of option '\(key)' holds both ' and \"", start)
              }
              value = word
            }
          }
          if options.contains(where: { $0.key == key }) {
            throw fail("option '\(key)' given twice", keyStart)
          }
          options.append(.init(key: key, value: value, location: location(keyStart)))
          guard index < bytes.count else {
            throw fail("expected '}' to close the options of '\(name)'", index)
          }
          let separator = bytes[index]
          index += 1
          if separator == UInt8(ascii: "}") { break }
        }
      }
      elements.append(PipelineElement(name: name, options: options, location: location(nameStart)))
      skipBlanks()
      if index == bytes.count { break }
      guard bytes[index] == UInt8(ascii: ",") else {
        throw fail("expected ',' between passes", index)
      }
      index += 1
    }
    return elements
  }
}

/// Blanks between tokens: spaces, tabs and line breaks.
private func isBlank(_ byte: UInt8) -> Bool {
  byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n")
    || byte == UInt8(ascii: "\r")
}

/// Pass names are letters, digits, `-`, `_` and `.`.
private func isNameByte(_ byte: UInt8) -> Bool {
  switch byte {
  case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
    true
  default: false
  }
}
