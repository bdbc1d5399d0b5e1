import ClusterKinds
import Clustering
import Foundation
import HTTPTypes
import Hummingbird
import Jobs
import NIOCore

/// `/v1/datasets` (upload, list, describe, delete) and `POST /v1/jobs/{id}/predict`, which assigns
/// clusters to new data with a finished job's trained model.
struct DatasetRoutes: Sendable {
    let state: ServiceState
    let library: DatasetLibrary

    func register(_ routes: inout Routes) {
        // Query parameters of an upload are checked by the receiver (they are the form's text fields).
        routes.add(.post, "/v1/datasets", query: UploadReceiver.textFields) { request, context in try await upload(request, context) }
        routes.add(.get, "/v1/datasets", query: ["limit"]) { request, context in try await list(request, context) }
        routes.add(.get, "/v1/datasets/{id}") { request, context in try await read(request, context) }
        routes.add(.delete, "/v1/datasets/{id}") { request, context in try await delete(request, context) }
        routes.add(.post, "/v1/jobs/{id}/predict") { request, context in try await predict(request, context) }
    }

    private var receiver: UploadReceiver {
        UploadReceiver(
            fileParts: ["data", "labels"], textFields: Set(UploadReceiver.textFields), limit: state.configuration.maxUploadBytes,
            scratch: { [library] in library.scratchFile() })
    }

    private func upload(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        try state.requireSpace()
        let received = try await receiver.receive(request)
        defer { received.removeFiles() }
        let data = try received.dataPart(for: "the upload needs a 'data' part with the file")
        if let name = received.fields["name"], name.count > 200 {
            throw Problem(
                .unprocessableContent, code: .invalidValue, title: "Invalid value", detail: "name is limited to 200 characters", field: "name")
        }
        let (library, owner) = (self.library, context.caller.owner)
        let (labels, name, labelColumn) = (received.files["labels"]?.url, received.fields["name"], received.fields["label_column"])
        let record = try await Self.checked {
            try await HeavyWorkPool.shared.run {
                let upload = DatasetLibrary.Upload(
                    data: data.url, dataSHA256: try UploadReceiver.sha256(of: data.url), dataBytes: data.bytes,
                    labels: labels, name: name, labelColumn: labelColumn)
                return try library.ingest(upload, owner: owner)
            }
        }
        return Self.json(DatasetLibrary.describe(record), status: .created, headers: [.location: "/v1/datasets/\(record.id)"])
    }

    private func list(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let limit = try RequestParsing.integer(request, "limit", default: 100, range: 1...1000) ?? 100
        let (store, visible) = (library.store, context.caller.visible)
        let records = try await offload { try store.datasets(limit: limit, owner: visible) }
        return Self.json(["datasets": .array(records.map(DatasetLibrary.describe))])
    }

    private func read(_ request: Request, _ context: AppRequestContext) throws -> Response {
        let id = try context.parameters.require("id")
        guard let record = try library.store.dataset(id: id), context.caller.visible.allows(record.owner) else { throw Self.notFound(id) }
        return Self.json(DatasetLibrary.describe(record))
    }

    private func delete(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let (library, visible, storage) = (self.library, context.caller.visible, state.storage)
        do {
            try await offload {
                try storage.withReserve { try library.delete(id: id, owner: visible) }
                storage.restoreReserve()
            }
        } catch DatasetStoreError.notFound {
            throw Self.notFound(id)
        } catch DatasetStoreError.inUse(_, let jobs) {
            throw Problem(
                .conflict, code: .datasetInUse, title: "Dataset in use",
                detail: "queued or running jobs use this dataset: \(jobs.joined(separator: ", ")); cancel them or wait for them to finish",
                field: "id")
        }
        return Response(status: .noContent)
    }

    private func predict(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let job = try await state.job(id, for: context.caller)
        guard job.status == .succeeded else {
            throw Problem(
                .conflict, code: .jobNotSucceeded, title: "No trained model yet",
                detail: "job \(id) is \(job.status.rawValue); prediction needs a succeeded clustering job", field: "id")
        }
        let store = state.store
        // The model may be megabytes: read off the cooperative pool.
        // model.json names the kind, model.safetensors holds the weights (a 0.2 job's one plist still loads).
        let loaded = try await offload { () -> (model: any TrainedModel, pixelScale: Float?)? in
            do {
                let artifact = { (name: String) in try store.artifact(jobID: id, name: name)?.data }
                guard let model = try TrainedModels.load(artifact) else { return nil }
                return (model, try TrainedModels.pixelScale(artifact))
            } catch let error as TrainedModels.LoadError {
                throw Problem(
                    .conflict, code: .noModel, title: "Unreadable model", detail: "job \(id)'s saved model cannot be read: \(error)", field: "id")
            }
        }
        guard let (model, pixelScale) = loaded else {
            throw Problem(
                .conflict, code: .noModel, title: "No trained model",
                detail: "job \(id) (\(job.kind)) has no trained model; \(TrainedModels.jobKinds.joined(separator: ", ")) jobs have one", field: "id")
        }
        let received = try await receiver.receive(request)
        defer { received.removeFiles() }
        let data = try received.dataPart(for: "prediction needs a 'data' part with the samples")
        let labels = received.files["labels"]?.url
        let labelColumn = received.fields["label_column"]
        let result: JSONValue = try await Self.checked {
            try await HeavyWorkPool.shared.run {
                try TrainedModels.prediction(
                    model, jobID: id, data: data.url, labels: labels, labelColumn: labelColumn,
                    limit: library.maxDecompressedBytes, pixelScale: pixelScale)
            }
        }
        return Self.json(result)
    }

    /// Dataset errors become 422 problems naming the part or field.
    static func checked<T>(_ work: () async throws -> T) async throws -> T {
        do {
            return try await work()
        } catch let error as DatasetError {
            throw Problem(.unprocessableContent, code: .invalidDataset, title: "Invalid dataset", detail: error.reason, field: error.field)
        }
    }

    static func notFound(_ id: String) -> Problem {
        Problem(.notFound, code: .datasetNotFound, title: "Dataset not found", detail: "no dataset with id \"\(id.prefix(100))\"", field: "id")
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: value.canonicalText())))
    }
}
