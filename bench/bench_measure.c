/* bench/bench_measure.c - how `hrm bench ops` and the `hrm bench` suite measure (bench_ops.h):
 * scratch buffers and their contents, the timing loop, the per-shape rooflines (cblas_sgemm on
 * host memory, the backend's own matmul and buffer_copy), one entry per case (bench_begin,
 * measure_*, bench_end) and its progress line. The cases are bench_cases.c; the command that runs
 * and reports them is bench_ops.c.
 *
 * A measurement: one warm-up call, then calls until at least min_time seconds and 3 calls have
 * passed; each call is timed on the monotonic clock up to the return of finish(); the median
 * (and the minimum) is reported. A failed op becomes an entry with an error, never a gap. */
#include "bench_ops.h"
#include "cli.h"

#include <cblas.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPS BENCH_MAX_REPS
#define UPLOAD_CHUNK 65536 /* floats per buffer_write when uploading random data */

const char *const bench_kind_unit[4] = {"GFLOP/s", "GFLOP/s", "GB/s", "GB/s"};
const char *const bench_roofline_name[4] = {"OpenBLAS", "GEMM rate", "copy", "copy"};

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

int bench_time_calls(bench *b, bench_fn fn, const void *arg, int on_device, int min_reps, const char *what, timing *t) {
    if (b->status != HRM_OK) return 0;
    hrm_status s = call_once(b, fn, arg, on_device); /* warm-up */
    double total = 0;
    int reps = 0;
    if (min_reps > MAX_REPS) min_reps = MAX_REPS;
    while (s == HRM_OK && reps < MAX_REPS && (reps < min_reps || total < b->min_time) && !over_budget(b, total, reps)) {
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
    cblas_sgemm(CblasRowMajor, g->ta, g->tb, g->m, g->n, g->k, 1.0f, g->a, (int)g->lda, g->b, (int)g->ldb, 0.0f, g->c,
                (int)g->ldc);
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
    host_gemm g = {a->trans_a ? CblasTrans : CblasNoTrans,
                   a->trans_b ? CblasTrans : CblasNoTrans,
                   a->m,
                   a->n,
                   a->k,
                   malloc(stored_a(a) * 4),
                   malloc(stored_b(a) * 4),
                   malloc(stored_c(a) * 4),
                   a->lda,
                   a->ldb,
                   a->ldc};
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
    if (time_calls(b, bench_call_copy, &c, 1, "buffer_copy (roofline)", &t))
        rate = 2.0 * (double)half / t.median_s * 1e-9;
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
        fprintf(stderr, "%9.2f %-7s %6.1f%% of %s\n", e->rate, bench_kind_unit[e->kind], 100 * e->fraction,
                !against_peak(b) ? bench_roofline_name[e->kind]
                : e->resident    ? "activation-sized bandwidth peak"
                                 : peak_name[e->kind]);
    else
        fprintf(stderr, "%9.2f %-7s (no roofline)\n", e->rate, bench_kind_unit[e->kind]);
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
