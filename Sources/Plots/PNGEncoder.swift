import CZlib
import Foundation

/// 8-bit RGB PNG files, compressed with zlib (the format's own DEFLATE stream).
public enum PNGEncoder {
    public static func encode(rgb pixels: [UInt8], width: Int, height: Int) -> Data {
        precondition(pixels.count == width * height * 3, "PNGEncoder: pixel count does not match the size")
        // Each row is preceded by its filter type; 1 (Sub) makes flat plot backgrounds compress to nearly nothing.
        let stride = width * 3
        var raw = [UInt8](repeating: 0, count: (stride + 1) * height)
        for row in 0..<height {
            let out = row * (stride + 1)
            let input = row * stride
            raw[out] = 1
            for column in 0..<stride {
                let left = column >= 3 ? pixels[input + column - 3] : 0
                raw[out + 1 + column] = pixels[input + column] &- left
            }
        }
        var data = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var header = Data()
        header.append(bigEndian: UInt32(width))
        header.append(bigEndian: UInt32(height))
        header.append(contentsOf: [8, 2, 0, 0, 0])  // 8 bits, RGB, deflate, adaptive filtering, no interlace
        appendChunk("IHDR", header, to: &data)
        appendChunk("IDAT", deflate(raw), to: &data)
        appendChunk("IEND", Data(), to: &data)
        return data
    }

    private static func deflate(_ bytes: [UInt8]) -> Data {
        var length = compressBound(uLong(bytes.count))
        var output = [UInt8](repeating: 0, count: Int(length))
        let status = bytes.withUnsafeBufferPointer { input in
            compress2(&output, &length, input.baseAddress, uLong(bytes.count), 6)
        }
        precondition(status == Z_OK, "zlib compress2 failed with \(status) on a buffer of its own bound")
        return Data(output.prefix(Int(length)))
    }

    private static func appendChunk(_ type: String, _ body: Data, to data: inout Data) {
        data.append(bigEndian: UInt32(body.count))
        let typed = Data(type.utf8) + body
        data.append(typed)
        let checksum = typed.withUnsafeBytes { crc32(0, $0.bindMemory(to: UInt8.self).baseAddress, uInt(typed.count)) }
        data.append(bigEndian: UInt32(checksum))
    }
}

extension Data {
    fileprivate mutating func append(bigEndian value: UInt32) {
        append(contentsOf: [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)])
    }
}
