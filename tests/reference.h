/* tests/reference.h - naive double-precision implementations of every backend op, written
 * straight from the comments of include/hrm/backend.h, to check the CPU backend against.
 *
 * Each takes the op's argument struct for its scalars (shapes, strides, flags; the hrm_ptr
 * fields are ignored) and host arrays laid out as the device tensors are, starting at the
 * tensor's first element. Outputs are double; "in/out" arrays hold the previous contents. */
#ifndef HRM_TESTS_REFERENCE_H
#define HRM_TESTS_REFERENCE_H

#include <stdint.h>

#include "hrm/backend.h"

/* c (in/out): the whole strided storage of C over all batches. */
void ref_matmul(const hrm_matmul_args *p, const float *a, const float *b, double *c);

/* q, k, v point at their first element (for a packed qkv: into one array). o has o_row_stride;
 * lse [batch, heads, seq]. Only the elements the op defines are written. */
void ref_attention_forward(const hrm_attention_args *p, const float *q, const float *k, const float *v, double *o,
                           double *lse);
/* dq, dk, dv share dqkv_row_stride (they may point into one array). */
void ref_attention_backward(const hrm_attention_args *p, const float *q, const float *k, const float *v,
                            const float *d_o, double *dq, double *dk, double *dv);

/* Writes only the rotated elements of out (same layout as x). */
void ref_rope(const hrm_rope_args *p, int backward, const float *x, const float *cos_t, const float *sin_t,
              double *out);

void ref_add(int64_t n, const float *a, const float *b, const float *c, double *out); /* c may be NULL */

void ref_rmsnorm_forward(const hrm_rmsnorm_args *p, const float *x, const float *r, double *y, double *rstd);
void ref_rmsnorm_backward(const hrm_rmsnorm_args *p, const float *dy, const float *y, const float *rstd, double *dh);

void ref_swiglu_forward(const hrm_swiglu_args *p, const float *gu, double *out);
void ref_swiglu_backward(const hrm_swiglu_args *p, const float *gu, const float *d_out, double *d_gu);

/* puzzle_table [num_puzzle_ids, puzzle_width], zero-padded to prefix*dim; pos may be NULL. */
void ref_embedding_forward(const hrm_embedding_args *p, const int32_t *tokens, const int32_t *puzzle_ids,
                           const float *token_table, const float *puzzle_table, const float *pos, double *out);
/* d_token_table and d_pos accumulate (in/out), d_puzzle_rows [batch, puzzle_width] is written;
 * each may be NULL. */
void ref_embedding_backward(const hrm_embedding_args *p, const int32_t *tokens, const float *d_out,
                            double *d_token_table, double *d_puzzle_rows, double *d_pos);

/* preds may be NULL. */
void ref_xent_forward(const hrm_xent_args *p, const float *logits, const int32_t *labels, double *loss, int32_t *count,
                      int32_t *correct, int32_t *preds);
void ref_xent_backward(const hrm_xent_args *p, const float *logits, const int32_t *labels, double *d_logits);

/* param, m, v in/out. */
void ref_adam_atan2(const hrm_adam_args *p, const float *grad, double *param, double *m, double *v);

/* weights [num_rows, width] in/out. */
void ref_signsgd_rows(const hrm_signsgd_args *p, const int32_t *ids, const float *grads, double *weights);

#endif /* HRM_TESTS_REFERENCE_H */
