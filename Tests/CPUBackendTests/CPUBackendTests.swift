import BatchIR
import BatchPasses
import Foundation
import TestSupport
import Testing
import Workloads

@testable import CPUBackend

/// OpenBLAS's thread count is process-wide and its thread pool is not meant for concurrent
/// callers, so the backend's suites run one test at a time.
@Suite(.serialized) struct CPUBackendTests {}

/// Every batching policy; the FSM with a short training (no beam imitation, little refinement)
/// and beam at a small width, so the suite stays fast: any valid schedule must compute the same
/// values.
let policies = [
  "depth", "agenda", "agenda-dynamic", "typewise", "fsm,episodes=40,imitate=0,refine=200,prove=0",
  "beam,width=8,prove=0",
]

/// Runs `fsm-batch{policy=…}` (and `pq-layout` when `layout`) and executes the result once.
func executeBatched(
  _ module: Module, policy: String, layout: Bool, options: ExecutionOptions = quick
) throws -> (report: ExecutionReport, module: Module) {
  var scheduled = module
  let pipeline = "fsm-batch{policy=\(policy)}" + (layout ? ",pq-layout" : "")
  _ = try PassManager(pipeline: pipeline).run(on: &scheduled, file: "test")
  return (try CPUExecutor(options: options).execute(scheduled, file: "test"), scheduled)
}

let quick: ExecutionOptions = {
  var options = ExecutionOptions()
  options.repeats = 1
  return options
}()

/// Checks one graph under every policy, with and without `pq-layout`.
func expectExecutes(_ module: Module, _ name: String) throws {
  for policy in policies {
    for layout in [false, true] {
      let (report, scheduled) = try executeBatched(module, policy: policy, layout: layout)
      #expect(report.maxAbsError <= 1e-4, "\(name) \(policy) layout=\(layout)")
      #expect(report.memory == (layout ? .layout : .creationOrder))
      if layout, let planned = scheduled.layout {
        // In place wherever pq-layout promised a slice (the executor accepts any constant
        // stride, so it never gathers more slots than the layout lists).
        #expect(report.gatheredSlots <= planned.gathers.count, "\(name) \(policy)")
      }
    }
  }
}

extension CPUBackendTests {
  @Suite struct Correctness {
    static let samples = [
      "hello", "bilstm-tagger", "lattice-gru", "lattice-lstm", "mv-rnn", "rnn-serving", "seq2seq",
      "tree-gru", "tree-lstm",
    ]

    @Test(arguments: samples)
    func everySampleMatchesTheReference(_ sample: String) throws {
      let url = repositoryRoot.appendingPathComponent("samples/\(sample).dg")
      let bytes = [UInt8](try Data(contentsOf: url))
      try expectExecutes(try DGParser.parse(bytes, file: sample), sample)
    }

    @Test(arguments: WorkloadFamily.allCases)
    func everyFamilyMatchesTheReference(_ family: WorkloadFamily) throws {
      var options = WorkloadOptions()
      options.instances = 4
      options.hidden = 8
      options.seed = 7
      try expectExecutes(WorkloadGenerator.generate(family, options: options), family.rawValue)
    }

    @Test(arguments: ["treenn", "lattice", "seq2seq", "bilstm"])
    func everyCorpusG0MatchesTheReference(_ family: String) throws {
      let path = "edbatch/\(family)-b64/G0.txt"
      let bytes = [UInt8](try Data(contentsOf: corpusFile(path)))
      // 8 floats a tensor keeps the suite fast; the report runs them at 256.
      try expectExecutes(try EDBatchImporter.importGraph(bytes, file: path, tensorBytes: 32), path)
    }

    @Test(arguments: 0..<20)
    func randomGraphsMatchTheReference(seed: UInt64) throws {
      let module = randomCellModule(seed: seed)
      try Verifier.verify(module, file: "random")
      for layout in [false, true] {
        for gemm in ExecutionOptions.GEMMStrategy.allCases {
          var options = quick
          options.gemm = gemm
          options.seed = seed
          let policy = ["depth", "agenda", "typewise"][Int(seed % 3)]
          let report = try executeBatched(module, policy: policy, layout: layout, options: options)
            .report
          #expect(report.maxAbsError <= 1e-4, "seed \(seed) layout=\(layout) \(gemm)")
        }
      }
    }

    @Test func bothGEMMStrategiesGiveTheSameValues() throws {
      let module = randomCellModule(seed: 99)
      var concat = quick
      concat.gemm = .concatenate
      let a = try executeBatched(module, policy: "agenda", layout: true).report
      let b = try executeBatched(module, policy: "agenda", layout: true, options: concat).report
      #expect(a.maxAbsError <= 1e-4 && b.maxAbsError <= 1e-4)
      // Concatenation copies every slot of a multi-slot batch; per-slot copies only gathers.
      #expect(b.bytesCopied >= a.bytesCopied)
    }
  }
}

extension CPUBackendTests {
  @Suite struct Layout {
    /// A layout offset pointing at another tensor of the same size makes two results share
    /// memory: the node-by-node comparison must catch it.
    @Test(arguments: ["tree-lstm", "bilstm-tagger", "lattice-lstm"])
    func aCorruptedOffsetFailsTheCheck(_ sample: String) throws {
      let url = repositoryRoot.appendingPathComponent("samples/\(sample).dg")
      var module = try DGParser.parse([UInt8](try Data(contentsOf: url)), file: sample)
      _ = try PassManager(pipeline: "fsm-batch{policy=agenda},pq-layout").run(
        on: &module, file: sample)
      let clean = try CPUExecutor(options: quick).execute(module, file: sample)
      #expect(clean.maxAbsError <= 1e-4)
      guard var layout = module.layout, let schedule = module.schedule else {
        Issue.record("no layout")
        return
      }
      // The first node of the first batch with two nodes now sits on the second one.
      let batch = (0..<schedule.batchCount).map { schedule.batch($0) }.first { $0.count > 1 }
      let nodes = try #require(batch)
      let (a, b) = (Int(nodes[nodes.startIndex]), Int(nodes[nodes.startIndex + 1]))
      layout.offsets[a] = layout.offsets[b]
      module.layout = layout
      #expect(throws: Diagnostic.self) {
        try CPUExecutor(options: quick).execute(module, file: sample)
      }
      do {
        _ = try CPUExecutor(options: quick).execute(module, file: sample)
      } catch {
        #expect(error.message.contains("differs from the unbatched reference"))
      }
    }

    @Test func creationOrderPutsEachBatchSideBySide() throws {
      var module = try parseSample("tree-lstm")
      _ = try PassManager(pipeline: "fsm-batch{policy=depth}").run(on: &module, file: "t")
      let plan = try ExecutionPlan(module, file: "t")
      #expect(plan.memory == .creationOrder)
      var next = 0
      for b in 0..<plan.schedule.batchCount {
        let batch = plan.schedule.batch(b)
        #expect(Array(batch) == batch.sorted())
        for node in batch {
          #expect(plan.resultOffset[Int(node)] == next)
          let floats = plan.kernels[module.type(of: Int(node))]?.resultFloats ?? 0
          next += roundUp(floats * 4, 64) / 4
        }
      }
      #expect(plan.arenaFloats == next)
    }

    @Test func servingChainsRunInPlaceUnderPQLayout() throws {
      var options = WorkloadOptions()
      options.instances = 6
      options.hidden = 8
      let module = WorkloadGenerator.generate(.rnnServing, options: options)
      let laidOut = try executeBatched(module, policy: "agenda", layout: true).report
      #expect(laidOut.gatheredSlots == 0)
      #expect(laidOut.bytesCopied == 0)
      #expect(laidOut.inPlaceSlots > 0)
    }

    @Test func externalSlotsAreOneSlice() throws {
      // Three leaves of one batch read `_`: their inputs are laid out in batch order (creation
      // order without a layout).
      let module = try parse(
        """
        dg 1
        type leaf = linear(f32[4]) -> f32[4] weights(W: f32[4x4], b: f32[4])
        instance a { %x = leaf(_) }
        instance b { %x = leaf(_) }
        instance c { %x = leaf(_) }
        schedule { batch leaf 2 0 1 }
        """)
      let plan = try ExecutionPlan(module, file: "t")
      #expect(plan.slots(ofBatch: 0) == [.strided(base: plan.arenaFloats, ld: 4)])
      #expect(Array(plan.schedule.batch(0)) == [0, 1, 2])
      #expect(plan.operandSource == [plan.arenaFloats, plan.arenaFloats + 4, plan.arenaFloats + 8])
    }
  }
}

extension CPUBackendTests {
  @Suite struct KernelFormulas {
    /// One node of each cell kind computed by hand from the seeded weights and inputs.
    @Test func kernelsFollowTheirFormulas() throws {
      let module = try parse(
        """
        dg 1
        type lin = linear(f32[2], f32[2]) -> f32[2] weights(W: f32[2x4], b: f32[2])
        type cell = lstm(f32[2], f32[2]) -> f32[2] weights(V: f32[8x4], c: f32[8])
        type g = gru(f32[2], f32[2]) -> f32[2] weights(U: f32[6x4])
        type o = opaque(f32[2]...) -> f32[2]
        instance a {
          %y = lin(_, _)
          %h = cell(%y, _)
          %r = g(%h, %y)
          %q = o(%y, %h, %r, %y, %h)
        }
        schedule { batch lin 0 batch cell 1 batch g 2 batch o 3 }
        """)
      let plan = try ExecutionPlan(module, file: "t")
      let values = HostValues(module, plan: plan, seed: 1)
      let run = BatchedRun(module: module, plan: plan, values: values, options: quick)
      _ = run.run()
      let memory = run.buffer.pointer
      func value(_ k: Int) -> [Float] {  // operand occurrence k
        let width = 2
        return (0..<width).map { memory[plan.operandSource[k] + $0] }
      }
      func result(_ n: Int) -> [Float] { (0..<2).map { memory[plan.resultOffset[n] + $0] } }
      func project(_ t: Int, _ x: [Float]) throws -> [Float] {
        let spec = try #require(plan.kernels[t])
        let w = try #require(values.weight[t])
        return (0..<spec.rows).map { r in
          var sum = values.bias[t].map { $0.pointer[r] } ?? 0
          for c in 0..<spec.columns { sum += w.pointer[r * spec.columns + c] * x[c] }
          return sum
        }
      }
      func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }
      func close(_ a: [Float], _ b: [Float]) -> Bool {
        zip(a, b).allSatisfy { abs($0 - $1) < 1e-5 }
      }

      // linear: y = W·[x0; x1] + b.
      let y = try project(0, value(0) + value(1))
      #expect(close(result(0), y))
      // lstm (g = 4: i, o, u, f on the state x1): c = σ(i)·tanh(u) + σ(f)·x1; h = σ(o)·tanh(c).
      let x1 = value(3)
      let z = try project(1, result(0) + x1)
      let h = (0..<2).map { e in
        sigmoid(z[2 + e]) * tanh(sigmoid(z[e]) * tanh(z[4 + e]) + sigmoid(z[6 + e]) * x1[e])
      }
      #expect(close(result(1), h))
      // gru (g = 3: z, n, r on x1): y = (1-σ(z))·tanh(n) + σ(z)·σ(r)·x1.
      let u = try project(2, result(1) + result(0))
      let r = (0..<2).map { e in
        (1 - sigmoid(u[e])) * tanh(u[2 + e]) + sigmoid(u[e]) * sigmoid(u[4 + e]) * result(0)[e]
      }
      #expect(close(result(2), r))
      // opaque with 5 operands: 4 weight blocks; the fifth shares the fourth.
      let tailInput = (0..<2).map { result(0)[$0] + result(1)[$0] }
      let q = try project(3, result(0) + result(1) + result(2) + tailInput).map { tanh($0) }
      #expect(close(result(3), q))
    }

    @Test func lookupsReadOneRowPerEntry() throws {
      let module = try parse(
        """
        dg 1
        type e = lookup(i32[1]) -> f32[3] weights(E: f32[1x3])
        instance a { %x = e(_) %y = e(_) }
        schedule { batch e 0 1 }
        """)
      let plan = try ExecutionPlan(module, file: "t")
      let values = HostValues(module, plan: plan, seed: 4)
      // A vocabulary of one: both lookups read the same row, made once.
      #expect(values.constantRow == [0, 0])
      #expect(values.constants.count == 3)
    }

    @Test func unknownKindsAndBadShapesAreLocatedErrors() throws {
      func error(_ text: String) throws -> Diagnostic? {
        let module = try parse(text)
        do {
          _ = try ExecutionPlan(module, file: "t.dg")
          return nil
        } catch {
          return error
        }
      }
      let unknown = try error(
        """
        dg 1
        type s = softmax(f32[4]) -> f32[4]
        instance a { %x = s(_) }
        schedule { batch s 0 }
        """)
      #expect(
        unknown?.headline.hasPrefix("t.dg:2:6: error: cpu backend: op type 's' (softmax)") == true)
      let gates = try error(
        """
        dg 1
        type c = lstm(f32[4], f32[4]) -> f32[4] weights(W: f32[8x8])
        instance a { %x = c(_, _) }
        schedule { batch c 0 }
        """)
      #expect(gates?.message.contains("an LSTM needs W rows = g·4") == true)
      let odd = try error(
        """
        dg 1
        type s = opaque(u8[3]...) -> u8[3]
        instance a { %x = s() }
        schedule { batch s 0 }
        """)
      #expect(odd?.message.contains("not a whole number of float32") == true)
      // A variadic type may be given no operands; a kernel that needs one says so at the node.
      for kind in ["add", "linear"] {
        let operandless = try error(
          """
          dg 1
          type s = \(kind)(f32[4]...) -> f32[4] weights(W: f32[4x4])
          instance a {
            %x = s()
          }
          schedule { batch s 0 }
          """)
        #expect(
          operandless?.headline
            == "t.dg:4:3: error: cpu backend: node '%x' of type 's' (\(kind)) has no operands; its kernel needs at least one",
          "\(kind)")
      }
      let unscheduled = try parse(twoTypes + "instance a { %x = leaf(_) }\n")
      #expect(throws: Diagnostic.self) { try ExecutionPlan(unscheduled, file: "t") }
    }

    @Test func aMemoryLimitIsAnErrorNotACrash() throws {
      var module = try parseSample("tree-lstm")
      _ = try PassManager(pipeline: "fsm-batch{policy=agenda}").run(on: &module, file: "t")
      var options = quick
      options.maxBytes = 1 << 16
      #expect {
        try CPUExecutor(options: options).execute(module, file: "t.dg")
      } throws: { error in
        (error as? Diagnostic)?.message.contains("more than the limit of") == true
      }
    }

    @Test func sameSeedSameValuesOtherSeedOtherValues() throws {
      var module = try parseSample("tree-gru")
      _ = try PassManager(pipeline: "fsm-batch{policy=agenda},pq-layout").run(
        on: &module, file: "t")
      let plan = try ExecutionPlan(module, file: "t")
      func results(_ seed: UInt64) -> [Float] {
        var options = quick
        options.seed = seed
        let run = BatchedRun(
          module: module, plan: plan, values: HostValues(module, plan: plan, seed: seed),
          options: options)
        _ = run.run()
        return (0..<plan.arenaFloats).map { run.buffer.pointer[$0] }
      }
      #expect(results(3) == results(3))
      #expect(results(3) != results(4))
    }

    @Test func fastExpAndTanhAreAccurate() {
      var worstExp: Float = 0
      var worstTanh: Float = 0
      for i in -8000...8000 {
        let x = Float(i) / 100
        worstExp = max(worstExp, abs(Kernels.exp(x) - Foundation.exp(x)) / Foundation.exp(x))
        worstTanh = max(worstTanh, abs(Kernels.tanh(x) - Foundation.tanh(x)))
      }
      #expect(worstExp < 5e-7)
      #expect(worstTanh < 5e-7)
      #expect(Kernels.exp(-200) == Foundation.exp(Float(-87)) || Kernels.exp(-200) < 1e-37)
      #expect(Kernels.tanh(.nan).isNaN)
    }

    @Test func mediansOfOddAndEvenCounts() {
      #expect(median([5, 1, 3]) == 3)
      #expect(median([4, 1, 3, 2]) == 2.5)
      #expect(median([]) == 0)
    }
  }
}

func parseSample(_ name: String) throws -> Module {
  let url = repositoryRoot.appendingPathComponent("samples/\(name).dg")
  return try DGParser.parse([UInt8](try Data(contentsOf: url)), file: name)
}

/// A random DAG over cells of every projection kind and `add`, all 4 floats wide: each node
/// takes earlier nodes of its instance or `_`, some twice, some with a variadic tail.
func randomCellModule(seed: UInt64, instances: Int = 3, nodes: Int = 40) -> Module {
  var rng = SeededGenerator(seed: seed)
  var module = Module()
  let v = TensorType(.f32, [4])
  func weights(_ name: String, rows: Int, columns: Int, bias: Bool) -> [Weight] {
    [Weight(id: "W\(name)", type: TensorType(.f32, [rows, columns]))]
      + (bias ? [Weight(id: "b\(name)", type: TensorType(.f32, [rows]))] : [])
  }
  let kinds: [(OpType, min: Int, max: Int)] = [
    (
      OpType(
        name: "param", kind: "opaque", operands: [v], variadic: true, result: v, unbatched: true),
      0, 0
    ),
    (OpType(name: "op", kind: "opaque", operands: [v], variadic: true, result: v), 1, 7),
    (
      OpType(
        name: "lin", kind: "linear", operands: [v, v], result: v,
        weights: weights("lin", rows: 8, columns: 8, bias: true)), 2, 2
    ),
    (
      OpType(
        name: "cell", kind: "lstm", operands: [v, v, v], variadic: true, result: v,
        weights: weights("cell", rows: 16, columns: 8, bias: true)), 2, 4
    ),
    (
      OpType(
        name: "tree", kind: "lstm", operands: [v, v], result: v,
        weights: weights("tree", rows: 20, columns: 8, bias: true)), 2, 2
    ),
    (
      OpType(
        name: "g", kind: "gru", operands: [v, v], result: v,
        weights: weights("g", rows: 12, columns: 8, bias: false)), 2, 2
    ),
    (OpType(name: "sum", kind: "add", operands: [v, v], result: v), 2, 2),
  ]
  for (type, _, _) in kinds { module.addOpType(type) }
  for i in 0..<instances {
    module.beginInstance(name: "i\(i)")
    let first = module.nodeCount
    for n in 0..<nodes {
      let available = module.nodeCount - first
      let t = available == 0 ? 0 : Int(rng.next() % UInt64(kinds.count))
      let (lo, hi) = (kinds[t].min, kinds[t].max)
      let count = lo + Int(rng.next() % UInt64(hi - lo + 1))
      var operands: [Int32] = []
      for _ in 0..<count {
        operands.append(
          rng.unit() < 0.15 ? Module.external : Int32(first + Int(rng.next() % UInt64(available))))
      }
      module.addNode(type: t, operands: operands, name: "n\(n)")
    }
  }
  return module
}
