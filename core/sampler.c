/* core/sampler.c - the training sampler (shuffled and reproducible), the evaluation iterator,
 * and batch gathering (see sampler.h). */
#include "sampler.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io_util.h"

#define STATE_TAG "hrm-sampler-v1"

/* ---- batches ------------------------------------------------------------------------------ */

hrm_status hrm_batch_alloc(hrm_batch *b, int size) {
    memset(b, 0, sizeof *b);
    if (size < 1) return HRM_ERR_INVALID_ARG;
    b->example = malloc((size_t)size * sizeof *b->example);
    b->puzzle = malloc((size_t)size * sizeof *b->puzzle);
    b->identifier = malloc((size_t)size * sizeof *b->identifier);
    if (!b->example || !b->puzzle || !b->identifier) {
        hrm_batch_free(b);
        return HRM_ERR_OUT_OF_MEMORY;
    }
    b->size = size;
    return HRM_OK;
}

void hrm_batch_free(hrm_batch *b) {
    free(b->example);
    free(b->puzzle);
    free(b->identifier);
    memset(b, 0, sizeof *b);
}

static void batch_put(hrm_batch *b, int slot, const hrm_dataset *ds, int example, int puzzle) {
    b->example[slot] = example;
    b->puzzle[slot] = puzzle;
    b->identifier[slot] = ds->puzzle_identifiers[puzzle];
}

static void batch_pad(hrm_batch *b, int slot, const hrm_dataset *ds) {
    b->example[slot] = -1;
    b->puzzle[slot] = -1;
    b->identifier[slot] = ds->meta.blank_identifier_id;
}

void hrm_batch_gather(const hrm_dataset *ds, const hrm_batch *b, int32_t ignore_label, int32_t *inputs,
                      int32_t *labels) {
    const hrm_dataset_meta *m = &ds->meta;
    int T = m->seq_len;
    for (int j = 0; j < b->size; j++) {
        int32_t *in = inputs + (size_t)j * T, *lab = labels + (size_t)j * T;
        for (int t = 0; t < T; t++) {
            int32_t y = j < b->valid ? hrm_dataset_label(ds, b->example[j], t) : ignore_label;
            in[t] = j < b->valid ? hrm_dataset_input(ds, b->example[j], t) : m->pad_id;
            lab[t] = (j < b->valid && m->has_ignore_label && y == m->ignore_label_id) ? ignore_label : y;
        }
    }
}

#define MAX_EMPTY_EPOCHS 1000

/* ---- shuffled epochs ---------------------------------------------------------------------- */

/* Epoch e's generator: a function of (seed, e) alone. */
static void epoch_rng(hrm_rng *r, uint64_t seed, uint64_t epoch) {
    uint64_t e = epoch ^ 0x5851F42D4C957F2Dull;
    hrm_rng_seed(r, seed ^ hrm_splitmix64(&e));
}

/* Builds epoch st.epoch's group order (Fisher-Yates) and leaves st.rng just after it. */
static void start_epoch(hrm_sampler *s) {
    hrm_rng r;
    int G = s->ds->num_groups;
    epoch_rng(&r, s->st.seed, s->st.epoch);
    for (int i = 0; i < G; i++) s->group_order[i] = i;
    for (int i = G - 1; i > 0; i--) {
        int j = (int)hrm_rng_below(&r, (int64_t)i + 1), t = s->group_order[i];
        s->group_order[i] = s->group_order[j];
        s->group_order[j] = t;
    }
    memcpy(s->st.rng, r.s, sizeof r.s);
    s->st.position = 0;
}

/* Puts puzzle p's examples into slots [fill, ...): all of them when they fit, else a random
 * subset of the free slots' size (selection sampling, in file order). Returns the new fill. */
static int put_puzzle(hrm_sampler *s, hrm_rng *r, hrm_batch *b, int fill, int p) {
    const hrm_dataset *ds = s->ds;
    int first = ds->puzzle_indices[p], k = ds->puzzle_indices[p + 1] - first;
    int need = b->size - fill < k ? b->size - fill : k;
    for (int i = 0; i < k && need > 0; i++) {
        if (need < k - i && hrm_rng_below(r, k - i) >= need) continue;
        batch_put(b, fill++, ds, first + i, p);
        need--;
    }
    return fill;
}

static hrm_status next_shuffled(hrm_sampler *s, hrm_batch *b, char *err, size_t n) {
    const int32_t *gi = s->ds->group_indices;
    hrm_rng r;
    int fill = 0, new_epochs = 0;
    memcpy(r.s, s->st.rng, sizeof r.s);
    while (fill < b->size) {
        if (s->st.position == (uint64_t)s->ds->num_groups) { /* the incomplete batch is dropped */
            /* An epoch whose random puzzles give fewer examples than a batch yields no batch, as
             * in the published code, and the next epoch is drawn; only a dataset that (almost)
             * never fills one is refused. */
            if (++new_epochs > MAX_EMPTY_EPOCHS)
                return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, "global_batch_size",
                                   "%d consecutive epochs of this dataset drew fewer than %d examples",
                                   MAX_EMPTY_EPOCHS, b->size);
            s->st.epoch++;
            start_epoch(s);
            memcpy(r.s, s->st.rng, sizeof r.s);
            fill = 0;
            continue;
        }
        int g = s->group_order[s->st.position++], count = gi[g + 1] - gi[g];
        if (count > 0) fill = put_puzzle(s, &r, b, fill, gi[g] + (int)hrm_rng_below(&r, count));
    }
    memcpy(s->st.rng, r.s, sizeof r.s);
    return HRM_OK;
}

/* ---- reproducible order ------------------------------------------------------------------- */

static void next_in_order(hrm_sampler *s, hrm_batch *b) {
    const hrm_dataset *ds = s->ds;
    for (int j = 0; j < b->size; j++) {
        int row = (int)s->st.position;
        batch_put(b, j, ds, row, hrm_dataset_puzzle_of(ds, row));
        if (++s->st.position == (uint64_t)ds->num_examples) {
            s->st.position = 0;
            s->st.epoch++;
        }
    }
}

/* ---- the sampler -------------------------------------------------------------------------- */

/* The most examples one epoch can give: each group's largest puzzle. */
static int64_t max_epoch_examples(const hrm_dataset *ds) {
    int64_t total = 0;
    for (int g = 0; g < ds->num_groups; g++) {
        int most = 0;
        for (int p = ds->group_indices[g]; p < ds->group_indices[g + 1]; p++) {
            int k = ds->puzzle_indices[p + 1] - ds->puzzle_indices[p];
            most = k > most ? k : most;
        }
        total += most;
    }
    return total;
}

hrm_status hrm_sampler_init(hrm_sampler *s, const hrm_dataset *ds, int batch_size, bool shuffle, uint64_t seed,
                            char *err, size_t err_size) {
    memset(s, 0, sizeof *s);
    s->ds = ds;
    s->st = (hrm_sampler_state){.shuffle = shuffle, .batch_size = (uint32_t)batch_size, .seed = seed};
    if (batch_size < 1)
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, "global_batch_size", "must be at least 1, got %d",
                           batch_size);
    if (ds->num_examples < 1) return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, "dataset", "has no examples");
    if (!shuffle) return HRM_OK;
    int64_t most = max_epoch_examples(ds);
    if (most < batch_size)
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, "global_batch_size",
                           "%d is more than the at most %" PRId64 " examples one epoch of this dataset gives",
                           batch_size, most);
    s->group_order = malloc((size_t)ds->num_groups * sizeof *s->group_order);
    if (!s->group_order) return hrm_io_fail(err, err_size, HRM_ERR_OUT_OF_MEMORY, "sampler", "out of memory");
    start_epoch(s);
    return HRM_OK;
}

void hrm_sampler_free(hrm_sampler *s) {
    free(s->group_order);
    memset(s, 0, sizeof *s);
}

hrm_status hrm_sampler_next(hrm_sampler *s, hrm_batch *b, char *err, size_t err_size) {
    if (b->size != (int)s->st.batch_size)
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, "sampler", "batch of %d slots for a batch size of %u",
                           b->size, s->st.batch_size);
    hrm_status st = HRM_OK;
    if (s->st.shuffle)
        st = next_shuffled(s, b, err, err_size);
    else
        next_in_order(s, b);
    if (st) return st;
    b->valid = b->size;
    s->st.batches++;
    return HRM_OK;
}

hrm_sampler_state hrm_sampler_save(const hrm_sampler *s) {
    return s->st;
}

hrm_status hrm_sampler_restore(hrm_sampler *s, const hrm_sampler_state *st, char *err, size_t err_size) {
    uint64_t end = st->shuffle ? (uint64_t)s->ds->num_groups : (uint64_t)s->ds->num_examples - 1;
    if (st->shuffle != s->st.shuffle || st->batch_size != s->st.batch_size)
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, "sampler state",
                           "saved with data_shuffle=%s and global_batch_size=%u, this run has %s and %u",
                           st->shuffle ? "true" : "false", st->batch_size, s->st.shuffle ? "true" : "false",
                           s->st.batch_size);
    if (st->position > end)
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, "sampler state",
                           "position %" PRIu64 " is past this dataset's end (%" PRIu64 ")", st->position, end);
    s->st.seed = st->seed;
    s->st.epoch = st->epoch;
    if (st->shuffle) start_epoch(s); /* rebuilds this epoch's group order */
    s->st = *st;
    return HRM_OK;
}

int hrm_sampler_state_format(const hrm_sampler_state *st, char *buf, size_t size) {
    return snprintf(buf, size,
                    STATE_TAG " shuffle=%" PRIu32 " batch_size=%" PRIu32 " seed=%" PRIu64 " epoch=%" PRIu64
                              " position=%" PRIu64 " batches=%" PRIu64 " rng=%016" PRIx64 ",%016" PRIx64 ",%016" PRIx64
                              ",%016" PRIx64,
                    st->shuffle, st->batch_size, st->seed, st->epoch, st->position, st->batches, st->rng[0], st->rng[1],
                    st->rng[2], st->rng[3]);
}

hrm_status hrm_sampler_state_parse(const char *text, hrm_sampler_state *st, char *err, size_t err_size) {
    int end = -1;
    memset(st, 0, sizeof *st);
    sscanf(text,
           STATE_TAG " shuffle=%" SCNu32 " batch_size=%" SCNu32 " seed=%" SCNu64 " epoch=%" SCNu64 " position=%" SCNu64
                     " batches=%" SCNu64 " rng=%" SCNx64 ",%" SCNx64 ",%" SCNx64 ",%" SCNx64 "%n",
           &st->shuffle, &st->batch_size, &st->seed, &st->epoch, &st->position, &st->batches, &st->rng[0], &st->rng[1],
           &st->rng[2], &st->rng[3], &end);
    if (end < 0 || text[end] || st->shuffle > 1)
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, "sampler state", "cannot parse '%.80s'", text);
    return HRM_OK;
}

/* ---- evaluation --------------------------------------------------------------------------- */

void hrm_eval_iter_init(hrm_eval_iter *it, const hrm_dataset *ds) {
    it->ds = ds;
    it->next = 0;
}

bool hrm_eval_iter_next(hrm_eval_iter *it, hrm_batch *b) {
    const hrm_dataset *ds = it->ds;
    if (it->next >= ds->num_examples) return false;
    int left = ds->num_examples - it->next, p = hrm_dataset_puzzle_of(ds, it->next);
    b->valid = left < b->size ? left : b->size;
    for (int j = 0; j < b->size; j++) {
        if (j >= b->valid) {
            batch_pad(b, j, ds);
            continue;
        }
        int row = it->next + j;
        while (ds->puzzle_indices[p + 1] <= row) p++;
        batch_put(b, j, ds, row, p);
    }
    it->next += b->valid;
    return true;
}
