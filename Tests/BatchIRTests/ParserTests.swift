import BatchIR
import Foundation
import TestSupport
import Testing
import Workloads

@Suite struct ParserTests {
  @Test func parsesTypesInstancesAndSchedule() throws {
    let module = try parse(
      twoTypes + """
        instance s0 arrival=0.5 {
          %a = leaf(_)
          %b = leaf(_)
          %c = join(%a, %b)   # a comment
        }
        schedule policy=agenda {
          batch leaf 0 1
          batch join 2
        }
        """)
    #expect(module.opTypes.map(\.name) == ["leaf", "join"])
    #expect(module.opTypes[0].weights == [Weight(id: "W", type: TensorType(.f32, [4, 4]))])
    #expect(module.instances.count == 1)
    #expect(module.instances[0].arrival == 0.5)
    #expect(module.nodeCount == 3)
    #expect(Array(module.operands(of: 2)) == [0, 1])
    #expect(Array(module.operands(of: 0)) == [Module.external])
    #expect(module.schedule?.batchCount == 2)
    #expect(module.schedule.map { Array($0.batch(0)) } == [0, 1])
  }

  @Test func forwardReferencesResolveInsideTheInstance() throws {
    let module = try parse(
      twoTypes + "instance s {\n  %c = join(%a, %b)\n  %a = leaf(_)\n  %b = leaf(_)\n}\n")
    #expect(Array(module.operands(of: 0)) == [1, 2])
  }

  @Test func compactRecurrenceExpandsTimeMajor() throws {
    let module = try parse(
      """
      dg 1
      type l1 = lstm(f32[8], f32[16]) -> f32[16] recurrent
      type l2 = lstm(f32[16], f32[16]) -> f32[16] recurrent
      instance r arrival=1 {
        rnn(l1, l2) steps=3
      }
      """)
    #expect(module.nodeCount == 6)
    // node (t, l) = t * 2 + l; operands (below, before)
    #expect(Array(module.operands(of: 0)) == [-1, -1])
    #expect(Array(module.operands(of: 1)) == [0, -1])
    #expect(Array(module.operands(of: 2)) == [-1, 0])
    #expect(Array(module.operands(of: 5)) == [4, 3])
    #expect(module.nodeType == [0, 1, 0, 1, 0, 1])
    try Verifier.verify(module, file: "t")
    #expect(DGPrinter.printString(module).contains("rnn(l1, l2) steps=3"))
  }

  @Test(arguments: WorkloadFamily.allCases)
  func everyGeneratorRoundTrips(_ family: WorkloadFamily) throws {
    var options = WorkloadOptions()
    options.instances = 5
    options.seed = 42
    let module = WorkloadGenerator.generate(family, options: options)
    try Verifier.verify(module, file: family.rawValue)
    let printed = DGPrinter.print(module)
    let reparsed = try DGParser.parse(printed, file: family.rawValue)
    try Verifier.verify(reparsed, file: family.rawValue)
    #expect(DGPrinter.print(reparsed) == printed)
    #expect(reparsed.nodeType == module.nodeType)
    #expect(reparsed.operands == module.operands)
  }

  @Test func generatorsAreDeterministicInTheirSeed() {
    var options = WorkloadOptions()
    options.seed = 9
    for family in WorkloadFamily.allCases {
      let a = DGPrinter.print(WorkloadGenerator.generate(family, options: options))
      let b = DGPrinter.print(WorkloadGenerator.generate(family, options: options))
      #expect(a == b, "\(family)")
    }
    options.seed = 10
    let c = WorkloadGenerator.generate(.treeLSTM, options: options)
    options.seed = 9
    #expect(
      DGPrinter.print(c) != DGPrinter.print(WorkloadGenerator.generate(.treeLSTM, options: options))
    )
  }

  @Test func everySampleRoundTrips() throws {
    let samples = repositoryRoot.appendingPathComponent("samples")
    let files = try FileManager.default.contentsOfDirectory(atPath: samples.path).filter {
      $0.hasSuffix(".dg")
    }.sorted()
    #expect(files.count >= 9)
    for file in files {
      let bytes = [UInt8](try Data(contentsOf: samples.appendingPathComponent(file)))
      let module = try DGParser.parse(bytes, file: file)
      try Verifier.verify(module, file: file)
      let printed = DGPrinter.print(module)
      #expect(DGPrinter.print(try DGParser.parse(printed, file: file)) == printed, "\(file)")
    }
  }

  @Test func servingTraceHasPoissonArrivalsInOrder() {
    var options = WorkloadOptions()
    options.instances = 2000
    options.rate = 500
    let module = WorkloadGenerator.generate(.rnnServing, options: options)
    let arrivals = module.instances.compactMap(\.arrival)
    #expect(arrivals.count == 2000)
    #expect(zip(arrivals, arrivals.dropFirst()).allSatisfy { $0 <= $1 })
    // Mean gap 1/rate = 2 ms, within 10%.
    let meanGap = (arrivals.last! - arrivals.first!) / Double(arrivals.count - 1)
    #expect(abs(meanGap - 0.002) < 0.0002)
  }

  /// The target line: a preset name or a quoted preset file, printed back as it was read.
  @Test func targetLineRoundTrips() throws {
    for (text, name) in [
      ("dg 1\ntarget tpu-v1\n", "tpu-v1"),
      ("dg 1\ntarget \"samples/accelerators/my chip.json\"\n", "samples/accelerators/my chip.json"),
    ] {
      let module = try parse(text + "type leaf = linear(f32[4]) -> f32[4]\n")
      #expect(module.target?.name == name)
      #expect(module.target?.location == SourceLocation(line: 2, column: 8))
      let printed = DGPrinter.printString(module)
      #expect(printed.hasPrefix(text))
      #expect(DGPrinter.printString(try parse(printed)) == printed)
    }
    var untargeted = try parse("dg 1\n")
    #expect(untargeted.target == nil)
    #expect(DGPrinter.printString(untargeted) == "dg 1\n")
    untargeted.target = TargetSpec("epur")
    #expect(DGPrinter.printString(untargeted) == "dg 1\ntarget epur\n")
  }

  @Test func targetLineErrors() {
    #expect(
      diagnostic("dg 1\ntarget epur\ntarget tpu-v1\n")?.headline
        == "t.dg:3:1: error: duplicate target line")
    #expect(
      diagnostic("dg 1\ntype leaf = linear(f32[4]) -> f32[4]\ntarget epur\n")?.headline
        == "t.dg:3:1: error: the target line must come before the op types")
    #expect(
      diagnostic("dg 1\ntarget \"open\n")?.headline
        == "t.dg:2:8: error: unterminated string: expected '\"' before the end of the line")
    #expect(
      diagnostic("dg 1\ntarget 42\n")?.headline
        == "t.dg:2:8: error: expected a preset name or a quoted preset file after 'target', found '42'"
    )
  }
}
