import Foundation
import RandomStreams
import Tensor

/// An IIC training run that can stop after any epoch and continue from its checkpoint exactly:
/// the model, Adam's state, the epoch and the history are saved; the loader needs nothing more,
/// since a batch depends only on (seed, epoch, index).
public final class IICTrainer: @unchecked Sendable {
    public let configuration: IIC.Configuration
    public let network: IIC.Network
    public let optimizer: Adam
    public let layout: Dataset.Layout
    public let labels: [Int]?
    /// The inputs the network sees: images as given, features standardized per dimension.
    public let inputs: [Float]
    public let count: Int
    public let standardization: ChannelNormalization?
    let loader: DataLoader
    let evaluationSample: [Int]
    public private(set) var epoch = 0
    public private(set) var history: [IIC.EpochRecord] = []

    /// Per-epoch scores use at most this many samples (a fixed subset); the final ones use all.
    public static let evaluationLimit = 5000

    public init(dataset: Dataset, configuration: IIC.Configuration) {
        self.configuration = configuration
        layout = dataset.layout
        labels = dataset.labels
        count = dataset.count
        if dataset.layout.isImages {
            inputs = dataset.values
            standardization = nil
        } else {
            let normalization = Self.standardizer(dataset)
            standardization = normalization
            inputs = Self.standardize(dataset.values, d: dataset.layout.sampleSize, normalization)
        }
        network = IIC.Network(layout: dataset.layout, configuration: configuration)
        optimizer = Adam(network.whole.parameters.map(\.variable), learningRate: configuration.learningRate)
        let shape: (channels: Int, height: Int, width: Int) =
            switch dataset.layout {
            case .images(let c, let h, let w): (c, h, w)
            case .features(let d): (1, 1, d)
            }
        loader = DataLoader(
            images: inputs, labels: nil, shape: shape, batchSize: configuration.batchSize, seed: configuration.seed,
            augmentation: IIC.augmentation(for: dataset.layout, policy: configuration.augmentation),
            views: configuration.plainAnchor ? configuration.repeats + 1 : 2 * configuration.repeats,
            plainFirstView: configuration.plainAnchor, workers: configuration.loaderWorkers,
            dropLast: dataset.count > configuration.batchSize)
        var rng = RandomStream(seed: configuration.seed, stream: 2)
        var order = Array(0..<dataset.count)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        evaluationSample = Array(order.prefix(Self.evaluationLimit)).sorted()
    }

    /// Per-feature mean and standard deviation (floored at 10⁻⁶) of feature vectors.
    static func standardizer(_ dataset: Dataset) -> ChannelNormalization {
        let d = dataset.layout.sampleSize
        var mean = [Float](repeating: 0, count: d), std = [Float](repeating: 0, count: d)
        for i in 0..<dataset.count { for j in 0..<d { mean[j] += dataset.values[i * d + j] } }
        for j in 0..<d { mean[j] /= Float(dataset.count) }
        for i in 0..<dataset.count { for j in 0..<d { let delta = dataset.values[i * d + j] - mean[j]; std[j] += delta * delta } }
        std = std.map { max(($0 / Float(dataset.count)).squareRoot(), 1e-6) }
        return ChannelNormalization(mean: mean, std: std)
    }

    static func standardize(_ values: [Float], d: Int, _ normalization: ChannelNormalization) -> [Float] {
        var out = values
        for i in 0..<(values.count / d) { for j in 0..<d { out[i * d + j] = (values[i * d + j] - normalization.mean[j]) / normalization.std[j] } }
        return out
    }

    public var isFinished: Bool { epoch >= configuration.epochs }

    /// Optimizer steps per epoch.
    public var stepsPerEpoch: Int { loader.batchesPerEpoch }

    /// Trains one epoch and records its losses, the chosen head and (with labels) its scores on the evaluation subset.
    @discardableResult
    public func runEpoch(shouldStop: () throws -> Void = {}) throws -> IIC.EpochRecord {
        let start = Date()
        let (main, over) = try IIC.trainEpoch(
            network, optimizer: optimizer, loader: loader, epoch: epoch, configuration: configuration,
            shouldStop: shouldStop)
        let best = main.indices.min { main[$0] < main[$1] } ?? 0
        var scores: ClusteringScores?
        if let labels {
            let size = layout.sampleSize
            var subset = [Float]()
            subset.reserveCapacity(evaluationSample.count * size)
            for i in evaluationSample { subset += inputs[(i * size)..<((i + 1) * size)] }
            let clusters = Self.argmax(network.probabilities(subset, count: evaluationSample.count, head: best), classes: configuration.clusters)
            scores = ClusteringMetrics.scores(clusters, evaluationSample.map { labels[$0] })
        }
        let record = IIC.EpochRecord(
            epoch: epoch + 1, mainLosses: main, overLosses: over, bestHead: best, scores: scores,
            seconds: Date().timeIntervalSince(start))
        history.append(record)
        epoch += 1
        return record
    }

    /// The chosen head (lowest main loss in the last epoch).
    public var bestHead: Int { history.last?.bestHead ?? 0 }

    /// Cluster and probabilities for every training sample.
    public func assign() -> (clusters: [Int], probabilities: [Float]) {
        let p = network.probabilities(inputs, count: count, head: bestHead)
        return (Self.argmax(p, classes: configuration.clusters), p)
    }

    /// Assigns new samples (already laid out like the training data) with the trained model.
    public func predict(_ dataset: Dataset) -> (clusters: [Int], probabilities: [Float]) {
        let values = standardization.map { Self.standardize(dataset.values, d: dataset.layout.sampleSize, $0) } ?? dataset.values
        let p = network.probabilities(values, count: dataset.count, head: bestHead)
        return (Self.argmax(p, classes: configuration.clusters), p)
    }

    static func argmax(_ p: [Float], classes: Int) -> [Int] {
        (0..<(p.count / classes)).map { row in (0..<classes).max { p[row * classes + $0] < p[row * classes + $1] }! }
    }

    struct State: Codable {
        var epoch: Int
        var history: [IIC.EpochRecord]
        var model: Data
    }

    /// Model, optimizer, epoch and history as bytes.
    public func checkpoint() throws -> Data {
        try PropertyListEncoder().encode(State(epoch: epoch, history: history, model: TensorCheckpoint.save(network.whole, optimizer: optimizer)))
    }

    public func restore(_ data: Data) throws {
        let state = try PropertyListDecoder().decode(State.self, from: data)
        try TensorCheckpoint.restore(state.model, into: network.whole, optimizer: optimizer)
        epoch = state.epoch
        history = state.history
    }

    /// The trained model alone (no optimizer state), with what prediction needs to rebuild it.
    public func model() throws -> SavedModel {
        SavedModel(
            configuration: configuration, layout: layout, bestHead: bestHead, standardization: standardization,
            weights: try TensorCheckpoint.save(network.whole, optimizer: nil))
    }

    public struct SavedModel: Codable, Sendable {
        public var configuration: IIC.Configuration
        public var layout: Dataset.Layout
        public var bestHead: Int
        public var standardization: ChannelNormalization?
        public var weights: Data
    }
}

/// A trained IIC model loaded for prediction.
public struct IICPredictor {
    public let saved: IICTrainer.SavedModel
    let network: IIC.Network

    public init(_ data: Data) throws {
        try self.init(PropertyListDecoder().decode(IICTrainer.SavedModel.self, from: data))
    }

    public init(_ saved: IICTrainer.SavedModel) throws {
        self.saved = saved
        network = IIC.Network(layout: saved.layout, configuration: saved.configuration)
        try TensorCheckpoint.restore(saved.weights, into: network.whole, optimizer: nil)
    }

    public func predict(_ dataset: Dataset) -> (clusters: [Int], probabilities: [Float]) {
        let values = saved.standardization.map { IICTrainer.standardize(dataset.values, d: dataset.layout.sampleSize, $0) } ?? dataset.values
        let p = network.probabilities(values, count: dataset.count, head: saved.bestHead)
        return (IICTrainer.argmax(p, classes: saved.configuration.clusters), p)
    }
}

extension IICTrainer.SavedModel {
    /// The weights as named tensors (with shapes), for model.safetensors.
    public func tensors() throws -> [NamedTensor] { TensorCheckpoint.tensors(of: try IICPredictor(self).network.whole) }

    /// A model from model.json's fields and model.safetensors' tensors.
    public init(
        configuration: IIC.Configuration, layout: Dataset.Layout, bestHead: Int, standardization: ChannelNormalization?,
        tensors: [String: NamedTensor]
    ) throws {
        let network = IIC.Network(layout: layout, configuration: configuration)
        try TensorCheckpoint.restore(tensors, into: network.whole)
        self.init(
            configuration: configuration, layout: layout, bestHead: bestHead, standardization: standardization,
            weights: try TensorCheckpoint.save(network.whole, optimizer: nil))
    }
}
