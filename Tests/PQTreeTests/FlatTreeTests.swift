import Testing

@testable import PQTree

/// `PQTree(leafCount:disjointRuns:)` and `FlatPQTree`, the fast paths `pq-layout` uses.
@Suite struct FlatTreeTests {
  /// Random disjoint runs covering `0..<n` in order (lengths 1…4).
  static func randomRuns(_ n: Int, using rng: inout SplitMix64) -> [Range<Int>] {
    var runs: [Range<Int>] = []
    var start = 0
    while start < n {
      let end = min(n, start + Int.random(in: 1...4, using: &rng))
      runs.append(start..<end)
      start = end
    }
    return runs
  }

  /// Built directly or by reductions, the tree represents the same orders, also after more
  /// reductions (same successes and failures).
  @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6])
  func disjointRunsMatchReductions(seed: UInt64) {
    var rng = SplitMix64(seed: seed)
    for _ in 0..<40 {
      let n = Int.random(in: 0...8, using: &rng)
      let runs = Self.randomRuns(n, using: &rng)
      var direct = PQTree(leafCount: n, disjointRuns: runs)
      var reduced = PQTree(leafCount: n)
      for run in runs { reduced.reduce(Array(run)) }
      #expect(direct.checkInvariants() == nil)
      #expect(Set(direct.enumerateOrders()) == Set(reduced.enumerateOrders()))
      for _ in 0..<4 {
        let set = Array(Set((0..<3).map { _ in Int.random(in: 0..<max(1, n), using: &rng) }))
        #expect(direct.reduce(set) == reduced.reduce(set))
        #expect(direct.checkInvariants() == nil)
        #expect(Set(direct.enumerateOrders()) == Set(reduced.enumerateOrders()))
      }
    }
  }

  /// The flat copy has the tree's frontier and structure; subtrees are id ranges.
  @Test(arguments: [UInt64(7), 8, 9])
  func flatCopyMatchesTree(seed: UInt64) {
    var rng = SplitMix64(seed: seed)
    let n = 200
    let hidden = Array(0..<n).shuffled(using: &rng)
    var tree = PQTree(leafCount: n)
    for _ in 0..<150 { tree.reduce(randomSlice(of: hidden, maxLength: 12, using: &rng)) }
    let flat = FlatPQTree(tree)
    #expect(flat.frontier() == tree.frontier())
    #expect(flat.root == 0)
    for x in 0..<flat.nodeCount {
      var leaves = 0
      for c in flat.children(of: x) {
        #expect(flat.parent(of: Int(c)) == x)
        #expect(flat.subtree(of: x).contains(Int(c)))
        leaves += flat.leafCount(of: Int(c))
      }
      if case .leaf(let leaf) = flat.kind(of: x) {
        #expect(flat.node(forLeaf: leaf) == x)
      } else {
        #expect(leaves == flat.leafCount(of: x))
      }
    }
    // Labels rename the leaves.
    let labels = Array(0..<n).shuffled(using: &rng)
    #expect(FlatPQTree(tree, labels: labels).frontier() == tree.frontier().map { labels[$0] })
  }

  /// Orienting by a represented order's positions yields exactly that order; the result is a
  /// represented order whatever the key.
  @Test(arguments: [UInt64(10), 11, 12])
  func orientFollowsKeys(seed: UInt64) {
    var rng = SplitMix64(seed: seed)
    let n = 7
    let hidden = Array(0..<n).shuffled(using: &rng)
    var tree = PQTree(leafCount: n)
    for _ in 0..<3 { tree.reduce(randomSlice(of: hidden, maxLength: 4, using: &rng)) }
    let orders = Set(tree.enumerateOrders())
    var flat = FlatPQTree(tree)
    var least = [Int](repeating: 0, count: flat.nodeCount)
    let position = positions(of: hidden)
    flat.orient(subtree: 0, least: &least) { position[$0] }
    #expect(flat.frontier() == hidden)
    let key = (0..<n).map { _ in Int.random(in: 0..<3, using: &rng) }
    flat.orient(subtree: 0, least: &least) { key[$0] }
    #expect(orders.contains(flat.frontier()))
  }
}
