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

final class SchemaTests: XCTestCase {
    func testRecordRoundTripUsesSnakeCaseKeys() throws {
        let entry = CatalogEntry(model: "affnet-t", target: "coreml", backend: "coreml", fft: "dft",
                                 precision: "fp16", imageSize: 256, file: "affnet-t.mlpackage",
                                 sha256: "ab", macs: 790_000_000)
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
        let coreml = CatalogEntry(model: "affnet-t", target: "coreml", backend: "coreml", fft: "dft", precision: "fp16",
                                  imageSize: 256, file: "a.mlpackage", sha256: "", macs: nil)
        var pte = coreml
        pte.target = "executorch"
        pte.backend = "xnnpack"
        let catalog = ModelCatalog(schema: catalogSchemaID, models: [coreml, pte], labels: "imagenet_labels.txt")
        let plan = try benchmarkPlan(catalog, options: BenchmarkOptions())
        XCTAssertEqual(plan.map(\.backend), ["coreml-cpu", "coreml-gpu", "coreml-ane", "coreml-all", "xnnpack"])
        var only = BenchmarkOptions()
        only.models = ["affnet"]
        XCTAssertThrowsError(try benchmarkPlan(catalog, options: only))
    }
}
