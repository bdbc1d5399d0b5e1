import Foundation
import Jobs
import XCTest
@testable import ClusterKinds
import Clustering
import Tensor
@testable import SamplerKinds

/// Each kind's parameters are declared once (issue 12): the schema, the defaults and the run's typed
/// value all come from one `KindParameters` type, so they cannot disagree.
final class KindParametersTests: XCTestCase {
    var library: DatasetLibrary {
        get throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kind-parameters-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            return try DatasetLibrary(directory: directory, store: try SQLiteJobStore(path: directory.appendingPathComponent("jobs.sqlite").path))
        }
    }

    /// The drift that started this: IIC's schema said learning_rate 5e-3 and the run's fallback 1e-3.
    /// Now a job that leaves it out trains at exactly the published default.
    func testALeftOutParameterRunsWithThePublishedDefault() throws {
        let library = try self.library
        let kind = IICKind(library: library)
        let published = try XCTUnwrap(kind.parameters.jsonSchema["properties"]?["learning_rate"]?["default"]?.doubleValue)
        XCTAssertEqual(published, 5e-3)
        let normalized = try kind.normalize(["dataset": "generated:blobs"])
        let configuration = try kind.typedParameters(normalized).configuration
        XCTAssertEqual(configuration.learningRate, Float(published))
        XCTAssertEqual(configuration.epochs, Int(kind.parameters.jsonSchema["properties"]?["epochs"]?["default"]?.integerValue ?? -1))
        XCTAssertNil(try kind.typedParameters(normalized).overclusters, "an optional parameter left out is nil, not a guess")
        let scan = SCANKind(library: library)
        let scanParameters = try scan.typedParameters(try scan.normalize(["dataset": "generated:blobs"]))
        let scanConfiguration = scanParameters.configuration(for: .features(dimension: 2))
        XCTAssertEqual(
            Double(scanConfiguration.confidenceThreshold),
            scan.parameters.jsonSchema["properties"]?["confidence_threshold"]?["default"]?.doubleValue ?? -1,
            accuracy: 1e-7)
    }

    /// Every declared kind: no stored property outside the schema, and the typed value read back from
    /// normalized params carries exactly the schema's parameters (nothing dropped, nothing invented).
    func testEveryTypedKindRoundTripsItsSchema() throws {
        let library = try self.library
        func check<K: TypedJobKind>(_ kind: K) throws {
            XCTAssertEqual(K.Parameters.undeclaredProperties, [], "\(kind.name): every property is a @Param")
            let normalized = try kind.normalize(kind.example)
            let typed = try kind.typedParameters(normalized)
            let back = try typed.jsonValue()
            let withoutNulls = (back.objectValue ?? [:]).filter { $0.value != .null }
            let echoed = normalized.objectValue ?? [:]
            XCTAssertEqual(
                numeric(JSONValue.object(withoutNulls.filter { echoed[$0.key] != nil })), numeric(normalized),
                "\(kind.name): decoded parameters say what was validated")
            // Parameters the echo leaves out (they do not apply, e.g. SCAN's pretext on vectors) decode to their defaults.
            for (name, value) in withoutNulls where echoed[name] == nil {
                XCTAssertEqual(numeric(value), numeric(kind.parameters.defaults[name] ?? .null), "\(kind.name): \(name)")
            }
            let names = Set(kind.parameters.parameters.map(\.name))
            XCTAssertEqual(Set((back.objectValue ?? [:]).keys), names, "\(kind.name): the struct's fields are the schema's parameters")
        }
        try check(CountingJobKind())
        try check(KMeansKind(library: library))
        try check(IICKind(library: library))
        try check(SCANKind(library: library))
        try check(MCMCKind())
        try check(GibbsKind())
        try check(ImportanceKind())
        try check(InverseCDFKind())
        try check(RejectionKind())
    }

    /// JSON numbers compared as numbers (`1` and `1.0` are the same default).
    private func numeric(_ value: JSONValue) -> JSONValue {
        switch value {
        case .integer(let integer): .number(Double(integer))
        case .array(let items): .array(items.map(numeric))
        case .object(let members): .object(members.mapValues(numeric))
        default: value
        }
    }

    /// A model saved by 0.2 (one binary plist named `model`) still loads and predicts.
    func testLegacyModelsStillLoad() throws {
        let layout = Dataset.Layout.features(dimension: 2)
        let plist = try LegacyModel.encode(.init(kind: "kmeans", layout: layout, k: 2, centroids: [0, 0, 10, 10]))
        let model = try XCTUnwrap(try TrainedModels.load { $0 == TrainedModels.legacyArtifact ? plist : nil })
        XCTAssertTrue(model is KMeansModel)
        let dataset = try Dataset.from(NumericArray.read(Data("1,1\n9,9\n".utf8), field: "data").array, labels: nil)
        XCTAssertEqual(try model.predict(dataset).clusters, [0, 1])
        // The same model through the new files.
        let saved = KMeansModel(layout: layout, clusters: 2, centroids: [0, 0, 10, 10])
        let weights = Safetensors.encode(saved.tensors())
        let json = Data(#"{"kind": "kmeans", "input": {"kind": "features", "dimension": 2}, "configuration": {"k": 2}}"#.utf8)
        let reloaded = try XCTUnwrap(
            try TrainedModels.load { name in
                name == TrainedModels.descriptionArtifact ? json : name == TrainedModels.weightsArtifact ? weights : nil
            })
        XCTAssertEqual(try reloaded.predict(dataset).clusters, [0, 1])
        // A header declaring 2^62 elements is refused before any size arithmetic can overflow.
        let header = Data(#"{"w": {"dtype": "F32", "shape": [1073741824, 1073741824, 4], "data_offsets": [0, 16]}}"#.utf8)
        let huge = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Data($0) } + header + Data(count: 16)
        XCTAssertThrowsError(try Safetensors.decode(huge))
        // A truncated weights file is an error, not a trap.
        XCTAssertThrowsError(
            try TrainedModels.load { name in
                name == TrainedModels.descriptionArtifact ? json : name == TrainedModels.weightsArtifact ? weights.prefix(20) : nil
            })
    }

    func testSnakeCaseNamesMatchTheDecoder() {
        XCTAssertEqual(CountingJobKind.Parameters.snakeCase("checkpointEvery"), "checkpoint_every")
        XCTAssertEqual(
            KMeansKind.Parameters.schema.parameters.map(\.name),
            ["dataset", "k", "k_max", "n_init", "max_iter", "tol", "normalize", "pca_components", "generated_samples", "generated_classes", "seed"])
    }
}
