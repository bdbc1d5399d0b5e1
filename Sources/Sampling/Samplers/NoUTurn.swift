import Foundation

/// The No-U-Turn sampler as Stan runs it (Betancourt 2017): the trajectory doubles forwards or backwards
/// at random, a point is drawn from it multinomially (by exp(−H)) with a bias towards the newest
/// subtree, and it stops at the generalized no-U-turn criterion (checked across the merged trees and
/// between their halves), at `maxTreeDepth`, or at a divergence (energy error above 1000). Warm-up is
/// nutpie's (`DrawGradientAdaptation`) or Stan's: a fast window for the step size, doubling slow windows
/// that each end with a regularized estimate of the metric (and a restart of the step size search), and a
/// final fast window; either way the step size follows dual averaging towards
/// `MCMCSettings.targetAcceptance` (Stan's `adapt_delta`).
struct NoUTurn {
    let model: Model
    let settings: MCMCSettings
    let evaluator: ModelEvaluator
    /// Stan's default `adapt_delta`; `MCMCSettings.targetAcceptance` overrides it.
    static let defaultTargetAcceptance = 0.8
    static let maxEnergyError = 1000.0
    /// Divergent transitions kept per chain for the positions artifact.
    static let maxDivergentPositions = 1000

    /// A point of phase space: position, momentum, the gradient at the position and the log density.
    struct Point {
        var z: [Double]
        var p: [Double]
        var gradient: [Double]
        var logDensity: Double
    }

    /// What one transition's tree accumulates.
    private struct Tree {
        var leapfrogs = 0
        var sumAcceptance = 0.0
        var divergent = false
    }

    init(model: Model, settings: MCMCSettings, evaluator: ModelEvaluator) {
        self.model = model
        self.settings = settings
        self.evaluator = evaluator
    }

    private func evaluate(_ z: [Double], into gradient: inout [Double]) -> Double {
        z.withUnsafeBufferPointer { position in gradient.withUnsafeMutableBufferPointer { evaluator.logDensityAndGradient(position, into: $0) } }
    }

    private func kinetic(_ p: [Double], _ inverseMetric: Metric) -> Double { inverseMetric.kinetic(p) }

    private func hamiltonian(_ point: Point, _ inverseMetric: Metric) -> Double {
        let h = -point.logDensity + kinetic(point.p, inverseMetric)
        return h.isNaN ? .infinity : h
    }

    /// One leapfrog step of `epsilon` (negative to go backwards).
    private func leapfrog(_ point: inout Point, _ epsilon: Double, _ inverseMetric: Metric) {
        let d = point.z.count
        for i in 0..<d { point.p[i] += 0.5 * epsilon * point.gradient[i] }
        let velocity = inverseMetric.velocity(point.p)
        for i in 0..<d { point.z[i] += epsilon * velocity[i] }
        point.logDensity = evaluate(point.z, into: &point.gradient)
        guard point.logDensity.isFinite else { return }
        for i in 0..<d { point.p[i] += 0.5 * epsilon * point.gradient[i] }
    }

    private func sharp(_ p: [Double], _ inverseMetric: Metric) -> [Double] { inverseMetric.velocity(p) }

    private static func dot(_ a: [Double], _ b: [Double]) -> Double {
        var sum = 0.0
        for i in a.indices { sum += a[i] * b[i] }
        return sum
    }

    private static func plus(_ a: [Double], _ b: [Double]) -> [Double] { zip(a, b).map { $0 + $1 } }

    /// The generalized no-U-turn criterion: both ends still move along the summed momentum.
    private static func noUTurn(_ sharpMinus: [Double], _ sharpPlus: [Double], _ rho: [Double]) -> Bool {
        dot(sharpPlus, rho) > 0 && dot(sharpMinus, rho) > 0
    }

    private static func logSumExp(_ a: Double, _ b: Double) -> Double {
        if a == -.infinity { return b }
        if b == -.infinity { return a }
        let high = max(a, b)
        return high + log(exp(a - high) + exp(b - high))
    }

    /// A subtree's edges and sums: the velocity (p♯ = M⁻¹p) and momentum at its first and last points, the
    /// sum of its momenta, and the log of its total weight Σ exp(H₀ − H).
    private struct Span {
        var sharpBegin: [Double]
        var sharpEnd: [Double]
        var pBegin: [Double]
        var pEnd: [Double]
        var rho: [Double]
        var logSumWeight = -Double.infinity

        init(dimension d: Int) {
            sharpBegin = [Double](repeating: 0, count: d)
            (sharpEnd, pBegin, pEnd, rho) = (sharpBegin, sharpBegin, sharpBegin, sharpBegin)
        }
    }

    /// Builds a subtree of 2^depth leapfrog steps from `point` in direction `sign`, as Stan's `build_tree`:
    /// `span` gets its edges and adds its momenta and weight. Returns whether it is valid (no divergence,
    /// no U-turn inside); `point` ends at its far end and `propose` is the subtree's multinomial draw.
    private func buildTree(
        depth: Int, point: inout Point, propose: inout Point, span: inout Span, startEnergy: Double, sign: Double, epsilon: Double,
        inverseMetric: Metric, tree: inout Tree, rng: inout RandomStream
    ) -> Bool {
        if depth == 0 {
            leapfrog(&point, sign * epsilon, inverseMetric)
            tree.leapfrogs += 1
            // One M⁻¹p serves both the energy and the subtree's edge velocity (dense: O(d²) each).
            let (kinetic, velocity) = inverseMetric.kineticAndVelocity(point.p)
            let energy = -point.logDensity + kinetic
            let h = point.logDensity.isFinite && !energy.isNaN ? energy : .infinity
            if h - startEnergy > Self.maxEnergyError { tree.divergent = true }
            span.logSumWeight = Self.logSumExp(span.logSumWeight, startEnergy - h)
            tree.sumAcceptance += startEnergy - h > 0 ? 1 : exp(startEnergy - h)
            propose = point
            span.sharpBegin = velocity
            span.sharpEnd = velocity
            span.rho = Self.plus(span.rho, point.p)
            span.pBegin = point.p
            span.pEnd = point.p
            return !tree.divergent
        }
        let d = point.z.count
        // The two halves, one after the other from the same end: each a subtree of depth − 1.
        func half(_ propose: inout Point, _ span: inout Span) -> Bool {
            buildTree(
                depth: depth - 1, point: &point, propose: &propose, span: &span, startEnergy: startEnergy, sign: sign, epsilon: epsilon,
                inverseMetric: inverseMetric, tree: &tree, rng: &rng)
        }
        var initial = Span(dimension: d)
        guard half(&propose, &initial) else { return false }
        var proposeFinal = point
        var final = Span(dimension: d)
        guard half(&proposeFinal, &final) else { return false }
        // Multinomial choice between the two halves, by their weights.
        let logSumWeightSubtree = Self.logSumExp(initial.logSumWeight, final.logSumWeight)
        span.logSumWeight = Self.logSumExp(span.logSumWeight, logSumWeightSubtree)
        if final.logSumWeight > logSumWeightSubtree || rng.uniform() < exp(final.logSumWeight - logSumWeightSubtree) {
            propose = proposeFinal
        }
        let rhoSubtree = Self.plus(initial.rho, final.rho)
        span.rho = Self.plus(span.rho, rhoSubtree)
        (span.sharpBegin, span.pBegin, span.sharpEnd, span.pEnd) = (initial.sharpBegin, initial.pBegin, final.sharpEnd, final.pEnd)
        // The U-turn criterion over the merged subtree, and across the seam between its halves.
        return Self.noUTurn(initial.sharpBegin, final.sharpEnd, rhoSubtree)
            && Self.noUTurn(initial.sharpBegin, final.sharpBegin, Self.plus(initial.rho, final.pBegin))
            && Self.noUTurn(initial.sharpEnd, final.sharpEnd, Self.plus(final.rho, initial.pEnd))
    }

    /// One NUTS transition; returns the mean acceptance statistic, the tree depth, whether it diverged,
    /// and the energy of the chosen point.
    func transition(_ state: inout ChainState, epsilon: Double, inverseMetric: Metric, maxTreeDepth: Int)
        -> (acceptance: Double, depth: Int, divergent: Bool, energy: Double, leapfrogs: Int, gradient: [Double])
    {
        let d = model.dimension
        let normal = Ziggurat.normal
        var gradient = [Double](repeating: 0, count: d)
        let logDensity = evaluate(state.z, into: &gradient)
        let start = Point(
            z: state.z, p: inverseMetric.sample(&state.rng), gradient: gradient,
            logDensity: logDensity)
        let startEnergy = hamiltonian(start, inverseMetric)
        guard logDensity.isFinite, startEnergy.isFinite else { return (0, 0, true, startEnergy, 0, gradient) }
        var forward = start
        var backward = start
        var sample = start
        var rho = start.p
        var logSumWeight = 0.0
        var tree = Tree()
        let startSharp = sharp(start.p, inverseMetric)
        var sharpForwardBackward = startSharp, sharpForwardForward = startSharp
        var sharpBackwardForward = startSharp, sharpBackwardBackward = startSharp
        var pForwardBackward = start.p, pForwardForward = start.p
        var pBackwardForward = start.p, pBackwardBackward = start.p
        var depth = 0
        var rhoForward = [Double](repeating: 0, count: d)
        var rhoBackward = rhoForward
        while depth < maxTreeDepth {
            var span = Span(dimension: d)
            var propose = start
            let valid: Bool
            if state.rng.uniform() > 0.5 {
                rhoBackward = rho
                pBackwardForward = pForwardBackward
                sharpBackwardForward = sharpForwardBackward
                valid = buildTree(
                    depth: depth, point: &forward, propose: &propose, span: &span, startEnergy: startEnergy, sign: 1, epsilon: epsilon,
                    inverseMetric: inverseMetric, tree: &tree, rng: &state.rng)
                (sharpForwardBackward, sharpForwardForward, pForwardBackward, pForwardForward) = (
                    span.sharpBegin, span.sharpEnd, span.pBegin, span.pEnd
                )
                rhoForward = span.rho
            } else {
                rhoForward = rho
                pForwardBackward = pBackwardForward
                sharpForwardBackward = sharpBackwardForward
                valid = buildTree(
                    depth: depth, point: &backward, propose: &propose, span: &span, startEnergy: startEnergy, sign: -1, epsilon: epsilon,
                    inverseMetric: inverseMetric, tree: &tree, rng: &state.rng)
                (sharpBackwardForward, sharpBackwardBackward, pBackwardForward, pBackwardBackward) = (
                    span.sharpBegin, span.sharpEnd, span.pBegin, span.pEnd
                )
                rhoBackward = span.rho
            }
            let logSumWeightSubtree = span.logSumWeight
            if !valid { break }
            depth += 1
            // Biased progressive sampling: the new subtree wins outright when it outweighs the old tree.
            if logSumWeightSubtree > logSumWeight || state.rng.uniform() < exp(logSumWeightSubtree - logSumWeight) {
                sample = propose
            }
            logSumWeight = Self.logSumExp(logSumWeight, logSumWeightSubtree)
            rho = Self.plus(rhoBackward, rhoForward)
            var persists = Self.noUTurn(sharpBackwardBackward, sharpForwardForward, rho)
            persists = persists && Self.noUTurn(sharpBackwardBackward, sharpForwardBackward, Self.plus(rhoBackward, pForwardBackward))
            persists = persists && Self.noUTurn(sharpBackwardForward, sharpForwardForward, Self.plus(rhoForward, pBackwardForward))
            if !persists { break }
        }
        state.z = sample.z
        state.logDensity = sample.logDensity
        let acceptance = tree.leapfrogs > 0 ? tree.sumAcceptance / Double(tree.leapfrogs) : 0
        return (acceptance, depth, tree.divergent, hamiltonian(sample, inverseMetric), tree.leapfrogs, sample.gradient)
    }
}

/// What a NUTS chain keeps beyond the common state: Stan's warm-up windows and the diagnostics a user
/// must see (divergences and where they happened, tree depth hits, energies for E-BFMI).
public struct NUTSState: Sendable, Codable, Equatable {
    /// Stan's windowed adaptation: the current slow window's size and its last iteration (0-based).
    public var windowSize = 0
    public var nextWindowEnd = 0
    public var initialBuffer = 0
    public var terminalBuffer = 0
    /// Whether the first step size search ran.
    public var started = false
    public var maxTreeDepth = 10
    /// After warm-up: divergent transitions, transitions that hit `maxTreeDepth`, the sum of the
    /// acceptance statistics, leapfrog steps, and each transition's energy (for E-BFMI).
    public var divergences = 0
    public var treeDepthHits = 0
    public var acceptanceSum = 0.0
    public var leapfrogs = 0
    public var energies: [Double] = []
    /// Constrained positions of divergent transitions after warm-up (at most `maxDivergentPositions`).
    public var divergentPositions: [Double] = []
    /// Divergences during warm-up (they shape the step size; reported apart).
    public var warmupDivergences = 0
    /// nutpie's warm-up only: its sliding estimates (nil with Stan's, and in checkpoints written before it existed).
    public var drawGradient: DrawGradientAdaptation? = nil

    public init() {}

    /// Energy Bayesian fraction of missing information: below 0.3 the momentum resampling explores the
    /// energy distribution poorly (heavy tails, funnels). NaN with fewer than 3 energies.
    public var eBFMI: Double {
        guard energies.count > 2 else { return .nan }
        let mean = energies.reduce(0, +) / Double(energies.count)
        var numerator = 0.0
        var denominator = 0.0
        for (index, energy) in energies.enumerated() {
            if index > 0 { numerator += (energy - energies[index - 1]) * (energy - energies[index - 1]) }
            denominator += (energy - mean) * (energy - mean)
        }
        return denominator > 0 ? numerator / denominator : .nan
    }
}

extension NoUTurn {
    /// Stan's window layout: 75 iterations for the step size alone, slow windows from 25 doubling, 50 at
    /// the end; for short warm-ups 15 % / 75 % / 10 %. Fewer than 20 warm-up iterations adapt the step size only.
    static func windows(warmup: Int) -> NUTSState {
        var state = NUTSState()
        var initial = 75, terminal = 50, base = 25
        if warmup < 20 {
            state.windowSize = 0
            state.nextWindowEnd = -1
            return state
        }
        if initial + base + terminal > warmup {
            initial = warmup * 15 / 100
            terminal = warmup * 10 / 100
            base = warmup - initial - terminal
        }
        state.initialBuffer = initial
        state.terminalBuffer = terminal
        state.windowSize = base
        state.nextWindowEnd = initial + base - 1
        return state
    }

    /// A step size from which one leapfrog step's acceptance crosses 0.8 (Stan's `init_stepsize`):
    /// doubled or halved, at most 60 times, never to 0 or beyond 1e7.
    func initialStepSize(_ state: inout ChainState, from epsilon: Double, inverseMetric: Metric) -> Double {
        let d = model.dimension
        let normal = Ziggurat.normal
        var gradient = [Double](repeating: 0, count: d)
        let logDensity = evaluate(state.z, into: &gradient)
        guard logDensity.isFinite else { return epsilon }
        func energyChange(_ epsilon: Double) -> Double {
            var point = Point(
                z: state.z, p: inverseMetric.sample(&state.rng), gradient: gradient,
                logDensity: logDensity)
            let before = hamiltonian(point, inverseMetric)
            leapfrog(&point, epsilon, inverseMetric)
            let after = point.logDensity.isFinite ? hamiltonian(point, inverseMetric) : .infinity
            return before - after
        }
        var epsilon = epsilon
        let direction = energyChange(epsilon) > log(0.8) ? 1.0 : -1.0
        for _ in 0..<60 {
            let change = energyChange(epsilon)
            if direction > 0 && !(change > log(0.8)) { break }
            if direction < 0 && !(change < log(0.8)) { break }
            let next = direction > 0 ? 2 * epsilon : 0.5 * epsilon
            guard next > 1e-300, next < 1e7 else { break }
            epsilon = next
        }
        return epsilon
    }

    mutating func step(_ state: inout ChainState) {
        var nuts = state.nuts ?? Self.windows(warmup: settings.warmup)
        // Taken out, not shared: appending to `energies` while `state.nuts` still held the array copied all of it at
        // every transition (quadratic in the draws).
        state.nuts = nil
        var a = state.adaptation
        let slidingWindows = usesDrawGradientAdaptation
        if !nuts.started {
            nuts.started = true
            nuts.maxTreeDepth = settings.maxTreeDepth
            if slidingWindows {
                var gradient = [Double](repeating: 0, count: model.dimension)
                _ = evaluate(state.z, into: &gradient)
                var adaptation = DrawGradientAdaptation(dimension: model.dimension)
                adaptation.foreground.add(state.z, gradient)
                adaptation.background.add(state.z, gradient)
                nuts.drawGradient = adaptation
                a.shape = DrawGradientAdaptation.initialInverseMetric(gradient: gradient)
            }
            a.stepSize = initialStepSize(&state, from: a.stepSize, inverseMetric: Metric(a.shape, dimension: model.dimension))
            a.mu = log(10 * a.stepSize)
        }
        let counter = state.iteration
        let warm = counter < settings.warmup
        let epsilon = warm ? a.stepSize : exp(a.averagedLogStep)
        let result = transition(&state, epsilon: epsilon, inverseMetric: Metric(a.shape, dimension: model.dimension), maxTreeDepth: nuts.maxTreeDepth)
        state.iteration += 1
        if warm {
            if result.divergent { nuts.warmupDivergences += 1 }
            var restartStepSize = false
            if slidingWindows {
                var adaptation = nuts.drawGradient ?? DrawGradientAdaptation(dimension: model.dimension)
                nuts.drawGradient = nil  // uniquely held while it learns, so its arrays are updated in place
                if let metric = adaptation.learn(
                    z: state.z, gradient: result.gradient, divergent: result.divergent, iteration: counter, warmup: settings.warmup)
                {
                    a.shape = metric
                    // The first estimate replaces the gradient-scaled start: the step size is searched again for it.
                    restartStepSize = !adaptation.metricAdapted
                    adaptation.metricAdapted = true
                }
                nuts.drawGradient = adaptation
                if !restartStepSize { Self.learnStepSize(&a, acceptance: result.acceptance, target: settings.targetAcceptance) }
                // The metric is final from here: the step size is searched and dual-averaged again for it alone, as in
                // Stan's terminal window (continuing the average carried steps tuned to earlier metrics into sampling).
                if counter + 1 == DrawGradientAdaptation.stepSizeWindowStart(warmup: settings.warmup) { restartStepSize = true }
            } else {
                Self.learnStepSize(&a, acceptance: result.acceptance, target: settings.targetAcceptance)
                restartStepSize = learnMetric(&a, &nuts, z: state.z, counter: counter)
            }
            if restartStepSize {
                a.stepSize = initialStepSize(&state, from: a.stepSize, inverseMetric: Metric(a.shape, dimension: model.dimension))
                a.mu = log(10 * a.stepSize)
                a.errorSum = 0
                a.dualIteration = 0
                a.averagedLogStep = 0
            }
        } else {
            state.proposalsAfterWarmup += 1
            nuts.acceptanceSum += result.acceptance
            nuts.leapfrogs += result.leapfrogs
            nuts.energies.append(result.energy)
            if result.depth >= nuts.maxTreeDepth { nuts.treeDepthHits += 1 }
            if result.divergent {
                nuts.divergences += 1
                if nuts.divergentPositions.count < Self.maxDivergentPositions * model.coordinateNames.count {
                    nuts.divergentPositions.append(contentsOf: evaluator.draw(state.z))
                }
            }
        }
        state.adaptation = a
        state.nuts = nuts
        MarkovChainSampler.keep(&state, settings: settings, evaluator: evaluator)
    }

    /// nutpie's warm-up applies to the diagonal metric; a dense one is adapted with Stan's windows.
    var usesDrawGradientAdaptation: Bool { settings.adaptation == .nutpie && !settings.denseMetric }

    /// Dual averaging (Hoffman & Gelman 2014: γ = 0.05, t0 = 10, κ = 0.75) towards `targetAcceptance`.
    static func learnStepSize(_ a: inout ChainState.Adaptation, acceptance: Double, target: Double) {
        a.dualIteration += 1
        let m = a.dualIteration
        let eta = 1 / (m + 10)
        a.errorSum = (1 - eta) * a.errorSum + eta * (target - acceptance)
        let logStep = a.mu - m.squareRoot() / 0.05 * a.errorSum
        let weight = pow(m, -0.75)
        a.averagedLogStep = weight * logStep + (1 - weight) * a.averagedLogStep
        a.stepSize = exp(logStep)
    }

    /// Stan's `learn_variance`: inside a slow window, adds the draw to the estimate; at the window's end,
    /// sets the metric to the regularized variances, restarts the estimate and lays out the next window
    /// (double the size, stretched to the terminal buffer when the one after would not fit). True then.
    func learnMetric(_ a: inout ChainState.Adaptation, _ nuts: inout NUTSState, z: [Double], counter: Int) -> Bool {
        let warmup = settings.warmup
        guard nuts.windowSize > 0 else { return false }
        let inWindow = counter >= nuts.initialBuffer && counter < warmup - nuts.terminalBuffer && counter != warmup
        guard inWindow else { return false }
        welford(&a, z, full: settings.denseMetric)
        guard counter == nuts.nextWindowEnd else { return false }
        let n = a.count
        let d = z.count
        // Regularized towards 1e-3 (times the identity, for the dense metric), as Stan does.
        if n > 1 {
            a.shape = a.comoment.map { ($0 / (n - 1)) * n / (n + 5) }
            if settings.denseMetric {
                for i in 0..<d { a.shape[i * d + i] += 1e-3 * 5 / (n + 5) }
            } else {
                a.shape = a.shape.map { $0 + 1e-3 * 5 / (n + 5) }
            }
        }
        a.count = 0
        a.mean = [Double](repeating: 0, count: d)
        a.comoment = [Double](repeating: 0, count: settings.denseMetric ? d * d : d)
        let lastEnd = warmup - nuts.terminalBuffer - 1
        if nuts.nextWindowEnd != lastEnd {
            nuts.windowSize *= 2
            nuts.nextWindowEnd = counter + nuts.windowSize
            if nuts.nextWindowEnd != lastEnd && nuts.nextWindowEnd + 2 * nuts.windowSize >= warmup - nuts.terminalBuffer {
                nuts.nextWindowEnd = lastEnd
            }
        }
        return true
    }
}

/// The inverse metric M⁻¹ of a NUTS chain: diagonal (`d` values) or dense (`d × d`, row-major), with what
/// the sampler needs of it — momenta p ~ N(0, M), the velocity M⁻¹p and the kinetic energy ½ pᵀM⁻¹p.
struct Metric {
    let dimension: Int
    let inverse: [Double]
    /// Dense only: U upper triangular with M⁻¹ = UᵀU, so p = U⁻¹u (u standard normal) has covariance M.
    private let upper: [Double]?

    init(_ inverse: [Double], dimension: Int) {
        self.dimension = dimension
        let isSquare = dimension > 1 && inverse.count == dimension * dimension
        if isSquare, let lower = Cholesky.factor(inverse, dimension: dimension) {
            self.inverse = inverse
            var upper = [Double](repeating: 0, count: dimension * dimension)
            for i in 0..<dimension { for j in 0...i { upper[j * dimension + i] = lower[i * dimension + j] } }
            self.upper = upper
        } else if isSquare {
            // Not positive definite (regularization prevents it): fall back to its diagonal.
            self.inverse = (0..<dimension).map { max(inverse[$0 * dimension + $0], 1e-12) }
            self.upper = nil
        } else {
            self.inverse = inverse.count == dimension ? inverse : [Double](repeating: 1, count: dimension)
            self.upper = nil
        }
    }

    var isDense: Bool { upper != nil }

    func velocity(_ p: [Double]) -> [Double] {
        let d = dimension
        guard isDense else { return (0..<d).map { p[$0] * inverse[$0] } }
        var v = [Double](repeating: 0, count: d)
        for i in 0..<d {
            var sum = 0.0
            for j in 0..<d { sum += inverse[i * d + j] * p[j] }
            v[i] = sum
        }
        return v
    }

    func kinetic(_ p: [Double]) -> Double { kineticAndVelocity(p).kinetic }

    /// ½ pᵀM⁻¹p with M⁻¹p, computed once.
    func kineticAndVelocity(_ p: [Double]) -> (kinetic: Double, velocity: [Double]) {
        let v = velocity(p)
        var sum = 0.0
        for i in 0..<dimension { sum += p[i] * v[i] }
        return (0.5 * sum, v)
    }

    func sample(_ rng: inout RandomStream) -> [Double] {
        let d = dimension
        let normal = Ziggurat.normal
        guard let upper else { return (0..<d).map { _ in normal.normal(&rng) }.enumerated().map { $0.element / inverse[$0.offset].squareRoot() } }
        let u = (0..<d).map { _ in normal.normal(&rng) }
        var p = [Double](repeating: 0, count: d)
        for i in stride(from: d - 1, through: 0, by: -1) {
            var sum = u[i]
            for j in (i + 1)..<d { sum -= upper[i * d + j] * p[j] }
            p[i] = sum / upper[i * d + i]
        }
        return p
    }
}
