/// The result of a memory-layout pass: where every tensor lives in one arena, and which
/// operand slots must be gathered (copied) because their tensors are not one aligned slice.
public struct MemoryLayout: Hashable, Sendable {
  /// Every offset is a multiple of this many bytes.
  public var alignment: Int
  /// Byte offset of each node's result tensor.
  public var offsets: [Int64]
  /// Operand slots that are copied into a contiguous buffer before their batch runs.
  public var gathers: [Gather]
  public var location: SourceLocation

  /// One gathered operand slot: operand `slot` of the nodes of batch `batch`.
  public struct Gather: Hashable, Sendable, Comparable {
    public var batch: Int
    public var slot: Int
    public var bytes: Int

    public init(batch: Int, slot: Int, bytes: Int) {
      self.batch = batch
      self.slot = slot
      self.bytes = bytes
    }

    public static func < (a: Gather, b: Gather) -> Bool { (a.batch, a.slot) < (b.batch, b.slot) }
  }

  public init(
    alignment: Int, offsets: [Int64], gathers: [Gather], location: SourceLocation = .unknown
  ) {
    self.alignment = alignment
    self.offsets = offsets
    self.gathers = gathers
    self.location = location
  }

  public var bytesCopied: Int { gathers.reduce(0) { $0 + $1.bytes } }
}

/// What the memory layout must give each operand slot of each batch, and whether a layout does.
///
/// A slot needs a slice unless the batch has one node, every operand is external (an input or a
/// weight), or every operand is the same tensor (a broadcast). A slot is *served* when its
/// operands, taken in the batch's order, sit at `base, base + stride, base + 2·stride, …` with
/// `stride` the aligned size of one operand tensor. Anything else (mixed external and internal
/// operands, repeated tensors, nodes without the slot, unequal sizes) needs a gather.
public struct LayoutRequirements: Sendable {
  /// Bytes of each node's result tensor, and the arena stride (rounded up to the alignment).
  public let tensorBytes: [Int]
  public let alignment: Int

  public init(_ module: Module, alignment: Int) {
    let sizes = module.opTypes.map(\.result.byteCount)
    tensorBytes = module.nodeType.map { sizes[Int($0)] }
    self.alignment = alignment
  }

  @inlinable public func stride(ofNode n: Int) -> Int { roundUp(tensorBytes[n], alignment) }

  /// Whether slot j of a batch needs a slice at all: `free` (one node, all external, or one
  /// broadcast tensor), `slice` with its operand tensors in batch order, or `unsliceable` when
  /// they cannot form a slice, so the slot must be gathered.
  public enum Slot {
    case free
    case slice([Int32])
    case unsliceable
  }

  /// `Slot` without the tensors: what `classify` returns.
  public enum SlotKind: Sendable {
    case free, slice, unsliceable
  }

  public func slot(_ j: Int, of batch: ArraySlice<Int32>, in module: Module) -> Slot {
    var tensors: [Int32] = []
    switch classify(j, of: batch, in: module, appendingTo: &tensors) {
    case .free: return .free
    case .slice: return .slice(tensors)
    case .unsliceable: return .unsliceable
    }
  }

  /// `slot(j, of: batch, in: module)` in one pass over the operand arrays, without allocating
  /// (unless the operands do not increase and must be sorted to find a repeated one): for a
  /// slice, its tensors are appended to `tensors` in batch order; otherwise `tensors` is left as
  /// it was. What `slot`, `requiredGathers` and the layout pass's slot table decide by (the
  /// verifier's `isServedInPlace` checks offsets in the same scan, and is tested against it).
  @inlinable
  public func classify(
    _ j: Int, of batch: ArraySlice<Int32>, in module: Module, appendingTo tensors: inout [Int32]
  ) -> SlotKind {
    guard batch.count > 1 else { return .free }
    let mark = tensors.count
    var external = 0
    var head = Module.external
    var previous: Int32 = 0
    var (allSame, sameSize, increasing) = (true, true, true)
    var size = 0
    // The flat operand arrays are read directly: a slice per node costs a retain and a release.
    for n in batch {
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
        size = tensorBytes[Int(operand)]
      } else {
        if operand != head { allSame = false }
        if tensorBytes[Int(operand)] != size { sameSize = false }
        if operand <= previous { increasing = false }
      }
      previous = operand
      tensors.append(operand)
    }
    if external == batch.count || (external == 0 && allSame) {
      tensors.removeSubrange(mark...)
      return .free
    }
    if external > 0 || !sameSize {
      tensors.removeSubrange(mark...)
      return .unsliceable
    }
    if !increasing {
      // A repeated tensor: neighbours once sorted (cheaper than hashing large batches); operands
      // that already increase, as they usually do, need no sort.
      let sorted = tensors[mark...].sorted()
      if zip(sorted, sorted.dropFirst()).contains(where: ==) {
        tensors.removeSubrange(mark...)
        return .unsliceable
      }
    }
    return .slice
  }

  /// The most operand slots any node of the batch has.
  @inlinable
  public func slotCount(of batch: ArraySlice<Int32>, in module: Module) -> Int {
    module.mostOperands(of: batch)
  }

  /// Bytes a gather of slot j copies: every operand tensor of the slot that lives in the arena.
  @inlinable
  public func gatherBytes(_ j: Int, of batch: ArraySlice<Int32>, in module: Module) -> Int {
    var bytes = 0
    // The flat operand arrays, read directly (no slice per node).
    for n in batch {
      let start = Int(module.operandStart[Int(n)])
      guard j < Int(module.operandStart[Int(n) + 1]) - start else { continue }
      let operand = module.operands[start + j]
      if operand != Module.external { bytes += tensorBytes[Int(operand)] }
    }
    return bytes
  }

  /// Whether `offsets` lay out `tensors` as one aligned slice in this order.
  public func isSlice(_ tensors: [Int32], offsets: [Int64]) -> Bool {
    isSlice(tensors[...], offsets: offsets)
  }

  /// `isSlice` of a run of a tensor buffer.
  public func isSlice(_ tensors: ArraySlice<Int32>, offsets: [Int64]) -> Bool {
    guard let first = tensors.first else { return true }
    let base = offsets[Int(first)]
    let stride = Int64(stride(ofNode: Int(first)))
    for (i, t) in tensors.enumerated() where offsets[Int(t)] != base + Int64(i) * stride {
      return false
    }
    return true
  }

  /// Every slot of every batch that `offsets` does not serve, with its gather bytes, in batch and
  /// slot order.
  public func requiredGathers(_ module: Module, schedule: Schedule, offsets: [Int64])
    -> [MemoryLayout.Gather]
  {
    var gathers: [MemoryLayout.Gather] = []
    var tensors: [Int32] = []
    for b in 0..<schedule.batchCount {
      let batch = schedule.batch(b)
      for j in 0..<slotCount(of: batch, in: module) {
        tensors.removeAll(keepingCapacity: true)
        switch classify(j, of: batch, in: module, appendingTo: &tensors) {
        case .free: continue
        case .slice where isSlice(tensors, offsets: offsets): continue
        default:
          gathers.append(
            MemoryLayout.Gather(batch: b, slot: j, bytes: gatherBytes(j, of: batch, in: module)))
        }
      }
    }
    return gathers
  }

  /// The arena's size: the end of the last tensor.
  public func arenaBytes(offsets: [Int64]) -> Int {
    var end: Int64 = 0
    for (n, offset) in offsets.enumerated() { end = max(end, offset + Int64(stride(ofNode: n))) }
    return Int(end)
  }
}

/// `value` rounded up to a multiple of `alignment` (≥ 1).
@inlinable public func roundUp(_ value: Int, _ alignment: Int) -> Int {
  (value + alignment - 1) / alignment * alignment
}
