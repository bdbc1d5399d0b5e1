import Foundation
import Sampling

// Prints one JSON object per line: draws per second of the catalog samplers and the numeric
// inverse (single thread, median of runs), and minimum bulk ESS per CPU-second of the MCMC samplers.

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}

func emit(_ object: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

let arguments = CommandLine.arguments
let count = arguments.count > 1 ? Int(arguments[1]) ?? 10_000_000 : 10_000_000
let runs = arguments.count > 2 ? Int(arguments[2]) ?? 5 : 5

func drawsPerSecond(_ name: String, _ fill: (UnsafeMutableBufferPointer<Double>, inout RandomStream) -> Void) {
    var buffer = [Double](repeating: 0, count: count)
    var rates: [Double] = []
    var checksum = 0.0
    for run in 0..<runs {
        var rng = RandomStream(seed: UInt64(run))
        let start = DispatchTime.now().uptimeNanoseconds
        buffer.withUnsafeMutableBufferPointer { fill($0, &rng) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        rates.append(Double(count) / seconds)
        checksum += buffer[count / 2]
    }
    let median = rates.sorted()[rates.count / 2]
    emit(["bench": "draws", "name": name, "draws_per_second": median, "count": count, "checksum": checksum])
}

let normal = try! Normal()
let exponential = try! Exponential()
let gamma = try! Gamma(shape: 2.5)
let beta = try! Beta(a: 2, b: 5)
drawsPerSecond("normal") { normal.fill($0, &$1) }
drawsPerSecond("exponential") { exponential.fill($0, &$1) }
drawsPerSecond("gamma(2.5)") { gamma.fill($0, &$1) }
drawsPerSecond("beta(2,5)") { beta.fill($0, &$1) }
let setup = DispatchTime.now().uptimeNanoseconds
let inversion = try! NumericInversion(logDensity: "log(x) + 4 * log1p(-x)", lower: 0, upper: 1)
let setupSeconds = Double(DispatchTime.now().uptimeNanoseconds - setup) / 1e9
emit(["bench": "inversion_setup", "seconds": setupSeconds, "approximation_error": inversion.approximationError])
drawsPerSecond("generic inverse cdf") { inversion.fill($0, &$1) }

// MCMC: minimum bulk ESS over coordinates per CPU-second, 4 chains, same seeds.
struct Target {
    var name: String
    var source: String
    var parameters: [ParameterSpec]
    var data: [String: ExpressionSymbols.Value]
}
let eightY: [Double] = [28, 8, -3, 7, -1, 1, 18, 12]
let eightSigma: [Double] = [15, 10, 16, 11, 9, 11, 10, 18]
let targets = [
    Target(
        name: "gaussian_10d", source: "sum(normal_lpdf(x, 0, s))", parameters: [ParameterSpec(name: "x", size: 10)],
        data: ["s": .vector((1...10).map(Double.init))]),
    Target(
        name: "eight_schools",
        source: """
            normal_lpdf(mu, 0, 5) + cauchy_lpdf(tau, 0, 5) + sum(normal_lpdf(theta, 0, 1)) + sum(normal_lpdf(y, mu + tau * theta, sigma))
            """, parameters: [ParameterSpec(name: "mu"), ParameterSpec(name: "tau", lower: 0), ParameterSpec(name: "theta", size: 8)],
        data: ["y": .vector(eightY), "sigma": .vector(eightSigma)]),
    Target(
        name: "gaussian_rho_0.99", source: "-0.5 * (x^2 - 2 * 0.99 * x * y + y^2) / (1 - 0.99^2)",
        parameters: [ParameterSpec(name: "x"), ParameterSpec(name: "y")], data: [:]),
]
for target in targets {
    let model = try! Model(logDensity: target.source, parameters: target.parameters, data: target.data)
    for method in MCMCSettings.Method.allCases {
        let draws = method == .randomWalk ? 20_000 : 2_000
        let sampler = MarkovChainSampler(model: model, settings: MCMCSettings(method: method, chains: 4, warmup: draws / 2, draws: draws, seed: 7))
        let start = cpuSeconds()
        var states = try! sampler.initialStates()
        sampler.advance(&states, to: sampler.settings.totalIterations)
        let cpu = cpuSeconds() - start
        let d = model.dimension
        let essValues = (0..<d).map { coordinate in
            Diagnostics.essBulk(states.map { state in stride(from: coordinate, to: state.draws.count, by: d).map { state.draws[$0] } })
        }
        let rhat =
            (0..<d).map { coordinate in
                Diagnostics.rHat(states.map { state in stride(from: coordinate, to: state.draws.count, by: d).map { state.draws[$0] } })
            }.max() ?? .nan
        let ess = essValues.min() ?? 0
        emit([
            "bench": "mcmc", "target": target.name, "method": method.rawValue, "min_ess_bulk": ess, "cpu_seconds": cpu,
            "ess_per_cpu_second": ess / cpu, "max_r_hat": rhat,
        ])
    }
}
