import Clustering
import Foundation
import Jobs

/// Uploaded datasets on disk and in the store. An upload is checked completely before anything is
/// kept: its samples are written as `.npy` files into a temporary folder, renamed into place, and only
/// then is the row inserted, so a listed dataset is always whole and a failed one leaves nothing.
/// Layout: `<data>/datasets/<id>/data.npy` (uint8 N×H×W×C images or float32 N×D features) and `labels.npy` (int64).
public final class DatasetLibrary: @unchecked Sendable {
    public let directory: URL
    public let store: any DatasetStore
    /// Most bytes an upload may expand to when gzip-compressed.
    public let maxDecompressedBytes: Int
    private let cacheLock = NSLock()
    private var cache: (id: String, dataset: Dataset)?

    public init(directory: URL, store: any DatasetStore, maxDecompressedBytes: Int = 1 << 30) throws {
        // Datasets count toward their owner's stored-bytes quota, next to the owner's artifacts.
        SQLiteJobStore.ownedByteTables.insert(datasetTable)
        self.directory = directory
        self.store = store
        self.maxDecompressedBytes = maxDecompressedBytes
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // Leftovers of uploads a crash interrupted.
        // Only old ones: on a folder shared by several nodes (--blob-dir), a fresh one is another node's upload in progress.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] where name.hasSuffix(".partial") {
            let file = directory.appendingPathComponent(name)
            let modified = (try? FileManager.default.attributesOfItem(atPath: file.path)[.modificationDate] as? Date) ?? .distantPast
            if Date().timeIntervalSince(modified) > 3600 { try? FileManager.default.removeItem(at: file) }
        }
    }

    /// A scratch file for an upload in progress (removed by the caller, or at the next start).
    public func scratchFile() -> URL {
        directory.appendingPathComponent("upload-\(UUID().uuidString).partial")
    }

    public struct Upload: Sendable {
        public var data: URL
        public var dataSHA256: String
        public var dataBytes: Int
        public var labels: URL?
        public var name: String?
        public var labelColumn: String?
        public init(data: URL, dataSHA256: String, dataBytes: Int, labels: URL? = nil, name: String? = nil, labelColumn: String? = nil) {
            self.data = data
            self.dataSHA256 = dataSHA256
            self.dataBytes = dataBytes
            self.labels = labels
            self.name = name
            self.labelColumn = labelColumn
        }
    }

    /// Reads and checks uploaded files (gzip or not) into a dataset, without keeping anything.
    /// - Parameter pixelScale: images are divided by this (a model's training scale); nil computes it from the data.
    public static func read(data: URL, labels labelsFile: URL?, labelColumn: String?, limit: Int, pixelScale: Float? = nil) throws -> Dataset {
        try parse(data: data, labels: labelsFile, labelColumn: labelColumn, limit: limit, pixelScale: pixelScale).dataset
    }

    static func parse(data: URL, labels labelsFile: URL?, labelColumn: String?, limit: Int, pixelScale: Float? = nil) throws -> (
        dataset: Dataset, read: NumericArray.ReadResult
    ) {
        var scratch: [URL] = []
        defer { for url in scratch { try? FileManager.default.removeItem(at: url) } }
        func contents(_ url: URL, field: String) throws -> Data {
            let raw = try Data(contentsOf: url, options: .alwaysMapped)
            guard Gzip.isCompressed(raw.prefix(2)) else { return raw }
            let inflated = url.deletingLastPathComponent().appendingPathComponent("inflated-\(UUID().uuidString).partial")
            scratch.append(inflated)
            // The header of an .npy or IDX file says how big the dataset is: over a limit, inflating stops there.
            _ = try Gzip.decompress(file: url, to: inflated, limit: limit, field: field) { head in
                if let shape = NumericArray.declaredShape(head) { try Dataset.checkSize(shape, field: field) }
            }
            return try Data(contentsOf: inflated, options: .alwaysMapped)
        }
        let read = try NumericArray.read(try contents(data, field: "data"), field: "data", csvLabelColumn: labelColumn)
        let (array, csvLabels) = (read.array, read.csvLabels)
        if labelColumn != nil && array.format != "csv" {
            throw DatasetError(field: "label_column", "label_column applies to CSV uploads; send labels of a .npy or IDX file as the 'labels' part")
        }
        var labels = csvLabels
        if let labelsFile {
            guard labels == nil else { throw DatasetError(field: "labels", "labels were given both as a CSV column and as a file") }
            labels = try Dataset.labels(try NumericArray.read(try contents(labelsFile, field: "labels"), field: "labels").array)
        }
        return (try Dataset.from(array, labels: labels, pixelScale: pixelScale), read)
    }

    /// Checks an upload and keeps it; throws `DatasetError` (a 422 for the caller) when it is not a dataset.
    public func ingest(_ upload: Upload, owner: String? = nil, now: Date = Date()) throws -> DatasetRecord {
        var scratch: [URL] = []
        defer { for url in scratch { try? FileManager.default.removeItem(at: url) } }
        let (dataset, read) = try Self.parse(data: upload.data, labels: upload.labels, labelColumn: upload.labelColumn, limit: maxDecompressedBytes)
        let array = read.array
        let id = UUID().uuidString.lowercased()
        let partial = directory.appendingPathComponent("\(id).partial")
        scratch.append(partial)
        try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true)
        let shape: [Int]
        let meta: [String: JSONValue]
        switch dataset.layout {
        case .images(let c, let h, let w):
            shape = [dataset.count, h, w, c]
            let file = partial.appendingPathComponent("data.npy")
            try array.bytes.withUnsafeBytes { try NumericArray.writeNPY(to: file, shape: shape, descr: "|u1", payload: $0) }
            // The axes of the stored array (channels last, as uploaded); the networks read it channels first.
            meta = [
                "kind": "images", "channels": .integer(Int64(c)), "height": .integer(Int64(h)), "width": .integer(Int64(w)), "layout": "NHWC",
            ]
        case .features(let d):
            shape = [dataset.count, d]
            let file = partial.appendingPathComponent("data.npy")
            try dataset.values.withUnsafeBytes { try NumericArray.writeNPY(to: file, shape: shape, descr: "<f4", payload: $0) }
            meta = ["kind": "features", "dimension": .integer(Int64(d))]
        }
        if let labels = dataset.labels {
            let payload = labels.map { Int64($0).littleEndian }.withUnsafeBufferPointer { Data(buffer: $0) }
            try NumericArray.npyFile(shape: [labels.count], descr: "<i8", payload: payload).write(to: partial.appendingPathComponent("labels.npy"))
        }
        var description = meta
        description["samples"] = .integer(Int64(dataset.count))
        description["shape"] = .array(shape.map { .integer(Int64($0)) })
        description["dtype"] = .string(dataset.layout.isImages ? "uint8" : "float32")
        description["source_format"] = .string(array.format)
        description["source_dtype"] = .string(array.element.rawValue)
        description["sha256"] = .string(upload.dataSHA256)
        description["bytes"] = .integer(Int64(upload.dataBytes))
        description["label_counts"] =
            dataset.labelCounts.map { counts in
                .object(Dictionary(uniqueKeysWithValues: counts.map { (String($0.key), JSONValue.integer(Int64($0.value))) }))
            } ?? .null
        description["label_names"] = read.labelNames.map { .array($0.map(JSONValue.string)) } ?? .null
        description["warnings"] = .array(read.warnings.map(JSONValue.string))
        let stored =
            (try? FileManager.default.contentsOfDirectory(at: partial, includingPropertiesForKeys: [.fileSizeKey]))?
            .reduce(Int64(0)) { $0 + Int64((try? $1.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0) } ?? 0
        let record = DatasetRecord(id: id, name: upload.name, meta: .object(description), createdAt: now, owner: owner, bytes: stored)
        let final = directory.appendingPathComponent(id)
        try FileManager.default.moveItem(at: partial, to: final)
        do {
            try store.insertDataset(record, files: final)
        } catch {
            try? FileManager.default.removeItem(at: final)
            throw error
        }
        return record
    }

    /// Removes a dataset unless a queued or running job uses it (`DatasetStoreError.inUse`).
    public func delete(id: String, owner: OwnerFilter = .any) throws {
        try store.deleteDataset(id: id, owner: owner)
        try? FileManager.default.removeItem(at: directory.appendingPathComponent(id))
        cacheLock.withLock { if cache?.id == id { cache = nil } }
    }

    /// The samples of an uploaded dataset, or of a generated one (`generated:NAME`).
    public func load(_ reference: String, generatedSamples: Int = 600, generatedClasses: Int = 3, seed: UInt64 = 0) throws -> Dataset {
        if reference.hasPrefix("generated:") {
            let name = String(reference.dropFirst("generated:".count))
            guard let dataset = GeneratedDatasets.make(name, count: generatedSamples, classes: generatedClasses, seed: seed) else {
                throw DatasetError(
                    field: "params.dataset", "no generated dataset '\(name)'; there are \(GeneratedDatasets.names.joined(separator: ", "))")
            }
            return dataset
        }
        if let cached = cacheLock.withLock({ cache }), cached.id == reference { return cached.dataset }
        guard try store.dataset(id: reference) != nil else {
            throw DatasetError(field: "params.dataset", "no dataset '\(reference)' (it may have been deleted)")
        }
        let folder = try localFolder(reference)
        let array = try NumericArray.read(try Data(contentsOf: folder.appendingPathComponent("data.npy")), field: "data").array
        let labelsFile = folder.appendingPathComponent("labels.npy")
        let labels =
            FileManager.default.fileExists(atPath: labelsFile.path)
            ? try Dataset.labels(try NumericArray.read(try Data(contentsOf: labelsFile), field: "labels").array) : nil
        let dataset = try Dataset.from(array, labels: labels)
        cacheLock.withLock { cache = (reference, dataset) }
        return dataset
    }

    /// The folder of an uploaded dataset's files on this node, fetched from the store first when another node took the
    /// upload (PostgreSQL deployments keep the files in the database).
    func localFolder(_ reference: String) throws -> URL {
        let folder = directory.appendingPathComponent(reference)
        if !FileManager.default.fileExists(atPath: folder.path) {
            _ = try store.materializeDataset(id: reference, into: folder)
        }
        return folder
    }

    /// An uploaded dataset's labels alone (nil without labels), read without its samples: what a confusion matrix needs.
    public func labels(_ reference: String) throws -> [Int]? {
        if let cached = cacheLock.withLock({ cache }), cached.id == reference { return cached.dataset.labels }
        let file = try localFolder(reference).appendingPathComponent("labels.npy")
        guard FileManager.default.fileExists(atPath: file.path) else { return nil }
        return try Dataset.labels(try NumericArray.read(try Data(contentsOf: file), field: "labels").array)
    }

    /// The samples at `indices` of an uploaded dataset, with their labels, read from the memory-mapped file: a montage of
    /// 300 of 70,000 images reads 300 rows, not 55 MB. Generated datasets are made whole and then selected.
    public func samples(_ reference: String, indices: [Int], generatedSamples: Int = 600, generatedClasses: Int = 3, seed: UInt64 = 0)
        throws -> Dataset
    {
        if reference.hasPrefix("generated:") {
            let whole = try load(reference, generatedSamples: generatedSamples, generatedClasses: generatedClasses, seed: seed)
            return whole.selecting(indices)
        }
        if let cached = cacheLock.withLock({ cache }), cached.id == reference { return cached.dataset.selecting(indices) }
        guard try store.dataset(id: reference) != nil else {
            throw DatasetError(field: "params.dataset", "no dataset '\(reference)' (it may have been deleted)")
        }
        let folder = try localFolder(reference)
        let mapped = try Data(contentsOf: folder.appendingPathComponent("data.npy"), options: .alwaysMapped)
        let array = try NumericArray.read(mapped, field: "data").array
        let kept = indices.filter { $0 >= 0 && $0 < (array.shape.first ?? 0) }
        let labels = try self.labels(reference).map { all in kept.map { all[$0] } }
        return try Dataset.from(array.rows(kept), labels: labels)
    }

    /// Samples and whether they are images, from the stored description (uploads) or the generator's
    /// settings (generated data), without reading the data: for checks at submission. Nil when unknown.
    /// - Returns: `dimension`, a stored feature dataset's vector length (nil for images and generated data).
    public func outline(_ reference: String, generatedSamples: Int) throws -> (samples: Int, isImages: Bool, dimension: Int?)? {
        if reference.hasPrefix("generated:") {
            let name = reference.dropFirst("generated:".count)
            return GeneratedDatasets.names.contains(String(name)) ? (generatedSamples, name == "shapes", nil) : nil
        }
        guard let record = try store.dataset(id: reference), let samples = record.meta["samples"]?.integerValue else { return nil }
        let isImages = record.meta["kind"]?.stringValue == "images"
        return (Int(clamping: samples), isImages, isImages ? nil : record.meta["dimension"]?.integerValue.map { Int(clamping: $0) })
    }

    /// Whether a reference names something loadable, for checking job parameters at submission.
    public func exists(_ reference: String) throws -> Bool {
        if reference.hasPrefix("generated:") { return GeneratedDatasets.names.contains(String(reference.dropFirst("generated:".count))) }
        return try store.dataset(id: reference) != nil
    }

    /// The JSON a client sees for a dataset.
    public static func describe(_ record: DatasetRecord) -> JSONValue {
        var object = record.meta.objectValue ?? [:]
        object["id"] = .string(record.id)
        object["name"] = record.name.map(JSONValue.string) ?? .null
        object["created_at"] = .string(Timestamp.format(record.createdAt))
        return .object(object)
    }
}
