/*
 * cortex/text.h - text for sequence models: vocabularies of characters or words, corpus
 * batching with state carried across batches, sampling with temperature and top-k, a
 * character-level (or word-level) language-model trainer and generator, and checkpoints that
 * keep the vocabulary. Included by cortex.h.
 *
 *     cx_vocab *v = cx_vocab_build(text, len, CX_TOKENS_CHARS, 0);
 *     cx_tensor *ids = cx_vocab_encode(v, text, len);          // i32 [n]
 *     ... train a model of [embedding] -> [lstm] (stateful) -> [dense] on cx_text_loader ...
 *     cx_text_save("model.safetensors", m, o, &state, v);      // the vocabulary goes with it
 */
#ifndef CORTEX_TEXT_H
#define CORTEX_TEXT_H

#include "cortex.h"
#include "cortex/nn.h"
#include "cortex/optim.h"
#include "cortex/train.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- vocabularies ---- */

typedef enum {
    CX_TOKENS_CHARS = 0, /* one token per character (a UTF-8 sequence, or a stray byte) */
    CX_TOKENS_WORDS,     /* runs of letters, digits and apostrophes; each other character alone */
} cx_token_kind;

typedef struct cx_vocab cx_vocab;

/* The tokens of text (len bytes), most frequent first (ties in first-seen order), at most
 * max_size of them (0: no limit; words default to it too); tokens left out, and any token not
 * in the vocabulary later, become "<unk>" (id 0 when the vocabulary has one: only when some
 * token was left out, or for words). NULL + error for empty text or on allocation failure.
 * Free with cx_vocab_free (NULL is a no-op). */
cx_vocab *cx_vocab_build(const char *text, size_t len, cx_token_kind kind, int64_t max_size);
void cx_vocab_free(cx_vocab *v);
cx_token_kind cx_vocab_kind(const cx_vocab *v);
int64_t cx_vocab_size(const cx_vocab *v);
/* Token id's text (owned by v), or NULL if id is out of range. */
const char *cx_vocab_token(const cx_vocab *v, int64_t id);
/* The ids of text's tokens, a new i32 [n] tensor (current arena or heap). A token not in the
 * vocabulary becomes <unk>, or, for a vocabulary without one, is CX_ERR_ARG naming it. */
cx_tensor *cx_vocab_encode(const cx_vocab *v, const char *text, size_t len);
/* The vocabulary as JSON ({"kind": "chars", "tokens": [...]}): a new string, free() it. */
char *cx_vocab_to_json(const cx_vocab *v);
/* Parses cx_vocab_to_json's text, checking everything (kind, 1 to 2^20 unique non-empty
 * tokens of at most 256 bytes each, valid UTF-8): NULL + CX_ERR_FORMAT naming the problem. */
cx_vocab *cx_vocab_from_json(const char *json);

/* ---- batches ---- */

/* Truncated-BPTT batches over a token stream, as char-rnn makes them: the n ids are cut into
 * batch equal streams, and batch k holds steps [k seq, (k + 1) seq) of every stream, so
 * sequence i of one batch continues sequence i of the batch before (state can be carried).
 * x [batch, seq] are inputs, y [batch, seq] the next token of each. */
typedef struct cx_text_loader cx_text_loader;

/* ids: i32 [n] (copied). CX_ERR_ARG if batch or seq < 1 or the stream is too short for one
 * batch (needs batch * seq + 1 ids). */
cx_text_loader *cx_text_loader_new(cx_tensor *ids, int64_t batch, int64_t seq);
/* Data-parallel: the stream is cut into ranks x batch streams, as cx_text_loader_new(ids,
 * ranks x batch, seq) would, and this loader gives streams [rank x batch, (rank + 1) x batch)
 * of each of its batches. */
cx_text_loader *cx_text_loader_new_shard(cx_tensor *ids, int64_t batch, int64_t seq, int rank,
                                         int ranks);
void cx_text_loader_free(cx_text_loader *l);
int64_t cx_text_loader_num_batches(const cx_text_loader *l);
void cx_text_loader_rewind(cx_text_loader *l);
/* The next batch (tensors owned by the loader, overwritten by the next call); false at the end. */
bool cx_text_loader_next(cx_text_loader *l, cx_tensor **x, cx_tensor **y);

/* ---- sampling ---- */

/* An index drawn from softmax(logits / temperature) over the n logits, restricted to the
 * top_k largest (0: all); temperature 0 (or below) picks the largest. rng NULL = default. */
int64_t cx_sample_logits(const float *logits, int64_t n, float temperature, int64_t top_k,
                         cx_rng *rng);

/* ---- language models ---- */

typedef struct {
    const char *arch; /* "lstm" (default), "gru" or "rnn" */
    int64_t layers;   /* default 2 */
    int64_t hidden;   /* default 128 */
    int64_t embed;    /* embedding size, default 64 */
    float dropout;    /* 0 (default) to < 1: dropout after each recurrent layer */
} cx_text_model_params;

/* The config text of a token model: [embedding] -> [arch] (stateful, every step) -> [dense]
 * over vocab_size tokens, sequences of any length. Without dropout the stacked layers are one
 * [arch] section (torch.nn.LSTM(num_layers = L) names its weights); with dropout each layer is
 * its own section followed by a [dropout] (Zaremba et al., arXiv:1409.2329: dropout on the
 * connections between layers, never on the recurrent ones). A new string, free() it; NULL +
 * error. */
char *cx_text_model_config(const cx_text_model_params *p, int64_t vocab_size);

typedef struct {
    int64_t seq;         /* BPTT length, default 40 */
    int64_t batch;       /* default 64 */
    int epochs;          /* default 10 */
    double max_seconds;  /* > 0: stop training after this long (then validate) */
    float clip_norm;     /* default 5 */
    float val_fraction;  /* the share of the corpus held out, default 0.05: the tail of
                          * each of up to CX_TEXT_VAL_PLACES equal parts (fewer when a
                          * piece would be under CX_TEXT_VAL_PIECE tokens), so validation
                          * samples the whole corpus (a directory read in name order is
                          * not uniform: its last files are not like its first) */
    float lr_decay;      /* > 0: the learning rate is multiplied by this after each epoch
                          * (default 1, none) */
    uint64_t seed;
    bool json;           /* JSON lines (one per epoch, one final) instead of text */
    FILE *out;           /* progress (default stdout) */
    const char *checkpoint_path; /* when set, saved after every epoch whose validation is
                                  * the best so far */
    /* Data-parallel over the ranks of an MPI job (cortex/dist.h): batch streams per rank,
     * gradients averaged, every rank validating on the whole held-out text (it is small),
     * rank 0 alone printing and writing the checkpoint. */
    bool distributed;
} cx_text_train_params;

#define CX_TEXT_VAL_PLACES 20
#define CX_TEXT_VAL_PIECE 2000

/* The training and validation streams of a corpus's ids (i32 [n]) as cx_text_train makes
 * them: of each of up to CX_TEXT_VAL_PLACES equal parts of ids, the last fraction (0 to 0.5)
 * goes to *val and the rest to *train (new tensors, in corpus order). */
cx_status cx_text_split(const cx_tensor *ids, float fraction, cx_tensor **train,
                        cx_tensor **val);

typedef struct {
    int epochs_run;
    int64_t steps;
    double seconds;
    double chars_per_s; /* training tokens per second */
    float train_bits;   /* mean bits per token of the last epoch's training batches */
    float val_bits;     /* bits per token (per character for chars) held out, last epoch */
    float best_val_bits; /* the best epoch's, the one the checkpoint holds */
    int best_epoch;
} cx_text_train_result;

/* Trains m (a token model over v, e.g. of cx_text_model_config) with o on the ids of a corpus:
 * val_fraction is held out for validation (see above), the rest cut into truncated-BPTT batches
 * (state carried across batches, reset every epoch); gradients clipped to clip_norm. Prints
 * progress (or JSON lines with train/val bits per token) on p->out. Stops on NaN/Inf. */
cx_status cx_text_train(cx_model *m, cx_optim *o, const cx_vocab *v, cx_tensor *ids,
                        const cx_text_train_params *p, cx_text_train_result *result);

/* Mean bits per token of m predicting each next id of ids, in batches of seq tokens of
 * batch streams (state carried; reset first and after). */
cx_status cx_text_evaluate(cx_model *m, cx_tensor *ids, int64_t batch, int64_t seq,
                           float *bits);

/* Writes prime (may be "" or NULL: starts from a random token) and then length tokens
 * sampled one at a time from m (stateful layers carry the context) to out. */
cx_status cx_text_generate(cx_model *m, const cx_vocab *v, const char *prime, int64_t length,
                           float temperature, int64_t top_k, cx_rng *rng, FILE *out);

/* ---- checkpoints with a vocabulary ---- */

/* cx_checkpoint_save plus the vocabulary in the metadata ("vocab": cx_vocab_to_json). */
cx_status cx_text_save(const char *path, cx_model *m, const cx_optim *o,
                       const cx_train_state *state, const cx_vocab *v);
/* cx_checkpoint_load plus the vocabulary (*vocab, the caller frees it), checked against the
 * model: the first layer must be an embedding and the last produce one score per token.
 * Errors name the file: CX_ERR_FORMAT when the vocabulary is missing, damaged or does not fit. */
cx_model *cx_text_load(const char *path, cx_vocab **vocab, cx_optim **optim,
                       cx_train_state *state);

#ifdef __cplusplus
}
#endif
#endif /* CORTEX_TEXT_H */
