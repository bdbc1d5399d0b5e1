import Foundation
import HTTPTypes
import HummingbirdTesting
import Jobs
import XCTest
@testable import Service

/// The sampler kinds through HTTP: bad input is a 422 naming the field, good input runs.
final class SamplerKindTests: XCTestCase {

    func testInvalidSamplerInputIsRejectedWithTheField() async throws {
        try await withServer { client in
            let cases: [(String, String, String, String)] = [
                ("sample.inverse_cdf", #"{"distribution": {"name": "normul"}}"#, "invalid_value", "params.distribution.name"),
                (
                    "sample.inverse_cdf", #"{"distribution": {"name": "normal", "params": {"sigma": -1}}}"#, "invalid_value",
                    "params.distribution.params.sigma"
                ),
                (
                    "sample.inverse_cdf", #"{"distribution": {"name": "normal", "params": {"sd": 1}}}"#, "invalid_value",
                    "params.distribution.params.sd"
                ),
                ("sample.inverse_cdf", #"{"distribution": {"name": "gamma"}}"#, "invalid_value", "params.distribution.params.shape"),
                (
                    "sample.inverse_cdf", #"{"distribution": {"name": "normal"}, "log_density": "x", "lower": 0, "upper": 1}"#, "invalid_value",
                    "params"
                ),
                ("sample.inverse_cdf", #"{"distribution": {"name": "normal"}, "draws": 100000000}"#, "out_of_range", "params.draws"),
                ("sample.inverse_cdf", #"{"log_density": "-x^2"}"#, "missing_parameter", "params.lower"),
                ("sample.inverse_cdf", #"{"table": {"x": [0, 0, 1], "pdf": [1, 1, 1]}}"#, "invalid_value", "params.table.x"),
                (
                    "sample.rejection", #"{"log_density": "normal_lpdf(x, 0, 1)", "proposal": {"name": "exponential"}}"#, "invalid_value",
                    "params.proposal"
                ),
                (
                    "sample.rejection", #"{"log_density": "normal_lpdf(x, 0, ", "proposal": {"name": "normal"}}"#, "invalid_value",
                    "params.log_density"
                ),
                ("sample.rejection", #"{"log_density": "y * 2", "proposal": {"name": "normal"}}"#, "invalid_value", "params.log_density"),
                ("sample.rejection", #"{"log_density": "-x"}"#, "missing_parameter", "params.proposal"),
                (
                    "sample.mcmc", #"{"log_density": "-0.5 * x^2", "parameters": [{"name": "x"}], "method": "slice"}"#, "invalid_value",
                    "params.method"
                ),
                (
                    "sample.mcmc", #"{"log_density": "-0.5 * x^2", "parameters": [{"name": "x"}], "metric": "dense", "method": "hmc"}"#,
                    "invalid_value",
                    "params.metric"
                ),
                (
                    "sample.mcmc", #"{"log_density": "-0.5 * x^2", "parameters": [{"name": "x"}], "adaptation": "stan", "method": "hmc"}"#,
                    "invalid_value", "params.adaptation"
                ),
                (
                    "sample.mcmc", #"{"log_density": "-0.5 * x^2", "parameters": [{"name": "x"}], "adaptation": "pymc"}"#, "invalid_value",
                    "params.adaptation"
                ),
                (
                    "sample.mcmc", #"{"log_density": "-0.5 * x^2", "parameters": [{"name": "x", "lower": 1, "upper": 0}]}"#, "invalid_value",
                    "params.parameters[0].upper"
                ),
                ("sample.mcmc", #"{"log_density": "-0.5 * x^2", "parameters": [{"name": "2x"}]}"#, "invalid_value", "params.parameters[0].name"),
                (
                    "sample.mcmc", #"{"log_density": "-0.5 * sum(x^2)", "parameters": [{"name": "x", "size": 1000}], "draws": 100000, "chains": 4}"#,
                    "out_of_range", "params.draws"
                ),
                (
                    "sample.mcmc", #"{"log_density": "-0.5 * x^2", "parameters": [{"name": "x", "lower": 0}], "initial": [-1]}"#, "invalid_value",
                    "params.initial"
                ),
                ("sample.mcmc", #"{"log_density": "-0.5 * x^2", "parameters": [], "chains": 4}"#, "out_of_range", "params.parameters"),
                ("sample.gibbs", #"{"model": "normal_inverse_gamma"}"#, "missing_parameter", "params.y"),
                ("sample.gibbs", #"{"model": "bivariate_normal", "mean": [0, 0], "sd": [1, 1], "rho": 1}"#, "invalid_value", "params.rho"),
                ("sample.gibbs", #"{"model": "multivariate_normal", "mean": [0, 0], "cov": [[1, 2], [2, 1]]}"#, "invalid_value", "params.cov"),
                (
                    "sample.gibbs", #"{"model": "gaussian_mixture", "y": [1, 2, 3], "priors": {"kappa0": 1}}"#, "unknown_parameter",
                    "params.priors.kappa0"
                ),
                (
                    "sample.importance",
                    #"{"log_density": "-x^2", "parameters": [{"name": "x"}], "proposal": {"name": "normal"}, "functions": {"f": "x +"}}"#,
                    "invalid_value", "params.functions.f"
                ),
                (
                    "sample.importance",
                    #"{"log_density": "-x^2", "parameters": [{"name": "x"}, {"name": "y"}], "proposal": {"name": "multivariate_normal", "params": {"mean": [0], "cov": [1]}}}"#,
                    "invalid_value", "params.proposal.params.mean"
                ),
            ]
            for (kind, params, code, field) in cases {
                let response = try await submitKind(client, kind, params)
                try assertProblem(response, .unprocessableContent, code: code, field: field)
            }
            let count = try await client.jobCount()
            XCTAssertEqual(count, 0)
        }
    }

    func testCompileErrorsCarryThePosition() async throws {
        try await withServer { client in
            let response = try await submitKind(
                client, "sample.mcmc", #"{"log_density": "normal_lpdf(x, 0, 1) +\n  foo(x)", "parameters": [{"name": "x"}]}"#)
            let body = try response.json
            XCTAssertEqual(body["field"], "params.log_density")
            XCTAssertTrue(body["detail"]?.stringValue?.hasPrefix("line 2, column 3: unknown function \"foo\"") == true, "\(body)")
        }
    }

    func testInverseCDFOfACategoricalAndAUserDensity() async throws {
        try await withServer { client in
            let categorical = try await submitKind(
                client, "sample.inverse_cdf", #"{"distribution": {"name": "categorical", "params": {"p": [0.2, 0.8]}}, "draws": 50000}"#)
            let numeric = try await submitKind(
                client, "sample.inverse_cdf", #"{"log_density": "-0.5 * x^2", "lower": -1, "upper": 1, "draws": 1000}"#)
            let first = try await client.waitUntilTerminal(try XCTUnwrap(try categorical.json["id"]?.stringValue))
            let second = try await client.waitUntilTerminal(try XCTUnwrap(try numeric.json["id"]?.stringValue))
            // Mean of 50,000 Bernoulli(0.8) draws: within 5 standard errors (0.0018 each).
            XCTAssertEqual(first["result"]?["summary"]?["mean"]?.doubleValue ?? 0, 0.8, accuracy: 5 * (0.16 / 50_000.0).squareRoot())
            XCTAssertEqual(second["result"]?["method"], "numeric")
            XCTAssertLessThanOrEqual(second["result"]?["approximation_error"]?.doubleValue ?? 1, 1e-10)
        }
    }

    /// NUTS on the centered eight-schools funnel: the job reports its divergences, where they happened,
    /// and does not claim convergence.
    /// With either warm-up: a funnel must end with its divergences reported, never a silent answer.
    func testNUTSReportsDivergencesOnTheFunnel() async throws {
        try await withServer { client in
            for adaptation in ["stan", "nutpie"] {
                let params = #"""
                    {"method": "nuts", "seed": 3, "chains": 4, "warmup": 1000, "draws": 1000, "adaptation": "\#(adaptation)",
                     "log_density": "normal_lpdf(mu, 0, 5) + cauchy_lpdf(tau, 0, 5) + sum(normal_lpdf(theta, mu, tau)) + sum(normal_lpdf(y, theta, sigma))",
                     "parameters": [{"name": "mu"}, {"name": "tau", "lower": 0}, {"name": "theta", "size": 8}],
                     "data": {"y": [28, 8, -3, 7, -1, 1, 18, 12], "sigma": [15, 10, 16, 11, 9, 11, 10, 18]}}
                    """#
                let response = try await submitKind(client, "sample.mcmc", params)
                XCTAssertEqual(response.status, .created, response.text)
                let id = try XCTUnwrap(try response.json["id"]?.stringValue)
                let job = try await client.waitUntilTerminal(id, timeout: 120)
                XCTAssertEqual(job["status"], "succeeded", "\(job)")
                let result = try XCTUnwrap(job["result"])
                XCTAssertEqual(result["adaptation"]?.stringValue, adaptation)
                let divergences = (result["divergences"]?.arrayValue ?? []).compactMap(\.integerValue).reduce(0, +)
                XCTAssertGreaterThan(divergences, 0, adaptation)
                XCTAssertEqual(result["converged"], false, adaptation)
                XCTAssertTrue((result["warnings"]?.arrayValue ?? []).contains { $0.stringValue?.contains("divergent") == true })
                XCTAssertEqual(result["e_bfmi"]?.arrayValue?.count, 4)
                let csv = try await client.get("/v1/jobs/\(id)/artifacts/divergences.csv").text
                XCTAssertEqual(csv.split(separator: "\n").count, Int(divergences) + 1, "a row per divergence")
            }
        }
    }

    func testGibbsMixtureReturnsAssignments() async throws {
        try await withServer { client in
            let response = try await submitKind(
                client, "sample.gibbs",
                #"{"model": "gaussian_mixture", "y": [-5, -5.2, -4.8, -5.1, 5, 5.1, 4.9, 5.2], "components": 2, "warmup": 200, "draws": 300}"#)
            let id = try XCTUnwrap(try response.json["id"]?.stringValue)
            let job = try await client.waitUntilTerminal(id, timeout: 60)
            XCTAssertEqual(job["status"], "succeeded", "\(job)")
            XCTAssertEqual(job["result"]?["assignments"], [0, 0, 0, 0, 1, 1, 1, 1])
            let artifacts = try await client.get("/v1/jobs/\(id)/artifacts").json["artifacts"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
            XCTAssertEqual(Set(artifacts ?? []), ["assignments.csv", "draws.csv", "draws.json", "draws.ndjson", "draws.npy", "probabilities.npy"])
        }
    }
}

func submitKind(_ client: any TestClientProtocol, _ kind: String, _ params: String) async throws -> TestResponse {
    try await client.post("/v1/jobs", json: #"{"kind": "\#(kind)", "params": \#(params)}"#)
}
