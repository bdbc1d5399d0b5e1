import XCTest
@testable import Jobs

final class ParameterSchemaTests: XCTestCase {
    let schema = ParameterSchema([
        Parameter("steps", .integer(minimum: 1, maximum: 10), "steps", default: 5),
        Parameter("rate", .number(minimum: 0, maximum: 1, exclusiveMinimum: true), "rate", required: true),
        Parameter("mode", .string(maxLength: 8, allowed: ["fast", "slow"]), "mode"),
        Parameter("weights", .array(of: .number(), minItems: 1, maxItems: 3), "weights"),
        Parameter("inner", .object(ParameterSchema([Parameter("flag", .boolean, "flag", default: false)])), "inner"),
    ])

    func error(_ params: JSONValue?) -> ParameterError? {
        do {
            _ = try schema.validate(params)
            return nil
        } catch {
            return error
        }
    }

    func testDefaultsAreFilledIn() throws {
        let normalized = try schema.validate(["rate": 0.5])
        XCTAssertEqual(normalized, ["steps": 5, "rate": 0.5])
    }

    func testIntegralNumbersCountAsIntegers() throws {
        XCTAssertEqual(try schema.validate(["rate": 0.5, "steps": 3.0])["steps"], .integer(3))
        XCTAssertEqual(error(["rate": 0.5, "steps": 2.5])?.code, .invalidType)
    }

    func testErrorsNameTheFieldAndReason() {
        XCTAssertEqual(
            error(["rate": 0.5, "stepz": 1]),
            ParameterError(
                .unknownParameter, field: "params.stepz",
                reason: "unknown parameter; known parameters are: steps, rate, mode, weights, inner"))
        XCTAssertEqual(error([:]), ParameterError(.missingParameter, field: "params.rate", reason: "is required"))
        XCTAssertEqual(error(["rate": "high"])?.code, .invalidType)
        XCTAssertEqual(error(["rate": 0])?.code, .outOfRange, "exclusive minimum")
        XCTAssertEqual(
            error(["rate": 0.5, "steps": 11]),
            ParameterError(.outOfRange, field: "params.steps", reason: "must be at most 10, got 11"))
        XCTAssertEqual(error(["rate": 0.5, "mode": "medium"])?.code, .invalidValue)
        XCTAssertEqual(error(["rate": 0.5, "weights": []])?.code, .outOfRange)
        XCTAssertEqual(error(["rate": 0.5, "weights": [1, "x"]])?.field, "params.weights[1]")
        XCTAssertEqual(error(["rate": 0.5, "inner": ["flag": 1]])?.field, "params.inner.flag")
        XCTAssertEqual(error(["rate": 0.5, "inner": ["nope": 1]])?.field, "params.inner.nope")
        XCTAssertEqual(error(.array([]))?.code, .invalidType)
    }

    func testNullIsATypeErrorUnlessNullable() throws {
        XCTAssertEqual(error(["rate": 0.5, "steps": nil])?.code, .invalidType)
        XCTAssertEqual(error(nil)?.field, "params.rate", "absent params means all defaults")
        XCTAssertEqual(error(.null)?.code, .invalidType, "explicit null params is not an object")
        let nullable = ParameterSchema([Parameter("label", .string(), "label", nullable: true)])
        XCTAssertEqual(try nullable.validate(["label": nil]), [:])
        XCTAssertEqual(nullable.jsonSchema["properties"]?["label"]?["type"], ["string", "null"])
    }

    func testUnboundedIntegersStopAtTheLargestExactDouble() throws {
        let open = ParameterSchema([Parameter("seed", .integer(), "seed")])
        XCTAssertEqual(try open.validate(["seed": 9_007_199_254_740_991])["seed"], 9_007_199_254_740_991)
        XCTAssertThrowsError(try open.validate(["seed": 9_007_199_254_740_992]))
        XCTAssertEqual(open.jsonSchema["properties"]?["seed"]?["maximum"], 9_007_199_254_740_991)
    }

    func testJSONSchemaRendering() {
        let rendered = schema.jsonSchema
        XCTAssertEqual(rendered["type"], "object")
        XCTAssertEqual(rendered["additionalProperties"], false)
        XCTAssertEqual(rendered["required"], ["rate"])
        XCTAssertEqual(rendered["properties"]?["steps"]?["maximum"], 10)
        XCTAssertEqual(rendered["properties"]?["steps"]?["default"], 5)
        XCTAssertEqual(rendered["properties"]?["rate"]?["exclusiveMinimum"], 0.0)
        XCTAssertEqual(rendered["properties"]?["mode"]?["enum"], ["fast", "slow"])
    }

    func testJSONValueRoundTripKeepsIntegers() throws {
        let value = try JSONValue.parse(#"{"a": 3, "b": 3.5, "c": [true, null, "x"]}"#)
        XCTAssertEqual(value["a"], .integer(3))
        XCTAssertEqual(value["b"], .number(3.5))
        XCTAssertEqual(value.canonicalText(), #"{"a":3,"b":3.5,"c":[true,null,"x"]}"#)
    }
}
