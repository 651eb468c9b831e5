/// A PQ-tree's shape copied into flat arrays for fast walks, once no more reductions will come.
///
/// Nodes are renumbered in preorder, so every subtree is one contiguous range of node ids and a
/// walk reads memory in order; children of a node sit side by side in one array. The shape is
/// fixed, but the tree's free choices can still be made: the order of a P-node's children and
/// the direction of a Q-node. Ids here are not `PQTree`'s; `node(forLeaf:)` maps leaves.
public struct FlatPQTree: Sendable {
  /// Number of leaves; leaves are the elements `0..<leafCount`.
  public let leafCount: Int
  /// Per node: its leaf element, or `pNode` / `qNode`.
  let element: [Int32]
  /// Per node: its parent, -1 for the root.
  let parents: [Int32]
  /// Children of node x: `childList[childStart[x]..<childStart[x + 1]]`, left to right.
  let childStart: [Int32]
  var childList: [Int32]
  /// Per node: one past the last node id of its subtree (the subtree of x is `x..<end[x]`).
  let subtreeEnd: [Int32]
  /// Per node: leaves in its subtree.
  let leavesBelow: [Int32]
  /// Per leaf element: its node id.
  let leafNode: [Int32]

  static let pNode: Int32 = -1
  static let qNode: Int32 = -2

  /// Copies the current shape and choices of `tree`.
  public init(_ tree: PQTree) { self.init(tree, labels: nil) }

  /// Copies the current shape and choices of `tree`, calling its leaf i `labels[i]` (a
  /// permutation of `0..<leafCount`): a caller can build the tree over its own dense order,
  /// whose sets are runs of neighbouring leaves (cheaper to reduce), and read it in its ids.
  public init(_ tree: PQTree, labels: [Int]?) {
    precondition(labels.map { $0.count == tree.leafCount } ?? true, "one label per leaf")
    leafCount = tree.leafCount
    let capacity = tree.leafCount >= 2 ? tree.leafCount * 2 : tree.leafCount
    var element: [Int32] = []
    var parents: [Int32] = []
    var childStart: [Int32] = []
    var childList: [Int32] = []
    element.reserveCapacity(capacity)
    parents.reserveCapacity(capacity)
    childStart.reserveCapacity(capacity + 1)
    childList.reserveCapacity(capacity)
    var leafNode = [Int32](repeating: -1, count: tree.leafCount)
    // Preorder: a popped node takes the next id and reserves its children's slots; each child
    // fills its slot when it is popped (pushed right to left, so the leftmost comes first).
    var stack: [(node: Int32, parent: Int32, slot: Int32)] = []
    if tree.rootNode != PQTree.none { stack.append((tree.rootNode, -1, -1)) }
    while let (x, parent, slot) = stack.popLast() {
      let id = Int32(element.count)
      if slot >= 0 { childList[Int(slot)] = id }
      parents.append(parent)
      childStart.append(Int32(childList.count))
      let n = tree.nodes[Int(x)]
      switch n.kind {
      case PQTree.kindLeaf:
        let leaf = labels.map { $0[Int(x)] } ?? Int(x)
        element.append(Int32(leaf))
        leafNode[leaf] = id
      default:
        element.append(n.kind == PQTree.kindQ ? Self.qNode : Self.pNode)
        let first = Int32(childList.count)
        childList.append(contentsOf: repeatElement(-1, count: Int(n.childCount)))
        var k = first + n.childCount - 1
        var prev = PQTree.none
        var c = n.end1
        while c != PQTree.none {
          stack.append((c, id, k))
          k -= 1
          let next = tree.nextInChain(after: c, from: prev)
          prev = c
          c = next
        }
      }
    }
    childStart.append(Int32(childList.count))
    // Subtree ends and leaf counts, children before parents (higher ids first).
    let count = element.count
    var subtreeEnd = [Int32](repeating: 0, count: count)
    var leavesBelow = [Int32](repeating: 0, count: count)
    for x in stride(from: count - 1, through: 0, by: -1) {
      let range = Int(childStart[x])..<Int(childStart[x + 1])
      if range.isEmpty {
        subtreeEnd[x] = Int32(x + 1)
        leavesBelow[x] = 1
      } else {
        subtreeEnd[x] = subtreeEnd[Int(childList[range.upperBound - 1])]
        var leaves: Int32 = 0
        for k in range { leaves += leavesBelow[Int(childList[k])] }
        leavesBelow[x] = leaves
      }
    }
    self.element = element
    self.parents = parents
    self.childStart = childStart
    self.childList = childList
    self.subtreeEnd = subtreeEnd
    self.leavesBelow = leavesBelow
    self.leafNode = leafNode
  }

  /// Number of nodes; node ids are `0..<nodeCount`.
  public var nodeCount: Int { element.count }

  /// The root node (id 0), or nil for a tree without leaves.
  public var root: Int? { element.isEmpty ? nil : 0 }

  /// The node id of a leaf.
  public func node(forLeaf leaf: Int) -> Int {
    precondition(leaf >= 0 && leaf < leafCount, "leaf out of range")
    return Int(leafNode[leaf])
  }

  /// The kind of a node.
  public func kind(of node: Int) -> PQNodeKind {
    switch element[node] {
    case Self.pNode: return .pNode
    case Self.qNode: return .qNode
    case let leaf: return .leaf(Int(leaf))
    }
  }

  /// The parent of a node, nil for the root.
  public func parent(of node: Int) -> Int? {
    let p = parents[node]
    return p < 0 ? nil : Int(p)
  }

  /// The children of a node, left to right (empty for leaves).
  public func children(of node: Int) -> ArraySlice<Int32> {
    childList[Int(childStart[node])..<Int(childStart[node + 1])]
  }

  /// The ids of a node's subtree, itself first: every descendant has a higher id than its
  /// ancestors, so walking the range backwards visits children before parents.
  public func subtree(of node: Int) -> Range<Int> { node..<Int(subtreeEnd[node]) }

  /// Number of leaves under a node.
  public func leafCount(of node: Int) -> Int { Int(leavesBelow[node]) }

  /// Reverses the child order of a Q-node.
  public mutating func reverseQNode(_ node: Int) {
    precondition(element[node] == Self.qNode, "reverseQNode needs a Q-node")
    childList[Int(childStart[node])..<Int(childStart[node + 1])].reverse()
  }

  /// Sorts the children of a P-node (stable: equal children keep their order).
  public mutating func sortChildren(
    ofP node: Int, by areInIncreasingOrder: (Int32, Int32) -> Bool
  ) {
    precondition(element[node] == Self.pNode, "sortChildren needs a P-node")
    childList[Int(childStart[node])..<Int(childStart[node + 1])].sort(by: areInIncreasingOrder)
  }

  /// Reusable buffers of the walks below, so that orienting and reading many small subtrees
  /// allocates nothing.
  public struct WalkScratch: Sendable {
    var pairs: [(key: Int, child: Int32)] = []
    var packed: [UInt64] = []
    var sortBuffer: [UInt64] = []
    /// The most entries `sortPacked` sorts by insertion.
    static let insertionSortLimit = 64
    /// Per key byte (4 × 256): how many entries have each digit, then where the next goes.
    var digitCounts: [Int] = []
    var children: [Int32] = []
    var stack: [Int32] = []
    public init() {}

    /// Sorts `children` (stable) by the least key below each; a least key of `Int.max` stands for
    /// none. When every key fits in 32 bits, each child becomes one integer, key above its place,
    /// sorted by `sortPacked` (several times cheaper than sorting pairs with a comparison
    /// closure); the place keeps equal keys in order.
    mutating func sort(
      _ children: inout Slice<UnsafeMutableBufferPointer<Int32>>,
      least: UnsafeMutableBufferPointer<Int>
    ) {
      let none: UInt64 = 0xFFFF_FFFF
      packed.removeAll(keepingCapacity: true)
      for (place, child) in children.enumerated() {
        let key = least[Int(child)]
        if key == Int.max {
          packed.append(none << 32 | UInt64(place))
        } else if key >= 0 && key < Int(none) {
          packed.append(UInt64(key) << 32 | UInt64(place))
        } else {
          break
        }
      }
      if packed.count == children.count {
        // Keys that strictly decrease (children laid out backwards, common after reductions):
        // reversed, the worst case of the insertion sort is one pass.
        if zip(packed.indices.dropFirst(), packed.indices).allSatisfy({
          packed[$0] >> 32 < packed[$1] >> 32
        }) {
          children.reverse()
          return
        }
        sortPacked()
        self.children.removeAll(keepingCapacity: true)
        self.children.append(contentsOf: children)
        // Indices counted by hand: `indices` of a slice of a buffer pointer is not specialized
        // here and cost more than the sort.
        var i = children.startIndex
        for entry in packed {
          children[i] = self.children[Int(entry & none)]
          i += 1
        }
        return
      }
      pairs.removeAll(keepingCapacity: true)
      for child in children { pairs.append((least[Int(child)], child)) }
      pairs.sort { $0.key < $1.key }
      var i = children.startIndex
      for pair in pairs {
        children[i] = pair.child
        i += 1
      }
    }

    /// Sorts `packed` (distinct values: each holds its place). Up to `insertionSortLimit`
    /// entries: insertion sort (keys nearly in order, a batch's operand positions, make it
    /// cheaper than the radix passes' bucket work).
    /// Otherwise a least-significant-digit radix sort on the bytes of each key less the least
    /// key (the high 32 bits), skipping bytes that are the same in every entry: a pass per byte
    /// that differs, each linear, where a comparison sort needs log2(count) passes. Keys close
    /// together (a batch's operand positions) so take one or two passes wherever they lie. One
    /// read counts every byte's digits; each pass scatters into the other buffer, then the two
    /// trade places. A radix pass is stable, so entries with equal keys keep their order by place.
    mutating func sortPacked() {
      let count = packed.count
      if count <= Self.insertionSortLimit {
        packed.withUnsafeMutableBufferPointer { values in
          for i in 1..<max(count, 1) {
            let value = values[i]
            var j = i
            while j > 0 && values[j - 1] > value {
              values[j] = values[j - 1]
              j -= 1
            }
            values[j] = value
          }
        }
        return
      }
      // The least value's key, in place: subtracting it keeps the order (no borrow from the
      // places below) and clears the high bytes of keys that lie close together.
      var least = UInt64.max
      for value in packed { least = min(least, value) }
      let base = (least >> 32) << 32
      var all: UInt64 = 0
      var common: UInt64 = ~0
      for value in packed {
        let relative = value &- base
        all |= relative
        common &= relative
      }
      let differing = (all ^ common) >> 32
      if sortBuffer.count < count { sortBuffer = [UInt64](repeating: 0, count: count) }
      if digitCounts.count < 4 * 256 { digitCounts = [Int](repeating: 0, count: 4 * 256) }
      // The bytes up to the highest that differs: every one's digit counts, from one read.
      let byteCount = (64 - differing.leadingZeroBitCount + 7) / 8
      digitCounts.withUnsafeMutableBufferPointer { counts in
        for i in 0..<(byteCount * 256) { counts[i] = 0 }
        packed.withUnsafeBufferPointer { source in
          for i in 0..<count {
            let relative = (source[i] &- base) >> 32
            for byte in 0..<byteCount {
              counts[byte * 256 + Int((relative >> UInt64(8 * byte)) & 0xFF)] += 1
            }
          }
        }
      }
      for byte in 0..<byteCount where (differing >> UInt64(8 * byte)) & 0xFF != 0 {
        let shift = UInt64(32 + 8 * byte)
        packed.withUnsafeBufferPointer { source in
          sortBuffer.withUnsafeMutableBufferPointer { target in
            digitCounts.withUnsafeMutableBufferPointer { counts in
              // Each digit's first slot, in place of its count.
              var next = 0
              for digit in (byte * 256)..<(byte * 256 + 256) {
                let digitCount = counts[digit]
                counts[digit] = next
                next += digitCount
              }
              for i in 0..<count {
                let value = source[i]
                let digit = byte * 256 + Int(((value &- base) >> shift) & 0xFF)
                target[counts[digit]] = value
                counts[digit] += 1
              }
            }
          }
        }
        // The sorted pass becomes the source of the next.
        swap(&packed, &sortBuffer)
      }
      // The buffer that came back may be longer than the entries.
      if packed.count > count { packed.removeLast(packed.count - count) }
    }
  }

  /// Makes the free choices under `top` follow `key` (a number per leaf): each P-node's children
  /// in the order of the least key below them (stable: equal children keep their order), each
  /// Q-node turned so that its first child's least key is not above its last child's. `least` is
  /// scratch indexed by node id; on return it holds the least key below every node of the subtree.
  /// Each choice depends only on the leaves below, so one backward sweep of the subtree's ids
  /// visits children before parents.
  public mutating func orient(subtree top: Int, least: inout [Int], key: (Int) -> Int) {
    var scratch = WalkScratch()
    _ = orientSubtree(top, least: &least, scratch: &scratch, key: key)
  }

  /// `orient(subtree:least:key:)` with the key of leaf i at `keys[i]`, using `scratch`'s buffers.
  /// Returns whether any child moved (if not, the subtree's frontier is as it was).
  @discardableResult
  public mutating func orient(
    subtree top: Int, least: inout [Int], keys: [Int], scratch: inout WalkScratch
  ) -> Bool {
    keys.withUnsafeBufferPointer { keys in
      orientSubtree(top, least: &least, scratch: &scratch) { keys[$0] }
    }
  }

  /// `orient(subtree:least:key:)` with each leaf's own number as its key: the free choices
  /// follow the order of the leaves.
  public mutating func orientByLeaf(
    subtree top: Int, least: inout [Int], scratch: inout WalkScratch
  ) {
    _ = orientSubtree(top, least: &least, scratch: &scratch) { $0 }
  }

  @inline(__always)
  private mutating func orientSubtree(
    _ top: Int, least: inout [Int], scratch: inout WalkScratch, key: (Int) -> Int
  ) -> Bool {
    let end = Int(subtreeEnd[top])
    var moved = false
    element.withUnsafeBufferPointer { element in
      childStart.withUnsafeBufferPointer { childStart in
        childList.withUnsafeMutableBufferPointer { childList in
          least.withUnsafeMutableBufferPointer { least in
            var x = end - 1
            while x >= top {
              defer { x -= 1 }
              let first = Int(childStart[x])
              let end = Int(childStart[x + 1])
              if first == end {
                least[x] = key(Int(element[x]))
                continue
              }
              var lowest = Int.max
              var sorted = true
              var previous = Int.min
              for k in first..<end {
                let value = least[Int(childList[k])]
                lowest = min(lowest, value)
                if value < previous { sorted = false }
                previous = value
              }
              least[x] = lowest
              if element[x] == Self.pNode {
                guard !sorted else { continue }
                scratch.sort(&childList[first..<end], least: least)
                moved = true
              } else if least[Int(childList[first])] > least[Int(childList[end - 1])] {
                childList[first..<end].reverse()
                moved = true
              }
            }
          }
        }
      }
    }
    return moved
  }

  /// Writes the leaves under `node`, left to right, into `order` from index `start` on (the
  /// entries must exist); returns how many were written.
  public func writeLeaves(
    under node: Int, into order: inout [Int], from start: Int, scratch: inout WalkScratch
  ) -> Int {
    var next = start
    scratch.stack.removeAll(keepingCapacity: true)
    scratch.stack.append(Int32(node))
    element.withUnsafeBufferPointer { element in
      childStart.withUnsafeBufferPointer { childStart in
        childList.withUnsafeBufferPointer { childList in
          order.withUnsafeMutableBufferPointer { order in
            while let x = scratch.stack.popLast() {
              let first = Int(childStart[Int(x)])
              let end = Int(childStart[Int(x) + 1])
              if first == end {
                order[next] = Int(element[Int(x)])
                next += 1
                continue
              }
              // Pushed right to left, so the leftmost child is popped first.
              var k = end - 1
              while k >= first {
                scratch.stack.append(childList[k])
                k -= 1
              }
            }
          }
        }
      }
    }
    return next - start
  }

  /// One represented order: all leaves, left to right.
  public func frontier() -> [Int] {
    var out = [Int](repeating: 0, count: root == nil ? 0 : leafCount)
    var scratch = WalkScratch()
    if root != nil { _ = writeLeaves(under: 0, into: &out, from: 0, scratch: &scratch) }
    return out
  }
}
