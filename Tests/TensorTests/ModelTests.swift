import Foundation
import RandomStreams
import XCTest
@testable import Tensor

final class ModelTests: XCTestCase {
    /// The digits net of the issue: thop/hand counts are 151,530 parameters and 1,330,432 MACs
    /// (convolutions and linear maps only; thop's 1,355,520 also counts BN, ReLU and pooling).
    func digitsNet(_ rng: inout RandomStream) -> Sequential {
        Sequential([
            Conv2d(1, 32, kernel: 3, padding: 1, bias: false, rng: &rng), BatchNormLayer(32, twoDimensional: true), ReLU(),
            Conv2d(32, 64, kernel: 3, padding: 1, bias: false, rng: &rng), BatchNormLayer(64, twoDimensional: true), ReLU(),
            MaxPool2d(2), Flatten(),
            Linear(1024, 128, bias: false, rng: &rng), BatchNormLayer(128, twoDimensional: false), ReLU(),
            Linear(128, 10, rng: &rng),
        ])
    }

    func testParameterAndMACCountsMatchTheReference() {
        var rng = RandomStream(seed: 1)
        let summary = digitsNet(&rng).summary(input: [1, 8, 8])
        XCTAssertEqual(summary.parameters, 151_530)
        XCTAssertEqual(summary.macs, 1_330_432)
        XCTAssertEqual(summary.rows.last?.output, [10])
        XCTAssertEqual(Backbones.digitsNet(rng: &rng).summary(input: [1, 8, 8]).parameters, 151_530)
    }

    /// Hand counts. CIFAR ResNet-18 without its classifier: 11,168,832 parameters (11,173,962 with a
    /// 10-way fc); MACs = stem 64·32²·27 + stage 1: 4 × 64·32²·576 + stages 2–4: 3 × 134,217,728 each.
    func testBackboneCounts() {
        var rng = RandomStream(seed: 2)
        let mnist = Backbones.mnistNet(rng: &rng).summary(input: [1, 28, 28])
        let convMacs = 32 * 28 * 28 * 25 + 64 * 14 * 14 * 32 * 25 + 128 * 7 * 7 * 64 * 9
        XCTAssertEqual(mnist.macs, convMacs + 1152 * 128 + 128 * 10)
        XCTAssertEqual(
            mnist.parameters,
            (32 * 25 + 32) + 64 + (64 * 32 * 25 + 64) + 128 + (128 * 64 * 9 + 128) + 256
                + (1152 * 128 + 128) + 256 + (128 * 10 + 10))
        let resnet = Backbones.resNet18(rng: &rng).summary(input: [3, 32, 32])
        XCTAssertEqual(resnet.parameters, 11_168_832)
        XCTAssertEqual(resnet.macs, 64 * 1024 * 27 + 4 * 64 * 1024 * 576 + 3 * 134_217_728)
        XCTAssertEqual(resnet.rows.last?.output, [512])
    }

    /// Synthetic 8×8 shapes (horizontal bar, vertical bar, diagonal, square outline) at random
    /// positions with noise: a small CNN must learn them to ≥ 95 % held-out accuracy.
    func shapes(_ count: Int, _ rng: inout RandomStream) -> (Tensor, [Int]) {
        var images = Tensor(zeros: [count, 1, 8, 8])
        var labels: [Int] = []
        for n in 0..<count {
            let label = Int(rng.next() % 4)
            labels.append(label)
            let ox = Int(rng.next() % 3), oy = Int(rng.next() % 3)
            func set(_ y: Int, _ x: Int) { images.storage[n * 64 + (y + oy) * 8 + x + ox] = 1 }
            switch label {
            case 0: for x in 0..<6 { set(2, x) }
            case 1: for y in 0..<6 { set(y, 2) }
            case 2: for i in 0..<6 { set(i, i) }
            default: for i in 0..<5 { set(0, i); set(4, i); set(i, 0); set(i, 4) }
            }
            for i in 0..<64 { images.storage[n * 64 + i] += Float(rng.uniform() - 0.5) * 0.4 }
        }
        return (images, labels)
    }

    func train(seed: UInt64, epochs: Int) -> (accuracy: Double, losses: [Float]) {
        var rng = RandomStream(seed: seed)
        let model = Sequential([
            Conv2d(1, 8, kernel: 3, padding: 1, rng: &rng), BatchNormLayer(8, twoDimensional: true), ReLU(), MaxPool2d(2), Flatten(),
            Linear(128, 4, rng: &rng),
        ])
        let (train, trainLabels) = shapes(512, &rng)
        let (test, testLabels) = shapes(256, &rng)
        let optimizer = Adam(model.parameters.map(\.variable), learningRate: 0.01)
        var losses: [Float] = []
        let batch = 64
        for _ in 0..<epochs {
            for start in stride(from: 0, to: 512, by: batch) {
                let x = Variable(Tensor(shape: [batch, 1, 8, 8], storage: Array(train.storage[(start * 64)..<((start + batch) * 64)])))
                let loss = Ops.crossEntropy(model.forward(x, training: true), labels: Array(trainLabels[start..<(start + batch)]))
                optimizer.zeroGradients(model.parameters.map(\.variable))
                loss.backward()
                optimizer.step()
                losses.append(loss.value.storage[0])
            }
        }
        let logits = GradientMode.withoutGradients { model.forward(Variable(test), training: false).value }
        var correct = 0
        for n in 0..<256 {
            let row = (0..<4).map { logits.storage[n * 4 + $0] }
            if row.indices.max(by: { row[$0] < row[$1] }) == testLabels[n] { correct += 1 }
        }
        return (Double(correct) / 256, losses)
    }

    func testACNNLearnsShapes() {
        let (accuracy, losses) = train(seed: 3, epochs: 8)
        XCTAssertGreaterThanOrEqual(accuracy, 0.95)
        XCTAssertLessThan(losses.last!, losses.first!)
    }

    func testSameSeedSameTrajectory() {
        XCTAssertEqual(train(seed: 5, epochs: 1).losses, train(seed: 5, epochs: 1).losses)
    }
}

final class CheckpointTests: XCTestCase {
    func step(_ model: Sequential, _ optimizer: any Optimizer, _ x: Tensor, _ labels: [Int]) {
        let loss = Ops.crossEntropy(model.forward(Variable(x), training: true), labels: labels)
        optimizer.zeroGradients(model.parameters.map(\.variable))
        loss.backward()
        optimizer.step()
    }

    func makeModel(seed: UInt64) -> Sequential {
        var rng = RandomStream(seed: seed)
        return Sequential([
            Conv2d(1, 4, kernel: 3, padding: 1, rng: &rng), BatchNormLayer(4, twoDimensional: true), ReLU(),
            Flatten(), Linear(64, 3, rng: &rng),
        ])
    }

    /// Save after two steps, restore into a fresh model and optimizer: the third step is identical to the bit.
    func testRoundTripReproducesTheNextStepExactly() throws {
        var rng = RandomStream(seed: 9)
        let x = Tensor(shape: [6, 1, 4, 4], storage: (0..<96).map { _ in Float(rng.uniform()) })
        let labels = [0, 1, 2, 0, 1, 2]
        for makeOptimizer in [
            { (p: [Variable]) -> any Optimizer in Adam(p, learningRate: 0.01, weightDecay: 0.01, decoupled: true) },
            { (p: [Variable]) -> any Optimizer in SGD(p, learningRate: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4) },
        ] {
            let original = makeModel(seed: 1)
            let optimizer = makeOptimizer(original.parameters.map(\.variable))
            step(original, optimizer, x, labels)
            step(original, optimizer, x, labels)
            let saved = try TensorCheckpoint.save(original, optimizer: optimizer)
            step(original, optimizer, x, labels)

            let restored = makeModel(seed: 2)
            let restoredOptimizer = makeOptimizer(restored.parameters.map(\.variable))
            try TensorCheckpoint.restore(saved, into: restored, optimizer: restoredOptimizer)
            step(restored, restoredOptimizer, x, labels)
            for ((name, a), (_, b)) in zip(original.parameters, restored.parameters) {
                XCTAssertEqual(a.value.storage.map(\.bitPattern), b.value.storage.map(\.bitPattern), name)
            }
            XCTAssertEqual(original.buffers.map(\.values), restored.buffers.map(\.values))
        }
    }

    /// Issue 14: checkpoints hold each tensor as raw float32 bytes (about 4 bytes a value; the 0.3 layout
    /// spent a plist integer on each float and cost SCAN more than its epochs), and a checkpoint written in
    /// the 0.3 layout — by a job in flight across an upgrade — still restores bit for bit.
    func testCheckpointsAreCompactAndTheOldLayoutStillRestores() throws {
        let model = makeModel(seed: 3)
        let optimizer = Adam(model.parameters.map(\.variable), learningRate: 0.01)
        let values = model.parameters.reduce(0) { $0 + $1.variable.value.count }
        let saved = try TensorCheckpoint.save(model, optimizer: optimizer)
        XCTAssertLessThanOrEqual(saved.count, 3 * 4 * values + 4096, "parameters and two Adam moments at 4 bytes a value, plus names")

        let legacy = try PropertyListEncoder.binary.encode(
            TensorCheckpoint.LegacyPayload(
                parameters: Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.variable.value.storage.map(\.bitPattern)) }),
                buffers: Dictionary(uniqueKeysWithValues: model.buffers.map { ($0.name, $0.values.map(\.bitPattern)) }), optimizer: [:],
                optimizerSteps: 0))
        let restored = makeModel(seed: 4)
        try TensorCheckpoint.restore(legacy, into: restored, optimizer: nil)
        for ((name, a), (_, b)) in zip(model.parameters, restored.parameters) {
            XCTAssertEqual(a.value.storage.map(\.bitPattern), b.value.storage.map(\.bitPattern), name)
        }
    }

    func testSchedules() {
        let cosine = LearningRateSchedule.cosine(total: 100, minimum: 0)
        XCTAssertEqual(cosine.rate(base: 1, step: 0), 1, accuracy: 1e-6)
        XCTAssertEqual(cosine.rate(base: 1, step: 50), 0.5, accuracy: 1e-6)
        XCTAssertEqual(cosine.rate(base: 1, step: 100), 0, accuracy: 1e-6)
        XCTAssertEqual(LearningRateSchedule.constant.rate(base: 0.1, step: 0, warmup: 10), 0.01, accuracy: 1e-7)
        XCTAssertEqual(LearningRateSchedule.step(every: 10, factor: 0.1).rate(base: 1, step: 25), 0.01, accuracy: 1e-7)
    }
}
