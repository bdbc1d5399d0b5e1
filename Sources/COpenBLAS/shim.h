// Debian's libopenblas-dev installs cblas.h (with the openblas_* extensions) on the default include path.
#include <cblas.h>
