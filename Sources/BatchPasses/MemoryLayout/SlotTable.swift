import BatchIR

/// The operand slots of every batch that a layout must serve, classified once
/// (`LayoutRequirements.classify`) so that each candidate layout only checks offsets.
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
  /// Per batch: its first node (rank) in the table's schedule (one more entry at the end).
  var nodeStart: [Int32] = []
  /// Per batch: the listed slot of its largest slice (most bytes; the first of equals), or -1.
  var largest: [Int32] = []

  /// The table of `schedule`'s batches; `rank[n]` is node n's position in `schedule.nodes`.
  init(_ module: Module, schedule: Schedule, requirements: LayoutRequirements, rank: [Int32]) {
    nodeStart = schedule.batchStart
    tensors.reserveCapacity(module.nodeCount)
    for b in 0..<schedule.batchCount {
      let nodes = schedule.batch(b)
      var best: Int32 = -1
      var bestBytes = 0
      for j in 0..<requirements.slotCount(of: nodes, in: module) {
        let mark = tensors.count
        let kind = requirements.classify(j, of: nodes, in: module, appendingTo: &tensors)
        if kind == .free { continue }
        let k = Int32(slot.count)
        batch.append(Int32(b))
        slot.append(Int32(j))
        if kind == .slice {
          // Every operand of a slice is in the arena and of one size: that is its gather.
          let size = (tensors.count - mark) * requirements.tensorBytes[Int(tensors[mark])]
          for i in mark..<tensors.count { tensors[i] = rank[Int(tensors[i])] }
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

  /// The tensors of listed slot k (empty unless sliceable).
  func tensors(ofSlot k: Int) -> ArraySlice<Int32> {
    tensors[Int(tensorStart[k])..<Int(tensorStart[k + 1])]
  }

  /// The operand tensors of batch b's largest slice, in the order the table was built from.
  func largestSlice(ofBatch b: Int) -> ArraySlice<Int32>? {
    let k = largest[b]
    return k < 0 ? nil : tensors(ofSlot: Int(k))
  }

  /// Every listed slot that `offsets` does not serve when the batches run their nodes in the
  /// order `nodes` (ranks, laid out as the table's schedule: the same batches, in any order
  /// inside each), in batch and slot order: what `LayoutRequirements.requiredGathers` returns,
  /// without re-classifying. `offsets` and `stride` (each node's aligned size) are indexed by rank.
  func requiredGathers(nodes: [Int32], offsets: [Int64], stride: [Int64])
    -> [MemoryLayout.Gather]
  {
    var gathers: [MemoryLayout.Gather] = []
    forEachGather(nodes: nodes, offsets: offsets, stride: stride) { k in
      gathers.append(
        MemoryLayout.Gather(batch: Int(batch[k]), slot: Int(slot[k]), bytes: bytes[k]))
    }
    return gathers
  }

  /// What `requiredGathers` would copy, without listing it: its bytes, then its count.
  func gatherCost(nodes: [Int32], offsets: [Int64], stride: [Int64]) -> (bytes: Int, count: Int) {
    var cost = (bytes: 0, count: 0)
    forEachGather(nodes: nodes, offsets: offsets, stride: stride) { k in
      cost.bytes += bytes[k]
      cost.count += 1
    }
    return cost
  }

  /// Calls `body` with each listed slot that is not served, in order.
  private func forEachGather(
    nodes: [Int32], offsets: [Int64], stride: [Int64], _ body: (Int) -> Void
  ) {
    nodes.withUnsafeBufferPointer { nodes in
      tensors.withUnsafeBufferPointer { tensors in
        offsets.withUnsafeBufferPointer { offsets in
          for k in 0..<slot.count {
            if sliceable[k] {
              // The tensors are listed in rank order, batch b's first node being rank
              // `nodeStart[b]`: node r's operand is entry `r - nodeStart[b]`.
              let b = Int(batch[k])
              let range = Int(nodeStart[b])..<Int(nodeStart[b + 1])
              let first = Int(tensorStart[k]) - range.lowerBound
              let step = stride[Int(tensors[first + Int(nodes[range.lowerBound])])]
              var expected = offsets[Int(tensors[first + Int(nodes[range.lowerBound])])]
              var served = true
              for i in range {
                if offsets[Int(tensors[first + Int(nodes[i])])] != expected {
                  served = false
                  break
                }
                expected += step
              }
              if served { continue }
            }
            body(k)
          }
        }
      }
    }
  }
}
