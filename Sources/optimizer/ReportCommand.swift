import ArgumentParser
import BatchIR
import CPUBackend
import Foundation
import Reporting

/// `optimizer report`: regenerates docs/results.md and its charts, or checks the quick subset
/// against a baseline (CI's regression guard).
struct ReportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report",
    abstract: "Measure every figure of the project into docs/results.md (or check a baseline).")

  @Option(name: .long, help: "The shared corpus folder (edbatch/ and the DyNet dump).")
  var corpus: String = "../shared/corpus"

  @Option(name: .shortAndLong, help: "The Markdown page to write; charts go beside it in NAME/.")
  var output: String = "docs/results.md"

  @Option(
    name: .long,
    help:
      "Quick mode: measure the regression subset and fail (exit 1) if it is worse than this baseline."
  )
  var check: String?

  @Option(
    name: .long, help: "Quick mode: measure the regression subset and write it as a baseline.")
  var writeBaseline: String?

  @Flag(name: .long, help: "Measure and write only the \"Execution on CPU\" section.")
  var onlyExecution = false

  @Flag(name: .shortAndLong, help: "No progress lines.")
  var quiet = false

  func run() throws {
    let progress: (String) -> Void = { line in if !quiet { printError("report: \(line)") } }
    if check != nil || writeBaseline != nil {
      let figures = try RegressionGuard.measure(corpusDirectory: corpus, progress: progress)
      if let writeBaseline {
        try writeFileAtomically(writeBaseline, RegressionGuard.baselineText(figures))
      }
      guard let check else { return }
      guard let bytes = readFileBytes(check) else {
        throw Diagnostic(file: check, location: .unknown, message: "cannot read the baseline")
      }
      let baseline = try RegressionGuard.parseBaseline(
        String(decoding: bytes, as: UTF8.self), file: check)
      let (regressions, improvements) = RegressionGuard.compare(figures, baseline: baseline)
      for line in improvements { print("improved: \(line)") }
      for line in regressions { printError("\(check): error: regression: \(line)") }
      print(
        "report --check: \(baseline.count) figures, \(regressions.count) worse, \(improvements.count) better"
      )
      if !regressions.isEmpty { throw ExitCode.failure }
      return
    }

    if let warning = BLASKernels.fallbackWarning { printError(warning) }
    let page = URL(fileURLWithPath: output)
    let folderName = page.deletingPathExtension().lastPathComponent
    let folder = page.deletingLastPathComponent().appendingPathComponent(folderName)
    let report = ResultsReport(
      corpusDirectory: corpus,
      command: "optimizer report --corpus \(corpus) -o \(output)")
    let (markdown, charts) =
      onlyExecution
      ? try report.generateExecution(chartFolder: folderName, progress: progress)
      : try report.generate(chartFolder: folderName, progress: progress)
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    for chart in charts {
      try writeFileAtomically(folder.appendingPathComponent(chart.fileName).path, chart.svg)
    }
    try writeFileAtomically(output, markdown)
  }
}
