import BatchIR

/// Lower bounds on the number of batches of any schedule.
///
/// - The *path bound* (`path_lower_bound`): unbatched nodes run alone, and a batch holds at most
///   one node of a path, so type t needs at least as many batches as the most t-nodes on one path.
/// - The *proven bound* (`lower_bound`) strengthens it by exact solves of relaxations. Every
///   batch holds one type, so a schedule's batches split by type. Keep two types a and b on the
///   `instances` largest connected pieces of the graph (unbatched nodes removed), free every other
///   node there (it runs as soon as it is ready and costs nothing) and drop the rest: a schedule's
///   a- and b-batches, restricted to those nodes, schedule the relaxation, so they are at least
///   its optimum. The bound is that optimum (A*, or the lowest open estimate when A* runs out of
///   budget) plus the path bounds of every other type. Pairs are taken among the `maxTypes`
///   types with the largest path bounds; the best pair and piece count wins.
public struct BatchBounds: Sendable {
  public let pathBound: Int
  public let provenBound: Int
  /// The relaxation that gave `provenBound` (nil when no relaxation beat the path bound).
  public let bestPair: (String, String)?
  public let bestInstances: Int

  /// `budget`: A* expansions per relaxation; 0 computes only the path bound.
  public init(_ graph: BatchingGraph, budget: Int, maxNodes: Int = 4096, maxTypes: Int = 6) {
    let typeBound = graph.typeBounds()
    let pathBound = graph.unbatchedNodeCount + typeBound.reduce(0, +)
    var slotType = [Int](repeating: 0, count: graph.slotCount)
    for t in 0..<graph.typeCount where graph.slotOfType[t] >= 0 {
      slotType[Int(graph.slotOfType[t])] = t
    }
    self.pathBound = pathBound
    var best = pathBound
    var bestPair: (String, String)?
    var bestInstances = 0
    if budget > 0 && graph.slotCount >= 2 {
      let pieces = BatchBounds.pieces(graph)
      // Pairs among the `maxTypes` types with the largest path bounds (ties: lower slot).
      let slots = (0..<graph.slotCount).sorted { (-typeBound[$0], $0) < (-typeBound[$1], $1) }
        .prefix(maxTypes)
      for a in slots {
        for b in slots where b > a {
          let types = [slotType[a], slotType[b]]
          let rest = pathBound - typeBound[a] - typeBound[b]
          var nodes: [Int32] = []
          for (k, piece) in pieces.enumerated() {
            if nodes.count + piece.count > maxNodes && k > 0 { break }
            nodes.append(contentsOf: piece)
            // Solve at 1, 2, 4, … pieces and at the last that fits.
            let isLast = k + 1 == pieces.count || nodes.count + pieces[k + 1].count > maxNodes
            if (k + 1) & k != 0 && !isLast { continue }
            let relaxed = SearchProblem(graph, keepTypes: types, nodes: nodes.sorted())
            let outcome = AStarBatching.search(relaxed, budget: budget)
            if outcome.bound + rest > best {
              best = outcome.bound + rest
              bestPair = (graph.typeNames[types[0]], graph.typeNames[types[1]])
              bestInstances = k + 1
            }
            if outcome.moves == nil { break }
          }
        }
      }
    }
    provenBound = best
    self.bestPair = bestPair
    self.bestInstances = bestInstances
  }

  /// Weakly connected pieces of the graph once unbatched nodes are removed, largest first
  /// (ties: the piece holding the lowest node id first).
  static func pieces(_ graph: BatchingGraph) -> [[Int32]] {
    var parent = (0..<Int32(graph.nodeCount)).map { $0 }
    func find(_ x: Int32) -> Int32 {
      var x = x
      while parent[Int(x)] != x {
        parent[Int(x)] = parent[Int(parent[Int(x)])]
        x = parent[Int(x)]
      }
      return x
    }
    for n in 0..<graph.nodeCount where !graph.unbatched[Int(graph.nodeType[n])] {
      for u in graph.users[Int(graph.userStart[n])..<Int(graph.userStart[n + 1])]
      where !graph.unbatched[Int(graph.nodeType[Int(u)])] {
        let (x, y) = (find(Int32(n)), find(u))
        if x != y { parent[Int(max(x, y))] = min(x, y) }
      }
    }
    var members: [Int32: [Int32]] = [:]
    for n in 0..<graph.nodeCount where !graph.unbatched[Int(graph.nodeType[n])] {
      members[find(Int32(n)), default: []].append(Int32(n))
    }
    return members.values.sorted { ($0.count, -$0[0]) > ($1.count, -$1[0]) }
  }
}
