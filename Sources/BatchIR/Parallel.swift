import Dispatch

/// Independent computations run side by side on the machine's cores. Each result goes to its own
/// slot and comes back in the order asked, so the outcome depends only on the computations (each
/// must be deterministic and share nothing mutable), never on the cores or the scheduling.
public enum Parallel {
  /// Result slots written by concurrent iterations, each its own; read after they all joined.
  private final class Slots<T>: @unchecked Sendable {
    var values: [T?]
    init(count: Int) { values = [T?](repeating: nil, count: count) }
  }

  /// `body(i)` for every i in `0..<count`, concurrently where cores allow, in index order.
  public static func map<T>(_ count: Int, _ body: @Sendable (Int) -> T) -> [T] {
    if count <= 1 { return (0..<count).map(body) }
    let slots = Slots<T>(count: count)
    slots.values.withUnsafeMutableBufferPointer { buffer in
      nonisolated(unsafe) let buffer = buffer
      DispatchQueue.concurrentPerform(iterations: count) { i in buffer[i] = body(i) }
    }
    return slots.values.map { $0! }
  }

  /// `a()` and `b()`, side by side where cores allow.
  public static func both<A, B>(_ a: @Sendable () -> A, _ b: @Sendable () -> B) -> (A, B) {
    let first = Slots<A>(count: 1)
    let second = Slots<B>(count: 1)
    DispatchQueue.concurrentPerform(iterations: 2) { i in
      if i == 0 { first.values[0] = a() } else { second.values[0] = b() }
    }
    return (first.values[0]!, second.values[0]!)
  }
}
