// Helpers shared by the test targets: where the repository and the corpus are, and parsing.
import BatchIR
import Foundation

/// The repository root, found from this file's path.
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent()
  .deletingLastPathComponent()

/// The public corpus beside the repository (`../shared/corpus`).
public let corpusRoot = repositoryRoot.deletingLastPathComponent().appendingPathComponent(
  "shared/corpus")

public func corpusFile(_ relative: String) -> URL { corpusRoot.appendingPathComponent(relative) }

/// Parses text that is expected to be valid.
public func parse(_ text: String, file: String = "test.dg") throws -> Module {
  try DGParser.parse(text, file: file)
}

/// The diagnostic of parsing and then verifying `text`, if any.
public func diagnostic(_ text: String) -> Diagnostic? {
  do {
    let module = try DGParser.parse(text, file: "t.dg")
    try Verifier.verify(module, file: "t.dg")
    return nil
  } catch {
    return error
  }
}

public let twoTypes = """
  dg 1
  type leaf = linear(f32[4]) -> f32[4] weights(W: f32[4x4])
  type join = add(f32[4], f32[4]) -> f32[4]


  """
