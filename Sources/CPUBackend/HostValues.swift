import BatchIR

/// A float32 buffer in host memory, zero-filled, freed with its owner.
final class FloatBuffer {
  let pointer: UnsafeMutablePointer<Float>
  let count: Int

  init(count: Int) {
    self.count = max(count, 1)
    pointer = .allocate(capacity: self.count)
    pointer.initialize(repeating: 0, count: self.count)
  }

  deinit { pointer.deallocate() }
}

/// The model's numbers, all drawn from one seed: each op type's W and bias, the embedding rows
/// lookups read, the values of `input` nodes (and operand-less `opaque` nodes), and one vector
/// per external operand. The same seed gives the same numbers.
final class HostValues {
  /// W `[rows x columns]` (row-major) and bias of each op type that has them.
  let weight: [FloatBuffer?]
  let bias: [FloatBuffer?]
  /// Rows that lookups and input nodes copy: node n copies `constants[constantRow[n] …]`.
  let constants: FloatBuffer
  let constantRow: [Int]

  /// Uniform in [-1, 1) weights scaled by 1/√C (C: W's columns); biases in [-0.1, 0.1); inputs
  /// and embedding rows in [-1, 1). Embedding row v of a type is the same wherever it is used;
  /// only the rows some node reads are made.
  init(_ module: Module, plan: ExecutionPlan, seed: UInt64) {
    var weight = [FloatBuffer?](repeating: nil, count: module.opTypes.count)
    var bias = [FloatBuffer?](repeating: nil, count: module.opTypes.count)
    for (t, spec) in plan.kernels.enumerated() {
      guard let spec, spec.rows > 0, spec.kind != .matvec else { continue }
      let w = FloatBuffer(count: spec.rows * spec.columns)
      var rng = stream(seed, 1, UInt64(t))
      let scale = 1 / Float(max(spec.columns, 1)).squareRoot()
      for i in 0..<w.count { w.pointer[i] = uniform(&rng) * scale }
      weight[t] = w
      if spec.hasBias {
        let b = FloatBuffer(count: spec.rows)
        for i in 0..<b.count { b.pointer[i] = uniform(&rng) * 0.1 }
        bias[t] = b
      }
    }
    self.weight = weight
    self.bias = bias

    // Lookup rows (one per distinct entry of each table) and input-node values.
    var row = [Int](repeating: -1, count: module.nodeCount)
    var tableRow: [Int: Int] = [:]  // key: type · 2^32 + entry
    var sources: [(key: UInt64, kind: UInt64, floats: Int)] = []
    var total = 0
    for n in 0..<module.nodeCount {
      let t = module.type(of: n)
      guard let spec = plan.kernels[t] else { continue }
      switch spec.kind {
      case .lookup:
        var pick = stream(seed, 2, UInt64(n))
        let entry = Int(pick.next() % UInt64(max(spec.vocabulary, 1)))
        let key = t << 32 | entry
        if let existing = tableRow[key] {
          row[n] = existing
        } else {
          row[n] = total
          tableRow[key] = total
          sources.append((UInt64(key), 3, spec.resultFloats))
          total += spec.resultFloats
        }
      case .input, .opaque:
        guard spec.kind == .input || module.operands(of: n).isEmpty else { continue }
        row[n] = total
        sources.append((UInt64(n), 4, spec.resultFloats))
        total += spec.resultFloats
      default: continue
      }
    }
    let constants = FloatBuffer(count: total)
    var at = 0
    for source in sources {
      var rng = stream(seed, source.kind, source.key)
      for i in 0..<source.floats { constants.pointer[at + i] = uniform(&rng) }
      at += source.floats
    }
    self.constants = constants
    constantRow = row
  }

  /// Writes the vector of every external operand into the inputs region of `buffer` (laid out
  /// by `plan`), drawn from (seed, node, slot).
  static func fillInputs(
    _ buffer: UnsafeMutablePointer<Float>, module: Module, plan: ExecutionPlan, seed: UInt64,
    offset: Int = 0
  ) {
    for n in 0..<module.nodeCount {
      guard let spec = plan.kernels[module.type(of: n)], spec.kind != .lookup else { continue }
      let first = Int(module.operandStart[n])
      for k in first..<Int(module.operandStart[n + 1]) where module.operands[k] == Module.external {
        var rng = stream(seed, 5, UInt64(n) << 16 | UInt64(k - first))
        let start = plan.operandSource[k] - plan.arenaFloats + offset
        for i in 0..<spec.slotWidth(k - first) { buffer[start + i] = uniform(&rng) }
      }
    }
  }
}

/// A generator for one purpose (`kind`) and one key, from the run's seed.
func stream(_ seed: UInt64, _ kind: UInt64, _ key: UInt64) -> SeededGenerator {
  SeededGenerator(seed: mix(seed ^ mix(kind &+ 0x9E37_79B9_7F4A_7C15 ^ mix(key))))
}

/// SplitMix64's finalizer.
func mix(_ value: UInt64) -> UInt64 {
  var z = value &+ 0x9E37_79B9_7F4A_7C15
  z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
  z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
  return z ^ (z >> 31)
}

/// A float uniform in [-1, 1).
func uniform(_ rng: inout SeededGenerator) -> Float {
  Float(rng.unit() * 2 - 1)
}
