import COpenBLAS
import Foundation

/// The dense double-precision linear algebra the classical methods need, on OpenBLAS's BLAS and LAPACK:
/// symmetric eigendecomposition (small Rayleigh–Ritz and covariance matrices) and Cholesky factors.
/// Matrices are row-major n × n; a symmetric matrix is its own transpose, so LAPACK's column-major view of
/// it is the same matrix.
public enum LinearAlgebra {
    /// Eigenvalues ascending and eigenvectors as the columns of a row-major n × n matrix
    /// (`vectors[i * n + j]` is component i of eigenvector j); nil when LAPACK reports failure.
    public static func symmetricEigen(_ matrix: [Double], n: Int) -> (values: [Double], vectors: [Double])? {
        precondition(matrix.count == n * n, "an n × n matrix")
        guard n > 0 else { return ([], []) }
        var a = matrix
        var values = [Double](repeating: 0, count: n)
        var size = Int32(n), info: Int32 = 0
        var workQuery = 0.0, iworkQuery: Int32 = 0
        var query: Int32 = -1
        "V".withCString { jobz in
            "U".withCString { uplo in
                dsyevd_(jobz, uplo, &size, &a, &size, &values, &workQuery, &query, &iworkQuery, &query, &info)
            }
        }
        // The workspace LAPACK asks for, checked before it becomes an Int32 (a NaN or huge value would trap).
        guard info == 0, workQuery.isFinite, workQuery >= 1, workQuery < Double(Int32.max), iworkQuery >= 1 else { return nil }
        var lwork = Int32(workQuery), liwork = iworkQuery
        var work = [Double](repeating: 0, count: Int(lwork)), iwork = [Int32](repeating: 0, count: Int(liwork))
        "V".withCString { jobz in
            "U".withCString { uplo in
                dsyevd_(jobz, uplo, &size, &a, &size, &values, &work, &lwork, &iwork, &liwork, &info)
            }
        }
        guard info == 0 else { return nil }
        // LAPACK wrote eigenvectors as columns of a column-major matrix: row-major, they are its rows.
        var vectors = [Double](repeating: 0, count: n * n)
        for j in 0..<n { for i in 0..<n { vectors[i * n + j] = a[j * n + i] } }
        return (values, vectors)
    }

    /// The lower Cholesky factor L (row-major, zeros above the diagonal) with L Lᵀ = matrix; nil when the
    /// matrix is not positive definite.
    public static func cholesky(_ matrix: [Double], n: Int) -> [Double]? {
        precondition(matrix.count == n * n, "an n × n matrix")
        // Row-major lower is column-major upper.
        var a = matrix
        var size = Int32(n), info: Int32 = 0
        "U".withCString { uplo in dpotrf_(uplo, &size, &a, &size, &info) }
        guard info == 0 else { return nil }
        for i in 0..<n { for j in (i + 1)..<max(i + 1, n) { a[i * n + j] = 0 } }
        return a
    }

    /// C = alpha · op(A) · op(B) + beta · C, row-major doubles.
    static func gemm(
        _ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ c: UnsafeMutablePointer<Double>, m: Int, n: Int, k: Int,
        transposeA: Bool = false, transposeB: Bool = false, alpha: Double = 1, beta: Double = 0
    ) {
        gemm(
            a, lda: transposeA ? m : k, b, ldb: transposeB ? k : n, c, ldc: n, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB,
            alpha: alpha, beta: beta)
    }

    /// The same on submatrices: each operand's rows are `ld…` elements apart.
    static func gemm(
        _ a: UnsafePointer<Double>, lda: Int, _ b: UnsafePointer<Double>, ldb: Int, _ c: UnsafeMutablePointer<Double>, ldc: Int, m: Int, n: Int,
        k: Int, transposeA: Bool = false, transposeB: Bool = false, alpha: Double = 1, beta: Double = 0
    ) {
        cblas_dgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), alpha,
            a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Z ← Z R⁻¹ with Rᵀ R = Zᵀ Z (the Q of Z's QR factorization, by BLAS-3 products), for Z of `rows` ×
    /// `columns`; false (Z untouched) when Zᵀ Z is not safely positive definite.
    static func choleskyOrthonormalize(_ z: inout [Double], rows n: Int, columns b: Int) -> Bool {
        var gram = [Double](repeating: 0, count: b * b)
        z.withUnsafeBufferPointer { p in
            gram.withUnsafeMutableBufferPointer { g in gemm(p.baseAddress!, p.baseAddress!, g.baseAddress!, m: b, n: b, k: n, transposeA: true) }
        }
        let largest = (0..<b).map { gram[$0 * b + $0] }.max() ?? 0
        guard largest > 0, let lower = cholesky(gram, n: b) else { return false }
        // A pivot this small means a nearly dependent column, whose direction Cholesky QR gets wrong.
        for i in 0..<b where !(lower[i * b + i] * lower[i * b + i] > 1e-10 * largest) { return false }
        lower.withUnsafeBufferPointer { l in
            z.withUnsafeMutableBufferPointer { p in
                cblas_dtrsm(
                    CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, Int32(n), Int32(b), 1, l.baseAddress!, Int32(b), p.baseAddress!,
                    Int32(b))
            }
        }
        return true
    }
}
