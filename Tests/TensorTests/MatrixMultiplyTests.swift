import XCTest
@testable import Tensor

final class MatrixMultiplyTests: XCTestCase {
    func naive(_ a: Tensor, _ b: Tensor) -> Tensor {
        var c = Tensor(zeros: [a.shape[0], b.shape[1]])
        for i in 0..<a.shape[0] {
            for j in 0..<b.shape[1] {
                var sum: Double = 0
                for p in 0..<a.shape[1] { sum += Double(a[i, p]) * Double(b[p, j]) }
                c[i, j] = Float(sum)
            }
        }
        return c
    }

    func random(_ rows: Int, _ columns: Int, seed: UInt64) -> Tensor {
        var state = seed
        let values = (0..<(rows * columns)).map { _ -> Float in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Double(state >> 40) / Double(1 << 24)) - 0.5
        }
        return Tensor(shape: [rows, columns], storage: values)
    }

    func assertClose(_ x: Tensor, _ y: Tensor, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(x.shape, y.shape, file: file, line: line)
        // Float32 sums of k products of magnitude ≤ 0.25: error ≲ k · 2^−24 · 0.25.
        let tolerance: Float = 1e-5
        for (u, v) in zip(x.storage, y.storage) { XCTAssertEqual(u, v, accuracy: tolerance, file: file, line: line) }
    }

    func testProductsAgreeWithTheNaiveOnes() {
        for (m, k, n) in [(1, 1, 1), (3, 5, 7), (64, 33, 17), (128, 128, 128)] {
            let a = random(m, k, seed: 1)
            let b = random(k, n, seed: 2)
            assertClose(MatrixMultiply.multiply(a, b), naive(a, b))
        }
    }

    func testTransposedOperands() {
        let a = random(6, 4, seed: 3)
        let b = random(6, 5, seed: 4)
        let at = Tensor(shape: [4, 6], storage: (0..<24).map { a[$0 % 6, $0 / 6] })
        assertClose(MatrixMultiply.multiply(a, b, transposeA: true), naive(at, b))
        let c = random(5, 4, seed: 5)
        let ct = Tensor(shape: [4, 5], storage: (0..<20).map { c[$0 % 5, $0 / 5] })
        assertClose(MatrixMultiply.multiply(a, c, transposeB: true), naive(a, ct))
    }

    func testPreferredCoreFromFlags() {
        XCTAssertEqual(BLASRuntime.preferredCore(flags: ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd", "avx2", "fma"]), "SkylakeX")
        XCTAssertEqual(BLASRuntime.preferredCore(flags: ["avx2", "fma"]), "Haswell")
        XCTAssertNil(BLASRuntime.preferredCore(flags: ["sse2"]))
        XCTAssertFalse(BLASRuntime.coreName.isEmpty)
    }
}
