import BatchIR

/// A scheduled module lowered for execution, independent of the device: the kernel of every op
/// type, where every tensor lives in one float32 buffer, where every operand is read from, and
/// how each batch reads each operand slot (in place, or gathered first).
///
/// The buffer holds the arena (node results) and, after it, the inputs region (one vector per
/// external operand `_`, laid out in batch order so that a slot of external operands is one
/// slice). A CPU executor runs it with BLAS; a GPU backend or a calibrated cost model would
/// read the same plan.
public struct ExecutionPlan: Sendable {
  /// Where result tensors live.
  public enum Memory: String, Sendable {
    /// At the module's layout offsets (`pq-layout`).
    case layout
    /// DyNet's way: in creation order, batch by batch, each batch's results contiguous.
    case creationOrder = "creation-order"
  }

  /// How a batch reads one operand slot. (Results need none: the element-wise step writes each
  /// node's row at its own address.)
  public enum Access: Sendable, Equatable {
    /// Row i sits at `base + i·ld` floats: passed to the GEMM in place.
    case strided(base: Int, ld: Int)
    /// Every row is the same tensor at `base`: one matrix–vector product, added to every row.
    case broadcast(base: Int)
    /// Scattered: copied into a contiguous buffer first.
    case gather
  }

  public var memory: Memory
  /// The kernel of each op type; nil for types no node uses.
  public var kernels: [KernelSpec?]
  /// Batches in run order; each batch's nodes in run order.
  public var schedule: Schedule
  /// Float index of each node's result.
  public var resultOffset: [Int]
  /// Floats of the arena (results); the inputs region starts here.
  public var arenaFloats: Int
  /// Floats of the whole buffer (arena and inputs).
  public var bufferFloats: Int
  /// For every operand occurrence (indexed like `Module.operands`): the float index of its value,
  /// in the arena for a node's result, in the inputs region for `_`.
  public var operandSource: [Int]
  /// Batch b reads its weighted slot j through `slotAccess[slotStart[b] + j]` (projection
  /// kernels of more than one node only; other batches have no entries). A variadic tail is
  /// summed row by row from wherever its operands are, so it needs no access.
  public var slotStart: [Int32]
  public var slotAccess: [Access]

  /// Alignment, in bytes, of every tensor in a creation-order arena (as `pq-layout`'s default).
  public static let creationOrderAlignment = 64

  /// Lowers `module`, which must have a schedule. Uses the module's layout when it has one and
  /// `memory` is `.layout`; otherwise allocates in creation order.
  public init(_ module: Module, memory requested: Memory = .layout, file: String)
    throws(Diagnostic)
  {
    guard let given = module.schedule else {
      throw Diagnostic(
        file: file, location: .unknown,
        message: "execute: the module has no schedule; run a batching pass first "
          + "(e.g. --passes 'fsm-batch,pq-layout')")
    }
    let n = module.nodeCount
    // Kernels of the types nodes use.
    var maxOperands = [Int](repeating: -1, count: module.opTypes.count)
    var operandless = [Int?](repeating: nil, count: module.opTypes.count)
    for node in 0..<n {
      let t = module.type(of: node)
      let count = module.operands(of: node).count
      maxOperands[t] = max(maxOperands[t], count)
      if count == 0, operandless[t] == nil { operandless[t] = node }
    }
    var kernels = [KernelSpec?](repeating: nil, count: module.opTypes.count)
    for (t, type) in module.opTypes.enumerated() where maxOperands[t] >= 0 {
      let spec = try KernelSpec.resolve(type, maxOperands: maxOperands[t], file: file)
      // A variadic type may take no operands at all; only inputs and lookups (fed from outside)
      // and the generic cell (tanh of an empty sum) have a meaning for that.
      if let node = operandless[t], ![.lookup, .input, .opaque].contains(spec.kind) {
        throw Diagnostic(
          file: file,
          location: node < module.nodeLocation.count ? module.nodeLocation[node] : type.location,
          message:
            "cpu backend: node '%\(module.nodeName[node])' of type '\(type.name)' (\(type.kind)) has no operands; its kernel needs at least one"
        )
      }
      kernels[t] = spec
    }
    self.kernels = kernels
    let floats = module.nodeType.map { kernels[Int($0)]?.resultFloats ?? 0 }

    // Where results live.
    var offsets = [Int](repeating: 0, count: n)
    var arena = 0
    if requested == .layout, let layout = module.layout {
      guard layout.offsets.count == n else {
        throw Diagnostic(
          file: file, location: layout.location,
          message: "execute: the layout has \(layout.offsets.count) offsets for \(n) nodes")
      }
      for node in 0..<n {
        let offset = layout.offsets[node]
        guard offset >= 0, offset % 4 == 0, offset <= 1 << 40 else {
          throw Diagnostic(
            file: file, location: layout.location,
            message: "execute: offset \(offset) of node \(node) is not a float32 position")
        }
        offsets[node] = Int(offset / 4)
        arena = max(arena, offsets[node] + floats[node])
      }
      memory = .layout
      schedule = given
    } else {
      // Creation order: batches as scheduled, each batch's nodes by id, results side by side.
      var ordered = Schedule(policy: given.policy, location: given.location)
      for b in 0..<given.batchCount {
        let batchNodes = given.batch(b).sorted()
        ordered.append(type: Int(given.batchType[b]), nodes: batchNodes)
        for node in batchNodes {
          offsets[Int(node)] = arena
          arena += roundUp(floats[Int(node)] * 4, Self.creationOrderAlignment) / 4
        }
      }
      memory = .creationOrder
      schedule = ordered
    }
    resultOffset = offsets
    arenaFloats = arena

    // External operands get input vectors, batch by batch, slot by slot, node by node.
    var sources = [Int](repeating: -1, count: module.operands.count)
    for (k, operand) in module.operands.enumerated() where operand >= 0 {
      sources[k] = offsets[Int(operand)]
    }
    var next = arena
    for b in 0..<schedule.batchCount {
      let batch = schedule.batch(b)
      guard let spec = kernels[Int(schedule.batchType[b])], spec.kind != .lookup else { continue }
      let slots = module.mostOperands(of: batch)
      for j in 0..<slots {
        for node in batch {
          let k = Int(module.operandStart[Int(node)]) + j
          if k < Int(module.operandStart[Int(node) + 1]), module.operands[k] == Module.external {
            sources[k] = next
            next += spec.slotWidth(j)
          }
        }
      }
    }
    operandSource = sources
    bufferFloats = next

    // How each batch reads its slots.
    var slotStart: [Int32] = [0]
    var access: [Access] = []
    for b in 0..<schedule.batchCount {
      let batch = schedule.batch(b)
      let spec = kernels[Int(schedule.batchType[b])]
      if let spec, spec.isProjection, batch.count > 1 {
        let slots = min(
          module.mostOperands(of: batch), spec.weightedSlots)
        for j in 0..<slots {
          var rows: [Int] = []
          for node in batch {
            let k = Int(module.operandStart[Int(node)]) + j
            guard k < Int(module.operandStart[Int(node) + 1]) else { break }
            rows.append(sources[k])
          }
          access.append(
            rows.count == batch.count ? Self.access(rows, width: spec.slotWidth(j)) : .gather)
        }
      }
      slotStart.append(Int32(access.count))
    }
    self.slotStart = slotStart
    slotAccess = access
  }

  /// In place when the rows sit at a constant step of at least `width` floats, a broadcast when
  /// they are all one tensor; else a gather.
  static func access(_ rows: [Int], width: Int) -> Access {
    guard let first = rows.first else { return .gather }
    guard rows.count > 1 else { return .strided(base: first, ld: max(width, 1)) }
    if rows.allSatisfy({ $0 == first }) { return .broadcast(base: first) }
    let step = rows[1] - first
    guard step >= width, step > 0 else { return .gather }
    for (i, row) in rows.enumerated() where row != first + i * step { return .gather }
    return .strided(base: first, ld: step)
  }

  /// The accesses of batch `b`'s operand slots.
  public func slots(ofBatch b: Int) -> ArraySlice<Access> {
    slotAccess[Int(slotStart[b])..<Int(slotStart[b + 1])]
  }
}
