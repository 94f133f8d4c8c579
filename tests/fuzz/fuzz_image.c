/*
 * fuzz_image.c - libFuzzer target for image loading: the input bytes become a file loaded as
 * stored, as grey and as RGB resized to 7x5. stb decodes; this checks Cortex's size limits,
 * channel conversion and resizing around it. Any crash, sanitizer report or leak is a bug;
 * errors are fine.
 * Build and run: make fuzz && ./build/fuzz/fuzz_image -max_total_time=60 -rss_limit_mb=3072
 * (decoding an image at the 2^26-pixel limit takes more than libFuzzer's default 2 GB).
 */
#include "cortex.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size);
    if (!path) return 0;
    cx_tensor_free(cx_image_load(path, 0, 0, 0));
    cx_tensor_free(cx_image_load(path, 1, 0, 0));
    cx_tensor_free(cx_image_load(path, 3, 7, 5));
    return 0;
}
