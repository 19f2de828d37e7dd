/* backends/opencl/tests/mma_ref.h - the host reference of the reduced-precision matmul tests
 * (test_mma.c, test_mma_races.c), written apart from the backend's own rounding (ocl_mma.c,
 * kernels/mma.cl) so that the two check each other. Header-only: each test is one program. */
#ifndef HRM_OCL_TESTS_MMA_REF_H
#define HRM_OCL_TESTS_MMA_REF_H

#include <math.h>

#include "hrm/backend.h"

/* x rounded to p's significand by arithmetic (frexp: x = f 2^e, 0.5 <= |f| < 1): tf32 keeps 11
 * significant bits, round() = to nearest, ties away from zero (cvt.rna.tf32.f32); bf16 keeps 8,
 * rint() = to nearest, ties to even in the default rounding mode (cvt.rn.bf16.f32). Zero, Inf and
 * NaN pass; a carry into the exponent and overflow to Inf come out of ldexp. Normal numbers only
 * (no test operand is subnormal). */
static inline float mma_ref_round(float x, hrm_matmul_precision p) {
    if (p == HRM_PRECISION_HIGHEST || !isfinite(x) || x == 0.0f) return x;
    int e, bits = p == HRM_PRECISION_HIGH ? 11 : 8;
    double s = ldexp(frexp((double)x, &e), bits);
    return (float)ldexp(p == HRM_PRECISION_HIGH ? round(s) : rint(s), e - bits);
}

/* The per-element tolerance of a result with k products: (k + 4) 2^-23 of |alpha| sum |a' b'| +
 * |beta c| (a', b' rounded; their products are exact in fp32; the device adds k of them in fp32,
 * each addition off by at most 2^-23 of the running magnitude, then applies alpha and beta). */
static inline double mma_ref_bound(int k, double abs_terms) { return (k + 4) * ldexp(1.0, -23) * abs_terms + 1e-30; }

#endif /* HRM_OCL_TESTS_MMA_REF_H */
