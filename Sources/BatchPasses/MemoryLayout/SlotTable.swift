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
        let mark = tensors.count
        let kind = Self.classify(
          j, of: nodes, in: module, requirements: requirements, rank: rank, into: &tensors)
        if kind == .free { continue }
        let k = Int32(slot.count)
        batch.append(Int32(b))
        slot.append(Int32(j))
        if kind == .slice {
          // Every operand of a slice is in the arena and of one size: that is its gather.
          let first = module.operands[Int(module.operandStart[Int(nodes[nodes.startIndex])]) + j]
          let size = (tensors.count - mark) * requirements.tensorBytes[Int(first)]
          bytes.append(size)
          sliceable.append(true)
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

  enum Kind { case free, slice, unsliceable }

  /// `LayoutRequirements.slot(j, of: nodes, in: module)` without allocating: for a slice, its
  /// tensors' ranks are appended to `tensors` in batch order; otherwise `tensors` is left as it
  /// was. The same answer, case by case (`ScaleFastPathTests.slotTableClassifiesAsLayoutRequirements`).
  static func classify(
    _ j: Int, of nodes: ArraySlice<Int32>, in module: Module, requirements: LayoutRequirements,
    rank: [Int], into tensors: inout [Int32]
  ) -> Kind {
    guard nodes.count > 1 else { return .free }
    let mark = tensors.count
    var external = 0
    var head = Module.external
    var previous: Int32 = 0
    var (allSame, sameSize, increasing) = (true, true, true)
    var size = 0
    for n in nodes {
      let start = Int(module.operandStart[Int(n)])
      guard j < Int(module.operandStart[Int(n) + 1]) - start else {
        tensors.removeSubrange(mark...)
        return .unsliceable
      }
      let operand = module.operands[start + j]
      if operand == Module.external {
        external += 1
        continue
      }
      if head == Module.external {
        head = operand
        size = requirements.tensorBytes[Int(operand)]
      } else {
        if operand != head { allSame = false }
        if requirements.tensorBytes[Int(operand)] != size { sameSize = false }
        if operand <= previous { increasing = false }
      }
      previous = operand
      tensors.append(Int32(rank[Int(operand)]))
    }
    if external == nodes.count || (external == 0 && allSame) {
      tensors.removeSubrange(mark...)
      return .free
    }
    if external > 0 || !sameSize {
      tensors.removeSubrange(mark...)
      return .unsliceable
    }
    if !increasing {
      // A repeated tensor: neighbours once sorted (ranks name nodes one to one).
      let sorted = tensors[mark...].sorted()
      if zip(sorted, sorted.dropFirst()).contains(where: ==) {
        tensors.removeSubrange(mark...)
        return .unsliceable
      }
    }
    return .slice
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
