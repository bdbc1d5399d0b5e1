import Foundation
import RandomStreams
import Tensor

/// Invariant Information Clustering (Ji, Henriques & Vedaldi, ICCV 2019).
public enum IIC {
    /// −I(z; z′) of paired soft assignments z, z′ ∈ [B, k] (rows sum to 1), from their joint
    /// P = sym(zᵀz′ / B), with λ weighting the marginals' entropy terms (λ = 1 is the mutual information):
    /// L = −Σ P_ij (ln P_ij − λ ln P_i − λ ln P_j). Entries below ε are clamped (and pass no gradient).
    public static func loss(_ z: Variable, _ zPrime: Variable, lambda: Float = 1, epsilon: Float = 1e-7) -> Variable {
        let (b, k) = (z.shape[0], z.shape[1])
        precondition(zPrime.shape == z.shape, "paired assignments must have the same shape")
        let raw = MatrixMultiply.multiply(z.value, zPrime.value, transposeA: true)  // [k, k]
        var p = [Float](repeating: 0, count: k * k)
        var total: Float = 0
        for i in 0..<k {
            for j in 0..<k {
                let value = (raw.storage[i * k + j] + raw.storage[j * k + i]) / (2 * Float(b))
                p[i * k + j] = value
                total += value
            }
        }
        // Rows of z sum to one, so total is 1 up to rounding; dividing keeps P a distribution.
        for i in 0..<(k * k) { p[i] /= total }
        let clamped = p.map { max($0, epsilon) }
        let rows = (0..<k).map { i in (0..<k).reduce(Float(0)) { $0 + clamped[i * k + $1] } }
        let columns = (0..<k).map { j in (0..<k).reduce(Float(0)) { $0 + clamped[$1 * k + j] } }
        var value: Float = 0
        for i in 0..<k {
            for j in 0..<k {
                let pij = clamped[i * k + j]
                value -= pij * (log(pij) - lambda * log(rows[i]) - lambda * log(columns[j]))
            }
        }
        return Variable(Tensor(shape: [1], storage: [value]), inputs: [z, zPrime]) { upstream in
            // ∂L/∂P_ij = −(ln P_ij + 1) + λ(ln P_i + 1) + λ(ln P_j + 1), zero where clamped; then
            // through the symmetrization (G + Gᵀ)/2 and the normalization by the total (which is 1).
            var g = [Float](repeating: 0, count: k * k)
            for i in 0..<k {
                for j in 0..<k where p[i * k + j] >= epsilon {
                    g[i * k + j] =
                        upstream.storage[0] * (-(log(clamped[i * k + j]) + 1) + lambda * (log(rows[i]) + 1) + lambda * (log(columns[j]) + 1))
                }
            }
            var symmetric = [Float](repeating: 0, count: k * k)
            for i in 0..<k { for j in 0..<k { symmetric[i * k + j] = (g[i * k + j] + g[j * k + i]) / (2 * Float(b)) } }
            let dRaw = Tensor(shape: [k, k], storage: symmetric)
            // raw = zᵀ z′ ⇒ dz = z′ dRawᵀ, dz′ = z dRaw
            if z.requiresGrad { z.accumulate(MatrixMultiply.multiply(zPrime.value, dRaw, transposeB: true)) }
            if zPrime.requiresGrad { zPrime.accumulate(MatrixMultiply.multiply(z.value, dRaw)) }
        }
    }

    public struct Configuration: Sendable, Codable, Equatable {
        public var clusters: Int
        public var overclusters: Int
        public var subheads: Int = 5
        public var epochs: Int = 50
        public var batchSize: Int = 128
        public var learningRate: Float = 5e-3
        public var lambda: Float = 1
        public var seed: UInt64 = 0
        /// "auto" (CNN for images, MLP for vectors), "cnn" or "mlp".
        public var backbone: String = "auto"
        /// Transformed copies per sample in a batch (the paper's repeated data loaders).
        public var repeats: Int = 2
        /// Pair each sample with its transformed copies (the paper) instead of two transformed views.
        public var plainAnchor: Bool = false
        /// Alternate over-clustering and main passes (the paper) instead of training both on every batch.
        public var alternate: Bool = false
        public var loaderWorkers: Int = 2
        /// Image augmentation policy: "mild", "default" or "strong".
        public var augmentation: String = "default"

        public init(clusters: Int, overclusters: Int? = nil) {
            self.clusters = clusters
            self.overclusters = overclusters ?? clusters * 5
        }
    }

    /// The trunk, the main heads (k clusters) and the over-clustering heads, all as one model
    /// (`parameters` and checkpoints cover every part).
    public final class Network: @unchecked Sendable {
        public let trunk: Sequential
        public let mainHeads: [Linear]
        public let overHeads: [Linear]
        public let whole: Sequential
        public let inputShape: [Int]

        public init(layout: Dataset.Layout, configuration: Configuration) {
            var rng = RandomStream(seed: configuration.seed, stream: 1)
            let useCNN = configuration.backbone == "cnn" || (configuration.backbone == "auto" && layout.isImages)
            switch layout {
            case .images(let c, let h, let w) where useCNN:
                trunk = ClusteringNetworks.convolutionalTrunk(channels: c, height: h, width: w, rng: &rng)
                inputShape = [c, h, w]
            default:
                trunk = Backbones.mlp(inputs: layout.sampleSize, rng: &rng)
                inputShape = [layout.sampleSize]
            }
            mainHeads = (0..<configuration.subheads).map { _ in Linear(128, configuration.clusters, rng: &rng) }
            overHeads = (0..<configuration.subheads).map { _ in Linear(128, configuration.overclusters, rng: &rng) }
            whole = Sequential([trunk] + mainHeads + overHeads)
        }

        /// Images' per-channel standardization, applied to each batch (after augmentation) before the trunk.
        public var imageNormalization: ChannelNormalization?

        /// The trunk's output for a batch, images standardized per channel first when the model has it.
        public func embed(_ x: Variable, training: Bool) -> Variable {
            trunk.forward(imageNormalization.map { ClusteringNetworks.standardizeChannels(x, $0) } ?? x, training: training)
        }

        /// Parameters and MACs per sample: the trunk and one main head (what prediction runs).
        public var cost: (parameters: Int, macs: Int) {
            let summary = trunk.summary(input: inputShape)
            let head = mainHeads[0]
            let headParameters = head.parameters.reduce(0) { $0 + $1.variable.value.count }
            return (summary.parameters + headParameters, summary.macs + head.weight.value.count)
        }

        /// Softmax outputs of main sub-head `head` for `x` [N, …], in evaluation mode, in batches.
        public func probabilities(_ values: [Float], count n: Int, head: Int, batchSize: Int = 512) -> [Float] {
            inferInBatches(values, count: n, inputShape: inputShape, batchSize: batchSize) { x in
                Ops.softmax(mainHeads[head].forward(embed(x, training: false), training: false))
            }
        }
    }

    /// Per-epoch record: the mean loss of each main and over-clustering sub-head, and the chosen head.
    public struct EpochRecord: Sendable, Codable, Equatable {
        public var epoch: Int
        public var mainLosses: [Double]
        public var overLosses: [Double]
        public var bestHead: Int
        public var scores: ClusteringScores?
        public var seconds: Double
    }

    /// Trains `network` for one epoch on pairs of views. Joint (default): every batch trains the main and
    /// over-clustering sub-heads together (their mean losses summed), one trunk pass per batch. Alternating
    /// (the paper's schedule): a pass with the over-clustering heads, then one with the main heads.
    public static func trainEpoch(
        _ network: Network, optimizer: Adam, loader: DataLoader, epoch: Int, configuration: Configuration,
        shouldStop: () throws -> Void
    ) rethrows -> (main: [Double], over: [Double]) {
        let passes: [[Int]] = configuration.alternate ? [[1], [0]] : [[0, 1]]
        var sums = [[Double](repeating: 0, count: network.mainHeads.count), [Double](repeating: 0, count: network.overHeads.count)]
        var batchCounts = [0, 0]
        for (pass, groups) in passes.enumerated() {
            for batch in loader.batches(epoch: epoch * passes.count + pass) {
                try shouldStop()
                let b = batch.indices.count
                guard b > 1 else { continue }
                // Anchors then partners, r·B rows each: (x, g_i(x)) or (g_2i(x), g_2i+1(x)).
                let r = configuration.repeats
                let anchors = (0..<r).flatMap { configuration.plainAnchor ? batch.views[0].storage : batch.views[2 * $0].storage }
                let partners = (0..<r).flatMap { configuration.plainAnchor ? batch.views[1 + $0].storage : batch.views[2 * $0 + 1].storage }
                let both = Tensor(shape: [2 * r * b] + network.inputShape, storage: anchors + partners)
                let features = network.embed(Variable(both), training: true)
                let anchorRows = Array(0..<(r * b)), partnerRows = Array((r * b)..<(2 * r * b))
                var objective: Variable?
                for group in groups {
                    let heads = group == 0 ? network.mainHeads : network.overHeads
                    var terms: [Variable] = []
                    for (index, head) in heads.enumerated() {
                        let p = Ops.softmax(head.forward(features, training: true))
                        let term = loss(Ops.gather(p, rows: anchorRows), Ops.gather(p, rows: partnerRows), lambda: configuration.lambda)
                        sums[group][index] += Double(term.value.storage[0])
                        terms.append(term)
                    }
                    let mean = Ops.scale(terms.dropFirst().reduce(terms[0]) { Ops.add($0, $1) }, 1 / Float(terms.count))
                    objective = objective.map { Ops.add($0, mean) } ?? mean
                    batchCounts[group] += 1
                }
                optimizer.zeroGradients(network.whole.parameters.map(\.variable))
                objective!.backward()
                optimizer.step()
            }
        }
        return (sums[0].map { $0 / Double(max(1, batchCounts[0])) }, sums[1].map { $0 / Double(max(1, batchCounts[1])) })
    }

}
