/// Why a job's parameters were refused: the dotted path of the field and a sentence a user can act on.
public struct ParameterError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case unknownParameter = "unknown_parameter"
        case missingParameter = "missing_parameter"
        case invalidType = "invalid_type"
        case outOfRange = "out_of_range"
        case invalidValue = "invalid_value"
    }

    public var code: Code
    public var field: String
    public var reason: String

    public init(_ code: Code, field: String, reason: String) {
        self.code = code
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}

/// The type of one parameter, with the bounds that make a value acceptable.
public indirect enum ParameterType: Sendable {
    case integer(minimum: Int64? = nil, maximum: Int64? = nil)
    case number(minimum: Double? = nil, maximum: Double? = nil, exclusiveMinimum: Bool = false)
    case string(maxLength: Int = 1024, allowed: [String]? = nil)
    case boolean
    case array(of: ParameterType, minItems: Int = 0, maxItems: Int)
    case object(ParameterSchema)
    /// An object whose keys are free (identifiers, at most `maxEntries`), each value of one type.
    case dictionary(of: ParameterType, maxEntries: Int)
    /// A finite number or an array of finite numbers (named data for expressions).
    case numberOrArray(maxItems: Int)
    /// A number or arrays of numbers nested up to `depth` levels (matrices as lists of rows), at most
    /// `maxItems` numbers in all; whether it is rectangular is the consumer's check.
    case numericArray(maxItems: Int, depth: Int)
    /// An integer in the bounds, or the string "auto" (a number of clusters the method may choose itself).
    case integerOrAuto(minimum: Int64, maximum: Int64)
}

/// One named parameter of a job kind.
public struct Parameter: Sendable {
    public var name: String
    public var type: ParameterType
    public var summary: String
    /// Filled in when the user leaves the parameter out; nil with `required == false` means "absent is fine".
    public var defaultValue: JSONValue?
    public var required: Bool
    /// Whether an explicit `null` is accepted (meaning "absent"); otherwise it is a type error.
    public var nullable: Bool

    public init(
        _ name: String, _ type: ParameterType, _ summary: String, default defaultValue: JSONValue? = nil,
        required: Bool = false, nullable: Bool = false
    ) {
        self.name = name
        self.type = type
        self.summary = summary
        self.defaultValue = defaultValue
        self.required = required
        self.nullable = nullable
    }
}

/// A small subset of JSON Schema that job kinds declare their parameters in: enough to validate,
/// fill defaults and publish the schema from one declaration.
public struct ParameterSchema: Sendable {
    public var parameters: [Parameter]

    /// 2^53 − 1: integers beyond it do not survive a trip through JSON numbers in most clients,
    /// so unbounded integer parameters are bounded by it.
    public static let largestExactInteger: Int64 = (1 << 53) - 1

    public init(_ parameters: [Parameter]) {
        self.parameters = parameters
    }

    /// Checks `value` and returns it with defaults filled in. `path` prefixes field names in errors.
    /// Every parameter's declared default, by name (required parameters have none). Not `validate(nil)`:
    /// that fails for a kind with a required parameter and would publish no defaults at all.
    public var defaults: JSONValue {
        .object(Dictionary(uniqueKeysWithValues: parameters.compactMap { parameter in parameter.defaultValue.map { (parameter.name, $0) } }))
    }

    public func validate(_ value: JSONValue?, path: String = "params") throws(ParameterError) -> JSONValue {
        let members: [String: JSONValue]
        switch value {
        case nil: members = [:]
        case .object(let given)?: members = given
        case let other?:
            throw ParameterError(.invalidType, field: path, reason: "must be an object, got \(other.typeName)")
        }
        let known = Set(parameters.map(\.name))
        if let unknown = members.keys.sorted().first(where: { !known.contains($0) }) {
            let names = parameters.map(\.name).joined(separator: ", ")
            throw ParameterError(.unknownParameter, field: "\(path).\(unknown)", reason: "unknown parameter; known parameters are: \(names)")
        }
        var normalized: [String: JSONValue] = [:]
        for parameter in parameters {
            let field = "\(path).\(parameter.name)"
            if let given = members[parameter.name], given != .null || !parameter.nullable {
                normalized[parameter.name] = try Self.check(given, against: parameter.type, field: field)
            } else if let fallback = parameter.defaultValue {
                normalized[parameter.name] = fallback
            } else if parameter.required {
                throw ParameterError(.missingParameter, field: field, reason: "is required")
            }
        }
        return .object(normalized)
    }

    private static func check(_ value: JSONValue, against type: ParameterType, field: String) throws(ParameterError) -> JSONValue {
        switch type {
        case .integer(let minimum, let maximum):
            let minimum = minimum ?? -ParameterSchema.largestExactInteger
            let maximum = maximum ?? ParameterSchema.largestExactInteger
            guard let integer = value.integerValue else {
                throw ParameterError(.invalidType, field: field, reason: "must be an integer, got \(describe(value))")
            }
            if integer < minimum {
                throw ParameterError(.outOfRange, field: field, reason: "must be at least \(minimum), got \(integer)")
            }
            if integer > maximum {
                throw ParameterError(.outOfRange, field: field, reason: "must be at most \(maximum), got \(integer)")
            }
            return .integer(integer)
        case .number(let minimum, let maximum, let exclusiveMinimum):
            guard let number = value.doubleValue else {
                throw ParameterError(.invalidType, field: field, reason: "must be a number, got \(describe(value))")
            }
            guard number.isFinite else {
                throw ParameterError(.outOfRange, field: field, reason: "must be finite")
            }
            if let minimum {
                if exclusiveMinimum, number <= minimum {
                    throw ParameterError(.outOfRange, field: field, reason: "must be greater than \(minimum), got \(number)")
                }
                if !exclusiveMinimum, number < minimum {
                    throw ParameterError(.outOfRange, field: field, reason: "must be at least \(minimum), got \(number)")
                }
            }
            if let maximum, number > maximum {
                throw ParameterError(.outOfRange, field: field, reason: "must be at most \(maximum), got \(number)")
            }
            return value
        case .string(let maxLength, let allowed):
            guard let string = value.stringValue else {
                throw ParameterError(.invalidType, field: field, reason: "must be a string, got \(describe(value))")
            }
            if string.count > maxLength {
                throw ParameterError(.outOfRange, field: field, reason: "must be at most \(maxLength) characters, got \(string.count)")
            }
            if let allowed, !allowed.contains(string) {
                throw ParameterError(.invalidValue, field: field, reason: "must be one of \(allowed.joined(separator: ", ")), got \"\(string)\"")
            }
            return value
        case .boolean:
            guard value.boolValue != nil else {
                throw ParameterError(.invalidType, field: field, reason: "must be a boolean, got \(describe(value))")
            }
            return value
        case .array(let element, let minItems, let maxItems):
            guard let items = value.arrayValue else {
                throw ParameterError(.invalidType, field: field, reason: "must be an array, got \(describe(value))")
            }
            if items.count < minItems {
                throw ParameterError(.outOfRange, field: field, reason: "must have at least \(minItems) items, got \(items.count)")
            }
            if items.count > maxItems {
                throw ParameterError(.outOfRange, field: field, reason: "must have at most \(maxItems) items, got \(items.count)")
            }
            var checked: [JSONValue] = []
            checked.reserveCapacity(items.count)
            for (index, item) in items.enumerated() {
                checked.append(try check(item, against: element, field: "\(field)[\(index)]"))
            }
            return .array(checked)
        case .object(let schema):
            return try schema.validate(value, path: field)
        case .dictionary(let element, let maxEntries):
            guard case .object(let members) = value else {
                throw ParameterError(.invalidType, field: field, reason: "must be an object, got \(describe(value))")
            }
            if members.count > maxEntries {
                throw ParameterError(.outOfRange, field: field, reason: "must have at most \(maxEntries) entries, got \(members.count)")
            }
            var checked: [String: JSONValue] = [:]
            for key in members.keys.sorted() {
                guard let first = key.first, first.isASCII, first.isLetter || first == "_", key.count <= 64,
                    key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
                else {
                    throw ParameterError(.invalidValue, field: "\(field).\(key.prefix(64))", reason: "keys must be identifiers (letters, digits, _)")
                }
                checked[key] = try check(members[key]!, against: element, field: "\(field).\(key)")
            }
            return .object(checked)
        case .numberOrArray(let maxItems):
            if value.doubleValue != nil {
                return try check(value, against: .number(), field: field)
            }
            guard value.arrayValue != nil else {
                throw ParameterError(.invalidType, field: field, reason: "must be a number or an array of numbers, got \(describe(value))")
            }
            return try check(value, against: .array(of: .number(), maxItems: maxItems), field: field)
        case .integerOrAuto(let minimum, let maximum):
            if value.stringValue == "auto" { return value }
            guard value.integerValue != nil else {
                throw ParameterError(.invalidType, field: field, reason: "must be an integer or \"auto\", got \(describe(value))")
            }
            return try check(value, against: .integer(minimum: minimum, maximum: maximum), field: field)
        case .numericArray(let maxItems, let depth):
            var count = 0
            func walk(_ value: JSONValue, _ level: Int, _ path: String) throws(ParameterError) {
                if value.doubleValue != nil {
                    count += 1
                    if count > maxItems { throw ParameterError(.outOfRange, field: field, reason: "more than \(maxItems) numbers") }
                    return
                }
                guard let items = value.arrayValue else {
                    throw ParameterError(.invalidType, field: path, reason: "must be a number or an array of numbers, got \(describe(value))")
                }
                guard level < depth else { throw ParameterError(.invalidType, field: path, reason: "arrays nest at most \(depth) levels") }
                for (index, item) in items.enumerated() { try walk(item, level + 1, "\(path)[\(index)]") }
            }
            try walk(value, 0, field)
            return value
        }
    }

    private static func describe(_ value: JSONValue) -> String {
        switch value {
        case .string(let string): return "string \"\(string.prefix(40))\""
        case .integer(let integer): return "integer \(integer)"
        case .number(let number): return "number \(number)"
        case .bool(let bool): return "boolean \(bool)"
        default: return value.typeName
        }
    }

    /// The declaration rendered as JSON Schema, for `GET /v1/kinds` and the OpenAPI document.
    public var jsonSchema: JSONValue {
        var properties: [String: JSONValue] = [:]
        for parameter in parameters {
            var schema = Self.jsonSchema(for: parameter.type)
            if parameter.nullable, case .object(var members) = schema, let type = members["type"] {
                members["type"] = [type, "null"]
                schema = .object(members)
            }
            if case .object(var members) = schema {
                members["description"] = .string(parameter.summary)
                if let fallback = parameter.defaultValue { members["default"] = fallback }
                schema = .object(members)
            }
            properties[parameter.name] = schema
        }
        var result: [String: JSONValue] = [
            "type": "object",
            "additionalProperties": false,
            "properties": .object(properties),
        ]
        let required = parameters.filter(\.required).map { JSONValue.string($0.name) }
        if !required.isEmpty { result["required"] = .array(required) }
        return .object(result)
    }

    private static func jsonSchema(for type: ParameterType) -> JSONValue {
        switch type {
        case .integer(let minimum, let maximum):
            return [
                "type": "integer",
                "minimum": .integer(minimum ?? -largestExactInteger),
                "maximum": .integer(maximum ?? largestExactInteger),
            ]
        case .number(let minimum, let maximum, let exclusiveMinimum):
            var schema: [String: JSONValue] = ["type": "number"]
            if let minimum { schema[exclusiveMinimum ? "exclusiveMinimum" : "minimum"] = .number(minimum) }
            if let maximum { schema["maximum"] = .number(maximum) }
            return .object(schema)
        case .string(let maxLength, let allowed):
            var schema: [String: JSONValue] = ["type": "string", "maxLength": .integer(Int64(maxLength))]
            if let allowed { schema["enum"] = .array(allowed.map { .string($0) }) }
            return .object(schema)
        case .boolean:
            return ["type": "boolean"]
        case .array(let element, let minItems, let maxItems):
            return [
                "type": "array", "items": jsonSchema(for: element),
                "minItems": .integer(Int64(minItems)), "maxItems": .integer(Int64(maxItems)),
            ]
        case .object(let schema):
            return schema.jsonSchema
        case .dictionary(let element, let maxEntries):
            return [
                "type": "object", "additionalProperties": jsonSchema(for: element), "maxProperties": .integer(Int64(maxEntries)),
                "propertyNames": ["pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$"],
            ]
        case .numberOrArray(let maxItems):
            return ["oneOf": [["type": "number"], ["type": "array", "items": ["type": "number"], "maxItems": .integer(Int64(maxItems))]]]
        case .integerOrAuto(let minimum, let maximum):
            return [
                "oneOf": [
                    ["type": "integer", "minimum": .integer(minimum), "maximum": .integer(maximum)], ["type": "string", "enum": ["auto"]],
                ]
            ]
        case .numericArray(_, let depth):
            var schema: JSONValue = ["type": "number"]
            for _ in 0..<depth { schema = ["oneOf": [["type": "number"], ["type": "array", "items": schema]]] }
            return schema
        }
    }
}
