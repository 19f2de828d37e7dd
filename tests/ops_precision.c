/* tests/ops_precision.c - conformance of the matmul precisions (ABI 1.2: hrm_matmul_precision in
 * include/hrm/backend.h) on every plugin, at every precision its device reports: highest always,
 * high (tf32 operands) and medium (bf16 operands) where it has them. The CPU backend reports all
 * three with HRM_CPU_PRECISION=emulate, which is how the suite 'conformance' runs these tests on a
 * machine without a bf16 unit (tests/meson.build).
 *
 * The references are computed here, in double, from the fp32 operands as they are (the unrounded
 * reference) and from the operands rounded as the ABI says (the rounded reference):
 *   tf32: low 13 bits of the pattern zero, to nearest, ties away from zero, u = 2^-11;
 *   bf16: low 16 bits zero, to nearest, ties to even, u = 2^-8; NaN and Inf stay what they are.
 * Per element of C, with S = sum_p |a_p b_p| (a, b unrounded), S_r the same of the rounded
 * operands, M = max_p |a_p b_p|, c0 the previous C, and u = 0 at highest:
 *   |C - rounded reference|   <= |alpha| (k 2^-22 S_r + 2u M) + 2^-22 |beta c0| + TINY
 *       the rounded operands' products are exact in fp32, so what is left is fp32 summation in
 *       any order, within k 2^-24 S_r (Higham, Accuracy and Stability of Numerical Algorithms,
 *       2nd ed., 2002, eq. (3.5)), with a factor 4 of slack, plus one operand that a backend
 *       rounds the other way at a tie (2u |a_p b_p|);
 *   |C - unrounded reference| <= |alpha| (2u + k 2^-23) S + 2^-22 |beta c0| + TINY
 *       the bound the ABI comment states.
 * The per-element bounds grow like k while the error of rounded operands grows like sqrt(k), so
 * they cannot tell bf16 from fp32 at large k; test_precision_rounds does that with an aggregate
 * measure (relative RMS error, independent of k: ~2^-9 for bf16, ~2^-12 for tf32, ~2^-20 for
 * fp32 at k = 512), and checks that operands exactly representable in the format give fp32
 * results; test_precision_ties checks the rounding of single operands exactly, ties included. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_precision.h"
#include "suites.h"
#include "test_util.h"

#define TINY 1e-30
#define ROUNDS_K 512

static const char *const PNAME[HRM_PRECISION_COUNT] = {"highest (fp32)", "high (tf32)", "medium (bf16)"};

/* Unit roundoff of each precision's operand rounding (0: none). */
static double unit_roundoff(int p) {
    return p == HRM_PRECISION_HIGH ? 0x1p-11 : p == HRM_PRECISION_MEDIUM ? 0x1p-8 : 0.0;
}

/* ---- the ABI's roundings, written from the comment in include/hrm/backend.h ----------------- */

static uint32_t bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static float from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* Rounds away the low `drop` bits of x's pattern to nearest, ties to even (even = 1) or away from
 * zero (even = 0). NaN stays NaN (quiet), Inf stays Inf; a finite value may round up to Inf. */
static float round_bits(float x, int drop, int even) {
    uint32_t u = bits(x), mask = (1u << drop) - 1u, half = 1u << (drop - 1);
    if ((u & 0x7f800000u) == 0x7f800000u) return (u & 0x007fffffu) ? from_bits(0x7fc00000u | (u & 0x80000000u)) : x;
    uint32_t low = u & mask, kept = u & ~mask;
    /* sign-magnitude: rounding the magnitude up is adding one unit of the kept part */
    if (low > half || (low == half && (!even || (kept & (mask + 1u))))) kept += mask + 1u;
    return from_bits(kept);
}

static float round_to(int p, float x) {
    if (p == HRM_PRECISION_HIGH) return round_bits(x, 13, 0);
    if (p == HRM_PRECISION_MEDIUM) return round_bits(x, 16, 1);
    return x;
}

/* ---- operands: strided (test_util.h), as in ops_dense.c ---- */

typedef struct pcase {
    int ta, tb, m, n, k, batch;
    float alpha, beta;
    int pad;    /* extra elements in every leading dimension */
    int gap;    /* extra elements between batch items */
    int off;    /* element offset of A, B and C in their tensors */
    int nan_c;  /* C starts as NaN: with beta = 0 that must not matter */
    int zero_a; /* stride_a = 0: every item multiplies the same A */
    int zero_b; /* stride_b = 0: the same B (shared weights) */
} pcase;

static const pcase cases[] = {
    /* ta tb    m    n    k batch  alpha   beta pad gap off nan za zb */
    {0, 0, 1, 1, 1, 1, 1.0f, 0.0f, 0, 0, 0, 1, 0, 0},
    {0, 1, 17, 13, 29, 1, 1.0f, 0.0f, 3, 0, 5, 1, 0, 0}, /* linear layer y = x W^T */
    {1, 0, 31, 19, 47, 1, 0.5f, 1.0f, 2, 0, 1, 0, 0, 0}, /* weight gradient dW += dy^T x */
    {1, 1, 9, 33, 70, 1, -1.25f, 0.5f, 1, 0, 3, 0, 0, 0},
    {0, 0, 5, 7, 3, 3, 2.0f, 0.5f, 1, 4, 2, 0, 0, 0},
    {0, 1, 12, 10, 23, 3, 1.0f, 0.0f, 0, 7, 0, 1, 0, 1},
    {1, 0, 16, 12, 9, 4, 1.0f, 1.0f, 5, 3, 7, 0, 1, 0},
    {1, 1, 6, 11, 13, 2, 0.75f, 0.0f, 1, 1, 1, 1, 0, 0},
    {0, 0, 65, 97, 129, 1, 1.0f, 0.5f, 2, 0, 1, 0, 0, 0},
    /* >= 2e7 FLOPs and >= 128 rows or columns: the CPU backend cuts these into slices per thread,
     * by rows (m >= n) or by columns, the last one ragged */
    {0, 1, 300, 130, 260, 1, 1.0f, 1.0f, 3, 0, 2, 0, 0, 0},
    {1, 0, 130, 300, 260, 1, 1.0f, 0.0f, 0, 0, 1, 1, 0, 0},
    {1, 1, 70, 150, 200, 2, -0.5f, 0.5f, 1, 2, 0, 0, 0, 0},
    {0, 0, 7, 5, 0, 1, 1.0f, 0.5f, 1, 0, 1, 0, 0, 0}, /* k = 0: C = beta C */
    {0, 1, 4, 6, 0, 2, 1.0f, 0.0f, 0, 1, 0, 1, 0, 0}, /* k = 0, beta = 0: C = 0 */
};

typedef struct layout {
    hrm_matmul_args p; /* scalars; pointers set when run */
    strided sa, sb, sc;
} layout;

static layout make_layout(const pcase *c) {
    layout L;
    memset(&L, 0, sizeof L);
    hrm_matmul_args *p = &L.p;
    p->trans_a = c->ta, p->trans_b = c->tb, p->m = c->m, p->n = c->n, p->k = c->k;
    p->alpha = c->alpha, p->beta = c->beta, p->batch = c->batch;
    L.sa = (strided){(size_t)c->off, c->batch, c->ta ? c->k : c->m, c->ta ? c->m : c->k, 0, 0};
    L.sb = (strided){(size_t)c->off, c->batch, c->tb ? c->n : c->k, c->tb ? c->k : c->n, 0, 0};
    L.sc = (strided){(size_t)c->off, c->batch, c->m, c->n, 0, 0};
    strided *all[3] = {&L.sa, &L.sb, &L.sc};
    for (int i = 0; i < 3; i++) {
        all[i]->ld = (all[i]->cols > 0 ? all[i]->cols : 1) + c->pad;
        all[i]->stride = all[i]->rows * all[i]->ld + c->gap;
    }
    if (c->zero_a) L.sa.stride = 0;
    if (c->zero_b) L.sb.stride = 0;
    p->lda = L.sa.ld, p->stride_a = L.sa.stride, p->ldb = L.sb.ld, p->stride_b = L.sb.stride;
    p->ldc = L.sc.ld, p->stride_c = L.sc.stride;
    return L;
}

/* Random values in [lo, hi] where the operand lives, NaN in its gaps (never to be read). With
 * round_p >= 0 the values are made exactly representable in that precision's format. */
static float *operand(rng *r, const strided *s, float lo, float hi, int nan_everywhere, int round_p) {
    size_t n = strided_extent(s);
    float *x = fbuf(n);
    for (size_t i = 0; i < n; i++) {
        float v = strided_has(s, i) && !nan_everywhere ? rng_range(r, lo, hi) : NAN;
        x[i] = round_p >= 0 ? round_to(round_p, v) : v;
    }
    return x;
}

/* The slot under test: matmul at highest when the table has no matmul_precision. */
static hrm_status call_at(hrm_ctx *c, int p, const hrm_matmul_args *a) {
    if (c->f->struct_size >= HRM_IFACE_END(matmul_precision) && c->f->matmul_precision)
        return c->f->matmul_precision(c->dev, a, (hrm_matmul_precision)p);
    return p == HRM_PRECISION_HIGHEST ? c->f->matmul(c->dev, a) : HRM_ERR_UNSUPPORTED;
}

/* Runs the product at precision p (or plain matmul when use_matmul) on the device under test;
 * cio holds C's storage on entry and the result on return. A and B must come back unchanged and
 * nothing may be written outside C's tensor. */
static void run_at(int p, int use_matmul, const layout *L, const float *a, const float *b, float *cio) {
    hrm_ctx *c = &T.dut;
    hrm_matmul_args args = L->p;
    dten ta = dt_f(c, a, strided_extent(&L->sa)), tb = dt_f(c, b, strided_extent(&L->sb)),
         tc = dt_f(c, cio, strided_extent(&L->sc));
    args.a = P_at(ta, L->sa.off), args.b = P_at(tb, L->sb.off), args.c = P_at(tc, L->sc.off);
    char what[64];
    snprintf(what, sizeof what, "%s at %s", use_matmul ? "matmul" : "matmul_precision", PNAME[p]);
    CALL_OK(c, use_matmul ? c->f->matmul(c->dev, &args) : call_at(c, p, &args), what);
    dt_get(tc, cio);
    dt_check_guards(tc, "matmul_precision C");
    dt_expect_unchanged(ta, a, "matmul_precision A");
    dt_expect_unchanged(tb, b, "matmul_precision B");
}

/* Element (r, t) of op(A_i) and (t, col) of op(B_i). */
static float a_at(const layout *L, const float *a, int i, int r, int t) {
    const hrm_matmul_args *p = &L->p;
    const float *ai = a + L->sa.off + (size_t)(i * p->stride_a);
    return p->trans_a ? ai[t * p->lda + r] : ai[r * p->lda + t];
}

static float b_at(const layout *L, const float *b, int i, int t, int col) {
    const hrm_matmul_args *p = &L->p;
    const float *bi = b + L->sb.off + (size_t)(i * p->stride_b);
    return p->trans_b ? bi[col * p->ldb + t] : bi[t * p->ldb + col];
}

/* The sums of one element of C. */
typedef struct dot {
    double exact, rounded; /* sum a b, sum ra rb */
    double s, s_r, mx;     /* sum |a b|, sum |ra rb|, max |a b| */
} dot;

static dot dot_at(int p, const layout *L, const float *a, const float *b, int i, int r, int col) {
    dot d = {0, 0, 0, 0, 0};
    for (int t = 0; t < L->p.k; t++) {
        float x = a_at(L, a, i, r, t), y = b_at(L, b, i, t, col);
        double e = (double)x * y, q = (double)round_to(p, x) * round_to(p, y);
        d.exact += e, d.rounded += q, d.s += fabs(e), d.s_r += fabs(q);
        if (fabs(e) > d.mx) d.mx = fabs(e);
    }
    return d;
}

static void check_case(int p, int index, const pcase *pc) {
    layout L = make_layout(pc);
    rng r = {7000u + 100u * (uint64_t)p + (uint64_t)index};
    char what[200];
    snprintf(what, sizeof what, "%s, case %d (trans %d%d, %dx%dx%d, batch %d%s%s, alpha %g, beta %g, pad %d, off %d)",
             PNAME[p], index, pc->ta, pc->tb, pc->m, pc->n, pc->k, pc->batch, pc->zero_a ? ", A shared" : "",
             pc->zero_b ? ", B shared" : "", pc->alpha, pc->beta, pc->pad, pc->off);
    size_t nc = strided_extent(&L.sc);
    float *a = operand(&r, &L.sa, -1, 1, 0, -1), *b = operand(&r, &L.sb, -1, 1, 0, -1);
    float *c0 = operand(&r, &L.sc, -1, 1, pc->nan_c, -1), *got = fbuf(nc);
    memcpy(got, c0, nc * sizeof *got);
    run_at(p, 0, &L, a, b, got);
    double u = unit_roundoff(p), alpha = pc->alpha, beta = pc->beta;
    for (size_t idx = 0; idx < nc; idx++)
        if (!strided_has(&L.sc, idx))
            ck_assert_msg(!memcmp(&got[idx], &c0[idx], 4), "%s: %s: C element %zu outside the matrices was written",
                          T.name, what, idx);
    for (int i = 0; i < pc->batch; i++)
        for (int row = 0; row < pc->m; row++)
            for (int col = 0; col < pc->n; col++) {
                size_t idx = L.sc.off + (size_t)(i * L.p.stride_c + row * L.p.ldc + col);
                dot d = dot_at(p, &L, a, b, i, row, col);
                double cb = beta == 0.0 ? 0.0 : beta * c0[idx], g = got[idx];
                double want_r = alpha * d.rounded + cb, want = alpha * d.exact + cb;
                double tol_r = fabs(alpha) * (pc->k * 0x1p-22 * d.s_r + 2 * u * d.mx) + 0x1p-22 * fabs(cb) + TINY;
                double tol = fabs(alpha) * (2 * u + pc->k * 0x1p-23) * d.s + 0x1p-22 * fabs(cb) + TINY;
                ck_assert_msg(fabs(g - want_r) <= tol_r,
                              "%s: %s: C[%d][%d][%d] = %.9g, rounded-operand reference %.9g (|err| %.3g > %.3g)",
                              T.name, what, i, row, col, g, want_r, fabs(g - want_r), tol_r);
                ck_assert_msg(fabs(g - want) <= tol,
                              "%s: %s: C[%d][%d][%d] = %.9g, fp32-operand reference %.9g (|err| %.3g > %.3g)", T.name,
                              what, i, row, col, g, want, fabs(g - want), tol);
            }
}

static uint32_t reported(void) { return hrm_ctx_matmul_precisions(&T.dut); }

static int has_slots(void) {
    const hrm_backend_iface *f = T.dut.f;
    return f->struct_size >= HRM_IFACE_END(matmul_precision) && f->matmul_precisions && f->matmul_precision;
}

/* Whether `word` occurs in text with no letter right before or after it ("high" is not in "highest"). */
static int has_word(const char *text, const char *word) {
    size_t n = strlen(word);
    for (const char *s = strstr(text, word); s; s = strstr(s + 1, word)) {
        int before = s > text && ((s[-1] >= 'a' && s[-1] <= 'z') || (s[-1] >= 'A' && s[-1] <= 'Z'));
        int after = (s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z');
        if (!before && !after) return 1;
    }
    return 0;
}

/* ---- tests ---------------------------------------------------------------------------------- */

/* What the device reports: highest always; a reduced precision only with both slots, and named in
 * device_info's note; one not reported is refused with HRM_ERR_UNSUPPORTED and C left alone. */
START_TEST(test_precision_report) {
    dut_open(_i);
    hrm_ctx *c = &T.dut;
    const hrm_backend_iface *f = c->f;
    uint32_t bits_reported = reported();
    ck_assert_msg(bits_reported & HRM_PRECISION_BIT(HRM_PRECISION_HIGHEST), "%s: highest not reported", T.name);
    /* a variant that must offer a precision (an emulation, a portable kernel) names it here, so
     * that a start-up check that wrongly refuses it fails the test instead of skipping its cases */
    const char *expect = getenv("HRM_TEST_EXPECT_PRECISIONS");
    for (int p = HRM_PRECISION_HIGH; expect && p < HRM_PRECISION_COUNT; p++)
        if (has_word(expect, hrm_precision_name((hrm_matmul_precision)p)))
            ck_assert_msg(bits_reported & HRM_PRECISION_BIT(p),
                          "%s: %s expected (HRM_TEST_EXPECT_PRECISIONS=%s), not reported", T.name, PNAME[p], expect);
    if (f->struct_size >= HRM_IFACE_END(matmul_precision) && f->matmul_precisions) {
        uint32_t raw = f->matmul_precisions(c->dev);
        ck_assert_msg(!(raw & ~((1u << HRM_PRECISION_COUNT) - 1u)), "%s: matmul_precisions reports unknown bits 0x%x",
                      T.name, raw);
        ck_assert_msg(!(raw & ~1u) || f->matmul_precision, "%s: reduced precisions reported without matmul_precision",
                      T.name);
    }
    hrm_device_info info;
    CALL_OK(c, f->device_info(c->be, c->device_index, &info), "device_info");
    for (int p = HRM_PRECISION_HIGH; p < HRM_PRECISION_COUNT; p++)
        if (bits_reported & HRM_PRECISION_BIT(p))
            ck_assert_msg(has_word(info.note, hrm_precision_name((hrm_matmul_precision)p)),
                          "%s: reports %s, but device_info's note does not say so: '%s'", T.name, PNAME[p], info.note);
    if (!has_slots()) return;

    layout L = make_layout(&cases[1]);
    rng r = {99};
    float *a = operand(&r, &L.sa, -1, 1, 0, -1), *b = operand(&r, &L.sb, -1, 1, 0, -1);
    float *c0 = operand(&r, &L.sc, -1, 1, 0, -1), *got = fbuf(strided_extent(&L.sc));
    dten ta = dt_f(c, a, strided_extent(&L.sa)), tb = dt_f(c, b, strided_extent(&L.sb)),
         tc = dt_f(c, c0, strided_extent(&L.sc));
    hrm_matmul_args args = L.p;
    args.a = P_at(ta, L.sa.off), args.b = P_at(tb, L.sb.off), args.c = P_at(tc, L.sc.off);
    for (int p = HRM_PRECISION_HIGH; p < HRM_PRECISION_COUNT; p++) {
        if (bits_reported & HRM_PRECISION_BIT(p)) continue;
        hrm_status s = f->matmul_precision(c->dev, &args, (hrm_matmul_precision)p);
        const char *e = f->last_error(c->be);
        ck_assert_msg(s == HRM_ERR_UNSUPPORTED, "%s: matmul_precision at %s, not reported, returned %s", T.name,
                      PNAME[p], hrm_status_str(s));
        ck_assert_msg(e && e[0] && !strchr(e, '\n'), "%s: last_error after an unsupported precision: '%s'", T.name,
                      e ? e : "(null)");
        ck_assert_msg(hrm_ctx_matmul(c, &args, (hrm_matmul_precision)p) == HRM_ERR_UNSUPPORTED,
                      "%s: hrm_ctx_matmul at %s, not reported, did not refuse", T.name, PNAME[p]);
        dt_get(tc, got);
        expect_same_bits(got, c0, strided_extent(&L.sc), "C after a refused precision");
    }
    ck_assert_msg(f->matmul_precision(c->dev, &args, (hrm_matmul_precision)HRM_PRECISION_COUNT) != HRM_OK,
                  "%s: matmul_precision with precision %d succeeded", T.name, HRM_PRECISION_COUNT);
    CALL_OK(c, f->matmul_precision(c->dev, &args, HRM_PRECISION_HIGHEST), "matmul_precision after refused calls");
}
END_TEST

/* matmul_precision at highest is matmul, bit for bit. */
START_TEST(test_precision_highest_is_matmul) {
    dut_open(_i);
    if (!has_slots()) return;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const pcase *pc = &cases[ci];
        layout L = make_layout(pc);
        rng r = {8000u + (uint64_t)ci};
        size_t nc = strided_extent(&L.sc);
        float *a = operand(&r, &L.sa, -1, 1, 0, -1), *b = operand(&r, &L.sb, -1, 1, 0, -1);
        float *c0 = operand(&r, &L.sc, -1, 1, pc->nan_c, -1), *x = fbuf(nc), *y = fbuf(nc);
        memcpy(x, c0, nc * 4), memcpy(y, c0, nc * 4);
        run_at(HRM_PRECISION_HIGHEST, 1, &L, a, b, x);
        run_at(HRM_PRECISION_HIGHEST, 0, &L, a, b, y);
        char what[96];
        snprintf(what, sizeof what, "case %zu: matmul_precision at highest vs matmul", ci);
        expect_same_bits(y, x, nc, what);
    }
}
END_TEST

/* Every case at every reported precision, against both references. */
START_TEST(test_precision_matmul) {
    dut_open(_i);
    uint32_t b = reported();
    for (int p = 0; p < HRM_PRECISION_COUNT; p++)
        if (b & HRM_PRECISION_BIT(p))
            for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) check_case(p, (int)ci, &cases[ci]);
}
END_TEST

/* A reduced precision must really round: with random operands its error against the unrounded
 * reference is that of the rounding (relative RMS ~2^-9 for bf16, ~2^-12 for tf32; fp32 gets
 * ~2^-20 at k = 512), and it follows the rounded reference (8x closer to it than the rounding's
 * own size), so that neither fp32 nor another rounding (truncation) passes for it. With operands
 * exactly representable in the format the result is fp32's, per element. */
START_TEST(test_precision_rounds) {
    dut_open(_i);
    uint32_t bits_reported = reported();
    const pcase pc = {0, 1, 24, 20, ROUNDS_K, 1, 1.0f, 0.0f, 1, 0, 3, 1, 0, 0};
    for (int p = HRM_PRECISION_HIGH; p < HRM_PRECISION_COUNT; p++) {
        if (!(bits_reported & HRM_PRECISION_BIT(p))) continue;
        double floor_rel = p == HRM_PRECISION_MEDIUM ? 0x1p-13 : 0x1p-16;
        layout L = make_layout(&pc);
        for (int representable = 0; representable < 2; representable++) {
            rng r = {9100u + 10u * (uint64_t)p + (uint64_t)representable};
            int rp = representable ? p : -1;
            float *a = operand(&r, &L.sa, -1, 1, 0, rp), *b = operand(&r, &L.sb, -1, 1, 0, rp);
            float *got = operand(&r, &L.sc, -1, 1, 1, -1);
            run_at(p, 0, &L, a, b, got);
            double e2 = 0, er2 = 0, dr2 = 0, ref2 = 0;
            for (int row = 0; row < pc.m; row++)
                for (int col = 0; col < pc.n; col++) {
                    double g = got[L.sc.off + (size_t)(row * L.p.ldc + col)];
                    dot d = dot_at(p, &L, a, b, 0, row, col);
                    e2 += (g - d.exact) * (g - d.exact), er2 += (g - d.rounded) * (g - d.rounded);
                    dr2 += (d.rounded - d.exact) * (d.rounded - d.exact), ref2 += d.exact * d.exact;
                    if (representable) {
                        double tol = pc.k * 0x1p-22 * d.s + TINY;
                        ck_assert_msg(fabs(g - d.exact) <= tol,
                                      "%s: %s with operands exact in its format: C[%d][%d] = %.9g, fp32 product "
                                      "%.9g (|err| %.3g > %.3g)",
                                      T.name, PNAME[p], row, col, g, d.exact, fabs(g - d.exact), tol);
                    }
                }
            if (representable) continue;
            double rel = sqrt(e2 / ref2), follow = sqrt(er2 / ref2), rounding = sqrt(dr2 / ref2);
            if (getenv("HRM_TEST_VERBOSE"))
                fprintf(stderr,
                        "%s: %s at k = %d: relative RMS error %.3g (2^%.1f) vs fp32 operands, %.3g vs rounded "
                        "ones; rounding alone %.3g\n",
                        T.name, PNAME[p], pc.k, rel, log2(rel), follow, rounding);
            ck_assert_msg(rel > floor_rel,
                          "%s: %s does not round its operands: relative RMS error %.3g against the fp32 product is "
                          "under %.3g (the rounding alone gives %.3g)",
                          T.name, PNAME[p], rel, floor_rel, rounding);
            ck_assert_msg(follow <= rounding / 8,
                          "%s: %s rounds differently from the ABI: relative RMS error %.3g against the rounded-operand "
                          "reference, over 1/8 of the rounding's own %.3g",
                          T.name, PNAME[p], follow, rounding);
        }
    }
}
END_TEST

/* NaN and Inf in A survive the rounding: a NaN whose only payload bits are ones the format drops
 * must not become Inf, nor an Inf a NaN or a finite value. */
START_TEST(test_precision_special) {
    dut_open(_i);
    uint32_t bits_reported = reported();
    const pcase pc = {0, 0, 5, 9, 21, 1, 1.0f, 0.0f, 2, 0, 1, 1, 0, 0};
    for (int p = 0; p < HRM_PRECISION_COUNT; p++) {
        if (!(bits_reported & HRM_PRECISION_BIT(p))) continue;
        layout L = make_layout(&pc);
        rng r = {9300u + (uint64_t)p};
        float *a = operand(&r, &L.sa, -1, 1, 0, -1), *b = operand(&r, &L.sb, 0.5f, 1, 0, -1);
        float *got = operand(&r, &L.sc, -1, 1, 1, -1);
        const float specials[3] = {from_bits(0x7f800001u), INFINITY, -INFINITY}; /* rows 0, 1, 2 */
        for (int row = 0; row < 3; row++) a[L.sa.off + (size_t)(row * L.p.lda + 4 + row)] = specials[row];
        run_at(p, 0, &L, a, b, got);
        for (int row = 0; row < pc.m; row++)
            for (int col = 0; col < pc.n; col++) {
                float g = got[L.sc.off + (size_t)(row * L.p.ldc + col)];
                if (row == 0)
                    ck_assert_msg(isnan(g), "%s: %s: a NaN in row 0 of A gave C[0][%d] = %g", T.name, PNAME[p], col, g);
                else if (row < 3)
                    ck_assert_msg(isinf(g) && (g > 0) == (row == 1), "%s: %s: %cInf in row %d of A gave C[%d][%d] = %g",
                                  T.name, PNAME[p], row == 1 ? '+' : '-', row, row, col, g);
                else
                    ck_assert_msg(isfinite(g), "%s: %s: finite row %d gave C[%d][%d] = %g", T.name, PNAME[p], row, row,
                                  col, g);
            }
    }
}
END_TEST

/* The rounding itself, ties included, where nothing else can hide it: with k = 1 and B exactly
 * representable (1, -2, 0.5), C = round(a) b is exact in fp32, so it must equal the rounded
 * reference bit for bit. The values of A sit on, and one unit beside, the tie points of both
 * formats (low 16 bits 0x8000 for bf16, low 13 bits 0x1000 for tf32), with an even and an odd
 * kept part each, and both signs (no denormals: a GPU may flush them). The random tests above
 * give a tie one operand's allowance, so only this one tells ties to even from ties away. */
START_TEST(test_precision_ties) {
    dut_open(_i);
    static const uint32_t av[] = {
        0x3f808000u, 0x3f818000u, 0xbf808000u, 0xbf818000u, 0x3f807fffu, 0x3f808001u, /* bf16 ties, near ties */
        0x3f801000u, 0x3f803000u, 0xbf801000u, 0xbf803000u, 0x3f800fffu, 0x3f801001u, /* tf32 ties, near ties */
        0x40490fdbu, 0xc2f6e979u, 0x3c23d70au, 0x3f7fffffu,                           /* pi, -123.456, 0.01, 1 - ulp */
    };
    enum { M = sizeof av / sizeof av[0], N = 3 };
    const pcase pc = {0, 0, M, N, 1, 1, 1.0f, 0.0f, 0, 0, 0, 1, 0, 0};
    const float bv[N] = {1.0f, -2.0f, 0.5f};
    uint32_t bits_reported = reported();
    for (int p = 0; p < HRM_PRECISION_COUNT; p++) {
        if (!(bits_reported & HRM_PRECISION_BIT(p))) continue;
        layout L = make_layout(&pc);
        float *a = fbuf(strided_extent(&L.sa)), *b = fbuf(strided_extent(&L.sb)), *got = fbuf(strided_extent(&L.sc));
        for (int r = 0; r < M; r++) a[r] = from_bits(av[r]);
        for (int c = 0; c < N; c++) b[c] = bv[c];
        for (size_t i = 0; i < strided_extent(&L.sc); i++) got[i] = NAN;
        run_at(p, 0, &L, a, b, got);
        for (int r = 0; r < M; r++)
            for (int c = 0; c < N; c++) {
                float want = round_to(p, a[r]) * bv[c], g = got[r * N + c];
                ck_assert_msg(bits(g) == bits(want),
                              "%s: %s: a = %.9g (0x%08x) times %g gave %.9g (0x%08x), want %.9g (0x%08x): the "
                              "operand is not rounded as the ABI says",
                              T.name, PNAME[p], a[r], av[r], bv[c], g, bits(g), want, bits(want));
            }
    }
}
END_TEST

void add_precision_tests(Suite *s, int plugins) {
    TCase *tc = plugin_tcase("precision");
    tcase_add_loop_test(tc, test_precision_report, 0, plugins);
    tcase_add_loop_test(tc, test_precision_highest_is_matmul, 0, plugins);
    tcase_add_loop_test(tc, test_precision_matmul, 0, plugins);
    tcase_add_loop_test(tc, test_precision_rounds, 0, plugins);
    tcase_add_loop_test(tc, test_precision_special, 0, plugins);
    tcase_add_loop_test(tc, test_precision_ties, 0, plugins);
    suite_add_tcase(s, tc);
}
