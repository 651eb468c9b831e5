import BatchIR

/// The instances training sees when the input is large: every k-th instance, k = ⌈nodes / N⌉,
/// starting with the first, while the total stays within N nodes (the smallest instance alone
/// when the first is already larger). The learned table then
/// applies to every instance (the FSM keys on op type names, not on nodes). Inputs of at most N
/// nodes, or of one instance, are trained on whole.
public struct TrainingSample {
  /// The sampled instances as a module of their own.
  public let module: Module
  /// Indices of the sampled instances in the input.
  public let instances: [Int]

  /// Nil when the input is trained on whole (small enough, one instance, or an instance uses a
  /// node of another instance).
  public init?(_ source: Module, maxNodes: Int) {
    guard source.nodeCount > maxNodes, source.instances.count > 1 else { return nil }
    let stride = (source.nodeCount + maxNodes - 1) / maxNodes
    var chosen: [Int] = []
    var total = 0
    for i in Swift.stride(from: 0, to: source.instances.count, by: stride) {
      let size = source.instances[i].nodes.count
      if total + size > maxNodes { break }
      chosen.append(i)
      total += size
    }
    // When the first sampled instance alone is larger than N, train on the smallest instance
    // rather than on the whole input.
    if chosen.isEmpty,
      let smallest = source.instances.indices.min(by: {
        source.instances[$0].nodes.count < source.instances[$1].nodes.count
      })
    {
      chosen = [smallest]
    }
    var module = Module()
    for type in source.opTypes { module.addOpType(type) }
    for i in chosen {
      let instance = source.instances[i]
      let offset = Int32(module.nodeCount) - Int32(instance.nodes.lowerBound)
      module.beginInstance(name: instance.name, arrival: instance.arrival)
      for n in instance.nodes {
        var operands: [Int32] = []
        for o in source.operands(of: n) {
          if o == Module.external {
            operands.append(o)
          } else if instance.nodes.contains(Int(o)) {
            operands.append(o + offset)
          } else {
            return nil
          }
        }
        module.addNode(type: source.type(of: n), operands: operands, name: source.nodeName[n])
      }
    }
    self.module = module
    instances = chosen
  }
}
