import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Jobs

/// Reading request bodies and query strings into validated values, or problems.
enum RequestParsing {
    /// Accepts `application/json` and `application/*+json`, with or without parameters.
    static func requireJSON(_ request: Request) throws {
        let given = request.headers[.contentType]
        let mediaType = given?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard let mediaType, mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"))
        else { throw Problem.unsupportedMediaType(given) }
    }

    static func collectBody(_ request: Request, limit: Int) async throws -> ByteBuffer {
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit {
            throw Problem.bodyTooLarge(limit: limit)
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw Problem.bodyTooLarge(limit: limit)
        }
    }

    static func parseJSON(_ buffer: ByteBuffer) throws -> JSONValue {
        guard buffer.readableBytes > 0 else { throw Problem.malformedJSON("the request body is empty; send a JSON object") }
        do {
            return try JSONValue.parse(Data(buffer.readableBytesView))
        } catch let error where error.path != nil {
            throw Problem(
                .badRequest, code: .duplicateKey, title: "Duplicate key",
                detail: "the body is ambiguous: \(error.reason); send each key once", field: error.path)
        } catch {
            throw Problem.malformedJSON("the body is not valid JSON: \(error)")
        }
    }

    /// An integer query parameter within bounds, or the default when absent.
    static func integer(_ request: Request, _ name: String, default fallback: Int?, range: ClosedRange<Int>) throws -> Int? {
        guard let raw = request.uri.queryParameters.get(name) else { return fallback }
        guard let value = Int(raw) else { throw Problem.invalidQuery(name, "must be an integer, got \"\(raw.prefix(40))\"") }
        guard range.contains(value) else {
            throw Problem.invalidQuery(name, "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
        return value
    }

    /// The parts of a `POST /v1/jobs` body, checked against the kind's parameter schema.
    /// - Parameter visible: whether a row the job would read is the caller's (nil: not checked here, as in tests
    ///   of parsing alone; the store checks it again either way).
    static func submission(
        from body: JSONValue, idempotencyKey: String?, registry: JobKindRegistry,
        configuration: ServiceConfiguration, visible: ((ResourceReference) throws -> Bool)? = nil
    ) throws -> JobSubmission {
        guard case .object(let members) = body else {
            throw Problem(
                .unprocessableContent, code: .invalidType, title: "Invalid body",
                detail: "the body must be a JSON object, got \(body.typeName)", field: "body")
        }
        let allowed = ["kind", "params", "name", "priority", "max_attempts", "tags", "metadata"]
        if let unknown = members.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw Problem(
                .unprocessableContent, code: .unknownField, title: "Unknown field",
                detail: "unknown field; a job takes \(allowed.joined(separator: ", "))", field: unknown)
        }
        guard let kindValue = members["kind"], kindValue != .null else {
            throw Problem(
                .unprocessableContent, code: .missingParameter, title: "Missing field",
                detail: "is required; one of \(registry.names.joined(separator: ", "))", field: "kind")
        }
        guard let kindName = kindValue.stringValue else {
            throw Problem(
                .unprocessableContent, code: .invalidType, title: "Invalid field",
                detail: "must be a string, got \(kindValue.typeName)", field: "kind")
        }
        guard let kind = registry[kindName] else {
            throw Problem(
                .unprocessableContent, code: .unknownKind, title: "Unknown job kind",
                detail: "no job kind \"\(kindName.prefix(100))\"; known kinds: \(registry.names.joined(separator: ", "))",
                field: "kind")
        }
        let envelope = ParameterSchema([
            Parameter("name", .string(maxLength: 200), "Free-form label.", nullable: true),
            Parameter("priority", .integer(minimum: -100, maximum: 100), "Higher runs first.", default: 0),
            Parameter(
                "max_attempts", .integer(minimum: 1, maximum: 10), "Runs allowed before a job that keeps losing its worker fails.",
                default: .integer(Int64(configuration.maxAttempts))),
        ])
        let fields = try envelope.validate(.object(members.filter { ["name", "priority", "max_attempts"].contains($0.key) }), path: "body")
        // Rows of another owner are refused as missing before the kind looks at them (see `referenceVisible`).
        if let visible {
            for reference in kind.references(members["params"] ?? .null) where try !visible(reference) {
                throw Problem.from(JobStoreError.referenceMissing(reference))
            }
        }
        let params: JSONValue
        do {
            params = try kind.normalize(members["params"])
        } catch {
            throw Problem.invalid(error)
        }
        let tags = try JobTags.parse(members["tags"])
        let metadata = members["metadata"] ?? .object([:])
        switch metadata {
        case .object, .null: break
        default:
            throw Problem(
                .unprocessableContent, code: .invalidType, title: "Invalid field",
                detail: "must be a JSON object, got \(metadata.typeName)", field: "metadata")
        }
        let metadataText = metadata == .null ? "{}" : metadata.canonicalText()
        guard metadataText.utf8.count <= JobTags.maxMetadataBytes else {
            throw Problem(
                .unprocessableContent, code: .outOfRange, title: "Invalid field",
                detail: "is \(metadataText.utf8.count) bytes as JSON; at most \(JobTags.maxMetadataBytes)", field: "metadata")
        }
        let name = fields["name"]?.stringValue
        let priority = Int(fields["priority"]?.integerValue ?? 0)
        let maxAttempts = Int(fields["max_attempts"]?.integerValue ?? Int64(configuration.maxAttempts))
        var submission = JobSubmission(
            kind: kindName, name: name, priority: priority, params: params, maxAttempts: maxAttempts,
            idempotencyKey: idempotencyKey, fingerprint: body.canonicalText())
        submission.tags = tags
        submission.references = kind.references(params)
        submission.metadata = metadata == .null ? .object([:]) : metadata
        return submission
    }
}

/// Job tags: short labels to filter lists by (`?tag=`), at most 20 per job, and the metadata bound.
enum JobTags {
    static let maxTags = 20
    static let maxTagLength = 100
    static let maxMetadataBytes = 16 * 1024
    static let rule = "a tag is 1 to \(maxTagLength) characters, none of them a control character or a comma"

    /// Counted in code points, as JSON Schema's maxLength counts.
    static func isValid(_ tag: String) -> Bool {
        (1...maxTagLength).contains(tag.unicodeScalars.count)
            && !tag.unicodeScalars.contains { $0.properties.generalCategory == .control || $0 == "," }
    }

    /// The tags of a submission, in order, without repeats.
    static func parse(_ value: JSONValue?) throws -> [String] {
        guard let value, value != .null else { return [] }
        guard case .array(let items) = value else {
            throw Problem(
                .unprocessableContent, code: .invalidType, title: "Invalid field",
                detail: "must be an array of strings, got \(value.typeName)", field: "tags")
        }
        guard items.count <= maxTags else {
            throw Problem(
                .unprocessableContent, code: .outOfRange, title: "Invalid field",
                detail: "has \(items.count) tags; at most \(maxTags)", field: "tags")
        }
        var tags: [String] = []
        for (index, item) in items.enumerated() {
            guard let tag = item.stringValue, isValid(tag) else {
                throw Problem(.unprocessableContent, code: .invalidValue, title: "Invalid field", detail: rule, field: "tags[\(index)]")
            }
            if !tags.contains(tag) { tags.append(tag) }
        }
        return tags
    }
}
