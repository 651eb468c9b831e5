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
  /// For a node n of type t: how many t-ancestors it waits on (its "blockers"), a set of its
  /// nearest t-ancestors that every t-ancestor is an ancestor of, or one of (see
  /// `sameTypeAncestry`). Once they have run, all of n's t-ancestors have.
  let sameTypeBlockers: [Int32]
  /// For a node a of type t: the t-nodes that have a among their blockers.
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
  /// Where every run starts (`BatchingRun.init`), counted once per graph rather than per run:
  /// the nodes without node operands (ascending), and per type its nodes, the sum of their
  /// depths, and those without same-type ancestors (the first frontier).
  let sources: [Int32]
  let typeNodeCount: [Int32]
  let typeDepthSum: [Int64]
  let typeFrontier: [Int32]

  /// `useBothCores`: whether a large graph's analyses may run on both cores (false when the
  /// graph is built beside other work, such as training, that keeps the other core busy).
  public init(_ module: Module, useBothCores: Bool = true) {
    nodeCount = module.nodeCount
    typeCount = module.opTypes.count
    nodeType = module.nodeType
    unbatched = module.opTypes.map(\.unbatched)
    typeNames = module.opTypes.map(\.name)
    (userStart, users) = module.users()
    let (operandCount, operandsPrecedeUsers) = BatchingGraph.nodeOperandCounts(module)
    self.operandCount = operandCount
    // Parsers and generators define operands before their users: then the ids themselves are a
    // topological order, and every analysis here (maxima or unions over operands or users) gives
    // the same results with any topological order.
    let order =
      operandsPrecedeUsers
      ? Array(0..<Int32(nodeCount))
      : BatchingGraph.topologicalOrder(
        operandCount: operandCount, userStart: userStart, users: users)

    let (depth, walkNodes) = BatchingGraph.depthsAndWalkNodes(
      module, order: order, userStart: userStart)
    let walkUsers = WalkUsers(start: userStart, users: users)
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

    // The path counts and the same-type ancestry walks (the costliest analysis) are independent:
    // with both cores they run side by side, and on a graph large enough to pay for more threads
    // the walks are cut into node ranges. Each part returns its own results, merged in range
    // order, so the outcome is the sequential one.
    let walkParts = useBothCores && module.operands.count >= BatchingGraph.parallelOperands ? 3 : 1
    let (userStart, users, unbatched) = (userStart, users, unbatched)
    let (slots, slotIndex) = (slotCount, slotOfType)
    let analyze: @Sendable (Int) -> AnalysisPart = { part in
      if part == 0 {
        return .pathCounts(
          BatchingGraph.pathCounts(
            order: order, nodeType: module.nodeType, slotOfType: slotIndex, slotCount: slots,
            userStart: userStart, users: users))
      }
      let range = BatchingGraph.part(part - 1, of: walkParts, count: module.nodeCount)
      return .ancestry(
        BatchingGraph.sameTypeAncestry(
          module, nodes: range, walkNodes: walkNodes, users: walkUsers, unbatched: unbatched))
    }
    let parts =
      useBothCores
      ? Parallel.map(1 + walkParts, analyze) : (0..<1 + walkParts).map(analyze)
    var pathCount: [Int32] = []
    var walks: [SameTypeWalk] = []
    for part in parts {
      switch part {
      case .pathCounts(let counts): pathCount = counts
      case .ancestry(let walk): walks.append(walk)
      }
    }
    self.pathCount = pathCount
    (sameTypeBlockers, sameTypeDependentStart, sameTypeDependents) = BatchingGraph.merge(
      walks, nodeCount: nodeCount)
    var sources: [Int32] = []
    var typeNodeCount = [Int32](repeating: 0, count: typeCount)
    var typeDepthSum = [Int64](repeating: 0, count: typeCount)
    var typeFrontier = [Int32](repeating: 0, count: typeCount)
    for n in 0..<nodeCount {
      let t = Int(nodeType[n])
      typeNodeCount[t] += 1
      typeDepthSum[t] += Int64(depth[n])
      if sameTypeBlockers[n] == 0 { typeFrontier[t] += 1 }
      if operandCount[n] == 0 { sources.append(Int32(n)) }
    }
    (self.sources, self.typeNodeCount, self.typeDepthSum, self.typeFrontier) = (
      sources, typeNodeCount, typeDepthSum, typeFrontier
    )
  }

  /// Operand occurrences from which `init` runs its analyses on both cores.
  static let parallelOperands = 16_384

  /// The results of one of the analyses `init` runs side by side.
  enum AnalysisPart: Sendable {
    case pathCounts([Int32])
    case ancestry(SameTypeWalk)
  }

  /// The nearest same-type ancestors found from one range of nodes: `blockers[i]` for node
  /// `nodes.lowerBound + i`; each pair is an ancestor (high 32 bits) and a dependent (low 32
  /// bits), by ascending dependent.
  struct SameTypeWalk: Sendable {
    var nodes: Range<Int>
    var blockers: [Int32]
    var pairs: [UInt64]
  }

  /// The `index`-th of `parts` contiguous, nearly equal ranges of `0..<count`.
  static func part(_ index: Int, of parts: Int, count: Int) -> Range<Int> {
    (count * index / parts)..<(count * (index + 1) / parts)
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

  /// Number of node operands (not external) of each node, and whether every operand is defined
  /// before its user (`Module.operandsPrecedeUsers`), in one pass over the operands.
  static func nodeOperandCounts(_ module: Module) -> (counts: [Int32], operandsPrecedeUsers: Bool) {
    var counts = [Int32](repeating: 0, count: module.nodeCount)
    var precede = true
    withOperands(of: module) { operandStart, operands in
      counts.withUnsafeMutableBufferPointer { counts in
        for n in 0..<counts.count {
          var count: Int32 = 0
          for i in Int(operandStart[n])..<Int(operandStart[n + 1]) {
            let o = operands[i]
            if o >= Int32(n) { precede = false }
            if o != Module.external { count += 1 }
          }
          counts[n] = count
        }
      }
    }
    return (counts, precede)
  }

  /// The most nodes of each slot on one path starting at each node, by a reverse topological sweep.
  static func pathCounts(
    order: [Int32], nodeType: [Int32], slotOfType: [Int32], slotCount: Int, userStart: [Int32],
    users: [Int32]
  ) -> [Int32] {
    var pathCount = [Int32](repeating: 0, count: nodeType.count * slotCount)
    guard slotCount > 0 else { return pathCount }
    pathCount.withUnsafeMutableBufferPointer { count in
      let base = count.baseAddress!
      for n in order.reversed() {
        let row = base + Int(n) * slotCount
        for i in Int(userStart[Int(n)])..<Int(userStart[Int(n) + 1]) {
          let other = base + Int(users[i]) * slotCount
          maxInPlace(row, other, count: slotCount)
        }
        let slot = slotOfType[Int(nodeType[Int(n)])]
        if slot >= 0 { row[Int(slot)] += 1 }
      }
    }
    return pathCount
  }

  /// `row[s] = max(row[s], other[s])` for `s < count`. Pointer offsets and no checked
  /// arithmetic, so the compiler vectorizes it (indexing a buffer by `row + s` adds an
  /// overflow check per element, which kept the loop scalar).
  @inline(__always)
  static func maxInPlace(
    _ row: UnsafeMutablePointer<Int32>, _ other: UnsafePointer<Int32>, count: Int
  ) {
    for s in 0..<count { row[s] = max(row[s], other[s]) }
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

  /// What the same-type walks read of a node, in one place (16 bytes, one cache line per node
  /// reached): the masks (`typeBit`) of the types strictly above it and of its users' types, its
  /// type and whether it has more than one user, and where its operands start.
  struct WalkNode {
    var above: UInt32
    var userTypes: UInt32
    /// `type << 1 | (more than one user ? 1 : 0)`.
    var typeAndShared: Int32
    var operandStart: Int32
  }

  /// The users of every node as the same-type walks read them: `users[start[n]..<start[n + 1]]`.
  struct WalkUsers {
    var start: [Int32]
    var users: [Int32]
    /// The most users a walk reads of one node (`hasFound`): a node with more is entered when
    /// none of the first ones is found, so that no walk reads a node's users at length.
    static let readLimit = 16
  }

  /// Depths (the longest path, in edges, from a node without node operands) and the nodes as the
  /// same-type walks read them (`WalkNode`, one more entry holding the operands' end). One sweep
  /// in topological order.
  static func depthsAndWalkNodes(_ module: Module, order: [Int32], userStart: [Int32]) -> (
    depth: [Int32], walkNodes: [WalkNode]
  ) {
    let nodeCount = module.nodeCount
    var depth = [Int32](repeating: 0, count: nodeCount)
    let walkNodes = [WalkNode](unsafeUninitializedCapacity: nodeCount + 1) { walk, initialized in
      withOperands(of: module) { operandStart, operands in
        module.nodeType.withUnsafeBufferPointer { nodeType in
          depth.withUnsafeMutableBufferPointer { depth in
            for n in order {
              var d: Int32 = 0
              var mask: UInt32 = 0
              let bit = typeBit(nodeType[Int(n)])
              for i in Int(operandStart[Int(n)])..<Int(operandStart[Int(n) + 1]) {
                let o = operands[i]
                if o != Module.external {
                  d = max(d, depth[Int(o)] + 1)
                  mask |= walk[Int(o)].above | typeBit(nodeType[Int(o)])
                  // Operands come first in the order: their entries are already written.
                  walk[Int(o)].userTypes |= bit
                }
              }
              depth[Int(n)] = d
              let shared: Int32 = userStart[Int(n) + 1] - userStart[Int(n)] > 1 ? 1 : 0
              walk[Int(n)] = WalkNode(
                above: mask, userTypes: 0, typeAndShared: nodeType[Int(n)] << 1 | shared,
                operandStart: operandStart[Int(n)])
            }
          }
        }
        walk[nodeCount] = WalkNode(
          above: 0, userTypes: 0, typeAndShared: -1, operandStart: operandStart[nodeCount])
      }
      initialized = nodeCount + 1
    }
    return (depth, walkNodes)
  }

  /// A type's bit in the masks of `WalkNode`: bit t mod 32, so a set bit can also stand for
  /// another type (the masks say where a type may be, and the walks only skip where it is not).
  @inline(__always)
  static func typeBit(_ type: Int32) -> UInt32 { 1 << UInt32(type & 31) }

  /// For every batchable node n of type t in `nodes`, finds its blockers: walk up from n through
  /// nodes of other types and stop at t-nodes, which are n's nearest t-ancestors. The masks of
  /// the types above each node (`WalkNode.above`) prune the walk wherever no t-node lies above.
  /// A node with several users, and every t-node found, is marked when first reached, so it is
  /// pushed or found at most once per walk; a node with one user is reached at most once anyway
  /// (its user is), and operands the walk neither stops at nor enters are passed over, both
  /// without marking.
  ///
  /// The walk does not enter a node that has a t-node it has already found among its users (the
  /// first `WalkUsers.readLimit` of them): every t-ancestor above that node is an ancestor of that
  /// found one, which n waits on anyway. So the blockers are the nearest t-ancestors less some
  /// that only lengthen the wait, and a node's blockers have all run exactly when all its
  /// t-ancestors have. (Where a state chain bypasses t, as an LSTM's cell state bypasses its
  /// hidden state, this nearly halves the walks' cost: docs/passes/fsm-batch.md.)
  static func sameTypeAncestry(
    _ module: Module, nodes: Range<Int>, walkNodes: [WalkNode], users walkUsers: WalkUsers,
    unbatched: [Bool]
  ) -> SameTypeWalk {
    var blockers = [Int32](repeating: 0, count: nodes.count)
    // Pair k: ancestor in the high half, dependent in the low half (one append per pair).
    var pairs: [UInt64] = []
    module.operands.withUnsafeBufferPointer { operands in
      walkNodes.withUnsafeBufferPointer { walk in
        walkUsers.start.withUnsafeBufferPointer { userStart in
          walkUsers.users.withUnsafeBufferPointer { users in
            // At most one entry per node reached (each is marked when pushed).
            let stack = UnsafeMutablePointer<Int32>.allocate(capacity: max(module.nodeCount, 1))
            defer { stack.deallocate() }
            var stamp = [Int32](repeating: -1, count: module.nodeCount)
            stamp.withUnsafeMutableBufferPointer { stamp in
              for n in nodes {
                let t = walk[n].typeAndShared >> 1
                let bit = typeBit(t)
                if unbatched[Int(t)] || walk[n].above & bit == 0 { continue }
                let mark = Int32(n)
                var found: Int32 = 0
                var depth = 0
                var node = n
                while true {
                  // Entered unless it feeds a t-node that this walk has found (only a shared
                  // node can: the walk came through another of its users).
                  let here = walk[node]
                  let entered =
                    here.typeAndShared & 1 == 0 || here.userTypes & bit == 0 || found == 0
                    || !hasFound(
                      usersOf: node, type: t, mark: mark, walk: walk, userStart: userStart,
                      users: users, stamp: stamp)
                  if entered {
                    for i in Int(here.operandStart)..<Int(walk[node + 1].operandStart) {
                      let o = operands[i]
                      if o == Module.external { continue }
                      let other = walk[Int(o)]
                      let isAncestor = other.typeAndShared >> 1 == t
                      // Neither stopped at nor entered: passed over, unmarked.
                      guard isAncestor || other.above & bit != 0 else { continue }
                      if isAncestor || other.typeAndShared & 1 != 0 {
                        if stamp[Int(o)] == mark { continue }
                        stamp[Int(o)] = mark
                      }
                      if isAncestor {
                        found += 1
                        pairs.append(UInt64(UInt32(o)) << 32 | UInt64(UInt32(mark)))
                      } else {
                        stack[depth] = o
                        depth += 1
                      }
                    }
                  }
                  if depth == 0 { break }
                  depth -= 1
                  node = Int(stack[depth])
                }
                blockers[n - nodes.lowerBound] = found
              }
            }
          }
        }
      }
    }
    return SameTypeWalk(nodes: nodes, blockers: blockers, pairs: pairs)
  }

  /// Whether one of `node`'s first `WalkUsers.readLimit` users is a t-node that the walk marked
  /// `mark` has found (asked of shared nodes only: with one user, the walk came through it).
  @inline(__always)
  static func hasFound(
    usersOf node: Int, type t: Int32, mark: Int32, walk: UnsafeBufferPointer<WalkNode>,
    userStart: UnsafeBufferPointer<Int32>, users: UnsafeBufferPointer<Int32>,
    stamp: UnsafeMutableBufferPointer<Int32>
  ) -> Bool {
    let first = Int(userStart[node])
    for i in first..<min(Int(userStart[node + 1]), first + WalkUsers.readLimit) {
      let u = Int(users[i])
      if stamp[u] == mark && walk[u].typeAndShared >> 1 == t { return true }
    }
    return false
  }

  /// The walks of consecutive node ranges as blocker counts and, per ancestor, its dependents
  /// in ascending order.
  static func merge(_ walks: [SameTypeWalk], nodeCount: Int) -> (
    blockers: [Int32], start: [Int32], dependents: [Int32]
  ) {
    var blockers: [Int32] = []
    blockers.reserveCapacity(nodeCount)
    var start = [Int32](repeating: 0, count: nodeCount + 1)
    var pairCount = 0
    for walk in walks {
      blockers.append(contentsOf: walk.blockers)
      start.withUnsafeMutableBufferPointer { start in
        for pair in walk.pairs { start[Int(pair >> 32) + 1] += 1 }
      }
      pairCount += walk.pairs.count
    }
    for i in 0..<nodeCount { start[i + 1] += start[i] }
    var fill = start
    let dependents = [Int32](unsafeUninitializedCapacity: pairCount) { dependents, initialized in
      fill.withUnsafeMutableBufferPointer { fill in
        for walk in walks {
          walk.pairs.withUnsafeBufferPointer { pairs in
            for pair in pairs {
              let a = Int(pair >> 32)
              dependents[Int(fill[a])] = Int32(truncatingIfNeeded: pair)
              fill[a] += 1
            }
          }
        }
      }
      initialized = pairCount
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
