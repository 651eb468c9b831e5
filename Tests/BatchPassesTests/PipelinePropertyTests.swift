import AccelSim
import BatchIR
import BatchPasses
import PropertyBased
import Testing
import Workloads

/// Properties the pipeline promises, checked on random workloads with `PropertyBased`.
///
/// PropertyBased draws the inputs (a workload family, a seed, sizes, a pipeline); the graphs
/// themselves come from the project's seeded generators, so a failure report's input (family,
/// seed, …) rebuilds the exact graph with `optimizer generate`. Each run explores new inputs.
@Suite struct PipelinePropertyTests {
  /// Small workloads of every family (serving traces included), fast enough for 100 runs.
  static func workload(_ family: WorkloadFamily, seed: UInt64, instances: Int) -> Module {
    var options = WorkloadOptions()
    options.seed = seed
    options.instances = instances
    options.hidden = 8
    options.layers = 2
    options.rate = 2000
    return WorkloadGenerator.generate(family, options: options)
  }

  static let families = Gen<WorkloadFamily>.case

  /// One element of a non-empty list.
  static func oneOf<T: Sendable>(_ list: [T]) -> Generator<T, Shrink.Integer<Int>> {
    Gen.int(in: 0...(list.count - 1)).map { list[$0] }
  }
  static let seeds = Gen.uint64(in: 1...1_000_000)

  /// Pass texts a random pipeline is made of: every registered pass, with fast options.
  static let passTexts = [
    "fsm-batch{policy=agenda}", "fsm-batch{policy=depth}", "fsm-batch{policy=typewise}",
    "fsm-batch{policy=fsm,episodes=20}", "pq-layout", "ebatch-pack",
    "ebatch-pack{strategy=cellular}",
  ]

  /// Any sequence of registered passes, run with verification after each: either every pass runs
  /// and the module verifies, or the manager refuses before any pass has run. A pass may only
  /// fail at run time when it is the first to run (the prerequisite it checks then depends on the
  /// instances, as `ebatch-pack` on trees without a schedule).
  @Test func anyPassOrderRunsOrFailsBeforeRunning() async throws {
    await propertyCheck(
      count: 60, input: Self.families, Self.seeds, Self.oneOf(Self.passTexts).array(of: 0...4)
    ) { family, seed, texts in
      let input = Self.workload(family, seed: seed, instances: 3)
      var module = input
      var manager = try PassManager(pipeline: texts.joined(separator: ","))
      manager.verifyEach = true
      var ran = 0
      do {
        let records = try manager.run(on: &module, file: "random.dg") { _, _, _ in ran += 1 }
        #expect(records.count == texts.count)
        try Verifier.verify(module, file: "random.dg")
      } catch let error as Diagnostic {
        #expect(ran == 0, "\(texts) on \(family) seed \(seed) failed after \(ran) passes: \(error)")
        #expect(
          error.message.contains("needs a schedule") || error.message.contains("run 'fsm-batch'"),
          "unexpected error: \(error)")
        #expect(DGPrinter.print(module) == DGPrinter.print(input), "the module was changed")
      }
    }
  }

  /// Print → parse → print gives the same bytes for random modules at every stage of the
  /// default pipeline: the input, and after each pass.
  @Test func printParsePrintIsIdenticalAtEveryStage() async throws {
    await propertyCheck(
      count: 40, input: Self.families, Self.seeds, Gen.int(in: 1...6), Gen.bool
    ) { family, seed, instances, withArrivals in
      var module = Self.workload(family, seed: seed, instances: instances)
      if withArrivals {
        for i in module.instances.indices { module.instances[i].arrival = Double(i) * 1.5e-5 }
      }
      func roundTrip(_ module: Module, _ stage: String) throws {
        let printed = DGPrinter.print(module)
        let reparsed = try DGParser.parse(printed, file: "\(stage).dg")
        #expect(DGPrinter.print(reparsed) == printed, "\(family) seed \(seed) at \(stage)")
      }
      try roundTrip(module, "input")
      let manager = try PassManager(
        pipeline: "fsm-batch{policy=fsm,episodes=20},pq-layout,ebatch-pack")
      var failures: [String] = []
      try manager.run(on: &module, file: "random.dg") { _, record, stage in
        do { try roundTrip(stage, record.name) } catch {
          failures.append("\(record.name): \(error)")
        }
      }
      #expect(failures.isEmpty)
    }
  }

  static let treeFamilies: [WorkloadFamily] = [
    .treeLSTM, .treeGRU, .mvRNN, .latticeLSTM, .latticeGRU,
  ]

  /// A tree or lattice workload scheduled and laid out, its instances arriving `gaps` apart
  /// (seconds; cycled when there are more instances than gaps).
  static func arrivingTrees(
    _ family: WorkloadFamily, seed: UInt64, instances: Int, gaps: [Double]
  ) throws -> Module {
    var module = Self.workload(family, seed: seed, instances: instances)
    _ = try PassManager(pipeline: "fsm-batch{policy=typewise},pq-layout").run(
      on: &module, file: "t")
    var clock = 0.0
    for i in module.instances.indices {
      clock += gaps.isEmpty ? 0 : gaps[i % gaps.count]
      module.instances[i].arrival = clock
    }
    return module
  }

  /// Continuous batching of trees and lattices, replayed on the simulator's clock from the
  /// program the pass's result builds: no instance starts before it has arrived unless nothing is
  /// in flight (the accelerator then waits for it, idle), and at most B instances are in flight.
  @Test func continuousBatchingRespectsArrivalsAndSlots() async throws {
    await propertyCheck(
      count: 60,
      input: Self.oneOf(Self.treeFamilies), Self.seeds, Gen.int(in: 1...10),
      Gen.int(in: 1...4), Gen.double(in: 0...3e-5).array(of: 1...5), Gen.bool
    ) { family, seed, instances, slots, gaps, onTPU in
      let module = try Self.arrivingTrees(family, seed: seed, instances: instances, gaps: gaps)
      let preset: AcceleratorPreset = onTPU ? .tpuV1 : .epur
      var packed = module
      var statistics = PassStatistics()
      try EBatchPackingPass(preset: preset, inFlight: slots).run(
        on: &packed, statistics: &statistics)
      try Verifier.verify(packed, file: "random.dg")

      let program = try ProgramBuilder(lanes: preset.lanes, elementBytes: preset.elementBytes)
        .build(packed)
      let admissions = replayAdmissions(program, preset: preset)
      #expect(admissions.early.isEmpty, "\(family) seed \(seed): started before arrival")
      #expect(admissions.mostInFlight <= slots, "\(family) seed \(seed)")
      #expect(admissions.started == packed.instances.filter { !$0.nodes.isEmpty }.count)
    }
  }

  /// With B at least the number of instances and every instance there from the start (an
  /// offline mini-batch, or a trace whose requests all arrive at once), continuous batching
  /// leaves the schedule and the layout exactly as they were.
  @Test func enoughSlotsKeepTheSchedule() async throws {
    await propertyCheck(
      count: 40,
      input: Self.oneOf(Self.treeFamilies), Self.seeds, Gen.int(in: 1...8), Gen.int(in: 0...4),
      Gen.bool
    ) { family, seed, instances, extraSlots, offline in
      var module = try Self.arrivingTrees(family, seed: seed, instances: instances, gaps: [])
      if offline {
        for i in module.instances.indices { module.instances[i].arrival = nil }
      }
      var packed = module
      var statistics = PassStatistics()
      try EBatchPackingPass(inFlight: instances + extraSlots).run(
        on: &packed, statistics: &statistics)
      #expect(packed.schedule == module.schedule, "\(family) seed \(seed)")
      #expect(packed.layout == module.layout, "\(family) seed \(seed)")
      #expect(statistics["schedule_unchanged"] == 1)
    }
  }
}

/// What a program's `start`/`complete` instructions do on the simulator's clock.
struct AdmissionReplay {
  /// Requests started before their arrival cycle while another request was in flight (with
  /// nothing in flight, the accelerator waits idle for an early start, which is allowed).
  var early: [Int32] = []
  /// The most requests in flight at once.
  var mostInFlight = 0
  /// Requests started.
  var started = 0
}

/// Replays `program` on a `SimulationSession` of `preset`, watching when each request starts.
func replayAdmissions(_ program: Program, preset: AcceleratorPreset) -> AdmissionReplay {
  var session = SimulationSession(
    preset: preset, opTypes: program.opTypes, requests: program.requests)
  var replay = AdmissionReplay()
  var inFlight = Set<Int32>()
  for instruction in program.instructions {
    switch instruction {
    case .start(let request):
      if !inFlight.isEmpty && session.clock < session.arrivalCycle[Int(request)] {
        replay.early.append(request)
      }
      inFlight.insert(request)
      replay.started += 1
      replay.mostInFlight = max(replay.mostInFlight, inFlight.count)
    case .complete(let request, _):
      inFlight.remove(request)
    default:
      break
    }
    session.step(instruction)
  }
  return replay
}
