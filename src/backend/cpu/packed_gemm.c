/*
 * packed_gemm.c - C = A·B (+ C) for many small products against one matrix B, with B packed
 * once: the recurrent products of an RNN step ([N, H]·[H, K H] forty times per sequence with
 * the same w_hh). BLAS repacks B on every call, which for these sizes costs about a third of
 * the multiply itself; here B is laid out once in panels of NR columns (row p of a panel is NR
 * consecutive floats), and a 6 x NR register tile of C accumulates with FMA while the panel
 * stays in L1.
 *
 * NR is two vectors: 16 with AVX2, 32 with AVX-512, chosen at run time. Without either the
 * functions fall back to cx__sgemm on the unpacked matrix (cx__packed_gemm_ok says so).
 *
 * Under CX_MATMUL_BF16 the pack holds B for AMX's tiles (bf16_gemm.c), or where there is no
 * AMX (or k is past CX_BF16_PACKED_MAX_K) B rounded to bfloat16 in the panels above, A's rows
 * then rounded in blocks on the stack. The buffer's first PACK_HEADER floats say which, so a
 * product always reads the pack as it was made.
 */
#include "cortex_impl.h"

#include <immintrin.h>
#include <pthread.h>
#include <string.h>

enum { ISA_NONE, ISA_AVX2, ISA_AVX512 };
static int isa;
static pthread_once_t isa_once = PTHREAD_ONCE_INIT;

static void pick_isa(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f"))
        isa = ISA_AVX512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        isa = ISA_AVX2;
#endif
}

static int nr(void) {
    pthread_once(&isa_once, pick_isa);
    return isa == ISA_AVX512 ? 32 : 16;
}

bool cx__packed_gemm_ok(void) {
    pthread_once(&isa_once, pick_isa);
    return isa != ISA_NONE;
}

enum { PACK_HEADER = 16 }; /* floats: keeps the panels 64-byte aligned */
enum { PACK_FLOAT32 = 1, PACK_ROUNDED, PACK_TILES };
enum { ROUNDED_ROWS = 12, ROUNDED_MAX_K = 4096 }; /* A's rounded rows on the stack: 192 KB */

size_t cx__packed_floats(int64_t k, int64_t n) {
    int64_t w = nr();
    size_t panels = (size_t)(k * ((n + w - 1) / w * w)), tiles = cx__bf16_packed_floats(k, n);
    return PACK_HEADER + (panels > tiles ? panels : tiles);
}

static void pack_panels(bool trans, int64_t k, int64_t n, const float *b, int64_t ldb,
                        float *packed) {
    int64_t w = nr(), panels = (n + w - 1) / w;
    for (int64_t q = 0; q < panels; q++) {
        int64_t j0 = q * w, cols = n - j0 < w ? n - j0 : w;
        float *panel = packed + j0 * k;
        if (cols < w) memset(panel, 0, (size_t)(k * w) * sizeof(float));
        if (trans) /* B's column j is row j0 + j of b: read along it */
            for (int64_t j = 0; j < cols; j++) {
                const float *src = b + (j0 + j) * ldb;
                for (int64_t p = 0; p < k; p++) panel[p * w + j] = src[p];
            }
        else
            for (int64_t p = 0; p < k; p++)
                memcpy(panel + p * w, b + p * ldb + j0, (size_t)cols * sizeof(float));
    }
}

void cx__pack_b(bool trans, int64_t k, int64_t n, const float *b, int64_t ldb, float *packed) {
    int32_t kind = !cx__bf16_matmul()      ? PACK_FLOAT32
                   : cx__bf16_packable(k) ? PACK_TILES
                   : k <= ROUNDED_MAX_K    ? PACK_ROUNDED
                                           : PACK_FLOAT32;
    memcpy(packed, &kind, sizeof kind);
    float *data = packed + PACK_HEADER;
    if (kind == PACK_TILES) {
        cx__bf16_pack_b(trans, k, n, b, ldb, data);
        return;
    }
    pack_panels(trans, k, n, b, ldb, data);
    if (kind == PACK_ROUNDED) {
        int64_t w = nr();
        cx__bf16_round_in_place(data, (size_t)(k * ((n + w - 1) / w * w)));
    }
}

#define MR 6 /* rows of a tile: 12 accumulators, with 2 for B and 1 for A in 16 registers */

/* The rows of a tile; past the end of A the last row is used again (and not stored). */
static inline void tile_rows(const float *a, int64_t lda, int64_t i0, int64_t m,
                             const float *r[MR]) {
    for (int i = 0; i < MR; i++)
        r[i] = a + (i0 + i < m ? i0 + i : m - 1) * lda;
}

/* Adds (accumulate) or writes cols floats of v to c. */
static inline void put_row(float *c, const float *v, int64_t cols, bool accumulate) {
    for (int64_t j = 0; j < cols; j++)
        c[j] = accumulate ? c[j] + v[j] : v[j];
}

/* One ISA's kernel: V the vector type, W its floats, LOAD/STORE/BCAST/FMA/ADD/ZERO its
 * intrinsics. The accumulators are named variables (an array indexed in the store loop
 * would be kept in memory and stored on every iteration). */
#define ROW_FMA(i, BCAST, FMA)                                                                     \
    x = BCAST(r[i] + p);                                                                           \
    c##i##a = FMA(x, b0, c##i##a);                                                                 \
    c##i##b = FMA(x, b1, c##i##b)

#define DEFINE_KERNEL(NAME, TARGET, V, W, LOAD, STORE, BCAST, FMA, ADD, ZERO)                      \
    __attribute__((target(TARGET))) static void NAME(int64_t m, int64_t n, int64_t k,              \
                                                     const float *a, int64_t lda, const float *bp, \
                                                     bool accumulate, float *c, int64_t ldc) {     \
        for (int64_t j0 = 0; j0 < n; j0 += 2 * W) {                                                \
            const float *panel = bp + j0 * k;                                                      \
            int64_t cols = n - j0 < 2 * W ? n - j0 : 2 * W;                                        \
            for (int64_t i0 = 0; i0 < m; i0 += MR) {                                               \
                const float *r[MR];                                                                \
                tile_rows(a, lda, i0, m, r);                                                       \
                V c0a = ZERO, c0b = ZERO, c1a = ZERO, c1b = ZERO, c2a = ZERO, c2b = ZERO;          \
                V c3a = ZERO, c3b = ZERO, c4a = ZERO, c4b = ZERO, c5a = ZERO, c5b = ZERO;          \
                for (int64_t p = 0; p < k; p++) {                                                  \
                    V b0 = LOAD(panel + p * 2 * W), b1 = LOAD(panel + p * 2 * W + W), x;           \
                    ROW_FMA(0, BCAST, FMA);                                                        \
                    ROW_FMA(1, BCAST, FMA);                                                        \
                    ROW_FMA(2, BCAST, FMA);                                                        \
                    ROW_FMA(3, BCAST, FMA);                                                        \
                    ROW_FMA(4, BCAST, FMA);                                                        \
                    ROW_FMA(5, BCAST, FMA);                                                        \
                }                                                                                  \
                float v[MR][2 * W];                                                                \
                STORE(v[0], c0a), STORE(v[0] + W, c0b), STORE(v[1], c1a), STORE(v[1] + W, c1b);    \
                STORE(v[2], c2a), STORE(v[2] + W, c2b), STORE(v[3], c3a), STORE(v[3] + W, c3b);    \
                STORE(v[4], c4a), STORE(v[4] + W, c4b), STORE(v[5], c5a), STORE(v[5] + W, c5b);    \
                for (int i = 0; i < MR && i0 + i < m; i++) {                                       \
                    float *ci = c + (i0 + i) * ldc + j0;                                           \
                    if (cols < 2 * W) {                                                            \
                        put_row(ci, v[i], cols, accumulate);                                       \
                        continue;                                                                  \
                    }                                                                              \
                    V lo = LOAD(v[i]), hi = LOAD(v[i] + W);                                        \
                    if (accumulate) lo = ADD(lo, LOAD(ci)), hi = ADD(hi, LOAD(ci + W));            \
                    STORE(ci, lo), STORE(ci + W, hi);                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

static inline __attribute__((target("avx512f"))) __m512 bcast512(const float *x) {
    return _mm512_set1_ps(*x);
}

DEFINE_KERNEL(kernel_avx2, "avx2,fma", __m256, 8, _mm256_loadu_ps, _mm256_storeu_ps,
              _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_add_ps, _mm256_setzero_ps())
DEFINE_KERNEL(kernel_avx512, "avx512f", __m512, 16, _mm512_loadu_ps, _mm512_storeu_ps, bcast512,
              _mm512_fmadd_ps, _mm512_add_ps, _mm512_setzero_ps())

static void panel_product(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                          const float *packed, bool accumulate, float *c, int64_t ldc) {
    if (nr() == 32)
        kernel_avx512(m, n, k, a, lda, packed, accumulate, c, ldc);
    else
        kernel_avx2(m, n, k, a, lda, packed, accumulate, c, ldc);
}

void cx__sgemm_packed(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                      const float *packed, bool accumulate, float *c, int64_t ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (int64_t i = 0; !accumulate && i < m; i++)
            memset(c + i * ldc, 0, (size_t)n * 4);
        return;
    }
    int32_t kind;
    memcpy(&kind, packed, sizeof kind);
    packed += PACK_HEADER;
    if (kind == PACK_TILES) {
        cx__bf16_packed_product(m, n, k, a, lda, packed, accumulate, c, ldc);
        return;
    }
    if (kind == PACK_ROUNDED) {
        float rows[ROUNDED_ROWS * ROUNDED_MAX_K];
        for (int64_t i = 0; i < m; i += ROUNDED_ROWS) {
            int64_t count = m - i < ROUNDED_ROWS ? m - i : ROUNDED_ROWS;
            cx__bf16_round_rows(count, k, a + i * lda, lda, rows);
            panel_product(count, n, k, rows, k, packed, accumulate, c + i * ldc, ldc);
        }
        return;
    }
    panel_product(m, n, k, a, lda, packed, accumulate, c, ldc);
}
