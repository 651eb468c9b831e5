import BatchIR
import Foundation

/// The quick subset of the report that CI runs: on each corpus family's G0 and the DyNet graph,
/// the batch count of every policy and `pq-layout`'s bytes copied after the FSM schedule. All are
/// deterministic, so any rise over the checked-in baseline is a regression.
///
/// Baseline file: one figure a line, `GRAPH METRIC VALUE`, `#` comments.
public enum RegressionGuard {
  public struct Figure: Sendable, Equatable {
    public var graph: String
    public var metric: String
    public var value: Int
    var key: String { "\(graph) \(metric)" }

    public init(graph: String, metric: String, value: Int) {
      self.graph = graph
      self.metric = metric
      self.value = value
    }
  }

  /// Measures the quick subset.
  public static func measure(corpusDirectory: String, progress: (String) -> Void = { _ in })
    throws(Diagnostic) -> [Figure]
  {
    var figures: [Figure] = []
    for graph in try Experiments.corpus(directory: corpusDirectory, firstOnly: true) {
      progress(graph.name)
      let result = try Experiments.batching(graph.module)
      for policy in Experiments.policies {
        figures.append(
          Figure(
            graph: graph.name, metric: "\(policy)_batches", value: result.batches[policy] ?? -1))
      }
      figures.append(Figure(graph: graph.name, metric: "bytes_copied", value: result.bytesCopied))
    }
    return figures
  }

  /// The baseline file's text for `figures`.
  public static func baselineText(_ figures: [Figure]) -> String {
    var text = """
      # Regression baseline for `optimizer report --check` (CI): GRAPH METRIC VALUE.
      # Lower is better for every metric; regenerate with `optimizer report --write-baseline FILE`
      # when a change improves a figure on purpose.

      """
    for figure in figures { text += "\(figure.graph) \(figure.metric) \(figure.value)\n" }
    return text
  }

  /// Parses a baseline file.
  public static func parseBaseline(_ text: String, file: String) throws(Diagnostic) -> [Figure] {
    var figures: [Figure] = []
    for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
    {
      let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
      let words = content.split(separator: " ")
      if words.isEmpty { continue }
      guard words.count == 3, let value = Int(words[2]) else {
        throw Diagnostic(
          file: file, location: SourceLocation(line: index + 1, column: 1),
          message: "expected 'GRAPH METRIC VALUE', found '\(content)'")
      }
      figures.append(Figure(graph: String(words[0]), metric: String(words[1]), value: value))
    }
    return figures
  }

  /// Lines describing every figure that got worse (or went missing), and every one that got
  /// better, against the baseline.
  public static func compare(_ figures: [Figure], baseline: [Figure]) -> (
    regressions: [String], improvements: [String]
  ) {
    let measured = Dictionary(figures.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
    var regressions: [String] = []
    var improvements: [String] = []
    for expected in baseline {
      guard let value = measured[expected.key] else {
        regressions.append("\(expected.key): not measured (baseline \(expected.value))")
        continue
      }
      if value > expected.value {
        regressions.append("\(expected.key): \(value), worse than the baseline \(expected.value)")
      } else if value < expected.value {
        improvements.append("\(expected.key): \(value), better than the baseline \(expected.value)")
      }
    }
    return (regressions, improvements)
  }
}
