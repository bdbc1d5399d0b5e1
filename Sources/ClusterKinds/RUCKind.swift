import Clustering
import Foundation
import Jobs

/// `cluster.ruc`: RUC (Park et al. 2021) — a finished clustering's assignments treated as noisy labels, a clean
/// subset selected, and two networks co-trained on it with MixMatch to correct the rest.
public struct RUCKind: TypedJobKind {
    let library: DatasetLibrary
    /// A job by id, and a succeeded job's artifact by (job id, name).
    let job: @Sendable (String) throws -> Job?
    let artifact: @Sendable (String, String) throws -> Data?
    public init(
        library: DatasetLibrary, job: @escaping @Sendable (String) throws -> Job? = { _ in nil },
        artifact: @escaping @Sendable (String, String) throws -> Data? = { _, _ in nil }
    ) {
        self.library = library
        self.job = job
        self.artifact = artifact
    }
    public let name = "cluster.ruc"
    public let summary =
        "RUC (Park et al. 2021): refines a finished clustering (a succeeded cluster.* job, or uploaded assignments) by selecting a clean "
        + "set (confidence, neighbour agreement, or both) and co-training two networks with MixMatch, label smoothing, co-refinement, "
        + "co-guessing and co-refurbishing."

    /// Kinds whose jobs save per-sample probabilities (what `selection: confidence` needs).
    static let kindsWithProbabilities: Set<String> = ["cluster.iic", "cluster.scan", "cluster.gmm", "cluster.ruc"]

    public struct Parameters: KindParameters, MixMatchTrainingParameters {
        @Param(
            .string(maxLength: 100),
            "A succeeded cluster.* job whose assignments to refine (its dataset, probabilities and, for SCAN, embeddings and model are used; "
                + "a cluster.ruc job's data is its source's).")
        var sourceJob: String? = nil
        @Param(.string(maxLength: 100), "Without source_job: the dataset the assignments are of (an uploaded id or generated:NAME).")
        var dataset: String? = nil
        @Param(
            .string(maxLength: 100),
            "Without source_job: an uploaded dataset holding the assignments, N integers as an N×1 array (−1: unassigned, treated as unlabelled).")
        var assignments: String? = nil
        @Param(
            .string(maxLength: 12, allowed: CleanSetSelection.allCases.map(\.rawValue)),
            "Clean-set selection: confidence (source probability ≥ confidence_threshold), metric (the sample's cluster is the majority among its "
                + "selection_neighbours nearest neighbours in the source's embeddings, or in the raw features), hybrid (both; metric alone when "
                + "the source has no probabilities or no sample passes both, with a warning).")
        var selection = "hybrid"
        @Param(
            .number(minimum: 0, maximum: 1),
            "Probability above which a source assignment counts as confident (0.99, the paper's; on a source already near its best, 0.5 keeps "
                + "as labels the hard samples it mostly had right: README, Which selection to choose).")
        var confidenceThreshold = 0.99
        @Param(.integer(minimum: 1, maximum: 200), "Neighbours consulted by the metric selection.") var selectionNeighbours = 20
        @Param(
            .string(maxLength: 10, allowed: ["auto", "scratch"]),
            "auto: on images from a cluster.scan source, both networks start from SCAN's trained trunk (each with its own new head); scratch: "
                + "both from independent random weights.")
        var initialization = "auto"
        @Param(
            .number(minimum: 0, maximum: 0.99),
            "ε of the label smoothing in the robustness term: cross-entropy of each clean sample's strongly augmented view to its smoothed "
                + "label (0.5, as the RUC authors' code).")
        var labelSmoothing = 0.5
        @Param(
            .number(minimum: 0, maximum: 1),
            "After each epoch, unlabelled samples whose averaged prediction reaches this join the clean set (co-refurbishing; 0: off).")
        var refurbishThreshold = 0.95
        @Param(SemiSupervisedInputs.epochs) var epochs = 15
        @Param(SemiSupervisedInputs.batchSize) var batchSize = 64
        @Param(SemiSupervisedInputs.stepsPerEpoch) var stepsPerEpoch = 0
        @Param(SemiSupervisedInputs.augmentations) var augmentations = 2
        @Param(SemiSupervisedInputs.temperature) var temperature = 0.5
        @Param(SemiSupervisedInputs.alpha) var alpha = 0.75
        @Param(SemiSupervisedInputs.lambdaU) var lambdaU = 25.0
        @Param(SemiSupervisedInputs.rampUpEpochs) var rampupEpochs = 5.0
        @Param(SemiSupervisedInputs.learningRate) var learningRate = 0.001
        @Param(SemiSupervisedInputs.emaDecay) var emaDecay = 0.999
        @Param(SemiSupervisedInputs.imageNormalization) var imageNormalization = "scale"
        @Param(ClusterInputs.generatedSamples) var generatedSamples = 600
        @Param(ClusterInputs.generatedClasses) var generatedClasses = 3
        @Param(ClusterInputs.seed) var seed: Int64 = 0
        public init() {}

        /// The trainer's configuration: every field from the declaration above, none defaulted here.
        func configuration(classes: Int) -> MixMatchTrainer.Configuration {
            var configuration = trainingConfiguration(classes: classes)
            configuration.networks = 2
            configuration.strongViewSmoothing = Float(labelSmoothing)
            configuration.refurbishThreshold = Float(refurbishThreshold)
            return configuration
        }
    }

    public var metrics: [MetricDeclaration] {
        [
            MetricDeclaration("clean_size", "Samples in the clean (labelled) set after the epoch's refurbishing.", step: "epoch"),
            MetricDeclaration(
                "clean_accuracy", "Share of the clean set whose label is right (under the best matching of the source's clusters to the labels).",
                step: "epoch"),
            MetricDeclaration("refurbished", "Unlabelled samples that joined the clean set after the epoch.", step: "epoch"),
            MetricDeclaration("loss_x_1", "Network 1: cross-entropy of the mixed clean rows, mean over its epoch.", unit: "nats", step: "epoch"),
            MetricDeclaration("loss_x_2", "Network 2: cross-entropy of the mixed clean rows, mean over its epoch.", unit: "nats", step: "epoch"),
            MetricDeclaration("loss_u_1", "Network 1: squared L2 of the mixed unlabelled rows to their co-guessed labels.", step: "epoch"),
            MetricDeclaration("loss_u_2", "Network 2: squared L2 of the mixed unlabelled rows to their co-guessed labels.", step: "epoch"),
            MetricDeclaration("lambda_u", "λ_u at the end of the epoch (after the ramp-up).", step: "epoch"),
            MetricDeclaration("epoch_seconds", "Wall time of the epoch (both networks).", unit: "s", step: "epoch"),
        ] + ClusterInputs.scoreMetrics(step: "epoch")
    }

    public var example: JSONValue { ["source_job": "JOB_ID", "epochs": 10] }

    public func references(_ params: JSONValue) -> [ResourceReference] {
        var references: [ResourceReference] = []
        if let id = params["source_job"]?.stringValue {
            references.append(ResourceReference(table: "jobs", id: id, field: "params.source_job", missing: "job to refine"))
        }
        if params["source_job"]?.stringValue == nil { references += ClusterInputs.datasetReference(params) }
        if let id = params["assignments"]?.stringValue {
            references.append(ResourceReference(table: datasetTable, id: id, field: "params.assignments", missing: "assignments dataset"))
        }
        return references
    }

    public func echo(_ normalized: JSONValue, given: JSONValue?) throws(ParameterError) -> JSONValue {
        guard case .object(var members) = normalized else { return normalized }
        let generated = members["source_job"]?.stringValue == nil && members["dataset"]?.stringValue?.hasPrefix("generated:") == true
        if !generated {
            for name in ["generated_samples", "generated_classes"] {
                if let value = given?[name], value != .null {
                    throw ParameterError(.invalidValue, field: "params.\(name)", reason: "applies to a generated dataset given with assignments only")
                }
                members[name] = nil
            }
        }
        return .object(members)
    }

    public func validate(_ params: JSONValue) throws(ParameterError) {
        try SemiSupervisedInputs.checkStep(params)
        let source = params["source_job"]?.stringValue, dataset = params["dataset"]?.stringValue
        let assignments = params["assignments"]?.stringValue
        switch (source, dataset, assignments) {
        case (.some(let id), nil, nil):
            let job: Job?
            do { job = try self.job(id) } catch {
                throw ParameterError(.invalidValue, field: "params.source_job", reason: "could not be looked up: \(error)")
            }
            guard let job else { return }  // `references` answers a missing job
            guard job.kind.hasPrefix("cluster.") else {
                throw ParameterError(.invalidValue, field: "params.source_job", reason: "job \(id) is a \(job.kind) job; RUC refines a cluster.* job")
            }
            guard job.status == .succeeded else {
                throw ParameterError(
                    .invalidValue, field: "params.source_job", reason: "job \(id) is \(job.status.rawValue); RUC refines a succeeded job")
            }
            if let k = job.result?["k"]?.integerValue, k > Int64(SemiSupervisedSplit.maxClasses) {
                throw ParameterError(
                    .outOfRange, field: "params.source_job",
                    reason: "job \(id) has \(k) clusters; RUC refines at most \(SemiSupervisedSplit.maxClasses)")
            }
            do {
                let (reference, _) = try datasetParams(of: job)
                guard try library.exists(reference) else {
                    throw DatasetError(field: "params.source_job", "job \(id)'s dataset '\(reference.prefix(100))' no longer exists")
                }
            } catch let error as DatasetError {
                throw ParameterError(.invalidValue, field: error.field, reason: error.reason)
            } catch {
                throw ParameterError(.invalidValue, field: "params.source_job", reason: "could not be looked up: \(error)")
            }
            if params["selection"]?.stringValue == "confidence" && !Self.kindsWithProbabilities.contains(job.kind) {
                throw ParameterError(
                    .invalidValue, field: "params.selection",
                    reason: "confidence needs the source's probabilities; \(job.kind) saves none (use metric or hybrid)")
            }
        case (nil, .some(let reference), .some(let id)):
            try ClusterInputs.checkDataset(params, library: library)
            if params["selection"]?.stringValue == "confidence" {
                throw ParameterError(
                    .invalidValue, field: "params.selection", reason: "confidence needs probabilities; uploaded assignments have none")
            }
            do {
                let samples = try library.outline(reference, generatedSamples: params["generated_samples"]?.integerValue.map(Int.init) ?? 600)?
                    .samples
                _ = try Self.uploadedAssignments(id, samples: samples, library: library)
            } catch let error as DatasetError {
                throw ParameterError(.invalidValue, field: error.field, reason: error.reason)
            } catch {
                throw ParameterError(.invalidValue, field: "params.assignments", reason: "could not be read: \(error)")
            }
        case (.some, _, _):
            throw ParameterError(.invalidValue, field: "params.dataset", reason: "give either source_job, or dataset and assignments, not both")
        default:
            throw ParameterError(.missingParameter, field: "params.source_job", reason: "give source_job, or dataset and assignments")
        }
    }

    /// Assignments uploaded as a dataset of N×1 integers, each −1 (unassigned) or a cluster index, using at least 2 clusters.
    /// - Parameter samples: the dataset's size, checked first (a short file of zeros is the wrong length, not one cluster).
    static func uploadedAssignments(_ id: String, samples: Int?, library: DatasetLibrary) throws -> [Int] {
        let uploaded = try library.load(id)
        guard uploaded.layout == .features(dimension: 1) else {
            throw DatasetError(
                field: "params.assignments", "must be N×1 integers (one cluster per sample); this dataset's samples are not single numbers")
        }
        if let bad = uploaded.values.firstIndex(where: { $0 != $0.rounded() || $0 < -1 || $0 >= Float(SemiSupervisedSplit.maxClasses) }) {
            throw DatasetError(
                field: "params.assignments",
                "value \(uploaded.values[bad]) at index \(bad) is not a cluster: expected −1 (unassigned) or 0…k−1 (k ≤ \(SemiSupervisedSplit.maxClasses))"
            )
        }
        if let samples, samples != uploaded.count {
            throw DatasetError(field: "params.assignments", "\(uploaded.count) assignments for a dataset of \(samples) samples")
        }
        let assignments = uploaded.values.map { Int($0) }
        guard (assignments.max() ?? -1) >= 1 else {
            throw DatasetError(field: "params.assignments", "the assignments use fewer than 2 clusters; there is nothing to refine")
        }
        return assignments
    }

    /// The dataset reference a source job ran on and the parameters that load it (`generated_*`, `seed`): its own,
    /// or for a RUC job given a source_job, its source's, so a refinement can be refined again.
    func datasetParams(of job: Job) throws -> (reference: String, params: JSONValue) {
        var current = job
        for _ in 0..<Self.maxSourceChain {
            let params = try JSONValue.parse(Data(current.paramsJSON.utf8))
            if let reference = params["dataset"]?.stringValue { return (reference, params) }
            guard current.kind == name, let next = params["source_job"]?.stringValue, let source = try self.job(next) else { break }
            current = source
        }
        throw DatasetError(field: "params.source_job", "job \(job.id) names no dataset")
    }

    /// RUC of RUC of …: how many source jobs are followed to the data.
    static let maxSourceChain = 32

    /// What RUC starts from: the data, the assignments (−1: none), their probabilities, an embedding or mined
    /// neighbours, and a SCAN model's weights when the source has one.
    struct Source {
        var kind: String?
        var dataset: Dataset
        var datasetReference: String
        var assignments: [Int]
        var clusters: Int
        var probabilities: [Float]?
        var embedding: (values: [Float], dimension: Int)?
        var neighbours: (indices: [Int32], k: Int)?
        var scan: SCANModel?
    }

    func loadSource(_ params: Parameters) throws -> Source {
        do {
            if let id = params.sourceJob {
                guard let job = try self.job(id), job.status == .succeeded else {
                    throw JobFailure("params.source_job: job \(id) is not a succeeded job")
                }
                let (reference, sourceParams) = try datasetParams(of: job)
                let dataset = try library.load(
                    reference, generatedSamples: sourceParams["generated_samples"]?.integerValue.map(Int.init) ?? 600,
                    generatedClasses: sourceParams["generated_classes"]?.integerValue.map(Int.init) ?? 3,
                    seed: UInt64(max(0, sourceParams["seed"]?.integerValue ?? 0)))
                func array(_ name: String) throws -> NumericArray? {
                    try artifact(id, name).map { try NumericArray.read($0, field: "params.source_job").array }
                }
                guard let saved = try array("assignments.npy"), saved.shape == [dataset.count] else {
                    throw JobFailure("params.source_job: job \(id) has no assignments.npy of its \(dataset.count) samples")
                }
                let assignments = saved.doubles().map { $0.isFinite && $0 >= -1 && $0 <= 100_000 ? Int($0) : -1 }
                var source = Source(
                    kind: job.kind, dataset: dataset, datasetReference: reference, assignments: assignments, clusters: (assignments.max() ?? 0) + 1)
                if let p = try array("probabilities.npy"), p.shape.count == 2, p.shape[0] == dataset.count, p.shape[1] >= source.clusters {
                    source.probabilities = p.floats()
                    source.clusters = p.shape[1]
                }
                if let e = try array("embeddings.npy"), e.shape.count == 2, e.shape[0] == dataset.count, e.shape[1] >= 1 {
                    source.embedding = (e.floats(), e.shape[1])
                }
                if let n = try array("neighbours.npy"), n.shape.count == 2, n.shape[0] == dataset.count, n.shape[1] >= 1 {
                    let values = n.doubles()
                    if values.allSatisfy({ $0 >= 0 && $0 < Double(dataset.count) }) { source.neighbours = (values.map { Int32($0) }, n.shape[1]) }
                }
                if job.kind == "cluster.scan" { source.scan = try TrainedModels.load({ try artifact(id, $0) }) as? SCANModel }
                return source
            }
            guard let reference = params.dataset, let id = params.assignments else {
                throw JobFailure("params.source_job: give source_job, or dataset and assignments")
            }
            let dataset = try library.load(
                reference, generatedSamples: params.generatedSamples, generatedClasses: params.generatedClasses, seed: UInt64(params.seed))
            let assignments = try Self.uploadedAssignments(id, samples: dataset.count, library: library)
            return Source(kind: nil, dataset: dataset, datasetReference: reference, assignments: assignments, clusters: (assignments.max() ?? 0) + 1)
        } catch let error as DatasetError {
            throw JobFailure("\(error.field): \(error.reason)")
        }
    }

    public func run(_ context: JobContext) throws -> JSONValue {
        let params = try typedParameters(context.params)
        context.progress(0, phase: "loading")
        let start = Date()
        let source = try loadSource(params)
        let (dataset, assignments, k) = (source.dataset, source.assignments, source.clusters)
        guard k >= 2, dataset.count >= 2 else {
            throw JobFailure("params.source_job: the source assigned every sample to one cluster; there is nothing to refine")
        }
        try SemiSupervisedInputs.checkOutputs(
            samples: dataset.count, classes: k, field: params.sourceJob == nil ? "params.assignments" : "params.source_job")
        var warnings: [String] = []

        // Clean-set selection.
        context.progress(0, phase: "selecting")
        var selection = CleanSetSelection(rawValue: params.selection) ?? .hybrid
        if selection != .metric && source.probabilities == nil {
            guard selection == .hybrid else { throw JobFailure("params.selection: confidence needs the source's probabilities; it saved none") }
            warnings.append("the source saved no probabilities: the clean set was selected by neighbour agreement alone")
            selection = .metric
        }
        let confident =
            source.probabilities.map { CleanSetSelection.confident($0, clusters: k, threshold: Float(params.confidenceThreshold)) }
            ?? [Bool](repeating: true, count: dataset.count)
        var agreeing = [Bool](repeating: true, count: dataset.count)
        var embeddingUsed = "none"
        if selection != .confidence {
            let neighbourCount = min(params.selectionNeighbours, dataset.count - 1)
            let indices: [Int32]
            if let mined = source.neighbours, mined.k >= neighbourCount {
                indices = (0..<dataset.count).flatMap { i in mined.indices[(i * mined.k)..<(i * mined.k + neighbourCount)] }
                embeddingUsed = "source neighbours"
            } else {
                let (values, d) = source.embedding ?? dataset.flattened
                embeddingUsed = source.embedding == nil ? "raw features" : "source embeddings"
                indices = try CleanSetSelection.neighbours(values, count: dataset.count, dimension: d, k: neighbourCount) {
                    try context.checkCancellation()
                }
            }
            agreeing = CleanSetSelection.agreeing(assignments, neighbours: indices, k: neighbourCount)
        }
        var clean = selection.clean(assignments, confident: confident, agreeing: agreeing)
        // A source whose probabilities are all soft (a cluster.ruc job's averaged, label-smoothed predictions) passes no
        // sample at 0.99: hybrid then keeps what the neighbours agree on, as it does for a source without probabilities,
        // rather than failing the defaults.
        if clean.isEmpty && selection == .hybrid {
            let agreed = CleanSetSelection.metric.clean(assignments, confident: confident, agreeing: agreeing)
            if !agreed.isEmpty {
                // Not "every probability is below the threshold": some may pass it on samples whose neighbours disagree.
                warnings.append(
                    "no sample passed both tests (confidence_threshold \(params.confidenceThreshold) and neighbour agreement): the clean set "
                        + "was selected by neighbour agreement alone")
                selection = .metric
                clean = agreed
            }
        }
        guard !clean.isEmpty else {
            throw JobFailure("params.selection: no sample passed the \(selection.rawValue) selection; lower confidence_threshold or use metric")
        }
        let cleanSet = Set(clean)
        let unlabelled = (0..<dataset.count).filter { !cleanSet.contains($0) }
        // Clusters the source used that kept no clean sample (counted in one pass each).
        let used = ClusteringMetrics.sizes(assignments, k: k), kept = ClusteringMetrics.sizes(clean.map { assignments[$0] }, k: k)
        let missing = (0..<k).filter { used[$0] > 0 && kept[$0] == 0 }
        if !missing.isEmpty {
            warnings.append(
                "cluster\(missing.count == 1 ? "" : "s") \(missing.map(String.init).joined(separator: ", ")) kept no clean sample: "
                    + "RUC cannot keep them; lower confidence_threshold or use selection metric")
        }

        let configuration = params.configuration(classes: k)
        var evaluation = MixMatchTrainer.Evaluation()
        evaluation.truth = dataset.labels
        let adoptTrunk =
            params.initialization == "auto" && dataset.layout.isImages && source.scan?.preprocessing == nil
            && source.scan?.saved.layout == dataset.layout && source.scan?.clusters == k
        let trainer = MixMatchTrainer(
            dataset: dataset, labelled: clean, targets: clean.map { assignments[$0] }, unlabelled: unlabelled, configuration: configuration,
            evaluation: evaluation,
            standardizeChannels: params.imageNormalization == "per_channel" || (adoptTrunk && source.scan?.normalization != nil))
        if let checkpoint = try context.latestCheckpoint() {
            try trainer.restore(checkpoint.data)
        } else if adoptTrunk, let scan = source.scan {
            try trainer.adoptTrunk(scan.saved.weights)
        }
        let cost = SemiSupervisedInputs.cost(dataset.layout, classes: k, networks: 2)
        func save() throws -> [Int] {
            let (refined, probabilities) = trainer.assign()
            try ClusterInputs.writeAssignments(refined, probabilities: probabilities, classes: k, context: context)
            let ensemble = try ClassifierEnsemble(
                layout: dataset.layout, classes: k, members: 2, standardization: trainer.standardization, weights: trainer.averagedModel())
            try TrainedModels.save(
                RUCModel(ensemble), architecture: cost, datasetSHA256: ClusterInputs.datasetSHA256(source.datasetReference, library: library),
                pixelScale: dataset.pixelScale, context: context)
            return refined
        }
        try ClusterInputs.keepingLastCheckpoint(context, restore: trainer.restore, save: { _ = try save() }) {
            try SemiSupervisedInputs.train(trainer, context: context, phase: "retraining") { record in
                let step = Int64(record.epoch)
                context.metric("clean_size", step: step, value: Double(record.cleanSize))
                if let value = record.cleanAccuracy { context.metric("clean_accuracy", step: step, value: value) }
                context.metric("refurbished", step: step, value: Double(record.refurbished))
                for network in 0..<2 {
                    context.metric("loss_x_\(network + 1)", step: step, value: record.labelledLoss[network])
                    context.metric("loss_u_\(network + 1)", step: step, value: record.unlabelledLoss[network])
                }
                context.metric("lambda_u", step: step, value: record.unlabelledWeight)
                context.metric("epoch_seconds", step: step, value: record.seconds)
                ClusterInputs.recordScores(record.scores, step: step, context: context)
            }
        }
        context.progress(1, phase: "assigning")
        let refined = try save()
        try ClusterInputs.writeHistory(
            trainer.history.map { record in
                var row: [String: JSONValue] = [
                    "step": .integer(Int64(record.epoch)), "epoch": .integer(Int64(record.epoch)), "clean_size": .integer(Int64(record.cleanSize)),
                    "refurbished": .integer(Int64(record.refurbished)), "lambda_u": .number(record.unlabelledWeight),
                    "epoch_seconds": .number(record.seconds),
                ]
                for network in 0..<2 {
                    row["loss_x_\(network + 1)"] = .number(record.labelledLoss[network])
                    row["loss_u_\(network + 1)"] = .number(record.unlabelledLoss[network])
                }
                if let value = record.cleanAccuracy { row["clean_accuracy"] = .number(value) }
                return row.merging(ClusterInputs.scoreFields(record.scores)) { first, _ in first }
            }, context: context)

        // Which samples the selection kept as clean labels (indices), for inspection and for re-running elsewhere.
        try context.artifact(
            "clean_set.npy", mediaType: "application/octet-stream",
            data: NumericArray.npyFile(
                shape: [clean.count], descr: "<i8", payload: clean.map { Int64($0).littleEndian }.withUnsafeBufferPointer { Data(buffer: $0) }))
        let changed = (0..<dataset.count).filter { refined[$0] != assignments[$0] }
        var changes: [String: JSONValue] = ["changed": .integer(Int64(changed.count))]
        var sourceScores: ClusteringScores?, refinedScores: ClusteringScores?, cleanAccuracy: Double?
        if let truth = dataset.labels {
            sourceScores = ClusteringMetrics.scores(assignments.map { max($0, 0) }, truth)
            refinedScores = ClusteringMetrics.scores(refined, truth)
            // Right and wrong under the best matching of the source's clusters to the labels (RUC keeps the cluster ids).
            let known = (0..<dataset.count).filter { truth[$0] >= 0 && assignments[$0] >= 0 }
            let mapping = ClusteringMetrics.bestMapping(known.map { assignments[$0] }, known.map { truth[$0] })
            let judged = changed.filter { truth[$0] >= 0 }
            changes["corrections"] = .integer(
                Int64(judged.filter { mapping[refined[$0]] == truth[$0] && mapping[assignments[$0]] != truth[$0] }.count))
            cleanAccuracy =
                Double(clean.filter { truth[$0] >= 0 && mapping[assignments[$0]] == truth[$0] }.count)
                / Double(max(1, clean.filter { truth[$0] >= 0 }.count))
            changes["regressions"] = .integer(
                Int64(judged.filter { mapping[refined[$0]] != truth[$0] && mapping[assignments[$0]] == truth[$0] }.count))
        }
        let sizes = ClusteringMetrics.sizes(refined, k: k)
        warnings += ClusterInputs.resultWarnings(sizes: sizes)
        return [
            "k": .integer(Int64(k)), "samples": .integer(Int64(dataset.count)), "layout": ClusterInputs.layoutJSON(dataset.layout),
            "source": [
                "job": params.sourceJob.map(JSONValue.string) ?? .null, "kind": source.kind.map(JSONValue.string) ?? .null,
                "scores": ClusterInputs.scoresJSON(sourceScores),
            ],
            "selection": [
                "method": .string(selection.rawValue), "neighbours_from": .string(embeddingUsed),
                "clean": .integer(Int64(clean.count)), "unlabelled": .integer(Int64(unlabelled.count)),
                "clean_final": .integer(Int64(trainer.labelledIndices.count)),
                "clean_accuracy": SemiSupervisedInputs.optional(cleanAccuracy),
            ],
            "initialization": .string(adoptTrunk ? "scan_trunk" : "scratch"),
            "scores": ClusterInputs.scoresJSON(refinedScores), "changes": .object(changes),
            "cluster_sizes": ClusterInputs.integers(sizes), "warnings": .array(warnings.map(JSONValue.string)),
            "model": cost, "seconds": .number(Date().timeIntervalSince(start)),
        ]
    }
}
