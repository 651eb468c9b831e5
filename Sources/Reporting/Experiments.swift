import BatchIR
import BatchPasses
import Foundation
import Workloads

/// A graph the report measures: a corpus file or a generated workload.
public struct ReportGraph: Sendable {
  /// `treenn-b64/G0`, `dynet-treelstm`, `generated tree-lstm`, …
  public var name: String
  /// The family it belongs to, for per-family tables and charts.
  public var family: String
  public var module: Module
}

/// Loads the graphs the report covers and runs the passes on them, in process.
public enum Experiments {
  /// The batching policies compared, in table order.
  public static let policies = ["depth", "agenda", "agenda-dynamic", "typewise", "beam", "fsm"]

  /// The beam width the best-known search uses where no policy meets the proven bound.
  public static let bestKnownWidth = 1024

  /// The ED-Batch corpus (`DIR/edbatch/FAMILY/G*.txt`, imported with the default tensor bytes)
  /// and the DyNet Tree-LSTM graph (`DIR/dynet-treelstm-t64-l16.txt`), in name order. With
  /// `firstOnly`, only each family's G0 (and the DyNet graph).
  public static func corpus(directory: String, firstOnly: Bool = false) throws(Diagnostic)
    -> [ReportGraph]
  {
    let manager = FileManager.default
    let root = URL(fileURLWithPath: directory)
    let edbatch = root.appendingPathComponent("edbatch")
    guard let families = try? manager.contentsOfDirectory(atPath: edbatch.path) else {
      throw Diagnostic(
        file: directory, location: .unknown,
        message: "no corpus here: expected \(edbatch.path)/FAMILY/G*.txt")
    }
    var graphs: [ReportGraph] = []
    for family in families.sorted() {
      let folder = edbatch.appendingPathComponent(family)
      let files = ((try? manager.contentsOfDirectory(atPath: folder.path)) ?? [])
        .filter { $0.hasPrefix("G") && $0.hasSuffix(".txt") }.sorted()
      for file in firstOnly ? Array(files.prefix(1)) : files {
        let path = folder.appendingPathComponent(file).path
        graphs.append(
          ReportGraph(
            name: "\(family)/\(file.dropLast(4))", family: family,
            module: try importDump(path)))
      }
    }
    let dynet = root.appendingPathComponent("dynet-treelstm-t64-l16.txt").path
    if manager.fileExists(atPath: dynet) {
      graphs.append(
        ReportGraph(name: "dynet-treelstm", family: "dynet-treelstm", module: try importDump(dynet))
      )
    }
    return graphs
  }

  static func importDump(_ path: String) throws(Diagnostic) -> Module {
    guard let bytes = readFileBytes(path) else {
      throw Diagnostic(file: path, location: .unknown, message: "cannot read the file")
    }
    return try EDBatchImporter.importGraph(bytes, file: path)
  }

  /// Every generated family with `instances` instances and seed 1.
  public static func generated(instances: Int) -> [ReportGraph] {
    WorkloadFamily.allCases.map { family in
      var options = WorkloadOptions()
      options.instances = instances
      options.seed = 1
      return ReportGraph(
        name: "generated \(family.rawValue)", family: family.rawValue,
        module: WorkloadGenerator.generate(family, options: options))
    }
  }

  /// Runs `pipeline` on a copy of `module`; returns the result and each pass's record.
  public static func run(_ pipeline: String, on module: Module) throws(Diagnostic) -> (
    module: Module, records: [PassManager.Record]
  ) {
    var result = module
    let records = try PassManager(pipeline: pipeline).run(on: &result, file: "<report>")
    return (result, records)
  }

  /// The batch counts of every policy, the lower bound, FSM training time, and the layout figures
  /// of `pq-layout` after the FSM's schedule.
  public struct BatchingResult: Sendable {
    public var batches: [String: Int] = [:]
    /// The proven lower bound (`lower_bound`) and the path bound (`path_lower_bound`).
    public var lowerBound = 0
    public var pathLowerBound = 0
    /// The fewest batches found: the best policy, or beam search at `bestKnownWidth` when no
    /// policy meets the proven bound.
    public var bestKnown = 0
    public var trainMilliseconds = 0.0
    public var exact: Int?
    public var gathers = 0
    public var bytesCopied = 0
    public var baselineGathers = 0
    public var baselineBytesCopied = 0
  }

  /// Measures one graph. `exactStates` > 0 also runs `exact` with that state limit (nil when it
  /// gives up).
  public static func batching(_ module: Module, exactStates: Int = 0) throws(Diagnostic)
    -> BatchingResult
  {
    var result = BatchingResult()
    for (i, policy) in policies.enumerated() where policy != "fsm" {
      // The proven bound is the same for every policy: prove it once.
      let prove = i == 0 ? "" : ",prove=0"
      let statistics = try run("fsm-batch{policy=\(policy)\(prove)}", on: module).records[0]
        .statistics
      result.batches[policy] = Int(statistics["batches"] ?? -1)
      if i == 0 {
        result.lowerBound = Int(statistics["lower_bound"] ?? 0)
        result.pathLowerBound = Int(statistics["path_lower_bound"] ?? 0)
      }
    }
    let fsm = try run("fsm-batch{prove=0},pq-layout", on: module).records
    result.batches["fsm"] = Int(fsm[0].statistics["batches"] ?? -1)
    result.bestKnown = result.batches.values.min() ?? 0
    if result.bestKnown > result.lowerBound {
      let wide = try run(
        "fsm-batch{policy=beam,width=\(bestKnownWidth),prove=0}", on: module
      ).records[0].statistics
      result.bestKnown = min(result.bestKnown, Int(wide["batches"] ?? Double(result.bestKnown)))
    }
    result.trainMilliseconds = fsm[0].statistics["train_ms"] ?? 0
    let layout = fsm[1].statistics
    result.gathers = Int(layout["gathers"] ?? 0)
    result.bytesCopied = Int(layout["bytes_copied"] ?? 0)
    result.baselineGathers = Int(layout["baseline_creation_order_gathers"] ?? 0)
    result.baselineBytesCopied = Int(layout["baseline_creation_order_bytes_copied"] ?? 0)
    if exactStates > 0 {
      result.exact = try? Int(
        run("fsm-batch{policy=exact,max-states=\(exactStates)}", on: module).records[0]
          .statistics["batches"] ?? -1)
    }
    return result
  }

  /// What a table trained on one graph does on others.
  public struct TransferResult: Sendable {
    public var trainMilliseconds = 0.0
    public var fsm: [Int] = []
    /// Decisions of the fallback rule and of the back-off table, per target.
    public var fallbacks: [Int] = []
    public var backoffs: [Int] = []
    public var agenda: [Int] = []
  }

  /// Trains an FSM (default options) on `training` and applies it to each of `targets`: the
  /// FSM's batch counts and fallbacks, and agenda's counts, side by side.
  public static func transfer(training: Module, targets: [Module]) -> TransferResult {
    var options = QLearningOptions()
    options.roundSize = 1
    let clock = ContinuousClock()
    let start = clock.now
    let table = FSMTrainer(
      graphs: [BatchingGraph(training)], encoding: FSMBatchingPass().encoding, options: options
    ).train().table
    var result = TransferResult()
    result.trainMilliseconds = (clock.now - start).inMilliseconds
    for target in targets {
      let graph = BatchingGraph(target)
      var policy = FSMPolicy(table: table, graph: graph)
      result.fsm.append(BatchingRun.schedule(graph, policy: &policy, name: "fsm").batchCount)
      result.fallbacks.append(policy.fallbacks)
      result.backoffs.append(policy.backoffs)
      var peer = AgendaPolicy()
      result.agenda.append(BatchingRun.schedule(graph, policy: &peer, name: "agenda").batchCount)
    }
    return result
  }

  /// Compile time of the pipeline stages on `module`, in milliseconds per 1,000 nodes: median of
  /// `runs` runs of printing+parsing+verifying, of `fsm-batch{policy=agenda}`, of applying a
  /// trained FSM table (one greedy episode), and of `pq-layout`.
  public static func compileTime(_ module: Module, runs: Int = 3) throws(Diagnostic) -> [String:
    Double]
  {
    let perThousand = 1000 / Double(max(module.nodeCount, 1))
    let text = DGPrinter.print(module)
    let table = FSMTrainer(
      graphs: [BatchingGraph(module)], encoding: .max, options: QLearningOptions()
    ).train().table
    let scheduled = try run("fsm-batch{policy=agenda}", on: module).module
    var times: [String: [Double]] = [:]
    let clock = ContinuousClock()
    for _ in 0..<runs {
      var start = clock.now
      let parsed = try DGParser.parse(text, file: "<report>")
      try Verifier.verify(parsed, file: "<report>")
      times["parse+verify", default: []].append((clock.now - start).inMilliseconds)
      start = clock.now
      _ = try run("fsm-batch{policy=agenda}", on: module)
      times["fsm-batch agenda", default: []].append((clock.now - start).inMilliseconds)
      start = clock.now
      let graph = BatchingGraph(module)
      var policy = FSMPolicy(table: table, graph: graph)
      _ = BatchingRun.schedule(graph, policy: &policy, name: "fsm")
      times["fsm-batch apply", default: []].append((clock.now - start).inMilliseconds)
      start = clock.now
      _ = try run("pq-layout", on: scheduled)
      times["pq-layout", default: []].append((clock.now - start).inMilliseconds)
    }
    return times.mapValues { $0.sorted()[$0.count / 2] * perThousand }
  }
}
