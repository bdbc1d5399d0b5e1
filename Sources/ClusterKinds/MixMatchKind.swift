import Clustering
import Foundation
import Jobs

/// `semi.mixmatch`: a classifier from a few labels and many unlabelled samples (Berthelot et al. 2019),
/// checkpointed every epoch and resumed exactly after a crash.
public struct MixMatchKind: TypedJobKind {
    let library: DatasetLibrary
    public init(library: DatasetLibrary) { self.library = library }
    public let name = "semi.mixmatch"
    public let summary =
        "MixMatch (Berthelot et al. 2019): semi-supervised classification from labels marked −1 where unknown (or labelled_per_class of a "
        + "labelled dataset): guessed, sharpened labels for K augmentations of each unlabelled sample, MixUp of labelled and unlabelled, an EMA model."

    public struct Parameters: ClusterParameters, MixMatchTrainingParameters {
        @Param(ClusterInputs.dataset) var dataset = ""
        @Param(
            .integer(minimum: 1, maximum: 100_000),
            "Keep this many labels per class (a seeded, class-balanced choice) and train on the rest as unlabelled; accuracy on them is `acc`. "
                + "Absent: the dataset's labels as they are (−1 = unlabelled).")
        var labelledPerClass: Int? = nil
        @Param(
            .number(minimum: 0, maximum: 0.5),
            "Share of each class's labelled samples held out of training and scored as acc_validation (at least one per class stays in training).")
        var validationFraction = 0.0
        @Param(.boolean, "Train the same network on the labelled samples alone (plain cross-entropy), to see what the unlabelled data adds.")
        var supervisedOnly = false
        @Param(SemiSupervisedInputs.epochs) var epochs = 40
        @Param(SemiSupervisedInputs.batchSize) var batchSize = 64
        @Param(SemiSupervisedInputs.stepsPerEpoch) var stepsPerEpoch = 0
        @Param(SemiSupervisedInputs.augmentations) var augmentations = 2
        @Param(SemiSupervisedInputs.temperature) var temperature = 0.5
        @Param(SemiSupervisedInputs.alpha) var alpha = 0.75
        @Param(SemiSupervisedInputs.lambdaU) var lambdaU = 75.0
        @Param(SemiSupervisedInputs.rampUpEpochs) var rampupEpochs = 16.0
        @Param(SemiSupervisedInputs.learningRate) var learningRate = 0.002
        @Param(SemiSupervisedInputs.emaDecay) var emaDecay = 0.999
        @Param(SemiSupervisedInputs.imageNormalization) var imageNormalization = "scale"
        @Param(ClusterInputs.generatedSamples) var generatedSamples = 600
        @Param(ClusterInputs.generatedClasses) var generatedClasses = 3
        @Param(ClusterInputs.seed) var seed: Int64 = 0
        public init() {}

        /// The trainer's configuration: every field from the declaration above, none defaulted here.
        func configuration(classes: Int) -> MixMatchTrainer.Configuration {
            var configuration = trainingConfiguration(classes: classes)
            configuration.supervisedOnly = supervisedOnly
            return configuration
        }
    }

    public var metrics: [MetricDeclaration] {
        [
            MetricDeclaration("loss_x", "Cross-entropy of the mixed labelled rows, mean over the epoch.", unit: "nats", step: "epoch"),
            MetricDeclaration(
                "loss_u", "Squared L2 distance of the mixed unlabelled rows to their guessed labels, mean over the epoch.", step: "epoch"),
            MetricDeclaration("lambda_u", "λ_u at the end of the epoch (after the ramp-up).", step: "epoch"),
            MetricDeclaration("acc", "Accuracy of the EMA model on samples whose labels were hidden (labelled_per_class).", step: "epoch"),
            MetricDeclaration("acc_validation", "Accuracy of the EMA model on the held-out labelled samples (validation_fraction).", step: "epoch"),
            MetricDeclaration("epoch_seconds", "Wall time of the epoch.", unit: "s", step: "epoch"),
        ]
    }

    public var example: JSONValue {
        ["dataset": "generated:blobs", "labelled_per_class": 5, "epochs": 5, "generated_samples": 300, "generated_classes": 3, "seed": 1]
    }

    public func references(_ params: JSONValue) -> [ResourceReference] { ClusterInputs.datasetReference(params) }

    public func echo(_ normalized: JSONValue, given: JSONValue?) throws(ParameterError) -> JSONValue {
        try ClusterInputs.echo(normalized, given: given, library: library, notForVectors: ["image_normalization"])
    }

    public func validate(_ params: JSONValue) throws(ParameterError) {
        try ClusterInputs.checkDataset(params, library: library)
        try SemiSupervisedInputs.checkStep(params)
        guard let reference = params["dataset"]?.stringValue, !reference.hasPrefix("generated:") else { return }
        // An uploaded dataset's label counts are in its description: check them without reading the data.
        let record: DatasetRecord?
        do { record = try library.store.dataset(id: reference) } catch {
            throw ParameterError(.invalidValue, field: "params.dataset", reason: "could not be looked up: \(error)")
        }
        guard let counts = record?.meta["label_counts"]?.objectValue else {
            throw ParameterError(.invalidValue, field: "params.dataset", reason: "has no labels; semi.mixmatch needs labels (−1 where unknown)")
        }
        var labels: [Int] = []
        for (key, value) in counts { if let label = Int(key), let n = value.integerValue { labels += [Int](repeating: label, count: Int(n)) } }
        do {
            _ = try SemiSupervisedSplit.make(
                labels: labels, labelledPerClass: params["labelled_per_class"]?.integerValue.map(Int.init),
                validationFraction: params["validation_fraction"]?.doubleValue ?? 0, seed: 0)
        } catch {
            throw ParameterError(.invalidValue, field: error.field == "labels" ? "params.dataset" : error.field, reason: error.reason)
        }
    }

    public func run(_ context: JobContext) throws -> JSONValue {
        let (params, dataset) = try ClusterInputs.start(self, context, library: library)
        let start = Date()
        guard let labels = dataset.labels else {
            throw JobFailure("params.dataset: the dataset has no labels; semi.mixmatch needs labels (−1 where unknown)")
        }
        let split: SemiSupervisedSplit
        do {
            split = try SemiSupervisedSplit.make(
                labels: labels, labelledPerClass: params.labelledPerClass, validationFraction: params.validationFraction, seed: UInt64(params.seed))
        } catch { throw JobFailure("\(error.field == "labels" ? "params.dataset" : error.field): \(error.reason)") }
        try SemiSupervisedInputs.checkOutputs(samples: dataset.count, classes: split.classes, field: "params.dataset")
        let configuration = params.configuration(classes: split.classes)
        var evaluation = MixMatchTrainer.Evaluation()
        evaluation.hidden = Array(zip(split.hidden, split.hiddenLabels)).map { (index: $0.0, label: $0.1) }
        evaluation.validation = Array(zip(split.validation, split.validationLabels)).map { (index: $0.0, label: $0.1) }
        let trainer = MixMatchTrainer(
            dataset: dataset, labelled: split.labelled, targets: split.targets, unlabelled: split.unlabelled, configuration: configuration,
            evaluation: evaluation, standardizeChannels: params.imageNormalization == "per_channel")
        if let checkpoint = try context.latestCheckpoint() { try trainer.restore(checkpoint.data) }
        let cost = SemiSupervisedInputs.cost(dataset.layout, classes: split.classes, networks: 1)
        func save() throws -> (classes: [Int], probabilities: [Float]) {
            let (predicted, probabilities) = trainer.assign()
            try SemiSupervisedInputs.writePredictions(
                predicted, probabilities: probabilities, k: split.classes, name: "predictions", column: "class", context: context)
            let ensemble = try ClassifierEnsemble(
                layout: dataset.layout, classes: split.classes, members: 1, standardization: trainer.standardization, weights: trainer.averagedModel()
            )
            try TrainedModels.save(
                MixMatchModel(ensemble), architecture: cost, datasetSHA256: ClusterInputs.datasetSHA256(params.dataset, library: library),
                pixelScale: dataset.pixelScale, context: context)
            return (predicted, probabilities)
        }
        try ClusterInputs.keepingLastCheckpoint(context, restore: trainer.restore, save: { _ = try save() }) {
            try SemiSupervisedInputs.train(trainer, context: context, phase: params.supervisedOnly ? "supervised" : "mixmatch") { record in
                let step = Int64(record.epoch)
                context.metric("loss_x", step: step, value: record.labelledLoss[0])
                if !configuration.supervisedOnly {
                    context.metric("loss_u", step: step, value: record.unlabelledLoss[0])
                    context.metric("lambda_u", step: step, value: record.unlabelledWeight)
                }
                if let value = record.hiddenAccuracy { context.metric("acc", step: step, value: value) }
                if let value = record.validationAccuracy { context.metric("acc_validation", step: step, value: value) }
                context.metric("epoch_seconds", step: step, value: record.seconds)
            }
        }
        context.progress(1, phase: "predicting")
        let (predicted, _) = try save()
        try ClusterInputs.writeHistory(
            trainer.history.map { record in
                var row: [String: JSONValue] = [
                    "step": .integer(Int64(record.epoch)), "epoch": .integer(Int64(record.epoch)), "loss_x": .number(record.labelledLoss[0]),
                    "epoch_seconds": .number(record.seconds),
                ]
                if !configuration.supervisedOnly {
                    row["loss_u"] = .number(record.unlabelledLoss[0])
                    row["lambda_u"] = .number(record.unlabelledWeight)
                }
                if let value = record.hiddenAccuracy { row["acc"] = .number(value) }
                if let value = record.validationAccuracy { row["acc_validation"] = .number(value) }
                return row
            }, context: context)
        let hiddenPredicted = split.hidden.map { predicted[$0] }
        let validationPredicted = split.validation.map { predicted[$0] }
        var warnings: [String] = []
        if split.unlabelled.isEmpty && !params.supervisedOnly {
            warnings.append("every training sample has a label: this was supervised training with MixUp (no unlabelled data to use)")
        }
        return [
            "classes": .integer(Int64(split.classes)), "samples": .integer(Int64(dataset.count)),
            "layout": ClusterInputs.layoutJSON(dataset.layout), "supervised_only": .bool(params.supervisedOnly),
            "labelled": .integer(Int64(split.labelled.count)), "unlabelled": .integer(Int64(split.unlabelled.count)),
            "validation": .integer(Int64(split.validation.count)), "hidden_labels": .integer(Int64(split.hidden.count)),
            "scores": [
                "acc": SemiSupervisedInputs.optional(SemiSupervisedInputs.accuracy(hiddenPredicted, split.hiddenLabels)),
                "acc_validation": SemiSupervisedInputs.optional(SemiSupervisedInputs.accuracy(validationPredicted, split.validationLabels)),
            ],
            "confusion_matrix": split.hidden.isEmpty
                ? .null : SemiSupervisedInputs.confusion(hiddenPredicted, split.hiddenLabels, classes: split.classes),
            "class_sizes": ClusterInputs.integers(ClusteringMetrics.sizes(predicted, k: split.classes)),
            "warnings": .array(warnings.map(JSONValue.string)),
            "model": cost,
            "seconds": .number(Date().timeIntervalSince(start)),
            "mean_epoch_seconds": .number(trainer.history.map(\.seconds).reduce(0, +) / Double(max(1, trainer.history.count))),
        ]
    }
}
