#ifndef COPENBLAS_SHIM_H
#define COPENBLAS_SHIM_H
// OpenBLAS's CBLAS interface (Debian: libopenblas-dev; pkg-config "openblas" gives the include
// folder). Declares cblas_sgemm, cblas_sgemv and openblas_set_num_threads.
#include <cblas.h>
#endif
