import BatchIR

extension ModuleView {
  /// Tensor cells per row of the arena map.
  static let arenaCellsPerRow = 24
  /// The most tensors the arena map draws (the title says when there are more).
  static let arenaCellLimit = 1200
  /// The most operand slots a row of the slot table draws.
  static let slotColumnLimit = 6

  /// The view after `pq-layout`, two tables and no edges. The arena map: every tensor in address
  /// order, coloured by the batch that produces it, a red border on those a gather copies, each
  /// row headed by its first byte offset. The slot table: for every batch, each operand slot is
  /// read as one contiguous range (green, with its offsets) or gathered (red, with the bytes).
  static func layoutTables(_ module: Module, _ schedule: Schedule, _ layout: MemoryLayout)
    -> DotGraph
  {
    var graph = base("layout")
    graph.attributes.append(("ranksep", "0.2"))
    let requirements = LayoutRequirements(module, alignment: layout.alignment)
    let batchOf = batchIndex(module, schedule)
    let gathered = gatheredBy(module, schedule, layout)
    graph.nodes.append(
      arenaMap(module, layout, requirements, batchOf: batchOf, gathered: gathered))
    graph.nodes.append(slotTable(module, schedule, layout, requirements))
    graph.edges.append(DotGraph.Edge("arena", "slots", [("style", "invis")]))
    return graph
  }

  /// For every tensor, the (batch, slot) gathers that copy it, in gather order.
  private static func gatheredBy(
    _ module: Module, _ schedule: Schedule, _ layout: MemoryLayout
  ) -> [Int: [(batch: Int, slot: Int)]] {
    var result: [Int: [(batch: Int, slot: Int)]] = [:]
    for gather in layout.gathers where gather.batch < schedule.batchCount {
      for n in schedule.batch(gather.batch) {
        let operands = module.operands(of: Int(n))
        guard gather.slot < operands.count else { continue }
        let source = operands[operands.startIndex + gather.slot]
        guard source != Module.external else { continue }
        result[Int(source), default: []].append((gather.batch, gather.slot))
      }
    }
    return result
  }

  private static func arenaMap(
    _ module: Module, _ layout: MemoryLayout, _ requirements: LayoutRequirements,
    batchOf: [Int32], gathered: [Int: [(batch: Int, slot: Int)]]
  ) -> DotGraph.Node {
    let instanceOf = module.nodeInstances()
    let order = (0..<module.nodeCount).filter { requirements.tensorBytes[$0] > 0 }.sorted {
      (layout.offsets[$0], $0) < (layout.offsets[$1], $1)
    }
    // Cells in address order: a tensor, or the unused bytes before the next one.
    enum Cell {
      case tensor(Int)
      case gap(from: Int64, bytes: Int64)
    }
    var cells: [Cell] = []
    var end: Int64 = 0
    for n in order.prefix(arenaCellLimit) {
      let offset = layout.offsets[n]
      if offset > end { cells.append(.gap(from: end, bytes: offset - end)) }
      cells.append(.tensor(n))
      end = max(end, offset + Int64(requirements.stride(ofNode: n)))
    }
    var title =
      "arena: \(requirements.arenaBytes(offsets: layout.offsets)) bytes, align \(layout.alignment), \(layout.gathers.count) gathers, \(layout.bytesCopied) bytes copied"
    if order.count > arenaCellLimit {
      title += "; first \(arenaCellLimit) of \(order.count) tensors"
    }
    let note =
      "one cell per tensor in address order, bK: made by batch K (colour), red border: copied by a gather"
    var rows =
      "<TR><TD COLSPAN=\"\(arenaCellsPerRow + 1)\"><B>\(htmlEscaped(title))</B><BR/><FONT POINT-SIZE=\"9\">\(note)</FONT></TD></TR>"
    var start = 0
    while start < cells.count {
      let row = cells[start..<min(start + arenaCellsPerRow, cells.count)]
      let first: Int64
      switch cells[start] {
      case .tensor(let n): first = layout.offsets[n]
      case .gap(let from, _): first = from
      }
      rows += "<TR><TD ALIGN=\"RIGHT\"><FONT POINT-SIZE=\"8\">@\(first)</FONT></TD>"
      for cell in row {
        switch cell {
        case .gap(let from, let bytes):
          rows +=
            "<TD BGCOLOR=\"#ffffff\" \(tip("unused: \(bytes) bytes at offset \(from)"))><FONT POINT-SIZE=\"8\">·</FONT></TD>"
        case .tensor(let n):
          let b = Int(batchOf[n])
          let instance = module.instances[Int(instanceOf[n])]
          var hover =
            "\(nodeName(module, n, instance: instance)) in \(instance.name)\n\(typeDescription(module.opTypes[module.type(of: n)]))\noffset \(layout.offsets[n]), \(requirements.tensorBytes[n]) bytes (stride \(requirements.stride(ofNode: n)))\nmade by batch \(b < 0 ? "none" : "b\(b)")"
          let copies = gathered[n] ?? []
          if !copies.isEmpty {
            hover +=
              "\ngathered by "
              + copies.map { "b\($0.batch) slot \($0.slot)" }.joined(separator: ", ")
          }
          let border = copies.isEmpty ? "" : " BORDER=\"2\" COLOR=\"\(gatherColor)\""
          rows +=
            "<TD BGCOLOR=\"\(color(ofBatch: b))\"\(border) \(tip(hover))><FONT POINT-SIZE=\"8\">\(b < 0 ? "–" : "b\(b)")</FONT></TD>"
        }
      }
      rows += "</TR>"
      start += arenaCellsPerRow
    }
    return table("arena", rows)
  }

  private static func slotTable(
    _ module: Module, _ schedule: Schedule, _ layout: MemoryLayout,
    _ requirements: LayoutRequirements
  ) -> DotGraph.Node {
    let shown = min(schedule.batchCount, collapsedItemLimit)
    var gathersAt: [Int: [MemoryLayout.Gather]] = [:]
    for gather in layout.gathers { gathersAt[gather.batch, default: []].append(gather) }
    var slotCounts: [Int] = []
    for b in 0..<shown {
      slotCounts.append(requirements.slotCount(of: schedule.batch(b), in: module))
    }
    let columns = min(slotColumnLimit, slotCounts.max() ?? 0)
    var title = "operand slots of each batch: contiguous range (green) or gather (red)"
    if shown < schedule.batchCount { title += "; first \(shown) of \(schedule.batchCount) batches" }
    var rows =
      "<TR><TD COLSPAN=\"\(2 + max(1, columns))\"><B>\(htmlEscaped(title))</B></TD></TR><TR><TD>batch</TD><TD>op type</TD>"
    for j in 0..<max(1, columns) { rows += "<TD>slot \(j)</TD>" }
    rows += "</TR>"
    for b in 0..<shown {
      let batch = schedule.batch(b)
      let type = Int(schedule.batchType[b])
      rows +=
        "<TR><TD ALIGN=\"RIGHT\"><B>b\(b)</B></TD><TD BGCOLOR=\"\(color(ofBatch: b))\">\(htmlEscaped(module.opTypes[type].name)) x\(batch.count)</TD>"
      for j in 0..<max(1, columns) {
        guard j < slotCounts[b] else {
          rows += "<TD></TD>"
          continue
        }
        if j == columns - 1 && slotCounts[b] > columns {
          rows += "<TD><FONT POINT-SIZE=\"9\">… \(slotCounts[b] - j) more</FONT></TD>"
          continue
        }
        rows += slotCell(
          module, batch: b, slot: j, schedule, layout, requirements,
          gather: gathersAt[b]?.first { $0.slot == j })
      }
      rows += "</TR>"
    }
    return table("slots", rows)
  }

  /// One operand slot of one batch: gathered (the layout says so), free (one node, inputs only,
  /// or one tensor broadcast), or one contiguous range of the arena.
  private static func slotCell(
    _ module: Module, batch b: Int, slot j: Int, _ schedule: Schedule, _ layout: MemoryLayout,
    _ requirements: LayoutRequirements, gather: MemoryLayout.Gather?
  ) -> String {
    let batch = schedule.batch(b)
    let sources = batch.compactMap { n -> Int? in
      let operands = module.operands(of: Int(n))
      guard j < operands.count, operands[operands.startIndex + j] != Module.external else {
        return nil
      }
      return Int(operands[operands.startIndex + j])
    }
    func listing() -> String {
      var text = sources.prefix(24).map { "@\(layout.offsets[$0])" }.joined(separator: " ")
      if sources.count > 24 { text += " … (\(sources.count) in all)" }
      return text
    }
    if let gather {
      let hover =
        "b\(b) slot \(j): gather of \(sources.count) tensors, \(gather.bytes) bytes copied\nsource offsets in batch order: \(listing())"
      return
        "<TD BGCOLOR=\"#fcbba1\" \(tip(hover))><FONT POINT-SIZE=\"9\" COLOR=\"\(gatherColor)\">gather \(sources.count), \(gather.bytes) B</FONT></TD>"
    }
    switch requirements.slot(j, of: batch, in: module) {
    case .free:
      let why =
        batch.count == 1
        ? "one node" : sources.isEmpty ? "inputs only" : "one tensor, broadcast"
      return
        "<TD \(tip("b\(b) slot \(j): no slice needed (\(why))"))><FONT POINT-SIZE=\"9\" COLOR=\"#777777\">\(why)</FONT></TD>"
    case .slice(let tensors) where requirements.isSlice(tensors, offsets: layout.offsets):
      let first = layout.offsets[Int(tensors[0])]
      let bytes = Int64(tensors.count * requirements.stride(ofNode: Int(tensors[0])))
      let hover =
        "b\(b) slot \(j): \(tensors.count) tensors read in place as one slice\noffsets \(first) to \(first + bytes) (\(bytes) bytes)"
      return
        "<TD BGCOLOR=\"\(sliceColor)\" \(tip(hover))><FONT POINT-SIZE=\"9\">@\(first) +\(bytes) B</FONT></TD>"
    case .slice, .unsliceable:
      return
        "<TD \(tip("b\(b) slot \(j): cannot be one slice, and the layout records no gather"))><FONT POINT-SIZE=\"9\">not served</FONT></TD>"
    }
  }

  /// Batches cycle through the palette in order, so neighbours differ.
  static func color(ofBatch b: Int) -> String { b < 0 ? "#ffffff" : palette[b % palette.count] }
}
