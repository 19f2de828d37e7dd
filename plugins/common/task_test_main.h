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

#endif /* HRM_PLUGINS_TASK_TEST_MAIN_H */
