import Foundation

/// Batch normalization over [N, C] or [N, C, H, W], per channel. Training uses the batch's mean and
/// (biased) variance and updates running statistics with momentum (unbiased variance, as PyTorch);
/// evaluation uses the running statistics.
public enum BatchNorm {
    public static func apply(_ x: Variable, gamma: Variable, beta: Variable, runningMean: inout [Float], runningVariance: inout [Float],
                             training: Bool, momentum: Float = 0.1, epsilon: Float = 1e-5) -> Variable {
        let n = x.shape[0], c = x.shape[1]
        let plane = x.value.rank == 4 ? x.shape[2] * x.shape[3] : 1
        let m = n * plane
        @inline(__always) func index(_ s: Int, _ ch: Int, _ j: Int) -> Int { (s * c + ch) * plane + j }
        var mean = [Float](repeating: 0, count: c)
        var variance = [Float](repeating: 0, count: c)
        if training {
            for ch in 0..<c {
                var total: Double = 0
                for s in 0..<n { for j in 0..<plane { total += Double(x.value.storage[index(s, ch, j)]) } }
                let mu = total / Double(m)
                var squares: Double = 0
                for s in 0..<n { for j in 0..<plane { let d = Double(x.value.storage[index(s, ch, j)]) - mu; squares += d * d } }
                mean[ch] = Float(mu)
                variance[ch] = Float(squares / Double(m))
                runningMean[ch] = (1 - momentum) * runningMean[ch] + momentum * mean[ch]
                let unbiased = m > 1 ? Float(squares / Double(m - 1)) : variance[ch]
                runningVariance[ch] = (1 - momentum) * runningVariance[ch] + momentum * unbiased
            }
        } else {
            mean = runningMean
            variance = runningVariance
        }
        let inverseStd = variance.map { 1 / ($0 + epsilon).squareRoot() }
        var normalized = x.value
        var out = x.value
        for s in 0..<n {
            for ch in 0..<c {
                for j in 0..<plane {
                    let i = index(s, ch, j)
                    normalized.storage[i] = (x.value.storage[i] - mean[ch]) * inverseStd[ch]
                    out.storage[i] = gamma.value.storage[ch] * normalized.storage[i] + beta.value.storage[ch]
                }
            }
        }
        let xHat = normalized
        return Variable(out, inputs: [x, gamma, beta]) { g in
            var dGamma = Tensor(zeros: [c])
            var dBeta = Tensor(zeros: [c])
            var dx = Tensor(zeros: x.shape)
            for ch in 0..<c {
                var sumDy: Float = 0
                var sumDyXHat: Float = 0
                for s in 0..<n { for j in 0..<plane { let i = index(s, ch, j); sumDy += g.storage[i]; sumDyXHat += g.storage[i] * xHat.storage[i] } }
                dGamma.storage[ch] = sumDyXHat
                dBeta.storage[ch] = sumDy
                let scale = gamma.value.storage[ch] * inverseStd[ch]
                for s in 0..<n {
                    for j in 0..<plane {
                        let i = index(s, ch, j)
                        dx.storage[i] = training
                            ? scale * (g.storage[i] - sumDy / Float(m) - xHat.storage[i] * sumDyXHat / Float(m))
                            : scale * g.storage[i]
                    }
                }
            }
            x.accumulate(dx)
            gamma.accumulate(dGamma)
            beta.accumulate(dBeta)
        }
    }
}
