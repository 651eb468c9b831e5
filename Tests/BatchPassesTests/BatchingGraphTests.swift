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

  /// The same-type ancestry walked in node ranges (as `init` does on both cores for large
  /// graphs) and merged equals one walk over every node, and both give each node's nearest
  /// same-type ancestors as defined: a t-ancestor reached by a path with no t-node in between.
  @Test(arguments: 0..<12)
  func sameTypeAncestryInRangesMatchesTheDefinition(seed: Int) {
    let module = randomModule(seed: UInt64(300 + seed), count: 70, types: 4, instances: 3)
    let graph = BatchingGraph(module)
    let order = (0..<Int32(module.nodeCount)).map { $0 }
    let walkNodes = BatchingGraph.depthsAndWalkNodes(
      module, order: order, userStart: module.users().start
    ).walkNodes
    let whole = BatchingGraph.merge(
      [
        BatchingGraph.sameTypeAncestry(
          module, nodes: 0..<module.nodeCount, walkNodes: walkNodes, unbatched: graph.unbatched)
      ], nodeCount: module.nodeCount)
    for parts in 2...5 {
      let walks = (0..<parts).map { part in
        BatchingGraph.sameTypeAncestry(
          module, nodes: BatchingGraph.part(part, of: parts, count: module.nodeCount),
          walkNodes: walkNodes, unbatched: graph.unbatched)
      }
      let merged = BatchingGraph.merge(walks, nodeCount: module.nodeCount)
      #expect(merged.blockers == whole.blockers)
      #expect(merged.start == whole.start)
      #expect(merged.dependents == whole.dependents)
    }
    #expect(whole.blockers == graph.sameTypeBlockers)
    #expect(whole.dependents == graph.sameTypeDependents)
    // The definition: walk up every path, stopping at the first node of the type.
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
    for n in 0..<module.nodeCount {
      #expect(Int(whole.blockers[n]) == nearest[n].count)
    }
    for a in 0..<module.nodeCount {
      let dependents = whole.dependents[Int(whole.start[a])..<Int(whole.start[a + 1])]
      #expect(dependents.sorted() == Array(dependents))
      #expect(
        Set(dependents)
          == Set(
            (0..<Int32(module.nodeCount)).filter {
              nearest[Int($0)].contains(Int32(a))
            }))
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
