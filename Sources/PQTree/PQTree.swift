/// The kind of a PQ-tree node, as seen by callers walking the tree.
public enum PQNodeKind: Equatable, Sendable {
  /// A leaf carrying the element `0..<leafCount` it stands for.
  case leaf(Int)
  /// Children may be permuted arbitrarily.
  case pNode
  /// Children order is fixed up to reversal.
  case qNode
}

/// A PQ-tree (Booth & Lueker 1976) over the leaves `0..<leafCount`.
///
/// The tree represents a set of permutations of its leaves. `reduce(_:)`
/// restricts that set to the permutations in which a given leaf set is
/// consecutive; `frontier()` returns one represented permutation.
///
/// Storage is data oriented: every node is an `Int32` index into flat arrays.
/// Leaf `i` is always node `i`. Children of a node form a doubly linked chain
/// whose links are *unordered pairs* (so a Q-node is reversed in O(1) by
/// swapping its two end pointers). Children of P-nodes store their parent
/// directly; children of Q-nodes store a union-find element that resolves to
/// their Q-node, so merging a Q-node into another costs O(α) instead of
/// touching every child.
public struct PQTree: Sendable {
  /// One node's structural fields, kept together for cache locality.
  struct Node: Sendable {
    var kind: UInt8 = PQTree.kindFree
    /// `>= 0`: the parent (a P-node). `-1`: no parent (root or detached).
    /// `<= -2`: the union-find element `-2 - link` of the parent Q-node.
    var parentLink: Int32 = PQTree.none
    /// Neighbours in the parent's child chain (unordered pair).
    var sib0: Int32 = PQTree.none
    var sib1: Int32 = PQTree.none
    /// Leftmost and rightmost child.
    var end0: Int32 = PQTree.none
    var end1: Int32 = PQTree.none
    var childCount: Int32 = 0
    /// For Q-nodes: an element of the union-find set owned by the node.
    var qSet: Int32 = PQTree.none

    mutating func reverseEnds() { swap(&end0, &end1) }
  }

  static let none: Int32 = -1

  static let kindFree: UInt8 = 0
  static let kindLeaf: UInt8 = 1
  static let kindP: UInt8 = 2
  static let kindQ: UInt8 = 3

  /// Number of leaves; leaves are the elements `0..<leafCount`.
  public let leafCount: Int

  /// All nodes, indexed by `Int32` id; leaf `i` is node `i`.
  var nodes: [Node]
  var freeList: [Int32] = []
  var rootNode: Int32
  var sets = ParentSets()
  var scratch: ReductionScratch
  /// Whether a set of leaves that are all children of one P-node is reduced without BUBBLE and
  /// CHECK (`reduceChildren`); tests turn it off to compare with the general path.
  var reducesSiblingsDirectly = true

  /// Creates the tree with one P-node over all leaves (every order allowed).
  public init(leafCount n: Int) {
    precondition(n >= 0 && n < Int(Int32.max) / 2, "leafCount out of range")
    leafCount = n
    let count = n >= 2 ? n + 1 : n
    // Room for every internal node a tree of n leaves can hold (fewer than n at a time, freed
    // ones reused), so growing never copies the arrays; pages not yet used stay unmapped.
    nodes = []
    nodes.reserveCapacity(2 * n)
    for i in 0..<count {
      nodes.append(
        Node(
          kind: Self.kindLeaf, parentLink: n >= 2 ? Int32(n) : Self.none,
          sib0: Int32(i - 1), sib1: i + 1 < n ? Int32(i + 1) : Self.none))
    }
    scratch = ReductionScratch(nodeCount: count, capacity: 2 * n)
    if n >= 2 {
      nodes[n] = Node(kind: Self.kindP, end0: 0, end1: Int32(n - 1), childCount: Int32(n))
      rootNode = Int32(n)
    } else {
      rootNode = n == 1 ? 0 : Self.none
    }
  }

  /// The tree `PQTree(leafCount:)` becomes once reduced by each of `runs`, built directly in
  /// O(leafCount): the runs are disjoint ranges of neighbouring leaves, in increasing order
  /// (a run of fewer than two leaves, or of all of them, changes nothing). Each run of two or
  /// more becomes one P-node under the root.
  public init(leafCount n: Int, disjointRuns runs: [Range<Int>]) {
    self.init(leafCount: n)
    guard n >= 2 else { return }
    let root = rootNode
    var previousEnd = 0
    // The last group made and where its run ends (its leaves are no longer in the root's chain).
    var lastGroup = Self.none
    var lastGroupEnd = -1
    for run in runs {
      precondition(
        run.lowerBound >= previousEnd && run.upperBound <= n, "runs must be disjoint and in order")
      defer { previousEnd = run.upperBound }
      guard run.count >= 2 && run.count < n else { continue }
      let first = Int32(run.lowerBound)
      let last = Int32(run.upperBound - 1)
      let group = newNode(kind: Self.kindP)
      // The run's leaves keep their chain; the group takes their place in the root's chain.
      let left = lastGroupEnd == run.lowerBound ? lastGroup : first - 1
      let right = run.upperBound == n ? Self.none : last + 1
      nodes[Int(group)].sib0 = left
      nodes[Int(group)].sib1 = right
      if left != Self.none { replaceNeighbour(of: left, old: first, new: group) }
      if right != Self.none { replaceNeighbour(of: right, old: last, new: group) }
      replaceNeighbour(of: first, old: left, new: Self.none)
      replaceNeighbour(of: last, old: right, new: Self.none)
      for leaf in run { nodes[leaf].parentLink = group }
      nodes[Int(group)].end0 = first
      nodes[Int(group)].end1 = last
      nodes[Int(group)].childCount = Int32(run.count)
      nodes[Int(group)].parentLink = root
      nodes[Int(root)].childCount -= Int32(run.count - 1)
      if nodes[Int(root)].end0 == first { nodes[Int(root)].end0 = group }
      if nodes[Int(root)].end1 == last { nodes[Int(root)].end1 = group }
      lastGroup = group
      lastGroupEnd = run.upperBound
    }
    scratch.reset()
  }

  // MARK: - Read-only structural view

  /// One more than the largest node id; node ids index arrays of this size.
  public var nodeCapacity: Int { nodes.count }

  /// The root node, or nil for a tree without leaves.
  public var root: Int? { rootNode == Self.none ? nil : Int(rootNode) }

  /// The node id of a leaf (leaf `i` is node `i`).
  public func node(forLeaf leaf: Int) -> Int {
    precondition(leaf >= 0 && leaf < leafCount, "leaf out of range")
    return leaf
  }

  /// The kind of a live node.
  public func kind(of node: Int) -> PQNodeKind {
    switch checkedKind(node) {
    case Self.kindLeaf: return .leaf(node)
    case Self.kindP: return .pNode
    default: return .qNode
    }
  }

  /// The parent of a live node, nil for the root.
  public func parent(of node: Int) -> Int? {
    _ = checkedKind(node)
    let p = parentReadOnly(Int32(node))
    return p == Self.none ? nil : Int(p)
  }

  /// The children of a live node, left to right (empty for leaves).
  public func children(of node: Int) -> [Int] {
    _ = checkedKind(node)
    var out: [Int] = []
    out.reserveCapacity(Int(nodes[node].childCount))
    forEachChild(of: Int32(node)) { out.append(Int($0)) }
    return out
  }

  /// Calls `body` with each child of a live node, left to right, without building an array.
  public func forEachChild(of node: Int, _ body: (Int) -> Void) {
    _ = checkedKind(node)
    forEachChild(of: Int32(node)) { body(Int($0)) }
  }

  /// Number of children of a live node.
  public func childCount(of node: Int) -> Int {
    _ = checkedKind(node)
    return Int(nodes[node].childCount)
  }

  /// One represented order: all leaves, left to right.
  public func frontier() -> [Int] {
    var out: [Int] = []
    out.reserveCapacity(leafCount)
    guard rootNode != Self.none else { return out }
    var stack: [Int32] = [rootNode]
    while let x = stack.popLast() {
      if nodes[Int(x)].kind == Self.kindLeaf {
        out.append(Int(x))
        continue
      }
      // Push right to left so the leftmost child is popped first.
      var prev = Self.none
      var c = nodes[Int(x)].end1
      while c != Self.none {
        stack.append(c)
        let next = nextInChain(after: c, from: prev)
        prev = c
        c = next
      }
    }
    return out
  }

  // MARK: - Structural mutation for callers

  /// Reverses the child order of a Q-node (O(1)).
  public mutating func reverseQNode(_ node: Int) {
    precondition(checkedKind(node) == Self.kindQ, "reverseQNode needs a Q-node")
    nodes[node].reverseEnds()
  }

  /// Sets the child order of a P-node; `order` must be a permutation of its
  /// current children.
  public mutating func setChildOrder(ofP node: Int, _ order: [Int]) {
    precondition(checkedKind(node) == Self.kindP, "setChildOrder needs a P-node")
    precondition(
      order.count == Int(nodes[node].childCount), "order is not a permutation of the children")
    var seen = Set<Int>()
    seen.reserveCapacity(order.count)
    for c in order {
      precondition(
        c >= 0 && c < nodes.count && nodes[c].kind != Self.kindFree
          && nodes[c].parentLink == Int32(node) && seen.insert(c).inserted,
        "order is not a permutation of the children")
    }
    for (i, c) in order.enumerated() {
      nodes[c].sib0 = i > 0 ? Int32(order[i - 1]) : Self.none
      nodes[c].sib1 = i + 1 < order.count ? Int32(order[i + 1]) : Self.none
    }
    nodes[node].end0 = Int32(order[0])
    nodes[node].end1 = Int32(order[order.count - 1])
  }

  // MARK: - Internal helpers shared by the extensions

  func checkedKind(_ node: Int) -> UInt8 {
    precondition(
      node >= 0 && node < nodes.count && nodes[node].kind != Self.kindFree, "not a live node")
    return nodes[node].kind
  }

  /// The neighbour of `cur` in its chain that is not `prev`.
  @inline(__always)
  func nextInChain(after cur: Int32, from prev: Int32) -> Int32 {
    let a = nodes[Int(cur)].sib0
    return a == prev ? nodes[Int(cur)].sib1 : a
  }

  func forEachChild(of x: Int32, _ body: (Int32) -> Void) {
    var prev = Self.none
    var c = nodes[Int(x)].end0
    while c != Self.none {
      body(c)
      let next = nextInChain(after: c, from: prev)
      prev = c
      c = next
    }
  }

  /// Parent lookup without path compression (for read-only callers).
  func parentReadOnly(_ c: Int32) -> Int32 {
    let link = nodes[Int(c)].parentLink
    if link >= Self.none { return link }
    return sets.owner[Int(sets.findReadOnly(-2 - link))]
  }

  /// Parent lookup with path compression.
  mutating func parentOf(_ c: Int32) -> Int32 {
    let link = nodes[Int(c)].parentLink
    if link >= Self.none { return link }
    let r = sets.find(-2 - link)
    nodes[Int(c)].parentLink = -2 - r
    return sets.owner[Int(r)]
  }
}
