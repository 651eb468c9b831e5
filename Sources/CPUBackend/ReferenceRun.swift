import BatchIR
import COpenBLAS

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
