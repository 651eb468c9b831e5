import BatchIR

extension ModuleView {
  /// Instances drawn side by side (one column each) in the batch table; with more, one column
  /// lists every node with its instance.
  static let instanceColumnLimit = 4
  /// Node names per line of a batch table cell, and lines per cell.
  static let namesPerLine = 8
  static let linesPerCell = 3

  /// The view after `fsm-batch`: one table row per batch in execution order, coloured by op type,
  /// with its size, the nodes it runs (per instance when there are few instances), and the
  /// batches whose results it reads. Dataflow is the input view's job, so no edges are drawn.
  static func scheduleTable(_ module: Module, _ schedule: Schedule) -> DotGraph {
    var graph = base("schedule")
    let instanceOf = module.nodeInstances()
    let batchOf = batchIndex(module, schedule)
    let shown = min(schedule.batchCount, collapsedItemLimit)
    let perInstance = module.instances.count <= instanceColumnLimit
    let nodeColumns = perInstance ? max(1, module.instances.count) : 1
    var title =
      "schedule (\(schedule.policy)): \(schedule.batchCount) batches of \(schedule.nodes.count) nodes, in execution order"
    if shown < schedule.batchCount { title += "; first \(shown) batches" }
    var rows =
      "<TR><TD COLSPAN=\"\(3 + nodeColumns)\"><B>\(htmlEscaped(title))</B></TD></TR><TR><TD>batch</TD><TD>op type</TD>"
    if perInstance {
      for instance in module.instances { rows += "<TD>\(htmlEscaped(instance.name))</TD>" }
      if module.instances.isEmpty { rows += "<TD>nodes</TD>" }
    } else {
      rows += "<TD>nodes (instance: name)</TD>"
    }
    rows += "<TD>reads results of</TD></TR>"
    for b in 0..<shown {
      let type = Int(schedule.batchType[b])
      let batch = schedule.batch(b)
      let sources = Set(
        batch.flatMap { module.operands(of: Int($0)) }.filter { $0 != Module.external }.map {
          Int(batchOf[Int($0)])
        }.filter { $0 >= 0 }
      ).sorted()
      let instances = Set(batch.map { instanceOf[Int($0)] }).count
      let batchTip =
        "batch \(b): \(batch.count) × \(module.opTypes[type].name) from \(instances) instance\(instances == 1 ? "" : "s")\n\(typeDescription(module.opTypes[type]))\nreads results of: \(sources.isEmpty ? "inputs only" : sources.map { "b\($0)" }.joined(separator: ", "))"
      rows +=
        "<TR><TD ALIGN=\"RIGHT\" \(tip(batchTip))><B>b\(b)</B></TD><TD BGCOLOR=\"\(color(ofType: type))\" \(tip(batchTip))>\(htmlEscaped(module.opTypes[type].name)) x\(batch.count)</TD>"
      if perInstance {
        for (i, instance) in module.instances.enumerated() {
          let names = batch.filter { Int(instanceOf[Int($0)]) == i }.map {
            nodeName(module, Int($0), instance: instance)
          }
          rows += nameCell(names, tooltip: "batch \(b) in \(instance.name)")
        }
        if module.instances.isEmpty { rows += "<TD></TD>" }
      } else {
        let names = batch.map { n -> String in
          let instance = module.instances[Int(instanceOf[Int(n)])]
          return "\(instance.name): \(nodeName(module, Int(n), instance: instance))"
        }
        rows += nameCell(names, tooltip: "batch \(b)")
      }
      var reads =
        sources.isEmpty ? "inputs" : sources.prefix(12).map { "b\($0)" }.joined(separator: " ")
      if sources.count > 12 { reads += " … +\(sources.count - 12)" }
      rows += "<TD ALIGN=\"LEFT\"><FONT POINT-SIZE=\"9\">\(htmlEscaped(reads))</FONT></TD></TR>"
    }
    graph.nodes.append(table("schedule", rows))
    return graph
  }

  /// A cell listing `names`, `namesPerLine` a line, at most `linesPerCell` lines (then `+N`);
  /// the hover text lists them all (up to a hundred).
  private static func nameCell(_ names: [String], tooltip: String) -> String {
    guard !names.isEmpty else { return "<TD></TD>" }
    let limit = namesPerLine * linesPerCell
    var lines: [String] = []
    var start = 0
    while start < min(names.count, limit) {
      let end = min(start + namesPerLine, names.count, limit)
      lines.append(names[start..<end].joined(separator: " "))
      start = end
    }
    if names.count > limit { lines[lines.count - 1] += " … +\(names.count - limit)" }
    var all = names.prefix(100).joined(separator: ", ")
    if names.count > 100 { all += ", … (\(names.count) in all)" }
    return
      "<TD ALIGN=\"LEFT\" BALIGN=\"LEFT\" \(tip("\(tooltip): \(names.count) node\(names.count == 1 ? "" : "s")\n\(all)"))><FONT POINT-SIZE=\"9\">\(lines.map(htmlEscaped).joined(separator: "<BR/>"))</FONT></TD>"
  }

  /// The batch of every node (-1 for nodes the schedule leaves out).
  static func batchIndex(_ module: Module, _ schedule: Schedule) -> [Int32] {
    var batchOf = [Int32](repeating: -1, count: module.nodeCount)
    for b in 0..<schedule.batchCount {
      for n in schedule.batch(b) where Int(n) < module.nodeCount { batchOf[Int(n)] = Int32(b) }
    }
    return batchOf
  }
}
