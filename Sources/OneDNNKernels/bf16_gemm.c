/* bf16 GEMM through oneDNN's matmul primitive (see include/ntng_onednn.h).
 *
 * Each call rounds its operands into per-thread bfloat16 scratch, keeping their layout (a
 * transposed operand is described by its strides), and runs a matmul primitive for its exact
 * shape, created once and kept in a small cache (several threads may execute one primitive at once,
 * each with its own operands and its own scratchpad). Alpha is the primitive's output scale, beta = 1 a
 * sum post-op. */
#include "ntng_onednn.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

extern void omp_set_num_threads(int num_threads);

typedef struct key {
  int64_t m, n, k, lda, ldb, ldc; /* lda, ldb: of the bfloat16 operands */
  int ta, tb, accumulate;
  float alpha;
} key;

typedef struct entry {
  key key;
  dnnl_primitive_t primitive;
} entry;

#define CACHE_SIZE 256
static entry cache[CACHE_SIZE];
static int cached = 0;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t engine = NULL;

static _Thread_local uint16_t *scratch_a = NULL, *scratch_b = NULL;
static _Thread_local int64_t capacity_a = 0, capacity_b = 0;
/* The primitive's own scratchpad, per thread: with oneDNN's OpenMP runtime the library-managed
 * scratchpad is one global buffer, so two threads running matmuls at once would overwrite each
 * other's partial sums (measured: `small` bf16 losses differed run to run at 2 threads). */
static _Thread_local void *scratchpad = NULL;
static _Thread_local size_t scratchpad_capacity = 0;
static _Thread_local dnnl_stream_t stream = NULL;

/* Nearest-even rounding to bfloat16, branch-free so the conversion loops vectorise. */
static inline uint16_t to_bf16(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const uint32_t quiet = (u >> 16) | 0x40u; /* a NaN stays a NaN */
  return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? quiet : rounded);
}

void ntng_round_to_bf16(const float *x, float *out, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    uint32_t u = (uint32_t)to_bf16(x[i]) << 16;
    memcpy(out + i, &u, 4);
  }
}

/* One row: compiled for AVX-512, AVX2 and baseline x86-64, picked at load time by the CPU, so the
 * conversion runs at memory speed on every machine of the kind. */
#if defined(__x86_64__)
__attribute__((target_clones("avx512bw", "avx2", "default")))
#endif
static void convert_row(const float *restrict row, uint16_t *restrict out, int64_t n) {
  for (int64_t j = 0; j < n; j++) out[j] = to_bf16(row[j]);
}

/* Rounds rows × cols (leading dimension ld) into compact scratch with the same orientation. */
static uint16_t *convert(const float *x, int64_t rows, int64_t cols, int64_t ld, uint16_t **buffer, int64_t *capacity) {
  const int64_t need = rows * cols;
  if (need > *capacity) {
    free(*buffer);
    *buffer = (uint16_t *)malloc((size_t)need * sizeof(uint16_t));
    *capacity = *buffer ? need : 0;
    if (!*buffer) return NULL;
  }
  uint16_t *out = *buffer;
  for (int64_t r = 0; r < rows; r++) convert_row(x + r * ld, out + r * cols, cols);
  return out;
}

static int same(const key *a, const key *b) {
  return a->m == b->m && a->n == b->n && a->k == b->k && a->lda == b->lda && a->ldb == b->ldb && a->ldc == b->ldc &&
         a->ta == b->ta && a->tb == b->tb && a->accumulate == b->accumulate && a->alpha == b->alpha;
}

static dnnl_status_t make(const key *kk, dnnl_primitive_t *out) {
  dnnl_status_t st;
  dnnl_memory_desc_t a_md, b_md, c_md;
  /* op(A) is m × k: stored as m × k (row stride lda), or as k × m when transposed. */
  dnnl_dims_t a_dims = {kk->m, kk->k}, a_strides = {kk->ta ? 1 : kk->lda, kk->ta ? kk->lda : 1};
  dnnl_dims_t b_dims = {kk->k, kk->n}, b_strides = {kk->tb ? 1 : kk->ldb, kk->tb ? kk->ldb : 1};
  dnnl_dims_t c_dims = {kk->m, kk->n}, c_strides = {kk->ldc, 1};
  if ((st = dnnl_memory_desc_init_by_strides(&a_md, 2, a_dims, dnnl_bf16, a_strides)) != dnnl_success) return st;
  if ((st = dnnl_memory_desc_init_by_strides(&b_md, 2, b_dims, dnnl_bf16, b_strides)) != dnnl_success) return st;
  if ((st = dnnl_memory_desc_init_by_strides(&c_md, 2, c_dims, dnnl_f32, c_strides)) != dnnl_success) return st;
  dnnl_matmul_desc_t desc;
  if ((st = dnnl_matmul_desc_init(&desc, &a_md, &b_md, NULL, &c_md)) != dnnl_success) return st;
  dnnl_primitive_attr_t attr;
  if ((st = dnnl_primitive_attr_create(&attr)) != dnnl_success) return st;
  if ((st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)) != dnnl_success) {
    dnnl_primitive_attr_destroy(attr);
    return st;
  }
  if (kk->alpha != 1.0f) dnnl_primitive_attr_set_output_scales(attr, 1, 0, &kk->alpha);
  if (kk->accumulate) {
    dnnl_post_ops_t ops;
    dnnl_post_ops_create(&ops);
    dnnl_post_ops_append_sum(ops, 1.0f);
    dnnl_primitive_attr_set_post_ops(attr, ops);
    dnnl_post_ops_destroy(ops);
  }
  dnnl_primitive_desc_t pd;
  st = dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL);
  dnnl_primitive_attr_destroy(attr);
  if (st != dnnl_success) return st;
  st = dnnl_primitive_create(out, pd);
  dnnl_primitive_desc_destroy(pd);
  return st;
}

static dnnl_status_t primitive_for(const key *kk, dnnl_primitive_t *out) {
  pthread_mutex_lock(&lock);
  dnnl_status_t st = dnnl_success;
  if (!engine) st = dnnl_engine_create(&engine, dnnl_cpu, 0);
  for (int i = 0; st == dnnl_success && i < cached; i++) {
    if (same(&cache[i].key, kk)) {
      *out = cache[i].primitive;
      pthread_mutex_unlock(&lock);
      return dnnl_success;
    }
  }
  if (st == dnnl_success) st = make(kk, out);
  if (st == dnnl_success) {
    if (cached == CACHE_SIZE) { /* a full cache starts over; old primitives stay valid for running calls */
      cached = 0;
    }
    cache[cached].key = *kk;
    cache[cached].primitive = *out;
    cached++;
  }
  pthread_mutex_unlock(&lock);
  return st;
}

/* Runs the cached primitive for this shape on bfloat16 operands. */
static int run(int transpose_a, int transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const uint16_t *a16,
               int64_t lda16, const uint16_t *b16, int64_t ldb16, float beta, float *c, int64_t ldc) {
  omp_set_num_threads(1);
  key kk = {m, n, k, lda16, ldb16, ldc, transpose_a, transpose_b, beta != 0.0f, alpha};
  dnnl_primitive_t primitive;
  dnnl_status_t st = primitive_for(&kk, &primitive);
  if (st != dnnl_success) return (int)st;
  if (!stream && (st = dnnl_stream_create(&stream, engine, dnnl_stream_default_flags)) != dnnl_success) return (int)st;
  dnnl_memory_desc_t a_md, b_md, c_md;
  const_dnnl_primitive_desc_t pd;
  dnnl_primitive_get_primitive_desc(primitive, &pd);
  a_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
  b_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  c_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
  const dnnl_memory_desc_t *pad_md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  const size_t pad_size = pad_md ? dnnl_memory_desc_get_size(pad_md) : 0;
  if (pad_size > scratchpad_capacity) {
    free(scratchpad);
    scratchpad = malloc(pad_size);
    scratchpad_capacity = scratchpad ? pad_size : 0;
    if (!scratchpad) return (int)dnnl_out_of_memory;
  }
  dnnl_memory_t am, bm, cm, pm = NULL;
  if ((st = dnnl_memory_create(&am, &a_md, engine, (void *)a16)) != dnnl_success) return (int)st;
  if ((st = dnnl_memory_create(&bm, &b_md, engine, (void *)b16)) != dnnl_success) { dnnl_memory_destroy(am); return (int)st; }
  if ((st = dnnl_memory_create(&cm, &c_md, engine, c)) != dnnl_success) { dnnl_memory_destroy(am); dnnl_memory_destroy(bm); return (int)st; }
  if (pad_size > 0 && (st = dnnl_memory_create(&pm, pad_md, engine, scratchpad)) != dnnl_success) {
    dnnl_memory_destroy(am); dnnl_memory_destroy(bm); dnnl_memory_destroy(cm);
    return (int)st;
  }
  dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}, {DNNL_ARG_SCRATCHPAD, pm}};
  st = dnnl_primitive_execute(primitive, stream, pm ? 4 : 3, args);
  if (st == dnnl_success) st = dnnl_stream_wait(stream);
  dnnl_memory_destroy(am);
  dnnl_memory_destroy(bm);
  dnnl_memory_destroy(cm);
  if (pm) dnnl_memory_destroy(pm);
  return (int)st;
}

int ntng_bf16_gemm(int transpose_a, int transpose_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  /* Stored shapes: A is m × k (or k × m), B is k × n (or n × k); the rounded copies are compact. */
  uint16_t *a16 = transpose_a ? convert(a, k, m, lda, &scratch_a, &capacity_a) : convert(a, m, k, lda, &scratch_a, &capacity_a);
  uint16_t *b16 = transpose_b ? convert(b, n, k, ldb, &scratch_b, &capacity_b) : convert(b, k, n, ldb, &scratch_b, &capacity_b);
  if (!a16 || !b16) return (int)dnnl_out_of_memory;
  return run(transpose_a, transpose_b, m, n, k, alpha, a16, transpose_a ? m : k, b16, transpose_b ? k : n, beta, c, ldc);
}

int ntng_bf16_gemm_rounded(int transpose_a, int transpose_b, int64_t m, int64_t n, int64_t k, float alpha,
                           const uint16_t *a, int64_t lda, const uint16_t *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  return run(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void ntng_bf16_round_rows(const float *x, int64_t rows, int64_t cols, int64_t ld, uint16_t *out) {
  for (int64_t r = 0; r < rows; r++) convert_row(x + r * ld, out + r * cols, cols);
}

int ntng_bf16_native(void) {
  const unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
  return (isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) == (unsigned)dnnl_cpu_isa_avx512_core_bf16;
}

int ntng_onednn_avx512(void) {
  const unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
  return (isa & (unsigned)dnnl_cpu_isa_avx512_core) == (unsigned)dnnl_cpu_isa_avx512_core;
}
