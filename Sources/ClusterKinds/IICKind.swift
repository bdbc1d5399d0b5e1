import Clustering
import Foundation
import Jobs

/// `cluster.iic`: Invariant Information Clustering with main and over-clustering sub-heads,
/// checkpointed every epoch and resumed from the last one after a restart or crash.
public struct IICKind: TypedJobKind {
    let library: DatasetLibrary
    public init(library: DatasetLibrary) { self.library = library }
    public let name = "cluster.iic"
    public let summary =
        "Invariant Information Clustering (Ji et al. 2019): a CNN (images) or MLP (vectors) trained to maximize I(z; z′) between augmented pairs; main and over-clustering sub-heads, the lowest-loss head answers."

    public struct Parameters: ClusterParameters {
        @Param(ClusterInputs.dataset) var dataset = ""
        @Param(
            .string(maxLength: 20, allowed: ["scale", "per_channel"]),
            "Images only: scale (pixels divided by the training data's largest value) or per_channel (then each channel standardized by the "
                + "training data's mean and standard deviation, saved with the model and applied unchanged at predict).")
        var imageNormalization = "scale"
        @Param(.integer(minimum: 2, maximum: 200), "Clusters of the main heads.") var k = 10
        @Param(.integer(minimum: 2, maximum: 1000), "Clusters of the over-clustering heads; absent means 5 × k.") var overclusters: Int? = nil
        @Param(.integer(minimum: 1, maximum: 10), "Sub-heads per head, trained together; the one with the lowest loss is the answer.") var subheads =
            5
        @Param(.integer(minimum: 1, maximum: 1000), "Passes over the data; every batch trains the main and over-clustering heads together.")
        var epochs = 50
        @Param(.integer(minimum: 8, maximum: 2048), "Samples per batch (each seen as two augmented views).") var batchSize = 128
        @Param(.number(minimum: 0, maximum: 1, exclusiveMinimum: true), "Adam's learning rate.") var learningRate = 5e-3
        @Param(
            .integer(minimum: 1, maximum: 8),
            "Augmented pairs per sample in each batch (the paper's repeated loaders); the cost of an epoch grows with it.")
        var repeats = 2
        @Param(
            .string(maxLength: 10, allowed: ["mild", "default", "strong"]),
            "Image augmentation policy for the pairs (feature vectors get Gaussian noise of 0.1 SD).")
        var augmentation = "default"
        @Param(.number(minimum: 0), "Weight of the marginal-entropy terms (1 is the mutual information).") var lambda = 1.0
        @Param(.string(maxLength: 10, allowed: ["auto", "cnn", "mlp"]), "auto: a small CNN for images, an MLP for feature vectors.") var backbone =
            "auto"
        @Param(ClassicalInputs.normalize) var normalize = "auto"
        @Param(ClassicalInputs.pcaComponents) var pcaComponents = 0
        @Param(ClusterInputs.generatedSamples) var generatedSamples = 600
        @Param(ClusterInputs.generatedClasses) var generatedClasses = 3
        @Param(ClusterInputs.seed) var seed: Int64 = 0
        public init() {}

        /// The trainer's configuration: every field from the declaration above, none defaulted here.
        var configuration: IIC.Configuration {
            var configuration = IIC.Configuration(clusters: k, overclusters: overclusters)
            configuration.subheads = subheads
            configuration.epochs = epochs
            configuration.batchSize = batchSize
            configuration.learningRate = Float(learningRate)
            configuration.lambda = Float(lambda)
            configuration.backbone = backbone
            configuration.seed = UInt64(seed)
            configuration.repeats = repeats
            configuration.augmentation = augmentation
            return configuration
        }
    }

    public var metrics: [MetricDeclaration] {
        [
            MetricDeclaration("loss_main", "IIC loss (−I(z; z′)) of the best main sub-head, mean over the epoch.", unit: "nats", step: "epoch"),
            MetricDeclaration("loss_over", "Lowest IIC loss among the over-clustering sub-heads.", unit: "nats", step: "epoch"),
            MetricDeclaration("best_head", "Index of the main sub-head with the lowest loss.", unit: "index", step: "epoch"),
            MetricDeclaration("epoch_seconds", "Wall time of the epoch.", unit: "s", step: "epoch"),
        ]
            + ClusterInputs.scoreMetrics(step: "epoch")
    }

    public var example: JSONValue { ["dataset": "generated:shapes", "k": 4, "epochs": 8, "batch_size": 64, "generated_samples": 400, "seed": 1] }

    public func references(_ params: JSONValue) -> [ResourceReference] { ClusterInputs.datasetReference(params) }

    public func echo(_ normalized: JSONValue, given: JSONValue?) throws(ParameterError) -> JSONValue {
        try ClusterInputs.echo(
            normalized, given: given, library: library, notForVectors: ["image_normalization"],
            notForImages: ["normalize", "pca_components"])
    }

    public func validate(_ params: JSONValue) throws(ParameterError) {
        try ClusterInputs.checkDataset(params, library: library)
        guard let typed = try? Parameters.decode(params) else { return }
        if let over = typed.overclusters, over < typed.k {
            throw ParameterError(.outOfRange, field: "params.overclusters", reason: "must be at least k (\(typed.k))")
        }
        if typed.backbone == "cnn", let outline = try? library.outline(typed.dataset, generatedSamples: typed.generatedSamples), !outline.isImages {
            throw ParameterError(.invalidValue, field: "params.backbone", reason: "a CNN needs images; \(typed.dataset) holds feature vectors")
        }
    }

    public func run(_ context: JobContext) throws -> JSONValue {
        let (params, given) = try ClusterInputs.start(self, context, library: library)
        let configuration = params.configuration
        // Feature vectors get the classical kinds' preprocessing (saved with the model); images go as they are.
        let prepared =
            given.layout.isImages ? nil : try ClassicalInputs.prepare(given, normalize: params.normalize, pcaComponents: params.pcaComponents)
        let dataset = prepared.map { ClassicalInputs.dataset($0, like: given) } ?? given
        if configuration.backbone == "cnn" && !dataset.layout.isImages {
            throw JobFailure("params.backbone: a CNN needs images; the dataset holds feature vectors")
        }
        guard dataset.count >= 2 else { throw JobFailure("params.dataset: IIC needs at least 2 samples") }
        let trainer = IICTrainer(dataset: dataset, configuration: configuration, standardizeChannels: params.imageNormalization == "per_channel")
        if let checkpoint = try context.latestCheckpoint() {
            try trainer.restore(checkpoint.data)
            context.logger.info("resuming IIC", metadata: ["job": "\(context.job.id)", "epoch": "\(trainer.epoch)"])
        }
        let start = Date()
        let cost = trainer.network.cost
        let backbone = dataset.layout.isImages && configuration.backbone != "mlp" ? "cnn" : "mlp"
        func saveModel() throws -> (clusters: [Int], probabilities: [Float]) {
            let (clusters, probabilities) = trainer.assign()
            try ClusterInputs.writeAssignments(clusters, probabilities: probabilities, classes: configuration.clusters, context: context)
            try TrainedModels.save(
                IICModel(try trainer.model(), preprocessing: prepared?.map),
                architecture: [
                    "backbone": .string(backbone), "parameters": .integer(Int64(cost.parameters)), "macs_per_sample": .integer(Int64(cost.macs)),
                ], datasetSHA256: ClusterInputs.datasetSHA256(params.dataset, library: library), pixelScale: dataset.pixelScale, context: context)
            return (clusters, probabilities)
        }
        try ClusterInputs.keepingLastCheckpoint(context, restore: trainer.restore, save: { _ = try saveModel() }) {
            while !trainer.isFinished {
                try context.checkCancellation()
                var batch = 0
                let steps = trainer.stepsPerEpoch, epoch = trainer.epoch
                let record = try trainer.runEpoch(shouldStop: {
                    try context.checkCancellation()
                    // Called before each batch: progress within the epoch (coalesced by the context).
                    context.progress(
                        (Double(epoch) + Double(batch) / Double(max(1, steps))) / Double(configuration.epochs), phase: "training",
                        message: "epoch \(epoch + 1) of \(configuration.epochs), step \(batch + 1) of \(steps)")
                    batch += 1
                })
                let step = Int64(record.epoch)
                context.metric("loss_main", step: step, value: record.mainLosses[record.bestHead])
                context.metric("loss_over", step: step, value: record.overLosses.min() ?? 0)
                context.metric("best_head", step: step, value: Double(record.bestHead))
                context.metric("epoch_seconds", step: step, value: record.seconds)
                ClusterInputs.recordScores(record.scores, step: step, context: context)
                try context.checkpoint(step: step, data: trainer.checkpoint())
            }
        }
        context.progress(1, phase: "assigning")
        let (clusters, _) = try saveModel()
        let scores = dataset.labels.map { ClusteringMetrics.scores(clusters, $0) }
        try ClusterInputs.writeHistory(
            trainer.history.map { record in
                [
                    "step": .integer(Int64(record.epoch)), "epoch": .integer(Int64(record.epoch)),
                    "loss_main": .number(record.mainLosses[record.bestHead]), "loss_over": .number(record.overLosses.min() ?? .nan),
                    "best_head": .integer(Int64(record.bestHead)), "epoch_seconds": .number(record.seconds),
                    "loss_main_heads": .array(record.mainLosses.map(JSONValue.number)),
                    "loss_over_heads": .array(record.overLosses.map(JSONValue.number)),
                ].merging(ClusterInputs.scoreFields(record.scores)) { first, _ in first }
            }, context: context)
        let last = trainer.history.last!
        return [
            "k": .integer(Int64(configuration.clusters)), "overclusters": .integer(Int64(configuration.overclusters)),
            "samples": .integer(Int64(dataset.count)), "layout": ClusterInputs.layoutJSON(given.layout),
            "preprocessing": prepared?.description ?? .null,
            "epochs": .integer(Int64(configuration.epochs)), "best_head": .integer(Int64(trainer.bestHead)),
            "loss_main": .array(last.mainLosses.map(JSONValue.number)), "loss_over": .array(last.overLosses.map(JSONValue.number)),
            "cluster_sizes": ClusterInputs.integers(ClusteringMetrics.sizes(clusters, k: configuration.clusters)),
            "scores": ClusterInputs.scoresJSON(scores),
            "warnings": .array(
                ClusterInputs.resultWarnings(sizes: ClusteringMetrics.sizes(clusters, k: configuration.clusters)).map(JSONValue.string)),
            "model": [
                "backbone": .string(backbone),
                "parameters": .integer(Int64(cost.parameters)), "macs_per_sample": .integer(Int64(cost.macs)),
                "macs_convention": "multiply-accumulates of convolutions and linear maps (BN, ReLU and pooling not counted)",
            ],
            "seconds": .number(Date().timeIntervalSince(start)),
            "mean_epoch_seconds": .number(trainer.history.map(\.seconds).reduce(0, +) / Double(max(1, trainer.history.count))),
        ]
    }
}

/// The clustering job kinds, reading datasets from `library` and earlier jobs' models through `artifact`;
/// `job` looks up a job by id (RUC's source).
public func clusterKinds(
    library: DatasetLibrary, job: @escaping @Sendable (String) throws -> Job? = { _ in nil },
    artifact: @escaping @Sendable (String, String) throws -> Data? = { _, _ in nil }
) -> [any JobKind] {
    [
        KMeansKind(library: library), IICKind(library: library), SCANKind(library: library, artifact: artifact), SpectralKind(library: library),
        GMMKind(library: library), AgglomerativeKind(library: library), HDBSCANKind(library: library), MixMatchKind(library: library),
        RUCKind(library: library, job: job, artifact: artifact),
    ]
}
