/// The element type of a tensor.
public enum ElementType: String, CaseIterable, Sendable {
  case f32, f16, bf16, i32, i8, u8

  /// Bytes per element.
  public var byteWidth: Int {
    switch self {
    case .f32, .i32: 4
    case .f16, .bf16: 2
    case .i8, .u8: 1
    }
  }
}

/// A tensor type such as `f32[64]` or `f32[512x192]`; `f32[]` is a scalar.
public struct TensorType: Hashable, Sendable, CustomStringConvertible {
  public var element: ElementType
  public var dimensions: [Int]

  public init(_ element: ElementType, _ dimensions: [Int]) {
    self.element = element
    self.dimensions = dimensions
  }

  public var elementCount: Int {
    dimensions.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
  }
  public var byteCount: Int { elementCount * element.byteWidth }

  public var description: String {
    "\(element.rawValue)[\(dimensions.map(String.init).joined(separator: "x"))]"
  }
}

/// A weight tensor that belongs to an op type. Ids are unique in a module.
public struct Weight: Hashable, Sendable {
  public var id: String
  public var type: TensorType

  public init(id: String, type: TensorType) {
    self.id = id
    self.type = type
  }
}

/// An op type is a batching signature: two nodes may share a batch exactly when they
/// have the same op type and that type is not `unbatched`.
public struct OpType: Hashable, Sendable {
  /// The name nodes use to refer to it (`%h = lstm(%x, %c)` uses `lstm`).
  public var name: String
  /// What it computes (`lstm`, `gru`, `linear`, `add`, `lookup`, `input`, `opaque`, …).
  /// Descriptive: costs come from shapes and weights, not from the kind.
  public var kind: String
  /// Shapes of the operand slots, in order.
  public var operands: [TensorType]
  /// When true the last operand shape repeats: nodes take `operands.count - 1` or more operands.
  public var variadic: Bool
  public var result: TensorType
  public var weights: [Weight]
  /// A recurrent cell: its last operand slot is the state carried from the previous time-step.
  public var recurrent: Bool
  /// Nodes of this type never share a batch (ED-Batch's type 0).
  public var unbatched: Bool
  public var location: SourceLocation

  public init(
    name: String, kind: String, operands: [TensorType], variadic: Bool = false,
    result: TensorType, weights: [Weight] = [], recurrent: Bool = false, unbatched: Bool = false,
    location: SourceLocation = .unknown
  ) {
    self.name = name
    self.kind = kind
    self.operands = operands
    self.variadic = variadic
    self.result = result
    self.weights = weights
    self.recurrent = recurrent
    self.unbatched = unbatched
    self.location = location
  }

  /// Whether `count` operands fit this type's operand slots.
  public func accepts(operandCount count: Int) -> Bool {
    variadic ? count >= operands.count - 1 : count == operands.count
  }

  /// The declared shape of operand `slot` (the repeated one for variadic types).
  public func operandType(at slot: Int) -> TensorType {
    slot < operands.count ? operands[slot] : operands[operands.count - 1]
  }

  /// Multiply–accumulates one node of this type performs: every 2-D weight `[rows x cols]`
  /// is a matrix–vector product of rows × cols MACs. Kinds `lookup` and `input` gather rows
  /// and do none.
  public var macsPerNode: Int {
    if kind == "lookup" || kind == "input" { return 0 }
    return weights.reduce(0) { total, weight in
      let dims = weight.type.dimensions
      return dims.count == 2 ? total + dims[0] * dims[1] : total
    }
  }

  /// Bytes of all this type's weights.
  public var weightBytes: Int { weights.reduce(0) { $0 + $1.type.byteCount } }
}
