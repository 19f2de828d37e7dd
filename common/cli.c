/* common/cli.c - the helpers of cli.h: subcommand dispatch, option parsing, errors, clock.
 * Every message is one line on stderr, prefixed by the command path ("hrm bench ops: ..."). */
#include "cli.h"

#include "hrm/hrm.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cli_error(const char *prog, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_list_commands(FILE *out, const cli_command *table, int n) {
    for (int i = 0; i < n; i++) fprintf(out, "  %-10s %s\n", table[i].name, table[i].summary);
}

int cli_dispatch(const char *prog, const cli_command *table, int n, int argc, char **argv) {
    char path[256];
    if (argc < 1) {
        cli_error(prog, "missing command (try '%s --help')", prog);
        return CLI_EXIT_USAGE;
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(argv[0], table[i].name)) continue;
        snprintf(path, sizeof path, "%s %s", prog, table[i].name);
        return table[i].run(path, argc, argv);
    }
    if (argv[0][0] == '-')
        cli_error(prog, "unknown option '%s' (try '%s --help')", argv[0], prog);
    else
        cli_error(prog, "unknown command '%s' (try '%s --help')", argv[0], prog);
    return CLI_EXIT_USAGE;
}

/* Index of the option named by arg (up to '=' if any), or -1. */
static int find_opt(const cli_opt *opts, int n, const char *arg) {
    size_t len = strcspn(arg, "=");
    for (int i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && !strncmp(opts[i].name, arg, len)) return i;
    return -1;
}

int cli_parse(const char *prog, const cli_opt *opts, int n, int argc, char **argv, const char **values) {
    for (int i = 0; i < n; i++) values[i] = NULL;
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) return CLI_HELP;
        int o = arg[0] == '-' ? find_opt(opts, n, arg) : -1;
        if (o < 0) {
            cli_error(prog, "%s '%s' (try '%s --help')", arg[0] == '-' ? "unknown option" : "unexpected argument", arg,
                      prog);
            return CLI_BAD;
        }
        const char *eq = strchr(arg, '=');
        if (!opts[o].metavar) {
            if (eq) {
                cli_error(prog, "option %s takes no value", opts[o].name);
                return CLI_BAD;
            }
            values[o] = "";
        } else if (eq) {
            values[o] = eq + 1;
        } else if (a + 1 < argc) {
            values[o] = argv[++a];
        } else {
            cli_error(prog, "option %s needs a value (%s)", opts[o].name, opts[o].metavar);
            return CLI_BAD;
        }
    }
    return CLI_PARSED;
}

void cli_usage(FILE *out, const char *prog, const char *synopsis, const char *about, const cli_opt *opts, int n) {
    fprintf(out, "usage: %s%s%s\n\n%s\n", prog, synopsis[0] ? " " : "", synopsis, about);
    if (n) fprintf(out, "\noptions:\n");
    for (int i = 0; i < n; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", opts[i].name, opts[i].metavar ? " " : "",
                 opts[i].metavar ? opts[i].metavar : "");
        fprintf(out, "  %-18s %s\n", left, opts[i].help);
    }
    fprintf(out, "  %-18s %s\n", "--help", "show this help");
}

int cli_int(const char *prog, const char *opt, const char *text, long min, long max, int *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) {
        cli_error(prog, "%s: '%s' is not an integer in [%ld, %ld]", opt, text, min, max);
        return 0;
    }
    *out = (int)v;
    return 1;
}

int cli_real(const char *prog, const char *opt, const char *text, double min, double max, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || v < min || v > max) {
        cli_error(prog, "%s: '%s' is not a number in [%g, %g]", opt, text, min, max);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_sampling(const char *prog, const char *samples, const char *noise, const char *seed, int *k, float *sigma,
                 uint64_t *s) {
    double x = 0;
    int seed_int = 0;
    *k = 1, *sigma = 0, *s = 0;
    if ((samples && !cli_int(prog, "--samples", samples, 1, 4096, k)) ||
        (noise && !cli_real(prog, "--noise", noise, 0, 1e6, &x)) ||
        (seed && !cli_int(prog, "--seed", seed, 0, 2147483647, &seed_int)))
        return 0;
    *sigma = (float)x;
    *s = (uint64_t)seed_int;
    return 1;
}

int cli_device(const char *prog, const char *backend, const char *text, int *index) {
    char err[1024];
    hrm_ctx ctx;
    *index = 0;
    if (!text) return 1;
    if (strspn(text, "0123456789") == strlen(text)) return cli_int(prog, "--device", text, 0, 1024, index);
    if (hrm_ctx_open_device(backend, text, hrm_default_host(), &ctx, err, sizeof err) != HRM_OK) {
        cli_error(prog, "%s", err);
        return 0;
    }
    *index = ctx.device_index;
    hrm_ctx_close(&ctx);
    return 1;
}

int cli_precision(const char *prog, const char *opt, const char *text, hrm_matmul_precision *out) {
    *out = HRM_PRECISION_HIGHEST;
    if (!text || hrm_precision_parse(text, out)) return 1;
    cli_error(prog, "%s: '%s' is not highest, high or medium (fp32, tf32, bf16)", opt, text);
    return 0;
}

void cli_precision_list(uint32_t bits, char *out, size_t size) {
    size_t used = 0;
    out[0] = '\0';
    for (int p = 0; p < HRM_PRECISION_COUNT; p++) {
        if (!(bits & HRM_PRECISION_BIT(p)) || used >= size) continue;
        int n =
            snprintf(out + used, size - used, "%s%s", used ? ", " : "", hrm_precision_name((hrm_matmul_precision)p));
        if (n > 0) used += (size_t)n;
    }
}

void cli_print_precision(FILE *out, const char *what, hrm_matmul_precision asked, hrm_matmul_precision runs,
                         const hrm_ctx *ctx) {
    if (asked == runs) {
        fprintf(out, "%s: %s (%s operands, fp32 accumulation)\n", what, hrm_precision_name(runs),
                hrm_precision_format(runs));
        return;
    }
    char list[64];
    cli_precision_list(hrm_ctx_matmul_precisions(ctx), list, sizeof list);
    fprintf(out, "%s: %s asked, running %s (%s operands): backend %s has no %s path on this device (it runs: %s)\n",
            what, hrm_precision_name(asked), hrm_precision_name(runs), hrm_precision_format(runs), ctx->plugin.name,
            hrm_precision_format(asked), list);
}
