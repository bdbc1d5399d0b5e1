import Foundation
import RandomStreams
import Tensor

/// The pieces of MixMatch (Berthelot et al. 2019) and of RUC's retraining (Park et al. 2021) that are
/// plain arithmetic, kept apart from the training loop so each can be checked against a hand computation.
public enum MixMatch {
    /// Sharpening: each row's p_i^(1/T) / Σ_j p_j^(1/T) (rows of `classes` probabilities).
    public static func sharpen(_ p: [Float], classes: Int, temperature: Float) -> [Float] {
        var out = p
        let power = 1 / Double(temperature)
        for row in 0..<(p.count / max(1, classes)) {
            let range = (row * classes)..<((row + 1) * classes)
            // In log space from the row's largest value, so a small T neither underflows nor overflows.
            let largest = Double(p[range].max() ?? 1)
            guard largest > 0 else { continue }
            var total = 0.0
            for i in range {
                let value = p[i] > 0 ? exp(power * log(Double(p[i]) / largest)) : 0
                out[i] = Float(value)
                total += value
            }
            for i in range { out[i] = Float(Double(out[i]) / total) }
        }
        return out
    }

    /// MixMatch's λ′ = max(λ, 1 − λ): the mixed sample stays closer to its first input, so a labelled row
    /// stays mostly labelled.
    public static func mixWeight(_ lambda: Float) -> Float { max(lambda, 1 - lambda) }

    /// The linear ramp of the unlabelled weight: progress / length clamped to [0, 1] (1 at once for length 0).
    public static func rampUp(progress: Double, length: Double) -> Float {
        guard length > 0 else { return 1 }
        return Float(min(1, max(0, progress / length)))
    }

    /// One-hot rows with label smoothing ε: 1 − ε + ε/K on the label, ε/K elsewhere.
    public static func smoothedOneHot(_ labels: [Int], classes: Int, smoothing: Float) -> [Float] {
        var out = [Float](repeating: smoothing / Float(classes), count: labels.count * classes)
        for (row, label) in labels.enumerated() { out[row * classes + label] += 1 - smoothing }
        return out
    }

    /// RUC's co-refinement of a clean sample's target: w·ỹ + (1 − w)·p′, sharpened with T, where ỹ is the
    /// smoothed given label, p′ the *other* network's prediction and w = p′(label) / max p′ — how much the other
    /// network believes the label relative to its own best guess: a label it agrees with (or an untrained, flat
    /// p′) keeps w = 1; a label it confidently contradicts moves toward its guess.
    public static func coRefine(labels: [Int], smoothing: Float, other: [Float], classes: Int, temperature: Float) -> [Float] {
        let given = smoothedOneHot(labels, classes: classes, smoothing: smoothing)
        var mixed = given
        for (row, label) in labels.enumerated() {
            let largest = other[(row * classes)..<((row + 1) * classes)].max() ?? 0
            let w = largest > 0 ? other[row * classes + label] / largest : 1
            for c in 0..<classes { mixed[row * classes + c] = w * given[row * classes + c] + (1 - w) * other[row * classes + c] }
        }
        return sharpen(mixed, classes: classes, temperature: temperature)
    }

    /// MixMatch's loss on a mixed batch: the first `labelledRows` rows by cross-entropy against their soft
    /// targets (L_x), the rest by the squared distance of their predicted probabilities to the targets, averaged
    /// over rows and classes (L_u, the paper's 1/(K·|U′|) Σ‖q − p‖²); total = L_x + `unlabelledWeight`·L_u.
    public static func loss(logits: Variable, targets: Tensor, labelledRows: Int, unlabelledWeight: Float) -> (
        total: Variable, labelled: Float, unlabelled: Float
    ) {
        let rows = logits.shape[0], classes = logits.shape[1]
        let labelledTargets = Tensor(shape: [labelledRows, classes], storage: Array(targets.storage[0..<(labelledRows * classes)]))
        let lx = Ops.crossEntropy(Ops.gather(logits, rows: Array(0..<labelledRows)), targets: Variable(labelledTargets))
        guard rows > labelledRows else { return (lx, lx.value.storage[0], 0) }
        let unlabelledTargets = Tensor(
            shape: [rows - labelledRows, classes], storage: Array(targets.storage[(labelledRows * classes)..<(rows * classes)]))
        let difference = Ops.subtract(Ops.softmax(Ops.gather(logits, rows: Array(labelledRows..<rows))), Variable(unlabelledTargets))
        let lu = Ops.mean(Ops.multiply(difference, difference))
        return (Ops.add(lx, Ops.scale(lu, unlabelledWeight)), lx.value.storage[0], lu.value.storage[0])
    }

    /// MixUp of a batch with a permutation of itself: rows λ′·x_i + (1 − λ′)·x_π(i), targets alike.
    public static func mixUp(_ inputs: Tensor, _ targets: Tensor, permutation: [Int], weight: Float) -> (inputs: Tensor, targets: Tensor) {
        func mix(_ t: Tensor) -> Tensor {
            let width = t.storage.count / max(1, t.shape[0])
            var out = t.storage
            for (row, partner) in permutation.enumerated() {
                for i in 0..<width { out[row * width + i] = weight * t.storage[row * width + i] + (1 - weight) * t.storage[partner * width + i] }
            }
            return Tensor(shape: t.shape, storage: out)
        }
        return (mix(inputs), mix(targets))
    }
}

/// MixMatch training of one network — or, for RUC, two networks trained in turn, each guessing labels
/// together with the other (co-guessing), refining the other's clean labels (co-refinement) and adding
/// confident unlabelled samples to the clean set after each epoch (co-refurbishing). Each network's
/// epoch is a checkpoint boundary; every random draw comes from (seed, epoch, network, step), so a run
/// resumed from any checkpoint takes exactly the steps the uninterrupted one would have.
public final class MixMatchTrainer: @unchecked Sendable {
    public struct Configuration: Sendable, Codable, Equatable {
        public var classes: Int
        public var epochs = 40
        public var batchSize = 64
        /// Steps per epoch; 0 = one pass over the larger of the labelled and unlabelled sets.
        public var stepsPerEpoch = 0
        /// K: augmentations of each unlabelled sample averaged into its guessed label.
        public var augmentations = 2
        public var temperature: Float = 0.5
        public var alpha: Float = 0.75
        /// λ_u, the weight of the unlabelled loss once ramped up.
        public var unlabelledWeight: Float = 75
        /// Epochs over which λ_u ramps up linearly from 0.
        public var rampUpEpochs: Double = 16
        public var learningRate: Float = 0.002
        public var emaDecay: Float = 0.999
        /// Train on the labelled samples alone (plain cross-entropy on augmented views), to see what the unlabelled add.
        public var supervisedOnly = false
        public var seed: UInt64 = 0
        /// RUC: two networks with co-guessing, co-refinement and co-refurbishing.
        public var networks = 1
        /// RUC's robustness term: each labelled batch is also seen through the strong augmentation and scored by
        /// cross-entropy to its label smoothed with this ε, beside MixMatch's loss on weak views (nil: no such term).
        public var strongViewSmoothing: Float?
        /// Averaged confidence above which an unlabelled sample joins the clean set after an epoch (0: never).
        public var refurbishThreshold: Float = 0

        public init(classes: Int) { self.classes = classes }
    }

    /// Samples scored after each epoch (at most `ClusteringNetworks.evaluationLimit` of each set).
    public struct Evaluation: Sendable {
        /// Samples whose labels were hidden from training, with their labels (`acc`).
        public var hidden: [(index: Int, label: Int)] = []
        /// Labelled samples held out from training (`acc_validation`).
        public var validation: [(index: Int, label: Int)] = []
        /// Every sample's ground truth (−1 unknown), for clustering scores of RUC (`acc`, `nmi`, `ari`).
        public var truth: [Int]?
        public init() {}
    }

    public struct EpochRecord: Sendable, Codable, Equatable {
        public var epoch: Int
        /// Mean losses of each network over the epoch.
        public var labelledLoss: [Double]
        public var unlabelledLoss: [Double]
        public var unlabelledWeight: Double
        public var hiddenAccuracy: Double?
        public var validationAccuracy: Double?
        public var scores: ClusteringScores?
        public var cleanSize: Int
        public var cleanAccuracy: Double?
        public var refurbished: Int
        public var seconds: Double
    }

    public let configuration: Configuration
    public let layout: Dataset.Layout
    public let count: Int
    public let inputs: [Float]
    public let standardization: ChannelNormalization?
    public let networks: [Sequential]
    let inputShape: [Int]
    let weak: Augmentation
    let strong: Augmentation
    let evaluation: Evaluation
    /// Cluster → label under the best matching of the initial labels to the truth (clean-set accuracy of RUC).
    let cleanMapping: [Int: Int]?

    public private(set) var labelledIndices: [Int]
    public private(set) var labelledTargets: [Int]
    public private(set) var unlabelledIndices: [Int]
    /// Epochs finished, and the next network to train within the current one.
    public private(set) var epoch = 0
    public private(set) var nextNetwork = 0
    public private(set) var history: [EpochRecord] = []
    private var optimizers: [Adam]
    private var averages: [ExponentialMovingAverage]
    /// The current epoch's per-network losses until it ends.
    private var pending: (labelled: [Double], unlabelled: [Double], weight: Double) = ([], [], 0)

    /// - Parameters:
    ///   - labelled: indices of the samples whose labels (`targets`, 0…classes−1) train the network.
    ///   - unlabelled: indices used without labels (ignored when `supervisedOnly`).
    ///   - trunks: RUC on a SCAN source: the trunk weights every network starts from (heads stay independent).
    public init(
        dataset: Dataset, labelled: [Int], targets: [Int], unlabelled: [Int], configuration: Configuration, evaluation: Evaluation = Evaluation(),
        standardizeChannels: Bool = false
    ) {
        precondition(labelled.count == targets.count, "one target per labelled sample")
        self.configuration = configuration
        self.evaluation = evaluation
        layout = dataset.layout
        count = dataset.count
        labelledIndices = labelled
        labelledTargets = targets
        unlabelledIndices = unlabelled
        switch dataset.layout {
        case .images(let c, let h, let w):
            inputs = dataset.values
            standardization = standardizeChannels ? ClusteringNetworks.channelStatistics(dataset) : nil
            inputShape = [c, h, w]
            weak = ClusteringNetworks.augmentation(for: dataset.layout, policy: "mild")
            strong = ClusteringNetworks.augmentation(for: dataset.layout, policy: "strong")
        case .features(let d):
            let normalization = ClusteringNetworks.standardizer(dataset)
            standardization = normalization
            inputs = ClusteringNetworks.standardize(dataset.values, d: d, normalization)
            inputShape = [d]
            weak = ClusteringNetworks.augmentation(for: dataset.layout)
            strong = Augmentation([.gaussianNoise(sigma: 0.2)], range: -Float.greatestFiniteMagnitude...Float.greatestFiniteMagnitude)
        }
        networks = (0..<configuration.networks).map { index in
            var rng = RandomStream(seed: configuration.seed, stream: 40 + index)
            return ClusteringNetworks.classifier(for: dataset.layout, classes: configuration.classes, rng: &rng)
        }
        optimizers = networks.map { Adam($0.parameters.map(\.variable), learningRate: configuration.learningRate) }
        averages = networks.map { ExponentialMovingAverage($0.parameters.map(\.variable), decay: configuration.emaDecay) }
        if let truth = evaluation.truth {
            let known = labelled.indices.filter { truth[labelled[$0]] >= 0 }
            cleanMapping = known.isEmpty ? nil : ClusteringMetrics.bestMapping(known.map { targets[$0] }, known.map { truth[labelled[$0]] })
        } else {
            cleanMapping = nil
        }
    }

    public var isFinished: Bool { epoch >= configuration.epochs }

    /// Copies a trained classifier's trunk (weights and batch-norm statistics) into every network — RUC on a SCAN
    /// source, whose model has this architecture with `classes` outputs; each network keeps its own independently
    /// initialised head.
    public func adoptTrunk(_ weights: Data) throws {
        for network in networks {
            var rng = RandomStream(seed: 0)
            let donor = Sequential([network.layers[0], Linear(128, configuration.classes, rng: &rng)])
            try TensorCheckpoint.restore(weights, into: donor, optimizer: nil)
        }
        averages = networks.map { ExponentialMovingAverage($0.parameters.map(\.variable), decay: configuration.emaDecay) }
    }

    public var stepsPerEpoch: Int {
        if configuration.stepsPerEpoch > 0 { return configuration.stepsPerEpoch }
        // The same steps with supervised_only, so the comparison spends the same compute.
        let largest = max(labelledIndices.count, unlabelledIndices.count)
        return max(1, (largest + configuration.batchSize - 1) / configuration.batchSize)
    }

    /// A 64-bit hash of the run's seed and counters: every random draw's seed.
    func stream(_ parts: UInt64...) -> RandomStream {
        var h = configuration.seed ^ 0x4D49_584D_4154_4348
        for part in parts {
            h = (h ^ part) &* 0x9E37_79B9_7F4A_7C15
            h ^= h >> 29
            h = h &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 32
        }
        return RandomStream(seed: h)
    }

    /// `rows` entries of `pool`, continuing a sequence of shuffled passes over it (pass p shuffled by (salt, p)).
    func draw(_ pool: [Int], rows range: Range<Int>, salt: UInt64, cache: inout [Int: [Int]]) -> [Int] {
        range.map { position in
            let pass = position / pool.count
            if cache[pass] == nil {
                var order = pool
                var rng = stream(salt, UInt64(pass))
                order.shuffle(using: &rng)
                cache[pass] = order
            }
            return cache[pass]![position % pool.count]
        }
    }

    /// Augmented views of samples, each from its own stream (sample, view, salt).
    func views(_ indices: [Int], augmentation: Augmentation, view: UInt64, salt: UInt64) -> Tensor {
        let size = inputShape.reduce(1, *)
        var storage = [Float]()
        storage.reserveCapacity(indices.count * size)
        let (c, h, w) = layout.isImages ? (inputShape[0], inputShape[1], inputShape[2]) : (1, 1, size)
        for index in indices {
            var sample = Array(inputs[(index * size)..<((index + 1) * size)])
            var rng = stream(salt, UInt64(index), view)
            augmentation.apply(&sample, channels: c, height: h, width: w, rng: &rng)
            storage += sample
        }
        return Tensor(shape: [indices.count] + inputShape, storage: storage)
    }

    /// The network's logits; images standardized per channel first when the run asked for it.
    func logits(_ network: Sequential, _ x: Tensor, training: Bool) -> Variable {
        let input = Variable(x)
        return network.forward(
            layout.isImages ? standardization.map { ClusteringNetworks.standardizeChannels(input, $0) } ?? input : input, training: training)
    }

    func probabilities(_ network: Sequential, _ x: Tensor, training: Bool = false) -> [Float] {
        GradientMode.withoutGradients { Ops.softmax(logits(network, x, training: training)).value.storage }
    }

    /// Trains the next network for one epoch; when the last network of the epoch is done, refurbishes the clean
    /// set, scores the models and returns the epoch's record.
    @discardableResult
    public func runNetworkEpoch(shouldStop: () throws -> Void = {}) throws -> EpochRecord? {
        let start = Date()
        let n = nextNetwork
        if n == 0 { pending = ([], [], 0) }
        let (lx, lu, weight) = try train(network: n, shouldStop: shouldStop)
        pending.labelled.append(lx)
        pending.unlabelled.append(lu)
        pending.weight = weight
        nextNetwork += 1
        guard nextNetwork == networks.count else { return nil }
        nextNetwork = 0
        let refurbished = refurbish()
        epoch += 1
        var record = EpochRecord(
            epoch: epoch, labelledLoss: pending.labelled, unlabelledLoss: pending.unlabelled, unlabelledWeight: pending.weight,
            cleanSize: labelledIndices.count, refurbished: refurbished, seconds: 0)
        score(&record)
        record.seconds = Date().timeIntervalSince(start)
        history.append(record)
        return record
    }

    private func train(network n: Int, shouldStop: () throws -> Void) throws -> (Double, Double, Double) {
        let network = networks[n], adam = optimizers[n]
        let parameters = adam.parameters
        let classes = configuration.classes, batch = configuration.batchSize, steps = stepsPerEpoch
        let e = UInt64(epoch), network64 = UInt64(n)
        var labelledCache: [Int: [Int]] = [:], unlabelledCache: [Int: [Int]] = [:]
        let targetOf = Dictionary(zip(labelledIndices, labelledTargets), uniquingKeysWith: { first, _ in first })
        var sums = (0.0, 0.0), weight: Float = 0
        let useUnlabelled = !configuration.supervisedOnly && !unlabelledIndices.isEmpty
        for step in 0..<steps {
            try shouldStop()
            let s = UInt64(step)
            let xIndices = draw(
                labelledIndices, rows: (step * batch)..<((step + 1) * batch), salt: 0x11 ^ (e << 8) ^ (network64 << 40), cache: &labelledCache)
            let xViews = views(xIndices, augmentation: weak, view: 0, salt: 0x21 ^ (e << 8) ^ (network64 << 40) ^ (s << 20))
            let labels = xIndices.map { targetOf[$0] ?? 0 }
            // The other network's view of the labelled batch, for co-refinement (RUC).
            var xTargets: [Float]
            if networks.count > 1 {
                let other = probabilities(networks[(n + 1) % networks.count], xViews)
                xTargets = MixMatch.coRefine(labels: labels, smoothing: 0, other: other, classes: classes, temperature: configuration.temperature)
            } else {
                xTargets = MixMatch.smoothedOneHot(labels, classes: classes, smoothing: 0)
            }
            let progress = Double(epoch) + Double(step) / Double(steps)
            let loss: Variable
            if useUnlabelled {
                let uIndices = draw(
                    unlabelledIndices, rows: (step * batch)..<((step + 1) * batch), salt: 0x12 ^ (e << 8) ^ (network64 << 40), cache: &unlabelledCache
                )
                let uViews = (0..<configuration.augmentations).map {
                    views(uIndices, augmentation: weak, view: UInt64($0 + 1), salt: 0x22 ^ (e << 8) ^ (network64 << 40) ^ (s << 20))
                }
                // Label guessing: the mean prediction over the K views (and, for RUC, over both networks), sharpened.
                var guess = [Float](repeating: 0, count: batch * classes)
                // The network in training guesses in training mode (batch statistics, as the paper's code); the other in evaluation mode.
                for (index, guesser) in networks.enumerated() {
                    for view in uViews {
                        let p = probabilities(guesser, view, training: index == n)
                        for i in 0..<guess.count { guess[i] += p[i] }
                    }
                }
                let scale = 1 / Float(networks.count * uViews.count)
                guess = MixMatch.sharpen(guess.map { $0 * scale }, classes: classes, temperature: configuration.temperature)
                // MixUp over the concatenation of the labelled batch and every unlabelled view.
                let all = Tensor(shape: [batch * (1 + uViews.count)] + inputShape, storage: xViews.storage + uViews.flatMap(\.storage))
                var targets = xTargets
                for _ in uViews { targets += guess }
                var rng = stream(0x31, e, network64, s)
                let lambda = MixMatch.mixWeight(Float(rng.beta(Double(configuration.alpha), Double(configuration.alpha))))
                var permutation = Array(0..<all.shape[0])
                permutation.shuffle(using: &rng)
                let (mixed, mixedTargets) = MixMatch.mixUp(
                    all, Tensor(shape: [all.shape[0], classes], storage: targets), permutation: permutation, weight: lambda)
                weight = configuration.unlabelledWeight * MixMatch.rampUp(progress: progress, length: configuration.rampUpEpochs)
                let parts = MixMatch.loss(
                    logits: logits(network, mixed, training: true), targets: mixedTargets, labelledRows: batch, unlabelledWeight: weight)
                loss = parts.total
                sums.0 += Double(parts.labelled)
                sums.1 += Double(parts.unlabelled)
            } else {
                loss = Ops.crossEntropy(
                    logits(network, xViews, training: true), targets: Variable(Tensor(shape: [batch, classes], storage: xTargets)))
                sums.0 += Double(loss.value.storage[0])
            }
            var total = loss
            if let smoothing = configuration.strongViewSmoothing {
                // As RUC's code: the strong view is not mixed; its smoothed label keeps a noisy label from being memorized.
                let strongViews = views(xIndices, augmentation: strong, view: 7, salt: 0x23 ^ (e << 8) ^ (network64 << 40) ^ (s << 20))
                total = Ops.add(loss, Ops.crossEntropy(logits(network, strongViews, training: true), labels: labels, labelSmoothing: smoothing))
            }
            adam.zeroGradients(parameters)
            total.backward()
            adam.step()
            averages[n].update(parameters, step: adam.steps)
        }
        return (sums.0 / Double(steps), sums.1 / Double(steps), Double(weight))
    }

    /// Runs `body` with network `n` holding its averaged (EMA) weights, then puts the trained ones back.
    func withAveragedWeights<T>(_ n: Int, _ body: () throws -> T) rethrows -> T {
        let parameters = optimizers[n].parameters
        let trained = parameters.map(\.value.storage)
        for (parameter, shadow) in zip(parameters, averages[n].shadow) { parameter.value.storage = shadow }
        defer { for (parameter, values) in zip(parameters, trained) { parameter.value.storage = values } }
        return try body()
    }

    /// The averaged prediction of every network's EMA weights for samples laid out like the inputs.
    public func probabilities(_ values: [Float], count n: Int) -> [Float] {
        var total = [Float](repeating: 0, count: n * configuration.classes)
        for index in networks.indices {
            let p = withAveragedWeights(index) {
                inferInBatches(values, count: n, inputShape: inputShape) { x in
                    let input = layout.isImages ? standardization.map { ClusteringNetworks.standardizeChannels(x, $0) } ?? x : x
                    return Ops.softmax(networks[index].forward(input, training: false))
                }
            }
            for i in 0..<total.count { total[i] += p[i] / Float(networks.count) }
        }
        return total
    }

    func probabilities(of indices: [Int]) -> [Float] {
        let size = inputShape.reduce(1, *)
        var values = [Float]()
        values.reserveCapacity(indices.count * size)
        for index in indices { values += inputs[(index * size)..<((index + 1) * size)] }
        return probabilities(values, count: indices.count)
    }

    /// Every sample's prediction and probabilities (the averaged EMA networks).
    public func assign() -> (classes: [Int], probabilities: [Float]) {
        let p = probabilities(inputs, count: count)
        return (ClusteringNetworks.argmax(p, classes: configuration.classes), p)
    }

    /// Co-refurbishing: unlabelled samples whose averaged prediction reaches the threshold join the clean set
    /// with that prediction as their label.
    private func refurbish() -> Int {
        guard configuration.refurbishThreshold > 0, !unlabelledIndices.isEmpty else { return 0 }
        let k = configuration.classes
        let p = probabilities(of: unlabelledIndices)
        var keep: [Int] = [], joined = 0
        for (row, index) in unlabelledIndices.enumerated() {
            let best = (0..<k).max { p[row * k + $0] < p[row * k + $1] } ?? 0
            if p[row * k + best] >= configuration.refurbishThreshold {
                labelledIndices.append(index)
                labelledTargets.append(best)
                joined += 1
            } else {
                keep.append(index)
            }
        }
        unlabelledIndices = keep
        return joined
    }

    private func score(_ record: inout EpochRecord) {
        let limit = ClusteringNetworks.evaluationLimit
        func accuracy(_ set: [(index: Int, label: Int)]) -> Double? {
            guard !set.isEmpty else { return nil }
            let chosen = Array(set.prefix(limit))
            let predicted = ClusteringNetworks.argmax(probabilities(of: chosen.map(\.index)), classes: configuration.classes)
            return Double(zip(predicted, chosen).filter { $0.0 == $0.1.label }.count) / Double(chosen.count)
        }
        record.hiddenAccuracy = accuracy(evaluation.hidden)
        record.validationAccuracy = accuracy(evaluation.validation)
        if let truth = evaluation.truth {
            let known = Array((0..<count).filter { truth[$0] >= 0 }.prefix(limit))
            if !known.isEmpty {
                let predicted = ClusteringNetworks.argmax(probabilities(of: known), classes: configuration.classes)
                record.scores = ClusteringMetrics.scores(predicted, known.map { truth[$0] })
            }
            if let cleanMapping {
                let pairs = zip(labelledIndices, labelledTargets).filter { truth[$0.0] >= 0 }
                if !pairs.isEmpty { record.cleanAccuracy = Double(pairs.filter { cleanMapping[$0.1] == truth[$0.0] }.count) / Double(pairs.count) }
            }
        }
    }

    struct State: Codable {
        var epoch: Int
        var nextNetwork: Int
        var labelled: [Int]
        var targets: [Int]
        var unlabelled: [Int]
        var history: [EpochRecord]
        var models: [Data]
        var averages: [[Data]]
        var pendingLabelled: [Double]
        var pendingUnlabelled: [Double]
        var pendingWeight: Double
    }

    public func checkpoint() throws -> Data {
        try PropertyListEncoder().encode(
            State(
                epoch: epoch, nextNetwork: nextNetwork, labelled: labelledIndices, targets: labelledTargets, unlabelled: unlabelledIndices,
                history: history, models: try networks.indices.map { try TensorCheckpoint.save(networks[$0], optimizer: optimizers[$0]) },
                averages: averages.map { $0.shadow.map(TensorCheckpoint.bytes) }, pendingLabelled: pending.labelled,
                pendingUnlabelled: pending.unlabelled, pendingWeight: pending.weight))
    }

    public func restore(_ data: Data) throws {
        let state = try PropertyListDecoder().decode(State.self, from: data)
        guard state.models.count == networks.count, state.averages.count == networks.count, state.labelled.count == state.targets.count,
            (state.labelled + state.unlabelled).allSatisfy({ (0..<count).contains($0) }),
            state.targets.allSatisfy({ (0..<configuration.classes).contains($0) })
        else { throw DatasetError(field: "checkpoint", "the checkpoint does not fit this run's data and networks") }
        for (index, model) in state.models.enumerated() {
            try TensorCheckpoint.restore(model, into: networks[index], optimizer: optimizers[index])
            averages[index].restore(state.averages[index].map(TensorCheckpoint.floats))
        }
        epoch = state.epoch
        nextNetwork = state.nextNetwork
        labelledIndices = state.labelled
        labelledTargets = state.targets
        unlabelledIndices = state.unlabelled
        history = state.history
        pending = (state.pendingLabelled, state.pendingUnlabelled, state.pendingWeight)
    }

    /// The networks with their averaged (EMA) weights, as one `Sequential` (layer i = network i), for saving.
    public func averagedModel() throws -> Data {
        var saved = Data()
        func save(_ index: Int) throws {
            if index == networks.count {
                saved = try TensorCheckpoint.save(Sequential(networks), optimizer: nil)
                return
            }
            try withAveragedWeights(index) { try save(index + 1) }
        }
        try save(0)
        return saved
    }

    /// The trunk's input shape per sample.
    public var inputShapeForSummary: [Int] { inputShape }
}
