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
      SimulateCommand.self, ReportCommand.self,
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
      "Simulate the program on this preset (tpu-v1, epur, or a preset JSON file); the figures go under \"simulate\" in --stats-json."
  )
  var accelerator: String?

  @OptionGroup var executeOptions: ExecuteOptions

  @Flag(name: .long, help: "Verify the module after every pass.")
  var verifyEach = false

  @Option(
    name: .long,
    help: "Print the module as .dg after the named pass ('all' for every pass). Repeatable.")
  var printAfter: [String] = []

  @Flag(name: .long, help: "Print the time each pass took.")
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
    for name in printAfter where name != "all" && PassRegistry.pass(named: name) == nil {
      throw ValidationError("--print-after: unknown pass '\(name)'")
    }
    let preset = try accelerator.map { (name) throws(Diagnostic) in try loadPreset(name) }
    var module = try loadModule(file)
    let input = module
    var outputs = PendingOutputs()
    let stem = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
    if let dumpDir {
      try outputs.addDump(
        module, directory: dumpDir, stage: "00-input", title: "\(stem): input", format: dumpFormat,
        limit: dumpNodeLimit)
    }
    let records = try manager.run(on: &module, file: file) {
      (index, record, module) throws(Diagnostic) in
      if !quiet {
        let stats = record.statistics.entries.map { "\($0.name)=\(jsonNumber($0.value))" }.joined(
          separator: " ")
        print("\(record.name): \(stats)")
      }
      if printAfter.contains("all") || printAfter.contains(record.name) {
        print("# *** IR after \(record.name) ***")
        print(DGPrinter.printString(module), terminator: "")
      }
      if let dumpDir {
        let stage = String(format: "%02d-%@", index + 1, record.name)
        try outputs.addDump(
          module, directory: dumpDir, stage: stage, title: "\(stem): after \(record.name)",
          format: dumpFormat, limit: dumpNodeLimit)
      }
    }
    if timePasses {
      printError("=== pass timing ===")
      for record in records {
        printError(String(format: "%10.3f ms  %@", record.seconds * 1e3, record.name))
      }
    }
    if let emitIr { outputs.add(emitIr, DGPrinter.print(module)) }
    var extraSections: [(String, [(String, Double)])] = []
    if emitProgram != nil || preset != nil {
      let builder =
        preset.map(ProgramBuilder.init(preset:))
        ?? ProgramBuilder(lanes: AcceleratorPreset.tpuV1.lanes)
      let program = try builder.build(module, file: file)
      if let emitProgram { outputs.add(emitProgram, programBytes(program, path: emitProgram)) }
      if let preset {
        let report = try Simulator(preset: preset).run(program, file: file)
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
        Array(statisticsJSON(input: input, records: records, extra: extraSections).utf8))
    }
    try outputs.writeAll()
  }
}

/// Files to write once the whole command has succeeded, so a failure leaves nothing half-written.
struct PendingOutputs {
  private var files: [(path: String, bytes: [UInt8])] = []
  private var directories: [String] = []

  mutating func add(_ path: String, _ bytes: [UInt8]) { files.append((path, bytes)) }

  mutating func addDump(
    _ module: Module, directory: String, stage: String, title: String, format: DumpFormat,
    limit: Int
  ) throws(Diagnostic) {
    if !directories.contains(directory) { directories.append(directory) }
    let graph = ModuleView.graph(module, title: title, nodeLimit: limit)
    let base = (directory as NSString).appendingPathComponent(stage)
    add(base + ".dg", DGPrinter.print(module))
    do {
      add(base + ".dot", try GraphvizRenderer.dot(graph))
      add(base + "." + format.rawValue, try GraphvizRenderer.render(graph, format: format))
    } catch {
      throw Diagnostic(file: base, location: .unknown, message: "Graphviz: \(error.description)")
    }
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
