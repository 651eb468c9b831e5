import BatchIR

/// The workload families the seed papers evaluate. Every generator is deterministic in its seed.
public enum WorkloadFamily: String, CaseIterable, Sendable {
  case bilstmTagger = "bilstm-tagger"
  case seq2seq
  case treeLSTM = "tree-lstm"
  case treeGRU = "tree-gru"
  case mvRNN = "mv-rnn"
  case latticeLSTM = "lattice-lstm"
  case latticeGRU = "lattice-gru"
  case rnnServing = "rnn-serving"

  public var summary: String {
    switch self {
    case .bilstmTagger: "BiLSTM tagger over sentences (chains)"
    case .seq2seq: "LSTM encoder-decoder over sentence pairs (chains)"
    case .treeLSTM: "binary Tree-LSTM over random binary trees"
    case .treeGRU: "binary Tree-GRU over random binary trees"
    case .mvRNN: "matrix-vector RNN over random binary trees"
    case .latticeLSTM: "lattice LSTM: character chains with word arcs"
    case .latticeGRU: "lattice GRU: character chains with word arcs"
    case .rnnServing: "RNN serving trace: requests with Poisson arrivals through an L-layer LSTM"
    }
  }
}

/// Distribution of sequence lengths for generated requests and sentences.
public enum LengthDistribution: String, CaseIterable, Sendable {
  /// Sentence lengths in tokens, like WMT/IWSLT translation: log-normal, median 20, clamped to 3…100.
  case translation
  /// Utterance lengths in 10 ms frames after 3× subsampling, like LibriSpeech: log-normal,
  /// median 300, clamped to 50…1500.
  case speech

  func sample(_ rng: inout SeededGenerator) -> Int {
    switch self {
    case .translation: Self.logNormal(&rng, median: 20, sigma: 0.5, range: 3...100)
    case .speech: Self.logNormal(&rng, median: 300, sigma: 0.6, range: 50...1500)
    }
  }

  static func logNormal(
    _ rng: inout SeededGenerator, median: Double, sigma: Double, range: ClosedRange<Int>
  ) -> Int {
    let value = Int((median * exp(sigma * rng.normal())).rounded())
    return min(max(value, range.lowerBound), range.upperBound)
  }
}

/// Options shared by the generators; each family reads the ones it needs.
public struct WorkloadOptions: Sendable {
  public var instances = 8
  public var seed: UInt64 = 1
  /// Hidden size of the recurrent and tree cells.
  public var hidden = 64
  /// Layers of the `rnn-serving` network.
  public var layers = 2
  /// Mean arrival rate of `rnn-serving` requests, per second (Poisson process).
  public var rate = 1000.0
  public var lengths = LengthDistribution.translation

  public init() {}
}

/// Builds per-input dataflow graphs for a workload family.
public struct WorkloadGenerator {
  public static func generate(_ family: WorkloadFamily, options: WorkloadOptions) -> Module {
    var builder = WorkloadBuilder(options: options)
    switch family {
    case .bilstmTagger: builder.bilstmTagger()
    case .seq2seq: builder.seq2seq()
    case .treeLSTM: builder.tree(cell: "lstm", gates: 5)
    case .treeGRU: builder.tree(cell: "gru", gates: 3)
    case .mvRNN: builder.mvRNN()
    case .latticeLSTM: builder.lattice(cell: "lstm", gates: 4)
    case .latticeGRU: builder.lattice(cell: "gru", gates: 3)
    case .rnnServing: builder.rnnServing()
    }
    return builder.module
  }
}

/// The state of one generator run: the module being built and the random stream.
private struct WorkloadBuilder {
  var module = Module()
  var rng: SeededGenerator
  let options: WorkloadOptions
  var h: Int { options.hidden }

  init(options: WorkloadOptions) {
    self.options = options
    rng = SeededGenerator(seed: options.seed)
  }

  private func vector(_ size: Int) -> TensorType { TensorType(.f32, [size]) }

  /// Declares an op type whose weight is a `[gates·h × inputs·h]` matrix plus a bias.
  private mutating func cell(
    _ name: String, kind: String, inputs: Int, gates: Int, recurrent: Bool = false,
    extraVariadic: Bool = false
  ) -> Int {
    var operands = Array(repeating: vector(h), count: inputs)
    if extraVariadic { operands.append(vector(h)) }
    return module.addOpType(
      OpType(
        name: name, kind: kind, operands: operands, variadic: extraVariadic, result: vector(h),
        weights: [
          Weight(id: "W_\(name)", type: TensorType(.f32, [gates * h, inputs * h])),
          Weight(id: "b_\(name)", type: vector(gates * h)),
        ],
        recurrent: recurrent))
  }

  private mutating func lookup(_ name: String, vocabulary: Int) -> Int {
    module.addOpType(
      OpType(
        name: name, kind: "lookup", operands: [TensorType(.i32, [1])], result: vector(h),
        weights: [Weight(id: "E_\(name)", type: TensorType(.f32, [vocabulary, h]))]))
  }

  private mutating func projection(_ name: String, inputs: Int, classes: Int) -> Int {
    module.addOpType(
      OpType(
        name: name, kind: "linear", operands: Array(repeating: vector(h), count: inputs),
        result: vector(classes),
        weights: [Weight(id: "W_\(name)", type: TensorType(.f32, [classes, inputs * h]))]))
  }

  @discardableResult
  private mutating func node(_ type: Int, _ operands: [Int32], _ name: String) -> Int32 {
    Int32(module.addNode(type: type, operands: operands, name: name))
  }

  private let ext = Module.external

  // MARK: Chains

  mutating func bilstmTagger() {
    let embed = lookup("embed", vocabulary: 20000)
    let forward = cell("fwd", kind: "lstm", inputs: 2, gates: 4, recurrent: true)
    let backward = cell("bwd", kind: "lstm", inputs: 2, gates: 4, recurrent: true)
    let tag = projection("tag", inputs: 2, classes: 32)
    for i in 0..<options.instances {
      let n = options.lengths.sample(&rng)
      module.beginInstance(name: "s\(i)")
      let x = (0..<n).map { t in node(embed, [ext], "x\(t)") }
      var f: [Int32] = []
      for t in 0..<n { f.append(node(forward, [x[t], t == 0 ? ext : f[t - 1]], "f\(t)")) }
      var b = [Int32](repeating: 0, count: n)
      for t in stride(from: n - 1, through: 0, by: -1) {
        b[t] = node(backward, [x[t], t == n - 1 ? ext : b[t + 1]], "b\(t)")
      }
      for t in 0..<n { node(tag, [f[t], b[t]], "y\(t)") }
    }
  }

  mutating func seq2seq() {
    let source = lookup("embed_src", vocabulary: 17000)
    let target = lookup("embed_tgt", vocabulary: 7700)
    let encoder = cell("enc", kind: "lstm", inputs: 2, gates: 4, recurrent: true)
    let decoder = cell("dec", kind: "lstm", inputs: 2, gates: 4, recurrent: true)
    let output = projection("out", inputs: 1, classes: 7700)
    for i in 0..<options.instances {
      let n = options.lengths.sample(&rng)
      let m = max(1, Int((Double(n) * (0.8 + 0.4 * rng.unit())).rounded()))
      module.beginInstance(name: "s\(i)")
      var state = ext
      for t in 0..<n {
        let x = node(source, [ext], "x\(t)")
        state = node(encoder, [x, state], "e\(t)")
      }
      for t in 0..<m {
        let y = node(target, [ext], "y\(t)")
        state = node(decoder, [y, state], "d\(t)")
        node(output, [state], "o\(t)")
      }
    }
  }

  // MARK: Trees

  /// A random binary tree shape over `leaves` leaves, as child pairs in post-order.
  /// Leaves are `-1 - i`; internal node j is `j`.
  private mutating func randomTree(leaves: Int) -> [(Int, Int)] {
    var pairs: [(Int, Int)] = []
    func build(_ first: Int, _ count: Int, _ rng: inout SeededGenerator) -> Int {
      if count == 1 { return -1 - first }
      let split = 1 + Int(rng.next() % UInt64(count - 1))
      let left = build(first, split, &rng)
      let right = build(first + split, count - split, &rng)
      pairs.append((left, right))
      return pairs.count - 1
    }
    _ = build(0, leaves, &rng)
    return pairs
  }

  mutating func tree(cell kind: String, gates: Int) {
    let embed = lookup("embed", vocabulary: 20000)
    let leaf = cell("leaf", kind: "linear", inputs: 1, gates: gates - 1)
    let compose = cell("tree_\(kind)", kind: kind, inputs: 2, gates: gates)
    let predict = projection("predict", inputs: 1, classes: 5)
    for i in 0..<options.instances {
      let leaves = max(2, options.lengths.sample(&rng))
      module.beginInstance(name: "t\(i)")
      var leafNodes: [Int32] = []
      for l in 0..<leaves {
        let x = node(embed, [ext], "x\(l)")
        leafNodes.append(node(leaf, [x], "l\(l)"))
      }
      var internalNodes: [Int32] = []
      for (j, (left, right)) in randomTree(leaves: leaves).enumerated() {
        let a = left < 0 ? leafNodes[-1 - left] : internalNodes[left]
        let b = right < 0 ? leafNodes[-1 - right] : internalNodes[right]
        internalNodes.append(node(compose, [a, b], "n\(j)"))
      }
      node(predict, [internalNodes.last ?? leafNodes[0]], "out")
    }
  }

  mutating func mvRNN() {
    let square = TensorType(.f32, [h, h])
    let wordVector = lookup("word_vec", vocabulary: 20000)
    let wordMatrix = module.addOpType(
      OpType(
        name: "word_mat", kind: "lookup", operands: [TensorType(.i32, [1])], result: square,
        weights: [Weight(id: "E_word_mat", type: TensorType(.f32, [20000, h * h]))]))
    let matvec = module.addOpType(
      OpType(name: "matvec", kind: "matvec", operands: [square, vector(h)], result: vector(h)))
    let composeVector = cell("compose_vec", kind: "linear", inputs: 2, gates: 1)
    let composeMatrix = module.addOpType(
      OpType(
        name: "compose_mat", kind: "linear", operands: [square, square], result: square,
        weights: [Weight(id: "W_compose_mat", type: TensorType(.f32, [h, 2 * h]))]))
    let predict = projection("predict", inputs: 1, classes: 5)
    for i in 0..<options.instances {
      let leaves = max(2, options.lengths.sample(&rng))
      module.beginInstance(name: "t\(i)")
      var vectors: [Int32] = []
      var matrices: [Int32] = []
      for l in 0..<leaves {
        vectors.append(node(wordVector, [ext], "v\(l)"))
        matrices.append(node(wordMatrix, [ext], "m\(l)"))
      }
      var internalVectors: [Int32] = []
      var internalMatrices: [Int32] = []
      for (j, (left, right)) in randomTree(leaves: leaves).enumerated() {
        let (av, am) =
          left < 0
          ? (vectors[-1 - left], matrices[-1 - left])
          : (internalVectors[left], internalMatrices[left])
        let (bv, bm) =
          right < 0
          ? (vectors[-1 - right], matrices[-1 - right])
          : (internalVectors[right], internalMatrices[right])
        let ba = node(matvec, [bm, av], "ba\(j)")
        let ab = node(matvec, [am, bv], "ab\(j)")
        internalVectors.append(node(composeVector, [ba, ab], "p\(j)"))
        internalMatrices.append(node(composeMatrix, [am, bm], "P\(j)"))
      }
      node(predict, [internalVectors.last ?? vectors[0]], "out")
    }
  }

  // MARK: Lattices

  mutating func lattice(cell kind: String, gates: Int) {
    let embed = lookup("char_embed", vocabulary: 6000)
    let wordEmbed = lookup("word_embed", vocabulary: 50000)
    // A character cell takes its embedding, the previous state, and any words ending here.
    let characterCell = cell(
      "char_\(kind)", kind: kind, inputs: 2, gates: gates, extraVariadic: true)
    let wordCell = cell("word_\(kind)", kind: kind, inputs: 2, gates: gates - 1)
    let tag = projection("tag", inputs: 1, classes: 18)
    for i in 0..<options.instances {
      let n = max(2, options.lengths.sample(&rng))
      module.beginInstance(name: "s\(i)")
      var ending = [[Int32]](repeating: [], count: n)
      var characters: [Int32] = []
      var wordCount = 0
      for t in 0..<n {
        let x = node(embed, [ext], "c\(t)")
        let state = node(characterCell, [x, t == 0 ? ext : characters[t - 1]] + ending[t], "h\(t)")
        characters.append(state)
        node(tag, [state], "y\(t)")
        // Words that start after this character, of 2 to 4 characters, about one start in three.
        if t + 2 < n, rng.unit() < 0.35 {
          let length = 2 + Int(rng.next() % 3)
          let end = min(t + length, n - 1)
          let w = node(wordEmbed, [ext], "we\(wordCount)")
          ending[end].append(node(wordCell, [w, state], "w\(wordCount)"))
          wordCount += 1
        }
      }
    }
  }

  // MARK: Serving

  mutating func rnnServing() {
    var layers: [Int] = []
    for l in 0..<max(1, options.layers) {
      layers.append(cell("lstm\(l + 1)", kind: "lstm", inputs: 2, gates: 4, recurrent: true))
    }
    var clock = 0.0
    for i in 0..<options.instances {
      clock += rng.exponential(rate: options.rate)
      let arrival = (clock * 1e6).rounded() / 1e6
      module.addRecurrentInstance(
        name: "r\(i)", arrival: arrival,
        recurrence: Recurrence(layers: layers, steps: options.lengths.sample(&rng)))
    }
  }
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
