import CMemory
import Foundation
import XCTest

/// Issue 14: an idle server kept 566 MB after one MNIST IIC epoch (95 MB after malloc_trim), because glibc
/// keeps freed small allocations in its arenas. The worker pool trims after every long job; this checks
/// that the trim gives freed memory back to the operating system.
final class MemoryReleaseTests: XCTestCase {
    private func residentMegabytes() -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return nil }
        return line.split(separator: " ").compactMap { Double($0) }.first.map { $0 / 1024 }
    }

    func testTrimGivesFreedMemoryBack() throws {
        #if !os(Linux)
            throw XCTSkip("glibc only")
        #endif
        guard residentMegabytes() != nil else { throw XCTSkip("no /proc/self/status") }
        // 200 MB in 2 KB blocks (below the mmap threshold), every 64th kept: freeing the rest leaves holes
        // malloc keeps (the top of its heap cannot shrink past the kept blocks), as a finished job's tensors do.
        var blocks: [[UInt8]] = []
        blocks.reserveCapacity(100_000)
        for index in 0..<100_000 { blocks.append([UInt8](repeating: UInt8(truncatingIfNeeded: index), count: 2048)) }
        let held = residentMegabytes()!
        blocks = blocks.enumerated().filter { $0.offset % 64 == 0 }.map(\.element)
        let freed = residentMegabytes()!
        _ = montecluster_release_free_memory()
        let trimmed = residentMegabytes()!
        XCTAssertGreaterThan(freed - trimmed, 100, "held \(held) MB, freed \(freed) MB, trimmed \(trimmed) MB")
        XCTAssertEqual(blocks.count, 1563)
    }
}
