import BatchIR
import BatchPasses
import Foundation
import TestSupport
import Testing
import Workloads

func importCorpus(_ path: String) throws -> Module {
  let bytes = [UInt8](try Data(contentsOf: corpusFile(path)))
  return try EDBatchImporter.importGraph(bytes, file: path)
}

/// The reference counts of ../shared/corpus/README.md, reproduced by replaying each policy.
@Suite struct CorpusBatchingTests {
  @Test func dynetTreeLSTMMatchesDyNet() throws {
    let module = try importCorpus("dynet-treelstm-t64-l16.txt")
    #expect(try schedule(module, "fsm-batch{policy=agenda}").0.batchCount == 201)
    #expect(try schedule(module, "fsm-batch{policy=depth}").0.batchCount == 191)
    #expect(try schedule(module, "fsm-batch{policy=typewise}").1["path_lower_bound"] == 171)
  }

  // (file, lb, depth, agenda, agenda over remaining) from the corpus README.
  static let reference: [(String, Int, Int, Int, Int)] = [
    ("treenn-b64/G0", 28, 52, 52, 41), ("treenn-b64/G4", 28, 52, 52, 42),
    ("lattice-b64/G0", 210, 586, 524, 425), ("lattice-b64/G4", 207, 614, 390, 427),
    ("seq2seq-b64/G0", 110, 291, 124, 147), ("seq2seq-b64/G3", 158, 407, 177, 212),
    ("bilstm-b64/G0", 324, 683, 407, 423), ("bilstm-b64/G2", 267, 559, 270, 365),
  ]

  @Test(arguments: reference.indices)
  func heuristicsMatchTheReferenceCounts(_ i: Int) throws {
    let (file, lb, depth, agenda, dynamic) = Self.reference[i]
    let module = try importCorpus("edbatch/\(file).txt")
    let (s, stats) = try schedule(module, "fsm-batch{policy=depth}")
    #expect(s.batchCount == depth)
    #expect(stats["path_lower_bound"] == Double(lb))
    #expect((stats["lower_bound"] ?? 0) >= Double(lb))
    #expect(try schedule(module, "fsm-batch{policy=agenda}").0.batchCount == agenda)
    #expect(try schedule(module, "fsm-batch{policy=agenda-dynamic}").0.batchCount == dynamic)
  }

  /// Trained on G0 itself, the FSM gives at most ED-Batch's count; the same table applied to
  /// G1–G4 of the family is never worse than DyNet's agenda.
  @Test(arguments: [("treenn", 28), ("lattice", 268), ("seq2seq", 110), ("bilstm", 333)])
  func fsmBeatsEDBatchOnG0AndAgendaOnUnseenGraphs(_ family: String, _ edBatch: Int) throws {
    let g0 = BatchingGraph(try importCorpus("edbatch/\(family)-b64/G0.txt"))
    // Imitation of a narrow beam is enough here and keeps the (debug) test fast.
    var options = QLearningOptions()
    options.imitationWidth = 64
    let trained = FSMTrainer(graphs: [g0], encoding: .max, options: options).train()
    #expect(trained.bestBatches <= edBatch)
    var applied = FSMPolicy(table: trained.table, graph: g0)
    #expect(BatchingRun.countBatches(g0, policy: &applied) == trained.bestBatches)
    for k in 1...4 {
      let module = try importCorpus("edbatch/\(family)-b64/G\(k).txt")
      let graph = BatchingGraph(module)
      try trained.table.checkCompatible(with: graph, file: "policy")
      var fsm = FSMPolicy(table: trained.table, graph: graph)
      var agenda = AgendaPolicy()
      #expect(
        BatchingRun.countBatches(graph, policy: &fsm)
          <= BatchingRun.countBatches(graph, policy: &agenda), "G\(k)")
    }
  }

  /// Every policy but `exact` gives a valid schedule on every corpus file.
  @Test func everyCorpusFileGetsValidSchedules() throws {
    var files = ["dynet-treelstm-t64-l16.txt"]
    for family in ["treenn", "lattice", "seq2seq", "bilstm"] {
      for k in 0...4 { files.append("edbatch/\(family)-b64/G\(k).txt") }
    }
    for file in files {
      let module = try importCorpus(file)
      for policy in [
        "agenda", "agenda-dynamic", "depth", "typewise", "beam,width=4",
        "fsm,episodes=20,refine=20,imitate=4",
      ] {
        _ = try schedule(module, "fsm-batch{policy=\(policy),prove=0}")
      }
    }
  }
}
