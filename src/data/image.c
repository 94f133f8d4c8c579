/*
 * image.c - image files through stb (Debian libstb: the implementations are in libstb.so, so
 * only the declarations are included here). Tensors are f32 [C, H, W] in 0..1, C = 1 (grey)
 * or 3 (RGB); files are interleaved 8-bit [H, W, C].
 *
 * Loading checks the size stb reports before decoding (a few header bytes can claim a
 * gigapixel image), converts channels with stb (grey = (77 R + 150 G + 29 B) / 256), and
 * resizes with a triangle filter (resize.c): bilinear when enlarging, an area-weighted
 * average when shrinking (no aliasing). Saving writes a PNG atomically (tmp file + rename).
 */
#include "data_impl.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#define MAX_SIDE (1 << 15)

int64_t cx__image_max_pixels = (int64_t)1 << 26; /* 64 Mpx: 768 MiB as f32 RGB */

/* Checks an image size (from a file or a request); false with an error naming path. */
static bool size_ok(const char *who, const char *path, int64_t h, int64_t w) {
    if (h < 1 || w < 1 || h > MAX_SIDE || w > MAX_SIDE || h * w > cx__image_max_pixels) {
        cx__error(CX_ERR_ARG, "%s: %s: image size %lldx%lld is outside 1..%d per side and %lld "
                  "pixels", who, path, (long long)w, (long long)h, MAX_SIDE,
                  (long long)cx__image_max_pixels);
        return false;
    }
    return true;
}

static const char *stb_reason(void) {
    const char *r = stbi_failure_reason();
    return r ? r : "unknown error";
}

/* src [h, w, c] (floats, or bytes when bytes != NULL) -> dst [c, h, w] f32 clamped to 0..1. */
static void to_chw(const float *src, const uint8_t *bytes, int64_t h, int64_t w, int c,
                   float *dst) {
    int64_t plane = h * w;
    for (int64_t p = 0; p < plane; p++) {
        for (int k = 0; k < c; k++) {
            float v = bytes ? (float)bytes[p * c + k] / 255.0f : src[p * c + k];
            dst[k * plane + p] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
        }
    }
}

/* Resizes the decoded pixels (w x h x c bytes) into t [c, oh, ow]. */
static cx_status resize_into(const char *path, const uint8_t *pix, int w, int h, int c,
                             cx_tensor *t) {
    int oh = (int)t->shape[1], ow = (int)t->shape[2];
    size_t n_in = (size_t)w * (size_t)h * (size_t)c, n_out = (size_t)ow * (size_t)oh * (size_t)c;
    float *in = cx__alloc(n_in * sizeof *in), *out = in ? cx__alloc(n_out * sizeof *out) : NULL;
    cx_status st = CX_OK;
    if (!out) {
        st = CX_ERR_OOM;
    } else {
        for (size_t i = 0; i < n_in; i++) in[i] = (float)pix[i] / 255.0f;
        if (!cx__resize_hwc(in, h, w, c, out, oh, ow))
            st = cx__error(CX_ERR_OOM, "cx_image_load: %s: resizing %dx%d to %dx%d failed (out "
                           "of memory)", path, w, h, ow, oh);
        else
            to_chw(out, NULL, oh, ow, c, cx__f32(t));
    }
    cx__free(in);
    cx__free(out);
    return st;
}

/* Reads the next decimal of a PNM header (after whitespace and # comments); -1 if none. */
static long pnm_number(FILE *fp) {
    int ch = fgetc(fp);
    while (ch == '#' || isspace(ch)) {
        if (ch == '#')
            while (ch != EOF && ch != '\n' && ch != '\r') ch = fgetc(fp);
        ch = fgetc(fp);
    }
    long v = -1;
    for (; ch >= '0' && ch <= '9' && v < 1L << 20; ch = fgetc(fp)) v = (v < 0 ? 0 : v * 10) + ch - '0';
    return v; /* the one whitespace byte after the last number is consumed here */
}

/* stb's binary PNM reader (P5 grey, P6 RGB) reads past its buffer when the pixels stop short
 * of what the header says (found by fuzzing): check the length first. True if fp is not such
 * a file or holds all its pixels; fp is rewound. */
static bool pnm_complete(FILE *fp, const char *path, int w, int h, int comp) {
    char magic[2] = {0};
    bool pnm = fread(magic, 1, 2, fp) == 2 && magic[0] == 'P' && (magic[1] == '5' || magic[1] == '6');
    long width = pnm ? pnm_number(fp) : 0, height = pnm ? pnm_number(fp) : 0;
    long maxval = pnm ? pnm_number(fp) : 0, start = ftell(fp), end = -1;
    if (pnm && fseek(fp, 0, SEEK_END) == 0) end = ftell(fp);
    rewind(fp);
    if (!pnm) return true;
    int64_t need = (int64_t)w * h * comp * (maxval > 255 ? 2 : 1);
    if (width != w || height != h || maxval < 1 || maxval > 65535 || start < 0 ||
        end - start < need) {
        cx__error(CX_ERR_FORMAT, "cx_image_load: %s: a PNM picture of %dx%d needs %lld bytes of "
                  "pixels; the file holds %ld after its header (truncated?)", path, w, h,
                  (long long)need, end - start > 0 ? end - start : 0);
        return false;
    }
    return true;
}

/* Decodes the open file fp into a new tensor. */
static cx_tensor *decode(FILE *fp, const char *path, int channels, int64_t height,
                         int64_t width) {
    const char *who = "cx_image_load";
    int w, h, comp;
    if (!stbi_info_from_file(fp, &w, &h, &comp)) {
        cx__error(CX_ERR_FORMAT, "%s: %s: not a readable image: %s", who, path, stb_reason());
        return NULL;
    }
    if (!size_ok(who, path, h, w) || !pnm_complete(fp, path, w, h, comp)) return NULL;
    int c = channels ? channels : comp <= 2 ? 1 : 3; /* alpha is dropped */
    int fw, fh, fc;
    uint8_t *pix = stbi_load_from_file(fp, &fw, &fh, &fc, c);
    if (!pix) {
        cx__error(CX_ERR_FORMAT, "%s: %s: cannot decode: %s", who, path, stb_reason());
        return NULL;
    }
    cx_tensor *t = NULL;
    if (fw != w || fh != h) {
        cx__error(CX_ERR_FORMAT, "%s: %s: decoded %dx%d, the header said %dx%d", who, path, fw,
                  fh, w, h);
    } else {
        int64_t oh = height ? height : h, ow = width ? width : w;
        if (size_ok(who, path, oh, ow)) /* one side kept from the file may make it too big */
            t = cx__tensor_empty(CX_DTYPE_F32, 3, (const int64_t[]){c, oh, ow});
        if (t && (oh != h || ow != w) && resize_into(path, pix, w, h, c, t) != CX_OK) {
            cx_tensor_free(t);
            t = NULL;
        } else if (t && oh == h && ow == w) {
            to_chw(NULL, pix, h, w, c, cx__f32(t));
        }
    }
    stbi_image_free(pix);
    return t;
}

cx_tensor *cx_image_load(const char *path, int channels, int64_t height, int64_t width) {
    const char *who = "cx_image_load";
    if (!path) {
        cx__error(CX_ERR_ARG, "%s: path is NULL", who);
        return NULL;
    }
    if (channels != 0 && channels != 1 && channels != 3) {
        cx__error(CX_ERR_ARG, "%s: %s: channels is %d; use 1 (grey), 3 (RGB) or 0 (as stored)",
                  who, path, channels);
        return NULL;
    }
    if ((height || width) && !size_ok(who, path, height ? height : 1, width ? width : 1))
        return NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        cx__error(CX_ERR_IO, "%s: cannot open %s: %s", who, path, strerror(errno));
        return NULL;
    }
    cx_tensor *t = decode(fp, path, channels, height, width);
    fclose(fp);
    return t;
}

/* ---- saving ---- */

typedef struct {
    const uint8_t *pix; /* [h, w, c] */
    int w, h, c;
    int err; /* errno of a failed write, else 0 */
    int fd;
} png_ctx;

static void png_out(void *context, void *data, int size) {
    png_ctx *p = context;
    if (!p->err && size > 0 && !cx__write_all(p->fd, data, (size_t)size)) p->err = errno;
}

static cx_status png_fill(int fd, const char *tmp, void *ctx) {
    png_ctx *p = ctx;
    p->fd = fd;
    if (!stbi_write_png_to_func(png_out, p, p->w, p->h, p->c, p->pix, p->w * p->c))
        return cx__error(CX_ERR_OOM, "cx_image_save_png: encoding %s failed (out of memory)",
                         tmp);
    if (p->err)
        return cx__error(CX_ERR_IO, "cx_image_save_png: writing %s failed: %s", tmp,
                         strerror(p->err));
    return CX_OK;
}

cx_status cx_image_save_png(const char *path, cx_tensor *image) {
    const char *who = "cx_image_save_png";
    if (!cx__check_f32(who, "image", image)) return cx_last_status();
    const cx_tensor *t = image;
    char s[CX_SHAPE_STR_MAX];
    bool grey2d = t->ndim == 2;
    if (!grey2d && (t->ndim != 3 || (t->shape[0] != 1 && t->shape[0] != 3)))
        return cx__error(CX_ERR_SHAPE, "%s: %s: image must be [C, H, W] with C = 1 or 3 (or "
                         "[H, W]), got %s", who, path ? path : "(null)",
                         cx__shape_str(t->ndim, t->shape, s, sizeof s));
    int c = grey2d ? 1 : (int)t->shape[0];
    int64_t h = t->shape[t->ndim - 2], w = t->shape[t->ndim - 1];
    if (!size_ok(who, path ? path : "(null)", h, w)) return cx_last_status();
    int64_t sc = grey2d ? 0 : t->stride[0], sy = t->stride[t->ndim - 2];
    int64_t sx = t->stride[t->ndim - 1];

    uint8_t *pix = cx__alloc((size_t)(h * w * c));
    if (!pix) return CX_ERR_OOM;
    const float *src = cx__f32(t);
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++)
            for (int k = 0; k < c; k++) {
                float v = src[k * sc + y * sy + x * sx];
                v = v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f; /* NaN becomes 0 too */
                pix[(y * w + x) * c + k] = (uint8_t)lrintf(v * 255.0f);
            }
    png_ctx ctx = {pix, (int)w, (int)h, c, 0, -1};
    cx_status st = cx__write_atomic(who, path, png_fill, &ctx);
    cx__free(pix);
    return st;
}
