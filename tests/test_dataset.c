/* tests/test_dataset.c - datasets in the published layout (written, read back, and refused when
 * any file is wrong, with the file named), the training sampler (against a port of the published
 * _iter_train / _sample_batch: group orders and batches; each group once per epoch; one drop per
 * iteration; full batches, examples inside their puzzles; determinism; save/restore at every
 * point; the state line and its v1 predecessor; the reproducible order) and the evaluation
 * iterator. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "io_fixtures.h"
#include "npy.h"
#include "sampler.h"

Suite *dataset_suite(void);

static char err[1024];

static void write_dataset(const hrm_dataset *ds) {
    ck_assert_msg(hrm_dataset_write(ds, fx_path("data"), "train", err, sizeof err) == HRM_OK, "%s", err);
}

static void load_dataset(hrm_dataset *ds) {
    ck_assert_msg(hrm_dataset_load(fx_path("data"), "train", ds, err, sizeof err) == HRM_OK, "%s", err);
}

static void expect_same(const hrm_dataset *a, const hrm_dataset *b) {
    ck_assert(a->num_examples == b->num_examples && a->num_puzzles == b->num_puzzles && a->num_groups == b->num_groups);
    ck_assert(!memcmp(&a->meta, &b->meta, sizeof a->meta));
    ck_assert(a->inputs.dtype == b->inputs.dtype && a->labels.dtype == b->labels.dtype);
    ck_assert_mem_eq(a->inputs.data, b->inputs.data, a->inputs.count * hrm_npy_dtype_size(a->inputs.dtype));
    ck_assert_mem_eq(a->labels.data, b->labels.data, a->labels.count * hrm_npy_dtype_size(a->labels.dtype));
    ck_assert_mem_eq(a->puzzle_identifiers, b->puzzle_identifiers, (size_t)a->num_puzzles * 4);
    ck_assert_mem_eq(a->puzzle_indices, b->puzzle_indices, (size_t)(a->num_puzzles + 1) * 4);
    ck_assert_mem_eq(a->group_indices, b->group_indices, (size_t)(a->num_groups + 1) * 4);
    ck_assert_int_eq(a->num_identifiers, b->num_identifiers);
    for (int i = 0; i < a->num_identifiers; i++) ck_assert_str_eq(a->identifiers[i], b->identifiers[i]);
}

/* ---- the layout --------------------------------------------------------------------------- */

START_TEST(test_dataset_roundtrip) {
    hrm_dataset ds, back;
    fx_dataset(&ds, 9, 1, _i ? HRM_NPY_I32 : HRM_NPY_U8);
    write_dataset(&ds);
    load_dataset(&back);
    expect_same(&ds, &back);
    ck_assert(!fx_exists(fx_path("data/train/all__inputs.npy.tmp")));
    /* dataset.json has the published fields and types */
    json_t *j = json_load_file(fx_path("data/train/dataset.json"), 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(json_object_size(j), 9);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "vocab_size")), 6);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "total_groups")), 9);
    ck_assert(json_is_real(json_object_get(j, "mean_puzzle_examples")));
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "sets"), 0)), "all");
    json_decref(j);
    hrm_dataset_free(&ds);
    hrm_dataset_free(&back);
}
END_TEST

/* Builders that write int64 token arrays and a null ignore_label_id load too. */
START_TEST(test_dataset_int64_and_null_ignore) {
    hrm_dataset ds, back;
    fx_dataset(&ds, 4, 2, HRM_NPY_U8);
    ds.meta.has_ignore_label = false;
    for (size_t i = 0; i < ds.labels.count; i++)
        if (((uint8_t *)ds.labels.data)[i] == 0) ((uint8_t *)ds.labels.data)[i] = 1;
    write_dataset(&ds);
    int64_t *wide = malloc(ds.inputs.count * sizeof *wide);
    char dict[128];
    for (size_t i = 0; i < ds.inputs.count; i++) wide[i] = ((uint8_t *)ds.inputs.data)[i];
    snprintf(dict, sizeof dict, "{'descr': '<i8', 'fortran_order': False, 'shape': (%d, 4), }", ds.num_examples);
    fx_npy_raw(fx_path("data/train/all__inputs.npy"), 1, dict, wide, ds.inputs.count * sizeof *wide);
    load_dataset(&back);
    ck_assert(back.inputs.dtype == HRM_NPY_I32 && !back.meta.has_ignore_label);
    for (size_t i = 0; i < ds.inputs.count; i++) ck_assert_int_eq(hrm_npy_int_at(&back.inputs, i), wide[i]);
    free(wide);
    hrm_dataset_free(&ds);
    hrm_dataset_free(&back);
}
END_TEST

/* One broken file each: the file the error must name, what it must say, and how a good
 * dataset's files are broken after writing. */
typedef struct bad_case {
    const char *file, *problem;
    void (*breaks)(const hrm_dataset *ds);
} bad_case;

static void labels_f8(const hrm_dataset *ds) {
    char dict[128];
    double *x = calloc(ds->labels.count, sizeof *x);
    snprintf(dict, sizeof dict, "{'descr': '<f8', 'fortran_order': False, 'shape': (%d, 4), }", ds->num_examples);
    fx_npy_raw(fx_path("data/train/all__labels.npy"), 1, dict, x, ds->labels.count * sizeof *x);
    free(x);
}

static void labels_short(const hrm_dataset *ds) {
    int64_t shape[2] = {ds->num_examples - 1, 4};
    ck_assert_int_eq(
        hrm_npy_write(fx_path("data/train/all__labels.npy"), HRM_NPY_U8, 2, shape, ds->labels.data, err, sizeof err),
        HRM_OK);
}

static void inputs_fortran(const hrm_dataset *ds) {
    char dict[128];
    snprintf(dict, sizeof dict, "{'descr': '|u1', 'fortran_order': True, 'shape': (%d, 4), }", ds->num_examples);
    fx_npy_raw(fx_path("data/train/all__inputs.npy"), 1, dict, ds->inputs.data, ds->inputs.count);
}

static void inputs_truncated(const hrm_dataset *ds) {
    char dict[128];
    snprintf(dict, sizeof dict, "{'descr': '|u1', 'fortran_order': False, 'shape': (%d, 4), }", ds->num_examples);
    fx_npy_raw(fx_path("data/train/all__inputs.npy"), 1, dict, ds->inputs.data, ds->inputs.count - 3);
}

static void inputs_float(const hrm_dataset *ds) {
    int64_t shape[2] = {ds->num_examples, 4};
    float *x = calloc(ds->inputs.count, sizeof *x);
    ck_assert_int_eq(hrm_npy_write(fx_path("data/train/all__inputs.npy"), HRM_NPY_F32, 2, shape, x, err, sizeof err),
                     HRM_OK);
    free(x);
}

static void write_index(const char *name, const int32_t *x, int64_t n) {
    ck_assert_int_eq(hrm_npy_write(fx_path(name), HRM_NPY_I32, 1, &n, x, err, sizeof err), HRM_OK);
}

static void puzzles_decreasing(const hrm_dataset *ds) {
    int32_t *x = malloc((size_t)(ds->num_puzzles + 1) * 4);
    memcpy(x, ds->puzzle_indices, (size_t)(ds->num_puzzles + 1) * 4);
    x[2] = x[1] - 1;
    write_index("data/train/all__puzzle_indices.npy", x, ds->num_puzzles + 1);
    free(x);
}

static void puzzles_short_end(const hrm_dataset *ds) {
    int32_t *x = malloc((size_t)(ds->num_puzzles + 1) * 4);
    memcpy(x, ds->puzzle_indices, (size_t)(ds->num_puzzles + 1) * 4);
    x[ds->num_puzzles]--;
    write_index("data/train/all__puzzle_indices.npy", x, ds->num_puzzles + 1);
    free(x);
}

static void puzzles_wrong_length(const hrm_dataset *ds) {
    write_index("data/train/all__puzzle_indices.npy", ds->puzzle_indices, ds->num_puzzles);
}

static void groups_out_of_range(const hrm_dataset *ds) {
    int32_t *x = malloc((size_t)(ds->num_groups + 1) * 4);
    memcpy(x, ds->group_indices, (size_t)(ds->num_groups + 1) * 4);
    x[ds->num_groups] = ds->num_puzzles + 5;
    write_index("data/train/all__group_indices.npy", x, ds->num_groups + 1);
    free(x);
}

static void groups_2d(const hrm_dataset *ds) {
    int64_t shape[2] = {1, ds->num_groups + 1};
    ck_assert_int_eq(hrm_npy_write(fx_path("data/train/all__group_indices.npy"), HRM_NPY_I32, 2, shape,
                                   ds->group_indices, err, sizeof err),
                     HRM_OK);
}

static void token_too_big(const hrm_dataset *ds) {
    uint8_t *x = malloc(ds->inputs.count);
    int64_t shape[2] = {ds->num_examples, 4};
    memcpy(x, ds->inputs.data, ds->inputs.count);
    x[ds->inputs.count - 2] = 6; /* == vocab_size */
    ck_assert_int_eq(hrm_npy_write(fx_path("data/train/all__inputs.npy"), HRM_NPY_U8, 2, shape, x, err, sizeof err),
                     HRM_OK);
    free(x);
}

static void identifier_too_big(const hrm_dataset *ds) {
    int32_t *x = malloc((size_t)ds->num_puzzles * 4);
    memcpy(x, ds->puzzle_identifiers, (size_t)ds->num_puzzles * 4);
    x[0] = 5; /* == num_puzzle_identifiers */
    write_index("data/train/all__puzzle_identifiers.npy", x, ds->num_puzzles);
    free(x);
}

static void replace_json(const char *name, const char *key, json_t *value) {
    json_t *j = json_load_file(fx_path(name), 0, NULL);
    ck_assert_ptr_nonnull(j);
    if (value)
        json_object_set_new(j, key, value);
    else
        json_object_del(j, key);
    ck_assert_int_eq(json_dump_file(j, fx_path(name), 0), 0);
    json_decref(j);
}

static void meta_bad_json(const hrm_dataset *ds) {
    (void)ds;
    fx_write(fx_path("data/train/dataset.json"), "{\"pad_id\": 0,", 13);
}

static void meta_no_vocab(const hrm_dataset *ds) {
    (void)ds;
    replace_json("data/train/dataset.json", "vocab_size", NULL);
}

static void meta_string_seq_len(const hrm_dataset *ds) {
    (void)ds;
    replace_json("data/train/dataset.json", "seq_len", json_string("4"));
}

static void meta_total_groups(const hrm_dataset *ds) {
    replace_json("data/train/dataset.json", "total_groups", json_integer(ds->num_groups + 1));
}

static void meta_seq_len(const hrm_dataset *ds) {
    (void)ds;
    replace_json("data/train/dataset.json", "seq_len", json_integer(5));
}

static void meta_sets(const hrm_dataset *ds) {
    (void)ds;
    replace_json("data/train/dataset.json", "sets", json_pack("[s]", "other"));
}

static void identifiers_count(const hrm_dataset *ds) {
    (void)ds;
    fx_write(fx_path("data/identifiers.json"), "[\"<blank>\", \"a\"]", 16);
}

static void identifiers_missing(const hrm_dataset *ds) {
    (void)ds;
    ck_assert_int_eq(remove(fx_path("data/identifiers.json")), 0);
}

static void labels_missing(const hrm_dataset *ds) {
    (void)ds;
    ck_assert_int_eq(remove(fx_path("data/train/all__labels.npy")), 0);
}

static const bad_case BAD[] = {
    {"all__labels.npy", "unsupported dtype '<f8'", labels_f8},
    {"all__labels.npy", "shape", labels_short},
    {"all__labels.npy", "cannot open", labels_missing},
    {"all__inputs.npy", "Fortran", inputs_fortran},
    {"all__inputs.npy", "truncated", inputs_truncated},
    {"all__inputs.npy", "not an integer type", inputs_float},
    {"all__inputs.npy", "outside [0, vocab_size 6)", token_too_big},
    {"all__puzzle_indices.npy", "decreases", puzzles_decreasing},
    {"all__puzzle_indices.npy", "ends at", puzzles_short_end},
    {"all__puzzle_indices.npy", "entries", puzzles_wrong_length},
    {"all__group_indices.npy", "ends at", groups_out_of_range},
    {"all__group_indices.npy", "1-d", groups_2d},
    {"all__puzzle_identifiers.npy", "num_puzzle_identifiers", identifier_too_big},
    {"dataset.json", "invalid JSON", meta_bad_json},
    {"dataset.json", "'vocab_size'", meta_no_vocab},
    {"dataset.json", "'seq_len'", meta_string_seq_len},
    {"dataset.json", "total_groups", meta_total_groups},
    {"all__inputs.npy", "expected", meta_seq_len},
    {"dataset.json", "sets", meta_sets},
    {"identifiers.json", "num_puzzle_identifiers", identifiers_count},
    {"identifiers.json", "cannot read", identifiers_missing},
};

START_TEST(test_dataset_bad) {
    const bad_case *c = &BAD[_i];
    hrm_dataset ds, back;
    fx_dataset(&ds, 6, 3, HRM_NPY_U8);
    write_dataset(&ds);
    c->breaks(&ds);
    FX_EXPECT_ERROR(hrm_dataset_load(fx_path("data"), "train", &back, err, sizeof err), err, c->file, c->problem);
    ck_assert_ptr_null(back.inputs.data);
    hrm_dataset_free(&ds);
}
END_TEST

/* The writer checks before it writes: a bad dataset leaves nothing behind. */
START_TEST(test_dataset_write_refuses) {
    hrm_dataset ds;
    fx_dataset(&ds, 5, 4, HRM_NPY_I32);
    ((int32_t *)ds.labels.data)[3] = 17;
    FX_EXPECT_ERROR(hrm_dataset_write(&ds, fx_path("data"), "test", err, sizeof err), err, "all__labels.npy",
                    "vocab_size");
    ck_assert(!fx_exists(fx_path("data")));
    ((int32_t *)ds.labels.data)[3] = 1;
    ds.group_indices[1] = ds.group_indices[2] + 1;
    FX_EXPECT_ERROR(hrm_dataset_write(&ds, fx_path("data"), "test", err, sizeof err), err, "all__group_indices.npy",
                    "decreases");
    hrm_dataset_free(&ds);
}
END_TEST

/* ---- the training sampler ----------------------------------------------------------------- */

/* The structure of a dataset (no tokens: the sampler reads only the index arrays): G groups of
 * 1..max_puzzles puzzles of 1..max_examples examples, sizes from seed. */
static void shaped_dataset(hrm_dataset *ds, int G, int max_puzzles, int max_examples, uint64_t seed) {
    hrm_rng r;
    hrm_rng_seed(&r, seed);
    memset(ds, 0, sizeof *ds);
    ds->group_indices = calloc((size_t)G + 1, 4);
    ds->puzzle_indices = calloc((size_t)G * max_puzzles + 1, 4);
    ds->puzzle_identifiers = calloc((size_t)G * max_puzzles, 4);
    ck_assert(ds->group_indices && ds->puzzle_indices && ds->puzzle_identifiers);
    int P = 0, N = 0;
    for (int g = 0; g < G; g++) {
        for (int k = 1 + (int)hrm_rng_below(&r, max_puzzles); k > 0; k--, P++) {
            N += 1 + (int)hrm_rng_below(&r, max_examples);
            ds->puzzle_indices[P + 1] = N;
            ds->puzzle_identifiers[P] = 1 + P;
        }
        ds->group_indices[g + 1] = P;
    }
    ds->num_groups = ds->meta.total_groups = G;
    ds->num_puzzles = P;
    ds->num_examples = N;
    ds->meta.num_puzzle_identifiers = P + 1;
    ds->meta.mean_puzzle_examples = (double)N / P;
}

static int group_of(const hrm_dataset *ds, int puzzle) {
    int g = 0;
    while (ds->group_indices[g + 1] <= puzzle) g++;
    return g;
}

/* ---- the published sampler, ported (independently of core/sampler.c) ----------------------- */
/* puzzle_dataset.py of sapientinc/HRM, _iter_train and _sample_batch, statement for statement,
 * with the generators that core/sampler.h names in place of numpy's (whose Philox stream is not
 * reproduced): rng = np.random.Generator(np.random.Philox(seed=seed + self._iters)) becomes x =
 * seed + self._iters and two xoshiro256** generators seeded with splitmix64(&x) in turn, `order`
 * for the E permutations and `rng` for the rest; np.random.choice(size, n, replace=False), which
 * the published code draws from numpy's global generator and which is permutation(size)[:n],
 * draws from `rng`. */

/* rng.permutation(n): numpy shuffles arange(n) from the last entry down, swapping entry i with a
 * uniform j in [0, i]. */
static void np_permutation(hrm_rng *rng, int n, int32_t *out) {
    for (int i = 0; i < n; i++) out[i] = i;
    for (int i = n - 1; i >= 1; i--) {
        int j = (int)hrm_rng_below(rng, i + 1), t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
}

/* rng.integers(low, high): uniform in [low, high). */
static int np_integers(hrm_rng *rng, int low, int high) { return low + (int)hrm_rng_below(rng, high - low); }

/* _sample_batch: packs examples into batch / batch_puzzle_indices; returns start_index, and the
 * batch's size in *size. */
static int sample_batch(hrm_rng *rng, const int32_t *group_order, int group_order_size, const int32_t *puzzle_indices,
                        const int32_t *group_indices, int start_index, int global_batch_size, int32_t *batch,
                        int32_t *batch_puzzle_indices, int *size) {
    int32_t choice[64];
    int current_size = 0;
    while (start_index < group_order_size && current_size < global_batch_size) {
        int group_id = group_order[start_index];
        int puzzle_id = np_integers(rng, group_indices[group_id], group_indices[group_id + 1]);
        start_index += 1;
        int puzzle_start = puzzle_indices[puzzle_id];
        int puzzle_size = puzzle_indices[puzzle_id + 1] - puzzle_start;
        int append_size =
            puzzle_size < global_batch_size - current_size ? puzzle_size : global_batch_size - current_size;
        ck_assert_int_le(puzzle_size, 64);
        np_permutation(rng, puzzle_size, choice); /* np.random.choice(puzzle_size, append_size, replace=False) */
        for (int i = 0; i < append_size; i++) {
            batch_puzzle_indices[current_size + i] = puzzle_id;
            batch[current_size + i] = puzzle_start + choice[i];
        }
        current_size += append_size;
    }
    *size = current_size;
    return start_index;
}

typedef struct published_iter {
    int batches;               /* batches yielded */
    int32_t *example, *puzzle; /* (batches + 1, B): the yielded batches, then the dropped one */
    int dropped;               /* examples of the dropped last batch */
    int32_t *group_order;      /* (E x G,) */
} published_iter;

/* _iter_train's iteration with self._iters == iters (it counts from 1). */
static void iter_train(const hrm_dataset *ds, int global_batch_size, int epochs_per_iter, uint64_t seed, uint64_t iters,
                       published_iter *out) {
    uint64_t x = seed + iters;
    hrm_rng order, rng;
    hrm_rng_seed(&order, hrm_splitmix64(&x));
    hrm_rng_seed(&rng, hrm_splitmix64(&x));
    int G = ds->num_groups, size = epochs_per_iter * G, most = size * ds->num_examples / global_batch_size + 1;
    out->group_order = malloc((size_t)size * 4);
    out->example = malloc((size_t)most * global_batch_size * 4);
    out->puzzle = malloc((size_t)most * global_batch_size * 4);
    ck_assert(out->group_order && out->example && out->puzzle);
    for (int e = 0; e < epochs_per_iter; e++) np_permutation(&order, G, out->group_order + (size_t)e * G);
    out->batches = 0;
    int start_index = 0;
    while (start_index < size) {
        int k = out->batches, effective;
        ck_assert_int_lt(k, most);
        start_index = sample_batch(&rng, out->group_order, size, ds->puzzle_indices, ds->group_indices, start_index,
                                   global_batch_size, out->example + (size_t)k * global_batch_size,
                                   out->puzzle + (size_t)k * global_batch_size, &effective);
        if (effective < global_batch_size) { /* drop last batch */
            out->dropped = effective;
            break;
        }
        out->batches++;
    }
}

static void published_iter_free(published_iter *p) {
    free(p->group_order);
    free(p->example);
    free(p->puzzle);
}

/* ---- the sampler against the port ---------------------------------------------------------- */

/* G, puzzles per group, examples per puzzle (at most), B, E, seed: puzzles cut at batch ends,
 * batches across epochs, one example per puzzle (Sudoku), a batch larger than an epoch, E = 1. */
static const int PUBLISHED[][6] = {
    {11, 3, 4, 5, 3, 7}, {9, 4, 5, 13, 2, 1}, {7, 3, 1, 4, 5, 3}, {6, 3, 4, 40, 4, 11}, {20, 2, 3, 7, 1, 5},
};

/* The group order of epoch `epoch` of iteration `iteration`, as the sampler holds it. */
static const int32_t *sampler_order(hrm_sampler *peek, uint64_t iteration, uint64_t epoch) {
    hrm_sampler_state st = hrm_sampler_save(peek);
    st.iteration = iteration;
    st.position = epoch * (uint64_t)peek->ds->num_groups;
    ck_assert_msg(hrm_sampler_restore(peek, &st, err, sizeof err) == HRM_OK, "%s", err);
    return peek->order;
}

/* Five iterations: each epoch's group order, every batch's examples and puzzles, the number of
 * batches of each iteration (only its last incomplete batch is dropped) and the iteration that
 * the state names. */
START_TEST(test_sampler_published) {
    const int *c = PUBLISHED[_i];
    int G = c[0], B = c[3], E = c[4];
    hrm_dataset ds;
    hrm_sampler s, peek;
    hrm_batch b;
    shaped_dataset(&ds, G, c[1], c[2], 100 + (uint64_t)_i);
    ck_assert_int_eq(hrm_sampler_init(&s, &ds, B, true, (uint64_t)E, (uint64_t)c[5], err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_sampler_init(&peek, &ds, B, true, (uint64_t)E, (uint64_t)c[5], err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_batch_alloc(&b, B), HRM_OK);
    for (int i = 0; i < 5; i++) {
        published_iter pub;
        iter_train(&ds, B, E, (uint64_t)c[5], (uint64_t)i + 1, &pub);
        ck_assert_msg(pub.batches > 0, "case %d iteration %d yields no batch: not a useful case", _i, i);
        for (int e = 0; e < E; e++)
            ck_assert_msg(
                !memcmp(sampler_order(&peek, (uint64_t)i, (uint64_t)e), pub.group_order + e * G, (size_t)G * 4),
                "case %d: group order of iteration %d epoch %d differs from the published", _i, i, e);
        for (int k = 0; k < pub.batches; k++) {
            ck_assert_msg(hrm_sampler_next(&s, &b, err, sizeof err) == HRM_OK, "%s", err);
            ck_assert_msg(s.st.iteration == (uint64_t)i, "case %d: batch %d of iteration %d came from iteration %d", _i,
                          k, i, (int)s.st.iteration);
            ck_assert_msg(!memcmp(b.example, pub.example + k * B, (size_t)B * 4) &&
                              !memcmp(b.puzzle, pub.puzzle + k * B, (size_t)B * 4),
                          "case %d: batch %d of iteration %d differs from the published", _i, k, i);
            for (int j = 0; j < B; j++) ck_assert_int_eq(b.identifier[j], ds.puzzle_identifiers[b.puzzle[j]]);
        }
        published_iter_free(&pub);
    }
    hrm_batch_free(&b);
    hrm_sampler_free(&s);
    hrm_sampler_free(&peek);
    hrm_dataset_free(&ds);
}
END_TEST

/* One example per puzzle (the Sudoku layout), so that slot t of an iteration's stream is entry t
 * of its group order: each iteration has floor(E x G / B) batches (the drop of one incomplete
 * batch per iteration, not per epoch), and over its stream plus the dropped tail every group
 * comes exactly once in every epoch. */
START_TEST(test_sampler_each_group_once_per_epoch) {
    enum { G = 13, B = 5, E = 3, ITERS = 4 };
    hrm_dataset ds;
    hrm_sampler s;
    hrm_batch b;
    shaped_dataset(&ds, G, 3, 1, 21);
    ck_assert_int_eq(hrm_sampler_init(&s, &ds, B, true, E, 8, err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_batch_alloc(&b, B), HRM_OK);
    int batches = E * G / B, tail = E * G - batches * B;
    ck_assert_int_gt(batches, E * (G / B)); /* a drop per epoch would give fewer */
    for (int i = 0; i < ITERS; i++) {
        int seen[E][G];
        memset(seen, 0, sizeof seen);
        for (int k = 0; k < batches; k++) {
            ck_assert_msg(hrm_sampler_next(&s, &b, err, sizeof err) == HRM_OK, "%s", err);
            ck_assert_msg(s.st.iteration == (uint64_t)i && s.st.position == (uint64_t)(k + 1) * B,
                          "iteration %d: batch %d is at iteration %d entry %d", i, k, (int)s.st.iteration,
                          (int)s.st.position);
            for (int j = 0; j < B; j++) {
                int t = k * B + j;
                seen[t / G][group_of(&ds, b.puzzle[j])]++;
            }
        }
        for (int t = E * G - tail; t < E * G; t++) /* the dropped tail, from the sampler's last epoch */
            seen[E - 1][s.order[t % G]]++;
        for (int e = 0; e < E; e++)
            for (int g = 0; g < G; g++)
                ck_assert_msg(seen[e][g] == 1, "iteration %d epoch %d: group %d came %d times", i, e, g, seen[e][g]);
    }
    ck_assert_msg(hrm_sampler_next(&s, &b, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert_msg(s.st.iteration == ITERS && s.st.position == B, "the next iteration did not start afresh");
    hrm_batch_free(&b);
    hrm_sampler_free(&s);
    hrm_dataset_free(&ds);
}
END_TEST

/* Every batch is full, each example lies in its puzzle and carries its identifier; a puzzle that
 * fits comes whole (a run of a puzzle's examples not at the batch's end is a multiple of its size:
 * the same puzzle can end one epoch and start the next), no example twice in one run. */
START_TEST(test_sampler_properties) {
    hrm_dataset ds;
    hrm_sampler s;
    hrm_batch b;
    fx_dataset(&ds, 30, 6, HRM_NPY_U8);
    ck_assert_int_eq(hrm_sampler_init(&s, &ds, 9, true, 3, 99, err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_batch_alloc(&b, 9), HRM_OK);
    for (int k = 0; k < 200; k++) {
        ck_assert_int_eq(hrm_sampler_next(&s, &b, err, sizeof err), HRM_OK);
        ck_assert_int_eq(b.valid, 9);
        for (int j = 0; j < 9;) {
            int p = b.puzzle[j], size = ds.puzzle_indices[p + 1] - ds.puzzle_indices[p], run = 0;
            while (j + run < 9 && b.puzzle[j + run] == p) {
                int e = b.example[j + run];
                ck_assert(e >= ds.puzzle_indices[p] && e < ds.puzzle_indices[p + 1]);
                ck_assert_int_eq(b.identifier[j + run], ds.puzzle_identifiers[p]);
                for (int i = (run / size) * size; i < run; i++) ck_assert_int_ne(b.example[j + i], e);
                run++;
            }
            if (j + run < 9) ck_assert_int_eq(run % size, 0);
            j += run;
        }
    }
    hrm_batch_free(&b);
    hrm_sampler_free(&s);
    hrm_dataset_free(&ds);
}
END_TEST

/* n batches from s into out (n x B examples then n x B puzzles). */
static void draw(hrm_sampler *s, int n, int32_t *out) {
    hrm_batch b;
    int B = (int)s->st.batch_size;
    ck_assert_int_eq(hrm_batch_alloc(&b, B), HRM_OK);
    for (int k = 0; k < n; k++) {
        ck_assert_msg(hrm_sampler_next(s, &b, err, sizeof err) == HRM_OK, "%s", err);
        memcpy(out + (size_t)k * B, b.example, (size_t)B * 4);
        memcpy(out + (size_t)(n + k) * B, b.puzzle, (size_t)B * 4);
    }
    hrm_batch_free(&b);
}

START_TEST(test_sampler_deterministic) {
    hrm_dataset ds;
    hrm_sampler a, b, c;
    int32_t x[2 * 60 * 5], y[2 * 60 * 5], z[2 * 60 * 5];
    fx_dataset(&ds, 25, 7, HRM_NPY_U8);
    ck_assert_int_eq(hrm_sampler_init(&a, &ds, 5, true, 2, 42, err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_sampler_init(&b, &ds, 5, true, 2, 42, err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_sampler_init(&c, &ds, 5, true, 2, 43, err, sizeof err), HRM_OK);
    draw(&a, 60, x);
    draw(&b, 60, y);
    draw(&c, 60, z);
    ck_assert_mem_eq(x, y, sizeof x);
    ck_assert(memcmp(x, z, sizeof x) != 0);
    hrm_sampler_free(&a);
    hrm_sampler_free(&b);
    hrm_sampler_free(&c);
    hrm_dataset_free(&ds);
}
END_TEST

/* After every k in [0, 40) batches: save the state through its text form, restore it into a
 * fresh sampler (made with another seed), and the next batches match the uninterrupted run's:
 * mid-epoch, across epochs, at the iterations' ends (states whose next batch starts an iteration,
 * among them one whose batch ended exactly on the iteration's last entry). Loop: shuffled, with
 * groups of several puzzles of several examples and with one example per puzzle and E x G a
 * multiple of B; reproducible. */
START_TEST(test_sampler_resume) {
    enum { N = 40, B = 6 };
    static const int shape[][4] = {{9, 3, 4, 2}, {12, 2, 1, 2}, {20, 3, 4, 1}}; /* G, puzzles, examples, E */
    const int *c = shape[_i];
    bool shuffle = _i < 2;
    hrm_dataset ds;
    hrm_sampler whole, first, resumed;
    hrm_sampler_state st;
    char text[HRM_SAMPLER_STATE_MAX];
    int32_t all[2 * N * B], head[2 * N * B], tail[2 * N * B];
    int at_end = 0, at_last_entry = 0;
    uint64_t E = (uint64_t)c[3];
    shaped_dataset(&ds, c[0], c[1], c[2], 5);
    ck_assert_int_eq(hrm_sampler_init(&whole, &ds, B, shuffle, E, 7, err, sizeof err), HRM_OK);
    draw(&whole, N, all);
    for (int k = 0; k < N; k++) {
        ck_assert_int_eq(hrm_sampler_init(&first, &ds, B, shuffle, E, 7, err, sizeof err), HRM_OK);
        draw(&first, k, head);
        hrm_sampler_state saved = hrm_sampler_save(&first);
        ck_assert_int_lt(hrm_sampler_state_format(&saved, text, sizeof text), (int)sizeof text);
        ck_assert_msg(hrm_sampler_state_parse(text, &st, err, sizeof err) == HRM_OK, "%s", err);
        ck_assert(!memcmp(&st, &saved, sizeof st));
        ck_assert_int_eq(hrm_sampler_init(&resumed, &ds, B, shuffle, E, 999, err, sizeof err), HRM_OK);
        ck_assert_msg(hrm_sampler_restore(&resumed, &st, err, sizeof err) == HRM_OK, "%s", err);
        draw(&resumed, N - k, tail);
        for (int i = 0; i < N - k; i++) {
            ck_assert_msg(!memcmp(tail + i * B, all + (k + i) * B, B * 4) &&
                              !memcmp(tail + (N - k + i) * B, all + (N + k + i) * B, B * 4),
                          "resumed after %d batches: batch %d differs", k, k + i);
        }
        draw(&first, 1, head);
        if (shuffle && first.st.iteration > saved.iteration) { /* saved at the iteration's end */
            at_end++;
            at_last_entry += saved.position == E * (uint64_t)ds.num_groups;
        }
        hrm_sampler_free(&first);
        hrm_sampler_free(&resumed);
    }
    if (shuffle) ck_assert_msg(at_end >= 2, "only %d resume points at an iteration's end", at_end);
    if (_i == 1) ck_assert_msg(at_last_entry >= 2, "no state at an iteration's last entry");
    hrm_sampler_free(&whole);
    hrm_dataset_free(&ds);
}
END_TEST

/* The state line: the longest state fits HRM_SAMPLER_STATE_MAX (the checkpoint's buffer); a
 * shuffled v1 line (the per-epoch order) is refused with one line, a reproducible v1 line carries
 * over; malformed v2 lines are refused. */
START_TEST(test_sampler_state_line) {
    hrm_sampler_state st, max;
    char text[2 * HRM_SAMPLER_STATE_MAX];
    memset(&max, 0xff, sizeof max);
    max.shuffle = 1;
    ck_assert_int_lt(hrm_sampler_state_format(&max, text, sizeof text), HRM_SAMPLER_STATE_MAX);
    ck_assert_int_eq(hrm_sampler_state_parse(text, &st, err, sizeof err), HRM_OK);
    ck_assert(!memcmp(&st, &max, sizeof st));
    FX_EXPECT_ERROR(hrm_sampler_state_parse("hrm-sampler-v1 shuffle=1 batch_size=4 seed=0 epoch=1 position=3 batches=2 "
                                            "rng=b0d7f3571a23af7d,a054ef132d5d6b81,fca94a90faee255b,741b7da8d3a3c9a4",
                                            &st, err, sizeof err),
                    err, "sampler state", "hrm-sampler-v1 is the shuffled order of an older hrm");
    ck_assert_msg(hrm_sampler_state_parse("hrm-sampler-v1 shuffle=0 batch_size=6 seed=3 epoch=4 position=5 batches=9 "
                                          "rng=0000000000000000,0000000000000000,0000000000000000,0000000000000000",
                                          &st, err, sizeof err) == HRM_OK,
                  "%s", err);
    ck_assert(st.shuffle == 0 && st.batch_size == 6 && st.seed == 3 && st.iteration == 4 && st.position == 5 &&
              st.epochs_per_iter == 1);
    FX_EXPECT_ERROR(hrm_sampler_state_parse("hrm-sampler-v1 shuffle=1", &st, err, sizeof err), err, "sampler state",
                    "cannot parse");
    FX_EXPECT_ERROR(hrm_sampler_state_parse("hrm-sampler-v2 shuffle=1 batch_size=4 epochs_per_iter=0 seed=0 "
                                            "iteration=0 position=0 rng=1,2,3,4",
                                            &st, err, sizeof err),
                    err, "sampler state", "cannot parse");
    FX_EXPECT_ERROR(hrm_sampler_state_parse("hrm-sampler-v2 shuffle=1 batch_size=4 epochs_per_iter=2 seed=0 "
                                            "iteration=0 position=0 rng=1,2,3,4 extra",
                                            &st, err, sizeof err),
                    err, "sampler state", "cannot parse");
}
END_TEST

START_TEST(test_sampler_restore_refuses) {
    hrm_dataset ds;
    hrm_sampler a, b;
    fx_dataset(&ds, 10, 9, HRM_NPY_U8);
    ck_assert_int_eq(hrm_sampler_init(&a, &ds, 4, true, 2, 1, err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_sampler_init(&b, &ds, 5, true, 3, 1, err, sizeof err), HRM_OK);
    hrm_sampler_state st = hrm_sampler_save(&a);
    FX_EXPECT_ERROR(hrm_sampler_restore(&b, &st, err, sizeof err), err, "sampler state", "global_batch_size=4");
    st.batch_size = 5;
    FX_EXPECT_ERROR(hrm_sampler_restore(&b, &st, err, sizeof err), err, "sampler state", "2 epochs per iteration");
    st.epochs_per_iter = 3;
    st.position = 31;
    FX_EXPECT_ERROR(hrm_sampler_restore(&b, &st, err, sizeof err), err, "sampler state", "position 31");
    st.position = 30;
    ck_assert_msg(hrm_sampler_restore(&b, &st, err, sizeof err) == HRM_OK, "%s", err);
    hrm_sampler_free(&a);
    hrm_sampler_free(&b);
    FX_EXPECT_ERROR(hrm_sampler_init(&a, &ds, 1000, true, 1, 1, err, sizeof err), err, "global_batch_size", "1000");
    hrm_sampler_free(&a);
    ck_assert_int_eq(hrm_sampler_init(&a, &ds, 1000, true, 1000, 1, err, sizeof err), HRM_OK);
    hrm_sampler_free(&a);
    FX_EXPECT_ERROR(hrm_sampler_init(&a, &ds, 4, true, 0, 1, err, sizeof err), err, "eval_interval", "at least 1");
    hrm_sampler_free(&a);
    FX_EXPECT_ERROR(hrm_sampler_init(&a, &ds, 4, true, UINT64_C(1) << 61, 1, err, sizeof err), err, "eval_interval",
                    "62 bits");
    hrm_sampler_free(&a);
    hrm_dataset_free(&ds);
}
END_TEST

/* data_shuffle=false: consecutive examples in file order, wrapping, puzzle from puzzle_indices. */
START_TEST(test_sampler_reproducible) {
    hrm_dataset ds;
    hrm_sampler s;
    hrm_batch b;
    fx_dataset(&ds, 6, 10, HRM_NPY_U8);
    int N = ds.num_examples, B = N - 3, next = 0;
    ck_assert_int_eq(hrm_sampler_init(&s, &ds, B, false, 1, 0, err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_batch_alloc(&b, B), HRM_OK);
    for (int k = 0; k < 5; k++) {
        ck_assert_int_eq(hrm_sampler_next(&s, &b, err, sizeof err), HRM_OK);
        for (int j = 0; j < B; j++, next = (next + 1) % N) {
            int p = b.puzzle[j];
            ck_assert_int_eq(b.example[j], next);
            ck_assert(next >= ds.puzzle_indices[p] && next < ds.puzzle_indices[p + 1]);
            ck_assert_int_eq(b.identifier[j], ds.puzzle_identifiers[p]);
        }
    }
    ck_assert_uint_eq(s.st.iteration, (uint64_t)(5 * B / N)); /* passes over the file */
    hrm_batch_free(&b);
    hrm_sampler_free(&s);
    hrm_dataset_free(&ds);
}
END_TEST

/* ---- evaluation and gathering ------------------------------------------------------------- */

START_TEST(test_eval_iter) {
    hrm_dataset ds;
    hrm_eval_iter it;
    hrm_batch b;
    fx_dataset(&ds, 7, 11, HRM_NPY_U8);
    int B = 4, next = 0, batches = 0, padded = 0;
    ck_assert_int_eq(hrm_batch_alloc(&b, B), HRM_OK);
    hrm_eval_iter_init(&it, &ds);
    while (hrm_eval_iter_next(&it, &b)) {
        batches++;
        for (int j = 0; j < B; j++) {
            if (j >= b.valid) {
                ck_assert(b.example[j] == -1 && b.puzzle[j] == -1 && b.identifier[j] == ds.meta.blank_identifier_id);
                padded++;
                continue;
            }
            int p = b.puzzle[j];
            ck_assert_int_eq(b.example[j], next++);
            ck_assert(b.example[j] >= ds.puzzle_indices[p] && b.example[j] < ds.puzzle_indices[p + 1]);
        }
    }
    ck_assert_int_eq(next, ds.num_examples);
    ck_assert_int_eq(batches, (ds.num_examples + B - 1) / B);
    ck_assert_int_eq(padded, batches * B - ds.num_examples);
    hrm_batch_free(&b);
    hrm_dataset_free(&ds);
}
END_TEST

START_TEST(test_batch_gather) {
    hrm_dataset ds;
    hrm_eval_iter it;
    hrm_batch b;
    fx_dataset(&ds, 3, 12, HRM_NPY_U8);
    int B = ds.num_examples + 2, T = ds.meta.seq_len;
    int32_t *in = malloc((size_t)B * T * 4), *lab = malloc((size_t)B * T * 4);
    ck_assert_int_eq(hrm_batch_alloc(&b, B), HRM_OK);
    hrm_eval_iter_init(&it, &ds);
    ck_assert(hrm_eval_iter_next(&it, &b));
    hrm_batch_gather(&ds, &b, -100, in, lab);
    for (int j = 0; j < B; j++)
        for (int t = 0; t < T; t++) {
            int32_t x = j < b.valid ? hrm_dataset_input(&ds, j, t) : ds.meta.pad_id;
            int32_t y = j < b.valid ? hrm_dataset_label(&ds, j, t) : -100;
            ck_assert_int_eq(in[j * T + t], x);
            ck_assert_int_eq(lab[j * T + t], y == ds.meta.ignore_label_id ? -100 : y);
        }
    ck_assert(!hrm_eval_iter_next(&it, &b));
    free(in);
    free(lab);
    hrm_batch_free(&b);
    hrm_dataset_free(&ds);
}
END_TEST

Suite *dataset_suite(void) {
    Suite *s = suite_create("dataset");
    TCase *layout = tcase_create("layout"), *sampler = tcase_create("sampler");
    tcase_add_checked_fixture(layout, fx_setup, fx_teardown);
    tcase_add_loop_test(layout, test_dataset_roundtrip, 0, 2);
    tcase_add_test(layout, test_dataset_int64_and_null_ignore);
    tcase_add_loop_test(layout, test_dataset_bad, 0, (int)(sizeof BAD / sizeof *BAD));
    tcase_add_test(layout, test_dataset_write_refuses);
    tcase_add_loop_test(sampler, test_sampler_published, 0, (int)(sizeof PUBLISHED / sizeof *PUBLISHED));
    tcase_add_test(sampler, test_sampler_each_group_once_per_epoch);
    tcase_add_test(sampler, test_sampler_properties);
    tcase_add_test(sampler, test_sampler_deterministic);
    tcase_add_loop_test(sampler, test_sampler_resume, 0, 3);
    tcase_add_test(sampler, test_sampler_state_line);
    tcase_add_test(sampler, test_sampler_restore_refuses);
    tcase_add_test(sampler, test_sampler_reproducible);
    tcase_add_test(sampler, test_eval_iter);
    tcase_add_test(sampler, test_batch_gather);
    suite_add_tcase(s, layout);
    suite_add_tcase(s, sampler);
    return s;
}
