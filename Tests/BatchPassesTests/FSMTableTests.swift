import BatchIR
import BatchPasses
import Foundation
import TestSupport
import Testing
import Workloads

@Suite struct FSMTableTests {
  /// A small lattice: training there leaves real choices in the table (on trees and chains the
  /// fallback rule alone is optimal, and the table would be all fallbacks).
  static func lattice() -> Module {
    var workload = WorkloadOptions()
    workload.instances = 3
    workload.seed = 3
    return WorkloadGenerator.generate(.latticeLSTM, options: workload)
  }

  /// Training on the small lattice: 80 episodes, no early stop.
  func training(_ encoding: StateEncoding = .max) -> (FSMTrainer.Result, BatchingGraph) {
    let graph = BatchingGraph(Self.lattice())
    var options = QLearningOptions()
    options.episodes = 80
    options.stopRatio = 0
    return (FSMTrainer(graphs: [graph], encoding: encoding, options: options).train(), graph)
  }

  func trained(_ encoding: StateEncoding = .max) -> (FSMTable, BatchingGraph) {
    let (result, graph) = training(encoding)
    return (result.table, graph)
  }

  @Test(arguments: StateEncoding.allCases)
  func textFormRoundTrips(_ encoding: StateEncoding) throws {
    var (table, _) = trained(encoding)
    // On this small lattice refinement can end with the learned ranking rule deciding every
    // state; the greedy choices make a table with real choices to round-trip.
    if !table.choices.contains(where: { $0 >= 0 }) { table.chooseGreedily() }
    try #require(table.choices.contains { $0 >= 0 }, "a table of fallbacks only")
    let text = table.text()
    let parsed = try FSMTable.parse(text, file: "p.fsm")
    #expect(parsed == table)
    #expect(parsed.text() == text)
  }

  @Test func appliedTableReproducesTheTrainedCount() throws {
    let (result, graph) = training()
    var policy = FSMPolicy(table: try FSMTable.parse(result.table.text(), file: "p"), graph: graph)
    #expect(BatchingRun.countBatches(graph, policy: &policy) == result.bestBatches)
  }

  @Test func badPolicyFilesAreLocated() {
    func error(_ text: String) -> Diagnostic? {
      do {
        _ = try FSMTable.parse(text, file: "p.fsm")
        return nil
      } catch {
        return error
      }
    }
    #expect(error("")?.message.contains("empty policy file") == true)
    #expect(
      error("fsm-policy 9\n")?.headline
        == "p.fsm:1:12: error: unsupported policy format version 9; this tool reads 1")
    #expect(
      error("fsm-policy 1\nencoding wide\n")?.headline
        == "p.fsm:2:10: error: expected 'encoding base|sort|max|frontier|history|critical|phased'")
    #expect(
      error("fsm-policy 1\ntypes a b\nstate a c -> a : a=1/1\n")?.headline
        == "p.fsm:3:9: error: unknown type 'c' (not on the 'types' line)")
    #expect(
      error("fsm-policy 1\ntypes a b\nstate a -> b :\n")?.message.contains(
        "not one of the state's ready types") == true)
    #expect(
      error("fsm-policy 1\ntypes a b\nstate a -> a : a=x/1\n")?.message.contains(
        "TYPE=VALUE/VISITS") == true)
  }

  /// A learned ranking rule is written as `rank` and `bias` lines and read back exactly; a
  /// table applying it decides unseen states by it (here every state: the table has none).
  @Test func rankedRuleRoundTripsAndDecides() throws {
    let graph = BatchingGraph(Self.lattice())
    var table = FSMTable(encoding: .phased)
    for t in 0..<graph.typeCount where !graph.unbatched[t] {
      _ = table.typeIndex(for: graph.typeNames[t])
    }
    table.rankWeights = [1.5, -0.25, -0.75, 0.8125, 0.5, -0.125, -0.75]
    table.rankBias = table.typeNames.indices.map { Double($0) * 0.1 }
    let text = table.text()
    #expect(text.contains("\nrank tight=1.5 equal=-0.25 behind=-0.75 share=0.8125 chain=0.5"))
    let parsed = try FSMTable.parse(text, file: "p.fsm")
    #expect(parsed == table)
    #expect(parsed.text() == text)
    var policy = FSMPolicy(table: parsed, graph: graph)
    let count = BatchingRun.countBatches(graph, policy: &policy)
    var rule = RankedRule(
      weights: table.rankWeights!,
      bias: graph.typeNames.map { name in
        table.knownTypeIndex(name).map { table.rankBias[Int($0)] } ?? 0
      })
    #expect(count == BatchingRun.countBatches(graph, policy: &rule))
    #expect(
      policy.fallbacks == count
        - graph.nodeType.indices.filter {
          graph.unbatched[Int(graph.nodeType[$0])]
        }.count)
    #expect(
      (try? FSMTable.parse("fsm-policy 1\ntypes a b\nrank wide=1\n", file: "p.fsm")) == nil)
  }

  /// The rule's fit is deterministic (a fixed number of full-batch steps from zero) and learns
  /// what the decisions show: here the chosen candidate is always the tight one.
  @Test func rankedRuleFitIsDeterministic() {
    let width = RankedRule.featureNames.count
    func candidate(tight: Bool, share: Double) -> [Double] {
      [tight ? 1 : 0, tight ? 0 : 1, 0, share, 1, 0, share]
    }
    let decisions: [(features: [Double], types: [Int32], chosen: Int)] = (0..<20).map { i in
      let tightFirst = i % 2 == 0
      let a = candidate(tight: tightFirst, share: 0.25)
      let b = candidate(tight: !tightFirst, share: 0.75)
      return (a + b, [0, 1], tightFirst ? 0 : 1)
    }
    let first = RankedRule.fit(decisions, typeCount: 2, steps: 200)
    let second = RankedRule.fit(decisions, typeCount: 2, steps: 200)
    #expect(first.weights == second.weights && first.bias == second.bias)
    #expect(first.weights.count == width && first.bias.count == 2)
    #expect(first.weights[0] > 0 && first.weights[0] > first.weights[1])
  }

  @Test func tableMustKnowTheGraphsTypes() throws {
    let (table, _) = trained()
    let other = try parse("dg 1\ntype zz = op() -> f32[1]\ninstance s {\n  %a = zz()\n}\n")
    #expect(throws: Diagnostic.self) {
      try table.checkCompatible(with: BatchingGraph(other), file: "p.fsm")
    }
  }

  /// `load=FILE` through the pass applies the table as trained: the same batch count the trainer
  /// reached on the graph, and the same schedule as training in the pass itself.
  /// (A lattice, where the trained table beats its own fallback rule, so the table's choices
  /// matter.)
  @Test func loadAppliesAPolicyFile() throws {
    let module = Self.lattice()
    let (result, _) = training()
    let table = result.table
    let (ruleOnly, _) = try schedule(module, "fsm-batch{policy=typewise}")
    try #require(result.bestBatches < ruleOnly.batchCount)
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("fsm-\(UUID()).fsm")
      .path
    try writeFileAtomically(path, table.text())
    defer { try? FileManager.default.removeItem(atPath: path) }
    let (loaded, stats) = try schedule(module, "fsm-batch{load=\(path)}")
    #expect(loaded.batchCount == result.bestBatches)
    #expect(stats["episodes"] == nil)
    let (inPass, _) = try schedule(module, "fsm-batch{encoding=max,episodes=80,stop-ratio=0}")
    #expect(inPass.batchCount == result.bestBatches)
    #expect(loaded.nodes == inPass.nodes)
    #expect(loaded.batchType == inPass.batchType)
  }
}
