/// Vector loops the compiler does not vectorize by itself: float reductions (whose order it may not
/// change) and strided-free updates written with SIMD8 so they use AVX registers. Every hot loop
/// of the layers goes through these, with wrapping index arithmetic (no overflow branches).
enum Kernels {
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    static func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    /// Σ p[i].
    static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        var i = 0
        while i &+ 8 <= n { acc += load(p + i); i &+= 8 }
        var total = acc.sum()
        while i < n { total += p[i]; i &+= 1 }
        return total
    }

    /// (Σ p[i], Σ p[i]²).
    static func sumAndSquares(_ p: UnsafePointer<Float>, _ n: Int) -> (Float, Float) {
        var acc = SIMD8<Float>(repeating: 0), acc2 = SIMD8<Float>(repeating: 0)
        var i = 0
        while i &+ 8 <= n {
            let v = load(p + i)
            acc += v
            acc2.addProduct(v, v)
            i &+= 8
        }
        var (total, total2) = (acc.sum(), acc2.sum())
        while i < n { total += p[i]; total2 += p[i] * p[i]; i &+= 1 }
        return (total, total2)
    }

    /// (Σ a[i], Σ a[i]·b[i]).
    static func sumAndDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> (Float, Float) {
        var acc = SIMD8<Float>(repeating: 0), dot = SIMD8<Float>(repeating: 0)
        var i = 0
        while i &+ 8 <= n {
            let v = load(a + i)
            acc += v
            dot.addProduct(v, load(b + i))
            i &+= 8
        }
        var (total, product) = (acc.sum(), dot.sum())
        while i < n { total += a[i]; product += a[i] * b[i]; i &+= 1 }
        return (total, product)
    }

    /// y[i] += x[i].
    static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i &+ 8 <= n { store(load(y + i) + load(x + i), y + i); i &+= 8 }
        while i < n { y[i] += x[i]; i &+= 1 }
    }

    /// y[i] = x[i] for a short run (im2col's rows are 4–32 floats): inline vector moves, where a call to memmove
    /// per row cost more than the copy. The tail is unrolled by hand, not a loop the optimizer turns back into a call.
    @inline(__always)
    static func copyShort(_ x: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i &+ 8 <= n { store(load(x + i), y + i); i &+= 8 }
        if i &+ 4 <= n {
            UnsafeMutableRawPointer(y + i).storeBytes(of: UnsafeRawPointer(x + i).loadUnaligned(as: SIMD4<Float>.self), as: SIMD4<Float>.self)
            i &+= 4
        }
        if i < n { y[i] = x[i] }
        if i &+ 1 < n { y[i &+ 1] = x[i &+ 1] }
        if i &+ 2 < n { y[i &+ 2] = x[i &+ 2] }
    }

    /// y[i] += x[i] for a short run (col2im's rows), inline as `copyShort`.
    @inline(__always)
    static func addShort(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i &+ 8 <= n { store(load(y + i) + load(x + i), y + i); i &+= 8 }
        if i &+ 4 <= n {
            let sum = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD4<Float>.self) + UnsafeRawPointer(x + i).loadUnaligned(as: SIMD4<Float>.self)
            UnsafeMutableRawPointer(y + i).storeBytes(of: sum, as: SIMD4<Float>.self)
            i &+= 4
        }
        if i < n { y[i] += x[i] }
        if i &+ 1 < n { y[i &+ 1] += x[i &+ 1] }
        if i &+ 2 < n { y[i &+ 2] += x[i &+ 2] }
    }

    /// y[i] = x[i] + b.
    static func copy(_ x: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, adding b: Float, _ n: Int) {
        let bv = SIMD8<Float>(repeating: b)
        var i = 0
        while i &+ 8 <= n { store(load(x + i) + bv, y + i); i &+= 8 }
        while i < n { y[i] = x[i] + b; i &+= 1 }
    }

    /// y[i] = x[i]·scale + shift, clamped at 0 when `relu`.
    static func affine(_ x: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, scale: Float, shift: Float, relu: Bool, _ n: Int) {
        let (s, t, zero) = (SIMD8<Float>(repeating: scale), SIMD8<Float>(repeating: shift), SIMD8<Float>(repeating: 0))
        var i = 0
        if relu {
            while i &+ 8 <= n {
                let v = load(x + i) * s + t
                store(v.replacing(with: 0, where: v .< zero), y + i)
                i &+= 8
            }
            while i < n { y[i] = max(0, x[i] * scale + shift); i &+= 1 }
        } else {
            while i &+ 8 <= n { store(load(x + i) * s + t, y + i); i &+= 8 }
            while i < n { y[i] = x[i] * scale + shift; i &+= 1 }
        }
    }

    /// d[i] = 0 where y[i] ≤ 0 (the gradient of a fused ReLU whose output is y), in place.
    static func maskNonPositive(_ d: UnsafeMutablePointer<Float>, where y: UnsafePointer<Float>, _ n: Int) {
        let zero = SIMD8<Float>(repeating: 0)
        var i = 0
        while i &+ 8 <= n {
            store(load(d + i).replacing(with: 0, where: load(y + i) .<= zero), d + i)
            i &+= 8
        }
        while i < n { if y[i] <= 0 { d[i] = 0 }; i &+= 1 }
    }

    /// y[i] = a·y[i] + b·x[i] + c, in place.
    static func combine(_ y: UnsafeMutablePointer<Float>, a: Float, _ x: UnsafePointer<Float>, b: Float, c: Float, _ n: Int) {
        let (av, bv, cv) = (SIMD8<Float>(repeating: a), SIMD8<Float>(repeating: b), SIMD8<Float>(repeating: c))
        var i = 0
        while i &+ 8 <= n { store(av * load(y + i) + bv * load(x + i) + cv, y + i); i &+= 8 }
        while i < n { y[i] = a * y[i] + b * x[i] + c; i &+= 1 }
    }
}
