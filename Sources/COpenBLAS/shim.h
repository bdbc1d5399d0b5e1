// Debian's libopenblas-dev installs cblas.h (with the openblas_* extensions) on the default include path.
#include <cblas.h>

// LAPACK routines OpenBLAS exports (Fortran calling convention: every argument by pointer). Declared
// here because Debian ships lapacke.h in a separate package; only these are used.
// Symmetric eigenvalues and eigenvectors (divide and conquer).
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w, double *work,
             const int *lwork, int *iwork, const int *liwork, int *info);
// Cholesky factorization of a symmetric positive definite matrix.
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
