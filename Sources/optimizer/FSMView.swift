import BatchPasses
import GraphvizDump

/// Draws a replayed FSM: states labelled with their ready-type tuples and visit counts, edges
/// labelled with the type run and how often. States the table did not know are dashed.
enum FSMView {
  static func graph(_ replay: FSMReplay) -> DotGraph {
    var graph = DotGraph(name: "fsm")
    graph.attributes = [
      ("rankdir", "LR"), ("fontname", "Helvetica"),
      ("label", "learned FSM (dashed: unseen state, fallback rule)"),
    ]
    graph.nodeDefaults = [
      ("shape", "box"), ("style", "rounded"), ("fontname", "Helvetica"), ("fontsize", "10"),
    ]
    graph.edgeDefaults = [("fontname", "Helvetica"), ("fontsize", "9")]
    for (i, names) in replay.states.enumerated() {
      let style = replay.known[i] ? "rounded" : "rounded,dashed"
      graph.nodes.append(
        DotGraph.Node(
          "s\(i)",
          [
            ("label", "(\(names.joined(separator: ", ")))\\nvisits \(replay.visits[i])"),
            ("style", style),
          ]))
    }
    let ordered = replay.transitions.sorted {
      ($0.key.from, $0.key.to, $0.key.action) < ($1.key.from, $1.key.to, $1.key.action)
    }
    for (transition, count) in ordered {
      graph.edges.append(
        DotGraph.Edge(
          "s\(transition.from)", "s\(transition.to)", [("label", "\(transition.action) x\(count)")])
      )
    }
    return graph
  }
}
