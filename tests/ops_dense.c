/* tests/ops_dense.c - conformance of matmul, attention (forward and backward) and RoPE.
 *
 * Each op has a runner that uploads host inputs to one backend, runs the op there and downloads
 * the outputs, checking that nothing outside the output tensors (guard bands, gaps between rows)
 * was written and that inputs were left alone. The device under test is compared with the naive
 * double reference (CPU backend) or with the CPU backend's runner on the same inputs (others). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "reference.h"
#include "suites.h"
#include "test_util.h"

/* ---- matmul ------------------------------------------------------------------------------- */

/* Tolerance: nmse 1e-9. fp32 GEMM with k up to 300 gives ~1e-13 against double; 1e-9 still
 * catches a wrong transpose, stride or beta (all >= 1e-2). */
#define TOL_MATMUL 1e-9

typedef struct mm_case {
    int ta, tb, m, n, k, batch;
    float alpha, beta;
    int pad;   /* extra elements in every leading dimension */
    int gap;   /* extra elements between batch items */
    int off;   /* element offset of A, B and C in their tensors */
    int nan_c; /* C starts as NaN: with beta = 0 that must not matter */
} mm_case;

static const mm_case mm_cases[] = {
    /* ta tb   m   n    k batch  alpha    beta  pad gap off nan */
    {0, 0, 17, 13, 29, 1, 1.0f, 0.0f, 0, 0, 0, 0},
    {0, 1, 33, 65, 64, 1, 1.0f, 1.0f, 0, 0, 3, 0}, /* linear layer y += x W^T */
    {1, 0, 31, 19, 47, 1, 0.5f, -0.75f, 3, 0, 5, 0},
    {1, 1, 8, 9, 10, 1, -1.25f, 0.0f, 2, 0, 1, 1},
    {0, 0, 5, 7, 3, 3, 2.0f, 0.0f, 1, 4, 2, 1},
    {0, 1, 12, 10, 16, 3, 1.0f, 0.5f, 0, 7, 0, 0},
    {1, 0, 16, 12, 9, 4, 1.0f, 0.0f, 5, 3, 7, 1},
    {1, 1, 6, 11, 13, 2, 0.75f, 2.0f, 1, 1, 1, 0},
    {0, 1, 64, 96, 300, 1, 1.0f, 0.0f, 0, 0, 0, 0}, /* long accumulation */
    {0, 0, 1, 1, 1, 1, 1.0f, 0.0f, 0, 0, 0, 1},
    {1, 0, 82, 64, 82, 2, 1.0f, 0.0f, 0, 0, 0, 1}, /* P^T dO of attention, batched */
    /* >= 2e7 FLOPs and >= 128 rows or columns: the CPU backend cuts these into slices per thread
     * (cpu_matmul.c), by rows when m >= n, else by columns; sizes leave a ragged last slice */
    {0, 1, 300, 130, 260, 1, 1.0f, 0.5f, 3, 0, 2, 0},
    {1, 0, 130, 300, 260, 1, 1.0f, 0.0f, 0, 0, 1, 1},
    {1, 1, 200, 150, 350, 1, -0.5f, 1.0f, 2, 0, 0, 0},
    {0, 0, 96, 257, 420, 2, 1.0f, 0.25f, 1, 5, 3, 0},
};

static void mm_layout(const mm_case *c, hrm_matmul_args *p, strided *sa, strided *sb, strided *sc) {
    memset(p, 0, sizeof *p);
    p->trans_a = c->ta, p->trans_b = c->tb, p->m = c->m, p->n = c->n, p->k = c->k;
    p->alpha = c->alpha, p->beta = c->beta, p->batch = c->batch;
    *sa = (strided){(size_t)c->off, c->batch, c->ta ? c->k : c->m, c->ta ? c->m : c->k, 0, 0};
    *sb = (strided){(size_t)c->off, c->batch, c->tb ? c->n : c->k, c->tb ? c->k : c->n, 0, 0};
    *sc = (strided){(size_t)c->off, c->batch, c->m, c->n, 0, 0};
    strided *all[3] = {sa, sb, sc};
    for (int i = 0; i < 3; i++) {
        all[i]->ld = all[i]->cols + c->pad;
        all[i]->stride = all[i]->rows * all[i]->ld + c->gap;
    }
    p->lda = sa->ld, p->stride_a = sa->stride, p->ldb = sb->ld, p->stride_b = sb->stride;
    p->ldc = sc->ld, p->stride_c = sc->stride;
}

/* Runs matmul on c; cio holds C's initial storage on entry and the result on return. */
static void run_matmul(hrm_ctx *c, hrm_matmul_args p, const strided *sa, const strided *sb, const strided *sc,
                       const float *a, const float *b, float *cio) {
    dten ta = dt_f(c, a, strided_extent(sa)), tb = dt_f(c, b, strided_extent(sb));
    dten tc = dt_f(c, cio, strided_extent(sc));
    p.a = P_at(ta, sa->off), p.b = P_at(tb, sb->off), p.c = P_at(tc, sc->off);
    CALL_OK(c, c->f->matmul(c->dev, &p), "matmul");
    dt_get(tc, cio);
    dt_check_guards(tc, "matmul C");
    dt_expect_unchanged(ta, a, "matmul A");
    dt_expect_unchanged(tb, b, "matmul B");
}

/* Random values where the operand lives, NaN in its gaps (which must never be read into C). */
static float *mm_operand(rng *r, const strided *s, int nan_everywhere) {
    size_t n = strided_extent(s);
    float *x = fbuf(n);
    for (size_t i = 0; i < n; i++) x[i] = strided_has(s, i) && !nan_everywhere ? rng_range(r, -1, 1) : NAN;
    return x;
}

static void mm_check_case(int index, const mm_case *mc) {
    hrm_matmul_args p;
    strided sa, sb, sc;
    rng r = {1000u + (uint64_t)index};
    char what[160];
    mm_layout(mc, &p, &sa, &sb, &sc);
    snprintf(what, sizeof what, "matmul case %d (trans %d%d, %dx%dx%d, batch %d, alpha %g, beta %g, pad %d)", index,
             mc->ta, mc->tb, mc->m, mc->n, mc->k, mc->batch, mc->alpha, mc->beta, mc->pad);
    size_t nc = strided_extent(&sc);
    float *a = mm_operand(&r, &sa, 0), *b = mm_operand(&r, &sb, 0), *c0 = mm_operand(&r, &sc, mc->nan_c);
    float *got = fbuf(nc);
    double *want = dbuf(nc);
    memcpy(got, c0, nc * sizeof *got);
    run_matmul(&T.dut, p, &sa, &sb, &sc, a, b, got);
    if (T.ref) {
        float *cpu = fbuf(nc);
        memcpy(cpu, c0, nc * sizeof *cpu);
        run_matmul(T.ref, p, &sa, &sb, &sc, a, b, cpu);
        f2d(cpu, want, nc);
    } else {
        f2d(c0, want, nc);
        ref_matmul(&p, a + sa.off, b + sb.off, want + sc.off);
    }
    /* C's own elements by nmse; everything else in its storage must be untouched */
    float *g = fbuf(nc);
    double *w = dbuf(nc);
    size_t cnt = 0;
    for (size_t i = 0; i < nc; i++) {
        if (strided_has(&sc, i)) {
            g[cnt] = got[i], w[cnt] = want[i], cnt++;
        } else {
            ck_assert_msg(!memcmp(&got[i], &c0[i], 4), "%s: %s: C element %zu outside the matrices was written", T.name,
                          what, i);
        }
    }
    ck_assert_uint_eq(cnt, (size_t)mc->m * mc->n * mc->batch);
    expect_nmse(g, w, cnt, TOL_MATMUL, what);
}

START_TEST(test_matmul) {
    dut_open(_i);
    for (size_t c = 0; c < sizeof mm_cases / sizeof mm_cases[0]; c++) mm_check_case((int)c, &mm_cases[c]);
}
END_TEST

/* ---- attention ---------------------------------------------------------------------------- */

/* Tolerances (nmse): forward o 1e-9, lse 1e-10, backward dq/dk/dv 1e-8. fp32 kernels with
 * seq <= 82 and head_dim <= 128 land near 1e-13; the backward's longer chains (dP, the row sum,
 * then two more products) get two more decades. */
#define TOL_ATT_O 1e-9
#define TOL_ATT_LSE 1e-10
#define TOL_ATT_GRAD 1e-8

typedef struct att_case {
    int batch, seq, heads, hd, causal;
    int packed; /* 1: q, k, v carved from one [batch, seq, 3*heads, hd] as HRM does; 0: three tensors */
    int o_pad;  /* o_row_stride = heads*hd + o_pad */
    float amp;  /* inputs uniform in [-amp, amp]: larger is a peakier softmax */
} att_case;

static const att_case att_cases[] = {
    /* B   S  H   hd causal packed o_pad amp */
    {2, 7, 2, 16, 0, 1, 0, 1.0f},  {1, 82, 2, 64, 0, 1, 0, 1.0f}, /* HRM's sudoku shape, per head */
    {2, 1, 3, 128, 0, 1, 0, 1.0f}, {1, 82, 1, 128, 1, 1, 0, 1.0f}, {2, 7, 2, 24, 1, 1, 0, 2.5f},
    {1, 82, 2, 24, 0, 0, 8, 1.0f}, {1, 7, 1, 64, 1, 0, 4, 1.5f},   {1, 1, 1, 16, 1, 1, 0, 1.0f},
    {2, 82, 2, 16, 1, 1, 0, 3.0f},
};

typedef struct att_layout {
    hrm_attention_args p; /* scalars and strides; pointers set by the runners */
    size_t tokens, hh;    /* batch*seq, heads*head_dim */
    size_t nqkv, nblock;  /* host qkv size; size of each uploaded tensor (1 packed, 3 separate) */
    size_t part_off[3];   /* where q, k, v start in the host qkv */
    size_t no, nlse;
} att_layout;

static att_layout att_make(const att_case *c) {
    att_layout L;
    memset(&L, 0, sizeof L);
    hrm_attention_args *p = &L.p;
    p->batch = c->batch, p->seq = c->seq, p->heads = c->heads, p->head_dim = c->hd, p->causal = c->causal;
    p->scale = (float)(1.0 / sqrt((double)c->hd));
    L.tokens = (size_t)c->batch * c->seq, L.hh = (size_t)c->heads * c->hd;
    if (c->packed) {
        p->qkv_row_stride = (int64_t)(3 * L.hh);
        L.nqkv = L.nblock = L.tokens * 3 * L.hh;
        for (int i = 0; i < 3; i++) L.part_off[i] = i * L.hh;
    } else {
        p->qkv_row_stride = (int64_t)L.hh;
        L.nblock = L.tokens * L.hh, L.nqkv = 3 * L.nblock;
        for (int i = 0; i < 3; i++) L.part_off[i] = i * L.nblock;
    }
    p->dqkv_row_stride = p->qkv_row_stride;
    p->o_row_stride = (int64_t)L.hh + c->o_pad;
    L.no = (L.tokens - 1) * (size_t)p->o_row_stride + L.hh;
    L.nlse = (size_t)c->batch * c->heads * c->seq;
    return L;
}

/* q, k, v (or dq, dk, dv) on a device: one packed tensor or three. */
typedef struct att_trio {
    dten t[3];
    int count;
} att_trio;

static att_trio trio_make(hrm_ctx *c, const att_layout *L, const float *host) {
    att_trio tr = {.count = L->nblock == L->nqkv ? 1 : 3};
    for (int i = 0; i < tr.count; i++) tr.t[i] = host ? dt_f(c, host + i * L->nblock, L->nblock) : dt_new(c, L->nblock);
    return tr;
}

static hrm_ptr trio_part(const att_trio *tr, const att_layout *L, int part) {
    return tr->count == 1 ? P_at(tr->t[0], L->part_off[part]) : P(tr->t[part]);
}

static void trio_get(const att_trio *tr, const att_layout *L, float *host) {
    for (int i = 0; i < tr->count; i++) dt_get(tr->t[i], host + i * L->nblock);
}

static void trio_expect_unchanged(const att_trio *tr, const att_layout *L, const float *host, const char *what) {
    for (int i = 0; i < tr->count; i++) dt_expect_unchanged(tr->t[i], host + i * L->nblock, what);
}

static void run_att_forward(hrm_ctx *c, const att_layout *L, const float *qkv, float *o, float *lse) {
    hrm_attention_args p = L->p;
    att_trio in = trio_make(c, L, qkv);
    p.q = trio_part(&in, L, 0), p.k = trio_part(&in, L, 1), p.v = trio_part(&in, L, 2);
    dten to = dt_new(c, L->no), tl = dt_new(c, L->nlse);
    p.o = P(to), p.lse = P(tl);
    CALL_OK(c, c->f->attention_forward(c->dev, &p), "attention_forward");
    dt_get(to, o);
    dt_get(tl, lse);
    dt_check_guards(to, "attention_forward o");
    dt_check_guards(tl, "attention_forward lse");
    trio_expect_unchanged(&in, L, qkv, "attention_forward qkv");
}

static void run_att_backward(hrm_ctx *c, const att_layout *L, const float *qkv, const float *o, const float *lse,
                             const float *d_o, float *dqkv) {
    hrm_attention_args p = L->p;
    att_trio in = trio_make(c, L, qkv), grad = trio_make(c, L, NULL);
    p.q = trio_part(&in, L, 0), p.k = trio_part(&in, L, 1), p.v = trio_part(&in, L, 2);
    p.dq = trio_part(&grad, L, 0), p.dk = trio_part(&grad, L, 1), p.dv = trio_part(&grad, L, 2);
    dten to = dt_f(c, o, L->no), tl = dt_f(c, lse, L->nlse), td = dt_f(c, d_o, L->no);
    p.o = P(to), p.lse = P(tl), p.d_o = P(td);
    CALL_OK(c, c->f->attention_backward(c->dev, &p), "attention_backward");
    trio_get(&grad, L, dqkv);
    for (int i = 0; i < grad.count; i++) dt_check_guards(grad.t[i], "attention_backward dqkv");
    trio_expect_unchanged(&in, L, qkv, "attention_backward qkv");
    dt_expect_unchanged(to, o, "attention_backward o");
    dt_expect_unchanged(td, d_o, "attention_backward d_o");
}

/* Rows of o-layout tensors hold heads*hd values; the gaps between them hold NaN. */
static float *att_o_like(rng *r, const att_layout *L) {
    float *x = fbuf(L->no);
    for (size_t i = 0; i < L->no; i++) x[i] = i % (size_t)L->p.o_row_stride < L->hh ? rng_range(r, -1, 1) : NAN;
    return x;
}

static void att_case_name(char *buf, size_t size, int index, const att_case *c, const char *op) {
    snprintf(buf, size, "attention %s case %d (batch %d, seq %d, heads %d, head_dim %d, %s, %s)", op, index, c->batch,
             c->seq, c->heads, c->hd, c->causal ? "causal" : "non-causal", c->packed ? "packed qkv" : "separate q/k/v");
}

static void att_forward_case(int index, const att_case *c) {
    att_layout L = att_make(c);
    rng r = {2000u + (uint64_t)index};
    char what[200];
    att_case_name(what, sizeof what, index, c, "forward");
    float *qkv = fbuf(L.nqkv), *o = fbuf(L.no), *lse = fbuf(L.nlse);
    double *ro = dbuf(L.no), *rl = dbuf(L.nlse);
    rng_fill(&r, qkv, L.nqkv, -c->amp, c->amp);
    run_att_forward(&T.dut, &L, qkv, o, lse);
    if (T.ref) {
        float *fo = fbuf(L.no), *fl = fbuf(L.nlse);
        run_att_forward(T.ref, &L, qkv, fo, fl);
        f2d(fo, ro, L.no);
        f2d(fl, rl, L.nlse);
    } else {
        ref_attention_forward(&L.p, qkv + L.part_off[0], qkv + L.part_off[1], qkv + L.part_off[2], ro, rl);
    }
    float *go = fbuf(L.tokens * L.hh);
    double *wo = dbuf(L.tokens * L.hh);
    gather_f(o, L.tokens, L.p.o_row_stride, 0, L.hh, go);
    gather_d(ro, L.tokens, L.p.o_row_stride, 0, L.hh, wo);
    expect_nmse(go, wo, L.tokens * L.hh, TOL_ATT_O, what);
    expect_nmse(lse, rl, L.nlse, TOL_ATT_LSE, what);
    float nan = guard_nan();
    for (size_t i = 0; i < L.no; i++)
        if (i % (size_t)L.p.o_row_stride >= L.hh)
            ck_assert_msg(!memcmp(&o[i], &nan, 4), "%s: %s: o gap element %zu written", T.name, what, i);
}

static void att_backward_case(int index, const att_case *c) {
    att_layout L = att_make(c);
    rng r = {3000u + (uint64_t)index};
    char what[200];
    att_case_name(what, sizeof what, index, c, "backward");
    float *qkv = fbuf(L.nqkv), *o = att_o_like(&r, &L), *lse = fbuf(L.nlse), *d_o = att_o_like(&r, &L);
    float *dqkv = fbuf(L.nqkv);
    double *ro = dbuf(L.no), *rl = dbuf(L.nlse), *want = dbuf(L.nqkv);
    rng_fill(&r, qkv, L.nqkv, -c->amp, c->amp);
    /* o and lse as a forward pass would leave them (from the double reference, for every backend) */
    ref_attention_forward(&L.p, qkv + L.part_off[0], qkv + L.part_off[1], qkv + L.part_off[2], ro, rl);
    for (size_t i = 0; i < L.no; i++)
        if (i % (size_t)L.p.o_row_stride < L.hh) o[i] = (float)ro[i];
    for (size_t i = 0; i < L.nlse; i++) lse[i] = (float)rl[i];
    run_att_backward(&T.dut, &L, qkv, o, lse, d_o, dqkv);
    if (T.ref) {
        float *f = fbuf(L.nqkv);
        run_att_backward(T.ref, &L, qkv, o, lse, d_o, f);
        f2d(f, want, L.nqkv);
    } else {
        ref_attention_backward(&L.p, qkv + L.part_off[0], qkv + L.part_off[1], qkv + L.part_off[2], d_o,
                               want + L.part_off[0], want + L.part_off[1], want + L.part_off[2]);
    }
    static const char *names[3] = {"dq", "dk", "dv"};
    size_t n = L.tokens * L.hh;
    float *g = fbuf(n);
    double *w = dbuf(n);
    int64_t rs = L.p.dqkv_row_stride;
    /* Each part against the larger of its own size and 1e-2 of the whole gradient's: with one
     * token dq and dk are exactly zero, and a float reference holds only rounding noise there. */
    double floor_ms = 0;
    for (int part = 0; part < 3; part++) {
        gather_d(want, L.tokens, rs, L.part_off[part], L.hh, w);
        floor_ms += 1e-2 / 3 * mean_square(w, n);
    }
    for (int part = 0; part < 3; part++) {
        char pw[240];
        snprintf(pw, sizeof pw, "%s: %s", what, names[part]);
        gather_f(dqkv, L.tokens, rs, L.part_off[part], L.hh, g);
        gather_d(want, L.tokens, rs, L.part_off[part], L.hh, w);
        expect_nmse_floor(g, w, n, floor_ms, TOL_ATT_GRAD, pw);
    }
}

START_TEST(test_attention_forward) {
    dut_open(_i);
    for (size_t c = 0; c < sizeof att_cases / sizeof att_cases[0]; c++) att_forward_case((int)c, &att_cases[c]);
}
END_TEST

START_TEST(test_attention_backward) {
    dut_open(_i);
    for (size_t c = 0; c < sizeof att_cases / sizeof att_cases[0]; c++) att_backward_case((int)c, &att_cases[c]);
}
END_TEST

/* ---- rope --------------------------------------------------------------------------------- */

/* Tolerance: nmse 1e-11 (two products and a sum per element: ~1e-15 expected). */
#define TOL_ROPE 1e-11

typedef struct rope_case {
    int batch, seq, num_heads, hd; /* on a packed qkv [batch, seq, 3*num_heads, hd]; Q and K rotate */
} rope_case;

static const rope_case rope_cases[] = {{2, 7, 2, 64}, {1, 82, 1, 24}, {3, 5, 4, 16}, {1, 1, 2, 128}};

void rope_tables(int seq, int hd, float *cos_t, float *sin_t) {
    int half = hd / 2;
    for (int t = 0; t < seq; t++)
        for (int i = 0; i < half; i++) {
            double a = t * pow(10000.0, -2.0 * i / hd);
            cos_t[t * half + i] = (float)cos(a);
            sin_t[t * half + i] = (float)sin(a);
        }
}

static void run_rope(hrm_ctx *c, hrm_rope_args p, int backward, int in_place, const float *x, size_t n,
                     const float *cos_t, const float *sin_t, float *out) {
    size_t nt = (size_t)p.seq * (p.head_dim / 2);
    dten tx = dt_f(c, x, n), tc = dt_f(c, cos_t, nt), ts = dt_f(c, sin_t, nt);
    dten to = in_place ? tx : dt_new(c, n);
    p.x = P(tx), p.out = P(to), p.cos = P(tc), p.sin = P(ts);
    if (backward)
        CALL_OK(c, c->f->rope_backward(c->dev, &p), "rope_backward");
    else
        CALL_OK(c, c->f->rope_forward(c->dev, &p), "rope_forward");
    dt_get(to, out);
    dt_check_guards(to, "rope out");
    if (!in_place) dt_expect_unchanged(tx, x, "rope input");
    dt_expect_unchanged(tc, cos_t, "rope cos");
    dt_expect_unchanged(ts, sin_t, "rope sin");
}

static void rope_case_run(int index, const rope_case *rc) {
    int nh = rc->num_heads, hd = rc->hd;
    size_t tokens = (size_t)rc->batch * rc->seq, row = (size_t)3 * nh * hd, n = tokens * row;
    size_t rot = (size_t)2 * nh * hd; /* rotated elements per token: Q and K */
    hrm_rope_args p = {.batch = rc->batch, .seq = rc->seq, .heads = 2 * nh, .head_dim = hd, .row_stride = (int64_t)row};
    rng r = {4000u + (uint64_t)index};
    float *x = fbuf(n), *cs = fbuf((size_t)rc->seq * hd / 2), *sn = fbuf((size_t)rc->seq * hd / 2);
    float *out = fbuf(n), *g = fbuf(tokens * rot), *vpart = fbuf(tokens * nh * hd), *vwant = fbuf(tokens * nh * hd);
    double *want = dbuf(n), *w = dbuf(tokens * rot);
    rng_fill(&r, x, n, -1, 1);
    rope_tables(rc->seq, hd, cs, sn);
    for (int backward = 0; backward < 2; backward++)
        for (int in_place = 0; in_place < 2; in_place++) {
            char what[160];
            snprintf(what, sizeof what, "rope_%s case %d (batch %d, seq %d, %d heads of %d, %s)",
                     backward ? "backward" : "forward", index, rc->batch, rc->seq, 2 * nh, hd,
                     in_place ? "in place" : "out of place");
            run_rope(&T.dut, p, backward, in_place, x, n, cs, sn, out);
            if (T.ref) {
                float *f = fbuf(n);
                run_rope(T.ref, p, backward, in_place, x, n, cs, sn, f);
                f2d(f, want, n);
            } else {
                ref_rope(&p, backward, x, cs, sn, want);
            }
            gather_f(out, tokens, (int64_t)row, 0, rot, g);
            gather_d(want, tokens, (int64_t)row, 0, rot, w);
            expect_nmse(g, w, tokens * rot, TOL_ROPE, what);
            /* the V heads are not the op's: in place they keep x, out of place the fresh NaN */
            gather_f(out, tokens, (int64_t)row, rot, (size_t)nh * hd, vpart);
            if (in_place)
                gather_f(x, tokens, (int64_t)row, rot, (size_t)nh * hd, vwant);
            else
                for (size_t i = 0; i < tokens * nh * hd; i++) vwant[i] = guard_nan();
            expect_same_bits(vpart, vwant, tokens * nh * hd, what);
        }
}

START_TEST(test_rope) {
    dut_open(_i);
    for (size_t c = 0; c < sizeof rope_cases / sizeof rope_cases[0]; c++) rope_case_run((int)c, &rope_cases[c]);
}
END_TEST

/* Forward then backward in place is the identity (the rotation is orthogonal). */
START_TEST(test_rope_round_trip) {
    dut_open(_i);
    hrm_ctx *c = &T.dut;
    const int B = 2, S = 82, H = 4, hd = 64;
    size_t n = (size_t)B * S * H * hd;
    hrm_rope_args p = {.batch = B, .seq = S, .heads = H, .head_dim = hd, .row_stride = H * hd};
    rng r = {4100};
    float *x = fbuf(n), *cs = fbuf((size_t)S * hd / 2), *sn = fbuf((size_t)S * hd / 2), *got = fbuf(n);
    double *want = dbuf(n);
    rng_fill(&r, x, n, -1, 1);
    rope_tables(S, hd, cs, sn);
    dten tx = dt_f(c, x, n), tc = dt_f(c, cs, (size_t)S * hd / 2), ts = dt_f(c, sn, (size_t)S * hd / 2);
    p.x = p.out = P(tx), p.cos = P(tc), p.sin = P(ts);
    CALL_OK(c, c->f->rope_forward(c->dev, &p), "rope_forward");
    CALL_OK(c, c->f->rope_backward(c->dev, &p), "rope_backward");
    dt_get(tx, got);
    f2d(x, want, n);
    expect_nmse(got, want, n, TOL_ROPE, "rope forward then backward in place");
}
END_TEST

void add_dense_tests(Suite *s, int plugins) {
    TCase *tc = plugin_tcase("matmul");
    tcase_add_loop_test(tc, test_matmul, 0, plugins);
    suite_add_tcase(s, tc);
    tc = plugin_tcase("attention");
    tcase_add_loop_test(tc, test_attention_forward, 0, plugins);
    tcase_add_loop_test(tc, test_attention_backward, 0, plugins);
    suite_add_tcase(s, tc);
    tc = plugin_tcase("rope");
    tcase_add_loop_test(tc, test_rope, 0, plugins);
    tcase_add_loop_test(tc, test_rope_round_trip, 0, plugins);
    suite_add_tcase(s, tc);
}
