import Foundation

/// A model's parameters and buffers and an optimizer's state as bytes, and back, bit for bit:
/// a resumed training run takes exactly the step the uninterrupted one would have taken.
public enum TensorCheckpoint {
    /// Each tensor as its raw little-endian float32 bytes: a binary plist then holds one data blob per
    /// tensor. (Through 0.3 each float was its own plist integer — `LegacyPayload` — which made a SCAN
    /// checkpoint 12 MB and its encoding cost more than a feature-vector epoch; those still restore.)
    struct Payload: Codable {
        var parameters: [String: Data]
        var buffers: [String: Data]
        var optimizer: [String: Data]
        var optimizerSteps: Int
    }

    struct LegacyPayload: Codable {
        var parameters: [String: [UInt32]]
        var buffers: [String: [UInt32]]
        var optimizer: [String: [UInt32]]
        var optimizerSteps: Int
    }

    public static func bytes(_ values: [Float]) -> Data {
        values.map { $0.bitPattern.littleEndian }.withUnsafeBufferPointer { Data(buffer: $0) }
    }

    public static func floats(_ data: Data) -> [Float] {
        data.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }

    public static func save(_ model: Sequential, optimizer: (any Optimizer)?) throws -> Data {
        var parameters: [String: Data] = [:]
        for (name, variable) in model.parameters { parameters[name] = bytes(variable.value.storage) }
        var buffers: [String: Data] = [:]
        for (name, values) in model.buffers { buffers[name] = bytes(values) }
        var state: [String: Data] = [:]
        var steps = 0
        if let adam = optimizer as? Adam {
            for (index, moment) in adam.firstMoments.enumerated() { state["m\(index)"] = bytes(moment) }
            for (index, moment) in adam.secondMoments.enumerated() { state["v\(index)"] = bytes(moment) }
            steps = adam.steps
        } else if let sgd = optimizer as? SGD {
            for (index, velocity) in sgd.velocities.enumerated() { state["velocity\(index)"] = bytes(velocity) }
        }
        return try PropertyListEncoder.binary.encode(Payload(parameters: parameters, buffers: buffers, optimizer: state, optimizerSteps: steps))
    }

    public static func restore(_ data: Data, into model: Sequential, optimizer: (any Optimizer)?) throws {
        let payload: Payload
        if let current = try? PropertyListDecoder().decode(Payload.self, from: data) {
            payload = current
        } else {
            let legacy = try PropertyListDecoder().decode(LegacyPayload.self, from: data)
            func converted(_ tensors: [String: [UInt32]]) -> [String: Data] {
                tensors.mapValues { bytes($0.map(Float.init(bitPattern:))) }
            }
            payload = Payload(
                parameters: converted(legacy.parameters), buffers: converted(legacy.buffers), optimizer: converted(legacy.optimizer),
                optimizerSteps: legacy.optimizerSteps)
        }
        for (name, variable) in model.parameters {
            guard let values = payload.parameters[name].map(floats), values.count == variable.value.count else {
                throw CocoaError(.coderValueNotFound, userInfo: [NSDebugDescriptionErrorKey: "checkpoint lacks parameter \(name) of this shape"])
            }
            variable.value.storage = values
        }
        model.buffers = model.buffers.map { ($0.name, payload.buffers[$0.name].map(floats) ?? $0.values) }
        if let adam = optimizer as? Adam {
            adam.firstMoments = adam.firstMoments.indices.map { floats(payload.optimizer["m\($0)"] ?? Data()) }
            adam.secondMoments = adam.secondMoments.indices.map { floats(payload.optimizer["v\($0)"] ?? Data()) }
            adam.steps = payload.optimizerSteps
        } else if let sgd = optimizer as? SGD {
            sgd.velocities = sgd.velocities.indices.map { floats(payload.optimizer["velocity\($0)"] ?? Data()) }
        }
    }
}

extension PropertyListEncoder {
    static var binary: PropertyListEncoder {
        let encoder = PropertyListEncoder()
        encoder.outputFormat = .binary
        return encoder
    }
}
