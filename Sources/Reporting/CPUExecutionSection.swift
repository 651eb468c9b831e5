import BatchIR
import BatchPasses
import CPUBackend
import Foundation
import Workloads

/// "Execution on CPU": the schedules run for real (`CPUExecutor`), DyNet-like against
/// ED-Batch-like against depth and unbatched, per generated family and corpus G0, with compile
/// time beside execution time.
public struct CPUExecutionSection {
  /// Where `../shared/corpus` is.
  public var corpusDirectory: String
  /// Instances and hidden size of the generated families; floats per imported tensor.
  public var instances = 64
  public var hidden = 256
  /// mv-rnn carries a `[h x h]` matrix per node: at 256 it needs gigabytes and seconds a run.
  public var mvRNNHidden = 64
  /// Timed rounds after the checked warm-up run.
  public var repeats = 9

  /// The configurations compared: a pipeline, and whether results live at its layout.
  public struct Configuration: Sendable {
    public var name: String
    public var pipeline: String
  }

  public static let configurations = [
    Configuration(name: "depth", pipeline: "fsm-batch{policy=depth}"),
    Configuration(name: "DyNet-like", pipeline: "fsm-batch{policy=agenda}"),
    // prove=0: the proven lower bound is a statistic for people, not part of compiling.
    Configuration(name: "fsm", pipeline: "fsm-batch{prove=0}"),
    Configuration(name: "ED-Batch-like", pipeline: "fsm-batch{prove=0},pq-layout"),
  ]

  public init(corpusDirectory: String) {
    self.corpusDirectory = corpusDirectory
  }

  /// One graph's measurements.
  struct Row {
    var graph: ReportGraph
    var unbatchedMs: Double
    /// Per configuration (in `configurations` order): the execution report and batches.
    var runs: [(report: ExecutionReport, batches: Int)]
    /// ED-Batch-like with concatenated slots (one GEMM per batch).
    var concatenated: ExecutionReport
    /// Median of the compile timings (`Compiler`), in ms.
    var compileMs: Double
  }

  /// ED-Batch-like's work per mini-batch, as ED-Batch does it at run time: apply an FSM table
  /// trained offline (`fsm-batch` with the table in process: the batching graph, the schedule,
  /// the path bound statistic; `prove=0`, no proven bound), then `pq-layout` (PQ-tree, candidate
  /// layouts, gathers). The table is trained once beforehand, exactly as `fsm-batch{prove=0}`
  /// trains it in the pipeline, so the schedule is the same.
  struct Compiler {
    var batching: FSMBatchingPass
    var layout = PQLayoutPass()

    /// Trains the table on `module` (not timed).
    init(trainingOn module: Module) {
      batching = FSMBatchingPass.applying(tableTrainedOn: module)
    }

    /// Compiles `module`; returns the compiled module and the time the two passes took, in ms.
    func compile(_ module: Module) throws(Diagnostic) -> (module: Module, ms: Double) {
      var result = module
      var statistics = PassStatistics()
      let clock = ContinuousClock()
      let start = clock.now
      try batching.run(on: &result, statistics: &statistics)
      try layout.run(on: &result, statistics: &statistics)
      return (result, (clock.now - start).inMilliseconds)
    }
  }

  /// The graphs: every generated family and every corpus G0 (imported with `hidden` floats a
  /// tensor).
  func graphs() throws(Diagnostic) -> [ReportGraph] {
    var graphs: [ReportGraph] = []
    for family in WorkloadFamily.allCases {
      var options = WorkloadOptions()
      options.instances = instances
      options.hidden = family == .mvRNN ? mvRNNHidden : hidden
      options.seed = 1
      graphs.append(
        ReportGraph(
          name: "\(family.rawValue) h\(options.hidden)", family: family.rawValue,
          module: WorkloadGenerator.generate(family, options: options)))
    }
    let root = URL(fileURLWithPath: corpusDirectory).appendingPathComponent("edbatch")
    for family in ["bilstm", "lattice", "seq2seq", "treenn"] {
      let path = root.appendingPathComponent("\(family)-b64/G0.txt").path
      guard let bytes = readFileBytes(path) else {
        throw Diagnostic(file: path, location: .unknown, message: "cannot read the file")
      }
      graphs.append(
        ReportGraph(
          name: "\(family)-b64/G0", family: family,
          module: try EDBatchImporter.importGraph(bytes, file: path, tensorBytes: hidden * 4)))
    }
    return graphs
  }

  /// Prepares every configuration (and ED-Batch-like with concatenation), checks each against
  /// the reference, then times them round-robin: one run of each in turn, `repeats` rounds, so
  /// a shared machine's noise falls on all of them alike. The unbatched reference takes its turn
  /// in each round too.
  func measure(_ graph: ReportGraph) throws(Diagnostic) -> Row {
    var options = ExecutionOptions()
    options.repeats = repeats
    var executions: [CPUExecution] = []
    var batches: [Int] = []
    let compiler = Compiler(trainingOn: graph.module)
    for configuration in Self.configurations {
      // ED-Batch-like runs what the timed compile makes (the same as its pipeline).
      let module =
        configuration.name == "ED-Batch-like"
        ? try compiler.compile(graph.module).module
        : try Experiments.run(configuration.pipeline, on: graph.module).module
      executions.append(try CPUExecution(module, options: options, file: graph.name))
      batches.append(module.schedule?.batchCount ?? 0)
      if configuration.name == "ED-Batch-like" {
        options.gemm = .concatenate
        executions.append(try CPUExecution(module, options: options, file: graph.name))
      }
    }
    var timings = [[BatchedTiming]](repeating: [], count: executions.count)
    var unbatched: [Double] = []
    var compileMs: [Double] = []
    for _ in 0..<repeats {
      for (i, execution) in executions.enumerated() {
        timings[i].append(execution.timeBatched())
      }
      unbatched.append(executions[0].timeUnbatched())
      compileMs.append(try compiler.compile(graph.module).ms)
    }
    let unbatchedMs = median(unbatched)
    let reports = executions.indices.map { i in
      executions[i].report(
        batchedMs: median(timings[i].map(\.totalMs)), kernelMs: median(timings[i].map(\.kernelMs)),
        copyMs: median(timings[i].map(\.copyMs)), unbatchedMs: unbatchedMs,
        last: timings[i].last ?? BatchedTiming())
    }
    let concat = Self.configurations.count
    return Row(
      graph: graph, unbatchedMs: unbatchedMs,
      runs: Self.configurations.indices.map { (reports[$0], batches[$0]) },
      concatenated: reports[concat], compileMs: median(compileMs))
  }

  /// Measures every graph and renders the section with its chart.
  public func section(chartFolder: String, progress: (String) -> Void) throws(Diagnostic)
    -> ResultsReport.Section
  {
    var rows: [Row] = []
    for graph in try graphs() {
      progress("execute on CPU: \(graph.name) (\(graph.module.nodeCount) nodes)")
      rows.append(try measure(graph))
    }
    return render(rows, chartFolder: chartFolder)
  }

  func render(_ rows: [Row], chartFolder: String) -> ResultsReport.Section {
    let names = Self.configurations.map(\.name)
    let dynet = names.firstIndex(of: "DyNet-like") ?? 0
    let edbatch = names.firstIndex(of: "ED-Batch-like") ?? 0
    var text = """

      ## Execution on CPU

      The schedules run for real (`--execute cpu`, [cpu-backend](cpu-backend.md)): float32, \
      OpenBLAS `sgemm` on one thread (its \(BLASKernels.coreName) kernels), weights and inputs from seed 1; every run checked node by \
      node against the unbatched reference (max error below). Median of \(repeats) rounds after a \
      checked warm-up, ms per mini-batch; in each round every configuration of the graph runs \
      once in turn, so the machine's load falls on all of them alike. Generated families: \(instances) instances, hidden \(hidden) \
      (mv-rnn: \(mvRNNHidden), its per-node matrices make 256 too slow and too large); corpus G0 \
      imported with \(hidden) floats a tensor. **depth**: `fsm-batch{policy=depth}`; \
      **DyNet-like**: `fsm-batch{policy=agenda}`, creation-order memory; **fsm**: `fsm-batch{prove=0}`, \
      creation-order memory; **ED-Batch-like**: `fsm-batch{prove=0},pq-layout`, results at the \
      layout's offsets (`prove=0` skips the proven lower bound, a statistic, not part of \
      compiling; the schedule is the same). Creation order: batch by batch, each batch's results side by side (DyNet's \
      allocator). Speed-up: DyNet-like ms / ED-Batch-like ms. Compile: ED-Batch-like's work per \
      mini-batch, as ED-Batch does it at run time, timed in the same rounds (median, in process): \
      applying the FSM table trained once beforehand on the graph (training not timed; building \
      the batching graph, running the schedule, the path-bound statistic) plus `pq-layout` (the \
      PQ-tree, the candidate layouts, the gathers); no proven bound (`prove=0`), no parsing, no \
      verification. Compile / run: its share of one ED-Batch-like batched run.

      | graph | nodes | unbatched | \(names.joined(separator: " | ")) | speed-up | batches DyNet → ED-Batch | copies ms DyNet → ED-Batch | concat | max error | compile ms | compile / run |
      |---|---:|---:|\(names.map { _ in "---:" }.joined(separator: "|"))|---:|---:|---:|---:|---:|---:|---:|

      """
    for row in rows {
      let ms = row.runs.map { String(format: "%.2f", $0.report.batchedMs) }
      let speedup = row.runs[dynet].report.batchedMs / max(row.runs[edbatch].report.batchedMs, 1e-9)
      let error = row.runs.map(\.report.maxAbsError).max() ?? 0
      let share = row.compileMs / max(row.runs[edbatch].report.batchedMs, 1e-9)
      text +=
        "| \(row.graph.name) | \(row.graph.module.nodeCount) | "
        + String(format: "%.2f", row.unbatchedMs) + " | \(ms.joined(separator: " | ")) | "
        + String(format: "%.2f×", speedup) + " | \(row.runs[dynet].batches) → "
        + "\(row.runs[edbatch].batches) | "
        + String(
          format: "%.2f → %.2f | %.2f | %.1e | %.1f | %.0f%%", row.runs[dynet].report.copyMs,
          row.runs[edbatch].report.copyMs, row.concatenated.batchedMs, error, row.compileMs,
          share * 100) + " |\n"
    }
    // Averages by network class, as ED-Batch reports them (geometric means of the speed-ups).
    let classes: [(String, [String], Double)] = [
      ("chain", ["bilstm-tagger", "seq2seq", "rnn-serving", "bilstm", "seq2seq"], 1.15),
      ("tree", ["tree-lstm", "tree-gru", "mv-rnn", "treenn"], 1.39),
      ("lattice", ["lattice-lstm", "lattice-gru", "lattice"], 2.45),
    ]
    text += """

      | class | graphs | ED-Batch-like over DyNet-like (geometric mean) | fsm over DyNet-like (batching alone) | ED-Batch paper |
      |---|---:|---:|---:|---:|

      """
    let fsm = names.firstIndex(of: "fsm") ?? 0
    for (name, families, paper) in classes {
      let members = rows.filter { families.contains($0.graph.family) }
      func mean(_ index: Int) -> Double {
        let logs = members.map {
          log($0.runs[dynet].report.batchedMs / max($0.runs[index].report.batchedMs, 1e-9))
        }
        return exp(logs.reduce(0, +) / Double(max(logs.count, 1)))
      }
      text +=
        "| \(name) | \(members.count) | "
        + String(format: "%.2f× | %.2f× | %.2f×", mean(edbatch), mean(fsm), paper) + " |\n"
    }

    var chart = SVGChart(
      title: "Measured CPU time per mini-batch, relative to DyNet-like (agenda, creation order)",
      xLabel: "graph", yLabel: "batched ms / DyNet-like ms")
    chart.referenceY = 1
    let svg = chart.bars(
      categories: rows.map { $0.graph.name },
      series: [
        SVGChart.Series(
          name: "unbatched",
          values: rows.map {
            $0.unbatchedMs / max($0.runs[dynet].report.batchedMs, 1e-9)
          })
      ]
        + names.indices.map { i in
          SVGChart.Series(
            name: names[i],
            values: rows.map {
              $0.runs[i].report.batchedMs / max($0.runs[dynet].report.batchedMs, 1e-9)
            })
        })
    let file = "cpu-execution.svg"
    text += "\n![measured CPU time per policy and layout](\(chartFolder)/\(file))\n"
    return (text, [ResultsReport.Chart(fileName: file, svg: svg)])
  }
}
