/* backends/opencl/tests/test_loss_embedding.c - the OpenCL cross-entropy (kernels/loss.cl: a
 * work-group per sequence, tree sums) and token-table gradient (kernels/embedding.cl: a work-item
 * per table element scanning the tokens) against the CPU backend at HRM's shapes, larger than the
 * conformance suite's: Sudoku (81 positions, vocabulary 11, batch 64), Maze (900 positions), a
 * 256-token vocabulary, sequences whose positions are all ignored, a single position.
 *
 * The loss runs twice: as built for the device (double accumulation where it has cl_khr_fp64, as
 * the ABI asks) and with HRM_OPENCL_NO_FP64=1, the float path that a device without fp64 takes. Both meet the conformance suite's tolerances: nmse(loss) <= 1e-10, nmse(d_logits)
 * <= 1e-10, counts, correct counts and predictions exactly (the logits have no ties).
 * The token-table gradient accumulates into a table that is not zero, like the training loop's
 * gradient buffer, and must match within the conformance suite's 1e-10 (it makes the same
 * additions in the same order as the CPU backend, so it lands far below that).
 * Each case opens its backends in its own forked process (check's default); main() opens none,
 * since a driver initialised before a fork does not work in the child (NVIDIA's). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discover.h"
#include "hrm/hrm.h"
#include "nmse.h"

#define TOL_LOSS 1e-10
#define TOL_GRAD 1e-10
#define TOL_EMB 1e-10

static void no_log(void *user, hrm_log_level level, const char *backend, const char *message) {
    (void)user, (void)level, (void)backend, (void)message;
}

static hrm_ctx open_ctx(const char *name) {
    static hrm_host h;
    h = *hrm_default_host();
    h.log = no_log;
    hrm_ctx c;
    char err[1024];
    ck_assert_msg(hrm_ctx_open(name, 0, &h, &c, err, sizeof err) == HRM_OK, "%s: %s", name, err);
    return c;
}

static void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    ck_assert_ptr_nonnull(p);
    return p;
}

static uint32_t next(uint32_t *r) {
    *r ^= *r << 13, *r ^= *r >> 17, *r ^= *r << 5;
    return *r;
}

static float uniform(uint32_t *r, float amp) { return 2.0f * amp * ((float)(next(r) >> 8) / 16777216.0f - 0.5f); }

static hrm_buffer *upload(hrm_ctx *c, const void *x, size_t n) {
    hrm_buffer *b = NULL;
    ck_assert_int_eq(c->f->buffer_alloc(c->dev, n * 4, &b), HRM_OK);
    if (x) ck_assert_int_eq(c->f->buffer_write(b, 0, x, n * 4), HRM_OK);
    return b;
}

static void download(hrm_ctx *c, hrm_buffer *b, void *x, size_t n) {
    ck_assert_msg(c->f->buffer_read(b, 0, x, n * 4) == HRM_OK, "%s: %s", c->plugin.name, c->f->last_error(c->be));
}

/* ---- cross-entropy --------------------------------------------------------------------------- */

typedef struct xent_shape {
    int batch, seq_len, vocab;
    hrm_loss_kind kind;
    int ignore_label;
    float amp;
} xent_shape;

static const xent_shape XENT[] = {
    {64, 81, 11, HRM_LOSS_STABLEMAX, 0, 6.0f},   /* Sudoku: labels 1..10, 0 ignored */
    {4, 900, 6, HRM_LOSS_STABLEMAX, 0, 6.0f},    /* Maze */
    {3, 257, 256, HRM_LOSS_SOFTMAX, -100, 8.0f}, /* 256 tokens; 257 positions: past a work-group */
    {5, 1, 3, HRM_LOSS_SOFTMAX, -1, 60.0f},      /* one position; logits that overflow a naive exp */
};
enum { NXENT = (int)(sizeof XENT / sizeof XENT[0]) };

typedef struct xent_out {
    float *loss, *dl;
    int32_t *count, *correct, *preds;
} xent_out;

static xent_out xent_run(const char *name, const xent_shape *s, const float *logits, const int32_t *labels) {
    size_t B = (size_t)s->batch, npos = B * (size_t)s->seq_len, nlog = npos * (size_t)s->vocab;
    xent_out o = {xmalloc(B * 4), xmalloc(nlog * 4), xmalloc(B * 4), xmalloc(B * 4), xmalloc(npos * 4)};
    hrm_ctx c = open_ctx(name);
    hrm_buffer *bl = upload(&c, logits, nlog), *blab = upload(&c, labels, npos), *bloss = upload(&c, NULL, B);
    hrm_buffer *bc = upload(&c, NULL, B), *bk = upload(&c, NULL, B), *bp = upload(&c, NULL, npos),
               *bd = upload(&c, NULL, nlog);
    hrm_xent_args a = {.batch = s->batch,
                       .seq_len = s->seq_len,
                       .vocab = s->vocab,
                       .kind = s->kind,
                       .ignore_label = s->ignore_label,
                       .logits = {bl, 0},
                       .labels = {blab, 0},
                       .loss = {bloss, 0},
                       .count = {bc, 0},
                       .correct = {bk, 0},
                       .preds = {bp, 0},
                       .grad_scale = 1.0f / 768.0f,
                       .d_logits = {bd, 0}};
    ck_assert_msg(c.f->xent_forward(c.dev, &a) == HRM_OK, "%s: %s", name, c.f->last_error(c.be));
    ck_assert_msg(c.f->xent_backward(c.dev, &a) == HRM_OK, "%s: %s", name, c.f->last_error(c.be));
    download(&c, bloss, o.loss, B), download(&c, bc, o.count, B), download(&c, bk, o.correct, B);
    download(&c, bp, o.preds, npos), download(&c, bd, o.dl, nlog);
    hrm_buffer *all[] = {bl, blab, bloss, bc, bk, bp, bd};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) c.f->buffer_free(all[i]);
    hrm_ctx_close(&c);
    return o;
}

static void xent_free(xent_out *o) { free(o->loss), free(o->dl), free(o->count), free(o->correct), free(o->preds); }

/* Logits with a clear maximum per row (no ties, so argmax is exact on every backend); labels a mix
 * of ignored, the argmax and random; the last sequence entirely ignored. */
static void xent_check(int index, int float_path) {
    const xent_shape *s = &XENT[index];
    if (float_path)
        setenv("HRM_OPENCL_NO_FP64", "1", 1);
    else
        unsetenv("HRM_OPENCL_NO_FP64");
    size_t B = (size_t)s->batch, npos = B * (size_t)s->seq_len, nlog = npos * (size_t)s->vocab;
    float *logits = xmalloc(nlog * 4);
    int32_t *labels = xmalloc(npos * 4);
    uint32_t r = 12345u + (uint32_t)index;
    for (size_t p = 0; p < npos; p++) {
        float *x = logits + p * (size_t)s->vocab;
        int best = 0;
        for (int j = 0; j < s->vocab; j++) {
            x[j] = uniform(&r, s->amp);
            if (x[j] > x[best]) best = j;
        }
        x[best] += 1e-2f * s->amp; /* a clear maximum */
        int kind = (int)(next(&r) % 4), label;
        if (p / (size_t)s->seq_len == B - 1 || kind == 0)
            label = s->ignore_label;
        else if (kind == 1 && best != s->ignore_label)
            label = best;
        else
            do label = (int)(next(&r) % (uint32_t)s->vocab);
            while (label == s->ignore_label);
        labels[p] = label;
    }
    xent_out want = xent_run("cpu", s, logits, labels), got = xent_run("opencl", s, logits, labels);
    double el = nmse(got.loss, want.loss, B), eg = nmse(got.dl, want.dl, nlog);
    printf("xent %s B=%d L=%d V=%d%s: nmse loss %.2e, d_logits %.2e\n",
           s->kind == HRM_LOSS_SOFTMAX ? "softmax" : "stablemax", s->batch, s->seq_len, s->vocab,
           float_path ? " (float path)" : "", el, eg);
    ck_assert_msg(!memcmp(got.count, want.count, B * 4), "xent shape %d: counts differ", index);
    ck_assert_msg(!memcmp(got.correct, want.correct, B * 4), "xent shape %d: correct counts differ", index);
    ck_assert_msg(!memcmp(got.preds, want.preds, npos * 4), "xent shape %d: predictions differ", index);
    ck_assert_msg(el <= TOL_LOSS, "xent shape %d: nmse(loss) %.3g > %g", index, el, TOL_LOSS);
    ck_assert_msg(eg <= TOL_GRAD, "xent shape %d: nmse(d_logits) %.3g > %g", index, eg, TOL_GRAD);
    xent_free(&want), xent_free(&got);
    free(logits), free(labels);
}

START_TEST(test_xent_device) { xent_check(_i, 0); }
END_TEST

START_TEST(test_xent_float_path) { xent_check(_i, 1); }
END_TEST

/* ---- token-table gradient ---------------------------------------------------------------------- */

typedef struct emb_shape {
    int batch, seq_len, prefix, dim, vocab;
} emb_shape;

static const emb_shape EMB[] = {
    {64, 81, 1, 512, 11}, /* Sudoku */
    {2, 900, 1, 64, 6},   /* Maze */
    {3, 100, 0, 40, 256}, /* a 256-token vocabulary; dim not a multiple of a work-group */
    {1, 1, 2, 8, 3},
};
enum { NEMB = (int)(sizeof EMB / sizeof EMB[0]) };

static float *emb_run(const char *name, const emb_shape *s, const int32_t *tokens, const float *d_out,
                      const float *table) {
    size_t ntok = (size_t)s->batch * (size_t)s->seq_len, ntab = (size_t)s->vocab * (size_t)s->dim;
    size_t nout = (size_t)s->batch * (size_t)(s->prefix + s->seq_len) * (size_t)s->dim;
    hrm_ctx c = open_ctx(name);
    hrm_buffer *bt = upload(&c, tokens, ntok), *bo = upload(&c, d_out, nout), *bg = upload(&c, table, ntab);
    hrm_embedding_args a = {.batch = s->batch,
                            .seq_len = s->seq_len,
                            .prefix = s->prefix,
                            .dim = s->dim,
                            .vocab = s->vocab,
                            .num_puzzle_ids = 1,
                            .puzzle_width = s->prefix ? 1 : 0,
                            .scale = 22.627417f,
                            .tokens = {bt, 0},
                            .d_out = {bo, 0},
                            .d_token_table = {bg, 0}};
    ck_assert_msg(c.f->embedding_backward(c.dev, &a) == HRM_OK, "%s: %s", name, c.f->last_error(c.be));
    float *g = xmalloc(ntab * 4);
    download(&c, bg, g, ntab);
    c.f->buffer_free(bt), c.f->buffer_free(bo), c.f->buffer_free(bg);
    hrm_ctx_close(&c);
    return g;
}

START_TEST(test_token_table_gradient) {
    unsetenv("HRM_OPENCL_NO_FP64");
    const emb_shape *s = &EMB[_i];
    size_t ntok = (size_t)s->batch * (size_t)s->seq_len, ntab = (size_t)s->vocab * (size_t)s->dim;
    size_t nout = (size_t)s->batch * (size_t)(s->prefix + s->seq_len) * (size_t)s->dim;
    int32_t *tokens = xmalloc(ntok * 4);
    float *d_out = xmalloc(nout * 4), *table = xmalloc(ntab * 4);
    uint32_t r = 777u + (uint32_t)_i;
    for (size_t t = 0; t < ntok; t++) tokens[t] = (int32_t)(next(&r) % (uint32_t)s->vocab);
    for (size_t i = 0; i < nout; i++) d_out[i] = uniform(&r, 1.0f);
    for (size_t i = 0; i < ntab; i++) table[i] = uniform(&r, 0.1f);
    float *want = emb_run("cpu", s, tokens, d_out, table), *got = emb_run("opencl", s, tokens, d_out, table);
    double e = nmse(got, want, ntab);
    printf("embedding backward B=%d L=%d P=%d D=%d V=%d: nmse d_token_table %.2e\n", s->batch, s->seq_len, s->prefix,
           s->dim, s->vocab, e);
    ck_assert_msg(e <= TOL_EMB, "embedding shape %d: nmse(d_token_table) %.3g > %g", _i, e, TOL_EMB);
    free(tokens), free(d_out), free(table), free(want), free(got);
}
END_TEST

int main(void) {
    int need = discover_require(hrm_default_host(), "opencl-loss-embedding", "opencl");
    if (need) return need;
    Suite *s = suite_create("loss_embedding");
    TCase *tc = tcase_create("loss_embedding");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_xent_device, 0, NXENT);
    tcase_add_loop_test(tc, test_xent_float_path, 0, NXENT);
    tcase_add_loop_test(tc, test_token_table_gradient, 0, NEMB);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
