import AccelSim
import BatchIR

/// `ebatch-pack`: puts a stream of recurrent requests (compact `rnn(…) steps=T` instances with
/// `arrival=`) on the accelerator's B lanes over time, and writes the module's packing.
///
/// - `padding`: static batching. Up to B arrived requests run every layer for the longest one's
///   length; finished lanes compute padding; the next batch starts when the whole batch ends.
/// - `cellular`: BatchMaker's cellular batching. The batch is re-formed at every time-step;
///   requests join and leave at any step; every step runs layers 1…L once.
/// - `ebatch` (default): E-BATCH. A lane is a queue of concatenated sequences; a chunk runs N
///   steps of layer 1 over all lanes, then N of layer 2, …, so each layer's weights are loaded
///   once per chunk. When a sequence ends inside a chunk the lane is reset and the next waiting
///   request starts in it at once. `steps=auto` picks N with the simulator (see `chooseSteps`).
///
/// Requests are served first come, first served. Which have arrived when a round starts is
/// decided by the simulator's own clock (`SimulationSession` on the module's target, fed the
/// round's instructions as they are built), so the pass and `optimizer simulate` agree.
/// A request may start in a round only if it arrived by the round's start; when every lane is
/// idle and nothing has arrived, the round waits for the next arrival.
///
/// The accelerator is the module's target (`target` line or `--accelerator`;
/// `AcceleratorPreset.defaultTarget` when there is none). `accelerator=` overrides it for an
/// experiment, and the statistics say so (`target_source=option`).
///
/// Modules without recurrent instances (trees, lattices) get continuous batching of
/// `fsm-batch`'s schedule instead (`ContinuousBatcher`); modules mixing recurrent and other
/// instances are an error.
public struct EBatchPackingPass: Pass {
  public static let name = "ebatch-pack"
  public static let summary =
    "pack recurrent requests on the accelerator's lanes over time (E-BATCH, cellular, padding)"
  public static var options: [PassOption<Self>] {
    [
      .choice("strategy", \.strategy, help: "how requests share the lanes"),
      PassOption(
        "steps", syntax: "auto|INT",
        help: "E-BATCH chunk length N; auto picks it with the simulator",
        read: { pass, text in
          if text == "auto" {
            pass.steps = nil
            return nil
          }
          guard let value = Int(text), (1...DGParser.maxSteps).contains(value) else {
            return "must be auto or an integer in 1...\(DGParser.maxSteps)"
          }
          pass.steps = value
          return nil
        }, write: { $0.steps.map(String.init) ?? "auto" }),
      PassOption(
        "latency-slo", syntax: "SECONDS", help: "with steps=auto, the p99 latency bound",
        read: { pass, text in
          guard let value = Double(text), value > 0, value.isFinite else {
            return "must be a positive number of seconds"
          }
          pass.latencySLO = value
          return nil
        }, write: { $0.latencySLO.map { "\($0)" } }),
      PassOption(
        "accelerator", syntax: "tpu-v1|epur|FILE",
        help: "override the module's target for this pass (an experiment; the statistics say so)",
        default: "the module's target",
        read: { (pass: inout Self, text: String) throws(Diagnostic) -> String? in
          // A bad preset file is reported at the option, naming the file's own error.
          let found: AcceleratorPreset?
          switch Result(catching: { () throws(Diagnostic) in
            try AcceleratorPreset.named(orFile: text)
          }) {
          case .success(let preset): found = preset
          case .failure(let error):
            return "names a preset file that is not valid (\(error.headline))"
          }
          guard let preset = found else {
            return
              "must be a built-in preset (\(AcceleratorPreset.builtIn.map(\.name).joined(separator: ", "))) or a preset file"
          }
          pass.presetOverride = preset
          pass.acceleratorName = text
          return nil
        }, write: { $0.acceleratorName }),
      .int(
        "lanes", \.lanes, in: 1...65536, help: "recurrent requests: lanes B",
        default: "the target's"),
      .int(
        "in-flight", \.inFlight, in: 1...65536,
        help: "trees and lattices: instances in flight at once", default: "the target's lanes"),
    ]
  }
  public static let requires: [ModulePart] = []
  public static let produces: [ModulePart] = [.packing]
  /// Trees and lattices: the schedule that ran replaces `fsm-batch`'s, and the layout is laid
  /// out again for it.
  public static let modifies: [ModulePart] = [.schedule, .layout]

  public enum Strategy: String, Sendable, CaseIterable {
    case padding, cellular, ebatch
  }

  public var strategy: Strategy = .ebatch
  /// nil: auto.
  public var steps: Int?
  public var latencySLO: Double?
  /// Overrides the module's target (`accelerator=`); nil: the target.
  public var presetOverride: AcceleratorPreset?
  /// How `accelerator=` named the override (a preset name or file), for printing the pipeline.
  public var acceleratorName: String?
  /// Recurrent requests: lanes B; nil: the preset's.
  public var lanes: Int?
  /// Trees and lattices: instances in flight; nil: the preset's lanes.
  public var inFlight: Int?

  /// The N that `steps=auto` tries: powers of two up to 256, capped at the longest request.
  public static let autoCandidates = [1, 2, 4, 8, 16, 32, 64, 128, 256]

  public init() {}

  public init(
    strategy: Strategy = .ebatch, steps: Int? = nil, latencySLO: Double? = nil,
    preset: AcceleratorPreset? = nil, lanes: Int? = nil, inFlight: Int? = nil
  ) {
    self.strategy = strategy
    self.steps = steps
    self.latencySLO = latencySLO
    self.presetOverride = preset
    self.acceleratorName = preset?.name
    self.lanes = lanes
    self.inFlight = inFlight
  }

  /// The preset this pass works for on `module`, and where it came from: `option`
  /// (`accelerator=`), `module` (its target) or `default` (none given).
  public func preset(for module: Module) throws(Diagnostic) -> (
    preset: AcceleratorPreset, source: String
  ) {
    if let presetOverride { return (presetOverride, "option") }
    return (
      try AcceleratorPreset.resolve(module.target), module.target == nil ? "default" : "module"
    )
  }

  public func run(on module: inout Module, statistics: inout PassStatistics) throws(Diagnostic) {
    let (preset, source) = try preset(for: module)
    statistics.setLabel("target", preset.name)
    statistics.setLabel("target_source", source)
    let recurrent = module.instances.filter { $0.recurrence != nil }
    if recurrent.isEmpty {
      if lanes != nil {
        throw Diagnostic(
          file: "", location: .unknown,
          message:
            "ebatch-pack: for trees and lattices the lanes are the target's rows per execution; set the instances in flight with 'in-flight='"
        )
      }
      try packGraphs(&module, preset: preset, statistics: &statistics)
      return
    }
    if inFlight != nil {
      throw Diagnostic(
        file: "", location: .unknown,
        message:
          "ebatch-pack: 'in-flight=' is for trees and lattices; recurrent requests take 'lanes='")
    }
    let lanes = self.lanes ?? preset.lanes
    let layers = recurrent[0].recurrence!.layers
    for instance in module.instances {
      guard let recurrence = instance.recurrence else {
        throw Diagnostic(
          file: "", location: instance.location,
          message:
            "ebatch-pack packs recurrent requests only; instance '\(instance.name)' is not in the compact rnn(…) form (split the trace, or run without ebatch-pack)"
        )
      }
      if recurrence.layers != layers {
        throw Diagnostic(
          file: "", location: instance.location,
          message:
            "ebatch-pack: instance '\(instance.name)' runs other layers than '\(recurrent[0].name)'; every request must run the same network"
        )
      }
    }
    let packer = Packer(module: module, preset: preset, lanes: lanes)
    var result: Packer.Result
    var chosen: [(String, Double)] = []
    switch strategy {
    case .padding: result = packer.padding()
    case .cellular: result = packer.cellular()
    case .ebatch:
      if let steps {
        result = packer.ebatch(steps: steps)
      } else {
        let choice = Self.chooseSteps(packer: packer, latencySLO: latencySLO)
        result = choice.result
        chosen = [
          ("auto_candidates", Double(choice.candidates)),
          ("auto_slo_met", choice.sloMet ? 1 : 0),
          ("auto_dynamic", result.packing.stepsPerChunk == 0 ? 1 : 0),
          ("auto_steps_max", Double(result.packing.rounds.map(\.steps).max() ?? 0)),
        ]
      }
    }
    module.packing = result.packing
    let report = result.report
    statistics.set("lanes", lanes)
    statistics.set("steps_per_chunk", result.packing.stepsPerChunk)
    statistics.set("chunks", result.packing.rounds.count)
    statistics.set("weight_loads", report.totals.weightMisses)
    statistics.set("padding_lane_steps", result.packing.paddingLaneSteps)
    statistics.set("refills", result.packing.refills)
    statistics.set("packed_requests", module.instances.count)
    for (name, value) in chosen { statistics.set(name, value) }
    setSimulated(report, in: &statistics)
  }

  /// Trees and lattices: continuous batching of `fsm-batch`'s schedule with `inFlight` instances
  /// in flight (see `ContinuousBatcher`). The schedule is replaced by the one that ran. A layout
  /// made for the old schedule is not thrown away but laid out again for the new one with the
  /// same alignment (`pq-layout`), so the module and the program keep a layout and its gathers.
  /// The `sim_…` figures are those of the program built from the final module, the one
  /// `--emit-program` writes.
  func packGraphs(
    _ module: inout Module, preset: AcceleratorPreset, statistics: inout PassStatistics
  ) throws(Diagnostic) {
    guard let schedule = module.schedule else {
      throw Diagnostic(
        file: "", location: .unknown,
        message:
          "ebatch-pack maps fsm-batch's batches onto the lanes for instances that are not recurrent requests; run 'fsm-batch' first"
      )
    }
    let slots = inFlight ?? preset.lanes
    let batcher = ContinuousBatcher(preset: preset, slots: slots, lanes: preset.lanes)
    let gathers = module.layout?.gathers ?? []
    var result = batcher.run(module, schedule: schedule, gathers: gathers)
    // If the schedule changes, the layout will be laid out again and its gathers change: decide
    // admissions without gathers (when the clock decides them at all), so that the final program (the same batches, plus gathers that
    // only add time) never starts an instance before it has arrived while others are in flight.
    if result.followedClock && result.schedule != schedule && !gathers.isEmpty {
      result = batcher.run(module, schedule: schedule)
    }
    let unchanged = result.schedule == schedule
    var relaid = false
    if !unchanged {
      module.schedule = result.schedule
      if let old = module.layout {
        var layoutStatistics = PassStatistics()
        try PQLayoutPass(alignment: old.alignment).run(on: &module, statistics: &layoutStatistics)
        relaid = true
        statistics.set("layout_gathers", layoutStatistics["gathers"] ?? 0)
        statistics.set("layout_bytes_copied", layoutStatistics["bytes_copied"] ?? 0)
      }
    }
    let program = try ProgramBuilder(preset: preset).build(module)
    let report = try Simulator(preset: preset).run(program)
    statistics.set("lanes", preset.lanes)
    statistics.set("in_flight", slots)
    statistics.set("steps_per_chunk", 1)
    statistics.set("chunks", module.schedule?.batchCount ?? 0)
    statistics.set("weight_loads", report.totals.weightMisses)
    statistics.set("padding_lane_steps", 0)
    statistics.set("refills", result.refills)
    statistics.set("packed_requests", module.instances.count)
    statistics.set("schedule_passes", result.passes + 1)
    statistics.set("schedule_unchanged", unchanged ? 1 : 0)
    statistics.set("relaid_out", relaid ? 1 : 0)
    setSimulated(report, in: &statistics)
  }

  /// The simulated figures of the packing's program, as `sim_…` statistics.
  func setSimulated(_ report: SimulationReport, in statistics: inout PassStatistics) {
    let entries = Dictionary(report.entries.map { ($0.name, $0.value) }) { a, _ in a }
    for name in [
      "requests_per_s", "energy_per_request_pj", "latency_p99_s", "padding_fraction",
    ] {
      statistics.set("sim_" + name, entries[name] ?? 0)
    }
  }

  /// `steps=auto`: packs with every candidate N (`autoCandidates` up to the longest request),
  /// fixed and dynamic (`Packer.ebatchDynamic(cap:)` with that N as the cap), and simulates each.
  /// With a latency bound: the lowest energy per request among the candidates whose p99 latency
  /// meets it (the lowest p99 when none does). Without: the lowest energy per request × seconds
  /// per request (the energy–delay product per request: throughput and energy weighted alike).
  /// Ties go to the smaller N, fixed before dynamic. Because every fixed N is a candidate, the
  /// choice is never worse than the best fixed N under the rule's own measure.
  public static func chooseSteps(packer: Packer, latencySLO: Double?, dynamic: Bool = true) -> (
    result: Packer.Result, candidates: Int, sloMet: Bool
  ) {
    let longest = packer.steps.max() ?? 1
    var caps = autoCandidates.filter { $0 <= longest }
    if caps.isEmpty || (caps.last! < longest && longest < autoCandidates.last!) {
      caps.append(min(longest, autoCandidates.last!))
    }
    var results: [Packer.Result] = []
    for n in caps {
      results.append(packer.ebatch(steps: n))
      if dynamic && n > 1 { results.append(packer.ebatchDynamic(cap: n)) }
    }
    let scored = results.map {
      (result: $0, score: score($0, packer: packer, latencySLO: latencySLO))
    }
    let best = scored.min { $0.score < $1.score }!
    return (
      best.result, results.count,
      latencySLO.map { best.result.report.latencyQuantile(0.99) <= $0 } ?? true
    )
  }

  /// The measure `chooseSteps` minimises, compared lexicographically: with a bound, (0, energy)
  /// for candidates that meet it and (1, p99) for those that do not; without, (0, energy ×
  /// seconds per request).
  public static func score(_ r: Packer.Result, packer: Packer, latencySLO: Double?) -> (
    Double, Double
  ) {
    let requests = Double(max(packer.steps.count, 1))
    let energy = r.report.energyPJ / requests
    if let slo = latencySLO {
      let p99 = r.report.latencyQuantile(0.99)
      return p99 <= slo ? (0, energy) : (1, p99)
    }
    return (0, energy * r.report.seconds / requests)
  }
}

/// Builds packings of one module's requests for one preset and lane count, simulating every
/// round as it goes (see `EBatchPackingPass`).
public struct Packer: Sendable {
  public let preset: AcceleratorPreset
  public let lanes: Int
  public let programBuilder: PackingProgramBuilder
  /// Time-steps of each request.
  public let steps: [Int]
  /// Requests in arrival order (first come, first served; ties by index).
  let order: [Int32]

  public struct Result: Sendable {
    public var packing: Packing
    public var program: Program
    public var report: SimulationReport
  }

  public init(module: Module, preset: AcceleratorPreset, lanes: Int) {
    self.preset = preset
    self.lanes = lanes
    programBuilder = PackingProgramBuilder(
      module: module,
      builder: ProgramBuilder(lanes: lanes, elementBytes: preset.elementBytes))
    steps = module.instances.map { $0.recurrence?.steps ?? 0 }
    let arrivals = programBuilder.requests.map(\.arrival)
    order = (0..<Int32(module.instances.count)).sorted {
      (arrivals[Int($0)], $0) < (arrivals[Int($1)], $1)
    }
  }

  /// The rounds built so far, the program and the simulator's state.
  struct State {
    var packing: Packing
    var program: Program
    var session: SimulationSession
    var next = 0

    /// The clock a round starting now may admit requests by: now, or the next arrival when every
    /// lane is idle and nothing has arrived.
    func admissionClock(idle: Bool, order: [Int32]) -> Int64 {
      guard idle, next < order.count else { return session.clock }
      return max(session.clock, session.arrivalCycle[Int(order[next])])
    }

    /// The next request in arrival order if it has arrived by `clock`.
    mutating func takeArrived(by clock: Int64, order: [Int32]) -> Int32? {
      guard next < order.count, session.arrivalCycle[Int(order[next])] <= clock else { return nil }
      next += 1
      return order[next - 1]
    }

    mutating func append(_ round: Packing.Round, builder: PackingProgramBuilder) {
      let start = program.instructions.count
      builder.appendRound(round, strategy: packing.strategy, to: &program.instructions)
      for instruction in program.instructions[start...] { session.step(instruction) }
      packing.rounds.append(round)
    }

    func result() -> Result {
      Result(
        packing: packing, program: program,
        report: session.report(instructions: program.instructions.count))
    }
  }

  func makeState(strategy: String, stepsPerChunk: Int) -> State {
    let program = programBuilder.emptyProgram(lanes: lanes)
    return State(
      packing: Packing(strategy: strategy, lanes: lanes, stepsPerChunk: stepsPerChunk),
      program: program,
      session: SimulationSession(
        preset: preset, opTypes: program.opTypes, requests: program.requests))
  }

  /// Static batching: up to B arrived requests, padded to the longest.
  public func padding() -> Result {
    var state = makeState(strategy: "padding", stepsPerChunk: 0)
    while state.next < order.count {
      let clock = state.admissionClock(idle: true, order: order)
      var batch: [Int32] = []
      while batch.count < lanes, let request = state.takeArrived(by: clock, order: order) {
        batch.append(request)
      }
      let n = batch.map { steps[Int($0)] }.max() ?? 1
      let round = Packing.Round(
        steps: n,
        lanes: batch.map { request in
          let t = steps[Int(request)]
          var lane = [Packing.Segment(request: request, first: 0, count: Int32(t))]
          if t < n { lane.append(.idle(Int32(n - t))) }
          return lane
        })
      state.append(round, builder: programBuilder)
    }
    return state.result()
  }

  /// Cellular batching: one step a round; requests keep their lane while they run, and arrived
  /// requests take free lanes (lowest first) at every step.
  public func cellular() -> Result {
    var state = makeState(strategy: "cellular", stepsPerChunk: 1)
    var current = [(request: Int32, done: Int)?](repeating: nil, count: lanes)
    var busy = 0
    while busy > 0 || state.next < order.count {
      let clock = state.admissionClock(idle: busy == 0, order: order)
      for k in 0..<lanes where current[k] == nil {
        guard let request = state.takeArrived(by: clock, order: order) else { break }
        current[k] = (request, 0)
        busy += 1
      }
      var round = Packing.Round(steps: 1, lanes: [])
      let used = (current.lastIndex { $0 != nil } ?? -1) + 1
      for k in 0..<used {
        guard let (request, done) = current[k] else {
          round.lanes.append([.idle(1)])
          continue
        }
        round.lanes.append([Packing.Segment(request: request, first: Int32(done), count: 1)])
        if done + 1 == steps[Int(request)] {
          current[k] = nil
          busy -= 1
        } else {
          current[k] = (request, done + 1)
        }
      }
      state.append(round, builder: programBuilder)
    }
    return state.result()
  }

  /// E-BATCH with chunks of `n` steps: each lane first continues its request; then arrived
  /// requests, first come first served, go to the lane that frees first (lowest lane on ties),
  /// starting right after the previous sequence inside the chunk.
  public func ebatch(steps n: Int) -> Result {
    ebatch(stepsPerChunk: n) { _, _, _ in n }
  }

  /// E-BATCH with N chosen per chunk (`steps=auto`'s dynamic candidates), at most `cap`: when
  /// more requests wait than lanes are free at the chunk's start, N = `cap` (lanes that free
  /// inside the chunk are refilled at once, so a long chunk pads nothing and loads each layer's
  /// weights once); otherwise N = the steps left of the longest sequence that will be in flight
  /// (those running and those about to start), capped at `cap`, so the chunk ends when the last
  /// one does and no lane pads to a boundary nothing needs. The packing's `steps` is 0: its rounds
  /// have their own lengths.
  public func ebatchDynamic(cap: Int) -> Result {
    ebatch(stepsPerChunk: 0) { remaining, waiting, free in
      if waiting.count > free { return cap }
      let longest = max(remaining.max() ?? 0, waiting.map { steps[Int($0)] }.max() ?? 0)
      return min(cap, max(1, longest))
    }
  }

  /// The E-BATCH loop. `chunk(remaining, waiting, free)` gives the round's N from the steps left
  /// of the busy lanes, the requests arrived and waiting (in order), and the free lanes.
  func ebatch(
    stepsPerChunk: Int, chunk: (_ remaining: [Int], _ waiting: [Int32], _ free: Int) -> Int
  ) -> Result {
    var state = makeState(strategy: "ebatch", stepsPerChunk: stepsPerChunk)
    var current = [(request: Int32, done: Int)?](repeating: nil, count: lanes)
    var busy = 0
    while busy > 0 || state.next < order.count {
      let clock = state.admissionClock(idle: busy == 0, order: order)
      var waiting: [Int32] = []
      var peek = state.next
      while peek < order.count, state.session.arrivalCycle[Int(order[peek])] <= clock,
        waiting.count <= lanes - busy
      {
        waiting.append(order[peek])
        peek += 1
      }
      let remaining = current.compactMap { $0.map { steps[Int($0.request)] - $0.done } }
      let n = max(1, chunk(remaining, waiting, lanes - busy))
      var segments = [[Packing.Segment]](repeating: [], count: lanes)
      var position = [Int](repeating: 0, count: lanes)
      // Runs lane k's current request from its position for as long as the chunk allows.
      func advance(_ k: Int) {
        guard let (request, done) = current[k] else { return }
        let count = min(n - position[k], steps[Int(request)] - done)
        segments[k].append(
          Packing.Segment(request: request, first: Int32(done), count: Int32(count)))
        position[k] += count
        if done + count == steps[Int(request)] {
          current[k] = nil
          busy -= 1
        } else {
          current[k] = (request, done + count)
        }
      }
      for k in 0..<lanes { advance(k) }
      while true {
        var lane = -1
        for k in 0..<lanes where current[k] == nil && position[k] < n {
          if lane < 0 || position[k] < position[lane] { lane = k }
        }
        guard lane >= 0, let request = state.takeArrived(by: clock, order: order) else { break }
        current[lane] = (request, 0)
        busy += 1
        advance(lane)
      }
      let used = (segments.lastIndex { !$0.isEmpty } ?? -1) + 1
      var round = Packing.Round(steps: n, lanes: [])
      for k in 0..<used {
        var lane = segments[k]
        if position[k] < n { lane.append(.idle(Int32(n - position[k]))) }
        round.lanes.append(lane)
      }
      state.append(round, builder: programBuilder)
    }
    return state.result()
  }
}
