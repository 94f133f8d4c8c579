/*
 * cli.c - option parsing and error reporting shared by the `cortex` subcommands.
 * Options are "--name value" or "--name=value"; unknown options are errors that list the
 * valid ones (a typo must not silently train with defaults).
 */
#include "cli.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double cli_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int cli_fail(const char *msg) {
    fprintf(stderr, "cortex: error: %s\n", msg ? msg : cx_last_error());
    return CLI_FAIL;
}

int cli_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("cortex: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_USAGE;
}

void cli_print_help(const cli_command *cmd, FILE *out) {
    fprintf(out, "usage: cortex %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->about);
    if (cmd->n_options) fprintf(out, "\noptions:\n");
    for (int i = 0; i < cmd->n_options; i++) {
        const cli_option *o = &cmd->options[i];
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        fprintf(out, "  %-24s %s\n", left, o->help);
    }
    fprintf(out, "  %-24s %s\n", "--help", "show this help");
}

static int parse_value(const cli_command *cmd, const cli_option *o, const char *v) {
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case OPT_FLAG:
        return CLI_OK;
    case OPT_STRING:
        *(const char **)o->value = v;
        return CLI_OK;
    case OPT_INT: {
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end || x < -2147483647L || x > 2147483647L) break;
        *(int *)o->value = (int)x;
        return CLI_OK;
    }
    case OPT_INT64: {
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end) break;
        *(int64_t *)o->value = x;
        return CLI_OK;
    }
    case OPT_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end || *v == '-') break;
        *(uint64_t *)o->value = x;
        return CLI_OK;
    }
    case OPT_FLOAT: {
        float x = strtof(v, &end);
        if (errno || end == v || *end || !isfinite(x)) break;
        *(float *)o->value = x;
        return CLI_OK;
    }
    }
    static const char *const kinds[] = {
        "", "an integer", "an integer", "a non-negative integer", "a number", "a string"};
    return cli_usage_error("%s %s: '%s' is not %s", cmd->name, o->name, v, kinds[o->kind]);
}

int cli_parse(cli_command *cmd, int argc, char **argv, const char **pos) {
    int n_pos = 0;
    for (int i = 0; i < cmd->max_pos; i++)
        pos[i] = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cli_print_help(cmd, stdout);
            return CLI_HELP;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (n_pos >= cmd->max_pos)
                return cli_usage_error("%s: unexpected argument '%s' (usage: cortex %s %s)",
                                       cmd->name, a, cmd->name, cmd->usage);
            pos[n_pos++] = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const cli_option *o = NULL;
        for (int k = 0; k < cmd->n_options && k < 64; k++)
            if (strlen(cmd->options[k].name) == len && strncmp(cmd->options[k].name, a, len) == 0)
                o = &cmd->options[k], cmd->seen |= (uint64_t)1 << k;
        if (!o) {
            fprintf(stderr, "cortex: error: %s: unknown option '%.*s'; valid options:", cmd->name,
                    (int)len, a);
            for (int k = 0; k < cmd->n_options; k++)
                fprintf(stderr, " %s", cmd->options[k].name);
            fprintf(stderr, " --help\n");
            return CLI_USAGE;
        }
        if (o->kind == OPT_FLAG) {
            if (eq) return cli_usage_error("%s: %s takes no value", cmd->name, o->name);
            *(bool *)o->value = true;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) return cli_usage_error("%s: %s needs a value (%s)", cmd->name, o->name, o->metavar);
        int rc = parse_value(cmd, o, v);
        if (rc != CLI_OK) return rc;
    }
    if (n_pos < cmd->min_pos)
        return cli_usage_error("%s: missing arguments (usage: cortex %s %s)", cmd->name, cmd->name,
                               cmd->usage);
    return CLI_OK;
}

/* ---- [train]-style sections of config files ---- */

typedef struct {
    cli_command *cmd;
    const char *path, *section;
    uint64_t given;  /* the options the command line gave: they win */
    char pool[4096]; /* copies of string values (inih's last only for the call) */
    size_t used;
    int rc;
} defaults_state;

static bool parse_bool(const char *v, bool *out) {
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no",
                                                                                "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0) return *out = true, true;
        if (strcmp(v, no[i]) == 0) return *out = false, true;
    }
    return false;
}

static int on_default(void *user, const char *section, const char *key, const char *value) {
    defaults_state *st = user;
    cli_command *cmd = st->cmd;
    if (st->rc != CLI_OK || strcmp(section, st->section) != 0) return 1;
    int k = 0;
    while (k < cmd->n_options && k < 64 && strcmp(cmd->options[k].name + 2, key) != 0)
        k++;
    const cli_option *o = &cmd->options[k];
    if (k == cmd->n_options || k == 64) {
        fprintf(stderr, "cortex: error: %s: [%s] unknown key '%s'; valid keys:", st->path,
                st->section, key);
        for (int i = 0; i < cmd->n_options; i++)
            fprintf(stderr, " %s", cmd->options[i].name + 2);
        fprintf(stderr, "\n");
        st->rc = CLI_USAGE;
        return 1;
    }
    if (st->given >> k & 1) return 1;
    cmd->seen |= (uint64_t)1 << k;
    size_t len = strlen(value) + 1;
    if (o->kind == OPT_FLAG) {
        if (!parse_bool(value, (bool *)o->value))
            st->rc = cli_usage_error("%s: [%s] %s = %s: need true or false", st->path, st->section,
                                     key, value);
    } else if (o->kind == OPT_STRING) {
        if (st->used + len > sizeof st->pool) {
            st->rc = cli_usage_error("%s: [%s] holds more than %zu bytes of text", st->path,
                                     st->section, sizeof st->pool);
            return 1;
        }
        *(const char **)o->value = memcpy(st->pool + st->used, value, len);
        st->used += len;
    } else {
        st->rc = parse_value(cmd, o, value);
    }
    return 1;
}

int cli_config_defaults(cli_command *cmd, const char *path, const char *section) {
    static defaults_state st; /* keeps the string values for the run */
    FILE *f = fopen(path, "rb");
    if (!f) return CLI_OK; /* the model loader reports the unreadable file */
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    st = (defaults_state){.cmd = cmd, .path = path, .section = section, .given = cmd->seen};
    ini_parse_string(text, on_default, &st); /* syntax errors: the model loader's to report */
    return st.rc;
}

bool cli_seen(const cli_command *cmd, const char *name) {
    for (int k = 0; k < cmd->n_options; k++)
        if (strcmp(cmd->options[k].name, name) == 0) return k < 64 && (cmd->seen >> k & 1);
    return false;
}

int cli_set_threads(int threads) {
    if (threads == 0) return CLI_OK;
    if (cx_set_num_threads(threads) != CX_OK) return cli_usage_error("%s", cx_last_error());
    return CLI_OK;
}

int cli_set_matmul(const char *precision) {
    if (!precision) return CLI_OK;
    if (strcmp(precision, "float32") == 0) cx_set_matmul_precision(CX_MATMUL_FLOAT32);
    else if (strcmp(precision, "bf16") == 0) cx_set_matmul_precision(CX_MATMUL_BF16);
    else return cli_usage_error("--matmul %s; choose float32 or bf16", precision);
    return CLI_OK;
}

int cli_join_job(int threads) {
    if (cx_dist_init(NULL, NULL) != CX_OK) return cli_fail(NULL);
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    int here = local ? atoi(local) : 1;
    if (threads || getenv("CX_NUM_THREADS") || here <= 1) return CLI_OK;
    int share = cx_get_num_threads() / here;
    cx_set_num_threads(share > 0 ? share : 1);
    return CLI_OK;
}

const char *cli_class_name(const char *dataset, int cls) {
    static const char *const fashion[] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                          "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                          "Bag",         "Ankle boot"};
    if (dataset && strcmp(dataset, "fashion-mnist") == 0 && cls >= 0 && cls < 10)
        return fashion[cls];
    return NULL;
}

/* The image as one model input [1, sample shape...]: C x H x W from the model's input shape,
 * or a square grey picture for a flat input (784 = 28 x 28). */
cx_tensor *cli_image_input(cx_model *m, const char *path, const cx_loader_params *norm,
                           bool *inverted) {
    int64_t shape[CX_MAX_DIMS];
    int nd = cx_model_input_shape(m, shape);
    int64_t c = 1, h, w;
    if (nd == 3) {
        c = shape[0], h = shape[1], w = shape[2];
    } else {
        int64_t n = 1;
        for (int i = 0; i < nd; i++)
            n *= shape[i];
        for (h = 1; h * h < n; h++)
            continue;
        w = h;
        if (h * w != n) {
            fprintf(stderr, "cortex: error: predict: the model's input shape is not an image\n");
            return NULL;
        }
    }
    if (c != 1 && c != 3) {
        fprintf(stderr,
                "cortex: error: predict: the model takes %lld channels; images have 1 "
                "or 3\n",
                (long long)c);
        return NULL;
    }
    cx_tensor *img = cx_image_load(path, (int)c, h, w);
    if (!img) return cli_fail(NULL), NULL;
    float *v = cx_tensor_f32(img);
    int64_t n = cx_tensor_numel(img);
    double mean = 0;
    for (int64_t i = 0; i < n; i++)
        mean += v[i];
    *inverted = mean / (double)n > 0.5;
    /* training saw (u8 * scale - mean) / std with scale 0 meaning 1/255; v is u8 / 255 */
    float scale = norm->scale > 0 ? norm->scale * 255.0f : 1.0f;
    float std = norm->std > 0 ? norm->std : 1.0f;
    for (int64_t i = 0; i < n; i++) {
        float x = *inverted ? 1.0f - v[i] : v[i];
        v[i] = (x * scale - norm->mean) / std;
    }
    int64_t batch_shape[CX_MAX_DIMS + 1] = {1};
    memcpy(batch_shape + 1, shape, (size_t)nd * sizeof *shape);
    cx_tensor *x = cx_reshape(img, nd + 1, batch_shape);
    if (!x) cli_fail(NULL);
    return x;
}

int cli_parse_progress(const char *name, cx_progress *p) {
    static const char *const names[] = {"auto", "bar", "lines", "none"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return *p = (cx_progress)i, CLI_OK;
    return cli_usage_error("--progress: '%s' is not one of auto, bar, lines, none", name);
}
