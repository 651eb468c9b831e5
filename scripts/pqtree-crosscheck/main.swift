// Reads PQ-tree cases from standard input, one a line: `N|1 2|0 3 4|…` (N leaves, then the
// constraint sets), reduces a fresh tree by every set in order, and prints one line a case:
// `feasible F0 F1 …` with the frontier, or `infeasible`. Built and driven by crosscheck.py; it is
// compiled together with Sources/PQTree, so it uses the same code the pass does.
while let line = readLine() {
  let fields = line.split(separator: "|", omittingEmptySubsequences: false)
  guard let n = Int(fields[0]) else { continue }
  var tree = PQTree(leafCount: n)
  var feasible = true
  for field in fields.dropFirst() {
    let set = field.split(separator: " ").compactMap { Int($0) }
    if !tree.reduce(set) { feasible = false }
  }
  print(feasible ? "feasible " + tree.frontier().map(String.init).joined(separator: " ") : "infeasible")
}
