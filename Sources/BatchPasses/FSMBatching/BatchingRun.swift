import BatchIR

/// The state of one run of the batching machine over a `BatchingGraph`: which nodes are ready
/// per type, each type's frontier size, and the batches chosen so far.
///
/// Unbatched nodes are run alone, first-ready first, before any decision is asked for; a
/// decision picks one batchable type with ready nodes and runs all of them as one batch.
public struct BatchingRun {
  public let graph: BatchingGraph
  private var pending: [Int32]
  private var blockers: [Int32]
  /// Ready nodes of each type, in the order they became ready.
  public private(set) var ready: [[Int32]]
  /// Unexecuted t-nodes with no unexecuted t-ancestor, per type t.
  public private(set) var frontierCount: [Int32]
  /// Reused buffer for the nodes a batch makes ready.
  private var scratch: [Int32] = []
  /// Ready unbatched nodes, first-ready first.
  private var readyUnbatched: [Int32] = []
  private var readyUnbatchedHead = 0
  /// Batchable types that have ready nodes, as a list kept in ascending order.
  public private(set) var readyTypes: [Int32] = []
  /// Unexecuted nodes of each type (for the dynamic agenda).
  public private(set) var remaining: [Int32]
  /// Sum of the depths of the unexecuted nodes of each type.
  public private(set) var remainingDepth: [Int64]
  public private(set) var executed = 0
  /// Bit n set once node n has run.
  public private(set) var executedBits: [UInt64]
  public private(set) var batchCount = 0
  /// The batchable type of the last batch run (-1 before the first).
  public private(set) var lastBatchType: Int32 = -1
  /// `groupMax[g * slotCount + s]`: the most slot-s nodes on one path from a ready node of
  /// slot g (see `BatchingGraph.pathCount`); the remaining path bound is the column maxima.
  public private(set) var groupMax: [Int32]
  /// When recording, the schedule being built.
  public private(set) var schedule: Schedule?

  public init(graph: BatchingGraph, recordSchedule: Bool, policyName: String = "") {
    self.graph = graph
    pending = graph.operandCount
    blockers = graph.sameTypeBlockers
    ready = Array(repeating: [], count: graph.typeCount)
    frontierCount = graph.typeFrontier
    remaining = graph.typeNodeCount
    remainingDepth = graph.typeDepthSum
    schedule = recordSchedule ? Schedule(policy: policyName) : nil
    executedBits = Array(repeating: 0, count: (graph.nodeCount + 63) / 64)
    groupMax = Array(repeating: 0, count: graph.slotCount * graph.slotCount)
    makeReady(graph.sources)
  }

  public var isFinished: Bool { executed == graph.nodeCount }

  /// Adds `nodes` to the ready lists (unbatched ones to their queue) and raises their groups'
  /// path maxima. Works on buffers moved out of `self`, as `executeBatch` does.
  private mutating func makeReady<C: Collection>(_ nodes: C) where C.Element == Int32 {
    var groupMax = self.groupMax
    self.groupMax = []
    let slotCount = graph.slotCount
    graph.nodeType.withUnsafeBufferPointer { nodeType in
      graph.slotOfType.withUnsafeBufferPointer { slotOfType in
        graph.pathCount.withUnsafeBufferPointer { pathCount in
          groupMax.withUnsafeMutableBufferPointer { groupMax in
            for n in nodes {
              let t = Int(nodeType[Int(n)])
              if graph.unbatched[t] {
                readyUnbatched.append(n)
                continue
              }
              if ready[t].isEmpty { insertReadyType(Int32(t)) }
              ready[t].append(n)
              BatchingGraph.maxInPlace(
                groupMax.baseAddress! + Int(slotOfType[t]) * slotCount,
                pathCount.baseAddress! + Int(n) * slotCount, count: slotCount)
            }
          }
        }
      }
    }
    self.groupMax = groupMax
  }

  /// Whether running type t now lowers the remaining path bound: the most t-nodes on one
  /// remaining path start at a ready t-node, and at no ready node of another type.
  public func isTight(type t: Int) -> Bool { pathMark(type: t) == 0 }

  /// Where type t's ready nodes stand against the longest remaining chain of t-nodes: 0 when
  /// running t lowers the path bound (tight), 1 when they start such a chain but so does a ready
  /// node of another type, 1 + k when the longest chain starting at them is k shorter (k ≤ 3).
  public func pathMark(type t: Int) -> Int32 {
    let slotCount = graph.slotCount
    let s = Int(graph.slotOfType[t])
    let own = groupMax[s * slotCount + s]
    var other: Int32 = 0
    for g in 0..<slotCount where g != s { other = max(other, groupMax[g * slotCount + s]) }
    if own > other { return 0 }
    return own == other ? 1 : 1 + min(other - own, 3)
  }

  private mutating func insertReadyType(_ t: Int32) {
    var i = readyTypes.count
    readyTypes.append(t)
    while i > 0, readyTypes[i - 1] > t {
      readyTypes[i] = readyTypes[i - 1]
      i -= 1
    }
    readyTypes[i] = t
  }

  /// Runs every ready unbatched node, one batch each, until a batchable decision is needed
  /// or the run is finished. Returns how many batches it ran.
  @discardableResult
  public mutating func runUnbatched() -> Int {
    var count = 0
    while readyUnbatchedHead < readyUnbatched.count {
      let n = readyUnbatched[readyUnbatchedHead]
      readyUnbatchedHead += 1
      schedule?.append(type: Int(graph.nodeType[Int(n)]), nodes: CollectionOfOne(n))
      batchCount += 1
      count += 1
      execute(n)
    }
    return count
  }

  /// Runs all ready nodes of batchable type `t` as one batch. Returns the batch size.
  @discardableResult
  public mutating func runBatch(type t: Int) -> Int {
    var batch: [Int32] = []
    swap(&batch, &ready[t])
    precondition(!batch.isEmpty, "no ready nodes of the chosen type")
    if let index = readyTypes.firstIndex(of: Int32(t)) { readyTypes.remove(at: index) }
    let row = Int(graph.slotOfType[t]) * graph.slotCount
    for s in 0..<graph.slotCount { groupMax[row + s] = 0 }
    schedule?.append(type: t, nodes: batch)
    batchCount += 1
    lastBatchType = Int32(t)
    executeBatch(batch, type: t)
    // Give the storage back for the next batch of this type, unless nodes of it became ready.
    if ready[t].isEmpty {
      batch.removeAll(keepingCapacity: true)
      swap(&batch, &ready[t])
    }
    return batch.count
  }

  private mutating func execute(_ n: Int32) {
    executeBatch(CollectionOfOne(n), type: Int(graph.nodeType[Int(n)]))
  }

  /// Marks `nodes` (all of type `t`) executed: updates frontiers and readiness. The hot loop of
  /// training, so it works on buffers moved out of `self` (no copies, no exclusivity checks).
  private mutating func executeBatch<C: Collection>(_ nodes: C, type t: Int)
  where C.Element == Int32 {
    var pending = self.pending
    var blockers = self.blockers
    var bits = self.executedBits
    self.pending = []
    self.blockers = []
    self.executedBits = []
    var newlyReady = scratch
    scratch = []
    newlyReady.removeAll(keepingCapacity: true)
    var depthSum: Int64 = 0
    var frontierGain: Int32 = 0
    graph.depth.withUnsafeBufferPointer { depth in
      graph.sameTypeDependentStart.withUnsafeBufferPointer { dependentStart in
        graph.sameTypeDependents.withUnsafeBufferPointer { dependents in
          graph.userStart.withUnsafeBufferPointer { userStart in
            graph.users.withUnsafeBufferPointer { users in
              pending.withUnsafeMutableBufferPointer { pending in
                blockers.withUnsafeMutableBufferPointer { blockers in
                  for n in nodes {
                    let ni = Int(n)
                    bits[ni >> 6] |= 1 << UInt64(ni & 63)
                    depthSum += Int64(depth[ni])
                    for i in Int(dependentStart[ni])..<Int(dependentStart[ni + 1]) {
                      let d = Int(dependents[i])
                      blockers[d] -= 1
                      if blockers[d] == 0 { frontierGain += 1 }
                    }
                    for i in Int(userStart[ni])..<Int(userStart[ni + 1]) {
                      let u = Int(users[i])
                      pending[u] -= 1
                      if pending[u] == 0 { newlyReady.append(Int32(u)) }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    self.pending = pending
    self.blockers = blockers
    self.executedBits = bits
    executed += nodes.count
    remaining[t] -= Int32(nodes.count)
    remainingDepth[t] -= depthSum
    frontierCount[t] += frontierGain - Int32(nodes.count)
    makeReady(newlyReady)
    scratch = newlyReady
  }

  /// ED-Batch's reward for running type t now: −1 + |ready_t| / |frontier_t|, which is 0
  /// exactly when the batch takes every node that could go in it.
  public func reward(type t: Int) -> Double {
    -1 + Double(ready[t].count) / Double(max(frontierCount[t], 1))
  }
}
