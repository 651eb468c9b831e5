import BatchIR
import BatchPasses
import Foundation

/// Reads, parses and verifies a `.dg` file; diagnostics carry the source line.
func loadModule(_ path: String) throws(Diagnostic) -> Module {
  var times = LoadTimes()
  return try loadModule(path, times: &times)
}

/// Wall time of reading a module: the file read and parsed, then verified.
struct LoadTimes {
  var parseSeconds = 0.0
  var verifySeconds = 0.0
}

/// `loadModule(_:)`, timing its two steps into `times`.
func loadModule(_ path: String, times: inout LoadTimes) throws(Diagnostic) -> Module {
  let clock = ContinuousClock()
  let start = clock.now
  guard let bytes = readFileBytes(path) else {
    throw Diagnostic(file: path, location: .unknown, message: "cannot read the file")
  }
  let module = try DGParser.parse(bytes, file: path)
  let parsed = clock.now
  times.parseSeconds = (parsed - start).inSeconds
  do {
    try Verifier.verify(module, file: path)
  } catch {
    throw error.withSource(bytes)
  }
  times.verifySeconds = (clock.now - parsed).inSeconds
  return module
}

/// Writes to standard error.
func printError(_ text: String) {
  FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// A JSON number: integers without a fraction, others in shortest round-trip form.
func jsonNumber(_ value: Double) -> String {
  guard value.isFinite else { return "null" }
  if value == value.rounded(), abs(value) < 9e15 { return String(Int(value)) }
  return "\(value)"
}

func jsonString(_ text: String) -> String {
  var out = "\""
  for scalar in text.unicodeScalars {
    switch scalar {
    case "\"": out += "\\\""
    case "\\": out += "\\\\"
    case "\n": out += "\\n"
    case "\t": out += "\\t"
    default:
      if scalar.value < 0x20 {
        out += String(format: "\\u%04x", scalar.value)
      } else {
        out.unicodeScalars.append(scalar)
      }
    }
  }
  return out + "\""
}

/// The statistics of the input module: nodes, instances, op types.
func inputStatistics(_ module: Module) -> [(name: String, value: Double)] {
  [
    ("nodes", Double(module.nodeCount)), ("instances", Double(module.instances.count)),
    ("op_types", Double(module.opTypes.count)),
  ]
}

/// `{"input": {...}, "<pass>": {...}, …}` with keys in pipeline order; a pass that runs twice
/// gets `#2`, `#3` after its name. The input section names the target and where it came from,
/// and the pipeline as run;
/// each pass section holds its labels (such as `target`), its statistics, and the parts it
/// changed, invalidated and preserved. `extra` sections (such as "simulate") come last.
func statisticsJSON(
  input module: Module, target: (name: String, source: String), pipeline: String,
  records: [PassManager.Record],
  extra: [(String, [(String, Double)])] = []
) -> String {
  func number(_ entries: [(String, Double)]) -> [(String, String)] {
    entries.map { ($0.0, jsonNumber($0.1)) }
  }
  func parts(_ list: [ModulePart]) -> String {
    jsonString(list.map(\.rawValue).joined(separator: ","))
  }
  var sections: [(String, [(String, String)])] = [
    (
      "input",
      [
        ("target", jsonString(target.name)), ("target_source", jsonString(target.source)),
        ("pipeline", jsonString(pipeline)),
      ]
        + number(inputStatistics(module).map { ($0.name, $0.value) })
    )
  ]
  var seen: [String: Int] = [:]
  for record in records {
    seen[record.name, default: 0] += 1
    let key = seen[record.name] == 1 ? record.name : "\(record.name)#\(seen[record.name] ?? 0)"
    sections.append(
      (
        key,
        record.statistics.labels.map { ($0.name, jsonString($0.value)) }
          + number(record.statistics.entries.map { ($0.name, $0.value) })
          + [
            ("changed", parts(record.changed)), ("invalidated", parts(record.invalidated)),
            ("preserved", parts(record.preserved)),
          ]
      ))
  }
  sections += extra.map { ($0.0, number($0.1)) }
  var out = "{\n"
  for (i, section) in sections.enumerated() {
    out += "  \(jsonString(section.0)): {"
    out += section.1.map { "\(jsonString($0.0)): \($0.1)" }.joined(separator: ", ")
    out += "}\(i + 1 < sections.count ? "," : "")\n"
  }
  return out + "}\n"
}
