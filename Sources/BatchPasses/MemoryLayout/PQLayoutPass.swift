import BatchIR
import PQTree

/// `pq-layout`: gives every tensor an offset in one arena so that each batch reads its operands
/// as aligned slices (ED-Batch's batching-aware memory planning). Writes the module's layout and
/// puts each batch's nodes in the order of their results in memory.
///
/// 1. A PQ-tree over all result tensors is reduced by every batch's result set, then by every
///    operand slot's tensor set; a slot whose reduction fails is dropped.
/// 2. Where the tree leaves a choice (the order of a P-node's children, a Q-node's direction), it
///    follows the creation-order layout, so the result stays close to what DyNet would do.
/// 3. Alignment: subtrees holding exactly one batch's results are turned so that each batch's
///    results and its largest sliceable operand slot come in the same order.
/// 4. The frontier is the memory order. Every slot whose operands are not then an aligned slice
///    in its batch's order becomes a gather with its byte count.
///
/// Alignment can propagate order forward (results follow operands) or backward (producers follow
/// their consumers); each helps some graphs and hurts others, and on a few graphs the creation
/// order itself is best. So the pass lays out five candidates and keeps the one that copies the
/// fewest bytes (then the fewest gathers; ties to the earlier). `layout_choice` says which:
/// 0 creation order, 1 PQ-tree, 2 aligned forward, 3 aligned backward, 4 backward then forward.
public struct PQLayoutPass: Pass {
  public static let name = "pq-layout"
  public static let summary =
    "place tensors so batches read contiguous, aligned operands (ED-Batch PQ-tree)"
  public static var options: [PassOption<Self>] {
    [
      PassOption(
        "align", syntax: "BYTES", help: "alignment of every tensor, a power of two",
        read: { pass, text in
          guard let value = Int(text), (1...(1 << 20)).contains(value), value.nonzeroBitCount == 1
          else { return "must be a power of two in 1...\(1 << 20)" }
          pass.alignment = value
          return nil
        }, write: { String($0.alignment) })
    ]
  }
  public static let requires: [ModulePart] = [.schedule]
  public static let produces: [ModulePart] = [.layout]
  /// It puts each batch's nodes in memory order.
  public static let modifies: [ModulePart] = [.schedule]

  public var alignment: Int

  public init() { self.init(alignment: 64) }

  public init(alignment: Int = 64) {
    self.alignment = alignment
  }

  public func run(on module: inout Module, statistics: inout PassStatistics) throws(Diagnostic) {
    guard let schedule = module.schedule else {
      throw Diagnostic(file: Self.name, location: .unknown, message: "pq-layout needs a schedule")
    }
    let requirements = LayoutRequirements(module, alignment: alignment)

    // The baseline: batches in schedule order, nodes in creation order inside each batch. The
    // work below names nodes by their rank, their position in the baseline: each batch's results
    // are then a run of ranks, and so are most slots' operands, which keeps the PQ-tree's walks
    // and the arrays indexed by node nearly in order. Renaming changes no decision.
    let baseline = Self.creationOrderSchedule(schedule)
    let n = module.nodeCount
    guard baseline.nodes.count == n else {
      throw Diagnostic(
        file: Self.name, location: .unknown,
        message: "pq-layout needs a schedule that runs every node once")
    }
    var rank = [Int](repeating: 0, count: n)
    for (position, node) in baseline.nodes.enumerated() { rank[Int(node)] = position }
    var ranked = baseline
    ranked.nodes = (0..<Int32(baseline.nodes.count)).map { $0 }
    let stride = baseline.nodes.map { Int64(requirements.stride(ofNode: Int($0))) }
    var batchOf = [Int32](repeating: -1, count: n)
    for b in 0..<ranked.batchCount { for r in ranked.batch(b) { batchOf[Int(r)] = Int32(b) } }
    let slots = SlotTable(module, schedule: baseline, requirements: requirements, rank: rank)
    let baselineOrder = Array(0..<n)
    let baselineGathers = slots.requiredGathers(
      schedule: ranked, offsets: Self.offsets(forOrder: baselineOrder, stride: stride),
      stride: stride)

    // The PQ-tree layout.
    var tree = PQTree(
      leafCount: n,
      disjointRuns: (0..<ranked.batchCount).map {
        Int(ranked.batchStart[$0])..<Int(ranked.batchStart[$0 + 1])
      })
    var dropped = 0
    for k in 0..<slots.slot.count where slots.sliceable[k] {
      if !tree.reduce(slots.tensors(ofSlot: k)) { dropped += 1 }
    }
    // No more reductions: the walks below run on a flat copy (subtrees are contiguous ranges).
    var flat = FlatPQTree(tree)
    Self.orient(&flat, rank: baselineOrder)
    var forward = flat
    // Each frontier is read once: it is both a candidate and the start of the next alignment.
    let pqOrder = flat.frontier()
    Self.align(&forward, from: pqOrder, schedule: ranked, slots: slots, direction: .forward)
    var backward = flat
    Self.align(&backward, from: pqOrder, schedule: ranked, slots: slots, direction: .backward)
    let backwardOrder = backward.frontier()
    var both = backward
    Self.align(&both, from: backwardOrder, schedule: ranked, slots: slots, direction: .forward)

    var best: (choice: Int, schedule: Schedule, offsets: [Int64], gathers: [MemoryLayout.Gather])?
    for (choice, order) in [
      baselineOrder, pqOrder, forward.frontier(), backwardOrder, both.frontier(),
    ].enumerated() {
      let offsets = Self.offsets(forOrder: order, stride: stride)
      let laidOut = Self.schedule(ranked, inOrder: order, batchOf: batchOf)
      let gathers = slots.requiredGathers(schedule: laidOut, offsets: offsets, stride: stride)
      let cost = (gathers.reduce(0) { $0 + $1.bytes }, gathers.count)
      if let current = best,
        cost >= (current.gathers.reduce(0) { $0 + $1.bytes }, current.gathers.count)
      {
        continue
      }
      best = (choice, laidOut, offsets, gathers)
    }
    guard let (choice, rankedLayout, rankedOffsets, gathers) = best else { return }
    // Back to node ids.
    var laidOut = schedule
    laidOut.nodes = rankedLayout.nodes.map { baseline.nodes[Int($0)] }
    var offsets = [Int64](repeating: 0, count: n)
    for (r, node) in baseline.nodes.enumerated() { offsets[Int(node)] = rankedOffsets[r] }
    module.schedule = laidOut
    module.layout = MemoryLayout(alignment: alignment, offsets: offsets, gathers: gathers)

    statistics.set("gathers", gathers.count)
    statistics.set("bytes_copied", gathers.reduce(0) { $0 + $1.bytes })
    statistics.set("arena_bytes", requirements.arenaBytes(offsets: offsets))
    statistics.set("dropped_constraints", dropped)
    statistics.set("layout_choice", choice)
    statistics.set("baseline_creation_order_gathers", baselineGathers.count)
    statistics.set(
      "baseline_creation_order_bytes_copied", baselineGathers.reduce(0) { $0 + $1.bytes })
  }

  /// Which way alignment propagates order between a batch and the producers of its operands.
  enum AlignmentDirection {
    /// In schedule order, each batch's results follow its operands (producers are final).
    case forward
    /// In reverse schedule order, each batch's producers follow its results (consumers are final).
    case backward
  }

  /// Turns subtrees that hold exactly one batch's results so that, for each batch's largest
  /// sliceable slot, results and operands come in the same order. A turned subtree keeps its
  /// range of positions, so positions are updated locally: O(nodes) over the whole schedule.
  /// `order` is the tree's frontier on entry.
  static func align(
    _ tree: inout FlatPQTree, from order: [Int], schedule: Schedule, slots: SlotTable,
    direction: AlignmentDirection
  ) {
    let nodeCount = order.count
    var position = [Int](repeating: 0, count: nodeCount)
    for (p, leaf) in order.enumerated() { position[leaf] = p }
    var batchOf = [Int32](repeating: -1, count: nodeCount)
    for b in 0..<schedule.batchCount { for n in schedule.batch(b) { batchOf[Int(n)] = Int32(b) } }
    /// The subtree holding exactly the results of batch `b`, if there is one.
    func subtree(ofBatch b: Int) -> Int? {
      let batch = schedule.batch(b)
      var node = tree.node(forLeaf: Int(batch[batch.startIndex]))
      while tree.leafCount(of: node) < batch.count, let parent = tree.parent(of: node) {
        node = parent
      }
      return tree.leafCount(of: node) == batch.count ? node : nil
    }
    /// Orders the subtree by `key` and moves its leaves' positions within their range.
    // Dense scratch for `turn`: the key of each leaf (Int.max: none), and `orient`'s per-node minimum.
    var keyOf = [Int](repeating: Int.max, count: nodeCount)
    var lowest = [Int](repeating: 0, count: tree.nodeCount)
    func turn(_ node: Int, key: [(leaf: Int, key: Int)]) {
      // A turned subtree keeps its range of positions, which starts at its leftmost leaf
      // (`position` always follows the tree's frontier).
      var leftmost = node
      while let child = tree.children(of: leftmost).first { leftmost = Int(child) }
      guard case .leaf(let first) = tree.kind(of: leftmost) else { return }
      let start = position[first]
      for (leaf, k) in key { keyOf[leaf] = k }
      tree.orient(subtree: node, least: &lowest) { keyOf[$0] }
      var next = start
      tree.forEachLeaf(under: node) { leaf in
        position[leaf] = next
        next += 1
      }
      for (leaf, _) in key { keyOf[leaf] = Int.max }
    }
    switch direction {
    case .forward:
      for b in 0..<schedule.batchCount {
        let batch = schedule.batch(b)
        guard batch.count > 1,
          let operands = slots.largestSlice(ofBatch: b),
          let node = subtree(ofBatch: b)
        else { continue }
        turn(node, key: zip(batch, operands).map { (Int($0), position[Int($1)]) })
      }
    case .backward:
      // Each producer batch is turned once, when the loop reaches it: its consumers come later
      // in the schedule, so their positions are final by then. A tensor's key is (the earliest
      // consumer batch that reads it, the position of that consumer's result in the consumer's
      // order), packed into one integer; turning by every consumer in turn, latest first, would
      // give the same order when each tensor has one consumer, at a cost of one sort of the
      // producer per consumer instead of one in all.
      var consumerKey = [Int](repeating: Int.max, count: nodeCount)
      for b in (0..<schedule.batchCount).reversed() {
        let batch = schedule.batch(b)
        if batch.count > 1, let node = subtree(ofBatch: b),
          batch.contains(where: { consumerKey[Int($0)] != Int.max })
        {
          turn(node, key: batch.map { (Int($0), consumerKey[Int($0)]) })
        }
        guard batch.count > 1,
          let operands = slots.largestSlice(ofBatch: b)
        else { continue }
        for (r, o) in zip(batch, operands) where batchOf[Int(o)] >= 0 {
          consumerKey[Int(o)] = min(consumerKey[Int(o)], b * nodeCount + position[Int(r)])
        }
      }
    }
  }

  /// The schedule with each batch's nodes in creation (id) order.
  static func creationOrderSchedule(_ schedule: Schedule) -> Schedule {
    var sorted = Schedule(policy: schedule.policy, location: schedule.location)
    for b in 0..<schedule.batchCount {
      sorted.append(type: Int(schedule.batchType[b]), nodes: schedule.batch(b).sorted())
    }
    return sorted
  }

  /// Offsets for tensors placed back to back in `order`, each at its aligned stride.
  static func offsets(forOrder order: [Int], stride: [Int64]) -> [Int64] {
    var offsets = [Int64](repeating: 0, count: order.count)
    var next: Int64 = 0
    for n in order {
      offsets[n] = next
      next += stride[n]
    }
    return offsets
  }

  /// `schedule` with each batch's nodes in the order they come in `order` (their order in
  /// memory); `batchOf` gives each node's batch (-1: none).
  static func schedule(_ schedule: Schedule, inOrder order: [Int], batchOf: [Int32]) -> Schedule {
    var laidOut = schedule
    var next = schedule.batchStart.dropLast().map(Int.init)
    for n in order where batchOf[n] >= 0 {
      laidOut.nodes[next[Int(batchOf[n])]] = Int32(n)
      next[Int(batchOf[n])] += 1
    }
    return laidOut
  }

  /// Makes the tree's free choices follow `rank`: P-node children by their lowest-ranked leaf,
  /// Q-nodes turned so that their first child ranks lower than their last.
  static func orient(_ tree: inout FlatPQTree, rank: [Int]) {
    guard let root = tree.root else { return }
    var lowest = [Int](repeating: 0, count: tree.nodeCount)
    tree.orient(subtree: root, least: &lowest) { rank[$0] }
  }
}
