import Foundation

/// Learning-rate schedules as functions of the step, and an exponential moving average of weights.
public enum LearningRateSchedule: Sendable {
    case constant
    /// Cosine decay from the base rate to `minimum` over `total` steps.
    case cosine(total: Int, minimum: Float)
    /// Multiply by `factor` every `every` steps.
    case step(every: Int, factor: Float)

    /// The rate at `step`, with a linear warm-up over the first `warmup` steps.
    public func rate(base: Float, step: Int, warmup: Int = 0) -> Float {
        if warmup > 0 && step < warmup { return base * Float(step + 1) / Float(warmup) }
        switch self {
        case .constant:
            return base
        case .cosine(let total, let minimum):
            let progress = min(1, Float(step - warmup) / Float(max(1, total - warmup)))
            return minimum + (base - minimum) * 0.5 * (1 + cos(Float.pi * progress))
        case .step(let every, let factor):
            return base * pow(factor, Float((step - warmup) / max(1, every)))
        }
    }
}

/// θ_ema ← decay·θ_ema + (1 − decay)·θ, for evaluation with smoothed weights (SCAN's self-labeling).
public final class ExponentialMovingAverage {
    public let decay: Float
    public private(set) var shadow: [[Float]]

    public init(_ parameters: [Variable], decay: Float) {
        self.decay = decay
        self.shadow = parameters.map(\.value.storage)
    }

    /// Continues from saved averages (a checkpoint).
    public func restore(_ shadow: [[Float]]) { self.shadow = shadow }

    /// - Parameter step: the optimizer steps taken so far; when given, the decay is min(decay, (1 + step)/(10 + step))
    ///   (TensorFlow's `num_updates`), so a short run's average is not dominated by the initial weights.
    public func update(_ parameters: [Variable], step: Int? = nil) {
        let decay = step.map { min(self.decay, Float(1 + $0) / Float(10 + $0)) } ?? self.decay
        for (index, parameter) in parameters.enumerated() {
            for i in 0..<parameter.value.count {
                shadow[index][i] = decay * shadow[index][i] + (1 - decay) * parameter.value.storage[i]
            }
        }
    }
}
