import Hummingbird
import NIOCore

/// `GET /openapi.yaml` and `GET /openapi.json`: the server's own contract, so a client generator or
/// a notebook can be pointed at a running server. The text is `OpenAPIDocument` (written from
/// openapi.yaml by scripts/sync-openapi-kinds.py; a test fails when the two differ).
struct OpenAPIRoutes: Sendable {
    func register(_ routes: inout Routes) {
        let yaml = ByteBuffer(string: OpenAPIDocument.yaml)
        let json = ByteBuffer(string: OpenAPIDocument.json)
        routes.add(.get, "/openapi.yaml") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/yaml; charset=utf-8", .cacheControl: "no-cache"], body: .init(byteBuffer: yaml))
        }
        routes.add(.get, "/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-cache"], body: .init(byteBuffer: json))
        }
    }
}
