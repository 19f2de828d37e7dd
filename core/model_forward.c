/* core/model_forward.c - one segment forward: input embedding, the N x T schedule of L and H
 * updates (HRM_SPEC.md "Forward pass of one segment"), and the LM and Q heads.
 *
 * Two ways to run an update. No-save: the level runs in place on the carry and every block writes
 * the same scratch activations, so any number of cycles costs no memory. Save: the level keeps its
 * input, every block's output and what each block's backward needs (level.hidden, level.saved);
 * only the last L update and the last H update run this way, as the one-step gradient needs
 * nothing else. R = B*S rows throughout. */
#include <math.h>

#include "model_internal.h"

/* ---- argument sets the backward shares ------------------------------------------------------- */

hrm_embedding_args embedding_args(const hrm_model *m, int B, hrm_ptr tokens, hrm_ptr puzzle_ids) {
    return (hrm_embedding_args){
        .batch = B, .seq_len = m->seq_len, .prefix = m->P, .dim = m->D, .vocab = m->V,
        .num_puzzle_ids = m->cfg.num_puzzle_identifiers, .puzzle_width = m->P > 0 ? m->cfg.puzzle_emb_ndim : 0,
        .scale = m->embed_scale, .tokens = tokens, .puzzle_ids = puzzle_ids, .token_table = param_at(m, m->off_embed),
        .puzzle_table = m->P > 0 ? param_at(m, m->off_puzzle) : (hrm_ptr){0},
        .pos = m->off_pos >= 0 ? param_at(m, m->off_pos) : (hrm_ptr){0}};
}

/* q, k, v are the three thirds of each packed qkv row [3D]. */
hrm_attention_args attention_args(const hrm_model *m, int B, const block_acts *s) {
    return (hrm_attention_args){.batch = B, .seq = m->S, .heads = m->heads, .head_dim = m->head_dim,
                                .scale = 1.0f / sqrtf((float)m->head_dim), .q = s->qkv, .k = ptr_at(s->qkv, m->D),
                                .v = ptr_at(s->qkv, 2 * m->D), .qkv_row_stride = 3 * m->D, .o = s->o,
                                .o_row_stride = m->D, .lse = s->lse};
}

/* RoPE rotates the Q and K heads of a packed qkv [R, 3D] in place: 2*heads heads per row. */
hrm_rope_args rope_args(const hrm_model *m, int B, hrm_ptr qkv) {
    return (hrm_rope_args){.batch = B, .seq = m->S, .heads = 2 * m->heads, .head_dim = m->head_dim,
                           .row_stride = 3 * m->D, .x = qkv, .out = qkv, .cos = m->rope_cos, .sin = m->rope_sin};
}

/* ---- one block ------------------------------------------------------------------------------ */

/* y = rmsnorm(x + r), saving rstd. */
static hrm_status add_rmsnorm(hrm_model *m, int64_t rows, hrm_ptr x, hrm_ptr r, hrm_ptr y, hrm_ptr rstd) {
    hrm_rmsnorm_args a = {.rows = rows, .dim = m->D, .eps = (float)m->cfg.rms_norm_eps, .x = x, .r = r, .y = y,
                          .rstd = rstd};
    OP(m, "rmsnorm_forward", m->ctx->f->rmsnorm_forward(m->ctx->dev, &a));
    return HRM_OK;
}

/* Self-attention sub-layer up to the attention output s->o [R, D] (o_proj is the caller's). */
static hrm_status attention_forward(hrm_model *m, int B, const block_weights *w, const block_acts *s, hrm_ptr h) {
    int64_t R = (int64_t)B * m->S;
    TRY(linear_forward(m, s->qkv, h, w->qkv, R, m->D, 3 * m->D, 0));
    if (m->cfg.pos_encodings == HRM_POS_ROPE) {
        hrm_rope_args r = rope_args(m, B, s->qkv);
        OP(m, "rope_forward", m->ctx->f->rope_forward(m->ctx->dev, &r));
    }
    hrm_attention_args a = attention_args(m, B, s);
    OP(m, "attention_forward", m->ctx->f->attention_forward(m->ctx->dev, &a));
    return HRM_OK;
}

/* Post-norm block: h1 = rmsnorm(h + Attn(h)); out = rmsnorm(h1 + SwiGLU(h1)). out may equal h:
 * h is last read by the first rmsnorm. */
static hrm_status block_forward(hrm_model *m, int B, const block_weights *w, const block_acts *s, hrm_ptr h,
                                hrm_ptr out) {
    int64_t R = (int64_t)B * m->S;
    int D = m->D, I = m->I;
    TRY(attention_forward(m, B, w, s, h));
    TRY(linear_forward(m, m->scratch_a, s->o, w->o, R, D, D, 0));
    TRY(add_rmsnorm(m, R, h, m->scratch_a, s->h1, s->rstd1));
    TRY(linear_forward(m, s->gu, s->h1, w->gate_up, R, D, 2 * I, 0));
    hrm_swiglu_args sw = {.rows = R, .inter = I, .gu = s->gu, .out = m->scratch_m};
    OP(m, "swiglu_forward", m->ctx->f->swiglu_forward(m->ctx->dev, &sw));
    TRY(linear_forward(m, m->scratch_a, m->scratch_m, w->down, R, I, D, 0));
    return add_rmsnorm(m, R, s->h1, m->scratch_a, out, s->rstd2);
}

/* ---- levels and the schedule ---------------------------------------------------------------- */

/* out = Level(z, inj_a + inj_b) (inj_b optional). Saving, the level works in level->hidden and
 * copies its output to out at the end; otherwise it runs in place on out. out may equal z. */
static hrm_status level_forward(hrm_model *m, level *l, int B, hrm_ptr z, hrm_ptr inj_a, hrm_ptr inj_b, hrm_ptr out,
                                int save) {
    int64_t n = (int64_t)B * m->S * m->D;
    hrm_add_args in = {.n = n, .out = save ? l->hidden[0] : out, .a = z, .b = inj_a, .c = inj_b};
    OP(m, "input injection (add)", m->ctx->f->add(m->ctx->dev, &in));
    for (int i = 0; i < l->layers; i++) {
        if (save)
            TRY(block_forward(m, B, &l->w[i], &l->saved[i], l->hidden[i], l->hidden[i + 1]));
        else
            TRY(block_forward(m, B, &l->w[i], &m->scratch, out, out));
    }
    return save ? copy_floats(m, out, l->hidden[l->layers], (size_t)n) : HRM_OK;
}

typedef enum schedule_part {
    RUN_PREFIX,  /* every update but the last L and the last H */
    RUN_NO_SAVE, /* every update, nothing saved */
    RUN_TRAIN,   /* every update, the last L and the last H saved for the backward */
} schedule_part;

/* The N x T schedule from carry `in` to carry `out`. The current zH, zL are read from `in` until
 * an update first writes `out`. */
static hrm_status run_schedule(hrm_model *m, int B, hrm_carry in, hrm_carry out, schedule_part part) {
    const int N = m->cfg.H_cycles, T = m->cfg.L_cycles;
    hrm_ptr zH = in.zH, zL = in.zL;
    for (int n = 0; n < N; n++) {
        for (int t = 0; t < T; t++) {
            int last = n == N - 1 && t == T - 1;
            if (last && part == RUN_PREFIX) break;
            TRY(level_forward(m, &m->L_level, B, zL, zH, m->x, out.zL, last && part == RUN_TRAIN));
            zL = out.zL;
        }
        if (n == N - 1 && part == RUN_PREFIX) break;
        TRY(level_forward(m, &m->H_level, B, zH, zL, (hrm_ptr){0}, out.zH, n == N - 1 && part == RUN_TRAIN));
        zH = out.zH;
    }
    /* a short prefix may leave part of the carry untouched */
    size_t n = (size_t)B * m->S * m->D;
    if (!ptr_eq(zH, out.zH)) TRY(copy_floats(m, out.zH, zH, n));
    if (!ptr_eq(zL, out.zL)) TRY(copy_floats(m, out.zL, zL, n));
    return HRM_OK;
}

/* ---- embedding and heads ----------------------------------------------------------------- */

static hrm_status embed_forward(hrm_model *m, int B, hrm_ptr tokens, hrm_ptr puzzle_ids) {
    hrm_embedding_args a = embedding_args(m, B, tokens, puzzle_ids);
    a.out = m->x;
    OP(m, "embedding_forward", m->ctx->f->embedding_forward(m->ctx->dev, &a));
    return HRM_OK;
}

/* logits [B, seq_len, V] = zH[:, P:] Wlm^T: one strided-batched matmul over the slots, skipping
 * each slot's P prefix rows. */
static hrm_status lm_head_forward(hrm_model *m, int B, hrm_ptr zH) {
    hrm_matmul_args a = {.trans_b = 1, .m = m->seq_len, .n = m->V, .k = m->D, .alpha = 1, .beta = 0,
                         .a = ptr_at(zH, (int64_t)m->P * m->D), .lda = m->D, .stride_a = (int64_t)m->S * m->D,
                         .b = param_at(m, m->off_lm), .ldb = m->D, .c = m->logits, .ldc = m->V,
                         .stride_c = (int64_t)m->seq_len * m->V, .batch = B};
    OP(m, "lm_head (matmul)", hrm_ctx_matmul(m->ctx, &a, m->prec));
    return HRM_OK;
}

/* q [B, 2] = zH[:, 0] Wq^T + bq. The bias is broadcast by a k = 1 matmul with the ones vector so
 * that it stays on the device, where the optimizer updates it. */
static hrm_status q_head_forward(hrm_model *m, int B, hrm_ptr zH, float *q_halt, float *q_continue) {
    hrm_matmul_args bias = {.m = B, .n = 2, .k = 1, .alpha = 1, .beta = 0, .a = m->ones, .lda = 1,
                            .b = param_at(m, m->off_q_b), .ldb = 2, .c = m->q, .ldc = 2, .batch = 1};
    hrm_matmul_args head = {.trans_b = 1, .m = B, .n = 2, .k = m->D, .alpha = 1, .beta = 1, .a = zH,
                            .lda = (int64_t)m->S * m->D, .b = param_at(m, m->off_q_w), .ldb = m->D, .c = m->q,
                            .ldc = 2, .batch = 1};
    OP(m, "q_head bias (matmul)", m->ctx->f->matmul(m->ctx->dev, &bias));
    OP(m, "q_head (matmul)", m->ctx->f->matmul(m->ctx->dev, &head));
    if (!q_halt && !q_continue) return HRM_OK;
    OP(m, "reading q", m->ctx->f->buffer_read(m->q.buf, m->q.off * 4, m->q_host, (size_t)B * 2 * 4));
    for (int b = 0; b < B; b++) {
        if (q_halt) q_halt[b] = m->q_host[2 * b];
        if (q_continue) q_continue[b] = m->q_host[2 * b + 1];
    }
    return HRM_OK;
}

/* ---- entry points ------------------------------------------------------------------------------ */

static hrm_status check_carry(hrm_model *m, hrm_carry c, const char *what) {
    if (!c.zH.buf || !c.zL.buf) return model_failf(m, HRM_ERR_INVALID_ARG, "%s: carry tensor is NULL", what);
    if (ptr_eq(c.zH, c.zL)) return model_failf(m, HRM_ERR_INVALID_ARG, "%s: zH and zL are the same tensor", what);
    return HRM_OK;
}

hrm_status hrm_model_forward(hrm_model *m, hrm_forward_mode mode, int B, hrm_ptr tokens, hrm_ptr puzzle_ids,
                             hrm_carry in, hrm_carry out, float *q_halt, float *q_continue) {
    TRY(model_check_batch(m, B, "forward"));
    if (!out.zH.buf) out = (hrm_carry){m->spare_zH, m->spare_zL};
    TRY(check_carry(m, in, "forward"));
    TRY(check_carry(m, out, "forward"));
    if (mode == HRM_FORWARD_TRAIN) m->train_batch = 0; /* the saves are being overwritten */
    TRY(embed_forward(m, B, tokens, puzzle_ids));
    TRY(run_schedule(m, B, in, out, mode == HRM_FORWARD_TRAIN ? RUN_TRAIN : RUN_NO_SAVE));
    if (mode != HRM_FORWARD_Q_ONLY) {
        TRY(lm_head_forward(m, B, out.zH));
        m->logits_batch = B;
    }
    TRY(q_head_forward(m, B, out.zH, q_halt, q_continue));
    if (mode == HRM_FORWARD_TRAIN) {
        m->train_batch = B;
        m->train_tokens = tokens;
        m->train_puzzle_ids = puzzle_ids;
    }
    return HRM_OK;
}

hrm_status hrm_model_forward_prefix(hrm_model *m, int B, hrm_ptr tokens, hrm_ptr puzzle_ids, hrm_carry in,
                                    hrm_carry out) {
    TRY(model_check_batch(m, B, "forward_prefix"));
    TRY(check_carry(m, in, "forward_prefix"));
    TRY(check_carry(m, out, "forward_prefix"));
    TRY(embed_forward(m, B, tokens, puzzle_ids));
    return run_schedule(m, B, in, out, RUN_PREFIX);
}
