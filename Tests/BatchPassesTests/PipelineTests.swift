import BatchIR
import BatchPasses
import TestSupport
import Testing

@Suite struct PipelineTests {
  @Test func parsesNamesAndOptions() throws {
    let elements = try PipelineParser.parse(" fsm-batch{policy=agenda, seed=3},pq-layout{},x ")
    #expect(elements.map(\.name) == ["fsm-batch", "pq-layout", "x"])
    #expect(elements[0].options.map(\.key) == ["policy", "seed"])
    #expect(elements[0].options.map(\.value) == ["agenda", "3"])
    #expect(elements[0].options[1].location == SourceLocation(line: 1, column: 27))
    #expect(elements[2].location == SourceLocation(line: 1, column: 47))
  }

  @Test func emptyPipelineRunsNothing() throws {
    #expect(try PipelineParser.parse("").isEmpty)
    #expect(try PassManager(pipeline: "  ").passes.isEmpty)
  }

  func error(_ pipeline: String) -> Diagnostic? {
    do {
      _ = try PassManager(pipeline: pipeline)
      return nil
    } catch {
      return error
    }
  }

  @Test func reportsErrorsWithColumns() {
    #expect(error("fsm-batch,,x")?.headline == "<pipeline>:1:11: error: expected a pass name")
    #expect(error("fsm-batch{policy=agenda")?.message.contains("expected '}'") == true)
    #expect(
      error("fsm-batch{a=1,a=2}")?.headline == "<pipeline>:1:15: error: option 'a' given twice")
    #expect(error("fsm-batch pq")?.message == "expected ',' between passes")
    #expect(
      error("nope")?.headline.hasPrefix(
        "<pipeline>:1:1: error: unknown pass 'nope' (known passes: fsm-batch") == true)
    #expect(
      error("fsm-batch{colour=red}")?.headline.hasPrefix(
        "<pipeline>:1:11: error: fsm-batch: unknown option 'colour'") == true)
    #expect(
      error("fsm-batch{policy=best}")?.message.contains(
        "option 'policy' must be one of fsm, agenda") == true)
    #expect(error("fsm-batch{episodes=-3}")?.message.contains("must be an integer in 1...") == true)
  }

  @Test func passesRunInOrderWithStatistics() throws {
    var module = try parse(
      twoTypes + "instance s {\n  %a = leaf(_)\n  %b = leaf(_)\n  %c = join(%a, %b)\n}\n")
    var manager = try PassManager(pipeline: "fsm-batch{policy=agenda},fsm-batch{policy=depth}")
    manager.verifyEach = true
    var seen: [String] = []
    let records = try manager.run(on: &module, file: "t") { index, record, module in
      seen.append("\(index):\(record.name):\(module.schedule?.policy ?? "")")
    }
    #expect(seen == ["0:fsm-batch:agenda", "1:fsm-batch:depth"])
    #expect(records.map { $0.statistics["batches"] } == [2, 2])
    #expect(
      records[0].statistics.entries.map(\.name) == ["batches", "lower_bound", "path_lower_bound"])
  }

  /// A pass that needs a schedule, to test prerequisite checks without depending on later passes.
  struct NeedsSchedule: Pass {
    static let name = "needs-schedule"
    static let summary = "test pass"
    static let optionSummary: [String] = []
    static let requires: [ModulePart] = [.schedule]
    static let produces: [ModulePart] = []
    init(options: inout PassOptions) {}
    init() {}
    func run(on module: inout Module, statistics: inout PassStatistics) {
      statistics.set("batches_seen", module.schedule?.batchCount ?? -1)
    }
  }

  @Test func missingPrerequisiteIsAClearError() throws {
    var module = try parse(twoTypes + "instance s {\n  %a = leaf(_)\n}\n")
    let manager = PassManager(passes: [NeedsSchedule()])
    #expect(throws: Diagnostic.self) { try manager.run(on: &module, file: "in.dg") }
    do {
      try manager.run(on: &module, file: "in.dg")
    } catch {
      #expect(
        error.headline
          == "in.dg: error: pass 'needs-schedule' needs a schedule, which neither the input nor an earlier pass provides; run 'fsm-batch' before it"
      )
    }
    // Satisfied by an earlier pass, or by a schedule already in the input.
    var options = PassOptions(passName: "fsm-batch")
    let batching = try FSMBatchingPass(options: &options)
    let records = try PassManager(passes: [batching, NeedsSchedule()]).run(
      on: &module, file: "in.dg")
    #expect(records[1].statistics["batches_seen"] == 1)
    #expect(try PassManager(passes: [NeedsSchedule()]).run(on: &module, file: "in.dg").count == 1)
  }
}
