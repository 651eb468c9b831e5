import BatchIR
import COpenBLAS

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The kernels both executors share: the element-wise step that turns one node's
/// pre-activations into its result, and the per-node kernels (lookup, input, add, matvec, linear
/// over matrices). The formulas are in docs/cpu-backend.md.
enum Kernels {
  /// Turns pre-activations `z` (`spec.rows` floats; the bias is added in place) into the result
  /// `y`; `state[k]` is the value of weighted slot `S - m + k` (the m forget/reset gates'
  /// operands), nil when absent. Each loop is plain pointer arithmetic so it vectorizes.
  @inline(__always)
  static func pointwise(
    _ spec: KernelSpec, z: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?,
    state: UnsafePointer<UnsafePointer<Float>?>, y: UnsafeMutablePointer<Float>
  ) {
    let n = spec.resultFloats
    if let bias { for r in 0..<spec.rows { z[r] += bias[r] } }
    switch spec.kind {
    case .opaque:
      for e in 0..<n { y[e] = tanh(z[e]) }
    case .lstm:
      // Gates i, o, u, f_1 … f_m: c = σ(i)·tanh(u) + Σ σ(f_k)·x_k (held in y), y = σ(o)·tanh(c).
      let (i, o, u) = (z, z + n, z + 2 * n)
      for e in 0..<n { y[e] = sigmoid(i[e]) * tanh(u[e]) }
      for k in 0..<spec.stateGates {
        guard let x = state[k] else { continue }
        let f = z + (3 + k) * n
        for e in 0..<n { y[e] += sigmoid(f[e]) * x[e] }
      }
      for e in 0..<n { y[e] = sigmoid(o[e]) * tanh(y[e]) }
    case .gru:
      // Gates z, n, r_1 … r_m: s = Σ σ(r_k)·x_k (held in y), y = (1-σ(z))·tanh(n) + σ(z)·s.
      y.update(repeating: 0, count: n)
      for k in 0..<spec.stateGates {
        guard let x = state[k] else { continue }
        let r = z + (2 + k) * n
        for e in 0..<n { y[e] += sigmoid(r[e]) * x[e] }
      }
      let candidate = z + n
      for e in 0..<n {
        let update = sigmoid(z[e])
        y[e] = (1 - update) * tanh(candidate[e]) + update * y[e]
      }
    default:  // linear: the sum of the row blocks (one block: y = W·x + b)
      y.update(from: z, count: n)
      for k in 1..<max(spec.gates, 1) {
        let block = z + k * n
        for e in 0..<n { y[e] += block[e] }
      }
    }
  }

  /// `y = Σ x` over the vectors `xs` of `width` floats (y is overwritten).
  @inline(__always)
  static func sum<C: Collection>(_ xs: C, width: Int, into y: UnsafeMutablePointer<Float>)
  where C.Element == UnsafePointer<Float> {
    y.update(repeating: 0, count: width)
    for x in xs { for e in 0..<width { y[e] += x[e] } }
  }

  @inline(__always) static func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }

  @inline(__always) static func tanh(_ x: Float) -> Float {
    let e = exp(2 * x)
    return (e - 1) / (e + 1)
  }

  /// e^x without a libm call, so the element-wise loops stay branch-free: x = k·ln2 + r with
  /// |r| ≤ ln2/2 (ln2 split in two for exactness), e^r by its degree-6 Taylor polynomial
  /// (relative error below 2e-7), 2^k built in the exponent bits. x is clamped to [-87, 88];
  /// NaN stays NaN.
  @inline(__always) static func exp(_ x: Float) -> Float {
    let x = Swift.min(Swift.max(x, -87), 88)
    // Adding 1.5·2^23 rounds x·log2(e) to an integer k held in the low mantissa bits.
    let shifted = x * 1.442_695_04 + 12_582_912
    let k = shifted - 12_582_912
    let r = x - k * 0.693_359_375 + k * 2.121_944_4e-4
    let p =
      1 + r * (1 + r * (0.5 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720))))))
    let exponent = (shifted.bitPattern &- 0x4B40_0000 &+ 127) &<< 23
    return p * Float(bitPattern: exponent)
  }

  /// A node whose kernel is not a projection: its result from its operands (`operand(j)`:
  /// the value of operand j). Returns the BLAS calls made.
  static func perNode(
    _ spec: KernelSpec, node: Int, operandCount: Int,
    operand: (Int) -> UnsafePointer<Float>, weight: UnsafePointer<Float>?,
    bias: UnsafePointer<Float>?, values: HostValues, y: UnsafeMutablePointer<Float>
  ) -> Int {
    switch spec.kind {
    case .lookup, .input, .opaque:
      // An operand-less opaque node is an input of the graph.
      let row = values.constantRow[node]
      if row >= 0 { y.update(from: values.constants.pointer + row, count: spec.resultFloats) }
      return 0
    case .add:
      y.update(from: operand(0), count: spec.resultFloats)
      for j in 1..<max(operandCount, 1) {
        let x = operand(j)
        for e in 0..<spec.resultFloats { y[e] += x[e] }
      }
      return 0
    case .matvec:
      // y [N] = A [N x M] · x [M].
      cblas_sgemv(
        CblasRowMajor, CblasNoTrans, Int32(spec.rows), Int32(spec.columns), 1, operand(0),
        Int32(spec.columns), operand(1), 1, 0, y, 1)
      return 1
    default:
      // linear over matrices: Y [R x c] = Σ_j W_j [R x r_j] · X_j [r_j x c] (+ b per column).
      guard let weight else { return 0 }
      let c = spec.matrixColumns
      for j in 0..<operandCount {
        let block = spec.columnStart[j]
        let width =
          (j + 1 < spec.columnStart.count ? spec.columnStart[j + 1] : spec.columns) - block
        cblas_sgemm(
          CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(spec.rows), Int32(c), Int32(width), 1,
          weight + block, Int32(spec.columns), operand(j), Int32(c), j == 0 ? 0 : 1, y, Int32(c))
      }
      if let bias {
        for r in 0..<spec.rows { for e in 0..<c { y[r * c + e] += bias[r] } }
      }
      return operandCount
    }
  }
}

/// Monotonic time in nanoseconds.
@inline(__always) func nanoseconds() -> UInt64 {
  var now = timespec()
  clock_gettime(CLOCK_MONOTONIC, &now)
  return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
