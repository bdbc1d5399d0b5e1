import COpenBLAS

/// Matrix products on OpenBLAS's SGEMM.
public enum MatrixMultiply {
    /// C = α · op(A) · op(B) + β · C for row-major buffers, op = transpose when asked.
    /// A is m×k (k×m transposed), B is k×n (n×k transposed), C is m×n.
    @inlinable
    public static func gemm(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false,
        alpha: Float = 1, beta: Float = 0
    ) {
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(transposeA ? m : k), b, Int32(transposeB ? k : n),
            beta, c, Int32(n))
    }

    /// The product of two 2-D tensors.
    public static func multiply(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        precondition(a.rank == 2 && b.rank == 2, "matrix products take 2-D tensors")
        let m = transposeA ? a.shape[1] : a.shape[0]
        let k = transposeA ? a.shape[0] : a.shape[1]
        let kb = transposeB ? b.shape[1] : b.shape[0]
        let n = transposeB ? b.shape[0] : b.shape[1]
        precondition(k == kb, "inner dimensions differ: \(k) and \(kb)")
        var result = Tensor(zeros: [m, n])
        a.storage.withUnsafeBufferPointer { pa in
            b.storage.withUnsafeBufferPointer { pb in
                result.storage.withUnsafeMutableBufferPointer { pc in
                    gemm(
                        pa.baseAddress!, pb.baseAddress!, pc.baseAddress!, m: m, n: n, k: k,
                        transposeA: transposeA, transposeB: transposeB)
                }
            }
        }
        return result
    }
}
