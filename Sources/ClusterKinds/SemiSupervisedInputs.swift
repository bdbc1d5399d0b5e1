import Clustering
import Foundation
import Jobs
import RandomStreams
import Tensor

/// The MixMatch training parameters both kinds declare (with the shared declarations below), and the trainer
/// configuration they give — written once.
protocol MixMatchTrainingParameters {
    var epochs: Int { get }
    var batchSize: Int { get }
    var stepsPerEpoch: Int { get }
    var augmentations: Int { get }
    var temperature: Double { get }
    var alpha: Double { get }
    var lambdaU: Double { get }
    var rampupEpochs: Double { get }
    var learningRate: Double { get }
    var emaDecay: Double { get }
    var seed: Int64 { get }
}

extension MixMatchTrainingParameters {
    /// The trainer's configuration from the shared parameters; a kind sets its own fields on top.
    func trainingConfiguration(classes: Int) -> MixMatchTrainer.Configuration {
        var configuration = MixMatchTrainer.Configuration(classes: classes)
        configuration.epochs = epochs
        configuration.batchSize = batchSize
        configuration.stepsPerEpoch = stepsPerEpoch
        configuration.augmentations = augmentations
        configuration.temperature = Float(temperature)
        configuration.alpha = Float(alpha)
        configuration.unlabelledWeight = Float(lambdaU)
        configuration.rampUpEpochs = rampupEpochs
        configuration.learningRate = Float(learningRate)
        configuration.emaDecay = Float(emaDecay)
        configuration.seed = UInt64(seed)
        return configuration
    }
}

/// The training parameters `semi.mixmatch` and `cluster.ruc` share (RUC's retraining is MixMatch), declared
/// once; each kind's `Parameters` chooses its own defaults. Also the loop both kinds run: one network-epoch at a
/// time, progress before each step, a checkpoint after each network-epoch.
enum SemiSupervisedInputs {
    static let epochs = Parameter("epochs", .integer(minimum: 1, maximum: 1000), "Training epochs.")
    static let batchSize = Parameter(
        "batch_size", .integer(minimum: 2, maximum: 1024), "Labelled samples per step (and as many unlabelled ones, each seen K times).")
    static let stepsPerEpoch = Parameter(
        "steps_per_epoch", .integer(minimum: 0, maximum: 100_000),
        "Steps per epoch; 0 = one pass over the larger of the labelled and unlabelled sets.")
    static let augmentations = Parameter(
        "augmentations", .integer(minimum: 1, maximum: 8), "K: augmented views of each unlabelled sample whose mean prediction is its guessed label.")
    static let temperature = Parameter(
        "temperature", .number(minimum: 0.01, maximum: 10), "T: sharpening temperature of guessed labels (p^(1/T), renormalised).")
    static let alpha = Parameter("alpha", .number(minimum: 0.01, maximum: 100), "α of MixUp's λ ~ Beta(α, α); the weight used is max(λ, 1 − λ).")
    static let lambdaU = Parameter(
        "lambda_u", .number(minimum: 0, maximum: 10_000), "λ_u: weight of the unlabelled (squared L2) loss once ramped up.")
    static let rampUpEpochs = Parameter(
        "rampup_epochs", .number(minimum: 0, maximum: 1000), "Epochs over which λ_u grows linearly from 0 (0: at once).")
    static let learningRate = Parameter("learning_rate", .number(minimum: 0, maximum: 1, exclusiveMinimum: true), "Adam's learning rate.")
    static let emaDecay = Parameter(
        "ema_decay", .number(minimum: 0, maximum: 0.99999), "Exponential moving average of the weights, used for evaluation and the saved model.")
    static let imageNormalization = Parameter(
        "image_normalization", .string(maxLength: 20, allowed: ["scale", "per_channel"]),
        "Images only: scale (pixels divided by the training data's largest value) or per_channel (each channel then standardized by the "
            + "training data's mean and standard deviation, saved with the model).")

    /// Rows one training step pushes through a network: the labelled batch and K views of as many unlabelled samples.
    /// Bounded like cluster.scan's largest pretext step (2 × 2048), so a step's activations stay within memory.
    static let maxRowsPerStep = 4096

    /// The step-size bound, checked at submission.
    static func checkStep(_ params: JSONValue) throws(ParameterError) {
        let batch = params["batch_size"]?.integerValue ?? 64, views = params["augmentations"]?.integerValue ?? 2
        guard batch * (1 + views) <= Int64(maxRowsPerStep) else {
            throw ParameterError(
                .outOfRange, field: "params.batch_size",
                reason: "\(batch) samples with \(views) augmentations make \(batch * (1 + views)) rows a step; at most \(maxRowsPerStep)")
        }
    }

    /// Probabilities of every sample for every class are held (and saved) whole: N × classes is bounded like a dataset.
    static func checkOutputs(samples: Int, classes: Int, field: String) throws {
        guard classes <= SemiSupervisedSplit.maxClasses, samples * classes <= Dataset.Limits.maxValues else {
            throw JobFailure(
                "\(field): \(classes) classes for \(samples) samples is beyond the limits (at most \(SemiSupervisedSplit.maxClasses) classes, "
                    + "samples × classes at most \(Dataset.Limits.maxValues))")
        }
    }

    /// Trains until the trainer is finished: progress before every step, `record` after each epoch, a checkpoint
    /// after each network's epoch (RUC's two networks take turns within an epoch).
    static func train(
        _ trainer: MixMatchTrainer, context: JobContext, phase: String, record: (MixMatchTrainer.EpochRecord) throws -> Void
    ) throws {
        let configuration = trainer.configuration
        let totalSteps = Double(configuration.epochs * configuration.networks)
        while !trainer.isFinished {
            try context.checkCancellation()
            let (epoch, network, steps) = (trainer.epoch, trainer.nextNetwork, trainer.stepsPerEpoch)
            let done = Double(epoch * configuration.networks + network)
            var step = 0
            let finished = try trainer.runNetworkEpoch(shouldStop: {
                try context.checkCancellation()
                let which = configuration.networks > 1 ? "network \(network + 1) of \(configuration.networks), " : ""
                context.progress(
                    (done + Double(step) / Double(max(1, steps))) / totalSteps, phase: phase,
                    message: "epoch \(epoch + 1) of \(configuration.epochs), \(which)step \(min(step + 1, steps)) of \(steps)")
                step += 1
            })
            if let finished { try record(finished) }
            try context.checkpoint(step: Int64(trainer.epoch * configuration.networks + trainer.nextNetwork), data: trainer.checkpoint())
        }
    }

    /// The parameter count and MACs of one classifier network on the layout.
    static func cost(_ layout: Dataset.Layout, classes: Int, networks: Int) -> JSONValue {
        var rng = RandomStream(seed: 0)
        let network = ClusteringNetworks.classifier(for: layout, classes: classes, rng: &rng)
        let shape: [Int]
        switch layout {
        case .images(let c, let h, let w): shape = [c, h, w]
        case .features(let d): shape = [d]
        }
        let summary = network.summary(input: shape)
        return [
            "backbone": .string(layout.isImages ? "cnn" : "mlp"), "networks": .integer(Int64(networks)),
            "parameters": .integer(Int64(summary.parameters * networks)), "macs_per_sample": .integer(Int64(summary.macs * networks)),
            "macs_convention": "multiply-accumulates of convolutions and linear maps (BN, ReLU and pooling not counted), all networks together",
        ]
    }

    /// predictions.npy / .csv (index, class, confidence) and probabilities.npy.
    static func writePredictions(_ classes: [Int], probabilities: [Float], k: Int, name: String, column: String, context: JobContext) throws {
        let payload = classes.map { Int64($0).littleEndian }.withUnsafeBufferPointer { Data(buffer: $0) }
        try context.artifact(
            "\(name).npy", mediaType: "application/octet-stream", data: NumericArray.npyFile(shape: [classes.count], descr: "<i8", payload: payload))
        var csv = "index,\(column),confidence\n"
        for (index, value) in classes.enumerated() { csv += "\(index),\(value),\(probabilities[index * k + value])\n" }
        try context.artifact("\(name).csv", mediaType: "text/csv", data: Data(csv.utf8))
        try context.artifact(
            "probabilities.npy", mediaType: "application/octet-stream",
            data: NumericArray.npyFile(shape: [classes.count, k], descr: "<f4", payload: probabilities.withUnsafeBufferPointer { Data(buffer: $0) }))
    }

    /// Rows = true class, columns = predicted class.
    static func confusion(_ predicted: [Int], _ truth: [Int], classes: Int) -> JSONValue {
        var counts = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        for (p, t) in zip(predicted, truth) where (0..<classes).contains(p) && (0..<classes).contains(t) { counts[t][p] += 1 }
        return .array(counts.map { ClusterInputs.integers($0) })
    }

    static func accuracy(_ predicted: [Int], _ truth: [Int]) -> Double? {
        guard !truth.isEmpty else { return nil }
        return Double(zip(predicted, truth).filter { $0 == $1 }.count) / Double(truth.count)
    }

    static func optional(_ value: Double?) -> JSONValue { value.map(JSONValue.number) ?? .null }
}
