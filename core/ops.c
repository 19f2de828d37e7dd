/* core/ops.c - the call layer of ops.h: element units to bytes, and a failure's line recorded. */
#include "ops.h"

#include <stdio.h>

hrm_status op_check(const hrm_ops *o, hrm_status st, const char *what) {
    if (st != HRM_OK && o->err && o->err_size)
        snprintf(o->err, o->err_size, "%s: %s", what, o->ctx->f->last_error(o->ctx->be));
    return st;
}

/* ---- memory ----------------------------------------------------------------------------------- */

hrm_status op_alloc(const hrm_ops *o, size_t n, hrm_buffer **out, const char *what) {
    hrm_status st = o->ctx->f->buffer_alloc(o->ctx->dev, (n ? n : 1) * 4, out);
    if (st != HRM_OK) *out = NULL;
    return op_check(o, st, what);
}

void op_free(const hrm_ops *o, hrm_buffer *buf) {
    if (buf) o->ctx->f->buffer_free(buf);
}

hrm_status op_write(const hrm_ops *o, hrm_ptr dst, const void *src, size_t n, const char *what) {
    return op_check(o, o->ctx->f->buffer_write(dst.buf, dst.off * 4, src, n * 4), what);
}

hrm_status op_read(const hrm_ops *o, hrm_ptr src, void *dst, size_t n, const char *what) {
    return op_check(o, o->ctx->f->buffer_read(src.buf, src.off * 4, dst, n * 4), what);
}

hrm_status op_copy(const hrm_ops *o, hrm_ptr dst, hrm_ptr src, size_t n, const char *what) {
    return op_check(o, o->ctx->f->buffer_copy(dst.buf, dst.off * 4, src.buf, src.off * 4, n * 4), what);
}

/* buffer_fill already counts elements */
hrm_status op_fill(const hrm_ops *o, hrm_ptr dst, size_t n, float value, const char *what) {
    return op_check(o, o->ctx->f->buffer_fill(dst.buf, dst.off, n, value), what);
}

/* ---- compute ---------------------------------------------------------------------------------- */

hrm_status op_matmul(const hrm_ops *o, const hrm_matmul_args *a, hrm_matmul_precision p, const char *what) {
    return op_check(o, hrm_ctx_matmul(o->ctx, a, p), what);
}

/* The rest are one backend entry each, called with the device. */
#define OP_KERNEL(name, args_type)                                                 \
    hrm_status op_##name(const hrm_ops *o, const args_type *a, const char *what) { \
        return op_check(o, o->ctx->f->name(o->ctx->dev, a), what);                 \
    }

OP_KERNEL(attention_forward, hrm_attention_args)
OP_KERNEL(attention_backward, hrm_attention_args)
OP_KERNEL(rope_forward, hrm_rope_args)
OP_KERNEL(rope_backward, hrm_rope_args)
OP_KERNEL(add, hrm_add_args)
OP_KERNEL(rmsnorm_forward, hrm_rmsnorm_args)
OP_KERNEL(rmsnorm_backward, hrm_rmsnorm_args)
OP_KERNEL(swiglu_forward, hrm_swiglu_args)
OP_KERNEL(swiglu_backward, hrm_swiglu_args)
OP_KERNEL(embedding_forward, hrm_embedding_args)
OP_KERNEL(embedding_backward, hrm_embedding_args)
OP_KERNEL(xent_forward, hrm_xent_args)
OP_KERNEL(xent_backward, hrm_xent_args)
OP_KERNEL(adam_atan2, hrm_adam_args)
OP_KERNEL(signsgd_rows, hrm_signsgd_args)
