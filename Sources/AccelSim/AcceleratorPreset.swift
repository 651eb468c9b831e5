import BatchIR

/// The parameters of a simulated accelerator: a weight-stationary array of MAC units, on-chip
/// memory, off-chip memory and energies. Every value of the built-in presets has its source in
/// docs/simulator.md. JSON keys are the snake_case names in `CodingKeys`.
public struct AcceleratorPreset: Codable, Sendable, Equatable {
  public var name: String
  /// Rows R of the MAC array: the input (K) dimension of one weight tile.
  public var arrayRows: Int
  /// Columns C of the MAC array: the output (N) dimension of one weight tile.
  public var arrayColumns: Int
  /// Cycles each weight tile (fold) adds to the M rows it streams: weight shift-in, pipeline fill
  /// and drain.
  public var foldFillCycles: Int
  /// Rows one execution may hold; the program builder splits batches into chunks of this size.
  public var lanes: Int
  /// Bytes of one weight or activation element on this accelerator; the program builder converts
  /// the byte counts of the graph's tensors (often f32) to it.
  public var elementBytes: Int
  public var clockHz: Double
  /// Cycles every instruction that does work adds (decode, issue, synchronisation).
  public var issueOverheadCycles: Int
  /// Off-chip (weight) memory bandwidth.
  public var dramBytesPerSecond: Double
  /// On-chip memory bandwidth for activations, weight-buffer reads and copies.
  public var sramBytesPerCycle: Double
  /// On-chip capacity for weights; weight sets that fit stay until evicted (LRU).
  public var weightBufferBytes: Int
  /// E-PUR's weight locality: the input half of a recurrent cell is computed for all time-steps
  /// of an execution at once, so its weights are read once instead of once a step.
  public var inputHalfOncePerExecution: Bool
  /// Weights are double-buffered (the TPU's weight FIFO): a weight load fills the other buffer
  /// while the current execution runs, so it overlaps compute instead of stalling the array.
  public var doubleBufferedWeights: Bool
  /// Energy of one multiply–accumulate, pJ.
  public var macEnergyPJ: Double
  /// Energy of one on-chip byte read or written, pJ.
  public var sramEnergyPJPerByte: Double
  /// Energy of one off-chip byte read, pJ.
  public var dramEnergyPJPerByte: Double
  /// Power drawn whether or not the array works, W.
  public var staticWatts: Double

  enum CodingKeys: String, CodingKey, CaseIterable {
    case name
    case arrayRows = "array_rows"
    case arrayColumns = "array_columns"
    case foldFillCycles = "fold_fill_cycles"
    case lanes
    case elementBytes = "element_bytes"
    case clockHz = "clock_hz"
    case issueOverheadCycles = "issue_overhead_cycles"
    case dramBytesPerSecond = "dram_bytes_per_second"
    case sramBytesPerCycle = "sram_bytes_per_cycle"
    case weightBufferBytes = "weight_buffer_bytes"
    case inputHalfOncePerExecution = "input_half_once_per_execution"
    case doubleBufferedWeights = "double_buffered_weights"
    case macEnergyPJ = "mac_energy_pj"
    case sramEnergyPJPerByte = "sram_energy_pj_per_byte"
    case dramEnergyPJPerByte = "dram_energy_pj_per_byte"
    case staticWatts = "static_watts"
  }

  public init(
    name: String, arrayRows: Int, arrayColumns: Int, foldFillCycles: Int, lanes: Int,
    elementBytes: Int, clockHz: Double, issueOverheadCycles: Int, dramBytesPerSecond: Double,
    sramBytesPerCycle: Double, weightBufferBytes: Int, inputHalfOncePerExecution: Bool,
    doubleBufferedWeights: Bool,
    macEnergyPJ: Double, sramEnergyPJPerByte: Double, dramEnergyPJPerByte: Double,
    staticWatts: Double
  ) {
    self.name = name
    self.arrayRows = arrayRows
    self.arrayColumns = arrayColumns
    self.foldFillCycles = foldFillCycles
    self.lanes = lanes
    self.elementBytes = elementBytes
    self.clockHz = clockHz
    self.issueOverheadCycles = issueOverheadCycles
    self.dramBytesPerSecond = dramBytesPerSecond
    self.sramBytesPerCycle = sramBytesPerCycle
    self.weightBufferBytes = weightBufferBytes
    self.inputHalfOncePerExecution = inputHalfOncePerExecution
    self.doubleBufferedWeights = doubleBufferedWeights
    self.macEnergyPJ = macEnergyPJ
    self.sramEnergyPJPerByte = sramEnergyPJPerByte
    self.dramEnergyPJPerByte = dramEnergyPJPerByte
    self.staticWatts = staticWatts
  }

  /// Off-chip bytes per cycle.
  public var dramBytesPerCycle: Double { dramBytesPerSecond / clockHz }

  /// The first parameter out of range, as (JSON key, what it must be), if any.
  public func invalidField() -> (key: String, requirement: String)? {
    if !(1...65536).contains(arrayRows) {
      return (CodingKeys.arrayRows.rawValue, "an integer in 1...65536")
    }
    if !(1...65536).contains(arrayColumns) {
      return (CodingKeys.arrayColumns.rawValue, "an integer in 1...65536")
    }
    if !(0...(1 << 20)).contains(foldFillCycles) {
      return (CodingKeys.foldFillCycles.rawValue, "an integer in 0...2^20")
    }
    if lanes < 1 || lanes > Int(Int32.max) {
      return (CodingKeys.lanes.rawValue, "a positive integer")
    }
    if elementBytes < 1 || elementBytes > 8 {
      return (CodingKeys.elementBytes.rawValue, "an integer in 1...8")
    }
    if !(clockHz > 0 && clockHz.isFinite) { return (CodingKeys.clockHz.rawValue, "positive") }
    if !(0...(1 << 20)).contains(issueOverheadCycles) {
      return (CodingKeys.issueOverheadCycles.rawValue, "an integer in 0...2^20")
    }
    if !(dramBytesPerSecond > 0 && dramBytesPerSecond.isFinite) {
      return (CodingKeys.dramBytesPerSecond.rawValue, "positive")
    }
    if !(sramBytesPerCycle > 0 && sramBytesPerCycle.isFinite) {
      return (CodingKeys.sramBytesPerCycle.rawValue, "positive")
    }
    if weightBufferBytes < 0 { return (CodingKeys.weightBufferBytes.rawValue, "≥ 0") }
    for (key, value) in [
      (CodingKeys.macEnergyPJ, macEnergyPJ), (.sramEnergyPJPerByte, sramEnergyPJPerByte),
      (.dramEnergyPJPerByte, dramEnergyPJPerByte), (.staticWatts, staticWatts),
    ] where !(value >= 0 && value.isFinite) {
      return (key.rawValue, "a number ≥ 0")
    }
    return nil
  }

  /// Decodes and checks a preset file; missing or invalid fields are located errors.
  public static func decode(_ bytes: [UInt8], file: String) throws(Diagnostic) -> AcceleratorPreset
  {
    let preset = try JSONInput.decode(AcceleratorPreset.self, from: bytes, file: file)
    if let (key, requirement) = preset.invalidField() {
      throw JSONInput.located(
        "field '\(key)' must be \(requirement)", near: [CodingKeys(rawValue: key) ?? .name],
        bytes: bytes, file: file)
    }
    return preset
  }

  /// A built-in preset by name, or else the preset file at that path (decoded and checked); nil
  /// when it is neither, so each caller can say so in its own terms.
  public static func named(orFile nameOrFile: String) throws(Diagnostic) -> AcceleratorPreset? {
    if let preset = builtIn(named: nameOrFile) { return preset }
    guard let bytes = readFileBytes(nameOrFile) else { return nil }
    return try decode(bytes, file: nameOrFile)
  }

  /// The preset used when neither the module's `target` line nor `--accelerator` names one:
  /// E-PUR, the accelerator E-BATCH was designed for (docs/simulator.md).
  public static let defaultTarget = AcceleratorPreset.epur

  /// The preset a module's target names, or `defaultTarget` when it has none. An unknown name
  /// is an error at the target line (the file name is left for the caller to fill in).
  public static func resolve(_ target: TargetSpec?) throws(Diagnostic) -> AcceleratorPreset {
    guard let target else { return defaultTarget }
    if let preset = try named(orFile: target.name) { return preset }
    throw Diagnostic(
      file: "", location: target.location,
      message:
        "target '\(target.name)' is neither a built-in preset (\(builtIn.map(\.name).joined(separator: ", "))) nor a readable preset file"
    )
  }

  /// The preset as JSON, keys sorted (the format of samples/accelerators/*.json).
  public func json() -> [UInt8] { JSONInput.encode(self) }
}

// MARK: Built-in presets

extension AcceleratorPreset {
  /// The built-in presets, by name.
  public static let builtIn: [AcceleratorPreset] = [.tpuV1, .epur]

  public static func builtIn(named name: String) -> AcceleratorPreset? {
    builtIn.first { $0.name == name }
  }

  /// Dynamic energy scaling from 45 nm (Horowitz, ISSCC 2014) to 28 nm: energy ∝ capacitance ∝
  /// feature size at equal voltage (0.9 V at both nodes), so × 28/45.
  public static let scale45To28 = 28.0 / 45.0

  /// Google's TPU v1 (Jouppi et al., ISCA 2017). Sources and assumptions: docs/simulator.md.
  public static let tpuV1 = AcceleratorPreset(
    name: "tpu-v1",
    arrayRows: 256, arrayColumns: 256,
    foldFillCycles: 2 * 256 + 256 - 2,
    lanes: 256,
    elementBytes: 1,
    clockHz: 700e6,
    issueOverheadCycles: 16,
    dramBytesPerSecond: 34e9,
    sramBytesPerCycle: 256 + 1024 + 256,
    weightBufferBytes: 4 * 64 * 1024,
    inputHalfOncePerExecution: false,
    doubleBufferedWeights: true,
    macEnergyPJ: (0.2 + 0.03) * scale45To28,
    sramEnergyPJPerByte: 5.0 / 4 * scale45To28,
    dramEnergyPJPerByte: 640.0 / 4,
    staticWatts: 28)

  /// E-PUR, an LSTM accelerator for mobile devices (Silfa et al., PACT 2018). Sources and
  /// assumptions: docs/simulator.md.
  public static let epur = AcceleratorPreset(
    name: "epur",
    arrayRows: 16, arrayColumns: 4,
    foldFillCycles: 0,
    lanes: 32,
    elementBytes: 2,
    clockHz: 500e6,
    issueOverheadCycles: 16,
    dramBytesPerSecond: 12.8e9,
    sramBytesPerCycle: 4 * 16 * 2 + 64,
    weightBufferBytes: 4 * 2 * 1024 * 1024,
    inputHalfOncePerExecution: true,
    doubleBufferedWeights: false,
    macEnergyPJ: (1.1 + 0.4) * scale45To28,
    sramEnergyPJPerByte: 5.0 / 4 * scale45To28,
    dramEnergyPJPerByte: 640.0 / 4,
    staticWatts: 0.1)
}
