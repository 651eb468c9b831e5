import BatchIR

/// All passes the tool knows, by pipeline name.
public enum PassRegistry {
  /// Registered passes, in the order `--list-passes` shows them.
  public static let passes: [any Pass.Type] = [
    FSMBatchingPass.self, PQLayoutPass.self, EBatchPackingPass.self,
  ]

  /// The pipeline run when none is given.
  public static let defaultPipeline = "fsm-batch,pq-layout,ebatch-pack"

  public static func pass(named name: String) -> (any Pass.Type)? {
    passes.first { $0.name == name }
  }
}

/// A pass built from pipeline text, ready to run.
public struct ScheduledPass {
  public let pass: any Pass
  public var name: String { type(of: pass).name }
}

/// Runs a pipeline of passes over a module, in the style of LLVM's new pass manager:
/// prerequisites are checked before anything runs, the module can be verified after each
/// pass, and an observer sees the module after each pass (for `--print-after` and dumps).
public struct PassManager {
  public var passes: [ScheduledPass]
  /// Verify the module after every pass (`--verify-each`).
  public var verifyEach = false

  /// One pass run: its name, statistics and wall time.
  public struct Record: Sendable {
    public var name: String
    public var statistics: PassStatistics
    public var seconds: Double
  }

  /// A manager over passes already built.
  public init(passes: [any Pass]) {
    self.passes = passes.map(ScheduledPass.init)
  }

  /// Builds the passes of `pipeline` text; unknown passes and options are errors located in the text.
  public init(pipeline: String, source: String = "<pipeline>") throws(Diagnostic) {
    passes = []
    for element in try PipelineParser.parse(pipeline, source: source) {
      guard let passType = PassRegistry.pass(named: element.name) else {
        let known = PassRegistry.passes.map { $0.name }.joined(separator: ", ")
        throw Diagnostic(
          file: source, location: element.location,
          message: "unknown pass '\(element.name)' (known passes: \(known))",
          sourceLine: pipeline)
      }
      var options = PassOptions(passName: element.name, entries: element.options, source: source)
      do {
        let pass = try passType.init(options: &options)
        try options.requireAllTaken(
          known: passType.optionSummary.map { String($0.prefix { $0 != "=" }) })
        passes.append(ScheduledPass(pass: pass))
      } catch {
        var located = error
        located.sourceLine = pipeline
        throw located
      }
    }
  }

  /// Checks that every pass finds the parts it needs, given what the module already has.
  public func checkPrerequisites(startingWith present: Set<ModulePart>, file: String)
    throws(Diagnostic)
  {
    var available = present
    for scheduled in passes {
      let passType = type(of: scheduled.pass)
      for part in passType.requires where !available.contains(part) {
        let providers = PassRegistry.passes.filter { $0.produces.contains(part) }.map {
          "'\($0.name)'"
        }
        let hint = providers.isEmpty ? "" : "; run \(providers.joined(separator: " or ")) before it"
        throw Diagnostic(
          file: file, location: .unknown,
          message:
            "pass '\(passType.name)' needs a \(part.rawValue), which neither the input nor an earlier pass provides\(hint)"
        )
      }
      available.formUnion(passType.produces)
    }
  }

  /// Runs every pass in order. `observe` is called after each pass with its index and record.
  @discardableResult
  public func run(
    on module: inout Module, file: String,
    observe: (_ index: Int, _ record: Record, _ module: Module) throws(Diagnostic) -> Void = {
      _, _, _ in
    }
  ) throws(Diagnostic) -> [Record] {
    try checkPrerequisites(startingWith: module.presentParts, file: file)
    var records: [Record] = []
    let clock = ContinuousClock()
    for (index, scheduled) in passes.enumerated() {
      var statistics = PassStatistics()
      let start = clock.now
      do {
        try scheduled.pass.run(on: &module, statistics: &statistics)
      } catch {
        // A pass that locates an error in the input leaves the file name to the manager.
        var located = error
        if located.file.isEmpty { located.file = file }
        throw located
      }
      let elapsed = clock.now - start
      let seconds =
        elapsed.inSeconds
      if verifyEach {
        do {
          try Verifier.verify(module, file: file)
        } catch {
          var wrapped = error
          wrapped.message = "after pass '\(scheduled.name)': \(error.message)"
          throw wrapped
        }
      }
      let record = Record(name: scheduled.name, statistics: statistics, seconds: seconds)
      records.append(record)
      try observe(index, record, module)
    }
    return records
  }
}
