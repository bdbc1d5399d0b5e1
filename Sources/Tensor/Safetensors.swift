import Foundation

/// A named float32 array: a model's weight or running statistic, as saved in `model.safetensors`.
public struct NamedTensor: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var values: [Float]

    public init(name: String, shape: [Int], values: [Float]) {
        self.name = name
        self.shape = shape
        self.values = values
    }
}

/// The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header naming
/// each tensor's dtype, shape and byte range, then the raw little-endian data. Readable with the
/// `safetensors` Python package (`safetensors.numpy.load_file`) and in a few lines of numpy.
public enum Safetensors {
    /// Files are read from job artifacts, which this server wrote, but a reader is still a parser:
    /// every length and offset is checked before use.
    public static let maxHeaderBytes = 16 << 20

    public struct FormatError: Error, CustomStringConvertible {
        public var description: String
    }

    public static func encode(_ tensors: [NamedTensor], metadata: [String: String] = [:]) -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        for tensor in tensors {
            let bytes = tensor.values.count * 4
            header[tensor.name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data("{}".utf8)
        // The data starts 8-byte aligned (the format allows padding the header with spaces).
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var data = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for tensor in tensors {
            tensor.values.withUnsafeBufferPointer { buffer in
                for value in buffer { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
            }
        }
        return data
    }

    public static func decode(_ data: Data) throws -> (tensors: [String: NamedTensor], metadata: [String: String]) {
        let bytes = [UInt8](data)
        guard bytes.count >= 8 else { throw FormatError(description: "a safetensors file starts with an 8-byte header length") }
        let length = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard length <= UInt64(maxHeaderBytes), 8 + Int(length) <= bytes.count else {
            throw FormatError(description: "header length \(length) exceeds the file (\(bytes.count) bytes) or \(maxHeaderBytes)")
        }
        let headerEnd = 8 + Int(length)
        guard let header = try? JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd])) as? [String: Any] else {
            throw FormatError(description: "the header is not a JSON object")
        }
        let payload = bytes.count - headerEnd
        var tensors: [String: NamedTensor] = [:]
        var metadata: [String: String] = [:]
        for (name, entry) in header {
            if name == "__metadata__" {
                metadata = (entry as? [String: String]) ?? [:]
                continue
            }
            guard let entry = entry as? [String: Any], entry["dtype"] as? String == "F32",
                let shape = entry["shape"] as? [Int], shape.allSatisfy({ $0 >= 0 && $0 <= 1 << 30 }), shape.count <= 8,
                let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else { throw FormatError(description: "tensor \(name.prefix(80)): only F32 tensors with a shape and data_offsets are read") }
            let (start, end) = (offsets[0], offsets[1])
            let (count, overflow) = shape.reduce((1, false)) { partial, side in
                let (product, overflowed) = partial.0.multipliedReportingOverflow(by: side)
                return (product, partial.1 || overflowed)
            }
            guard !overflow, start >= 0, start <= end, end <= payload,
                // Compared before multiplying: a declared shape of 2^62 elements must be refused, not overflow.
                count <= payload / 4, end - start == count * 4
            else {
                throw FormatError(
                    description: "tensor \(name.prefix(80)): its byte range [\(start), \(end)) does not fit its shape \(shape) or the file")
            }
            var values = [Float](repeating: 0, count: count)
            for index in 0..<count {
                let base = headerEnd + start + index * 4
                let bits = UInt32(bytes[base]) | UInt32(bytes[base + 1]) << 8 | UInt32(bytes[base + 2]) << 16 | UInt32(bytes[base + 3]) << 24
                values[index] = Float(bitPattern: bits)
            }
            tensors[name] = NamedTensor(name: name, shape: shape, values: values)
        }
        return (tensors, metadata)
    }
}

extension TensorCheckpoint {
    /// A model's weights (with their shapes) and running statistics (`buffer.` names), for safetensors.
    public static func tensors(of model: Sequential) -> [NamedTensor] {
        model.parameters.map { NamedTensor(name: $0.name, shape: $0.variable.value.shape, values: $0.variable.value.storage) }
            + model.buffers.map { NamedTensor(name: "buffer." + $0.name, shape: [$0.values.count], values: $0.values) }
    }

    /// Loads what `tensors(of:)` saved into a model of the same architecture; a missing or misshapen
    /// tensor is an error, not a silent zero.
    public static func restore(_ tensors: [String: NamedTensor], into model: Sequential) throws {
        for (name, variable) in model.parameters {
            guard let tensor = tensors[name], tensor.shape == variable.value.shape else {
                throw Safetensors.FormatError(description: "the weights lack \(name) of shape \(variable.value.shape)")
            }
            variable.value.storage = tensor.values
        }
        model.buffers = try model.buffers.map { buffer in
            guard let tensor = tensors["buffer." + buffer.name], tensor.values.count == buffer.values.count else {
                throw Safetensors.FormatError(description: "the weights lack buffer.\(buffer.name) of \(buffer.values.count) values")
            }
            return (buffer.name, tensor.values)
        }
    }
}
