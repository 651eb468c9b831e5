import BatchIR
import BatchPasses
import Foundation
import TestSupport
import Testing

@Suite struct FSMTableTests {
  func trained(_ encoding: StateEncoding = .max) -> (FSMTable, BatchingGraph) {
    let module = randomModule(seed: 12, count: 30, types: 4, instances: 3)
    let graph = BatchingGraph(module)
    var options = QLearningOptions()
    options.episodes = 80
    options.stopRatio = 0
    return (FSMTrainer(graphs: [graph], encoding: encoding, options: options).train().table, graph)
  }

  @Test(arguments: StateEncoding.allCases)
  func textFormRoundTrips(_ encoding: StateEncoding) throws {
    let (table, _) = trained(encoding)
    #expect(table.stateCount > 0)
    let text = table.text()
    let parsed = try FSMTable.parse(text, file: "p.fsm")
    #expect(parsed == table)
    #expect(parsed.text() == text)
  }

  @Test func appliedTableReproducesTheTrainedCount() throws {
    let module = randomModule(seed: 12, count: 30, types: 4, instances: 3)
    let graph = BatchingGraph(module)
    var options = QLearningOptions()
    options.episodes = 80
    options.stopRatio = 0
    let result = FSMTrainer(graphs: [graph], encoding: .max, options: options).train()
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
        == "p.fsm:2:10: error: expected 'encoding base|sort|max|frontier|history|critical'")
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

  @Test func tableMustKnowTheGraphsTypes() throws {
    let (table, _) = trained()
    let other = try parse("dg 1\ntype zz = op() -> f32[1]\ninstance s {\n  %a = zz()\n}\n")
    #expect(throws: Diagnostic.self) {
      try table.checkCompatible(with: BatchingGraph(other), file: "p.fsm")
    }
  }

  @Test func loadAppliesAPolicyFile() throws {
    let module = randomModule(seed: 12, count: 30, types: 4, instances: 3)
    let (table, _) = trained()
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("fsm-\(UUID()).fsm")
      .path
    try writeFileAtomically(path, table.text())
    defer { try? FileManager.default.removeItem(atPath: path) }
    let (s, stats) = try schedule(module, "fsm-batch{load=\(path)}")
    #expect(s.batchCount >= Int(stats["lower_bound"]!))
    #expect(stats["episodes"] == nil)
    #expect(stats["fallbacks"] != nil)
  }
}
