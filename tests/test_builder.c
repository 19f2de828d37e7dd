/* tests/test_builder.c - core/dataset_builder: sink calls become a dataset in the published layout
 * that hrm_dataset_load reads back exactly (groups, puzzles, examples, identifiers shared by the
 * splits, empty puzzles and groups dropped), and a failed, aborted or refused build leaves the
 * output folder as it was; a build that died (SIGKILL) leaves an OUT.partial that the next build
 * removes, and a second build of the same OUT is refused while the first runs. */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dataset_builder.h"
#include "io_fixtures.h"

Suite *builder_suite(void);

static char err[1024], warn[512];
static const hrm_task_format FMT = {
    .seq_len = 3, .vocab_size = 5, .pad_id = 0, .has_ignore_label = true, .ignore_label_id = 0};

static hrm_dataset_builder *open_builder(const char *out, bool replace) {
    hrm_dataset_builder *b = NULL;
    ck_assert_msg(hrm_dsb_open(out, &FMT, replace, &b, warn, sizeof warn, err, sizeof err) == HRM_OK, "%s", err);
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
    ck_assert(!fx_exists(fx_path("ds.partial")) && !fx_exists(fx_path("ds")) && !fx_exists(fx_path("ds.partial.lock")));
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
    FX_EXPECT_ERROR(hrm_dsb_open(out, &FMT, false, &b2, warn, sizeof warn, err, sizeof err), err, "ds",
                    "already exists");
    ck_assert_ptr_null(b2);
    ck_assert(!fx_exists(fx_path("ds.partial")) && !fx_exists(fx_path("ds.partial.lock")));
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
    ck_assert(!fx_exists(fx_path("ds.partial.old")) && !fx_exists(fx_path("ds.partial")) &&
              !fx_exists(fx_path("ds.partial.lock")));
    free(before);
}
END_TEST

/* ---- crashed and concurrent builds ----------------------------------------------------------
 * The builds that die or wait run in a forked child, which never returns into check (a failed
 * check there would go on running the other cases under CK_FORK=no, or report twice): it answers
 * by its exit status, and alarm() ends it if the test that drives it fails first. */

/* A complete "ds" (feed's dataset); returns its train inputs file, malloc'ed, for comparing. */
static void *build_existing(const char *out, size_t *bytes) {
    hrm_dataset_builder *b = open_builder(out, false);
    feed(b);
    ck_assert_msg(hrm_dsb_commit(b, warn, sizeof warn, err, sizeof err) == HRM_OK, "%s", err);
    return fx_read(fx_path("ds/train/all__inputs.npy"), bytes);
}

static void expect_same_file(const char *path, const void *before, size_t before_bytes) {
    size_t bytes;
    void *now = fx_read(path, &bytes);
    ck_assert_msg(bytes == before_bytes && !memcmp(now, before, bytes), "%s changed", path);
    free(now);
}

/* What `hrm data build --force` leaves when it is killed mid-way: a child opens a build of out
 * (replace), adds an example, marks its OUT.partial (a file "marker") and dies of SIGKILL, running
 * no cleanup. */
static void crash_build(const char *out) {
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork failed");
    if (pid == 0) {
        hrm_dataset_builder *b = NULL;
        char e[1024], w[512];
        alarm(60);
        if (hrm_dsb_open(out, &FMT, true, &b, w, sizeof w, e, sizeof e)) _exit(1);
        hrm_task_sink tr = hrm_dsb_sink(b, HRM_SPLIT_TRAIN);
        if (tr.begin_group(tr.user) || tr.begin_puzzle(tr.user, "a") || add(&tr, 1)) _exit(2);
        FILE *f = fopen(fx_path("ds.partial/marker"), "w");
        if (!f || fclose(f)) _exit(4);
        raise(SIGKILL);
        _exit(3);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the crashing build ended with status %#x",
                  status);
    ck_assert_msg(fx_exists(fx_path("ds.partial/marker")) && fx_exists(fx_path("ds.partial.lock")),
                  "the killed build left no ds.partial to test with");
}

static void expect_stale_warning(void) {
    ck_assert_msg(strstr(warn, "ds.partial left by an interrupted build") && !strchr(warn, '\n'), "warning: '%s'",
                  warn);
}

/* The case: a rebuild with --force was killed; the next build without --force is refused
 * (OUT exists) but still removes the dead build's OUT.partial, and OUT is untouched. */
START_TEST(test_builder_crash_then_refused) {
    const char *out = fx_path("ds");
    size_t before_bytes;
    void *before = build_existing(out, &before_bytes);
    crash_build(out);
    hrm_dataset_builder *b = NULL;
    FX_EXPECT_ERROR(hrm_dsb_open(out, &FMT, false, &b, warn, sizeof warn, err, sizeof err), err, "ds",
                    "already exists");
    ck_assert_ptr_null(b);
    expect_stale_warning();
    ck_assert(!fx_exists(fx_path("ds.partial")) && !fx_exists(fx_path("ds.partial.lock")));
    expect_same_file(fx_path("ds/train/all__inputs.npy"), before, before_bytes);
    hrm_dataset ds;
    ck_assert_msg(hrm_dataset_load(out, "train", &ds, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert_int_eq(ds.num_examples, 4);
    hrm_dataset_free(&ds);
    free(before);
}
END_TEST

/* After the crash, a rebuild with --force removes the stale folder and replaces OUT. */
START_TEST(test_builder_crash_then_rebuilt) {
    const char *out = fx_path("ds");
    size_t before_bytes;
    free(build_existing(out, &before_bytes));
    crash_build(out);
    hrm_dataset_builder *b = open_builder(out, true);
    expect_stale_warning();
    ck_assert(!fx_exists(fx_path("ds.partial/marker")) && fx_exists(fx_path("ds.partial.lock")));
    hrm_task_sink tr = hrm_dsb_sink(b, HRM_SPLIT_TRAIN);
    ck_assert(!tr.begin_group(tr.user) && !tr.begin_puzzle(tr.user, NULL) && !add(&tr, 2) && !add(&tr, 3));
    ck_assert_msg(hrm_dsb_commit(b, warn, sizeof warn, err, sizeof err) == HRM_OK, "%s", err);
    hrm_dataset ds;
    ck_assert_msg(hrm_dataset_load(out, "train", &ds, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert_int_eq(ds.num_examples, 2);
    ck_assert_int_eq(hrm_dataset_input(&ds, 0, 0), 2);
    hrm_dataset_free(&ds);
    ck_assert(!fx_exists(fx_path("ds.partial")) && !fx_exists(fx_path("ds.partial.lock")) &&
              !fx_exists(fx_path("ds.partial.old")));
}
END_TEST

/* A child builds ds and waits, mid-build, until the test writes 'c' on `go` (then it commits and
 * exits 0) or closes it (then it aborts and exits 5). It writes one byte on `ready` once its build
 * is open and has an example. */
static pid_t live_build(int ready[2], int go[2]) {
    ck_assert(!pipe(ready) && !pipe(go));
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork failed");
    if (pid == 0) {
        hrm_dataset_builder *b = NULL;
        char e[1024], w[512], c = 0;
        alarm(60);
        close(ready[0]), close(go[1]);
        if (hrm_dsb_open(fx_path("ds"), &FMT, false, &b, w, sizeof w, e, sizeof e)) _exit(1);
        hrm_task_sink tr = hrm_dsb_sink(b, HRM_SPLIT_TRAIN);
        if (tr.begin_group(tr.user) || tr.begin_puzzle(tr.user, "a") || add(&tr, 1)) _exit(2);
        if (write(ready[1], "r", 1) != 1) _exit(3);
        if (read(go[0], &c, 1) != 1 || c != 'c') {
            hrm_dsb_abort(b);
            _exit(5);
        }
        _exit(hrm_dsb_commit(b, w, sizeof w, e, sizeof e) ? 4 : 0);
    }
    close(ready[1]), close(go[0]);
    char r = 0;
    ck_assert_msg(read(ready[0], &r, 1) == 1, "the live build did not start");
    return pid;
}

/* Two builds of one OUT: the second is refused with the first's pid, whatever its --force, and
 * touches nothing; the first then commits as if alone. */
START_TEST(test_builder_refuses_concurrent_build) {
    const char *out = fx_path("ds");
    int ready[2], go[2];
    pid_t pid = live_build(ready, go);
    char pid_text[32];
    snprintf(pid_text, sizeof pid_text, "(pid %ld)", (long)pid);
    struct stat before, now;
    ck_assert(!stat(fx_path("ds.partial/train/inputs.raw"), &before));
    for (int replace = 0; replace < 2; replace++) {
        hrm_dataset_builder *b = NULL;
        FX_EXPECT_ERROR(hrm_dsb_open(out, &FMT, replace, &b, warn, sizeof warn, err, sizeof err), err, "ds.partial",
                        "another `hrm data build` is writing");
        ck_assert_msg(strstr(err, pid_text), "'%s' does not name %s", err, pid_text);
        ck_assert_ptr_null(b);
        ck_assert_str_eq(warn, "");
    }
    ck_assert(!stat(fx_path("ds.partial/train/inputs.raw"), &now) && now.st_ino == before.st_ino);
    ck_assert(fx_exists(fx_path("ds.partial/test/labels.raw")) && fx_exists(fx_path("ds.partial.lock")));
    ck_assert(!fx_exists(out));

    int status;
    ck_assert_int_eq(write(go[1], "c", 1), 1);
    close(go[1]), close(ready[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the first build ended with status %#x", status);
    hrm_dataset ds;
    ck_assert_msg(hrm_dataset_load(out, "train", &ds, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert_int_eq(ds.num_examples, 1);
    hrm_dataset_free(&ds);
    ck_assert(!fx_exists(fx_path("ds.partial")) && !fx_exists(fx_path("ds.partial.lock")));
    /* the lock went with the first build: the next one starts, without a warning */
    hrm_dataset_builder *b = open_builder(out, true);
    ck_assert_str_eq(warn, "");
    hrm_dsb_abort(b);
    ck_assert(fx_exists(out) && !fx_exists(fx_path("ds.partial")) && !fx_exists(fx_path("ds.partial.lock")));
}
END_TEST

/* An OUT.partial without a lock file (left by a version without the lock) is stale too. */
START_TEST(test_builder_removes_unlocked_partial) {
    const char *out = fx_path("ds");
    ck_assert(!mkdir(fx_path("ds.partial"), 0777) && !mkdir(fx_path("ds.partial/train"), 0777));
    fx_write(fx_path("ds.partial/train/inputs.raw"), "old", 3);
    fx_write(fx_path("ds.partial/stray"), "old", 3);
    hrm_dataset_builder *b = open_builder(out, false);
    expect_stale_warning();
    size_t bytes;
    free(fx_read(fx_path("ds.partial/train/inputs.raw"), &bytes));
    ck_assert(bytes == 0 && !fx_exists(fx_path("ds.partial/stray")));
    feed(b);
    ck_assert_msg(hrm_dsb_commit(b, warn, sizeof warn, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert(fx_exists(fx_path("ds/train/all__inputs.npy")) && !fx_exists(fx_path("ds/stray")));
    ck_assert(!fx_exists(fx_path("ds.partial")) && !fx_exists(fx_path("ds.partial.lock")));
}
END_TEST

/* A replacing build killed between its two renames (move_into_place) left ds.partial (complete)
 * and ds.partial.old (the dataset it was replacing), and no ds: the next open puts the old one back
 * as ds, with a warning, so a build without --force is refused and nothing is lost. One killed after
 * both renames left ds and a copy: the copy goes. A user's own ds.old is never touched. */
START_TEST(test_builder_restores_replaced_output) {
    const char *out = fx_path("ds");
    size_t before_bytes;
    void *before = build_existing(out, &before_bytes);
    crash_build(out);
    ck_assert(!rename(out, fx_path("ds.partial.old")) && !fx_exists(out));
    ck_assert(!mkdir(fx_path("ds.old"), 0777));
    fx_write(fx_path("ds.old/mine"), "user", 4);
    hrm_dataset_builder *b = NULL;
    FX_EXPECT_ERROR(hrm_dsb_open(out, &FMT, false, &b, warn, sizeof warn, err, sizeof err), err, "ds",
                    "already exists");
    ck_assert_ptr_null(b);
    expect_stale_warning();
    ck_assert_msg(strstr(warn, "; restored ") && strstr(warn, "ds from the copy"), "warning: '%s'", warn);
    ck_assert(!fx_exists(fx_path("ds.partial")) && !fx_exists(fx_path("ds.partial.old")));
    expect_same_file(fx_path("ds/train/all__inputs.npy"), before, before_bytes);
    ck_assert(fx_exists(fx_path("ds.old/mine")));
    /* killed after both renames: ds is the new dataset, ds.partial.old a copy of the old one */
    ck_assert(!mkdir(fx_path("ds.partial.old"), 0777));
    fx_write(fx_path("ds.partial.old/stray"), "old", 3);
    b = open_builder(out, true);
    ck_assert_msg(strstr(warn, "removed ") && strstr(warn, "ds.partial.old left by an interrupted build"),
                  "warning: '%s'", warn);
    ck_assert(!fx_exists(fx_path("ds.partial.old")));
    hrm_dsb_abort(b);
    expect_same_file(fx_path("ds/train/all__inputs.npy"), before, before_bytes);
    ck_assert(fx_exists(fx_path("ds.old/mine")));
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
    tcase_add_test(t, test_builder_crash_then_refused);
    tcase_add_test(t, test_builder_crash_then_rebuilt);
    tcase_add_test(t, test_builder_refuses_concurrent_build);
    tcase_add_test(t, test_builder_removes_unlocked_partial);
    tcase_add_test(t, test_builder_restores_replaced_output);
    suite_add_tcase(s, t);
    return s;
}
