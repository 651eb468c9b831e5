import BatchIR
import HeapModule

/// The minimum number of batches, by A* search over "run all ready nodes of one type" moves
/// with the lower bound of the remaining graph as heuristic. Minimum batching is NP-hard, so
/// this is a yardstick for small graphs; it gives up after `maxStates` expanded states.
public enum ExactBatching {
  public static func schedule(_ graph: BatchingGraph, lowerBound: Int, maxStates: Int)
    throws(Diagnostic) -> Schedule
  {
    struct Entry: Comparable {
      var f: Int
      var g: Int
      var index: Int
      static func < (a: Entry, b: Entry) -> Bool { (a.f, -a.g, a.index) < (b.f, -b.g, b.index) }
    }
    var start = BatchingRun(graph: graph, recordSchedule: true, policyName: "exact")
    start.runUnbatched()
    var runs = [start]
    var bestG: [[UInt64]: Int] = [start.executedBits: start.batchCount]
    var open = Heap<Entry>()
    open.insert(Entry(f: start.batchCount + remainingBound(start), g: start.batchCount, index: 0))
    var expanded = 0
    while let entry = open.popMin() {
      let run = runs[entry.index]
      if run.isFinished { return run.schedule ?? Schedule(policy: "exact") }
      if bestG[run.executedBits, default: Int.max] < entry.g { continue }
      expanded += 1
      if expanded > maxStates {
        throw Diagnostic(
          file: "fsm-batch", location: .unknown,
          message:
            "policy=exact gave up after \(maxStates) states without proving an optimum (\(graph.nodeCount) nodes); use a smaller graph or raise max-states"
        )
      }
      for t in run.readyTypes {
        var next = run
        next.runBatch(type: Int(t))
        next.runUnbatched()
        let g = next.batchCount
        if let known = bestG[next.executedBits], known <= g { continue }
        bestG[next.executedBits] = g
        runs.append(next)
        open.insert(Entry(f: g + remainingBound(next), g: g, index: runs.count - 1))
      }
    }
    return start.schedule ?? Schedule(policy: "exact")
  }

  /// The lower bound on the batches still needed: for each type, the most unexecuted nodes of
  /// that type on one path (unbatched nodes each count once).
  static func remainingBound(_ run: BatchingRun) -> Int {
    let graph = run.graph
    let order = BatchingGraph.topologicalOrder(
      operandCount: graph.operandCount, userStart: graph.userStart, users: graph.users)
    func done(_ n: Int) -> Bool { run.executedBits[n >> 6] & (1 << UInt64(n & 63)) != 0 }
    var bound = 0
    var count = [Int32](repeating: 0, count: graph.nodeCount)
    for t in 0..<graph.typeCount where run.remaining[t] > 0 {
      if graph.unbatched[t] {
        bound += Int(run.remaining[t])
        continue
      }
      for i in 0..<graph.nodeCount { count[i] = 0 }
      var best: Int32 = 0
      for n in order {
        let ni = Int(n)
        if !done(ni) && graph.nodeType[ni] == Int32(t) { count[ni] += 1 }
        best = max(best, count[ni])
        for u in graph.users[Int(graph.userStart[ni])..<Int(graph.userStart[ni + 1])]
        where count[Int(u)] < count[ni] {
          count[Int(u)] = count[ni]
        }
      }
      bound += Int(best)
    }
    return bound
  }
}
