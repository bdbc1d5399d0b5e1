import Foundation
import RandomStreams

/// Labelled datasets generated from a seed, selectable by name in job parameters (`"generated:blobs"`),
/// for examples, tests and quick experiments without an upload.
public enum GeneratedDatasets {
    public static let names = ["blobs", "moons", "rings", "shapes"]

    public static let descriptions = [
        "blobs": "k isotropic Gaussian clusters in 2-D (σ = 0.6, centres drawn in [−10, 10]²)",
        "moons": "two interleaving half circles in 2-D with noise 0.08",
        "rings": "two concentric circles in 2-D (radii 1 and 0.5) with noise 0.05",
        "shapes": "8×8 grayscale images of four shapes (square, cross, ring, diagonal) at random offsets, with noise",
    ]

    /// `classes` applies to blobs (moons and rings have 2, shapes 4).
    public static func make(_ name: String, count: Int, classes: Int = 3, seed: UInt64 = 0) -> Dataset? {
        var rng = RandomStream(seed: seed)
        func normal() -> Float { Float(Ziggurat.normal.normal(&rng)) }
        switch name {
        case "blobs":
            let centres = (0..<(classes * 2)).map { _ in Float(rng.uniform() * 20 - 10) }
            var values: [Float] = [], labels: [Int] = []
            for i in 0..<count {
                let label = i % classes
                values += [centres[2 * label] + 0.6 * normal(), centres[2 * label + 1] + 0.6 * normal()]
                labels.append(label)
            }
            return Dataset(layout: .features(dimension: 2), count: count, values: values, labels: labels)
        case "moons":
            var values: [Float] = [], labels: [Int] = []
            for i in 0..<count {
                let label = i % 2
                let t = Float(rng.uniform()) * .pi
                let (x, y) = label == 0 ? (cos(t), sin(t)) : (1 - cos(t), 0.5 - sin(t))
                values += [x + 0.08 * normal(), y + 0.08 * normal()]
                labels.append(label)
            }
            return Dataset(layout: .features(dimension: 2), count: count, values: values, labels: labels)
        case "rings":
            var values: [Float] = [], labels: [Int] = []
            for i in 0..<count {
                let label = i % 2
                let t = Float(rng.uniform()) * 2 * .pi
                let radius: Float = label == 0 ? 1 : 0.5
                values += [radius * cos(t) + 0.05 * normal(), radius * sin(t) + 0.05 * normal()]
                labels.append(label)
            }
            return Dataset(layout: .features(dimension: 2), count: count, values: values, labels: labels)
        case "shapes":
            var values: [Float] = [], labels: [Int] = []
            for i in 0..<count {
                let label = i % 4
                var image = [Float](repeating: 0, count: 64)
                let (dy, dx) = (Int(rng.next() % 3) - 1, Int(rng.next() % 3) - 1)
                func set(_ y: Int, _ x: Int) {
                    let (yy, xx) = (y + dy, x + dx)
                    if (0..<8).contains(yy) && (0..<8).contains(xx) { image[yy * 8 + xx] = 1 }
                }
                for a in 2...5 {
                    switch label {
                    case 0: for b in 2...5 { set(a, b) }  // filled square
                    case 1: set(a, 3); set(a, 4); set(3, a); set(4, a)  // cross
                    case 2: set(1, a); set(6, a); set(a, 1); set(a, 6)  // ring
                    default: set(a, a); set(a - 1, a); set(a + 1, a)  // diagonal band
                    }
                }
                values += image.map { min(1, max(0, $0 + 0.1 * normal())) }
                labels.append(label)
            }
            var dataset = Dataset(layout: .images(channels: 1, height: 8, width: 8), count: count, values: values, labels: labels)
            // Values in [0, 1], as uint8 images divided by 255: so predict reads uploaded uint8 images that way.
            dataset.pixelScale = 255
            return dataset
        default:
            return nil
        }
    }
}
