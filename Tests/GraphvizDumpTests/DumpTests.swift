import BatchIR
import Foundation
import GraphvizDump
import TestSupport
import Testing
import Workloads

@Suite struct DumpTests {
  func module(_ family: WorkloadFamily, instances: Int) -> Module {
    var options = WorkloadOptions()
    options.instances = instances
    return WorkloadGenerator.generate(family, options: options)
  }

  @Test func inputViewHasClustersColoursAndLegend() throws {
    let m = module(.treeLSTM, instances: 2)
    let graph = ModuleView.graph(m, title: "tree")
    #expect(graph.subgraphs.map(\.name) == ["cluster_0", "cluster_1"])
    #expect(graph.nodes.first?.id == "legend")
    #expect(graph.nodeCount == m.nodeCount + 1)
    let dot = String(decoding: try GraphvizRenderer.dot(graph), as: UTF8.self)
    #expect(dot.hasPrefix("digraph dataflow {"))
    #expect(dot.contains("subgraph cluster_0"))
    #expect(dot.contains(ModuleView.color(ofType: 1)))
    let svg = String(decoding: try GraphvizRenderer.render(graph, format: .svg), as: UTF8.self)
    #expect(svg.contains("<svg"))
    #expect(svg.contains("op types"))
  }

  @Test func scheduledViewHasOneRowPerBatch() throws {
    var m = module(.bilstmTagger, instances: 1)
    var schedule = Schedule(policy: "test")
    for n in 0..<m.nodeCount { schedule.append(type: m.type(of: n), nodes: [Int32(n)]) }
    m.schedule = schedule
    let graph = ModuleView.graph(m, title: "s")
    #expect(graph.subgraphs.count == m.nodeCount)
    #expect(graph.subgraphs[3].attributes.contains { $0 == ("rank", "same") })
    #expect(
      graph.subgraphs[3].nodes[1].attributes.contains { $0.0 == "label" && $0.1.hasSuffix("\\nb3") }
    )
    let png = try GraphvizRenderer.render(graph, format: .png)
    #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
  }

  /// After `pq-layout`: the arena strip in offset order, one gather edge per scattered source,
  /// and the gathered operand edges marked in the batch rows.
  @Test func layoutViewDrawsTheArenaAndGathers() throws {
    let url = repositoryRoot.appendingPathComponent("passes/pq-layout/tree-gathers.expected.dg")
    let m = try parse(String(contentsOf: url, encoding: .utf8))
    let graph = ModuleView.graph(m, title: "layout")
    let arena = try #require(graph.nodes.first { $0.id == "arena" })
    let label = try #require(arena.attributes.first { $0.0 == "label" }?.1)
    #expect(label.contains("arena: 640 bytes, align 64, 1 gathers, 128 bytes copied"))
    // Offsets order the cells: %a (0), %y (64), %b (128), …; the nodes of batch 0 share a colour.
    let ports = label.components(separatedBy: "PORT=\"").dropFirst().map {
      $0.prefix { $0 != "\"" }
    }
    #expect(ports == ["t0", "t6", "t1", "t7", "t2", "t5", "t3", "t8", "t9", "t4"])
    // Batch 2 (%xyz, %abc) gathers slot 1: %yz (node 8), then %c (node 2).
    let gathers = graph.edges.filter { $0.from == "arena" }
    #expect(gathers.map(\.to) == ["b2", "b2"])
    #expect(gathers.map { $0.attributes.first { $0.0 == "tailport" }?.1 } == ["t8", "t2"])
    let marked = graph.edges.filter { $0.attributes.contains { $0 == ("label", "gather 1") } }
    #expect(marked.map { "\($0.from)->\($0.to)" } == ["n2->n4", "n8->n9"])
    let svg = String(decoding: try GraphvizRenderer.render(graph, format: .svg), as: UTF8.self)
    #expect(svg.contains("128 bytes copied"))
  }

  @Test func collapsedLayoutViewDrawsBatchBlocks() throws {
    var m = module(.treeLSTM, instances: 60)
    #expect(m.nodeCount > ModuleView.defaultNodeLimit)
    var schedule = Schedule(policy: "test")
    for n in 0..<m.nodeCount { schedule.append(type: m.type(of: n), nodes: [Int32(n)]) }
    m.schedule = schedule
    let offsets = (0..<m.nodeCount).map { Int64($0) * 1024 }
    m.layout = MemoryLayout(alignment: 64, offsets: offsets, gathers: [])
    let graph = ModuleView.graph(m, title: "big")
    let arena = try #require(graph.nodes.first { $0.id == "arena" })
    let label = try #require(arena.attributes.first { $0.0 == "label" }?.1)
    #expect(label.contains("first \(ModuleView.collapsedItemLimit) batches"))
    #expect(label.components(separatedBy: "PORT=").count == ModuleView.collapsedItemLimit + 1)
  }

  @Test func bigGraphsAreCollapsedAndSaySo() throws {
    let m = module(.rnnServing, instances: 400)
    #expect(m.nodeCount > ModuleView.defaultNodeLimit)
    let graph = ModuleView.graph(m, title: "big")
    let label = graph.attributes.first { $0.0 == "label" }?.1 ?? ""
    #expect(label.contains("collapsed: \(m.nodeCount) nodes exceed the limit"))
    #expect(label.contains("first \(ModuleView.collapsedItemLimit) of 400 instances"))
    #expect(graph.nodeCount <= ModuleView.collapsedItemLimit * 2 + 1)
    let svg = try GraphvizRenderer.render(graph, format: .svg)
    #expect(!svg.isEmpty)
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
}

/// The lanes × time chart after `ebatch-pack`.
@Suite struct PackingViewTests {
  static let packed = """
    dg 1
    type l1 = lstm(f32[4], f32[4]) -> f32[4] recurrent
    instance a {
      rnn(l1) steps=7
    }
    instance b {
      rnn(l1) steps=2
    }
    packing strategy=ebatch lanes=2 steps=4 {
      round 4 | a@0+4 | b@0+2 _+2
      round 4 | a@4+3 _+1
    }
    """

  @Test func chartHasOneRowPerLaneAndGreyPadding() throws {
    let module = try DGParser.parse(Self.packed, file: "p.dg")
    let graph = ModuleView.graph(module, title: "packed")
    let node = try #require(graph.nodes.first { $0.id == "packing" })
    let label = node.attributes.first { $0.0 == "label" }?.1 ?? ""
    #expect(label.contains("packing: ebatch, 2 lanes, 2 chunks of 4 steps"))
    #expect(label.contains("chunk 1: 4 steps"))
    #expect(label.components(separatedBy: "BGCOLOR=\"#9e9e9e\"").count == 3)  // two padding cells
    #expect(label.contains("a 4–6"))
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
    let graph = ModuleView.graph(module, title: "big")
    let label =
      graph.nodes.first { $0.id == "packing" }?.attributes.first { $0.0 == "label" }?.1 ?? ""
    #expect(label.contains("first 64 of 100 lanes"))
  }
}
