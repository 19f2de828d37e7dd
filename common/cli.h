/* common/cli.h - what the `hrm` subcommands (tools/) and the benchmark's (bench/) share: the
 * command signature and dispatch over a table, a small table-driven option parser (--name VALUE,
 * --name=VALUE, flags, --help), one-line errors and a clock. The subcommands themselves are
 * declared by their folders: tools/commands.h and bench/bench.h.
 *
 * Exit codes of every subcommand: 0 success, 1 failure, 2 bad usage (one line on stderr). */
#ifndef HRM_COMMON_CLI_H
#define HRM_COMMON_CLI_H

#include <stdio.h>

#include "hrm/hrm.h"

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2 };

/* A subcommand: argv[0] is its own name, argv[1..argc) its arguments; returns the exit code. */
typedef int (*cli_command_fn)(const char *prog, int argc, char **argv);

typedef struct cli_command {
    const char *name;
    cli_command_fn run;
    const char *summary; /* one line for --help */
} cli_command;

/* Runs the command named argv[0] from table[n]; `prog` prefixes messages ("hrm", "hrm bench"). */
int cli_dispatch(const char *prog, const cli_command *table, int n, int argc, char **argv);
void cli_list_commands(FILE *out, const cli_command *table, int n);

typedef struct cli_opt {
    const char *name;    /* "--batch" */
    const char *metavar; /* "N"; NULL for a flag */
    const char *help;
} cli_opt;

enum { CLI_PARSED = 0, CLI_HELP = 1, CLI_BAD = 2 };

/* Parses argv[1..argc) against opts[n]. values[i] receives option i's argument ("" for a flag
 * that was given) and stays NULL otherwise. Positional arguments are refused. Returns
 * CLI_PARSED, CLI_HELP (--help or -h seen), or CLI_BAD after one line on stderr. */
int cli_parse(const char *prog, const cli_opt *opts, int n, int argc, char **argv, const char **values);
void cli_usage(FILE *out, const char *prog, const char *synopsis, const char *about, const cli_opt *opts, int n);

/* Parses an integer option value in [min, max]; on error prints one line and returns 0. */
int cli_int(const char *prog, const char *opt, const char *text, long min, long max, int *out);

/* Parses a finite number option value in [min, max]; on error prints one line and returns 0. */
int cli_real(const char *prog, const char *opt, const char *text, double min, double max, double *out);

/* Sampled inference's options (--samples K, --noise SIGMA, --seed N; NULL texts keep the
 * defaults 1, 0, 0): sets *samples, *noise, *seed; on error prints one line and returns 0. */
int cli_sampling(const char *prog, const char *samples, const char *noise, const char *seed, int *k, float *sigma,
                 uint64_t *s);

/* The index of the device that `text` names on backend (an index, or a part of the device's or
 * platform's name, as hrm_ctx_open_device takes it); NULL text is device 0. On error prints one
 * line and returns 0. */
int cli_device(const char *prog, const char *backend, const char *text, int *index);

/* Parses a --matmul-precision value (highest, high, medium, or fp32, tf32, bf16); NULL text is
 * highest. On error prints one line and returns 0. */
int cli_precision(const char *prog, const char *opt, const char *text, hrm_matmul_precision *out);
/* Lists the precisions in `bits` (HRM_PRECISION_BIT), e.g. "highest, medium". */
void cli_precision_list(uint32_t bits, char *out, size_t size);
/* One line: "WHAT: medium (bf16 operands, fp32 accumulation)", or, where the device runs a higher
 * precision than asked, which one and what the device supports. */
void cli_print_precision(FILE *out, const char *what, hrm_matmul_precision asked, hrm_matmul_precision runs,
                         const hrm_ctx *ctx);

/* "prog: message" on stderr, one line. */
void cli_error(const char *prog, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

double cli_now(void); /* monotonic seconds */

#endif /* HRM_COMMON_CLI_H */
