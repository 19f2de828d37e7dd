/* tests/plugins/stub.h - a complete backend table whose every slot refuses politely, for the
 * loader's test plugins: each plugin breaks exactly one rule on top of it. */
#ifndef HRM_TESTS_PLUGINS_STUB_H
#define HRM_TESTS_PLUGINS_STUB_H

#include "hrm/backend.h"

static hrm_status stub_create(const hrm_host *host, hrm_backend **out) {
    (void)host;
    *out = NULL;
    return HRM_ERR_NOT_AVAILABLE;
}
static void stub_destroy(hrm_backend *be) { (void)be; }
static const char *stub_last_error(hrm_backend *be) {
    (void)be;
    return "test plugin: nothing here";
}
static int stub_device_count(hrm_backend *be) {
    (void)be;
    return 0;
}
static hrm_status stub_device_info(hrm_backend *be, int index, hrm_device_info *out) {
    (void)be, (void)index, (void)out;
    return HRM_ERR_UNSUPPORTED;
}
static hrm_status stub_device_open(hrm_backend *be, int index, hrm_device **out) {
    (void)be, (void)index;
    *out = NULL;
    return HRM_ERR_UNSUPPORTED;
}
static void stub_device_close(hrm_device *dev) { (void)dev; }
static hrm_status stub_memory_usage(hrm_device *dev, uint64_t *current, uint64_t *peak) {
    (void)dev;
    *current = *peak = 0;
    return HRM_ERR_UNSUPPORTED;
}
static hrm_status stub_buffer_alloc(hrm_device *dev, size_t bytes, hrm_buffer **out) {
    (void)dev, (void)bytes;
    *out = NULL;
    return HRM_ERR_UNSUPPORTED;
}
static void stub_buffer_free(hrm_buffer *buf) { (void)buf; }
static hrm_status stub_buffer_write(hrm_buffer *dst, size_t offset, const void *src, size_t bytes) {
    (void)dst, (void)offset, (void)src, (void)bytes;
    return HRM_ERR_UNSUPPORTED;
}
static hrm_status stub_buffer_read(hrm_buffer *src, size_t offset, void *dst, size_t bytes) {
    (void)src, (void)offset, (void)dst, (void)bytes;
    return HRM_ERR_UNSUPPORTED;
}
static hrm_status stub_buffer_copy(hrm_buffer *dst, size_t dst_offset, hrm_buffer *src, size_t src_offset,
                                   size_t bytes) {
    (void)dst, (void)dst_offset, (void)src, (void)src_offset, (void)bytes;
    return HRM_ERR_UNSUPPORTED;
}
static hrm_status stub_buffer_fill(hrm_buffer *buf, size_t offset, size_t count, float value) {
    (void)buf, (void)offset, (void)count, (void)value;
    return HRM_ERR_UNSUPPORTED;
}
static hrm_status stub_finish(hrm_device *dev) {
    (void)dev;
    return HRM_ERR_UNSUPPORTED;
}

/* One refusing function per op argument type. */
#define STUB_OP(name, args_type)                                         \
    static hrm_status stub_##name(hrm_device *dev, const args_type *a) { \
        (void)dev, (void)a;                                              \
        return HRM_ERR_UNSUPPORTED;                                      \
    }
STUB_OP(matmul, hrm_matmul_args)
STUB_OP(attention, hrm_attention_args)
STUB_OP(rope, hrm_rope_args)
STUB_OP(add, hrm_add_args)
STUB_OP(rmsnorm, hrm_rmsnorm_args)
STUB_OP(swiglu, hrm_swiglu_args)
STUB_OP(embedding, hrm_embedding_args)
STUB_OP(xent, hrm_xent_args)
STUB_OP(adam, hrm_adam_args)
STUB_OP(signsgd, hrm_signsgd_args)
#undef STUB_OP

/* Designated initialisers of every slot after the header fields. */
#define STUB_SLOTS                                                                                                    \
    .create = stub_create, .destroy = stub_destroy, .last_error = stub_last_error, .device_count = stub_device_count, \
    .device_info = stub_device_info, .device_open = stub_device_open, .device_close = stub_device_close,              \
    .memory_usage = stub_memory_usage, .buffer_alloc = stub_buffer_alloc, .buffer_free = stub_buffer_free,            \
    .buffer_write = stub_buffer_write, .buffer_read = stub_buffer_read, .buffer_copy = stub_buffer_copy,              \
    .buffer_fill = stub_buffer_fill, .finish = stub_finish, .matmul = stub_matmul,                                    \
    .attention_forward = stub_attention, .attention_backward = stub_attention, .rope_forward = stub_rope,             \
    .rope_backward = stub_rope, .add = stub_add, .rmsnorm_forward = stub_rmsnorm, .rmsnorm_backward = stub_rmsnorm,   \
    .swiglu_forward = stub_swiglu, .swiglu_backward = stub_swiglu, .embedding_forward = stub_embedding,               \
    .embedding_backward = stub_embedding, .xent_forward = stub_xent, .xent_backward = stub_xent,                      \
    .adam_atan2 = stub_adam, .signsgd_rows = stub_signsgd

#endif /* HRM_TESTS_PLUGINS_STUB_H */
