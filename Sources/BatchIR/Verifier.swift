/// Checks that a module is well formed: op types are consistent, every node has the arity and
/// operand shapes its type asks for, operands stay inside their instance, the graph is acyclic,
/// and pass results (the schedule) agree with the graph. Runs in O(nodes + operands).
public struct Verifier: Sendable {
  private let module: Module
  private let file: String

  /// Verifies `module`; `file` names it in diagnostics. Throws the first problem found.
  public static func verify(_ module: Module, file: String) throws(Diagnostic) {
    try verify(module, file: file, since: nil)
  }

  /// Verifies `module`, skipping what `verified` (a module that passed verification) shows is
  /// unchanged: the graph when its arrays are the same, and each pass result when it and what
  /// it depends on (the graph; the schedule, for a layout) are the same. The arrays are
  /// copy-on-write, so an unchanged part compares in O(1). A pass manager keeps the module it
  /// verified last, and a pipeline then checks the graph once rather than after every pass.
  public static func verify(_ module: Module, file: String, since verified: Module?)
    throws(Diagnostic)
  {
    let verifier = Verifier(module: module, file: file)
    let sameGraph = verified.map { module.hasSameGraph(as: $0) } ?? false
    if !sameGraph {
      try verifier.verifyOpTypes()
      try verifier.verifyNodes()
      try verifier.verifyAcyclic()
    }
    let sameSchedule = sameGraph && module.schedule == verified?.schedule
    if let schedule = module.schedule, !sameSchedule { try verifier.verifySchedule(schedule) }
    if let layout = module.layout, !(sameSchedule && layout == verified?.layout) {
      try verifier.verifyLayout(layout)
    }
    if let packing = module.packing, !(sameGraph && packing == verified?.packing) {
      try verifier.verifyPacking(packing)
    }
  }

  private func error(_ message: String, at location: SourceLocation) -> Diagnostic {
    Diagnostic(file: file, location: location, message: message)
  }

  private func location(ofNode n: Int, instance: Instance? = nil) -> SourceLocation {
    if n < module.nodeLocation.count { return module.nodeLocation[n] }
    return instance?.location ?? .unknown
  }

  /// `'%name' in instance 'i'`, or `step t of layer l of instance 'i'` for compact instances.
  private func describe(node n: Int, in instance: Instance) -> String {
    if let recurrence = instance.recurrence {
      let offset = n - instance.nodes.lowerBound
      let layers = recurrence.layers.count
      return
        "step \(offset / layers) of layer \(offset % layers + 1) of instance '\(instance.name)'"
    }
    return "'%\(module.nodeName[n])' in instance '\(instance.name)'"
  }

  private func verifyOpTypes() throws(Diagnostic) {
    var names: Set<String> = []
    var weights: Set<String> = []
    for type in module.opTypes {
      if !names.insert(type.name).inserted {
        throw error("redefinition of op type '\(type.name)'", at: type.location)
      }
      for weight in type.weights where !weights.insert(weight.id).inserted {
        throw error("redefinition of weight '\(weight.id)'", at: type.location)
      }
      if type.variadic && type.operands.isEmpty {
        throw error("variadic op type '\(type.name)' needs an operand type", at: type.location)
      }
      if type.recurrent {
        guard let state = type.operands.last, state == type.result, !type.variadic else {
          throw error(
            "recurrent op type '\(type.name)' must take its state as the last operand, of the result type \(type.result)",
            at: type.location)
        }
      }
    }
  }

  private func verifyNodes() throws(Diagnostic) {
    guard module.nodeType.count == module.nodeName.count,
      module.operandStart.count == module.nodeCount + 1
    else {
      throw error("internal: node arrays have different lengths", at: .unknown)
    }
    // Intern tensor types so shape checks compare integers.
    var typeIDs: [TensorType: Int32] = [:]
    func intern(_ t: TensorType) -> Int32 {
      if let id = typeIDs[t] { return id }
      let id = Int32(typeIDs.count)
      typeIDs[t] = id
      return id
    }
    let resultID = module.opTypes.map { intern($0.result) }
    let operandIDs = module.opTypes.map { $0.operands.map(intern) }
    var expectedStart = 0
    for instance in module.instances {
      guard instance.nodes.lowerBound == expectedStart,
        instance.nodes.upperBound <= module.nodeCount
      else {
        throw error(
          "internal: instance '\(instance.name)' has a bad node range", at: instance.location)
      }
      expectedStart = instance.nodes.upperBound
      if let recurrence = instance.recurrence { try verifyRecurrence(recurrence, of: instance) }
      for n in instance.nodes {
        let typeIndex = module.type(of: n)
        guard typeIndex >= 0, typeIndex < module.opTypes.count else {
          throw error(
            "internal: node \(n) has no op type", at: location(ofNode: n, instance: instance))
        }
        let type = module.opTypes[typeIndex]
        let nodeOperands = module.operands(of: n)
        if !type.accepts(operandCount: nodeOperands.count) {
          let expected =
            type.variadic ? "at least \(type.operands.count - 1)" : "\(type.operands.count)"
          throw error(
            "\(describe(node: n, in: instance)) has \(nodeOperands.count) operand\(nodeOperands.count == 1 ? "" : "s"), but op type '\(type.name)' takes \(expected)",
            at: location(ofNode: n, instance: instance))
        }
        if instance.recurrence == nil && module.nodeName[n].isEmpty {
          throw error(
            "internal: node \(n) has no name", at: location(ofNode: n, instance: instance))
        }
        let slots = operandIDs[typeIndex]
        for (slot, operand) in nodeOperands.enumerated() where operand != Module.external {
          let o = Int(operand)
          guard instance.nodes.contains(o) else {
            throw error(
              "operand \(slot + 1) of \(describe(node: n, in: instance)) is outside its instance",
              at: location(ofNode: n, instance: instance))
          }
          let expected = slot < slots.count ? slots[slot] : slots[slots.count - 1]
          if resultID[module.type(of: o)] != expected {
            throw error(
              "operand \(slot + 1) of \(describe(node: n, in: instance)) has type \(module.opTypes[module.type(of: o)].result), but '\(type.name)' expects \(type.operandType(at: slot))",
              at: location(ofNode: n, instance: instance))
          }
        }
      }
    }
    guard expectedStart == module.nodeCount else {
      throw error(
        "internal: \(module.nodeCount - expectedStart) nodes belong to no instance", at: .unknown)
    }
  }

  private func verifyRecurrence(_ recurrence: Recurrence, of instance: Instance) throws(Diagnostic)
  {
    var previous: OpType?
    for layer in recurrence.layers {
      let type = module.opTypes[layer]
      guard type.recurrent, type.operands.count == 2 else {
        throw error(
          "rnn layer '\(type.name)' of instance '\(instance.name)' must be a recurrent op type with two operands (input, state)",
          at: instance.location)
      }
      if let previous, previous.result != type.operands[0] {
        throw error(
          "rnn layer '\(type.name)' of instance '\(instance.name)' takes \(type.operands[0]), but the layer below produces \(previous.result)",
          at: instance.location)
      }
      previous = type
    }
  }

  /// Acyclic when every operand is defined before its user (the usual order, checked in one
  /// pass without allocating); otherwise Kahn's algorithm decides, and on failure names a node
  /// that lies on a cycle.
  private func verifyAcyclic() throws(Diagnostic) {
    if module.operandsPrecedeUsers() { return }
    let (userStart, users) = module.users()
    var pending = [Int32](repeating: 0, count: module.nodeCount)
    var ready: [Int32] = []
    for n in 0..<module.nodeCount {
      pending[n] = Int32(module.operands(of: n).lazy.filter { $0 != Module.external }.count)
      if pending[n] == 0 { ready.append(Int32(n)) }
    }
    var done = 0
    while let n = ready.popLast() {
      done += 1
      for user in users[Int(userStart[Int(n)])..<Int(userStart[Int(n) + 1])] {
        pending[Int(user)] -= 1
        if pending[Int(user)] == 0 { ready.append(user) }
      }
    }
    guard done < module.nodeCount else { return }
    // Every node left has an unfinished operand; walking unfinished operands must revisit a node.
    guard var n = pending.firstIndex(where: { $0 > 0 }) else { return }
    var seen = Set<Int>()
    while seen.insert(n).inserted {
      guard
        let next = module.operands(of: n).first(where: {
          $0 != Module.external && pending[Int($0)] > 0
        })
      else { break }
      n = Int(next)
    }
    let instance = module.instances.first { $0.nodes.contains(n) }
    let name = instance.map { describe(node: n, in: $0) } ?? "node \(n)"
    throw error(
      "the graph has a cycle through \(name)", at: location(ofNode: n, instance: instance))
  }

  /// Every node runs exactly once, in a batch of its own type, after the batches of its operands.
  private func verifySchedule(_ schedule: Schedule) throws(Diagnostic) {
    let at = schedule.location
    guard schedule.batchStart.count == schedule.batchCount + 1, schedule.batchStart.first == 0,
      schedule.batchStart.last.map(Int.init) == schedule.nodes.count
    else {
      throw error("internal: schedule arrays are inconsistent", at: at)
    }
    var batchOf = [Int32](repeating: -1, count: module.nodeCount)
    for b in 0..<schedule.batchCount {
      let batch = schedule.batch(b)
      let type = Int(schedule.batchType[b])
      if batch.isEmpty { throw error("schedule: batch \(b) is empty", at: at) }
      if module.opTypes[type].unbatched && batch.count > 1 {
        throw error(
          "schedule: batch \(b) has \(batch.count) nodes of unbatched op type '\(module.opTypes[type].name)'",
          at: at)
      }
      for n in batch {
        let node = Int(n)
        guard node >= 0, node < module.nodeCount else {
          throw error("schedule: batch \(b) names node \(n), which does not exist", at: at)
        }
        if batchOf[node] >= 0 {
          throw error("schedule: node \(n) runs twice (batches \(batchOf[node]) and \(b))", at: at)
        }
        if module.type(of: node) != type {
          throw error(
            "schedule: node \(n) of op type '\(module.opTypes[module.type(of: node)].name)' is in batch \(b) of type '\(module.opTypes[type].name)'",
            at: at)
        }
        batchOf[node] = Int32(b)
      }
    }
    for n in 0..<module.nodeCount {
      guard batchOf[n] >= 0 else { throw error("schedule: node \(n) never runs", at: at) }
      for operand in module.operands(of: n) where operand != Module.external {
        if batchOf[Int(operand)] >= batchOf[n] {
          throw error(
            "schedule: node \(n) runs in batch \(batchOf[n]) but its operand \(operand) runs in batch \(batchOf[Int(operand)])",
            at: at)
        }
      }
    }
  }

  /// Tensors are aligned and do not overlap, and every operand slot that is not gathered is an
  /// aligned slice in the batch's order; gathers name real slots and copy their true byte count.
  /// The two checks read the layout independently; on a large module they run side by side, and
  /// the first one's problem is still the one reported.
  private func verifyLayout(_ layout: MemoryLayout) throws(Diagnostic) {
    let at = layout.location
    guard let schedule = module.schedule else {
      throw error("layout: the module has no schedule", at: at)
    }
    guard layout.alignment >= 1, layout.alignment.nonzeroBitCount == 1 else {
      throw error("layout: the alignment \(layout.alignment) is not a power of two", at: at)
    }
    guard layout.offsets.count == module.nodeCount else {
      throw error("layout: \(layout.offsets.count) offsets for \(module.nodeCount) nodes", at: at)
    }
    let requirements = LayoutRequirements(module, alignment: layout.alignment)
    if module.nodeCount >= Self.sideBySideNodeCount {
      let (placement, slots) = Parallel.both(
        { Result { () throws(Diagnostic) in try verifyPlacement(layout, requirements) } },
        { Result { () throws(Diagnostic) in try verifySlots(layout, schedule, requirements) } })
      try placement.get()
      try slots.get()
    } else {
      try verifyPlacement(layout, requirements)
      try verifySlots(layout, schedule, requirements)
    }
  }

  /// From this many nodes, a layout's two checks run side by side (below, starting a thread
  /// costs more than the smaller check).
  static let sideBySideNodeCount = 1 << 16

  /// Every tensor is at a multiple of the alignment, and no two overlap.
  private func verifyPlacement(_ layout: MemoryLayout, _ requirements: LayoutRequirements)
    throws(Diagnostic)
  {
    let at = layout.location
    for (n, offset) in layout.offsets.enumerated()
    where offset < 0 || offset % Int64(layout.alignment) != 0 {
      throw error(
        "layout: node \(n) is at offset \(offset), not a multiple of the alignment \(layout.alignment)",
        at: at)
    }
    if !Self.tensorsAreDisjoint(offsets: layout.offsets, requirements: requirements) {
      let byOffset = (0..<module.nodeCount).sorted { layout.offsets[$0] < layout.offsets[$1] }
      for (a, b) in zip(byOffset, byOffset.dropFirst())
      where layout.offsets[a] + Int64(requirements.tensorBytes[a]) > layout.offsets[b] {
        throw error("layout: nodes \(a) and \(b) overlap", at: at)
      }
    }
  }

  /// Gathers name real slots, once each, with their true byte counts; every other operand slot
  /// is served in place.
  private func verifySlots(
    _ layout: MemoryLayout, _ schedule: Schedule, _ requirements: LayoutRequirements
  ) throws(Diagnostic) {
    let at = layout.location
    // Gathers listed in strictly increasing (batch, slot) order, as `requiredGathers` lists them,
    // are distinct and matched below by a cursor; any other list goes through a set.
    let listedInOrder = zip(layout.gathers, layout.gathers.dropFirst()).allSatisfy { $0 < $1 }
    var marked = Set<GatheredSlot>()
    for gather in layout.gathers {
      guard gather.batch >= 0, gather.batch < schedule.batchCount, gather.slot >= 0 else {
        throw error("layout: gather of batch \(gather.batch), which does not exist", at: at)
      }
      let batch = schedule.batch(gather.batch)
      guard gather.slot < requirements.slotCount(of: batch, in: module) else {
        throw error(
          "layout: gather of slot \(gather.slot) of batch \(gather.batch), which has no such slot",
          at: at)
      }
      let bytes = requirements.gatherBytes(gather.slot, of: batch, in: module)
      guard gather.bytes == bytes else {
        throw error(
          "layout: gather of batch \(gather.batch) slot \(gather.slot) copies \(bytes) bytes, not \(gather.bytes)",
          at: at)
      }
      guard
        listedInOrder
          || marked.insert(GatheredSlot(batch: gather.batch, slot: gather.slot)).inserted
      else {
        throw error(
          "layout: slot \(gather.slot) of batch \(gather.batch) is gathered twice", at: at)
      }
    }
    // Every slot that is not gathered must be served in place (what `requiredGathers` leaves out).
    var next = 0
    for b in 0..<schedule.batchCount {
      let batch = schedule.batch(b)
      for j in 0..<requirements.slotCount(of: batch, in: module) {
        if listedInOrder {
          if next < layout.gathers.count && layout.gathers[next].batch == b
            && layout.gathers[next].slot == j
          {
            next += 1
            continue
          }
        } else if marked.contains(GatheredSlot(batch: b, slot: j)) {
          continue
        }
        if Self.isServedInPlace(j, of: batch, in: module, offsets: layout.offsets, requirements) {
          continue
        }
        throw error(
          "layout: operand \(j + 1) of batch \(b) is not an aligned slice in batch order and is not gathered",
          at: at)
      }
    }
  }

  /// A gathered operand slot of a batch, as the layout lists it.
  private struct GatheredSlot: Hashable {
    var batch: Int
    var slot: Int
  }

  /// Whether `offsets` serve slot `j` of `batch` without a gather: the same answer as
  /// `LayoutRequirements.slot` followed by `isSlice`, read in one pass over the operand arrays
  /// without allocating. A slot is served when the batch has one node, when every operand is
  /// external or all are one tensor (`free`), or when its operands are arena tensors of one size
  /// at `base, base + stride, …` in batch order (those offsets are distinct, so the tensors are
  /// too: `slot` finds a slice, and `isSlice` accepts it). Anything else is `unsliceable`, or a
  /// slice that `isSlice` rejects. (A scan of its own rather than `LayoutRequirements.classify`
  /// and `isSlice`: checking offsets in the same pass, with no buffer, verifies 1M-node layouts
  /// about a third faster.)
  static func isServedInPlace(
    _ j: Int, of batch: ArraySlice<Int32>, in module: Module, offsets: [Int64],
    _ requirements: LayoutRequirements
  ) -> Bool {
    guard batch.count > 1 else { return true }
    let served: Bool? = module.operandStart.withUnsafeBufferPointer { operandStart in
      module.operands.withUnsafeBufferPointer { operands in
        requirements.tensorBytes.withUnsafeBufferPointer { tensorBytes in
          offsets.withUnsafeBufferPointer { offsets in
            var external = 0
            var head: Int32 = Module.external
            var allSame = true
            var inPlace = true
            var size = 0
            var stride: Int64 = 0
            var expected: Int64 = 0
            for n in batch {
              let start = Int(operandStart[Int(n)])
              guard j < Int(operandStart[Int(n) + 1]) - start else { return false }
              let operand = operands[start + j]
              if operand == Module.external {
                external += 1
                inPlace = false
                continue
              }
              if head == Module.external {
                // The first tensor of the slot (externals before it already ruled out a slice).
                head = operand
                size = tensorBytes[Int(operand)]
                stride = Int64(roundUp(size, requirements.alignment))
                expected = offsets[Int(operand)]
                if stride == 0 { return nil }  // tensors without bytes: `slot` decides
              } else if operand != head {
                allSame = false
              }
              if inPlace {
                inPlace = tensorBytes[Int(operand)] == size && offsets[Int(operand)] == expected
                expected += stride
              }
            }
            if external == batch.count { return true }  // free: no tensor at all
            if external > 0 { return false }  // unsliceable: some but not all external
            return allSame || inPlace  // free: one broadcast tensor; or an in-place slice
          }
        }
      }
    }
    if let served { return served }
    switch requirements.slot(j, of: batch, in: module) {
    case .free: return true
    case .slice(let tensors): return requirements.isSlice(tensors, offsets: offsets)
    case .unsliceable: return false
    }
  }

  /// Whether no two tensors overlap, decided without sorting when the arena is dense: offsets
  /// are multiples of the alignment, so two tensors that do not overlap start at least the
  /// smaller stride apart, and bucketing offsets by the smallest stride puts at most one
  /// tensor in a bucket; walking the buckets in order then compares neighbours. False means
  /// "overlapping, or not decided here" (a sparse arena, a tensor without bytes): the caller
  /// sorts and finds the pair.
  static func tensorsAreDisjoint(offsets: [Int64], requirements: LayoutRequirements) -> Bool {
    let count = offsets.count
    guard count > 1 else { return true }
    var smallestStride = Int.max
    var largestOffset: Int64 = 0
    for n in 0..<count {
      if requirements.tensorBytes[n] <= 0 { return false }
      smallestStride = min(smallestStride, requirements.stride(ofNode: n))
      largestOffset = max(largestOffset, offsets[n])
    }
    let bucketCount = largestOffset / Int64(smallestStride) + 1
    guard bucketCount <= Int64(8 * count + 1024) else { return false }
    var nodeAt = [Int32](repeating: -1, count: Int(bucketCount))
    for n in 0..<count {
      let bucket = Int(offsets[n] / Int64(smallestStride))
      if nodeAt[bucket] >= 0 { return false }
      nodeAt[bucket] = Int32(n)
    }
    var end: Int64 = 0
    for node in nodeAt where node >= 0 {
      let n = Int(node)
      if offsets[n] < end { return false }
      end = offsets[n] + Int64(requirements.tensorBytes[n])
    }
    return true
  }

  /// Conservation of a packing: every time-step of every request appears exactly once, in order
  /// (across rounds, and along a lane within a round); each listed lane fills its round; no round
  /// lists more lanes than the packing has; a request is never on two lanes in one round; every
  /// instance is recurrent with the same layers. (Arrival needs a clock; the program checker in
  /// AccelSim checks it.)
  private func verifyPacking(_ packing: Packing) throws(Diagnostic) {
    let at = packing.location
    let layers = packing.layers(in: module)
    for instance in module.instances {
      guard let recurrence = instance.recurrence else {
        throw error(
          "packing: instance '\(instance.name)' is not in the compact recurrent form", at: at)
      }
      if recurrence.layers != layers {
        throw error(
          "packing: instance '\(instance.name)' has other layers than the first request", at: at)
      }
    }
    guard packing.lanes >= 1 else { throw error("packing: lanes must be positive", at: at) }
    var progress = [Int](repeating: 0, count: module.instances.count)
    var lastRound = [Int](repeating: -1, count: module.instances.count)
    var lastLane = [Int](repeating: -1, count: module.instances.count)
    for (r, round) in packing.rounds.enumerated() {
      let where_ = round.location == .unknown ? at : round.location
      guard round.steps >= 1 else { throw error("packing: round \(r) has no steps", at: where_) }
      guard round.lanes.count <= packing.lanes else {
        throw error(
          "packing: round \(r) uses \(round.lanes.count) lanes, more than \(packing.lanes)",
          at: where_)
      }
      for (k, lane) in round.lanes.enumerated() {
        var filled = 0
        for segment in lane {
          guard segment.count >= 1 else {
            throw error("packing: round \(r) lane \(k) has an empty segment", at: where_)
          }
          filled += Int(segment.count)
          if segment.isIdle { continue }
          let i = Int(segment.request)
          guard i >= 0, i < module.instances.count else {
            throw error("packing: round \(r) lane \(k) names no instance", at: where_)
          }
          let name = module.instances[i].name
          if lastRound[i] == r && lastLane[i] != k {
            throw error(
              "packing: round \(r): request '\(name)' is on lanes \(lastLane[i]) and \(k) at once",
              at: where_)
          }
          guard Int(segment.first) == progress[i] else {
            throw error(
              "packing: round \(r) lane \(k): request '\(name)' runs step \(segment.first), but its next step is \(progress[i])",
              at: where_)
          }
          progress[i] += Int(segment.count)
          let steps = module.instances[i].recurrence?.steps ?? 0
          guard progress[i] <= steps else {
            throw error(
              "packing: round \(r) lane \(k): request '\(name)' runs past its \(steps) steps",
              at: where_)
          }
          lastRound[i] = r
          lastLane[i] = k
        }
        guard filled == round.steps else {
          throw error(
            "packing: round \(r) lane \(k) holds \(filled) steps, not the round's \(round.steps)",
            at: where_)
        }
      }
    }
    for (i, instance) in module.instances.enumerated() {
      let steps = instance.recurrence?.steps ?? 0
      if progress[i] != steps {
        throw error(
          "packing: request '\(instance.name)' runs \(progress[i]) of its \(steps) steps", at: at)
      }
    }
  }
}
