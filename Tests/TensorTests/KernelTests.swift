import RandomStreams
import XCTest
@testable import Tensor

/// The SIMD kernels against plain scalar loops, for lengths around the vector width (tails included).
final class KernelTests: XCTestCase {
    func testKernelsMatchScalarLoops() {
        var rng = RandomStream(seed: 5)
        for n in [0, 1, 7, 8, 9, 16, 23, 64, 100] {
            let x = (0..<n).map { _ in Float(rng.uniform() * 4 - 2) }
            let y = (0..<n).map { _ in Float(rng.uniform() * 4 - 2) }
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeBufferPointer { yp in
                    let (p, q) = (xp.baseAddress ?? UnsafePointer(bitPattern: 8)!, yp.baseAddress ?? UnsafePointer(bitPattern: 8)!)
                    XCTAssertEqual(Kernels.sum(p, n), x.reduce(0, +), accuracy: 1e-4)
                    let (s, s2) = Kernels.sumAndSquares(p, n)
                    XCTAssertEqual(s, x.reduce(0, +), accuracy: 1e-4)
                    XCTAssertEqual(s2, x.map { $0 * $0 }.reduce(0, +), accuracy: 1e-3)
                    let (t, dot) = Kernels.sumAndDot(p, q, n)
                    XCTAssertEqual(t, x.reduce(0, +), accuracy: 1e-4)
                    XCTAssertEqual(dot, zip(x, y).map(*).reduce(0, +), accuracy: 1e-3)
                }
            }
            var sum = y, copy = [Float](repeating: 9, count: n), affine = copy, relu = copy, masked = x, combined = y
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeBufferPointer { yp in
                    guard n > 0 else { return }
                    Kernels.add(xp.baseAddress!, into: &sum, n)
                    Kernels.copy(xp.baseAddress!, to: &copy, adding: 0.5, n)
                    Kernels.affine(xp.baseAddress!, to: &affine, scale: 1.5, shift: -0.25, relu: false, n)
                    Kernels.affine(xp.baseAddress!, to: &relu, scale: 1.5, shift: -0.25, relu: true, n)
                    Kernels.maskNonPositive(&masked, where: yp.baseAddress!, n)
                    Kernels.combine(&combined, a: 2, xp.baseAddress!, b: -3, c: 0.125, n)
                }
            }
            for i in 0..<n {
                XCTAssertEqual(sum[i], y[i] + x[i])
                XCTAssertEqual(copy[i], x[i] + 0.5)
                XCTAssertEqual(affine[i], x[i] * 1.5 - 0.25, accuracy: 1e-6)
                XCTAssertEqual(relu[i], max(0, x[i] * 1.5 - 0.25), accuracy: 1e-6)
                XCTAssertEqual(masked[i], y[i] > 0 ? x[i] : 0)
                XCTAssertEqual(combined[i], 2 * y[i] - 3 * x[i] + 0.125, accuracy: 1e-5)
            }
        }
    }
}
