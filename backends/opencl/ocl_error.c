/* ocl_error.c - the OpenCL backend's error and logging helpers (ocl_fail, ocl_cl_fail, ocl_log,
 * ocl_err_name) and the bounds checks behind the shared per-op shape checks (ocl_checker), which
 * every file of the backend uses: here, apart from the plugin table (ocl_backend.c), so that calls
 * between the backend's files go one way. */
#include <stdarg.h>
#include <stdio.h>

#include "ocl_internal.h"

/* ---- errors and logging --------------------------------------------------------------------- */

const char *ocl_err_name(cl_int err) {
    switch (err) {
        /* one macro call per table entry, packed */
        // clang-format off
#define E(x)                                                                                       \
    case x: return #x;
        E(CL_SUCCESS) E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE) E(CL_COMPILER_NOT_AVAILABLE)
        E(CL_MEM_OBJECT_ALLOCATION_FAILURE) E(CL_OUT_OF_RESOURCES) E(CL_OUT_OF_HOST_MEMORY)
        E(CL_PROFILING_INFO_NOT_AVAILABLE) E(CL_MEM_COPY_OVERLAP) E(CL_IMAGE_FORMAT_MISMATCH)
        E(CL_IMAGE_FORMAT_NOT_SUPPORTED) E(CL_BUILD_PROGRAM_FAILURE) E(CL_MAP_FAILURE)
        E(CL_MISALIGNED_SUB_BUFFER_OFFSET) E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
        E(CL_COMPILE_PROGRAM_FAILURE) E(CL_LINKER_NOT_AVAILABLE) E(CL_LINK_PROGRAM_FAILURE)
        E(CL_DEVICE_PARTITION_FAILED) E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) E(CL_INVALID_VALUE)
        E(CL_INVALID_DEVICE_TYPE) E(CL_INVALID_PLATFORM) E(CL_INVALID_DEVICE) E(CL_INVALID_CONTEXT)
        E(CL_INVALID_QUEUE_PROPERTIES) E(CL_INVALID_COMMAND_QUEUE) E(CL_INVALID_HOST_PTR)
        E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) E(CL_INVALID_IMAGE_SIZE)
        E(CL_INVALID_SAMPLER) E(CL_INVALID_BINARY) E(CL_INVALID_BUILD_OPTIONS) E(CL_INVALID_PROGRAM)
        E(CL_INVALID_PROGRAM_EXECUTABLE) E(CL_INVALID_KERNEL_NAME) E(CL_INVALID_KERNEL_DEFINITION)
        E(CL_INVALID_KERNEL) E(CL_INVALID_ARG_INDEX) E(CL_INVALID_ARG_VALUE) E(CL_INVALID_ARG_SIZE)
        E(CL_INVALID_KERNEL_ARGS) E(CL_INVALID_WORK_DIMENSION) E(CL_INVALID_WORK_GROUP_SIZE)
        E(CL_INVALID_WORK_ITEM_SIZE) E(CL_INVALID_GLOBAL_OFFSET) E(CL_INVALID_EVENT_WAIT_LIST)
        E(CL_INVALID_EVENT) E(CL_INVALID_OPERATION) E(CL_INVALID_GL_OBJECT) E(CL_INVALID_BUFFER_SIZE)
        E(CL_INVALID_MIP_LEVEL) E(CL_INVALID_GLOBAL_WORK_SIZE) E(CL_INVALID_PROPERTY)
        E(CL_INVALID_IMAGE_DESCRIPTOR) E(CL_INVALID_COMPILER_OPTIONS) E(CL_INVALID_LINKER_OPTIONS)
        E(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef E
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "unknown OpenCL error";
        // clang-format on
    }
}

/* last_error carries no "opencl: " prefix (like the CPU backend's): the loader and the tools put
 * the backend's name in front where it is not obvious. */
hrm_status ocl_fail(hrm_backend *be, hrm_status status, const char *fmt, ...) {
    char msg[sizeof be->error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&be->lock);
    snprintf(be->error, sizeof be->error, "%s", msg);
    pthread_mutex_unlock(&be->lock);
    ocl_log(be, HRM_LOG_DEBUG, "%s", msg);
    return status;
}

void ocl_log(hrm_backend *be, hrm_log_level level, const char *fmt, ...) {
    if (!be->log) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    be->log(be->log_user, level, OCL_BACKEND_NAME, msg);
}

hrm_status ocl_cl_fail(hrm_backend *be, cl_int err, const char *op, const char *what) {
    if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES || err == CL_OUT_OF_HOST_MEMORY)
        return ocl_fail(be, HRM_ERR_OUT_OF_MEMORY, "%s: out of device memory: %s failed (%s)", op, what,
                        ocl_err_name(err));
    return ocl_fail(be, HRM_ERR_DEVICE, "%s: %s failed: %s (%d)", op, what, ocl_err_name(err), (int)err);
}

/* ---- bounds checks (arithmetic in backends/common/hrm_span.h) ------------------------------- */

hrm_status ocl_check_batched(hrm_device *dev, const char *op, const char *name, hrm_ptr p, uint64_t count,
                             int64_t mstride, uint64_t rows, int64_t ld, uint64_t cols) {
    char msg[1024];
    hrm_status st = hrm_arg_check(op, name, p.buf != NULL, p.buf && p.buf->dev == dev, p.buf ? p.buf->bytes / 4 : 0,
                                  p.off, count, mstride, rows, ld, cols, msg, sizeof msg);
    return st == HRM_OK ? HRM_OK : ocl_fail(dev->be, st, "%s", msg);
}

static hrm_status ocl_invalid(hrm_device *dev, const char *msg) {
    return ocl_fail(dev->be, HRM_ERR_INVALID_ARG, "%s", msg);
}

const hrm_checker ocl_checker = {ocl_check_batched, ocl_invalid, NULL /* ids: see ocl_fault_code */};
