import Testing

@testable import PQTree

/// Requirement 2: slices of a hidden permutation are always feasible and the
/// frontier satisfies all of them.
@Suite struct HiddenPermutationTests {
  @Test(arguments: [(UInt64(1), 500), (2, 2000), (3, 3000)])
  func slicesOfHiddenPermutation(seed: UInt64, n: Int) {
    var rng = SplitMix64(seed: seed)
    let hidden = Array(0..<n).shuffled(using: &rng)
    var tree = PQTree(leafCount: n)
    var constraints: [[Int]] = []
    for i in 0..<1500 {
      // Mostly short slices, occasionally long ones.
      let maxLength = i % 50 == 0 ? n : (i % 7 == 0 ? 200 : 12)
      let s = randomSlice(of: hidden, maxLength: maxLength, using: &rng)
      do { let reduced = tree.reduce(s); #expect(reduced, "seed=\(seed) constraint \(i)") }
      constraints.append(s)
    }
    #expect(tree.checkInvariants() == nil)
    let order = tree.frontier()
    #expect(order.sorted() == Array(0..<n))
    let pos = positions(of: order)
    for (i, s) in constraints.enumerated() {
      #expect(isConsecutive(s, positions: pos), "constraint \(i) broken")
    }
    // The hidden order itself must still be represented.
    #expect(arrange(&tree, toMatch: hidden) == hidden, "seed=\(seed): hidden order lost")
  }

  /// Random (mostly infeasible) sets on a large tree: accepted ones hold in
  /// the frontier, rejected ones leave the tree unchanged.
  @Test func randomSetsOnLargeTree() {
    var rng = SplitMix64(seed: 77)
    let n = 400
    let hidden = Array(0..<n).shuffled(using: &rng)
    var tree = PQTree(leafCount: n)
    var accepted: [[Int]] = []
    for i in 0..<300 {
      let s: [Int]
      if i % 3 == 0 {
        let k = Int.random(in: 2...6, using: &rng)
        s = (0..<k).map { _ in Int.random(in: 0..<n, using: &rng) }
      } else {
        s = randomSlice(of: hidden, maxLength: 30, using: &rng)
      }
      let before = tree.structureSnapshot()
      if tree.reduce(s) {
        accepted.append(s)
      } else {
        #expect(tree.structureSnapshot() == before, "rejected set \(i) changed the tree")
      }
      #expect(tree.checkInvariants() == nil)
    }
    let pos = positions(of: tree.frontier())
    for s in accepted { #expect(isConsecutive(s, positions: pos)) }
  }
}

/// Turns P-nodes and reverses Q-nodes so the frontier follows `order` as closely as the tree
/// allows, and returns the frontier: it equals `order` exactly when the tree represents it.
func arrange(_ tree: inout PQTree, toMatch order: [Int]) -> [Int] {
  guard let root = tree.root else { return [] }
  var position = [Int](repeating: 0, count: order.count)
  for (i, leaf) in order.enumerated() { position[leaf] = i }
  // The first position (in `order`) of each node's leaves, children before parents.
  var first = [Int](repeating: Int.max, count: tree.nodeCapacity)
  var postorder: [Int] = []
  var stack = [root]
  while let x = stack.popLast() {
    postorder.append(x)
    stack.append(contentsOf: tree.children(of: x))
  }
  for x in postorder.reversed() {
    if case .leaf(let leaf) = tree.kind(of: x) {
      first[x] = position[leaf]
    } else {
      first[x] = tree.children(of: x).map { first[$0] }.min() ?? Int.max
    }
  }
  for x in postorder {
    let children = tree.children(of: x)
    switch tree.kind(of: x) {
    case .pNode: tree.setChildOrder(ofP: x, children.sorted { first[$0] < first[$1] })
    case .qNode:
      if let a = children.first, let b = children.last, first[a] > first[b] { tree.reverseQNode(x) }
    case .leaf: break
    }
  }
  return tree.frontier()
}
