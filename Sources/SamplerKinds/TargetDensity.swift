import Foundation
import Jobs
import Sampling

/// `target_density.json`: the density a one-dimensional sampler draws from, on a grid over the draws' range and
/// normalized there (the way a histogram of the draws is), so the marginals plot overlays the target on the draws.
/// Continuous: `{"kind": "continuous", "x": [...], "density": [...]}`; discrete: `{"kind": "discrete", "x": [k...],
/// "probability": [...]}` over the integers the draws cover (at most 1,000).
enum TargetDensity {
    static let gridPoints = 400
    static let maxIntegers = 1_000

    static func writeContinuous(
        variable: String, draws: [Double], lower: Double? = nil, upper: Double? = nil, context: JobContext, logDensity: (Double) -> Double
    ) throws {
        let finite = draws.filter(\.isFinite)
        guard var low = finite.min(), var high = finite.max() else { return }
        if let lower, lower.isFinite { low = max(low, lower) }
        if let upper, upper.isFinite { high = min(high, upper) }
        guard high > low else { return }
        let xs = (0..<gridPoints).map { low + (high - low) * Double($0) / Double(gridPoints - 1) }
        let logs = xs.map(logDensity)
        guard let peak = logs.filter(\.isFinite).max() else { return }
        // Scaled by the peak before exp() (a log density of −1e4 everywhere is still a shape), then normalized on the grid.
        let values = logs.map { $0.isFinite ? exp($0 - peak) : 0 }
        let step = (high - low) / Double(gridPoints - 1)
        let mass = zip(values.dropFirst(), values).reduce(0) { $0 + ($1.0 + $1.1) / 2 * step }
        guard mass > 0, mass.isFinite else { return }
        try write(
            [
                "kind": "continuous", "variable": .string(variable), "x": .array(xs.map(JSONValue.number)),
                "density": .array(values.map { .number($0 / mass) }),
            ], context: context)
    }

    static func writeDiscrete(variable: String, draws: [Double], context: JobContext, probability: (Int) -> Double) throws {
        let finite = draws.filter { $0.isFinite && abs($0) < 1e15 }
        guard let low = finite.min(), let high = finite.max(), high - low < Double(maxIntegers) else { return }
        let ks = Array(Int(low)...Int(high))
        try write(
            [
                "kind": "discrete", "variable": .string(variable), "x": .array(ks.map { .integer(Int64($0)) }),
                "probability": .array(ks.map { .number(probability($0)) }),
            ], context: context)
    }

    /// A tabulated pdf (x ascending, any scale), thinned to the grid's size and normalized by the trapezoid rule.
    static func writeTable(variable: String, x: [Double], pdf: [Double], context: JobContext) throws {
        guard x.count == pdf.count, x.count >= 2 else { return }
        let stride = max(1, x.count / gridPoints)
        let last = x.count - 1
        let keep = Array(Swift.stride(from: 0, to: x.count, by: stride)) + (last % stride == 0 ? [] : [last])
        let (xs, ps) = (keep.map { x[$0] }, keep.map { max(0, pdf[$0]) })
        var mass = 0.0
        for index in 1..<xs.count { mass += (ps[index] + ps[index - 1]) / 2 * (xs[index] - xs[index - 1]) }
        guard mass > 0, mass.isFinite else { return }
        try write(
            [
                "kind": "continuous", "variable": .string(variable), "x": .array(xs.map(JSONValue.number)),
                "density": .array(ps.map { .number($0 / mass) }),
            ], context: context)
    }

    /// The log density of a compiled one-variable expression.
    static func evaluate(_ program: Program) -> (Double) -> Double {
        let evaluator = Evaluator(program)
        return { evaluator.value([$0]) }
    }

    private static func write(_ value: JSONValue, context: JobContext) throws {
        try context.artifact("target_density.json", mediaType: "application/json", data: Data(value.canonicalText().utf8))
    }
}
