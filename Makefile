# Cortex - build, test and benchmark.
#   make                 library (build/libcortex.a, build/libcortex.so) and CLI (build/cortex)
#   make test            build and run the whole test suite
#   make test SANITIZE=1 the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench           benchmarks side by side with PyTorch
#   make demo            install what is missing, build, get data, train and show a model
#   make golden          regenerate tests/golden/*.safetensors with PyTorch (scripts/golden)
#   make fuzz            libFuzzer targets (clang) built in build/fuzz and run FUZZ_TIME=60 s
#                        each; make fuzz-build only builds, make fuzz-replay replays tests/corpus
#   make CUDA=1          the same with the CUDA backend (src/backend/cuda, nvcc, cuBLAS) in
#                        build/cuda; its binaries also run where there is no GPU (docs/CUDA.md)
# Toggles: DEBUG=1 (no optimisation), SANITIZE=1, WERROR=1, CUDA=1.

CC ?= cc
BUILD := build
ifeq ($(SANITIZE),1)
  BUILD := build/sanitize
endif
ifeq ($(CUDA),1)
  BUILD := $(BUILD)/cuda
endif

CFLAGS_OPT := -O3
ifeq ($(DEBUG),1)
  CFLAGS_OPT := -O0 -g
endif
CFLAGS_SAN :=
LDFLAGS_SAN :=
ifeq ($(SANITIZE),1)
  CFLAGS_OPT := -O1 -g
  CFLAGS_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
                -DCX_NO_CLONES
  LDFLAGS_SAN := -fsanitize=address,undefined
endif
ifeq ($(WERROR),1)
  CFLAGS_OPT += -Werror
endif

CPPFLAGS := -Iinclude -Isrc -I$(BUILD)/gen -D_GNU_SOURCE -MMD -MP $(shell pkg-config --cflags cairo 2>/dev/null)
# MPI (Open MPI from Debian) for data-parallel training; a process mpirun did not start never
# calls it.
MPI_CFLAGS := $(shell pkg-config --cflags mpi-c 2>/dev/null)
MPI_LIBS := $(shell pkg-config --libs mpi-c 2>/dev/null || echo -lmpi)
CPPFLAGS += $(MPI_CFLAGS)
# No errno from libm and no FP traps: lets GCC vectorise sqrtf and branch-free selects.
CFLAGS := -std=c11 -Wall -Wextra -fPIC -fopenmp -fno-math-errno -fno-trapping-math \
          $(CFLAGS_OPT) $(CFLAGS_SAN)
LDLIBS := -lm -ldl -lpthread -ljansson -linih -lz -lcairo -lstb $(MPI_LIBS)
LDFLAGS := -fopenmp $(LDFLAGS_SAN)

LIB_SRC := $(sort $(wildcard src/*/*.c src/backend/cpu/*.c))

# The CUDA backend (make CUDA=1): its C and CUDA files join the library, every file is built
# with CX_HAVE_CUDA, and the programs link cudart and cuBLAS (found at run time through the
# rpath). Code for sm_90 (H100, H200) plus PTX that newer GPUs compile when loading it.
# -fmad=false: no fused multiply-add contraction, as on the CPU (GCC's ISO C mode), so the
# elementwise kernels and optimizer updates round as the CPU code does. A .c and a .cu file
# there must not share a name (both would make the same .o).
CUDA_HOME ?= /usr/local/cuda
NVCC ?= $(CUDA_HOME)/bin/nvcc
CUDA_ARCH ?= -gencode arch=compute_90,code=[sm_90,compute_90]
CU_SRC :=
ifeq ($(CUDA),1)
  ifeq ($(shell command -v $(NVCC) 2>/dev/null),)
    $(error make CUDA=1: no nvcc at $(NVCC); install the CUDA toolkit, or set CUDA_HOME=DIR or NVCC=PATH)
  endif
  LIB_SRC += $(sort $(wildcard src/backend/cuda/*.c))
  CU_SRC := $(sort $(wildcard src/backend/cuda/*.cu))
  CPPFLAGS += -DCX_HAVE_CUDA -isystem $(CUDA_HOME)/include
  LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++
  NVCCFLAGS := -std=c++17 -O3 $(CUDA_ARCH) -fmad=false -Iinclude -Isrc -MMD -MP \
               -Xcompiler -fPIC,-Wall,-Wextra
  ifeq ($(WERROR),1)
    NVCCFLAGS += -Werror all-warnings -Xcompiler -Werror
  endif
endif
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(CU_SRC:%.cu=$(BUILD)/obj/%.o)
OPS_SRC := $(filter-out src/ops/registry.c,$(wildcard src/ops/*.c))
NN_SRC := $(filter-out src/nn/registry.c,$(wildcard src/nn/*.c))
TEST_SRC := $(sort $(wildcard tests/*.c))
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/obj/%.o)
BENCH_SRC := $(sort $(wildcard bench/*.c))
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
EXAMPLES := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)

LIB_A := $(BUILD)/libcortex.a
LIB_SO := $(BUILD)/libcortex.so
CLI := $(BUILD)/cortex
TEST_BIN := $(BUILD)/test_cortex
OPS_DEF := $(BUILD)/gen/ops.def
GROUPS_DEF := $(BUILD)/gen/test_groups.def
LAYERS_DEF := $(BUILD)/gen/layers.def

.PHONY: all test bench demo clean golden
# Keep intermediate objects (examples, benchmarks) so a rebuild relinks only.
.SECONDARY:
all: $(LIB_A) $(LIB_SO) $(CLI) $(EXAMPLES)

# The op list: every CX_OP_DEFINE(name, ...) line in src/ops/*.c becomes CX_OP(name).
# Rewritten only when it changes, so editing an op file does not rebuild everything.
$(OPS_DEF): $(OPS_SRC) Makefile
	@mkdir -p $(dir $@)
	@grep -h '^CX_OP_DEFINE(' $(OPS_SRC) | sed -E 's/^CX_OP_DEFINE\(([a-z0-9_]+),.*/CX_OP(\1)/' \
	    | sort > $@.tmp
	@if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi

# The layer kinds: every CX_LAYER_DEFINE(name, ...) line in src/nn/*.c becomes CX_LAYER(name).
$(LAYERS_DEF): $(NN_SRC) Makefile
	@mkdir -p $(dir $@)
	@grep -h '^CX_LAYER_DEFINE(' $(NN_SRC) | sed -E 's/^CX_LAYER_DEFINE\(([a-z0-9_]+),.*/CX_LAYER(\1)/' \
	    | sort > $@.tmp
	@if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi

# The test groups: every CX_TEST_GROUP(name) line in tests/*.c becomes CX_GROUP(name).
$(GROUPS_DEF): $(TEST_SRC) Makefile
	@mkdir -p $(dir $@)
	@grep -h '^CX_TEST_GROUP(' $(TEST_SRC) | sed -E 's/^CX_TEST_GROUP\(([a-z0-9_]+)\).*/CX_GROUP(\1)/' \
	    > $@.tmp
	@if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi

$(BUILD)/obj/tests/main.o: $(GROUPS_DEF)

$(BUILD)/obj/%.o: %.c | $(OPS_DEF) $(GROUPS_DEF) $(LAYERS_DEF)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/src/ops/registry.o: $(OPS_DEF)
$(BUILD)/obj/src/nn/registry.o: $(LAYERS_DEF)

$(BUILD)/obj/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LIB_SO): $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LDLIBS)

CLI_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(sort $(wildcard tools/*.c)))
$(CLI): $(CLI_OBJ) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(TEST_BIN): $(TEST_OBJ) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(LDLIBS)

# Sanitizer runs: leaks are errors; OpenMP's thread pool lives until exit by design.
# The real MNIST digits for the end-to-end tests (they skip, saying why, if this fails).
test: all $(TEST_BIN)
	-@scripts/get-data >/dev/null || echo "make test: scripts/get-data failed; MNIST tests will skip"
	@./$(BUILD)/examples/quickstart | tail -1 | grep -q 'w = 3.0.*b = 1.0' \
	    && echo "example quickstart: fits y = 3x + 1" \
	    || { echo "example quickstart: FAILED"; exit 1; }
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	    LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	    CX_NUM_THREADS=$${CX_NUM_THREADS:-2} CX_CLI=$(CLI) ./$(TEST_BIN)
	CX_DIST_QUICK=$(SANITIZE) ASAN_OPTIONS=detect_leaks=0 tests/dist/equivalence $(CLI)

$(BUILD)/bench/%: bench/%.c bench/bench.h $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIB_A) $(LDFLAGS) $(LDLIBS)

bench: $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
	scripts/bench

# op_rows lists every op test row as JSON lines; ops.py turns them into PyTorch goldens.
OP_ROWS := $(BUILD)/op_rows
$(OP_ROWS): $(BUILD)/obj/tests/tools/op_rows.o $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

golden: $(OP_ROWS)
	/usr/bin/python3 scripts/golden/ops.py $(OP_ROWS)
	/usr/bin/python3 scripts/golden/rng.py
	/usr/bin/python3 scripts/golden/optim.py
	/usr/bin/python3 scripts/golden/nn.py
	/usr/bin/python3 scripts/golden/batch_norm.py
	/usr/bin/python3 scripts/golden/cnn.py
	/usr/bin/python3 scripts/golden/rnn.py

# Fuzz targets: each tests/fuzz/fuzz_X.c linked by clang's libFuzzer with the library, built
# once with ASan + UBSan and coverage instrumentation in build/fuzz/obj.
#   make fuzz                  build them and run each for FUZZ_TIME seconds (default 60), one
#                              after another at low priority, from tests/corpus/X; crashes go to
#                              build/fuzz/crashes, execution counts to build/fuzz/totals.tsv
#   make fuzz-build            build them only
#   make fuzz-replay           replay every input under tests/corpus/ once (CI's regression check)
# One target: ./build/fuzz/fuzz_safetensors -max_total_time=60 tests/corpus/safetensors
FUZZ_CC ?= clang
FUZZ_TIME ?= 60
FUZZ_SRC := $(wildcard tests/fuzz/*.c)
FUZZ_BINS := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_CFLAGS := -std=c11 -g -O1 -fopenmp -fsanitize=fuzzer-no-link,address,undefined \
               -fno-sanitize-recover=all -DCX_NO_CLONES -Iinclude -Isrc -I$(BUILD)/gen \
               -D_GNU_SOURCE -MMD -MP -Wno-pass-failed -Wno-unknown-attributes \
               $(shell pkg-config --cflags cairo 2>/dev/null) $(MPI_CFLAGS)
FUZZ_OBJ := $(LIB_SRC:%.c=build/fuzz/obj/%.o)
.PHONY: fuzz fuzz-build fuzz-replay
fuzz-build: $(FUZZ_BINS)

build/fuzz/obj/%.o: %.c | $(OPS_DEF) $(LAYERS_DEF)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

build/fuzz/obj/src/ops/registry.o: $(OPS_DEF)
build/fuzz/obj/src/nn/registry.o: $(LAYERS_DEF)

build/fuzz/libcortex_fuzz.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_file.h build/fuzz/libcortex_fuzz.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< build/fuzz/libcortex_fuzz.a $(LDLIBS)

fuzz: $(FUZZ_BINS)
	scripts/fuzz run $(FUZZ_TIME)

fuzz-replay: $(FUZZ_BINS)
	scripts/fuzz replay

demo:
	scripts/install-deps
	$(MAKE) all
	scripts/demo

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj build/fuzz/obj -name '*.d' 2>/dev/null)
