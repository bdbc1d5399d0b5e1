import Foundation
import Jobs
import Sampling

/// What a NUTS run must tell beyond the draws' summary: divergences (count per chain, where they
/// happened as `divergences.csv`), trajectories that hit the tree depth limit, E-BFMI per chain, the
/// metric used — and warnings, with `converged: false` on any divergence, since a divergent run can be
/// biased whatever R̂ says.
enum NUTSReport {
    static func add(_ states: [ChainState], names: [String], to result: inout [String: JSONValue], context: JobContext) throws {
        let nuts = states.map { $0.nuts ?? NUTSState() }
        let divergences = nuts.map(\.divergences)
        result["divergences"] = .array(divergences.map { .integer(Int64($0)) })
        result["tree_depth_hits"] = .array(nuts.map { .integer(Int64($0.treeDepthHits)) })
        result["max_tree_depth"] = .integer(Int64(nuts.first?.maxTreeDepth ?? 10))
        result["e_bfmi"] = .array(nuts.map { .number($0.eBFMI) })
        result["leapfrog_steps"] = .array(nuts.map { .integer(Int64($0.leapfrogs)) })
        result["inverse_metric"] = .array(states.map { .array($0.adaptation.shape.map(JSONValue.number)) })
        var warnings = result["warnings"]?.arrayValue ?? []
        let total = divergences.reduce(0, +)
        if total > 0 {
            warnings.append(
                .string(
                    "\(total) divergent transitions after warm-up: the posterior has regions the sampler cannot explore (a funnel?); "
                        + "reparameterize (non-centered) or raise target_acceptance (0.95–0.99); estimates may be biased. Their positions are in divergences.csv"
                ))
            result["converged"] = false
        }
        let hits = nuts.reduce(0) { $0 + $1.treeDepthHits }
        if hits > 0 {
            warnings.append(
                .string("\(hits) transitions reached the maximum tree depth (\(nuts.first?.maxTreeDepth ?? 10)): efficiency, not validity"))
        }
        for (chain, state) in nuts.enumerated() where state.eBFMI < 0.3 {
            warnings.append(.string("chain \(chain): E-BFMI \(String(format: "%.2f", state.eBFMI)) is below 0.3: the energy is explored poorly"))
        }
        result["warnings"] = .array(warnings)
        var csv = (["chain"] + names).joined(separator: ",") + "\n"
        let d = max(1, names.count)
        for (chain, state) in nuts.enumerated() {
            for row in stride(from: 0, to: state.divergentPositions.count, by: d) {
                csv +=
                    "\(chain)," + state.divergentPositions[row..<min(row + d, state.divergentPositions.count)].map { "\($0)" }.joined(separator: ",")
                    + "\n"
            }
        }
        try context.artifact("divergences.csv", mediaType: "text/csv", data: Data(csv.utf8))
    }
}
