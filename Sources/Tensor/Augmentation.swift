import Foundation
import RandomStreams

/// Per-sample image augmentations on [C, H, W] planes, each drawing from the stream it is given,
/// so a seed fixes every augmented batch. Values are clamped back to the input's range [low, high].
public struct Augmentation: Sendable {
    public enum Step: Sendable {
        /// Pads by `padding` (zeros) and crops back to the original size at a random offset.
        case randomCrop(padding: Int)
        case horizontalFlip(probability: Double)
        /// Rotation (degrees), scale range, shear (degrees), translation (fraction of the size); bilinear.
        case affine(degrees: Double, scale: ClosedRange<Double>, shear: Double, translate: Double)
        /// Multiplies by a brightness gain and stretches contrast around the mean.
        case brightnessContrast(brightness: Double, contrast: Double)
        case gaussianNoise(sigma: Double)
        /// Zeroes a random square of side `size`.
        case cutout(size: Int)
        /// RandAugment-style: `count` of the geometric and photometric steps above, each at `magnitude` ∈ [0, 1].
        case randAugment(count: Int, magnitude: Double)
    }

    public var steps: [Step]
    public var range: ClosedRange<Float>

    public init(_ steps: [Step], range: ClosedRange<Float> = 0...1) {
        self.steps = steps
        self.range = range
    }

    /// Augments one image of `channels` × `height` × `width` values in place.
    public func apply(_ image: inout [Float], channels: Int, height: Int, width: Int, rng: inout RandomStream) {
        for step in steps { Self.apply(step, &image, channels, height, width, &rng) }
        for i in image.indices { image[i] = min(max(image[i], range.lowerBound), range.upperBound) }
    }

    static func apply(_ step: Step, _ image: inout [Float], _ c: Int, _ h: Int, _ w: Int, _ rng: inout RandomStream) {
        switch step {
        case .randomCrop(let padding):
            let dy = Int(rng.next() % UInt64(2 * padding + 1)) - padding
            let dx = Int(rng.next() % UInt64(2 * padding + 1)) - padding
            image = shifted(image, c, h, w, dy: dy, dx: dx)
        case .horizontalFlip(let probability):
            guard rng.uniform() < probability else { return }
            for plane in 0..<c {
                for y in 0..<h {
                    for x in 0..<(w / 2) {
                        image.swapAt((plane * h + y) * w + x, (plane * h + y) * w + w - 1 - x)
                    }
                }
            }
        case .affine(let degrees, let scale, let shear, let translate):
            let angle = (rng.uniform() * 2 - 1) * degrees * Double.pi / 180
            let factor = scale.lowerBound + rng.uniform() * (scale.upperBound - scale.lowerBound)
            let shearAngle = (rng.uniform() * 2 - 1) * shear * Double.pi / 180
            let tx = (rng.uniform() * 2 - 1) * translate * Double(w)
            let ty = (rng.uniform() * 2 - 1) * translate * Double(h)
            image = affine(image, c, h, w, angle: angle, scale: factor, shear: shearAngle, tx: tx, ty: ty)
        case .brightnessContrast(let brightness, let contrast):
            let gain = Float(1 + (rng.uniform() * 2 - 1) * brightness)
            let stretch = Float(1 + (rng.uniform() * 2 - 1) * contrast)
            let mean = image.reduce(0, +) / Float(image.count)
            for i in image.indices { image[i] = (image[i] * gain - mean) * stretch + mean }
        case .gaussianNoise(let sigma):
            for i in image.indices { image[i] += Float(sigma * Ziggurat.normal.normal(&rng)) }
        case .cutout(let size):
            let y0 = Int(rng.next() % UInt64(h)) - size / 2
            let x0 = Int(rng.next() % UInt64(w)) - size / 2
            for plane in 0..<c {
                for y in max(0, y0)..<min(h, y0 + size) {
                    for x in max(0, x0)..<min(w, x0 + size) {
                        image[(plane * h + y) * w + x] = 0
                    }
                }
            }
        case .randAugment(let count, let magnitude):
            let choices: [Step] = [
                .affine(degrees: 30 * magnitude, scale: 1...1, shear: 0, translate: 0),
                .affine(degrees: 0, scale: 1...1, shear: 20 * magnitude, translate: 0),
                .affine(degrees: 0, scale: 1...1, shear: 0, translate: 0.3 * magnitude),
                .affine(degrees: 0, scale: (1 - 0.3 * magnitude)...(1 + 0.3 * magnitude), shear: 0, translate: 0),
                .brightnessContrast(brightness: 0.9 * magnitude, contrast: 0),
                .brightnessContrast(brightness: 0, contrast: 0.9 * magnitude),
                .gaussianNoise(sigma: 0.1 * magnitude),
                .cutout(size: max(1, Int(Double(min(h, w)) * 0.5 * magnitude))),
            ]
            for _ in 0..<count { apply(choices[Int(rng.next() % UInt64(choices.count))], &image, c, h, w, &rng) }
        }
    }

    static func shifted(_ image: [Float], _ c: Int, _ h: Int, _ w: Int, dy: Int, dx: Int) -> [Float] {
        var out = [Float](repeating: 0, count: image.count)
        for plane in 0..<c {
            for y in 0..<h {
                for x in 0..<w {
                    let sy = y + dy, sx = x + dx
                    if sy >= 0 && sy < h && sx >= 0 && sx < w { out[(plane * h + y) * w + x] = image[(plane * h + sy) * w + sx] }
                }
            }
        }
        return out
    }

    /// Inverse-maps every output pixel through rotation·shear·scale about the centre plus translation,
    /// sampling the input bilinearly (zeros outside).
    static func affine(_ image: [Float], _ c: Int, _ h: Int, _ w: Int, angle: Double, scale: Double, shear: Double, tx: Double, ty: Double) -> [Float]
    {
        // Forward matrix M = R(angle) · Shear(shear) · scale; output p = M (q − centre) + centre + t.
        let (cosA, sinA, tanS) = (cos(angle), sin(angle), tan(shear))
        let m = [scale * cosA, scale * (cosA * tanS - sinA), scale * sinA, scale * (sinA * tanS + cosA)]
        let determinant = m[0] * m[3] - m[1] * m[2]
        let inverse = [m[3] / determinant, -m[1] / determinant, -m[2] / determinant, m[0] / determinant]
        let (cy, cx) = (Double(h - 1) / 2, Double(w - 1) / 2)
        var out = [Float](repeating: 0, count: image.count)
        for y in 0..<h {
            for x in 0..<w {
                let (px, py) = (Double(x) - cx - tx, Double(y) - cy - ty)
                let sx = inverse[0] * px + inverse[1] * py + cx
                let sy = inverse[2] * px + inverse[3] * py + cy
                let (x0, y0) = (Int(floor(sx)), Int(floor(sy)))
                let (fx, fy) = (Float(sx - Double(x0)), Float(sy - Double(y0)))
                for plane in 0..<c {
                    func pixel(_ yy: Int, _ xx: Int) -> Float {
                        yy >= 0 && yy < h && xx >= 0 && xx < w ? image[(plane * h + yy) * w + xx] : 0
                    }
                    let top = pixel(y0, x0) * (1 - fx) + pixel(y0, x0 + 1) * fx
                    let bottom = pixel(y0 + 1, x0) * (1 - fx) + pixel(y0 + 1, x0 + 1) * fx
                    out[(plane * h + y) * w + x] = top * (1 - fy) + bottom * fy
                }
            }
        }
        return out
    }
}

/// Per-channel normalization with stored statistics: (x − mean[c]) / std[c].
public struct ChannelNormalization: Sendable, Codable, Equatable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }

    /// Statistics of a dataset of [N, C, H, W] values.
    public init(fitting data: [Float], channels: Int, planeSize: Int) {
        var mean = [Float](repeating: 0, count: channels)
        var squares = [Float](repeating: 0, count: channels)
        let images = data.count / (channels * planeSize)
        for n in 0..<images {
            for ch in 0..<channels {
                for j in 0..<planeSize {
                    let v = data[(n * channels + ch) * planeSize + j]
                    mean[ch] += v
                    squares[ch] += v * v
                }
            }
        }
        let count = Float(images * planeSize)
        self.mean = mean.map { $0 / count }
        self.std = zip(squares, self.mean).map { max(($0 / count - $1 * $1).squareRoot(), 1e-6) }
    }

    public func apply(_ image: inout [Float], planeSize: Int) {
        for ch in mean.indices { for j in 0..<planeSize { image[ch * planeSize + j] = (image[ch * planeSize + j] - mean[ch]) / std[ch] } }
    }
}
