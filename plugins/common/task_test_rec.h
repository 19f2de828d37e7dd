/* plugins/common/task_test_rec.h - what the task plugins' tests share: a host and two sinks that
 * record everything a task sends (groups, puzzles, examples, log lines, emitted lines), and
 * temporary CSV files. Included once by a test program, after it defines:
 *   TR_TASK          the task's name, as its log calls must carry it ("sudoku")
 *   N                tokens per example
 *   MAX_EXAMPLES     examples (and puzzles) a split may record
 *   MAX_LINES        lines host->emit may record
 * Every task built on it puts one example in each puzzle, which rec_example asserts. build() and
 * generate() call the task T (which the test's setup sets) with NULL-terminated options. */
#ifndef HRM_PLUGINS_TASK_TEST_REC_H
#define HRM_PLUGINS_TASK_TEST_REC_H

#include <check.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hrm/task.h"

static const hrm_task_iface *T;

typedef struct split_rec {
    long groups, puzzles, examples;
    long puzzle_group[MAX_EXAMPLES];   /* group of each puzzle */
    long example_puzzle[MAX_EXAMPLES]; /* puzzle of each example */
    uint8_t input[MAX_EXAMPLES][N], label[MAX_EXAMPLES][N];
    bool named; /* some puzzle had a non-blank identifier */
} split_rec;

static split_rec train_rec, test_rec;
static char log_text[1 << 16];
static int warnings;
static char *lines[MAX_LINES];
static int nlines;

static hrm_status rec_group(void *user) {
    ((split_rec *)user)->groups++;
    return HRM_OK;
}

static hrm_status rec_puzzle(void *user, const char *name) {
    split_rec *r = user;
    ck_assert_int_lt(r->puzzles, MAX_EXAMPLES);
    r->named |= name && *name;
    r->puzzle_group[r->puzzles++] = r->groups - 1;
    return HRM_OK;
}

static hrm_status rec_example(void *user, const uint8_t *input, const uint8_t *label) {
    split_rec *r = user;
    ck_assert_int_lt(r->examples, MAX_EXAMPLES);
    ck_assert_int_eq(r->examples, r->puzzles - 1); /* one example per puzzle */
    memcpy(r->input[r->examples], input, N);
    memcpy(r->label[r->examples], label, N);
    r->example_puzzle[r->examples++] = r->puzzles - 1;
    return HRM_OK;
}

static void rec_log(void *user, hrm_log_level level, const char *task, const char *message) {
    (void)user;
    ck_assert_str_eq(task, TR_TASK);
    warnings += level == HRM_LOG_WARN;
    size_t n = strlen(log_text);
    snprintf(log_text + n, sizeof log_text - n, "%s\n", message);
}

static hrm_status rec_emit(void *user, const char *line) {
    (void)user;
    ck_assert_int_lt(nlines, MAX_LINES);
    lines[nlines++] = strdup(line);
    return HRM_OK;
}

static const hrm_task_host host = {.struct_size = sizeof(hrm_task_host), .log = rec_log, .emit = rec_emit};
static const hrm_task_sink train_sink = {&train_rec, rec_group, rec_puzzle, rec_example};
static const hrm_task_sink test_sink = {&test_rec, rec_group, rec_puzzle, rec_example};

/* Temporary CSV files of the running test, removed by teardown(). */
static char temp_paths[8][64];
static int ntemp;

/* A temporary CSV file holding text; its path stays valid until teardown(). */
static const char *temp_csv(const char *text) {
    ck_assert_int_lt(ntemp, 8);
    char *path = temp_paths[ntemp++];
    snprintf(path, 64, "/tmp/hrm-test-" TR_TASK "-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void reset(void) {
    memset(&train_rec, 0, sizeof train_rec);
    memset(&test_rec, 0, sizeof test_rec);
    log_text[0] = '\0';
    warnings = 0;
    for (int i = 0; i < nlines; i++) free(lines[i]);
    nlines = 0;
}

/* Teardown: reset, and the temporary files go. */
static void teardown(void) {
    reset();
    for (int i = 0; i < ntemp; i++) unlink(temp_paths[i]);
    ntemp = 0;
}

/* Runs build (or generate when gen) with the NULL-terminated options after the task name. */
static hrm_status vrun(bool gen, char *err, va_list ap) {
    char *argv[32] = {TR_TASK};
    int argc = 1;
    for (char *a; (a = va_arg(ap, char *));) argv[argc++] = a;
    reset();
    err[0] = '\0';
    return gen ? T->generate(&host, argc, argv, err, 256)
               : T->build(&host, argc, argv, &train_sink, &test_sink, err, 256);
}

static hrm_status build(char *err, ...) {
    va_list ap;
    va_start(ap, err);
    hrm_status st = vrun(false, err, ap);
    va_end(ap);
    return st;
}

static hrm_status generate(char *err, ...) {
    va_list ap;
    va_start(ap, err);
    hrm_status st = vrun(true, err, ap);
    va_end(ap);
    return st;
}

#endif /* HRM_PLUGINS_TASK_TEST_REC_H */
