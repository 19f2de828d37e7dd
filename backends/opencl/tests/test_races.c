/* backends/opencl/tests/test_races.c - small runs of the kernels that share local memory between
 * work-items (tiled attention forward and backward, the cross-entropy tree sums, the token-table
 * gradient's prefix sums), each checked against the CPU backend. test-races.sh runs it under
 * Oclgrind's data-race detector with GPU-like limits (work-group size, local memory), where a
 * missing barrier or a wrong fence shows as a reported race; PoCL runs a work-group's work-items
 * one after another between barriers, so there a race goes unseen.
 * Shapes are small (the simulator is slow) but still need several tiles and partial ones.
 * Tolerances as in the conformance suite (nmse): attention o 1e-9, lse 1e-10, gradients 1e-8
 * (floored at 1e-2 of the mean square of all three); loss and d_logits 1e-10; d_token_table 1e-10.
 * Exit status 0 when every result matches. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hrm/hrm.h"
#include "nmse.h"

static int failures;

static void check(double err, double tol, const char *what) {
    printf("%-58s nmse %.2e (tolerance %.0e)%s\n", what, err, tol, err <= tol ? "" : "  FAILED");
    if (!(err <= tol)) failures++;
}

static void fill(float *x, size_t n, uint32_t seed, float amp) {
    for (size_t i = 0; i < n; i++) {
        seed ^= seed << 13, seed ^= seed >> 17, seed ^= seed << 5;
        x[i] = 2.0f * amp * ((float)(seed >> 8) / 16777216.0f - 0.5f);
    }
}

static hrm_buffer *put(hrm_ctx *c, const void *x, size_t n) {
    hrm_buffer *b = NULL;
    if (c->f->buffer_alloc(c->dev, n * 4, &b) != HRM_OK) {
        fprintf(stderr, "%s: %s\n", c->plugin.name, c->f->last_error(c->be));
        exit(2);
    }
    if (x) c->f->buffer_write(b, 0, x, n * 4);
    return b;
}

static void get(hrm_ctx *c, hrm_buffer *b, void *x, size_t n) {
    if (c->f->buffer_read(b, 0, x, n * 4) != HRM_OK) {
        fprintf(stderr, "%s: %s\n", c->plugin.name, c->f->last_error(c->be));
        exit(2);
    }
    c->f->buffer_free(b);
}

static void op_ok(hrm_ctx *c, hrm_status s, const char *op) {
    if (s == HRM_OK) return;
    fprintf(stderr, "%s: %s: %s\n", c->plugin.name, op, c->f->last_error(c->be));
    exit(2);
}

/* ---- attention: forward (o, lse) and backward (dqkv) from the same inputs ------------------------ */

typedef struct att_shape {
    int batch, seq, heads, hd, causal;
} att_shape;

static void attention(hrm_ctx *c, const att_shape *s, const float *qkv, const float *d_o, float *o, float *lse,
                      float *dqkv) {
    size_t rows = (size_t)s->batch * (size_t)s->seq, w = (size_t)s->heads * (size_t)s->hd;
    hrm_buffer *bq = put(c, qkv, rows * 3 * w), *bo = put(c, NULL, rows * w),
               *bl = put(c, NULL, rows * (size_t)s->heads);
    hrm_buffer *bd = put(c, d_o, rows * w), *bg = put(c, NULL, rows * 3 * w);
    hrm_attention_args a = {.batch = s->batch,
                            .seq = s->seq,
                            .heads = s->heads,
                            .head_dim = s->hd,
                            .scale = 0.125f,
                            .causal = s->causal,
                            .q = {bq, 0},
                            .k = {bq, w},
                            .v = {bq, 2 * w},
                            .qkv_row_stride = (int64_t)(3 * w),
                            .o = {bo, 0},
                            .o_row_stride = (int64_t)w,
                            .lse = {bl, 0},
                            .d_o = {bd, 0},
                            .dq = {bg, 0},
                            .dk = {bg, w},
                            .dv = {bg, 2 * w},
                            .dqkv_row_stride = (int64_t)(3 * w)};
    op_ok(c, c->f->attention_forward(c->dev, &a), "attention_forward");
    op_ok(c, c->f->attention_backward(c->dev, &a), "attention_backward");
    get(c, bo, o, rows * w), get(c, bl, lse, rows * (size_t)s->heads), get(c, bg, dqkv, rows * 3 * w);
    c->f->buffer_free(bq), c->f->buffer_free(bd);
}

static void check_attention(hrm_ctx *cpu, hrm_ctx *ocl, const att_shape *s, int index) {
    size_t rows = (size_t)s->batch * (size_t)s->seq, w = (size_t)s->heads * (size_t)s->hd, nl = rows * (size_t)s->heads;
    float *qkv = malloc(rows * 3 * w * 4), *d_o = malloc(rows * w * 4), *out[2][3];
    fill(qkv, rows * 3 * w, 99u + (uint32_t)index, 2.0f);
    fill(d_o, rows * w, 7u + (uint32_t)index, 1.0f);
    hrm_ctx *ctx[2] = {cpu, ocl};
    for (int k = 0; k < 2; k++) {
        out[k][0] = malloc(rows * w * 4), out[k][1] = malloc(nl * 4), out[k][2] = malloc(rows * 3 * w * 4);
        attention(ctx[k], s, qkv, d_o, out[k][0], out[k][1], out[k][2]);
    }
    char what[160];
    int n = snprintf(what, sizeof what, "attention B=%d S=%d H=%d hd=%d%s", s->batch, s->seq, s->heads, s->hd,
                     s->causal ? " causal" : "");
    snprintf(what + n, sizeof what - (size_t)n, ": o");
    check(nmse(out[1][0], out[0][0], rows * w), 1e-9, what);
    snprintf(what + n, sizeof what - (size_t)n, ": lse");
    check(nmse(out[1][1], out[0][1], nl), 1e-10, what);
    double floor_ss = 0.0;
    for (size_t i = 0; i < rows * 3 * w; i++) floor_ss += 1e-2 / 3.0 * (double)out[0][2][i] * out[0][2][i];
    static const char *names[3] = {": dq", ": dk", ": dv"};
    for (int part = 0; part < 3; part++) {
        snprintf(what + n, sizeof what - (size_t)n, "%s", names[part]);
        check(nmse_part(out[1][2], out[0][2], rows, 3 * w, (size_t)part * w, w, floor_ss), 1e-8, what);
    }
    for (int k = 0; k < 2; k++) free(out[k][0]), free(out[k][1]), free(out[k][2]);
    free(qkv), free(d_o);
}

/* ---- cross-entropy, forward and backward ---------------------------------------------------------- */

static void xent(hrm_ctx *c, int B, int L, int V, const float *logits, const int32_t *labels, float *loss,
                 int32_t *counts, float *dl) {
    size_t np = (size_t)B * (size_t)L;
    hrm_buffer *bl = put(c, logits, np * (size_t)V), *blab = put(c, labels, np), *bloss = put(c, NULL, (size_t)B);
    hrm_buffer *bc = put(c, NULL, (size_t)B), *bk = put(c, NULL, (size_t)B), *bd = put(c, NULL, np * (size_t)V);
    hrm_xent_args a = {.batch = B,
                       .seq_len = L,
                       .vocab = V,
                       .kind = HRM_LOSS_STABLEMAX,
                       .ignore_label = 0,
                       .logits = {bl, 0},
                       .labels = {blab, 0},
                       .loss = {bloss, 0},
                       .count = {bc, 0},
                       .correct = {bk, 0},
                       .grad_scale = 0.5f,
                       .d_logits = {bd, 0}};
    op_ok(c, c->f->xent_forward(c->dev, &a), "xent_forward");
    op_ok(c, c->f->xent_backward(c->dev, &a), "xent_backward");
    get(c, bloss, loss, (size_t)B), get(c, bc, counts, (size_t)B), get(c, bk, counts + B, (size_t)B);
    get(c, bd, dl, np * (size_t)V);
    c->f->buffer_free(bl), c->f->buffer_free(blab);
}

static void check_xent(hrm_ctx *cpu, hrm_ctx *ocl, int B, int L, int V) {
    size_t np = (size_t)B * (size_t)L;
    float *logits = malloc(np * (size_t)V * 4), *loss[2], *dl[2];
    int32_t *labels = malloc(np * 4), *counts[2];
    fill(logits, np * (size_t)V, 5u, 4.0f);
    for (size_t p = 0; p < np; p++) labels[p] = (int32_t)((p * 7) % (size_t)V); /* 0 is the ignore label */
    hrm_ctx *ctx[2] = {cpu, ocl};
    for (int k = 0; k < 2; k++) {
        loss[k] = malloc((size_t)B * 4), dl[k] = malloc(np * (size_t)V * 4), counts[k] = malloc((size_t)B * 8);
        xent(ctx[k], B, L, V, logits, labels, loss[k], counts[k], dl[k]);
    }
    char what[120];
    snprintf(what, sizeof what, "xent B=%d L=%d V=%d: loss", B, L, V);
    check(nmse(loss[1], loss[0], (size_t)B), 1e-10, what);
    snprintf(what, sizeof what, "xent B=%d L=%d V=%d: d_logits", B, L, V);
    check(nmse(dl[1], dl[0], np * (size_t)V), 1e-10, what);
    snprintf(what, sizeof what, "xent B=%d L=%d V=%d: counts (0: equal)", B, L, V);
    check(memcmp(counts[0], counts[1], (size_t)B * 8) ? 1.0 : 0.0, 0.0, what);
    for (int k = 0; k < 2; k++) free(loss[k]), free(dl[k]), free(counts[k]);
    free(logits), free(labels);
}

/* ---- token-table gradient -------------------------------------------------------------------------- */

static void check_embedding(hrm_ctx *cpu, hrm_ctx *ocl, int B, int L, int D, int V) {
    size_t ntok = (size_t)B * (size_t)L, nout = (size_t)B * (size_t)(L + 1) * (size_t)D, ntab = (size_t)V * (size_t)D;
    int32_t *tokens = malloc(ntok * 4);
    float *d_out = malloc(nout * 4), *table = malloc(ntab * 4), *got[2];
    for (size_t t = 0; t < ntok; t++) tokens[t] = (int32_t)((t * 2654435761u >> 7) % (size_t)V);
    fill(d_out, nout, 11u, 1.0f);
    fill(table, ntab, 13u, 0.5f);
    hrm_ctx *ctx[2] = {cpu, ocl};
    for (int k = 0; k < 2; k++) {
        hrm_ctx *c = ctx[k];
        hrm_buffer *bt = put(c, tokens, ntok), *bo = put(c, d_out, nout), *bg = put(c, table, ntab);
        hrm_embedding_args a = {.batch = B,
                                .seq_len = L,
                                .prefix = 1,
                                .dim = D,
                                .vocab = V,
                                .num_puzzle_ids = 1,
                                .puzzle_width = 1,
                                .scale = 3.0f,
                                .tokens = {bt, 0},
                                .d_out = {bo, 0},
                                .d_token_table = {bg, 0}};
        op_ok(c, c->f->embedding_backward(c->dev, &a), "embedding_backward");
        got[k] = malloc(ntab * 4);
        get(c, bg, got[k], ntab);
        c->f->buffer_free(bt), c->f->buffer_free(bo);
    }
    char what[120];
    snprintf(what, sizeof what, "embedding backward B=%d L=%d D=%d V=%d: d_token_table", B, L, D, V);
    check(nmse(got[1], got[0], ntab), 1e-10, what);
    free(got[0]), free(got[1]), free(tokens), free(d_out), free(table);
}

/* Shows the tilings the backend chose (logged at debug level) so that the two runs' differ visibly. */
static void tiling_log(void *user, hrm_log_level level, const char *backend, const char *message) {
    (void)user, (void)level, (void)backend;
    if (strstr(message, " rows x ")) printf("    %s\n", message);
}

int main(void) {
    hrm_host host = *hrm_default_host();
    host.log = tiling_log;
    hrm_ctx cpu, ocl;
    char err[1024];
    if (hrm_ctx_open("cpu", 0, &host, &cpu, err, sizeof err) != HRM_OK ||
        hrm_ctx_open("opencl", 0, &host, &ocl, err, sizeof err) != HRM_OK) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    static const att_shape shapes[] = {{1, 37, 2, 24, 0}, {1, 37, 1, 24, 1}, {2, 19, 1, 64, 0}, {1, 9, 1, 128, 1}};
    for (int i = 0; i < (int)(sizeof shapes / sizeof shapes[0]); i++) check_attention(&cpu, &ocl, &shapes[i], i);
    check_xent(&cpu, &ocl, 3, 70, 11);
    check_embedding(&cpu, &ocl, 2, 70, 40, 5);
    hrm_ctx_close(&ocl);
    hrm_ctx_close(&cpu);
    printf("%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
