import Foundation

/// Settings shared by the MCMC samplers.
public struct MCMCSettings: Sendable, Codable, Equatable {
    /// `rwm`: random-walk Metropolis with covariance adapted during warm-up (Haario et al. 2001) and its
    /// scale tuned towards a 0.234 acceptance rate. `hmc`: Hamiltonian Monte Carlo with a diagonal metric
    /// and step size adapted in warm-up (dual averaging towards 0.8 acceptance) and jittered path lengths.
    /// `nuts`: the No-U-Turn sampler with Stan's multinomial trajectories and windowed warm-up.
    public enum Method: String, Sendable, Codable, CaseIterable {
        case randomWalk = "rwm", hamiltonian = "hmc", noUTurn = "nuts"
    }

    public var method: Method
    public var chains: Int
    public var warmup: Int
    public var draws: Int
    public var thin: Int
    public var seed: UInt64
    /// Starting point on the constrained scale for every chain; nil draws one uniformly in (−2, 2)
    /// on the unconstrained scale per chain, as Stan does.
    public var initial: [Double]?
    /// NUTS: the deepest trajectory (2^depth leapfrog steps); reaching it is reported.
    public var maxTreeDepth = 10
    /// NUTS: adapt a dense inverse metric (the warm-up draws' covariance) instead of a diagonal one, for
    /// posteriors whose coordinates are strongly correlated or scaled along rotated axes.
    public var denseMetric = false
    /// NUTS: the mean acceptance statistic the step size is adapted to (Stan's `adapt_delta`); raising it
    /// towards 0.95–0.99 shortens the steps, the first remedy for divergences.
    public var targetAcceptance = NoUTurn.defaultTargetAcceptance
    /// NUTS warm-up: nutpie's (`DrawGradientAdaptation`, diagonal metric only; the default) or Stan's windowed
    /// adaptation (always with the dense metric). On posteriordb's panel nutpie's gave 1.4× Stan's ESS/s at the
    /// median and kept a chain that leaves a secondary mode during warm-up from carrying it in its metric.
    public enum Adaptation: String, Sendable, Codable, CaseIterable {
        case stan, nutpie
    }
    public var adaptation = Adaptation.nutpie

    public init(
        method: Method = .randomWalk, chains: Int = 4, warmup: Int = 1000, draws: Int = 1000, thin: Int = 1,
        seed: UInt64 = 0, initial: [Double]? = nil
    ) {
        self.method = method
        self.chains = chains
        self.warmup = warmup
        self.draws = draws
        self.thin = thin
        self.seed = seed
        self.initial = initial
    }

    public var totalIterations: Int { warmup + draws * thin }
}

/// Everything a chain needs to continue exactly where it stopped: the state a checkpoint saves.
public struct ChainState: Sendable, Codable, Equatable {
    public var z: [Double]
    public var logDensity: Double
    public var rng: RandomStream
    public var iteration: Int
    public var acceptedAfterWarmup: Int
    public var proposalsAfterWarmup: Int
    /// Kept draws, constrained, flattened draw-major (draw × dimension).
    public var draws: [Double]
    public var adaptation: Adaptation
    /// NUTS only: its warm-up windows and diagnostics (nil in checkpoints of the other methods).
    public var nuts: NUTSState? = nil

    /// The mean acceptance statistic after warm-up: accepted over proposed for Metropolis and HMC, the
    /// mean of the trajectories' acceptance statistics for NUTS.
    public var acceptanceRate: Double {
        guard proposalsAfterWarmup > 0 else { return .nan }
        if let nuts { return nuts.acceptanceSum / Double(proposalsAfterWarmup) }
        return Double(acceptedAfterWarmup) / Double(proposalsAfterWarmup)
    }

    public struct Adaptation: Sendable, Codable, Equatable {
        // Welford estimates of the warm-up draws (mean, and covariance for RWM or variances for HMC).
        public var count: Double = 0
        public var mean: [Double] = []
        public var comoment: [Double] = []
        /// RWM: Cholesky factor of the proposal covariance (row-major); HMC: inverse metric (diagonal).
        public var shape: [Double] = []
        public var logScale: Double = 0
        public var shapeUpdates: Int = 0
        // HMC dual averaging (Hoffman & Gelman 2014).
        public var stepSize: Double = 0.1
        public var averagedLogStep: Double = 0
        public var errorSum: Double = 0
        public var dualIteration: Double = 0
        public var mu: Double = 0
    }
}

/// Runs chains of a model's log density with the chosen method.
public struct MarkovChainSampler: Sendable {
    public let model: Model
    public let settings: MCMCSettings

    public init(model: Model, settings: MCMCSettings) {
        self.model = model
        self.settings = settings
    }

    /// Initial states, one per chain, each on its own random stream.
    public func initialStates() throws -> [ChainState] {
        let d = model.dimension
        return try (0..<settings.chains).map { chain in
            var rng = RandomStream(seed: settings.seed, stream: chain)
            let evaluator = model.makeEvaluator()
            var z: [Double]
            if let initial = settings.initial {
                guard initial.count == d, let unconstrained = model.unconstrain(initial) else {
                    throw SamplerError("initial", "must have \(d) values inside the parameters' bounds")
                }
                z = unconstrained
                guard evaluator.logDensity(z).isFinite else {
                    throw SamplerError("initial", "the log density is not finite at the initial point")
                }
            } else {
                var attempts = 0
                repeat {
                    z = (0..<d).map { _ in rng.uniform() * 4 - 2 }
                    attempts += 1
                } while !evaluator.logDensity(z).isFinite && attempts < 100
                guard evaluator.logDensity(z).isFinite else {
                    throw SamplerError("log_density", "no finite log density found at 100 random starting points; give an initial point")
                }
            }
            var adaptation = ChainState.Adaptation()
            adaptation.mean = [Double](repeating: 0, count: d)
            switch settings.method {
            case .randomWalk:
                adaptation.comoment = [Double](repeating: 0, count: d * d)
                adaptation.shape = identity(d)
                adaptation.logScale = log(2.38 / Double(d).squareRoot())
            case .hamiltonian:
                adaptation.comoment = [Double](repeating: 0, count: d)
                adaptation.shape = [Double](repeating: 1, count: d)
                adaptation.stepSize = 0.1
                adaptation.mu = log(10 * 0.1)
            case .noUTurn:
                // Stan's start: a unit metric and step size 1, refined by the step size search.
                adaptation.comoment = [Double](repeating: 0, count: settings.denseMetric ? d * d : d)
                adaptation.shape = settings.denseMetric ? identity(d) : [Double](repeating: 1, count: d)
                adaptation.stepSize = 1
                adaptation.mu = log(10)
            }
            return ChainState(
                z: z, logDensity: evaluator.logDensity(z), rng: rng, iteration: 0, acceptedAfterWarmup: 0,
                proposalsAfterWarmup: 0, draws: [], adaptation: adaptation)
        }
    }

    /// Advances every chain (in parallel) to `iteration`, or less if `shouldStop` says so.
    public func advance(_ states: inout [ChainState], to iteration: Int, shouldStop: @Sendable () -> Bool = { false }) {
        let target = min(iteration, settings.totalIterations)
        let box = StatesBox(states)
        DispatchQueue.concurrentPerform(iterations: states.count) { chain in
            var state = box.states[chain]
            let evaluator = model.makeEvaluator()
            run(&state, to: target, evaluator: evaluator, shouldStop: shouldStop)
            box.set(chain, state)
        }
        states = box.states
    }

    private func run(_ state: inout ChainState, to target: Int, evaluator: ModelEvaluator, shouldStop: () -> Bool) {
        switch settings.method {
        case .randomWalk:
            var walker = RandomWalk(model: model, settings: settings, evaluator: evaluator)
            while state.iteration < target {
                if state.iteration % 256 == 0 && shouldStop() { return }
                walker.step(&state)
            }
        case .hamiltonian:
            var hmc = Hamiltonian(model: model, settings: settings, evaluator: evaluator)
            while state.iteration < target {
                if state.iteration % 64 == 0 && shouldStop() { return }
                hmc.step(&state)
            }
        case .noUTurn:
            var nuts = NoUTurn(model: model, settings: settings, evaluator: evaluator)
            while state.iteration < target {
                // A tree is up to 1,024 gradients: stop requests are checked every 8 transitions.
                if state.iteration % 8 == 0 && shouldStop() { return }
                nuts.step(&state)
            }
        }
    }

    /// Records the current point if this post-warm-up iteration is kept.
    static func keep(_ state: inout ChainState, settings: MCMCSettings, evaluator: ModelEvaluator) {
        // `iteration` counts transitions made, so the first kept one is warmup + 1.
        let afterWarmup = state.iteration - settings.warmup - 1
        if afterWarmup >= 0 && afterWarmup % settings.thin == 0 {
            state.draws.append(contentsOf: evaluator.draw(state.z))
        }
    }

    func identity(_ d: Int) -> [Double] {
        var matrix = [Double](repeating: 0, count: d * d)
        for i in 0..<d { matrix[i * d + i] = 1 }
        return matrix
    }
}

/// Sampler input that cannot work; `field` names the parameter.
public struct SamplerError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var reason: String

    public init(_ field: String, _ reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}

/// Lets concurrentPerform's chains write their own slot of the shared array.
private final class StatesBox: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [ChainState]
    init(_ states: [ChainState]) { storage = states }
    var states: [ChainState] { lock.withLock { storage } }
    func set(_ index: Int, _ state: ChainState) { lock.withLock { storage[index] = state } }
}

/// Welford update of mean and a full (RWM) or diagonal (HMC) comoment.
func welford(_ adaptation: inout ChainState.Adaptation, _ z: [Double], full: Bool) {
    let d = z.count
    adaptation.count += 1
    let n = adaptation.count
    var delta = [Double](repeating: 0, count: d)
    for i in 0..<d {
        delta[i] = z[i] - adaptation.mean[i]
        adaptation.mean[i] += delta[i] / n
    }
    if full {
        for i in 0..<d {
            for j in 0...i {
                let value = delta[i] * (z[j] - adaptation.mean[j])
                adaptation.comoment[i * d + j] += value
                if i != j { adaptation.comoment[j * d + i] += value }
            }
        }
    } else {
        for i in 0..<d { adaptation.comoment[i] += delta[i] * (z[i] - adaptation.mean[i]) }
    }
}
