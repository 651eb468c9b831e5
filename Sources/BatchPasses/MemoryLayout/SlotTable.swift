import BatchIR

/// The operand slots of every batch that a layout must serve, classified once
/// (`LayoutRequirements.slot`) so that each candidate layout only checks offsets.
///
/// Whether a slot is free, a slice or unsliceable does not depend on the order of the batch's
/// nodes, so one table serves every order of the same batches. Flat arrays: the slots of batch b
/// are `batchStart[b]..<batchStart[b + 1]`, in slot order; free slots are left out.
struct SlotTable {
  /// Per listed slot: its batch, its operand index, its gather bytes and whether it can be a slice.
  var batch: [Int32] = []
  var slot: [Int32] = []
  var bytes: [Int] = []
  var sliceable: [Bool] = []
  /// Per listed slot: its tensors in the order of the batch's nodes it was built from (sliceable
  /// slots only): `tensors[tensorStart[k]..<tensorStart[k + 1]]`.
  var tensorStart: [Int32] = [0]
  var tensors: [Int32] = []
  /// Per batch: its first listed slot (one more entry at the end).
  var batchStart: [Int32] = [0]
  /// Per batch: the listed slot of its largest slice (most bytes; the first of equals), or -1.
  var largest: [Int32] = []

  init(_ module: Module, schedule: Schedule, requirements: LayoutRequirements) {
    for b in 0..<schedule.batchCount {
      let nodes = schedule.batch(b)
      var best: Int32 = -1
      var bestBytes = 0
      for j in 0..<requirements.slotCount(of: nodes, in: module) {
        let kind = requirements.slot(j, of: nodes, in: module)
        if case .free = kind { continue }
        let k = Int32(slot.count)
        batch.append(Int32(b))
        slot.append(Int32(j))
        bytes.append(requirements.gatherBytes(j, of: nodes, in: module))
        if case .slice(let operands) = kind {
          sliceable.append(true)
          tensors.append(contentsOf: operands)
          let size = operands.count * requirements.tensorBytes[Int(operands[0])]
          if size > bestBytes {
            best = k
            bestBytes = size
          }
        } else {
          sliceable.append(false)
        }
        tensorStart.append(Int32(tensors.count))
      }
      largest.append(best)
      batchStart.append(Int32(slot.count))
    }
  }

  /// The tensors of listed slot k (empty unless sliceable).
  func tensors(ofSlot k: Int) -> ArraySlice<Int32> {
    tensors[Int(tensorStart[k])..<Int(tensorStart[k + 1])]
  }

  /// The operand tensors of batch b's largest slice, in the order the table was built from.
  func largestSlice(ofBatch b: Int) -> ArraySlice<Int32>? {
    let k = largest[b]
    return k < 0 ? nil : tensors(ofSlot: Int(k))
  }

  /// Every listed slot that `offsets` does not serve when the batches run their nodes in
  /// `schedule`'s order (the same batches as the table's, in any order inside each), in batch and
  /// slot order: what `LayoutRequirements.requiredGathers` returns, without re-classifying.
  /// `stride` is each node's aligned size.
  func requiredGathers(
    _ module: Module, schedule: Schedule, offsets: [Int64], stride: [Int64]
  ) -> [MemoryLayout.Gather] {
    var gathers: [MemoryLayout.Gather] = []
    for k in 0..<slot.count {
      let b = Int(batch[k])
      if sliceable[k]
        && isSlice(slot: Int(slot[k]), of: schedule.batch(b), module, offsets, stride)
      {
        continue
      }
      gathers.append(MemoryLayout.Gather(batch: b, slot: Int(slot[k]), bytes: bytes[k]))
    }
    return gathers
  }

  /// Whether operand j of `nodes`, in this order, lies at `base, base + stride, …`.
  private func isSlice(
    slot j: Int, of nodes: ArraySlice<Int32>, _ module: Module, _ offsets: [Int64],
    _ stride: [Int64]
  ) -> Bool {
    var expected: Int64 = 0
    var step: Int64 = 0
    for (i, n) in nodes.enumerated() {
      // Indexing the flat operand array directly: no slice (and no retain) per node.
      let t = Int(module.operands[Int(module.operandStart[Int(n)]) + j])
      if i == 0 {
        expected = offsets[t]
        step = stride[t]
      }
      if offsets[t] != expected { return false }
      expected += step
    }
    return true
  }
}
