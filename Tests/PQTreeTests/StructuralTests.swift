import Testing

@testable import PQTree

/// Requirement 4: the caller-facing structural view and mutation helpers.
@Suite struct StructuralTests {
  /// Applies random reversals and P-node permutations to every internal node.
  static func shuffleStructure(_ tree: inout PQTree, using rng: inout SplitMix64) {
    guard let root = tree.root else { return }
    var stack = [root]
    while let x = stack.popLast() {
      switch tree.kind(of: x) {
      case .leaf: continue
      case .qNode:
        if Bool.random(using: &rng) { tree.reverseQNode(x) }
      case .pNode:
        tree.setChildOrder(ofP: x, tree.children(of: x).shuffled(using: &rng))
      }
      for c in tree.children(of: x) {
        #expect(tree.parent(of: c) == x)
        stack.append(c)
      }
    }
  }

  @Test(arguments: [UInt64(11), 12, 13])
  func helpersKeepConstraintsAndParents(seed: UInt64) {
    var rng = SplitMix64(seed: seed)
    let n = 300
    let hidden = Array(0..<n).shuffled(using: &rng)
    var tree = PQTree(leafCount: n)
    var constraints: [[Int]] = []
    for round in 0..<5 {
      for _ in 0..<60 {
        let s = randomSlice(of: hidden, maxLength: round == 4 ? 40 : 8, using: &rng)
        do { let reduced = tree.reduce(s); #expect(reduced) }
        constraints.append(s)
      }
      let count = tree.countOrders()
      Self.shuffleStructure(&tree, using: &rng)
      #expect(tree.checkInvariants() == nil)
      // Products of large floats depend on visiting order; compare relatively.
      #expect(abs(tree.countOrders() / count - 1) < 1e-9)
      let pos = positions(of: tree.frontier())
      for s in constraints { #expect(isConsecutive(s, positions: pos)) }
    }
  }

  /// After helper mutations the represented set is unchanged, and later
  /// reductions still agree with brute force.
  @Test func helpersPreserveOrderSetSmall() {
    let n = 7
    let everyPerm = allPermutations(n)
    for seed in UInt64(0)..<30 {
      var rng = SplitMix64(seed: seed)
      var tree = PQTree(leafCount: n)
      var valid = everyPerm
      let hidden = Array(0..<n).shuffled(using: &rng)
      for _ in 0..<6 {
        let s = randomConstraint(n: n, hidden: hidden, using: &rng)
        let filtered = valid.filter { isConsecutive(s, in: $0) }
        do { let reduced = tree.reduce(s); #expect(reduced == !filtered.isEmpty) }
        if !filtered.isEmpty { valid = filtered }
        let before = tree.encodedOrders()
        Self.shuffleStructure(&tree, using: &rng)
        #expect(tree.checkInvariants() == nil)
        #expect(tree.encodedOrders() == before)
        #expect(before == Set(valid.map(encode)), "seed \(seed)")
      }
    }
  }

  @Test func structuralViewOfFreshTree() {
    let tree = PQTree(leafCount: 4)
    let root = tree.root ?? -1
    #expect(tree.kind(of: root) == .pNode)
    #expect(tree.children(of: root) == [0, 1, 2, 3])
    #expect(tree.parent(of: root) == nil)
    #expect(tree.childCount(of: root) == 4)
    #expect(tree.node(forLeaf: 2) == 2)
    #expect(tree.kind(of: 2) == .leaf(2))
    #expect(tree.countOrders() == 24)
  }
}
