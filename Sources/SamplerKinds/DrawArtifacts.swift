import Foundation
import Jobs

/// Draws as files: `.npy` (float64, C order, chains × draws × dims, readable with `numpy.load`),
/// CSV and NDJSON (one row per draw, with chain and draw index).
enum DrawArtifacts {
    /// CSV and NDJSON are written only up to this many draw rows; `.npy` always.
    static let textRowLimit = 1_000_000

    static func npy(_ values: [Double], shape: [Int]) -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f8', 'fortran_order': False, 'shape': \(shapeText), }"
        // Magic (6) + version (2) + length (2) + header + newline, padded to a multiple of 64.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93]) + Data("NUMPY".utf8) + Data([1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        data.append(contentsOf: header.utf8)
        data.reserveCapacity(data.count + values.count * 8)
        values.withUnsafeBufferPointer { buffer in
            for value in buffer {
                withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) }
            }
        }
        return data
    }

    /// What `draws.npy` holds, so that `arviz.from_dict` needs no guessing: its shape and axes, every
    /// coordinate's name in column order, and each variable (`theta` for `theta[0]`…`theta[7]`) with its
    /// shape and columns: `posterior[name] = draws[:, :, start:end].reshape(chains, draws, *shape)`.
    static func layout(names: [String], chains: Int, perChain: Int, file: String) -> JSONValue {
        var variables: [JSONValue] = []
        var index = 0
        while index < names.count {
            let base = names[index].split(separator: "[", maxSplits: 1).first.map(String.init) ?? names[index]
            var end = index + 1
            var shape: [Int] = []
            if names[index].hasSuffix("]") {
                if names[index] == "\(base)[0]" {
                    // Expression models: theta[0], theta[1], …
                    while end < names.count, names[end] == "\(base)[\(end - index)]" { end += 1 }
                    shape = [end - index]
                } else {
                    // Model programs, as Stan: theta[1,1], theta[1,2], … row-major; the shape is the last index.
                    while end < names.count, names[end].hasPrefix(base + "[") { end += 1 }
                    shape = names[end - 1].dropFirst(base.count + 1).dropLast().split(separator: ",").compactMap { Int($0) }
                }
            }
            variables.append([
                "name": .string(base), "shape": .array(shape.map { .integer(Int64($0)) }), "start": .integer(Int64(index)),
                "end": .integer(Int64(end)),
            ])
            index = end
        }
        return [
            "file": .string(file), "dtype": "float64", "shape": [.integer(Int64(chains)), .integer(Int64(perChain)), .integer(Int64(names.count))],
            "dims": ["chain", "draw", "coordinate"], "chains": .integer(Int64(chains)), "draws": .integer(Int64(perChain)),
            "coordinates": .array(names.map(JSONValue.string)), "variables": .array(variables),
        ]
    }

    /// `draws[chain]` holds draw-major values with `names.count` coordinates each.
    static func write(
        _ draws: [[Double]], names: [String], extraColumns: [(name: String, values: [Double])] = [],
        context: JobContext, prefix: String = "draws"
    ) throws {
        let dims = names.count
        let perChain = draws.first.map { $0.count / max(1, dims) } ?? 0
        try context.artifact(
            "\(prefix).npy", mediaType: "application/octet-stream",
            data: npy(draws.flatMap { $0 }, shape: [draws.count, perChain, dims]))
        try context.artifact(
            "\(prefix).json", mediaType: "application/json",
            data: Data(layout(names: names, chains: draws.count, perChain: perChain, file: "\(prefix).npy").canonicalText().utf8))
        guard draws.count * perChain <= textRowLimit else { return }
        var csv = (["chain", "draw"] + names + extraColumns.map(\.name)).joined(separator: ",") + "\n"
        var ndjson = ""
        var row = 0
        for (chain, values) in draws.enumerated() {
            for draw in 0..<perChain {
                let coordinates = (0..<dims).map { values[draw * dims + $0] }
                let extras = extraColumns.map { $0.values[row] }
                csv += "\(chain),\(draw)," + (coordinates + extras).map { "\($0)" }.joined(separator: ",") + "\n"
                var object: [String: JSONValue] = ["chain": .integer(Int64(chain)), "draw": .integer(Int64(draw))]
                for (name, value) in zip(names, coordinates) { object[name] = .number(value) }
                for (column, value) in zip(extraColumns, extras) { object[column.name] = .number(value) }
                ndjson += JSONValue.object(object).canonicalText() + "\n"
                row += 1
            }
        }
        try context.artifact("\(prefix).csv", mediaType: "text/csv", data: Data(csv.utf8))
        try context.artifact("\(prefix).ndjson", mediaType: "application/x-ndjson", data: Data(ndjson.utf8))
    }
}
