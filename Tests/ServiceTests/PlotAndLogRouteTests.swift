import Foundation
import Hummingbird
import HummingbirdTesting
import Jobs
import Plots
import XCTest

@testable import Service

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// Issue 16: every plot of every kind's example renders as SVG (parsed) and PNG (decoded, the SVG's size, not blank);
/// plots of running jobs and unknown plots are clear 4xx; the per-job log tells the run's story.
final class PlotAndLogRouteTests: XCTestCase {
    func testEveryPlotOfEveryKindsExampleRenders() async throws {
        try await withServer(workers: 2) { client in
            let kinds = try await client.get("/v1/kinds").json["kinds"]?.arrayValue ?? []
            var clusteringJob = "JOB_ID"
            var plotted: [String: [String]] = [:]
            for kind in kinds {
                let name = try XCTUnwrap(kind["name"]?.stringValue)
                var example = try XCTUnwrap(kind["example"])
                if example["source_job"] == "JOB_ID", case .object(var members) = example {
                    members["source_job"] = .string(clusteringJob)
                    example = .object(members)
                }
                let submitted = try await client.post("/v1/jobs", json: JSONValue.object(["kind": .string(name), "params": example]).canonicalText())
                let id = try XCTUnwrap(try submitted.json["id"]?.stringValue)
                let final = try await client.waitUntilTerminal(id, timeout: 60)
                XCTAssertEqual(final["status"], "succeeded", name)
                if name == "cluster.kmeans" { clusteringJob = id }
                if name == "sample.inverse_cdf" || name == "sample.rejection" {
                    // The target beside the draws, normalized on the draws' range: its integral is 1 (trapezoids).
                    let target = try await client.get("/v1/jobs/\(id)/artifacts/target_density.json").json
                    let x = target["x"]?.arrayValue?.compactMap(\.doubleValue) ?? []
                    let density = target["density"]?.arrayValue?.compactMap(\.doubleValue) ?? []
                    XCTAssertEqual(x.count, density.count)
                    var mass = 0.0
                    for index in 1..<max(1, x.count) {
                        let width: Double = x[index] - x[index - 1]
                        mass += (density[index] + density[index - 1]) / 2 * width
                    }
                    XCTAssertEqual(mass, 1, accuracy: 1e-9, "\(name)")
                }
                let list = try await client.get("/v1/jobs/\(id)/plots").json
                XCTAssertEqual(list["ready"], true)
                let plots = list["plots"]?.arrayValue ?? []
                plotted[name] = plots.compactMap { $0["name"]?.stringValue }
                for plot in plots {
                    let svgURL = try XCTUnwrap(plot["svg"]?.stringValue), pngURL = try XCTUnwrap(plot["png"]?.stringValue)
                    let svg = try await client.get(svgURL)
                    XCTAssertEqual(svg.status, .ok, "\(svgURL): \(svg.text)")
                    XCTAssertEqual(svg.headers[.contentType], "image/svg+xml")
                    let size = try XCTUnwrap(svgSize(Data(svg.body.readableBytesView)), "\(name) \(svgURL)")
                    let png = try await client.get(pngURL)
                    XCTAssertEqual(png.headers[.contentType], "image/png")
                    let image = try PNGDecoder.decode(Data(png.body.readableBytesView))
                    XCTAssertEqual([image.width, image.height], [size.0, size.1], "\(pngURL) is drawn at the SVG's size")
                    let dark = stride(from: 0, to: image.rgb.count, by: 3).filter {
                        Int(image.rgb[$0]) + Int(image.rgb[$0 + 1]) + Int(image.rgb[$0 + 2]) < 400
                    }.count
                    XCTAssertGreaterThan(dark, image.width * image.height / 500, "\(pngURL) is blank")
                    // Deterministic and cached: the same bytes and ETag again; If-None-Match gets 304.
                    let again = try await client.get(svgURL)
                    XCTAssertEqual(Data(again.body.readableBytesView), Data(svg.body.readableBytesView))
                    let etag = try XCTUnwrap(svg.headers[.eTag])
                    let conditional = try await client.get(svgURL, headers: [.ifNoneMatch: etag])
                    XCTAssertEqual(conditional.status, .notModified)
                }
            }
            // What each kind shows at least (plots follow from what a job leaves; these are what users look for).
            let expected: [String: [String]] = [
                "demo.count": ["metrics"], "sample.mcmc": ["metrics", "trace", "rank", "marginals", "pair", "diagnostics"],
                "sample.gibbs": ["trace", "rank", "marginals", "diagnostics"], "sample.importance": ["trace", "marginals", "weights"],
                "sample.inverse_cdf": ["trace", "marginals"], "sample.rejection": ["trace", "marginals"],
                "cluster.kmeans": ["sizes", "confusion", "pca"], "cluster.iic": ["metrics", "sizes", "confusion", "montage"],
                "cluster.scan": ["metrics", "sizes"], "cluster.ruc": ["metrics", "sizes", "changes"],
                "semi.mixmatch": ["metrics", "sizes", "confusion"],
            ]
            for (kind, names) in expected {
                XCTAssertTrue(Set(plotted[kind] ?? []).isSuperset(of: names), "\(kind) shows \(plotted[kind] ?? []), expected \(names)")
            }
        }
    }

    func testPlotErrorsAreClearProblems() async throws {
        try await withServer(workers: 1) { client in
            let running = try await client.submitCount(#"{"steps": 200, "step_ms": 50}"#)
            try await client.waitForStatus(running, "running")
            try assertProblem(try await client.get("/v1/jobs/\(running)/plots/metrics.svg"), .conflict, code: "plot_not_ready", field: "status")
            let list = try await client.get("/v1/jobs/\(running)/plots").json
            XCTAssertEqual(list["ready"], false)
            _ = try await client.post("/v1/jobs/\(running)/cancel", json: "")
            let mcmc = try await client.post(
                "/v1/jobs",
                json:
                    #"{"kind": "sample.mcmc", "params": {"model": "parameters { real a; real b; } model { a ~ normal(0, 1); b ~ normal(a, 1); }", "chains": 2, "warmup": 100, "draws": 100, "seed": 1}}"#
            )
            let id = try XCTUnwrap(try mcmc.json["id"]?.stringValue)
            _ = try await client.waitUntilTerminal(id, timeout: 60)
            let unknown = try await client.get("/v1/jobs/\(id)/plots/montage.svg")
            try assertProblem(unknown, .notFound, code: "plot_not_found", field: "name")
            XCTAssertTrue(unknown.text.contains("trace"), "the problem lists the plots the job has: \(unknown.text)")
            try assertProblem(try await client.get("/v1/jobs/\(id)/plots/trace.gif"), .notFound, code: "plot_not_found", field: "name")
            try assertProblem(try await client.get("/v1/jobs/\(id)/plots/pair.svg?x=zzz"), .badRequest, code: "invalid_query", field: "x")
            try assertProblem(try await client.get("/v1/jobs/\(id)/plots/pair.svg?colour=red"), .badRequest, code: "unknown_query_parameter")
            let pair = try await client.get("/v1/jobs/\(id)/plots/pair.svg?x=b&y=a")
            XCTAssertEqual(pair.status, .ok)
            XCTAssertNotNil(pair.headers[.contentSecurityPolicy])
            XCTAssertTrue(pair.text.contains(">b</text>") && pair.text.contains(">a</text>"), "axes labelled by the chosen coordinates")
            try assertProblem(try await client.get("/v1/jobs/nope/plots"), .notFound, code: "job_not_found")
        }
    }

    func testJobLogTellsTheRunAndFollowStreamsToTheEnd() async throws {
        try await withServer(workers: 1) { client in
            let id = try await client.submitCount(#"{"steps": 6, "step_ms": 30}"#)
            // follow=true returns once the job has ended, with every line.
            let followed = try await client.get("/v1/jobs/\(id)/logs?follow=true")
            XCTAssertEqual(followed.status, .ok)
            XCTAssertEqual(followed.headers[.contentType], "text/plain; charset=utf-8")
            let lines = followed.text.split(separator: "\n").map(String.init)
            XCTAssertTrue(lines.first?.hasSuffix("status queued") == true, "\(lines)")
            XCTAssertTrue(lines.contains { $0.contains("INFO") && $0.contains("attempt 1 of") }, "\(lines)")
            XCTAssertTrue(lines.last?.hasSuffix("status succeeded") == true, "\(lines)")
            let plain = try await client.get("/v1/jobs/\(id)/logs").text
            XCTAssertEqual(plain, followed.text, "the same log without follow once finished")
            try assertProblem(try await client.get("/v1/jobs/\(id)/logs?follow=yes"), .badRequest, code: "invalid_query", field: "follow")
            // A failure's cause is in the log (and in SSE as a log event).
            let failing = try await client.post(
                "/v1/jobs", json: #"{"kind": "sample.mcmc", "params": {"model": "parameters { real x; } model { target += log(-1 - x * x); }"}}"#)
            let failed = try XCTUnwrap(try failing.json["id"]?.stringValue)
            _ = try await client.waitUntilTerminal(failed)
            let failedLog = try await client.get("/v1/jobs/\(failed)/logs").text
            XCTAssertTrue(failedLog.contains("ERROR   status failed: log_density: no finite log density"), failedLog)
            let events = try await client.get("/v1/jobs/\(id)/events").text
            XCTAssertTrue(events.contains("event: log\n"), events)
        }
    }
}

private func svgSize(_ data: Data) -> (Int, Int)? {
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
    guard parser.parse() else { return nil }
    return root.size
}
