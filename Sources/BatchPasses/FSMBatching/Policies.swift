import BatchIR

/// Picks which ready batchable type runs next. `run.readyTypes` is never empty when asked.
public protocol BatchingPolicy {
  mutating func choose(_ run: BatchingRun) -> Int
}

extension BatchingRun {
  /// Runs the machine to the end under `policy` and returns the schedule.
  public static func schedule<P: BatchingPolicy>(
    _ graph: BatchingGraph, policy: inout P, name: String
  ) -> Schedule {
    var run = BatchingRun(graph: graph, recordSchedule: true, policyName: name)
    while true {
      run.runUnbatched()
      if run.isFinished { break }
      run.runBatch(type: policy.choose(run))
    }
    return run.schedule ?? Schedule(policy: name)
  }

  /// Runs the machine to the end under `policy` and returns only the number of batches.
  public static func countBatches<P: BatchingPolicy>(_ graph: BatchingGraph, policy: inout P) -> Int
  {
    var run = BatchingRun(graph: graph, recordSchedule: false)
    while true {
      run.runUnbatched()
      if run.isFinished { break }
      run.runBatch(type: policy.choose(run))
    }
    return run.batchCount
  }
}

/// DyNet's agenda-based autobatching: the ready type whose nodes have the lowest average depth
/// over the whole graph (single precision, as DyNet); ties go to the lower type index.
public struct AgendaPolicy: BatchingPolicy {
  /// Stateless, but not zero-sized: Swift 6.3's ThreadSanitizer instrumentation crashes on an
  /// inout access to a zero-sized value in unspecialized generic code (`schedule(_:policy:name:)`),
  /// as in swiftlang/swift#35579, whose fix covers only types known to be empty.
  private var notEmpty: UInt8 = 0

  public init() {}

  public func choose(_ run: BatchingRun) -> Int {
    var best = Int(run.readyTypes[0])
    for t in run.readyTypes.dropFirst()
    where run.graph.averageDepth[Int(t)] < run.graph.averageDepth[best] {
      best = Int(t)
    }
    return best
  }
}

/// ED-Batch's variant of the agenda: the average depth is taken over the nodes not yet run.
public struct DynamicAgendaPolicy: BatchingPolicy {
  /// Stateless, but not zero-sized: Swift 6.3's ThreadSanitizer instrumentation crashes on an
  /// inout access to a zero-sized value in unspecialized generic code (`schedule(_:policy:name:)`),
  /// as in swiftlang/swift#35579, whose fix covers only types known to be empty.
  private var notEmpty: UInt8 = 0

  public init() {}

  public func choose(_ run: BatchingRun) -> Int {
    func average(_ t: Int) -> Double {
      Double(run.remainingDepth[t]) / Double(max(run.remaining[t], 1))
    }
    var best = Int(run.readyTypes[0])
    var bestAverage = average(best)
    for t in run.readyTypes.dropFirst() {
      let value = average(Int(t))
      if value < bestAverage {
        best = Int(t)
        bestAverage = value
      }
    }
    return best
  }
}

/// Greedy on ED-Batch's reward: the ready type whose ready nodes are the largest share of its
/// frontier; ties go to the lower average depth, then the lower type index.
public struct TypewisePolicy: BatchingPolicy {
  /// Stateless, but not zero-sized: Swift 6.3's ThreadSanitizer instrumentation crashes on an
  /// inout access to a zero-sized value in unspecialized generic code (`schedule(_:policy:name:)`),
  /// as in swiftlang/swift#35579, whose fix covers only types known to be empty.
  private var notEmpty: UInt8 = 0

  public init() {}

  public func choose(_ run: BatchingRun) -> Int {
    var best = Int(run.readyTypes[0])
    var bestShare = run.reward(type: best)
    for t in run.readyTypes.dropFirst() {
      let share = run.reward(type: Int(t))
      if share > bestShare
        || share == bestShare && run.graph.averageDepth[Int(t)] < run.graph.averageDepth[best]
      {
        best = Int(t)
        bestShare = share
      }
    }
    return best
  }
}

/// `typewise` restricted to the tight types when there are any: the ready types whose run now
/// lowers the remaining path bound (`BatchingRun.isTight`). The fallback of the `critical` FSM.
public struct TightPolicy: BatchingPolicy {
  private var notEmpty: UInt8 = 0

  public init() {}

  public func choose(_ run: BatchingRun) -> Int {
    var best = -1
    var bestShare = 0.0
    for t in run.readyTypes where run.isTight(type: Int(t)) {
      let share = run.reward(type: Int(t))
      if best < 0 || share > bestShare
        || share == bestShare && run.graph.averageDepth[Int(t)] < run.graph.averageDepth[best]
      {
        best = Int(t)
        bestShare = share
      }
    }
    return best >= 0 ? best : TypewisePolicy().choose(run)
  }
}

/// TF-Fold's and DyNet's depth-based batching: one batch per (depth, type), in depth order then
/// type order; unbatched nodes run alone. Not a ready-set policy, so it builds the schedule directly.
public enum DepthBatching {
  public static func schedule(_ graph: BatchingGraph) -> Schedule {
    var schedule = Schedule(policy: "depth")
    // Sort by (depth, type); ties keep creation order.
    func key(_ n: Int32) -> Int {
      Int(graph.depth[Int(n)]) * graph.typeCount + Int(graph.nodeType[Int(n)])
    }
    var sorted = (0..<Int32(graph.nodeCount)).map { $0 }
    sorted.sort { (key($0), $0) < (key($1), $1) }
    var groupStart = 0
    while groupStart < sorted.count {
      var groupEnd = groupStart + 1
      while groupEnd < sorted.count, key(sorted[groupEnd]) == key(sorted[groupStart]) {
        groupEnd += 1
      }
      let type = Int(graph.nodeType[Int(sorted[groupStart])])
      let group = sorted[groupStart..<groupEnd]
      if graph.unbatched[type] {
        for n in group { schedule.append(type: type, nodes: CollectionOfOne(n)) }
      } else {
        schedule.append(type: type, nodes: group)
      }
      groupStart = groupEnd
    }
    return schedule
  }
}
