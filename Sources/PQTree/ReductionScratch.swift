/// Working state of one node during one `reduce` call.
struct NodeScratch: Sendable {
  var queued = false
  var label: UInt8 = ReductionScratch.labelEmpty
  var template: ReductionScratch.Template = .unset
  var pertinentChildCount: Int32 = 0
  var pertinentLeafCount: Int32 = 0
  var bubbleParent: Int32 = -1
  var fullHead: Int32 = -1
  var nextFull: Int32 = -1
  var fullCount: Int32 = 0
  var partialCount: Int32 = 0
  var partial0: Int32 = -1
  var partial1: Int32 = -1
}

/// Per-node working state of one `reduce` call, kept in one array of small
/// structs so that visiting a node touches one cache line.
///
/// Every node whose state leaves the defaults is listed in `touched`, and
/// `reset()` restores the defaults, so the cost stays proportional to the
/// work done rather than to the tree size.
struct ReductionScratch: Sendable {
  static let labelEmpty: UInt8 = 0
  static let labelFull: UInt8 = 1
  static let labelPartial: UInt8 = 2

  /// Template chosen by the check phase, applied by the mutation phase.
  enum Template: UInt8, Sendable {
    case unset, full, p2, p3, p4, p5, p6, qPartial, qRoot
  }

  var nodes: [NodeScratch]
  var queue: [Int32] = []
  var order: [Int32] = []
  var touched: [Int32] = []

  init(nodeCount: Int, capacity: Int = 0) {
    nodes = []
    nodes.reserveCapacity(max(nodeCount, capacity))
    nodes.append(contentsOf: repeatElement(NodeScratch(), count: nodeCount))
  }

  /// Adds default state for one new node id.
  mutating func appendNode() {
    nodes.append(NodeScratch())
  }

  /// Restores the defaults of every touched node and empties the buffers.
  mutating func reset() {
    for x in touched { nodes[Int(x)] = NodeScratch() }
    touched.removeAll(keepingCapacity: true)
    queue.removeAll(keepingCapacity: true)
    order.removeAll(keepingCapacity: true)
  }

  /// True when no node carries leftover state (used by the invariant checker).
  func isClean() -> Bool {
    touched.isEmpty
      && nodes.allSatisfy { s in
        !s.queued && s.label == Self.labelEmpty && s.template == .unset
          && s.pertinentChildCount == 0 && s.pertinentLeafCount == 0 && s.fullHead == -1
          && s.fullCount == 0 && s.partialCount == 0 && s.partial0 == -1 && s.partial1 == -1
      }
  }
}
