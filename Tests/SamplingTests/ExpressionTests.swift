import Foundation
import XCTest
@testable import Sampling

final class ExpressionTests: XCTestCase {
    func compile(
        _ source: String, parameters: [(String, Int?)] = [("x", nil)],
        data: [String: ExpressionSymbols.Value] = [:]
    ) throws -> Evaluator {
        Evaluator(
            try ExpressionCompiler.compile(source, symbols: ExpressionSymbols(parameters: parameters.map { (name: $0.0, size: $0.1) }, data: data)))
    }

    func error(_ source: String, parameters: [(String, Int?)] = [("x", nil)], data: [String: ExpressionSymbols.Value] = [:]) -> ExpressionError? {
        do {
            _ = try compile(source, parameters: parameters, data: data)
            return nil
        } catch let error as ExpressionError {
            return error
        } catch {
            return nil
        }
    }

    func testArithmeticAndPrecedence() throws {
        let cases: [(String, Double, Double)] = [
            ("1 + 2 * 3", 0, 7), ("(1 + 2) * 3", 0, 9), ("-x^2", 3, -9), ("2^3^2", 0, 512), ("x / 2 / 2", 8, 2),
            ("x > 1 ? 10 : 20", 2, 10), ("x > 1 && x < 3", 2, 1), ("!(x > 1)", 2, 0), ("if(x <= 0, 1, 2)", 0, 1),
            ("exp(log(x))", 2.5, 2.5), ("log1p(x) - log(1 + x)", 0.5, 0), ("lgamma(x)", 5, log(24.0)),
            ("1e-3 * 1e3", 0, 1), ("pi", 0, Double.pi), ("abs(x) + sqrt(x*x)", -2, 4), ("# a comment\n x + 1", 1, 2),
            ("log_sum_exp(x, x)", 1, 1 + log(2.0)), ("min(x, 2) + max(x, 2)", 5, 7),
        ]
        for (source, x, expected) in cases {
            XCTAssertEqual(try compile(source).value([x]), expected, accuracy: 1e-12, source)
        }
    }

    func testVectorsDataAndReductions() throws {
        let evaluator = try compile(
            "sum(normal_lpdf(y, mu + beta * t, sigma))", parameters: [("mu", nil), ("beta", nil), ("sigma", nil)],
            data: ["y": .vector([1, 2, 3.5]), "t": .vector([0, 1, 2])])
        let theta = [0.5, 1.2, 0.8]
        let normal = { (x: Double, m: Double) in try! Normal(mu: m, sigma: 0.8).logDensity(x) }
        let expected = normal(1, 0.5) + normal(2, 1.7) + normal(3.5, 2.9)
        XCTAssertEqual(evaluator.value(theta), expected, accuracy: 1e-12)
        let indexed = try compile("v[0] + v[2] + length(v) + mean(v) + dot(v, v)", parameters: [("v", 3)])
        XCTAssertEqual(indexed.value([1, 2, 3]), 1 + 3 + 3 + 2 + 14, accuracy: 1e-12)
    }

    func testCatalogLogDensitiesMatchTheCatalog() throws {
        let checks: [(String, any ContinuousDistribution, Double)] = [
            ("gamma_lpdf(x, 2.5, 1.5)", try Gamma(shape: 2.5, rate: 1.5), 1.3),
            ("beta_lpdf(x, 2, 5)", try Beta(a: 2, b: 5), 0.3),
            ("student_t_lpdf(x, 4, -1, 0.5)", try StudentT(degrees: 4, mu: -1, sigma: 0.5), 0.2),
            ("cauchy_lpdf(x, 2, 3)", try Cauchy(location: 2, scale: 3), -1),
            ("laplace_lpdf(x, -1, 0.7)", try Laplace(location: -1, scale: 0.7), 0.4),
            ("logistic_lpdf(x, 0.5, 1.3)", try Logistic(location: 0.5, scale: 1.3), 2.1),
            ("lognormal_lpdf(x, 0.3, 0.8)", try LogNormal(mu: 0.3, sigma: 0.8), 1.7),
            ("exponential_lpdf(x, 2.5)", try Exponential(rate: 2.5), 0.3),
            ("inv_gamma_lpdf(x, 3, 2)", try InverseGamma(shape: 3, scale: 2), 0.9),
            ("weibull_lpdf(x, 1.7, 2)", try Weibull(shape: 1.7, scale: 2), 1.1),
            ("chi_square_lpdf(x, 3)", try ChiSquare(degrees: 3), 2.2),
            ("uniform_lpdf(x, -2, 3)", try Uniform(lower: -2, upper: 3), 0.7),
        ]
        for (source, distribution, x) in checks {
            XCTAssertEqual(try compile(source).value([x]), distribution.logDensity(x), accuracy: 1e-12, source)
        }
        XCTAssertEqual(try compile("poisson_lpmf(3, x)").value([2.5]), try Poisson(lambda: 2.5).logProbability(3), accuracy: 1e-12)
        XCTAssertEqual(try compile("binomial_lpmf(4, 20, x)").value([0.3]), try Binomial(n: 20, p: 0.3).logProbability(4), accuracy: 1e-12)
    }

    func testNaNAndOutsideSupportMeanZeroDensity() throws {
        XCTAssertEqual(try compile("log(x)").value([-1]), -.infinity)
        XCTAssertEqual(try compile("normal_lpdf(1, 0, x)").value([-1]), -.infinity)
        XCTAssertEqual(try compile("0 / x").value([0]), -.infinity)
        XCTAssertEqual(try compile("v[5]", parameters: [("v", 3)]).value([1, 2, 3]), -.infinity, "out-of-range index")
        XCTAssertEqual(try compile("exponential_lpdf(x, 1)").value([-1]), -.infinity)
    }

    /// Reverse-mode gradients against central finite differences.
    func testGradientsMatchFiniteDifferences() throws {
        let sources = [
            "-0.5 * ((a - 1) / exp(b))^2 - b",
            "sum(normal_lpdf(y, a + b * t, 1.5))",
            "gamma_lpdf(exp(a), exp(b), 2) + a",
            "beta_lpdf(inv_logit(a), 2, 3) + student_t_lpdf(b, 3, 0, 2)",
            "log_sum_exp(normal_lpdf(a, -1, 1), normal_lpdf(a, 2, 0.5)) + cauchy_lpdf(b, 0, 1)",
            "sin(a) * cos(b) + tanh(a * b) + atan(a) + sqrt(a * a + 1) + abs(b - 3) + pow(exp(a), b)",
            "a > 0 ? lgamma(a + 3) : -a^2 + log1p(b * b)",
            "sum(poisson_lpmf(k, exp(a + b * t)))",
            "lognormal_lpdf(2, a, exp(b)) + laplace_lpdf(a, b, 1) + logistic_lpdf(b, a, 2) + weibull_lpdf(1.5, exp(a), exp(b))",
            "min(a, b) + max(a, 2 * b) + log_sum_exp(t * a)",
        ]
        let data: [String: ExpressionSymbols.Value] = ["y": .vector([0.3, 1.1, 2.0, 2.8]), "t": .vector([0, 1, 2, 3]), "k": .vector([1, 0, 4, 2])]
        var rng = RandomStream(seed: 11)
        for source in sources {
            let evaluator = try compile(source, parameters: [("a", nil), ("b", nil)], data: data)
            for _ in 0..<5 {
                let theta = [rng.uniform() * 1.6 - 0.3, rng.uniform() * 1.2 - 0.4]
                let (value, gradient) = evaluator.valueAndGradient(theta)
                XCTAssertEqual(value, evaluator.value(theta), accuracy: 1e-12)
                for i in 0..<2 {
                    let h = 1e-6
                    var plus = theta, minus = theta
                    plus[i] += h
                    minus[i] -= h
                    let numeric = (evaluator.value(plus) - evaluator.value(minus)) / (2 * h)
                    XCTAssertEqual(gradient[i], numeric, accuracy: 1e-5 * max(1, abs(numeric)), "\(source) ∂/∂θ\(i) at \(theta)")
                }
            }
        }
    }

    func testVectorParameterGradient() throws {
        let evaluator = try compile(
            "sum(normal_lpdf(theta, mu, 2)) + normal_lpdf(mu, 0, 5) + theta[1] * mu",
            parameters: [("mu", nil), ("theta", 3)])
        let theta = [0.5, 1.0, -0.5, 2.0]
        let (_, gradient) = evaluator.valueAndGradient(theta)
        // ∂/∂mu = Σ (θi − mu)/4 − mu/25 + θ1 ; ∂/∂θi = −(θi − mu)/4 (+ mu for i = 1)
        XCTAssertEqual(gradient[0], (0.5 + -1.0 + 1.5) / 4 - 0.5 / 25 + (-0.5), accuracy: 1e-12)
        XCTAssertEqual(gradient[1], -(1.0 - 0.5) / 4, accuracy: 1e-12)
        XCTAssertEqual(gradient[2], -(-0.5 - 0.5) / 4 + 0.5, accuracy: 1e-12)
        XCTAssertEqual(gradient[3], -(2.0 - 0.5) / 4, accuracy: 1e-12)
    }

    func testErrorsGivePositionAndReason() {
        XCTAssertEqual(error("x +")?.message, "expected a number, a name or \"(\", found end of expression")
        XCTAssertEqual(error("x +")?.column, 4)
        XCTAssertEqual(error("1 + y")?.message.hasPrefix("unknown name \"y\""), true)
        XCTAssertEqual(error("1 + y")?.column, 5)
        XCTAssertEqual(error("foo(x)")?.message.hasPrefix("unknown function \"foo\""), true)
        XCTAssertEqual(error("exp(x, 2)")?.message, "exp takes 1 argument, got 2")
        XCTAssertEqual(error("x\n  + $")?.line, 2)
        XCTAssertEqual(error("x\n  + $")?.column, 5)
        XCTAssertEqual(error("v", parameters: [("v", 3)])?.message.hasPrefix("the expression is a vector of length 3"), true)
        XCTAssertEqual(error("v + w", parameters: [("v", 3), ("w", 2)])?.message, "vector lengths differ: 3 and 2")
        XCTAssertEqual(error("x[0]")?.message, "only vectors can be indexed; this is a number")
        XCTAssertEqual(error("0 < x < 1")?.message, "comparisons cannot be chained; combine them with &&")
        XCTAssertEqual(error("(x")?.message, "expected \")\" to close \"(\", found end of expression")
        XCTAssertNotNil(error(String(repeating: "(", count: 100) + "x" + String(repeating: ")", count: 100)), "nesting limit")
        XCTAssertNotNil(error(String(repeating: "x+", count: 11_000) + "x"), "length limit")
        XCTAssertEqual(error("normal_lpdf(x, 0)")?.message, "normal_lpdf takes 3 arguments, got 2")
    }

    /// Random garbage must never crash the parser, the compiler or the evaluator.
    func testGarbageNeverCrashes() {
        var rng = RandomStream(seed: 99)
        let pieces = [
            "x", "v", "(", ")", "[", "]", "+", "-", "*", "/", "^", "?", ":", "<", "&&", "||", "!", ",", "1", "0",
            "1e308", "normal_lpdf", "sum", "exp", "log", "if", " ", "\n", "$", "é", "1.2.3", "e", "inf", "lgamma", "v[", "]]",
        ]
        var compiled = 0
        for _ in 0..<5_000 {
            let length = Int(rng.next() % 12) + 1
            let source = (0..<length).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined()
            if let program = try? ExpressionCompiler.compile(
                source, symbols: ExpressionSymbols(parameters: [(name: "x", size: nil), (name: "v", size: 3)]))
            {
                compiled += 1
                let evaluator = Evaluator(program)
                let value = evaluator.valueAndGradient([0.5, 1, 2, 3]).value
                XCTAssertFalse(value.isNaN, source)
            }
        }
        XCTAssertGreaterThan(compiled, 50, "the fuzz should reach the evaluator")
    }
}
