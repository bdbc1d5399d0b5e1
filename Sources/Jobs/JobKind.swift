/// A kind of job: its name, its parameters, and the function that runs it on a worker thread.
///
/// Adding a kind means declaring its `ParameterSchema`, an `example` that succeeds in seconds,
/// and `run`, which reports progress, metrics, checkpoints and artifacts through the context and
/// returns the result summary.
public protocol JobKind: Sendable {
    var name: String { get }
    var summary: String { get }
    var parameters: ParameterSchema { get }
    /// Parameters a user can copy; they must run to `succeeded` within a few seconds.
    var example: JSONValue { get }
    /// Every metric a run may record (a test checks the examples record no other).
    var metrics: [MetricDeclaration] { get }
    /// Rows the job will read (datasets, other jobs), checked to exist at submission in the same transaction.
    func references(_ params: JSONValue) -> [ResourceReference]
    /// Checks that span several fields, run after the schema has filled in defaults.
    func validate(_ params: JSONValue) throws(ParameterError)
    /// The parameters as the job keeps and echoes them: a kind leaves out those that do not apply to this
    /// submission (`generated_samples` with an uploaded dataset) and refuses them when they were given.
    func echo(_ normalized: JSONValue, given: JSONValue?) throws(ParameterError) -> JSONValue
    /// Runs the job. Throws `JobFailure` for a failure the user should read, and lets
    /// `context.checkCancellation()` throw to stop early.
    func run(_ context: JobContext) throws -> JSONValue
}

extension JobKind {
    public func validate(_ params: JSONValue) throws(ParameterError) {}
    public func echo(_ normalized: JSONValue, given: JSONValue?) throws(ParameterError) -> JSONValue { normalized }
    public var metrics: [MetricDeclaration] { [] }
    public func references(_ params: JSONValue) -> [ResourceReference] { [] }

    /// The schema's checks, then the kind's own; returns parameters with defaults filled in.
    public func normalize(_ params: JSONValue?) throws(ParameterError) -> JSONValue {
        let normalized = try parameters.validate(params)
        try validate(normalized)
        return try echo(normalized, given: params)
    }
}

/// A failure a run function reports on purpose; its message becomes the job's `reason`.
public struct JobFailure: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Why a run was told to stop.
public enum JobRunError: Error, Sendable, Equatable {
    case cancelled
    case shuttingDown
    /// The worker no longer holds the job; nothing more may be written for it.
    case leaseLost
}

/// The job kinds a server runs, looked up by name.
public struct JobKindRegistry: Sendable {
    public private(set) var kinds: [any JobKind] = []

    public init(_ kinds: [any JobKind] = []) {
        for kind in kinds { register(kind) }
    }

    public mutating func register(_ kind: any JobKind) {
        kinds.removeAll { $0.name == kind.name }
        kinds.append(kind)
        kinds.sort { $0.name < $1.name }
    }

    public subscript(name: String) -> (any JobKind)? {
        kinds.first { $0.name == name }
    }

    public var names: [String] { kinds.map(\.name) }
}

/// One metric a kind records: what its values mean and what its `step` counts. Published in
/// `GET /v1/kinds`, so a client can label a plot without reading the source.
public struct MetricDeclaration: Sendable, Equatable, Encodable {
    public var name: String
    public var summary: String
    /// The unit of the values ("1" for a plain ratio or count).
    public var unit: String
    /// What a point's `step` counts (epochs, iterations per chain, …).
    public var step: String
    /// The phase of the run it is recorded in, when the kind has phases.
    public var phase: String?

    public init(_ name: String, _ summary: String, unit: String = "1", step: String, phase: String? = nil) {
        self.name = name
        self.summary = summary
        self.unit = unit
        self.step = step
        self.phase = phase
    }
}
