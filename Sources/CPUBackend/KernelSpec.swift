import BatchIR

/// What one op type computes on a backend, resolved from its kind and declared shapes.
///
/// Every tensor is float32; a tensor of `b` bytes holds `b / 4` floats, whatever its declared
/// element type (so an imported `opaque(u8[1024]...)` tensor is 256 floats, and byte offsets of
/// a layout stay valid). The semantics of each kind are in docs/cpu-backend.md.
public struct KernelSpec: Sendable, Equatable {
  /// The computation; see docs/cpu-backend.md for each one's formula.
  public enum Kind: String, Sendable, CaseIterable {
    case lookup, input, add, linear, matvec, lstm, gru, opaque
  }

  public var kind: Kind
  /// Floats of the result tensor.
  public var resultFloats: Int
  /// Floats of each declared operand slot (the last repeats for variadic types).
  public var slotFloats: [Int]
  /// Rows R of the weight matrix W `[R x C]` of a projection (`linear`, `lstm`, `gru`,
  /// `opaque`); the pre-activations of one node are `z = W·[x_0; …; x_{S-1}] + b`.
  public var rows: Int
  /// Columns C of W.
  public var columns: Int
  /// How many operand slots have their own columns in W (S). Operands past them (a variadic
  /// tail) are summed and multiplied by the last block: `W_{S-1} · Σ_{j≥S} x_j`.
  public var weightedSlots: Int
  /// First column of each weighted slot's block of W.
  public var columnStart: [Int]
  /// Whether a bias of R floats is added.
  public var hasBias: Bool
  /// Row blocks of R (`R / resultFloats`): the gates of a cell, the folded blocks of a linear.
  public var gates: Int
  /// `linear` over matrix operands `[r_j x c]`: c (the columns of operands and result); 1 for
  /// vectors.
  public var matrixColumns: Int
  /// `lookup`: rows of the embedding table.
  public var vocabulary: Int

  /// How many operand positions of an `opaque` type get their own weight block.
  public static let opaqueWeightedSlots = 4

  /// Whether this kernel is a projection run as one GEMM per batch (per operand slot).
  public var isProjection: Bool {
    switch kind {
    case .linear: matrixColumns == 1
    case .lstm, .gru, .opaque: true
    default: false
    }
  }

  /// The weight block of operand slot `j`: first column and width.
  public func weightBlock(ofSlot j: Int) -> (column: Int, width: Int) {
    let s = min(j, weightedSlots - 1)
    return (columnStart[s], slotWidth(s))
  }

  /// Floats of operand slot `j`.
  public func slotWidth(_ j: Int) -> Int {
    slotFloats.isEmpty ? 0 : slotFloats[min(j, slotFloats.count - 1)]
  }

  /// Forget (LSTM) or reset (GRU) gates: one per weighted slot, counted from the last.
  public var stateGates: Int {
    switch kind {
    case .lstm: gates - 3
    case .gru: gates - 2
    default: 0
    }
  }

  /// Resolves the kernel of op type `type`. `maxOperands` is the most operands any node of the
  /// type has (it sizes an `opaque` type's weights).
  public static func resolve(_ type: OpType, maxOperands: Int, file: String) throws(Diagnostic)
    -> KernelSpec
  {
    func fail(_ message: String) -> Diagnostic {
      Diagnostic(
        file: file, location: type.location,
        message: "cpu backend: op type '\(type.name)' (\(type.kind)): \(message)")
    }
    func floats(_ tensor: TensorType) throws(Diagnostic) -> Int {
      let bytes = tensor.byteCount
      guard bytes > 0, bytes % 4 == 0 else {
        throw fail("a tensor of \(bytes) bytes (\(tensor)) is not a whole number of float32")
      }
      guard bytes <= 1 << 34 else { throw fail("tensor \(tensor) is too large to execute") }
      return bytes / 4
    }
    guard let kind = Kind(rawValue: type.kind) else {
      let known = Kind.allCases.map(\.rawValue).joined(separator: ", ")
      throw fail("no CPU kernel for this kind (kernels: \(known))")
    }
    var spec = KernelSpec(
      kind: kind, resultFloats: try floats(type.result), slotFloats: [], rows: 0, columns: 0,
      weightedSlots: 0, columnStart: [], hasBias: false, gates: 1, matrixColumns: 1, vocabulary: 0)
    for operand in type.operands where !(kind == .lookup) {
      spec.slotFloats.append(try floats(operand))
    }
    let matrices = type.weights.filter { $0.type.dimensions.count == 2 }
    let vectors = type.weights.filter { $0.type.dimensions.count == 1 }
    let n = spec.resultFloats

    switch kind {
    case .lookup:
      guard let table = matrices.first, table.type.dimensions[1] == n else {
        throw fail("needs a table weight [V x \(n)] (one row per entry, as wide as the result)")
      }
      spec.vocabulary = table.type.dimensions[0]
      spec.slotFloats = []
    case .input:
      break
    case .add:
      guard !spec.slotFloats.isEmpty, spec.slotFloats.allSatisfy({ $0 == n }) else {
        throw fail("every operand must be as wide as the result (\(n) floats)")
      }
    case .matvec:
      guard type.operands.count == 2, !type.variadic, type.operands[0].dimensions.count == 2,
        type.operands[0].dimensions[0] == n, spec.slotFloats[1] == type.operands[0].dimensions[1]
      else {
        throw fail("needs operands ([\(n) x M] matrix, [M] vector) and a [\(n)] result")
      }
      spec.matrixColumns = 1
      spec.rows = n
      spec.columns = spec.slotFloats[1]
    case .opaque:
      // One block of columns per operand position up to `opaqueWeightedSlots`; operands past
      // them share the last block (a variadic reduction is summed, then multiplied once).
      spec.weightedSlots = min(max(1, maxOperands), opaqueWeightedSlots)
      var column = 0
      for j in 0..<spec.weightedSlots {
        spec.columnStart.append(column)
        column += spec.slotWidth(j)
      }
      guard !spec.slotFloats.isEmpty else { throw fail("needs at least one operand slot") }
      spec.columns = column
      spec.rows = n
    case .linear, .lstm, .gru:
      guard let weight = matrices.first else { throw fail("needs a 2-D weight W [R x C]") }
      let (r, c) = (weight.type.dimensions[0], weight.type.dimensions[1])
      spec.rows = r
      spec.columns = c
      if let bias = vectors.first {
        guard bias.type.dimensions[0] == r else {
          throw fail("bias \(bias.id) has \(bias.type.dimensions[0]) rows; W has \(r)")
        }
        spec.hasBias = true
      }
      let matrixOperands = type.operands.contains { $0.dimensions.count == 2 }
      if kind == .linear && matrixOperands {
        // Y [R x c] = W · [X_0; X_1; …] (+ b per column): operands [r_j x c], result [R x c].
        let columns = type.result.dimensions.count == 2 ? type.result.dimensions[1] : 0
        guard !type.variadic, columns > 0, type.result.dimensions[0] == r,
          type.operands.allSatisfy({ $0.dimensions.count == 2 && $0.dimensions[1] == columns }),
          type.operands.reduce(0, { $0 + $1.dimensions[0] }) == c
        else {
          throw fail(
            "matrix operands [r_j x c] need W [R x Σr_j] and a result [R x c]; got W [\(r)x\(c)]")
        }
        spec.matrixColumns = columns
        var row = 0
        for operand in type.operands {
          spec.columnStart.append(row)
          row += operand.dimensions[0]
        }
        spec.weightedSlots = type.operands.count
        break
      }
      guard r % n == 0 else { throw fail("W has \(r) rows, not a multiple of the result (\(n))") }
      spec.gates = r / n
      // Slots are laid side by side in W's columns until they fill them.
      var column = 0
      for j in 0..<max(type.operands.count, 1) where column < c {
        spec.columnStart.append(column)
        column += spec.slotWidth(j)
      }
      guard column == c, !spec.columnStart.isEmpty else {
        throw fail(
          "W has \(c) columns, which is not the width of its first operand slots "
            + "(\(spec.slotFloats.map(String.init).joined(separator: ", ")))")
      }
      spec.weightedSlots = spec.columnStart.count
      switch kind {
      case .lstm:
        guard spec.gates >= 3, spec.stateGates <= spec.weightedSlots else {
          throw fail(
            "an LSTM needs W rows = g·\(n) with 3 ≤ g ≤ 3 + weighted slots (i, o, u, one forget "
              + "gate per state); got g = \(spec.gates)")
        }
      case .gru:
        guard spec.gates >= 2, spec.stateGates <= spec.weightedSlots else {
          throw fail(
            "a GRU needs W rows = g·\(n) with 2 ≤ g ≤ 2 + weighted slots (z, n, one reset gate "
              + "per state); got g = \(spec.gates)")
        }
      default: break
      }
      for s in (spec.weightedSlots - spec.stateGates)..<spec.weightedSlots
      where spec.slotWidth(s) != n {
        throw fail("state operand \(s) must be as wide as the result (\(n) floats)")
      }
    }
    guard spec.rows.multipliedReportingOverflow(by: spec.columns).partialValue <= 1 << 32,
      spec.rows <= Int(Int32.max), spec.columns <= Int(Int32.max)
    else {
      throw fail("W [\(spec.rows) x \(spec.columns)] is too large to execute")
    }
    return spec
  }

  /// Floats of this kernel's weights (W and bias) on the host.
  public var weightFloats: Int {
    guard rows > 0, kind != .matvec else { return 0 }
    return rows * columns + (hasBias ? rows : 0)
  }
}
