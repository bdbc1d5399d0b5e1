import Foundation
import RandomStreams
import Tensor
import XCTest

@testable import Clustering

/// Issue 15: MixMatch's pieces against hand computations, its loss's gradient by finite differences, the
/// semi-supervised split, RUC's clean-set selection against brute force, and the trainer: what the unlabelled
/// data adds, co-refurbishing, and resumption (also between RUC's two networks) bit for bit.
final class MixMatchTests: XCTestCase {
    func testSharpenMixWeightAndRamp() {
        // (0.6², 0.4²) / (0.36 + 0.16) at T = ½; T = 1 leaves a row as it is; a one-hot row stays one-hot.
        let sharpened = MixMatch.sharpen([0.6, 0.4, 0.2, 0.8, 1, 0], classes: 2, temperature: 0.5)
        XCTAssertEqual(sharpened[0], 0.36 / 0.52, accuracy: 1e-6)
        XCTAssertEqual(sharpened[1], 0.16 / 0.52, accuracy: 1e-6)
        XCTAssertEqual(sharpened[2], 0.04 / 0.68, accuracy: 1e-6)
        XCTAssertEqual(Array(sharpened[4...]), [1, 0])
        XCTAssertEqual(MixMatch.sharpen([0.3, 0.7], classes: 2, temperature: 1), [0.3, 0.7])
        // A tiny temperature neither overflows nor divides by zero: the largest entry takes everything.
        let cold = MixMatch.sharpen([0.5, 0.4, 0.1], classes: 3, temperature: 0.01)
        XCTAssertEqual(cold[0], 1, accuracy: 1e-3)
        XCTAssertTrue(cold.allSatisfy(\.isFinite))
        XCTAssertEqual(MixMatch.mixWeight(0.3), 0.7)
        XCTAssertEqual(MixMatch.mixWeight(0.8), 0.8)
        XCTAssertEqual(MixMatch.rampUp(progress: 4, length: 16), 0.25)
        XCTAssertEqual(MixMatch.rampUp(progress: 20, length: 16), 1)
        XCTAssertEqual(MixMatch.rampUp(progress: 0, length: 0), 1)
    }

    func testMixUpSmoothingAndCoRefinement() {
        // Rows (1, 2) and (3, 4) mixed with the permutation (1, 0) at λ′ = 0.75.
        let inputs = Tensor(shape: [2, 2], storage: [1, 2, 3, 4]), targets = Tensor(shape: [2, 2], storage: [1, 0, 0, 1])
        let (mixed, mixedTargets) = MixMatch.mixUp(inputs, targets, permutation: [1, 0], weight: 0.75)
        XCTAssertEqual(mixed.storage, [1.5, 2.5, 2.5, 3.5])
        XCTAssertEqual(mixedTargets.storage, [0.75, 0.25, 0.25, 0.75])
        // ε = 0.3 over 3 classes: 0.8 on the label, 0.1 elsewhere.
        let smoothed = MixMatch.smoothedOneHot([2], classes: 3, smoothing: 0.3)
        XCTAssertEqual(smoothed[0], 0.1, accuracy: 1e-6)
        XCTAssertEqual(smoothed[2], 0.8, accuracy: 1e-6)
        // Co-refinement: the other network gives p′ = (0.2, 0.8) to a sample labelled 0 (ε = 0): w = 0.2 / 0.8 = ¼, so
        // the mixture is ¼·(1, 0) + ¾·(0.2, 0.8) = (0.4, 0.6), then sharpened at T = ½.
        let refined = MixMatch.coRefine(labels: [0], smoothing: 0, other: [0.2, 0.8], classes: 2, temperature: 0.5)
        let (a, b) = (0.4 * 0.4, 0.6 * 0.6)
        XCTAssertEqual(refined[0], Float(a / (a + b)), accuracy: 1e-6)
        // A label the other network is sure of stays, and so does one an untrained (flat) network cannot judge.
        XCTAssertEqual(MixMatch.coRefine(labels: [1], smoothing: 0, other: [0, 1], classes: 2, temperature: 0.5), [0, 1])
        XCTAssertEqual(MixMatch.coRefine(labels: [1], smoothing: 0, other: [0.5, 0.5], classes: 2, temperature: 0.5), [0, 1])
    }

    func testLossValueByHand() {
        // One labelled row with logits (0, 0) and target (1, 0): L_x = ln 2. One unlabelled row with logits (0, 0)
        // (p = ½, ½) and target (1, 0): L_u = mean((½ − 1)², (½ − 0)²) = ¼. Total = ln 2 + 8 · ¼.
        let logits = Variable(Tensor(shape: [2, 2], storage: [0, 0, 0, 0]))
        let parts = MixMatch.loss(logits: logits, targets: Tensor(shape: [2, 2], storage: [1, 0, 1, 0]), labelledRows: 1, unlabelledWeight: 8)
        XCTAssertEqual(parts.labelled, Float(log(2.0)), accuracy: 1e-6)
        XCTAssertEqual(parts.unlabelled, 0.25, accuracy: 1e-6)
        XCTAssertEqual(parts.total.value.storage[0], Float(log(2.0)) + 2, accuracy: 1e-5)
    }

    func testLossGradientMatchesFiniteDifferences() {
        var rng = RandomStream(seed: 3)
        let (rows, classes, labelled) = (6, 4, 2)
        let logits = Variable(
            Tensor(shape: [rows, classes], storage: (0..<(rows * classes)).map { _ in Float(rng.uniform() * 4 - 2) }), requiresGrad: true)
        var targets = (0..<(rows * classes)).map { _ in Float(rng.uniform()) }
        for r in 0..<rows {
            let total = targets[(r * classes)..<((r + 1) * classes)].reduce(0, +)
            for c in 0..<classes { targets[r * classes + c] /= total }
        }
        let target = Tensor(shape: [rows, classes], storage: targets)
        func value() -> Double {
            Double(
                GradientMode.withoutGradients {
                    MixMatch.loss(logits: logits, targets: target, labelledRows: labelled, unlabelledWeight: 3).total.value.storage[0]
                })
        }
        MixMatch.loss(logits: logits, targets: target, labelledRows: labelled, unlabelledWeight: 3).total.backward()
        for i in 0..<(rows * classes) {
            let saved = logits.value.storage[i]
            logits.value.storage[i] = saved + 1e-2
            let up = value()
            logits.value.storage[i] = saved - 1e-2
            let down = value()
            logits.value.storage[i] = saved
            XCTAssertEqual(Double(logits.grad!.storage[i]), (up - down) / 2e-2, accuracy: 2e-3, "logit \(i)")
        }
    }

    func testBetaDrawsHaveTheRightMean() {
        // Beta(0.75, 0.75) has mean ½ and variance ab/((a+b)²(a+b+1)) = 0.1; the mean of 20,000 draws is within
        // 4 standard errors (4·√(0.1/20000) ≈ 0.009) of it.
        var rng = RandomStream(seed: 11)
        let draws = (0..<20_000).map { _ in rng.beta(0.75, 0.75) }
        XCTAssertEqual(draws.reduce(0, +) / 20_000, 0.5, accuracy: 0.009)
        XCTAssertTrue(draws.allSatisfy { (0...1).contains($0) })
    }

    func testSplitKeepsLabelsPerClassAndHoldsOutValidation() throws {
        // Classes 0 (6 samples), 1 (5), and 2 unlabelled samples.
        let labels = [0, 0, 1, 0, -1, 1, 0, 1, 0, 1, 1, 0, -1]
        let split = try SemiSupervisedSplit.make(labels: labels, labelledPerClass: 4, validationFraction: 0.25, seed: 1)
        XCTAssertEqual(split.classes, 2)
        // 4 kept per class; a quarter (1) of each held out for validation; the rest hidden and unlabelled.
        XCTAssertEqual(split.labelled.count, 6)
        XCTAssertEqual(split.validation.count, 2)
        XCTAssertEqual(split.hidden.count, 3)
        XCTAssertEqual(Set(split.unlabelled), Set(split.hidden + [4, 12]))
        XCTAssertEqual(Set(split.labelled + split.validation + split.unlabelled).count, labels.count)
        for (index, target) in zip(split.labelled, split.targets) { XCTAssertEqual(labels[index], target) }
        for (index, label) in zip(split.hidden, split.hiddenLabels) { XCTAssertEqual(labels[index], label) }
        XCTAssertEqual(try SemiSupervisedSplit.make(labels: labels, labelledPerClass: 4, validationFraction: 0.25, seed: 1), split, "seeded")
        // Without labelled_per_class the labels are used as they are.
        let asGiven = try SemiSupervisedSplit.make(labels: labels, labelledPerClass: nil, validationFraction: 0, seed: 1)
        XCTAssertEqual(Set(asGiven.unlabelled), [4, 12])
        XCTAssertEqual(asGiven.labelled.count, 11)
        // More labels per class than class 1 has; a class with no labelled sample.
        XCTAssertThrowsError(try SemiSupervisedSplit.make(labels: labels, labelledPerClass: 6, validationFraction: 0, seed: 1)) { error in
            XCTAssertEqual((error as? DatasetError)?.field, "params.labelled_per_class")
        }
        XCTAssertThrowsError(try SemiSupervisedSplit.make(labels: [0, 2, 2, -1], labelledPerClass: nil, validationFraction: 0, seed: 1)) { error in
            XCTAssertEqual((error as? DatasetError)?.field, "labels")
        }
    }

    func testCleanSetSelectionMatchesBruteForce() throws {
        var rng = RandomStream(seed: 5)
        let (n, d, k, clusters) = (60, 3, 7, 3)
        let points = (0..<(n * d)).map { _ in Float(rng.uniform() * 2 - 1) }
        let assignments = (0..<n).map { $0 % 10 == 9 ? -1 : Int(rng.next() % UInt64(clusters)) }
        let neighbours = try CleanSetSelection.neighbours(points, count: n, dimension: d, k: k)
        // Brute force: cosine similarities, the k most similar other points, the majority vote with ties accepted.
        func unit(_ i: Int) -> [Float] {
            let row = Array(points[(i * d)..<((i + 1) * d)])
            let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return row.map { $0 / norm }
        }
        for i in 0..<n {
            let similarities = (0..<n).filter { $0 != i }.map { j in (j, zip(unit(i), unit(j)).reduce(0) { $0 + $1.0 * $1.1 }) }
            let expected = similarities.sorted { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }.prefix(k).map(\.0)
            XCTAssertEqual(Set(neighbours[(i * k)..<((i + 1) * k)].map(Int.init)), Set(expected), "sample \(i)")
        }
        let agreeing = CleanSetSelection.agreeing(assignments, neighbours: neighbours, k: k)
        for i in 0..<n {
            let votes = neighbours[(i * k)..<((i + 1) * k)].map { assignments[Int($0)] }.filter { $0 >= 0 }
            let own = votes.filter { $0 == assignments[i] }.count
            let best = (0..<clusters).map { c in votes.filter { $0 == c }.count }.max() ?? 0
            XCTAssertEqual(agreeing[i], assignments[i] >= 0 && own > 0 && own == best, "sample \(i)")
        }
        XCTAssertEqual(CleanSetSelection.confident([0.995, 0.005, 0.6, 0.4], clusters: 2, threshold: 0.99), [true, false])
    }

    /// Each selection consults only its own test: metric keeps an agreeing sample the source was unsure of (it once
    /// applied the confidence threshold too, so metric and hybrid chose the same set), confidence keeps a confident
    /// sample its neighbours outvote, hybrid needs both; an unassigned sample is never clean.
    func testEachSelectionKeepsWhatItsOwnTestPasses() {
        let assignments = [0, 1, 2, 0, -1]
        let confident = [true, false, true, false, true]
        let agreeing = [true, true, false, false, true]
        XCTAssertEqual(CleanSetSelection.metric.clean(assignments, confident: confident, agreeing: agreeing), [0, 1])
        XCTAssertEqual(CleanSetSelection.confidence.clean(assignments, confident: confident, agreeing: agreeing), [0, 2])
        XCTAssertEqual(CleanSetSelection.hybrid.clean(assignments, confident: confident, agreeing: agreeing), [0])
    }

    /// Two interleaved half-moons (generated:moons), 3 labels per class: the classic case where the labels alone
    /// draw the wrong boundary and the unlabelled points show the right one.
    func moons(seed: UInt64 = 2) -> (Dataset, SemiSupervisedSplit) {
        let dataset = GeneratedDatasets.make("moons", count: 400, seed: seed)!
        let split = try! SemiSupervisedSplit.make(labels: dataset.labels!, labelledPerClass: 3, validationFraction: 0, seed: seed)
        return (dataset, split)
    }

    func trainer(_ dataset: Dataset, _ split: SemiSupervisedSplit, _ change: (inout MixMatchTrainer.Configuration) -> Void = { _ in })
        -> MixMatchTrainer
    {
        var configuration = MixMatchTrainer.Configuration(classes: split.classes)
        configuration.epochs = 6
        configuration.batchSize = 16
        configuration.rampUpEpochs = 2
        configuration.seed = 4
        change(&configuration)
        var evaluation = MixMatchTrainer.Evaluation()
        evaluation.hidden = zip(split.hidden, split.hiddenLabels).map { (index: $0.0, label: $0.1) }
        evaluation.truth = dataset.labels
        return MixMatchTrainer(
            dataset: dataset, labelled: split.labelled, targets: split.targets, unlabelled: split.unlabelled, configuration: configuration,
            evaluation: evaluation)
    }

    func testMixMatchLearnsFromUnlabelledSamples() throws {
        // generated:shapes (4 classes of small images) with two labels per class: after one epoch the network trained
        // on the 8 labels alone is far behind the one that also guessed labels for the 392 others.
        let dataset = GeneratedDatasets.make("shapes", count: 400, seed: 2)!
        let split = try SemiSupervisedSplit.make(labels: dataset.labels!, labelledPerClass: 2, validationFraction: 0, seed: 2)
        let semi = trainer(dataset, split) { $0.epochs = 1 }
        try semi.runNetworkEpoch()
        let supervised = trainer(dataset, split) {
            $0.epochs = 1; $0.supervisedOnly = true
        }
        try supervised.runNetworkEpoch()
        let semiAccuracy = semi.history.last!.hiddenAccuracy!, supervisedAccuracy = supervised.history.last!.hiddenAccuracy!
        XCTAssertGreaterThan(semiAccuracy, 0.95, "MixMatch on shapes with 2 labels per class")
        XCTAssertGreaterThan(semiAccuracy, supervisedAccuracy + 0.1)
        XCTAssertGreaterThan(semi.history.last!.unlabelledWeight, 0)
        XCTAssertEqual(supervised.history.last!.unlabelledLoss, [0])
    }

    func testResumeReproducesTheUninterruptedRunBitForBit() throws {
        let (dataset, split) = moons()
        for networks in [1, 2] {
            let change: (inout MixMatchTrainer.Configuration) -> Void = {
                $0.networks = networks
                $0.epochs = 3
                $0.refurbishThreshold = networks == 2 ? 0.9 : 0
                $0.strongViewSmoothing = networks == 2 ? 0.2 : nil
            }
            let whole = trainer(dataset, split, change)
            while !whole.isFinished { try whole.runNetworkEpoch() }
            // Stop after the first network of the second epoch (mid-epoch for RUC), restore into a fresh trainer, continue.
            let first = trainer(dataset, split, change)
            for _ in 0..<(networks + 1) { try first.runNetworkEpoch() }
            let resumed = trainer(dataset, split, change)
            try resumed.restore(try first.checkpoint())
            while !resumed.isFinished { try resumed.runNetworkEpoch() }
            XCTAssertEqual(resumed.assign().probabilities, whole.assign().probabilities, "\(networks) network(s)")
            XCTAssertEqual(resumed.labelledIndices, whole.labelledIndices)
            XCTAssertEqual(resumed.history.map(\.labelledLoss), whole.history.map(\.labelledLoss))
        }
    }

    func testRUCCorrectsNoisyLabelsAndRefurbishes() throws {
        // Blobs labelled by their true class with 25 of the labels of the first 100 samples (chosen at random) wrong, all 100 kept as
        // "clean", the rest unlabelled: the co-trained networks end above the noisy labels they were given (the blobs
        // overlap, so not at 1) and pull confident unlabelled samples into the clean set.
        let dataset = GeneratedDatasets.make("blobs", count: 400, classes: 4, seed: 8)!
        let truth = dataset.labels!
        let labelled = Array(0..<100)
        var rng = RandomStream(seed: 9)
        let flipped = Set(labelled.shuffled(using: &rng).prefix(25))
        let noisy = labelled.map { flipped.contains($0) ? (truth[$0] + 1 + Int(rng.next() % 3)) % 4 : truth[$0] }
        var configuration = MixMatchTrainer.Configuration(classes: 4)
        configuration.networks = 2
        configuration.epochs = 5
        configuration.batchSize = 16
        configuration.strongViewSmoothing = 0.2
        configuration.refurbishThreshold = 0.95
        configuration.rampUpEpochs = 2
        configuration.unlabelledWeight = 25
        configuration.seed = 1
        var evaluation = MixMatchTrainer.Evaluation()
        evaluation.truth = truth
        let ruc = MixMatchTrainer(
            dataset: dataset, labelled: labelled, targets: noisy, unlabelled: Array(100..<400), configuration: configuration, evaluation: evaluation)
        while !ruc.isFinished { try ruc.runNetworkEpoch() }
        let noisyAccuracy = Double(zip(labelled, noisy).filter { truth[$0] == $1 }.count) / 100
        XCTAssertEqual(noisyAccuracy, 0.75)
        XCTAssertGreaterThan(ruc.history.last!.scores!.accuracy, noisyAccuracy + 0.05)
        XCTAssertGreaterThan(ruc.history.map(\.refurbished).reduce(0, +), 0)
        XCTAssertEqual(ruc.history.last!.cleanSize, 100 + ruc.history.map(\.refurbished).reduce(0, +))
        XCTAssertEqual(ruc.history.last!.labelledLoss.count, 2)
    }
}
