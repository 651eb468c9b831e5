import BatchIR
import HeapModule

/// The batching problem as the searches (`beam`, `exact`, the proven bound) see it: a DAG whose
/// nodes are batchable (of a dense type *slot*), unbatched (one batch each) or free (no batch;
/// the relaxations of the bound free nodes). Moves are "run all ready nodes of one slot";
/// unbatched and free nodes run as soon as they are ready.
///
/// For every node and slot it precomputes the most nodes of that slot on one path starting at
/// the node; the maximum of that over a state's ready nodes, summed over slots, plus the
/// unbatched nodes left, is an admissible bound of the batches still needed, kept per state in
/// O(ready × slots).
struct SearchProblem {
  static let unbatched: Int32 = -1
  static let free: Int32 = -2

  let nodeCount: Int
  let slotCount: Int
  /// Per node: its slot (≥ 0), `unbatched` or `free`.
  let kind: [Int32]
  /// Graph type index of each slot.
  let slotType: [Int32]
  let operandStart: [Int32]
  let operands: [Int32]
  let userStart: [Int32]
  let users: [Int32]
  /// `pathCount[n * slotCount + s]`: the most slot-s nodes on one path starting at n.
  let pathCount: [Int32]
  /// A random key per node; a state's hash is the XOR of its executed nodes' keys.
  let zobrist: [UInt64]
  let unbatchedTotal: Int
  /// Nodes with many operands keep a per-state count of pending operands (index into
  /// `State.widePending`, or -1); the others are checked by scanning their operands.
  let wideIndex: [Int32]
  /// Per wide node: its distinct operands not executed in the start state.
  let wideOperandCount: [Int32]
  static let wideThreshold: Int32 = 8
  /// The unbatched and free nodes executed before any move, and the batchable nodes ready then.
  let initialNodes: [Int32]
  let initialReady: [Int32]
  /// What `drain` reads when node n runs, packed per node (`nodeInfo[n]` has the range) for one
  /// sequential read: per distinct user u, `u << 1 | (u is batchable ? 1 : 0)`, then a
  /// tag, then the operands to check. The tag is the count of u's distinct operands, other than
  /// n, that the start state has not executed (listed after it), or `-1 - w` for the wide node
  /// of `widePending` index w (nothing listed). Nodes executed in the start state list nothing.
  let edges: [Int32]
  /// What `drain` reads first when a node runs, in one place: its Zobrist key, its range of
  /// `edges`, and whether it is unbatched.
  struct NodeInfo {
    var key: UInt64
    var edgeBegin: Int32
    /// `edgeEnd << 1 | (unbatched ? 1 : 0)`.
    var edgeEndAndUnbatched: Int32
  }
  let nodeInfo: [NodeInfo]
  /// Node of each wide index.
  let wideNode: [Int32]
  /// Batchable nodes whose users are all wide (a lattice's outputs, read only by the loss):
  /// nothing reads their executed bits, so a state keeps its ready sinks only in aggregate
  /// (`State.sinks`, `State.sinkHash`) and a move runs them without visiting them. With more
  /// than `maxSinkWide` wide nodes only nodes without users are sinks.
  let isSink: [Bool]
  /// Wide nodes counted per group in `State.sinks` (all of them, or none).
  let sinkWideCount: Int
  var sinkStride: Int { sinkWideCount + 1 }
  static let maxSinkWide = 64

  /// The whole graph: batchable types become slots (in type order), unbatched types stay.
  init(_ graph: BatchingGraph) {
    var present = [Bool](repeating: false, count: graph.typeCount)
    for t in graph.nodeType { present[Int(t)] = true }
    let types = (0..<graph.typeCount).filter { present[$0] && !graph.unbatched[$0] }
    self.init(graph, keepTypes: types, nodes: nil)
  }

  /// A relaxation: only `nodes` (all when nil; ascending) and the edges among them; nodes of
  /// `keepTypes` keep their type, unbatched nodes stay unbatched, every other node is free.
  /// Local node i is `nodes[i]`.
  init(_ graph: BatchingGraph, keepTypes: [Int], nodes: [Int32]?) {
    var slotOfType = [Int32](repeating: -1, count: graph.typeCount)
    for (s, t) in keepTypes.enumerated() { slotOfType[t] = Int32(s) }
    let global = nodes ?? (0..<Int32(graph.nodeCount)).map { $0 }
    /// The local id of global node n, or -1 when it is left out. A search of the ascending
    /// `nodes`: a relaxation keeps a few thousand nodes of a graph that may have millions, so an
    /// index over the whole graph would cost more than the relaxation.
    func local(_ n: Int32) -> Int32 {
      var (low, high) = (0, global.count)
      while low < high {
        let middle = (low + high) / 2
        if global[middle] < n { low = middle + 1 } else { high = middle }
      }
      return low < global.count && global[low] == n ? Int32(low) : -1
    }
    nodeCount = global.count
    slotCount = keepTypes.count
    slotType = keepTypes.map(Int32.init)
    var kind = [Int32](repeating: SearchProblem.free, count: nodeCount)
    var unbatchedTotal = 0
    for i in 0..<nodeCount {
      let t = Int(graph.nodeType[Int(global[i])])
      if graph.unbatched[t] {
        kind[i] = SearchProblem.unbatched
        unbatchedTotal += 1
      } else if slotOfType[t] >= 0 {
        kind[i] = slotOfType[t]
      }
    }
    self.kind = kind
    self.unbatchedTotal = unbatchedTotal
    if nodes == nil {
      userStart = graph.userStart
      users = graph.users
    } else {
      var userStart = [Int32](repeating: 0, count: nodeCount + 1)
      var users: [Int32] = []
      for i in 0..<nodeCount {
        let n = Int(global[i])
        for u in graph.users[Int(graph.userStart[n])..<Int(graph.userStart[n + 1])] {
          let l = local(u)
          if l >= 0 { users.append(l) }
        }
        userStart[i + 1] = Int32(users.count)
      }
      self.userStart = userStart
      self.users = users
    }
    var start = [Int32](repeating: 0, count: nodeCount + 1)
    for u in users { start[Int(u) + 1] += 1 }
    for i in 0..<nodeCount { start[i + 1] += start[i] }
    var fill = start
    var operands = [Int32](repeating: 0, count: users.count)
    for n in 0..<nodeCount {
      for u in users[Int(userStart[n])..<Int(userStart[n + 1])] {
        operands[Int(fill[Int(u)])] = Int32(n)
        fill[Int(u)] += 1
      }
    }
    operandStart = start
    self.operands = operands
    let order = BatchingGraph.topologicalOrder(
      operandCount: (0..<nodeCount).map { start[$0 + 1] - start[$0] }, userStart: userStart,
      users: users)
    let slots = slotCount
    var pathCount = [Int32](repeating: 0, count: nodeCount * slots)
    if slots > 0 {
      // Locals: a closure may not capture `self` before every property is set.
      let (userStart, users, kind) = (self.userStart, self.users, kind)
      pathCount.withUnsafeMutableBufferPointer { count in
        let base = count.baseAddress!
        for n in order.reversed() {
          let ni = Int(n)
          for u in users[Int(userStart[ni])..<Int(userStart[ni + 1])] {
            BatchingGraph.maxInPlace(base + ni * slots, base + Int(u) * slots, count: slots)
          }
          if kind[ni] >= 0 { base[ni * slots + Int(kind[ni])] += 1 }
        }
      }
    }
    self.pathCount = pathCount
    // Unbatched and free nodes run as soon as their operands have: the start state has run
    // these (in topological order, every operand is decided before its user).
    var initial = [Bool](repeating: false, count: nodeCount)
    var initialNodes: [Int32] = []
    var initialReady: [Int32] = []
    for n in order {
      let ni = Int(n)
      var operandsRun = true
      for j in Int(start[ni])..<Int(start[ni + 1]) where !initial[Int(operands[j])] {
        operandsRun = false
        break
      }
      guard operandsRun else { continue }
      if kind[ni] >= 0 {
        initialReady.append(n)
      } else {
        initial[ni] = true
        initialNodes.append(n)
      }
    }
    self.initialNodes = initialNodes
    self.initialReady = initialReady
    // Distinct operands still to run (not run in the start state), per node.
    var mark = [Int32](repeating: -1, count: nodeCount)
    var pendingStart = [Int32](repeating: 0, count: nodeCount + 1)
    var pendingOperands: [Int32] = []
    for n in 0..<nodeCount {
      for j in Int(start[n])..<Int(start[n + 1]) {
        let o = Int(operands[j])
        if initial[o] || mark[o] == Int32(n) { continue }
        mark[o] = Int32(n)
        pendingOperands.append(Int32(o))
      }
      pendingStart[n + 1] = Int32(pendingOperands.count)
    }
    var wideIndex = [Int32](repeating: -1, count: nodeCount)
    var wideOperandCount: [Int32] = []
    for n in 0..<nodeCount where start[n + 1] - start[n] > SearchProblem.wideThreshold {
      wideIndex[n] = Int32(wideOperandCount.count)
      wideOperandCount.append(pendingStart[n + 1] - pendingStart[n])
    }
    self.wideIndex = wideIndex
    self.wideOperandCount = wideOperandCount
    wideNode = (0..<nodeCount).filter { wideIndex[$0] >= 0 }.map(Int32.init)
    let sinkWideCount =
      wideOperandCount.count <= SearchProblem.maxSinkWide
      ? wideOperandCount.count : 0
    self.sinkWideCount = sinkWideCount
    var isSink = [Bool](repeating: false, count: nodeCount)
    for n in 0..<nodeCount where kind[n] >= 0 {
      var onlyWide = true
      for i in Int(self.userStart[n])..<Int(self.userStart[n + 1])
      where wideIndex[Int(self.users[i])] < 0 {
        onlyWide = false
      }
      isSink[n] = self.userStart[n] == self.userStart[n + 1] || (sinkWideCount > 0 && onlyWide)
    }
    self.isSink = isSink
    var edgeStart = [Int32](repeating: 0, count: nodeCount + 1)
    var edges: [Int32] = []
    for i in mark.indices { mark[i] = -1 }
    for n in 0..<nodeCount {
      if !initial[n] {
        for u32 in users[Int(userStart[n])..<Int(userStart[n + 1])] {
          let u = Int(u32)
          if mark[u] == Int32(n) { continue }
          mark[u] = Int32(n)
          edges.append(u32 << 1 | (kind[u] >= 0 ? 1 : 0))
          if wideIndex[u] >= 0 {
            edges.append(-1 - wideIndex[u])
            continue
          }
          let tag = edges.count
          edges.append(0)
          for j in Int(pendingStart[u])..<Int(pendingStart[u + 1])
          where pendingOperands[j] != Int32(n) {
            edges.append(pendingOperands[j])
          }
          edges[tag] = Int32(edges.count - tag - 1)
        }
      }
      edgeStart[n + 1] = Int32(edges.count)
    }
    self.edges = edges
    var rng = SeededGenerator(seed: 0x5EA4C4)
    let zobrist = (0..<nodeCount).map { _ in rng.next() }
    self.zobrist = zobrist
    nodeInfo = (0..<nodeCount).map { n in
      NodeInfo(
        key: zobrist[n], edgeBegin: edgeStart[n],
        edgeEndAndUnbatched: edgeStart[n + 1] << 1 | (kind[n] == SearchProblem.unbatched ? 1 : 0))
    }
  }

  /// One state of the machine: the executed nodes and the ready batchable ones.
  struct State {
    var executed: [UInt64]
    /// Ready nodes per slot (groups a move does not touch share storage with the parent).
    var ready: [[Int32]]
    var readyCount: Int32
    /// `groupMax[g * slotCount + s]`: the most slot-s nodes on a path from a ready g-node.
    var groupMax: [Int32]
    /// Batches run so far (g).
    var batches: Int32
    /// Admissible bound of the batches still needed (h).
    var bound: Int32
    var executedCount: Int32
    var unbatchedLeft: Int32
    var hash: UInt64
    /// Pending operands of each wide node.
    var widePending: [Int32]
    /// Ready sink nodes (`SearchProblem.isSink`, not in `ready`) per group, in aggregate:
    /// `sinks[g * sinkStride]` counts them, `sinks[g * sinkStride + 1 + w]` their edges to wide
    /// node w; `sinkHash[g]` is the XOR of their keys.
    var sinks: [Int32]
    var sinkHash: [UInt64]

    var isFinished: Bool { readyCount == 0 }
    var estimate: Int32 { batches + bound }
  }

  /// Scratch space of one search (not shared between threads).
  struct Scratch {
    var queue: [Int32] = []
    var newlyReady: [Int32] = []
    /// The state `evaluate` runs moves on and undoes them again (its buffers stay unique).
    var work: State
    var groupMax: [Int32]

    init(_ problem: SearchProblem) {
      work = State(
        executed: Array(repeating: 0, count: (problem.nodeCount + 63) / 64), ready: [],
        readyCount: 0, groupMax: [], batches: 0, bound: 0, executedCount: 0, unbatchedLeft: 0,
        hash: 0, widePending: problem.wideOperandCount, sinks: [], sinkHash: [])
      groupMax = Array(repeating: 0, count: problem.slotCount * problem.slotCount)
    }
  }

  /// What a move leads to, without building the state.
  struct Summary {
    var batches: Int32
    var bound: Int32
    var readyCount: Int32
    var executedCount: Int32
    var hash: UInt64
    /// Sum of the successor's per-group path maxima (a tie-break).
    var spread: Int32
    /// Moves of the successor that may lower its bound (`boundLoweringMoves`, a tie-break).
    var lowering: Int32

    var estimate: Int32 { batches + bound }
  }

  /// Makes `scratch.work` a copy of `state` for `evaluate` (once per expanded state).
  func load(_ state: State, _ scratch: inout Scratch) {
    scratch.work.executed.withUnsafeMutableBufferPointer { dst in
      state.executed.withUnsafeBufferPointer { src in
        for i in 0..<src.count { dst[i] = src[i] }
      }
    }
  }

  /// The successor of `state` (loaded into `scratch`) after running `slot`, summarized; the
  /// work state is restored afterwards. Allocates nothing.
  func evaluate(_ state: State, slot: Int, _ scratch: inout Scratch) -> Summary {
    for i in 0..<wideOperandCount.count { scratch.work.widePending[i] = state.widePending[i] }
    scratch.work.hash = state.hash ^ state.sinkHash[slot]
    scratch.work.batches = state.batches + 1
    scratch.work.unbatchedLeft = state.unbatchedLeft
    scratch.work.executedCount = state.executedCount + state.sinks[slot * sinkStride]
    scratch.queue.removeAll(keepingCapacity: true)
    scratch.queue.append(contentsOf: state.ready[slot])
    scratch.newlyReady.removeAll(keepingCapacity: true)
    // Moved out of the scratch, not copied: a copy retains and releases every buffer.
    var work = State(
      executed: [], ready: [], readyCount: 0, groupMax: [], batches: 0, bound: 0,
      executedCount: 0, unbatchedLeft: 0, hash: 0, widePending: [], sinks: [], sinkHash: [])
    swap(&work, &scratch.work)
    runSinks(of: state, slot: slot, &work.widePending, &scratch)
    drain(&work, &scratch)
    let slotCount = self.slotCount
    var total: Int32 = 0
    var spread: Int32 = 0
    var lowering: Int32 = 0
    scratch.groupMax.withUnsafeMutableBufferPointer { groupMax in
      for i in 0..<groupMax.count { groupMax[i] = state.groupMax[i] }
      for s in 0..<slotCount { groupMax[slot * slotCount + s] = 0 }
      total = raise(groupMax, by: scratch.newlyReady)
      for i in 0..<groupMax.count { spread += groupMax[i] }
      lowering = SearchProblem.boundLoweringMoves(
        UnsafeBufferPointer(groupMax), slotCount: slotCount)
    }
    let summary = Summary(
      batches: work.batches, bound: work.unbatchedLeft + total,
      readyCount: state.readyCount - groupSize(state, slot) + Int32(scratch.newlyReady.count),
      executedCount: work.executedCount, hash: work.hash, spread: spread,
      lowering: lowering)
    work.executed.withUnsafeMutableBufferPointer { bits in
      for n in scratch.queue { bits[Int(n) >> 6] &= ~(1 << UInt64(Int(n) & 63)) }
    }
    scratch.work = work
    return summary
  }

  /// The state before any move: unbatched and free nodes whose operands have all run, run.
  func start(_ scratch: inout Scratch) -> State {
    var state = State(
      executed: Array(repeating: 0, count: (nodeCount + 63) / 64),
      ready: Array(repeating: [], count: slotCount), readyCount: 0,
      groupMax: Array(repeating: 0, count: slotCount * slotCount), batches: 0,
      bound: 0, executedCount: Int32(initialNodes.count), unbatchedLeft: Int32(unbatchedTotal),
      hash: 0, widePending: wideOperandCount,
      sinks: Array(repeating: 0, count: slotCount * sinkStride),
      sinkHash: Array(repeating: 0, count: slotCount))
    for n in initialNodes {
      let ni = Int(n)
      state.executed[ni >> 6] |= 1 << UInt64(ni & 63)
      state.hash ^= zobrist[ni]
      if kind[ni] == SearchProblem.unbatched {
        state.batches += 1
        state.unbatchedLeft -= 1
      }
    }
    scratch.newlyReady.removeAll(keepingCapacity: true)
    scratch.newlyReady.append(contentsOf: initialReady)
    finish(&state, &scratch)
    return state
  }

  /// The state after running all ready nodes of `slot` as one batch (and every unbatched or free
  /// node that this makes ready).
  func successor(of state: State, slot: Int, _ scratch: inout Scratch) -> State {
    var next = state
    next.ready[slot] = []
    advance(&next, from: state, slot: slot, &scratch)
    return next
  }

  /// `successor(of:slot:)` written into `next`, a state no longer needed whose buffers are
  /// reused: `state` is copied into them, so the successor allocates nothing once they are
  /// large enough (a copy made by assignment shares the parent's arrays and allocates each one
  /// it then changes).
  func successor(
    of state: State, slot: Int, into next: inout State, _ scratch: inout Scratch
  ) {
    func copy<T>(_ source: [T], into target: inout [T]) {
      if target.count == source.count {
        target.withUnsafeMutableBufferPointer { target in
          source.withUnsafeBufferPointer { source in
            for i in source.indices { target[i] = source[i] }
          }
        }
      } else {
        target = source
      }
    }
    copy(state.executed, into: &next.executed)
    if next.ready.count != state.ready.count {
      next.ready = Array(repeating: [], count: state.ready.count)
    }
    for s in 0..<state.ready.count {
      next.ready[s].removeAll(keepingCapacity: true)
      if s != slot { next.ready[s].append(contentsOf: state.ready[s]) }
    }
    copy(state.groupMax, into: &next.groupMax)
    copy(state.widePending, into: &next.widePending)
    copy(state.sinks, into: &next.sinks)
    copy(state.sinkHash, into: &next.sinkHash)
    next.readyCount = state.readyCount
    next.batches = state.batches
    next.bound = state.bound
    next.executedCount = state.executedCount
    next.unbatchedLeft = state.unbatchedLeft
    next.hash = state.hash
    advance(&next, from: state, slot: slot, &scratch)
  }

  /// Turns `next`, a copy of `state` but with no ready nodes of `slot`, into its successor after
  /// running `slot`.
  private func advance(_ next: inout State, from state: State, slot: Int, _ scratch: inout Scratch)
  {
    scratch.queue.removeAll(keepingCapacity: true)
    scratch.queue.append(contentsOf: state.ready[slot])
    scratch.newlyReady.removeAll(keepingCapacity: true)
    next.readyCount -= groupSize(state, slot)
    for s in 0..<slotCount { next.groupMax[slot * slotCount + s] = 0 }
    next.batches += 1
    runSinks(of: state, slot: slot, &next.widePending, &scratch)
    next.hash ^= state.sinkHash[slot]
    next.executedCount += state.sinks[slot * sinkStride]
    if state.sinks[slot * sinkStride] > 0 {
      for i in 0..<sinkStride { next.sinks[slot * sinkStride + i] = 0 }
      next.sinkHash[slot] = 0
    }
    drain(&next, &scratch)
    finish(&next, &scratch)
  }

  /// Ready nodes of `slot`, sinks included.
  @inline(__always)
  func groupSize(_ state: State, _ slot: Int) -> Int32 {
    Int32(state.ready[slot].count) + state.sinks[slot * sinkStride]
  }

  /// Runs the ready sinks of `slot` in aggregate: lowers the pending counts of their wide users
  /// and queues (or, when batchable, lists as newly ready) those left with none.
  private func runSinks(
    of state: State, slot: Int, _ widePending: inout [Int32], _ scratch: inout Scratch
  ) {
    let base = slot * sinkStride
    guard state.sinks[base] > 0 else { return }
    for w in 0..<sinkWideCount where state.sinks[base + 1 + w] > 0 {
      widePending[w] -= state.sinks[base + 1 + w]
      if widePending[w] == 0 {
        let u = wideNode[w]
        if kind[Int(u)] >= 0 {
          scratch.newlyReady.append(u)
        } else {
          scratch.queue.append(u)
        }
      }
    }
  }

  /// Executes the queued nodes and, transitively, the unbatched and free nodes they make ready
  /// (appended to `scratch.newlyReady` when batchable). A user is checked when one of its
  /// operands runs; it is ready once all have, which the last of them sees, so no node is found
  /// twice (users and operands are distinct in `edges`).
  private func drain(_ state: inout State, _ scratch: inout Scratch) {
    var queue = scratch.queue
    var executed = state.executed
    var ready = scratch.newlyReady
    var widePending = state.widePending
    state.widePending = []
    scratch.queue = []
    state.executed = []
    var batches: Int32 = 0
    var hash = state.hash
    var head = 0
    nodeInfo.withUnsafeBufferPointer { nodeInfo in
      edges.withUnsafeBufferPointer { edges in
        executed.withUnsafeMutableBufferPointer { bits in
          widePending.withUnsafeMutableBufferPointer { widePending in
            while head < queue.count {
              let n = Int(queue[head])
              head += 1
              let info = nodeInfo[n]
              batches += info.edgeEndAndUnbatched & 1
              bits[n >> 6] |= 1 << UInt64(n & 63)
              hash ^= info.key
              var e = Int(info.edgeBegin)
              let end = Int(info.edgeEndAndUnbatched >> 1)
              while e < end {
                let entry = edges[e]
                let tag = Int(edges[e + 1])
                e += 2
                if tag < 0 {
                  widePending[-1 - tag] -= 1
                  if widePending[-1 - tag] > 0 { continue }
                } else {
                  var isReady = true
                  for j in e..<e + tag {
                    let o = Int(edges[j])
                    if bits[o >> 6] & (1 << UInt64(o & 63)) == 0 {
                      isReady = false
                      break
                    }
                  }
                  e += tag
                  if !isReady { continue }
                }
                if entry & 1 != 0 {
                  ready.append(entry >> 1)
                } else {
                  queue.append(entry >> 1)
                }
              }
            }
          }
        }
      }
    }
    state.widePending = widePending
    state.batches += batches
    state.unbatchedLeft -= batches
    state.executedCount += Int32(head)
    state.hash = hash
    state.executed = executed
    scratch.newlyReady = ready
    scratch.queue = queue
  }

  /// Raises each group's per-slot maxima (`groupMax[group · slots + slot]`) by the path counts
  /// of `nodes`, and returns Σ over slots of the largest group maximum: the path part of the
  /// remaining bound.
  private func raise(_ groupMax: UnsafeMutableBufferPointer<Int32>, by nodes: [Int32]) -> Int32 {
    let slotCount = self.slotCount
    pathCount.withUnsafeBufferPointer { pathCount in
      for n in nodes {
        let ni = Int(n)
        BatchingGraph.maxInPlace(
          groupMax.baseAddress! + Int(kind[ni]) * slotCount,
          pathCount.baseAddress! + ni * slotCount, count: slotCount)
      }
    }
    var total: Int32 = 0
    for s in 0..<slotCount {
      var best: Int32 = 0
      for g in 0..<slotCount where best < groupMax[g * slotCount + s] {
        best = groupMax[g * slotCount + s]
      }
      total += best
    }
    return total
  }

  /// Adds the newly ready nodes to their groups and recomputes the bound.
  private func finish(_ state: inout State, _ scratch: inout Scratch) {
    for n in scratch.newlyReady {
      let g = Int(kind[Int(n)])
      if isSink[Int(n)] {
        let base = g * sinkStride
        state.sinks[base] += 1
        state.sinkHash[g] ^= zobrist[Int(n)]
        // A sink's edges are all to wide nodes (distinct ones): (user, -1 - wide index) pairs.
        let info = nodeInfo[Int(n)]
        for e in stride(from: Int(info.edgeBegin), to: Int(info.edgeEndAndUnbatched >> 1), by: 2) {
          state.sinks[base + Int(-edges[e + 1])] += 1
        }
      } else {
        state.ready[g].append(n)
      }
    }
    let total = state.groupMax.withUnsafeMutableBufferPointer { groupMax in
      raise(groupMax, by: scratch.newlyReady)
    }
    state.readyCount += Int32(scratch.newlyReady.count)
    state.bound = state.unbatchedLeft + total
  }

  /// For each slot, a lower bound of the estimate after running it from `state`, without
  /// running it: batches + 1 + unbatched left + Σ over slots of the largest path maximum of the
  /// other groups (a move removes its own group and only adds ready nodes to the others; the
  /// unbatched nodes it releases move from the bound to the batches).
  func cheapEstimates(_ state: State, into cheap: inout [Int32]) {
    let base = state.batches + 1 + state.unbatchedLeft
    for slot in 0..<slotCount { cheap[slot] = base }
    state.groupMax.withUnsafeBufferPointer { groupMax in
      for s in 0..<slotCount {
        var (best, second, bestGroup): (Int32, Int32, Int) = (0, 0, -1)
        for g in 0..<slotCount {
          let value = groupMax[g * slotCount + s]
          if value > best {
            (second, best, bestGroup) = (best, value, g)
          } else if value > second {
            second = value
          }
        }
        for slot in 0..<slotCount { cheap[slot] += slot == bestGroup ? second : best }
      }
    }
  }

  /// How many ready groups are the only group with the largest path maximum of some slot: the
  /// moves whose successor's path part of the bound can drop (`cheapEstimates`).
  static func boundLoweringMoves(_ groupMax: UnsafeBufferPointer<Int32>, slotCount: Int) -> Int32 {
    var isLowering: UInt64 = 0
    for s in 0..<slotCount {
      var (first, second, group): (Int32, Int32, Int) = (0, 0, -1)
      for g in 0..<slotCount {
        let value = groupMax[g * slotCount + s]
        if value > first {
          (second, first, group) = (first, value, g)
        } else if value > second {
          second = value
        }
      }
      if first > second { isLowering |= 1 << UInt64(group) }
    }
    return Int32(isLowering.nonzeroBitCount)
  }

  /// The slots with ready nodes, ascending.
  func readySlots(_ state: State) -> [Int] {
    (0..<slotCount).filter { groupSize(state, $0) > 0 }
  }
}

/// How beam search orders states of equal estimate (batches so far + bound of the rest).
public enum BeamTieBreak: String, CaseIterable, Sendable {
  /// More nodes executed first.
  case progress
  /// More nodes ready first.
  case ready
  /// Generation order: the better-ranked parent first, then the lower type index.
  case order
  /// Smaller sum of the per-type path maxima of every ready group first.
  case spread
  /// More ready types whose move may lower the bound first (a group that alone holds the
  /// largest path maximum of some type), then more ready nodes.
  case lowering
  /// Three quarters of the beam by `ready`, the last quarter by `spread` (a diverse beam).
  case mixed
}

/// Beam search over "run all ready nodes of one type": each level keeps the `width` states with
/// the lowest estimate (batches so far plus the admissible bound of the rest), identical states
/// (same executed set) merged. Returns the best complete schedule found.
public enum BeamBatching {
  public struct Result {
    public var schedule: Schedule
    /// The graph types of the batchable moves, in order (the trajectory).
    public var moves: [Int32]
    public var statesExpanded: Int
  }

  public static func schedule(
    _ graph: BatchingGraph, width: Int, tieBreak: BeamTieBreak = .ready
  )
    -> Result
  {
    // Pruning against states kept at earlier levels could, in principle, empty the beam before
    // any state finishes; a search without it never does (every unfinished state has a move).
    search(graph, width: width, tieBreak: tieBreak, pruneRepeats: true)
      ?? search(graph, width: width, tieBreak: tieBreak, pruneRepeats: false)!
  }

  /// One beam search; nil when the beam emptied before a state finished.
  static func search(
    _ graph: BatchingGraph, width: Int, tieBreak: BeamTieBreak, pruneRepeats: Bool
  ) -> Result? {
    let problem = SearchProblem(graph)
    var scratch = SearchProblem.Scratch(problem)
    let start = problem.start(&scratch)
    // Per level: each kept state's parent index in the previous level and its slot.
    var parents: [[(parent: Int32, slot: Int32)]] = []
    var beam = [start]
    /// States of the level before the beam, whose buffers the next level reuses.
    var spare: [SearchProblem.State] = []
    var bestCount = Int32.max
    var bestEnd: (level: Int, parent: Int32, slot: Int32)?
    if start.isFinished { bestCount = start.batches }
    var seen: [UInt64: Int32] = [start.hash: start.batches]
    var expanded = 0
    struct Candidate {
      var summary: SearchProblem.Summary
      var parent: Int32
      var slot: Int32
      /// The first generating move (parent-major, then slot), for tie-breaks.
      var order: Int32
      /// The move this candidate's parent and slot come from.
      var source: Int32
    }
    var candidates: [Candidate] = []
    var index: [UInt64: Int] = [:]
    func readyKey(_ c: Candidate) -> (Int32, Int32, Int32, Int32) {
      (c.summary.estimate, -c.summary.readyCount, c.summary.spread, c.order)
    }
    func key(_ c: Candidate) -> (Int32, Int32, Int32, Int32) {
      return switch tieBreak {
      case .progress: (c.summary.estimate, -c.summary.executedCount, 0, c.order)
      case .ready: readyKey(c)
      case .order: (c.summary.estimate, 0, 0, c.order)
      case .lowering: (c.summary.estimate, -c.summary.lowering, -c.summary.readyCount, c.order)
      case .spread, .mixed:
        (c.summary.estimate, c.summary.spread, -c.summary.readyCount, c.order)
      }
    }
    // A move's cheap estimate: the successor's estimate without running the move (see
    // `SearchProblem.cheapEstimates`). Moves are evaluated in order of it; once `width`
    // candidates have estimates below the next cheap estimate, the remaining moves cannot be
    // kept and are not evaluated (except those that may finish the schedule).
    struct Move {
      var cheap: Int32
      var parent: Int32
      var slot: Int32
      var order: Int32
      var mayFinish: Bool
    }
    var pending: [Move] = []
    var cheap = [Int32](repeating: 0, count: problem.slotCount)
    /// How many candidates have each estimate (estimates never exceed batches + nodes).
    var estimateCount = [Int32](repeating: 0, count: problem.nodeCount + problem.unbatchedTotal + 2)
    // A schedule at the start's estimate (the path bound) is optimal: stop there.
    while !beam.isEmpty && bestCount > start.estimate {
      candidates.removeAll(keepingCapacity: true)
      index.removeAll(keepingCapacity: true)
      pending.removeAll(keepingCapacity: true)
      for i in beam.indices {
        problem.cheapEstimates(beam[i], into: &cheap)
        for slot in 0..<problem.slotCount where problem.groupSize(beam[i], slot) > 0 {
          pending.append(
            Move(
              cheap: cheap[slot], parent: Int32(i), slot: Int32(slot),
              order: Int32(pending.count),
              mayFinish: problem.groupSize(beam[i], slot) == beam[i].readyCount))
        }
      }
      pending.sort { ($0.cheap, $0.order) < ($1.cheap, $1.order) }
      // Complete schedules of earlier levels prune this level; this level's best end is the
      // fewest batches, then the first move in generation order.
      let pruneAt = bestCount
      var levelEnd: (batches: Int32, order: Int32)?
      var threshold = Int32.max
      var lowestEstimate = Int32.max
      var loaded = -1
      var isExpanded = [Bool](repeating: false, count: beam.count)
      for (m, move) in pending.enumerated() {
        if m > 0 && move.cheap > pending[m - 1].cheap && candidates.count >= width {
          // The width-th smallest candidate estimate: nothing above it is kept.
          var total = 0
          threshold = lowestEstimate
          while total + Int(estimateCount[Int(threshold)]) < width {
            total += Int(estimateCount[Int(threshold)])
            threshold += 1
          }
        }
        if (move.cheap > threshold || move.cheap >= pruneAt) && !move.mayFinish { continue }
        let i = Int(move.parent)
        if loaded != i {
          problem.load(beam[i], &scratch)
          loaded = i
          if !isExpanded[i] {
            isExpanded[i] = true
            expanded += 1
          }
        }
        let next = problem.evaluate(beam[i], slot: Int(move.slot), &scratch)
        if next.readyCount == 0 {
          if next.batches < pruneAt,
            levelEnd.map({ (next.batches, move.order) < $0 }) ?? true
          {
            levelEnd = (next.batches, move.order)
            bestEnd = (parents.count, move.parent, move.slot)
          }
          continue
        }
        if next.estimate >= pruneAt { continue }
        // States are identified by the hash of their executed set (64-bit Zobrist keys). A
        // merged state takes the fewest batches (then the first move) and the first order.
        if let j = index[next.hash] {
          let old = candidates[j]
          if (next.batches, move.order) < (old.summary.batches, old.source) {
            estimateCount[Int(old.summary.estimate)] -= 1
            estimateCount[Int(next.estimate)] += 1
            lowestEstimate = min(lowestEstimate, next.estimate)
            candidates[j] = Candidate(
              summary: next, parent: move.parent, slot: move.slot,
              order: min(old.order, move.order), source: move.order)
          } else {
            candidates[j].order = min(old.order, move.order)
          }
          continue
        }
        // A state kept at an earlier level with as few batches makes this one redundant.
        if pruneRepeats, let known = seen[next.hash], known <= next.batches { continue }
        index[next.hash] = candidates.count
        estimateCount[Int(next.estimate)] += 1
        lowestEstimate = min(lowestEstimate, next.estimate)
        candidates.append(
          Candidate(
            summary: next, parent: move.parent, slot: move.slot, order: move.order,
            source: move.order))
      }
      if let levelEnd { bestCount = levelEnd.batches }
      for c in candidates { estimateCount[Int(c.summary.estimate)] = 0 }
      if candidates.count > width {
        if tieBreak == .mixed {
          let first = width - width / 4
          candidates.sort { readyKey($0) < readyKey($1) }
          candidates[first...].sort { key($0) < key($1) }
        } else {
          candidates.sort { key($0) < key($1) }
        }
        candidates.removeLast(candidates.count - width)
      }
      // Only states that stay in the beam count as seen: one cut away proves nothing.
      for c in candidates {
        seen[c.summary.hash] = min(seen[c.summary.hash] ?? .max, c.summary.batches)
      }
      parents.append(candidates.map { ($0.parent, $0.slot) })
      // The new level's states reuse the buffers of the level before the beam (`spare`).
      var next: [SearchProblem.State] = []
      next.reserveCapacity(candidates.count)
      for c in candidates {
        if var state = spare.popLast() {
          problem.successor(of: beam[Int(c.parent)], slot: Int(c.slot), into: &state, &scratch)
          next.append(state)
        } else {
          next.append(problem.successor(of: beam[Int(c.parent)], slot: Int(c.slot), &scratch))
        }
      }
      swap(&beam, &next)
      while let state = next.popLast() { spare.append(state) }
    }
    // Walk back from the best end to the start, then replay the moves to build the schedule.
    var slots: [Int32] = []
    if var (level, parent, slot) = bestEnd {
      while true {
        slots.append(slot)
        if level == 0 { break }
        let step = parents[level - 1][Int(parent)]
        level -= 1
        parent = step.parent
        slot = step.slot
      }
    }
    if bestEnd == nil && !start.isFinished { return nil }
    let moves = slots.reversed().map { problem.slotType[Int($0)] }
    let schedule = BatchingRun.replay(graph, moves: moves, name: "beam")
    precondition(schedule.batchCount == Int(bestCount), "beam replay diverged")
    return Result(schedule: schedule, moves: moves, statesExpanded: expanded)
  }
}

/// A* over "run all ready nodes of one type" with the admissible bound as heuristic. Either it
/// reaches a finished state (an optimum) or, after `budget` expansions, the lowest estimate on
/// its open list, which bounds the optimum from below.
enum AStarBatching {
  struct Outcome {
    /// Graph types of the optimal moves, when the search finished.
    var moves: [Int32]?
    /// The optimum when `moves` is set, otherwise a proven lower bound.
    var bound: Int
    var expanded: Int
  }

  static func search(_ problem: SearchProblem, budget: Int) -> Outcome {
    struct Entry: Comparable {
      var estimate: Int32
      var progress: Int32
      var index: Int32
      static func < (a: Entry, b: Entry) -> Bool {
        (a.estimate, -a.progress, a.index) < (b.estimate, -b.progress, b.index)
      }
    }
    var scratch = SearchProblem.Scratch(problem)
    let start = problem.start(&scratch)
    var states = [start]
    var parent: [(index: Int32, slot: Int32)] = [(-1, -1)]
    var bestBatches: [UInt64: Int32] = [start.hash: start.batches]
    var open = Heap<Entry>()
    open.insert(Entry(estimate: start.estimate, progress: start.executedCount, index: 0))
    var expanded = 0
    while let entry = open.popMin() {
      let index = Int(entry.index)
      let state = states[index]
      if state.isFinished {
        var slots: [Int32] = []
        var i = index
        while parent[i].index >= 0 {
          slots.append(parent[i].slot)
          i = Int(parent[i].index)
        }
        return Outcome(
          moves: slots.reversed().map { problem.slotType[Int($0)] }, bound: Int(state.batches),
          expanded: expanded)
      }
      if bestBatches[state.hash, default: .max] < state.batches { continue }
      if expanded >= budget {
        return Outcome(moves: nil, bound: Int(entry.estimate), expanded: expanded)
      }
      expanded += 1
      // The expanded state is not needed again except through parent links: free its storage.
      states[index].ready = []
      problem.load(state, &scratch)
      for slot in 0..<problem.slotCount where problem.groupSize(state, slot) > 0 {
        let summary = problem.evaluate(state, slot: slot, &scratch)
        if let known = bestBatches[summary.hash], known <= summary.batches { continue }
        bestBatches[summary.hash] = summary.batches
        states.append(problem.successor(of: state, slot: slot, &scratch))
        parent.append((Int32(index), Int32(slot)))
        open.insert(
          Entry(
            estimate: summary.estimate, progress: summary.executedCount,
            index: Int32(states.count - 1)))
      }
    }
    return Outcome(moves: nil, bound: Int(start.estimate), expanded: expanded)
  }
}
