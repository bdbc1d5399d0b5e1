import Foundation
import XCTest
import Jobs
@testable import SamplerKinds
@testable import Sampling

/// A sampler job that resumes from a checkpoint ends with exactly the draws of an uninterrupted run.
final class ResumeTests: XCTestCase {
    func makeStore() throws -> (SQLiteJobStore, URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("montecluster-resume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return (try SQLiteJobStore(path: directory.appendingPathComponent("jobs.sqlite").path, cachingReads: true), directory)
    }

    func waitTerminal(_ store: SQLiteJobStore, _ id: String) throws -> Job {
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            if let job = try store.job(id: id), job.isTerminal { return job }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw JobFailure("timed out")
    }

    func testMCMCResumesFromItsCheckpointExactly() async throws {
        let (store, directory) = try makeStore()
        defer { try? FileManager.default.removeItem(at: directory) }
        let kind = MCMCKind()
        let params = try kind.normalize([
            "log_density": "normal_lpdf(x, 1, 2) + gamma_lpdf(s, 3, 1)", "parameters": [["name": "x"], ["name": "s", "lower": 0]],
            "method": "rwm", "chains": 2, "warmup": 300, "draws": 500, "seed": 42,
        ])
        let straight = try store.submit(JobSubmission(kind: kind.name, params: params), maxQueued: 10, now: Date()).job
        let resumed = try store.submit(JobSubmission(kind: kind.name, params: params, fingerprint: "second"), maxQueued: 10, now: Date()).job

        // Let the second job "crash" at iteration 450 with a checkpoint, as a killed worker leaves it.
        _ = try store.claim(workerID: "straight-holder", leaseDuration: 60, now: Date())
        _ = try store.claim(workerID: "crashed", leaseDuration: 60, now: Date())
        let model = try Model(
            logDensity: "normal_lpdf(x, 1, 2) + gamma_lpdf(s, 3, 1)",
            parameters: [ParameterSpec(name: "x"), ParameterSpec(name: "s", lower: 0)])
        let sampler = MarkovChainSampler(model: model, settings: MCMCSettings(method: .randomWalk, chains: 2, warmup: 300, draws: 500, seed: 42))
        var states = try sampler.initialStates()
        sampler.advance(&states, to: 450)
        try store.saveCheckpoint(
            jobID: resumed.id, workerID: "crashed", step: 450, data: JSONEncoder().encode(states),
            metrics: [], keep: 2, now: Date())

        // A fresh pool recovers both (start-up rescue), runs one from zero and the other from 450.
        let pool = WorkerPool(
            store: store, registry: JobKindRegistry([kind]),
            configuration: .init(workers: 2, leaseDuration: 10, heartbeatInterval: 1, rescueInterval: 5, idlePoll: 0.05))
        try pool.start()
        let first = try waitTerminal(store, straight.id)
        let second = try waitTerminal(store, resumed.id)
        await pool.shutdown()
        XCTAssertEqual(first.status, .succeeded, first.reason ?? "")
        XCTAssertEqual(second.status, .succeeded, second.reason ?? "")
        let progress = try store.metrics(jobID: resumed.id, name: "acceptance_rate", sinceStep: nil, limit: 100).map(\.step)
        XCTAssertTrue(progress.allSatisfy { $0 > 450 }, "the resumed run recorded only segments after its checkpoint: \(progress)")
        let straightDraws = try XCTUnwrap(try store.artifact(jobID: straight.id, name: "draws.npy"))
        let resumedDraws = try XCTUnwrap(try store.artifact(jobID: resumed.id, name: "draws.npy"))
        XCTAssertEqual(straightDraws.data, resumedDraws.data)
        XCTAssertEqual(first.resultJSON, second.resultJSON)
    }

    func testNPYHeaderIsWhatNumpyReads() {
        let data = DrawArtifacts.npy([1, 2, 3, 4, 5, 6], shape: [1, 3, 2])
        XCTAssertEqual(Array(data.prefix(8)), [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        let headerLength = Int(data[8]) | Int(data[9]) << 8
        XCTAssertEqual((10 + headerLength) % 64, 0, "header padded to 64 bytes")
        let header = String(decoding: data[10..<(10 + headerLength)], as: UTF8.self)
        XCTAssertTrue(header.hasPrefix("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 3, 2), }"))
        XCTAssertEqual(data.count, 10 + headerLength + 48)
    }
}

final class DiscreteInversionTests: XCTestCase {
    func testTableAgreesWithTheDistributionsQuantile() throws {
        let distributions: [any DiscreteDistribution] = [
            try Poisson(lambda: 250), try Binomial(n: 1000, p: 0.02),
            try NegativeBinomial(r: 2.5, p: 0.4), try Geometric(p: 0.2),
        ]
        for distribution in distributions {
            let table = DiscreteInversionTable(distribution)
            for p in stride(from: 0.0005, to: 1, by: 0.0123) {
                XCTAssertEqual(table.quantile(p), distribution.quantile(p), "\(distribution) at \(p)")
            }
        }
    }
}
