import BatchIR

extension ModuleView {
  /// Tensor cells per row of the arena strip.
  static let arenaCellsPerRow = 24

  /// Adds the arena after `pq-layout`: one HTML-table node with the tensors in offset order,
  /// coloured by the batch that produces them, and one red dashed edge from every scattered source
  /// of a gather to the batch that copies it. Collapsed pictures draw one cell per batch block.
  static func addArena(
    _ module: Module, _ schedule: Schedule, _ layout: MemoryLayout, to graph: inout DotGraph,
    collapsed: Bool
  ) {
    var batchOf = [Int32](repeating: -1, count: module.nodeCount)
    for b in 0..<schedule.batchCount {
      for n in schedule.batch(b) { batchOf[Int(n)] = Int32(b) }
    }
    let requirements = LayoutRequirements(module, alignment: layout.alignment)
    let title =
      "arena: \(requirements.arenaBytes(offsets: layout.offsets)) bytes, align \(layout.alignment), \(layout.gathers.count) gathers, \(layout.bytesCopied) bytes copied"
    if collapsed {
      addCollapsedArena(
        module, schedule, layout, requirements, batchOf: batchOf, title: title, to: &graph)
      return
    }
    let order = (0..<module.nodeCount).sorted {
      (layout.offsets[$0], $0) < (layout.offsets[$1], $1)
    }
    graph.nodes.append(
      strip(
        title: title,
        cells: order.map { n in
          let name = module.nodeName[n].isEmpty ? "n\(n)" : "%" + module.nodeName[n]
          return (port: "t\(n)", text: name, color: color(ofBatch: Int(batchOf[n])))
        }))
    for gather in layout.gathers {
      let batch = schedule.batch(gather.batch)
      for n in batch {
        let operands = module.operands(of: Int(n))
        guard gather.slot < operands.count else { continue }
        let source = operands[operands.startIndex + gather.slot]
        guard source != Module.external, requirements.tensorBytes[Int(source)] > 0 else { continue }
        graph.edges.append(
          DotGraph.Edge(
            "arena", "b\(gather.batch)", gatherEdge("slot \(gather.slot)", port: "t\(source)")))
      }
    }
  }

  /// The collapsed arena: one cell per batch's block of results (the shown batches), and one
  /// edge per (source batch, gathering batch) pair labelled with the bytes copied.
  private static func addCollapsedArena(
    _ module: Module, _ schedule: Schedule, _ layout: MemoryLayout,
    _ requirements: LayoutRequirements, batchOf: [Int32],
    title: String, to graph: inout DotGraph
  ) {
    let shown = min(schedule.batchCount, collapsedItemLimit)
    let blocks = (0..<shown).sorted {
      (layout.offsets[Int(schedule.batch($0).first!)], $0)
        < (layout.offsets[Int(schedule.batch($1).first!)], $1)
    }
    graph.nodes.append(
      strip(
        title: title + (shown < schedule.batchCount ? "; first \(shown) batches" : ""),
        cells: blocks.map { (port: "b\($0)", text: "b\($0)", color: color(ofBatch: $0)) }))
    for gather in layout.gathers where gather.batch < shown {
      var bytesFrom: [Int: Int] = [:]
      for n in schedule.batch(gather.batch) {
        let operands = module.operands(of: Int(n))
        guard gather.slot < operands.count else { continue }
        let source = Int(operands[operands.startIndex + gather.slot])
        guard source >= 0, Int(batchOf[source]) < shown else { continue }
        bytesFrom[Int(batchOf[source]), default: 0] += requirements.tensorBytes[source]
      }
      for (from, bytes) in bytesFrom.sorted(by: { $0.key < $1.key }) where bytes > 0 {
        graph.edges.append(
          DotGraph.Edge(
            "arena", "b\(gather.batch)",
            gatherEdge("slot \(gather.slot): \(bytes) B", port: "b\(from)")))
      }
    }
  }

  /// An HTML-table node named `arena`: a title row, then the cells wrapped into rows.
  private static func strip(title: String, cells: [(port: String, text: String, color: String)])
    -> DotGraph.Node
  {
    var rows = "<TR><TD COLSPAN=\"\(arenaCellsPerRow)\"><B>\(htmlEscaped(title))</B></TD></TR>"
    var start = 0
    while start < cells.count {
      rows += "<TR>"
      for cell in cells[start..<min(start + arenaCellsPerRow, cells.count)] {
        rows +=
          "<TD PORT=\"\(cell.port)\" BGCOLOR=\"\(cell.color)\"><FONT POINT-SIZE=\"8\">\(htmlEscaped(cell.text))</FONT></TD>"
      }
      rows += "</TR>"
      start += arenaCellsPerRow
    }
    let label =
      "<<TABLE BORDER=\"0\" CELLBORDER=\"1\" CELLSPACING=\"0\">\(rows)</TABLE>>"
    return DotGraph.Node("arena", [("shape", "plaintext"), ("style", ""), ("label", label)])
  }

  /// A gather edge leaving the arena cell `port`.
  private static func gatherEdge(_ label: String, port: String) -> DotGraph.Attributes {
    [
      ("tailport", port),
      ("color", gatherColor), ("style", "dashed"), ("fontcolor", gatherColor), ("fontsize", "8"),
      ("label", label), ("constraint", "false"),
    ]
  }

  /// Batches cycle through the palette in order, so neighbours differ.
  static func color(ofBatch b: Int) -> String { b < 0 ? "#ffffff" : palette[b % palette.count] }
}
