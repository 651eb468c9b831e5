import ArgumentParser
import BatchIR
import BatchPasses
import CPUBackend
import Foundation

/// `--execute cpu` and its options: run the final module for real and time it.
struct ExecuteOptions: ParsableArguments {
  @Option(
    name: .long,
    help:
      "Run the scheduled module on this target (cpu), check it against unbatched execution, and time it; the figures go under \"execute\" in --stats-json."
  )
  var execute: String?

  @Option(name: .long, help: "Timed runs after one warm-up; medians are reported.")
  var executeRepeat: Int = 5

  @Option(name: .long, help: "BLAS threads for --execute (1 gives the most stable numbers).")
  var executeThreads: Int = 1

  @Option(name: .long, help: "Seed of the weights, embeddings and inputs of --execute.")
  var executeSeed: UInt64 = 1

  @Option(
    name: .long,
    help: "Several operand slots: one GEMM per slot (per-slot) or one over copied slots (concat).")
  var executeGemm: String = ExecutionOptions.GEMMStrategy.perSlot.rawValue

  func validate() throws {
    if let execute, execute != CPUExecutor.name {
      throw ValidationError("--execute: unknown target '\(execute)' (targets: cpu)")
    }
    if executeRepeat < 1 { throw ValidationError("--execute-repeat must be at least 1") }
    if !(1...256).contains(executeThreads) {
      throw ValidationError("--execute-threads must be between 1 and 256")
    }
    if ExecutionOptions.GEMMStrategy(rawValue: executeGemm) == nil {
      throw ValidationError("--execute-gemm must be per-slot or concat")
    }
  }

  /// Executes `module` when asked; returns the printed line and the "execute" section.
  func run(_ module: Module, records: [PassManager.Record], file: String) throws(Diagnostic)
    -> (line: String, section: [(String, Double)])?
  {
    guard execute != nil else { return nil }
    if let warning = BLASKernels.fallbackWarning { printError(warning) }
    var options = ExecutionOptions()
    options.repeats = executeRepeat
    options.threads = executeThreads
    options.seed = executeSeed
    options.gemm = ExecutionOptions.GEMMStrategy(rawValue: executeGemm) ?? .perSlot
    let report: ExecutionReport
    do {
      report = try CPUExecutor(options: options).execute(module, file: file)
    } catch {
      // Point at the source line when the error is located in the input file.
      guard error.file == file, let bytes = readFileBytes(file) else { throw error }
      throw error.withSource(bytes)
    }
    // What the pipeline costs per mini-batch: every pass's wall time, FSM training excluded.
    let compileMs =
      records.reduce(0) { $0 + $1.seconds } * 1e3
      - records.reduce(0) { $0 + ($1.statistics["train_ms"] ?? 0) }
    let line = String(
      format: "execute: batched %.3g ms (kernels %.3g, copies %.3g), %d launches; "
        + "unbatched %.3g ms; max error %.1e; OpenBLAS kernels %@",
      report.batchedMs, report.kernelMs, report.copyMs, report.launches, report.unbatchedMs,
      report.maxAbsError, BLASKernels.coreName)
    let section =
      report.entries.map { ($0.name, $0.value) } + [
        ("compile_ms", compileMs), ("repeats", Double(executeRepeat)),
        ("threads", Double(executeThreads)),
        ("layout", report.memory == .layout ? 1 : 0),
      ]
    return (line, section)
  }
}
