import ArgumentParser
import BatchIR
import Foundation

// Exit status: 0 success, 1 bad input (a located diagnostic), 2 usage error.
do {
  var command = try Optimizer.parseAsRoot()
  try command.run()
} catch let diagnostic as Diagnostic {
  printError(diagnostic.description)
  exit(1)
} catch {
  let code = Optimizer.exitCode(for: error)
  if code == .success {
    print(Optimizer.fullMessage(for: error))
    exit(0)
  }
  printError(Optimizer.fullMessage(for: error))
  exit(code == .failure ? 1 : 2)
}
