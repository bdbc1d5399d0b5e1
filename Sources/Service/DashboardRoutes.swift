import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The web dashboard at `/`: three embedded files (HTML, JavaScript, CSS; no CDN, no build step) over the public API.
struct DashboardRoutes: Sendable {
    /// Only this server's own scripts, styles and API; images may also be data: and blob: URLs (plots fetched with a token).
    static let contentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

    func register(_ routes: inout Routes) {
        for asset in DashboardAssets.all {
            routes.add(.get, asset.path) { request, _ in Self.serve(asset, request) }
        }
    }

    static func serve(_ asset: DashboardAsset, _ request: Request) -> Response {
        var headers: HTTPFields = [
            .contentType: asset.mediaType, .eTag: asset.etag, .cacheControl: "no-cache", .contentSecurityPolicy: contentSecurityPolicy,
            HTTPField.Name("X-Content-Type-Options")!: "nosniff", HTTPField.Name("Referrer-Policy")!: "no-referrer",
        ]
        if JobRoutes.matches(request.headers[.ifNoneMatch], asset.etag) { return Response(status: .notModified, headers: headers) }
        headers[.contentLength] = String(asset.text.utf8.count)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: asset.text)))
    }
}
