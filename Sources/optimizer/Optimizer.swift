import AccelSim
import ArgumentParser
import BatchIR
import BatchPasses
import Foundation
import GraphvizDump
import Workloads

/// `optimizer`: the batching optimizer for dynamic neural networks.
struct Optimizer: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "optimizer",
    abstract: "Batch, lay out and pack dynamic neural network graphs (.dg files).",
    subcommands: [
      RunCommand.self, ImportCommand.self, GenerateCommand.self, TrainCommand.self,
      SimulateCommand.self, ReportCommand.self, ServeSweepCommand.self,
    ],
    defaultSubcommand: RunCommand.self
  )
}

/// `optimizer FILE.dg [--passes …]`: parse, verify, run a pipeline, write outputs.
struct RunCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run", abstract: "Run a pass pipeline over a .dg file (the default subcommand).")

  @Argument(help: "The .dg file to read ('-' for standard input).")
  var file: String?

  @Option(name: .long, help: "The pipeline, e.g. 'fsm-batch{policy=agenda}'. \"\" runs no pass.")
  var passes: String = PassRegistry.defaultPipeline

  @Option(
    name: .long,
    help: "Write NN-stage.{dg,dot,svg} for the input and after every pass into this folder.")
  var dumpDir: String?

  @Option(name: .long, help: "Picture format of the dumps: svg or png.")
  var dumpFormat: DumpFormat = .svg

  @Option(
    name: .long, help: "Draw at most this many nodes one by one; bigger graphs are collapsed.")
  var dumpNodeLimit: Int = ModuleView.defaultNodeLimit

  @Option(name: .long, help: "Write the module after the pipeline as .dg.")
  var emitIr: String?

  @Option(name: .long, help: "Write the statistics of the input and of every pass as JSON.")
  var statsJson: String?

  @Option(
    name: .long,
    help: "Write the accelerator program after the pipeline (JSON when the name ends in .json).")
  var emitProgram: String?

  @Option(
    name: .long,
    help:
      "The target: tpu-v1, epur, or a preset JSON file. It becomes the module's target (as a 'target' line does); every pass packs for it and the program is simulated on it (figures under \"simulate\" in --stats-json). Default: epur, without simulating."
  )
  var accelerator: String?

  @OptionGroup var executeOptions: ExecuteOptions

  @Flag(
    name: .long, inversion: .prefixedNo,
    help: "Verify the module after every pass (on by default; --no-verify-each for speed).")
  var verifyEach = true

  @Option(
    name: .long,
    help: "Print the module as .dg after the named pass ('all' for every pass). Repeatable.")
  var printAfter: [String] = []

  @Flag(
    name: .long,
    help:
      "Print the pipeline as it will run, every option that differs from its default written out.")
  var printPipeline = false

  @Flag(
    name: .long,
    help:
      "Print the wall time of parsing, of each pass and of each verification, with their shares.")
  var timePasses = false

  @Flag(name: .long, help: "List the registered passes and their options.")
  var listPasses = false

  @Flag(name: .shortAndLong, help: "Do not print the per-pass summary.")
  var quiet = false

  func validate() throws {
    if !listPasses && file == nil { throw ValidationError("missing the .dg file to read") }
    if dumpNodeLimit < 1 { throw ValidationError("--dump-node-limit must be positive") }
  }

  func run() throws {
    if listPasses {
      for passType in PassRegistry.passes {
        print("\(passType.name): \(passType.summary)")
        for option in passType.optionSummary { print("    \(option)") }
      }
      print("default pipeline: \(PassRegistry.defaultPipeline)")
      return
    }
    guard let file else { return }
    var manager = try PassManager(pipeline: passes)
    manager.verifyEach = verifyEach
    if printPipeline { print("pipeline: \(manager.pipelineText)") }
    for name in printAfter where name != "all" && PassRegistry.pass(named: name) == nil {
      throw ValidationError("--print-after: unknown pass '\(name)'")
    }
    var loadTimes = LoadTimes()
    var module = try loadModule(file, times: &loadTimes)
    if let accelerator {
      try setTarget(accelerator, of: &module, file: file)
    }
    // Resolved before anything runs, so a bad target line fails before the passes.
    let target: AcceleratorPreset
    do {
      target = try AcceleratorPreset.resolve(module.target)
    } catch {
      var located = error
      located.file = file
      throw located.withSource(readFileBytes(file) ?? [])
    }
    let input = module
    var outputs = PendingOutputs()
    let stem = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
    var dumps = dumpDir.map {
      DumpWriter(
        directory: $0, format: dumpFormat, nodeLimit: dumpNodeLimit, title: "\(stem): dumps",
        pipeline: passes)
    }
    try dumps?.add(
      module, stage: "00-input", title: "\(stem): input", view: .input,
      statistics: inputStatistics(module), to: &outputs)
    // `input` passed verification when it was loaded (a target set since is not part of it).
    let records = try manager.run(on: &module, file: file, verified: input) {
      (index, record, module) throws(Diagnostic) in
      if !quiet { print(summaryLine(record)) }
      if printAfter.contains("all") || printAfter.contains(record.name) {
        print("# *** IR after \(record.name) ***")
        print(DGPrinter.printString(module), terminator: "")
      }
      try dumps?.add(
        module, stage: String(format: "%02d-%@", index + 1, record.name),
        title: "\(stem): after \(record.name)",
        view: DumpView(afterPass: record.name, module: module),
        statistics: record.statistics.entries.map { ($0.name, $0.value) }, to: &outputs)
    }
    if timePasses {
      printError(timingReport(load: loadTimes, records: records, verifiedEach: verifyEach))
    }
    if let emitIr { outputs.add(emitIr, DGPrinter.print(module)) }
    var extraSections: [(String, [(String, Double)])] = []
    // The program is built for the module's target (the default when there is none), the one
    // every pass used. It is simulated when --accelerator asks for it, or when the module names
    // its target and the pipeline has left something to run (a schedule or a packing).
    let simulates =
      accelerator != nil
      || (module.target != nil && (module.schedule != nil || module.packing != nil))
    if emitProgram != nil || simulates {
      var program = try ProgramBuilder(preset: target).build(module, file: file)
      program.target = target.name
      if let emitProgram { outputs.add(emitProgram, programBytes(program, path: emitProgram)) }
      if simulates {
        let report = try Simulator(preset: target).run(program, file: file)
        if !quiet {
          print(
            "simulate: "
              + report.entries.prefix(15).map { "\($0.name)=\(jsonNumber($0.value))" }.joined(
                separator: " "))
        }
        extraSections.append(("simulate", report.entries.map { ($0.name, $0.value) }))
      }
    }
    if let execution = try executeOptions.run(module, records: records, file: file) {
      if !quiet { print(execution.line) }
      extraSections.append(("execute", execution.section))
    }
    if let statsJson {
      outputs.add(
        statsJson,
        Array(
          statisticsJSON(
            input: input, target: (target.name, input.target == nil ? "default" : "module"),
            pipeline: manager.pipelineText,
            records: records, extra: extraSections
          ).utf8))
    }
    dumps?.finish(to: &outputs)
    try outputs.writeAll()
  }
}

/// Makes `--accelerator NAME` the module's target. A file with a `target` line naming another
/// preset is an error at that line: one module, one target.
func setTarget(_ name: String, of module: inout Module, file: String) throws {
  if name.isEmpty || name.unicodeScalars.contains(where: { $0 == "\"" || $0.value < 0x20 }) {
    throw ValidationError("--accelerator: '\(name)' is not a preset name or a file name")
  }
  let preset = try loadPreset(name)
  if let existing = module.target {
    let written: AcceleratorPreset?
    do {
      written = try AcceleratorPreset.named(orFile: existing.name)
    } catch {
      written = nil
    }
    if written != preset {
      throw Diagnostic(
        file: file, location: existing.location,
        message:
          "two targets: the file says '\(existing.name)', --accelerator says '\(name)'; give one"
      ).withSource(readFileBytes(file) ?? [])
    }
    return
  }
  module.target = TargetSpec(name)
}

/// `PASS: target=… lanes=… …`: a pass's labels, statistics and what it invalidated.
func summaryLine(_ record: PassManager.Record) -> String {
  var words = record.statistics.labels.map { "\($0.name)=\($0.value)" }
  words += record.statistics.entries.map { "\($0.name)=\(jsonNumber($0.value))" }
  if !record.invalidated.isEmpty {
    words.append("invalidated=" + record.invalidated.map(\.rawValue).joined(separator: ","))
  }
  return "\(record.name): " + words.joined(separator: " ")
}

/// `--time-passes`: wall time of each step in the order it ran, as LLVM's `-time-passes` lists
/// its passes and the verifier: parsing and verifying the input, then every pass and the
/// verification after it (when `verifiedEach`), and their total, with each step's share of it.
func timingReport(load: LoadTimes, records: [PassManager.Record], verifiedEach: Bool) -> String {
  var steps = [("parse", load.parseSeconds), ("verify input", load.verifySeconds)]
  for record in records {
    steps.append((record.name, record.seconds))
    if verifiedEach { steps.append(("verify after \(record.name)", record.verifySeconds)) }
  }
  let total = steps.reduce(0) { $0 + $1.1 }
  func line(_ name: String, _ seconds: Double) -> String {
    String(format: "%10.3f ms %6.1f%%  %@", seconds * 1e3, 100 * seconds / max(total, 1e-12), name)
  }
  return (["=== pass timing (wall clock) ==="] + steps.map(line) + [line("total", total)])
    .joined(separator: "\n")
}

/// Files to write once the whole command has succeeded, so a failure leaves nothing half-written.
struct PendingOutputs {
  private var files: [(path: String, bytes: [UInt8])] = []
  private var directories: [String] = []

  mutating func add(_ path: String, _ bytes: [UInt8]) { files.append((path, bytes)) }

  mutating func addDirectory(_ directory: String) {
    if !directories.contains(directory) { directories.append(directory) }
  }

  func writeAll() throws(Diagnostic) {
    for directory in directories {
      do {
        try FileManager.default.createDirectory(
          atPath: directory, withIntermediateDirectories: true)
      } catch {
        throw Diagnostic(file: directory, location: .unknown, message: "cannot create the folder")
      }
    }
    for file in files { try writeFileAtomically(file.path, file.bytes) }
  }
}

extension DumpFormat: ExpressibleByArgument {}
