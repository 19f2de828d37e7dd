/* core/sampler.h - the order in which examples are trained and evaluated (docs/MODEL.md "Training
 * data order").
 *
 * Training, shuffled (data_shuffle=true), as the published puzzle_dataset.py (_iter_train,
 * _sample_batch) does: the stream runs in iterations of E = epochs_per_iter epochs (the trainer
 * passes eval_interval, or epochs without it, as pretrain.py does). Iteration i draws E fresh
 * permutations of the groups and concatenates them into one group order; batches are cut from
 * that order: each group contributes one randomly chosen puzzle, and that puzzle's examples in a
 * random order, as many as still fit (a puzzle is cut at the batch's end, its other examples are
 * skipped). Batches run across the epoch boundaries inside an iteration; only the iteration's last
 * incomplete batch is dropped, and the next iteration starts a fresh order. Every batch is full.
 * An empty group (the published code fails on one) is passed over.
 *
 * Generators (rng.h; numpy's Philox cannot be matched bit for bit, the logic is): iteration i
 * (from 0) is keyed k = seed + i + 1, the published seed + self._iters; x = k, and two xoshiro256**
 * generators are seeded with hrm_rng_seed(hrm_splitmix64(&x)) in turn: the order generator, which
 * draws the E permutations one after the other, and the puzzle generator, which draws, for each
 * group entry, the puzzle (rng.integers over the group's puzzles) and then the permutation of its
 * examples whose first ones go into the batch (np.random.choice(size, n, replace=False), which is
 * permutation(size)[:n]; the published code draws it from numpy's global generator). The published
 * code draws all E permutations before the first puzzle; drawing them from a generator of their
 * own keeps that sequence while holding only the permutation of the epoch in progress (G entries,
 * not E x G). A permutation of n is numpy's shuffle: for i = n-1 down to 1, swap entry i with
 * entry hrm_rng_below(i + 1); rng.integers(lo, hi) is lo + hrm_rng_below(hi - lo). The stream is
 * endless (iteration after iteration); the trainer ends it at its step count.
 *
 * Training, reproducible (data_shuffle=false): batches of consecutive examples in file order,
 * wrapping around at the end; no randomness at all.
 *
 * The sampler's whole state is hrm_sampler_state, small plain data: save it beside a checkpoint
 * and restore it, and the resumed run draws exactly the batches the uninterrupted one would have
 * (restoring replays the order generator up to the epoch in progress: at most E x G draws, what
 * the published code draws at the start of every iteration).
 *
 * Evaluation: every example once, in file order, in batches; the last batch is padded and its
 * padding slots are marked invalid. */
#ifndef HRM_CORE_SAMPLER_H
#define HRM_CORE_SAMPLER_H

#include "internal.h"
#include <stdbool.h>
#include <stdint.h>

#include "dataset.h"
#include "rng.h"

/* ---- batches ------------------------------------------------------------------------------ */
typedef struct hrm_batch {
    int size;            /* B slots */
    int valid;           /* slots [0, valid) hold examples, the rest are padding (evaluation only) */
    int32_t *example;    /* (B,) row in inputs/labels; -1 in a padding slot */
    int32_t *puzzle;     /* (B,) puzzle index (row of puzzle_indices); -1 in a padding slot */
    int32_t *identifier; /* (B,) puzzle identifier; blank_identifier_id in a padding slot */
} hrm_batch;

HRM_INTERNAL hrm_status hrm_batch_alloc(hrm_batch *b, int size);
HRM_INTERNAL void hrm_batch_free(hrm_batch *b);

/* The model's inputs and labels of a batch, as the published collate builds them: labels equal
 * to ignore_label_id become ignore_label; padding slots get pad_id inputs and ignore_label labels.
 * inputs is (B, seq_len), labels is (B, seq_len). */
HRM_INTERNAL void hrm_batch_gather(const hrm_dataset *ds, const hrm_batch *b, int32_t ignore_label, int32_t *inputs,
                                   int32_t *labels);

/* ---- the training sampler ----------------------------------------------------------------- */
typedef struct hrm_sampler_state {
    uint32_t shuffle;         /* 1: iterations of shuffled groups as published; 0: reproducible file order */
    uint32_t batch_size;      /* B */
    uint64_t epochs_per_iter; /* E, >= 1 (the reproducible order does not use it) */
    uint64_t seed;
    uint64_t iteration; /* the iteration in progress, from 0 (reproducible: completed passes) */
    uint64_t position;  /* next entry of the iteration's group order, in [0, E x G] (the published
                          start_index); reproducible: next example */
    uint64_t rng[4];    /* the iteration's puzzle generator after the last batch (shuffle mode) */
} hrm_sampler_state;

typedef struct hrm_sampler {
    const hrm_dataset *ds; /* borrowed; must outlive the sampler */
    hrm_sampler_state st;
    /* shuffle mode, derived from st: */
    int32_t *order; /* (G,) the group permutation of epoch order_epoch of the iteration in progress */
    uint64_t order_epoch;
    hrm_rng order_rng; /* the iteration's order generator just after drawing `order` */
    int32_t *examples; /* (largest puzzle,) scratch for the permutation of a puzzle's examples */
} hrm_sampler;

/* epochs_per_iter: E, the epochs of one iteration (pretrain.py: eval_interval, or epochs).
 * Errors (one line, naming global_batch_size, eval_interval or the dataset) when one iteration
 * of the dataset cannot fill one batch of batch_size, or E x G does not fit 62 bits. */
HRM_INTERNAL hrm_status hrm_sampler_init(hrm_sampler *s, const hrm_dataset *ds, int batch_size, bool shuffle,
                                         uint64_t epochs_per_iter, uint64_t seed, char *err, size_t err_size);
HRM_INTERNAL void hrm_sampler_free(hrm_sampler *s);

/* Fills all b->size (== batch_size) slots with the next batch; b->valid = b->size. */
HRM_INTERNAL hrm_status hrm_sampler_next(hrm_sampler *s, hrm_batch *b, char *err, size_t err_size);

/* The state to save; restoring it into a sampler over the same dataset, mode, batch size and (when
 * shuffling) epochs_per_iter continues the stream exactly where it was saved. */
HRM_INTERNAL hrm_sampler_state hrm_sampler_save(const hrm_sampler *s);
HRM_INTERNAL hrm_status hrm_sampler_restore(hrm_sampler *s, const hrm_sampler_state *st, char *err, size_t err_size);

/* One-line text form of a state (for checkpoint metadata), "hrm-sampler-v2 shuffle=.. batch_size=..
 * epochs_per_iter=.. seed=.. iteration=.. position=.. rng=4 hex words", and its parser. format
 * returns the length snprintf would write: below HRM_SAMPLER_STATE_MAX for any state. The parser
 * also reads a v1 line (the per-epoch sampler before the published iterations) of the
 * reproducible order, whose stream is unchanged (epoch -> iteration, epochs_per_iter 1), and
 * refuses a shuffled v1 line, whose order no longer exists, with one line saying so. */
#define HRM_SAMPLER_STATE_MAX 256
HRM_INTERNAL int hrm_sampler_state_format(const hrm_sampler_state *st, char *buf, size_t size);
HRM_INTERNAL hrm_status hrm_sampler_state_parse(const char *text, hrm_sampler_state *st, char *err, size_t err_size);

/* ---- evaluation --------------------------------------------------------------------------- */
typedef struct hrm_eval_iter {
    const hrm_dataset *ds;
    int next; /* first example of the next batch */
} hrm_eval_iter;

HRM_INTERNAL void hrm_eval_iter_init(hrm_eval_iter *it, const hrm_dataset *ds);
/* Fills b with the next b->size examples (padding at the end); false when all were given. */
HRM_INTERNAL bool hrm_eval_iter_next(hrm_eval_iter *it, hrm_batch *b);

#endif /* HRM_CORE_SAMPLER_H */
