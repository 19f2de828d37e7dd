/* plugins/maze/maze_task.c - the maze task plugin (hrm-task-maze.so): its hrm_task_iface table,
 * dataset builder, generator, verifier, renderer and parser for 30x30 Maze-Hard mazes.
 *
 * Encoding and dataset.json as the published HRM dataset/build_maze_dataset.py: seq_len 900,
 * vocab 6 (PAD 0, then "# SGo" as 1..5), pad_id 0, ignore_label_id 0 (never in a maze label), one
 * blank puzzle identifier, one group of one puzzle of one example per maze. The published script's
 * optional dihedral augmentation (--aug) is left out, as Maze-Hard was trained without it. */
#include <stdio.h>
#include <string.h>

#include "hrm/task.h"
#include "maze.h"
#include "task_util.h"

#define MAZE_TASK "maze"

enum { GEN_MAX_MISSES = 2000000 }; /* attempts in a row without a long enough route: give up */

typedef struct maze_record {
    uint8_t input[MAZE_CELLS], label[MAZE_CELLS];
} maze_record;

/* ---- source rows ------------------------------------------------------------------------------ */

/* Reads the 900 characters of a question or (route cells allowed) an answer into tokens. */
static bool read_grid(const char *s, size_t len, bool answer, uint8_t *grid, char *reason, size_t reason_size) {
    const char *what = answer ? "answer" : "question";
    if (len != MAZE_CELLS) {
        snprintf(reason, reason_size, "%s has %zu characters, expected 900", what, len);
        return false;
    }
    for (int i = 0; i < MAZE_CELLS; i++) {
        int t = maze_token(s[i]);
        char buf[8];
        if (t < 0 || (!answer && t == MAZE_ROUTE)) {
            snprintf(reason, reason_size, "%s character %d (r%dc%d) is %s, expected one of '%s'", what, i + 1,
                     i / MAZE_SIDE + 1, i % MAZE_SIDE + 1, task_show_char(s[i], buf), answer ? "# SGo" : "# SG");
            return false;
        }
        grid[i] = (uint8_t)t;
    }
    return true;
}

static task_row_verdict maze_row(void *ctx, const task_csv_row *row, void *record, char *reason, size_t reason_size) {
    (void)ctx;
    maze_record *r = record;
    bool ok =
        read_grid(row->field[TASK_CSV_QUESTION], row->len[TASK_CSV_QUESTION], false, r->input, reason, reason_size) &&
        read_grid(row->field[TASK_CSV_ANSWER], row->len[TASK_CSV_ANSWER], true, r->label, reason, reason_size) &&
        maze_check_answer(r->input, r->label, reason, reason_size);
    return ok ? TASK_ROW_KEEP : TASK_ROW_BAD;
}

/* ---- build ------------------------------------------------------------------------------------ */

static hrm_status emit_split(const hrm_task_sink *sink, const task_table *t) {
    for (long g = 0; g < t->count; g++) {
        const maze_record *r = task_table_at(t, g);
        hrm_status st = sink->begin_group(sink->user);
        if (st == HRM_OK) st = sink->begin_puzzle(sink->user, NULL);
        if (st == HRM_OK) st = sink->add_example(sink->user, r->input, r->label);
        if (st != HRM_OK) return st;
    }
    return HRM_OK;
}

static bool sink_ok(const hrm_task_sink *s) { return s && s->begin_group && s->begin_puzzle && s->add_example; }

static hrm_status maze_build(const hrm_task_host *host, int argc, char **argv, const hrm_task_sink *train,
                             const hrm_task_sink *test, char *err, size_t err_size) {
    if (!argv || !sink_ok(train) || !sink_ok(test))
        return task_fail(HRM_ERR_INVALID_ARG, err, err_size, "build: missing argument");
    task_split split;
    task_split_init(&split);
    for (int i = 1; i < argc; i++) {
        int taken = task_split_option(&split, argc, argv, &i, err, err_size);
        if (taken < 0) return HRM_ERR_USAGE;
        if (!taken) return task_fail(HRM_ERR_USAGE, err, err_size, "unknown option '%s'", argv[i]);
    }
    task_table tr = {0}, te = {0};
    hrm_status st =
        task_split_load(host, MAZE_TASK, &split, maze_row, NULL, sizeof(maze_record), &tr, &te, err, err_size);
    if (st == HRM_OK && (st = emit_split(train, &tr)) != HRM_OK)
        task_fail(st, err, err_size, "writing the train split failed");
    if (st == HRM_OK && (st = emit_split(test, &te)) != HRM_OK)
        task_fail(st, err, err_size, "writing the test split failed");
    task_table_free(&tr);
    task_table_free(&te);
    return st;
}

/* ---- generate --------------------------------------------------------------------------------- */

typedef struct gen_opts {
    long count, min_length;
    uint64_t seed;
    double wall_min, wall_max;
} gen_opts;

static hrm_status parse_generate(int argc, char **argv, gen_opts *o, char *err, size_t err_size) {
    static const char *const known[] = {"--count", "--min-length", "--wall-min", "--wall-max", "--seed", NULL};
    *o = (gen_opts){.count = -1, .min_length = 110, .wall_min = 0.3, .wall_max = 0.5};
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *v;
        if (!(v = task_known_option_value(argc, argv, &i, known, err, err_size))) return HRM_ERR_USAGE;
        bool ok;
        if (strcmp(opt, "--count") == 0)
            ok = task_parse_long(v, 1, 100000000L, &o->count);
        else if (strcmp(opt, "--min-length") == 0)
            ok = task_parse_long(v, 2, MAZE_CELLS, &o->min_length);
        else if (strcmp(opt, "--wall-min") == 0)
            ok = task_parse_double(v, 0.0, 0.95, &o->wall_min);
        else if (strcmp(opt, "--wall-max") == 0)
            ok = task_parse_double(v, 0.0, 0.95, &o->wall_max); /* leaves room for start and goal */
        else
            ok = task_parse_u64(v, &o->seed);
        if (!ok) return task_fail(HRM_ERR_USAGE, err, err_size, "%s: '%s' is not a valid value", opt, v);
    }
    if (o->count < 0) return task_fail(HRM_ERR_USAGE, err, err_size, "--count N is required");
    if (o->wall_min > o->wall_max) return task_fail(HRM_ERR_USAGE, err, err_size, "--wall-min is above --wall-max");
    return HRM_OK;
}

static void grid_text(const uint8_t *grid, char *out) {
    for (int i = 0; i < MAZE_CELLS; i++) out[i] = maze_char(grid[i]);
    out[MAZE_CELLS] = '\0';
}

static hrm_status emit_maze(const hrm_task_host *host, uint64_t seed, const uint8_t *input, const uint8_t *answer,
                            int length) {
    char q[MAZE_CELLS + 1], a[MAZE_CELLS + 1], source[48];
    grid_text(input, q);
    grid_text(answer, a);
    snprintf(source, sizeof source, "gen-maze-seed%llu", (unsigned long long)seed);
    return task_emit_row(host, source, q, a, length);
}

static hrm_status maze_generate_csv(const hrm_task_host *host, int argc, char **argv, char *err, size_t err_size) {
    gen_opts o;
    hrm_status st = task_generate_check(host, argv, err, err_size);
    if (st == HRM_OK) st = parse_generate(argc, argv, &o, err, err_size);
    if (st != HRM_OK) return st;
    if ((st = task_emit(host, TASK_CSV_HEADER)) != HRM_OK) return task_fail(st, err, err_size, "output failed");
    maze_gen g = {.min_length = (int)o.min_length, .wall_min = o.wall_min, .wall_max = o.wall_max};
    task_rng rng;
    task_rng_seed(&rng, o.seed);
    for (long made = 0, misses = 0; made < o.count;) {
        uint8_t input[MAZE_CELLS], answer[MAZE_CELLS];
        int length = maze_generate(&rng, &g, input, answer);
        if (!length) {
            if (++misses < GEN_MAX_MISSES) continue;
            return task_fail(HRM_ERR_INVALID_ARG, err, err_size,
                             "no maze with a route of %ld cells in %d attempts: lower --min-length or change the walls",
                             o.min_length, GEN_MAX_MISSES);
        }
        misses = 0;
        if ((st = emit_maze(host, o.seed, input, answer, length)) != HRM_OK)
            return task_fail(st, err, err_size, "output failed");
        if (++made % 1000 == 0) task_log(host, HRM_LOG_INFO, MAZE_TASK, "%ld mazes generated", made);
    }
    return HRM_OK;
}

/* ---- verify ----------------------------------------------------------------------------------- */

static hrm_status maze_verify_file(const hrm_task_host *host, const char *path, long *accepted, long *rejected,
                                   char *err, size_t err_size) {
    return task_csv_verify_file(host, path, maze_row, NULL, sizeof(maze_record), accepted, rejected, err, err_size);
}

static hrm_status maze_verify(const uint8_t *input, const uint8_t *answer, const uint8_t *label, bool *accepted,
                              char *reason, size_t reason_size) {
    (void)label; /* any shortest route is right, not only the dataset's */
    if (!reason) reason_size = 0;
    if (!input || !answer || !accepted) return task_fail(HRM_ERR_INVALID_ARG, reason, reason_size, "missing argument");
    int start, goal;
    *accepted = false;
    if (!maze_check_input(input, &start, &goal, reason, reason_size)) return HRM_ERR_INVALID_ARG;
    *accepted = maze_check_answer(input, answer, reason, reason_size);
    return HRM_OK;
}

/* ---- render and parse ------------------------------------------------------------------------- */

#define ANSI_ROUTE "\x1b[1;33m"
#define ANSI_ENDS "\x1b[1;32m"
#define ANSI_WRONG "\x1b[1;41m"
#define ANSI_RESET "\x1b[0m"

/* The colour of a cell: red for a change from input other than a route through an open cell. */
static const char *cell_colour(uint8_t t, const uint8_t *input, int i) {
    if (input && input[i] != t && !(input[i] == MAZE_OPEN && t == MAZE_ROUTE)) return ANSI_WRONG;
    if (t == MAZE_ROUTE) return ANSI_ROUTE;
    return t == MAZE_START || t == MAZE_GOAL ? ANSI_ENDS : NULL;
}

static hrm_status maze_render(const uint8_t *tokens, const uint8_t *input, bool color, char *out, size_t out_size) {
    if (!tokens || !out || !out_size) return HRM_ERR_INVALID_ARG;
    task_text t = {.out = out, .size = out_size};
    out[0] = '\0';
    for (int i = 0; i < MAZE_CELLS; i++) {
        const char *colour = color ? cell_colour(tokens[i], input, i) : NULL;
        char c[2] = {maze_char(tokens[i]), '\0'};
        if (colour) task_text_put(&t, colour);
        task_text_put(&t, c);
        if (colour) task_text_put(&t, ANSI_RESET);
        if (i % MAZE_SIDE == MAZE_SIDE - 1) task_text_put(&t, "\n");
    }
    return t.len < out_size ? HRM_OK : HRM_ERR_INVALID_ARG;
}

/* Reads one line of a typed maze (its CR, if any, dropped) into input from cell *cells on. */
static hrm_status parse_line(const char *p, size_t w, int line, uint8_t *input, int *cells, char *err,
                             size_t err_size) {
    if (w && p[w - 1] == '\r') w--;
    if (w != MAZE_SIDE && !(line == 1 && w == MAZE_CELLS))
        return task_fail(HRM_ERR_INVALID_ARG, err, err_size,
                         "line %d has %zu characters: a maze is 30 lines of 30 or one line of 900 "
                         "(spaces are open cells)",
                         line, w);
    for (size_t k = 0; k < w; k++) {
        int t = maze_token(p[k]);
        char buf[8];
        if (t == MAZE_ROUTE)
            return task_fail(HRM_ERR_INVALID_ARG, err, err_size, "line %d column %zu: 'o' marks a route, not a puzzle",
                             line, k + 1);
        if (t < 0)
            return task_fail(HRM_ERR_INVALID_ARG, err, err_size,
                             "line %d column %zu is %s, expected '#', ' ', 'S' or 'G'", line, k + 1,
                             task_show_char(p[k], buf));
        if (*cells < MAZE_CELLS) input[*cells] = (uint8_t)t;
        ++*cells;
    }
    return HRM_OK;
}

static hrm_status maze_parse_puzzle(const char *text, uint8_t *input, char *err, size_t err_size) {
    if (!text || !input) return task_fail(HRM_ERR_INVALID_ARG, err, err_size, "missing argument");
    size_t len = strlen(text);
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r')) len--; /* trailing line ends; spaces are cells */
    int cells = 0, line = 0;
    for (const char *p = text, *end = text + len; cells <= MAZE_CELLS;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t w = (size_t)((nl ? nl : end) - p);
        hrm_status st = parse_line(p, w, ++line, input, &cells, err, err_size);
        if (st != HRM_OK) return st;
        if (!nl) break;
        p = nl + 1;
    }
    if (cells != MAZE_CELLS)
        return task_fail(HRM_ERR_INVALID_ARG, err, err_size,
                         "found %d lines: a maze is 30 lines of 30 or one line of 900", line);
    int start, goal;
    char reason[128];
    if (!maze_check_input(input, &start, &goal, reason, sizeof reason))
        return task_fail(HRM_ERR_INVALID_ARG, err, err_size, "%s", reason);
    return HRM_OK;
}

/* ---- the table -------------------------------------------------------------------------------- */

static const hrm_task_iface maze_iface = {
    .abi_version = HRM_TASK_ABI_VERSION,
    .struct_size = sizeof(hrm_task_iface),
    .name = MAZE_TASK,
    .summary = "30x30 mazes from Maze-Hard CSV files (900 tokens: '#' 1, ' ' 2, 'S' 3, 'G' 4, route 'o' 5)",
    .format = {.seq_len = MAZE_CELLS,
               .vocab_size = MAZE_VOCAB,
               .pad_id = MAZE_PAD,
               .has_ignore_label = true,
               .ignore_label_id = 0},
    .build_usage = TASK_SPLIT_USAGE,
    .build = maze_build,
    .generate_usage = "--count N          mazes to write (required)\n"
                      "--seed S           seed (default 0)\n"
                      "--min-length L     keep mazes whose shortest route has L cells or more, S and G included\n"
                      "                   (the rating column; default 110)\n"
                      "--wall-min F       least fraction of wall cells (default 0.3)\n"
                      "--wall-max F       greatest fraction of wall cells (default 0.5, at most 0.95)\n",
    .generate = maze_generate_csv,
    .verify_file = maze_verify_file,
    .verify = maze_verify,
    .render = maze_render,
    .parse_puzzle = maze_parse_puzzle,
};

HRM_TASK_EXPORT const hrm_task_iface *hrm_task_entry(void);

HRM_TASK_EXPORT const hrm_task_iface *hrm_task_entry(void) { return &maze_iface; }
