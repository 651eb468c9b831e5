import BatchIR

/// The readable text form of a program, one instruction a line (docs/simulator.md):
///
/// ```
/// accel-program 1
/// lanes 256
/// type lstm1 weight_bytes=33024 macs_per_row=32768 recurrent_columns=64 matrices=256x128 weights=W,b
/// request 0 r0 arrival=0.000494
/// start 0
/// load lstm1 bytes=33024
/// gather bytes=512
/// exec lstm1 lanes=6 steps=1 rows=6 macs=196608 read=768 written=384
/// complete 0
/// ```
///
/// Requests are numbered in order from 0; `#` starts a comment.
public enum ProgramText {
  /// The program as text.
  public static func print(_ program: Program) -> String {
    var out = "# accelerator program (docs/simulator.md)\n"
    out.reserveCapacity(64 * program.instructions.count + 256)
    out += "accel-program \(program.version)\nlanes \(program.lanes)\n"
    if let target = program.target, !target.isEmpty,
      !target.unicodeScalars.contains(where: { $0 == " " || $0 == "#" || $0.value < 0x20 })
    {
      out += "target \(target)\n"
    }
    for type in program.opTypes {
      out += "type \(type.name) weight_bytes=\(type.weightBytes) macs_per_row=\(type.macsPerRow)"
      out += " recurrent_columns=\(type.recurrentColumns)"
      if !type.matrices.isEmpty {
        out +=
          " matrices="
          + type.matrices.map { $0.map(String.init).joined(separator: "x") }
          .joined(separator: ",")
      }
      if !type.weights.isEmpty { out += " weights=" + type.weights.joined(separator: ",") }
      out += "\n"
    }
    for (index, request) in program.requests.enumerated() {
      out += "request \(index) \(request.name) arrival=\(request.arrival)\n"
    }
    let names = program.opTypes.map(\.name)
    for instruction in program.instructions {
      switch instruction {
      case .loadWeights(let type, let bytes):
        out += "load \(names[Int(type)]) bytes=\(bytes)\n"
      case .execute(let e):
        out += "exec \(names[Int(e.type)]) lanes=\(e.lanes) steps=\(e.steps) rows=\(e.rows)"
        out += " macs=\(e.macs) read=\(e.bytesRead) written=\(e.bytesWritten)\n"
      case .gather(let bytes): out += "gather bytes=\(bytes)\n"
      case .copy(let bytes): out += "copy bytes=\(bytes)\n"
      case .start(let request): out += "start \(request)\n"
      case .resetLane(let lane): out += "reset lane=\(lane)\n"
      case .refillLane(let lane, let request): out += "refill lane=\(lane) request=\(request)\n"
      case .complete(let request, let step):
        out += step == 0 ? "complete \(request)\n" : "complete \(request) step=\(step)\n"
      }
    }
    return out
  }

  /// Parses the text form; errors point at the offending token. References are checked by
  /// `Program.validate`, which this calls.
  public static func parse(_ bytes: [UInt8], file: String) throws(Diagnostic) -> Program {
    var parser = TextParser(bytes: bytes, file: file)
    return try parser.parse()
  }
}

/// A line-by-line parser of the program text.
private struct TextParser {
  let bytes: [UInt8]
  let file: String
  var line = 0
  /// Token ranges of the current line.
  var tokens: [Range<Int>] = []
  var lineStart = 0

  init(bytes: [UInt8], file: String) {
    self.bytes = bytes
    self.file = file
  }

  func error(_ message: String, at offset: Int) -> Diagnostic {
    Diagnostic(
      file: file, location: SourceLocation(line: line, column: offset - lineStart + 1),
      message: message
    ).withSource(bytes)
  }

  func text(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }

  func isKeyword(_ range: Range<Int>, _ word: StaticString) -> Bool {
    guard range.count == word.utf8CodeUnitCount else { return false }
    return word.withUTF8Buffer { bytes[range].elementsEqual($0) }
  }

  /// Splits the next non-empty line into tokens; false at the end.
  mutating func nextLine(from offset: inout Int) -> Bool {
    while offset < bytes.count {
      line += 1
      lineStart = offset
      tokens.removeAll(keepingCapacity: true)
      var i = offset
      while i < bytes.count, bytes[i] != UInt8(ascii: "\n") {
        let b = bytes[i]
        if b == UInt8(ascii: "#") {
          while i < bytes.count, bytes[i] != UInt8(ascii: "\n") { i += 1 }
          break
        }
        if b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") || b == UInt8(ascii: "\r") {
          i += 1
          continue
        }
        let start = i
        while i < bytes.count, !Self.isSpace(bytes[i]), bytes[i] != UInt8(ascii: "#") { i += 1 }
        tokens.append(start..<i)
      }
      offset = i + 1
      if !tokens.isEmpty { return true }
    }
    return false
  }

  static func isSpace(_ b: UInt8) -> Bool {
    b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") || b == UInt8(ascii: "\r")
      || b == UInt8(ascii: "\n")
  }

  /// A non-negative integer token.
  func integer(_ range: Range<Int>) throws(Diagnostic) -> Int64 {
    var value: Int64 = 0
    guard !range.isEmpty else { throw error("expected a number", at: range.lowerBound) }
    for i in range {
      let digit = Int64(bytes[i]) - 48
      guard digit >= 0, digit <= 9 else { throw error("expected a number", at: range.lowerBound) }
      let (times, o1) = value.multipliedReportingOverflow(by: 10)
      let (sum, o2) = times.addingReportingOverflow(digit)
      guard !o1, !o2 else { throw error("number too large", at: range.lowerBound) }
      value = sum
    }
    return value
  }

  func int32(_ range: Range<Int>) throws(Diagnostic) -> Int32 {
    let value = try integer(range)
    guard value <= Int64(Int32.max) else { throw error("number too large", at: range.lowerBound) }
    return Int32(value)
  }

  /// The value of token `index`, which must read `key=VALUE`.
  func value(_ index: Int, _ key: StaticString) throws(Diagnostic) -> Range<Int> {
    guard index < tokens.count else {
      let end = tokens.last?.upperBound ?? lineStart
      throw error("expected '\(key)=…'", at: end)
    }
    let token = tokens[index]
    let keyLength = key.utf8CodeUnitCount
    guard token.count > keyLength, bytes[token.lowerBound + keyLength] == UInt8(ascii: "="),
      isKeyword(token.lowerBound..<token.lowerBound + keyLength, key)
    else { throw error("expected '\(key)=…'", at: token.lowerBound) }
    return token.lowerBound + keyLength + 1..<token.upperBound
  }

  func expectCount(_ count: Int) throws(Diagnostic) {
    if tokens.count > count { throw error("unexpected text", at: tokens[count].lowerBound) }
    if tokens.count < count {
      throw error("missing operands", at: tokens.last?.upperBound ?? lineStart)
    }
  }

  mutating func parse() throws(Diagnostic) -> Program {
    var offset = 0
    guard nextLine(from: &offset), isKeyword(tokens[0], "accel-program"), tokens.count == 2 else {
      line = max(line, 1)
      throw error("expected 'accel-program VERSION'", at: tokens.first?.lowerBound ?? 0)
    }
    let version = Int(try integer(tokens[1]))
    guard version == Program.formatVersion else {
      throw error(
        "unsupported program version \(version) (this build reads \(Program.formatVersion))",
        at: tokens[1].lowerBound)
    }
    guard nextLine(from: &offset), isKeyword(tokens[0], "lanes"), tokens.count == 2 else {
      throw error("expected 'lanes N'", at: tokens.first?.lowerBound ?? lineStart)
    }
    var program = Program(lanes: Int(try integer(tokens[1])))
    var typeIndex: [String: Int32] = [:]

    func type(_ range: Range<Int>) throws(Diagnostic) -> Int32 {
      guard let index = typeIndex[text(range)] else {
        throw error("unknown op type '\(text(range))'", at: range.lowerBound)
      }
      return index
    }
    func request(_ range: Range<Int>) throws(Diagnostic) -> Int32 {
      let index = try int32(range)
      guard index < program.requests.count else {
        throw error("no request \(index)", at: range.lowerBound)
      }
      return index
    }

    while nextLine(from: &offset) {
      let keyword = tokens[0]
      if isKeyword(keyword, "target") {
        try expectCount(2)
        guard program.target == nil, program.opTypes.isEmpty, program.requests.isEmpty,
          program.instructions.isEmpty
        else {
          throw error("the target line must come once, right after 'lanes'", at: keyword.lowerBound)
        }
        program.target = text(tokens[1])
      } else if isKeyword(keyword, "exec") {
        try expectCount(8)
        program.instructions.append(
          .execute(
            Execution(
              type: try type(tokens[1]), lanes: try int32(try value(2, "lanes")),
              steps: try int32(try value(3, "steps")), rows: try integer(try value(4, "rows")),
              macs: try integer(try value(5, "macs")), bytesRead: try integer(try value(6, "read")),
              bytesWritten: try integer(try value(7, "written")))))
      } else if isKeyword(keyword, "load") {
        try expectCount(3)
        program.instructions.append(
          .loadWeights(type: try type(tokens[1]), bytes: try integer(try value(2, "bytes"))))
      } else if isKeyword(keyword, "gather") {
        try expectCount(2)
        program.instructions.append(.gather(bytes: try integer(try value(1, "bytes"))))
      } else if isKeyword(keyword, "copy") {
        try expectCount(2)
        program.instructions.append(.copy(bytes: try integer(try value(1, "bytes"))))
      } else if isKeyword(keyword, "start") {
        try expectCount(2)
        program.instructions.append(.start(request: try request(tokens[1])))
      } else if isKeyword(keyword, "complete") {
        if tokens.count == 3 {
          program.instructions.append(
            .complete(request: try request(tokens[1]), step: try int32(try value(2, "step"))))
        } else {
          try expectCount(2)
          program.instructions.append(.complete(request: try request(tokens[1])))
        }
      } else if isKeyword(keyword, "reset") {
        try expectCount(2)
        program.instructions.append(.resetLane(lane: try int32(try value(1, "lane"))))
      } else if isKeyword(keyword, "refill") {
        try expectCount(3)
        program.instructions.append(
          .refillLane(
            lane: try int32(try value(1, "lane")), request: try request(try value(2, "request"))))
      } else if isKeyword(keyword, "type") {
        guard program.instructions.isEmpty else {
          throw error("op types come before the instructions", at: keyword.lowerBound)
        }
        program.opTypes.append(try opType())
        let name = program.opTypes[program.opTypes.count - 1].name
        guard typeIndex[name] == nil else {
          throw error("duplicate op type '\(name)'", at: tokens[1].lowerBound)
        }
        typeIndex[name] = Int32(program.opTypes.count - 1)
      } else if isKeyword(keyword, "request") {
        guard program.instructions.isEmpty else {
          throw error("requests come before the instructions", at: keyword.lowerBound)
        }
        try expectCount(4)
        guard try integer(tokens[1]) == program.requests.count else {
          throw error("expected request \(program.requests.count)", at: tokens[1].lowerBound)
        }
        let arrivalRange = try value(3, "arrival")
        guard let arrival = Double(text(arrivalRange)), arrival >= 0, arrival.isFinite else {
          throw error("expected an arrival time in seconds", at: arrivalRange.lowerBound)
        }
        program.requests.append(ProgramRequest(name: text(tokens[2]), arrival: arrival))
      } else {
        throw error("unknown instruction '\(text(keyword))'", at: keyword.lowerBound)
      }
    }
    try program.validate(file: file)
    return program
  }

  /// `type NAME weight_bytes=… macs_per_row=… recurrent_columns=… [matrices=RxC,…] [weights=…]`
  func opType() throws(Diagnostic) -> ProgramOpType {
    guard tokens.count >= 5, tokens.count <= 7 else {
      throw error(
        "expected 'type NAME weight_bytes=N macs_per_row=N recurrent_columns=N [matrices=…] [weights=…]'",
        at: tokens[0].lowerBound)
    }
    var type = ProgramOpType(name: text(tokens[1]))
    type.weightBytes = Int(try integer(try value(2, "weight_bytes")))
    type.macsPerRow = Int(try integer(try value(3, "macs_per_row")))
    type.recurrentColumns = Int(try integer(try value(4, "recurrent_columns")))
    var next = 5
    if next < tokens.count, text(tokens[next]).hasPrefix("matrices=") {
      let range = try value(next, "matrices")
      for shape in text(range).split(separator: ",", omittingEmptySubsequences: false) {
        let dims = shape.split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        guard dims.count == 2, let rows = dims[0], let columns = dims[1], rows > 0, columns > 0
        else { throw error("expected matrices=ROWSxCOLUMNS,…", at: range.lowerBound) }
        type.matrices.append([rows, columns])
      }
      next += 1
    }
    if next < tokens.count {
      let range = try value(next, "weights")
      type.weights = text(range).split(separator: ",").map(String.init)
      next += 1
    }
    if next < tokens.count { throw error("unexpected text", at: tokens[next].lowerBound) }
    return type
  }
}
