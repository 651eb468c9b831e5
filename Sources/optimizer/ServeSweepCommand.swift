import ArgumentParser
import BatchIR
import Foundation
import Reporting

/// `optimizer serve-sweep`: the serving sweep (docs/serving.md and its charts).
struct ServeSweepCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve-sweep",
    abstract:
      "Sweep serving load from light to beyond saturation for padding, cellular and ebatch on both presets."
  )

  @Option(name: .shortAndLong, help: "The Markdown page to write.")
  var output: String = "docs/serving.md"

  @Option(
    name: .long,
    help: "The folder for the charts, relative to the page's folder (beside docs/results.md).")
  var charts: String = "results"

  @Option(name: .long, help: "Requests per trace.")
  var requests: Int = 2000

  @Option(
    name: .long, parsing: .upToNextOption,
    help: "Loads: arrival rate over cellular batching's capacity.")
  var loads: [Double] = ServingSweep().loads

  @Option(name: .long, help: "The p99 SLO as a multiple of cellular's p99 at the lightest load.")
  var sloFactor: Double = ServingSweep().sloFactor

  @Flag(name: .shortAndLong, help: "No progress lines.")
  var quiet = false

  func validate() throws {
    if requests < 1 || requests > 1_000_000 {
      throw ValidationError("--requests must be in 1...1000000")
    }
    if loads.isEmpty || loads.contains(where: { !($0 > 0 && $0.isFinite) }) {
      throw ValidationError("--loads must be positive numbers")
    }
    if !(sloFactor > 0 && sloFactor.isFinite) {
      throw ValidationError("--slo-factor must be positive")
    }
    if charts.isEmpty || charts.hasPrefix("/") {
      throw ValidationError("--charts must be relative")
    }
  }

  func run() throws {
    var sweep = ServingSweep()
    sweep.requests = requests
    sweep.loads = Array(Set(loads)).sorted()  // the page reads the lightest first, the heaviest last
    sweep.sloFactor = sloFactor
    var command = "optimizer serve-sweep -o \(output)"
    if requests != 2000 { command += " --requests \(requests)" }
    if loads != ServingSweep().loads {
      command += " --loads " + loads.map { "\($0)" }.joined(separator: " ")
    }
    if sloFactor != ServingSweep().sloFactor { command += " --slo-factor \(sloFactor)" }
    let (markdown, svgs, _) = sweep.run(
      chartFolder: charts, command: command,
      progress: { line in if !quiet { printError(line) } })
    let folder = URL(fileURLWithPath: output).deletingLastPathComponent()
      .appendingPathComponent(charts)
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    for chart in svgs {
      try writeFileAtomically(folder.appendingPathComponent(chart.fileName).path, chart.svg)
    }
    try writeFileAtomically(output, markdown)
  }
}
