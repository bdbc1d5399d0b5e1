import RandomStreams

/// Which samples train a semi-supervised network with their labels, which without, and which are held back
/// for scoring.
public struct SemiSupervisedSplit: Sendable, Equatable {
    /// The most classes a semi-supervised network has (as many as a saved classifier model may have).
    public static let maxClasses = 1000

    public var classes: Int
    /// Training samples with labels, and those labels.
    public var labelled: [Int]
    public var targets: [Int]
    /// Training samples without labels: those labelled −1, and those whose labels were hidden.
    public var unlabelled: [Int]
    /// Samples whose labels were hidden by `labelled_per_class` (scored as `acc`), with their labels.
    public var hidden: [Int]
    public var hiddenLabels: [Int]
    /// Labelled samples held out from training (scored as `acc_validation`), with their labels.
    public var validation: [Int]
    public var validationLabels: [Int]

    /// - Parameters:
    ///   - labels: one per sample; −1 marks a sample without a label.
    ///   - labelledPerClass: keep this many labels of each class (a seeded choice) and hide the rest; nil keeps them all.
    ///   - validationFraction: of each class's kept labels, this share (rounded, leaving at least one to train on) is held out.
    public static func make(labels: [Int], labelledPerClass: Int?, validationFraction: Double, seed: UInt64) throws(DatasetError) -> Self {
        let classes = (labels.max() ?? -1) + 1
        guard classes >= 2 else {
            throw DatasetError(field: "params.dataset", "the labels name \(max(classes, 0)) class; semi-supervised training needs at least 2")
        }
        guard classes <= maxClasses else {
            throw DatasetError(field: "labels", "the labels name \(classes) classes (0…\(classes - 1)); at most \(maxClasses)")
        }
        var byClass = [[Int]](repeating: [], count: classes)
        var unlabelled: [Int] = []
        for (index, label) in labels.enumerated() {
            if label >= 0 { byClass[label].append(index) } else { unlabelled.append(index) }
        }
        if let empty = byClass.firstIndex(where: \.isEmpty) {
            throw DatasetError(
                field: "labels",
                "class \(empty) has no labelled sample; the labels must use every class 0…\(classes - 1) at least once (−1 marks unlabelled)")
        }
        var split = Self(
            classes: classes, labelled: [], targets: [], unlabelled: unlabelled, hidden: [], hiddenLabels: [], validation: [],
            validationLabels: [])
        for (label, members) in byClass.enumerated() {
            var rng = RandomStream(seed: seed ^ 0x5E41_0000, stream: label)
            var chosen = members
            chosen.shuffle(using: &rng)
            if let n = labelledPerClass {
                guard n <= members.count else {
                    throw DatasetError(
                        field: "params.labelled_per_class",
                        "\(n) is larger than class \(label), which has \(members.count) labelled sample\(members.count == 1 ? "" : "s")")
                }
                split.hidden += chosen[n...]
                split.hiddenLabels += [Int](repeating: label, count: members.count - n)
                split.unlabelled += chosen[n...]
                chosen = Array(chosen[..<n])
            }
            let held = min(Int((Double(chosen.count) * validationFraction).rounded()), chosen.count - 1)
            split.validation += chosen[..<held]
            split.validationLabels += [Int](repeating: label, count: held)
            split.labelled += chosen[held...]
            split.targets += [Int](repeating: label, count: chosen.count - held)
        }
        split.unlabelled.sort()
        return split
    }
}
