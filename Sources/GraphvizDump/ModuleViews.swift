import BatchIR

/// Which picture a dump draws. Each pass's decision gets its own view: the dataflow before any
/// pass, the batch table after `fsm-batch`, the arena map and operand slots after `pq-layout`,
/// and the lanes (or instance slots) over time after `ebatch-pack`.
public enum DumpView: String, Sendable, CaseIterable {
  case input, schedule, layout, packing

  /// The view of the dump after the pass called `name`; for a pass no view knows, the latest
  /// result the module carries.
  public init(afterPass name: String, module: Module) {
    switch name {
    case "fsm-batch": self = .schedule
    case "pq-layout": self = .layout
    case "ebatch-pack": self = .packing
    default: self = DumpView(latestIn: module)
    }
  }

  /// The view of the latest result the module carries.
  public init(latestIn module: Module) {
    if module.packing != nil {
      self = .packing
    } else if module.layout != nil && module.schedule != nil {
      self = .layout
    } else if module.schedule != nil {
      self = .schedule
    } else {
      self = .input
    }
  }
}

/// Draws the module at any stage of the pipeline, one idea per view (see `DumpView`). Every view
/// but the input is a few HTML-table nodes, which Graphviz lays out in milliseconds and whose
/// width does not grow with the graph. The input view draws the dataflow; past `nodeLimit` nodes
/// it is collapsed (and says so), so a big graph never hangs the dump.
public struct ModuleView {
  /// The most nodes drawn one by one; `dot` slows down sharply beyond about a thousand.
  public static let defaultNodeLimit = 800
  /// The most instances (or batches) drawn in a collapsed or tabular picture.
  public static let collapsedItemLimit = 150

  /// Fill colours for op types (ColorBrewer Set3 and Pastel1), cycled.
  static let palette = [
    "#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5",
    "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f", "#fbb4ae", "#b3cde3", "#decbe4", "#fed9a6",
  ]

  public static func color(ofType t: Int) -> String { palette[t % palette.count] }

  /// The colour of gathers (copies) in every picture.
  static let gatherColor = "#d62728"
  /// The colour of operand slots read as one contiguous slice.
  static let sliceColor = "#c7e9c0"

  /// The `HREF` every tooltip-carrying table cell gets: Graphviz writes a cell's `TOOLTIP` only
  /// for a link. `GraphvizRenderer` removes this link from the SVG and keeps the tooltip.
  static let tooltipAnchor = "#tip"

  /// The picture of `module` in `view` (by default the latest result it carries). `rankdir`
  /// orients the input view's dataflow (`TB` or `LR`); the other views ignore it.
  public static func graph(
    _ module: Module, title: String, view: DumpView? = nil, nodeLimit: Int = defaultNodeLimit,
    rankdir: String = "TB"
  ) -> DotGraph {
    let collapse =
      module.nodeCount > nodeLimit
      ? "collapsed: \(module.nodeCount) nodes exceed the limit of \(nodeLimit)" : nil
    return graph(
      module, title: title, view: view, collapse: collapse, rankdir: rankdir, stacked: false)
  }

  /// The picture, with the input view collapsed when `collapse` (the reason, for the title), and
  /// its instances one below the other when `stacked`.
  static func graph(
    _ module: Module, title: String, view: DumpView?, collapse: String?, rankdir: String,
    stacked: Bool
  ) -> DotGraph {
    var graph: DotGraph
    switch view ?? DumpView(latestIn: module) {
    case .input:
      graph =
        collapse.map { collapsedDataflow(module, reason: $0) }
        ?? dataflow(module, stacked: stacked)
      graph.attributes += [("rankdir", rankdir), ("ranksep", "0.3"), ("nodesep", "0.12")]
      graph.nodes.insert(legend(module), at: 0)
    case .schedule:
      if let schedule = module.schedule {
        graph = scheduleTable(module, schedule)
        graph.nodes.insert(legend(module), at: 0)
      } else {
        graph = missing("no schedule: run fsm-batch first")
      }
    case .layout:
      if let schedule = module.schedule, let layout = module.layout {
        graph = layoutTables(module, schedule, layout)
      } else {
        graph = missing("no layout: pq-layout needs fsm-batch's schedule")
      }
    case .packing:
      if let packing = module.packing {
        graph = base("packing")
        addPacking(module, packing, to: &graph)
      } else if let schedule = module.schedule {
        graph = slotChart(module, schedule)
        graph.nodes.insert(legend(module), at: 0)
      } else {
        graph = missing("no packing and no schedule to draw")
      }
    }
    var label = title
    if let note = graph.attributes.first(where: { $0.0 == "label" })?.1 { label += "\\n" + note }
    graph.attributes.removeAll { $0.0 == "label" }
    graph.attributes += [("label", label), ("labelloc", "t"), ("fontname", "Helvetica")]
    return graph
  }

  static func base(_ name: String) -> DotGraph {
    var graph = DotGraph(name: name)
    graph.nodeDefaults = [
      ("shape", "box"), ("style", "rounded,filled"), ("fontname", "Helvetica"), ("fontsize", "10"),
    ]
    graph.edgeDefaults = [("color", "#555555"), ("arrowsize", "0.6")]
    return graph
  }

  /// A picture that says what it lacks (a pass ran without the result its view draws).
  private static func missing(_ note: String) -> DotGraph {
    var graph = base("missing")
    graph.nodes.append(DotGraph.Node("note", [("shape", "plaintext"), ("label", note)]))
    return graph
  }

  /// An HTML-like table node: the common frame of the tabular views.
  static func table(_ id: String, _ rows: String) -> DotGraph.Node {
    DotGraph.Node(
      id,
      [
        ("shape", "plaintext"), ("style", ""),
        (
          "label",
          "<<TABLE BORDER=\"0\" CELLBORDER=\"1\" CELLSPACING=\"0\" CELLPADDING=\"3\">\(rows)</TABLE>>"
        ),
      ])
  }

  /// The attributes of a table cell that shows `tooltip` on hover (line breaks kept: an HTML
  /// label would turn a plain newline into a space).
  static func tip(_ tooltip: String) -> String {
    let lines = tooltip.split(separator: "\n", omittingEmptySubsequences: false)
    let text = lines.map { htmlEscaped(String($0)) }.joined(separator: "&#10;")
    return "HREF=\"\(tooltipAnchor)\" TOOLTIP=\"\(text)\""
  }

  /// A table of the op types present, each in its colour, with node counts.
  static func legend(_ module: Module) -> DotGraph.Node {
    var count = [Int](repeating: 0, count: module.opTypes.count)
    for t in module.nodeType { count[Int(t)] += 1 }
    var rows = "<TR><TD COLSPAN=\"3\"><B>op types</B></TD></TR>"
    for (t, type) in module.opTypes.enumerated() where count[t] > 0 {
      let flags = type.unbatched ? " (unbatched)" : ""
      rows +=
        "<TR><TD BGCOLOR=\"\(color(ofType: t))\" \(tip(typeDescription(type)))>\(htmlEscaped(type.name))</TD><TD>\(htmlEscaped(type.kind))\(flags)</TD><TD ALIGN=\"RIGHT\">\(count[t])</TD></TR>"
    }
    return table("legend", rows)
  }

  /// `name = kind(operands) -> result`, as in the `.dg` file.
  static func typeDescription(_ type: OpType) -> String {
    var operands = type.operands.map(\.description)
    if type.variadic, let last = operands.last { operands[operands.count - 1] = last + "…" }
    return
      "type \(type.name) = \(type.kind)(\(operands.joined(separator: ", "))) -> \(type.result), \(type.result.byteCount) bytes"
  }

  /// How a node is named in pictures: `%name`, or `tT` (its time-step) in a compact recurrent
  /// instance.
  static func nodeName(_ module: Module, _ n: Int, instance: Instance) -> String {
    if let recurrence = instance.recurrence {
      return "t\((n - instance.nodes.lowerBound) / max(1, recurrence.layers.count))"
    }
    return module.nodeName[n].isEmpty ? "n\(n)" : "%" + module.nodeName[n]
  }

  /// The hover text of node `n`: name, instance, type, operands, result bytes.
  /// `instanceOf` is `module.nodeInstances()`.
  static func nodeTooltip(_ module: Module, _ n: Int, instanceOf: [Int32]) -> String {
    let type = module.opTypes[module.type(of: n)]
    let instance = module.instances[Int(instanceOf[n])]
    let operands = module.operands(of: n).map { operand -> String in
      guard operand != Module.external else { return "_" }
      let o = Int(operand)
      return nodeName(module, o, instance: module.instances[Int(instanceOf[o])])
    }
    return
      "\(nodeName(module, n, instance: instance)) in \(instance.name)\n\(typeDescription(type))\noperands: \(operands.isEmpty ? "none" : operands.joined(separator: ", "))"
  }

  private static func nodeLabel(_ module: Module, _ n: Int, instance: Instance) -> String {
    let type = module.opTypes[module.type(of: n)].name
    return "\(nodeName(module, n, instance: instance))\\n\(type)"
  }

  /// Instances as clusters, nodes coloured by op type, edges from operand to user. `stacked`
  /// puts each instance below the one before (invisible edges from its sinks to a point and from
  /// the point to the next one's sources) instead of side by side.
  static func dataflow(_ module: Module, stacked: Bool = false) -> DotGraph {
    var graph = base("dataflow")
    let instanceOf = module.nodeInstances()
    for (i, instance) in module.instances.enumerated() {
      var label = instance.name
      if let arrival = instance.arrival { label += " @ \(arrival) s" }
      var cluster = DotGraph.Subgraph(
        "cluster_\(i)", [("label", label), ("style", "rounded"), ("color", "#999999")])
      for n in instance.nodes {
        cluster.nodes.append(
          DotGraph.Node(
            "n\(n)",
            [
              ("label", nodeLabel(module, n, instance: instance)),
              ("fillcolor", color(ofType: module.type(of: n))),
              ("tooltip", nodeTooltip(module, n, instanceOf: instanceOf)),
            ]))
      }
      graph.subgraphs.append(cluster)
    }
    for n in 0..<module.nodeCount {
      for operand in module.operands(of: n) where operand != Module.external {
        graph.edges.append(DotGraph.Edge("n\(operand)", "n\(n)"))
      }
    }
    if stacked { stack(module, &graph) }
    return graph
  }

  private static func stack(_ module: Module, _ graph: inout DotGraph) {
    var used = [Bool](repeating: false, count: module.nodeCount)
    for operand in module.operands where operand != Module.external { used[Int(operand)] = true }
    let invisible: DotGraph.Attributes = [("style", "invis")]
    for (i, instance) in module.instances.enumerated().dropFirst() {
      let point = "stack\(i)"
      graph.nodes.append(
        DotGraph.Node(point, [("shape", "point"), ("style", "invis"), ("width", "0")]))
      for n in module.instances[i - 1].nodes where !used[n] {
        graph.edges.append(DotGraph.Edge("n\(n)", point, invisible))
      }
      for n in instance.nodes
      where module.operands(of: n).allSatisfy({ $0 == Module.external }) {
        graph.edges.append(DotGraph.Edge(point, "n\(n)", invisible))
      }
    }
  }

  /// One box per op type per instance, with edge counts between them.
  static func collapsedDataflow(_ module: Module, reason: String) -> DotGraph {
    var graph = base("dataflow")
    let shown = min(module.instances.count, collapsedItemLimit)
    var note = "\(reason); one box per op type per instance"
    if shown < module.instances.count {
      note += "; first \(shown) of \(module.instances.count) instances"
    }
    graph.attributes.append(("label", note))
    for (i, instance) in module.instances.prefix(shown).enumerated() {
      var label = instance.name
      if let arrival = instance.arrival { label += " @ \(arrival) s" }
      var cluster = DotGraph.Subgraph(
        "cluster_\(i)", [("label", label), ("style", "rounded"), ("color", "#999999")])
      var count: [Int: Int] = [:]
      var edges: [Pair: Int] = [:]
      for n in instance.nodes {
        count[module.type(of: n), default: 0] += 1
        for operand in module.operands(of: n) where operand != Module.external {
          edges[Pair(module.type(of: Int(operand)), module.type(of: n)), default: 0] += 1
        }
      }
      for t in count.keys.sorted() {
        let type = module.opTypes[t]
        cluster.nodes.append(
          DotGraph.Node(
            "i\(i)t\(t)",
            [
              ("label", "\(type.name) x\(count[t] ?? 0)"),
              ("fillcolor", color(ofType: t)),
              (
                "tooltip",
                "\(count[t] ?? 0) nodes of \(instance.name)\n\(typeDescription(type))"
              ),
            ]))
      }
      graph.subgraphs.append(cluster)
      for pair in edges.keys.sorted() {
        graph.edges.append(
          DotGraph.Edge(
            "i\(i)t\(pair.a)", "i\(i)t\(pair.b)",
            [("label", "\(edges[pair] ?? 0)"), ("fontsize", "8")]))
      }
    }
    return graph
  }
}

/// An ordered pair of op types, for edge counts.
struct Pair: Hashable, Comparable {
  var a: Int
  var b: Int
  init(_ a: Int, _ b: Int) {
    self.a = a
    self.b = b
  }
  static func < (x: Pair, y: Pair) -> Bool { (x.a, x.b) < (y.a, y.b) }
}
