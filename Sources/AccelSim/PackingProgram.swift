import BatchIR

/// The program of a packing (`ebatch-pack`), round by round. Each round is:
///
/// 1. for every request that starts in the round, in lane order: `reset LANE` (clear the lane's
///    state) and `refill LANE REQUEST` (admit it: nothing after runs before it has arrived);
/// 2. for every layer, first to last: `load` of the layer's weights and one `exec` with
///    lanes = the rows computed (`Packing.computedLanes`), steps = the round's N,
///    rows = useful lane-steps, MACs = lanes × steps × MACs a row;
/// 3. `complete` for every request whose last step ran in the round, with `step=P` when that was
///    step P < N of the round (it completes part-way through the last layer's execution).
///
/// `ebatch-pack` builds its rounds with this type while it simulates them, and
/// `ProgramBuilder.build` uses it when the module has a packing, so both see the same program.
public struct PackingProgramBuilder: Sendable {
  public let builder: ProgramBuilder
  public let table: [ProgramOpType]
  public let requests: [ProgramRequest]
  /// The op type of each layer, first to last.
  public let layers: [Int]
  let readBytesPerRow: [Int64]
  let writtenBytesPerRow: [Int64]
  let steps: [Int]

  public init(module: Module, builder: ProgramBuilder) {
    self.builder = builder
    table = builder.opTypeTable(module)
    requests = builder.requestTable(module)
    layers = module.instances.first { $0.recurrence != nil }?.recurrence?.layers ?? []
    readBytesPerRow = layers.map { layer in
      let type = module.opTypes[layer]
      return Int64(type.operands.reduce(0) { $0 + builder.bytes(of: $1) })
    }
    writtenBytesPerRow = layers.map { Int64(builder.bytes(of: module.opTypes[$0].result)) }
    steps = module.instances.map { $0.recurrence?.steps ?? 0 }
  }

  /// An empty program with this module's tables.
  public func emptyProgram(lanes: Int) -> Program {
    Program(lanes: lanes, opTypes: table, requests: requests)
  }

  /// Appends round `round` of a packing with `strategy`.
  public func appendRound(
    _ round: Packing.Round, strategy: String, to instructions: inout [Instruction]
  ) {
    let probe = Packing(strategy: strategy, lanes: max(1, round.lanes.count), stepsPerChunk: 0)
    let computed = probe.computedLanes(of: round)
    var completing: [(request: Int32, step: Int32)] = []
    for (k, lane) in round.lanes.enumerated() {
      var position: Int32 = 0
      for segment in lane {
        position += segment.count
        if segment.isIdle { continue }
        if segment.first == 0 {
          instructions.append(.resetLane(lane: Int32(k)))
          instructions.append(.refillLane(lane: Int32(k), request: segment.request))
        }
        if Int(segment.first + segment.count) == steps[Int(segment.request)] {
          // It ends at its last step: step `position` of the round's last execution.
          completing.append((segment.request, position == round.steps ? 0 : position))
        }
      }
    }
    let useful = Int64(round.usefulLaneSteps)
    if computed > 0 {
      let laneSteps = Int64(computed) * Int64(round.steps)
      for (l, layer) in layers.enumerated() {
        let type = table[layer]
        if type.weightBytes > 0 {
          instructions.append(.loadWeights(type: Int32(layer), bytes: Int64(type.weightBytes)))
        }
        instructions.append(
          .execute(
            Execution(
              type: Int32(layer), lanes: Int32(computed), steps: Int32(round.steps), rows: useful,
              macs: laneSteps * Int64(type.macsPerRow), bytesRead: laneSteps * readBytesPerRow[l],
              bytesWritten: laneSteps * writtenBytesPerRow[l])))
      }
    }
    // With nothing computed (no layer runs), a completion is immediate.
    for (request, step) in completing {
      instructions.append(.complete(request: request, step: computed > 0 ? step : 0))
    }
  }

  /// The whole program of `packing`.
  public func build(_ packing: Packing) -> Program {
    var program = emptyProgram(lanes: packing.lanes)
    for round in packing.rounds {
      appendRound(round, strategy: packing.strategy, to: &program.instructions)
    }
    return program
  }
}

/// Checks a packing's program against the packing and the simulator's clock: every request is
/// refilled once and completed once after it; each round runs every layer in order with exactly
/// the round's useful lane-steps; the rows of every layer add up to the requests' time-steps; and
/// no request starts before it arrives while other requests are in flight (the pass's clock
/// agrees with the simulator's: it never admits a request that has not arrived yet, and waits
/// only when every lane is idle).
public enum PackingProgramChecker {
  public static func check(
    _ program: Program, packing: Packing, module: Module, preset: AcceleratorPreset,
    file: String = "<program>"
  ) throws(Diagnostic) {
    func fail(_ message: String) -> Diagnostic {
      Diagnostic(file: file, location: .unknown, message: "packing program: \(message)")
    }
    try program.validate(file: file)
    let layers = packing.layers(in: module)
    var session = SimulationSession(
      preset: preset, opTypes: program.opTypes, requests: program.requests)
    var refilled = [Bool](repeating: false, count: program.requests.count)
    var completed = [Bool](repeating: false, count: program.requests.count)
    var inFlight = 0
    var rowsPerLayer = [Int64](repeating: 0, count: layers.count)
    var round = 0
    var layer = 0
    for instruction in program.instructions {
      switch instruction {
      case .refillLane(_, let request):
        let r = Int(request)
        if refilled[r] { throw fail("request \(r) is refilled twice") }
        if layer != 0 { throw fail("request \(r) is refilled in the middle of round \(round)") }
        if session.arrivalCycle[r] > session.clock && inFlight > 0 {
          throw fail(
            "request '\(program.requests[r].name)' enters at cycle \(session.clock), before it arrives (cycle \(session.arrivalCycle[r])), while \(inFlight) requests are in flight"
          )
        }
        refilled[r] = true
        inFlight += 1
      case .complete(let request, _):
        let r = Int(request)
        if !refilled[r] || completed[r] { throw fail("request \(r) completes out of order") }
        completed[r] = true
        inFlight -= 1
      case .execute(let e):
        guard round < packing.rounds.count, layer < layers.count, Int(e.type) == layers[layer]
        else { throw fail("execution of type \(e.type) out of layer order in round \(round)") }
        let expected = packing.rounds[round]
        if e.rows != Int64(expected.usefulLaneSteps) || Int(e.steps) != expected.steps {
          throw fail("round \(round) layer \(layer + 1) runs \(e.rows) rows, not the packing's")
        }
        rowsPerLayer[layer] += e.rows
        layer += 1
        if layer == layers.count {
          layer = 0
          round += 1
        }
      default: break
      }
      session.step(instruction)
    }
    let total = Int64(module.instances.reduce(0) { $0 + ($1.recurrence?.steps ?? 0) })
    for (l, rows) in rowsPerLayer.enumerated() where rows != total {
      throw fail("layer \(l + 1) runs \(rows) useful rows for \(total) time-steps")
    }
    if let r = completed.firstIndex(of: false) { throw fail("request \(r) never completes") }
  }
}
