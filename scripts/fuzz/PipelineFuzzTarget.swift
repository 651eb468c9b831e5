// libFuzzer entry point for pipeline text, built by scripts/fuzz.sh (not part of the package
// build). The input is pipeline text (`fsm-batch{policy=agenda},pq-layout`): it goes through the
// pipeline parser and the pass registry's option checks. Either the passes are built, or the
// error is a diagnostic located inside the text; nothing may trap or hang.
import BatchIR
import BatchPasses

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
  do {
    let manager = try PassManager(pipeline: text)
    if manager.passes.isEmpty, text.contains(where: { !$0.isWhitespace }) {
      fatalError("non-blank pipeline text built no passes: \(text.debugDescription)")
    }
  } catch {
    let line = error.location.line
    let column = error.location.column
    if line != 1 || column < 1 || column > text.utf8.count + 1 {
      fatalError("diagnostic outside the text (\(line):\(column)): \(error.headline)")
    }
  }
  return 0
}
