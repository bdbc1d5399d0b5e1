import Clustering
import Foundation
import Jobs
import Tensor

/// A trained clustering model: what a job saves and what `predict` (or a later job's `backbone_job`)
/// loads. An open set: a new kind adds a type conforming to this and one entry in `TrainedModels.types`,
/// without touching the others.
public protocol TrainedModel: Sendable {
    /// `model.json`'s `kind`.
    static var kind: String { get }
    /// The job kind that trains it (what the API names when a job has no model).
    static var jobKind: String { get }
    var layout: Dataset.Layout { get }
    var clusters: Int { get }
    /// Per-channel standardization applied to inputs before the network, when the model has one.
    var normalization: ChannelNormalization? { get }
    func predict(_ dataset: Dataset) throws -> (clusters: [Int], probabilities: [Float]?)
    /// What rebuilds the architecture (`model.json`'s `configuration`).
    func configuration() throws -> JSONValue
    /// The weights (`model.safetensors`).
    func tensors() throws -> [NamedTensor]
    init(configuration: JSONValue, layout: Dataset.Layout, normalization: ChannelNormalization?, tensors: [String: NamedTensor]) throws
}

/// Saving and loading trained models in open formats: `model.safetensors` (the weights, readable with the
/// `safetensors` Python package or numpy) and `model.json` (kind, architecture, configuration, input
/// layout, normalization, parameter count and MACs, the training data's SHA-256). Models saved before
/// 0.3 as one binary plist (`model`) are still read.
public enum TrainedModels {
    public static let types: [any TrainedModel.Type] = [
        KMeansModel.self, IICModel.self, SCANModel.self, GaussianMixtureModel.self, MixMatchModel.self, RUCModel.self,
    ]
    public static let weightsArtifact = "model.safetensors"
    public static let descriptionArtifact = "model.json"
    /// The binary plist of models saved before 0.3.
    public static let legacyArtifact = "model"
    static let format = "montecluster.model/1"
    /// The job kinds whose succeeded jobs can `predict`.
    public static var jobKinds: [String] { types.map { $0.jobKind } }

    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    /// - Parameter pixelScale: the training data's `Dataset.pixelScale`, applied unchanged at `predict`.
    public static func save(
        _ model: some TrainedModel, architecture: JSONValue, datasetSHA256: String?, pixelScale: Float, context: JobContext
    ) throws {
        let tensors = try model.tensors()
        var input = ClusterInputs.layoutJSON(model.layout)
        if model.layout.isImages, case .object(var members) = input {
            members["pixel_scale"] = .number(Double(pixelScale))
            input = .object(members)
        }
        let description: JSONValue = [
            "format": .string(format), "kind": .string(type(of: model).kind), "clusters": .integer(Int64(model.clusters)),
            "input": input,
            "normalization": model.normalization.map {
                ["mean": .array($0.mean.map { .number(Double($0)) }), "std": .array($0.std.map { .number(Double($0)) })]
            }
                ?? .null,
            "configuration": try model.configuration(), "architecture": architecture,
            "dataset_sha256": datasetSHA256.map(JSONValue.string) ?? .null,
            "tensors": .array(tensors.map { ["name": .string($0.name), "shape": .array($0.shape.map { .integer(Int64($0)) })] }),
            "created_by": .string("montecluster \(MonteClusterVersion.current)"),
        ]
        try context.artifact(
            weightsArtifact, mediaType: "application/octet-stream",
            data: Safetensors.encode(tensors, metadata: ["format": "pt", "kind": type(of: model).kind]))
        try context.artifact(descriptionArtifact, mediaType: "application/json", data: Data(description.canonicalText().utf8))
    }

    /// The pixel scale a job's model was trained with (model.json's `input.pixel_scale`); nil for models
    /// saved before it was recorded, which then scale a request by its own largest value as they did.
    public static func pixelScale(_ artifact: (String) throws -> Data?) throws -> Float? {
        guard let json = try artifact(descriptionArtifact) else { return nil }
        return try JSONValue.parse(json)["input"]?["pixel_scale"]?.doubleValue.flatMap { $0 >= 1 && $0.isFinite ? Float($0) : nil }
    }

    /// The model a job saved, reading its artifacts by name; nil when it saved none.
    public static func load(_ artifact: (String) throws -> Data?) throws -> (any TrainedModel)? {
        if let json = try artifact(descriptionArtifact) {
            let description = try JSONValue.parse(json)
            guard let kind = description["kind"]?.stringValue, let type = types.first(where: { $0.kind == kind }) else {
                throw LoadError(description: "model.json names an unknown model kind")
            }
            guard let weights = try artifact(weightsArtifact) else { throw LoadError(description: "model.json without model.safetensors") }
            guard let layout = layout(description["input"]) else { throw LoadError(description: "model.json has no valid input layout") }
            var normalization: ChannelNormalization?
            if let mean = description["normalization"]?["mean"]?.arrayValue, let std = description["normalization"]?["std"]?.arrayValue {
                normalization = ChannelNormalization(
                    mean: mean.compactMap { $0.doubleValue.map(Float.init) }, std: std.compactMap { $0.doubleValue.map(Float.init) })
                // One value per channel of images (per network input of feature vectors, checked by the model, which
                // knows that width); anything else would index out of range at predict.
                guard let normalization, normalization.mean.count == normalization.std.count,
                    normalization.std.allSatisfy({ $0 > 0 && $0.isFinite }), normalization.mean.allSatisfy(\.isFinite)
                else { throw LoadError(description: "model.json's normalization is not finite means and positive deviations") }
                if case .images(let c, _, _) = layout, normalization.mean.count != c {
                    throw LoadError(description: "model.json's normalization has \(normalization.mean.count) values for \(c)-channel images")
                }
            }
            return try type.init(
                configuration: description["configuration"] ?? .null, layout: layout, normalization: normalization,
                tensors: try Safetensors.decode(weights).tensors)
        }
        if let legacy = try artifact(legacyArtifact) { return try LegacyModel.decode(legacy) }
        return nil
    }

    /// What `POST /v1/jobs/{id}/predict` answers: the clusters (and probabilities) `model` assigns to the
    /// uploaded samples, scored against their labels when they come with some.
    public static func prediction(
        _ model: any TrainedModel, jobID: String, data: URL, labels: URL?, labelColumn: String?, limit: Int, pixelScale: Float? = nil
    ) throws -> JSONValue {
        let dataset = try DatasetLibrary.read(data: data, labels: labels, labelColumn: labelColumn, limit: limit, pixelScale: pixelScale)
        let (clusters, probabilities) = try model.predict(dataset)
        let k = model.clusters
        var body: [String: JSONValue] = [
            "job": .string(jobID), "samples": .integer(Int64(clusters.count)), "k": .integer(Int64(k)),
            "assignments": .array(clusters.map { .integer(Int64($0)) }),
            "probabilities": probabilities.map { p in
                .array((0..<clusters.count).map { row in .array((0..<k).map { .number(Double(p[row * k + $0])) }) })
            } ?? .null,
        ]
        if let truth = dataset.labels { body["scores"] = ClusterInputs.scoresJSON(ClusteringMetrics.scores(clusters, truth)) }
        return .object(body)
    }

    static func layout(_ value: JSONValue?) -> Dataset.Layout? {
        func int(_ key: String) -> Int? { value?[key]?.integerValue.flatMap { (1...1 << 20).contains($0) ? Int($0) : nil } }
        switch value?["kind"]?.stringValue {
        case "images": if let c = int("channels"), let h = int("height"), let w = int("width") { return .images(channels: c, height: h, width: w) }
        case "features": if let d = int("dimension") { return .features(dimension: d) }
        default: break
        }
        return nil
    }
}

/// k-means: the centroids.
public struct KMeansModel: TrainedModel {
    public static let kind = "kmeans"
    public static let jobKind = "cluster.kmeans"
    public let layout: Dataset.Layout
    public let clusters: Int
    /// k × the preprocessed dimension.
    public let centroids: [Float]
    /// Feature vectors' scaling and PCA, applied before the distances (nil: none, as for images).
    public let preprocessing: FeaturePreprocessing?
    public var normalization: ChannelNormalization? { nil }

    public init(layout: Dataset.Layout, clusters: Int, centroids: [Float], preprocessing: FeaturePreprocessing? = nil) {
        self.layout = layout
        self.clusters = clusters
        self.centroids = centroids
        self.preprocessing = preprocessing
    }

    var dimension: Int { preprocessing?.outputDimension ?? layout.sampleSize }

    public init(configuration: JSONValue, layout: Dataset.Layout, normalization: ChannelNormalization?, tensors: [String: NamedTensor]) throws {
        let preprocessing = try configuration["normalize"]?.stringValue.flatMap(FeaturePreprocessing.Scaling.init(rawValue:)).map {
            try PreprocessingTensors.decode(scaling: $0, tensors: tensors, inputDimension: layout.sampleSize)
        }
        let dimension = preprocessing?.outputDimension ?? layout.sampleSize
        guard let centroids = tensors["centroids"], centroids.shape == [centroids.shape.first ?? 0, dimension], let k = centroids.shape.first,
            k > 0
        else { throw TrainedModels.LoadError(description: "k-means weights need centroids of shape [k, \(dimension)]") }
        self.init(layout: layout, clusters: k, centroids: centroids.values, preprocessing: preprocessing)
    }

    public func configuration() -> JSONValue {
        var members: [String: JSONValue] = ["k": .integer(Int64(clusters))]
        if let preprocessing { members["normalize"] = .string(preprocessing.scaling.rawValue) }
        return .object(members)
    }

    public func tensors() -> [NamedTensor] {
        [NamedTensor(name: "centroids", shape: [clusters, dimension], values: centroids)] + (preprocessing.map(PreprocessingTensors.encode) ?? [])
    }

    public func predict(_ dataset: Dataset) throws -> (clusters: [Int], probabilities: [Float]?) {
        try TrainedModelInput.check(dataset, against: layout)
        let values = preprocessing?.apply(dataset.values, count: dataset.count) ?? dataset.values
        if preprocessing != nil { try ClassicalInputs.checkPredictionRange(values, count: dataset.count, dimension: dimension) }
        return (KMeans.predict(values, count: dataset.count, dimension: dimension, centroids: centroids, k: clusters), nil)
    }
}

/// A network trained on feature vectors after `FeaturePreprocessing`: the network's own input layout, the
/// tensors that are the network's (not `preprocess.*`), and a check that a per-feature normalization fits it.
enum NetworkInput {
    static func preprocessing(_ configuration: JSONValue, layout: Dataset.Layout, tensors: [String: NamedTensor]) throws -> FeaturePreprocessing? {
        guard !layout.isImages, let name = configuration["normalize"]?.stringValue else { return nil }
        guard let scaling = FeaturePreprocessing.Scaling(rawValue: name) else {
            throw TrainedModels.LoadError(description: "model.json names an unknown normalize '\(name.prefix(40))'")
        }
        return try PreprocessingTensors.decode(scaling: scaling, tensors: tensors, inputDimension: layout.sampleSize)
    }

    static func layout(_ layout: Dataset.Layout, _ preprocessing: FeaturePreprocessing?) -> Dataset.Layout {
        preprocessing.map { .features(dimension: $0.outputDimension) } ?? layout
    }

    static func networkTensors(_ tensors: [String: NamedTensor]) -> [String: NamedTensor] { tensors.filter { !$0.key.hasPrefix("preprocess.") } }

    static func check(_ normalization: ChannelNormalization?, _ layout: Dataset.Layout) throws {
        guard let normalization, !layout.isImages else { return }
        guard normalization.mean.count == layout.sampleSize else {
            throw TrainedModels.LoadError(
                description: "model.json's normalization has \(normalization.mean.count) values for \(layout.sampleSize) features")
        }
    }

    /// The samples as the network takes them.
    static func transform(_ dataset: Dataset, _ preprocessing: FeaturePreprocessing?, networkLayout: Dataset.Layout) throws -> Dataset {
        guard let preprocessing else { return dataset }
        let values = preprocessing.apply(dataset.values, count: dataset.count)
        try ClassicalInputs.checkPredictionRange(values, count: dataset.count, dimension: preprocessing.outputDimension)
        return Dataset(layout: networkLayout, count: dataset.count, values: values, labels: dataset.labels)
    }
}

/// IIC: the trunk and every head, with the chosen head's index.
public struct IICModel: TrainedModel {
    public static let kind = "iic"
    public static let jobKind = "cluster.iic"
    public let saved: IICTrainer.SavedModel
    /// Feature vectors' scaling and PCA before the network (nil: none).
    public let preprocessing: FeaturePreprocessing?
    public var layout: Dataset.Layout { preprocessing.map { .features(dimension: $0.inputDimension) } ?? saved.layout }
    public var clusters: Int { saved.configuration.clusters }
    public var normalization: ChannelNormalization? { saved.standardization }

    public init(_ saved: IICTrainer.SavedModel, preprocessing: FeaturePreprocessing? = nil) {
        self.saved = saved
        self.preprocessing = preprocessing
    }

    public init(configuration: JSONValue, layout: Dataset.Layout, normalization: ChannelNormalization?, tensors: [String: NamedTensor]) throws {
        let decoded = try configuration["iic"].map { try $0.decode(IIC.Configuration.self) }
        guard let decoded, let bestHead = configuration["best_head"]?.integerValue, (0..<Int64(decoded.subheads)).contains(bestHead) else {
            throw TrainedModels.LoadError(description: "IIC model.json needs configuration.iic and configuration.best_head")
        }
        preprocessing = try NetworkInput.preprocessing(configuration, layout: layout, tensors: tensors)
        let networkLayout = NetworkInput.layout(layout, preprocessing)
        try NetworkInput.check(normalization, networkLayout)
        saved = try IICTrainer.SavedModel(
            configuration: decoded, layout: networkLayout, bestHead: Int(bestHead), standardization: normalization,
            tensors: NetworkInput.networkTensors(tensors))
    }

    public func configuration() throws -> JSONValue {
        var members: [String: JSONValue] = ["iic": try JSONValue.encoding(saved.configuration), "best_head": .integer(Int64(saved.bestHead))]
        if let preprocessing { members["normalize"] = .string(preprocessing.scaling.rawValue) }
        return .object(members)
    }
    public func tensors() throws -> [NamedTensor] { try saved.tensors() + (preprocessing.map(PreprocessingTensors.encode) ?? []) }

    public func predict(_ dataset: Dataset) throws -> (clusters: [Int], probabilities: [Float]?) {
        try TrainedModelInput.check(dataset, against: layout)
        let (clusters, probabilities) = try IICPredictor(saved).predict(
            try NetworkInput.transform(dataset, preprocessing, networkLayout: saved.layout))
        return (clusters, probabilities)
    }
}

/// SCAN: the trunk and the chosen head (also the backbone a later `cluster.scan` job may start from).
public struct SCANModel: TrainedModel {
    public static let kind = "scan"
    public static let jobKind = "cluster.scan"
    public let saved: SCANTrainer.SavedModel
    /// Feature vectors' scaling and PCA before the network (nil: none).
    public let preprocessing: FeaturePreprocessing?
    public var layout: Dataset.Layout { preprocessing.map { .features(dimension: $0.inputDimension) } ?? saved.layout }
    public var clusters: Int { saved.clusters }
    public var normalization: ChannelNormalization? { saved.standardization }

    public init(_ saved: SCANTrainer.SavedModel, preprocessing: FeaturePreprocessing? = nil) {
        self.saved = saved
        self.preprocessing = preprocessing
    }

    public init(configuration: JSONValue, layout: Dataset.Layout, normalization: ChannelNormalization?, tensors: [String: NamedTensor]) throws {
        guard let k = configuration["clusters"]?.integerValue, (2...1000).contains(k) else {
            throw TrainedModels.LoadError(description: "SCAN model.json needs configuration.clusters")
        }
        preprocessing = try NetworkInput.preprocessing(configuration, layout: layout, tensors: tensors)
        let networkLayout = NetworkInput.layout(layout, preprocessing)
        try NetworkInput.check(normalization, networkLayout)
        saved = try SCANTrainer.SavedModel(
            clusters: Int(k), layout: networkLayout, standardization: normalization, tensors: NetworkInput.networkTensors(tensors))
    }

    public func configuration() -> JSONValue {
        var members: [String: JSONValue] = ["clusters": .integer(Int64(saved.clusters))]
        if let preprocessing { members["normalize"] = .string(preprocessing.scaling.rawValue) }
        return .object(members)
    }
    public func tensors() throws -> [NamedTensor] { try saved.tensors() + (preprocessing.map(PreprocessingTensors.encode) ?? []) }

    public func predict(_ dataset: Dataset) throws -> (clusters: [Int], probabilities: [Float]?) {
        try TrainedModelInput.check(dataset, against: layout)
        let (clusters, probabilities) = try SCANPredictor(saved).predict(
            try NetworkInput.transform(dataset, preprocessing, networkLayout: saved.layout))
        return (clusters, probabilities)
    }
}

enum TrainedModelInput {
    static func check(_ dataset: Dataset, against layout: Dataset.Layout) throws {
        guard dataset.layout == layout else {
            throw DatasetError(field: "data", "the model was trained on \(describe(layout)); this data is \(describe(dataset.layout))")
        }
    }

    static func describe(_ layout: Dataset.Layout) -> String {
        switch layout {
        case .images(let c, let h, let w): "\(c)-channel \(h)×\(w) images"
        case .features(let d): "\(d)-dimensional feature vectors"
        }
    }
}

/// Models saved before 0.3: one binary plist holding the kind and its saved state.
enum LegacyModel {
    struct Envelope: Codable {
        var kind: String
        var layout: Dataset.Layout?
        var k: Int?
        var centroids: [Float]?
        var iic: IICTrainer.SavedModel?
        var scan: SCANTrainer.SavedModel?
    }

    static func decode(_ data: Data) throws -> any TrainedModel {
        let envelope = try PropertyListDecoder().decode(Envelope.self, from: data)
        if envelope.kind == "iic", let saved = envelope.iic { return IICModel(saved) }
        if envelope.kind == "scan", let saved = envelope.scan { return SCANModel(saved) }
        guard let layout = envelope.layout, let k = envelope.k, let centroids = envelope.centroids, centroids.count == k * layout.sampleSize else {
            throw TrainedModels.LoadError(description: "the saved model is incomplete")
        }
        return KMeansModel(layout: layout, clusters: k, centroids: centroids)
    }

    /// The plist a 0.2 server wrote, for tests that old artifacts still load.
    static func encode(_ envelope: Envelope) throws -> Data {
        let encoder = PropertyListEncoder()
        encoder.outputFormat = .binary
        return try encoder.encode(envelope)
    }
}
