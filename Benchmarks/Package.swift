// swift-tools-version:6.1
// The benchmarks, a package of their own so that building the main package stays fast.
//   cd Benchmarks && swift package benchmark            # every suite
//   swift package benchmark --target Pipeline --filter 'parse.*'
import PackageDescription

let package = Package(
  name: "DynBatchBenchmarks",
  platforms: [.macOS(.v13)],
  dependencies: [
    .package(name: "DynBatch", path: ".."),
    .package(
      url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
  ],
  targets: [
    // Parse+verify and every pass at 10k, 100k and 1M nodes.
    .executableTarget(
      name: "Pipeline",
      dependencies: [
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "AccelSim", package: "DynBatch"),
        .product(name: "BatchIR", package: "DynBatch"),
        .product(name: "BatchPasses", package: "DynBatch"),
        .product(name: "Workloads", package: "DynBatch"),
      ],
      path: "Benchmarks/Pipeline",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    ),
    // The PQ-tree alone: hidden-permutation reductions from 125k to 1M leaves.
    .executableTarget(
      name: "PQTreeScaling",
      dependencies: [
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "PQTree", package: "DynBatch"),
      ],
      path: "Benchmarks/PQTreeScaling",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    ),
  ],
  swiftLanguageModes: [.v6]
)
