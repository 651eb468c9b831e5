import AccelSim
import Foundation
import Reporting
import Testing
import Workloads

/// The serving sweep on a small configuration: its invariants, not its figures (those come from
/// `optimizer serve-sweep`).
@Suite struct ServingSweepTests {
  @Test func smallSweepHoldsItsInvariants() {
    var sweep = ServingSweep()
    sweep.requests = 60
    sweep.loads = [0.25, 1.0, 3.0]
    sweep.presets = [.epur]
    sweep.lengths = [.translation]
    let (markdown, charts, curves) = sweep.run(
      chartFolder: "results", command: "test", progress: { _ in })
    #expect(curves.count == 1)
    let curve = curves[0]
    #expect(
      curve.points.map(\.strategy)
        == Array(repeating: ["padding", "cellular", "ebatch"], count: 3).flatMap { $0 })
    #expect(curve.bestFixed.count == 3)
    for (auto, fixed) in zip(curve.points("ebatch"), curve.bestFixed) {
      // Auto (fixed and dynamic N) is never worse than the best fixed N under its rule.
      #expect(auto.score <= fixed.score)
    }
    for p in curve.points {
      #expect(p.throughput > 0 && p.p50 <= p.p99)
      #expect(p.loadShare >= 0 && p.loadShare < 1)
    }
    // Beyond saturation cellular batching cannot keep up; sustained throughput is one achieved.
    let saturated = curve.points("cellular").last!
    #expect(saturated.throughput < saturated.rate)
    for strategy in ["padding", "cellular", "ebatch"] {
      let best = curve.maxSustainable(strategy, keepUp: sweep.keepUp)
      #expect(best == 0 || curve.points(strategy).contains { $0.throughput == best })
    }
    // The SLO is the factor times cellular's p99 at the lightest load.
    #expect(curve.slo == sweep.sloFactor * curve.points("cellular")[0].p99)
    #expect(
      charts.map(\.fileName) == [
        "serving-p99-epur-translation.svg", "serving-energy-epur-translation.svg",
      ])
    #expect(charts.allSatisfy { $0.svg.hasPrefix("<svg") })
    #expect(markdown.contains("| epur | translation |"))
    #expect(
      markdown.contains("Auto is at least as good as the best fixed N at every load: **yes**"))
  }
}
