// Benchmark-mode options. `affdeploy bench` passes the same words as launch arguments on Linux
// (pymobiledevice3) and as TEST_RUNNER_AFFDEPLOY_ARGS to the XCTest benchmark on macOS, so one
// parser serves the app and the tests (src/affdeploy/devices/ios.py: app_arguments).
import Foundation

public struct BenchmarkOptions: Equatable {
    public var benchmark = false
    public var iterations = 30
    public var warmup = 5
    public var cooldownS = 0.0
    public var models: [String] = []  // empty: every model in the catalog
    public var targets: [String] = ["coreml", "executorch"]

    public init() {}

    /// Parse `--benchmark --iterations N --warmup N --cooldown-s S --models a,b --targets a,b`.
    /// Unknown words are skipped: Xcode and the system add their own launch arguments.
    public static func parse(_ arguments: [String]) throws -> BenchmarkOptions {
        var options = BenchmarkOptions()
        var index = 0
        func value(_ flag: String) throws -> String {
            guard index + 1 < arguments.count else { throw BenchError.badOption("\(flag) needs a value") }
            index += 1
            return arguments[index]
        }
        func count(_ flag: String, minimum: Int) throws -> Int {
            let text = try value(flag)
            guard let number = Int(text), number >= minimum else {
                throw BenchError.badOption("\(flag) must be an integer >= \(minimum), got \(text)")
            }
            return number
        }
        while index < arguments.count {
            switch arguments[index] {
            case "--benchmark": options.benchmark = true
            case "--iterations": options.iterations = try count("--iterations", minimum: 1)
            case "--warmup": options.warmup = try count("--warmup", minimum: 0)
            case "--cooldown-s":
                let text = try value("--cooldown-s")
                guard let seconds = Double(text), seconds >= 0 else {
                    throw BenchError.badOption("--cooldown-s must be a number >= 0, got \(text)")
                }
                options.cooldownS = seconds
            case "--models": options.models = try list(value("--models"))
            case "--targets":
                options.targets = try list(value("--targets"))
                if let bad = options.targets.first(where: { !["coreml", "executorch"].contains($0) }) {
                    throw BenchError.badOption("unknown target \(bad) (coreml, executorch)")
                }
            default: break
            }
            index += 1
        }
        return options
    }

    /// Options from a whitespace-separated string (the TEST_RUNNER_AFFDEPLOY_ARGS variable).
    public static func parse(environmentValue: String?) throws -> BenchmarkOptions {
        let words = (environmentValue ?? "").split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        return try parse(words)
    }

    private static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
