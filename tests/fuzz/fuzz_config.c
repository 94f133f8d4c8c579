/*
 * fuzz_config.c - libFuzzer target for the model config parser: the input bytes become config
 * text, which is built for its shapes only (the real limits, no parameter memory) and then
 * built in full; a model that builds is written back as canonical text, which must parse
 * again into a model with as many parameters. Any crash, sanitizer report or leak is a bug;
 * errors are fine. For the full build the parameter limit is lowered (2^16) so that a config
 * asking for a big (valid) model spends no time initialising weights and stays under the
 * fuzzer's memory limit; the shapes-only build checks the big ones.
 * Build and run: make fuzz-build && ./build/fuzz/fuzz_config -max_total_time=60
 */
#include "nn/layer.h" /* defines: cx__model_max_params */

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    cx__model_max_params = (int64_t)1 << 31;
    cx_model *shapes = cx_model_from_config_shapes(text, "fuzz.cfg");
    cx_model_free(shapes);
    cx__model_max_params = (int64_t)1 << 16;
    cx_model *m = cx_model_from_config(text, "fuzz.cfg", NULL);
    free(text);
    if (!m) return 0;
    const char *canonical = cx_model_config(m);
    if (!canonical) __builtin_trap();
    cx_model *again = cx_model_from_config(canonical, "canonical.cfg", NULL);
    if (!again || cx_model_num_params(again) != cx_model_num_params(m) ||
        strcmp(cx_model_config(again), canonical) != 0)
        __builtin_trap();
    cx_model_free(again);
    cx_model_free(m);
    return 0;
}
