import Foundation
import Tensor

// SGEMM GFLOP/s at n³ for n in 256, 512, 1024 with 1 and 2 threads; one JSON object per line.
BLASRuntime.ensureFastKernels()
let repeats = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 5 : 5

func emit(_ object: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))

}

emit(["bench": "core", "core": BLASRuntime.coreName])
for threads in [1, 2] {
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
