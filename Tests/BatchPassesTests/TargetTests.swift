import AccelSim
import BatchIR
import BatchPasses
import TestSupport
import Testing
import Workloads

/// One target for the whole pipeline, the emitted program equal to the simulated one, and the
/// pass manager's declared effects.
@Suite struct TargetTests {
  static func generate(_ family: WorkloadFamily, seed: UInt64, instances: Int, rate: Double = 1e4)
    -> Module
  {
    var options = WorkloadOptions()
    options.seed = seed
    options.instances = instances
    options.rate = rate
    options.hidden = 64
    return WorkloadGenerator.generate(family, options: options)
  }

  static func run(_ pipeline: String, on module: inout Module) throws -> [PassManager.Record] {
    try PassManager(pipeline: pipeline).run(on: &module, file: "t.dg")
  }

  @Test func theModuleTargetDecidesTheLanes() throws {
    var module = Self.generate(.rnnServing, seed: 1, instances: 8)
    module.target = TargetSpec("tpu-v1")
    let records = try Self.run("ebatch-pack", on: &module)
    #expect(records[0].statistics["lanes"] == 256)
    #expect(records[0].statistics.label("target") == "tpu-v1")
    #expect(records[0].statistics.label("target_source") == "module")
    #expect(module.packing?.lanes == 256)
  }

  @Test func withoutATargetTheDefaultIsUsedAndNamed() throws {
    var module = Self.generate(.rnnServing, seed: 1, instances: 8)
    let records = try Self.run("ebatch-pack", on: &module)
    #expect(AcceleratorPreset.defaultTarget == .epur)
    #expect(records[0].statistics["lanes"] == 32)
    #expect(records[0].statistics.label("target") == "epur")
    #expect(records[0].statistics.label("target_source") == "default")
  }

  @Test func aPassOptionOverridesTheTargetAndSaysSo() throws {
    var module = Self.generate(.rnnServing, seed: 1, instances: 8)
    module.target = TargetSpec("tpu-v1")
    let records = try Self.run("ebatch-pack{accelerator=epur}", on: &module)
    #expect(records[0].statistics["lanes"] == 32)
    #expect(records[0].statistics.label("target") == "epur")
    #expect(records[0].statistics.label("target_source") == "option")
  }

  @Test func anUnknownTargetIsALocatedError() throws {
    var module = try parse("dg 1\ntarget no-such-chip\n")
    #expect(module.target?.location == SourceLocation(line: 2, column: 8))
    #expect {
      _ = try Self.run("ebatch-pack", on: &module)
    } throws: { error in
      let d = error as? Diagnostic
      return d?.location.line == 2 && d?.message.contains("no-such-chip") == true
    }
  }

  struct Case: Sendable, CustomTestStringConvertible {
    var seed: UInt64
    var testDescription: String { "seed \(seed)" }
  }

  /// Property: on random generated workloads (serving traces, trees, lattices, MV-RNNs, at random
  /// loads, on either target), the default pipeline's `sim_…` figures are exactly those of
  /// simulating the program built from its final module on the module's target, the program
  /// `--emit-program` writes.
  @Test(arguments: (1...10).map { Case(seed: UInt64($0)) })
  func emittedProgramIsTheSimulatedOne(_ c: Case) throws {
    var rng = SeededGenerator(seed: c.seed)
    let family: WorkloadFamily = [.rnnServing, .treeLSTM, .latticeLSTM, .mvRNN][
      Int.random(in: 0..<4, using: &rng)]
    var module = Self.generate(
      family, seed: c.seed, instances: Int.random(in: 1...40, using: &rng),
      rate: [1e2, 1e4, 1e6][Int.random(in: 0..<3, using: &rng)])
    if family != .rnnServing {
      var clock = 0.0
      for i in module.instances.indices {
        clock += Double.random(in: 0...2e-5, using: &rng)
        module.instances[i].arrival = clock
      }
    }
    let target = ["epur", "tpu-v1", nil][Int.random(in: 0..<3, using: &rng)]
    module.target = target.map { TargetSpec($0) }
    let records = try Self.run("fsm-batch{policy=agenda},pq-layout,ebatch-pack", on: &module)
    try Verifier.verify(module, file: "seed-\(c.seed)")
    let statistics = try #require(records.last?.statistics)
    let preset = try AcceleratorPreset.resolve(module.target)
    #expect(statistics.label("target") == preset.name)
    let program = try ProgramBuilder(preset: preset).build(module)
    let report = try Simulator(preset: preset).run(program)
    let figures = Dictionary(report.entries.map { ($0.name, $0.value) }) { a, _ in a }
    for name in ["requests_per_s", "energy_per_request_pj", "latency_p99_s", "padding_fraction"] {
      #expect(statistics["sim_" + name] == figures[name], "\(name)")
    }
    if family != .rnnServing {
      // Trees: a layout consistent with the final schedule, whose gathers the program carries.
      let layout = try #require(module.layout)
      #expect(
        program.instructions.count { if case .gather = $0 { true } else { false } }
          == layout.gathers.count)
    }
  }

  /// The case: 200 Tree-LSTM instances on E-PUR's 32 lanes. `ebatch-pack` rewrites the
  /// schedule; the layout is laid out again for it, never dropped.
  @Test func manyTreesKeepALayoutForTheFinalSchedule() throws {
    var module = Self.generate(.treeLSTM, seed: 1, instances: 200)
    module.target = TargetSpec("epur")
    let records = try Self.run(PassRegistry.defaultPipeline, on: &module)
    let pack = try #require(records.last)
    #expect(pack.statistics["schedule_unchanged"] == 0)
    #expect(pack.statistics["relaid_out"] == 1)
    #expect(pack.invalidated.isEmpty)
    #expect(pack.changed == [.schedule, .layout])
    try Verifier.verify(module, file: "tree200")
    let layout = try #require(module.layout)
    #expect(pack.statistics["layout_gathers"] == Double(layout.gathers.count))
    let program = try ProgramBuilder(preset: .epur).build(module)
    let gathers = program.instructions.count { if case .gather = $0 { true } else { false } }
    #expect(gathers == layout.gathers.count)
    #expect(gathers > 0)
  }
}

/// Passes declare what they change; the manager enforces and reports it.
@Suite struct PassEffectsTests {
  struct DropsLayout: Pass {
    static let name = "drops-layout"
    static let summary = "test"
    static let requires: [ModulePart] = []
    static let produces: [ModulePart] = []
    init() {}
    func run(on module: inout Module, statistics: inout PassStatistics) { module.layout = nil }
  }

  struct RewritesSchedule: Pass {
    static let name = "rewrites-schedule"
    static let summary = "test"
    static let requires: [ModulePart] = [.schedule]
    static let produces: [ModulePart] = [.layout]
    init() {}
    func run(on module: inout Module, statistics: inout PassStatistics) {
      module.schedule?.policy = "changed"
    }
  }

  static func laidOut() throws -> Module {
    var module = try parse(
      twoTypes + "instance s {\n  %a = leaf(_)\n  %b = leaf(_)\n  %c = join(%a, %b)\n}\n")
    try PassManager(pipeline: "fsm-batch{policy=agenda},pq-layout").run(on: &module, file: "t")
    return module
  }

  @Test func undeclaredDropsAndChangesAreErrors() throws {
    var module = try Self.laidOut()
    #expect {
      try PassManager(passes: [DropsLayout()]).run(on: &module, file: "t")
    } throws: { error in
      (error as? Diagnostic)?.message
        == "pass 'drops-layout' dropped the module's layout, which it does not declare it invalidates"
    }
    module = try Self.laidOut()
    #expect {
      try PassManager(passes: [RewritesSchedule()]).run(on: &module, file: "t")
    } throws: { error in
      (error as? Diagnostic)?.message
        == "pass 'rewrites-schedule' changed the module's schedule, which it does not declare it produces or modifies"
    }
  }

  @Test func invalidatedPartsAreRemovedAndReported() throws {
    var module = try Self.laidOut()
    #expect(module.layout != nil)
    let records = try PassManager(pipeline: "fsm-batch{policy=depth}").run(on: &module, file: "t")
    #expect(records[0].changed == [.schedule])
    #expect(records[0].invalidated == [.layout])
    #expect(module.layout == nil)
    // pq-layout preserves nothing it does not declare; ebatch-pack on trees that all fit keeps
    // both the schedule and the layout.
    var again = try Self.laidOut()
    let kept = try PassManager(pipeline: "ebatch-pack").run(on: &again, file: "t")
    #expect(kept[0].preserved == [.schedule, .layout])
    #expect(kept[0].changed.isEmpty)
  }
}
