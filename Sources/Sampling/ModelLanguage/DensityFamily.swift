import Foundation

/// The log densities a model program can use vectorized: each call over whole vectors is a single
/// tape node whose partials are written out by hand (a `normal_lpdf` over 5,000 observations is one
/// node, not 30,000). Arguments broadcast: each is a number or a vector of the common length.
public enum DensityFamily: String, Sendable, CaseIterable {
    case normal, cauchy, lognormal, exponential, gamma, beta, uniform, poisson, bernoulli, binomial
    case studentT = "student_t"
    case inverseGamma = "inv_gamma"
    case poissonLog = "poisson_log"
    case bernoulliLogit = "bernoulli_logit"
    case binomialLogit = "binomial_logit"
    case doubleExponential = "double_exponential"
    case logistic

    /// Arguments including the outcome, in Stan's order.
    var arity: Int {
        switch self {
        case .exponential, .poisson, .poissonLog, .bernoulli, .bernoulliLogit: return 2
        case .studentT: return 4
        default: return 3
        }
    }

    /// Whether the outcome is a count (Stan's `_lpmf`); it must then be integer data.
    var isDiscrete: Bool {
        switch self {
        case .poisson, .poissonLog, .bernoulli, .bernoulliLogit, .binomial, .binomialLogit: return true
        default: return false
        }
    }

    static let halfLogTwoPi = 0.91893853320467274178

    /// Σ over elements of the log density.
    func logDensity(_ arguments: [Int], _ slots: [Program.Slot], _ v: UnsafeBufferPointer<Double>) -> Double {
        if self == .normal && slots[arguments[2]].isScalar { return Self.normal(arguments, slots, v, upstream: 0, adjoints: nil) }
        var total = 0.0
        each(arguments, slots) { a, _ in
            total += term(a, partials: false).value
        } values: {
            v[$0]
        }
        return total
    }

    /// Adds upstream · ∂(Σ log density)/∂argument to each active argument's adjoints.
    func addPartials(
        _ arguments: [Int], _ slots: [Program.Slot], upstream: Double, values v: UnsafeBufferPointer<Double>,
        adjoints d: UnsafeMutableBufferPointer<Double>
    ) {
        if self == .normal && slots[arguments[2]].isScalar {
            _ = Self.normal(arguments, slots, v, upstream: upstream, adjoints: d)
            return
        }
        each(arguments, slots) { a, offsets in
            let partials = term(a, partials: true).partials
            for k in 0..<arity where offsets[k] >= 0 { d[offsets[k]] += upstream * partials[k] }
        } values: {
            v[$0]
        }
    }

    /// The normal density with one scale (the usual regression likelihood): log σ once, a tight loop;
    /// with `adjoints`, adds the partials instead of returning the value.
    private static func normal(
        _ arguments: [Int], _ slots: [Program.Slot], _ v: UnsafeBufferPointer<Double>, upstream: Double,
        adjoints: UnsafeMutableBufferPointer<Double>?
    ) -> Double {
        let x = slots[arguments[0]], mu = slots[arguments[1]], sigmaSlot = slots[arguments[2]]
        let xs = x.isScalar ? 0 : 1, ms = mu.isScalar ? 0 : 1
        let n = max(x.isScalar ? 1 : x.length, mu.isScalar ? 1 : mu.length)
        let sigma = v[sigmaSlot.offset], inverse = 1 / sigma
        var squares = 0.0
        guard let d = adjoints else {
            for k in 0..<n {
                let z = (v[x.offset + k * xs] - v[mu.offset + k * ms]) * inverse
                squares += z * z
            }
            return -0.5 * squares - Double(n) * (log(sigma) + halfLogTwoPi)
        }
        for k in 0..<n {
            let z = (v[x.offset + k * xs] - v[mu.offset + k * ms]) * inverse
            squares += z * z
            let slope = upstream * z * inverse
            if x.active { d[x.offset + k * xs] -= slope }
            if mu.active { d[mu.offset + k * ms] += slope }
        }
        if sigmaSlot.active { d[sigmaSlot.offset] += upstream * (squares - Double(n)) * inverse }
        return 0
    }

    /// Visits each element: the arguments' values and, for active arguments, their value-buffer offsets (−1 otherwise).
    @inline(__always)
    private func each(
        _ arguments: [Int], _ slots: [Program.Slot], _ body: (SIMD4<Double>, SIMD4<Int>) -> Void, values: (Int) -> Double
    ) {
        var offset = SIMD4<Int>(repeating: 0), stride = SIMD4<Int>(repeating: 0), active = SIMD4<Int>(repeating: 0)
        var length = 1
        for k in 0..<arguments.count {
            let slot = slots[arguments[k]]
            offset[k] = slot.offset
            stride[k] = slot.isScalar ? 0 : 1
            active[k] = slot.active ? 1 : 0
            if !slot.isScalar { length = slot.length }
        }
        var a = SIMD4<Double>(repeating: 0)
        var offsets = SIMD4<Int>(repeating: -1)
        for element in 0..<length {
            for k in 0..<arguments.count {
                let at = offset[k] + element * stride[k]
                a[k] = values(at)
                offsets[k] = active[k] == 1 ? at : -1
            }
            body(a, offsets)
        }
    }

    /// One element's log density and, when asked, its partials with respect to each argument.
    @inline(__always)
    func term(_ a: SIMD4<Double>, partials wanted: Bool) -> (value: Double, partials: SIMD4<Double>) {
        let x = a[0]
        var g = SIMD4<Double>(repeating: 0)
        switch self {
        case .normal:
            let sigma = a[2], z = (x - a[1]) / sigma
            if wanted { g = SIMD4(-z / sigma, z / sigma, (z * z - 1) / sigma, 0) }
            return (-0.5 * z * z - log(sigma) - Self.halfLogTwoPi, g)
        case .cauchy:
            let scale = a[2], z = (x - a[1]) / scale, q = 1 + z * z
            if wanted { g = SIMD4(-2 * z / (scale * q), 2 * z / (scale * q), (z * z - 1) / (scale * q), 0) }
            return (-log(Double.pi * scale) - log1p(z * z), g)
        case .studentT:
            let nu = a[1], scale = a[3], z = (x - a[2]) / scale, r = nu + z * z
            if wanted {
                let dx = -(nu + 1) * z / (scale * r)
                let dnu = 0.5 * (Special.digamma((nu + 1) / 2) - Special.digamma(nu / 2) - 1 / nu - log1p(z * z / nu) + (nu + 1) * z * z / (nu * r))
                g = SIMD4(dx, dnu, -dx, -1 / scale + (nu + 1) * z * z / (scale * r))
            }
            let value =
                Special.logGamma((nu + 1) / 2) - Special.logGamma(nu / 2) - 0.5 * log(nu * Double.pi) - log(scale)
                - (nu + 1) / 2 * log1p(z * z / nu)
            return (value, g)
        case .doubleExponential:
            let scale = a[2], difference = x - a[1], sign: Double = difference > 0 ? 1 : (difference < 0 ? -1 : 0)
            if wanted { g = SIMD4(-sign / scale, sign / scale, -1 / scale + abs(difference) / (scale * scale), 0) }
            return (-log(2 * scale) - abs(difference) / scale, g)
        case .logistic:
            let scale = a[2], z = (x - a[1]) / scale
            // log f = −z − log s − 2 log(1 + e^(−z)); d/dz = −1 + 2σ(−z) = −tanh(z/2).
            if wanted {
                let slope = -tanh(z / 2)
                g = SIMD4(slope / scale, -slope / scale, -1 / scale - slope * z / scale, 0)
            }
            return (-z - log(scale) - 2 * Self.softplus(-z), g)
        case .lognormal:
            guard x > 0 else { return (-.infinity, g) }
            let sigma = a[2], logX = log(x), z = (logX - a[1]) / sigma
            if wanted { g = SIMD4((-z / sigma - 1) / x, z / sigma, (z * z - 1) / sigma, 0) }
            return (-0.5 * z * z - log(sigma) - logX - Self.halfLogTwoPi, g)
        case .exponential:
            guard x >= 0 else { return (-.infinity, g) }
            let rate = a[1]
            if wanted { g = SIMD4(-rate, 1 / rate - x, 0, 0) }
            return (log(rate) - rate * x, g)
        case .gamma:
            guard x >= 0 else { return (-.infinity, g) }
            let shape = a[1], rate = a[2], logX = log(x)
            if wanted { g = SIMD4((shape - 1) / x - rate, log(rate) + logX - Special.digamma(shape), shape / rate - x, 0) }
            return (shape * log(rate) + (shape - 1) * logX - rate * x - Special.logGamma(shape), g)
        case .inverseGamma:
            guard x > 0 else { return (-.infinity, g) }
            let shape = a[1], scale = a[2], logX = log(x)
            if wanted { g = SIMD4(-(shape + 1) / x + scale / (x * x), log(scale) - Special.digamma(shape) - logX, shape / scale - 1 / x, 0) }
            return (shape * log(scale) - Special.logGamma(shape) - (shape + 1) * logX - scale / x, g)
        case .beta:
            guard x >= 0 && x <= 1 else { return (-.infinity, g) }
            let p = a[1], q = a[2], both = Special.digamma(p + q)
            if wanted { g = SIMD4((p - 1) / x - (q - 1) / (1 - x), both - Special.digamma(p) + log(x), both - Special.digamma(q) + log1p(-x), 0) }
            return (Special.logGamma(p + q) - Special.logGamma(p) - Special.logGamma(q) + (p - 1) * log(x) + (q - 1) * log1p(-x), g)
        case .uniform:
            let low = a[1], high = a[2]
            guard x >= low && x <= high else { return (-.infinity, g) }
            if wanted { g = SIMD4(0, 1 / (high - low), -1 / (high - low), 0) }
            return (-log(high - low), g)
        case .poisson:
            guard x >= 0 else { return (-.infinity, g) }
            let rate = a[1]
            if wanted { g = SIMD4(0, x / rate - 1, 0, 0) }
            return (x == 0 ? -rate : x * log(rate) - rate - Special.logGamma(x + 1), g)
        case .poissonLog:
            guard x >= 0 else { return (-.infinity, g) }
            let eta = a[1], rate = exp(eta)
            if wanted { g = SIMD4(0, x - rate, 0, 0) }
            return (x * eta - rate - Special.logGamma(x + 1), g)
        case .bernoulli:
            guard x == 0 || x == 1 else { return (-.infinity, g) }
            let p = a[1]
            if wanted { g = SIMD4(0, x == 1 ? 1 / p : -1 / (1 - p), 0, 0) }
            return (x == 1 ? log(p) : log1p(-p), g)
        case .bernoulliLogit:
            guard x == 0 || x == 1 else { return (-.infinity, g) }
            let eta = a[1]
            if wanted { g = SIMD4(0, x - 1 / (1 + exp(-eta)), 0, 0) }
            return (x * eta - Self.softplus(eta), g)
        case .binomial:
            let n = a[1], p = a[2]
            guard x >= 0 && x <= n else { return (-.infinity, g) }
            if wanted { g = SIMD4(0, 0, (x == 0 ? 0 : x / p) - (n - x == 0 ? 0 : (n - x) / (1 - p)), 0) }
            let choose = Special.logGamma(n + 1) - Special.logGamma(x + 1) - Special.logGamma(n - x + 1)
            return (choose + (x == 0 ? 0 : x * log(p)) + (n - x == 0 ? 0 : (n - x) * log1p(-p)), g)
        case .binomialLogit:
            let n = a[1], eta = a[2]
            guard x >= 0 && x <= n else { return (-.infinity, g) }
            if wanted { g = SIMD4(0, 0, x - n / (1 + exp(-eta)), 0) }
            let choose = Special.logGamma(n + 1) - Special.logGamma(x + 1) - Special.logGamma(n - x + 1)
            return (choose + x * eta - n * Self.softplus(eta), g)
        }
    }
}

extension DensityFamily {
    /// log(1 + eˣ) without overflow.
    @inline(__always)
    static func softplus(_ x: Double) -> Double { x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)) }
}
