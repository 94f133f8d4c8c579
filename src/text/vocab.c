/*
 * vocab.c - vocabularies of characters or words: building one from a corpus (most frequent
 * tokens first), encoding text to ids, and the JSON form stored in checkpoints.
 *
 * Characters are UTF-8 sequences (a byte that does not start a valid sequence reads as U+FFFD,
 * so every token is valid UTF-8 and survives JSON). Words are runs of letters, digits,
 * apostrophes and non-ASCII characters; every other character (space, newline, punctuation)
 * is a token of its own, so joining the tokens gives the text back.
 * Lookup is an open-addressing hash table of token ids.
 */
#include "cortex_impl.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKENS ((int64_t)1 << 20)
#define MAX_TOKEN_BYTES 256
#define WORDS_DEFAULT_MAX 20000
#define UNK "<unk>"

struct cx_vocab {
    cx_token_kind kind;
    int64_t n, cap_tokens;
    char **tokens;   /* NUL-terminated, owned */
    int64_t *counts; /* while building */
    int64_t unk;     /* id of <unk>, -1 if none */
    int32_t *slots;  /* hash table of ids, -1 empty */
    int64_t n_slots; /* a power of two, at least twice n */
};

/* ---- tokens ---- */

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 if none starts there. */
static size_t utf8_len(const unsigned char *p, size_t left) {
    if (left == 0) return 0; /* the end of the text: p is past it */
    size_t n = p[0] < 0x80 ? 1 : (p[0] & 0xE0) == 0xC0 ? 2 : (p[0] & 0xF0) == 0xE0 ? 3
           : (p[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || n > left || (n == 2 && p[0] < 0xC2)) return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    if (n == 3 && ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0))) return 0;
    if (n == 4 && ((p[0] == 0xF0 && p[1] < 0x90) || p[0] > 0xF4 || (p[0] == 0xF4 && p[1] >= 0x90)))
        return 0;
    return n;
}

static bool word_char(const unsigned char *p, size_t n) {
    return n > 1 || isalnum(p[0]) || p[0] == '\'';
}

/* The token at text[*pos]: sets *tok and *tok_len (to the replacement for a bad byte) and
 * advances *pos. */
static void next_token(const char *text, size_t len, size_t *pos, cx_token_kind kind,
                       const char **tok, size_t *tok_len) {
    const unsigned char *p = (const unsigned char *)text + *pos;
    size_t n = utf8_len(p, len - *pos);
    if (n == 0) {
        *tok = replacement;
        *tok_len = 3;
        *pos += 1;
        return;
    }
    *tok = text + *pos;
    size_t total = n;
    if (kind == CX_TOKENS_WORDS && word_char(p, n)) {
        for (;;) {
            size_t m = utf8_len(p + total, len - *pos - total);
            if (m == 0 || !word_char(p + total, m) || total + m > MAX_TOKEN_BYTES) break;
            total += m;
        }
    }
    *tok_len = total;
    *pos += total;
}

/* ---- the table ---- */

static uint64_t hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* The slot holding token (s, n), or the empty slot where it would go. */
static int64_t find_slot(const cx_vocab *v, const char *s, size_t n) {
    int64_t mask = v->n_slots - 1, i = (int64_t)(hash(s, n) & (uint64_t)mask);
    while (v->slots[i] >= 0) {
        const char *t = v->tokens[v->slots[i]];
        if (strlen(t) == n && memcmp(t, s, n) == 0) return i;
        i = (i + 1) & mask;
    }
    return i;
}

static bool rehash(cx_vocab *v, int64_t n_slots) {
    int32_t *slots = cx__alloc((size_t)n_slots * sizeof *slots);
    if (!slots) return false;
    for (int64_t i = 0; i < n_slots; i++) slots[i] = -1;
    cx__free(v->slots);
    v->slots = slots;
    v->n_slots = n_slots;
    for (int64_t id = 0; id < v->n; id++)
        v->slots[find_slot(v, v->tokens[id], strlen(v->tokens[id]))] = (int32_t)id;
    return true;
}

/* Appends token (s, n); returns its id, -1 on allocation failure. */
static int64_t add_token(cx_vocab *v, const char *s, size_t n) {
    if (v->n == v->cap_tokens) {
        int64_t cap = v->cap_tokens ? v->cap_tokens * 2 : 256;
        char **t = cx__alloc((size_t)cap * sizeof *t);
        int64_t *c = t ? cx__alloc((size_t)cap * sizeof *c) : NULL;
        if (!c) {
            cx__free(t);
            return -1;
        }
        if (v->n) {
            memcpy(t, v->tokens, (size_t)v->n * sizeof *t);
            memcpy(c, v->counts, (size_t)v->n * sizeof *c);
        }
        cx__free(v->tokens);
        cx__free(v->counts);
        v->tokens = t;
        v->counts = c;
        v->cap_tokens = cap;
    }
    if (2 * (v->n + 1) > v->n_slots && !rehash(v, v->n_slots ? v->n_slots * 2 : 512)) return -1;
    char *copy = cx__alloc(n + 1);
    if (!copy) return -1;
    memcpy(copy, s, n);
    copy[n] = '\0';
    v->tokens[v->n] = copy;
    v->counts[v->n] = 0;
    v->slots[find_slot(v, s, n)] = (int32_t)v->n;
    return v->n++;
}

static int64_t lookup(const cx_vocab *v, const char *s, size_t n) {
    return v->n_slots ? v->slots[find_slot(v, s, n)] : -1;
}

void cx_vocab_free(cx_vocab *v) {
    if (!v) return;
    for (int64_t i = 0; i < v->n; i++) cx__free(v->tokens[i]);
    cx__free(v->tokens);
    cx__free(v->counts);
    cx__free(v->slots);
    cx__free(v);
}

/* ---- building ---- */

static const cx_vocab *sort_vocab; /* qsort has no context argument */

static int by_count(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    int64_t cx = sort_vocab->counts[x], cy = sort_vocab->counts[y];
    return cx != cy ? (cx < cy ? 1 : -1) : (x > y) - (x < y);
}

/* A vocabulary of the tokens of `order` (ids into all), with <unk> first when unk. */
static cx_vocab *subset(const cx_vocab *all, const int64_t *order, int64_t n, bool unk) {
    cx_vocab *v = cx__calloc(sizeof *v);
    if (!v) return NULL;
    v->kind = all->kind;
    v->unk = -1;
    if (unk && (v->unk = add_token(v, UNK, strlen(UNK))) < 0) goto fail;
    for (int64_t i = 0; i < n; i++) {
        const char *t = all->tokens[order[i]];
        if (lookup(v, t, strlen(t)) >= 0) continue; /* a corpus token spelt "<unk>" */
        if (add_token(v, t, strlen(t)) < 0) goto fail;
    }
    return v;
fail:
    cx_vocab_free(v);
    return NULL;
}

cx_vocab *cx_vocab_build(const char *text, size_t len, cx_token_kind kind, int64_t max_size) {
    if (!text || len == 0) return cx__error(CX_ERR_ARG, "vocabulary: the text is empty"), NULL;
    if (kind != CX_TOKENS_CHARS && kind != CX_TOKENS_WORDS)
        return cx__error(CX_ERR_ARG, "vocabulary: unknown token kind %d", (int)kind), NULL;
    if (max_size < 0 || max_size > MAX_TOKENS)
        return cx__error(CX_ERR_ARG, "vocabulary: max_size %lld; must be 0 (no limit) to %lld",
                         (long long)max_size, (long long)MAX_TOKENS), NULL;
    if (max_size == 0) max_size = kind == CX_TOKENS_WORDS ? WORDS_DEFAULT_MAX : MAX_TOKENS;
    cx_vocab *all = cx__calloc(sizeof *all);
    if (!all) return NULL;
    all->kind = kind;
    all->unk = -1;
    for (size_t pos = 0; pos < len;) {
        const char *tok;
        size_t n;
        next_token(text, len, &pos, kind, &tok, &n);
        int64_t id = lookup(all, tok, n);
        if (id < 0 && (all->n >= MAX_TOKENS * 4 || (id = add_token(all, tok, n)) < 0)) {
            cx_vocab_free(all);
            return cx__error(CX_ERR_OOM, "vocabulary: out of memory (or over %lld distinct "
                             "tokens)", (long long)(MAX_TOKENS * 4)), NULL;
        }
        all->counts[id]++;
    }
    int64_t *order = cx__alloc((size_t)all->n * sizeof *order);
    if (!order) {
        cx_vocab_free(all);
        return NULL;
    }
    for (int64_t i = 0; i < all->n; i++) order[i] = i;
    sort_vocab = all;
    qsort(order, (size_t)all->n, sizeof *order, by_count);
    bool unk = kind == CX_TOKENS_WORDS || all->n > max_size;
    int64_t keep = all->n < max_size - (unk ? 1 : 0) ? all->n : max_size - (unk ? 1 : 0);
    cx_vocab *v = subset(all, order, keep, unk);
    cx__free(order);
    cx_vocab_free(all);
    return v;
}

cx_token_kind cx_vocab_kind(const cx_vocab *v) { return v ? v->kind : CX_TOKENS_CHARS; }
int64_t cx_vocab_size(const cx_vocab *v) { return v ? v->n : 0; }
const char *cx_vocab_token(const cx_vocab *v, int64_t id) {
    return v && id >= 0 && id < v->n ? v->tokens[id] : NULL;
}

cx_tensor *cx_vocab_encode(const cx_vocab *v, const char *text, size_t len) {
    if (!v || (!text && len)) return cx__error(CX_ERR_ARG, "vocab encode: NULL argument"), NULL;
    /* at most one token per byte: count first so the tensor has its exact size */
    int64_t count = 0;
    for (size_t pos = 0; pos < len; count++) {
        const char *tok;
        size_t n;
        next_token(text, len, &pos, v->kind, &tok, &n);
    }
    cx_tensor *ids = cx_tensor_new(CX_DTYPE_I32, 1, &count);
    if (!ids) return NULL;
    int32_t *d = cx__i32(ids);
    int64_t k = 0;
    for (size_t pos = 0; pos < len; k++) {
        const char *tok;
        size_t n;
        size_t at = pos;
        next_token(text, len, &pos, v->kind, &tok, &n);
        int64_t id = lookup(v, tok, n);
        if (id < 0) id = v->unk;
        if (id < 0) {
            cx_tensor_free(ids);
            return cx__error(CX_ERR_ARG, "vocab encode: '%.*s' (byte %zu) is not in the "
                             "vocabulary of %lld tokens", (int)(n < 32 ? n : 32), tok, at,
                             (long long)v->n), NULL;
        }
        d[k] = (int32_t)id;
    }
    return ids;
}

/* ---- JSON ---- */

char *cx_vocab_to_json(const cx_vocab *v) {
    if (!v) return cx__error(CX_ERR_ARG, "vocab to json: NULL vocabulary"), NULL;
    json_t *j = json_object(), *tokens = json_array();
    json_object_set_new(j, "kind", json_string(v->kind == CX_TOKENS_WORDS ? "words" : "chars"));
    for (int64_t i = 0; i < v->n; i++) json_array_append_new(tokens, json_string(v->tokens[i]));
    json_object_set_new(j, "tokens", tokens);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s) cx__error(CX_ERR_OOM, "vocab to json: out of memory");
    return s;
}

cx_vocab *cx_vocab_from_json(const char *text) {
    if (!text) return cx__error(CX_ERR_FORMAT, "vocabulary: none stored"), NULL;
    json_error_t err;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    const json_t *kind = json_object_get(j, "kind"), *tokens = json_object_get(j, "tokens");
    const char *bad = !j ? err.text
                      : !json_is_string(kind) ? "no kind"
                      : !json_is_array(tokens) ? "no token list"
                      : json_array_size(tokens) < 1 || (int64_t)json_array_size(tokens) > MAX_TOKENS
                          ? "1 to 2^20 tokens expected"
                          : NULL;
    cx_vocab *v = NULL;
    if (!bad) {
        const char *k = json_string_value(kind);
        if (strcmp(k, "chars") && strcmp(k, "words")) bad = "kind is neither chars nor words";
    }
    if (!bad && !(v = cx__calloc(sizeof *v))) bad = "out of memory";
    if (!bad) {
        v->kind = strcmp(json_string_value(kind), "words") == 0 ? CX_TOKENS_WORDS
                                                                : CX_TOKENS_CHARS;
        v->unk = -1;
    }
    for (size_t i = 0; !bad && i < json_array_size(tokens); i++) {
        const json_t *t = json_array_get(tokens, i);
        size_t n = json_is_string(t) ? json_string_length(t) : 0;
        const char *s = json_is_string(t) ? json_string_value(t) : NULL;
        if (!s || n == 0 || n > MAX_TOKEN_BYTES || strlen(s) != n)
            bad = "a token is not a string of 1 to 256 bytes";
        else if (lookup(v, s, n) >= 0)
            bad = "a token appears twice";
        else if (add_token(v, s, n) < 0)
            bad = "out of memory";
        else if (strcmp(s, UNK) == 0)
            v->unk = v->n - 1;
    }
    json_decref(j);
    if (bad) {
        cx_vocab_free(v);
        return cx__error(CX_ERR_FORMAT, "vocabulary: %s", bad), NULL;
    }
    return v;
}
