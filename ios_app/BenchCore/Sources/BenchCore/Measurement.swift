// The measuring loop shared by the app's benchmark mode and the XCTest benchmark: load time,
// first inference, warm-up, timed iterations and memory growth, then one BenchRecord.
// Runtimes plug in through InferenceSession, so this file needs neither Core ML nor ExecuTorch.
import Foundation

/// A loaded-on-demand model with its input already prepared.
public protocol InferenceSession {
    /// Load (and for Core ML, specialise for the compute unit); timed as load_ms.
    func load() throws
    /// Run one prediction on the prepared input and return the logits.
    func predict() throws -> [Float]
}

public struct LatencyMeasurement: Equatable {
    public var loadMs: Double
    public var firstInferenceMs: Double
    public var samplesMs: [Double]
    public var peakMemoryGrowthBytes: Int
}

public func milliseconds(_ duration: Duration) -> Double {
    let parts = duration.components
    return Double(parts.seconds) * 1000.0 + Double(parts.attoseconds) / 1e15
}

/// Time `body` once with the monotonic clock, in ms.
public func timeMs(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    try body()
    return milliseconds(clock.now - start)
}

/// Load, first inference, `warmup` untimed runs, then `iterations` timed runs.
/// `memory` returns the process footprint in bytes; its growth over the baseline is kept.
public func measure(_ session: InferenceSession, warmup: Int, iterations: Int,
                    memory: () -> Int) throws -> LatencyMeasurement {
    guard iterations > 0 else { throw BenchError.noSamples }
    let baseline = memory()
    var peak = baseline
    let loadMs = try timeMs { try session.load() }
    peak = max(peak, memory())
    let firstMs = try timeMs { _ = try session.predict() }
    for _ in 0..<warmup {
        _ = try session.predict()
    }
    var samples = [Double]()
    samples.reserveCapacity(iterations)
    for _ in 0..<iterations {
        samples.append(try timeMs { _ = try session.predict() })
        peak = max(peak, memory())
    }
    return LatencyMeasurement(loadMs: loadMs, firstInferenceMs: firstMs, samplesMs: samples,
                       peakMemoryGrowthBytes: max(0, peak - baseline))
}

/// The record for one measured configuration; statistics and GMAC/s computed here.
public func makeRecord(config: BenchConfig, measurement: LatencyMeasurement, device: DeviceInfo, runner: String,
                       warmup: Int, tools: [String: String], notes: [String] = [],
                       date: Date = Date()) throws -> BenchRecord {
    let stats = try computeStats(measurement.samplesMs)
    let gmacs = config.entry.macs.map { Double($0) / (stats.p50 / 1000.0) / 1e9 }
    return BenchRecord(
        model: config.entry.model,
        target: config.entry.target,
        backend: config.backend,
        fft: config.entry.fft,
        threads: 0,  // Core ML and XNNPACK choose their own thread count on iOS
        precision: config.entry.precision,
        imageSize: config.entry.imageSize,
        device: device,
        runner: runner,
        samplesMs: measurement.samplesMs,
        stats: stats,
        warmup: warmup,
        loadMs: measurement.loadMs,
        firstInferenceMs: measurement.firstInferenceMs,
        peakRssGrowthBytes: measurement.peakMemoryGrowthBytes,
        macs: config.entry.macs,
        gmacsPerS: gmacs,
        artifactSha256: config.entry.sha256,
        artifactPath: config.entry.file,
        modelSha256: config.entry.sourceSha256 ?? "",
        tools: tools,
        timestamp: isoTimestamp(date),
        notes: notes
    )
}

/// Indices of the `k` largest logits, best first (for the classification screen).
public func topK(_ logits: [Float], _ k: Int) -> [Int] {
    Array(logits.indices.sorted { logits[$0] > logits[$1] }.prefix(k))
}
