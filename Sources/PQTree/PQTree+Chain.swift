/// Node allocation and child-chain surgery. Chains are doubly linked with
/// unordered neighbour pairs (`sib0`, `sib1`); a node's `end0`/`end1` are its
/// leftmost/rightmost children.
extension PQTree {
  /// Allocates a fresh internal node of the given kind with no children.
  mutating func newNode(kind: UInt8) -> Int32 {
    let x: Int32
    if let reused = freeList.popLast() {
      x = reused
    } else {
      x = Int32(nodes.count)
      nodes.append(Node())
      scratch.appendNode()
    }
    let i = Int(x)
    nodes[i] = Node(kind: kind)
    if kind == Self.kindQ { nodes[i].qSet = sets.make(owner: x) }
    scratch.nodes[i].label = ReductionScratch.labelEmpty
    scratch.touched.append(x)
    return x
  }

  mutating func freeNode(_ x: Int32) {
    nodes[Int(x)].kind = Self.kindFree
    nodes[Int(x)].qSet = Self.none
    freeList.append(x)
  }

  /// In `n`'s neighbour pair, replaces `old` by `new`.
  @inline(__always)
  mutating func replaceNeighbour(of n: Int32, old: Int32, new: Int32) {
    if nodes[Int(n)].sib0 == old {
      nodes[Int(n)].sib0 = new
    } else {
      assert(nodes[Int(n)].sib1 == old, "chain corrupted")
      nodes[Int(n)].sib1 = new
    }
  }

  /// Makes `x` the parent of `c` (direct link for P-nodes, set link for Q-nodes).
  @inline(__always)
  mutating func setParent(of c: Int32, to x: Int32) {
    nodes[Int(c)].parentLink = nodes[Int(x)].kind == Self.kindQ ? -2 - nodes[Int(x)].qSet : x
  }

  /// Appends the detached node `c` at one end of `x`'s chain.
  mutating func attach(_ c: Int32, to x: Int32, atEnd1: Bool) {
    setParent(of: c, to: x)
    let e = atEnd1 ? nodes[Int(x)].end1 : nodes[Int(x)].end0
    nodes[Int(c)].sib0 = e
    nodes[Int(c)].sib1 = Self.none
    if e == Self.none {
      nodes[Int(x)].end0 = c
      nodes[Int(x)].end1 = c
    } else {
      replaceNeighbour(of: e, old: Self.none, new: c)
      if atEnd1 { nodes[Int(x)].end1 = c } else { nodes[Int(x)].end0 = c }
    }
    nodes[Int(x)].childCount += 1
  }

  /// Removes child `c` from `x`'s chain, leaving `c` detached.
  mutating func detach(_ c: Int32, from x: Int32) {
    let a = nodes[Int(c)].sib0
    let b = nodes[Int(c)].sib1
    if a != Self.none { replaceNeighbour(of: a, old: c, new: b) }
    if b != Self.none { replaceNeighbour(of: b, old: c, new: a) }
    let other = a == Self.none ? b : a
    if nodes[Int(x)].end0 == c { nodes[Int(x)].end0 = other }
    if nodes[Int(x)].end1 == c { nodes[Int(x)].end1 = other }
    nodes[Int(x)].childCount -= 1
    nodes[Int(c)].sib0 = Self.none
    nodes[Int(c)].sib1 = Self.none
    nodes[Int(c)].parentLink = Self.none
  }

  /// Puts the detached node `new` where `old` is (same parent, same
  /// neighbours, or root); `old` ends up detached.
  mutating func replaceNode(_ old: Int32, with new: Int32) {
    let p = parentOf(old)
    let a = nodes[Int(old)].sib0
    let b = nodes[Int(old)].sib1
    nodes[Int(new)].sib0 = a
    nodes[Int(new)].sib1 = b
    if a != Self.none { replaceNeighbour(of: a, old: old, new: new) }
    if b != Self.none { replaceNeighbour(of: b, old: old, new: new) }
    nodes[Int(new)].parentLink = nodes[Int(old)].parentLink
    if p == Self.none {
      rootNode = new
    } else {
      if nodes[Int(p)].end0 == old { nodes[Int(p)].end0 = new }
      if nodes[Int(p)].end1 == old { nodes[Int(p)].end1 = new }
    }
    nodes[Int(old)].sib0 = Self.none
    nodes[Int(old)].sib1 = Self.none
    nodes[Int(old)].parentLink = Self.none
  }

  /// Replaces the child `y` of Q-node `x` by `y`'s own children. `y`'s
  /// `end1` child is linked to `fullNeighbour`, its `end0` child to
  /// `otherNeighbour` (these are `y`'s current neighbours; one may be none).
  /// `y` is freed.
  mutating func splice(_ y: Int32, into x: Int32, fullNeighbour: Int32, otherNeighbour: Int32) {
    let yFull = nodes[Int(y)].end1
    let yOther = nodes[Int(y)].end0
    if fullNeighbour != Self.none {
      replaceNeighbour(of: fullNeighbour, old: y, new: yFull)
      replaceNeighbour(of: yFull, old: Self.none, new: fullNeighbour)
    }
    if otherNeighbour != Self.none {
      replaceNeighbour(of: otherNeighbour, old: y, new: yOther)
      replaceNeighbour(of: yOther, old: Self.none, new: otherNeighbour)
    }
    if nodes[Int(x)].end0 == y { nodes[Int(x)].end0 = fullNeighbour == Self.none ? yFull : yOther }
    if nodes[Int(x)].end1 == y { nodes[Int(x)].end1 = fullNeighbour == Self.none ? yFull : yOther }
    nodes[Int(x)].childCount += nodes[Int(y)].childCount - 1
    sets.union(nodes[Int(x)].qSet, nodes[Int(y)].qSet, owner: x)
    freeNode(y)
  }

  /// Appends the children of Q-node `y` to the `end1` side of Q-node `x`,
  /// `y` reversed so that `y.end1` meets `x.end1`. `y` must be detached; it is freed.
  mutating func joinReversed(_ y: Int32, onto x: Int32) {
    let a = nodes[Int(x)].end1
    let b = nodes[Int(y)].end1
    replaceNeighbour(of: a, old: Self.none, new: b)
    replaceNeighbour(of: b, old: Self.none, new: a)
    nodes[Int(x)].end1 = nodes[Int(y)].end0
    nodes[Int(x)].childCount += nodes[Int(y)].childCount
    sets.union(nodes[Int(x)].qSet, nodes[Int(y)].qSet, owner: x)
    freeNode(y)
  }

  /// Rebuilds the union-find from scratch when it has grown large relative
  /// to the tree (each Q-node gets one fresh set). O(nodes), amortised over
  /// the reductions that created the garbage.
  mutating func compactParentSetsIfNeeded() {
    guard sets.count > 2 * nodes.count + 1024 else { return }
    sets.removeAll()
    for x in 0..<nodes.count where nodes[x].kind == Self.kindQ {
      let e = sets.make(owner: Int32(x))
      nodes[x].qSet = e
      var prev = Self.none
      var c = nodes[x].end0
      while c != Self.none {
        nodes[Int(c)].parentLink = -2 - e
        let next = nextInChain(after: c, from: prev)
        prev = c
        c = next
      }
    }
  }
}
