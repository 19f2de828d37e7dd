/* bench/bench_gemm.c - `hrm bench gemm`: one square GEMM C = A B (n x n x n, random operands in
 * [-1, 1]) through the backend's matmul at every matmul precision the device runs (or the one
 * asked), side by side in one run: GFLOP/s from the median call, and each precision's rate as a
 * multiple of the fp32 one. The numbers behind issue 12's GEMM targets (at 4096^3 on a GPU: bf16
 * >= 200 TFLOP/s, tf32 >= 100) and behind `hrm bench train`'s MFU at a reduced precision.
 * A precision the device does not run is listed as such, never timed as another. */
#include "bench.h"
#include "bench_ops.h"
#include "cli.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static hrm_status run_matmul(bench *b, const void *arg) { return bench_matmul(b, arg); }

typedef struct gemm_row {
    hrm_matmul_precision p;
    int ran; /* the device runs p: timed (or failed) */
    timing t;
    double gflops;   /* from the median; 0 when not timed */
    char error[320]; /* a failure, one line */
} gemm_row;

/* Times one precision into row; the operands are set up once by the caller. */
static void time_precision(bench *b, const hrm_matmul_args *a, gemm_row *row) {
    b->precision = row->p;
    b->status = HRM_OK;
    b->error[0] = '\0';
    if (bench_time_calls(b, run_matmul, a, 1, b->min_reps, "matmul", &row->t)) {
        row->gflops = 2.0 * a->m * (double)a->n * a->k / row->t.median_s * 1e-9;
        return;
    }
    snprintf(row->error, sizeof row->error, "%s", b->error[0] ? b->error : "failed");
    b->status = HRM_OK;
}

enum { OPT_BACKEND, OPT_DEVICE, OPT_N, OPT_PRECISION, OPT_MIN_TIME, OPT_JSON, NUM_OPTS };
static const cli_opt options[NUM_OPTS] = {
    [OPT_BACKEND] = {"--backend", "B", "cpu, opencl, auto or PATH.so (default: $HRM_BACKEND, else auto)"},
    [OPT_DEVICE] = {"--device", "D", "device index, or a part of its name or platform name (default 0)"},
    [OPT_N] = {"--n", "N", "m = n = k (default 4096)"},
    [OPT_PRECISION] = {"--matmul-precision", "P",
                       "only this one: highest, high or medium (default: each the device runs)"},
    [OPT_MIN_TIME] = {"--min-time", "S", "seconds of timed calls per precision, at least (default 1; >= 3 calls)"},
    [OPT_JSON] = {"--json", "FILE", "also write the results as JSON to FILE"},
};

static const char *about =
    "Times a square GEMM C = A B (n^3, random fp32 operands) through the backend's matmul at each\n"
    "matmul precision the device runs (highest = fp32 operands; high = tf32; medium = bf16; fp32\n"
    "accumulation always), in one run: GFLOP/s from the median call and the ratio to fp32.\n"
    "A precision the device has no unit for is listed as not run.";

static json_t *row_json(const gemm_row *r, double fp32) {
    json_t *o = json_pack("{s:s, s:s, s:b}", "matmul_precision", hrm_precision_name(r->p), "operands",
                          hrm_precision_format(r->p), "ran", r->ran);
    if (r->gflops > 0) {
        json_object_set_new(o, "gflops", json_real(r->gflops));
        json_object_set_new(o, "median_s", json_real(r->t.median_s));
        json_object_set_new(o, "min_s", json_real(r->t.min_s));
        json_object_set_new(o, "calls", json_integer(r->t.reps));
        if (fp32 > 0) json_object_set_new(o, "vs_fp32", json_real(r->gflops / fp32));
    }
    if (r->error[0]) json_object_set_new(o, "error", json_string(r->error));
    return o;
}

int cmd_bench_gemm(const char *prog, int argc, char **argv) {
    const char *v[NUM_OPTS];
    int r = cli_parse(prog, options, NUM_OPTS, argc, argv, v);
    if (r == CLI_HELP) {
        cli_usage(stdout, prog,
                  "[--backend B] [--device D] [--n N] [--matmul-precision P] [--min-time S] [--json FILE]", about,
                  options, NUM_OPTS);
        return CLI_EXIT_OK;
    }
    if (r == CLI_BAD) return CLI_EXIT_USAGE;
    int device = 0, n = 4096, only = v[OPT_PRECISION] != NULL;
    double min_time = 1.0;
    hrm_matmul_precision asked = HRM_PRECISION_HIGHEST;
    if (!cli_device(prog, v[OPT_BACKEND], v[OPT_DEVICE], &device) ||
        (v[OPT_N] && !cli_int(prog, "--n", v[OPT_N], 1, 65536, &n)) ||
        !cli_precision(prog, "--matmul-precision", v[OPT_PRECISION], &asked))
        return CLI_EXIT_USAGE;
    if (v[OPT_MIN_TIME]) {
        char *end;
        min_time = strtod(v[OPT_MIN_TIME], &end);
        if (end == v[OPT_MIN_TIME] || *end || !(min_time >= 0 && min_time <= 3600)) {
            cli_error(prog, "--min-time: '%s' is not a number of seconds in [0, 3600]", v[OPT_MIN_TIME]);
            return CLI_EXIT_USAGE;
        }
    }
    bench *b = calloc(1, sizeof *b);
    if (!b || !(b->times = malloc(BENCH_MAX_REPS * sizeof *b->times))) {
        free(b);
        cli_error(prog, "out of memory");
        return CLI_EXIT_FAIL;
    }
    char err[512];
    int rc = CLI_EXIT_FAIL;
    if (hrm_ctx_open(v[OPT_BACKEND], device, hrm_default_host(), &b->ctx, err, sizeof err) != HRM_OK) {
        cli_error(prog, "%s", err);
        goto done;
    }
    b->f = b->ctx.f;
    b->min_time = min_time;
    b->min_reps = 3;
    if (b->f->device_info(b->ctx.be, b->ctx.device_index, &b->info) != HRM_OK)
        snprintf(b->info.name, sizeof b->info.name, "(no device info: %s)", b->f->last_error(b->ctx.be));
    uint32_t bits = hrm_ctx_matmul_precisions(&b->ctx);
    size_t nn = (size_t)n * (size_t)n;
    hrm_matmul_args a = {.m = n, .n = n, .k = n, .alpha = 1.0f, .beta = 0.0f, .lda = n, .ldb = n, .ldc = n, .batch = 1};
    a.a = bench_take(b, nn);
    a.b = bench_take(b, nn);
    a.c = bench_take(b, nn);
    bench_random(b, a.a, nn, -1, 1);
    bench_random(b, a.b, nn, -1, 1);
    if (b->status != HRM_OK) {
        cli_error(prog, "%d^3 operands: %s", n, b->error);
        goto done;
    }
    gemm_row rows[HRM_PRECISION_COUNT];
    int count = 0;
    for (int p = 0; p < HRM_PRECISION_COUNT; p++) {
        if (only && p != (int)asked) continue;
        gemm_row *row = &rows[count++];
        memset(row, 0, sizeof *row);
        row->p = (hrm_matmul_precision)p;
        row->ran = (bits & HRM_PRECISION_BIT(p)) != 0;
        if (!row->ran) continue;
        fprintf(stderr, "%s: %s: %d^3 at %s ...\n", prog, b->info.name, n, hrm_precision_format(row->p));
        time_precision(b, &a, row);
    }
    double fp32 = rows[0].p == HRM_PRECISION_HIGHEST ? rows[0].gflops : 0;
    printf("hrm bench gemm: backend %s, device %s; C = A B, m = n = k = %d, random operands in [-1, 1]\n",
           b->ctx.plugin.name, b->info.name, n);
    printf("%-9s %-5s %12s %10s %10s %7s\n", "precision", "ops", "GFLOP/s", "median ms", "min ms", "vs fp32");
    int failed = 0;
    for (int i = 0; i < count; i++) {
        const gemm_row *row = &rows[i];
        if (!row->ran) {
            printf("%-9s %-5s not run: this device has no %s path\n", hrm_precision_name(row->p),
                   hrm_precision_format(row->p), hrm_precision_format(row->p));
        } else if (row->error[0]) {
            printf("%-9s %-5s FAILED: %s\n", hrm_precision_name(row->p), hrm_precision_format(row->p), row->error);
            failed = 1;
        } else {
            printf("%-9s %-5s %12.1f %10.3f %10.3f", hrm_precision_name(row->p), hrm_precision_format(row->p),
                   row->gflops, 1e3 * row->t.median_s, 1e3 * row->t.min_s);
            if (fp32 > 0) printf(" %6.2fx", row->gflops / fp32);
            printf("\n");
        }
    }
    rc = failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
    if (v[OPT_JSON]) {
        json_t *list = json_array();
        for (int i = 0; i < count; i++) json_array_append_new(list, row_json(&rows[i], fp32));
        json_t *root = json_pack("{s:i, s:s, s:s, s:s, s:i, s:f, s:o}", "format_version", 1, "backend",
                                 b->ctx.plugin.name, "device", b->info.name, "driver", b->info.driver, "n", n,
                                 "min_time_s", min_time, "results", list);
        if (!root || json_dump_file(root, v[OPT_JSON], JSON_INDENT(2)) != 0) {
            cli_error(prog, "%s: cannot write the JSON report", v[OPT_JSON]);
            rc = CLI_EXIT_FAIL;
        }
        json_decref(root);
    }
done:
    bench_release(b);
    if (b->ctx.f) hrm_ctx_close(&b->ctx);
    free(b->times);
    free(b);
    return rc;
}
