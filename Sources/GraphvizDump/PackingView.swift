import BatchIR

extension ModuleView {
  /// The lanes × time chart alone (no dataflow), for reports; nil before `ebatch-pack`.
  public static func packingGraph(_ module: Module, title: String) -> DotGraph? {
    guard let packing = module.packing else { return nil }
    var graph = DotGraph(name: "packing")
    graph.attributes = [("label", title), ("labelloc", "t"), ("fontname", "Helvetica")]
    addPacking(module, packing, to: &graph)
    return graph
  }

  /// The most time-step columns the lanes × time chart draws; later chunks are left out.
  static let packingColumnLimit = 240
  /// The most lanes (rows) the chart draws.
  static let packingLaneLimit = 64

  /// Adds the lanes × time chart after `ebatch-pack`: one HTML-table node, one row per lane, one
  /// column per time-step; each segment is a cell coloured by its request, padding (idle steps of
  /// a lane that computes) grey, lanes that compute nothing in a chunk white. A dark bar separates
  /// chunks: there the accelerator switches from the last layer back to the first, and inside a
  /// chunk it runs every layer for all its steps. Big packings show the first chunks and lanes
  /// only, and the title says so.
  static func addPacking(_ module: Module, _ packing: Packing, to graph: inout DotGraph) {
    let layers = packing.layers(in: module).map { module.opTypes[$0].name }
    // Chunks shown: as many as fit the column limit (at least one, scaled when it alone is wider).
    var shown = 0
    var columns = 0
    for round in packing.rounds {
      if shown > 0 && columns + round.steps > packingColumnLimit { break }
      shown += 1
      columns += round.steps
    }
    let unit = max(1, (columns + packingColumnLimit - 1) / packingColumnLimit)
    let usedLanes = packing.rounds.prefix(shown).reduce(0) { max($0, $1.lanes.count) }
    let laneRows = min(usedLanes, packingLaneLimit)
    var title =
      "packing: \(packing.strategy), \(packing.lanes) lanes, \(packing.rounds.count) chunks"
    if packing.strategy == "ebatch" {
      // steps 0: N chosen per chunk (`steps=auto`'s dynamic rule).
      title +=
        packing.stepsPerChunk > 0
        ? " of \(packing.stepsPerChunk) steps"
        : " of up to \(packing.rounds.map(\.steps).max() ?? 0) steps, N per chunk"
    }
    title += "; each chunk runs \(layers.joined(separator: " → ")) in turn"
    title += "; \(packing.paddingLaneSteps) padding lane-steps"
    var limits: [String] = []
    if shown < packing.rounds.count { limits.append("first \(shown) chunks") }
    if laneRows < usedLanes { limits.append("first \(laneRows) of \(usedLanes) lanes") }
    if unit > 1 { limits.append("one column = \(unit) steps") }
    if !limits.isEmpty { title += " (showing \(limits.joined(separator: ", ")))" }

    func span(_ steps: Int) -> Int { max(1, (steps + unit - 1) / unit) }
    let separator = "<TD BGCOLOR=\"#333333\" WIDTH=\"2\"></TD>"
    var header = "<TR><TD><FONT POINT-SIZE=\"8\">lane</FONT></TD>"
    for (r, round) in packing.rounds.prefix(shown).enumerated() {
      if r > 0 { header += separator }
      // Wide chunks say what they are; narrow ones only their number (every fifth when tiny).
      let columns = span(round.steps)
      let text =
        columns >= 6
        ? "chunk \(r): \(round.steps) step\(round.steps == 1 ? "" : "s")"
        : columns >= 2 || r % 5 == 0 ? "\(r)" : ""
      let hover =
        "chunk \(r): \(round.steps) step\(round.steps == 1 ? "" : "s") of \(layers.joined(separator: " → ")) on \(packing.computedLanes(of: round)) lanes"
      header +=
        "<TD COLSPAN=\"\(columns)\" \(tip(hover))>\(text.isEmpty ? "" : "<FONT POINT-SIZE=\"7\">\(text)</FONT>")</TD>"
    }
    header += "</TR>"
    var rows = ""
    for k in 0..<laneRows {
      rows += "<TR><TD><FONT POINT-SIZE=\"8\">\(k)</FONT></TD>"
      for (r, round) in packing.rounds.prefix(shown).enumerated() {
        if r > 0 { rows += separator }
        let lane = k < round.lanes.count ? round.lanes[k] : []
        let computes = lane.contains { !$0.isIdle }
        if !computes {
          rows += "<TD COLSPAN=\"\(span(round.steps))\" BGCOLOR=\"#ffffff\"></TD>"
          continue
        }
        // Cumulative rounding, so a lane's cells add up to exactly its round's columns; a
        // segment shorter than one column may get none.
        var offset = 0
        for segment in lane {
          let width = span(offset + Int(segment.count)) - (offset == 0 ? 0 : span(offset))
          offset += Int(segment.count)
          if width == 0 { continue }
          if segment.isIdle {
            rows +=
              "<TD COLSPAN=\"\(width)\" BGCOLOR=\"#9e9e9e\" \(tip("padding: \(segment.count) idle steps, lane \(k), chunk \(r)"))></TD>"
          } else {
            let name = module.instances[Int(segment.request)].name
            let text =
              width >= 6
              ? "<FONT POINT-SIZE=\"7\">\(htmlEscaped(name)) \(segment.first)–\(segment.first + segment.count - 1)</FONT>"
              : ""
            let last = segment.first + segment.count - 1
            let hover =
              "\(name): steps \(segment.first)–\(last) of \(module.instances[Int(segment.request)].recurrence?.steps ?? 0)\nlane \(k), chunk \(r)"
            rows +=
              "<TD COLSPAN=\"\(width)\" BGCOLOR=\"\(color(ofBatch: Int(segment.request)))\" \(tip(hover))>\(text)</TD>"
          }
        }
      }
      rows += "</TR>"
    }
    // The lane column, every round's columns, and the separators between rounds.
    // The title goes above the table, so it does not stretch the step columns unevenly.
    if let index = graph.attributes.firstIndex(where: { $0.0 == "label" }) {
      graph.attributes[index].1 += "\\n" + title
    } else {
      graph.attributes.append(("label", title))
    }
    let label =
      "<<TABLE BORDER=\"0\" CELLBORDER=\"1\" CELLSPACING=\"0\">\(header)\(rows)</TABLE>>"
    graph.nodes.append(
      DotGraph.Node("packing", [("shape", "plaintext"), ("style", ""), ("label", label)]))
  }
}
