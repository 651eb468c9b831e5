import BatchIR

/// Reads the graph dumps published with ED-Batch (and recorded from DyNet): the first line is
/// the node count N, then N lines `type nargs arg1 … argk`; node ids are line order and
/// topological; type 0 cannot be batched. Tensor sizes are not recorded, so every tensor gets
/// `tensorBytes` bytes.
///
/// The result is one instance `g` (a dump is one mini-batch graph), op types `t<k>` for each
/// integer type k, and nodes `%<id>`. Runs in linear time.
public struct EDBatchImporter {
  public static let defaultTensorBytes = 256

  public static func importGraph(
    _ bytes: [UInt8], file: String, tensorBytes: Int = defaultTensorBytes
  )
    throws(Diagnostic) -> Module
  {
    guard tensorBytes > 0, tensorBytes <= 1 << 30 else {
      throw Diagnostic(
        file: file, location: .unknown, message: "--tensor-bytes must be between 1 and 2^30")
    }
    var reader = IntegerLineReader(bytes: bytes, file: file)
    do {
      return try read(&reader, tensorBytes: tensorBytes)
    } catch {
      throw error.withSource(bytes)
    }
  }

  private static func read(_ reader: inout IntegerLineReader, tensorBytes: Int) throws(Diagnostic)
    -> Module
  {
    guard let count = try reader.nextInteger(what: "the node count") else {
      throw reader.error("empty file: expected the node count on the first line")
    }
    guard count <= DGParser.maxNodes else {
      throw reader.error("too many nodes: this tool reads at most \(DGParser.maxNodes)")
    }
    try reader.endLine()
    var module = Module()
    let tensor = TensorType(.u8, [tensorBytes])
    var typeIndexOf: [Int: Int] = [:]
    var rawTypes: [Int32] = []
    rawTypes.reserveCapacity(count)
    var operands: [Int32] = []
    module.beginInstance(name: "g")
    module.nodeType.reserveCapacity(count)
    module.nodeName.reserveCapacity(count)
    for id in 0..<count {
      guard let type = try reader.nextInteger(what: "the op type of node \(id)") else {
        throw reader.error("the file ends after \(id) of \(count) nodes")
      }
      guard let argumentCount = try reader.nextInteger(what: "the operand count of node \(id)")
      else {
        throw reader.error("expected the operand count of node \(id)")
      }
      operands.removeAll(keepingCapacity: true)
      for _ in 0..<argumentCount {
        reader.skipBlanks()
        let location = reader.location
        guard let operand = try reader.nextInteger(what: "an operand of node \(id)") else {
          throw reader.error(
            "node \(id) declares \(argumentCount) operands but its line has \(operands.count)")
        }
        guard operand < id else {
          throw Diagnostic(
            file: reader.file, location: location,
            message: "node \(id) uses node \(operand), which is not defined before it")
        }
        operands.append(Int32(operand))
      }
      try reader.endLine()
      let index: Int
      if let known = typeIndexOf[type] {
        index = known
      } else {
        index = module.addOpType(
          OpType(
            name: "t\(type)", kind: "opaque", operands: [tensor], variadic: true, result: tensor,
            unbatched: type == 0))
        typeIndexOf[type] = index
      }
      rawTypes.append(Int32(type))
      module.addNode(type: index, operands: operands, name: String(id))
    }
    guard reader.isAtEndSkippingWhitespace() else {
      throw reader.error("more lines than the \(count) nodes the first line announces")
    }
    return renumberTypes(module)
  }

  /// Orders op types by their integer type so output does not depend on first appearance.
  private static func renumberTypes(_ module: Module) -> Module {
    var module = module
    let order = module.opTypes.indices.sorted {
      Int(module.opTypes[$0].name.dropFirst()) ?? 0 < Int(module.opTypes[$1].name.dropFirst()) ?? 0
    }
    var newIndex = [Int32](repeating: 0, count: order.count)
    for (new, old) in order.enumerated() { newIndex[old] = Int32(new) }
    module.opTypes = order.map { module.opTypes[$0] }
    for n in 0..<module.nodeCount { module.nodeType[n] = newIndex[Int(module.nodeType[n])] }
    return module
  }
}

/// Reads whitespace-separated non-negative integers line by line, with locations.
struct IntegerLineReader {
  let bytes: [UInt8]
  let file: String
  private var index = 0
  private var line = 1
  private var lineStart = 0

  init(bytes: [UInt8], file: String) {
    self.bytes = bytes
    self.file = file
  }

  var location: SourceLocation { SourceLocation(line: line, column: index - lineStart + 1) }

  func error(_ message: String) -> Diagnostic {
    Diagnostic(file: file, location: location, message: message)
  }

  mutating func skipBlanks() {
    while index < bytes.count,
      bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t")
        || bytes[index] == UInt8(ascii: "\r")
    {
      index += 1
    }
  }

  /// Skips blanks and empty lines; true when nothing else is left.
  mutating func isAtEndSkippingWhitespace() -> Bool {
    while index < bytes.count, Self.isSeparator(bytes[index]) {
      if bytes[index] == UInt8(ascii: "\n") { newline() } else { index += 1 }
    }
    return index >= bytes.count
  }

  /// The next integer on this line, or nil at the end of the line or file (not consumed).
  mutating func nextInteger(what: String) throws(Diagnostic) -> Int? {
    skipBlanks()
    guard index < bytes.count, bytes[index] != UInt8(ascii: "\n") else { return nil }
    let start = index
    var value = 0
    while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9")
    {
      let (times, o1) = value.multipliedReportingOverflow(by: 10)
      let (plus, o2) = times.addingReportingOverflow(Int(bytes[index] - UInt8(ascii: "0")))
      if o1 || o2 || plus > Int(Int32.max) {
        index = start
        throw error("\(what) is too large")
      }
      value = plus
      index += 1
    }
    if index == start || (index < bytes.count && !Self.isSeparator(bytes[index])) {
      throw error("expected \(what) (a non-negative integer), found \(describeToken())")
    }
    return value
  }

  private static func isSeparator(_ byte: UInt8) -> Bool {
    byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
      || byte == UInt8(ascii: "\n")
  }

  private func describeToken() -> String {
    var end = index
    while end < bytes.count, !Self.isSeparator(bytes[end]), end - index < 20 { end += 1 }
    if end == index { return "end of line" }
    let token = bytes[index..<end]
    if token.contains(where: { $0 < 0x20 || $0 >= 0x7F }) { return "a binary byte" }
    return "'\(String(decoding: token, as: UTF8.self))'"
  }

  private mutating func newline() {
    index += 1
    line += 1
    lineStart = index
  }

  /// Requires the end of the current line and moves past it.
  mutating func endLine() throws(Diagnostic) {
    skipBlanks()
    if index >= bytes.count { return }
    guard bytes[index] == UInt8(ascii: "\n") else {
      throw error("expected the end of the line, found \(describeToken())")
    }
    newline()
  }
}
