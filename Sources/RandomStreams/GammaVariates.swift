import Foundation

extension RandomStream {
    /// A Gamma(shape, 1) draw by Marsaglia & Tsang (2000); shapes below 1 by the boost G(a) = G(a + 1) · U^(1/a).
    /// Here (not in Sampling) because training needs Beta draws too (MixMatch's mixing weight).
    @inlinable @inline(__always)
    public mutating func standardGamma(_ shape: Double) -> Double {
        if shape < 1 {
            let u = uniformOpen()
            return standardGamma(shape + 1) * pow(u, 1 / shape)
        }
        let d = shape - 1.0 / 3
        let c = 1 / (9 * d).squareRoot()
        let normal = Ziggurat.normal
        while true {
            var x: Double
            var v: Double
            repeat {
                x = normal.normal(&self)
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = uniform()
            let x2 = x * x
            if u < 1 - 0.0331 * x2 * x2 { return d * v }
            if log(u) < 0.5 * x2 + d * (1 - v + log(v)) { return d * v }
        }
    }

    /// A Beta(a, b) draw as X / (X + Y) of independent Gamma(a) and Gamma(b) draws.
    @inlinable
    public mutating func beta(_ a: Double, _ b: Double) -> Double {
        let x = standardGamma(a), y = standardGamma(b)
        return x + y > 0 ? x / (x + y) : (a >= b ? 1 : 0)
    }
}
