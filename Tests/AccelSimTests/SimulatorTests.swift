import AccelSim
import BatchIR
import Testing

/// A small preset whose figures are easy to check by hand: a 4×4 array, fill 2R + C − 2 = 10,
/// 1 GHz, 5 cycles of issue overhead, 16 B/cycle on chip, 2 B/cycle off chip, 1 pJ of static
/// energy a cycle.
let handPreset = AcceleratorPreset(
  name: "hand", arrayRows: 4, arrayColumns: 4, foldFillCycles: 10, lanes: 8, elementBytes: 4,
  clockHz: 1e9, issueOverheadCycles: 5, dramBytesPerSecond: 2e9, sramBytesPerCycle: 16,
  weightBufferBytes: 100, inputHalfOncePerExecution: false, doubleBufferedWeights: false,
  macEnergyPJ: 0.5,
  sramEnergyPJPerByte: 1, dramEnergyPJPerByte: 10, staticWatts: 0.001)

/// A type with one 8×6 matrix (6 inputs, 8 outputs) and a bias: 48 MACs a row, 56 bytes.
let handType = ProgramOpType(
  name: "gemm", weights: ["W", "b"], weightBytes: 56, matrices: [[8, 6]], recurrentColumns: 2,
  macsPerRow: 48)

/// 5 rows: 240 MACs, 30 bytes read, 40 written.
let handExecution = Instruction.execute(
  Execution(type: 0, lanes: 5, steps: 1, rows: 5, macs: 240, bytesRead: 30, bytesWritten: 40))

func figure(_ report: SimulationReport, _ name: String) -> Double {
  report.entries.first { $0.name == name }?.value ?? .nan
}

@Test func oneGEMMMatchesTheFormula() throws {
  let program = Program(lanes: 8, opTypes: [handType], instructions: [handExecution])
  let report = try Simulator(preset: handPreset).run(program)
  // folds = ceil(6/4)·ceil(8/4) = 4; compute = 4·(5 + 10) = 60.
  // SRAM bytes = 30 + 40 + 56 (weights, once: 4 folds, 1 step) = 126; memory = ceil(126/16) = 8.
  // cycles = max(60, 8) + 5 = 65.
  #expect(figure(report, "cycles") == 65)
  #expect(figure(report, "energy_compute_pj") == 240 * 0.5)
  #expect(figure(report, "energy_sram_pj") == 126)
  #expect(figure(report, "energy_dram_pj") == 0)
  #expect(abs(figure(report, "energy_static_pj") - 65) < 1e-9)
  #expect(abs(figure(report, "energy_pj") - (120 + 126 + 65)) < 1e-9)
  // Useful MACs over 65 cycles of a 16-MAC array.
  #expect(abs(figure(report, "utilization") - 240.0 / (65 * 16)) < 1e-12)
  #expect(figure(report, "padding_fraction") == 0)
}

@Test func oneWeightLoadMatchesTheFormula() throws {
  let program = Program(
    lanes: 8, opTypes: [handType], instructions: [.loadWeights(type: 0, bytes: 56)])
  let report = try Simulator(preset: handPreset).run(program)
  // 56 bytes at 2 B/cycle = 28 cycles + 5 overhead; DRAM 56 × 10 pJ, written on chip 56 × 1 pJ.
  #expect(figure(report, "cycles") == 33)
  #expect(figure(report, "energy_dram_pj") == 560)
  #expect(figure(report, "energy_sram_pj") == 56)
  #expect(abs(figure(report, "energy_static_pj") - 33) < 1e-9)
  #expect(figure(report, "weight_loads") == 1)
}

@Test func residentWeightsAreReloadedOnlyAfterEviction() throws {
  var other = handType
  other.name = "other"
  // Capacity 100 bytes holds one 56-byte set: A, A (hit), B (evicts A), A (miss).
  let program = Program(
    lanes: 8, opTypes: [handType, other],
    instructions: [
      .loadWeights(type: 0, bytes: 56), .loadWeights(type: 0, bytes: 56),
      .loadWeights(type: 1, bytes: 56), .loadWeights(type: 0, bytes: 56),
    ])
  let report = try Simulator(preset: handPreset).run(program)
  #expect(figure(report, "weight_loads") == 3)
  #expect(figure(report, "weight_hits") == 1)
  #expect(figure(report, "cycles") == 3 * 33)
  #expect(figure(report, "dram_bytes") == 3 * 56)
}

@Test func twoRequestsLatencyAndEnergy() throws {
  // r0 arrives at 0 and needs one execution; r1 arrives at 100 ns and needs two.
  let program = Program(
    lanes: 8, opTypes: [handType],
    requests: [
      ProgramRequest(name: "r0", arrival: 0), ProgramRequest(name: "r1", arrival: 100e-9),
    ],
    instructions: [
      .start(request: 0), handExecution, .complete(request: 0),
      .start(request: 1), handExecution, handExecution, .complete(request: 1),
    ])
  let report = try Simulator(preset: handPreset).run(program)
  // r0: 0 → 65. Wait for r1 until 100 (35 idle cycles), then 2 × 65 → 230.
  #expect(figure(report, "cycles") == 230)
  #expect(figure(report, "busy_cycles") == 195)
  #expect(figure(report, "idle_cycles") == 35)
  #expect(abs(report.latencies[0] - 65e-9) < 1e-18)
  #expect(abs(report.latencies[1] - 130e-9) < 1e-18)
  #expect(figure(report, "latency_p50_s") == report.latencies[0])
  #expect(figure(report, "latency_p95_s") == report.latencies[1])
  #expect(figure(report, "latency_p99_s") == report.latencies[1])
  // 3 × (120 compute + 126 SRAM) + 230 static (the idle cycles burn static energy too).
  let energy = 3.0 * (120 + 126) + 230
  #expect(abs(figure(report, "energy_pj") - energy) < 1e-9)
  #expect(abs(figure(report, "energy_per_request_pj") - energy / 2) < 1e-9)
  #expect(abs(figure(report, "requests_per_s") - 2 / 230e-9) < 1e-3)
}

@Test func inputHalfOncePerExecutionFollowsTheFormula() throws {
  var preset = handPreset
  preset.inputHalfOncePerExecution = true
  preset.sramBytesPerCycle = 1e9
  let execution = Execution(
    type: 0, lanes: 2, steps: 3, rows: 5, macs: 2 * 3 * 48, bytesRead: 0, bytesWritten: 0)
  let model = CostModel(preset: preset, opTypes: [handType])
  // Input columns 4 → 1·2 folds over 2 × 3 rows; recurrent columns 2 → 1·2 folds per step.
  #expect(model.computeCycles(type: 0, lanes: 2, steps: 3) == 2 * (6 + 10) + 3 * 2 * (2 + 10))
  // Recurrent share of the 56 bytes: 16/48 → 19; input part once, recurrent part 3 times.
  #expect(model.weightReadBytes(type: 0, steps: 3) == 56 - 19 + 3 * 19)
  let plain = CostModel(preset: handPreset, opTypes: [handType])
  #expect(plain.computeCycles(type: 0, lanes: 2, steps: 3) == 3 * 4 * (2 + 10))
  #expect(plain.weightReadBytes(type: 0, steps: 3) == 3 * 56)
  // One padded lane-step out of six.
  let report = try Simulator(preset: preset).run(
    Program(lanes: 8, opTypes: [handType], instructions: [.execute(execution)]))
  #expect(abs(figure(report, "padding_fraction") - 1.0 / 6) < 1e-12)
}

@Test func badReferencesAreErrors() {
  let program = Program(lanes: 8, opTypes: [], instructions: [handExecution])
  #expect(throws: Diagnostic.self) { try Simulator(preset: handPreset).run(program) }
  let badRequest = Program(lanes: 8, instructions: [.complete(request: 0)])
  #expect(throws: Diagnostic.self) { try Simulator(preset: handPreset).run(badRequest) }
}

@Test func doubleBufferedWeightLoadsOverlapCompute() throws {
  var other = handType
  other.name = "other"
  // The buffer holds one 56-byte set, so both loads miss (33 cycles each); executions take 65.
  let instructions: [Instruction] = [
    .loadWeights(type: 0, bytes: 56), handExecution, .loadWeights(type: 1, bytes: 56),
    .execute(
      Execution(type: 1, lanes: 5, steps: 1, rows: 5, macs: 240, bytesRead: 30, bytesWritten: 40)),
  ]
  let program = Program(lanes: 8, opTypes: [handType, other], instructions: instructions)
  let serial = try Simulator(preset: handPreset).run(program)
  #expect(figure(serial, "cycles") == 33 + 65 + 33 + 65)
  var buffered = handPreset
  buffered.doubleBufferedWeights = true
  let overlapped = try Simulator(preset: buffered).run(program)
  // A's load 0–33 (the first execution waits for it: 33–98); B's load runs 33–66, beside A's
  // execution, so B's execution starts at 98 and ends at 163.
  #expect(figure(overlapped, "cycles") == 163)
  #expect(overlapped.totals.stallCycles == 33)
  #expect(overlapped.totals.overlappedLoadCycles == 66)
  // The same traffic and dynamic energy; less static energy (fewer cycles).
  #expect(figure(overlapped, "energy_dram_pj") == figure(serial, "energy_dram_pj"))
  #expect(figure(overlapped, "energy_sram_pj") == figure(serial, "energy_sram_pj"))
  #expect(abs(figure(overlapped, "energy_static_pj") - 163) < 1e-9)
}

@Test func aRequestCompletesAtItsLastStep() throws {
  // One execution of 4 steps on one lane: folds 4, compute 4·4·(1 + 10) = 176; weight reads
  // 4 × 56 = 224 B → 14 memory cycles; 176 + 5 = 181 cycles. r0 ends at step 1 of 4:
  // ⌈181 / 4⌉ = 46; r1 at the end.
  let program = Program(
    lanes: 8, opTypes: [handType],
    requests: [ProgramRequest(name: "r0"), ProgramRequest(name: "r1")],
    instructions: [
      .start(request: 0), .start(request: 1),
      .execute(
        Execution(type: 0, lanes: 1, steps: 4, rows: 4, macs: 4 * 48, bytesRead: 0, bytesWritten: 0)
      ),
      .complete(request: 0, step: 1), .complete(request: 1),
    ])
  let report = try Simulator(preset: handPreset).run(program)
  #expect(figure(report, "cycles") == 181)
  #expect(abs(report.latencies[0] - 46e-9) < 1e-18)
  #expect(abs(report.latencies[1] - 181e-9) < 1e-18)
  // Both forms carry the step.
  let text = ProgramText.print(program)
  #expect(text.contains("complete 0 step=1\ncomplete 1\n"))
  #expect(try ProgramText.parse(Array(text.utf8), file: "p.txt") == program)
  #expect(
    try JSONInput.decode(Program.self, from: JSONInput.encode(program), file: "p.json") == program)
}
