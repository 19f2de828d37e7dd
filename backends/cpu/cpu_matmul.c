/* cpu_matmul.c - strided-batched SGEMM on OpenBLAS or oneDNN, in slices over the backend's pool.
 *
 * A large product is cut into one slice per pool thread (rows of C, or columns when C is wider
 * than tall), each a single-threaded GEMM: the backend then has one set of threads. Handing the
 * product to the library's own threads instead leaves two pools on the same cores, each spinning
 * while the other works (sched_yield was ~8% of a profile of the small model's training step with
 * OpenBLAS's threads), and measured slower on the 2-core development VM: training step of the
 * small model 226-243 ms vs 242-296 ms (min of 40 steps, alternated), the 27M model 1326-1347 ms
 * vs 1390-1442 ms. Slices are fixed, so runs stay deterministic; results agree with a threaded
 * library's to rounding, not bit for bit.
 *
 * HRM_CPU_GEMM picks who computes each slice:
 *   auto        (or unset) mixed where oneDNN's fp32 matmul is a brgemm kernel (AVX-512 and
 *               later; auto_mode below), else slices;
 *   slices      OpenBLAS sgemm;
 *   mixed       oneDNN for the products of an untransposed A (forward, input gradients),
 *               OpenBLAS for A^T (weight gradients);
 *   onednn      oneDNN's matmul primitive (cpu_dnnl.c);
 *   openblas    OpenBLAS with its own threads, unsliced (for comparisons);
 *   onednn-omp  oneDNN with be->threads OpenMP threads, unsliced (for comparisons).
 * The default is by measurement: backends/cpu/bench_gemm.c --reps 2 --passes 8 --best on the
 * 2-core AMD EPYC development VM (AVX2; oneDNN 2.6.3 picks gemm:jit), at the 27M Sudoku model's
 * 12 linear-layer products (batch 8, 656 rows): OpenBLAS slices 164-174 GFLOP/s; oneDNN slices
 * 161-174 on the forward products and the wider weight gradients, but 118-122 on the input
 * gradients with 512 columns and the 512x512 weight gradient. The 15 products of a step (LM head
 * included) took 80.6 ms on OpenBLAS slices, 89.4 on oneDNN slices, 79.9 on OpenBLAS's threads,
 * 80.8 on oneDNN's OpenMP threads; with an element-wise op on the pool after each product, 82.8,
 * 91.8, 84.2 and 85.5 ms: a second pool's threads, which spin for a while after a product, slow
 * the pool's work that follows (in a run of medians the batched LM-head product, on the pool,
 * ran at 24 GFLOP/s right after products on OpenMP threads, at 85 with oneDNN in slices
 * throughout). oneDNN slices only win on the small LM-head products (62-89 vs
 * 36-65 GFLOP/s), under 1% of a step. On a CPU where oneDNN has brgemm kernels (AVX-512) the
 * answer differs: see auto_mode. A batch of small products is spread over the pool,
 * one single-threaded GEMM per item. bf16 products (cpu_precision.c) always go to oneDNN, in
 * slices. */
#include <cblas.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"

static const char *const OP = "matmul";
#define SMALL_GEMM_FLOPS 2e7 /* below this, threads barely pay off */
#define MIN_SLICE 64         /* rows or columns of C per slice, at least */

/* The engine used when HRM_CPU_GEMM is unset: chosen by measurement (see the top of the file). */
#define DEFAULT_GEMM CPU_GEMM_SLICES

static const struct {
    const char *name;
    cpu_gemm_mode mode;
} GEMM_MODES[] = {{"slices", CPU_GEMM_SLICES},
                  {"openblas", CPU_GEMM_OPENBLAS},
                  {"onednn", CPU_GEMM_ONEDNN},
                  {"onednn-omp", CPU_GEMM_ONEDNN_OMP},
                  {"mixed", CPU_GEMM_MIXED}};

static const char *mode_name(cpu_gemm_mode m) {
    for (size_t i = 0; i < sizeof GEMM_MODES / sizeof GEMM_MODES[0]; i++)
        if (GEMM_MODES[i].mode == m) return GEMM_MODES[i].name;
    return "?";
}

/* The fp32 engine when HRM_CPU_GEMM is unset. Where oneDNN's fp32 matmul is a brgemm kernel
 * (AVX-512 and later) it beats OpenBLAS on the products of an untransposed A (forward, input
 * gradient) but not on the weight gradients (A^T): bench_gemm --reps 3 --passes 4 --best on a
 * 2-core Intel Xeon with AMX (KVM, 2026-12-05), GFLOP/s oneDNN / OpenBLAS slices at the 27M
 * Sudoku model's batch-8 products: forward 383-425 / 344-374, input gradients 352-389 / 354-377,
 * weight gradients 311-370 / 348-395; TRM's training step (hrm bench train --model trm) 1264-1303
 * ms mixed, 1311 oneDNN, 1429-1451 OpenBLAS slices. Elsewhere (oneDNN's gemm:jit on AVX2) OpenBLAS
 * slices win everywhere (the top of the file). Decided by the implementation oneDNN picks for the
 * qkv forward product, so that a machine always gets the same engine. */
static cpu_gemm_mode auto_mode(hrm_backend *be) {
#if HRM_CPU_ONEDNN
    if (!be->dnnl_engine) return DEFAULT_GEMM;
    cpu_dnnl *d = cpu_dnnl_open(be);
    if (!d) return DEFAULT_GEMM;
    cpu_dnnl_key key;
    cpu_dnnl_prim *prim = NULL;
    char err[256];
    cpu_dnnl_key_init(&key, 0, 1, 656, 1536, 512, 512, 512, 1536, 1.0f, 0.0f, false, 1);
    int saved = cpu_omp_threads_enter(1);
    bool brgemm = cpu_dnnl_get(d, &key, &prim, err, sizeof err) == HRM_OK && !strncmp(cpu_dnnl_impl(prim), "brg", 3);
    cpu_omp_threads_leave(saved);
    if (brgemm) cpu_log(be, HRM_LOG_DEBUG, "oneDNN's fp32 matmul is %s: mixed engine", cpu_dnnl_impl(prim));
    cpu_dnnl_close(d);
    return brgemm ? CPU_GEMM_MIXED : DEFAULT_GEMM;
#else
    (void)be;
    return DEFAULT_GEMM;
#endif
}

void cpu_gemm_select(hrm_backend *be) {
    const char *env = getenv("HRM_CPU_GEMM");
    be->gemm = env && env[0] && strcmp(env, "auto") ? DEFAULT_GEMM : auto_mode(be);
    if (env && env[0]) {
        size_t i = 0, n = sizeof GEMM_MODES / sizeof GEMM_MODES[0];
        while (i < n && strcmp(env, GEMM_MODES[i].name)) i++;
        if (i < n)
            be->gemm = GEMM_MODES[i].mode;
        else if (strcmp(env, "auto"))
            cpu_log(be, HRM_LOG_WARN,
                    "HRM_CPU_GEMM=%s: expected auto, slices, mixed, onednn, openblas or onednn-omp; using %s", env,
                    mode_name(DEFAULT_GEMM));
    }
    if (cpu_gemm_mode_dnnl(be->gemm) && !be->dnnl_engine) {
        if (env && env[0])
            cpu_log(be, HRM_LOG_WARN, "HRM_CPU_GEMM=%s: oneDNN is not available here; using OpenBLAS slices", env);
        be->gemm = CPU_GEMM_SLICES;
    }
    if (be->gemm == CPU_GEMM_MIXED) {
#if HRM_CPU_ONEDNN
        char v[48];
        cpu_dnnl_version(v, sizeof v);
        snprintf(be->gemm_note, sizeof be->gemm_note, "%s for A, OpenBLAS %s for A^T", v, openblas_get_corename());
#endif
    } else if (cpu_gemm_mode_dnnl(be->gemm)) {
#if HRM_CPU_ONEDNN
        cpu_dnnl_version(be->gemm_note, sizeof be->gemm_note);
#endif
        if (be->gemm == CPU_GEMM_ONEDNN_OMP)
            strncat(be->gemm_note, ", OpenMP threads", sizeof be->gemm_note - strlen(be->gemm_note) - 1);
    } else {
        snprintf(be->gemm_note, sizeof be->gemm_note, "OpenBLAS %s%s", openblas_get_corename(),
                 be->gemm == CPU_GEMM_OPENBLAS ? ", its threads" : "");
    }
}

/* C [m, n] (ldc) = beta * C for k == 0, which not every BLAS handles; beta = 0 clears NaNs. */
static void scale_c(float *c, int m, int n, int64_t ldc, float beta) {
    for (int i = 0; i < m; i++) {
        float *row = c + i * ldc;
        if (beta == 0.0f)
            memset(row, 0, (size_t)n * sizeof *row);
        else
            for (int j = 0; j < n; j++) row[j] *= beta;
    }
}

hrm_status cpu_matmul_check(hrm_device *dev, const hrm_matmul_args *a) {
    CPU_TRY(hrm_check_matmul_sizes(&cpu_checker, dev, a));
    CPU_REQUIRE(dev, a->lda <= INT32_MAX && a->ldb <= INT32_MAX && a->ldc <= INT32_MAX,
                "%s: leading dimensions must fit in a BLAS int", OP);
    return hrm_check_matmul_tensors(&cpu_checker, dev, a);
}

/* ---- one job over the pool -------------------------------------------------------------------- */

typedef struct gemm_job {
    hrm_device *dev;
    const cpu_gemm *g;
    size_t esize;           /* bytes of an A or B element */
    cpu_dnnl_prim *prim[2]; /* oneDNN: [0] a full slice or an item, [1] the ragged last slice */
    int64_t item;           /* slices: the batch item */
    int parts;              /* slices: how many; 0 = the job runs whole items */
    int64_t per;            /* slices: rows or columns each, the last one fewer */
    bool by_rows;
    atomic_int failed;
} gemm_job;

/* One GEMM [m, n] of g on these pointers, on pool thread `thread`. */
static void gemm_part(gemm_job *j, cpu_dnnl_prim *prim, int thread, int m, int n, const char *A, const char *B,
                      float *C) {
    const cpu_gemm *g = j->g;
#if HRM_CPU_ONEDNN
    if (prim) {
        if (!cpu_dnnl_exec(j->dev->dnnl, prim, thread, A, B, C)) atomic_store(&j->failed, 1);
        return;
    }
#else
    (void)prim, (void)thread;
#endif
    cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans, m, n, g->k,
                g->alpha, (const float *)A, (int)g->lda, (const float *)B, (int)g->ldb, g->beta, C, (int)g->ldc);
}

static void run_items(void *ctx, int64_t begin, int64_t end, int thread) {
    gemm_job *j = ctx;
    const cpu_gemm *g = j->g;
    for (int64_t i = begin; i < end; i++)
        gemm_part(j, j->prim[0], thread, g->m, g->n, (const char *)g->a + i * g->stride_a * (int64_t)j->esize,
                  (const char *)g->b + i * g->stride_b * (int64_t)j->esize, g->c + i * g->stride_c);
}

/* Slices [begin, end) of item j->item: rows of C (op(A) rows) or columns of C (op(B) columns). */
static void run_slices(void *ctx, int64_t begin, int64_t end, int thread) {
    gemm_job *j = ctx;
    const cpu_gemm *g = j->g;
    int64_t total = j->by_rows ? g->m : g->n, es = (int64_t)j->esize;
    for (int64_t part = begin; part < end; part++) {
        int64_t lo = part * j->per, hi = lo + j->per < total ? lo + j->per : total;
        if (lo >= hi) continue;
        const char *A = (const char *)g->a + j->item * g->stride_a * es;
        const char *B = (const char *)g->b + j->item * g->stride_b * es;
        float *C = g->c + j->item * g->stride_c;
        int m = g->m, n = g->n;
        if (j->by_rows) {
            A += (g->ta ? lo : lo * g->lda) * es;
            C += lo * g->ldc;
            m = (int)(hi - lo);
        } else {
            B += (g->tb ? lo * g->ldb : lo) * es;
            C += lo;
            n = (int)(hi - lo);
        }
        gemm_part(j, hi - lo == j->per ? j->prim[0] : j->prim[1], thread, m, n, A, B, C);
    }
}

#if HRM_CPU_ONEDNN
/* The primitive of g at [m, n]; NULL with a message on failure. */
static cpu_dnnl_prim *prim_for(hrm_device *dev, const cpu_gemm *g, int m, int n, int threads, hrm_status *st) {
    cpu_dnnl_key key;
    cpu_dnnl_prim *p = NULL;
    char err[256];
    cpu_dnnl_key_init(&key, g->ta, g->tb, m, n, g->k, g->lda, g->ldb, g->ldc, g->alpha, g->beta, g->bf16, threads);
    *st = cpu_dnnl_get(dev->dnnl, &key, &p, err, sizeof err);
    if (*st != HRM_OK) cpu_fail(dev->be, *st, "%s: %s", OP, err);
    return p;
}
#endif

/* Runs g with oneDNN (use_dnnl) or OpenBLAS. On a oneDNN failure returns its status with nothing
 * computed, or after a partial run HRM_ERR_DEVICE. */
static hrm_status gemm_dispatch(hrm_device *dev, const cpu_gemm *g, bool use_dnnl, bool sliced, int omp_threads) {
    hrm_backend *be = dev->be;
    double flops = 2.0 * g->m * g->n * g->k;
    gemm_job j = {.dev = dev, .g = g, .esize = g->bf16 ? 2 : 4};
    atomic_init(&j.failed, 0);
    hrm_status st = HRM_OK; /* of a failed primitive lookup (oneDNN only) */
    (void)st;
    /* Many small products (e.g. per head) go one per pool thread, single-threaded. Items may share
     * C (stride_c 0) only when run in turn. */
    if (be->threads > 1 && g->batch >= be->threads && flops < SMALL_GEMM_FLOPS &&
        g->stride_c >= (int64_t)(g->m - 1) * g->ldc + g->n) {
#if HRM_CPU_ONEDNN
        if (use_dnnl && !(j.prim[0] = prim_for(dev, g, g->m, g->n, 1, &st))) return st;
#endif
        if (!use_dnnl) openblas_set_num_threads(1);
        cpu_pool_run(be->pool, g->batch, 1, run_items, &j);
        if (!use_dnnl) openblas_set_num_threads(be->threads);
    } else {
        bool by_rows = g->m >= g->n;
        int64_t total = by_rows ? g->m : g->n;
        int parts = (int)(total / MIN_SLICE);
        if (parts > be->threads) parts = be->threads;
        if (sliced && parts > 1 && flops >= SMALL_GEMM_FLOPS) {
            j.parts = parts, j.by_rows = by_rows;
            j.per = ((total + parts - 1) / parts + 15) / 16 * 16;
#if HRM_CPU_ONEDNN
            if (use_dnnl) {
                int64_t last = total - (total - 1) / j.per * j.per; /* the ragged last slice */
                int pm = by_rows ? (int)j.per : g->m, pn = by_rows ? g->n : (int)j.per;
                if (total >= j.per && !(j.prim[0] = prim_for(dev, g, pm, pn, 1, &st))) return st;
                if (last != j.per &&
                    !(j.prim[1] = prim_for(dev, g, by_rows ? (int)last : g->m, by_rows ? g->n : (int)last, 1, &st)))
                    return st;
            }
#endif
            if (!use_dnnl) openblas_set_num_threads(1);
            for (int64_t i = 0; i < g->batch; i++) {
                j.item = i;
                cpu_pool_run(be->pool, parts, 1, run_slices, &j);
            }
            if (!use_dnnl) openblas_set_num_threads(be->threads);
        } else {
#if HRM_CPU_ONEDNN
            if (use_dnnl && !(j.prim[0] = prim_for(dev, g, g->m, g->n, omp_threads, &st))) return st;
#else
            (void)omp_threads;
#endif
            run_items(&j, 0, g->batch, 0);
        }
    }
    if (atomic_load(&j.failed))
        return cpu_fail(be, HRM_ERR_DEVICE, "%s: oneDNN failed to run a %s product %dx%dx%d (out of memory?)", OP,
                        g->bf16 ? "bf16" : "fp32", g->m, g->n, g->k);
    return HRM_OK;
}

hrm_status cpu_gemm_run(hrm_device *dev, const cpu_gemm *g) {
    hrm_backend *be = dev->be;
    if (g->m == 0 || g->n == 0) return HRM_OK;
    if (g->k == 0) {
        for (int i = 0; i < g->batch; i++) scale_c(g->c + i * g->stride_c, g->m, g->n, g->ldc, g->beta);
        return HRM_OK;
    }
    bool use_dnnl = dev->dnnl && (g->bf16 || (cpu_gemm_mode_dnnl(be->gemm) && !(be->gemm == CPU_GEMM_MIXED && g->ta)));
    if (g->bf16 && !use_dnnl)
        return cpu_fail(be, HRM_ERR_UNSUPPORTED, "%s: bf16 products need oneDNN, which is not available", OP);
    bool sliced = g->bf16 ? be->gemm != CPU_GEMM_ONEDNN_OMP : cpu_gemm_mode_sliced(be->gemm);
    int omp_threads = be->gemm == CPU_GEMM_ONEDNN_OMP ? be->threads : 1;
    if (!use_dnnl) return gemm_dispatch(dev, g, false, sliced, omp_threads);
#if HRM_CPU_ONEDNN
    int saved = cpu_omp_threads_enter(omp_threads);
    hrm_status st = gemm_dispatch(dev, g, true, sliced, omp_threads);
    cpu_omp_threads_leave(saved);
    /* an fp32 product oneDNN has no primitive for (none is known) falls back to OpenBLAS */
    if (st == HRM_ERR_UNSUPPORTED && !g->bf16) st = gemm_dispatch(dev, g, false, sliced, omp_threads);
    return st;
#else
    return HRM_ERR_UNSUPPORTED;
#endif
}

cpu_gemm cpu_gemm_of(const hrm_matmul_args *a) {
    return (cpu_gemm){.ta = a->trans_a,
                      .tb = a->trans_b,
                      .m = a->m,
                      .n = a->n,
                      .k = a->k,
                      .batch = a->batch,
                      .alpha = a->alpha,
                      .beta = a->beta,
                      .lda = a->lda,
                      .ldb = a->ldb,
                      .ldc = a->ldc,
                      .stride_a = a->stride_a,
                      .stride_b = a->stride_b,
                      .stride_c = a->stride_c};
}

hrm_status cpu_matmul(hrm_device *dev, const hrm_matmul_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    CPU_TRY(cpu_matmul_check(dev, a));
    cpu_gemm g = cpu_gemm_of(a);
    if (a->m == 0 || a->n == 0) return HRM_OK;
    g.c = cpu_f32(a->c);
    if (a->k > 0) g.a = cpu_f32(a->a), g.b = cpu_f32(a->b);
    return cpu_gemm_run(dev, &g);
}
