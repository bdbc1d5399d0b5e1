/// The catalog by name, as the API and the expression language refer to it: each entry lists its
/// parameters (with defaults) and builds the distribution from a name → value map.
public enum DistributionCatalog {
    public enum Built: Sendable {
        case continuous(any ContinuousDistribution)
        case discrete(any DiscreteDistribution)
    }

    public struct Entry: Sendable {
        public let name: String
        public let summary: String
        /// Parameter names in positional order (the expression language's `*_lpdf` argument order), with defaults.
        public let parameters: [(name: String, defaultValue: Double?)]
        public let isDiscrete: Bool
        let build: @Sendable ([String: Double]) throws(DistributionError) -> Built
    }

    public static let entries: [Entry] = [
        continuous("uniform", "Uniform on [low, high]", [("low", 0), ("high", 1)]) { p throws(DistributionError) in
            try Uniform(lower: p["low"]!, upper: p["high"]!)
        },
        continuous("normal", "Normal with mean mu and standard deviation sigma", [("mu", 0), ("sigma", 1)]) { p throws(DistributionError) in
            try Normal(mu: p["mu"]!, sigma: p["sigma"]!)
        },
        continuous("lognormal", "exp of a normal(mu, sigma)", [("mu", 0), ("sigma", 1)]) { p throws(DistributionError) in
            try LogNormal(mu: p["mu"]!, sigma: p["sigma"]!)
        },
        continuous("exponential", "Exponential with the given rate", [("rate", 1)]) { p throws(DistributionError) in
            try Exponential(rate: p["rate"]!)
        },
        continuous("gamma", "Gamma with shape and rate", [("shape", nil), ("rate", 1)]) { p throws(DistributionError) in
            try Gamma(shape: p["shape"]!, rate: p["rate"]!)
        },
        continuous("beta", "Beta(a, b) on [0, 1]", [("a", nil), ("b", nil)]) { p throws(DistributionError) in
            try Beta(a: p["a"]!, b: p["b"]!)
        },
        continuous("chi_square", "Chi-square with df degrees of freedom", [("df", nil)]) { p throws(DistributionError) in
            try ChiSquare(degrees: p["df"]!)
        },
        continuous("student_t", "Student-t with df degrees of freedom, location mu, scale sigma", [("df", nil), ("mu", 0), ("sigma", 1)]) {
            p throws(DistributionError) in
            try StudentT(degrees: p["df"]!, mu: p["mu"]!, sigma: p["sigma"]!)
        },
        continuous("cauchy", "Cauchy with location and scale", [("location", 0), ("scale", 1)]) { p throws(DistributionError) in
            try Cauchy(location: p["location"]!, scale: p["scale"]!)
        },
        continuous("laplace", "Laplace (double exponential) with location and scale", [("location", 0), ("scale", 1)]) {
            p throws(DistributionError) in
            try Laplace(location: p["location"]!, scale: p["scale"]!)
        },
        continuous("logistic", "Logistic with location and scale", [("location", 0), ("scale", 1)]) { p throws(DistributionError) in
            try Logistic(location: p["location"]!, scale: p["scale"]!)
        },
        continuous("weibull", "Weibull with shape and scale", [("shape", nil), ("scale", 1)]) { p throws(DistributionError) in
            try Weibull(shape: p["shape"]!, scale: p["scale"]!)
        },
        continuous("pareto", "Pareto (type I) with shape and scale (the minimum)", [("shape", nil), ("scale", 1)]) { p throws(DistributionError) in
            try Pareto(shape: p["shape"]!, scale: p["scale"]!)
        },
        continuous("triangular", "Triangular on [low, high] with the given mode", [("low", nil), ("mode", nil), ("high", nil)]) {
            p throws(DistributionError) in
            try Triangular(lower: p["low"]!, mode: p["mode"]!, upper: p["high"]!)
        },
        continuous("gumbel", "Gumbel (maximum) with location and scale", [("location", 0), ("scale", 1)]) { p throws(DistributionError) in
            try Gumbel(location: p["location"]!, scale: p["scale"]!)
        },
        continuous("inverse_gamma", "Inverse gamma with shape and scale", [("shape", nil), ("scale", 1)]) { p throws(DistributionError) in
            try InverseGamma(shape: p["shape"]!, scale: p["scale"]!)
        },
        continuous("von_mises", "Von Mises on [mu − π, mu + π) with concentration kappa", [("mu", 0), ("kappa", nil)]) {
            p throws(DistributionError) in
            try VonMises(mu: p["mu"]!, kappa: p["kappa"]!)
        },
        discrete("bernoulli", "1 with probability p, else 0", [("p", nil)]) { p throws(DistributionError) in
            try Bernoulli(p: p["p"]!)
        },
        discrete("binomial", "Successes in n trials of probability p", [("n", nil), ("p", nil)]) { p throws(DistributionError) in
            try Binomial(n: try integer(p["n"]!, "n"), p: p["p"]!)
        },
        discrete("poisson", "Poisson with mean lambda", [("lambda", nil)]) { p throws(DistributionError) in
            try Poisson(lambda: p["lambda"]!)
        },
        discrete("geometric", "Trials up to and including the first success (k ≥ 1)", [("p", nil)]) { p throws(DistributionError) in
            try Geometric(p: p["p"]!)
        },
        discrete("negative_binomial", "Failures before the r-th success", [("r", nil), ("p", nil)]) { p throws(DistributionError) in
            try NegativeBinomial(r: p["r"]!, p: p["p"]!)
        },
    ]

    public static func entry(_ name: String) -> Entry? { entries.first { $0.name == name } }

    /// Univariate distributions by name (categorical takes an array `p`, see `makeCategorical`).
    public static var names: [String] { entries.map(\.name) + ["categorical"] }

    /// Builds `name` from named parameters, filling defaults; errors name the parameter.
    public static func make(_ name: String, _ given: [String: Double]) throws(DistributionError) -> Built {
        guard let entry = entry(name) else {
            throw DistributionError("name", "unknown distribution \"\(name.prefix(60))\"; known: \(entries.map(\.name).joined(separator: ", "))")
        }
        let known = Set(entry.parameters.map(\.name))
        if let unknown = given.keys.sorted().first(where: { !known.contains($0) }) {
            throw DistributionError(unknown, "is not a parameter of \(name); it takes \(entry.parameters.map(\.name).joined(separator: ", "))")
        }
        var values: [String: Double] = [:]
        for parameter in entry.parameters {
            if let value = given[parameter.name] {
                values[parameter.name] = value
            } else if let fallback = parameter.defaultValue {
                values[parameter.name] = fallback
            } else {
                throw DistributionError(parameter.name, "is required for \(name)")
            }
        }
        return try entry.build(values)
    }

    private static func integer(_ value: Double, _ parameter: String) throws(DistributionError) -> Int {
        guard value.rounded() == value, abs(value) < 9e15 else { throw DistributionError(parameter, "must be an integer, got \(value)") }
        return Int(value)
    }

    private typealias Maker<D> = @Sendable ([String: Double]) throws(DistributionError) -> D

    private static func continuous(
        _ name: String, _ summary: String, _ parameters: [(String, Double?)], _ make: @escaping Maker<any ContinuousDistribution>
    )
        -> Entry
    { entry(name, summary, parameters, isDiscrete: false) { values throws(DistributionError) in .continuous(try make(values)) } }

    private static func discrete(
        _ name: String, _ summary: String, _ parameters: [(String, Double?)], _ make: @escaping Maker<any DiscreteDistribution>
    ) -> Entry {
        entry(name, summary, parameters, isDiscrete: true) { values throws(DistributionError) in .discrete(try make(values)) }
    }

    private static func entry(_ name: String, _ summary: String, _ parameters: [(String, Double?)], isDiscrete: Bool, _ build: @escaping Maker<Built>)
        -> Entry
    {
        Entry(name: name, summary: summary, parameters: parameters.map { (name: $0.0, defaultValue: $0.1) }, isDiscrete: isDiscrete, build: build)
    }
}
