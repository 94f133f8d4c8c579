/*
 * fuzz_text.c - libFuzzer target for text-model loading: the input's first byte picks the
 * reader, the rest is its input. Even: the bytes are vocabulary JSON (cx_vocab_from_json,
 * then to JSON and back, which must give the same vocabulary, and encoding of the input as
 * text). Odd: the bytes are a whole file for cx_text_load (a checkpoint with a vocabulary).
 * Any crash, sanitizer report or leak is a bug; errors are fine.
 * Build and run: make fuzz-build && ./build/fuzz/fuzz_text -max_total_time=60
 */
#include "cortex.h"
#include "fuzz_file.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void vocab_json(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return;
    memcpy(text, data, size);
    text[size] = '\0';
    cx_vocab *v = cx_vocab_from_json(text);
    if (v) {
        char *again = cx_vocab_to_json(v);
        cx_vocab *w = again ? cx_vocab_from_json(again) : NULL;
        if (!w || cx_vocab_size(w) != cx_vocab_size(v)) __builtin_trap();
        for (int64_t i = 0; i < cx_vocab_size(v); i++)
            if (strcmp(cx_vocab_token(v, i), cx_vocab_token(w, i)) != 0) __builtin_trap();
        cx_tensor_free(cx_vocab_encode(v, (const char *)data, size));
        cx_vocab_free(w);
        free(again);
        cx_vocab_free(v);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    if (data[0] % 2 == 0) {
        vocab_json(data + 1, size - 1);
        return 0;
    }
    const char *path = fuzz_file(data + 1, size - 1);
    if (!path) return 0;
    cx_vocab *v = NULL;
    cx_optim *o = NULL;
    cx_model *m = cx_text_load(path, &v, &o, NULL);
    if (m && !v) __builtin_trap();
    cx_optim_free(o);
    cx_model_free(m);
    cx_vocab_free(v);
    return 0;
}
