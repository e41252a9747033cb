// The two runtimes behind BenchCore's InferenceSession: Core ML (.mlpackage, compiled once on
// the phone, loaded per compute unit) and ExecuTorch (.pte through its Swift package). Both take
// the picture (AFFNet) or the generated inputs of a tensor model (ModelMeta.swift), by input name.
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
    private let picture: ImageInput?
    private let tensors: [GeneratedInput]
    private let labels: [String]
    private var model: MLModel?
    private var features: MLFeatureProvider?

    /// `picture` feeds image inputs (AFFNet); `tensors` feed multi-array inputs, matched by name.
    init(package: URL, unit: ComputeUnit, picture: ImageInput?, tensors: [GeneratedInput], labels: [String]) throws {
        compiledURL = try CompiledModels.compiled(package)
        let config = MLModelConfiguration()
        config.computeUnits = unit.mlComputeUnits
        configuration = config
        self.picture = picture
        self.tensors = tensors
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

    /// The exporter offers AFFNet's picture as an image input (RGB, scale 1/255 inside the model)
    /// or as a float tensor, and a user model's inputs as tensors named as in PyTorch; feed whichever
    /// the model declares.
    private func featureProvider(for description: MLModelDescription) throws -> MLFeatureProvider {
        var values = [String: MLFeatureValue]()
        for (name, feature) in description.inputDescriptionsByName {
            if feature.type == .image, let constraint = feature.imageConstraint, let picture {
                values[name] = MLFeatureValue(pixelBuffer: try picture.pixelBuffer(width: constraint.pixelsWide, height: constraint.pixelsHigh))
            } else if feature.type == .multiArray, let constraint = feature.multiArrayConstraint,
                      let tensor = tensors.first(where: { $0.name == name }) ?? (tensors.count == 1 ? tensors.first : nil) {
                let array = try MLMultiArray(shape: constraint.shape, dataType: constraint.dataType)
                guard array.count == tensor.values.count else { throw RuntimeError.unsupportedInput("\(name) \(constraint.shape) (metadata: \(tensor.shape))") }
                for (index, value) in tensor.values.enumerated() {
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
    private let inputs: [GeneratedInput]
    private var module: Module?
    private var tensors: [Tensor<Float>] = []

    /// `inputs` in the program's input order: the picture as one CHW tensor, or a tensor model's inputs.
    init(program: URL, inputs: [GeneratedInput]) {
        path = program.path
        self.inputs = inputs
    }

    func load() throws {
        let loaded = Module(filePath: path)
        try loaded.load("forward")
        tensors = inputs.map { Tensor<Float>($0.values, shape: $0.shape) }
        module = loaded
    }

    /// Every output is computed; the first one is returned (AFFNet's logits).
    func predict() throws -> [Float] {
        guard let module, !tensors.isEmpty else { throw RuntimeError.notLoaded(path) }
        let outputs: [Value] = try module.forward(tensors)
        guard let first: Tensor<Float> = outputs.first?.tensor() else { throw RuntimeError.noLogits(path) }
        return first.scalars()
    }
}
