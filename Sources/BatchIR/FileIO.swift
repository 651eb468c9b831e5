import Foundation

/// The bytes of the file at `path`, or nil when it cannot be read. `-` reads standard input.
public func readFileBytes(_ path: String) -> [UInt8]? {
  if path == "-" { return [UInt8](FileHandle.standardInput.readDataToEndOfFile()) }
  guard let data = FileManager.default.contents(atPath: path) else { return nil }
  return [UInt8](data)
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a failure never leaves a
/// half-written file behind. `-` writes standard output.
public func writeFileAtomically(_ path: String, _ bytes: [UInt8]) throws(Diagnostic) {
  if path == "-" {
    FileHandle.standardOutput.write(Data(bytes))
    return
  }
  do {
    // A rename would replace a symbolic link or a device (/dev/stdout) with a plain file, so
    // those are written through; regular files and new paths get a temporary file and a rename.
    let type =
      (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType
    if let type, type != .typeRegular {
      guard let handle = FileHandle(forWritingAtPath: path) else {
        throw CocoaError(.fileWriteNoPermission)
      }
      defer { try? handle.close() }
      try? handle.truncate(atOffset: 0)
      try handle.write(contentsOf: Data(bytes))
    } else {
      try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
  } catch {
    throw Diagnostic(
      file: path, location: .unknown,
      message: "cannot write the file: \(error.localizedDescription)")
  }
}

/// Writes `text` to `path` atomically.
public func writeFileAtomically(_ path: String, _ text: String) throws(Diagnostic) {
  try writeFileAtomically(path, Array(text.utf8))
}
