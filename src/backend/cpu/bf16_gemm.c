/*
 * bf16_gemm.c - float32 matrix products with bfloat16 factors, for cx_set_matmul_precision
 * (CX_MATMUL_BF16): both factors are rounded to bfloat16 (round to nearest even, NaN kept),
 * the products summed in float32.
 *
 * With Intel AMX the factors are packed into tiles: A row-major [Mp, Kp] (rows of 32
 * bfloat16), B in the pair-interleaved layout TDPBF16PS reads (row r of a tile holds, for 16
 * columns, the values at k = 2r and 2r + 1 side by side), Mp, Np rounded up to 32 and Kp to
 * 32, the padding zero. One block of C is 2 x 2 tiles of 16 x 16 floats (tiles 0-3), fed by
 * two A tiles (4, 5) and two B tiles (6, 7). Without AMX the rounded factors go to sgemm, so
 * the numbers agree with the AMX ones up to the order of the sums.
 *
 * Packing buffers are per thread and from malloc: a product cannot fail, so where one cannot
 * be had the product runs in float32 instead.
 */
#include "cortex_impl.h"

#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

static _Atomic int precision = CX_MATMUL_FLOAT32;

__attribute__((constructor)) static void precision_from_env(void) {
    const char *env = getenv("CX_MATMUL");
    if (env && strcmp(env, "bf16") == 0) precision = CX_MATMUL_BF16;
}

void cx_set_matmul_precision(cx_matmul_precision p) {
    precision = p == CX_MATMUL_BF16 ? CX_MATMUL_BF16 : CX_MATMUL_FLOAT32;
}

cx_matmul_precision cx_get_matmul_precision(void) { return (cx_matmul_precision)precision; }

bool cx__bf16_matmul(void) { return precision == CX_MATMUL_BF16; }

/* ---------------------------------------------------------------------------------------- */
/* AMX: the CPU feature, and the kernel's permission to use the tile registers               */

static bool amx;
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;

static void amx_probe(void) {
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__)
    enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    unsigned a, b, c, d;
    __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    bool amx_bf16 = d & (1u << 22), amx_tile = d & (1u << 24);
    if (getenv("CX_AMX") && strcmp(getenv("CX_AMX"), "off") == 0) return;
    if (!amx_bf16 || !amx_tile || !__builtin_cpu_supports("avx512bw")) return;
    amx = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#endif
}

bool cx__amx_available(void) {
    pthread_once(&amx_once, amx_probe);
    return amx;
}

/* ---------------------------------------------------------------------------------------- */
/* Rounding to bfloat16                                                                      */

uint16_t cx__bf16_round(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static float bf16_value(float f) {
    uint32_t u = (uint32_t)cx__bf16_round(f) << 16;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---------------------------------------------------------------------------------------- */
/* Per-thread packing buffers                                                                */

typedef struct {
    void *p;
    size_t cap;
} scratch;

static _Thread_local scratch scratch_a, scratch_b;

static void *scratch_get(scratch *s, size_t bytes) {
    if (bytes <= s->cap) return s->p;
    free(s->p);
    s->cap = (bytes + 4095) & ~(size_t)4095;
    s->p = aligned_alloc(64, s->cap);
    if (!s->p) s->cap = 0;
    return s->p;
}

static int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

/* ---------------------------------------------------------------------------------------- */
/* Packing for the tiles                                                                     */

#define AMX_TARGET "avx512f,avx512bw,amx-tile,amx-bf16"

/* 16 floats rounded to bfloat16, each in the high half of its 32-bit lane. */
__attribute__((target(AMX_TARGET))) static inline __m512i bf16_high(__m512 x) {
    __m512i u = _mm512_castps_si512(x);
    __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), odd));
    __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(u, _mm512_set1_epi32(0x400000)));
    return _mm512_and_si512(r, _mm512_set1_epi32((int)0xffff0000u));
}

static inline __mmask16 first(int64_t count) {
    return count >= 16 ? (__mmask16)0xffff : count <= 0 ? 0 : (__mmask16)((1u << count) - 1);
}

/* Lane j: the pair (lo[j], hi[j]) for j < count, lo first; a NULL row reads as zeros. */
__attribute__((target(AMX_TARGET))) static inline __m512i pairs_across(const float *lo,
                                                                       const float *hi,
                                                                       int64_t count) {
    __mmask16 m = first(count);
    __m512i l = lo ? bf16_high(_mm512_maskz_loadu_ps(m, lo)) : _mm512_setzero_si512();
    __m512i h = hi ? bf16_high(_mm512_maskz_loadu_ps(m, hi)) : _mm512_setzero_si512();
    return _mm512_or_si512(_mm512_srli_epi32(l, 16), h);
}

/* Lane q: the pair (row[2q], row[2q + 1]) for the count floats of row (zeros after). */
__attribute__((target(AMX_TARGET))) static inline __m512i pairs_along(const float *row,
                                                                      int64_t count) {
    __m512i lo = bf16_high(_mm512_maskz_loadu_ps(first(count), row));
    __m512i hi = bf16_high(_mm512_maskz_loadu_ps(first(count - 16), row + 16));
    /* lane q of the result takes elements 2q and 2q + 1 of the 32 (lo then hi) */
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4,
                                          2, 0);
    __m512i e = _mm512_permutex2var_epi32(lo, even, hi);
    __m512i o = _mm512_permutex2var_epi32(lo, _mm512_add_epi32(even, _mm512_set1_epi32(1)), hi);
    return _mm512_or_si512(_mm512_srli_epi32(e, 16), o);
}

/* v[q] lane i becomes v[i] lane q. Each stage swaps one bit of the row number with the same
 * bit of the lane number: rows q and q' = q | bit trade the lanes where they differ. */
__attribute__((target(AMX_TARGET))) static void transpose16(__m512i v[16]) {
    const __m512i lo1 = _mm512_set_epi32(30, 14, 28, 12, 26, 10, 24, 8, 22, 6, 20, 4, 18, 2, 16, 0);
    const __m512i hi1 = _mm512_add_epi32(lo1, _mm512_set1_epi32(1));
    const __m512i lo4 = _mm512_set_epi32(27, 26, 25, 24, 11, 10, 9, 8, 19, 18, 17, 16, 3, 2, 1, 0);
    const __m512i hi4 = _mm512_add_epi32(lo4, _mm512_set1_epi32(4));
    for (int bit = 1; bit < 16; bit <<= 1)
        for (int q = 0; q < 16; q++) {
            if (q & bit) continue;
            __m512i x = v[q], y = v[q | bit];
            if (bit == 1)
                v[q] = _mm512_permutex2var_epi32(x, lo1, y),
                v[q | bit] = _mm512_permutex2var_epi32(x, hi1, y);
            else if (bit == 2)
                v[q] = _mm512_unpacklo_epi64(x, y), v[q | bit] = _mm512_unpackhi_epi64(x, y);
            else if (bit == 4)
                v[q] = _mm512_permutex2var_epi32(x, lo4, y),
                v[q | bit] = _mm512_permutex2var_epi32(x, hi4, y);
            else
                v[q] = _mm512_shuffle_i32x4(x, y, 0x44), v[q | bit] = _mm512_shuffle_i32x4(x, y, 0xee);
        }
}

static const float *row_or_null(const float *base, int64_t ld, int64_t r, int64_t rows) {
    return r < rows ? base + r * ld : NULL;
}

/* op(A) [m, k] into mp rows of kp bfloat16 (kp / 2 pairs), zero padded. */
__attribute__((target(AMX_TARGET))) static void pack_a(bool trans, int64_t m, int64_t k,
                                                       const float *a, int64_t lda,
                                                       uint32_t *out, int64_t mp, int64_t kp) {
    const int64_t row_pairs = kp / 2;
    if (!trans) {
        for (int64_t i = 0; i < mp; i++)
            for (int64_t p = 0; p < kp; p += 32)
                _mm512_storeu_si512(out + i * row_pairs + p / 2,
                                    i < m ? pairs_along(a + i * lda + p, k - p)
                                          : _mm512_setzero_si512());
        return;
    }
    /* op(A)[i][p] = a[p][i]: rows p, p + 1 of a give one pair for 16 values of i; 16 such
     * vectors transposed give 16 pairs along each of 16 rows */
    for (int64_t p = 0; p < kp; p += 32) /* along a's rows: the reads stream */
        for (int64_t i = 0; i < mp; i += 16) {
            __m512i v[16];
            for (int q = 0; q < 16; q++)
                v[q] = pairs_across(row_or_null(a + i, lda, p + 2 * q, k),
                                    row_or_null(a + i, lda, p + 2 * q + 1, k), m - i);
            transpose16(v);
            for (int r = 0; r < 16; r++) _mm512_storeu_si512(out + (i + r) * row_pairs + p / 2, v[r]);
        }
}

/* op(B) [k, n] into tiles of 16 pair-rows x 16 columns: tile (column block jb, k block kb)
 * at (jb * kp / 32 + kb) * 256 pairs; np columns, zero padded. */
__attribute__((target(AMX_TARGET))) static void pack_b(bool trans, int64_t k, int64_t n,
                                                       const float *b, int64_t ldb,
                                                       uint32_t *out, int64_t np, int64_t kp) {
    const int64_t kblocks = kp / 32;
    /* the loops run along b's rows, so that the reads stream */
    for (int64_t outer = 0; outer < (trans ? np : kp); outer += trans ? 16 : 32)
        for (int64_t inner = 0; inner < (trans ? kp : np); inner += trans ? 32 : 16) {
            int64_t j = trans ? outer : inner, p = trans ? inner : outer;
            uint32_t *tile = out + ((j / 16) * kblocks + p / 32) * 256;
            __m512i v[16];
            if (!trans) { /* row q of the tile: rows p + 2q, p + 2q + 1 of b, across */
                for (int q = 0; q < 16; q++)
                    v[q] = pairs_across(row_or_null(b + j, ldb, p + 2 * q, k),
                                        row_or_null(b + j, ldb, p + 2 * q + 1, k), n - j);
            } else { /* op(B)[p][j] = b[j][p]: row j of b gives 16 pairs along k */
                for (int c = 0; c < 16; c++)
                    v[c] = j + c < n ? pairs_along(b + (j + c) * ldb + p, k - p)
                                     : _mm512_setzero_si512();
                transpose16(v);
            }
            for (int q = 0; q < 16; q++) _mm512_storeu_si512(tile + q * 16, v[q]);
        }
}

/* ---------------------------------------------------------------------------------------- */
/* The tile kernel                                                                           */

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/* Palette 1, tiles 0-7 all 16 rows of 64 bytes. A constant in memory: the compiler cannot
 * see that LDTILECFG reads a local, and may drop the stores that fill one. */
static const tile_config tiles_8x16x64 __attribute__((aligned(64))) = {
    .palette = 1,
    .colsb = {64, 64, 64, 64, 64, 64, 64, 64},
    .rows = {16, 16, 16, 16, 16, 16, 16, 16},
};

__attribute__((target(AMX_TARGET))) static void tiles_configure(void) {
    _tile_loadconfig(&tiles_8x16x64);
}

__attribute__((target(AMX_TARGET))) static void tiles_release(void) { _tile_release(); }

/* One 32 x 32 block of C (block row ib, column jb); see amx_product. The tile code sits in
 * its own function: an OpenMP region's body does not inherit a function's target. */
__attribute__((target(AMX_TARGET))) static void amx_block(int64_t m, int64_t n, int64_t ib,
                                                          int64_t jb, const uint32_t *ap,
                                                          const uint32_t *bp, int64_t kp,
                                                          float alpha, float beta, float *c,
                                                          int64_t ldc) {
    const int64_t kblocks = kp / 32;
    const size_t a_stride = (size_t)kp * 2; /* bytes from one row of A to the next */
    const uint32_t *a0 = ap + ib * 32 * (kp / 2), *a1 = a0 + 16 * (kp / 2);
    const uint32_t *b0 = bp + (2 * jb) * kblocks * 256, *b1 = b0 + kblocks * 256;
    int64_t i0 = ib * 32, j0 = jb * 32;
    int64_t rows = m - i0 < 32 ? m - i0 : 32, cols = n - j0 < 32 ? n - j0 : 32;
    /* a whole block with C = A·B or C += A·B goes straight between tiles and C */
    bool direct = rows == 32 && cols == 32 && alpha == 1.0f && (beta == 0.0f || beta == 1.0f);
    float *cb = c + i0 * ldc + j0;
    const size_t c_stride = (size_t)ldc * sizeof(float);
    if (direct && beta == 1.0f) {
        _tile_loadd(0, cb, c_stride);
        _tile_loadd(1, cb + 16, c_stride);
        _tile_loadd(2, cb + 16 * ldc, c_stride);
        _tile_loadd(3, cb + 16 * ldc + 16, c_stride);
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    for (int64_t kb = 0; kb < kblocks; kb++) {
        _tile_loadd(4, a0 + kb * 16, a_stride);
        _tile_loadd(5, a1 + kb * 16, a_stride);
        _tile_loadd(6, b0 + kb * 256, 64);
        _tile_loadd(7, b1 + kb * 256, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    if (direct) {
        _tile_stored(0, cb, c_stride);
        _tile_stored(1, cb + 16, c_stride);
        _tile_stored(2, cb + 16 * ldc, c_stride);
        _tile_stored(3, cb + 16 * ldc + 16, c_stride);
        return;
    }
    float block[32][32];
    _tile_stored(0, &block[0][0], 128);
    _tile_stored(1, &block[0][16], 128);
    _tile_stored(2, &block[16][0], 128);
    _tile_stored(3, &block[16][16], 128);
    for (int64_t i = 0; i < rows; i++) {
        float *ci = cb + i * ldc;
        for (int64_t j = 0; j < cols; j++)
            ci[j] = beta == 0.0f ? alpha * block[i][j] : alpha * block[i][j] + beta * ci[j];
    }
}

/* C [m, n] = alpha * A·B + beta * C from packed A (mp x kp) and B (np x kp); beta 0 ignores
 * what C held. Blocks go over threads, column blocks outermost so B's stay in cache. */
static void amx_product(int64_t m, int64_t n, const uint32_t *ap, const uint32_t *bp,
                        int64_t mp, int64_t np, int64_t kp, float alpha, float beta, float *c,
                        int64_t ldc) {
    const int64_t jblocks = np / 32, iblocks = mp / 32;
    bool parallel = cx_get_num_threads() > 1 && mp * np * kp > CX_PARALLEL_MIN * 16;
#pragma omp parallel if (parallel)
    {
        tiles_configure();
#pragma omp for schedule(static) collapse(2)
        for (int64_t jb = 0; jb < jblocks; jb++)
            for (int64_t ib = 0; ib < iblocks; ib++)
                amx_block(m, n, ib, jb, ap, bp, kp, alpha, beta, c, ldc);
        tiles_release();
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Without AMX: sgemm on rounded copies                                                      */

static void round_copy(bool trans, int64_t rows, int64_t cols, const float *src, int64_t ld,
                       float *dst) {
    /* dst is op(src) [rows, cols], rounded */
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            dst[i * cols + j] = bf16_value(trans ? src[j * ld + i] : src[i * ld + j]);
}

bool cx__sgemm_bf16(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                    float *c, int64_t ldc) {
    if (cx__amx_available()) {
        int64_t mp = round_up(m, 32), np = round_up(n, 32), kp = round_up(k, 32);
        uint32_t *ap = scratch_get(&scratch_a, (size_t)(mp * kp) * 2);
        uint32_t *bp = ap ? scratch_get(&scratch_b, (size_t)(np * kp) * 2) : NULL;
        if (!bp) return false;
        pack_a(trans_a, m, k, a, lda, ap, mp, kp);
        pack_b(trans_b, k, n, b, ldb, bp, np, kp);
        amx_product(m, n, ap, bp, mp, np, kp, alpha, beta, c, ldc);
        return true;
    }
    float *ar = scratch_get(&scratch_a, (size_t)(m * k) * sizeof(float));
    float *br = ar ? scratch_get(&scratch_b, (size_t)(k * n) * sizeof(float)) : NULL;
    if (!br) return false;
    round_copy(trans_a, m, k, a, lda, ar);
    round_copy(trans_b, k, n, b, ldb, br);
    cx__sgemm_float32(false, false, m, n, k, alpha, ar, k, br, n, beta, c, ldc);
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* One B for many products (the recurrent steps of packed_gemm.c)                            */

/* The packed product takes A in blocks of 32 rows on the stack, so it needs no buffer. */
bool cx__bf16_packable(int64_t k) { return cx__amx_available() && k <= CX_BF16_PACKED_MAX_K; }

size_t cx__bf16_packed_floats(int64_t k, int64_t n) {
    return (size_t)(round_up(n, 32) * round_up(k, 32) / 2);
}

void cx__bf16_pack_b(bool trans, int64_t k, int64_t n, const float *b, int64_t ldb,
                     float *packed) {
    pack_b(trans, k, n, b, ldb, (uint32_t *)packed, round_up(n, 32), round_up(k, 32));
}

void cx__bf16_packed_product(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                             const float *packed, bool accumulate, float *c, int64_t ldc) {
    int64_t np = round_up(n, 32), kp = round_up(k, 32);
    uint32_t rows[32 * CX_BF16_PACKED_MAX_K / 2];
    for (int64_t i = 0; i < m; i += 32) {
        int64_t count = m - i < 32 ? m - i : 32;
        pack_a(false, count, k, a + i * lda, lda, rows, 32, kp);
        amx_product(count, n, rows, (const uint32_t *)packed, 32, np, kp, 1.0f,
                    accumulate ? 1.0f : 0.0f, c + i * ldc, ldc);
    }
}

void cx__bf16_round_rows(int64_t m, int64_t k, const float *a, int64_t lda, float *out) {
    round_copy(false, m, k, a, lda, out);
}

void cx__bf16_round_in_place(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = bf16_value(x[i]);
}
