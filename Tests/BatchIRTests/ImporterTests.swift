import BatchIR
import Foundation
import TestSupport
import Testing
import Workloads

@Suite struct ImporterTests {
  @Test func importsADump() throws {
    let module = try EDBatchImporter.importGraph(
      Array("4\n0 0\n3 0\n3 1 1\n5 2 0 2\n".utf8), file: "g.txt", tensorBytes: 16)
    try Verifier.verify(module, file: "g.txt")
    #expect(module.opTypes.map(\.name) == ["t0", "t3", "t5"])
    #expect(module.opTypes[0].unbatched && !module.opTypes[1].unbatched)
    #expect(module.opTypes[1].result == TensorType(.u8, [16]))
    #expect(module.nodeType == [0, 1, 1, 2])
    #expect(Array(module.operands(of: 3)) == [0, 2])
    #expect(module.nodeName == ["0", "1", "2", "3"])
  }

  func importError(_ text: String) -> Diagnostic? {
    do {
      _ = try EDBatchImporter.importGraph(Array(text.utf8), file: "g.txt")
      return nil
    } catch {
      return error
    }
  }

  @Test func reportsLocatedErrors() {
    #expect(importError("")?.message.contains("empty file") == true)
    #expect(importError("2\n0 0\n")?.message == "the file ends after 1 of 2 nodes")
    let forward = importError("2\n1 1 1\n1 0\n")
    #expect(forward?.location == SourceLocation(line: 2, column: 5))
    #expect(forward?.message == "node 0 uses node 1, which is not defined before it")
    #expect(importError("1\n1 2 0\n")?.location.line == 2)
    #expect(importError("1\n1 0 7\n")?.message.contains("expected the end of the line") == true)
    #expect(importError("1\n1 x\n")?.message.contains("found 'x'") == true)
    #expect(importError("1\n1 0\n1 0\n")?.message.contains("more lines") == true)
    #expect(importError("99999999999999999999\n")?.message.contains("too large") == true)
  }

  @Test(arguments: [
    "edbatch/treenn-b64/G0.txt", "edbatch/lattice-b64/G1.txt", "edbatch/seq2seq-b64/G2.txt",
    "edbatch/bilstm-b64/G3.txt", "dynet-treelstm-t64-l16.txt",
  ])
  func importsCorpusFiles(_ path: String) throws {
    let bytes = [UInt8](try Data(contentsOf: corpusFile(path)))
    let module = try EDBatchImporter.importGraph(bytes, file: path)
    try Verifier.verify(module, file: path)
    let declared = Int(String(decoding: bytes.prefix { $0 != 10 }, as: UTF8.self)) ?? -1
    #expect(module.nodeCount == declared)
    let printed = DGPrinter.print(module)
    #expect(DGPrinter.print(try DGParser.parse(printed, file: path)) == printed)
  }
}
