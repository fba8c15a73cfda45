/* bf16 matrix products through oneDNN's matmul primitive, for ntng's bf16 precision: float32
 * operands are rounded to bfloat16 (nearest even), multiplied with float32 accumulation and a
 * float32 result, as PyTorch's CPU autocast does for linear layers. Row-major, BLAS-style. */
#ifndef NTNG_ONEDNN_H
#define NTNG_ONEDNN_H
#include <stdint.h>

/* C = alpha * op(A) * op(B) + beta * C, beta 0 or 1. Returns 0, or a oneDNN status on failure.
 * Called from ntng's compute threads, each with an OpenMP team of one. */
int ntng_bf16_gemm(int transpose_a, int transpose_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* The same product on operands already rounded to bfloat16 (bit patterns), with their own leading
 * dimensions: a large product rounds each operand once and runs its blocks on slices of it. */
int ntng_bf16_gemm_rounded(int transpose_a, int transpose_b, int64_t m, int64_t n, int64_t k, float alpha,
                           const uint16_t *a, int64_t lda, const uint16_t *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* Rounds rows × cols floats (leading dimension ld) to bfloat16, compactly (leading dimension cols). */
void ntng_bf16_round_rows(const float *x, int64_t rows, int64_t cols, int64_t ld, uint16_t *out);

/* 1 if this CPU has native bf16 dot products (AVX512-BF16 or AMX), as oneDNN detects it. */
int ntng_bf16_native(void);

/* 1 if oneDNN runs its AVX-512 kernels on this CPU (where its fp32 GEMM measured about twice
 * OpenBLAS's Haswell kernels). */
int ntng_onednn_avx512(void);

/* Rounds n floats to bfloat16 and back (nearest even): the values a bf16 GEMM multiplies. */
void ntng_round_to_bf16(const float *x, float *out, int64_t n);
#endif
