import RandomStreams
import Tensor

/// What the deep clustering methods share, defined once: the image trunk, the augmentation policies,
/// feature standardization, the arg-max of cluster probabilities and how many samples are scored per
/// epoch. IIC and SCAN both build on these; neither reaches into the other.
public enum ClusteringNetworks {
    /// Samples scored against labels each epoch (a fixed random subset beyond it).
    public static let evaluationLimit = 5000

    /// Conv–BN–ReLU blocks with pooling down to at most 4×4, then a 128-d feature: the digits net's
    /// layout for small images (≤ 12 px), the MNIST net's for larger ones.
    public static func convolutionalTrunk(channels c: Int, height h: Int, width w: Int, rng: inout RandomStream) -> Sequential {
        if max(h, w) <= 12 {
            return Sequential([
                Conv2d(c, 32, kernel: 3, padding: 1, bias: false, rng: &rng), BatchNormLayer(32, twoDimensional: true, relu: true),
                Conv2d(32, 64, kernel: 3, padding: 1, bias: false, rng: &rng), BatchNormLayer(64, twoDimensional: true, relu: true),
                MaxPool2d(2), Flatten(),
                Linear(64 * (h / 2) * (w / 2), 128, bias: false, rng: &rng), BatchNormLayer(128, twoDimensional: false, relu: true),
            ])
        }
        return Sequential([
            Conv2d(c, 32, kernel: 5, padding: 2, bias: false, rng: &rng), BatchNormLayer(32, twoDimensional: true, relu: true), MaxPool2d(2),
            Conv2d(32, 64, kernel: 5, padding: 2, bias: false, rng: &rng), BatchNormLayer(64, twoDimensional: true, relu: true), MaxPool2d(2),
            Conv2d(64, 128, kernel: 3, padding: 1, bias: false, rng: &rng), BatchNormLayer(128, twoDimensional: true, relu: true), MaxPool2d(2),
            Flatten(), Linear(128 * (h / 8) * (w / 8), 128, bias: false, rng: &rng), BatchNormLayer(128, twoDimensional: false, relu: true),
        ])
    }

    /// A classifier: the trunk for the layout (the convolutional trunk for images, `Backbones.mlp` for feature
    /// vectors) and a linear map of its 128 features to `classes` logits. SCAN's saved model, MixMatch's and
    /// RUC's networks are this architecture.
    public static func classifier(for layout: Dataset.Layout, classes: Int, rng: inout RandomStream) -> Sequential {
        let trunk: Sequential
        switch layout {
        case .images(let c, let h, let w): trunk = convolutionalTrunk(channels: c, height: h, width: w, rng: &rng)
        case .features(let d): trunk = Backbones.mlp(inputs: d, rng: &rng)
        }
        return Sequential([trunk, Linear(128, classes, rng: &rng)])
    }

    /// The augmentation policies for pairs of views: for images small affine jitter, crop and photometric
    /// noise; for (standardized) feature vectors Gaussian noise of 0.1 standard deviations.
    public static func augmentation(for layout: Dataset.Layout, policy: String = "default") -> Augmentation {
        guard case .images(_, let h, _) = layout else {
            return Augmentation([.gaussianNoise(sigma: 0.1)], range: -Float.greatestFiniteMagnitude...Float.greatestFiniteMagnitude)
        }
        switch policy {
        case "mild":
            return Augmentation([
                .affine(degrees: 10, scale: 0.95...1.05, shear: 0, translate: 0), .randomCrop(padding: max(1, h / 8)),
                .gaussianNoise(sigma: 0.02),
            ])
        case "strong":
            return Augmentation([
                .affine(degrees: 25, scale: 0.8...1.2, shear: 15, translate: 0), .randomCrop(padding: max(1, h / 8)),
                .brightnessContrast(brightness: 0.4, contrast: 0.4), .gaussianNoise(sigma: 0.05), .cutout(size: max(2, h / 4)),
            ])
        default:
            return Augmentation([
                .affine(degrees: 15, scale: 0.9...1.1, shear: 8, translate: 0), .randomCrop(padding: max(1, h / 8)),
                .brightnessContrast(brightness: 0.2, contrast: 0.2), .gaussianNoise(sigma: 0.03),
            ])
        }
    }

    /// Per-feature mean and standard deviation (floored at 10⁻⁶) of feature vectors.
    public static func standardizer(_ dataset: Dataset) -> ChannelNormalization {
        let d = dataset.layout.sampleSize
        var mean = [Float](repeating: 0, count: d), std = [Float](repeating: 0, count: d)
        for i in 0..<dataset.count { for j in 0..<d { mean[j] += dataset.values[i * d + j] } }
        for j in 0..<d { mean[j] /= Float(dataset.count) }
        for i in 0..<dataset.count { for j in 0..<d { let delta = dataset.values[i * d + j] - mean[j]; std[j] += delta * delta } }
        std = std.map { max(($0 / Float(dataset.count)).squareRoot(), 1e-6) }
        return ChannelNormalization(mean: mean, std: std)
    }

    /// Per-channel mean and standard deviation (floored at 10⁻⁶) of NCHW images, over every pixel of every sample.
    public static func channelStatistics(_ dataset: Dataset) -> ChannelNormalization {
        guard case .images(let c, let h, let w) = dataset.layout else { return standardizer(dataset) }
        var mean = [Double](repeating: 0, count: c), squares = [Double](repeating: 0, count: c)
        for s in 0..<dataset.count {
            for ch in 0..<c {
                let base = (s * c + ch) * h * w
                for i in 0..<(h * w) {
                    let v = Double(dataset.values[base + i])
                    mean[ch] += v
                    squares[ch] += v * v
                }
            }
        }
        let total = Double(max(dataset.count * h * w, 1))
        let means = mean.map { $0 / total }
        let stds = (0..<c).map { max((squares[$0] / total - means[$0] * means[$0]).squareRoot(), 1e-6) }
        return ChannelNormalization(mean: means.map(Float.init), std: stds.map(Float.init))
    }

    /// A batch of NCHW images with each channel standardized (applied after augmentation, before the trunk).
    public static func standardizeChannels(_ x: Variable, _ normalization: ChannelNormalization) -> Variable {
        let shape = x.value.shape
        guard shape.count == 4, shape[1] == normalization.mean.count else { return x }
        var storage = x.value.storage
        let (n, c, plane) = (shape[0], shape[1], shape[2] * shape[3])
        for s in 0..<n {
            for ch in 0..<c {
                let (mean, inverse) = (normalization.mean[ch], 1 / normalization.std[ch])
                let base = (s * c + ch) * plane
                for i in 0..<plane { storage[base + i] = (storage[base + i] - mean) * inverse }
            }
        }
        return Variable(Tensor(shape: shape, storage: storage))
    }

    public static func standardize(_ values: [Float], d: Int, _ normalization: ChannelNormalization) -> [Float] {
        var out = values
        for i in 0..<(values.count / d) { for j in 0..<d { out[i * d + j] = (values[i * d + j] - normalization.mean[j]) / normalization.std[j] } }
        return out
    }

    /// Each row's most probable cluster (the first on ties); rows of `p` hold `classes` probabilities.
    public static func argmax(_ p: [Float], classes: Int) -> [Int] {
        guard classes > 0 else { return [] }
        return (0..<(p.count / classes)).map { row in
            var best = 0
            for column in 1..<max(1, classes) where p[row * classes + column] > p[row * classes + best] { best = column }
            return best
        }
    }
}
