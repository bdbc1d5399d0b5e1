import Clustering
import Foundation

/// A trained clustering model as a job's `model` artifact, and prediction with it.
public enum ClusterModel {
    case kmeans(layout: Dataset.Layout, k: Int, centroids: [Float])
    case iic(IICTrainer.SavedModel)
    case scan(SCANTrainer.SavedModel)

    public static let artifactName = "model"

    struct Envelope: Codable {
        var kind: String
        var layout: Dataset.Layout?
        var k: Int?
        var centroids: [Float]?
        var iic: IICTrainer.SavedModel?
        var scan: SCANTrainer.SavedModel?
    }

    public func encoded() throws -> Data {
        let envelope = switch self {
        case .kmeans(let layout, let k, let centroids): Envelope(kind: "kmeans", layout: layout, k: k, centroids: centroids)
        case .iic(let saved): Envelope(kind: "iic", iic: saved)
        case .scan(let saved): Envelope(kind: "scan", scan: saved)
        }
        let encoder = PropertyListEncoder()
        encoder.outputFormat = .binary
        return try encoder.encode(envelope)
    }

    public static func decode(_ data: Data) throws -> ClusterModel {
        let envelope = try PropertyListDecoder().decode(Envelope.self, from: data)
        if envelope.kind == "iic", let saved = envelope.iic { return .iic(saved) }
        if envelope.kind == "scan", let saved = envelope.scan { return .scan(saved) }
        guard let layout = envelope.layout, let k = envelope.k, let centroids = envelope.centroids else {
            throw CocoaError(.coderValueNotFound)
        }
        return .kmeans(layout: layout, k: k, centroids: centroids)
    }

    public var layout: Dataset.Layout {
        switch self {
        case .kmeans(let layout, _, _): layout
        case .iic(let saved): saved.layout
        case .scan(let saved): saved.layout
        }
    }

    public var clusters: Int {
        switch self {
        case .kmeans(_, let k, _): k
        case .iic(let saved): saved.configuration.clusters
        case .scan(let saved): saved.clusters
        }
    }

    /// Clusters (and, for IIC, probabilities) of samples laid out like the training data.
    public func predict(_ dataset: Dataset) throws -> (clusters: [Int], probabilities: [Float]?) {
        guard dataset.layout == layout else {
            throw DatasetError(field: "data", "the model was trained on \(Self.describe(layout)); this data is \(Self.describe(dataset.layout))")
        }
        switch self {
        case .kmeans(_, let k, let centroids):
            return (KMeans.predict(dataset.values, count: dataset.count, dimension: layout.sampleSize, centroids: centroids, k: k), nil)
        case .iic(let saved):
            let predictor = try IICPredictor(saved)
            let (clusters, probabilities) = predictor.predict(dataset)
            return (clusters, probabilities)
        case .scan(let saved):
            let (clusters, probabilities) = try SCANPredictor(saved).predict(dataset)
            return (clusters, probabilities)
        }
    }

    static func describe(_ layout: Dataset.Layout) -> String {
        switch layout {
        case .images(let c, let h, let w): "\(c)-channel \(h)×\(w) images"
        case .features(let d): "\(d)-dimensional feature vectors"
        }
    }
}
