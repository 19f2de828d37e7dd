/* bench/bench_ops.c - `hrm bench ops`: the driver. Opens one backend, runs the cases of
 * bench_cases.c, and reports each op's rate beside a roofline measured in the same run (see
 * bench_ops.h), as a table on stdout, one progress line per op on stderr, and optionally JSON.
 *
 * A measurement: one warm-up call, then calls until at least min_time seconds and 3 calls have
 * passed; each call is timed on the monotonic clock up to the return of finish(); the median
 * (and the minimum) is reported. A failed op becomes an entry with an error, never a gap. */
#include "bench_ops.h"
#include "cli.h"

#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPS BENCH_MAX_REPS
#define UPLOAD_CHUNK 65536 /* floats per buffer_write when uploading random data */

static const char *kind_key[] = {"gemm", "attention", "elementwise", "update"};
static const char *kind_unit[] = {"GFLOP/s", "GFLOP/s", "GB/s", "GB/s"};
static const char *roofline_name[] = {"OpenBLAS", "GEMM rate", "copy", "copy"};
static const char *roofline_key[] = {"openblas_sgemm", "backend_matmul_512x1536_fwd", "backend_buffer_copy",
                                     "backend_buffer_copy"};

static int rated_in_bytes(op_kind kind) { return kind == KIND_ELEMENTWISE || kind == KIND_UPDATE; }

/* ---- scratch buffers and their contents ------------------------------------------------- */

void bench_fail(bench *b, hrm_status s, const char *what) {
    if (s == HRM_OK || b->status != HRM_OK) return; /* keep the first failure */
    b->status = s;
    snprintf(b->error, sizeof b->error, "%s: %s (%s)", what, b->f->last_error(b->ctx.be), hrm_status_str(s));
}

hrm_ptr bench_take(bench *b, size_t count) {
    hrm_ptr p = {NULL, 0};
    if (b->status != HRM_OK) return p;
    if (b->nbufs == (int)(sizeof b->bufs / sizeof b->bufs[0])) {
        bench_fail(b, HRM_ERR_INVALID_ARG, "bench: too many scratch buffers");
        return p;
    }
    hrm_status s = b->f->buffer_alloc(b->ctx.dev, count * 4, &p.buf);
    if (s != HRM_OK) {
        bench_fail(b, s, "buffer_alloc");
        p.buf = NULL;
        return p;
    }
    b->bufs[b->nbufs++] = p.buf;
    return p;
}

static void release_to(bench *b, int mark) {
    while (b->nbufs > mark) b->f->buffer_free(b->bufs[--b->nbufs]);
}

/* Uniform values in [lo, hi) from a fixed LCG: the same data on every run. */
static void random_floats(float *x, size_t n, float lo, float hi, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = lo + (hi - lo) * (float)(seed >> 8) * (1.0f / 16777216.0f);
    }
}

void bench_random(bench *b, hrm_ptr p, size_t count, float lo, float hi) {
    static float chunk[UPLOAD_CHUNK];
    if (b->status != HRM_OK) return;
    random_floats(chunk, UPLOAD_CHUNK, lo, hi, 12345u);
    for (size_t done = 0; done < count && b->status == HRM_OK;) {
        size_t n = count - done < UPLOAD_CHUNK ? count - done : UPLOAD_CHUNK;
        hrm_status s = b->f->buffer_write(p.buf, (p.off + done) * 4, chunk, n * 4);
        if (s != HRM_OK) bench_fail(b, s, "buffer_write");
        done += n;
    }
}

void bench_fill(bench *b, hrm_ptr p, size_t count, float value) {
    if (b->status != HRM_OK) return;
    hrm_status s = b->f->buffer_fill(p.buf, p.off, count, value);
    if (s != HRM_OK) bench_fail(b, s, "buffer_fill");
}

void bench_upload(bench *b, hrm_ptr p, const void *values, size_t count) {
    if (b->status != HRM_OK) return;
    hrm_status s = b->f->buffer_write(p.buf, p.off * 4, values, count * 4);
    if (s != HRM_OK) bench_fail(b, s, "buffer_write");
}

/* ---- timing ------------------------------------------------------------------------------ */

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, c = *(const double *)y;
    return (a > c) - (a < c);
}

static void summarise(double *times, int reps, timing *t) {
    qsort(times, (size_t)reps, sizeof *times, cmp_double);
    t->reps = reps;
    t->min_s = times[0];
    t->max_s = times[reps - 1];
    t->median_s = reps % 2 ? times[reps / 2] : 0.5 * (times[reps / 2 - 1] + times[reps / 2]);
}

static hrm_status call_once(bench *b, bench_fn fn, const void *arg, int on_device) {
    hrm_status s = fn(b, arg);
    if (s == HRM_OK && on_device) s = b->f->finish(b->ctx.dev);
    return s;
}

/* With a time budget: one call that alone passes it is enough; otherwise at least two (a min and a
 * max that differ), then no call that would end past the budget at the mean rate so far. */
static int over_budget(const bench *b, double total, int reps) {
    if (b->max_time <= 0 || reps == 0) return 0;
    return total >= b->max_time || (reps >= 2 && total + total / reps > b->max_time);
}

int bench_time_calls(bench *b, bench_fn fn, const void *arg, int on_device, int min_reps, const char *what,
                     timing *t) {
    if (b->status != HRM_OK) return 0;
    hrm_status s = call_once(b, fn, arg, on_device); /* warm-up */
    double total = 0;
    int reps = 0;
    if (min_reps > MAX_REPS) min_reps = MAX_REPS;
    while (s == HRM_OK && reps < MAX_REPS && (reps < min_reps || total < b->min_time) &&
           !over_budget(b, total, reps)) {
        double t0 = cli_now();
        s = call_once(b, fn, arg, on_device);
        b->times[reps] = cli_now() - t0;
        total += b->times[reps++];
    }
    if (s != HRM_OK) {
        bench_fail(b, s, what);
        return 0;
    }
    summarise(b->times, reps, t);
    return 1;
}

static int time_calls(bench *b, bench_fn fn, const void *arg, int on_device, const char *what, timing *t) {
    return bench_time_calls(b, fn, arg, on_device, b->min_reps > 0 ? b->min_reps : 3, what, t);
}

/* ---- rooflines ----------------------------------------------------------------------------- */

typedef struct host_gemm {
    CBLAS_TRANSPOSE ta, tb;
    int m, n, k;
    float *a, *b, *c;
    int64_t lda, ldb, ldc;
} host_gemm;

static hrm_status run_cblas(bench *b, const void *arg) {
    const host_gemm *g = arg;
    (void)b;
    cblas_sgemm(CblasRowMajor, g->ta, g->tb, g->m, g->n, g->k, 1.0f, g->a, (int)g->lda, g->b, (int)g->ldb, 0.0f,
                g->c, (int)g->ldc);
    return HRM_OK;
}

hrm_status bench_matmul(bench *b, const hrm_matmul_args *a) { return hrm_ctx_matmul(&b->ctx, a, b->precision); }

void bench_settle_precision(bench *b) {
    b->precision = hrm_precision_effective(hrm_ctx_matmul_precisions(&b->ctx), b->precision_asked);
}

static hrm_status run_matmul(bench *b, const void *arg) { return bench_matmul(b, arg); }

/* Stored sizes of A, B, C in floats for one batch item. */
static size_t stored_a(const hrm_matmul_args *a) { return (size_t)(a->trans_a ? a->k : a->m) * (size_t)a->lda; }
static size_t stored_b(const hrm_matmul_args *a) { return (size_t)(a->trans_b ? a->n : a->k) * (size_t)a->ldb; }
static size_t stored_c(const hrm_matmul_args *a) { return (size_t)a->m * (size_t)a->ldc; }

double bench_openblas_rate(bench *b, const hrm_matmul_args *a, double flops) {
    host_gemm g = {a->trans_a ? CblasTrans : CblasNoTrans, a->trans_b ? CblasTrans : CblasNoTrans, a->m, a->n,
                   a->k, malloc(stored_a(a) * 4), malloc(stored_b(a) * 4), malloc(stored_c(a) * 4),
                   a->lda, a->ldb, a->ldc};
    timing t;
    double rate = 0;
    if (g.a && g.b && g.c) {
        random_floats(g.a, stored_a(a), -1, 1, 1u);
        random_floats(g.b, stored_b(a), -1, 1, 2u);
        if (time_calls(b, run_cblas, &g, 0, "cblas_sgemm", &t)) rate = flops / t.median_s * 1e-9;
    }
    free(g.a);
    free(g.b);
    free(g.c);
    return rate;
}

hrm_status bench_call_copy(bench *b, const void *arg) {
    const bench_copy *c = arg;
    return b->f->buffer_copy(c->dst, 0, c->src, 0, c->bytes);
}

hrm_status bench_call_add(bench *b, const void *arg) { return b->f->add(b->ctx.dev, arg); }

static hrm_status run_memcpy(bench *b, const void *arg) {
    const bench_copy *c = arg;
    (void)b;
    memcpy(c->dst, c->src, c->bytes); /* here dst and src are host pointers */
    return HRM_OK;
}

/* Half of `bytes` copied (half read, half written), rounded to whole floats. */
static size_t copy_half(double bytes) {
    size_t half = (size_t)(bytes / 2) & ~(size_t)3;
    return half < 4 ? 4 : half;
}

/* The backend's buffer_copy moving the same total bytes; GB/s counting read + written. */
static double copy_rate(bench *b, double bytes) {
    size_t half = copy_half(bytes);
    int mark = b->nbufs;
    hrm_ptr src = bench_take(b, half / 4), dst = bench_take(b, half / 4);
    bench_copy c = {dst.buf, src.buf, half};
    timing t;
    double rate = 0;
    bench_fill(b, src, half / 4, 1.0f);
    if (time_calls(b, bench_call_copy, &c, 1, "buffer_copy (roofline)", &t)) rate = 2.0 * (double)half / t.median_s * 1e-9;
    release_to(b, mark);
    return rate;
}

static double memcpy_rate(bench *b, double bytes) {
    size_t half = copy_half(bytes);
    bench_copy c = {malloc(half), malloc(half), half};
    timing t;
    double rate = 0;
    if (c.dst && c.src) {
        memset(c.src, 1, half);
        memset(c.dst, 0, half);
        if (time_calls(b, run_memcpy, &c, 0, "memcpy", &t)) rate = 2.0 * (double)half / t.median_s * 1e-9;
    }
    free(c.dst);
    free(c.src);
    return rate;
}

/* ---- measurements -------------------------------------------------------------------------- */

static void set_fraction(bench_entry *e) { e->fraction = e->roofline > 0 ? e->rate / e->roofline : -1; }

/* The suite (b->use_peak) rates every op against the device's peak, measured once, and skips the
 * per-shape rooflines, which would double its run time. */
static int against_peak(const bench *b) { return b->use_peak; }

void measure_gemm(bench *b, bench_entry *e, const hrm_matmul_args *a) {
    e->work = 2.0 * a->m * a->n * (double)a->k * a->batch;
    if (!time_calls(b, run_matmul, a, 1, "matmul", &e->t)) return;
    e->rate = e->work / e->t.median_s * 1e-9;
    e->roofline = against_peak(b) ? b->peak_gflops : bench_openblas_rate(b, a, e->work);
    set_fraction(e);
}

void measure_flops(bench *b, bench_entry *e, bench_fn fn, const void *arg, double flops) {
    e->work = flops;
    if (!time_calls(b, fn, arg, 1, e->op, &e->t)) return;
    e->rate = flops / e->t.median_s * 1e-9;
    e->roofline = against_peak(b) ? b->peak_gflops : b->gemm_rate;
    set_fraction(e);
}

void measure_bytes(bench *b, bench_entry *e, bench_fn fn, const void *arg, double bytes) {
    e->work = bytes;
    /* decided before timing, so that a failed entry still names the roof it would have had */
    e->resident = against_peak(b) && bytes <= BENCH_RESIDENT_MAX_BYTES;
    if (!time_calls(b, fn, arg, 1, e->op, &e->t)) return;
    e->rate = bytes / e->t.median_s * 1e-9;
    if (against_peak(b)) {
        e->roofline = e->resident ? b->peak_gbps_resident : b->peak_gbps;
    } else {
        e->roofline = copy_rate(b, bytes);
        e->memcpy_gbps = memcpy_rate(b, bytes);
    }
    set_fraction(e);
}

bench_entry *bench_begin(bench *b, op_kind kind, const char *op, const char *shape_fmt, ...) {
    /* the cases are a fixed list shorter than BENCH_MAX_ENTRIES; a longer one reuses the last */
    bench_entry *e = &b->entries[b->count < BENCH_MAX_ENTRIES ? b->count++ : BENCH_MAX_ENTRIES - 1];
    va_list ap;
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->fraction = -1;
    snprintf(e->op, sizeof e->op, "%s", op);
    va_start(ap, shape_fmt);
    vsnprintf(e->shape, sizeof e->shape, shape_fmt, ap);
    va_end(ap);
    b->status = HRM_OK;
    b->error[0] = 0;
    return e;
}

static void print_progress(const bench *b, const bench_entry *e) {
    static const char *peak_name[] = {"GEMM peak", "GEMM peak", "bandwidth peak", "bandwidth peak"};
    fprintf(stderr, "hrm bench ops: [%2d] %-20s %-30s ", b->count, e->op, e->shape);
    if (e->error[0])
        fprintf(stderr, "error: %s\n", e->error);
    else if (e->fraction >= 0)
        fprintf(stderr, "%9.2f %-7s %6.1f%% of %s\n", e->rate, kind_unit[e->kind], 100 * e->fraction,
                !against_peak(b) ? roofline_name[e->kind]
                : e->resident    ? "activation-sized bandwidth peak"
                                 : peak_name[e->kind]);
    else
        fprintf(stderr, "%9.2f %-7s (no roofline)\n", e->rate, kind_unit[e->kind]);
}

void bench_end(bench *b, bench_entry *e) {
    if (b->status != HRM_OK) snprintf(e->error, sizeof e->error, "%s", b->error);
    if (b->status != HRM_OK) e->err_status = b->status;
    b->status = HRM_OK;
    if (b->on_entry)
        b->on_entry(b->on_entry_ctx, b, e);
    else
        print_progress(b, e);
}

void bench_release(bench *b) { release_to(b, 0); }

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
    printf("%9.2f %-7s %9.2f ", e->rate, kind_unit[e->kind], e->roofline);
    if (e->fraction >= 0)
        printf("%6.1f%% of %-9s", 100 * e->fraction, roofline_name[e->kind]);
    else
        printf("%6s    %-9s", "-", roofline_name[e->kind]);
    printf(" %10.3f %10.3f %5d", 1e3 * e->t.median_s, 1e3 * e->t.min_s, e->t.reps);
    if (rated_in_bytes(e->kind)) printf(" %8.2f", e->memcpy_gbps);
    printf("\n");
}

static void print_table(const bench *b) {
    printf("hrm bench ops: backend %s (%s)\n", b->ctx.plugin.name, b->ctx.plugin.path);
    printf("device %d: %s | %s | %s\n", b->ctx.device_index, b->info.name, b->info.vendor, b->info.driver);
    printf("batch %d at S=%d (%d rows), batch %d at S=%d; >= %.2f s and 3 calls per measurement%s\n\n", b->batch,
           BENCH_SEQ, b->batch * BENCH_SEQ, b->batch_long, BENCH_SEQ_LONG, b->min_time, b->quick ? " (quick)" : "");
    printf("%-20s %-30s %9s %-7s %9s %-20s %10s %10s %5s %8s\n", "op", "shape", "rate", "", "roofline",
           "  fraction", "median ms", "min ms", "reps", "memcpy GB/s");
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
                              targets[i].threshold, "pass", target_pass(&r), "ops", r.ops, "below",
                              r.below);
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
                     d->compute_units, "validated", d->validated, "note", d->note, "config", "batch", b->batch,
                     "seq", BENCH_SEQ, "batch_long", b->batch_long, "seq_long", BENCH_SEQ_LONG, "adam_params",
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
    [OPT_PRECISION] = {"--matmul-precision", "P", "highest (fp32, default), high (tf32) or medium (bf16) operands of\n"
                                                   "every matmul; a device without that unit runs the next higher one"},
};

static const char *about =
    "Times every backend op at the shapes HRM uses (Sudoku S=82, Maze S=901) and prints each\n"
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
                  about, options,
                  NUM_OPTS);
        return CLI_EXIT_OK;
    }
    if (r == CLI_BAD || !configure(&b, prog, v)) return CLI_EXIT_USAGE;
    b.times = malloc(MAX_REPS * sizeof *b.times);
    if (!b.times) {
        cli_error(prog, "out of memory");
        return CLI_EXIT_FAIL;
    }
    r = run(&b, prog, v[OPT_BACKEND], v[OPT_JSON]);
    free(b.times);
    return r;
}
