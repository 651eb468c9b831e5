/// Structural self-check used by the tests.
extension PQTree {
  /// Returns nil if all invariants hold, else a description of the first
  /// violation: chains are symmetric and end where `end0`/`end1` say,
  /// child counts match, every child's parent (P link or union-find) is the
  /// node holding it, P-nodes have >= 2 and Q-nodes >= 3 children, every
  /// leaf is reachable exactly once, no live node is unreachable, and no
  /// reduction scratch state is left behind.
  func checkInvariants() -> String? {
    if leafCount == 0 { return rootNode == Self.none ? nil : "empty tree has a root" }
    guard rootNode >= 0 && Int(rootNode) < nodes.count else { return "bad root" }
    if nodes[Int(rootNode)].parentLink != Self.none { return "root has a parent link" }
    for i in 0..<leafCount where nodes[i].kind != Self.kindLeaf { return "node \(i) is not a leaf" }
    var seen = [Bool](repeating: false, count: nodes.count)
    var stack: [Int32] = [rootNode]
    seen[Int(rootNode)] = true
    while let x32 = stack.popLast() {
      let x = Int(x32)
      let kind = nodes[x].kind
      if kind == Self.kindFree { return "free node \(x) reachable" }
      if kind == Self.kindLeaf { continue }
      if kind == Self.kindP && nodes[x].childCount < 2 {
        return "P-node \(x) has \(nodes[x].childCount) children"
      }
      if kind == Self.kindQ && nodes[x].childCount < 3 {
        return "Q-node \(x) has \(nodes[x].childCount) children"
      }
      var prev = Self.none
      var c = nodes[x].end0
      var steps: Int32 = 0
      var last = Self.none
      while c != Self.none {
        let ci = Int(c)
        guard ci < nodes.count else { return "child id out of range under \(x)" }
        if seen[ci] { return "node \(ci) reached twice" }
        seen[ci] = true
        if nodes[ci].sib0 != prev && nodes[ci].sib1 != prev {
          return "asymmetric sibling link at \(ci)"
        }
        if parentReadOnly(c) != x32 {
          return "child \(ci) has parent \(parentReadOnly(c)), expected \(x)"
        }
        if kind == Self.kindP && nodes[ci].parentLink != x32 {
          return "P child \(ci) lacks a direct parent link"
        }
        if kind == Self.kindQ && nodes[ci].parentLink > Self.none {
          return "Q child \(ci) has a direct link"
        }
        stack.append(c)
        steps += 1
        last = c
        let next = nextInChain(after: c, from: prev)
        prev = c
        c = next
      }
      if steps != nodes[x].childCount {
        return "node \(x): chain length \(steps) != childCount \(nodes[x].childCount)"
      }
      if last != nodes[x].end1 { return "node \(x): chain does not end at end1" }
      let first = nodes[x].end0
      if nodes[Int(first)].sib0 != Self.none && nodes[Int(first)].sib1 != Self.none {
        return "end0 of \(x) has two neighbours"
      }
    }
    for i in 0..<nodes.count where nodes[i].kind != Self.kindFree && !seen[i] {
      return "live node \(i) unreachable"
    }
    if !scratch.isClean() { return "reduction scratch not reset" }
    return nil
  }

  /// A structural fingerprint (node ids, kinds and child orders) used by
  /// tests to verify that failed reductions change nothing.
  func structureSnapshot() -> [Int32] {
    var out: [Int32] = [rootNode]
    guard rootNode != Self.none else { return out }
    var stack: [Int32] = [rootNode]
    while let x = stack.popLast() {
      out.append(x)
      out.append(Int32(nodes[Int(x)].kind))
      out.append(nodes[Int(x)].childCount)
      forEachChild(of: x) {
        out.append($0); stack.append($0)
      }
    }
    return out
  }
}
