import BatchIR
import Testing

@testable import BatchPasses

/// `BatchingGraph`'s fast paths against their slow counterparts.
@Suite struct BatchingGraphTests {
  /// `module` with its node ids reversed: every operand then has a higher id than its user, so
  /// the ids are no topological order. Returns the module and each old id's new id.
  static func reversed(_ module: Module) -> (module: Module, newId: [Int]) {
    let n = module.nodeCount
    var result = Module()
    result.opTypes = module.opTypes
    result.beginInstance(name: "all")
    for id in 0..<n {
      let old = n - 1 - id
      result.addNode(
        type: module.type(of: old),
        operands: module.operands(of: old).map { $0 == Module.external ? $0 : Int32(n - 1) - $0 },
        name: "n\(id)")
    }
    return (result, (0..<n).map { n - 1 - $0 })
  }

  /// A graph whose ids are not a topological order (Kahn's order then) has the same depths, path
  /// counts, same-type blockers and bounds, node for node, as the same graph in definition order
  /// (the ids themselves).
  @Test(arguments: 0..<12)
  func nonTopologicalIdsGiveTheSameAnalyses(seed: Int) throws {
    let module = randomModule(seed: UInt64(seed), count: 40, types: 4, instances: 3)
    let (other, newId) = Self.reversed(module)
    try Verifier.verify(other, file: "reversed")
    #expect(!other.operandsPrecedeUsers())
    #expect(module.operandsPrecedeUsers())
    let graph = BatchingGraph(module)
    let otherGraph = BatchingGraph(other)
    #expect(graph.slotCount == otherGraph.slotCount)
    #expect(graph.lowerBound() == otherGraph.lowerBound())
    #expect(graph.typeBounds() == otherGraph.typeBounds())
    let slots = graph.slotCount
    for n in 0..<module.nodeCount {
      let m = newId[n]
      #expect(graph.depth[n] == otherGraph.depth[m])
      #expect(graph.operandCount[n] == otherGraph.operandCount[m])
      #expect(graph.sameTypeBlockers[n] == otherGraph.sameTypeBlockers[m])
      #expect(
        graph.pathCount[(n * slots)..<((n + 1) * slots)]
          == otherGraph.pathCount[(m * slots)..<((m + 1) * slots)])
      let dependents = graph.sameTypeDependents[
        Int(graph.sameTypeDependentStart[n])..<Int(graph.sameTypeDependentStart[n + 1])]
      let otherDependents = otherGraph.sameTypeDependents[
        Int(otherGraph.sameTypeDependentStart[m])..<Int(otherGraph.sameTypeDependentStart[m + 1])]
      #expect(Set(dependents.map { newId[Int($0)] }) == Set(otherDependents.map { Int($0) }))
    }
  }

  /// Every node's t-ancestors (t its type), by walking all of its ancestors.
  static func sameTypeAncestors(_ module: Module, _ graph: BatchingGraph) -> [Set<Int32>] {
    (0..<module.nodeCount).map { n in
      let t = graph.nodeType[n]
      var stack = module.operands(of: n).filter { $0 != Module.external }
      var seen = Set<Int32>()
      while let o = stack.popLast() {
        guard seen.insert(o).inserted else { continue }
        stack += module.operands(of: Int(o)).filter { $0 != Module.external }
      }
      return seen.filter { graph.nodeType[Int($0)] == t }
    }
  }

  /// Every batchable node's nearest t-ancestors (t its type): walk up every path, stopping at the
  /// first node of the type.
  static func nearestSameTypeAncestors(_ module: Module, _ graph: BatchingGraph) -> [Set<Int32>] {
    var nearest = [Set<Int32>](repeating: [], count: module.nodeCount)
    for n in 0..<module.nodeCount where !graph.unbatched[Int(graph.nodeType[n])] {
      let t = graph.nodeType[n]
      var stack = module.operands(of: n).filter { $0 != Module.external }
      var seen = Set<Int32>()
      while let o = stack.popLast() {
        guard seen.insert(o).inserted else { continue }
        if graph.nodeType[Int(o)] == t {
          nearest[n].insert(o)
        } else {
          stack += module.operands(of: Int(o)).filter { $0 != Module.external }
        }
      }
    }
    return nearest
  }

  /// The same-type ancestry walked in node ranges (as `init` does on both cores for large
  /// graphs) and merged equals one walk over every node. Each node's blockers are nearest
  /// same-type ancestors (reached by a path with no t-node in between) that cover all of its
  /// t-ancestors: each is one of them or an ancestor of one. The walk drops some nearest ones.
  @Test(arguments: 0..<12)
  func sameTypeAncestryInRangesMatchesTheDefinition(seed: Int) {
    let module = randomModule(seed: UInt64(300 + seed), count: 70, types: 4, instances: 3)
    let graph = BatchingGraph(module)
    let order = (0..<Int32(module.nodeCount)).map { $0 }
    let (start, users) = module.users()
    let walkNodes = BatchingGraph.depthsAndWalkNodes(
      module, order: order, userStart: start
    ).walkNodes
    let walkUsers = BatchingGraph.WalkUsers(start: start, users: users)
    let whole = BatchingGraph.merge(
      [
        BatchingGraph.sameTypeAncestry(
          module, nodes: 0..<module.nodeCount, walkNodes: walkNodes, users: walkUsers,
          unbatched: graph.unbatched)
      ], nodeCount: module.nodeCount)
    for parts in 2...5 {
      let walks = (0..<parts).map { part in
        BatchingGraph.sameTypeAncestry(
          module, nodes: BatchingGraph.part(part, of: parts, count: module.nodeCount),
          walkNodes: walkNodes, users: walkUsers, unbatched: graph.unbatched)
      }
      let merged = BatchingGraph.merge(walks, nodeCount: module.nodeCount)
      #expect(merged.blockers == whole.blockers)
      #expect(merged.start == whole.start)
      #expect(merged.dependents == whole.dependents)
    }
    #expect(whole.blockers == graph.sameTypeBlockers)
    #expect(whole.dependents == graph.sameTypeDependents)
    let nearest = Self.nearestSameTypeAncestors(module, graph)
    Self.expectBlockersCoverAncestors(module, graph, nearest: nearest)
  }

  /// `graph`'s blockers are nearest same-type ancestors, counted and listed alike, and every
  /// same-type ancestor of a node is one of its blockers or an ancestor of one.
  static func expectBlockersCoverAncestors(
    _ module: Module, _ graph: BatchingGraph, nearest: [Set<Int32>]
  ) {
    var blockers = [Set<Int32>](repeating: [], count: module.nodeCount)
    for a in 0..<module.nodeCount {
      let dependents = graph.sameTypeDependents[
        Int(graph.sameTypeDependentStart[a])..<Int(graph.sameTypeDependentStart[a + 1])]
      #expect(dependents.sorted() == Array(dependents))
      for d in dependents { blockers[Int(d)].insert(Int32(a)) }
    }
    let ancestors = sameTypeAncestors(module, graph)
    for n in 0..<module.nodeCount {
      #expect(Int(graph.sameTypeBlockers[n]) == blockers[n].count)
      #expect(blockers[n].isSubset(of: nearest[n]))
      if graph.unbatched[Int(graph.nodeType[n])] { continue }
      var covered = blockers[n]
      for b in blockers[n] { covered.formUnion(ancestors[Int(b)]) }
      #expect(covered == ancestors[n])
    }
  }

  /// The walks drop nearest t-ancestors that only lengthen the wait (the graphs above have
  /// some), and on an LSTM whose cell state bypasses the hidden type they keep one a step.
  @Test func sameTypeAncestryDropsCoveredAncestors() throws {
    var dropped = 0
    for seed in 0..<12 {
      let module = randomModule(seed: UInt64(300 + seed), count: 70, types: 4, instances: 3)
      let graph = BatchingGraph(module)
      let nearest = Self.nearestSameTypeAncestors(module, graph)
      dropped += zip(graph.sameTypeBlockers, nearest).filter { Int($0) < $1.count }.count
    }
    #expect(dropped > 0)
    // h_k = hidden(c_k), c_k = cell(c_{k-1}, h_{k-1}): h_k's nearest hidden ancestors are every
    // earlier h (through the cell chain); it waits on h_{k-1} only.
    var text = """
      dg 1
      type cell = add(f32[4]...) -> f32[4]
      type hidden = tanh(f32[4]) -> f32[4]
      instance s {
        %c0 = cell(_)
        %h0 = hidden(%c0)

      """
    for k in 1..<6 {
      text += "  %c\(k) = cell(%c\(k - 1), %h\(k - 1))\n  %h\(k) = hidden(%c\(k))\n"
    }
    text += "}\n"
    let module = try DGParser.parse(text, file: "lstm.dg")
    let graph = BatchingGraph(module)
    for k in 1..<6 {
      let h = 2 * k + 1
      #expect(graph.sameTypeBlockers[h] == 1)
      let dependents = graph.sameTypeDependents[
        Int(graph.sameTypeDependentStart[h - 2])..<Int(graph.sameTypeDependentStart[h - 1])]
      #expect(Array(dependents) == [Int32(h)])
    }
  }

  /// A walk reads at most `WalkUsers.readLimit` users of a node: a cell state whose hidden user
  /// comes after that many others is entered (h2 then waits on h1 and h0 both), and one whose
  /// hidden user comes within them is not.
  @Test(arguments: [BatchingGraph.WalkUsers.readLimit - 1, BatchingGraph.WalkUsers.readLimit])
  func walksReadFewUsersOfANode(readers: Int) throws {
    var text = """
      dg 1
      type cell = add(f32[4]...) -> f32[4]
      type hidden = tanh(f32[4]) -> f32[4]
      type other = tanh(f32[4]) -> f32[4]
      instance s {
        %c0 = cell(_)
        %h0 = hidden(%c0)
        %c1 = cell(%c0, %h0)

      """
    for r in 0..<readers { text += "  %r\(r) = other(%c1)\n" }
    text += "  %h1 = hidden(%c1)\n  %c2 = cell(%c1, %h1)\n  %h2 = hidden(%c2)\n}\n"
    let module = try DGParser.parse(text, file: "fan-out.dg")
    let graph = BatchingGraph(module)
    let h2 = module.nodeCount - 1
    // c1's users, by id: the readers, h1 and c2. The walk from h2 finds h1 (through c2), then
    // reads c1's users up to the limit: h1 is user number `readers`, counting from 0.
    let entered = readers >= BatchingGraph.WalkUsers.readLimit
    #expect(graph.sameTypeBlockers[h2] == (entered ? 2 : 1))
    Self.expectBlockersCoverAncestors(
      module, graph, nearest: Self.nearestSameTypeAncestors(module, graph))
  }

  /// Along random runs, each type's frontier (`BatchingRun.frontierCount`, kept from the
  /// blockers) is at every step what it is by definition: the unexecuted t-nodes whose
  /// t-ancestors have all run.
  @Test(arguments: 0..<8)
  func frontierFollowsTheDefinition(seed: Int) {
    let module = randomModule(seed: UInt64(500 + seed), count: 60, types: 4, instances: 3)
    let graph = BatchingGraph(module)
    let ancestors = Self.sameTypeAncestors(module, graph)
    var rng = SeededGenerator(seed: UInt64(seed))
    var run = BatchingRun(graph: graph, recordSchedule: false)
    while true {
      run.runUnbatched()
      let executed = { (n: Int) in run.executedBits[n >> 6] & (1 << UInt64(n & 63)) != 0 }
      for t in 0..<graph.typeCount where !graph.unbatched[t] {
        let frontier = (0..<module.nodeCount).filter { n in
          Int(graph.nodeType[n]) == t && !executed(n)
            && ancestors[n].allSatisfy { executed(Int($0)) }
        }
        #expect(Int(run.frontierCount[t]) == frontier.count)
      }
      if run.isFinished { break }
      let types = run.readyTypes
      run.runBatch(type: Int(types[Int(rng.next() % UInt64(types.count))]))
    }
  }

  /// The type bounds read at the source nodes only equal the maxima over every node.
  @Test(arguments: 0..<12)
  func typeBoundsAreTheMaximaOverEveryNode(seed: Int) {
    let graph = BatchingGraph(randomModule(seed: UInt64(100 + seed), count: 60, types: 5))
    var slow = [Int](repeating: 0, count: graph.slotCount)
    for n in 0..<graph.nodeCount {
      for s in 0..<graph.slotCount {
        slow[s] = max(slow[s], Int(graph.pathCount[n * graph.slotCount + s]))
      }
    }
    #expect(graph.typeBounds() == slow)
  }

  /// A table trained beforehand (`trainTable`) and applied in process (`table`) gives the
  /// schedule and statistics that training inside the pass gives.
  @Test(arguments: 0..<4)
  func inProcessTableMatchesTrainingInThePass(seed: Int) throws {
    let module = randomModule(seed: UInt64(200 + seed), count: 30, types: 4)
    var pass = FSMBatchingPass()
    pass.training.episodes = 40
    pass.proofBudget = 0
    var trained = module
    var trainedStatistics = PassStatistics()
    try pass.run(on: &trained, statistics: &trainedStatistics)
    var trainingStatistics = PassStatistics()
    pass.table = pass.trainTable(on: module, statistics: &trainingStatistics)
    var applied = module
    var appliedStatistics = PassStatistics()
    try pass.run(on: &applied, statistics: &appliedStatistics)
    #expect(applied.schedule == trained.schedule)
    for name in ["batches", "lower_bound", "path_lower_bound", "fallbacks"] {
      #expect(appliedStatistics[name] == trainedStatistics[name])
    }
    #expect(appliedStatistics["train_ms"] == nil)
  }
}
