/* tests/gradcheck.c - finite-difference checks of every backward op, on every plugin.
 *
 * For a random weighting w and the scalar L(x) = sum(w * forward(x)), where forward is the
 * backend's own fp32 forward op, the backward op run with d_out = w must give dL/dx. We compare
 *   directional:  L(x + h d) - L(x - h d)  against  <grad, (x + h d) - (x - h d)>
 * for a few random d in [-1, 1]^n, and single coordinates x_i +- h against grad_i, for the
 * coordinates of largest |grad| and a few random ones.
 *
 * Step and tolerance: h = 1e-2 (2e-2 for the cross-entropy, whose float loss is rounded once more)
 * keeps the O(h^2) truncation error near 1e-4 relative for these smooth functions, while the fp32
 * rounding of the forward (about 1e-7 relative per output, bit-identical for outputs a coordinate
 * does not touch) contributes ~1e-5. The relative error is |fd - an| / max(|an|, floor) with
 * floor = 0.1 * the typical size of <grad, d> for directions, 2e-2 * max|grad| for coordinates;
 * it must stay below 1e-2. A gradient 5% off fails it (checked by test_gradcheck_detects). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "test_util.h"

#define FD_TOL 1e-2
#define FD_DIRS 3
#define FD_TOP_COORDS 6
#define FD_RANDOM_COORDS 6

typedef double (*loss_fn)(void *ud, const float *x);

typedef struct fd_problem {
    const char *what;
    size_t n;
    const float *x0;   /* the point */
    const float *grad; /* the backward op's gradient of L at x0 */
    loss_fn loss;
    void *ud;
    double h;
} fd_problem;

/* The worst relative error over the directions and coordinates; *where describes it. */
static double fd_worst(const fd_problem *fp, uint64_t seed, char *where, size_t where_size) {
    rng r = {seed};
    size_t n = fp->n;
    float *xp = fbuf(n), *xm = fbuf(n);
    double gnorm = 0, gmax = 0, worst = 0;
    for (size_t i = 0; i < n; i++) gnorm += (double)fp->grad[i] * fp->grad[i], gmax = fmax(gmax, fabs(fp->grad[i]));
    gnorm = sqrt(gnorm);
    ck_assert_msg(gmax > 0 && isfinite(gnorm), "%s: %s: gradient is zero or not finite", T.name, fp->what);
    for (int dir = 0; dir < FD_DIRS; dir++) {
        double an = 0, dn = 0;
        for (size_t i = 0; i < n; i++) {
            double d = rng_range(&r, -1, 1);
            xp[i] = (float)(fp->x0[i] + fp->h * d), xm[i] = (float)(fp->x0[i] - fp->h * d);
            double step = (double)xp[i] - xm[i];
            an += fp->grad[i] * step, dn += step * step;
        }
        double fd = fp->loss(fp->ud, xp) - fp->loss(fp->ud, xm);
        double floor = 0.1 * gnorm * sqrt(dn / (double)n);
        double e = fabs(fd - an) / fmax(fabs(an), floor);
        if (!(e <= worst)) {
            worst = e;
            snprintf(where, where_size, "direction %d: finite difference %.6g, gradient says %.6g", dir, fd, an);
        }
    }
    memcpy(xp, fp->x0, n * sizeof *xp);
    memcpy(xm, fp->x0, n * sizeof *xm);
    for (int c = 0; c < FD_TOP_COORDS + FD_RANDOM_COORDS; c++) {
        size_t i = 0;
        if (c < FD_TOP_COORDS) { /* the c-th largest |grad| (by repeated scans: n is small) */
            double below = INFINITY, best = -1;
            for (int k = 0; k <= c; k++) {
                best = -1;
                for (size_t j = 0; j < n; j++) {
                    double a = fabs(fp->grad[j]);
                    if (a < below && a > best) best = a, i = j;
                }
                below = best;
            }
        } else {
            i = (size_t)rng_int(&r, (int)n);
        }
        xp[i] = (float)(fp->x0[i] + fp->h), xm[i] = (float)(fp->x0[i] - fp->h);
        double fd = (fp->loss(fp->ud, xp) - fp->loss(fp->ud, xm)) / ((double)xp[i] - xm[i]);
        xp[i] = xm[i] = fp->x0[i];
        double e = fabs(fd - fp->grad[i]) / fmax(fabs(fp->grad[i]), 2e-2 * gmax);
        if (!(e <= worst)) {
            worst = e;
            snprintf(where, where_size, "coordinate %zu: finite difference %.6g, gradient %.6g", i, fd,
                     (double)fp->grad[i]);
        }
    }
    return worst;
}

static void fd_check(const fd_problem *fp, uint64_t seed) {
    char where[200] = "";
    double e = fd_worst(fp, seed, where, sizeof where);
    if (getenv("HRM_TEST_VERBOSE"))
        fprintf(stderr, "%s: gradcheck %s: worst relative error %.3g (%s)\n", T.name, fp->what, e, where);
    ck_assert_msg(e <= FD_TOL, "%s: gradcheck %s: relative error %.3g > %.0e at %s", T.name, fp->what, e, FD_TOL,
                  where);
}

static double weighted_sum(const float *y, const float *w, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)w[i] * y[i];
    return s;
}

/* ---- attention: x = the packed qkv ------------------------------------------------------ */

typedef struct att_fd {
    hrm_attention_args p;
    dten qkv, o, lse, d_o, dqkv;
    size_t nqkv, no;
    float *w, *obuf;
} att_fd;

static void att_fd_forward(att_fd *a, const float *x) {
    hrm_ctx *c = &T.dut;
    dt_set(a->qkv, x);
    CALL_OK(c, c->f->attention_forward(c->dev, &a->p), "attention_forward");
    dt_get(a->o, a->obuf);
}

static double att_fd_loss(void *ud, const float *x) {
    att_fd *a = ud;
    att_fd_forward(a, x);
    return weighted_sum(a->obuf, a->w, a->no);
}

/* Sets up L = sum(w * attention(qkv)) at a random qkv and returns its gradient by the backward. */
static void att_fd_setup(att_fd *a, int batch, int seq, int heads, int hd, int causal, rng *r, float **x0,
                         float **grad) {
    hrm_ctx *c = &T.dut;
    size_t hh = (size_t)heads * hd, tokens = (size_t)batch * seq;
    memset(a, 0, sizeof *a);
    a->nqkv = tokens * 3 * hh, a->no = tokens * hh;
    a->p = (hrm_attention_args){.batch = batch,
                                .seq = seq,
                                .heads = heads,
                                .head_dim = hd,
                                .scale = (float)(1.0 / sqrt((double)hd)),
                                .causal = causal,
                                .qkv_row_stride = (int64_t)(3 * hh),
                                .o_row_stride = (int64_t)hh,
                                .dqkv_row_stride = (int64_t)(3 * hh)};
    a->qkv = dt_new(c, a->nqkv), a->o = dt_new(c, a->no), a->lse = dt_new(c, (size_t)batch * heads * seq);
    a->d_o = dt_new(c, a->no), a->dqkv = dt_new(c, a->nqkv);
    a->p.q = P_at(a->qkv, 0), a->p.k = P_at(a->qkv, hh), a->p.v = P_at(a->qkv, 2 * hh);
    a->p.o = P(a->o), a->p.lse = P(a->lse), a->p.d_o = P(a->d_o);
    a->p.dq = P_at(a->dqkv, 0), a->p.dk = P_at(a->dqkv, hh), a->p.dv = P_at(a->dqkv, 2 * hh);
    a->w = fbuf(a->no), a->obuf = fbuf(a->no);
    *x0 = fbuf(a->nqkv), *grad = fbuf(a->nqkv);
    rng_fill(r, *x0, a->nqkv, -1.5f, 1.5f);
    rng_fill(r, a->w, a->no, -1, 1);
    dt_set(a->d_o, a->w);
    att_fd_forward(a, *x0);
    CALL_OK(c, c->f->attention_backward(c->dev, &a->p), "attention_backward");
    dt_get(a->dqkv, *grad);
}

START_TEST(test_grad_attention) {
    dut_open(_i);
    static const struct {
        int batch, seq, heads, hd, causal;
    } cases[] = {{2, 7, 2, 16, 0}, {1, 9, 1, 24, 1}, {1, 33, 2, 64, 0}, {1, 1, 1, 16, 0}};
    for (int ci = 0; ci < 4; ci++) {
        att_fd a;
        float *x0, *grad;
        char what[100];
        rng r = {20000u + (uint64_t)ci};
        att_fd_setup(&a, cases[ci].batch, cases[ci].seq, cases[ci].heads, cases[ci].hd, cases[ci].causal, &r, &x0,
                     &grad);
        snprintf(what, sizeof what, "attention (batch %d, seq %d, heads %d, head_dim %d, %s)", cases[ci].batch,
                 cases[ci].seq, cases[ci].heads, cases[ci].hd, cases[ci].causal ? "causal" : "non-causal");
        fd_problem fp = {what, a.nqkv, x0, grad, att_fd_loss, &a, 1e-2};
        fd_check(&fp, 20100u + (uint64_t)ci);
    }
}
END_TEST

/* The check must be able to fail: a gradient 5% too large, or with one wrong coordinate. */
START_TEST(test_gradcheck_detects) {
    dut_open(_i);
    att_fd a;
    float *x0, *grad;
    char where[200];
    rng r = {20200};
    att_fd_setup(&a, 1, 7, 2, 16, 0, &r, &x0, &grad);
    float *bad = fbuf(a.nqkv);
    for (size_t i = 0; i < a.nqkv; i++) bad[i] = 1.05f * grad[i];
    fd_problem fp = {"attention, gradient scaled by 1.05", a.nqkv, x0, bad, att_fd_loss, &a, 1e-2};
    double e = fd_worst(&fp, 20201, where, sizeof where);
    ck_assert_msg(e > FD_TOL, "%s: gradcheck missed a gradient 5%% off (error %.3g)", T.name, e);
    memcpy(bad, grad, a.nqkv * sizeof *bad);
    size_t top = 0;
    for (size_t i = 1; i < a.nqkv; i++)
        if (fabsf(grad[i]) > fabsf(grad[top])) top = i;
    bad[top] = -bad[top];
    fp.what = "attention, largest coordinate negated";
    e = fd_worst(&fp, 20202, where, sizeof where);
    ck_assert_msg(e > FD_TOL, "%s: gradcheck missed a negated coordinate (error %.3g)", T.name, e);
}
END_TEST

/* ---- rope: x [batch, seq, heads, hd] ---------------------------------------------------- */

typedef struct rope_fd {
    hrm_rope_args p;
    dten x, y;
    size_t n;
    float *w, *ybuf;
} rope_fd;

static double rope_fd_loss(void *ud, const float *x) {
    rope_fd *a = ud;
    hrm_ctx *c = &T.dut;
    dt_set(a->x, x);
    CALL_OK(c, c->f->rope_forward(c->dev, &a->p), "rope_forward");
    dt_get(a->y, a->ybuf);
    return weighted_sum(a->ybuf, a->w, a->n);
}

START_TEST(test_grad_rope) {
    dut_open(_i);
    hrm_ctx *c = &T.dut;
    const int B = 2, S = 9, H = 3, hd = 24;
    rope_fd a;
    rng r = {21000};
    a.n = (size_t)B * S * H * hd;
    size_t nt = (size_t)S * hd / 2;
    float *x0 = fbuf(a.n), *grad = fbuf(a.n), *cs = fbuf(nt), *sn = fbuf(nt);
    a.w = fbuf(a.n), a.ybuf = fbuf(a.n);
    rng_fill(&r, x0, a.n, -1, 1);
    rng_fill(&r, a.w, a.n, -1, 1);
    rope_tables(S, hd, cs, sn);
    a.x = dt_new(c, a.n), a.y = dt_new(c, a.n);
    dten tc = dt_f(c, cs, nt), ts = dt_f(c, sn, nt), tw = dt_f(c, a.w, a.n), tg = dt_new(c, a.n);
    a.p = (hrm_rope_args){.batch = B,
                          .seq = S,
                          .heads = H,
                          .head_dim = hd,
                          .row_stride = H * hd,
                          .x = P(a.x),
                          .out = P(a.y),
                          .cos = P(tc),
                          .sin = P(ts)};
    hrm_rope_args back = a.p;
    back.x = P(tw), back.out = P(tg);
    CALL_OK(c, c->f->rope_backward(c->dev, &back), "rope_backward");
    dt_get(tg, grad);
    fd_problem fp = {"rope", a.n, x0, grad, rope_fd_loss, &a, 1e-2};
    fd_check(&fp, 21001);
}
END_TEST

/* ---- rmsnorm: x and r ------------------------------------------------------------------- */

typedef struct rms_fd {
    hrm_rmsnorm_args p;
    dten x, r, y, rstd;
    size_t n;
    int perturb_r; /* the loss's argument is r (x held) instead of x (r held) */
    float *w, *ybuf;
} rms_fd;

static double rms_fd_loss(void *ud, const float *v) {
    rms_fd *a = ud;
    hrm_ctx *c = &T.dut;
    dt_set(a->perturb_r ? a->r : a->x, v);
    CALL_OK(c, c->f->rmsnorm_forward(c->dev, &a->p), "rmsnorm_forward");
    dt_get(a->y, a->ybuf);
    return weighted_sum(a->ybuf, a->w, a->n);
}

START_TEST(test_grad_rmsnorm) {
    dut_open(_i);
    hrm_ctx *c = &T.dut;
    rms_fd a;
    rng r = {22000};
    const int rows = 4, dim = 64;
    a.n = (size_t)rows * dim;
    float *x0 = fbuf(a.n), *r0 = fbuf(a.n), *grad = fbuf(a.n);
    a.w = fbuf(a.n), a.ybuf = fbuf(a.n);
    rng_fill(&r, x0, a.n, -1, 1);
    rng_fill(&r, r0, a.n, -1, 1);
    rng_fill(&r, a.w, a.n, -1, 1);
    a.x = dt_f(c, x0, a.n), a.r = dt_f(c, r0, a.n), a.y = dt_new(c, a.n), a.rstd = dt_new(c, (size_t)rows);
    dten tw = dt_f(c, a.w, a.n), tdh = dt_new(c, a.n);
    a.p = (hrm_rmsnorm_args){.rows = rows,
                             .dim = dim,
                             .eps = 1e-5f,
                             .x = P(a.x),
                             .r = P(a.r),
                             .y = P(a.y),
                             .rstd = P(a.rstd),
                             .dy = P(tw),
                             .dh = P(tdh)};
    CALL_OK(c, c->f->rmsnorm_forward(c->dev, &a.p), "rmsnorm_forward");
    CALL_OK(c, c->f->rmsnorm_backward(c->dev, &a.p), "rmsnorm_backward");
    dt_get(tdh, grad);
    a.perturb_r = 0;
    fd_problem fp = {"rmsnorm, x", a.n, x0, grad, rms_fd_loss, &a, 1e-2};
    fd_check(&fp, 22001);
    dt_set(a.x, x0);
    a.perturb_r = 1;
    fp.what = "rmsnorm, r";
    fp.x0 = r0;
    fd_check(&fp, 22002);
}
END_TEST

/* ---- swiglu: gu -------------------------------------------------------------------------- */

typedef struct swiglu_fd {
    hrm_swiglu_args p;
    dten gu, out;
    size_t n;
    float *w, *obuf;
} swiglu_fd;

static double swiglu_fd_loss(void *ud, const float *x) {
    swiglu_fd *a = ud;
    hrm_ctx *c = &T.dut;
    dt_set(a->gu, x);
    CALL_OK(c, c->f->swiglu_forward(c->dev, &a->p), "swiglu_forward");
    dt_get(a->out, a->obuf);
    return weighted_sum(a->obuf, a->w, a->n);
}

START_TEST(test_grad_swiglu) {
    dut_open(_i);
    hrm_ctx *c = &T.dut;
    swiglu_fd a;
    rng r = {23000};
    const int rows = 5, inter = 48;
    a.n = (size_t)rows * inter;
    float *x0 = fbuf(2 * a.n), *grad = fbuf(2 * a.n);
    a.w = fbuf(a.n), a.obuf = fbuf(a.n);
    rng_fill(&r, x0, 2 * a.n, -4, 4);
    rng_fill(&r, a.w, a.n, -1, 1);
    a.gu = dt_f(c, x0, 2 * a.n), a.out = dt_new(c, a.n);
    dten tw = dt_f(c, a.w, a.n), tdg = dt_new(c, 2 * a.n);
    a.p =
        (hrm_swiglu_args){.rows = rows, .inter = inter, .gu = P(a.gu), .out = P(a.out), .d_out = P(tw), .d_gu = P(tdg)};
    CALL_OK(c, c->f->swiglu_backward(c->dev, &a.p), "swiglu_backward");
    dt_get(tdg, grad);
    fd_problem fp = {"swiglu", 2 * a.n, x0, grad, swiglu_fd_loss, &a, 1e-2};
    fd_check(&fp, 23001);
}
END_TEST

/* ---- embedding: token table, puzzle table, positions ------------------------------------- */

typedef struct emb_fd {
    hrm_embedding_args p;
    dten target; /* the table the loss's argument is written to */
    dten out;
    size_t nout;
    float *w, *obuf;
} emb_fd;

static double emb_fd_loss(void *ud, const float *x) {
    emb_fd *a = ud;
    hrm_ctx *c = &T.dut;
    dt_set(a->target, x);
    CALL_OK(c, c->f->embedding_forward(c->dev, &a->p), "embedding_forward");
    dt_get(a->out, a->obuf);
    return weighted_sum(a->obuf, a->w, a->nout);
}

/* One problem: puzzle rows of `width` values (<= P_*D, zero-padded beyond); seeds from `seed`. */
static void grad_embedding_case(int width, uint64_t seed) {
    hrm_ctx *c = &T.dut;
    enum { B = 3, L = 6, P_ = 2, D = 8, V = 4, NID = 2, S = P_ + L };
    rng r = {seed};
    size_t ntt = (size_t)V * D, npt = (size_t)NID * width, npos = (size_t)S * D, nout = (size_t)B * S * D;
    size_t npr = (size_t)B * width;
    int32_t tokens[B * L], ids[B] = {1, 0, 1}; /* ids repeat: the table gradient sums slots */
    for (int i = 0; i < B * L; i++) tokens[i] = rng_int(&r, V);
    float *tt = fbuf(ntt), *pt = fbuf(npt), *pos = fbuf(npos), *w = fbuf(nout);
    rng_fill(&r, tt, ntt, -1, 1);
    rng_fill(&r, pt, npt, -1, 1);
    rng_fill(&r, pos, npos, -1, 1);
    rng_fill(&r, w, nout, -1, 1);
    dten ttok = dt_i(c, tokens, (size_t)B * L), tid = dt_i(c, ids, B), ttt = dt_f(c, tt, ntt), tpt = dt_f(c, pt, npt);
    dten tpos = dt_f(c, pos, npos), to = dt_new(c, nout), tw = dt_f(c, w, nout);
    dten gtt = dt_new(c, ntt), gpr = dt_new(c, npr), gpos = dt_new(c, npos);
    CALL_OK(c, c->f->buffer_fill(gtt.buf, gtt.off, ntt, 0.0f), "buffer_fill");
    CALL_OK(c, c->f->buffer_fill(gpos.buf, gpos.off, npos, 0.0f), "buffer_fill");
    hrm_embedding_args p = {.batch = B,
                            .seq_len = L,
                            .prefix = P_,
                            .dim = D,
                            .vocab = V,
                            .num_puzzle_ids = NID,
                            .puzzle_width = width,
                            .scale = 2.0f,
                            .tokens = P(ttok),
                            .puzzle_ids = P(tid),
                            .token_table = P(ttt),
                            .puzzle_table = P(tpt),
                            .pos = P(tpos),
                            .out = P(to),
                            .d_out = P(tw),
                            .d_token_table = P(gtt),
                            .d_puzzle_rows = P(gpr),
                            .d_pos = P(gpos)};
    CALL_OK(c, c->f->embedding_backward(c->dev, &p), "embedding_backward");
    float *g_tt = fbuf(ntt), *g_pr = fbuf(npr), *g_pos = fbuf(npos), *g_pt = fbuf(npt);
    dt_get(gtt, g_tt);
    dt_get(gpr, g_pr);
    dt_get(gpos, g_pos);
    for (int b = 0; b < B; b++) /* per-slot rows summed per id, as the optimizer does */
        for (size_t j = 0; j < (size_t)width; j++) g_pt[(size_t)ids[b] * width + j] += g_pr[(size_t)b * width + j];
    char what[3][64];
    snprintf(what[0], sizeof what[0], "embedding (width %d), token table", width);
    snprintf(what[1], sizeof what[1], "embedding (width %d), puzzle table", width);
    snprintf(what[2], sizeof what[2], "embedding (width %d), pos", width);
    emb_fd a = {p, ttt, to, nout, w, fbuf(nout)};
    fd_problem fp = {what[0], ntt, tt, g_tt, emb_fd_loss, &a, 1e-2};
    fd_check(&fp, seed + 1);
    dt_set(ttt, tt);
    a.target = tpt, fp.what = what[1], fp.n = npt, fp.x0 = pt, fp.grad = g_pt;
    fd_check(&fp, seed + 2);
    dt_set(tpt, pt);
    a.target = tpos, fp.what = what[2], fp.n = npos, fp.x0 = pos, fp.grad = g_pos;
    fd_check(&fp, seed + 3);
}

START_TEST(test_grad_embedding) {
    dut_open(_i);
    grad_embedding_case(16, 24000); /* width == prefix*dim */
    grad_embedding_case(11, 24100); /* zero-padded: the padding gets no gradient */
}
END_TEST

/* ---- cross-entropy: logits --------------------------------------------------------------- */

typedef struct xent_fd {
    hrm_xent_args p;
    dten logits, loss;
    float *lbuf;
} xent_fd;

static double xent_fd_loss(void *ud, const float *x) {
    xent_fd *a = ud;
    hrm_ctx *c = &T.dut;
    double s = 0;
    dt_set(a->logits, x);
    CALL_OK(c, c->f->xent_forward(c->dev, &a->p), "xent_forward");
    dt_get(a->loss, a->lbuf);
    for (int b = 0; b < a->p.batch; b++) s += a->lbuf[b];
    return a->p.grad_scale * s;
}

static void xent_grad_case(hrm_loss_kind kind, uint64_t seed) {
    hrm_ctx *c = &T.dut;
    const int B = 3, L = 6, V = 10;
    size_t nl = (size_t)B * L * V;
    rng r = {seed};
    int32_t *labels = ibuf((size_t)B * L);
    float *x0 = fbuf(nl), *grad = fbuf(nl);
    rng_fill(&r, x0, nl, -3, 3);
    /* stablemax's second derivative jumps at 0: keep logits a few steps away from it */
    for (size_t i = 0; i < nl; i++)
        if (fabsf(x0[i]) < 0.1f) x0[i] += x0[i] < 0 ? -0.1f : 0.1f;
    for (int i = 0; i < B * L; i++) labels[i] = rng_int(&r, 4) == 0 ? 0 : 1 + rng_int(&r, V - 1); /* 0 ignored */
    xent_fd a;
    a.logits = dt_f(c, x0, nl), a.loss = dt_new(c, (size_t)B), a.lbuf = fbuf((size_t)B);
    dten tlab = dt_i(c, labels, (size_t)B * L), tcnt = dt_new(c, (size_t)B), tcor = dt_new(c, (size_t)B);
    dten tdl = dt_new(c, nl);
    a.p = (hrm_xent_args){.batch = B,
                          .seq_len = L,
                          .vocab = V,
                          .kind = kind,
                          .ignore_label = 0,
                          .logits = P(a.logits),
                          .labels = P(tlab),
                          .loss = P(a.loss),
                          .count = P(tcnt),
                          .correct = P(tcor),
                          .grad_scale = 0.75f,
                          .d_logits = P(tdl)};
    CALL_OK(c, c->f->xent_backward(c->dev, &a.p), "xent_backward");
    dt_get(tdl, grad);
    fd_problem fp = {
        kind == HRM_LOSS_SOFTMAX ? "xent softmax" : "xent stablemax", nl, x0, grad, xent_fd_loss, &a, 2e-2};
    fd_check(&fp, seed + 1);
}

START_TEST(test_grad_xent) {
    dut_open(_i);
    xent_grad_case(HRM_LOSS_SOFTMAX, 25000);
    xent_grad_case(HRM_LOSS_STABLEMAX, 25100);
}
END_TEST

/* ---- matmul as a linear layer: y = x W^T; dx = dy W, dW = dy^T x ------------------------- */

typedef struct linear_fd {
    hrm_matmul_args fwd;
    dten target, y;
    size_t ny;
    float *w, *ybuf;
} linear_fd;

static double linear_fd_loss(void *ud, const float *v) {
    linear_fd *a = ud;
    hrm_ctx *c = &T.dut;
    dt_set(a->target, v);
    CALL_OK(c, c->f->matmul(c->dev, &a->fwd), "matmul");
    dt_get(a->y, a->ybuf);
    return weighted_sum(a->ybuf, a->w, a->ny);
}

START_TEST(test_grad_linear) {
    dut_open(_i);
    hrm_ctx *c = &T.dut;
    const int rows = 7, in = 12, out = 9;
    rng r = {26000};
    size_t nx = (size_t)rows * in, nw = (size_t)out * in, ny = (size_t)rows * out;
    float *x = fbuf(nx), *W = fbuf(nw), *dy = fbuf(ny), *gx = fbuf(nx), *gW = fbuf(nw);
    rng_fill(&r, x, nx, -1, 1);
    rng_fill(&r, W, nw, -1, 1);
    rng_fill(&r, dy, ny, -1, 1);
    dten tx = dt_f(c, x, nx), tW = dt_f(c, W, nw), ty = dt_new(c, ny), tdy = dt_f(c, dy, ny);
    dten tgx = dt_new(c, nx), tgW = dt_new(c, nw);
    hrm_matmul_args fwd = {.trans_b = 1,
                           .m = rows,
                           .n = out,
                           .k = in,
                           .alpha = 1,
                           .a = P(tx),
                           .lda = in,
                           .b = P(tW),
                           .ldb = in,
                           .c = P(ty),
                           .ldc = out,
                           .batch = 1};
    hrm_matmul_args bx = {.m = rows,
                          .n = in,
                          .k = out,
                          .alpha = 1,
                          .a = P(tdy),
                          .lda = out,
                          .b = P(tW),
                          .ldb = in,
                          .c = P(tgx),
                          .ldc = in,
                          .batch = 1};
    hrm_matmul_args bw = {.trans_a = 1,
                          .m = out,
                          .n = in,
                          .k = rows,
                          .alpha = 1,
                          .a = P(tdy),
                          .lda = out,
                          .b = P(tx),
                          .ldb = in,
                          .c = P(tgW),
                          .ldc = in,
                          .batch = 1};
    CALL_OK(c, c->f->matmul(c->dev, &bx), "matmul dx = dy W");
    CALL_OK(c, c->f->matmul(c->dev, &bw), "matmul dW = dy^T x");
    dt_get(tgx, gx);
    dt_get(tgW, gW);
    linear_fd a = {fwd, tx, ty, ny, dy, fbuf(ny)};
    fd_problem fp = {"linear layer, x", nx, x, gx, linear_fd_loss, &a, 1e-2};
    fd_check(&fp, 26001);
    dt_set(tx, x);
    a.target = tW, fp.what = "linear layer, W", fp.n = nw, fp.x0 = W, fp.grad = gW;
    fd_check(&fp, 26002);
}
END_TEST

void add_gradcheck_tests(Suite *s, int plugins) {
    TCase *tc = plugin_tcase("gradcheck");
    tcase_add_loop_test(tc, test_grad_attention, 0, plugins);
    tcase_add_loop_test(tc, test_gradcheck_detects, 0, plugins);
    tcase_add_loop_test(tc, test_grad_rope, 0, plugins);
    tcase_add_loop_test(tc, test_grad_rmsnorm, 0, plugins);
    tcase_add_loop_test(tc, test_grad_swiglu, 0, plugins);
    tcase_add_loop_test(tc, test_grad_embedding, 0, plugins);
    tcase_add_loop_test(tc, test_grad_xent, 0, plugins);
    tcase_add_loop_test(tc, test_grad_linear, 0, plugins);
    suite_add_tcase(s, tc);
}
