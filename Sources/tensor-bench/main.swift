import Foundation
import Sampling
import Tensor

// SGEMM GFLOP/s at n³ for n in 256, 512, 1024 with 1 and 2 threads; one JSON object per line.
BLASRuntime.ensureFastKernels()
TensorRuntime.keepFreedBuffers()
let repeats = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 5 : 5

func emit(_ object: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))

}

emit(["bench": "core", "core": BLASRuntime.coreName])
for threads in (CommandLine.arguments.contains("--threads") ? [] : [1, 2]) {
    BLASRuntime.setThreads(threads)
    for n in [256, 512, 1024] {
        let a = [Float](repeating: 0.5, count: n * n).enumerated().map { Float($0.offset % 7) * 0.1 - 0.3 }
        let b = a.reversed().map { $0 }
        var c = [Float](repeating: 0, count: n * n)
        let flops = 2 * Double(n) * Double(n) * Double(n)
        let inner = max(1, Int(0.2e9 * 40 / flops))
        var rates: [Double] = []
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        for _ in 0..<inner {
                            MatrixMultiply.gemm(pa.baseAddress!, pb.baseAddress!, pc.baseAddress!, m: n, n: n, k: n)
                        }
                    }
                }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            rates.append(flops * Double(inner) / seconds / 1e9)
        }
        emit(["bench": "sgemm", "n": n, "threads": threads, "gflops": rates.sorted()[rates.count / 2], "checksum": Double(c[n + 1])])
    }
}

// Training step (forward + backward + Adam) and inference throughput, images per second, one thread.
func peakResidentMB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

let threadSweep = CommandLine.arguments.contains("--threads")
let sweep: [(threads: Int, nets: [(String, Int)], batches: [Int])] =
    threadSweep
    ? [(1, [("digits", 8), ("mnist", 28)], [128]), (2, [("digits", 8), ("mnist", 28)], [128])]
    : [(1, [("digits", 8), ("mnist", 28)], [128, 256])]
for (threads, nets, batches) in sweep {
    BLASRuntime.setThreads(threads)
    for (name, size) in nets {
        for batch in batches {
            var rng = RandomStream(seed: 1)
            let model = name == "digits" ? Backbones.digitsNet(rng: &rng) : Backbones.mnistNet(rng: &rng)
            let optimizer = Adam(model.parameters.map(\.variable), learningRate: 1e-3)
            let images = Tensor(shape: [batch, 1, size, size], storage: (0..<(batch * size * size)).map { _ in Float(rng.uniform()) })
            let labels = (0..<batch).map { _ in Int(rng.next() % 10) }
            func trainStep() {
                let loss = Ops.crossEntropy(model.forward(Variable(images), training: true), labels: labels)
                optimizer.zeroGradients(model.parameters.map(\.variable))
                loss.backward()
                optimizer.step()
            }
            trainStep()
            var rates: [Double] = []
            let steps = name == "digits" ? 10 : 3
            for _ in 0..<repeats {
                let start = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<steps { trainStep() }
                rates.append(Double(batch * steps) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
            }
            var inference: [Double] = []
            for _ in 0..<repeats {
                let start = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<steps { _ = GradientMode.withoutGradients { model.forward(Variable(images), training: false) } }
                inference.append(Double(batch * steps) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
            }
            emit([
                "bench": threadSweep ? "threads" : "train", "net": name, "batch": batch, "threads": threads,
                "train_images_per_second": rates.sorted()[rates.count / 2],
                "inference_images_per_second": inference.sorted()[inference.count / 2], "peak_rss_mb": peakResidentMB(),
            ])
        }
    }
}
