/* bench/bench_peak.c - the device's peak, probed through the backend ABI: the denominators of the
 * `hrm bench` suite's fractions (ops against it, models' MFU against its GEMM rate).
 *
 * The method follows clpeak (github.com/krrishnarraj/clpeak: a compute roof and a global-memory
 * bandwidth roof, each from a kernel repeated enough times to dwarf launch costs) and mixbench
 * (github.com/ekondis/mixbench: one roof for FLOPs, one for bytes, a kernel's place between them
 * set by its FLOPs per byte). Unlike them, no kernel is written here: the roofs are those the
 * backend's own ops reach, because those ops are all HRM can use on the device. `hrm bench train`
 * (bench_train.c) takes its MFU denominator from the same GEMM probe. So:
 *   compute roof   fp32 GEMM, C = A B, square, through `matmul`, at the fastest size: sizes double
 *                  from 256 until one call takes GEMM_TARGET_S or reaches GEMM_MAX_N (so a GPU
 *                  gets a GEMM big enough to fill it and a slow device does not spend minutes on
 *                  one call), and the one with the best rate among those whose call is long
 *                  enough for launch costs not to count (GEMM_MIN_CALL_S) is timed: a GEMM tuned
 *                  for GPUs on a CPU device (CLBlast on PoCL) is fastest at 1024, not at 2048;
 *   bandwidth roof the better of `buffer_copy` (bytes read + written, 2 x buffer) and `add` a + b
 *                  (3 x buffer), STREAM's Copy and Add counting (McCalpin); buffers of
 *                  BW_BYTES, far beyond the caches of today's CPUs and GPUs, so the roof is
 *                  device memory and not a cache;
 *   activation-sized bandwidth roof
 *                  `add` a + b (3 x buffer, as above) on operands of ACT_ROWS x BENCH_DIM floats
 *                  (2624 x 512, 5.1 MiB: one activation of the suite's ops at batch 32), called
 *                  again and again on the same buffers, as the suite calls its elementwise and row
 *                  ops: most of their working sets (5-21 MiB; swiglu's 46-77 MiB are the
 *                  exception) stay in a cache of tens of MiB (a CPU's L3, the 50 MB L2 of an
 *                  H100), so the DRAM roof would put them at several times 100%. Where the cache
 *                  is smaller this roof comes out near the DRAM one.
 * Each is a bench_time_calls measurement (warm-up, repeats, median); the roof is its median rate,
 * not its best call, so that fractions are not flattered by one lucky call. */
#include "bench_suite.h"
#include "cli.h"

#include <math.h>
#include <string.h>

#define GEMM_MIN_N 256
#define GEMM_MAX_N 8192 /* 3 x 256 MiB; 1.1 TFLOP a call, tens of ms on the largest GPUs */
#define GEMM_TARGET_S 0.2
#define GEMM_MIN_CALL_S 0.01
#define BW_BYTES ((size_t)256 << 20) /* per buffer; halved on out-of-memory down to BW_MIN_BYTES */
#define BW_MIN_BYTES ((size_t)16 << 20)
#define ACT_ROWS (BENCH_SUITE_BATCH * BENCH_SEQ) /* 2624 */

static bench_status status_of(hrm_status s) { return s == HRM_ERR_UNSUPPORTED ? BENCH_UNSUPPORTED : BENCH_FAILED; }

/* A failed probe still leaves a result, with the backend's reason. */
static void record_failure(bench *b, bench_result *r) {
    bench_result_set_reason(r, status_of(b->status), "%s", b->error[0] ? b->error : "failed");
    b->status = HRM_OK;
}

/* Median, slowest and fastest calls of t as rates of `work` per second, scaled by `unit`. */
static void set_rates(bench_result *r, const timing *t, double work, double unit) {
    r->median = work / t->median_s * unit;
    r->min = work / t->max_s * unit;
    r->max = work / t->min_s * unit;
    r->repeats = t->reps;
}

/* ---- compute roof ------------------------------------------------------------------------------ */

static hrm_status run_matmul(bench *b, const void *arg) { return bench_matmul(b, arg); }

/* Fresh buffers for an n^3 GEMM, random inputs (constant ones would let some devices draw less
 * power and clock higher than they do on real data). Returns 0 when they could not be made. */
static int gemm_setup(bench *b, hrm_matmul_args *a, int n) {
    size_t nn = (size_t)n * (size_t)n;
    bench_release(b);
    b->status = HRM_OK;
    *a = (hrm_matmul_args){
        .m = n, .n = n, .k = n, .alpha = 1.0f, .beta = 0.0f, .lda = n, .ldb = n, .ldc = n, .batch = 1};
    a->a = bench_take(b, nn);
    a->b = bench_take(b, nn);
    a->c = bench_take(b, nn);
    bench_random(b, a->a, nn, -1, 1);
    bench_random(b, a->b, nn, -1, 1);
    return b->status == HRM_OK;
}

/* Seconds of one call, after one untimed call (the first at a size may compile or tune kernels). */
static double gemm_call_time(bench *b, const hrm_matmul_args *a) {
    double t0 = 0;
    for (int i = 0; i < 2 && b->status == HRM_OK; i++) {
        t0 = cli_now();
        bench_fail(b, bench_matmul(b, a), "matmul");
        bench_fail(b, b->f->finish(b->ctx.dev), "finish");
    }
    return cli_now() - t0;
}

/* The size to time (see the head of the file); 0 if none ran. *largest gets the last size tried. */
static int gemm_size(bench *b, hrm_matmul_args *a, int *largest) {
    int best = 0, last = 0;
    double best_rate = 0;
    for (int n = GEMM_MIN_N; n <= GEMM_MAX_N; n *= 2) {
        if (!gemm_setup(b, a, n)) break;
        double t = gemm_call_time(b, a);
        if (b->status != HRM_OK) break;
        double rate = 2.0 * n * (double)n * n / t;
        last = n;
        if (t >= GEMM_MIN_CALL_S && rate > best_rate) best = n, best_rate = rate;
        if (t >= GEMM_TARGET_S) break;
    }
    if (!best) best = last; /* every call was short: the device is fast, take the largest */
    *largest = last;
    /* a larger size ran last, or did not fit or failed: back to the chosen one */
    if (best && (a->m != best || b->status != HRM_OK) && !gemm_setup(b, a, best)) return 0;
    return best;
}

/* Times an n^3 GEMM into r; returns 1 when it ran. */
static int time_gemm(bench *b, const bench_run *run, hrm_matmul_args *a, int n, bench_result *r) {
    timing t;
    snprintf(r->detail, sizeof r->detail, "matmul m=n=k=%d NN, batch 1: the fastest size of %d..%d", n, GEMM_MIN_N,
             run->gemm_largest);
    if (!n || !bench_time_calls(b, run_matmul, a, 1, b->min_reps, "matmul", &t)) {
        record_failure(b, r);
        return 0;
    }
    set_rates(r, &t, 2.0 * n * (double)n * n, 1e-9);
    return 1;
}

void bench_peak_gemm(bench *b, bench_run *run) {
    bench_result *r = bench_run_add(run, "peak", "GFLOP/s", "peak gemm %s", hrm_precision_format(b->precision));
    hrm_matmul_args a;
    if (!r) return;
    run->gemm_n = gemm_size(b, &a, &run->gemm_largest);
    if (time_gemm(b, run, &a, run->gemm_n, r)) run->peak_gflops = r->median;
    bench_release(b);
}

int bench_peak_gemm_again(bench *b, const bench_run *run, bench_result *again) {
    hrm_matmul_args a;
    memset(again, 0, sizeof *again);
    b->status = HRM_OK;
    int ok = run->gemm_n && gemm_setup(b, &a, run->gemm_n) && time_gemm(b, run, &a, run->gemm_n, again);
    bench_release(b);
    b->status = HRM_OK;
    return ok;
}

/* ---- bandwidth roof ----------------------------------------------------------------------------- */

/* Takes `count` buffers of one size, the largest from BW_BYTES down that the device gives, each
 * filled with `value`; returns the size, or 0. */
static size_t take_buffers(bench *b, hrm_ptr *p, int count) {
    for (size_t bytes = BW_BYTES; bytes >= BW_MIN_BYTES; bytes /= 2) {
        bench_release(b);
        b->status = HRM_OK;
        for (int i = 0; i < count; i++) {
            p[i] = bench_take(b, bytes / 4);
            bench_fill(b, p[i], bytes / 4, 1.0f + (float)i);
        }
        if (b->status == HRM_OK) return bytes;
        if (b->status != HRM_ERR_OUT_OF_MEMORY) return 0;
    }
    return 0;
}

static void probe_copy(bench *b, bench_run *run) {
    bench_result *r = bench_run_add(run, "peak", "GB/s", "peak copy bandwidth");
    hrm_ptr p[2];
    timing t;
    if (!r) return;
    size_t bytes = take_buffers(b, p, 2);
    bench_copy c = {p[1].buf, p[0].buf, bytes};
    snprintf(r->detail, sizeof r->detail, "buffer_copy of %zu MiB; read + written bytes", bytes >> 20);
    if (bytes && bench_time_calls(b, bench_call_copy, &c, 1, b->min_reps, "buffer_copy", &t))
        set_rates(r, &t, 2.0 * (double)bytes, 1e-9);
    else
        record_failure(b, r);
    bench_release(b);
}

/* Times a (when ready: its buffers were taken) into r, counting its three operands' bytes, then
 * frees the buffers. */
static void time_add(bench *b, bench_result *r, const hrm_add_args *a, int ready) {
    timing t;
    if (ready && bench_time_calls(b, bench_call_add, a, 1, b->min_reps, "add", &t))
        set_rates(r, &t, 3.0 * 4.0 * (double)a->n, 1e-9);
    else
        record_failure(b, r);
    bench_release(b);
}

static void probe_add(bench *b, bench_run *run) {
    bench_result *r = bench_run_add(run, "peak", "GB/s", "peak add bandwidth");
    hrm_ptr p[3];
    if (!r) return;
    size_t bytes = take_buffers(b, p, 3);
    hrm_add_args a = {.n = (int64_t)(bytes / 4), .out = p[2], .a = p[0], .b = p[1]};
    snprintf(r->detail, sizeof r->detail, "add out = a + b, 3 x %zu MiB; read + written bytes", bytes >> 20);
    time_add(b, r, &a, bytes != 0);
}

/* The same add, warm, on activation-sized operands (the head of the file); returns its result. */
static bench_result *probe_add_resident(bench *b, bench_run *run) {
    bench_result *r = bench_run_add(run, "peak", "GB/s", "peak add bandwidth, activation-sized");
    const size_t n = (size_t)ACT_ROWS * BENCH_DIM;
    if (!r) return NULL;
    bench_release(b);
    b->status = HRM_OK;
    hrm_add_args a = {.n = (int64_t)n, .out = bench_take(b, n), .a = bench_take(b, n), .b = bench_take(b, n)};
    bench_fill(b, a.a, n, 1.0f);
    bench_fill(b, a.b, n, 2.0f);
    snprintf(r->detail, sizeof r->detail,
             "add out = a + b, 3 x %dx%d floats (%.1f MiB each), warm; read + written bytes", ACT_ROWS, BENCH_DIM,
             (double)(n * 4) / (1 << 20));
    time_add(b, r, &a, b->status == HRM_OK);
    return r;
}

void bench_peak_probe(bench *b, bench_run *run) {
    run->peak_gflops = run->peak_gbps = run->peak_gbps_resident = 0;
    bench_peak_gemm(b, run);
    probe_copy(b, run);
    probe_add(b, run);
    /* the DRAM roof: the better of copy and add above */
    for (int i = 0; i < run->count; i++) {
        const bench_result *r = &run->results[i];
        if (!strcmp(r->unit, "GB/s") && r->status == BENCH_OK && r->median > run->peak_gbps) run->peak_gbps = r->median;
    }
    const bench_result *r = probe_add_resident(b, run);
    if (r && r->status == BENCH_OK) run->peak_gbps_resident = r->median;
}
