/*
 * fuzz_safetensors.c - libFuzzer target for the safetensors reader and the checkpoint loader:
 * the input bytes become a file (an in-memory memfd, opened by its /proc path), which is
 * opened, every tensor and a metadata key read, and then loaded as a checkpoint (model,
 * optimizer and training state, as `cortex eval` and `--resume` load one; the parameter limit
 * lowered to 2^16 as in fuzz_config). Any crash, sanitizer report or leak is a bug; errors
 * are fine.
 * Build and run: make fuzz-build && ./build/fuzz/fuzz_safetensors -max_total_time=60
 */
#include "nn/layer.h" /* defines: cx__model_max_params */

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("cx_fuzz_safetensors", MFD_CLOEXEC);
        if (fd < 0) return 0;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) return 0;
    cx_safetensors *f = cx_safetensors_open(path);
    if (!f) return 0;
    for (int i = 0; i < cx_safetensors_count(f); i++) {
        const char *name = cx_safetensors_name(f, i);
        if (!cx_safetensors_has(f, name)) __builtin_trap();
        cx_tensor_free(cx_safetensors_get(f, name));
    }
    cx_safetensors_metadata(f, "format");
    cx_safetensors_close(f);
    cx__model_max_params = (int64_t)1 << 16;
    cx_optim *o = NULL;
    cx_train_state state;
    cx_model *m = cx_checkpoint_load(path, &o, &state);
    if (m && state.epoch < 0) __builtin_trap();
    cx_optim_free(o);
    cx_model_free(m);
    return 0;
}
