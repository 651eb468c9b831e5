import BatchIR

/// The facts about a module's graph that every batching policy reads, computed once:
/// users, a topological order, depths, the lower bound, and the same-type ancestry that
/// defines each type's frontier.
public struct BatchingGraph: Sendable {
  public let nodeCount: Int
  public let typeCount: Int
  public let nodeType: [Int32]
  /// Per op type: nodes of this type never share a batch.
  public let unbatched: [Bool]
  /// Users of node n: `users[userStart[n] ..< userStart[n+1]]`.
  let userStart: [Int32]
  let users: [Int32]
  /// Number of node operands (not external) of each node.
  let operandCount: [Int32]
  /// Longest path (in edges) from a node without node operands, as DyNet computes it.
  public let depth: [Int32]
  /// For a node n of type t: how many of its nearest t-ancestors exist (its "blockers").
  let sameTypeBlockers: [Int32]
  /// For a node a of type t: the t-nodes that have a among their nearest t-ancestors.
  let sameTypeDependentStart: [Int32]
  let sameTypeDependents: [Int32]
  /// Average depth of each type's nodes (DyNet computes it in single precision).
  public let averageDepth: [Float]
  /// Op type names, for policies that key on names (the FSM table).
  public let typeNames: [String]
  /// Dense index ("slot") of each batchable type present in the graph, -1 for the others.
  public let slotOfType: [Int32]
  public let slotCount: Int
  /// `pathCount[n * slotCount + s]`: the most slot-s nodes on one path starting at node n.
  public let pathCount: [Int32]

  public init(_ module: Module) {
    nodeCount = module.nodeCount
    typeCount = module.opTypes.count
    nodeType = module.nodeType
    unbatched = module.opTypes.map(\.unbatched)
    typeNames = module.opTypes.map(\.name)
    (userStart, users) = module.users()
    let operandCount = BatchingGraph.nodeOperandCounts(module)
    self.operandCount = operandCount
    // Parsers and generators define operands before their users: then the ids themselves are a
    // topological order, and every analysis here (maxima or unions over operands or users) gives
    // the same results with any topological order.
    let order =
      module.operandsPrecedeUsers()
      ? Array(0..<Int32(nodeCount))
      : BatchingGraph.topologicalOrder(
        operandCount: operandCount, userStart: userStart, users: users)

    var depth = [Int32](repeating: 0, count: nodeCount)
    BatchingGraph.withOperands(of: module) { operandStart, operands in
      depth.withUnsafeMutableBufferPointer { depth in
        for n in order {
          var d: Int32 = 0
          for i in Int(operandStart[Int(n)])..<Int(operandStart[Int(n) + 1]) {
            let o = operands[i]
            if o != Module.external { d = max(d, depth[Int(o)] + 1) }
          }
          depth[Int(n)] = d
        }
      }
    }
    self.depth = depth
    var depthSum = [Float](repeating: 0, count: typeCount)
    var typeSize = [Float](repeating: 0, count: typeCount)
    for n in 0..<nodeCount {
      depthSum[Int(nodeType[n])] += Float(depth[n])
      typeSize[Int(nodeType[n])] += 1
    }
    averageDepth = (0..<typeCount).map { typeSize[$0] > 0 ? depthSum[$0] / typeSize[$0] : 0 }
    var slotOfType = [Int32](repeating: -1, count: typeCount)
    var slotCount = 0
    for t in 0..<typeCount where typeSize[t] > 0 && !unbatched[t] {
      slotOfType[t] = Int32(slotCount)
      slotCount += 1
    }
    self.slotOfType = slotOfType
    self.slotCount = slotCount
    self.pathCount = BatchingGraph.pathCounts(
      order: order, nodeType: nodeType, slotOfType: slotOfType, slotCount: slotCount,
      userStart: userStart, users: users)

    (sameTypeBlockers, sameTypeDependentStart, sameTypeDependents) = BatchingGraph.sameTypeAncestry(
      module, order: order, unbatched: unbatched)
  }

  /// Calls `body` with the module's operand arrays (`Module.operandStart`, `Module.operands`) as
  /// buffers: the analyses below read every operand list, and a slice per node costs a retain and
  /// a release.
  static func withOperands<R>(
    of module: Module,
    _ body: (_ operandStart: UnsafeBufferPointer<Int32>, _ operands: UnsafeBufferPointer<Int32>) ->
      R
  ) -> R {
    module.operandStart.withUnsafeBufferPointer { operandStart in
      module.operands.withUnsafeBufferPointer { operands in body(operandStart, operands) }
    }
  }

  /// Number of node operands (not external) of each node.
  static func nodeOperandCounts(_ module: Module) -> [Int32] {
    var counts = [Int32](repeating: 0, count: module.nodeCount)
    withOperands(of: module) { operandStart, operands in
      counts.withUnsafeMutableBufferPointer { counts in
        for n in 0..<counts.count {
          var count: Int32 = 0
          for i in Int(operandStart[n])..<Int(operandStart[n + 1])
          where operands[i] != Module.external {
            count += 1
          }
          counts[n] = count
        }
      }
    }
    return counts
  }

  /// The most nodes of each slot on one path starting at each node, by a reverse topological sweep.
  static func pathCounts(
    order: [Int32], nodeType: [Int32], slotOfType: [Int32], slotCount: Int, userStart: [Int32],
    users: [Int32]
  ) -> [Int32] {
    var pathCount = [Int32](repeating: 0, count: nodeType.count * slotCount)
    pathCount.withUnsafeMutableBufferPointer { count in
      for n in order.reversed() {
        let row = Int(n) * slotCount
        for i in Int(userStart[Int(n)])..<Int(userStart[Int(n) + 1]) {
          let other = Int(users[i]) * slotCount
          // Branch-free, so the compiler vectorizes it.
          for s in 0..<slotCount { count[row + s] = max(count[row + s], count[other + s]) }
        }
        let slot = slotOfType[Int(nodeType[Int(n)])]
        if slot >= 0 { count[row + Int(slot)] += 1 }
      }
    }
    return pathCount
  }

  /// Kahn's algorithm; the module is verified, so every node is reached.
  static func topologicalOrder(operandCount: [Int32], userStart: [Int32], users: [Int32]) -> [Int32]
  {
    var pending = operandCount
    var order: [Int32] = []
    order.reserveCapacity(pending.count)
    for n in 0..<pending.count where pending[n] == 0 { order.append(Int32(n)) }
    var head = 0
    while head < order.count {
      let n = Int(order[head])
      head += 1
      for u in users[Int(userStart[n])..<Int(userStart[n + 1])] {
        pending[Int(u)] -= 1
        if pending[Int(u)] == 0 { order.append(u) }
      }
    }
    return order
  }

  /// For every batchable node n of type t, finds its nearest t-ancestors: walk up from n through
  /// nodes of other types and stop at t-nodes. A bitmask of the types above each node prunes
  /// the walk wherever no t-node lies above.
  static func sameTypeAncestry(_ module: Module, order: [Int32], unbatched: [Bool])
    -> (blockers: [Int32], start: [Int32], dependents: [Int32])
  {
    let nodeCount = module.nodeCount
    var blockers = [Int32](repeating: 0, count: nodeCount)
    var pairs: [(ancestor: Int32, node: Int32)] = []
    withOperands(of: module) { operandStart, operands in
      module.nodeType.withUnsafeBufferPointer { nodeType in
        // Bit t (t < 64) set when a t-node lies strictly above; bit 63 also stands for every
        // type ≥ 63.
        var above = [UInt64](repeating: 0, count: nodeCount)
        func bit(_ type: Int32) -> UInt64 { 1 << UInt64(min(Int(type), 63)) }
        above.withUnsafeMutableBufferPointer { above in
          for n in order {
            var mask: UInt64 = 0
            for i in Int(operandStart[Int(n)])..<Int(operandStart[Int(n) + 1]) {
              let o = operands[i]
              if o != Module.external { mask |= above[Int(o)] | bit(nodeType[Int(o)]) }
            }
            above[Int(n)] = mask
          }
        }
        // Every node is pushed at most once per operand occurrence of the nodes walked.
        let stack = UnsafeMutablePointer<Int32>.allocate(capacity: max(operands.count, 1))
        defer { stack.deallocate() }
        var stamp = [Int32](repeating: -1, count: nodeCount)
        above.withUnsafeBufferPointer { above in
          stamp.withUnsafeMutableBufferPointer { stamp in
            blockers.withUnsafeMutableBufferPointer { blockers in
              for n in 0..<nodeCount {
                let t = nodeType[n]
                if unbatched[Int(t)] || above[n] & bit(t) == 0 { continue }
                var depth = 0
                func pushOperands(of node: Int) {
                  for i in Int(operandStart[node])..<Int(operandStart[node + 1]) {
                    let o = operands[i]
                    if o != Module.external {
                      stack[depth] = o
                      depth += 1
                    }
                  }
                }
                pushOperands(of: n)
                while depth > 0 {
                  depth -= 1
                  let oi = Int(stack[depth])
                  if stamp[oi] == Int32(n) { continue }
                  stamp[oi] = Int32(n)
                  if nodeType[oi] == t {
                    blockers[n] += 1
                    pairs.append((Int32(oi), Int32(n)))
                  } else if above[oi] & bit(t) != 0 {
                    pushOperands(of: oi)
                  }
                }
              }
            }
          }
        }
      }
    }
    var start = [Int32](repeating: 0, count: nodeCount + 1)
    for pair in pairs { start[Int(pair.ancestor) + 1] += 1 }
    for i in 0..<nodeCount { start[i + 1] += start[i] }
    var fill = start
    var dependents = [Int32](repeating: 0, count: pairs.count)
    for pair in pairs {
      dependents[Int(fill[Int(pair.ancestor)])] = pair.node
      fill[Int(pair.ancestor)] += 1
    }
    return (blockers, start, dependents)
  }

  /// The lower bound on the number of batches: every unbatched node runs alone, and a batch
  /// holds at most one node of any path, so each type needs at least as many batches as the
  /// most nodes of that type on one path.
  public func lowerBound() -> Int {
    typeBounds().reduce(unbatchedNodeCount, +)
  }

  /// The number of unbatched nodes (each runs alone).
  public var unbatchedNodeCount: Int { nodeType.lazy.filter { self.unbatched[Int($0)] }.count }

  /// Per slot: the most nodes of that slot on one path. A node's counts are at least its users'
  /// (`pathCounts`), so the maxima are reached at nodes without node operands: only those are read.
  public func typeBounds() -> [Int] {
    var bound = [Int32](repeating: 0, count: slotCount)
    pathCount.withUnsafeBufferPointer { count in
      for n in 0..<nodeCount where operandCount[n] == 0 {
        for s in 0..<slotCount where bound[s] < count[n * slotCount + s] {
          bound[s] = count[n * slotCount + s]
        }
      }
    }
    return bound.map(Int.init)
  }
}
