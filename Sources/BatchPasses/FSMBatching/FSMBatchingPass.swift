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
  public static var options: [PassOption<Self>] {
    [
      .choice("policy", \.policy, help: "how to choose the next batch"),
      .choice("encoding", \.encoding, help: "FSM state encoding"),
      .int(
        "imitate", \.training.imitationWidth, in: 0...16_384, syntax: "N",
        help: "imitate beam search of width N before Q-learning, 0 for none"),
      .string(
        "load", \.loadPath, syntax: "FILE",
        help: "apply a trained FSM policy instead of training on the input", default: "train"),
      .int(
        "episodes", \.training.episodes, in: 1...10_000_000, syntax: "N", help: "training episodes"),
      .int("n-step", \.training.nStep, in: 1...10_000, syntax: "N", help: "n-step return length"),
      .double("gamma", \.training.gamma, in: 0...1, help: "discount"),
      .double("alpha", \.training.alpha, in: 0...1, help: "learning rate"),
      .double("epsilon", \.training.epsilon, in: 0...1, help: "initial exploration rate"),
      .double(
        "epsilon-decay", \.training.epsilonDecay, in: 0...1, help: "exploration decay per episode"),
      .double("epsilon-min", \.training.epsilonMin, in: 0...1, help: "exploration floor"),
      .int(
        "eval-every", \.training.evaluateEvery, in: 1...10_000_000, syntax: "N",
        help: "greedy evaluation period in episodes"),
      .double(
        "stop-ratio", \.training.stopRatio, in: 0...1000,
        help: "stop when a greedy run is within X times the lower bound"),
      .int("seed", \.seedOption, in: 0...Int.max, syntax: "N", help: "random seed for training"),
      .int(
        "refine", \.training.refineEvaluations, in: 0...100_000_000, syntax: "N",
        help: "most evaluations of the FSM refinement after Q-learning, 0 for none"),
      .int(
        "max-states", \.maxStates, in: 1...100_000_000, syntax: "N",
        help: "search limit of policy=exact"),
      .int(
        "sample", \.trainingSample, in: 1...Int(Int32.max), syntax: "N",
        help: "train on every k-th instance, at most N nodes, when the input is larger"),
      .int(
        "width", \.beamWidth, in: 1...16_384, syntax: "N",
        help: "states kept per step by policy=beam"),
      .int(
        "prove", \.proofBudget, in: 0...1_000_000, syntax: "N",
        help:
          "A* expansions per relaxation of the proven lower bound when the schedule is above the path bound, 0 for the path bound only"
      ),
      .choice("tie", \.tieBreak, help: "order of equal estimates in policy=beam"),
    ]
  }
  public static let requires: [ModulePart] = []
  public static let produces: [ModulePart] = [.schedule]
  public static let invalidates: [ModulePart] = [.layout]

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
  /// For `policy=fsm`: a table given in process (trained once beforehand, `trainTable`), applied
  /// instead of loading one or training. Not a pipeline option.
  public var table: FSMTable? {
    didSet { tableBackoff = table.map(FSMPolicy.backoffChoices) }
  }
  /// The back-off choices of `table` (`FSMPolicy.backoffChoices`), built once when it is set
  /// rather than on every input it is applied to.
  private var tableBackoff: [[Int32]: Int32]?

  public init() { self.init(policy: .fsm) }

  /// The training seed as an option value.
  var seedOption: Int {
    get { Int(clamping: training.seed) }
    set { training.seed = UInt64(newValue) }
  }

  public init(
    policy: Policy, encoding: StateEncoding = .phased,
    training: QLearningOptions = QLearningOptions()
  ) {
    self.policy = policy
    self.encoding = encoding
    self.training = training
    self.maxStates = 1_000_000
    self.beamWidth = 64
    self.trainingSample = 4096
    self.proofBudget = 20_000
    self.tieBreak = .lowering
  }

  public func run(on module: inout Module, statistics: inout PassStatistics) throws(Diagnostic) {
    var fsmStatistics = PassStatistics()
    var provenAlongside: Int?
    // Training in the pass builds the whole graph (and proves its bound) beside the training.
    var trained: FSMTable?
    var built: BatchingGraph?
    if policy == .fsm && table == nil && loadPath == nil {
      let result = trainBesideGraph(module, statistics: &fsmStatistics)
      (trained, built, provenAlongside) = (result.table, result.graph, result.provenBound)
    }
    let graph = built ?? BatchingGraph(module)
    var schedule: Schedule
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
      if let given = self.table {
        table = given
        try table.checkCompatible(with: graph, file: "fsm-batch")
      } else if let loadPath {
        table = try FSMTable.load(path: loadPath)
        try table.checkCompatible(with: graph, file: loadPath)
      } else {
        table = trained ?? FSMTable(encoding: encoding)
      }
      // A table given in process brings its back-off choices; others build them on first need.
      var p = FSMPolicy(
        table: table, graph: graph, backoff: self.table != nil ? tableBackoff : nil)
      schedule = BatchingRun.schedule(graph, policy: &p, name: policy.rawValue)
      fsmStatistics.set("fallbacks", p.fallbacks)
      if table.encoding == .history || table.encoding.marksPaths {
        fsmStatistics.set("backoffs", p.backoffs)
      }
    }
    statistics.set("batches", schedule.batchCount)
    // The path bound reads the path counts at the graph's source nodes only (cheap); the proven
    // bound searches, and runs only when asked (`prove` > 0) and the schedule is above the path
    // bound: a schedule that meets it is optimal, no relaxation can raise the bound.
    let pathBound = graph.lowerBound()
    let provenBound =
      proofBudget > 0 && schedule.batchCount > pathBound
      ? provenAlongside ?? BatchBounds(graph, budget: proofBudget).provenBound : pathBound
    statistics.set("lower_bound", provenBound)
    statistics.set("path_lower_bound", pathBound)
    for entry in fsmStatistics.entries { statistics.set(entry.name, entry.value) }
    module.schedule = schedule
    module.layout = nil  // a layout belongs to the schedule it was made for
  }

  /// The default pass holding the table it trains on `module`, without the proven bound: what
  /// applying a trained table costs per mini-batch, without training or proving (the report's
  /// compile column and the apply benchmarks time it).
  public static func applying(tableTrainedOn module: Module) -> FSMBatchingPass {
    var pass = FSMBatchingPass()
    pass.proofBudget = 0
    var statistics = PassStatistics()
    pass.table = pass.trainTable(on: module, statistics: &statistics)
    return pass
  }

  /// Trains the FSM table on `module` as `run` does when given no table: on a bounded sample of
  /// its instances (`sample`) when it is larger, else on `graph` (the module's own, built when
  /// nil). Sets `sample_nodes`, `trained_nodes`, `episodes`, `refine_evaluations` and
  /// `train_ms`.
  ///
  /// When the fallback rule alone (the empty table) meets the path bound on the training graph,
  /// its schedule there is optimal and no table can do better: training is skipped and the
  /// empty table returned (`trained_nodes=0 episodes=0`).
  public func trainTable(
    on module: Module, graph: BatchingGraph? = nil, statistics: inout PassStatistics
  ) -> FSMTable {
    let sample = TrainingSample(module, maxNodes: trainingSample)
    return trainTable(
      on: sample.map { BatchingGraph($0.module) } ?? graph ?? BatchingGraph(module),
      statistics: &statistics
    ) { () }.table
  }

  /// Training as `run` does it: the table, the whole input's graph and, when `prove` > 0 and
  /// training ran, its proven bound. Neither the graph nor the bound depends on the table, so
  /// they are computed on the other core while the table trains on the sample (on the whole
  /// graph, built first, when the input is trained on whole).
  func trainBesideGraph(_ module: Module, statistics: inout PassStatistics) -> (
    table: FSMTable, graph: BatchingGraph, provenBound: Int?
  ) {
    let budget = proofBudget
    guard let sample = TrainingSample(module, maxNodes: trainingSample) else {
      let graph = BatchingGraph(module)
      let trained = trainTable(on: graph, statistics: &statistics) {
        budget > 0 ? BatchBounds(graph, budget: budget).provenBound : nil
      }
      return (trained.table, graph, trained.alongside ?? nil)
    }
    let whole = module
    let trained = trainTable(on: BatchingGraph(sample.module), statistics: &statistics) {
      // Training keeps the other core busy.
      let graph = BatchingGraph(whole, useBothCores: false)
      return (graph, budget > 0 ? BatchBounds(graph, budget: budget).provenBound : nil)
    }
    guard let built = trained.alongside else {
      return (trained.table, BatchingGraph(module), nil)
    }
    return (trained.table, built.0, built.1)
  }

  /// Trains on `trainingGraph` (the sample's, or the whole input's), running `alongside` on
  /// another core while the table trains; `alongside` is not run (nil) when training is skipped.
  /// It must not depend on the training.
  func trainTable<T>(
    on trainingGraph: BatchingGraph, statistics: inout PassStatistics,
    alongside: @Sendable () -> T
  ) -> (table: FSMTable, alongside: T?) {
    let clock = ContinuousClock()
    let start = clock.now
    statistics.set("sample_nodes", trainingGraph.nodeCount)
    let empty = FSMTable(
      encoding: encoding,
      typeNames: (0..<trainingGraph.typeCount).filter { !trainingGraph.unbatched[$0] }.map {
        trainingGraph.typeNames[$0]
      })
    var rule = FSMPolicy(table: empty, graph: trainingGraph)
    if BatchingRun.countBatches(trainingGraph, policy: &rule) <= trainingGraph.lowerBound() {
      statistics.set("trained_nodes", 0)
      statistics.set("episodes", 0)
      statistics.set("refine_evaluations", 0)
      statistics.set("train_ms", (clock.now - start).inMilliseconds.rounded())
      return (empty, nil)
    }
    let (encoding, options) = (encoding, training)
    let (result, other) = Parallel.both(
      { FSMTrainer(graphs: [trainingGraph], encoding: encoding, options: options).train() },
      alongside)
    let elapsed = clock.now - start
    statistics.set("trained_nodes", trainingGraph.nodeCount)
    statistics.set("episodes", result.episodes)
    statistics.set("refine_evaluations", result.refineEvaluations)
    statistics.set("train_ms", elapsed.inMilliseconds.rounded())
    return (result.table, other)
  }
}
