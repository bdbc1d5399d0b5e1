import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Jobs

/// An RFC 9457 problem: every error the API returns is one of these, as `application/problem+json`,
/// with a stable `code` clients can switch on and, for input errors, the offending `field`.
public struct Problem: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: ProblemCode
    public var title: String
    public var detail: String
    public var field: String?
    public var headers: HTTPFields

    public init(
        _ status: HTTPResponse.Status, code: ProblemCode, title: String, detail: String, field: String? = nil,
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.field = field
        self.headers = headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        response(instance: request.uri.path)
    }

    func response(instance: String) -> Response {
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: body(instance: instance)))
    }

    /// The problem document (RFC 9457) as JSON.
    func body(instance: String) -> ByteBuffer {
        var body: [String: JSONValue] = [
            "type": .string("urn:montecluster:problem:\(code.rawValue)"),
            "title": .string(title),
            "status": .integer(Int64(status.code)),
            "detail": .string(detail),
            "code": .string(code.rawValue),
            "instance": .string(instance),
        ]
        if let field { body["field"] = .string(field) }
        return ByteBuffer(string: JSONValue.object(body).canonicalText())
    }
}

extension Problem {
    static func malformedJSON(_ detail: String) -> Problem {
        Problem(.badRequest, code: .malformedJson, title: "Malformed JSON", detail: detail, field: "body")
    }

    static func invalid(_ error: ParameterError) -> Problem {
        Problem(
            .unprocessableContent, code: ProblemCode(rawValue: error.code.rawValue) ?? .invalidValue, title: "Invalid parameter",
            detail: error.reason,
            field: error.field)
    }

    static func diskFull(free: Int64?, minimum: Int64) -> Problem {
        Problem(
            .insufficientStorage, code: .insufficientStorage, title: "Insufficient storage",
            detail: "the server's disk is full" + (free.map { " (\($0) bytes free, \(minimum) needed)" } ?? "")
                + "; delete jobs or datasets to free space", headers: [.retryAfter: "30"])
    }

    static func invalidQuery(_ field: String, _ reason: String) -> Problem {
        Problem(.badRequest, code: .invalidQuery, title: "Invalid query parameter", detail: reason, field: field)
    }

    static func jobNotFound(_ id: String) -> Problem {
        Problem(
            .notFound, code: .jobNotFound, title: "Job not found", detail: "no job with id \"\(id.prefix(100))\"",
            field: "id")
    }

    static func routeNotFound(_ path: String) -> Problem {
        Problem(.notFound, code: .notFound, title: "Not found", detail: "no resource at \(path.prefix(200))")
    }

    static func bodyTooLarge(limit: Int) -> Problem {
        Problem(
            .contentTooLarge, code: .bodyTooLarge, title: "Request body too large",
            detail: "request bodies are limited to \(limit) bytes", field: "body")
    }

    static func unsupportedMediaType(_ given: String?) -> Problem {
        Problem(
            .unsupportedMediaType, code: .unsupportedMediaType, title: "Unsupported media type",
            detail: "send the body as application/json" + (given.map { ", not \($0.prefix(100))" } ?? ""),
            field: "Content-Type", headers: [.accept: "application/json"])
    }

    static func methodNotAllowed(_ method: HTTPRequest.Method, allowed: [HTTPRequest.Method]) -> Problem {
        Problem(
            .methodNotAllowed, code: .methodNotAllowed, title: "Method not allowed",
            detail: "\(method.rawValue) is not allowed here; use \(allowed.map(\.rawValue).joined(separator: ", "))",
            headers: [.allow: allowed.map(\.rawValue).joined(separator: ", ")])
    }

    /// Maps store errors onto the API's problems.
    static func from(_ error: JobStoreError) -> Problem {
        switch error {
        case .notFound(let id):
            return jobNotFound(id)
        case .illegalTransition(_, let current, let requested):
            return Problem(
                .conflict, code: .illegalTransition, title: "Illegal state transition",
                detail: "cannot \(requested) a job that is \(current.rawValue)", field: "status")
        case .idempotencyConflict(let key, let existing):
            return Problem(
                .conflict, code: .idempotencyConflict, title: "Idempotency key reused",
                detail: "the Idempotency-Key \"\(key.prefix(100))\" was used for job \(existing) with a different request body",
                field: "Idempotency-Key")
        case .referenceMissing(let reference):
            return Problem(
                .unprocessableContent, code: .invalidValue, title: "Invalid parameter",
                detail: "no \(reference.missing) with id '\(reference.id.prefix(100))'" + (reference.hint.map { "; \($0)" } ?? ""),
                field: reference.field)
        case .quotaExceeded(let what, let limit, let current):
            let storage = what == "stored bytes"
            return Problem(
                storage ? .insufficientStorage : .tooManyRequests, code: .quotaExceeded, title: "Quota exceeded",
                detail: "your \(what): \(current) of a limit of \(limit); "
                    + (storage ? "delete datasets or jobs to free space" : "wait for some to finish"),
                headers: storage ? [:] : [.retryAfter: "5"])
        case .queueFull(let limit):
            return Problem(
                .tooManyRequests, code: .queueFull, title: "Queue full",
                detail: "\(limit) jobs are already queued; retry later", headers: [.retryAfter: "5"])
        }
    }
}

extension HTTPResponse.Status {
    /// 507 (RFC 4918): the server cannot store what the request needs.
    static let insufficientStorage = HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")
}
