import Foundation

/// A model's parameters and buffers and an optimizer's state as bytes, and back, bit for bit:
/// a resumed training run takes exactly the step the uninterrupted one would have taken.
public enum TensorCheckpoint {
    struct Payload: Codable {
        var parameters: [String: [UInt32]]
        var buffers: [String: [UInt32]]
        var optimizer: [String: [UInt32]]
        var optimizerSteps: Int
    }

    static func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }
    static func floats(_ bits: [UInt32]) -> [Float] { bits.map(Float.init(bitPattern:)) }

    public static func save(_ model: Sequential, optimizer: (any Optimizer)?) throws -> Data {
        var parameters: [String: [UInt32]] = [:]
        for (name, variable) in model.parameters { parameters[name] = bits(variable.value.storage) }
        var buffers: [String: [UInt32]] = [:]
        for (name, values) in model.buffers { buffers[name] = bits(values) }
        var state: [String: [UInt32]] = [:]
        var steps = 0
        if let adam = optimizer as? Adam {
            for (index, moment) in adam.firstMoments.enumerated() { state["m\(index)"] = bits(moment) }
            for (index, moment) in adam.secondMoments.enumerated() { state["v\(index)"] = bits(moment) }
            steps = adam.steps
        } else if let sgd = optimizer as? SGD {
            for (index, velocity) in sgd.velocities.enumerated() { state["velocity\(index)"] = bits(velocity) }
        }
        return try PropertyListEncoder.binary.encode(Payload(parameters: parameters, buffers: buffers, optimizer: state, optimizerSteps: steps))
    }

    public static func restore(_ data: Data, into model: Sequential, optimizer: (any Optimizer)?) throws {
        let payload = try PropertyListDecoder().decode(Payload.self, from: data)
        for (name, variable) in model.parameters {
            guard let values = payload.parameters[name], values.count == variable.value.count else {
                throw CocoaError(.coderValueNotFound, userInfo: [NSDebugDescriptionErrorKey: "checkpoint lacks parameter \(name) of this shape"])
            }
            variable.value.storage = floats(values)
        }
        model.buffers = model.buffers.map { ($0.name, payload.buffers[$0.name].map(floats) ?? $0.values) }
        if let adam = optimizer as? Adam {
            adam.firstMoments = adam.firstMoments.indices.map { floats(payload.optimizer["m\($0)"] ?? []) }
            adam.secondMoments = adam.secondMoments.indices.map { floats(payload.optimizer["v\($0)"] ?? []) }
            adam.steps = payload.optimizerSteps
        } else if let sgd = optimizer as? SGD {
            sgd.velocities = sgd.velocities.indices.map { floats(payload.optimizer["velocity\($0)"] ?? []) }
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
