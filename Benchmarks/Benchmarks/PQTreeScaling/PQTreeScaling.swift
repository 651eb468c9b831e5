// The PQ-tree alone. A random permutation of n leaves is hidden; the tree is reduced by n of its
// contiguous slices, of random lengths 2…18 (10 on average), so the sets total about 10·n elements:
// 10M elements for 1M leaves. Every reduction succeeds. Time per element should stay flat as n
// grows (the reductions cost O(|S|) amortized).
import BatchIR
import Benchmark
import PQTree

/// The constraint sets for `leaves` leaves, flattened: set k is `elements[start[k]..<start[k+1]]`.
struct SliceConstraints {
  var start: [Int] = [0]
  var elements: [Int] = []

  init(leaves: Int, seed: UInt64) {
    var random = SeededGenerator(seed: seed)
    let hidden = (0..<leaves).shuffled(using: &random)
    for _ in 0..<leaves {
      let length = Int.random(in: 2...18, using: &random)
      let first = Int.random(in: 0...(leaves - length), using: &random)
      elements.append(contentsOf: hidden[first..<first + length])
      start.append(elements.count)
    }
  }
}

let benchmarks: @Sendable () -> Void = {
  for leaves in [125_000, 250_000, 500_000, 1_000_000] {
    let constraints = SliceConstraints(leaves: leaves, seed: 1)
    Benchmark(
      "reduce \(leaves / 1000)k leaves, \(constraints.elements.count / 1000)k elements",
      configuration: .init(
        metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident],
        maxDuration: .seconds(20), maxIterations: 5)
    ) { benchmark in
      for _ in benchmark.scaledIterations {
        var tree = PQTree(leafCount: leaves)
        for k in 0..<constraints.start.count - 1 {
          let ok = tree.reduce(
            constraints.elements[constraints.start[k]..<constraints.start[k + 1]])
          precondition(ok, "a slice of the hidden permutation must reduce")
        }
        blackHole(tree.frontier())
      }
    }
  }
}
