import Foundation
import Jobs
import Sampling

/// What the MCMC and Gibbs kinds share: chain settings, segment-by-segment progress with a
/// checkpoint after each segment, monitoring metrics and the summary of the kept draws.
enum ChainRuns {
    static let maxValues: Int64 = 10_000_000

    /// The chain settings the MCMC and Gibbs kinds declare (defaults: their properties' initial values).
    static let chains = Parameter("chains", .integer(minimum: 1, maximum: 16), "Independent chains, run in parallel.")
    static let warmup = Parameter("warmup", .integer(minimum: 0, maximum: 1_000_000), "Warm-up (adaptation) iterations per chain, discarded.")
    static let draws = Parameter("draws", .integer(minimum: 10, maximum: 1_000_000), "Kept draws per chain.")

    static func checkSize(chains: Int, draws: Int, dimension: Int) throws(ParameterError) {
        if Int64(chains) * Int64(draws) * Int64(dimension) > maxValues {
            throw ParameterError(
                .outOfRange, field: "params.draws",
                reason: "chains × draws × dimension must be at most \(maxValues) (got \(chains) × \(draws) × \(dimension))")
        }
    }

    /// Advances `states` segment by segment to `total`, reporting progress and metrics and
    /// checkpointing every few seconds of work, starting from the checkpoint when there is one.
    static func run<State: Codable>(
        context: JobContext, total: Int, warmup: Int, initial: () throws -> [State], iteration: (State) -> Int,
        advance: (inout [State], Int) -> Void, monitor: (_ states: [State], _ diagnosticsDue: Bool) -> [(String, Double)]
    ) throws -> [State] {
        var states: [State]
        if let checkpoint = try context.latestCheckpoint() {
            states = try CheckpointJSON.decode([State].self, from: checkpoint.data)
        } else {
            states = try initial()
        }
        let segment = max(50, total / 20)
        // Checkpoints hold every chain's draws so far; encoding them after each of the 20 segments cost a
        // short run more than its sampling, so they are written at most every `JobContext.checkpointInterval` of work.
        var lastDiagnostics = Date.distantPast
        while let current = states.map(iteration).min(), current < total {
            try context.checkCancellation()
            let target = min(total, (current / segment + 1) * segment)
            advance(&states, target)
            try context.checkCancellation()
            let phase = target <= warmup ? "warmup" : "sampling"
            context.progress(Double(target) / Double(total), phase: phase, message: "iteration \(target) of \(total)")
            // The running R̂/ESS sort every draw: at most once a second, and at the end.
            let diagnosticsDue = target == total || Date().timeIntervalSince(lastDiagnostics) >= 1
            if diagnosticsDue { lastDiagnostics = Date() }
            for (name, value) in monitor(states, diagnosticsDue) { context.metric(name, step: Int64(target), value: value) }
            if target < total { try context.checkpointIfDue(step: Int64(target)) { try CheckpointJSON.encode(states) } }
        }
        return states
    }

    /// Running convergence metrics on the first coordinates (bounded cost for big models).
    /// The metrics `convergence` records, for a kind's declaration.
    static let convergenceMetrics: [MetricDeclaration] = [
        MetricDeclaration(
            "max_r_hat",
            "Largest rank-normalized split R̂ over the first 20 coordinates, on the draws kept so far (at most 500 evenly spaced per chain).",
            step: "iteration per chain (warm-up included)"),
        MetricDeclaration(
            "min_ess_bulk",
            "Smallest bulk ESS over the first 20 coordinates, on the draws kept so far (at most 500 evenly spaced per chain, so at most about 500 per chain).",
            unit: "draws",
            step: "iteration per chain (warm-up included)"),
    ]

    static func convergence(_ draws: [[Double]], dimension: Int) -> [(String, Double)] {
        let kept = draws.map { $0.count / max(1, dimension) }.min() ?? 0
        guard kept >= 20 else { return [] }
        var worstRHat = 0.0
        var smallestESS = Double.infinity
        // A running indicator, recomputed every segment: on at most 500 evenly spaced draws per chain
        // (ranks and normal quantiles over every draw each time cost more than the sampling of small models).
        let stride = (kept + 499) / 500
        for coordinate in 0..<min(dimension, 20) {
            let chains = draws.map { values in Swift.stride(from: 0, to: kept, by: stride).map { values[$0 * dimension + coordinate] } }
            worstRHat = max(worstRHat, Diagnostics.rHat(chains))
            smallestESS = min(smallestESS, Diagnostics.essBulk(chains))
        }
        return [("max_r_hat", worstRHat), ("min_ess_bulk", smallestESS)]
    }

    /// Per-coordinate diagnostics of the kept draws and every warning, named.
    static func summarize(_ draws: [[Double]], names: [String]) throws -> (JSONValue, [String]) {
        let d = names.count
        var summaries: [Diagnostics.Summary] = []
        var warnings: [String] = []
        for (coordinate, name) in names.enumerated() {
            let chains = draws.map { values in stride(from: coordinate, to: values.count, by: d).map { values[$0] } }
            let summary = Diagnostics.summary(chains)
            summaries.append(summary)
            warnings += summary.warnings.map { "\(name): \($0)" }
        }
        return (try SamplingInputs.diagnosticsJSON(names, summaries), warnings)
    }
}
