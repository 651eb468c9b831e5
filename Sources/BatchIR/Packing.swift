/// The result of a sequence-packing pass (`ebatch-pack`): how the time-steps of recurrent
/// requests are laid on the accelerator's lanes over time.
///
/// The packing is a list of rounds. A round runs `steps` time-steps of layer 1 over every lane,
/// then `steps` of layer 2, and so on. Each lane of a round holds segments laid end to end
/// (`request@first+count`, or idle `_+count`) that fill exactly `steps` time-steps. Lanes past
/// the last one listed are idle for the whole round.
///
/// - `padding` (static batching): one round per batch, `steps` = the longest request's length;
///   the tail of shorter lanes is idle (padding).
/// - `cellular` (BatchMaker): rounds of one step.
/// - `ebatch` (E-BATCH): rounds of `stepsPerChunk` steps; a lane's sequences are concatenated.
public struct Packing: Hashable, Sendable {
  /// A piece of one lane in one round: `count` time-steps of `request` from step `first`, or
  /// `count` idle time-steps when `request` is `Packing.idle`.
  public struct Segment: Hashable, Sendable {
    public var request: Int32
    public var first: Int32
    public var count: Int32

    public init(request: Int32, first: Int32, count: Int32) {
      self.request = request
      self.first = first
      self.count = count
    }

    public static func idle(_ count: Int32) -> Segment {
      Segment(request: Packing.idle, first: 0, count: count)
    }

    public var isIdle: Bool { request == Packing.idle }
  }

  /// One round: `steps` time-steps of every layer; `lanes[k]` is lane k's segments.
  public struct Round: Hashable, Sendable {
    public var steps: Int
    public var lanes: [[Segment]]
    public var location: SourceLocation

    public init(steps: Int, lanes: [[Segment]], location: SourceLocation = .unknown) {
      self.steps = steps
      self.lanes = lanes
      self.location = location
    }

    public static func == (a: Round, b: Round) -> Bool { a.steps == b.steps && a.lanes == b.lanes }
    public func hash(into hasher: inout Hasher) {
      hasher.combine(steps)
      hasher.combine(lanes)
    }

    /// Useful (non-idle) lane-steps of the round.
    public var usefulLaneSteps: Int {
      lanes.reduce(0) { $0 + $1.reduce(0) { $0 + ($1.isIdle ? 0 : Int($1.count)) } }
    }
  }

  /// The request index of an idle segment.
  public static let idle: Int32 = -1

  /// `padding`, `cellular` or `ebatch` (informational; printed and parsed back).
  public var strategy: String
  /// The accelerator's lane count B; no round uses more.
  public var lanes: Int
  /// N, the time-steps of a chunk (the `steps=` the pass used; 1 for cellular, 0 for padding).
  public var stepsPerChunk: Int
  public var rounds: [Round]
  public var location: SourceLocation

  public init(
    strategy: String, lanes: Int, stepsPerChunk: Int, rounds: [Round] = [],
    location: SourceLocation = .unknown
  ) {
    self.strategy = strategy
    self.lanes = lanes
    self.stepsPerChunk = stepsPerChunk
    self.rounds = rounds
    self.location = location
  }

  public static func == (a: Packing, b: Packing) -> Bool {
    a.strategy == b.strategy && a.lanes == b.lanes && a.stepsPerChunk == b.stepsPerChunk
      && a.rounds == b.rounds
  }
  public func hash(into hasher: inout Hasher) {
    hasher.combine(strategy)
    hasher.combine(lanes)
    hasher.combine(rounds)
  }

  /// The layers (op type indices) of the packed requests: those of the first recurrent instance.
  public func layers(in module: Module) -> [Int] {
    module.instances.first { $0.recurrence != nil }?.recurrence?.layers ?? []
  }

  /// The rows the accelerator computes in a round: the lanes with work in it. A lane idle for
  /// the whole round is skipped (`cellular` re-forms its batch at every step; an E-BATCH lane
  /// with nothing to run is masked off); idle segments of a lane with work are padding.
  public func computedLanes(of round: Round) -> Int {
    round.lanes.reduce(0) { $0 + ($1.contains { !$0.isIdle } ? 1 : 0) }
  }

  /// Idle lane-steps (padding) the accelerator computes, over all rounds.
  public var paddingLaneSteps: Int {
    rounds.reduce(0) { $0 + computedLanes(of: $1) * $1.steps - $1.usefulLaneSteps }
  }

  /// Requests that start in a lane another request used before them (E-BATCH's refills; the
  /// first request of every lane does not count).
  public var refills: Int {
    var used = Set<Int>()
    var count = 0
    for round in rounds {
      for (lane, segments) in round.lanes.enumerated() {
        for segment in segments where segment.request != Packing.idle && segment.first == 0 {
          if !used.insert(lane).inserted { count += 1 }
        }
      }
    }
    return count
  }
}
