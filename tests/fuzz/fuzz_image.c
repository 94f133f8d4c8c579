/*
 * fuzz_image.c - libFuzzer target for image loading: the input bytes become a file loaded as
 * stored, as grey and as RGB resized to 7x5. stb decodes; this checks Cortex's size limits,
 * channel conversion and resizing around it. Any crash, sanitizer report or leak is a bug;
 * errors are fine.
 * The pixel limit is lowered to 2^14 (128 x 128): a hundred bytes of RLE can claim a 64 Mpx
 * picture, whose decoding takes a minute under the sanitizers, and even 2^20 pixels held the
 * target to about 30 inputs a second, mostly in the instrumented resizing loops. The size
 * checks, decoders and resizing are the same code for small pictures.
 * Build and run: make fuzz-build && ./build/fuzz/fuzz_image -max_total_time=60 -rss_limit_mb=3072
 */
#include "data/data_impl.h" /* defines: cx__image_max_pixels */
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cx__image_max_pixels = (int64_t)1 << 14;
    const char *path = fuzz_file(data, size);
    if (!path) return 0;
    cx_tensor_free(cx_image_load(path, 0, 0, 0));
    cx_tensor_free(cx_image_load(path, 1, 0, 0));
    cx_tensor_free(cx_image_load(path, 3, 7, 5));
    return 0;
}
