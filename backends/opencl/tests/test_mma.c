/* backends/opencl/tests/test_mma.c - matmul at precisions high (tf32 operands) and medium (bf16
 * operands) of the OpenCL backend (ocl_mma.c, kernels/mma.cl), with HRM_OPENCL_MMA=portable: the
 * portable variant shares everything but the matrix instruction with the PTX one (tiles, staging,
 * rounding, per-lane fragment loads, edges, batching), so this is what CI proves of it.
 *
 * Against a host reference computed here, independently of the backend's code: each operand
 * element rounded with frexp/ldexp arithmetic (tf32: 11 significant bits, round() = ties away from
 * zero; bf16: 8 bits, rint() = ties to even), products summed in double, then alpha and beta.
 * Tolerance, per element of C: |got - want| <= (k + 4) 2^-23 (|alpha| sum_p |a'_p b'_p| + |beta c|)
 * (a', b' rounded): the products of rounded operands are exact in fp32, the device sums k of them
 * in fp32 (<= 2^-23 of the running magnitude per addition) and applies alpha and beta in fp32; a
 * wrong operand, fragment index or edge is off by the order of the sum itself.
 * Cases: every transpose pair, ragged sizes from 1 to several tiles in both directions and several
 * K steps, leading dimensions past the width, element offsets (aligned for float4 loads and not),
 * batches with strides (one of them 0, one with a gap), alpha, beta 0 with NaN in C, 1 and 0.5;
 * every element of C's buffer outside the matrices must be left as it was; a batch sharing C
 * (stride_c 0, beta 1) sums its products in turn. Then: the result really is rounded (its nmse
 * against the unrounded product is far above fp32's and near the format's),
 * exact on operands the format represents, the rounding modes on ties, Inf and NaN; the 64 x 64
 * tiles of a small local memory; k = 0; the refusal path (HRM_OPENCL_TEST_CORRUPT_MMA: the
 * precision is not offered, the device still works in fp32); HRM_OPENCL_MMA=off, auto on PoCL,
 * and ptx on PoCL (its build fails: one info line, fp32 only); the profile label.
 * HRM_TEST_MMA_VARIANT=ptx runs the same cases on the PTX variant (an NVIDIA GPU of compute
 * capability 8.0 or later) instead of the portable one; the cases about the variants that offer
 * fp32 only then keep to HRM_OPENCL_MMA=off.
 * Each case opens the backend in its own forked process (check's default); main() opens none. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "discover.h"
#include "hrm/hrm.h"
#include "mma_ref.h"

/* ---- the backend, with its log kept ------------------------------------------------------------ */

static char logged[16384]; /* the opencl backend's info, warning and error lines of this process */

static void keep_log(void *user, hrm_log_level level, const char *backend, const char *message) {
    (void)user;
    if (level == HRM_LOG_DEBUG || !backend || strcmp(backend, "opencl")) return;
    size_t len = strlen(logged);
    snprintf(logged + len, sizeof logged - len, "%s\n", message);
}

/* Opens the opencl backend with HRM_OPENCL_MMA=mma (NULL: unset) and the corruption hook. */
static hrm_ctx open_ocl(const char *mma, const char *corrupt) {
    static hrm_host host;
    host = *hrm_default_host();
    host.log = keep_log;
    logged[0] = '\0';
    if (mma)
        setenv("HRM_OPENCL_MMA", mma, 1);
    else
        unsetenv("HRM_OPENCL_MMA");
    if (corrupt)
        setenv("HRM_OPENCL_TEST_CORRUPT_MMA", corrupt, 1);
    else
        unsetenv("HRM_OPENCL_TEST_CORRUPT_MMA");
    hrm_ctx c;
    char err[1024];
    ck_assert_msg(hrm_ctx_open("opencl", 0, &host, &c, err, sizeof err) == HRM_OK, "opencl: %s", err);
    return c;
}

/* The variant under test: portable, or $HRM_TEST_MMA_VARIANT. */
static const char *variant(void) {
    const char *v = getenv("HRM_TEST_MMA_VARIANT");
    return v && v[0] ? v : "portable";
}

static const char *note_of(hrm_ctx *c) {
    static hrm_device_info info;
    ck_assert_int_eq(c->f->device_info(c->be, 0, &info), HRM_OK);
    return info.note;
}

static const uint32_t HIGHEST = HRM_PRECISION_BIT(HRM_PRECISION_HIGHEST), HIGH = HRM_PRECISION_BIT(HRM_PRECISION_HIGH),
                      MEDIUM = HRM_PRECISION_BIT(HRM_PRECISION_MEDIUM);

/* ---- the reference ------------------------------------------------------------------------------ */

#define ref_round mma_ref_round

static float rnd(uint32_t *s) {
    *s ^= *s << 13, *s ^= *s >> 17, *s ^= *s << 5;
    return (float)(*s >> 8) / 16777216.0f - 0.5f;
}

/* One product: transposes, sizes, batch, alpha, beta; per operand extra leading dimension (pad),
 * element offset and batch stride: 0 = packed, -1 = 0 (shared by the batch), s > 0 = that many
 * elements of gap after each matrix. */
typedef struct gcase {
    int ta, tb, m, n, k, batch;
    float alpha, beta;
    int pad[3], off[3], gap[3];
} gcase;

typedef struct gemm_out {
    double ratio;        /* largest |got - want| / bound */
    double nmse_rounded; /* against the reference of the rounded operands */
    double nmse_exact;   /* against the product of the unrounded operands */
    int outside_changed; /* elements of C's buffer outside the matrices that changed */
    int exact_mismatch;  /* elements that differ from the rounded reference at all */
    hrm_status status;
} gemm_out;

typedef float (*fill_fn)(uint32_t *seed, size_t i);
static float fill_uniform(uint32_t *s, size_t i) {
    (void)i;
    return rnd(s);
}
static float fill_small_int(uint32_t *s, size_t i) {
    (void)i;
    return (float)((int)(rnd(s) * 16.0f));
}

/* Runs c at precision p on the open context, checks it against the reference and the untouched
 * rest of C's buffer. */
static gemm_out run_gemm(hrm_ctx *ctx, const gcase *c, hrm_matmul_precision p, fill_fn fill) {
    int64_t rows[3] = {c->ta ? c->k : c->m, c->tb ? c->n : c->k, c->m};
    int64_t cols[3] = {c->ta ? c->m : c->k, c->tb ? c->k : c->n, c->n};
    int64_t ld[3], stride[3];
    size_t count[3];
    for (int t = 0; t < 3; t++) {
        ld[t] = cols[t] + c->pad[t];
        int64_t size = ld[t] * rows[t];
        stride[t] = c->gap[t] < 0 ? 0 : size + c->gap[t];
        count[t] = (size_t)(c->off[t] + (c->gap[t] < 0 ? size : stride[t] * c->batch)) + 3; /* + a tail */
    }
    float *x[3], *before;
    uint32_t seed = 0x9e3779b9u ^ (uint32_t)(c->m * 131 + c->n * 7 + c->k);
    for (int t = 0; t < 3; t++) {
        x[t] = malloc(count[t] * 4);
        for (size_t i = 0; i < count[t]; i++) x[t][i] = t < 2 ? fill(&seed, i) : rnd(&seed);
    }
    before = malloc(count[2] * 4);
    memcpy(before, x[2], count[2] * 4);
    /* C: NaN everywhere when beta = 0 (it must not be read) */
    if (c->beta == 0.0f)
        for (size_t i = 0; i < count[2]; i++) x[2][i] = before[i] = NAN;
    hrm_buffer *b[3];
    for (int t = 0; t < 3; t++) {
        ck_assert_int_eq(ctx->f->buffer_alloc(ctx->dev, count[t] * 4, &b[t]), HRM_OK);
        ck_assert_int_eq(ctx->f->buffer_write(b[t], 0, x[t], count[t] * 4), HRM_OK);
    }
    hrm_matmul_args a = {.trans_a = c->ta,
                         .trans_b = c->tb,
                         .m = c->m,
                         .n = c->n,
                         .k = c->k,
                         .alpha = c->alpha,
                         .beta = c->beta,
                         .a = {b[0], (size_t)c->off[0]},
                         .lda = ld[0],
                         .stride_a = stride[0],
                         .b = {b[1], (size_t)c->off[1]},
                         .ldb = ld[1],
                         .stride_b = stride[1],
                         .c = {b[2], (size_t)c->off[2]},
                         .ldc = ld[2],
                         .stride_c = stride[2],
                         .batch = c->batch};
    gemm_out out = {.status = ctx->f->matmul_precision(ctx->dev, &a, p)};
    float *got = malloc(count[2] * 4);
    if (out.status == HRM_OK) ck_assert_int_eq(ctx->f->buffer_read(b[2], 0, got, count[2] * 4), HRM_OK);
    for (int t = 0; t < 3; t++) ctx->f->buffer_free(b[t]);
    if (out.status != HRM_OK) goto done;
    char *inside = calloc(count[2], 1);
    double e2 = 0, e2x = 0, w2 = 0;
    for (int bi = 0; bi < c->batch; bi++)
        for (int i = 0; i < c->m; i++)
            for (int j = 0; j < c->n; j++) {
                double acc = 0, mag = 0, accx = 0;
                for (int q = 0; q < c->k; q++) {
                    float av = x[0][c->off[0] + bi * stride[0] + (c->ta ? q * ld[0] + i : i * ld[0] + q)];
                    float bv = x[1][c->off[1] + bi * stride[1] + (c->tb ? j * ld[1] + q : q * ld[1] + j)];
                    double pr = (double)ref_round(av, p) * ref_round(bv, p);
                    acc += pr, mag += fabs(pr), accx += (double)av * bv;
                }
                size_t ic = (size_t)(c->off[2] + bi * stride[2] + i * ld[2] + j);
                double cterm = c->beta == 0.0f ? 0.0 : (double)c->beta * before[ic];
                double w = c->alpha * acc + cterm, wx = c->alpha * accx + cterm;
                double bnd = mma_ref_bound(c->k, fabs(c->alpha) * mag + fabs(cterm));
                double r = fabs(got[ic] - w) / bnd;
                if (!(r <= out.ratio)) out.ratio = isnan(r) ? INFINITY : r;
                if ((float)w != got[ic]) out.exact_mismatch++;
                e2 += (got[ic] - w) * (got[ic] - w), e2x += (got[ic] - wx) * (got[ic] - wx), w2 += wx * wx;
                inside[ic] = 1;
            }
    for (size_t i = 0; i < count[2]; i++)
        if (!inside[i] && memcmp(&got[i], &before[i], 4)) out.outside_changed++;
    out.nmse_rounded = w2 > 0 ? e2 / w2 : e2;
    out.nmse_exact = w2 > 0 ? e2x / w2 : e2x;
    free(inside);
done:
    for (int t = 0; t < 3; t++) free(x[t]);
    free(before), free(got);
    return out;
}

static const char *pname(hrm_matmul_precision p) { return p == HRM_PRECISION_HIGH ? "tf32" : "bf16"; }

static void describe(char *buf, size_t size, const gcase *c, hrm_matmul_precision p) {
    snprintf(buf, size, "%s %c%c m=%d n=%d k=%d batch=%d alpha=%g beta=%g pad=%d/%d/%d off=%d/%d/%d gap=%d/%d/%d",
             pname(p), c->ta ? 'T' : 'N', c->tb ? 'T' : 'N', c->m, c->n, c->k, c->batch, c->alpha, c->beta, c->pad[0],
             c->pad[1], c->pad[2], c->off[0], c->off[1], c->off[2], c->gap[0], c->gap[1], c->gap[2]);
}

/* ---- the shapes ---------------------------------------------------------------------------------- */

#define Z \
    { 0, 0, 0 }
static const gcase CASES[] = {
    /* size 1 and thin, all transposes */
    {0, 0, 1, 1, 1, 1, 1.0f, 0.0f, Z, Z, Z},
    {1, 1, 1, 1, 1, 1, 1.0f, 0.0f, Z, Z, Z},
    {0, 1, 1, 37, 5, 1, 1.0f, 0.5f, Z, Z, Z},
    {1, 0, 37, 1, 5, 1, 1.0f, 1.0f, Z, Z, Z},
    {1, 0, 3, 2, 1, 1, 2.0f, 0.0f, Z, Z, Z},
    /* ragged, within one tile, beta 0 / 1 / 0.5, alpha */
    {0, 0, 17, 13, 9, 1, 1.0f, 0.0f, Z, Z, Z},
    {0, 1, 33, 31, 65, 1, 0.5f, 0.0f, Z, Z, Z},
    {1, 0, 65, 70, 31, 1, 1.0f, 0.5f, Z, Z, Z},
    {1, 1, 5, 64, 11, 1, -1.5f, 1.0f, Z, Z, Z},
    /* several tiles in m and n (128 and 64), several K steps (32 k for bf16, 16 for tf32) */
    {0, 1, 300, 270, 100, 1, 1.0f, 0.5f, Z, Z, Z},
    {0, 0, 200, 150, 70, 1, 1.0f, 0.0f, Z, Z, Z},
    {1, 1, 150, 200, 45, 1, 0.75f, 1.0f, Z, Z, Z},
    {1, 0, 129, 257, 33, 1, 1.0f, 0.0f, Z, Z, Z},
    /* float4 loads: widths, leading dimensions and offsets multiples of 4, ragged m, n, k */
    {0, 1, 130, 68, 68, 1, 1.0f, 0.0f, {0, 0, 4}, {4, 8, 0}, Z},
    {1, 0, 68, 132, 36, 2, 1.0f, 0.5f, {4, 4, 0}, {8, 4, 4}, {4, 8, 0}},
    {0, 0, 36, 44, 20, 1, 1.0f, 0.0f, Z, Z, Z},
    {1, 1, 44, 36, 28, 1, 1.0f, 0.0f, Z, Z, Z},
    /* leading dimensions past the width, unaligned offsets */
    {0, 0, 19, 23, 29, 1, 1.0f, 0.5f, {3, 5, 7}, {1, 2, 3}, Z},
    {1, 1, 23, 19, 40, 1, 1.0f, 0.0f, {2, 1, 1}, {3, 1, 2}, Z},
    /* batches: packed, a shared (stride 0) operand, gaps between matrices */
    {0, 1, 21, 18, 35, 3, 1.0f, 0.0f, Z, Z, {0, -1, 0}},
    {1, 0, 18, 21, 17, 2, 1.0f, 1.0f, Z, {0, 1, 0}, {-1, 5, 3}},
    {0, 0, 70, 9, 33, 4, 0.5f, 0.5f, {1, 0, 2}, Z, {7, 0, 1}},
};
#define NCASES ((int)(sizeof CASES / sizeof CASES[0]))

static void check_cases(hrm_ctx *ctx, hrm_matmul_precision p, int from, int to) {
    for (int i = from; i < to; i++) {
        char what[256];
        describe(what, sizeof what, &CASES[i], p);
        gemm_out o = run_gemm(ctx, &CASES[i], p, fill_uniform);
        printf("%-100s error %.3f of bound\n", what, o.ratio);
        ck_assert_msg(o.status == HRM_OK, "%s: %s", what, ctx->f->last_error(ctx->be));
        ck_assert_msg(o.ratio <= 1.0, "%s: error %.3g times the bound (k+4)*2^-23*sum|a'b'|", what, o.ratio);
        ck_assert_msg(o.outside_changed == 0, "%s: %d elements of C's buffer outside the matrices changed", what,
                      o.outside_changed);
    }
}

/* ---- the cases ------------------------------------------------------------------------------------ */

START_TEST(test_portable_offers_both) {
    hrm_ctx c = open_ocl(variant(), NULL);
    ck_assert_uint_eq(hrm_ctx_matmul_precisions(&c), HIGHEST | HIGH | MEDIUM);
    ck_assert_msg(strstr(note_of(&c), "precisions: highest, high, medium"), "note: %s", note_of(&c));
    char line[160];
    snprintf(line, sizeof line, "matmul precisions highest (fp32: CLBlast), high (tf32), medium (bf16): the %s mma",
             variant());
    ck_assert_msg(strstr(logged, line), "log: %s", logged);
    hrm_ctx_close(&c);
}
END_TEST

START_TEST(test_shapes_tf32) {
    hrm_ctx c = open_ocl(variant(), NULL);
    check_cases(&c, HRM_PRECISION_HIGH, 0, NCASES);
    hrm_ctx_close(&c);
}
END_TEST

START_TEST(test_shapes_bf16) {
    hrm_ctx c = open_ocl(variant(), NULL);
    check_cases(&c, HRM_PRECISION_MEDIUM, 0, NCASES);
    hrm_ctx_close(&c);
}
END_TEST

/* A local memory of 32 KiB: the portable kernel's 128 x 128 tiles (46 KiB) do not fit, 64 x 64 do. */
START_TEST(test_small_tiles) {
    setenv("HRM_OPENCL_LOCAL_MEM_KB", "32", 1);
    hrm_ctx c = open_ocl(variant(), NULL);
    ck_assert_msg(strstr(logged, "tiles of 64 x 64"), "log: %s", logged);
    ck_assert_uint_eq(hrm_ctx_matmul_precisions(&c), HIGHEST | HIGH | MEDIUM);
    for (int p = HRM_PRECISION_HIGH; p <= HRM_PRECISION_MEDIUM; p++) {
        check_cases(&c, (hrm_matmul_precision)p, 5, 13);
        check_cases(&c, (hrm_matmul_precision)p, 19, NCASES);
    }
    hrm_ctx_close(&c);
}
END_TEST

/* Random operands: the result matches the rounded reference to fp32 accumulation (nmse < 1e-12),
 * and differs from the unrounded product by what the format's rounding makes (tf32, unit roundoff
 * 2^-11: nmse near 1e-7; bf16, 2^-8: near 1e-5), far above fp32's (< 1e-12 here). */
START_TEST(test_rounding_is_real) {
    hrm_ctx c = open_ocl(variant(), NULL);
    const gcase g = {0, 1, 96, 80, 100, 1, 1.0f, 0.0f, Z, Z, Z};
    gemm_out hi = run_gemm(&c, &g, HRM_PRECISION_HIGH, fill_uniform);
    gemm_out me = run_gemm(&c, &g, HRM_PRECISION_MEDIUM, fill_uniform);
    printf("random 96x80x100: tf32 nmse %.2e vs rounded reference, %.2e vs unrounded; bf16 %.2e, %.2e\n",
           hi.nmse_rounded, hi.nmse_exact, me.nmse_rounded, me.nmse_exact);
    ck_assert(hi.status == HRM_OK && me.status == HRM_OK);
    ck_assert_msg(hi.nmse_rounded < 1e-12 && me.nmse_rounded < 1e-12, "not the rounded operands' product");
    ck_assert_msg(hi.nmse_exact > 1e-9 && hi.nmse_exact < 1e-5, "tf32: nmse %.3g vs the unrounded product",
                  hi.nmse_exact);
    ck_assert_msg(me.nmse_exact > 1e-7 && me.nmse_exact < 1e-3, "bf16: nmse %.3g vs the unrounded product",
                  me.nmse_exact);
    ck_assert_msg(me.nmse_exact > 10 * hi.nmse_exact, "bf16 is not coarser than tf32");
    hrm_ctx_close(&c);
}
END_TEST

/* Integers in [-8, 8]: exact in both formats, and every sum of k <= 100 of their products is exact
 * in fp32, so the result must be exactly the product (every element, both precisions). */
START_TEST(test_exact_when_representable) {
    hrm_ctx c = open_ocl(variant(), NULL);
    static const gcase g[] = {{0, 1, 70, 50, 100, 1, 1.0f, 0.0f, Z, Z, Z}, {1, 0, 33, 17, 65, 2, 1.0f, 0.0f, Z, Z, Z}};
    for (int i = 0; i < 2; i++)
        for (int p = HRM_PRECISION_HIGH; p <= HRM_PRECISION_MEDIUM; p++) {
            gemm_out o = run_gemm(&c, &g[i], (hrm_matmul_precision)p, fill_small_int);
            ck_assert_int_eq(o.status, HRM_OK);
            ck_assert_msg(o.exact_mismatch == 0, "%s: %d elements not exact", pname((hrm_matmul_precision)p),
                          o.exact_mismatch);
        }
    hrm_ctx_close(&c);
}
END_TEST

/* C = A x [1] with A a column of special values (and the same through B): C is each value rounded.
 * tf32 ties go away from zero, bf16 ties to even; Inf stays Inf; a NaN whose payload lies in the low
 * bits stays NaN (a bare truncation would make it Inf); FLT_MAX rounds up to Inf in both. */
static float bits_float(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

START_TEST(test_rounding_modes) {
    hrm_ctx c = open_ocl(variant(), NULL);
    const float v[] = {1.0f + 0x1p-11f,
                       -(1.0f + 0x1p-11f),
                       1.0f + 3 * 0x1p-11f,
                       1.0f + 0x1p-8f,
                       1.0f + 3 * 0x1p-8f,
                       -(1.0f + 0x1p-8f),
                       1.0f + 0x1p-9f + 0x1p-20f,
                       0.1f,
                       -3.3f,
                       INFINITY,
                       -INFINITY,
                       bits_float(0x7f800001u),
                       bits_float(0xff800010u),
                       FLT_MAX,
                       0x1p-120f,
                       0.0f};
    const int nv = (int)(sizeof v / sizeof v[0]);
    /* expected: tf32 1 + 2^-11 -> 1 + 2^-10 (ties away; ties to even would give 1); bf16 1 + 2^-8 -> 1 */
    ck_assert(ref_round(v[0], HRM_PRECISION_HIGH) == 1.0f + 0x1p-10f && ref_round(v[3], HRM_PRECISION_MEDIUM) == 1.0f);
    ck_assert(ref_round(v[4], HRM_PRECISION_MEDIUM) == 1.0f + 0x1p-6f);
    hrm_buffer *bv, *bone, *bc;
    float one = 1.0f, got[64];
    ck_assert_int_eq(c.f->buffer_alloc(c.dev, sizeof v, &bv), HRM_OK);
    ck_assert_int_eq(c.f->buffer_alloc(c.dev, 4, &bone), HRM_OK);
    ck_assert_int_eq(c.f->buffer_alloc(c.dev, sizeof v, &bc), HRM_OK);
    ck_assert_int_eq(c.f->buffer_write(bv, 0, v, sizeof v), HRM_OK);
    ck_assert_int_eq(c.f->buffer_write(bone, 0, &one, 4), HRM_OK);
    for (int p = HRM_PRECISION_HIGH; p <= HRM_PRECISION_MEDIUM; p++)
        for (int side = 0; side < 2; side++) { /* side 0: A = v (nv x 1), B = 1; side 1: A = 1, B = v (1 x nv) */
            hrm_matmul_args a = {.m = side ? 1 : nv,
                                 .n = side ? nv : 1,
                                 .k = 1,
                                 .alpha = 1.0f,
                                 .beta = 0.0f,
                                 .a = {side ? bone : bv, 0},
                                 .lda = 1,
                                 .b = {side ? bv : bone, 0},
                                 .ldb = side ? nv : 1,
                                 .c = {bc, 0},
                                 .ldc = side ? nv : 1,
                                 .batch = 1};
            ck_assert_int_eq(c.f->matmul_precision(c.dev, &a, (hrm_matmul_precision)p), HRM_OK);
            ck_assert_int_eq(c.f->buffer_read(bc, 0, got, sizeof v), HRM_OK);
            for (int i = 0; i < nv; i++) {
                float want = ref_round(v[i], (hrm_matmul_precision)p);
                int same = isnan(want) ? isnan(got[i]) : got[i] == want && signbit(got[i]) == signbit(want);
                ck_assert_msg(same, "%s, value %d on side %s: %a rounds to %a, the device gave %a",
                              pname((hrm_matmul_precision)p), i, side ? "B" : "A", (double)v[i], (double)want,
                              (double)got[i]);
            }
        }
    c.f->buffer_free(bv), c.f->buffer_free(bone), c.f->buffer_free(bc);
    hrm_ctx_close(&c);
}
END_TEST

/* k = 0 scales C by beta (0: zeros, NaN gone); m = 0 or n = 0 does nothing; an unknown precision is
 * refused. */
START_TEST(test_degenerate) {
    hrm_ctx c = open_ocl(variant(), NULL);
    hrm_buffer *b;
    float x[6] = {1, 2, 3, 4, 5, NAN}, y[6];
    ck_assert_int_eq(c.f->buffer_alloc(c.dev, sizeof x, &b), HRM_OK);
    ck_assert_int_eq(c.f->buffer_write(b, 0, x, sizeof x), HRM_OK);
    hrm_matmul_args a = {.m = 2,
                         .n = 3,
                         .k = 0,
                         .alpha = 1.0f,
                         .beta = 0.5f,
                         .a = {b, 0},
                         .lda = 3,
                         .b = {b, 0},
                         .ldb = 3,
                         .c = {b, 0},
                         .ldc = 3,
                         .batch = 1};
    ck_assert_int_eq(c.f->matmul_precision(c.dev, &a, HRM_PRECISION_MEDIUM), HRM_OK);
    ck_assert_int_eq(c.f->buffer_read(b, 0, y, sizeof y), HRM_OK);
    for (int i = 0; i < 5; i++) ck_assert(y[i] == 0.5f * x[i]);
    a.beta = 0.0f;
    ck_assert_int_eq(c.f->matmul_precision(c.dev, &a, HRM_PRECISION_HIGH), HRM_OK);
    ck_assert_int_eq(c.f->buffer_read(b, 0, y, sizeof y), HRM_OK);
    for (int i = 0; i < 6; i++) ck_assert(y[i] == 0.0f);
    a.m = 0, a.k = 3;
    ck_assert_int_eq(c.f->matmul_precision(c.dev, &a, HRM_PRECISION_HIGH), HRM_OK);
    ck_assert_int_eq(c.f->matmul_precision(c.dev, &a, (hrm_matmul_precision)7), HRM_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(c.f->last_error(c.be), "unknown precision 7"), "%s", c.f->last_error(c.be));
    a.m = 2, a.ldc = 2; /* too small: the usual argument checks run */
    ck_assert_int_eq(c.f->matmul_precision(c.dev, &a, HRM_PRECISION_MEDIUM), HRM_ERR_INVALID_ARG);
    c.f->buffer_free(b);
    hrm_ctx_close(&c);
}
END_TEST

/* A batch whose items share C (stride_c 0, beta 1): the items run in turn, so C gains the sum of
 * their products, as on the CPU backend (which runs such items one after another). */
START_TEST(test_shared_c) {
    hrm_ctx c = open_ocl(variant(), NULL);
    enum { M = 19, N = 21, K = 37, BATCH = 3 };
    float A[BATCH * M * K], B[K * N], C0[M * N], got[M * N];
    uint32_t s = 77u;
    for (int i = 0; i < BATCH * M * K; i++) A[i] = rnd(&s);
    for (int i = 0; i < K * N; i++) B[i] = rnd(&s);
    for (int i = 0; i < M * N; i++) C0[i] = rnd(&s);
    hrm_buffer *ba, *bb, *bc;
    ck_assert_int_eq(c.f->buffer_alloc(c.dev, sizeof A, &ba), HRM_OK);
    ck_assert_int_eq(c.f->buffer_alloc(c.dev, sizeof B, &bb), HRM_OK);
    ck_assert_int_eq(c.f->buffer_alloc(c.dev, sizeof C0, &bc), HRM_OK);
    for (int p = HRM_PRECISION_HIGH; p <= HRM_PRECISION_MEDIUM; p++) {
        ck_assert_int_eq(c.f->buffer_write(ba, 0, A, sizeof A), HRM_OK);
        ck_assert_int_eq(c.f->buffer_write(bb, 0, B, sizeof B), HRM_OK);
        ck_assert_int_eq(c.f->buffer_write(bc, 0, C0, sizeof C0), HRM_OK);
        hrm_matmul_args a = {.m = M,
                             .n = N,
                             .k = K,
                             .alpha = 1.0f,
                             .beta = 1.0f,
                             .a = {ba, 0},
                             .lda = K,
                             .stride_a = M * K,
                             .b = {bb, 0},
                             .ldb = N,
                             .c = {bc, 0},
                             .ldc = N,
                             .batch = BATCH};
        ck_assert_int_eq(c.f->matmul_precision(c.dev, &a, (hrm_matmul_precision)p), HRM_OK);
        ck_assert_int_eq(c.f->buffer_read(bc, 0, got, sizeof got), HRM_OK);
        double worst = 0.0;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double acc = C0[i * N + j], mag = fabs(C0[i * N + j]);
                for (int b = 0; b < BATCH; b++)
                    for (int q = 0; q < K; q++) {
                        double pr = (double)ref_round(A[b * M * K + i * K + q], (hrm_matmul_precision)p) *
                                    ref_round(B[q * N + j], (hrm_matmul_precision)p);
                        acc += pr, mag += fabs(pr);
                    }
                double r = fabs(got[i * N + j] - acc) / mma_ref_bound(BATCH * K, mag);
                if (!(r <= worst)) worst = isnan(r) ? INFINITY : r;
            }
        ck_assert_msg(worst <= 1.0, "%s: C shared by the batch: error %.3g of the bound",
                      pname((hrm_matmul_precision)p), worst);
    }
    c.f->buffer_free(ba), c.f->buffer_free(bb), c.f->buffer_free(bc);
    hrm_ctx_close(&c);
}
END_TEST

/* fp32 through matmul_precision(HIGHEST) and matmul: the CLBlast path, against the host. */
static void check_fp32_works(hrm_ctx *c) {
    const gcase g = {0, 1, 20, 30, 40, 1, 1.0f, 0.0f, Z, Z, Z};
    gemm_out o = run_gemm(c, &g, HRM_PRECISION_HIGHEST, fill_uniform);
    ck_assert_msg(o.status == HRM_OK && o.ratio <= 1.0, "fp32: %s (%.3g)", c->f->last_error(c->be), o.ratio);
}

/* The refusal path: HRM_OPENCL_TEST_CORRUPT_MMA makes a precision's validation fail: it is not
 * offered (one warning line saying why, the note), calls at it are refused, the rest works. */
START_TEST(test_refusal) {
    hrm_ctx c = open_ocl(variant(), "bf16");
    ck_assert_uint_eq(hrm_ctx_matmul_precisions(&c), HIGHEST | HIGH);
    char line[160];
    snprintf(line, sizeof line, "matmul precision medium (bf16) not offered: the %s mma kernel failed validation",
             variant());
    ck_assert_msg(strstr(logged, line), "log: %s", logged);
    ck_assert_msg(!strstr(logged, "high (tf32) not offered"), "log: %s", logged);
    ck_assert_msg(strstr(note_of(&c), "precisions: highest, high") && !strstr(note_of(&c), "medium"), "note: %s",
                  note_of(&c));
    const gcase g = {0, 0, 9, 7, 5, 1, 1.0f, 0.0f, Z, Z, Z};
    gemm_out o = run_gemm(&c, &g, HRM_PRECISION_MEDIUM, fill_uniform);
    ck_assert_int_eq(o.status, HRM_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(c.f->last_error(c.be), "medium (bf16) is not offered"), "%s", c.f->last_error(c.be));
    o = run_gemm(&c, &g, HRM_PRECISION_HIGH, fill_uniform);
    ck_assert(o.status == HRM_OK && o.ratio <= 1.0);
    check_fp32_works(&c);
    hrm_ctx_close(&c);

    c = open_ocl(variant(), "all");
    ck_assert_uint_eq(hrm_ctx_matmul_precisions(&c), HIGHEST);
    ck_assert_msg(strstr(logged, "high (tf32) not offered") && strstr(logged, "medium (bf16) not offered"), "log: %s",
                  logged);
    ck_assert_msg(strstr(note_of(&c), "precisions: highest") && !strstr(note_of(&c), "medium"), "note: %s",
                  note_of(&c));
    ck_assert_int_eq(run_gemm(&c, &g, HRM_PRECISION_HIGH, fill_uniform).status, HRM_ERR_UNSUPPORTED);
    check_fp32_works(&c);
    hrm_ctx_close(&c);
}
END_TEST

/* off, auto (PoCL is no NVIDIA GPU), ptx on PoCL (its compiler refuses the PTX: one info line) and
 * an unknown word (a warning, then auto): fp32 only, and the device works. */
START_TEST(test_variants_without_mma) {
    static const struct {
        const char *mma, *line;
    } v[] = {{"off", NULL},
             {NULL, NULL},
             {"auto", NULL},
             {"ptx", "matmul precisions high and medium not offered: the ptx mma kernel did not build"},
             {"tensor", "HRM_OPENCL_MMA=tensor is not one of auto, portable, ptx, off: using auto"}};
    int only_off = strcmp(variant(), "portable") != 0; /* a device where auto and ptx offer them */
    for (size_t i = 0; i < (only_off ? 1 : sizeof v / sizeof v[0]); i++) {
        hrm_ctx c = open_ocl(v[i].mma, NULL);
        ck_assert_uint_eq(hrm_ctx_matmul_precisions(&c), HIGHEST);
        ck_assert_msg(strstr(note_of(&c), "precisions: highest") && !strstr(note_of(&c), "high,"), "note: %s",
                      note_of(&c));
        if (v[i].line) ck_assert_msg(strstr(logged, v[i].line), "HRM_OPENCL_MMA=%s: log: %s", v[i].mma, logged);
        if (!v[i].line) ck_assert_msg(!strstr(logged, "mma"), "HRM_OPENCL_MMA=%s: log: %s", v[i].mma, logged);
        const gcase g = {1, 0, 9, 7, 5, 1, 1.0f, 0.0f, Z, Z, Z};
        ck_assert_int_eq(run_gemm(&c, &g, HRM_PRECISION_MEDIUM, fill_uniform).status, HRM_ERR_UNSUPPORTED);
        ck_assert_int_eq(run_gemm(&c, &g, HRM_PRECISION_HIGH, fill_uniform).status, HRM_ERR_UNSUPPORTED);
        check_fp32_works(&c);
        hrm_ctx_close(&c);
    }
}
END_TEST

/* HRM_OPENCL_PROFILE: the kernel's launches are filed as "matmul bf16 m=.. n=.. k=.. NT batch=.."
 * with their GFLOP/s. */
START_TEST(test_profile_label) {
    char path[] = "/tmp/hrm-mma-profile-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    setenv("HRM_OPENCL_PROFILE", path, 1);
    hrm_ctx c = open_ocl(variant(), NULL);
    const gcase g = {0, 1, 40, 24, 36, 2, 1.0f, 0.0f, Z, Z, Z};
    ck_assert_int_eq(run_gemm(&c, &g, HRM_PRECISION_MEDIUM, fill_uniform).status, HRM_OK);
    ck_assert_int_eq(run_gemm(&c, &g, HRM_PRECISION_HIGH, fill_uniform).status, HRM_OK);
    hrm_ctx_close(&c);
    unsetenv("HRM_OPENCL_PROFILE");
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int bf16 = 0, tf32 = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "matmul bf16 m=40 n=24 k=36 NT batch=2 ", 38)) bf16 = 1;
        if (!strncmp(line, "matmul tf32 m=40 n=24 k=36 NT batch=2 ", 38)) tf32 = 1;
    }
    fclose(f);
    remove(path);
    ck_assert_msg(bf16 && tf32, "no 'matmul bf16/tf32 m=40 n=24 k=36 NT batch=2' lines in the profile");
}
END_TEST

int main(void) {
    int need = discover_require(hrm_default_host(), "opencl-mma", "opencl");
    if (need) return need;
    Suite *s = suite_create("mma");
    TCase *tc = tcase_create("mma");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_portable_offers_both);
    tcase_add_test(tc, test_shapes_tf32);
    tcase_add_test(tc, test_shapes_bf16);
    tcase_add_test(tc, test_small_tiles);
    tcase_add_test(tc, test_rounding_is_real);
    tcase_add_test(tc, test_exact_when_representable);
    tcase_add_test(tc, test_rounding_modes);
    tcase_add_test(tc, test_degenerate);
    tcase_add_test(tc, test_shared_c);
    tcase_add_test(tc, test_refusal);
    tcase_add_test(tc, test_variants_without_mma);
    tcase_add_test(tc, test_profile_label);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
