import BatchIR
import Foundation
import GraphvizDump
import TestSupport
import Testing
import Workloads

/// The label of the node `id`, or "".
func label(_ graph: DotGraph, _ id: String) -> String {
  graph.nodes.first { $0.id == id }?.attributes.first { $0.0 == "label" }?.1 ?? ""
}

/// The texts of `<FONT …>TEXT</FONT>` in `html`, in order.
func fontTexts(_ html: String) -> [String] {
  html.components(separatedBy: "<FONT ").dropFirst().compactMap { piece in
    guard let open = piece.firstIndex(of: ">"), let close = piece.range(of: "</FONT>") else {
      return nil
    }
    return String(piece[piece.index(after: open)..<close.lowerBound])
  }
}

@Suite struct DumpTests {
  func module(_ family: WorkloadFamily, instances: Int) -> Module {
    var options = WorkloadOptions()
    options.instances = instances
    return WorkloadGenerator.generate(family, options: options)
  }

  func golden(_ name: String) throws -> Module {
    let url = repositoryRoot.appendingPathComponent("Tests/GraphvizDumpTests/Golden/\(name).dg")
    return try parse(String(contentsOf: url, encoding: .utf8))
  }

  @Test func eachPassHasItsView() throws {
    let m = try golden("layout")
    #expect(DumpView(afterPass: "fsm-batch", module: m) == .schedule)
    #expect(DumpView(afterPass: "pq-layout", module: m) == .layout)
    #expect(DumpView(afterPass: "ebatch-pack", module: m) == .packing)
    #expect(DumpView(afterPass: "some-other-pass", module: m) == .layout)
    #expect(DumpView(latestIn: try golden("input")) == .input)
    #expect(DumpView(latestIn: try golden("packing")) == .packing)
  }

  @Test func inputViewHasClustersColoursTooltipsAndLegend() throws {
    let m = module(.treeLSTM, instances: 2)
    let graph = ModuleView.graph(m, title: "tree")
    #expect(graph.subgraphs.map(\.name) == ["cluster_0", "cluster_1"])
    #expect(graph.nodes.first?.id == "legend")
    #expect(graph.nodeCount == m.nodeCount + 1)
    let leaf = try #require(graph.subgraphs[0].nodes.first { $0.id == "n1" })
    let tooltip = leaf.attributes.first { $0.0 == "tooltip" }?.1
    #expect(
      tooltip
        == "%l0 in t0\ntype leaf = linear(f32[64]) -> f32[64], 256 bytes\noperands: %x0")
    let svg = String(decoding: try GraphvizRenderer.render(graph, format: .svg), as: UTF8.self)
    #expect(svg.contains("op types"))
    // Tooltips are `<title>` elements, so every browser shows them on hover.
    #expect(svg.contains("<title>%l0 in t0&#10;type leaf = linear"))
  }

  /// After `fsm-batch`: a table with one row per batch, no edges at all.
  @Test func scheduleViewIsOneTableRowPerBatch() throws {
    let m = try golden("schedule")
    let graph = ModuleView.graph(m, title: "s", view: .schedule)
    #expect(graph.edges.isEmpty)
    let table = label(graph, "schedule")
    // Title row, header row, one row per batch.
    #expect(table.components(separatedBy: "<TR>").count - 1 == 2 + 2)
    #expect(
      fontTexts(table) == ["%a %b", "%x %y", "inputs", "%ab", "%xy", "b0"])
    #expect(table.contains("leaf x4"))
    #expect(table.contains("TOOLTIP=\"batch 1: 2 × node from 2 instances&#10;"))
  }

  /// After `pq-layout`: the arena map in address order and the slot table; no edge crosses.
  @Test func layoutViewDrawsTheArenaMapAndTheSlots() throws {
    let m = try golden("layout")
    let graph = ModuleView.graph(m, title: "layout", view: .layout)
    #expect(graph.edges.count == 1)
    #expect(graph.edges[0].attributes.contains { $0 == ("style", "invis") })
    let arena = label(graph, "arena")
    #expect(arena.contains("arena: 640 bytes, align 64, 1 gathers, 128 bytes copied"))
    // Offsets order the cells: %a, %y, %b, %z, %c, %x (b0), %ab, %yz (b1), %xyz, %abc (b2).
    let cells = fontTexts(arena).filter { $0.hasPrefix("b") || $0 == "·" || $0.hasPrefix("@") }
    #expect(cells == ["@0", "b0", "b0", "b0", "b0", "b0", "b0", "b1", "b1", "b2", "b2"])
    // The two tensors batch 2 gathers into slot 1 (%c at 256, %yz at 448) have red borders.
    #expect(arena.components(separatedBy: "BORDER=\"2\" COLOR=\"#d62728\"").count - 1 == 2)
    #expect(arena.contains("gathered by b2 slot 1"))
    let slots = label(graph, "slots")
    #expect(
      fontTexts(slots) == [
        "inputs only", "@0 +128 B", "@128 +128 B", "@320 +128 B", "gather 2, 128 B",
      ])
    let svg = String(decoding: try GraphvizRenderer.render(graph, format: .svg), as: UTF8.self)
    #expect(svg.contains("128 bytes copied"))
    #expect(!svg.contains("xlink:href=\"#tip\""))
  }

  @Test func bigLayoutsDrawTheFirstTensorsAndSaySo() throws {
    var m = module(.treeLSTM, instances: 60)
    var schedule = Schedule(policy: "test")
    for n in 0..<m.nodeCount { schedule.append(type: m.type(of: n), nodes: [Int32(n)]) }
    m.schedule = schedule
    let offsets = (0..<m.nodeCount).map { Int64($0) * 256 }
    m.layout = MemoryLayout(alignment: 64, offsets: offsets, gathers: [])
    let picture = try StagePicture.fitted(m, title: "big", view: .layout)
    #expect(picture.width <= StagePicture.maxWidth)
    let arena = label(picture.graph, "arena")
    #expect(arena.contains("first 1200 of \(m.nodeCount) tensors"))
    #expect(label(picture.graph, "slots").contains("first 150 of \(m.nodeCount) batches"))
  }

  @Test func bigGraphsAreCollapsedAndSaySo() throws {
    let m = module(.rnnServing, instances: 400)
    #expect(m.nodeCount > ModuleView.defaultNodeLimit)
    let graph = ModuleView.graph(m, title: "big")
    let title = graph.attributes.first { $0.0 == "label" }?.1 ?? ""
    #expect(title.contains("collapsed: \(m.nodeCount) nodes exceed the limit"))
    #expect(title.contains("first \(ModuleView.collapsedItemLimit) of 400 instances"))
    #expect(graph.nodeCount <= ModuleView.collapsedItemLimit * 2 + 1)
  }

  /// Sixty one-node instances side by side are too wide; left to right they stack and fit.
  @Test func pictureIsLaidOutToFitTheWidth() throws {
    var text = "dg 1\ntype leaf = linear(f32[4]) -> f32[4]\n"
    for i in 0..<60 { text += "instance instance-number-\(i) {\n  %leaf-node-\(i) = leaf(_)\n}\n" }
    let m = try parse(text)
    let wide = try GraphvizRenderer.render(ModuleView.graph(m, title: "w"), format: .svg)
    #expect((StagePicture.svgWidth(wide) ?? 0) > StagePicture.maxWidth)
    let picture = try StagePicture.fitted(m, title: "w", view: .input, id: "s00")
    #expect(picture.width <= StagePicture.maxWidth)
    #expect(picture.graph.attributes.contains { $0 == ("rankdir", "LR") })
    #expect(String(decoding: picture.svg, as: UTF8.self).contains("id=\"s00_node1\""))
  }

  /// A label Graphviz cannot parse is an error, not a picture of the node's name.
  @Test func graphvizErrorsAreThrown() throws {
    var graph = DotGraph(name: "bad")
    graph.nodes.append(DotGraph.Node("t", [("label", "<<TABLE><TR><TD><FONT></FONT></TD></TR>>")]))
    #expect(throws: GraphvizRenderer.RenderError.self) {
      try GraphvizRenderer.render(graph, format: .svg)
    }
    var good = DotGraph(name: "good")
    good.nodes.append(DotGraph.Node("t", [("label", "<<TABLE><TR><TD>x</TD></TR></TABLE>>")]))
    #expect(!(try GraphvizRenderer.render(good, format: .svg)).isEmpty)
  }

  /// Graphviz is not thread-safe; the renderer's lock makes concurrent use safe.
  @Test func concurrentRenderingIsSafe() async throws {
    let graph = ModuleView.graph(module(.treeGRU, instances: 2), title: "c")
    let reference = try GraphvizRenderer.render(graph, format: .svg)
    try await withThrowingTaskGroup(of: [UInt8].self) { group in
      for _ in 0..<8 { group.addTask { try GraphvizRenderer.render(graph, format: .svg) } }
      for try await svg in group {
        #expect(svg.count == reference.count && svg.elementsEqual(reference))
      }
    }
  }

  @Test func pageHasEveryStageInOrderWithNavigation() throws {
    var page = DumpPage(title: "t: dumps", pipeline: "fsm-batch,pq-layout", format: .svg)
    for (stem, svg) in [("00-input", "<svg id=\"a\"></svg>"), ("01-fsm-batch", "<svg id=\"b\"/>")] {
      page.stages.append(
        DumpPage.Stage(
          stem: stem, title: stem, svg: Array(("<?xml version=\"1.0\"?>\n" + svg).utf8),
          statistics: [("batches", "3")]))
    }
    let html = String(decoding: page.html(), as: UTF8.self)
    #expect(html.hasPrefix("<!DOCTYPE html>"))
    #expect(!html.contains("<?xml"))
    #expect(!html.contains("src=") && !html.contains("<link"))
    let first = try #require(html.range(of: "<svg id=\"a\"></svg>"))
    let second = try #require(html.range(of: "<svg id=\"b\"/>"))
    #expect(first.upperBound <= second.lowerBound)
    #expect(html.contains("<section id=\"stage-00-input\" data-next=\"stage-01-fsm-batch\">"))
    #expect(html.contains("<section id=\"stage-01-fsm-batch\" data-previous=\"stage-00-input\">"))
    #expect(html.contains("<code>fsm-batch,pq-layout</code>"))
    #expect(html.contains("<tr><td>batches</td><td class=\"v\">3</td></tr>"))
  }
}

/// The lanes × time chart after `ebatch-pack`, and the instance-slot chart for trees.
@Suite struct PackingViewTests {
  @Test func chartHasOneRowPerLaneAndGreyPadding() throws {
    let module = try parse(
      String(
        contentsOf: repositoryRoot.appendingPathComponent(
          "Tests/GraphvizDumpTests/Golden/packing.dg"), encoding: .utf8))
    let graph = ModuleView.graph(module, title: "packed", view: .packing)
    let title = graph.attributes.first { $0.0 == "label" }?.1 ?? ""
    #expect(title.contains("packing: ebatch, 2 lanes, 2 chunks of 4 steps"))
    let chart = label(graph, "packing")
    #expect(chart.components(separatedBy: "BGCOLOR=\"#9e9e9e\"").count == 3)  // two padding cells
    #expect(chart.contains("TOOLTIP=\"a: steps 4–6 of 7&#10;lane 0, chunk 1\""))
    #expect(!(try GraphvizRenderer.render(graph, format: .svg)).isEmpty)
  }

  @Test func bigPackingsAreLimitedAndSaySo() throws {
    var text = "dg 1\ntype l1 = lstm(f32[4], f32[4]) -> f32[4] recurrent\n"
    for i in 0..<100 { text += "instance r\(i) {\n  rnn(l1) steps=50\n}\n" }
    text += "packing strategy=cellular lanes=100 steps=1 {\n"
    for t in 0..<50 {
      text += "  round 1" + (0..<100).map { " | r\($0)@\(t)+1" }.joined() + "\n"
    }
    text += "}\n"
    let module = try DGParser.parse(text, file: "big.dg")
    try Verifier.verify(module, file: "big.dg")
    let picture = try StagePicture.fitted(module, title: "big", view: .packing)
    let title = picture.graph.attributes.first { $0.0 == "label" }?.1 ?? ""
    #expect(title.contains("first 64 of 100 lanes"))
    #expect(picture.width <= StagePicture.maxWidth)
  }

  /// u and w start together; w completes at step 1 and v takes its slot at step 2.
  @Test func slotChartReusesTheSlotOfACompletedInstance() throws {
    let url = repositoryRoot.appendingPathComponent("Tests/GraphvizDumpTests/Golden/slots.dg")
    let m = try parse(String(contentsOf: url, encoding: .utf8))
    let graph = ModuleView.graph(m, title: "slots", view: .packing)
    let title = graph.attributes.first { $0.0 == "label" }?.1 ?? ""
    #expect(title.contains("3 instances over 4 steps, at most 2 in flight"))
    let chart = label(graph, "slots")
    #expect(chart.contains("TOOLTIP=\"u in slot 0, steps 0–3&#10;step 1: runs 1 node\""))
    #expect(chart.contains("TOOLTIP=\"u in slot 0, steps 0–3&#10;step 2: waits\""))
    #expect(chart.contains("TOOLTIP=\"w in slot 1, steps 0–1&#10;step 0: runs 2 nodes\""))
    #expect(chart.contains("TOOLTIP=\"v in slot 1, steps 2–3&#10;step 2: runs 2 nodes\""))
    #expect(chart.components(separatedBy: "<TR>").count - 1 == 2 + 2)
  }
}
