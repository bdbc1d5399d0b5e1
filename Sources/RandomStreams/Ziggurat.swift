import Foundation

/// Marsaglia & Tsang's ziggurat tables (256 layers, 52-bit mantissas, as numpy uses) for the
/// standard normal and standard exponential: most draws cost one generator call, a table lookup
/// and a multiply. The tables live in never-freed buffers so the hot loop does no lazy-global checks.
public struct Ziggurat: @unchecked Sendable {
    @usableFromInline let k: UnsafeMutablePointer<UInt64>
    @usableFromInline let w: UnsafeMutablePointer<Double>
    @usableFromInline let f: UnsafeMutablePointer<Double>
    @usableFromInline let r: Double

    private init(r: Double, k: [UInt64], w: [Double], f: [Double]) {
        self.r = r
        self.k = .allocate(capacity: 256)
        self.w = .allocate(capacity: 256)
        self.f = .allocate(capacity: 256)
        self.k.initialize(from: k, count: 256)
        self.w.initialize(from: w, count: 256)
        self.f.initialize(from: f, count: 256)
    }

    static let m = 0x1.0p52

    public static let normal: Ziggurat = {
        var dn = 3.6541528853610088
        var tn = dn
        let vn = 0.00492867323399
        var k = [UInt64](repeating: 0, count: 256)
        var w = [Double](repeating: 0, count: 256)
        var f = [Double](repeating: 0, count: 256)
        let q = vn / exp(-0.5 * dn * dn)
        k[0] = UInt64((dn / q) * m)
        k[1] = 0
        w[0] = q / m
        w[255] = dn / m
        f[0] = 1
        f[255] = exp(-0.5 * dn * dn)
        for i in stride(from: 254, through: 1, by: -1) {
            dn = (-2 * log(vn / dn + exp(-0.5 * dn * dn))).squareRoot()
            k[i + 1] = UInt64((dn / tn) * m)
            tn = dn
            f[i] = exp(-0.5 * dn * dn)
            w[i] = dn / m
        }
        return Ziggurat(r: 3.6541528853610088, k: k, w: w, f: f)
    }()

    public static let exponential: Ziggurat = {
        var de = 7.69711747013104972
        var te = de
        let ve = 3.949659822581572e-3
        var k = [UInt64](repeating: 0, count: 256)
        var w = [Double](repeating: 0, count: 256)
        var f = [Double](repeating: 0, count: 256)
        let q = ve / exp(-de)
        k[0] = UInt64((de / q) * m)
        k[1] = 0
        w[0] = q / m
        w[255] = de / m
        f[0] = 1
        f[255] = exp(-de)
        for i in stride(from: 254, through: 1, by: -1) {
            de = -log(ve / de + exp(-de))
            k[i + 1] = UInt64((de / te) * m)
            te = de
            f[i] = exp(-de)
            w[i] = de / m
        }
        return Ziggurat(r: 7.69711747013104972, k: k, w: w, f: f)
    }()

    /// A standard normal draw.
    @inlinable @inline(__always)
    public func normal(_ rng: inout RandomStream) -> Double {
        while true {
            let bits = rng.next()
            let layer = Int(bits & 0xFF)
            let negative = bits & 0x100 != 0
            let mantissa = bits >> 12
            let x = Double(mantissa) * w[layer]
            if mantissa < k[layer] { return negative ? -x : x }
            if let accepted = normalSlowPath(layer: layer, x: x, negative: negative, rng: &rng) { return accepted }
        }
    }

    @usableFromInline
    func normalSlowPath(layer: Int, x: Double, negative: Bool, rng: inout RandomStream) -> Double? {
        if layer == 0 {
            // The tail beyond r, by Marsaglia's exponential method.
            var tail: Double
            var y: Double
            repeat {
                tail = -log(rng.uniformOpen()) / r
                y = -log(rng.uniformOpen())
            } while y + y < tail * tail
            return negative ? -(r + tail) : r + tail
        }
        if f[layer] + rng.uniform() * (f[layer - 1] - f[layer]) < exp(-0.5 * x * x) {
            return negative ? -x : x
        }
        return nil
    }

    /// A standard exponential draw.
    @inlinable @inline(__always)
    public func exponential(_ rng: inout RandomStream) -> Double {
        while true {
            let bits = rng.next()
            let layer = Int(bits & 0xFF)
            let mantissa = bits >> 12
            let x = Double(mantissa) * w[layer]
            if mantissa < k[layer] { return x }
            if layer == 0 { return r - log(rng.uniformOpen()) }
            if f[layer] + rng.uniform() * (f[layer - 1] - f[layer]) < exp(-x) { return x }
        }
    }
}
