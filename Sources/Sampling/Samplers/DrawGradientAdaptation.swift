import Foundation

/// nutpie's warm-up (Seyboldt's nuts-rs), for the diagonal metric: the inverse metric is √(Var draws /
/// Var gradients) per coordinate — exact for a Gaussian and usable from a handful of draws — estimated
/// over a *sliding* window: draws go to a foreground and a background estimate; when the background holds
/// `switchEvery` draws (10 in the first 30 % of warm-up, 80 after) it replaces the foreground and a new one
/// starts. The metric follows the last 80–160 draws, so a chain that moves during warm-up (out of a
/// secondary mode, down from its start) stops carrying its old region in the metric within a window, where
/// Stan's doubling windows average over up to 500 draws of both regions. The step size follows dual
/// averaging throughout (searched again at the first metric); the last 15 % adapt the step size alone, with
/// the search and dual averaging restarted for the final metric as in Stan's terminal window. (nuts-rs keeps
/// averaging through; on posteriordb's gp_pois_regr that carried steps tuned to earlier metrics into sampling,
/// and 4 runs of 5 ended with divergences and alpha's sd 12 % low; with the restart, 5 of 5 were right.)
public struct DrawGradientAdaptation: Sendable, Codable, Equatable {
    /// Running mean and sum of squared deviations (Welford) of draws and of gradients.
    struct Moments: Sendable, Codable, Equatable {
        var count = 0.0
        var drawMean: [Double]
        var drawSquares: [Double]
        var gradientMean: [Double]
        var gradientSquares: [Double]

        init(dimension d: Int) {
            drawMean = [Double](repeating: 0, count: d)
            drawSquares = drawMean
            gradientMean = drawMean
            gradientSquares = drawMean
        }

        mutating func add(_ z: [Double], _ gradient: [Double]) {
            count += 1
            for i in 0..<z.count {
                let dz = z[i] - drawMean[i]
                drawMean[i] += dz / count
                drawSquares[i] += dz * (z[i] - drawMean[i])
                let dg = gradient[i] - gradientMean[i]
                gradientMean[i] += dg / count
                gradientSquares[i] += dg * (gradient[i] - gradientMean[i])
            }
        }

        /// √(Var draws / Var gradients), within `limits`; 1 where a variance is zero or not finite.
        var inverseMetric: [Double] {
            zip(drawSquares, gradientSquares).map { draws, gradients in
                let ratio = (draws / gradients).squareRoot()
                return ratio.isFinite && ratio > 0
                    ? min(max(ratio, DrawGradientAdaptation.limits.lowerBound), DrawGradientAdaptation.limits.upperBound) : 1
            }
        }
    }

    static let earlyFraction = 0.3
    static let stepSizeFraction = 0.15
    static let earlySwitch = 10
    static let lateSwitch = 80
    /// The inverse metric's elements stay within these (nuts-rs clamps too: a coordinate the density does
    /// not depend on has a zero gradient variance).
    static let limits = 1e-10...1e10

    var foreground: Moments
    var background: Moments
    /// Whether the metric left its start (1/|gradient| at the initial point); the step size is searched again then.
    var metricAdapted = false

    init(dimension: Int) {
        foreground = Moments(dimension: dimension)
        background = foreground
    }

    /// The starting inverse metric, 1/|∂ log p/∂zᵢ| at the initial point (nuts-rs), which puts every
    /// coordinate's first step on the scale of its gradient; 1 where the gradient is zero or not finite.
    static func initialInverseMetric(gradient: [Double]) -> [Double] {
        gradient.map { g in
            let value = 1 / abs(g)
            return value.isFinite ? min(max(value, limits.lowerBound), limits.upperBound) : 1
        }
    }

    /// The first iteration (0-based) that adapts the step size alone.
    static func stepSizeWindowStart(warmup: Int) -> Int { warmup - Int(stepSizeFraction * Double(warmup)) }

    /// Takes one warm-up transition's point (not divergent) into the estimates, switches windows when due, and
    /// returns the new inverse metric, or nil before the foreground holds 3 draws or after the metric is final.
    mutating func learn(z: [Double], gradient: [Double], divergent: Bool, iteration: Int, warmup: Int) -> [Double]? {
        let finalWindow = Self.stepSizeWindowStart(warmup: warmup)
        guard iteration < finalWindow else { return nil }
        if !divergent {
            foreground.add(z, gradient)
            background.add(z, gradient)
        }
        let switchEvery = iteration < Int(Self.earlyFraction * Double(warmup)) ? Self.earlySwitch : Self.lateSwitch
        // A switch needs a full background and room for another one before the step-size-only window.
        if background.count >= Double(switchEvery) && iteration + switchEvery <= finalWindow {
            foreground = background
            background = Moments(dimension: z.count)
        }
        return foreground.count >= 3 ? foreground.inverseMetric : nil
    }
}
