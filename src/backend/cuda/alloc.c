/*
 * alloc.c - the caching device allocator: a pool of blocks in size classes over a raw
 * allocator (cudaMalloc/cudaFree for the GPU, the host heap in tests).
 *
 * cudaMalloc and cudaFree are slow (a cudaFree synchronises the whole device), so a training
 * step must not call them. Each request is rounded up to a size class - 512 bytes, then four
 * classes per power of two (640, 768, 896, 1024, 1280, ...), so at most 25% is wasted - and a
 * freed block goes onto its class's free list instead of back to the driver. The next
 * request of that class takes it from there. A step that repeats the previous step's
 * requests therefore finds every block cached: after the first step no cudaMalloc happens.
 *
 * Blocks are never split or merged (a block is one cudaMalloc), which keeps the bookkeeping
 * to a free list per class and a hash table of the blocks in use; where the driver runs out
 * of memory the cache is given back (cx__pool_empty) and the request tried once more.
 *
 * Reuse is safe without synchronising because all of the backend's work runs on one stream
 * per device: a kernel queued after a free runs after every kernel queued before it.
 */
#include "cortex_impl.h"
#include "backend/cuda/cuda_impl.h"

#include <cuda_runtime_api.h>

#include <pthread.h>
#include <string.h>

enum {
    MIN_SHIFT = 9,  /* the smallest class: 512 bytes */
    MAX_SHIFT = 40, /* the largest: 1 TiB */
    STEPS = 4,      /* classes per power of two */
    N_CLASSES = (MAX_SHIFT - MIN_SHIFT) * STEPS + 1,
};

typedef struct block {
    void *ptr;
    size_t size;      /* its class size */
    size_t requested; /* what the current holder asked for */
    int cls;
    struct block *next; /* on a free list, or in a hash bucket: a block is in one at a time */
} block;

struct cx__pool {
    cx__pool_raw raw;
    pthread_mutex_t lock;
    block *free_list[N_CLASSES]; /* most recently freed first */
    block **buckets;             /* (n_buckets) blocks in use by pointer */
    size_t n_buckets;            /* a power of two */
    size_t n_live;
    cx_cuda_memory_stats stats;
};

/* ---- size classes ---- */

/* The class of a request: 0 for up to 512 bytes; above, for 2^e < bytes <= 2^(e+1), the
 * smallest 2^e + j 2^(e-2), j = 1..4, that holds it. -1 for 0 or over 2^40 bytes. */
static int class_of(size_t bytes) {
    if (bytes == 0 || bytes > ((size_t)1 << MAX_SHIFT)) return -1;
    if (bytes <= ((size_t)1 << MIN_SHIFT)) return 0;
    int e = 63 - __builtin_clzll((unsigned long long)(bytes - 1));
    size_t base = (size_t)1 << e, quarter = base >> 2;
    int j = (int)((bytes - base + quarter - 1) / quarter);
    return (e - MIN_SHIFT) * STEPS + j;
}

static size_t class_size(int cls) {
    if (cls == 0) return (size_t)1 << MIN_SHIFT;
    int e = (cls - 1) / STEPS + MIN_SHIFT, j = (cls - 1) % STEPS + 1;
    return ((size_t)1 << e) + (size_t)j * ((size_t)1 << (e - 2));
}

size_t cx__pool_class_size(size_t bytes) {
    int cls = class_of(bytes);
    return cls < 0 ? 0 : class_size(cls);
}

/* ---- the table of blocks in use ---- */

static size_t bucket_of(const cx__pool *pool, const void *ptr) {
    uint64_t h = (uint64_t)(uintptr_t)ptr * 0x9E3779B97F4A7C15ull; /* Fibonacci hashing */
    return (size_t)(h >> 32) & (pool->n_buckets - 1);
}

/* Doubles the table once it holds two blocks per bucket; false (+ error) if that fails. */
static bool grow(cx__pool *pool) {
    if (pool->n_live < 2 * pool->n_buckets) return true;
    size_t old_n = pool->n_buckets;
    block **old = pool->buckets, **fresh = cx__calloc(2 * old_n * sizeof *fresh);
    if (!fresh) return false;
    pool->buckets = fresh;
    pool->n_buckets = 2 * old_n;
    for (size_t i = 0; i < old_n; i++) {
        for (block *b = old[i], *next; b; b = next) {
            next = b->next;
            size_t k = bucket_of(pool, b->ptr);
            b->next = fresh[k];
            fresh[k] = b;
        }
    }
    cx__free(old);
    return true;
}

static void insert_live(cx__pool *pool, block *b) {
    size_t k = bucket_of(pool, b->ptr);
    b->next = pool->buckets[k];
    pool->buckets[k] = b;
    pool->n_live++;
}

static block *remove_live(cx__pool *pool, const void *ptr) {
    for (block **p = &pool->buckets[bucket_of(pool, ptr)]; *p; p = &(*p)->next) {
        if ((*p)->ptr != ptr) continue;
        block *b = *p;
        *p = b->next;
        b->next = NULL;
        pool->n_live--;
        return b;
    }
    return NULL;
}

/* ---- the pool ---- */

cx__pool *cx__pool_new(const cx__pool_raw *raw) {
    cx__pool *pool = cx__calloc(sizeof *pool);
    if (!pool) return NULL;
    pool->raw = *raw;
    pool->n_buckets = 256;
    if (!(pool->buckets = cx__calloc(pool->n_buckets * sizeof *pool->buckets))) {
        cx__free(pool);
        return NULL;
    }
    pthread_mutex_init(&pool->lock, NULL);
    return pool;
}

/* Gives the cached blocks back to raw; the first failure's status (all are tried). */
static cx_status empty_locked(cx__pool *pool) {
    cx_status first = CX_OK;
    for (int c = 0; c < N_CLASSES; c++) {
        while (pool->free_list[c]) {
            block *b = pool->free_list[c];
            pool->free_list[c] = b->next;
            cx_status st = pool->raw.free(b->ptr, pool->raw.ctx);
            if (st != CX_OK && first == CX_OK) first = st;
            pool->stats.device_frees++;
            pool->stats.bytes_cached -= b->size;
            cx__free(b);
        }
    }
    return first;
}

void cx__pool_free(cx__pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->lock);
    empty_locked(pool);
    for (size_t i = 0; i < pool->n_buckets; i++) {
        for (block *b = pool->buckets[i], *next; b; b = next) {
            next = b->next;
            pool->raw.free(b->ptr, pool->raw.ctx);
            cx__free(b);
        }
    }
    pthread_mutex_unlock(&pool->lock);
    pthread_mutex_destroy(&pool->lock);
    cx__free(pool->buckets);
    cx__free(pool);
}

cx_status cx__pool_alloc(cx__pool *pool, size_t bytes, void **ptr) {
    *ptr = NULL;
    int cls = class_of(bytes);
    if (cls < 0)
        return cx__error(CX_ERR_ARG, "device allocator: %zu bytes requested; need 1 to 2^%d", bytes,
                         MAX_SHIFT);
    pthread_mutex_lock(&pool->lock);
    cx_status st = grow(pool) ? CX_OK : cx_last_status();
    block *b = st == CX_OK ? pool->free_list[cls] : NULL;
    if (b) {
        pool->free_list[cls] = b->next;
        pool->stats.bytes_cached -= b->size;
        pool->stats.reuses++;
    } else if (st == CX_OK && (b = cx__calloc(sizeof *b))) {
        b->size = class_size(cls);
        b->cls = cls;
        st = pool->raw.alloc(&b->ptr, b->size, pool->raw.ctx);
        if (st == CX_ERR_OOM && pool->stats.bytes_cached > 0) {
            /* cached blocks of other classes may be what the driver lacks */
            empty_locked(pool);
            cx_clear_error();
            st = pool->raw.alloc(&b->ptr, b->size, pool->raw.ctx);
        }
        if (st == CX_OK) {
            pool->stats.device_mallocs++;
        } else {
            char why[512];
            snprintf(why, sizeof why, "%s", cx_last_error());
            cx__error(st,
                      "device allocator: cannot get %zu bytes (%zu requested; %llu bytes in "
                      "%zu blocks in use, %llu cached): %s",
                      b->size, bytes, (unsigned long long)pool->stats.bytes_in_use, pool->n_live,
                      (unsigned long long)pool->stats.bytes_cached, why);
            cx__free(b);
            b = NULL;
        }
    } else if (st == CX_OK) {
        st = cx_last_status();
    }
    if (b) {
        b->requested = bytes;
        insert_live(pool, b);
        pool->stats.bytes_in_use += b->size;
        pool->stats.bytes_requested += bytes;
        pool->stats.allocs++;
        *ptr = b->ptr;
    }
    pthread_mutex_unlock(&pool->lock);
    return st;
}

/* Moves ptr's block from the table to its free list; false if the pool does not hold it. */
static bool take_back(cx__pool *pool, void *ptr) {
    pthread_mutex_lock(&pool->lock);
    block *b = remove_live(pool, ptr);
    if (b) {
        pool->stats.bytes_in_use -= b->size;
        pool->stats.bytes_requested -= b->requested;
        pool->stats.bytes_cached += b->size;
        b->next = pool->free_list[b->cls];
        pool->free_list[b->cls] = b;
    }
    pthread_mutex_unlock(&pool->lock);
    return b != NULL;
}

static cx_status not_ours(const void *ptr) {
    return cx__error(CX_ERR_ARG,
                     "device allocator: %p was not allocated here, or was already "
                     "freed",
                     ptr);
}

cx_status cx__pool_release(cx__pool *pool, void *ptr) {
    if (!ptr || take_back(pool, ptr)) return CX_OK;
    return not_ours(ptr);
}

cx_status cx__pool_empty(cx__pool *pool) {
    pthread_mutex_lock(&pool->lock);
    cx_status st = empty_locked(pool);
    pthread_mutex_unlock(&pool->lock);
    return st;
}

void cx__pool_stats(const cx__pool *pool, cx_cuda_memory_stats *stats) {
    cx__pool *p = (cx__pool *)pool; /* the lock, not the counters, is written */
    pthread_mutex_lock(&p->lock);
    stats->bytes_in_use += p->stats.bytes_in_use;
    stats->bytes_cached += p->stats.bytes_cached;
    stats->bytes_requested += p->stats.bytes_requested;
    stats->device_mallocs += p->stats.device_mallocs;
    stats->device_frees += p->stats.device_frees;
    stats->allocs += p->stats.allocs;
    stats->reuses += p->stats.reuses;
    pthread_mutex_unlock(&p->lock);
}

/* ---- the device pools: one per GPU, made on first use ---- */

static cx_status device_alloc(void **ptr, size_t bytes, void *ctx) {
    (void)ctx; /* the pool of the current device: cudaMalloc allocates there */
    cudaError_t e = cudaMalloc(ptr, bytes);
    if (e == cudaSuccess) return CX_OK;
    char what[64];
    snprintf(what, sizeof what, "cudaMalloc(%zu bytes)", bytes);
    return cx__cuda_error(what, e);
}

static cx_status device_free(void *ptr, void *ctx) {
    (void)ctx; /* cudaFree finds a pointer's device itself (unified addressing) */
    cudaError_t e = cudaFree(ptr);
    return e == cudaSuccess ? CX_OK : cx__cuda_error("cudaFree", e);
}

static pthread_mutex_t pools_lock = PTHREAD_MUTEX_INITIALIZER;
static cx__pool *pools[CX_CUDA_MAX_DEVICES];

/* The current device's pool, made if needed; NULL + error. */
static cx__pool *current_pool(void) {
    int dev = 0;
    if (!cx__cuda_device_slot(&dev)) return NULL;
    pthread_mutex_lock(&pools_lock);
    if (!pools[dev]) pools[dev] = cx__pool_new(&(cx__pool_raw){device_alloc, device_free, NULL});
    cx__pool *pool = pools[dev];
    pthread_mutex_unlock(&pools_lock);
    return pool;
}

cx_status cx__cuda_malloc(void **ptr, size_t bytes) {
    *ptr = NULL;
    char why[256];
    if (cx__cuda_device_count(why, sizeof why) <= 0)
        return cx__error(CX_ERR_DEVICE, "device allocator: CUDA is unavailable: %s", why);
    cx__pool *pool = current_pool();
    return pool ? cx__pool_alloc(pool, bytes, ptr) : cx_last_status();
}

cx_status cx__cuda_free(void *ptr) {
    if (!ptr) return CX_OK;
    cx__pool *pool = current_pool();
    if (!pool) return cx_last_status();
    if (take_back(pool, ptr)) return CX_OK;
    /* a block of another device: its own pool takes it */
    pthread_mutex_lock(&pools_lock);
    bool found = false;
    for (int d = 0; d < CX_CUDA_MAX_DEVICES && !found; d++)
        found = pools[d] && pools[d] != pool && take_back(pools[d], ptr);
    pthread_mutex_unlock(&pools_lock);
    return found ? CX_OK : not_ours(ptr);
}

void cx__cuda_memory_stats(cx_cuda_memory_stats *stats) {
    memset(stats, 0, sizeof *stats);
    pthread_mutex_lock(&pools_lock);
    for (int d = 0; d < CX_CUDA_MAX_DEVICES; d++)
        if (pools[d]) cx__pool_stats(pools[d], stats);
    pthread_mutex_unlock(&pools_lock);
}

cx_status cx__cuda_empty_cache(void) {
    cx_status first = CX_OK;
    pthread_mutex_lock(&pools_lock);
    for (int d = 0; d < CX_CUDA_MAX_DEVICES; d++) {
        cx_status st = pools[d] ? cx__pool_empty(pools[d]) : CX_OK;
        if (st != CX_OK && first == CX_OK) first = st;
    }
    pthread_mutex_unlock(&pools_lock);
    return first;
}
