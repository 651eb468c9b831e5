import BatchIR
import COpenBLAS

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
    let scratch = Self.scratch(plan, gemm: options.gemm)
    z = FloatBuffer(count: scratch.z)
    gathered = FloatBuffer(count: scratch.slot)
    concatenated = FloatBuffer(count: scratch.concatenated)
    let states = scratch.states
    stateCapacity = states
    state = .allocate(capacity: states)
    state.initialize(repeating: nil, count: states)
  }

  deinit { state.deallocate() }

  /// Floats of the scratch buffers a batched run of `plan` needs (pre-activations, a gathered
  /// slot, concatenated rows), and the most state gates of a cell.
  static func scratch(_ plan: ExecutionPlan, gemm: ExecutionOptions.GEMMStrategy)
    -> (z: Int, slot: Int, concatenated: Int, states: Int)
  {
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
    return (zFloats, slotFloats, gemm == .concatenate ? rowFloats : 1, states)
  }

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
        // Lookups, inputs and sums are one loop over the batch; BLAS calls counted above.
        if spec.kind == .lookup || spec.kind == .input || spec.kind == .add {
          timing.launches += 1
        }
        kernel += nanoseconds() - begin
        continue
      }
      guard let weight else { continue }
      let count = batch.count
      let accesses = plan.slots(ofBatch: b)
      let widest = module.mostOperands(of: batch)
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
