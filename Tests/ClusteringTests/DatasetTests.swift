import Foundation
import XCTest
@testable import Clustering

final class DatasetTests: XCTestCase {
    func fixture(_ name: String) throws -> Data {
        try Data(contentsOf: Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures")!)
    }

    func expectedImages() throws -> [Int] {
        try JSONDecoder().decode([String: [Int]].self, from: fixture("images.json"))["images"]!
    }

    func reason(_ body: () throws -> Void) -> DatasetError? {
        do { try body() } catch let error as DatasetError { return error } catch { XCTFail("unexpected \(error)") }
        return nil
    }

    func testGzipNPYAndIDXReadTheSameImages() throws {
        let expected = try expectedImages()
        let npy = try NumericArray.read(Gzip.decompress(fixture("images.npy.gz")), field: "data").array
        let idx = try NumericArray.read(fixture("images.idx"), field: "data").array
        for array in [npy, idx] {
            XCTAssertEqual(array.shape, [5, 6, 6])
            XCTAssertEqual(array.element, .uint8)
            XCTAssertEqual(array.floats().map { Int($0) }, expected)
        }
        let labels = try Dataset.labels(NumericArray.read(fixture("labels.idx"), field: "labels").array)
        XCTAssertEqual(labels, [0, 1, 2, 1, 0])
        let dataset = try Dataset.from(idx, labels: labels)
        XCTAssertEqual(dataset.layout, .images(channels: 1, height: 6, width: 6))
        // Scaled by the largest pixel.
        let top = Float(expected.max()!)
        XCTAssertEqual(dataset.values[7], Float(expected[7]) / top, accuracy: 1e-6)
        XCTAssertEqual(dataset.labelCounts, [0: 2, 1: 2, 2: 1])
    }

    func testNPYRoundTripOfEveryLayout() throws {
        let values: [Float] = [1.5, -2, 3, 4.25, 0, 6]
        let file = NumericArray.npyFile(shape: [3, 2], descr: "<f4", payload: values.withUnsafeBufferPointer { Data(buffer: $0) })
        let array = try NumericArray.read(file, field: "data").array
        XCTAssertEqual(array.shape, [3, 2])
        XCTAssertEqual(array.floats(), values)
        XCTAssertEqual(file.count % 64, (10 + 0 + 6 * 4 + 0) % 64 == 0 ? 0 : file.count % 64)  // header padded to 64
        XCTAssertEqual((file.count - 24) % 64, 0)
        // Big-endian float64 and channels-last colour images.
        let big = [1.0, -0.5].flatMap { withUnsafeBytes(of: $0.bitPattern.bigEndian) { Array($0) } }
        let doubles = try NumericArray.read(NumericArray.npyFile(shape: [1, 2], descr: ">f8", payload: Data(big)), field: "data").array
        XCTAssertEqual(doubles.doubles(), [1.0, -0.5])
        let rgb = (0..<(2 * 4 * 4 * 3)).map { UInt8($0) }
        let colour = try Dataset.from(
            NumericArray.read(NumericArray.npyFile(shape: [2, 4, 4, 3], descr: "|u1", payload: Data(rgb)), field: "data").array,
            labels: nil)
        XCTAssertEqual(colour.layout, .images(channels: 3, height: 4, width: 4))
        // Sample 1, channel 2, pixel (y 3, x 1) came from byte ((1·4 + 3)·4 + 1)·3 + 2.
        XCTAssertEqual(colour.values[((1 * 3 + 2) * 4 + 3) * 4 + 1], Float(((1 * 4 + 3) * 4 + 1) * 3 + 2) / Float(rgb.max()!), accuracy: 1e-6)
    }

    func testCSVWithHeaderAndLabelColumn() throws {
        let csv = Data("a,label,b\n1,0,2\n3,1,4.5\n-1,1,0\n".utf8)
        let read = try NumericArray.read(csv, field: "data", csvLabelColumn: "label")
        let (array, labels) = (read.array, read.csvLabels)
        XCTAssertEqual(array.shape, [3, 2])
        XCTAssertEqual(array.floats(), [1, 2, 3, 4.5, -1, 0])
        XCTAssertEqual(labels, [0, 1, 1])
        let plain = try NumericArray.read(Data("1,2\n3,4\n".utf8), field: "data")
        let (headerless, none) = (plain.array, plain.csvLabels)
        XCTAssertEqual(headerless.shape, [2, 2])
        XCTAssertNil(none)
    }

    /// A gzip'd `.npy` whose header declares more than the limits is refused from its first bytes: the
    /// inflater stops there instead of writing the rest (up to 1 GiB) to disk.
    func testCompressedUploadIsRefusedFromItsHeader() throws {
        let header = NumericArray.npyFile(shape: [250_000, 64, 64], descr: "|u1", payload: Data())
        XCTAssertEqual(NumericArray.declaredShape(header), [250_000, 64, 64])
        XCTAssertNil(NumericArray.declaredShape(Data("1,2\n".utf8)))
        let directory = FileManager.default.temporaryDirectory
        let source = directory.appendingPathComponent("bomb-\(UUID().uuidString).npy")
        let compressed = directory.appendingPathComponent("bomb-\(UUID().uuidString).npy.gz")
        let inflated = directory.appendingPathComponent("bomb-\(UUID().uuidString).out")
        defer { for url in [source, compressed, inflated] { try? FileManager.default.removeItem(at: url) } }
        FileManager.default.createFile(atPath: source.path, contents: header + Data(count: 8 << 20))
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/sh")
        gzip.arguments = ["-c", "gzip -c '\(source.path)' > '\(compressed.path)'"]
        try gzip.run()
        gzip.waitUntilExit()
        XCTAssertThrowsError(
            try Gzip.decompress(file: compressed, to: inflated, limit: 1 << 30, field: "data") { head in
                if let shape = NumericArray.declaredShape(head) { try Dataset.checkSize(shape) }
            }
        ) { error in
            XCTAssertTrue("\(error)".contains("more than 67108864 values"), "\(error)")
        }
        let written = (try? FileManager.default.attributesOfItem(atPath: inflated.path)[.size] as? Int) ?? 0
        XCTAssertLessThan(written, 1 << 20, "inflating stopped at the header")
    }

    /// Excel writes a byte order mark; it used to make the first data row a "header" and drop it.
    func testCSVWithByteOrderMarkKeepsItsFirstRow() throws {
        let array = try NumericArray.read(Data([0xEF, 0xBB, 0xBF]) + Data("1,2\n3,4\n".utf8), field: "data").array
        XCTAssertEqual(array.shape, [2, 2])
        XCTAssertEqual(array.floats(), [1, 2, 3, 4])
        let read = try NumericArray.read(Data([0xEF, 0xBB, 0xBF]) + Data("a,label\n1,0\n3,1\n".utf8), field: "data", csvLabelColumn: "label")
        let (withHeader, labels) = (read.array, read.csvLabels)
        XCTAssertEqual(withHeader.shape, [2, 1])
        XCTAssertEqual(labels, [0, 1])
    }

    /// What pandas writes (`df.to_csv("f.csv")`): an unnamed index column 0…N−1, a `label` column of
    /// strings. The index is dropped, the labels found and numbered in sorted order, each said in a warning.
    func testPandasCSVIndexAndTextLabelsAreRecognized() throws {
        let pandas = Data(",x,y,label\n0,1.5,2,cat\n1,3,4,dog\n2,5,6,cat\n".utf8)
        let read = try NumericArray.read(pandas, field: "data")
        XCTAssertEqual(read.array.shape, [3, 2])
        XCTAssertEqual(read.array.floats(), [1.5, 2, 3, 4, 5, 6])
        XCTAssertEqual(read.csvLabels, [0, 1, 0])
        XCTAssertEqual(read.labelNames, ["cat", "dog"])
        XCTAssertEqual(read.warnings.count, 3, "\(read.warnings)")
        XCTAssertTrue(read.warnings.contains { $0.contains("dropped the unnamed first column") })
        XCTAssertTrue(read.warnings.contains { $0.contains("'label'") })

        // An unnamed first column that is not 0…N−1 is data and stays.
        let notIndex = try NumericArray.read(Data(",x\n7,1\n8,2\n".utf8), field: "data")
        XCTAssertEqual(notIndex.array.shape, [2, 2])
        XCTAssertEqual(notIndex.array.floats(), [7, 1, 8, 2])
        XCTAssertTrue(notIndex.warnings.isEmpty)
        // `target` and `y` are labels too; an explicit label_column wins.
        XCTAssertEqual(try NumericArray.read(Data("a,Target\n1,2\n3,4\n".utf8), field: "data").csvLabels, [2, 4])
        XCTAssertEqual(try NumericArray.read(Data("y,b\n1,2\n3,4\n".utf8), field: "data", csvLabelColumn: "b").csvLabels, [2, 4])
    }

    /// Binary garbage is "not a CSV/npy/IDX file", not the CSV reader's "header but no rows".
    func testGarbageBytesAreNamedAsSuch() {
        for garbage in [
            Data([0x50, 0x4B, 0x03, 0x04, 0x14, 0x00, 0x00]), Data([0xFF, 0xD8, 0xFF, 0xE0, 0x41, 0x0A, 0x42]),
            Data((0..<5000).map { UInt8($0 % 251) }),
            // Issue 14: a raw uint8 labels file (R8's 8 topics) was "a CSV with a header but no rows".
            Data((0..<5485).map { UInt8($0 * 7 % 8) }),
        ] {
            XCTAssertThrowsError(try NumericArray.read(garbage, field: "data")) { error in
                XCTAssertTrue("\(error)".contains("not a CSV, .npy or IDX file"), "\(error)")
            }
        }
        // UTF-8 text whose 4 KiB prefix cuts a character in two is still text.
        let text = Data(("a,label\n" + String(repeating: "1,x\n", count: 1021) + "1,xé\n" + "2,y\n").utf8)
        XCTAssertEqual(text[4095], 0xC3, "é straddles the 4 KiB boundary")
        XCTAssertEqual(try NumericArray.read(text, field: "data").labelNames, ["x", "xé", "y"])
    }

    /// Channels-first images (PyTorch's N×C×H×W) are named as such, with the transpose that fixes them.
    func testChannelsFirstImagesAreNamed() throws {
        let array = NumericArray(shape: [2, 3, 8, 8], element: .uint8, bigEndian: false, bytes: Data(count: 384), format: "npy")
        XCTAssertThrowsError(try Dataset.from(array, labels: nil)) { error in
            XCTAssertTrue("\(error)".contains("channels-first") && "\(error)".contains("transpose(0, 2, 3, 1)"), "\(error)")
        }
    }

    /// Features near ±1e20 overflow squared distances in Float; k-means++ used to index −1.
    func testKMeansOnHugeFeaturesDoesNotTrap() throws {
        let values: [Float] = (0..<40).map { $0 % 2 == 0 ? 1e20 : -1e20 }
        let kmeans = KMeans(k: 3, runs: 2, maxIterations: 5, tolerance: 1e-4, seed: 1)
        let result = try kmeans.fit(values, count: 20, dimension: 2)
        XCTAssertEqual(result.assignments.count, 20)
        XCTAssertTrue(result.assignments.allSatisfy { (0..<3).contains($0) })
    }

    func testBadFilesSayWhatIsWrong() throws {
        let good = NumericArray.npyFile(shape: [4, 2], descr: "<f4", payload: Data(count: 32))
        let cases: [(String, String, () throws -> Void)] = [
            ("truncated", "truncated", { _ = try NumericArray.read(good.dropLast(5), field: "data") }),
            ("trailing bytes", "bytes after", { _ = try NumericArray.read(good + Data([1, 2]), field: "data") }),
            (
                "complex dtype", "dtype '<c8' is not supported",
                {
                    _ = try NumericArray.read(NumericArray.npyFile(shape: [1, 1], descr: "<c8", payload: Data(count: 8)), field: "data")
                }
            ),
            ("empty", "empty", { _ = try NumericArray.read(Data(), field: "data") }),
            ("ragged CSV", "line 2 has 1 fields", { _ = try NumericArray.read(Data("1,2\n3\n".utf8), field: "data") }),
            ("text in CSV", "'x' is not a number", { _ = try NumericArray.read(Data("1,2\n3,x\n".utf8), field: "data") }),
            ("unknown label column", "no column 'y'", { _ = try NumericArray.read(Data("a,b\n1,2\n".utf8), field: "data", csvLabelColumn: "y") }),
            (
                "zero rows", "zero rows",
                {
                    _ = try Dataset.from(
                        NumericArray.read(NumericArray.npyFile(shape: [0, 3], descr: "<f4", payload: Data()), field: "data").array, labels: nil)
                }
            ),
            (
                "NaN", "sample 1, feature 0 is nan",
                {
                    let values: [Float] = [1, 2, .nan, 4]
                    _ = try Dataset.from(
                        NumericArray.read(
                            NumericArray.npyFile(shape: [2, 2], descr: "<f4", payload: values.withUnsafeBufferPointer { Data(buffer: $0) }),
                            field: "data"
                        ).array, labels: nil)
                }
            ),
            ("label count", "3 labels for 4 samples", { _ = try Dataset.from(NumericArray.read(good, field: "data").array, labels: [0, 1, 2]) }),
            (
                "float images", "images must be uint8",
                {
                    _ = try Dataset.from(
                        NumericArray.read(NumericArray.npyFile(shape: [1, 8, 8], descr: "<f4", payload: Data(count: 256)), field: "data").array,
                        labels: nil)
                }
            ),
            (
                "tiny images", "sides from 4 to 64",
                {
                    _ = try Dataset.from(
                        NumericArray.read(NumericArray.npyFile(shape: [1, 2, 2], descr: "|u1", payload: Data(count: 4)), field: "data").array,
                        labels: nil)
                }
            ),
            (
                "fractional labels", "not an integer",
                {
                    let values: [Double] = [0, 1.5]
                    _ = try Dataset.labels(float64Labels(values))
                }
            ),
            ("corrupt gzip", "gzip", { _ = try Gzip.decompress(Data([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3])) }),
            ("gzip bomb", "limit", { _ = try Gzip.decompress(try self.fixture("images.npy.gz"), limit: 100) }),
            // Sizes from headers: these trapped (overflow in shape × element size) before.
            ("IDX overflow", "too large", { _ = try NumericArray.read(Data([0, 0, 0x0D, 3] + [UInt8](repeating: 0xFF, count: 12)), field: "data") }),
            (
                "IDX huge", "truncated",
                { _ = try NumericArray.read(Data([0, 0, 0x08, 2, 0x7F, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF]), field: "data") }
            ),
            (
                "npy overflow", "too large",
                {
                    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (9223372036854775807, 4), }"
                    var file = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0])
                    file.append(Data(header.utf8))
                    _ = try NumericArray.read(file, field: "data")
                }
            ),
            (
                "CSV columns", "100000 columns",
                {
                    _ = try NumericArray.read(Data((Array(repeating: "1", count: 100_000).joined(separator: ",") + "\n").utf8), field: "data")
                }
            ),
            (
                "CSV rows", "more than 250000 rows",
                {
                    _ = try NumericArray.read(Data(String(repeating: "0\n", count: 250_001).utf8), field: "data")
                }
            ),
            (
                "huge labels", "outside −1",
                {
                    let values: [Double] = [0, 1e20]
                    _ = try Dataset.labels(float64Labels(values))
                }
            ),
            (
                "infinite labels", "not an integer",
                {
                    let values: [Double] = [0, .infinity]
                    _ = try Dataset.labels(float64Labels(values))
                }
            ),
        ]
        for (label, expected, body) in cases {
            let error = reason(body)
            XCTAssertNotNil(error, label)
            XCTAssertTrue(error?.reason.contains(expected) == true, "\(label): \(error?.reason ?? "no error")")
        }
    }

    func testGeneratedDatasetsAreSeeded() {
        for name in GeneratedDatasets.names {
            let a = GeneratedDatasets.make(name, count: 40, classes: 3, seed: 5)!
            let b = GeneratedDatasets.make(name, count: 40, classes: 3, seed: 5)!
            XCTAssertEqual(a.values, b.values, name)
            XCTAssertEqual(a.count, 40)
            XCTAssertNotEqual(a.values, GeneratedDatasets.make(name, count: 40, classes: 3, seed: 6)!.values, name)
        }
        XCTAssertNil(GeneratedDatasets.make("nothing", count: 10))
    }
}

/// A labels array as a float64 `.npy` (labels must be integers; these test what happens when they are not).
private func float64Labels(_ values: [Double]) throws -> NumericArray {
    try NumericArray.read(
        NumericArray.npyFile(shape: [values.count], descr: "<f8", payload: values.withUnsafeBufferPointer { Data(buffer: $0) }),
        field: "labels"
    ).array
}
