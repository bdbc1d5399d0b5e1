import Foundation
import Jobs

/// Every job: its metric curves, one panel per metric, with the kind's phases shaded.
enum MetricPlots {
    /// More series than this are drawn as the first ones (a sampler's per-coordinate diagnostics can be hundreds).
    static let maxPanels = 24

    static let definitions: [PlotDefinition] = [
        PlotDefinition(
            name: "metrics", title: "Metric curves", description: "One panel per recorded metric against its step; phases shaded.",
            applies: { !$0.metricNames.isEmpty }, render: { source, _ in try metrics(source) })
    ]

    static func metrics(_ source: PlotSource) throws -> Figure {
        var series: [String: [(Double, Double)]] = [:]
        for point in try source.metrics() { series[point.name, default: []].append((Double(point.step), point.value)) }
        let declared = Dictionary(source.metricDeclarations.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        // Declared order first (the kind's own reading order), then the rest by name.
        let order = source.metricDeclarations.map(\.name).filter { series[$0] != nil } + series.keys.filter { declared[$0] == nil }.sorted()
        let names = Array(order.prefix(maxPanels))
        let grid = PanelGrid(count: max(1, names.count), columns: names.count > 4 ? 3 : 2, panelWidth: 300, panelHeight: 150)
        var figure = Figure(width: grid.width, height: grid.height + 14, title: "\(source.job.kind) · metrics")
        // Phases: each spans the steps its metrics were recorded at.
        var phases: [(name: String, from: Double, to: Double)] = []
        for declaration in source.metricDeclarations {
            guard let phase = declaration.phase, let points = series[declaration.name], let range = PlotMath.range(points.map(\.0)) else { continue }
            if let index = phases.firstIndex(where: { $0.name == phase }) {
                phases[index].from = min(phases[index].from, range.0)
                phases[index].to = max(phases[index].to, range.1)
            } else {
                phases.append((phase, range.0, range.1))
            }
        }
        let allSteps = PlotMath.range(series.values.joined().map(\.0)) ?? (0, 1)
        for (index, name) in names.enumerated() {
            let points = series[name] ?? []
            let yRange = PlotMath.range(points.map(\.1)) ?? (0, 1)
            let panel = grid.panel(index, xRange: allSteps, yRange: yRange)
            if phases.count > 1 {
                for (phaseIndex, phase) in phases.enumerated() {
                    let from = panel.x(max(phase.from - 0.5, panel.xScale.lower)), to = panel.x(min(phase.to + 0.5, panel.xScale.upper))
                    figure.rect(
                        x: from, y: panel.frame.y, width: to - from, height: panel.frame.height,
                        fill: Color.category(phaseIndex).with(opacity: 0.08))
                    if to - from >= Figure.textWidth(phase.name, size: 9) + 6 {
                        figure.text(phase.name, at: Point(from + 3, panel.frame.y + 12), color: Color.category(phaseIndex), size: 9)
                    }
                }
            }
            let declaration = declared[name]
            let unit = declaration.map { $0.unit == "1" ? "" : " (\($0.unit))" } ?? ""
            panel.drawAxes(on: &figure, title: name + unit, xLabel: index >= names.count - grid.columns ? "step" : nil)
            let sorted = points.sorted { $0.0 < $1.0 }
            let drawn = sorted.count > 2_000 ? PlotMath.envelope(sorted.map(\.1), buckets: 600).map { (sorted[Int($0.index)].0, $0.value) } : sorted
            figure.line(drawn.map { panel.point($0.0, $0.1) }, color: Color.category(0), width: 1.6)
            if sorted.count <= 60 {
                for (x, y) in sorted { figure.circle(panel.point(x, y), radius: 2.2, fill: Color.category(0)) }
            }
        }
        if order.count > names.count {
            figure.text(
                "\(order.count - names.count) more metrics not drawn (GET /metrics has them all)",
                at: Point(12, Double(figure.height) - 6), color: .grey, size: 10)
        }
        return figure
    }
}
