// `swift test` in ios_app/BenchCore (macOS or Linux with a Swift toolchain). The expected
// statistics are numpy's results for the same samples (np.percentile, np.std(ddof=1)).
import XCTest
@testable import BenchCore

final class StatisticsTests: XCTestCase {
    func testKnownSamples() throws {
        let stats = try computeStats([1, 2, 3, 4, 10], bootstrap: 200)
        XCTAssertEqual(stats.count, 5)
        XCTAssertEqual(stats.mean, 4.0, accuracy: 1e-12)
        XCTAssertEqual(stats.std, 3.5355339059327378, accuracy: 1e-12)
        XCTAssertEqual(stats.p50, 3.0, accuracy: 1e-12)
        XCTAssertEqual(stats.p90, 7.6, accuracy: 1e-12)
        XCTAssertEqual(stats.p99, 9.76, accuracy: 1e-12)
        XCTAssertEqual(stats.trimmedMean, 4.0, accuracy: 1e-12)
        XCTAssertTrue(stats.noisy)
        XCTAssertLessThanOrEqual(stats.medianCi95[0], stats.p50)
        XCTAssertGreaterThanOrEqual(stats.medianCi95[1], stats.p50)
    }

    func testTrimmedMeanDropsTenPercentEachEnd() {
        let sorted = (1...20).map(Double.init) + [1000]
        XCTAssertEqual(trimmedMean(sorted: sorted), (3...19).map(Double.init).reduce(0, +) / 17, accuracy: 1e-12)
    }

    func testSingleSampleHasZeroStd() throws {
        let stats = try computeStats([5])
        XCTAssertEqual(stats.std, 0)
        XCTAssertEqual(stats.medianCi95, [5, 5])
        XCTAssertFalse(stats.noisy)
    }

    func testNoSamplesThrows() {
        XCTAssertThrowsError(try computeStats([]))
    }
}

final class OptionsTests: XCTestCase {
    func testParsesWhatTheCLISends() throws {
        let options = try BenchmarkOptions.parse(environmentValue:
            "--benchmark --iterations 50 --warmup 5 --cooldown-s 2 --models affnet-t,affnet-et --targets coreml")
        XCTAssertTrue(options.benchmark)
        XCTAssertEqual(options.iterations, 50)
        XCTAssertEqual(options.warmup, 5)
        XCTAssertEqual(options.cooldownS, 2)
        XCTAssertEqual(options.models, ["affnet-t", "affnet-et"])
        XCTAssertEqual(options.targets, ["coreml"])
    }

    func testRejectsBadValues() {
        XCTAssertThrowsError(try BenchmarkOptions.parse(["--iterations", "0"]))
        XCTAssertThrowsError(try BenchmarkOptions.parse(["--targets", "onnx"]))
        XCTAssertThrowsError(try BenchmarkOptions.parse(["--warmup"]))
    }
}

/// A catalog entry as ios-assets writes it for AFFNet (image mode).
func affnetEntry(target: String, backend: String, file: String, macs: Int?) -> AppModel {
    let image = ImageMeta(height: 256, width: 256, colorOrder: "RGB", scale: 1.0 / 255, mean: [0, 0, 0], std: [1, 1, 1],
                          labels: "imagenet_labels.txt")
    return AppModel(model: "affnet-t", id: "affnet-t", sourceSha256: nil, file: file, sha256: "ab", target: target,
                    backend: backend, fft: "dft", precision: "fp16", imageSize: 256, mode: "image",
                    inputs: [InputMeta(name: "image", shape: [1, 3, 256, 256], dtype: "float32", seed: 0, sum: 0)],
                    outputs: [TensorMeta(name: "logits", shape: [1, 1000], dtype: "float32")],
                    image: image, macs: macs, schema: appModelSchemaID)
}

final class SchemaTests: XCTestCase {
    func testRecordRoundTripUsesSnakeCaseKeys() throws {
        let entry = affnetEntry(target: "coreml", backend: "coreml", file: "affnet-t.mlpackage", macs: 790_000_000)
        let config = BenchConfig(entry: entry, backend: ComputeUnit.all.rawValue, computeUnit: .all)
        let measurement = LatencyMeasurement(loadMs: 120, firstInferenceMs: 9, samplesMs: [4, 5, 6], peakMemoryGrowthBytes: 1 << 20)
        let record = try makeRecord(config: config, measurement: measurement,
                                    device: DeviceInfo(name: "iphone15pro", model: "iPhone16,1"),
                                    runner: "ios-app", warmup: 2, tools: ["ios": "17.4"])
        let data = try ResultsDocument(records: [record]).encoded()
        let text = String(decoding: data, as: UTF8.self)
        for key in ["\"samples_ms\"", "\"median_ci95\"", "\"image_size\"", "\"gmacs_per_s\"", "\"artifact_sha256\"", "\"memory_bytes\""] {
            XCTAssertTrue(text.contains(key), key)
        }
        XCTAssertEqual(try ResultsDocument.decode(data).records, [record])
        XCTAssertEqual(record.gmacsPerS!, 790_000_000 / 0.005 / 1e9, accuracy: 1e-9)
    }

    func testPlanCoversEveryComputeUnit() throws {
        let coreml = affnetEntry(target: "coreml", backend: "coreml", file: "a.mlpackage", macs: nil)
        let pte = affnetEntry(target: "executorch", backend: "xnnpack", file: "a.pte", macs: nil)
        let catalog = ModelCatalog(models: [coreml, pte], labels: "imagenet_labels.txt")
        let plan = try benchmarkPlan(catalog, options: BenchmarkOptions())
        XCTAssertEqual(plan.map(\.backend), ["coreml-cpu", "coreml-gpu", "coreml-ane", "coreml-all", "xnnpack"])
        var only = BenchmarkOptions()
        only.models = ["affnet"]
        XCTAssertThrowsError(try benchmarkPlan(catalog, options: only))
    }
}

final class TensorModelTests: XCTestCase {
    /// bench_input([5], 0), bench_input([3], 1) and the sum of bench_input([2, 3], 7) in affdeploy
    /// (tests/test_ios_swift.py checks these literals against Python).
    func testBenchInputMatchesAffdeploy() {
        XCTAssertEqual(benchInput(shape: [5], seed: 0),
                       [0.7666215896606445, -0.13694405555725098, -0.9471324682235718, 0.9417638778686523, -0.7873066663742065])
        XCTAssertEqual(benchInput(shape: [3], seed: 1), [0.13312304019927979, 0.49156343936920166, 0.9420053958892822])
        XCTAssertEqual(benchInput(shape: [2, 3], seed: 7).reduce(0.0) { $0 + Double($1) }, -0.8156355619430542)
    }

    func testTensorModelDecodesAndGeneratesItsInputs() throws {
        let json = """
        {"schema": "affdeploy.app-model/v1", "model": "fft_zoo:multi_input", "id": "fft_zoo-multi_input",
         "source_sha256": "ab", "file": "m.pte", "sha256": "cd", "target": "executorch", "backend": "xnnpack",
         "fft": "dft", "precision": "fp32", "image_size": 256, "mode": "tensor",
         "inputs": [{"name": "a", "shape": [5], "dtype": "float32", "seed": 0, "sum": SUM}],
         "outputs": [{"name": "corr", "shape": [5], "dtype": "float32"}], "image": null, "macs": null}
        """
        let sum = benchInput(shape: [5], seed: 0).reduce(0.0) { $0 + Double($1) }
        let meta = try AppModel.decode(Data(json.replacingOccurrences(of: "SUM", with: "\(sum)").utf8))
        XCTAssertTrue(meta.isTensorModel)
        XCTAssertEqual(try meta.benchmarkInputs().map(\.values), [benchInput(shape: [5], seed: 0)])
        let drifted = try AppModel.decode(Data(json.replacingOccurrences(of: "SUM", with: "\(sum + 0.5)").utf8))
        XCTAssertThrowsError(try drifted.benchmarkInputs())
        XCTAssertThrowsError(try AppModel.decode(Data(json.replacingOccurrences(of: "\"float32\", \"seed\"", with: "\"int64\", \"seed\"")
            .replacingOccurrences(of: "SUM", with: "0").utf8)))
        var options = BenchmarkOptions()
        options.models = ["fft_zoo-multi_input"]
        XCTAssertEqual(try benchmarkPlan(ModelCatalog(models: [meta], labels: "l"), options: options).map(\.backend), ["xnnpack"])
    }
}
