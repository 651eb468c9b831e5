import CGraphviz
import Foundation

/// Output formats of the renderer.
public enum DumpFormat: String, CaseIterable, Sendable {
  case svg, png
}

/// Builds a cgraph graph from a `DotGraph` and writes it as DOT (cgraph's `agwrite`) or lays it
/// out with `dot` and renders SVG/PNG through gvc. Graphviz is not thread-safe, so every call
/// into it holds one process-wide lock.
public enum GraphvizRenderer {
  private static let lock = NSLock()

  /// One gvc context for the whole process, created on first use and never freed. Graphviz 2.42's
  /// pango plugin caches a pointer to the last font name, which lives in the context's font
  /// table: freeing the context between renders leaves that pointer dangling (AddressSanitizer
  /// finds the use-after-free on the second render). Only touched while `lock` is held.
  nonisolated(unsafe) private static var sharedContext: OpaquePointer?

  public struct RenderError: Error, CustomStringConvertible {
    public var description: String
  }

  /// The graph as DOT text, written by cgraph.
  public static func dot(_ graph: DotGraph) throws(RenderError) -> [UInt8] {
    try withGraph(graph) { (g, _) throws(RenderError) -> [UInt8] in
      var buffer: UnsafeMutablePointer<CChar>?
      var size = 0
      guard let stream = open_memstream(&buffer, &size) else {
        throw RenderError(description: "open_memstream failed")
      }
      let status = agwrite(g, UnsafeMutableRawPointer(stream))
      fclose(stream)
      defer { free(buffer) }
      guard status == 0, let buffer else { throw RenderError(description: "agwrite failed") }
      return Array(UnsafeRawBufferPointer(start: buffer, count: size))
    }
  }

  /// The graph laid out with `dot` and rendered as SVG or PNG by gvc. SVG tooltips are also
  /// written as `<title>` elements (see `SVGTooltips`).
  public static func render(_ graph: DotGraph, format: DumpFormat) throws(RenderError) -> [UInt8] {
    let bytes = try rendered(graph, format: format)
    return format == .svg ? SVGTooltips.withTitles(bytes) : bytes
  }

  private static func rendered(_ graph: DotGraph, format: DumpFormat) throws(RenderError)
    -> [UInt8]
  {
    try withGraph(graph) { (g, gvc) throws(RenderError) -> [UInt8] in
      guard gvLayout(gvc, g, "dot") == 0 else {
        throw RenderError(description: "Graphviz could not lay out the graph")
      }
      defer { gvFreeLayout(gvc, g) }
      var result: UnsafeMutablePointer<CChar>?
      var length: UInt32 = 0
      guard gvRenderData(gvc, g, format.rawValue, &result, &length) == 0, let result else {
        throw RenderError(description: "Graphviz could not render \(format.rawValue)")
      }
      defer { gvFreeRenderData(result) }
      return Array(UnsafeRawBufferPointer(start: result, count: Int(length)))
    }
  }

  private static func withGraph<T>(
    _ graph: DotGraph,
    _ body: (UnsafeMutablePointer<Agraph_t>, OpaquePointer) throws(RenderError) -> T
  ) throws(RenderError) -> T {
    lock.lock()
    defer { lock.unlock() }
    // Errors are kept (not printed) and turned into a thrown error: a label Graphviz cannot
    // parse would otherwise be drawn as its node's name, with a note on stderr.
    _ = agseterr(AGMAX)
    _ = agreseterrors()
    if sharedContext == nil { sharedContext = gvContext() }
    guard let gvc = sharedContext else {
      throw RenderError(description: "Graphviz context could not be created")
    }
    let pool = StringPool()
    defer { pool.release() }
    func mutable(_ text: String) -> UnsafeMutablePointer<CChar> { pool.intern(text) }
    /// Sets an attribute; values written `<…>` are HTML-like labels.
    func set(_ object: UnsafeMutableRawPointer, _ key: String, _ value: String) {
      if value.hasPrefix("<") && value.hasSuffix(">") {
        let handle = agstrdup_html(agraphof(object), mutable(String(value.dropFirst().dropLast())))
        _ = agsafeset(object, mutable(key), handle, mutable(""))
        agstrfree(agraphof(object), handle)
      } else {
        _ = agsafeset(object, mutable(key), mutable(value), mutable(""))
      }
    }
    guard let g = cgraphviz_open_directed(mutable(graph.name)) else {
      throw RenderError(description: "Graphviz could not create a graph")
    }
    defer { agclose(g) }
    for (key, value) in graph.attributes { set(g, key, value) }
    for (key, value) in graph.nodeDefaults {
      _ = agattr(g, Int32(AGNODE), mutable(key), mutable(value))
    }
    for (key, value) in graph.edgeDefaults {
      _ = agattr(g, Int32(AGEDGE), mutable(key), mutable(value))
    }
    var nodes: [String: UnsafeMutablePointer<Agnode_t>] = [:]
    func addNode(_ node: DotGraph.Node, to parent: UnsafeMutablePointer<Agraph_t>) {
      guard let n = agnode(parent, mutable(node.id), 1) else { return }
      nodes[node.id] = n
      for (key, value) in node.attributes { set(n, key, value) }
    }
    for node in graph.nodes { addNode(node, to: g) }
    for subgraph in graph.subgraphs {
      guard let s = agsubg(g, mutable(subgraph.name), 1) else { continue }
      for (key, value) in subgraph.attributes { set(s, key, value) }
      for node in subgraph.nodes { addNode(node, to: s) }
    }
    for edge in graph.edges {
      guard let from = nodes[edge.from], let to = nodes[edge.to],
        let e = agedge(g, from, to, nil, 1)
      else { continue }
      for (key, value) in edge.attributes { set(e, key, value) }
    }
    let result = try body(g, gvc)
    if agerrors() >= Int32(AGERR.rawValue) {
      let message = aglasterr().map { String(cString: $0) } ?? "unknown error"
      throw RenderError(
        description: message.trimmingCharacters(in: .whitespacesAndNewlines)
          .replacingOccurrences(of: "\n", with: " "))
    }
    return result
  }
}

/// C strings handed to cgraph (which copies what it keeps) during one render; freed after it.
/// Keyed by UTF-8 bytes: hashing a `String` normalizes non-ASCII text, which we keep off this path.
private final class StringPool {
  private var strings: [[UInt8]: UnsafeMutablePointer<CChar>] = [:]

  func intern(_ text: String) -> UnsafeMutablePointer<CChar> {
    let key = Array(text.utf8)
    if let pointer = strings[key] { return pointer }
    let pointer = strdup(text)!
    strings[key] = pointer
    return pointer
  }

  func release() {
    for pointer in strings.values { free(pointer) }
    strings = [:]
  }
}
