import Clustering
import Foundation
import Jobs

/// `cluster.iic`: Invariant Information Clustering with main and over-clustering sub-heads,
/// checkpointed every epoch and resumed from the last one after a restart or crash.
public struct IICKind: JobKind {
    let library: DatasetLibrary
    public init(library: DatasetLibrary) { self.library = library }
    public let name = "cluster.iic"
    public let summary = "Invariant Information Clustering (Ji et al. 2019): a CNN (images) or MLP (vectors) trained to maximize I(z; z′) between augmented pairs; main and over-clustering sub-heads, the lowest-loss head answers."

    public var parameters: ParameterSchema {
        ParameterSchema([
            ClusterInputs.dataset,
            Parameter("k", .integer(minimum: 2, maximum: 200), "Clusters of the main heads.", default: 10),
            Parameter("overclusters", .integer(minimum: 2, maximum: 1000), "Clusters of the over-clustering heads; absent means 5 × k.", nullable: true),
            Parameter("subheads", .integer(minimum: 1, maximum: 10), "Sub-heads per head, trained together; the one with the lowest loss is the answer.", default: 5),
            Parameter("epochs", .integer(minimum: 1, maximum: 1000), "Passes over the data; every batch trains the main and over-clustering heads together.", default: 50),
            Parameter("batch_size", .integer(minimum: 8, maximum: 2048), "Samples per batch (each seen as two augmented views).", default: 128),
            Parameter("learning_rate", .number(minimum: 0, maximum: 1, exclusiveMinimum: true), "Adam's learning rate.", default: 5e-3),
            Parameter("repeats", .integer(minimum: 1, maximum: 8), "Augmented pairs per sample in each batch (the paper's repeated loaders); the cost of an epoch grows with it.", default: 2),
            Parameter("augmentation", .string(maxLength: 10, allowed: ["mild", "default", "strong"]), "Image augmentation policy for the pairs (feature vectors get Gaussian noise of 0.1 SD).", default: "default"),
            Parameter("lambda", .number(minimum: 0), "Weight of the marginal-entropy terms (1 is the mutual information).", default: 1.0),
            Parameter("backbone", .string(maxLength: 10, allowed: ["auto", "cnn", "mlp"]), "auto: a small CNN for images, an MLP for feature vectors.", default: "auto"),
            ClusterInputs.generatedSamples, ClusterInputs.generatedClasses, ClusterInputs.seed,
        ])
    }

    public var metrics: [MetricDeclaration] {
        [MetricDeclaration("loss_main", "IIC loss (−I(z; z′)) of the best main sub-head, mean over the epoch.", unit: "nats", step: "epoch"),
         MetricDeclaration("loss_over", "Lowest IIC loss among the over-clustering sub-heads.", unit: "nats", step: "epoch"),
         MetricDeclaration("best_head", "Index of the main sub-head with the lowest loss.", unit: "index", step: "epoch"),
         MetricDeclaration("epoch_seconds", "Wall time of the epoch.", unit: "s", step: "epoch")]
            + ClusterInputs.scoreMetrics(step: "epoch")
    }

    public var example: JSONValue { ["dataset": "generated:shapes", "k": 4, "epochs": 8, "batch_size": 64, "generated_samples": 400, "seed": 1] }

    public func validate(_ params: JSONValue) throws(ParameterError) {
        try ClusterInputs.checkDataset(params, library: library)
        if let over = params["overclusters"]?.integerValue, over < params["k"]?.integerValue ?? 10 {
            throw ParameterError(.outOfRange, field: "params.overclusters", reason: "must be at least k (\(params["k"]?.integerValue ?? 10))")
        }
        if params["backbone"]?.stringValue == "cnn", params["dataset"]?.stringValue?.hasPrefix("generated:") == true,
           params["dataset"]?.stringValue != "generated:shapes" {
            throw ParameterError(.invalidValue, field: "params.backbone", reason: "a CNN needs images; \(params["dataset"]!.stringValue!) holds feature vectors")
        }
    }

    static func configuration(_ params: JSONValue) -> IIC.Configuration {
        let k = Int(params["k"]?.integerValue ?? 10)
        var configuration = IIC.Configuration(clusters: k, overclusters: params["overclusters"]?.integerValue.map { Int($0) })
        configuration.subheads = Int(params["subheads"]?.integerValue ?? 5)
        configuration.epochs = Int(params["epochs"]?.integerValue ?? 50)
        configuration.batchSize = Int(params["batch_size"]?.integerValue ?? 128)
        configuration.learningRate = Float(params["learning_rate"]?.doubleValue ?? 1e-3)
        configuration.lambda = Float(params["lambda"]?.doubleValue ?? 1)
        configuration.backbone = params["backbone"]?.stringValue ?? "auto"
        configuration.seed = UInt64(params["seed"]?.integerValue ?? 0)
        configuration.repeats = Int(params["repeats"]?.integerValue ?? 2)
        configuration.augmentation = params["augmentation"]?.stringValue ?? "default"
        return configuration
    }

    public func run(_ context: JobContext) throws -> JSONValue {
        let params = context.params
        context.progress(0, phase: "loading")
        let dataset = try ClusterInputs.load(params, library: library)
        let configuration = Self.configuration(params)
        if configuration.backbone == "cnn" && !dataset.layout.isImages {
            throw JobFailure("params.backbone: a CNN needs images; the dataset holds feature vectors")
        }
        guard dataset.count >= 2 else { throw JobFailure("params.dataset: IIC needs at least 2 samples") }
        let trainer = IICTrainer(dataset: dataset, configuration: configuration)
        if let checkpoint = try context.latestCheckpoint() {
            try trainer.restore(checkpoint.data)
            context.logger.info("resuming IIC", metadata: ["job": "\(context.job.id)", "epoch": "\(trainer.epoch)"])
        }
        let start = Date()
        while !trainer.isFinished {
            try context.checkCancellation()
            var batch = 0
            let steps = trainer.stepsPerEpoch, epoch = trainer.epoch
            let record = try trainer.runEpoch(shouldStop: {
                try context.checkCancellation()
                // Called before each batch: progress within the epoch (coalesced by the context).
                context.progress((Double(epoch) + Double(batch) / Double(max(1, steps))) / Double(configuration.epochs), phase: "training",
                                 message: "epoch \(epoch + 1) of \(configuration.epochs), step \(batch + 1) of \(steps)")
                batch += 1
            })
            let step = Int64(record.epoch)
            context.metric("loss_main", step: step, value: record.mainLosses[record.bestHead])
            context.metric("loss_over", step: step, value: record.overLosses.min() ?? 0)
            context.metric("best_head", step: step, value: Double(record.bestHead))
            context.metric("epoch_seconds", step: step, value: record.seconds)
            if let scores = record.scores {
                context.metric("acc", step: step, value: scores.accuracy)
                context.metric("nmi", step: step, value: scores.nmi)
                context.metric("ari", step: step, value: scores.ari)
            }
            try context.checkpoint(step: step, data: trainer.checkpoint())
        }
        context.progress(1, phase: "assigning")
        let (clusters, probabilities) = trainer.assign()
        let scores = dataset.labels.map { ClusteringMetrics.scores(clusters, $0) }
        try ClusterInputs.writeAssignments(clusters, probabilities: probabilities, classes: configuration.clusters, context: context)
        try context.artifact(ClusterModel.artifactName, mediaType: "application/octet-stream", data: ClusterModel.iic(try trainer.model()).encoded())
        let history = Data(try JSONValue.encoding(trainer.history).canonicalText().utf8)
        try context.artifact("history.json", mediaType: "application/json", data: history)
        let cost = trainer.network.cost
        let last = trainer.history.last!
        return [
            "k": .integer(Int64(configuration.clusters)), "overclusters": .integer(Int64(configuration.overclusters)),
            "samples": .integer(Int64(dataset.count)), "layout": ClusterInputs.layoutJSON(dataset.layout),
            "epochs": .integer(Int64(configuration.epochs)), "best_head": .integer(Int64(trainer.bestHead)),
            "loss_main": .array(last.mainLosses.map(JSONValue.number)), "loss_over": .array(last.overLosses.map(JSONValue.number)),
            "cluster_sizes": ClusterInputs.integers(ClusteringMetrics.sizes(clusters, k: configuration.clusters)),
            "scores": ClusterInputs.scoresJSON(scores),
            "model": ["backbone": .string(dataset.layout.isImages && configuration.backbone != "mlp" ? "cnn" : "mlp"),
                      "parameters": .integer(Int64(cost.parameters)), "macs_per_sample": .integer(Int64(cost.macs)),
                      "macs_convention": "multiply-accumulates of convolutions and linear maps (BN, ReLU and pooling not counted)"],
            "seconds": .number(Date().timeIntervalSince(start)),
            "mean_epoch_seconds": .number(trainer.history.map(\.seconds).reduce(0, +) / Double(max(1, trainer.history.count))),
        ]
    }
}

/// The clustering job kinds, reading datasets from `library` and earlier jobs' models through `artifact`.
public func clusterKinds(library: DatasetLibrary, artifact: @escaping @Sendable (String, String) throws -> Data? = { _, _ in nil }) -> [any JobKind] {
    [KMeansKind(library: library), IICKind(library: library), SCANKind(library: library, artifact: artifact)]
}
