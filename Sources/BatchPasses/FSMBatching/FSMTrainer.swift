import BatchIR

/// Options of ED-Batch's tabular Q-learning (defaults are the paper's).
public struct QLearningOptions: Sendable {
  public var episodes = 1000
  public var nStep = 10
  public var gamma = 1.0
  public var alpha = 0.4
  public var epsilon = 0.5
  public var epsilonDecay = 0.9
  public var epsilonMin = 0.05
  public var evaluateEvery = 50
  /// Stop early once a greedy run is within this factor of the lower bound.
  public var stopRatio = 1.01
  public var seed: UInt64 = 1
  /// After Q-learning, improve the FSM by coordinate descent on the true objective: try every
  /// ready type in every state and keep a change when the total batch count drops. At most this
  /// many evaluations (0 turns refinement off).
  public var refineEvaluations = 2000
  /// Before Q-learning, imitate the schedules beam search of this width finds on the training
  /// graphs (0: no imitation).
  public var imitationWidth = 64

  public init() {}
}

/// Encodes a run's ready set as a state key of table type indices.
struct StateEncoder {
  let encoding: StateEncoding
  /// Graph type index → table type index (`unknownType` for types the table lacks).
  let tableType: [Int32]

  /// Stands for a type the table never saw; no state of the table contains it.
  static let unknownType = Int32.min

  func key(_ run: BatchingRun) -> [Int32] {
    var key = run.readyTypes.map { tableType[Int($0)] }
    switch encoding {
    case .base:
      key.sort()
    case .sort:
      key = run.readyTypes.sorted {
        let a = run.ready[Int($0)].count
        let b = run.ready[Int($1)].count
        return a != b ? a > b : tableType[Int($0)] < tableType[Int($1)]
      }.map { tableType[Int($0)] }
    case .max:
      key.sort()
      var most = run.readyTypes[0]
      for t in run.readyTypes.dropFirst() {
        let (a, b) = (run.ready[Int(t)].count, run.ready[Int(most)].count)
        if a > b || a == b && tableType[Int(t)] < tableType[Int(most)] { most = t }
      }
      key.append(-1)
      key.append(tableType[Int(most)])
    case .frontier, .history:
      // Type indices are non-negative; a complete type is written as -2 - index.
      key = run.readyTypes.map { t in
        let type = tableType[Int(t)]
        let complete = run.ready[Int(t)].count >= Int(run.frontierCount[Int(t)])
        return complete && type != Self.unknownType ? -2 - type : type
      }.sorted()
      if encoding == .history && run.lastBatchType >= 0 {
        key.append(-1)
        key.append(tableType[Int(run.lastBatchType)])
      }
    case .critical:
      key = run.readyTypes.map { t in
        let type = tableType[Int(t)]
        return type == Self.unknownType
          ? type : FSMTable.criticalEntry(type: type, mark: run.pathMark(type: Int(t)))
      }.sorted()
      if run.lastBatchType >= 0 {
        key.append(-1)
        key.append(tableType[Int(run.lastBatchType)])
      }
    }
    return key
  }
}

/// Applies a trained table: in a known state, the type the FSM chose for it; in an unseen
/// state (or one without a choice), the `typewise` rule.
public struct FSMPolicy: BatchingPolicy {
  public let table: FSMTable
  let encoder: StateEncoder
  /// Table type index → graph type index (-1 when the graph lacks it).
  let graphType: [Int32]
  /// Decisions made by the fallback rule.
  public private(set) var fallbacks = 0

  public init(table: FSMTable, graph: BatchingGraph) {
    self.table = table
    let tableType = graph.typeNames.map { table.knownTypeIndex($0) ?? StateEncoder.unknownType }
    encoder = StateEncoder(encoding: table.encoding, tableType: tableType)
    var graphType = [Int32](repeating: -1, count: table.typeNames.count)
    for (g, t) in tableType.enumerated() where t != StateEncoder.unknownType {
      graphType[Int(t)] = Int32(g)
    }
    self.graphType = graphType
  }

  public mutating func choose(_ run: BatchingRun) -> Int {
    if let s = table.state(encoder.key(run)) {
      let choice = table.choices[s]
      if choice >= 0, graphType[Int(choice)] >= 0, !run.ready[Int(graphType[Int(choice)])].isEmpty {
        return Int(graphType[Int(choice)])
      }
    }
    fallbacks += 1
    return table.encoding == .critical ? TightPolicy().choose(run) : TypewisePolicy().choose(run)
  }
}

/// Tabular Q-learning with n-step returns over one or more graphs (ED-Batch §4). Episode e
/// trains on graph e mod k. Every `evaluateEvery` episodes the greedy policy runs on every
/// graph; the table with the fewest total batches is kept.
public struct FSMTrainer {
  public let graphs: [BatchingGraph]
  public let encoding: StateEncoding
  public let options: QLearningOptions

  public struct Result {
    public var table: FSMTable
    /// Episodes actually run (fewer than asked when the early stop fired).
    public var episodes: Int
    /// Total batches of the kept table over all graphs, and the sum of their lower bounds.
    public var bestBatches: Int
    public var lowerBound: Int
    /// Batch count before refinement, and the evaluations refinement used.
    public var batchesBeforeRefinement: Int
    public var refineEvaluations: Int
  }

  /// Progress after each evaluation: (episode, best batches so far, lower bound).
  public typealias Progress = (_ episode: Int, _ best: Int, _ lowerBound: Int) -> Void

  public init(graphs: [BatchingGraph], encoding: StateEncoding, options: QLearningOptions) {
    self.graphs = graphs
    self.encoding = encoding
    self.options = options
  }

  public func train(progress: Progress = { _, _, _ in }) -> Result {
    var table = FSMTable(encoding: encoding)
    for graph in graphs {
      for t in 0..<graph.typeCount where !graph.unbatched[t] {
        _ = table.typeIndex(for: graph.typeNames[t])
      }
    }
    let encoders = graphs.map { graph in
      StateEncoder(
        encoding: encoding, tableType: graph.typeNames.map { table.knownTypeIndex($0) ?? -1 })
    }
    let lowerBound = graphs.reduce(0) { $0 + $1.lowerBound() }
    var rng = SeededGenerator(seed: options.seed)

    func evaluate(_ table: FSMTable) -> Int {
      var table = table
      table.chooseGreedily()
      return count(table)
    }
    func count(_ table: FSMTable) -> Int {
      graphs.reduce(0) { total, graph in
        var policy = FSMPolicy(table: table, graph: graph)
        return total + BatchingRun.countBatches(graph, policy: &policy)
      }
    }
    // Imitation: every state on a beam trajectory votes for the type the beam ran there; its
    // choice is the most-voted type, and it becomes the prior of Q-learning in that state.
    var imitated: FSMTable?
    if options.imitationWidth > 0 {
      for (g, graph) in graphs.enumerated() {
        let moves = BeamBatching.schedule(graph, width: options.imitationWidth).moves
        var run = BatchingRun(graph: graph, recordSchedule: false)
        for move in moves {
          run.runUnbatched()
          let s = table.addState(encoders[g].key(run))
          table.update(state: s, action: encoders[g].tableType[Int(move)], toward: 0, rate: 1)
          run.runBatch(type: Int(move))
        }
      }
      table.chooseMostVisited()
      imitated = table
    }
    var best = table
    var bestBatches = imitated.map(count) ?? evaluate(table)
    progress(0, bestBatches, lowerBound)
    var episodesRun = 0
    var epsilon = options.epsilon
    var states: [Int] = []
    var actions: [Int32] = []
    var rewards: [Double] = []
    for episode in 0..<options.episodes {
      if Double(bestBatches) <= options.stopRatio * Double(lowerBound) { break }
      let graph = graphs[episode % graphs.count]
      let encoder = encoders[episode % graphs.count]
      states.removeAll(keepingCapacity: true)
      actions.removeAll(keepingCapacity: true)
      rewards.removeAll(keepingCapacity: true)
      var run = BatchingRun(graph: graph, recordSchedule: false)
      while true {
        run.runUnbatched()
        if run.isFinished { break }
        let s = table.addState(encoder.key(run))
        let choice: Int
        if rng.unit() < epsilon {
          choice = Int(run.readyTypes[Int(rng.next() % UInt64(run.readyTypes.count))])
        } else {
          // Greedy, with the typewise rule as the prior: its action is tried first in every
          // state, so the table only departs from the rule where that proved better.
          var prior =
            encoding == .critical ? TightPolicy().choose(run) : TypewisePolicy().choose(run)
          if let imitated, s < imitated.stateCount, imitated.choices[s] >= 0,
            let t = run.readyTypes.first(where: { encoder.tableType[Int($0)] == imitated.choices[s] })
          {
            prior = Int(t)
          }
          if table.value(state: s, action: encoder.tableType[prior]) == nil {
            choice = prior
          } else {
            let best = table.bestAction(state: s) { action in
              run.readyTypes.contains { encoder.tableType[Int($0)] == action }
            }
            choice =
              best.flatMap { action in run.readyTypes.first { encoder.tableType[Int($0)] == action }
              }.map(Int.init) ?? prior
          }
        }
        states.append(s)
        actions.append(encoder.tableType[choice])
        rewards.append(run.reward(type: choice))
        run.runBatch(type: choice)
      }
      // n-step returns, bootstrapped from the best known value n steps later.
      let steps = states.count
      for t in 0..<steps {
        var target = 0.0
        var discount = 1.0
        let horizon = min(options.nStep, steps - t)
        for k in 0..<horizon {
          target += discount * rewards[t + k]
          discount *= options.gamma
        }
        if t + options.nStep < steps {
          target += discount * table.bestValue(state: states[t + options.nStep])
        }
        table.update(state: states[t], action: actions[t], toward: target, rate: options.alpha)
      }
      episodesRun = episode + 1
      epsilon = max(options.epsilonMin, epsilon * options.epsilonDecay)
      if episodesRun % options.evaluateEvery == 0 || episodesRun == options.episodes {
        let batches = evaluate(table)
        if batches < bestBatches {
          bestBatches = batches
          best = table
        }
        progress(episodesRun, bestBatches, lowerBound)
      }
    }
    // Refine each start: the imitated table, the kept snapshot, the final table, and the final
    // table's states with every choice left to the fallback rule; keep the best result.
    if imitated == nil || best != imitated { best.chooseGreedily() }
    let beforeRefinement = bestBatches
    var final = table
    final.chooseGreedily()
    var ruleOnly = table
    for s in 0..<ruleOnly.stateCount { ruleOnly.choices[s] = -1 }
    var starts = [best, final, ruleOnly]
    if let imitated, imitated != best { starts.append(imitated) }
    var evaluations = 0
    let share = options.refineEvaluations / starts.count
    var result = best
    var resultBatches = bestBatches
    for (i, start) in starts.enumerated() {
      var candidate = start
      var batches = i == 0 ? bestBatches : count(candidate)
      let budget = i + 1 == starts.count ? options.refineEvaluations - evaluations : share
      let used = refine(&candidate, batches: &batches, budget: budget)
      evaluations += used
      if batches < resultBatches
        || batches == resultBatches && candidate.stateCount > result.stateCount
      {
        result = candidate
        resultBatches = batches
      }
    }
    best = result
    bestBatches = resultBatches

    /// Coordinate descent on the total batch count. Each sweep first adds the states the
    /// current FSM visits but the table lacks (their choice is the fallback rule's), so every
    /// decision the FSM makes can be changed. Returns the evaluations used.
    func refine(_ best: inout FSMTable, batches bestBatches: inout Int, budget: Int) -> Int {
      var evaluations = 0
      refinement: while evaluations < budget {
        addVisitedStates(&best)
        var improved = false
        for s in 0..<best.stateCount {
          for candidate in best.readyTypes(ofState: s) where candidate != best.choices[s] {
            if Double(bestBatches) <= options.stopRatio * Double(lowerBound)
              || evaluations >= budget
            {
              break refinement
            }
            var trial = best
            trial.choices[s] = candidate
            let batches = count(trial)
            evaluations += 1
            if batches < bestBatches {
              best = trial
              bestBatches = batches
              improved = true
            }
          }
        }
        if !improved { break }
      }
      return evaluations
    }

    func addVisitedStates(_ table: inout FSMTable) {
      for (g, graph) in graphs.enumerated() {
        var policy = FSMPolicy(table: table, graph: graph)
        var run = BatchingRun(graph: graph, recordSchedule: false)
        while true {
          run.runUnbatched()
          if run.isFinished { break }
          let key = encoders[g].key(run)
          if !key.contains(StateEncoder.unknownType) { _ = table.addState(key) }
          run.runBatch(type: policy.choose(run))
        }
      }
    }
    if evaluations > 0 { progress(episodesRun, bestBatches, lowerBound) }
    return Result(
      table: best, episodes: episodesRun, bestBatches: bestBatches, lowerBound: lowerBound,
      batchesBeforeRefinement: beforeRefinement, refineEvaluations: evaluations)
  }
}
