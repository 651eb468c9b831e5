/// The figures of one simulation. `entries` lists them under their stable names (the table,
/// `--json` and the "simulate" section of `--stats-json` use these; docs/statistics.md).
public struct SimulationReport: Sendable {
  /// Sums collected while simulating.
  public struct Totals: Sendable, Equatable {
    /// Elapsed cycles, waits for arrivals included.
    public var cycles: Int64 = 0
    public var busyCycles: Int64 = 0
    public var idleCycles: Int64 = 0
    public var instructions = 0
    public var requests = 0
    public var macs: Double = 0
    public var usefulMacs: Double = 0
    public var laneSteps: Double = 0
    public var usefulLaneSteps: Double = 0
    public var sramBytes: Int64 = 0
    public var dramBytes: Int64 = 0
    public var weightHits = 0
    public var weightMisses = 0
    public var computeEnergyPJ: Double = 0
    public var sramEnergyPJ: Double = 0
    public var dramEnergyPJ: Double = 0
    /// Cycles weight loads held up the accelerator: whole misses without double-buffering,
    /// stalls for a transfer still under way with it.
    public var weightLoadCycles: Int64 = 0
    /// Cycles executions waited for double-buffered weights still in transfer.
    public var stallCycles: Int64 = 0
    /// Cycles of weight transfers overlapped with compute (double-buffered presets).
    public var overlappedLoadCycles: Int64 = 0
  }

  public let preset: AcceleratorPreset
  public let totals: Totals
  /// Completion minus arrival of every request, seconds, in request order.
  public let latencies: [Double]

  public init(preset: AcceleratorPreset, totals: Totals, latencies: [Double]) {
    self.preset = preset
    self.totals = totals
    self.latencies = latencies
  }

  public var seconds: Double { Double(totals.cycles) / preset.clockHz }
  /// Static power over the whole elapsed time.
  public var staticEnergyPJ: Double { preset.staticWatts * seconds * 1e12 }
  public var energyPJ: Double {
    totals.computeEnergyPJ + totals.sramEnergyPJ + totals.dramEnergyPJ + staticEnergyPJ
  }
  /// Useful MACs over what the array could do in the busy cycles.
  public var utilization: Double {
    let peak = Double(totals.busyCycles) * Double(preset.arrayRows * preset.arrayColumns)
    return peak > 0 ? totals.usefulMacs / peak : 0
  }
  /// The share of lane-steps that did no useful work.
  public var paddingFraction: Double {
    totals.laneSteps > 0 ? 1 - totals.usefulLaneSteps / totals.laneSteps : 0
  }

  /// The `p` quantile (0…1) of the latencies, nearest rank.
  public func latencyQuantile(_ p: Double) -> Double {
    guard !latencies.isEmpty else { return 0 }
    let sorted = latencies.sorted()
    let rank = Int((p * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
  }

  /// Every figure under its stable name, in a fixed order.
  public var entries: [(name: String, value: Double)] {
    let seconds = self.seconds
    let requests = Double(totals.requests)
    return [
      ("cycles", Double(totals.cycles)),
      ("seconds", seconds),
      ("requests_per_s", seconds > 0 ? requests / seconds : 0),
      ("macs_per_s", seconds > 0 ? totals.usefulMacs / seconds : 0),
      ("utilization", utilization),
      ("energy_pj", energyPJ),
      ("energy_compute_pj", totals.computeEnergyPJ),
      ("energy_sram_pj", totals.sramEnergyPJ),
      ("energy_dram_pj", totals.dramEnergyPJ),
      ("energy_static_pj", staticEnergyPJ),
      ("energy_per_request_pj", requests > 0 ? energyPJ / requests : 0),
      ("latency_p50_s", latencyQuantile(0.50)),
      ("latency_p95_s", latencyQuantile(0.95)),
      ("latency_p99_s", latencyQuantile(0.99)),
      ("padding_fraction", paddingFraction),
      ("busy_cycles", Double(totals.busyCycles)),
      ("idle_cycles", Double(totals.idleCycles)),
      ("instructions", Double(totals.instructions)),
      ("requests", requests),
      ("macs", totals.macs),
      ("useful_macs", totals.usefulMacs),
      ("sram_bytes", Double(totals.sramBytes)),
      ("dram_bytes", Double(totals.dramBytes)),
      ("weight_loads", Double(totals.weightMisses)),
      ("weight_hits", Double(totals.weightHits)),
    ]
  }
}
