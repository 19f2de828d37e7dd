/* tools/hrm.c - the `hrm` program: a table of subcommands and the dispatcher over it.
 *
 *   hrm [--help | --version] COMMAND [ARGS...]
 *
 * A new subcommand is one row in `commands` (or in a nested table such as `bench_commands`) and
 * a function `int cmd_x(const char *prog, int argc, char **argv)` in its own file. */
#include "bench.h"
#include "cli.h"
#include "commands.h"

#include "hrm/hrm.h"

#include <string.h>

static const cli_command commands[] = {
    {"backends", cmd_backends, "list backend plugins found, their state, score and devices"},
    {"bench", cmd_bench, "cross-vendor benchmark suite; 'hrm bench ops|train|plot' for its parts"},
    {"convert", cmd_convert, "convert a published PyTorch HRM checkpoint (.pt) to safetensors"},
    {"data", cmd_data, "datasets from task plugins: build, generate, verify ('hrm data tasks' lists them)"},
    {"eval", cmd_eval, "evaluate a checkpoint on a dataset's test split; metrics as JSON, optional dumps"},
    {"plot", cmd_plot, "draw training curves from metrics.jsonl files as an SVG"},
    {"solve", cmd_solve, "solve one puzzle with a checkpoint: input, prediction, segments, verdict"},
    {"train", cmd_train, "train with the published key=value overrides; checkpoints, resume"},
};
static const int num_commands = (int)(sizeof commands / sizeof commands[0]);

/* `hrm bench`'s parts: bench/'s (bench/bench.h), as is the suite that `hrm bench` runs. */
static const cli_command bench_commands[] = {
    {"ops", cmd_bench_ops, "time every backend op at HRM's shapes, as a fraction of its roofline"},
    {"train", cmd_bench_train, "training and evaluation samples/s of whole models, MFU, memory vs cycles"},
    {"gemm", cmd_bench_gemm, "one square GEMM at each matmul precision the device runs: GFLOP/s, ratio to fp32"},
    {"plot", cmd_bench_plot, "grouped bar chart (SVG) of several 'hrm bench --json' files side by side"},
};
static const int num_bench_commands = (int)(sizeof bench_commands / sizeof bench_commands[0]);

static void usage(FILE *out) {
    fprintf(out, "usage: hrm [--help | --version] COMMAND [ARGS...]\n\n"
                 "Hierarchical Reasoning Models on pluggable compute backends.\n\ncommands:\n");
    cli_list_commands(out, commands, num_commands);
    fprintf(out, "\n'hrm COMMAND --help' describes a command. Environment: HRM_BACKEND, HRM_PLUGIN_PATH,\n"
                 "HRM_THREADS, HRM_LOG (error|warn|info|debug).\n");
}

/* `hrm bench` with no arguments or with options runs the suite; a word is a subcommand. */
int cmd_bench(const char *prog, int argc, char **argv) {
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        int r = cmd_bench_suite(prog, argc, argv); /* its usage */
        printf("\nsubcommands ('%s SUBCOMMAND --help'):\n", prog);
        cli_list_commands(stdout, bench_commands, num_bench_commands);
        return r;
    }
    if (argc >= 2 && argv[1][0] != '-')
        return cli_dispatch(prog, bench_commands, num_bench_commands, argc - 1, argv + 1);
    return cmd_bench_suite(prog, argc, argv);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("hrm %s (backend ABI %d.%d)\n", HRM_VERSION, HRM_BACKEND_ABI_MAJOR, HRM_BACKEND_ABI_MINOR);
        return CLI_EXIT_OK;
    }
    return cli_dispatch("hrm", commands, num_commands, argc - 1, argv + 1);
}
