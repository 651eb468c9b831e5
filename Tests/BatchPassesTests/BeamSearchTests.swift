import BatchIR
import BatchPasses
import Foundation
import TestSupport
import Testing
import Workloads

/// `policy=beam`, the proven lower bound, and the `critical` FSM encoding.
@Suite struct BeamSearchTests {
  /// A beam wide enough to keep every state is exhaustive: it finds the optimum. The proven
  /// bound never exceeds the optimum and never falls below the path bound.
  @Test(arguments: 0..<30)
  func wideBeamIsExactAndBoundsHold(seed: Int) throws {
    let module = randomModule(
      seed: UInt64(1000 + seed), count: 6 + seed % 10, types: 3 + seed % 3, instances: 3)
    let (exact, _) = try schedule(module, "fsm-batch{policy=exact}")
    let (wide, stats) = try schedule(module, "fsm-batch{policy=beam,width=16384,prove=1000000}")
    #expect(wide.batchCount == exact.batchCount)
    #expect(stats["lower_bound"]! <= Double(exact.batchCount))
    // The relaxations, always run (the pass skips them when a schedule meets the path bound):
    // what they prove never exceeds the optimum.
    let bounds = BatchBounds(BatchingGraph(module), budget: 100_000)
    #expect(bounds.provenBound <= exact.batchCount)
    for tie in BeamTieBreak.allCases {
      let (narrow, _) = try schedule(module, "fsm-batch{policy=beam,width=2,tie=\(tie)}")
      #expect(narrow.batchCount >= exact.batchCount, "tie=\(tie)")
    }
  }

  /// Pieces joined by a hub (a node with many operands, like a lattice's loss) are cut apart
  /// by the relaxations; what they prove still never exceeds the optimum.
  @Test(arguments: 0..<12)
  func boundsHoldAcrossHubs(seed: Int) throws {
    let module = hubModule(seed: seed)
    let (exact, _) = try schedule(module, "fsm-batch{policy=exact}")
    let bounds = BatchBounds(BatchingGraph(module), budget: 100_000)
    #expect(bounds.provenBound <= exact.batchCount)
    #expect(bounds.provenBound >= bounds.pathBound)
  }

  /// Hubs (wide nodes, counted per state), sinks (batchable nodes read only by hubs, kept in
  /// aggregate), repeated operands and unbatched nodes: a beam that keeps every state still
  /// finds the optimum, and narrow beams of every tie-break give valid schedules (the pass
  /// replays them) no better than it.
  @Test(arguments: 0..<16)
  func wideBeamIsExactAcrossHubs(seed: Int) throws {
    let module = hubModule(seed: seed, hubs: 1 + seed % 3, repeats: true)
    let (exact, _) = try schedule(module, "fsm-batch{policy=exact}")
    let (wide, _) = try schedule(module, "fsm-batch{policy=beam,width=16384}")
    #expect(wide.batchCount == exact.batchCount)
    for tie in BeamTieBreak.allCases {
      let (narrow, _) = try schedule(module, "fsm-batch{policy=beam,width=2,tie=\(tie)}")
      #expect(narrow.batchCount >= exact.batchCount, "tie=\(tie)")
    }
  }

  /// Random instances of 4–7 nodes of types t1–t3 (t0 is unbatched, the first node of each
  /// instance when `repeats`), then `hubs` nodes reading many of them (the last hub the
  /// others too). `repeats` also lets a node name one operand twice.
  func hubModule(seed: Int, hubs: Int = 1, repeats: Bool = false) -> Module {
    var rng = SeededGenerator(seed: UInt64(2000 + seed))
    var module = Module()
    let tensor = TensorType(.f32, [2])
    for t in 0..<4 {
      module.addOpType(
        OpType(
          name: "t\(t)", kind: "op", operands: [tensor], variadic: true, result: tensor,
          unbatched: t == 0))
    }
    module.beginInstance(name: "g")
    var all: [Int32] = []
    for _ in 0..<(3 + seed % 3) {
      let first = module.nodeCount
      for n in 0..<(4 + seed % 4) {
        var operands: [Int32] = []
        if n > 0 {
          for _ in 0..<(1 + Int(rng.next() % 2)) {
            operands.append(Int32(first + Int(rng.next() % UInt64(n))))
          }
          if repeats && rng.next() % 4 == 0 { operands.append(operands[0]) }
        }
        all.append(Int32(module.nodeCount))
        let type = repeats && n == 0 ? 0 : 1 + Int(rng.next() % 3)
        module.addNode(type: type, operands: operands, name: "n\(all.count)")
      }
    }
    var hubNodes: [Int32] = []
    for h in 0..<hubs {
      var operands = h == hubs - 1 ? all : all.filter { _ in rng.next() % 3 != 0 }
      if h == hubs - 1 { operands += hubNodes }
      hubNodes.append(Int32(module.nodeCount))
      module.addNode(type: h == 0 ? 1 : Int(rng.next() % 4), operands: operands, name: "hub\(h)")
    }
    return module
  }

  /// On the small lattice where `typewise` takes 38, beam search meets the bound, 35.
  @Test func beamMeetsTheBoundOnASmallLattice() throws {
    var options = WorkloadOptions()
    options.instances = 2
    options.seed = 3
    let module = WorkloadGenerator.generate(.latticeLSTM, options: options)
    let (beam, stats) = try schedule(module, "fsm-batch{policy=beam,width=1}")
    #expect(beam.batchCount == 35)
    #expect(stats["lower_bound"] == 35)
    #expect(try schedule(module, "fsm-batch{policy=typewise}").0.batchCount == 38)
  }

  /// The corpus lattices: beam at its default width and the proven bound. Exact counts
  /// (deterministic); the best known counts are 224, 245, 206, 239, 227 (G1's 245 is proven).
  @Test(arguments: [
    (0, 224, 219, 210), (1, 249, 245, 239), (2, 206, 190, 176), (3, 241, 234, 223),
    (4, 227, 221, 207),
  ])
  func corpusLattices(_ file: Int, _ beam: Int, _ proven: Int, _ path: Int) throws {
    let module = try importCorpus("edbatch/lattice-b64/G\(file).txt")
    let (b, stats) = try schedule(module, "fsm-batch{policy=beam}")
    #expect(b.batchCount == beam)
    #expect(stats["lower_bound"] == Double(proven))
    #expect(stats["path_lower_bound"] == Double(path))
  }

  /// Trained on lattice G0 only, the table applied to G0 and to G1–G4: exact counts, fallbacks
  /// and back-offs. A short training (imitation of a width-16 beam, 100 episodes, 200
  /// refinement evaluations) keeps the debug build to seconds; the default training's counts
  /// (self-trained and transferred) are measured by `optimizer report` (docs/results.md), and
  /// G0's is also held by the regression guard. The table's fallback is the ranking rule
  /// fitted to the width-16 beams' decisions (G1 264 → 269, G2 233 → 228 against the tight rule
  /// this short training had before; the default training's rule gives 258 / 223 / 251 / 246).
  @Test func latticeTransfer() throws {
    let g0 = BatchingGraph(try importCorpus("edbatch/lattice-b64/G0.txt"))
    var options = QLearningOptions()
    options.imitationWidth = 16
    options.episodes = 100
    options.refineEvaluations = 200
    let trained = FSMTrainer(graphs: [g0], encoding: .phased, options: options).train()
    #expect(trained.bestBatches == 224)
    var applied = FSMPolicy(table: trained.table, graph: g0)
    #expect(BatchingRun.countBatches(g0, policy: &applied) == 224)
    let expected = [(269, 47, 178), (228, 98, 118), (258, 52, 186), (249, 77, 143)]
    for (k, (batches, fallbacks, backoffs)) in expected.enumerated() {
      let graph = BatchingGraph(try importCorpus("edbatch/lattice-b64/G\(k + 1).txt"))
      var policy = FSMPolicy(table: trained.table, graph: graph)
      #expect(BatchingRun.countBatches(graph, policy: &policy) == batches, "G\(k + 1)")
      #expect(policy.fallbacks == fallbacks, "G\(k + 1)")
      #expect(policy.backoffs == backoffs, "G\(k + 1)")
    }
  }

  /// Training rounds give the same table whether their episodes run one by one or as child
  /// tasks, and the same table for the same seed.
  @Test func parallelRoundsAreDeterministic() async throws {
    let module = randomModule(seed: 5, count: 30, types: 4, instances: 6)
    var options = QLearningOptions()
    options.episodes = 40
    options.roundSize = 8
    options.stopRatio = 0
    let trainer = FSMTrainer(graphs: [BatchingGraph(module)], encoding: .critical, options: options)
    let serial = trainer.train().table
    let parallel = trainer.train(runRound: { specs, episode in
      let box = TrajectoryBox()
      DispatchQueue.concurrentPerform(iterations: specs.count) { i in
        box.set(i, episode(specs[i]), count: specs.count)
      }
      return box.trajectories
    }).table
    #expect(serial == parallel)
    #expect(serial.text() == trainer.train().table.text())
  }

  /// A `phased` state the table lacks backs off to its key without the phase, then to the
  /// ready types alone; a start state (no previous type) only to the ready types.
  @Test func phasedBackoffKeys() {
    let entries: [Int32] = [-5, -12]
    let phase: Int32 = Int32.min / 2 - 7
    #expect(
      FSMTable.backoffKeys(entries + [-1, 3, phase], encoding: .phased) == [
        entries + [-1, 3], entries,
      ])
    #expect(FSMTable.backoffKeys(entries + [-1, phase], encoding: .phased) == [entries])
    #expect(FSMTable.backoffKeys(entries + [-1, 3], encoding: .critical) == [entries])
    #expect(FSMTable.backoffKeys(entries, encoding: .critical).isEmpty)
    #expect(FSMTable.backoffKeys([1, 2, -1, 0], encoding: .sort).isEmpty)
  }

  /// The `phased` table's text form writes the phase as `@k` and round-trips; applied to the
  /// graph it was trained on, it reproduces the trained count.
  @Test func phasedTextRoundTrips() throws {
    let module = randomModule(seed: 9, count: 30, types: 4, instances: 4)
    let graph = BatchingGraph(module)
    let result = FSMTrainer(graphs: [graph], encoding: .phased, options: QLearningOptions())
      .train()
    let text = result.table.text()
    #expect(text.contains("encoding phased"))
    #expect(text.contains(" @"))
    #expect(try FSMTable.parse(text, file: "t.fsm") == result.table)
    var policy = FSMPolicy(table: result.table, graph: graph)
    #expect(BatchingRun.countBatches(graph, policy: &policy) == result.bestBatches)
  }

  /// The `critical` table's text form names the path marks and round-trips.
  @Test func criticalTextRoundTrips() throws {
    let module = randomModule(seed: 9, count: 30, types: 4, instances: 4)
    let table = FSMTrainer(
      graphs: [BatchingGraph(module)], encoding: .critical, options: QLearningOptions()
    ).train().table
    let text = table.text()
    #expect(text.contains("encoding critical"))
    #expect(text.contains("*"))
    #expect(try FSMTable.parse(text, file: "t.fsm") == table)
  }
}

/// Collects trajectories written from several threads.
final class TrajectoryBox: @unchecked Sendable {
  private let lock = NSLock()
  private(set) var trajectories: [Trajectory] = []

  func set(_ i: Int, _ trajectory: Trajectory, count: Int) {
    lock.lock()
    if trajectories.isEmpty { trajectories = Array(repeating: Trajectory(), count: count) }
    trajectories[i] = trajectory
    lock.unlock()
  }
}
