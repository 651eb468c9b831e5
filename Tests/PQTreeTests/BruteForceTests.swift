import Testing

@testable import PQTree

/// Requirement 1: agreement with brute force over all permutations.
@Suite struct BruteForceTests {
  /// Runs one seeded case: a sequence of random reductions on a tree over
  /// `n` leaves, each compared with filtering all permutations.
  static func runCase(n: Int, seed: UInt64, steps: Int, everyPerm: [[Int]]) {
    var rng = SplitMix64(seed: seed)
    var tree = PQTree(leafCount: n)
    var valid = everyPerm
    let hidden = Array(0..<n).shuffled(using: &rng)
    for step in 0..<steps {
      let s = randomConstraint(n: n, hidden: hidden, using: &rng)
      let filtered = valid.filter { isConsecutive(s, in: $0) }
      let before = tree.structureSnapshot()
      let ok = tree.reduce(s)
      #expect(ok == !filtered.isEmpty, "n=\(n) seed=\(seed) step=\(step) set=\(s)")
      #expect(
        tree.checkInvariants() == nil,
        "n=\(n) seed=\(seed) step=\(step): \(tree.checkInvariants() ?? "")")
      if ok {
        valid = filtered
      } else {
        #expect(
          tree.structureSnapshot() == before,
          "failed reduce changed tree n=\(n) seed=\(seed) step=\(step)")
      }
      if tree.checkInvariants() != nil || ok != !filtered.isEmpty { return }
      #expect(tree.countOrders() == Double(valid.count), "n=\(n) seed=\(seed) step=\(step)")
      #expect(
        tree.encodedOrders() == Set(valid.map(encode)), "n=\(n) seed=\(seed) step=\(step) set=\(s)")
    }
  }

  @Test(arguments: 1...8)
  func matchesBruteForce(n: Int) {
    let everyPerm = allPermutations(n)
    let cases = n <= 5 ? 150 : (n == 6 ? 120 : (n == 7 ? 30 : 8))
    for c in 0..<cases {
      Self.runCase(n: n, seed: UInt64(n * 100_000 + c), steps: 8, everyPerm: everyPerm)
    }
  }
}
