import Foundation

/// `test.trap`: a job whose run dies of a Swift runtime trap, killing the whole process, as a job
/// with an undiscovered bug would. Registered only when `MONTECLUSTER_TEST_KINDS=1`, for the system
/// test that checks a trapping job is failed ("crashed the worker") instead of crash-looping the server.
public struct TrapTestJobKind: JobKind {
    public init() {}

    public let name = "test.trap"
    public let summary = "Traps (kills the server) after a short sleep. Test servers only."
    public let parameters = ParameterSchema([
        Parameter("delay_ms", .integer(minimum: 0, maximum: 60_000), "Milliseconds before the trap.", default: 200)
    ])
    public var example: JSONValue { ["delay_ms": 0] }

    public func run(_ context: JobContext) throws -> JSONValue {
        let delay = context.params["delay_ms"]?.integerValue ?? 200
        Thread.sleep(forTimeInterval: Double(delay) / 1000)
        // Read at run time so the optimizer cannot prove the trap and refuse to compile it.
        let divisor = Int(ProcessInfo.processInfo.environment["MONTECLUSTER_TRAP_DIVISOR"] ?? "0") ?? 0
        return .integer(Int64(100 / divisor))
    }
}
