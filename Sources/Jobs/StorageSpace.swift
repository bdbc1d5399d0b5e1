import Foundation
import GRDB
import Synchronization

/// Disk space for the data directory: how much is free, whether an error means "the disk is full",
/// and a reserve file that is given up when it is, so that deletes and cancels (which SQLite must
/// journal) still work and space can be freed through the API.
public final class StorageSpace: Sendable {
    public let directory: String
    /// Below this many free bytes the server is not ready and refuses new uploads and jobs (507).
    public let minFreeBytes: Int64
    public let reserveBytes: Int
    private let reserve: String
    private let lock = NSLock()
    /// A background restore is queued or running: requests that find the reserve missing queue one, not one each.
    private let restoring = Atomic<Bool>(false)

    public init(directory: String, minFreeBytes: Int64, reserveBytes: Int) {
        self.directory = directory
        self.minFreeBytes = minFreeBytes
        self.reserveBytes = reserveBytes
        reserve = (directory as NSString).appendingPathComponent("space-reserve")
        restoreReserve()
    }

    public var freeBytes: Int64? {
        (try? FileManager.default.attributesOfFileSystem(forPath: directory)[.systemFreeSize] as? NSNumber)?.int64Value
    }

    /// Below `minFreeBytes`, or the reserve is spent: it is kept for cancels, deletes and outcomes, so new
    /// uploads and jobs wait until it is back (restored in the background once there is room again).
    public var isLow: Bool {
        let free = freeBytes ?? .max
        if free < minFreeBytes { return true }
        guard reserveBytes > 0, !FileManager.default.fileExists(atPath: reserve) else { return false }
        guard free > minFreeBytes + Int64(reserveBytes) else { return true }
        if restoring.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged {
            DispatchQueue.global(qos: .utility).async { [self] in
                restoreReserve()
                restoring.store(false, ordering: .relaxed)
            }
        }
        return false
    }

    /// Frees the reserve; false when it was already gone.
    @discardableResult
    public func releaseReserve() -> Bool {
        lock.withLock { (try? FileManager.default.removeItem(atPath: reserve)) != nil }
    }

    /// Writes the reserve back (real bytes: a sparse file would reserve nothing) once there is room again.
    public func restoreReserve() {
        guard reserveBytes > 0 else { return }
        lock.withLock {
            guard !FileManager.default.fileExists(atPath: reserve), (freeBytes ?? 0) > minFreeBytes + Int64(reserveBytes) else { return }
            let partial = reserve + ".partial"
            guard FileManager.default.createFile(atPath: partial, contents: nil), let handle = FileHandle(forWritingAtPath: partial) else { return }
            let chunk = Data(count: 1 << 20)
            var written = 0
            do {
                while written < reserveBytes {
                    try handle.write(contentsOf: chunk.prefix(reserveBytes - written))
                    written += min(chunk.count, reserveBytes - written)
                }
                try handle.synchronize()
                try handle.close()
                try FileManager.default.moveItem(atPath: partial, toPath: reserve)
            } catch {
                try? handle.close()
                try? FileManager.default.removeItem(atPath: partial)
            }
        }
    }

    /// Runs `work`; if it fails for want of space, gives up the reserve and tries once more.
    public func withReserve<T>(_ work: () throws -> T) throws -> T {
        do {
            return try work()
        } catch  where Self.isOutOfSpace(error) && releaseReserve() {
            return try work()
        }
    }

    /// SQLite's "database or disk is full", or ENOSPC/EDQUOT from a file write.
    public static func isOutOfSpace(_ error: any Error) -> Bool {
        if let error = error as? DatabaseError { return error.resultCode == .SQLITE_FULL || error.extendedResultCode == .SQLITE_IOERR_WRITE }
        if let error = error as? CocoaError, error.code == .fileWriteOutOfSpace { return true }
        if let error = error as? POSIXError, [.ENOSPC, .EDQUOT].contains(error.code) { return true }
        let error = error as NSError
        if error.domain == NSPOSIXErrorDomain, [Int(ENOSPC), Int(EDQUOT)].contains(error.code) { return true }
        if error.domain == NSCocoaErrorDomain, error.code == CocoaError.fileWriteOutOfSpace.rawValue { return true }
        if let underlying = error.userInfo[NSUnderlyingErrorKey] as? any Error { return isOutOfSpace(underlying) }
        return false
    }
}
