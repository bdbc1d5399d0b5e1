import Clustering
import Foundation
import Tensor

// The Swift side of bench/iic and bench/scan: IIC, SCAN and k-means on the raw datasets of
// ../shared/datasets, one JSON object per line.
// Usage: cluster-bench (iic|kmeans|scan) DATASETS_DIR NAME [epochs|runs|pretext epochs] [seed] [batch]
BLASRuntime.ensureFastKernels()
TensorRuntime.keepFreedBuffers()
// One compute thread unless BENCH_THREADS says otherwise (runs without a peer on this 2-core machine).
BLASRuntime.setThreads(ProcessInfo.processInfo.environment["BENCH_THREADS"].flatMap(Int.init) ?? 1)

func emit(_ object: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

func read(_ path: String) throws -> Data {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return Gzip.isCompressed(data) ? try Gzip.decompress(data) : data
}

func load(_ directory: String, _ name: String) throws -> Dataset {
    if let generated = GeneratedDatasets.make(name, count: 400, classes: 3, seed: 1) { return generated }
    let (files, side): ([(String, String)], Int) =
        switch name {
        case "digits": ([("digits/digits-images.u8", "digits/digits-labels.u8")], 8)
        case "usps":
            ([("usps/usps-train-images.u8.gz", "usps/usps-train-labels.u8.gz"), ("usps/usps-test-images.u8.gz", "usps/usps-test-labels.u8.gz")], 16)
        default:
            (
                [
                    ("mnist/mnist-train-images.u8.gz", "mnist/mnist-train-labels.u8.gz"),
                    ("mnist/mnist-test-images.u8.gz", "mnist/mnist-test-labels.u8.gz"),
                ], 28
            )
        }
    var images = Data(), labels = Data()
    for (imageFile, labelFile) in files {
        images.append(try read("\(directory)/\(imageFile)"))
        labels.append(try read("\(directory)/\(labelFile)"))
    }
    let array = NumericArray(shape: [labels.count, side, side], element: .uint8, bigEndian: false, bytes: images, format: "raw")
    return try Dataset.from(array, labels: labels.map { Int($0) })
}

let arguments = CommandLine.arguments
if arguments[1] == "classical" {
    // cluster-bench classical FEATURES.npy LABELS.npy METHOD [k] [seed]
    let features = try NumericArray.read(try read(arguments[2]), field: "data").array
    let labelArray = try NumericArray.read(try read(arguments[3]), field: "labels").array
    let dataset = try Dataset.from(features, labels: labelArray.doubles().map { Int($0) })
    let k = arguments.count > 5 && Int(arguments[5])! > 0 ? Int(arguments[5])! : Set(dataset.labels!).count
    let seed = arguments.count > 6 ? UInt64(arguments[6])! : 0
    let begin = Date()
    let environment = ProcessInfo.processInfo.environment
    let (values, d) = dataset.flattened
    let (_, x) = FeaturePreprocessing.fit(values, count: dataset.count, dimension: d, scaling: .l2, pcaComponents: 0)
    var clusters: [Int] = []
    var extra: [String: Any] = [:]
    switch arguments[4] {
    case "spectral":
        let neighbours = environment["NEIGHBOURS"].flatMap(Int.init) ?? 10
        let graph = try NeighbourGraph.build(x, count: dataset.count, dimension: d, k: neighbours)
        let t1 = Date().timeIntervalSince(begin)
        var spectral = SpectralClustering(neighbours: neighbours, seed: seed)
        if let value = environment["TOL"].flatMap(Double.init) { spectral.tolerance = value }
        let affinity = SparseSymmetric.connectivity(graph)
        let spectrum = try spectral.spectrum(affinity, wanted: k + 1)
        let t2 = Date().timeIntervalSince(begin)
        let embedding = SpectralClustering.embedding(spectrum, k: k, rowNormalized: environment["EMBEDDING"] != "sklearn")
        // ASSIGN=merge: the kind's default (2k k-means groups merged along the graph); otherwise k-means into k.
        let groups = environment["ASSIGN"] == "merge" ? min(2 * k, dataset.count) : k
        let grouped = try KMeans(k: groups, runs: 10, seed: seed).fit(embedding, count: dataset.count, dimension: k).assignments
        let t3 = Date().timeIntervalSince(begin)
        clusters = SpectralClustering.mergeGroups(grouped, groups: groups, graph: affinity, into: k)
        extra = [
            "knn_s": t1, "eigen_s": t2 - t1, "kmeans_s": t3 - t2, "merge_s": Date().timeIntervalSince(begin) - t3, "restarts": spectrum.restarts,
            "converged": spectrum.converged,
            "eigenvalues": spectrum.laplacianEigenvalues,
        ]
    case "gmm":
        let covariance = GaussianMixture.Covariance(rawValue: environment["COVARIANCE"] ?? "diag")!
        var mixture = GaussianMixture(k: k, covariance: covariance, seed: seed)
        mixture.initRuns = environment["INIT_RUNS"].flatMap(Int.init) ?? 1
        var firstStep: Double?
        let fitStart = Date()
        let result = try mixture.fit(x.map(Double.init), count: dataset.count, dimension: d) { _, _, _ in
            if firstStep == nil { firstStep = Date().timeIntervalSince(fitStart) }
        }
        clusters = result.assignments
        extra = [
            "iterations": result.iterations, "bic": result.bic, "loglik": result.meanLogLikelihood, "first_step_s": firstStep ?? 0,
            "fit_s": Date().timeIntervalSince(fitStart),
        ]
    case "hdbscan":
        let size = environment["MIN_CLUSTER_SIZE"].flatMap(Int.init) ?? 15
        let result = try HDBSCAN(minClusterSize: size).fit(x, count: dataset.count, dimension: d)
        clusters = result.labels
        extra = ["clusters": result.clusterCount, "noise": result.labels.filter { $0 < 0 }.count]
    case "ward":
        let linkage = try WardClustering(neighbours: environment["NEIGHBOURS"].flatMap(Int.init) ?? 10).fit(x, count: dataset.count, dimension: d)
        clusters = linkage.cut(k)
        extra = ["bridging": linkage.bridgingMerges]
    default:
        clusters = try KMeans(k: k, runs: environment["RUNS"].flatMap(Int.init) ?? 10, seed: seed).fit(x, count: dataset.count, dimension: d)
            .assignments
    }
    let scores = ClusteringMetrics.scores(clusters, dataset.labels!)
    emit(
        ["method": arguments[4], "seconds": Date().timeIntervalSince(begin), "nmi": scores.nmi, "acc": scores.accuracy].merging(extra) { a, _ in a })
    exit(0)
}
let mode = arguments[1], directory = arguments[2], name = arguments[3]
let amount = arguments.count > 4 ? Int(arguments[4])! : 50
let seed = arguments.count > 5 ? UInt64(arguments[5])! : 0
let batch = arguments.count > 6 ? Int(arguments[6])! : 128
let dataset = try load(directory, name)
let start = Date()
func peakRSS() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// The budget: SimCLR `pretext` epochs (batch 256, τ 0.2) → K = 20 → SCAN 30 epochs → self-labeling 20
/// (SCAN_EPOCHS and SELF_LABEL_EPOCHS shorten the last two on images). `afterPretext` receives the trunk's
/// features of every sample as the pretext left them.
func runSCAN(_ dataset: Dataset, pretext: Int, label: String, afterPretext: ([Float]) -> Void = { _ in }) throws {
    var configuration = SCANTrainer.Configuration(clusters: Set(dataset.labels!).count)
    configuration.pretextEpochs = pretext
    configuration.seed = seed
    configuration.sizePrior = .automatic(for: dataset.layout)  // as cluster.scan's default, size_prior "auto"
    let environment = ProcessInfo.processInfo.environment
    if dataset.layout.isImages, let value = environment["SCAN_EPOCHS"].flatMap(Int.init) { configuration.scanEpochs = value }
    if dataset.layout.isImages, let value = environment["SELF_LABEL_EPOCHS"].flatMap(Int.init) { configuration.selfLabelEpochs = value }
    let trainer = SCANTrainer(dataset: dataset, configuration: configuration)
    let begin = Date()
    var phaseSeconds: [String: Double] = [:]
    while !trainer.isFinished {
        if trainer.phase == .mining && pretext > 0 { afterPretext(trainer.features()) }
        let record = try trainer.runEpoch()
        phaseSeconds[record.phase.rawValue, default: 0] += record.seconds
        emit([
            "bench": "scan_epoch", "phase": record.phase.rawValue, "epoch": record.epoch, "loss": record.loss,
            "acc": record.scores?.accuracy ?? 0, "confident": record.confidentFraction ?? 0, "seconds": record.seconds,
            "agreement": record.phase == .mining ? trainer.neighbourAgreement ?? 0 : 0,
        ])
    }
    let scores = ClusteringMetrics.scores(trainer.assign().clusters, dataset.labels!)
    emit([
        "bench": "scan", "dataset": label, "seed": Int(seed), "seconds": Date().timeIntervalSince(begin), "acc": scores.accuracy,
        "nmi": scores.nmi, "ari": scores.ari, "agreement": trainer.neighbourAgreement ?? 0, "peak_rss_mb": peakRSS(),
        "confident": trainer.history.last?.confidentFraction ?? 0, "phase_seconds": phaseSeconds, "warnings": trainer.warnings,
    ])
}

/// MixMatch with `perClass` labels per class (the rest unlabelled, scored as `acc`): cluster-bench mixmatch DIR NAME EPOCHS SEED PER_CLASS.
/// MIXMATCH_SUPERVISED=1 trains on the labels alone; MIXMATCH_LAMBDA_U, MIXMATCH_RAMPUP, MIXMATCH_LR, MIXMATCH_BATCH, MIXMATCH_STEPS override.
func runMixMatch(_ dataset: Dataset, epochs: Int, perClass: Int) throws {
    let environment = ProcessInfo.processInfo.environment
    let split = try SemiSupervisedSplit.make(labels: dataset.labels!, labelledPerClass: perClass, validationFraction: 0, seed: seed)
    var configuration = MixMatchTrainer.Configuration(classes: split.classes)
    configuration.epochs = epochs
    configuration.seed = seed
    configuration.supervisedOnly = environment["MIXMATCH_SUPERVISED"] == "1"
    if let value = environment["MIXMATCH_LAMBDA_U"].flatMap(Float.init) { configuration.unlabelledWeight = value }
    if let value = environment["MIXMATCH_RAMPUP"].flatMap(Double.init) { configuration.rampUpEpochs = value }
    if let value = environment["MIXMATCH_LR"].flatMap(Float.init) { configuration.learningRate = value }
    if let value = environment["MIXMATCH_BATCH"].flatMap(Int.init) { configuration.batchSize = value }
    if let value = environment["MIXMATCH_STEPS"].flatMap(Int.init) { configuration.stepsPerEpoch = value }
    var evaluation = MixMatchTrainer.Evaluation()
    evaluation.hidden = zip(split.hidden, split.hiddenLabels).map { (index: $0.0, label: $0.1) }
    let trainer = MixMatchTrainer(
        dataset: dataset, labelled: split.labelled, targets: split.targets, unlabelled: split.unlabelled, configuration: configuration,
        evaluation: evaluation)
    while !trainer.isFinished {
        guard let record = try trainer.runNetworkEpoch() else { continue }
        emit([
            "bench": "mixmatch_epoch", "epoch": record.epoch, "seconds": record.seconds, "loss_x": record.labelledLoss[0],
            "loss_u": record.unlabelledLoss[0], "acc": record.hiddenAccuracy ?? 0,
        ])
    }
    let (predicted, _) = trainer.assign()
    let hidden = split.hidden.map { predicted[$0] }
    let accuracy = Double(zip(hidden, split.hiddenLabels).filter { $0 == $1 }.count) / Double(max(1, hidden.count))
    emit([
        "bench": configuration.supervisedOnly ? "supervised" : "mixmatch", "dataset": name, "seed": Int(seed),
        "seconds": Date().timeIntervalSince(start), "acc": accuracy, "labelled": split.labelled.count, "peak_rss_mb": peakRSS(),
    ])
}

if mode == "mixmatch" {
    try runMixMatch(dataset, epochs: amount, perClass: batch)
    exit(0)
}

if mode == "scan" {
    var pretextFeatures: [Float] = []
    try runSCAN(dataset, pretext: amount, label: name) { pretextFeatures = $0 }
    if ProcessInfo.processInfo.environment["SCAN_EMBEDDINGS"] == "1" && !pretextFeatures.isEmpty {
        // The notebook path: SCAN (default budget, MLP) on the pretext's embeddings as feature vectors, no pretext.
        let features = pretextFeatures
        let embeddings = Dataset(
            layout: .features(dimension: features.count / dataset.count), count: dataset.count, values: features,
            labels: dataset.labels)
        try runSCAN(embeddings, pretext: 0, label: name + "-embeddings")
    }
} else if mode == "kmeans" {
    let (values, d) = dataset.flattened
    let result = try KMeans(k: Set(dataset.labels!).count, runs: amount, seed: seed).fit(values, count: dataset.count, dimension: d)
    let scores = ClusteringMetrics.scores(result.assignments, dataset.labels!)
    emit([
        "bench": "kmeans", "dataset": name, "seconds": Date().timeIntervalSince(start), "inertia": result.inertia,
        "acc": scores.accuracy, "nmi": scores.nmi, "ari": scores.ari,
    ])
} else {
    var configuration = IIC.Configuration(clusters: Set(dataset.labels!).count)
    configuration.epochs = amount
    configuration.seed = seed
    configuration.batchSize = batch
    let environment = ProcessInfo.processInfo.environment
    if let value = environment["IIC_REPEATS"].flatMap(Int.init) { configuration.repeats = value }
    if let value = environment["IIC_PLAIN"] { configuration.plainAnchor = value == "1" }
    if let value = environment["IIC_ALTERNATE"] { configuration.alternate = value == "1" }
    if let value = environment["IIC_AUG"] { configuration.augmentation = value }
    if let value = environment["IIC_LR"].flatMap(Float.init) { configuration.learningRate = value }
    let trainer = IICTrainer(dataset: dataset, configuration: configuration)
    while !trainer.isFinished {
        let record = try trainer.runEpoch()
        emit([
            "bench": "iic_epoch", "epoch": record.epoch, "seconds": record.seconds, "loss": record.mainLosses[record.bestHead],
            "acc": record.scores?.accuracy ?? 0, "nmi": record.scores?.nmi ?? 0,
        ])
    }
    let (clusters, _) = trainer.assign()
    let scores = ClusteringMetrics.scores(clusters, dataset.labels!)
    let cost = trainer.network.cost
    emit([
        "bench": "iic", "dataset": name, "seed": Int(seed), "epochs": amount, "seconds": Date().timeIntervalSince(start),
        "seconds_per_epoch": trainer.history.map(\.seconds).reduce(0, +) / Double(amount),
        "acc": scores.accuracy, "nmi": scores.nmi, "ari": scores.ari, "peak_rss_mb": peakRSS(),
        "parameters": cost.parameters, "macs": cost.macs,
    ])
}
