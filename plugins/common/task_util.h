/* plugins/common/task_util.h - what the CSV-sourced tasks (Sudoku, mazes) share: the reader of the
 * source format `source,question,answer,rating` (Sudoku-Extreme, Maze-Hard), a loader that checks
 * and encodes every row into a table of fixed-size records, the split options of `hrm data build`
 * (--train, --test, --holdout, --subsample, --seed, --strict), `hrm data verify` over a file, and
 * small helpers for options and for the host's callbacks.
 *
 * The format: a header line that must read `source,question,answer,rating`, then one row per
 * line, four unquoted comma-separated fields that are never trimmed (maze fields are made of
 * spaces), LF or CRLF line ends, an integer rating. Line numbers are 1-based file lines (the
 * header is line 1). */
#ifndef HRM_PLUGINS_TASK_CSV_H
#define HRM_PLUGINS_TASK_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hrm/task.h"

#define TASK_CSV_HEADER "source,question,answer,rating"

enum { TASK_CSV_SOURCE, TASK_CSV_QUESTION, TASK_CSV_ANSWER, TASK_CSV_RATING, TASK_CSV_FIELDS };

/* One row. The fields point into the reader's buffer and live until the next read. */
typedef struct task_csv_row {
    long line;
    const char *field[TASK_CSV_FIELDS]; /* NUL-terminated, exactly as in the file */
    size_t len[TASK_CSV_FIELDS];        /* lengths (a field may hold a stray NUL byte) */
    long rating;
} task_csv_row;

typedef struct task_csv {
    FILE *f;
    const char *path;
    char *buf;
    size_t cap;
    long line; /* last line read */
    task_csv_row row;
    char reason[160];   /* why the last row was malformed, or why reading failed */
    hrm_status failure; /* after TASK_CSV_FAILED: HRM_ERR_OUT_OF_MEMORY or HRM_ERR_INVALID_ARG (read error) */
} task_csv;

typedef enum task_csv_read {
    TASK_CSV_END,       /* no more rows */
    TASK_CSV_ROW,       /* c->row holds a row */
    TASK_CSV_MALFORMED, /* line c->row.line is not a row of the format; c->reason says why */
    TASK_CSV_FAILED,    /* read error or out of memory: c->failure, c->reason */
} task_csv_read;

/* Opens path and checks its header. HRM_ERR_INVALID_ARG (cannot open, no or wrong header) or
 * HRM_ERR_OUT_OF_MEMORY with one line in err; nothing to close then. */
hrm_status task_csv_open(task_csv *c, const char *path, char *err, size_t err_size);
task_csv_read task_csv_next(task_csv *c);
void task_csv_close(task_csv *c);

/* ---- checked, encoded tables of rows ---------------------------------------------------------- */

typedef enum task_row_verdict {
    TASK_ROW_KEEP, /* valid; record filled */
    TASK_ROW_SKIP, /* valid, but a filter (e.g. --min-rating) leaves it out */
    TASK_ROW_BAD,  /* malformed; reason says why */
} task_row_verdict;

/* A task's check and encoding of one row into record (record_size bytes of the table). */
typedef task_row_verdict (*task_row_fn)(void *ctx, const task_csv_row *row, void *record, char *reason,
                                        size_t reason_size);

typedef struct task_table {
    uint8_t *records; /* count records of record_size bytes, in file order */
    long count, cap;
    size_t record_size;
} task_table;

static inline void *task_table_at(const task_table *t, long i) { return t->records + (size_t)i * t->record_size; }
void task_table_free(task_table *t);

/* The options of `hrm data build` that every CSV-sourced task takes. */
typedef struct task_split {
    const char *train, *test;
    long holdout;   /* -1: not given */
    long subsample; /* -1: not given */
    uint64_t seed;
    bool strict;
} task_split;

#define TASK_SPLIT_USAGE                                                                               \
    "--train FILE       source CSV of the train split (required)\n"                                    \
    "--test FILE        source CSV of the test split\n"                                                \
    "--holdout N        without --test: N seeded-random train rows become the test split instead\n"    \
    "--subsample N      keep N seeded-random train rows (after --holdout), as the published builder\n" \
    "--seed S           seed of --holdout, --subsample and augmentation (default 0)\n"                 \
    "--strict           reject the build at the first malformed row instead of skipping it\n"

void task_split_init(task_split *s);
/* Takes argv[*i] and its value when it is one of the options above: returns 1 (and moves *i to
 * the value's index), 0 when argv[*i] is none of them, -1 on a missing or bad value with one line
 * in err (an option error: the caller returns HRM_ERR_USAGE). */
int task_split_option(task_split *s, int argc, char **argv, int *i, char *err, size_t err_size);
/* Loads --train (and --test) through fn, then moves --holdout random train rows to test and keeps
 * --subsample random train rows, both in file order. Malformed rows are logged as FILE:LINE and
 * skipped, or with --strict fail the load with that line in err. train and test must be zeroed;
 * free them with task_table_free whatever the result. Option errors (no --train; --holdout with
 * --test) are HRM_ERR_USAGE and found before any file is read; file and data errors (cannot open,
 * bad header, a bad row under --strict, no usable rows, --holdout not below the usable rows) are
 * HRM_ERR_INVALID_ARG. */
hrm_status task_split_load(const hrm_task_host *host, const char *task, const task_split *s, task_row_fn fn, void *ctx,
                           size_t record_size, task_table *train, task_table *test, char *err, size_t err_size);

/* The body of a task's verify_file: fn checks every row; each malformed or rejected one goes to
 * host->emit as "FILE:LINE: reason" (rows fn skips count as accepted). */
hrm_status task_csv_verify_file(const hrm_task_host *host, const char *path, task_row_fn fn, void *ctx,
                                size_t record_size, long *accepted, long *rejected, char *err, size_t err_size);

/* ---- options and host callbacks --------------------------------------------------------------- */

/* The value of option argv[*i] (moving *i to it), or NULL with one line in err when it is missing
 * (an option error: the caller returns HRM_ERR_USAGE). */
const char *task_option_value(int argc, char **argv, int *i, char *err, size_t err_size);
/* Whether opt is one of names (a NULL-terminated list). */
bool task_option_known(const char *opt, const char *const *names);
/* argv[*i] must be one of `known` (NULL-ended) and have a value: returns the value and advances *i
 * past it, or NULL after one line in err (an unknown option or a missing value: HRM_ERR_USAGE). */
const char *task_known_option_value(int argc, char **argv, int *i, const char *const *known, char *err,
                                    size_t err_size);
/* Whole-string decimal numbers within [min, max]; false on anything else. */
bool task_parse_long(const char *s, long min, long max, long *out);
bool task_parse_u64(const char *s, uint64_t *out);
bool task_parse_double(const char *s, double min, double max, double *out);

/* c as it can be quoted in a one-line message: 'c', or \xNN for a byte that is not printable. */
const char *task_show_char(char c, char buf[8]);

/* Text appended into a caller's buffer: len counts every byte asked for, so len >= size after
 * the last put means that the text did not fit (out then holds a NUL-terminated prefix). */
typedef struct task_text {
    char *out;
    size_t size, len;
} task_text;

void task_text_put(task_text *t, const char *s);

/* host->log and host->emit, checked against the host's struct_size; the log takes printf format. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
void task_log(const hrm_task_host *host, hrm_log_level level, const char *task, const char *fmt, ...);
bool task_can_emit(const hrm_task_host *host);
hrm_status task_emit(const hrm_task_host *host, const char *line);
/* `hrm data generate`'s common start: checks argv and that the host takes output (one line in err
 * otherwise). */
hrm_status task_generate_check(const hrm_task_host *host, char **argv, char *err, size_t err_size);
/* One generated row of the source format: "source,question,answer,rating". */
hrm_status task_emit_row(const hrm_task_host *host, const char *source, const char *question, const char *answer,
                         long rating);

/* snprintf into err that returns status, for one-line `return task_fail(...)`. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
hrm_status
task_fail(hrm_status status, char *err, size_t err_size, const char *fmt, ...);

#endif /* HRM_PLUGINS_TASK_CSV_H */
