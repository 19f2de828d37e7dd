/* backends/opencl/tests/nmse.h - the normalised error the OpenCL tests compare against the CPU
 * backend with (the conformance suite's measure: mse(got, want) / mse(want, 0)). Header-only: each
 * test is one program. */
#ifndef HRM_OCL_TESTS_NMSE_H
#define HRM_OCL_TESTS_NMSE_H

#include <stddef.h>

/* sum (got - want)^2 / max(sum want^2, floor_ss), over `rows` rows of `width` at `off` in rows of
 * `stride` (floor_ss = 0 for a plain nmse). */
static inline double nmse_part(const float *got, const float *want, size_t rows, size_t stride, size_t off,
                               size_t width, double floor_ss) {
    double e = 0.0, w = 0.0;
    for (size_t r = 0; r < rows; r++)
        for (size_t i = off; i < off + width; i++) {
            double d = (double)got[r * stride + i] - want[r * stride + i];
            e += d * d;
            w += (double)want[r * stride + i] * want[r * stride + i];
        }
    if (w < floor_ss) w = floor_ss;
    return w > 0.0 ? e / w : e;
}

/* The nmse of n contiguous values. */
static inline double nmse(const float *got, const float *want, size_t n) {
    return nmse_part(got, want, 1, n, 0, n, 0.0);
}

#endif /* HRM_OCL_TESTS_NMSE_H */
