/* plugins/common/task_util.c - the source CSV reader, row tables, build splits and file verification
 * shared by the CSV-sourced task plugins (see task_util.h for the format). Rows are read with getc
 * into a growing buffer, so a stray NUL byte or a huge line is a malformed row rather than a
 * silent truncation; a line past TASK_CSV_MAX_LINE bytes is skipped whole. */
#include "task_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "task_rng.h"

enum {
    TASK_CSV_MAX_LINE = 1 << 16, /* a Maze-Hard row is ~1.8 kB; anything this long is not a row */
    TASK_PROGRESS_ROWS = 10000,  /* info line every this many rows of a big file */
    TASK_MAX_WARNINGS = 20,      /* malformed rows logged one by one; the rest only counted */
};

/* ---- host callbacks and small helpers --------------------------------------------------------- */

/* Whether the host's table, as the host compiled it, reaches past the end of field `member`. */
#define HOST_HAS(host, member) \
    ((host) && (host)->struct_size >= offsetof(hrm_task_host, member) + sizeof((host)->member) && (host)->member)

void task_log(const hrm_task_host *host, hrm_log_level level, const char *task, const char *fmt, ...) {
    if (!HOST_HAS(host, log)) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    host->log(host->user, level, task, msg);
}

bool task_can_emit(const hrm_task_host *host) { return HOST_HAS(host, emit); }

hrm_status task_emit(const hrm_task_host *host, const char *line) {
    return task_can_emit(host) ? host->emit(host->user, line) : HRM_ERR_INVALID_ARG;
}

hrm_status task_generate_check(const hrm_task_host *host, char **argv, char *err, size_t err_size) {
    if (!argv) return task_fail(HRM_ERR_INVALID_ARG, err, err_size, "generate: missing argument");
    if (!task_can_emit(host))
        return task_fail(HRM_ERR_INVALID_ARG, err, err_size, "generate: the host gives no output");
    return HRM_OK;
}

hrm_status task_emit_row(const hrm_task_host *host, const char *source, const char *question, const char *answer,
                         long rating) {
    size_t n = strlen(source) + strlen(question) + strlen(answer) + 32;
    char *line = malloc(n);
    if (!line) return HRM_ERR_OUT_OF_MEMORY;
    snprintf(line, n, "%s,%s,%s,%ld", source, question, answer, rating);
    hrm_status st = task_emit(host, line);
    free(line);
    return st;
}

hrm_status task_fail(hrm_status status, char *err, size_t err_size, const char *fmt, ...) {
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return status;
}

const char *task_show_char(char c, char buf[8]) {
    unsigned char u = (unsigned char)c;
    if (u >= 0x20 && u < 0x7f)
        snprintf(buf, 8, "'%c'", c);
    else
        snprintf(buf, 8, "\\x%02x", u);
    return buf;
}

void task_text_put(task_text *t, const char *s) {
    size_t n = strlen(s);
    if (t->len + n < t->size) memcpy(t->out + t->len, s, n + 1);
    t->len += n;
}

const char *task_option_value(int argc, char **argv, int *i, char *err, size_t err_size) {
    if (*i + 1 >= argc) {
        task_fail(HRM_ERR_USAGE, err, err_size, "%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

bool task_option_known(const char *opt, const char *const *names) {
    for (; *names; names++)
        if (strcmp(opt, *names) == 0) return true;
    return false;
}

const char *task_known_option_value(int argc, char **argv, int *i, const char *const *known, char *err,
                                    size_t err_size) {
    if (!task_option_known(argv[*i], known)) {
        task_fail(HRM_ERR_USAGE, err, err_size, "unknown option '%s'", argv[*i]);
        return NULL;
    }
    return task_option_value(argc, argv, i, err, err_size);
}

bool task_parse_long(const char *s, long min, long max, long *out) {
    if (!s || !*s || !(*s == '-' || (*s >= '0' && *s <= '9'))) return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max) return false;
    *out = v;
    return true;
}

bool task_parse_u64(const char *s, uint64_t *out) {
    if (!s || !(*s >= '0' && *s <= '9')) return false; /* strtoull would take "-1" */
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return false;
    *out = (uint64_t)v;
    return true;
}

bool task_parse_double(const char *s, double min, double max, double *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= min && v <= max)) return false; /* the negation also rejects NaN */
    *out = v;
    return true;
}

/* ---- the reader ------------------------------------------------------------------------------- */

/* Reads the next line into c->buf without its LF or CRLF. Returns its length, -1 at the end of
 * the file, -2 on a read error or out of memory (c->reason set). *too_long: the line had more than
 * TASK_CSV_MAX_LINE bytes (the rest was consumed and dropped). */
static long read_line(task_csv *c, bool *too_long) {
    size_t n = 0;
    int ch;
    bool any = false;
    *too_long = false;
    while ((ch = getc(c->f)) != EOF) {
        any = true;
        if (ch == '\n') break;
        if (n >= TASK_CSV_MAX_LINE) {
            *too_long = true;
            continue;
        }
        if (n + 1 >= c->cap) {
            size_t cap = c->cap ? 2 * c->cap : 4096;
            char *buf = realloc(c->buf, cap);
            if (!buf) {
                snprintf(c->reason, sizeof c->reason, "out of memory");
                c->failure = HRM_ERR_OUT_OF_MEMORY;
                return -2;
            }
            c->buf = buf;
            c->cap = cap;
        }
        c->buf[n++] = (char)ch;
    }
    if (ferror(c->f)) {
        snprintf(c->reason, sizeof c->reason, "read error: %s", strerror(errno));
        c->failure = HRM_ERR_INVALID_ARG;
        return -2;
    }
    if (!any) return -1;
    if (!c->buf) { /* an empty line before any byte was stored: the buffer does not exist yet */
        if (!(c->buf = malloc(4096))) {
            snprintf(c->reason, sizeof c->reason, "out of memory");
            c->failure = HRM_ERR_OUT_OF_MEMORY;
            return -2;
        }
        c->cap = 4096;
    }
    if (n > 0 && c->buf[n - 1] == '\r') n--;
    c->buf[n] = '\0';
    c->line++;
    return (long)n;
}

hrm_status task_csv_open(task_csv *c, const char *path, char *err, size_t err_size) {
    memset(c, 0, sizeof *c);
    c->path = path;
    c->f = fopen(path, "rb");
    if (!c->f) return task_fail(HRM_ERR_INVALID_ARG, err, err_size, "%s: cannot open: %s", path, strerror(errno));
    bool too_long;
    long n = read_line(c, &too_long);
    hrm_status st = HRM_OK;
    if (n == -2)
        st = task_fail(c->failure, err, err_size, "%s: %s", path, c->reason);
    else if (n == -1)
        st = task_fail(HRM_ERR_INVALID_ARG, err, err_size, "%s: empty file, expected the header %s", path,
                       TASK_CSV_HEADER);
    else if (too_long || (size_t)n != strlen(TASK_CSV_HEADER) || memcmp(c->buf, TASK_CSV_HEADER, (size_t)n) != 0)
        st = task_fail(HRM_ERR_INVALID_ARG, err, err_size, "%s:1: header is '%.40s', expected %s", path,
                       too_long ? "(a very long line)" : c->buf, TASK_CSV_HEADER);
    if (st != HRM_OK) task_csv_close(c);
    return st;
}

/* Splits c->buf (n bytes) at its commas into c->row; false when it has not TASK_CSV_FIELDS. */
static bool split_fields(task_csv *c, size_t n) {
    int k = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && c->buf[i] != ',') continue;
        if (k < TASK_CSV_FIELDS) {
            c->row.field[k] = c->buf + start;
            c->row.len[k] = i - start;
        }
        k++;
        c->buf[i] = '\0';
        start = i + 1;
    }
    if (k == TASK_CSV_FIELDS) return true;
    snprintf(c->reason, sizeof c->reason, "expected 4 fields (%s), found %d", TASK_CSV_HEADER, k);
    return false;
}

task_csv_read task_csv_next(task_csv *c) {
    bool too_long;
    long n = read_line(c, &too_long);
    if (n == -1) return TASK_CSV_END;
    if (n == -2) return TASK_CSV_FAILED;
    c->row.line = c->line;
    if (too_long) {
        snprintf(c->reason, sizeof c->reason, "line longer than %d bytes", TASK_CSV_MAX_LINE);
        return TASK_CSV_MALFORMED;
    }
    if (!split_fields(c, (size_t)n)) return TASK_CSV_MALFORMED;
    const char *rating = c->row.field[TASK_CSV_RATING];
    bool integer = strlen(rating) == c->row.len[TASK_CSV_RATING] &&
                   task_parse_long(rating, -2147483647L, 2147483647L, &c->row.rating);
    if (!integer) {
        snprintf(c->reason, sizeof c->reason, "rating '%.20s' is not an integer", rating);
        return TASK_CSV_MALFORMED;
    }
    return TASK_CSV_ROW;
}

void task_csv_close(task_csv *c) {
    if (c->f) fclose(c->f);
    free(c->buf);
    c->f = NULL;
    c->buf = NULL;
}

/* ---- tables ----------------------------------------------------------------------------------- */

void task_table_free(task_table *t) {
    free(t->records);
    memset(t, 0, sizeof *t);
}

/* Room for one more record; returns where it goes (not yet counted), NULL when out of memory. */
static void *table_slot(task_table *t) {
    if (t->count == t->cap) {
        long cap = t->cap ? 2 * t->cap : 1024;
        uint8_t *r = realloc(t->records, (size_t)cap * t->record_size);
        if (!r) return NULL;
        t->records = r;
        t->cap = cap;
    }
    return task_table_at(t, t->count);
}

/* Moves the records of `from` marked in chosen to the end of `to` (or drops them when to is NULL),
 * keeping the order of both. */
static hrm_status table_move(task_table *from, const bool *chosen, task_table *to) {
    long kept = 0;
    for (long i = 0; i < from->count; i++) {
        void *src = task_table_at(from, i);
        if (!chosen[i]) {
            memmove(task_table_at(from, kept++), src, from->record_size);
            continue;
        }
        if (!to) continue;
        void *dst = table_slot(to);
        if (!dst) return HRM_ERR_OUT_OF_MEMORY;
        memcpy(dst, src, from->record_size);
        to->count++;
    }
    from->count = kept;
    return HRM_OK;
}

/* chosen[i] for k of the n rows, drawn uniformly by a seeded shuffle; NULL when out of memory. */
static bool *pick_rows(task_rng *rng, long n, long k) {
    int *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    bool *chosen = calloc((size_t)(n ? n : 1), sizeof *chosen);
    if (order && chosen) {
        for (long i = 0; i < n; i++) order[i] = (int)i;
        task_rng_shuffle(rng, order, (int)n);
        for (long i = 0; i < k; i++) chosen[order[i]] = true;
    } else {
        free(chosen);
        chosen = NULL;
    }
    free(order);
    return chosen;
}

/* ---- scanning a file: loading it into a table, or verifying it -------------------------------- */

typedef struct scan {
    const hrm_task_host *host;
    const char *task;
    task_row_fn fn;
    void *ctx;
    bool strict;      /* load: the first malformed row fails the scan */
    bool emit;        /* verify: malformed and rejected rows go to host->emit */
    task_table *into; /* load: kept records; verify: NULL (scratch record) */
    long kept, skipped, bad;
} scan;

/* Handles a malformed or rejected row of path. */
static hrm_status scan_bad(scan *s, const char *path, long line, const char *reason, char *err, size_t err_size) {
    s->bad++;
    if (s->emit) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s:%ld: %s", path, line, reason);
        hrm_status st = task_emit(s->host, msg);
        return st == HRM_OK ? HRM_OK : task_fail(st, err, err_size, "%s:%ld: output failed", path, line);
    }
    if (s->strict) return task_fail(HRM_ERR_INVALID_ARG, err, err_size, "%s:%ld: %s", path, line, reason);
    if (s->bad <= TASK_MAX_WARNINGS)
        task_log(s->host, HRM_LOG_WARN, s->task, "%s:%ld: %s (row skipped)", path, line, reason);
    return HRM_OK;
}

/* Passes one row through s->fn into the table or the scratch record. */
static hrm_status scan_row(scan *s, task_csv *c, void *scratch, char *err, size_t err_size) {
    void *record = s->into ? table_slot(s->into) : scratch;
    if (!record) return task_fail(HRM_ERR_OUT_OF_MEMORY, err, err_size, "%s: out of memory", c->path);
    char reason[160] = "malformed row";
    task_row_verdict v = s->fn(s->ctx, &c->row, record, reason, sizeof reason);
    if (v == TASK_ROW_BAD) return scan_bad(s, c->path, c->row.line, reason, err, err_size);
    if (v == TASK_ROW_SKIP) {
        s->skipped++;
        return HRM_OK;
    }
    s->kept++;
    if (s->into) s->into->count++;
    return HRM_OK;
}

static hrm_status scan_file(scan *s, const char *path, size_t record_size, char *err, size_t err_size) {
    task_csv c;
    hrm_status st = task_csv_open(&c, path, err, err_size);
    if (st != HRM_OK) return st;
    void *scratch = s->into ? NULL : malloc(record_size);
    if (!s->into && !scratch) st = task_fail(HRM_ERR_OUT_OF_MEMORY, err, err_size, "%s: out of memory", path);
    for (long rows = 1; st == HRM_OK; rows++) {
        task_csv_read r = task_csv_next(&c);
        if (r == TASK_CSV_END) break;
        if (r == TASK_CSV_FAILED)
            st = task_fail(c.failure, err, err_size, "%s:%ld: %s", path, c.line + 1, c.reason);
        else if (r == TASK_CSV_MALFORMED)
            st = scan_bad(s, path, c.row.line, c.reason, err, err_size);
        else
            st = scan_row(s, &c, scratch, err, err_size);
        if (rows % TASK_PROGRESS_ROWS == 0) task_log(s->host, HRM_LOG_INFO, s->task, "%s: %ld rows read", path, rows);
    }
    free(scratch);
    task_csv_close(&c);
    return st;
}

static hrm_status load_file(const hrm_task_host *host, const char *task, const char *path, bool strict, task_row_fn fn,
                            void *ctx, task_table *t, char *err, size_t err_size) {
    scan s = {.host = host, .task = task, .fn = fn, .ctx = ctx, .strict = strict, .into = t};
    hrm_status st = scan_file(&s, path, t->record_size, err, err_size);
    if (st != HRM_OK) return st;
    if (s.bad) task_log(host, HRM_LOG_WARN, task, "%s: skipped %ld malformed rows", path, s.bad);
    task_log(host, HRM_LOG_INFO, task, "%s: %ld rows kept, %ld malformed, %ld filtered out", path, s.kept, s.bad,
             s.skipped);
    if (t->count == 0) return task_fail(HRM_ERR_INVALID_ARG, err, err_size, "%s: no usable rows", path);
    return HRM_OK;
}

hrm_status task_csv_verify_file(const hrm_task_host *host, const char *path, task_row_fn fn, void *ctx,
                                size_t record_size, long *accepted, long *rejected, char *err, size_t err_size) {
    if (!path || !accepted || !rejected)
        return task_fail(HRM_ERR_INVALID_ARG, err, err_size, "verify: missing argument");
    if (!task_can_emit(host)) return task_fail(HRM_ERR_INVALID_ARG, err, err_size, "verify: the host gives no output");
    scan s = {.host = host, .fn = fn, .ctx = ctx, .emit = true};
    hrm_status st = scan_file(&s, path, record_size, err, err_size);
    *accepted = s.kept + s.skipped;
    *rejected = s.bad;
    return st;
}

/* ---- build splits ----------------------------------------------------------------------------- */

void task_split_init(task_split *s) {
    memset(s, 0, sizeof *s);
    s->holdout = -1;
    s->subsample = -1;
}

/* The field of s that a file option names, or NULL. */
static const char **split_file(task_split *s, const char *opt) {
    if (strcmp(opt, "--train") == 0) return &s->train;
    return strcmp(opt, "--test") == 0 ? &s->test : NULL;
}

/* The field of s that a count option names, or NULL. */
static long *split_count(task_split *s, const char *opt) {
    if (strcmp(opt, "--holdout") == 0) return &s->holdout;
    return strcmp(opt, "--subsample") == 0 ? &s->subsample : NULL;
}

int task_split_option(task_split *s, int argc, char **argv, int *i, char *err, size_t err_size) {
    const char *opt = argv[*i], *v, **file = split_file(s, opt);
    long *count = split_count(s, opt);
    if (strcmp(opt, "--strict") == 0) {
        s->strict = true;
        return 1;
    }
    if (!file && !count && strcmp(opt, "--seed") != 0) return 0;
    if (!(v = task_option_value(argc, argv, i, err, err_size))) return -1;
    if (file) {
        *file = v;
        return 1;
    }
    if (count) {
        if (task_parse_long(v, 0, 2147483647L, count)) return 1;
        task_fail(HRM_ERR_USAGE, err, err_size, "%s: '%s' is not a count", opt, v);
        return -1;
    }
    if (task_parse_u64(v, &s->seed)) return 1;
    task_fail(HRM_ERR_USAGE, err, err_size, "--seed: '%s' is not a non-negative integer", v);
    return -1;
}

/* Moves k random rows of from to to (NULL: drops them). */
static hrm_status take_random(task_rng *rng, task_table *from, long k, task_table *to, char *err, size_t err_size) {
    bool *chosen = pick_rows(rng, from->count, k);
    hrm_status st = chosen ? table_move(from, chosen, to) : HRM_ERR_OUT_OF_MEMORY;
    free(chosen);
    return st == HRM_OK ? HRM_OK : task_fail(st, err, err_size, "out of memory");
}

/* --holdout and --subsample on a loaded train table. The subsample keeps a random k rows: it drops
 * the complement, so that both draws are "choose rows" draws from the one seeded stream. */
static hrm_status apply_split(const hrm_task_host *host, const char *task, const task_split *s, task_table *train,
                              task_table *test, char *err, size_t err_size) {
    task_rng rng;
    task_rng_seed(&rng, s->seed);
    if (s->holdout >= 0) {
        if (s->holdout >= train->count) /* a fine count that this file cannot give: a data error */
            return task_fail(HRM_ERR_INVALID_ARG, err, err_size, "--holdout %ld: %s has only %ld usable rows",
                             s->holdout, s->train, train->count);
        hrm_status st = take_random(&rng, train, s->holdout, test, err, err_size);
        if (st != HRM_OK) return st;
    }
    if (s->subsample >= 0 && s->subsample < train->count) {
        hrm_status st = take_random(&rng, train, train->count - s->subsample, NULL, err, err_size);
        if (st != HRM_OK) return st;
    }
    task_log(host, HRM_LOG_INFO, task, "split: %ld train rows, %ld test rows", train->count, test->count);
    return HRM_OK;
}

hrm_status task_split_load(const hrm_task_host *host, const char *task, const task_split *s, task_row_fn fn, void *ctx,
                           size_t record_size, task_table *train, task_table *test, char *err, size_t err_size) {
    /* option errors first (HRM_ERR_USAGE), before any file is read */
    if (!s->train) return task_fail(HRM_ERR_USAGE, err, err_size, "--train FILE is required");
    if (s->test && s->holdout >= 0)
        return task_fail(HRM_ERR_USAGE, err, err_size, "--holdout and --test exclude each other");
    train->record_size = test->record_size = record_size;
    hrm_status st = load_file(host, task, s->train, s->strict, fn, ctx, train, err, err_size);
    if (st == HRM_OK && s->test) st = load_file(host, task, s->test, s->strict, fn, ctx, test, err, err_size);
    if (st == HRM_OK) st = apply_split(host, task, s, train, test, err, err_size);
    return st;
}
