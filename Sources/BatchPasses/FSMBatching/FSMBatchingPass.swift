import BatchIR

/// `fsm-batch`: decides which nodes run together. Writes the module's schedule.
///
/// Policies: `fsm` (ED-Batch's learned finite-state machine, the default), `agenda` (DyNet),
/// `agenda-dynamic` (ED-Batch's variant), `depth` (TF-Fold/DyNet), `typewise` (greedy on the
/// reward), `exact` (A* optimum for small graphs).
public struct FSMBatchingPass: Pass {
  public static let name = "fsm-batch"
  public static let summary =
    "batch nodes of one op type together (ED-Batch FSM, DyNet agenda/depth, exact)"
  public static let optionSummary = [
    "policy=fsm|agenda|agenda-dynamic|depth|typewise|exact|beam: how to choose the next batch (fsm)",
    "encoding=base|sort|max|frontier|history|critical: FSM state encoding (critical)",
    "imitate=N: imitate beam search of width N before Q-learning, 0 for none (64)",
    "load=FILE: apply a trained FSM policy instead of training on the input",
    "episodes=N: training episodes (1000)",
    "n-step=N: n-step return length (10)",
    "gamma=X: discount (1.0)",
    "alpha=X: learning rate (0.4)",
    "epsilon=X: initial exploration rate (0.5)",
    "epsilon-decay=X: exploration decay per episode (0.9)",
    "epsilon-min=X: exploration floor (0.05)",
    "eval-every=N: greedy evaluation period in episodes (50)",
    "stop-ratio=X: stop when a greedy run is within X times the lower bound (1.01)",
    "seed=N: random seed for training (1)",
    "refine=N: most evaluations of the FSM refinement after Q-learning, 0 for none (4000)",
    "max-states=N: search limit of policy=exact (1000000)",
    "sample=N: train on every k-th instance, at most N nodes, when the input is larger (4096)",
    "width=N: states kept per step by policy=beam (64)",
    "prove=N: A* expansions per relaxation of the proven lower bound when the schedule is above the path bound, 0 for the path bound only (2000)",
    "tie=ready|progress|order|spread|mixed: order of equal estimates in policy=beam (ready)",
  ]
  public static let requires: [ModulePart] = []
  public static let produces: [ModulePart] = [.schedule]

  public enum Policy: String, CaseIterable, Sendable {
    case fsm, agenda, agendaDynamic = "agenda-dynamic", depth, typewise, exact, beam
  }

  public var policy: Policy
  public var training: QLearningOptions
  public var encoding: StateEncoding
  public var loadPath: String?
  public var maxStates: Int
  public var beamWidth: Int
  public var trainingSample: Int
  public var proofBudget: Int
  public var tieBreak: BeamTieBreak

  public init(options: inout PassOptions) throws(Diagnostic) {
    let policyName = try options.choice(
      "policy", Policy.allCases.map(\.rawValue), default: Policy.fsm.rawValue)
    policy = Policy(rawValue: policyName) ?? .fsm
    encoding =
      StateEncoding(
        rawValue: try options.choice(
          "encoding", StateEncoding.allCases.map(\.rawValue),
          default: StateEncoding.critical.rawValue))
      ?? .sort
    loadPath = options.take("load")?.value
    var training = QLearningOptions()
    training.episodes = try options.int(
      "episodes", default: training.episodes, range: 1...10_000_000)
    training.nStep = try options.int("n-step", default: training.nStep, range: 1...10_000)
    training.gamma = try options.double("gamma", default: training.gamma, range: 0...1)
    training.alpha = try options.double("alpha", default: training.alpha, range: 0...1)
    training.epsilon = try options.double("epsilon", default: training.epsilon, range: 0...1)
    training.epsilonDecay = try options.double(
      "epsilon-decay", default: training.epsilonDecay, range: 0...1)
    training.epsilonMin = try options.double(
      "epsilon-min", default: training.epsilonMin, range: 0...1)
    training.evaluateEvery = try options.int(
      "eval-every", default: training.evaluateEvery, range: 1...10_000_000)
    training.stopRatio = try options.double(
      "stop-ratio", default: training.stopRatio, range: 0...1000)
    training.seed = UInt64(try options.int("seed", default: Int(training.seed), range: 0...Int.max))
    training.refineEvaluations = try options.int(
      "refine", default: training.refineEvaluations, range: 0...100_000_000)
    training.imitationWidth = try options.int(
      "imitate", default: training.imitationWidth, range: 0...10_000_000)
    self.training = training
    maxStates = try options.int("max-states", default: 1_000_000, range: 1...100_000_000)
    beamWidth = try options.int("width", default: 64, range: 1...10_000_000)
    trainingSample = try options.int("sample", default: 4096, range: 1...Int(Int32.max))
    proofBudget = try options.int("prove", default: 2000, range: 0...100_000_000)
    tieBreak =
      BeamTieBreak(
        rawValue: try options.choice(
          "tie", BeamTieBreak.allCases.map(\.rawValue), default: BeamTieBreak.ready.rawValue))
      ?? .ready
  }

  public init(
    policy: Policy, encoding: StateEncoding = .critical,
    training: QLearningOptions = QLearningOptions()
  ) {
    self.policy = policy
    self.encoding = encoding
    self.training = training
    self.maxStates = 1_000_000
    self.beamWidth = 64
    self.trainingSample = 4096
    self.proofBudget = 2000
    self.tieBreak = .ready
  }

  public func run(on module: inout Module, statistics: inout PassStatistics) throws(Diagnostic) {
    let graph = BatchingGraph(module)
    var schedule: Schedule
    var fsmStatistics = PassStatistics()
    switch policy {
    case .agenda:
      var p = AgendaPolicy()
      schedule = BatchingRun.schedule(graph, policy: &p, name: policy.rawValue)
    case .agendaDynamic:
      var p = DynamicAgendaPolicy()
      schedule = BatchingRun.schedule(graph, policy: &p, name: policy.rawValue)
    case .typewise:
      var p = TypewisePolicy()
      schedule = BatchingRun.schedule(graph, policy: &p, name: policy.rawValue)
    case .depth:
      schedule = DepthBatching.schedule(graph)
    case .exact:
      schedule = try ExactBatching.schedule(graph, maxStates: maxStates)
    case .beam:
      let result = BeamBatching.schedule(graph, width: beamWidth, tieBreak: tieBreak)
      schedule = result.schedule
      fsmStatistics.set("states_expanded", result.statesExpanded)
    case .fsm:
      let table: FSMTable
      if let loadPath {
        table = try FSMTable.load(path: loadPath)
        try table.checkCompatible(with: graph, file: loadPath)
      } else {
        let clock = ContinuousClock()
        let start = clock.now
        let sample = TrainingSample(module, maxNodes: trainingSample)
        let trainingGraph = sample.map { BatchingGraph($0.module) } ?? graph
        let result = FSMTrainer(graphs: [trainingGraph], encoding: encoding, options: training)
          .train()
        let elapsed = clock.now - start
        table = result.table
        fsmStatistics.set("trained_nodes", trainingGraph.nodeCount)
        fsmStatistics.set("episodes", result.episodes)
        fsmStatistics.set("refine_evaluations", result.refineEvaluations)
        fsmStatistics.set(
          "train_ms",
          elapsed.inMilliseconds
            .rounded())
      }
      var p = FSMPolicy(table: table, graph: graph)
      schedule = BatchingRun.schedule(graph, policy: &p, name: policy.rawValue)
      fsmStatistics.set("fallbacks", p.fallbacks)
      if table.encoding == .history || table.encoding == .critical {
        fsmStatistics.set("backoffs", p.backoffs)
      }
    }
    statistics.set("batches", schedule.batchCount)
    // A schedule that meets the path bound proves it optimal: no relaxation can raise the bound.
    let pathBound = graph.lowerBound()
    let bounds = BatchBounds(
      graph, budget: schedule.batchCount > pathBound ? proofBudget : 0)
    statistics.set("lower_bound", bounds.provenBound)
    statistics.set("path_lower_bound", bounds.pathBound)
    for entry in fsmStatistics.entries { statistics.set(entry.name, entry.value) }
    module.schedule = schedule
    module.layout = nil  // a layout belongs to the schedule it was made for
  }
}
