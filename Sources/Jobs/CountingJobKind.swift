import Foundation

/// `demo.count`: a deterministic job for exercising the machinery (progress, metrics,
/// checkpoints, artifacts, cancellation, failure, resume) without any real compute.
///
/// Step `s` contributes a value fixed by the seed; the sum over all steps is the result, so a run
/// that resumed from a checkpoint must end with the same sum as one that never stopped.
public struct CountingJobKind: TypedJobKind {
    public init() {}

    public let name = "demo.count"
    public let summary = "Counts through steps, sleeping between them; records a metric per step and checkpoints. For trying the API."

    public struct Parameters: KindParameters {
        @Param(.integer(minimum: 1, maximum: 100_000), "Number of steps.") var steps: Int64 = 20
        @Param(.integer(minimum: 0, maximum: 60_000), "Milliseconds each step sleeps.") var stepMs: Int64 = 50
        @Param(.integer(minimum: 1, maximum: 100_000), "Steps between checkpoints.") var checkpointEvery: Int64 = 5
        @Param(.integer(minimum: 0), "Seed of the per-step values.") var seed: Int64 = 0
        @Param(.integer(minimum: 1, maximum: 100_000), "If set, the run fails with an error when it reaches this step (to see how failures look).")
        var failAtStep: Int64? = nil
        public init() {}
    }

    public var example: JSONValue { ["steps": 10, "step_ms": 20, "checkpoint_every": 5, "seed": 7] }

    public var metrics: [MetricDeclaration] {
        [
            MetricDeclaration("value", "The step's value, uniform on [0, 1) and fixed by the seed.", step: "count step"),
            MetricDeclaration("running_sum", "Sum of the values up to this step (the result's sum at the last).", step: "count step"),
        ]
    }

    struct State: Codable {
        var step: Int64
        var sum: Double
    }

    /// SplitMix64 of (seed, step) mapped to [0, 1): the same value whichever attempt computes it.
    public static func value(seed: Int64, step: Int64) -> Double {
        var z = UInt64(bitPattern: seed) &+ UInt64(bitPattern: step) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) * 0x1.0p-53
    }

    public func run(_ context: JobContext) throws -> JSONValue {
        let params = try typedParameters(context.params)
        var state = State(step: 0, sum: 0)
        var resumedFrom: Int64 = 0
        if let checkpoint = try context.latestCheckpoint() {
            state = try CheckpointJSON.decode(State.self, from: checkpoint.data)
            resumedFrom = state.step
            context.logger.info("resuming from checkpoint", metadata: ["step": "\(state.step)"])
        }
        var firstStepThisAttempt: Int64?
        while state.step < params.steps {
            try context.checkCancellation()
            let step = state.step + 1
            if firstStepThisAttempt == nil { firstStepThisAttempt = step }
            try sleep(milliseconds: params.stepMs, context: context)
            if step == params.failAtStep {
                throw JobFailure("failed at step \(step) as requested by fail_at_step")
            }
            let value = Self.value(seed: params.seed, step: step)
            state = State(step: step, sum: state.sum + value)
            context.metric("value", step: step, value: value)
            context.metric("running_sum", step: step, value: state.sum)
            context.progress(Double(step) / Double(params.steps), phase: "counting", message: "step \(step) of \(params.steps)")
            if step % params.checkpointEvery == 0 || step == params.steps {
                try context.checkpoint(step: step, data: try CheckpointJSON.encode(state))
            }
        }
        var csv = "step,value\n"
        for step in 1...params.steps {
            csv += "\(step),\(Self.value(seed: params.seed, step: step))\n"
        }
        try context.artifact("values.csv", mediaType: "text/csv", data: Data(csv.utf8))
        return [
            "steps": .integer(params.steps),
            "sum": .number(state.sum),
            "resumed_from_step": .integer(resumedFrom),
            "first_step_this_attempt": firstStepThisAttempt.map(JSONValue.integer) ?? .null,
            "attempt": .integer(Int64(context.job.attempt)),
        ]
    }

    /// Sleeps in short slices so a cancel request is noticed within ~20 ms.
    private func sleep(milliseconds: Int64, context: JobContext) throws {
        var remaining = Double(milliseconds) / 1000
        while remaining > 0 {
            try context.checkCancellation()
            let slice = min(remaining, 0.02)
            Thread.sleep(forTimeInterval: slice)
            remaining -= slice
        }
    }
}
