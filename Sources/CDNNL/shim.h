// oneDNN (Debian libdnnl-dev, built with the OpenMP runtime). ntng calls dnnl_sgemm from its own
// compute threads, one call per thread block, each with its OpenMP team size set to 1, so oneDNN
// never starts a second pool spinning next to ntng's.
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_version.h>
// From libgomp (oneDNN's runtime); declared here so no compiler-private omp.h is needed.
extern void omp_set_num_threads(int num_threads);
