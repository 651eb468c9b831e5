/// Counting and enumerating the represented orders (mainly for tests).
extension PQTree {
  /// Number of leaf orders represented: the product of k! over P-nodes with
  /// k children and 2 over Q-nodes. Exact while below 2^53; may be +infinity.
  public func countOrders() -> Double {
    var total = 1.0
    forEachInternalNode { x in
      if nodes[Int(x)].kind == Self.kindQ {
        total *= 2
      } else {
        var k = Int(nodes[Int(x)].childCount)
        while k > 1 { total *= Double(k); k -= 1 }
      }
    }
    return total
  }

  /// All represented orders (each a full list of leaves, left to right).
  /// Intended for small trees; traps if there would be more than `limit`.
  public func enumerateOrders(limit: Int = 1_000_000) -> [[Int]] {
    guard rootNode != Self.none else { return [[]] }
    precondition(countOrders() <= Double(limit), "too many orders to enumerate")
    return orders(of: rootNode)
  }

  private func orders(of x: Int32) -> [[Int]] {
    if nodes[Int(x)].kind == Self.kindLeaf { return [[Int(x)]] }
    var kids: [Int32] = []
    forEachChild(of: x) { kids.append($0) }
    let childOrders = kids.map { orders(of: $0) }
    var result: [[Int]] = []
    if nodes[Int(x)].kind == Self.kindQ {
      let idx = Array(0..<kids.count)
      result += concatenations(childOrders, sequence: idx)
      result += concatenations(childOrders, sequence: idx.reversed())
    } else {
      forEachPermutation(of: Array(0..<kids.count)) { perm in
        result += concatenations(childOrders, sequence: perm)
      }
    }
    return result
  }

  /// Every way to concatenate one order per child, children in `sequence`.
  private func concatenations(_ childOrders: [[[Int]]], sequence: [Int]) -> [[Int]] {
    var acc: [[Int]] = [[]]
    for c in sequence {
      var next: [[Int]] = []
      next.reserveCapacity(acc.count * childOrders[c].count)
      for prefix in acc {
        for part in childOrders[c] { next.append(prefix + part) }
      }
      acc = next
    }
    return acc
  }

  private func forEachPermutation(of items: [Int], _ body: ([Int]) -> Void) {
    var a = items
    func permute(_ k: Int) {
      if k == a.count { body(a); return }
      for i in k..<a.count {
        a.swapAt(k, i)
        permute(k + 1)
        a.swapAt(k, i)
      }
    }
    permute(0)
  }

  /// Visits every internal node reachable from the root.
  func forEachInternalNode(_ body: (Int32) -> Void) {
    guard rootNode != Self.none else { return }
    var stack: [Int32] = [rootNode]
    while let x = stack.popLast() {
      if nodes[Int(x)].kind == Self.kindLeaf { continue }
      body(x)
      forEachChild(of: x) { stack.append($0) }
    }
  }
}
