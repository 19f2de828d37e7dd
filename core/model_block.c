/* core/model_block.c - the transformer block of both levels and the levels built from it
 * (docs/MODEL.md "Transformer block", "H and L modules"), each piece's forward next to its backward: the
 * linear layer, the residual add + RMSNorm, the self-attention and SwiGLU sub-layers, the
 * post-norm block, and a level (input injection, then its blocks). R = B*S rows throughout.
 *
 * Two ways to run a level forward. No-save: the level runs in place on the carry and every block
 * writes the same scratch activations, so any number of cycles costs no memory. Save: the level
 * keeps its input, every block's output and what each block's backward needs (level.hidden,
 * level.saved); only the last L update and the last H update run this way, as the one-step
 * gradient needs nothing else.
 *
 * Backward: weight gradients accumulate into grads (matmuls with beta 1). One gradient tensor d_h
 * [R, D] carries the gradient of the current block's output backward and leaves it as the gradient
 * of the block's input; the no-save scratch activations serve as the gradients of the wider
 * tensors (dqkv, d_o, d_gu, dm), since the forward is over. */
#include <math.h>

#include "model_internal.h"

/* ---- linear layer ---------------------------------------------------------------------------- */

/* y [rows, out] = x [rows, in] W^T + beta y, W [out, in] at params offset w. */
static hrm_status linear_forward(hrm_model *m, hrm_ptr y, hrm_ptr x, int64_t w, int64_t rows, int in, int out,
                                 float beta) {
    hrm_matmul_args a = {.trans_b = 1,
                         .m = (int)rows,
                         .n = out,
                         .k = in,
                         .alpha = 1,
                         .beta = beta,
                         .a = x,
                         .lda = in,
                         .b = param_at(m, w),
                         .ldb = in,
                         .c = y,
                         .ldc = out,
                         .batch = 1};
    TRY(op_matmul(&m->ops, &a, m->prec, "linear forward (matmul)"));
    return HRM_OK;
}

/* dW += dy^T x (accumulates into grads), then dx = dy W + beta_dx dx; dx may be x (with beta_dx
 * 0), since the weight gradient has read x by then. */
static hrm_status linear_backward(hrm_model *m, hrm_ptr dx, float beta_dx, hrm_ptr dy, hrm_ptr x, int64_t w,
                                  int64_t rows, int in, int out) {
    hrm_matmul_args dw = {.trans_a = 1,
                          .m = out,
                          .n = in,
                          .k = (int)rows,
                          .alpha = 1,
                          .beta = 1,
                          .a = dy,
                          .lda = out,
                          .b = x,
                          .ldb = in,
                          .c = grad_at(m, w),
                          .ldc = in,
                          .batch = 1};
    hrm_matmul_args dxa = {.m = (int)rows,
                           .n = in,
                           .k = out,
                           .alpha = 1,
                           .beta = beta_dx,
                           .a = dy,
                           .lda = out,
                           .b = param_at(m, w),
                           .ldb = in,
                           .c = dx,
                           .ldc = in,
                           .batch = 1};
    TRY(op_matmul(&m->ops, &dw, m->prec, "linear backward, weight gradient (matmul)"));
    TRY(op_matmul(&m->ops, &dxa, m->prec, "linear backward, input gradient (matmul)"));
    return HRM_OK;
}

/* ---- residual add + RMSNorm ------------------------------------------------------------------ */

/* y = rmsnorm(x + r), saving rstd. */
static hrm_status add_rmsnorm(hrm_model *m, int64_t rows, hrm_ptr x, hrm_ptr r, hrm_ptr y, hrm_ptr rstd) {
    hrm_rmsnorm_args a = {
        .rows = rows, .dim = m->D, .eps = (float)m->cfg.rms_norm_eps, .x = x, .r = r, .y = y, .rstd = rstd};
    TRY(op_rmsnorm_forward(&m->ops, &a, "rmsnorm_forward"));
    return HRM_OK;
}

/* d(x + r) = rmsnorm_backward(dy) from the saved output y and rstd; in place on dh. */
static hrm_status rmsnorm_backward(hrm_model *m, int64_t rows, hrm_ptr y, hrm_ptr rstd, hrm_ptr dh) {
    hrm_rmsnorm_args a = {
        .rows = rows, .dim = m->D, .eps = (float)m->cfg.rms_norm_eps, .y = y, .rstd = rstd, .dy = dh, .dh = dh};
    TRY(op_rmsnorm_backward(&m->ops, &a, "rmsnorm_backward"));
    return HRM_OK;
}

/* ---- self-attention sub-layer ---------------------------------------------------------------- */

/* q, k, v are the three thirds of each packed qkv row [3D]. */
static hrm_attention_args attention_args(const hrm_model *m, int B, const block_acts *s) {
    return (hrm_attention_args){.batch = B,
                                .seq = m->S,
                                .heads = m->heads,
                                .head_dim = m->head_dim,
                                .scale = 1.0f / sqrtf((float)m->head_dim),
                                .q = s->qkv,
                                .k = ptr_at(s->qkv, m->D),
                                .v = ptr_at(s->qkv, 2 * m->D),
                                .qkv_row_stride = 3 * m->D,
                                .o = s->o,
                                .o_row_stride = m->D,
                                .lse = s->lse};
}

/* RoPE rotates the Q and K heads of a packed qkv [R, 3D] in place: 2*heads heads per row. */
static hrm_rope_args rope_args(const hrm_model *m, int B, hrm_ptr qkv) {
    return (hrm_rope_args){.batch = B,
                           .seq = m->S,
                           .heads = 2 * m->heads,
                           .head_dim = m->head_dim,
                           .row_stride = 3 * m->D,
                           .x = qkv,
                           .out = qkv,
                           .cos = m->rope_cos,
                           .sin = m->rope_sin};
}

/* scratch_a [R, D] = o_proj(Attn(h)), saving s->qkv (after RoPE), s->o (before o_proj), s->lse. */
static hrm_status attention_forward(hrm_model *m, int B, const block_weights *w, const block_acts *s, hrm_ptr h) {
    int64_t R = (int64_t)B * m->S;
    TRY(linear_forward(m, s->qkv, h, w->qkv, R, m->D, 3 * m->D, 0));
    if (m->cfg.pos_encodings == HRM_POS_ROPE) {
        hrm_rope_args r = rope_args(m, B, s->qkv);
        TRY(op_rope_forward(&m->ops, &r, "rope_forward"));
    }
    hrm_attention_args a = attention_args(m, B, s);
    TRY(op_attention_forward(&m->ops, &a, "attention_forward"));
    return linear_forward(m, m->scratch_a, s->o, w->o, R, m->D, m->D, 0);
}

/* On entry dh = d(h + attn); on exit dh = d(h), both paths. */
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
    TRY(op_attention_backward(&m->ops, &a, "attention_backward"));
    if (m->cfg.pos_encodings == HRM_POS_ROPE) {
        hrm_rope_args r = rope_args(m, B, dqkv);
        TRY(op_rope_backward(&m->ops, &r, "rope_backward"));
    }
    return linear_backward(m, dh, 1, dqkv, h, w->qkv, R, D, 3 * D);
}

/* ---- SwiGLU sub-layer ------------------------------------------------------------------------ */

/* scratch_a [R, D] = down(silu(gate) * up) of gate_up(h1), saving s->gu. */
static hrm_status mlp_forward(hrm_model *m, int B, const block_weights *w, const block_acts *s) {
    int64_t R = (int64_t)B * m->S;
    int D = m->D, I = m->I;
    TRY(linear_forward(m, s->gu, s->h1, w->gate_up, R, D, 2 * I, 0));
    hrm_swiglu_args sw = {.rows = R, .inter = I, .gu = s->gu, .out = m->scratch_m};
    TRY(op_swiglu_forward(&m->ops, &sw, "swiglu_forward"));
    return linear_forward(m, m->scratch_a, m->scratch_m, w->down, R, I, D, 0);
}

/* On entry dh = d(h1 + mlp); on exit dh = d(h1), both paths. */
static hrm_status mlp_backward(hrm_model *m, int B, const block_weights *w, const block_acts *s, hrm_ptr dh) {
    int64_t R = (int64_t)B * m->S;
    int D = m->D, I = m->I;
    hrm_ptr mid = m->scratch_m, d_gu = m->scratch.gu;
    /* recomputing silu(g)*u costs one pass over gu; saving it would cost [R, I] per block */
    hrm_swiglu_args sw = {.rows = R, .inter = I, .gu = s->gu, .out = mid};
    TRY(op_swiglu_forward(&m->ops, &sw, "swiglu_forward (recompute)"));
    TRY(linear_backward(m, mid, 0, dh, mid, w->down, R, I, D));
    sw.d_out = mid;
    sw.d_gu = d_gu;
    TRY(op_swiglu_backward(&m->ops, &sw, "swiglu_backward"));
    return linear_backward(m, dh, 1, d_gu, s->h1, w->gate_up, R, D, 2 * I);
}

/* ---- TRM's MLP form: token mixing across the sequence ---------------------------------------- */

/* C_b = A [mm, k] (shared, a weight; with trans_a stored [k, mm]) x B_b [k, n], for b < B: the
 * published code's linear layer over the transposed [B, D, S] activations, without transposing
 * them (docs/TRM.md "MLP form"). */
static hrm_status shared_left(hrm_model *m, int B, int trans_a, int mm, int n, int k, int64_t w, int64_t lda, hrm_ptr b,
                              int64_t stride_b, hrm_ptr c, int64_t stride_c, float beta, const char *what) {
    hrm_matmul_args a = {.trans_a = trans_a,
                         .m = mm,
                         .n = n,
                         .k = k,
                         .alpha = 1,
                         .beta = beta,
                         .a = param_at(m, w),
                         .lda = lda,
                         .b = b,
                         .ldb = n,
                         .stride_b = stride_b,
                         .c = c,
                         .ldc = n,
                         .stride_c = stride_c,
                         .batch = B};
    TRY(op_matmul(&m->ops, &a, m->prec, what));
    return HRM_OK;
}

/* grad(w) [mm, n] += sum over b of X_b [mm, k] Y_b^T (Y_b stored [n, k]): one accumulating matmul
 * per example (a batched call may not sum into one C). */
static hrm_status weight_grad_sum(hrm_model *m, int B, int mm, int n, int k, int64_t w, hrm_ptr x, int64_t stride_x,
                                  hrm_ptr y, int64_t stride_y, const char *what) {
    for (int b = 0; b < B; b++) {
        hrm_matmul_args a = {.trans_b = 1,
                             .m = mm,
                             .n = n,
                             .k = k,
                             .alpha = 1,
                             .beta = 1,
                             .a = ptr_at(x, b * stride_x),
                             .lda = k,
                             .b = ptr_at(y, b * stride_y),
                             .ldb = k,
                             .c = grad_at(m, w),
                             .ldc = n,
                             .batch = 1};
        TRY(op_matmul(&m->ops, &a, m->prec, what));
    }
    return HRM_OK;
}

/* out_b [cols, rows] = in_b [rows, cols]^T for b < B: a matmul by the identity [rows, rows], fp32
 * whatever the model's precision, so exact (each element is one product by 1 plus zeros). The
 * MLP form's norm over the sequence runs as the row-wise rmsnorm in the transposed layout, as the
 * published code computes it, with no backend op of its own. */
static hrm_status transpose(hrm_model *m, int B, hrm_ptr in, int rows, int cols, hrm_ptr eye, hrm_ptr out) {
    int64_t n = (int64_t)rows * cols;
    hrm_matmul_args a = {.trans_a = 1,
                         .m = cols,
                         .n = rows,
                         .k = rows,
                         .alpha = 1,
                         .beta = 0,
                         .a = in,
                         .lda = cols,
                         .stride_a = n,
                         .b = eye,
                         .ldb = rows,
                         .c = out,
                         .ldc = rows,
                         .stride_c = n,
                         .batch = B};
    TRY(op_matmul(&m->ops, &a, HRM_PRECISION_HIGHEST, "transpose (matmul by the identity)"));
    return HRM_OK;
}

/* s->h1 = (rmsnorm over S of (h + F)^T)^T with F_b = Wd (silu(G_b[:It]) * G_b[It:]), G_b =
 * s->tgu_b = Wgu h_b, per example h_b [S, D]: trm.py's mlp_t on h^T and its post-norm before
 * transposing back; rstd1 [B, D]. */
static hrm_status token_mlp_forward(hrm_model *m, int B, const block_weights *w, const block_acts *s, hrm_ptr h) {
    int S = m->S, D = m->D, It = m->It;
    int64_t SD = (int64_t)S * D, GD = 2 * (int64_t)It * D;
    TRY(shared_left(m, B, 0, 2 * It, D, S, w->tok_gu, S, h, SD, s->tgu, GD, 0, "token gate_up (matmul)"));
    hrm_swiglu_args sw = {.rows = B, .inter = It * D, .gu = s->tgu, .out = m->scratch_m};
    TRY(op_swiglu_forward(&m->ops, &sw, "token swiglu_forward"));
    TRY(shared_left(m, B, 0, S, D, It, w->tok_down, It, m->scratch_m, (int64_t)It * D, m->scratch_a, SD, 0,
                    "token down_proj (matmul)"));
    TRY(transpose(m, B, h, S, D, m->eye_S, m->tr_a));
    TRY(transpose(m, B, m->scratch_a, S, D, m->eye_S, m->tr_b));
    hrm_rmsnorm_args n = {.rows = (int64_t)B * D,
                          .dim = S,
                          .eps = (float)m->cfg.rms_norm_eps,
                          .x = m->tr_a,
                          .r = m->tr_b,
                          .y = m->tr_a,
                          .rstd = s->rstd1};
    TRY(op_rmsnorm_forward(&m->ops, &n, "rmsnorm over the sequence"));
    return transpose(m, B, m->tr_a, D, S, m->eye_D, s->h1);
}

/* On entry dh = d(h1); on exit dh = d(h). The no-save scratch.tgu takes d(G). */
static hrm_status token_mlp_backward(hrm_model *m, int B, const block_weights *w, const block_acts *s, hrm_ptr h,
                                     hrm_ptr dh) {
    int S = m->S, D = m->D, It = m->It;
    int64_t SD = (int64_t)S * D, GD = 2 * (int64_t)It * D, ID = (int64_t)It * D;
    /* the norm's backward in the transposed layout: dh = d(h + F) = dF */
    TRY(transpose(m, B, dh, S, D, m->eye_S, m->tr_a));
    TRY(transpose(m, B, s->h1, S, D, m->eye_S, m->tr_b));
    hrm_rmsnorm_args n = {.rows = (int64_t)B * D,
                          .dim = S,
                          .eps = (float)m->cfg.rms_norm_eps,
                          .y = m->tr_b,
                          .rstd = s->rstd1,
                          .dy = m->tr_a,
                          .dh = m->tr_a};
    TRY(op_rmsnorm_backward(&m->ops, &n, "rmsnorm over the sequence, backward"));
    TRY(transpose(m, B, m->tr_a, D, S, m->eye_D, dh));
    hrm_ptr mid = m->scratch_m, d_gu = m->scratch.tgu;
    hrm_swiglu_args sw = {.rows = B, .inter = It * D, .gu = s->tgu, .out = mid};
    TRY(op_swiglu_forward(&m->ops, &sw, "token swiglu_forward (recompute)"));
    /* dWd [S, It] += dF_b [S, D] M_b^T */
    TRY(weight_grad_sum(m, B, S, It, D, w->tok_down, dh, SD, mid, ID, "token down_proj weight gradient (matmul)"));
    /* dM_b [It, D] = Wd^T dF_b */
    TRY(shared_left(m, B, 1, It, D, S, w->tok_down, It, dh, SD, mid, ID, 0, "token down_proj input gradient (matmul)"));
    sw.d_out = mid;
    sw.d_gu = d_gu;
    TRY(op_swiglu_backward(&m->ops, &sw, "token swiglu_backward"));
    /* dWgu [2It, S] += dG_b [2It, D] h_b^T */
    TRY(weight_grad_sum(m, B, 2 * It, S, D, w->tok_gu, d_gu, GD, h, SD, "token gate_up weight gradient (matmul)"));
    /* dh += Wgu^T dG_b: the residual path's dF plus the token SwiGLU's */
    return shared_left(m, B, 1, S, D, 2 * It, w->tok_gu, S, d_gu, GD, dh, SD, 1,
                       "token gate_up input gradient (matmul)");
}

/* ---- one block ------------------------------------------------------------------------------- */

/* Post-norm block: h1 = rmsnorm(h + Attn(h)); out = rmsnorm(h1 + SwiGLU(h1)). out may equal h:
 * h is last read by the first rmsnorm. */
static hrm_status block_forward(hrm_model *m, int B, const block_weights *w, const block_acts *s, hrm_ptr h,
                                hrm_ptr out) {
    int64_t R = (int64_t)B * m->S;
    if (m->It) {
        TRY(token_mlp_forward(m, B, w, s, h));
    } else {
        TRY(attention_forward(m, B, w, s, h));
        TRY(add_rmsnorm(m, R, h, m->scratch_a, s->h1, s->rstd1));
    }
    TRY(mlp_forward(m, B, w, s));
    return add_rmsnorm(m, R, s->h1, m->scratch_a, out, s->rstd2);
}

/* dh goes from d(out) to d(h). */
static hrm_status block_backward(hrm_model *m, int B, const block_weights *w, const block_acts *s, hrm_ptr h,
                                 hrm_ptr out, hrm_ptr dh) {
    int64_t R = (int64_t)B * m->S;
    TRY(rmsnorm_backward(m, R, out, s->rstd2, dh));
    TRY(mlp_backward(m, B, w, s, dh));
    if (m->It) return token_mlp_backward(m, B, w, s, h, dh);
    TRY(rmsnorm_backward(m, R, s->h1, s->rstd1, dh));
    return attention_backward(m, B, w, s, h, dh);
}

/* ---- one level ------------------------------------------------------------------------------- */

hrm_status level_forward(hrm_model *m, level *l, int B, hrm_ptr z, hrm_ptr inj_a, hrm_ptr inj_b, hrm_ptr out,
                         int slot) {
    int64_t n = (int64_t)B * m->S * m->D;
    hrm_ptr *hidden = slot >= 0 ? level_hidden(l, slot) : NULL;
    hrm_add_args in = {.n = n, .out = hidden ? hidden[0] : out, .a = z, .b = inj_a, .c = inj_b};
    TRY(op_add(&m->ops, &in, "input injection (add)"));
    for (int i = 0; i < l->layers; i++) {
        if (hidden)
            TRY(block_forward(m, B, &l->w[i], &level_saved(l, slot)[i], hidden[i], hidden[i + 1]));
        else
            TRY(block_forward(m, B, &l->w[i], &m->scratch, out, out));
    }
    return hidden ? copy_floats(m, out, hidden[l->layers], (size_t)n) : HRM_OK;
}

hrm_status level_backward(hrm_model *m, level *l, int B, int slot) {
    hrm_ptr *hidden = level_hidden(l, slot);
    for (int i = l->layers - 1; i >= 0; i--)
        TRY(block_backward(m, B, &l->w[i], &level_saved(l, slot)[i], hidden[i], hidden[i + 1], m->d_h));
    return HRM_OK;
}
