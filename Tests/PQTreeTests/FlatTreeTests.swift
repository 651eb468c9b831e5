import Testing

@testable import PQTree

/// `PQTree(leafCount:disjointRuns:)` and `FlatPQTree`, the fast paths `pq-layout` uses.
@Suite struct FlatTreeTests {
  /// Built directly or by reductions, the tree represents the same orders, also after more
  /// reductions (same successes and failures).
  @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6])
  func disjointRunsMatchReductions(seed: UInt64) {
    var rng = SplitMix64(seed: seed)
    for _ in 0..<40 {
      let n = Int.random(in: 0...8, using: &rng)
      let runs = randomRuns(n, maxLength: 4, using: &rng)
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
    var tree = treeOfHiddenSlices(n: n, reductions: 150, maxLength: 12, using: &rng)
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

  /// The reference `orient`: children first, each P-node's children stably sorted by the least
  /// key below them, each Q-node turned when its first child's least key is above its last's.
  static func referenceOrient(_ flat: inout FlatPQTree, node: Int, key: [Int]) -> Int {
    if case .leaf(let leaf) = flat.kind(of: node) { return key[leaf] }
    var least: [Int32: Int] = [:]
    for c in flat.children(of: node) { least[c] = referenceOrient(&flat, node: Int(c), key: key) }
    if flat.kind(of: node) == .pNode {
      flat.sortChildren(ofP: node) { least[$0]! < least[$1]! }
    } else if let first = flat.children(of: node).first, let last = flat.children(of: node).last,
      least[first]! > least[last]!
    {
      flat.reverseQNode(node)
    }
    return least.values.min()!
  }

  /// `orient(subtree:least:keys:scratch:)`, whose P-node sort packs keys below 2^32 with each
  /// child's place into one integer, turns every subtree as the reference does: keys small and
  /// large (the pair sort), repeated, `Int.max` (no key), and distinct keys forwards then
  /// backwards; one scratch serves every call. It reports whether any child moved.
  @Test(arguments: [UInt64(13), 14, 15, 16])
  func orientByKeysMatchesTheReference(seed: UInt64) {
    var rng = SplitMix64(seed: seed)
    let n = 300
    var tree = treeOfHiddenSlices(n: n, reductions: 120, maxLength: 40, using: &rng)
    var flat = FlatPQTree(tree)
    var reference = flat
    var least = [Int](repeating: 0, count: flat.nodeCount)
    var scratch = FlatPQTree.WalkScratch()
    for round in 0..<18 {
      let key = (0..<n).map { leaf -> Int in
        switch round % 6 {
        case 0: return Int.random(in: 0..<n, using: &rng)
        case 1: return Int.random(in: 0..<4, using: &rng)
        case 2: return Bool.random(using: &rng) ? Int.max : Int.random(in: 0..<n, using: &rng)
        case 3: return Int.random(in: 0..<(1 << 40), using: &rng)
        // Distinct keys, then the same backwards: every child list the first sorted now
        // strictly decreases (the sort reverses it).
        case 4: return leaf
        default: return n - leaf
        }
      }
      let node = round % 6 >= 4 ? 0 : Int.random(in: 0..<flat.nodeCount, using: &rng)
      let before = flat.frontier()
      let moved = flat.orient(subtree: node, least: &least, keys: key, scratch: &scratch)
      _ = Self.referenceOrient(&reference, node: node, key: key)
      #expect(flat.frontier() == reference.frontier())
      // It says whether it moved anything: then, and only then, the frontier changed; turned
      // by the same keys again, nothing moves.
      #expect(moved == (flat.frontier() != before))
      #expect(!flat.orient(subtree: node, least: &least, keys: key, scratch: &scratch))
    }
  }

  /// `writeLeaves` writes a subtree's leaves as they stand in the frontier: a contiguous run.
  @Test(arguments: [UInt64(17), 18])
  func writeLeavesIsTheFrontierOfTheSubtree(seed: UInt64) {
    var rng = SplitMix64(seed: seed)
    let n = 120
    var tree = treeOfHiddenSlices(n: n, reductions: 60, maxLength: 10, using: &rng)
    let flat = FlatPQTree(tree)
    let frontier = flat.frontier()
    let position = positions(of: frontier)
    var scratch = FlatPQTree.WalkScratch()
    var out = [Int](repeating: -1, count: n)
    for node in 0..<flat.nodeCount {
      var leftmost = node
      while let child = flat.children(of: leftmost).first { leftmost = Int(child) }
      guard case .leaf(let first) = flat.kind(of: leftmost) else { continue }
      let start = position[first]
      let count = flat.writeLeaves(under: node, into: &out, from: start, scratch: &scratch)
      #expect(count == flat.leafCount(of: node))
      #expect(out[start..<(start + count)] == frontier[start..<(start + count)])
    }
  }

  /// The packed sort (insertion sort when short, radix passes on the key bytes that differ
  /// otherwise) sorts like the standard library, keys narrow and wide, near zero and far from
  /// it, many repeated.
  @Test(arguments: [UInt64(19), 20])
  func packedSortMatchesTheStandardSort(seed: UInt64) {
    var rng = SplitMix64(seed: seed)
    var scratch = FlatPQTree.WalkScratch()
    let limit = FlatPQTree.WalkScratch.insertionSortLimit
    for count in [0, 1, 2, limit - 1, limit, limit + 1, 100, 1000] {
      for keyBits in [1, 8, 20, 32] {
        // Keys near zero, then as high as 32 bits go (the radix passes go by the key less the
        // least).
        for offset: UInt64 in [0, (1 << 32) - (1 << UInt64(keyBits))] {
          scratch.packed = (0..<count).map { place in
            (UInt64.random(in: 0..<(1 << UInt64(keyBits)), using: &rng) + offset) << 32
              | UInt64(place)
          }
          let expected = scratch.packed.sorted()
          scratch.sortPacked()
          #expect(scratch.packed == expected)
        }
      }
    }
  }
}
