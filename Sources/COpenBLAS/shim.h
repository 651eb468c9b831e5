#ifndef COPENBLAS_SHIM_H
#define COPENBLAS_SHIM_H
// OpenBLAS's CBLAS interface (Debian: libopenblas-dev; pkg-config "openblas" gives the include
// folder). Declares cblas_sgemm, cblas_sgemv, openblas_set_num_threads, openblas_get_corename
// and openblas_get_config.
#include <cblas.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

/// The widest vector extension the CPU reports (CPUID leaf 7): 2 for AVX-512F, 1 for AVX2,
/// 0 for neither or on other architectures. Used to tell when OpenBLAS, which picks its kernels
/// from a table of CPU models, has fallen back to generic kernels on a CPU it does not know.
static inline int copenblas_vector_level(void) {
#if defined(__x86_64__) || defined(__i386__)
  unsigned int eax, ebx, ecx, edx;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
  if (ebx & (1u << 16)) return 2;
  if (ebx & (1u << 5)) return 1;
#endif
  return 0;
}
#endif
