// The bundled picture, preprocessed as affdeploy.preprocessing states it for AFFNet: RGB,
// shorter side resized to the model size and centre-cropped, pixels x 1/255, no mean/std.
import CoreGraphics
import CoreVideo
import Foundation
import UIKit

enum ImageInputError: Error, CustomStringConvertible {
    case missingPicture(String)
    case pixelBuffer(Int32)
    case sizeMismatch(Int, Int, Int)

    var description: String {
        switch self {
        case .missingPicture(let name): return "the app bundle has no picture \(name)"
        case .pixelBuffer(let status): return "CVPixelBufferCreate failed (\(status))"
        case .sizeMismatch(let width, let height, let size): return "model wants \(width)x\(height), input is \(size)x\(size)"
        }
    }
}

struct ImageInput {
    let size: Int
    let rgba: [UInt8]  // size * size * 4, RGBA, row-major

    static func bundled(_ name: String = "sample", size: Int, bundle: Bundle = .main) throws -> ImageInput {
        guard let image = UIImage(named: name, in: bundle, with: nil)?.cgImage else {
            throw ImageInputError.missingPicture(name)
        }
        return ImageInput(image: image, size: size)
    }

    init(image: CGImage, size: Int) {
        self.size = size
        var pixels = [UInt8](repeating: 0, count: size * size * 4)
        let scale = CGFloat(size) / CGFloat(min(image.width, image.height))
        let width = CGFloat(image.width) * scale
        let height = CGFloat(image.height) * scale
        pixels.withUnsafeMutableBytes { buffer in
            guard let context = CGContext(
                data: buffer.baseAddress, width: size, height: size, bitsPerComponent: 8, bytesPerRow: size * 4,
                space: CGColorSpaceCreateDeviceRGB(), bitmapInfo: CGImageAlphaInfo.premultipliedLast.rawValue
            ) else { return }
            context.interpolationQuality = .high
            context.draw(image, in: CGRect(x: (CGFloat(size) - width) / 2, y: (CGFloat(size) - height) / 2, width: width, height: height))
        }
        rgba = pixels
    }

    /// Planar float CHW in [0, 1]: the tensor input of the .pte and of tensor-input Core ML models.
    var chw: [Float] {
        let plane = size * size
        var out = [Float](repeating: 0, count: 3 * plane)
        for pixel in 0..<plane {
            for channel in 0..<3 {
                out[channel * plane + pixel] = Float(rgba[pixel * 4 + channel]) / 255.0
            }
        }
        return out
    }

    /// A 32BGRA pixel buffer for Core ML image inputs (the model applies the 1/255 scale itself).
    func pixelBuffer(width: Int, height: Int) throws -> CVPixelBuffer {
        guard width == size, height == size else { throw ImageInputError.sizeMismatch(width, height, size) }
        var buffer: CVPixelBuffer?
        let attributes = [kCVPixelBufferCGImageCompatibilityKey: true, kCVPixelBufferCGBitmapContextCompatibilityKey: true] as CFDictionary
        let status = CVPixelBufferCreate(kCFAllocatorDefault, size, size, kCVPixelFormatType_32BGRA, attributes, &buffer)
        guard status == kCVReturnSuccess, let buffer else { throw ImageInputError.pixelBuffer(status) }
        CVPixelBufferLockBaseAddress(buffer, [])
        defer { CVPixelBufferUnlockBaseAddress(buffer, []) }
        let rowBytes = CVPixelBufferGetBytesPerRow(buffer)
        let base = CVPixelBufferGetBaseAddress(buffer)!.assumingMemoryBound(to: UInt8.self)
        for y in 0..<size {
            for x in 0..<size {
                let source = (y * size + x) * 4
                let target = y * rowBytes + x * 4
                base[target] = rgba[source + 2]
                base[target + 1] = rgba[source + 1]
                base[target + 2] = rgba[source]
                base[target + 3] = 255
            }
        }
        return buffer
    }
}
