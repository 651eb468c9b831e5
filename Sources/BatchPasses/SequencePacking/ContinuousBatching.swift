import AccelSim
import BatchIR

/// `ebatch-pack` on trees and lattices: continuous batching of `fsm-batch`'s schedule.
///
/// At most `slots` instances are in flight; the others wait, first come first served, and one
/// joins the moment an instance in flight completes (E-BATCH's refill, with an instance in the
/// role of a sequence). The schedule's batches are walked in order, over and over: each step runs
/// the nodes of the current batch that belong to instances in flight and are ready, as one batch;
/// nodes of instances admitted later wait for their batch to come round again. So the FSM's
/// learned order still decides which type runs next, and when every instance is in flight from
/// the start the result is exactly the input schedule.
///
/// Whether an instance has arrived is decided by the simulator's clock (`SimulationSession`),
/// fed the instructions `ProgramBuilder` emits for each batch, so `--emit-program` and
/// `optimizer simulate` see the same timing. When every instance arrives at time 0 (offline
/// mini-batches) the clock cannot hold an admission back, so no instruction is built or
/// simulated: the schedule is the same, found in a fraction of the time.
public struct ContinuousBatcher: Sendable {
  public let preset: AcceleratorPreset
  /// Instances in flight at once.
  public let slots: Int
  /// Rows one execution holds.
  public let lanes: Int

  public struct Result: Sendable {
    public var schedule: Schedule
    /// Whether admissions followed the simulated clock (some instance arrives after time 0).
    /// When false, timing, and so the gathers passed in, made no difference to the schedule.
    public var followedClock: Bool
    /// Instances admitted after the first `slots` (each into a slot another one freed).
    public var refills: Int
    /// Times the walk wrapped around the input schedule.
    public var passes: Int
  }

  public init(preset: AcceleratorPreset, slots: Int, lanes: Int) {
    self.preset = preset
    self.slots = slots
    self.lanes = lanes
  }

  /// Runs `input` (whose gathers, by batch, are `gathers`: pass the layout's only if it was made
  /// for `input`).
  public func run(_ module: Module, schedule input: Schedule, gathers: [MemoryLayout.Gather] = [])
    -> Result
  {
    run(module, schedule: input, gathers: gathers, followClock: nil)
  }

  /// `run`, with `followClock` forcing the simulated clock on or off (nil: on when some
  /// instance arrives after time 0). Tests force it on to check that skipping it changes nothing.
  func run(
    _ module: Module, schedule input: Schedule, gathers: [MemoryLayout.Gather], followClock: Bool?
  ) -> Result {
    let builder = ProgramBuilder(lanes: lanes, elementBytes: preset.elementBytes)
    let table = builder.opTypeTable(module)
    let requests = builder.requestTable(module)
    var session = SimulationSession(preset: preset, opTypes: table, requests: requests)
    let instanceOf = module.nodeInstances()
    var gathersAt = [[MemoryLayout.Gather]](repeating: [], count: input.batchCount)
    for gather in gathers.sorted() where gather.batch < input.batchCount {
      gathersAt[gather.batch].append(gather)
    }
    let order = (0..<module.instances.count).sorted {
      (requests[$0].arrival, $0) < (requests[$1].arrival, $1)
    }
    let followsClock = followClock ?? session.arrivalCycle.contains { $0 > 0 }

    // Operands not yet computed, per node; nodes left per instance.
    var pending = [Int32](repeating: 0, count: module.nodeCount)
    let (userStart, users) = module.users()
    for n in 0..<module.nodeCount {
      for k in Int(module.operandStart[n])..<Int(module.operandStart[n + 1])
      where module.operands[k] != Module.external {
        pending[n] += 1
      }
    }
    var left = module.instances.map { $0.nodes.count }
    var started = [Bool](repeating: false, count: module.instances.count)
    var admitted = [Bool](repeating: false, count: module.instances.count)

    var result = Result(
      schedule: Schedule(policy: input.policy, location: input.location),
      followedClock: followsClock, refills: 0, passes: 0)
    var inFlight = 0
    var admissions = 0
    var nextArrival = 0
    var remaining = module.nodeCount
    // Instances without nodes start and complete at once.
    for i in module.instances.indices where left[i] == 0 {
      if followsClock {
        session.step(.start(request: Int32(i)))
        session.step(.complete(request: Int32(i)))
      }
      admitted[i] = true
    }

    // Nodes that can run (computed operands, instance admitted, not done), listed under their
    // batch as they become ready, so a step never rescans its batch.
    var batchOf = [Int32](repeating: -1, count: module.nodeCount)
    var rank = [Int32](repeating: 0, count: module.nodeCount)
    for b in 0..<input.batchCount {
      for (k, n) in input.batch(b).enumerated() {
        batchOf[Int(n)] = Int32(b)
        rank[Int(n)] = Int32(k)
      }
    }
    var ready = [[Int32]](repeating: [], count: input.batchCount)
    var readyCount = 0
    func markReady(_ n: Int) {
      let b = Int(batchOf[n])
      guard b >= 0 else { return }
      ready[b].append(Int32(n))
      readyCount += 1
    }

    func admitArrived() {
      while inFlight < slots, nextArrival < order.count {
        let i = order[nextArrival]
        if admitted[i] {
          nextArrival += 1
          continue
        }
        // When nothing is in flight, the next arrival is admitted even if it is still to come:
        // its `start` makes the accelerator wait for it.
        guard inFlight == 0 || session.arrivalCycle[i] <= session.clock else { break }
        admitted[i] = true
        inFlight += 1
        nextArrival += 1
        admissions += 1
        if admissions > slots { result.refills += 1 }
        for n in module.instances[i].nodes where pending[n] == 0 { markReady(n) }
      }
    }

    // The walk over the schedule's batches, skipping those with nothing ready. Admission only
    // changes after a batch runs (the clock and the slots in flight move then), so it is tried
    // once at the start and after every batch that runs.
    var b = 0
    admitArrived()
    var runnable: [Int32] = []
    // Buffers reused by every step: the instances it starts and completes, its instructions.
    var starts: [Int32] = []
    var completes: [Int32] = []
    var batch: [Instruction] = []
    var keyed: [UInt64] = []
    while remaining > 0 {
      guard readyCount > 0 else { break }  // nothing can ever run (not a valid schedule)
      while true {
        if b == input.batchCount {
          b = 0
          result.passes += 1
        }
        if !ready[b].isEmpty { break }
        b += 1
      }
      let type = Int(input.batchType[b])
      // The ready nodes in the batch's order; nodes made ready by this step wait for the next round.
      swap(&runnable, &ready[b])
      ready[b].removeAll(keepingCapacity: true)
      readyCount -= runnable.count
      if !zip(runnable, runnable.dropFirst()).allSatisfy({ rank[Int($0)] < rank[Int($1)] }) {
        // By (rank, node) packed in one integer: plain integer comparisons, no closure.
        keyed.removeAll(keepingCapacity: true)
        for n in runnable { keyed.append(UInt64(UInt32(rank[Int(n)])) << 32 | UInt64(UInt32(n))) }
        keyed.sort()
        for (k, key) in keyed.enumerated() { runnable[k] = Int32(truncatingIfNeeded: key) }
      }
      starts.removeAll(keepingCapacity: true)
      completes.removeAll(keepingCapacity: true)
      for n in runnable where !started[Int(instanceOf[Int(n)])] {
        let i = Int(instanceOf[Int(n)])
        started[i] = true
        starts.append(Int32(i))
      }
      for n in runnable {
        remaining -= 1
        // Indices rather than a slice per node: a slice costs a retain and a release.
        for k in Int(userStart[Int(n)])..<Int(userStart[Int(n) + 1]) {
          let u = users[k]
          pending[Int(u)] -= 1
          if pending[Int(u)] == 0 && admitted[Int(instanceOf[Int(u)])] { markReady(Int(u)) }
        }
        let i = Int(instanceOf[Int(n)])
        left[i] -= 1
        if left[i] == 0 {
          completes.append(Int32(i))
          inFlight -= 1
        }
      }
      if followsClock {
        // A batch that runs whole keeps its gathers (they are what the program will hold if the
        // layout survives).
        let intact = runnable.count == input.batch(b).count
        batch.removeAll(keepingCapacity: true)
        builder.appendBatch(
          runnable[...], type: type, starts: starts, gathers: intact ? gathersAt[b] : [],
          completes: completes, in: module, table: table, to: &batch)
        for instruction in batch { session.step(instruction) }
      }
      result.schedule.append(type: type, nodes: runnable)
      runnable.removeAll(keepingCapacity: true)
      b += 1
      admitArrived()
    }
    return result
  }
}
