// The two runtimes behind BenchCore's InferenceSession: Core ML (.mlpackage, compiled once on
// the phone, loaded per compute unit) and ExecuTorch (.pte through its Swift package).
import BenchCore
import CoreML
import ExecuTorch
import Foundation

enum RuntimeError: Error, CustomStringConvertible {
    case notLoaded(String)
    case unsupportedInput(String)
    case noLogits(String)

    var description: String {
        switch self {
        case .notLoaded(let what): return "\(what) is not loaded"
        case .unsupportedInput(let what): return "model input \(what) is neither an image nor a multi-array"
        case .noLogits(let what): return "model output of \(what) holds no logits"
        }
    }
}

extension ComputeUnit {
    var mlComputeUnits: MLComputeUnits {
        switch self {
        case .cpuOnly: return .cpuOnly
        case .cpuAndGPU: return .cpuAndGPU
        case .cpuAndNeuralEngine: return .cpuAndNeuralEngine
        case .all: return .all
        }
    }
}

/// .mlpackage -> .mlmodelc once per app launch; compiling is not part of load_ms because an
/// app ships (or caches) the compiled model.
enum CompiledModels {
    private static var cache: [URL: URL] = [:]
    private static let lock = NSLock()

    static func compiled(_ package: URL) throws -> URL {
        lock.lock()
        defer { lock.unlock() }
        if let url = cache[package] { return url }
        let url = try MLModel.compileModel(at: package)
        cache[package] = url
        return url
    }
}

final class CoreMLSession: InferenceSession {
    private let compiledURL: URL
    private let configuration: MLModelConfiguration
    private let input: ImageInput
    private let labels: [String]
    private var model: MLModel?
    private var features: MLFeatureProvider?

    init(package: URL, unit: ComputeUnit, input: ImageInput, labels: [String]) throws {
        compiledURL = try CompiledModels.compiled(package)
        let config = MLModelConfiguration()
        config.computeUnits = unit.mlComputeUnits
        configuration = config
        self.input = input
        self.labels = labels
    }

    func load() throws {
        let loaded = try MLModel(contentsOf: compiledURL, configuration: configuration)
        features = try featureProvider(for: loaded.modelDescription)
        model = loaded
    }

    func predict() throws -> [Float] {
        guard let model, let features else { throw RuntimeError.notLoaded(compiledURL.lastPathComponent) }
        let output = try model.prediction(from: features)
        return try logits(output, description: model.modelDescription)
    }

    /// The exporter offers the picture as an image input (RGB, scale 1/255 inside the model) or
    /// as a float tensor; feed whichever the model declares.
    private func featureProvider(for description: MLModelDescription) throws -> MLFeatureProvider {
        var values = [String: MLFeatureValue]()
        for (name, feature) in description.inputDescriptionsByName {
            if feature.type == .image, let constraint = feature.imageConstraint {
                values[name] = MLFeatureValue(pixelBuffer: try input.pixelBuffer(width: constraint.pixelsWide, height: constraint.pixelsHigh))
            } else if feature.type == .multiArray, let constraint = feature.multiArrayConstraint {
                let array = try MLMultiArray(shape: constraint.shape, dataType: constraint.dataType)
                for (index, value) in input.chw.enumerated() where index < array.count {
                    array[index] = NSNumber(value: value)
                }
                values[name] = MLFeatureValue(multiArray: array)
            } else {
                throw RuntimeError.unsupportedInput(name)
            }
        }
        return try MLDictionaryFeatureProvider(dictionary: values)
    }

    /// Logits from a multi-array output, or class probabilities (classifier models) in label order.
    private func logits(_ output: MLFeatureProvider, description: MLModelDescription) throws -> [Float] {
        for name in output.featureNames.sorted() {
            guard let value = output.featureValue(for: name) else { continue }
            if let array = value.multiArrayValue {
                return (0..<array.count).map { array[$0].floatValue }
            }
        }
        for name in output.featureNames.sorted() {
            if let probabilities = output.featureValue(for: name)?.dictionaryValue, !probabilities.isEmpty {
                return labels.map { probabilities[$0]?.floatValue ?? 0 }
            }
        }
        throw RuntimeError.noLogits(compiledURL.lastPathComponent)
    }
}

final class ExecuTorchSession: InferenceSession {
    private let path: String
    private let input: ImageInput
    private var module: Module?
    private var tensor: Tensor<Float>?

    init(program: URL, input: ImageInput) {
        path = program.path
        self.input = input
    }

    func load() throws {
        let loaded = Module(filePath: path)
        try loaded.load("forward")
        tensor = Tensor<Float>(input.chw, shape: [1, 3, input.size, input.size])
        module = loaded
    }

    func predict() throws -> [Float] {
        guard let module, let tensor else { throw RuntimeError.notLoaded(path) }
        let output = try Tensor<Float>(module.forward(tensor))
        return output.scalars()
    }
}
