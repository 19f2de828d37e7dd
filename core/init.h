/* core/init.h - parameter initialisation as the published model does it (docs/MODEL.md
 * "Parameters"): JAX-style truncated normals whose real standard deviation is the requested one,
 * and constants. Runs on the host; the model uploads the result. */
#ifndef HRM_CORE_INIT_H
#define HRM_CORE_INIT_H

#include "internal.h"
#include <stdint.h>

#include "params.h"
#include "rng.h"

/* Inverse error function for |y| < 1 (+-inf at +-1), accurate to a few ulps of double. */
HRM_INTERNAL double hrm_erfinv(double y);

/* c / std of the truncated normal on [-2c, 2c] whose standard deviation is std (1.13684...). */
HRM_INTERNAL double hrm_trunc_normal_factor(void);

/* x[0, n) = truncnormal(std): u uniform in (erf(-sqrt2), erf(sqrt2)), x = sqrt2 c erfinv(u),
 * clipped to [-2c, 2c], c = std * hrm_trunc_normal_factor(). std = 0 gives zeros. */
HRM_INTERNAL void hrm_trunc_normal(float *x, int64_t n, double std, hrm_rng *rng);

/* Fills the flat host buffer host[0, t->total) per the table's init fields. Each tensor draws
 * from its own stream, seeded by (seed, tensor name), so a tensor's values do not depend on
 * which other tensors the config has (e.g. learned positions, the number of layers). */
HRM_INTERNAL void hrm_init_params(const hrm_param_table *t, float *host, uint64_t seed);

#endif /* HRM_CORE_INIT_H */
