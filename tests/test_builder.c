/* tests/test_builder.c - core/dataset_builder: sink calls become a dataset in the published layout
 * that hrm_dataset_load reads back exactly (groups, puzzles, examples, identifiers shared by the
 * splits, empty puzzles and groups dropped), and a failed, aborted or refused build leaves the
 * output folder as it was. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "dataset_builder.h"
#include "io_fixtures.h"

Suite *builder_suite(void);

static char err[1024], warn[512];
static const hrm_task_format FMT = {.seq_len = 3, .vocab_size = 5, .pad_id = 0, .has_ignore_label = true,
                                    .ignore_label_id = 0};

static hrm_dataset_builder *open_builder(const char *out, bool replace) {
    hrm_dataset_builder *b = NULL;
    ck_assert_msg(hrm_dsb_open(out, &FMT, replace, &b, err, sizeof err) == HRM_OK, "%s", err);
    return b;
}

/* Adds an example whose tokens are (v, v+1, v+2) mod 5 (input) and the input reversed (label). */
static hrm_status add(const hrm_task_sink *k, int v) {
    uint8_t in[3] = {(uint8_t)(v % 5), (uint8_t)((v + 1) % 5), (uint8_t)((v + 2) % 5)};
    uint8_t label[3] = {in[2], in[1], in[0]};
    return k->add_example(k->user, in, label);
}

/* train: group 0 = puzzle "a" (2 examples) + an empty puzzle "x" + puzzle "b" (1 example);
 *        an empty group; group 1 = blank puzzle (1 example).
 * test:  group 0 = puzzle "b" (1 example) + new puzzle "c" (2 examples). */
static void feed(hrm_dataset_builder *b) {
    hrm_task_sink tr = hrm_dsb_sink(b, HRM_SPLIT_TRAIN), te = hrm_dsb_sink(b, HRM_SPLIT_TEST);
    ck_assert(!tr.begin_group(tr.user) && !tr.begin_puzzle(tr.user, "a") && !add(&tr, 0) && !add(&tr, 1));
    ck_assert(!tr.begin_puzzle(tr.user, "x"));
    ck_assert(!tr.begin_puzzle(tr.user, "b") && !add(&tr, 2));
    ck_assert(!tr.begin_group(tr.user));
    ck_assert(!tr.begin_group(tr.user) && !tr.begin_puzzle(tr.user, NULL) && !add(&tr, 3));
    ck_assert(!te.begin_group(te.user) && !te.begin_puzzle(te.user, "b") && !add(&te, 4));
    ck_assert(!te.begin_puzzle(te.user, "c") && !add(&te, 5) && !add(&te, 6));
}

START_TEST(test_builder_layout) {
    const char *out = fx_path("ds");
    hrm_dataset_builder *b = open_builder(out, false);
    feed(b);
    hrm_dsb_counts c = hrm_dsb_counts_of(b, HRM_SPLIT_TRAIN);
    ck_assert(c.examples == 4 && c.puzzles == 3 && c.groups == 2);
    ck_assert_msg(hrm_dsb_commit(b, warn, sizeof warn, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert_str_eq(warn, "");
    ck_assert(!fx_exists(fx_path("ds.partial")));

    hrm_dataset tr, te;
    ck_assert_msg(hrm_dataset_load(out, "train", &tr, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert_msg(hrm_dataset_load(out, "test", &te, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert(tr.num_examples == 4 && tr.num_puzzles == 3 && tr.num_groups == 2);
    const int32_t tr_pidx[] = {0, 2, 3, 4}, tr_gidx[] = {0, 2, 3}, tr_ids[] = {1, 3, 0};
    ck_assert_mem_eq(tr.puzzle_indices, tr_pidx, sizeof tr_pidx);
    ck_assert_mem_eq(tr.group_indices, tr_gidx, sizeof tr_gidx);
    ck_assert_mem_eq(tr.puzzle_identifiers, tr_ids, sizeof tr_ids); /* "x" got id 2 but has no examples */
    const int32_t te_ids[] = {3, 4}, te_pidx[] = {0, 1, 3};
    ck_assert_mem_eq(te.puzzle_identifiers, te_ids, sizeof te_ids); /* "b" keeps its training identifier */
    ck_assert_mem_eq(te.puzzle_indices, te_pidx, sizeof te_pidx);
    ck_assert_int_eq(tr.num_identifiers, 5);
    const char *names[] = {"<blank>", "a", "x", "b", "c"};
    for (int i = 0; i < 5; i++) ck_assert_str_eq(tr.identifiers[i], names[i]);
    ck_assert_int_eq(tr.meta.num_puzzle_identifiers, 5);
    ck_assert_int_eq(te.meta.num_puzzle_identifiers, 5);
    ck_assert(tr.meta.has_ignore_label && tr.meta.ignore_label_id == 0 && tr.meta.vocab_size == 5);
    ck_assert_double_eq_tol(tr.meta.mean_puzzle_examples, 4.0 / 3.0, 1e-12);
    for (int r = 0; r < 4; r++)
        for (int k = 0; k < 3; k++) {
            ck_assert_int_eq(hrm_dataset_input(&tr, r, k), (r + k) % 5);
            ck_assert_int_eq(hrm_dataset_label(&tr, r, k), (r + 2 - k) % 5);
        }
    ck_assert_int_eq(hrm_dataset_input(&te, 2, 0), 6 % 5);
    hrm_dataset_free(&tr);
    hrm_dataset_free(&te);
}
END_TEST

START_TEST(test_builder_no_test_split) {
    const char *out = fx_path("ds");
    hrm_dataset_builder *b = open_builder(out, false);
    hrm_task_sink tr = hrm_dsb_sink(b, HRM_SPLIT_TRAIN);
    ck_assert(!tr.begin_group(tr.user) && !tr.begin_puzzle(tr.user, NULL) && !add(&tr, 1));
    ck_assert_msg(hrm_dsb_commit(b, warn, sizeof warn, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert_ptr_nonnull(strstr(warn, "no test examples"));
    ck_assert(fx_exists(fx_path("ds/train/all__inputs.npy")));
    ck_assert(!fx_exists(fx_path("ds/test")));
}
END_TEST

START_TEST(test_builder_refuses_bad_calls) {
    hrm_dataset_builder *b = open_builder(fx_path("ds"), false);
    hrm_task_sink tr = hrm_dsb_sink(b, HRM_SPLIT_TRAIN);
    ck_assert_int_eq(tr.begin_puzzle(tr.user, "a"), HRM_ERR_INVALID_ARG); /* before a group */
    ck_assert_ptr_nonnull(strstr(hrm_dsb_error(b), "begin_group"));
    ck_assert(!tr.begin_group(tr.user));
    ck_assert_int_eq(add(&tr, 0), HRM_ERR_INVALID_ARG); /* before a puzzle */
    ck_assert(!tr.begin_puzzle(tr.user, "a"));
    uint8_t in[3] = {1, 5, 0}, label[3] = {0, 0, 0}; /* 5 is outside vocab 5 */
    ck_assert_int_eq(tr.add_example(tr.user, in, label), HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(hrm_dsb_error(b), "input token 5 at position 1"));
    in[1] = 1;
    label[2] = 7;
    ck_assert_int_eq(tr.add_example(tr.user, in, label), HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(hrm_dsb_error(b), "label token 7"));
    hrm_dsb_abort(b);
    ck_assert(!fx_exists(fx_path("ds.partial")) && !fx_exists(fx_path("ds")));
}
END_TEST

START_TEST(test_builder_keeps_existing_output) {
    const char *out = fx_path("ds");
    hrm_dataset_builder *b = open_builder(out, false);
    feed(b);
    ck_assert(!hrm_dsb_commit(b, warn, sizeof warn, err, sizeof err));
    size_t before_bytes, after_bytes;
    void *before = fx_read(fx_path("ds/train/all__inputs.npy"), &before_bytes);

    /* without replace: refused before anything is written */
    hrm_dataset_builder *b2 = NULL;
    FX_EXPECT_ERROR(hrm_dsb_open(out, &FMT, false, &b2, err, sizeof err), err, "ds", "already exists");
    ck_assert_ptr_null(b2);
    /* with replace but aborted (Ctrl-C, a bad row): the old dataset stays */
    b2 = open_builder(out, true);
    hrm_task_sink tr = hrm_dsb_sink(b2, HRM_SPLIT_TRAIN);
    ck_assert(!tr.begin_group(tr.user) && !tr.begin_puzzle(tr.user, NULL) && !add(&tr, 4));
    hrm_dsb_abort(b2);
    /* with replace, a build without training examples fails and the old dataset stays */
    b2 = open_builder(out, true);
    FX_EXPECT_ERROR(hrm_dsb_commit(b2, warn, sizeof warn, err, sizeof err), err, "ds", "no training examples");
    void *after = fx_read(fx_path("ds/train/all__inputs.npy"), &after_bytes);
    ck_assert(before_bytes == after_bytes && !memcmp(before, after, before_bytes));
    free(after);
    /* with replace and a complete build: the new dataset replaces the old */
    b2 = open_builder(out, true);
    tr = hrm_dsb_sink(b2, HRM_SPLIT_TRAIN);
    ck_assert(!tr.begin_group(tr.user) && !tr.begin_puzzle(tr.user, NULL) && !add(&tr, 4));
    ck_assert_msg(hrm_dsb_commit(b2, warn, sizeof warn, err, sizeof err) == HRM_OK, "%s", err);
    hrm_dataset ds;
    ck_assert_msg(hrm_dataset_load(out, "train", &ds, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert_int_eq(ds.num_examples, 1);
    hrm_dataset_free(&ds);
    ck_assert(!fx_exists(fx_path("ds.old")) && !fx_exists(fx_path("ds.partial")));
    free(before);
}
END_TEST

Suite *builder_suite(void) {
    Suite *s = suite_create("dataset_builder");
    TCase *t = tcase_create("builder");
    tcase_add_checked_fixture(t, fx_setup, fx_teardown);
    tcase_add_test(t, test_builder_layout);
    tcase_add_test(t, test_builder_no_test_split);
    tcase_add_test(t, test_builder_refuses_bad_calls);
    tcase_add_test(t, test_builder_keeps_existing_output);
    suite_add_tcase(s, t);
    return s;
}
