import BatchIR

/// A device that runs a scheduled module for real and measures it. The CPU is one
/// (`CPUExecutor`); a CUDA backend would be another, and a simulator preset calibrated from
/// these measurements could answer the same call with predicted figures. Each one lowers the
/// module with `ExecutionPlan` (device-independent) and returns one `ExecutionReport`.
public protocol ExecutionTarget {
  /// The name `--execute` takes (`cpu`).
  static var name: String { get }
  /// Runs the module's schedule batched and the unbatched reference, compares them node by
  /// node, and times both. Throws when the batched results are off by more than the tolerance.
  func execute(_ module: Module, file: String) throws(Diagnostic) -> ExecutionReport
}

/// How to execute: seeds, repeats, threads and the GEMM strategy.
public struct ExecutionOptions: Sendable {
  /// How a projection with several operand slots multiplies.
  public enum GEMMStrategy: String, Sendable, CaseIterable {
    /// One GEMM per operand slot, accumulated (`beta = 1`); slots in place when contiguous.
    case perSlot = "per-slot"
    /// Every slot copied side by side into one `[B x C]` matrix, then one GEMM.
    case concatenate = "concat"
  }

  /// Seed of the weights, embedding tables and input vectors.
  public var seed: UInt64 = 1
  /// Timed runs of each side (batched, unbatched) after one warm-up run; medians are reported.
  public var repeats = 5
  /// BLAS threads (`openblas_set_num_threads`); 1 for stable numbers.
  public var threads = 1
  public var gemm = GEMMStrategy.perSlot
  /// Use the module's layout when it has one; `.creationOrder` ignores it.
  public var memory = ExecutionPlan.Memory.layout
  /// A node's batched result `a` passes when every `|a_e - r_e| ≤ tolerance · max(1, max_e |r_e|,
  /// ‖W row‖·Σ_j ‖x_j‖)` against the reference `r`: normwise relative, and scaled by the bound
  /// on Σ|w||x| that governs a product's rounding error (a sum over thousands of operands).
  public var tolerance: Float = 1e-4
  /// Refuse to run when the buffers would take more bytes than this.
  public var maxBytes = 8 << 30

  public init() {}
}

/// The figures of one execution: medians over the timed runs.
public struct ExecutionReport: Sendable, Equatable {
  /// Wall time of one batched run of the whole schedule, in ms.
  public var batchedMs: Double
  /// Of it, time inside kernels (GEMMs, GEMVs, element-wise passes, lookups), in ms.
  public var kernelMs: Double
  /// Of it, time gathering operand slots that are not contiguous, in ms.
  public var copyMs: Double
  /// Kernel calls of one batched run: BLAS calls, element-wise passes and gathers.
  public var launches: Int
  /// Wall time of the unbatched reference (one node at a time, topological order), in ms.
  public var unbatchedMs: Double
  /// The largest |batched - reference| over every float of every node.
  public var maxAbsError: Double
  /// Bytes the gathers of one batched run copy.
  public var bytesCopied: Int
  /// Operand slots gathered, and slots read in place, in one batched run.
  public var gatheredSlots: Int
  public var inPlaceSlots: Int
  /// Bytes of the arena (node results).
  public var arenaBytes: Int
  /// Where results lived.
  public var memory: ExecutionPlan.Memory

  /// The statistics, in the order `--stats-json` writes them.
  public var entries: [(name: String, value: Double)] {
    [
      ("batched_ms", batchedMs), ("kernel_ms", kernelMs), ("copy_ms", copyMs),
      ("launches", Double(launches)), ("unbatched_ms", unbatchedMs),
      ("max_abs_error", maxAbsError), ("bytes_copied", Double(bytesCopied)),
      ("gathered_slots", Double(gatheredSlots)), ("in_place_slots", Double(inPlaceSlots)),
      ("arena_bytes", Double(arenaBytes)),
    ]
  }

  public static func == (a: ExecutionReport, b: ExecutionReport) -> Bool {
    a.entries.elementsEqual(b.entries) { $0.name == $1.name && $0.value == $1.value }
      && a.memory == b.memory
  }
}

/// The median of `values` (the mean of the middle two for an even count); 0 when empty.
public func median(_ values: [Double]) -> Double {
  guard !values.isEmpty else { return 0 }
  let sorted = values.sorted()
  let mid = sorted.count / 2
  return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}
