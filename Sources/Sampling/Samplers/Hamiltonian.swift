import Foundation

/// Static-path Hamiltonian Monte Carlo with a diagonal metric. Warm-up adapts the step size by dual
/// averaging towards 0.8 acceptance and, once, the metric to the draws' variances (then the step size
/// adaptation restarts). Path lengths are jittered uniformly so no fixed length resonates with the target.
struct Hamiltonian {
    let model: Model
    let settings: MCMCSettings
    let evaluator: ModelEvaluator
    private var position: [Double]
    private var momentum: [Double]
    private var gradient: [Double]
    /// ∇ log p at `state.z`, kept between iterations: after an accept it is the trajectory's last
    /// gradient, after a reject it is unchanged, so each iteration evaluates it only along the path.
    private var currentGradient: [Double]?
    static let targetAcceptance = 0.8
    static let maxSteps = 1024

    init(model: Model, settings: MCMCSettings, evaluator: ModelEvaluator) {
        self.model = model
        self.settings = settings
        self.evaluator = evaluator
        position = [Double](repeating: 0, count: model.dimension)
        momentum = position
        gradient = position
    }

    private mutating func logDensityAndGradient() -> Double {
        position.withUnsafeBufferPointer { z in
            gradient.withUnsafeMutableBufferPointer { evaluator.logDensityAndGradient(z, into: $0) }
        }
    }

    mutating func step(_ state: inout ChainState) {
        let d = model.dimension
        let inverseMetric = state.adaptation.shape
        let warm = state.iteration < settings.warmup
        let epsilon = warm ? state.adaptation.stepSize : exp(state.adaptation.averagedLogStep)
        // Integration time about 2 in the metric's units, jittered to ±100 %.
        // A step size that collapsed to 0 (or NaN after an overflow) must not trap: it gets the longest
        // path (or one step), and the path is capped so its last momentum update is always a half step.
        let nominal = Int(saturating: (2 / epsilon).rounded(), in: 1...Self.maxSteps, nan: 1)
        let steps = min(Self.maxSteps, 1 + Int(state.rng.next() % UInt64(2 * nominal)))

        let normal = Ziggurat.normal
        var kinetic = 0.0
        for i in 0..<d {
            momentum[i] = normal.normal(&state.rng) / inverseMetric[i].squareRoot()
            kinetic += 0.5 * momentum[i] * momentum[i] * inverseMetric[i]
        }
        position = state.z
        if currentGradient == nil {
            _ = logDensityAndGradient()
            currentGradient = gradient
        }
        var logp = state.logDensity
        let startEnergy = -state.logDensity + kinetic
        var diverged = !logp.isFinite
        if !diverged {
            let start = currentGradient!
            for i in 0..<d { momentum[i] += 0.5 * epsilon * start[i] }
            for step in 0..<steps {
                for i in 0..<d { position[i] += epsilon * inverseMetric[i] * momentum[i] }
                logp = logDensityAndGradient()
                if !logp.isFinite {
                    diverged = true
                    break
                }
                let scale = step == steps - 1 ? 0.5 : 1.0
                for i in 0..<d { momentum[i] += scale * epsilon * gradient[i] }
            }
        }
        var acceptance = 0.0
        var accepted = false
        if !diverged {
            kinetic = 0
            for i in 0..<d { kinetic += 0.5 * momentum[i] * momentum[i] * inverseMetric[i] }
            let energyChange = startEnergy - (-logp + kinetic)
            acceptance = energyChange.isNaN ? 0 : min(1, exp(energyChange))
            if log(state.rng.uniformOpen()) < energyChange {
                state.z = position
                state.logDensity = logp
                currentGradient = gradient
                accepted = true
            }
        }
        state.iteration += 1
        if state.iteration <= settings.warmup {
            adapt(&state, acceptance: acceptance)
        } else {
            state.proposalsAfterWarmup += 1
            if accepted { state.acceptedAfterWarmup += 1 }
        }
        MarkovChainSampler.keep(&state, settings: settings, evaluator: evaluator)
    }

    private func adapt(_ state: inout ChainState, acceptance: Double) {
        var a = state.adaptation
        // Dual averaging (γ = 0.05, t0 = 10, κ = 0.75).
        a.dualIteration += 1
        let m = a.dualIteration
        let eta = 1 / (m + 10)
        a.errorSum = (1 - eta) * a.errorSum + eta * (Self.targetAcceptance - acceptance)
        let logStep = a.mu - m.squareRoot() / 0.05 * a.errorSum
        let weight = pow(m, -0.75)
        a.averagedLogStep = weight * logStep + (1 - weight) * a.averagedLogStep
        a.stepSize = exp(logStep)

        // One metric update from the middle of warm-up (15 %…75 %), then step size adaptation restarts.
        let start = settings.warmup * 15 / 100
        let end = settings.warmup * 75 / 100
        if state.iteration > start && state.iteration <= end {
            welford(&a, state.z, full: false)
        }
        if state.iteration == end && a.count > 10 {
            let n = a.count
            // Regularized towards 1e-3 like Stan's windowed adaptation.
            a.shape = a.comoment.map { ($0 / (n - 1)) * n / (n + 5) + 1e-3 * 5 / (n + 5) }
            a.mu = log(10 * a.stepSize)
            a.errorSum = 0
            a.dualIteration = 0
            a.averagedLogStep = 0
        }
        state.adaptation = a
    }
}
