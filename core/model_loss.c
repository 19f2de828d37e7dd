/* core/model_loss.c - the losses of a segment (docs/MODEL.md "Losses"): per-sequence cross-entropy of
 * the logits through the backend's xent op (double precision there), and the Q-head BCE losses on
 * the host, where the B pairs of Q logits already are. */
#include <math.h>

#include "model_internal.h"

static hrm_xent_args xent_args(const hrm_model *m, hrm_ptr labels, hrm_loss_kind kind, int ignore_label) {
    return (hrm_xent_args){.batch = m->logits_batch,
                           .seq_len = m->seq_len,
                           .vocab = m->V,
                           .kind = kind,
                           .ignore_label = ignore_label,
                           .logits = m->logits,
                           .labels = labels};
}

static hrm_status read_back(hrm_model *m, hrm_ptr src, void *dst, size_t n) {
    if (!dst) return HRM_OK;
    TRY(op_read(&m->ops, src, dst, n, "reading the loss"));
    return HRM_OK;
}

hrm_status hrm_model_lm_loss_forward(hrm_model *m, hrm_ptr labels, hrm_loss_kind kind, int ignore_label, float *loss,
                                     int32_t *count, int32_t *correct, int32_t *preds) {
    int B = m->logits_batch;
    if (B == 0) return model_failf(m, HRM_ERR_INVALID_ARG, "lm_loss_forward: no logits yet (run a forward first)");
    hrm_xent_args a = xent_args(m, labels, kind, ignore_label);
    a.loss = m->loss;
    a.count = m->count;
    a.correct = m->correct;
    a.preds = preds ? m->preds : (hrm_ptr){0};
    TRY(op_xent_forward(&m->ops, &a, "xent_forward"));
    TRY(read_back(m, m->loss, loss, (size_t)B));
    TRY(read_back(m, m->count, count, (size_t)B));
    TRY(read_back(m, m->correct, correct, (size_t)B));
    return read_back(m, m->preds, preds, (size_t)B * m->seq_len);
}

hrm_status hrm_model_lm_loss_backward(hrm_model *m, hrm_ptr labels, hrm_loss_kind kind, int ignore_label,
                                      float grad_scale) {
    if (m->logits_batch == 0)
        return model_failf(m, HRM_ERR_INVALID_ARG, "lm_loss_backward: no logits yet (run a forward first)");
    hrm_xent_args a = xent_args(m, labels, kind, ignore_label);
    a.grad_scale = grad_scale;
    a.d_logits = m->d_logits;
    TRY(op_xent_backward(&m->ops, &a, "xent_backward"));
    return HRM_OK;
}

/* BCE with logits, as torch computes it without overflow: max(x, 0) - x y + log1p(exp(-|x|)). */
static double bce_with_logits(double x, double y) { return fmax(x, 0.0) - x * y + log1p(exp(-fabs(x))); }
static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

void hrm_q_loss(int B, const float *q_halt, const float *q_continue, const float *target_halt,
                const float *target_continue, float grad_scale, double *halt_loss, double *continue_loss, float *d_q) {
    double halt = 0, cont = 0;
    for (int b = 0; b < B; b++) {
        halt += bce_with_logits(q_halt[b], target_halt[b]);
        if (target_continue) cont += bce_with_logits(q_continue[b], target_continue[b]);
        if (!d_q) continue;
        d_q[2 * b] = (float)(grad_scale * 0.5 * (sigmoid(q_halt[b]) - target_halt[b]));
        d_q[2 * b + 1] =
            target_continue ? (float)(grad_scale * 0.5 * (sigmoid(q_continue[b]) - target_continue[b])) : 0.0f;
    }
    if (halt_loss) *halt_loss = halt;
    if (continue_loss) *continue_loss = cont;
}
