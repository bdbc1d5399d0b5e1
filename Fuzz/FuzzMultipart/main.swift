import Foundation
import FuzzDriver
import NIOCore
@testable import Service

/// libFuzzer target: an upload's multipart body (boundary "b"), fed in buffers whose sizes the first
/// byte chooses. Every input must end in the parts or a `Problem`, and leave no scratch file behind.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMultipart(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 1 else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let step = max(1, Int(bytes[0]) * 4)
    let collector = MultipartCollector(
        boundary: "b", fileParts: ["data", "labels"], textFields: ["name", "label_column"],
        scratch: { scratchDirectory.appendingPathComponent("part-\(UUID().uuidString)") })
    // The collector's file writes are asynchronous (they run off the request's thread); the harness
    // waits for each input's outcome before checking what it left behind.
    let chunks = stride(from: 1, to: count, by: step).map { ByteBuffer(bytes: bytes[$0..<min(count, $0 + step)]) }
    nonisolated(unsafe) let unsafeCollector = collector
    let done = DispatchSemaphore(value: 0)
    Task {
        do {
            for chunk in chunks {
                try unsafeCollector.feed(chunk)
                try await unsafeCollector.settle()
            }
            let received = try await unsafeCollector.finish()
            for file in received.files.values { try FileManager.default.removeItem(at: file.url) }
        } catch {
            unsafeCollector.discard()
        }
        done.signal()
    }
    done.wait()
    let left = (try? FileManager.default.contentsOfDirectory(atPath: scratchDirectory.path)) ?? []
    precondition(left.isEmpty, "scratch files left behind: \(left)")
    return 0
}

let scratchDirectory: URL = {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("montecluster-fuzz-multipart-\(getpid())")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}()

@_cdecl("FuzzMultipart_main")
public func fuzzMultipartMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzMultipart(UnsafeRawPointer(data ?? UnsafePointer(bitPattern: 1)!), size) }
}
