import BatchIR
import Foundation
import GraphvizDump
import TestSupport
import Testing

/// The DOT text of one small case per view, against the file kept beside it, so a change to a
/// view shows in review. `Golden/NAME.dg` starts with `# VIEW: …`; `Golden/NAME.dot` is the
/// expected DOT. `GOLDEN_UPDATE=1 swift test --filter GoldenDotTests` rewrites the expectations.
@Suite struct GoldenDotTests {
  static let folder = repositoryRoot.appendingPathComponent("Tests/GraphvizDumpTests/Golden")

  @Test(arguments: ["input", "schedule", "layout", "packing", "slots"])
  func viewMatchesItsGoldenDOT(_ name: String) throws {
    let source = try String(
      contentsOf: Self.folder.appendingPathComponent(name + ".dg"), encoding: .utf8)
    let viewName = try #require(
      source.split(separator: "\n").first?.split(separator: " ").dropFirst(2).first
    ).trimmingCharacters(in: CharacterSet(charactersIn: "."))
    let view = try #require(DumpView(rawValue: viewName))
    let module = try parse(source, file: name + ".dg")
    try Verifier.verify(module, file: name + ".dg")
    let graph = ModuleView.graph(module, title: name, view: view)
    let dot = String(decoding: try GraphvizRenderer.dot(graph), as: UTF8.self)
    let expectedURL = Self.folder.appendingPathComponent(name + ".dot")
    if ProcessInfo.processInfo.environment["GOLDEN_UPDATE"] == "1" {
      try dot.write(to: expectedURL, atomically: true, encoding: .utf8)
    }
    let expected = try String(contentsOf: expectedURL, encoding: .utf8)
    #expect(dot == expected, "\(name).dot differs; see the DOT above, or GOLDEN_UPDATE=1")
  }
}
