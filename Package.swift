// swift-tools-version:6.1
import PackageDescription

let package = Package(
  name: "DynBatch",
  platforms: [.macOS(.v13)],
  products: [
    .executable(name: "optimizer", targets: ["optimizer"]),
    .library(name: "BatchIR", targets: ["BatchIR"]),
    .library(name: "BatchPasses", targets: ["BatchPasses"]),
    .library(name: "PQTree", targets: ["PQTree"]),
    .library(name: "Workloads", targets: ["Workloads"]),
    .library(name: "AccelSim", targets: ["AccelSim"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
  ],
  targets: [
    // The IR: module, op types, instances, nodes; .dg lexer/parser/printer; verifier; diagnostics.
    .target(name: "BatchIR"),
    // A generic Booth–Lueker PQ-tree; knows nothing of the IR.
    .target(name: "PQTree"),
    // Workload generators (tree, chain, lattice, RNN serving) and the ED-Batch importer.
    .target(name: "Workloads", dependencies: ["BatchIR"]),
    // Pass protocol, registry, pipeline text, pass manager, and the passes (one folder each).
    .target(
      name: "BatchPasses",
      dependencies: [
        "AccelSim", "BatchIR", "PQTree",
        .product(name: "HeapModule", package: "swift-collections"),
      ]
    ),
    // The accelerator program, its builder, presets and the simulator.
    .target(name: "AccelSim", dependencies: ["BatchIR"]),
    // The results report (docs/results.md), its SVG charts, and the CI regression guard.
    .target(
      name: "Reporting",
      dependencies: [
        "AccelSim", "BatchIR", "BatchPasses", "CPUBackend", "GraphvizDump", "Workloads",
      ]),
    // The Graphviz C library (cgraph + gvc) as a system library.
    .systemLibrary(
      name: "CGraphviz",
      pkgConfig: "libgvc",
      providers: [.apt(["libgraphviz-dev"])]
    ),
    // OpenBLAS (CBLAS) as a system library, for the CPU backend's matrix products.
    .systemLibrary(
      name: "COpenBLAS",
      pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev"])]
    ),
    // Runs a scheduled module for real on the CPU (float32, BLAS), checks it against
    // one-node-at-a-time execution, and times it.
    .target(name: "CPUBackend", dependencies: ["BatchIR", "COpenBLAS"]),
    // Module at any stage → Graphviz graph → DOT/SVG/PNG.
    .target(name: "GraphvizDump", dependencies: ["BatchIR", "CGraphviz"]),
    // The command line: argument parsing and wiring only.
    .executableTarget(
      name: "optimizer",
      dependencies: [
        "AccelSim", "BatchIR", "BatchPasses", "CPUBackend", "GraphvizDump", "Reporting",
        "Workloads",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    // Helpers shared by the test targets (repository and corpus paths, parsing).
    .target(name: "TestSupport", dependencies: ["BatchIR"], path: "Tests/TestSupport"),
    .testTarget(name: "PQTreeTests", dependencies: ["PQTree"]),
    .testTarget(name: "BatchIRTests", dependencies: ["BatchIR", "Workloads", "TestSupport"]),
    .testTarget(
      name: "BatchPassesTests",
      dependencies: [
        "AccelSim", "BatchIR", "BatchPasses", "Workloads", "TestSupport",
        .product(name: "PropertyBased", package: "swift-property-based"),
      ]),
    .testTarget(name: "AccelSimTests", dependencies: ["AccelSim", "BatchIR", "BatchPasses"]),
    .testTarget(name: "ReportingTests", dependencies: ["Reporting"]),
    .testTarget(
      name: "GraphvizDumpTests", dependencies: ["GraphvizDump", "Workloads", "TestSupport"],
      exclude: ["Golden"]),
    .testTarget(
      name: "CPUBackendTests",
      dependencies: ["BatchIR", "BatchPasses", "CPUBackend", "Workloads", "TestSupport"]),
    // Runs the pass-level golden cases under passes/.
    .testTarget(name: "GoldenTests", dependencies: ["BatchIR", "BatchPasses", "TestSupport"]),
  ],
  swiftLanguageModes: [.v6]
)
