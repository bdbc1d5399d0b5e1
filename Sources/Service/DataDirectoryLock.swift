import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// One server per data directory: two processes recovering each other's "abandoned" jobs at
/// start-up would run them twice. The kernel drops the lock when the process dies, even by kill -9.
final class DataDirectoryLock: Sendable {
    private let descriptor: Int32

    struct AlreadyLocked: Error, CustomStringConvertible {
        var path: String
        var description: String { "another montecluster server is using the data directory (\(path) is locked)" }
    }

    init(directory: String) throws {
        let path = (directory as NSString).appendingPathComponent("montecluster.lock")
        let descriptor = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw AlreadyLocked(path: path)
        }
        self.descriptor = descriptor
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
