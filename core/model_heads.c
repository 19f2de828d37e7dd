/* core/model_heads.c - the output heads of a segment (docs/MODEL.md "Output heads"),
 * each forward next to its backward: the LM head (logits of the sequence positions) and the Q head
 * (q_halt, q_continue from the first position), both reading the new zH. */
#include "model_internal.h"

/* ---- LM head --------------------------------------------------------------------------------- */

/* logits [B, seq_len, V] = zH[:, P:] Wlm^T: one strided-batched matmul over the slots, skipping
 * each slot's P prefix rows. */
hrm_status lm_head_forward(hrm_model *m, int B, hrm_ptr zH) {
    hrm_matmul_args a = {.trans_b = 1,
                         .m = m->seq_len,
                         .n = m->V,
                         .k = m->D,
                         .alpha = 1,
                         .beta = 0,
                         .a = ptr_at(zH, (int64_t)m->P * m->D),
                         .lda = m->D,
                         .stride_a = (int64_t)m->S * m->D,
                         .b = param_at(m, m->off_lm),
                         .ldb = m->D,
                         .c = m->logits,
                         .ldc = m->V,
                         .stride_c = (int64_t)m->seq_len * m->V,
                         .batch = B};
    TRY(op_matmul(&m->ops, &a, m->prec, "lm_head (matmul)"));
    return HRM_OK;
}

/* dWlm += d_logits^T zH[:, P:] and d_h = d_logits Wlm on rows P.. (prefix rows zero). The
 * weight gradient is one matmul over all B*seq_len rows, so the rows of zH past each prefix are
 * gathered first into a contiguous scratch. */
hrm_status lm_head_backward(hrm_model *m, int B, hrm_ptr zH) {
    int64_t SD = (int64_t)m->S * m->D, LD = (int64_t)m->seq_len * m->D, PD = (int64_t)m->P * m->D;
    hrm_ptr rows = zH;
    if (m->P > 0) {
        rows = m->scratch_a;
        for (int b = 0; b < B; b++) TRY(copy_floats(m, ptr_at(rows, b * LD), ptr_at(zH, b * SD + PD), (size_t)LD));
        TRY(op_fill(&m->ops, m->d_h, (size_t)(B * SD), 0.0f, "zeroing d_h"));
    }
    hrm_matmul_args dw = {.trans_a = 1,
                          .m = m->V,
                          .n = m->D,
                          .k = B * m->seq_len,
                          .alpha = 1,
                          .beta = 1,
                          .a = m->d_logits,
                          .lda = m->V,
                          .b = rows,
                          .ldb = m->D,
                          .c = grad_at(m, m->off_lm),
                          .ldc = m->D,
                          .batch = 1};
    hrm_matmul_args dx = {.m = m->seq_len,
                          .n = m->D,
                          .k = m->V,
                          .alpha = 1,
                          .beta = 0,
                          .a = m->d_logits,
                          .lda = m->V,
                          .stride_a = (int64_t)m->seq_len * m->V,
                          .b = param_at(m, m->off_lm),
                          .ldb = m->D,
                          .c = ptr_at(m->d_h, PD),
                          .ldc = m->D,
                          .stride_c = SD,
                          .batch = B};
    TRY(op_matmul(&m->ops, &dw, m->prec, "lm_head backward, weight gradient (matmul)"));
    TRY(op_matmul(&m->ops, &dx, m->prec, "lm_head backward, input gradient (matmul)"));
    return HRM_OK;
}

/* ---- Q head ---------------------------------------------------------------------------------- */

/* q [B, 2] = zH[:, 0] Wq^T + bq. The bias is broadcast by a k = 1 matmul with the ones vector so
 * that it stays on the device, where the optimizer updates it. */
hrm_status q_head_forward(hrm_model *m, int B, hrm_ptr zH, float *q_halt, float *q_continue) {
    hrm_matmul_args bias = {.m = B,
                            .n = 2,
                            .k = 1,
                            .alpha = 1,
                            .beta = 0,
                            .a = m->ones,
                            .lda = 1,
                            .b = param_at(m, m->off_q_b),
                            .ldb = 2,
                            .c = m->q,
                            .ldc = 2,
                            .batch = 1};
    hrm_matmul_args head = {.trans_b = 1,
                            .m = B,
                            .n = 2,
                            .k = m->D,
                            .alpha = 1,
                            .beta = 1,
                            .a = zH,
                            .lda = (int64_t)m->S * m->D,
                            .b = param_at(m, m->off_q_w),
                            .ldb = m->D,
                            .c = m->q,
                            .ldc = 2,
                            .batch = 1};
    TRY(op_matmul(&m->ops, &bias, HRM_PRECISION_HIGHEST, "q_head bias (matmul)"));
    TRY(op_matmul(&m->ops, &head, HRM_PRECISION_HIGHEST, "q_head (matmul)"));
    if (!q_halt && !q_continue) return HRM_OK;
    TRY(op_read(&m->ops, m->q, m->q_host, (size_t)B * 2, "reading q"));
    for (int b = 0; b < B; b++) {
        if (q_halt) q_halt[b] = m->q_host[2 * b];
        if (q_continue) q_continue[b] = m->q_host[2 * b + 1];
    }
    return HRM_OK;
}

/* dWq += d_q^T zH[:, 0], dbq += column sums of d_q (a matmul with the ones vector), and
 * d_h[:, 0] += d_q Wq. */
hrm_status q_head_backward(hrm_model *m, int B, hrm_ptr zH, const float *d_q) {
    int64_t SD = (int64_t)m->S * m->D;
    TRY(op_write(&m->ops, m->d_q, d_q, (size_t)B * 2, "uploading d_q"));
    hrm_matmul_args dw = {.trans_a = 1,
                          .m = 2,
                          .n = m->D,
                          .k = B,
                          .alpha = 1,
                          .beta = 1,
                          .a = m->d_q,
                          .lda = 2,
                          .b = zH,
                          .ldb = SD,
                          .c = grad_at(m, m->off_q_w),
                          .ldc = m->D,
                          .batch = 1};
    hrm_matmul_args db = {.trans_a = 1,
                          .m = 2,
                          .n = 1,
                          .k = B,
                          .alpha = 1,
                          .beta = 1,
                          .a = m->d_q,
                          .lda = 2,
                          .b = m->ones,
                          .ldb = 1,
                          .c = grad_at(m, m->off_q_b),
                          .ldc = 1,
                          .batch = 1};
    hrm_matmul_args dx = {.m = B,
                          .n = m->D,
                          .k = 2,
                          .alpha = 1,
                          .beta = 1,
                          .a = m->d_q,
                          .lda = 2,
                          .b = param_at(m, m->off_q_w),
                          .ldb = m->D,
                          .c = m->d_h,
                          .ldc = SD,
                          .batch = 1};
    TRY(op_matmul(&m->ops, &dw, HRM_PRECISION_HIGHEST, "q_head backward, weight gradient (matmul)"));
    TRY(op_matmul(&m->ops, &db, HRM_PRECISION_HIGHEST, "q_head backward, bias gradient (matmul)"));
    TRY(op_matmul(&m->ops, &dx, HRM_PRECISION_HIGHEST, "q_head backward, input gradient (matmul)"));
    return HRM_OK;
}
