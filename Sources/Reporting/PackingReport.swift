import AccelSim
import BatchIR
import BatchPasses
import Foundation
import GraphvizDump
import Workloads

/// The packing part of the results page: the three strategies side by side on both presets, the
/// energy–latency trade-off as E-BATCH's N varies, and a lanes × time picture.
public struct PackingReport {
  /// Requests per trace and the network they run through (an L=2 LSTM, hidden 512).
  public var requests = 64
  public var hidden = 512
  /// Arrival rates as fractions of cellular batching's capacity on the same requests.
  public var loads = [0.3, 0.6, 0.9, 1.5]

  public init() {}

  /// A trace of `requests` requests with `lengths`-like lengths arriving at `rate` per second.
  func trace(_ lengths: LengthDistribution, rate: Double) -> Module {
    var options = WorkloadOptions()
    options.instances = requests
    options.seed = 1
    options.hidden = hidden
    options.layers = 2
    options.lengths = lengths
    options.rate = rate
    return WorkloadGenerator.generate(.rnnServing, options: options)
  }

  /// Cellular batching's capacity on `preset`, in requests per second: its throughput on the
  /// trace's requests when they all arrive at once. Loads are arrival rates over it.
  func capacity(_ preset: AcceleratorPreset, _ lengths: LengthDistribution) -> Double {
    let report = Packer(module: trace(lengths, rate: 1e9), preset: preset, lanes: preset.lanes)
      .cellular().report
    return Double(requests) / max(report.seconds, 1e-12)
  }

  /// The Markdown section and its charts.
  public func section(chartFolder: String, progress: (String) -> Void) -> ResultsReport.Section {
    var text = """

      ## Packing

      `ebatch-pack` on serving traces: \(requests) requests (seed 1) through a 2-layer LSTM with \
      hidden size \(hidden), speech-like or translation-like lengths, Poisson arrivals. Load is the \
      arrival rate over cellular batching's capacity (its throughput when every request arrives at \
      once). Figures are the simulator's; `ebatch` uses `steps=auto` (N "≤M dyn": chosen per chunk, at most M). The 2,000-request sweep from light load to beyond saturation is [serving](serving.md) (`optimizer serve-sweep`). Ratios are against \
      `cellular` (BatchMaker). See [ebatch-pack](passes/ebatch-pack.md) for why they differ from \
      the paper's 1.8× throughput and 3.6× energy efficiency on E-PUR, 2.1× and 1.6× on TPU.

      | preset | lengths | load | rate (requests/s) | strategy | N | requests/s | µJ/request | p99 latency (ms) | padding | throughput × | energy efficiency × |
      |---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|

      """
    for preset in [AcceleratorPreset.epur, .tpuV1] {
      for lengths in [LengthDistribution.speech, .translation] {
        progress("packing \(preset.name) \(lengths.rawValue)")
        let capacityRate = capacity(preset, lengths)
        for load in loads {
          let module = trace(lengths, rate: load * capacityRate)
          let packer = Packer(module: module, preset: preset, lanes: preset.lanes)
          let auto = EBatchPackingPass.chooseSteps(packer: packer, latencySLO: nil)
          let rows: [(String, String, Packer.Result)] = [
            ("padding", "-", packer.padding()), ("cellular", "1", packer.cellular()),
            (
              "ebatch",
              auto.result.packing.stepsPerChunk > 0
                ? String(auto.result.packing.stepsPerChunk)
                : "≤\(auto.result.packing.rounds.map(\.steps).max() ?? 0) dyn",
              auto.result
            ),
          ]
          let base = rows[1].2.report
          for (strategy, n, result) in rows {
            let r = result.report
            text +=
              "| \(preset.name) | \(lengths.rawValue) | \(load) | \(fixed(load * capacityRate, 0)) | \(strategy) | \(n) | \(fixed(requestsPerSecond(r), 1)) | \(fixed(energyPerRequest(r) / 1e6, 1)) | \(fixed(r.latencyQuantile(0.99) * 1e3, 2)) | \(fixed(r.paddingFraction * 100, 1))% | \(fixed(requestsPerSecond(r) / requestsPerSecond(base), 2)) | \(fixed(energyPerRequest(base) / energyPerRequest(r), 2)) |\n"
          }
        }
      }
    }
    var charts: [ResultsReport.Chart] = []
    progress("packing: energy against latency")
    charts.append(tradeOffChart(folder: chartFolder, text: &text))
    progress("packing: lanes x time")
    if let chart = lanesChart(folder: chartFolder, text: &text) { charts.append(chart) }
    return (text, charts)
  }

  /// Energy per request against p99 latency as N goes 1, 2, 4, …, 256 (translation lengths,
  /// load 0.9), one line per preset.
  func tradeOffChart(folder: String, text: inout String) -> ResultsReport.Chart {
    var series: [SVGChart.Series] = []
    var rows = ""
    for preset in [AcceleratorPreset.epur, .tpuV1] {
      let module = trace(.translation, rate: 0.9 * capacity(preset, .translation))
      let packer = Packer(module: module, preset: preset, lanes: preset.lanes)
      var points: [(x: Double, y: Double)] = []
      var labels: [String] = []
      for n in [1, 2, 4, 8, 16, 32, 64, 128, 256] {
        let r = packer.ebatch(steps: n).report
        let latency = r.latencyQuantile(0.99) * 1e3
        let energy = energyPerRequest(r) / 1e6
        points.append((latency, energy))
        labels.append("N=\(n)")
        rows +=
          "| \(preset.name) | \(n) | \(fixed(latency, 2)) | \(fixed(energy, 1)) | \(r.totals.weightMisses) |\n"
      }
      series.append(.init(name: "\(preset.name)", points: points, labels: labels))
    }
    let chart = SVGChart(
      title: "E-BATCH: energy per request against p99 latency as N grows (translation, load 0.9)",
      xLabel: "p99 latency (ms, log scale)", yLabel: "energy per request (µJ)")
    let name = "energy-vs-latency.svg"
    text += """

      ### N follows the trade-off

      Translation trace at load 0.9, `steps=N` for N = 1, 2, 4, …, 256.

      ![energy against latency](\(folder)/\(name))

      | preset | N | p99 latency (ms) | µJ/request | weight loads |
      |---|---:|---:|---:|---:|
      \(rows)
      """
    return ResultsReport.Chart(fileName: name, svg: chart.lines(series: series, xLog: true))
  }

  /// The lanes × time chart of a small trace, rendered by Graphviz: 12 translation requests
  /// arriving together, on 4 lanes, N = 8.
  func lanesChart(folder: String, text: inout String) -> ResultsReport.Chart? {
    var options = WorkloadOptions()
    options.instances = 12
    options.seed = 1
    options.lengths = .translation
    options.rate = 1e9
    var module = WorkloadGenerator.generate(.rnnServing, options: options)
    guard
      (try? PassManager(pipeline: "ebatch-pack{strategy=ebatch,steps=8,lanes=4}").run(
        on: &module, file: "<report>")) != nil,
      let graph = ModuleView.packingGraph(
        module, title: "lanes x time after ebatch-pack (4 lanes, N = 8)"),
      let svg = try? GraphvizRenderer.render(graph, format: .svg)
    else { return nil }
    let name = "lanes-by-time.svg"
    text += """

      ### Lanes × time

      Twelve translation requests arriving together, on 4 lanes with N = 8
      (`ebatch-pack{steps=8,lanes=4}`): one row per lane, one colour per request, padding grey, a
      bar at every chunk boundary, where the layers switch. A lane takes the next request the step
      after its sequence ends.

      ![lanes by time](\(folder)/\(name))

      """
    return ResultsReport.Chart(fileName: name, svg: String(decoding: svg, as: UTF8.self))
  }

  func requestsPerSecond(_ r: SimulationReport) -> Double {
    Double(requests) / max(r.seconds, 1e-12)
  }

  func energyPerRequest(_ r: SimulationReport) -> Double { r.energyPJ / Double(requests) }

}

/// `value` with `digits` digits after the point, as the report's tables print figures.
func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
