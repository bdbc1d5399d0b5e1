import Foundation

/// Batch normalization over [N, C] or [N, C, H, W], per channel. Training uses the batch's mean and
/// (biased) variance and updates running statistics with momentum (unbiased variance, as PyTorch);
/// evaluation uses the running statistics. `relu` fuses the ReLU that usually follows, so the
/// pre-activation never becomes a separate tensor (one activation buffer and one pass less).
public enum BatchNorm {
    public static func apply(
        _ x: Variable, gamma: Variable, beta: Variable, runningMean: inout [Float], runningVariance: inout [Float],
        training: Bool, momentum: Float = 0.1, epsilon: Float = 1e-5, relu: Bool = false
    ) -> Variable {
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
                        let (total, total2) = Kernels.sumAndSquares(v.baseAddress! + (s * c + ch) * plane, plane)
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
                        Kernels.affine(v.baseAddress! + base, to: o.baseAddress! + base, scale: scale, shift: shift, relu: relu, plane)
                    }
                }
            }
        }
        return Variable(out, inputs: [x, gamma, beta]) { upstream in
            // dx starts as the upstream gradient (masked where a fused ReLU clamped) and is updated in place.
            var dx = upstream
            var dGamma = [Float](repeating: 0, count: c)
            var dBeta = [Float](repeating: 0, count: c)
            dx.storage.withUnsafeMutableBufferPointer { d in
                x.value.storage.withUnsafeBufferPointer { xv in
                    if relu {
                        out.storage.withUnsafeBufferPointer { y in Kernels.maskNonPositive(d.baseAddress!, where: y.baseAddress!, d.count) }
                    }
                    for s in 0..<n {
                        for ch in 0..<c {
                            let base = (s * c + ch) * plane
                            // Σdy·x̂ = (Σdy·x − μ·Σdy)/σ
                            let (sumDy, sumDyX) = Kernels.sumAndDot(d.baseAddress! + base, xv.baseAddress! + base, plane)
                            dBeta[ch] += sumDy
                            dGamma[ch] += (sumDyX - mean[ch] * sumDy) * inverseStd[ch]
                        }
                    }
                    for s in 0..<n {
                        for ch in 0..<c {
                            let base = (s * c + ch) * plane
                            let scale = gamma.value.storage[ch] * inverseStd[ch]
                            if training {
                                // scale·(dy − mean(dy) − x̂·mean(dy·x̂)) as a·dy + b·x + c
                                let meanDy = dBeta[ch] / Float(m), meanDyXHat = dGamma[ch] / Float(m)
                                let b = -scale * inverseStd[ch] * meanDyXHat
                                Kernels.combine(
                                    d.baseAddress! + base, a: scale, xv.baseAddress! + base, b: b,
                                    c: -scale * meanDy - b * mean[ch], plane)
                            } else {
                                Kernels.combine(d.baseAddress! + base, a: scale, xv.baseAddress! + base, b: 0, c: 0, plane)
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
