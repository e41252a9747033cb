// Latency statistics with exactly the definitions of src/affdeploy/bench/stats.py
// (docs/results-schema.md), so numbers from the phone and from the host mean the same thing:
// sample std (n - 1), percentiles by linear interpolation between closest ranks (numpy's
// default), trimmed mean dropping floor(0.1 n) samples at each end, cv = std / mean, a
// percentile-bootstrap 95% interval of the median, noisy when cv > 0.10.
// Only the bootstrap's random stream differs from numpy's (SplitMix64 here).
import Foundation

public let noisyCV = 0.10
public let trimFraction = 0.1

/// Linear interpolation between closest ranks of already sorted values, q in [0, 100].
public func percentile(sorted: [Double], _ q: Double) -> Double {
    precondition(!sorted.isEmpty, "percentile of no values")
    let position = Double(sorted.count - 1) * q / 100.0
    let low = Int(position.rounded(.down))
    let high = Swift.min(low + 1, sorted.count - 1)
    let fraction = position - Double(low)
    return sorted[low] + (sorted[high] - sorted[low]) * fraction
}

public func trimmedMean(sorted: [Double]) -> Double {
    let drop = Int((trimFraction * Double(sorted.count)).rounded(.down))
    let kept = sorted[drop..<(sorted.count - drop)]
    return kept.reduce(0, +) / Double(kept.count)
}

/// Deterministic generator so a re-run of the same samples gives the same interval.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Percentile bootstrap 95% interval of the median (2.5th and 97.5th percentile of resampled medians).
public func bootstrapMedianCI(_ values: [Double], resamples: Int, seed: UInt64) -> [Double] {
    let sorted = values.sorted()
    guard resamples > 0 else {
        let median = percentile(sorted: sorted, 50)
        return [median, median]
    }
    var rng = SplitMix64(seed: seed)
    var medians = [Double]()
    medians.reserveCapacity(resamples)
    var pick = [Double](repeating: 0, count: values.count)
    for _ in 0..<resamples {
        for i in 0..<values.count {
            pick[i] = values[Int.random(in: 0..<values.count, using: &rng)]
        }
        medians.append(percentile(sorted: pick.sorted(), 50))
    }
    medians.sort()
    return [percentile(sorted: medians, 2.5), percentile(sorted: medians, 97.5)]
}

/// Summarise latencies (ms). Throws when there is nothing to summarise.
public func computeStats(_ samples: [Double], cvThreshold: Double = noisyCV, bootstrap: Int = 1000,
                         seed: UInt64 = 0) throws -> Stats {
    guard !samples.isEmpty else { throw BenchError.noSamples }
    let n = Double(samples.count)
    let sorted = samples.sorted()
    let mean = samples.reduce(0, +) / n
    let std = samples.count < 2 ? 0 : (samples.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / (n - 1)).squareRoot()
    let cv = mean != 0 ? std / mean : 0
    return Stats(
        count: samples.count,
        min: sorted[0],
        max: sorted[sorted.count - 1],
        mean: mean,
        std: std,
        p50: percentile(sorted: sorted, 50),
        p90: percentile(sorted: sorted, 90),
        p99: percentile(sorted: sorted, 99),
        trimmedMean: trimmedMean(sorted: sorted),
        cv: cv,
        medianCi95: bootstrapMedianCI(samples, resamples: bootstrap, seed: seed),
        noisy: cv > cvThreshold
    )
}
