/*
 * load.c - cx_dataset_load: the named datasets and directories of IDX files.
 *   "mnist"          $CX_DATA_DIR/mnist, else ./data/mnist (written by scripts/get-data)
 *   "fashion-mnist"  /usr/share/datasets/fashion-mnist (Debian dataset-fashion-mnist)
 *   anything else    a directory with the four files in MNIST's names, each plain or .gz
 */
#include "data_impl.h"

#include <string.h>
#include <sys/stat.h>

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"
#define PATH_MAX_LEN 4096

static bool is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Finds dir/stem or dir/stem.gz; false with the plain name in out if neither exists. */
static bool find_file(const char *dir, const char *stem, char *out, size_t size) {
    snprintf(out, size, "%s/%s.gz", dir, stem);
    if (is_file(out)) return true;
    snprintf(out, size, "%s/%s", dir, stem);
    return is_file(out);
}

/* Loads split from dir; hint says how to get the files when one is missing. */
static cx_dataset *load_dir(const char *what, const char *dir, cx_split split, const char *hint) {
    const char *prefix = split == CX_SPLIT_TEST ? "t10k" : "train";
    char stem[2][32], path[2][PATH_MAX_LEN];
    snprintf(stem[0], sizeof stem[0], "%s-images-idx3-ubyte", prefix);
    snprintf(stem[1], sizeof stem[1], "%s-labels-idx1-ubyte", prefix);
    if (strlen(dir) > PATH_MAX_LEN - 64) {
        cx__error(CX_ERR_ARG, "cx_dataset_load: directory name too long (%zu bytes)",
                  strlen(dir));
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        if (!find_file(dir, stem[i], path[i], sizeof path[i])) {
            cx__error(CX_ERR_IO, "cx_dataset_load: %s: %s (or .gz) not found%s%s", what, path[i],
                      hint ? "; " : "", hint ? hint : "");
            return NULL;
        }
    }
    return cx_dataset_from_idx(path[0], path[1]);
}

cx_dataset *cx_dataset_load(const char *name_or_dir, cx_split split) {
    if (!name_or_dir) {
        cx__error(CX_ERR_ARG, "cx_dataset_load: name_or_dir is NULL");
        return NULL;
    }
    if (split != CX_SPLIT_TRAIN && split != CX_SPLIT_TEST) {
        cx__error(CX_ERR_ARG, "cx_dataset_load: split %d is neither CX_SPLIT_TRAIN nor "
                  "CX_SPLIT_TEST", (int)split);
        return NULL;
    }
    if (strcmp(name_or_dir, "mnist") == 0) {
        const char *root = getenv("CX_DATA_DIR");
        char dir[PATH_MAX_LEN];
        snprintf(dir, sizeof dir, "%s/mnist", root && *root ? root : "data");
        return load_dir("mnist", dir, split,
                        "run scripts/get-data (or set CX_DATA_DIR to where data/mnist is)");
    }
    if (strcmp(name_or_dir, "fashion-mnist") == 0)
        return load_dir("fashion-mnist", FASHION_DIR, split,
                        "install it with: sudo apt-get install dataset-fashion-mnist");
    if (!is_dir(name_or_dir)) {
        cx__error(CX_ERR_ARG, "cx_dataset_load: '%s' is neither a known dataset (mnist, "
                  "fashion-mnist) nor a directory", name_or_dir);
        return NULL;
    }
    return load_dir(name_or_dir, name_or_dir, split, NULL);
}
