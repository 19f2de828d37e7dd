/* cpu_loss.c - per-token cross-entropy (softmax or stablemax) with per-sequence normalisation,
 * forward and backward, in double precision as the published model computes it. One work item is
 * one sequence, so its loss, counts and predictions need no reduction across threads. */
#include <math.h>

#include "cpu_internal.h"

/* argmax of x[0, n), the first one on ties */
static int argmax(const float *x, int n) {
    int best = 0;
    for (int j = 1; j < n; j++)
        if (x[j] > x[best]) best = j;
    return best;
}

static double stablemax_s(double x) { return x >= 0.0 ? x + 1.0 : 1.0 / (1.0 - x); }
static double stablemax_ds(double x) { return x >= 0.0 ? 1.0 : 1.0 / ((1.0 - x) * (1.0 - x)); }

/* -log p(label) of one position. */
static double token_nll(const float *x, int vocab, int label, hrm_loss_kind kind) {
    double sum = 0.0;
    if (kind == HRM_LOSS_STABLEMAX) {
        for (int j = 0; j < vocab; j++) sum += stablemax_s(x[j]);
        return log(sum) - log(stablemax_s(x[label]));
    }
    double mx = x[argmax(x, vocab)];
    for (int j = 0; j < vocab; j++) sum += exp((double)x[j] - mx);
    return mx + log(sum) - (double)x[label];
}

/* d_x = g * d(-log p(label))/dx for one position. */
static void token_grad(const float *x, int vocab, int label, hrm_loss_kind kind, double g, float *dx) {
    double sum = 0.0;
    if (kind == HRM_LOSS_STABLEMAX) {
        for (int j = 0; j < vocab; j++) sum += stablemax_s(x[j]);
        for (int j = 0; j < vocab; j++) dx[j] = (float)(g * stablemax_ds(x[j]) / sum);
        dx[label] = (float)(g * (stablemax_ds(x[label]) / sum - stablemax_ds(x[label]) / stablemax_s(x[label])));
        return;
    }
    double mx = x[argmax(x, vocab)];
    for (int j = 0; j < vocab; j++) sum += exp((double)x[j] - mx);
    for (int j = 0; j < vocab; j++) dx[j] = (float)(g * exp((double)x[j] - mx) / sum);
    dx[label] = (float)(g * (exp((double)x[label] - mx) / sum - 1.0));
}

static int valid_count(const hrm_xent_args *a, int b) {
    const int32_t *labels = cpu_i32(a->labels) + (int64_t)b * a->seq_len;
    int count = 0;
    for (int t = 0; t < a->seq_len; t++) count += labels[t] != a->ignore_label;
    return count;
}

static void xent_forward_seqs(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const hrm_xent_args *a = ctx;
    for (int64_t b = begin; b < end; b++) {
        const int32_t *labels = cpu_i32(a->labels) + b * a->seq_len;
        double nll = 0.0;
        int count = 0, correct = 0;
        for (int t = 0; t < a->seq_len; t++) {
            const float *x = cpu_f32(a->logits) + (b * a->seq_len + t) * a->vocab;
            int pred = argmax(x, a->vocab);
            if (a->preds.buf) cpu_i32(a->preds)[b * a->seq_len + t] = pred;
            if (labels[t] == a->ignore_label) continue;
            count++;
            correct += pred == labels[t];
            nll += token_nll(x, a->vocab, labels[t], a->kind);
        }
        cpu_f32(a->loss)[b] = (float)(nll / (count > 1 ? count : 1));
        cpu_i32(a->count)[b] = count;
        cpu_i32(a->correct)[b] = correct;
    }
}

static void xent_backward_seqs(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const hrm_xent_args *a = ctx;
    for (int64_t b = begin; b < end; b++) {
        const int32_t *labels = cpu_i32(a->labels) + b * a->seq_len;
        int count = valid_count(a, (int)b);
        double g = (double)a->grad_scale / (count > 1 ? count : 1);
        for (int t = 0; t < a->seq_len; t++) {
            int64_t row = (b * a->seq_len + t) * a->vocab;
            float *dx = cpu_f32(a->d_logits) + row;
            if (labels[t] == a->ignore_label) {
                for (int j = 0; j < a->vocab; j++) dx[j] = 0.0f;
                continue;
            }
            token_grad(cpu_f32(a->logits) + row, a->vocab, labels[t], a->kind, g, dx);
        }
    }
}

static hrm_status check_xent(hrm_device *dev, const hrm_xent_args *a, int backward) {
    return hrm_check_xent(&cpu_checker, dev, a, backward);
}

/* sequences per share: enough positions x vocab to repay a thread */
static int64_t min_seqs(const hrm_xent_args *a) {
    int64_t per_seq = (int64_t)a->seq_len * a->vocab + 1;
    return per_seq >= 8192 ? 1 : 8192 / per_seq;
}

hrm_status cpu_xent_forward(hrm_device *dev, const hrm_xent_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    CPU_TRY(check_xent(dev, a, 0));
    cpu_parallel_for(cpu_dev_pool(dev), a->batch, min_seqs(a), xent_forward_seqs, (void *)a);
    return HRM_OK;
}

hrm_status cpu_xent_backward(hrm_device *dev, const hrm_xent_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    CPU_TRY(check_xent(dev, a, 1));
    cpu_parallel_for(cpu_dev_pool(dev), a->batch, min_seqs(a), xent_backward_seqs, (void *)a);
    return HRM_OK;
}
