import BatchIR
import BatchPasses
import Foundation
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

  @Test func blanksAndQuotedValues() throws {
    let elements = try PipelineParser.parse(
      "fsm-batch {policy = agenda} , fsm-batch{load='a,b}.fsm' }")
    #expect(elements.map(\.name) == ["fsm-batch", "fsm-batch"])
    #expect(elements[0].options.map(\.value) == ["agenda"])
    #expect(elements[1].options.map(\.value) == ["a,b}.fsm"])
    #expect(
      try PipelineParser.parse("fsm-batch\t{\n policy=agenda\n}").first?.options.first?.value
        == "agenda")
    #expect(
      (try? PipelineParser.parse("x{a=\"b,c\"}"))?.first?.options.first?.value == "b,c")
    #expect(
      error("fsm-batch{load='a}")?.headline
        == "<pipeline>:1:16: error: unterminated quoted value of option 'load'")
    #expect(
      error("fsm-batch{load='a' b}")?.headline
        == "<pipeline>:1:20: error: expected ',' or '}' after the quoted value of 'load'")
  }

  /// Options are declared once: the same declaration parses, lists, rejects and prints back.
  @Test func declaredOptionsPrintBack() throws {
    let text =
      "fsm-batch{policy=agenda,load='a b,c.fsm',seed=7},pq-layout{align=128},ebatch-pack{steps=8,accelerator=tpu-v1,in-flight=3}"
    let manager = try PassManager(
      pipeline:
        " fsm-batch {policy = agenda, load = 'a b,c.fsm', seed=7} , pq-layout{align=128}, ebatch-pack {steps=8, accelerator=tpu-v1, in-flight=3}"
    )
    #expect(manager.pipelineText == text)
    #expect(try PassManager(pipeline: manager.pipelineText).pipelineText == text)
    #expect(
      try PassManager(pipeline: "fsm-batch{policy=fsm},pq-layout").pipelineText
        == "fsm-batch,pq-layout")
    #expect(
      EBatchPackingPass.optionSummary.map { String($0.prefix { $0 != "=" }) }
        == EBatchPackingPass.options.map(\.key))
    #expect(
      PQLayoutPass.optionSummary == ["align=BYTES: alignment of every tensor, a power of two (64)"])
    #expect(
      error("ebatch-pack{lanes=0}")?.headline
        == "<pipeline>:1:13: error: ebatch-pack: option 'lanes' must be an integer in 1...65536; got '0'"
    )
    #expect(
      error("pq-layout{size=3}")?.message
        == "pq-layout: unknown option 'size' (it takes align)")
  }

  /// A preset file that does not decode is an error at the option, inside the pipeline text.
  @Test func badPresetFileIsLocatedAtTheOption() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
      "bad-preset-\(getpid()).json"
    ).path
    try Data("{\"name\": 3}".utf8).write(to: URL(fileURLWithPath: path))
    defer { try? FileManager.default.removeItem(atPath: path) }
    let d = error("ebatch-pack{accelerator=\(path)}")
    #expect(d?.location == SourceLocation(line: 1, column: 13))
    #expect(
      d?.message
        == "ebatch-pack: option 'accelerator' names a preset file that is not valid (\(path):1:2: error: field 'name' must be a string); got '\(path)'"
    )
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
      error("fsm-batch{load=a'b\"c}")?.headline
        == "<pipeline>:1:16: error: the value of option 'load' holds both ' and \"")
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
    static let requires: [ModulePart] = [.schedule]
    static let produces: [ModulePart] = []
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
      Issue.record("ran without a schedule")
    } catch {
      #expect(
        error.headline
          == "in.dg: error: pass 'needs-schedule' needs a schedule, which neither the input nor an earlier pass provides; run 'fsm-batch' before it"
      )
    }
    // Satisfied by an earlier pass, or by a schedule already in the input.
    let batching = FSMBatchingPass()
    let records = try PassManager(passes: [batching, NeedsSchedule()]).run(
      on: &module, file: "in.dg")
    #expect(records[1].statistics["batches_seen"] == 1)
    #expect(try PassManager(passes: [NeedsSchedule()]).run(on: &module, file: "in.dg").count == 1)
  }
}
