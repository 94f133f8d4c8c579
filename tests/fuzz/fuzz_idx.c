/*
 * fuzz_idx.c - libFuzzer target for the IDX reader: the input bytes become a file read with
 * cx_idx_read (plain or gzip, as its first bytes say) and as a dataset's images. Any crash,
 * sanitizer report, leak or oversized tensor is a bug; errors are fine. The header checks
 * bound every allocation by the file's size (x 1032 for gzip).
 * Build and run: make fuzz-build && ./build/fuzz/fuzz_idx -max_total_time=60
 */
#include "cortex.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size);
    if (!path) return 0;
    cx_tensor *t = cx_idx_read(path);
    /* More data than a file of this size can hold means a check was skipped. */
    if (t && cx_tensor_numel(t) * (int64_t)cx_dtype_size(cx_tensor_dtype(t)) >
                 (int64_t)size * 1032)
        __builtin_trap();
    cx_tensor_free(t);
    cx_dataset_free(cx_dataset_from_idx(path, NULL));
    return 0;
}
