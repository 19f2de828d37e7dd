/* core/rng.h - a small, fast, seedable PRNG: xoshiro256** seeded through splitmix64 (Blackman and
 * Vigna). Everything that must be reproducible from a seed (parameter init, halting exploration,
 * data order, tests) draws from it, so results do not depend on the C library's rand(). */
#ifndef HRM_CORE_RNG_H
#define HRM_CORE_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct hrm_rng {
    uint64_t s[4];
} hrm_rng;

static inline uint64_t hrm_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* splitmix64 expands the seed, so that nearby seeds give unrelated streams and the state is
 * never all zero. */
static inline void hrm_rng_seed(hrm_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = hrm_splitmix64(&seed);
}

static inline uint64_t hrm_rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t hrm_rng_next(hrm_rng *r) {
    uint64_t *s = r->s, result = hrm_rng_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = hrm_rng_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double hrm_rng_uniform(hrm_rng *r) { return (double)(hrm_rng_next(r) >> 11) * 0x1.0p-53; }

/* Uniform integer in [0, n), n >= 1 (the modulo bias is below 2^-40 for any n < 2^24). */
static inline int64_t hrm_rng_below(hrm_rng *r, int64_t n) { return (int64_t)(hrm_rng_next(r) % (uint64_t)n); }

/* Standard normal by Box-Muller (one value per call; the partner is dropped for simplicity). */
static inline double hrm_rng_normal(hrm_rng *r) {
    double u = 1.0 - hrm_rng_uniform(r), v = hrm_rng_uniform(r); /* u in (0, 1]: log(u) is finite */
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

#endif /* HRM_CORE_RNG_H */
