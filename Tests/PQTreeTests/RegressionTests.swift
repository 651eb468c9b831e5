import Testing

@testable import PQTree

/// Requirement 3: named regression cases for the known pitfalls.
@Suite struct RegressionTests {
  @Test func emptyTreeAndSingleLeaf() {
    var empty = PQTree(leafCount: 0)
    #expect(empty.root == nil)
    #expect(empty.frontier().isEmpty)
    do { let reduced = empty.reduce([]); #expect(reduced) }
    do { let reduced = empty.reduce([0]); #expect(!reduced) }
    var one = PQTree(leafCount: 1)
    #expect(one.root == 0)
    #expect(one.kind(of: 0) == .leaf(0))
    do { let reduced = one.reduce([0]); #expect(reduced) }
    #expect(one.frontier() == [0])
    #expect(one.countOrders() == 1)
    #expect(one.checkInvariants() == nil)
  }

  @Test func trivialSetsChangeNothing() {
    var tree = PQTree(leafCount: 6)
    do { let reduced = tree.reduce([1, 2, 3]); #expect(reduced) }
    let before = tree.structureSnapshot()
    do { let reduced = tree.reduce([]); #expect(reduced) }
    do { let reduced = tree.reduce([4]); #expect(reduced) }
    do { let reduced = tree.reduce([0, 1, 2, 3, 4, 5]); #expect(reduced) }
    do { let reduced = tree.reduce([5, 4, 3, 2, 1, 0, 0]); #expect(reduced) }
    #expect(tree.structureSnapshot() == before)
    #expect(tree.checkInvariants() == nil)
  }

  @Test func duplicatesAreIgnored() {
    var a = PQTree(leafCount: 5)
    var b = PQTree(leafCount: 5)
    do { let reduced = a.reduce([1, 3, 1, 3, 3]); #expect(reduced) }
    do { let reduced = b.reduce([1, 3]); #expect(reduced) }
    #expect(a.encodedOrders() == b.encodedOrders())
    #expect(a.checkInvariants() == nil)
  }

  @Test func outOfRangeFailsWithoutChange() {
    var tree = PQTree(leafCount: 4)
    do { let reduced = tree.reduce([0, 1]); #expect(reduced) }
    let before = tree.structureSnapshot()
    do { let reduced = tree.reduce([2, 4]); #expect(!reduced) }
    do { let reduced = tree.reduce([-1, 2]); #expect(!reduced) }
    do { let reduced = tree.reduce([2, 3, Int.max]); #expect(!reduced) }
    #expect(tree.structureSnapshot() == before)
    #expect(tree.checkInvariants() == nil)
    do { let reduced = tree.reduce([2, 3]); #expect(reduced) }
  }

  @Test func cyclicTriangleIsRejected() {
    var tree = PQTree(leafCount: 3)
    do { let reduced = tree.reduce([0, 1]); #expect(reduced) }
    do { let reduced = tree.reduce([1, 2]); #expect(reduced) }
    let before = tree.structureSnapshot()
    do { let reduced = tree.reduce([0, 2]); #expect(!reduced) }
    #expect(tree.structureSnapshot() == before)
    #expect(tree.countOrders() == 2)
  }

  /// Builds one long Q-node 0-1-2-...-(n-1) and then reduces sets whose
  /// leaves are interior children of it; parent pointers of interior
  /// Q-children must resolve to the Q-node.
  @Test func interiorQChildrenKnowTheirParent() {
    let n = 40
    var tree = PQTree(leafCount: n)
    for i in 0..<(n - 1) { do { let reduced = tree.reduce([i, i + 1]); #expect(reduced) } }
    let q = tree.root ?? -1
    #expect(tree.kind(of: q) == .qNode)
    for leaf in 0..<n { #expect(tree.parent(of: leaf) == q) }
    do { let reduced = tree.reduce([17, 18, 19]); #expect(reduced) }
    do { let reduced = tree.reduce([17, 19]); #expect(!reduced) }
    #expect(tree.countOrders() == 2)
    #expect(tree.checkInvariants() == nil)
  }

  /// Merges several Q-nodes into one (Q2/Q3 splices) and checks that every
  /// former child of the absorbed Q-nodes reports the surviving parent.
  @Test func splicedQChildrenGetTheNewParent() {
    var tree = PQTree(leafCount: 12)
    for i in [0, 1, 2, 4, 5, 6, 8, 9, 10] {
      do { let reduced = tree.reduce([i, i + 1]); #expect(reduced) }
    }
    do { let reduced = tree.reduce([3, 4]); #expect(reduced) }  // joins two chains below a P-root
    do { let reduced = tree.reduce([7, 8]); #expect(reduced) }
    #expect(tree.checkInvariants() == nil)
    #expect(tree.frontier() == Array(0..<12) || tree.frontier() == Array((0..<12).reversed()))
    let q = tree.parent(of: 5) ?? -1
    for leaf in 0..<12 { #expect(tree.parent(of: leaf) == q) }
  }

  /// The pertinent root is deep inside the tree, not the tree root.
  @Test func pertinentRootBelowTreeRoot() {
    var tree = PQTree(leafCount: 8)
    do { let reduced = tree.reduce([0, 1, 2, 3]); #expect(reduced) }
    do { let reduced = tree.reduce([0, 1]); #expect(reduced) }
    do { let reduced = tree.reduce([1, 2]); #expect(reduced) }
    #expect(tree.checkInvariants() == nil)
    // 0-1-2 fixed up to reversal, 3 at either end of that block, then P over rest.
    // P(Q(0,1,2), 3) as one block (4 ways) among 4, 5, 6, 7 under the root P: 5! ways.
    #expect(tree.countOrders() == Double(4 * 120))
    let block = tree.parent(of: 3) ?? -1
    #expect(tree.kind(of: block) == .pNode)
    #expect(tree.parent(of: block) == tree.root)
  }

  /// P6 at the root: two partial children are joined around the full ones.
  @Test func rootWithTwoPartialChildren() {
    var tree = PQTree(leafCount: 7)
    do { let reduced = tree.reduce([0, 1]); #expect(reduced) }
    do { let reduced = tree.reduce([2, 3]); #expect(reduced) }
    do { let reduced = tree.reduce([1, 4, 2]); #expect(reduced) }  // 0-1 | 4 | 2-3
    #expect(tree.checkInvariants() == nil)
    let pos = positions(of: tree.frontier())
    #expect(isConsecutive([0, 1], positions: pos))
    #expect(isConsecutive([2, 3], positions: pos))
    #expect(isConsecutive([1, 4, 2], positions: pos))
    #expect(tree.countOrders() == Double(2 * 6))  // Q(0,1,4,2,3) reversible, among 5,6 free: 3! = 6
  }

  /// Reduction after reversing a Q-node must respect the new orientation.
  @Test func reduceAfterReversal() {
    var tree = PQTree(leafCount: 5)
    for i in 0..<4 { do { let reduced = tree.reduce([i, i + 1]); #expect(reduced) } }
    let q = tree.root ?? -1
    tree.reverseQNode(q)
    #expect(tree.frontier() == [4, 3, 2, 1, 0])
    do { let reduced = tree.reduce([3, 2]); #expect(reduced) }
    do { let reduced = tree.reduce([4, 2]); #expect(!reduced) }
    #expect(tree.checkInvariants() == nil)
  }
}
