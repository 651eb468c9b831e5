import AccelSim
import ArgumentParser
import BatchIR
import Foundation

/// `optimizer simulate PROGRAM --accelerator NAME|FILE [--json OUT]`
struct SimulateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "simulate",
    abstract: "Simulate an accelerator program (JSON or text, from --emit-program).")

  @Argument(help: "The program to run ('-' for standard input).")
  var program: String

  @Option(
    name: .long,
    help:
      "A built-in preset (\(AcceleratorPreset.builtIn.map(\.name).joined(separator: ", "))) or a preset JSON file; default: the program's target line."
  )
  var accelerator: String?

  @Option(name: .long, help: "Also write the figures as JSON.")
  var json: String?

  @Flag(name: .long, help: "Print the time to read and to simulate the program.")
  var time = false

  func run() throws {
    let clock = ContinuousClock()
    let readStart = clock.now
    let loaded = try loadProgram(program)
    let preset = try simulationPreset(accelerator: accelerator, program: loaded)
    let simulateStart = clock.now
    let report = try Simulator(preset: preset).run(loaded, file: program)
    let end = clock.now
    print(reportTable(report), terminator: "")
    if time {
      printError(
        String(
          format: "read %.1f ms, simulate %.1f ms (%d instructions)",
          (simulateStart - readStart).inMilliseconds, (end - simulateStart).inMilliseconds,
          loaded.instructions.count))
    }
    if let json { try writeFileAtomically(json, reportJSON(report)) }
  }
}

/// The preset to simulate on: `--accelerator`, else the program's target. Both, naming different
/// presets, is an error; neither is a usage error.
func simulationPreset(accelerator: String?, program: Program) throws -> AcceleratorPreset {
  switch (accelerator, program.target) {
  case (nil, nil):
    throw ValidationError("the program names no target: give --accelerator")
  case (let name?, nil), (nil, let name?):
    return try loadPreset(name)
  case (let name?, let built?):
    let preset = try loadPreset(name)
    let target = try? AcceleratorPreset.named(orFile: built)
    if target != preset {
      throw ValidationError(
        "two targets: the program was built for '\(built)', --accelerator says '\(name)'")
    }
    return preset
  }
}

/// A built-in preset by name, or a preset file.
func loadPreset(_ nameOrFile: String) throws(Diagnostic) -> AcceleratorPreset {
  guard let preset = try AcceleratorPreset.named(orFile: nameOrFile) else {
    let names = AcceleratorPreset.builtIn.map(\.name).joined(separator: ", ")
    throw Diagnostic(
      file: nameOrFile, location: .unknown,
      message: "no such preset (built in: \(names)) and cannot read it as a file")
  }
  return preset
}

/// A program in JSON (first non-blank byte '{') or in the text form.
func loadProgram(_ path: String) throws(Diagnostic) -> Program {
  guard let bytes = readFileBytes(path) else {
    throw Diagnostic(file: path, location: .unknown, message: "cannot read the file")
  }
  let first = bytes.first { ![UInt8(ascii: " "), 10, 13, 9].contains($0) }
  if first == UInt8(ascii: "{") {
    let program = try JSONInput.decode(Program.self, from: bytes, file: path)
    try program.validate(file: path)
    return program
  }
  return try ProgramText.parse(bytes, file: path)
}

/// The program as JSON when `path` ends in .json, as text otherwise.
func programBytes(_ program: Program, path: String) -> [UInt8] {
  path.hasSuffix(".json") ? JSONInput.encode(program) : Array(ProgramText.print(program).utf8)
}

/// The figures as an aligned table with units.
func reportTable(_ report: SimulationReport) -> String {
  let units: [String: String] = [
    "seconds": "s", "requests_per_s": "1/s", "macs_per_s": "MAC/s", "latency_p50_s": "s",
    "latency_p95_s": "s", "latency_p99_s": "s", "sram_bytes": "B", "dram_bytes": "B",
  ]
  var out = "simulate on \(report.preset.name)\n"
  let entries = report.entries
  let width = entries.map(\.name.count).max() ?? 0
  for (name, value) in entries {
    let unit = units[name] ?? (name.hasSuffix("_pj") ? "pJ" : "")
    let number =
      value == value.rounded() && abs(value) < 1e15
      ? String(Int(value)) : String(format: "%.6g", value)
    out += "  " + name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + number
    out += unit.isEmpty ? "\n" : " \(unit)\n"
  }
  return out
}

/// `{"accelerator": "...", "cycles": …, …}`.
func reportJSON(_ report: SimulationReport) -> String {
  var out = "{\n  \"accelerator\": \(jsonString(report.preset.name))"
  for (name, value) in report.entries { out += ",\n  \(jsonString(name)): \(jsonNumber(value))" }
  return out + "\n}\n"
}
