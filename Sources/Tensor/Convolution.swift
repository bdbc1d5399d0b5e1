import Foundation

/// 2-D convolution by im2col + SGEMM, one sample at a time (the column buffer stays small).
public enum Convolution {
    public struct Geometry: Sendable, Equatable {
        public var channels, height, width, kernel, stride, padding: Int
        public var outputHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
        public var outputWidth: Int { (width + 2 * padding - kernel) / stride + 1 }
        var columnRows: Int { channels * kernel * kernel }
        var columnCount: Int { outputHeight * outputWidth }
    }

    /// The output columns x for which input column x·stride + offset lies inside [0, width).
    @inline(__always)
    static func validRange(offset: Int, stride: Int, width: Int, count: Int) -> Range<Int> {
        // x·s + o ≥ 0  ⇔  x ≥ ⌈−o/s⌉;  x·s + o < w  ⇔  x < ⌈(w − o)/s⌉
        let low = offset >= 0 ? 0 : (-offset + stride - 1) / stride
        let high = width - offset <= 0 ? 0 : (width - offset + stride - 1) / stride
        return min(low, count)..<max(min(high, count), min(low, count))
    }

    static func im2col(_ input: UnsafePointer<Float>, _ g: Geometry, _ columns: UnsafeMutablePointer<Float>) {
        let (oh, ow, s) = (g.outputHeight, g.outputWidth, g.stride)
        for c in 0..<g.channels {
            let plane = input + c * g.height * g.width
            for ky in 0..<g.kernel {
                for kx in 0..<g.kernel {
                    let row = (c * g.kernel + ky) * g.kernel + kx
                    let target = columns + row * oh * ow
                    let valid = validRange(offset: kx - g.padding, stride: s, width: g.width, count: ow)
                    for y in 0..<oh {
                        let out = target + y * ow
                        let iy = y * s + ky - g.padding
                        guard iy >= 0 && iy < g.height, !valid.isEmpty else {
                            out.update(repeating: 0, count: ow)
                            continue
                        }
                        if valid.lowerBound > 0 { out.update(repeating: 0, count: valid.lowerBound) }
                        if valid.upperBound < ow { (out + valid.upperBound).update(repeating: 0, count: ow - valid.upperBound) }
                        let source = plane + iy * g.width + kx - g.padding
                        if s == 1 {
                            (out + valid.lowerBound).update(from: source + valid.lowerBound, count: valid.count)
                        } else {
                            for x in valid { out[x] = source[x * s] }
                        }
                    }
                }
            }
        }
    }

    static func col2im(_ columns: UnsafePointer<Float>, _ g: Geometry, _ output: UnsafeMutablePointer<Float>) {
        let (oh, ow, s) = (g.outputHeight, g.outputWidth, g.stride)
        for c in 0..<g.channels {
            let plane = output + c * g.height * g.width
            for ky in 0..<g.kernel {
                for kx in 0..<g.kernel {
                    let row = (c * g.kernel + ky) * g.kernel + kx
                    let source = columns + row * oh * ow
                    let valid = validRange(offset: kx - g.padding, stride: s, width: g.width, count: ow)
                    guard !valid.isEmpty else { continue }
                    for y in 0..<oh {
                        let iy = y * s + ky - g.padding
                        guard iy >= 0 && iy < g.height else { continue }
                        let target = plane + iy * g.width + kx - g.padding
                        let from = source + y * ow
                        for x in valid { target[x * s] += from[x] }
                    }
                }
            }
        }
    }

    /// x: [N, C, H, W], weight: [O, C, k, k], bias: [O] or nil → [N, O, H', W'].
    public static func conv2d(_ x: Variable, _ weight: Variable, _ bias: Variable?, stride: Int = 1, padding: Int = 0) -> Variable {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, k) = (weight.shape[0], weight.shape[2])
        precondition(weight.shape[1] == c, "weight expects \(weight.shape[1]) channels, input has \(c)")
        let g = Geometry(channels: c, height: h, width: w, kernel: k, stride: stride, padding: padding)
        let (rows, count) = (g.columnRows, g.columnCount)
        var out = Tensor(zeros: [n, o, g.outputHeight, g.outputWidth])
        var columns = [Float](repeating: 0, count: rows * count)
        x.value.storage.withUnsafeBufferPointer { input in
            weight.value.storage.withUnsafeBufferPointer { wp in
                out.storage.withUnsafeMutableBufferPointer { op in
                    columns.withUnsafeMutableBufferPointer { cols in
                        for s in 0..<n {
                            im2col(input.baseAddress! + s * c * h * w, g, cols.baseAddress!)
                            MatrixMultiply.gemm(wp.baseAddress!, cols.baseAddress!, op.baseAddress! + s * o * count, m: o, n: count, k: rows)
                        }
                    }
                    if let bias {
                        for s in 0..<n { for oc in 0..<o { for i in 0..<count { op[(s * o + oc) * count + i] += bias.value.storage[oc] } } }
                    }
                }
            }
        }
        var inputs = [x, weight]
        if let bias { inputs.append(bias) }
        return Variable(out, inputs: inputs) { gradient in
            var dWeight = Tensor(zeros: weight.shape)
            var dInput = Tensor(zeros: x.shape)
            var cols = [Float](repeating: 0, count: rows * count)
            var dCols = [Float](repeating: 0, count: rows * count)
            x.value.storage.withUnsafeBufferPointer { input in
                weight.value.storage.withUnsafeBufferPointer { wp in
                    gradient.storage.withUnsafeBufferPointer { dy in
                        dWeight.storage.withUnsafeMutableBufferPointer { dw in
                            dInput.storage.withUnsafeMutableBufferPointer { dx in
                                cols.withUnsafeMutableBufferPointer { colsP in
                                    dCols.withUnsafeMutableBufferPointer { dColsP in
                                        for s in 0..<n {
                                            let dys = dy.baseAddress! + s * o * count
                                            if weight.requiresGrad {
                                                im2col(input.baseAddress! + s * c * h * w, g, colsP.baseAddress!)
                                                // dW += dY_s · colsᵀ
                                                MatrixMultiply.gemm(dys, colsP.baseAddress!, dw.baseAddress!, m: o, n: rows, k: count,
                                                                    transposeB: true, beta: 1)
                                            }
                                            if x.requiresGrad {
                                                // dcols = Wᵀ · dY_s, folded back onto the input.
                                                MatrixMultiply.gemm(wp.baseAddress!, dys, dColsP.baseAddress!, m: rows, n: count, k: o, transposeA: true)
                                                col2im(dColsP.baseAddress!, g, dx.baseAddress! + s * c * h * w)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if x.requiresGrad { x.accumulate(dInput) }
            if weight.requiresGrad { weight.accumulate(dWeight) }
            if let bias, bias.requiresGrad {
                var db = Tensor(zeros: [o])
                for s in 0..<n { for oc in 0..<o { for i in 0..<count { db.storage[oc] += gradient.storage[(s * o + oc) * count + i] } } }
                bias.accumulate(db)
            }
        }
    }

    /// Max over non-overlapping (or strided) k×k windows of [N, C, H, W].
    public static func maxPool2d(_ x: Variable, kernel k: Int, stride: Int? = nil) -> Variable {
        let s = stride ?? k
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = ((h - k) / s + 1, (w - k) / s + 1)
        var out = Tensor(zeros: [n, c, oh, ow])
        var argmax = [Int](repeating: 0, count: out.count)
        x.value.storage.withUnsafeBufferPointer { input in
            for plane in 0..<(n * c) {
                for y in 0..<oh {
                    for xx in 0..<ow {
                        var best = -Float.infinity
                        var bestIndex = 0
                        for ky in 0..<k {
                            for kx in 0..<k {
                                let index = (plane * h + y * s + ky) * w + xx * s + kx
                                if input[index] > best {
                                    best = input[index]
                                    bestIndex = index
                                }
                            }
                        }
                        let o = (plane * oh + y) * ow + xx
                        out.storage[o] = best
                        argmax[o] = bestIndex
                    }
                }
            }
        }
        return Variable(out, inputs: [x]) { g in
            var dx = Tensor(zeros: x.shape)
            for i in 0..<argmax.count { dx.storage[argmax[i]] += g.storage[i] }
            x.accumulate(dx)
        }
    }

    /// Mean over each channel's plane: [N, C, H, W] → [N, C].
    public static func globalAveragePool(_ x: Variable) -> Variable {
        let (n, c, plane) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        var out = Tensor(zeros: [n, c])
        for i in 0..<(n * c) {
            var total: Float = 0
            for j in 0..<plane { total += x.value.storage[i * plane + j] }
            out.storage[i] = total / Float(plane)
        }
        return Variable(out, inputs: [x]) { g in
            var dx = Tensor(zeros: x.shape)
            for i in 0..<(n * c) { for j in 0..<plane { dx.storage[i * plane + j] = g.storage[i] / Float(plane) } }
            x.accumulate(dx)
        }
    }
}
