import ClusterKinds
import Clustering
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Jobs
import NIOCore
import Plots
import Synchronization

/// `/v1/jobs/{id}/plots`: what a finished job can show, drawn by the `Plots` library as SVG or PNG. A finished job's
/// plots never change, so each rendering is cached (bounded by bytes) and carries a strong ETag.
struct PlotRoutes: Sendable {
    let state: ServiceState
    let library: DatasetLibrary
    let cache: PlotCache

    func register(_ routes: inout Routes) {
        routes.add(.get, "/v1/jobs/{id}/plots") { request, context in try await list(request, context) }
        routes.add(.get, "/v1/jobs/{id}/plots/{file}", query: PlotOptions.names) { request, context in try await render(request, context) }
        for format in ["svg", "png"] {
            routes.add(.get, "/v1/datasets/{id}/preview.\(format)") { request, context in try await preview(request, context, format: format) }
        }
    }

    /// A dataset's samples by label (images) or its PCA by label (vectors); datasets never change, so neither does this.
    private func preview(_ request: Request, _ context: AppRequestContext, format: String) async throws -> Response {
        let id = try context.parameters.require("id")
        let library = self.library
        let visible = context.caller.visible
        guard let record = try await offload({ try library.store.dataset(id: id) }), visible.allows(record.owner) else {
            throw Problem(.notFound, code: .datasetNotFound, title: "Dataset not found", detail: "no dataset \(id.prefix(100))", field: "id")
        }
        let key = ["dataset", id, format].joined(separator: "\u{1F}")
        let etag = "\"preview-" + SHA256.hash(data: Data(key.utf8)).prefix(12).map { String(format: "%02x", $0) }.joined() + "\""
        var headers: HTTPFields = [
            .contentType: format == "svg" ? "image/svg+xml" : "image/png", .eTag: etag, .cacheControl: "no-cache",
            .contentSecurityPolicy: "default-src 'none'; img-src data:; style-src 'unsafe-inline'",
        ]
        if JobRoutes.matches(request.headers[.ifNoneMatch], etag) { return Response(status: .notModified, headers: headers) }
        let body: Data
        if let cached = cache.get(key) {
            body = cached
        } else {
            let name = record.name ?? id
            let (count, isImages) = (
                record.meta["samples"]?.integerValue.map { Int(clamping: $0) } ?? 0, record.meta["kind"]?.stringValue == "images"
            )
            body = try await HeavyWorkPool.shared.run {
                // The labels and the few samples shown, not the whole dataset.
                let figure = try DatasetPlots.preview(
                    count: count, labels: try library.labels(id), isImages: isImages, name: name, samples: { try library.samples(id, indices: $0) })
                return format == "svg" ? figure.svg() : figure.png()
            }
            cache.put(key, body)
        }
        headers[.contentLength] = String(body.count)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    private func list(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let job = try await state.job(id, for: context.caller)
        // Which plots apply reads small artifacts (draws.json): off the event loop, like the listing itself.
        let available = try await offload { [self] in PlotCatalog.available(try plotSource(job)) }
        let entries: [JSONValue] = available.map {
            [
                "name": .string($0.name), "title": .string($0.title), "description": .string($0.description),
                "svg": .string("/v1/jobs/\(id)/plots/\($0.name).svg"), "png": .string("/v1/jobs/\(id)/plots/\($0.name).png"),
            ]
        }
        let body: JSONValue = ["job_id": .string(id), "ready": .bool(job.isTerminal), "plots": .array(entries)]
        return Response(
            status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(string: body.canonicalText())))
    }

    private func render(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let file = try context.parameters.require("file")
        let (name, format): (Substring, String)
        if file.hasSuffix(".svg") {
            (name, format) = (file.dropLast(4), "svg")
        } else if file.hasSuffix(".png") {
            (name, format) = (file.dropLast(4), "png")
        } else {
            throw Problem(
                .notFound, code: .plotNotFound, title: "Plot not found",
                detail: "a plot is NAME.svg or NAME.png (see GET /v1/jobs/\(id)/plots), got \"\(file.prefix(80))\"", field: "name")
        }
        let parameters = request.uri.queryParameters
        var options = PlotOptions()
        for field in PlotOptions.names {
            guard let value = parameters.get(field) else { continue }
            guard !value.isEmpty, value.unicodeScalars.count <= 200 else {
                throw Problem.invalidQuery(field, "must be 1 to 200 characters (a coordinate name)")
            }
            if field == "x" { options.x = value } else { options.y = value }
        }
        let job = try await state.job(id, for: context.caller)
        guard job.isTerminal else {
            throw Problem(
                .conflict, code: .plotNotReady, title: "Plot not ready",
                detail:
                    "job \(id) is \(job.status.rawValue): plots are drawn once it has finished (its metrics stream live at /v1/jobs/\(id)/events)",
                field: "status", headers: [.retryAfter: "1"])
        }
        let key = [id, String(job.version), String(name), format, options.x ?? "", options.y ?? ""].joined(separator: "\u{1F}")
        let etag = "\"plot-" + SHA256.hash(data: Data(key.utf8)).prefix(12).map { String(format: "%02x", $0) }.joined() + "\""
        let mediaType = format == "svg" ? "image/svg+xml" : "image/png"
        // An SVG opened on its own is a document: it may not run scripts or load anything (its text is escaped; this is the belt).
        var headers: HTTPFields = [
            .contentType: mediaType, .eTag: etag, .cacheControl: "no-cache",
            .contentSecurityPolicy: "default-src 'none'; img-src data:; style-src 'unsafe-inline'",
        ]
        if JobRoutes.matches(request.headers[.ifNoneMatch], etag) { return Response(status: .notModified, headers: headers) }
        let body: Data
        if let cached = cache.get(key) {
            body = cached
        } else {
            let (plotName, plotOptions) = (String(name), options)
            let drawn: Data = try await HeavyWorkPool.shared.run { [self] in
                let source = try plotSource(job)
                do {
                    let figure = try PlotCatalog.render(plotName, source, options: plotOptions)
                    return format == "svg" ? figure.svg() : figure.png()
                } catch let error as PlotError {
                    throw Self.problem(error, jobID: id, name: plotName)
                }
            }
            cache.put(key, drawn)
            body = drawn
        }
        headers[.contentLength] = String(body.count)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func problem(_ error: PlotError, jobID: String, name: String) -> Problem {
        switch error {
        case .unknownPlot(_, let available):
            Problem(
                .notFound, code: .plotNotFound, title: "Plot not found",
                detail: "job \(jobID) has no plot \"\(name.prefix(80))\"; it has: \(available.isEmpty ? "none" : available.joined(separator: ", "))",
                field: "name")
        case .invalidOption(let field, let reason):
            Problem.invalidQuery(field, reason)
        case .unreadable(let reason):
            Problem(.conflict, code: .plotUnavailable, title: "Plot unavailable", detail: "cannot draw \(name.prefix(80)): \(reason)", field: "name")
        }
    }

    /// What the plots may read of `job`: blocking reads, called off the event loop.
    func plotSource(_ job: Job) throws -> PlotSource {
        let store = state.store
        let library = self.library
        let artifacts = try store.artifacts(jobID: job.id).map(\.name)
        let metricNames = try store.metricSeries(jobID: job.id).map(\.name)
        let id = job.id
        var source = PlotSource(
            job: job, artifactNames: Set(artifacts), metricNames: metricNames,
            artifact: { try store.artifact(jobID: id, name: $0)?.data },
            metrics: { try store.metrics(jobID: id, matching: MetricQuery(limit: 200_000)) },
            labels: {
                guard let reference = try Self.datasetReference(of: job, store: store) else { return nil }
                if reference.name.hasPrefix("generated:") { return try? reference.load(library).labels }
                return try? library.labels(reference.name)
            },
            samples: { indices in
                guard let reference = try Self.datasetReference(of: job, store: store) else { return nil }
                return try? library.samples(
                    reference.name, indices: indices, generatedSamples: reference.samples, generatedClasses: reference.classes, seed: reference.seed)
            },
            otherArtifact: { other, name in try store.artifact(jobID: other, name: name)?.data })
        source.metricDeclarations = state.registry[job.kind]?.metrics ?? []
        return source
    }

    /// The dataset a job's parameters name, with a generated one's settings (a RUC job's comes from its source job).
    struct DatasetReference {
        let name: String
        let samples: Int
        let classes: Int
        let seed: UInt64
        func load(_ library: DatasetLibrary) throws -> Dataset {
            try library.load(name, generatedSamples: samples, generatedClasses: classes, seed: seed)
        }
    }

    static func datasetReference(of job: Job, store: any JobStore) throws -> DatasetReference? {
        var params = job.params
        if params["dataset"]?.stringValue == nil, let source = params["source_job"]?.stringValue, let sourceJob = try store.job(id: source) {
            params = sourceJob.params
        }
        guard let reference = params["dataset"]?.stringValue else { return nil }
        return DatasetReference(
            name: reference, samples: params["generated_samples"]?.integerValue.map { Int(clamping: $0) } ?? 600,
            classes: params["generated_classes"]?.integerValue.map { Int(clamping: $0) } ?? 3,
            seed: params["seed"]?.integerValue.map { UInt64(clamping: max(0, $0)) } ?? 0)
    }
}

/// Rendered plots by job, version, name, format and options; least recently used out first, bounded by bytes.
final class PlotCache: Sendable {
    private let entries = Mutex<(items: [String: (data: Data, used: UInt64)], bytes: Int, clock: UInt64)>(([:], 0, 0))
    let limit: Int

    init(limitBytes: Int = 64 << 20) { limit = limitBytes }

    func get(_ key: String) -> Data? {
        entries.withLock { state in
            guard let entry = state.items[key] else { return nil }
            state.clock += 1
            state.items[key] = (entry.data, state.clock)
            return entry.data
        }
    }

    func put(_ key: String, _ data: Data) {
        guard data.count <= limit / 4 else { return }
        entries.withLock { state in
            state.clock += 1
            if let old = state.items[key] { state.bytes -= old.data.count }
            state.items[key] = (data, state.clock)
            state.bytes += data.count
            while state.bytes > limit, let oldest = state.items.min(by: { $0.value.used < $1.value.used }) {
                state.items[oldest.key] = nil
                state.bytes -= oldest.value.data.count
            }
        }
    }
}
