import Foundation
import Jobs
import Sampling

/// Shared parameter declarations and conversions for the sampler kinds: expressions, data,
/// parameters and catalog distributions, with their errors mapped to the submitted field.
enum SamplingInputs {
    static let maxDataItems = 1_000_000

    static let logDensity = Parameter(
        "log_density", .string(maxLength: ExpressionLimits.maxLength),
        "Log density (unnormalized) in the expression language, e.g. \"-0.5 * ((x - mu) / sigma)^2\".",
        required: true)
    static let data = Parameter(
        "data", .dictionary(of: .numberOrArray(maxItems: maxDataItems), maxEntries: 64),
        "Named numbers and arrays the expression refers to.", default: .object([:]))
    static let seed = Parameter("seed", .integer(minimum: 0), "Seed: the same seed and parameters give the same draws.", default: 0)

    static let parameterList = Parameter(
        "parameters",
        .array(
            of: .object(
                ParameterSchema([
                    Parameter("name", .string(maxLength: 64), "Name used in the expression.", required: true),
                    Parameter("size", .integer(minimum: 1, maximum: 100_000), "Length, for a vector parameter; omit for a scalar."),
                    Parameter("lower", .number(), "Lower bound (the density is zero below it)."),
                    Parameter("upper", .number(), "Upper bound (the density is zero above it)."),
                ])), minItems: 1, maxItems: 100),
        "The sampled parameters, in order.", required: true)

    static func distributionSpec(multivariate: Bool = false) -> ParameterSchema {
        ParameterSchema([
            Parameter(
                "name", .string(maxLength: 64, allowed: DistributionCatalog.names + (multivariate ? ["multivariate_normal"] : [])),
                "Catalog distribution.", required: true),
            Parameter(
                "params", .dictionary(of: .numberOrArray(maxItems: 1_000_000), maxEntries: 16),
                "Its parameters by name (defaults fill the rest).", default: .object([:])),
        ])
    }

    static func symbols(_ params: JSONValue) -> [String: ExpressionSymbols.Value] {
        var symbols: [String: ExpressionSymbols.Value] = [:]
        for (name, value) in params["data"]?.objectValue ?? [:] {
            if let number = value.doubleValue {
                symbols[name] = .scalar(number)
            } else if let array = value.arrayValue {
                symbols[name] = .vector(array.compactMap(\.doubleValue))
            }
        }
        return symbols
    }

    /// A model program's data: numbers and rectangular nested arrays, flattened row-major.
    static func modelData(_ value: JSONValue?, field: String) throws(ParameterError) -> [String: ModelData] {
        var result: [String: ModelData] = [:]
        for (name, entry) in value?.objectValue ?? [:] {
            var shape: [Int] = []
            var probe = entry
            while let items = probe.arrayValue {
                shape.append(items.count)
                guard let first = items.first else { break }
                probe = first
            }
            var values: [Double] = []
            func walk(_ value: JSONValue, _ level: Int) throws(ParameterError) {
                if level == shape.count {
                    guard let number = value.doubleValue else {
                        throw ParameterError(
                            .invalidValue, field: "\(field).\(name)", reason: "is not rectangular (every row must have the same length)")
                    }
                    values.append(number)
                    return
                }
                guard let items = value.arrayValue, items.count == shape[level] else {
                    throw ParameterError(.invalidValue, field: "\(field).\(name)", reason: "is not rectangular (every row must have the same length)")
                }
                for item in items { try walk(item, level + 1) }
            }
            try walk(entry, 0)
            result[name] = ModelData(shape: shape, values: values)
        }
        return result
    }

    static func parameterSpecs(_ params: JSONValue) throws(ParameterError) -> [ParameterSpec] {
        var specs: [ParameterSpec] = []
        var seen = Set<String>()
        for (index, entry) in (params["parameters"]?.arrayValue ?? []).enumerated() {
            let field = "params.parameters[\(index)]"
            let name = entry["name"]?.stringValue ?? ""
            guard name.first.map({ $0.isASCII && ($0.isLetter || $0 == "_") }) == true,
                name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
            else { throw ParameterError(.invalidValue, field: "\(field).name", reason: "must be an identifier, got \"\(name)\"") }
            guard seen.insert(name).inserted else {
                throw ParameterError(.invalidValue, field: "\(field).name", reason: "\"\(name)\" is declared twice")
            }
            let lower = entry["lower"]?.doubleValue
            let upper = entry["upper"]?.doubleValue
            if let lower, let upper, lower >= upper {
                throw ParameterError(.invalidValue, field: "\(field).upper", reason: "must be greater than lower (\(lower)), got \(upper)")
            }
            specs.append(ParameterSpec(name: name, size: entry["size"]?.integerValue.map(Int.init), lower: lower, upper: upper))
        }
        return specs
    }

    /// Compiles or rethrows as a parameter error on `field`.
    static func expression<T>(_ field: String, _ body: () throws -> T) throws(ParameterError) -> T {
        do {
            return try body()
        } catch let error as ParameterError {
            throw error
        } catch let error as ExpressionError {
            throw ParameterError(.invalidValue, field: field, reason: error.description)
        } catch let error as SamplerError {
            throw ParameterError(.invalidValue, field: "params.\(error.field)", reason: error.reason)
        } catch let error as DistributionError {
            throw ParameterError(.invalidValue, field: "\(field).\(error.parameter)", reason: error.reason)
        } catch {
            throw ParameterError(.invalidValue, field: field, reason: "\(error)")
        }
    }

    /// A univariate catalog distribution from `{name, params}`.
    static func distribution(_ spec: JSONValue?, field: String) throws(ParameterError) -> DistributionCatalog.Built {
        let name = spec?["name"]?.stringValue ?? ""
        if name == "categorical" {
            let params = spec?["params"]?.objectValue ?? [:]
            if let unknown = params.keys.sorted().first(where: { $0 != "p" }) {
                throw ParameterError(
                    .invalidValue, field: "\(field).params.\(unknown)",
                    reason: "is not a parameter of categorical; it takes p (an array of probabilities)")
            }
            do {
                return .discrete(try Categorical(probabilities: numbers(params["p"])))
            } catch {
                throw ParameterError(.invalidValue, field: "\(field).params.p", reason: error.reason)
            }
        }
        var numbers: [String: Double] = [:]
        for (key, value) in spec?["params"]?.objectValue ?? [:] {
            guard let number = value.doubleValue else {
                throw ParameterError(.invalidType, field: "\(field).params.\(key)", reason: "must be a number for \(name)")
            }
            numbers[key] = number
        }
        do {
            return try DistributionCatalog.make(name, numbers)
        } catch {
            let path = error.parameter == "name" ? "\(field).name" : "\(field).params.\(error.parameter)"
            throw ParameterError(.invalidValue, field: path, reason: error.reason)
        }
    }

    static func continuous(_ spec: JSONValue?, field: String) throws(ParameterError) -> any ContinuousDistribution {
        guard case .continuous(let distribution) = try distribution(spec, field: field) else {
            throw ParameterError(.invalidValue, field: "\(field).name", reason: "must be a continuous distribution")
        }
        return distribution
    }

    static func numbers(_ value: JSONValue?) -> [Double] { value?.arrayValue?.compactMap(\.doubleValue) ?? [] }

    static func matrix(_ value: JSONValue?) -> [[Double]] { value?.arrayValue?.map { numbers($0) } ?? [] }

    /// Mean, sd and quantiles of one-dimensional draws.
    static func summary(_ draws: [Double]) -> JSONValue {
        let n = Double(draws.count)
        let mean = draws.reduce(0, +) / n
        let sd = (draws.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / max(1, n - 1)).squareRoot()
        let sorted = draws.sorted()
        var quantiles: [String: JSONValue] = [:]
        for p in [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99] {
            quantiles[String(format: "%g%%", p * 100)] = .number(Diagnostics.quantile(sorted: sorted, p))
        }
        return ["mean": .number(mean), "sd": .number(sd), "quantiles": .object(quantiles), "draws": .integer(Int64(draws.count))]
    }

    static func diagnosticsJSON(_ names: [String], _ summaries: [Diagnostics.Summary]) throws -> JSONValue {
        var entries: [String: JSONValue] = [:]
        for (name, summary) in zip(names, summaries) { entries[name] = try JSONValue.encoding(summary) }
        return .object(entries)
    }
}
