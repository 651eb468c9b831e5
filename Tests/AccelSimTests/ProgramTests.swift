import AccelSim
import BatchIR
import BatchPasses
import Foundation
import Testing

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().deletingLastPathComponent()

/// Two sentences through a tiny tagger (samples/hello.dg, shortened).
let taggerText = """
  dg 1
  type embed = lookup(i32[1]) -> f32[8] weights(E: f32[100x8])
  type rnn = lstm(f32[8], f32[8]) -> f32[8] weights(W: f32[32x16], b: f32[32]) recurrent
  instance a arrival=0.5 {
    %x0 = embed(_)
    %x1 = embed(_)
    %h0 = rnn(%x0, _)
    %h1 = rnn(%x1, %h0)
  }
  instance b {
    %x0 = embed(_)
    %h0 = rnn(%x0, _)
  }

  """

func batchedTagger() throws -> Module {
  var module = try DGParser.parse(taggerText, file: "t.dg")
  let manager = try PassManager(pipeline: "fsm-batch{policy=agenda},pq-layout")
  try manager.run(on: &module, file: "t.dg")
  return module
}

@Test func builderEmitsLoadsExecutionsAndCompletions() throws {
  let module = try batchedTagger()
  let schedule = try #require(module.schedule)
  let program = try ProgramBuilder(lanes: 2).build(module)
  #expect(program.requests == [ProgramRequest(name: "a", arrival: 0.5), ProgramRequest(name: "b")])
  // The lookup has no weight set and no matrices; the LSTM has one 32×16 matrix, 8 recurrent
  // columns, 512 MACs a row and 32·16·4 + 32·4 bytes of weights.
  #expect(program.opTypes[0].weights.isEmpty && program.opTypes[0].matrices.isEmpty)
  #expect(program.opTypes[1].matrices == [[32, 16]])
  #expect(program.opTypes[1].recurrentColumns == 8)
  #expect(program.opTypes[1].macsPerRow == 512)
  #expect(program.opTypes[1].weightBytes == 32 * 16 * 4 + 32 * 4)

  var rows = 0
  var loads = 0
  var completed: [Int32] = []
  var started: Set<Int32> = []
  for instruction in program.instructions {
    switch instruction {
    case .execute(let e):
      #expect(e.lanes <= 2 && e.rows == Int64(e.lanes) && e.steps == 1)
      #expect(e.macs == e.rows * Int64(program.opTypes[Int(e.type)].macsPerRow))
      #expect(e.bytesWritten == e.rows * 32)
      rows += Int(e.rows)
    case .loadWeights(let type, let bytes):
      #expect(type == 1 && bytes == Int64(program.opTypes[1].weightBytes))
      loads += 1
    case .start(let r): started.insert(r)
    case .complete(let r, _):
      #expect(started.contains(r))
      completed.append(r)
    default: break
    }
  }
  #expect(rows == module.nodeCount)
  #expect(loads == (0..<schedule.batchCount).filter { schedule.batchType[$0] == 1 }.count)
  #expect(completed.sorted() == [0, 1])
  // The last instruction completes a request: nothing runs after the last batch.
  if case .complete = program.instructions.last {
  } else {
    Issue.record("expected a completion last")
  }
}

@Test func builderConvertsBytesToTheAcceleratorsElements() throws {
  let module = try batchedTagger()
  let program = try ProgramBuilder(lanes: 4, elementBytes: 1).build(module)
  #expect(program.opTypes[1].weightBytes == 32 * 16 + 32)
  for case .execute(let e) in program.instructions where e.type == 1 {
    #expect(e.bytesRead == e.rows * 16)  // two operands of 8 elements
    #expect(e.bytesWritten == e.rows * 8)
  }
}

@Test func builderNeedsASchedule() throws {
  let module = try DGParser.parse(taggerText, file: "t.dg")
  #expect(throws: Diagnostic.self) { try ProgramBuilder(lanes: 2).build(module) }
}

@Test func gathersFollowTheLayout() throws {
  var module = try batchedTagger()
  module.layout?.gathers = [MemoryLayout.Gather(batch: 1, slot: 0, bytes: 64)]
  let program = try ProgramBuilder(lanes: 8).build(module)
  let gathers = program.instructions.compactMap { if case .gather(let b) = $0 { b } else { nil } }
  #expect(gathers == [64])
}

@Test func textAndJSONRoundTrip() throws {
  var program = try ProgramBuilder(lanes: 2).build(try batchedTagger())
  program.instructions += [
    .gather(bytes: 12), .copy(bytes: 7), .resetLane(lane: 1), .refillLane(lane: 0, request: 1),
    .execute(
      Execution(type: 1, lanes: 2, steps: 4, rows: 7, macs: 4096, bytesRead: 9, bytesWritten: 3)),
  ]
  let text = ProgramText.print(program)
  #expect(try ProgramText.parse(Array(text.utf8), file: "p.txt") == program)
  let json = JSONInput.encode(program)
  #expect(try JSONInput.decode(Program.self, from: json, file: "p.json") == program)
}

@Test func textErrorsAreLocated() {
  let cases: [(String, String)] = [
    (
      "accel-program 1\nlanes 4\nexec nope lanes=1 steps=1 rows=1 macs=0 read=0 written=0\n",
      "p.txt:3:6: error: unknown op type 'nope'"
    ),
    ("accel-program 2\n", "p.txt:1:15: error: unsupported program version 2"),
    ("accel-program 1\nlanes 4\nfly\n", "p.txt:3:1: error: unknown instruction 'fly'"),
    ("accel-program 1\nlanes 4\ngather bytes=x\n", "p.txt:3:14: error: expected a number"),
    ("accel-program 1\nlanes 4\ncomplete 0\n", "p.txt:3:10: error: no request 0"),
  ]
  for (text, expected) in cases {
    do {
      _ = try ProgramText.parse(Array(text.utf8), file: "p.txt")
      Issue.record("no error for \(text)")
    } catch {
      #expect(error.headline.hasPrefix(expected), "\(error.headline)")
    }
  }
}

@Test func samplePresetFilesMatchTheBuiltInPresets() throws {
  for preset in AcceleratorPreset.builtIn {
    let url = repositoryRoot.appendingPathComponent("samples/accelerators/\(preset.name).json")
    let bytes = try [UInt8](Data(contentsOf: url))
    #expect(try AcceleratorPreset.decode(bytes, file: url.path) == preset)
  }
}

@Test func presetErrorsNameTheField() throws {
  let good = String(decoding: AcceleratorPreset.tpuV1.json(), as: UTF8.self)
  let missing = good.replacingOccurrences(of: "  \"clock_hz\" : 700000000,\n", with: "")
  #expect(missing != good)
  do {
    _ = try AcceleratorPreset.decode(Array(missing.utf8), file: "p.json")
    Issue.record("no error")
  } catch {
    #expect(error.headline == "p.json:1:1: error: missing field 'clock_hz'")
  }
  let wrongType = good.replacingOccurrences(of: "\"lanes\" : 256", with: "\"lanes\" : \"many\"")
  do {
    _ = try AcceleratorPreset.decode(Array(wrongType.utf8), file: "p.json")
    Issue.record("no error")
  } catch {
    #expect(error.headline.contains("error: field 'lanes' must be an integer"))
    #expect(error.location.line > 1)
  }
  let negative = good.replacingOccurrences(of: "\"lanes\" : 256", with: "\"lanes\" : 0")
  do {
    _ = try AcceleratorPreset.decode(Array(negative.utf8), file: "p.json")
    Issue.record("no error")
  } catch {
    #expect(error.headline.contains("error: field 'lanes' must be a positive integer"))
  }
  #expect(throws: Diagnostic.self) { try AcceleratorPreset.decode(Array("{".utf8), file: "p.json") }
}

/// Absurd numbers are errors or saturate; they never trap (docs/robustness.md).
@Test func absurdNumbersAreRejectedOrSaturate() throws {
  var program = Program(
    lanes: 4,
    opTypes: [
      ProgramOpType(
        name: "big", weights: ["W"], weightBytes: 1 << 50, matrices: [[1 << 24, 1 << 24]],
        recurrentColumns: 0, macsPerRow: 1 << 48)
    ],
    requests: [ProgramRequest(name: "r", arrival: 1e9)])
  program.instructions = [
    .start(request: 0), .loadWeights(type: 0, bytes: 1 << 50),
    .execute(
      Execution(
        type: 0, lanes: Int32.max, steps: Int32.max, rows: 1, macs: 1 << 50, bytesRead: 1 << 50,
        bytesWritten: 1 << 50)),
    .gather(bytes: 1 << 50), .complete(request: 0),
  ]
  // At the bounds: simulates, clamped, without trapping.
  for preset in AcceleratorPreset.builtIn {
    let report = try Simulator(preset: preset).run(program)
    #expect(report.totals.cycles > 0)
  }
  // Past them: a clear error.
  var tooMany = program
  tooMany.instructions[3] = .gather(bytes: Int64.max)
  #expect(throws: Diagnostic.self) { try tooMany.validate(file: "p") }
  var late = program
  late.requests[0].arrival = 1e300
  #expect(throws: Diagnostic.self) { try late.validate(file: "p") }
  var wide = program
  wide.opTypes[0].matrices = [[Int.max, 2]]
  #expect(throws: Diagnostic.self) { try wide.validate(file: "p") }

  var preset = AcceleratorPreset.tpuV1
  preset.arrayRows = 1 << 40
  #expect(preset.invalidField()?.key == "array_rows")
  preset = .tpuV1
  preset.issueOverheadCycles = Int.max
  #expect(preset.invalidField()?.key == "issue_overhead_cycles")
}
