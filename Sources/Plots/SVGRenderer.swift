import Foundation

extension Figure {
    /// The figure as a standalone SVG document (UTF-8), with a <title> for screen readers.
    public func svg() -> Data {
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" \
            role="img" font-family="DejaVu Sans, Verdana, sans-serif"><title>\(Self.escape(title))</title>\n
            """
        out.reserveCapacity(marks.count * 80 + 256)
        for mark in marks {
            switch mark {
            case .polyline(let points, let color, let width, let dashed):
                out += "<polyline fill=\"none\" stroke=\"\(color.hex)\"\(Self.opacity("stroke", color)) stroke-width=\"\(Self.number(width))\""
                out += " stroke-linejoin=\"round\"\(dashed ? " stroke-dasharray=\"4 3\"" : "") points=\""
                for (index, point) in points.enumerated() {
                    if index > 0 { out += " " }
                    out += Self.number(point.x) + "," + Self.number(point.y)
                }
                out += "\"/>\n"
            case .rect(let x, let y, let width, let height, let fill, let stroke):
                out += "<rect x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" width=\"\(Self.number(width))\" height=\"\(Self.number(height))\""
                out += fill.map { " fill=\"\($0.hex)\"" + Self.opacity("fill", $0) } ?? " fill=\"none\""
                if let stroke { out += " stroke=\"\(stroke.hex)\"" + Self.opacity("stroke", stroke) }
                out += "/>\n"
            case .circle(let center, let radius, let fill):
                out += "<circle cx=\"\(Self.number(center.x))\" cy=\"\(Self.number(center.y))\" r=\"\(Self.number(radius))\""
                out += " fill=\"\(fill.hex)\"\(Self.opacity("fill", fill))/>\n"
            case .text(let string, let point, let anchor, let color, let size, let bold, let vertical):
                let anchorName = anchor == .start ? "start" : anchor == .middle ? "middle" : "end"
                out += "<text x=\"\(Self.number(point.x))\" y=\"\(Self.number(point.y))\" font-size=\"\(Self.number(size))\""
                out += " text-anchor=\"\(anchorName)\" fill=\"\(color.hex)\"\(bold ? " font-weight=\"bold\"" : "")"
                if vertical { out += " transform=\"rotate(-90 \(Self.number(point.x)) \(Self.number(point.y)))\"" }
                out += ">\(Self.escape(string))</text>\n"
            case .image(let pixels, let columns, let rows, let x, let y, let width, let height):
                let png = PNGEncoder.encode(rgb: pixels, width: columns, height: rows)
                out += "<image x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" width=\"\(Self.number(width))\" height=\"\(Self.number(height))\""
                out += " preserveAspectRatio=\"none\" style=\"image-rendering:pixelated\" href=\"data:image/png;base64,"
                out += png.base64EncodedString() + "\"/>\n"
            }
        }
        out += "</svg>\n"
        return Data(out.utf8)
    }

    private static func opacity(_ attribute: String, _ color: Color) -> String {
        color.opacity >= 1 ? "" : " \(attribute)-opacity=\"\(number(color.opacity))\""
    }

    /// Two decimals at most, no exponent, "-0" never: short and exact enough for pixels.
    static func number(_ value: Double) -> String {
        // Marks are clamped to ±100,000 px, so hundredths fit an Int; formatted by hand (String(format:) is slow).
        guard value.isFinite, abs(value) < 1e9 else { return "0" }
        let hundredths = Int((value * 100).rounded())
        let magnitude = abs(hundredths)
        var text = (hundredths < 0 ? "-" : "") + String(magnitude / 100)
        let fraction = magnitude % 100
        if fraction != 0 { text += fraction % 10 == 0 ? ".\(fraction / 10)" : (fraction < 10 ? ".0\(fraction)" : ".\(fraction)") }
        return text
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            // Control characters are not allowed in XML 1.0.
            case _ where scalar.value < 0x20 && scalar != "\n" && scalar != "\t": out += " "
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
