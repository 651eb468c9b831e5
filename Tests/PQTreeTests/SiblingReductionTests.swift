import Testing

@testable import PQTree

/// `reduce` takes a shortcut when every leaf of the set is a child of one P-node (the commonest
/// reduction in a layout). It must leave the tree the general path leaves, node for node.
@Suite struct SiblingReductionTests {
  /// Random sets, many of them some of one P-node's leaf children, reduced with and without the
  /// shortcut: the same outcomes, the same node ids, child orders and free nodes, every time.
  @Test(arguments: [UInt64(31), 32, 33, 34])
  func shortcutLeavesTheTreeTheGeneralPathLeaves(seed: UInt64) {
    var rng = SplitMix64(seed: seed)
    let n = 400
    // Runs of neighbouring leaves under the root, as pq-layout starts (one per batch).
    let runs = randomRuns(n, maxLength: 40, using: &rng)
    var shortcut = PQTree(leafCount: n, disjointRuns: runs)
    var general = shortcut
    general.reducesSiblingsDirectly = false
    let hidden = Array(0..<n).shuffled(using: &rng)
    var siblingSets = 0
    for _ in 0..<600 {
      let set: [Int]
      switch Int.random(in: 0..<4, using: &rng) {
      case 0, 1:
        // Some (or all) of one inner node's children that are leaves, in any order, maybe repeated.
        let node = Int.random(in: n..<shortcut.nodeCapacity, using: &rng)
        let live = shortcut.nodes[node].kind != PQTree.kindFree
        let leaves = live ? shortcut.children(of: node).filter { $0 < n } : []
        let some = leaves.shuffled(using: &rng).prefix(
          Int.random(in: 0...leaves.count, using: &rng))
        set = Array(some) + some.prefix(Int.random(in: 0...2, using: &rng))
        if some.count >= 2 { siblingSets += 1 }
      case 2:
        set = randomSlice(of: hidden, maxLength: 30, using: &rng)
      default:
        set = (0..<Int.random(in: 2...12, using: &rng)).map { _ in
          Int.random(in: 0..<n, using: &rng)
        }
      }
      let reduced = shortcut.reduce(set)
      #expect(general.reduce(set) == reduced)
      #expect(shortcut.structureSnapshot() == general.structureSnapshot())
      #expect(shortcut.freeList == general.freeList)
      #expect(shortcut.checkInvariants() == nil)
    }
    #expect(siblingSets > 100)
  }
}
