import Foundation
import TestSupport
import Testing
import Workloads

@testable import BatchIR

/// Large files are read with their instances in two halves side by side
/// (`DGParser.parseInHalves`). Whatever the split, the module must be the one a single pass
/// reads, and any error must send the file back to the single pass, which locates it.
@Suite struct ParserHalvesTests {
  /// Every byte offset at which a line starts with `instance`.
  func instanceLines(_ bytes: [UInt8]) -> [Int] {
    var lines: [Int] = []
    var near = 0
    while let line = DGParser.instanceLine(in: bytes, atOrAfter: near) {
      lines.append(line)
      near = line + 1
    }
    return lines
  }

  func expectSame(_ a: Module, _ b: Module, _ comment: Comment) {
    #expect(DGPrinter.print(a) == DGPrinter.print(b), comment)
    #expect(a.instances == b.instances, comment)
    #expect(a.nodeLocation == b.nodeLocation, comment)
    #expect(a.nodeName == b.nodeName, comment)
  }

  /// Generated graphs of every family and seed, some followed by a schedule section: split at
  /// every instance line, the halves read exactly what one pass reads, locations included.
  @Test(arguments: WorkloadFamily.allCases)
  func halvesReadWhatOnePassReads(_ family: WorkloadFamily) throws {
    for seed in 1...3 {
      var options = WorkloadOptions()
      options.instances = 6
      options.seed = UInt64(seed)
      let module = WorkloadGenerator.generate(family, options: options)
      var text = "# generated\n" + DGPrinter.printString(module)
      if seed == 2 {
        text += "schedule policy=test {\n  batch \(module.opTypes[0].name) 0\n}\n"
      }
      let bytes = Array(text.utf8)
      let whole = try DGParser.parseInOnePass(bytes, file: "g.dg")
      let splits = instanceLines(bytes)
      #expect(splits.count == 6)
      for split in splits.dropFirst() {
        let halves = try #require(
          DGParser.parseInHalves(bytes, file: "g.dg", splittingNear: split),
          "\(family) seed \(seed) split \(split)")
        expectSame(halves, whole, "\(family) seed \(seed) split \(split)")
      }
      // A split before the first instance line moves to it: the first half is then empty.
      let fromStart = try #require(DGParser.parseInHalves(bytes, file: "g.dg", splittingNear: 0))
      expectSame(fromStart, whole, "\(family) seed \(seed) from the start")
    }
  }

  /// Bad files, split at every instance line: the halves give up, and `parse` reports the error
  /// one pass reports. Errors sit in either half, across the halves (a repeated instance name),
  /// and in a split that is not between items (an `instance` line inside an unclosed instance).
  @Test func halvesGiveUpOnEveryError() {
    let instance = "instance i%d {\n  %%a = leaf(_)\n  %%b = join(%%a, %%a)\n}\n"
    let good = (0..<4).map { String(format: instance, $0) }
    let bad = [
      good[0] + good[1] + "instance i2 {\n  %a = lstm(_)\n}\n" + good[3],
      good[0] + "instance i1 {\n  %a = join(%x, _)\n}\n" + good[2] + good[3],
      good[0] + good[1] + good[2] + good[1],
      good[0] + "instance i1 {\n  %a = leaf(_)\n" + good[2] + good[3],
      good[0] + good[1] + good[2] + good[3] + "schedule {\n  batch leaf 99\n}\n",
      good[0] + good[1] + "schedule {\n}\n" + good[2],
      good[0] + good[1] + good[2] + good[3] + "instance i4 {\n  %a = leaf(\u{1})\n}\n",
    ]
    for (index, body) in bad.enumerated() {
      let bytes = Array((twoTypes + body).utf8)
      let expected = diagnosticOfOnePass(bytes)
      #expect(expected != nil, "file \(index)")
      for split in instanceLines(bytes) {
        #expect(
          DGParser.parseInHalves(bytes, file: "t.dg", splittingNear: split) == nil,
          "file \(index) split \(split)")
      }
      #expect(diagnosticOfParse(bytes) == expected, "file \(index)")
    }
  }

  func diagnosticOfOnePass(_ bytes: [UInt8]) -> String? {
    do {
      _ = try DGParser.parseInOnePass(bytes, file: "t.dg")
      return nil
    } catch { return error.headline }
  }

  func diagnosticOfParse(_ bytes: [UInt8]) -> String? {
    do {
      _ = try DGParser.parse(bytes, file: "t.dg")
      return nil
    } catch { return error.headline }
  }

  /// A file past the size where `parse` reads halves (a generated Tree-LSTM of about 1.2 MB)
  /// reads to the same module.
  @Test func largeFileReadsTheSame() throws {
    var options = WorkloadOptions()
    options.instances = 800
    options.seed = 3
    let bytes = DGPrinter.print(WorkloadGenerator.generate(.treeLSTM, options: options))
    #expect(bytes.count >= DGParser.halvesThreshold)
    expectSame(
      try DGParser.parse(bytes, file: "big.dg"), try DGParser.parseInOnePass(bytes, file: "big.dg"),
      "large file")
  }
}
