/// Writes a `Module` as `.dg` text. The output is canonical: parsing it and printing again
/// gives the same bytes, at every stage of the pipeline.
public struct DGPrinter {
  /// The module as `.dg` text, in UTF-8 bytes.
  public static func print(_ module: Module) -> [UInt8] {
    var out = OutputBuffer()
    out.reserve(module.nodeCount * 24 + 4096)
    out.write("dg \(Module.formatVersion)\n")
    if let target = module.target {
      let bare =
        target.name.utf8.first.map {
          $0 == UInt8(ascii: "_") || ($0 | 0x20) >= 97 && ($0 | 0x20) <= 122
        }
        ?? false
        && target.name.utf8.allSatisfy { Cursor.isWordByte($0) }
        && !target.name.contains("->") && !target.name.contains("..")
      out.write(bare ? "target \(target.name)\n" : "target \"\(target.name)\"\n")
    }
    if !module.opTypes.isEmpty { out.write("\n") }
    for type in module.opTypes { printOpType(type, to: &out) }
    for instance in module.instances { printInstance(instance, of: module, to: &out) }
    if let schedule = module.schedule { printSchedule(schedule, of: module, to: &out) }
    if let layout = module.layout { printLayout(layout, to: &out) }
    if let packing = module.packing { printPacking(packing, of: module, to: &out) }
    return out.bytes
  }

  /// The module as `.dg` text.
  public static func printString(_ module: Module) -> String {
    String(decoding: print(module), as: UTF8.self)
  }

  private static func printOpType(_ type: OpType, to out: inout OutputBuffer) {
    out.write("type \(type.name) = \(type.kind)(")
    out.write(type.operands.map(\.description).joined(separator: ", "))
    if type.variadic { out.write("...") }
    out.write(") -> \(type.result)")
    if !type.weights.isEmpty {
      out.write(" weights(")
      out.write(type.weights.map { "\($0.id): \($0.type)" }.joined(separator: ", "))
      out.write(")")
    }
    if type.recurrent { out.write(" recurrent") }
    if type.unbatched { out.write(" unbatched") }
    out.write("\n")
  }

  private static func printInstance(
    _ instance: Instance, of module: Module, to out: inout OutputBuffer
  ) {
    out.write("\ninstance \(instance.name)")
    if let arrival = instance.arrival { out.write(" arrival=\(arrival)") }
    out.write(" {\n")
    if let recurrence = instance.recurrence {
      out.write("  rnn(")
      out.write(recurrence.layers.map { module.opTypes[$0].name }.joined(separator: ", "))
      out.write(") steps=")
      out.write(recurrence.steps)
      out.write("\n")
    } else {
      for n in instance.nodes {
        out.write("  %")
        out.write(module.nodeName[n])
        out.write(" = ")
        out.write(module.opTypes[module.type(of: n)].name)
        out.write("(")
        var first = true
        for operand in module.operands(of: n) {
          if !first { out.write(", ") }
          first = false
          if operand == Module.external {
            out.write("_")
          } else {
            out.write("%")
            out.write(module.nodeName[Int(operand)])
          }
        }
        out.write(")\n")
      }
    }
    out.write("}\n")
  }

  private static func printSchedule(
    _ schedule: Schedule, of module: Module, to out: inout OutputBuffer
  ) {
    out.write("\nschedule")
    if !schedule.policy.isEmpty { out.write(" policy=\(schedule.policy)") }
    out.write(" {\n")
    for b in 0..<schedule.batchCount {
      out.write("  batch ")
      out.write(module.opTypes[Int(schedule.batchType[b])].name)
      for n in schedule.batch(b) {
        out.write(" ")
        out.write(Int(n))
      }
      out.write("\n")
    }
    out.write("}\n")
  }
}

extension DGPrinter {
  /// `layout align=A { offsets …(16 a line) … gather batch=B slot=S bytes=N … }`
  static func printLayout(_ layout: MemoryLayout, to out: inout OutputBuffer) {
    out.write("\nlayout align=")
    out.write(layout.alignment)
    out.write(" {\n")
    var index = 0
    while index < layout.offsets.count {
      out.write("  offsets")
      for offset in layout.offsets[index..<min(index + 16, layout.offsets.count)] {
        out.write(" ")
        out.write(Int(offset))
      }
      out.write("\n")
      index += 16
    }
    for gather in layout.gathers {
      out.write("  gather batch=")
      out.write(gather.batch)
      out.write(" slot=")
      out.write(gather.slot)
      out.write(" bytes=")
      out.write(gather.bytes)
      out.write("\n")
    }
    out.write("}\n")
  }
}

extension DGPrinter {
  /// `packing strategy=S lanes=B steps=N { round N | seg* | seg* … }`, one round a line.
  static func printPacking(_ packing: Packing, of module: Module, to out: inout OutputBuffer) {
    out.write("\npacking strategy=\(packing.strategy) lanes=")
    out.write(packing.lanes)
    out.write(" steps=")
    out.write(packing.stepsPerChunk)
    out.write(" {\n")
    for round in packing.rounds {
      out.write("  round ")
      out.write(round.steps)
      for lane in round.lanes {
        out.write(" |")
        for segment in lane {
          if segment.isIdle {
            out.write(" _+")
          } else {
            out.write(" ")
            out.write(module.instances[Int(segment.request)].name)
            out.write("@")
            out.write(Int(segment.first))
            out.write("+")
          }
          out.write(Int(segment.count))
        }
      }
      out.write("\n")
    }
    out.write("}\n")
  }
}

/// A growable byte buffer with fast integer formatting, for printers.
public struct OutputBuffer {
  public private(set) var bytes: [UInt8] = []

  public init() {}

  public mutating func reserve(_ capacity: Int) { bytes.reserveCapacity(capacity) }

  public mutating func write(_ text: String) {
    var text = text
    text.withUTF8 { bytes.append(contentsOf: $0) }
  }

  public mutating func write(_ value: Int) {
    if value < 0 {
      bytes.append(UInt8(ascii: "-"))
      write(value == Int.min ? "9223372036854775808" : String(-value))
      return
    }
    if value < 10 {
      bytes.append(UInt8(ascii: "0") + UInt8(value))
      return
    }
    var digits:
      (
        UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
        UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
      ) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var count = 0
    var rest = value
    withUnsafeMutableBytes(of: &digits) { buffer in
      while rest > 0 {
        buffer[count] = UInt8(ascii: "0") + UInt8(rest % 10)
        rest /= 10
        count += 1
      }
      for i in stride(from: count - 1, through: 0, by: -1) { bytes.append(buffer[i]) }
    }
  }
}
