/* tests/reference.c - naive double-precision reference ops; slow and plain on purpose, so that
 * each line can be checked against the formula in include/hrm/backend.h. */
#include "reference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- matmul ------------------------------------------------------------------------------- */

void ref_matmul(const hrm_matmul_args *p, const float *a, const float *b, double *c) {
    for (int i = 0; i < p->batch; i++) {
        const float *ai = a + i * p->stride_a, *bi = b + i * p->stride_b;
        double *ci = c + i * p->stride_c;
        for (int r = 0; r < p->m; r++)
            for (int col = 0; col < p->n; col++) {
                double s = 0;
                for (int t = 0; t < p->k; t++) {
                    double x = p->trans_a ? ai[t * p->lda + r] : ai[r * p->lda + t];
                    double y = p->trans_b ? bi[col * p->ldb + t] : bi[t * p->ldb + col];
                    s += x * y;
                }
                double *out = &ci[r * p->ldc + col];
                *out = (double)p->alpha * s + (p->beta == 0.0f ? 0.0 : (double)p->beta * *out);
            }
    }
}

/* ---- attention ---------------------------------------------------------------------------- */

/* Row (b, token t, head h) of a [batch, seq, heads, head_dim] tensor with token stride rs. */
static size_t row_at(const hrm_attention_args *p, int b, int t, int h, int64_t rs) {
    return (size_t)(((int64_t)b * p->seq + t) * rs + (int64_t)h * p->head_dim);
}

static double dot_f(const float *x, const float *y, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)x[i] * y[i];
    return s;
}

/* Fills prob[j] = softmax row i of (b, h) over keys 0..last and returns its lse. */
static double softmax_row(const hrm_attention_args *p, const float *q, const float *k, int b, int h, int i,
                          double *prob) {
    int last = p->causal ? i : p->seq - 1;
    const float *qi = q + row_at(p, b, i, h, p->qkv_row_stride);
    double mx = -INFINITY, sum = 0;
    for (int j = 0; j <= last; j++) {
        prob[j] = p->scale * dot_f(qi, k + row_at(p, b, j, h, p->qkv_row_stride), p->head_dim);
        if (prob[j] > mx) mx = prob[j];
    }
    for (int j = 0; j <= last; j++) sum += exp(prob[j] - mx);
    double lse = mx + log(sum);
    for (int j = 0; j < p->seq; j++) prob[j] = j <= last ? exp(prob[j] - lse) : 0.0;
    return lse;
}

void ref_attention_forward(const hrm_attention_args *p, const float *q, const float *k, const float *v, double *o,
                           double *lse) {
    int hd = p->head_dim;
    double *prob = malloc((size_t)p->seq * sizeof *prob);
    for (int b = 0; b < p->batch; b++)
        for (int h = 0; h < p->heads; h++)
            for (int i = 0; i < p->seq; i++) {
                lse[((size_t)b * p->heads + h) * p->seq + i] = softmax_row(p, q, k, b, h, i, prob);
                double *oi = o + row_at(p, b, i, h, p->o_row_stride);
                for (int d = 0; d < hd; d++) {
                    double s = 0;
                    for (int j = 0; j < p->seq; j++) s += prob[j] * v[row_at(p, b, j, h, p->qkv_row_stride) + d];
                    oi[d] = s;
                }
            }
    free(prob);
}

/* dP_ij = dO_i.v_j, dS_ij = P_ij (dP_ij - sum_l P_il dP_il), dq_i = scale sum_j dS_ij k_j,
 * dk_j = scale sum_i dS_ij q_i, dv_j = sum_i P_ij dO_i. */
void ref_attention_backward(const hrm_attention_args *p, const float *q, const float *k, const float *v,
                            const float *d_o, double *dq, double *dk, double *dv) {
    int hd = p->head_dim, seq = p->seq;
    int64_t rs = p->dqkv_row_stride;
    double *prob = malloc((size_t)seq * sizeof *prob), *dp = malloc((size_t)seq * sizeof *dp);
    for (int b = 0; b < p->batch; b++)
        for (int h = 0; h < p->heads; h++) {
            for (int t = 0; t < seq; t++)
                for (int d = 0; d < hd; d++)
                    dq[row_at(p, b, t, h, rs) + d] = dk[row_at(p, b, t, h, rs) + d] = dv[row_at(p, b, t, h, rs) + d] =
                        0;
            for (int i = 0; i < seq; i++) {
                const float *doi = d_o + row_at(p, b, i, h, p->o_row_stride);
                const float *qi = q + row_at(p, b, i, h, p->qkv_row_stride);
                softmax_row(p, q, k, b, h, i, prob);
                double dsum = 0;
                for (int j = 0; j < seq; j++) {
                    dp[j] = dot_f(doi, v + row_at(p, b, j, h, p->qkv_row_stride), hd);
                    dsum += prob[j] * dp[j];
                }
                for (int j = 0; j < seq; j++) {
                    if (prob[j] == 0.0) continue;
                    double ds = prob[j] * (dp[j] - dsum);
                    const float *kj = k + row_at(p, b, j, h, p->qkv_row_stride);
                    double *dqi = dq + row_at(p, b, i, h, rs), *dkj = dk + row_at(p, b, j, h, rs);
                    double *dvj = dv + row_at(p, b, j, h, rs);
                    for (int d = 0; d < hd; d++) {
                        dqi[d] += p->scale * ds * kj[d];
                        dkj[d] += p->scale * ds * qi[d];
                        dvj[d] += prob[j] * doi[d];
                    }
                }
            }
        }
    free(prob);
    free(dp);
}

/* ---- rope --------------------------------------------------------------------------------- */

void ref_rope(const hrm_rope_args *p, int backward, const float *x, const float *cos_t, const float *sin_t,
              double *out) {
    int half = p->head_dim / 2;
    double sgn = backward ? -1.0 : 1.0; /* backward rotates by -angle */
    for (int b = 0; b < p->batch; b++)
        for (int t = 0; t < p->seq; t++)
            for (int h = 0; h < p->heads; h++) {
                size_t base = (size_t)(((int64_t)b * p->seq + t) * p->row_stride + (int64_t)h * p->head_dim);
                for (int i = 0; i < half; i++) {
                    double c = cos_t[t * half + i], s = sgn * sin_t[t * half + i];
                    double x1 = x[base + i], x2 = x[base + i + half];
                    out[base + i] = x1 * c - x2 * s;
                    out[base + i + half] = x2 * c + x1 * s;
                }
            }
}

/* ---- add ---------------------------------------------------------------------------------- */

void ref_add(int64_t n, const float *a, const float *b, const float *c, double *out) {
    for (int64_t i = 0; i < n; i++) out[i] = (double)a[i] + b[i] + (c ? (double)c[i] : 0.0);
}

/* ---- rmsnorm ------------------------------------------------------------------------------ */

void ref_rmsnorm_forward(const hrm_rmsnorm_args *p, const float *x, const float *r, double *y, double *rstd) {
    for (int64_t row = 0; row < p->rows; row++) {
        const float *xr = x + row * p->dim, *rr = r ? r + row * p->dim : NULL;
        double ss = 0;
        for (int d = 0; d < p->dim; d++) {
            double h = (double)xr[d] + (rr ? rr[d] : 0.0);
            ss += h * h;
        }
        double rs = 1.0 / sqrt(ss / p->dim + p->eps);
        rstd[row] = rs;
        for (int d = 0; d < p->dim; d++) y[row * p->dim + d] = ((double)xr[d] + (rr ? rr[d] : 0.0)) * rs;
    }
}

void ref_rmsnorm_backward(const hrm_rmsnorm_args *p, const float *dy, const float *y, const float *rstd, double *dh) {
    for (int64_t row = 0; row < p->rows; row++) {
        const float *dyr = dy + row * p->dim, *yr = y + row * p->dim;
        double m = 0;
        for (int d = 0; d < p->dim; d++) m += (double)dyr[d] * yr[d];
        m /= p->dim;
        for (int d = 0; d < p->dim; d++) dh[row * p->dim + d] = rstd[row] * (dyr[d] - yr[d] * m);
    }
}

/* ---- swiglu ------------------------------------------------------------------------------- */

static double sigmoid(double g) { return 1.0 / (1.0 + exp(-g)); }

void ref_swiglu_forward(const hrm_swiglu_args *p, const float *gu, double *out) {
    for (int64_t r = 0; r < p->rows; r++)
        for (int j = 0; j < p->inter; j++) {
            double g = gu[r * 2 * p->inter + j], u = gu[r * 2 * p->inter + p->inter + j];
            out[r * p->inter + j] = g * sigmoid(g) * u;
        }
}

void ref_swiglu_backward(const hrm_swiglu_args *p, const float *gu, const float *d_out, double *d_gu) {
    for (int64_t r = 0; r < p->rows; r++)
        for (int j = 0; j < p->inter; j++) {
            size_t gi = (size_t)(r * 2 * p->inter + j), ui = gi + (size_t)p->inter;
            double g = gu[gi], u = gu[ui], s = sigmoid(g), d = d_out[r * p->inter + j];
            d_gu[gi] = d * u * s * (1.0 + g * (1.0 - s));
            d_gu[ui] = d * g * s;
        }
}

/* ---- embedding ---------------------------------------------------------------------------- */

/* The puzzle row [puzzle_width] is zero-padded to prefix*dim: flat prefix index q = s*dim + d. */
void ref_embedding_forward(const hrm_embedding_args *p, const int32_t *tokens, const int32_t *puzzle_ids,
                           const float *token_table, const float *puzzle_table, const float *pos, double *out) {
    int S = p->prefix + p->seq_len, dim = p->dim;
    for (int b = 0; b < p->batch; b++)
        for (int s = 0; s < S; s++)
            for (int d = 0; d < dim; d++) {
                int q = s * dim + d;
                double e = s >= p->prefix        ? token_table[(size_t)tokens[b * p->seq_len + s - p->prefix] * dim + d]
                           : q < p->puzzle_width ? puzzle_table[(size_t)puzzle_ids[b] * p->puzzle_width + (size_t)q]
                                                 : 0.0;
                double ps = pos ? pos[(size_t)s * dim + d] : 0.0;
                out[((size_t)b * S + s) * dim + d] = (double)p->scale * (e + ps);
            }
}

void ref_embedding_backward(const hrm_embedding_args *p, const int32_t *tokens, const float *d_out,
                            double *d_token_table, double *d_puzzle_rows, double *d_pos) {
    int S = p->prefix + p->seq_len, dim = p->dim;
    for (int b = 0; b < p->batch; b++)
        for (int s = 0; s < S; s++)
            for (int d = 0; d < dim; d++) {
                double g = (double)p->scale * d_out[((size_t)b * S + s) * dim + d];
                if (s < p->prefix) { /* the padding, q >= puzzle_width, gets no gradient */
                    int q = s * dim + d;
                    if (d_puzzle_rows && q < p->puzzle_width)
                        d_puzzle_rows[(size_t)b * p->puzzle_width + (size_t)q] = g;
                } else if (d_token_table) {
                    d_token_table[(size_t)tokens[b * p->seq_len + s - p->prefix] * dim + d] += g;
                }
                if (d_pos) d_pos[(size_t)s * dim + d] += g;
            }
}

/* ---- cross-entropy ------------------------------------------------------------------------ */

static double stablemax_s(double x) { return x >= 0 ? x + 1.0 : 1.0 / (1.0 - x); }
static double stablemax_ds(double x) { return x >= 0 ? 1.0 : 1.0 / ((1.0 - x) * (1.0 - x)); }

static int argmax_first(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static int valid_count(const hrm_xent_args *p, const int32_t *labels, int b) {
    int c = 0;
    for (int t = 0; t < p->seq_len; t++) c += labels[b * p->seq_len + t] != p->ignore_label;
    return c;
}

/* -log p(label) of one position. */
static double nll(const hrm_xent_args *p, const float *x, int label) {
    int V = p->vocab;
    if (p->kind == HRM_LOSS_SOFTMAX) {
        double mx = x[argmax_first(x, V)], sum = 0;
        for (int i = 0; i < V; i++) sum += exp((double)x[i] - mx);
        return mx + log(sum) - x[label];
    }
    double sum = 0;
    for (int i = 0; i < V; i++) sum += stablemax_s(x[i]);
    return -(log(stablemax_s(x[label])) - log(sum));
}

void ref_xent_forward(const hrm_xent_args *p, const float *logits, const int32_t *labels, double *loss, int32_t *count,
                      int32_t *correct, int32_t *preds) {
    for (int b = 0; b < p->batch; b++) {
        int cnt = valid_count(p, labels, b), ok = 0;
        double sum = 0;
        for (int t = 0; t < p->seq_len; t++) {
            const float *x = logits + ((size_t)b * p->seq_len + t) * p->vocab;
            int label = labels[b * p->seq_len + t], am = argmax_first(x, p->vocab);
            if (preds) preds[b * p->seq_len + t] = am;
            if (label == p->ignore_label) continue;
            ok += am == label;
            sum += nll(p, x, label);
        }
        loss[b] = sum / (cnt > 1 ? cnt : 1);
        count[b] = cnt;
        correct[b] = ok;
    }
}

void ref_xent_backward(const hrm_xent_args *p, const float *logits, const int32_t *labels, double *d_logits) {
    int V = p->vocab;
    for (int b = 0; b < p->batch; b++) {
        int cnt = valid_count(p, labels, b);
        double w = (double)p->grad_scale / (cnt > 1 ? cnt : 1);
        for (int t = 0; t < p->seq_len; t++) {
            const float *x = logits + ((size_t)b * p->seq_len + t) * V;
            double *dx = d_logits + ((size_t)b * p->seq_len + t) * V;
            int label = labels[b * p->seq_len + t];
            if (label == p->ignore_label) {
                for (int i = 0; i < V; i++) dx[i] = 0;
                continue;
            }
            if (p->kind == HRM_LOSS_SOFTMAX) {
                double mx = x[argmax_first(x, V)], sum = 0;
                for (int i = 0; i < V; i++) sum += exp((double)x[i] - mx);
                for (int i = 0; i < V; i++) dx[i] = w * (exp((double)x[i] - mx) / sum - (i == label));
            } else {
                double sum = 0;
                for (int i = 0; i < V; i++) sum += stablemax_s(x[i]);
                for (int i = 0; i < V; i++) dx[i] = w * stablemax_ds(x[i]) / sum;
                dx[label] -= w * stablemax_ds(x[label]) / stablemax_s(x[label]);
            }
        }
    }
}

/* ---- optimizers --------------------------------------------------------------------------- */

void ref_adam_atan2(const hrm_adam_args *p, const float *grad, double *param, double *m, double *v) {
    double b1 = p->beta1, b2 = p->beta2, lr = p->lr;
    double bc1 = 1.0 - pow(b1, (double)p->step), bc2 = 1.0 - pow(b2, (double)p->step);
    for (int64_t i = 0; i < p->n; i++) {
        double g = grad[i];
        param[i] *= 1.0 - lr * p->weight_decay;
        m[i] = b1 * m[i] + (1.0 - b1) * g;
        v[i] = b2 * v[i] + (1.0 - b2) * g * g;
        param[i] -= lr * atan2(m[i] / bc1, sqrt(v[i]) / sqrt(bc2));
    }
}

void ref_signsgd_rows(const hrm_signsgd_args *p, const int32_t *ids, const float *grads, double *weights) {
    int W = p->width;
    double *sum = malloc((size_t)W * sizeof *sum);
    for (int b = 0; b < p->batch; b++) {
        int seen = 0;
        for (int e = 0; e < b; e++) seen |= ids[e] == ids[b];
        if (seen) continue; /* that id was handled with its first slot */
        memset(sum, 0, (size_t)W * sizeof *sum);
        for (int e = b; e < p->batch; e++)
            if (ids[e] == ids[b])
                for (int j = 0; j < W; j++) sum[j] += grads[(size_t)e * W + j];
        double *w = weights + (size_t)ids[b] * W;
        for (int j = 0; j < W; j++) {
            double sg = sum[j] > 0 ? 1.0 : sum[j] < 0 ? -1.0 : 0.0;
            w[j] = w[j] * (1.0 - (double)p->lr * p->weight_decay) - (double)p->lr * sg;
        }
    }
    free(sum);
}
