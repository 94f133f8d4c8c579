/*
 * config.c - model config text <-> model (the language is described in cortex/nn.h).
 *
 * Parsed with inih. inih reports only key = value pairs, without line numbers, so sections
 * without keys ([relu], [flatten]) and repeated sections ([dense] twice) would be invisible.
 * inih reads through our line reader, which therefore counts lines, and after every line that
 * opens a section (first non-blank character '[', inih's own test) hands inih one extra line
 * "__cx_section__ =": inih reports it with the new section's name, which tells the handler
 * that a section begins, and where. A user key of that name is not mistaken for it: the
 * reader flags the lines it made up.
 *
 * The model is built as the text is read: a section is added when the next one begins (or
 * the text ends), so every error names the line of its section, and references to earlier
 * layers (`input = block1`, `from = -3`) resolve while a section is read, since every earlier
 * section is in the model by then. Sizes are checked before anything is allocated: 1 MiB of
 * text, CX_MODEL_MAX_LAYERS layers, key ranges, and the model's parameter limit (checked by
 * cx__model_add before it grows the buffers).
 */
#include "nn/layer.h" /* defines: layer kinds and keys, cx__model_add */

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define CONFIG_MAX_BYTES ((size_t)1 << 20)
#define MARKER "__cx_section__"

static const char *const loss_names[] = {"cross_entropy", "mse", "bce", NULL};
static const char *const param_names_names[] = {"index", "layer", NULL}; /* cx_param_names */

/* [model]'s settings other than input (which has its own parser). */
typedef struct {
    int loss;
    int param_names;
} model_args;
static const model_args model_defaults = {CX_LOSS_CROSS_ENTROPY, CX_PARAM_NAMES_INDEX};
static const cx_layer_key model_keys[] = {
    CX_KEY("loss", CX_KEY_ENUM, model_args, loss, .choices = loss_names),
    CX_KEY("param_names", CX_KEY_ENUM, model_args, param_names, .choices = param_names_names),
    CX_KEY_END,
};

typedef struct {
    const char *source; /* for messages */
    const char *text;
    size_t pos;
    int line;    /* the line inih is handling (1-based) */
    bool inject; /* the next read hands inih the marker */
    bool marker; /* the line inih is handling is the marker */
    cx_rng *rng;
    cx_model *m;

    /* the section being read */
    bool in_section, is_model;
    bool in_train, seen_train; /* in / after the [train] section, which the model skips */
    const cx_layer_kind *kind;
    int sec_line, n_sections;
    _Alignas(8) unsigned char args[CX_LAYER_ARGS_MAX];
    uint64_t given;                  /* bit k: key k was set; GIVEN_* for the common keys */
    const cx_layer_kind *activation; /* `activation = relu`: a layer to add after this one */
    char name[CX_LAYER_NAME_MAX];    /* `name = ...`: the name of the section's output */
    int input;                       /* `input = ...`, else CX_INPUT_PREVIOUS */
    bool frozen;                     /* `trainable = false` */
    bool shapes_only;
    int in_ndim;
    int64_t in_shape[CX_MAX_DIMS];

    bool failed;
    cx_status status;
    int err_line;
    char err[768];
} parse_state;

/* Keys every layer section takes besides its kind's, as bits of parse_state.given. */
#define GIVEN_NAME ((uint64_t)1 << 61)
#define GIVEN_INPUT ((uint64_t)1 << 62)
#define GIVEN_TRAINABLE ((uint64_t)1 << 63)
#define COMMON_KEYS "name, input, trainable"

static void fail(parse_state *ps, int line, cx_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(parse_state *ps, int line, cx_status st, const char *fmt, ...) {
    if (ps->failed) return;
    ps->failed = true;
    ps->status = st;
    ps->err_line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err, sizeof ps->err, fmt, ap);
    va_end(ap);
}

/* ---- reading lines for inih ---- */

static size_t leading_blanks(const char *line, size_t len) {
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
        i++;
    return i;
}

static bool opens_section(const char *line, size_t len) {
    size_t i = leading_blanks(line, len);
    return i < len && line[i] == '[';
}

static char *read_line(char *str, int num, void *stream) {
    parse_state *ps = stream;
    if (ps->failed) return NULL; /* stop at the first error */
    ps->marker = ps->inject;
    if (ps->inject) {
        ps->inject = false;
        snprintf(str, (size_t)num, MARKER " =\n");
        return str;
    }
    const char *start = ps->text + ps->pos;
    if (!*start) return NULL;
    const char *nl = strchr(start, '\n');
    size_t len = nl ? (size_t)(nl - start) : strlen(start);
    ps->line++;
    if (len + 3 > (size_t)num) { /* inih needs room for "\r\n\0" */
        fail(ps, ps->line, CX_ERR_FORMAT, "line is longer than %d characters", num - 3);
        return NULL;
    }
    ps->pos += len + (nl ? 1 : 0);
    ps->inject = opens_section(start, len);
    /* Indentation is dropped: inih would read an indented line as the continuation of the
     * previous value, so an indented "bias = false" would become part of units. */
    size_t skip = leading_blanks(start, len);
    memcpy(str, start + skip, len - skip);
    str[len - skip] = '\n';
    str[len - skip + 1] = '\0';
    return str;
}

/* The text line of inih's reader call number call (inih counts the markers as lines). */
static int text_line(const char *text, int call) {
    int c = 0, line = 0;
    while (*text) {
        const char *nl = strchr(text, '\n');
        size_t len = nl ? (size_t)(nl - text) : strlen(text);
        line++;
        c += opens_section(text, len) ? 2 : 1;
        if (c >= call) return line;
        text += len + (nl ? 1 : 0);
    }
    return line;
}

/* ---- values ---- */

static void key_list(const cx_layer_key *keys, bool activation, char *buf, size_t size) {
    size_t len = 0;
    buf[0] = '\0';
    for (const cx_layer_key *k = keys; k && k->name && len < size; k++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? ", " : "", k->name);
    if (activation && len < size)
        len += (size_t)snprintf(buf + len, size - len, "%sactivation", len ? ", " : "");
    if (len && len < size) snprintf(buf + len, size - len, ", " COMMON_KEYS);
}

static void choice_list(const char *const *choices, char *buf, size_t size) {
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; choices[i] && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "", choices[i]);
}

/* One or two comma-separated whole numbers in [min, max] ("3" means 3,3); false + why. */
static bool parse_pair(const cx_layer_key *k, const char *value, int64_t *dst, char *why,
                       size_t size) {
    const char *p = value;
    int n = 0;
    int64_t v[2];
    for (;;) {
        char *end = NULL;
        errno = 0;
        long long x = strtoll(p, &end, 10);
        if (end == p || errno || x < k->min || x > k->max || n == 2) break;
        v[n++] = x;
        p = end;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p) {
            dst[0] = v[0];
            dst[1] = n == 2 ? v[1] : v[0];
            return true;
        }
        if (*p++ != ',') break;
    }
    snprintf(why, size, "expected a whole number from %.0f to %.0f, or two (height,width) "
             "separated by a comma", k->min, k->max);
    return false;
}

/* An earlier layer by name, "input" (the model input) or -N (N layers before layer here);
 * false + why. */
static bool parse_ref(const parse_state *ps, const char *tok, size_t len, int64_t *dst,
                      char *why, size_t size) {
    int here = cx_model_num_layers(ps->m);
    char name[CX_LAYER_NAME_MAX + 1];
    if (len == 0 || len >= sizeof name) {
        snprintf(why, size, "expected a layer name or -N (N layers back)");
        return false;
    }
    memcpy(name, tok, len);
    name[len] = '\0';
    if (name[0] == '-') {
        char *end = NULL;
        errno = 0;
        long long back = strtoll(name + 1, &end, 10);
        if (*end || end == name + 1 || errno || back < 1 || back > here + 1) {
            snprintf(why, size, "-N counts back from this layer (%d) to an earlier one: N is 1 "
                     "to %d (%d is the model input)", here, here + 1, here + 1);
            return false;
        }
        *dst = here - back;
        return true;
    }
    if (strcmp(name, "input") == 0) {
        *dst = -1;
        return true;
    }
    int i = cx__model_find_layer(ps->m, name);
    if (i < 0) {
        snprintf(why, size, "no earlier layer is called '%s' (names come from `name = ...`; "
                 "-N counts N layers back)", name);
        return false;
    }
    *dst = i;
    return true;
}

static bool parse_shape(const char *value, int *ndim, int64_t *shape, char *why, size_t size);

/* Parses value into args per key; false with a message in why. */
static bool parse_value(const parse_state *ps, const cx_layer_key *k, const char *value,
                        void *args, char *why, size_t size) {
    char *end = NULL;
    void *dst = (char *)args + k->offset;
    errno = 0;
    switch (k->type) {
    case CX_KEY_PAIR:
        return parse_pair(k, value, dst, why, size);
    case CX_KEY_PADDING: {
        cx_padding_arg *pad = dst;
        pad->same = strcasecmp(value, "same") == 0;
        if (pad->same || strcasecmp(value, "valid") == 0) {
            pad->size[0] = pad->size[1] = 0;
            return true;
        }
        if (parse_pair(k, value, pad->size, why, size)) return true;
        snprintf(why, size, "expected same, valid, or a whole number (two: height,width) from "
                 "%.0f to %.0f", k->min, k->max);
        return false;
    }
    case CX_KEY_LAYER:
        return parse_ref(ps, value, strlen(value), dst, why, size);
    case CX_KEY_LAYERS: {
        cx_layer_refs *r = dst;
        r->n = 0;
        for (const char *p = value;;) {
            while (*p == ' ' || *p == '\t')
                p++;
            size_t len = strcspn(p, ",");
            while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
                len--;
            if (r->n == CX_LAYER_MAX_REFS) {
                snprintf(why, size, "at most %d layers", CX_LAYER_MAX_REFS);
                return false;
            }
            if (!parse_ref(ps, p, len, &r->layer[r->n++], why, size)) return false;
            p = strchr(p, ',');
            if (!p) return true;
            p++;
        }
    }
    case CX_KEY_SHAPE: {
        cx_shape_arg *sh = dst;
        int nd = 0;
        if (!parse_shape(value, &nd, sh->size, why, size)) return false;
        sh->ndim = nd;
        return true;
    }
    case CX_KEY_INT: {
        long long v = strtoll(value, &end, 10);
        if (end == value || *end || errno || v < k->min || v > k->max) {
            snprintf(why, size, "expected a whole number from %.0f to %.0f", k->min, k->max);
            return false;
        }
        *(int64_t *)dst = v;
        return true;
    }
    case CX_KEY_FLOAT: {
        double v = strtod(value, &end);
        if (end == value || *end || !isfinite(v) || v < k->min || v > k->max ||
            (k->max_open && v >= k->max)) {
            snprintf(why, size, "expected a number from %g to %g%s", k->min, k->max,
                     k->max_open ? " (excluded)" : "");
            return false;
        }
        *(float *)dst = (float)v;
        return true;
    }
    case CX_KEY_BOOL: {
        static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no",
                                                                                    "off", "0"};
        for (int i = 0; i < 4; i++) {
            if (strcasecmp(value, yes[i]) == 0 || strcasecmp(value, no[i]) == 0) {
                *(bool *)dst = strcasecmp(value, yes[i]) == 0;
                return true;
            }
        }
        snprintf(why, size, "expected true or false");
        return false;
    }
    case CX_KEY_ENUM: {
        for (int i = 0; k->choices[i]; i++) {
            if (strcasecmp(value, k->choices[i]) == 0) {
                *(int *)dst = i;
                return true;
            }
        }
        char list[256];
        choice_list(k->choices, list, sizeof list);
        snprintf(why, size, "valid values: %s", list);
        return false;
    }
    }
    return false;
}

/* "1,28,28" -> ndim, shape; the first size may be "none" (a sequence of any length: 0);
 * false with a message. */
static bool parse_shape(const char *value, int *ndim, int64_t *shape, char *why, size_t size) {
    const char *p = value;
    int n = 0;
    for (;;) {
        char *end = NULL;
        errno = 0;
        while (*p == ' ' || *p == '\t')
            p++;
        if (n == 0 && strncasecmp(p, "none", 4) == 0) {
            shape[n++] = 0;
            p += 4;
            while (*p == ' ' || *p == '\t')
                p++;
            if (!*p) break;
            if (*p++ != ',') {
                snprintf(why, size, "expected sizes separated by commas, e.g. none,3");
                return false;
            }
            continue;
        }
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 1 || v > CX_DIM_MAX || n == CX_MAX_DIMS - 1) {
            snprintf(why, size,
                     "expected 1 to %d sizes from 1 to %lld separated by commas, "
                     "e.g. 1,28,28 (the first may be none: a sequence of any length)",
                     CX_MAX_DIMS - 1, (long long)CX_DIM_MAX);
            return false;
        }
        shape[n++] = v;
        p = end;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p) break;
        if (*p++ != ',') {
            snprintf(why, size, "expected sizes separated by commas, e.g. 1,28,28");
            return false;
        }
    }
    *ndim = n;
    return true;
}

/* ---- sections ---- */

static const cx_layer_key *section_keys(const parse_state *ps) {
    return ps->is_model ? model_keys : ps->kind->keys;
}

static void fail_layer(parse_state *ps) {
    fail(ps, ps->sec_line, cx_last_status(), "%s", cx_last_error());
}

/* Adds the section just read to the model. */
static void finish_section(parse_state *ps) {
    if (!ps->in_section || ps->failed) return;
    ps->in_section = false;
    const char *name = ps->is_model ? "model" : ps->kind->name;
    int i = 0;
    for (const cx_layer_key *k = section_keys(ps); k && k->name; k++, i++)
        if (k->required && !(ps->given >> i & 1)) {
            fail(ps, ps->sec_line, CX_ERR_FORMAT, "[%s] needs %s = ...", name, k->name);
            return;
        }
    if (ps->is_model) {
        if (!ps->in_ndim) {
            fail(ps, ps->sec_line, CX_ERR_FORMAT,
                 "[model] needs input = the shape of one "
                 "sample, e.g. input = 1,28,28");
            return;
        }
        ps->m = cx_model_new(ps->in_ndim, ps->in_shape);
        if (ps->shapes_only) cx__model_set_shapes_only(ps->m);
        const model_args *ma = (const model_args *)ps->args;
        if (!ps->m || cx_model_set_loss(ps->m, (cx_loss)ma->loss) != CX_OK ||
            cx_model_set_param_names(ps->m, (cx_param_names)ma->param_names) != CX_OK)
            fail_layer(ps);
        return;
    }
    /* the section's name belongs to its output: the activation's when it has one */
    cx_layer_opts main = {.input = ps->input, .name = ps->activation ? NULL : ps->name,
                          .frozen = ps->frozen};
    cx_layer_opts act = {.input = CX_INPUT_PREVIOUS, .name = ps->name};
    int index = cx_model_num_layers(ps->m);
    if (cx__model_add_opts(ps->m, ps->kind, ps->args, &main, ps->rng) != CX_OK ||
        (ps->activation &&
         cx__model_add_opts(ps->m, ps->activation, ps->activation->defaults, &act, NULL) != CX_OK))
        fail_layer(ps);
    else if (ps->frozen && cx_model_layer_num_params(ps->m, index) == 0)
        fail(ps, ps->sec_line, CX_ERR_FORMAT, "[%s] trainable = false: the layer has no "
             "parameters to freeze", name);
}

static void begin_section(parse_state *ps, const char *name) {
    finish_section(ps);
    if (ps->failed) return;
    ps->in_train = strcmp(name, "train") == 0;
    if (ps->in_train) { /* training settings: read by `cortex train`, not by the model */
        if (ps->seen_train) fail(ps, ps->line, CX_ERR_FORMAT, "[train] given twice");
        ps->seen_train = true;
        return;
    }
    bool is_model = strcmp(name, "model") == 0;
    const cx_layer_kind *kind = is_model ? NULL : cx__layer_kind_find(name);
    if (!is_model && !kind) {
        char list[1024];
        fail(ps, ps->line, CX_ERR_FORMAT, "unknown section [%s]; valid sections: model, train, %s", name,
             cx__layer_kind_list(list, sizeof list, false));
        return;
    }
    if (is_model != !ps->m) {
        fail(ps, ps->line, CX_ERR_FORMAT,
             is_model ? "[model] given twice"
                      : "[%s] before [model]: a config starts with [model] and its input shape",
             name);
        return;
    }
    if (!is_model && ++ps->n_sections > CX_MODEL_MAX_LAYERS) {
        fail(ps, ps->line, CX_ERR_FORMAT, "more than %d layers", CX_MODEL_MAX_LAYERS);
        return;
    }
    ps->in_section = true;
    ps->is_model = is_model;
    ps->kind = kind;
    ps->sec_line = ps->line;
    ps->given = 0;
    ps->activation = NULL;
    ps->name[0] = '\0';
    ps->input = CX_INPUT_PREVIOUS;
    ps->frozen = false;
    memcpy(ps->args, is_model ? (const void *)&model_defaults : kind->defaults,
           is_model ? sizeof model_defaults : kind->args_size);
}

/* name, input and trainable, which every layer section takes; false if name is none of them. */
static bool set_common_key(parse_state *ps, const char *name, const char *value) {
    static const char *const keys[] = {"name", "input", "trainable"};
    static const uint64_t bits[] = {GIVEN_NAME, GIVEN_INPUT, GIVEN_TRAINABLE};
    int k = 0;
    while (k < 3 && strcmp(name, keys[k]) != 0)
        k++;
    if (k == 3) return false;
    const char *sec = ps->kind->name;
    char why[512];
    if (ps->given & bits[k]) {
        fail(ps, ps->line, CX_ERR_FORMAT, "[%s] %s is given twice", sec, name);
        return true;
    }
    ps->given |= bits[k];
    if (k == 0) {
        if (strlen(value) >= sizeof ps->name || !value[0])
            fail(ps, ps->line, CX_ERR_FORMAT, "[%s] name = %s: 1 to %d characters", sec, value,
                 CX_LAYER_NAME_MAX - 1);
        else
            snprintf(ps->name, sizeof ps->name, "%s", value);
    } else if (k == 1) {
        int64_t ref = 0;
        for (const cx_layer_key *lk = ps->kind->keys; lk && lk->name; lk++)
            if (lk->type == CX_KEY_LAYERS) {
                fail(ps, ps->line, CX_ERR_FORMAT, "[%s] reads the layers its %s = lists, "
                     "not an input", sec, lk->name);
                return true;
            }
        if (!parse_ref(ps, value, strlen(value), &ref, why, sizeof why))
            fail(ps, ps->line, CX_ERR_FORMAT, "[%s] input = %s: %s", sec, value, why);
        ps->input = (int)ref;
    } else {
        static const cx_layer_key trainable = {.name = "trainable", .type = CX_KEY_BOOL};
        bool on = true;
        if (!parse_value(ps, &trainable, value, &on, why, sizeof why))
            fail(ps, ps->line, CX_ERR_FORMAT, "[%s] trainable = %s: %s", sec, value, why);
        ps->frozen = !on;
    }
    return true;
}

static void set_key(parse_state *ps, const char *name, const char *value) {
    const char *sec = ps->is_model ? "model" : ps->kind->name;
    char why[512];
    if (!ps->is_model && set_common_key(ps, name, value)) return;
    if (ps->is_model && strcmp(name, "input") == 0) {
        if (ps->in_ndim)
            fail(ps, ps->line, CX_ERR_FORMAT, "[model] input is given twice");
        else if (!parse_shape(value, &ps->in_ndim, ps->in_shape, why, sizeof why))
            fail(ps, ps->line, CX_ERR_FORMAT, "[model] input = %s: %s", value, why);
        return;
    }
    if (!ps->is_model && ps->kind->takes_activation && strcmp(name, "activation") == 0) {
        char list[512];
        if (ps->activation)
            fail(ps, ps->line, CX_ERR_FORMAT, "[%s] activation is given twice", sec);
        else if (!(ps->activation = cx__layer_kind_find(value)) || !ps->activation->is_activation)
            fail(ps, ps->line, CX_ERR_FORMAT, "[%s] activation = %s: valid values: %s", sec, value,
                 cx__layer_kind_list(list, sizeof list, true));
        return;
    }
    int i = 0;
    const cx_layer_key *k = section_keys(ps);
    for (; k && k->name && strcmp(k->name, name) != 0; k++)
        i++;
    if (!k || !k->name) {
        char list[512];
        key_list(section_keys(ps), !ps->is_model && ps->kind->takes_activation, list, sizeof list);
        if (ps->is_model) snprintf(list, sizeof list, "input, loss, param_names");
        fail(ps, ps->line, CX_ERR_FORMAT,
             list[0] ? "[%s] has no key '%s'; valid keys: %s"
                     : "[%s] has no key '%s'; it takes no keys%s of its own (every layer takes "
                       COMMON_KEYS ")",
             sec, name, list);
        return;
    }
    if (ps->given >> i & 1) {
        fail(ps, ps->line, CX_ERR_FORMAT, "[%s] %s is given twice", sec, name);
        return;
    }
    ps->given |= (uint64_t)1 << i;
    if (!parse_value(ps, k, value, ps->args, why, sizeof why))
        fail(ps, ps->line, CX_ERR_FORMAT, "[%s] %s = %s: %s", sec, name, value, why);
}

static int on_pair(void *user, const char *section, const char *name, const char *value) {
    parse_state *ps = user;
    if (ps->failed) return 1;
    if (ps->marker && strcmp(name, MARKER) == 0)
        begin_section(ps, section);
    else if (ps->in_train)
        return 1;
    else if (!ps->in_section)
        fail(ps, ps->line, CX_ERR_FORMAT,
             "'%s' comes before any section; a config starts "
             "with [model]",
             name);
    else
        set_key(ps, name, value);
    return 1;
}

/* Lines that open a section ('[' after optional blanks), counted before parsing so that a
 * config of too many layers is refused before any is built; *line: the line of the one past
 * the layer limit (+ 2), if any. */
static int section_count(const char *text, int *line) {
    int n = 0, at = 1;
    for (const char *p = text; *p; at++) {
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '[' && ++n == CX_MODEL_MAX_LAYERS + 3) *line = at;
        p = strchr(p, '\n');
        if (!p) break;
        p++;
    }
    return n;
}

/* Builds the model of text (shapes only if asked); NULL + "source:line: ..." on error. */
static cx_model *parse_config(const char *text, const char *source, cx_rng *rng,
                              bool shapes_only) {
    if (!source) source = "config";
    if (!text) {
        cx__error(CX_ERR_ARG, "cx_model_from_config: text is NULL");
        return NULL;
    }
    if (strnlen(text, CONFIG_MAX_BYTES + 1) > CONFIG_MAX_BYTES) {
        cx__error(CX_ERR_FORMAT, "%s: the config is larger than 1 MiB", source);
        return NULL;
    }
    int line = 0;
    if (section_count(text, &line) > CX_MODEL_MAX_LAYERS + 2) { /* + [model] and [train] */
        cx__error(CX_ERR_FORMAT, "%s:%d: more than %d layers", source, line,
                  CX_MODEL_MAX_LAYERS);
        return NULL;
    }
    parse_state ps = {.source = source, .text = text, .rng = rng, .shapes_only = shapes_only};
    int bad = ini_parse_stream(read_line, &ps, on_pair, &ps);
    finish_section(&ps);
    if (bad > 0) {
        int line = text_line(text, bad);
        if (!ps.failed || line <= ps.err_line) {
            ps.failed = false;
            fail(&ps, line, CX_ERR_FORMAT,
                 "syntax error: expected [section], key = value or a "
                 "comment");
        }
    }
    if (!ps.failed && !ps.m)
        fail(&ps, ps.line ? ps.line : 1, CX_ERR_FORMAT,
             "no [model] section: a config starts "
             "with [model] and input = the shape of one sample");
    if (ps.failed) {
        cx_model_free(ps.m);
        cx__error(ps.status, "%s:%d: %s", source, ps.err_line, ps.err);
        return NULL;
    }
    return ps.m;
}

cx_model *cx_model_from_config(const char *text, const char *source, cx_rng *rng) {
    return parse_config(text, source, rng, false);
}

cx_model *cx_model_from_config_shapes(const char *text, const char *source) {
    return parse_config(text, source, NULL, true);
}

/* Reads path and builds its model (shapes only if asked). */
static cx_model *load_config(const char *path, cx_rng *rng, bool shapes_only) {
    if (!path) {
        cx__error(CX_ERR_ARG, "cx_model_load_config: path is NULL");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    struct stat sb;
    if (!f || fstat(fileno(f), &sb) != 0) {
        cx__error(CX_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        if (f) fclose(f);
        return NULL;
    }
    if (!S_ISREG(sb.st_mode) || (size_t)sb.st_size > CONFIG_MAX_BYTES) {
        fclose(f);
        cx__error(S_ISREG(sb.st_mode) ? CX_ERR_FORMAT : CX_ERR_IO, "%s: %s", path,
                  S_ISREG(sb.st_mode) ? "the config is larger than 1 MiB" : "not a regular file");
        return NULL;
    }
    size_t size = (size_t)sb.st_size;
    char *text = cx__alloc(size + 1);
    size_t got = text ? fread(text, 1, size, f) : 0;
    fclose(f);
    if (!text) return NULL;
    if (got != size) {
        cx__free(text);
        cx__error(CX_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, size);
        return NULL;
    }
    text[size] = '\0';
    cx_model *m = NULL;
    if (strlen(text) != size)
        cx__error(CX_ERR_FORMAT, "%s: the config contains a NUL byte", path);
    else
        m = parse_config(text, path, rng, shapes_only);
    cx__free(text);
    return m;
}

cx_model *cx_model_load_config(const char *path, cx_rng *rng) {
    return load_config(path, rng, false);
}

cx_model *cx_model_load_config_shapes(const char *path) {
    return load_config(path, NULL, true);
}

/* ---- writing ---- */

typedef struct {
    char *buf;
    size_t len, cap;
    bool oom;
} text_buf;

static void put(text_buf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text_buf *t, const char *fmt, ...) {
    if (t->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (t->buf && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 1024) + (size_t)n;
        char *b = cx__alloc(cap);
        if (!b) {
            t->oom = true;
            return;
        }
        if (t->buf) memcpy(b, t->buf, t->len + 1);
        cx__free(t->buf);
        t->buf = b;
        t->cap = cap;
    }
}

/* The shortest "%g" text that reads back as the same float (0.3f -> "0.3", not 0.300000012). */
static void put_float(text_buf *t, const char *name, float v) {
    char s[32];
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(s, sizeof s, "%.*g", digits, (double)v);
        if ((float)strtod(s, NULL) == v) break; /* as parse_value reads it */
    }
    put(t, "%s = %s\n", name, s);
}

/* A reference from layer here to layer ref as the config says it: the model input as
 * "input", a named layer by name, else -N. */
static void put_ref(text_buf *t, const cx_model *m, int here, int64_t ref) {
    const char *name = ref >= 0 ? cx_model_layer_name(m, (int)ref) : "input";
    if (name && name[0])
        put(t, "%s", name);
    else
        put(t, "-%lld", (long long)(here - ref));
}

static void put_pair(text_buf *t, const int64_t *v) {
    if (v[0] == v[1])
        put(t, "%lld\n", (long long)v[0]);
    else
        put(t, "%lld,%lld\n", (long long)v[0], (long long)v[1]);
}

/* Writes the keys whose values differ from the defaults (and the required ones); here is the
 * layer's index, for references. */
static void put_keys(text_buf *t, const cx_layer_key *keys, const void *args,
                     const void *defaults, const cx_model *m, int here) {
    for (const cx_layer_key *k = keys; k && k->name; k++) {
        const char *v = (const char *)args + k->offset, *d = (const char *)defaults + k->offset;
        switch (k->type) {
        case CX_KEY_PAIR:
            if (k->required || memcmp(v, d, 2 * sizeof(int64_t)) != 0) {
                put(t, "%s = ", k->name);
                put_pair(t, (const int64_t *)v);
            }
            break;
        case CX_KEY_PADDING: {
            const cx_padding_arg *p = (const void *)v, *q = (const void *)d;
            if (p->same != q->same || memcmp(p->size, q->size, sizeof p->size) != 0) {
                put(t, "%s = ", k->name);
                if (p->same)
                    put(t, "same\n");
                else
                    put_pair(t, p->size);
            }
            break;
        }
        case CX_KEY_LAYER:
            put(t, "%s = ", k->name);
            put_ref(t, m, here, *(const int64_t *)v);
            put(t, "\n");
            break;
        case CX_KEY_LAYERS: {
            const cx_layer_refs *r = (const void *)v;
            put(t, "%s = ", k->name);
            for (int i = 0; i < r->n; i++) {
                if (i) put(t, ",");
                put_ref(t, m, here, r->layer[i]);
            }
            put(t, "\n");
            break;
        }
        case CX_KEY_SHAPE: {
            const cx_shape_arg *sh = (const void *)v;
            put(t, "%s = ", k->name);
            for (int64_t i = 0; i < sh->ndim; i++)
                put(t, i ? ",%lld" : "%lld", (long long)sh->size[i]);
            put(t, "\n");
            break;
        }
        case CX_KEY_INT:
            if (k->required || *(const int64_t *)v != *(const int64_t *)d)
                put(t, "%s = %lld\n", k->name, (long long)*(const int64_t *)v);
            break;
        case CX_KEY_FLOAT:
            if (k->required || *(const float *)v != *(const float *)d)
                put_float(t, k->name, *(const float *)v);
            break;
        case CX_KEY_BOOL:
            if (k->required || *(const bool *)v != *(const bool *)d)
                put(t, "%s = %s\n", k->name, *(const bool *)v ? "true" : "false");
            break;
        case CX_KEY_ENUM:
            if (k->required || *(const int *)v != *(const int *)d)
                put(t, "%s = %s\n", k->name, k->choices[*(const int *)v]);
            break;
        }
    }
}

char *cx__config_text(const cx_model *m) {
    text_buf t = {0};
    int64_t shape[CX_MAX_DIMS];
    int nd = cx_model_input_shape(m, shape);
    put(&t, "[model]\ninput = ");
    for (int d = 0; d < nd; d++)
        if (shape[d]) put(&t, d ? ",%lld" : "%lld", (long long)shape[d]);
        else put(&t, d ? ",none" : "none");
    put(&t, "\n");
    model_args ma = {cx_model_get_loss(m), cx_model_get_param_names(m)};
    put_keys(&t, model_keys, &ma, &model_defaults, m, 0);
    for (int i = 0; i < cx_model_num_layers(m); i++) {
        const cx_layer *l = cx__model_layer(m, i);
        put(&t, "\n[%s]\n", l->kind->name);
        if (l->name[0]) put(&t, "name = %s\n", l->name);
        if (l->input != i - 1) {
            put(&t, "input = ");
            put_ref(&t, m, i, l->input);
            put(&t, "\n");
        }
        put_keys(&t, l->kind->keys, l->args, l->kind->defaults, m, i);
        if (l->frozen && l->numel) put(&t, "trainable = false\n");
    }
    if (t.oom) {
        cx__free(t.buf);
        return NULL;
    }
    return t.buf;
}
