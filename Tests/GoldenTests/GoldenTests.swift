import BatchIR
import BatchPasses
import Foundation
import TestSupport
import Testing

/// Pass-level golden cases, in the style of LLVM's test/Transforms: every `passes/<pass>/NAME.dg`
/// starts with a `# PIPELINE: <pipeline>` line; running it must print exactly
/// `passes/<pass>/NAME.expected.dg`. Regenerate one with
/// `swift run optimizer passes/P/NAME.dg --passes '<pipeline>' -q --emit-ir passes/P/NAME.expected.dg`.
struct GoldenCase: CustomTestStringConvertible, Sendable {
  var input: URL
  var testDescription: String {
    input.deletingLastPathComponent().lastPathComponent + "/" + input.lastPathComponent
  }

  static func all() -> [GoldenCase] {
    let root = repositoryRoot.appendingPathComponent("passes")
    guard let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)
    else { return [] }
    return enumerator.compactMap { $0 as? URL }
      .filter { $0.pathExtension == "dg" && !$0.lastPathComponent.hasSuffix(".expected.dg") }
      .sorted { $0.path < $1.path }
      .map(GoldenCase.init)
  }
}

@Suite struct GoldenTests {
  @Test func thereAreGoldenCases() {
    #expect(GoldenCase.all().count >= 5)
  }

  @Test(arguments: GoldenCase.all())
  func goldenCase(_ golden: GoldenCase) throws {
    let bytes = [UInt8](try Data(contentsOf: golden.input))
    let text = String(decoding: bytes, as: UTF8.self)
    guard let first = text.split(separator: "\n").first, first.hasPrefix("# PIPELINE:") else {
      Issue.record("\(golden.input.lastPathComponent) must start with '# PIPELINE: <pipeline>'")
      return
    }
    let pipeline = first.dropFirst("# PIPELINE:".count).trimmingCharacters(in: .whitespaces)
    var module = try DGParser.parse(bytes, file: golden.input.path)
    try Verifier.verify(module, file: golden.input.path)
    var manager = try PassManager(pipeline: pipeline)
    manager.verifyEach = true
    try manager.run(on: &module, file: golden.input.path)
    let expectedURL = golden.input.deletingPathExtension().appendingPathExtension("expected.dg")
    let expected = try String(contentsOf: expectedURL, encoding: .utf8)
    let actual = DGPrinter.printString(module)
    #expect(
      actual == expected,
      "\(golden.testDescription): output differs from \(expectedURL.lastPathComponent)")
  }
}
