/* plugins/sudoku/sudoku_task.c - the Sudoku task plugin (hrm-task-sudoku.so): its hrm_task_iface
 * table, dataset builder, generator, verifier, renderer and parser.
 *
 * Encoding and dataset.json as the published HRM dataset/build_sudoku_dataset.py: seq_len 81, a
 * blank ('.' or '0') is token 1, digit d is token d+1, labels are the answer digits + 1, vocab 11,
 * pad_id 0, ignore_label_id 0 (never in a Sudoku label), one blank puzzle identifier. The build
 * makes one group per source row: the original puzzle and --aug augmented variants of it, each a
 * puzzle of one example; the test split is never augmented. */
#include <stdio.h>
#include <string.h>

#include "hrm/task.h"
#include "sudoku.h"
#include "task_util.h"

#define SUDOKU_TASK "sudoku"

enum {
    TOKEN_BLANK = 1, /* digit d is token d + 1 */
    MAX_AUG = 1000000,
    GEN_MAX_MISSES = 20000, /* puzzles in a row outside --min/max-rating: give up on a range so rare */
};

/* A source row, checked: digits with 0 for a blank. */
typedef struct sudoku_record {
    uint8_t question[SUDOKU_CELLS], answer[SUDOKU_CELLS];
} sudoku_record;

/* ---- source rows ------------------------------------------------------------------------------ */

/* Reads the 81 characters of a question (blanks allowed) or an answer into digits. */
static bool read_cells(const char *s, size_t len, bool blanks, uint8_t *grid, char *reason, size_t reason_size) {
    const char *what = blanks ? "question" : "answer";
    if (len != SUDOKU_CELLS) {
        snprintf(reason, reason_size, "%s has %zu characters, expected 81", what, len);
        return false;
    }
    for (int i = 0; i < SUDOKU_CELLS; i++) {
        char c = s[i], buf[8];
        if (c >= '1' && c <= '9')
            grid[i] = (uint8_t)(c - '0');
        else if (blanks && (c == '.' || c == '0'))
            grid[i] = 0;
        else {
            snprintf(reason, reason_size, "%s character %d is %s, expected %s", what, i + 1, task_show_char(c, buf),
                     blanks ? "1-9, '.' or '0'" : "1-9");
            return false;
        }
    }
    return true;
}

typedef struct row_filter {
    bool has_min;
    long min_rating;
} row_filter;

static task_row_verdict sudoku_row(void *ctx, const task_csv_row *row, void *record, char *reason, size_t reason_size) {
    const row_filter *filter = ctx;
    sudoku_record *r = record;
    if (!read_cells(row->field[TASK_CSV_QUESTION], row->len[TASK_CSV_QUESTION], true, r->question, reason,
                    reason_size) ||
        !read_cells(row->field[TASK_CSV_ANSWER], row->len[TASK_CSV_ANSWER], false, r->answer, reason, reason_size) ||
        !sudoku_check(r->question, r->answer, reason, reason_size))
        return TASK_ROW_BAD;
    if (filter && filter->has_min && row->rating < filter->min_rating) return TASK_ROW_SKIP;
    return TASK_ROW_KEEP;
}

/* ---- build ------------------------------------------------------------------------------------ */

typedef struct build_opts {
    task_split split;
    long aug;
    row_filter filter;
} build_opts;

static hrm_status parse_build(int argc, char **argv, build_opts *o, char *err, size_t err_size) {
    memset(o, 0, sizeof *o);
    task_split_init(&o->split);
    for (int i = 1; i < argc; i++) {
        int taken = task_split_option(&o->split, argc, argv, &i, err, err_size);
        if (taken < 0) return HRM_ERR_USAGE;
        if (taken) continue;
        const char *opt = argv[i], *v;
        bool aug = strcmp(opt, "--aug") == 0;
        if (!aug && strcmp(opt, "--min-rating") != 0)
            return task_fail(HRM_ERR_USAGE, err, err_size, "unknown option '%s'", opt);
        if (!(v = task_option_value(argc, argv, &i, err, err_size))) return HRM_ERR_USAGE;
        bool ok = aug ? task_parse_long(v, 0, MAX_AUG, &o->aug)
                      : task_parse_long(v, -2147483647L, 2147483647L, &o->filter.min_rating);
        if (!ok) return task_fail(HRM_ERR_USAGE, err, err_size, "%s: '%s' is not a valid number", opt, v);
        if (!aug) o->filter.has_min = true;
    }
    return HRM_OK;
}

static void encode(const uint8_t *grid, uint8_t *tokens) {
    for (int i = 0; i < SUDOKU_CELLS; i++) tokens[i] = (uint8_t)(grid[i] + TOKEN_BLANK);
}

static hrm_status add_puzzle(const hrm_task_sink *sink, const uint8_t *question, const uint8_t *answer) {
    uint8_t input[SUDOKU_CELLS], label[SUDOKU_CELLS];
    encode(question, input);
    encode(answer, label);
    hrm_status st = sink->begin_puzzle(sink->user, NULL);
    return st == HRM_OK ? sink->add_example(sink->user, input, label) : st;
}

/* One group per record: the original, then aug variants drawn from rng. */
static hrm_status emit_split(const hrm_task_sink *sink, const task_table *t, long aug, task_rng *rng) {
    for (long g = 0; g < t->count; g++) {
        const sudoku_record *r = task_table_at(t, g);
        hrm_status st = sink->begin_group(sink->user);
        if (st == HRM_OK) st = add_puzzle(sink, r->question, r->answer);
        for (long k = 0; k < aug && st == HRM_OK; k++) {
            sudoku_aug a;
            uint8_t q[SUDOKU_CELLS], s[SUDOKU_CELLS];
            sudoku_aug_draw(rng, &a);
            sudoku_aug_apply(&a, r->question, q);
            sudoku_aug_apply(&a, r->answer, s);
            st = add_puzzle(sink, q, s);
        }
        if (st != HRM_OK) return st;
    }
    return HRM_OK;
}

static bool sink_ok(const hrm_task_sink *s) { return s && s->begin_group && s->begin_puzzle && s->add_example; }

static hrm_status sudoku_build(const hrm_task_host *host, int argc, char **argv, const hrm_task_sink *train,
                               const hrm_task_sink *test, char *err, size_t err_size) {
    if (!argv || !sink_ok(train) || !sink_ok(test))
        return task_fail(HRM_ERR_INVALID_ARG, err, err_size, "build: missing argument");
    build_opts o;
    hrm_status st = parse_build(argc, argv, &o, err, err_size);
    if (st != HRM_OK) return st;
    task_table tr = {0}, te = {0};
    st = task_split_load(host, SUDOKU_TASK, &o.split, sudoku_row, &o.filter, sizeof(sudoku_record), &tr, &te, err,
                         err_size);
    task_rng rng;
    task_rng_seed(&rng, o.split.seed ^ 0x5d0c0a06ull); /* a stream apart from the split's */
    if (st == HRM_OK && (st = emit_split(train, &tr, o.aug, &rng)) != HRM_OK)
        task_fail(st, err, err_size, "writing the train split failed");
    if (st == HRM_OK && (st = emit_split(test, &te, 0, &rng)) != HRM_OK)
        task_fail(st, err, err_size, "writing the test split failed");
    if (st == HRM_OK)
        task_log(host, HRM_LOG_INFO, SUDOKU_TASK, "train: %ld groups of %ld puzzles; test: %ld puzzles", tr.count,
                 o.aug + 1, te.count);
    task_table_free(&tr);
    task_table_free(&te);
    return st;
}

/* ---- generate --------------------------------------------------------------------------------- */

typedef struct gen_opts {
    long count, givens, min_rating, max_rating;
    uint64_t seed;
} gen_opts;

static hrm_status parse_generate(int argc, char **argv, gen_opts *o, char *err, size_t err_size) {
    static const char *const known[] = {"--count", "--givens", "--min-rating", "--max-rating", "--seed", NULL};
    *o = (gen_opts){.count = -1, .givens = 0, .min_rating = 0, .max_rating = 2147483647L};
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *v;
        if (!(v = task_known_option_value(argc, argv, &i, known, err, err_size))) return HRM_ERR_USAGE;
        bool ok;
        if (strcmp(opt, "--count") == 0)
            ok = task_parse_long(v, 1, 100000000L, &o->count);
        else if (strcmp(opt, "--givens") == 0)
            ok = task_parse_long(v, 0, SUDOKU_CELLS, &o->givens);
        else if (strcmp(opt, "--min-rating") == 0)
            ok = task_parse_long(v, 0, 2147483647L, &o->min_rating);
        else if (strcmp(opt, "--max-rating") == 0)
            ok = task_parse_long(v, 0, 2147483647L, &o->max_rating);
        else
            ok = task_parse_u64(v, &o->seed);
        if (!ok) return task_fail(HRM_ERR_USAGE, err, err_size, "%s: '%s' is not a valid value", opt, v);
    }
    if (o->count < 0) return task_fail(HRM_ERR_USAGE, err, err_size, "--count N is required");
    if (o->min_rating > o->max_rating)
        return task_fail(HRM_ERR_USAGE, err, err_size, "--min-rating is above --max-rating");
    return HRM_OK;
}

static void grid_text(const uint8_t *grid, char *out) {
    for (int i = 0; i < SUDOKU_CELLS; i++) out[i] = grid[i] ? (char)('0' + grid[i]) : '.';
    out[SUDOKU_CELLS] = '\0';
}

static hrm_status emit_puzzle(const hrm_task_host *host, const gen_opts *o, const uint8_t *puzzle,
                              const uint8_t *solution, long rating) {
    char q[SUDOKU_CELLS + 1], a[SUDOKU_CELLS + 1], source[48];
    grid_text(puzzle, q);
    grid_text(solution, a);
    snprintf(source, sizeof source, "gen-sudoku-seed%llu", (unsigned long long)o->seed);
    return task_emit_row(host, source, q, a, rating);
}

static hrm_status sudoku_generate(const hrm_task_host *host, int argc, char **argv, char *err, size_t err_size) {
    gen_opts o;
    hrm_status st = task_generate_check(host, argv, err, err_size);
    if (st == HRM_OK) st = parse_generate(argc, argv, &o, err, err_size);
    if (st != HRM_OK) return st;
    if ((st = task_emit(host, TASK_CSV_HEADER)) != HRM_OK) return task_fail(st, err, err_size, "output failed");
    task_rng rng;
    task_rng_seed(&rng, o.seed);
    for (long made = 0, misses = 0; made < o.count;) {
        uint8_t solution[SUDOKU_CELLS], puzzle[SUDOKU_CELLS];
        sudoku_random_solution(&rng, solution);
        sudoku_dig(&rng, solution, (int)o.givens, puzzle);
        long rating = sudoku_rating(puzzle);
        if (rating < o.min_rating || rating > o.max_rating) {
            if (++misses < GEN_MAX_MISSES) continue;
            return task_fail(HRM_ERR_INVALID_ARG, err, err_size,
                             "%d puzzles in a row rated outside %ld..%ld after %ld good ones: widen the range",
                             GEN_MAX_MISSES, o.min_rating, o.max_rating, made);
        }
        misses = 0;
        if ((st = emit_puzzle(host, &o, puzzle, solution, rating)) != HRM_OK)
            return task_fail(st, err, err_size, "output failed");
        if (++made % 10000 == 0) task_log(host, HRM_LOG_INFO, SUDOKU_TASK, "%ld puzzles generated", made);
    }
    return HRM_OK;
}

/* ---- verify ----------------------------------------------------------------------------------- */

static hrm_status sudoku_verify_file(const hrm_task_host *host, const char *path, long *accepted, long *rejected,
                                     char *err, size_t err_size) {
    return task_csv_verify_file(host, path, sudoku_row, NULL, sizeof(sudoku_record), accepted, rejected, err, err_size);
}

static hrm_status sudoku_verify(const uint8_t *input, const uint8_t *answer, const uint8_t *label, bool *accepted,
                                char *reason, size_t reason_size) {
    (void)label; /* any valid completion is right: a proper puzzle has one */
    if (!reason) reason_size = 0;
    if (!input || !answer || !accepted) return task_fail(HRM_ERR_INVALID_ARG, reason, reason_size, "missing argument");
    uint8_t givens[SUDOKU_CELLS], digits[SUDOKU_CELLS];
    *accepted = false;
    for (int i = 0; i < SUDOKU_CELLS; i++) {
        if (input[i] < TOKEN_BLANK || input[i] > TOKEN_BLANK + 9)
            return task_fail(HRM_ERR_INVALID_ARG, reason, reason_size, "input cell r%dc%d holds token %d", i / 9 + 1,
                             i % 9 + 1, input[i]);
        givens[i] = (uint8_t)(input[i] - TOKEN_BLANK);
        if (answer[i] < TOKEN_BLANK || answer[i] > TOKEN_BLANK + 9) {
            snprintf(reason, reason_size, "cell r%dc%d holds token %d, not a digit", i / 9 + 1, i % 9 + 1, answer[i]);
            return HRM_OK;
        }
        digits[i] = (uint8_t)(answer[i] - TOKEN_BLANK);
    }
    *accepted = sudoku_check(givens, digits, reason, reason_size);
    return HRM_OK;
}

/* ---- render and parse ------------------------------------------------------------------------- */

#define ANSI_FILLED "\x1b[1;36m"
#define ANSI_CLASH "\x1b[1;31m"
#define ANSI_RESET "\x1b[0m"

static char glyph(uint8_t token) {
    if (token == TOKEN_BLANK) return '.';
    return token > TOKEN_BLANK && token <= TOKEN_BLANK + 9 ? (char)('0' + token - TOKEN_BLANK) : '?';
}

/* One cell: a space and its glyph. A cell that differs from input is marked: in colour, or with
 * '*' (filled in) or '!' (contradicts a given) in place of the space. */
static void put_cell(task_text *t, uint8_t token, int given, bool differs, bool color) {
    char g[2] = {glyph(token), '\0'};
    if (!differs) {
        task_text_put(t, " ");
        task_text_put(t, g);
    } else if (color) {
        task_text_put(t, given ? " " ANSI_CLASH : " " ANSI_FILLED);
        task_text_put(t, g);
        task_text_put(t, ANSI_RESET);
    } else {
        task_text_put(t, given ? "!" : "*");
        task_text_put(t, g);
    }
}

static hrm_status sudoku_render(const uint8_t *tokens, const uint8_t *input, bool color, char *out, size_t out_size) {
    if (!tokens || !out || !out_size) return HRM_ERR_INVALID_ARG;
    static const char border[] = "+-------+-------+-------+\n";
    task_text t = {.out = out, .size = out_size};
    out[0] = '\0';
    for (int r = 0; r < SUDOKU_SIDE; r++) {
        if (r % 3 == 0) task_text_put(&t, border);
        for (int c = 0; c < SUDOKU_SIDE; c++) {
            int i = r * 9 + c;
            int given = input && input[i] > TOKEN_BLANK && input[i] <= TOKEN_BLANK + 9;
            task_text_put(&t, c == 0 ? "|" : c % 3 == 0 ? " |" : "");
            put_cell(&t, tokens[i], given, input && input[i] != tokens[i], color);
        }
        task_text_put(&t, " |\n");
    }
    task_text_put(&t, border);
    return t.len < out_size ? HRM_OK : HRM_ERR_INVALID_ARG;
}

static hrm_status sudoku_parse_puzzle(const char *text, uint8_t *input, char *err, size_t err_size) {
    if (!text || !input) return task_fail(HRM_ERR_INVALID_ARG, err, err_size, "missing argument");
    int n = 0;
    for (const char *p = text; *p; p++) {
        char c = *p, buf[8];
        if (strchr(" \t\r\n\v\f|-+", c)) continue; /* layout, so that a rendered grid parses */
        bool digit = c >= '1' && c <= '9';
        if (!digit && c != '.' && c != '0')
            return task_fail(HRM_ERR_INVALID_ARG, err, err_size,
                             "character %ld is %s: a Sudoku is 81 cells of 1-9, with '.' or '0' for a blank",
                             (long)(p - text) + 1, task_show_char(c, buf));
        if (n < SUDOKU_CELLS) input[n] = (uint8_t)(digit ? c - '0' + TOKEN_BLANK : TOKEN_BLANK);
        n++;
    }
    if (n != SUDOKU_CELLS) return task_fail(HRM_ERR_INVALID_ARG, err, err_size, "found %d cells, a Sudoku has 81", n);
    return HRM_OK;
}

/* ---- the table -------------------------------------------------------------------------------- */

static const hrm_task_iface sudoku_iface = {
    .abi_version = HRM_TASK_ABI_VERSION,
    .struct_size = sizeof(hrm_task_iface),
    .name = SUDOKU_TASK,
    .summary = "9x9 Sudoku from Sudoku-Extreme CSV files (81 tokens: blank 1, digit d as d+1)",
    .format = {.seq_len = SUDOKU_CELLS, .vocab_size = 11, .pad_id = 0, .has_ignore_label = true, .ignore_label_id = 0},
    .build_usage = TASK_SPLIT_USAGE
    "--aug N            N augmented variants of each train puzzle besides the original (default 0)\n"
    "--min-rating R     keep only rows rated R or more (both splits)\n",
    .build = sudoku_build,
    .generate_usage = "--count N          puzzles to write (required)\n"
                      "--seed S           seed (default 0)\n"
                      "--givens G         stop blanking cells at G givens (default 0: as few as stay unique)\n"
                      "--min-rating R     keep only puzzles rated R or more (guesses of a backtracking solver)\n"
                      "--max-rating R     keep only puzzles rated R or less\n",
    .generate = sudoku_generate,
    .verify_file = sudoku_verify_file,
    .verify = sudoku_verify,
    .render = sudoku_render,
    .parse_puzzle = sudoku_parse_puzzle,
};

HRM_TASK_EXPORT const hrm_task_iface *hrm_task_entry(void);

HRM_TASK_EXPORT const hrm_task_iface *hrm_task_entry(void) { return &sudoku_iface; }
