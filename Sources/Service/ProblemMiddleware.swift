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
            return Problem(
                error.status, code: .httpError, title: error.status.reasonPhrase,
                detail: "\(error)"
            ).response(instance: request.uri.path)
        } catch  where StorageSpace.isOutOfSpace(error) {
            context.logger.error("out of disk space", metadata: ["error": "\(error)"])
            return Problem.diskFull(free: nil, minimum: 0).response(instance: request.uri.path)
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(error)"])
            return Problem(
                .internalServerError, code: .internal, title: "Internal error",
                detail: "the server failed to handle this request; it has been logged"
            )
            .response(instance: request.uri.path)
        }
    }
}

/// The API's path templates and their methods, to tell "no such path" (404) from "wrong method" (405).
/// Filled only by `Routes`, so the 405 table cannot drift from the routes served.
struct RouteTable: Sendable {
    private(set) var entries: [(components: [String], methods: [HTTPRequest.Method])] = []

    fileprivate mutating func add(_ path: String, _ method: HTTPRequest.Method) {
        let components = Self.split(path)
        if let index = entries.firstIndex(where: { $0.components == components }) {
            entries[index].methods.append(method)
        } else {
            entries.append((components, [method]))
        }
    }

    func allowedMethods(for path: String) -> [HTTPRequest.Method]? {
        let components = Self.split(path)
        for entry in entries where entry.components.count == components.count {
            let matches = zip(entry.components, components).allSatisfy { template, actual in
                template.hasPrefix("{") || template == actual
            }
            if matches { return entry.methods.sorted { $0.rawValue < $1.rawValue } }
        }
        return nil
    }

    private static func split(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }
}

/// Where every route is declared, once: its method, its path template (as in openapi.yaml), the query
/// parameters it accepts and its handler. A query parameter it does not accept is a 400 naming it, so
/// a misspelt filter (`?nmae=x`) never silently returns everything.
struct Routes {
    let router: Router<AppRequestContext>
    private(set) var table = RouteTable()

    init(router: Router<AppRequestContext>) { self.router = router }

    mutating func add(
        _ method: HTTPRequest.Method, _ path: String, query: [String] = [],
        _ handler: @escaping @Sendable (Request, AppRequestContext) async throws -> Response
    ) {
        table.add(path, method)
        // Hummingbird answers HEAD from a GET handler (headers, no body).
        if method == .get { table.add(path, .head) }
        // Hummingbird spells captures `:id` where OpenAPI spells `{id}`.
        let routerPath = path.split(separator: "/", omittingEmptySubsequences: false).map { component in
            component.hasPrefix("{") && component.hasSuffix("}") ? ":" + component.dropFirst().dropLast() : component
        }.joined(separator: "/")
        let accepted = Set(query)
        router.on(RouterPath(routerPath), method: method) { request, context in
            for (name, _) in request.uri.queryParameters where !accepted.contains(String(name)) {
                throw Problem(
                    .badRequest, code: .unknownQueryParameter, title: "Unknown query parameter",
                    detail: accepted.isEmpty
                        ? "this operation takes no query parameters"
                        : "not a query parameter of this operation; it takes \(accepted.sorted().joined(separator: ", "))",
                    field: String(name.prefix(100)))
            }
            return try await handler(request, context)
        }
    }
}

/// Lets the middleware, which must be added before the routes, see the table filled in after them.
final class RouteTableBox: Sendable {
    private let storage = Mutex(RouteTable())
    var table: RouteTable { storage.withLock { $0 } }
    func set(_ table: RouteTable) { storage.withLock { $0 = table } }
}
