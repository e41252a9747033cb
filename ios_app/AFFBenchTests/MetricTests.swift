// XCTest's own measurements of load and prediction per compute unit: XCTClockMetric and
// XCTMemoryMetric through measure(metrics:options:). Xcode shows them with baselines; the host
// reads them with `xcresulttool get test-results metrics` (or the legacy graph) and merges them
// into the records of the first requested model. Method names encode the backend:
// test<Load|Predict>_<coreml_cpu|coreml_gpu|coreml_ane|coreml_all|xnnpack>.
import BenchCore
import XCTest
@testable import AFFBench

final class MetricTests: XCTestCase {
    private let metrics: [XCTMetric] = [XCTClockMetric(), XCTMemoryMetric()]

    /// The configuration for `backend` of the first requested model (or the first bundled one).
    private func configuration(_ backend: String) throws -> (BenchmarkRunner, BenchConfig, BenchmarkOptions) {
        let options = try affdeployOptions()
        let runner = try BenchmarkRunner()
        var everything = BenchmarkOptions()
        everything.models = Array(options.models.prefix(1))
        let plan = try benchmarkPlan(runner.catalog, options: everything)
        guard let config = plan.first(where: { $0.backend == backend }) else {
            throw XCTSkip("no bundled model runs on \(backend)")
        }
        return (runner, config, options)
    }

    private func measureLoad(_ backend: String) throws {
        let (runner, config, _) = try configuration(backend)
        let measureOptions = XCTMeasureOptions()
        measureOptions.iterationCount = 5
        measure(metrics: metrics, options: measureOptions) {
            do {
                try runner.session(for: config).load()
            } catch {
                XCTFail("\(config.title): \(error)")
            }
        }
    }

    private func measurePredict(_ backend: String) throws {
        let (runner, config, options) = try configuration(backend)
        let session = try runner.session(for: config)
        try session.load()
        for _ in 0..<max(1, options.warmup) {
            _ = try session.predict()
        }
        let measureOptions = XCTMeasureOptions()
        measureOptions.iterationCount = options.iterations
        measure(metrics: metrics, options: measureOptions) {
            do {
                _ = try session.predict()
            } catch {
                XCTFail("\(config.title): \(error)")
            }
        }
    }

    func testLoad_coreml_cpu() throws { try measureLoad(ComputeUnit.cpuOnly.rawValue) }
    func testLoad_coreml_gpu() throws { try measureLoad(ComputeUnit.cpuAndGPU.rawValue) }
    func testLoad_coreml_ane() throws { try measureLoad(ComputeUnit.cpuAndNeuralEngine.rawValue) }
    func testLoad_coreml_all() throws { try measureLoad(ComputeUnit.all.rawValue) }
    func testLoad_xnnpack() throws { try measureLoad("xnnpack") }

    func testPredict_coreml_cpu() throws { try measurePredict(ComputeUnit.cpuOnly.rawValue) }
    func testPredict_coreml_gpu() throws { try measurePredict(ComputeUnit.cpuAndGPU.rawValue) }
    func testPredict_coreml_ane() throws { try measurePredict(ComputeUnit.cpuAndNeuralEngine.rawValue) }
    func testPredict_coreml_all() throws { try measurePredict(ComputeUnit.all.rawValue) }
    func testPredict_xnnpack() throws { try measurePredict("xnnpack") }
}
