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
  public var refineEvaluations = 4000
  /// Before Q-learning, imitate the schedules beam search of this width finds on the training
  /// graphs (0: no imitation).
  public var imitationWidth = 256
  /// Episodes per round: a round's episodes all start from the same table and may run in
  /// parallel; their updates are applied in episode order.
  public var roundSize = 1
  /// Fit a ranking rule (`RankedRule`) to the imitated decisions and make it the table's
  /// fallback when, alone, it needs fewer batches on the training graphs than the fixed rule.
  public var learnRule = true

  public init() {}
}

/// Encodes a run's ready set as a state key of table type indices.
struct StateEncoder: Sendable {
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
    case .critical, .phased:
      key = run.readyTypes.map { t in
        let type = tableType[Int(t)]
        return type == Self.unknownType
          ? type : FSMTable.criticalEntry(type: type, mark: run.pathMark(type: Int(t)))
      }.sorted()
      if run.lastBatchType >= 0 || encoding == .phased { key.append(-1) }
      if run.lastBatchType >= 0 { key.append(tableType[Int(run.lastBatchType)]) }
      if encoding == .phased {
        let phase = run.executed * FSMTable.phaseCount / max(run.graph.nodeCount, 1)
        key.append(FSMTable.phaseEntry(Int32(min(phase, FSMTable.phaseCount - 1))))
      }
    }
    return key
  }
}

/// Applies a trained table: in a known state, the type the FSM chose for it; in an unseen
/// state, the choice voted for its coarser keys (`FSMTable.backoffKeys`) when one was seen,
/// otherwise (or in a state without a choice) the fallback rule.
public struct FSMPolicy: BatchingPolicy {
  public let table: FSMTable
  let encoder: StateEncoder
  /// Table type index → graph type index (-1 when the graph lacks it).
  let graphType: [Int32]
  /// For encodings with coarser back-off keys (`FSMTable.backoffKeys`): the choice of each
  /// coarser key, by the votes (visits) of the full states that share it. Built on the first
  /// lookup that misses the table (nil until then): a run that never misses never needs it.
  private(set) var backoff: [[Int32]: Int32]?
  /// The table's learned fallback rule for this graph, if it has one.
  let rule: RankedRule?
  /// Back-off choices that replace `backoff`'s for a few coarser keys (nil: the key has none).
  let backoffPatch: [(key: [Int32], choice: Int32?)]
  /// Decisions made by the fallback rule.
  public private(set) var fallbacks = 0
  /// Decisions made by the back-off table (an unseen state whose coarser key was seen).
  public private(set) var backoffs = 0

  public init(table: FSMTable, graph: BatchingGraph) {
    self.init(table: table, graph: graph, backoff: nil)
  }

  /// With `table`'s back-off choices given (`backoffChoices(_:)`, computed once for a table
  /// applied to many graphs), or nil to build them when first needed; `backoffPatch` changes
  /// some of them (the choices of a table that differs from the one they were built for).
  init(
    table: FSMTable, graph: BatchingGraph, backoff: [[Int32]: Int32]?,
    backoffPatch: [(key: [Int32], choice: Int32?)] = []
  ) {
    self.backoffPatch = backoffPatch
    self.table = table
    let tableType = graph.typeNames.map { table.knownTypeIndex($0) ?? StateEncoder.unknownType }
    encoder = StateEncoder(encoding: table.encoding, tableType: tableType)
    rule = table.rankedRule(tableType: tableType)
    var graphType = [Int32](repeating: -1, count: table.typeNames.count)
    for (g, t) in tableType.enumerated() where t != StateEncoder.unknownType {
      graphType[Int(t)] = Int32(g)
    }
    self.graphType = graphType
    self.backoff = backoff
  }

  /// The choice of each coarser key of `table` (`FSMTable.backoffKeys`), by the votes (visits)
  /// of the full states that share it; it depends on the table alone.
  static func backoffChoices(_ table: FSMTable) -> [[Int32]: Int32] {
    backoffVotes(table).mapValues { backoffWinner($0) ?? -1 }
  }

  /// The votes behind `backoffChoices(_:)`: per coarser key, the votes of each type.
  static func backoffVotes(_ table: FSMTable) -> [[Int32]: [Int32: Int]] {
    var votes: [[Int32]: [Int32: Int]] = [:]
    for s in 0..<table.stateCount {
      guard let vote = backoffVote(table, state: s) else { continue }
      for coarse in FSMTable.backoffKeys(table.stateKeys[s], encoding: table.encoding) {
        votes[coarse, default: [:]][vote.type, default: 0] += vote.weight
      }
    }
    return votes
  }

  /// State s's vote for its coarser keys: its choice, weighted by the visits of that action;
  /// nil for a state without a choice or without learned actions (added by refinement).
  static func backoffVote(_ table: FSMTable, state s: Int) -> (type: Int32, weight: Int)? {
    guard table.choices[s] >= 0 && !table.actions[s].isEmpty else { return nil }
    let weight = table.actions[s].first { $0.action == table.choices[s] }?.visits ?? 1
    return (table.choices[s], max(weight, 1))
  }

  /// The most-voted type (ties: the lower type index); nil without votes.
  static func backoffWinner(_ counts: [Int32: Int]) -> Int32? {
    counts.max { a, b in a.value < b.value || a.value == b.value && a.key > b.key }?.key
  }

  public mutating func choose(_ run: BatchingRun) -> Int { decide(run).choice }

  /// The choice, the table state it looked up (-1 when the table lacks the run's state) and
  /// the run's state key.
  mutating func decide(_ run: BatchingRun) -> (choice: Int, state: Int, key: [Int32]) {
    let key = encoder.key(run)
    guard let s = table.state(key) else { return (chooseUnseen(run, key: key), -1, key) }
    let choice = table.choices[s]
    if choice >= 0, graphType[Int(choice)] >= 0, !run.ready[Int(graphType[Int(choice)])].isEmpty {
      return (Int(graphType[Int(choice)]), s, key)
    }
    fallbacks += 1
    return (table.fallbackChoice(run, rule: rule), s, key)
  }

  /// The choice in a state the table lacks: the back-off table's, else the fallback rule's.
  private mutating func chooseUnseen(_ run: BatchingRun, key: [Int32]) -> Int {
    if backoff == nil { backoff = FSMPolicy.backoffChoices(table) }
    if let backoff, !backoff.isEmpty || !backoffPatch.isEmpty {
      for coarse in FSMTable.backoffKeys(key, encoding: table.encoding) {
        let patched = backoffPatch.first { $0.key == coarse }
        if let choice = patched == nil ? backoff[coarse] : patched!.choice, choice >= 0,
          graphType[Int(choice)] >= 0,
          !run.ready[Int(graphType[Int(choice)])].isEmpty
        {
          backoffs += 1
          return Int(graphType[Int(choice)])
        }
      }
    }
    fallbacks += 1
    return table.fallbackChoice(run, rule: rule)
  }
}

/// Tabular Q-learning with n-step returns over one or more graphs (ED-Batch §4). Episode e
/// trains on graph e mod k. Every `evaluateEvery` episodes the greedy policy runs on every
/// graph; the table with the fewest total batches is kept.
public struct FSMTrainer: Sendable {
  public let graphs: [BatchingGraph]
  public let encoding: StateEncoding
  public let options: QLearningOptions
  /// Whether refinement runs a trial only from where its run can first depart from the current
  /// table's (`RecordedRun`) rather than whole; the results are the same either way.
  var resumesTrials = true

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

  /// Runs one round of episodes and returns their trajectories in the order given; the
  /// default runs them one after the other.
  public typealias RoundRunner = (
    _ specs: [EpisodeSpec], _ episode: @escaping @Sendable (EpisodeSpec) -> Trajectory
  ) -> [Trajectory]

  public func train(
    runRound: RoundRunner = { specs, episode in specs.map(episode) },
    progress: Progress = { _, _, _ in }
  ) -> Result {
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

    func evaluate(_ table: FSMTable) -> Int {
      var table = table
      table.chooseGreedily()
      return count(table)
    }
    @Sendable func count(_ table: FSMTable) -> Int {
      graphs.reduce(0) { total, graph in
        var policy = FSMPolicy(table: table, graph: graph)
        return total + BatchingRun.countBatches(graph, policy: &policy)
      }
    }
    // Imitation: every state on a beam trajectory votes for the type the beam ran there; its
    // choice is the most-voted type, and it becomes the prior of Q-learning in that state.
    // One imitated table per beam tie-break (`ready`, `progress`, `spread`): the beams find
    // different schedules, each imitated alone; the best count is the Q-learning prior, and
    // every one is a start of the refinement.
    var imitations: [(table: FSMTable, batches: Int)] = []
    if options.imitationWidth > 0 {
      let tieBreaks: [BeamTieBreak] = [.ready, .progress, .spread]
      // The beams are independent: they run side by side (cores permitting), their moves come
      // back in (tie-break, graph) order, and the tables are built from them in that order.
      let (graphs, width) = (graphs, options.imitationWidth)
      let beamMoves = Parallel.map(tieBreaks.count * graphs.count) { i in
        BeamBatching.schedule(
          graphs[i % graphs.count], width: width,
          tieBreak: tieBreaks[i / graphs.count]
        ).moves
      }
      var imitated: [FSMTable] = []
      // Every decision of every beam, for the ranking rule: candidates' features and table
      // types, and the one the beam ran.
      var decisions: [(features: [Double], types: [Int32], chosen: Int)] = []
      for b in tieBreaks.indices {
        var imitation = table
        for (g, graph) in graphs.enumerated() {
          let moves = beamMoves[b * graphs.count + g]
          var run = BatchingRun(graph: graph, recordSchedule: false)
          for move in moves {
            run.runUnbatched()
            let s = imitation.addState(encoders[g].key(run))
            imitation.update(
              state: s, action: encoders[g].tableType[Int(move)], toward: 0, rate: 1)
            if options.learnRule, run.readyTypes.count > 1 {
              decisions.append(
                (
                  RankedRule.features(run), run.readyTypes.map { encoders[g].tableType[Int($0)] },
                  run.readyTypes.firstIndex(of: move) ?? 0
                ))
            }
            run.runBatch(type: Int(move))
          }
        }
        imitation.chooseMostVisited()
        imitated.append(imitation)
      }
      if !decisions.isEmpty {
        let fitted = RankedRule.fit(decisions, typeCount: table.typeNames.count)
        var ranked = table
        ranked.rankWeights = fitted.weights
        ranked.rankBias = fitted.bias
        // Keep the learned rule only when, alone (every decision its own), it beats the fixed
        // rule on the training graphs.
        if count(ranked) < count(table) {
          table = ranked
          for i in imitated.indices {
            imitated[i].rankWeights = fitted.weights
            imitated[i].rankBias = fitted.bias
          }
        }
      }
      imitations = imitated.map { ($0, count($0)) }
      imitations.sort { $0.batches < $1.batches }
      table = imitations[0].table
    }
    let imitated = imitations.first?.table
    var best = table
    var bestBatches = imitations.first?.batches ?? evaluate(table)
    progress(0, bestBatches, lowerBound)
    var episodesRun = 0
    var epsilon = options.epsilon
    var episode = 0
    while episode < options.episodes {
      if Double(bestBatches) <= options.stopRatio * Double(lowerBound) { break }
      // A round of episodes runs on the same table (in parallel when the runner allows); their
      // updates are applied in episode order, so the result depends only on the seed and the
      // round size.
      var specs: [EpisodeSpec] = []
      while specs.count < max(options.roundSize, 1) && episode < options.episodes {
        specs.append(EpisodeSpec(index: episode, graph: episode % graphs.count, epsilon: epsilon))
        epsilon = max(options.epsilonMin, epsilon * options.epsilonDecay)
        episode += 1
      }
      let context = EpisodeContext(
        table: table, imitated: imitated, graphs: graphs, encoders: encoders, seed: options.seed)
      let trajectories = runRound(specs) { context.run($0) }
      for (spec, trajectory) in zip(specs, trajectories) {
        let states = trajectory.keys.map { table.addState($0) }
        let (actions, rewards) = (trajectory.actions, trajectory.rewards)
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
        episodesRun = spec.index + 1
        if episodesRun % options.evaluateEvery == 0 || episodesRun == options.episodes {
          let batches = evaluate(table)
          if batches < bestBatches {
            bestBatches = batches
            best = table
          }
          progress(episodesRun, bestBatches, lowerBound)
        }
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
    let starts =
      [best, final, ruleOnly] + imitations.map(\.table).filter { $0 != best }
    var evaluations = 0
    let share = options.refineEvaluations / starts.count
    var result = best
    var resultBatches = bestBatches
    // Every start but the last refines on its own share, independently of the others: they run
    // side by side (cores permitting). The last takes what they left, so it runs after them.
    // The results are then taken in start order, as one after the other would.
    let firstBatches = bestBatches
    let refined = Parallel.map(starts.count - 1) { i in
      var candidate = starts[i]
      var batches = i == 0 ? firstBatches : count(candidate)
      let used = refine(&candidate, batches: &batches, budget: share)
      return (candidate, batches, used)
    }
    for i in starts.indices {
      var (candidate, batches, used) = i < refined.count ? refined[i] : (starts[i], 0, 0)
      if i + 1 == starts.count {
        batches = i == 0 ? bestBatches : count(candidate)
        used = refine(
          &candidate, batches: &batches, budget: options.refineEvaluations - evaluations)
      }
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
    @Sendable func refine(_ best: inout FSMTable, batches bestBatches: inout Int, budget: Int)
      -> Int
    {
      var evaluations = 0
      refinement: while evaluations < budget {
        addVisitedStates(&best)
        // The current table's runs, recorded at its first trial (the table just changed).
        var recorded: [RecordedRun] = []
        // The current table's back-off votes and choices, once built.
        var backoff: BackoffVotes?
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
            evaluations += 1
            guard resumesTrials else {
              let batches = count(trial)
              if batches < bestBatches {
                best = trial
                bestBatches = batches
                improved = true
              }
              continue
            }
            if recorded.isEmpty {
              recorded = graphs.map { RecordedRun(graph: $0, table: best) }
            }
            // The trial's back-off choices are the current table's but where s's vote changes
            // the choice of one of its coarser keys.
            let votes = !best.actions[s].isEmpty
            var patch: [(key: [Int32], choice: Int32?)] = []
            if votes {
              if backoff == nil { backoff = BackoffVotes(best) }
              patch = backoff!.patch(trial, changing: s, of: best)
            }
            // Where each graph's run under the trial can first differ from the recorded one: at
            // state s choosing otherwise, or at a miss that backs off to a patched key.
            let changes = recorded.map {
              $0.change(state: s, type: candidate, backoffKeys: patch.map(\.key))
            }
            let departures = zip(recorded, changes).map { $0.departure($1) }
            if backoff == nil
              && zip(recorded, departures).contains(where: { $1 < $0.decisionCount })
            {
              backoff = BackoffVotes(best)
            }
            var batches = 0
            for g in recorded.indices {
              batches += recorded[g].batches(
                trial, change: changes[g], departingAt: departures[g], backoff: backoff?.choices,
                patch: patch)
            }
            if batches < bestBatches {
              best = trial
              bestBatches = batches
              improved = true
              if votes { backoff = nil }
              for g in recorded.indices where departures[g] < recorded[g].decisionCount {
                recorded[g].record(best, from: departures[g])
              }
            }
          }
        }
        if !improved { break }
      }
      return evaluations
    }

    @Sendable func addVisitedStates(_ table: inout FSMTable) {
      for (g, graph) in graphs.enumerated() {
        var policy = FSMPolicy(table: table, graph: graph)
        var run = BatchingRun(graph: graph, recordSchedule: false)
        var added: [(key: [Int32], choice: Int32)] = []
        while true {
          run.runUnbatched()
          if run.isFinished { break }
          let key = encoders[g].key(run)
          let backoffs = policy.backoffs
          let choice = policy.choose(run)
          if table.state(key) == nil && !key.contains(StateEncoder.unknownType) {
            // Keep the decision: the back-off table's choice, or none (the rule decides).
            added.append((key, policy.backoffs > backoffs ? encoders[g].tableType[choice] : -1))
          }
          run.runBatch(type: choice)
        }
        for (key, choice) in added where table.state(key) == nil {
          table.choices[table.addState(key)] = choice
        }
      }
    }
    if evaluations > 0 { progress(episodesRun, bestBatches, lowerBound) }
    return Result(
      table: best, episodes: episodesRun, bestBatches: bestBatches, lowerBound: lowerBound,
      batchesBeforeRefinement: beforeRefinement, refineEvaluations: evaluations)
  }
}

/// A table's back-off votes and choices (`FSMPolicy.backoffVotes`), from which those of the
/// table with one state's choice changed follow.
struct BackoffVotes {
  let votes: [[Int32]: [Int32: Int]]
  let choices: [[Int32]: Int32]

  init(_ table: FSMTable) {
    votes = FSMPolicy.backoffVotes(table)
    choices = votes.mapValues { FSMPolicy.backoffWinner($0) ?? -1 }
  }

  /// The choices of `changed`, which differs from `table` (these votes') only in state s's
  /// choice, where they differ from `choices` (nil: the key has none); only s's coarser keys can.
  func patch(_ changed: FSMTable, changing s: Int, of table: FSMTable) -> [(
    key: [Int32], choice: Int32?
  )] {
    let (old, new) = (
      FSMPolicy.backoffVote(table, state: s), FSMPolicy.backoffVote(changed, state: s)
    )
    return FSMTable.backoffKeys(table.stateKeys[s], encoding: table.encoding).compactMap { coarse in
      var counts = votes[coarse] ?? [:]
      if let old {
        counts[old.type]! -= old.weight
        if counts[old.type] == 0 { counts[old.type] = nil }
      }
      if let new { counts[new.type, default: 0] += new.weight }
      let choice = FSMPolicy.backoffWinner(counts)
      return choice == choices[coarse] ? nil : (coarse, choice)
    }
  }
}

/// A table's run on one graph, recorded for refinement's trials: a trial changes one state's
/// choice, so until its run first looks that state up (or, when that changes back-off choices,
/// first misses the table with a key that backs off to one of them) it makes the recorded
/// decisions and reaches the recorded run states. It then runs from the last checkpoint before
/// that decision, replaying the recorded choices up to it. When its run comes back to a recorded
/// run state (the same nodes executed, the same last batch type), it makes the recorded decisions
/// again from there up to the next such decision, so it jumps there.
struct RecordedRun {
  let graph: BatchingGraph
  /// Per decision: the table state looked up (-1 for a miss) and the graph type chosen.
  private var states: [Int32] = []
  private var choices: [Int32] = []
  /// Per decision: a miss's coarser keys (`FSMTable.backoffKeys`), empty for the others.
  private var missBackoffKeys: [[[Int32]]] = []
  /// Per decision, while they fit in `bitsBudget` words: the run's executed nodes before it
  /// (`BatchingRun.executedBits`), which tell a run state without replaying to it.
  private var bitsAt: [[UInt64]] = []
  private let bitsBudget = 4 << 20
  /// Per decision, the run before it: its executed node count, batch count, last batch type,
  /// and the hash of its executed batchable nodes (`nodeKey`).
  private var executedAt: [Int] = []
  private var batchesAt: [Int] = []
  private var lastTypeAt: [Int32] = []
  private var hashAt: [UInt64] = []
  /// The run before decision `i * stride` (its unbatched nodes run), for each i.
  private var checkpoints: [BatchingRun] = []
  private var stride = 1
  /// The recorded run's batch count.
  private(set) var batchCount = 0
  /// Most checkpoints kept: when more are taken, every other goes and the stride doubles.
  private let maxCheckpoints: Int
  /// Table type index → graph type index (-1 when the graph lacks it), as `FSMPolicy` maps them.
  private let graphTypes: [Int32]

  /// A trial's change: state `state` chooses graph type `type`, and the back-off choices of
  /// `backoffKeys` differ (then a miss that backs off to one of them may decide otherwise).
  struct Change {
    var state: Int32
    var type: Int32
    var backoffKeys: [[Int32]]
  }

  init(graph: BatchingGraph, table: FSMTable) {
    self.graph = graph
    // Each checkpoint holds a few words per node; keep them within about 64 MB (an even count).
    maxCheckpoints = min(64, max(4, (64 << 20) / (16 * max(graph.nodeCount, 1)))) & ~1
    var graphTypes = [Int32](repeating: -1, count: table.typeNames.count)
    for (g, name) in graph.typeNames.enumerated() {
      if let t = table.knownTypeIndex(name) { graphTypes[Int(t)] = Int32(g) }
    }
    self.graphTypes = graphTypes
    record(table, from: 0)
  }

  var decisionCount: Int { states.count }

  /// The change of a trial whose state s chooses table type `type`.
  func change(state s: Int, type: Int32, backoffKeys: [[Int32]]) -> Change {
    Change(state: Int32(s), type: graphTypes[Int(type)], backoffKeys: backoffKeys)
  }

  /// The first decision from `start` on where a trial's run can depart from the recorded one:
  /// one at the changed state that chose otherwise, or a miss that backs off to a changed key.
  /// `decisionCount` when there is none.
  func departure(_ change: Change, from start: Int = 0) -> Int {
    for i in start..<states.count {
      if states[i] == change.state {
        if choices[i] != change.type { return i }
      } else if states[i] < 0 && !change.backoffKeys.isEmpty
        && missBackoffKeys[i].contains(where: change.backoffKeys.contains)
      {
        return i
      }
    }
    return states.count
  }

  /// A node's random key; a run's hash is the XOR of the keys of its executed batchable nodes.
  static func nodeKey(_ n: Int32) -> UInt64 {
    var z = UInt64(UInt32(bitPattern: n)) &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Runs batch `type` on `run` and adds its nodes to `hash`.
  private static func runBatch(_ run: inout BatchingRun, type: Int, hash: inout UInt64) {
    for n in run.ready[type] { hash ^= nodeKey(n) }
    run.runBatch(type: type)
    run.runUnbatched()
  }

  /// Records `table`'s run from decision `start` on, which must agree with the recorded run
  /// before it.
  mutating func record(_ table: FSMTable, from start: Int) {
    var run: BatchingRun
    var hash: UInt64 = 0
    if checkpoints.isEmpty {
      run = BatchingRun(graph: graph, recordSchedule: false)
      run.runUnbatched()
    } else {
      (run, hash) = recordedRun(before: start)
      checkpoints.removeSubrange((start / stride + 1)...)
    }
    states.removeSubrange(start...)
    choices.removeSubrange(start...)
    missBackoffKeys.removeSubrange(start...)
    bitsAt.removeSubrange(min(start, bitsAt.count)...)
    executedAt.removeSubrange(start...)
    batchesAt.removeSubrange(start...)
    lastTypeAt.removeSubrange(start...)
    hashAt.removeSubrange(start...)
    var policy = FSMPolicy(table: table, graph: graph)
    while !run.isFinished {
      if states.count % stride == 0 && states.count / stride == checkpoints.count {
        if checkpoints.count == maxCheckpoints {
          checkpoints = checkpoints.indices.filter { $0 % 2 == 0 }.map { checkpoints[$0] }
          stride *= 2
        }
        if states.count % stride == 0 { checkpoints.append(run) }
      }
      executedAt.append(run.executed)
      batchesAt.append(run.batchCount)
      lastTypeAt.append(run.lastBatchType)
      hashAt.append(hash)
      if (bitsAt.count + 1) * run.executedBits.count <= bitsBudget {
        bitsAt.append(run.executedBits)
      }
      let (choice, state, key) = policy.decide(run)
      states.append(Int32(state))
      choices.append(Int32(choice))
      missBackoffKeys.append(state < 0 ? FSMTable.backoffKeys(key, encoding: table.encoding) : [])
      Self.runBatch(&run, type: choice, hash: &hash)
    }
    batchCount = run.batchCount
  }

  /// Runs the recorded decisions `from..<to` on `run`, which stands before decision `from`.
  private func replay(_ run: inout BatchingRun, from: Int, to: Int, hash: inout UInt64) {
    for i in from..<to { Self.runBatch(&run, type: Int(choices[i]), hash: &hash) }
  }

  /// The recorded run before decision `d` and its hash: the last checkpoint before it, replayed
  /// up to it.
  private func recordedRun(before d: Int) -> (run: BatchingRun, hash: UInt64) {
    var run = checkpoints[d / stride]
    var hash = hashAt[d / stride * stride]
    replay(&run, from: d / stride * stride, to: d, hash: &hash)
    return (run, hash)
  }

  /// The recorded decision whose run state `run` (with hash `hash`) is, if any.
  private func recordedDecision(of run: BatchingRun, hash: UInt64) -> Int? {
    // Executed counts grow from decision to decision.
    var (low, high) = (0, executedAt.count)
    while low < high {
      let mid = (low + high) / 2
      if executedAt[mid] < run.executed { low = mid + 1 } else { high = mid }
    }
    guard low < executedAt.count, executedAt[low] == run.executed, hashAt[low] == hash,
      lastTypeAt[low] == run.lastBatchType,
      (low < bitsAt.count ? bitsAt[low] : recordedRun(before: low).run.executedBits)
        == run.executedBits
    else { return nil }
    return low
  }

  /// The batch count of `table`'s run, which differs from the recorded table by `change`
  /// (`departure(_:)` is `departure`). `backoff` and `patch`: its back-off choices when known
  /// (`FSMPolicy.init`).
  func batches(
    _ table: FSMTable, change: Change, departingAt departure: Int,
    backoff: [[Int32]: Int32]?, patch: [(key: [Int32], choice: Int32?)]
  ) -> Int {
    var policy = FSMPolicy(table: table, graph: graph, backoff: backoff, backoffPatch: patch)
    // The trial's batches so far minus the recorded run's at the same run state.
    var offset = 0
    var departure = departure
    var current: (run: BatchingRun, hash: UInt64, decision: Int)?
    while departure < states.count {
      var run: BatchingRun
      var hash: UInt64
      if let current, departure - current.decision <= stride {
        (run, hash) = (current.run, current.hash)
        replay(&run, from: current.decision, to: departure, hash: &hash)
      } else {
        offset += current.map { $0.run.batchCount - batchesAt[$0.decision] } ?? 0
        (run, hash) = recordedRun(before: departure)
      }
      current = nil
      while !run.isFinished {
        Self.runBatch(&run, type: policy.choose(run), hash: &hash)
        if !run.isFinished, let j = recordedDecision(of: run, hash: hash) {
          current = (run, hash, j)
          break
        }
      }
      guard let at = current else { return offset + run.batchCount }
      departure = self.departure(change, from: at.decision)
    }
    return offset + (current.map { $0.run.batchCount - batchesAt[$0.decision] } ?? 0) + batchCount
  }
}

/// One training episode to run: its index (which seeds its random choices), the graph, and
/// the exploration rate.
public struct EpisodeSpec: Sendable {
  public var index: Int
  public var graph: Int
  public var epsilon: Double
}

/// What one episode did: the state keys it met, the action it took in each (table type
/// indices) and the reward.
public struct Trajectory: Sendable {
  public var keys: [[Int32]] = []
  public var actions: [Int32] = []
  public var rewards: [Double] = []

  public init() {}
}

/// The read-only inputs of a round of episodes.
struct EpisodeContext: Sendable {
  let table: FSMTable
  let imitated: FSMTable?
  let graphs: [BatchingGraph]
  let encoders: [StateEncoder]
  let seed: UInt64

  /// One ε-greedy episode. Greedy: the fallback rule (or the imitated choice) is the prior and
  /// is tried first in every state, so the table only departs from it where that proved better.
  func run(_ spec: EpisodeSpec) -> Trajectory {
    var rng = SeededGenerator(seed: seed &+ UInt64(spec.index) &* 0x9E37_79B9_7F4A_7C15)
    let graph = graphs[spec.graph]
    let encoder = encoders[spec.graph]
    let rule = table.rankedRule(tableType: encoder.tableType)
    var trajectory = Trajectory()
    var run = BatchingRun(graph: graph, recordSchedule: false)
    while true {
      run.runUnbatched()
      if run.isFinished { break }
      let key = encoder.key(run)
      let s = table.state(key)
      let choice: Int
      if rng.unit() < spec.epsilon {
        choice = Int(run.readyTypes[Int(rng.next() % UInt64(run.readyTypes.count))])
      } else {
        var prior = table.fallbackChoice(run, rule: rule)
        if let imitated, let i = imitated.state(key), imitated.choices[i] >= 0,
          let t = run.readyTypes.first(where: { encoder.tableType[Int($0)] == imitated.choices[i] })
        {
          prior = Int(t)
        }
        if let s, table.value(state: s, action: encoder.tableType[prior]) != nil {
          let best = table.bestAction(state: s) { action in
            run.readyTypes.contains { encoder.tableType[Int($0)] == action }
          }
          choice =
            best.flatMap { action in run.readyTypes.first { encoder.tableType[Int($0)] == action } }
            .map(Int.init) ?? prior
        } else {
          choice = prior
        }
      }
      trajectory.keys.append(key)
      trajectory.actions.append(encoder.tableType[choice])
      trajectory.rewards.append(run.reward(type: choice))
      run.runBatch(type: choice)
    }
    return trajectory
  }
}
