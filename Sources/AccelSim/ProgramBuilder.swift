import BatchIR

/// Turns a batched module into an accelerator program: for each batch of the schedule, the
/// requests it admits, a weight load of its op type, the gathers `pq-layout` left for it, and
/// executions split over the lanes; then the completions of the requests it finishes.
///
/// The pieces (`opTypeTable`, `requestTable`, `appendExecutions`) are public so that a packing
/// pass can build programs of its own shape with the same conventions.
public struct ProgramBuilder: Sendable {
  /// Rows one execution may hold.
  public var lanes: Int
  /// Bytes per element on the accelerator; nil keeps the byte counts of the graph's tensors.
  public var elementBytes: Int?

  public init(lanes: Int, elementBytes: Int? = nil) {
    precondition(lanes >= 1, "lanes must be positive")
    self.lanes = lanes
    self.elementBytes = elementBytes
  }

  /// A builder for `preset`'s lanes and element width.
  public init(preset: AcceleratorPreset) {
    self.init(lanes: preset.lanes, elementBytes: preset.elementBytes)
  }

  /// Bytes of `type` on the accelerator.
  public func bytes(of type: TensorType) -> Int {
    guard let elementBytes else { return type.byteCount }
    return type.elementCount * elementBytes
  }

  /// The program's op type table: weights, matrix shapes and MACs of every op type. Kinds
  /// `lookup` and `input` gather table rows rather than multiply, so they get no matrices and
  /// no weight set (their rows count as bytes read).
  public func opTypeTable(_ module: Module) -> [ProgramOpType] {
    module.opTypes.map { type in
      let multiplies = type.macsPerNode > 0
      let matrices =
        multiplies ? type.weights.map(\.type.dimensions).filter { $0.count == 2 } : []
      let recurrentColumns =
        type.recurrent && !type.operands.isEmpty
        ? type.operands[type.operands.count - 1].elementCount : 0
      return ProgramOpType(
        name: type.name,
        weights: multiplies ? type.weights.map(\.id) : [],
        weightBytes: multiplies ? type.weights.reduce(0) { $0 + bytes(of: $1.type) } : 0,
        matrices: matrices,
        recurrentColumns: matrices.isEmpty ? 0 : recurrentColumns,
        macsPerRow: type.macsPerNode)
    }
  }

  /// One request per instance; instances without an arrival arrive at 0.
  public func requestTable(_ module: Module) -> [ProgramRequest] {
    module.instances.map { ProgramRequest(name: $0.name, arrival: $0.arrival ?? 0) }
  }

  /// Appends the executions of `nodes` (all of op type `type`), `lanes` rows at a time.
  public func appendExecutions(
    of nodes: ArraySlice<Int32>, type: Int, in module: Module, table: [ProgramOpType],
    to instructions: inout [Instruction]
  ) {
    let opType = module.opTypes[type]
    let resultBytes = Int64(bytes(of: opType.result))
    let macsPerRow = Int64(table[type].macsPerRow)
    // A lookup reads one table row (the size of its result) besides its operands.
    let tableRowBytes = table[type].weights.isEmpty && !opType.weights.isEmpty ? resultBytes : 0
    // Bytes of each declared operand slot; slots past them repeat the last (variadic types).
    let slotBytes = opType.operands.map { Double(bytes(of: $0)) }
    var start = nodes.startIndex
    while start < nodes.endIndex {
      let end = min(start + lanes, nodes.endIndex)
      // Counts in floating point, saturated: huge tensors and lane counts must not trap.
      var read = 0.0
      for n in nodes[start..<end] {
        let operandCount = module.operandStart[Int(n) + 1] - module.operandStart[Int(n)]
        for slot in 0..<Int(operandCount) {
          read += slotBytes[min(slot, slotBytes.count - 1)]
        }
        read += Double(tableRowBytes)
      }
      let rows = Int64(end - start)
      instructions.append(
        .execute(
          Execution(
            type: Int32(type), lanes: Int32(rows), steps: 1, rows: rows,
            macs: saturated(Double(rows) * Double(macsPerRow)), bytesRead: saturated(read),
            bytesWritten: saturated(Double(rows) * Double(resultBytes)))))
      start = end
    }
  }

  /// The program of `module`'s schedule (and layout, when present).
  /// With a packing (`ebatch-pack`), the program is the packing's (`PackingProgramBuilder`).
  public func build(_ module: Module, file: String = "<module>") throws(Diagnostic) -> Program {
    if let packing = module.packing {
      return PackingProgramBuilder(module: module, builder: self).build(packing)
    }
    guard let schedule = module.schedule else {
      throw Diagnostic(
        file: file, location: .unknown,
        message: "a program needs a schedule; run 'fsm-batch' first")
    }
    let table = opTypeTable(module)
    var program = Program(lanes: lanes, opTypes: table, requests: requestTable(module))

    // The first and last batch of every instance.
    let instanceOf = module.nodeInstances()
    var firstBatch = [Int](repeating: Int.max, count: module.instances.count)
    var lastBatch = [Int](repeating: -1, count: module.instances.count)
    for b in 0..<schedule.batchCount {
      for n in schedule.batch(b) {
        let instance = Int(instanceOf[Int(n)])
        firstBatch[instance] = min(firstBatch[instance], b)
        lastBatch[instance] = b
      }
    }
    // Requests with no node start and complete before anything runs.
    var startsAt = [[Int32]](repeating: [], count: schedule.batchCount)
    var completesAt = [[Int32]](repeating: [], count: schedule.batchCount)
    for i in module.instances.indices {
      if lastBatch[i] < 0 {
        program.instructions.append(.start(request: Int32(i)))
        program.instructions.append(.complete(request: Int32(i)))
      } else {
        startsAt[firstBatch[i]].append(Int32(i))
        completesAt[lastBatch[i]].append(Int32(i))
      }
    }

    // Gathers grouped by batch.
    var gathersAt = [[MemoryLayout.Gather]](repeating: [], count: schedule.batchCount)
    for gather in (module.layout?.gathers ?? []).sorted() where gather.batch < schedule.batchCount {
      gathersAt[gather.batch].append(gather)
    }
    for b in 0..<schedule.batchCount {
      appendBatch(
        schedule.batch(b), type: Int(schedule.batchType[b]), starts: startsAt[b],
        gathers: gathersAt[b], completes: completesAt[b], in: module, table: table,
        to: &program.instructions)
    }
    return program
  }

  /// The instructions of one batch, as `build` lays them out: `start` for the requests it
  /// admits, a weight load when the type multiplies, its `gather`s (from `pq-layout`), the
  /// executions `lanes` rows at a time, then `complete` for the requests it finishes.
  public func appendBatch(
    _ nodes: ArraySlice<Int32>, type: Int, starts: [Int32], gathers: [MemoryLayout.Gather],
    completes: [Int32], in module: Module, table: [ProgramOpType],
    to instructions: inout [Instruction]
  ) {
    for request in starts { instructions.append(.start(request: request)) }
    if table[type].weightBytes > 0 {
      instructions.append(.loadWeights(type: Int32(type), bytes: Int64(table[type].weightBytes)))
    }
    for gather in gathers {
      let element = module.opTypes[type].operandType(at: gather.slot).element
      instructions.append(.gather(bytes: Int64(scaled(gather.bytes, from: element))))
    }
    appendExecutions(of: nodes, type: type, in: module, table: table, to: &instructions)
    for request in completes { instructions.append(.complete(request: request)) }
  }

  /// `bytes` of graph tensors of element type `element`, in accelerator bytes.
  func scaled(_ bytes: Int, from element: ElementType) -> Int {
    guard let elementBytes else { return bytes }
    return bytes / element.byteWidth * elementBytes
  }
}
