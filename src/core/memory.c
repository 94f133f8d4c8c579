/*
 * memory.c - the allocator hook, arenas and kernel temporaries.
 *
 * Every heap block carries its size, so an optional cap (CX_MAX_MEMORY, cx_set_memory_limit)
 * can refuse an allocation that would pass it with a clear CX_ERR_OOM.
 *
 * An arena is a list of chunks handed out by bumping an offset. Reset merges the chunks into
 * one block as large as all of them, so after the first (sizing) step a training step takes
 * nothing from the system allocator, and the pages stay mapped (page faults cost ~18 us each
 * on the machines we measure on).
 */
#include "cortex_impl.h"

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#define ALIGN 64
#define ARENA_STACK_MAX 16
#define CHUNK_MIN ((size_t)1 << 20)

/* ---- allocator hook ---- */

static void *default_alloc(size_t bytes, void *ctx) {
    (void)ctx;
    void *p = NULL;
    if (posix_memalign(&p, ALIGN, bytes ? bytes : 1) != 0) return NULL;
    return p;
}

static void default_free(void *ptr, void *ctx) {
    (void)ctx;
    free(ptr);
}

static cx_allocator hook = {default_alloc, default_free, NULL};

void cx_set_allocator(const cx_allocator *allocator) {
    if (allocator && allocator->alloc && allocator->free)
        hook = *allocator;
    else
        hook = (cx_allocator){default_alloc, default_free, NULL};
}

/* ---- the memory cap ---- */

/* Every block starts with a header holding its size (ALIGN bytes, so the caller's pointer
 * keeps the alignment), which lets the cap count live bytes. */
#define BLOCK_HEADER ((size_t)ALIGN)

static atomic_size_t in_use;
static size_t limit; /* 0: none */

bool cx_parse_size(const char *text, size_t *bytes) {
    if (!text || !*text) return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || errno || text[0] == '-') return false;
    /* a unit K, M, G or T (powers of 1024), optionally followed by "iB" or "B" */
    static const char units[] = "KMGT";
    const char *u = *end ? strchr(units, toupper((unsigned char)*end)) : NULL;
    int shift = u ? 10 * (int)(u - units + 1) : 0;
    if (u && *++end == 'i') end++;
    if (*end == 'B' || *end == 'b') end++;
    if (*end || v > (SIZE_MAX >> shift)) return false;
    *bytes = (size_t)v << shift;
    return true;
}

__attribute__((constructor)) static void limit_from_env(void) {
    size_t v;
    if (cx_parse_size(getenv("CX_MAX_MEMORY"), &v)) limit = v;
}

void cx_set_memory_limit(size_t bytes) { limit = bytes; }
size_t cx_memory_limit(void) { return limit; }
size_t cx_memory_in_use(void) { return atomic_load(&in_use); }

void *cx__alloc(size_t bytes) {
    if (bytes > SIZE_MAX - BLOCK_HEADER) {
        cx__error(CX_ERR_OOM, "out of memory: %zu bytes requested", bytes);
        return NULL;
    }
    size_t total = bytes + BLOCK_HEADER;
    size_t now = atomic_fetch_add(&in_use, total) + total;
    if (limit && now > limit) {
        atomic_fetch_sub(&in_use, total);
        cx__error(CX_ERR_OOM, "out of memory: allocating %zu bytes would take Cortex past its "
                  "memory limit of %zu bytes (%zu in use; CX_MAX_MEMORY or "
                  "cx_set_memory_limit)", bytes, limit, now - total);
        return NULL;
    }
    char *p = hook.alloc(total, hook.ctx);
    if (!p) {
        atomic_fetch_sub(&in_use, total);
        cx__error(CX_ERR_OOM, "out of memory: allocating %zu bytes failed", bytes);
        return NULL;
    }
    *(size_t *)p = total;
    return p + BLOCK_HEADER;
}

void *cx__calloc(size_t bytes) {
    void *p = cx__alloc(bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void cx__free(void *ptr) {
    if (!ptr) return;
    char *p = (char *)ptr - BLOCK_HEADER;
    atomic_fetch_sub(&in_use, *(size_t *)p);
    hook.free(p, hook.ctx);
}

/* ---- arenas ---- */

struct cx_arena_chunk {
    struct cx_arena_chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    /* data follows, ALIGN-aligned */
};

#define CHUNK_HEADER ((sizeof(struct cx_arena_chunk) + ALIGN - 1) / ALIGN * ALIGN)

static _Thread_local cx_arena *arena_stack[ARENA_STACK_MAX];
static _Thread_local int arena_depth;

static struct cx_arena_chunk *chunk_new(size_t size) {
    struct cx_arena_chunk *c = cx__alloc(CHUNK_HEADER + size);
    if (!c) return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
#ifdef MADV_HUGEPAGE
    if (size >= ((size_t)4 << 20)) madvise((void *)((uintptr_t)c & ~(uintptr_t)4095), size, MADV_HUGEPAGE);
#endif
    return c;
}

static inline char *chunk_data(struct cx_arena_chunk *c) { return (char *)c + CHUNK_HEADER; }

cx_arena *cx_arena_new(size_t initial_bytes) {
    cx_arena *a = cx__calloc(sizeof *a);
    if (!a) return NULL;
    if (initial_bytes) {
        a->chunks = chunk_new(initial_bytes);
        if (!a->chunks) {
            cx__free(a);
            return NULL;
        }
        a->capacity = initial_bytes;
    }
    return a;
}

static void free_chunks(struct cx_arena_chunk *c) {
    while (c) {
        struct cx_arena_chunk *next = c->next;
        cx__free(c);
        c = next;
    }
}

void cx_arena_free(cx_arena *a) {
    if (!a) return;
    CX_ASSERT(a->active == 0 && "arena freed while active");
    cx__arena_tensors_release(a);
    free_chunks(a->chunks);
    cx__free(a);
}

cx_status cx_arena_begin(cx_arena *a) {
    if (!a) return cx__error(CX_ERR_ARG, "cx_arena_begin: arena is NULL");
    if (arena_depth == ARENA_STACK_MAX)
        return cx__error(CX_ERR_ARG, "cx_arena_begin: more than %d arenas nested", ARENA_STACK_MAX);
    arena_stack[arena_depth++] = a;
    a->active++;
    return CX_OK;
}

cx_status cx_arena_end(cx_arena *a) {
    if (!a || arena_depth == 0 || arena_stack[arena_depth - 1] != a)
        return cx__error(CX_ERR_ARG, "cx_arena_end: arena is not the innermost active one");
    arena_depth--;
    a->active--;
    return CX_OK;
}

cx_arena *cx__current_arena(void) { return arena_depth ? arena_stack[arena_depth - 1] : NULL; }

void cx_arena_reset(cx_arena *a) {
    if (!a) return;
    cx__arena_tensors_release(a);
    a->used = 0;
    if (a->chunks && a->chunks->next) {
        /* Merge into one block; if that allocation fails keep the old chunks. */
        struct cx_arena_chunk *merged = chunk_new(a->capacity);
        if (merged) {
            free_chunks(a->chunks);
            a->chunks = merged;
        }
    }
    for (struct cx_arena_chunk *c = a->chunks; c; c = c->next) c->used = 0;
}

size_t cx_arena_used(const cx_arena *a) { return a ? a->used : 0; }
size_t cx_arena_capacity(const cx_arena *a) { return a ? a->capacity : 0; }

void *cx__arena_alloc(cx_arena *a, size_t bytes) {
    size_t need = (bytes + ALIGN - 1) / ALIGN * ALIGN;
    if (need < bytes) {
        cx__error(CX_ERR_OOM, "out of memory: %zu bytes requested", bytes);
        return NULL;
    }
    for (struct cx_arena_chunk *c = a->chunks; c; c = c->next) {
        if (c->size - c->used >= need) {
            void *p = chunk_data(c) + c->used;
            c->used += need;
            a->used += need;
            return p;
        }
    }
    size_t size = a->capacity > CHUNK_MIN ? a->capacity : CHUNK_MIN;
    if (size < need) size = need;
    struct cx_arena_chunk *c = chunk_new(size);
    if (!c) return NULL;
    c->next = a->chunks;
    a->chunks = c;
    a->capacity += size;
    c->used = need;
    a->used += need;
    return chunk_data(c);
}

bool cx__arena_owns(const cx_arena *a, const void *ptr) {
    for (struct cx_arena_chunk *c = a ? a->chunks : NULL; c; c = c->next) {
        const char *d = chunk_data((struct cx_arena_chunk *)c);
        if ((const char *)ptr >= d && (const char *)ptr < d + c->size) return true;
    }
    return false;
}

/* ---- temporaries ---- */

void *cx__temp_alloc(size_t bytes) {
    cx_arena *a = cx__current_arena();
    return a ? cx__arena_alloc(a, bytes) : cx__alloc(bytes);
}

void cx__temp_free(void *ptr) {
    if (!ptr) return;
    cx_arena *a = cx__current_arena();
    if (a && cx__arena_owns(a, ptr)) return;
    cx__free(ptr);
}
