import Foundation

/// Inverse-CDF sampling of a user's density on a bounded interval: the density is integrated on
/// adaptively refined Gauss–Legendre panels, and x(u) is interpolated inside each panel by a cubic
/// Hermite polynomial whose slopes are 1/f (the inverse function's derivative). Panels are split until
/// the measured u-error |F(x̂(u)) − u| is below the tolerance at test points; the largest error seen is
/// reported. Sampling is a guide-table lookup and one cubic: tens of millions of draws per second.
public struct NumericInversion: Sendable {
    /// Knots: x_j, cumulative u_j and the slopes dx/du at them.
    let x: [Double]
    let u: [Double]
    let slope: [Double]
    let guide: [Int]
    /// Per panel: the cubic in t ∈ [0, 1] as c0 + t(c1 + t(c2 + t c3)), and 1 / (u_{j+1} − u_j).
    let coefficients: [Double]
    let inverseWidth: [Double]
    public let approximationError: Double
    public let logNormalizer: Double
    public let lower: Double
    public let upper: Double

    public static let maxPanels = 50_000

    public init(
        logDensity source: String, variable: String = "x", lower: Double, upper: Double,
        data: [String: ExpressionSymbols.Value] = [:], tolerance: Double = 1e-10, shouldStop: () -> Bool = { false }
    ) throws {
        let program = try Self.check(logDensity: source, variable: variable, lower: lower, upper: upper, data: data)
        let evaluator = Evaluator(program)
        // Densities are scaled by their largest value on a probe grid to keep exp() in range.
        let probes = (0...2000).map { lower + (upper - lower) * Double($0) / 2000 }
        var peak = -Double.infinity
        for (index, x) in probes.enumerated() {
            // Thousands of evaluations of a possibly long expression: a cancel or shutdown must not wait for them.
            if index % 64 == 0, shouldStop() { throw JobInterruption.stopped }
            peak = max(peak, evaluator.value([x]))
        }
        guard peak.isFinite else { throw SamplerError("log_density", "is zero (or not finite) everywhere on [lower, upper]") }
        let f: (Double) -> Double = { x in
            let value = exp(evaluator.value([x]) - peak)
            return value.isFinite ? value : 0
        }
        // 1. Adaptive integration panels.
        var panels: [(a: Double, b: Double, mass: Double)] = []
        var stack: [(Double, Double, Int)] = (0..<64).reversed().map { i in
            (lower + (upper - lower) * Double(i) / 64, lower + (upper - lower) * Double(i + 1) / 64, 0)
        }
        if shouldStop() { throw JobInterruption.stopped }
        let scale = probes.map(f).reduce(0, +) / Double(probes.count) * (upper - lower)
        // Each panel costs dozens of evaluations; the flag is one atomic read.
        func checkStop() throws {
            if shouldStop() { throw JobInterruption.stopped }
        }
        while let (a, b, depth) = stack.popLast() {
            try checkStop()
            let whole = GaussLegendre.integrate(over: a, b, f)
            let middle = (a + b) / 2
            let halves = GaussLegendre.integrate(over: a, middle, f) + GaussLegendre.integrate(over: middle, b, f)
            if abs(whole - halves) > 1e-3 * tolerance * scale && depth < 40 && panels.count + stack.count < Self.maxPanels {
                stack.append((middle, b, depth + 1))
                stack.append((a, middle, depth + 1))
            } else {
                panels.append((a, b, halves))
            }
        }
        // 2. Refine for the interpolation's u-error.
        var total = panels.reduce(0) { $0 + $1.mass }
        guard total > 0 else { throw SamplerError("log_density", "integrates to zero on [lower, upper]") }
        var worst = 0.0
        var refined: [(a: Double, b: Double, mass: Double)] = []
        var queue = panels.reversed().map { $0 }
        while let panel = queue.popLast() {
            try checkStop()
            let error = Self.interpolationError(panel, f: f, total: total)
            if error > tolerance && panel.b - panel.a > 1e-12 * (upper - lower) && refined.count + queue.count < Self.maxPanels {
                let middle = (panel.a + panel.b) / 2
                queue.append((middle, panel.b, GaussLegendre.integrate(over: middle, panel.b, f)))
                queue.append((panel.a, middle, GaussLegendre.integrate(over: panel.a, middle, f)))
            } else {
                worst = max(worst, error)
                refined.append(panel)
            }
        }
        refined.sort { $0.a < $1.a }
        total = refined.reduce(0) { $0 + $1.mass }
        var xs = [lower]
        var us = [0.0]
        for panel in refined {
            xs.append(panel.b)
            us.append(us[us.count - 1] + panel.mass / total)
        }
        us[us.count - 1] = 1
        self.x = xs
        self.u = us
        self.slope = xs.map { x in
            let density = f(x) / total
            return density > 0 ? 1 / density : .infinity
        }
        self.guide = Self.guideTable(us)
        var coefficients: [Double] = []
        var inverseWidth: [Double] = []
        for j in 0..<(xs.count - 1) {
            let du = us[j + 1] - us[j]
            let (x0, x1) = (xs[j], xs[j + 1])
            inverseWidth.append(du > 0 ? 1 / du : 0)
            if du > 0, slope[j].isFinite, slope[j + 1].isFinite {
                let m0 = slope[j] * du, m1 = slope[j + 1] * du
                coefficients += [x0, m0, 3 * (x1 - x0) - 2 * m0 - m1, 2 * (x0 - x1) + m0 + m1]
            } else {
                coefficients += [x0, x1 - x0, 0, 0]
            }
        }
        self.coefficients = coefficients
        self.inverseWidth = inverseWidth
        self.approximationError = worst
        self.logNormalizer = log(total) + peak
        self.lower = lower
        self.upper = upper
    }

    /// The checks that cost no more than compiling the expression (what a submission validates); the
    /// integration itself, up to `maxPanels` panels of evaluations, runs in the job.
    @discardableResult
    public static func check(
        logDensity source: String, variable: String = "x", lower: Double, upper: Double,
        data: [String: ExpressionSymbols.Value]
    ) throws -> Program {
        guard lower.isFinite, upper.isFinite, lower < upper else {
            throw SamplerError("upper", "numeric inversion needs finite bounds with lower < upper")
        }
        return try ExpressionCompiler.compile(source, symbols: ExpressionSymbols(parameters: [(name: variable, size: nil)], data: data))
    }

    /// Largest |F(x̂(u)) − u| over test points inside one panel.
    static func interpolationError(_ panel: (a: Double, b: Double, mass: Double), f: (Double) -> Double, total: Double) -> Double {
        guard panel.mass > 0 else { return 0 }
        let du = panel.mass / total
        let fa = f(panel.a) / total, fb = f(panel.b) / total
        var worst = 0.0
        for t in [0.1, 0.3, 0.5, 0.7, 0.9] {
            let xHat = hermite(t, x0: panel.a, x1: panel.b, d0: fa > 0 ? 1 / fa : .infinity, d1: fb > 0 ? 1 / fb : .infinity, du: du)
            let reached = GaussLegendre.integrate(over: panel.a, xHat, f) / total
            worst = max(worst, abs(reached - t * du))
        }
        return worst
    }

    /// x at fraction t of the panel's u-range; infinite slopes fall back to linear interpolation.
    @inline(__always)
    static func hermite(_ t: Double, x0: Double, x1: Double, d0: Double, d1: Double, du: Double) -> Double {
        let width = x1 - x0
        guard d0.isFinite, d1.isFinite else { return x0 + t * width }
        let m0 = d0 * du, m1 = d1 * du
        let t2 = t * t, t3 = t2 * t
        let value = (2 * t3 - 3 * t2 + 1) * x0 + (t3 - 2 * t2 + t) * m0 + (-2 * t3 + 3 * t2) * x1 + (t3 - t2) * m1
        return min(max(value, x0), x1)
    }

    static func guideTable(_ u: [Double]) -> [Int] {
        let size = max(1, u.count - 1)
        var guide = [Int](repeating: 0, count: size)
        var j = 0
        for k in 0..<size {
            let target = Double(k) / Double(size)
            while j < u.count - 2 && u[j + 1] <= target { j += 1 }
            guide[k] = j
        }
        return guide
    }

    public func quantile(_ p: Double) -> Double {
        guide.withUnsafeBufferPointer { guide in
            u.withUnsafeBufferPointer { u in
                coefficients.withUnsafeBufferPointer { c in
                    inverseWidth.withUnsafeBufferPointer { w in
                        Self.evaluate(p, guide: guide, u: u, c: c, w: w)
                    }
                }
            }
        }
    }

    @inline(__always)
    static func evaluate(
        _ p: Double, guide: UnsafeBufferPointer<Int>, u: UnsafeBufferPointer<Double>, c: UnsafeBufferPointer<Double>,
        w: UnsafeBufferPointer<Double>
    ) -> Double {
        var j = guide[min(guide.count - 1, Int(p * Double(guide.count)))]
        let last = u.count - 2
        while j < last && u[j + 1] < p { j += 1 }
        let t = (p - u[j]) * w[j]
        let base = 4 * j
        let value = c[base] + t * (c[base + 1] + t * (c[base + 2] + t * c[base + 3]))
        // The cubic stays within its panel for monotone data; the clamp guards rounding.
        return min(max(value, c[base]), c[base] + c[base + 1] + c[base + 2] + c[base + 3])
    }

    @inline(__always)
    public func sample(_ rng: inout RandomStream) -> Double { quantile(rng.uniform()) }

    public func fill(_ buffer: UnsafeMutableBufferPointer<Double>, _ rng: inout RandomStream) {
        guide.withUnsafeBufferPointer { guide in
            u.withUnsafeBufferPointer { u in
                coefficients.withUnsafeBufferPointer { c in
                    inverseWidth.withUnsafeBufferPointer { w in
                        for index in buffer.indices {
                            buffer[index] = Self.evaluate(rng.uniform(), guide: guide, u: u, c: c, w: w)
                        }
                    }
                }
            }
        }
    }
}

/// Inverse-CDF sampling of a tabulated density, taken as piecewise linear between the points: its
/// CDF is piecewise quadratic and is inverted exactly.
public struct TabulatedInversion: Sendable {
    let x: [Double]
    let p: [Double]
    let cumulative: [Double]

    public init(x: [Double], pdf: [Double]) throws(SamplerError) {
        guard x.count >= 2, x.count == pdf.count else { throw SamplerError("pdf", "needs one value per x (at least two points)") }
        guard x.allSatisfy(\.isFinite), zip(x, x.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw SamplerError("x", "must be finite and strictly increasing")
        }
        guard pdf.allSatisfy({ $0.isFinite && $0 >= 0 }) else { throw SamplerError("pdf", "values must be finite and ≥ 0") }
        var cumulative = [0.0]
        for i in 0..<(x.count - 1) { cumulative.append(cumulative[i] + (pdf[i] + pdf[i + 1]) / 2 * (x[i + 1] - x[i])) }
        guard let total = cumulative.last, total > 0 else { throw SamplerError("pdf", "must not be zero everywhere") }
        self.x = x
        self.p = pdf.map { $0 / total }
        self.cumulative = cumulative.map { $0 / total }
    }

    public func quantile(_ u: Double) -> Double {
        var low = 0, high = cumulative.count - 1
        while high - low > 1 {
            let middle = (low + high) / 2
            if cumulative[middle] <= u { low = middle } else { high = middle }
        }
        let h = x[low + 1] - x[low]
        let slope = (p[low + 1] - p[low]) / h
        let need = u - cumulative[low]
        // Solve p0·t + slope·t²/2 = need for t in [0, h].
        let t: Double
        if abs(slope) < 1e-300 {
            t = p[low] > 0 ? need / p[low] : 0
        } else {
            let discriminant = max(0, p[low] * p[low] + 2 * slope * need)
            t = 2 * need / (p[low] + discriminant.squareRoot())
        }
        return min(max(x[low] + t, x[low]), x[low + 1])
    }

    public func sample(_ rng: inout RandomStream) -> Double { quantile(rng.uniform()) }
}
