import Foundation
import Jobs
import XCTest

@testable import Service

/// Posteriors of the posteriordb panel through the HTTP API, each program exactly its `model.stan`:
/// a hierarchical model (eight schools), a regression on transformed data (mesquite), a latent Gaussian
/// process (Cholesky of a parameter-dependent covariance) and a hidden Markov model (simplexes,
/// positive_ordered, the forward algorithm). Every reference parameter's mean and sd must lie within 4
/// combined MCSE of posteriordb's reference (the fixtures hold its summary), or the job must say it did not
/// converge — never a silent miss; and the easy posteriors must simply be right. The full 1,000 + 1,000 runs
/// of all 13 and the comparison with Stan are bench/posteriordb; here 4 chains of 300 + 300 (a debug build).
final class PosteriorPanelTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("SamplingTests/Fixtures/posteriordb")

    func testPanelPosteriorsMatchTheirReferences() async throws {
        let names = [
            "eight_schools-eight_schools_noncentered", "mesquite-logmesquite_logvolume", "gp_pois_regr-gp_pois_regr", "hmm_example-hmm_example",
        ]
        let mustMatch: Set = ["eight_schools-eight_schools_noncentered", "mesquite-logmesquite_logvolume"]
        try await withServer(workers: 2) { client in
            var jobs: [(String, String)] = []
            for name in names {
                let folder = Self.fixtures.appendingPathComponent(name)
                var source = try String(contentsOf: folder.appendingPathComponent("model.stan"), encoding: .utf8)
                if let cut = source.range(of: "generated quantities") { source = String(source[..<cut.lowerBound]) }
                let data = try JSONValue.parse(Data(contentsOf: folder.appendingPathComponent("data.json")))
                let params: JSONValue = ["model": .string(source), "data": data, "chains": 4, "warmup": 300, "draws": 300, "seed": 7]
                let response = try await client.post("/v1/jobs", json: (["kind": "sample.mcmc", "params": params] as JSONValue).canonicalText())
                XCTAssertEqual(response.status, .created, "\(name): \(response.text)")
                jobs.append((name, try XCTUnwrap(try response.json["id"]?.stringValue)))
            }
            for (name, id) in jobs {
                let job = try await client.waitUntilTerminal(id, timeout: 600)
                XCTAssertEqual(job["status"], "succeeded", "\(name): \(job["reason"] ?? "")")
                let result = try XCTUnwrap(job["result"])
                XCTAssertEqual(result["method"], "nuts")
                let reference = try JSONValue.parse(Data(contentsOf: Self.fixtures.appendingPathComponent("\(name)/reference.json")))
                var misses: [String] = []
                for (parameter, expected) in reference["summary"]?.objectValue ?? [:] {
                    guard let ours = result["parameters"]?[parameter] else {
                        misses.append("\(parameter) is not reported")
                        continue
                    }
                    func value(_ object: JSONValue?, _ key: String) -> Double { object?[key]?.doubleValue ?? .nan }
                    let meanTolerance = 4 * (pow(value(ours, "mcse_mean"), 2) + pow(value(expected, "mcse_mean"), 2)).squareRoot()
                    if !(abs(value(ours, "mean") - value(expected, "mean")) <= meanTolerance) {
                        misses.append("mean of \(parameter): \(value(ours, "mean")) vs \(value(expected, "mean")) ± \(meanTolerance)")
                    }
                    let sdTolerance = 4 * (pow(value(ours, "mcse_sd"), 2) + pow(value(expected, "mcse_sd"), 2)).squareRoot()
                    if !(abs(value(ours, "sd") - value(expected, "sd")) <= sdTolerance) {
                        misses.append("sd of \(parameter): \(value(ours, "sd")) vs \(value(expected, "sd")) ± \(sdTolerance)")
                    }
                }
                if mustMatch.contains(name) || result["converged"] != false {
                    XCTAssertEqual(misses, [], "\(name) (converged: \(result["converged"] ?? "-"))")
                }
            }
        }
    }
}
