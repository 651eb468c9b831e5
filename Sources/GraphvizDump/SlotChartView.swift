import BatchIR

extension ModuleView {
  /// The most step columns the instance-slot chart draws; longer schedules fold several steps
  /// into a column (the title says so).
  static let slotChartColumnLimit = 100
  /// The most slots (rows) the chart draws.
  static let slotChartRowLimit = 64
  /// The least width of a step column, in points.
  static let stepWidth = 14

  /// Which instance holds which slot over time, derived from a schedule: step s runs batch s; an
  /// instance holds a slot from the step of its first node to the step of its last, and takes
  /// the lowest slot free when it starts. This is how `ebatch-pack`'s continuous batching runs
  /// trees and lattices (an instance joins when one in flight completes); the module records the
  /// schedule that ran, not the slots, so they are recovered here.
  struct SlotOccupancy {
    /// `slotOf[i]`: the slot of instance i (-1 for an instance without nodes).
    var slotOf: [Int]
    var firstStep: [Int]
    var lastStep: [Int]
    /// The nodes each instance runs in each step.
    var running: [[Int: Int]]
    var slotCount: Int

    init(_ module: Module, _ schedule: Schedule) {
      let instanceOf = module.nodeInstances()
      let count = module.instances.count
      var firstStep = [Int](repeating: Int.max, count: count)
      var lastStep = [Int](repeating: -1, count: count)
      var running: [[Int: Int]] = []
      for s in 0..<schedule.batchCount {
        var here: [Int: Int] = [:]
        for n in schedule.batch(s) where Int(n) < module.nodeCount {
          let i = Int(instanceOf[Int(n)])
          here[i, default: 0] += 1
          firstStep[i] = min(firstStep[i], s)
          lastStep[i] = max(lastStep[i], s)
        }
        running.append(here)
      }
      var slotOf = [Int](repeating: -1, count: count)
      // Slots in use: (last step of its holder); a slot is free for a start after that step.
      var freeAfter: [Int] = []
      for i in (0..<count).filter({ lastStep[$0] >= 0 }).sorted(by: {
        (firstStep[$0], $0) < (firstStep[$1], $1)
      }) {
        if let free = freeAfter.firstIndex(where: { $0 < firstStep[i] }) {
          slotOf[i] = free
          freeAfter[free] = lastStep[i]
        } else {
          slotOf[i] = freeAfter.count
          freeAfter.append(lastStep[i])
        }
      }
      self.slotOf = slotOf
      self.firstStep = firstStep
      self.lastStep = lastStep
      self.running = running
      slotCount = freeAfter.count
    }
  }

  /// The view after `ebatch-pack` for trees and lattices: instance slots × time. One row per
  /// slot, one column per step (a batch of the schedule that ran, its op type in the header); a
  /// cell is the instance in the slot, in full colour when it runs nodes in that step and pale
  /// while it waits for its op type's turn; white slots are empty.
  static func slotChart(_ module: Module, _ schedule: Schedule) -> DotGraph {
    var graph = base("slots")
    let occupancy = SlotOccupancy(module, schedule)
    let steps = schedule.batchCount
    let unit = max(1, (steps + slotChartColumnLimit - 1) / slotChartColumnLimit)
    let columns = (steps + unit - 1) / unit
    let rowsShown = min(occupancy.slotCount, slotChartRowLimit)
    // The holder of each slot at each step.
    var holder = [[Int]](
      repeating: [Int](repeating: -1, count: steps), count: occupancy.slotCount)
    for (i, slot) in occupancy.slotOf.enumerated() where slot >= 0 {
      for s in occupancy.firstStep[i]...occupancy.lastStep[i] { holder[slot][s] = i }
    }
    var title =
      "instance slots × time: \(module.instances.count) instances over \(steps) steps, at most \(occupancy.slotCount) in flight (continuous batching of the schedule)"
    var limits: [String] = []
    if rowsShown < occupancy.slotCount {
      limits.append("first \(rowsShown) of \(occupancy.slotCount) slots")
    }
    if unit > 1 { limits.append("one column = \(unit) steps") }
    if !limits.isEmpty { title += " (showing \(limits.joined(separator: ", ")))" }
    let note =
      "a step runs one batch (its op type heads the column); full colour: the instance runs nodes in that step, pale: it waits in its slot"
    // The title goes above the table, so it does not stretch the step columns unevenly.
    graph.attributes.append(("label", title + "\\n" + note))
    var rows = "<TR><TD><FONT POINT-SIZE=\"8\">step</FONT></TD>"
    for c in 0..<columns {
      // Every step numbered in short charts, every fifth column in long ones.
      let numbered = columns <= 40 || c % 5 == 0
      rows +=
        numbered
        ? "<TD WIDTH=\"\(stepWidth)\"><FONT POINT-SIZE=\"7\">\(c * unit)</FONT></TD>"
        : "<TD WIDTH=\"\(stepWidth)\"></TD>"
    }
    rows += "</TR><TR><TD><FONT POINT-SIZE=\"8\">op type</FONT></TD>"
    for c in 0..<columns {
      let s = c * unit
      let type = Int(schedule.batchType[s])
      let names = occupancy.running[s].keys.sorted().map { module.instances[$0].name }
      let hover =
        "step \(s): batch of \(schedule.batch(s).count) × \(module.opTypes[type].name)\ninstances running: \(names.prefix(40).joined(separator: ", "))\(names.count > 40 ? ", …" : "")"
      rows += "<TD BGCOLOR=\"\(color(ofType: type))\" \(tip(hover))></TD>"
    }
    rows += "</TR>"
    for slot in 0..<rowsShown {
      rows += "<TR><TD><FONT POINT-SIZE=\"8\">slot \(slot)</FONT></TD>"
      for c in 0..<columns {
        let range = (c * unit)..<min(steps, (c + 1) * unit)
        let i = holder[slot][range.lowerBound]
        guard i >= 0 else {
          rows += "<TD BGCOLOR=\"#ffffff\"></TD>"
          continue
        }
        let nodes = range.reduce(0) { $0 + (occupancy.running[$1][i] ?? 0) }
        let runs = nodes > 0
        let name = module.instances[i].name
        let fill = runs ? color(ofInstance: i) : pale(color(ofInstance: i))
        let hover =
          "\(name) in slot \(slot), steps \(occupancy.firstStep[i])–\(occupancy.lastStep[i])\nstep \(range.lowerBound)\(unit > 1 ? "–\(range.upperBound - 1)" : ""): \(runs ? "runs \(nodes) node\(nodes == 1 ? "" : "s")" : "waits")"
        let text =
          range.contains(occupancy.firstStep[i])
          ? "<FONT POINT-SIZE=\"7\">\(htmlEscaped(name))</FONT>" : ""
        rows += "<TD BGCOLOR=\"\(fill)\" \(tip(hover))>\(text)</TD>"
      }
      rows += "</TR>"
    }
    graph.nodes.append(table("slots", rows))
    return graph
  }

  /// Instances cycle through Tableau 10, stronger than the op types' pastels so the two differ.
  static let instancePalette = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
  ]

  static func color(ofInstance i: Int) -> String { instancePalette[i % instancePalette.count] }

  /// `hex` (`#rrggbb`) mixed two parts white to one part colour.
  static func pale(_ hex: String) -> String {
    let digits = Array(hex.utf8.dropFirst())
    guard digits.count == 6 else { return hex }
    func value(_ c: UInt8) -> Int {
      switch c {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(c - UInt8(ascii: "0"))
      case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(c - UInt8(ascii: "a")) + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(c - UInt8(ascii: "A")) + 10
      default: 0
      }
    }
    let hexDigits = Array("0123456789abcdef")
    var out = "#"
    for k in 0..<3 {
      let channel = value(digits[2 * k]) * 16 + value(digits[2 * k + 1])
      let mixed = (channel + 2 * 255) / 3
      out.append(hexDigits[mixed / 16])
      out.append(hexDigits[mixed % 16])
    }
    return out
  }
}
