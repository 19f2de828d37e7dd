/* hrm_span.h - the bounds arithmetic shared by the in-tree backends (CPU, OpenCL). Pure: it knows
 * nothing of either backend's buffers; the caller passes the buffer's size in elements and turns a
 * failure into its own error report with the message written here. */
#ifndef HRM_SPAN_H
#define HRM_SPAN_H

#include <stdint.h>
#include <stdio.h>

#include "hrm/backend.h"

/* *end = off + (count-1)*mstride + (rows-1)*ld + cols, in elements; 0 when that overflows. */
static inline int hrm_span_end(uint64_t off, uint64_t count, uint64_t mstride, uint64_t rows, uint64_t ld,
                               uint64_t cols, uint64_t *end) {
    *end = off;
    if (count == 0 || rows == 0 || cols == 0) return 1;
    uint64_t a, b;
    return !(__builtin_mul_overflow(count - 1, mstride, &a) || __builtin_mul_overflow(rows - 1, ld, &b) ||
             __builtin_add_overflow(off, a, end) || __builtin_add_overflow(*end, b, end) ||
             __builtin_add_overflow(*end, cols, end));
}

/* Checks that `count` matrices of `rows` x `cols` elements (row stride ld, matrix stride mstride)
 * starting at element `off` fit in a buffer of `have` elements, and that the strides are sane.
 * HRM_OK, or HRM_ERR_INVALID_ARG with the reason ("<op>: <name> ...") written to msg. */
static inline hrm_status hrm_span_check(const char *op, const char *name, uint64_t have, uint64_t off, uint64_t count,
                                        int64_t mstride, uint64_t rows, int64_t ld, uint64_t cols, char *msg,
                                        size_t msg_size) {
    if (mstride < 0 || ld < 0 || (rows > 1 && (uint64_t)ld < cols)) {
        snprintf(msg, msg_size, "%s: %s has a bad stride (ld %lld for rows of %llu, matrix stride %lld)", op, name,
                 (long long)ld, (unsigned long long)cols, (long long)mstride);
        return HRM_ERR_INVALID_ARG;
    }
    uint64_t end;
    if (!hrm_span_end(off, count, (uint64_t)mstride, rows, (uint64_t)ld, cols, &end)) end = UINT64_MAX;
    if (end > have || off > have) {
        snprintf(msg, msg_size, "%s: %s needs elements [%llu, %llu) but its buffer holds %llu", op, name,
                 (unsigned long long)off, (unsigned long long)end, (unsigned long long)have);
        return HRM_ERR_INVALID_ARG;
    }
    return HRM_OK;
}

/* hrm_span_check for one tensor argument: first that it has a buffer (has_buf) of this device
 * (own_device), then the span. `have` is the buffer's size in elements (ignored without a buffer). */
static inline hrm_status hrm_arg_check(const char *op, const char *name, int has_buf, int own_device, uint64_t have,
                                       uint64_t off, uint64_t count, int64_t mstride, uint64_t rows, int64_t ld,
                                       uint64_t cols, char *msg, size_t msg_size) {
    if (!has_buf) {
        snprintf(msg, msg_size, "%s: %s is NULL", op, name);
        return HRM_ERR_INVALID_ARG;
    }
    if (!own_device) {
        snprintf(msg, msg_size, "%s: %s belongs to another device", op, name);
        return HRM_ERR_INVALID_ARG;
    }
    return hrm_span_check(op, name, have, off, count, mstride, rows, ld, cols, msg, msg_size);
}

/* ---- per-op shape checks -------------------------------------------------------------------------
 * Each backend passes its own way to check one tensor and to report a failure, so it keeps its own
 * buffer type and error reporting; the order of the checks (and so which error wins) is shared. */
typedef struct hrm_checker {
    /* p holds count matrices of rows x cols elements (row stride ld, matrix stride mstride), else reports */
    hrm_status (*batched)(hrm_device *dev, const char *op, const char *name, hrm_ptr p, uint64_t count, int64_t mstride,
                          uint64_t rows, int64_t ld, uint64_t cols);
    /* reports msg as INVALID_ARG and returns that */
    hrm_status (*invalid)(hrm_device *dev, const char *msg);
    /* optional (NULL: not checked, e.g. ids that stay on a device): the n ids of p, already
     * bounds-checked, lie in [0, limit), or equal *ignore when ignore is not NULL */
    hrm_status (*ids)(hrm_device *dev, const char *op, const char *name, hrm_ptr p, int64_t n, int limit,
                      const int32_t *ignore);
} hrm_checker;

#define HRM_CK_TRY(expr)             \
    do {                             \
        hrm_status s_ = (expr);      \
        if (s_ != HRM_OK) return s_; \
    } while (0)

#define HRM_CK_REQUIRE(ck, dev, cond, ...)        \
    do {                                          \
        if (!(cond)) {                            \
            char m_[1024];                        \
            snprintf(m_, sizeof m_, __VA_ARGS__); \
            return (ck)->invalid((dev), m_);      \
        }                                         \
    } while (0)

static inline hrm_status hrm_ck(const hrm_checker *ck, hrm_device *dev, const char *op, const char *name, hrm_ptr p,
                                uint64_t elems) {
    return ck->batched(dev, op, name, p, 1, 0, 1, 0, elems);
}

static inline hrm_status hrm_ck_rows(const hrm_checker *ck, hrm_device *dev, const char *op, const char *name,
                                     hrm_ptr p, uint64_t rows, int64_t stride, uint64_t cols) {
    return ck->batched(dev, op, name, p, 1, 0, rows, stride, cols);
}

static inline hrm_status hrm_check_rmsnorm(const hrm_checker *ck, hrm_device *dev, const hrm_rmsnorm_args *a,
                                           int backward) {
    const char *op = backward ? "rmsnorm_backward" : "rmsnorm_forward";
    HRM_CK_REQUIRE(ck, dev, a->rows >= 0 && a->dim >= 1, "%s: bad sizes rows=%lld dim=%d", op, (long long)a->rows,
                   a->dim);
    uint64_t n = (uint64_t)a->rows * (uint64_t)a->dim;
    HRM_CK_TRY(hrm_ck(ck, dev, op, "y", a->y, n));
    HRM_CK_TRY(hrm_ck(ck, dev, op, "rstd", a->rstd, (uint64_t)a->rows));
    if (backward) {
        HRM_CK_TRY(hrm_ck(ck, dev, op, "dy", a->dy, n));
        return hrm_ck(ck, dev, op, "dh", a->dh, n);
    }
    if (a->r.buf) HRM_CK_TRY(hrm_ck(ck, dev, op, "r", a->r, n));
    return hrm_ck(ck, dev, op, "x", a->x, n);
}

static inline hrm_status hrm_check_swiglu(const hrm_checker *ck, hrm_device *dev, const hrm_swiglu_args *a,
                                          int backward) {
    const char *op = backward ? "swiglu_backward" : "swiglu_forward";
    HRM_CK_REQUIRE(ck, dev, a->rows >= 0 && a->inter >= 1, "%s: bad sizes rows=%lld inter=%d", op, (long long)a->rows,
                   a->inter);
    uint64_t n = (uint64_t)a->rows * (uint64_t)a->inter;
    HRM_CK_TRY(hrm_ck(ck, dev, op, "gu", a->gu, 2 * n));
    if (!backward) return hrm_ck(ck, dev, op, "out", a->out, n);
    HRM_CK_TRY(hrm_ck(ck, dev, op, "d_out", a->d_out, n));
    return hrm_ck(ck, dev, op, "d_gu", a->d_gu, 2 * n);
}

/* adam_atan2: n >= 0, step >= 1, and param, grad, m, v each hold n elements. */
static inline hrm_status hrm_check_adam(const hrm_checker *ck, hrm_device *dev, const hrm_adam_args *a) {
    HRM_CK_REQUIRE(ck, dev, a->n >= 0 && a->step >= 1, "adam_atan2: bad n=%lld step=%lld (step counts from 1)",
                   (long long)a->n, (long long)a->step);
    uint64_t n = (uint64_t)a->n;
    HRM_CK_TRY(hrm_ck(ck, dev, "adam_atan2", "param", a->param, n));
    HRM_CK_TRY(hrm_ck(ck, dev, "adam_atan2", "grad", a->grad, n));
    HRM_CK_TRY(hrm_ck(ck, dev, "adam_atan2", "m", a->m, n));
    return hrm_ck(ck, dev, "adam_atan2", "v", a->v, n);
}

/* ck->ids, when set, also checks the token and puzzle ids (host-visible buffers only). */
static inline hrm_status hrm_check_embedding(const hrm_checker *ck, hrm_device *dev, const hrm_embedding_args *a,
                                             int backward) {
    const char *op = backward ? "embedding_backward" : "embedding_forward";
    HRM_CK_REQUIRE(ck, dev, a->batch >= 0 && a->seq_len >= 0 && a->prefix >= 0 && a->dim >= 1 && a->vocab >= 1,
                   "%s: bad sizes batch=%d seq_len=%d prefix=%d dim=%d vocab=%d", op, a->batch, a->seq_len, a->prefix,
                   a->dim, a->vocab);
    uint64_t B = (uint64_t)a->batch, S = (uint64_t)a->seq_len + (uint64_t)a->prefix, D = (uint64_t)a->dim;
    uint64_t prefix_elems = (uint64_t)a->prefix * D, width = (uint64_t)a->puzzle_width;
    HRM_CK_REQUIRE(ck, dev, a->prefix == 0 || (a->puzzle_width >= 1 && width <= prefix_elems),
                   "%s: puzzle_width %d outside [1, prefix*dim = %llu]", op, a->puzzle_width,
                   (unsigned long long)prefix_elems);
    if (!backward || a->d_token_table.buf) {
        HRM_CK_TRY(hrm_ck(ck, dev, op, "tokens", a->tokens, B * (uint64_t)a->seq_len));
        if (ck->ids) HRM_CK_TRY(ck->ids(dev, op, "tokens", a->tokens, a->batch * (int64_t)a->seq_len, a->vocab, NULL));
    }
    if (backward) {
        HRM_CK_TRY(hrm_ck(ck, dev, op, "d_out", a->d_out, B * S * D));
        if (a->d_token_table.buf)
            HRM_CK_TRY(hrm_ck(ck, dev, op, "d_token_table", a->d_token_table, (uint64_t)a->vocab * D));
        if (a->d_puzzle_rows.buf) HRM_CK_TRY(hrm_ck(ck, dev, op, "d_puzzle_rows", a->d_puzzle_rows, B * width));
        if (a->d_pos.buf) HRM_CK_TRY(hrm_ck(ck, dev, op, "d_pos", a->d_pos, S * D));
        return HRM_OK;
    }
    HRM_CK_TRY(hrm_ck(ck, dev, op, "token_table", a->token_table, (uint64_t)a->vocab * D));
    HRM_CK_TRY(hrm_ck(ck, dev, op, "out", a->out, B * S * D));
    if (a->pos.buf) HRM_CK_TRY(hrm_ck(ck, dev, op, "pos", a->pos, S * D));
    if (a->prefix == 0) return HRM_OK;
    HRM_CK_REQUIRE(ck, dev, a->num_puzzle_ids >= 1, "%s: prefix %d needs num_puzzle_ids >= 1", op, a->prefix);
    HRM_CK_TRY(hrm_ck(ck, dev, op, "puzzle_table", a->puzzle_table, (uint64_t)a->num_puzzle_ids * width));
    HRM_CK_TRY(hrm_ck(ck, dev, op, "puzzle_ids", a->puzzle_ids, B));
    if (ck->ids) return ck->ids(dev, op, "puzzle_ids", a->puzzle_ids, a->batch, a->num_puzzle_ids, NULL);
    return HRM_OK;
}

/* matmul, in two parts so that a backend can add its own limits between them (a BLAS int):
 * sizes first, then leading dimensions and the tensors. */
static inline hrm_status hrm_check_matmul_sizes(const hrm_checker *ck, hrm_device *dev, const hrm_matmul_args *a) {
    HRM_CK_REQUIRE(ck, dev, a->m >= 0 && a->n >= 0 && a->k >= 0 && a->batch >= 1,
                   "matmul: bad sizes m=%d n=%d k=%d batch=%d", a->m, a->n, a->k, a->batch);
    return HRM_OK;
}

static inline hrm_status hrm_check_matmul_tensors(const hrm_checker *ck, hrm_device *dev, const hrm_matmul_args *a) {
    const char *op = "matmul";
    int64_t a_rows = a->trans_a ? a->k : a->m, a_cols = a->trans_a ? a->m : a->k;
    int64_t b_rows = a->trans_b ? a->n : a->k, b_cols = a->trans_b ? a->k : a->n;
    /* BLAS insists on ld >= max(1, cols) even when the matrix is empty */
    HRM_CK_REQUIRE(ck, dev,
                   a->lda >= (a_cols > 1 ? a_cols : 1) && a->ldb >= (b_cols > 1 ? b_cols : 1) &&
                       a->ldc >= (a->n > 1 ? a->n : 1),
                   "%s: leading dimension too small (lda %lld, ldb %lld, ldc %lld)", op, (long long)a->lda,
                   (long long)a->ldb, (long long)a->ldc);
    if (a->m == 0 || a->n == 0) return HRM_OK;
    if (a->k > 0) {
        HRM_CK_TRY(ck->batched(dev, op, "a", a->a, (uint64_t)a->batch, a->stride_a, (uint64_t)a_rows, a->lda,
                               (uint64_t)a_cols));
        HRM_CK_TRY(ck->batched(dev, op, "b", a->b, (uint64_t)a->batch, a->stride_b, (uint64_t)b_rows, a->ldb,
                               (uint64_t)b_cols));
    }
    return ck->batched(dev, op, "c", a->c, (uint64_t)a->batch, a->stride_c, (uint64_t)a->m, a->ldc, (uint64_t)a->n);
}

/* add: n >= 0 and out, a, b (and c when given) hold n elements. */
static inline hrm_status hrm_check_add(const hrm_checker *ck, hrm_device *dev, const hrm_add_args *a) {
    HRM_CK_REQUIRE(ck, dev, a->n >= 0, "add: n=%lld is negative", (long long)a->n);
    uint64_t n = (uint64_t)a->n;
    HRM_CK_TRY(hrm_ck(ck, dev, "add", "out", a->out, n));
    HRM_CK_TRY(hrm_ck(ck, dev, "add", "a", a->a, n));
    HRM_CK_TRY(hrm_ck(ck, dev, "add", "b", a->b, n));
    if (a->c.buf) return hrm_ck(ck, dev, "add", "c", a->c, n);
    return HRM_OK;
}

/* RoPE (op = "rope_forward" or "rope_backward"): even head_dim, x and out rows, cos and sin. */
static inline hrm_status hrm_check_rope(const hrm_checker *ck, hrm_device *dev, const hrm_rope_args *a,
                                        const char *op) {
    HRM_CK_REQUIRE(ck, dev, a->batch >= 0 && a->seq >= 0 && a->heads >= 1 && a->head_dim >= 2 && a->head_dim % 2 == 0,
                   "%s: bad sizes batch=%d seq=%d heads=%d head_dim=%d (head_dim must be even)", op, a->batch, a->seq,
                   a->heads, a->head_dim);
    uint64_t rows = (uint64_t)a->batch * (uint64_t)a->seq, width = (uint64_t)a->heads * (uint64_t)a->head_dim;
    if (rows == 0) return HRM_OK;
    HRM_CK_TRY(hrm_ck_rows(ck, dev, op, "x", a->x, rows, a->row_stride, width));
    HRM_CK_TRY(hrm_ck_rows(ck, dev, op, "out", a->out, rows, a->row_stride, width));
    HRM_CK_TRY(hrm_ck(ck, dev, op, "cos", a->cos, (uint64_t)a->seq * (uint64_t)(a->head_dim / 2)));
    return hrm_ck(ck, dev, op, "sin", a->sin, (uint64_t)a->seq * (uint64_t)(a->head_dim / 2));
}

/* signsgd_rows: sizes, then ids, grads, weights; ck->ids, when set, the ids' values. */
static inline hrm_status hrm_check_signsgd(const hrm_checker *ck, hrm_device *dev, const hrm_signsgd_args *a) {
    const char *op = "signsgd_rows";
    HRM_CK_REQUIRE(ck, dev, a->batch >= 0 && a->width >= 0 && a->num_rows >= 0,
                   "%s: bad sizes batch=%d width=%d num_rows=%d", op, a->batch, a->width, a->num_rows);
    HRM_CK_TRY(hrm_ck(ck, dev, op, "ids", a->ids, (uint64_t)a->batch));
    HRM_CK_TRY(hrm_ck(ck, dev, op, "grads", a->grads, (uint64_t)a->batch * (uint64_t)a->width));
    HRM_CK_TRY(hrm_ck(ck, dev, op, "weights", a->weights, (uint64_t)a->num_rows * (uint64_t)a->width));
    if (ck->ids) return ck->ids(dev, op, "ids", a->ids, a->batch, a->num_rows, NULL);
    return HRM_OK;
}

/* Cross-entropy: sizes and kind, logits and labels (ck->ids, when set, checks the labels lie in
 * [0, vocab) or are the ignore label), then d_logits (backward) or loss, count, correct, preds. */
static inline hrm_status hrm_check_xent(const hrm_checker *ck, hrm_device *dev, const hrm_xent_args *a, int backward) {
    const char *op = backward ? "xent_backward" : "xent_forward";
    HRM_CK_REQUIRE(ck, dev, a->batch >= 0 && a->seq_len >= 0 && a->vocab >= 1,
                   "%s: bad sizes batch=%d seq_len=%d vocab=%d", op, a->batch, a->seq_len, a->vocab);
    HRM_CK_REQUIRE(ck, dev, a->kind == HRM_LOSS_SOFTMAX || a->kind == HRM_LOSS_STABLEMAX, "%s: unknown loss kind %d",
                   op, (int)a->kind);
    uint64_t positions = (uint64_t)a->batch * (uint64_t)a->seq_len;
    HRM_CK_TRY(hrm_ck(ck, dev, op, "logits", a->logits, positions * (uint64_t)a->vocab));
    HRM_CK_TRY(hrm_ck(ck, dev, op, "labels", a->labels, positions));
    if (ck->ids) {
        int32_t ignore = a->ignore_label;
        HRM_CK_TRY(ck->ids(dev, op, "labels", a->labels, (int64_t)positions, a->vocab, &ignore));
    }
    if (backward) return hrm_ck(ck, dev, op, "d_logits", a->d_logits, positions * (uint64_t)a->vocab);
    HRM_CK_TRY(hrm_ck(ck, dev, op, "loss", a->loss, (uint64_t)a->batch));
    HRM_CK_TRY(hrm_ck(ck, dev, op, "count", a->count, (uint64_t)a->batch));
    HRM_CK_TRY(hrm_ck(ck, dev, op, "correct", a->correct, (uint64_t)a->batch));
    if (a->preds.buf) return hrm_ck(ck, dev, op, "preds", a->preds, positions);
    return HRM_OK;
}

/* Attention sizes every in-tree backend supports (head_dim up to 128); a backend checks its own
 * stride limits after this and before hrm_check_attention_tensors. */
static inline hrm_status hrm_check_attention_sizes(const hrm_checker *ck, hrm_device *dev, const hrm_attention_args *a,
                                                   int backward) {
    HRM_CK_REQUIRE(ck, dev, a->batch >= 0 && a->seq >= 0 && a->heads >= 1 && a->head_dim >= 1 && a->head_dim <= 128,
                   "%s: bad sizes batch=%d seq=%d heads=%d head_dim=%d (head_dim must be 1..128)",
                   backward ? "attention_backward" : "attention_forward", a->batch, a->seq, a->heads, a->head_dim);
    return HRM_OK;
}

/* The attention tensors; the backend checks the sizes and strides it supports first. */
static inline hrm_status hrm_check_attention_tensors(const hrm_checker *ck, hrm_device *dev,
                                                     const hrm_attention_args *a, int backward) {
    const char *op = backward ? "attention_backward" : "attention_forward";
    uint64_t rows = (uint64_t)a->batch * (uint64_t)a->seq, width = (uint64_t)a->heads * (uint64_t)a->head_dim;
    if (rows == 0) return HRM_OK;
    HRM_CK_TRY(hrm_ck_rows(ck, dev, op, "q", a->q, rows, a->qkv_row_stride, width));
    HRM_CK_TRY(hrm_ck_rows(ck, dev, op, "k", a->k, rows, a->qkv_row_stride, width));
    HRM_CK_TRY(hrm_ck_rows(ck, dev, op, "v", a->v, rows, a->qkv_row_stride, width));
    HRM_CK_TRY(hrm_ck_rows(ck, dev, op, "o", a->o, rows, a->o_row_stride, width));
    HRM_CK_TRY(hrm_ck(ck, dev, op, "lse", a->lse, rows * (uint64_t)a->heads));
    if (!backward) return HRM_OK;
    HRM_CK_TRY(hrm_ck_rows(ck, dev, op, "d_o", a->d_o, rows, a->o_row_stride, width));
    HRM_CK_TRY(hrm_ck_rows(ck, dev, op, "dq", a->dq, rows, a->dqkv_row_stride, width));
    HRM_CK_TRY(hrm_ck_rows(ck, dev, op, "dk", a->dk, rows, a->dqkv_row_stride, width));
    return hrm_ck_rows(ck, dev, op, "dv", a->dv, rows, a->dqkv_row_stride, width);
}

#endif
