import BatchIR

/// How the FSM names a state (ED-Batch's three encodings of the ready set).
public enum StateEncoding: String, CaseIterable, Sendable {
  /// The sorted tuple of ready types.
  case base
  /// The ready types by decreasing ready count.
  case sort
  /// `base` plus the type with the most ready nodes.
  case max
  /// `base` with each ready type marked by whether its whole frontier is ready (running it now
  /// takes every node that could share its batch: reward 0). Not one of ED-Batch's.
  case frontier
  /// `frontier` plus the type of the previous batch (written after `|`): a machine with one
  /// step of memory. Not one of ED-Batch's.
  case history
  /// The ready types, each marked by where its ready nodes stand on the longest remaining chain
  /// of its type (`BatchingRun.pathMark`): `NAME*` when running it now lowers the remaining
  /// path bound (tight), `NAME=` when another type's ready nodes start an equally long chain,
  /// `NAME+k` when the longest chain from its ready nodes is k shorter (k ≤ 3); plus the
  /// previous type after `|`. Not one of ED-Batch's.
  case critical
  /// `critical` plus the phase of the run: the share of nodes executed, in
  /// `FSMTable.phaseCount` steps (written `@k` at the end). The same ready set early and late in
  /// a graph gets its own decision, so a table can follow a search's schedule closely; a state
  /// the table lacks backs off to its `critical` key, then to that key without the previous
  /// type. Not one of ED-Batch's.
  case phased

  /// Whether the ready types carry path marks (`critical`, `phased`).
  var marksPaths: Bool { self == .critical || self == .phased }
}

/// The learned finite-state machine: for each state (an encoding of the ready set) the value
/// of each action (a ready type) and how often it was taken. Types are kept by name so a table
/// trained on some graphs applies to others of the same model.
public struct FSMTable: Equatable, Sendable {
  public static let formatVersion = 1
  /// Phase steps of the `phased` encoding.
  public static let phaseCount = 256

  public struct ActionValue: Equatable, Sendable {
    public var action: Int32
    public var value: Double
    public var visits: Int
  }

  public var encoding: StateEncoding
  public private(set) var typeNames: [String]
  private var typeIndex: [String: Int32] = [:]
  /// States in the order they were first seen; their keys are sequences of table type indices
  /// (for `max`, the base tuple, then -1, then the most-ready type).
  public private(set) var stateKeys: [[Int32]] = []
  private var stateIndex: [[Int32]: Int] = [:]
  public private(set) var actions: [[ActionValue]] = []
  /// The FSM itself: the type each state runs (-1: none, the fallback rule decides).
  public var choices: [Int32] = []
  /// The learned fallback rule (`RankedRule`), when training fitted one: a weight per feature
  /// (`RankedRule.featureNames`) and a bias per table type. Nil: the fixed rule.
  public var rankWeights: [Double]?
  public var rankBias: [Double] = []

  public init(encoding: StateEncoding, typeNames: [String] = []) {
    self.encoding = encoding
    self.typeNames = []
    for name in typeNames { _ = self.typeIndex(for: name) }
  }

  public static func == (a: FSMTable, b: FSMTable) -> Bool {
    a.encoding == b.encoding && a.typeNames == b.typeNames && a.stateKeys == b.stateKeys
      && a.actions == b.actions
      && a.choices == b.choices && a.rankWeights == b.rankWeights && a.rankBias == b.rankBias
  }

  public var stateCount: Int { stateKeys.count }

  /// The table index of a type name, adding it if new.
  public mutating func typeIndex(for name: String) -> Int32 {
    if let index = typeIndex[name] { return index }
    let index = Int32(typeNames.count)
    typeNames.append(name)
    typeIndex[name] = index
    return index
  }

  public func knownTypeIndex(_ name: String) -> Int32? { typeIndex[name] }

  public func state(_ key: [Int32]) -> Int? { stateIndex[key] }

  public mutating func addState(_ key: [Int32]) -> Int {
    if let index = stateIndex[key] { return index }
    stateIndex[key] = stateKeys.count
    stateKeys.append(key)
    actions.append([])
    choices.append(-1)
    return stateKeys.count - 1
  }

  /// The value of `action` in state `s`, or nil when it was never taken.
  public func value(state s: Int, action: Int32) -> Double? {
    actions[s].first { $0.action == action }?.value
  }

  /// The best value over the actions taken in state `s` (0 when none).
  public func bestValue(state s: Int) -> Double {
    actions[s].lazy.map(\.value).max() ?? 0
  }

  public mutating func update(state s: Int, action: Int32, toward target: Double, rate: Double) {
    if let i = actions[s].firstIndex(where: { $0.action == action }) {
      actions[s][i].value += rate * (target - actions[s][i].value)
      actions[s][i].visits += 1
    } else {
      actions[s].append(ActionValue(action: action, value: rate * target, visits: 1))
    }
  }

  /// The best taken action of state `s` among `allowed` (table type indices), if any.
  public func bestAction(state s: Int, allowed: (Int32) -> Bool) -> Int32? {
    var best: ActionValue?
    for entry in actions[s] where allowed(entry.action) {
      if best == nil || entry.value > best!.value
        || entry.value == best!.value && entry.action < best!.action
      {
        best = entry
      }
    }
    return best?.action
  }

  /// Sets every state's choice to its best-valued taken action (ties: lower type index).
  public mutating func chooseGreedily() {
    for s in 0..<stateCount { choices[s] = bestAction(state: s) { _ in true } ?? -1 }
  }

  /// Sets every state's choice to its most-visited action (ties: the lower type index).
  public mutating func chooseMostVisited() {
    for s in 0..<stateCount {
      var best: ActionValue?
      for entry in actions[s] {
        if let b = best,
          entry.visits < b.visits || entry.visits == b.visits && entry.action > b.action
        {
          continue
        }
        best = entry
      }
      choices[s] = best?.action ?? -1
    }
  }

  /// The types a state's key says are ready (the candidates for its choice).
  public func readyTypes(ofState s: Int) -> [Int32] {
    let key = stateKeys[s]
    let end = key.firstIndex(of: -1) ?? key.count
    return key[..<end].map { $0 <= -2 ? (encoding.marksPaths ? (-2 - $0) / 8 : -2 - $0) : $0 }
  }

  /// A `critical` key entry: a type with its path mark (`BatchingRun.pathMark`, 0…4).
  static func criticalEntry(type: Int32, mark: Int32) -> Int32 { -2 - (type * 8 + mark) }

  static let criticalSuffixes = ["*", "=", "+1", "+2", "+3"]

  /// The coarser keys a state backs off to when the table lacks it, finest first: for
  /// `phased`, the key without its phase, then the ready types alone; for `history` and
  /// `critical`, the ready types alone (without the previous type). Empty for the others.
  public static func backoffKeys(_ key: [Int32], encoding: StateEncoding) -> [[Int32]] {
    guard encoding == .history || encoding.marksPaths, let cut = key.firstIndex(of: -1) else {
      return []
    }
    let readyOnly = Array(key[..<cut])
    guard encoding == .phased else { return [readyOnly] }
    let withoutPhase = Array(key.dropLast())
    return withoutPhase.count > cut + 1 ? [withoutPhase, readyOnly] : [readyOnly]
  }

  /// A `phased` key's last entry: phase k (0 ≤ k < `phaseCount`). Below every type entry.
  static func phaseEntry(_ phase: Int32) -> Int32 { phaseBase - phase }
  static let phaseBase = Int32.min / 2

  static func isPhaseEntry(_ entry: Int32) -> Bool {
    entry <= phaseBase && entry > phaseBase - Int32(phaseCount)
  }

  /// The text of one state-key entry: a type name, `NAME!` for a type whose whole frontier is
  /// ready (`frontier`, `history`), or `|` before a `max` state's most-ready type or a
  /// `history` state's previous type.
  public func keyWord(_ entry: Int32) -> String {
    if entry == -1 { return "|" }
    if entry >= 0 { return typeNames[Int(entry)] }
    if FSMTable.isPhaseEntry(entry) { return "@\(FSMTable.phaseBase - entry)" }
    if !encoding.marksPaths { return typeNames[Int(-2 - entry)] + "!" }
    let (type, mark) = ((-2 - entry) / 8, Int((-2 - entry) % 8))
    return typeNames[Int(type)] + FSMTable.criticalSuffixes[min(mark, 4)]
  }

  /// Errors when the table shares no batchable op type with the graph: none of its states could
  /// ever match. Types the table never saw only make states unseen (the fallback rule decides).
  public func checkCompatible(with graph: BatchingGraph, file: String) throws(Diagnostic) {
    var present = [Bool](repeating: false, count: graph.typeCount)
    for t in graph.nodeType { present[Int(t)] = true }
    let batchable = (0..<graph.typeCount).filter { present[$0] && !graph.unbatched[$0] }
    if batchable.isEmpty || batchable.contains(where: { typeIndex[graph.typeNames[$0]] != nil }) {
      return
    }
    throw Diagnostic(
      file: file, location: .unknown,
      message:
        "the policy does not fit this graph: it knows op types \(typeNames.joined(separator: ", ")), the graph has \(batchable.map { graph.typeNames[$0] }.joined(separator: ", "))"
    )
  }
}

// MARK: Text form

extension FSMTable {
  /// The versioned text form:
  /// ```
  /// fsm-policy 1
  /// encoding sort
  /// types lstm embed tag
  /// state lstm tag -> lstm : lstm=-2.5/14 tag=-3/2
  /// ```
  /// Each state line gives the ready-type tuple, the type the FSM runs there (`-` for none),
  /// and the learned value and visit count of every action taken. A `max` state writes its
  /// most-ready type after `|`; a `frontier` state marks complete types `NAME!`. Values
  /// round-trip exactly.
  public func text() -> String {
    var out =
      "fsm-policy \(FSMTable.formatVersion)\nencoding \(encoding.rawValue)\ntypes \(typeNames.joined(separator: " "))\n"
    if let weights = rankWeights {
      out += "rank"
      for (name, w) in zip(RankedRule.featureNames, weights) { out += " \(name)=\(w)" }
      out += "\nbias"
      for (t, b) in rankBias.enumerated() { out += " \(typeNames[t])=\(b)" }
      out += "\n"
    }
    for (s, key) in stateKeys.enumerated() {
      out += "state"
      for t in key { out += " " + keyWord(t) }
      out += " -> \(choices[s] < 0 ? "-" : typeNames[Int(choices[s])]) :"
      for entry in actions[s] {
        out += " \(typeNames[Int(entry.action)])=\(entry.value)/\(entry.visits)"
      }
      out += "\n"
    }
    return out
  }

  public static func load(path: String) throws(Diagnostic) -> FSMTable {
    guard let bytes = readFileBytes(path) else {
      throw Diagnostic(file: path, location: .unknown, message: "cannot read the policy file")
    }
    return try parse(String(decoding: bytes, as: UTF8.self), file: path)
  }

  public static func parse(_ text: String, file: String) throws(Diagnostic) -> FSMTable {
    var table = FSMTable(encoding: .base)
    var sawHeader = false
    var sawTypes = false
    for (lineIndex, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false)
      .enumerated()
    {
      let line =
        rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
      let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
      guard let keyword = words.first else { continue }
      func fail(_ message: String, word: Substring? = nil) -> Diagnostic {
        let column =
          word.map { rawLine.distance(from: rawLine.startIndex, to: $0.startIndex) + 1 } ?? 1
        return Diagnostic(
          file: file, location: SourceLocation(line: lineIndex + 1, column: column),
          message: message,
          sourceLine: String(rawLine))
      }
      if !sawHeader {
        guard keyword == "fsm-policy", words.count == 2 else {
          throw fail("expected the header 'fsm-policy \(formatVersion)'")
        }
        guard words[1] == "\(formatVersion)" else {
          throw fail(
            "unsupported policy format version \(words[1]); this tool reads \(formatVersion)",
            word: words[1])
        }
        sawHeader = true
        continue
      }
      switch keyword {
      case "encoding":
        guard words.count == 2, let encoding = StateEncoding(rawValue: String(words[1])) else {
          throw fail(
            "expected 'encoding base|sort|max|frontier|history|critical|phased'",
            word: words.count > 1 ? words[1] : keyword
          )
        }
        table.encoding = encoding
      case "types":
        for name in words.dropFirst() {
          if table.typeIndex[String(name)] != nil {
            throw fail("type '\(name)' listed twice", word: name)
          }
          _ = table.typeIndex(for: String(name))
        }
        sawTypes = true
      case "rank":
        var weights = [Double](repeating: 0, count: RankedRule.featureNames.count)
        for word in words.dropFirst() {
          let parts = word.split(separator: "=", maxSplits: 1)
          guard parts.count == 2, let f = RankedRule.featureNames.firstIndex(of: String(parts[0])),
            let value = Double(parts[1]), value.isFinite
          else {
            throw fail(
              "expected FEATURE=WEIGHT, a feature one of \(RankedRule.featureNames.joined(separator: ", "))",
              word: word)
          }
          weights[f] = value
        }
        table.rankWeights = weights
      case "bias":
        guard sawTypes else { throw fail("a bias line before the 'types' line") }
        var bias = [Double](repeating: 0, count: table.typeNames.count)
        for word in words.dropFirst() {
          let parts = word.split(separator: "=", maxSplits: 1)
          guard parts.count == 2, let t = table.typeIndex[String(parts[0])],
            let value = Double(parts[1]), value.isFinite
          else {
            throw fail("expected TYPE=BIAS with a type on the 'types' line", word: word)
          }
          bias[Int(t)] = value
        }
        table.rankBias = bias
      case "state":
        guard sawTypes else { throw fail("a state line before the 'types' line") }
        guard let arrow = words.firstIndex(of: "->"), arrow + 2 < words.count,
          words[arrow + 2] == ":"
        else {
          throw fail("expected 'state TYPES… -> CHOICE : ACTIONS…'")
        }
        let colon = arrow + 2
        var key: [Int32] = []
        for word in words[1..<arrow] {
          if word == "|" {
            key.append(-1)
          } else if let t = table.typeIndex[String(word)] {
            key.append(t)
          } else if table.encoding == .phased, word.hasPrefix("@"),
            let phase = Int32(word.dropFirst()), phase >= 0, phase < FSMTable.phaseCount
          {
            key.append(FSMTable.phaseEntry(phase))
          } else if table.encoding.marksPaths,
            let mark = FSMTable.criticalSuffixes.firstIndex(where: { word.hasSuffix($0) }),
            let t = table.typeIndex[String(word.dropLast(FSMTable.criticalSuffixes[mark].count))]
          {
            key.append(FSMTable.criticalEntry(type: t, mark: Int32(mark)))
          } else if !table.encoding.marksPaths, word.hasSuffix("!"),
            let t = table.typeIndex[String(word.dropLast())]
          {
            key.append(-2 - t)
          } else {
            throw fail("unknown type '\(word)' (not on the 'types' line)", word: word)
          }
        }
        if table.stateIndex[key] != nil { throw fail("state listed twice") }
        let s = table.addState(key)
        let choiceWord = words[arrow + 1]
        if choiceWord != "-" {
          guard let choice = table.typeIndex[String(choiceWord)],
            table.readyTypes(ofState: s).contains(choice)
          else {
            throw fail(
              "the choice '\(choiceWord)' is not one of the state's ready types", word: choiceWord)
          }
          table.choices[s] = choice
        }
        for word in words[(colon + 1)...] {
          let parts = word.split(separator: "=", maxSplits: 1)
          let numbers = parts.count == 2 ? parts[1].split(separator: "/") : []
          guard parts.count == 2, numbers.count == 2, let t = table.typeIndex[String(parts[0])],
            let value = Double(numbers[0]), value.isFinite, let visits = Int(numbers[1]),
            visits >= 0
          else {
            throw fail("expected an action as TYPE=VALUE/VISITS with a known type", word: word)
          }
          if table.actions[s].contains(where: { $0.action == t }) {
            throw fail("action listed twice", word: word)
          }
          table.actions[s].append(ActionValue(action: t, value: value, visits: visits))
        }
      default:
        throw fail(
          "expected 'encoding', 'types', 'rank', 'bias' or 'state', found '\(keyword)'",
          word: keyword)
      }
    }
    guard sawHeader else {
      throw Diagnostic(
        file: file, location: SourceLocation(line: 1, column: 1),
        message: "empty policy file: expected 'fsm-policy \(formatVersion)'")
    }
    return table
  }
}

extension FSMTable {
  /// The rule that decides states the table does not know (and the training prior): the
  /// learned ranking when the table has one, else `tight` for the `critical` and `phased`
  /// encodings and `typewise` for the others.
  func fallbackChoice(_ run: BatchingRun, rule: RankedRule?) -> Int {
    if let rule { return rule.choose(run) }
    return encoding.marksPaths ? TightPolicy().choose(run) : TypewisePolicy().choose(run)
  }

  /// The learned rule for a graph whose types map to table types by `tableType`; nil when the
  /// table has none.
  func rankedRule(tableType: [Int32]) -> RankedRule? {
    guard let rankWeights else { return nil }
    let bias = tableType.map { t in
      t >= 0 && Int(t) < rankBias.count ? rankBias[Int(t)] : 0
    }
    return RankedRule(weights: rankWeights, bias: bias)
  }
}
