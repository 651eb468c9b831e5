import BatchIR
import Testing

/// The `packing` section: syntax, canonical printing, and the verifier's conservation checks.
@Suite struct PackingFormatTests {
  static let header = """
    dg 1
    type l1 = lstm(f32[4], f32[4]) -> f32[4] recurrent
    type l2 = lstm(f32[4], f32[4]) -> f32[4] recurrent
    instance r0 arrival=0 {
      rnn(l1, l2) steps=7
    }
    instance r1 arrival=0.5 {
      rnn(l1, l2) steps=2
    }
    instance r2 arrival=1 {
      rnn(l1, l2) steps=6
    }

    """

  static func module(_ body: String) -> String {
    header + "packing strategy=ebatch lanes=2 steps=4 {\n" + body + "}\n"
  }

  static let good = module(
    """
      round 4 | r0@0+4 | r1@0+2 r2@0+2
      round 4 | r0@4+3 _+1 | r2@2+4

    """)

  @Test func roundTripsByteIdentical() throws {
    let module = try DGParser.parse(Self.good, file: "p.dg")
    try Verifier.verify(module, file: "p.dg")
    let packing = try #require(module.packing)
    #expect(packing.rounds.count == 2)
    #expect(packing.rounds[0].lanes[1].count == 2)
    #expect(packing.rounds[1].lanes[0][1].isIdle)
    #expect(packing.paddingLaneSteps == 1)
    let printed = DGPrinter.print(module)
    let reparsed = try DGParser.parse(printed, file: "p2.dg")
    #expect(DGPrinter.print(reparsed) == printed)
    #expect(reparsed.packing == packing)
    #expect(DGPrinter.printString(module).contains("  round 4 | r0@4+3 _+1 | r2@2+4\n"))
  }

  @Test func instanceNamedRoundIsASegment() throws {
    let text = """
      dg 1
      type l1 = lstm(f32[4], f32[4]) -> f32[4] recurrent
      instance round {
        rnn(l1) steps=2
      }
      packing strategy=cellular lanes=1 steps=1 {
        round 1 | round@0+1
        round 1 | round@1+1
      }

      """
    let module = try DGParser.parse(text, file: "r.dg")
    try Verifier.verify(module, file: "r.dg")
    let printed = DGPrinter.print(module)
    #expect(DGPrinter.printString(module).contains("  round 1 | round@1+1\n"))
    #expect(DGPrinter.print(try DGParser.parse(printed, file: "r2.dg")) == printed)
  }

  @Test(arguments: [
    ("  round 4 | r0@0+4 | r1@0+2 r2@0+2\n  round 4 | r0@4+3 _+1 | r2@3+3 _+1\n", "next step is 2"),
    ("  round 4 | r0@0+4 | r1@0+2 r2@0+2\n  round 4 | r0@4+3 | r2@2+4\n", "holds 3 steps"),
    ("  round 4 | r0@0+4 | r1@0+2 r0@4+2\n  round 4 | r0@6+1 _+3 | r2@0+4\n", "at once"),
    ("  round 4 | r0@0+4 | r1@0+2 r2@0+2\n", "runs 4 of its 7 steps"),
    ("  round 4 | r0@0+4 | r1@0+4\n", "past its 2 steps"),
  ])
  func verifierRejects(_ body: String, _ message: String) {
    do {
      let module = try DGParser.parse(Self.module(body), file: "bad.dg")
      try Verifier.verify(module, file: "bad.dg")
      Issue.record("accepted a bad packing; expected '\(message)'")
    } catch {
      #expect(error.message.contains(message), "\(error.message)")
    }
  }

  @Test func parserRejectsTooManyLanesAndUnknownNames() {
    for (body, message) in [
      ("  round 1 | r1@0+1 | r0@0+1 | r2@0+1\n", "more than the packing's 2 lanes"),
      ("  round 1 | r9@0+1\n", "unknown instance 'r9'"),
      ("  round 1 | _+0\n", "between 1 and"),
    ] {
      do {
        _ = try DGParser.parse(Self.module(body), file: "bad.dg")
        Issue.record("parsed '\(body)'")
      } catch {
        #expect(error.message.contains(message), "\(error.message)")
        #expect(error.location.line == 14)
      }
    }
  }
}
