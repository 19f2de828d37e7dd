/* cpu_math.h - an exp and an atan2 that GCC can vectorise inside `#pragma omp simd` loops. libm's expf is a
 * scalar call, and attention does one exp per 4*head_dim FLOPs, which would make it the
 * bottleneck. Accuracy: within ~2 ulp of expf over its range; exp(x) = 0 below -87.33 (where expf
 * gives denormals) and +inf above 88.7; NaN stays NaN. The loops that call it vectorise only
 * under -fno-trapping-math (the selects below must be if-converted), which meson.build sets. */
#ifndef HRM_CPU_MATH_H
#define HRM_CPU_MATH_H

#include <stdint.h>
#include <string.h>

/* Hot loops are compiled three times, for AVX-512, AVX2+FMA and baseline x86-64, and the loader
 * picks one at run time (GCC function multiversioning), so the plugin stays portable. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define CPU_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CPU_VECTOR_CLONES
#endif

static inline float cpu_expf(float x) {
    /* x = n ln2 + r with |r| <= ln2/2, ln2 split in two so that n*ln2_hi is exact */
    const float log2e = 1.44269504088896341f, ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    const float round_magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float xc = x > 88.75f ? 88.75f : (x < -88.0f ? -88.0f : x);
    float n = (xc * log2e + round_magic) - round_magic;
    float r = (xc - n * ln2_hi) - n * ln2_lo;
    /* exp(r) = 1 + r + r^2 P(r), P the degree-5 minimax fit of the Cephes library's expf */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23; /* 2^n */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x < -87.33f ? 0.0f : p * scale;
}

/* atan2(y, x) for x >= 0 (AdamATan2's denominator is a square root), within ~2e-7 relative of
 * atan2f; NaN in, NaN out. Reduces |y|/x (or x/|y| above pi/4) to [0, 1], then to
 * [-tan(pi/8), tan(pi/8)] around pi/4, and uses the Cephes atanf polynomial there. */
static inline float cpu_atan2f_xpos(float y, float x) {
    const float pi_2 = 1.57079632679489662f, pi_4 = 0.785398163397448310f, tan_pi_8 = 0.414213562373095049f;
    float ay = y < 0.0f ? -y : y;
    int swap = ay > x;
    float num = swap ? x : ay, den = swap ? ay : x;
    float t = den > 0.0f ? num / den : 0.0f;
    int shift = t > tan_pi_8;
    float u = shift ? (t - 1.0f) / (t + 1.0f) : t;
    float z = u * u;
    float p = 8.05374449538e-2f;
    p = p * z - 1.38776856032e-1f;
    p = p * z + 1.99777106478e-1f;
    p = p * z - 3.33329491539e-1f;
    float r = p * z * u + u + (shift ? pi_4 : 0.0f);
    r = swap ? pi_2 - r : r;
    r = y < 0.0f ? -r : r;
    return (y != y || x != x) ? y + x : r;
}

#endif
