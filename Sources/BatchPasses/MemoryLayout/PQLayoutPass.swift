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

    // The baseline: batches in schedule order, nodes in creation order inside each batch.
    let baseline = Self.creationOrderSchedule(schedule)
    let baselineOrder = baseline.nodes.map(Int.init)
    let baselineOffsets = Self.offsets(forOrder: baselineOrder, requirements)
    let baselineGathers = requirements.requiredGathers(
      module, schedule: baseline, offsets: baselineOffsets)

    // The PQ-tree layout.
    var tree = PQTree(leafCount: module.nodeCount)
    for b in 0..<schedule.batchCount { tree.reduce(schedule.batch(b).lazy.map(Int.init)) }
    var dropped = 0
    for b in 0..<schedule.batchCount {
      let batch = baseline.batch(b)
      for j in 0..<requirements.slotCount(of: batch, in: module) {
        if case .slice(let tensors) = requirements.slot(j, of: batch, in: module),
          !tree.reduce(tensors.lazy.map(Int.init))
        {
          dropped += 1
        }
      }
    }
    var rank = [Int](repeating: 0, count: module.nodeCount)
    for (position, n) in baselineOrder.enumerated() { rank[n] = position }
    Self.orient(&tree, rank: rank)
    var forward = tree
    // Each frontier is read once: it is both a candidate and the start of the next alignment.
    let pqOrder = tree.frontier()
    Self.align(
      &forward, from: pqOrder, module: module, schedule: baseline, requirements: requirements,
      direction: .forward)
    var backward = tree
    Self.align(
      &backward, from: pqOrder, module: module, schedule: baseline, requirements: requirements,
      direction: .backward)
    let backwardOrder = backward.frontier()
    var both = backward
    Self.align(
      &both, from: backwardOrder, module: module, schedule: baseline, requirements: requirements,
      direction: .forward)

    var best: (choice: Int, schedule: Schedule, offsets: [Int64], gathers: [MemoryLayout.Gather])?
    for (choice, order) in [
      baselineOrder, pqOrder, forward.frontier(), backwardOrder, both.frontier(),
    ].enumerated() {
      let offsets = Self.offsets(forOrder: order, requirements)
      // Each batch runs its nodes in the order of their results in memory.
      var laidOut = Schedule(policy: schedule.policy, location: schedule.location)
      for b in 0..<schedule.batchCount {
        laidOut.append(
          type: Int(schedule.batchType[b]),
          nodes: schedule.batch(b).sorted { offsets[Int($0)] < offsets[Int($1)] })
      }
      let gathers = requirements.requiredGathers(module, schedule: laidOut, offsets: offsets)
      let cost = (gathers.reduce(0) { $0 + $1.bytes }, gathers.count)
      if let current = best,
        cost >= (current.gathers.reduce(0) { $0 + $1.bytes }, current.gathers.count)
      {
        continue
      }
      best = (choice, laidOut, offsets, gathers)
    }
    guard let (choice, laidOut, offsets, gathers) = best else { return }
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
    _ tree: inout PQTree, from order: [Int], module: Module, schedule: Schedule,
    requirements: LayoutRequirements, direction: AlignmentDirection
  ) {
    var position = [Int](repeating: 0, count: module.nodeCount)
    for (p, leaf) in order.enumerated() { position[leaf] = p }
    var batchOf = [Int32](repeating: -1, count: module.nodeCount)
    for b in 0..<schedule.batchCount { for n in schedule.batch(b) { batchOf[Int(n)] = Int32(b) } }
    func leaves(under node: Int) -> [Int] {
      var result: [Int] = []
      var stack = [node]
      while let n = stack.popLast() {
        if case .leaf(let leaf) = tree.kind(of: n) {
          result.append(leaf)
        } else {
          // Pushed right to left, so the leftmost child is popped first.
          let first = stack.count
          tree.forEachChild(of: n) { stack.append($0) }
          stack[first...].reverse()
        }
      }
      return result
    }
    // Turning subtrees reorders children but never changes which leaves a node holds, so the
    // leaf count of every node is computed once, children before parents.
    var leafCount = [Int32](repeating: 0, count: tree.nodeCapacity)
    if let root = tree.root {
      var stack: [(node: Int, expanded: Bool)] = [(root, false)]
      while let (node, expanded) = stack.popLast() {
        if case .leaf = tree.kind(of: node) {
          leafCount[node] = 1
        } else if expanded {
          var count: Int32 = 0
          tree.forEachChild(of: node) { count += leafCount[$0] }
          leafCount[node] = count
        } else {
          stack.append((node, true))
          tree.forEachChild(of: node) { stack.append(($0, false)) }
        }
      }
    }
    /// The subtree holding exactly the results of batch `b`, if there is one.
    func subtree(ofBatch b: Int) -> Int? {
      let batch = schedule.batch(b)
      var node = tree.node(forLeaf: Int(batch[batch.startIndex]))
      while Int(leafCount[node]) < batch.count, let parent = tree.parent(of: node) {
        node = parent
      }
      return Int(leafCount[node]) == batch.count ? node : nil
    }
    /// Orders the subtree by `key` and moves its leaves' positions within their range.
    // Dense scratch for `turn`: the key of each leaf (Int.max: none), and `orient`'s per-node minimum.
    var keyOf = [Int](repeating: Int.max, count: module.nodeCount)
    var lowest = [Int](repeating: 0, count: tree.nodeCapacity)
    func turn(_ node: Int, key: [(leaf: Int, key: Int)]) {
      for (leaf, k) in key { keyOf[leaf] = k }
      let start = leaves(under: node).map { position[$0] }.min() ?? 0
      orient(&tree, subtree: node, lowest: &lowest) { keyOf[$0] }
      for (i, leaf) in leaves(under: node).enumerated() { position[leaf] = start + i }
      for (leaf, _) in key { keyOf[leaf] = Int.max }
    }
    switch direction {
    case .forward:
      for b in 0..<schedule.batchCount {
        let batch = schedule.batch(b)
        guard batch.count > 1,
          let operands = largestSlice(of: batch, module: module, requirements: requirements),
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
      var consumerKey = [Int](repeating: Int.max, count: module.nodeCount)
      for b in (0..<schedule.batchCount).reversed() {
        let batch = schedule.batch(b)
        if batch.count > 1, let node = subtree(ofBatch: b),
          batch.contains(where: { consumerKey[Int($0)] != Int.max })
        {
          turn(node, key: batch.map { (Int($0), consumerKey[Int($0)]) })
        }
        guard batch.count > 1,
          let operands = largestSlice(of: batch, module: module, requirements: requirements)
        else { continue }
        for (r, o) in zip(batch, operands) where batchOf[Int(o)] >= 0 {
          consumerKey[Int(o)] = min(consumerKey[Int(o)], b * module.nodeCount + position[Int(r)])
        }
      }
    }
  }

  /// The operand tensors of the batch's sliceable slot with the most bytes, in batch order.
  static func largestSlice(
    of batch: ArraySlice<Int32>, module: Module, requirements: LayoutRequirements
  ) -> [Int32]? {
    var best: [Int32]?
    var bestBytes = 0
    for j in 0..<requirements.slotCount(of: batch, in: module) {
      if case .slice(let tensors) = requirements.slot(j, of: batch, in: module) {
        let bytes = tensors.count * requirements.tensorBytes[Int(tensors[0])]
        if bytes > bestBytes {
          best = tensors
          bestBytes = bytes
        }
      }
    }
    return best
  }

  /// The schedule with each batch's nodes in creation (id) order.
  static func creationOrderSchedule(_ schedule: Schedule) -> Schedule {
    var sorted = Schedule(policy: schedule.policy, location: schedule.location)
    for b in 0..<schedule.batchCount {
      sorted.append(type: Int(schedule.batchType[b]), nodes: schedule.batch(b).sorted())
    }
    return sorted
  }

  /// Offsets for tensors placed back to back in `order`, each at an aligned stride.
  static func offsets(forOrder order: [Int], _ requirements: LayoutRequirements) -> [Int64] {
    var offsets = [Int64](repeating: 0, count: order.count)
    var next: Int64 = 0
    for n in order {
      offsets[n] = next
      next += Int64(requirements.stride(ofNode: n))
    }
    return offsets
  }

  /// Makes the tree's free choices follow `rank`: P-node children by their lowest-ranked leaf,
  /// Q-nodes turned so that their first child ranks lower than their last.
  static func orient(_ tree: inout PQTree, rank: [Int]) {
    guard let root = tree.root else { return }
    var lowest = [Int](repeating: 0, count: tree.nodeCapacity)
    orient(&tree, subtree: root, lowest: &lowest) { rank[$0] }
  }

  /// `orient` for the subtree under `top`, ranking leaves by `rank`. `lowest` is scratch indexed
  /// by node id (every entry under `top` is written before it is read).
  static func orient(
    _ tree: inout PQTree, subtree top: Int, lowest: inout [Int], rank: (Int) -> Int
  ) {
    let root = top
    var stack: [(node: Int, expanded: Bool)] = [(root, false)]
    while let (node, expanded) = stack.popLast() {
      if case .leaf(let leaf) = tree.kind(of: node) {
        lowest[node] = rank(leaf)
        continue
      }
      let children = tree.children(of: node)
      if !expanded {
        stack.append((node, true))
        for child in children { stack.append((child, false)) }
        continue
      }
      switch tree.kind(of: node) {
      case .pNode:
        tree.setChildOrder(ofP: node, children.sorted { [lowest] in lowest[$0] < lowest[$1] })
      case .qNode:
        if let first = children.first, let last = children.last, lowest[first] > lowest[last] {
          tree.reverseQNode(node)
        }
      case .leaf: break
      }
      lowest[node] = children.reduce(Int.max) { [lowest] in min($0, lowest[$1]) }
    }
  }
}
