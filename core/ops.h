/* core/ops.h - how core calls a backend: the operation table of include/hrm/backend.h behind a
 * thin layer in core's units. Not installed.
 *
 * - Buffers are addressed by hrm_ptr and sized in 4-byte elements (fp32 or int32), as tensors
 *   are everywhere in core; the layer turns them into the byte offsets and sizes of the
 *   buffer_* entries, so no call site multiplies by 4.
 * - Every call takes `what`, the line's beginning to record if the backend fails: the owner's
 *   error buffer (hrm_ops.err) then reads "<what>: <the backend's last error>", and the call
 *   returns the backend's status unchanged. With TRY (status.h) a call site is one line:
 *       TRY(op_fill(&m->ops, m->ones, n, 1.0f, "model: filling ones"));
 * - Nothing else: no checks, no retries, no state beyond the owner's error line. The layer is
 *   the only place in core that reads ctx->f, apart from loader.c, which opens backends. */
#ifndef HRM_CORE_OPS_H
#define HRM_CORE_OPS_H

#include <stddef.h>

#include "hrm/hrm.h"

typedef struct hrm_ops {
    const hrm_ctx *ctx; /* borrowed */
    char *err;          /* the owner's error line, err_size bytes */
    size_t err_size;
} hrm_ops;

/* Records "<what>: <the backend's last error>" when st is a failure; returns st. */
hrm_status op_check(const hrm_ops *o, hrm_status st, const char *what);

/* ---- memory: n elements of 4 bytes ------------------------------------------------------------ */

/* A new buffer of n elements (at least one); *out is NULL on failure. */
hrm_status op_alloc(const hrm_ops *o, size_t n, hrm_buffer **out, const char *what);
/* Frees buf; NULL is ignored. */
void op_free(const hrm_ops *o, hrm_buffer *buf);
hrm_status op_write(const hrm_ops *o, hrm_ptr dst, const void *src, size_t n, const char *what);
hrm_status op_read(const hrm_ops *o, hrm_ptr src, void *dst, size_t n, const char *what);
hrm_status op_copy(const hrm_ops *o, hrm_ptr dst, hrm_ptr src, size_t n, const char *what);
hrm_status op_fill(const hrm_ops *o, hrm_ptr dst, size_t n, float value, const char *what);

/* ---- compute: the backend's ops, their arguments as backend.h documents them ------------------- */

/* At precision p (hrm_ctx_matmul: HRM_PRECISION_HIGHEST is the fp32 matmul). */
hrm_status op_matmul(const hrm_ops *o, const hrm_matmul_args *a, hrm_matmul_precision p, const char *what);
hrm_status op_attention_forward(const hrm_ops *o, const hrm_attention_args *a, const char *what);
hrm_status op_attention_backward(const hrm_ops *o, const hrm_attention_args *a, const char *what);
hrm_status op_rope_forward(const hrm_ops *o, const hrm_rope_args *a, const char *what);
hrm_status op_rope_backward(const hrm_ops *o, const hrm_rope_args *a, const char *what);
hrm_status op_add(const hrm_ops *o, const hrm_add_args *a, const char *what);
hrm_status op_rmsnorm_forward(const hrm_ops *o, const hrm_rmsnorm_args *a, const char *what);
hrm_status op_rmsnorm_backward(const hrm_ops *o, const hrm_rmsnorm_args *a, const char *what);
hrm_status op_swiglu_forward(const hrm_ops *o, const hrm_swiglu_args *a, const char *what);
hrm_status op_swiglu_backward(const hrm_ops *o, const hrm_swiglu_args *a, const char *what);
hrm_status op_embedding_forward(const hrm_ops *o, const hrm_embedding_args *a, const char *what);
hrm_status op_embedding_backward(const hrm_ops *o, const hrm_embedding_args *a, const char *what);
hrm_status op_xent_forward(const hrm_ops *o, const hrm_xent_args *a, const char *what);
hrm_status op_xent_backward(const hrm_ops *o, const hrm_xent_args *a, const char *what);
hrm_status op_adam_atan2(const hrm_ops *o, const hrm_adam_args *a, const char *what);
hrm_status op_signsgd_rows(const hrm_ops *o, const hrm_signsgd_args *a, const char *what);

#endif /* HRM_CORE_OPS_H */
