import Foundation

/// One random-walk Metropolis transition at a time. During warm-up the proposal covariance follows
/// the empirical covariance of the chain (scaled by 2.38²/d, Haario et al.; Roberts & Rosenthal) and a
/// global scale is tuned by Robbins–Monro towards 23.4 % acceptance; after warm-up both are frozen,
/// so the kept draws come from a proper Markov chain.
struct RandomWalk {
    let model: Model
    let settings: MCMCSettings
    let evaluator: ModelEvaluator
    private var proposal: [Double]
    private var noise: [Double]

    init(model: Model, settings: MCMCSettings, evaluator: ModelEvaluator) {
        self.model = model
        self.settings = settings
        self.evaluator = evaluator
        self.proposal = [Double](repeating: 0, count: model.dimension)
        self.noise = [Double](repeating: 0, count: model.dimension)
    }

    mutating func step(_ state: inout ChainState) {
        let d = model.dimension
        let scale = exp(state.adaptation.logScale)
        let normal = Ziggurat.normal
        for i in 0..<d { noise[i] = normal.normal(&state.rng) }
        state.adaptation.shape.withUnsafeBufferPointer { l in
            for i in 0..<d {
                var offset = 0.0
                for j in 0...i { offset += l[i * d + j] * noise[j] }
                proposal[i] = state.z[i] + scale * offset
            }
        }
        let proposed = proposal.withUnsafeBufferPointer { evaluator.logDensity($0) }
        let logRatio = proposed - state.logDensity
        let acceptance = logRatio >= 0 ? 1 : (logRatio.isNaN ? 0 : exp(logRatio))
        let accepted = logRatio >= 0 || log(state.rng.uniformOpen()) < logRatio
        if accepted {
            state.z = proposal
            state.logDensity = proposed
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
        let d = model.dimension
        let t = Double(state.iteration)
        state.adaptation.logScale += pow(t, -0.6) * (acceptance - 0.234)
        // The first fifth of warm-up is spent getting to the typical set; only later draws shape the proposal.
        guard state.iteration > settings.warmup / 5 else { return }
        welford(&state.adaptation, state.z, full: true)
        let n = state.adaptation.count
        guard n > Double(2 * d + 10), state.iteration % 50 == 0 else { return }
        var covariance = state.adaptation.comoment.map { $0 / (n - 1) }
        for i in 0..<d { covariance[i * d + i] += 1e-10 + 1e-6 * covariance[i * d + i] }
        guard let factor = Cholesky.factor(covariance, dimension: d) else { return }
        state.adaptation.shape = factor
        if state.adaptation.shapeUpdates == 0 {
            // The first empirical shape starts again from the optimal scale for a Gaussian target.
            state.adaptation.logScale = log(2.38 / Double(d).squareRoot())
        }
        state.adaptation.shapeUpdates += 1
    }
}
