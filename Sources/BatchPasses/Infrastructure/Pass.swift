import BatchIR

/// A part of the module that a pass reads or writes.
public enum ModulePart: String, Sendable, CaseIterable {
  case schedule
  case layout
  case packing
}

extension Module {
  /// The parts this module already carries (read from the file or written by earlier passes).
  public var presentParts: Set<ModulePart> {
    var parts: Set<ModulePart> = []
    if schedule != nil { parts.insert(.schedule) }
    if layout != nil { parts.insert(.layout) }
    if packing != nil { parts.insert(.packing) }
    return parts
  }
}

/// A transformation or analysis of the module, run by the `PassManager`.
///
/// A pass is built from its pipeline options (`fsm-batch{policy=agenda}`), reads the parts it
/// `requires`, writes the parts it `produces`, and reports statistics. Like MLIR's and LLVM's
/// preserved analyses, it also declares what else it touches: the parts it may rewrite in place
/// (`modifies`) and the earlier results its own make stale (`invalidates`, which the manager
/// removes). Every other part is preserved, and the manager checks that it is.
public protocol Pass: Sendable {
  /// The name used in pipeline text.
  static var name: String { get }
  /// One line for `--list-passes`.
  static var summary: String { get }
  /// The options it takes, declared once (`PassOption`); parsing, help, errors and printing
  /// the pipeline back come from here.
  static var options: [PassOption<Self>] { get }
  static var requires: [ModulePart] { get }
  static var produces: [ModulePart] { get }
  /// Parts present before the pass that it may rewrite in place (beside those it `produces`).
  static var modifies: [ModulePart] { get }
  /// Parts an earlier pass wrote that no longer hold once this pass has rewritten its parts; the
  /// manager removes them (and says so in the statistics).
  static var invalidates: [ModulePart] { get }

  /// The pass with every option at its default.
  init()

  /// Runs the pass. Statistics go to `statistics`; problems are thrown as diagnostics.
  func run(on module: inout Module, statistics: inout PassStatistics) throws(Diagnostic)
}

extension Pass {
  public static var modifies: [ModulePart] { [] }
  public static var invalidates: [ModulePart] { [] }
}

/// Named numbers a pass reports (`batches`, `lower_bound`, …), in the order it reports them.
/// Names are stable: tests, benchmarks and docs/statistics.md use them.
public struct PassStatistics: Sendable, Equatable {
  public private(set) var entries: [(name: String, value: Double)] = []
  /// Named words (`target`, `target_source`), in the order they were set.
  public private(set) var labels: [(name: String, value: String)] = []

  public init() {}

  /// The label `name`, if set.
  public func label(_ name: String) -> String? {
    labels.last { $0.name == name }?.value
  }

  public mutating func setLabel(_ name: String, _ value: String) {
    if let index = labels.firstIndex(where: { $0.name == name }) {
      labels[index].value = value
    } else {
      labels.append((name, value))
    }
  }

  public subscript(name: String) -> Double? {
    entries.last { $0.name == name }?.value
  }

  public mutating func set(_ name: String, _ value: Double) {
    if let index = entries.firstIndex(where: { $0.name == name }) {
      entries[index].value = value
    } else {
      entries.append((name, value))
    }
  }

  public mutating func set(_ name: String, _ value: Int) { set(name, Double(value)) }

  public static func == (a: PassStatistics, b: PassStatistics) -> Bool {
    a.entries.elementsEqual(b.entries) { $0.name == $1.name && $0.value == $1.value }
      && a.labels.elementsEqual(b.labels) { $0.name == $1.name && $0.value == $1.value }
  }
}
