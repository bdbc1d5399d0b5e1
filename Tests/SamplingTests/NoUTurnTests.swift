import Foundation
import XCTest
@testable import Sampling

/// NUTS as Stan runs it: the warm-up windows, divergences on a funnel, exact resume. (Its accuracy on
/// Gaussians and its honesty on separated modes are checked with every method in MarkovChainTests.)
final class NoUTurnTests: XCTestCase {
    /// Stan's layout for 1,000 warm-up iterations: 75 fast, slow windows of 25, 50, 100, 200 and 500
    /// (the last stretched to the terminal buffer), 50 fast: the metric is updated after iterations
    /// 99, 149, 249, 449 and 949 (0-based).
    func testWarmupWindowsAreStans() throws {
        let model = try Model(logDensity: "normal_lpdf(x, 0, 1)", parameters: [ParameterSpec(name: "x")])
        let sampler = NoUTurn(model: model, settings: MCMCSettings(method: .noUTurn, warmup: 1000), evaluator: model.makeEvaluator())
        var windows = NoUTurn.windows(warmup: 1000)
        var adaptation = ChainState.Adaptation()
        adaptation.mean = [0]
        adaptation.comoment = [0]
        adaptation.shape = [1]
        var updates: [Int] = []
        for counter in 0..<1000 where sampler.learnMetric(&adaptation, &windows, z: [Double(counter % 7)], counter: counter) {
            updates.append(counter)
        }
        XCTAssertEqual(updates, [99, 149, 249, 449, 949])
        // A short warm-up: 15 % / 75 % / 10 %, one window.
        let short = NoUTurn.windows(warmup: 100)
        XCTAssertEqual([short.initialBuffer, short.windowSize, short.terminalBuffer, short.nextWindowEnd], [15, 75, 10, 89])
        XCTAssertEqual(NoUTurn.windows(warmup: 10).windowSize, 0, "under 20 warm-up iterations only the step size adapts")
    }

    /// A Gaussian stretched along a rotated axis (correlation 0.995, scales 1 and 20): the dense metric
    /// learns the rotation, recovers the moments within 5 MCSE and needs far shorter trajectories than the
    /// diagonal one.
    func testDenseMetricLearnsACorrelatedScale() throws {
        let model = try Model(
            logDensity: "-0.5 * ((x / 1)^2 - 2 * 0.995 * (x / 1) * (y / 20) + (y / 20)^2) / (1 - 0.995^2)",
            parameters: [ParameterSpec(name: "x"), ParameterSpec(name: "y")])
        func run(dense: Bool) throws -> [ChainState] {
            var settings = MCMCSettings(method: .noUTurn, chains: 4, warmup: 1000, draws: 1000, seed: 11)
            settings.denseMetric = dense
            let sampler = MarkovChainSampler(model: model, settings: settings)
            var states = try sampler.initialStates()
            sampler.advance(&states, to: settings.totalIterations)
            return states
        }
        let dense = try run(dense: true)
        for (coordinate, sd) in [(0, 1.0), (1, 20.0)] {
            let chains = dense.map { state in stride(from: coordinate, to: state.draws.count, by: 2).map { state.draws[$0] } }
            let summary = Diagnostics.summary(chains)
            XCTAssertEqual(summary.mean, 0, accuracy: 5 * summary.mcseMean)
            XCTAssertEqual(summary.sd, sd, accuracy: 5 * summary.mcseSD)
        }
        XCTAssertEqual(dense.first?.adaptation.shape.count, 4, "a 2 × 2 inverse metric")
        let diagonal = try run(dense: false)
        let steps = { (states: [ChainState]) in states.reduce(0) { $0 + ($1.nuts?.leapfrogs ?? 0) } }
        XCTAssertLessThan(steps(dense) * 2, steps(diagonal), "dense: \(steps(dense)) leapfrogs, diagonal: \(steps(diagonal))")
    }

    /// The step size is adapted towards the requested mean acceptance statistic (Stan's adapt_delta): a
    /// higher target gives smaller steps and higher acceptance. (Dual averaging's averaged step size lands
    /// above the target on Gaussians, as in Stan, so the check is a floor and the ordering.)
    func testStepSizeFollowsTheTargetAcceptance() throws {
        let model = try Model(
            logDensity: "sum(normal_lpdf(x, 0, s))", parameters: [ParameterSpec(name: "x", size: 10)],
            data: ["s": .vector((1...10).map(Double.init))])
        func checkTargets(_ adaptation: MCMCSettings.Adaptation) throws {
            var acceptance: [Double] = []
            var stepSize: [Double] = []
            for target in [0.8, 0.95] {
                var settings = MCMCSettings(method: .noUTurn, chains: 4, warmup: 1000, draws: 1000, seed: 13)
                settings.targetAcceptance = target
                settings.adaptation = adaptation
                let sampler = MarkovChainSampler(model: model, settings: settings)
                var states = try sampler.initialStates()
                sampler.advance(&states, to: settings.totalIterations)
                acceptance.append(states.map(\.acceptanceRate).reduce(0, +) / Double(states.count))
                stepSize.append(states.map { exp($0.adaptation.averagedLogStep) }.reduce(0, +) / Double(states.count))
                XCTAssertGreaterThanOrEqual(acceptance.last!, target - 0.05, "\(adaptation): target \(target)")
            }
            XCTAssertGreaterThan(acceptance[1], acceptance[0], "\(adaptation)")
            XCTAssertLessThan(stepSize[1], stepSize[0], "\(adaptation)")
        }
        for adaptation in MCMCSettings.Adaptation.allCases { try checkTargets(adaptation) }
    }

    /// The centered eight-schools funnel: Stan reports divergences there; so must we, never a silent answer.
    func testTheFunnelReportsDivergences() throws {
        let model = try Model(
            logDensity: "normal_lpdf(mu, 0, 5) + cauchy_lpdf(tau, 0, 5) + sum(normal_lpdf(theta, mu, tau)) + sum(normal_lpdf(y, theta, sigma))",
            parameters: [ParameterSpec(name: "mu"), ParameterSpec(name: "tau", lower: 0), ParameterSpec(name: "theta", size: 8)],
            data: ["y": .vector([28, 8, -3, 7, -1, 1, 18, 12]), "sigma": .vector([15, 10, 16, 11, 9, 11, 10, 18])])
        let sampler = MarkovChainSampler(model: model, settings: MCMCSettings(method: .noUTurn, chains: 4, warmup: 1000, draws: 1000, seed: 3))
        var states = try sampler.initialStates()
        sampler.advance(&states, to: sampler.settings.totalIterations)
        let divergences = states.reduce(0) { $0 + ($1.nuts?.divergences ?? 0) }
        XCTAssertGreaterThan(divergences, 0, "the funnel's neck makes divergent trajectories")
        XCTAssertEqual(
            states.reduce(0) { $0 + ($1.nuts?.divergentPositions.count ?? 0) }, divergences * model.dimension, "each one's position is kept")
        XCTAssertTrue(states.allSatisfy { $0.nuts?.eBFMI.isFinite == true })
    }

    /// A chain checkpointed mid-warm-up (through JSON, as jobs store it) ends with exactly the draws of
    /// one that never stopped.
    func testResumeIsExact() throws {
        let model = try Model(
            logDensity: "-0.5 * (x^2 - 2 * 0.9 * x * y + y^2) / (1 - 0.9^2)", parameters: [ParameterSpec(name: "x"), ParameterSpec(name: "y")])
        for adaptation in MCMCSettings.Adaptation.allCases {
            var settings = MCMCSettings(method: .noUTurn, chains: 2, warmup: 300, draws: 300, seed: 5)
            settings.adaptation = adaptation
            let sampler = MarkovChainSampler(model: model, settings: settings)
            var straight = try sampler.initialStates()
            sampler.advance(&straight, to: 600)
            var resumed = try sampler.initialStates()
            sampler.advance(&resumed, to: 170)
            let saved = try JSONEncoder().encode(resumed)
            resumed = try JSONDecoder().decode([ChainState].self, from: saved)
            sampler.advance(&resumed, to: 600)
            XCTAssertEqual(resumed.map(\.draws), straight.map(\.draws), "\(adaptation)")
            XCTAssertEqual(resumed.map { $0.nuts?.energies ?? [] }, straight.map { $0.nuts?.energies ?? [] })
        }
    }

    /// nutpie's warm-up: on a Gaussian with independent coordinates the gradient is −x/σ², so
    /// √(Var draws / Var gradients) is σ² exactly, whatever the draws: the inverse metric must be the
    /// variances to rounding from its first estimate on. Then the usual checks: moments within 5 MCSE, the
    /// step-size-only window (the last 15 %) restarts dual averaging and leaves the metric unchanged, and a checkpoint mid-warm-up
    /// (through JSON) resumes to exactly the uninterrupted draws.
    func testNutpieWarmupLearnsTheVariancesFromGradients() throws {
        let scales = (1...6).map { Double($0 * $0) }
        let model = try Model(
            logDensity: "sum(normal_lpdf(x, 0, s))", parameters: [ParameterSpec(name: "x", size: scales.count)],
            data: ["s": .vector(scales)])
        var settings = MCMCSettings(method: .noUTurn, chains: 4, warmup: 400, draws: 1000, seed: 17)
        settings.adaptation = .nutpie
        let sampler = MarkovChainSampler(model: model, settings: settings)
        var states = try sampler.initialStates()
        sampler.advance(&states, to: 50)
        for state in states {
            XCTAssertEqual(state.nuts?.drawGradient?.metricAdapted, true)
            for (value, scale) in zip(state.adaptation.shape, scales) { XCTAssertEqual(value, scale * scale, accuracy: 1e-9 * scale * scale) }
        }
        sampler.advance(&states, to: DrawGradientAdaptation.stepSizeWindowStart(warmup: 400))
        let finalMetric = states.map(\.adaptation.shape)
        XCTAssertEqual(states.map(\.adaptation.dualIteration), [0, 0, 0, 0], "dual averaging restarts for the final metric")
        var resumed = try JSONDecoder().decode([ChainState].self, from: try JSONEncoder().encode(states))
        sampler.advance(&states, to: settings.totalIterations)
        XCTAssertEqual(states.map(\.adaptation.shape), finalMetric, "the last 15 % adapt the step size alone")
        for (coordinate, scale) in scales.enumerated() {
            let chains = states.map { state in stride(from: coordinate, to: state.draws.count, by: scales.count).map { state.draws[$0] } }
            let summary = Diagnostics.summary(chains)
            XCTAssertEqual(summary.mean, 0, accuracy: 5 * summary.mcseMean, "x[\(coordinate)]")
            XCTAssertEqual(summary.sd, scale, accuracy: 5 * summary.mcseSD, "x[\(coordinate)]")
        }
        sampler.advance(&resumed, to: settings.totalIterations)
        XCTAssertEqual(resumed.map(\.draws), states.map(\.draws))
    }

    /// nutpie's window schedule for 1,000 warm-up iterations: the background estimate replaces the
    /// foreground every 10 draws in the first 30 %, every 80 after, never when the next switch would not
    /// fit before the step-size-only window (from iteration 850); divergent transitions are left out.
    func testNutpieWindowsSwitchOnSchedule() {
        var adaptation = DrawGradientAdaptation(dimension: 1)
        adaptation.foreground.add([0], [0])
        adaptation.background.add([0], [0])
        var switches: [Int] = []
        for iteration in 0..<1000 {
            let before = adaptation.background.count
            let metric = adaptation.learn(
                z: [Double(iteration % 5)], gradient: [Double(iteration % 3)], divergent: false, iteration: iteration, warmup: 1000)
            if adaptation.background.count < before + 1 && iteration < 850 { switches.append(iteration) }
            XCTAssertEqual(metric == nil, iteration >= 850 || iteration < 1, "iteration \(iteration)")
        }
        let early = Array(stride(from: 8, to: 300, by: 10))
        // After 298 the background restarts at 0 and holds 80 at iteration 378, then every 80 while 80 more fit before 850.
        let late = Array(stride(from: 378, through: 698, by: 80))
        XCTAssertEqual(switches, early + late)
        var fresh = DrawGradientAdaptation(dimension: 1)
        _ = fresh.learn(z: [1], gradient: [1], divergent: true, iteration: 0, warmup: 1000)
        XCTAssertEqual([fresh.foreground.count, fresh.background.count], [0, 0], "a divergent transition's point is not taken")
    }

    /// A tree of depth 1 worked by hand: from (z₀, p₀) on a standard normal, one leapfrog step of ε in the
    /// direction the stream picks; the acceptance statistic is min(1, e^(H₀ − H₁)) and, biased progressive
    /// sampling, the new point is taken outright when it weighs more than the start, else with probability
    /// e^(H₀ − H₁). The stream is replayed to know p₀, the direction and the uniform; over 200 starts the
    /// transition must agree exactly.
    func testDepthOneTreeMatchesTheHandComputation() throws {
        let model = try Model(logDensity: "-0.5 * x^2", parameters: [ParameterSpec(name: "x")])
        let nuts = NoUTurn(model: model, settings: MCMCSettings(method: .noUTurn), evaluator: model.makeEvaluator())
        let metric = Metric([1], dimension: 1)
        var moves = 0
        for trial in 0..<200 {
            let z0 = Double(trial % 9) * 0.4 - 1.6
            let epsilon = 0.3 + Double(trial % 5) * 0.35
            var state = ChainState(
                z: [z0], logDensity: -0.5 * z0 * z0, rng: RandomStream(seed: 9, stream: trial), iteration: 0, acceptedAfterWarmup: 0,
                proposalsAfterWarmup: 0, draws: [], adaptation: ChainState.Adaptation())
            var replay = state.rng
            let p0 = metric.sample(&replay)[0]
            let step = replay.uniform() > 0.5 ? epsilon : -epsilon
            let pHalf = p0 + 0.5 * step * -z0
            let z1 = z0 + step * pHalf
            let p1 = pHalf + 0.5 * step * -z1
            let (h0, h1) = (0.5 * z0 * z0 + 0.5 * p0 * p0, 0.5 * z1 * z1 + 0.5 * p1 * p1)
            let expectedMove = h1 < h0 || replay.uniform() < exp(h0 - h1)
            let result = nuts.transition(&state, epsilon: epsilon, inverseMetric: metric, maxTreeDepth: 1)
            XCTAssertEqual(result.leapfrogs, 1)
            XCTAssertEqual(result.acceptance, min(1, exp(h0 - h1)), accuracy: 1e-12, "trial \(trial)")
            XCTAssertEqual(state.z[0], expectedMove ? z1 : z0, accuracy: 1e-12, "trial \(trial)")
            if expectedMove { moves += 1 }
        }
        XCTAssertTrue(moves > 20 && moves < 200, "both outcomes occur (\(moves) moves)")
    }
}
