import Foundation

/// Samples ready for training: images as NCHW floats in [0, 1] (divided by the data's largest
/// value, so 0–255 and 0–16 pixels both span the range), or feature vectors as given.
public struct Dataset: Sendable {
    public enum Layout: Sendable, Equatable, Codable {
        case images(channels: Int, height: Int, width: Int)
        case features(dimension: Int)

        public var sampleSize: Int {
            switch self {
            case .images(let c, let h, let w): c * h * w
            case .features(let d): d
            }
        }
        public var isImages: Bool { if case .images = self { true } else { false } }
    }

    public var layout: Layout
    public var count: Int
    public var values: [Float]
    public var labels: [Int]?
    /// Images: the pixel value that became 1 (the training data's largest value, at least 1). A model saves
    /// it and `predict` applies it unchanged, so a sample's answer never depends on the others sent with it.
    public var pixelScale: Float = 1

    /// The samples at `indices` (in that order; out-of-range ones skipped), with their labels.
    public func selecting(_ indices: [Int]) -> Dataset {
        let size = layout.sampleSize
        let kept = indices.filter { $0 >= 0 && $0 < count }
        var selected: [Float] = []
        selected.reserveCapacity(kept.count * size)
        for index in kept { selected.append(contentsOf: values[(index * size)..<((index + 1) * size)]) }
        var copy = self
        copy.count = kept.count
        copy.values = selected
        copy.labels = labels.map { all in kept.map { all[$0] } }
        return copy
    }

    public init(layout: Layout, count: Int, values: [Float], labels: [Int]?) {
        precondition(values.count == count * layout.sampleSize, "values must hold count × sample size")
        self.layout = layout
        self.count = count
        self.values = values
        self.labels = labels
    }

    /// The documented limits of an accepted dataset.
    public enum Limits {
        public static let maxSamples = 250_000
        public static let imageSides = 4...64
        public static let imageChannels: Set<Int> = [1, 3]
        public static let maxFeatures = 4096
        public static let maxLabel = 100_000
        /// Distinct text labels of a CSV label column.
        public static let maxLabelNames = 10_000
        /// Samples × values per sample (64 Mi, 256 MB as floats; MNIST's 70,000 × 784 is 55 M).
        public static let maxValues = 64 << 20
    }

    /// Interprets an array: uint8 N×H×W or N×H×W×C as images, any N×D (D ≤ 4096) as feature vectors;
    /// checks the limits, finiteness and the labels (one integer per sample, −1 for a sample without a label).
    /// - Parameter pixelScale: for images, the value that becomes 1; nil computes it from this data (training).
    public static func from(
        _ array: NumericArray, labels labelArray: [Int]?, field: String = "data", labelsField: String = "labels", pixelScale: Float? = nil
    ) throws(DatasetError) -> Dataset {
        let shape = array.shape
        guard let n = shape.first, shape.count >= 2 else {
            throw DatasetError(field: field, "an array of shape \(shape) is not a dataset: expected N×D features or N×H×W(×C) uint8 images")
        }
        guard n > 0 else { throw DatasetError(field: field, "the dataset has zero rows") }
        try checkSize(shape, field: field)
        let layout: Layout
        switch shape.count {
        case 2:
            guard (1...Limits.maxFeatures).contains(shape[1]) else {
                throw DatasetError(field: field, "\(shape[1]) features per sample; 1 to \(Limits.maxFeatures) are accepted")
            }
            layout = .features(dimension: shape[1])
        case 3, 4:
            guard array.element == .uint8 else {
                throw DatasetError(
                    field: field, "images must be uint8 (got \(array.element.rawValue) of shape \(shape)); send floats as N×D features")
            }
            let (h, w, c) = (shape[1], shape[2], shape.count == 4 ? shape[3] : 1)
            if shape.count == 4, !Limits.imageChannels.contains(c), Limits.imageChannels.contains(shape[1]) {
                throw DatasetError(
                    field: field,
                    "images of shape \(shape) look channels-first (N×C×H×W); images are read channels-last (N×H×W×C): send x.transpose(0, 2, 3, 1)")
            }
            guard Limits.imageSides.contains(h), Limits.imageSides.contains(w) else {
                throw DatasetError(
                    field: field,
                    "images of \(h)×\(w) pixels; sides from \(Limits.imageSides.lowerBound) to \(Limits.imageSides.upperBound) are accepted")
            }
            guard Limits.imageChannels.contains(c) else {
                throw DatasetError(field: field, "images with \(c) channels; 1 (N×H×W or N×H×W×1) or 3 (N×H×W×3) are accepted")
            }
            layout = .images(channels: c, height: h, width: w)
        default:
            throw DatasetError(field: field, "an array of rank \(shape.count) is not a dataset: expected N×D or N×H×W(×C)")
        }
        var values: [Float]
        var usedScale: Float = 1
        if case .images(let c, let h, let w) = layout {
            usedScale = pixelScale ?? Float(max(1, array.maximum()))
            let scale = 1 / usedScale
            values = [Float](repeating: 0, count: n * c * h * w)
            // N×H×W×C (channels last, as numpy holds images) → N×C×H×W, read in place (no copy of the bytes).
            array.bytes.withUnsafeBytes { raw in
                for s in 0..<n {
                    for y in 0..<h {
                        for x in 0..<w {
                            for ch in 0..<c {
                                values[((s * c + ch) * h + y) * w + x] = Float(raw[((s * h + y) * w + x) * c + ch]) * scale
                            }
                        }
                    }
                }
            }
        } else {
            values = array.floats()
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                let d = layout.sampleSize
                throw DatasetError(
                    field: field, "sample \(bad / d), feature \(bad % d) is \(values[bad]); features must be finite numbers (float32 range)")
            }
        }
        if let labelArray {
            guard labelArray.count == n else {
                throw DatasetError(field: labelsField, "\(labelArray.count) labels for \(n) samples; one label per sample is needed")
            }
            if let bad = labelArray.firstIndex(where: { $0 < -1 || $0 > Limits.maxLabel }) {
                throw DatasetError(field: labelsField, "label \(labelArray[bad]) at index \(bad) is outside −1…\(Limits.maxLabel) (−1: unlabelled)")
            }
        }
        // A labels file that marks every sample −1 carries no label: scores of nothing would read as results.
        var dataset = Dataset(layout: layout, count: n, values: values, labels: labelArray?.contains { $0 >= 0 } == false ? nil : labelArray)
        dataset.pixelScale = usedScale
        return dataset
    }

    /// The sample and value limits for an array of `shape` (N first), before any of it is read.
    public static func checkSize(_ shape: [Int], field: String = "data") throws(DatasetError) {
        guard let n = shape.first, n > 0 else { return }
        guard n <= Limits.maxSamples else { throw DatasetError(field: field, "\(n) samples is over the limit of \(Limits.maxSamples)") }
        let perSample = shape.dropFirst().reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        guard perSample <= Limits.maxValues / n else {
            throw DatasetError(field: field, "shape \(shape) holds more than \(Limits.maxValues) values, the most a dataset may have")
        }
    }

    /// Labels from an array file: one integer per sample (N or N×1), −1 for a sample without a label.
    public static func labels(_ array: NumericArray, field: String = "labels") throws(DatasetError) -> [Int] {
        guard array.shape.count == 1 || (array.shape.count == 2 && array.shape[1] == 1) else {
            throw DatasetError(field: field, "labels must be a vector of N integers (got shape \(array.shape))")
        }
        let values = array.doubles()
        if let bad = values.firstIndex(where: { $0 != $0.rounded() || !$0.isFinite }) {
            throw DatasetError(field: field, "label at index \(bad) is \(values[bad]), not an integer")
        }
        if let bad = values.firstIndex(where: { $0 < -1 || $0 > Double(Limits.maxLabel) }) {
            throw DatasetError(field: field, "label \(values[bad]) at index \(bad) is outside −1…\(Limits.maxLabel) (−1: unlabelled)")
        }
        return values.map { Int($0) }
    }

    /// Label → count, for descriptions.
    public var labelCounts: [Int: Int]? {
        labels.map { Dictionary($0.map { ($0, 1) }, uniquingKeysWith: +) }
    }

    /// Each sample flattened (images as C·H·W values), for k-means and MLP backbones.
    public var flattened: (values: [Float], dimension: Int) { (values, layout.sampleSize) }
}
