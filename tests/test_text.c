/*
 * test_text.c - vocabularies, truncated-BPTT batches, sampling, a small language model that
 * learns a repetitive text, text checkpoints (and their bad inputs), and `cortex text`.
 */
#include "test.h"

#include <math.h>
#include <stdlib.h>

static const char poem[] = "the cat sat on the mat. the dog sat on the log. ";

static void test_vocab(void **state) {
    (void)state;
    cx_vocab *v = cx_vocab_build(poem, strlen(poem), CX_TOKENS_CHARS, 0);
    assert_non_null(v);
    assert_string_equal(cx_vocab_token(v, 0), " "); /* the most frequent first */
    assert_null(cx_vocab_token(v, cx_vocab_size(v)));
    cx_tensor *ids = cx_vocab_encode(v, "the mat", 7);
    assert_int_equal(cx_tensor_numel(ids), 7);
    assert_string_equal(cx_vocab_token(v, ((int32_t *)cx_tensor_data(ids))[0]), "t");
    cx_tensor_free(ids);
    cx_test_assert_error(cx_vocab_encode(v, "zebra", 5), CX_ERR_ARG, "'z'");
    /* JSON round trip */
    char *json = cx_vocab_to_json(v);
    cx_vocab *w = cx_vocab_from_json(json);
    assert_non_null(w);
    assert_int_equal(cx_vocab_size(w), cx_vocab_size(v));
    for (int64_t i = 0; i < cx_vocab_size(v); i++)
        assert_string_equal(cx_vocab_token(v, i), cx_vocab_token(w, i));
    free(json);
    cx_vocab_free(w);
    cx_vocab_free(v);
    /* UTF-8 characters are one token; a stray byte reads as U+FFFD */
    v = cx_vocab_build("h\xC3\xA9h\xFF", 5, CX_TOKENS_CHARS, 0);
    assert_int_equal(cx_vocab_size(v), 3);
    assert_string_equal(cx_vocab_token(v, 1), "\xC3\xA9");
    assert_string_equal(cx_vocab_token(v, 2), "\xEF\xBF\xBD");
    cx_vocab_free(v);
    /* words: punctuation and spaces alone, <unk> first, a size limit */
    v = cx_vocab_build(poem, strlen(poem), CX_TOKENS_WORDS, 5);
    assert_int_equal(cx_vocab_size(v), 5);
    assert_string_equal(cx_vocab_token(v, 0), "<unk>");
    assert_string_equal(cx_vocab_token(v, 1), " ");
    assert_string_equal(cx_vocab_token(v, 2), "the");
    ids = cx_vocab_encode(v, "the zebra.", 10);
    assert_int_equal(cx_tensor_numel(ids), 4);
    assert_int_equal(((int32_t *)cx_tensor_data(ids))[2], 0);
    cx_tensor_free(ids);
    cx_vocab_free(v);
    /* bad input */
    cx_test_assert_error((cx_tensor *)cx_vocab_build("", 0, CX_TOKENS_CHARS, 0), CX_ERR_ARG,
                         "empty");
    static const char *const bad[] = {
        "", "[]", "{\"kind\": \"chars\"}", "{\"kind\": \"bytes\", \"tokens\": [\"a\"]}",
        "{\"kind\": \"chars\", \"tokens\": []}", "{\"kind\": \"chars\", \"tokens\": [\"a\", \"a\"]}",
        "{\"kind\": \"chars\", \"tokens\": [\"a\", 3]}", "{\"kind\": \"chars\", \"tokens\": [\"\"]}",
        "{\"kind\": \"chars\", \"tokens\": [\"a\\u0000b\"]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cx_test_assert_error((cx_tensor *)cx_vocab_from_json(bad[i]), CX_ERR_FORMAT,
                             "vocabulary");
}

/* Row i of batch k + 1 continues row i of batch k; y is x shifted by one. */
static void test_loader(void **state) {
    (void)state;
    int32_t data[101];
    for (int i = 0; i < 101; i++) data[i] = i;
    cx_tensor *ids = cx_from_data(CX_DTYPE_I32, CX_SHAPE(101), data);
    cx_text_loader *l = cx_text_loader_new(ids, 4, 5);
    assert_int_equal(cx_text_loader_num_batches(l), 5); /* streams of 25 */
    cx_tensor *x, *y;
    for (int k = 0; k < 5; k++) {
        assert_true(cx_text_loader_next(l, &x, &y));
        const int32_t *xd = cx_tensor_data(x), *yd = cx_tensor_data(y);
        for (int b = 0; b < 4; b++)
            for (int t = 0; t < 5; t++) {
                assert_int_equal(xd[b * 5 + t], b * 25 + k * 5 + t);
                assert_int_equal(yd[b * 5 + t], b * 25 + k * 5 + t + 1);
            }
    }
    assert_false(cx_text_loader_next(l, &x, &y));
    cx_text_loader_rewind(l);
    assert_true(cx_text_loader_next(l, &x, &y));
    cx_text_loader_free(l);
    cx_test_assert_error((cx_tensor *)cx_text_loader_new(ids, 40, 5), CX_ERR_ARG,
                         "do not fill one batch");
    cx_tensor_free(ids);
}

static void test_sampling(void **state) {
    (void)state;
    const float logits[4] = {0.0f, 2.0f, 1.0f, -1.0f};
    cx_rng *rng = cx_rng_new(5);
    assert_int_equal(cx_sample_logits(logits, 4, 0.0f, 0, rng), 1);
    int counts[4] = {0};
    for (int i = 0; i < 4000; i++) counts[cx_sample_logits(logits, 4, 1.0f, 2, rng)]++;
    assert_int_equal(counts[0] + counts[3], 0); /* top-2: only 1 and 2 */
    /* p(1) / p(2) = e */
    assert_true(fabs((double)counts[1] / counts[2] - exp(1.0)) < 0.3);
    for (int i = 0; i < 100; i++) assert_int_equal(cx_sample_logits(logits, 4, 1.0f, 1, rng), 1);
    cx_rng_free(rng);
}

/* A small LSTM learns the poem: bits per character fall far below the uniform log2(V). */
static void test_train_and_generate(void **state) {
    (void)state;
    const char *dir = cx_test_scratch_new("text");
    assert_non_null(dir);
    char text[4096] = "";
    while (strlen(text) + sizeof poem < sizeof text) strcat(text, poem);
    cx_vocab *v = cx_vocab_build(text, strlen(text), CX_TOKENS_CHARS, 0);
    cx_tensor *ids = cx_vocab_encode(v, text, strlen(text));
    char *config = cx_text_model_config(&(cx_text_model_params){.hidden = 32, .embed = 8,
                                                                  .layers = 1},
                                        cx_vocab_size(v));
    cx_model *m = cx_test_model(config);
    free(config);
    cx_tensor *params[8];
    int n = cx_model_trainable_params(m, params);
    cx_optim_params op = cx_optim_defaults(CX_OPTIM_ADAM);
    op.lr = 0.01f;
    cx_optim *o = cx_optim_new(CX_OPTIM_ADAM, &op, params, n);
    char *log = NULL;
    size_t log_size = 0;
    FILE *out = open_memstream(&log, &log_size);
    cx_text_train_params tp = {.seq = 16, .batch = 8, .epochs = 12, .json = true, .out = out,
                               .val_fraction = 0.1f, .lr_decay = 0.9f};
    cx_text_train_result r;
    assert_int_equal(cx_text_train(m, o, v, ids, &tp, &r), CX_OK);
    fclose(out);
    print_message("poem: train %.3f, validation %.3f bits per character (uniform %.2f)\n",
                  r.train_bits, r.val_bits, log2((double)cx_vocab_size(v)));
    assert_non_null(strstr(log, "\"val_bits\": "));
    free(log);
    assert_true(r.val_bits < 1.0f);
    assert_true(r.best_epoch >= 1 && r.best_epoch <= 12 && r.best_val_bits <= r.val_bits);
    assert_float_equal(cx_optim_get_lr(o), 0.01 * pow(0.9, 12), 1e-7); /* decayed each epoch */
    /* saved with its vocabulary, loaded, and sampled greedily: the poem comes back */
    const char *path = cx_test_path("poem.safetensors");
    cx_train_state ts = {.epoch = r.epochs_run, .best_val_loss = INFINITY};
    assert_int_equal(cx_text_save(path, m, o, &ts, v), CX_OK);
    cx_vocab *v2 = NULL;
    cx_optim *o2 = NULL;
    cx_model *m2 = cx_text_load(path, &v2, &o2, NULL);
    if (!m2) fail_msg("%s", cx_last_error());
    assert_non_null(o2);
    char *gen = NULL;
    size_t gen_size = 0;
    FILE *g = open_memstream(&gen, &gen_size);
    assert_int_equal(cx_text_generate(m2, v2, "the dog", 20, 0.0f, 0, NULL, g), CX_OK);
    fclose(g);
    print_message("generated: %s", gen);
    assert_non_null(strstr(gen, "sat on the"));
    free(gen);
    /* a prime with an unknown character is refused */
    g = open_memstream(&gen, &gen_size);
    assert_int_equal(cx_text_generate(m2, v2, "zebra", 5, 1.0f, 0, NULL, g), CX_ERR_ARG);
    fclose(g);
    free(gen);
    cx_clear_error();
    /* a checkpoint without a vocabulary, and one whose vocabulary does not fit */
    const char *plain = cx_test_path("plain.safetensors");
    cx_vocab *none = NULL;
    assert_int_equal(cx_checkpoint_save(plain, m, NULL, &ts), CX_OK);
    cx_test_assert_error((cx_tensor *)cx_text_load(plain, &none, NULL, NULL), CX_ERR_FORMAT,
                         "no vocabulary");
    const char *key = "vocab", *small = "{\"kind\": \"chars\", \"tokens\": [\"a\", \"b\"]}";
    assert_int_equal(cx_checkpoint_save_extra(plain, m, NULL, &ts, 1, &key, &small), CX_OK);
    cx_test_assert_error((cx_tensor *)cx_text_load(plain, &none, NULL, NULL), CX_ERR_FORMAT,
                         "2 tokens");
    const char *damaged = "{\"kind\": \"chars\", \"tokens\": 7}";
    assert_int_equal(cx_checkpoint_save_extra(plain, m, NULL, &ts, 1, &key, &damaged), CX_OK);
    cx_test_assert_error((cx_tensor *)cx_text_load(plain, &none, NULL, NULL), CX_ERR_FORMAT,
                         "token list");
    const char *taken = "config";
    assert_int_equal(cx_checkpoint_save_extra(plain, m, NULL, &ts, 1, &taken, &small),
                     CX_ERR_ARG);
    cx_clear_error();
    assert_null(none);
    cx_model_free(m2);
    cx_optim_free(o2);
    cx_vocab_free(v2);
    cx_optim_free(o);
    cx_model_free(m);
    cx_tensor_free(ids);
    cx_vocab_free(v);
    cx_test_scratch_remove();
}

/* A text that ends in a word, without a NUL after it: encoding stops at its end (fuzzing
 * found a read one byte past it; the sanitizer build would report it). */
static void encode_ends_in_word(void **state) {
    (void)state;
    cx_vocab *v = cx_vocab_build("the cat", 7, CX_TOKENS_WORDS, 0);
    assert_non_null(v);
    char *text = malloc(3);
    assert_non_null(text);
    memcpy(text, "cat", 3);
    cx_tensor *ids = cx_vocab_encode(v, text, 3);
    assert_non_null(ids);
    assert_int_equal(cx_tensor_numel(ids), 1);
    cx_tensor_free(ids);
    free(text);
    cx_vocab_free(v);
}

/* Validation comes from up to 20 places across the corpus, each piece at least
 * CX_TEXT_VAL_PIECE tokens, the rest in order for training. */
static void split_spreads_validation(void **state) {
    (void)state;
    int64_t n = 20 * 10000; /* 20 blocks, block k all token k */
    cx_tensor *ids = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(n));
    int32_t *d = cx_tensor_data(ids);
    for (int64_t i = 0; i < n; i++) d[i] = (int32_t)(i / 10000);
    cx_tensor *train, *val;
    assert_int_equal(cx_text_split(ids, 0.05f, &train, &val), CX_OK);
    assert_int_equal(cx_tensor_numel(train) + cx_tensor_numel(val), n);
    assert_int_equal(cx_tensor_numel(val), n / 20);
    /* 10,000 held out in pieces of 2,000: 5 places, the tails of blocks 3, 7, 11, 15, 19 */
    const int32_t *v = cx_tensor_data(val);
    for (int k = 0; k < 5; k++) {
        assert_int_equal(v[k * 2000], 4 * k + 3);
        assert_int_equal(v[k * 2000 + 1999], 4 * k + 3);
    }
    const int32_t *t = cx_tensor_data(train);
    for (int64_t i = 1; i < cx_tensor_numel(train); i++) assert_true(t[i] >= t[i - 1]);
    cx_tensor_free(train);
    cx_tensor_free(val);
    /* a short text keeps one place: its tail */
    cx_tensor *few = cx_slice(ids, 0, 0, 30000, 1);
    assert_int_equal(cx_text_split(few, 0.1f, &train, &val), CX_OK);
    assert_int_equal(cx_tensor_numel(val), 3000);
    assert_int_equal(((int32_t *)cx_tensor_data(val))[0], 2);
    cx_tensor_free(train);
    cx_tensor_free(val);
    assert_int_equal(cx_text_split(few, 0.5f, &train, &val), CX_ERR_ARG);
    assert_non_null(strstr(cx_last_error(), "fraction 0.5"));
    assert_null(val);
    cx_clear_error();
    cx_tensor_free(few);
    cx_tensor_free(ids);
}

/* With dropout each stacked layer is its own section, a [dropout] after it. */
static void config_with_dropout(void **state) {
    (void)state;
    char *c = cx_text_model_config(&(cx_text_model_params){.layers = 2, .dropout = 0.2f}, 50);
    assert_non_null(c);
    const char *first = strstr(c, "[lstm]"), *second = first ? strstr(first + 1, "[lstm]") : NULL;
    assert_non_null(second);
    assert_non_null(strstr(first, "layers = 1"));
    assert_non_null(strstr(second, "[dropout]\nrate = 0.2"));
    cx_model *m = cx_test_model(c);
    free(c);
    c = cx_text_model_config(&(cx_text_model_params){.layers = 2}, 50);
    cx_model *fused = cx_test_model(c);
    assert_int_equal(cx_model_num_params(m), cx_model_num_params(fused));
    assert_null(strstr(c, "[dropout]"));
    free(c);
    cx_model_free(m);
    cx_model_free(fused);
    assert_null(cx_text_model_config(&(cx_text_model_params){.dropout = 1.0f}, 50));
    assert_non_null(strstr(cx_last_error(), "dropout"));
    cx_clear_error();
}

CX_TEST_GROUP(text) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocab),
        cmocka_unit_test(encode_ends_in_word),
        cmocka_unit_test(test_loader),
        cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_train_and_generate),
        cmocka_unit_test(split_spreads_validation),
        cmocka_unit_test(config_with_dropout),
    };
    CX_RUN_GROUP("text", tests);
}
