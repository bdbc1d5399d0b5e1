import Clustering
import Foundation

/// Reads 8-bit RGB PNG files (what `PNGEncoder` writes, with any of the five row filters): the tests check renders
/// with it, decoding the bytes the server sent rather than trusting the encoder.
public enum PNGDecoder {
    public struct Image: Sendable {
        public let width: Int
        public let height: Int
        public let rgb: [UInt8]
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static func decode(_ data: Data) throws -> Image {
        let bytes = [UInt8](data)
        guard bytes.count > 8, bytes.prefix(8) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else {
            throw Failure(description: "no PNG signature")
        }
        var offset = 8
        var (width, height) = (0, 0)
        var compressed = Data()
        func uint32(_ at: Int) -> Int { Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3]) }
        while offset + 12 <= bytes.count {
            let length = uint32(offset)
            let type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
            guard offset + 12 + length <= bytes.count else { throw Failure(description: "chunk \(type) runs past the end") }
            let body = Array(bytes[(offset + 8)..<(offset + 8 + length)])
            switch type {
            case "IHDR":
                guard length == 13 else { throw Failure(description: "IHDR of \(length) bytes") }
                width = uint32(offset + 8)
                height = uint32(offset + 12)
                guard body[8] == 8, body[9] == 2, body[12] == 0 else { throw Failure(description: "only 8-bit RGB, non-interlaced") }
            case "IDAT": compressed.append(contentsOf: body)
            case "IEND": offset = bytes.count
            default: break
            }
            offset += 12 + length
        }
        guard width > 0, height > 0, width <= 20_000, height <= 20_000 else { throw Failure(description: "bad size \(width)×\(height)") }
        let raw = [UInt8](try Gzip.decompress(compressed, limit: (width * 3 + 1) * height))
        let stride = width * 3
        guard raw.count == (stride + 1) * height else { throw Failure(description: "\(raw.count) bytes of pixels for \(width)×\(height)") }
        var rgb = [UInt8](repeating: 0, count: stride * height)
        for row in 0..<height {
            let filter = raw[row * (stride + 1)]
            for column in 0..<stride {
                let x = raw[row * (stride + 1) + 1 + column]
                let a = column >= 3 ? Int(rgb[row * stride + column - 3]) : 0
                let b = row > 0 ? Int(rgb[(row - 1) * stride + column]) : 0
                let c = row > 0 && column >= 3 ? Int(rgb[(row - 1) * stride + column - 3]) : 0
                let predicted: Int
                switch filter {
                case 0: predicted = 0
                case 1: predicted = a
                case 2: predicted = b
                case 3: predicted = (a + b) / 2
                case 4:
                    let p = a + b - c
                    let (pa, pb, pc) = (abs(p - a), abs(p - b), abs(p - c))
                    predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
                default: throw Failure(description: "unknown filter \(filter)")
                }
                rgb[row * stride + column] = x &+ UInt8(predicted & 0xFF)
            }
        }
        return Image(width: width, height: height, rgb: rgb)
    }
}
