// The models the app carries: Models/models.json, written by `affdeploy ios-assets` next to the
// copied .mlpackage/.pte files (src/affdeploy/cli/ios_assets.py), and the benchmark plan over
// them: every Core ML model on each compute unit, every ExecuTorch model on XNNPACK.
import Foundation

public let catalogSchemaID = "affdeploy.ios-assets/v1"

public struct CatalogEntry: Codable, Equatable {
    public var model: String
    public var target: String  // "coreml" | "executorch"
    public var backend: String  // exporter backend: "coreml" (ML Program), "xnnpack", "portable"...
    public var fft: String
    public var precision: String
    public var imageSize: Int
    public var file: String  // relative to Models/
    public var sha256: String
    public var macs: Int?
}

public struct ModelCatalog: Codable, Equatable {
    public var schema: String
    public var models: [CatalogEntry]
    public var labels: String  // file name of the ImageNet labels, one per line

    public static func load(from url: URL) throws -> ModelCatalog {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let catalog = try decoder.decode(ModelCatalog.self, from: Data(contentsOf: url))
        guard catalog.schema == catalogSchemaID else { throw BenchError.badSchema(catalog.schema) }
        return catalog
    }
}

/// The four Core ML compute-unit settings, named as the records' backend field names them.
public enum ComputeUnit: String, CaseIterable, Codable {
    case cpuOnly = "coreml-cpu"
    case cpuAndGPU = "coreml-gpu"
    case cpuAndNeuralEngine = "coreml-ane"
    case all = "coreml-all"

    public var title: String {
        switch self {
        case .cpuOnly: return "CPU only"
        case .cpuAndGPU: return "CPU + GPU"
        case .cpuAndNeuralEngine: return "CPU + Neural Engine"
        case .all: return "All"
        }
    }
}

/// One configuration to measure: a catalog entry on one backend.
public struct BenchConfig: Equatable {
    public var entry: CatalogEntry
    public var backend: String  // a ComputeUnit raw value, or the ExecuTorch delegate ("xnnpack")
    public var computeUnit: ComputeUnit?  // nil for ExecuTorch

    public init(entry: CatalogEntry, backend: String, computeUnit: ComputeUnit?) {
        self.entry = entry
        self.backend = backend
        self.computeUnit = computeUnit
    }

    public var title: String {
        "\(entry.model) \(entry.target) \(computeUnit?.title ?? backend)"
    }
}

/// Every configuration the options ask for, in a fixed order (models, then targets, then units).
public func benchmarkPlan(_ catalog: ModelCatalog, options: BenchmarkOptions) throws -> [BenchConfig] {
    let entries = catalog.models.filter {
        (options.models.isEmpty || options.models.contains($0.model)) && options.targets.contains($0.target)
    }
    guard !entries.isEmpty else {
        let have = catalog.models.map { "\($0.model)/\($0.target)" }.joined(separator: ", ")
        throw BenchError.noModels("no bundled model matches models \(options.models) and targets \(options.targets); the app has: \(have.isEmpty ? "none" : have) (run affdeploy ios-assets)")
    }
    var plan = [BenchConfig]()
    for entry in entries {
        if entry.target == "coreml" {
            plan += ComputeUnit.allCases.map { BenchConfig(entry: entry, backend: $0.rawValue, computeUnit: $0) }
        } else {
            plan.append(BenchConfig(entry: entry, backend: entry.backend, computeUnit: nil))
        }
    }
    return plan
}
