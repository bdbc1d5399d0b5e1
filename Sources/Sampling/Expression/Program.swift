import Foundation

/// A compiled expression: a straight-line program over slots (scalars or fixed-length vectors),
/// evaluated forward and differentiated in reverse without allocating.
public struct Program: Sendable {
    struct Slot: Sendable {
        var offset: Int
        var length: Int
        var isScalar: Bool
        /// Whether the value depends on a parameter (only those need adjoints).
        var active: Bool
    }

    enum UnaryOp: Sendable {
        case negate, not, exp, log, log1p, expm1, sqrt, abs, sin, cos, tan, tanh, atan, lgamma, logistic, round
        /// log(1 + eˣ), computed without overflow.
        case softplus
        /// log σ(z) + log(1 − σ(z)): the log Jacobian of the logit transform of a bounded parameter.
        case logitJacobian
    }

    enum BinaryOp: Sendable {
        case add, subtract, multiply, divide, power, less, lessEqual, greater, greaterEqual, equal, notEqual, and, or
        case logSumExp, minimum, maximum
    }

    enum Instruction: Sendable {
        case parameter(out: Int, thetaOffset: Int)
        case unary(UnaryOp, out: Int, a: Int)
        case binary(BinaryOp, out: Int, a: Int, b: Int)
        case select(out: Int, condition: Int, a: Int, b: Int)
        case sum(out: Int, a: Int)
        case logSumExpReduce(out: Int, a: Int)
        case index(out: Int, a: Int, i: Int)
        /// Gathers single values (by value-buffer offset) into a vector: `nu[t] = …` assigned element by element.
        case pack(out: Int, offsets: [Int])
        /// The summed log density of a family over broadcast arguments (outcome first): one node for a
        /// whole vectorized likelihood, with analytic partials.
        case density(DensityFamily, out: Int, arguments: [Int])
        /// out = M·x for a row-major rows × columns matrix.
        case matrixVector(out: Int, matrix: Int, vector: Int, rows: Int, columns: Int)
        /// out = the lower Cholesky factor of the n × n matrix a (its lower triangle is read), NaN where it
        /// is not positive definite; reverse mode by reversing the factorization's own loops, in place.
        case cholesky(out: Int, a: Int, n: Int)
    }

    var slots: [Slot]
    var instructions: [Instruction]
    /// Initial contents of the value buffer: constants and data are written once here.
    var initialValues: [Double]
    var result: Int
    public let parameterCount: Int
    /// Value-buffer offsets of the values reported with each draw (model programs; empty for expressions).
    var outputs: [Int] = []
}

/// Evaluates one program; holds the value and adjoint buffers, so use one per thread or chain.
public final class Evaluator {
    let program: Program
    private var values: [Double]
    private var adjoints: [Double]

    /// The value-buffer ranges that can carry an adjoint (slots that depend on parameters): only these
    /// are cleared before each gradient, not the data, which can be most of the buffer.
    private let activeRanges: [Range<Int>]

    public init(_ program: Program) {
        self.program = program
        self.values = program.initialValues
        self.adjoints = [Double](repeating: 0, count: program.initialValues.count)
        var active = [Bool](repeating: false, count: program.initialValues.count)
        for slot in program.slots where slot.active { for k in 0..<slot.length { active[slot.offset + k] = true } }
        var ranges: [Range<Int>] = []
        var start: Int?
        for index in 0...active.count {
            let isActive = index < active.count && active[index]
            if isActive && start == nil { start = index }
            if !isActive, let first = start {
                ranges.append(first..<index)
                start = nil
            }
        }
        self.activeRanges = ranges
    }

    /// The expression's value at θ; NaN and +∞ become −∞ ("zero density"), never a crash.
    public func value(_ theta: UnsafeBufferPointer<Double>) -> Double {
        forward(theta)
        let value = values[program.slots[program.result].offset]
        return value.isNaN || value == .infinity ? -.infinity : value
    }

    public func value(_ theta: [Double]) -> Double {
        theta.withUnsafeBufferPointer { value($0) }
    }

    /// The expression's value as computed, NaN and infinities included: for functions whose
    /// expectations are estimated, not densities.
    public func rawValue(_ theta: [Double]) -> Double {
        theta.withUnsafeBufferPointer { forward($0) }
        return values[program.slots[program.result].offset]
    }

    /// Value and ∂/∂θ; the gradient is written into `gradient` (length parameterCount).
    public func valueAndGradient(_ theta: UnsafeBufferPointer<Double>, into gradient: UnsafeMutableBufferPointer<Double>) -> Double {
        forward(theta)
        let resultSlot = program.slots[program.result]
        let value = values[resultSlot.offset]
        for index in gradient.indices { gradient[index] = 0 }
        guard value.isFinite else { return value.isNaN || value == .infinity ? -.infinity : value }
        backward(into: gradient)
        return value
    }

    public func valueAndGradient(_ theta: [Double]) -> (value: Double, gradient: [Double]) {
        var gradient = [Double](repeating: 0, count: program.parameterCount)
        let value = theta.withUnsafeBufferPointer { theta in
            gradient.withUnsafeMutableBufferPointer { valueAndGradient(theta, into: $0) }
        }
        return (value, gradient)
    }

    // MARK: Forward

    private func forward(_ theta: UnsafeBufferPointer<Double>) {
        let slots = program.slots
        values.withUnsafeMutableBufferPointer { v in
            for instruction in program.instructions {
                switch instruction {
                case .parameter(let out, let thetaOffset):
                    let slot = slots[out]
                    for k in 0..<slot.length { v[slot.offset + k] = theta[thetaOffset + k] }
                case .unary(let op, let out, let a):
                    let o = slots[out], x = slots[a]
                    for k in 0..<o.length { v[o.offset + k] = Self.apply(op, v[x.offset + k]) }
                case .binary(let op, let out, let a, let b):
                    let o = slots[out], x = slots[a], y = slots[b]
                    let xs = x.isScalar ? 0 : 1, ys = y.isScalar ? 0 : 1
                    for k in 0..<o.length { v[o.offset + k] = Self.apply(op, v[x.offset + k * xs], v[y.offset + k * ys]) }
                case .select(let out, let condition, let a, let b):
                    let o = slots[out], c = slots[condition], x = slots[a], y = slots[b]
                    let cs = c.isScalar ? 0 : 1, xs = x.isScalar ? 0 : 1, ys = y.isScalar ? 0 : 1
                    for k in 0..<o.length {
                        v[o.offset + k] = v[c.offset + k * cs] != 0 ? v[x.offset + k * xs] : v[y.offset + k * ys]
                    }
                case .sum(let out, let a):
                    let x = slots[a]
                    var total = 0.0
                    for k in 0..<x.length { total += v[x.offset + k] }
                    v[slots[out].offset] = total
                case .logSumExpReduce(let out, let a):
                    let x = slots[a]
                    var largest = -Double.infinity
                    for k in 0..<x.length { largest = max(largest, v[x.offset + k]) }
                    var total = 0.0
                    if largest.isFinite { for k in 0..<x.length { total += exp(v[x.offset + k] - largest) } }
                    v[slots[out].offset] = largest.isFinite ? largest + log(total) : largest
                case .index(let out, let a, let i):
                    let x = slots[a]
                    let position = v[slots[i].offset]
                    if position >= 0, position < Double(x.length), position.rounded() == position {
                        v[slots[out].offset] = v[x.offset + Int(position)]
                    } else {
                        v[slots[out].offset] = .nan
                    }
                case .pack(let out, let offsets):
                    let o = slots[out].offset
                    for (k, source) in offsets.enumerated() { v[o + k] = v[source] }
                case .density(let family, let out, let arguments):
                    v[slots[out].offset] = family.logDensity(arguments, slots, UnsafeBufferPointer(v))
                case .matrixVector(let out, let matrix, let vector, let rows, let columns):
                    let o = slots[out].offset, m = slots[matrix].offset, x = slots[vector].offset
                    for row in 0..<rows {
                        var total = 0.0
                        let base = m + row * columns
                        for column in 0..<columns { total += v[base + column] * v[x + column] }
                        v[o + row] = total
                    }
                case .cholesky(let out, let a, let n):
                    Self.choleskyForward(v, a: slots[a].offset, l: slots[out].offset, n: n)
                }
            }
        }
    }

    static func choleskyForward(_ v: UnsafeMutableBufferPointer<Double>, a: Int, l: Int, n: Int) {
        for index in 0..<(n * n) { v[l + index] = 0 }
        for j in 0..<n {
            var s = v[a + j * n + j]
            for k in 0..<j { s -= v[l + j * n + k] * v[l + j * n + k] }
            guard s > 0 else {
                for index in 0..<(n * n) { v[l + index] = .nan }
                return
            }
            let pivot = s.squareRoot()
            v[l + j * n + j] = pivot
            for i in (j + 1)..<max(j + 1, n) {
                var t = v[a + i * n + j]
                for k in 0..<j { t -= v[l + i * n + k] * v[l + j * n + k] }
                v[l + i * n + j] = t / pivot
            }
        }
    }

    /// The factorization's loops reversed: column by column from the last, each column's off-diagonal
    /// entries before its pivot. L̄ (in the adjoint buffer at `l`) is consumed; Ā gets the lower triangle.
    static func choleskyBackward(
        _ v: UnsafeBufferPointer<Double>, _ d: UnsafeMutableBufferPointer<Double>, a: Int, aActive: Bool, l: Int, n: Int
    ) {
        for j in stride(from: n - 1, through: 0, by: -1) {
            let pivot = v[l + j * n + j]
            for i in stride(from: n - 1, to: j, by: -1) {
                let lBar = d[l + i * n + j]
                if lBar == 0 { continue }
                let tBar = lBar / pivot
                d[l + j * n + j] -= lBar * v[l + i * n + j] / pivot
                if aActive { d[a + i * n + j] += tBar }
                for k in 0..<j {
                    d[l + i * n + k] -= tBar * v[l + j * n + k]
                    d[l + j * n + k] -= tBar * v[l + i * n + k]
                }
            }
            let sBar = d[l + j * n + j] / (2 * pivot)
            if aActive { d[a + j * n + j] += sBar }
            for k in 0..<j { d[l + j * n + k] -= 2 * sBar * v[l + j * n + k] }
        }
    }

    /// The values reported with a draw at θ (a model program's parameters and transformed parameters).
    public func outputs(_ theta: UnsafeBufferPointer<Double>) -> [Double] {
        forward(theta)
        return program.outputs.map { values[$0] }
    }

    @inline(__always)
    static func apply(_ op: Program.UnaryOp, _ x: Double) -> Double {
        switch op {
        case .negate: return -x
        case .not: return x == 0 ? 1 : 0
        case .exp: return Foundation.exp(x)
        case .log: return Foundation.log(x)
        case .log1p: return Foundation.log1p(x)
        case .expm1: return Foundation.expm1(x)
        case .sqrt: return x.squareRoot()
        case .abs: return Swift.abs(x)
        case .sin: return Foundation.sin(x)
        case .cos: return Foundation.cos(x)
        case .tan: return Foundation.tan(x)
        case .tanh: return Foundation.tanh(x)
        case .atan: return Foundation.atan(x)
        case .lgamma: return Special.logGamma(x)
        case .logistic: return 1 / (1 + Foundation.exp(-x))
        case .round: return x.rounded()
        case .softplus: return x > 0 ? x + Foundation.log1p(Foundation.exp(-x)) : Foundation.log1p(Foundation.exp(x))
        case .logitJacobian: return -Swift.abs(x) - 2 * Foundation.log1p(Foundation.exp(-Swift.abs(x)))
        }
    }

    @inline(__always)
    static func apply(_ op: Program.BinaryOp, _ x: Double, _ y: Double) -> Double {
        switch op {
        case .add: return x + y
        case .subtract: return x - y
        case .multiply: return x * y
        case .divide: return x / y
        case .power: return y == 2 ? x * x : Foundation.pow(x, y)
        case .less: return x < y ? 1 : 0
        case .lessEqual: return x <= y ? 1 : 0
        case .greater: return x > y ? 1 : 0
        case .greaterEqual: return x >= y ? 1 : 0
        case .equal: return x == y ? 1 : 0
        case .notEqual: return x != y ? 1 : 0
        case .and: return x != 0 && y != 0 ? 1 : 0
        case .or: return x != 0 || y != 0 ? 1 : 0
        case .logSumExp:
            let largest = Swift.max(x, y)
            return largest == -.infinity ? largest : largest + Foundation.log(Foundation.exp(x - largest) + Foundation.exp(y - largest))
        case .minimum: return Swift.min(x, y)
        case .maximum: return Swift.max(x, y)
        }
    }

    // MARK: Reverse

    private func backward(into gradient: UnsafeMutableBufferPointer<Double>) {
        let slots = program.slots
        adjoints.withUnsafeMutableBufferPointer { d in
            for range in activeRanges { for index in range { d[index] = 0 } }
            d[slots[program.result].offset] = 1
            values.withUnsafeBufferPointer { v in
                for instruction in program.instructions.reversed() {
                    switch instruction {
                    case .parameter(let out, let thetaOffset):
                        let slot = slots[out]
                        for k in 0..<slot.length { gradient[thetaOffset + k] += d[slot.offset + k] }
                    case .unary(let op, let out, let a):
                        let o = slots[out], x = slots[a]
                        guard x.active else { continue }
                        for k in 0..<o.length {
                            let upstream = d[o.offset + k]
                            if upstream == 0 { continue }
                            d[x.offset + k] += upstream * Self.derivative(op, v[x.offset + k], v[o.offset + k])
                        }
                    case .binary(let op, let out, let a, let b):
                        let o = slots[out], x = slots[a], y = slots[b]
                        guard x.active || y.active else { continue }
                        let xs = x.isScalar ? 0 : 1, ys = y.isScalar ? 0 : 1
                        for k in 0..<o.length {
                            let upstream = d[o.offset + k]
                            if upstream == 0 { continue }
                            let (dx, dy) = Self.partials(op, v[x.offset + k * xs], v[y.offset + k * ys], v[o.offset + k])
                            if x.active { d[x.offset + k * xs] += upstream * dx }
                            if y.active { d[y.offset + k * ys] += upstream * dy }
                        }
                    case .select(let out, let condition, let a, let b):
                        let o = slots[out], c = slots[condition], x = slots[a], y = slots[b]
                        let cs = c.isScalar ? 0 : 1, xs = x.isScalar ? 0 : 1, ys = y.isScalar ? 0 : 1
                        for k in 0..<o.length {
                            let upstream = d[o.offset + k]
                            if upstream == 0 { continue }
                            if v[c.offset + k * cs] != 0 {
                                if x.active { d[x.offset + k * xs] += upstream }
                            } else if y.active {
                                d[y.offset + k * ys] += upstream
                            }
                        }
                    case .sum(let out, let a):
                        let x = slots[a]
                        guard x.active else { continue }
                        let upstream = d[slots[out].offset]
                        for k in 0..<x.length { d[x.offset + k] += upstream }
                    case .logSumExpReduce(let out, let a):
                        let x = slots[a]
                        guard x.active else { continue }
                        let upstream = d[slots[out].offset]
                        let total = v[slots[out].offset]
                        for k in 0..<x.length { d[x.offset + k] += upstream * exp(v[x.offset + k] - total) }
                    case .index(let out, let a, let i):
                        let x = slots[a]
                        guard x.active else { continue }
                        let position = v[slots[i].offset]
                        if position >= 0, position < Double(x.length), position.rounded() == position {
                            d[x.offset + Int(position)] += d[slots[out].offset]
                        }
                    case .pack(let out, let offsets):
                        let o = slots[out]
                        guard o.active else { continue }
                        for (k, source) in offsets.enumerated() { d[source] += d[o.offset + k] }
                    case .density(let family, let out, let arguments):
                        let upstream = d[slots[out].offset]
                        if upstream != 0 { family.addPartials(arguments, slots, upstream: upstream, values: v, adjoints: d) }
                    case .matrixVector(let out, let matrix, let vector, let rows, let columns):
                        let o = slots[out].offset, m = slots[matrix], x = slots[vector]
                        for row in 0..<rows {
                            let upstream = d[o + row]
                            if upstream == 0 { continue }
                            let base = m.offset + row * columns
                            if x.active { for column in 0..<columns { d[x.offset + column] += upstream * v[base + column] } }
                            if m.active { for column in 0..<columns { d[base + column] += upstream * v[x.offset + column] } }
                        }
                    case .cholesky(let out, let a, let n):
                        let input = slots[a]
                        guard input.active else { continue }
                        Self.choleskyBackward(v, d, a: input.offset, aActive: true, l: slots[out].offset, n: n)
                    }
                }
            }
        }
    }

    @inline(__always)
    static func derivative(_ op: Program.UnaryOp, _ x: Double, _ y: Double) -> Double {
        switch op {
        case .negate: return -1
        case .not, .round: return 0
        case .exp: return y
        case .log: return 1 / x
        case .log1p: return 1 / (1 + x)
        case .expm1: return y + 1
        case .sqrt: return 0.5 / y
        case .abs: return x > 0 ? 1 : (x < 0 ? -1 : 0)
        case .sin: return Foundation.cos(x)
        case .cos: return -Foundation.sin(x)
        case .tan: return 1 + y * y
        case .tanh: return 1 - y * y
        case .atan: return 1 / (1 + x * x)
        case .lgamma: return Special.digamma(x)
        case .logistic: return y * (1 - y)
        case .softplus: return 1 / (1 + Foundation.exp(-x))
        case .logitJacobian: return 1 - 2 / (1 + Foundation.exp(-x))
        }
    }

    @inline(__always)
    static func partials(_ op: Program.BinaryOp, _ x: Double, _ y: Double, _ z: Double) -> (Double, Double) {
        switch op {
        case .add: return (1, 1)
        case .subtract: return (1, -1)
        case .multiply: return (y, x)
        case .divide: return (1 / y, -x / (y * y))
        case .power:
            let dx = y == 0 ? 0 : y * Foundation.pow(x, y - 1)
            let dy = x > 0 ? z * Foundation.log(x) : 0
            return (dx, dy)
        case .less, .lessEqual, .greater, .greaterEqual, .equal, .notEqual, .and, .or: return (0, 0)
        case .logSumExp:
            guard z.isFinite else { return (0, 0) }
            return (Foundation.exp(x - z), Foundation.exp(y - z))
        case .minimum: return x <= y ? (1, 0) : (0, 1)
        case .maximum: return x >= y ? (1, 0) : (0, 1)
        }
    }
}
