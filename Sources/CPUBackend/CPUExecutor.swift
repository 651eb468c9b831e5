import BatchIR
import COpenBLAS

/// The host CPU as an execution target: float32 tensors in one arena, batched products through
/// OpenBLAS's `cblas_sgemm`, element-wise code in Swift. Runs the module's schedule batched and
/// one node at a time, checks the two node by node, and times both.
public struct CPUExecutor: ExecutionTarget {
  public static let name = "cpu"
  public var options: ExecutionOptions

  public init(options: ExecutionOptions = ExecutionOptions()) {
    self.options = options
  }

  public func execute(_ module: Module, file: String) throws(Diagnostic) -> ExecutionReport {
    let execution = try CPUExecution(module, options: options, file: file)
    var totals: [Double] = []
    var kernels: [Double] = []
    var copies: [Double] = []
    var unbatched: [Double] = []
    var last = BatchedTiming()
    for _ in 0..<max(options.repeats, 1) {
      last = execution.timeBatched()
      totals.append(last.totalMs)
      kernels.append(last.kernelMs)
      copies.append(last.copyMs)
      unbatched.append(execution.timeUnbatched())
    }
    return execution.report(
      batchedMs: median(totals), kernelMs: median(kernels), copyMs: median(copies),
      unbatchedMs: median(unbatched), last: last)
  }
}

/// A module made ready to run on the CPU: lowered, buffers allocated, values drawn, and run once
/// each way and checked. Then each timed run is one call, so callers can interleave the runs of
/// several executions (the report does, to spread a shared machine's noise evenly).
public final class CPUExecution {
  public let plan: ExecutionPlan
  /// The largest |batched − reference| of the checked run.
  public let maxAbsError: Double
  let batched: BatchedRun
  let reference: ReferenceRun

  public init(_ module: Module, options: ExecutionOptions, file: String) throws(Diagnostic) {
    let plan = try ExecutionPlan(module, memory: options.memory, file: file)
    self.plan = plan
    let referenceFloats = module.nodeType.reduce(0) {
      $0 + (plan.kernels[Int($1)]?.resultFloats ?? 0)
    }
    let inputFloats = plan.bufferFloats - plan.arenaFloats
    // Weights, and at most one constant row (lookup, input) a node.
    let weightFloats = plan.kernels.reduce(0) { $0 + ($1?.weightFloats ?? 0) }
    let constantFloats = module.nodeType.reduce(0) { total, t in
      guard let spec = plan.kernels[Int(t)],
        spec.kind == .lookup || spec.kind == .input
          || spec.kind == .opaque
      else { return total }
      return total + spec.resultFloats
    }
    let bytes =
      (plan.bufferFloats + referenceFloats + inputFloats + weightFloats + constantFloats) * 4
    guard bytes <= options.maxBytes else {
      throw Diagnostic(
        file: file, location: .unknown,
        message: "execute: the tensors need \(bytes >> 20) MiB, more than the limit of "
          + "\(options.maxBytes >> 20) MiB")
    }
    openblas_set_num_threads(Int32(max(options.threads, 1)))
    let values = HostValues(module, plan: plan, seed: options.seed)
    batched = BatchedRun(module: module, plan: plan, values: values, options: options)
    reference = ReferenceRun(module: module, plan: plan, values: values, seed: options.seed)

    // The warm-up runs are the ones checked: the arena starts as NaN, so a result the batched
    // run never wrote cannot pass.
    batched.buffer.pointer.update(repeating: .nan, count: plan.arenaFloats)
    _ = batched.run()
    _ = reference.run(recordingCondition: true)
    maxAbsError = Double(
      try Self.compare(
        module, plan: plan, batched: batched, reference: reference,
        tolerance: options.tolerance, file: file))
  }

  /// One timed batched run.
  public func timeBatched() -> BatchedTiming { batched.run() }

  /// One timed unbatched run, in ms.
  public func timeUnbatched() -> Double { reference.run() }

  /// The report of medians measured by the caller; counts from `last`.
  public func report(
    batchedMs: Double, kernelMs: Double, copyMs: Double, unbatchedMs: Double,
    last: BatchedTiming
  ) -> ExecutionReport {
    ExecutionReport(
      batchedMs: batchedMs, kernelMs: kernelMs, copyMs: copyMs, launches: last.launches,
      unbatchedMs: unbatchedMs, maxAbsError: maxAbsError, bytesCopied: last.bytesCopied,
      gatheredSlots: last.gathered, inPlaceSlots: last.inPlace, arenaBytes: plan.arenaFloats * 4,
      memory: plan.memory)
  }

  /// The largest absolute difference; throws at the first node past the tolerance.
  static func compare(
    _ module: Module, plan: ExecutionPlan, batched: BatchedRun, reference: ReferenceRun,
    tolerance: Float, file: String
  ) throws(Diagnostic) -> Float {
    var worst: Float = 0
    let instanceOf = module.nodeInstances()
    for n in 0..<module.nodeCount {
      let floats = plan.kernels[module.type(of: n)]?.resultFloats ?? 0
      let a = batched.buffer.pointer + plan.resultOffset[n]
      let r = reference.buffer.pointer + reference.resultOffset[n]
      var scale = max(1, reference.condition[n])
      for e in 0..<floats { scale = max(scale, abs(r[e])) }
      for e in 0..<floats {
        let difference = abs(a[e] - r[e])
        if !(difference <= tolerance * scale) {
          let instance = module.instances.isEmpty ? "" : module.instances[Int(instanceOf[n])].name
          let name = module.nodeName[n].isEmpty ? "#\(n)" : "%\(module.nodeName[n])"
          throw Diagnostic(
            file: file,
            location: module.tracksLocations ? module.nodeLocation[n] : .unknown,
            message: "execute: node \(name) (id \(n), instance '\(instance)') differs from the "
              + "unbatched reference at element \(e): \(a[e]) vs \(r[e]) (tolerance "
              + "\(tolerance)·max(1, max |reference|, ‖W row‖·Σ‖x‖) = "
              + "\(tolerance * scale)); the schedule or the layout is wrong")
        }
        worst = max(worst, difference)
      }
    }
    return worst
  }
}

/// The figures of one batched run.
public struct BatchedTiming: Sendable {
  /// Wall time of the whole schedule, and of its kernels and copies, in ms.
  public var totalMs = 0.0
  public var kernelMs = 0.0
  public var copyMs = 0.0
  public var launches = 0
  public var bytesCopied = 0
  public var gathered = 0
  public var inPlace = 0

  public init() {}
}

/// One batched execution of a plan, reusable: buffers and scratch are allocated once.
final class BatchedRun {
  let module: Module
  let plan: ExecutionPlan
  let values: HostValues
  let gemm: ExecutionOptions.GEMMStrategy
  let buffer: FloatBuffer
  /// Pre-activations `[B x R]`, one gathered slot `[B x K]`, the concatenated operands `[B x C]`.
  let z: FloatBuffer
  let gathered: FloatBuffer
  let concatenated: FloatBuffer
  let state: UnsafeMutablePointer<UnsafePointer<Float>?>
  let stateCapacity: Int

  init(module: Module, plan: ExecutionPlan, values: HostValues, options: ExecutionOptions) {
    self.module = module
    self.plan = plan
    self.values = values
    gemm = options.gemm
    buffer = FloatBuffer(count: plan.bufferFloats)
    HostValues.fillInputs(
      buffer.pointer, module: module, plan: plan, seed: options.seed, offset: plan.arenaFloats)
    var (zFloats, slotFloats, rowFloats, states) = (0, 0, 0, 1)
    for b in 0..<plan.schedule.batchCount {
      guard let spec = plan.kernels[Int(plan.schedule.batchType[b])], spec.isProjection else {
        continue
      }
      let count = plan.schedule.batch(b).count
      zFloats = max(zFloats, count * spec.rows)
      rowFloats = max(rowFloats, count * spec.columns)
      for j in 0..<spec.slotFloats.count { slotFloats = max(slotFloats, count * spec.slotWidth(j)) }
      slotFloats = max(slotFloats, count * spec.columns, spec.rows)
      states = max(states, spec.stateGates)
    }
    z = FloatBuffer(count: zFloats)
    gathered = FloatBuffer(count: slotFloats)
    concatenated = FloatBuffer(count: options.gemm == .concatenate ? rowFloats : 1)
    stateCapacity = states
    state = .allocate(capacity: states)
    state.initialize(repeating: nil, count: states)
  }

  deinit { state.deallocate() }

  /// Runs every batch in order and returns its timing.
  func run() -> BatchedTiming {
    var timing = BatchedTiming()
    var kernel: UInt64 = 0
    var copy: UInt64 = 0
    let memory = buffer.pointer
    let start = nanoseconds()
    for b in 0..<plan.schedule.batchCount {
      let batch = plan.schedule.batch(b)
      let t = Int(plan.schedule.batchType[b])
      guard let spec = plan.kernels[t] else { continue }
      let weight = values.weight[t]?.pointer
      let bias = values.bias[t]?.pointer
      if !spec.isProjection {
        let begin = nanoseconds()
        for node in batch {
          let n = Int(node)
          let first = Int(module.operandStart[n])
          timing.launches += Kernels.perNode(
            spec, node: n, operandCount: Int(module.operandStart[n + 1]) - first,
            operand: { UnsafePointer(memory + self.plan.operandSource[first + $0]) },
            weight: weight, bias: bias, values: values, y: memory + plan.resultOffset[n])
        }
        if spec.kind == .lookup || spec.kind == .input || spec.kind == .add
          || spec.kind == .opaque
        {
          timing.launches += 1
        }
        kernel += nanoseconds() - begin
        continue
      }
      guard let weight else { continue }
      let count = batch.count
      let accesses = plan.slots(ofBatch: b)
      let widest = batch.reduce(0) { max($0, module.operands(of: Int($1)).count) }
      let slots = min(widest, spec.weightedSlots)
      var products = 0
      /// z [B x R] (+)= X [B x K] · W_blockᵀ.
      func product(_ x: UnsafePointer<Float>, ld: Int, slot j: Int) {
        let block = spec.weightBlock(ofSlot: j)
        let begin = nanoseconds()
        cblas_sgemm(
          CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count), Int32(spec.rows),
          Int32(block.width), 1, x, Int32(ld), weight + block.column, Int32(spec.columns),
          products == 0 ? 0 : 1, z.pointer, Int32(spec.rows))
        kernel += nanoseconds() - begin
        timing.launches += 1
        products += 1
      }
      // Pre-activations z [B x R] = Σ_j X_j [B x K_j] · W_jᵀ, the tail summed first.
      if gemm == .concatenate && widest > 1 {
        let begin = nanoseconds()
        let x = concatenated.pointer
        x.update(repeating: 0, count: count * spec.columns)
        for (i, node) in batch.enumerated() {
          let n = Int(node)
          let first = Int(module.operandStart[n])
          for j in 0..<(Int(module.operandStart[n + 1]) - first) {
            let block = spec.weightBlock(ofSlot: j)
            let source = memory + plan.operandSource[first + j]
            let target = x + i * spec.columns + block.column
            if j < spec.weightedSlots {
              target.update(from: source, count: block.width)
            } else {
              for e in 0..<block.width { target[e] += source[e] }
            }
            timing.bytesCopied += block.width * 4
          }
        }
        timing.gathered += slots
        timing.launches += 1
        copy += nanoseconds() - begin
        let middle = nanoseconds()
        cblas_sgemm(
          CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count), Int32(spec.rows),
          Int32(spec.columns), 1, x, Int32(spec.columns), weight, Int32(spec.columns), 0,
          z.pointer, Int32(spec.rows))
        timing.launches += 1
        kernel += nanoseconds() - middle
        products = 1
      } else {
        for j in 0..<slots {
          let width = spec.slotWidth(j)
          let access: ExecutionPlan.Access =
            count == 1
            ? .strided(
              base: plan.operandSource[Int(module.operandStart[Int(batch[batch.startIndex])]) + j],
              ld: width)
            : accesses[accesses.startIndex + j]
          switch access {
          case .strided(let base, let ld):
            timing.inPlace += 1
            product(memory + base, ld: ld, slot: j)
          case .broadcast(let base):
            // v = W_j·x once, then added to (or, first, written into) every row of z.
            timing.inPlace += 1
            let block = spec.weightBlock(ofSlot: j)
            let begin = nanoseconds()
            let v = gathered.pointer
            cblas_sgemv(
              CblasRowMajor, CblasNoTrans, Int32(spec.rows), Int32(block.width), 1,
              weight + block.column, Int32(spec.columns), memory + base, 1, 0, v, 1)
            for i in 0..<count {
              let row = z.pointer + i * spec.rows
              if products == 0 {
                row.update(from: v, count: spec.rows)
              } else {
                for e in 0..<spec.rows { row[e] += v[e] }
              }
            }
            kernel += nanoseconds() - begin
            timing.launches += 2
            products += 1
          case .gather:
            let begin = nanoseconds()
            let g = gathered.pointer
            for (i, node) in batch.enumerated() {
              let n = Int(node)
              let k = Int(module.operandStart[n]) + j
              if k < Int(module.operandStart[n + 1]) {
                (g + i * width).update(from: memory + plan.operandSource[k], count: width)
                timing.bytesCopied += width * 4
              } else {
                (g + i * width).update(repeating: 0, count: width)
              }
            }
            copy += nanoseconds() - begin
            timing.gathered += 1
            timing.launches += 1
            product(g, ld: width, slot: j)
          }
        }
        if widest > spec.weightedSlots {
          // The variadic tail: Σ_{j≥S} x_j row by row (an element-wise kernel), then one product.
          let width = spec.slotWidth(spec.weightedSlots - 1)
          let begin = nanoseconds()
          let g = gathered.pointer
          g.update(repeating: 0, count: count * width)
          for (i, node) in batch.enumerated() {
            let n = Int(node)
            let first = Int(module.operandStart[n]) + spec.weightedSlots
            guard first < Int(module.operandStart[n + 1]) else { continue }
            Kernels.sum(
              module.operands.indices[first..<Int(module.operandStart[n + 1])].lazy.map {
                UnsafePointer(memory + self.plan.operandSource[$0])
              }, width: width, into: g + i * width)
          }
          kernel += nanoseconds() - begin
          timing.launches += 1
          product(g, ld: width, slot: spec.weightedSlots - 1)
        }
      }
      if products == 0 { z.pointer.update(repeating: 0, count: count * spec.rows) }
      // Element-wise: each node's result from its pre-activations (and its state operands).
      let begin = nanoseconds()
      let m = spec.stateGates
      for (i, node) in batch.enumerated() {
        let n = Int(node)
        let first = Int(module.operandStart[n])
        let operandCount = Int(module.operandStart[n + 1]) - first
        if spec.kind == .opaque && operandCount == 0 {
          _ = Kernels.perNode(
            spec, node: n, operandCount: 0, operand: { _ in UnsafePointer(memory) },
            weight: nil, bias: nil, values: values, y: memory + plan.resultOffset[n])
          continue
        }
        for k in 0..<m {
          let j = spec.weightedSlots - m + k
          state[k] = j < operandCount ? UnsafePointer(memory + plan.operandSource[first + j]) : nil
        }
        Kernels.pointwise(
          spec, z: z.pointer + i * spec.rows, bias: bias, state: state,
          y: memory + plan.resultOffset[n])
      }
      kernel += nanoseconds() - begin
      timing.launches += 1
    }
    timing.totalMs = Double(nanoseconds() - start) / 1e6
    timing.kernelMs = Double(kernel) / 1e6
    timing.copyMs = Double(copy) / 1e6
    return timing
  }
}

/// The unbatched reference: one node at a time, in topological order, each result in its own
/// place (creation order, no padding), products through `cblas_sgemv`.
final class ReferenceRun {
  let module: Module
  let plan: ExecutionPlan
  let values: HostValues
  let buffer: FloatBuffer
  let resultOffset: [Int]
  /// Float index of every operand occurrence's value in `buffer`.
  let operandSource: [Int]
  let order: [Int]
  let z: FloatBuffer
  let tail: FloatBuffer
  let state: UnsafeMutablePointer<UnsafePointer<Float>?>
  /// The largest 2-norm of a row of each type's W.
  let rowNorm: [Float]
  /// Per node, after `run(recordingCondition: true)`: ‖W row‖ · Σ_j ‖x_j‖ for projections, else 0.
  var condition: [Float]

  init(module: Module, plan: ExecutionPlan, values: HostValues, seed: UInt64) {
    self.module = module
    self.plan = plan
    self.values = values
    var offsets = [Int](repeating: 0, count: module.nodeCount)
    var next = 0
    var rows = 0
    var states = 1
    for n in 0..<module.nodeCount {
      offsets[n] = next
      let spec = plan.kernels[module.type(of: n)]
      next += spec?.resultFloats ?? 0
      rows = max(rows, spec?.rows ?? 0)
      states = max(states, spec?.stateGates ?? 0)
    }
    let inputs = next
    buffer = FloatBuffer(count: next + plan.bufferFloats - plan.arenaFloats)
    HostValues.fillInputs(buffer.pointer, module: module, plan: plan, seed: seed, offset: inputs)
    operandSource = module.operands.enumerated().map { k, operand in
      operand >= 0 ? offsets[Int(operand)] : plan.operandSource[k] - plan.arenaFloats + inputs
    }
    resultOffset = offsets
    order = topologicalOrder(module)
    z = FloatBuffer(count: rows)
    rowNorm = plan.kernels.indices.map { t in
      guard let spec = plan.kernels[t], spec.isProjection, let w = values.weight[t] else {
        return 0
      }
      var largest: Float = 0
      for r in 0..<spec.rows {
        var squares: Float = 0
        for c in 0..<spec.columns {
          squares += w.pointer[r * spec.columns + c] * w.pointer[r * spec.columns + c]
        }
        largest = max(largest, squares)
      }
      return largest.squareRoot()
    }
    condition = [Float](repeating: 0, count: module.nodeCount)
    tail = FloatBuffer(count: plan.kernels.reduce(0) { max($0, $1?.columns ?? 0) })
    state = .allocate(capacity: states)
    state.initialize(repeating: nil, count: states)
  }

  deinit { state.deallocate() }

  /// Runs every node once; returns the wall time in ms. With `recordingCondition`, also fills
  /// `condition` (untimed use only).
  func run(recordingCondition: Bool = false) -> Double {
    let memory = buffer.pointer
    let start = nanoseconds()
    for n in order {
      let t = module.type(of: n)
      guard let spec = plan.kernels[t] else { continue }
      let first = Int(module.operandStart[n])
      let count = Int(module.operandStart[n + 1]) - first
      let y = memory + resultOffset[n]
      guard spec.isProjection, count > 0, let weight = values.weight[t]?.pointer else {
        _ = Kernels.perNode(
          spec, node: n, operandCount: count,
          operand: { UnsafePointer(memory + self.operandSource[first + $0]) },
          weight: values.weight[t]?.pointer, bias: values.bias[t]?.pointer, values: values, y: y)
        continue
      }
      if recordingCondition {
        // ‖W row‖ · Σ_j ‖x_j‖ bounds Σ|w||x|, the scale of a product's rounding error.
        var norms: Float = 0
        for k in first..<first + count {
          let x = memory + operandSource[k]
          var squares: Float = 0
          for e in 0..<spec.weightBlock(ofSlot: k - first).width { squares += x[e] * x[e] }
          norms += squares.squareRoot()
        }
        condition[n] = rowNorm[t] * norms
      }
      let weighted = min(count, spec.weightedSlots)
      for j in 0..<weighted {
        let block = spec.weightBlock(ofSlot: j)
        cblas_sgemv(
          CblasRowMajor, CblasNoTrans, Int32(spec.rows), Int32(block.width), 1,
          weight + block.column, Int32(spec.columns), memory + operandSource[first + j], 1,
          j == 0 ? 0 : 1, z.pointer, 1)
      }
      if count > weighted {
        let block = spec.weightBlock(ofSlot: weighted - 1)
        Kernels.sum(
          (first + weighted..<first + count).lazy.map {
            UnsafePointer(memory + self.operandSource[$0])
          },
          width: block.width, into: tail.pointer)
        cblas_sgemv(
          CblasRowMajor, CblasNoTrans, Int32(spec.rows), Int32(block.width), 1,
          weight + block.column, Int32(spec.columns), tail.pointer, 1, 1, z.pointer, 1)
      }
      let m = spec.stateGates
      for k in 0..<m {
        let j = spec.weightedSlots - m + k
        state[k] = j < count ? UnsafePointer(memory + operandSource[first + j]) : nil
      }
      Kernels.pointwise(spec, z: z.pointer, bias: values.bias[t]?.pointer, state: state, y: y)
    }
    return Double(nanoseconds() - start) / 1e6
  }
}

/// Node ids in an order where every node comes after its operands (smallest ready id first).
func topologicalOrder(_ module: Module) -> [Int] {
  let (start, users) = module.users()
  var pending = (0..<module.nodeCount).map { n in
    module.operands(of: n).reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
  }
  var ready = (0..<module.nodeCount).filter { pending[$0] == 0 }.reversed() as [Int]
  var order: [Int] = []
  order.reserveCapacity(module.nodeCount)
  while let n = ready.popLast() {
    order.append(n)
    for u in users[Int(start[n])..<Int(start[n + 1])] {
      pending[Int(u)] -= 1
      if pending[Int(u)] == 0 { ready.append(Int(u)) }
    }
  }
  return order
}
