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
/// `optimizer simulate` see the same timing.
public struct ContinuousBatcher: Sendable {
  public let preset: AcceleratorPreset
  /// Instances in flight at once.
  public let slots: Int
  /// Rows one execution holds.
  public let lanes: Int

  public struct Result: Sendable {
    public var schedule: Schedule
    public var report: SimulationReport
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

    // Operands not yet computed, per node; nodes left per instance.
    var pending = [Int32](repeating: 0, count: module.nodeCount)
    let (userStart, users) = module.users()
    for n in 0..<module.nodeCount {
      pending[n] = Int32(module.operands(of: n).lazy.filter { $0 != Module.external }.count)
    }
    var left = module.instances.map { $0.nodes.count }
    var started = [Bool](repeating: false, count: module.instances.count)
    var admitted = [Bool](repeating: false, count: module.instances.count)
    var done = [Bool](repeating: false, count: module.nodeCount)

    var result = Result(
      schedule: Schedule(policy: input.policy, location: input.location),
      report: session.report(instructions: 0), refills: 0, passes: 0)
    var inFlight = 0
    var admissions = 0
    var nextArrival = 0
    var remaining = module.nodeCount
    var instructions = 0
    // Instances without nodes start and complete at once.
    for i in module.instances.indices where left[i] == 0 {
      for instruction in [Instruction.start(request: Int32(i)), .complete(request: Int32(i))] {
        session.step(instruction)
        instructions += 1
      }
      admitted[i] = true
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
      }
    }

    var b = 0
    while remaining > 0 {
      if b == input.batchCount {
        b = 0
        result.passes += 1
      }
      admitArrived()
      let type = Int(input.batchType[b])
      let runnable = input.batch(b).filter { n in
        !done[Int(n)] && pending[Int(n)] == 0 && admitted[Int(instanceOf[Int(n)])]
      }
      b += 1
      if runnable.isEmpty { continue }
      var starts: [Int32] = []
      var completes: [Int32] = []
      for n in runnable where !started[Int(instanceOf[Int(n)])] {
        let i = Int(instanceOf[Int(n)])
        started[i] = true
        starts.append(Int32(i))
      }
      for n in runnable {
        done[Int(n)] = true
        remaining -= 1
        for u in users[Int(userStart[Int(n)])..<Int(userStart[Int(n) + 1])] {
          pending[Int(u)] -= 1
        }
        let i = Int(instanceOf[Int(n)])
        left[i] -= 1
        if left[i] == 0 {
          completes.append(Int32(i))
          inFlight -= 1
        }
      }
      // A batch that runs whole keeps its gathers (they are what the program will hold if the
      // layout survives).
      let intact = runnable.count == input.batch(b - 1).count
      var batch: [Instruction] = []
      builder.appendBatch(
        runnable[...], type: type, starts: starts, gathers: intact ? gathersAt[b - 1] : [],
        completes: completes, in: module, table: table, to: &batch)
      for instruction in batch { session.step(instruction) }
      instructions += batch.count
      result.schedule.append(type: type, nodes: runnable)
    }
    result.report = session.report(instructions: instructions)
    return result
  }
}
