/* tests/test_dataset.c - datasets in the published layout (written, read back, and refused when
 * any file is wrong, with the file named), the training sampler (full batches, each group at most
 * once per epoch, examples inside their puzzles, determinism, save/restore mid-epoch, the
 * reproducible order) and the evaluation iterator. */
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

static int group_of(const hrm_dataset *ds, int puzzle) {
    int g = 0;
    while (ds->group_indices[g + 1] <= puzzle) g++;
    return g;
}

/* Every batch is full, each example lies in its puzzle and carries its identifier, no example
 * repeats in a batch, and within an epoch each group gives examples of one puzzle, in one batch. */
START_TEST(test_sampler_properties) {
    hrm_dataset ds;
    hrm_sampler s;
    hrm_batch b;
    fx_dataset(&ds, 40, 5, HRM_NPY_U8);
    ck_assert_int_eq(hrm_sampler_init(&s, &ds, 7, true, 1234, err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_batch_alloc(&b, 7), HRM_OK);
    int *seen_batch = malloc(40 * sizeof(int)), *seen_puzzle = malloc(40 * sizeof(int)), epochs = 0;
    uint64_t epoch = UINT64_MAX;
    for (int k = 0; k < 200; k++) {
        ck_assert_int_eq(hrm_sampler_next(&s, &b, err, sizeof err), HRM_OK);
        if (s.st.epoch != epoch) {
            epoch = s.st.epoch, epochs++;
            for (int g = 0; g < 40; g++) seen_batch[g] = -1;
        }
        ck_assert_int_eq(b.valid, 7);
        for (int j = 0; j < 7; j++) {
            int p = b.puzzle[j], e = b.example[j], g = group_of(&ds, p);
            ck_assert(e >= ds.puzzle_indices[p] && e < ds.puzzle_indices[p + 1]);
            ck_assert_int_eq(b.identifier[j], ds.puzzle_identifiers[p]);
            for (int i = 0; i < j; i++) ck_assert_int_ne(b.example[i], e);
            ck_assert_msg(seen_batch[g] == -1 || (seen_batch[g] == k && seen_puzzle[g] == p),
                          "group %d twice in epoch %d", g, (int)epoch);
            seen_batch[g] = k, seen_puzzle[g] = p;
        }
    }
    ck_assert_int_gt(epochs, 3);
    ck_assert_uint_eq(s.st.batches, 200);
    free(seen_batch);
    free(seen_puzzle);
    hrm_batch_free(&b);
    hrm_sampler_free(&s);
    hrm_dataset_free(&ds);
}
END_TEST

/* Puzzles that fit come whole; only a batch's last puzzle may be cut. */
START_TEST(test_sampler_whole_puzzles) {
    hrm_dataset ds;
    hrm_sampler s;
    hrm_batch b;
    fx_dataset(&ds, 30, 6, HRM_NPY_U8);
    ck_assert_int_eq(hrm_sampler_init(&s, &ds, 9, true, 99, err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_batch_alloc(&b, 9), HRM_OK);
    for (int k = 0; k < 50; k++) {
        ck_assert_int_eq(hrm_sampler_next(&s, &b, err, sizeof err), HRM_OK);
        for (int j = 0; j < 9;) {
            int p = b.puzzle[j], run = 0;
            while (j + run < 9 && b.puzzle[j + run] == p) run++;
            if (j + run < 9) ck_assert_int_eq(run, ds.puzzle_indices[p + 1] - ds.puzzle_indices[p]);
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
    ck_assert_int_eq(hrm_sampler_init(&a, &ds, 5, true, 42, err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_sampler_init(&b, &ds, 5, true, 42, err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_sampler_init(&c, &ds, 5, true, 43, err, sizeof err), HRM_OK);
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

/* Stop after k batches, save the state through its text form, restore into a fresh sampler:
 * the next batches match an uninterrupted run's, across epoch boundaries. Loop: both modes. */
START_TEST(test_sampler_resume) {
    hrm_dataset ds;
    hrm_sampler whole, first, resumed;
    hrm_sampler_state st;
    char text[512];
    bool shuffle = _i == 0;
    int32_t all[2 * 40 * 6], head[2 * 13 * 6], tail[2 * 27 * 6];
    fx_dataset(&ds, 20, 8, HRM_NPY_U8);
    ck_assert_int_eq(hrm_sampler_init(&whole, &ds, 6, shuffle, 7, err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_sampler_init(&first, &ds, 6, shuffle, 7, err, sizeof err), HRM_OK);
    draw(&whole, 40, all);
    draw(&first, 13, head);
    hrm_sampler_state saved = hrm_sampler_save(&first);
    ck_assert_int_lt((int)hrm_sampler_state_format(&saved, text, sizeof text), (int)sizeof text);
    ck_assert_int_eq(hrm_sampler_state_parse(text, &st, err, sizeof err), HRM_OK);
    ck_assert(!memcmp(&st, &saved, sizeof st));
    ck_assert_int_eq(hrm_sampler_init(&resumed, &ds, 6, shuffle, 999, err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_sampler_restore(&resumed, &st, err, sizeof err), HRM_OK);
    draw(&resumed, 27, tail);
    for (int k = 0; k < 27; k++) {
        ck_assert_mem_eq(tail + k * 6, all + (13 + k) * 6, 24); /* examples */
        ck_assert_mem_eq(tail + (27 + k) * 6, all + (40 + 13 + k) * 6, 24); /* puzzles */
    }
    ck_assert_uint_gt(resumed.st.epoch, saved.epoch);
    ck_assert_int_eq(hrm_sampler_state_parse("hrm-sampler-v1 shuffle=1", &st, err, sizeof err), HRM_ERR_INVALID_ARG);
    hrm_sampler_free(&whole);
    hrm_sampler_free(&first);
    hrm_sampler_free(&resumed);
    hrm_dataset_free(&ds);
}
END_TEST

START_TEST(test_sampler_restore_refuses) {
    hrm_dataset ds;
    hrm_sampler a, b;
    fx_dataset(&ds, 10, 9, HRM_NPY_U8);
    ck_assert_int_eq(hrm_sampler_init(&a, &ds, 4, true, 1, err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_sampler_init(&b, &ds, 5, true, 1, err, sizeof err), HRM_OK);
    hrm_sampler_state st = hrm_sampler_save(&a);
    FX_EXPECT_ERROR(hrm_sampler_restore(&b, &st, err, sizeof err), err, "sampler state", "global_batch_size=4");
    st.batch_size = 5;
    st.position = 11;
    FX_EXPECT_ERROR(hrm_sampler_restore(&b, &st, err, sizeof err), err, "sampler state", "position 11");
    hrm_sampler_free(&a);
    hrm_sampler_free(&b);
    FX_EXPECT_ERROR(hrm_sampler_init(&a, &ds, 1000, true, 1, err, sizeof err), err, "global_batch_size", "1000");
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
    ck_assert_int_eq(hrm_sampler_init(&s, &ds, B, false, 0, err, sizeof err), HRM_OK);
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
    ck_assert_uint_eq(s.st.epoch, (uint64_t)(5 * B / N));
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
    tcase_add_test(sampler, test_sampler_properties);
    tcase_add_test(sampler, test_sampler_whole_puzzles);
    tcase_add_test(sampler, test_sampler_deterministic);
    tcase_add_loop_test(sampler, test_sampler_resume, 0, 2);
    tcase_add_test(sampler, test_sampler_restore_refuses);
    tcase_add_test(sampler, test_sampler_reproducible);
    tcase_add_test(sampler, test_eval_iter);
    tcase_add_test(sampler, test_batch_gather);
    suite_add_tcase(s, layout);
    suite_add_tcase(s, sampler);
    return s;
}
