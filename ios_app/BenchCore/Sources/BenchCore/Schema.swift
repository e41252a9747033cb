// The affdeploy.bench/v1 result schema, field for field as src/affdeploy/bench/schema.py
// defines it, so `affdeploy` reads what the app writes with load_results(). JSON keys are
// snake_case (the encoder converts the camelCase property names); times are milliseconds,
// memory is bytes.
import Foundation

public let schemaID = "affdeploy.bench/v1"

/// Summary statistics of per-iteration latencies (ms); see Statistics.swift for the definition.
public struct Stats: Codable, Equatable {
    public var count: Int
    public var min: Double
    public var max: Double
    public var mean: Double
    public var std: Double
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var trimmedMean: Double
    public var cv: Double
    public var medianCi95: [Double]  // [low, high]
    public var noisy: Bool
}

/// Where a record was measured.
public struct DeviceInfo: Codable, Equatable {
    public var kind: String = "ios"
    public var name: String
    public var model: String = ""  // ProductType, e.g. iPhone16,1
    public var manufacturer: String = "Apple"
    public var serial: String = ""
    public var soc: String = ""
    public var abi: String = "arm64"
    public var os: String = ""  // "iOS 17.4"
    public var cpu: String = ""
    public var cores: Int = 0
    public var memoryBytes: Int = 0
    public var extra: [String: String] = [:]

    public init(name: String, model: String = "", soc: String = "", os: String = "", cores: Int = 0,
                memoryBytes: Int = 0, extra: [String: String] = [:]) {
        self.name = name
        self.model = model
        self.soc = soc
        self.os = os
        self.cores = cores
        self.memoryBytes = memoryBytes
        self.extra = extra
    }
}

/// One measured configuration: model x target x backend (compute unit) on one device.
public struct BenchRecord: Codable, Equatable {
    public var model: String
    public var target: String  // "coreml" | "executorch"
    public var backend: String  // "coreml-cpu" | "coreml-gpu" | "coreml-ane" | "coreml-all" | "xnnpack"
    public var fft: String
    public var threads: Int
    public var precision: String
    public var imageSize: Int
    public var device: DeviceInfo
    public var runner: String  // "ios-app" | "ios-xctest"
    public var samplesMs: [Double]
    public var stats: Stats
    public var warmup: Int
    public var loadMs: Double?
    public var firstInferenceMs: Double?
    public var peakRssGrowthBytes: Int?
    public var macs: Int?
    public var gmacsPerS: Double?
    public var artifactSha256: String = ""
    public var artifactPath: String = ""
    public var modelSha256: String = ""  // a user model's .pt2 file / factory source (its metadata's source_sha256)
    public var tools: [String: String] = [:]
    public var timestamp: String = ""
    public var notes: [String] = []
    public var schema: String = schemaID
}

/// A results file: `{"schema": "affdeploy.bench/v1", "records": [...]}`.
public struct ResultsDocument: Codable, Equatable {
    public var schema: String = schemaID
    public var records: [BenchRecord]

    public init(records: [BenchRecord]) {
        self.records = records
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    public static func decode(_ data: Data) throws -> ResultsDocument {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let doc = try decoder.decode(ResultsDocument.self, from: data)
        guard doc.schema == schemaID else { throw BenchError.badSchema(doc.schema) }
        return doc
    }

    /// Write atomically (temporary file, then rename) so a reader polling for the file,
    /// such as `affdeploy bench` over house_arrest, never sees half of it.
    public func write(to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try encoded().write(to: url, options: .atomic)
    }
}

public enum BenchError: Error, Equatable, CustomStringConvertible {
    case badSchema(String)
    case badOption(String)
    case noSamples
    case noModels(String)
    case badModel(String)

    public var description: String {
        switch self {
        case .badSchema(let found): return "unsupported schema \(found) (expected \(schemaID), \(catalogSchemaID) or \(appModelSchemaID); re-run affdeploy)"
        case .badOption(let message): return message
        case .noSamples: return "no latency samples to summarise (zero iterations)"
        case .noModels(let message): return message
        case .badModel(let message): return message
        }
    }
}

/// ISO 8601 UTC timestamp, as the host engine writes it.
public func isoTimestamp(_ date: Date = Date()) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: date)
}
