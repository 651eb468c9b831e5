import BatchIR

/// The minimum number of batches, by A* search over "run all ready nodes of one type" moves
/// with the admissible bound of `SearchProblem` as heuristic. Minimum batching is NP-hard, so
/// this is a yardstick for small graphs; it gives up after `maxStates` expanded states.
public enum ExactBatching {
  public static func schedule(_ graph: BatchingGraph, maxStates: Int) throws(Diagnostic)
    -> Schedule
  {
    let outcome = AStarBatching.search(SearchProblem(graph), budget: maxStates)
    guard let moves = outcome.moves else {
      throw Diagnostic(
        file: "fsm-batch", location: .unknown,
        message:
          "policy=exact gave up after \(maxStates) states without proving an optimum (\(graph.nodeCount) nodes, at least \(outcome.bound) batches); use a smaller graph or raise max-states"
      )
    }
    return BatchingRun.replay(graph, moves: moves, name: "exact")
  }
}

extension BatchingRun {
  /// Runs the machine with the batchable types of `moves`, in order, and returns the schedule.
  public static func replay(_ graph: BatchingGraph, moves: [Int32], name: String) -> Schedule {
    var run = BatchingRun(graph: graph, recordSchedule: true, policyName: name)
    var next = 0
    while true {
      run.runUnbatched()
      if run.isFinished || next == moves.count { break }
      run.runBatch(type: Int(moves[next]))
      next += 1
    }
    precondition(run.isFinished, "the moves leave nodes unscheduled")
    return run.schedule ?? Schedule(policy: name)
  }
}
