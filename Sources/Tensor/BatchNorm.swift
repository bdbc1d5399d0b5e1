import Foundation

/// Batch normalization over [N, C] or [N, C, H, W], per channel. Training uses the batch's mean and
/// (biased) variance and updates running statistics with momentum (unbiased variance, as PyTorch);
/// evaluation uses the running statistics. `relu` fuses the ReLU that usually follows, so the
/// pre-activation never becomes a separate tensor (one activation buffer and one pass less).
public enum BatchNorm {
    public static func apply(_ x: Variable, gamma: Variable, beta: Variable, runningMean: inout [Float], runningVariance: inout [Float],
                             training: Bool, momentum: Float = 0.1, epsilon: Float = 1e-5, relu: Bool = false) -> Variable {
        let n = x.shape[0], c = x.shape[1]
        let plane = x.value.rank == 4 ? x.shape[2] * x.shape[3] : 1
        let m = n * plane
        var mean = [Float](repeating: 0, count: c)
        var variance = [Float](repeating: 0, count: c)
        let input = x.value.storage
        if training {
            // Sums per channel over contiguous planes, in Double so large batches stay exact enough.
            var sums = [Double](repeating: 0, count: c)
            var squares = [Double](repeating: 0, count: c)
            input.withUnsafeBufferPointer { v in
                for s in 0..<n {
                    for ch in 0..<c {
                        let base = (s * c + ch) * plane
                        var total: Float = 0, total2: Float = 0
                        for j in 0..<plane {
                            let value = v[base + j]
                            total += value
                            total2 += value * value
                        }
                        sums[ch] += Double(total)
                        squares[ch] += Double(total2)
                    }
                }
            }
            for ch in 0..<c {
                let mu = sums[ch] / Double(m)
                let biased = max(0, squares[ch] / Double(m) - mu * mu)
                mean[ch] = Float(mu)
                variance[ch] = Float(biased)
                runningMean[ch] = (1 - momentum) * runningMean[ch] + momentum * mean[ch]
                let unbiased = m > 1 ? Float(biased * Double(m) / Double(m - 1)) : variance[ch]
                runningVariance[ch] = (1 - momentum) * runningVariance[ch] + momentum * unbiased
            }
        } else {
            mean = runningMean
            variance = runningVariance
        }
        let inverseStd = variance.map { 1 / ($0 + epsilon).squareRoot() }
        // x̂ is not stored: backward recomputes it from x (which the graph keeps anyway), which saves
        // an activation-sized buffer per batch-norm layer.
        let out = Tensor(shape: x.shape) { o in
            input.withUnsafeBufferPointer { v in
                for s in 0..<n {
                    for ch in 0..<c {
                        let base = (s * c + ch) * plane
                        let scale = gamma.value.storage[ch] * inverseStd[ch]
                        let shift = beta.value.storage[ch] - mean[ch] * scale
                        if relu {
                            for j in base..<(base + plane) { o[j] = max(0, v[j] * scale + shift) }
                        } else {
                            for j in base..<(base + plane) { o[j] = v[j] * scale + shift }
                        }
                    }
                }
            }
        }
        return Variable(out, inputs: [x, gamma, beta]) { upstream in
            // Fused ReLU: the gradient passes where the output is positive.
            let g = relu ? Ops.zip(upstream, out) { d, y in y > 0 ? d : 0 } : upstream
            var dGamma = [Float](repeating: 0, count: c)
            var dBeta = [Float](repeating: 0, count: c)
            var dx = Tensor(zeros: x.shape)
            g.storage.withUnsafeBufferPointer { dy in
                x.value.storage.withUnsafeBufferPointer { xv in
                    for s in 0..<n {
                        for ch in 0..<c {
                            let base = (s * c + ch) * plane
                            let (mu, inv) = (mean[ch], inverseStd[ch])
                            var sumDy: Float = 0, sumDyXHat: Float = 0
                            for j in base..<(base + plane) {
                                sumDy += dy[j]
                                sumDyXHat += dy[j] * (xv[j] - mu) * inv
                            }
                            dBeta[ch] += sumDy
                            dGamma[ch] += sumDyXHat
                        }
                    }
                    dx.storage.withUnsafeMutableBufferPointer { d in
                        for s in 0..<n {
                            for ch in 0..<c {
                                let base = (s * c + ch) * plane
                                let scale = gamma.value.storage[ch] * inverseStd[ch]
                                if training {
                                    let meanDy = dBeta[ch] / Float(m), meanDyXHat = dGamma[ch] / Float(m)
                                    let (mu, inv) = (mean[ch], inverseStd[ch])
                                    for j in base..<(base + plane) { d[j] = scale * (dy[j] - meanDy - (xv[j] - mu) * inv * meanDyXHat) }
                                } else {
                                    for j in base..<(base + plane) { d[j] = scale * dy[j] }
                                }
                            }
                        }
                    }
                }
            }
            x.accumulate(dx)
            gamma.accumulate(Tensor(shape: [c], storage: dGamma))
            beta.accumulate(Tensor(shape: [c], storage: dBeta))
        }
    }
}
