/* core/internal.h - HRM_INTERNAL marks the core's functions that the hrm program (tools/), the
 * tests and the examples' test programs call: the declarations in the core headers, which the
 * program (tools/, bench/, common/) reaches only through core/tool-api/hrm_internal.h. libhrm is
 * built with hidden visibility, so everything else (static-less helpers shared between core
 * files, such as model_fail or linear_forward) stays inside the library. These functions are
 * visible from libhrm but are no API: the public API is include/hrm (HRM_API), and an embedder
 * should use that alone (hrm/solver.h for inference). Not installed. */
#ifndef HRM_CORE_INTERNAL_H
#define HRM_CORE_INTERNAL_H

#include "hrm/status.h"

#define HRM_INTERNAL HRM_EXPORT

#endif /* HRM_CORE_INTERNAL_H */
