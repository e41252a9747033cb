// The models the app carries: Models/models.json (schema affdeploy.app-assets/v1), written by
// `affdeploy ios-assets` next to the copied .mlpackage/.pte files and their FILE.model.json
// (ModelMeta.swift), and the benchmark plan over them: every Core ML model on each compute unit,
// every ExecuTorch model on XNNPACK.
import Foundation

public let catalogSchemaID = "affdeploy.app-assets/v1"

/// models.json as written: the labels file and the metadata file of every bundled artifact.
struct CatalogFile: Codable {
    var schema: String
    var labels: String
    var models: [String]
}

public struct ModelCatalog: Equatable {
    public var models: [AppModel]
    public var labels: String  // file name of the ImageNet labels, one per line

    public init(models: [AppModel], labels: String) {
        self.models = models
        self.labels = labels
    }

    /// models.json of `folder` and every metadata file it lists.
    public static func load(from folder: URL) throws -> ModelCatalog {
        let file = try JSONDecoder().decode(CatalogFile.self, from: Data(contentsOf: folder.appendingPathComponent("models.json")))
        guard file.schema == catalogSchemaID else { throw BenchError.badSchema(file.schema) }
        let models = try file.models.map { try AppModel.decode(Data(contentsOf: folder.appendingPathComponent($0))) }
        return ModelCatalog(models: models, labels: file.labels)
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
    public var entry: AppModel
    public var backend: String  // a ComputeUnit raw value, or the ExecuTorch delegate ("xnnpack")
    public var computeUnit: ComputeUnit?  // nil for ExecuTorch

    public init(entry: AppModel, backend: String, computeUnit: ComputeUnit?) {
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
        (options.models.isEmpty || options.models.contains($0.model) || options.models.contains($0.id))
            && options.targets.contains($0.target)
    }
    guard !entries.isEmpty else {
        let have = catalog.models.map { "\($0.id)/\($0.target)" }.joined(separator: ", ")
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
