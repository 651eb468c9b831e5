import Foundation

/// `index.html` of a dump folder: one self-contained page (no network, no files it needs) with
/// every stage's SVG inline in pipeline order, the stage's statistics beside it, the pipeline
/// text, and previous/next links (the arrow keys too). It opens from disk in any browser.
public struct DumpPage: Sendable {
  /// One stage of the pipeline: the dump's file stem (`01-fsm-batch`), its title, its SVG, and
  /// its statistics as name–value text.
  public struct Stage: Sendable {
    public var stem: String
    public var title: String
    public var svg: [UInt8]
    public var statistics: [(name: String, value: String)]

    public init(
      stem: String, title: String, svg: [UInt8], statistics: [(name: String, value: String)]
    ) {
      self.stem = stem
      self.title = title
      self.svg = svg
      self.statistics = statistics
    }
  }

  public var title: String
  public var pipeline: String
  public var stages: [Stage] = []
  /// The picture format of the dump files, for the links beside each stage.
  public var format: DumpFormat

  public init(title: String, pipeline: String, format: DumpFormat) {
    self.title = title
    self.pipeline = pipeline
    self.format = format
  }

  /// The page as UTF-8 bytes.
  public func html() -> [UInt8] {
    var out = """
      <!DOCTYPE html>
      <html lang="en">
      <head>
      <meta charset="utf-8">
      <title>\(escaped(title))</title>
      <style>
      body { font-family: Helvetica, Arial, sans-serif; margin: 0; color: #222; }
      header { padding: 12px 20px; border-bottom: 1px solid #ccc; background: #f7f7f7; }
      header h1 { font-size: 20px; margin: 0 0 6px 0; }
      code { background: #eee; padding: 1px 4px; }
      nav a, .bar a { margin-right: 12px; }
      section { padding: 12px 20px; border-bottom: 1px solid #ccc; }
      section h2 { font-size: 17px; margin: 0; display: inline; margin-right: 16px; }
      .bar { margin-bottom: 8px; }
      .body { display: flex; align-items: flex-start; gap: 20px; }
      .picture { overflow: auto; max-width: calc(100vw - 360px); border: 1px solid #ddd; }
      aside { min-width: 260px; font-size: 13px; position: sticky; top: 8px; }
      aside table { border-collapse: collapse; }
      aside td { padding: 2px 8px 2px 0; border-bottom: 1px solid #eee; }
      aside td.v { text-align: right; font-variant-numeric: tabular-nums; }
      .off { color: #aaa; }
      </style>
      </head>
      <body>
      <header>
      <h1>\(escaped(title))</h1>
      <div>pipeline: <code>\(escaped(pipeline.isEmpty ? "(no passes)" : pipeline))</code></div>
      <nav>stages:
      """
    for stage in stages {
      out += " <a href=\"#\(anchor(stage))\">\(escaped(stage.stem))</a>"
    }
    out +=
      "</nav>\n<div>hover over a node or a cell for its details; ← and → move between stages</div>\n</header>\n"
    for (k, stage) in stages.enumerated() {
      let previous = k > 0 ? anchor(stages[k - 1]) : nil
      let next = k + 1 < stages.count ? anchor(stages[k + 1]) : nil
      out += "<section id=\"\(anchor(stage))\""
      if let previous { out += " data-previous=\"\(previous)\"" }
      if let next { out += " data-next=\"\(next)\"" }
      out += ">\n<div class=\"bar\">"
      out += link(previous, "← previous")
      out += "<h2>\(escaped(stage.stem)): \(escaped(stage.title))</h2>"
      out += link(next, "next →")
      for ext in [format.rawValue, "dot", "dg"] {
        out += "<a href=\"\(escaped(stage.stem)).\(ext)\">.\(ext)</a>"
      }
      out += "</div>\n<div class=\"body\">\n<div class=\"picture\">\n"
      out += inlineSVG(stage.svg)
      out += "\n</div>\n<aside><table>\n"
      for (name, value) in stage.statistics {
        out += "<tr><td>\(escaped(name))</td><td class=\"v\">\(escaped(value))</td></tr>\n"
      }
      out += "</table></aside>\n</div>\n</section>\n"
    }
    out += """
      <script>
      document.addEventListener("keydown", function (event) {
        var key = event.key === "ArrowRight" ? "next" : event.key === "ArrowLeft" ? "previous" : null;
        if (key === null) { return; }
        var sections = document.querySelectorAll("section");
        var current = document.getElementById(location.hash.slice(1)) || sections[0];
        if (!current) { return; }
        var target = current.getAttribute("data-" + key);
        if (target) { location.hash = target; }
      });
      </script>
      </body>
      </html>

      """
    return Array(out.utf8)
  }

  private func anchor(_ stage: Stage) -> String { "stage-" + escaped(stage.stem) }

  private func link(_ target: String?, _ text: String) -> String {
    guard let target else { return "<span class=\"off\">\(text)</span> " }
    return "<a href=\"#\(target)\">\(text)</a>"
  }

  /// The SVG from its root element on (the XML prolog and DOCTYPE are not allowed inline).
  private func inlineSVG(_ svg: [UInt8]) -> String {
    let text = String(decoding: svg, as: UTF8.self)
    guard let root = text.range(of: "<svg") else { return "<p>(no picture)</p>" }
    return String(text[root.lowerBound...])
  }

  private func escaped(_ text: String) -> String { htmlEscaped(text) }
}
