import BatchIR
import Foundation

/// One stage's picture, laid out so a person can read it at 100% zoom: at most `maxWidth`
/// points wide (2,500 px at 96 px per inch). The input view tries the dataflow top to bottom,
/// then left to right, then with its instances one below the other, then collapsed; any picture still too wide is scaled down to fit (Graphviz
/// `size`), and the title says so.
public struct StagePicture: Sendable {
  /// 2,500 px at 100% zoom: an SVG point is 4/3 px.
  public static let maxWidth = 1875.0

  /// The graph drawn (what the `.dot` file holds).
  public var graph: DotGraph
  /// Its SVG rendering.
  public var svg: [UInt8]
  /// The SVG's width in points.
  public var width: Double

  /// Lays out `module` in `view`; `id` prefixes the SVG's element ids (so several pictures can
  /// share one HTML page).
  public static func fitted(
    _ module: Module, title: String, view: DumpView, nodeLimit: Int = ModuleView.defaultNodeLimit,
    id: String? = nil
  ) throws(GraphvizRenderer.RenderError) -> StagePicture {
    let limitNote =
      module.nodeCount > nodeLimit
      ? "collapsed: \(module.nodeCount) nodes exceed the limit of \(nodeLimit)" : nil
    var candidates: [(collapse: String?, rankdir: String, stacked: Bool)] = [
      (limitNote, "TB", false)
    ]
    if view == .input {
      candidates.append((limitNote, "LR", false))
      if limitNote == nil {
        let note = "collapsed: too wide to draw node by node"
        candidates += [(nil, "TB", true), (note, "TB", false), (note, "LR", false)]
      }
    }
    var picture: StagePicture?
    for candidate in candidates {
      var graph = ModuleView.graph(
        module, title: title, view: view, collapse: candidate.collapse,
        rankdir: candidate.rankdir, stacked: candidate.stacked)
      if let id { graph.attributes.append(("id", id)) }
      let svg = try GraphvizRenderer.render(graph, format: .svg)
      let drawn = StagePicture(graph: graph, svg: svg, width: svgWidth(svg) ?? .infinity)
      if drawn.width <= maxWidth { return drawn }
      if picture == nil || drawn.width < picture?.width ?? .infinity { picture = drawn }
    }
    guard var widest = picture else {
      throw GraphvizRenderer.RenderError(description: "no picture to draw")
    }
    // Too wide every way: scale the narrowest down (Graphviz `size` is in inches).
    widest.graph.attributes += [("size", "\(Int(maxWidth) / 72),1000")]
    if let index = widest.graph.attributes.firstIndex(where: { $0.0 == "label" }) {
      widest.graph.attributes[index].1 += "\\n(scaled down to fit 2,500 px)"
    }
    widest.svg = try GraphvizRenderer.render(widest.graph, format: .svg)
    widest.width = svgWidth(widest.svg) ?? .infinity
    return widest
  }

  /// The `width="…pt"` of an SVG's root element.
  public static func svgWidth(_ svg: [UInt8]) -> Double? {
    let head = String(decoding: svg.prefix(2000), as: UTF8.self)
    guard let root = head.range(of: "<svg"),
      let attribute = head.range(of: "width=\"", range: root.upperBound..<head.endIndex)
    else { return nil }
    let digits = head[attribute.upperBound...].prefix { $0.isNumber || $0 == "." }
    return Double(digits)
  }
}
