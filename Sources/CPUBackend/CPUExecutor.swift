import BatchIR
import COpenBLAS

/// The host CPU as an execution target: float32 tensors in one arena, batched products through
/// OpenBLAS's `cblas_sgemm`, element-wise code in Swift. Runs the module's schedule batched and
/// one node at a time, checks the two node by node, and times both.
public struct CPUExecutor: ExecutionTarget {
  public static let name = "cpu"
  public var options: ExecutionOptions

  public init(options: ExecutionOptions = ExecutionOptions()) {
    self.options = options
  }

  public func execute(_ module: Module, file: String) throws(Diagnostic) -> ExecutionReport {
    let execution = try CPUExecution(module, options: options, file: file)
    var totals: [Double] = []
    var kernels: [Double] = []
    var copies: [Double] = []
    var unbatched: [Double] = []
    var last = BatchedTiming()
    for _ in 0..<max(options.repeats, 1) {
      last = execution.timeBatched()
      totals.append(last.totalMs)
      kernels.append(last.kernelMs)
      copies.append(last.copyMs)
      unbatched.append(execution.timeUnbatched())
    }
    return execution.report(
      batchedMs: median(totals), kernelMs: median(kernels), copyMs: median(copies),
      unbatchedMs: median(unbatched), last: last)
  }
}

/// A module made ready to run on the CPU: lowered, buffers allocated, values drawn, and run once
/// each way and checked. Then each timed run is one call, so callers can interleave the runs of
/// several executions (the report does, to spread a shared machine's noise evenly).
public final class CPUExecution {
  public let plan: ExecutionPlan
  /// The largest |batched − reference| of the checked run.
  public let maxAbsError: Double
  let batched: BatchedRun
  let reference: ReferenceRun

  public init(_ module: Module, options: ExecutionOptions, file: String) throws(Diagnostic) {
    let plan = try ExecutionPlan(module, memory: options.memory, file: file)
    self.plan = plan
    let referenceFloats = module.nodeType.reduce(0) {
      $0 + (plan.kernels[Int($1)]?.resultFloats ?? 0)
    }
    let inputFloats = plan.bufferFloats - plan.arenaFloats
    // Weights, and at most one constant row (lookup, input) a node.
    let weightFloats = plan.kernels.reduce(0) { $0 + ($1?.weightFloats ?? 0) }
    let constantFloats = module.nodeType.reduce(0) { total, t in
      guard let spec = plan.kernels[Int(t)],
        spec.kind == .lookup || spec.kind == .input
          || spec.kind == .opaque
      else { return total }
      return total + spec.resultFloats
    }
    let scratch = BatchedRun.scratch(plan, gemm: options.gemm)
    let scratchFloats = scratch.z + scratch.slot + scratch.concatenated
    let bytes =
      (plan.bufferFloats + referenceFloats + inputFloats + weightFloats + constantFloats
        + scratchFloats) * 4
    guard bytes <= options.maxBytes else {
      throw Diagnostic(
        file: file, location: .unknown,
        message: "execute: the tensors need \(bytes >> 20) MiB, more than the limit of "
          + "\(options.maxBytes >> 20) MiB")
    }
    openblas_set_num_threads(Int32(max(options.threads, 1)))
    let values = HostValues(module, plan: plan, seed: options.seed)
    batched = BatchedRun(module: module, plan: plan, values: values, options: options)
    reference = ReferenceRun(module: module, plan: plan, values: values, seed: options.seed)

    // The warm-up runs are the ones checked: the arena starts as NaN, so a result the batched
    // run never wrote cannot pass.
    batched.buffer.pointer.update(repeating: .nan, count: plan.arenaFloats)
    _ = batched.run()
    _ = reference.run(recordingCondition: true)
    maxAbsError = Double(
      try Self.compare(
        module, plan: plan, batched: batched, reference: reference,
        tolerance: options.tolerance, file: file))
  }

  /// One timed batched run.
  public func timeBatched() -> BatchedTiming { batched.run() }

  /// One timed unbatched run, in ms.
  public func timeUnbatched() -> Double { reference.run() }

  /// The report of medians measured by the caller; counts from `last`.
  public func report(
    batchedMs: Double, kernelMs: Double, copyMs: Double, unbatchedMs: Double,
    last: BatchedTiming
  ) -> ExecutionReport {
    ExecutionReport(
      batchedMs: batchedMs, kernelMs: kernelMs, copyMs: copyMs, launches: last.launches,
      unbatchedMs: unbatchedMs, maxAbsError: maxAbsError, bytesCopied: last.bytesCopied,
      gatheredSlots: last.gathered, inPlaceSlots: last.inPlace, arenaBytes: plan.arenaFloats * 4,
      memory: plan.memory)
  }

  /// The largest absolute difference; throws at the first node past the tolerance.
  static func compare(
    _ module: Module, plan: ExecutionPlan, batched: BatchedRun, reference: ReferenceRun,
    tolerance: Float, file: String
  ) throws(Diagnostic) -> Float {
    var worst: Float = 0
    let instanceOf = module.nodeInstances()
    for n in 0..<module.nodeCount {
      let floats = plan.kernels[module.type(of: n)]?.resultFloats ?? 0
      let a = batched.buffer.pointer + plan.resultOffset[n]
      let r = reference.buffer.pointer + reference.resultOffset[n]
      var scale = max(1, reference.condition[n])
      for e in 0..<floats { scale = max(scale, abs(r[e])) }
      for e in 0..<floats {
        let difference = abs(a[e] - r[e])
        if !(difference <= tolerance * scale) {
          let instance = module.instances.isEmpty ? "" : module.instances[Int(instanceOf[n])].name
          let name = module.nodeName[n].isEmpty ? "#\(n)" : "%\(module.nodeName[n])"
          throw Diagnostic(
            file: file,
            location: module.tracksLocations ? module.nodeLocation[n] : .unknown,
            message: "execute: node \(name) (id \(n), instance '\(instance)') differs from the "
              + "unbatched reference at element \(e): \(a[e]) vs \(r[e]) (tolerance "
              + "\(tolerance)·max(1, max |reference|, ‖W row‖·Σ‖x‖) = "
              + "\(tolerance * scale)); the schedule or the layout is wrong")
        }
        worst = max(worst, difference)
      }
    }
    return worst
  }
}

/// The figures of one batched run.
public struct BatchedTiming: Sendable {
  /// Wall time of the whole schedule, and of its kernels and copies, in ms.
  public var totalMs = 0.0
  public var kernelMs = 0.0
  public var copyMs = 0.0
  public var launches = 0
  public var bytesCopied = 0
  public var gathered = 0
  public var inPlace = 0

  public init() {}
}
