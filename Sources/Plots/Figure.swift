import Foundation

/// An sRGB colour with opacity.
public struct Color: Sendable, Equatable {
    public var red: UInt8
    public var green: UInt8
    public var blue: UInt8
    public var opacity: Double

    public init(_ hex: UInt32, opacity: Double = 1) {
        red = UInt8((hex >> 16) & 0xFF)
        green = UInt8((hex >> 8) & 0xFF)
        blue = UInt8(hex & 0xFF)
        self.opacity = opacity
    }

    public func with(opacity: Double) -> Color {
        var copy = self
        copy.opacity = opacity
        return copy
    }

    var hex: String { String(format: "#%02x%02x%02x", red, green, blue) }

    public static let black = Color(0x222222)
    public static let grey = Color(0x888888)
    public static let lightGrey = Color(0xE4E4E4)
    public static let white = Color(0xFFFFFF)
    public static let red = Color(0xD62728)

    /// Tableau 10, the categorical palette of matplotlib and ArviZ: chains and clusters are told apart by it.
    public static let categorical: [Color] = [
        0x1F77B4, 0xFF7F0E, 0x2CA02C, 0xD62728, 0x9467BD, 0x8C564B, 0xE377C2, 0x7F7F7F, 0xBCBD22, 0x17BECF,
    ].map { Color($0) }

    public static func category(_ index: Int) -> Color { categorical[((index % 10) + 10) % 10] }

    /// Viridis, sampled: a perceptually uniform scale for heatmaps (0 → dark purple, 1 → yellow).
    public static func sequential(_ fraction: Double) -> Color {
        let stops: [UInt32] = [0x440154, 0x482878, 0x3E4A89, 0x31688E, 0x26828E, 0x1F9E89, 0x35B779, 0x6DCD59, 0xB4DE2C, 0xFDE725]
        let t = fraction.isFinite ? min(max(fraction, 0), 1) * Double(stops.count - 1) : 0
        let low = min(Int(t), stops.count - 2)
        let (a, b, w) = (Color(stops[low]), Color(stops[low + 1]), t - Double(low))
        func mix(_ x: UInt8, _ y: UInt8) -> UInt8 { UInt8((Double(x) * (1 - w) + Double(y) * w).rounded()) }
        var color = a
        color.red = mix(a.red, b.red)
        color.green = mix(a.green, b.green)
        color.blue = mix(a.blue, b.blue)
        return color
    }
}

public struct Point: Sendable, Equatable {
    public var x: Double
    public var y: Double
    public init(_ x: Double, _ y: Double) {
        self.x = x
        self.y = y
    }
}

public enum TextAnchor: Sendable { case start, middle, end }

/// One drawing instruction, in figure pixels (origin top left, y down).
enum Mark: Sendable {
    case polyline([Point], color: Color, width: Double, dashed: Bool)
    case rect(x: Double, y: Double, width: Double, height: Double, fill: Color?, stroke: Color?)
    case circle(center: Point, radius: Double, fill: Color)
    case text(String, at: Point, anchor: TextAnchor, color: Color, size: Double, bold: Bool, vertical: Bool)
    /// RGB pixels drawn into the rectangle, nearest-neighbour scaled (thumbnails of images).
    case image(pixels: [UInt8], columns: Int, rows: Int, x: Double, y: Double, width: Double, height: Double)
}

/// A plot as a list of marks, rendered to SVG or PNG by the same layout: what the two formats show is the same.
public struct Figure: Sendable {
    public let width: Int
    public let height: Int
    var marks: [Mark] = []
    /// Shown as the SVG's <title> (screen readers announce it) and drawn at the top.
    public var title: String

    public init(width: Int, height: Int, title: String) {
        self.width = width
        self.height = height
        self.title = title
        marks.append(.rect(x: 0, y: 0, width: Double(width), height: Double(height), fill: .white, stroke: nil))
        if !title.isEmpty { text(title, at: Point(Double(width) / 2, 18), anchor: .middle, size: 14, bold: true) }
    }

    public mutating func line(_ points: [Point], color: Color, width: Double = 1.5, dashed: Bool = false) {
        let kept = points.filter { $0.x.isFinite && $0.y.isFinite }.map(Self.clamped)
        guard kept.count >= 2 else { return }
        marks.append(.polyline(kept, color: color, width: width, dashed: dashed))
    }

    public mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: Color?, stroke: Color? = nil) {
        guard x.isFinite, y.isFinite, width.isFinite, height.isFinite, width > 0, height > 0 else { return }
        let corner = Self.clamped(Point(x, y))
        marks.append(.rect(x: corner.x, y: corner.y, width: min(width, 1e5), height: min(height, 1e5), fill: fill, stroke: stroke))
    }

    public mutating func circle(_ center: Point, radius: Double, fill: Color) {
        guard center.x.isFinite, center.y.isFinite, radius.isFinite, radius > 0 else { return }
        marks.append(.circle(center: Self.clamped(center), radius: min(radius, 1e4), fill: fill))
    }

    public mutating func text(
        _ string: String, at point: Point, anchor: TextAnchor = .start, color: Color = .black, size: Double = 12, bold: Bool = false,
        vertical: Bool = false
    ) {
        guard point.x.isFinite, point.y.isFinite else { return }
        marks.append(
            .text(String(string.prefix(200)), at: Self.clamped(point), anchor: anchor, color: color, size: size, bold: bold, vertical: vertical))
    }

    public mutating func image(pixels: [UInt8], columns: Int, rows: Int, x: Double, y: Double, width: Double, height: Double) {
        guard columns > 0, rows > 0, pixels.count == columns * rows * 3, x.isFinite, y.isFinite, width.isFinite, height.isFinite else { return }
        let corner = Self.clamped(Point(x, y))
        marks.append(.image(pixels: pixels, columns: columns, rows: rows, x: corner.x, y: corner.y, width: min(width, 1e5), height: min(height, 1e5)))
    }

    /// Marks far outside the figure are pulled in to ±100,000 px: renderers convert coordinates to integers.
    static func clamped(_ point: Point) -> Point { Point(min(max(point.x, -1e5), 1e5), min(max(point.y, -1e5), 1e5)) }

    /// Width of `string` in pixels at `size`, from the embedded font's advances (both renderers lay text out by it).
    public static func textWidth(_ string: String, size: Double = 12) -> Double {
        var width = 0.0
        for scalar in string.unicodeScalars { width += GlyphAtlas.glyphs[scalar.value]?.advance ?? GlyphAtlas.size * 0.6 }
        return width * size / GlyphAtlas.size
    }
}
