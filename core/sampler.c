/* core/sampler.c - the training sampler (shuffled and reproducible), the evaluation iterator,
 * and batch gathering (see sampler.h). */
#include "sampler.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io_util.h"

#define STATE_TAG "hrm-sampler-v2"
#define STATE_TAG_V1 "hrm-sampler-v1"

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

/* ---- shuffled iterations (sampler.h: the published _iter_train and _sample_batch) ------------ */

/* An iteration whose puzzles give fewer examples than a batch yields no batch, as in the
 * published code, and the next iteration is drawn; only a dataset that (almost) never fills one
 * is refused. */
#define MAX_EMPTY_ITERATIONS 1000

/* numpy's shuffle of 0..n-1 (Generator.permutation, RandomState.permutation). */
static void permutation(hrm_rng *r, int n, int32_t *out) {
    for (int i = 0; i < n; i++) out[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)hrm_rng_below(r, (int64_t)i + 1), t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
}

/* The iteration's generators (sampler.h): the published seed + self._iters, split in two. */
static void iteration_rngs(const hrm_sampler_state *st, hrm_rng *order, hrm_rng *pick) {
    uint64_t x = st->seed + st->iteration + 1;
    hrm_rng_seed(order, hrm_splitmix64(&x));
    hrm_rng_seed(pick, hrm_splitmix64(&x));
}

/* Draws the permutations of the iteration in progress up to the one that st.position reads (the
 * last one when the order is used up). */
static void build_order(hrm_sampler *s) {
    uint64_t G = (uint64_t)s->ds->num_groups, epoch = s->st.position / G;
    hrm_rng pick;
    if (epoch == s->st.epochs_per_iter) epoch--;
    iteration_rngs(&s->st, &s->order_rng, &pick);
    for (uint64_t e = 0; e <= epoch; e++) permutation(&s->order_rng, (int)G, s->order);
    s->order_epoch = epoch;
}

/* Iteration st.iteration from its start. */
static void start_iteration(hrm_sampler *s) {
    hrm_rng order, pick;
    iteration_rngs(&s->st, &order, &pick);
    memcpy(s->st.rng, pick.s, sizeof pick.s);
    s->st.position = 0;
    build_order(s);
}

/* Entry st.position of the iteration's group order; advances to the next epoch's permutation. */
static int next_group(hrm_sampler *s) {
    uint64_t G = (uint64_t)s->ds->num_groups, epoch = s->st.position / G;
    if (epoch != s->order_epoch) { /* epoch == order_epoch + 1: epochs are drawn in sequence */
        permutation(&s->order_rng, (int)G, s->order);
        s->order_epoch = epoch;
    }
    return s->order[s->st.position++ % G];
}

/* Puts the first examples of a random permutation of puzzle p's into slots [fill, ...), as many as
 * fit (np.random.choice(size, n, replace=False)). Returns the new fill. */
static int put_puzzle(hrm_sampler *s, hrm_rng *r, hrm_batch *b, int fill, int p) {
    const hrm_dataset *ds = s->ds;
    int first = ds->puzzle_indices[p], size = ds->puzzle_indices[p + 1] - first;
    int n = b->size - fill < size ? b->size - fill : size;
    permutation(r, size, s->examples);
    for (int i = 0; i < n; i++) batch_put(b, fill++, ds, first + s->examples[i], p);
    return fill;
}

static hrm_status next_shuffled(hrm_sampler *s, hrm_batch *b, char *err, size_t n) {
    const int32_t *gi = s->ds->group_indices;
    uint64_t end = s->st.epochs_per_iter * (uint64_t)s->ds->num_groups;
    hrm_rng r;
    int fill = 0, new_iterations = 0;
    memcpy(r.s, s->st.rng, sizeof r.s);
    while (fill < b->size) {
        if (s->st.position == end) { /* the iteration's last, incomplete batch is dropped */
            if (++new_iterations > MAX_EMPTY_ITERATIONS)
                return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, "global_batch_size",
                                   "%d consecutive iterations of this dataset drew fewer than %d examples",
                                   MAX_EMPTY_ITERATIONS, b->size);
            s->st.iteration++;
            start_iteration(s);
            memcpy(r.s, s->st.rng, sizeof r.s);
            fill = 0;
            continue;
        }
        int g = next_group(s), count = gi[g + 1] - gi[g];
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
            s->st.iteration++;
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

static int largest_puzzle(const hrm_dataset *ds) {
    int most = 0;
    for (int p = 0; p < ds->num_puzzles; p++) {
        int k = ds->puzzle_indices[p + 1] - ds->puzzle_indices[p];
        most = k > most ? k : most;
    }
    return most;
}

hrm_status hrm_sampler_init(hrm_sampler *s, const hrm_dataset *ds, int batch_size, bool shuffle,
                            uint64_t epochs_per_iter, uint64_t seed, char *err, size_t err_size) {
    memset(s, 0, sizeof *s);
    s->ds = ds;
    s->st = (hrm_sampler_state){
        .shuffle = shuffle, .batch_size = (uint32_t)batch_size, .epochs_per_iter = epochs_per_iter, .seed = seed};
    if (batch_size < 1)
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, "global_batch_size", "must be at least 1, got %d",
                           batch_size);
    if (epochs_per_iter < 1)
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, "eval_interval",
                           "epochs per iteration must be at least 1");
    if (ds->num_examples < 1) return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, "dataset", "has no examples");
    if (!shuffle) return HRM_OK;
    if (epochs_per_iter > (UINT64_C(1) << 62) / (uint64_t)ds->num_groups)
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, "eval_interval",
                           "%" PRIu64 " epochs per iteration of %d groups do not fit 62 bits", epochs_per_iter,
                           ds->num_groups);
    int64_t most = max_epoch_examples(ds);
    if ((uint64_t)most < ((uint64_t)batch_size + epochs_per_iter - 1) / epochs_per_iter) /* most x E < B */
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, "global_batch_size",
                           "%d is more than the at most %" PRId64 " x %" PRIu64
                           " examples one iteration of this dataset gives",
                           batch_size, most, epochs_per_iter);
    s->order = malloc((size_t)ds->num_groups * sizeof *s->order);
    s->examples = malloc(((size_t)largest_puzzle(ds) + 1) * sizeof *s->examples);
    if (!s->order || !s->examples) return hrm_io_fail(err, err_size, HRM_ERR_OUT_OF_MEMORY, "sampler", "out of memory");
    start_iteration(s);
    return HRM_OK;
}

void hrm_sampler_free(hrm_sampler *s) {
    free(s->order);
    free(s->examples);
    memset(s, 0, sizeof *s);
}

hrm_status hrm_sampler_next(hrm_sampler *s, hrm_batch *b, char *err, size_t err_size) {
    if (b->size != (int)s->st.batch_size)
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, "sampler", "batch of %d slots for a batch size of %u",
                           b->size, s->st.batch_size);
    if (s->st.shuffle) {
        hrm_status st = next_shuffled(s, b, err, err_size);
        if (st) return st;
    } else {
        next_in_order(s, b);
    }
    b->valid = b->size;
    return HRM_OK;
}

hrm_sampler_state hrm_sampler_save(const hrm_sampler *s) { return s->st; }

hrm_status hrm_sampler_restore(hrm_sampler *s, const hrm_sampler_state *st, char *err, size_t err_size) {
    const hrm_dataset *ds = s->ds;
    uint64_t end = st->shuffle ? s->st.epochs_per_iter * (uint64_t)ds->num_groups : (uint64_t)ds->num_examples - 1;
    if (st->shuffle != s->st.shuffle || st->batch_size != s->st.batch_size)
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, "sampler state",
                           "saved with data_shuffle=%s and global_batch_size=%u, this run has %s and %u",
                           st->shuffle ? "true" : "false", st->batch_size, s->st.shuffle ? "true" : "false",
                           s->st.batch_size);
    if (st->shuffle && st->epochs_per_iter != s->st.epochs_per_iter)
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, "sampler state",
                           "saved with %" PRIu64 " epochs per iteration (eval_interval, or epochs without it), "
                           "this run has %" PRIu64,
                           st->epochs_per_iter, s->st.epochs_per_iter);
    if (st->position > end)
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, "sampler state",
                           "position %" PRIu64 " is past this dataset's end (%" PRIu64 ")", st->position, end);
    s->st = *st;
    if (st->shuffle) build_order(s);
    return HRM_OK;
}

int hrm_sampler_state_format(const hrm_sampler_state *st, char *buf, size_t size) {
    return snprintf(buf, size,
                    STATE_TAG " shuffle=%" PRIu32 " batch_size=%" PRIu32 " epochs_per_iter=%" PRIu64 " seed=%" PRIu64
                              " iteration=%" PRIu64 " position=%" PRIu64 " rng=%016" PRIx64 ",%016" PRIx64
                              ",%016" PRIx64 ",%016" PRIx64,
                    st->shuffle, st->batch_size, st->epochs_per_iter, st->seed, st->iteration, st->position, st->rng[0],
                    st->rng[1], st->rng[2], st->rng[3]);
}

/* A v1 line: the reproducible order carries over, a shuffled one is refused. */
static hrm_status parse_v1(const char *text, hrm_sampler_state *st, char *err, size_t err_size) {
    uint64_t batches, rng[4];
    int end = -1;
    sscanf(text,
           STATE_TAG_V1 " shuffle=%" SCNu32 " batch_size=%" SCNu32 " seed=%" SCNu64 " epoch=%" SCNu64
                        " position=%" SCNu64 " batches=%" SCNu64 " rng=%" SCNx64 ",%" SCNx64 ",%" SCNx64 ",%" SCNx64
                        "%n",
           &st->shuffle, &st->batch_size, &st->seed, &st->iteration, &st->position, &batches, &rng[0], &rng[1], &rng[2],
           &rng[3], &end);
    if (end < 0 || text[end] || st->shuffle > 1)
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, "sampler state", "cannot parse '%.80s'", text);
    if (st->shuffle)
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, "sampler state",
                           STATE_TAG_V1 " is the shuffled order of an older hrm (one drop per epoch), which "
                                        "this version no longer draws: start the run afresh, or finish it with that "
                                        "version");
    st->epochs_per_iter = 1;
    return HRM_OK;
}

hrm_status hrm_sampler_state_parse(const char *text, hrm_sampler_state *st, char *err, size_t err_size) {
    int end = -1;
    memset(st, 0, sizeof *st);
    if (!strncmp(text, STATE_TAG_V1 " ", sizeof STATE_TAG_V1)) return parse_v1(text, st, err, err_size);
    sscanf(text,
           STATE_TAG " shuffle=%" SCNu32 " batch_size=%" SCNu32 " epochs_per_iter=%" SCNu64 " seed=%" SCNu64
                     " iteration=%" SCNu64 " position=%" SCNu64 " rng=%" SCNx64 ",%" SCNx64 ",%" SCNx64 ",%" SCNx64
                     "%n",
           &st->shuffle, &st->batch_size, &st->epochs_per_iter, &st->seed, &st->iteration, &st->position, &st->rng[0],
           &st->rng[1], &st->rng[2], &st->rng[3], &end);
    if (end < 0 || text[end] || st->shuffle > 1 || st->epochs_per_iter < 1)
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
