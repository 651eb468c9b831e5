/// Makes Graphviz's SVG tooltips show in every browser. Graphviz writes a tooltip as the
/// `xlink:title` of an `<a>` element, which browsers do not all show, and a table cell's tooltip
/// only on a link (`ModuleView.tooltipAnchor`). This copies every `xlink:title` into a `<title>`
/// child of its `<a>`, the SVG way to say "show this on hover", and drops the placeholder link.
/// It also drops the ids of the groups around links (`a_node1_7`): Graphviz numbers table-cell
/// links with a counter that runs across renders, so they would differ from run to run.
enum SVGTooltips {
  private static let anchorGroup = Array("<g id=\"a_".utf8)
  private static let anchorOpen = Array("<a ".utf8)
  private static let titleAttribute = Array("xlink:title=\"".utf8)
  private static let placeholder = Array(" xlink:href=\"\(ModuleView.tooltipAnchor)\"".utf8)

  static func withTitles(_ svg: [UInt8]) -> [UInt8] {
    titlesAdded(anchorGroupIDsDropped(svg))
  }

  private static func anchorGroupIDsDropped(_ svg: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(svg.count)
    var i = 0
    while let start = find(anchorGroup, in: svg, from: i) {
      guard let end = svg[start...].firstIndex(of: UInt8(ascii: ">")) else { break }
      out += svg[i..<start]
      out += Array("<g>".utf8)
      i = end + 1
    }
    out += svg[i...]
    return out
  }

  private static func titlesAdded(_ svg: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(svg.count + svg.count / 8)
    var i = 0
    while let start = find(anchorOpen, in: svg, from: i) {
      guard let end = svg[start...].firstIndex(of: UInt8(ascii: ">")) else { break }
      out += svg[i..<start]
      var tag = Array(svg[start...end])
      if let href = find(placeholder, in: tag, from: 0) {
        tag.removeSubrange(href..<(href + placeholder.count))
      }
      out += tag
      if let attribute = find(titleAttribute, in: tag, from: 0) {
        let valueStart = attribute + titleAttribute.count
        if let valueEnd = tag[valueStart...].firstIndex(of: UInt8(ascii: "\"")) {
          out += Array("<title>".utf8) + tag[valueStart..<valueEnd] + Array("</title>".utf8)
        }
      }
      i = end + 1
    }
    out += svg[i...]
    return out
  }

  /// The first index at or after `from` where `pattern` starts in `bytes`.
  private static func find(_ pattern: [UInt8], in bytes: [UInt8], from: Int) -> Int? {
    guard let first = pattern.first, bytes.count >= pattern.count else { return nil }
    var i = from
    while i <= bytes.count - pattern.count {
      if bytes[i] == first && bytes[i..<(i + pattern.count)].elementsEqual(pattern) { return i }
      i += 1
    }
    return nil
  }
}
