import Clustering
import Foundation
import Jobs
import RandomStreams
import Tensor

/// One or more networks of the classifier architecture (`ClusteringNetworks.classifier`) whose averaged
/// probabilities answer: MixMatch saves one, RUC its two co-trained networks. Network i's tensors are named
/// `i.…` in model.safetensors.
public struct ClassifierEnsemble: Sendable {
    public let layout: Dataset.Layout
    public let classes: Int
    public let members: Int
    /// Per-feature standardization of feature vectors, or per-channel of images (nil: pixels as scaled).
    public let standardization: ChannelNormalization?
    public let tensors: [NamedTensor]

    public init(layout: Dataset.Layout, classes: Int, members: Int, standardization: ChannelNormalization?, weights: Data) throws {
        let network = Self.network(layout: layout, classes: classes, members: members)
        try TensorCheckpoint.restore(weights, into: network, optimizer: nil)
        self.init(layout: layout, classes: classes, members: members, standardization: standardization, network: network)
    }

    init(layout: Dataset.Layout, classes: Int, members: Int, standardization: ChannelNormalization?, network: Sequential) {
        self.layout = layout
        self.classes = classes
        self.members = members
        self.standardization = standardization
        tensors = TensorCheckpoint.tensors(of: network)
    }

    static func network(layout: Dataset.Layout, classes: Int, members: Int) -> Sequential {
        var rng = RandomStream(seed: 0)
        return Sequential((0..<members).map { _ in ClusteringNetworks.classifier(for: layout, classes: classes, rng: &rng) })
    }

    /// From model.json's `configuration` (`classes`, `networks`) and model.safetensors' tensors.
    init(configuration: JSONValue, layout: Dataset.Layout, normalization: ChannelNormalization?, tensors: [String: NamedTensor], members: Int) throws
    {
        guard let k = configuration["classes"]?.integerValue, (2...1000).contains(k) else {
            throw TrainedModels.LoadError(description: "model.json needs configuration.classes (2…1000)")
        }
        try NetworkInput.check(normalization, layout)
        let network = Self.network(layout: layout, classes: Int(k), members: members)
        try TensorCheckpoint.restore(tensors, into: network)
        self.init(layout: layout, classes: Int(k), members: members, standardization: normalization, network: network)
    }

    func predict(_ dataset: Dataset) throws -> (clusters: [Int], probabilities: [Float]?) {
        try TrainedModelInput.check(dataset, against: layout)
        let network = Self.network(layout: layout, classes: classes, members: members)
        try TensorCheckpoint.restore(Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first }), into: network)
        let shape: [Int]
        switch layout {
        case .images(let c, let h, let w): shape = [c, h, w]
        case .features(let d): shape = [d]
        }
        let images = layout.isImages
        let values =
            images
            ? dataset.values : standardization.map { ClusteringNetworks.standardize(dataset.values, d: layout.sampleSize, $0) } ?? dataset.values
        var total = [Float](repeating: 0, count: dataset.count * classes)
        for case let member as Sequential in network.layers {
            let p = inferInBatches(values, count: dataset.count, inputShape: shape) { batch in
                let input = images ? standardization.map { ClusteringNetworks.standardizeChannels(batch, $0) } ?? batch : batch
                return Ops.softmax(member.forward(input, training: false))
            }
            for i in 0..<total.count { total[i] += p[i] / Float(members) }
        }
        return (ClusteringNetworks.argmax(total, classes: classes), total)
    }
}

/// A trained model that is a `ClassifierEnsemble` of a fixed number of networks: everything but its kind and
/// network count is the ensemble's.
public protocol EnsembleModel: TrainedModel {
    static var members: Int { get }
    var ensemble: ClassifierEnsemble { get }
    init(_ ensemble: ClassifierEnsemble)
}

extension EnsembleModel {
    public var layout: Dataset.Layout { ensemble.layout }
    public var clusters: Int { ensemble.classes }
    public var normalization: ChannelNormalization? { ensemble.standardization }
    public init(configuration: JSONValue, layout: Dataset.Layout, normalization: ChannelNormalization?, tensors: [String: NamedTensor]) throws {
        self.init(
            try ClassifierEnsemble(
                configuration: configuration, layout: layout, normalization: normalization, tensors: tensors, members: Self.members))
    }
    public func configuration() -> JSONValue { ["classes": .integer(Int64(clusters)), "networks": .integer(Int64(Self.members))] }
    public func tensors() -> [NamedTensor] { ensemble.tensors }
    public func predict(_ dataset: Dataset) throws -> (clusters: [Int], probabilities: [Float]?) { try ensemble.predict(dataset) }
}

/// `semi.mixmatch`'s classifier (the EMA weights).
public struct MixMatchModel: EnsembleModel {
    public static let kind = "mixmatch"
    public static let jobKind = "semi.mixmatch"
    public static let members = 1
    public let ensemble: ClassifierEnsemble
    public init(_ ensemble: ClassifierEnsemble) { self.ensemble = ensemble }
}

/// `cluster.ruc`'s two co-trained networks (EMA weights), whose averaged prediction is the refined clustering.
public struct RUCModel: EnsembleModel {
    public static let kind = "ruc"
    public static let jobKind = "cluster.ruc"
    public static let members = 2
    public let ensemble: ClassifierEnsemble
    public init(_ ensemble: ClassifierEnsemble) { self.ensemble = ensemble }
}
