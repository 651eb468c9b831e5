import BatchIR

/// Draws the module at any stage of the pipeline. The picture follows the latest result the
/// module carries: the dataflow graph with instances as clusters before batching, and one row
/// per batch once a schedule exists. Past `nodeLimit` nodes the picture is collapsed (and says so),
/// so a big graph never hangs the dump.
public struct ModuleView {
  /// The most nodes drawn one by one; `dot` slows down sharply beyond about a thousand.
  public static let defaultNodeLimit = 800
  /// The most instances (or batches) drawn in a collapsed picture.
  public static let collapsedItemLimit = 150

  /// Fill colours for op types (ColorBrewer Set3 and Pastel1), cycled.
  static let palette = [
    "#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5",
    "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f", "#fbb4ae", "#b3cde3", "#decbe4", "#fed9a6",
  ]

  public static func color(ofType t: Int) -> String { palette[t % palette.count] }

  /// The colour of gathers (copies) in every picture.
  static let gatherColor = "#d62728"

  public static func graph(_ module: Module, title: String, nodeLimit: Int = defaultNodeLimit)
    -> DotGraph
  {
    var graph: DotGraph
    if let schedule = module.schedule {
      graph =
        module.nodeCount <= nodeLimit
        ? batchRows(module, schedule) : collapsedBatches(module, schedule, nodeLimit: nodeLimit)
    } else {
      graph =
        module.nodeCount <= nodeLimit
        ? dataflow(module) : collapsedDataflow(module, nodeLimit: nodeLimit)
    }
    var label = title
    if let note = graph.attributes.first(where: { $0.0 == "label" })?.1 { label += "\\n" + note }
    graph.attributes.removeAll { $0.0 == "label" }
    graph.attributes += [("label", label), ("labelloc", "t"), ("fontname", "Helvetica")]
    graph.nodes.insert(legend(module), at: 0)
    if let layout = module.layout, let schedule = module.schedule {
      addArena(module, schedule, layout, to: &graph, collapsed: module.nodeCount > nodeLimit)
    }
    if let packing = module.packing { addPacking(module, packing, to: &graph) }
    return graph
  }

  private static func base(_ name: String) -> DotGraph {
    var graph = DotGraph(name: name)
    graph.nodeDefaults = [
      ("shape", "box"), ("style", "rounded,filled"), ("fontname", "Helvetica"), ("fontsize", "10"),
    ]
    graph.edgeDefaults = [("color", "#555555"), ("arrowsize", "0.6")]
    return graph
  }

  /// A table of the op types present, each in its colour, with node counts.
  static func legend(_ module: Module) -> DotGraph.Node {
    var count = [Int](repeating: 0, count: module.opTypes.count)
    for t in module.nodeType { count[Int(t)] += 1 }
    var rows = ""
    for (t, type) in module.opTypes.enumerated() where count[t] > 0 {
      let flags = type.unbatched ? " (unbatched)" : ""
      rows +=
        "<TR><TD BGCOLOR=\"\(color(ofType: t))\">\(htmlEscaped(type.name))</TD><TD>\(htmlEscaped(type.kind))\(flags)</TD><TD ALIGN=\"RIGHT\">\(count[t])</TD></TR>"
    }
    let label =
      "<<TABLE BORDER=\"0\" CELLBORDER=\"1\" CELLSPACING=\"0\"><TR><TD COLSPAN=\"3\"><B>op types</B></TD></TR>\(rows)</TABLE>>"
    return DotGraph.Node("legend", [("shape", "plaintext"), ("style", ""), ("label", label)])
  }

  private static func nodeLabel(_ module: Module, _ n: Int, instance: Instance) -> String {
    let type = module.opTypes[module.type(of: n)].name
    if let recurrence = instance.recurrence {
      let offset = n - instance.nodes.lowerBound
      return "t\(offset / recurrence.layers.count) \(type)"
    }
    return "%\(module.nodeName[n])\\n\(type)"
  }

  /// Instances as clusters, nodes coloured by op type, edges from operand to user.
  static func dataflow(_ module: Module) -> DotGraph {
    var graph = base("dataflow")
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
            ]))
      }
      graph.subgraphs.append(cluster)
    }
    addEdges(module, to: &graph, attributes: [])
    return graph
  }

  /// Edges from operand to user; operand slots in `gathered` (node, slot) are drawn red and
  /// dashed, labelled with the slot, because the layout copies them.
  private static func addEdges(
    _ module: Module, to graph: inout DotGraph, attributes: DotGraph.Attributes,
    gathered: Set<Pair> = []
  ) {
    for n in 0..<module.nodeCount {
      for (slot, operand) in module.operands(of: n).enumerated() where operand != Module.external {
        var edgeAttributes = attributes
        if gathered.contains(Pair(n, slot)) {
          edgeAttributes += [
            ("color", gatherColor), ("style", "dashed"), ("fontcolor", gatherColor),
            ("label", "gather \(slot)"), ("fontsize", "8"),
          ]
        }
        graph.edges.append(DotGraph.Edge("n\(operand)", "n\(n)", edgeAttributes))
      }
    }
  }

  /// One box per op type per instance, with edge counts between them.
  static func collapsedDataflow(_ module: Module, nodeLimit: Int) -> DotGraph {
    var graph = base("dataflow")
    let shown = min(module.instances.count, collapsedItemLimit)
    var note =
      "collapsed: \(module.nodeCount) nodes exceed the limit of \(nodeLimit); one box per op type per instance"
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
        cluster.nodes.append(
          DotGraph.Node(
            "i\(i)t\(t)",
            [
              ("label", "\(module.opTypes[t].name) x\(count[t] ?? 0)"),
              ("fillcolor", color(ofType: t)),
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

  /// One row per batch, in schedule order: a header naming the batch, then its nodes labelled with
  /// the batch index. Dataflow edges are drawn without moving the rows.
  static func batchRows(_ module: Module, _ schedule: Schedule) -> DotGraph {
    var graph = base("schedule")
    let instances = module.nodeInstances()
    for b in 0..<schedule.batchCount {
      let type = Int(schedule.batchType[b])
      var row = DotGraph.Subgraph("batch_\(b)", [("rank", "same")])
      row.nodes.append(
        DotGraph.Node(
          "b\(b)",
          [
            ("shape", "plaintext"), ("style", ""),
            ("label", "batch \(b): \(module.opTypes[type].name) x\(schedule.batch(b).count)"),
          ]))
      for n in schedule.batch(b) {
        let instance = module.instances[Int(instances[Int(n)])]
        row.nodes.append(
          DotGraph.Node(
            "n\(n)",
            [
              (
                "label",
                "\(instance.name): \(nodeLabel(module, Int(n), instance: instance))\\nb\(b)"
              ), ("fillcolor", color(ofType: type)),
            ]))
      }
      graph.subgraphs.append(row)
      if b > 0 { graph.edges.append(DotGraph.Edge("b\(b - 1)", "b\(b)", [("style", "invis")])) }
    }
    addEdges(
      module, to: &graph, attributes: [("constraint", "false")],
      gathered: module.layout.map { gatheredSlots($0, schedule) } ?? [])
    return graph
  }

  /// The (node, operand slot) pairs that the layout gathers.
  private static func gatheredSlots(_ layout: MemoryLayout, _ schedule: Schedule) -> Set<Pair> {
    var gathered = Set<Pair>()
    for gather in layout.gathers {
      for n in schedule.batch(gather.batch) { gathered.insert(Pair(Int(n), gather.slot)) }
    }
    return gathered
  }

  /// One box per batch, in schedule order.
  static func collapsedBatches(_ module: Module, _ schedule: Schedule, nodeLimit: Int) -> DotGraph {
    var graph = base("schedule")
    let shown = min(schedule.batchCount, collapsedItemLimit)
    var note =
      "collapsed: \(module.nodeCount) nodes exceed the limit of \(nodeLimit); one box per batch"
    if shown < schedule.batchCount { note += "; first \(shown) of \(schedule.batchCount) batches" }
    graph.attributes.append(("label", note))
    for b in 0..<shown {
      let type = Int(schedule.batchType[b])
      graph.nodes.append(
        DotGraph.Node(
          "b\(b)",
          [
            ("label", "b\(b): \(module.opTypes[type].name) x\(schedule.batch(b).count)"),
            ("fillcolor", color(ofType: type)),
          ]))
      if b > 0 { graph.edges.append(DotGraph.Edge("b\(b - 1)", "b\(b)")) }
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
