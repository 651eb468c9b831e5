import BatchIR
import BatchPasses
import Foundation
import TestSupport
import Testing
import Workloads

/// Runs one policy and returns the verified schedule.
func schedule(_ module: Module, _ pipeline: String) throws -> (Schedule, PassStatistics) {
  var module = module
  let records = try PassManager(pipeline: pipeline).run(on: &module, file: "t")
  try Verifier.verify(module, file: "t")
  return (module.schedule!, records[0].statistics)
}

func batches(_ schedule: Schedule, _ module: Module) -> [String] {
  (0..<schedule.batchCount).map { b in
    module.opTypes[Int(schedule.batchType[b])].name + ":"
      + schedule.batch(b).map { String($0) }.joined(separator: ",")
  }
}

let allPolicies = [
  "agenda", "agenda-dynamic", "depth", "typewise", "exact", "beam", "beam,width=1",
  "fsm,episodes=60",
]

/// A random DAG: `count` nodes of `types` types (type 0 unbatched), each with up to 3 earlier operands.
func randomModule(seed: UInt64, count: Int, types: Int, instances: Int = 2) -> Module {
  var rng = SeededGenerator(seed: seed)
  var module = Module()
  let tensor = TensorType(.f32, [2])
  for t in 0..<types {
    module.addOpType(
      OpType(
        name: "t\(t)", kind: "op", operands: [tensor], variadic: true, result: tensor,
        unbatched: t == 0))
  }
  for i in 0..<instances {
    module.beginInstance(name: "i\(i)")
    let first = module.nodeCount
    for n in 0..<count {
      var operands: [Int32] = []
      let available = module.nodeCount - first
      if available > 0 {
        for _ in 0..<Int(rng.next() % 4) {
          operands.append(Int32(first + Int(rng.next() % UInt64(available))))
        }
      }
      let type = rng.unit() < 0.1 ? 0 : 1 + Int(rng.next() % UInt64(types - 1))
      module.addNode(type: type, operands: operands, name: "n\(n)")
    }
  }
  return module
}

@Suite struct BatchingTests {
  // A chain a→b→a→b beside a lone b: agenda by average depth vs the optimum.
  let chain =
    twoTypes.replacingOccurrences(of: "join = add(f32[4], f32[4])", with: "join = add(f32[4])")
      + """
      instance s {
        %a0 = leaf(_)
        %b0 = join(%a0)
        %a1 = leaf(%b0)
        %b1 = join(%a1)
      }
      instance u {
        %b = join(_)
      }
      """

  @Test func agendaPicksLowestAverageDepth() throws {
    let module = try parse(chain)
    // depths: a0 0, b0 1, a1 2, b1 3, b 0 → leaf avg 1, join avg 4/3: leaf first.
    let (s, stats) = try schedule(module, "fsm-batch{policy=agenda}")
    #expect(batches(s, module) == ["leaf:0", "join:4,1", "leaf:2", "join:3"])
    #expect(stats["lower_bound"] == 4)
  }

  @Test func depthGroupsByDepthThenType() throws {
    let module = try parse(chain)
    let (s, _) = try schedule(module, "fsm-batch{policy=depth}")
    #expect(batches(s, module) == ["leaf:0", "join:4", "join:1", "leaf:2", "join:3"])
  }

  @Test func exactFindsTheOptimum() throws {
    let module = try parse(chain)
    let (s, stats) = try schedule(module, "fsm-batch{policy=exact}")
    #expect(s.batchCount == 4)
    #expect(stats["batches"] == stats["lower_bound"])
  }

  @Test func unbatchedNodesRunAloneFirst() throws {
    let module = try parse(
      "dg 1\ntype p = param() -> f32[1] unbatched\ntype f = op(f32[1]) -> f32[1]\ninstance s {\n  %p = p()\n  %q = p()\n  %a = f(%p)\n  %b = f(%q)\n}\n"
    )
    for policy in allPolicies {
      let (s, _) = try schedule(module, "fsm-batch{policy=\(policy)}")
      #expect(batches(s, module) == ["p:0", "p:1", "f:2,3"], "\(policy)")
    }
  }

  @Test func exactGivesUpClearly() throws {
    let module = randomModule(seed: 5, count: 60, types: 4, instances: 3)
    #expect(throws: Diagnostic.self) {
      try schedule(module, "fsm-batch{policy=exact,max-states=5}")
    }
  }

  /// Property: on random DAGs every policy yields a valid schedule (the verifier checks each node
  /// runs once, after its operands, in type-homogeneous batches) no shorter than the lower bound.
  @Test(arguments: 0..<25)
  func everyPolicyIsValidOnRandomDAGs(seed: Int) throws {
    let module = randomModule(seed: UInt64(seed), count: 5 + seed % 9, types: 2 + seed % 3)
    var counts: [String: Double] = [:]
    for policy in allPolicies {
      let (s, stats) = try schedule(module, "fsm-batch{policy=\(policy)}")
      #expect(Double(s.batchCount) >= stats["lower_bound"]!)
      counts[policy] = Double(s.batchCount)
    }
    for policy in allPolicies { #expect(counts["exact"]! <= counts[policy]!, "\(policy)") }
  }

  /// Brute force over every move "run any non-empty subset of one type's ready nodes" (breadth
  /// first over executed sets): the true minimum, which `exact` must match.
  func bruteForceMinimum(_ module: Module) -> Int {
    let n = module.nodeCount
    var depthOf: [UInt32: Int] = [0: 0]
    var frontier: [UInt32] = [0]
    let all: UInt32 = n == 32 ? .max : (1 << UInt32(n)) - 1
    var level = 0
    while !frontier.isEmpty {
      var next: [UInt32] = []
      for done in frontier {
        if done == all { return level }
        var readyByType: [Int: [Int]] = [:]
        for v in 0..<n where done & (1 << UInt32(v)) == 0 {
          if module.operands(of: v).allSatisfy({ $0 < 0 || done & (1 << UInt32($0)) != 0 }) {
            readyByType[module.type(of: v), default: []].append(v)
          }
        }
        for (type, ready) in readyByType {
          let limit = module.opTypes[type].unbatched ? 1 : ready.count
          for mask in 1..<(1 << ready.count) where mask.nonzeroBitCount <= limit {
            var state = done
            for (i, v) in ready.enumerated() where mask & (1 << i) != 0 { state |= 1 << UInt32(v) }
            if depthOf[state] == nil {
              depthOf[state] = level + 1
              next.append(state)
            }
          }
        }
      }
      frontier = next
      level += 1
    }
    return -1
  }

  @Test(arguments: 0..<40)
  func exactAgreesWithBruteForce(seed: Int) throws {
    let module = randomModule(seed: UInt64(1000 + seed), count: 3 + seed % 5, types: 2 + seed % 3)
    let (s, _) = try schedule(module, "fsm-batch{policy=exact}")
    #expect(s.batchCount == bruteForceMinimum(module))
  }

  func smallSample(_ family: WorkloadFamily) -> Module {
    var options = WorkloadOptions()
    options.instances = 2
    options.seed = 3
    return WorkloadGenerator.generate(family, options: options)
  }

  @Test(arguments: [WorkloadFamily.treeLSTM, .treeGRU, .bilstmTagger, .seq2seq, .mvRNN])
  func fsmReachesExactOnSmallSamples(_ family: WorkloadFamily) throws {
    let module = smallSample(family)
    let (exact, _) = try schedule(module, "fsm-batch{policy=exact}")
    let (fsm, _) = try schedule(module, "fsm-batch{policy=fsm,episodes=200}")
    #expect(fsm.batchCount == exact.batchCount)
  }

  /// On small lattices the FSM must stay between the optimum (`exact`) and the counts it reached
  /// before (a regression guard, so an improvement passes): with ED-Batch's encodings a
  /// memoryless FSM got 37 where the optimum is 35 (one state needs different actions at
  /// different times), `frontier` 36. The `critical` encoding (the default) with imitation of
  /// beam search reaches the optimum on both samples.
  @Test func fsmOnSmallLatticesAgainstExact() throws {
    let module = smallSample(.latticeLSTM)
    let (exact, _) = try schedule(module, "fsm-batch{policy=exact}")
    #expect(exact.batchCount == 35)
    for encoding in ["base", "sort", "max"] {
      let (fsm, _) = try schedule(module, "fsm-batch{policy=fsm,encoding=\(encoding)}")
      #expect((exact.batchCount...37).contains(fsm.batchCount), "encoding \(encoding)")
    }
    let (frontier, _) = try schedule(module, "fsm-batch{policy=fsm,encoding=frontier}")
    #expect((exact.batchCount...36).contains(frontier.batchCount))
    let (critical, _) = try schedule(module, "fsm-batch{policy=fsm}")
    #expect(critical.batchCount == exact.batchCount)

    var options = WorkloadOptions()
    options.instances = 2
    options.seed = 1
    let other = WorkloadGenerator.generate(.latticeLSTM, options: options)
    let (otherExact, _) = try schedule(other, "fsm-batch{policy=exact}")
    let (otherMax, _) = try schedule(other, "fsm-batch{policy=fsm,encoding=max}")
    let (otherFrontier, _) = try schedule(other, "fsm-batch{policy=fsm,encoding=frontier}")
    let (otherCritical, _) = try schedule(other, "fsm-batch{policy=fsm}")
    #expect(otherExact.batchCount == 26)
    #expect((otherExact.batchCount...27).contains(otherMax.batchCount))
    #expect(otherFrontier.batchCount == otherExact.batchCount)
    #expect(otherCritical.batchCount == otherExact.batchCount)
  }

  @Test func trainingIsDeterministicInItsSeed() throws {
    let module = randomModule(seed: 77, count: 40, types: 5, instances: 4)
    let a = try schedule(module, "fsm-batch{episodes=100,seed=4,stop-ratio=0}")
    let b = try schedule(module, "fsm-batch{episodes=100,seed=4,stop-ratio=0}")
    #expect(a.0 == b.0)
  }
}
