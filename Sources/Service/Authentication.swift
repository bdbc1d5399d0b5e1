import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Jobs
import Synchronization

/// Who is asking: the token's owner name, or nobody (`owner == nil`: no token, allowed on loopback only).
struct Caller: Sendable, Equatable {
    var owner: String?
    var admin: Bool
    var scopes: Set<String>

    static let anonymous = Caller(owner: nil, admin: false, scopes: [])

    /// What this caller may see: everything for an admin, otherwise its own rows.
    var visible: OwnerFilter { admin ? .any : .only(owner) }
}

/// The request context of every route: Hummingbird's core storage plus the authenticated caller.
struct AppRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    var caller = Caller.anonymous

    init(source: Source) {
        coreContext = .init(source: source)
    }
}

/// API tokens: `mc_` + 32 random bytes (base64url). Only their SHA-256 is stored.
enum TokenSecrets {
    static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let text = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return "mc_" + text
    }

    static func hash(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

/// Everything about a request that is decided before its route: the Host header (DNS rebinding),
/// the browser origin of state-changing requests (CSRF), CORS, and the bearer token.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let store: any TokenStore
    let policy: AccessPolicy
    let tokens = TokenCache()

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try checkHost(request)
        let origin = request.headers[.origin]
        if request.method == .options, let origin, request.headers[.accessControlRequestMethod] != nil {
            return try preflight(origin: origin)
        }
        try checkOrigin(request, origin: origin)
        var context = context
        context.caller = try await caller(request)
        return try await next(request, context)
    }

    /// Only the names this server answers to: a page on an attacker's domain that rebinds its DNS to
    /// 127.0.0.1 still sends its own name as Host.
    private func checkHost(_ request: Request) throws {
        guard let authority = request.head.authority else {
            throw Problem(.badRequest, code: .hostNotAllowed, title: "Host not allowed", detail: "the request has no Host header", field: "Host")
        }
        guard policy.allows(host: authority) else {
            throw Problem(
                .forbidden, code: .hostNotAllowed, title: "Host not allowed",
                detail: "this server answers to \(policy.allowedHosts.sorted().joined(separator: ", ")), "
                    + "not \(authority.prefix(100)) (montecluster serve --allowed-host)",
                field: "Host")
        }
    }

    /// A browser page may only change state here from an origin CORS allows (or this server's own):
    /// a form or a "simple" fetch from another site would otherwise ride on a loopback server's trust.
    private func checkOrigin(_ request: Request, origin: String?) throws {
        guard let origin, ![.get, .head, .options].contains(request.method) else { return }
        if policy.corsOrigins.contains(origin) || policy.isSameOrigin(origin, host: request.head.authority) { return }
        throw Problem(
            .forbidden, code: .originNotAllowed, title: "Origin not allowed",
            detail: "requests from \(origin.prefix(100)) may not change anything here; allow it with montecluster serve --cors-origin",
            field: "Origin")
    }

    private func preflight(origin: String) throws -> Response {
        guard policy.corsOrigins.contains(origin) else {
            throw Problem(
                .forbidden, code: .originNotAllowed, title: "Origin not allowed",
                detail: "CORS is not enabled for \(origin.prefix(100)) (montecluster serve --cors-origin)", field: "Origin")
        }
        return Response(
            status: .noContent,
            headers: [
                .accessControlAllowOrigin: origin, .vary: "Origin",
                .accessControlAllowMethods: "GET, POST, DELETE, OPTIONS",
                .accessControlAllowHeaders: "Authorization, Content-Type, Idempotency-Key, If-None-Match, Last-Event-ID",
                .accessControlMaxAge: "600",
            ])
    }

    private func caller(_ request: Request) async throws -> Caller {
        guard let header = request.headers[.authorization] else {
            guard !policy.requireToken || policy.openPaths.contains(request.uri.path) else {
                throw Problem(
                    .unauthorized, code: .unauthorized, title: "Token required",
                    detail: "send Authorization: Bearer <token>; create one with montecluster tokens create --name NAME",
                    field: "Authorization", headers: [.wwwAuthenticate: "Bearer"])
            }
            return .anonymous
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", parts[1].count <= 200 else {
            throw Problem(
                .unauthorized, code: .unauthorized, title: "Invalid credentials",
                detail: "the Authorization header must be 'Bearer <token>'", field: "Authorization",
                headers: [.wwwAuthenticate: "Bearer"])
        }
        let hash = TokenSecrets.hash(String(parts[1]))
        let token: APIToken?
        if let cached = tokens.lookup(hash) {
            token = cached
        } else {
            let store = self.store
            token = try await offload { try store.token(hash: hash) }
            tokens.store(hash, token)
        }
        guard let token else {
            throw Problem(
                .unauthorized, code: .unauthorized, title: "Invalid credentials",
                detail: "the token is not known (revoked, or from another server)", field: "Authorization",
                headers: [.wwwAuthenticate: "Bearer error=\"invalid_token\""])
        }
        return Caller(owner: token.name, admin: token.admin, scopes: token.scopes)
    }
}

/// CORS headers for an allowed origin, on every answer including problems: it stands outside the
/// problem middleware, so a notebook page can read a 422's `field` as well as a 201.
struct CORSHeadersMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let policy: AccessPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if let origin = request.headers[.origin], policy.corsOrigins.contains(origin), response.headers[.accessControlAllowOrigin] == nil {
            response.headers[.accessControlAllowOrigin] = origin
            response.headers[.vary] = "Origin"
            response.headers[.accessControlExposeHeaders] = "ETag, Location, Retry-After, Idempotent-Replayed"
        }
        return response
    }
}

/// Who may reach the server and how, from `montecluster serve`'s flags.
struct AccessPolicy: Sendable {
    /// Every request needs a token (any non-loopback address, or --require-auth).
    var requireToken: Bool
    /// Host names (without port) requests may carry; empty allows any (only with --allowed-host '*').
    var allowedHosts: Set<String>
    var corsOrigins: Set<String>
    /// /metrics without a metrics-scope token.
    var publicMetrics: Bool
    /// Paths answered without a token even when tokens are required (health checks of load balancers).
    var openPaths: Set<String> { publicMetrics ? ["/healthz", "/readyz", "/metrics"] : ["/healthz", "/readyz"] }

    init(_ configuration: ServiceConfiguration) {
        let loopback = Self.isLoopback(configuration.host)
        requireToken = configuration.requireAuth || (!loopback && !configuration.insecureNoAuth)
        var hosts = Self.loopbackNames.union(configuration.allowedHosts.map { $0.lowercased() })
        if !["0.0.0.0", "::", "[::]"].contains(configuration.host) { hosts.insert(configuration.host.lowercased()) }
        allowedHosts = hosts
        corsOrigins = Set(configuration.corsOrigins)
        publicMetrics = configuration.publicMetrics
    }

    func allows(host authority: String) -> Bool {
        if allowedHosts.contains("*") { return true }
        return allowedHosts.contains(Self.hostName(authority).lowercased())
    }

    func isSameOrigin(_ origin: String, host: String?) -> Bool {
        guard let host, let url = URL(string: origin), let originHost = url.host else { return false }
        let port = url.port.map { ":\($0)" } ?? ""
        return (originHost + port).lowercased() == host.lowercased()
            || (originHost.lowercased() == Self.hostName(host).lowercased() && url.port == nil)
    }

    /// `host:port`, `[::1]:port` or `host` → the host.
    static func hostName(_ authority: String) -> String {
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            return String(authority[authority.startIndex...close])
        }
        return String(authority.split(separator: ":", maxSplits: 1).first ?? "")
    }

    static let loopbackNames: Set<String> = ["localhost", "127.0.0.1", "[::1]", "::1"]

    static func isLoopback(_ host: String) -> Bool {
        loopbackNames.contains(host.lowercased()) || host.hasPrefix("127.")
    }
}

/// Creates a token for `name` and returns its secret, which is shown once and never stored.
public func issueToken(name: String, admin: Bool, scopes: Set<String>, store: any TokenStore) -> Result<String, any Error> {
    let secret = TokenSecrets.generate()
    return Result {
        try store.insertToken(APIToken(name: name, admin: admin, scopes: scopes, createdAt: Date()), hash: TokenSecrets.hash(secret))
        return secret
    }
}

/// Token lookups for 5 s, so authenticated requests do not each wait for a database reader; a revoked
/// token stops working within that time.
final class TokenCache: Sendable {
    private let entries = Mutex<[String: (token: APIToken?, expires: ContinuousClock.Instant)]>([:])
    static let lifetime = Duration.seconds(5)

    /// `nil`: not cached; `.some(nil)`: known to be no token.
    func lookup(_ hash: String) -> APIToken?? {
        entries.withLock { entries in
            guard let entry = entries[hash], entry.expires > .now else { return nil }
            return .some(entry.token)
        }
    }

    func store(_ hash: String, _ token: APIToken?) {
        entries.withLock { entries in
            // Unknown tokens are cached too (a client retrying a bad token costs no reads), but the map is
            // bounded: past 10,000 entries it starts over.
            if entries.count > 10_000 { entries.removeAll() }
            entries[hash] = (token, .now + Self.lifetime)
        }
    }
}
