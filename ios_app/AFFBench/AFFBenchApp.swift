// AFFBench: classify a bundled picture with the exported AFFNet models and show latency per
// Core ML compute unit and for ExecuTorch. Launched with --benchmark (by `affdeploy bench` on
// Linux through pymobiledevice3, or from Xcode's scheme arguments) it runs every model x
// compute unit, writes Documents/benchmark_results.json (affdeploy.bench/v1) and exits.
import BenchCore
import SwiftUI

@main
struct AFFBenchApp: App {
    @StateObject private var model = AppModel()

    var body: some Scene {
        WindowGroup {
            ContentView()
                .environmentObject(model)
                .task { await model.startBenchmarkModeIfRequested() }
        }
    }
}

struct LatencyRow: Identifiable {
    let id: String  // backend
    let title: String
    let p50Ms: Double
    let loadMs: Double
}

@MainActor
final class AppModel: ObservableObject {
    @Published var status = "Ready"
    @Published var entries: [AppModel] = []
    @Published var selected = 0
    @Published var predictions: [(label: String, score: Float)] = []
    @Published var latencies: [LatencyRow] = []
    @Published var busy = false

    private var runner: BenchmarkRunner?

    init() {
        do {
            let loaded = try BenchmarkRunner()
            runner = loaded
            entries = loaded.catalog.models
        } catch {
            status = "\(error)"
        }
    }

    /// Benchmark mode: all models x compute units, results file, exit. Failures are written to
    /// Documents/benchmark_error.txt so the host reports them instead of waiting for a timeout.
    func startBenchmarkModeIfRequested() async {
        let options: BenchmarkOptions
        do {
            options = try BenchmarkOptions.parse(Array(ProcessInfo.processInfo.arguments.dropFirst()))
        } catch {
            finishBenchmark(error: error)
            return
        }
        guard options.benchmark else { return }
        guard let runner else {
            finishBenchmark(error: BenchError.noModels(status))
            return
        }
        busy = true
        let device = DeviceFacts.deviceInfo()
        let tools = DeviceFacts.tools
        do {
            let records = try await Task.detached(priority: .userInitiated) {
                try runner.run(options: options, device: device, tools: tools, runner: "ios-app") { line in
                    Task { @MainActor in self.status = line }
                }
            }.value
            try ResultsDocument(records: records).write(
                to: BenchmarkRunner.documentsURL.appendingPathComponent(BenchmarkRunner.resultsFileName))
            finishBenchmark(error: nil)
        } catch {
            finishBenchmark(error: error)
        }
    }

    private func finishBenchmark(error: Error?) {
        busy = false
        guard let error else {
            status = "Benchmark written to Documents/\(BenchmarkRunner.resultsFileName)"
            exit(0)
        }
        status = "Benchmark failed: \(error)"
        let url = BenchmarkRunner.documentsURL.appendingPathComponent(BenchmarkRunner.errorFileName)
        try? "\(error)".write(to: url, atomically: true, encoding: .utf8)
    }

    /// Top-5 classes of the bundled picture with the selected model.
    func classify() {
        guard let runner, entries.indices.contains(selected) else { return }
        let entry = entries[selected]
        let config = entry.target == "coreml"
            ? BenchConfig(entry: entry, backend: ComputeUnit.all.rawValue, computeUnit: .all)
            : BenchConfig(entry: entry, backend: entry.backend, computeUnit: nil)
        run("Classifying with \(entry.model) (\(entry.target))") { () throws -> [(label: String, score: Float)] in
            let session = try runner.session(for: config)
            try session.load()
            let logits = try session.predict()
            let scores = softmax(logits)
            return topK(logits, 5).map { index in
                // a tensor model's first output has no labels: its largest values by index
                (label: !entry.isTensorModel && runner.labels.indices.contains(index) ? runner.labels[index] : "output[\(index)]",
                 score: scores[index])
            }
        } done: { self.predictions = $0 }
    }

    /// p50 latency of the selected model on every compute unit (short run: 3 warm-up, 20 timed).
    func measureComputeUnits() {
        guard let runner, entries.indices.contains(selected) else { return }
        let entry = entries[selected]
        var options = BenchmarkOptions()
        options.models = [entry.model]
        options.targets = [entry.target]
        options.warmup = 3
        options.iterations = 20
        let device = DeviceFacts.deviceInfo()
        run("Measuring \(entry.model) on every compute unit") { () throws -> [LatencyRow] in
            try runner.run(options: options, device: device, tools: [:], runner: "ios-app")
                .filter { $0.artifactPath == entry.file }
                .map { LatencyRow(id: $0.backend, title: ComputeUnit(rawValue: $0.backend)?.title ?? $0.backend,
                                  p50Ms: $0.stats.p50, loadMs: $0.loadMs ?? 0) }
        } done: { self.latencies = $0 }
    }

    private func run<T>(_ title: String, work: @escaping () throws -> T, done: @escaping (T) -> Void) {
        busy = true
        status = title
        Task {
            do {
                let value = try await Task.detached(priority: .userInitiated) { try work() }.value
                done(value)
                status = "Done"
            } catch {
                status = "\(error)"
            }
            busy = false
        }
    }
}

func softmax(_ logits: [Float]) -> [Float] {
    let top = logits.max() ?? 0
    let exps = logits.map { expf($0 - top) }
    let sum = exps.reduce(0, +)
    return exps.map { $0 / sum }
}
