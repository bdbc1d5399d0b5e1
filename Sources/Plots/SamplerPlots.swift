import Clustering
import Foundation
import Jobs

/// Draws (`draws.npy`, chains × draws × coordinates, with `draws.json` naming them): ArviZ's trace, rank, marginal and
/// pair plots, R̂ and ESS per coordinate; importance weights with k̂.
enum SamplerPlots {
    /// Coordinates drawn in the per-coordinate plots (the rest are in draws.npy; the figure says how many were left out).
    static let maxCoordinates = 8
    /// Rank plots rank at most this many draws per chain (evenly thinned): a plot, not a diagnostic, needs no more.
    static let rankDrawsPerChain = 20_000

    static let definitions: [PlotDefinition] = [
        PlotDefinition(
            name: "trace", title: "Trace plots", description: "Per coordinate: each chain's density (left) and trace (right).",
            applies: hasDraws(chains: 1), render: { source, _ in try trace(Draws(source)) }),
        PlotDefinition(
            name: "rank", title: "Rank plots",
            description: "Per coordinate: histograms of each chain's ranks among all draws; flat when the chains mix.",
            applies: hasDraws(chains: 2), render: { source, _ in try rank(Draws(source)) }),
        PlotDefinition(
            name: "marginals", title: "Marginal histograms",
            description: "Per coordinate: the histogram of all draws with the mean and the 5–95 % interval.",
            applies: hasDraws(chains: 1), render: { source, _ in try marginals(Draws(source), source.result, target: Target(source)) }),
        PlotDefinition(
            name: "pair", title: "Pair plot",
            description: "Two coordinates (?x=NAME&y=NAME; the first two by default) against each other, by chain; divergences in black.",
            applies: { hasDraws(chains: 1)($0) && (layout($0)?.coordinates ?? 0) >= 2 },
            render: { source, options in try pair(Draws(source), source, options) }),
        PlotDefinition(
            name: "diagnostics", title: "R̂ and ESS", description: "Per coordinate: R̂ (rank-normalized split) and bulk and tail ESS.",
            applies: { $0.result["parameters"]?.objectValue?.values.contains { $0["r_hat"] != nil } == true },
            render: { source, _ in diagnostics(source.result) }),
        PlotDefinition(
            name: "weights", title: "Importance weights",
            description: "Histogram of the normalized importance weights (log10 of w / max w), with Pareto k̂ and the ESS.",
            applies: { $0.artifactNames.contains("log_weights.npy") }, render: { source, _ in try weights(source) }),
    ]

    static func hasDraws(chains: Int) -> @Sendable (PlotSource) -> Bool {
        { source in
            guard source.artifactNames.contains("draws.npy"), source.artifactNames.contains("draws.json") else { return false }
            // Rank plots compare chains: a single-chain sampler (inverse-CDF, rejection, importance) has none to compare.
            return chains <= 1 || (layout(source)?.chains ?? 1) >= chains
        }
    }

    /// Chains and coordinates, from draws.json (small): enough to tell which plots apply without reading the draws.
    static func layout(_ source: PlotSource) -> (chains: Int, coordinates: Int)? {
        guard let data = try? source.artifact("draws.json"), let layout = try? JSONValue.parse(String(decoding: data, as: UTF8.self)),
            let chains = layout["chains"]?.integerValue, let coordinates = layout["coordinates"]?.arrayValue?.count
        else { return nil }
        return (Int(clamping: chains), coordinates)
    }

    /// Draws by coordinate, then chain.
    struct Draws {
        let names: [String]
        let chains: Int
        let perChain: Int
        /// Chain-major, draw-major values as in draws.npy; a coordinate is split out only when a plot draws it (at most 8
        /// of what may be hundreds).
        private let flat: [Double]

        init(_ source: PlotSource) throws {
            guard let array = try source.array("draws.npy"), array.shape.count == 3 else {
                throw PlotError.unreadable("draws.npy is missing or not chains × draws × coordinates")
            }
            let (chains, perChain, dims) = (array.shape[0], array.shape[1], array.shape[2])
            var names = (0..<dims).map { "x\($0)" }
            if let data = try source.artifact("draws.json"), let layout = try? JSONValue.parse(String(decoding: data, as: UTF8.self)),
                let given = layout["coordinates"]?.arrayValue?.compactMap(\.stringValue), given.count == dims
            {
                names = given
            }
            (self.names, self.chains, self.perChain, self.flat) = (names, chains, perChain, array.doubles())
        }

        /// values(coordinate)[chain] = that chain's draws of the coordinate.
        func values(_ coordinate: Int) -> [[Double]] {
            let dims = names.count
            return (0..<chains).map { chain in
                let base = chain * perChain * dims + coordinate
                return (0..<perChain).map { flat[base + $0 * dims] }
            }
        }

        var shown: Int { min(names.count, SamplerPlots.maxCoordinates) }

        func note(on figure: inout Figure) {
            guard names.count > shown else { return }
            figure.text(
                "showing \(shown) of \(names.count) coordinates (all are in draws.npy)", at: Point(12, Double(figure.height) - 6),
                color: .grey, size: 10)
        }
    }

    static func chainLegend(_ chains: Int, on figure: inout Figure, y: Double = 38) {
        guard chains > 1 else { return }
        drawLegend((0..<min(chains, 10)).map { ("chain \($0)", Color.category($0)) }, at: Point(70, y), on: &figure)
    }

    static func trace(_ draws: Draws) throws -> Figure {
        let grid = PanelGrid(count: draws.shown * 2, columns: 2, panelWidth: 330, panelHeight: 120, top: 62)
        var figure = Figure(width: grid.width, height: grid.height + 10, title: "Trace plots")
        chainLegend(draws.chains, on: &figure)
        for coordinate in 0..<draws.shown {
            let chains = draws.values(coordinate)
            let range = PlotMath.range(chains.joined()) ?? (0, 1)
            let bins = 40
            let densities = chains.map { chain -> [Double] in
                let counts = PlotMath.histogram(chain, bins: bins, range: range)
                let width = (range.1 - range.0) / Double(bins)
                return counts.map { Double($0) / Double(max(chain.count, 1)) / (width > 0 ? width : 1) }
            }
            let left = grid.panel(2 * coordinate, xRange: range, yRange: (0, densities.joined().max() ?? 1))
            left.drawAxes(on: &figure, title: draws.names[coordinate], yLabel: "density")
            for (chain, density) in densities.enumerated() {
                let step = (range.1 - range.0) / Double(bins)
                figure.line(
                    density.enumerated().map { left.point(range.0 + (Double($0.offset) + 0.5) * step, $0.element) },
                    color: Color.category(chain), width: 1.4)
            }
            let right = grid.panel(2 * coordinate + 1, xRange: (0, Double(max(draws.perChain - 1, 1))), yRange: range)
            right.drawAxes(on: &figure, title: draws.names[coordinate], xLabel: coordinate == draws.shown - 1 ? "draw" : nil)
            for (chain, values) in chains.enumerated() {
                let points = PlotMath.envelope(values, buckets: Int(right.frame.width))
                figure.line(points.map { right.point($0.index, $0.value) }, color: Color.category(chain).with(opacity: 0.75), width: 0.9)
            }
        }
        draws.note(on: &figure)
        return figure
    }

    static func rank(_ draws: Draws) throws -> Figure {
        let grid = PanelGrid(count: draws.shown, columns: 2, panelWidth: 330, panelHeight: 140, top: 62)
        var figure = Figure(width: grid.width, height: grid.height + 10, title: "Rank plots")
        chainLegend(draws.chains, on: &figure)
        let bins = 20
        for coordinate in 0..<draws.shown {
            let chains = draws.values(coordinate).map { PlotMath.thinned($0, limit: rankDrawsPerChain) }
            // Ranks among all chains' draws: a histogram per chain of where its draws fall in the pooled order.
            var pooled: [(value: Double, chain: Int)] = []
            for (chain, values) in chains.enumerated() { pooled += values.map { ($0.isNaN ? -Double.infinity : $0, chain) } }
            pooled.sort { $0.value < $1.value }
            var counts = [[Int]](repeating: [Int](repeating: 0, count: bins), count: chains.count)
            for (rank, entry) in pooled.enumerated() { counts[entry.chain][min(bins - 1, rank * bins / max(pooled.count, 1))] += 1 }
            let expected = Double(pooled.count) / Double(bins * max(chains.count, 1))
            let maxCount = Double(counts.joined().max() ?? 1)
            let panel = grid.panel(coordinate, xRange: (0, Double(pooled.count)), yRange: (0, max(maxCount, expected * 1.5)))
            panel.drawAxes(on: &figure, title: draws.names[coordinate], xLabel: "rank (all chains)", yLabel: "draws")
            let binWidth = Double(pooled.count) / Double(bins)
            for (chain, histogram) in counts.enumerated() {
                var points: [Point] = []
                for (bin, count) in histogram.enumerated() {
                    points.append(panel.point(Double(bin) * binWidth, Double(count)))
                    points.append(panel.point(Double(bin + 1) * binWidth, Double(count)))
                }
                figure.line(points, color: Color.category(chain), width: 1.4)
            }
            figure.line(
                [panel.point(0, expected), panel.point(Double(pooled.count), expected)], color: .black.with(opacity: 0.6), width: 1,
                dashed: true)
        }
        draws.note(on: &figure)
        return figure
    }

    /// The density a one-dimensional sampler drew from (`target_density.json`, written by inverse-CDF and rejection).
    struct Target {
        let variable: String
        let x: [Double]
        /// Density (continuous) or probability of each integer in `x` (discrete).
        let values: [Double]
        let discrete: Bool

        init?(_ source: PlotSource) {
            guard source.artifactNames.contains("target_density.json"), let data = try? source.artifact("target_density.json"),
                let json = try? JSONValue.parse(String(decoding: data, as: UTF8.self)), let variable = json["variable"]?.stringValue,
                let x = json["x"]?.arrayValue?.compactMap(\.doubleValue)
            else { return nil }
            discrete = json["kind"]?.stringValue == "discrete"
            let values = (json[discrete ? "probability" : "density"]?.arrayValue ?? []).compactMap(\.doubleValue)
            guard values.count == x.count, !x.isEmpty else { return nil }
            (self.variable, self.x, self.values) = (variable, x, values)
        }
    }

    static func marginals(_ draws: Draws, _ result: JSONValue, target: Target? = nil) throws -> Figure {
        let grid = PanelGrid(count: draws.shown, columns: draws.shown > 4 ? 3 : 2, panelWidth: 280, panelHeight: 150, top: target == nil ? 52 : 70)
        var figure = Figure(width: grid.width, height: grid.height + 10, title: target == nil ? "Marginal histograms" : "Draws against the target")
        if let target {
            drawLegend(
                [("draws", Color.category(0).with(opacity: 0.7)), (target.discrete ? "target probability" : "target density", .black)],
                at: Point(70, 38), on: &figure)
        }
        for coordinate in 0..<draws.shown {
            let all = Array(draws.values(coordinate).joined())
            if let target, target.discrete, target.variable == draws.names[coordinate] {
                drawDiscrete(all, target: target, on: &figure, grid: grid, index: coordinate, name: draws.names[coordinate])
                continue
            }
            let range = PlotMath.range(all) ?? (0, 1)
            let bins = min(60, max(10, Int(Double(all.count).squareRoot())))
            let counts = PlotMath.histogram(all, bins: bins, range: range)
            let width = (range.1 - range.0) / Double(bins)
            let density = counts.map { Double($0) / Double(max(all.count, 1)) / (width > 0 ? width : 1) }
            // The target's curve over the same range is drawn whole (a histogram may peak lower than its density).
            let targetPeak = target.flatMap { $0.variable == draws.names[coordinate] ? $0.values.max() : nil } ?? 0
            let panel = grid.panel(coordinate, xRange: range, yRange: (0, max(density.max() ?? 1, targetPeak) * 1.1))
            panel.drawAxes(on: &figure, title: draws.names[coordinate], yLabel: coordinate % grid.columns == 0 ? "density" : nil)
            for (bin, value) in density.enumerated() where value > 0 {
                let x0 = panel.x(range.0 + Double(bin) * width), x1 = panel.x(range.0 + Double(bin + 1) * width)
                figure.rect(
                    x: x0, y: panel.y(value), width: max(x1 - x0 - 0.5, 0.5), height: panel.y(0) - panel.y(value),
                    fill: Color.category(0).with(opacity: 0.7))
            }
            let summary = result["parameters"]?[draws.names[coordinate]]
            let mean = summary?["mean"]?.doubleValue ?? all.reduce(0, +) / Double(max(all.count, 1))
            figure.line([panel.point(mean, panel.yScale.lower), panel.point(mean, panel.yScale.upper)], color: .red, width: 1.5)
            if let low = summary?["quantiles"]?["5%"]?.doubleValue, let high = summary?["quantiles"]?["95%"]?.doubleValue {
                let y = panel.y(panel.yScale.lower) - 4
                figure.line([Point(panel.x(low), y), Point(panel.x(high), y)], color: .black, width: 3)
            }
            figure.text(
                "mean \(NiceScale.label(mean))", at: Point(panel.frame.x + panel.frame.width - 4, panel.frame.y + 13), anchor: .end, color: .red,
                size: 10)
            if let target, target.variable == draws.names[coordinate] {
                figure.line(zip(target.x, target.values).map { panel.point($0, $1) }, color: .black, width: 1.8)
            }
        }
        draws.note(on: &figure)
        return figure
    }

    /// Integer draws: the share at each integer as a bar, the target's probability as a dot on it.
    static func drawDiscrete(_ all: [Double], target: Target, on figure: inout Figure, grid: PanelGrid, index: Int, name: String) {
        guard let first = target.x.first, let last = target.x.last else { return }
        var shares = [Double](repeating: 0, count: target.x.count)
        for value in all where value.isFinite {
            let slot = (value - first).rounded()
            if slot >= 0, slot < Double(shares.count) { shares[Int(slot)] += 1 }
        }
        shares = shares.map { $0 / Double(max(all.count, 1)) }
        let top = max(shares.max() ?? 0, target.values.max() ?? 0) * 1.1
        let panel = grid.panel(index, xRange: (first - 0.5, last + 0.5), yRange: (0, top > 0 ? top : 1))
        panel.drawAxes(on: &figure, title: name, yLabel: index % grid.columns == 0 ? "probability" : nil)
        let width = max(1, panel.x(1) - panel.x(0)) * 0.8
        for (slot, share) in shares.enumerated() where share > 0 {
            let x = panel.x(target.x[slot])
            figure.rect(
                x: x - width / 2, y: panel.y(share), width: width, height: panel.y(0) - panel.y(share), fill: Color.category(0).with(opacity: 0.7))
        }
        for (k, probability) in zip(target.x, target.values) where probability > 0 {
            figure.circle(panel.point(k, probability), radius: target.x.count > 100 ? 1.5 : 3, fill: .black)
        }
    }

    static func pair(_ draws: Draws, _ source: PlotSource, _ options: PlotOptions) throws -> Figure {
        func index(_ name: String?, field: String, default fallback: Int) throws -> Int {
            guard let name else { return min(fallback, draws.names.count - 1) }
            guard let found = draws.names.firstIndex(of: name) else {
                let known = draws.names.prefix(20).joined(separator: ", ")
                throw PlotError.invalidOption(
                    field: field, reason: "no coordinate named \"\(name.prefix(80))\" (coordinates: \(known)\(draws.names.count > 20 ? ", …" : ""))")
            }
            return found
        }
        let (xi, yi) = (try index(options.x, field: "x", default: 0), try index(options.y, field: "y", default: 1))
        var figure = Figure(width: 560, height: 520, title: "Pair plot")
        let xs = draws.values(xi), ys = draws.values(yi)
        let panel = Panel(
            x: 80, y: 60, width: 440, height: 390, xRange: PlotMath.range(xs.joined()) ?? (0, 1), yRange: PlotMath.range(ys.joined()) ?? (0, 1))
        panel.drawAxes(on: &figure, xLabel: draws.names[xi], yLabel: draws.names[yi])
        chainLegend(draws.chains, on: &figure)
        let perChain = max(1, 4_000 / max(draws.chains, 1))
        for chain in 0..<draws.chains {
            let indices = PlotMath.thinned(Array(0..<draws.perChain), limit: perChain)
            for i in indices { figure.circle(panel.point(xs[chain][i], ys[chain][i]), radius: 1.6, fill: Color.category(chain).with(opacity: 0.45)) }
        }
        // divergences.csv: chain,draw,coordinates…; marked where the sampler diverged.
        if source.artifactNames.contains("divergences.csv"), let data = try source.artifact("divergences.csv") {
            let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
            if let header = lines.first?.split(separator: ",").map(String.init),
                let xc = header.firstIndex(of: draws.names[xi]), let yc = header.firstIndex(of: draws.names[yi])
            {
                var marked = 0
                for line in lines.dropFirst().prefix(5_000) {
                    let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                    guard fields.count == header.count, let x = Double(fields[xc]), let y = Double(fields[yc]) else { continue }
                    // Black with a white rim: apart from every chain's colour (the fourth chain is red).
                    figure.circle(panel.point(x, y), radius: 3.4, fill: .white)
                    figure.circle(panel.point(x, y), radius: 2.4, fill: .black)
                    marked += 1
                }
                if marked > 0 { figure.text("● \(marked) divergent transitions", at: Point(520, 56), anchor: .end, color: .black, size: 11) }
            }
        }
        return figure
    }

    static func diagnostics(_ result: JSONValue) -> Figure {
        let parameters = result["parameters"]?.objectValue ?? [:]
        let names = Array(parameters.keys.sorted().prefix(40))
        let rowHeight = 16.0
        let plotHeight = max(80, Double(names.count) * rowHeight)
        var figure = Figure(width: 860, height: Int(plotHeight + 120), title: "R̂ and effective sample size")
        let labelWidth = min(160, (names.map { Figure.textWidth($0, size: 11) }.max() ?? 40) + 12)
        let rHats = names.map { parameters[$0]?["r_hat"]?.doubleValue ?? .nan }
        let bulk = names.map { parameters[$0]?["ess_bulk"]?.doubleValue ?? .nan }
        let tail = names.map { parameters[$0]?["ess_tail"]?.doubleValue ?? .nan }
        let rRange = PlotMath.range(rHats + [1, 1.01]) ?? (1, 1.1)
        let left = Panel(
            x: 20 + labelWidth, y: 50, width: 300, height: plotHeight, xRange: (min(rRange.0, 0.99), max(rRange.1, 1.02)),
            yRange: (0, Double(names.count)))
        let essMax = PlotMath.range(bulk + tail + [400])?.1 ?? 400
        let right = Panel(x: 20 + labelWidth + 360, y: 50, width: 300, height: plotHeight, xRange: (0, essMax), yRange: (0, Double(names.count)))
        left.drawAxes(on: &figure, title: "R̂ (< 1.01)", xLabel: "R̂", yTicks: false)
        right.drawAxes(on: &figure, title: "ESS (> 400)", xLabel: "effective draws", yTicks: false)
        for (row, name) in names.enumerated() {
            let y = left.frame.y + (Double(row) + 0.5) * rowHeight
            figure.text(name, at: Point(left.frame.x - 6, y + 4), anchor: .end, size: 11)
            figure.circle(Point(left.x(rHats[row]), y), radius: 3.5, fill: rHats[row] < 1.01 ? Color.category(0) : .red)
            figure.circle(Point(right.x(bulk[row]), y), radius: 3.5, fill: Color.category(0))
            figure.circle(Point(right.x(tail[row]), y), radius: 3.5, fill: Color.category(1))
        }
        figure.line([Point(left.x(1.01), left.frame.y), Point(left.x(1.01), left.frame.y + plotHeight)], color: .red, width: 1, dashed: true)
        figure.line([Point(right.x(400), right.frame.y), Point(right.x(400), right.frame.y + plotHeight)], color: .red, width: 1, dashed: true)
        drawLegend([("bulk", Color.category(0)), ("tail", Color.category(1))], at: Point(right.frame.x, 38), on: &figure)
        if parameters.count > names.count {
            figure.text("first \(names.count) of \(parameters.count) coordinates", at: Point(12, Double(figure.height) - 6), color: .grey, size: 10)
        }
        return figure
    }

    static func weights(_ source: PlotSource) throws -> Figure {
        guard let array = try source.array("log_weights.npy") else { throw PlotError.unreadable("log_weights.npy is missing") }
        let logWeights = array.doubles().filter(\.isFinite)
        let top = logWeights.max() ?? 0
        let scaled = logWeights.map { ($0 - top) / log(10) }
        let low = max(scaled.min() ?? -1, -30)
        var figure = Figure(width: 620, height: 380, title: "Importance weights")
        let counts = PlotMath.histogram(scaled.map { max($0, low) }, bins: 40, range: (low, 0))
        let panel = Panel(x: 80, y: 60, width: 500, height: 250, xRange: (low, 0), yRange: (0, Double(counts.max() ?? 1) * 1.1))
        panel.drawAxes(on: &figure, xLabel: "log10(w / max w)", yLabel: "draws")
        let width = -low / 40
        for (bin, count) in counts.enumerated() where count > 0 {
            let x0 = panel.x(low + Double(bin) * width), x1 = panel.x(low + Double(bin + 1) * width)
            figure.rect(
                x: x0, y: panel.y(Double(count)), width: max(x1 - x0 - 0.5, 0.5), height: panel.y(0) - panel.y(Double(count)),
                fill: Color.category(0).with(opacity: 0.75))
        }
        let k = source.result["pareto_k"]?.doubleValue ?? .nan
        let ess = source.result["kish_ess"]?.doubleValue ?? .nan
        let verdict = k.isFinite ? (k <= 0.7 ? "reliable (k̂ ≤ 0.7)" : "unreliable (k̂ > 0.7)") : ""
        figure.text(
            "Pareto k̂ = \(NiceScale.label(k)) \(verdict) · ESS = \(NiceScale.label(ess)) of \(logWeights.count)", at: Point(80, 44),
            color: k.isFinite && k > 0.7 ? .red : .black, size: 12)
        return figure
    }
}
