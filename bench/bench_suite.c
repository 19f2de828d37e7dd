/* bench/bench_suite.c - `hrm bench`: the cross-vendor benchmark. On every usable backend and each
 * of its devices (or the ones named), in one bounded run:
 *   1. the device's peak through the backend ABI (bench_peak.c): fp32 GEMM rate, memory bandwidth,
 *      activation-sized bandwidth;
 *   2. every HRM op at the published Sudoku shapes (bench_cases.c, batch 32) as a fraction of
 *      that peak: GEMM and attention of the GEMM rate, the rest of a bandwidth: the
 *      activation-sized one (an `add` on activation-sized buffers, which a large cache holds)
 *      for ops that move up to BENCH_RESIDENT_MAX_BYTES a call, the memory one for larger ones;
 *   3. a training step and an evaluation segment of the small and of the published Sudoku model
 *      (bench_train.c; TRM's models are `hrm bench train`'s only): samples/s, MFU against the GEMM
 *      peak of step 1, peak device memory;
 *   4. the memory check: the small model's training memory at H_cycles x L_cycles 8x8 against 2x2.
 * Every measurement warms up, repeats and reports median, min and max (bench_time_calls), inside
 * a per-measurement time bound so that a slow device (OpenCL on a CPU through PoCL) finishes in
 * minutes: repeats stop at the bound, and a model whose training step, predicted from the small
 * model's measured rate, would take longer than the mode allows is skipped with an entry saying
 * so. A readable table goes to stdout per device, one progress line per measurement to stderr,
 * and the results to a JSON file (bench_json.c) that --compare and `hrm bench plot` read back. */
#include "bench.h"
#include "bench_suite.h"
#include "bench_train.h"
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BENCH_MAX_RESULTS 128 /* per run; the suite makes about 45 */
#define NAME_W 36             /* the name column: the longest name today, "peak add bandwidth, activation-sized" */
#define MEMORY_MODEL 0        /* the small model: the check is about the cycles, not the size */
#define MEMORY_BATCH 2
#define MEMORY_CYCLES 8

/* How long a measurement may run. Repeats go on until min_reps calls and min_time seconds, and
 * stop at max_time (bench_time_calls); skip_s bounds a model's predicted training step. */
typedef struct phase {
    double min_time;
    int min_reps;
    double max_time;
} phase;

typedef struct mode {
    const char *name;
    phase peak, ops, models;
    double skip_s;
} mode;

/* Full: about 1 minute on the 2-core development VM with the CPU backend, 2 with PoCL.
 * Quick: well under a minute on the CPU backend; PoCL skips the Sudoku model. */
static const mode full_mode = {"full", {0.5, 5, 5.0}, {0.2, 5, 4.0}, {2.0, 5, 8.0}, 30.0};
static const mode quick_mode = {"quick", {0.1, 3, 1.0}, {0.05, 2, 1.0}, {0.3, 2, 2.0}, 4.0};

typedef struct target {
    char spec[4096]; /* the plugin's file, for hrm_ctx_open */
    char name[64];
    int device;
} target;

typedef struct suite {
    const char *prog;
    const mode *m;
    bench *b;
    bench_report rep;
    bench_run *run;     /* the one being measured */
    double t0;          /* when it started */
    bench_result spare; /* where results go past BENCH_MAX_RESULTS (never with today's list) */
    target *targets;
    int num_targets;
} suite;

/* ---- results ------------------------------------------------------------------------------------ */

/* A result always exists: the spare slot absorbs an overflow rather than lose the caller's writes. */
static bench_result *add(suite *S, const char *group, const char *unit, const char *name) {
    bench_result *r = bench_run_add(S->run, group, unit, "%s", name);
    if (r) return r;
    memset(&S->spare, 0, sizeof S->spare);
    return &S->spare;
}

static void set_single(bench_result *r, double value) {
    r->median = r->min = r->max = value;
    r->repeats = 1;
}

/* Rates of the median, slowest and fastest call: work per second. */
static void set_rates(bench_result *r, const timing *t, double work) {
    r->median = work / t->median_s;
    r->min = work / t->max_s;
    r->max = work / t->min_s;
    r->repeats = t->reps;
}

/* ---- progress and table ---------------------------------------------------------------------------- */

/* A value in about 5 significant digits whatever its size (GFLOP/s in the thousands, samples/s
 * below one, ratios near one). */
static const char *fmt_value(char *buf, size_t size, double v) {
    double a = fabs(v);
    if (!isfinite(v))
        snprintf(buf, size, "-");
    else if (a >= 1000)
        snprintf(buf, size, "%.0f", v);
    else if (a >= 100)
        snprintf(buf, size, "%.1f", v);
    else if (a >= 1)
        snprintf(buf, size, "%.2f", v);
    else
        snprintf(buf, size, "%.4f", v);
    return buf;
}

static void progress(const suite *S, const bench_result *r) {
    char v[32];
    fprintf(stderr, "%s: %s/%d [%4.0fs] %-*s ", S->prog, S->run->backend, S->run->device_index, cli_now() - S->t0,
            NAME_W, r->name);
    if (r->status != BENCH_OK)
        fprintf(stderr, "%s: %s\n", bench_status_name[r->status], r->reason);
    else if (isfinite(r->fraction))
        fprintf(stderr, "%s %s (%.1f%% of %s peak)\n", fmt_value(v, sizeof v, r->median), r->unit, 100 * r->fraction,
                r->peak);
    else
        fprintf(stderr, "%s %s\n", fmt_value(v, sizeof v, r->median), r->unit);
}

static void print_header(const bench_report *rep) {
    printf("hrm bench: hrm %s, commit %s, %s; host %s: %s, %d cores, %s; %s run\n", rep->hrm_version, rep->git_commit,
           rep->date, rep->hostname, rep->cpu, rep->host_cores, rep->os, rep->quick ? "quick" : "full");
    for (int i = 0; i < rep->num_skipped; i++)
        printf("skipped backend %s: %s\n", rep->skipped[i].backend, rep->skipped[i].reason);
}

static void print_result(const bench_result *r) {
    char med[32], lo[32], hi[32];
    printf("%-*s ", NAME_W, r->name);
    if (r->status != BENCH_OK) {
        printf("%s: %s\n", bench_status_name[r->status], r->reason);
        return;
    }
    printf("%10s %10s %10s %-9s %5d ", fmt_value(med, sizeof med, r->median), fmt_value(lo, sizeof lo, r->min),
           fmt_value(hi, sizeof hi, r->max), r->unit, r->repeats);
    if (isfinite(r->fraction))
        printf("%6.1f%%", 100 * r->fraction);
    else
        printf("%7s", "-");
    printf("  %s\n", r->detail);
}

static void print_run(const bench_run *run) {
    char g[32], w[32], a[32];
    printf("\n== %s / device %d: %s | %s | %s | %d compute units, %.1f GiB ==\n", run->backend, run->device_index,
           run->device, run->vendor, run->driver, run->compute_units, run->memory_gib);
    printf("peak: fp32 GEMM %s GFLOP/s, memory bandwidth %s GB/s, activation-sized bandwidth %s GB/s (medians); "
           "%.0f s\n",
           fmt_value(g, sizeof g, run->peak_gflops > 0 ? run->peak_gflops : NAN),
           fmt_value(w, sizeof w, run->peak_gbps > 0 ? run->peak_gbps : NAN),
           fmt_value(a, sizeof a, run->peak_gbps_resident > 0 ? run->peak_gbps_resident : NAN), run->wall_s);
    printf("'of peak' is against GEMM for matmul, attention and models; against the activation-sized bandwidth for "
           "ops moving up to %.0f MiB a call, the memory bandwidth for larger ones\n\n",
           BENCH_RESIDENT_MAX_BYTES / (1 << 20));
    printf("%-*s %10s %10s %10s %-9s %5s %7s  %s\n", NAME_W, "measurement", "median", "min", "max", "unit", "reps",
           "of peak", "detail");
    for (int i = 0; i < run->count; i++) print_result(&run->results[i]);
}

/* ---- --compare ------------------------------------------------------------------------------------- */

static const bench_result *find_result(const bench_run *run, const char *name) {
    for (int i = 0; i < run->count; i++)
        if (!strcmp(run->results[i].name, name)) return &run->results[i];
    return NULL;
}

/* The base run for `run`: same backend and device, else same backend, else the only one. */
static const bench_run *match_run(const bench_run *run, const bench_report *base) {
    for (int i = 0; i < base->num_runs; i++)
        if (!strcmp(base->runs[i].backend, run->backend) && !strcmp(base->runs[i].device, run->device) &&
            base->runs[i].device_index == run->device_index)
            return &base->runs[i];
    for (int i = 0; i < base->num_runs; i++)
        if (!strcmp(base->runs[i].backend, run->backend)) return &base->runs[i];
    return base->num_runs == 1 ? &base->runs[0] : NULL;
}

static void compare_run(const bench_run *run, const bench_run *old, const char *base_path) {
    char here[256], there[256], a[32], c[32];
    int both = 0, only_here = 0, only_base = 0;
    bench_run_label(run, here, sizeof here);
    bench_run_label(old, there, sizeof there);
    printf("\n== compare %s (this) with %s in %s ==\n", here, there, base_path);
    printf("%-*s %-9s %11s %11s %10s\n", NAME_W, "measurement", "unit", "this", "base", "this/base");
    for (int i = 0; i < run->count; i++) {
        const bench_result *r = &run->results[i], *o = find_result(old, r->name);
        if (!o) {
            only_here++;
            continue;
        }
        printf("%-*s %-9s ", NAME_W, r->name, r->unit);
        if (r->status != BENCH_OK || o->status != BENCH_OK)
            printf("%11s %11s %10s\n", bench_status_name[r->status], bench_status_name[o->status], "-");
        else if (strcmp(r->unit, o->unit) || !(o->median > 0))
            printf("%11s %11s %10s\n", fmt_value(a, sizeof a, r->median), fmt_value(c, sizeof c, o->median), "-");
        else
            printf("%11s %11s %10.3f\n", fmt_value(a, sizeof a, r->median), fmt_value(c, sizeof c, o->median),
                   r->median / o->median);
        both++;
    }
    for (int i = 0; i < old->count; i++) only_base += find_result(run, old->results[i].name) == NULL;
    printf("%d measurements in both, %d only in this run, %d only in the base\n", both, only_here, only_base);
}

static void print_compare(const bench_report *cur, const bench_report *base, const char *base_path) {
    printf("\ncompare with %s: hrm %s, commit %s, %s, host %s (%s run)\n", base_path, base->hrm_version,
           base->git_commit, base->date, base->hostname, base->quick ? "quick" : "full");
    for (int i = 0; i < cur->num_runs; i++) {
        const bench_run *old = match_run(&cur->runs[i], base);
        if (old)
            compare_run(&cur->runs[i], old, base_path);
        else
            printf("\n== %s/%s: no run of that backend in %s ==\n", cur->runs[i].backend, cur->runs[i].device,
                   base_path);
    }
}

/* ---- 2. the HRM ops ------------------------------------------------------------------------------- */

static const char *op_unit[] = {"GFLOP/s", "GFLOP/s", "GB/s", "GB/s"};
static const char *op_peak[] = {"gemm", "gemm", "bandwidth", "bandwidth"};

/* bench_end's hook: each finished op becomes a result as soon as it is measured. */
static void on_op(void *ctx, const bench *b, const bench_entry *e) {
    suite *S = ctx;
    char name[64];
    (void)b;
    if (e->kind == KIND_ATTENTION)
        snprintf(name, sizeof name, "op %s S=%d", e->op, e->seq);
    else
        snprintf(name, sizeof name, "op %s", e->op);
    bench_result *r = add(S, "op", op_unit[e->kind], name);
    snprintf(r->detail, sizeof r->detail, "%s", e->shape);
    snprintf(r->peak, sizeof r->peak, "%s", e->resident ? "bandwidth_resident" : op_peak[e->kind]);
    if (e->error[0]) {
        bench_result_set_reason(r, e->err_status == HRM_ERR_UNSUPPORTED ? BENCH_UNSUPPORTED : BENCH_FAILED, "%s",
                                e->error);
    } else {
        set_rates(r, &e->t, e->work * 1e-9);
        r->fraction = e->fraction >= 0 ? e->fraction : NAN;
    }
    progress(S, r);
}

static void set_phase(bench *b, const phase *p) {
    b->min_time = p->min_time;
    b->min_reps = p->min_reps;
    b->max_time = p->max_time;
}

/* Steps 1 and 2 on one opened device. */
static void run_peak_and_ops(suite *S) {
    bench *b = S->b;
    int first = S->run->count;
    set_phase(b, &S->m->peak);
    b->use_peak = 0;
    bench_peak_probe(b, S->run);
    for (int i = first; i < S->run->count; i++) progress(S, &S->run->results[i]);

    set_phase(b, &S->m->ops);
    b->use_peak = 1;
    b->peak_gflops = S->run->peak_gflops;
    b->peak_gbps = S->run->peak_gbps;
    b->peak_gbps_resident = S->run->peak_gbps_resident;
    b->batch = BENCH_SUITE_BATCH;
    b->batch_long = BENCH_SUITE_BATCH / 8;
    b->adam_params = BENCH_PARAMS;
    b->quick = S->m == &quick_mode;
    b->count = 0;
    b->on_entry = on_op;
    b->on_entry_ctx = S;
    bench_all_cases(b);
    b->on_entry = NULL;
    b->use_peak = 0;
}

/* ---- 3. the models ------------------------------------------------------------------------------- */

static void fail_all(bench_result **r, int n, bench_status status, const char *reason) {
    for (int i = 0; i < n; i++) bench_result_set_reason(r[i], status, "%s", reason);
}

/* One model's three results; *step_s gets its median training step (0 when not measured). */
static void run_model(suite *S, const target *t, int model, double predicted_s, double *step_s) {
    const char *name = bench_model_name(model);
    char label[64], reason[400];
    int batch = bench_model_default_batch(model);
    double train_flops, eval_flops;
    bench_model_flops(model, batch, &train_flops, &eval_flops);
    bench_result *r[3];
    snprintf(label, sizeof label, "train step %s", name);
    r[0] = add(S, "model", "samples/s", label);
    snprintf(label, sizeof label, "eval segment %s", name);
    r[1] = add(S, "model", "samples/s", label);
    snprintf(label, sizeof label, "peak memory %s", name);
    r[2] = add(S, "model", "MiB", label);
    snprintf(r[0]->detail, sizeof r[0]->detail, "%s; batch %d, 2x2 cycles, %.2f GFLOP/sample; MFU as of peak",
             bench_model_about(model), batch, train_flops / batch * 1e-9);
    snprintf(r[1]->detail, sizeof r[1]->detail, "batch %d, one ACT segment, %.2f GFLOP/sample; MFU as of peak", batch,
             eval_flops / batch * 1e-9);
    snprintf(r[2]->detail, sizeof r[2]->detail, "backend high-water mark after the timed steps and segments");
    snprintf(r[0]->peak, sizeof r[0]->peak, "gemm");
    snprintf(r[1]->peak, sizeof r[1]->peak, "gemm");
    *step_s = 0;

    if (predicted_s > S->m->skip_s) {
        snprintf(reason, sizeof reason,
                 "skipped by the time bound: one training step would take about %.0f s here (predicted from the "
                 "small model's rate), over the %.0f s a %s run allows",
                 predicted_s, S->m->skip_s, S->m->name);
        fail_all(r, 3, BENCH_UNSUPPORTED, reason);
    } else {
        bench_model_opts o = {.backend = t->spec,
                              .device = t->device,
                              .min_reps = S->m->models.min_reps,
                              .min_time = S->m->models.min_time};
        bench_model_result m;
        fprintf(stderr, "%s: %s/%d [%4.0fs] %s model: building, then timing training steps and segments ...\n", S->prog,
                S->run->backend, S->run->device_index, cli_now() - S->t0, name);
        set_phase(S->b, &S->m->models);
        if (!bench_model_throughput(S->b, &o, model, &m)) {
            fail_all(r, 3, BENCH_FAILED, m.error);
        } else {
            set_rates(r[0], &m.train, batch);
            set_rates(r[1], &m.eval, batch);
            if (S->run->peak_gflops > 0) {
                r[0]->fraction = train_flops / m.train.median_s * 1e-9 / S->run->peak_gflops;
                r[1]->fraction = eval_flops / m.eval.median_s * 1e-9 / S->run->peak_gflops;
            }
            if (m.mem_peak)
                set_single(r[2], (double)m.mem_peak / (1 << 20));
            else
                bench_result_set_reason(r[2], BENCH_UNSUPPORTED, "the backend's memory_usage gave nothing");
            *step_s = m.train.median_s;
        }
    }
    for (int i = 0; i < 3; i++) progress(S, r[i]);
}

static void run_models(suite *S, const target *t) {
    double small_s = 0, small_flops = 0, eval_flops;
    /* model 0 is the small one: its measured step predicts the larger model's on this device */
    for (int model = 0; model < BENCH_SUITE_MODELS; model++) {
        double flops, step_s;
        bench_model_flops(model, bench_model_default_batch(model), &flops, &eval_flops);
        double predicted = small_s > 0 ? small_s * flops / small_flops : 0;
        run_model(S, t, model, predicted, &step_s);
        if (model == 0) small_s = step_s, small_flops = flops;
    }
}

/* ---- 4. the memory check ------------------------------------------------------------------------ */

static void run_memory_check(suite *S, const target *t) {
    const char *name = bench_model_name(MEMORY_MODEL);
    char label[64], err[640];
    bench_model_opts o = {.backend = t->spec, .device = t->device};
    uint64_t peak[2] = {0, 0};
    int cycles[2] = {2, MEMORY_CYCLES}, ok[2];
    bench_result *r[2];
    for (int i = 0; i < 2; i++) {
        snprintf(label, sizeof label, "memory %dx%d %s", cycles[i], cycles[i], name);
        r[i] = add(S, "memory", "MiB", label);
        snprintf(r[i]->detail, sizeof r[i]->detail,
                 "training step + eval segment at H_cycles x L_cycles = %dx%d, batch %d, fresh device", cycles[i],
                 cycles[i], MEMORY_BATCH);
        ok[i] = bench_model_memory(&o, MEMORY_MODEL, MEMORY_BATCH, cycles[i], cycles[i], &peak[i], err, sizeof err);
        if (ok[i])
            set_single(r[i], (double)peak[i] / (1 << 20));
        else
            bench_result_set_reason(r[i], BENCH_FAILED, "%s", err);
        progress(S, r[i]);
    }
    snprintf(label, sizeof label, "memory growth %dx%d/2x2 %s", MEMORY_CYCLES, MEMORY_CYCLES, name);
    bench_result *g = add(S, "memory", "ratio", label);
    snprintf(g->detail, sizeof g->detail, "peak training memory at %dx%d over 2x2 cycles; must be 1", MEMORY_CYCLES,
             MEMORY_CYCLES);
    if (!ok[0] || !ok[1] || !peak[0]) {
        bench_result_set_reason(g, BENCH_FAILED, "%s",
                                !ok[0] || !ok[1] ? "a memory measurement failed" : "the backend reports no memory use");
    } else {
        set_single(g, (double)peak[1] / (double)peak[0]);
        if (peak[1] > peak[0])
            bench_result_set_reason(g, BENCH_FAILED,
                                    "training memory grows with the cycles: %.1f MiB at 2x2, %.1f MiB at %dx%d",
                                    r[0]->median, r[1]->median, MEMORY_CYCLES, MEMORY_CYCLES);
    }
    progress(S, g);
}

/* ---- 1 again: the GEMM peak after the rest ------------------------------------------------------- */

/* Other work on a shared machine can slow the first probe and make every fraction look better than
 * it is; the probe runs again at the end and the better median is the peak, as `hrm bench train`
 * takes the better of its peak before and after. Fractions already computed are rescaled. */
static void recheck_gemm_peak(suite *S, const target *t) {
    char err[512];
    bench *b = S->b;
    bench_result again, *first = NULL;
    for (int i = 0; i < S->run->count; i++)
        if (!strcmp(S->run->results[i].name, "peak gemm fp32")) first = &S->run->results[i];
    if (!first || first->status != BENCH_OK) return;
    if (hrm_ctx_open(t->spec, t->device, hrm_default_host(), &b->ctx, err, sizeof err) != HRM_OK) return;
    b->f = b->ctx.f;
    set_phase(b, &S->m->peak);
    int ok = bench_peak_gemm_again(b, S->run, &again);
    hrm_ctx_close(&b->ctx);
    memset(&b->ctx, 0, sizeof b->ctx);
    b->f = NULL;
    if (!ok) return;
    fprintf(stderr, "%s: %s/%d [%4.0fs] %-*s %.2f GFLOP/s (first probe %.2f; the better one is the peak)\n", S->prog,
            S->run->backend, S->run->device_index, cli_now() - S->t0, NAME_W, "peak gemm fp32, again", again.median,
            first->median);
    size_t len = strlen(first->detail);
    snprintf(first->detail + len, sizeof first->detail - len, "; better of 2 probes (first, last)");
    if (again.median <= first->median) return;
    double scale = first->median / again.median;
    for (int i = 0; i < S->run->count; i++)
        if (!strcmp(S->run->results[i].peak, "gemm")) S->run->results[i].fraction *= scale;
    first->median = again.median;
    first->min = again.min;
    first->max = again.max;
    first->repeats = again.repeats;
    S->run->peak_gflops = again.median;
}

/* ---- one device ----------------------------------------------------------------------------------- */

static bench_run *new_run(suite *S, const target *t) {
    bench_run *runs = realloc(S->rep.runs, (size_t)(S->rep.num_runs + 1) * sizeof *runs);
    if (!runs) return NULL;
    S->rep.runs = runs;
    bench_run *run = &runs[S->rep.num_runs];
    memset(run, 0, sizeof *run);
    run->results = calloc(BENCH_MAX_RESULTS, sizeof *run->results);
    if (!run->results) return NULL;
    run->cap = BENCH_MAX_RESULTS;
    S->rep.num_runs++;
    snprintf(run->backend, sizeof run->backend, "%s", t->name);
    snprintf(run->backend_path, sizeof run->backend_path, "%s", t->spec);
    snprintf(run->device, sizeof run->device, "device %d", t->device);
    run->device_index = t->device;
    return run;
}

static void describe_device(bench_run *run, const hrm_ctx *ctx) {
    hrm_device_info info;
    memset(&info, 0, sizeof info);
    snprintf(run->backend, sizeof run->backend, "%s", ctx->plugin.name);
    if (ctx->f->device_info(ctx->be, ctx->device_index, &info) != HRM_OK) return;
    snprintf(run->device, sizeof run->device, "%s", info.name);
    snprintf(run->vendor, sizeof run->vendor, "%s", info.vendor);
    snprintf(run->driver, sizeof run->driver, "%s", info.driver);
    run->memory_gib = (double)info.memory_bytes / (1u << 30);
    run->compute_units = info.compute_units;
}

/* Returns 0 only when host memory ran out. */
static int run_target(suite *S, const target *t) {
    char err[512];
    bench *b = S->b;
    S->run = new_run(S, t);
    if (!S->run) return 0;
    S->t0 = cli_now();
    hrm_status st = hrm_ctx_open(t->spec, t->device, hrm_default_host(), &b->ctx, err, sizeof err);
    if (st != HRM_OK) {
        bench_result *r = add(S, "peak", "GFLOP/s", "peak gemm fp32");
        bench_result_set_reason(r, BENCH_FAILED, "cannot open the device: %s", err);
        progress(S, r);
    } else {
        describe_device(S->run, &b->ctx);
        b->f = b->ctx.f;
        b->status = HRM_OK;
        run_peak_and_ops(S);
        hrm_ctx_close(&b->ctx);
        memset(&b->ctx, 0, sizeof b->ctx);
        b->f = NULL;
        run_models(S, t);
        run_memory_check(S, t);
        recheck_gemm_peak(S, t);
    }
    S->run->wall_s = cli_now() - S->t0;
    print_run(S->run);
    fflush(stdout);
    return 1;
}

/* ---- which devices -------------------------------------------------------------------------------- */

static int add_target(suite *S, const char *spec, const char *name, int device) {
    target *ts = realloc(S->targets, (size_t)(S->num_targets + 1) * sizeof *ts);
    if (!ts) return 0;
    S->targets = ts;
    snprintf(ts[S->num_targets].spec, sizeof ts->spec, "%s", spec);
    snprintf(ts[S->num_targets].name, sizeof ts->name, "%s", name);
    ts[S->num_targets++].device = device;
    return 1;
}

static int add_skipped(suite *S, const char *backend, const char *reason) {
    bench_skipped *s = realloc(S->rep.skipped, (size_t)(S->rep.num_skipped + 1) * sizeof *s);
    if (!s) return 0;
    S->rep.skipped = s;
    snprintf(s[S->rep.num_skipped].backend, sizeof s->backend, "%s", backend);
    snprintf(s[S->rep.num_skipped++].reason, sizeof s->reason, "%s", reason);
    return 1;
}

/* The devices of one created backend: all, or the one that `device` names (an index or a part of
 * its name, as everywhere in hrm: hrm_device_match); a backend without it is listed as skipped. */
static int add_devices(suite *S, const char *spec, const char *name, const hrm_backend_iface *f, hrm_backend *be,
                       const char *device) {
    int n = f->device_count(be);
    if (!device) {
        for (int d = 0; d < n; d++)
            if (!add_target(S, spec, name, d)) return 0;
        return 1;
    }
    hrm_device_info *info = calloc((size_t)(n > 0 ? n : 1), sizeof *info);
    char err[600];
    if (!info) return 0;
    for (int d = 0; d < n; d++)
        if (f->device_info(be, d, &info[d]) != HRM_OK) snprintf(info[d].name, sizeof info[d].name, "device %d", d);
    int d = hrm_device_match(device, info, n, err, sizeof err);
    free(info);
    return d >= 0 ? add_target(S, spec, name, d) : add_skipped(S, name, err);
}

/* --backend all: every plugin of the search path; those not usable here are listed with why. */
static int find_all(suite *S, const char *device) {
    const hrm_host *host = hrm_default_host();
    hrm_plugin_list list;
    int ok = 1;
    hrm_plugin_scan(host, &list);
    for (int i = 0; ok && i < list.count; i++) {
        const hrm_plugin *p = &list.items[i];
        hrm_backend *be = NULL;
        if (p->state != HRM_PLUGIN_USABLE) {
            ok = add_skipped(S, p->name, p->reason);
            continue;
        }
        hrm_status s = p->iface->create(host, &be);
        if (s != HRM_OK) {
            char reason[600];
            snprintf(reason, sizeof reason, "cannot initialise: %s", be ? p->iface->last_error(be) : hrm_status_str(s));
            ok = add_skipped(S, p->name, reason);
        } else {
            ok = add_devices(S, p->path, p->name, p->iface, be, device);
        }
        if (be) p->iface->destroy(be);
    }
    hrm_plugin_list_free(&list);
    if (!ok) cli_error(S->prog, "out of memory");
    return ok;
}

/* --backend B: that backend (name, auto or file), which must open. Returns 0 after one line. */
static int find_named(suite *S, const char *spec, const char *device) {
    char err[512];
    hrm_ctx ctx;
    if (hrm_ctx_open_device(spec, device, hrm_default_host(), &ctx, err, sizeof err) != HRM_OK) {
        cli_error(S->prog, "%s", err);
        return 0;
    }
    int ok = device ? add_target(S, ctx.plugin.path, ctx.plugin.name, ctx.device_index)
                    : add_devices(S, ctx.plugin.path, ctx.plugin.name, ctx.f, ctx.be, NULL);
    hrm_ctx_close(&ctx);
    if (!ok) cli_error(S->prog, "out of memory");
    return ok;
}

/* ---- the command ---------------------------------------------------------------------------------- */

enum { OPT_BACKEND, OPT_DEVICE, OPT_JSON, OPT_COMPARE, OPT_LOAD, OPT_QUICK, NUM_OPTS };
static const cli_opt options[NUM_OPTS] = {
    [OPT_BACKEND] = {"--backend", "B", "all (default: every usable backend), cpu, opencl, auto or PATH.so"},
    [OPT_DEVICE] = {"--device", "D", "only device D of each backend: an index or a part of its name (default: all)"},
    [OPT_JSON] = {"--json", "FILE", "also write the results to FILE (replaced atomically)"},
    [OPT_COMPARE] = {"--compare", "BASE", "print this/base ratios against the results file BASE"},
    [OPT_LOAD] = {"--load", "FILE", "print the results in FILE instead of measuring (with --compare too)"},
    [OPT_QUICK] = {"--quick", NULL, "fewer repeats and tighter time bounds: under a minute on the CPU backend"},
};

static const char *about =
    "The cross-vendor benchmark. On every usable backend and each of its devices: (1) the device's\n"
    "peak through the backend ABI: fp32 GEMM (square, sized to the device), memory bandwidth\n"
    "(buffer_copy and add over 256 MiB buffers) and activation-sized bandwidth (add on 2624x512\n"
    "floats, as the elementwise ops use); (2) every HRM op at the published shapes as a\n"
    "fraction of that peak; (3) a training step and an evaluation segment of the small and the\n"
    "published Sudoku model: samples/s, MFU against the measured GEMM peak, peak device memory;\n"
    "(4) the memory check: training memory at H_cycles x L_cycles 8x8 equals 2x2.\n"
    "Each measurement warms up, repeats (median, min, max) and is bounded in time; a model too slow\n"
    "for the bound is skipped with an entry saying why. Exits 1 when a measurement failed.\n"
    "'hrm bench plot A.json B.json --out chart.svg' draws several result files side by side.";

static int run_suite(suite *S, const char **v) {
    char err[600];
    int ok = v[OPT_BACKEND] && strcmp(v[OPT_BACKEND], "all") ? find_named(S, v[OPT_BACKEND], v[OPT_DEVICE])
                                                             : find_all(S, v[OPT_DEVICE]);
    if (!ok) return CLI_EXIT_FAIL;
    if (!S->num_targets) {
        /* one line that says why for each backend */
        char why[2048] = "";
        for (int i = 0; i < S->rep.num_skipped; i++) {
            size_t len = strlen(why);
            snprintf(why + len, sizeof why - len, "%s%s: %s", i ? "; " : ": ", S->rep.skipped[i].backend,
                     S->rep.skipped[i].reason);
        }
        cli_error(S->prog, "no usable backend device found%s (try 'hrm backends')", why);
        return CLI_EXIT_FAIL;
    }
    if (!(S->b = calloc(1, sizeof *S->b)) || !(S->b->times = malloc(BENCH_MAX_REPS * sizeof *S->b->times))) {
        cli_error(S->prog, "out of memory");
        return CLI_EXIT_FAIL;
    }
    print_header(&S->rep);
    for (int i = 0; i < S->num_targets; i++)
        if (!run_target(S, &S->targets[i])) {
            cli_error(S->prog, "out of memory");
            return CLI_EXIT_FAIL;
        }
    if (v[OPT_JSON] && !bench_report_write(&S->rep, v[OPT_JSON], err, sizeof err)) {
        cli_error(S->prog, "%s", err);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

static int any_failed(const bench_report *rep) {
    for (int i = 0; i < rep->num_runs; i++)
        for (int j = 0; j < rep->runs[i].count; j++)
            if (rep->runs[i].results[j].status == BENCH_FAILED) return 1;
    return 0;
}

int cmd_bench_suite(const char *prog, int argc, char **argv) {
    const char *v[NUM_OPTS];
    char err[600];
    int r = cli_parse(prog, options, NUM_OPTS, argc, argv, v);
    if (r == CLI_HELP) {
        cli_usage(stdout, prog,
                  "[--backend all|B] [--device D] [--json FILE] [--compare BASE.json] [--quick] | --load FILE", about,
                  options, NUM_OPTS);
        return CLI_EXIT_OK;
    }
    if (r == CLI_BAD) return CLI_EXIT_USAGE;
    if (v[OPT_LOAD] && (v[OPT_BACKEND] || v[OPT_DEVICE] || v[OPT_JSON] || v[OPT_QUICK])) {
        cli_error(prog, "--load prints a stored run: it takes no --backend, --device, --json or --quick");
        return CLI_EXIT_USAGE;
    }

    suite S;
    bench_report base;
    memset(&S, 0, sizeof S);
    memset(&base, 0, sizeof base);
    S.prog = prog;
    S.m = v[OPT_QUICK] ? &quick_mode : &full_mode;
    /* the baseline is read first: a bad file should not cost a whole run */
    if (v[OPT_COMPARE] && !bench_report_read(v[OPT_COMPARE], &base, err, sizeof err)) {
        cli_error(prog, "%s", err);
        return CLI_EXIT_FAIL;
    }
    if (v[OPT_LOAD]) {
        r = bench_report_read(v[OPT_LOAD], &S.rep, err, sizeof err) ? CLI_EXIT_OK : CLI_EXIT_FAIL;
        if (r != CLI_EXIT_OK) cli_error(prog, "%s", err);
        if (r == CLI_EXIT_OK) print_header(&S.rep);
        for (int i = 0; r == CLI_EXIT_OK && i < S.rep.num_runs; i++) print_run(&S.rep.runs[i]);
    } else {
        bench_report_init(&S.rep, v[OPT_QUICK] != NULL);
        r = run_suite(&S, v);
    }
    if (r == CLI_EXIT_OK && v[OPT_COMPARE]) print_compare(&S.rep, &base, v[OPT_COMPARE]);
    if (r == CLI_EXIT_OK && !v[OPT_LOAD] && any_failed(&S.rep)) r = CLI_EXIT_FAIL;
    if (S.b) free(S.b->times);
    free(S.b);
    free(S.targets);
    bench_report_free(&S.rep);
    bench_report_free(&base);
    return r;
}
