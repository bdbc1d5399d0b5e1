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
    }

    struct Received {
        var files: [String: File] = [:]
        var fields: [String: String] = [:]

        /// The `data` part, or a 422 saying why the request needs one.
        func dataPart(for reason: String) throws -> File {
            guard let data = files["data"] else {
                throw Problem(.unprocessableContent, code: .missingPart, title: "Missing part", detail: reason, field: "data")
            }
            return data
        }

        /// Removes the received files (once the request has used them).
        func removeFiles() {
            for file in files.values { try? FileManager.default.removeItem(at: file.url) }
        }
    }

    let fileParts: Set<String>
    let textFields: Set<String>
    /// SHA-256 of a received file, read back in 1 MiB pieces: computed where the upload is parsed (on the
    /// low-priority heavy-work threads), not as bytes arrive, where it would compete with every request.
    static func sha256(of url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// The text fields of a dataset upload (form fields, or query parameters for a raw-body upload).
    static let textFields = ["name", "label_column"]
    /// Most bytes of the whole body.
    let limit: Int
    let scratch: () -> URL

    /// Receives the body; on any error every file written so far is removed.
    func receive(_ request: Request) async throws -> Received {
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit {
            throw Problem.uploadTooLarge(limit: limit)
        }
        var received = Received()
        var rawSink: FileSink?
        do {
            let contentType = request.headers[.contentType] ?? ""
            if contentType.lowercased().hasPrefix("multipart/form-data") {
                try await receiveMultipart(request, contentType: contentType, into: &received)
            } else {
                if contentType.lowercased().hasPrefix("application/json") {
                    throw Problem(
                        .unsupportedMediaType, code: .unsupportedMediaType, title: "Unsupported media type",
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
                let sink = try FileSink(url: scratch())
                rawSink = sink
                var total = 0
                for try await buffer in request.body {
                    total += buffer.readableBytes
                    guard total <= limit else { throw Problem.uploadTooLarge(limit: limit) }
                    try sink.write(buffer)
                    try await sink.settle()
                }
                received.files["data"] = try await sink.finish()
                rawSink = nil
            }
            return received
        } catch {
            rawSink?.abandon()
            for file in received.files.values { try? FileManager.default.removeItem(at: file.url) }
            throw error
        }
    }

    private func receiveMultipart(_ request: Request, contentType: String, into received: inout Received) async throws {
        guard let boundary = Self.boundary(contentType) else {
            throw Problem(
                .badRequest, code: .malformedMultipart, title: "Malformed multipart body",
                detail: "multipart/form-data needs a boundary parameter in Content-Type", field: "Content-Type")
        }
        let collector = MultipartCollector(boundary: boundary, fileParts: fileParts, textFields: textFields, scratch: scratch)
        var total = 0
        do {
            for try await buffer in request.body {
                total += buffer.readableBytes
                guard total <= limit else { throw Problem.uploadTooLarge(limit: limit) }
                try collector.feed(buffer)
                try await collector.settle()
            }
            received = try await collector.finish()
        } catch {
            collector.discard()
            throw error
        }
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
/// Writes an upload to its scratch file off the request's thread: each chunk goes to the sink's own
/// serial queue, so a slow disk never blocks the task (or event loop) that reads the body. The reader
/// awaits `settle()` after each chunk, which holds it back once 4 MiB are queued (backpressure), and
/// `finish()`, which waits for the last write.
final class FileSink: @unchecked Sendable {
    let url: URL
    private let handle: FileHandle
    private var bytes = 0
    private let queue = DispatchQueue(label: "montecluster.upload-writer")
    /// Bytes handed to the queue and not yet written, and the first write error; guarded by `lock`.
    private var queued = 0
    private var failure: (any Error)?
    private let lock = NSLock()
    static let maxQueuedBytes = 4 << 20

    init(url: URL) throws {
        self.url = url
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw Problem.diskFull(free: nil, minimum: 0)
        }
        handle = try FileHandle(forWritingTo: url)
    }

    func write(_ buffer: ByteBuffer) throws {
        try lock.withLock { if let failure { throw failure } }
        bytes += buffer.readableBytes
        let chunk = Data(buffer.readableBytesView)
        lock.withLock { queued += chunk.count }
        queue.async { [self] in
            var error: (any Error)?
            do { try handle.write(contentsOf: chunk) } catch let failed { error = failed }
            lock.withLock {
                queued -= chunk.count
                if failure == nil, let error { failure = error }
            }
        }
    }

    /// Waits while more than `maxQueuedBytes` are queued; rethrows a write error.
    func settle() async throws {
        while lock.withLock({ queued > Self.maxQueuedBytes && failure == nil }) { await drained() }
        try lock.withLock { if let failure { throw failure } }
    }

    /// Waits for every queued write, closes the file and returns it with its size and SHA-256.
    func finish() async throws -> UploadReceiver.File {
        await drained()
        try lock.withLock { if let failure { throw failure } }
        try handle.close()
        return UploadReceiver.File(url: url, bytes: bytes)
    }

    /// Drops the file after a failed upload: removed now, closed once its queued writes are done.
    func abandon() {
        try? FileManager.default.removeItem(at: url)
        queue.async { [handle] in try? handle.close() }
    }

    /// Returns once the writes queued before the call are done.
    private func drained() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in queue.async { continuation.resume() } }
    }
}

extension Problem {
    static func uploadTooLarge(limit: Int) -> Problem {
        Problem(
            .contentTooLarge, code: .uploadTooLarge, title: "Upload too large",
            detail: "uploads are limited to \(limit) bytes (montecluster serve --max-upload-bytes)", field: "body")
    }
}

/// The multipart/form-data body of an upload, fed in buffers as they arrive: file parts stream to
/// scratch files, text fields (≤ 10,000 bytes) are kept, part headers are capped. Synchronous, so the
/// fuzzer drives exactly what the server runs.
final class MultipartCollector {
    private let parser: MultipartParser
    private let fileParts: Set<String>
    private let textFields: Set<String>
    private let scratch: () -> URL
    private var headers: [String: String] = [:]
    private var name: String?
    private var sink: FileSink?
    private var text = Data()
    private var error: (any Error)?
    private var completed = 0
    private var open = false
    /// Parser callbacks so far; bytes fed without one are header (or preamble) bytes.
    private var events = 0
    private var quietBytes = 0
    private var files: [String: UploadReceiver.File] = [:]
    /// File parts whose closing boundary has been parsed, waiting for their last writes.
    private var finishing: [(name: String, sink: FileSink)] = []
    private var fields: [String: String] = [:]
    private var headerNames: HeaderNameGuard

    init(boundary: String, fileParts: Set<String>, textFields: Set<String>, scratch: @escaping () -> URL) {
        parser = MultipartParser(boundary: boundary)
        headerNames = HeaderNameGuard(boundary: boundary)
        self.fileParts = fileParts
        self.textFields = textFields
        self.scratch = scratch
        parser.onHeader = { [unowned self] name, value in
            events += 1
            headers[name.lowercased()] = value
        }
        parser.onBody = { [unowned self] buffer in
            events += 1
            guard error == nil else { return }
            do {
                try startIfNeeded()
                if sink != nil {
                    try sink!.write(buffer)
                } else {
                    text.append(contentsOf: buffer.readableBytesView)
                    if text.count > 10_000 {
                        throw Problem(
                            .unprocessableContent, code: .fieldTooLong, title: "Field too long",
                            detail: "text fields are limited to 10000 bytes", field: name)
                    }
                }
            } catch { self.error = error }
        }
        parser.onPartComplete = { [unowned self] in
            events += 1
            guard error == nil else { return }
            do {
                try startIfNeeded()
                if let sink, let name {
                    finishing.append((name, sink))
                } else if let name {
                    fields[name] = String(decoding: text, as: UTF8.self)
                }
            } catch { self.error = error }
            completed += 1
            headers = [:]
            name = nil
            sink = nil
            text = Data()
            open = false
        }
    }

    private func startIfNeeded() throws {
        guard !open else { return }
        open = true
        let disposition = headers["content-disposition"] ?? ""
        guard let partName = UploadReceiver.parameter("name", in: disposition) else {
            throw Problem(
                .badRequest, code: .malformedMultipart, title: "Malformed multipart body",
                detail: "a part has no Content-Disposition name", field: "body")
        }
        guard fileParts.contains(partName) || textFields.contains(partName) else {
            throw Problem(
                .unprocessableContent, code: .unknownPart, title: "Unknown part",
                detail: "no part '\(partName.prefix(60))' is accepted; "
                    + "use \((fileParts.sorted() + textFields.sorted()).joined(separator: ", "))",
                field: String(partName.prefix(60)))
        }
        guard files[partName] == nil && fields[partName] == nil && !finishing.contains(where: { $0.name == partName }) else {
            throw Problem(
                .unprocessableContent, code: .duplicatePart, title: "Duplicate part", detail: "the part '\(partName)' appears twice",
                field: partName)
        }
        name = partName
        if fileParts.contains(partName) { sink = try FileSink(url: scratch()) }
    }

    /// Feeds the next bytes of the body. They are fed to the parser in slices, so bytes that produce no
    /// event (a header line still open) are counted as they arrive and cut off at `maxHeaderBytes`:
    /// a 64 MiB "header" once took 54 s to parse.
    func feed(_ buffer: ByteBuffer) throws {
        var remaining = buffer
        while let slice = remaining.readSlice(length: min(UploadReceiver.sliceBytes, remaining.readableBytes)), slice.readableBytes > 0 {
            let before = events
            try headerNames.check(slice)
            do { try parser.execute(slice) } catch {
                throw Problem(
                    .badRequest, code: .malformedMultipart, title: "Malformed multipart body",
                    detail: "the multipart body does not parse (check the boundary and part headers)", field: "body")
            }
            if let error { throw error }
            quietBytes = events == before ? quietBytes + slice.readableBytes : 0
            guard quietBytes <= UploadReceiver.maxHeaderBytes else {
                throw Problem(
                    .badRequest, code: .multipartHeaderTooLarge, title: "Multipart header too large",
                    detail: "a part's headers (or the preamble) exceed \(UploadReceiver.maxHeaderBytes) bytes", field: "body")
            }
        }
    }

    /// After each chunk: completes the parts that ended and holds the reader back while writes queue up.
    func settle() async throws {
        while !finishing.isEmpty {
            let (name, sink) = finishing.removeFirst()
            files[name] = try await sink.finish()
        }
        try await sink?.settle()
    }

    /// The parts, once the body has ended; throws if it ended inside a part.
    func finish() async throws -> UploadReceiver.Received {
        try await settle()
        if open || completed == 0 {
            throw Problem(
                .badRequest, code: .malformedMultipart, title: "Malformed multipart body",
                detail: "the multipart body ended before its closing boundary", field: "body")
        }
        return UploadReceiver.Received(files: files, fields: fields)
    }

    /// Removes every file written so far (after an error).
    func discard() {
        sink?.abandon()
        for (_, sink) in finishing { sink.abandon() }
        finishing = []
        for file in files.values { try? FileManager.default.removeItem(at: file.url) }
        sink = nil
        files = [:]
    }
}

/// Refuses a part header whose name has a byte ≥ 0x80 before MultipartKit sees it: its parser (4.7.1)
/// looks such bytes up in a 128-entry table and traps, which killed the server (found by the fuzzer).
///
/// The guard follows MultipartKit's grammar as a set of possible states (a small NFA), so it can never
/// lose track of where the parser is: the body state is always possible, every "--boundary" in it may
/// start a header section, and a header name is checked in every branch that may be reading one.
/// The cost of the over-approximation is only that a body containing the boundary string followed by
/// such a "header" is refused; clients' boundaries are long random strings, so real uploads pass.
struct HeaderNameGuard {
    private struct States: OptionSet {
        let rawValue: UInt8
        static let delimiterCR = States(rawValue: 1 << 0)
        static let delimiterLF = States(rawValue: 1 << 1)
        static let emptyName = States(rawValue: 1 << 2)
        static let name = States(rawValue: 1 << 3)
        static let value = States(rawValue: 1 << 4)
        static let valueLF = States(rawValue: 1 << 5)
        static let headersEndLF = States(rawValue: 1 << 6)
    }

    private let pattern: [UInt8]
    /// Knuth–Morris–Pratt failure links of `pattern`, so overlapping dashes are matched correctly.
    private let failure: [Int]
    private var matched = 0
    /// The header-section states the parser may be in, besides the body (always possible).
    private var states: States = []

    init(boundary: String) {
        pattern = Array("--\(boundary)".utf8)
        var links = [Int](repeating: 0, count: pattern.count)
        var k = 0
        for i in 1..<max(1, pattern.count) {
            while k > 0 && pattern[i] != pattern[k] { k = links[k - 1] }
            if pattern[i] == pattern[k] { k += 1 }
            links[i] = k
        }
        failure = links
    }

    mutating func check(_ buffer: ByteBuffer) throws {
        let (cr, lf, colon) = (UInt8(ascii: "\r"), UInt8(ascii: "\n"), UInt8(ascii: ":"))
        for byte in buffer.readableBytesView {
            if byte >= 0x80, !states.isDisjoint(with: [.emptyName, .name]) {
                throw Problem(
                    .badRequest, code: .malformedMultipart, title: "Malformed multipart body",
                    detail: "a part header name has a non-ASCII byte", field: "body")
            }
            var next: States = []
            if states.contains(.delimiterCR), byte == cr { next.insert(.delimiterLF) }
            if states.contains(.delimiterLF), byte == lf { next.insert(.emptyName) }
            if states.contains(.emptyName) {
                if byte == cr { next.insert(.headersEndLF) } else if byte != colon { next.insert(.name) }
            }
            if states.contains(.name) { next.insert(byte == colon ? .value : .name) }
            if states.contains(.value) { next.insert(byte == cr ? .valueLF : .value) }
            if states.contains(.valueLF), byte == lf { next.insert(.emptyName) }
            // .headersEndLF: the body follows, which is always possible anyway.
            // The body: every occurrence of "--boundary" may be a delimiter.
            while matched > 0 && byte != pattern[matched] { matched = failure[matched - 1] }
            if byte == pattern[matched] { matched += 1 }
            if matched == pattern.count {
                matched = failure[matched - 1]
                next.insert(.delimiterCR)
            }
            states = next
        }
    }
}
