/// A position in UTF-8 source bytes with line/column tracking: the lexer of `.dg` and of
/// other small text formats of this project. Tokens are read on demand by the parser.
struct Cursor {
  let bytes: [UInt8]
  /// Where reading stops: the cursor sees `bytes[..<end]` only.
  private(set) var end: Int
  private(set) var index = 0
  private var line: Int32 = 1
  private var lineStart = 0

  init(bytes: [UInt8]) {
    self.bytes = bytes
    self.end = bytes.count
  }

  /// A cursor over `bytes[start..<end]`, where `start` begins line `line` of the source.
  init(bytes: [UInt8], start: Int, end: Int, line: Int) {
    self.bytes = bytes
    self.end = end
    self.index = start
    self.line = Int32(line)
    self.lineStart = start
  }

  /// This cursor, seeing the bytes only up to `end`.
  func stopping(at end: Int) -> Cursor {
    var copy = self
    copy.end = end
    return copy
  }

  var atEnd: Bool { index >= end }
  var peek: UInt8? { index < end ? bytes[index] : nil }

  var location: SourceLocation {
    SourceLocation(line: Int(line), column: index - lineStart + 1)
  }

  /// Skips blanks, newlines and `#` comments. Control characters other than tab, CR and LF are
  /// an error, so binary input is reported where it starts.
  mutating func skipTrivia() throws(Diagnostic) {
    while index < end {
      let byte = bytes[index]
      switch byte {
      case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
        index += 1
      case UInt8(ascii: "\n"):
        index += 1
        line += 1
        lineStart = index
      case UInt8(ascii: "#"):
        while index < end, bytes[index] != UInt8(ascii: "\n") { index += 1 }
      default:
        if byte < 0x20 || byte == 0x7F {
          throw Diagnostic(
            file: "", location: location,
            message:
              "unexpected control character 0x\(String(byte, radix: 16, uppercase: true)); is this a binary file?"
          )
        }
        return
      }
    }
  }

  static func isWordByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
      UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."),
      UInt8(ascii: "-"):
      true
    default: false
    }
  }

  var peekIsIdentifierStart: Bool {
    guard let byte = peek else { return false }
    return (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
      || byte == UInt8(ascii: "_")
  }

  var peekIsDigit: Bool {
    guard let byte = peek else { return false }
    return byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
  }

  /// Reads `[A-Za-z_][A-Za-z0-9_.-]*`, stopping before `->` and `...`.
  mutating func identifier() throws(Diagnostic) -> String {
    scanWord()
  }

  /// The identifier at the cursor, without consuming it ("" when there is none).
  func peekIdentifier() -> String {
    guard peekIsIdentifierStart else { return "" }
    var copy = self
    return copy.scanWord()
  }

  /// Reads a run of word bytes (letters, digits, `_`, `.`, `-`), stopping before `->` and `...`.
  mutating func scanWord() -> String {
    text(scanWordRange())
  }

  /// The text of `range` of the source bytes.
  func text(_ range: Range<Int>) -> String {
    String(decoding: bytes[range], as: UTF8.self)
  }

  /// Reads what `scanWord` reads and returns where it lies in the bytes, making no `String`.
  mutating func scanWordRange() -> Range<Int> {
    let start = index
    while index < end, Cursor.isWordByte(bytes[index]) {
      if bytes[index] == UInt8(ascii: "-"), index + 1 < end,
        bytes[index + 1] == UInt8(ascii: ">")
      {
        break
      }
      if bytes[index] == UInt8(ascii: "."), index + 1 < end,
        bytes[index + 1] == UInt8(ascii: ".")
      {
        break
      }
      index += 1
    }
    return start..<index
  }

  /// Reads a non-negative decimal integer; nil when it does not fit in 63 bits.
  mutating func scanInteger() -> Int? {
    var value = 0
    var overflow = false
    while index < end, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
      let digit = Int(bytes[index] - UInt8(ascii: "0"))
      let (times, o1) = value.multipliedReportingOverflow(by: 10)
      let (plus, o2) = times.addingReportingOverflow(digit)
      overflow = overflow || o1 || o2
      value = plus
      index += 1
    }
    return overflow ? nil : value
  }

  /// Reads a decimal number `D+[.D+][e[+-]D+]`; nil when malformed.
  mutating func scanDecimal() -> Double? {
    let start = index
    func digits(_ cursor: inout Cursor) -> Int {
      var count = 0
      while cursor.index < cursor.end, cursor.bytes[cursor.index] >= UInt8(ascii: "0"),
        cursor.bytes[cursor.index] <= UInt8(ascii: "9")
      {
        cursor.index += 1
        count += 1
      }
      return count
    }
    guard digits(&self) > 0 else { return nil }
    if peek == UInt8(ascii: "."), index + 1 < end, bytes[index + 1] != UInt8(ascii: ".") {
      index += 1
      guard digits(&self) > 0 else { return nil }
    }
    if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
      index += 1
      if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
      guard digits(&self) > 0 else { return nil }
    }
    return Double(String(decoding: bytes[start..<index], as: UTF8.self))
  }

  /// Reads `"…"` (no escapes, no line break inside) and returns the text between the quotes; nil
  /// when the cursor is not at a quote or the string is not closed on its line.
  mutating func scanQuoted() -> String? {
    guard peek == UInt8(ascii: "\"") else { return nil }
    var close = index + 1
    while close < end, bytes[close] != UInt8(ascii: "\""), bytes[close] != UInt8(ascii: "\n") {
      close += 1
    }
    guard close < end, bytes[close] == UInt8(ascii: "\"") else { return nil }
    let text = String(decoding: bytes[(index + 1)..<close], as: UTF8.self)
    index = close + 1
    return text
  }

  /// Consumes `token` if the bytes at the cursor spell it.
  mutating func consume(_ token: StaticString) -> Bool {
    let count = token.utf8CodeUnitCount
    guard index + count <= end else { return false }
    let matches = token.withUTF8Buffer { buffer in
      for offset in 0..<count where bytes[index + offset] != buffer[offset] { return false }
      return true
    }
    if matches { index += count }
    return matches
  }

  /// A short description of what is at the cursor, for "expected …, found …" messages.
  func describeNext() -> String {
    guard let byte = peek else { return "end of file" }
    if byte == UInt8(ascii: "\n") { return "end of line" }
    if Cursor.isWordByte(byte) {
      var copy = self
      let word = copy.scanWord()
      if !word.isEmpty { return "'\(word.prefix(40))'" }
    }
    if byte >= 0x80 { return "a non-ASCII character" }
    return "'\(Character(Unicode.Scalar(byte)))'"
  }

  /// Whether `bytes` is valid UTF-8 (`firstInvalidUTF8` without the location).
  static func isValidUTF8(_ bytes: ArraySlice<UInt8>) -> Bool {
    guard bytes.contains(where: { $0 >= 0x80 }) else { return true }
    var decoder = UTF8()
    var iterator = bytes.makeIterator()
    while true {
      switch decoder.decode(&iterator) {
      case .scalarValue: continue
      case .emptyInput: return true
      case .error: return false
      }
    }
  }

  /// The first byte that is not part of valid UTF-8, with its location, if any.
  func firstInvalidUTF8() -> (byte: UInt8, location: SourceLocation)? {
    guard bytes.contains(where: { $0 >= 0x80 }) else { return nil }
    var decoder = UTF8()
    var iterator = bytes.makeIterator()
    var offset = 0
    var line = 1
    var lineStart = 0
    loop: while true {
      let start = offset
      switch decoder.decode(&iterator) {
      case .scalarValue(let scalar):
        offset += UTF8.width(scalar)
        if scalar == "\n" {
          line += 1
          lineStart = offset
        }
      case .emptyInput: break loop
      case .error:
        return (bytes[start], SourceLocation(line: line, column: start - lineStart + 1))
      }
    }
    return nil
  }
}

/// Names written in a source, mapped to `Int32` values and looked up by their bytes, so that
/// finding a name makes no `String` and hashes no `String`: the parser's table of node names in
/// an instance and of op type names. Open addressing with linear probing over FNV-1a hashes;
/// `removeAll` clears only the slots in use, so a table reused for every instance costs what
/// each instance holds.
struct SourceNameTable {
  /// Entry index of each slot, or -1; the count is a power of two, at least twice the entries.
  private var slots = [Int32](repeating: -1, count: 16)
  private var names: [Range<Int>] = []
  /// Each name's hash, compared before its bytes.
  private var hashes: [UInt32] = []
  private var values: [Int32] = []
  private var slotOfEntry: [Int32] = []

  var isEmpty: Bool { names.isEmpty }

  /// The value of the name spelled by `name` in `bytes`, if it was inserted.
  func value(of name: Range<Int>, in bytes: [UInt8]) -> Int32? {
    let entry = slots[findSlot(of: name, hash: Self.hash(name, in: bytes), in: bytes)]
    return entry < 0 ? nil : values[Int(entry)]
  }

  /// Inserts a name that is not in the table yet.
  mutating func insert(_ name: Range<Int>, value: Int32, in bytes: [UInt8]) {
    if 2 * (names.count + 1) > slots.count { grow(in: bytes) }
    let hash = Self.hash(name, in: bytes)
    let slot = findSlot(of: name, hash: hash, in: bytes)
    slots[slot] = Int32(names.count)
    names.append(name)
    hashes.append(hash)
    values.append(value)
    slotOfEntry.append(Int32(slot))
  }

  /// Empties the table, keeping its capacity.
  mutating func removeAll() {
    for slot in slotOfEntry { slots[Int(slot)] = -1 }
    names.removeAll(keepingCapacity: true)
    hashes.removeAll(keepingCapacity: true)
    values.removeAll(keepingCapacity: true)
    slotOfEntry.removeAll(keepingCapacity: true)
  }

  /// The slot holding `name` (whose hash is `hash`), or the empty slot where it would go.
  private func findSlot(of name: Range<Int>, hash: UInt32, in bytes: [UInt8]) -> Int {
    let mask = slots.count - 1
    var slot = Int(hash) & mask
    while true {
      let entry = Int(slots[slot])
      if entry < 0 || (hashes[entry] == hash && Self.sameBytes(names[entry], name, in: bytes)) {
        return slot
      }
      slot = (slot + 1) & mask
    }
  }

  private mutating func grow(in bytes: [UInt8]) {
    slots = [Int32](repeating: -1, count: slots.count * 2)
    for (entry, name) in names.enumerated() {
      let slot = findSlot(of: name, hash: hashes[entry], in: bytes)
      slots[slot] = Int32(entry)
      slotOfEntry[entry] = Int32(slot)
    }
  }

  /// FNV-1a over the name's bytes.
  private static func hash(_ name: Range<Int>, in bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBufferPointer { bytes in
      var hash: UInt32 = 2_166_136_261
      for i in name { hash = (hash ^ UInt32(bytes[i])) &* 16_777_619 }
      return hash
    }
  }

  private static func sameBytes(_ a: Range<Int>, _ b: Range<Int>, in bytes: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    return bytes.withUnsafeBufferPointer { bytes in
      for k in 0..<a.count where bytes[a.lowerBound + k] != bytes[b.lowerBound + k] {
        return false
      }
      return true
    }
  }
}
