import Foundation
import RandomStreams
import Tensor
import XCTest
@testable import Clustering

final class SCANTests: XCTestCase {
    var rng = RandomStream(seed: 17)

    func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float(rng.uniform() * 2 - 1) } }

    /// NT-Xent against its definition written out with plain loops in Double.
    func testNTXentEqualsItsDefinition() {
        let (n, d, tau) = (6, 3, 0.5)
        let values = random(n * d)
        let loss = SCAN.ntXent(Variable(Tensor(shape: [n, d], storage: values)), temperature: Float(tau)).value.storage[0]
        func cosine(_ i: Int, _ j: Int) -> Double {
            var dot = 0.0, a = 0.0, b = 0.0
            for t in 0..<d {
                dot += Double(values[i * d + t] * values[j * d + t])
                a += Double(values[i * d + t] * values[i * d + t])
                b += Double(values[j * d + t] * values[j * d + t])
            }
            return dot / (a.squareRoot() * b.squareRoot())
        }
        var expected = 0.0
        for i in 0..<n {
            let partner = (i + n / 2) % n
            let denominator = (0..<n).filter { $0 != i }.reduce(0.0) { $0 + exp(cosine(i, $1) / tau) }
            expected += -log(exp(cosine(i, partner) / tau) / denominator)
        }
        XCTAssertEqual(Double(loss), expected / Double(n), accuracy: 1e-5)
        // Identical views pull together: the loss is lower when each row's partner is itself.
        let paired = Array(values[0..<(3 * d)]) + Array(values[0..<(3 * d)])
        XCTAssertLessThan(SCAN.ntXent(Variable(Tensor(shape: [n, d], storage: paired)), temperature: 0.5).value.storage[0], loss)
    }

    func testSCANLossValueAndGradient() {
        // Hand-computed: p = [[1, 0], [0, 1]], q = p ⇒ ⟨p_i, q_i⟩ = 1, consistency 0; p̄ = (½, ½), H = ln 2.
        let p = Variable(Tensor(shape: [2, 2], storage: [1, 0, 0, 1]))
        let (total, consistency, entropy) = SCAN.loss(anchors: p, neighbours: p, entropyWeight: 5)
        XCTAssertEqual(consistency, 0, accuracy: 1e-7)
        XCTAssertEqual(entropy, Float(log(2.0)), accuracy: 1e-6)
        XCTAssertEqual(total.value.storage[0], -5 * Float(log(2.0)), accuracy: 1e-5)
        // Finite differences through a softmax, for both inputs.
        let (b, k) = (5, 3)
        assertSCANLossGradientMatchesFiniteDifferences(rows: b, clusters: k, sizePrior: nil)
    }

    /// Issue 14: the size prior. With shares π (largest first) the spread term is w·KL(p̄ ‖ π at each cluster's
    /// size rank); a uniform π is the entropy term plus the constant w·log k, and the gradient is checked by
    /// finite differences (the ranking is fixed under the small perturbations used).
    /// The SCAN loss's gradient through a softmax, for both inputs, against central differences.
    func assertSCANLossGradientMatchesFiniteDifferences(rows b: Int, clusters k: Int, sizePrior: [Float]?, line: UInt = #line) {
        let a = Variable(Tensor(shape: [b, k], storage: random(b * k)), requiresGrad: true)
        let c = Variable(Tensor(shape: [b, k], storage: random(b * k)), requiresGrad: true)
        func value() -> Double {
            Double(
                GradientMode.withoutGradients {
                    SCAN.loss(anchors: Ops.softmax(a), neighbours: Ops.softmax(c), entropyWeight: 2, sizePrior: sizePrior).total.value.storage[0]
                })
        }
        SCAN.loss(anchors: Ops.softmax(a), neighbours: Ops.softmax(c), entropyWeight: 2, sizePrior: sizePrior).total.backward()
        for variable in [a, c] {
            for i in 0..<(b * k) {
                let saved = variable.value.storage[i]
                variable.value.storage[i] = saved + 1e-2
                let up = value()
                variable.value.storage[i] = saved - 1e-2
                let down = value()
                variable.value.storage[i] = saved
                XCTAssertEqual(Double(variable.grad!.storage[i]), (up - down) / 2e-2, accuracy: 2e-3, line: line)
            }
        }
    }

    func testSizePriorLossValueAndGradient() {
        // p̄ = (0.75, 0.25) against π = (0.75, 0.25): KL 0, so the total is the consistency alone.
        let p = Variable(Tensor(shape: [4, 2], storage: [1, 0, 1, 0, 1, 0, 0, 1]))
        let matched = SCAN.loss(anchors: p, neighbours: p, entropyWeight: 5, sizePrior: [0.75, 0.25])
        XCTAssertEqual(matched.total.value.storage[0], 0, accuracy: 1e-5)
        // The same sizes against a uniform prior: KL = log 2 − H(0.75, 0.25).
        let uniform = SCAN.loss(anchors: p, neighbours: p, entropyWeight: 5, sizePrior: [0.5, 0.5])
        let entropy = -(0.75 * log(0.75) + 0.25 * log(0.25))
        XCTAssertEqual(Double(uniform.total.value.storage[0]), 5 * (log(2) - entropy), accuracy: 1e-5)
        // The rank, not the index, picks the share: the larger cluster in column 1 gets 0.75 too.
        let swapped = Variable(Tensor(shape: [4, 2], storage: [0, 1, 0, 1, 0, 1, 1, 0]))
        XCTAssertEqual(
            SCAN.loss(anchors: swapped, neighbours: swapped, entropyWeight: 5, sizePrior: [0.75, 0.25]).total.value.storage[0], 0, accuracy: 1e-5)
        let (b, k) = (6, 3)
        let prior: [Float] = [0.6, 0.3, 0.1]
        assertSCANLossGradientMatchesFiniteDifferences(rows: b, clusters: k, sizePrior: prior)
    }

    /// On long-tailed feature vectors (shares 70/20/10 %), the estimated prior keeps the tail and the uniform
    /// prior is reported as forcing balance.
    func testEstimatedPriorFollowsLongTailedData() throws {
        var rng = RandomStream(seed: 4)
        let sizes = [280, 80, 40]
        var values: [Float] = [], labels: [Int] = []
        for (c, size) in sizes.enumerated() {
            for _ in 0..<size {
                values += (0..<8).map { j in (j == c ? 4 : 0) + Float(Ziggurat.normal.normal(&rng)) * 0.5 }
                labels.append(c)
            }
        }
        let dataset = Dataset(layout: .features(dimension: 8), count: 400, values: values, labels: labels)
        var shares: [[Float]] = []
        var warnings: [String?] = []
        for prior in [SCANTrainer.SizePrior.estimated, .uniform] {
            var configuration = SCANTrainer.Configuration(clusters: 3)
            configuration.scanEpochs = 15
            configuration.selfLabelEpochs = 0
            configuration.sizePrior = prior
            configuration.seed = 1
            let trainer = SCANTrainer(dataset: dataset, configuration: configuration)
            while !trainer.isFinished { try trainer.runEpoch() }
            let clusters = trainer.assign().clusters
            shares.append(ClusteringMetrics.sizes(clusters, k: 3).map { Float($0) / 400 }.sorted(by: >))
            warnings.append(trainer.balanceWarning(clusters))
            let estimate = try XCTUnwrap(trainer.estimatedSizes)
            XCTAssertEqual(estimate[0], 0.7, accuracy: 0.05, "k-means finds the large group")
        }
        XCTAssertGreaterThan(shares[0][0], 0.6, "estimated prior: the large cluster stays large \(shares[0])")
        XCTAssertNil(warnings[0])
        XCTAssertLessThan(shares[1][0], shares[0][0], "uniform prior pulls toward equal sizes \(shares[1])")
    }

    func testMiningEqualsBruteForce() throws {
        let (n, d, k) = (300, 5, 7)
        let features = random(n * d)
        let mined = try NeighbourMining.mine(features, count: n, dimension: d, k: k, blockRows: 64)
        func cosine(_ i: Int, _ j: Int) -> Float {
            var dot: Float = 0, a: Float = 0, b: Float = 0
            for t in 0..<d {
                dot += features[i * d + t] * features[j * d + t]; a += features[i * d + t] * features[i * d + t];
                b += features[j * d + t] * features[j * d + t]
            }
            return dot / (a.squareRoot() * b.squareRoot())
        }
        for i in 0..<n {
            let brute = (0..<n).filter { $0 != i }.sorted { cosine(i, $0) > cosine(i, $1) }.prefix(k)
            // Equal as sets of similarities (ties could order differently); nearest first.
            XCTAssertEqual(mined[i].map { cosine(i, $0) }, brute.map { cosine(i, $0) }, "row \(i)")
            XCTAssertFalse(mined[i].contains(i))
        }
        XCTAssertEqual(NeighbourMining.agreement([[1], [0], [0]], labels: [0, 0, 1]), 2.0 / 3.0, accuracy: 1e-12)
    }

    func testSelfLabelingWeightsClassesAndReportsNoConfidentRows() {
        let weak = Tensor(shape: [4, 2], storage: [0.995, 0.005, 0.999, 0.001, 0.2, 0.8, 0.001, 0.999])
        let logits = Variable(Tensor(shape: [4, 2], storage: [1, 0, 2, 0, 0, 1, 0, 3]), requiresGrad: true)
        let (loss, confident) = SCAN.selfLabelLoss(weak: weak, strongLogits: logits, threshold: 0.99)!
        XCTAssertEqual(confident, 3)
        // Class 0 has two confident rows (weight ½ each), class 1 one (weight 1): mean over classes of their mean CE.
        func ce(_ l: [Double], _ label: Int) -> Double { -(l[label] - log(l.reduce(0) { $0 + exp($1) })) }
        let expected = (0.5 * ce([1, 0], 0) + 0.5 * ce([2, 0], 0) + ce([0, 3], 1)) / 2
        XCTAssertEqual(Double(loss.value.storage[0]), expected, accuracy: 1e-5)
        XCTAssertNil(SCAN.selfLabelLoss(weak: weak, strongLogits: logits, threshold: 0.9999))
    }

    func testSelfLabelingWeightsClassesTowardTheSizePriorByRank() {
        // Three classes; class 0 has two confident rows, class 1 one, class 2 none (row 3 is unsure).
        let weak = Tensor(shape: [4, 3], storage: [0.995, 0.003, 0.002, 0.002, 0.997, 0.001, 0.999, 0.0005, 0.0005, 0.4, 0.3, 0.3])
        let logits = Variable(Tensor(shape: [4, 3], storage: [1, 0, 0, 0, 2, 1, 2, 0, 1, 0, 0, 0]), requiresGrad: true)
        func ce(_ l: [Double], _ label: Int) -> Double { -(l[label] - log(l.reduce(0) { $0 + exp($1) })) }
        let class0 = (ce([1, 0, 0], 0) + ce([2, 0, 1], 0)) / 2, class1 = ce([0, 2, 1], 1)
        // The prior's shares go by rank of the confident counts: class 0 (2 rows) takes 0.6, class 1 takes 0.3;
        // the absent class's 0.1 is left out, so the two present classes split the weight 0.6 : 0.3.
        let (loss, confident) = SCAN.selfLabelLoss(weak: weak, strongLogits: logits, threshold: 0.99, sizePrior: [0.6, 0.3, 0.1])!
        XCTAssertEqual(confident, 3)
        XCTAssertEqual(Double(loss.value.storage[0]), (0.6 * class0 + 0.3 * class1) / 0.9, accuracy: 1e-5)
        // A uniform prior is the paper's class balance.
        let uniform = SCAN.selfLabelLoss(weak: weak, strongLogits: logits, threshold: 0.99, sizePrior: [1.0 / 3, 1.0 / 3, 1.0 / 3])!.loss
        let balanced = SCAN.selfLabelLoss(weak: weak, strongLogits: logits, threshold: 0.99)!.loss
        XCTAssertEqual(Double(uniform.value.storage[0]), (class0 + class1) / 2, accuracy: 1e-5)
        XCTAssertEqual(Double(balanced.value.storage[0]), (class0 + class1) / 2, accuracy: 1e-5)
    }
}

final class SCANPipelineTests: XCTestCase {
    func configuration(_ k: Int) -> SCANTrainer.Configuration {
        var configuration = SCANTrainer.Configuration(clusters: k)
        configuration.pretextEpochs = 4
        configuration.pretextBatchSize = 64
        configuration.neighbours = 5
        configuration.scanEpochs = 6
        configuration.scanBatchSize = 32
        configuration.selfLabelEpochs = 2
        configuration.selfLabelBatchSize = 64
        configuration.heads = 2
        configuration.seed = 4
        return configuration
    }

    /// The whole pipeline on generated images: every phase runs, in order, and the result is far above chance
    /// (4 balanced classes: chance ACC ≈ 0.25, NMI ≈ 0).
    func testPipelineOnShapes() throws {
        let data = GeneratedDatasets.make("shapes", count: 240, seed: 6)!
        let trainer = SCANTrainer(dataset: data, configuration: configuration(4))
        while !trainer.isFinished { try trainer.runEpoch() }
        XCTAssertEqual(
            trainer.history.map(\.phase),
            Array(repeating: .pretext, count: 4) + [.mining] + Array(repeating: .scan, count: 6)
                + Array(repeating: .selfLabel, count: 2))
        XCTAssertEqual(trainer.neighbourLists.count, 240)
        XCTAssertGreaterThan(trainer.neighbourAgreement!, 0.4)
        let scores = ClusteringMetrics.scores(trainer.assign().clusters, data.labels!)
        XCTAssertGreaterThan(scores.accuracy, 0.45, "\(scores)")
        XCTAssertGreaterThan(scores.nmi, 0.25, "\(scores)")
        // Self-labeling either found confident samples or said it had none.
        let fraction = trainer.history.last!.confidentFraction!
        XCTAssertTrue(fraction > 0 || !trainer.warnings.isEmpty)
    }

    func testEmbeddingsSkipThePretextAndResumeMidPhaseExactly() throws {
        let data = GeneratedDatasets.make("blobs", count: 300, classes: 3, seed: 1)!
        let whole = SCANTrainer(dataset: data, configuration: configuration(3))
        XCTAssertEqual(whole.phase, .mining)
        var checkpoint: Data?
        while !whole.isFinished {
            try whole.runEpoch()
            if whole.phase == .scan && whole.epoch == 3 { checkpoint = try whole.checkpoint() }
        }
        XCTAssertGreaterThan(NeighbourMining.agreement(whole.neighbourLists, labels: data.labels!), 0.95)
        XCTAssertGreaterThan(ClusteringMetrics.accuracy(whole.assign().clusters, data.labels!), 0.9)
        let resumed = SCANTrainer(dataset: data, configuration: configuration(3))
        try resumed.restore(checkpoint!)
        XCTAssertEqual(resumed.phase, .scan)
        while !resumed.isFinished { try resumed.runEpoch() }
        XCTAssertEqual(resumed.assign().probabilities, whole.assign().probabilities)
        // Same seed, same assignments; the saved model predicts them.
        let again = SCANTrainer(dataset: data, configuration: configuration(3))
        while !again.isFinished { try again.runEpoch() }
        XCTAssertEqual(again.assign().clusters, whole.assign().clusters)
        XCTAssertEqual(try SCANPredictor(whole.model()).predict(data).clusters, whole.assign().clusters)
    }

    func testEMAOfSelfLabelingResumesExactly() throws {
        let data = GeneratedDatasets.make("blobs", count: 300, classes: 3, seed: 1)!
        var settings = configuration(3)
        settings.emaDecay = 0.9
        settings.confidenceThreshold = 0.5
        let whole = SCANTrainer(dataset: data, configuration: settings)
        var checkpoint: Data?
        while !whole.isFinished {
            try whole.runEpoch()
            if whole.phase == .selfLabel && whole.epoch == 1 { checkpoint = try whole.checkpoint() }
        }
        let resumed = SCANTrainer(dataset: data, configuration: settings)
        try resumed.restore(checkpoint!)
        while !resumed.isFinished { try resumed.runEpoch() }
        XCTAssertEqual(resumed.assign().probabilities, whole.assign().probabilities)
        XCTAssertGreaterThan(ClusteringMetrics.accuracy(whole.assign().clusters, data.labels!), 0.9)
    }
}
