/// Cycles, bytes and energy of one instruction on a preset, leaving aside weight residency
/// (the `Simulator` decides whether a load misses). Formulas: docs/simulator.md.
public struct CostModel: Sendable {
  public let preset: AcceleratorPreset
  /// Per op type: weight tiles ("folds") of all matrices, of their input columns, of their
  /// recurrent columns; weight bytes, and the part that multiplies the recurrent state.
  let foldsAll: [Int64]
  let foldsInput: [Int64]
  let foldsRecurrent: [Int64]
  let weightBytes: [Int64]
  let recurrentWeightBytes: [Int64]

  /// The cost of one instruction.
  public struct Cost: Equatable, Sendable {
    public var computeCycles: Int64 = 0
    public var memoryCycles: Int64 = 0
    public var cycles: Int64 = 0
    public var sramBytes: Int64 = 0
    public var dramBytes: Int64 = 0
    public var computeEnergyPJ: Double = 0
    public var sramEnergyPJ: Double = 0
    public var dramEnergyPJ: Double = 0
  }

  public init(preset: AcceleratorPreset, opTypes: [ProgramOpType]) {
    self.preset = preset
    let r = Int64(preset.arrayRows)
    let c = Int64(preset.arrayColumns)
    func tiles(_ k: Int64, _ n: Int64) -> Int64 {
      k <= 0 || n <= 0 ? 0 : ceilDiv(k, r) * ceilDiv(n, c)
    }
    var all: [Int64] = []
    var input: [Int64] = []
    var recurrent: [Int64] = []
    var recurrentBytes: [Int64] = []
    for type in opTypes {
      var a: Int64 = 0
      var i: Int64 = 0
      var h: Int64 = 0
      var elements: Int64 = 0
      var recurrentElements: Int64 = 0
      for matrix in type.matrices where matrix.count == 2 {
        let n = Int64(matrix[0])
        let k = Int64(matrix[1])
        let kh = min(Int64(type.recurrentColumns), k)
        a += tiles(k, n)
        i += tiles(k - kh, n)
        h += tiles(kh, n)
        elements += n * k
        recurrentElements += n * kh
      }
      all.append(a)
      input.append(i)
      recurrent.append(h)
      let bytes = Int64(type.weightBytes)
      recurrentBytes.append(
        elements == 0
          ? 0 : Int64((Double(bytes) * Double(recurrentElements) / Double(elements)).rounded()))
    }
    foldsAll = all
    foldsInput = input
    foldsRecurrent = recurrent
    weightBytes = opTypes.map { Int64($0.weightBytes) }
    recurrentWeightBytes = recurrentBytes
  }

  /// Compute cycles of `steps` time-steps of `lanes` rows of op type `type`:
  /// folds × (lanes + fill) per step, or with the input half done once for all steps,
  /// inputFolds × (lanes × steps + fill) + steps × recurrentFolds × (lanes + fill).
  public func computeCycles(type: Int, lanes: Int64, steps: Int64) -> Int64 {
    // In floating point, saturated: absurd programs must not overflow (docs/robustness.md).
    let (fill, l, t) = (Double(preset.foldFillCycles), Double(lanes), Double(steps))
    if splitsInputHalf(type) {
      return saturated(
        Double(foldsInput[type]) * (l * t + fill) + t * Double(foldsRecurrent[type]) * (l + fill))
    }
    return saturated(t * Double(foldsAll[type]) * (l + fill))
  }

  /// Weight-buffer bytes an execution reads: the weights once a step (once in all when one tile
  /// holds them), or with the input half done once, input part once + recurrent part a step.
  public func weightReadBytes(type: Int, steps: Int64) -> Int64 {
    if foldsAll[type] == 0 { return 0 }
    if foldsAll[type] == 1 { return weightBytes[type] }
    if splitsInputHalf(type) {
      return saturated(
        Double(weightBytes[type] - recurrentWeightBytes[type]) + Double(steps)
          * Double(recurrentWeightBytes[type]))
    }
    return saturated(Double(steps) * Double(weightBytes[type]))
  }

  func splitsInputHalf(_ type: Int) -> Bool {
    preset.inputHalfOncePerExecution && foldsRecurrent[type] > 0 && foldsInput[type] > 0
  }

  /// cycles = max(compute, memory) + issue overhead; energy = MACs × E_mac + SRAM bytes × E_sram.
  @inline(__always)
  public func execution(_ e: Execution) -> Cost {
    var cost = Cost()
    let type = Int(e.type)
    cost.computeCycles = computeCycles(type: type, lanes: Int64(e.lanes), steps: Int64(e.steps))
    cost.sramBytes = saturated(
      Double(e.bytesRead) + Double(e.bytesWritten)
        + Double(weightReadBytes(type: type, steps: Int64(e.steps))))
    cost.memoryCycles = sramCycles(cost.sramBytes)
    cost.cycles = max(cost.computeCycles, cost.memoryCycles) + Int64(preset.issueOverheadCycles)
    cost.computeEnergyPJ = Double(e.macs) * preset.macEnergyPJ
    cost.sramEnergyPJ = Double(cost.sramBytes) * preset.sramEnergyPJPerByte
    return cost
  }

  /// A weight load that misses: `bytes` from DRAM, written into the weight buffer.
  public func weightLoad(bytes: Int64) -> Cost {
    var cost = Cost()
    cost.dramBytes = bytes
    cost.sramBytes = bytes
    cost.memoryCycles = saturated((Double(bytes) / preset.dramBytesPerCycle).rounded(.up))
    cost.cycles = cost.memoryCycles + Int64(preset.issueOverheadCycles)
    cost.dramEnergyPJ = Double(bytes) * preset.dramEnergyPJPerByte
    cost.sramEnergyPJ = Double(bytes) * preset.sramEnergyPJPerByte
    return cost
  }

  /// A gather or copy: `bytes` read and written on chip.
  public func copy(bytes: Int64) -> Cost {
    var cost = Cost()
    cost.sramBytes = saturated(2 * Double(bytes))
    cost.memoryCycles = sramCycles(cost.sramBytes)
    cost.cycles = cost.memoryCycles + Int64(preset.issueOverheadCycles)
    cost.sramEnergyPJ = Double(cost.sramBytes) * preset.sramEnergyPJPerByte
    return cost
  }

  func sramCycles(_ bytes: Int64) -> Int64 {
    saturated((Double(bytes) / preset.sramBytesPerCycle).rounded(.up))
  }
}

/// The largest cycle or byte count one instruction (or one arrival) may have: 2^50, about 13 days
/// at 1 GHz. Counts beyond it are clamped, so no program or preset can overflow the simulator.
let saturationLimit: Double = 1_125_899_906_842_624

/// `value` as Int64, clamped to 0…`saturationLimit` (NaN counts as the limit).
@inline(__always) func saturated(_ value: Double) -> Int64 {
  value >= 0 ? Int64(min(value, saturationLimit)) : value < 0 ? 0 : Int64(saturationLimit)
}

/// `a + b` for the simulator's running totals, clamped at `Int64.max` instead of trapping.
@inline(__always) func saturatingSum(_ a: Int64, _ b: Int64) -> Int64 {
  let (sum, overflow) = a.addingReportingOverflow(b)
  return overflow ? Int64.max : sum
}

@inline(__always) func ceilDiv(_ a: Int64, _ b: Int64) -> Int64 { (a + b - 1) / b }
