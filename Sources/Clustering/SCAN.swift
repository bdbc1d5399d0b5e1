import Foundation
import Tensor

/// The pieces of SCAN (Van Gansbeke et al., ECCV 2020): SimCLR's NT-Xent loss for the pretext,
/// exact nearest-neighbour mining, the SCAN loss, and self-labeling's class-balanced pseudo-label loss.
public enum SCAN {
    /// NT-Xent of 2B embeddings where rows i and i + B are the two views of one sample: cross-entropy
    /// of each row's similarity to its partner against all other rows, cosine similarities over τ.
    public static func ntXent(_ embeddings: Variable, temperature: Float) -> Variable {
        let n = embeddings.shape[0]
        precondition(n % 2 == 0 && n >= 4, "NT-Xent needs pairs: 2B rows with B ≥ 2")
        let half = n / 2
        let z = Ops.l2Normalize(embeddings)
        let similarities = Ops.scale(Ops.matmul(z, z, transposeB: true), 1 / temperature)
        // A row is never its own negative: −10⁹ on the diagonal removes it from the softmax.
        var mask = Tensor(zeros: [n, n])
        for i in 0..<n { mask.storage[i * n + i] = -1e9 }
        let partners = (0..<n).map { $0 < half ? $0 + half : $0 - half }
        return Ops.crossEntropy(Ops.add(similarities, Variable(mask)), labels: partners)
    }

    /// −(1/B) Σ log⟨p_i, q_i⟩ − w·H(p̄): anchors p and their neighbours q (rows of probabilities) should
    /// agree, while the mean assignment p̄ stays spread out (entropy weight w against collapse).
    /// With a size prior π (shares, largest first) the spread term becomes w·KL(p̄ ‖ π∘rank): each cluster is
    /// pulled toward the prior's share at its own size rank (the largest cluster toward the largest share), so
    /// long-tailed data is not forced into equal sizes. A uniform π gives back −w·H(p̄) up to a constant.
    /// Returns (total, consistency, entropy) values; the Variable is the total.
    public static func loss(anchors p: Variable, neighbours q: Variable, entropyWeight w: Float, sizePrior: [Float]? = nil, epsilon: Float = 1e-8)
        -> (total: Variable, consistency: Float, entropy: Float)
    {
        let (b, k) = (p.shape[0], p.shape[1])
        precondition(q.shape == p.shape, "anchors and neighbours must have the same shape")
        var dots = [Float](repeating: 0, count: b)
        var mean = [Float](repeating: 0, count: k)
        for i in 0..<b {
            for c in 0..<k {
                dots[i] += p.value.storage[i * k + c] * q.value.storage[i * k + c]
                mean[c] += p.value.storage[i * k + c] / Float(b)
            }
        }
        let consistency = -dots.reduce(0) { $0 + log(max($1, epsilon)) } / Float(b)
        let entropy = -mean.reduce(0) { $0 + $1 * log(max($1, epsilon)) }
        // −log π at each cluster's rank (0 for no prior: the plain entropy term).
        var logPrior = [Float](repeating: 0, count: k)
        if let sizePrior, sizePrior.count == k {
            let ranked = (0..<k).sorted { mean[$0] > mean[$1] || (mean[$0] == mean[$1] && $0 < $1) }
            for (rank, c) in ranked.enumerated() { logPrior[c] = log(max(sizePrior[rank], epsilon)) }
        }
        let crossTerm = (0..<k).reduce(Float(0)) { $0 + mean[$1] * logPrior[$1] }
        let total = Variable(Tensor(shape: [1], storage: [consistency - w * entropy - w * crossTerm]), inputs: [p, q]) { upstream in
            let g = upstream.storage[0] / Float(b)
            var dp = Tensor(zeros: [b, k]), dq = Tensor(zeros: [b, k])
            for i in 0..<b {
                let d = max(dots[i], epsilon)
                for c in 0..<k {
                    // ∂/∂p_ic: −q_ic/⟨p_i,q_i⟩ from the consistency, + w(ln p̄_c + 1) from −w·H(p̄).
                    // With a prior, −w Σ p̄_c log π_c adds −w log π_c.
                    dp.storage[i * k + c] = g * (-q.value.storage[i * k + c] / d + w * (log(max(mean[c], epsilon)) + 1 - logPrior[c]))
                    dq.storage[i * k + c] = g * (-p.value.storage[i * k + c] / d)
                }
            }
            if p.requiresGrad { p.accumulate(dp) }
            if q.requiresGrad { q.accumulate(dq) }
        }
        return (total, consistency, entropy)
    }

    /// Self-labeling: rows whose weak-view confidence exceeds `threshold` take their argmax as a pseudo-label
    /// for cross-entropy on the strong view's logits, each class weighted by the inverse of its share of
    /// the confident rows (class balance), or with a size prior so that each class's rows together weigh the
    /// prior's share at the class's rank. Nil when no row is confident (the caller reports it).
    public static func selfLabelLoss(weak: Tensor, strongLogits: Variable, threshold: Float, sizePrior: [Float]? = nil) -> (
        loss: Variable, confident: Int
    )? {
        let (b, k) = (weak.shape[0], weak.shape[1])
        var labels = [Int?](repeating: nil, count: b)
        var counts = [Int](repeating: 0, count: k)
        for i in 0..<b {
            var best = 0
            for c in 1..<k where weak.storage[i * k + c] > weak.storage[i * k + best] { best = c }
            if weak.storage[i * k + best] > threshold {
                labels[i] = best
                counts[best] += 1
            }
        }
        let confident = counts.reduce(0, +)
        guard confident > 0 else { return nil }
        // Weights share/count per class, normalized so the confident rows' weights sum to B
        // (crossEntropy(targets:) divides by B): a weighted mean over the confident rows.
        // With a size prior π (shares, largest first), class c's rows share π at c's rank among the batch's
        // confident counts instead of 1/present: the tail is not weighted up to the head's size.
        var share = counts.map { $0 > 0 ? Float(1) : 0 }
        if let sizePrior, sizePrior.count == k {
            let ranked = (0..<k).sorted { counts[$0] > counts[$1] || (counts[$0] == counts[$1] && $0 < $1) }
            for (rank, c) in ranked.enumerated() where counts[c] > 0 { share[c] = sizePrior[rank] }
        }
        let totalShare = share.reduce(0, +)
        var targets = Tensor(zeros: [b, k])
        for i in 0..<b {
            guard let label = labels[i] else { continue }
            targets.storage[i * k + label] = Float(b) * share[label] / (totalShare * Float(counts[label]))
        }
        return (Ops.crossEntropy(strongLogits, targets: Variable(targets)), confident)
    }
}

/// Exact K nearest neighbours by cosine similarity (`NeighbourGraph.build`): SGEMM on pairs of row blocks, so memory
/// stays at two blocks of blockRows² similarities (2 MB at 512, where all N² of 70,000 samples would be 19.6 GB).
public enum NeighbourMining {
    /// features: N × d (normalized here). Returns N × K indices, nearest first, never the sample itself.
    /// `shouldStop` is called between blocks: mining 70,000 samples takes about a minute, and a cancel
    /// or shutdown must not wait for it.
    public static func mine(
        _ features: [Float], count n: Int, dimension d: Int, k: Int, blockRows: Int = 512,
        shouldStop: () throws -> Void = {}
    ) throws -> [[Int]] {
        precondition(k >= 1 && k < n, "K must be between 1 and N − 1")
        var normalized = features
        for i in 0..<n {
            var total: Float = 0
            for j in 0..<d { total += features[i * d + j] * features[i * d + j] }
            let norm = max(total.squareRoot(), 1e-12)
            for j in 0..<d { normalized[i * d + j] /= norm }
        }
        let graph = try NeighbourGraph.build(
            normalized, count: n, dimension: d, k: k, byInnerProduct: true, blockRows: blockRows, shouldStop: shouldStop)
        return (0..<n).map { i in graph.neighbours(of: i).map(Int.init) }
    }

    /// The share of (sample, neighbour) pairs with the same label.
    public static func agreement(_ neighbours: [[Int]], labels: [Int]) -> Double {
        var same = 0, total = 0
        for (i, list) in neighbours.enumerated() {
            for j in list {
                total += 1
                if labels[i] == labels[j] { same += 1 }
            }
        }
        return total == 0 ? 0 : Double(same) / Double(total)
    }
}
