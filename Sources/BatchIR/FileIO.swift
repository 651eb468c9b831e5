import Foundation

/// The bytes of the file at `path`, or nil when it cannot be read. `-` reads standard input.
public func readFileBytes(_ path: String) -> [UInt8]? {
  if path == "-" { return [UInt8](FileHandle.standardInput.readDataToEndOfFile()) }
  if let bytes = readRegularFile(path) { return bytes }
  guard let data = FileManager.default.contents(atPath: path) else { return nil }
  return [UInt8](data)
}

/// A regular file's bytes read straight into the array (one copy, not two through `Data`); nil
/// for anything else (a missing file, a device, a pipe), which `readFileBytes` reads as before.
private func readRegularFile(_ path: String) -> [UInt8]? {
  let descriptor = open(path, O_RDONLY)
  guard descriptor >= 0 else { return nil }
  defer { close(descriptor) }
  var status = stat()
  guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return nil }
  let size = Int(status.st_size)
  var complete = false
  let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
    count = 0
    while count < size {
      let got = read(descriptor, buffer.baseAddress! + count, size - count)
      if got <= 0 { break }
      count += got
    }
    complete = count == size
  }
  return complete ? bytes : nil
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
