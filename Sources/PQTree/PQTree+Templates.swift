/// The Booth–Lueker templates P2–P6 and Q2/Q3 (L1, P1, Q1 change nothing).
///
/// Convention: every partial node produced here is a Q-node whose `end0`
/// side is empty and whose `end1` side is full, so later templates know its
/// orientation without scanning it.
extension PQTree {
  private typealias Scratch = ReductionScratch

  /// Detaches the full children of P-node `x`. Returns none, the single
  /// full child, or a new P-node (labelled full) holding all of them.
  private mutating func gatherFullChildren(of x: Int32) -> Int32 {
    let count = scratch.nodes[Int(x)].fullCount
    if count == 0 { return Self.none }
    let head = scratch.nodes[Int(x)].fullHead
    if count == 1 {
      detach(head, from: x)
      return head
    }
    let group = newNode(kind: Self.kindP)
    var c = head
    while c != Self.none {
      let next = scratch.nodes[Int(c)].nextFull
      detach(c, from: x)
      attach(c, to: group, atEnd1: true)
      c = next
    }
    scratch.nodes[Int(group)].label = Scratch.labelFull
    return group
  }

  /// `x` is detached and holds only empty children. Returns none (x freed),
  /// the single child (x freed), or `x` itself relabelled empty.
  private mutating func emptyRemainder(of x: Int32) -> Int32 {
    switch nodes[Int(x)].childCount {
    case 0:
      freeNode(x)
      return Self.none
    case 1:
      let c = nodes[Int(x)].end0
      detach(c, from: x)
      freeNode(x)
      return c
    default:
      scratch.nodes[Int(x)].label = Scratch.labelEmpty
      return x
    }
  }

  /// P2 (root, no partial child): group the full children under a new P-node.
  mutating func applyP2(_ x: Int32) {
    guard scratch.nodes[Int(x)].fullCount >= 2 else { return }
    let group = gatherFullChildren(of: x)
    attach(group, to: x, atEnd1: true)
  }

  /// P3 (non-root, no partial child): x becomes Q(empty side, full side).
  mutating func applyP3(_ x: Int32) -> Int32 {
    let fullSide = gatherFullChildren(of: x)
    let q = newNode(kind: Self.kindQ)
    scratch.nodes[Int(q)].label = Scratch.labelPartial
    replaceNode(x, with: q)
    let emptySide = emptyRemainder(of: x)
    attach(emptySide, to: q, atEnd1: true)
    attach(fullSide, to: q, atEnd1: true)
    return q
  }

  /// P4 (root, one partial child y): full children go to y's full end;
  /// y replaces x if nothing else is left.
  mutating func applyP4(_ x: Int32) {
    let y = scratch.nodes[Int(x)].partial0
    let fullSide = gatherFullChildren(of: x)
    if fullSide != Self.none { attach(fullSide, to: y, atEnd1: true) }
    if nodes[Int(x)].childCount == 1 {
      detach(y, from: x)
      replaceNode(x, with: y)
      freeNode(x)
    }
  }

  /// P5 (non-root, one partial child y): y replaces x, taking x's full
  /// children at its full end and x's empty children at its empty end.
  mutating func applyP5(_ x: Int32) -> Int32 {
    let y = scratch.nodes[Int(x)].partial0
    detach(y, from: x)
    let fullSide = gatherFullChildren(of: x)
    replaceNode(x, with: y)
    if fullSide != Self.none { attach(fullSide, to: y, atEnd1: true) }
    let emptySide = emptyRemainder(of: x)
    if emptySide != Self.none { attach(emptySide, to: y, atEnd1: false) }
    scratch.nodes[Int(y)].label = Scratch.labelPartial
    return y
  }

  /// P6 (root, two partial children): y1 + full children + reversed y2
  /// become one Q-node; it replaces x if nothing else is left.
  mutating func applyP6(_ x: Int32) {
    let y1 = scratch.nodes[Int(x)].partial0
    let y2 = scratch.nodes[Int(x)].partial1
    let fullSide = gatherFullChildren(of: x)
    if fullSide != Self.none { attach(fullSide, to: y1, atEnd1: true) }
    detach(y2, from: x)
    joinReversed(y2, onto: y1)
    if nodes[Int(x)].childCount == 1 {
      detach(y1, from: x)
      replaceNode(x, with: y1)
      freeNode(x)
    }
  }

  /// Q2/Q3: splice every partial child into x, its full end towards the
  /// full block (or towards the other partial child, or x's outer end).
  /// A non-root result is oriented full-at-end1.
  mutating func applyQ(_ x: Int32, isRoot: Bool) {
    let partials = scratch.nodes[Int(x)].partialCount
    for k in 0..<partials {
      let y = k == 0 ? scratch.nodes[Int(x)].partial0 : scratch.nodes[Int(x)].partial1
      let n0 = nodes[Int(y)].sib0
      let n1 = nodes[Int(y)].sib1
      let toward = fullSideNeighbour(n0, n1)
      splice(y, into: x, fullNeighbour: toward, otherNeighbour: toward == n0 ? n1 : n0)
    }
    if !isRoot {
      if scratch.nodes[Int(nodes[Int(x)].end0)].label == Scratch.labelFull {
        nodes[Int(x)].reverseEnds()
      }
      scratch.nodes[Int(x)].label = Scratch.labelPartial
    }
  }

  /// Of a partial child's two neighbours, the one its full end must face.
  private func fullSideNeighbour(_ n0: Int32, _ n1: Int32) -> Int32 {
    func has(_ n: Int32, _ label: UInt8) -> Bool {
      n != Self.none && scratch.nodes[Int(n)].label == label
    }
    if has(n0, Scratch.labelFull) { return n0 }
    if has(n1, Scratch.labelFull) { return n1 }
    if has(n0, Scratch.labelPartial) { return n0 }
    if has(n1, Scratch.labelPartial) { return n1 }
    return n0 == Self.none ? n0 : n1
  }
}
