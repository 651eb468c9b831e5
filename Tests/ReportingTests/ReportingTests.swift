import Foundation
import Reporting
import Testing

@Suite struct SVGChartTests {
  @Test func barsDrawOneRectPerValueAndALegend() {
    var chart = SVGChart(title: "t", xLabel: "x", yLabel: "y")
    chart.referenceY = 1
    let svg = chart.bars(
      categories: ["a", "b", "c"],
      series: [.init(name: "one", values: [1, 2, 3]), .init(name: "two", values: [0.5, 1, 1.5])])
    #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
    #expect(svg.hasSuffix("</svg>\n"))
    // 6 bars + 2 legend swatches + the white background.
    #expect(svg.components(separatedBy: "<rect ").count - 1 == 6 + 2 + 1)
    #expect(svg.contains("<title>two, c: 1.5</title>"))
    #expect(svg.contains("stroke-dasharray"))
    // Same data, same bytes.
    #expect(
      svg
        == chart.bars(
          categories: ["a", "b", "c"],
          series: [
            .init(name: "one", values: [1, 2, 3]), .init(name: "two", values: [0.5, 1, 1.5]),
          ]))
  }

  @Test func linesKeepTheGivenOrderAndLabelPoints() {
    let chart = SVGChart(title: "t", xLabel: "x", yLabel: "y")
    let svg = chart.lines(
      series: [.init(name: "s", points: [(x: 4, y: 1), (x: 1, y: 2)], labels: ["N=1", "N=2"])])
    #expect(svg.components(separatedBy: "<circle ").count - 1 == 2)
    let polyline = svg.components(separatedBy: "points=\"")[1].prefix { $0 != "\"" }
    let xs = polyline.split(separator: " ").map { Double($0.split(separator: ",")[0])! }
    #expect(xs.count == 2 && xs[0] > xs[1])
    #expect(svg.contains(">N=1</text>") && svg.contains(">N=2</text>"))
  }
}

@Suite struct RegressionGuardTests {
  @Test func worseFiguresAreRegressions() throws {
    let baseline = try RegressionGuard.parseBaseline(
      "# comment\ng0 fsm_batches 28\ng0 bytes_copied 100\ng1 fsm_batches 5\n", file: "b.txt")
    let measured: [RegressionGuard.Figure] = [
      .init(graph: "g0", metric: "fsm_batches", value: 29),
      .init(graph: "g0", metric: "bytes_copied", value: 90),
    ]
    let (regressions, improvements) = RegressionGuard.compare(measured, baseline: baseline)
    #expect(
      regressions == [
        "g0 fsm_batches: 29, worse than the baseline 28",
        "g1 fsm_batches: not measured (baseline 5)",
      ])
    #expect(improvements == ["g0 bytes_copied: 90, better than the baseline 100"])
  }

  @Test func baselineRoundTripsAndBadLinesAreLocated() throws {
    let figures: [RegressionGuard.Figure] = [
      .init(graph: "a/G0", metric: "agenda_batches", value: 7)
    ]
    #expect(
      try RegressionGuard.parseBaseline(RegressionGuard.baselineText(figures), file: "b") == figures
    )
    #expect(throws: (any Error).self) { try RegressionGuard.parseBaseline("a b\n", file: "b") }
    do {
      _ = try RegressionGuard.parseBaseline("\n\na b c\n", file: "b.txt")
      Issue.record("a line without a number parsed")
    } catch {
      #expect(error.description.hasPrefix("b.txt:3:1: error: expected 'GRAPH METRIC VALUE'"))
    }
  }
}
