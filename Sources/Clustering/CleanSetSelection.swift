import Foundation

/// RUC's split of a finished clustering into a clean set (kept as labels) and the rest (treated as unlabelled):
/// by the source's confidence, by agreement with the sample's neighbours in an embedding, or both.
public enum CleanSetSelection: String, Sendable, Codable, CaseIterable {
    case confidence, metric, hybrid

    /// Samples whose most probable cluster has probability ≥ `threshold` (rows of `clusters` probabilities).
    public static func confident(_ probabilities: [Float], clusters: Int, threshold: Float) -> [Bool] {
        (0..<(probabilities.count / max(1, clusters))).map { row in
            probabilities[(row * clusters)..<((row + 1) * clusters)].max().map { $0 >= threshold } ?? false
        }
    }

    /// Samples whose cluster is the majority among their neighbours' clusters: no other cluster is more common
    /// among them (a tie with the sample's own cluster counts as agreement). Samples assigned −1 never agree.
    /// - Parameter neighbours: n × k indices of each sample's nearest neighbours (never itself).
    public static func agreeing(_ assignments: [Int], neighbours: [Int32], k: Int) -> [Bool] {
        assignments.indices.map { i in
            let own = assignments[i]
            guard own >= 0 else { return false }
            var counts: [Int: Int] = [:]
            for j in neighbours[(i * k)..<((i + 1) * k)] { counts[assignments[Int(j)], default: 0] += 1 }
            let mine = counts[own] ?? 0
            return counts.allSatisfy { $0.key == own || $0.key < 0 || $0.value <= mine } && mine > 0
        }
    }

    /// The samples this selection keeps as clean, in index order: assigned (not −1), and confident, agreeing with
    /// their neighbours, or both — each flag consulted only by the selections that use it.
    public func clean(_ assignments: [Int], confident: [Bool], agreeing: [Bool]) -> [Int] {
        // Rows all three describe: flags shorter than the assignments must not index past their end.
        (0..<min(assignments.count, confident.count, agreeing.count)).filter { i in
            guard assignments[i] >= 0 else { return false }
            switch self {
            case .confidence: return confident[i]
            case .metric: return agreeing[i]
            case .hybrid: return confident[i] && agreeing[i]
            }
        }
    }

    /// The K nearest neighbours by cosine similarity of the rows of `embedding` (n × d), exact and blocked.
    public static func neighbours(_ embedding: [Float], count n: Int, dimension d: Int, k: Int, shouldStop: () throws -> Void = {}) rethrows
        -> [Int32]
    {
        var unit = embedding
        for i in 0..<n {
            var norm: Float = 0
            for j in 0..<d { norm += unit[i * d + j] * unit[i * d + j] }
            let scale = norm > 0 ? 1 / norm.squareRoot() : 0
            for j in 0..<d { unit[i * d + j] *= scale }
        }
        return try NeighbourGraph.build(unit, count: n, dimension: d, k: k, byInnerProduct: true, shouldStop: shouldStop).indices
    }
}
