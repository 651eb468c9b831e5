import BatchIR

/// Lower bounds on the number of batches of any schedule.
///
/// - The *path bound* (`path_lower_bound`): unbatched nodes run alone, and a batch holds at most
///   one node of a path, so type t needs at least as many batches as the most t-nodes on one path.
/// - The *proven bound* (`lower_bound`) strengthens it by exact solves of relaxations. Every
///   batch holds one type, so a schedule's batches split by type. Keep two types a and b on some
///   pieces of the graph, free every other node there (it runs as soon as it is ready and costs
///   nothing) and drop the rest: a schedule's a- and b-batches, restricted to those nodes,
///   schedule the relaxation, so they are at least its optimum. The bound is that optimum (A*,
///   or the lowest open estimate when A* runs out of budget) plus the path bounds of every other
///   type.
/// - Pieces are the weakly connected pieces left when unbatched nodes and hubs (more than 8 node
///   operands, like a mini-batch's loss node) are removed; removing any node only drops
///   constraints. For a pair, pieces with the longest a- plus b-chains come first; the first 1,
///   2, 4, … pieces (at most `maxNodes` nodes) are solved until the optimum stops growing or A*
///   runs out of budget, and then the piece count is bisected between the last solved and the
///   failed one. Pairs are taken among the `maxTypes` types with the largest path bounds; the
///   best result wins.
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
      let chains = BatchBounds.longestChains(graph, pieces: pieces)
      // Pairs among the `maxTypes` types with the largest path bounds (ties: lower slot).
      let slots = (0..<graph.slotCount).sorted { (-typeBound[$0], $0) < (-typeBound[$1], $1) }
        .prefix(maxTypes)
      for a in slots {
        for b in slots where b > a {
          let types = [slotType[a], slotType[b]]
          let rest = pathBound - typeBound[a] - typeBound[b]
          // The pieces with the longest a- and b-chains first (ties: larger, then lower id).
          let ordered = pieces.indices.map { p in
            let row = p * graph.slotCount
            return (score: chains[row + a] + chains[row + b], piece: pieces[p])
          }.sorted {
            ($0.score, $0.piece.count, -$0.piece[0]) > ($1.score, $1.piece.count, -$1.piece[0])
          }
          // The most pieces that fit in `maxNodes` (at least one).
          var fitting = 0
          var size = 0
          while fitting < ordered.count
            && (fitting == 0 || size + ordered[fitting].piece.count <= maxNodes)
          {
            size += ordered[fitting].piece.count
            fitting += 1
          }
          /// Solves the relaxation on the first `count` pieces; its optimum, or nil when A* ran
          /// out of budget (its open-list bound still counts).
          func solve(_ count: Int) -> Int? {
            let nodes = ordered.prefix(count).flatMap(\.piece).sorted()
            let outcome = AStarBatching.search(
              SearchProblem(graph, keepTypes: types, nodes: nodes), budget: budget)
            if outcome.bound + rest > best {
              best = outcome.bound + rest
              bestPair = (graph.typeNames[types[0]], graph.typeNames[types[1]])
              bestInstances = count
            }
            return outcome.moves == nil ? nil : outcome.bound
          }
          // Solve at 1, 2, 4, … pieces; when A* runs out of budget, bisect between the last
          // solved count and the failed one (a solved relaxation usually bounds best).
          // Doubling stops early when it no longer raises the optimum: more of the same pieces
          // rarely add batches, and the budget is better spent on other pairs.
          var (solved, failed) = (0, fitting + 1)
          var count = 1
          var previous = -1
          while count <= fitting {
            guard let optimum = solve(count) else {
              failed = count
              break
            }
            solved = count
            if count == fitting || optimum == previous { break }
            previous = optimum
            count = min(count * 2, fitting)
          }
          while failed - solved > 1 && failed <= fitting {
            let middle = (solved + failed) / 2
            if solve(middle) != nil { solved = middle } else { failed = middle }
          }
        }
      }
    }
    provenBound = best
    self.bestPair = bestPair
    self.bestInstances = bestInstances
  }

  /// `chains[p * slotCount + s]`: the most slot-s nodes on one path starting in piece p (the
  /// maximum of `BatchingGraph.pathCount` over its nodes). One sweep for every pair of types.
  static func longestChains(_ graph: BatchingGraph, pieces: [[Int32]]) -> [Int32] {
    let slotCount = graph.slotCount
    var chains = [Int32](repeating: 0, count: pieces.count * slotCount)
    graph.pathCount.withUnsafeBufferPointer { pathCount in
      chains.withUnsafeMutableBufferPointer { chains in
        for (p, piece) in pieces.enumerated() {
          let row = chains.baseAddress! + p * slotCount
          for n in piece {
            BatchingGraph.maxInPlace(
              row, pathCount.baseAddress! + Int(n) * slotCount, count: slotCount)
          }
        }
      }
    }
    return chains
  }

  /// A node with more node operands than this is a hub: the pieces are cut there.
  static let hubOperands: Int32 = 8

  /// Weakly connected pieces of the graph once unbatched nodes and hubs are removed (a hub is a
  /// piece of its own), largest first (ties: the piece holding the lowest node id first).
  static func pieces(_ graph: BatchingGraph) -> [[Int32]] {
    let nodeCount = graph.nodeCount
    var parent = (0..<Int32(nodeCount)).map { $0 }
    // Each node's piece root, for the batchable nodes (-1 for the others).
    var root = [Int32](repeating: -1, count: nodeCount)
    var size = [Int32](repeating: 0, count: nodeCount)
    parent.withUnsafeMutableBufferPointer { parent in
      func find(_ x: Int32) -> Int32 {
        var x = x
        while parent[Int(x)] != x {
          parent[Int(x)] = parent[Int(parent[Int(x)])]
          x = parent[Int(x)]
        }
        return x
      }
      graph.nodeType.withUnsafeBufferPointer { nodeType in
        graph.operandCount.withUnsafeBufferPointer { operandCount in
          graph.userStart.withUnsafeBufferPointer { userStart in
            graph.users.withUnsafeBufferPointer { users in
              func isLink(_ n: Int) -> Bool {
                !graph.unbatched[Int(nodeType[n])] && operandCount[n] <= BatchBounds.hubOperands
              }
              for n in 0..<nodeCount where isLink(n) {
                for i in Int(userStart[n])..<Int(userStart[n + 1]) where isLink(Int(users[i])) {
                  let (x, y) = (find(Int32(n)), find(users[i]))
                  if x != y { parent[Int(max(x, y))] = min(x, y) }
                }
              }
              for n in 0..<nodeCount where !graph.unbatched[Int(nodeType[n])] {
                let r = find(Int32(n))
                root[n] = r
                size[Int(r)] += 1
              }
            }
          }
        }
      }
    }
    // Every piece's members in ascending order: each node, in id order, joins its root's piece.
    var pieceOfRoot = [Int32](repeating: -1, count: nodeCount)
    var pieces: [[Int32]] = []
    for n in 0..<nodeCount where root[n] >= 0 {
      let r = Int(root[n])
      if pieceOfRoot[r] < 0 {
        pieceOfRoot[r] = Int32(pieces.count)
        pieces.append([])
        pieces[pieces.count - 1].reserveCapacity(Int(size[r]))
      }
      pieces[Int(pieceOfRoot[r])].append(Int32(n))
    }
    return pieces.sorted { ($0.count, -$0[0]) > ($1.count, -$1[0]) }
  }
}
