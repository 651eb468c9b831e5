import BatchIR

/// A program for the accelerator: the op types it runs, the requests it serves, and a flat list
/// of instructions executed in order. Written as JSON (Codable) or as text (`ProgramText`);
/// the format is described in docs/simulator.md.
public struct Program: Codable, Sendable, Equatable {
  /// The version of the program format this code reads and writes.
  public static let formatVersion = 1

  public var version: Int
  /// Rows one execution may hold (the lane count the program was built for).
  public var lanes: Int
  /// The target it was built for (a preset name or file, as in the module's `target` line);
  /// `optimizer simulate` runs it there unless told otherwise. nil: not recorded.
  public var target: String?
  public var opTypes: [ProgramOpType]
  public var requests: [ProgramRequest]
  public var instructions: [Instruction]

  private enum CodingKeys: String, CodingKey {
    case version, lanes, target, opTypes = "op_types", requests, instructions
  }

  public init(
    lanes: Int, opTypes: [ProgramOpType] = [], requests: [ProgramRequest] = [],
    instructions: [Instruction] = []
  ) {
    self.version = Program.formatVersion
    self.lanes = lanes
    self.opTypes = opTypes
    self.requests = requests
    self.instructions = instructions
  }

  /// The latest arrival a request may have, in seconds: the `.dg` parser's bound.
  public static let maxArrival = DGParser.maxArrival

  /// Checks the version, the bounds on sizes and arrivals, and that every instruction names an op
  /// type, request and lane that exist and has counts in range. `file` names the program in the
  /// diagnostic.
  public func validate(file: String) throws(Diagnostic) {
    func fail(_ message: String) -> Diagnostic {
      Diagnostic(file: file, location: .unknown, message: message)
    }
    guard version == Program.formatVersion else {
      throw fail(
        "unsupported program version \(version) (this build reads \(Program.formatVersion))")
    }
    guard lanes >= 1 else { throw fail("lanes must be positive") }
    // Bounds that keep every cost formula far from overflow (docs/simulator.md).
    let maxCount = Int64(1) << 50
    for (t, type) in opTypes.enumerated() {
      guard type.weightBytes >= 0, Int64(type.weightBytes) <= maxCount, type.macsPerRow >= 0,
        Int64(type.macsPerRow) <= maxCount, type.recurrentColumns >= 0,
        type.recurrentColumns <= 1 << 24,
        type.matrices.allSatisfy({ $0.allSatisfy { (0...(1 << 24)).contains($0) } })
      else {
        throw fail(
          "op type \(t) ('\(type.name)'): sizes must be ≥ 0, bytes and MACs at most 2^50, matrix dimensions at most 2^24"
        )
      }
    }
    for (r, request) in requests.enumerated()
    where !(request.arrival >= 0 && request.arrival <= Program.maxArrival) {
      throw fail(
        "request \(r) ('\(request.name)'): arrival must be between 0 and \(Int(Program.maxArrival)) seconds"
      )
    }
    let typeCount = Int32(opTypes.count)
    let requestCount = Int32(requests.count)
    for (index, instruction) in instructions.enumerated() {
      switch instruction {
      case .loadWeights(let type, let bytes):
        if type < 0 || type >= typeCount { throw fail("instruction \(index): no op type \(type)") }
        if bytes < 0 || bytes > maxCount {
          throw fail("instruction \(index): bytes out of 0...2^50")
        }
      case .execute(let execution):
        if execution.type < 0 || execution.type >= typeCount {
          throw fail("instruction \(index): no op type \(execution.type)")
        }
        if execution.lanes < 1 || execution.steps < 1 || execution.rows < 0
          || execution.rows > Int64(execution.lanes) * Int64(execution.steps) || execution.macs < 0
          || execution.bytesRead < 0 || execution.bytesWritten < 0 || execution.macs > maxCount
          || execution.bytesRead > maxCount || execution.bytesWritten > maxCount
        {
          throw fail(
            "instruction \(index): an execution needs lanes, steps ≥ 1, 0 ≤ rows ≤ lanes × steps and counts in 0...2^50"
          )
        }
      case .gather(let bytes), .copy(let bytes):
        if bytes < 0 || bytes > maxCount {
          throw fail("instruction \(index): bytes out of 0...2^50")
        }
      case .start(let request), .complete(let request, _):
        if request < 0 || request >= requestCount {
          throw fail("instruction \(index): no request \(request)")
        }
        if case .complete(_, let step) = instruction, step < 0 {
          throw fail("instruction \(index): a completion step must be ≥ 0")
        }
      case .resetLane(let lane):
        if lane < 0 || Int(lane) >= lanes { throw fail("instruction \(index): no lane \(lane)") }
      case .refillLane(let lane, let request):
        if lane < 0 || Int(lane) >= lanes { throw fail("instruction \(index): no lane \(lane)") }
        if request < 0 || request >= requestCount {
          throw fail("instruction \(index): no request \(request)")
        }
      }
    }
  }
}

/// What the accelerator needs to know about an op type: its weights and its matrix shapes.
public struct ProgramOpType: Codable, Sendable, Equatable {
  public var name: String
  /// The weight ids a weight load of this type brings on chip.
  public var weights: [String]
  public var weightBytes: Int
  /// Each 2-D weight as `[rows, columns]`: a product with `columns` inputs and `rows` outputs
  /// (for an LSTM step, columns = input + hidden and rows = 4 × hidden).
  public var matrices: [[Int]]
  /// Columns of every matrix that multiply the state carried from the previous time-step
  /// (0 for types that are not recurrent).
  public var recurrentColumns: Int
  /// MACs one row (one node) performs.
  public var macsPerRow: Int

  private enum CodingKeys: String, CodingKey {
    case name, weights, weightBytes = "weight_bytes", matrices
    case recurrentColumns = "recurrent_columns", macsPerRow = "macs_per_row"
  }

  public init(
    name: String, weights: [String] = [], weightBytes: Int = 0, matrices: [[Int]] = [],
    recurrentColumns: Int = 0, macsPerRow: Int = 0
  ) {
    self.name = name
    self.weights = weights
    self.weightBytes = weightBytes
    self.matrices = matrices
    self.recurrentColumns = recurrentColumns
    self.macsPerRow = macsPerRow
  }
}

/// A request (an instance of the module): its name and arrival time in seconds.
public struct ProgramRequest: Codable, Sendable, Equatable {
  public var name: String
  public var arrival: Double

  public init(name: String, arrival: Double = 0) {
    self.name = name
    self.arrival = arrival
  }
}

/// One batched execution of an op type: `lanes` rows run together for `steps` time-steps.
public struct Execution: Hashable, Sendable {
  /// Op type index into `Program.opTypes`.
  public var type: Int32
  /// Rows computed each step, padding included (the M of the matrix product).
  public var lanes: Int32
  /// Time-steps run back to back (1 unless a packing pass made it more).
  public var steps: Int32
  /// Useful lane-steps (≤ lanes × steps); the rest is padding.
  public var rows: Int64
  /// MACs performed, padding included.
  public var macs: Int64
  /// Activation bytes read from and written to on-chip memory.
  public var bytesRead: Int64
  public var bytesWritten: Int64

  public init(
    type: Int32, lanes: Int32, steps: Int32 = 1, rows: Int64, macs: Int64, bytesRead: Int64,
    bytesWritten: Int64
  ) {
    self.type = type
    self.lanes = lanes
    self.steps = steps
    self.rows = rows
    self.macs = macs
    self.bytesRead = bytesRead
    self.bytesWritten = bytesWritten
  }
}

/// One accelerator instruction.
public enum Instruction: Hashable, Sendable {
  /// Make the weights of op type `type` resident on chip (`bytes` of them); free when they are.
  case loadWeights(type: Int32, bytes: Int64)
  /// A batched execution.
  case execute(Execution)
  /// Copy operands into a contiguous buffer before a batch (from `pq-layout`).
  case gather(bytes: Int64)
  /// Any other on-chip copy.
  case copy(bytes: Int64)
  /// Request `request` is admitted: nothing after this runs before it has arrived.
  case start(request: Int32)
  /// Clear a lane's state (E-BATCH, from `ebatch-pack`).
  case resetLane(lane: Int32)
  /// Give lane `lane` to request `request` (admits it, like `start`).
  case refillLane(lane: Int32, request: Int32)
  /// Request `request` is done. With `step` = 0 its latency ends here; with `step` = P > 0 its
  /// last time-step was step P (from 1) of the latest execution, and it completes when that
  /// execution has run P of its steps (a request ends at its last step, not its chunk's end).
  case complete(request: Int32, step: Int32 = 0)
}

// MARK: JSON

extension Instruction: Codable {
  private enum Keys: String, CodingKey {
    case op, type, bytes, lanes, steps, rows, macs, read, written, request, lane, step
  }

  /// The `op` names, shared with the text form.
  enum Opcode: String {
    case load, exec, gather, copy, start, reset, refill, complete
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: Keys.self)
    switch self {
    case .loadWeights(let type, let bytes):
      try c.encode(Opcode.load.rawValue, forKey: .op)
      try c.encode(type, forKey: .type)
      try c.encode(bytes, forKey: .bytes)
    case .execute(let e):
      try c.encode(Opcode.exec.rawValue, forKey: .op)
      try c.encode(e.type, forKey: .type)
      try c.encode(e.lanes, forKey: .lanes)
      try c.encode(e.steps, forKey: .steps)
      try c.encode(e.rows, forKey: .rows)
      try c.encode(e.macs, forKey: .macs)
      try c.encode(e.bytesRead, forKey: .read)
      try c.encode(e.bytesWritten, forKey: .written)
    case .gather(let bytes):
      try c.encode(Opcode.gather.rawValue, forKey: .op)
      try c.encode(bytes, forKey: .bytes)
    case .copy(let bytes):
      try c.encode(Opcode.copy.rawValue, forKey: .op)
      try c.encode(bytes, forKey: .bytes)
    case .start(let request):
      try c.encode(Opcode.start.rawValue, forKey: .op)
      try c.encode(request, forKey: .request)
    case .resetLane(let lane):
      try c.encode(Opcode.reset.rawValue, forKey: .op)
      try c.encode(lane, forKey: .lane)
    case .refillLane(let lane, let request):
      try c.encode(Opcode.refill.rawValue, forKey: .op)
      try c.encode(lane, forKey: .lane)
      try c.encode(request, forKey: .request)
    case .complete(let request, let step):
      try c.encode(Opcode.complete.rawValue, forKey: .op)
      try c.encode(request, forKey: .request)
      if step != 0 { try c.encode(step, forKey: .step) }
    }
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: Keys.self)
    let name = try c.decode(String.self, forKey: .op)
    guard let op = Opcode(rawValue: name) else {
      throw DecodingError.dataCorruptedError(
        forKey: .op, in: c, debugDescription: "unknown instruction '\(name)'")
    }
    switch op {
    case .load:
      self = .loadWeights(
        type: try c.decode(Int32.self, forKey: .type),
        bytes: try c.decode(Int64.self, forKey: .bytes))
    case .exec:
      self = .execute(
        Execution(
          type: try c.decode(Int32.self, forKey: .type),
          lanes: try c.decode(Int32.self, forKey: .lanes),
          steps: try c.decode(Int32.self, forKey: .steps),
          rows: try c.decode(Int64.self, forKey: .rows),
          macs: try c.decode(Int64.self, forKey: .macs),
          bytesRead: try c.decode(Int64.self, forKey: .read),
          bytesWritten: try c.decode(Int64.self, forKey: .written)))
    case .gather: self = .gather(bytes: try c.decode(Int64.self, forKey: .bytes))
    case .copy: self = .copy(bytes: try c.decode(Int64.self, forKey: .bytes))
    case .start: self = .start(request: try c.decode(Int32.self, forKey: .request))
    case .reset: self = .resetLane(lane: try c.decode(Int32.self, forKey: .lane))
    case .refill:
      self = .refillLane(
        lane: try c.decode(Int32.self, forKey: .lane),
        request: try c.decode(Int32.self, forKey: .request))
    case .complete:
      self = .complete(
        request: try c.decode(Int32.self, forKey: .request),
        step: try c.decodeIfPresent(Int32.self, forKey: .step) ?? 0)
    }
  }
}
