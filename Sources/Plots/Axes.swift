import Foundation

/// Tick positions at 1, 2 or 5 × 10^k (Heckbert's "nice numbers"), covering the data's range.
public struct NiceScale: Sendable {
    public let lower: Double
    public let upper: Double
    public let ticks: [Double]

    public init(_ low: Double, _ high: Double, targetTicks: Int = 5) {
        var (low, high) = (low.isFinite ? low : 0, high.isFinite ? high : 1)
        if low > high { swap(&low, &high) }
        if high - low < max(abs(low), abs(high)) * 1e-12 || high == low {
            let pad = low == 0 ? 1 : abs(low) * 0.1
            (low, high) = (low - pad, high + pad)
        }
        let step = Self.nice((high - low) / Double(max(targetTicks - 1, 1)), round: true)
        let first = (low / step).rounded(.down) * step
        let last = (high / step).rounded(.up) * step
        var ticks: [Double] = []
        var value = first
        while value <= last + step * 0.5, ticks.count < 50 {
            ticks.append(abs(value) < step * 1e-9 ? 0 : value)
            value += step
        }
        (lower, upper, self.ticks) = (first, last, ticks)
    }

    static func nice(_ value: Double, round: Bool) -> Double {
        guard value > 0, value.isFinite else { return 1 }
        let exponent = floor(log10(value))
        let fraction = value / pow(10, exponent)
        let niceFraction: Double =
            round ? (fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10) : (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10)
        return niceFraction * pow(10, exponent)
    }

    /// Compact tick labels: 3 significant digits, exponent form outside 1e-3…1e5.
    public static func label(_ value: Double) -> String {
        guard value.isFinite else { return value.isNaN ? "NaN" : value > 0 ? "∞" : "−∞" }
        if value == 0 { return "0" }
        let magnitude = abs(value)
        let text = magnitude >= 1e5 || magnitude < 1e-3 ? String(format: "%.2g", value) : String(format: "%.4g", value)
        return text.replacingOccurrences(of: "-", with: "−")
    }
}

/// A rectangle of the figure with data scales: where data goes, with its axes drawn around it.
public struct Panel: Sendable {
    public let frame: (x: Double, y: Double, width: Double, height: Double)
    public let xScale: NiceScale
    public let yScale: NiceScale
    /// Category panels (bars, heatmaps) label their own axes.
    public var xTicks = true

    public init(x: Double, y: Double, width: Double, height: Double, xRange: (Double, Double), yRange: (Double, Double)) {
        frame = (x, y, width, height)
        xScale = NiceScale(xRange.0, xRange.1, targetTicks: max(2, Int(width / 90)))
        yScale = NiceScale(yRange.0, yRange.1, targetTicks: max(2, Int(height / 45)))
    }

    public func x(_ value: Double) -> Double {
        frame.x + (value - xScale.lower) / (xScale.upper - xScale.lower) * frame.width
    }

    public func y(_ value: Double) -> Double {
        frame.y + frame.height - (value - yScale.lower) / (yScale.upper - yScale.lower) * frame.height
    }

    public func point(_ x: Double, _ y: Double) -> Point { Point(self.x(x), self.y(y)) }

    /// Grid, frame, ticks and labels; `title` above the panel, `xLabel` below and `yLabel` along the left.
    public func drawAxes(on figure: inout Figure, title: String? = nil, xLabel: String? = nil, yLabel: String? = nil, yTicks: Bool = true) {
        let (left, top, width, height) = frame
        if yTicks {
            for tick in yScale.ticks {
                let y = self.y(tick)
                figure.line([Point(left, y), Point(left + width, y)], color: .lightGrey, width: 1)
                figure.text(NiceScale.label(tick), at: Point(left - 5, y + 4), anchor: .end, color: .grey, size: 10)
            }
        }
        if xTicks {
            for tick in xScale.ticks {
                let x = self.x(tick)
                figure.line([Point(x, top + height), Point(x, top + height + 4)], color: .grey, width: 1)
                figure.text(NiceScale.label(tick), at: Point(x, top + height + 15), anchor: .middle, color: .grey, size: 10)
            }
        }
        figure.rect(x: left, y: top, width: width, height: height, fill: nil, stroke: .grey)
        if let title { figure.text(title, at: Point(left + width / 2, top - 6), anchor: .middle, size: 12, bold: true) }
        if let xLabel { figure.text(xLabel, at: Point(left + width / 2, top + height + 30), anchor: .middle, size: 11) }
        if let yLabel { figure.text(yLabel, at: Point(left - 42, top + height / 2), anchor: .middle, size: 11, vertical: true) }
    }
}

/// A legend: one coloured swatch and label per entry, in a row starting at `origin`.
public func drawLegend(_ entries: [(String, Color)], at origin: Point, on figure: inout Figure) {
    var x = origin.x
    for (label, color) in entries {
        figure.rect(x: x, y: origin.y - 9, width: 12, height: 10, fill: color)
        figure.text(label, at: Point(x + 16, origin.y), size: 11)
        x += 28 + Figure.textWidth(label, size: 11)
    }
}
