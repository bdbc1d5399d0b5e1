import Clustering
import Foundation
import Jobs

/// `cluster.scan`: SimCLR pretext, neighbour mining, SCAN clustering and self-labeling, each phase
/// visible in progress and metrics, checkpointed every epoch and resumed mid-phase after a crash.
public struct SCANKind: TypedJobKind {
    let library: DatasetLibrary
    /// A finished job's artifact by (job id, name), for starting from its trained backbone.
    let artifact: @Sendable (String, String) throws -> Data?
    public init(library: DatasetLibrary, artifact: @escaping @Sendable (String, String) throws -> Data? = { _, _ in nil }) {
        self.library = library
        self.artifact = artifact
    }
    public let name = "cluster.scan"
    public let summary =
        "SCAN (Van Gansbeke et al. 2020): SimCLR pretext (images), K-nearest-neighbour mining, SCAN loss with several heads, self-labeling. Feature vectors skip the pretext."

    public struct Parameters: ClusterParameters {
        @Param(ClusterInputs.dataset) var dataset = ""
        @Param(
            .string(maxLength: 20, allowed: ["scale", "per_channel"]),
            "Images only: scale (pixels divided by the training data's largest value) or per_channel (then each channel standardized by the "
                + "training data's mean and standard deviation, saved with the model and applied unchanged at predict).")
        var imageNormalization = "scale"
        @Param(.integer(minimum: 2, maximum: 200), "Clusters.") var k = 10
        @Param(.integer(minimum: 1, maximum: 10), "Clustering heads trained together; the lowest SCAN loss answers.") var heads = 5
        @Param(.integer(minimum: 0, maximum: 1000), "SimCLR epochs (images only; 0 skips the pretext).") var pretextEpochs = 60
        @Param(.integer(minimum: 4, maximum: 2048), "SimCLR batch (two strong views per sample).") var pretextBatchSize = 256
        @Param(.number(minimum: 0.01, maximum: 10), "NT-Xent temperature.") var temperature = 0.2
        @Param(.integer(minimum: 1, maximum: 200), "K nearest neighbours mined by cosine similarity.") var neighbours = 20
        @Param(.integer(minimum: 0, maximum: 1000), "SCAN-loss epochs.") var scanEpochs = 30
        @Param(.integer(minimum: 4, maximum: 2048), "SCAN batch.") var scanBatchSize = 128
        @Param(.number(minimum: 0, maximum: 1, exclusiveMinimum: true), "Adam's rate for the pretext and SCAN phases.") var learningRate = 1e-3
        @Param(.number(minimum: 0, maximum: 100), "Weight of the cluster-size term against collapse.") var entropyWeight = 5.0
        @Param(
            .string(maxLength: 20, allowed: ["auto"] + SCANTrainer.SizePrior.allCases.map(\.rawValue)),
            "What the size term (and self-labeling's class weights) pull the clusters toward: estimated (the shares of a k-means pass over the "
                + "mined features, by size rank: long-tailed data keeps its long tail), uniform (equal sizes, the paper's entropy term), or auto: estimated on feature "
                + "vectors, uniform on images (k-means on a SimCLR pretext trained in the job is too rough an estimate: on balanced digits "
                + "it cost SCAN 7 points of accuracy).")
        var sizePrior = "auto"
        @Param(.boolean, "Train the whole network in the SCAN phase (false: the heads only).") var updateBackbone = true
        @Param(.integer(minimum: 0, maximum: 1000), "Self-labeling epochs (0 skips it).") var selfLabelEpochs = 20
        @Param(.number(minimum: 0, maximum: 1), "Confidence above which a prediction becomes a pseudo-label.") var confidenceThreshold = 0.99
        @Param(.number(minimum: 0, maximum: 0.9999), "Exponential moving average of the weights during self-labeling (0: off).") var emaDecay = 0.0
        @Param(.string(maxLength: 100), "A succeeded cluster.scan job whose trained backbone to start from (skips the pretext).")
        var backboneJob: String? = nil
        @Param(ClassicalInputs.normalize) var normalize = "auto"
        @Param(ClassicalInputs.pcaComponents) var pcaComponents = 0
        @Param(ClusterInputs.generatedSamples) var generatedSamples = 600
        @Param(ClusterInputs.generatedClasses) var generatedClasses = 3
        @Param(ClusterInputs.seed) var seed: Int64 = 0
        public init() {}

        /// The trainer's configuration for data of `layout`: every field from the declaration above, none defaulted here
        /// (size_prior "auto" resolved by the layout).
        func configuration(for layout: Dataset.Layout) -> SCANTrainer.Configuration {
            var configuration = SCANTrainer.Configuration(clusters: k)
            configuration.heads = heads
            configuration.pretextEpochs = pretextEpochs
            configuration.pretextBatchSize = pretextBatchSize
            configuration.temperature = Float(temperature)
            configuration.neighbours = neighbours
            configuration.scanEpochs = scanEpochs
            configuration.scanBatchSize = scanBatchSize
            configuration.pretextLearningRate = Float(learningRate)
            configuration.scanLearningRate = Float(learningRate)
            configuration.entropyWeight = Float(entropyWeight)
            configuration.sizePrior = SCANTrainer.SizePrior(rawValue: sizePrior) ?? .automatic(for: layout)
            configuration.updateBackbone = updateBackbone
            configuration.selfLabelEpochs = selfLabelEpochs
            configuration.confidenceThreshold = Float(confidenceThreshold)
            configuration.emaDecay = Float(emaDecay)
            configuration.seed = UInt64(seed)
            return configuration
        }
    }

    public var metrics: [MetricDeclaration] {
        let step = "epoch, counted across the phases (pretext, mining, scan, self_label)"
        return [
            MetricDeclaration("pretext_loss", "SimCLR NT-Xent loss, mean over the epoch.", unit: "nats", step: step, phase: "pretext"),
            MetricDeclaration("neighbour_agreement", "Fraction of mined neighbours that share the sample's label.", step: step, phase: "mining"),
            MetricDeclaration(
                "scan_loss", "SCAN loss (consistency − entropy_weight × entropy) of the best head.", unit: "nats", step: step, phase: "scan"),
            MetricDeclaration("scan_consistency", "Mean −log ⟨p(x), p(neighbour)⟩ term of the SCAN loss.", unit: "nats", step: step, phase: "scan"),
            MetricDeclaration("scan_entropy", "Entropy of the mean cluster distribution.", unit: "nats", step: step, phase: "scan"),
            MetricDeclaration("self_label_loss", "Cross-entropy on confident pseudo-labels.", unit: "nats", step: step, phase: "self_label"),
            MetricDeclaration("confident_fraction", "Fraction of samples above confidence_threshold.", step: step, phase: "self_label"),
        ] + ClusterInputs.scoreMetrics(step: step)
    }

    public var example: JSONValue {
        ["dataset": "generated:blobs", "k": 3, "scan_epochs": 10, "self_label_epochs": 2, "neighbours": 10, "generated_samples": 300, "seed": 1]
    }

    public func references(_ params: JSONValue) -> [ResourceReference] {
        var references = ClusterInputs.datasetReference(params)
        if let job = params["backbone_job"]?.stringValue {
            references.append(ResourceReference(table: "jobs", id: job, field: "params.backbone_job", missing: "job to take a model from"))
        }
        return references
    }

    public func echo(_ normalized: JSONValue, given: JSONValue?) throws(ParameterError) -> JSONValue {
        try ClusterInputs.echo(
            normalized, given: given, library: library,
            notForVectors: ["pretext_epochs", "pretext_batch_size", "temperature", "image_normalization"],
            notForImages: ["normalize", "pca_components"])
    }

    public func validate(_ params: JSONValue) throws(ParameterError) {
        try ClusterInputs.checkDataset(params, library: library)
        if let typed = try? Parameters.decode(params),
            let outline = try? library.outline(typed.dataset, generatedSamples: typed.generatedSamples), typed.neighbours >= outline.samples
        {
            throw ParameterError(
                .outOfRange, field: "params.neighbours",
                reason: "\(typed.neighbours) neighbours need more samples; the dataset has \(outline.samples)")
        }
        if let job = params["backbone_job"]?.stringValue {
            let model: Data?
            // model.json alone says the kind (a few hundred bytes); the weights are read by the run.
            do { model = try artifact(job, TrainedModels.descriptionArtifact) ?? artifact(job, TrainedModels.legacyArtifact) } catch {
                throw ParameterError(.invalidValue, field: "params.backbone_job", reason: "could not be looked up: \(error)")
            }
            let isSCAN =
                model.map { data in
                    (try? JSONValue.parse(data))?["kind"]?.stringValue == SCANModel.kind || (try? LegacyModel.decode(data)) is SCANModel
                } ?? false
            guard isSCAN else {
                throw ParameterError(
                    .invalidValue, field: "params.backbone_job", reason: "no succeeded cluster.scan job '\(job.prefix(100))' with a trained model")
            }
        }
    }

    public func run(_ context: JobContext) throws -> JSONValue {
        let (params, given) = try ClusterInputs.start(self, context, library: library)
        let configuration = params.configuration(for: given.layout)
        // Feature vectors get the classical kinds' preprocessing (saved with the model); images go as they are.
        let prepared =
            given.layout.isImages ? nil : try ClassicalInputs.prepare(given, normalize: params.normalize, pcaComponents: params.pcaComponents)
        let dataset = prepared.map { ClassicalInputs.dataset($0, like: given) } ?? given
        guard dataset.count > configuration.neighbours else {
            throw JobFailure("params.neighbours: \(configuration.neighbours) neighbours need more samples; the dataset has \(dataset.count)")
        }
        let trainer = SCANTrainer(dataset: dataset, configuration: configuration, standardizeChannels: params.imageNormalization == "per_channel")
        if let checkpoint = try context.latestCheckpoint() {
            try trainer.restore(checkpoint.data)
        } else if let job = params.backboneJob {
            guard let model = try TrainedModels.load({ try artifact(job, $0) }) as? SCANModel else {
                throw JobFailure("params.backbone_job: job \(job) has no trained cluster.scan model")
            }
            do { try trainer.adoptBackbone(model.saved) } catch let error as DatasetError { throw JobFailure("\(error.field): \(error.reason)") }
        }
        let pretext = dataset.layout.isImages && params.backboneJob == nil ? configuration.pretextEpochs : 0
        let totalEpochs = Double(pretext + 1 + configuration.scanEpochs + configuration.selfLabelEpochs)
        var step = Int64(trainer.history.count)
        let start = Date()
        let summary = trainer.trunk.summary(input: trainer.inputShapeForSummary)
        let headParameters = 128 * configuration.clusters + configuration.clusters
        let cost: JSONValue = [
            "parameters": .integer(Int64(summary.parameters + headParameters)),
            "macs_per_sample": .integer(Int64(summary.macs + 128 * configuration.clusters)),
            "macs_convention": "multiply-accumulates of convolutions and linear maps (BN, ReLU and pooling not counted)",
        ]
        func saveModel() throws -> [Int] {
            let (clusters, probabilities) = trainer.assign()
            try ClusterInputs.writeAssignments(clusters, probabilities: probabilities, classes: configuration.clusters, context: context)
            try TrainedModels.save(
                SCANModel(try trainer.model(), preprocessing: prepared?.map),
                architecture: [
                    "backbone": .string(dataset.layout.isImages ? "cnn" : "mlp"), "parameters": cost["parameters"]!,
                    "macs_per_sample": cost["macs_per_sample"]!,
                ], datasetSHA256: ClusterInputs.datasetSHA256(params.dataset, library: library), pixelScale: dataset.pixelScale, context: context)
            return clusters
        }
        // A stopped job keeps its last checkpoint's assignments and model once the heads have trained
        // (before the SCAN phase they would be arbitrary).
        try ClusterInputs.keepingLastCheckpoint(
            context, restore: trainer.restore,
            save: {
                if trainer.history.contains(where: { $0.phase == .scan }) { _ = try saveModel() }
            }
        ) {
            while !trainer.isFinished {
                try context.checkCancellation()
                let done = Double(trainer.history.count)
                let (phase, epoch, epochs, steps) = (trainer.phase, trainer.epoch, trainer.epochsInPhase, trainer.stepsInEpoch)
                var batch = 0
                let record = try trainer.runEpoch(shouldStop: {
                    try context.checkCancellation()
                    // Before each batch: the phase, its epoch of how many, and the step within it (coalesced by the context).
                    context.progress(
                        (done + Double(batch) / Double(max(1, steps))) / totalEpochs, phase: phase.rawValue,
                        message: phase == .mining
                            ? "mining \(configuration.neighbours) neighbours"
                            : "\(phase.rawValue) epoch \(epoch + 1) of \(epochs), step \(min(batch + 1, steps)) of \(steps)")
                    batch += 1
                })
                step += 1
                let prefix = record.phase.rawValue
                if record.phase != .mining { context.metric("\(prefix)_loss", step: step, value: record.loss) }
                if let value = record.consistency { context.metric("scan_consistency", step: step, value: value) }
                if let value = record.entropy { context.metric("scan_entropy", step: step, value: value) }
                if let value = record.confidentFraction { context.metric("confident_fraction", step: step, value: value) }
                if record.phase == .mining, let agreement = trainer.neighbourAgreement {
                    context.metric("neighbour_agreement", step: step, value: agreement)
                }
                ClusterInputs.recordScores(record.scores, step: step, context: context)
                try context.checkpoint(step: step, data: trainer.checkpoint())
            }
        }
        context.progress(1, phase: "assigning")
        let clusters = try saveModel()
        let scores = dataset.labels.map { ClusteringMetrics.scores(clusters, $0) }
        let neighbours = trainer.neighbourLists.flatMap { $0.map { Int64($0).littleEndian } }
        try context.artifact(
            "neighbours.npy", mediaType: "application/octet-stream",
            data: NumericArray.npyFile(
                shape: [trainer.neighbourLists.count, trainer.neighbourLists.first?.count ?? 0], descr: "<i8",
                payload: neighbours.withUnsafeBufferPointer { Data(buffer: $0) }))
        let embeddings = trainer.features()
        try context.artifact(
            "embeddings.npy", mediaType: "application/octet-stream",
            data: NumericArray.npyFile(
                shape: [dataset.count, embeddings.count / dataset.count], descr: "<f4",
                payload: embeddings.withUnsafeBufferPointer { Data(buffer: $0) }))
        try ClusterInputs.writeHistory(
            trainer.history.enumerated().map { index, record in
                var row: [String: JSONValue] = [
                    "step": .integer(Int64(index + 1)), "phase": .string(record.phase.rawValue), "epoch": .integer(Int64(record.epoch)),
                    "epoch_seconds": .number(record.seconds),
                ]
                if record.phase != .mining { row["\(record.phase.rawValue)_loss"] = .number(record.loss) }
                if let value = record.consistency { row["scan_consistency"] = .number(value) }
                if let value = record.entropy { row["scan_entropy"] = .number(value) }
                if let value = record.confidentFraction { row["confident_fraction"] = .number(value) }
                if let value = record.bestHead { row["best_head"] = .integer(Int64(value)) }
                return row.merging(ClusterInputs.scoreFields(record.scores)) { first, _ in first }
            }, context: context)
        let confident = trainer.history.last { $0.phase == .selfLabel }?.confidentFraction
        let sizes = ClusteringMetrics.sizes(clusters, k: configuration.clusters)
        var warnings = trainer.warnings + ClusterInputs.resultWarnings(sizes: sizes)
        if let uneven = trainer.balanceWarning(clusters) { warnings.append(uneven) }
        if !trainer.history.contains(where: { $0.phase == .scan || $0.phase == .selfLabel }) {
            warnings.append("scan_epochs and self_label_epochs are 0: the clustering heads were never trained, so the assignments are arbitrary")
        }
        return [
            "k": .integer(Int64(configuration.clusters)), "samples": .integer(Int64(dataset.count)),
            "layout": ClusterInputs.layoutJSON(given.layout), "preprocessing": prepared?.description ?? .null,
            "best_head": .integer(Int64(trainer.bestHead)), "pretext_ran": .bool(pretext > 0),
            "neighbour_agreement": trainer.neighbourAgreement.map(JSONValue.number) ?? .null,
            "confident_fraction": confident.map(JSONValue.number) ?? .null,
            "cluster_sizes": ClusterInputs.integers(sizes),
            "size_prior": [
                "kind": .string(configuration.sizePrior.rawValue),
                "estimated_shares": trainer.estimatedSizes.map { .array($0.map { .number(Double($0)) }) } ?? .null,
            ],
            "scores": ClusterInputs.scoresJSON(scores), "warnings": .array(warnings.map(JSONValue.string)),
            "model": cost,
            "seconds": .number(Date().timeIntervalSince(start)),
        ]
    }
}
