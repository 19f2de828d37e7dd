/* tests/ops_elem.c - conformance of the row-wise ops (add, rmsnorm, swiglu), embedding,
 * cross-entropy and the optimizers. Same scheme as ops_dense.c: a runner per op that uploads,
 * runs, downloads and checks guards and inputs; the device under test against the double
 * reference (CPU backend) or against the CPU backend's runner (any other backend). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "reference.h"
#include "suites.h"
#include "test_util.h"

/* ---- add ---------------------------------------------------------------------------------- */

/* Tolerance: nmse 1e-12 (one or two fp32 roundings). */
#define TOL_ADD 1e-12

enum { OUT_FRESH, OUT_IS_A, OUT_IS_B, OUT_IS_C };

static void run_add(hrm_ctx *c, int64_t n, const float *a, const float *b, const float *cc, int alias, float *out) {
    hrm_add_args p = {.n = n};
    dten ta = dt_f(c, a, (size_t)n), tb = dt_f(c, b, (size_t)n), tc = {0};
    if (cc) tc = dt_f(c, cc, (size_t)n);
    dten to = alias == OUT_IS_A ? ta : alias == OUT_IS_B ? tb : alias == OUT_IS_C ? tc : dt_new(c, (size_t)n);
    p.out = P(to), p.a = P(ta), p.b = P(tb), p.c = cc ? P(tc) : NO_PTR;
    CALL_OK(c, c->f->add(c->dev, &p), "add");
    dt_get(to, out);
    dt_check_guards(to, "add out");
    if (alias != OUT_IS_A) dt_expect_unchanged(ta, a, "add a");
    if (alias != OUT_IS_B) dt_expect_unchanged(tb, b, "add b");
    if (cc && alias != OUT_IS_C) dt_expect_unchanged(tc, cc, "add c");
}

START_TEST(test_add) {
    dut_open(_i);
    static const int64_t sizes[] = {1, 1000, 100003};
    static const char *alias_names[] = {"fresh out", "out = a", "out = b", "out = c"};
    rng r = {5000};
    for (int si = 0; si < 3; si++) {
        size_t n = (size_t)sizes[si];
        float *a = fbuf(n), *b = fbuf(n), *cc = fbuf(n), *got = fbuf(n);
        double *want = dbuf(n);
        rng_fill(&r, a, n, -2, 2);
        rng_fill(&r, b, n, -2, 2);
        rng_fill(&r, cc, n, -2, 2);
        for (int with_c = 0; with_c < 2; with_c++)
            for (int alias = OUT_FRESH; alias <= (with_c ? OUT_IS_C : OUT_IS_B); alias++) {
                char what[120];
                snprintf(what, sizeof what, "add of %zu %s c, %s", n, with_c ? "with" : "without", alias_names[alias]);
                run_add(&T.dut, (int64_t)n, a, b, with_c ? cc : NULL, alias, got);
                if (T.ref) {
                    float *f = fbuf(n);
                    run_add(T.ref, (int64_t)n, a, b, with_c ? cc : NULL, alias, f);
                    f2d(f, want, n);
                } else {
                    ref_add((int64_t)n, a, b, with_c ? cc : NULL, want);
                }
                expect_nmse(got, want, n, TOL_ADD, what);
            }
    }
}
END_TEST

/* ---- rmsnorm ------------------------------------------------------------------------------ */

/* Tolerances (nmse): forward y and rstd 1e-10 (a 512-term sum of squares); backward 1e-9. */
#define TOL_RMS_FWD 1e-10
#define TOL_RMS_BWD 1e-9

typedef struct rms_case {
    int64_t rows;
    int dim, with_r, in_place;
} rms_case;

static const rms_case rms_cases[] = {{37, 512, 1, 0}, {5, 24, 0, 0}, {37, 512, 1, 1}, {2, 1536, 0, 1}, {1, 7, 1, 0}};

/* Rows of very different scales, and one all-zero row where eps alone sets rstd. */
static void rms_input(rng *r, float *x, int64_t rows, int dim) {
    static const float scales[] = {1.0f, 100.0f, 1e-3f, 0.0f, 3.0f};
    for (int64_t row = 0; row < rows; row++) {
        float s = scales[row % 5];
        for (int d = 0; d < dim; d++) x[row * dim + d] = s * rng_range(r, -1, 1);
    }
}

static void run_rms_forward(hrm_ctx *c, hrm_rmsnorm_args p, const float *x, const float *res, int in_place, float *y,
                            float *rstd) {
    size_t n = (size_t)p.rows * p.dim;
    dten tx = dt_f(c, x, n), tr = {0}, ty = in_place ? tx : dt_new(c, n), ts = dt_new(c, (size_t)p.rows);
    if (res) tr = dt_f(c, res, n);
    p.x = P(tx), p.r = res ? P(tr) : NO_PTR, p.y = P(ty), p.rstd = P(ts);
    CALL_OK(c, c->f->rmsnorm_forward(c->dev, &p), "rmsnorm_forward");
    dt_get(ty, y);
    dt_get(ts, rstd);
    dt_check_guards(ty, "rmsnorm_forward y");
    dt_check_guards(ts, "rmsnorm_forward rstd");
    if (!in_place) dt_expect_unchanged(tx, x, "rmsnorm_forward x");
    if (res) dt_expect_unchanged(tr, res, "rmsnorm_forward r");
}

static void run_rms_backward(hrm_ctx *c, hrm_rmsnorm_args p, const float *dy, const float *y, const float *rstd,
                             int in_place, float *dh) {
    size_t n = (size_t)p.rows * p.dim;
    dten tdy = dt_f(c, dy, n), ty = dt_f(c, y, n), ts = dt_f(c, rstd, (size_t)p.rows);
    dten tdh = in_place ? tdy : dt_new(c, n);
    p.dy = P(tdy), p.y = P(ty), p.rstd = P(ts), p.dh = P(tdh);
    CALL_OK(c, c->f->rmsnorm_backward(c->dev, &p), "rmsnorm_backward");
    dt_get(tdh, dh);
    dt_check_guards(tdh, "rmsnorm_backward dh");
    if (!in_place) dt_expect_unchanged(tdy, dy, "rmsnorm_backward dy");
    dt_expect_unchanged(ty, y, "rmsnorm_backward y");
    dt_expect_unchanged(ts, rstd, "rmsnorm_backward rstd");
}

START_TEST(test_rmsnorm) {
    dut_open(_i);
    for (int ci = 0; ci < (int)(sizeof rms_cases / sizeof rms_cases[0]); ci++) {
        const rms_case *rc = &rms_cases[ci];
        hrm_rmsnorm_args p = {.rows = rc->rows, .dim = rc->dim, .eps = 1e-5f};
        size_t n = (size_t)rc->rows * rc->dim, rows = (size_t)rc->rows;
        rng r = {6000u + (uint64_t)ci};
        float *x = fbuf(n), *res = rc->with_r ? fbuf(n) : NULL, *y = fbuf(n), *rstd = fbuf(rows);
        float *dy = fbuf(n), *dh = fbuf(n), *yf = fbuf(n), *rf = fbuf(rows);
        double *wy = dbuf(n), *wr = dbuf(rows), *wdh = dbuf(n);
        char what[120];
        rms_input(&r, x, rc->rows, rc->dim);
        if (res) rng_fill(&r, res, n, -1, 1);
        rng_fill(&r, dy, n, -1, 1);

        snprintf(what, sizeof what, "rmsnorm_forward case %d (%lld x %d, %s r%s)", ci, (long long)rc->rows, rc->dim,
                 res ? "with" : "no", rc->in_place ? ", y = x" : "");
        run_rms_forward(&T.dut, p, x, res, rc->in_place, y, rstd);
        ref_rmsnorm_forward(&p, x, res, wy, wr); /* also the inputs of the backward below */
        for (size_t i = 0; i < n; i++) yf[i] = (float)wy[i];
        for (size_t i = 0; i < rows; i++) rf[i] = (float)wr[i];
        if (T.ref) {
            float *fy = fbuf(n), *fr = fbuf(rows);
            run_rms_forward(T.ref, p, x, res, rc->in_place, fy, fr);
            f2d(fy, wy, n);
            f2d(fr, wr, rows);
        }
        expect_nmse(y, wy, n, TOL_RMS_FWD, what);
        expect_nmse(rstd, wr, rows, TOL_RMS_FWD, what);

        snprintf(what, sizeof what, "rmsnorm_backward case %d (%lld x %d%s)", ci, (long long)rc->rows, rc->dim,
                 rc->in_place ? ", dh = dy" : "");
        run_rms_backward(&T.dut, p, dy, yf, rf, rc->in_place, dh);
        if (T.ref) {
            float *f = fbuf(n);
            run_rms_backward(T.ref, p, dy, yf, rf, rc->in_place, f);
            f2d(f, wdh, n);
        } else {
            ref_rmsnorm_backward(&p, dy, yf, rf, wdh);
        }
        expect_nmse(dh, wdh, n, TOL_RMS_BWD, what);
    }
}
END_TEST

/* ---- swiglu ------------------------------------------------------------------------------- */

/* Tolerance: nmse 1e-10 forward and backward (one exp and a few products per element). */
#define TOL_SWIGLU 1e-10

static void run_swiglu(hrm_ctx *c, hrm_swiglu_args p, const float *gu, const float *d_out, float *out, float *d_gu) {
    size_t n = (size_t)p.rows * p.inter;
    dten tgu = dt_f(c, gu, 2 * n), to = dt_new(c, n), tdo = dt_f(c, d_out, n), tdg = dt_new(c, 2 * n);
    p.gu = P(tgu), p.out = P(to), p.d_out = P(tdo), p.d_gu = P(tdg);
    CALL_OK(c, c->f->swiglu_forward(c->dev, &p), "swiglu_forward");
    CALL_OK(c, c->f->swiglu_backward(c->dev, &p), "swiglu_backward");
    dt_get(to, out);
    dt_get(tdg, d_gu);
    dt_check_guards(to, "swiglu_forward out");
    dt_check_guards(tdg, "swiglu_backward d_gu");
    dt_expect_unchanged(tgu, gu, "swiglu gu");
    dt_expect_unchanged(tdo, d_out, "swiglu d_out");
}

START_TEST(test_swiglu) {
    dut_open(_i);
    static const struct {
        int64_t rows;
        int inter;
    } cases[] = {{19, 96}, {1, 5}, {3, 1536}};
    static const float extremes[] = {30.0f, -30.0f, 90.0f, -90.0f, 0.0f, -1e-6f};
    for (int ci = 0; ci < 3; ci++) {
        hrm_swiglu_args p = {.rows = cases[ci].rows, .inter = cases[ci].inter};
        size_t n = (size_t)p.rows * p.inter;
        rng r = {7000u + (uint64_t)ci};
        float *gu = fbuf(2 * n), *d_out = fbuf(n), *out = fbuf(n), *d_gu = fbuf(2 * n);
        double *wo = dbuf(n), *wd = dbuf(2 * n);
        char what[100];
        rng_fill(&r, gu, 2 * n, -4, 4);
        rng_fill(&r, d_out, n, -1, 1);
        /* gates far out in both tails: exp must neither overflow into NaN nor lose the sign */
        for (int e = 0; e < 6 && e < p.inter; e++) gu[e] = extremes[e];
        run_swiglu(&T.dut, p, gu, d_out, out, d_gu);
        if (T.ref) {
            float *fo = fbuf(n), *fd = fbuf(2 * n);
            run_swiglu(T.ref, p, gu, d_out, fo, fd);
            f2d(fo, wo, n);
            f2d(fd, wd, 2 * n);
        } else {
            ref_swiglu_forward(&p, gu, wo);
            ref_swiglu_backward(&p, gu, d_out, wd);
        }
        snprintf(what, sizeof what, "swiglu_forward (%lld x %d)", (long long)p.rows, p.inter);
        expect_nmse(out, wo, n, TOL_SWIGLU, what);
        snprintf(what, sizeof what, "swiglu_backward (%lld x %d)", (long long)p.rows, p.inter);
        expect_nmse(d_gu, wd, 2 * n, TOL_SWIGLU, what);
    }
}
END_TEST

/* ---- embedding ---------------------------------------------------------------------------- */

/* Tolerances (nmse): forward 1e-12 (a sum and a product); backward 1e-10 (scatter-add of up to
 * a few dozen colliding rows, in any order). */
#define TOL_EMB_FWD 1e-12
#define TOL_EMB_BWD 1e-10

/* width is puzzle_width; 0 stands for prefix*dim (no padding). */
typedef struct emb_case {
    int batch, seq_len, prefix, dim, vocab, num_ids, with_pos;
    float scale;
    int width;
} emb_case;

static const emb_case emb_cases[] = {
    /* B   L  P dim  V ids pos  scale   width */
    {3, 10, 0, 16, 5, 1, 0, 1.0f, 0}, {2, 9, 1, 32, 7, 4, 1, 5.656854f, 0},
    {4, 5, 2, 8, 3, 3, 1, 2.0f, 0},   {2, 81, 1, 64, 11, 6, 0, 8.0f, 0}, /* sudoku-like: V = 11, S = 82 */
    {3, 6, 2, 8, 5, 3, 1, 1.5f, 11},                                     /* padded: row 1 holds 3 values and 5 zeros */
    {3, 6, 2, 8, 5, 3, 0, 1.5f, 11},  {2, 7, 2, 8, 4, 2, 1, 3.0f, 16},   /* width == prefix*dim, given explicitly */
    {4, 5, 3, 8, 6, 5, 1, 0.5f, 9},                                      /* row 2 all padding */
    {2, 4, 1, 16, 3, 2, 1, 2.0f, 1},
};

typedef struct emb_data {
    hrm_embedding_args p;
    int S;
    size_t ntok, ntt, npt, npos, nout, npr;
    int32_t *tokens, *ids;
    float *tt, *pt, *pos;
} emb_data;

/* Tokens from a small vocabulary (so backward scatter-adds collide); puzzle ids repeat. */
static emb_data emb_make(const emb_case *c, rng *r) {
    emb_data e;
    memset(&e, 0, sizeof e);
    int width = c->prefix == 0 ? 0 : c->width ? c->width : c->prefix * c->dim;
    e.p = (hrm_embedding_args){.batch = c->batch,
                               .seq_len = c->seq_len,
                               .prefix = c->prefix,
                               .dim = c->dim,
                               .vocab = c->vocab,
                               .num_puzzle_ids = c->num_ids,
                               .puzzle_width = width,
                               .scale = c->scale};
    e.S = c->prefix + c->seq_len;
    e.ntok = (size_t)c->batch * c->seq_len, e.ntt = (size_t)c->vocab * c->dim;
    e.npt = (size_t)c->num_ids * width, e.npos = (size_t)e.S * c->dim;
    e.nout = (size_t)c->batch * e.S * c->dim, e.npr = (size_t)c->batch * width;
    e.tokens = ibuf(e.ntok), e.ids = ibuf((size_t)c->batch);
    e.tt = fbuf(e.ntt), e.pt = fbuf(e.npt ? e.npt : 1), e.pos = c->with_pos ? fbuf(e.npos) : NULL;
    for (size_t i = 0; i < e.ntok; i++) e.tokens[i] = rng_int(r, c->vocab);
    e.tokens[e.ntok - 1] = c->vocab - 1; /* the last row of the table is used too */
    for (int b = 0; b < c->batch; b++) e.ids[b] = rng_int(r, c->num_ids);
    if (c->batch > 1) e.ids[1] = e.ids[0];
    rng_fill(r, e.tt, e.ntt, -1, 1);
    rng_fill(r, e.pt, e.npt, -1, 1);
    if (e.pos) rng_fill(r, e.pos, e.npos, -1, 1);
    return e;
}

static void run_emb_forward(hrm_ctx *c, const emb_data *e, float *out) {
    hrm_embedding_args p = e->p;
    dten ttok = dt_i(c, e->tokens, e->ntok), tid = dt_i(c, e->ids, (size_t)p.batch), ttt = dt_f(c, e->tt, e->ntt);
    dten tpt = {0}, tpos = {0}, to = dt_new(c, e->nout);
    if (e->npt) tpt = dt_f(c, e->pt, e->npt);
    if (e->pos) tpos = dt_f(c, e->pos, e->npos);
    p.tokens = P(ttok), p.puzzle_ids = P(tid), p.token_table = P(ttt);
    p.puzzle_table = e->npt ? P(tpt) : NO_PTR, p.pos = e->pos ? P(tpos) : NO_PTR, p.out = P(to);
    CALL_OK(c, c->f->embedding_forward(c->dev, &p), "embedding_forward");
    dt_get(to, out);
    dt_check_guards(to, "embedding_forward out");
    dt_expect_unchanged(ttt, e->tt, "embedding_forward token_table");
    if (e->npt) dt_expect_unchanged(tpt, e->pt, "embedding_forward puzzle_table");
}

enum { G_TOKEN = 1, G_PUZZLE = 2, G_POS = 4 };

/* dtt and dpos hold the previous gradients on entry (accumulated into); dpr is written. */
static void run_emb_backward(hrm_ctx *c, const emb_data *e, const float *d_out, int which, float *dtt, float *dpr,
                             float *dpos) {
    hrm_embedding_args p = e->p;
    dten ttok = dt_i(c, e->tokens, e->ntok), tid = dt_i(c, e->ids, (size_t)p.batch), tdo = dt_f(c, d_out, e->nout);
    dten a = {0}, b = {0}, d = {0};
    p.tokens = P(ttok), p.puzzle_ids = P(tid), p.d_out = P(tdo);
    if (which & G_TOKEN) a = dt_f(c, dtt, e->ntt), p.d_token_table = P(a);
    if (which & G_PUZZLE) b = dt_new(c, e->npr), p.d_puzzle_rows = P(b);
    if (which & G_POS) d = dt_f(c, dpos, e->npos), p.d_pos = P(d);
    CALL_OK(c, c->f->embedding_backward(c->dev, &p), "embedding_backward");
    if (which & G_TOKEN) dt_get(a, dtt), dt_check_guards(a, "embedding_backward d_token_table");
    if (which & G_PUZZLE) dt_get(b, dpr), dt_check_guards(b, "embedding_backward d_puzzle_rows");
    if (which & G_POS) dt_get(d, dpos), dt_check_guards(d, "embedding_backward d_pos");
    dt_expect_unchanged(tdo, d_out, "embedding_backward d_out");
}

/* The padding of each puzzle row, flat positions [puzzle_width, prefix*dim) of out[b, 0..prefix),
 * must be exactly scale * (0 + pos). */
static void expect_emb_padding(const emb_data *e, const float *out, const char *what) {
    const hrm_embedding_args *p = &e->p;
    for (int b = 0; b < p->batch; b++)
        for (int q = p->puzzle_width; q < p->prefix * p->dim; q++) {
            float got = out[(size_t)b * e->S * p->dim + (size_t)q];
            float want = p->scale * (0.0f + (e->pos ? e->pos[q] : 0.0f));
            ck_assert_msg(got == want, "%s: %s: padded out[%d, %d, %d] = %.9g, want %.9g", T.name, what, b, q / p->dim,
                          q % p->dim, got, want);
        }
}

START_TEST(test_embedding_forward) {
    dut_open(_i);
    for (int ci = 0; ci < (int)(sizeof emb_cases / sizeof emb_cases[0]); ci++) {
        const emb_case *c = &emb_cases[ci];
        rng r = {8000u + (uint64_t)ci};
        emb_data e = emb_make(c, &r);
        float *out = fbuf(e.nout);
        double *want = dbuf(e.nout);
        char what[120];
        snprintf(what, sizeof what, "embedding_forward case %d (prefix %d, width %d, %s pos)", ci, c->prefix,
                 e.p.puzzle_width, c->with_pos ? "with" : "no");
        run_emb_forward(&T.dut, &e, out);
        if (T.ref) {
            float *f = fbuf(e.nout);
            run_emb_forward(T.ref, &e, f);
            f2d(f, want, e.nout);
        } else {
            ref_embedding_forward(&e.p, e.tokens, e.ids, e.tt, e.pt, e.pos, want);
        }
        expect_nmse(out, want, e.nout, TOL_EMB_FWD, what);
        expect_emb_padding(&e, out, what);
    }
}
END_TEST

START_TEST(test_embedding_backward) {
    dut_open(_i);
    for (int ci = 0; ci < (int)(sizeof emb_cases / sizeof emb_cases[0]); ci++) {
        const emb_case *c = &emb_cases[ci];
        rng r = {8100u + (uint64_t)ci};
        emb_data e = emb_make(c, &r);
        float *d_out = fbuf(e.nout), *tt0 = fbuf(e.ntt), *pos0 = fbuf(e.npos);
        float *dtt = fbuf(e.ntt), *dpr = fbuf(e.npr + 1), *dpos = fbuf(e.npos);
        double *wtt = dbuf(e.ntt), *wpr = dbuf(e.npr + 1), *wpos = dbuf(e.npos);
        rng_fill(&r, d_out, e.nout, -1, 1);
        rng_fill(&r, tt0, e.ntt, -1, 1); /* gradients accumulate into what is there */
        rng_fill(&r, pos0, e.npos, -1, 1);
        const int sets[] = {G_TOKEN | G_PUZZLE | G_POS, G_TOKEN, G_PUZZLE, G_POS};
        for (int si = 0; si < 4; si++) {
            int which = sets[si];
            if (!c->prefix) which &= ~G_PUZZLE;
            if (!which) continue;
            char what[160];
            snprintf(what, sizeof what, "embedding_backward case %d (prefix %d, width %d, grads%s%s%s)", ci, c->prefix,
                     e.p.puzzle_width, which & G_TOKEN ? " token" : "", which & G_PUZZLE ? " puzzle" : "",
                     which & G_POS ? " pos" : "");
            memcpy(dtt, tt0, e.ntt * sizeof *dtt);
            memcpy(dpos, pos0, e.npos * sizeof *dpos);
            run_emb_backward(&T.dut, &e, d_out, which, dtt, dpr, dpos);
            if (T.ref) {
                float *ftt = fbuf(e.ntt), *fpr = fbuf(e.npr + 1), *fpos = fbuf(e.npos);
                memcpy(ftt, tt0, e.ntt * sizeof *ftt);
                memcpy(fpos, pos0, e.npos * sizeof *fpos);
                run_emb_backward(T.ref, &e, d_out, which, ftt, fpr, fpos);
                f2d(ftt, wtt, e.ntt);
                f2d(fpr, wpr, e.npr);
                f2d(fpos, wpos, e.npos);
            } else {
                f2d(tt0, wtt, e.ntt);
                f2d(pos0, wpos, e.npos);
                ref_embedding_backward(&e.p, e.tokens, d_out, which & G_TOKEN ? wtt : NULL,
                                       which & G_PUZZLE ? wpr : NULL, which & G_POS ? wpos : NULL);
            }
            char part[200];
            if (which & G_TOKEN) {
                snprintf(part, sizeof part, "%s: d_token_table", what);
                expect_nmse(dtt, wtt, e.ntt, TOL_EMB_BWD, part);
            }
            if (which & G_PUZZLE) {
                snprintf(part, sizeof part, "%s: d_puzzle_rows", what);
                expect_nmse(dpr, wpr, e.npr, TOL_EMB_BWD, part);
            }
            if (which & G_POS) {
                snprintf(part, sizeof part, "%s: d_pos", what);
                expect_nmse(dpos, wpos, e.npos, TOL_EMB_BWD, part);
            }
        }
    }
}
END_TEST

/* ---- cross-entropy ------------------------------------------------------------------------ */

/* Tolerances (nmse): loss 1e-10 (computed in double by contract, rounded once to float);
 * d_logits 1e-10. Counts, corrects and preds exactly. */
#define TOL_XENT_LOSS 1e-10
#define TOL_XENT_GRAD 1e-10

typedef struct xent_case {
    int batch, seq_len, vocab;
    hrm_loss_kind kind;
    int ignore_label, with_preds;
    float amp, grad_scale;
} xent_case;

static const xent_case xent_cases[] = {
    {3, 9, 10, HRM_LOSS_SOFTMAX, -100, 1, 4.0f, 1.0f},
    {3, 9, 10, HRM_LOSS_STABLEMAX, 0, 1, 4.0f, 0.25f},
    {2, 81, 11, HRM_LOSS_STABLEMAX, 0, 0, 6.0f, 1.0f / 768},
    {2, 5, 3, HRM_LOSS_SOFTMAX, -1, 1, 60.0f, 2.0f}, /* logits that overflow a naive exp in float */
    {4, 6, 7, HRM_LOSS_STABLEMAX, 0, 1, 30.0f, 1.0f},
};

typedef struct xent_data {
    hrm_xent_args p;
    size_t npos, nlog;
    float *logits;
    int32_t *labels;
} xent_data;

static int top_index(const float *x, int n, float *gap) {
    int best = 0;
    float second = -INFINITY;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    for (int i = 0; i < n; i++)
        if (i != best && x[i] > second) second = x[i];
    *gap = x[best] - second;
    return best;
}

/* Logits with a clear maximum in every row (no ties); labels a mix of ignored, the argmax (so
 * some are correct) and random; the last sequence has no valid position at all. */
static xent_data xent_make(const xent_case *c, rng *r) {
    xent_data d;
    memset(&d, 0, sizeof d);
    d.p = (hrm_xent_args){.batch = c->batch,
                          .seq_len = c->seq_len,
                          .vocab = c->vocab,
                          .kind = c->kind,
                          .ignore_label = c->ignore_label,
                          .grad_scale = c->grad_scale};
    d.npos = (size_t)c->batch * c->seq_len, d.nlog = d.npos * c->vocab;
    d.logits = fbuf(d.nlog), d.labels = ibuf(d.npos);
    for (size_t t = 0; t < d.npos; t++) {
        float *x = d.logits + t * c->vocab, gap;
        int am;
        do {
            rng_fill(r, x, (size_t)c->vocab, -c->amp, c->amp);
            am = top_index(x, c->vocab, &gap);
        } while (gap < 1e-3f * c->amp);
        int b = (int)(t / (size_t)c->seq_len), kind = rng_int(r, 4), label;
        if (b == c->batch - 1 || kind == 0) {
            label = c->ignore_label;
        } else if (kind == 1 && am != c->ignore_label) {
            label = am;
        } else {
            do label = rng_int(r, c->vocab);
            while (label == c->ignore_label);
        }
        d.labels[t] = label;
    }
    return d;
}

static void run_xent(hrm_ctx *c, const xent_data *d, int with_preds, float *loss, int32_t *count, int32_t *correct,
                     int32_t *preds, float *d_logits) {
    hrm_xent_args p = d->p;
    size_t B = (size_t)p.batch;
    dten tl = dt_f(c, d->logits, d->nlog), tlab = dt_i(c, d->labels, d->npos);
    dten tloss = dt_new(c, B), tcnt = dt_new(c, B), tcor = dt_new(c, B), tpr = {0}, tdl = dt_new(c, d->nlog);
    if (with_preds) tpr = dt_new(c, d->npos);
    p.logits = P(tl), p.labels = P(tlab), p.loss = P(tloss), p.count = P(tcnt), p.correct = P(tcor);
    p.preds = with_preds ? P(tpr) : NO_PTR, p.d_logits = P(tdl);
    CALL_OK(c, c->f->xent_forward(c->dev, &p), "xent_forward");
    CALL_OK(c, c->f->xent_backward(c->dev, &p), "xent_backward");
    dt_get(tloss, loss);
    dt_geti(tcnt, count);
    dt_geti(tcor, correct);
    if (with_preds) dt_geti(tpr, preds), dt_check_guards(tpr, "xent_forward preds");
    dt_get(tdl, d_logits);
    dt_check_guards(tloss, "xent_forward loss");
    dt_check_guards(tcnt, "xent_forward count");
    dt_check_guards(tcor, "xent_forward correct");
    dt_check_guards(tdl, "xent_backward d_logits");
    dt_expect_unchanged(tl, d->logits, "xent logits");
}

START_TEST(test_xent) {
    dut_open(_i);
    for (int ci = 0; ci < (int)(sizeof xent_cases / sizeof xent_cases[0]); ci++) {
        const xent_case *c = &xent_cases[ci];
        rng r = {9000u + (uint64_t)ci};
        xent_data d = xent_make(c, &r);
        size_t B = (size_t)c->batch;
        float *loss = fbuf(B), *dl = fbuf(d.nlog);
        int32_t *cnt = ibuf(B), *cor = ibuf(B), *preds = ibuf(d.npos);
        int32_t *wcnt = ibuf(B), *wcor = ibuf(B), *wpreds = ibuf(d.npos);
        double *wloss = dbuf(B), *wdl = dbuf(d.nlog);
        char what[160];
        snprintf(what, sizeof what, "xent case %d (%s, batch %d, seq %d, vocab %d, ignore %d)", ci,
                 c->kind == HRM_LOSS_SOFTMAX ? "softmax" : "stablemax", c->batch, c->seq_len, c->vocab,
                 c->ignore_label);
        run_xent(&T.dut, &d, c->with_preds, loss, cnt, cor, preds, dl);
        if (T.ref) {
            float *fl = fbuf(B), *fd = fbuf(d.nlog);
            run_xent(T.ref, &d, c->with_preds, fl, wcnt, wcor, wpreds, fd);
            f2d(fl, wloss, B);
            f2d(fd, wdl, d.nlog);
        } else {
            ref_xent_forward(&d.p, d.logits, d.labels, wloss, wcnt, wcor, c->with_preds ? wpreds : NULL);
            ref_xent_backward(&d.p, d.logits, d.labels, wdl);
        }
        char part[220];
        snprintf(part, sizeof part, "%s: loss", what);
        expect_nmse(loss, wloss, B, TOL_XENT_LOSS, part);
        snprintf(part, sizeof part, "%s: count", what);
        expect_equal_i(cnt, wcnt, B, part);
        snprintf(part, sizeof part, "%s: correct", what);
        expect_equal_i(cor, wcor, B, part);
        if (c->with_preds) {
            snprintf(part, sizeof part, "%s: preds", what);
            expect_equal_i(preds, wpreds, d.npos, part);
        }
        snprintf(part, sizeof part, "%s: d_logits", what);
        expect_nmse(dl, wdl, d.nlog, TOL_XENT_GRAD, part);
        /* the sequence without a valid position: zero loss and count, zero gradient rows */
        ck_assert_msg(cnt[B - 1] == 0 && loss[B - 1] == 0.0f, "%s: empty sequence has count %d, loss %g", T.name,
                      cnt[B - 1], loss[B - 1]);
        for (size_t t = 0; t < d.npos; t++)
            if (d.labels[t] == c->ignore_label)
                for (int v = 0; v < c->vocab; v++)
                    ck_assert_msg(dl[t * c->vocab + v] == 0.0f, "%s: %s: ignored position %zu has gradient %g", T.name,
                                  what, t, dl[t * c->vocab + v]);
        /* the case must exercise what it claims: some correct positions, some wrong */
        int total_cor = 0, total_cnt = 0;
        for (size_t b = 0; b < B; b++) total_cor += wcor[b], total_cnt += wcnt[b];
        ck_assert_msg(total_cor > 0 && total_cor < total_cnt, "xent case %d is degenerate", ci);
    }
}
END_TEST

/* ---- AdamATan2 ---------------------------------------------------------------------------- */

/* Tolerances (nmse): the update p - p0 1e-8 (p is stored in fp32, so its last bit is ~1e-6 of an
 * update of lr = 1e-2); m and v 1e-10. */
#define TOL_ADAM_DELTA 1e-8
#define TOL_ADAM_MOMENT 1e-10

typedef struct adam_dev {
    dten p, g, m, v;
} adam_dev;

static adam_dev adam_upload(hrm_ctx *c, const float *p0, size_t n) {
    adam_dev a = {dt_f(c, p0, n), dt_new(c, n), dt_new(c, n), dt_new(c, n)};
    CALL_OK(c, c->f->buffer_fill(a.m.buf, a.m.off, n, 0.0f), "buffer_fill m");
    CALL_OK(c, c->f->buffer_fill(a.v.buf, a.v.off, n, 0.0f), "buffer_fill v");
    return a;
}

static void adam_run_step(hrm_ctx *c, adam_dev *a, hrm_adam_args args, const float *grad, float *p, float *m,
                          float *v) {
    dt_set(a->g, grad);
    args.param = P(a->p), args.grad = P(a->g), args.m = P(a->m), args.v = P(a->v);
    CALL_OK(c, c->f->adam_atan2(c->dev, &args), "adam_atan2");
    dt_get(a->p, p);
    dt_get(a->m, m);
    dt_get(a->v, v);
    dt_check_guards(a->p, "adam_atan2 param");
    dt_check_guards(a->m, "adam_atan2 m");
    dt_check_guards(a->v, "adam_atan2 v");
    dt_expect_unchanged(a->g, grad, "adam_atan2 grad");
}

START_TEST(test_adam_atan2) {
    dut_open(_i);
    const size_t n = 10007;
    rng r = {10000};
    float *p0 = fbuf(n), *g = fbuf(n), *p = fbuf(n), *m = fbuf(n), *v = fbuf(n), *rp = fbuf(n), *rm = fbuf(n);
    float *rv = fbuf(n);
    double *wp = dbuf(n), *wm = dbuf(n), *wv = dbuf(n), *dp = dbuf(n);
    float *gotdp = fbuf(n);
    rng_fill(&r, p0, n, -1, 1);
    f2d(p0, wp, n);
    adam_dev dut = adam_upload(&T.dut, p0, n), ref = {0};
    if (T.ref) ref = adam_upload(T.ref, p0, n);
    hrm_adam_args args = {.n = (int64_t)n, .lr = 1e-2f, .weight_decay = 0.1f, .beta1 = 0.9f, .beta2 = 0.95f};
    for (int step = 1; step <= 4; step++) {
        char what[80];
        for (size_t i = 0; i < n; i++) {
            float scale = i % 3 == 0 ? 1e-3f : i % 3 == 1 ? 1.0f : 30.0f;
            /* the first 10 never see a gradient (atan2(0, 0) = 0: decay only); 10% see zeros */
            g[i] = i < 10 || rng_int(&r, 10) == 0 ? 0.0f : scale * rng_range(&r, -1, 1);
        }
        args.step = step;
        adam_run_step(&T.dut, &dut, args, g, p, m, v);
        if (T.ref) {
            adam_run_step(T.ref, &ref, args, g, rp, rm, rv);
            f2d(rp, wp, n), f2d(rm, wm, n), f2d(rv, wv, n);
        } else {
            ref_adam_atan2(&args, g, wp, wm, wv);
        }
        for (size_t i = 0; i < n; i++) gotdp[i] = (float)((double)p[i] - p0[i]), dp[i] = wp[i] - p0[i];
        snprintf(what, sizeof what, "adam_atan2 step %d: param update", step);
        expect_nmse(gotdp, dp, n, TOL_ADAM_DELTA, what);
        snprintf(what, sizeof what, "adam_atan2 step %d: m", step);
        expect_nmse(m, wm, n, TOL_ADAM_MOMENT, what);
        snprintf(what, sizeof what, "adam_atan2 step %d: v", step);
        expect_nmse(v, wv, n, TOL_ADAM_MOMENT, what);
    }
}
END_TEST

/* ---- SignSGD rows ------------------------------------------------------------------------- */

/* Tolerance: nmse 1e-9 on each updated row's change (w in fp32, the change ~1e-2 of it);
 * rows not in the batch must keep every bit. */
#define TOL_SIGNSGD 1e-9

static void run_signsgd(hrm_ctx *c, hrm_signsgd_args p, const int32_t *ids, const float *grads, float *w) {
    size_t nw = (size_t)p.num_rows * p.width, ng = (size_t)p.batch * p.width;
    dten ti = dt_i(c, ids, (size_t)p.batch), tg = dt_f(c, grads, ng), tw = dt_f(c, w, nw);
    p.ids = P(ti), p.grads = P(tg), p.weights = P(tw);
    CALL_OK(c, c->f->signsgd_rows(c->dev, &p), "signsgd_rows");
    dt_get(tw, w);
    dt_check_guards(tw, "signsgd_rows weights");
    dt_expect_unchanged(tg, grads, "signsgd_rows grads");
}

START_TEST(test_signsgd_rows) {
    dut_open(_i);
    /* id 3 three times (summed), 5 twice with opposite gradients (sum exactly 0), 0 with a zero
     * gradient, 7 and 9 once; rows 1, 2, 4, 6, 8 are not in the batch */
    static const int32_t ids[8] = {3, 7, 3, 0, 9, 3, 5, 5};
    const int rows = 10, width = 33, batch = 8;
    hrm_signsgd_args p = {.batch = batch, .width = width, .num_rows = rows, .lr = 1e-2f, .weight_decay = 0.5f};
    rng r = {11000};
    float *w0 = fbuf((size_t)rows * width), *g = fbuf((size_t)batch * width), *got = fbuf((size_t)rows * width);
    double *want = dbuf((size_t)rows * width);
    rng_fill(&r, w0, (size_t)rows * width, -1, 1);
    rng_fill(&r, g, (size_t)batch * width, -1, 1);
    for (int j = 0; j < width; j++) g[3 * width + j] = 0.0f, g[7 * width + j] = -g[6 * width + j];
    memcpy(got, w0, (size_t)rows * width * sizeof *got);
    run_signsgd(&T.dut, p, ids, g, got);
    if (T.ref) {
        float *f = fbuf((size_t)rows * width);
        memcpy(f, w0, (size_t)rows * width * sizeof *f);
        run_signsgd(T.ref, p, ids, g, f);
        f2d(f, want, (size_t)rows * width);
    } else {
        f2d(w0, want, (size_t)rows * width);
        ref_signsgd_rows(&p, ids, g, want);
    }
    float *gd = fbuf((size_t)width);
    double *wd = dbuf((size_t)width);
    for (int row = 0; row < rows; row++) {
        char what[80];
        int present = 0;
        for (int b = 0; b < batch; b++) present |= ids[b] == row;
        snprintf(what, sizeof what, "signsgd_rows row %d (%s)", row, present ? "in the batch" : "not in the batch");
        if (!present) {
            expect_same_bits(got + row * width, w0 + row * width, (size_t)width, what);
            continue;
        }
        for (int j = 0; j < width; j++) {
            gd[j] = (float)((double)got[row * width + j] - w0[row * width + j]);
            wd[j] = want[row * width + j] - w0[row * width + j];
        }
        expect_nmse(gd, wd, (size_t)width, TOL_SIGNSGD, what);
    }
}
END_TEST

void add_elem_tests(Suite *s, int plugins) {
    TCase *tc = plugin_tcase("elementwise");
    tcase_add_loop_test(tc, test_add, 0, plugins);
    tcase_add_loop_test(tc, test_rmsnorm, 0, plugins);
    tcase_add_loop_test(tc, test_swiglu, 0, plugins);
    suite_add_tcase(s, tc);
    tc = plugin_tcase("embedding");
    tcase_add_loop_test(tc, test_embedding_forward, 0, plugins);
    tcase_add_loop_test(tc, test_embedding_backward, 0, plugins);
    suite_add_tcase(s, tc);
    tc = plugin_tcase("xent");
    tcase_add_loop_test(tc, test_xent, 0, plugins);
    suite_add_tcase(s, tc);
}

void add_optim_tests(Suite *s, int plugins) {
    TCase *tc = plugin_tcase("optimizers");
    tcase_add_loop_test(tc, test_adam_atan2, 0, plugins);
    tcase_add_loop_test(tc, test_signsgd_rows, 0, plugins);
    suite_add_tcase(s, tc);
}
