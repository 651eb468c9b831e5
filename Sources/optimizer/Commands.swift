import ArgumentParser
import BatchIR
import BatchPasses
import Foundation
import GraphvizDump
import Workloads

/// `optimizer import edbatch FILE -o OUT.dg`
struct ImportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "import", abstract: "Convert a graph dump of another tool into .dg.")

  enum Format: String, ExpressibleByArgument, CaseIterable {
    case edbatch
  }

  @Argument(
    help: "The dump format: edbatch (ED-Batch/DyNet dumps: 'N', then 'type nargs args…' per node).")
  var format: Format

  @Argument(help: "The dump to read.")
  var file: String

  @Option(name: .long, help: "Bytes of every tensor (dumps record no sizes).")
  var tensorBytes: Int = EDBatchImporter.defaultTensorBytes

  @Option(name: .shortAndLong, help: "The .dg file to write ('-' for standard output).")
  var output: String = "-"

  func run() throws {
    guard let bytes = readFileBytes(file) else {
      throw Diagnostic(file: file, location: .unknown, message: "cannot read the file")
    }
    let module = try EDBatchImporter.importGraph(bytes, file: file, tensorBytes: tensorBytes)
    try Verifier.verify(module, file: file)
    try writeFileAtomically(output, DGPrinter.print(module))
  }
}

/// `optimizer generate MODEL --instances N --seed S [-o FILE]`
struct GenerateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "generate",
    abstract: "Generate a workload: "
      + WorkloadFamily.allCases.map(\.rawValue).joined(separator: ", ") + ".")

  @Argument(help: "The workload family.")
  var model: WorkloadFamily

  @Option(name: .long, help: "Inputs of the mini-batch, or requests of the trace.")
  var instances: Int = 8

  @Option(name: .long, help: "Random seed.")
  var seed: UInt64 = 1

  @Option(name: .long, help: "Hidden size of the cells.")
  var hidden: Int = 64

  @Option(name: .long, help: "Layers of the rnn-serving network.")
  var layers: Int = 2

  @Option(name: .long, help: "Mean request arrival rate per second (rnn-serving, Poisson).")
  var rate: Double = 1000

  @Option(name: .long, help: "Sequence lengths: translation (tokens) or speech (frames).")
  var lengths: LengthDistribution = .translation

  @Option(name: .shortAndLong, help: "The .dg file to write ('-' for standard output).")
  var output: String = "-"

  func validate() throws {
    guard (1...10_000_000).contains(instances) else {
      throw ValidationError("--instances must be in 1...10000000")
    }
    guard (1...65536).contains(hidden) else {
      throw ValidationError("--hidden must be in 1...65536")
    }
    guard (1...64).contains(layers) else { throw ValidationError("--layers must be in 1...64") }
    guard rate > 0, rate.isFinite else { throw ValidationError("--rate must be positive") }
  }

  func run() throws {
    var options = WorkloadOptions()
    options.instances = instances
    options.seed = seed
    options.hidden = hidden
    options.layers = layers
    options.rate = rate
    options.lengths = lengths
    let module = WorkloadGenerator.generate(model, options: options)
    if let last = module.instances.compactMap(\.arrival).max(), last > DGParser.maxArrival {
      throw ValidationError(
        "--rate \(rate) is too low: arrivals would reach \(last) s, past the format's \(Int(DGParser.maxArrival)) s"
      )
    }
    try writeFileAtomically(output, DGPrinter.print(module))
  }
}

extension WorkloadFamily: ExpressibleByArgument {}
extension LengthDistribution: ExpressibleByArgument {}

/// `optimizer train FILES… -o policy.fsm`
struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Learn an FSM batching policy (ED-Batch Q-learning) on one or more graphs.")

  @Argument(help: "The .dg files to train on.")
  var files: [String]

  @Option(name: .shortAndLong, help: "The policy file to write.")
  var output: String

  @Option(
    name: .long, help: "State encoding: base, sort, max, frontier, history, critical or phased.")
  var encoding: String = StateEncoding.phased.rawValue

  @Option(name: .long, help: "Training episodes.")
  var episodes: Int = 1000

  @Option(name: .long, help: "Imitate beam search of this width first (0: none).")
  var imitate: Int = QLearningOptions().imitationWidth

  @Option(name: .long, help: "Most evaluations of the refinement after Q-learning.")
  var refine: Int = 4000

  @Option(
    name: .long,
    help:
      "Episodes per round, run in parallel (the table depends on the seed and this, not on the cores)."
  )
  var round: Int = 8

  @Option(name: .long, help: "Random seed.")
  var seed: UInt64 = 1

  @Flag(
    inversion: .prefixedNo,
    help:
      "Fit a ranking rule to the imitated decisions as the fallback of unseen states (kept when it beats the fixed rule on the training graphs)."
  )
  var rank = true

  @Option(name: .long, help: "Also draw the learned FSM as Graphviz DOT to this file.")
  var dot: String?

  @Flag(name: .shortAndLong, help: "Do not show the progress bar.")
  var quiet = false

  func validate() throws {
    guard !files.isEmpty else { throw ValidationError("give at least one .dg file to train on") }
    guard StateEncoding(rawValue: encoding) != nil else {
      throw ValidationError(
        "--encoding must be one of \(StateEncoding.allCases.map(\.rawValue).joined(separator: ", "))"
      )
    }
    guard episodes >= 1 else { throw ValidationError("--episodes must be positive") }
    guard (0...16_384).contains(imitate), refine >= 0 else {
      throw ValidationError("--imitate must be in 0...16384 and --refine must not be negative")
    }
    guard round >= 1 else { throw ValidationError("--round must be positive") }
  }

  func run() throws {
    var graphs: [BatchingGraph] = []
    for file in files { graphs.append(BatchingGraph(try loadModule(file))) }
    var options = QLearningOptions()
    options.episodes = episodes
    options.seed = seed
    options.imitationWidth = imitate
    options.refineEvaluations = refine
    options.roundSize = round
    options.learnRule = rank
    let trainer = FSMTrainer(
      graphs: graphs, encoding: StateEncoding(rawValue: encoding) ?? .phased, options: options)
    let showProgress = !quiet && isatty(STDERR_FILENO) != 0
    let result = trainer.train(runRound: runInParallel) { episode, best, lowerBound in
      guard showProgress else { return }
      let width = 30
      let filled = episode * width / max(episodes, 1)
      let bar =
        String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
      FileHandle.standardError.write(
        Data(
          "\r[\(bar)] episode \(episode)/\(episodes)  best \(best) batches  lower bound \(lowerBound)"
            .utf8))
    }
    if showProgress { printError("") }
    print(
      "trained \(result.episodes) episodes: \(result.bestBatches) batches (lower bound \(result.lowerBound)), \(result.table.stateCount) states"
    )
    try writeFileAtomically(output, result.table.text())
    if let dot {
      let replay = FSMReplay(table: result.table, graphs: graphs)
      try writeFileAtomically(dot, try GraphvizRenderer.dot(FSMView.graph(replay)))
    }
  }
}

/// Runs a round of training episodes as child tasks (Swift concurrency) and waits for them;
/// results come back in the order of `specs`, so the table does not depend on the scheduling.
func runInParallel(
  _ specs: [EpisodeSpec], _ episode: @escaping @Sendable (EpisodeSpec) -> Trajectory
) -> [Trajectory] {
  final class Box: @unchecked Sendable { var trajectories: [Trajectory] = [] }
  let box = Box()
  let done = DispatchSemaphore(value: 0)
  Task.detached {
    box.trajectories = await withTaskGroup(of: (Int, Trajectory).self) { group in
      for (i, spec) in specs.enumerated() { group.addTask { (i, episode(spec)) } }
      var out = [Trajectory](repeating: Trajectory(), count: specs.count)
      for await (i, trajectory) in group { out[i] = trajectory }
      return out
    }
    done.signal()
  }
  done.wait()
  return box.trajectories
}
