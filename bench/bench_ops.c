/* bench/bench_ops.c - `hrm bench ops`: the command. Opens one backend, runs the cases of
 * bench_cases.c, measured by bench_measure.c, and reports each op's rate beside a roofline
 * measured in the same run (see bench_ops.h), as a table on stdout, one progress line per op on
 * stderr, and optionally JSON, with PASS/MISS against the targets. */
#include "bench.h"
#include "bench_ops.h"
#include "cli.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *kind_key[] = {"gemm", "attention", "elementwise", "update"};
static const char *roofline_key[] = {"openblas_sgemm", "backend_matmul_512x1536_fwd", "backend_buffer_copy",
                                     "backend_buffer_copy"};

static int rated_in_bytes(op_kind kind) { return kind == KIND_ELEMENTWISE || kind == KIND_UPDATE; }

/* ---- the report ------------------------------------------------------------------------------- */

typedef struct target {
    const char *label;
    op_kind kind;
    int seq; /* 0: every entry of the kind */
    double threshold;
} target;

static const target targets[] = {
    {"GEMM >= 90% of direct OpenBLAS", KIND_GEMM, 0, 0.90},
    {"attention at S=901 >= 40% of GEMM rate", KIND_ATTENTION, BENCH_SEQ_LONG, 0.40},
    {"elementwise >= 50% of copy bandwidth", KIND_ELEMENTWISE, 0, 0.50},
};
#define NUM_TARGETS ((int)(sizeof targets / sizeof targets[0]))

typedef struct target_result {
    int ops, below;
    const bench_entry *worst; /* lowest fraction; a failed or unknown entry counts as lowest */
} target_result;

static int entry_matches(const target *t, const bench_entry *e) {
    return e->kind == t->kind && (!t->seq || e->seq == t->seq);
}

static double score_of(const bench_entry *e) { return e->error[0] ? -1 : e->fraction; }

static target_result evaluate(const bench *b, const target *t) {
    target_result r = {0, 0, NULL};
    for (int i = 0; i < b->count; i++) {
        const bench_entry *e = &b->entries[i];
        if (!entry_matches(t, e)) continue;
        r.ops++;
        r.below += score_of(e) < t->threshold;
        if (!r.worst || score_of(e) < score_of(r.worst)) r.worst = e;
    }
    return r;
}

static int target_pass(const target_result *r) { return r->ops > 0 && r->below == 0; }

static void print_targets(const bench *b) {
    printf("\ntargets (worst op of each group):\n");
    for (int i = 0; i < NUM_TARGETS; i++) {
        target_result r = evaluate(b, &targets[i]);
        printf("  %s  %-40s ", target_pass(&r) ? "PASS" : "MISS", targets[i].label);
        if (!r.worst)
            printf("no measurement\n");
        else if (score_of(r.worst) < 0)
            printf("worst: %s %s (%s), %d of %d below\n", r.worst->op, r.worst->shape,
                   r.worst->error[0] ? "failed" : "no roofline", r.below, r.ops);
        else
            printf("worst %5.1f%% %s %s, %d of %d below\n", 100 * r.worst->fraction, r.worst->op, r.worst->shape,
                   r.below, r.ops);
    }
}

static void print_row(const bench_entry *e) {
    printf("%-20s %-30s ", e->op, e->shape);
    if (e->error[0]) {
        printf("error: %s\n", e->error);
        return;
    }
    printf("%9.2f %-7s %9.2f ", e->rate, bench_kind_unit[e->kind], e->roofline);
    if (e->fraction >= 0)
        printf("%6.1f%% of %-9s", 100 * e->fraction, bench_roofline_name[e->kind]);
    else
        printf("%6s    %-9s", "-", bench_roofline_name[e->kind]);
    printf(" %10.3f %10.3f %5d", 1e3 * e->t.median_s, 1e3 * e->t.min_s, e->t.reps);
    if (rated_in_bytes(e->kind)) printf(" %8.2f", e->memcpy_gbps);
    printf("\n");
}

static void print_table(const bench *b) {
    printf("hrm bench ops: backend %s (%s)\n", b->ctx.plugin.name, b->ctx.plugin.path);
    printf("device %d: %s | %s | %s\n", b->ctx.device_index, b->info.name, b->info.vendor, b->info.driver);
    printf("batch %d at S=%d (%d rows), batch %d at S=%d; >= %.2f s and 3 calls per measurement%s\n\n", b->batch,
           BENCH_SEQ, b->batch * BENCH_SEQ, b->batch_long, BENCH_SEQ_LONG, b->min_time, b->quick ? " (quick)" : "");
    printf("%-20s %-30s %9s %-7s %9s %-20s %10s %10s %5s %8s\n", "op", "shape", "rate", "", "roofline", "  fraction",
           "median ms", "min ms", "reps", "memcpy GB/s");
    for (int i = 0; i < b->count; i++) print_row(&b->entries[i]);
    printf("\nrooflines, measured in this run: OpenBLAS = cblas_sgemm on host memory at the same shape;\n"
           "GEMM rate = this backend's matmul qkv fwd; copy = this backend's buffer_copy moving the same\n"
           "bytes (half read, half written); memcpy GB/s = host memcpy of the same bytes, for reference.\n");
    print_targets(b);
}

/* ---- JSON ------------------------------------------------------------------------------------- */

static json_t *number(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static json_t *entry_json(const bench_entry *e) {
    json_t *o = json_pack("{s:s, s:s, s:s}", "op", e->op, "shape", e->shape, "kind", kind_key[e->kind]);
    if (e->kind == KIND_ATTENTION) json_object_set_new(o, "seq", json_integer(e->seq));
    if (e->error[0]) {
        json_object_set_new(o, "error", json_string(e->error));
        return o;
    }
    json_object_set_new(o, rated_in_bytes(e->kind) ? "gbps" : "gflops", number(e->rate));
    json_object_set_new(o, rated_in_bytes(e->kind) ? "bytes" : "flops", number(e->work));
    json_object_set_new(o, "roofline", e->roofline > 0 ? number(e->roofline) : json_null());
    json_object_set_new(o, "roofline_kind", json_string(roofline_key[e->kind]));
    json_object_set_new(o, "fraction", e->fraction >= 0 ? number(e->fraction) : json_null());
    json_object_set_new(o, "median_s", number(e->t.median_s));
    json_object_set_new(o, "min_s", number(e->t.min_s));
    json_object_set_new(o, "reps", json_integer(e->t.reps));
    if (rated_in_bytes(e->kind)) json_object_set_new(o, "host_memcpy_gbps", number(e->memcpy_gbps));
    return o;
}

static json_t *targets_json(const bench *b) {
    json_t *list = json_array();
    for (int i = 0; i < NUM_TARGETS; i++) {
        target_result r = evaluate(b, &targets[i]);
        json_t *o = json_pack("{s:s, s:f, s:b, s:i, s:i}", "target", targets[i].label, "threshold",
                              targets[i].threshold, "pass", target_pass(&r), "ops", r.ops, "below", r.below);
        if (r.worst) json_object_set_new(o, "worst_op", json_sprintf("%s %s", r.worst->op, r.worst->shape));
        if (r.worst && score_of(r.worst) >= 0) json_object_set_new(o, "worst_fraction", number(r.worst->fraction));
        json_array_append_new(list, o);
    }
    return list;
}

static json_t *report_json(const bench *b) {
    const hrm_device_info *d = &b->info;
    json_t *entries = json_array();
    for (int i = 0; i < b->count; i++) json_array_append_new(entries, entry_json(&b->entries[i]));
    return json_pack("{s:i, s:s, s:s, s:s, s:{s:i, s:s, s:s, s:s, s:I, s:i, s:i, s:s},"
                     " s:{s:i, s:i, s:i, s:i, s:I, s:f, s:b}, s:o, s:o, s:s, s:s}",
                     "format_version", 1, "hrm_version", HRM_VERSION, "backend", b->ctx.plugin.name, "backend_path",
                     b->ctx.plugin.path, "device", "index", b->ctx.device_index, "name", d->name, "vendor", d->vendor,
                     "driver", d->driver, "memory_bytes", (json_int_t)d->memory_bytes, "compute_units",
                     d->compute_units, "validated", d->validated, "note", d->note, "config", "batch", b->batch, "seq",
                     BENCH_SEQ, "batch_long", b->batch_long, "seq_long", BENCH_SEQ_LONG, "adam_params",
                     (json_int_t)b->adam_params, "min_time_s", b->min_time, "quick", b->quick, "entries", entries,
                     "targets", targets_json(b), "matmul_precision", hrm_precision_name(b->precision),
                     "matmul_precision_asked", hrm_precision_name(b->precision_asked));
}

static int write_json(const bench *b, const char *prog, const char *path) {
    json_t *root = report_json(b);
    int ok = root && json_dump_file(root, path, JSON_INDENT(2)) == 0;
    if (!root)
        cli_error(prog, "%s: cannot build the JSON report", path);
    else if (!ok)
        cli_error(prog, "%s: cannot write the JSON report", path);
    json_decref(root);
    return ok;
}

/* ---- the command ------------------------------------------------------------------------------ */

enum { OPT_BACKEND, OPT_DEVICE, OPT_BATCH, OPT_JSON, OPT_QUICK, OPT_PRECISION, NUM_OPTS };
static const cli_opt options[NUM_OPTS] = {
    [OPT_BACKEND] = {"--backend", "B", "cpu, opencl, auto or PATH.so (default: $HRM_BACKEND, else auto)"},
    [OPT_DEVICE] = {"--device", "D", "device index, or a part of its name or platform name (default 0)"},
    [OPT_BATCH] = {"--batch", "N", "batch at S=82 (default 32, quick 4); S=901 uses max(1, N/8)"},
    [OPT_JSON] = {"--json", "FILE", "also write the results as JSON to FILE"},
    [OPT_QUICK] = {"--quick", NULL, "small batch, 1/8 of the Adam parameters, 0.05 s per measurement (~20 s)"},
    [OPT_PRECISION] = {"--matmul-precision", "P",
                       "highest (fp32, default), high (tf32) or medium (bf16) operands of\n"
                       "every matmul; a device without that unit runs the next higher one"},
};

static const char *about = "Times every backend op at the shapes HRM uses (Sudoku S=82, Maze S=901) and prints each\n"
                           "beside a roofline measured in the same run: matmul vs cblas_sgemm called directly ('% of\n"
                           "OpenBLAS'); attention vs the backend's own matmul at 512->1536 ('% of GEMM rate');\n"
                           "elementwise and row ops vs the backend's buffer_copy of the same bytes ('% of copy', host\n"
                           "memcpy shown for reference). Ends with PASS/MISS against the targets: GEMM >= 90%,\n"
                           "attention at S=901 >= 40%, elementwise >= 50%. Exits 1 when an op failed.";

/* Fills the run's settings from the parsed options; returns 0 after a usage error. */
static int configure(bench *b, const char *prog, const char **v) {
    int device = 0, batch = 0;
    if (!cli_device(prog, v[OPT_BACKEND], v[OPT_DEVICE], &device)) return 0;
    if (v[OPT_BATCH] && !cli_int(prog, "--batch", v[OPT_BATCH], 1, BENCH_PUZZLE_ROWS, &batch)) return 0;
    if (!cli_precision(prog, "--matmul-precision", v[OPT_PRECISION], &b->precision_asked)) return 0;
    b->quick = v[OPT_QUICK] != NULL;
    b->batch = batch ? batch : b->quick ? 4 : 32;
    b->batch_long = b->batch / 8 > 0 ? b->batch / 8 : 1;
    b->adam_params = b->quick ? BENCH_PARAMS / 8 : BENCH_PARAMS;
    b->min_time = b->quick ? 0.05 : 0.2;
    b->ctx.device_index = device;
    return 1;
}

static int any_failed(const bench *b) {
    for (int i = 0; i < b->count; i++)
        if (b->entries[i].error[0]) return 1;
    return 0;
}

static int run(bench *b, const char *prog, const char *backend, const char *json_path) {
    char err[512];
    hrm_status s = hrm_ctx_open(backend, b->ctx.device_index, hrm_default_host(), &b->ctx, err, sizeof err);
    if (s != HRM_OK) {
        cli_error(prog, "%s", err);
        return CLI_EXIT_FAIL;
    }
    b->f = b->ctx.f;
    if (b->f->device_info(b->ctx.be, b->ctx.device_index, &b->info) != HRM_OK)
        snprintf(b->info.name, sizeof b->info.name, "(no device info: %s)", b->f->last_error(b->ctx.be));
    bench_settle_precision(b);
    cli_print_precision(stdout, "matmul precision", b->precision_asked, b->precision, &b->ctx);
    bench_all_cases(b);
    print_table(b);
    int ok = !json_path || write_json(b, prog, json_path);
    hrm_ctx_close(&b->ctx);
    return ok && !any_failed(b) ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int cmd_bench_ops(const char *prog, int argc, char **argv) {
    const char *v[NUM_OPTS];
    bench b;
    memset(&b, 0, sizeof b);
    int r = cli_parse(prog, options, NUM_OPTS, argc, argv, v);
    if (r == CLI_HELP) {
        cli_usage(stdout, prog, "[--backend B] [--device N] [--batch N] [--json FILE] [--quick] [--matmul-precision P]",
                  about, options, NUM_OPTS);
        return CLI_EXIT_OK;
    }
    if (r == CLI_BAD || !configure(&b, prog, v)) return CLI_EXIT_USAGE;
    b.times = malloc(BENCH_MAX_REPS * sizeof *b.times);
    if (!b.times) {
        cli_error(prog, "out of memory");
        return CLI_EXIT_FAIL;
    }
    r = run(&b, prog, v[OPT_BACKEND], v[OPT_JSON]);
    free(b.times);
    return r;
}
