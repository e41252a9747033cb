// The XCTest benchmark that `affdeploy bench --device iphone...` runs on macOS through
// `xcodebuild test`: every bundled model x compute unit with BenchCore's loop, the results
// attached to the result bundle as benchmark_results.json (affdeploy.bench/v1), which the
// host exports with `xcrun xcresulttool`. Options come from TEST_RUNNER_AFFDEPLOY_ARGS
// (xcodebuild strips the TEST_RUNNER_ prefix), e.g. "--iterations 50 --warmup 5".
import BenchCore
import XCTest
@testable import AFFBench

/// The options affdeploy passed, or BenchCore's defaults when run from Xcode by hand.
func affdeployOptions() throws -> BenchmarkOptions {
    try BenchmarkOptions.parse(environmentValue: ProcessInfo.processInfo.environment["AFFDEPLOY_ARGS"])
}

final class BenchmarkTests: XCTestCase {
    @MainActor  // DeviceFacts reads UIDevice; XCTest runs test methods on the main thread anyway
    func testBenchmarkAllModels() throws {
        executionTimeAllowance = 3600
        let options = try affdeployOptions()
        let runner = try BenchmarkRunner()
        let records = try runner.run(options: options, device: DeviceFacts.deviceInfo(), tools: DeviceFacts.tools,
                                     runner: "ios-xctest") { print("AFFBench \($0)") }
        XCTAssertFalse(records.isEmpty)
        let attachment = XCTAttachment(data: try ResultsDocument(records: records).encoded(), uniformTypeIdentifier: "public.json")
        attachment.name = BenchmarkRunner.resultsFileName
        attachment.lifetime = .keepAlways
        add(attachment)
    }
}
