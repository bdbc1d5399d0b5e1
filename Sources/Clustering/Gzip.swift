import CZlib
import Foundation

/// gzip decompression through the system zlib, streaming from file to file with a bound on the
/// output, so a small upload cannot expand without limit ("zip bomb").
public enum Gzip {
    public static func isCompressed(_ prefix: Data) -> Bool {
        prefix.count >= 2 && prefix[prefix.startIndex] == 0x1F && prefix[prefix.startIndex + 1] == 0x8B
    }

    /// Inflates `source` into `destination` (concatenated gzip members included); fails past `limit` bytes of output.
    /// `inspect` sees the first `inspectBytes` of output (or all of it, if shorter) as soon as they exist and
    /// may throw to stop: an upload whose header already breaks a limit is not inflated any further.
    public static func decompress(
        file source: URL, to destination: URL, limit: Int, field: String,
        inspectBytes: Int = 1 << 16, inspect: ((Data) throws -> Void)? = nil
    ) throws -> Int {
        guard let input = InputStream(url: source) else { throw DatasetError(field: field, "cannot read the upload") }
        FileManager.default.createFile(atPath: destination.path, contents: nil)
        let output = try FileHandle(forWritingTo: destination)
        defer { try? output.close() }
        input.open()
        defer { input.close() }
        var stream = z_stream()
        guard montecluster_inflate_init(&stream) == Z_OK else { throw DatasetError(field: field, "zlib could not start") }
        defer { inflateEnd(&stream) }
        let chunk = 1 << 16
        var inBuffer = [UInt8](repeating: 0, count: chunk)
        var outBuffer = [UInt8](repeating: 0, count: chunk)
        var written = 0
        var finished = false
        var head = Data()
        var inspected = inspect == nil
        while true {
            let read = input.read(&inBuffer, maxLength: chunk)
            if read < 0 { throw DatasetError(field: field, "cannot read the upload") }
            if read == 0 { break }
            var offset = 0
            while offset < read {
                if finished {
                    // Another gzip member follows (as `cat a.gz b.gz` makes).
                    guard inflateReset(&stream) == Z_OK else { throw DatasetError(field: field, "corrupt gzip data") }
                    finished = false
                }
                let status: Int32 = inBuffer.withUnsafeMutableBufferPointer { inPointer in
                    outBuffer.withUnsafeMutableBufferPointer { outPointer in
                        stream.next_in = inPointer.baseAddress! + offset
                        stream.avail_in = UInt32(read - offset)
                        stream.next_out = outPointer.baseAddress!
                        stream.avail_out = UInt32(chunk)
                        return inflate(&stream, Z_NO_FLUSH)
                    }
                }
                guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                    throw DatasetError(field: field, "corrupt gzip data (zlib status \(status))")
                }
                let produced = chunk - Int(stream.avail_out)
                offset = read - Int(stream.avail_in)
                written += produced
                if written > limit {
                    throw DatasetError(field: field, "decompresses to more than the limit of \(limit) bytes")
                }
                if produced > 0 { try output.write(contentsOf: outBuffer[0..<produced]) }
                if !inspected, produced > 0 {
                    head.append(contentsOf: outBuffer[0..<min(produced, inspectBytes - head.count)])
                    if head.count >= inspectBytes {
                        inspected = true
                        try inspect?(head)
                    }
                }
                if status == Z_STREAM_END { finished = true }
                if status == Z_BUF_ERROR && produced == 0 { break }
            }
        }
        guard finished else { throw DatasetError(field: field, "gzip data is truncated") }
        if !inspected { try inspect?(head) }
        return written
    }

    /// In-memory convenience for small inputs (tests, benchmarks).
    public static func decompress(_ data: Data, limit: Int = 1 << 30) throws -> Data {
        let directory = FileManager.default.temporaryDirectory
        let source = directory.appendingPathComponent("gz-\(UUID().uuidString)")
        let destination = directory.appendingPathComponent("raw-\(UUID().uuidString)")
        defer {
            try? FileManager.default.removeItem(at: source)
            try? FileManager.default.removeItem(at: destination)
        }
        try data.write(to: source)
        _ = try decompress(file: source, to: destination, limit: limit, field: "data")
        return try Data(contentsOf: destination)
    }
}
