/*
 * test.h - the test suite's shared declarations. One binary (build/test_cortex) runs every
 * group; each group is a cmocka group, and main prints one closing "N passed, N failed" line.
 */
#ifndef CX_TEST_H
#define CX_TEST_H

#include <setjmp.h> /* cmocka needs these before its header */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cortex_impl.h"

/* Asserts the last error has status and its message contains every string given; then clears
 * it. */
#define assert_error(status, ...)                                                              \
    do {                                                                                       \
        assert_int_equal(cx_last_status(), status);                                            \
        const char *want_[] = {__VA_ARGS__};                                                   \
        for (size_t i_ = 0; i_ < sizeof want_ / sizeof want_[0]; i_++)                         \
            if (!strstr(cx_last_error(), want_[i_])) {                                         \
                print_error("message '%s' lacks '%s'\n", cx_last_error(), want_[i_]);          \
                fail();                                                                        \
            }                                                                                  \
        cx_clear_error();                                                                      \
    } while (0)

/* Runs a cmocka group and adds its counts to the suite's totals. */
int cx_test_run_group(const char *name, const struct CMUnitTest *tests, size_t count);
#define CX_RUN_GROUP(name, tests) cx_test_run_group(name, tests, sizeof(tests) / sizeof(tests[0]))

/* Defines a group: CX_TEST_GROUP(tensor) { ... CX_RUN_GROUP("tensor", tests); }. The Makefile
 * collects these lines from the test files into build/gen/test_groups.def; main runs them all. */
#define CX_TEST_GROUP(g) void test_group_##g(void)
#define CX_GROUP(g) CX_TEST_GROUP(g);
#include "test_groups.def"
#undef CX_GROUP

/* Runs test once per row of every op's test table (state: the cx_op_test row). */
void cx_test_run_op_rows(const char *group, CMUnitTestFunction test);

/* Asserts |a - b| <= tol * max(1, |b|) elementwise, printing the first mismatches. */
void cx_test_assert_close(const char *what, const float *a, const float *b, int64_t n, float tol);

/* Models for tests: the model of config text (named "test.cfg"), failing the test with the
 * message if it is refused; cx_test_config_error asserts that text ("bad.cfg") is refused
 * with a message containing every string of parts (NULL-terminated). */
cx_model *cx_test_model(const char *text);
void cx_test_config_error(const char *text, const char *const *parts);
/* Asserts got and want have the same number of elements, close as cx_test_assert_close. */
void cx_test_compare(const char *what, cx_tensor *got, cx_tensor *want, float tol);
/* Asserts that an op failed: t is NULL, the last status is status and the last message
 * contains needle (printing both otherwise); then clears the error. */
void cx_test_assert_error(cx_tensor *t, cx_status status, const char *needle);

/* A fresh scratch directory for a group's files, "$TMPDIR/cx_<group>_XXXXXX" (NULL and a
 * message if it cannot be made); cx_test_path(name) is "<dir>/<name>" in one of 8 rotating
 * buffers; cx_test_scratch_remove deletes the directory and everything under it. */
const char *cx_test_scratch_new(const char *group);
const char *cx_test_scratch_dir(void);
const char *cx_test_path(const char *name);
void cx_test_scratch_remove(void);

/* The command line: cx_test_cli() is $CX_CLI as an absolute path, or NULL when unset or not
 * executable (CLI tests then skip); cx_test_run_cli runs "cortex ARGS" (printf-style) in the
 * scratch directory and returns its exit code, stdout and stderr together in out. */
const char *cx_test_cli(void);
int cx_test_run_cli(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Command lines that must fail: each "cortex ARGS" exits with rc and prints "cortex: error: "
 * and message; fails the test naming the first that does not. */
typedef struct {
    const char *args, *message;
    int rc;
} cx_test_cli_error;
void cx_test_cli_errors(const cx_test_cli_error *cases, size_t n);
/* The number key of the last line of out that holds a JSON object (a --json run's final
 * line); fails the test if there is none or key is not a number there. */
double cx_test_json_number(const char *out, const char *key);
/* A generated picture dataset: 28x28 u8 pictures of 4 classes, class c a bright bar at rows
 * 4+6c..7+6c plus noise. cx_test_draw_bar draws one; cx_test_write_bars writes n_train and
 * n_test of them as the four IDX files of a directory dir in the scratch directory. */
void cx_test_draw_bar(uint8_t *img, int c, cx_rng *rng);
void cx_test_write_bars(const char *dir, int64_t n_train, int64_t n_test);

/* Copies the file from to the file to, only its first cut bytes when cut >= 0 (a truncated
 * file for bad-input tests); fails the test if either cannot be opened. */
void cx_test_copy_file(const char *from, const char *to, long cut);

/* Fills a new tensor for an op test input (f32 uniform in lo..hi, default -1..1; i32 in [lo,hi)). */
cx_tensor *cx_test_make_input(const cx_test_input *spec, cx_rng *rng);
int cx_test_input_ndim(const cx_test_input *spec);

/* An allocator hook that counts the library's heap allocations in cx_test_allocs (steady-state
 * tests install it with cx_set_allocator and check that a step adds none). While
 * cx_test_fail_countdown >= 0 it counts down, and the allocation that finds it at 0 fails
 * (error-path tests); -1 (the default) never fails. cx_test_alloc_largest: the largest
 * request it has seen, for "refused before allocating" checks. */
extern long cx_test_allocs;
extern long cx_test_fail_countdown;
extern size_t cx_test_alloc_largest; /* the largest request it has seen (reset it to 0) */
extern const cx_allocator cx_test_counting_allocator;

/* Builds config's model with cx_test_counting_allocator installed and trains it for steps
 * steps on one random batch (labels i % classes), each step in one arena reset after it,
 * updating the flat parameters by plain SGD (lr). Asserts that the steps after the first 3
 * (warm-up) allocate nothing from the heap and that the loss falls. */
void cx_test_steady_state(const char *config, int64_t batch, int classes, int steps, float lr);

#endif
