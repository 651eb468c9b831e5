/// `reduce` = BUBBLE (find parents, count pertinent children), then a CHECK
/// pass that runs the REDUCE queue and picks a template for every pertinent
/// node without mutating anything, then an APPLY pass that performs the
/// chosen templates in the same order. Failure is only possible in CHECK, so
/// a failed reduction leaves the tree exactly as it was.
extension PQTree {
  private typealias Scratch = ReductionScratch

  /// Restricts the tree to the orders in which `leaves` are consecutive.
  ///
  /// Duplicates are ignored. Returns false, leaving the tree unchanged, if
  /// some element is outside `0..<leafCount` or no represented order makes
  /// the set consecutive. Empty, singleton and whole-universe sets always
  /// succeed without changing anything. Amortised O(|leaves|).
  @discardableResult @inlinable
  public mutating func reduce<C: Collection>(_ leaves: C) -> Bool where C.Element == Int {
    // Specialised where it is called, then one non-generic call: an unspecialised generic loop
    // cost about 20 mallocs per reduction.
    if let reduced = leaves.withContiguousStorageIfAvailable({ reduce(buffer: $0) }) {
      return reduced
    }
    return Array(leaves).withUnsafeBufferPointer { reduce(buffer: $0) }
  }

  /// `reduce` over a buffer of leaves.
  @usableFromInline
  mutating func reduce(buffer leaves: UnsafeBufferPointer<Int>) -> Bool {
    defer { scratch.reset() }
    for v in leaves {
      guard enqueue(v) else { return false }
    }
    return reduceQueued()
  }

  /// `reduce` for leaves held as `Int32` (as graph ids are), without a generic call per element.
  @discardableResult
  public mutating func reduce(_ leaves: ArraySlice<Int32>) -> Bool {
    defer { scratch.reset() }
    for v in leaves {
      guard enqueue(Int(v)) else { return false }
    }
    return reduceQueued()
  }

  /// Validates one element and queues it unless it is already queued.
  @inline(__always)
  private mutating func enqueue(_ v: Int) -> Bool {
    guard v >= 0 && v < leafCount else { return false }
    if !scratch.nodes[v].queued {
      scratch.nodes[v].queued = true
      scratch.touched.append(Int32(v))
      scratch.queue.append(Int32(v))
    }
    return true
  }

  /// The reduction by the queued leaves (the caller resets the scratch).
  private mutating func reduceQueued() -> Bool {
    let total = scratch.queue.count
    if total <= 1 || total == leafCount { return true }
    if reducesSiblingsDirectly, let parent = sharedPParent() {
      reduceChildren(of: parent)
    } else {
      bubble()
      guard let root = checkTemplates(total: Int32(total)) else { return false }
      applyTemplates(root: root)
    }
    compactParentSetsIfNeeded()
    return true
  }

  /// The P-node that is the parent of every queued leaf, if there is one (the commonest
  /// reduction in a layout: some of one batch's results).
  private func sharedPParent() -> Int32? {
    let parent = nodes[Int(scratch.queue[0])].parentLink
    guard parent >= 0 else { return nil }
    for x in scratch.queue where nodes[Int(x)].parentLink != parent { return nil }
    return parent
  }

  /// The reduction when every queued leaf is a child of the P-node `x`: what BUBBLE, CHECK and
  /// APPLY do then (`x` is the pertinent root, every queued leaf full), without their per-leaf
  /// bookkeeping. All of x's children: nothing changes (x is full). Some: template P2, which
  /// groups them under a new P-node at x's `end1`, in the order APPLY would (its list of full
  /// children is the reverse of the queue), so the tree is the same node for node.
  private mutating func reduceChildren(of x: Int32) {
    let count = scratch.queue.count
    guard count < Int(nodes[Int(x)].childCount) else { return }
    let group = newNode(kind: Self.kindP)
    for i in stride(from: count - 1, through: 0, by: -1) {
      let c = scratch.queue[i]
      detach(c, from: x)
      attach(c, to: group, atEnd1: true)
    }
    attach(group, to: x, atEnd1: true)
  }

  /// BUBBLE: walks up from the pertinent leaves, recording each processed
  /// node's parent and counting pertinent children, until a single node
  /// (the pertinent root or an ancestor of it) remains unprocessed.
  private mutating func bubble() {
    var head = 0
    var offTheTop = 0
    while scratch.queue.count - head + offTheTop > 1 {
      let x = scratch.queue[head]
      head += 1
      let y = parentOf(x)
      scratch.nodes[Int(x)].bubbleParent = y
      if y == Self.none {
        offTheTop = 1
        continue
      }
      scratch.nodes[Int(y)].pertinentChildCount += 1
      if !scratch.nodes[Int(y)].queued {
        scratch.nodes[Int(y)].queued = true
        scratch.touched.append(y)
        scratch.queue.append(y)
      }
    }
  }

  /// The REDUCE queue without mutation: labels nodes, picks templates and
  /// records the processing order. Returns the pertinent root, or nil if
  /// no template applies somewhere.
  private mutating func checkTemplates(total: Int32) -> Int32? {
    // The first `total` queue entries are the pertinent leaves.
    scratch.queue.removeSubrange(Int(total)...)
    for i in 0..<Int(total) { scratch.nodes[Int(scratch.queue[i])].pertinentLeafCount = 1 }
    var head = 0
    while head < scratch.queue.count {
      let x = scratch.queue[head]
      head += 1
      scratch.order.append(x)
      let isRoot = scratch.nodes[Int(x)].pertinentLeafCount == total
      let template = chooseTemplate(x, isRoot: isRoot)
      guard template != .unset else { return nil }
      scratch.nodes[Int(x)].template = template
      let isFull = template == .full
      scratch.nodes[Int(x)].label = isFull ? Scratch.labelFull : Scratch.labelPartial
      if isRoot { return x }

      let y = Int(scratch.nodes[Int(x)].bubbleParent)
      scratch.nodes[y].pertinentLeafCount += scratch.nodes[Int(x)].pertinentLeafCount
      if isFull {
        scratch.nodes[Int(x)].nextFull = scratch.nodes[y].fullHead
        scratch.nodes[y].fullHead = x
        scratch.nodes[y].fullCount += 1
      } else {
        switch scratch.nodes[y].partialCount {
        case 0: scratch.nodes[y].partial0 = x
        case 1: scratch.nodes[y].partial1 = x
        default: break  // more than two partial children: the parent will fail
        }
        scratch.nodes[y].partialCount += 1
      }
      scratch.nodes[y].pertinentChildCount -= 1
      if scratch.nodes[y].pertinentChildCount == 0 { scratch.queue.append(Int32(y)) }
    }
    assertionFailure("pertinent root not reached")
    return nil
  }

  /// Which template matches `x` given its children's labels (`.unset`: none).
  private mutating func chooseTemplate(_ x: Int32, isRoot: Bool) -> Scratch.Template {
    let i = Int(x)
    let kind = nodes[i].kind
    if kind == Self.kindLeaf { return .full }
    let full = scratch.nodes[i].fullCount
    let partial = scratch.nodes[i].partialCount
    if full == nodes[i].childCount { return .full }
    if kind == Self.kindP {
      switch (isRoot, partial) {
      case (true, 0): return .p2
      case (true, 1): return .p4
      case (true, 2): return .p6
      case (false, 0): return .p3
      case (false, 1): return .p5
      default: return .unset
      }
    }
    let pertinent = Int(full + partial)
    if isRoot {
      // Q2/Q3: full children consecutive, partial ones at the block's ends.
      guard partial <= 2 else { return .unset }
      let start = full > 0 ? scratch.nodes[i].fullHead : scratch.nodes[i].partial0
      let run =
        1 + pertinentRun(from: nodes[Int(start)].sib0, prev: start)
        + pertinentRun(from: nodes[Int(start)].sib1, prev: start)
      return run == pertinent ? .qRoot : .unset
    }
    // Q2: the pertinent block starts at one end of x.
    guard partial <= 1 else { return .unset }
    if pertinentRun(from: nodes[i].end0, prev: Self.none) == pertinent
      || pertinentRun(from: nodes[i].end1, prev: Self.none) == pertinent
    {
      return .qPartial
    }
    return .unset
  }

  /// Length of the run of full siblings starting at `start` (walking away
  /// from `prev`), plus one if the run is followed by a partial sibling.
  private func pertinentRun(from start: Int32, prev: Int32) -> Int {
    var count = 0
    var p = prev
    var c = start
    while c != Self.none && scratch.nodes[Int(c)].label == Scratch.labelFull {
      count += 1
      let next = nextInChain(after: c, from: p)
      p = c
      c = next
    }
    if c != Self.none && scratch.nodes[Int(c)].label == Scratch.labelPartial { count += 1 }
    return count
  }

  /// Performs the templates chosen by `checkTemplates`, in the same order.
  private mutating func applyTemplates(root: Int32) {
    for i in 0..<scratch.order.count {
      let x = scratch.order[i]
      let result: Int32
      switch scratch.nodes[Int(x)].template {
      case .unset, .full: result = x
      case .p2: applyP2(x); result = x
      case .p3: result = applyP3(x)
      case .p4: applyP4(x); result = x
      case .p5: result = applyP5(x)
      case .p6: applyP6(x); result = x
      case .qPartial: applyQ(x, isRoot: false); result = x
      case .qRoot: applyQ(x, isRoot: true); result = x
      }
      if x == root { break }
      if result != x {
        // The partial child was replaced; fix the parent's record.
        let y = Int(scratch.nodes[Int(x)].bubbleParent)
        if scratch.nodes[y].partial0 == x {
          scratch.nodes[y].partial0 = result
        } else {
          scratch.nodes[y].partial1 = result
        }
      }
    }
  }
}
