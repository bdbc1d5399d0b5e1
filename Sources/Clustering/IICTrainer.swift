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

    /// - Parameter standardizeChannels: images only: standardize each channel by the training data's mean and
    ///   standard deviation (saved with the model); otherwise pixels are only scaled to [0, 1].
    public init(dataset: Dataset, configuration: IIC.Configuration, standardizeChannels: Bool = false) {
        self.configuration = configuration
        layout = dataset.layout
        labels = dataset.labels
        count = dataset.count
        if dataset.layout.isImages {
            inputs = dataset.values
            standardization = standardizeChannels ? ClusteringNetworks.channelStatistics(dataset) : nil
        } else {
            let normalization = ClusteringNetworks.standardizer(dataset)
            standardization = normalization
            inputs = ClusteringNetworks.standardize(dataset.values, d: dataset.layout.sampleSize, normalization)
        }
        network = IIC.Network(layout: dataset.layout, configuration: configuration)
        if dataset.layout.isImages { network.imageNormalization = standardization }
        optimizer = Adam(network.whole.parameters.map(\.variable), learningRate: configuration.learningRate)
        let shape: (channels: Int, height: Int, width: Int) =
            switch dataset.layout {
            case .images(let c, let h, let w): (c, h, w)
            case .features(let d): (1, 1, d)
            }
        loader = DataLoader(
            images: inputs, labels: nil, shape: shape, batchSize: configuration.batchSize, seed: configuration.seed,
            augmentation: ClusteringNetworks.augmentation(for: dataset.layout, policy: configuration.augmentation),
            views: configuration.plainAnchor ? configuration.repeats + 1 : 2 * configuration.repeats,
            plainFirstView: configuration.plainAnchor, workers: configuration.loaderWorkers,
            dropLast: dataset.count > configuration.batchSize)
        var rng = RandomStream(seed: configuration.seed, stream: 2)
        var order = Array(0..<dataset.count)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        evaluationSample = Array(order.prefix(ClusteringNetworks.evaluationLimit)).sorted()
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
            let clusters = ClusteringNetworks.argmax(
                network.probabilities(subset, count: evaluationSample.count, head: best), classes: configuration.clusters)
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
        return (ClusteringNetworks.argmax(p, classes: configuration.clusters), p)
    }

    /// Assigns new samples (already laid out like the training data) with the trained model.
    public func predict(_ dataset: Dataset) -> (clusters: [Int], probabilities: [Float]) {
        let values =
            layout.isImages
            ? dataset.values
            : standardization.map { ClusteringNetworks.standardize(dataset.values, d: dataset.layout.sampleSize, $0) } ?? dataset.values
        let p = network.probabilities(values, count: dataset.count, head: bestHead)
        return (ClusteringNetworks.argmax(p, classes: configuration.clusters), p)
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
        if saved.layout.isImages { network.imageNormalization = saved.standardization }
        try TensorCheckpoint.restore(saved.weights, into: network.whole, optimizer: nil)
    }

    public func predict(_ dataset: Dataset) -> (clusters: [Int], probabilities: [Float]) {
        let values =
            saved.layout.isImages
            ? dataset.values
            : saved.standardization.map { ClusteringNetworks.standardize(dataset.values, d: dataset.layout.sampleSize, $0) } ?? dataset.values
        let p = network.probabilities(values, count: dataset.count, head: saved.bestHead)
        return (ClusteringNetworks.argmax(p, classes: saved.configuration.clusters), p)
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
