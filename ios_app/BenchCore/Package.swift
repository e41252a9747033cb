// swift-tools-version:5.9
// BenchCore: the affdeploy.bench/v1 result schema, latency statistics, benchmark options and
// the model catalog of the AFFBench app. Foundation only (no UIKit, Core ML or ExecuTorch), so
// `swift build` / `swift test` run on Linux as well as on macOS.
import PackageDescription

let package = Package(
    name: "BenchCore",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [
        .library(name: "BenchCore", targets: ["BenchCore"]),
    ],
    targets: [
        .target(name: "BenchCore"),
        .testTarget(name: "BenchCoreTests", dependencies: ["BenchCore"]),
    ]
)
