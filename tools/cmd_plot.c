/* tools/cmd_plot.c - `hrm plot`: training curves from the metrics.jsonl files that `hrm train`
 * writes, as one SVG of up to three panels against the optimizer step: loss (log scale), exact
 * accuracy and token accuracy, each with the train lines and, when the file has them, the eval
 * lines. Several files are several runs overlaid, named by their folders.
 *
 *   hrm plot RUN/metrics.jsonl [MORE.jsonl ...] --out curves.svg [--title T]
 *
 * The records read (cmd_train.c, put_metrics) are JSON objects, one a line, with a numeric
 * "step": train lines carry "train/loss", "train/lm_loss", "train/exact_accuracy",
 * "train/accuracy", ...; eval lines "eval/loss", "eval/lm_loss", "eval/exact_accuracy",
 * "eval/accuracy", .... A resumed run appends to the same file from its checkpoint's step, so a
 * step at or below the last one of a curve replaces what followed it. A line that is not such a
 * record is skipped and counted (one warning at the end, naming FILE:LINE). */
#include "cli.h"
#include "commands.h"
#include "svg.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum { LOSS, LM_LOSS, EVAL_LOSS, EVAL_LM_LOSS, EXACT, EVAL_EXACT, ACCURACY, EVAL_ACCURACY, NUM_METRICS };

/* An accuracy is a mean over the examples that halted in the step ("train/count"); a step where
 * none did has no accuracy (cmd_train.c writes 0), so it is left out of the curve. */
static const struct {
    const char *key, *label, *count_key;
} metrics[NUM_METRICS] = {
    [LOSS] = {"train/loss", "train loss", NULL},
    [LM_LOSS] = {"train/lm_loss", "train lm_loss", NULL},
    [EVAL_LOSS] = {"eval/loss", "eval loss", NULL},
    [EVAL_LM_LOSS] = {"eval/lm_loss", "eval lm_loss", NULL},
    [EXACT] = {"train/exact_accuracy", "train", "train/count"},
    [EVAL_EXACT] = {"eval/exact_accuracy", "eval", "eval/count"},
    [ACCURACY] = {"train/accuracy", "train", "train/count"},
    [EVAL_ACCURACY] = {"eval/accuracy", "eval", "eval/count"},
};

/* The panels: metrics [first, first + count). */
static const struct {
    const char *title, *ylabel;
    int first, count;
    bool y_log;
} panels[] = {
    {"loss", "loss per example", LOSS, 4, true},
    {"exact accuracy", "fraction of examples solved", EXACT, 2, false},
    {"token accuracy", "fraction of tokens right", ACCURACY, 2, false},
};
enum { NUM_PANELS = sizeof panels / sizeof panels[0], PANEL_METRICS = 4 /* the most in one panel */ };

/* The points of one metric of one run, x = step. */
typedef struct curve {
    double *x, *y;
    int n, cap;
} curve;

typedef struct run {
    const char *path;
    char *folder;             /* the name of the folder holding path */
    char *label[NUM_METRICS]; /* series names: "train loss", or "RUN: train loss" with several runs */
    curve c[NUM_METRICS];
} run;

/* Lines skipped: how many, where the first few were, and why the first was. */
typedef struct skipped {
    long count;
    char where[480];
} skipped;

static const cli_opt opts[] = {
    {"--out", "FILE.svg", "the SVG to write (replaced atomically)"},
    {"--title", "TEXT", "the title above the panels (default: 'training curves')"},
};
enum { OPT_OUT, OPT_TITLE, NUM_OPTS };

static void usage(FILE *out, const char *prog) {
    cli_usage(out, prog, "RUN/metrics.jsonl [MORE.jsonl ...] --out FILE.svg [--title TEXT]",
              "Draws the training curves that 'hrm train' writes to metrics.jsonl against the optimizer step:\n"
              "loss (log scale), exact accuracy and token accuracy, train and eval. Several files are\n"
              "several runs overlaid, each named by its folder.",
              opts, NUM_OPTS);
}

/* Keeps the options (with their values) in opt_argv for cli_parse, which refuses positional
 * arguments, and the files in files; "--" ends the options. Returns the new argc of opt_argv. */
static int split_args(int argc, char **argv, char **opt_argv, const char **files, int *num_files) {
    int n = 0;
    bool options = true;
    opt_argv[n++] = argv[0];
    *num_files = 0;
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (options && !strcmp(arg, "--")) {
            options = false;
        } else if (options && arg[0] == '-' && arg[1]) {
            opt_argv[n++] = argv[a];
            for (int o = 0; o < NUM_OPTS; o++)
                if (!strcmp(arg, opts[o].name) && a + 1 < argc) opt_argv[n++] = argv[++a];
        } else {
            files[(*num_files)++] = arg;
        }
    }
    return n;
}

/* Appends (step, v); a step at or below the last one replaces the points from there on (the
 * lines a resumed run writes again after its checkpoint). */
static bool curve_add(curve *c, double step, double v) {
    while (c->n > 0 && c->x[c->n - 1] >= step) c->n--;
    if (c->n == c->cap) {
        if (c->cap > INT_MAX / 2) return false;
        int cap = c->cap ? 2 * c->cap : 256;
        double *x = realloc(c->x, (size_t)cap * sizeof *x);
        if (x) c->x = x;
        double *y = x ? realloc(c->y, (size_t)cap * sizeof *y) : NULL;
        if (!y) return false;
        c->y = y, c->cap = cap;
    }
    c->x[c->n] = step, c->y[c->n++] = v;
    return true;
}

/* The record's metrics into the run's curves; false when out of memory. */
static bool add_record(run *r, json_t *record, double step) {
    for (int m = 0; m < NUM_METRICS; m++) {
        json_t *v = json_object_get(record, metrics[m].key);
        json_t *count = metrics[m].count_key ? json_object_get(record, metrics[m].count_key) : NULL;
        if (!json_is_number(v) || (json_is_number(count) && json_number_value(count) == 0)) continue;
        if (!curve_add(&r->c[m], step, json_number_value(v))) return false;
    }
    return true;
}

static void note_skipped(skipped *s, const char *path, long line, const char *why) {
    size_t used = strlen(s->where);
    if (s->count++ < 4 && used < sizeof s->where)
        snprintf(s->where + used, sizeof s->where - used, s->count == 1 ? "%s:%ld (%s)" : ", %s:%ld", path, line, why);
    else if (s->count == 5 && used + 5 < sizeof s->where)
        strcat(s->where, ", ...");
}

static bool blank(const char *line, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (!strchr(" \t\r\n", line[i]) || !line[i]) return false;
    return true;
}

/* Reads one metrics.jsonl into r. Returns 0, or 1 after one line on stderr. */
static int read_metrics(const char *prog, run *r, skipped *skip) {
    FILE *f = fopen(r->path, "r");
    if (!f) return cli_error(prog, "%s: cannot open: %s", r->path, strerror(errno)), 1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int rc = 0;
    while (!rc && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (blank(line, (size_t)len)) continue;
        json_error_t je;
        json_t *record = json_loadb(line, (size_t)len, 0, &je);
        json_t *step = json_object_get(record, "step");
        if (!json_is_number(step))
            note_skipped(skip, r->path, lineno, record ? "no numeric \"step\"" : je.text);
        else if (!add_record(r, record, json_number_value(step)))
            rc = 1, cli_error(prog, "%s: out of host memory at line %ld", r->path, lineno);
        json_decref(record);
    }
    if (!rc && ferror(f)) rc = 1, cli_error(prog, "%s: cannot read: %s", r->path, strerror(errno));
    free(line);
    fclose(f);
    return rc;
}

/* The folder that holds path ("runs/a/metrics.jsonl" -> "a"), found through realpath so that
 * "metrics.jsonl" and "./metrics.jsonl" are named too; the path itself when there is none. */
static char *folder_name(const char *path) {
    char *full = realpath(path, NULL), *name;
    const char *p = full ? full : path, *slash = strrchr(p, '/');
    if (!slash || slash == p) return free(full), strdup(path);
    const char *start = slash;
    while (start > p && start[-1] != '/') start--;
    name = strndup(start, (size_t)(slash - start));
    free(full);
    return name;
}

/* Series names: the metric alone for one run; "RUN: metric" for several, RUN the folder's name,
 * or the path as given when two runs share a folder name. */
static bool name_series(run *runs, int num_runs) {
    for (int i = 0; i < num_runs; i++)
        if (!(runs[i].folder = folder_name(runs[i].path))) return false;
    for (int i = 0; i < num_runs; i++) {
        bool shared = false;
        for (int j = 0; j < num_runs; j++) shared |= j != i && !strcmp(runs[i].folder, runs[j].folder);
        const char *run_name = shared ? runs[i].path : runs[i].folder;
        for (int m = 0; m < NUM_METRICS; m++) {
            size_t size = strlen(run_name) + strlen(metrics[m].label) + 3;
            if (!(runs[i].label[m] = malloc(size))) return false;
            if (num_runs == 1)
                snprintf(runs[i].label[m], size, "%s", metrics[m].label);
            else
                snprintf(runs[i].label[m], size, "%s: %s", run_name, metrics[m].label);
        }
    }
    return true;
}

/* The panels that have points, their series in series[NUM_PANELS][num_runs * PANEL_METRICS]. */
static int build_panels(const run *runs, int num_runs, svg_series *series, svg_panel *out) {
    int num = 0;
    for (int p = 0; p < NUM_PANELS; p++) {
        svg_series *s = series + (size_t)p * (size_t)num_runs * PANEL_METRICS;
        int n = 0;
        for (int r = 0; r < num_runs; r++)
            for (int m = panels[p].first; m < panels[p].first + panels[p].count; m++) {
                const curve *c = &runs[r].c[m];
                if (c->n) s[n++] = (svg_series){runs[r].label[m], c->x, c->y, c->n};
            }
        if (n) out[num++] = (svg_panel){panels[p].title, "optimizer step", panels[p].ylabel, s, n, panels[p].y_log};
    }
    return num;
}

static void warn_skipped(const char *prog, const skipped *s) {
    if (s->count)
        cli_error(prog, "warning: skipped %ld %s: %s", s->count,
                  s->count == 1 ? "line that is not a metrics record" : "lines that are not metrics records", s->where);
}

static void free_runs(run *runs, int num_runs) {
    for (int r = 0; runs && r < num_runs; r++) {
        free(runs[r].folder);
        for (int m = 0; m < NUM_METRICS; m++) free(runs[r].label[m]), free(runs[r].c[m].x), free(runs[r].c[m].y);
    }
    free(runs);
}

/* Reads the runs and writes the SVG; returns the exit code. */
static int plot_runs(const char *prog, run *runs, int num_runs, const char *out, const char *title) {
    skipped skip = {0};
    char err[1024];
    for (int r = 0; r < num_runs; r++)
        if (read_metrics(prog, &runs[r], &skip)) return CLI_EXIT_FAIL;
    warn_skipped(prog, &skip);
    svg_series *series = calloc((size_t)NUM_PANELS * (size_t)num_runs * PANEL_METRICS, sizeof *series);
    svg_panel chart[NUM_PANELS];
    if (!series || !name_series(runs, num_runs)) {
        free(series);
        return cli_error(prog, "out of host memory"), CLI_EXIT_FAIL;
    }
    int num_panels = build_panels(runs, num_runs, series, chart), rc = CLI_EXIT_OK;
    if (!num_panels)
        rc = CLI_EXIT_FAIL, cli_error(prog, "%s%s: no training or eval metrics found", runs[0].path,
                                      num_runs > 1 ? " and the other files" : "");
    else if (svg_write_lines(out, title ? title : "training curves", chart, num_panels, err, sizeof err))
        rc = CLI_EXIT_FAIL, cli_error(prog, "%s", err);
    else
        printf("%s: %d panel%s, %d run%s\n", out, num_panels, num_panels == 1 ? "" : "s", num_runs,
               num_runs == 1 ? "" : "s");
    free(series);
    return rc;
}

static int plot(const char *prog, const char **files, int num_files, const char *out, const char *title) {
    run *runs = calloc((size_t)num_files, sizeof *runs);
    if (!runs) return cli_error(prog, "out of host memory"), CLI_EXIT_FAIL;
    for (int r = 0; r < num_files; r++) runs[r].path = files[r];
    int rc = plot_runs(prog, runs, num_files, out, title);
    free_runs(runs, num_files);
    return rc;
}

enum { ARGS_PLOT = -1 }; /* read_args: the arguments ask for a plot */

/* Returns ARGS_PLOT, or the exit code when there is nothing to plot (--help, bad usage). */
static int read_args(const char *prog, int argc, char **argv, char **opt_argv, const char **files, int *num_files,
                     const char **values) {
    int opt_argc = split_args(argc, argv, opt_argv, files, num_files);
    switch (cli_parse(prog, opts, NUM_OPTS, opt_argc, opt_argv, values)) {
    case CLI_HELP: return usage(stdout, prog), CLI_EXIT_OK;
    case CLI_BAD: return CLI_EXIT_USAGE;
    }
    if (!*num_files) return cli_error(prog, "no metrics.jsonl given (try '%s --help')", prog), CLI_EXIT_USAGE;
    if (!values[OPT_OUT]) return cli_error(prog, "--out FILE.svg is required (try '%s --help')", prog), CLI_EXIT_USAGE;
    return ARGS_PLOT;
}

int cmd_plot(const char *prog, int argc, char **argv) {
    char **opt_argv = calloc((size_t)argc + 1, sizeof *opt_argv);
    const char **files = calloc((size_t)argc + 1, sizeof *files), *values[NUM_OPTS];
    int num_files, rc = CLI_EXIT_FAIL;
    if (!opt_argv || !files)
        cli_error(prog, "out of host memory");
    else if ((rc = read_args(prog, argc, argv, opt_argv, files, &num_files, values)) == ARGS_PLOT)
        rc = plot(prog, files, num_files, values[OPT_OUT], values[OPT_TITLE]);
    free(opt_argv);
    free(files);
    return rc;
}
