// One model's FILE.model.json (schema affdeploy.app-model/v1), written by `affdeploy ios-assets`
// next to each bundled artifact (src/affdeploy/bench/appmodel.py, field for field): the artifact,
// its inputs and outputs, and for AFFNet ("image" mode) its preprocessing. A "tensor" model (a
// user's .pt2 or factory) is benchmarked on generated inputs of its static shapes; benchInput
// computes the very numbers affdeploy's bench_input and the Android app's InputData.seeded do.
import Foundation

public let appModelSchemaID = "affdeploy.app-model/v1"

/// One output: name, static shape, dtype.
public struct TensorMeta: Codable, Equatable {
    public var name: String
    public var shape: [Int]
    public var dtype: String
}

/// One input and the benchmark data generated for it.
public struct InputMeta: Codable, Equatable {
    public var name: String
    public var shape: [Int]
    public var dtype: String
    public var seed: UInt64
    public var sum: Double  // exact sum of benchInput(shape, seed): the generator check
}

/// AFFNet's picture preprocessing and its labels file.
public struct ImageMeta: Codable, Equatable {
    public var height: Int
    public var width: Int
    public var colorOrder: String
    public var scale: Double
    public var mean: [Double]
    public var std: [Double]
    public var labels: String
}

/// One generated input, ready for MLMultiArray or an ExecuTorch Tensor.
public struct GeneratedInput: Equatable {
    public var name: String
    public var shape: [Int]
    public var values: [Float]
}

/// One bundled artifact as the app reads it.
public struct AppModel: Codable, Equatable {
    public var model: String  // what records name: the AFFNet variant, the .pt2 path or package.module:factory
    public var id: String  // the name `affdeploy bench` passes in --models
    public var sourceSha256: String?
    public var file: String  // relative to Models/
    public var sha256: String
    public var target: String  // "coreml" | "executorch"
    public var backend: String  // exporter backend: "coreml" (ML Program), "xnnpack", "portable"...
    public var fft: String
    public var precision: String
    public var imageSize: Int
    public var mode: String  // "image" | "tensor"
    public var inputs: [InputMeta]
    public var outputs: [TensorMeta]
    public var image: ImageMeta?
    public var macs: Int?
    public var schema: String

    public var isTensorModel: Bool { mode == "tensor" }

    /// Decode and check one metadata file: its schema, static positive shapes and float32 inputs.
    public static func decode(_ data: Data) throws -> AppModel {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let meta = try decoder.decode(AppModel.self, from: data)
        guard meta.schema == appModelSchemaID else { throw BenchError.badSchema(meta.schema) }
        guard meta.mode == "tensor" || (meta.mode == "image" && meta.image != nil) else {
            throw BenchError.badModel("\(meta.file): mode \(meta.mode) without what it needs (run affdeploy ios-assets)")
        }
        for input in meta.inputs {
            guard input.dtype == "float32", input.shape.allSatisfy({ $0 > 0 }) else {
                throw BenchError.badModel("\(meta.file): input \(input.name) is \(input.dtype) \(input.shape); the app feeds static float32 tensors")
            }
        }
        return meta
    }

    /// The inputs generated from each seed, checked against the sum affdeploy computed, so a
    /// generator that drifted from the Python one fails here instead of measuring other data.
    public func benchmarkInputs() throws -> [GeneratedInput] {
        try inputs.map { (input: InputMeta) throws -> GeneratedInput in
            let values = benchInput(shape: input.shape, seed: input.seed)
            let sum = values.reduce(0.0) { $0 + Double($1) }
            guard sum == input.sum else {
                throw BenchError.badModel("generated input \(input.name) sums to \(sum), affdeploy expects \(input.sum) (app and affdeploy disagree)")
            }
            return GeneratedInput(name: input.name, shape: input.shape, values: values)
        }
    }
}

/// Values in [-1, 1): the i-th is SplitMix64(seed)'s i-th output, top 24 bits, scaled by 2^-23
/// (exact in Float, so every language produces the same bits).
public func benchInput(shape: [Int], seed: UInt64) -> [Float] {
    let count = shape.reduce(1, *)
    var values = [Float](repeating: 0, count: count)
    for index in 0..<count {
        var z = seed &+ UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        values[index] = Float(Int64(z >> 40) - (1 << 23)) / Float(1 << 23)
    }
    return values
}
