import BatchIR

/// The machine a trained table actually runs: replays the greedy policy on graphs and counts
/// the states visited and the transitions taken (for `optimizer train --dot`).
public struct FSMReplay {
  public struct Transition: Hashable, Sendable {
    public var from: Int
    public var to: Int
    /// The type run, by name.
    public var action: String
  }

  /// Visited states by their ready-type tuple (names; a `max` state ends with `| TYPE`), in
  /// first-visit order; `-1` stands for the final state.
  public private(set) var states: [[String]] = []
  public private(set) var visits: [Int] = []
  /// Whether the table knew the state (false: the fallback rule chose).
  public private(set) var known: [Bool] = []
  public private(set) var transitions: [Transition: Int] = [:]

  public init(table: FSMTable, graphs: [BatchingGraph]) {
    var index: [[String]: Int] = [:]
    func state(_ names: [String], known isKnown: Bool) -> Int {
      if let i = index[names] {
        visits[i] += 1
        return i
      }
      index[names] = states.count
      states.append(names)
      visits.append(1)
      known.append(isKnown)
      return states.count - 1
    }
    for graph in graphs {
      var policy = FSMPolicy(table: table, graph: graph)
      var run = BatchingRun(graph: graph, recordSchedule: false)
      var previous: (state: Int, action: String)?
      while true {
        run.runUnbatched()
        if run.isFinished { break }
        let key = policy.encoder.key(run)
        let names = key.map { t in
          t == StateEncoder.unknownType ? "?" : table.keyWord(t)
        }
        let current = state(names, known: table.state(key) != nil)
        if let previous {
          transitions[
            Transition(from: previous.state, to: current, action: previous.action), default: 0] += 1
        }
        let choice = policy.choose(run)
        previous = (current, graph.typeNames[choice])
        run.runBatch(type: choice)
      }
      if let previous {
        let end = state(["end"], known: true)
        transitions[
          Transition(from: previous.state, to: end, action: previous.action), default: 0] += 1
      }
    }
  }
}
