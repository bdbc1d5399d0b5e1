import Hummingbird
import Jobs

/// `GET /v1/kinds`: what can be submitted, with parameter schemas and runnable examples.
struct KindRoutes: Sendable {
    let registry: JobKindRegistry

    struct KindResource: Encodable {
        var name: String
        var summary: String
        var parameters: JSONValue
        var defaults: JSONValue
        var example: JSONValue
        var metrics: [MetricDeclaration]
    }

    struct KindList: Encodable {
        var kinds: [KindResource]
    }

    func register(_ routes: inout Routes) {
        let registry = self.registry
        routes.add(.get, "/v1/kinds") { _, _ in
            try JSONResponse.make(KindList(kinds: registry.kinds.map(Self.resource)))
        }
        routes.add(.get, "/v1/kinds/{name}") { _, context in
            let name = try context.parameters.require("name")
            guard let kind = registry[name] else {
                throw Problem(
                    .notFound, code: .unknownKind, title: "Unknown job kind",
                    detail: "no job kind \"\(name.prefix(100))\"; known kinds: \(registry.names.joined(separator: ", "))",
                    field: "name")
            }
            return try JSONResponse.make(Self.resource(kind))
        }
    }

    static func resource(_ kind: any JobKind) -> KindResource {
        KindResource(
            name: kind.name, summary: kind.summary, parameters: kind.parameters.jsonSchema,
            defaults: kind.parameters.defaults, example: kind.example,
            metrics: kind.metrics)
    }
}
