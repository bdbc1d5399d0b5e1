import Foundation

/// 2-D convolution by im2col + SGEMM, one sample at a time (the column buffer stays small).
public enum Convolution {
    public struct Geometry: Sendable, Equatable {
        public var channels, height, width, kernel, stride, padding: Int
        public var outputHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
        public var outputWidth: Int { (width + 2 * padding - kernel) / stride + 1 }
        var columnRows: Int { channels * kernel * kernel }
        var columnCount: Int { outputHeight * outputWidth }
        /// Stride 1 with a padded channel plane small enough for a temporary buffer: im2col and col2im take the
        /// fixed-length-window paths.
        var usesPaddedPlane: Bool { stride == 1 && padding < kernel && height * (width + 2 * padding) <= 1 << 14 }

        /// At stride 1, the output rows y whose input row y + ky − padding lies inside the image (the others read padding).
        func outputRowsInside(kernelRow ky: Int) -> Range<Int> {
            let first = min(max(0, padding - ky), outputHeight)
            return first..<max(first, min(outputHeight, height + padding - ky))
        }
    }

    /// The output columns x for which input column x·stride + offset lies inside [0, width).
    @inline(__always)
    static func validRange(offset: Int, stride: Int, width: Int, count: Int) -> Range<Int> {
        // x·s + o ≥ 0  ⇔  x ≥ ⌈−o/s⌉;  x·s + o < w  ⇔  x < ⌈(w − o)/s⌉
        let low = offset >= 0 ? 0 : (-offset + stride - 1) / stride
        let high = width - offset <= 0 ? 0 : (width - offset + stride - 1) / stride
        return min(low, count)..<max(min(high, count), min(low, count))
    }

    /// Writes one sample's columns; row r starts at `columns + r · rowStride` (several samples share rows).
    /// With `paddingZeroed`, the positions that fall in the padding are left as they are: the caller zeroed the
    /// buffer once for this layout, and no sample ever writes there (the same positions for every sample and chunk).
    static func im2col(
        _ input: UnsafePointer<Float>, _ g: Geometry, _ columns: UnsafeMutablePointer<Float>, rowStride: Int? = nil, paddingZeroed: Bool = false
    ) {
        let (oh, ow, s) = (g.outputHeight, g.outputWidth, g.stride)
        if g.usesPaddedPlane {
            im2colUnitStride(input, g, columns, rowStride: rowStride ?? oh * ow, paddingZeroed: paddingZeroed)
            return
        }
        for c in 0..<g.channels {
            let plane = input + c * g.height * g.width
            for ky in 0..<g.kernel {
                for kx in 0..<g.kernel {
                    let row = (c * g.kernel + ky) * g.kernel + kx
                    let target = columns + row * (rowStride ?? oh * ow)
                    let valid = validRange(offset: kx - g.padding, stride: s, width: g.width, count: ow)
                    for y in 0..<oh {
                        let out = target + y * ow
                        let iy = y * s + ky - g.padding
                        guard iy >= 0 && iy < g.height, !valid.isEmpty else {
                            if !paddingZeroed { out.update(repeating: 0, count: ow) }
                            continue
                        }
                        if !paddingZeroed {
                            if valid.lowerBound > 0 { out.update(repeating: 0, count: valid.lowerBound) }
                            if valid.upperBound < ow { (out + valid.upperBound).update(repeating: 0, count: ow - valid.upperBound) }
                        }
                        let source = plane + iy * g.width + kx - g.padding
                        if s == 1 {
                            Kernels.copyShort(source + valid.lowerBound, to: out + valid.lowerBound, valid.count)
                        } else {
                            for x in valid { out[x] = source[x * s] }
                        }
                    }
                }
            }
        }
    }

    /// im2col at stride 1: each channel is copied once into a plane padded left and right with zeros, and every column
    /// row reads its windows from it at a fixed length, ow floats — no per-window bounds, the padding zeros come with
    /// the window (only rows that fall outside the image are left to `paddingZeroed`). y is the inner loop, so no read
    /// waits on a store just made (copying a padded row and reading its k windows at once stalled on store forwarding).
    static func im2colUnitStride(
        _ input: UnsafePointer<Float>, _ g: Geometry, _ columns: UnsafeMutablePointer<Float>, rowStride: Int, paddingZeroed: Bool
    ) {
        let (oh, ow, k, p, w, h) = (g.outputHeight, g.outputWidth, g.kernel, g.padding, g.width, g.height)
        let paddedWidth = w + 2 * p
        withUnsafeTemporaryAllocation(of: Float.self, capacity: h * paddedWidth) { buffer in
            let padded = buffer.baseAddress!
            padded.initialize(repeating: 0, count: h * paddedWidth)
            for c in 0..<g.channels {
                let plane = input + c * h * w
                for iy in 0..<h { Kernels.copyShort(plane + iy * w, to: padded + iy * paddedWidth + p, w) }
                for ky in 0..<k {
                    let ys = g.outputRowsInside(kernelRow: ky)
                    for kx in 0..<k {
                        let row = columns + ((c * k + ky) * k + kx) * rowStride
                        if !paddingZeroed {
                            row.update(repeating: 0, count: ys.lowerBound * ow)
                            (row + ys.upperBound * ow).update(repeating: 0, count: (oh - ys.upperBound) * ow)
                        }
                        for y in ys { Kernels.copyShort(padded + (y + ky - p) * paddedWidth + kx, to: row + y * ow, ow) }
                    }
                }
            }
        }
    }

    /// col2im at stride 1: each channel's windows are summed into a plane padded left and right, at a fixed length (no
    /// per-window bounds), then the plane's inner columns are added to the image. Consecutive sums go to different rows
    /// (y is the inner loop): summing a row's k overlapping windows one after another would stall on store forwarding.
    static func col2imUnitStride(_ columns: UnsafePointer<Float>, _ g: Geometry, _ output: UnsafeMutablePointer<Float>, rowStride: Int) {
        let (ow, k, p, w, h) = (g.outputWidth, g.kernel, g.padding, g.width, g.height)
        let paddedWidth = w + 2 * p
        withUnsafeTemporaryAllocation(of: Float.self, capacity: h * paddedWidth) { buffer in
            let padded = buffer.baseAddress!
            for c in 0..<g.channels {
                padded.update(repeating: 0, count: h * paddedWidth)
                for ky in 0..<k {
                    let ys = g.outputRowsInside(kernelRow: ky)
                    for kx in 0..<k {
                        let row = columns + ((c * k + ky) * k + kx) * rowStride
                        for y in ys { Kernels.addShort(row + y * ow, into: padded + (y + ky - p) * paddedWidth + kx, ow) }
                    }
                }
                let plane = output + c * h * w
                for iy in 0..<h { Kernels.addShort(padded + iy * paddedWidth + p, into: plane + iy * w, w) }
            }
        }
    }

    static func col2im(_ columns: UnsafePointer<Float>, _ g: Geometry, _ output: UnsafeMutablePointer<Float>, rowStride: Int? = nil) {
        let (oh, ow, s) = (g.outputHeight, g.outputWidth, g.stride)
        if g.usesPaddedPlane {
            col2imUnitStride(columns, g, output, rowStride: rowStride ?? oh * ow)
            return
        }
        for c in 0..<g.channels {
            let plane = output + c * g.height * g.width
            for ky in 0..<g.kernel {
                for kx in 0..<g.kernel {
                    let row = (c * g.kernel + ky) * g.kernel + kx
                    let source = columns + row * (rowStride ?? oh * ow)
                    let valid = validRange(offset: kx - g.padding, stride: s, width: g.width, count: ow)
                    guard !valid.isEmpty else { continue }
                    for y in 0..<oh {
                        let iy = y * s + ky - g.padding
                        guard iy >= 0 && iy < g.height else { continue }
                        let target = plane + iy * g.width + kx - g.padding
                        let from = source + y * ow
                        if s == 1 {
                            Kernels.addShort(from + valid.lowerBound, into: target + valid.lowerBound, valid.count)
                        } else {
                            for x in valid { target[x * s] += from[x] }
                        }
                    }
                }
            }
        }
    }

    /// Samples per GEMM: enough that the product is large, few enough that the columns (about 1 MB)
    /// stay in cache; measured best among 256 KB, 1 MB and 8 MB on the MNIST and digits nets.
    static func chunkSize(rows: Int, count: Int, samples: Int) -> Int {
        max(1, min(samples, (1 << 18) / max(1, rows * count)))
    }

    /// x: [N, C, H, W], weight: [O, C, k, k], bias: [O] or nil → [N, O, H', W'].
    /// Columns of several samples sit side by side, so each chunk is one large GEMM.
    public static func conv2d(_ x: Variable, _ weight: Variable, _ bias: Variable?, stride: Int = 1, padding: Int = 0) -> Variable {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, k) = (weight.shape[0], weight.shape[2])
        precondition(weight.shape[1] == c, "weight expects \(weight.shape[1]) channels, input has \(c)")
        let g = Geometry(channels: c, height: h, width: w, kernel: k, stride: stride, padding: padding)
        let (rows, count) = (g.columnRows, g.columnCount)
        let chunk = chunkSize(rows: rows, count: count, samples: n)
        // Every element is written below (copied out of the chunk products), so no zero-fill.
        var out = Tensor(shape: [n, o, g.outputHeight, g.outputWidth]) { _ in }
        // Zeroed once: im2col leaves the padding positions alone, and they are the same for every full chunk.
        var columns = [Float](repeating: 0, count: rows * chunk * count)
        var product = [Float](unsafeUninitializedCapacity: o * chunk * count) { $1 = o * chunk * count }
        x.value.storage.withUnsafeBufferPointer { input in
            weight.value.storage.withUnsafeBufferPointer { wp in
                out.storage.withUnsafeMutableBufferPointer { op in
                    columns.withUnsafeMutableBufferPointer { cols in
                        product.withUnsafeMutableBufferPointer { prod in
                            for first in Swift.stride(from: 0, to: n, by: chunk) {
                                let members = min(chunk, n - first)
                                let width = members * count
                                // A shorter last chunk lays the rows out anew: its padding positions moved.
                                if members < chunk && padding > 0 { cols.update(repeating: 0) }
                                for i in 0..<members {
                                    im2col(
                                        input.baseAddress! + (first + i) * c * h * w, g, cols.baseAddress! + i * count, rowStride: width,
                                        paddingZeroed: true)
                                }
                                MatrixMultiply.gemm(wp.baseAddress!, cols.baseAddress!, prod.baseAddress!, m: o, n: width, k: rows)
                                for i in 0..<members {
                                    for oc in 0..<o {
                                        Kernels.copy(
                                            prod.baseAddress! + oc * width + i * count, to: op.baseAddress! + ((first + i) * o + oc) * count,
                                            adding: bias?.value.storage[oc] ?? 0, count)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        var inputs = [x, weight]
        if let bias { inputs.append(bias) }
        return Variable(out, inputs: inputs) { gradient in
            var dWeight = Tensor(zeros: weight.shape)
            var dInput = Tensor(zeros: x.shape)
            // dCols and dY: scratch every chunk overwrites before reading; cols: zeroed once, as in the forward pass.
            var cols = [Float](repeating: 0, count: rows * chunk * count)
            var dCols = [Float](unsafeUninitializedCapacity: rows * chunk * count) { $1 = rows * chunk * count }
            var dY = [Float](unsafeUninitializedCapacity: o * chunk * count) { $1 = o * chunk * count }
            x.value.storage.withUnsafeBufferPointer { input in
                weight.value.storage.withUnsafeBufferPointer { wp in
                    gradient.storage.withUnsafeBufferPointer { dy in
                        dWeight.storage.withUnsafeMutableBufferPointer { dw in
                            dInput.storage.withUnsafeMutableBufferPointer { dx in
                                cols.withUnsafeMutableBufferPointer { colsP in
                                    dCols.withUnsafeMutableBufferPointer { dColsP in
                                        dY.withUnsafeMutableBufferPointer { dYP in
                                            for first in Swift.stride(from: 0, to: n, by: chunk) {
                                                let members = min(chunk, n - first)
                                                let width = members * count
                                                // The chunk's output gradient with channels as rows: [O, members · H'W'].
                                                for i in 0..<members {
                                                    for oc in 0..<o {
                                                        (dYP.baseAddress! + oc * width + i * count)
                                                            .update(from: dy.baseAddress! + ((first + i) * o + oc) * count, count: count)
                                                    }
                                                }
                                                if weight.requiresGrad {
                                                    if members < chunk && padding > 0 { colsP.update(repeating: 0) }
                                                    for i in 0..<members {
                                                        im2col(
                                                            input.baseAddress! + (first + i) * c * h * w, g, colsP.baseAddress! + i * count,
                                                            rowStride: width, paddingZeroed: true)
                                                    }
                                                    // dW += dY · colsᵀ
                                                    MatrixMultiply.gemm(
                                                        dYP.baseAddress!, colsP.baseAddress!, dw.baseAddress!, m: o, n: rows, k: width,
                                                        transposeB: true, beta: 1)
                                                }
                                                if x.requiresGrad {
                                                    // dcols = Wᵀ · dY, folded back onto each sample's input.
                                                    MatrixMultiply.gemm(
                                                        wp.baseAddress!, dYP.baseAddress!, dColsP.baseAddress!, m: rows, n: width, k: o,
                                                        transposeA: true)
                                                    for i in 0..<members {
                                                        col2im(
                                                            dColsP.baseAddress! + i * count, g, dx.baseAddress! + (first + i) * c * h * w,
                                                            rowStride: width)
                                                    }
                                                }
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
                var db = [Float](repeating: 0, count: o)
                gradient.storage.withUnsafeBufferPointer { d in
                    for s in 0..<n {
                        for oc in 0..<o {
                            db[oc] += Kernels.sum(d.baseAddress! + (s * o + oc) * count, count)
                        }
                    }
                }
                bias.accumulate(Tensor(shape: [o], storage: db))
            }
        }
    }

    /// Max over non-overlapping (or strided) k×k windows of [N, C, H, W].
    public static func maxPool2d(_ x: Variable, kernel k: Int, stride: Int? = nil) -> Variable {
        let s = stride ?? k
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = ((h - k) / s + 1, (w - k) / s + 1)
        var out = Tensor(shape: [n, c, oh, ow]) { _ in }
        // Without a graph the winners' positions are not needed.
        let recording = GradientMode.isEnabled && x.requiresGrad
        var argmax = [Int32](repeating: 0, count: recording ? out.count : 0)
        x.value.storage.withUnsafeBufferPointer { input in
            out.storage.withUnsafeMutableBufferPointer { o in
                argmax.withUnsafeMutableBufferPointer { a in
                    for plane in 0..<(n * c) {
                        let base = plane &* h &* w
                        for y in 0..<oh {
                            let target = (plane &* oh &+ y) &* ow
                            if k == 2 && s == 2 {
                                // The common 2×2 window: two input rows, branch-free selects.
                                let top = base &+ (2 &* y) &* w, bottom = top &+ w
                                for xx in 0..<ow {
                                    let i0 = top &+ 2 &* xx, i1 = i0 &+ 1, i2 = bottom &+ 2 &* xx, i3 = i2 &+ 1
                                    let (va, ia) = input[i1] > input[i0] ? (input[i1], i1) : (input[i0], i0)
                                    let (vb, ib) = input[i3] > input[i2] ? (input[i3], i3) : (input[i2], i2)
                                    let (best, index) = vb > va ? (vb, ib) : (va, ia)
                                    o[target &+ xx] = best
                                    if recording { a[target &+ xx] = Int32(truncatingIfNeeded: index) }
                                }
                                continue
                            }
                            for xx in 0..<ow {
                                var bestIndex = base + (y * s) * w + xx * s
                                var best = input[bestIndex]
                                for ky in 0..<k {
                                    let row = base + (y * s + ky) * w + xx * s
                                    for kx in 0..<k where input[row + kx] > best {
                                        best = input[row + kx]
                                        bestIndex = row + kx
                                    }
                                }
                                o[target &+ xx] = best
                                if recording { a[target &+ xx] = Int32(truncatingIfNeeded: bestIndex) }
                            }
                        }
                    }
                }
            }
        }
        return Variable(out, inputs: [x]) { g in
            var dx = Tensor(zeros: x.shape)
            dx.storage.withUnsafeMutableBufferPointer { d in
                g.storage.withUnsafeBufferPointer { gp in
                    for i in 0..<argmax.count { d[Int(argmax[i])] += gp[i] }
                }
            }
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
