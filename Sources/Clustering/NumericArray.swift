import Foundation

/// Why a file is not a dataset we accept; `field` names the upload part it came from.
public struct DatasetError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var reason: String
    public init(field: String, _ reason: String) {
        self.field = field
        self.reason = reason
    }
    public var description: String { "\(field): \(reason)" }
}

/// An n-dimensional array read from a `.npy`, IDX or CSV file: its shape, element type, and the
/// raw little- or big-endian bytes, converted on demand (so MNIST stays 55 MB of bytes until used).
public struct NumericArray: Sendable {
    public enum Element: String, Sendable {
        case uint8, int8, int16, uint16, int32, uint32, int64, uint64, float32, float64

        var size: Int {
            switch self {
            case .uint8, .int8: 1
            case .int16, .uint16: 2
            case .int32, .uint32, .float32: 4
            case .int64, .uint64, .float64: 8
            }
        }
        public var isInteger: Bool { self != .float32 && self != .float64 }
    }

    public var shape: [Int]
    public var element: Element
    public var bigEndian: Bool
    /// Row-major element bytes (for CSV: Float32 little-endian).
    public var bytes: Data
    public var format: String

    public var count: Int { shape.reduce(1, *) }

    public init(shape: [Int], element: Element, bigEndian: Bool, bytes: Data, format: String) {
        self.shape = shape
        self.element = element
        self.bigEndian = bigEndian
        self.bytes = bytes
        self.format = format
    }

    /// Element i as a Double (exact for every type except 64-bit integers beyond 2^53).
    @inline(__always)
    func value(_ raw: UnsafeRawBufferPointer, _ i: Int) -> Double {
        let offset = i * element.size
        func load<T: FixedWidthInteger>(_: T.Type) -> T {
            let v = raw.loadUnaligned(fromByteOffset: offset, as: T.self)
            return bigEndian ? T(bigEndian: v) : T(littleEndian: v)
        }
        switch element {
        case .uint8: return Double(raw[offset])
        case .int8: return Double(Int8(bitPattern: raw[offset]))
        case .int16: return Double(load(Int16.self))
        case .uint16: return Double(load(UInt16.self))
        case .int32: return Double(load(Int32.self))
        case .uint32: return Double(load(UInt32.self))
        case .int64: return Double(load(Int64.self))
        case .uint64: return Double(load(UInt64.self))
        case .float32: return Double(Float(bitPattern: load(UInt32.self)))
        case .float64: return Double(bitPattern: load(UInt64.self))
        }
    }

    public func floats() -> [Float] {
        if element == .uint8 { return bytes.map { Float($0) } }
        return bytes.withUnsafeBytes { raw in (0..<count).map { Float(value(raw, $0)) } }
    }

    /// The rows (first-axis entries) at `indices`, in that order, as an array of their own: a few samples of a large
    /// memory-mapped file are read without converting the rest. Indices out of range are skipped.
    public func rows(_ indices: [Int]) -> NumericArray {
        guard let n = shape.first else { return self }
        let rowBytes = shape.dropFirst().reduce(1, *) * element.size
        var selected = Data(capacity: indices.count * rowBytes)
        var kept = 0
        bytes.withUnsafeBytes { raw in
            for index in indices where index >= 0 && index < n {
                selected.append(contentsOf: raw[(index * rowBytes)..<((index + 1) * rowBytes)])
                kept += 1
            }
        }
        return NumericArray(shape: [kept] + shape.dropFirst(), element: element, bigEndian: bigEndian, bytes: selected, format: format)
    }

    public func doubles() -> [Double] {
        bytes.withUnsafeBytes { raw in (0..<count).map { value(raw, $0) } }
    }

    /// The largest value (for scaling images to [0, 1]).
    public func maximum() -> Double {
        if element == .uint8 { return Double(bytes.max() ?? 0) }
        return bytes.withUnsafeBytes { raw in (0..<count).reduce(-Double.infinity) { max($0, value(raw, $1)) } }
    }

    /// What `read` found: the array and, for a CSV, its label column (as integers, with the names of
    /// string labels by integer) and what was inferred on the way (said to the user as warnings).
    public struct ReadResult: Sendable {
        public var array: NumericArray
        public var csvLabels: [Int]?
        /// For string labels: `labelNames[i]` is the text that label `i` stands for (sorted, as
        /// scikit-learn's LabelEncoder numbers them).
        public var labelNames: [String]?
        public var warnings: [String] = []
    }

    /// Reads `.npy` (version 1–3, C order), IDX (MNIST's format) or CSV, recognized by content.
    public static func read(_ data: Data, field: String, csvLabelColumn: String? = nil) throws(DatasetError) -> ReadResult {
        if data.starts(with: [0x93] + Array("NUMPY".utf8)) { return ReadResult(array: try npy(data, field: field)) }
        if data.count >= 4, data[data.startIndex] == 0, data[data.startIndex + 1] == 0,
            [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E].contains(data[data.startIndex + 2])
        {
            return ReadResult(array: try idx(data, field: field))
        }
        if data.isEmpty { throw DatasetError(field: field, "the file is empty") }
        // Text, or nothing we read: NUL and other control bytes (beyond tab and line ends) or invalid
        // UTF-8 in the first 4 KiB mean a binary file, which the CSV reader would misreport as "no rows".
        if !looksLikeText(data.prefix(4096), cut: data.count > 4096) {
            throw DatasetError(
                field: field, "not a CSV, .npy or IDX file: it is neither text nor starts with a .npy or IDX header (gzip is fine too)")
        }
        return try csv(data, field: field, labelColumn: csvLabelColumn)
    }

    static func npy(_ data: Data, field: String) throws(DatasetError) -> NumericArray {
        let (shape, element, bigEndian, payloadStart, descr) = try npyHeader(data, field: field)
        let payload = data.dropFirst(payloadStart)
        guard let expected = byteCount(shape, element) else { throw DatasetError(field: field, ".npy shape \(shape) is too large") }
        guard payload.count >= expected else {
            throw DatasetError(
                field: field, ".npy file truncated: shape \(shape) of \(descr) needs \(expected) bytes of data, found \(payload.count)")
        }
        guard payload.count == expected else {
            throw DatasetError(field: field, ".npy file has \(payload.count - expected) bytes after the array's data")
        }
        return NumericArray(shape: shape, element: element, bigEndian: bigEndian, bytes: payload, format: "npy")
    }

    /// The shape an `.npy` or IDX file declares in its header, from the file's first bytes (nil for CSV
    /// or an incomplete header): a compressed upload is refused on it before the rest is inflated.
    public static func declaredShape(_ prefix: Data) -> [Int]? {
        if prefix.starts(with: [0x93] + Array("NUMPY".utf8)) { return try? npyHeader(prefix, field: "data").shape }
        if prefix.count >= 4, prefix[prefix.startIndex] == 0, prefix[prefix.startIndex + 1] == 0,
            [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E].contains(prefix[prefix.startIndex + 2])
        {
            return try? idxHeader(prefix, field: "data").shape
        }
        return nil
    }

    static func npyHeader(_ data: Data, field: String) throws(DatasetError)
        -> (shape: [Int], element: Element, bigEndian: Bool, payloadStart: Int, descr: String)
    {
        let bytes = [UInt8](data.prefix(12))
        guard bytes.count >= 10 else { throw DatasetError(field: field, ".npy file truncated inside its header") }
        let major = bytes[6]
        guard (1...3).contains(major) else { throw DatasetError(field: field, ".npy format version \(major) is not supported (1 to 3 are)") }
        let (headerLength, headerStart) =
            major == 1
            ? (Int(bytes[8]) | Int(bytes[9]) << 8, 10)
            : (bytes.count >= 12 ? (Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24, 12) : (Int.max, 12))
        guard headerLength < 1 << 20, data.count >= headerStart + headerLength else {
            throw DatasetError(field: field, ".npy file truncated inside its header")
        }
        let base = data.startIndex
        let header = String(decoding: data[(base + headerStart)..<(base + headerStart + headerLength)], as: UTF8.self)
        func entry(_ key: String) -> String? {
            guard let range = header.range(of: "'\(key)':") else { return nil }
            return String(header[range.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descrText = entry("descr"), let quote = descrText.first, quote == "'" || quote == "\"",
            let end = descrText.dropFirst().firstIndex(of: quote)
        else { throw DatasetError(field: field, ".npy header has no 'descr'") }
        let descr = String(descrText[descrText.index(after: descrText.startIndex)..<end])
        if let order = entry("fortran_order"), order.hasPrefix("True") {
            throw DatasetError(field: field, ".npy arrays in Fortran order are not supported; save with np.ascontiguousarray")
        }
        guard let shapeText = entry("shape"), shapeText.hasPrefix("("), let close = shapeText.firstIndex(of: ")") else {
            throw DatasetError(field: field, ".npy header has no 'shape'")
        }
        var shape: [Int] = []
        for part in shapeText[shapeText.index(after: shapeText.startIndex)..<close].split(separator: ",") {
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            guard let size = Int(trimmed.hasSuffix("L") ? String(trimmed.dropLast()) : trimmed), size >= 0 else {
                throw DatasetError(field: field, ".npy shape '\(shapeText[...close])' is not a tuple of sizes")
            }
            shape.append(size)
        }
        let order = descr.first
        let code = String(descr.dropFirst())
        let elements: [String: Element] = [
            "u1": .uint8, "i1": .int8, "i2": .int16, "u2": .uint16, "i4": .int32, "u4": .uint32,
            "i8": .int64, "u8": .uint64, "f4": .float32, "f8": .float64, "b1": .uint8,
        ]
        guard let order, "<>|=".contains(order), let element = elements[code] else {
            throw DatasetError(field: field, "dtype '\(descr)' is not supported (integers, float32 or float64)")
        }
        return (shape, element, order == ">", headerStart + headerLength, descr)
    }

    static func idx(_ data: Data, field: String) throws(DatasetError) -> NumericArray {
        let (shape, element) = try idxHeader(data, field: field)
        let rank = shape.count
        guard let expected = byteCount(shape, element) else { throw DatasetError(field: field, "IDX shape \(shape) is too large") }
        let payload = data.dropFirst(4 + 4 * rank)
        guard payload.count >= expected else {
            throw DatasetError(field: field, "IDX file truncated: shape \(shape) needs \(expected) bytes of data, found \(payload.count)")
        }
        guard payload.count == expected else { throw DatasetError(field: field, "IDX file has \(payload.count - expected) bytes after its data") }
        return NumericArray(shape: shape, element: element, bigEndian: true, bytes: payload, format: "idx")
    }

    static func idxHeader(_ data: Data, field: String) throws(DatasetError) -> (shape: [Int], element: Element) {
        let bytes = [UInt8](data.prefix(4 + 4 * 4))
        let element: Element =
            switch bytes[2] {
            case 0x08: .uint8
            case 0x09: .int8
            case 0x0B: .int16
            case 0x0C: .int32
            case 0x0D: .float32
            default: .float64
            }
        let rank = Int(bytes[3])
        guard (1...4).contains(rank) else { throw DatasetError(field: field, "IDX file with \(rank) dimensions (1 to 4 are supported)") }
        guard bytes.count >= 4 + 4 * rank else { throw DatasetError(field: field, "IDX file truncated inside its header") }
        let shape = (0..<rank).map { d in (0..<4).reduce(0) { $0 << 8 | Int(bytes[4 + 4 * d + $1]) } }
        return (shape, element)
    }

    /// The bytes an array of `shape` holds, or nil when the product overflows: sizes come from a file's
    /// header, and `shape.reduce(1, *)` on a 12-byte IDX header claiming 2³² × 2³² traps.
    static func byteCount(_ shape: [Int], _ element: Element) -> Int? {
        var total = element.size
        for size in shape {
            let (product, overflow) = total.multipliedReportingOverflow(by: size)
            guard !overflow, size >= 0 else { return nil }
            total = product
        }
        return total
    }

    /// Comma-separated numbers, one sample per line; a first line with any non-number is a header.
    /// `labelColumn` (a header name or a 0-based index) is taken out as integer labels.
    ///
    /// One pass over the bytes: no copy of the text, no array of lines, and the limits (columns, rows,
    /// values) are checked as rows arrive, so the working memory is the output floats and nothing else.
    /// (A 30 KiB gzip'd CSV once reached 705 MB before it was refused.)
    static func csv(_ data: Data, field: String, labelColumn: String?) throws(DatasetError) -> ReadResult {
        let result: Result<ReadResult, DatasetError> = data.withUnsafeBytes { raw in
            do throws(DatasetError) {
                return .success(try csv(raw, field: field, labelColumn: labelColumn))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// No control bytes but tab and line ends, and valid UTF-8 (a character cut at the end of a prefix allowed).
    static func looksLikeText(_ head: Data, cut: Bool) -> Bool {
        if head.contains(where: { $0 < 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }) { return false }
        for drop in 0...(cut ? 3 : 0) where String(validating: head.dropLast(drop), as: UTF8.self) != nil { return true }
        return false
    }

    /// Header names taken as the label column when `label_column` is not given (said in a warning).
    /// In order of preference: a table with both `label` and `y` has its labels in `label`.
    static let labelColumnNames = ["label", "labels", "target", "y"]

    private static func csv(_ bytes: UnsafeRawBufferPointer, field: String, labelColumn: String?) throws(DatasetError) -> ReadResult {
        var position = 0
        // A byte order mark (Excel writes one) is not part of the first field: left in, it made the
        // first row a "header" and silently dropped a sample.
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { position = 3 }
        /// The next non-empty line's byte range, or nil at the end.
        func nextLine() -> Range<Int>? {
            while position < bytes.count {
                let start = position
                while position < bytes.count, bytes[position] != 0x0A, bytes[position] != 0x0D { position += 1 }
                let end = position
                if position < bytes.count { position += 1 }  // \n, \r, or the \r of \r\n (the \n then ends an empty line)
                if end > start { return start..<end }
            }
            return nil
        }
        /// The fields of a line, trimmed of spaces and tabs.
        func fields(_ line: Range<Int>, into result: inout [Range<Int>]) {
            result.removeAll(keepingCapacity: true)
            var start = line.lowerBound
            for index in line where bytes[index] == UInt8(ascii: ",") {
                result.append(trimmed(start..<index))
                start = index + 1
            }
            result.append(trimmed(start..<line.upperBound))
        }
        func trimmed(_ range: Range<Int>) -> Range<Int> {
            var (low, high) = (range.lowerBound, range.upperBound)
            while low < high, bytes[low] == 0x20 || bytes[low] == 0x09 { low += 1 }
            while high > low, bytes[high - 1] == 0x20 || bytes[high - 1] == 0x09 { high -= 1 }
            return low..<high
        }
        func text(_ range: Range<Int>) -> String { String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self) }
        func number(_ range: Range<Int>) -> Double? {
            // Short fields are Swift small strings (no allocation); anything longer than a number can be is not one.
            range.count <= 64 ? Double(text(range)) : nil
        }

        guard let first = nextLine() else { throw DatasetError(field: field, "the CSV file has no rows") }
        var ranges: [Range<Int>] = []
        fields(first, into: &ranges)
        let columns = ranges.count
        guard columns <= Dataset.Limits.maxFeatures + 1 else {
            throw DatasetError(
                field: field,
                "the CSV file has \(columns) columns; at most \(Dataset.Limits.maxFeatures) features (and a label) are accepted")
        }
        var header: [String]?
        if ranges.contains(where: { number($0) == nil }) { header = ranges.map { text($0) } }
        var warnings: [String] = []
        var labelIndex: Int?
        if let labelColumn {
            if let index = header?.firstIndex(of: labelColumn) {
                labelIndex = index
            } else if let index = Int(labelColumn), index >= 0, index < columns {
                labelIndex = index
            } else {
                let names = header.map { Array($0.prefix(20)) } ?? []
                throw DatasetError(
                    field: "label_column",
                    "no column '\(labelColumn.prefix(60))' in the CSV header \(names) and not a column index below \(columns)")
            }
        } else if let header, let index = labelColumnNames.lazy.compactMap({ name in header.firstIndex { $0.lowercased() == name } }).first {
            labelIndex = index
            warnings.append("took the column '\(header[index])' as the labels (name another with label_column)")
        }
        // pandas' to_csv writes the index as a first column with an empty name: a candidate, kept apart
        // and dropped if it holds exactly 0…N−1.
        let indexCandidate = header.map { ($0.first == "" || $0.first == "Unnamed: 0") && labelIndex != 0 && columns > 1 } ?? false
        var indexValues: [Float] = []
        var indexIsRowNumber = indexCandidate
        let width = columns - (labelIndex == nil ? 0 : 1) - (indexCandidate ? 1 : 0)
        var values: [Float] = []
        var labels: [Int] = []
        var labelTexts: [String] = []
        var labelsAreText = false
        var rows = 0
        var line: Range<Int>? = header == nil ? first : nextLine()
        guard line != nil else { throw DatasetError(field: field, "the CSV file has a header but no rows") }
        while let current = line {
            let row = rows + (header == nil ? 1 : 2)
            guard rows < Dataset.Limits.maxSamples else {
                throw DatasetError(field: field, "the CSV file has more than \(Dataset.Limits.maxSamples) rows, the most samples a dataset may have")
            }
            guard values.count + width <= Dataset.Limits.maxValues else {
                throw DatasetError(field: field, "the CSV file has more than \(Dataset.Limits.maxValues) values, the most a dataset may have")
            }
            fields(current, into: &ranges)
            guard ranges.count == columns else {
                throw DatasetError(field: field, "CSV line \(row) has \(ranges.count) fields, the first line has \(columns)")
            }
            for (column, range) in ranges.enumerated() {
                if column == labelIndex {
                    // Labels may be integers or any text (mapped to integers at the end); kept as text until then.
                    guard range.count <= 200 else { throw DatasetError(field: "label_column", "CSV line \(row): a label is longer than 200 bytes") }
                    let label = text(range)
                    if !labelsAreText, let value = Double(label), value == value.rounded(), abs(value) < 1e9 {
                        labels.append(Int(value))
                    } else {
                        labelsAreText = true
                    }
                    labelTexts.append(label)
                    continue
                }
                guard let value = number(range) else {
                    throw DatasetError(field: field, "CSV line \(row), column \(column + 1): '\(text(range).prefix(40))' is not a number")
                }
                if indexCandidate && column == 0 {
                    if value != Double(rows) { indexIsRowNumber = false }
                    indexValues.append(Float(value))
                } else {
                    values.append(Float(value))
                }
            }
            rows += 1
            line = nextLine()
        }
        if indexCandidate && !indexIsRowNumber {
            // An unnamed first column that is not 0…N−1 is data after all: put it back in front of each row.
            var withColumn: [Float] = []
            withColumn.reserveCapacity(values.count + rows)
            for row in 0..<rows {
                withColumn.append(indexValues[row])
                withColumn.append(contentsOf: values[(row * width)..<((row + 1) * width)])
            }
            values = withColumn
        } else if indexCandidate {
            warnings.append("dropped the unnamed first column: it holds 0…\(rows - 1), a row index (pandas' to_csv writes one; pass index=False)")
        }
        let features = indexCandidate && !indexIsRowNumber ? width + 1 : width
        guard features > 0 else { throw DatasetError(field: field, "the CSV file has no feature columns besides the label") }
        var labelNames: [String]?
        if labelIndex != nil && labelsAreText {
            let names = Array(Set(labelTexts)).sorted()
            guard names.count <= Dataset.Limits.maxLabelNames else {
                throw DatasetError(field: "label_column", "the labels take \(names.count) distinct values; at most \(Dataset.Limits.maxLabelNames)")
            }
            let code = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($0.element, $0.offset) })
            labels = labelTexts.map { code[$0] ?? 0 }
            labelNames = names
            warnings.append("the labels are text: numbered 0…\(names.count - 1) in sorted order (label_names says which is which)")
        }
        let payload = values.withUnsafeBufferPointer { Data(buffer: $0) }
        return ReadResult(
            array: NumericArray(shape: [rows, features], element: .float32, bigEndian: false, bytes: payload, format: "csv"),
            csvLabels: labelIndex == nil ? nil : labels, labelNames: labelNames, warnings: warnings)
    }

    /// Writes a `.npy` file (version 1.0) straight from `payload`, without first joining header and data
    /// in memory (an upload's samples are the largest thing a request holds).
    public static func writeNPY(to url: URL, shape: [Int], descr: String, payload: UnsafeRawBufferPointer) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: npyFile(shape: shape, descr: descr, payload: Data())) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path])
        }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.seekToEnd()
        var offset = 0
        while offset < payload.count {
            let end = min(payload.count, offset + (8 << 20))
            try handle.write(contentsOf: UnsafeRawBufferPointer(rebasing: payload[offset..<end]))
            offset = end
        }
        try handle.synchronize()
    }

    /// A `.npy` file (version 1.0) of this array's values as `descr`, written little-endian.
    public static func npyFile(shape: [Int], descr: String, payload: Data) -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        data.append(contentsOf: Array(header.utf8))
        data.append(payload)
        return data
    }
}
