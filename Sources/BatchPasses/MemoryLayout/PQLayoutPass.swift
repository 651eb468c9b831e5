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

  /// Nodes from which the pass works on both cores: the slot table beside the first PQ-tree, then
  /// the two chains of alignments side by side (below it, waking a second thread costs more than
  /// it saves).
  var bothCoresFrom = 1 << 16

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
    var rank = [Int32](repeating: 0, count: n)
    for (position, node) in baseline.nodes.enumerated() { rank[Int(node)] = Int32(position) }
    let batchStart = baseline.batchStart
    let batchCount = baseline.batchCount
    let stride = baseline.nodes.map { Int64(requirements.stride(ofNode: Int($0))) }
    var batchOf = [Int32](repeating: -1, count: n)
    for b in 0..<batchCount {
      for r in Int(batchStart[b])..<Int(batchStart[b + 1]) { batchOf[r] = Int32(b) }
    }
    // The slot table and the PQ-tree's first form (each batch's results a P-node) are
    // independent: on a large graph they are built side by side.
    let (source, ranks) = (module, rank)
    let runs = (0..<batchCount).map { Int(batchStart[$0])..<Int(batchStart[$0 + 1]) }
    let buildSlots: @Sendable () -> SlotTable = {
      SlotTable(source, schedule: baseline, requirements: requirements, rank: ranks)
    }
    let buildTree: @Sendable () -> PQTree = { PQTree(leafCount: n, disjointRuns: runs) }
    var (slots, tree) =
      n >= bothCoresFrom ? Parallel.both(buildSlots, buildTree) : (buildSlots(), buildTree())

    // The candidates, each scored as it is made (the fewest bytes copied, then the fewest
    // gathers; ties to the earlier): the best's offsets and node order (ranks) are kept, the
    // others' buffers reused. The creation order is the ranked baseline itself.
    var best = Candidate(choice: 0, nodes: Array(0..<Int32(n)), offsets: [])
    best.offsets = Self.offsets(forOrder: best.nodes, stride: stride)
    var bestCost = slots.gatherCost(nodes: best.nodes, offsets: best.offsets, stride: stride)
    let baselineCost = bestCost
    var trial = Candidate(
      choice: 0, nodes: best.nodes, offsets: [Int64](repeating: 0, count: n))
    var next = [Int32](repeating: 0, count: batchCount)
    func consider(_ choice: Int, _ order: [Int]) {
      Self.place(
        order, stride: stride, batchStart: batchStart, batchOf: batchOf, next: &next,
        into: &trial)
      let cost = slots.gatherCost(nodes: trial.nodes, offsets: trial.offsets, stride: stride)
      keepIfBetter(choice, cost: cost)
    }
    // `trial` becomes the best if it costs less.
    func keepIfBetter(_ choice: Int, cost: (bytes: Int, count: Int)) {
      guard cost < bestCost else { return }
      trial.choice = choice
      swap(&best, &trial)
      bestCost = cost
    }

    // The PQ-tree layout.
    var dropped = 0
    // A set reduced once stays consecutive in every order the tree keeps (and one that failed
    // fails again): a slot listing the same tensors as an earlier one with the same first tensor
    // and count, in the same order, takes that one's outcome without a reduction.
    // Each value is the slot times two, plus one if its reduction succeeded (a plain integer:
    // a tuple value type's metadata cost more to make at run time than a small graph's lookups).
    var latest: [Int64: Int] = [:]
    latest.reserveCapacity(slots.sliceable.count(where: { $0 }))
    for k in 0..<slots.slot.count where slots.sliceable[k] {
      let tensors = slots.tensors(ofSlot: k)
      if Self.isOneBatch(tensors, batchStart: batchStart, batchOf: batchOf) { continue }
      let key = Int64(tensors.first!) << 32 | Int64(tensors.count)
      if let earlier = latest[key], slots.tensors(ofSlot: earlier >> 1).elementsEqual(tensors) {
        if earlier & 1 == 0 { dropped += 1 }
        continue
      }
      let reduced = tree.reduce(tensors)
      if !reduced { dropped += 1 }
      latest[key] = k << 1 | (reduced ? 1 : 0)
    }
    // No more reductions: the walks below run on a flat copy (subtrees are contiguous ranges).
    var flat = FlatPQTree(consume tree)
    var buffers = Aligner.Buffers()
    Self.orientByRank(&flat, buffers: &buffers)
    // Each frontier is read once: it is both a candidate and the start of the next alignment.
    let pqOrder = flat.frontier()
    consider(1, pqOrder)
    // Two chains of alignments from the PQ-tree's frontier: forward alone, and backward then
    // forward after it. They share nothing mutable: on a large graph they run side by side, the
    // forward chain on its own copy of the tree's child lists and its own buffers, and it places
    // and scores its candidate too. Either way the candidates are compared in the same order.
    let (shape, table, batchOfRank) = (flat, slots, batchOf)
    let forwardChain: @Sendable (inout Aligner.Buffers) -> [Int] = { buffers in
      Self.align(
        shape, from: pqOrder, batchStart: batchStart, batchOf: batchOfRank, slots: table,
        direction: .forward, buffers: &buffers
      ).order
    }
    let backwardChain: @Sendable (inout Aligner.Buffers) -> (backward: [Int], forward: [Int]) = {
      buffers in
      // The last alignment takes its tree over (no copy).
      let (backwardTree, backwardOrder) = Self.align(
        shape, from: pqOrder, batchStart: batchStart, batchOf: batchOfRank, slots: table,
        direction: .backward, buffers: &buffers)
      let forwardOrder = Self.align(
        consume backwardTree, from: backwardOrder, batchStart: batchStart, batchOf: batchOfRank,
        slots: table, direction: .forward, buffers: &buffers
      ).order
      return (backwardOrder, forwardOrder)
    }
    _ = consume flat
    let backwardOrders: (backward: [Int], forward: [Int])
    if n >= bothCoresFrom {
      _ = consume buffers
      let placedForward: @Sendable () -> (candidate: Candidate, cost: (bytes: Int, count: Int)) = {
        var buffers = Aligner.Buffers()
        var candidate = Candidate(
          choice: 0, nodes: [Int32](repeating: 0, count: n),
          offsets: [Int64](repeating: 0, count: n))
        var next = [Int32](repeating: 0, count: batchCount)
        Self.place(
          forwardChain(&buffers), stride: stride, batchStart: batchStart, batchOf: batchOfRank,
          next: &next, into: &candidate)
        let cost = table.gatherCost(
          nodes: candidate.nodes, offsets: candidate.offsets, stride: stride)
        return (candidate, cost)
      }
      let (forward, orders) = Parallel.both(
        placedForward,
        {
          var buffers = Aligner.Buffers()
          return backwardChain(&buffers)
        })
      backwardOrders = orders
      trial = forward.candidate
      keepIfBetter(2, cost: forward.cost)
    } else {
      consider(2, forwardChain(&buffers))
      backwardOrders = backwardChain(&buffers)
    }
    consider(3, backwardOrders.backward)
    consider(4, backwardOrders.forward)

    let gathers = slots.requiredGathers(nodes: best.nodes, offsets: best.offsets, stride: stride)
    // Back to node ids.
    var laidOut = schedule
    laidOut.nodes = best.nodes.map { baseline.nodes[Int($0)] }
    var offsets = [Int64](repeating: 0, count: n)
    for (r, node) in baseline.nodes.enumerated() { offsets[Int(node)] = best.offsets[r] }
    module.schedule = laidOut
    module.layout = MemoryLayout(alignment: alignment, offsets: offsets, gathers: gathers)

    statistics.set("gathers", gathers.count)
    statistics.set("bytes_copied", gathers.reduce(0) { $0 + $1.bytes })
    statistics.set("arena_bytes", requirements.arenaBytes(offsets: offsets))
    statistics.set("dropped_constraints", dropped)
    statistics.set("layout_choice", best.choice)
    statistics.set("baseline_creation_order_gathers", baselineCost.count)
    statistics.set("baseline_creation_order_bytes_copied", baselineCost.bytes)
  }

  /// A candidate layout: which (`layout_choice`), each batch's nodes in memory order (ranks,
  /// batch by batch as in the baseline) and each rank's offset.
  struct Candidate {
    var choice: Int
    var nodes: [Int32]
    var offsets: [Int64]
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
  /// range of positions, so the order and positions are updated locally: O(nodes) over the whole
  /// schedule. `frontier` is the tree's frontier on entry; returns the turned tree and its
  /// frontier. `batchOf` gives each node's batch.
  static func align(
    _ tree: consuming FlatPQTree, from frontier: [Int], batchStart: [Int32], batchOf: [Int32],
    slots: SlotTable, direction: AlignmentDirection, buffers: inout Aligner.Buffers
  ) -> (tree: FlatPQTree, order: [Int]) {
    var aligner = Aligner(tree: tree, order: frontier, taking: &buffers)
    defer { swap(&buffers, &aligner.buffers) }
    switch direction {
    case .forward:
      for b in 0..<batchStart.count - 1 {
        let batch = Self.ranks(ofBatch: b, batchStart)
        guard batch.count > 1,
          let operands = slots.largestSlice(ofBatch: b),
          let node = aligner.subtree(holding: batch)
        else { continue }
        // Each result takes its operand's position as its key.
        // Index loops, not `zip`: its iterator was destroyed through unspecialized generic code.
        for k in 0..<min(batch.count, operands.count) {
          let r = Int(batch.lowerBound) + k
          aligner.key[r] = aligner.position[Int(operands[operands.startIndex + k])]
        }
        aligner.turn(node, leaves: batch)
        for r in batch { aligner.key[Int(r)] = Int.max }
      }
    case .backward:
      // Each producer batch is turned once, when the loop reaches it: its consumers come later
      // in the schedule, so their positions are final by then. A tensor's key is (the earliest
      // consumer batch that reads it, the position of that consumer's result in the consumer's
      // order), packed into one integer; turning by every consumer in turn, latest first, would
      // give the same order when each tensor has one consumer, at a cost of one sort of the
      // producer per consumer instead of one in all.
      let nodeCount = frontier.count
      for b in (0..<batchStart.count - 1).reversed() {
        let batch = Self.ranks(ofBatch: b, batchStart)
        if batch.count > 1, let node = aligner.subtree(holding: batch),
          batch.contains(where: { aligner.key[Int($0)] != Int.max })
        {
          aligner.turn(node, leaves: batch)
        }
        guard batch.count > 1,
          let operands = slots.largestSlice(ofBatch: b)
        else { continue }
        for k in 0..<min(batch.count, operands.count) {
          let r = Int(batch.lowerBound) + k
          let o = Int(operands[operands.startIndex + k])
          guard batchOf[o] >= 0 else { continue }
          aligner.key[o] = min(aligner.key[o], b * nodeCount + aligner.position[r])
        }
      }
    }
    return (aligner.tree, aligner.order)
  }

  /// The state of one alignment: the tree, its frontier (`order`) and each leaf's place in it
  /// (`position`), and the key each leaf is turned by (`Int.max`: none).
  struct Aligner {
    var tree: FlatPQTree
    var order: [Int]
    var buffers: Buffers

    /// The arrays of one alignment, handed on to the next (allocated and zero-filled once).
    struct Buffers {
      var position: [Int] = []
      var key: [Int] = []
      /// `FlatPQTree.orient`'s per-node minimum, and the walks' buffers.
      var lowest: [Int] = []
      var scratch = FlatPQTree.WalkScratch()
    }

    var position: [Int] {
      _read { yield buffers.position }
      _modify { yield &buffers.position }
    }
    var key: [Int] {
      _read { yield buffers.key }
      _modify { yield &buffers.key }
    }

    /// Takes `buffers` over (swapped out, so they are not copied on write) and fills them.
    init(tree: consuming FlatPQTree, order: [Int], taking buffers: inout Buffers) {
      self.tree = tree
      self.order = order
      self.buffers = Buffers()
      swap(&self.buffers, &buffers)
      let n = order.count
      if self.buffers.position.count != n {
        self.buffers.position = [Int](repeating: 0, count: n)
      }
      for (p, leaf) in order.enumerated() { self.buffers.position[leaf] = p }
      if self.buffers.key.count != n {
        self.buffers.key = [Int](repeating: Int.max, count: n)
      } else {
        self.buffers.key.withUnsafeMutableBufferPointer { $0.update(repeating: Int.max) }
      }
      if self.buffers.lowest.count < self.tree.nodeCount {
        self.buffers.lowest = [Int](repeating: 0, count: self.tree.nodeCount)
      }
    }

    /// The subtree holding exactly the leaves `batch` (one batch's results), if there is one.
    func subtree(holding batch: Range<Int32>) -> Int? {
      var node = tree.node(forLeaf: Int(batch.lowerBound))
      while tree.leafCount(of: node) < batch.count, let parent = tree.parent(of: node) {
        node = parent
      }
      return tree.leafCount(of: node) == batch.count ? node : nil
    }

    /// Orders the subtree `node`, whose leaves are `leaves`, by `key`; it keeps its range of
    /// positions, which starts at its leftmost leaf, the least position among `leaves`.
    mutating func turn(_ node: Int, leaves: Range<Int32>) {
      // Nothing moved: the order already holds the subtree's frontier.
      guard
        tree.orient(
          subtree: node, least: &buffers.lowest, keys: buffers.key, scratch: &buffers.scratch)
      else { return }
      var start = Int.max
      for leaf in leaves { start = min(start, position[Int(leaf)]) }
      let count = tree.writeLeaves(
        under: node, into: &order, from: start, scratch: &buffers.scratch)
      for p in start..<(start + count) { position[order[p]] = p }
    }
  }

  /// The schedule with each batch's nodes in creation (id) order.
  static func creationOrderSchedule(_ schedule: Schedule) -> Schedule {
    var sorted = schedule
    for b in 0..<schedule.batchCount {
      let range = Int(schedule.batchStart[b])..<Int(schedule.batchStart[b + 1])
      if !zip(sorted.nodes[range], sorted.nodes[range].dropFirst()).allSatisfy({ $0 < $1 }) {
        sorted.nodes[range].sort()
      }
    }
    return sorted
  }

  /// Whether the distinct ranks `tensors` are exactly one batch's results. The tree was built
  /// with every batch's results consecutive, and reductions only narrow the orders it stands
  /// for, so reducing by such a set succeeds and changes nothing: it is skipped.
  static func isOneBatch(_ tensors: ArraySlice<Int32>, batchStart: [Int32], batchOf: [Int32])
    -> Bool
  {
    guard var lowest = tensors.first else { return true }
    var highest = lowest
    for t in tensors {
      lowest = min(lowest, t)
      highest = max(highest, t)
    }
    let b = Int(batchOf[Int(lowest)])
    return b >= 0 && batchStart[b] == lowest && batchStart[b + 1] == highest + 1
      && Int(highest - lowest) + 1 == tensors.count
  }

  /// The ranks of batch b's results: the ranked baseline holds batch b at
  /// `batchStart[b]..<batchStart[b + 1]`.
  static func ranks(ofBatch b: Int, _ batchStart: [Int32]) -> Range<Int32> {
    batchStart[b]..<batchStart[b + 1]
  }

  /// Offsets for tensors placed back to back in `order`, each at its aligned stride.
  static func offsets(forOrder order: [Int32], stride: [Int64]) -> [Int64] {
    var offsets = [Int64](repeating: 0, count: order.count)
    var next: Int64 = 0
    for n in order {
      offsets[Int(n)] = next
      next += stride[Int(n)]
    }
    return offsets
  }

  /// Lays out the nodes in `order` (their order in memory) as `candidate`, in one read of it:
  /// each node's offset, back to back at its aligned stride (an entry per node already), and
  /// each batch's nodes in that order, batch by batch (batch b at
  /// `batchStart[b]..<batchStart[b + 1]`). `batchOf` gives each node's batch (-1: none), `next`
  /// is scratch with an entry per batch.
  static func place(
    _ order: [Int], stride: [Int64], batchStart: [Int32], batchOf: [Int32], next: inout [Int32],
    into candidate: inout Candidate
  ) {
    for b in 0..<next.count { next[b] = batchStart[b] }
    candidate.offsets.withUnsafeMutableBufferPointer { offsets in
      candidate.nodes.withUnsafeMutableBufferPointer { nodes in
        next.withUnsafeMutableBufferPointer { next in
          stride.withUnsafeBufferPointer { stride in
            batchOf.withUnsafeBufferPointer { batchOf in
              var end: Int64 = 0
              for n in order {
                offsets[n] = end
                end += stride[n]
                let b = Int(batchOf[n])
                if b >= 0 {
                  nodes[Int(next[b])] = Int32(n)
                  next[b] += 1
                }
              }
            }
          }
        }
      }
    }
  }

  /// Makes the tree's free choices follow the ranks (its leaves): P-node children by their
  /// lowest-ranked leaf, Q-nodes turned so that their first child ranks lower than their last.
  /// Uses the alignments' buffers, which are then the right size.
  static func orientByRank(_ tree: inout FlatPQTree, buffers: inout Aligner.Buffers) {
    guard let root = tree.root else { return }
    if buffers.lowest.count < tree.nodeCount {
      buffers.lowest = [Int](repeating: 0, count: tree.nodeCount)
    }
    tree.orientByLeaf(subtree: root, least: &buffers.lowest, scratch: &buffers.scratch)
  }
}
