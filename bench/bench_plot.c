/* bench/bench_plot.c - `hrm bench plot A.json B.json ... --out chart.svg`: the cross-vendor
 * picture. One grouped bar chart (svg.h): a group per measurement, a bar per device (each run of
 * each file: "backend/device"), for one metric:
 *   samples_per_s     the models' training and evaluation rates (entries in samples/s);
 *   fraction_of_peak  every entry rated against its device's peak (ops, and the models' MFU), in
 *                     percent, which compares devices of very different sizes on one axis.
 * A measurement missing from a file, or not "ok" there, is an "n/a" marker, never a silent gap.
 * Every file is read and checked before anything is drawn; a bad one is one line and exit 1. */
#include "bench.h"
#include "bench_suite.h"
#include "cli.h"
#include "svg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum metric { METRIC_SAMPLES, METRIC_FRACTION } metric;

/* Does this entry belong to the chart of metric m? */
static int wanted(const bench_result *r, metric m) {
    return m == METRIC_SAMPLES ? !strcmp(r->unit, "samples/s") : isfinite(r->fraction);
}

static double value_of(const bench_result *r, metric m) {
    if (!r || r->status != BENCH_OK) return NAN;
    return m == METRIC_SAMPLES ? r->median : 100 * r->fraction;
}

typedef struct chart {
    const bench_run **runs; /* one series per run of every file */
    char (*labels)[320];
    const char **series;
    int num_series;
    const char **groups; /* names, borrowed from the runs' results */
    int num_groups;
    double *values;
} chart;

static int has_group(const chart *c, const char *name) {
    for (int g = 0; g < c->num_groups; g++)
        if (!strcmp(c->groups[g], name)) return 1;
    return 0;
}

static const bench_result *find(const bench_run *run, const char *name) {
    for (int i = 0; i < run->count; i++)
        if (!strcmp(run->results[i].name, name)) return &run->results[i];
    return NULL;
}

/* Series labels; a label that two runs share (the same device measured twice) gets its file. */
static void label_series(chart *c, const char *const *file_of) {
    for (int s = 0; s < c->num_series; s++) bench_run_label(c->runs[s], c->labels[s], sizeof c->labels[s]);
    for (int s = 0; s < c->num_series; s++) {
        int dup = 0;
        for (int o = 0; o < c->num_series; o++)
            dup |= o != s && !strcmp(c->runs[o]->backend, c->runs[s]->backend) &&
                   !strcmp(c->runs[o]->device, c->runs[s]->device);
        if (dup) {
            size_t len = strlen(c->labels[s]);
            snprintf(c->labels[s] + len, sizeof c->labels[s] - len, " (%s)", file_of[s]);
        }
        c->series[s] = c->labels[s];
    }
}

/* Groups in the order of first appearance, over every entry the metric wants in any run. */
static int build(chart *c, const bench_report *reps, int nfiles, char **files, metric m) {
    int total_runs = 0, total_results = 0;
    for (int f = 0; f < nfiles; f++) {
        total_runs += reps[f].num_runs;
        for (int i = 0; i < reps[f].num_runs; i++) total_results += reps[f].runs[i].count;
    }
    const char **file_of = calloc((size_t)total_runs + 1, sizeof *file_of);
    c->runs = calloc((size_t)total_runs + 1, sizeof *c->runs);
    c->labels = calloc((size_t)total_runs + 1, sizeof *c->labels);
    c->series = calloc((size_t)total_runs + 1, sizeof *c->series);
    c->groups = calloc((size_t)total_results + 1, sizeof *c->groups);
    if (!file_of || !c->runs || !c->labels || !c->series || !c->groups) {
        free(file_of);
        return 0;
    }
    for (int f = 0; f < nfiles; f++)
        for (int i = 0; i < reps[f].num_runs; i++) {
            const bench_run *run = &reps[f].runs[i];
            file_of[c->num_series] = files[f];
            c->runs[c->num_series++] = run;
            for (int j = 0; j < run->count; j++)
                if (wanted(&run->results[j], m) && !has_group(c, run->results[j].name))
                    c->groups[c->num_groups++] = run->results[j].name;
        }
    label_series(c, file_of);
    free(file_of);
    c->values = calloc((size_t)c->num_groups * (size_t)c->num_series + 1, sizeof *c->values);
    if (!c->values) return 0;
    for (int g = 0; g < c->num_groups; g++)
        for (int s = 0; s < c->num_series; s++)
            c->values[g * c->num_series + s] = value_of(find(c->runs[s], c->groups[g]), m);
    return 1;
}

static void chart_free(chart *c) {
    free(c->runs);
    free(c->labels);
    free(c->series);
    free(c->groups);
    free(c->values);
}

static const char *about =
    "Draws several 'hrm bench --json' result files side by side as one grouped bar chart (SVG):\n"
    "a group per measurement, a bar per device (every run of every file, labelled backend/device).\n"
    "--metric samples_per_s (default): the models' training and evaluation samples/s;\n"
    "--metric fraction_of_peak: every measurement rated against its device's measured peak, in %\n"
    "(the ops, and the models' MFU). Missing or failed measurements show as n/a.";

static void usage(FILE *out, const char *prog) {
    fprintf(out,
            "usage: %s FILE.json [FILE.json ...] --out CHART.svg [--metric samples_per_s|fraction_of_peak] "
            "[--log]\n\n%s\n\noptions:\n"
            "  --out CHART.svg    the SVG file to write (replaced atomically)\n"
            "  --metric M         samples_per_s or fraction_of_peak (default samples_per_s)\n"
            "  --log              logarithmic value axis (devices orders of magnitude apart)\n"
            "  --help             show this help\n",
            prog, about);
}

/* Options anywhere among the files; returns CLI_PARSED, CLI_HELP or CLI_BAD (one line printed). */
static int parse(const char *prog, int argc, char **argv, char **files, int *nfiles, const char **out,
                 const char **metric_name, int *y_log) {
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) return CLI_HELP;
        if (!strcmp(arg, "--log")) {
            *y_log = 1;
        } else if (!strcmp(arg, "--out") || !strcmp(arg, "--metric")) {
            if (a + 1 >= argc) {
                cli_error(prog, "option %s needs a value", arg);
                return CLI_BAD;
            }
            *(!strcmp(arg, "--out") ? out : metric_name) = argv[++a];
        } else if (!strncmp(arg, "--out=", 6)) {
            *out = arg + 6;
        } else if (!strncmp(arg, "--metric=", 9)) {
            *metric_name = arg + 9;
        } else if (arg[0] == '-' && arg[1]) {
            cli_error(prog, "unknown option '%s' (try '%s --help')", arg, prog);
            return CLI_BAD;
        } else {
            files[(*nfiles)++] = argv[a];
        }
    }
    return CLI_PARSED;
}

int cmd_bench_plot(const char *prog, int argc, char **argv) {
    char **files = calloc((size_t)argc + 1, sizeof *files);
    const char *out = NULL, *metric_name = "samples_per_s";
    int nfiles = 0, y_log = 0;
    if (!files) {
        cli_error(prog, "out of memory");
        return CLI_EXIT_FAIL;
    }
    int r = parse(prog, argc, argv, files, &nfiles, &out, &metric_name, &y_log);
    if (r == CLI_HELP) usage(stdout, prog);
    if (r != CLI_PARSED) {
        free(files);
        return r == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    metric m = METRIC_SAMPLES;
    if (!strcmp(metric_name, "fraction_of_peak"))
        m = METRIC_FRACTION;
    else if (strcmp(metric_name, "samples_per_s")) {
        cli_error(prog, "--metric: '%s' is not samples_per_s or fraction_of_peak", metric_name);
        r = CLI_BAD;
    }
    if (r == CLI_PARSED && (!nfiles || !out)) {
        cli_error(prog, "%s (try '%s --help')", !nfiles ? "no results file given" : "--out CHART.svg is required",
                  prog);
        r = CLI_BAD;
    }
    if (r != CLI_PARSED) {
        free(files);
        return CLI_EXIT_USAGE;
    }

    char err[600];
    bench_report *reps = calloc((size_t)nfiles, sizeof *reps);
    chart c;
    memset(&c, 0, sizeof c);
    r = reps ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    if (!reps) cli_error(prog, "out of memory");
    for (int f = 0; r == CLI_EXIT_OK && f < nfiles; f++)
        if (!bench_report_read(files[f], &reps[f], err, sizeof err)) {
            cli_error(prog, "%s", err);
            r = CLI_EXIT_FAIL;
        }
    if (r == CLI_EXIT_OK && !build(&c, reps, nfiles, files, m)) {
        cli_error(prog, "out of memory");
        r = CLI_EXIT_FAIL;
    }
    if (r == CLI_EXIT_OK) {
        const char *title = m == METRIC_SAMPLES ? "hrm bench: samples/s (higher is better)"
                                                : "hrm bench: % of the device's measured peak";
        const char *ylabel = m == METRIC_SAMPLES ? "samples/s" : "% of peak";
        if (svg_write_bars(out, title, ylabel, c.groups, c.num_groups, c.series, c.num_series, c.values, y_log != 0,
                           err, sizeof err)) {
            cli_error(prog, "%s", err);
            r = CLI_EXIT_FAIL;
        } else {
            printf("%s: %d measurements x %d devices from %d file(s)\n", out, c.num_groups, c.num_series, nfiles);
        }
    }
    chart_free(&c);
    for (int f = 0; reps && f < nfiles; f++) bench_report_free(&reps[f]);
    free(reps);
    free(files);
    return r;
}
