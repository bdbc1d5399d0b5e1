import Foundation
import RandomStreams
import Tensor

/// A SCAN run in four phases — SimCLR pretext, neighbour mining, SCAN clustering, self-labeling —
/// that can stop after any epoch of any phase and continue from its checkpoint exactly. Feature
/// vectors (e.g. a notebook user's embeddings) skip the pretext: their neighbours are mined on the
/// vectors themselves and an MLP learns the clustering.
public final class SCANTrainer: @unchecked Sendable {
    public enum SizePrior: String, Sendable, Codable, CaseIterable {
        case uniform, estimated

        /// The default for a layout: estimated for feature vectors; uniform for images, where the estimate would come from
        /// k-means on the SimCLR features the job has just trained — too rough (balanced digits: 0.966 → 0.900 with it).
        public static func automatic(for layout: Dataset.Layout) -> SizePrior { layout.isImages ? .uniform : .estimated }
    }

    public struct Configuration: Sendable, Codable, Equatable {
        public var clusters: Int
        public var heads = 5
        public var pretextEpochs = 60
        public var pretextBatchSize = 256
        public var temperature: Float = 0.2
        public var pretextLearningRate: Float = 1e-3
        public var projection = 64
        public var neighbours = 20
        public var scanEpochs = 30
        public var scanBatchSize = 128
        public var scanLearningRate: Float = 1e-3
        public var entropyWeight: Float = 5
        /// Whether the spread term pulls toward equal cluster sizes or toward sizes estimated from the data
        /// (k-means on the mined features), for long-tailed data.
        public var sizePrior: SizePrior = .estimated
        /// Train the whole network in the SCAN phase (true) or only the heads on frozen features.
        public var updateBackbone = true
        public var selfLabelEpochs = 20
        public var selfLabelBatchSize = 256
        public var selfLabelLearningRate: Float = 1e-4
        public var confidenceThreshold: Float = 0.99
        /// Exponential moving average of the weights during self-labeling (0 turns it off); the
        /// averaged weights become the model at the end of the phase.
        public var emaDecay: Float = 0
        public var seed: UInt64 = 0
        public var loaderWorkers = 2

        public init(clusters: Int) { self.clusters = clusters }
    }

    public enum Phase: String, Codable, Sendable, CaseIterable {
        case pretext, mining, scan, selfLabel = "self_label", done
    }

    /// One epoch's record: its phase, loss parts and (with labels) scores of the chosen head.
    public struct EpochRecord: Sendable, Codable, Equatable {
        public var phase: Phase
        public var epoch: Int
        public var loss: Double
        public var consistency: Double?
        public var entropy: Double?
        public var confidentFraction: Double?
        public var bestHead: Int?
        public var scores: ClusteringScores?
        public var seconds: Double
    }

    public let configuration: Configuration
    public let layout: Dataset.Layout
    public let labels: [Int]?
    public let inputs: [Float]
    public let count: Int
    public let standardization: ChannelNormalization?
    public let trunk: Sequential
    public let projectionHead: Sequential
    public let heads: [Linear]
    let whole: Sequential
    let inputShape: [Int]
    let loaderShape: (channels: Int, height: Int, width: Int)
    let weak: Augmentation
    let strong: Augmentation

    public private(set) var phase: Phase
    /// Epochs done in the current phase.
    public private(set) var epoch = 0
    public private(set) var neighbourLists: [[Int]] = []
    public private(set) var neighbourAgreement: Double?
    /// Cluster shares (largest first) of a k-means pass over the mined features: the size prior, and what
    /// the final sizes are compared with to warn of forced balance.
    public private(set) var estimatedSizes: [Float]?
    public private(set) var history: [EpochRecord] = []
    public private(set) var bestHead = 0
    /// Why self-labeling had nothing to learn from, when no sample cleared the threshold.
    public private(set) var warnings: [String] = []
    private var optimizer: Adam?
    private var ema: ExponentialMovingAverage?

    /// - Parameter standardizeChannels: images only: standardize each channel by the training data's mean and
    ///   standard deviation (saved with the model); otherwise pixels are only scaled to [0, 1].
    public init(dataset: Dataset, configuration: Configuration, standardizeChannels: Bool = false) {
        self.configuration = configuration
        layout = dataset.layout
        labels = dataset.labels
        count = dataset.count
        var rng = RandomStream(seed: configuration.seed, stream: 1)
        switch dataset.layout {
        case .images(let c, let h, let w):
            inputs = dataset.values
            standardization = standardizeChannels ? ClusteringNetworks.channelStatistics(dataset) : nil
            trunk = ClusteringNetworks.convolutionalTrunk(channels: c, height: h, width: w, rng: &rng)
            inputShape = [c, h, w]
            loaderShape = (c, h, w)
            weak = ClusteringNetworks.augmentation(for: dataset.layout, policy: "mild")
            strong = ClusteringNetworks.augmentation(for: dataset.layout, policy: "strong")
        case .features(let d):
            let normalization = ClusteringNetworks.standardizer(dataset)
            standardization = normalization
            inputs = ClusteringNetworks.standardize(dataset.values, d: d, normalization)
            trunk = Backbones.mlp(inputs: d, rng: &rng)
            inputShape = [d]
            loaderShape = (1, 1, d)
            weak = ClusteringNetworks.augmentation(for: dataset.layout)
            strong = Augmentation([.gaussianNoise(sigma: 0.2)], range: -Float.greatestFiniteMagnitude...Float.greatestFiniteMagnitude)
        }
        projectionHead = Sequential([Linear(128, 128, rng: &rng), ReLU(), Linear(128, configuration.projection, rng: &rng)])
        heads = (0..<configuration.heads).map { _ in Linear(128, configuration.clusters, rng: &rng) }
        whole = Sequential([trunk, projectionHead] + heads)
        phase = dataset.layout.isImages && configuration.pretextEpochs > 0 ? .pretext : .mining
    }

    public var isFinished: Bool { phase == .done }

    /// Starts from a previous SCAN model's trunk instead of a pretext (its layout must match).
    public func adoptBackbone(_ saved: SavedModel) throws {
        guard saved.layout == layout else { throw DatasetError(field: "params.backbone_job", "the backbone was trained on another layout of data") }
        var rng = RandomStream(seed: 0)
        try TensorCheckpoint.restore(saved.weights, into: Sequential([trunk, Linear(128, saved.clusters, rng: &rng)]), optimizer: nil)
        if phase == .pretext { phase = .mining }
    }

    /// The trunk's output for a batch; images are standardized per channel first when the run asked for it
    /// (after augmentation, which works on [0, 1] pixels).
    func embed(_ x: Variable, training: Bool) -> Variable {
        let input = layout.isImages ? standardization.map { ClusteringNetworks.standardizeChannels(x, $0) } ?? x : x
        return trunk.forward(input, training: training)
    }

    /// The trunk's input shape per sample.
    public var inputShapeForSummary: [Int] { inputShape }

    func loader(batchSize: Int, augmentation: Augmentation, views: Int, plainFirst: Bool = false) -> DataLoader {
        DataLoader(
            images: inputs, labels: nil, shape: loaderShape, batchSize: batchSize,
            seed: configuration.seed &+ UInt64(Phase.allCases.firstIndex(of: phase)!),
            augmentation: augmentation, views: views, plainFirstView: plainFirst, workers: configuration.loaderWorkers,
            dropLast: count > batchSize)
    }

    /// What `phase` trains, and its optimizer: the one in progress, or a new one at the phase's rate
    /// (training and resuming from a checkpoint both come here, so they cannot disagree).
    func phaseOptimizer(_ phase: Phase) -> (parameters: [Variable], adam: Adam) {
        let (parameters, rate): ([Variable], Float) =
            switch phase {
            case .pretext: ((trunk.parameters + projectionHead.parameters).map(\.variable), configuration.pretextLearningRate)
            case .scan:
                (
                    (configuration.updateBackbone ? trunk.parameters : []).map(\.variable) + heads.flatMap { $0.parameters.map(\.variable) },
                    configuration.scanLearningRate
                )
            case .selfLabel: (trunk.parameters.map(\.variable) + heads[bestHead].parameters.map(\.variable), configuration.selfLabelLearningRate)
            case .mining, .done: preconditionFailure("\(phase) trains nothing")
            }
        if let optimizer, optimizer.parameters.count == parameters.count { return (parameters, optimizer) }
        let made = Adam(parameters, learningRate: rate)
        optimizer = made
        return (parameters, made)
    }

    /// Epochs of the current phase (mining is one), for progress messages.
    public var epochsInPhase: Int {
        switch phase {
        case .pretext: configuration.pretextEpochs
        case .mining: 1
        case .scan: configuration.scanEpochs
        case .selfLabel: configuration.selfLabelEpochs
        case .done: 0
        }
    }

    /// Batches in an epoch of the current phase (the last one may be partial).
    public var stepsInEpoch: Int {
        let batch: Int
        switch phase {
        case .pretext: batch = configuration.pretextBatchSize
        case .scan: batch = configuration.scanBatchSize
        case .selfLabel: batch = configuration.selfLabelBatchSize
        case .mining, .done: return 1
        }
        return (count + batch - 1) / max(1, batch)
    }

    /// Runs the next epoch of the current phase (mining is one step), moving to the next phase when one ends.
    @discardableResult
    public func runEpoch(shouldStop: () throws -> Void = {}) throws -> EpochRecord {
        let start = Date()
        var record: EpochRecord
        switch phase {
        case .pretext:
            record = try pretextEpoch(shouldStop: shouldStop)
            advance(after: configuration.pretextEpochs)
        case .mining:
            record = try mine(shouldStop: shouldStop)
            advance(after: 1)
        case .scan:
            record = try scanEpoch(shouldStop: shouldStop)
            advance(after: configuration.scanEpochs)
        case .selfLabel:
            record = try selfLabelEpoch(shouldStop: shouldStop)
            advance(after: configuration.selfLabelEpochs)
        case .done:
            preconditionFailure("the run is finished")
        }
        record.seconds = Date().timeIntervalSince(start)
        history.append(record)
        return record
    }

    private func advance(after epochs: Int) {
        epoch += 1
        guard epoch >= epochs else { return }
        epoch = 0
        optimizer = nil
        let order: [Phase] = [.pretext, .mining, .scan, .selfLabel, .done]
        phase = order[order.firstIndex(of: phase)! + 1]
        if phase == .selfLabel && configuration.selfLabelEpochs == 0 { phase = .done }
        if phase == .scan && configuration.scanEpochs == 0 { phase = configuration.selfLabelEpochs > 0 ? .selfLabel : .done }
    }

    private func pretextEpoch(shouldStop: () throws -> Void) throws -> EpochRecord {
        let (parameters, adam) = phaseOptimizer(.pretext)
        // Cosine schedule over the phase, per epoch.
        adam.learningRate = LearningRateSchedule.cosine(total: configuration.pretextEpochs, minimum: 0)
            .rate(base: configuration.pretextLearningRate, step: epoch)
        var total = 0.0, batches = 0
        for batch in loader(batchSize: configuration.pretextBatchSize, augmentation: strong, views: 2).batches(epoch: epoch) {
            try shouldStop()
            let b = batch.indices.count
            guard b >= 2 else { continue }
            let both = Tensor(shape: [2 * b] + inputShape, storage: batch.views[0].storage + batch.views[1].storage)
            let loss = SCAN.ntXent(
                projectionHead.forward(embed(Variable(both), training: true), training: true),
                temperature: configuration.temperature)
            adam.zeroGradients(parameters)
            loss.backward()
            adam.step()
            total += Double(loss.value.storage[0])
            batches += 1
        }
        return EpochRecord(phase: .pretext, epoch: epoch + 1, loss: total / Double(max(1, batches)), seconds: 0)
    }

    /// Features of every sample in evaluation mode (the trunk's output, or the vectors themselves when
    /// no pretext ran on feature vectors).
    public func features() -> [Float] {
        if !layout.isImages { return inputs }
        return inferInBatches(inputs, count: count, inputShape: inputShape) { embed($0, training: false) }
    }

    private func mine(shouldStop: () throws -> Void) throws -> EpochRecord {
        let features = features()
        let d = features.count / count
        let k = min(configuration.neighbours, count - 1)
        neighbourLists = try NeighbourMining.mine(features, count: count, dimension: d, k: k, shouldStop: shouldStop)
        neighbourAgreement = labels.map { NeighbourMining.agreement(neighbourLists, labels: $0) }
        estimatedSizes = try Self.estimateSizes(features, count: count, dimension: d, clusters: configuration.clusters, seed: configuration.seed)
        return EpochRecord(phase: .mining, epoch: 1, loss: 0, scores: nil, seconds: 0)
    }

    private func images(_ indices: [Int], augmentation: Augmentation, epoch: Int, salt: UInt64) -> Tensor {
        let size = inputShape.reduce(1, *)
        var storage = [Float]()
        storage.reserveCapacity(indices.count * size)
        for index in indices {
            var image = Array(inputs[(index * size)..<((index + 1) * size)])
            var rng = RandomStream(
                seed: configuration.seed ^ (UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(index) &* 0xBF58_476D_1CE4_E5B9) ^ salt)
            augmentation.apply(&image, channels: loaderShape.channels, height: loaderShape.height, width: loaderShape.width, rng: &rng)
            storage += image
        }
        return Tensor(shape: [indices.count] + inputShape, storage: storage)
    }

    private func scanEpoch(shouldStop: () throws -> Void) throws -> EpochRecord {
        let (parameters, adam) = phaseOptimizer(.scan)
        var sums = [Double](repeating: 0, count: heads.count)
        var consistency = 0.0, entropy = 0.0, batches = 0
        let loader = loader(batchSize: configuration.scanBatchSize, augmentation: weak, views: 1)
        for (index, batch) in loader.batches(epoch: epoch).enumerated() {
            try shouldStop()
            let b = batch.indices.count
            guard b >= 2 else { continue }
            // One neighbour per anchor, drawn from its K by (seed, epoch, batch).
            var rng = RandomStream(
                seed: configuration.seed ^ 0x5CA1 ^ (UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(index) &* 0xBF58_476D_1CE4_E5B9))
            let partners = batch.indices.map { neighbourLists[$0][Int(rng.next() % UInt64(neighbourLists[$0].count))] }
            let neighbours = images(partners, augmentation: weak, epoch: epoch, salt: 0xA5A5)
            let both = Tensor(shape: [2 * b] + inputShape, storage: batch.views[0].storage + neighbours.storage)
            let features: Variable =
                configuration.updateBackbone
                ? embed(Variable(both), training: true)
                : Variable(GradientMode.withoutGradients { embed(Variable(both), training: false) }.value)
            let anchorRows = Array(0..<b), neighbourRows = Array(b..<(2 * b))
            var total: Variable?
            for (h, head) in heads.enumerated() {
                let p = Ops.softmax(head.forward(features, training: true))
                let (loss, c, e) = SCAN.loss(
                    anchors: Ops.gather(p, rows: anchorRows), neighbours: Ops.gather(p, rows: neighbourRows),
                    entropyWeight: configuration.entropyWeight, sizePrior: configuration.sizePrior == .estimated ? estimatedSizes : nil)
                sums[h] += Double(loss.value.storage[0])
                if h == 0 { consistency += Double(c); entropy += Double(e) }
                total = total.map { Ops.add($0, loss) } ?? loss
            }
            adam.zeroGradients(parameters)
            total!.backward()
            adam.step()
            batches += 1
        }
        let losses = sums.map { $0 / Double(max(1, batches)) }
        bestHead = losses.indices.min { losses[$0] < losses[$1] } ?? 0
        return EpochRecord(
            phase: .scan, epoch: epoch + 1, loss: losses[bestHead], consistency: consistency / Double(max(1, batches)),
            entropy: entropy / Double(max(1, batches)), bestHead: bestHead, scores: scores(), seconds: 0)
    }

    private func selfLabelEpoch(shouldStop: () throws -> Void) throws -> EpochRecord {
        let head = heads[bestHead]
        let (parameters, adam) = phaseOptimizer(.selfLabel)
        var total = 0.0, batches = 0, confident = 0, seen = 0
        for batch in loader(batchSize: configuration.selfLabelBatchSize, augmentation: strong, views: 2, plainFirst: true).batches(epoch: epoch) {
            try shouldStop()
            let b = batch.indices.count
            seen += b
            // Confidence on the sample as it is (no gradient), targets for its strongly augmented view.
            let plain = batch.views[0].reshaped([b] + inputShape), augmented = batch.views[1].reshaped([b] + inputShape)
            let weakProbabilities = GradientMode.withoutGradients {
                Ops.softmax(head.forward(embed(Variable(plain), training: false), training: false)).value
            }
            let logits = head.forward(embed(Variable(augmented), training: true), training: true)
            guard
                let (loss, count) = SCAN.selfLabelLoss(
                    weak: weakProbabilities, strongLogits: logits, threshold: configuration.confidenceThreshold,
                    sizePrior: configuration.sizePrior == .estimated ? estimatedSizes : nil)
            else {
                continue
            }
            confident += count
            adam.zeroGradients(parameters)
            loss.backward()
            adam.step()
            if configuration.emaDecay > 0 {
                if ema == nil { ema = ExponentialMovingAverage(parameters, decay: configuration.emaDecay) }
                ema!.update(parameters)
            }
            total += Double(loss.value.storage[0])
            batches += 1
        }
        if let ema, epoch + 1 == configuration.selfLabelEpochs {
            // The phase ends: the averaged weights become the model.
            for (parameter, shadow) in zip(parameters, ema.shadow) { parameter.value.storage = shadow }
            self.ema = nil
        }
        let fraction = Double(confident) / Double(max(1, seen))
        if confident == 0 {
            warnings.append(
                "self-labeling epoch \(epoch + 1): no sample's confidence exceeded \(configuration.confidenceThreshold); the model was left unchanged"
            )
        }
        return EpochRecord(
            phase: .selfLabel, epoch: epoch + 1, loss: total / Double(max(1, batches)), confidentFraction: fraction,
            bestHead: bestHead, scores: scores(), seconds: 0)
    }

    /// Shares of the clusters of a k-means pass (3 seedings) over the features, largest first. k-means itself leans
    /// toward equal sizes, so this is a conservative estimate of how uneven the groups are.
    static func estimateSizes(_ features: [Float], count n: Int, dimension d: Int, clusters k: Int, seed: UInt64) throws -> [Float]? {
        guard n >= k, k >= 2 else { return nil }
        let result = try KMeans(k: k, runs: 3, maxIterations: 100, seed: seed ^ 0x512E).fit(features, count: n, dimension: d)
        // A floor keeps every cluster's target positive (an empty k-means cluster must not forbid a SCAN cluster).
        let floor = 0.1 / Float(k)
        let shares = ClusteringMetrics.sizes(result.assignments, k: k).map { max(Float($0) / Float(n), floor) }
        let total = shares.reduce(0, +)
        return shares.map { $0 / total }.sorted(by: >)
    }

    /// A warning when the clusters came out much more even than the data's own grouping suggests: the
    /// entropy of the final sizes exceeds that of the estimated sizes by more than 0.25 nats.
    public func balanceWarning(_ clusters: [Int]) -> String? {
        guard let estimatedSizes else { return nil }
        let k = configuration.clusters
        let sizes = ClusteringMetrics.sizes(clusters, k: k).map { Float($0) / Float(max(clusters.count, 1)) }
        func entropy(_ shares: [Float]) -> Float { -shares.reduce(0) { $0 + ($1 > 0 ? $1 * log($1) : 0) } }
        let (final, estimated) = (entropy(sizes), entropy(estimatedSizes))
        guard final - estimated > 0.25 else { return nil }
        let largest = String(format: "%.0f", (sizes.max() ?? 0) * 100), expected = String(format: "%.0f", (estimatedSizes.first ?? 0) * 100)
        let advice =
            configuration.sizePrior == .uniform ? ": size_prior \"uniform\" forces equal sizes; try \"estimated\"" : "; try a lower entropy_weight"
        return
            "the clusters are much more even than the data's grouping suggests (largest \(largest) % of samples; a k-means pass found \(expected) %)"
            + advice
    }

    /// Probabilities of head `head` for samples laid out like the inputs.
    public func probabilities(_ values: [Float], count n: Int, head: Int? = nil) -> [Float] {
        inferInBatches(values, count: n, inputShape: inputShape) { x in
            Ops.softmax(heads[head ?? bestHead].forward(embed(x, training: false), training: false))
        }
    }

    public func assign() -> (clusters: [Int], probabilities: [Float]) {
        let p = probabilities(inputs, count: count)
        return (ClusteringNetworks.argmax(p, classes: configuration.clusters), p)
    }

    func scores() -> ClusteringScores? {
        guard let labels else { return nil }
        let limit = min(count, ClusteringNetworks.evaluationLimit)
        let size = inputShape.reduce(1, *)
        let p = probabilities(Array(inputs[0..<(limit * size)]), count: limit)
        return ClusteringMetrics.scores(ClusteringNetworks.argmax(p, classes: configuration.clusters), Array(labels[0..<limit]))
    }

    /// The resumable state; neighbour lists and EMA weights as raw bytes (plist arrays of numbers made
    /// checkpoints of embedding runs cost more than their epochs). `LegacyState` is the 0.3 layout.
    struct State: Codable {
        var phase: Phase
        var epoch: Int
        /// Int32 little-endian, `neighboursPerSample` per sample.
        var neighbours: Data
        var neighboursPerSample: Int
        var agreement: Double?
        var history: [EpochRecord]
        var bestHead: Int
        var warnings: [String]
        var model: Data
        var ema: [Data]?
        var estimatedSizes: [Float]?
    }

    struct LegacyState: Codable {
        var phase: Phase
        var epoch: Int
        var neighbours: [[Int]]
        var agreement: Double?
        var history: [EpochRecord]
        var bestHead: Int
        var warnings: [String]
        var model: Data
        var ema: [[Float]]?
    }

    public func checkpoint() throws -> Data {
        let perSample = neighbourLists.first?.count ?? 0
        let flat = neighbourLists.flatMap { $0.map { Int32(truncatingIfNeeded: $0).littleEndian } }
        return try PropertyListEncoder().encode(
            State(
                phase: phase, epoch: epoch, neighbours: flat.withUnsafeBufferPointer { Data(buffer: $0) }, neighboursPerSample: perSample,
                agreement: neighbourAgreement, history: history, bestHead: bestHead, warnings: warnings,
                model: TensorCheckpoint.save(whole, optimizer: optimizer), ema: ema?.shadow.map(TensorCheckpoint.bytes),
                estimatedSizes: estimatedSizes))
    }

    public func restore(_ data: Data) throws {
        let state: LegacyState
        if let current = try? PropertyListDecoder().decode(State.self, from: data) {
            estimatedSizes = current.estimatedSizes
            let flat: [Int] = current.neighbours.withUnsafeBytes { raw in
                (0..<(raw.count / 4)).map { Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))) }
            }
            let k = max(1, current.neighboursPerSample)
            state = LegacyState(
                phase: current.phase, epoch: current.epoch,
                neighbours: current.neighboursPerSample == 0
                    ? [] : stride(from: 0, to: flat.count, by: k).map { Array(flat[$0..<min($0 + k, flat.count)]) },
                agreement: current.agreement, history: current.history, bestHead: current.bestHead, warnings: current.warnings,
                model: current.model, ema: current.ema?.map(TensorCheckpoint.floats))
        } else {
            state = try PropertyListDecoder().decode(LegacyState.self, from: data)
        }
        phase = state.phase
        epoch = state.epoch
        neighbourLists = state.neighbours
        neighbourAgreement = state.agreement
        history = state.history
        bestHead = state.bestHead
        warnings = state.warnings
        // The optimizer of the phase in progress, rebuilt over the same parameters, then restored.
        switch phase {
        case .pretext, .scan, .selfLabel: _ = phaseOptimizer(phase)
        case .mining, .done: optimizer = nil
        }
        if epoch == 0 && phase != .pretext { optimizer = nil }
        try TensorCheckpoint.restore(state.model, into: whole, optimizer: optimizer)
        if let shadow = state.ema, let optimizer {
            ema = ExponentialMovingAverage(optimizer.parameters, decay: configuration.emaDecay)
            ema!.restore(shadow)
        }
    }

    /// The trunk and the chosen head, for prediction.
    public func model() throws -> SavedModel {
        SavedModel(
            clusters: configuration.clusters, layout: layout, standardization: standardization,
            weights: try TensorCheckpoint.save(Sequential([trunk, heads[bestHead]]), optimizer: nil))
    }

    public struct SavedModel: Codable, Sendable {
        public var clusters: Int
        public var layout: Dataset.Layout
        public var standardization: ChannelNormalization?
        public var weights: Data
    }
}

/// A trained SCAN model loaded for prediction.
public struct SCANPredictor {
    public let saved: SCANTrainer.SavedModel
    let network: Sequential
    let inputShape: [Int]

    public init(_ saved: SCANTrainer.SavedModel) throws {
        self.saved = saved
        switch saved.layout {
        case .images(let c, let h, let w): inputShape = [c, h, w]
        case .features(let d): inputShape = [d]
        }
        network = Self.network(for: saved)
        try TensorCheckpoint.restore(saved.weights, into: network, optimizer: nil)
    }

    /// The architecture of a saved model (trunk and one head), with untrained weights.
    static func network(for saved: SCANTrainer.SavedModel) -> Sequential {
        var rng = RandomStream(seed: 0)
        return ClusteringNetworks.classifier(for: saved.layout, classes: saved.clusters, rng: &rng)
    }

    public func predict(_ dataset: Dataset) -> (clusters: [Int], probabilities: [Float]) {
        let images = saved.layout.isImages
        let values =
            images
            ? dataset.values
            : saved.standardization.map { ClusteringNetworks.standardize(dataset.values, d: dataset.layout.sampleSize, $0) } ?? dataset.values
        let out = inferInBatches(values, count: dataset.count, inputShape: inputShape) { batch in
            let input = images ? saved.standardization.map { ClusteringNetworks.standardizeChannels(batch, $0) } ?? batch : batch
            return Ops.softmax(network.forward(input, training: false))
        }
        return (ClusteringNetworks.argmax(out, classes: saved.clusters), out)
    }
}

extension SCANTrainer.SavedModel {
    /// The weights (trunk and the chosen head) as named tensors, for model.safetensors.
    public func tensors() throws -> [NamedTensor] { TensorCheckpoint.tensors(of: try SCANPredictor(self).network) }

    /// A model from model.json's fields and model.safetensors' tensors.
    public init(clusters: Int, layout: Dataset.Layout, standardization: ChannelNormalization?, tensors: [String: NamedTensor]) throws {
        let empty = SCANTrainer.SavedModel(clusters: clusters, layout: layout, standardization: standardization, weights: Data())
        let network = SCANPredictor.network(for: empty)
        try TensorCheckpoint.restore(tensors, into: network)
        self.init(clusters: clusters, layout: layout, standardization: standardization, weights: try TensorCheckpoint.save(network, optimizer: nil))
    }
}
