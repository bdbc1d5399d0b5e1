import Clustering
import Foundation
import Jobs

/// Cluster assignments (`assignments.npy`): sizes, the confusion matrix against labels, image montages of the most and
/// least confident members, a 2-D PCA of vectors, SCAN's mined neighbours and what RUC changed.
enum ClusterPlots {
    /// Clusters drawn in a montage or matrix (more are summarised in the figure).
    static let maxClusters = 30
    /// A scatter of 3,000 points shows the structure; more only costs time (power iterations are O(n × d) each).
    static let pcaSamples = 3_000

    static let definitions: [PlotDefinition] = [
        PlotDefinition(
            name: "sizes", title: "Cluster sizes", description: "Samples per cluster.",
            applies: hasAssignments, render: { source, _ in try sizes(Assignments(source)) }),
        PlotDefinition(
            name: "confusion", title: "Confusion matrix",
            description: "True labels (rows) against clusters (columns), counts and row shares; only for labelled datasets.",
            applies: { hasAssignments($0) && hasScores($0.result) },
            render: { source, _ in try confusion(Assignments(source), source) }),
        PlotDefinition(
            name: "montage", title: "Cluster montage",
            description: "Per cluster: its most confident members (left) and its least confident (right, after the gap).",
            applies: { hasAssignments($0) && isImages($0) }, render: { source, _ in try montage(Assignments(source), source) }),
        PlotDefinition(
            name: "pca", title: "PCA scatter", description: "The samples on their first two principal components, coloured by cluster.",
            applies: { hasAssignments($0) && !isImages($0) }, render: { source, _ in try pca(Assignments(source), source) }),
        PlotDefinition(
            name: "neighbours", title: "Mined neighbours",
            description: "SCAN: a few anchors (left) with their nearest neighbours in the pretext space.",
            applies: { $0.artifactNames.contains("neighbours.npy") && isImages($0) }, render: { source, _ in try neighbours(source) }),
        PlotDefinition(
            name: "changes", title: "What RUC changed", description: "Source clusters (rows) against refined clusters (columns).",
            applies: { hasAssignments($0) && $0.job.kind == "cluster.ruc" && $0.job.params["source_job"]?.stringValue != nil },
            render: { source, _ in try changes(Assignments(source), source) }),
    ]

    /// Clusters (`assignments.npy`) or a semi-supervised classifier's classes (`predictions.npy`).
    static let hasAssignments: @Sendable (PlotSource) -> Bool = { assignmentsArtifact($0) != nil }

    static func assignmentsArtifact(_ source: PlotSource) -> String? {
        ["assignments.npy", "predictions.npy"].first { source.artifactNames.contains($0) }
    }

    /// Scores against labels mean the dataset has labels (clustering kinds put them in `scores`, semi-supervised ones in `acc`).
    static func hasScores(_ result: JSONValue) -> Bool {
        if let scores = result["scores"], scores != .null { return true }
        return result["acc"].map { $0 != .null } ?? false
    }

    static func isImages(_ source: PlotSource) -> Bool {
        source.result["layout"]?["kind"]?.stringValue == "images" || source.result["input"]?["kind"]?.stringValue == "images"
    }

    struct Assignments {
        let clusters: [Int]
        let k: Int
        /// N × k probabilities when the method has them.
        let probabilities: [Float]?

        init(_ source: PlotSource) throws {
            guard let name = assignmentsArtifact(source), let array = try source.array(name) else {
                throw PlotError.unreadable("assignments.npy is missing")
            }
            clusters = PlotMath.integers(array)
            let largest = clusters.max() ?? -1
            var k = max(largest + 1, source.result["k"]?.integerValue.map { Int(clamping: $0) } ?? 0, 1)
            var probabilities: [Float]?
            if let p = try source.array("probabilities.npy"), p.shape.count == 2, p.shape[0] == clusters.count, p.shape[1] >= k {
                k = p.shape[1]
                probabilities = p.floats()
            }
            // Cluster indices come from our own kinds, but an absurd k would only allocate: it is bounded.
            self.k = min(k, 100_000)
            self.probabilities = probabilities
        }

        func confidence(_ sample: Int) -> Double {
            guard let probabilities, clusters[sample] >= 0, clusters[sample] < k else { return 0 }
            return Double(probabilities[sample * k + clusters[sample]])
        }

        var sizes: [Int] {
            var sizes = [Int](repeating: 0, count: k)
            for cluster in clusters where cluster >= 0 && cluster < k { sizes[cluster] += 1 }
            return sizes
        }
    }

    static func sizes(_ assignments: Assignments) throws -> Figure {
        let sizes = Array(assignments.sizes.prefix(200))
        let width = max(420, min(1200, 90 + sizes.count * 28))
        var figure = Figure(width: width, height: 340, title: "Cluster sizes")
        var panel = Panel(
            x: 70, y: 50, width: Double(width - 100), height: 230, xRange: (0, Double(sizes.count)), yRange: (0, Double(sizes.max() ?? 1) * 1.08))
        panel.xTicks = false
        panel.drawAxes(on: &figure, xLabel: "cluster", yLabel: "samples")
        let slot = panel.frame.width / Double(max(sizes.count, 1))
        for (cluster, size) in sizes.enumerated() {
            let x = panel.frame.x + Double(cluster) * slot
            figure.rect(
                x: x + slot * 0.12, y: panel.y(Double(size)), width: slot * 0.76, height: panel.y(0) - panel.y(Double(size)),
                fill: Color.category(cluster))
            if sizes.count <= 40 {
                figure.text("\(cluster)", at: Point(x + slot / 2, panel.y(0) + 14), anchor: .middle, color: .grey, size: 10)
                if slot >= 24 { figure.text("\(size)", at: Point(x + slot / 2, panel.y(Double(size)) - 3), anchor: .middle, size: 9) }
            }
        }
        return figure
    }

    static func labels(_ source: PlotSource, count: Int) throws -> [Int] {
        guard let labels = try source.labels(), labels.count == count else {
            throw PlotError.unreadable("the job's dataset has no labels (or is gone)")
        }
        return labels
    }

    /// The samples at `indices` of the job's dataset (a few of many), or a clear error when it is gone.
    static func samples(_ source: PlotSource, _ indices: [Int]) throws -> Dataset {
        guard let dataset = try source.samples(indices), dataset.count == indices.count else {
            throw PlotError.unreadable("the job's dataset is gone or does not match its assignments")
        }
        return dataset
    }

    /// A matrix of counts drawn as cells shaded by row share, with counts written when the cells are large enough.
    static func matrix(
        _ counts: [[Int]], rowLabels: [String], columnLabels: [String], title: String, rowAxis: String, columnAxis: String
    ) -> Figure {
        let rows = counts.count, columns = counts.first?.count ?? 0
        let cell = max(12, min(40, 640 / Double(max(rows, columns, 1))))
        let (left, top) = (110.0, 70.0)
        var figure = Figure(width: Int(left + Double(columns) * cell + 40), height: Int(top + Double(rows) * cell + 50), title: title)
        for row in 0..<rows {
            let total = max(1, counts[row].reduce(0, +))
            for column in 0..<columns {
                let share = Double(counts[row][column]) / Double(total)
                let (x, y) = (left + Double(column) * cell, top + Double(row) * cell)
                figure.rect(x: x, y: y, width: cell - 1, height: cell - 1, fill: Color.sequential(share))
                if cell >= 24, counts[row][column] > 0 {
                    figure.text(
                        "\(counts[row][column])", at: Point(x + cell / 2, y + cell / 2 + 4), anchor: .middle, color: share > 0.6 ? .black : .white,
                        size: counts[row][column] >= 1000 ? 8 : 10)
                }
            }
            if cell >= 12 { figure.text(rowLabels[row], at: Point(left - 6, top + (Double(row) + 0.5) * cell + 4), anchor: .end, size: 10) }
        }
        for column in 0..<columns where cell >= 12 {
            figure.text(columnLabels[column], at: Point(left + (Double(column) + 0.5) * cell, top - 6), anchor: .middle, size: 10)
        }
        figure.text(columnAxis, at: Point(left + Double(columns) * cell / 2, top - 22), anchor: .middle, size: 11, bold: true)
        figure.text(rowAxis, at: Point(left - 70, top + Double(rows) * cell / 2), anchor: .middle, size: 11, bold: true, vertical: true)
        figure.text("shade: share of the row", at: Point(left, top + Double(rows) * cell + 20), color: .grey, size: 10)
        return figure
    }

    static func confusion(_ assignments: Assignments, _ source: PlotSource) throws -> Figure {
        let labels = try labels(source, count: assignments.clusters.count)
        let classes = Array(Set(labels.filter { $0 >= 0 })).sorted().prefix(maxClusters)
        let classIndex = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($0.element, $0.offset) })
        // Columns in the order of the labels their clusters match best (Hungarian, as ACC scores them): a good
        // clustering reads as a diagonal, and an off-diagonal cell is a real confusion, not a naming accident.
        let scored = zip(assignments.clusters, labels).filter { $0.0 >= 0 && $0.1 >= 0 }
        let mapping = ClusteringMetrics.bestMapping(scored.map(\.0), scored.map(\.1))
        let matched = classes.flatMap { label in mapping.filter { $0.value == label }.keys.sorted() }
        let order = Array((matched + (0..<assignments.k).filter { !matched.contains($0) }).prefix(maxClusters))
        let column = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($0.element, $0.offset) })
        var counts = [[Int]](repeating: [Int](repeating: 0, count: order.count), count: classes.count)
        for (sample, cluster) in assignments.clusters.enumerated() {
            guard let row = classIndex[labels[sample]], let col = column[cluster] else { continue }
            counts[row][col] += 1
        }
        return matrix(
            counts, rowLabels: classes.map { "\($0)" }, columnLabels: order.map { "\($0)" }, title: "Confusion matrix", rowAxis: "true label",
            columnAxis: "cluster (ordered by best-matching label)")
    }

    /// One sample as RGB pixels (channels 1 → grey; 3 → colour), scaled to 0…255 by `scale`.
    static func thumbnail(_ dataset: Dataset, _ sample: Int, scale: Float) -> (pixels: [UInt8], columns: Int, rows: Int)? {
        guard case .images(let channels, let height, let width) = dataset.layout, sample >= 0, sample < dataset.count else { return nil }
        let size = channels * height * width
        var pixels = [UInt8](repeating: 0, count: height * width * 3)
        for pixel in 0..<(height * width) {
            for colour in 0..<3 {
                let channel = channels >= 3 ? colour : 0
                let value = dataset.values[sample * size + channel * height * width + pixel] * scale
                pixels[pixel * 3 + colour] = value.isFinite ? UInt8(min(max(value, 0), 255)) : 0
            }
        }
        return (pixels, width, height)
    }

    static func imageScale(_ dataset: Dataset) -> Float {
        let largest = dataset.values.prefix(200_000).max() ?? 1
        return largest > 1.5 ? 255 / largest : 255
    }

    static func montage(_ assignments: Assignments, _ source: PlotSource) throws -> Figure {
        let (best, worst, thumb) = (8, 4, 30.0)
        var members = [[Int]](repeating: [], count: assignments.k)
        for (sample, cluster) in assignments.clusters.enumerated() where cluster >= 0 && cluster < assignments.k { members[cluster].append(sample) }
        let shown = (0..<assignments.k).filter { !members[$0].isEmpty }.prefix(maxClusters)
        let left = 96.0
        var figure = Figure(
            width: Int(left + Double(best + worst) * (thumb + 2) + 30 + 20), height: Int(60 + Double(shown.count) * (thumb + 6) + 20),
            title: "Cluster montage")
        figure.text("most confident", at: Point(left, 42), color: .grey, size: 10)
        figure.text("least confident", at: Point(left + Double(best) * (thumb + 2) + 30, 42), color: .grey, size: 10)
        // Only the samples shown are read: a few hundred rows of the dataset, however large it is.
        let picked = shown.map { cluster -> [Int] in
            let ranked = members[cluster].sorted { (assignments.confidence($0), -$0) > (assignments.confidence($1), -$1) }
            return Array(ranked.prefix(best)) + (ranked.count > best ? Array(ranked.suffix(min(worst, ranked.count - best))) : [])
        }
        let dataset = try samples(source, picked.flatMap { $0 })
        let scale = imageScale(dataset)
        var offset = 0
        for (row, cluster) in shown.enumerated() {
            let picks = picked[row].indices.map { offset + $0 }
            offset += picked[row].count
            let y = 52 + Double(row) * (thumb + 6)
            figure.text(
                "\(cluster) (\(members[cluster].count))", at: Point(left - 8, y + thumb / 2 + 4), anchor: .end, color: Color.category(cluster),
                size: 11, bold: true)
            for (position, sample) in picks.enumerated() {
                guard let image = thumbnail(dataset, sample, scale: scale) else { continue }
                let x = left + Double(position) * (thumb + 2) + (position >= best ? 30 : 0)
                figure.image(pixels: image.pixels, columns: image.columns, rows: image.rows, x: x, y: y, width: thumb, height: thumb)
            }
        }
        return figure
    }

    static func pca(_ assignments: Assignments, _ source: PlotSource) throws -> Figure {
        let chosen = PlotMath.thinned(Array(0..<assignments.clusters.count), limit: pcaSamples)
        let dataset = try samples(source, chosen)
        return pcaScatter(
            dataset, groups: chosen.map { assignments.clusters[$0] }, k: assignments.k, total: assignments.clusters.count,
            title: "PCA of the samples, coloured by cluster")
    }

    /// `dataset`'s samples (already chosen, at most a few thousand) on their first two principal components, coloured by
    /// `groups` (clusters or labels; −1 grey); `total` is how many the whole dataset has.
    static func pcaScatter(_ dataset: Dataset, groups: [Int], k: Int, total: Int, title: String) -> Figure {
        let d = dataset.layout.sampleSize
        let samples = Array(0..<dataset.count)
        var mean = [Double](repeating: 0, count: d)
        for sample in samples { for j in 0..<d { mean[j] += Double(dataset.values[sample * d + j]) } }
        for j in 0..<d { mean[j] /= Double(max(samples.count, 1)) }
        let centred = samples.map { sample in (0..<d).map { Double(dataset.values[sample * d + $0]) - mean[$0] } }
        // The top two principal directions by power iteration with deflation: O(iterations × n × d), no d × d matrix.
        var components: [[Double]] = []
        for component in 0..<min(2, d) {
            var vector = (0..<d).map { j in j == component ? 1.0 : 0.5 / Double(j + 2) }
            for _ in 0..<60 {
                var next = [Double](repeating: 0, count: d)
                for row in centred {
                    var projection = 0.0
                    for j in 0..<d { projection += row[j] * vector[j] }
                    for j in 0..<d { next[j] += projection * row[j] }
                }
                for previous in components {
                    let overlap = zip(next, previous).reduce(0) { $0 + $1.0 * $1.1 }
                    for j in 0..<d { next[j] -= overlap * previous[j] }
                }
                let norm = next.reduce(0) { $0 + $1 * $1 }.squareRoot()
                guard norm > 0, norm.isFinite else { break }
                let normalized = next.map { $0 / norm }
                let agreement = abs(zip(normalized, vector).reduce(0) { $0 + $1.0 * $1.1 })
                vector = normalized
                if 1 - agreement < 1e-9 { break }  // converged: a direction for a plot needs no more digits
            }
            components.append(vector)
        }
        let coordinates = centred.map { row in
            components.map { component in zip(row, component).reduce(0) { $0 + $1.0 * $1.1 } } + [0, 0]
        }
        var figure = Figure(width: 600, height: 540, title: title)
        let panel = Panel(
            x: 80, y: 60, width: 470, height: 410, xRange: PlotMath.range(coordinates.map { $0[0] }) ?? (0, 1),
            yRange: PlotMath.range(coordinates.map { $0[1] }) ?? (0, 1))
        panel.drawAxes(on: &figure, xLabel: "PC 1", yLabel: "PC 2")
        for (index, sample) in samples.enumerated() {
            let cluster = groups[sample]
            figure.circle(
                panel.point(coordinates[index][0], coordinates[index][1]), radius: 2.2,
                fill: cluster < 0 ? .grey : Color.category(cluster).with(opacity: 0.7))
        }
        if k <= 10 {
            drawLegend((0..<k).map { ("\($0)", Color.category($0)) }, at: Point(80, 44), on: &figure)
        }
        if total > samples.count {
            figure.text("\(samples.count) of \(total) samples (evenly spaced)", at: Point(12, 532), color: .grey, size: 10)
        }
        return figure
    }

    static func neighbours(_ source: PlotSource) throws -> Figure {
        guard let array = try source.array("neighbours.npy"), array.shape.count == 2, array.shape[1] >= 1
        else { throw PlotError.unreadable("neighbours.npy is missing or not samples × neighbours") }
        let neighbours = PlotMath.integers(array)
        let perRow = min(array.shape[1], 8)
        let anchors = Array(PlotMath.thinned(Array(0..<array.shape[0]), limit: 8).prefix(8))
        let rows = anchors.map { anchor in [anchor] + (0..<perRow).map { neighbours[anchor * array.shape[1] + $0] } }
        let dataset = try samples(source, rows.flatMap { $0 })
        let thumb = 32.0
        var figure = Figure(
            width: Int(40 + Double(perRow + 1) * (thumb + 4) + 24 + 20), height: Int(60 + Double(anchors.count) * (thumb + 6) + 10),
            title: "Mined neighbours")
        figure.text("anchor", at: Point(40, 44), color: .grey, size: 10)
        figure.text("nearest neighbours →", at: Point(40 + thumb + 28, 44), color: .grey, size: 10)
        let scale = imageScale(dataset)
        let labels = dataset.labels
        for row in anchors.indices {
            let y = 52 + Double(row) * (thumb + 6)
            let first = row * (perRow + 1)
            for position in 0...perRow {
                let sample = first + position
                guard let image = thumbnail(dataset, sample, scale: scale) else { continue }
                let x = 40 + Double(position) * (thumb + 4) + (position > 0 ? 24 : 0)
                figure.image(pixels: image.pixels, columns: image.columns, rows: image.rows, x: x, y: y, width: thumb, height: thumb)
                if position > 0, let labels, labels[sample] != labels[first] {
                    figure.rect(x: x - 1, y: y - 1, width: thumb + 2, height: thumb + 2, fill: nil, stroke: .red)
                }
            }
        }
        if labels != nil {
            figure.text("red frame: another label than the anchor's", at: Point(40, Double(figure.height) - 4), color: .red, size: 10)
        }
        return figure
    }

    static func changes(_ refined: Assignments, _ source: PlotSource) throws -> Figure {
        guard let sourceJob = source.job.params["source_job"]?.stringValue, let data = try source.otherArtifact(sourceJob, "assignments.npy") else {
            throw PlotError.unreadable("the source job's assignments are gone")
        }
        let before: [Int]
        do { before = PlotMath.integers(try NumericArray.read(data, field: "assignments.npy").array) } catch {
            throw PlotError.unreadable("the source job's assignments.npy: \(error.reason)")
        }
        guard before.count == refined.clusters.count else { throw PlotError.unreadable("the source job's assignments do not match") }
        let k = min(max(refined.k, (before.max() ?? 0) + 1), maxClusters)
        var counts = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        for (from, to) in zip(before, refined.clusters) where from >= 0 && from < k && to >= 0 && to < k { counts[from][to] += 1 }
        let changed = zip(before, refined.clusters).filter { $0 != $1 }.count
        var figure = matrix(
            counts, rowLabels: (0..<k).map { "\($0)" }, columnLabels: (0..<k).map { "\($0)" }, title: "What RUC changed: \(changed) samples moved",
            rowAxis: "source cluster", columnAxis: "refined cluster")
        if let corrections = source.result["changes"]?["corrections"]?.integerValue,
            let regressions = source.result["changes"]?["regressions"]?.integerValue
        {
            figure.text("against labels: \(corrections) corrected, \(regressions) made wrong", at: Point(110, 40), color: .grey, size: 10)
        }
        return figure
    }
}

/// A dataset's preview for the dashboard: a montage of images by label (or the first ones), or a PCA of vectors by label.
public enum DatasetPlots {
    /// `count` samples, `labels` when the dataset has them, `isImages` from its description; `samples` reads the few shown.
    public static func preview(count: Int, labels given: [Int]?, isImages: Bool, name: String, samples: ([Int]) throws -> Dataset) throws -> Figure {
        let labels = given ?? [Int](repeating: -1, count: count)
        guard isImages else {
            let chosen = PlotMath.thinned(Array(0..<count), limit: ClusterPlots.pcaSamples)
            let dataset = try samples(chosen)
            return ClusterPlots.pcaScatter(
                dataset, groups: chosen.map { labels[$0] }, k: (labels.max() ?? -1) + 1, total: count, title: "\(name): PCA, coloured by label")
        }
        // Rows: one per label (the first 12 samples of each), or rows of 12 of the first samples without labels.
        let perRow = 12
        var rows: [(String, [Int])] = []
        if given != nil {
            var byLabel: [Int: [Int]] = [:]
            for (sample, label) in labels.enumerated() where label >= 0 && (byLabel[label]?.count ?? 0) < perRow {
                byLabel[label, default: []].append(sample)
                if byLabel.count > ClusterPlots.maxClusters { break }
            }
            rows = byLabel.keys.sorted().prefix(ClusterPlots.maxClusters).map { ("label \($0)", byLabel[$0]!) }
        } else {
            let first = Array(0..<min(count, perRow * 8))
            rows = stride(from: 0, to: first.count, by: perRow).map { ("", Array(first[$0..<min($0 + perRow, first.count)])) }
        }
        let thumb = 30.0, left = 80.0
        var figure = Figure(
            width: Int(left + Double(perRow) * (thumb + 2) + 20), height: Int(44 + Double(rows.count) * (thumb + 6) + 10), title: "\(name): samples")
        let dataset = try samples(rows.flatMap(\.1))
        let scale = ClusterPlots.imageScale(dataset)
        var next = 0
        for (row, (label, members)) in rows.enumerated() {
            let y = 40 + Double(row) * (thumb + 6)
            figure.text(label, at: Point(left - 8, y + thumb / 2 + 4), anchor: .end, size: 11)
            for position in members.indices {
                let sample = next + position
                guard let image = ClusterPlots.thumbnail(dataset, sample, scale: scale) else { continue }
                figure.image(
                    pixels: image.pixels, columns: image.columns, rows: image.rows, x: left + Double(position) * (thumb + 2), y: y, width: thumb,
                    height: thumb)
            }
            next += members.count
        }
        return figure
    }
}
