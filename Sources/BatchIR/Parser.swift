/// Reads the `.dg` text format (docs/graph-format.md) into a `Module`.
///
/// A hand-written recursive-descent parser over UTF-8 bytes. Every error is a `Diagnostic`
/// with the file, line and column; nothing traps on bad input.
public struct DGParser: Sendable {
  /// The most nodes a module may hold (ids are 32-bit; this also bounds memory).
  public static let maxNodes = 50_000_000
  /// The most time-steps of one compact recurrent instance.
  public static let maxSteps = 1_000_000
  /// The latest `arrival=` a request may have, in seconds (about 31 years; keeps clocks finite).
  public static let maxArrival = 1e9

  /// Files at least this long are read with their instances in two halves side by side
  /// (`parseInHalves`); below it, starting a second thread costs about what it saves.
  static let halvesThreshold = 1 << 20

  /// Parses `.dg` text. `file` names the source in diagnostics.
  public static func parse(_ bytes: [UInt8], file: String) throws(Diagnostic) -> Module {
    if bytes.count >= halvesThreshold,
      let module = parseInHalves(bytes, file: file, splittingNear: bytes.count / 2)
    {
      return module
    }
    return try parseInOnePass(bytes, file: file)
  }

  /// Parses `.dg` text from the first byte to the last.
  static func parseInOnePass(_ bytes: [UInt8], file: String) throws(Diagnostic) -> Module {
    var parser = DGParser(bytes: bytes, file: file)
    do {
      return try parser.parseModule()
    } catch var diagnostic {
      if diagnostic.file.isEmpty { diagnostic.file = file }
      diagnostic.sourceLine = sourceLineText(bytes, line: diagnostic.location.line)
      throw diagnostic
    }
  }

  /// Parses `.dg` text given as a string.
  public static func parse(_ text: String, file: String) throws(Diagnostic) -> Module {
    try parse(Array(text.utf8), file: file)
  }

  private var cursor: Cursor
  private let file: String
  private var module = Module()
  /// Op type indices by name.
  private var typeIndex = SourceNameTable()
  /// The nodes of the instance being read, by name (emptied for every instance).
  private var instanceNodes = SourceNameTable()
  /// The operands of the node being read.
  private var operandBuffer: [Int32] = []
  private var weightIDs: Set<String> = []
  private var instanceNames: Set<String> = []

  private init(bytes: [UInt8], file: String) {
    self.cursor = Cursor(bytes: bytes)
    self.file = file
    module.tracksLocations = true
  }

  private func error(_ message: String, at location: SourceLocation) -> Diagnostic {
    Diagnostic(file: file, location: location, message: message)
  }

  private func error(_ message: String) -> Diagnostic {
    error(message, at: cursor.location)
  }

  // MARK: File

  private mutating func parseModule() throws(Diagnostic) -> Module {
    if let bad = cursor.firstInvalidUTF8() {
      throw error(
        "invalid UTF-8: byte 0x\(String(bad.byte, radix: 16, uppercase: true))", at: bad.location)
    }
    try parseHeader()
    reserveNodes(forLines: Self.newlines(in: cursor.bytes, cursor.index..<cursor.end))
    try parseItems(.all)
    return module
  }

  /// `dg VERSION`.
  private mutating func parseHeader() throws(Diagnostic) {
    try cursor.skipTrivia()
    if cursor.atEnd { throw error("empty file: expected the header 'dg \(Module.formatVersion)'") }
    let headerLocation = cursor.location
    guard try cursor.identifier() == "dg" else {
      throw error("expected the header 'dg \(Module.formatVersion)'", at: headerLocation)
    }
    try cursor.skipTrivia()
    let versionLocation = cursor.location
    let version = try integer("format version")
    guard version == Module.formatVersion else {
      throw error(
        "unsupported format version \(version); this tool reads version \(Module.formatVersion)",
        at: versionLocation)
    }
  }

  /// A node takes a line, and its operands (two, usually) fit in its line's bytes: room for
  /// that many up front saves copying the node arrays as they grow.
  private mutating func reserveNodes(forLines lines: Int) {
    module.reserveCapacity(
      nodes: min(lines, Self.maxNodes), operands: min(2 * lines, Self.maxNodes))
  }

  private static func newlines(in bytes: [UInt8], _ range: Range<Int>) -> Int {
    bytes.withUnsafeBufferPointer { bytes in
      bytes[range].reduce(0) { $0 &+ ($1 == UInt8(ascii: "\n") ? 1 : 0) }
    }
  }

  /// Which top-level items `parseItems` reads.
  private enum Items {
    /// Every item to the end of the input.
    case all
    /// `target` and `type` lines, stopping before anything else.
    case declarations
    /// `instance` blocks, stopping before anything else.
    case instances
  }

  /// Reads top-level items up to the cursor's end, or, for a restricted kind, up to the first
  /// item of another kind (the cursor then stops before it).
  private mutating func parseItems(_ items: Items) throws(Diagnostic) {
    while true {
      try cursor.skipTrivia()
      if cursor.atEnd { return }
      let location = cursor.location
      switch (items, cursor.peekIdentifier()) {
      case (.all, _), (.declarations, "target"), (.declarations, "type"),
        (.instances, "instance"):
        break
      default: return
      }
      guard cursor.peekIsIdentifierStart else {
        throw error(
          "expected 'target', 'type', 'instance', 'schedule', 'layout' or 'packing', found \(cursor.describeNext())"
        )
      }
      let keyword = try cursor.identifier()
      switch keyword {
      case "target": try parseTarget(at: location)
      case "type": try parseTypeDeclaration(at: location)
      case "instance": try parseInstance(at: location)
      case "schedule": try parseSchedule(at: location)
      case "layout": try parseLayout(at: location)
      case "packing": try parsePacking(at: location)
      default:
        throw error(
          "expected 'target', 'type', 'instance', 'schedule', 'layout' or 'packing', found '\(keyword)'",
          at: location)
      }
    }
  }

  // MARK: Two halves side by side

  /// Reads the file with its instances in two halves, side by side on two cores: the header and
  /// declarations, then the instances before and from the split (each half numbering its nodes
  /// from 0, with its own UTF-8 check), joined, then whatever follows the instances.
  ///
  /// The split is the first line at or after byte `near` that starts with `instance`. The first
  /// half must read to exactly there, instances only, so one pass would be between items at the
  /// split just as the second half is, and the joined module is the one that pass reads. Nil
  /// when there is no such line, or on any error at all: the caller then reads the file in one
  /// pass, which reports the error exactly where it is.
  static func parseInHalves(_ bytes: [UInt8], file: String, splittingNear near: Int) -> Module? {
    var head = DGParser(bytes: bytes, file: file)
    guard (try? head.parseHeader()) != nil, (try? head.parseItems(.declarations)) != nil,
      let split = instanceLine(in: bytes, atOrAfter: max(near, head.cursor.index))
    else { return nil }
    // The lines of each half, counted once: room for the nodes, and the second half's first line.
    let linesBefore = newlines(in: bytes, head.cursor.index..<split)
    let linesAfter = newlines(in: bytes, split..<bytes.count)
    let splitLine = Int(head.cursor.location.line) + linesBefore
    var first = head
    first.cursor = head.cursor.stopping(at: split)
    first.reserveNodes(forLines: linesBefore + linesAfter)
    let firstHalf = first
    let secondHalf = head
    let (before, after) = Parallel.both(
      {
        var half = firstHalf
        guard Cursor.isValidUTF8(bytes[..<split]), (try? half.parseItems(.instances)) != nil,
          half.cursor.atEnd
        else { return DGParser?.none }
        return half
      },
      {
        var half = secondHalf
        half.cursor = Cursor(bytes: bytes, start: split, end: bytes.count, line: splitLine)
        half.reserveNodes(forLines: linesAfter)
        guard Cursor.isValidUTF8(bytes[split...]), (try? half.parseItems(.instances)) != nil
        else { return DGParser?.none }
        return half
      })
    guard var joined = before, let after,
      joined.instanceNames.isDisjoint(with: after.instanceNames),
      joined.module.nodeCount + after.module.nodeCount <= maxNodes
    else { return nil }
    joined.module.appendInstances(of: after.module)
    joined.instanceNames.formUnion(after.instanceNames)
    joined.cursor = after.cursor
    guard (try? joined.parseItems(.all)) != nil else { return nil }
    return joined.module
  }

  /// The start of the first line at or after byte `near` that begins with `instance` and a
  /// blank, if any.
  static func instanceLine(in bytes: [UInt8], atOrAfter near: Int) -> Int? {
    let keyword = Array("instance".utf8)
    var i = max(near, 1)
    while i + keyword.count < bytes.count {
      if bytes[i - 1] == UInt8(ascii: "\n"), bytes[i] == keyword[0],
        bytes[i..<(i + keyword.count)].elementsEqual(keyword),
        bytes[i + keyword.count] == UInt8(ascii: " ")
          || bytes[i + keyword.count] == UInt8(ascii: "\t")
      {
        return i
      }
      i += 1
    }
    return nil
  }

  // MARK: Target

  /// `target NAME` or `target "PATH"`: the accelerator preset, once, before the op types.
  private mutating func parseTarget(at location: SourceLocation) throws(Diagnostic) {
    if module.target != nil { throw error("duplicate target line", at: location) }
    if !module.opTypes.isEmpty || !module.instances.isEmpty || module.schedule != nil
      || module.packing != nil
    {
      throw error("the target line must come before the op types", at: location)
    }
    try cursor.skipTrivia()
    let nameLocation = cursor.location
    let name: String
    if cursor.peek == UInt8(ascii: "\"") {
      guard let quoted = cursor.scanQuoted() else {
        throw error(
          "unterminated string: expected '\"' before the end of the line", at: nameLocation)
      }
      name = quoted
    } else if cursor.peekIsIdentifierStart {
      name = try cursor.identifier()
    } else {
      throw error(
        "expected a preset name or a quoted preset file after 'target', found \(cursor.describeNext())",
        at: nameLocation)
    }
    if name.isEmpty { throw error("the target must not be empty", at: nameLocation) }
    module.target = TargetSpec(name, location: nameLocation)
  }

  // MARK: Op types

  /// The instance index of every name, built on first use by the packing section.
  private var instanceIndex: [String: Int32] = [:]

  /// `packing strategy=S lanes=B steps=N { (round N ('|' segment*)*)* }`, segment
  /// `NAME@FIRST+COUNT` or `_+COUNT`.
  private mutating func parsePacking(at location: SourceLocation) throws(Diagnostic) {
    if module.packing != nil { throw error("duplicate packing section", at: location) }
    var values: [String] = []
    for name in ["strategy", "lanes", "steps"] {
      try cursor.skipTrivia()
      let keyLocation = cursor.location
      guard try identifier("'\(name)='") == name else {
        throw error("expected '\(name)=' in the packing header", at: keyLocation)
      }
      try expect("=")
      if name == "strategy" {
        values.append(try identifier("a strategy name"))
      } else {
        try cursor.skipTrivia()
        let valueLocation = cursor.location
        let value = try integer(name == "lanes" ? "a lane count" : "a step count")
        if value > DGParser.maxSteps || (name == "lanes" && value < 1) {
          throw error(
            "\(name) must be between \(name == "lanes" ? 1 : 0) and \(DGParser.maxSteps)",
            at: valueLocation)
        }
        values.append(String(value))
      }
    }
    var packing = Packing(
      strategy: values[0], lanes: Int(values[1])!, stepsPerChunk: Int(values[2])!,
      location: location)
    if instanceIndex.isEmpty {
      for (index, instance) in module.instances.enumerated() {
        instanceIndex[instance.name] = Int32(index)
      }
    }
    try expect("{")
    while true {
      try cursor.skipTrivia()
      let roundLocation = cursor.location
      guard cursor.peekIdentifier() == "round" else { break }
      _ = try cursor.identifier()
      try cursor.skipTrivia()
      let stepsLocation = cursor.location
      let steps = try integer("a step count")
      if steps < 1 || steps > DGParser.maxSteps {
        throw error(
          "a round's step count must be between 1 and \(DGParser.maxSteps)", at: stepsLocation)
      }
      var round = Packing.Round(steps: steps, lanes: [], location: roundLocation)
      while true {
        try cursor.skipTrivia()
        guard cursor.consume("|") else { break }
        if round.lanes.count >= packing.lanes {
          throw error(
            "the round lists more than the packing's \(packing.lanes) lanes", at: roundLocation)
        }
        var lane: [Packing.Segment] = []
        while true {
          try cursor.skipTrivia()
          let segmentLocation = cursor.location
          if cursor.consume("_+") {
            lane.append(.idle(Int32(try count(at: segmentLocation))))
            continue
          }
          guard cursor.peekIsIdentifierStart else { break }
          let saved = cursor
          let name = try cursor.identifier()
          if cursor.peek != UInt8(ascii: "@") {
            cursor = saved  // the next 'round', or an error reported below
            break
          }
          guard let request = instanceIndex[name] else {
            throw error("unknown instance '\(name)'", at: segmentLocation)
          }
          try expect("@")
          try cursor.skipTrivia()
          let firstLocation = cursor.location
          let first = try integer("a first step")
          if first >= DGParser.maxSteps {
            throw error("step \(first) is out of range", at: firstLocation)
          }
          try expect("+")
          lane.append(
            Packing.Segment(
              request: request, first: Int32(first), count: Int32(try count(at: segmentLocation))))
        }
        if lane.isEmpty {
          throw error(
            "expected a segment ('NAME@FIRST+COUNT' or '_+COUNT'), found \(cursor.describeNext())")
        }
        round.lanes.append(lane)
      }
      packing.rounds.append(round)
    }
    try expect("}", context: "to close the packing")
    module.packing = packing
  }

  /// A segment's step count, 1 … maxSteps.
  private mutating func count(at location: SourceLocation) throws(Diagnostic) -> Int {
    try cursor.skipTrivia()
    let value = try integer("a step count")
    if value < 1 || value > DGParser.maxSteps {
      throw error("a segment's step count must be between 1 and \(DGParser.maxSteps)", at: location)
    }
    return value
  }

  /// `type NAME = KIND(T, T...) -> T [weights(ID: T, …)] [recurrent] [unbatched]`
  private mutating func parseTypeDeclaration(at location: SourceLocation) throws(Diagnostic) {
    if module.schedule != nil || module.packing != nil {
      throw error("op types must be declared before the schedule and the packing", at: location)
    }
    try cursor.skipTrivia()
    let nameLocation = cursor.location
    let nameStart = cursor.index
    let name = try identifier("an op type name")
    let nameRange = nameStart..<cursor.index
    if typeIndex.value(of: nameRange, in: cursor.bytes) != nil {
      throw error("redefinition of op type '\(name)'", at: nameLocation)
    }
    try expect("=")
    let kind = try identifier("an op kind")
    try expect("(")
    var operandTypes: [TensorType] = []
    var variadic = false
    try cursor.skipTrivia()
    if !cursor.consume(")") {
      while true {
        operandTypes.append(try tensorType())
        try cursor.skipTrivia()
        if cursor.consume("...") {
          variadic = true
          try expect(")")
          break
        }
        if cursor.consume(")") { break }
        try expect(",", orClose: ")")
      }
    }
    try expect("->")
    let result = try tensorType()
    var weights: [Weight] = []
    var recurrent = false
    var unbatched = false
    while true {
      try cursor.skipTrivia()
      guard cursor.peekIsIdentifierStart else { break }
      let attributeLocation = cursor.location
      let attribute = cursor.peekIdentifier()
      guard attribute == "weights" || attribute == "recurrent" || attribute == "unbatched" else {
        break
      }
      _ = try cursor.identifier()
      switch attribute {
      case "weights":
        if !weights.isEmpty { throw error("duplicate 'weights' attribute", at: attributeLocation) }
        try expect("(")
        repeat {
          try cursor.skipTrivia()
          let idLocation = cursor.location
          let id = try identifier("a weight id")
          if weightIDs.contains(id) {
            throw error("redefinition of weight '\(id)'", at: idLocation)
          }
          weightIDs.insert(id)
          try expect(":")
          weights.append(Weight(id: id, type: try tensorType()))
          try cursor.skipTrivia()
        } while cursor.consume(",")
        try expect(")")
      case "recurrent": recurrent = true
      default: unbatched = true
      }
    }
    if variadic && operandTypes.isEmpty {
      throw error("a variadic op type needs an operand type", at: nameLocation)
    }
    typeIndex.insert(nameRange, value: Int32(module.opTypes.count), in: cursor.bytes)
    module.addOpType(
      OpType(
        name: name, kind: kind, operands: operandTypes, variadic: variadic, result: result,
        weights: weights, recurrent: recurrent, unbatched: unbatched, location: nameLocation))
  }

  /// `ELEM[D1xD2x…]`, e.g. `f32[64]`, `f32[512x192]`, `f32[]`.
  private mutating func tensorType() throws(Diagnostic) -> TensorType {
    try cursor.skipTrivia()
    let location = cursor.location
    guard cursor.peekIsIdentifierStart else {
      throw error("expected a tensor type such as f32[64], found \(cursor.describeNext())")
    }
    let elementName = cursor.scanWord()
    guard let element = ElementType(rawValue: elementName) else {
      throw error(
        "unknown element type '\(elementName)' (expected one of \(ElementType.allCases.map(\.rawValue).joined(separator: ", ")))",
        at: location)
    }
    guard cursor.consume("[") else {
      throw error("expected '[' after element type '\(elementName)'")
    }
    var dimensions: [Int] = []
    var elements = 1
    if !cursor.consume("]") {
      while true {
        let dimensionLocation = cursor.location
        let dimension = try integer("a dimension")
        if dimension == 0 { throw error("a dimension must be positive", at: dimensionLocation) }
        let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
        if overflow || product > 1 << 40 {
          throw error("tensor type is too large", at: dimensionLocation)
        }
        elements = product
        dimensions.append(dimension)
        if cursor.consume("]") { break }
        guard cursor.consume("x") else {
          throw error("expected 'x' or ']' in tensor type, found \(cursor.describeNext())")
        }
      }
    }
    return TensorType(element, dimensions)
  }

  // MARK: Instances

  /// `instance NAME [arrival=SECONDS] { NODE* }` or `{ rnn(L1, L2, …) steps=T }`.
  private mutating func parseInstance(at location: SourceLocation) throws(Diagnostic) {
    if module.schedule != nil || module.packing != nil {
      throw error("instances must come before the schedule and the packing", at: location)
    }
    try cursor.skipTrivia()
    let nameLocation = cursor.location
    let name = try identifier("an instance name")
    if instanceNames.contains(name) {
      throw error("redefinition of instance '\(name)'", at: nameLocation)
    }
    instanceNames.insert(name)
    var arrival: Double?
    try cursor.skipTrivia()
    if cursor.peekIdentifier() == "arrival" {
      _ = try cursor.identifier()
      try expect("=")
      try cursor.skipTrivia()
      let arrivalLocation = cursor.location
      guard let value = cursor.scanDecimal(), value.isFinite, value >= 0, value <= Self.maxArrival
      else {
        throw error(
          "expected an arrival time in seconds between 0 and \(Int(Self.maxArrival))",
          at: arrivalLocation)
      }
      arrival = value
    }
    try expect("{")
    try cursor.skipTrivia()
    if cursor.peekIdentifier() == "rnn" {
      try parseRecurrence(name: name, arrival: arrival, location: nameLocation)
    } else {
      module.beginInstance(name: name, arrival: arrival, location: nameLocation)
      try parseNodes()
    }
    try expect("}", context: "to close instance '\(name)'")
  }

  /// `rnn(L1, L2, …) steps=T`
  private mutating func parseRecurrence(name: String, arrival: Double?, location: SourceLocation)
    throws(Diagnostic)
  {
    _ = try cursor.identifier()
    try expect("(")
    var layers: [Int] = []
    repeat {
      layers.append(try knownOpType())
      try cursor.skipTrivia()
    } while cursor.consume(",")
    try expect(")")
    try cursor.skipTrivia()
    guard try identifier("'steps'") == "steps" else {
      throw error("expected 'steps=' after rnn(…)", at: cursor.location)
    }
    try expect("=")
    try cursor.skipTrivia()
    let stepsLocation = cursor.location
    let steps = try integer("a step count")
    if steps < 1 || steps > DGParser.maxSteps {
      throw error("step count must be between 1 and \(DGParser.maxSteps)", at: stepsLocation)
    }
    if module.nodeCount + steps * layers.count > DGParser.maxNodes {
      throw error("too many nodes: this tool reads at most \(DGParser.maxNodes)", at: stepsLocation)
    }
    module.addRecurrentInstance(
      name: name, arrival: arrival, recurrence: Recurrence(layers: layers, steps: steps),
      location: location)
  }

  /// `%name = TYPE(%a, _, …)` lines until `}`. Operands may name nodes defined later in the
  /// same instance; they are resolved when the instance closes.
  private mutating func parseNodes() throws(Diagnostic) {
    instanceNodes.removeAll()
    var pending: [(slot: Int, name: Range<Int>, location: SourceLocation)] = []
    while true {
      try cursor.skipTrivia()
      guard cursor.peek == UInt8(ascii: "%") else { break }
      let location = cursor.location
      let name = try nodeName()
      if instanceNodes.value(of: name, in: cursor.bytes) != nil {
        throw error("redefinition of '%\(cursor.text(name))' in this instance", at: location)
      }
      try expect("=")
      let type = try knownOpType()
      try expect("(")
      operandBuffer.removeAll(keepingCapacity: true)
      try cursor.skipTrivia()
      if !cursor.consume(")") {
        while true {
          try cursor.skipTrivia()
          let operandLocation = cursor.location
          if cursor.consume("_") {
            operandBuffer.append(Module.external)
          } else if cursor.peek == UInt8(ascii: "%") {
            let operand = try nodeName()
            if let id = instanceNodes.value(of: operand, in: cursor.bytes) {
              operandBuffer.append(id)
            } else {
              pending.append(
                (module.operands.count + operandBuffer.count, operand, operandLocation))
              operandBuffer.append(Module.external)
            }
          } else {
            throw error("expected an operand ('%name' or '_'), found \(cursor.describeNext())")
          }
          try cursor.skipTrivia()
          if cursor.consume(")") { break }
          try expect(",", orClose: ")")
        }
      }
      if module.nodeCount >= DGParser.maxNodes {
        throw error("too many nodes: this tool reads at most \(DGParser.maxNodes)", at: location)
      }
      // Through a buffer: appending the array itself retains and releases it for every node.
      let id = operandBuffer.withUnsafeBufferPointer { operands in
        module.addNode(
          type: type, operands: operands, name: cursor.text(name), location: location)
      }
      instanceNodes.insert(name, value: Int32(id), in: cursor.bytes)
    }
    for use in pending {
      guard let id = instanceNodes.value(of: use.name, in: cursor.bytes) else {
        throw error("use of undefined value '%\(cursor.text(use.name))'", at: use.location)
      }
      module.operands[use.slot] = id
    }
  }

  // MARK: Pass results

  /// `schedule [policy=NAME] { batch TYPE ID* … }`
  private mutating func parseSchedule(at location: SourceLocation) throws(Diagnostic) {
    if module.schedule != nil { throw error("duplicate schedule section", at: location) }
    if module.packing != nil {
      throw error("the schedule must come before the packing", at: location)
    }
    try cursor.skipTrivia()
    var policy = ""
    if cursor.peekIdentifier() == "policy" {
      _ = try cursor.identifier()
      try expect("=")
      policy = try identifier("a policy name")
    }
    var schedule = Schedule(policy: policy, location: location)
    try expect("{")
    while true {
      try cursor.skipTrivia()
      guard cursor.peekIdentifier() == "batch" else { break }
      _ = try cursor.identifier()
      let type = try knownOpType()
      while true {
        try cursor.skipTrivia()
        guard cursor.peekIsDigit else { break }
        let idLocation = cursor.location
        let id = try integer("a node id")
        guard id < module.nodeCount else {
          throw error(
            "node id \(id) is out of range (the module has \(module.nodeCount) nodes)",
            at: idLocation)
        }
        schedule.nodes.append(Int32(id))
      }
      schedule.batchStart.append(Int32(schedule.nodes.count))
      schedule.batchType.append(Int32(type))
    }
    try expect("}", context: "to close the schedule")
    module.schedule = schedule
  }

  /// `layout align=A { offsets O* … gather batch=B slot=S bytes=N … }`
  private mutating func parseLayout(at location: SourceLocation) throws(Diagnostic) {
    guard let schedule = module.schedule else {
      throw error("a layout section needs a schedule before it", at: location)
    }
    if module.layout != nil { throw error("duplicate layout section", at: location) }
    if module.packing != nil {
      throw error("the layout must come before the packing", at: location)
    }
    try cursor.skipTrivia()
    guard try identifier("'align'") == "align" else {
      throw error("expected 'align=' after 'layout'", at: location)
    }
    try expect("=")
    try cursor.skipTrivia()
    let alignLocation = cursor.location
    let alignment = try integer("an alignment")
    guard alignment >= 1, alignment <= 1 << 20, alignment & (alignment - 1) == 0 else {
      throw error("the alignment must be a power of two up to 2^20", at: alignLocation)
    }
    var layout = MemoryLayout(alignment: alignment, offsets: [], gathers: [], location: location)
    layout.offsets.reserveCapacity(module.nodeCount)
    try expect("{")
    while true {
      try cursor.skipTrivia()
      let keywordLocation = cursor.location
      let keyword = cursor.peekIdentifier()
      if keyword == "offsets" {
        _ = try cursor.identifier()
        while true {
          try cursor.skipTrivia()
          guard cursor.peekIsDigit else { break }
          let offsetLocation = cursor.location
          let offset = try integer("an offset")
          guard offset <= 1 << 50 else {
            throw error("offset \(offset) is too large", at: offsetLocation)
          }
          guard layout.offsets.count < module.nodeCount else {
            throw error(
              "more offsets than the module's \(module.nodeCount) nodes", at: offsetLocation)
          }
          layout.offsets.append(Int64(offset))
        }
      } else if keyword == "gather" {
        _ = try cursor.identifier()
        var values: [Int] = []
        for name in ["batch", "slot", "bytes"] {
          try cursor.skipTrivia()
          guard try identifier("'\(name)='") == name else {
            throw error("expected '\(name)='", at: keywordLocation)
          }
          try expect("=")
          values.append(try integer(name == "bytes" ? "a byte count" : "an index"))
        }
        guard values[0] < schedule.batchCount else {
          throw error(
            "gather names batch \(values[0]), but the schedule has \(schedule.batchCount)",
            at: keywordLocation)
        }
        layout.gathers.append(
          MemoryLayout.Gather(batch: values[0], slot: values[1], bytes: values[2]))
      } else {
        break
      }
    }
    try expect("}", context: "to close the layout")
    guard layout.offsets.count == module.nodeCount else {
      throw error(
        "the layout has \(layout.offsets.count) offsets for \(module.nodeCount) nodes", at: location
      )
    }
    module.layout = layout
  }

  // MARK: Tokens

  private mutating func identifier(_ what: String) throws(Diagnostic) -> String {
    try cursor.skipTrivia()
    guard cursor.peekIsIdentifierStart else {
      throw error("expected \(what), found \(cursor.describeNext())")
    }
    return try cursor.identifier()
  }

  /// `%name`: where the name lies in the source (`cursor.text` spells it).
  private mutating func nodeName() throws(Diagnostic) -> Range<Int> {
    let location = cursor.location
    _ = cursor.consume("%")
    let name = cursor.scanWordRange()
    if name.isEmpty { throw error("expected a name after '%'", at: location) }
    return name
  }

  /// An op type name, as its index; an unknown name is an error at the name.
  private mutating func knownOpType() throws(Diagnostic) -> Int {
    try cursor.skipTrivia()
    let location = cursor.location
    guard cursor.peekIsIdentifierStart else {
      throw error("expected an op type name, found \(cursor.describeNext())")
    }
    let name = cursor.scanWordRange()
    guard let type = typeIndex.value(of: name, in: cursor.bytes) else {
      throw error("unknown op type '\(cursor.text(name))'", at: location)
    }
    return Int(type)
  }

  private mutating func integer(_ what: String) throws(Diagnostic) -> Int {
    try cursor.skipTrivia()
    guard cursor.peekIsDigit else {
      throw error("expected \(what), found \(cursor.describeNext())")
    }
    let location = cursor.location
    guard let value = cursor.scanInteger() else {
      throw error("integer literal is too large", at: location)
    }
    return value
  }

  private mutating func expect(_ token: StaticString, context: String = "") throws(Diagnostic) {
    try cursor.skipTrivia()
    guard cursor.consume(token) else {
      let suffix = context.isEmpty ? "" : " \(context)"
      throw error("expected '\(token)'\(suffix), found \(cursor.describeNext())")
    }
  }

  private mutating func expect(_ token: StaticString, orClose close: StaticString)
    throws(Diagnostic)
  {
    guard cursor.consume(token) else {
      throw error("expected '\(token)' or '\(close)', found \(cursor.describeNext())")
    }
  }
}
