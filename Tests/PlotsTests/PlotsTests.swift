import Clustering
import Foundation
@testable import Jobs
import XCTest

@testable import Plots

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// A job with the given artifacts and metrics, as the server would hand it to the plots.
func source(
    kind: String, result: JSONValue, params: JSONValue = [:], artifacts: [String: Data] = [:], metrics: [MetricPoint] = [],
    dataset: Dataset? = nil
) -> PlotSource {
    let job = Job(
        id: "job-1", sequence: 1, kind: kind, name: nil, priority: 0, paramsJSON: params.canonicalText(), status: .succeeded, reason: nil,
        resultJSON: result.canonicalText(), progress: JobProgress(fraction: 1), attempt: 1, maxAttempts: 3, createdAt: Date(), startedAt: nil,
        finishedAt: nil, heartbeatAt: nil, version: 3)
    return PlotSource(
        job: job, artifactNames: Set(artifacts.keys), metricNames: Array(Set(metrics.map(\.name))), artifact: { artifacts[$0] },
        metrics: { metrics }, labels: { dataset?.labels }, samples: { dataset?.selecting($0) }, otherArtifact: { _, _ in nil })
}

func npy(_ values: [Double], shape: [Int]) -> Data {
    NumericArray.npyFile(shape: shape, descr: "<f8", payload: values.withUnsafeBufferPointer { Data(buffer: $0) })
}

func drawsLayout(_ names: [String], chains: Int, draws: Int) -> Data {
    let layout: JSONValue = [
        "chains": .integer(Int64(chains)), "draws": .integer(Int64(draws)), "coordinates": .array(names.map(JSONValue.string)),
    ]
    return Data(layout.canonicalText().utf8)
}

/// Parses the SVG as XML and returns its root's width and height.
func checkSVG(_ data: Data, file: StaticString = #filePath, line: UInt = #line) -> (Int, Int)? {
    final class Root: NSObject, XMLParserDelegate {
        var size: (Int, Int)?
        func parser(
            _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]
        ) {
            if name == "svg", let w = attributes["width"].flatMap(Int.init), let h = attributes["height"].flatMap(Int.init) { size = (w, h) }
        }
    }
    let parser = XMLParser(data: data)
    let root = Root()
    parser.delegate = root
    XCTAssertTrue(parser.parse(), "SVG is not well-formed XML: \(String(describing: parser.parserError))", file: file, line: line)
    return root.size
}

/// Decodes the PNG and checks it is the figure's size and not blank (some pixels far from white, several colours).
func checkPNG(_ data: Data, width: Int, height: Int, file: StaticString = #filePath, line: UInt = #line) throws {
    let image = try PNGDecoder.decode(data)
    XCTAssertEqual(image.width, width, file: file, line: line)
    XCTAssertEqual(image.height, height, file: file, line: line)
    var dark = 0
    var colours = Set<UInt32>()
    for pixel in 0..<(image.width * image.height) {
        let (r, g, b) = (image.rgb[pixel * 3], image.rgb[pixel * 3 + 1], image.rgb[pixel * 3 + 2])
        if Int(r) + Int(g) + Int(b) < 400 { dark += 1 }
        if colours.count < 64 { colours.insert(UInt32(r) << 16 | UInt32(g) << 8 | UInt32(b)) }
    }
    XCTAssertGreaterThan(Double(dark) / Double(image.width * image.height), 0.002, "the PNG is blank", file: file, line: line)
    XCTAssertGreaterThan(colours.count, 3, file: file, line: line)
}

final class PlotsTests: XCTestCase {
    func testNiceScaleCoversTheRangeWithRoundTicks() {
        let scale = NiceScale(0.13, 9.7, targetTicks: 5)
        XCTAssertLessThanOrEqual(scale.lower, 0.13)
        XCTAssertGreaterThanOrEqual(scale.upper, 9.7)
        XCTAssertEqual(scale.ticks, [0, 2, 4, 6, 8, 10])
        // A constant series and non-finite bounds still give an axis.
        XCTAssertLessThan(NiceScale(5, 5).lower, NiceScale(5, 5).upper)
        XCTAssertLessThan(NiceScale(.nan, .infinity).lower, NiceScale(.nan, .infinity).upper)
        XCTAssertEqual(NiceScale.label(-0.5), "−0.5")
        XCTAssertEqual(NiceScale.label(1.5e7), "1.5e+07")
    }

    func testSVGEscapesTextAndPNGRoundTrips() throws {
        var figure = Figure(width: 200, height: 100, title: "<script>alert(1)</script> & \"x\"")
        figure.text("a < b", at: Point(10, 50))
        figure.line([Point(0, 0), Point(200, 100)], color: .black, width: 2)
        let svg = String(decoding: figure.svg(), as: UTF8.self)
        XCTAssertFalse(svg.contains("<script"), "text reaches the SVG escaped")
        XCTAssertTrue(svg.contains("&lt;script&gt;"))
        XCTAssertEqual(checkSVG(figure.svg()).map { [$0.0, $0.1] }, [200, 100])
        try checkPNG(figure.png(), width: 200, height: 100)
        // The encoder's pixels come back exactly.
        let pixels = (0..<(7 * 5 * 3)).map { UInt8(($0 * 37) % 256) }
        XCTAssertEqual(try PNGDecoder.decode(PNGEncoder.encode(rgb: pixels, width: 7, height: 5)).rgb, pixels)
    }

    /// Draws a sampler could leave (NaN, ±∞, 1e300, a constant chain) are drawn, never trapped on.
    func testSamplerPlotsSurviveHostileDraws() throws {
        let (chains, draws, names) = (3, 500, ["a", "b[0]", "constant", "wild"])
        var values: [Double] = []
        for chain in 0..<chains {
            for draw in 0..<draws {
                let x = sin(Double(draw * (chain + 1)))
                let wild: Double = [Double.nan, .infinity, -.infinity, 1e300, -1e300, x][draw % 6]
                values += [x, Double(draw % 7) - 3, 2, wild]
            }
        }
        let parameters: JSONValue = .object(
            Dictionary(
                uniqueKeysWithValues: names.map { ($0, ["mean": 0, "r_hat": .number(.nan), "ess_bulk": 100, "ess_tail": 1e308] as JSONValue) }))
        let plots = source(
            kind: "sample.mcmc", result: ["chains": 3, "parameters": parameters],
            artifacts: [
                "draws.npy": npy(values, shape: [chains, draws, names.count]), "draws.json": drawsLayout(names, chains: chains, draws: draws),
                "divergences.csv": Data("chain,a,b[0],constant,wild\n0,0.5,1,2,nan\n1,x,1,2,3\n".utf8),
            ],
            metrics: (0..<50).map { MetricPoint(name: "acceptance_rate", step: Int64($0), value: $0 % 9 == 0 ? .nan : 0.8) })
        let available = PlotCatalog.available(plots).map(\.name)
        XCTAssertEqual(available, ["metrics", "trace", "rank", "marginals", "pair", "diagnostics"])
        for name in available {
            let figure = try PlotCatalog.render(name, plots, options: PlotOptions(x: name == "pair" ? "wild" : nil))
            let size = try XCTUnwrap(checkSVG(figure.svg()), name)
            try checkPNG(figure.png(), width: size.0, height: size.1)
        }
        XCTAssertThrowsError(try PlotCatalog.render("pair", plots, options: PlotOptions(x: "nope"))) { error in
            guard case PlotError.invalidOption(let field, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(field, "x")
            XCTAssertTrue(reason.contains("a, b[0], constant, wild"), reason)
        }
        XCTAssertThrowsError(try PlotCatalog.render("montage", plots)) { error in
            XCTAssertEqual(error as? PlotError, .unknownPlot(name: "montage", available: available))
        }
    }

    /// A one-dimensional sampler's target is drawn over its draws: a continuous density as a curve, a pmf as dots.
    func testMarginalsOverlayTheTarget() throws {
        let draws = (0..<1000).map { Double($0 % 7) }
        let continuous = source(
            kind: "sample.inverse_cdf", result: [:],
            artifacts: [
                "draws.npy": npy(draws, shape: [1, 1000, 1]), "draws.json": drawsLayout(["x"], chains: 1, draws: 1000),
                "target_density.json": Data(#"{"kind": "continuous", "variable": "x", "x": [0, 3, 6], "density": [0.1, 0.2, 0.1]}"#.utf8),
            ])
        let curve = String(decoding: try PlotCatalog.render("marginals", continuous).svg(), as: UTF8.self)
        XCTAssertTrue(curve.contains("target density") && curve.contains("Draws against the target"), curve.prefix(400).description)
        XCTAssertTrue(curve.contains("<polyline fill=\"none\" stroke=\"#222222\""), "the target's curve is drawn")
        let discrete = source(
            kind: "sample.inverse_cdf", result: [:],
            artifacts: [
                "draws.npy": npy(draws, shape: [1, 1000, 1]), "draws.json": drawsLayout(["x"], chains: 1, draws: 1000),
                "target_density.json": Data(
                    #"{"kind": "discrete", "variable": "x", "x": [0, 1, 2, 3, 4, 5, 6], "probability": [0.14, 0.14, 0.14, 0.14, 0.14, 0.15, 0.15]}"#
                        .utf8),
            ])
        let figure = try PlotCatalog.render("marginals", discrete)
        let svg = String(decoding: figure.svg(), as: UTF8.self)
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 7, "one dot per integer of the target")
        XCTAssertTrue(svg.contains("target probability"))
        try checkPNG(figure.png(), width: figure.width, height: figure.height)
    }

    func testClusterPlotsOfImagesAndVectors() throws {
        let images = GeneratedDatasets.make("shapes", count: 120, seed: 1)!
        let assignments = NumericArray.npyFile(
            shape: [120], descr: "<i8", payload: images.labels!.map { Int64($0) }.withUnsafeBufferPointer { Data(buffer: $0) })
        var probabilities = [Float](repeating: 0.1, count: 120 * 4)
        for sample in 0..<120 { probabilities[sample * 4 + images.labels![sample]] = Float(sample % 10) / 10 }
        let imageJob = source(
            kind: "cluster.iic", result: ["k": 4, "layout": ["kind": "images"], "scores": ["acc": 1]],
            artifacts: [
                "assignments.npy": assignments,
                "probabilities.npy": NumericArray.npyFile(
                    shape: [120, 4], descr: "<f4", payload: probabilities.withUnsafeBufferPointer { Data(buffer: $0) }),
            ], dataset: images)
        XCTAssertEqual(PlotCatalog.available(imageJob).map(\.name), ["sizes", "confusion", "montage"])
        let montage = try PlotCatalog.render("montage", imageJob)
        try checkPNG(montage.png(), width: montage.width, height: montage.height)
        XCTAssertTrue(String(decoding: montage.svg(), as: UTF8.self).contains("data:image/png;base64,"))
        let confusion = try PlotCatalog.render("confusion", imageJob)
        // Assignments equal to the labels: every count is on the diagonal, 30 per shape.
        XCTAssertTrue(String(decoding: confusion.svg(), as: UTF8.self).contains(">30</text>"))

        let blobs = GeneratedDatasets.make("blobs", count: 200, classes: 3, seed: 2)!
        let vectorJob = source(
            kind: "cluster.kmeans", result: ["k": 3, "scores": .null],
            artifacts: ["assignments.npy": npy(blobs.labels!.map(Double.init), shape: [200])], dataset: blobs)
        XCTAssertEqual(PlotCatalog.available(vectorJob).map(\.name), ["sizes", "pca"])
        let pca = try PlotCatalog.render("pca", vectorJob)
        try checkPNG(pca.png(), width: pca.width, height: pca.height)
        // The dataset gone: a clear error, not a crash.
        let gone = source(kind: "cluster.kmeans", result: ["k": 3], artifacts: ["assignments.npy": npy([0, 1], shape: [2])])
        XCTAssertThrowsError(try PlotCatalog.render("pca", gone)) { XCTAssertTrue("\($0)".contains("unreadable"), "\($0)") }
    }
}
