/* tools/cmd_solve.c - `hrm solve --checkpoint F [PUZZLE | --file F | --data DIR --index N]`: runs
 * one puzzle through a trained HRM and prints the input grid, the predicted grid, the segments
 * used and the task verifier's verdict.
 *
 * The task comes from --task or is recognised by the checkpoint's seq_len and vocab_size. The
 * model runs segment after segment, as evaluation does (docs/MODEL.md "ACT halting"), and stops at the
 * first segment where its learned halting says stop (q_halt > q_continue) or after M segments
 * (--segments, default halt_max_steps); --all-segments runs all M. It runs on the public
 * inference API (include/hrm/solver.h), as any program embedding libhrm would. A puzzle typed by the user has
 * the blank puzzle identifier (0) unless --puzzle-id names one (a number, or a name that
 * --data DIR's identifiers.json lists: an ARC task id, whose demonstrations trained that
 * identifier's embedding); one taken from a dataset (--data, --index) keeps its identifier, and
 * its label is shown in the verdict. Exit status 0 when the answer is accepted,
 * 3 when it is rejected, 1 on errors, 2 on bad usage. */
#include "cli.h"
#include "commands.h"

#include "hrm/solver.h"
#include "hrm_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { EXIT_REJECTED = 3 };

enum {
    O_CHECKPOINT,
    O_TASK,
    O_FILE,
    O_DATA,
    O_INDEX,
    O_PUZZLE_ID,
    O_SEGMENTS,
    O_ALL,
    O_BACKEND,
    O_DEVICE,
    O_COLOR,
    O_PRECISION,
    O_SAMPLES,
    O_NOISE,
    O_SEED,
    NOPTS
};

static const cli_opt opts[NOPTS] = {
    [O_CHECKPOINT] = {"--checkpoint", "F", "weights (safetensors with hrm.config)"},
    [O_TASK] = {"--task", "NAME", "task plugin (default: the one matching the checkpoint's seq_len and vocab)"},
    [O_FILE] = {"--file", "F", "read the puzzle from file F ('-' for stdin)"},
    [O_DATA] = {"--data", "DIR",
                "take the puzzle from a dataset's test split (with --index); with a typed\n"
                "                     puzzle and --puzzle-id, the dataset whose identifiers.json names it"},
    [O_INDEX] = {"--index", "N", "example N of DIR/test (default 0)"},
    [O_PUZZLE_ID] = {"--puzzle-id", "ID",
                     "typed puzzle's identifier: a name of --data's list, else a number (default 0)"},
    [O_SEGMENTS] = {"--segments", "M", "at most M segments (default: the model's halt_max_steps)"},
    [O_ALL] = {"--all-segments", NULL, "run all M segments instead of stopping when the model halts"},
    [O_BACKEND] = {"--backend", "B", "cpu | opencl | auto | PATH.so (default $HRM_BACKEND or auto)"},
    [O_DEVICE] = {"--device", "D", "device index, or a part of its name or platform name (default 0)"},
    [O_PRECISION] = {"--matmul-precision", "P",
                     "highest (fp32, default), high (tf32) or medium (bf16) matrix products"},
    [O_COLOR] = {"--color", "WHEN", "auto | always | never (default auto: when stdout is a terminal)"},
    [O_SAMPLES] =
        {"--samples", "K",
         "sampled inference: K runs, the first plain, the others with noise on the\n"
         "                     recurrent state; the answer the task's verifier accepts, then the most confident\n"
         "                     halt head (default 1)"},
    [O_NOISE] = {"--noise", "SIGMA", "standard deviation of that noise (default 0: --samples changes nothing)"},
    [O_SEED] = {"--seed", "N", "seed of the noise (default 0)"},
};

typedef struct solve_run {
    const char *prog;
    const hrm_task_iface *task;
    hrm_solver *solver;
    hrm_config cfg; /* the fields hrm_solver_info gives: seq_len, vocab_size, halt_max_steps, ids */
    hrm_dataset ds;
    int L;
    uint8_t *input, *label, *pred; /* [L] each; label NULL unless from a dataset */
    int32_t *in32, *pred32, puzzle_id;
} solve_run;

/* Reads all of f (at most 1 MiB) into a NUL-terminated string. */
static char *read_all(FILE *f) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1 || cap >= (1u << 20)) break;
        char *b = realloc(buf, cap *= 2);
        if (!b) free(buf);
        buf = b;
    }
    if (buf) buf[n] = 0;
    return buf;
}

static int puzzle_from_text(solve_run *r, const char *text) {
    char err[512] = "";
    if (r->task->parse_puzzle(text, r->input, err, sizeof err))
        return cli_error(r->prog, "not a %s puzzle: %s", r->task->name, err[0] ? err : "parse failed"), 0;
    return 1;
}

static int puzzle_from_file(solve_run *r, const char *path) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) return cli_error(r->prog, "%s: cannot open", path), 0;
    char *text = read_all(f);
    if (f != stdin) fclose(f);
    if (!text) return cli_error(r->prog, "%s: out of memory", path), 0;
    int ok = puzzle_from_text(r, text);
    free(text);
    return ok;
}

static int puzzle_from_data(solve_run *r, const char *dir, const char *index) {
    char err[1024];
    int i = 0;
    if (index && !cli_int(r->prog, "--index", index, 0, 1 << 30, &i)) return 0;
    if (hrm_dataset_load(dir, "test", &r->ds, err, sizeof err) ||
        hrm_checkpoint_check_dataset(&r->cfg, "checkpoint", &r->ds.meta, dir, "test", err, sizeof err))
        return cli_error(r->prog, "%s", err), 0;
    if (i >= r->ds.num_examples)
        return cli_error(r->prog, "--index %d: %s/test has %d examples", i, dir, r->ds.num_examples), 0;
    r->label = malloc((size_t)r->L);
    if (!r->label) return cli_error(r->prog, "out of memory"), 0;
    for (int k = 0; k < r->L; k++) {
        r->input[k] = (uint8_t)hrm_dataset_input(&r->ds, i, k);
        r->label[k] = (uint8_t)hrm_dataset_label(&r->ds, i, k);
    }
    r->puzzle_id = r->ds.puzzle_identifiers[hrm_dataset_puzzle_of(&r->ds, i)];
    return 1;
}

/* The identifier of a typed puzzle: with --data DIR a name of DIR's identifiers.json (always a
 * name: ARC task ids such as 00576224 look like numbers), which must list as many names as the
 * checkpoint has identifiers (names of another dataset would pick an unrelated embedding row);
 * without, a number below the checkpoint's count. */
static int puzzle_id_from(solve_run *r, const char *id, const char *dir) {
    char err[1024];
    int count = r->cfg.num_puzzle_identifiers, n = 0;
    if (!dir) {
        char *end;
        long v = strtol(id, &end, 10);
        if (end == id || *end)
            return cli_error(r->prog, "--puzzle-id %s: a name needs --data DIR (its identifiers.json)", id), 0;
        if (v < 0 || v >= count)
            return cli_error(r->prog,
                             "--puzzle-id %s: the checkpoint has puzzle identifiers 0-%d (names need --data DIR)", id,
                             count - 1),
                   0;
        r->puzzle_id = (int32_t)v;
        return 1;
    }
    if (hrm_dataset_load_identifiers(dir, &r->ds, err, sizeof err)) return cli_error(r->prog, "%s", err), 0;
    if (r->ds.num_identifiers != count)
        return cli_error(r->prog, "%s/identifiers.json lists %d names; the checkpoint has %d puzzle identifiers", dir,
                         r->ds.num_identifiers, count),
               0;
    while (n < count && strcmp(r->ds.identifiers[n], id)) n++;
    if (n == count) return cli_error(r->prog, "--puzzle-id %s: no such name in %s/identifiers.json", id, dir), 0;
    r->puzzle_id = n;
    return 1;
}

static int pick_task(solve_run *r, const char *name) {
    char err[1024];
    hrm_status s = name ? hrm_task_find(name, &r->task, err, sizeof err)
                        : hrm_task_match(r->cfg.seq_len, r->cfg.vocab_size, &r->task, err, sizeof err);
    if (s) return cli_error(r->prog, "%s", err), 0;
    if (r->task->format.seq_len != r->cfg.seq_len || r->task->format.vocab_size != r->cfg.vocab_size)
        return cli_error(r->prog, "task %s has seq_len %d, vocab %d; the checkpoint %d, %d", r->task->name,
                         r->task->format.seq_len, r->task->format.vocab_size, r->cfg.seq_len, r->cfg.vocab_size),
               0;
    return 1;
}

/* hrm_solver_accept_fn: the task's verifier, without the dataset's label (a label would give the
 * answer away); a task that cannot verify without one accepts nothing, leaving the halt head to
 * choose. */
static bool accept_prediction(void *user, int puzzle, const int32_t *prediction) {
    solve_run *r = user;
    bool ok = false;
    (void)puzzle;
    for (int k = 0; k < r->L; k++) r->pred[k] = (uint8_t)prediction[k];
    return r->task->verify(r->input, r->pred, NULL, &ok, NULL, 0) == HRM_OK && ok;
}

/* Runs up to M segments through the solver; returns the number run, 0 on error. */
static int run_segments(solve_run *r, int M, bool all) {
    char err[1024];
    int used = 0;
    for (int k = 0; k < r->L; k++) r->in32[k] = r->input[k];
    if (hrm_solver_run(r->solver, 1, r->in32, &r->puzzle_id, M, all, r->pred32, &used, NULL, err, sizeof err))
        return cli_error(r->prog, "%s", err), 0;
    return used;
}

static int print_grid(solve_run *r, const char *title, const uint8_t *tokens, const uint8_t *input, bool color) {
    size_t size = 1 << 16;
    char *text = malloc(size), err[64];
    if (!text) return cli_error(r->prog, "out of memory"), 0;
    hrm_status s = r->task->render(tokens, input, color, text, size);
    if (s)
        snprintf(err, sizeof err, "%s", hrm_status_str(s));
    else
        printf("%s\n%s%s", title, text, text[0] && text[strlen(text) - 1] == '\n' ? "" : "\n");
    free(text);
    if (s) return cli_error(r->prog, "render failed: %s", err), 0;
    return 1;
}

static int report(solve_run *r, int used, int M, bool color) {
    bool accepted = false;
    char reason[512] = "";
    for (int k = 0; k < r->L; k++) r->pred[k] = (uint8_t)r->pred32[k];
    if (!print_grid(r, "input:", r->input, NULL, color)) return CLI_EXIT_FAIL;
    printf("\n");
    if (!print_grid(r, "prediction:", r->pred, r->input, color)) return CLI_EXIT_FAIL;
    if (r->puzzle_id)
        printf("\npuzzle identifier: %d%s%s\n", (int)r->puzzle_id, r->ds.identifiers ? " " : "",
               r->ds.identifiers && r->puzzle_id < r->ds.num_identifiers ? r->ds.identifiers[r->puzzle_id] : "");
    printf("\nsegments: %d of %d (%s)\n", used, M, used < M ? "the model halted" : "the segment limit");
    if (r->task->verify(r->input, r->pred, r->label, &accepted, reason, sizeof reason)) {
        cli_error(r->prog, "the %s verifier could not check the prediction: %s", r->task->name, reason);
        return CLI_EXIT_FAIL;
    }
    printf("verdict: %s%s%s\n", accepted ? "accepted" : "rejected", accepted ? "" : ": ", accepted ? "" : reason);
    if (r->label) printf("matches the dataset's answer: %s\n", memcmp(r->pred, r->label, (size_t)r->L) ? "no" : "yes");
    return accepted ? CLI_EXIT_OK : EXIT_REJECTED;
}

static bool want_color(const char *when) {
    if (!when || !strcmp(when, "auto")) return isatty(1) && !getenv("NO_COLOR");
    return !strcmp(when, "always");
}

static int solve(solve_run *r, const char **v, const char *positional) {
    char err[1024];
    int M = 0;
    if (!v[O_CHECKPOINT])
        return cli_error(r->prog, "--checkpoint is required (try '%s --help')", r->prog), CLI_EXIT_USAGE;
    bool typed = positional || v[O_FILE];
    /* with a typed puzzle, --data only names identifiers (for --puzzle-id) */
    if (!!positional + !!v[O_FILE] + (v[O_DATA] && !(typed && v[O_PUZZLE_ID])) != 1)
        return cli_error(r->prog, "give exactly one puzzle: PUZZLE, --file F or --data DIR"), CLI_EXIT_USAGE;
    if (v[O_PUZZLE_ID] && !typed)
        return cli_error(r->prog,
                         "--puzzle-id is for a typed puzzle (PUZZLE or --file); a dataset example has its own"),
               CLI_EXIT_USAGE;
    if (v[O_COLOR] && strcmp(v[O_COLOR], "auto") && strcmp(v[O_COLOR], "always") && strcmp(v[O_COLOR], "never"))
        return cli_error(r->prog, "--color: expected auto, always or never"), CLI_EXIT_USAGE;
    if (v[O_SEGMENTS] && !cli_int(r->prog, "--segments", v[O_SEGMENTS], 1, 1 << 16, &M)) return CLI_EXIT_USAGE;
    hrm_matmul_precision asked, runs;
    if (!cli_precision(r->prog, "--matmul-precision", v[O_PRECISION], &asked)) return CLI_EXIT_USAGE;
    int samples;
    float noise;
    uint64_t seed;
    if (!cli_sampling(r->prog, v[O_SAMPLES], v[O_NOISE], v[O_SEED], &samples, &noise, &seed)) return CLI_EXIT_USAGE;
    /* the weights go to the device first: the checkpoint's format says which task parses the puzzle */
    if (hrm_solver_open(v[O_CHECKPOINT], v[O_BACKEND], v[O_DEVICE], 1, &r->solver, err, sizeof err))
        return cli_error(r->prog, "%s", err), CLI_EXIT_FAIL;
    hrm_solver_set_matmul_precision(r->solver, asked, &runs);
    if (asked != HRM_PRECISION_HIGHEST)
        cli_print_precision(stderr, "hrm solve: matmul precision", asked, runs, hrm_solver_ctx(r->solver));
    hrm_solver_info(r->solver, &r->cfg.seq_len, &r->cfg.vocab_size, &r->cfg.halt_max_steps,
                    &r->cfg.num_puzzle_identifiers);
    if (!pick_task(r, v[O_TASK])) return CLI_EXIT_FAIL;
    r->L = r->cfg.seq_len;
    r->input = calloc((size_t)r->L, 1);
    r->pred = calloc((size_t)r->L, 1);
    r->in32 = calloc((size_t)r->L * 2, sizeof(int32_t));
    if (!r->input || !r->pred || !r->in32) return cli_error(r->prog, "out of memory"), CLI_EXIT_FAIL;
    r->pred32 = r->in32 + r->L;
    int ok = positional  ? puzzle_from_text(r, positional)
             : v[O_FILE] ? puzzle_from_file(r, v[O_FILE])
                         : puzzle_from_data(r, v[O_DATA], v[O_INDEX]);
    if (ok && v[O_PUZZLE_ID]) ok = puzzle_id_from(r, v[O_PUZZLE_ID], v[O_DATA]);
    if (!ok) return CLI_EXIT_FAIL;
    if (M <= 0) M = r->cfg.halt_max_steps;
    hrm_solver_set_sampling(r->solver, samples, noise, seed, accept_prediction, r);
    int used = run_segments(r, M, v[O_ALL] != NULL);
    if (!used) return CLI_EXIT_FAIL;
    return report(r, used, M, want_color(v[O_COLOR]));
}

/* Moves the one positional argument (the puzzle) out of argv; cli_parse takes the options. */
static const char *take_positional(int *argc, char **argv, int *extra) {
    const char *found = NULL;
    int kept = 1;
    *extra = 0;
    for (int i = 1; i < *argc; i++) {
        bool value_opt = false;
        for (int k = 0; k < NOPTS; k++)
            if (opts[k].metavar && !strcmp(argv[i], opts[k].name)) value_opt = true;
        if (value_opt && i + 1 < *argc) {
            argv[kept++] = argv[i++];
            argv[kept++] = argv[i];
        } else if (argv[i][0] != '-' || !strcmp(argv[i], "-")) {
            if (found)
                (*extra)++;
            else
                found = argv[i];
        } else {
            argv[kept++] = argv[i];
        }
    }
    *argc = kept;
    return found;
}

int cmd_solve(const char *prog, int argc, char **argv) {
    const char *v[NOPTS];
    int extra;
    const char *positional = take_positional(&argc, argv, &extra);
    switch (cli_parse(prog, opts, NOPTS, argc, argv, v)) {
    case CLI_HELP:
        cli_usage(stdout, prog,
                  "--checkpoint F (PUZZLE | --file F | --data DIR [--index N]) [--puzzle-id ID] [OPTIONS]",
                  "Solves one puzzle: prints the input grid, the predicted grid, the segments used and the\n"
                  "task verifier's verdict. PUZZLE is typed as the task reads it (Sudoku: 81 characters,\n"
                  "digits and '.' for blanks). Exit 0 when the answer is accepted, 3 when rejected.",
                  opts, NOPTS);
        return CLI_EXIT_OK;
    case CLI_BAD: return CLI_EXIT_USAGE;
    }
    if (extra) return cli_error(prog, "more than one puzzle given"), CLI_EXIT_USAGE;
    solve_run r = {.prog = prog};
    int rc = solve(&r, v, positional);
    hrm_solver_close(r.solver);
    hrm_dataset_free(&r.ds);
    free(r.input), free(r.pred), free(r.label), free(r.in32);
    return rc;
}
