// What the records say about the phone: ProductType (iPhone16,1), iOS version, cores, memory,
// and the process footprint that memory growth is measured with.
import BenchCore
import Darwin
import Foundation
import UIKit

enum DeviceFacts {
    /// The hardware ProductType, e.g. "iPhone16,1" (uname's machine field on a device).
    static var productType: String {
        var system = utsname()
        uname(&system)
        return withUnsafeBytes(of: &system.machine) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    @MainActor
    static func deviceInfo() -> DeviceInfo {
        let device = UIDevice.current
        return DeviceInfo(
            name: device.name,
            model: productType,
            os: "\(device.systemName) \(device.systemVersion)",
            cores: ProcessInfo.processInfo.activeProcessorCount,
            memoryBytes: Int(ProcessInfo.processInfo.physicalMemory),
            extra: [
                "thermal_state": thermalState(),
                "low_power_mode": ProcessInfo.processInfo.isLowPowerModeEnabled ? "on" : "off",
            ]
        )
    }

    /// Thermal state at the start of the run: results under "serious"/"critical" are throttled.
    static func thermalState() -> String {
        switch ProcessInfo.processInfo.thermalState {
        case .nominal: return "nominal"
        case .fair: return "fair"
        case .serious: return "serious"
        case .critical: return "critical"
        @unknown default: return "unknown"
        }
    }

    /// The process's physical footprint in bytes (what jetsam counts), 0 if unavailable.
    static func footprintBytes() -> Int {
        var info = task_vm_info_data_t()
        var count = mach_msg_type_number_t(MemoryLayout<task_vm_info_data_t>.size / MemoryLayout<integer_t>.size)
        let result = withUnsafeMutablePointer(to: &info) { pointer in
            pointer.withMemoryRebound(to: integer_t.self, capacity: Int(count)) {
                task_info(mach_task_self_, task_flavor_t(TASK_VM_INFO), $0, &count)
            }
        }
        return result == KERN_SUCCESS ? Int(info.phys_footprint) : 0
    }

    @MainActor
    static var tools: [String: String] {
        let app = Bundle.main.object(forInfoDictionaryKey: "CFBundleShortVersionString") as? String ?? "?"
        return ["affbench": app, "executorch-swiftpm": executorchPackageBranch, "ios": UIDevice.current.systemVersion]
    }

    /// Keep in step with project.yml's ExecuTorch branch.
    static let executorchPackageBranch = "swiftpm-1.5.1"
}
