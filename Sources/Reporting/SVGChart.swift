import Foundation

/// A small SVG chart writer for the results page: grouped bars and x–y lines, with axes, ticks,
/// a legend and a title. Charts are plain text (diffable, viewable in any browser, rendered by
/// GitHub), need no library, and come out byte-identical for the same data.
///
/// Graphviz draws the diagrams (dataflow, arena, lanes × time); it has no notion of axes, so
/// charts get this writer instead of a plotting library that would pull in a runtime.
public struct SVGChart {
  /// One named series: a value per category (bars) or a list of points (lines).
  public struct Series: Sendable {
    public var name: String
    public var values: [Double]
    public var points: [(x: Double, y: Double)]
    /// A label written next to each point (lines only), or none.
    public var labels: [String]

    public init(name: String, values: [Double]) {
      self.name = name
      self.values = values
      self.points = []
      self.labels = []
    }

    public init(name: String, points: [(x: Double, y: Double)], labels: [String] = []) {
      self.name = name
      self.values = []
      self.points = points
      self.labels = labels
    }
  }

  public var title: String
  public var xLabel: String
  public var yLabel: String
  public var width = 880.0
  public var height = 420.0
  /// A horizontal reference line (for example y = 1, the lower bound), drawn dashed.
  public var referenceY: Double?

  /// ColorBrewer Dark2, cycled.
  static let colors = [
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
  ]

  public init(title: String, xLabel: String, yLabel: String) {
    self.title = title
    self.xLabel = xLabel
    self.yLabel = yLabel
  }

  // Plot area margins.
  private let left = 70.0
  private let right = 170.0
  private let top = 40.0
  private let bottom = 90.0

  /// Grouped bars: one group per category, one bar per series.
  public func bars(categories: [String], series: [Series]) -> String {
    let maximum = max(
      series.flatMap(\.values).filter { $0.isFinite }.max() ?? 1, referenceY ?? 0)
    let scale = Self.niceScale(0, maximum)
    var body = axes(yScale: scale)
    let plotWidth = width - left - right
    let group = plotWidth / Double(max(categories.count, 1))
    let barWidth = group * 0.8 / Double(max(series.count, 1))
    for (c, category) in categories.enumerated() {
      let x0 = left + Double(c) * group + group * 0.1
      for (s, item) in series.enumerated() where c < item.values.count && item.values[c].isFinite {
        let value = item.values[c]
        let y = yPosition(value, scale)
        body += rect(
          x: x0 + Double(s) * barWidth, y: y, width: barWidth, height: top + plotHeight - y,
          fill: Self.colors[s % Self.colors.count],
          tooltip: "\(item.name), \(category): \(format(value))")
      }
      let labelX = x0 + group * 0.4
      let labelY = top + plotHeight + 12
      body +=
        "<text x=\"\(format(labelX))\" y=\"\(format(labelY))\" font-size=\"10\" text-anchor=\"end\" transform=\"rotate(-35 \(format(labelX)) \(format(labelY)))\">\(escaped(category))</text>\n"
    }
    body += reference(scale)
    body += legend(series.map(\.name), lines: false)
    return document(body)
  }

  /// Lines through each series' points in the order given (so a parameter sweep reads along the
  /// line), with a marker and the point's label at every point.
  public func lines(series: [Series], xLog: Bool = false) -> String {
    let xs = series.flatMap { $0.points.map(\.x) }
    let ys = series.flatMap { $0.points.map(\.y) }
    let yScale = Self.niceScale(0, max(ys.max() ?? 1, referenceY ?? 0))
    let xMin = xs.min() ?? 0
    let xMax = max(xs.max() ?? 1, xMin + 1e-12)
    let plotWidth = width - left - right
    func xPosition(_ x: Double) -> Double {
      let fraction =
        xLog && xMin > 0
        ? (log(x) - log(xMin)) / max(log(xMax) - log(xMin), 1e-12)
        : (x - xMin) / (xMax - xMin)
      return left + fraction * plotWidth
    }
    var body = axes(yScale: yScale)
    for tick in 0...4 {
      let x =
        xLog && xMin > 0
        ? exp(log(xMin) + (log(xMax) - log(xMin)) * Double(tick) / 4)
        : xMin + (xMax - xMin) * Double(tick) / 4
      body +=
        "<text x=\"\(format(xPosition(x)))\" y=\"\(format(top + plotHeight + 16))\" font-size=\"10\" text-anchor=\"middle\">\(format(x))</text>\n"
    }
    for (s, item) in series.enumerated() {
      let color = Self.colors[s % Self.colors.count]
      let points = item.points
      let path = points.map { "\(format(xPosition($0.x))),\(format(yPosition($0.y, yScale)))" }
      body +=
        "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(path.joined(separator: " "))\"/>\n"
      for (i, point) in points.enumerated() {
        let (x, y) = (xPosition(point.x), yPosition(point.y, yScale))
        body +=
          "<circle cx=\"\(format(x))\" cy=\"\(format(y))\" r=\"3.5\" fill=\"\(color)\"><title>\(escaped(item.name)): (\(format(point.x)), \(format(point.y)))</title></circle>\n"
        if i < item.labels.count {
          body +=
            "<text x=\"\(format(x + 5))\" y=\"\(format(y - 5))\" font-size=\"9\" fill=\"\(color)\">\(escaped(item.labels[i]))</text>\n"
        }
      }
    }
    body += reference(yScale)
    body += legend(series.map(\.name), lines: true)
    return document(body)
  }

  // MARK: - Pieces

  private var plotHeight: Double { height - top - bottom }

  private func yPosition(_ value: Double, _ scale: (low: Double, high: Double, step: Double))
    -> Double
  {
    top + plotHeight * (1 - (value - scale.low) / (scale.high - scale.low))
  }

  private func axes(yScale scale: (low: Double, high: Double, step: Double)) -> String {
    var text =
      "<text x=\"\(format(width / 2))\" y=\"22\" font-size=\"15\" text-anchor=\"middle\" font-weight=\"bold\">\(escaped(title))</text>\n"
    var tick = scale.low
    while tick <= scale.high + scale.step / 2 {
      let y = yPosition(tick, scale)
      text +=
        "<line x1=\"\(format(left))\" y1=\"\(format(y))\" x2=\"\(format(width - right))\" y2=\"\(format(y))\" stroke=\"#e5e5e5\"/>\n"
      text +=
        "<text x=\"\(format(left - 6))\" y=\"\(format(y + 3))\" font-size=\"10\" text-anchor=\"end\">\(format(tick))</text>\n"
      tick += scale.step
    }
    text +=
      "<line x1=\"\(format(left))\" y1=\"\(format(top))\" x2=\"\(format(left))\" y2=\"\(format(top + plotHeight))\" stroke=\"#333\"/>\n"
    text +=
      "<line x1=\"\(format(left))\" y1=\"\(format(top + plotHeight))\" x2=\"\(format(width - right))\" y2=\"\(format(top + plotHeight))\" stroke=\"#333\"/>\n"
    text +=
      "<text x=\"16\" y=\"\(format(top + plotHeight / 2))\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(format(top + plotHeight / 2)))\">\(escaped(yLabel))</text>\n"
    text +=
      "<text x=\"\(format(left + (width - left - right) / 2))\" y=\"\(format(height - 8))\" font-size=\"12\" text-anchor=\"middle\">\(escaped(xLabel))</text>\n"
    return text
  }

  private func reference(_ scale: (low: Double, high: Double, step: Double)) -> String {
    guard let referenceY else { return "" }
    let y = yPosition(referenceY, scale)
    return
      "<line x1=\"\(format(left))\" y1=\"\(format(y))\" x2=\"\(format(width - right))\" y2=\"\(format(y))\" stroke=\"#000\" stroke-dasharray=\"5,4\"/>\n"
  }

  private func legend(_ names: [String], lines: Bool) -> String {
    var text = ""
    for (s, name) in names.enumerated() {
      let y = top + 8 + Double(s) * 18
      let x = width - right + 14
      let color = Self.colors[s % Self.colors.count]
      text +=
        lines
        ? "<line x1=\"\(format(x))\" y1=\"\(format(y))\" x2=\"\(format(x + 14))\" y2=\"\(format(y))\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
        : rect(x: x, y: y - 6, width: 14, height: 10, fill: color, tooltip: name)
      text +=
        "<text x=\"\(format(x + 20))\" y=\"\(format(y + 4))\" font-size=\"11\">\(escaped(name))</text>\n"
    }
    return text
  }

  private func rect(
    x: Double, y: Double, width: Double, height: Double, fill: String, tooltip: String
  ) -> String {
    "<rect x=\"\(format(x))\" y=\"\(format(y))\" width=\"\(format(width))\" height=\"\(format(max(height, 0)))\" fill=\"\(fill)\"><title>\(escaped(tooltip))</title></rect>\n"
  }

  private func document(_ body: String) -> String {
    """
    <svg xmlns="http://www.w3.org/2000/svg" width="\(format(width))" height="\(format(height))" \
    viewBox="0 0 \(format(width)) \(format(height))" font-family="Helvetica, Arial, sans-serif">
    <rect width="100%" height="100%" fill="white"/>
    \(body)</svg>

    """
  }

  /// Axis range and tick step: 1, 2 or 5 times a power of ten, about five ticks.
  static func niceScale(_ low: Double, _ high: Double) -> (low: Double, high: Double, step: Double)
  {
    let span = max(high - low, 1e-12)
    let raw = span / 5
    let magnitude = pow(10, floor(log10(raw)))
    let step = [1.0, 2.0, 5.0, 10.0].map { $0 * magnitude }.first { $0 >= raw } ?? raw
    return (floor(low / step) * step, ceil(high / step) * step, step)
  }

  /// Numbers with at most four significant digits, no trailing zeros.
  func format(_ value: Double) -> String {
    if value == value.rounded() && abs(value) < 1e15 { return String(Int(value)) }
    var text = String(format: "%.4g", value)
    if text.contains("."), !text.contains("e") {
      while text.hasSuffix("0") { text.removeLast() }
      if text.hasSuffix(".") { text.removeLast() }
    }
    return text
  }

  private func escaped(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;")
  }
}
