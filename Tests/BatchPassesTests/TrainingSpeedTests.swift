import BatchIR
import Testing
import Workloads

@testable import BatchPasses

/// Refinement evaluates a trial from where its run can first depart from the current table's
/// recorded run (`RecordedRun`) instead of running it whole: the table, the counts and the
/// evaluations used must be exactly those of full runs.
@Suite struct TrainingSpeedTests {
  /// Short training that still refines (debug tests take seconds).
  static func options(refine: Int) -> QLearningOptions {
    var options = QLearningOptions()
    options.episodes = 30
    options.evaluateEvery = 10
    options.imitationWidth = 16
    options.refineEvaluations = refine
    return options
  }

  static func generated(_ model: WorkloadFamily, instances: Int, seed: UInt64) -> BatchingGraph {
    var workload = WorkloadOptions()
    workload.instances = instances
    workload.seed = seed
    return BatchingGraph(WorkloadGenerator.generate(model, options: workload))
  }

  /// Trains with resumed trials and with full runs, and expects the same result.
  static func expectSameTraining(
    _ graphs: [BatchingGraph], encoding: StateEncoding, options: QLearningOptions
  ) {
    var full = FSMTrainer(graphs: graphs, encoding: encoding, options: options)
    full.resumesTrials = false
    let expected = full.train()
    let resumed = FSMTrainer(graphs: graphs, encoding: encoding, options: options).train()
    #expect(resumed.table == expected.table)
    #expect(resumed.table.text() == expected.table.text())
    #expect(resumed.bestBatches == expected.bestBatches)
    #expect(resumed.refineEvaluations == expected.refineEvaluations)
    #expect(resumed.batchesBeforeRefinement == expected.batchesBeforeRefinement)
    #expect(resumed.episodes == expected.episodes)
    // The test means something only when refinement ran.
    #expect(expected.refineEvaluations > 0)
  }

  /// Generated lattices, one and several graphs, with and without back-off keys.
  @Test(arguments: [StateEncoding.phased, .critical, .history, .max])
  func resumedTrialsGiveFullRunResults(encoding: StateEncoding) {
    let graphs = [
      Self.generated(.latticeLSTM, instances: 4, seed: 3),
      Self.generated(.latticeGRU, instances: 3, seed: 5),
    ]
    Self.expectSameTraining([graphs[0]], encoding: encoding, options: Self.options(refine: 300))
    Self.expectSameTraining(graphs, encoding: encoding, options: Self.options(refine: 300))
  }

  /// Without imitation, Q-learning's states vote for back-off choices with their visits.
  @Test func resumedTrialsWithoutImitation() {
    var options = Self.options(refine: 400)
    options.imitationWidth = 0
    options.episodes = 60
    options.stopRatio = 0  // refine to the budget
    let graph = Self.generated(.latticeLSTM, instances: 5, seed: 7)
    Self.expectSameTraining([graph], encoding: .phased, options: options)
  }

  /// ED-Batch corpus graphs (refined to the budget where the bound would stop it early).
  @Test(arguments: [("lattice-b64/G0", 1.01), ("treenn-b64/G0", 0), ("seq2seq-b64/G0", 0)])
  func resumedTrialsOnCorpusGraphs(file: String, stopRatio: Double) throws {
    let graph = BatchingGraph(try importCorpus("edbatch/\(file).txt"))
    var options = Self.options(refine: 200)
    options.stopRatio = stopRatio
    Self.expectSameTraining([graph], encoding: .phased, options: options)
  }

  /// A recorded run resumed at any decision gives the full run's count.
  @Test func recordedRunResumesAtEveryDecision() {
    let graph = Self.generated(.latticeLSTM, instances: 3, seed: 11)
    let table = FSMTable(encoding: .phased, typeNames: graph.typeNames)
    let recorded = RecordedRun(graph: graph, table: table)
    var policy = FSMPolicy(table: table, graph: graph)
    let full = BatchingRun.countBatches(graph, policy: &policy)
    #expect(recorded.batchCount == full)
    for d in 0...recorded.decisionCount {
      // The same table: the count is the same whatever the departure.
      let change = recorded.change(state: -2, type: 0, backoffKeys: [])
      #expect(
        recorded.batches(table, change: change, departingAt: d, backoff: nil, patch: []) == full)
    }
  }
}
