/*
 * transfer.c - starting a model from another one's weights (transfer learning): every tensor
 * whose name and shape agree is copied, the rest keep their fresh initial values and are
 * listed, so a new head on old features loads without ceremony.
 */
#include "cortex_impl.h"

#include <stdarg.h>
#include <string.h>

/* Appends a printf-style line to report (kept NUL-terminated, silently cut when full). */
static void note(char *report, size_t size, size_t *used, const char *fmt, ...) {
    if (!report || *used + 1 >= size) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(report + *used, size - *used, fmt, ap);
    va_end(ap);
    if (n > 0) *used = *used + (size_t)n < size ? *used + (size_t)n : size - 1;
}

static bool same_shape(cx_tensor *a, cx_tensor *b) {
    return cx_tensor_dtype(a) == cx_tensor_dtype(b) && cx_tensor_ndim(a) == cx_tensor_ndim(b) &&
           memcmp(cx_tensor_shape(a), cx_tensor_shape(b),
                  (size_t)cx_tensor_ndim(a) * sizeof(int64_t)) == 0;
}

/* Loads name into dst if f has it with dst's shape; returns 1 if loaded, 0 if skipped (and
 * noted), -1 on a read error. */
static int take(const cx_safetensors *f, const char *name, cx_tensor *dst, char *report,
                size_t size, size_t *used) {
    char a[CX_SHAPE_STR_MAX], b[CX_SHAPE_STR_MAX];
    if (!cx_safetensors_has(f, name)) {
        note(report, size, used, "%s: not in the file (kept its initial values)\n", name);
        return 0;
    }
    cx_tensor *src = cx_safetensors_get(f, name);
    if (!src) return -1;
    int r = 0;
    if (!same_shape(src, dst)) {
        note(report, size, used, "%s: the file has %s %s, the model %s %s (kept its initial "
             "values)\n", name, cx_dtype_name(cx_tensor_dtype(src)),
             cx_tensor_shape_str(src, a, sizeof a), cx_dtype_name(cx_tensor_dtype(dst)),
             cx_tensor_shape_str(dst, b, sizeof b));
    } else {
        size_t bytes = (size_t)cx_tensor_numel(src) * cx_dtype_size(cx_tensor_dtype(src));
        r = cx_tensor_copy_from(dst, cx_tensor_data(src), bytes) == CX_OK ? 1 : -1;
    }
    cx_tensor_free(src);
    return r;
}

cx_status cx_model_init_from(cx_model *m, const cx_safetensors *f, bool strict, int *loaded,
                             char *report, size_t report_size) {
    if (!m || !f) return cx__error(CX_ERR_ARG, "cx_model_init_from: NULL model or file");
    size_t used = 0;
    if (report && report_size) report[0] = '\0';
    int n_params = cx_model_num_param_tensors(m), n_buffers = cx_model_num_buffers(m);
    int got = 0, skipped = 0;
    for (int i = 0; i < n_params + n_buffers; i++) {
        bool is_param = i < n_params;
        const char *name = is_param ? cx_model_param_name(m, i)
                                    : cx_model_buffer_name(m, i - n_params);
        cx_tensor *dst = is_param ? cx_model_param(m, i) : cx_model_buffer(m, i - n_params);
        int r = take(f, name, dst, report, report_size, &used);
        if (r < 0) return cx_last_status();
        got += r;
        skipped += r == 0;
    }
    if (loaded) *loaded = got;
    if (strict && skipped)
        return cx__error(CX_ERR_FORMAT, "cx_model_init_from: %d of %d tensors did not match%s%s",
                         skipped, n_params + n_buffers, report && *report ? ":\n" : "",
                         report ? report : "");
    return CX_OK;
}
