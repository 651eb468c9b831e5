/// One input of a mini-batch, or one request of a serving trace: a small dataflow graph.
/// Its nodes are the contiguous global ids `nodes`.
public struct Instance: Hashable, Sendable {
  public var name: String
  /// When the request arrives, in seconds; nil for offline mini-batches.
  public var arrival: Double?
  public var nodes: Range<Int>
  /// Set when the instance was written in the compact recurrent form; its nodes are the
  /// expansion, and the printer writes the compact form back.
  public var recurrence: Recurrence?
  public var location: SourceLocation

  public init(
    name: String, arrival: Double? = nil, nodes: Range<Int>, recurrence: Recurrence? = nil,
    location: SourceLocation = .unknown
  ) {
    self.name = name
    self.arrival = arrival
    self.nodes = nodes
    self.recurrence = recurrence
    self.location = location
  }
}

/// The module's target accelerator, as LLVM keeps the target triple in its module: a built-in
/// preset name (`tpu-v1`, `epur`) or the path of a preset JSON file. BatchIR only carries it;
/// `AccelSim` resolves it to a preset.
public struct TargetSpec: Hashable, Sendable {
  public var name: String
  public var location: SourceLocation

  public init(_ name: String, location: SourceLocation = .unknown) {
    self.name = name
    self.location = location
  }

  /// Targets are the same when they name the same preset; where they were written does not count.
  public static func == (a: TargetSpec, b: TargetSpec) -> Bool { a.name == b.name }
  public func hash(into hasher: inout Hasher) { hasher.combine(name) }
}

/// A request of length `steps` through an L-layer recurrent network, one op type per layer.
///
/// It expands time-major into `steps × layers.count` nodes: node (t, l) has id
/// `first + t * L + l` and operands `(l == 0 ? external : node(t, l-1), t == 0 ? external : node(t-1, l))`.
public struct Recurrence: Hashable, Sendable {
  /// Op type indices, layer 1 first.
  public var layers: [Int]
  public var steps: Int

  public init(layers: [Int], steps: Int) {
    self.layers = layers
    self.steps = steps
  }

  /// The global id of step `t` of layer `l`, for an instance whose first node is `first`.
  @inlinable public func node(step t: Int, layer l: Int, first: Int) -> Int {
    first + t * layers.count + l
  }
}

/// The result of a batching pass: an ordered list of batches, each a set of nodes of one op type.
public struct Schedule: Hashable, Sendable {
  /// The policy that produced it (informational; printed and parsed back).
  public var policy: String
  /// Batch `b` holds `nodes[batchStart[b] ..< batchStart[b + 1]]`.
  public var batchStart: [Int32]
  public var nodes: [Int32]
  /// Op type index of each batch.
  public var batchType: [Int32]
  public var location: SourceLocation

  public init(policy: String, location: SourceLocation = .unknown) {
    self.policy = policy
    self.batchStart = [0]
    self.nodes = []
    self.batchType = []
    self.location = location
  }

  public var batchCount: Int { batchType.count }

  /// The nodes of batch `b`, in batch order.
  public func batch(_ b: Int) -> ArraySlice<Int32> {
    nodes[Int(batchStart[b])..<Int(batchStart[b + 1])]
  }

  /// Appends a batch of nodes of op type `type`.
  public mutating func append<C: Collection>(type: Int, nodes batchNodes: C)
  where C.Element == Int32 {
    nodes.append(contentsOf: batchNodes)
    batchStart.append(Int32(nodes.count))
    batchType.append(Int32(type))
  }
}

/// The whole program the pipeline works on: op types, instances and their nodes, and every
/// pass result. Nodes live in flat arrays indexed by global id (definition order in the file).
public struct Module: Sendable {
  /// Version of the `.dg` format this module was read from / will be written as.
  public static let formatVersion = 1

  /// The accelerator every pass and the simulator work for (`target` line, or `--accelerator`);
  /// nil: none given, and passes that need one use the documented default.
  public var target: TargetSpec?
  public var opTypes: [OpType] = []
  public var instances: [Instance] = []

  /// Op type index of each node.
  public var nodeType: [Int32] = []
  /// Operands of node `n` are `operands[operandStart[n] ..< operandStart[n + 1]]`;
  /// `Module.external` marks an operand fed from outside the graph.
  public var operandStart: [Int32] = [0]
  public var operands: [Int32] = []
  /// The `%name` of each node ("" for nodes of compact recurrent instances).
  public var nodeName: [String] = []
  /// Where each node was defined; kept only when `tracksLocations` (modules read from a file).
  public var nodeLocation: [SourceLocation] = []
  /// Whether `nodeLocation` is kept as nodes are added.
  public var tracksLocations = false

  /// Set by a batching pass (`fsm-batch`).
  public var schedule: Schedule?
  /// Set by a memory-layout pass (`pq-layout`); needs the schedule.
  public var layout: MemoryLayout?
  /// Set by a sequence-packing pass (`ebatch-pack`): recurrent requests on lanes over time.
  public var packing: Packing?

  /// The operand id of an external input (an input feature, a zero initial state).
  public static let external: Int32 = -1

  public init() {}

  public var nodeCount: Int { nodeType.count }

  /// The operands of node `n`.
  @inlinable public func operands(of n: Int) -> ArraySlice<Int32> {
    operands[Int(operandStart[n])..<Int(operandStart[n + 1])]
  }

  /// The most operands any of `nodes` has (the operand slots a batch of them uses).
  @inlinable public func mostOperands<C: Sequence>(of nodes: C) -> Int where C.Element == Int32 {
    nodes.reduce(0) { max($0, Int(operandStart[Int($1) + 1] - operandStart[Int($1)])) }
  }

  /// The op type index of node `n`.
  @inlinable public func type(of n: Int) -> Int { Int(nodeType[n]) }

  /// The instance index of each node.
  public func nodeInstances() -> [Int32] {
    var result = [Int32](repeating: 0, count: nodeCount)
    for (index, instance) in instances.enumerated() {
      for n in instance.nodes { result[n] = Int32(index) }
    }
    return result
  }

  /// Whether every operand is defined before its user (ids increase along every edge), which
  /// makes the graph acyclic. One pass over the operand arrays, no allocation.
  public func operandsPrecedeUsers() -> Bool {
    operandStart.withUnsafeBufferPointer { start in
      operands.withUnsafeBufferPointer { operands in
        for n in 0..<nodeCount {
          for k in Int(start[n])..<Int(start[n + 1]) where operands[k] >= Int32(n) {
            return false
          }
        }
        return true
      }
    }
  }

  /// Whether `other` has the same op types, instances and nodes (where they were written does
  /// not count). Arrays that share storage compare in O(1), so a module compared with an
  /// earlier copy of itself costs nothing unless its graph was rewritten.
  public func hasSameGraph(as other: Module) -> Bool {
    opTypes == other.opTypes && instances == other.instances && nodeType == other.nodeType
      && operandStart == other.operandStart && operands == other.operands
      && nodeName == other.nodeName
  }

  /// Index of the op type called `name`, if any.
  public func opTypeIndex(named name: String) -> Int? {
    opTypes.firstIndex { $0.name == name }
  }

  /// The users of every node (reverse edges), as a CSR pair `(start, users)`.
  /// Each operand occurrence counts once, so a node used twice by one user lists it twice.
  public func users() -> (start: [Int32], users: [Int32]) {
    var count = [Int32](repeating: 0, count: nodeCount + 1)
    var resultCount = 0
    for operand in operands where operand >= 0 {
      count[Int(operand) + 1] += 1
      resultCount += 1
    }
    for i in 0..<nodeCount { count[i + 1] += count[i] }
    var fill = count
    // The flat arrays are read through buffers: a slice per node costs a retain and a release.
    let result = [Int32](unsafeUninitializedCapacity: resultCount) { result, initialized in
      operandStart.withUnsafeBufferPointer { start in
        operands.withUnsafeBufferPointer { operands in
          for n in 0..<nodeCount {
            for k in Int(start[n])..<Int(start[n + 1]) where operands[k] >= 0 {
              let operand = Int(operands[k])
              result[Int(fill[operand])] = Int32(n)
              fill[operand] += 1
            }
          }
        }
      }
      initialized = resultCount
    }
    return (count, result)
  }

  // MARK: Building

  /// Adds an op type and returns its index.
  @discardableResult
  public mutating func addOpType(_ type: OpType) -> Int {
    opTypes.append(type)
    return opTypes.count - 1
  }

  /// Adds a node of op type `type` to the instance being built (the last one) and returns its id.
  @discardableResult
  public mutating func addNode<C: Collection>(
    type: Int, operands nodeOperands: C, name: String, location: SourceLocation = .unknown
  ) -> Int where C.Element == Int32 {
    nodeType.append(Int32(type))
    operands.append(contentsOf: nodeOperands)
    operandStart.append(Int32(operands.count))
    nodeName.append(name)
    if tracksLocations { nodeLocation.append(location) }
    let last = instances.count - 1
    if last >= 0 { instances[last].nodes = instances[last].nodes.lowerBound..<nodeCount }
    return nodeCount - 1
  }

  /// Makes room for `nodes` more nodes with `operands` more operands in all, so that a reader
  /// that knows the size ahead does not copy the node arrays as they grow.
  public mutating func reserveCapacity(nodes: Int, operands operandCount: Int) {
    nodeType.reserveCapacity(nodeCount + nodes)
    operandStart.reserveCapacity(nodeCount + 1 + nodes)
    nodeName.reserveCapacity(nodeCount + nodes)
    if tracksLocations { nodeLocation.reserveCapacity(nodeCount + nodes) }
    operands.reserveCapacity(operands.count + operandCount)
  }

  /// Appends `other`'s instances and their nodes after this module's; `other` has the same op
  /// types, and its node ids move past this module's nodes.
  public mutating func appendInstances(of other: Module) {
    let nodeOffset = Int32(nodeCount)
    let operandOffset = Int32(operands.count)
    nodeType.append(contentsOf: other.nodeType)
    operands.append(contentsOf: other.operands.lazy.map { $0 < 0 ? $0 : $0 + nodeOffset })
    operandStart.append(contentsOf: other.operandStart.dropFirst().lazy.map { $0 + operandOffset })
    nodeName.append(contentsOf: other.nodeName)
    if tracksLocations { nodeLocation.append(contentsOf: other.nodeLocation) }
    let shift = Int(nodeOffset)
    for var instance in other.instances {
      instance.nodes = (instance.nodes.lowerBound + shift)..<(instance.nodes.upperBound + shift)
      instances.append(instance)
    }
  }

  /// Starts a new, empty instance; nodes added next belong to it.
  public mutating func beginInstance(
    name: String, arrival: Double? = nil, location: SourceLocation = .unknown
  ) {
    instances.append(
      Instance(name: name, arrival: arrival, nodes: nodeCount..<nodeCount, location: location))
  }

  /// Adds an instance in the compact recurrent form and expands its nodes.
  public mutating func addRecurrentInstance(
    name: String, arrival: Double? = nil, recurrence: Recurrence,
    location: SourceLocation = .unknown
  ) {
    let first = nodeCount
    beginInstance(name: name, arrival: arrival, location: location)
    instances[instances.count - 1].recurrence = recurrence
    let layerCount = recurrence.layers.count
    nodeType.reserveCapacity(nodeCount + recurrence.steps * layerCount)
    for t in 0..<recurrence.steps {
      for (l, layer) in recurrence.layers.enumerated() {
        let below =
          l == 0 ? Module.external : Int32(recurrence.node(step: t, layer: l - 1, first: first))
        let before =
          t == 0 ? Module.external : Int32(recurrence.node(step: t - 1, layer: l, first: first))
        nodeType.append(Int32(layer))
        operands.append(below)
        operands.append(before)
        operandStart.append(Int32(operands.count))
        nodeName.append("")
        if tracksLocations { nodeLocation.append(location) }
      }
    }
    instances[instances.count - 1].nodes = first..<nodeCount
  }
}
