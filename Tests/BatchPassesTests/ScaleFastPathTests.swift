import PropertyBased
import TestSupport
import Testing
import Workloads

@testable import AccelSim
@testable import BatchIR
@testable import BatchPasses

/// The fast paths that keep the pipeline linear at a million nodes give the answers of the
/// slower code they stand in front of: checked on random inputs with `PropertyBased`.
@Suite struct ScaleFastPathTests {
  static let seeds = Gen.uint64(in: 1...1_000_000)

  /// One instance of `count` operandless nodes whose op types have results of 4, 20, 64 and
  /// 256 bytes, chosen by `random`.
  static func tensors(count: Int, using random: inout SeededGenerator) -> Module {
    var module = Module()
    for (index, elements) in [1, 5, 16, 64].enumerated() {
      module.addOpType(
        OpType(name: "t\(index)", kind: "input", operands: [], result: TensorType(.f32, [elements]))
      )
    }
    module.beginInstance(name: "i")
    for n in 0..<count {
      module.addNode(
        type: Int.random(in: 0..<4, using: &random), operands: [Int32](), name: "n\(n)")
    }
    return module
  }

  /// What the verifier did before the fast path: sort by offset and compare neighbours.
  static func disjointBySorting(offsets: [Int64], requirements: LayoutRequirements) -> Bool {
    let byOffset = offsets.indices.sorted { offsets[$0] < offsets[$1] }
    return !zip(byOffset, byOffset.dropFirst()).contains { a, b in
      offsets[a] + Int64(requirements.tensorBytes[a]) > offsets[b]
    }
  }

  /// Dense layouts in a random order with random gaps, half of them with one tensor moved onto
  /// or next to another: the bucket check never passes an overlap, and decides dense arenas
  /// exactly as sorting does (a sparse one is left to sorting).
  @Test func bucketedOverlapCheckAgreesWithSorting() async {
    await propertyCheck(count: 200, input: Self.seeds, Gen.int(in: 2...300)) { seed, count in
      var random = SeededGenerator(seed: seed)
      let module = Self.tensors(count: count, using: &random)
      let alignment = [4, 16, 64][Int.random(in: 0..<3, using: &random)]
      let requirements = LayoutRequirements(module, alignment: alignment)
      var offsets = [Int64](repeating: 0, count: count)
      var end: Int64 = 0
      for n in (0..<count).shuffled(using: &random) {
        end += Int64(alignment * Int.random(in: 0...2, using: &random))
        offsets[n] = end
        end += Int64(requirements.stride(ofNode: n))
      }
      if Bool.random(using: &random) {
        let (a, b) = (
          Int.random(in: 0..<count, using: &random), Int.random(in: 0..<count, using: &random)
        )
        offsets[a] = offsets[b] + Int64(alignment * Int.random(in: -2...2, using: &random))
        offsets[a] = max(0, offsets[a])
      }
      let fast = Verifier.tensorsAreDisjoint(offsets: offsets, requirements: requirements)
      let sorted = Self.disjointBySorting(offsets: offsets, requirements: requirements)
      // Never disjoint when sorting finds an overlap; always decided when the strides differ
      // by 4× at most (alignment 64: strides 64 to 256), as in the generated workloads.
      #expect(!fast || sorted, "seed \(seed), \(count) tensors")
      if alignment == 64 { #expect(fast == sorted, "seed \(seed), \(count) tensors") }
    }
  }

  /// A module of `producers` input nodes, one in eight of `largeFloats` floats and the rest of 4,
  /// and a variadic `use` type (index 2) for consumers to come; with the producers in a random
  /// order.
  static func randomProducers(
    _ producers: Int, largeFloats: Int, using random: inout SeededGenerator
  ) -> (module: Module, order: [Int32]) {
    var module = Module()
    module.addOpType(
      OpType(name: "small", kind: "input", operands: [], result: TensorType(.f32, [4])))
    module.addOpType(
      OpType(
        name: "large", kind: "input", operands: [], result: TensorType(.f32, [largeFloats])))
    module.addOpType(
      OpType(
        name: "use", kind: "add", operands: [TensorType(.f32, [4])], variadic: true,
        result: TensorType(.f32, [4])))
    module.beginInstance(name: "i")
    for n in 0..<producers {
      let large = Int.random(in: 0..<8, using: &random) == 0
      module.addNode(type: large ? 1 : 0, operands: [Int32](), name: "p\(n)")
    }
    return (module, (0..<Int32(producers)).shuffled(using: &random))
  }

  /// Producers laid out in a random order; each consumer slot takes a run of that order (a
  /// slice), random producers, externals or one repeated tensor; the consumers run in a random
  /// batch order. The in-place check says what `LayoutRequirements.slot` and `isSlice` say.
  @Test func inPlaceSlotCheckAgreesWithLayoutRequirements() async {
    await propertyCheck(count: 300, input: Self.seeds, Gen.int(in: 1...12)) { seed, consumers in
      var random = SeededGenerator(seed: seed)
      let producers = consumers + 4
      let (producersOnly, order) = Self.randomProducers(
        producers, largeFloats: 8, using: &random)
      var module = producersOnly
      let slots = 3
      var operands = [[Int32]](repeating: [], count: consumers)
      for j in 0..<slots {
        let run = Int.random(in: 0...(producers - consumers), using: &random)
        let mode = Int.random(in: 0..<6, using: &random)
        for k in 0..<consumers {
          if j == slots - 1 && Int.random(in: 0..<4, using: &random) == 0 { continue }  // no slot
          switch mode {
          case 0, 1: operands[k].append(order[run + k])
          case 2: operands[k].append(Int32.random(in: 0..<Int32(producers), using: &random))
          case 3: operands[k].append(Bool.random(using: &random) ? Module.external : order[run + k])
          case 4: operands[k].append(Module.external)
          default: operands[k].append(order[run])
          }
        }
      }
      for k in 0..<consumers {
        module.addNode(type: 2, operands: operands[k], name: "c\(k)")
      }
      let requirements = LayoutRequirements(module, alignment: 16)
      var offsets = [Int64](repeating: 0, count: module.nodeCount)
      var end: Int64 = 0
      for n in order {
        offsets[Int(n)] = end
        end += Int64(requirements.stride(ofNode: Int(n)))
      }
      for k in 0..<consumers {
        offsets[producers + k] = end
        end += 16
      }
      let batch = ArraySlice(
        (Int32(producers)..<Int32(producers + consumers)).shuffled(using: &random))
      for j in 0..<slots {
        let expected: Bool
        switch requirements.slot(j, of: batch, in: module) {
        case .free: expected = true
        case .slice(let tensors): expected = requirements.isSlice(tensors, offsets: offsets)
        case .unsliceable: expected = false
        }
        #expect(
          Verifier.isServedInPlace(j, of: batch, in: module, offsets: offsets, requirements)
            == expected, "seed \(seed), slot \(j)")
      }
    }
  }

  /// `LayoutRequirements.classify` (one pass, no allocation; pq-layout's slot table and the
  /// verifier use it) agrees with the rule written out plainly: the same kind, and for a slice the
  /// same tensors appended after what the buffer held, on random slots of runs, random and
  /// repeated producers, externals and missing operands.
  @Test func classifierFollowsTheSlotRule() async {
    await propertyCheck(count: 300, input: Self.seeds, Gen.int(in: 1...12)) { seed, consumers in
      var random = SeededGenerator(seed: seed)
      let producers = consumers + 4
      let (producersOnly, order) = Self.randomProducers(
        producers, largeFloats: 16, using: &random)
      var module = producersOnly
      for k in 0..<consumers {
        var operands: [Int32] = []
        for j in 0..<3 {
          if j == 2 && Int.random(in: 0..<4, using: &random) == 0 { continue }
          switch Int.random(in: 0..<6, using: &random) {
          case 0, 1: operands.append(order[min(k + j, producers - 1)])
          case 2: operands.append(Int32.random(in: 0..<Int32(producers), using: &random))
          case 3: operands.append(Module.external)
          case 4: operands.append(order[0])
          default: operands.append(Int32(k % 2))
          }
        }
        module.addNode(type: 2, operands: operands, name: "c\(k)")
      }
      let requirements = LayoutRequirements(module, alignment: 16)
      let batch = ArraySlice(
        (Int32(producers)..<Int32(producers + consumers)).shuffled(using: &random))
      for j in 0..<3 {
        // The rule, plainly.
        let column = batch.map { n -> Int32? in
          let operands = module.operands(of: Int(n))
          return j < operands.count ? operands[operands.startIndex + j] : nil
        }
        let tensors = column.compactMap { $0 }.filter { $0 != Module.external }
        let expected: LayoutRequirements.SlotKind
        if batch.count == 1 {
          expected = .free
        } else if column.contains(nil) {
          expected = .unsliceable
        } else if tensors.isEmpty || (tensors.count == batch.count && Set(tensors).count == 1) {
          expected = .free
        } else if tensors.count < batch.count || Set(tensors).count < tensors.count
          || Set(tensors.map { requirements.tensorBytes[Int($0)] }).count > 1
        {
          expected = .unsliceable
        } else {
          expected = .slice
        }
        var buffer: [Int32] = [7]
        let kind = requirements.classify(j, of: batch, in: module, appendingTo: &buffer)
        #expect(kind == expected, "seed \(seed), slot \(j)")
        #expect(buffer == [7] + (expected == .slice ? tensors : []), "seed \(seed), slot \(j)")
      }
    }
  }

  /// Generated graphs define operands before their users, so the verifier needs no Kahn pass; a
  /// forward reference turns the fast check off, and a cycle through one is still found.
  @Test func definitionOrderDecidesAcyclicity() throws {
    var options = WorkloadOptions()
    options.instances = 20
    options.seed = 3
    for family in WorkloadFamily.allCases {
      #expect(WorkloadGenerator.generate(family, options: options).operandsPrecedeUsers())
    }
    let forward = try parse(
      twoTypes + "instance s {\n  %j = join(%a, %b)\n  %a = leaf(_)\n  %b = leaf(_)\n}\n")
    #expect(!forward.operandsPrecedeUsers())
    try Verifier.verify(forward, file: "t.dg")
    let cycle = diagnostic(twoTypes + "instance s {\n  %a = join(%b, _)\n  %b = join(%a, _)\n}\n")
    #expect(cycle?.message.contains("the graph has a cycle through") == true)
  }

  /// Verifying against an earlier verified copy skips only what is unchanged: a broken layout,
  /// schedule or graph is still found.
  @Test func verifyingSinceAModuleChecksWhatChanged() throws {
    var options = WorkloadOptions()
    options.instances = 6
    options.seed = 5
    var module = WorkloadGenerator.generate(.treeLSTM, options: options)
    _ = try PassManager(pipeline: "fsm-batch{policy=agenda},pq-layout").run(on: &module, file: "t")
    let verified = module
    try Verifier.verify(module, file: "t", since: verified)

    var overlapping = module
    overlapping.layout!.offsets[0] = overlapping.layout!.offsets[1]
    #expect(throws: Diagnostic.self) {
      try Verifier.verify(overlapping, file: "t", since: verified)
    }

    var reordered = module
    let first = reordered.schedule!.batch(0).startIndex
    reordered.schedule!.nodes.swapAt(first, reordered.schedule!.nodes.count - 1)
    #expect(throws: Diagnostic.self) { try Verifier.verify(reordered, file: "t", since: verified) }

    var cyclic = module
    let user = cyclic.operands.firstIndex { $0 >= 0 }!
    let owner = (0..<cyclic.nodeCount).first { Int(cyclic.operandStart[$0 + 1]) > user }!
    let operand = Int(cyclic.operands[user])
    cyclic.operands[Int(cyclic.operandStart[operand])] = Int32(owner)
    #expect(!cyclic.hasSameGraph(as: verified))
    #expect(throws: Diagnostic.self) { try Verifier.verify(cyclic, file: "t", since: verified) }
  }

  /// The byte-keyed name table finds what was inserted, nothing else, across growth and reuse.
  @Test func sourceNameTableFindsInsertedNames() {
    let words = (0..<500).map { "%x\($0) " }
    let bytes = Array(words.joined().utf8)
    var ranges: [Range<Int>] = []
    var start = 0
    for word in words {
      ranges.append((start + 1)..<(start + word.utf8.count - 1))
      start += word.utf8.count
    }
    var table = SourceNameTable()
    for round in 0..<2 {
      for (k, range) in ranges.enumerated() where k % 2 == round {
        table.insert(range, value: Int32(k), in: bytes)
      }
      for (k, range) in ranges.enumerated() {
        #expect(table.value(of: range, in: bytes) == (k % 2 == round ? Int32(k) : nil))
      }
      table.removeAll()
      #expect(table.isEmpty)
      #expect(table.value(of: ranges[round], in: bytes) == nil)
    }
  }

  /// Offline graphs (every instance arrives at 0): continuous batching without the simulated
  /// clock gives the schedule, refills and passes of the run that follows it.
  @Test func continuousBatchingWithoutArrivalsSkipsTheClock() async throws {
    let families: [WorkloadFamily] = [.treeLSTM, .treeGRU, .mvRNN, .latticeLSTM, .latticeGRU]
    await propertyCheck(
      count: 40, input: Gen.int(in: 0...(families.count - 1)), Self.seeds, Gen.int(in: 1...6)
    ) { family, seed, slots in
      var options = WorkloadOptions()
      options.instances = 12
      options.seed = seed
      options.hidden = 8
      var module = WorkloadGenerator.generate(families[family], options: options)
      _ = try PassManager(pipeline: "fsm-batch{policy=agenda},pq-layout").run(
        on: &module, file: "t")
      let batcher = ContinuousBatcher(preset: .defaultTarget, slots: slots, lanes: 4)
      let gathers = module.layout!.gathers
      let fast = batcher.run(module, schedule: module.schedule!, gathers: gathers)
      let clocked = batcher.run(
        module, schedule: module.schedule!, gathers: gathers, followClock: true)
      #expect(!fast.followedClock)
      #expect(fast.schedule == clocked.schedule)
      #expect(fast.refills == clocked.refills && fast.passes == clocked.passes)
    }
  }

  /// pq-layout builds its slot table and first PQ-tree, and later runs its two chains of
  /// alignments, on both cores for large graphs: doing so on small ones (the threshold at 0) gives
  /// the layout, schedule and statistics of one core.
  @Test func layoutOnBothCoresEqualsOneCore() async throws {
    let families: [WorkloadFamily] = [.treeLSTM, .bilstmTagger, .latticeLSTM, .seq2seq, .mvRNN]
    await propertyCheck(
      count: 20, input: Gen.int(in: 0...(families.count - 1)), Self.seeds
    ) { family, seed in
      var options = WorkloadOptions()
      options.instances = 10
      options.seed = seed
      options.hidden = 8
      var module = WorkloadGenerator.generate(families[family], options: options)
      _ = try PassManager(pipeline: "fsm-batch{policy=typewise}").run(on: &module, file: "t")
      var results: [(Module, PassStatistics)] = []
      for threshold in [0, Int.max] {
        var pass = PQLayoutPass()
        pass.bothCoresFrom = threshold
        var laidOut = module
        var statistics = PassStatistics()
        try pass.run(on: &laidOut, statistics: &statistics)
        results.append((laidOut, statistics))
      }
      #expect(results[0].0.schedule == results[1].0.schedule)
      #expect(results[0].0.layout == results[1].0.layout)
      #expect(results[0].1 == results[1].1)
    }
  }
}
