/*
 * cmd_adversarial.c - `cortex adversarial MODEL --data NAME --method fgsm|pgd --eps E`: how
 * much a classifier's test accuracy falls when every test picture is perturbed by at most
 * eps per pixel (cx_adversarial), and a picture of original / perturbation / adversarial
 * triplets.
 */
#include "cli.h"

#include <math.h>
#include <string.h>

typedef struct {
    int64_t seen, clean_right, adv_right, on_target;
    float max_change;
} tally;

/* Rows of original | perturbation (grey = none, white/black = +/-eps) | adversarial. */
static cx_tensor *triplet_grid(cx_tensor *orig, cx_tensor *adv, int64_t k, float eps) {
    int64_t size = cx_tensor_numel(orig) / cx_tensor_dim(orig, 0);
    int64_t c = cx_tensor_dim(orig, 1), h = cx_tensor_dim(orig, 2), w = cx_tensor_dim(orig, 3);
    cx_tensor *all = cx_zeros(CX_SHAPE(3 * k, c, h, w));
    if (!all) return NULL;
    const float *o = cx_tensor_f32(orig), *a = cx_tensor_f32(adv);
    float *d = cx_tensor_f32(all);
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < size; j++) {
            float x = o[i * size + j], y = a[i * size + j];
            d[(3 * i) * size + j] = x;
            d[(3 * i + 1) * size + j] = 0.5f + 0.5f * (y - x) / eps;
            d[(3 * i + 2) * size + j] = y;
        }
    cx_tensor *grid = cx_image_grid(all, 3, 2, false);
    cx_tensor_free(all);
    return grid;
}

static void count(tally *t, cx_tensor *x, cx_tensor *adv, cx_tensor *y, cx_tensor *clean,
                  cx_tensor *fooled, const cx_attack_params *p) {
    int64_t n = cx_tensor_dim(x, 0), numel = cx_tensor_numel(x);
    const int32_t *lab = cx_tensor_data(y), *c = cx_tensor_data(clean), *f = cx_tensor_data(fooled);
    for (int64_t i = 0; i < n; i++) {
        t->clean_right += c[i] == lab[i];
        t->adv_right += f[i] == lab[i];
        t->on_target += p->targeted && f[i] == p->target;
    }
    for (int64_t i = 0; i < numel; i++)
        t->max_change = fmaxf(t->max_change, fabsf(cx_tensor_f32(adv)[i] - cx_tensor_f32(x)[i]));
    t->seen += n;
}

int cmd_adversarial(int argc, char **argv) {
    const char *data = NULL, *method = "fgsm", *out = NULL, *weights = NULL;
    float eps = -1, step_size = 0;
    int steps = 0, target = -1, show = 8, threads = 0;
    int64_t limit = 0, batch = 250;
    uint64_t seed = 0;
    bool json = false, random_start = false;
    cli_option options[] = {
        {"--data", OPT_STRING, &data, "NAME|DIR", "the dataset whose test split is attacked"},
        {"--method", OPT_STRING, &method, "fgsm|pgd", "the attack (default fgsm)"},
        {"--eps", OPT_FLOAT, &eps, "E", "largest change of a pixel (pixels are 0..1)"},
        {"--steps", OPT_INT, &steps, "N", "pgd: iterations (default 10)"},
        {"--step-size", OPT_FLOAT, &step_size, "S", "pgd: change per iteration (default 2.5 eps / steps)"},
        {"--random-start", OPT_FLAG, &random_start, NULL, "pgd: start from a random point within eps"},
        {"--target", OPT_INT, &target, "CLASS", "push every picture toward this class (targeted)"},
        {"--limit", OPT_INT64, &limit, "N", "attack only the first N test pictures"},
        {"--batch", OPT_INT64, &batch, "B", "pictures per batch (default 250)"},
        {"--out", OPT_STRING, &out, "FILE.png", "original / perturbation / adversarial triplets"},
        {"--show", OPT_INT, &show, "K", "triplets in the picture (default 8)"},
        {"--weights", OPT_STRING, &weights, "FILE", "parameters for a MODEL given as a config"},
        {"--seed", OPT_U64, &seed, "N", "pgd --random-start's seed"},
        {"--json", OPT_FLAG, &json, NULL, "print one JSON object"},
        {"--threads", OPT_INT, &threads, "N", "CPU threads"},
    };
    cli_command cmd = {.name = "adversarial",
                       .usage = "MODEL --data NAME --eps E [--method fgsm|pgd] [options]",
                       .about = "Attacks a classifier with adversarial examples: every test picture "
                                "changed by at most eps per pixel along the loss gradient. Reports "
                                "the clean and the adversarial accuracy.",
                       .options = options, .n_options = CLI_N(options), .min_pos = 1, .max_pos = 1};
    const char *pos[1];
    int rc = cli_parse(&cmd, argc, argv, pos);
    if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
    cx_attack_params p = {.eps = eps, .steps = steps, .step_size = step_size,
                          .random_start = random_start, .targeted = target >= 0,
                          .target = target, .seed = seed};
    if (strcmp(method, "fgsm") == 0) p.method = CX_ATTACK_FGSM;
    else if (strcmp(method, "pgd") == 0) p.method = CX_ATTACK_PGD;
    else return cli_usage_error("adversarial: --method %s: valid methods: fgsm, pgd", method);
    if (!data) return cli_usage_error("adversarial: needs --data NAME");
    if (!(eps > 0 && eps <= 1)) return cli_usage_error("adversarial: needs --eps E with 0 < E <= 1");
    if (steps < 0 || step_size < 0 || limit < 0 || batch < 1 || show < 0)
        return cli_usage_error("adversarial: --steps, --step-size, --limit and --show must not be "
                               "negative, --batch at least 1");
    if (cli_seen(&cmd, "--target") && target < 0)
        return cli_usage_error("adversarial: --target must be a class (0 or more)");
    if ((rc = cli_set_threads(threads)) != CLI_OK) return rc;

    cx_model *m = cli_load_network(pos[0], weights, &p.norm, NULL);
    if (!m) return CLI_FAIL;
    cx_dataset *full = cx_dataset_load(data, CX_SPLIT_TEST);
    cx_dataset *d = full && limit ? cx_dataset_head(full, limit) : full;
    cx_loader *l = d ? cx_loader_new(d, &(cx_loader_params){.batch_size = batch}) : NULL;
    cx_arena *arena = cx_arena_new(0);
    if (!l || !arena) {
        rc = cli_fail(NULL);
        goto done;
    }
    tally t = {0};
    cx_tensor *shown = NULL; /* grid of the first batch's triplets */
    cx_tensor *x, *y;
    rc = CLI_OK;
    cx_loader_start_epoch(l, 0);
    while (rc == CLI_OK && cx_loader_next(l, &x, &y)) {
        cx_arena_begin(arena);
        cx_tensor *clean = cx_classify(m, x, &p.norm);
        cx_tensor *adv = clean ? cx_adversarial(m, x, y, &p) : NULL;
        cx_tensor *fooled = adv ? cx_classify(m, adv, &p.norm) : NULL;
        if (!fooled) {
            rc = cli_fail(NULL);
        } else {
            if (t.seen == 0 && out && show > 0) {
                int64_t k = show < cx_tensor_dim(x, 0) ? show : cx_tensor_dim(x, 0);
                cx_arena_end(arena); /* the grid outlives the batch */
                shown = triplet_grid(x, adv, k, eps);
                cx_arena_begin(arena);
                if (!json)
                    for (int64_t i = 0; i < k; i++)
                        printf("row %lld: label %d, clean %d, adversarial %d\n", (long long)i + 1,
                               ((int32_t *)cx_tensor_data(y))[i],
                               ((int32_t *)cx_tensor_data(clean))[i],
                               ((int32_t *)cx_tensor_data(fooled))[i]);
            }
            count(&t, x, adv, y, clean, fooled, &p);
        }
        cx_arena_end(arena);
        cx_arena_reset(arena);
    }
    if (rc == CLI_OK && out && shown && cli_save_picture(out, shown, 3) != CX_OK) rc = cli_fail(NULL);
    cx_tensor_free(shown);
    if (rc == CLI_OK) {
        double clean = (double)t.clean_right / (double)t.seen;
        double adv = (double)t.adv_right / (double)t.seen;
        double hit = (double)t.on_target / (double)t.seen;
        if (json) {
            printf("{\"method\": \"%s\", \"eps\": %g, \"samples\": %lld, \"clean_accuracy\": %.4f, "
                   "\"adversarial_accuracy\": %.4f, \"max_perturbation\": %.6f",
                   method, (double)eps, (long long)t.seen, clean, adv, (double)t.max_change);
            if (p.targeted) printf(", \"target\": %d, \"target_rate\": %.4f", target, hit);
            printf("}\n");
        } else {
            printf("%s, eps %g, %lld test pictures: clean accuracy %.4f, adversarial accuracy "
                   "%.4f (largest pixel change %.4f)\n", method, (double)eps, (long long)t.seen,
                   clean, adv, (double)t.max_change);
            if (p.targeted) printf("classified as the target %d: %.4f\n", target, hit);
            if (out && shown) printf("%s: original | perturbation | adversarial\n", out);
        }
    }
done:
    cx_arena_free(arena);
    cx_loader_free(l);
    if (d != full) cx_dataset_free(d);
    cx_dataset_free(full);
    cx_model_free(m);
    return rc;
}
