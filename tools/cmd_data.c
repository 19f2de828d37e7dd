/* tools/cmd_data.c - `hrm data`: datasets from task plugins (include/hrm/task.h).
 *
 *   hrm data tasks                                   the task plugins found
 *   hrm data build TASK [TASK OPTIONS] --out DIR [--force]
 *   hrm data generate TASK [TASK OPTIONS] [--out FILE.csv]
 *   hrm data verify TASK --csv FILE
 *
 * The task parses its own options (`hrm data build TASK --help` lists them); --out and --force are
 * the host's. A task reports bad options as HRM_ERR_USAGE (exit 2, like the host's own bad usage)
 * and bad sources or data as any other status (exit 1). A build streams examples into DIR.partial
 * and renames it onto DIR only when both splits are complete and valid (core/dataset_builder.h),
 * so Ctrl-C or a bad row never leaves a half-written dataset where a good one was. A lock
 * (DIR.partial.lock) refuses a second build of DIR while one runs; a DIR.partial left by a build
 * that died is removed, with a warning, by the next. */
#include "cli.h"
#include "commands.h"

#include "hrm/hrm.h"
#include "hrm_internal.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---- host callbacks ------------------------------------------------------------------------ */

typedef struct data_host {
    const char *prog;
    FILE *out;            /* emit target when no file */
    hrm_atomic_file file; /* generate --out */
    bool to_file;
    long emitted;
    bool progress_shown;
} data_host;

static hrm_log_level log_level(void) {
    const char *s = getenv("HRM_LOG");
    if (s && !strcasecmp(s, "error")) return HRM_LOG_ERROR;
    if (s && !strcasecmp(s, "debug")) return HRM_LOG_DEBUG;
    if (s && (!strcasecmp(s, "warn") || !strcasecmp(s, "warning"))) return HRM_LOG_WARN;
    return HRM_LOG_INFO; /* a build's progress and skip counts are what a user wants to see */
}

static void clear_progress(data_host *h) {
    if (h->progress_shown) fputs("\r\033[K", stderr);
    h->progress_shown = false;
}

static void host_log(void *user, hrm_log_level level, const char *task, const char *message) {
    static const char *names[] = {"error", "warning", "info", "debug"};
    data_host *h = user;
    if (level > log_level()) return;
    clear_progress(h);
    fprintf(stderr, "%s: %s: %s%s%s\n", h->prog, task ? task : "task", level <= HRM_LOG_WARN ? names[level] : "",
            level <= HRM_LOG_WARN ? ": " : "", message);
}

static hrm_status host_emit(void *user, const char *line) {
    data_host *h = user;
    char err[512];
    h->emitted++;
    if (!h->to_file) {
        clear_progress(h);
        return fprintf(h->out, "%s\n", line) < 0 ? HRM_ERR_NOT_AVAILABLE : HRM_OK;
    }
    hrm_status s = hrm_atomic_write(&h->file, line, strlen(line), err, sizeof err);
    if (!s) s = hrm_atomic_write(&h->file, "\n", 1, err, sizeof err);
    if (s) cli_error(h->prog, "%s", err);
    return s;
}

static hrm_task_host make_host(data_host *h) {
    hrm_task_host host = {.struct_size = sizeof host, .user = h, .log = host_log, .emit = host_emit};
    return host;
}

/* Takes the host's options of build and generate (--out X, --out=X, --force) out of argv, in
 * place; the rest stays for the task. Returns false after one line on a missing value. */
typedef struct host_opts {
    const char *out;
    bool force, help;
} host_opts;

static bool take_value(const char *prog, int *i, int argc, char **argv, const char *name, const char **dst) {
    size_t n = strlen(name);
    if (!strncmp(argv[*i], name, n) && argv[*i][n] == '=') {
        *dst = argv[*i] + n + 1;
        return true;
    }
    if (*i + 1 >= argc) {
        cli_error(prog, "%s needs a value", name);
        return false;
    }
    *dst = argv[++*i];
    return true;
}

static bool is_opt(const char *arg, const char *name) {
    size_t n = strlen(name);
    return !strncmp(arg, name, n) && (!arg[n] || arg[n] == '=');
}

static bool split_opts(const char *prog, int *argc, char **argv, host_opts *o) {
    int kept = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (is_opt(a, "--out")) {
            if (!take_value(prog, &i, *argc, argv, "--out", &o->out)) return false;
        } else if (!strcmp(a, "--force")) {
            o->force = true;
        } else {
            if (!strcmp(a, "--help") || !strcmp(a, "-h")) o->help = true;
            argv[kept++] = argv[i];
        }
    }
    *argc = kept;
    argv[kept] = NULL;
    return true;
}

/* Whether a task plugin file named `name` exists, usable or refused (a path always counts): tells
 * a task name the user got wrong (bad usage) from a plugin that failed to load (a failure). */
static bool task_exists(const char *name) {
    hrm_task_list l;
    bool found = false;
    if (strchr(name, '/') || strstr(name, ".so") || hrm_task_scan(&l)) return true;
    for (int i = 0; i < l.count && !found; i++) found = !strcmp(l.items[i].name, name);
    hrm_task_list_free(&l);
    return found;
}

/* The task named argv[1] of a subcommand. Returns CLI_EXIT_OK, CLI_EXIT_USAGE (an option where
 * TASK belongs, or no plugin of that name) or CLI_EXIT_FAIL (the plugin was refused), after one
 * line on stderr. */
static int find_task(const char *prog, const char *name, const hrm_task_iface **task) {
    char err[1024];
    if (name[0] == '-') {
        cli_error(prog, "unknown option '%s' (try '%s --help')", name, prog);
        return CLI_EXIT_USAGE;
    }
    if (hrm_task_find(name, task, err, sizeof err)) {
        cli_error(prog, "%s", err);
        return task_exists(name) ? CLI_EXIT_FAIL : CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

/* ---- hrm data tasks ------------------------------------------------------------------------ */

static int cmd_data_tasks(const char *prog, int argc, char **argv) {
    hrm_task_list l;
    const char *none[1];
    switch (cli_parse(prog, NULL, 0, argc, argv, none)) {
    case CLI_HELP:
        printf("usage: %s [--help]\n\nLists the task plugins found and why any was refused.\n", prog);
        return CLI_EXIT_OK;
    case CLI_BAD: return CLI_EXIT_USAGE;
    }
    if (hrm_task_scan(&l)) {
        cli_error(prog, "out of memory");
        return CLI_EXIT_FAIL;
    }
    for (int i = 0; i < l.count; i++) {
        const hrm_task_plugin *p = &l.items[i];
        if (p->usable)
            printf("%-8s seq_len %4d, vocab %3d  %s\n         %s\n", p->name, p->iface->format.seq_len,
                   p->iface->format.vocab_size, p->iface->summary ? p->iface->summary : "", p->path);
        else
            printf("%-8s refused: %s\n         %s\n", p->name, p->reason, p->path);
    }
    if (!l.count) printf("no task plugins found (HRM_PLUGIN_PATH, the build tree, %s)\n", "<libdir>/hrm/tasks");
    hrm_task_list_free(&l);
    return CLI_EXIT_OK;
}

/* ---- hrm data build ------------------------------------------------------------------------ */

/* Sinks that count for the progress line, in front of the builder's. */
typedef struct progress_sink {
    hrm_task_sink inner;
    data_host *h;
    const char *split;
    long examples;
    double last;
} progress_sink;

static hrm_status ps_group(void *u) {
    progress_sink *p = u;
    return p->inner.begin_group(p->inner.user);
}
static hrm_status ps_puzzle(void *u, const char *name) {
    progress_sink *p = u;
    return p->inner.begin_puzzle(p->inner.user, name);
}
static hrm_status ps_example(void *u, const uint8_t *in, const uint8_t *label) {
    progress_sink *p = u;
    hrm_status s = p->inner.add_example(p->inner.user, in, label);
    if (!s && (++p->examples & 1023) == 0 && isatty(2)) {
        double now = cli_now();
        if (now - p->last > 0.25) {
            fprintf(stderr, "\r\033[K%s: %s: %ld examples", p->h->prog, p->split, p->examples);
            p->h->progress_shown = true;
            p->last = now;
        }
    }
    return s;
}

static hrm_task_sink wrap(progress_sink *p) {
    hrm_task_sink k = {.user = p, .begin_group = ps_group, .begin_puzzle = ps_puzzle, .add_example = ps_example};
    return k;
}

/* The exit code of a task's build or generate status: its option errors (HRM_ERR_USAGE, task ABI
 * 1.1) are bad usage, anything else a failure. */
static int task_exit_code(hrm_status s) {
    return s == HRM_OK ? CLI_EXIT_OK : s == HRM_ERR_USAGE ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
}

static void build_usage(FILE *f, const char *prog, const hrm_task_iface *t) {
    fprintf(f,
            "usage: %s %s [OPTIONS] --out DIR [--force]\n\n"
            "Builds a dataset in the published HRM layout (DIR/{train,test}, DIR/identifiers.json).\n\n"
            "  --out DIR    output folder (written as DIR.partial, renamed when complete; one build\n"
            "               of DIR at a time; a DIR.partial left by an interrupted build is removed)\n"
            "  --force      replace DIR if it exists\n\n%s options:\n%s\n",
            prog, t->name, t->name, t->build_usage ? t->build_usage : "  (none)");
}

static void print_counts(const char *prog, hrm_dataset_builder *b, const char *out) {
    hrm_dsb_counts tr = hrm_dsb_counts_of(b, HRM_SPLIT_TRAIN), te = hrm_dsb_counts_of(b, HRM_SPLIT_TEST);
    printf("%s: %s: train %lld examples (%lld puzzles, %lld groups), test %lld examples (%lld puzzles, %lld groups), "
           "%d identifiers\n",
           prog, out, (long long)tr.examples, (long long)tr.puzzles, (long long)tr.groups, (long long)te.examples,
           (long long)te.puzzles, (long long)te.groups, hrm_dsb_identifiers(b));
}

static int cmd_data_build(const char *prog, int argc, char **argv) {
    const hrm_task_iface *t;
    host_opts o = {0};
    char err[1024], warn[512];
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f,
                "usage: %s TASK [OPTIONS] --out DIR [--force]\n\n'%s TASK --help' lists a task's options; "
                "'hrm data tasks' lists the tasks.\n",
                prog, prog);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    int rc = find_task(prog, argv[1], &t);
    if (rc) return rc;
    argc--, argv++;
    if (!split_opts(prog, &argc, argv, &o)) return CLI_EXIT_USAGE;
    if (o.help) {
        build_usage(stdout, prog, t);
        return CLI_EXIT_OK;
    }
    if (!o.out) {
        cli_error(prog, "--out DIR is required");
        return CLI_EXIT_USAGE;
    }
    hrm_dataset_builder *b;
    hrm_status opened = hrm_dsb_open(o.out, &t->format, o.force, &b, warn, sizeof warn, err, sizeof err);
    if (warn[0]) cli_error(prog, "warning: %s", warn);
    if (opened) {
        cli_error(prog, "%s", err);
        return CLI_EXIT_FAIL;
    }
    data_host h = {.prog = prog, .out = stdout};
    hrm_task_host host = make_host(&h);
    progress_sink ps[2] = {{hrm_dsb_sink(b, HRM_SPLIT_TRAIN), &h, "train", 0, 0},
                           {hrm_dsb_sink(b, HRM_SPLIT_TEST), &h, "test", 0, 0}};
    hrm_task_sink train = wrap(&ps[0]), test = wrap(&ps[1]);
    err[0] = 0;
    hrm_status s = t->build(&host, argc, argv, &train, &test, err, sizeof err);
    clear_progress(&h);
    if (s) {
        const char *why = hrm_dsb_error(b)[0] ? hrm_dsb_error(b) : err[0] ? err : hrm_status_str(s);
        int code = task_exit_code(s) == CLI_EXIT_USAGE && !hrm_dsb_error(b)[0] ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
        cli_error(prog, "%s: %s", t->name, why);
        hrm_dsb_abort(b);
        return code;
    }
    print_counts(prog, b, o.out);
    if (hrm_dsb_commit(b, warn, sizeof warn, err, sizeof err)) {
        cli_error(prog, "%s", err);
        return CLI_EXIT_FAIL;
    }
    if (warn[0]) cli_error(prog, "warning: %s", warn);
    return CLI_EXIT_OK;
}

/* ---- hrm data generate --------------------------------------------------------------------- */

static int cmd_data_generate(const char *prog, int argc, char **argv) {
    const hrm_task_iface *t;
    host_opts o = {0};
    char err[1024];
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f,
                "usage: %s TASK [OPTIONS] [--out FILE.csv]\n\nWrites new puzzles in the task's CSV format "
                "(stdout without --out). '%s TASK --help' lists a task's options.\n",
                prog, prog);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    int rc = find_task(prog, argv[1], &t);
    if (rc) return rc;
    if (!t->generate) {
        cli_error(prog, "task %s has no generator", t->name);
        return CLI_EXIT_FAIL;
    }
    argc--, argv++;
    if (!split_opts(prog, &argc, argv, &o)) return CLI_EXIT_USAGE;
    if (o.help) {
        printf("usage: %s %s [OPTIONS] [--out FILE.csv]\n\n%s options:\n%s\n", prog, t->name, t->name,
               t->generate_usage ? t->generate_usage : "  (none)");
        return CLI_EXIT_OK;
    }
    data_host h = {.prog = prog, .out = stdout, .to_file = o.out != NULL};
    if (o.out && hrm_atomic_open(&h.file, o.out, err, sizeof err)) {
        cli_error(prog, "%s", err);
        return CLI_EXIT_FAIL;
    }
    hrm_task_host host = make_host(&h);
    err[0] = 0;
    hrm_status s = t->generate(&host, argc, argv, err, sizeof err);
    int code = task_exit_code(s);
    if (!s && o.out && (s = hrm_atomic_commit(&h.file, err, sizeof err))) code = CLI_EXIT_FAIL;
    if (s) {
        if (o.out) hrm_atomic_abort(&h.file);
        cli_error(prog, "%s: %s", t->name, err[0] ? err : hrm_status_str(s));
        return code;
    }
    if (o.out) fprintf(stderr, "%s: %s: %ld lines\n", prog, o.out, h.emitted);
    return CLI_EXIT_OK;
}

/* ---- hrm data verify ----------------------------------------------------------------------- */

/* The host parses all of verify's options: verify_file takes no task options (include/hrm/task.h). */
static const cli_opt verify_opts[] = {
    {"--csv", "FILE", "the task's source CSV file (required)"},
};

static int cmd_data_verify(const char *prog, int argc, char **argv) {
    const hrm_task_iface *t;
    const char *values[1];
    char err[1024], path[256];
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f,
                "usage: %s TASK --csv FILE\n\nRuns the task's verifier on every row's answer; prints the "
                "rejected rows (FILE:LINE: reason) and the counts. Exit 1 if any row is rejected.\n",
                prog);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    int rc = find_task(prog, argv[1], &t);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s %s", prog, t->name);
    switch (cli_parse(path, verify_opts, 1, argc - 1, argv + 1, values)) {
    case CLI_HELP:
        cli_usage(stdout, path, "--csv FILE",
                  "Runs the task's verifier on every row's answer; prints the rejected rows (FILE:LINE: reason)\n"
                  "and the counts. Exit 1 if any row is rejected. The task takes no verify options of its own.",
                  verify_opts, 1);
        if (!t->verify_file) printf("\n(task %s has no source-file verifier)\n", t->name);
        return CLI_EXIT_OK;
    case CLI_BAD: return CLI_EXIT_USAGE;
    }
    const char *csv = values[0];
    if (!csv) {
        cli_error(prog, "--csv FILE is required (try '%s --help')", path);
        return CLI_EXIT_USAGE;
    }
    if (!t->verify_file) {
        cli_error(prog, "task %s has no source-file verifier", t->name);
        return CLI_EXIT_FAIL;
    }
    data_host h = {.prog = prog, .out = stdout};
    hrm_task_host host = make_host(&h);
    long accepted = 0, rejected = 0;
    err[0] = 0;
    if (t->verify_file(&host, csv, &accepted, &rejected, err, sizeof err)) {
        cli_error(prog, "%s", err[0] ? err : "verification failed");
        return CLI_EXIT_FAIL;
    }
    printf("%s: accepted %ld of %ld rows, rejected %ld\n", csv, accepted, accepted + rejected, rejected);
    return rejected ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

/* ---- the dispatcher ------------------------------------------------------------------------ */

static const cli_command data_commands[] = {
    {"tasks", cmd_data_tasks, "list the task plugins found"},
    {"build", cmd_data_build, "build a dataset (published HRM layout) from a task's sources"},
    {"generate", cmd_data_generate, "write new puzzles as CSV (tasks with a generator)"},
    {"verify", cmd_data_verify, "check every answer of a task's CSV file with its verifier"},
};

int cmd_data(const char *prog, int argc, char **argv) {
    int n = (int)(sizeof data_commands / sizeof data_commands[0]);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *out = argc < 2 ? stderr : stdout;
        fprintf(out, "usage: %s SUBCOMMAND [ARGS...]\n\nsubcommands:\n", prog);
        cli_list_commands(out, data_commands, n);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    return cli_dispatch(prog, data_commands, n, argc - 1, argv + 1);
}
