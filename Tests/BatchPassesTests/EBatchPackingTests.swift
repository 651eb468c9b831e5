import AccelSim
import BatchIR
import BatchPasses
import Testing
import Workloads

/// `ebatch-pack`: conservation on random traces (all strategies, both presets), the program
/// checker, agreement with the simulator, and the N trade-off.
@Suite struct EBatchPackingTests {
  static func trace(
    seed: UInt64, instances: Int, rate: Double, hidden: Int = 64, layers: Int = 2,
    lengths: LengthDistribution = .translation
  ) -> Module {
    var options = WorkloadOptions()
    options.seed = seed
    options.instances = instances
    options.rate = rate
    options.hidden = hidden
    options.layers = layers
    options.lengths = lengths
    return WorkloadGenerator.generate(.rnnServing, options: options)
  }

  static func pack(_ module: Module, _ pass: EBatchPackingPass) throws -> (Module, PassStatistics) {
    var module = module
    var statistics = PassStatistics()
    try pass.run(on: &module, statistics: &statistics)
    return (module, statistics)
  }

  struct Case: Sendable, CustomTestStringConvertible {
    var seed: UInt64
    var testDescription: String { "seed \(seed)" }
  }

  /// Property: on random traces (random load, lengths, layers, lanes), every strategy yields a
  /// packing the verifier accepts, whose program passes the checker (arrival, order, rows), and
  /// whose simulated figures equal what the pass computed while packing.
  @Test(arguments: (1...12).map { Case(seed: UInt64($0)) })
  func conservationOnRandomTraces(_ c: Case) throws {
    var rng = SeededGenerator(seed: c.seed)
    let rate = [5.0, 200, 5000, 1e6][Int.random(in: 0..<4, using: &rng)]
    let module = Self.trace(
      seed: c.seed, instances: Int.random(in: 1...30, using: &rng), rate: rate,
      layers: Int.random(in: 1...3, using: &rng),
      lengths: Bool.random(using: &rng) ? .speech : .translation)
    let preset: AcceleratorPreset = Bool.random(using: &rng) ? .epur : .tpuV1
    let lanes = [1, 2, 3, 8, preset.lanes][Int.random(in: 0..<5, using: &rng)]
    let passes: [EBatchPackingPass] = [
      EBatchPackingPass(strategy: .padding, preset: preset, lanes: lanes),
      EBatchPackingPass(strategy: .cellular, preset: preset, lanes: lanes),
      EBatchPackingPass(
        strategy: .ebatch, steps: Int.random(in: 1...40, using: &rng), preset: preset, lanes: lanes),
      EBatchPackingPass(strategy: .ebatch, preset: preset, lanes: lanes),
    ]
    for pass in passes {
      let (packed, statistics) = try Self.pack(module, pass)
      try Verifier.verify(packed, file: "seed-\(c.seed)")
      let packing = try #require(packed.packing)
      #expect(packing.rounds.allSatisfy { $0.lanes.count <= lanes })
      let program = try ProgramBuilder(preset: preset).build(packed)
      try PackingProgramChecker.check(program, packing: packing, module: packed, preset: preset)
      let report = try Simulator(preset: preset).run(program)
      #expect(
        statistics["sim_energy_per_request_pj"]
          == report.entries.first { $0.name == "energy_per_request_pj" }?.value)
      #expect(statistics["sim_latency_p99_s"] == report.latencyQuantile(0.99))
      #expect(statistics["weight_loads"] == Double(report.totals.weightMisses))
      #expect(statistics["padding_lane_steps"] == Double(packing.paddingLaneSteps))
      // Round trip through the text form.
      let printed = DGPrinter.print(packed)
      #expect(DGPrinter.print(try DGParser.parse(printed, file: "p.dg")) == printed)
    }
  }

  @Test func checkerCatchesEarlyAdmission() throws {
    var module = Self.trace(seed: 3, instances: 6, rate: 50)
    let preset = AcceleratorPreset.epur
    var statistics = PassStatistics()
    try EBatchPackingPass(strategy: .ebatch, steps: 4, preset: preset, lanes: 2).run(
      on: &module, statistics: &statistics)
    var packing = try #require(module.packing)
    // Start the last request in the first round, next to the first: before it has arrived.
    let last = Int32(module.instances.count - 1)
    let steps = module.instances[Int(last)].recurrence!.steps
    packing.rounds = packing.rounds.map { round in
      var round = round
      round.lanes = round.lanes.map { $0.filter { $0.request != last } }
        .map { lane in
          let used = lane.reduce(0) { $0 + Int($1.count) }
          return used < round.steps ? lane + [.idle(Int32(round.steps - used))] : lane
        }
      return round
    }
    // Put it in lane 1 of round 0, in chunks of 4 across the first rounds.
    var done = 0
    var r = 0
    while done < steps {
      let count = min(4, steps - done)
      while packing.rounds[r].lanes.count < 2 { packing.rounds[r].lanes.append([.idle(4)]) }
      var lane: [Packing.Segment] = [
        Packing.Segment(request: last, first: Int32(done), count: Int32(count))
      ]
      if count < 4 { lane.append(.idle(Int32(4 - count))) }
      packing.rounds[r].lanes[1] = lane
      done += count
      r += 1
    }
    module.packing = packing
    let built = try ProgramBuilder(preset: preset).build(module)
    #expect(throws: Diagnostic.self) {
      try PackingProgramChecker.check(built, packing: packing, module: module, preset: preset)
    }
  }

  /// Larger N: fewer weight loads, lower energy per request; past a point, higher p99 latency.
  @Test func stepsTradeEnergyForLatency() throws {
    let module = Self.trace(seed: 7, instances: 48, rate: 100, hidden: 512)
    var energy: [Double] = []
    var p99: [Double] = []
    var loads: [Double] = []
    for n in [4, 16, 64] {
      let (_, s) = try Self.pack(module, EBatchPackingPass(strategy: .ebatch, steps: n))
      energy.append(s["sim_energy_per_request_pj"]!)
      p99.append(s["sim_latency_p99_s"]!)
      loads.append(s["weight_loads"]!)
    }
    #expect(loads[0] > loads[1] && loads[1] > loads[2])
    #expect(energy[0] > energy[1] && energy[1] > energy[2])
    #expect(p99[2] > p99[1])
  }

  /// A latency bound caps N: among fixed N, the choice meets the bound and is smaller than the
  /// unbounded one.
  @Test func latencyBoundCapsSteps() throws {
    let module = Self.trace(seed: 7, instances: 48, rate: 100, hidden: 512)
    let packer = Packer(module: module, preset: .epur, lanes: AcceleratorPreset.epur.lanes)
    let free = EBatchPackingPass.chooseSteps(packer: packer, latencySLO: nil, dynamic: false)
    let bounded = EBatchPackingPass.chooseSteps(packer: packer, latencySLO: 0.025, dynamic: false)
    #expect(bounded.sloMet)
    #expect(bounded.result.report.latencyQuantile(0.99) <= 0.025)
    #expect(bounded.result.packing.stepsPerChunk < free.result.packing.stepsPerChunk)
    #expect(free.result.report.latencyQuantile(0.99) > 0.025)
    // Through the pass, with dynamic candidates too: the bound is met.
    let (_, met) = try Self.pack(module, EBatchPackingPass(strategy: .ebatch, latencySLO: 0.025))
    #expect(met["auto_slo_met"] == 1)
    #expect(met["sim_latency_p99_s"]! <= 0.025)
    // An impossible bound: the lowest p99 is chosen and the statistic says the bound was missed.
    let (_, impossible) = try Self.pack(
      module, EBatchPackingPass(strategy: .ebatch, latencySLO: 1e-9))
    #expect(impossible["auto_slo_met"] == 0)
  }

  /// Property: on random traces at random loads, `steps=auto` (fixed and dynamic N) is never
  /// worse than the best fixed N under its own measure, and the dynamic packing is valid.
  @Test(arguments: (1...8).map { Case(seed: UInt64($0)) })
  func dynamicStepsNeverLoseToFixed(_ c: Case) throws {
    var rng = SeededGenerator(seed: c.seed)
    let module = Self.trace(
      seed: c.seed, instances: Int.random(in: 2...40, using: &rng),
      rate: [50.0, 2000, 1e5][Int.random(in: 0..<3, using: &rng)],
      lengths: Bool.random(using: &rng) ? .speech : .translation)
    let preset: AcceleratorPreset = Bool.random(using: &rng) ? .epur : .tpuV1
    let packer = Packer(
      module: module, preset: preset,
      lanes: [2, 8, preset.lanes][Int.random(in: 0..<3, using: &rng)])
    let slo: Double? = Bool.random(using: &rng) ? nil : 0.01
    let auto = EBatchPackingPass.chooseSteps(packer: packer, latencySLO: slo)
    let fixed = EBatchPackingPass.chooseSteps(packer: packer, latencySLO: slo, dynamic: false)
    #expect(
      EBatchPackingPass.score(auto.result, packer: packer, latencySLO: slo)
        <= EBatchPackingPass.score(fixed.result, packer: packer, latencySLO: slo))
    for cap in [4, 32] {
      let dynamic = packer.ebatchDynamic(cap: cap)
      var packed = module
      packed.packing = dynamic.packing
      try Verifier.verify(packed, file: "seed-\(c.seed)")
      #expect(dynamic.packing.rounds.allSatisfy { $0.steps <= cap })
      let program = PackingProgramBuilder(
        module: module,
        builder: ProgramBuilder(lanes: packer.lanes, elementBytes: preset.elementBytes)
      ).build(dynamic.packing)
      try PackingProgramChecker.check(
        program, packing: dynamic.packing, module: module, preset: preset)
      #expect(try Simulator(preset: preset).run(program).energyPJ == dynamic.report.energyPJ)
    }
  }

  /// The dynamic rule on a hand-made case: with nothing waiting, a chunk runs until the longest
  /// sequence in flight ends; with more waiting than free lanes, it runs `cap` steps.
  @Test func dynamicStepsFollowTheQueue() throws {
    let text = """
      dg 1
      type l1 = lstm(f32[8], f32[8]) -> f32[8] weights(W1: f32[32x16]) recurrent
      instance a arrival=0 {
        rnn(l1) steps=3
      }
      instance b arrival=0 {
        rnn(l1) steps=5
      }
      instance c arrival=0 {
        rnn(l1) steps=2
      }
      """
    let module = try DGParser.parse(text, file: "q.dg")
    let packer = Packer(module: module, preset: .epur, lanes: 2)
    let packing = packer.ebatchDynamic(cap: 4).packing
    // Three wait for two lanes: N = cap = 4 (c starts in a's lane at step 3); then nothing
    // waits and b and c have 1 step left each: N = 1.
    #expect(packing.rounds.map(\.steps) == [4, 1])
    #expect(packing.stepsPerChunk == 0)
  }

  static func scheduled(_ family: WorkloadFamily, seed: UInt64, instances: Int) throws -> Module {
    var options = WorkloadOptions()
    options.instances = instances
    options.seed = seed
    var module = WorkloadGenerator.generate(family, options: options)
    _ = try PassManager(pipeline: "fsm-batch{policy=typewise},pq-layout").run(
      on: &module, file: "t")
    return module
  }

  /// Trees with every instance in flight from the start: the schedule and layout stay as they are.
  @Test func treesWithEnoughLanesKeepTheSchedule() throws {
    let tree = try Self.scheduled(.treeLSTM, seed: 1, instances: 3)
    let (packed, statistics) = try Self.pack(tree, EBatchPackingPass(inFlight: 3))
    #expect(packed.packing == nil)
    #expect(packed.schedule == tree.schedule)
    #expect(packed.layout == tree.layout)
    #expect(statistics["packed_requests"] == 3)
    #expect(statistics["schedule_unchanged"] == 1)
    #expect(statistics["refills"] == 0)
    // The kept layout's gathers are in the program, and in the figures the pass reports.
    #expect(packed.layout?.gathers.isEmpty == false)
    let preset = AcceleratorPreset.epur
    let program = try ProgramBuilder(preset: preset).build(packed)
    #expect(program.instructions.contains { if case .gather = $0 { true } else { false } })
    let report = try Simulator(preset: preset).run(program)
    #expect(statistics["sim_latency_p99_s"] == report.latencyQuantile(0.99))
    #expect(
      statistics["sim_energy_per_request_pj"]
        == report.entries.first { $0.name == "energy_per_request_pj" }?.value)
  }

  @Test func treesNeedASchedule() throws {
    var options = WorkloadOptions()
    options.instances = 2
    let tree = WorkloadGenerator.generate(.treeLSTM, options: options)
    #expect(throws: Diagnostic.self) { try Self.pack(tree, EBatchPackingPass()) }
  }

  /// Property: trees and lattices arriving over time, packed onto few lanes. The schedule stays
  /// valid (each node once, after its operands, type-homogeneous batches), never more than B
  /// instances are in flight, none starts before it arrives, an instance admitted late starts
  /// only when one in flight has completed, and the program built from the new schedule
  /// simulates to the figures the pass computed.
  @Test(arguments: (1...10).map { Case(seed: UInt64($0)) })
  func continuousBatchingOnRandomTreeTraces(_ c: Case) throws {
    var rng = SeededGenerator(seed: c.seed)
    let family: WorkloadFamily = [.treeLSTM, .latticeLSTM, .mvRNN][
      Int.random(in: 0..<3, using: &rng)]
    var module = try Self.scheduled(
      family, seed: c.seed, instances: Int.random(in: 1...12, using: &rng))
    var clock = 0.0
    for i in module.instances.indices {
      clock += Double.random(in: 0...2e-5, using: &rng)
      module.instances[i].arrival = clock
    }
    let preset: AcceleratorPreset = Bool.random(using: &rng) ? .epur : .tpuV1
    let lanes = Int.random(in: 1...4, using: &rng)
    let (packed, statistics) = try Self.pack(
      module, EBatchPackingPass(preset: preset, inFlight: lanes))
    try Verifier.verify(packed, file: "seed-\(c.seed)")
    let schedule = try #require(packed.schedule)
    // No work thrown away: the module keeps a layout, made for the schedule that runs.
    let layout = try #require(packed.layout)
    #expect(statistics["relaid_out"] == (statistics["schedule_unchanged"] == 1 ? 0 : 1))

    // In flight: from the batch of an instance's first node to the batch of its last.
    let instanceOf = packed.nodeInstances()
    var first = [Int](repeating: Int.max, count: packed.instances.count)
    var last = [Int](repeating: -1, count: packed.instances.count)
    for b in 0..<schedule.batchCount {
      for n in schedule.batch(b) {
        let i = Int(instanceOf[Int(n)])
        first[i] = min(first[i], b)
        last[i] = b
      }
    }
    for b in 0..<schedule.batchCount {
      #expect(packed.instances.indices.filter { first[$0] <= b && b <= last[$0] }.count <= lanes)
    }

    let program = try ProgramBuilder(lanes: preset.lanes, elementBytes: preset.elementBytes)
      .build(packed)
    #expect(
      program.instructions.count { if case .gather = $0 { true } else { false } }
        == layout.gathers.count)
    // None starts before it arrives (unless nothing is in flight and the accelerator waits).
    let admissions = replayAdmissions(program, preset: preset)
    #expect(admissions.early.isEmpty)
    #expect(admissions.mostInFlight <= lanes)
    #expect(admissions.started == packed.instances.count)
    let report = try Simulator(preset: preset).run(program)
    #expect(report.latencies.count == packed.instances.count)
    #expect(report.latencies.allSatisfy { $0 >= 0 })
    #expect(statistics["sim_latency_p99_s"] == report.latencyQuantile(0.99))
    #expect(
      statistics["sim_requests_per_s"]
        == report.entries.first { $0.name == "requests_per_s" }?.value)
  }

  @Test func mixedModulesAreALocatedError() throws {
    let text = """
      dg 1
      type l1 = lstm(f32[4], f32[4]) -> f32[4] recurrent
      instance a {
        rnn(l1) steps=2
      }
      instance b {
        %x = l1(_, _)
      }
      """
    let module = try DGParser.parse(text, file: "mixed.dg")
    #expect {
      _ = try Self.pack(module, EBatchPackingPass())
    } throws: { error in
      let d = error as? Diagnostic
      return d?.location.line == 6 && d?.message.contains("instance 'b'") == true
    }
  }

  @Test func paddingWaitsForTheWholeBatch() throws {
    let module = Self.trace(seed: 2, instances: 10, rate: 1e6)
    let (packed, _) = try Self.pack(
      module, EBatchPackingPass(strategy: .padding, preset: .epur, lanes: 4))
    let packing = try #require(packed.packing)
    #expect(packing.rounds.count >= 3)
    #expect(packing.rounds.allSatisfy { $0.lanes.count <= 4 })
    for round in packing.rounds {
      #expect(round.steps == round.lanes.map { Int($0[0].count) }.max())
    }
  }
}
