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
/// prerequisites are checked before anything runs, the module is verified after each pass (as
/// MLIR does; `verifyEach = false` turns it off; parts unchanged since the last verification are
/// not checked again), each pass's declared effects are enforced (a
/// part it does not declare it produces, modifies or invalidates must come out unchanged; parts
/// it invalidates are removed), and an observer sees the module after each pass (for
/// `--print-after` and dumps).
public struct PassManager {
  public var passes: [ScheduledPass]
  /// Verify the module after every pass (on by default; `--no-verify-each` turns it off).
  public var verifyEach = true

  /// One pass run: its name, statistics, wall time, and what it did to the module's parts.
  public struct Record: Sendable {
    public var name: String
    public var statistics: PassStatistics
    public var seconds: Double
    /// Wall time of the verification after the pass (0 when `verifyEach` is off).
    public var verifySeconds: Double = 0
    /// Parts the pass wrote or rewrote (they differ from before, or are new).
    public var changed: [ModulePart] = []
    /// Parts the manager removed because the pass invalidated them.
    public var invalidated: [ModulePart] = []
    /// Parts present before and after the pass, unchanged.
    public var preserved: [ModulePart] = []
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
      let options = PassOptions(passName: element.name, entries: element.options, source: source)
      do {
        passes.append(ScheduledPass(pass: try passType.make(options)))
      } catch {
        var located = error
        located.sourceLine = pipeline
        throw located
      }
    }
  }

  /// The pipeline as text, every option that differs from its default written out; building a
  /// manager from it gives the same passes.
  public var pipelineText: String {
    passes.map { $0.pass.pipelineText }.joined(separator: ",")
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
  /// `verified` is a module that already passed `Verifier.verify` (the input as loaded): the
  /// verification after the first pass then skips what it shows unchanged (the graph), as it
  /// does after later passes.
  @discardableResult
  public func run(
    on module: inout Module, file: String, verified initiallyVerified: Module? = nil,
    observe: (_ index: Int, _ record: Record, _ module: Module) throws(Diagnostic) -> Void = {
      _, _, _ in
    }
  ) throws(Diagnostic) -> [Record] {
    try checkPrerequisites(startingWith: module.presentParts, file: file)
    var records: [Record] = []
    // The module as last verified: parts a pass leaves alone are not checked again.
    var verified = initiallyVerified
    let clock = ContinuousClock()
    for (index, scheduled) in passes.enumerated() {
      var statistics = PassStatistics()
      let before = PartSnapshot(module)
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
      let effects = try Self.enforceEffects(
        of: type(of: scheduled.pass), before: before, after: &module, file: file)
      var verifySeconds = 0.0
      if verifyEach {
        let verifyStart = clock.now
        defer { verifySeconds = (clock.now - verifyStart).inSeconds }
        do {
          try Verifier.verify(module, file: file, since: verified)
          verified = module
        } catch {
          var wrapped = error
          wrapped.message = "after pass '\(scheduled.name)': \(error.message)"
          throw wrapped
        }
      }
      let record = Record(
        name: scheduled.name, statistics: statistics, seconds: seconds,
        verifySeconds: verifySeconds, changed: effects.changed,
        invalidated: effects.invalidated, preserved: effects.preserved)
      records.append(record)
      try observe(index, record, module)
    }
    return records
  }

  /// Checks a pass's run against its declaration and removes the parts it invalidates. A part
  /// it neither produces, modifies nor invalidates must be unchanged; only invalidated parts may
  /// vanish (removed by the pass itself, or here when the pass changed something).
  static func enforceEffects(
    of passType: any Pass.Type, before: PartSnapshot, after module: inout Module, file: String
  ) throws(Diagnostic) -> (
    changed: [ModulePart], invalidated: [ModulePart], preserved: [ModulePart]
  ) {
    let writes = Set(passType.produces + passType.modifies)
    var changed: [ModulePart] = []
    var invalidated: [ModulePart] = []
    var preserved: [ModulePart] = []
    func fail(_ message: String) -> Diagnostic {
      Diagnostic(file: file, location: .unknown, message: "pass '\(passType.name)' \(message)")
    }
    let after = PartSnapshot(module)
    for part in ModulePart.allCases {
      let was = before.present(part)
      let now = after.present(part)
      if was && !now {
        guard passType.invalidates.contains(part) else {
          throw fail(
            "dropped the module's \(part.rawValue), which it does not declare it invalidates")
        }
        invalidated.append(part)
        continue
      }
      if !before.same(part, as: after) {
        guard writes.contains(part) else {
          throw fail(
            "changed the module's \(part.rawValue), which it does not declare it produces or modifies"
          )
        }
        changed.append(part)
      } else if was {
        preserved.append(part)
      }
    }
    if !changed.isEmpty {
      for part in passType.invalidates where !changed.contains(part) && after.present(part) {
        module.remove(part)
        invalidated.append(part)
        preserved.removeAll { $0 == part }
      }
    }
    return (changed, invalidated, preserved)
  }
}

/// The module's parts at one moment (copy-on-write: taking one copies nothing).
struct PartSnapshot {
  var schedule: Schedule?
  var layout: MemoryLayout?
  var packing: Packing?

  init(_ module: Module) {
    schedule = module.schedule
    layout = module.layout
    packing = module.packing
  }

  func present(_ part: ModulePart) -> Bool {
    switch part {
    case .schedule: schedule != nil
    case .layout: layout != nil
    case .packing: packing != nil
    }
  }

  func same(_ part: ModulePart, as other: PartSnapshot) -> Bool {
    switch part {
    case .schedule: schedule == other.schedule
    case .layout: layout == other.layout
    case .packing: packing == other.packing
    }
  }
}

extension Module {
  /// Removes a part (the pass manager does this for the parts a pass invalidates).
  mutating func remove(_ part: ModulePart) {
    switch part {
    case .schedule: schedule = nil
    case .layout: layout = nil
    case .packing: packing = nil
    }
  }
}
