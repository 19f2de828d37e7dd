/* hrm/status.h - what every part of the HRM engine shares: the status codes its calls return,
 * the log levels, the ABI version helpers of the plugin ABIs (hrm/backend.h, hrm/task.h) and the
 * export macro a plugin puts on its one entry symbol. Included by hrm/backend.h, hrm/task.h and
 * hrm/hrm.h; a task plugin needs nothing of the backend ABI. */
#ifndef HRM_STATUS_H
#define HRM_STATUS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An ABI version: major << 16 | minor. Major: incompatible change; a host refuses any other
 * major. Minor: slots appended. */
#define HRM_ABI_MAJOR_OF(v) ((uint32_t)(v) >> 16)
#define HRM_ABI_MINOR_OF(v) ((uint32_t)(v)&0xffffu)

/* Makes a symbol visible outside its shared object: a plugin's entry symbol. */
#if defined(_WIN32)
#define HRM_EXPORT __declspec(dllexport)
#else
#define HRM_EXPORT __attribute__((visibility("default")))
#endif

/* The library's public functions (hrm/hrm.h, hrm/solver.h). libhrm is built with every other
 * symbol hidden, except the core's internal functions that the hrm program and the tests call
 * (core/internal.h's HRM_INTERNAL): those are no API. */
#define HRM_API HRM_EXPORT

typedef enum hrm_status {
    HRM_OK = 0,
    HRM_ERR_INVALID_ARG = 1,   /* bad shape, NULL where required, out-of-range index */
    HRM_ERR_OUT_OF_MEMORY = 2, /* host or device allocation failed */
    HRM_ERR_UNSUPPORTED = 3,   /* op or parameter not implemented by this backend */
    HRM_ERR_DEVICE = 4,        /* driver or runtime failure */
    HRM_ERR_BUILD = 5,         /* kernel compilation failed (the log carries the build log) */
    HRM_ERR_VALIDATION = 6,    /* device computed a wrong result in a start-up check */
    HRM_ERR_NOT_AVAILABLE = 7, /* no driver, platform or device here */
    /* Bad options or arguments given by the user: a task plugin's build/generate option parser
     * (hrm/task.h ABI 1.1) and the core's command-line helpers; hosts report it as bad usage.
     * Appended after 1.0: a host that does not know it treats it as any other failure. Compute
     * backends do not return it. */
    HRM_ERR_USAGE = 8,
} hrm_status;

typedef enum hrm_log_level {
    HRM_LOG_ERROR = 0,
    HRM_LOG_WARN = 1,
    HRM_LOG_INFO = 2,
    HRM_LOG_DEBUG = 3,
} hrm_log_level;

#ifdef __cplusplus
}
#endif

#endif /* HRM_STATUS_H */
