/*
 * qtable_io.c - Q-tables as safetensors files: the f32 tensor "q" [states, moves] and the
 * metadata format = "cortex-qtable", version = "1", game, games (trained so far) and crc32
 * (zlib's CRC-32 of the table's bytes, in hex), so that damage anywhere in the file is an
 * error instead of a wrong table.
 */
#include "rl/qtable_impl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define FORMAT "cortex-qtable"
#define VERSION "1"

static unsigned long table_crc(const cx_qtable *t) {
    size_t bytes = (size_t)t->n_states * (size_t)t->n_actions * sizeof *t->q;
    return crc32(crc32(0L, Z_NULL, 0), (const Bytef *)t->q, (uInt)bytes);
}

cx_status cx_qtable_save(const cx_qtable *t, const char *path) {
    if (!t || !path) return cx__error(CX_ERR_ARG, "cx_qtable_save: NULL argument");
    cx_tensor *q = cx_from_data(CX_DTYPE_F32, CX_SHAPE(t->n_states, t->n_actions), t->q);
    if (!q) return cx_last_status();
    char games[32], crc[16];
    snprintf(games, sizeof games, "%lld", (long long)t->games);
    snprintf(crc, sizeof crc, "%08lx", table_crc(t));
    const char *keys[] = {"format", "version", "game", "games", "crc32"};
    const char *values[] = {FORMAT, VERSION, t->game, games, crc};
    cx_status st = cx_safetensors_save(path, 1, (const char *[]){"q"}, &q, 5, keys, values);
    cx_tensor_free(q);
    return st;
}

/* The metadata value for key, or NULL after an error naming path and key. */
static const char *meta(const cx_safetensors *f, const char *path, const char *key) {
    const char *v = cx_safetensors_metadata(f, key);
    if (!v) cx__error(CX_ERR_FORMAT, "%s: the Q-table's metadata has no '%s'", path, key);
    return v;
}

static cx_qtable *read_table(const cx_safetensors *f, const char *path, const char *expected) {
    const char *format = cx_safetensors_metadata(f, "format");
    if (!format || strcmp(format, FORMAT) != 0) {
        cx__error(CX_ERR_FORMAT, "%s is not a Cortex Q-table (its metadata lacks format = "
                                 "\"" FORMAT "\")", path);
        return NULL;
    }
    const char *version = meta(f, path, "version"), *game = meta(f, path, "game");
    const char *games = meta(f, path, "games"), *crc = meta(f, path, "crc32");
    if (!version || !game || !games || !crc) return NULL;
    if (strcmp(version, VERSION) != 0) {
        cx__error(CX_ERR_FORMAT, "%s: Q-table version '%s' is not supported (this build reads "
                                 VERSION ")", path, version);
        return NULL;
    }
    cx_env *env = cx_env_new(game, CX_OPPONENT_RANDOM, CX_FIRST_EITHER);
    if (!env) {
        cx__error(CX_ERR_FORMAT, "%s: the Q-table is for an unknown game '%.40s'", path, game);
        return NULL;
    }
    int n_states = cx_env_num_states(env), n_actions = cx_env_num_actions(env);
    cx_env_free(env);
    if (expected && strcmp(expected, game) != 0) {
        cx__error(CX_ERR_ARG, "%s holds a Q-table for %s, not for %s", path, game, expected);
        return NULL;
    }
    char *end;
    errno = 0;
    long long n_games = strtoll(games, &end, 10);
    if (errno || end == games || *end || n_games < 0) {
        cx__error(CX_ERR_FORMAT, "%s: games = '%.40s' is not a count", path, games);
        return NULL;
    }
    cx_tensor *q = cx_safetensors_has(f, "q") ? cx_safetensors_get(f, "q") : NULL;
    if (!q) {
        if (!cx_safetensors_has(f, "q"))
            cx__error(CX_ERR_FORMAT, "%s: the Q-table has no tensor 'q'", path);
        return NULL;
    }
    cx_qtable *t = NULL;
    char shape[CX_SHAPE_STR_MAX];
    if (cx_tensor_dtype(q) != CX_DTYPE_F32 || cx_tensor_ndim(q) != 2 ||
        cx_tensor_dim(q, 0) != n_states || cx_tensor_dim(q, 1) != n_actions) {
        cx__error(CX_ERR_FORMAT, "%s: tensor 'q' is %s %s; a %s table is f32 [%d,%d]", path,
                  cx_dtype_name(cx_tensor_dtype(q)), cx_tensor_shape_str(q, shape, sizeof shape),
                  game, n_states, n_actions);
    } else if ((t = cx__qtable_alloc(game, n_states, n_actions))) {
        memcpy(t->q, cx_tensor_f32(q), (size_t)n_states * (size_t)n_actions * sizeof *t->q);
        t->games = n_games;
        char want[16];
        snprintf(want, sizeof want, "%08lx", table_crc(t));
        int64_t bad = -1;
        for (int64_t i = 0; bad < 0 && i < (int64_t)n_states * n_actions; i++)
            if (!isfinite(t->q[i])) bad = i;
        if (strcmp(want, crc) != 0 || bad >= 0) {
            cx__error(CX_ERR_FORMAT, "%s is damaged: %s", path,
                      bad >= 0 ? "the table holds a value that is not finite"
                               : "its values do not match their checksum (crc32)");
            cx_qtable_free(t);
            t = NULL;
        }
    }
    cx_tensor_free(q);
    return t;
}

cx_qtable *cx_qtable_load(const char *path, const char *expected_game) {
    if (!path) return cx__error(CX_ERR_ARG, "cx_qtable_load: path is NULL"), NULL;
    cx_safetensors *f = cx_safetensors_open(path);
    if (!f) return NULL;
    cx_qtable *t = read_table(f, path, expected_game);
    cx_safetensors_close(f);
    return t;
}
