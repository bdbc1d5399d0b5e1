import Foundation

extension Figure {
    /// The figure as an RGB PNG at one pixel per figure unit, drawn with anti-aliased lines and the embedded font.
    public func png() -> Data {
        var canvas = Raster(width: width, height: height)
        for mark in marks {
            switch mark {
            case .polyline(let points, let color, let width, let dashed):
                canvas.polyline(points, color: color, width: width, dashed: dashed)
            case .rect(let x, let y, let width, let height, let fill, let stroke):
                if let fill { canvas.fill(x: x, y: y, width: width, height: height, color: fill) }
                if let stroke {
                    let corners = [Point(x, y), Point(x + width, y), Point(x + width, y + height), Point(x, y + height), Point(x, y)]
                    canvas.polyline(corners, color: stroke, width: 1, dashed: false)
                }
            case .circle(let center, let radius, let fill):
                canvas.circle(center, radius: radius, color: fill)
            case .text(let string, let point, let anchor, let color, let size, let bold, let vertical):
                canvas.text(string, at: point, anchor: anchor, color: color, scale: size / GlyphAtlas.size, bold: bold, vertical: vertical)
            case .image(let pixels, let columns, let rows, let x, let y, let width, let height):
                canvas.image(pixels, columns: columns, rows: rows, x: x, y: y, width: width, height: height)
            }
        }
        return PNGEncoder.encode(rgb: canvas.pixels, width: width, height: height)
    }
}

/// An RGB pixel buffer with coverage blending.
struct Raster {
    let width: Int
    let height: Int
    var pixels: [UInt8]

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 255, count: width * height * 3)
    }

    mutating func blend(_ x: Int, _ y: Int, _ color: Color, _ coverage: Double) {
        guard x >= 0, y >= 0, x < width, y < height, coverage > 0 else { return }
        let alpha = min(coverage, 1) * color.opacity
        let index = (y * width + x) * 3
        func mix(_ old: UInt8, _ new: UInt8) -> UInt8 { UInt8((Double(old) * (1 - alpha) + Double(new) * alpha).rounded()) }
        pixels[index] = mix(pixels[index], color.red)
        pixels[index + 1] = mix(pixels[index + 1], color.green)
        pixels[index + 2] = mix(pixels[index + 2], color.blue)
    }

    mutating func fill(x: Double, y: Double, width w: Double, height h: Double, color: Color) {
        guard x.isFinite, y.isFinite, w.isFinite, h.isFinite else { return }
        let x0 = max(0, Int(max(x, -1).rounded())), x1 = min(width, Int(min(x + w, Double(width) + 1).rounded()))
        let y0 = max(0, Int(max(y, -1).rounded())), y1 = min(height, Int(min(y + h, Double(height) + 1).rounded()))
        guard x0 < x1, y0 < y1 else { return }
        for row in y0..<y1 {
            for column in x0..<x1 { blend(column, row, color, 1) }
        }
    }

    /// Each segment covers the pixels within half the width of it (distance-based anti-aliasing); a pixel takes
    /// the largest coverage of the segments of one polyline, so joints do not darken. Coverage is gathered in a buffer
    /// over the polyline's bounding box (a trace's thousands of segments stay in their panel).
    mutating func polyline(_ points: [Point], color: Color, width lineWidth: Double, dashed: Bool) {
        let visible = points.filter { $0.x.isFinite && $0.y.isFinite }
        guard visible.count >= 2 else { return }
        let half = max(lineWidth, 0.8) / 2
        let boxX0 = max(0, Int((visible.map(\.x).min()! - half - 1).rounded(.down)))
        let boxX1 = min(width - 1, Int((visible.map(\.x).max()! + half + 1).rounded(.up)))
        let boxY0 = max(0, Int((visible.map(\.y).min()! - half - 1).rounded(.down)))
        let boxY1 = min(height - 1, Int((visible.map(\.y).max()! + half + 1).rounded(.up)))
        guard boxX0 <= boxX1, boxY0 <= boxY1 else { return }
        let boxWidth = boxX1 - boxX0 + 1
        var coverage = [Float](repeating: 0, count: boxWidth * (boxY1 - boxY0 + 1))
        var travelled = 0.0
        for index in 1..<visible.count {
            let (a, b) = (visible[index - 1], visible[index])
            let length = hypot(b.x - a.x, b.y - a.y)
            defer { travelled += length }
            let minX = max(boxX0, Int((min(a.x, b.x) - half - 1).rounded(.down)))
            let maxX = min(boxX1, Int((max(a.x, b.x) + half + 1).rounded(.up)))
            let minY = max(boxY0, Int((min(a.y, b.y) - half - 1).rounded(.down)))
            let maxY = min(boxY1, Int((max(a.y, b.y) + half + 1).rounded(.up)))
            guard minX <= maxX, minY <= maxY else { continue }
            let (dx, dy) = (b.x - a.x, b.y - a.y)
            let lengthSquared = length * length
            for row in minY...maxY {
                let py = Double(row) + 0.5
                for column in minX...maxX {
                    let px = Double(column) + 0.5
                    var t = lengthSquared > 0 ? ((px - a.x) * dx + (py - a.y) * dy) / lengthSquared : 0
                    t = min(max(t, 0), 1)
                    if dashed, Int((travelled + t * length) / 3.5) % 2 == 1 { continue }
                    let distance = hypot(px - (a.x + t * dx), py - (a.y + t * dy))
                    let value = Float(min(1, half + 0.5 - distance))
                    guard value > 0 else { continue }
                    let key = (row - boxY0) * boxWidth + (column - boxX0)
                    if value > coverage[key] { coverage[key] = value }
                }
            }
        }
        for (key, value) in coverage.enumerated() where value > 0 {
            blend(boxX0 + key % boxWidth, boxY0 + key / boxWidth, color, Double(value))
        }
    }

    mutating func circle(_ center: Point, radius: Double, color: Color) {
        let minX = max(0, Int((center.x - radius - 1).rounded(.down))), maxX = min(width - 1, Int((center.x + radius + 1).rounded(.up)))
        let minY = max(0, Int((center.y - radius - 1).rounded(.down))), maxY = min(height - 1, Int((center.y + radius + 1).rounded(.up)))
        guard minX <= maxX, minY <= maxY else { return }
        for row in minY...maxY {
            for column in minX...maxX {
                let distance = hypot(Double(column) + 0.5 - center.x, Double(row) + 0.5 - center.y)
                blend(column, row, color, radius + 0.5 - distance)
            }
        }
    }

    /// Glyphs are scaled by nearest neighbour from the 12 px atlas (plots use 10–14 px); bold draws twice, 1 px apart.
    mutating func text(_ string: String, at point: Point, anchor: TextAnchor, color: Color, scale: Double, bold: Bool, vertical: Bool) {
        let total = Figure.textWidth(string, size: scale * GlyphAtlas.size) + (bold ? 1 : 0)
        var pen = anchor == .start ? 0 : anchor == .middle ? -total / 2 : -total
        for scalar in string.unicodeScalars {
            guard let glyph = GlyphAtlas.glyphs[scalar.value] ?? GlyphAtlas.glyphs[63] else { continue }  // "?"
            let columns = Int((Double(glyph.width) * scale).rounded(.up)), rows = Int((Double(glyph.height) * scale).rounded(.up))
            for passes in 0..<(bold ? 2 : 1) {
                for row in 0..<rows {
                    for column in 0..<columns {
                        let sourceRow = min(glyph.height - 1, Int(Double(row) / scale))
                        let sourceColumn = min(glyph.width - 1, Int(Double(column) / scale))
                        let value = GlyphAtlas.coverage[glyph.offset + sourceRow * glyph.width + sourceColumn]
                        guard value > 0 else { continue }
                        // Along the text (u) and across it (v), relative to the anchor on the baseline.
                        let u = pen + Double(glyph.x) * scale + Double(column) + Double(passes)
                        let v = Double(glyph.y) * scale + Double(row)
                        let (x, y) = vertical ? (point.x + v, point.y - u) : (point.x + u, point.y + v)
                        blend(Int(x.rounded(.down)), Int(y.rounded(.down)), color, Double(value) / 255)
                    }
                }
            }
            pen += glyph.advance * scale
        }
    }

    mutating func image(_ source: [UInt8], columns: Int, rows: Int, x: Double, y: Double, width w: Double, height h: Double) {
        let x0 = max(0, Int(x.rounded())), x1 = min(width, Int((x + w).rounded()))
        let y0 = max(0, Int(y.rounded())), y1 = min(height, Int((y + h).rounded()))
        guard x0 < x1, y0 < y1, w > 0, h > 0 else { return }
        for row in y0..<y1 {
            let sourceRow = min(rows - 1, Int((Double(row) + 0.5 - y) / h * Double(rows)))
            for column in x0..<x1 {
                let sourceColumn = min(columns - 1, Int((Double(column) + 0.5 - x) / w * Double(columns)))
                let input = (max(0, sourceRow) * columns + max(0, sourceColumn)) * 3
                let output = (row * width + column) * 3
                pixels[output] = source[input]
                pixels[output + 1] = source[input + 1]
                pixels[output + 2] = source[input + 2]
            }
        }
    }
}
