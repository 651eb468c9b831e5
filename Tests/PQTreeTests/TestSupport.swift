@testable import PQTree

/// Tiny seeded generator so every random test is reproducible.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// True if the elements of `set` occupy consecutive positions of `order`.
func isConsecutive(_ set: [Int], in order: [Int]) -> Bool {
  let distinct = Set(set)
  if distinct.count <= 1 { return true }
  var lo = Int.max, hi = Int.min, seen = 0
  for (i, v) in order.enumerated() where distinct.contains(v) {
    lo = min(lo, i); hi = max(hi, i); seen += 1
  }
  return seen == distinct.count && hi - lo + 1 == distinct.count
}

/// Same check against a position table (fast path for large n).
func isConsecutive(_ set: [Int], positions: [Int]) -> Bool {
  if set.count <= 1 { return true }
  var lo = Int.max, hi = Int.min
  for v in set { lo = min(lo, positions[v]); hi = max(hi, positions[v]) }
  return hi - lo + 1 == Set(set).count
}

func positions(of order: [Int]) -> [Int] {
  var pos = [Int](repeating: -1, count: order.count)
  for (i, v) in order.enumerated() { pos[v] = i }
  return pos
}

/// Packs a permutation of at most 16 elements into one integer (4 bits each).
func encode(_ perm: [Int]) -> UInt64 {
  var code: UInt64 = 0
  for v in perm { code = code << 4 | UInt64(v) }
  return code
}

func allPermutations(_ n: Int) -> [[Int]] {
  var result: [[Int]] = []
  var a = Array(0..<n)
  func permute(_ k: Int) {
    if k >= n { result.append(a); return }
    for i in k..<n {
      a.swapAt(k, i)
      permute(k + 1)
      a.swapAt(k, i)
    }
  }
  permute(0)
  return result
}

/// A random contiguous slice of `hidden` (length 2...maxLength).
func randomSlice(of hidden: [Int], maxLength: Int, using rng: inout SplitMix64) -> [Int] {
  let n = hidden.count
  let len = Int.random(in: 2...max(2, min(maxLength, n)), using: &rng)
  let start = Int.random(in: 0...(n - len), using: &rng)
  return Array(hidden[start..<(start + len)])
}

/// A tree after `reductions` random slices (at most `maxLength` leaves) of a hidden order of
/// `n` leaves, drawn from `rng`.
func treeOfHiddenSlices(
  n: Int, reductions: Int, maxLength: Int, using rng: inout SplitMix64
) -> PQTree {
  let hidden = Array(0..<n).shuffled(using: &rng)
  var tree = PQTree(leafCount: n)
  for _ in 0..<reductions {
    tree.reduce(randomSlice(of: hidden, maxLength: maxLength, using: &rng))
  }
  return tree
}

/// Random constraint for the brute-force tests: a mix of slices of a hidden
/// order, arbitrary subsets, sets with duplicates and trivial sets.
func randomConstraint(n: Int, hidden: [Int], using rng: inout SplitMix64) -> [Int] {
  let mode = Int.random(in: 0..<10, using: &rng)
  switch mode {
  case 0..<4 where n >= 2:
    return randomSlice(of: hidden, maxLength: n, using: &rng)
  case 4..<8:
    let size = Int.random(in: 0...n, using: &rng)
    return Array(Array(0..<n).shuffled(using: &rng).prefix(size))
  case 8:
    let size = Int.random(in: 1...n, using: &rng)
    let base = Array(Array(0..<n).shuffled(using: &rng).prefix(size))
    return (base + base.prefix(2)).shuffled(using: &rng)
  default:
    switch Int.random(in: 0..<3, using: &rng) {
    case 0: return []
    case 1: return [Int.random(in: 0..<n, using: &rng)]
    default: return Array(0..<n).shuffled(using: &rng)
    }
  }
}

extension PQTree {
  /// Orders as packed integers, for set comparisons with brute force.
  func encodedOrders() -> Set<UInt64> {
    Set(enumerateOrders().map(encode))
  }
}

/// Random disjoint runs covering `0..<n` in order, each of 1…`maxLength` leaves.
func randomRuns(_ n: Int, maxLength: Int, using rng: inout SplitMix64) -> [Range<Int>] {
  var runs: [Range<Int>] = []
  var start = 0
  while start < n {
    let end = min(n, start + Int.random(in: 1...maxLength, using: &rng))
    runs.append(start..<end)
    start = end
  }
  return runs
}
