import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import MultipartKit
import NIOCore

/// Streams an upload to scratch files as it arrives, hashing each file with SHA-256, so an
/// upload is never held in memory. Two forms are accepted:
/// `multipart/form-data` with file parts and short text fields, or the raw file as the body
/// (any other content type) with text fields in the query string.
struct UploadReceiver {
    struct File {
        var url: URL
        var bytes: Int
        var sha256: String
    }

    struct Received {
        var files: [String: File] = [:]
        var fields: [String: String] = [:]
    }

    let fileParts: Set<String>
    let textFields: Set<String>
    /// Most bytes of the whole body.
    let limit: Int
    let scratch: () -> URL

    /// Receives the body; on any error every file written so far is removed.
    func receive(_ request: Request) async throws -> Received {
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit {
            throw Problem.uploadTooLarge(limit: limit)
        }
        var received = Received()
        do {
            let contentType = request.headers[.contentType] ?? ""
            if contentType.lowercased().hasPrefix("multipart/form-data") {
                try await receiveMultipart(request, contentType: contentType, into: &received)
            } else {
                if contentType.lowercased().hasPrefix("application/json") {
                    throw Problem(.unsupportedMediaType, code: "unsupported_media_type", title: "Unsupported media type",
                                  detail: "send the file itself (.npy, IDX, CSV, optionally gzip) as the body, or multipart/form-data with a 'data' part",
                                  field: "Content-Type")
                }
                for (name, value) in request.uri.queryParameters {
                    let key = String(name)
                    guard textFields.contains(key) else {
                        throw Problem.invalidQuery(key, "unknown query parameter; accepted: \(textFields.sorted().joined(separator: ", "))")
                    }
                    received.fields[key] = String(value)
                }
                var sink = try FileSink(url: scratch())
                received.files["data"] = File(url: sink.url, bytes: 0, sha256: "")
                var total = 0
                for try await buffer in request.body {
                    total += buffer.readableBytes
                    guard total <= limit else { throw Problem.uploadTooLarge(limit: limit) }
                    try sink.write(buffer)
                }
                received.files["data"] = try sink.finish()
            }
            return received
        } catch {
            for file in received.files.values { try? FileManager.default.removeItem(at: file.url) }
            throw error
        }
    }

    private func receiveMultipart(_ request: Request, contentType: String, into received: inout Received) async throws {
        guard let boundary = Self.boundary(contentType) else {
            throw Problem(.badRequest, code: "malformed_multipart", title: "Malformed multipart body",
                          detail: "multipart/form-data needs a boundary parameter in Content-Type", field: "Content-Type")
        }
        let parser = MultipartParser(boundary: boundary)
        final class PartState {
            var headers: [String: String] = [:]
            var name: String?
            var sink: FileSink?
            var text = Data()
            var error: Error?
            var completed = 0
            var open = false
            /// Parser callbacks so far; bytes fed without one are header (or preamble) bytes.
            var events = 0
        }
        let part = PartState()
        var files: [String: File] = [:]
        var fields: [String: String] = [:]
        let (fileParts, textFields, scratch) = (self.fileParts, self.textFields, self.scratch)
        func startIfNeeded() throws {
            guard !part.open else { return }
            part.open = true
            let disposition = part.headers["content-disposition"] ?? ""
            guard let name = Self.parameter("name", in: disposition) else {
                throw Problem(.badRequest, code: "malformed_multipart", title: "Malformed multipart body",
                              detail: "a part has no Content-Disposition name", field: "body")
            }
            guard fileParts.contains(name) || textFields.contains(name) else {
                throw Problem(.unprocessableContent, code: "unknown_part", title: "Unknown part",
                              detail: "no part '\(name.prefix(60))' is accepted; use \((fileParts.sorted() + textFields.sorted()).joined(separator: ", "))",
                              field: name)
            }
            guard files[name] == nil && fields[name] == nil else {
                throw Problem(.unprocessableContent, code: "duplicate_part", title: "Duplicate part", detail: "the part '\(name)' appears twice", field: name)
            }
            part.name = name
            if fileParts.contains(name) { part.sink = try FileSink(url: scratch()) }
        }
        parser.onHeader = { name, value in
            part.events += 1
            part.headers[name.lowercased()] = value
        }
        parser.onBody = { buffer in
            part.events += 1
            guard part.error == nil else { return }
            do {
                try startIfNeeded()
                if part.sink != nil {
                    try part.sink!.write(buffer)
                } else {
                    part.text.append(contentsOf: buffer.readableBytesView)
                    if part.text.count > 10_000 {
                        throw Problem(.unprocessableContent, code: "field_too_long", title: "Field too long",
                                      detail: "text fields are limited to 10000 bytes", field: part.name)
                    }
                }
            } catch { part.error = error }
        }
        parser.onPartComplete = {
            part.events += 1
            guard part.error == nil else { return }
            do {
                try startIfNeeded()
                if let sink = part.sink {
                    files[part.name!] = try sink.finish()
                } else {
                    fields[part.name!] = String(decoding: part.text, as: UTF8.self)
                }
            } catch { part.error = error }
            part.completed += 1
            part.headers = [:]
            part.name = nil
            part.sink = nil
            part.text = Data()
            part.open = false
        }
        defer {
            // A part left open by an error or a truncated body.
            if let sink = part.sink { try? FileManager.default.removeItem(at: sink.url) }
        }
        var total = 0
        var quietBytes = 0
        do {
            for try await buffer in request.body {
                total += buffer.readableBytes
                guard total <= limit else { throw Problem.uploadTooLarge(limit: limit) }
                // Fed in slices, so bytes that produce no event (a header line still open) are counted as
                // they arrive and cut off at `maxHeaderBytes`: a 64 MiB "header" once took 54 s to parse.
                var remaining = buffer
                while let slice = remaining.readSlice(length: min(Self.sliceBytes, remaining.readableBytes)), slice.readableBytes > 0 {
                    let before = part.events
                    do { try parser.execute(slice) } catch {
                        throw Problem(.badRequest, code: "malformed_multipart", title: "Malformed multipart body",
                                      detail: "the multipart body does not parse (check the boundary and part headers)", field: "body")
                    }
                    if let error = part.error { throw error }
                    quietBytes = part.events == before ? quietBytes + slice.readableBytes : 0
                    guard quietBytes <= Self.maxHeaderBytes else {
                        throw Problem(.badRequest, code: "multipart_header_too_large", title: "Multipart header too large",
                                      detail: "a part's headers (or the preamble) exceed \(Self.maxHeaderBytes) bytes", field: "body")
                    }
                }
            }
            if part.open || part.completed == 0 {
                throw Problem(.badRequest, code: "malformed_multipart", title: "Malformed multipart body",
                              detail: "the multipart body ended before its closing boundary", field: "body")
            }
        } catch {
            for file in files.values { try? FileManager.default.removeItem(at: file.url) }
            throw error
        }
        received.files = files
        received.fields = fields
    }

    /// Most bytes of one part's headers (or of the preamble before the first part).
    static let maxHeaderBytes = 16 << 10
    static let sliceBytes = 4 << 10

    static func boundary(_ contentType: String) -> String? {
        parameter("boundary", in: contentType).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A `key=value` or `key="value"` parameter of a header value.
    static func parameter(_ key: String, in header: String) -> String? {
        for piece in header.split(separator: ";") {
            let trimmed = piece.trimmingCharacters(in: .whitespaces)
            guard trimmed.lowercased().hasPrefix(key + "=") else { continue }
            var value = String(trimmed.dropFirst(key.count + 1))
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return value
        }
        return nil
    }
}

/// A scratch file being written, with its running SHA-256.
struct FileSink {
    let url: URL
    private let handle: FileHandle
    private var hasher = SHA256()
    private var bytes = 0

    init(url: URL) throws {
        self.url = url
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw Problem.diskFull(free: nil, minimum: 0)
        }
        handle = try FileHandle(forWritingTo: url)
    }

    mutating func write(_ buffer: ByteBuffer) throws {
        buffer.withUnsafeReadableBytes { raw in hasher.update(bufferPointer: raw) }
        bytes += buffer.readableBytes
        try handle.write(contentsOf: buffer.readableBytesView)
    }

    func finish() throws -> UploadReceiver.File {
        try handle.close()
        return UploadReceiver.File(url: url, bytes: bytes, sha256: hasher.finalize().map { String(format: "%02x", $0) }.joined())
    }
}

extension Problem {
    static func uploadTooLarge(limit: Int) -> Problem {
        Problem(.contentTooLarge, code: "upload_too_large", title: "Upload too large",
                detail: "uploads are limited to \(limit) bytes (montecluster serve --max-upload-bytes)", field: "body")
    }
}
