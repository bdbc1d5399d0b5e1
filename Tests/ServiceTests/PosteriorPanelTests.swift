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

    /// `data_from`: a design matrix uploaded as a dataset (CSV) feeds a model program's `matrix[N, 2] X`;
    /// with σ known and β ~ N(0, 10²I) the posterior is Gaussian with a closed form, which the draws must
    /// match within 4 MCSE (mean and sd). A dataset that does not exist is a 422 naming the field.
    func testDataFromAnUploadedDataset() async throws {
        let n = 40
        // Quarter steps are exact in float32, the dataset's storage.
        let x = (0..<n).map { Double($0 % 13) * 0.25 - 1.5 }
        let y = (0..<n).map { i in 0.7 + 1.9 * x[i] + 0.5 * sin(Double(i) * 1.7) }
        let csv = (0..<n).map { "1,\(x[$0])" }.joined(separator: "\n") + "\n"
        try await withServer(workers: 2) { client in
            let uploaded = try await client.upload([("data", "design.csv", Data(csv.utf8))])
            XCTAssertEqual(uploaded.status, .created, uploaded.text)
            let id = try XCTUnwrap(try uploaded.json["id"]?.stringValue)
            let model = """
                data { int N; matrix[N, 2] X; vector[N] y; }
                parameters { vector[2] beta; }
                model { beta ~ normal(0, 10); y ~ normal(X * beta, 0.5); }
                """
            let params: JSONValue = [
                "model": .string(model), "data": ["N": .integer(Int64(n)), "y": .array(y.map(JSONValue.number))],
                "data_from": ["X": .string(id)], "seed": 3,
            ]
            let response = try await client.post("/v1/jobs", json: (["kind": "sample.mcmc", "params": params] as JSONValue).canonicalText())
            XCTAssertEqual(response.status, .created, response.text)
            let job = try await client.waitUntilTerminal(try XCTUnwrap(try response.json["id"]?.stringValue), timeout: 300)
            XCTAssertEqual(job["status"], "succeeded", "\(job["reason"] ?? "")")
            // Posterior precision XᵀX/σ² + I/100, mean = precision⁻¹ Xᵀy/σ².
            var (a, b, c, u, v) = (0.01, 0.0, 0.01, 0.0, 0.0)
            for i in 0..<n {
                a += 4
                b += 4 * x[i]
                c += 4 * x[i] * x[i]
                u += 4 * y[i]
                v += 4 * x[i] * y[i]
            }
            let determinant = a * c - b * b
            let exactMean = [(c * u - b * v) / determinant, (a * v - b * u) / determinant]
            let exactSD = [(c / determinant).squareRoot(), (a / determinant).squareRoot()]
            for k in 0..<2 {
                let summary = try XCTUnwrap(job["result"]?["parameters"]?["beta[\(k + 1)]"])
                let mean = summary["mean"]?.doubleValue ?? .nan, sd = summary["sd"]?.doubleValue ?? .nan
                XCTAssertEqual(mean, exactMean[k], accuracy: 4 * (summary["mcse_mean"]?.doubleValue ?? 0), "beta[\(k + 1)] mean")
                XCTAssertEqual(sd, exactSD[k], accuracy: 4 * (summary["mcse_sd"]?.doubleValue ?? 0), "beta[\(k + 1)] sd")
            }
            let missing = try await client.post(
                "/v1/jobs",
                json: ([
                    "kind": "sample.mcmc",
                    "params": ["model": .string(model), "data": ["N": 2, "y": [1, 2]], "data_from": ["X": "no-such-dataset"]],
                ]
                    as JSONValue).canonicalText())
            XCTAssertEqual(missing.status, .unprocessableContent, missing.text)
            XCTAssertEqual(try missing.json["field"], "params.data_from.X")
        }
    }
}
