/* bench/bench_cases.c - what `hrm bench ops` measures: each backend op at the shapes one HRM
 * training step uses (docs/MODEL.md "Configuration", Sudoku: B=32, S=82, D=512, 8 heads of 64, I=1536, V=11), and
 * the work each call does: FLOPs for matmul and attention, the minimal bytes read + written for
 * everything else. The backend's matmul at the qkv forward shape is measured first: it is the
 * roofline of attention. */
#include "bench_ops.h"
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- one-line wrappers: enqueue one call of an op ------------------------------------------ */

#define OP_WRAPPER(slot, type) \
    static hrm_status run_##slot(bench *b, const void *arg) { return b->f->slot(b->ctx.dev, (const type *)arg); }
OP_WRAPPER(attention_forward, hrm_attention_args)
OP_WRAPPER(attention_backward, hrm_attention_args)
OP_WRAPPER(rope_forward, hrm_rope_args)
OP_WRAPPER(rope_backward, hrm_rope_args)
OP_WRAPPER(rmsnorm_forward, hrm_rmsnorm_args)
OP_WRAPPER(rmsnorm_backward, hrm_rmsnorm_args)
OP_WRAPPER(swiglu_forward, hrm_swiglu_args)
OP_WRAPPER(swiglu_backward, hrm_swiglu_args)
OP_WRAPPER(embedding_forward, hrm_embedding_args)
OP_WRAPPER(xent_forward, hrm_xent_args)
OP_WRAPPER(xent_backward, hrm_xent_args)
OP_WRAPPER(adam_atan2, hrm_adam_args)
OP_WRAPPER(signsgd_rows, hrm_signsgd_args)
#undef OP_WRAPPER

static int64_t rows_of(const bench *b) { return (int64_t)b->batch * BENCH_SEQ; }

/* ---- linear layers: y = x W^T, W [out, in], x [rows, in] ------------------------------------- */

typedef enum gemm_form { FORM_FWD, FORM_DGRAD, FORM_WGRAD } gemm_form;
static const char *form_name[] = {"fwd", "dgrad", "wgrad"};

/* fwd:   y [rows, out]  = x [rows, in] . W^T         m=rows n=out k=in,  B transposed
 * dgrad: dx [rows, in]  = dy [rows, out] . W         m=rows n=in  k=out
 * wgrad: dW [out, in]   = dy^T . x                    m=out  n=in  k=rows, A transposed */
static hrm_matmul_args linear_args(int64_t rows, int in, int out, gemm_form form) {
    hrm_matmul_args a = {.alpha = 1.0f, .beta = 0.0f, .batch = 1};
    if (form == FORM_FWD) {
        a.trans_b = 1, a.m = (int)rows, a.n = out, a.k = in, a.lda = in, a.ldb = in, a.ldc = out;
    } else if (form == FORM_DGRAD) {
        a.m = (int)rows, a.n = in, a.k = out, a.lda = out, a.ldb = in, a.ldc = in;
    } else {
        a.trans_a = 1, a.m = out, a.n = in, a.k = (int)rows, a.lda = out, a.ldb = in, a.ldc = in;
    }
    return a;
}

static void bench_linear(bench *b, const char *layer, int in, int out, gemm_form form) {
    char op[48];
    hrm_matmul_args a = linear_args(rows_of(b), in, out, form);
    snprintf(op, sizeof op, "matmul %s %s", layer, form_name[form]);
    bench_entry *e = bench_begin(b, KIND_GEMM, op, "m=%d n=%d k=%d %c%c", a.m, a.n, a.k, a.trans_a ? 'T' : 'N',
                                 a.trans_b ? 'T' : 'N');
    size_t sa = (size_t)(a.trans_a ? a.k : a.m) * (size_t)a.lda, sb = (size_t)(a.trans_b ? a.n : a.k) * (size_t)a.ldb;
    a.a = bench_take(b, sa);
    a.b = bench_take(b, sb);
    a.c = bench_take(b, (size_t)a.m * (size_t)a.ldc);
    bench_random(b, a.a, sa, -1, 1);
    bench_random(b, a.b, sb, -1, 1);
    measure_gemm(b, e, &a);
    bench_end(b, e);
    bench_release(b);
}

static void bench_linears(bench *b) {
    static const struct {
        const char *name;
        int in, out;
    } layers[] = {{"qkv", BENCH_DIM, 3 * BENCH_DIM},
                  {"o_proj", BENCH_DIM, BENCH_DIM},
                  {"gate_up", BENCH_DIM, 2 * BENCH_INTER},
                  {"down", BENCH_INTER, BENCH_DIM}};
    for (int l = 0; l < 4; l++)
        for (int f = FORM_FWD; f <= FORM_WGRAD; f++) {
            bench_linear(b, layers[l].name, layers[l].in, layers[l].out, (gemm_form)f);
            if (l == 0 && f == FORM_FWD) {
                const bench_entry *e = &b->entries[b->count - 1];
                b->gemm_rate = e->error[0] ? 0 : e->rate;
            }
        }
}

/* ---- attention on the packed qkv [B, S, 3H, hd] ----------------------------------------------- */

/* work = B*H*S*S*hd multiply-adds of one [S,S] product per head: forward does Q K^T and P V
 * (4 x work FLOPs), backward recomputes Q K^T and does dV, dP, dQ, dK (10 x work). */
static void bench_attention(bench *b, int batch, int seq) {
    const int H = BENCH_HEADS, hd = BENCH_HEAD_DIM;
    const size_t tokens = (size_t)batch * seq, qkv = tokens * 3 * H * hd, o = tokens * H * hd;
    const double work = (double)batch * H * seq * (double)seq * hd;
    hrm_attention_args a = {.batch = batch,
                            .seq = seq,
                            .heads = H,
                            .head_dim = hd,
                            .scale = 1.0f / sqrtf((float)hd),
                            .qkv_row_stride = 3 * H * hd,
                            .o_row_stride = H * hd,
                            .dqkv_row_stride = 3 * H * hd};

    bench_entry *e = bench_begin(b, KIND_ATTENTION, "attention fwd", "B=%d S=%d H=%d hd=%d", batch, seq, H, hd);
    e->seq = seq;
    a.q = bench_take(b, qkv); /* q, k, v: heads [0,H), [H,2H), [2H,3H) of each token row */
    a.k = a.q, a.k.off += (size_t)H * hd;
    a.v = a.q, a.v.off += 2 * (size_t)H * hd;
    a.o = bench_take(b, o);
    a.lse = bench_take(b, (size_t)batch * H * seq);
    a.d_o = bench_take(b, o);
    a.dq = bench_take(b, qkv); /* dq, dk, dv carved from one packed gradient like q, k, v */
    a.dk = a.dq, a.dk.off += (size_t)H * hd;
    a.dv = a.dq, a.dv.off += 2 * (size_t)H * hd;
    bench_random(b, a.q, qkv, -1, 1);
    bench_random(b, a.d_o, o, -1, 1);
    measure_flops(b, e, run_attention_forward, &a, 4 * work);
    bench_end(b, e);

    /* backward reads o and lse from the forward just timed */
    int forward_failed = e->error[0] != 0;
    e = bench_begin(b, KIND_ATTENTION, "attention bwd", "B=%d S=%d H=%d hd=%d", batch, seq, H, hd);
    e->seq = seq;
    if (forward_failed)
        snprintf(e->error, sizeof e->error, "not run: attention fwd failed");
    else
        measure_flops(b, e, run_attention_backward, &a, 10 * work);
    bench_end(b, e);
    bench_release(b);
}

/* ---- elementwise and row ops on [rows, 512] ---------------------------------------------------- */

/* Times one call of fn against the backend's copy of the same bytes, then frees its buffers. */
static void finish_bytes(bench *b, bench_entry *e, bench_fn fn, const void *arg, double bytes) {
    measure_bytes(b, e, fn, arg, bytes);
    bench_end(b, e);
    bench_release(b);
}

/* out = a + b (+ c): reads 2 or 3 tensors [rows, 512], writes one. */
static void bench_add(bench *b, int terms) {
    const int64_t n = rows_of(b) * BENCH_DIM;
    bench_entry *e = bench_begin(b, KIND_ELEMENTWISE, terms == 3 ? "add a+b+c" : "add a+b", "%lldx%d",
                                 (long long)rows_of(b), BENCH_DIM);
    hrm_add_args a = {.n = n, .out = bench_take(b, n), .a = bench_take(b, n), .b = bench_take(b, n)};
    if (terms == 3) a.c = bench_take(b, n);
    bench_random(b, a.a, n, -1, 1);
    bench_random(b, a.b, n, -1, 1);
    if (terms == 3) bench_random(b, a.c, n, -1, 1);
    finish_bytes(b, e, bench_call_add, &a, 4.0 * n * (terms + 1));
}

/* forward reads x, r, writes y [rows, 512] and rstd [rows]; backward reads dy, y, rstd, writes dh. */
static void bench_rmsnorm(bench *b, int backward) {
    const int64_t rows = rows_of(b), n = rows * BENCH_DIM;
    bench_entry *e = bench_begin(b, KIND_ELEMENTWISE, backward ? "rmsnorm bwd" : "rmsnorm fwd", "%lldx%d",
                                 (long long)rows, BENCH_DIM);
    hrm_rmsnorm_args a = {.rows = rows,
                          .dim = BENCH_DIM,
                          .eps = 1e-5f,
                          .x = bench_take(b, n),
                          .r = bench_take(b, n),
                          .y = bench_take(b, n),
                          .rstd = bench_take(b, rows)};
    bench_random(b, a.x, n, -1, 1);
    bench_random(b, a.r, n, -1, 1);
    if (backward) {
        a.dy = bench_take(b, n);
        a.dh = bench_take(b, n);
        bench_random(b, a.dy, n, -1, 1);
        if (!b->status) bench_fail(b, b->f->rmsnorm_forward(b->ctx.dev, &a), "rmsnorm_forward"); /* y, rstd */
    }
    finish_bytes(b, e, backward ? run_rmsnorm_backward : run_rmsnorm_forward, &a, 4.0 * (3 * n + rows));
}

/* forward reads gu [rows, 2I], writes out [rows, I]; backward reads d_out, gu, writes d_gu. */
static void bench_swiglu(bench *b, int backward) {
    const int64_t rows = rows_of(b), n = rows * BENCH_INTER;
    bench_entry *e = bench_begin(b, KIND_ELEMENTWISE, backward ? "swiglu bwd" : "swiglu fwd", "%lldx%d -> %d",
                                 (long long)rows, 2 * BENCH_INTER, BENCH_INTER);
    hrm_swiglu_args a = {.rows = rows, .inter = BENCH_INTER, .gu = bench_take(b, 2 * n), .out = bench_take(b, n)};
    bench_random(b, a.gu, 2 * n, -3, 3);
    if (backward) {
        a.d_out = bench_take(b, n);
        a.d_gu = bench_take(b, 2 * n);
        bench_random(b, a.d_out, n, -1, 1);
    }
    finish_bytes(b, e, backward ? run_swiglu_backward : run_swiglu_forward, &a, 4.0 * (backward ? 5 : 3) * n);
}

/* cos, sin [S, hd/2] of HRM's angles pos * theta^(-2i/hd): a true rotation, so that repeated
 * calls in place keep the values' size (no overflow, no denormals). */
static void upload_rope_tables(bench *b, hrm_ptr cos_t, hrm_ptr sin_t) {
    const int half = BENCH_HEAD_DIM / 2;
    float *c = malloc(sizeof *c * BENCH_SEQ * half), *s = malloc(sizeof *s * BENCH_SEQ * half);
    if (!c || !s) bench_fail(b, HRM_ERR_OUT_OF_MEMORY, "bench: host memory");
    for (int p = 0; c && s && p < BENCH_SEQ; p++)
        for (int i = 0; i < half; i++) {
            double angle = p * pow(10000.0, -2.0 * i / BENCH_HEAD_DIM);
            c[p * half + i] = (float)cos(angle);
            s[p * half + i] = (float)sin(angle);
        }
    if (c && s) bench_upload(b, cos_t, c, (size_t)BENCH_SEQ * half);
    if (c && s) bench_upload(b, sin_t, s, (size_t)BENCH_SEQ * half);
    free(c);
    free(s);
}

/* In place on the Q and K heads (2H of 3H) of the packed qkv. */
static void bench_rope(bench *b, int backward) {
    const int heads = 2 * BENCH_HEADS, hd = BENCH_HEAD_DIM, half = BENCH_SEQ * hd / 2;
    const int64_t rows = rows_of(b), rotated = rows * heads * hd;
    bench_entry *e = bench_begin(b, KIND_ELEMENTWISE, backward ? "rope bwd" : "rope fwd", "%lldx%dx%d in qkv",
                                 (long long)rows, heads, hd);
    hrm_rope_args a = {.batch = b->batch,
                       .seq = BENCH_SEQ,
                       .heads = heads,
                       .head_dim = hd,
                       .row_stride = 3 * BENCH_HEADS * hd,
                       .x = bench_take(b, (size_t)rows * 3 * BENCH_HEADS * hd),
                       .cos = bench_take(b, half),
                       .sin = bench_take(b, half)};
    a.out = a.x;
    bench_random(b, a.x, (size_t)rows * 3 * BENCH_HEADS * hd, -1, 1);
    upload_rope_tables(b, a.cos, a.sin);
    finish_bytes(b, e, backward ? run_rope_backward : run_rope_forward, &a, 4.0 * (2 * rotated + 2 * half));
}

/* Writes out [B, S, 512]; reads tokens [B, 81], puzzle ids [B], B puzzle rows (puzzle_width =
 * prefix*dim = 512, no padding) and the token table. */
static void bench_embedding(bench *b) {
    const int B = b->batch, L = BENCH_LABELS, D = BENCH_DIM;
    bench_entry *e =
        bench_begin(b, KIND_ELEMENTWISE, "embedding fwd", "B=%d S=%d D=%d V=%d", B, BENCH_SEQ, D, BENCH_VOCAB);
    hrm_embedding_args a = {.batch = B,
                            .seq_len = L,
                            .prefix = 1,
                            .dim = D,
                            .vocab = BENCH_VOCAB,
                            .num_puzzle_ids = BENCH_PUZZLE_ROWS,
                            .puzzle_width = D,
                            .scale = sqrtf((float)D),
                            .tokens = bench_take(b, (size_t)B * L),
                            .puzzle_ids = bench_take(b, B),
                            .token_table = bench_take(b, (size_t)BENCH_VOCAB * D),
                            .puzzle_table = bench_take(b, (size_t)BENCH_PUZZLE_ROWS * D),
                            .out = bench_take(b, (size_t)B * BENCH_SEQ * D)};
    int32_t *ids = malloc(sizeof *ids * (size_t)B * L);
    if (!ids) bench_fail(b, HRM_ERR_OUT_OF_MEMORY, "bench: host memory");
    for (int i = 0; ids && i < B * L; i++) ids[i] = 1 + i % (BENCH_VOCAB - 1);
    if (ids) bench_upload(b, a.tokens, ids, (size_t)B * L);
    for (int i = 0; ids && i < B; i++) ids[i] = (i * 37) % BENCH_PUZZLE_ROWS;
    if (ids) bench_upload(b, a.puzzle_ids, ids, (size_t)B);
    free(ids);
    bench_random(b, a.token_table, (size_t)BENCH_VOCAB * D, -1, 1);
    bench_random(b, a.puzzle_table, (size_t)BENCH_PUZZLE_ROWS * D, -1, 1);
    double bytes = 4.0 * ((double)B * BENCH_SEQ * D + B * L + B + (double)B * D + BENCH_VOCAB * D);
    finish_bytes(b, e, run_embedding_forward, &a, bytes);
}

/* logits [B, 81, 11], labels [B, 81] in 1..10 (0 is HRM's ignore label), stablemax.
 * forward reads both, writes loss, count, correct [B] and preds [B, 81];
 * backward reads both, writes d_logits [B, 81, 11]. */
static void bench_xent(bench *b, int backward) {
    const int B = b->batch, L = BENCH_LABELS, V = BENCH_VOCAB;
    const size_t cells = (size_t)B * L;
    bench_entry *e = bench_begin(b, KIND_UPDATE, backward ? "xent bwd" : "xent fwd", "B=%d L=%d V=%d", B, L, V);
    hrm_xent_args a = {.batch = B,
                       .seq_len = L,
                       .vocab = V,
                       .kind = HRM_LOSS_STABLEMAX,
                       .ignore_label = 0,
                       .logits = bench_take(b, cells * V),
                       .labels = bench_take(b, cells),
                       .grad_scale = 1.0f / B};
    int32_t *labels = malloc(sizeof *labels * cells);
    if (!labels) bench_fail(b, HRM_ERR_OUT_OF_MEMORY, "bench: host memory");
    for (size_t i = 0; labels && i < cells; i++) labels[i] = 1 + (int32_t)(i * 7 % (size_t)(V - 1));
    if (labels) bench_upload(b, a.labels, labels, cells);
    free(labels);
    bench_random(b, a.logits, cells * V, -4, 4);
    if (backward) {
        a.d_logits = bench_take(b, cells * V);
    } else {
        a.loss = bench_take(b, B);
        a.count = bench_take(b, B);
        a.correct = bench_take(b, B);
        a.preds = bench_take(b, cells);
    }
    double bytes = backward ? 4.0 * (2 * cells * V + cells) : 4.0 * (cells * V + 2 * cells + 3 * (size_t)B);
    finish_bytes(b, e, backward ? run_xent_backward : run_xent_forward, &a, bytes);
}

/* One AdamATan2 step over every parameter: reads p, g, m, v, writes p, m, v. */
static void bench_adam(bench *b) {
    const int64_t n = b->adam_params;
    bench_entry *e = bench_begin(b, KIND_UPDATE, "adam_atan2", "%lld params", (long long)n);
    hrm_adam_args a = {.n = n,
                       .step = 10,
                       .lr = 1e-4f,
                       .weight_decay = 1.0f,
                       .beta1 = 0.9f,
                       .beta2 = 0.95f,
                       .param = bench_take(b, n),
                       .grad = bench_take(b, n),
                       .m = bench_take(b, n),
                       .v = bench_take(b, n)};
    bench_random(b, a.param, n, -0.05f, 0.05f);
    bench_random(b, a.grad, n, -1e-3f, 1e-3f);
    bench_random(b, a.m, n, -1e-4f, 1e-4f);
    bench_fill(b, a.v, n, 1e-6f);
    finish_bytes(b, e, run_adam_atan2, &a, 4.0 * 7 * n);
}

/* Puzzle-embedding rows: reads ids [B] and grads [B, 512], reads and writes B distinct rows. */
static void bench_signsgd(bench *b) {
    const int B = b->batch, W = BENCH_DIM;
    bench_entry *e = bench_begin(b, KIND_UPDATE, "signsgd_rows", "B=%d width=%d rows=%d", B, W, BENCH_PUZZLE_ROWS);
    hrm_signsgd_args a = {.batch = B,
                          .width = W,
                          .num_rows = BENCH_PUZZLE_ROWS,
                          .lr = 1e-4f,
                          .weight_decay = 1.0f,
                          .ids = bench_take(b, B),
                          .grads = bench_take(b, (size_t)B * W),
                          .weights = bench_take(b, (size_t)BENCH_PUZZLE_ROWS * W)};
    int32_t *ids = malloc(sizeof *ids * (size_t)B);
    if (!ids) bench_fail(b, HRM_ERR_OUT_OF_MEMORY, "bench: host memory");
    for (int i = 0; ids && i < B; i++) ids[i] = (i * 37) % BENCH_PUZZLE_ROWS; /* distinct: gcd(37, 4096) = 1 */
    if (ids) bench_upload(b, a.ids, ids, (size_t)B);
    free(ids);
    bench_random(b, a.grads, (size_t)B * W, -1, 1);
    bench_random(b, a.weights, (size_t)BENCH_PUZZLE_ROWS * W, -1, 1);
    finish_bytes(b, e, run_signsgd_rows, &a, 4.0 * (B + 3.0 * B * W));
}

/* The first calls in a process pay for thread start-up and clock ramp-up: spend one
 * measurement's time on the qkv forward GEMM, unrecorded, before the first entry. */
static void warm_up(bench *b) {
    hrm_matmul_args a = linear_args(rows_of(b), BENCH_DIM, 3 * BENCH_DIM, FORM_FWD);
    a.a = bench_take(b, (size_t)a.m * a.k);
    a.b = bench_take(b, (size_t)a.n * a.k);
    a.c = bench_take(b, (size_t)a.m * a.n);
    bench_random(b, a.a, (size_t)a.m * a.k, -1, 1);
    bench_random(b, a.b, (size_t)a.n * a.k, -1, 1);
    for (double t0 = cli_now(); !b->status && cli_now() - t0 < b->min_time;) {
        bench_fail(b, bench_matmul(b, &a), "matmul");
        bench_fail(b, b->f->finish(b->ctx.dev), "finish");
    }
    bench_release(b);
    b->status = HRM_OK; /* a failure here shows in the first entry */
}

void bench_all_cases(bench *b) {
    warm_up(b);
    bench_linears(b); /* first: the qkv forward rate is the roofline of attention */
    bench_attention(b, b->batch, BENCH_SEQ);
    bench_attention(b, b->batch_long, BENCH_SEQ_LONG);
    bench_add(b, 2);
    bench_add(b, 3);
    for (int backward = 0; backward <= 1; backward++) {
        bench_rmsnorm(b, backward);
        bench_swiglu(b, backward);
        bench_rope(b, backward);
    }
    bench_embedding(b);
    bench_xent(b, 0);
    bench_xent(b, 1);
    bench_adam(b);
    bench_signsgd(b);
}
