import BatchIR

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

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

/// A learned ranking of the ready types: the type with the highest score
/// `Σ weights[i] · feature_i(t) + bias[t]` runs (ties: the lower type index). The features of a
/// type (`RankedRule.featureNames`) are O(types) each, from the run's path table and ready
/// counts: whether it is tight (`NAME*`), level with another type's chain (`NAME=`), how far
/// behind (k of `NAME+k`), its share of its frontier that is ready, its longest remaining chain
/// over the longest of any ready type, whether it ran last, and its ready count over the
/// largest. Fitted to a search's decisions (`FSMTrainer`); a trained table's fallback when it
/// has weights.
public struct RankedRule: BatchingPolicy, Sendable, Equatable {
  public static let featureNames = ["tight", "equal", "behind", "share", "chain", "last", "size"]
  public var weights: [Double]
  /// Per graph type (0 for types without one).
  public var bias: [Double]

  public init(weights: [Double], bias: [Double]) {
    self.weights = weights
    self.bias = bias
  }

  /// The features of every ready type, in `run.readyTypes` order, `featureNames.count` each.
  public static func features(_ run: BatchingRun) -> [Double] {
    let slotCount = run.graph.slotCount
    var longest: Int32 = 1
    var most = 1
    for t in run.readyTypes {
      let s = Int(run.graph.slotOfType[Int(t)])
      longest = max(longest, run.groupMax[s * slotCount + s])
      most = max(most, run.ready[Int(t)].count)
    }
    var out: [Double] = []
    out.reserveCapacity(run.readyTypes.count * featureNames.count)
    for t in run.readyTypes {
      let type = Int(t)
      let s = Int(run.graph.slotOfType[type])
      let mark = run.pathMark(type: type)
      out.append(mark == 0 ? 1 : 0)
      out.append(mark == 1 ? 1 : 0)
      out.append(mark >= 2 ? Double(mark - 1) : 0)
      out.append(run.reward(type: type) + 1)
      out.append(Double(run.groupMax[s * slotCount + s]) / Double(longest))
      out.append(run.lastBatchType == t ? 1 : 0)
      out.append(Double(run.ready[type].count) / Double(most))
    }
    return out
  }

  public func choose(_ run: BatchingRun) -> Int {
    let features = RankedRule.features(run)
    let width = RankedRule.featureNames.count
    var best = -1
    var bestScore = -Double.infinity
    for (i, t) in run.readyTypes.enumerated() {
      var score = Int(t) < bias.count ? bias[Int(t)] : 0
      for f in 0..<width { score += weights[f] * features[i * width + f] }
      if score > bestScore {
        best = Int(t)
        bestScore = score
      }
    }
    return best
  }

  /// Fits weights and per-type biases (`typeCount` types) to decisions by softmax regression
  /// (full-batch gradient ascent on the log-likelihood of the chosen type, L2 penalty `l2`,
  /// a fixed number of steps from zero: deterministic). Each decision is its candidates'
  /// features (`features(_:)`), their types, and the index of the chosen one.
  public static func fit(
    _ decisions: [(features: [Double], types: [Int32], chosen: Int)], typeCount: Int,
    steps: Int = 1500, rate: Double = 0.5, l2: Double = 0.01
  ) -> (weights: [Double], bias: [Double]) {
    let width = featureNames.count
    var w = [Double](repeating: 0, count: width + typeCount)
    guard !decisions.isEmpty else { return (Array(w[..<width]), Array(w[width...])) }
    // The candidates of all decisions in a row: candidate i's features (lanes 0..<width) and
    // its type's weight index; decision k's candidates are `first[k] ..< first[k + 1]`, the
    // chosen one `chosen[k]`. The arithmetic is the same, in the same order, as over the nested
    // arrays one feature at a time (vector lanes multiply and add as the scalars do).
    precondition(width <= 8, "the features fit in one SIMD8 vector")
    var features: [SIMD8<Double>] = []
    var types: [Int] = []
    var first = [0]
    var chosen: [Int] = []
    for d in decisions {
      chosen.append(types.count + d.chosen)
      for c in d.types.indices {
        var x = SIMD8<Double>()
        for f in 0..<width { x[f] = d.features[c * width + f] }
        features.append(x)
      }
      types += d.types.lazy.map { width + Int($0) }
      first.append(types.count)
    }
    var gradient = w
    var scores = [Double](repeating: 0, count: types.count)
    let count = Double(decisions.count)
    features.withUnsafeBufferPointer { features in
      types.withUnsafeBufferPointer { types in
        w.withUnsafeMutableBufferPointer { w in
          gradient.withUnsafeMutableBufferPointer { gradient in
            scores.withUnsafeMutableBufferPointer { scores in
              var weights = SIMD8<Double>()
              for _ in 0..<steps {
                for f in 0..<width { weights[f] = w[f] }
                var featureGradient = SIMD8<Double>()
                for i in gradient.indices { gradient[i] = 0 }
                for k in 0..<chosen.count {
                  let (begin, end) = (first[k], first[k + 1])
                  if begin == end { continue }
                  for c in begin..<end {
                    let products = weights * features[c]
                    var score = w[types[c]]
                    for f in 0..<width { score += products[f] }
                    scores[c] = score
                  }
                  var top = scores[begin]
                  for c in begin + 1..<end where top < scores[c] { top = scores[c] }
                  var total = 0.0
                  for c in begin..<end {
                    // exp(0) is 1: the top candidate's needs no call.
                    let x = scores[c] - top
                    scores[c] = x == 0 ? 1 : exp(x)
                    total += scores[c]
                  }
                  for c in begin..<end {
                    let weight = (c == chosen[k] ? 1 : 0) - scores[c] / total
                    featureGradient += weight * features[c]
                    gradient[types[c]] += weight
                  }
                }
                for f in 0..<width { gradient[f] = featureGradient[f] }
                for i in w.indices { w[i] += rate * (gradient[i] / count - l2 * w[i]) }
              }
            }
          }
        }
      }
    }
    return (Array(w[..<width]), Array(w[width...]))
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
