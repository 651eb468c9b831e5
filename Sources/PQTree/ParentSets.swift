/// Union-find over "which Q-node is my parent" handles.
///
/// Each Q-node owns one set; its children link to an element of that set.
/// Splicing the children of Q-node `b` into Q-node `a` is a single `union`.
struct ParentSets: Sendable {
  private(set) var up: [Int32] = []
  private var rank: [UInt8] = []
  /// The Q-node owning a set; meaningful on set roots only.
  private(set) var owner: [Int32] = []

  var count: Int { up.count }

  /// A new singleton set owned by `node`; returns its element.
  mutating func make(owner node: Int32) -> Int32 {
    let e = Int32(up.count)
    up.append(e)
    rank.append(0)
    owner.append(node)
    return e
  }

  /// The root element of `e`'s set (with path halving).
  mutating func find(_ e: Int32) -> Int32 {
    var x = e
    while up[Int(x)] != x {
      let grand = up[Int(up[Int(x)])]
      up[Int(x)] = grand
      x = grand
    }
    return x
  }

  func findReadOnly(_ e: Int32) -> Int32 {
    var x = e
    while up[Int(x)] != x { x = up[Int(x)] }
    return x
  }

  /// Merges the sets of `a` and `b`; the merged set is owned by `node`.
  mutating func union(_ a: Int32, _ b: Int32, owner node: Int32) {
    var ra = find(a)
    var rb = find(b)
    if ra != rb {
      if rank[Int(ra)] < rank[Int(rb)] { swap(&ra, &rb) }
      up[Int(rb)] = ra
      if rank[Int(ra)] == rank[Int(rb)] { rank[Int(ra)] += 1 }
    }
    owner[Int(ra)] = node
  }

  mutating func removeAll() {
    up.removeAll(keepingCapacity: true)
    rank.removeAll(keepingCapacity: true)
    owner.removeAll(keepingCapacity: true)
  }
}
