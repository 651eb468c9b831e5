import BatchIR

/// Runs a program on a preset, in order, one instruction at a time, and reports cycles, energy
/// and per-request latency. Weight sets that fit the weight buffer stay resident until evicted
/// (least recently used first), so only loads that miss cost DRAM traffic.
public struct Simulator: Sendable {
  public let preset: AcceleratorPreset

  public init(preset: AcceleratorPreset) {
    self.preset = preset
  }

  /// Simulates `program` (checked with `Program.validate` first).
  public func run(_ program: Program, file: String = "<program>") throws(Diagnostic)
    -> SimulationReport
  {
    try program.validate(file: file)
    var session = SimulationSession(
      preset: preset, opTypes: program.opTypes, requests: program.requests)
    for instruction in program.instructions { session.step(instruction) }
    return session.report(instructions: program.instructions.count)
  }
}

/// The simulator's state, one instruction at a time: `Simulator.run` drives it over a whole
/// program, and a packing pass drives it while it builds a program, so that its clock (which
/// requests have arrived) is exactly the simulator's. Instructions must be valid for the tables.
public struct SimulationSession: Sendable {
  public let preset: AcceleratorPreset
  public let model: CostModel
  public let requests: [ProgramRequest]
  /// Each request's arrival in cycles (rounded up).
  public let arrivalCycle: [Int64]
  /// Elapsed cycles so far, waits for arrivals included.
  public private(set) var clock: Int64 = 0
  public private(set) var totals = SimulationReport.Totals()
  /// Each request's completion cycle, -1 until it completes.
  public private(set) var completion: [Int64]
  var residency: WeightResidency
  /// The latest execution: its start, cycles and steps (for completions part-way through it).
  var lastExecution: (start: Int64, cycles: Int64, steps: Int64) = (0, 0, 1)
  /// Double-buffered weights: when the weight transfer channel is free, and when the weights
  /// loaded last are on chip.
  var transferFree: Int64 = 0
  var weightsReady: Int64 = 0

  public init(preset: AcceleratorPreset, opTypes: [ProgramOpType], requests: [ProgramRequest]) {
    self.preset = preset
    self.model = CostModel(preset: preset, opTypes: opTypes)
    self.requests = requests
    arrivalCycle = requests.map { saturated(($0.arrival * preset.clockHz).rounded(.up)) }
    completion = [Int64](repeating: -1, count: requests.count)
    residency = WeightResidency(
      typeCount: opTypes.count, capacity: Int64(preset.weightBufferBytes))
  }

  private mutating func add(_ cost: CostModel.Cost) {
    clock = saturatingSum(clock, cost.cycles)
    totals.busyCycles = saturatingSum(totals.busyCycles, cost.cycles)
    totals.sramBytes = saturatingSum(totals.sramBytes, cost.sramBytes)
    totals.dramBytes = saturatingSum(totals.dramBytes, cost.dramBytes)
    totals.computeEnergyPJ += cost.computeEnergyPJ
    totals.sramEnergyPJ += cost.sramEnergyPJ
    totals.dramEnergyPJ += cost.dramEnergyPJ
  }

  private mutating func admit(_ request: Int32) {
    let arrival = arrivalCycle[Int(request)]
    if arrival > clock {
      totals.idleCycles += arrival - clock
      clock = arrival
    }
  }

  /// Runs one instruction.
  public mutating func step(_ instruction: Instruction) {
    let overhead = Int64(preset.issueOverheadCycles)
    switch instruction {
    case .execute(let e):
      if weightsReady > clock {
        totals.stallCycles += weightsReady - clock
        totals.weightLoadCycles += weightsReady - clock
        clock = weightsReady
      }
      let cost = model.execution(e)
      lastExecution = (clock, cost.cycles, max(Int64(e.steps), 1))
      add(cost)
      totals.macs += Double(e.macs)
      let laneSteps = Double(e.lanes) * Double(e.steps)
      totals.laneSteps += laneSteps
      totals.usefulLaneSteps += Double(e.rows)
      totals.usefulMacs += Double(e.macs) * Double(e.rows) / laneSteps
    case .loadWeights(let type, let bytes):
      if residency.load(Int(type), bytes: bytes) {
        totals.weightHits += 1
      } else {
        totals.weightMisses += 1
        var cost = model.weightLoad(bytes: bytes)
        if preset.doubleBufferedWeights {
          // The transfer fills the other buffer while the latest execution still runs: it
          // starts once the channel is free and that execution has begun, and the next
          // execution waits for it; it holds up nothing else.
          let start = max(transferFree, lastExecution.start)
          transferFree = saturatingSum(start, cost.cycles)
          weightsReady = max(weightsReady, transferFree)
          totals.overlappedLoadCycles = saturatingSum(totals.overlappedLoadCycles, cost.cycles)
          cost.cycles = 0
        }
        totals.weightLoadCycles = saturatingSum(totals.weightLoadCycles, cost.cycles)
        add(cost)
      }
    case .gather(let bytes), .copy(let bytes):
      add(model.copy(bytes: bytes))
    case .start(let request):
      admit(request)
    case .refillLane(_, let request):
      admit(request)
      add(CostModel.Cost(cycles: overhead))
    case .resetLane:
      add(CostModel.Cost(cycles: overhead))
    case .complete(let request, let step):
      if step > 0 {
        let done = min(Int64(step), lastExecution.steps)
        let partial = saturatingSum(
          lastExecution.start,
          saturated(
            (Double(lastExecution.cycles) * Double(done) / Double(lastExecution.steps)).rounded(.up)
          ))
        completion[Int(request)] = min(partial, clock)
      } else {
        completion[Int(request)] = clock
      }
    }
  }

  /// The figures so far; requests that have not completed count as completing now.
  public func report(instructions: Int) -> SimulationReport {
    var totals = self.totals
    totals.cycles = clock
    var latencies: [Double] = []
    latencies.reserveCapacity(requests.count)
    for (request, done) in completion.enumerated() {
      let end = done >= 0 ? done : clock
      latencies.append(Double(end) / preset.clockHz - requests[request].arrival)
    }
    totals.instructions = instructions
    totals.requests = requests.count
    return SimulationReport(preset: preset, totals: totals, latencies: latencies)
  }
}

/// Which op types' weights are on chip, evicting the least recently used when a load needs room.
struct WeightResidency {
  let capacity: Int64
  private var residentBytes: [Int64]
  private var lastUse: [Int64]
  private var used: Int64 = 0
  private var tick: Int64 = 0

  init(typeCount: Int, capacity: Int64) {
    self.capacity = capacity
    residentBytes = [Int64](repeating: 0, count: typeCount)
    lastUse = [Int64](repeating: 0, count: typeCount)
  }

  /// Whether `type`'s weights were already resident (a hit). On a miss they become resident when
  /// they fit, evicting others; larger sets stream through and stay off chip.
  mutating func load(_ type: Int, bytes: Int64) -> Bool {
    tick += 1
    if residentBytes[type] >= bytes && bytes > 0 {
      lastUse[type] = tick
      return true
    }
    if bytes == 0 { return true }
    used -= residentBytes[type]
    residentBytes[type] = 0
    guard bytes <= capacity else { return false }
    while used + bytes > capacity {
      var victim = -1
      for t in residentBytes.indices where residentBytes[t] > 0 {
        if victim < 0 || lastUse[t] < lastUse[victim] { victim = t }
      }
      used -= residentBytes[victim]
      residentBytes[victim] = 0
    }
    residentBytes[type] = bytes
    used += bytes
    lastUse[type] = tick
    return false
  }
}
