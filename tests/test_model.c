/* tests/test_model.c - the HRM model on the CPU backend: parameter init statistics; the whole
 * one-step-gradient backward against central differences of the forward (1 x 1 cycles, where the
 * one-step gradient is the full gradient), and for N x T > 1 against a 1 x 1 model started from
 * the carry the no-gradient part produces; memory independent of the cycle counts; bad input. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "init.h"
#include "model.h"

/* ---- a tiny model and its inputs ------------------------------------------------------------ */

enum { BATCH = 3, VOCAB = 6, SEQ = 5, PUZZLES = 4 };

static hrm_config tiny_config(int puzzle_emb_ndim, hrm_pos_encoding pos, int H_cycles, int L_cycles) {
    hrm_config c = hrm_config_default();
    c.hidden_size = 16;
    c.num_heads = 2;
    c.H_layers = 1;
    c.L_layers = 2;
    c.H_cycles = H_cycles;
    c.L_cycles = L_cycles;
    c.puzzle_emb_ndim = puzzle_emb_ndim;
    c.pos_encodings = pos;
    c.vocab_size = VOCAB;
    c.seq_len = SEQ;
    c.num_puzzle_identifiers = PUZZLES;
    return c;
}

/* TRM (docs/TRM.md): one network of 2 blocks, T = H_cycles, n = L_cycles, P prefix rows. */
static hrm_config trm_config(int puzzle_emb_ndim, hrm_pos_encoding pos, int T, int n, int P) {
    hrm_config c = tiny_config(puzzle_emb_ndim, pos, T, n);
    c.arch = HRM_ARCH_TRM;
    c.H_layers = 0;
    c.puzzle_emb_len = P;
    c.no_ACT_continue = 1;
    return c;
}

/* One backend, one model and everything a segment needs, with host copies for the checks. */
typedef struct fixture {
    hrm_ctx ctx;
    hrm_model *m;
    hrm_config cfg;
    int S, D;
    size_t carry_n; /* B*S*D */
    hrm_buffer *io;
    hrm_ptr tokens, puzzle_ids, labels;
    hrm_carry carry; /* the working carry, reset to carry0 before every evaluation */
    float *carry0;   /* host [2, B, S, D]: zH then zL */
    float *params;   /* host [total] */
    float target_halt[BATCH], target_continue[BATCH];
    int32_t pid[BATCH];
} fixture;

static double normal(hrm_rng *r) { return hrm_rng_normal(r); }

static void ctx_open(hrm_ctx *ctx) {
    char err[512];
    hrm_status st = hrm_ctx_open("cpu", 0, hrm_default_host(), ctx, err, sizeof err);
    ck_assert_msg(st == HRM_OK, "cannot open the cpu backend: %s", err);
}

#define CK(m, call) ck_assert_msg((call) == HRM_OK, "%s", hrm_model_error(m))

static void upload(fixture *f, hrm_ptr p, const void *x, size_t n) {
    ck_assert(f->ctx.f->buffer_write(p.buf, p.off * 4, x, n * 4) == HRM_OK);
}

static void download(fixture *f, hrm_ptr p, void *x, size_t n) {
    ck_assert(f->ctx.f->buffer_read(p.buf, p.off * 4, x, n * 4) == HRM_OK);
}

/* Random weights (init, then non-trivial Q head and puzzle embeddings), inputs, carry, targets. */
static void fixture_inputs(fixture *f, uint64_t seed) {
    hrm_rng r;
    hrm_rng_seed(&r, seed);
    const hrm_param_table *t = hrm_model_params_table(f->m);
    hrm_init_params(t, f->params, seed);
    for (int i = 0; i < t->count; i++) {
        const hrm_param *p = &t->params[i];
        if (strstr(p->name, "q_head") || strstr(p->name, "puzzle_emb"))
            for (int64_t j = 0; j < p->numel; j++) f->params[p->offset + j] = (float)(0.5 * normal(&r));
    }
    int32_t tokens[BATCH * SEQ], labels[BATCH * SEQ];
    for (int i = 0; i < BATCH * SEQ; i++) {
        tokens[i] = (int32_t)hrm_rng_below(&r, VOCAB);
        labels[i] = (int32_t)hrm_rng_below(&r, VOCAB); /* label 0 is ignored */
    }
    const int32_t pid[BATCH] = {2, 0, 2}; /* a repeated id: its slots' gradients add up */
    memcpy(f->pid, pid, sizeof pid);
    upload(f, f->tokens, tokens, BATCH * SEQ);
    upload(f, f->labels, labels, BATCH * SEQ);
    upload(f, f->puzzle_ids, pid, BATCH);
    for (size_t i = 0; i < 2 * f->carry_n; i++) f->carry0[i] = (float)normal(&r);
    for (int b = 0; b < BATCH; b++) {
        f->target_halt[b] = (float)(b % 2);
        f->target_continue[b] = (float)hrm_rng_uniform(&r);
    }
}

static void fixture_open(fixture *f, hrm_config cfg, uint64_t seed) {
    memset(f, 0, sizeof *f);
    char err[512];
    ctx_open(&f->ctx);
    f->cfg = cfg;
    ck_assert_msg(hrm_model_create(&f->ctx, &cfg, BATCH, &f->m, err, sizeof err) == HRM_OK, "%s", err);
    f->S = hrm_config_full_seq(&cfg);
    f->D = cfg.hidden_size;
    f->carry_n = (size_t)BATCH * f->S * f->D;
    size_t n = 2 * BATCH * SEQ + BATCH + 2 * f->carry_n;
    ck_assert(f->ctx.f->buffer_alloc(f->ctx.dev, n * 4, &f->io) == HRM_OK);
    f->tokens = (hrm_ptr){f->io, 0};
    f->labels = (hrm_ptr){f->io, BATCH * SEQ};
    f->puzzle_ids = (hrm_ptr){f->io, 2 * BATCH * SEQ};
    f->carry.zH = (hrm_ptr){f->io, 2 * BATCH * SEQ + BATCH};
    f->carry.zL = (hrm_ptr){f->io, 2 * BATCH * SEQ + BATCH + f->carry_n};
    f->carry0 = malloc(2 * f->carry_n * sizeof *f->carry0);
    f->params = malloc((size_t)hrm_model_params_table(f->m)->total * sizeof *f->params);
    ck_assert(f->carry0 && f->params);
    fixture_inputs(f, seed);
}

static void fixture_close(fixture *f) {
    hrm_model_free(f->m);
    f->ctx.f->buffer_free(f->io);
    hrm_ctx_close(&f->ctx);
    free(f->carry0);
    free(f->params);
}

static void reset_carry(fixture *f, const float *carry) {
    upload(f, f->carry.zH, carry, f->carry_n);
    upload(f, f->carry.zL, carry + f->carry_n, f->carry_n);
}

/* The scalar the gradient check differentiates: sum_b lm_b + 0.5 (sum BCE halt + sum BCE
 * continue), from carry0, with the given parameters. */
static double eval_loss(fixture *f, hrm_model *m, const float *params, hrm_loss_kind kind) {
    float q_halt[BATCH], q_continue[BATCH], lm[BATCH];
    double halt, cont, sum = 0;
    CK(m, hrm_model_set_params(m, params, hrm_model_params_table(m)->total));
    reset_carry(f, f->carry0);
    CK(m,
       hrm_model_forward(m, HRM_FORWARD_EVAL, BATCH, f->tokens, f->puzzle_ids, f->carry, f->carry, q_halt, q_continue));
    CK(m, hrm_model_lm_loss_forward(m, f->labels, kind, 0, lm, NULL, NULL, NULL));
    hrm_q_loss(BATCH, q_halt, q_continue, f->target_halt, f->target_continue, 1, &halt, &cont, NULL);
    for (int b = 0; b < BATCH; b++) sum += lm[b];
    return sum + 0.5 * (halt + cont);
}

/* One training step's gradients from `carry`: grads [adam_total] and puzzle rows [B, ndim]. */
static void train_grads(fixture *f, hrm_model *m, const float *carry, hrm_loss_kind kind, float *grads,
                        float *puzzle_rows) {
    float q_halt[BATCH], q_continue[BATCH], d_q[2 * BATCH];
    CK(m, hrm_model_set_params(m, f->params, hrm_model_params_table(m)->total));
    reset_carry(f, carry);
    CK(m, hrm_model_zero_grads(m));
    CK(m, hrm_model_forward(m, HRM_FORWARD_TRAIN, BATCH, f->tokens, f->puzzle_ids, f->carry, f->carry, q_halt,
                            q_continue));
    CK(m, hrm_model_lm_loss_backward(m, f->labels, kind, 0, 1.0f));
    hrm_q_loss(BATCH, q_halt, q_continue, f->target_halt, f->target_continue, 1, NULL, NULL, d_q);
    CK(m, hrm_model_backward(m, d_q));
    download(f, hrm_model_grads(m), grads, (size_t)hrm_model_params_table(m)->adam_total);
    if (puzzle_rows) download(f, hrm_model_puzzle_grads(m), puzzle_rows, (size_t)BATCH * f->cfg.puzzle_emb_ndim);
}

/* ---- 1. initialisation ------------------------------------------------------------------------ */

START_TEST(test_trunc_normal_stats) {
    ck_assert_double_eq_tol(hrm_trunc_normal_factor(), 1.1368472, 1e-6);
    for (double x = -2.5; x <= 2.5; x += 0.125) ck_assert_double_eq_tol(hrm_erfinv(erf(x)), x, 1e-12);
    const int64_t n = 1 << 20;
    const double std = 0.05, c = std * hrm_trunc_normal_factor();
    float *x = malloc((size_t)n * sizeof *x);
    hrm_rng r;
    hrm_rng_seed(&r, 7);
    hrm_trunc_normal(x, n, std, &r);
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; i++) {
        ck_assert(x[i] >= -2 * c && x[i] <= 2 * c);
        sum += x[i];
        sq += (double)x[i] * x[i];
    }
    double mean = sum / n, sd = sqrt(sq / n - mean * mean);
    ck_assert_msg(fabs(mean) < 5 * std / sqrt((double)n), "mean %g", mean);
    ck_assert_msg(fabs(sd / std - 1) < 0.02, "std %g, wanted %g", sd, std);
    free(x);
}
END_TEST

START_TEST(test_init_params) {
    hrm_config cfg = tiny_config(16, HRM_POS_LEARNED, 2, 2);
    cfg.hidden_size = 64;
    hrm_param_table t;
    ck_assert(hrm_params_build(&cfg, &t) == HRM_OK);
    float *a = malloc((size_t)t.total * sizeof *a), *b = malloc((size_t)t.total * sizeof *b);
    hrm_init_params(&t, a, 1);
    hrm_init_params(&t, b, 1);
    ck_assert(memcmp(a, b, (size_t)t.total * sizeof *a) == 0); /* reproducible */
    hrm_init_params(&t, b, 2);
    ck_assert(memcmp(a, b, (size_t)t.total * sizeof *a) != 0);
    for (int i = 0; i < t.count; i++) {
        const hrm_param *p = &t.params[i];
        const float *x = a + p->offset;
        if (p->init == HRM_INIT_CONST) {
            for (int64_t j = 0; j < p->numel; j++) ck_assert_float_eq(x[j], (float)p->init_value);
            continue;
        }
        double c = p->init_value * hrm_trunc_normal_factor(), sq = 0;
        for (int64_t j = 0; j < p->numel; j++) {
            ck_assert_msg(fabs(x[j]) <= 2 * c, "%s[%lld] = %g beyond 2c", p->name, (long long)j, x[j]);
            sq += (double)x[j] * x[j];
        }
        if (p->numel >= 16384) /* 3 sigma of the estimate is under 2% */
            ck_assert_msg(fabs(sqrt(sq / p->numel) / p->init_value - 1) < 0.02, "%s: std %g, wanted %g", p->name,
                          sqrt(sq / p->numel), p->init_value);
    }
    ck_assert_float_eq(a[hrm_params_find(&t, "model.inner.q_head.bias")->offset + 1], -5.0f);
    free(a);
    free(b);
    hrm_params_free(&t);
}
END_TEST

/* The model's own init uploads what hrm_init_params computes. */
START_TEST(test_model_init_params) {
    fixture f;
    fixture_open(&f, tiny_config(8, HRM_POS_ROPE, 1, 1), 71);
    int64_t total = hrm_model_params_table(f.m)->total;
    float *got = malloc((size_t)total * sizeof *got);
    CK(f.m, hrm_model_init_params(f.m, 5));
    CK(f.m, hrm_model_get_params(f.m, got, total));
    hrm_init_params(hrm_model_params_table(f.m), f.params, 5);
    ck_assert(memcmp(got, f.params, (size_t)total * sizeof *got) == 0);
    free(got);
    fixture_close(&f);
}
END_TEST

/* ---- forward against a naive host forward ------------------------------------------------ */

/* docs/MODEL.md ("Embeddings" to "Output heads") written out in double on the host, one slot at a time, independent of the backend
 * ops: it pins the forward's semantics (scales, RoPE layout, post-norm, the schedule, heads). */
typedef struct ref_model {
    const hrm_config *c;
    const hrm_param_table *t;
    const float *p;
    int D, heads, hd, I, P, S;
} ref_model;

static const float *ref_w(const ref_model *r, const char *name) {
    const hrm_param *p = hrm_params_find(r->t, name);
    ck_assert_msg(p != NULL, "%s", name);
    return r->p + p->offset;
}

static const float *ref_block_w(const ref_model *r, char lv, int layer, const char *leaf) {
    char name[128];
    snprintf(name, sizeof name, "model.inner.%c_level.layers.%d.%s.weight", lv, layer, leaf);
    return ref_w(r, name);
}

/* Set: ref_linear rounds both operands to bf16 as matmul_precision=medium does (the values an
 * fp32 engine holds, rounded to nearest even; hrm_matmul_precision in hrm/backend.h). */
static int ref_round_bf16;

static double ref_operand(double v) {
    if (!ref_round_bf16) return v;
    float x = (float)v;
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u; /* finite values only here */
    memcpy(&x, &u, sizeof x);
    return x;
}

/* y [rows, out] = x [rows, in] W^T */
static void ref_linear(const double *x, int rows, int in, const float *w, int out, double *y) {
    for (int i = 0; i < rows; i++)
        for (int o = 0; o < out; o++) {
            double s = 0;
            for (int k = 0; k < in; k++) s += ref_operand(x[i * in + k]) * ref_operand(w[o * in + k]);
            y[i * out + o] = s;
        }
}

static void ref_rmsnorm(double *v, int rows, int D, double eps) {
    for (int i = 0; i < rows; i++) {
        double ms = 0;
        for (int d = 0; d < D; d++) ms += v[i * D + d] * v[i * D + d] / D;
        for (int d = 0; d < D; d++) v[i * D + d] /= sqrt(ms + eps);
    }
}

/* x [hd] of token s, rotate-half layout */
static void ref_rope(const ref_model *r, double *x, int s) {
    int half = r->hd / 2;
    for (int i = 0; i < half; i++) {
        double a = s * pow(r->c->rope_theta, -2.0 * i / r->hd), x0 = x[i], x1 = x[i + half];
        x[i] = x0 * cos(a) - x1 * sin(a);
        x[i + half] = x1 * cos(a) + x0 * sin(a);
    }
}

/* h [S, D] <- block(h), post-norm */
static void ref_block(const ref_model *r, char lv, int layer, double *h) {
    int S = r->S, D = r->D, hd = r->hd, I = r->I;
    double *qkv = malloc(sizeof(double) * S * 3 * D), *o = calloc((size_t)S * D, sizeof(double));
    double *a = malloc(sizeof(double) * S * D), *gu = malloc(sizeof(double) * S * 2 * I);
    double *mid = malloc(sizeof(double) * S * I), *sc = malloc(sizeof(double) * S);
    ref_linear(h, S, D, ref_block_w(r, lv, layer, "self_attn.qkv_proj"), 3 * D, qkv);
    if (r->c->pos_encodings == HRM_POS_ROPE)
        for (int s = 0; s < S; s++)
            for (int hh = 0; hh < 2 * r->heads; hh++) ref_rope(r, qkv + s * 3 * D + hh * hd, s);
    for (int hh = 0; hh < r->heads; hh++)
        for (int i = 0; i < S; i++) {
            double mx = -1e300, sum = 0;
            for (int j = 0; j < S; j++) {
                double dot = 0;
                for (int d = 0; d < hd; d++) dot += qkv[i * 3 * D + hh * hd + d] * qkv[j * 3 * D + D + hh * hd + d];
                sc[j] = dot / sqrt((double)hd);
                mx = fmax(mx, sc[j]);
            }
            for (int j = 0; j < S; j++) sum += sc[j] = exp(sc[j] - mx);
            for (int j = 0; j < S; j++)
                for (int d = 0; d < hd; d++)
                    o[i * D + hh * hd + d] += sc[j] / sum * qkv[j * 3 * D + 2 * D + hh * hd + d];
        }
    ref_linear(o, S, D, ref_block_w(r, lv, layer, "self_attn.o_proj"), D, a);
    for (int i = 0; i < S * D; i++) h[i] += a[i];
    ref_rmsnorm(h, S, D, r->c->rms_norm_eps);
    ref_linear(h, S, D, ref_block_w(r, lv, layer, "mlp.gate_up_proj"), 2 * I, gu);
    for (int s = 0; s < S; s++)
        for (int k = 0; k < I; k++) {
            double g = gu[s * 2 * I + k], u = gu[s * 2 * I + I + k];
            mid[s * I + k] = g / (1 + exp(-g)) * u;
        }
    ref_linear(mid, S, I, ref_block_w(r, lv, layer, "mlp.down_proj"), D, a);
    for (int i = 0; i < S * D; i++) h[i] += a[i];
    ref_rmsnorm(h, S, D, r->c->rms_norm_eps);
    free(qkv), free(o), free(a), free(gu), free(mid), free(sc);
}

/* z <- Level(z, a + b) */
static void ref_level(const ref_model *r, char lv, int layers, double *z, const double *a, const double *b) {
    for (int i = 0; i < r->S * r->D; i++) z[i] += a[i] + (b ? b[i] : 0);
    for (int l = 0; l < layers; l++) ref_block(r, lv, l, z);
}

/* One slot's segment from carry (zH, zL [S, D], updated): logits [seq_len, V], q [2]. */
static void ref_segment(const ref_model *r, const int32_t *tokens, int pid, double *zH, double *zL, double *logits,
                        double *q) {
    const hrm_config *c = r->c;
    int S = r->S, D = r->D, w = c->puzzle_emb_ndim;
    double *x = calloc((size_t)S * D, sizeof(double));
    for (int i = 0; i < w; i++) x[i] = ref_w(r, "model.inner.puzzle_emb.weights")[pid * w + i];
    for (int t = 0; t < c->seq_len; t++)
        for (int d = 0; d < D; d++)
            x[(r->P + t) * D + d] = ref_w(r, "model.inner.embed_tokens.embedding_weight")[tokens[t] * D + d];
    for (int i = 0; i < S * D; i++) {
        if (c->pos_encodings == HRM_POS_LEARNED)
            x[i] = 0.707106781 * (x[i] + ref_w(r, "model.inner.embed_pos.embedding_weight")[i]);
        x[i] *= sqrt((double)D);
    }
    for (int n = 0; n < c->H_cycles; n++) {
        for (int t = 0; t < c->L_cycles; t++) ref_level(r, 'L', c->L_layers, zL, zH, x);
        ref_level(r, 'H', c->H_layers, zH, zL, NULL);
    }
    ref_linear(zH + r->P * D, c->seq_len, D, ref_w(r, "model.inner.lm_head.weight"), c->vocab_size, logits);
    int rounding = ref_round_bf16;
    ref_round_bf16 = 0; /* the Q head's products stay fp32 at every precision */
    ref_linear(zH, 1, D, ref_w(r, "model.inner.q_head.weight"), 2, q);
    ref_round_bf16 = rounding;
    for (int k = 0; k < 2; k++) q[k] += ref_w(r, "model.inner.q_head.bias")[k];
    free(x);
}

/* One segment of the fixture's batch from its initial carry, and what the checks read back: the
 * logits [BATCH, SEQ, VOCAB], the new carry (zH then zL, carry_n each), the tokens, and the naive
 * reference over the same parameters. */
typedef struct forward_out {
    float *logits, *carry;
    int32_t tokens[BATCH * SEQ];
    ref_model r;
} forward_out;

static void forward_run(fixture *f, hrm_forward_mode mode, float *q_halt, float *q_continue, forward_out *o) {
    CK(f->m, hrm_model_set_params(f->m, f->params, hrm_model_params_table(f->m)->total));
    reset_carry(f, f->carry0);
    size_t nlog = (size_t)BATCH * SEQ * VOCAB;
    o->logits = malloc(nlog * sizeof(float));
    o->carry = malloc(2 * f->carry_n * sizeof(float));
    CK(f->m, hrm_model_forward(f->m, mode, BATCH, f->tokens, f->puzzle_ids, f->carry, f->carry, q_halt, q_continue));
    download(f, hrm_model_logits(f->m), o->logits, nlog);
    download(f, f->carry.zH, o->carry, f->carry_n);
    download(f, f->carry.zL, o->carry + f->carry_n, f->carry_n);
    download(f, f->tokens, o->tokens, BATCH * SEQ);
    o->r = (ref_model){&f->cfg,
                       hrm_model_params_table(f->m),
                       f->params,
                       f->D,
                       f->cfg.num_heads,
                       f->D / f->cfg.num_heads,
                       hrm_config_intermediate(&f->cfg),
                       hrm_config_prefix(&f->cfg),
                       f->S};
}

static void forward_check(hrm_config cfg) {
    fixture f;
    fixture_open(&f, cfg, 81);
    float q_halt[BATCH], q_continue[BATCH];
    forward_out o;
    forward_run(&f, HRM_FORWARD_TRAIN, q_halt, q_continue, &o);
    float *logits = o.logits, *carry = o.carry;
    const int32_t *tokens = o.tokens;
    ref_model r = o.r;
    size_t SD = (size_t)f.S * f.D;
    double *zH = malloc(SD * sizeof(double)), *zL = malloc(SD * sizeof(double)), lg[SEQ * VOCAB], q[2];
    for (int b = 0; b < BATCH; b++) {
        for (size_t i = 0; i < SD; i++) zH[i] = f.carry0[b * SD + i], zL[i] = f.carry0[f.carry_n + b * SD + i];
        ref_segment(&r, tokens + b * SEQ, f.pid[b], zH, zL, lg, q);
        for (int i = 0; i < SEQ * VOCAB; i++) ck_assert_double_eq_tol(logits[b * SEQ * VOCAB + i], lg[i], 1e-3);
        ck_assert_double_eq_tol(q_halt[b], q[0], 1e-3);
        ck_assert_double_eq_tol(q_continue[b], q[1], 1e-3);
        for (size_t i = 0; i < SD; i++) {
            ck_assert_double_eq_tol(carry[b * SD + i], zH[i], 1e-3);
            ck_assert_double_eq_tol(carry[f.carry_n + b * SD + i], zL[i], 1e-3);
        }
    }
    free(logits), free(carry), free(zH), free(zL);
    fixture_close(&f);
}

/* matmul_precision=medium on the CPU backend's emulation (HRM_CPU_PRECISION=emulate: operands
 * rounded, products in fp32): every block linear and the LM head take bf16 operands, the Q head
 * fp32. The carry after a segment (which no head touches) and the logits must follow the
 * reference that rounds every linear's operands and stand clearly apart from the unrounded one:
 * a model that rounded only some products (the LM head, say) or none fails. */
START_TEST(test_forward_medium_rounds_every_linear) {
    setenv("HRM_CPU_PRECISION", "emulate", 1);
    fixture f;
    fixture_open(&f, tiny_config(16, HRM_POS_ROPE, 2, 2), 81);
    unsetenv("HRM_CPU_PRECISION");
    ck_assert_int_eq(hrm_model_set_matmul_precision(f.m, HRM_PRECISION_MEDIUM), HRM_PRECISION_MEDIUM);
    forward_out o;
    forward_run(&f, HRM_FORWARD_EVAL, NULL, NULL, &o);
    float *logits = o.logits, *carry = o.carry;
    const int32_t *tokens = o.tokens;
    ref_model r = o.r;
    size_t SD = (size_t)f.S * f.D;
    double *zH = malloc(SD * sizeof(double)), *zL = malloc(SD * sizeof(double)), lg[SEQ * VOCAB], q[2];
    double err[2][2] = {{0}}; /* [unrounded, rounded reference][carry, logits] */
    for (int rounded = 0; rounded < 2; rounded++) {
        ref_round_bf16 = rounded;
        for (int b = 0; b < BATCH; b++) {
            for (size_t i = 0; i < SD; i++) zH[i] = f.carry0[b * SD + i], zL[i] = f.carry0[f.carry_n + b * SD + i];
            ref_segment(&r, tokens + b * SEQ, f.pid[b], zH, zL, lg, q);
            for (size_t i = 0; i < SD; i++) {
                err[rounded][0] = fmax(err[rounded][0], fabs(carry[b * SD + i] - zH[i]));
                err[rounded][0] = fmax(err[rounded][0], fabs(carry[f.carry_n + b * SD + i] - zL[i]));
            }
            for (int i = 0; i < SEQ * VOCAB; i++)
                err[rounded][1] = fmax(err[rounded][1], fabs(logits[b * SEQ * VOCAB + i] - lg[i]));
        }
    }
    ref_round_bf16 = 0;
    for (int k = 0; k < 2; k++) {
        const char *what = k ? "logits" : "carry";
        fprintf(stderr, "medium forward, %s: %.3g from the bf16-operand reference, %.3g from the unrounded one\n", what,
                err[1][k], err[0][k]);
        ck_assert_msg(err[1][k] < 1e-3, "%s: %.3g from the bf16-operand reference", what, err[1][k]);
        ck_assert_msg(err[0][k] > 20 * err[1][k],
                      "%s: %.3g from the unrounded reference, %.3g from the rounded one: not every product was rounded",
                      what, err[0][k], err[1][k]);
    }
    free(logits), free(carry), free(zH), free(zL);
    fixture_close(&f);
}
END_TEST

START_TEST(test_forward_rope) { forward_check(tiny_config(16, HRM_POS_ROPE, 2, 2)); }
END_TEST
START_TEST(test_forward_learned_two_prefix_rows) { forward_check(tiny_config(24, HRM_POS_LEARNED, 2, 3)); }
END_TEST

/* ---- 2. gradient check ---------------------------------------------------------------------- */

/* |a - b| within rel of the larger magnitude, plus a floor for the float noise of the forward. */
static int close_enough(double a, double b, double rel, double floor) {
    return fabs(a - b) <= rel * fmax(fabs(a), fabs(b)) + floor;
}

static double rms(const float *x, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return n ? sqrt(s / n) : 0;
}

/* Analytic directional derivative of one tensor along dir: grads are in the flat layout, except
 * the puzzle embedding, whose gradient is per slot (summed over the slots of each id). */
static double analytic_along(const fixture *f, const hrm_param *p, const float *grads, const float *puzzle_rows,
                             const float *dir) {
    double s = 0;
    if (p->role == HRM_PARAM_PUZZLE) {
        int w = f->cfg.puzzle_emb_ndim;
        for (int b = 0; b < BATCH; b++)
            for (int j = 0; j < w; j++) s += (double)puzzle_rows[b * w + j] * dir[f->pid[b] * w + j];
        return s;
    }
    for (int64_t j = 0; j < p->numel; j++) s += (double)grads[p->offset + j] * dir[j];
    return s;
}

/* Central difference of eval_loss along dir (the tensor's own scale, so h is relative). */
static double numeric_along(fixture *f, const hrm_param *p, const float *dir, double h, hrm_loss_kind kind) {
    float *x = malloc((size_t)hrm_model_params_table(f->m)->total * sizeof *x);
    int64_t total = hrm_model_params_table(f->m)->total;
    double l[2];
    for (int s = 0; s < 2; s++) {
        memcpy(x, f->params, (size_t)total * sizeof *x);
        for (int64_t j = 0; j < p->numel; j++) x[p->offset + j] += (float)((s ? -h : h) * dir[j]);
        l[s] = eval_loss(f, f->m, x, kind);
    }
    free(x);
    return (l[0] - l[1]) / (2 * h);
}

/* Every trainable tensor along a random direction, then a few single coordinates. */
static void gradient_check(hrm_config cfg, hrm_loss_kind kind, uint64_t seed) {
    fixture f;
    fixture_open(&f, cfg, seed);
    const hrm_param_table *t = hrm_model_params_table(f.m);
    float *grads = malloc((size_t)t->adam_total * sizeof *grads);
    float *rows = malloc((size_t)BATCH * (cfg.puzzle_emb_ndim + 1) * sizeof *rows);
    train_grads(&f, f.m, f.carry0, kind, grads, cfg.puzzle_emb_ndim ? rows : NULL);
    hrm_rng r;
    hrm_rng_seed(&r, seed + 100);
    /* The central difference's O(h^2) error dominates above h ~ 1e-2 (attention weights of the
     * first L block: 2.4% at 1e-2, 0.16% at 2.5e-3); float noise dominates below ~1e-3. TRM's
     * differentiated chain is n + 1 calls deep and curves more: its first qkv weight is off by
     * 2.8% at 2.5e-3 (n 3), within 2% at 1e-3, and float noise passes 2% at 2.5e-4. The MLP form's
     * single coordinates of mlp_t.gate_up_proj move the loss little: float noise passes the bound
     * below 1e-3 (fd -0.0018 and -0.0036 at 5e-4 and 2.5e-4 against -0.00244); 2e-3 is clean. */
    const double h = cfg.mlp_t ? 2e-3 : cfg.arch == HRM_ARCH_TRM ? 1e-3 : 2.5e-3;
    for (int i = 0; i < t->count; i++) {
        const hrm_param *p = &t->params[i];
        if (p->role == HRM_PARAM_FIXED) continue;
        float *dir = malloc((size_t)p->numel * sizeof *dir);
        double scale = rms(f.params + p->offset, p->numel);
        for (int64_t j = 0; j < p->numel; j++) dir[j] = (float)(scale * normal(&r));
        double an = analytic_along(&f, p, grads, rows, dir), fd = numeric_along(&f, p, dir, h, kind);
        ck_assert_msg(close_enough(an, fd, 2e-2, 1e-4), "%s: analytic %.6g, finite difference %.6g", p->name, an, fd);
        free(dir);
    }
    /* single coordinates: the Q bias, a token row in use, the lm head, the first L block */
    const char *names[] = {"model.inner.q_head.bias", "model.inner.embed_tokens.embedding_weight",
                           "model.inner.lm_head.weight",
                           cfg.mlp_t ? "model.inner.L_level.layers.0.mlp_t.gate_up_proj.weight"
                                     : "model.inner.L_level.layers.0.self_attn.qkv_proj.weight"};
    for (int k = 0; k < 4; k++) {
        const hrm_param *p = hrm_params_find(t, names[k]);
        ck_assert_msg(p != NULL, "no tensor %s", names[k]);
        float *dir = calloc((size_t)p->numel, sizeof *dir);
        for (int rep = 0; rep < 2; rep++) {
            int64_t j = hrm_rng_below(&r, p->numel);
            dir[j] = 1;
            double fd = numeric_along(&f, p, dir, h, kind);
            ck_assert_msg(close_enough(grads[p->offset + j], fd, 2e-2, 2e-4), "%s[%lld]: analytic %.6g, fd %.6g",
                          p->name, (long long)j, grads[p->offset + j], fd);
            dir[j] = 0;
        }
        free(dir);
    }
    free(grads);
    free(rows);
    fixture_close(&f);
}

START_TEST(test_grad_rope_full_puzzle) { gradient_check(tiny_config(16, HRM_POS_ROPE, 1, 1), HRM_LOSS_SOFTMAX, 11); }
END_TEST
START_TEST(test_grad_learned_narrow_puzzle) {
    gradient_check(tiny_config(8, HRM_POS_LEARNED, 1, 1), HRM_LOSS_STABLEMAX, 12);
}
END_TEST
START_TEST(test_grad_two_prefix_rows) { gradient_check(tiny_config(24, HRM_POS_ROPE, 1, 1), HRM_LOSS_STABLEMAX, 13); }
END_TEST
START_TEST(test_grad_no_puzzle) { gradient_check(tiny_config(0, HRM_POS_LEARNED, 1, 1), HRM_LOSS_SOFTMAX, 14); }
END_TEST
/* TRM with T = 1: the whole step is differentiated (n z updates and the y update; x gets the
 * gradient of every z update), so the backward is the full gradient. */
START_TEST(test_grad_trm_rope) { gradient_check(trm_config(16, HRM_POS_ROPE, 1, 3, 3), HRM_LOSS_STABLEMAX, 15); }
END_TEST
START_TEST(test_grad_trm_learned) { gradient_check(trm_config(24, HRM_POS_LEARNED, 1, 2, 0), HRM_LOSS_SOFTMAX, 16); }
END_TEST
START_TEST(test_grad_trm_no_pos) { gradient_check(trm_config(8, HRM_POS_NONE, 1, 1, 2), HRM_LOSS_STABLEMAX, 17); }
END_TEST
/* The MLP form: the token SwiGLU across the sequence and the norm over it (docs/TRM.md "MLP form"). */
static hrm_config trm_mlp_config(int puzzle_emb_ndim, int T, int n, int P) {
    hrm_config c = trm_config(puzzle_emb_ndim, HRM_POS_NONE, T, n, P);
    c.mlp_t = 1;
    return c;
}
START_TEST(test_grad_trm_mlp) { gradient_check(trm_mlp_config(16, 1, 2, 3), HRM_LOSS_STABLEMAX, 18); }
END_TEST
START_TEST(test_grad_trm_mlp_softmax) { gradient_check(trm_mlp_config(24, 1, 1, 0), HRM_LOSS_SOFTMAX, 19); }
END_TEST

/* For N x T > 1 the one-step gradient is that of the last L and H updates alone: it must equal
 * the gradient of a 1 x 1 model (same weights) run from the carry that the N x T model's
 * no-gradient part produces. The outputs and new carries must match too. */
static void prefix_check(hrm_config full, hrm_config one) {
    int ndim = full.puzzle_emb_ndim;
    fixture f;
    fixture_open(&f, full, 21);
    hrm_model *m1;
    char err[512];
    ck_assert_msg(hrm_model_create(&f.ctx, &one, BATCH, &m1, err, sizeof err) == HRM_OK, "%s", err);
    const hrm_param_table *t = hrm_model_params_table(f.m);
    int64_t na = t->adam_total;
    size_t nrows = (size_t)BATCH * (ndim ? ndim : 1), nlog = (size_t)BATCH * SEQ * VOCAB;
    float *g_nt = malloc(na * sizeof(float)), *g_11 = malloc(na * sizeof(float));
    float *r_nt = malloc(nrows * sizeof(float)), *r_11 = malloc(nrows * sizeof(float));
    float *log_nt = malloc(nlog * sizeof(float)), *log_11 = malloc(nlog * sizeof(float));
    float *c_nt = malloc(2 * f.carry_n * sizeof(float)), *c_mid = malloc(2 * f.carry_n * sizeof(float));
    float *c_11 = malloc(2 * f.carry_n * sizeof(float));

    train_grads(&f, f.m, f.carry0, HRM_LOSS_STABLEMAX, g_nt, ndim ? r_nt : NULL);
    download(&f, hrm_model_logits(f.m), log_nt, nlog);
    download(&f, f.carry.zH, c_nt, f.carry_n);
    download(&f, f.carry.zL, c_nt + f.carry_n, f.carry_n);

    reset_carry(&f, f.carry0);
    CK(f.m, hrm_model_forward_prefix(f.m, BATCH, f.tokens, f.puzzle_ids, f.carry, f.carry));
    download(&f, f.carry.zH, c_mid, f.carry_n);
    download(&f, f.carry.zL, c_mid + f.carry_n, f.carry_n);
    ck_assert(memcmp(c_mid, f.carry0, 2 * f.carry_n * sizeof(float)) != 0); /* the prefix did run */
    train_grads(&f, m1, c_mid, HRM_LOSS_STABLEMAX, g_11, ndim ? r_11 : NULL);
    download(&f, hrm_model_logits(m1), log_11, nlog);
    download(&f, f.carry.zH, c_11, f.carry_n);
    download(&f, f.carry.zL, c_11 + f.carry_n, f.carry_n);

    for (size_t i = 0; i < 2 * f.carry_n; i++) ck_assert_float_eq_tol(c_nt[i], c_11[i], 1e-5f);
    for (size_t i = 0; i < nlog; i++) ck_assert_float_eq_tol(log_nt[i], log_11[i], 1e-5f);
    double scale = rms(g_nt, na);
    ck_assert(scale > 0);
    for (int64_t i = 0; i < na; i++)
        ck_assert_msg(fabs(g_nt[i] - g_11[i]) <= 1e-5 * scale + 1e-5 * fabs(g_nt[i]), "grad[%lld]: %g vs %g",
                      (long long)i, g_nt[i], g_11[i]);
    for (size_t i = 0; ndim && i < nrows; i++) ck_assert_float_eq_tol(r_nt[i], r_11[i], 1e-5f * (float)scale);

    /* the saving forward and the in-place one compute the same carry */
    reset_carry(&f, f.carry0);
    CK(f.m, hrm_model_forward(f.m, HRM_FORWARD_EVAL, BATCH, f.tokens, f.puzzle_ids, f.carry, f.carry, NULL, NULL));
    download(&f, f.carry.zH, c_11, f.carry_n);
    download(&f, f.carry.zL, c_11 + f.carry_n, f.carry_n);
    for (size_t i = 0; i < 2 * f.carry_n; i++) ck_assert_float_eq_tol(c_nt[i], c_11[i], 1e-5f);

    hrm_model_free(m1);
    free(g_nt), free(g_11), free(r_nt), free(r_11), free(log_nt), free(log_11), free(c_nt), free(c_mid), free(c_11);
    fixture_close(&f);
}

static void one_step_check(int N, int T, hrm_pos_encoding pos, int ndim) {
    prefix_check(tiny_config(ndim, pos, N, T), tiny_config(ndim, pos, 1, 1));
}

/* TRM: the gradient of a T-cycle step is that of its last cycle alone, a 1-cycle step from the
 * carry the first T - 1 cycles reach (docs/TRM.md "One supervision step"). */
static void trm_prefix_check(int T, int n, hrm_pos_encoding pos, int ndim, int P) {
    prefix_check(trm_config(ndim, pos, T, n, P), trm_config(ndim, pos, 1, n, P));
}

START_TEST(test_trm_last_cycle_3x2_rope) { trm_prefix_check(3, 2, HRM_POS_ROPE, 16, 3); }
END_TEST
START_TEST(test_trm_last_cycle_2x3_learned) { trm_prefix_check(2, 3, HRM_POS_LEARNED, 24, 0); }
END_TEST
START_TEST(test_trm_last_cycle_mlp) { prefix_check(trm_mlp_config(16, 3, 2, 2), trm_mlp_config(16, 1, 2, 2)); }
END_TEST

START_TEST(test_one_step_2x3_rope) { one_step_check(2, 3, HRM_POS_ROPE, 8); }
END_TEST
START_TEST(test_one_step_3x1_learned) { one_step_check(3, 1, HRM_POS_LEARNED, 24); }
END_TEST
START_TEST(test_one_step_1x4_rope) { one_step_check(1, 4, HRM_POS_ROPE, 16); }
END_TEST

/* A Q_ONLY forward between a TRAIN forward and its backward (the ACT target-Q pass) changes
 * neither the gradients nor the logits, and leaves the carry it was given alone. */
START_TEST(test_q_only_keeps_saves) {
    fixture f;
    fixture_open(&f, tiny_config(16, HRM_POS_ROPE, 2, 2), 31);
    int64_t na = hrm_model_params_table(f.m)->adam_total;
    float *g_ref = malloc(na * sizeof(float)), *g = malloc(na * sizeof(float));
    float *c0 = malloc(2 * f.carry_n * sizeof(float)), *c1 = malloc(2 * f.carry_n * sizeof(float));
    train_grads(&f, f.m, f.carry0, HRM_LOSS_SOFTMAX, g_ref, NULL);

    float q_halt[BATCH], q_continue[BATCH], d_q[2 * BATCH], qn_halt[BATCH], qn_continue[BATCH];
    reset_carry(&f, f.carry0);
    CK(f.m, hrm_model_zero_grads(f.m));
    CK(f.m,
       hrm_model_forward(f.m, HRM_FORWARD_TRAIN, BATCH, f.tokens, f.puzzle_ids, f.carry, f.carry, q_halt, q_continue));
    download(&f, f.carry.zH, c0, f.carry_n);
    download(&f, f.carry.zL, c0 + f.carry_n, f.carry_n);
    CK(f.m, hrm_model_forward(f.m, HRM_FORWARD_Q_ONLY, BATCH, f.tokens, f.puzzle_ids, f.carry, (hrm_carry){0}, qn_halt,
                              qn_continue));
    download(&f, f.carry.zH, c1, f.carry_n);
    download(&f, f.carry.zL, c1 + f.carry_n, f.carry_n);
    ck_assert(memcmp(c0, c1, 2 * f.carry_n * sizeof(float)) == 0);
    ck_assert(qn_halt[0] != q_halt[0]); /* it did run, from the new carry */
    CK(f.m, hrm_model_lm_loss_backward(f.m, f.labels, HRM_LOSS_SOFTMAX, 0, 1.0f));
    hrm_q_loss(BATCH, q_halt, q_continue, f.target_halt, f.target_continue, 1, NULL, NULL, d_q);
    CK(f.m, hrm_model_backward(f.m, d_q));
    download(&f, hrm_model_grads(f.m), g, (size_t)na);
    ck_assert(memcmp(g, g_ref, na * sizeof(float)) == 0);
    free(g_ref), free(g), free(c0), free(c1);
    fixture_close(&f);
}
END_TEST

/* Sampled inference's noise (hrm_model_set_noise): sigma 0 changes nothing; sigma > 0 changes an
 * EVAL forward, reproducibly from its seed, and never a TRAIN forward; for HRM and TRM. */
static void noise_check(hrm_config cfg) {
    fixture f;
    fixture_open(&f, cfg, 91);
    CK(f.m, hrm_model_set_params(f.m, f.params, hrm_model_params_table(f.m)->total));
    size_t n = 2 * f.carry_n;
    float *c[4];
    for (int i = 0; i < 4; i++) ck_assert((c[i] = malloc(n * sizeof(float))) != NULL);
    const float sigmas[4] = {0, 0.5f, 0.5f, 0.5f};
    const uint64_t seeds[4] = {1, 7, 7, 8};
    float q_plain[BATCH], q[BATCH];
    reset_carry(&f, f.carry0);
    CK(f.m, hrm_model_forward(f.m, HRM_FORWARD_EVAL, BATCH, f.tokens, f.puzzle_ids, f.carry, f.carry, q_plain, NULL));
    float *plain = malloc(n * sizeof(float));
    download(&f, f.carry.zH, plain, f.carry_n);
    download(&f, f.carry.zL, plain + f.carry_n, f.carry_n);
    for (int i = 0; i < 4; i++) {
        CK(f.m, hrm_model_set_noise(f.m, sigmas[i], seeds[i]));
        reset_carry(&f, f.carry0);
        CK(f.m, hrm_model_forward(f.m, HRM_FORWARD_EVAL, BATCH, f.tokens, f.puzzle_ids, f.carry, f.carry, q, NULL));
        download(&f, f.carry.zH, c[i], f.carry_n);
        download(&f, f.carry.zL, c[i] + f.carry_n, f.carry_n);
    }
    ck_assert_msg(!memcmp(c[0], plain, n * sizeof(float)), "sigma 0 changed the forward");
    ck_assert_msg(memcmp(c[1], plain, n * sizeof(float)), "sigma 0.5 changed nothing");
    ck_assert_msg(!memcmp(c[1], c[2], n * sizeof(float)), "the same seed drew different noise");
    ck_assert_msg(memcmp(c[1], c[3], n * sizeof(float)), "another seed drew the same noise");
    /* a TRAIN forward ignores the setting */
    reset_carry(&f, f.carry0);
    CK(f.m, hrm_model_forward(f.m, HRM_FORWARD_TRAIN, BATCH, f.tokens, f.puzzle_ids, f.carry, f.carry, q, NULL));
    download(&f, f.carry.zH, c[0], f.carry_n);
    download(&f, f.carry.zL, c[0] + f.carry_n, f.carry_n);
    ck_assert_msg(!memcmp(c[0], plain, n * sizeof(float)), "a TRAIN forward took noise");
    ck_assert_int_eq(hrm_model_set_noise(f.m, -1, 0), HRM_ERR_INVALID_ARG);
    for (int i = 0; i < 4; i++) free(c[i]);
    free(plain);
    fixture_close(&f);
}

START_TEST(test_noise_hrm) { noise_check(tiny_config(16, HRM_POS_ROPE, 2, 2)); }
END_TEST
START_TEST(test_noise_trm) { noise_check(trm_config(16, HRM_POS_ROPE, 2, 2, 2)); }
END_TEST
START_TEST(test_noise_trm_mlp) { noise_check(trm_mlp_config(16, 2, 2, 2)); }
END_TEST

/* reset_slots writes H_init / L_init into the chosen slots only. */
START_TEST(test_reset_slots) {
    fixture f;
    fixture_open(&f, tiny_config(16, HRM_POS_ROPE, 1, 1), 41);
    CK(f.m, hrm_model_set_params(f.m, f.params, hrm_model_params_table(f.m)->total));
    reset_carry(&f, f.carry0);
    const uint8_t reset[BATCH] = {1, 0, 1};
    CK(f.m, hrm_model_reset_slots(f.m, BATCH, f.carry, reset));
    float *c = malloc(2 * f.carry_n * sizeof(float));
    download(&f, f.carry.zH, c, f.carry_n);
    download(&f, f.carry.zL, c + f.carry_n, f.carry_n);
    const hrm_param_table *t = hrm_model_params_table(f.m);
    const float *init[2] = {f.params + hrm_params_find(t, "model.inner.H_init")->offset,
                            f.params + hrm_params_find(t, "model.inner.L_init")->offset};
    for (int z = 0; z < 2; z++)
        for (int b = 0; b < BATCH; b++)
            for (int s = 0; s < f.S; s++)
                for (int d = 0; d < f.D; d++) {
                    size_t i = z * f.carry_n + ((size_t)b * f.S + s) * f.D + d;
                    ck_assert_float_eq(c[i], reset[b] ? init[z][d] : f.carry0[i]);
                }
    free(c);
    fixture_close(&f);
}
END_TEST

/* ---- 3. memory -------------------------------------------------------------------------------- */

/* Peak device bytes of model creation plus one training step of a model. */
static uint64_t config_peak(hrm_config cfg, uint64_t *after_create) {
    fixture f;
    fixture_open(&f, cfg, 51);
    uint64_t cur, peak;
    ck_assert(f.ctx.f->memory_usage(f.ctx.dev, &cur, &peak) == HRM_OK);
    *after_create = peak;
    int64_t na = hrm_model_params_table(f.m)->adam_total;
    float *g = malloc(na * sizeof(float));
    train_grads(&f, f.m, f.carry0, HRM_LOSS_STABLEMAX, g, NULL);
    free(g);
    ck_assert(f.ctx.f->memory_usage(f.ctx.dev, &cur, &peak) == HRM_OK);
    fixture_close(&f);
    return peak;
}

/* ... at N x T cycles. */
static uint64_t step_peak(int N, int T, uint64_t *after_create) {
    return config_peak(tiny_config(16, HRM_POS_ROPE, N, T), after_create);
}

/* TRM keeps the n + 1 calls of the last cycle: memory does not depend on T and grows by the same
 * amount for each further z update (docs/TRM.md "Memory"). */
START_TEST(test_trm_memory) {
    uint64_t c[4], p[4];
    p[0] = config_peak(trm_config(16, HRM_POS_ROPE, 1, 2, 2), &c[0]);
    p[1] = config_peak(trm_config(16, HRM_POS_ROPE, 5, 2, 2), &c[1]);
    p[2] = config_peak(trm_config(16, HRM_POS_ROPE, 1, 3, 2), &c[2]);
    p[3] = config_peak(trm_config(16, HRM_POS_ROPE, 1, 4, 2), &c[3]);
    for (int i = 0; i < 4; i++) ck_assert_uint_eq(p[i], c[i]); /* a step allocates nothing */
    ck_assert_uint_eq(p[1], p[0]);
    ck_assert(p[2] > p[0]);
    ck_assert_uint_eq(p[3] - p[2], p[2] - p[0]);
}
END_TEST

START_TEST(test_memory_independent_of_cycles) {
    uint64_t created_2, created_8;
    uint64_t peak_2 = step_peak(2, 2, &created_2), peak_8 = step_peak(8, 8, &created_8);
    ck_assert_uint_eq(peak_2, created_2); /* a step allocates nothing */
    ck_assert_uint_eq(peak_8, peak_2);
}
END_TEST

/* ---- 4. bad input ------------------------------------------------------------------------------ */

START_TEST(test_bad_input) {
    fixture f;
    fixture_open(&f, tiny_config(16, HRM_POS_ROPE, 1, 1), 61);
    hrm_model *m = f.m;
    hrm_status st =
        hrm_model_forward(m, HRM_FORWARD_EVAL, BATCH + 1, f.tokens, f.puzzle_ids, f.carry, f.carry, NULL, NULL);
    ck_assert_int_eq(st, HRM_ERR_INVALID_ARG);
    ck_assert_msg(strstr(hrm_model_error(m), "batch 4 outside [1, 3]"), "%s", hrm_model_error(m));

    ck_assert_int_eq(hrm_model_backward(m, NULL), HRM_ERR_INVALID_ARG);
    ck_assert_msg(strstr(hrm_model_error(m), "no TRAIN forward"), "%s", hrm_model_error(m));

    int32_t bad_tokens[BATCH * SEQ] = {0};
    bad_tokens[7] = VOCAB;
    upload(&f, f.tokens, bad_tokens, BATCH * SEQ);
    st = hrm_model_forward(m, HRM_FORWARD_TRAIN, BATCH, f.tokens, f.puzzle_ids, f.carry, f.carry, NULL, NULL);
    ck_assert_int_eq(st, HRM_ERR_INVALID_ARG);
    ck_assert_msg(strstr(hrm_model_error(m), "embedding_forward") && strstr(hrm_model_error(m), "tokens[7] = 6"), "%s",
                  hrm_model_error(m));
    ck_assert_int_eq(hrm_model_backward(m, NULL), HRM_ERR_INVALID_ARG); /* the failed forward saved nothing */

    ck_assert_int_eq(hrm_model_set_params(m, f.params, 5), HRM_ERR_INVALID_ARG);
    ck_assert_msg(strstr(hrm_model_error(m), "5 floats given"), "%s", hrm_model_error(m));

    hrm_config bad = tiny_config(16, HRM_POS_ROPE, 1, 1);
    bad.hidden_size = 15;
    hrm_model *none = m; /* must come back NULL */
    char err[512];
    ck_assert_int_eq(hrm_model_create(&f.ctx, &bad, BATCH, &none, err, sizeof err), HRM_ERR_INVALID_ARG);
    ck_assert_ptr_null(none);
    ck_assert_msg(strstr(err, "bad config") && strstr(err, "not a multiple of num_heads"), "%s", err);
    bad = tiny_config(16, HRM_POS_ROPE, 1, 1);
    ck_assert_int_eq(hrm_model_create(&f.ctx, &bad, 0, &none, err, sizeof err), HRM_ERR_INVALID_ARG);
    ck_assert_msg(strstr(err, "max batch 0"), "%s", err);
    fixture_close(&f);
}
END_TEST

static Suite *model_suite(void) {
    Suite *s = suite_create("model");
    TCase *init = tcase_create("init");
    tcase_add_test(init, test_trunc_normal_stats);
    tcase_add_test(init, test_init_params);
    tcase_add_test(init, test_model_init_params);
    suite_add_tcase(s, init);
    TCase *fwd = tcase_create("forward");
    tcase_set_timeout(fwd, 120);
    tcase_add_test(fwd, test_forward_rope);
    tcase_add_test(fwd, test_forward_medium_rounds_every_linear);
    tcase_add_test(fwd, test_forward_learned_two_prefix_rows);
    suite_add_tcase(s, fwd);
    TCase *grad = tcase_create("gradients");
    tcase_set_timeout(grad, 300);
    tcase_add_test(grad, test_grad_rope_full_puzzle);
    tcase_add_test(grad, test_grad_learned_narrow_puzzle);
    tcase_add_test(grad, test_grad_two_prefix_rows);
    tcase_add_test(grad, test_grad_no_puzzle);
    tcase_add_test(grad, test_grad_trm_rope);
    tcase_add_test(grad, test_grad_trm_learned);
    tcase_add_test(grad, test_grad_trm_no_pos);
    tcase_add_test(grad, test_grad_trm_mlp);
    tcase_add_test(grad, test_grad_trm_mlp_softmax);
    tcase_add_test(grad, test_trm_last_cycle_mlp);
    tcase_add_test(grad, test_trm_last_cycle_3x2_rope);
    tcase_add_test(grad, test_trm_last_cycle_2x3_learned);
    tcase_add_test(grad, test_one_step_2x3_rope);
    tcase_add_test(grad, test_one_step_3x1_learned);
    tcase_add_test(grad, test_one_step_1x4_rope);
    tcase_add_test(grad, test_q_only_keeps_saves);
    tcase_add_test(grad, test_reset_slots);
    tcase_add_test(grad, test_noise_hrm);
    tcase_add_test(grad, test_noise_trm);
    tcase_add_test(grad, test_noise_trm_mlp);
    suite_add_tcase(s, grad);
    TCase *res = tcase_create("resources");
    tcase_set_timeout(res, 120);
    tcase_add_test(res, test_memory_independent_of_cycles);
    tcase_add_test(res, test_trm_memory);
    tcase_add_test(res, test_bad_input);
    suite_add_tcase(s, res);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(model_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
