import BatchIR

/// The operand slots of every batch that a layout must serve, classified once
/// (`LayoutRequirements.slot`) so that each candidate layout only checks offsets.
///
/// Whether a slot is free, a slice or unsliceable does not depend on the order of the batch's
/// nodes, so one table serves every order of the same batches. Flat arrays: the slots of batch b
/// are `batchStart[b]..<batchStart[b + 1]`, in slot order; free slots are left out.
///
/// Nodes are named by their *rank*, their position in the schedule the table is built from
/// (batch b holds ranks `schedule.batchStart[b]..<schedule.batchStart[b + 1]`), so that the
/// candidate layouts are checked in arrays read nearly in order.
struct SlotTable {
  /// Per listed slot: its batch, its operand index, its gather bytes and whether it can be a slice.
  var batch: [Int32] = []
  var slot: [Int32] = []
  var bytes: [Int] = []
  var sliceable: [Bool] = []
  /// Per listed slot: the ranks of its tensors, in the order of the batch's nodes (sliceable
  /// slots only): `tensors[tensorStart[k]..<tensorStart[k + 1]]`.
  var tensorStart: [Int32] = [0]
  var tensors: [Int32] = []
  /// Per batch: its first listed slot (one more entry at the end).
  var batchStart: [Int32] = [0]
  /// Per batch: the listed slot of its largest slice (most bytes; the first of equals), or -1.
  var largest: [Int32] = []

  /// The table of `schedule`'s batches; `rank[n]` is node n's position in `schedule.nodes`.
  init(_ module: Module, schedule: Schedule, requirements: LayoutRequirements, rank: [Int]) {
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
        if case .slice(let operands) = kind {
          // Every operand of a slice is in the arena and of one size: that is its gather.
          let size = operands.count * requirements.tensorBytes[Int(operands[0])]
          bytes.append(size)
          sliceable.append(true)
          tensors.append(contentsOf: operands.lazy.map { Int32(rank[Int($0)]) })
          if size > bestBytes {
            best = k
            bestBytes = size
          }
        } else {
          bytes.append(requirements.gatherBytes(j, of: nodes, in: module))
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
  /// `schedule`'s order (ranks; the same batches as the table's, in any order inside each), in
  /// batch and slot order: what `LayoutRequirements.requiredGathers` returns, without
  /// re-classifying. `offsets` and `stride` (each node's aligned size) are indexed by rank.
  func requiredGathers(schedule: Schedule, offsets: [Int64], stride: [Int64])
    -> [MemoryLayout.Gather]
  {
    var gathers: [MemoryLayout.Gather] = []
    for k in 0..<slot.count {
      let b = Int(batch[k])
      if sliceable[k] && isSlice(slot: k, of: schedule, batch: b, offsets, stride) { continue }
      gathers.append(MemoryLayout.Gather(batch: b, slot: Int(slot[k]), bytes: bytes[k]))
    }
    return gathers
  }

  /// Whether the tensors of listed slot k, in the order of batch b's nodes in `schedule`, lie at
  /// `base, base + stride, …`. The table lists them in rank order, so node r's operand is entry
  /// `r - schedule.batchStart[b]`.
  private func isSlice(
    slot k: Int, of schedule: Schedule, batch b: Int, _ offsets: [Int64], _ stride: [Int64]
  ) -> Bool {
    let first = Int(tensorStart[k]) - Int(schedule.batchStart[b])
    var expected: Int64 = 0
    var step: Int64 = 0
    for (i, r) in schedule.batch(b).enumerated() {
      let t = Int(tensors[first + Int(r)])
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
