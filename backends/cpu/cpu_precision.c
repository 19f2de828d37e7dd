/* cpu_precision.c - matmul precisions (ABI 1.2; hrm_matmul_precision in include/hrm/backend.h):
 * which of highest (fp32), high (tf32 operands) and medium (bf16 operands) the CPU backend reports,
 * and how it computes them.
 *
 * HRM_CPU_PRECISION (read when the backend instance is created):
 *   unset, auto  medium is reported when oneDNN has a bf16 matmul for this CPU that is not its
 *                reference implementation (dnnl_query_impl_info_str not "ref..."), that passes a
 *                start-up check against a host reference, and that runs HRM's qkv product
 *                (656x1536x512, operand conversion included) faster than the fp32 path here.
 *                high (tf32) is never reported: oneDNN 2.6 has no tf32 on CPUs.
 *   native       medium whenever such a checked bf16 implementation exists, faster or not (to
 *                test oneDNN's bf16 path on a machine where it does not pay).
 *   emulate      a test and preview hook: high and medium are reported on any CPU (after the
 *                start-up check, run on the emulation so that CI tests the check) and computed
 *                by rounding every element of A and B into scratch copies (tf32: to nearest, ties
 *                away from zero, low 13 bits zero; bf16: to nearest even, low 16 bits zero; NaN
 *                and Inf kept) and running the fp32 path on them. Exactly the ABI's numbers,
 *                without a speed-up: this is how CI without a bf16 unit tests the plumbing.
 *   highest      highest only.
 * A native medium product converts A and B to bf16 (round to nearest even, as above) into scratch
 * copies and runs oneDNN's bf16 x bf16 -> fp32 matmul in slices over the pool (cpu_matmul.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu_internal.h"
#include "cpu_math.h"
#if HRM_CPU_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

static const char *const OP = "matmul_precision";

/* ---- rounding ----------------------------------------------------------------------------------- */

static inline uint32_t bits_of(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline float float_of(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* Both roundings on the bit pattern, without branches, so that the rows below vectorise (the operand
 * copies were a third of a bf16 training step when they were made per element through a call:
 * `perf` over `hrm bench train --model trm --matmul-precision medium` on an Intel Xeon with AMX).
 * Inf takes the finite formula unchanged (its low bits are zero); only NaN needs the select, and is
 * quieted so that it stays NaN. */
static inline uint32_t bf16_bits(uint32_t u) {
    uint32_t nan = (u & 0x7fffffffu) > 0x7f800000u;
    /* half of 2^16, minus one unless the kept part is odd: ties go to the even neighbour */
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    return nan ? (u >> 16) | 0x0040u : rounded;
}

static inline uint32_t tf32_bits(uint32_t u) {
    uint32_t nan = (u & 0x7fffffffu) > 0x7f800000u;
    /* adding half of the dropped 2^13 to the magnitude rounds ties away from zero; a carry into
     * the exponent is the right result, up to Inf past the largest tf32 */
    return nan ? (u | 0x00400000u) & ~0x1fffu : (u + 0x1000u) & ~0x1fffu;
}

float cpu_round_tf32(float x) { return float_of(tf32_bits(bits_of(x))); }

uint16_t cpu_to_bf16(float x) { return (uint16_t)bf16_bits(bits_of(x)); }

float cpu_round_bf16(float x) { return float_of(bf16_bits(bits_of(x)) << 16); }

/* ---- packed, rounded copies of an operand ------------------------------------------------------- */

typedef enum pack_kind { PACK_TF32, PACK_BF16_F32, PACK_BF16 } pack_kind;

typedef struct pack_job {
    const float *src;
    int64_t ld, stride;
    int rows, cols;
    void *dst; /* [count * rows, cols] floats or bf16 */
    pack_kind kind;
} pack_job;

CPU_VECTOR_CLONES static void row_bf16(uint16_t *restrict d, const float *restrict s, int n) {
#pragma omp simd
    for (int c = 0; c < n; c++) {
        uint32_t u;
        memcpy(&u, &s[c], sizeof u);
        d[c] = (uint16_t)bf16_bits(u);
    }
}

CPU_VECTOR_CLONES static void row_bf16_f32(uint32_t *restrict d, const float *restrict s, int n) {
#pragma omp simd
    for (int c = 0; c < n; c++) {
        uint32_t u;
        memcpy(&u, &s[c], sizeof u);
        d[c] = bf16_bits(u) << 16;
    }
}

CPU_VECTOR_CLONES static void row_tf32(uint32_t *restrict d, const float *restrict s, int n) {
#pragma omp simd
    for (int c = 0; c < n; c++) {
        uint32_t u;
        memcpy(&u, &s[c], sizeof u);
        d[c] = tf32_bits(u);
    }
}

static void pack_rows(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const pack_job *j = ctx;
    for (int64_t r = begin; r < end; r++) {
        const float *s = j->src + (r / j->rows) * j->stride + (r % j->rows) * j->ld;
        if (j->kind == PACK_BF16)
            row_bf16((uint16_t *)j->dst + r * j->cols, s, j->cols);
        else if (j->kind == PACK_BF16_F32)
            row_bf16_f32((uint32_t *)j->dst + r * j->cols, s, j->cols);
        else
            row_tf32((uint32_t *)j->dst + r * j->cols, s, j->cols);
    }
}

static void *scratch(hrm_device *dev, int i, size_t bytes) {
    if (bytes > dev->scratch_bytes[i]) {
        free(dev->scratch[i]);
        dev->scratch_bytes[i] = 0;
        dev->scratch[i] = aligned_alloc(64, (bytes + 63) / 64 * 64);
        if (!dev->scratch[i]) return NULL;
        dev->scratch_bytes[i] = bytes;
    }
    return dev->scratch[i];
}

void cpu_precision_scratch_free(hrm_device *dev) {
    for (int i = 0; i < 2; i++) {
        free(dev->scratch[i]);
        dev->scratch[i] = NULL;
        dev->scratch_bytes[i] = 0;
    }
}

/* Rounds the operand (`batch` matrices [rows, cols], ld, stride apart) into scratch slot `slot`,
 * packed: leading dimension cols, items rows*cols apart (one item when stride is 0). */
static hrm_status pack(hrm_device *dev, int slot, const void *src, int rows, int cols, int64_t ld, int64_t stride,
                       int batch, pack_kind kind, const void **out, int64_t *out_ld, int64_t *out_stride) {
    int64_t count = stride ? batch : 1;
    size_t esize = kind == PACK_BF16 ? 2 : 4;
    pack_job j = {.src = src, .ld = ld, .stride = stride, .rows = rows, .cols = cols, .kind = kind};
    j.dst = scratch(dev, slot, (size_t)count * (size_t)rows * (size_t)cols * esize);
    if (!j.dst)
        return cpu_fail(dev->be, HRM_ERR_OUT_OF_MEMORY, "%s: no host memory for a rounded copy of %s", OP,
                        slot ? "B" : "A");
    int64_t min_rows = 16384 / (cols > 0 ? cols : 1) + 1; /* ~64 KiB per share at least */
    cpu_parallel_for(dev->be->pool, count * rows, min_rows, pack_rows, &j);
    *out = j.dst;
    *out_ld = cols;
    *out_stride = stride ? (int64_t)rows * cols : 0;
    return HRM_OK;
}

/* g with A and B replaced by rounded (kind) packed copies, then the fp32 or bf16 path. */
static hrm_status run_packed(hrm_device *dev, const cpu_gemm *g, pack_kind kind) {
    cpu_gemm r = *g;
    CPU_TRY(pack(dev, 0, g->a, g->ta ? g->k : g->m, g->ta ? g->m : g->k, g->lda, g->stride_a, g->batch, kind, &r.a,
                 &r.lda, &r.stride_a));
    CPU_TRY(pack(dev, 1, g->b, g->tb ? g->n : g->k, g->tb ? g->k : g->n, g->ldb, g->stride_b, g->batch, kind, &r.b,
                 &r.ldb, &r.stride_b));
    r.bf16 = kind == PACK_BF16;
    return cpu_gemm_run(dev, &r);
}

/* A medium product of fp32 operands: oneDNN's bf16 matmul, or the emulation when that fails. */
static hrm_status run_medium(hrm_device *dev, const cpu_gemm *g) {
    hrm_backend *be = dev->be;
    if (!be->medium_native || g->k == 0) return run_packed(dev, g, PACK_BF16_F32);
    hrm_status st = run_packed(dev, g, PACK_BF16);
    if (st == HRM_ERR_UNSUPPORTED) { /* oneDNN lacks this shape: the same numbers the slow way */
        cpu_log(be, HRM_LOG_DEBUG, "%s: %s; rounding the operands and running fp32 instead", OP, be->error);
        st = run_packed(dev, g, PACK_BF16_F32);
    }
    return st;
}

/* ---- the slots ---------------------------------------------------------------------------------- */

uint32_t cpu_matmul_precisions(hrm_device *dev) {
    return dev ? dev->be->precisions : HRM_PRECISION_BIT(HRM_PRECISION_HIGHEST);
}

hrm_status cpu_matmul_precision(hrm_device *dev, const hrm_matmul_args *a, hrm_matmul_precision p) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    hrm_backend *be = dev->be;
    if ((unsigned)p >= HRM_PRECISION_COUNT)
        return cpu_fail(be, HRM_ERR_INVALID_ARG, "%s: unknown precision %d", OP, (int)p);
    if (p == HRM_PRECISION_HIGHEST) return cpu_matmul(dev, a);
    if (!(be->precisions & HRM_PRECISION_BIT(p)))
        return cpu_fail(be, HRM_ERR_UNSUPPORTED, "%s: precision %s is not supported here (this device runs: %s)", OP,
                        p == HRM_PRECISION_HIGH ? "high (tf32)" : "medium (bf16)", be->precision_note);
    CPU_TRY(cpu_matmul_check(dev, a));
    if (a->m == 0 || a->n == 0) return HRM_OK;
    cpu_gemm g = cpu_gemm_of(a);
    g.c = cpu_f32(a->c);
    if (a->k == 0) return cpu_gemm_run(dev, &g); /* C = beta C: nothing to round */
    g.a = cpu_f32(a->a), g.b = cpu_f32(a->b);
    return p == HRM_PRECISION_MEDIUM ? run_medium(dev, &g) : run_packed(dev, &g, PACK_TF32);
}

/* ---- what this CPU runs ------------------------------------------------------------------------- */

/* splitmix64 in [-1, 1) */
static float rand_unit(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)((double)(z >> 11) * 0x1.0p-52 - 1.0);
}

/* The start-up check of the bf16 path: ragged products (both transposes of A, alpha, beta) against
 * a double reference of the bf16-rounded operands. The operand products are exact, so only fp32
 * summation error remains: at most k * 2^-23 * sum |a b| (Higham, Accuracy and Stability of
 * Numerical Algorithms, 2nd ed., eq. 3.5 with u = 2^-24, doubled for an unknown order). */
static bool bf16_validates(hrm_device *dev, pack_kind kind, char *why, size_t why_size) {
    enum { M = 37, N = 29, K = 67 };
    static const struct {
        int ta, tb;
        float alpha, beta;
    } cases[] = {{0, 1, 1.0f, 0.0f}, {1, 0, 0.5f, 1.0f}};
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N), *c = malloc(sizeof(float) * M * N);
    float *c0 = malloc(sizeof(float) * M * N);
    bool ok = a && b && c && c0;
    if (!ok) snprintf(why, why_size, "no host memory for the bf16 check");
    uint64_t seed = 12345;
    for (size_t i = 0; ok && i < sizeof cases / sizeof cases[0]; i++) {
        for (int t = 0; t < M * K; t++) a[t] = rand_unit(&seed);
        for (int t = 0; t < K * N; t++) b[t] = rand_unit(&seed);
        for (int t = 0; t < M * N; t++) c0[t] = c[t] = cases[i].beta == 0.0f ? NAN : rand_unit(&seed);
        cpu_gemm g = {.ta = cases[i].ta,
                      .tb = cases[i].tb,
                      .m = M,
                      .n = N,
                      .k = K,
                      .batch = 1,
                      .alpha = cases[i].alpha,
                      .beta = cases[i].beta,
                      .a = a,
                      .b = b,
                      .c = c,
                      .lda = cases[i].ta ? M : K,
                      .ldb = cases[i].tb ? K : N,
                      .ldc = N};
        hrm_status st = run_packed(dev, &g, kind);
        if (st != HRM_OK) {
            snprintf(why, why_size, "its bf16 matmul failed the start-up check: %.100s", dev->be->error);
            ok = false;
            break;
        }
        for (int r = 0; ok && r < M; r++)
            for (int col = 0; col < N; col++) {
                double s = 0, mag = 0;
                for (int t = 0; t < K; t++) {
                    double x = cpu_round_bf16(g.ta ? a[t * M + r] : a[r * K + t]);
                    double y = cpu_round_bf16(g.tb ? b[col * K + t] : b[t * N + col]);
                    s += x * y, mag += fabs(x * y);
                }
                double want = g.alpha * s + (g.beta == 0.0f ? 0.0 : (double)g.beta * c0[r * N + col]);
                /* beta = 0 ignores C, which holds NaN then: it must not reach the bound either */
                double cterm = g.beta == 0.0f ? 0.0 : fabs((double)g.beta * c0[r * N + col]);
                double tol = K * 0x1.0p-23 * fabs(g.alpha) * mag + 0x1.0p-23 * cterm + 1e-30;
                if (!(fabs(c[r * N + col] - want) <= tol)) {
                    snprintf(why, why_size, "its bf16 matmul failed the start-up check: C[%d,%d] = %.9g, want %.9g", r,
                             col, c[r * N + col], want);
                    ok = false;
                    break;
                }
            }
    }
    free(a), free(b), free(c), free(c0);
    return ok;
}

#if HRM_CPU_ONEDNN
static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Seconds of the best of 3 runs of g in bf16 (medium) or fp32. */
static double time_path(hrm_device *dev, const cpu_gemm *g, bool medium) {
    double best = INFINITY;
    for (int rep = 0; rep < 4; rep++) { /* the first run warms up: primitive, caches, scratch */
        double t0 = now_s();
        hrm_status st = medium ? run_packed(dev, g, PACK_BF16) : cpu_gemm_run(dev, g);
        double t = now_s() - t0;
        if (st != HRM_OK) return INFINITY;
        if (rep > 0 && t < best) best = t;
    }
    return best;
}

/* Whether oneDNN's bf16 matmul is there, real, correct and (unless native) faster here. On yes
 * sets impl; on no says why. */
static bool bf16_usable(hrm_backend *be, bool need_speed, char *impl, size_t impl_size, char *why, size_t why_size) {
    /* HRM's qkv forward at the Sudoku batch of 8: rows 8*82 = 656, 512 -> 1536 (y = x W^T) */
    enum { M = 656, N = 1536, K = 512 };
    hrm_device dev = {.be = be, .dnnl = cpu_dnnl_open(be)};
    if (!dev.dnnl) {
        snprintf(why, why_size, "oneDNN could not be set up");
        return false;
    }
    char isa[48], err[256];
    cpu_dnnl_version(isa, sizeof isa);
    cpu_dnnl_key key;
    cpu_dnnl_prim *prim = NULL;
    cpu_dnnl_key_init(&key, 0, 1, M, N, K, K, K, N, 1.0f, 0.0f, true, 1);
    int saved = cpu_omp_threads_enter(1);
    hrm_status st = cpu_dnnl_get(dev.dnnl, &key, &prim, err, sizeof err);
    cpu_omp_threads_leave(saved);
    bool ok = false;
    if (st != HRM_OK) {
        snprintf(why, why_size, "%s has no bf16 matmul for this CPU", isa);
    } else if (!strncmp(cpu_dnnl_impl(prim), "ref", 3)) {
        snprintf(why, why_size, "%s has only its reference bf16 matmul (%s) here", isa, cpu_dnnl_impl(prim));
    } else {
        snprintf(impl, impl_size, "%s", cpu_dnnl_impl(prim));
        ok = bf16_validates(&dev, PACK_BF16, why, why_size);
    }
    if (ok && need_speed) {
        float *a = calloc((size_t)M * K, sizeof *a), *b = calloc((size_t)N * K, sizeof *b);
        float *c = calloc((size_t)M * N, sizeof *c);
        if (a && b && c) {
            uint64_t seed = 777;
            for (size_t i = 0; i < (size_t)M * K; i++) a[i] = rand_unit(&seed);
            for (size_t i = 0; i < (size_t)N * K; i++) b[i] = rand_unit(&seed);
            cpu_gemm g = {.tb = 1,
                          .m = M,
                          .n = N,
                          .k = K,
                          .batch = 1,
                          .alpha = 1,
                          .beta = 0,
                          .a = a,
                          .b = b,
                          .c = c,
                          .lda = K,
                          .ldb = K,
                          .ldc = N};
            double t32 = time_path(&dev, &g, false), t16 = time_path(&dev, &g, true);
            /* 5% below fp32 at least, so that timing noise does not flip the answer */
            ok = t16 < 0.95 * t32;
            if (!ok)
                snprintf(why, why_size, "its bf16 matmul (%s, %.2f ms) is not faster than fp32 (%.2f ms) here", impl,
                         1e3 * t16, 1e3 * t32);
            else
                cpu_log(be, HRM_LOG_DEBUG, "bf16 matmul (%s) %.2f ms, fp32 %.2f ms at %dx%dx%d", impl, 1e3 * t16,
                        1e3 * t32, M, N, K);
        } else {
            snprintf(why, why_size, "no host memory to time the bf16 matmul");
            ok = false;
        }
        free(a), free(b), free(c);
    }
    cpu_precision_scratch_free(&dev);
    cpu_dnnl_close(dev.dnnl);
    return ok;
}
#endif

void cpu_precision_setup(hrm_backend *be) {
    const char *env = getenv("HRM_CPU_PRECISION");
    be->precision_mode = CPU_PRECISION_AUTO;
    if (env && env[0]) {
        if (!strcmp(env, "native"))
            be->precision_mode = CPU_PRECISION_NATIVE;
        else if (!strcmp(env, "emulate"))
            be->precision_mode = CPU_PRECISION_EMULATE;
        else if (!strcmp(env, "highest"))
            be->precision_mode = CPU_PRECISION_OFF;
        else if (strcmp(env, "auto"))
            cpu_log(be, HRM_LOG_WARN, "HRM_CPU_PRECISION=%s: expected auto, native, emulate or highest; using auto",
                    env);
    }
    be->precisions = HRM_PRECISION_BIT(HRM_PRECISION_HIGHEST);
    be->medium_native = false;
    be->precision_why[0] = '\0';
    snprintf(be->precision_note, sizeof be->precision_note, "highest");
    switch (be->precision_mode) {
    case CPU_PRECISION_EMULATE: {
        /* the start-up check runs on the emulation too, so that CI, which has no bf16 unit,
         * tests the check itself: an emulation that fails it would point at the check */
        hrm_device dev = {.be = be};
        if (bf16_validates(&dev, PACK_BF16_F32, be->precision_why, sizeof be->precision_why)) {
            be->precisions |= HRM_PRECISION_BIT(HRM_PRECISION_HIGH) | HRM_PRECISION_BIT(HRM_PRECISION_MEDIUM);
            snprintf(be->precision_note, sizeof be->precision_note, "highest, high, medium (emulated)");
        }
        cpu_precision_scratch_free(&dev);
        break;
    }
    case CPU_PRECISION_OFF: snprintf(be->precision_why, sizeof be->precision_why, "HRM_CPU_PRECISION=highest"); break;
    default:
#if HRM_CPU_ONEDNN
        if (!be->dnnl_engine) {
            snprintf(be->precision_why, sizeof be->precision_why, "oneDNN is not available");
        } else {
            char impl[48] = "";
            if (bf16_usable(be, be->precision_mode == CPU_PRECISION_AUTO, impl, sizeof impl, be->precision_why,
                            sizeof be->precision_why)) {
                be->precisions |= HRM_PRECISION_BIT(HRM_PRECISION_MEDIUM);
                be->medium_native = true;
                const dnnl_version_t *v = dnnl_version();
                snprintf(be->precision_note, sizeof be->precision_note, "highest, medium (oneDNN %d.%d.%d %.40s)",
                         v->major, v->minor, v->patch, impl);
            }
        }
#else
        snprintf(be->precision_why, sizeof be->precision_why, "built without oneDNN");
#endif
        break;
    }
}
