/// A Graphviz graph described in plain Swift values: what a view of the module draws.
/// `GraphvizRenderer` turns it into a cgraph graph and renders it.
public struct DotGraph: Sendable, Equatable {
  public typealias Attributes = [(String, String)]

  public struct Node: Sendable, Equatable {
    public var id: String
    public var attributes: Attributes

    public init(_ id: String, _ attributes: Attributes = []) {
      self.id = id
      self.attributes = attributes
    }

    public static func == (a: Node, b: Node) -> Bool {
      a.id == b.id && a.attributes.elementsEqual(b.attributes, by: ==)
    }
  }

  public struct Edge: Sendable, Equatable {
    public var from: String
    public var to: String
    public var attributes: Attributes

    public init(_ from: String, _ to: String, _ attributes: Attributes = []) {
      self.from = from
      self.to = to
      self.attributes = attributes
    }

    public static func == (a: Edge, b: Edge) -> Bool {
      a.from == b.from && a.to == b.to && a.attributes.elementsEqual(b.attributes, by: ==)
    }
  }

  /// A subgraph: a `cluster_…` draws a box; others can hold `rank=same`.
  public struct Subgraph: Sendable, Equatable {
    public var name: String
    public var attributes: Attributes
    public var nodes: [Node]

    public init(_ name: String, _ attributes: Attributes = [], nodes: [Node] = []) {
      self.name = name
      self.attributes = attributes
      self.nodes = nodes
    }

    public static func == (a: Subgraph, b: Subgraph) -> Bool {
      a.name == b.name && a.attributes.elementsEqual(b.attributes, by: ==) && a.nodes == b.nodes
    }
  }

  public var name: String
  public var attributes: Attributes = []
  public var nodeDefaults: Attributes = []
  public var edgeDefaults: Attributes = []
  public var nodes: [Node] = []
  public var subgraphs: [Subgraph] = []
  public var edges: [Edge] = []

  public init(name: String) {
    self.name = name
  }

  public static func == (a: DotGraph, b: DotGraph) -> Bool {
    a.name == b.name && a.attributes.elementsEqual(b.attributes, by: ==)
      && a.nodeDefaults.elementsEqual(b.nodeDefaults, by: ==)
      && a.edgeDefaults.elementsEqual(b.edgeDefaults, by: ==)
      && a.nodes == b.nodes && a.subgraphs == b.subgraphs && a.edges == b.edges
  }

  public var nodeCount: Int { nodes.count + subgraphs.reduce(0) { $0 + $1.nodes.count } }
}

/// Escapes text for a Graphviz HTML-like label.
public func htmlEscaped(_ text: String) -> String {
  var out = ""
  for character in text {
    switch character {
    case "&": out += "&amp;"
    case "<": out += "&lt;"
    case ">": out += "&gt;"
    case "\"": out += "&quot;"
    default: out.append(character)
    }
  }
  return out
}
