import BatchIR
import TestSupport
import Testing

/// One test per kind of parse error, with its exact location.
@Suite struct ParseErrorTests {
  func expectError(
    _ text: String, _ line: Int, _ column: Int, _ message: String,
    sourceLocation: Testing.SourceLocation = #_sourceLocation
  ) {
    guard let error = diagnostic(text) else {
      Issue.record("expected an error", sourceLocation: sourceLocation)
      return
    }
    #expect(
      error.location == BatchIR.SourceLocation(line: line, column: column),
      sourceLocation: sourceLocation)
    #expect(error.message.contains(message), "\(error.message)", sourceLocation: sourceLocation)
    #expect(
      error.headline.hasPrefix("t.dg:\(line):\(column): error: "), sourceLocation: sourceLocation)
  }

  @Test func emptyFile() { expectError("", 1, 1, "empty file") }
  @Test func onlyComments() { expectError("# nothing\n\n", 3, 1, "empty file") }
  @Test func missingHeader() {
    expectError("type a = x() -> f32[1]\n", 1, 1, "expected the header 'dg 1'")
  }
  @Test func unsupportedVersion() { expectError("dg 7\n", 1, 4, "unsupported format version 7") }
  @Test func unknownTopLevel() {
    expectError(
      "dg 1\nnode x\n", 2, 1,
      "expected 'target', 'type', 'instance', 'schedule', 'layout' or 'packing', found 'node'")
  }
  @Test func unknownOpType() {
    expectError(twoTypes + "instance s {\n  %a = lstm(_)\n}\n", 6, 8, "unknown op type 'lstm'")
  }
  @Test func undefinedOperand() {
    expectError(
      twoTypes + "instance s {\n  %a = join(%x, _)\n}\n", 6, 13, "use of undefined value '%x'")
  }
  @Test func duplicateNode() {
    expectError(
      twoTypes + "instance s {\n  %a = leaf(_)\n  %a = leaf(_)\n}\n", 7, 3, "redefinition of '%a'")
  }
  @Test func duplicateType() {
    expectError(twoTypes + "type leaf = x() -> f32[1]\n", 5, 6, "redefinition of op type 'leaf'")
  }
  @Test func duplicateInstance() {
    expectError(
      twoTypes + "instance s {\n}\ninstance s {\n}\n", 7, 10, "redefinition of instance 's'")
  }
  @Test func duplicateWeight() {
    expectError(
      twoTypes + "type b = x() -> f32[1] weights(W: f32[1])\n", 5, 32, "redefinition of weight 'W'")
  }
  @Test func badElementType() {
    expectError("dg 1\ntype a = x(f33[4]) -> f32[4]\n", 2, 12, "unknown element type 'f33'")
  }
  @Test func negativeDimension() {
    expectError("dg 1\ntype a = x(f32[-4]) -> f32[4]\n", 2, 16, "expected a dimension")
  }
  @Test func zeroDimension() {
    expectError("dg 1\ntype a = x(f32[0]) -> f32[4]\n", 2, 16, "a dimension must be positive")
  }
  @Test func hugeInteger() {
    expectError(
      "dg 1\ntype a = x(f32[18446744073709551616]) -> f32[4]\n", 2, 16,
      "integer literal is too large")
  }
  @Test func tooLargeTensor() {
    expectError(
      "dg 1\ntype a = x(f32[1000000x1000000x1000000]) -> f32[4]\n", 2, 32,
      "tensor type is too large")
  }
  @Test func absurdStepCount() {
    expectError(
      "dg 1\ntype l = lstm(f32[1], f32[1]) -> f32[1] recurrent\ninstance r {\n  rnn(l) steps=99999999999\n}\n",
      4, 16, "step count must be between")
  }
  @Test func missingCloseBrace() {
    expectError(
      twoTypes + "instance s {\n  %a = leaf(_)\n", 7, 1,
      "expected '}' to close instance 's', found end of file")
  }
  @Test func truncatedNode() {
    expectError(twoTypes + "instance s {\n  %a = join(", 6, 13, "expected an operand")
  }
  @Test func badArrival() {
    expectError(
      twoTypes + "instance s arrival=-1 {\n}\n", 5, 20,
      "expected an arrival time in seconds between 0 and")
  }
  @Test func absurdArrival() {
    expectError(
      twoTypes + "instance s arrival=1e300 {\n}\n", 5, 20,
      "expected an arrival time in seconds between 0 and 1000000000")
  }
  @Test func invalidUTF8() {
    let bytes: [UInt8] = Array("dg 1\n# caf".utf8) + [0xFF, 0x0A]
    #expect(throws: Diagnostic.self) { try DGParser.parse(bytes, file: "t.dg") }
    do {
      _ = try DGParser.parse(bytes, file: "t.dg")
      Issue.record("invalid UTF-8 parsed")
    } catch {
      #expect(error.location == BatchIR.SourceLocation(line: 2, column: 6))
      #expect(error.message.contains("invalid UTF-8"))
    }
  }
  @Test func binaryBytes() {
    expectError("dg 1\n\u{01}\u{02}", 2, 1, "unexpected control character")
  }
  @Test func deepNesting() {
    expectError(
      "dg 1\n" + String(repeating: "(", count: 100_000), 2, 1,
      "expected 'target', 'type', 'instance', 'schedule', 'layout' or 'packing'")
  }
  @Test func scheduleNodeOutOfRange() {
    expectError(
      twoTypes + "instance s {\n  %a = leaf(_)\n}\nschedule {\n  batch leaf 0 5\n}\n", 9, 16,
      "node id 5 is out of range")
  }
  @Test func caretDisplay() {
    let error = diagnostic(twoTypes + "instance s {\n  %a = join(%x, _)\n}\n")
    #expect(
      error?.description
        == "t.dg:6:13: error: use of undefined value '%x'\n  %a = join(%x, _)\n            ^")
  }
}

@Suite struct VerifierTests {
  func expectError(
    _ text: String, _ line: Int, _ column: Int, _ message: String,
    sourceLocation: Testing.SourceLocation = #_sourceLocation
  ) {
    guard let error = diagnostic(text) else {
      Issue.record("expected an error", sourceLocation: sourceLocation)
      return
    }
    #expect(
      error.location == BatchIR.SourceLocation(line: line, column: column),
      sourceLocation: sourceLocation)
    #expect(error.message.contains(message), "\(error.message)", sourceLocation: sourceLocation)
  }

  @Test func wrongArity() {
    expectError(
      twoTypes + "instance s {\n  %a = leaf(_)\n  %b = join(%a)\n}\n", 7, 3,
      "'%b' in instance 's' has 1 operand, but op type 'join' takes 2")
  }
  @Test func wrongShape() {
    expectError(
      "dg 1\ntype v = x() -> f32[4]\ntype w = y(f32[8]) -> f32[8]\ninstance s {\n  %a = v()\n  %b = w(%a)\n}\n",
      6, 3,
      "operand 1 of '%b' in instance 's' has type f32[4], but 'w' expects f32[8]")
  }
  @Test func cycleNamesANodeOnIt() {
    expectError(
      twoTypes + "instance s {\n  %x = leaf(_)\n  %a = join(%x, %b)\n  %b = join(%a, %x)\n}\n", 7,
      3, "the graph has a cycle through '%a' in instance 's'")
  }
  @Test func selfLoop() {
    expectError(twoTypes + "instance s {\n  %a = join(%a, _)\n}\n", 6, 3, "cycle through '%a'")
  }
  @Test func recurrentTypeNeedsStateSlot() {
    expectError(
      "dg 1\ntype l = lstm(f32[4]) -> f32[8] recurrent\n", 2, 6,
      "must take its state as the last operand")
  }
  @Test func rnnLayersMustChain() {
    expectError(
      "dg 1\ntype a = lstm(f32[4], f32[8]) -> f32[8] recurrent\ntype b = lstm(f32[4], f32[4]) -> f32[4] recurrent\ninstance r {\n  rnn(a, b) steps=2\n}\n",
      4, 10, "takes f32[4], but the layer below produces f32[8]")
  }

  let scheduled =
    twoTypes + "instance s {\n  %a = leaf(_)\n  %b = leaf(_)\n  %c = join(%a, %b)\n}\n"

  @Test func scheduleNodeTwice() {
    expectError(
      scheduled + "schedule {\n  batch leaf 0 1 0\n  batch join 2\n}\n", 10, 1, "node 0 runs twice")
  }
  @Test func scheduleMissesANode() {
    expectError(scheduled + "schedule {\n  batch leaf 0 1\n}\n", 10, 1, "node 2 never runs")
  }
  @Test func scheduleRunsUserFirst() {
    expectError(
      scheduled + "schedule {\n  batch leaf 0\n  batch join 2\n  batch leaf 1\n}\n", 10, 1,
      "node 2 runs in batch 1 but its operand 1 runs in batch 2")
  }
  @Test func scheduleTypeMismatch() {
    expectError(
      scheduled + "schedule {\n  batch leaf 0 1 2\n}\n", 10, 1,
      "node 2 of op type 'join' is in batch 0 of type 'leaf'")
  }
  @Test func scheduleUnbatchedTogether() {
    expectError(
      "dg 1\ntype p = param() -> f32[1] unbatched\ninstance s {\n  %a = p()\n  %b = p()\n}\nschedule {\n  batch p 0 1\n}\n",
      7, 1,
      "batch 0 has 2 nodes of unbatched op type 'p'")
  }
  @Test func validScheduleVerifies() {
    #expect(diagnostic(scheduled + "schedule {\n  batch leaf 0 1\n  batch join 2\n}\n") == nil)
  }
}
