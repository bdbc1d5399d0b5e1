import Foundation

/// Special functions behind the catalog's CDFs and quantiles: log-gamma, regularized incomplete
/// gamma and beta and their inverses (Numerical Recipes' series/continued-fraction forms with
/// Halley refinement), the normal quantile (Acklam, refined against erfc), and Bessel I ratios.
public enum Special {
    static let epsilon = 1e-16
    static let tiny = 1e-300

    public static func logGamma(_ x: Double) -> Double {
        var sign: Int32 = 0
        return lgamma_r(x, &sign)
    }

    /// ψ(x) = d/dx log Γ(x): recurrence up to x ≥ 6, then the asymptotic series; reflection below 0.
    public static func digamma(_ x: Double) -> Double {
        if x <= 0 && x.rounded() == x { return .nan }
        if x < 0 { return digamma(1 - x) - Double.pi / tan(Double.pi * x) }
        var x = x
        var result = 0.0
        while x < 6 {
            result -= 1 / x
            x += 1
        }
        let f = 1 / (x * x)
        let series = f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))))
        return result + log(x) - 0.5 / x - series
    }

    public static func logBeta(_ a: Double, _ b: Double) -> Double {
        logGamma(a) + logGamma(b) - logGamma(a + b)
    }

    // MARK: Incomplete gamma

    /// P(a, x) = γ(a, x) / Γ(a).
    public static func gammaP(_ a: Double, _ x: Double) -> Double {
        guard x > 0 else { return 0 }
        guard x.isFinite else { return 1 }
        return x < a + 1 ? gammaSeries(a, x) : 1 - gammaContinuedFraction(a, x)
    }

    /// Q(a, x) = 1 − P(a, x), computed directly so upper tails keep their precision.
    public static func gammaQ(_ a: Double, _ x: Double) -> Double {
        guard x > 0 else { return 1 }
        guard x.isFinite else { return 0 }
        return x < a + 1 ? 1 - gammaSeries(a, x) : gammaContinuedFraction(a, x)
    }

    private static func gammaPrefix(_ a: Double, _ x: Double) -> Double {
        exp(-x + a * log(x) - logGamma(a))
    }

    private static func gammaSeries(_ a: Double, _ x: Double) -> Double {
        var ap = a
        var term = 1 / a
        var sum = term
        for _ in 0..<100_000 {
            ap += 1
            term *= x / ap
            sum += term
            if abs(term) < abs(sum) * epsilon { break }
        }
        return sum * gammaPrefix(a, x)
    }

    private static func gammaContinuedFraction(_ a: Double, _ x: Double) -> Double {
        var b = x + 1 - a
        var c = 1 / tiny
        var d = 1 / b
        var h = d
        for i in 1..<100_000 {
            let an = -Double(i) * (Double(i) - a)
            b += 2
            d = an * d + b
            if abs(d) < tiny { d = tiny }
            c = b + an / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < epsilon { break }
        }
        return gammaPrefix(a, x) * h
    }

    /// x with P(a, x) = p.
    public static func inverseGammaP(_ a: Double, _ p: Double) -> Double {
        invertGamma(a, p: p, q: 1 - p)
    }

    /// x with Q(a, x) = q; exact for q near 0, where 1 − q would round.
    public static func inverseGammaQ(_ a: Double, _ q: Double) -> Double {
        invertGamma(a, p: 1 - q, q: q)
    }

    /// Halley iterations from Numerical Recipes' starting point; `p` and `q = 1 − p` are both
    /// given exactly so the residual is taken in the smaller tail.
    private static func invertGamma(_ a: Double, p: Double, q: Double) -> Double {
        guard p > 0 && q < 1 else { return 0 }
        guard q > 0 && p < 1 else { return .infinity }
        let a1 = a - 1
        let gln = logGamma(a)
        var x: Double
        var lna1 = 0.0
        var afac = 0.0
        if a > 1 {
            lna1 = log(a1)
            afac = exp(a1 * (lna1 - 1) - gln)
            let pp = p < 0.5 ? p : 1 - p
            let t = (-2 * log(pp)).squareRoot()
            x = (2.30753 + t * 0.27061) / (1 + t * (0.99229 + t * 0.04481)) - t
            if p < 0.5 { x = -x }
            x = max(1e-3, a * pow(1 - 1 / (9 * a) - x / (3 * a.squareRoot()), 3))
            if p >= 0.5 && q < 1e-3 { x = max(x, a) }
        } else {
            let t = 1 - a * (0.253 + a * 0.12)
            x = p < t ? pow(p / t, 1 / a) : 1 - log(1 - (p - t) / (1 - t))
        }
        for _ in 0..<100 {
            if x <= 0 { return 0 }
            // The residual in whichever tail is smaller, so p near 1 keeps its precision.
            let error = p < 0.5 ? gammaP(a, x) - p : q - gammaQ(a, x)
            let density = a > 1 ? afac * exp(-(x - a1) + a1 * (log(x) - lna1)) : exp(-x + a1 * log(x) - gln)
            if density == 0 { break }
            let u = error / density
            let step = u / (1 - 0.5 * min(1, u * (a1 / x - 1)))
            x -= step
            if x <= 0 { x = 0.5 * (x + step) }
            if abs(step) <= 1e-15 * x { break }
        }
        return x
    }

    // MARK: Incomplete beta

    /// I_x(a, b), the regularized incomplete beta function.
    public static func betaI(_ x: Double, _ a: Double, _ b: Double) -> Double {
        guard x > 0 else { return 0 }
        guard x < 1 else { return 1 }
        let front = exp(a * log(x) + b * log1p(-x) - logBeta(a, b))
        if x < (a + 1) / (a + b + 2) {
            return front * betaContinuedFraction(x, a, b) / a
        }
        return 1 - exp(a * log(x) + b * log1p(-x) - logBeta(a, b)) * betaContinuedFraction(1 - x, b, a) / b
    }

    /// 1 − I_x(a, b) without cancellation: I_{1−x}(b, a).
    public static func betaIComplement(_ x: Double, _ a: Double, _ b: Double) -> Double {
        betaI(1 - x, b, a)
    }

    private static func betaContinuedFraction(_ x: Double, _ a: Double, _ b: Double) -> Double {
        let qab = a + b
        let qap = a + 1
        let qam = a - 1
        var c = 1.0
        var d = 1 - qab * x / qap
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1..<100_000 {
            let m = Double(m)
            let m2 = 2 * m
            var aa = m * (b - m) * x / ((qam + m2) * (a + m2))
            d = 1 + aa * d
            if abs(d) < tiny { d = tiny }
            c = 1 + aa / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
            d = 1 + aa * d
            if abs(d) < tiny { d = tiny }
            c = 1 + aa / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < epsilon { break }
        }
        return h
    }

    /// x with I_x(a, b) = p.
    public static func inverseBetaI(_ p: Double, _ a: Double, _ b: Double) -> Double {
        guard p > 0 else { return 0 }
        guard p < 1 else { return 1 }
        let a1 = a - 1
        let b1 = b - 1
        var x: Double
        if a >= 1 && b >= 1 {
            let pp = p < 0.5 ? p : 1 - p
            let t = (-2 * log(pp)).squareRoot()
            var z = (2.30753 + t * 0.27061) / (1 + t * (0.99229 + t * 0.04481)) - t
            if p < 0.5 { z = -z }
            let al = (z * z - 3) / 6
            let h = 2 / (1 / (2 * a - 1) + 1 / (2 * b - 1))
            let w = (z * (al + h).squareRoot() / h) - (1 / (2 * b - 1) - 1 / (2 * a - 1)) * (al + 5.0 / 6 - 2 / (3 * h))
            x = a / (a + b * exp(2 * w))
        } else {
            let lna = log(a / (a + b))
            let lnb = log(b / (a + b))
            let t = exp(a * lna) / a
            let u = exp(b * lnb) / b
            let w = t + u
            x = p < t / w ? pow(a * w * p, 1 / a) : 1 - pow(b * w * (1 - p), 1 / b)
        }
        let afac = -logBeta(a, b)
        for iteration in 0..<200 {
            if x <= 0 || x >= 1 { return min(max(x, 0), 1) }
            let error = p < 0.5 ? betaI(x, a, b) - p : (1 - p) - betaIComplement(x, a, b)
            let density = exp(a1 * log(x) + b1 * log1p(-x) + afac)
            if density == 0 || !density.isFinite { break }
            let u = error / density
            let step = u / (1 - 0.5 * min(1, u * (a1 / x - b1 / (1 - x))))
            x -= step
            if x <= 0 { x = 0.5 * (x + step) }
            if x >= 1 { x = 0.5 * (x + step + 1) }
            if abs(step) <= 1e-15 * x && iteration > 0 { break }
        }
        return x
    }

    // MARK: Normal

    public static func normalCDF(_ x: Double) -> Double {
        0.5 * erfc(-x / 2.0.squareRoot())
    }

    /// Upper tail 1 − Φ(x), accurate far into the tail.
    public static func normalSurvival(_ x: Double) -> Double {
        0.5 * erfc(x / 2.0.squareRoot())
    }

    /// Φ⁻¹(p): Acklam's rational approximation (1e-9) refined by two Halley steps against erfc.
    // Acklam's coefficients, kept out of the function: array literals inside it were allocated on every call,
    // and R̂/ESS call it once per draw and coordinate.
    private static let quantileA = [
        -3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
        1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00,
    ]
    private static let quantileB = [
        -5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
        6.680131188771972e+01, -1.328068155288572e+01,
    ]
    private static let quantileC = [
        -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
        -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00,
    ]
    private static let quantileD = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]

    public static func normalQuantile(_ p: Double) -> Double {
        guard p > 0 else { return -.infinity }
        guard p < 1 else { return .infinity }
        if p > 0.5 { return -normalQuantile(1 - p) }
        let (a, b, c, d) = (quantileA, quantileB, quantileC, quantileD)
        var x: Double
        if p < 0.02425 {
            let q = (-2 * log(p)).squareRoot()
            x =
                (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        } else {
            let q = p - 0.5
            let r = q * q
            x =
                (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
                / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        }
        for _ in 0..<2 {
            let e = normalCDF(x) - p
            let u = e * (2 * Double.pi).squareRoot() * exp(0.5 * x * x)
            x -= u / (1 + 0.5 * x * u)
        }
        return x
    }

    // MARK: Bessel I (von Mises)

    /// I_j(κ)/I_0(κ) for j = 0…n and log I_0(κ), by Miller's backward recurrence normalized
    /// with e^κ = I_0 + 2 Σ I_j. Stable for every κ > 0.
    public static func besselIRatios(_ kappa: Double, count n: Int) -> (ratios: [Double], logI0: Double) {
        let start = max(n, Int(kappa) + 40) + 20
        var values = [Double](repeating: 0, count: start + 2)
        values[start + 1] = 0
        values[start] = 1e-300
        var logScale = 0.0
        for k in stride(from: start, through: 1, by: -1) {
            values[k - 1] = values[k + 1] + (2 * Double(k) / kappa) * values[k]
            if values[k - 1] > 1e250 {
                // Rescale everything computed so far to stay finite; the scale cancels in ratios.
                for j in (k - 1)...(start + 1) { values[j] *= 1e-250 }
                logScale += log(1e250)
            }
        }
        var sum = values[0]
        for k in 1...start { sum += 2 * values[k] }
        let i0OverExp = values[0] / sum
        let ratios = (0...n).map { values[$0] / values[0] }
        _ = logScale
        return (ratios, kappa + log(i0OverExp))
    }
}
