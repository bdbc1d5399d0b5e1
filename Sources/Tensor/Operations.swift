import Foundation

/// Elementwise and reduction operations with their gradients.
public enum Ops {
    static func map(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
        Tensor(shape: x.shape) { o in
            x.storage.withUnsafeBufferPointer { v in
                for i in 0..<o.count { o[i] = f(v[i]) }
            }
        }
    }

    static func zip(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        precondition(a.shape == b.shape, "shapes differ: \(a.shape) and \(b.shape)")
        return Tensor(shape: a.shape) { o in
            a.storage.withUnsafeBufferPointer { x in
                b.storage.withUnsafeBufferPointer { y in
                    for i in 0..<o.count { o[i] = f(x[i], y[i]) }
                }
            }
        }
    }

    public static func add(_ a: Variable, _ b: Variable) -> Variable {
        Variable(zip(a.value, b.value, +), inputs: [a, b]) { g in
            a.accumulate(g)
            b.accumulate(g)
        }
    }

    public static func subtract(_ a: Variable, _ b: Variable) -> Variable {
        Variable(zip(a.value, b.value, -), inputs: [a, b]) { g in
            a.accumulate(g)
            b.accumulate(map(g) { -$0 })
        }
    }

    public static func multiply(_ a: Variable, _ b: Variable) -> Variable {
        Variable(zip(a.value, b.value, *), inputs: [a, b]) { g in
            a.accumulate(zip(g, b.value, *))
            b.accumulate(zip(g, a.value, *))
        }
    }

    public static func scale(_ a: Variable, _ factor: Float) -> Variable {
        Variable(map(a.value) { $0 * factor }, inputs: [a]) { g in a.accumulate(map(g) { $0 * factor }) }
    }

    /// x + b with b of length C added along the last dimension (a linear layer's bias).
    public static func addBias(_ x: Variable, _ bias: Variable) -> Variable {
        let c = bias.value.count
        precondition(x.shape.last == c, "bias length \(c) does not match the last dimension \(x.shape)")
        var out = x.value
        out.storage.withUnsafeMutableBufferPointer { o in
            bias.value.storage.withUnsafeBufferPointer { b in
                for i in 0..<o.count { o[i] += b[i % c] }
            }
        }
        return Variable(out, inputs: [x, bias]) { g in
            x.accumulate(g)
            var db = Tensor(zeros: [c])
            g.storage.withUnsafeBufferPointer { d in
                for i in 0..<d.count { db.storage[i % c] += d[i] }
            }
            bias.accumulate(db)
        }
    }

    public static func relu(_ x: Variable) -> Variable { leakyRelu(x, slope: 0) }

    public static func leakyRelu(_ x: Variable, slope: Float) -> Variable {
        Variable(map(x.value) { $0 > 0 ? $0 : slope * $0 }, inputs: [x]) { g in
            x.accumulate(zip(g, x.value) { d, v in v > 0 ? d : slope * d })
        }
    }

    /// GELU, tanh approximation.
    public static func gelu(_ x: Variable) -> Variable {
        let c: Float = 0.7978845608
        let out = map(x.value) { v in 0.5 * v * (1 + tanh(c * (v + 0.044715 * v * v * v))) }
        return Variable(out, inputs: [x]) { g in
            x.accumulate(
                zip(g, x.value) { d, v in
                    let inner = c * (v + 0.044715 * v * v * v)
                    let t = tanh(inner)
                    let derivative = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v)
                    return d * derivative
                })
        }
    }

    public static func sum(_ x: Variable) -> Variable {
        let total = x.value.storage.reduce(0, +)
        return Variable(Tensor(shape: [1], storage: [total]), inputs: [x]) { g in
            x.accumulate(Tensor(shape: x.shape, storage: [Float](repeating: g.storage[0], count: x.value.count)))
        }
    }

    public static func mean(_ x: Variable) -> Variable {
        scale(sum(x), 1 / Float(x.value.count))
    }

    public static func reshape(_ x: Variable, _ shape: [Int]) -> Variable {
        Variable(x.value.reshaped(shape), inputs: [x]) { g in x.accumulate(g.reshaped(x.shape)) }
    }

    /// Rows × columns matrix product (either side transposed).
    public static func matmul(_ a: Variable, _ b: Variable, transposeA: Bool = false, transposeB: Bool = false) -> Variable {
        let out = MatrixMultiply.multiply(a.value, b.value, transposeA: transposeA, transposeB: transposeB)
        return Variable(out, inputs: [a, b]) { g in
            // C = op(A) op(B): dA = g op(B)ᵀ (transposed back if A was), dB likewise.
            if a.requiresGrad {
                a.accumulate(
                    transposeA
                        ? MatrixMultiply.multiply(b.value, g, transposeA: transposeB, transposeB: true)
                        : MatrixMultiply.multiply(g, b.value, transposeB: !transposeB))
            }
            if b.requiresGrad {
                b.accumulate(
                    transposeB
                        ? MatrixMultiply.multiply(g, a.value, transposeA: true, transposeB: transposeA)
                        : MatrixMultiply.multiply(a.value, g, transposeA: !transposeA))
            }
        }
    }

    /// log softmax over the last dimension of a 2-D tensor.
    public static func logSoftmax(_ x: Variable) -> Variable {
        precondition(x.value.rank == 2, "logSoftmax takes rows × classes")
        let (rows, classes) = (x.shape[0], x.shape[1])
        var out = x.value
        out.storage.withUnsafeMutableBufferPointer { o in
            for r in 0..<rows {
                let row = UnsafeMutableBufferPointer(rebasing: o[(r * classes)..<((r + 1) * classes)])
                let largest = row.max() ?? 0
                var total: Float = 0
                for i in row.indices { total += exp(row[i] - largest) }
                let logTotal = largest + log(total)
                for i in row.indices { row[i] -= logTotal }
            }
        }
        let result = out
        return Variable(result, inputs: [x]) { g in
            // d/dx_j = g_j − softmax_j Σ_i g_i
            var dx = g
            dx.storage.withUnsafeMutableBufferPointer { d in
                result.storage.withUnsafeBufferPointer { y in
                    for r in 0..<rows {
                        var total: Float = 0
                        for c in 0..<classes { total += d[r * classes + c] }
                        for c in 0..<classes { d[r * classes + c] -= exp(y[r * classes + c]) * total }
                    }
                }
            }
            x.accumulate(dx)
        }
    }

    public static func softmax(_ x: Variable) -> Variable {
        let logs = logSoftmax(x)
        let out = map(logs.value) { exp($0) }
        return Variable(out, inputs: [logs]) { g in logs.accumulate(zip(g, out, *)) }
    }

    /// Mean cross-entropy of logits against class labels, with optional label smoothing ε:
    /// the target puts 1 − ε on the label and ε/K on every class.
    public static func crossEntropy(_ logits: Variable, labels: [Int], labelSmoothing: Float = 0) -> Variable {
        let (rows, classes) = (logits.shape[0], logits.shape[1])
        precondition(labels.count == rows, "one label per row")
        var targets = Tensor(zeros: [rows, classes])
        for (r, label) in labels.enumerated() {
            for c in 0..<classes { targets.storage[r * classes + c] = labelSmoothing / Float(classes) }
            targets.storage[r * classes + label] += 1 - labelSmoothing
        }
        return crossEntropy(logits, targets: Variable(targets))
    }

    /// Mean cross-entropy against soft targets (rows of probabilities), e.g. MixMatch's.
    public static func crossEntropy(_ logits: Variable, targets: Variable) -> Variable {
        let logs = logSoftmax(logits)
        return scale(sum(multiply(logs, targets)), -1 / Float(logits.shape[0]))
    }
}
