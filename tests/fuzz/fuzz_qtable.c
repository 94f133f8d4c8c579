/*
 * fuzz_qtable.c - libFuzzer target for the Q-table loader: the input bytes become a file
 * (fuzz_file.h), which is loaded as a table of any game and then as a Flippers table; a
 * loaded table is played greedily from one board. Any crash, sanitizer report or leak is a
 * bug; errors are fine.
 * Build and run: make fuzz-build && ./build/fuzz/fuzz_qtable -max_total_time=60
 */
#include "cortex.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size);
    if (!path) return 0;
    cx_qtable *t = cx_qtable_load(path, NULL);
    cx_qtable_free(t);
    t = cx_qtable_load(path, "flippers");
    if (t) {
        cx_env *env = cx_env_flippers_new();
        if (cx_qtable_greedy(t, env, 0) < 0) __builtin_trap();
        cx_env_free(env);
    }
    cx_qtable_free(t);
    return 0;
}
