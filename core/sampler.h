/* core/sampler.h - the order in which examples are trained and evaluated (HRM_SPEC.md "Training
 * data order").
 *
 * Training, shuffled (data_shuffle=true): each epoch visits every group once in a random order;
 * each group contributes one randomly chosen puzzle, and all examples of that puzzle go into the
 * batch stream. A puzzle that does not fit in what is left of the batch contributes a random
 * subset (without replacement) that fills it, and its other examples are skipped, as in the
 * published code. The last incomplete batch of an epoch is dropped; every batch is full.
 *
 * Training, reproducible (data_shuffle=false): batches of consecutive examples in file order,
 * wrapping around at the end; no randomness at all.
 *
 * The sampler's whole state is hrm_sampler_state, small plain data: save it beside a checkpoint
 * and restore it, and the resumed run draws exactly the batches the uninterrupted one would have.
 *
 * Seed scheme: epoch e uses its own xoshiro256** generator (rng.h), seeded by splitmix64 from
 * seed ^ mix(e) (see sampler.c); it first shuffles the group order, then picks puzzles and
 * subsets. So an epoch's group order is a function of (seed, e) alone.
 *
 * Evaluation: every example once, in file order, in batches; the last batch is padded and its
 * padding slots are marked invalid. */
#ifndef HRM_CORE_SAMPLER_H
#define HRM_CORE_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

#include "dataset.h"
#include "rng.h"

/* ---- batches ------------------------------------------------------------------------------ */
typedef struct hrm_batch {
    int size; /* B slots */
    int valid; /* slots [0, valid) hold examples, the rest are padding (evaluation only) */
    int32_t *example; /* (B,) row in inputs/labels; -1 in a padding slot */
    int32_t *puzzle; /* (B,) puzzle index (row of puzzle_indices); -1 in a padding slot */
    int32_t *identifier; /* (B,) puzzle identifier; blank_identifier_id in a padding slot */
} hrm_batch;

hrm_status hrm_batch_alloc(hrm_batch *b, int size);
void hrm_batch_free(hrm_batch *b);

/* The model's inputs and labels of a batch, as the published collate builds them: labels equal
 * to ignore_label_id become ignore_label; padding slots get pad_id inputs and ignore_label labels.
 * inputs is (B, seq_len), labels is (B, seq_len). */
void hrm_batch_gather(const hrm_dataset *ds, const hrm_batch *b, int32_t ignore_label, int32_t *inputs,
                      int32_t *labels);

/* ---- the training sampler ----------------------------------------------------------------- */
typedef struct hrm_sampler_state {
    uint32_t shuffle; /* 1: groups/puzzles as in the spec; 0: reproducible file order */
    uint32_t batch_size; /* B */
    uint64_t seed;
    uint64_t epoch; /* the epoch in progress (reproducible mode: completed passes) */
    uint64_t position; /* next entry of this epoch's group order (reproducible: next example) */
    uint64_t batches; /* batches produced so far */
    uint64_t rng[4]; /* this epoch's generator after the last batch (unused when not shuffling) */
} hrm_sampler_state;

typedef struct hrm_sampler {
    const hrm_dataset *ds; /* borrowed; must outlive the sampler */
    hrm_sampler_state st;
    int32_t *group_order; /* (G,) this epoch's group order; shuffle mode only */
} hrm_sampler;

/* Errors (one line, naming global_batch_size or the dataset) when the dataset cannot fill one
 * batch of batch_size in an epoch. */
hrm_status hrm_sampler_init(hrm_sampler *s, const hrm_dataset *ds, int batch_size, bool shuffle, uint64_t seed,
                            char *err, size_t err_size);
void hrm_sampler_free(hrm_sampler *s);

/* Fills all b->size (== batch_size) slots with the next batch; b->valid = b->size. */
hrm_status hrm_sampler_next(hrm_sampler *s, hrm_batch *b, char *err, size_t err_size);

/* The state to save; restoring it into a sampler over the same dataset, mode and batch size
 * continues the stream exactly where it was saved. */
hrm_sampler_state hrm_sampler_save(const hrm_sampler *s);
hrm_status hrm_sampler_restore(hrm_sampler *s, const hrm_sampler_state *st, char *err, size_t err_size);

/* One-line text form of a state (for checkpoint metadata), and its parser. format returns the
 * length snprintf would write. */
int hrm_sampler_state_format(const hrm_sampler_state *st, char *buf, size_t size);
hrm_status hrm_sampler_state_parse(const char *text, hrm_sampler_state *st, char *err, size_t err_size);

/* ---- evaluation --------------------------------------------------------------------------- */
typedef struct hrm_eval_iter {
    const hrm_dataset *ds;
    int next; /* first example of the next batch */
} hrm_eval_iter;

void hrm_eval_iter_init(hrm_eval_iter *it, const hrm_dataset *ds);
/* Fills b with the next b->size examples (padding at the end); false when all were given. */
bool hrm_eval_iter_next(hrm_eval_iter *it, hrm_batch *b);

#endif /* HRM_CORE_SAMPLER_H */
