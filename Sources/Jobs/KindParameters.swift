import Foundation

/// A job kind's parameters declared once, as one Swift type: every stored property is a `@Param` whose
/// initial value is the default, whose wrapper carries the JSON type, bounds and documentation, and whose
/// name (snake_case of the property's) is the JSON name. From that one declaration come the schema
/// `GET /v1/kinds` and openapi.yaml publish, the defaults filled into a job's `params`, the validation
/// with field-named 422s, and the typed value a run reads — a default cannot be written twice, so it
/// cannot drift (IIC's learning rate once said 5e-3 in the schema and 1e-3 where the run was configured).
///
///     struct Parameters: KindParameters {
///         @Param(.integer(minimum: 2, maximum: 200), "Clusters.") var k = 10
///         @Param(.number(minimum: 0, maximum: 1, exclusiveMinimum: true), "Adam's learning rate.") var learningRate = 5e-3
///     }
public protocol KindParameters: Codable, Sendable {
    /// The defaults: every property at its initial value.
    init()
}

extension KindParameters {
    /// The schema, read off the declaration (in declaration order).
    public static var schema: ParameterSchema {
        ParameterSchema(
            Mirror(reflecting: Self()).children.compactMap { child in
                guard let label = child.label, label.hasPrefix("_"), let field = child.value as? any DeclaredParameter else { return nil }
                return field.parameter(named: snakeCase(String(label.dropFirst())))
            })
    }

    /// The typed value of parameters the schema has validated (defaults filled in). Only the top-level
    /// names are converted (`learning_rate` → `learningRate`): JSONDecoder's key strategy would also
    /// rename the keys of user dictionaries inside (`functions.p_above_2`, `data.sigma_y`).
    /// A parameter a kind leaves out of its echo (one that does not apply, see `JobKind.echo`) decodes as
    /// its declared default.
    public static func decode(_ params: JSONValue) throws -> Self {
        var members = (try? Self().jsonValue().objectValue) ?? [:]
        for (key, value) in params.objectValue ?? [:] { members[key] = value }
        let renamed = JSONValue.object(Dictionary(uniqueKeysWithValues: members.map { (camelCase($0.key), $0.value) }))
        return try JSONDecoder().decode(Self.self, from: Data(renamed.canonicalText().utf8))
    }

    /// The value as the JSON params it stands for (snake_case names; nil optionals as null).
    public func jsonValue() throws -> JSONValue {
        let encoded = try JSONValue.parse(try JSONEncoder().encode(self))
        return .object(Dictionary(uniqueKeysWithValues: (encoded.objectValue ?? [:]).map { (Self.snakeCase($0.key), $0.value) }))
    }

    /// `learning_rate` → `learningRate`.
    static func camelCase(_ name: String) -> String {
        var result = ""
        var upper = false
        for character in name {
            if character == "_" {
                upper = true
            } else {
                result += upper ? character.uppercased() : String(character)
                upper = false
            }
        }
        return result
    }

    /// Names of stored properties that are not `@Param`s: a test asserts there are none, so nothing a
    /// run reads escapes the schema.
    public static var undeclaredProperties: [String] {
        Mirror(reflecting: Self()).children.compactMap { child in
            child.value is any DeclaredParameter ? nil : (child.label ?? "?")
        }
    }

    /// `learningRate` → `learning_rate`, the inverse of JSONDecoder's `.convertFromSnakeCase`.
    public static func snakeCase(_ name: String) -> String {
        var result = ""
        for character in name {
            if character.isUppercase {
                result += "_" + character.lowercased()
            } else {
                result.append(character)
            }
        }
        return result
    }
}

/// What `@Param` tells the schema; the wrapper's value type is erased.
protocol DeclaredParameter {
    func parameter(named name: String) -> Parameter
}

/// One parameter: its JSON type and bounds, its documentation, and (as the property's initial value) its default.
@propertyWrapper
public struct Param<Value: ParameterValue>: Codable, Sendable, DeclaredParameter {
    public var wrappedValue: Value
    private let type: ParameterType?
    private let summary: String
    private let required: Bool

    /// - Parameters:
    ///   - required: no default: the user must give it (the initial value is a placeholder).
    public init(wrappedValue: Value, _ type: ParameterType, _ summary: String, required: Bool = false) {
        self.wrappedValue = wrappedValue
        self.type = type
        self.summary = summary
        self.required = required
    }

    /// A parameter several kinds share (a dataset reference, a seed), declared once where they share it.
    public init(wrappedValue: Value, _ shared: Parameter) {
        self.init(wrappedValue: wrappedValue, shared.type, shared.summary, required: shared.required)
    }

    public init(from decoder: Decoder) throws {
        wrappedValue = try Value(from: decoder)
        type = nil
        summary = ""
        required = false
    }

    public func encode(to encoder: Encoder) throws { try wrappedValue.encode(to: encoder) }

    func parameter(named name: String) -> Parameter {
        let value = wrappedValue.jsonValue
        // Spelled out: JSONValue is ExpressibleByNilLiteral, so a bare `nil` in a ternary would become `.null`.
        let fallback: JSONValue? = required || value == .null ? Optional.none : Optional.some(value)
        return Parameter(name, type ?? .boolean, summary, default: fallback, required: required, nullable: Value.isOptional)
    }
}

extension KeyedDecodingContainer {
    /// An optional parameter left out decodes as nil (synthesized decoding would require the key).
    public func decode<Wrapped>(_ type: Param<Wrapped?>.Type, forKey key: Key) throws -> Param<Wrapped?> {
        try decodeIfPresent(type, forKey: key) ?? Param(wrappedValue: nil, .boolean, "")
    }
}

/// A Swift type a parameter can have, with its JSON form (for the published default).
public protocol ParameterValue: Codable, Sendable {
    var jsonValue: JSONValue { get }
    static var isOptional: Bool { get }
}

extension ParameterValue {
    public static var isOptional: Bool { false }
}

extension Int: ParameterValue { public var jsonValue: JSONValue { .integer(Int64(self)) } }
extension Int64: ParameterValue { public var jsonValue: JSONValue { .integer(self) } }
extension UInt64: ParameterValue { public var jsonValue: JSONValue { .integer(Int64(clamping: self)) } }
extension Double: ParameterValue { public var jsonValue: JSONValue { .number(self) } }
extension Float: ParameterValue { public var jsonValue: JSONValue { .number(Double(self)) } }
extension String: ParameterValue { public var jsonValue: JSONValue { .string(self) } }
extension Bool: ParameterValue { public var jsonValue: JSONValue { .bool(self) } }
extension JSONValue: ParameterValue { public var jsonValue: JSONValue { self } }
extension Array: ParameterValue where Element: ParameterValue { public var jsonValue: JSONValue { .array(map(\.jsonValue)) } }
extension Dictionary: ParameterValue where Key == String, Value: ParameterValue {
    public var jsonValue: JSONValue { .object(mapValues(\.jsonValue)) }
}
extension Optional: ParameterValue where Wrapped: ParameterValue {
    public var jsonValue: JSONValue { self?.jsonValue ?? .null }
    public static var isOptional: Bool { true }
}

/// A job kind whose parameters are a `KindParameters` type: the schema comes from it.
public protocol TypedJobKind: JobKind {
    associatedtype Parameters: KindParameters
}

extension TypedJobKind {
    public var parameters: ParameterSchema { Parameters.schema }

    /// The run's typed parameters (the stored `params`, validated with defaults filled at submission).
    public func typedParameters(_ params: JSONValue) throws -> Parameters {
        do {
            return try Parameters.decode(params)
        } catch {
            throw JobFailure("params do not match \(name)'s declaration: \(error)")
        }
    }
}

/// A number of clusters: fixed, or `"auto"` — chosen by the method's documented criterion.
public enum ClusterCount: ParameterValue, Equatable {
    case fixed(Int)
    case auto

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self), text == "auto" {
            self = .auto
        } else {
            self = .fixed(try container.decode(Int.self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .fixed(let k): try container.encode(k)
        case .auto: try container.encode("auto")
        }
    }

    public var jsonValue: JSONValue {
        switch self {
        case .fixed(let k): .integer(Int64(k))
        case .auto: "auto"
        }
    }

    public var fixed: Int? { if case .fixed(let k) = self { k } else { nil } }
}
