// Runs the benchmark plan (every bundled model x compute unit) with BenchCore's measuring loop.
// Used by the app's benchmark mode (runner "ios-app"), its screen, and the XCTest benchmark
// (runner "ios-xctest"), so all three measure the same way.
import BenchCore
import Foundation

final class BenchmarkRunner {
    static let resultsFileName = "benchmark_results.json"
    static let errorFileName = "benchmark_error.txt"

    let modelsURL: URL
    let catalog: ModelCatalog
    let labels: [String]
    private var inputs: [Int: ImageInput] = [:]

    init(bundle: Bundle = .main) throws {
        guard let models = bundle.url(forResource: "Models", withExtension: nil) else {
            throw BenchError.noModels("the app bundle has no Models folder (run affdeploy ios-assets, then rebuild)")
        }
        guard FileManager.default.fileExists(atPath: models.appendingPathComponent("models.json").path) else {
            throw BenchError.noModels("Models/models.json is missing (run affdeploy ios-assets, then rebuild)")
        }
        modelsURL = models
        catalog = try ModelCatalog.load(from: models)
        let labelText = (try? String(contentsOf: models.appendingPathComponent(catalog.labels), encoding: .utf8)) ?? ""
        labels = labelText.split(separator: "\n").map { String($0).trimmingCharacters(in: .whitespaces) }
    }

    static var documentsURL: URL {
        FileManager.default.urls(for: .documentDirectory, in: .userDomainMask)[0]
    }

    func input(size: Int) throws -> ImageInput {
        if let cached = inputs[size] { return cached }
        let made = try ImageInput.bundled(size: size)
        inputs[size] = made
        return made
    }

    /// A tensor model runs on its generated inputs; AFFNet on the bundled picture.
    func session(for config: BenchConfig) throws -> InferenceSession {
        let url = modelsURL.appendingPathComponent(config.entry.file)
        let picture: ImageInput? = try config.entry.isTensorModel ? nil : input(size: config.entry.imageSize)
        let tensors = try picture.map { [GeneratedInput(name: "image", shape: [1, 3, $0.size, $0.size], values: $0.chw)] }
            ?? config.entry.benchmarkInputs()
        if let unit = config.computeUnit {
            return try CoreMLSession(package: url, unit: unit, picture: picture, tensors: tensors, labels: labels)
        }
        return ExecuTorchSession(program: url, inputs: tensors)
    }

    /// Measure one configuration and return its record.
    func record(_ config: BenchConfig, options: BenchmarkOptions, device: DeviceInfo, tools: [String: String],
                runner: String) throws -> BenchRecord {
        let measured = try measure(try session(for: config), warmup: options.warmup, iterations: options.iterations,
                                   memory: DeviceFacts.footprintBytes)
        var notes = ["thermal state after run: \(DeviceFacts.thermalState())"]
        if config.computeUnit == .cpuAndNeuralEngine || config.computeUnit == .all {
            notes.append("Core ML decides per layer where it runs; unsupported layers fall back to GPU/CPU")
        }
        return try makeRecord(config: config, measurement: measured, device: device, runner: runner,
                              warmup: options.warmup, tools: tools, notes: notes)
    }

    /// Every configuration of the plan, with the requested cool-down between them.
    func run(options: BenchmarkOptions, device: DeviceInfo, tools: [String: String], runner: String,
             progress: (String) -> Void = { _ in }) throws -> [BenchRecord] {
        let plan = try benchmarkPlan(catalog, options: options)
        var records = [BenchRecord]()
        for (index, config) in plan.enumerated() {
            progress("\(index + 1)/\(plan.count) \(config.title)")
            if index > 0 && options.cooldownS > 0 {
                Thread.sleep(forTimeInterval: options.cooldownS)
            }
            records.append(try record(config, options: options, device: device, tools: tools, runner: runner))
        }
        return records
    }
}
