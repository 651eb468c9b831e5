// libFuzzer entry points, built by scripts/fuzz.sh (not part of the package build).
// With -D FUZZ_EDBATCH the input goes through the ED-Batch importer and the verifier; otherwise
// through the .dg parser, the verifier and, when it verifies, the printer and the parser again
// (a print -> parse round trip must succeed and be byte-identical).
import BatchIR
import Workloads

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  #if FUZZ_EDBATCH
    if let module = try? EDBatchImporter.importGraph(bytes, file: "fuzz.txt", tensorBytes: 256) {
      do {
        try Verifier.verify(module, file: "fuzz.txt")
      } catch {
        fatalError("an imported graph must verify: \(error)")
      }
    }
  #else
    guard let module = try? DGParser.parse(bytes, file: "fuzz.dg"),
      (try? Verifier.verify(module, file: "fuzz.dg")) != nil
    else { return 0 }
    let printed = DGPrinter.print(module)
    guard let reparsed = try? DGParser.parse(printed, file: "printed.dg") else {
      fatalError("printed module does not parse:\n\(String(decoding: printed, as: UTF8.self))")
    }
    if DGPrinter.print(reparsed) != printed { fatalError("print -> parse -> print differs") }
  #endif
  return 0
}
