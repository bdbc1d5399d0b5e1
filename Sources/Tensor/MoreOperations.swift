import Foundation
import RandomStreams

extension Ops {
    /// Inverted dropout: zeroes each value with probability p and scales the rest by 1/(1−p).
    public static func dropout(_ x: Variable, probability p: Float, training: Bool, rng: inout RandomStream) -> Variable {
        guard training, p > 0 else { return x }
        let keep = 1 - p
        let mask = (0..<x.value.count).map { _ in Float(rng.uniform()) < keep ? 1 / keep : 0 }
        let maskTensor = Tensor(shape: x.shape, storage: mask)
        return Variable(zip(x.value, maskTensor, *), inputs: [x]) { g in x.accumulate(zip(g, maskTensor, *)) }
    }

    /// Concatenation along the first dimension.
    public static func concatenate(_ parts: [Variable]) -> Variable {
        let tail = Array(parts[0].shape.dropFirst())
        precondition(parts.allSatisfy { Array($0.shape.dropFirst()) == tail }, "parts must agree beyond the first dimension")
        let storage = parts.flatMap(\.value.storage)
        let rows = parts.reduce(0) { $0 + $1.shape[0] }
        return Variable(Tensor(shape: [rows] + tail, storage: storage), inputs: parts) { g in
            var offset = 0
            for part in parts {
                let count = part.value.count
                part.accumulate(Tensor(shape: part.shape, storage: Array(g.storage[offset..<(offset + count)])))
                offset += count
            }
        }
    }

    /// Rows (first-dimension slices) by index, repeats allowed: a batch's neighbours, say.
    public static func gather(_ x: Variable, rows indices: [Int]) -> Variable {
        let stride = x.value.count / x.shape[0]
        var storage = [Float]()
        storage.reserveCapacity(indices.count * stride)
        for index in indices { storage.append(contentsOf: x.value.storage[(index * stride)..<((index + 1) * stride)]) }
        return Variable(Tensor(shape: [indices.count] + x.shape.dropFirst(), storage: storage), inputs: [x]) { g in
            var dx = Tensor(zeros: x.shape)
            for (position, index) in indices.enumerated() {
                for j in 0..<stride { dx.storage[index * stride + j] += g.storage[position * stride + j] }
            }
            x.accumulate(dx)
        }
    }

    /// Each row divided by its Euclidean norm (with ε against zero rows).
    public static func l2Normalize(_ x: Variable, epsilon: Float = 1e-12) -> Variable {
        let (rows, columns) = (x.shape[0], x.value.count / x.shape[0])
        var norms = [Float](repeating: 0, count: rows)
        var out = x.value
        for r in 0..<rows {
            var total: Float = 0
            for c in 0..<columns { total += x.value.storage[r * columns + c] * x.value.storage[r * columns + c] }
            norms[r] = max(total.squareRoot(), epsilon)
            for c in 0..<columns { out.storage[r * columns + c] /= norms[r] }
        }
        let y = out
        return Variable(y, inputs: [x]) { g in
            // d(x/‖x‖) = (g − y ⟨g, y⟩) / ‖x‖
            var dx = g
            for r in 0..<rows {
                var dot: Float = 0
                for c in 0..<columns { dot += g.storage[r * columns + c] * y.storage[r * columns + c] }
                for c in 0..<columns { dx.storage[r * columns + c] = (g.storage[r * columns + c] - y.storage[r * columns + c] * dot) / norms[r] }
            }
            x.accumulate(dx)
        }
    }

    /// Cosine similarities between the rows of a and of b: normalize, then a bᵀ.
    public static func cosineSimilarity(_ a: Variable, _ b: Variable) -> Variable {
        matmul(l2Normalize(a), l2Normalize(b), transposeB: true)
    }

    /// Entropy −Σ p log p of each row of probabilities, averaged over rows.
    public static func entropy(_ probabilities: Variable, epsilon: Float = 1e-8) -> Variable {
        let rows = probabilities.shape[0]
        let logs = map(probabilities.value) { log(max($0, epsilon)) }
        var total: Float = 0
        for i in 0..<probabilities.value.count { total -= probabilities.value.storage[i] * logs.storage[i] }
        return Variable(Tensor(shape: [1], storage: [total / Float(rows)]), inputs: [probabilities]) { g in
            let scale = -g.storage[0] / Float(rows)
            probabilities.accumulate(Ops.zip(probabilities.value, logs) { p, l in scale * (l + (p > epsilon ? 1 : 0)) })
        }
    }

    /// λ·a + (1 − λ)·b: MixMatch's and mixup's convex combinations of batches.
    public static func mix(_ a: Variable, _ b: Variable, lambda: Float) -> Variable {
        add(scale(a, lambda), scale(b, 1 - lambda))
    }

    /// Sobel gradients of single-channel images: [N, 1, H, W] → [N, 2, H, W] (x and y), zero padding.
    /// IIC feeds these instead of raw pixels; the filter is fixed, gradients flow to the input.
    public static func sobel(_ x: Variable) -> Variable {
        let kernel = Tensor(shape: [2, 1, 3, 3], storage: [-1, 0, 1, -2, 0, 2, -1, 0, 1, -1, -2, -1, 0, 0, 0, 1, 2, 1])
        return Convolution.conv2d(x, Variable(kernel), nil, stride: 1, padding: 1)
    }
}
