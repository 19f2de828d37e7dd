/* plugins/common/task_test_main.h - main() of a task plugin's test program, whose cases on the
 * benchmark data (../shared/data, which CI may not have) are a meson test of their own: run with
 * no argument, the program runs its suite without them; run with --shared-data, it runs them
 * alone, or, where their file is absent, says "skipped" and why in one line and exits 77, which
 * meson (and scripts/test.sh's closing line) counts as skipped rather than passed. */
#ifndef HRM_PLUGINS_TASK_TEST_MAIN_H
#define HRM_PLUGINS_TASK_TEST_MAIN_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The exit status meson reads as "skipped". */
#define TASK_TEST_SKIP 77

static int task_test_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* all: the suite without the benchmark-data cases; shared: those cases, which read `need` (a file
 * or folder, NULL when its location is unknown). */
static int task_test_main(int argc, char **argv, Suite *(*all)(void), Suite *(*shared)(void), const char *need) {
    if (argc == 1) return task_test_run(all());
    if (argc != 2 || strcmp(argv[1], "--shared-data") != 0) {
        fprintf(stderr, "usage: %s [--shared-data]\n", argv[0]);
        return 2;
    }
    if (!need || access(need, R_OK) != 0) {
        fprintf(stderr, "%s: skipped: the benchmark data %s is not here\n", argv[0],
                need ? need : "(HRM_SHARED_DATA unset)");
        return TASK_TEST_SKIP;
    }
    return task_test_run(shared());
}

/* The benchmark-data case of a CSV task (Sudoku, Maze), whose test defines TR_SHARED_CSV (the file
 * under $HRM_SHARED_DATA) before including task_test_rec.h and this file: every one of its 1000
 * rows verifies. Its main() is task_csv_test_main(argc, argv, all, setup). */
#ifdef TR_SHARED_CSV
/* $HRM_SHARED_DATA/TR_SHARED_CSV; NULL when the variable is unset. */
static const char *shared_data_file(void) {
    static char path[1024];
    const char *dir = getenv("HRM_SHARED_DATA");
    if (!dir) return NULL;
    snprintf(path, sizeof path, "%s/%s", dir, TR_SHARED_CSV);
    return path;
}

START_TEST(test_shared_data) {
    const char *path = shared_data_file();
    ck_assert_ptr_nonnull(path); /* task_test_main checked it */
    long ok = -1, rejected = -1;
    char err[256];
    ck_assert_int_eq(T->verify_file(&host, path, &ok, &rejected, err, sizeof err), HRM_OK);
    ck_assert_int_eq(ok, 1000);
    ck_assert_int_eq(rejected, 0);
}
END_TEST

static void (*csv_setup)(void); /* the test's setup, which loads the task */

static Suite *csv_shared_suite(void) {
    Suite *s = suite_create("task-" TR_TASK "-shared-data");
    TCase *tc = tcase_create("shared-data");
    tcase_add_checked_fixture(tc, csv_setup, teardown);
    tcase_set_timeout(tc, 100);
    tcase_add_test(tc, test_shared_data);
    suite_add_tcase(s, tc);
    return s;
}

static int task_csv_test_main(int argc, char **argv, Suite *(*all)(void), void (*setup)(void)) {
    csv_setup = setup;
    return task_test_main(argc, argv, all, csv_shared_suite, shared_data_file());
}
#endif

#endif /* HRM_PLUGINS_TASK_TEST_MAIN_H */
