import BatchIR
import Testing
import Workloads

@testable import BatchPasses

/// `fsm-batch` training at scale: skipping it when the fallback rule is already optimal on the
/// training graph, and the work that runs side by side (the proven bound beside the training, the
/// imitation beams beside each other), which must not change any result.
@Suite struct ParallelTrainingTests {
  static func generated(_ model: WorkloadFamily, instances: Int, seed: UInt64) -> Module {
    var workload = WorkloadOptions()
    workload.instances = instances
    workload.seed = seed
    return WorkloadGenerator.generate(model, options: workload)
  }

  /// Short training, so the debug tests take seconds.
  static func pass() -> FSMBatchingPass {
    var pass = FSMBatchingPass()
    pass.training.episodes = 20
    pass.training.imitationWidth = 16
    pass.training.refineEvaluations = 200
    return pass
  }

  static func run(_ pass: FSMBatchingPass, on module: Module) throws -> (Module, PassStatistics) {
    var result = module
    var statistics = PassStatistics()
    try pass.run(on: &result, statistics: &statistics)
    return (result, statistics)
  }

  /// Trees and chains: the rule alone meets the path bound on the training sample, so the empty
  /// table is optimal there; nothing is trained, and the schedule is the rule's.
  @Test(arguments: [WorkloadFamily.treeLSTM, .bilstmTagger])
  func ruleOptimalSampleSkipsTraining(model: WorkloadFamily) throws {
    let module = Self.generated(model, instances: 40, seed: 1)
    var pass = Self.pass()
    pass.trainingSample = 600
    let (result, statistics) = try Self.run(pass, on: module)
    #expect(statistics["episodes"] == 0)
    #expect(statistics["trained_nodes"] == 0)
    #expect(statistics["refine_evaluations"] == 0)
    let sampleNodes = try #require(statistics["sample_nodes"])
    #expect(sampleNodes > 0 && sampleNodes <= 600)
    // The empty table applied to the whole input gives the same schedule.
    let graph = BatchingGraph(module)
    var rule = FSMPolicy(table: FSMTable(encoding: pass.encoding), graph: graph)
    #expect(result.schedule == BatchingRun.schedule(graph, policy: &rule, name: "fsm"))
    #expect(statistics["fallbacks"] == statistics["batches"])
  }

  /// A lattice where the rule is above the path bound still trains.
  @Test func latticeStillTrains() throws {
    let module = Self.generated(.latticeLSTM, instances: 4, seed: 3)
    let graph = BatchingGraph(module)
    var rule = FSMPolicy(table: FSMTable(encoding: .phased), graph: graph)
    try #require(BatchingRun.countBatches(graph, policy: &rule) > graph.lowerBound())
    let (_, statistics) = try Self.run(Self.pass(), on: module)
    #expect(statistics["trained_nodes"] == Double(graph.nodeCount))
    #expect(statistics["sample_nodes"] == Double(graph.nodeCount))
    #expect((statistics["refine_evaluations"] ?? 0) > 0)
  }

  /// The proven bound computed beside the training is the one computed alone afterwards, and
  /// repeated runs (the beams and the bound scheduled differently each time) agree on
  /// everything but the time.
  @Test func workSideBySideIsDeterministic() throws {
    let module = Self.generated(.latticeLSTM, instances: 4, seed: 3)
    let pass = Self.pass()
    let (first, firstStatistics) = try Self.run(pass, on: module)
    let batches = try #require(firstStatistics["batches"])
    let pathBound = try #require(firstStatistics["path_lower_bound"])
    try #require(batches > pathBound, "the bound is only proven above the path bound")
    let alone = BatchBounds(BatchingGraph(module), budget: pass.proofBudget).provenBound
    #expect(firstStatistics["lower_bound"] == Double(alone))
    for _ in 0..<3 {
      let (again, statistics) = try Self.run(pass, on: module)
      #expect(again.schedule == first.schedule)
      for entry in firstStatistics.entries where entry.name != "train_ms" {
        #expect(statistics[entry.name] == entry.value, "\(entry.name)")
      }
    }
    // The trained table does not depend on the runs side by side either.
    let graph = BatchingGraph(module)
    let tables = (0..<2).map { _ in
      FSMTrainer(graphs: [graph, graph], encoding: .phased, options: pass.training).train().table
    }
    #expect(tables[0] == tables[1])
  }

  /// `Parallel.map` returns results in index order, as a sequential map would.
  @Test func parallelMapKeepsOrder() {
    let work: @Sendable (Int) -> [UInt64] = { i in
      var rng = SeededGenerator(seed: UInt64(i))
      return (0..<(1000 + 37 * i)).map { _ in rng.next() }
    }
    let sequential = (0..<24).map(work)
    for _ in 0..<3 { #expect(Parallel.map(24, work) == sequential) }
    let (a, b) = Parallel.both({ work(3) }, { work(5) })
    #expect(a == sequential[3] && b == sequential[5])
  }
}
