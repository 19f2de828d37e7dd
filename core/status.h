/* core/status.h - status propagation shared by the core's files (act.c and the model files).
 * Not installed.
 *
 * The core's one error convention: a function that can fail returns hrm_status (HRM_OK = 0, so
 * `if (call(...))` means "failed") and, where it takes err/err_size, writes one line saying why;
 * a predicate returns bool (hrm_mul_size: "fits"); a count or index is an int. */
#ifndef HRM_CORE_STATUS_H
#define HRM_CORE_STATUS_H

#include "hrm/backend.h"

/* Returns a failed call's status from the enclosing function; the failure has already been
 * recorded where it happened. */
#define TRY(call)                              \
    do {                                       \
        hrm_status try_st_ = (call);           \
        if (try_st_ != HRM_OK) return try_st_; \
    } while (0)

#endif /* HRM_CORE_STATUS_H */
