import Foundation
import RandomStreams
import XCTest
@testable import Tensor

/// Every operation's gradient against central finite differences of a random projection of its output.
final class GradientTests: XCTestCase {
    var rng = RandomStream(seed: 21)

    func random(_ shape: [Int], scale: Float = 1, awayFromZero: Bool = false) -> Tensor {
        let count = shape.reduce(1, *)
        return Tensor(
            shape: shape,
            storage: (0..<count).map { _ in
                var v = Float(rng.uniform() * 2 - 1) * scale
                // Kinks (ReLU, max) are avoided so the finite difference does not straddle one.
                if awayFromZero && abs(v) < 0.1 { v += v < 0 ? -0.1 : 0.1 }
                return v
            })
    }

    /// Checks ∂/∂input of sum(f(inputs) · r) for every input that requires a gradient.
    func check(_ label: String, _ inputs: [Variable], tolerance: Float = 5e-3, _ f: ([Variable]) -> Variable) {
        let probe = f(inputs)
        let r = Variable(random(probe.shape))
        func loss() -> Float { GradientMode.withoutGradients { Ops.sum(Ops.multiply(f(inputs), r)).value.storage[0] } }
        for input in inputs { input.grad = nil }
        Ops.sum(Ops.multiply(f(inputs), r)).backward()
        for (number, input) in inputs.enumerated() where input.requiresGrad {
            let analytic = input.grad ?? Tensor(zeros: input.shape)
            for i in 0..<min(input.value.count, 40) {
                let saved = input.value.storage[i]
                let h: Float = 1e-2 * max(1, abs(saved))
                input.value.storage[i] = saved + h
                let plus = loss()
                input.value.storage[i] = saved - h
                let minus = loss()
                input.value.storage[i] = saved
                let numeric = (plus - minus) / (2 * h)
                XCTAssertEqual(analytic.storage[i], numeric, accuracy: tolerance * max(1, abs(numeric)), "\(label) input \(number) [\(i)]")
            }
        }
    }

    func parameter(_ shape: [Int], awayFromZero: Bool = false) -> Variable {
        Variable(random(shape, awayFromZero: awayFromZero), requiresGrad: true)
    }

    func testElementwiseAndReductions() {
        let a = parameter([3, 4], awayFromZero: true), b = parameter([3, 4])
        check("add", [a, b]) { Ops.add($0[0], $0[1]) }
        check("subtract", [a, b]) { Ops.subtract($0[0], $0[1]) }
        check("multiply", [a, b]) { Ops.multiply($0[0], $0[1]) }
        check("scale", [a]) { Ops.scale($0[0], 2.5) }
        check("relu", [a]) { Ops.relu($0[0]) }
        check("leaky relu", [a]) { Ops.leakyRelu($0[0], slope: 0.1) }
        check("gelu", [a]) { Ops.gelu($0[0]) }
        check("sum", [a]) { Ops.sum($0[0]) }
        check("mean", [a]) { Ops.mean($0[0]) }
        check("reshape", [a]) { Ops.reshape($0[0], [4, 3]) }
        let bias = parameter([4])
        check("add bias", [a, bias]) { Ops.addBias($0[0], $0[1]) }
    }

    func testMatrixProducts() {
        let a = parameter([3, 4]), b = parameter([4, 5]), bt = parameter([5, 4]), at = parameter([4, 3])
        check("matmul", [a, b]) { Ops.matmul($0[0], $0[1]) }
        check("matmul Bᵀ", [a, bt]) { Ops.matmul($0[0], $0[1], transposeB: true) }
        check("matmul Aᵀ", [at, b]) { Ops.matmul($0[0], $0[1], transposeA: true) }
        check("matmul AᵀBᵀ", [at, bt]) { Ops.matmul($0[0], $0[1], transposeA: true, transposeB: true) }
    }

    func testSoftmaxFamily() {
        let logits = parameter([4, 5])
        check("log softmax", [logits]) { Ops.logSoftmax($0[0]) }
        check("softmax", [logits]) { Ops.softmax($0[0]) }
        check("cross entropy", [logits]) { Ops.crossEntropy($0[0], labels: [0, 3, 4, 1]) }
        check("cross entropy smoothed", [logits]) { Ops.crossEntropy($0[0], labels: [0, 3, 4, 1], labelSmoothing: 0.1) }
        let soft = Variable(Ops.softmax(Variable(random([4, 5]))).value)
        check("soft cross entropy", [logits]) { Ops.crossEntropy($0[0], targets: soft) }
    }

    /// A batch that spans several GEMM chunks and ends with a shorter one: im2col writes only the positions
    /// inside the image and relies on the padding positions staying zero from one sample and chunk to the next,
    /// re-zeroing when the last chunk lays its rows out anew. The output must equal a direct convolution, and the
    /// gradients the sums of one-sample passes.
    func testConvolutionAcrossChunksMatchesADirectOne() {
        // Stride 1 takes the padded-row path of im2col/col2im (with and without padding), stride 2 the general one.
        for (kernel, padding, stride) in [(3, 1, 1), (5, 2, 1), (3, 0, 1), (5, 2, 2)] {
            let (n, c, side, o) = (31, 16, 16, 4)
            let g = Convolution.Geometry(channels: c, height: side, width: side, kernel: kernel, stride: stride, padding: padding)
            XCTAssertLessThan(Convolution.chunkSize(rows: g.columnRows, count: g.columnCount, samples: n), n / 2, "several chunks")
            XCTAssertNotEqual(n % Convolution.chunkSize(rows: g.columnRows, count: g.columnCount, samples: n), 0, "a shorter last chunk")
            let x = Variable(random([n, c, side, side]), requiresGrad: true)
            let w = Variable(random([o, c, kernel, kernel]), requiresGrad: true)
            let y = Convolution.conv2d(x, w, nil, stride: stride, padding: padding)
            let (oh, ow) = (g.outputHeight, g.outputWidth)
            let direct = directConvolution(x.value, w.value, stride: stride, padding: padding)
            for s in [0, 13, 14, 29, 30] {
                for i in (s * o * oh * ow)..<((s + 1) * o * oh * ow) {
                    XCTAssertEqual(y.value.storage[i], direct.storage[i], accuracy: 1e-4, "k\(kernel) sample \(s)")
                }
            }
            let r = Variable(random(y.shape))
            Ops.sum(Ops.multiply(y, r)).backward()
            var weightSum = [Float](repeating: 0, count: w.value.count)
            for s in 0..<n {
                let one = Variable(
                    Tensor(shape: [1, c, side, side], storage: Array(x.value.storage[(s * c * side * side)..<((s + 1) * c * side * side)])),
                    requiresGrad: true)
                let wOne = Variable(w.value, requiresGrad: true)
                let rOne = Variable(Tensor(shape: [1, o, oh, ow], storage: Array(r.value.storage[(s * o * oh * ow)..<((s + 1) * o * oh * ow)])))
                Ops.sum(Ops.multiply(Convolution.conv2d(one, wOne, nil, stride: stride, padding: padding), rOne)).backward()
                for i in 0..<weightSum.count { weightSum[i] += wOne.grad!.storage[i] }
                let dx = Array(x.grad!.storage[(s * c * side * side)..<((s + 1) * c * side * side)])
                for i in 0..<dx.count { XCTAssertEqual(dx[i], one.grad!.storage[i], accuracy: 1e-4, "dx, k\(kernel) sample \(s)") }
            }
            for i in 0..<weightSum.count {
                XCTAssertEqual(w.grad!.storage[i], weightSum[i], accuracy: 1e-3 * max(1, abs(weightSum[i])), "dw[\(i)], k\(kernel)")
            }
        }
    }

    func testConvolutionPoolingAndBatchNorm() {
        let x = parameter([2, 3, 6, 6], awayFromZero: true)
        let w = parameter([4, 3, 3, 3]), b = parameter([4])
        check("conv pad 1", [x, w, b]) { Convolution.conv2d($0[0], $0[1], $0[2], stride: 1, padding: 1) }
        check("conv stride 2", [x, w, b]) { Convolution.conv2d($0[0], $0[1], $0[2], stride: 2, padding: 1) }
        check("conv 5×5 pad 2", [x, parameter([4, 3, 5, 5]), b]) { Convolution.conv2d($0[0], $0[1], $0[2], stride: 1, padding: 2) }
        check("conv no padding", [x, w, b]) { Convolution.conv2d($0[0], $0[1], $0[2], stride: 1, padding: 0) }
        // A 1×1 image under a 5×5 kernel with padding 2: kernel rows that reach no image row at all.
        check("conv kernel larger than the image", [parameter([2, 3, 1, 1], awayFromZero: true), parameter([4, 3, 5, 5]), b]) {
            Convolution.conv2d($0[0], $0[1], $0[2], stride: 1, padding: 2)
        }
        let w5 = parameter([2, 3, 5, 5])
        check("conv 5x5 pad 2 no bias", [x, w5]) { Convolution.conv2d($0[0], $0[1], nil, stride: 1, padding: 2) }
        // Distinct values per window keep the argmax away from ties.
        let pooled = Variable(Tensor(shape: [1, 2, 4, 4], storage: (0..<32).map { Float(($0 * 7) % 32) / 8 - 2 }), requiresGrad: true)
        check("max pool", [pooled]) { Convolution.maxPool2d($0[0], kernel: 2) }
        check("global average pool", [x]) { Convolution.globalAveragePool($0[0]) }
        // Small batches, so every term of the batch-norm gradient is large enough to be checked.
        let small = parameter([2, 3, 2, 2])
        let gamma = parameter([3]), beta = parameter([3])
        var mean = [Float](repeating: 0, count: 3), variance = [Float](repeating: 1, count: 3)
        check("batch norm 2d", [small, gamma, beta], tolerance: 1e-2) {
            BatchNorm.apply($0[0], gamma: $0[1], beta: $0[2], runningMean: &mean, runningVariance: &variance, training: true)
        }
        // Planes of 12 run the vector loops and their tails.
        let wide = parameter([2, 3, 3, 4])
        check("batch norm 2d, wide planes", [wide, gamma, beta], tolerance: 1e-2) {
            BatchNorm.apply($0[0], gamma: $0[1], beta: $0[2], runningMean: &mean, runningVariance: &variance, training: true)
        }
        let rows = parameter([6, 3])
        check("batch norm 1d", [rows, gamma, beta], tolerance: 1e-2) {
            BatchNorm.apply($0[0], gamma: $0[1], beta: $0[2], runningMean: &mean, runningVariance: &variance, training: true)
        }
        // The fused ReLU against the composition it replaces (finite differences straddle its kink
        // too easily once batch statistics couple every output to every input).
        let r = Variable(random(small.shape))
        func gradients(fused: Bool) -> [Tensor] {
            for v in [small, gamma, beta] { v.grad = nil }
            let y =
                fused
                ? BatchNorm.apply(small, gamma: gamma, beta: beta, runningMean: &mean, runningVariance: &variance, training: true, relu: true)
                : Ops.relu(BatchNorm.apply(small, gamma: gamma, beta: beta, runningMean: &mean, runningVariance: &variance, training: true))
            Ops.sum(Ops.multiply(y, r)).backward()
            return [small.grad!, gamma.grad!, beta.grad!]
        }
        for (fused, composed) in zip(gradients(fused: true), gradients(fused: false)) {
            for (a, b) in zip(fused.storage, composed.storage) { XCTAssertEqual(a, b, accuracy: 1e-5, "fused batch norm + ReLU") }
        }
        check("batch norm eval", [rows, gamma, beta]) {
            BatchNorm.apply($0[0], gamma: $0[1], beta: $0[2], runningMean: &mean, runningVariance: &variance, training: false)
        }
    }

    func testSelectionNormalizationAndMixing() {
        let a = parameter([3, 4]), b = parameter([2, 4])
        check("concatenate", [a, b]) { Ops.concatenate([$0[0], $0[1]]) }
        check("gather with repeats", [a]) { Ops.gather($0[0], rows: [2, 0, 2]) }
        check("l2 normalize", [a]) { Ops.l2Normalize($0[0]) }
        check("cosine similarity", [a, b]) { Ops.cosineSimilarity($0[0], $0[1]) }
        check("mix", [a, parameter([3, 4])]) { Ops.mix($0[0], $0[1], lambda: 0.3) }
        let logits = parameter([3, 4])
        check("entropy of softmax", [logits]) { Ops.entropy(Ops.softmax($0[0])) }
        let image = parameter([2, 1, 5, 5])
        check("sobel", [image]) { Ops.sobel($0[0]) }
        var generator = RandomStream(seed: 4)
        var replay = generator
        let x = parameter([4, 5])
        check("dropout", [x]) { _ in
            replay = generator
            return Ops.dropout(x, probability: 0.5, training: true, rng: &replay)
        }
        _ = generator.next()
    }

    func testNoGradientModeRecordsNothing() {
        let a = parameter([2, 2])
        let result = GradientMode.withoutGradients { Ops.relu(a) }
        XCTAssertFalse(result.requiresGrad)
        XCTAssertTrue(Ops.relu(a).requiresGrad)
    }
}

final class ConvolutionForwardTests: XCTestCase {
    /// im2col + GEMM against the definition, for every kernel, stride and padding the networks use.
    func testAgreesWithTheDirectSum() {
        var rng = RandomStream(seed: 31)
        for (kernel, stride, padding) in [(1, 1, 0), (1, 2, 0), (3, 1, 1), (3, 2, 1), (3, 1, 0), (5, 1, 2), (5, 2, 2), (3, 2, 0)] {
            let (n, c, h, w, o) = (2, 3, 7, 6, 4)
            let x = Tensor(shape: [n, c, h, w], storage: (0..<(n * c * h * w)).map { _ in Float(rng.uniform() - 0.5) })
            let weight = Tensor(shape: [o, c, kernel, kernel], storage: (0..<(o * c * kernel * kernel)).map { _ in Float(rng.uniform() - 0.5) })
            let out = Convolution.conv2d(Variable(x), Variable(weight), nil, stride: stride, padding: padding).value
            let (oh, ow) = ((h + 2 * padding - kernel) / stride + 1, (w + 2 * padding - kernel) / stride + 1)
            XCTAssertEqual(out.shape, [n, o, oh, ow])
            let direct = directConvolution(x, weight, stride: stride, padding: padding)
            for i in 0..<out.count {
                XCTAssertEqual(out.storage[i], direct.storage[i], accuracy: 1e-5, "k\(kernel) s\(stride) p\(padding)")
            }
        }
    }
}

/// The convolution by its definition, y[s, o, y, x] = Σ w[o, c, ky, kx] · x[s, c, y·stride + ky − p, x·stride + kx − p]
/// (zero outside the image): the reference for im2col + GEMM.
func directConvolution(_ x: Tensor, _ weight: Tensor, stride: Int, padding: Int) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, kernel) = (weight.shape[0], weight.shape[2])
    let (oh, ow) = ((h + 2 * padding - kernel) / stride + 1, (w + 2 * padding - kernel) / stride + 1)
    var out = Tensor(zeros: [n, o, oh, ow])
    for s in 0..<n {
        for oc in 0..<o {
            for y in 0..<oh {
                for xx in 0..<ow {
                    var sum: Float = 0
                    for ch in 0..<c {
                        for ky in 0..<kernel {
                            for kx in 0..<kernel {
                                let (iy, ix) = (y * stride + ky - padding, xx * stride + kx - padding)
                                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                                sum += x.storage[((s * c + ch) * h + iy) * w + ix] * weight.storage[((oc * c + ch) * kernel + ky) * kernel + kx]
                            }
                        }
                    }
                    out.storage[((s * o + oc) * oh + y) * ow + xx] = sum
                }
            }
        }
    }
    return out
}
