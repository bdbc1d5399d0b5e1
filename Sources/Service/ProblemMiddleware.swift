import HTTPTypes
import Hummingbird
import NIOCore
import Jobs
import Logging
import Synchronization

/// Turns every error that escapes a handler into a problem+json response, so no input can
/// produce an HTML page, an empty 500 or a dropped connection. Also answers 405 for a known
/// path with the wrong method.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteTableBox
    let maxBodyBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            return problem.response(instance: request.uri.path)
        } catch let error as JobStoreError {
            return Problem.from(error).response(instance: request.uri.path)
        } catch let error as ParameterError {
            return Problem.invalid(error).response(instance: request.uri.path)
        } catch let error as HTTPError where error.status == .notFound {
            if let allowed = routes.table.allowedMethods(for: request.uri.path), !allowed.contains(request.method) {
                return Problem.methodNotAllowed(request.method, allowed: allowed).response(instance: request.uri.path)
            }
            return Problem.routeNotFound(request.uri.path).response(instance: request.uri.path)
        } catch let error as HTTPResponseError where error.status == .contentTooLarge {
            return Problem.bodyTooLarge(limit: maxBodyBytes).response(instance: request.uri.path)
        } catch let error as HTTPResponseError {
            return Problem(error.status, code: "http_error", title: error.status.reasonPhrase,
                           detail: "\(error)").response(instance: request.uri.path)
        } catch where StorageSpace.isOutOfSpace(error) {
            context.logger.error("out of disk space", metadata: ["error": "\(error)"])
            return Problem.diskFull(free: nil, minimum: 0).response(instance: request.uri.path)
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(error)"])
            return Problem(.internalServerError, code: "internal", title: "Internal error",
                           detail: "the server failed to handle this request; it has been logged")
                .response(instance: request.uri.path)
        }
    }
}

/// The API's path templates and their methods, to tell "no such path" (404) from "wrong method" (405).
struct RouteTable: Sendable {
    private(set) var entries: [(components: [String], methods: [HTTPRequest.Method])] = []

    mutating func add(_ path: String, _ methods: [HTTPRequest.Method]) {
        entries.append((Self.split(path), methods))
    }

    func allowedMethods(for path: String) -> [HTTPRequest.Method]? {
        let components = Self.split(path)
        for entry in entries where entry.components.count == components.count {
            let matches = zip(entry.components, components).allSatisfy { template, actual in
                template.hasPrefix("{") || template == actual
            }
            if matches { return entry.methods }
        }
        return nil
    }

    private static func split(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }
}

/// Lets the middleware, which must be added before the routes, see the table filled in after them.
final class RouteTableBox: Sendable {
    private let storage = Mutex(RouteTable())
    var table: RouteTable { storage.withLock { $0 } }
    func set(_ table: RouteTable) { storage.withLock { $0 = table } }
}
