import Foundation
import RandomStreams
import Tensor
import XCTest
@testable import Clustering

final class IICTests: XCTestCase {
    func softmaxRows(_ logits: [Float], k: Int) -> [Float] {
        var out = logits
        for row in 0..<(logits.count / k) {
            let slice = logits[(row * k)..<((row + 1) * k)]
            let top = slice.max()!
            let total = slice.reduce(0) { $0 + exp($1 - top) }
            for j in 0..<k { out[row * k + j] = exp(logits[row * k + j] - top) / total }
        }
        return out
    }

    /// The loss of a hand-made joint: two samples, two clusters.
    func testLossEqualsTheHandComputedMutualInformation() {
        // z = [[1, 0], [0, 1]], z′ = z ⇒ P = diag(1/2, 1/2), marginals 1/2 ⇒ I = ln 2.
        let z = Variable(Tensor(shape: [2, 2], storage: [1, 0, 0, 1]))
        XCTAssertEqual(IIC.loss(z, z).value.storage[0], -Float(log(2.0)), accuracy: 1e-5)
        // Independent assignments (uniform) carry no information: P = 1/4 everywhere ⇒ I = 0.
        let u = Variable(Tensor(shape: [2, 2], storage: [0.5, 0.5, 0.5, 0.5]))
        XCTAssertEqual(IIC.loss(u, u).value.storage[0], 0, accuracy: 1e-6)
        // λ = 2 adds the marginal entropies once more: −(I + H(P_i) + H(P_j)) = −(ln 2 + 2 ln 2).
        XCTAssertEqual(IIC.loss(z, z, lambda: 2).value.storage[0], -3 * Float(log(2.0)), accuracy: 1e-5)
    }

    func testGradientMatchesFiniteDifferences() {
        var rng = RandomStream(seed: 3)
        let (b, k) = (6, 3)
        let logitsA = (0..<(b * k)).map { _ in Float(rng.uniform() * 2 - 1) }
        let logitsB = (0..<(b * k)).map { _ in Float(rng.uniform() * 2 - 1) }
        let a = Variable(Tensor(shape: [b, k], storage: logitsA), requiresGrad: true)
        let c = Variable(Tensor(shape: [b, k], storage: logitsB), requiresGrad: true)
        func value() -> Double {
            Double(GradientMode.withoutGradients { IIC.loss(Ops.softmax(a), Ops.softmax(c), lambda: 1.3).value.storage[0] })
        }
        IIC.loss(Ops.softmax(a), Ops.softmax(c), lambda: 1.3).backward()
        for variable in [a, c] {
            for i in 0..<(b * k) {
                let saved = variable.value.storage[i]
                let h: Float = 1e-2
                variable.value.storage[i] = saved + h
                let up = value()
                variable.value.storage[i] = saved - h
                let down = value()
                variable.value.storage[i] = saved
                XCTAssertEqual(Double(variable.grad!.storage[i]), (up - down) / Double(2 * h), accuracy: 2e-3, "element \(i)")
            }
        }
    }
}

final class IICTrainingTests: XCTestCase {
    func configuration(epochs: Int) -> IIC.Configuration {
        var configuration = IIC.Configuration(clusters: 4)
        configuration.epochs = epochs
        configuration.batchSize = 32
        configuration.seed = 3
        return configuration
    }

    /// Four shapes, 4 clusters: chance is ACC 0.25 and NMI 0; a working IIC separates them in a few epochs.
    func testClustersGeneratedShapesWellAboveChance() throws {
        let data = GeneratedDatasets.make("shapes", count: 400, seed: 1)!
        let trainer = IICTrainer(dataset: data, configuration: configuration(epochs: 8))
        while !trainer.isFinished { try trainer.runEpoch() }
        let (clusters, probabilities) = trainer.assign()
        let scores = ClusteringMetrics.scores(clusters, data.labels!)
        // Random assignments of 400 samples to 4 balanced classes match ACC ≈ 0.25 + O(1/√400) and NMI ≈ 0.01;
        // k-means on the pixels reaches ACC 0.39 / NMI 0.20 (the shapes move). Both bounds are far beyond chance.
        XCTAssertGreaterThan(scores.accuracy, 0.45, "\(scores)")
        XCTAssertGreaterThan(scores.nmi, 0.3, "\(scores)")
        XCTAssertEqual(probabilities.count, 400 * 4)
        // The losses went down: the last epoch's best main loss is lower than the first's.
        XCTAssertLessThan(trainer.history.last!.mainLosses.min()!, trainer.history.first!.mainLosses.min()!)
    }

    func testResumingFromACheckpointGivesTheSameModel() throws {
        let data = GeneratedDatasets.make("shapes", count: 200, seed: 2)!
        let whole = IICTrainer(dataset: data, configuration: configuration(epochs: 3))
        var checkpoint: Data?
        while !whole.isFinished {
            try whole.runEpoch()
            if whole.epoch == 1 { checkpoint = try whole.checkpoint() }
        }
        let resumed = IICTrainer(dataset: data, configuration: configuration(epochs: 3))
        try resumed.restore(checkpoint!)
        XCTAssertEqual(resumed.epoch, 1)
        while !resumed.isFinished { try resumed.runEpoch() }
        XCTAssertEqual(resumed.assign().probabilities, whole.assign().probabilities)
        XCTAssertEqual(resumed.history.map(\.mainLosses), whole.history.map(\.mainLosses))
        // A saved model predicts what the trainer assigns.
        let predictor = try IICPredictor(try whole.model())
        XCTAssertEqual(predictor.predict(data).clusters, whole.assign().clusters)
    }

    func testFeatureVectorsTrainAnMLP() throws {
        let data = GeneratedDatasets.make("blobs", count: 400, classes: 3, seed: 1)!
        // Separable blobs (k-means finds them all but a few points), so IIC must too.
        let kmeans = try KMeans(k: 3, runs: 3).fit(data.values, count: data.count, dimension: 2)
        XCTAssertGreaterThan(ClusteringMetrics.accuracy(kmeans.assignments, data.labels!), 0.99)
        var configuration = IIC.Configuration(clusters: 3)
        configuration.epochs = 10
        configuration.batchSize = 16
        let trainer = IICTrainer(dataset: data, configuration: configuration)
        while !trainer.isFinished { try trainer.runEpoch() }
        XCTAssertGreaterThan(ClusteringMetrics.accuracy(trainer.assign().clusters, data.labels!), 0.95)
        XCTAssertEqual(trainer.network.inputShape, [2])
    }
}
