/* core/model_backward.c - the one-step-gradient backward of a TRAIN forward: output heads ->
 * the last H update -> the last L update -> the input embedding (HRM_SPEC.md: the carry going
 * into those updates is detached, so nothing flows further back).
 *
 * Weight gradients accumulate into grads (matmuls with beta 1). One gradient tensor d_h [R, D]
 * carries the gradient of the current block's output backward and leaves it as the gradient of
 * the block's input; the no-save scratch activations serve as the gradients of the wider tensors
 * (dqkv, d_o, d_gu, dm), since the forward is over. */
#include "model_internal.h"

/* d(x + r) = rmsnorm_backward(dy) from the saved output y and rstd; in place on dh. */
static hrm_status rmsnorm_backward(hrm_model *m, int64_t rows, hrm_ptr y, hrm_ptr rstd, hrm_ptr dh) {
    hrm_rmsnorm_args a = {.rows = rows, .dim = m->D, .eps = (float)m->cfg.rms_norm_eps, .y = y, .rstd = rstd,
                          .dy = dh, .dh = dh};
    OP(m, "rmsnorm_backward", m->ctx->f->rmsnorm_backward(m->ctx->dev, &a));
    return HRM_OK;
}

/* SwiGLU sub-layer: on entry dh = d(h1 + mlp); on exit dh = d(h1), both paths. */
static hrm_status mlp_backward(hrm_model *m, int B, const block_weights *w, const block_acts *s, hrm_ptr dh) {
    int64_t R = (int64_t)B * m->S;
    int D = m->D, I = m->I;
    hrm_ptr mid = m->scratch_m, d_gu = m->scratch.gu;
    /* recomputing silu(g)*u costs one pass over gu; saving it would cost [R, I] per block */
    hrm_swiglu_args sw = {.rows = R, .inter = I, .gu = s->gu, .out = mid};
    OP(m, "swiglu_forward (recompute)", m->ctx->f->swiglu_forward(m->ctx->dev, &sw));
    TRY(linear_backward(m, mid, 0, dh, mid, w->down, R, I, D));
    sw.d_out = mid;
    sw.d_gu = d_gu;
    OP(m, "swiglu_backward", m->ctx->f->swiglu_backward(m->ctx->dev, &sw));
    return linear_backward(m, dh, 1, d_gu, s->h1, w->gate_up, R, D, 2 * I);
}

/* Attention sub-layer: on entry dh = d(h + attn); on exit dh = d(h), both paths. */
static hrm_status attention_backward(hrm_model *m, int B, const block_weights *w, const block_acts *s, hrm_ptr h,
                                     hrm_ptr dh) {
    int64_t R = (int64_t)B * m->S;
    int D = m->D;
    hrm_ptr d_o = m->scratch.o, dqkv = m->scratch.qkv;
    TRY(linear_backward(m, d_o, 0, dh, s->o, w->o, R, D, D));
    hrm_attention_args a = attention_args(m, B, s);
    a.d_o = d_o;
    a.dq = dqkv;
    a.dk = ptr_at(dqkv, D);
    a.dv = ptr_at(dqkv, 2 * D);
    a.dqkv_row_stride = 3 * D;
    OP(m, "attention_backward", m->ctx->f->attention_backward(m->ctx->dev, &a));
    if (m->cfg.pos_encodings == HRM_POS_ROPE) {
        hrm_rope_args r = rope_args(m, B, dqkv);
        OP(m, "rope_backward", m->ctx->f->rope_backward(m->ctx->dev, &r));
    }
    return linear_backward(m, dh, 1, dqkv, h, w->qkv, R, D, 3 * D);
}

/* One block: dh goes from d(out) to d(h). */
static hrm_status block_backward(hrm_model *m, int B, const block_weights *w, const block_acts *s, hrm_ptr h,
                                 hrm_ptr out, hrm_ptr dh) {
    int64_t R = (int64_t)B * m->S;
    TRY(rmsnorm_backward(m, R, out, s->rstd2, dh));
    TRY(mlp_backward(m, B, w, s, dh));
    TRY(rmsnorm_backward(m, R, s->h1, s->rstd1, dh));
    return attention_backward(m, B, w, s, h, dh);
}

/* d_h goes from d(level output) to d(level input) = d(z + injection). */
static hrm_status level_backward(hrm_model *m, level *l, int B) {
    for (int i = l->layers - 1; i >= 0; i--)
        TRY(block_backward(m, B, &l->w[i], &l->saved[i], l->hidden[i], l->hidden[i + 1], m->d_h));
    return HRM_OK;
}

/* dWlm += d_logits^T zH[:, P:] and d_h = d_logits Wlm on rows P.. (prefix rows zero). The
 * weight gradient is one matmul over all B*seq_len rows, so the rows of zH past each prefix are
 * gathered first into a contiguous scratch. */
static hrm_status lm_head_backward(hrm_model *m, int B, hrm_ptr zH) {
    int64_t SD = (int64_t)m->S * m->D, LD = (int64_t)m->seq_len * m->D, PD = (int64_t)m->P * m->D;
    hrm_ptr rows = zH;
    if (m->P > 0) {
        rows = m->scratch_a;
        for (int b = 0; b < B; b++) TRY(copy_floats(m, ptr_at(rows, b * LD), ptr_at(zH, b * SD + PD), (size_t)LD));
        OP(m, "zeroing d_h", m->ctx->f->buffer_fill(m->d_h.buf, m->d_h.off, (size_t)(B * SD), 0.0f));
    }
    hrm_matmul_args dw = {.trans_a = 1, .m = m->V, .n = m->D, .k = B * m->seq_len, .alpha = 1, .beta = 1,
                          .a = m->d_logits, .lda = m->V, .b = rows, .ldb = m->D, .c = grad_at(m, m->off_lm),
                          .ldc = m->D, .batch = 1};
    hrm_matmul_args dx = {.m = m->seq_len, .n = m->D, .k = m->V, .alpha = 1, .beta = 0, .a = m->d_logits,
                          .lda = m->V, .stride_a = (int64_t)m->seq_len * m->V, .b = param_at(m, m->off_lm),
                          .ldb = m->D, .c = ptr_at(m->d_h, PD), .ldc = m->D, .stride_c = SD, .batch = B};
    OP(m, "lm_head backward, weight gradient (matmul)", hrm_ctx_matmul(m->ctx, &dw, m->prec));
    OP(m, "lm_head backward, input gradient (matmul)", hrm_ctx_matmul(m->ctx, &dx, m->prec));
    return HRM_OK;
}

/* dWq += d_q^T zH[:, 0], dbq += column sums of d_q (a matmul with the ones vector), and
 * d_h[:, 0] += d_q Wq. */
static hrm_status q_head_backward(hrm_model *m, int B, hrm_ptr zH, const float *d_q) {
    int64_t SD = (int64_t)m->S * m->D;
    OP(m, "uploading d_q", m->ctx->f->buffer_write(m->d_q.buf, m->d_q.off * 4, d_q, (size_t)B * 2 * 4));
    hrm_matmul_args dw = {.trans_a = 1, .m = 2, .n = m->D, .k = B, .alpha = 1, .beta = 1, .a = m->d_q, .lda = 2,
                          .b = zH, .ldb = SD, .c = grad_at(m, m->off_q_w), .ldc = m->D, .batch = 1};
    hrm_matmul_args db = {.trans_a = 1, .m = 2, .n = 1, .k = B, .alpha = 1, .beta = 1, .a = m->d_q, .lda = 2,
                          .b = m->ones, .ldb = 1, .c = grad_at(m, m->off_q_b), .ldc = 1, .batch = 1};
    hrm_matmul_args dx = {.m = B, .n = m->D, .k = 2, .alpha = 1, .beta = 1, .a = m->d_q, .lda = 2,
                          .b = param_at(m, m->off_q_w), .ldb = m->D, .c = m->d_h, .ldc = SD, .batch = 1};
    OP(m, "q_head backward, weight gradient (matmul)", m->ctx->f->matmul(m->ctx->dev, &dw));
    OP(m, "q_head backward, bias gradient (matmul)", m->ctx->f->matmul(m->ctx->dev, &db));
    OP(m, "q_head backward, input gradient (matmul)", m->ctx->f->matmul(m->ctx->dev, &dx));
    return HRM_OK;
}

static hrm_status embed_backward(hrm_model *m, int B) {
    hrm_embedding_args a = embedding_args(m, B, m->train_tokens, m->train_puzzle_ids);
    a.d_out = m->d_h;
    a.d_token_table = grad_at(m, m->off_embed);
    a.d_puzzle_rows = m->d_puzzle_rows;
    a.d_pos = m->off_pos >= 0 ? grad_at(m, m->off_pos) : (hrm_ptr){0};
    OP(m, "embedding_backward", m->ctx->f->embedding_backward(m->ctx->dev, &a));
    return HRM_OK;
}

hrm_status hrm_model_backward(hrm_model *m, const float *d_q) {
    int B = m->train_batch;
    if (B == 0) return model_failf(m, HRM_ERR_INVALID_ARG, "backward: no TRAIN forward to differentiate");
    hrm_ptr zH = m->H_level.hidden[m->H_level.layers];
    TRY(lm_head_backward(m, B, zH));
    if (d_q) TRY(q_head_backward(m, B, zH, d_q));
    /* d(zH_prev + zL): zH_prev is detached, so this is the gradient of the new zL */
    TRY(level_backward(m, &m->H_level, B));
    /* d(zL_prev + zH_prev + x): only x is not detached */
    TRY(level_backward(m, &m->L_level, B));
    return embed_backward(m, B);
}
