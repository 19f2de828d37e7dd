/* plugins/common/task_rng.h - the seedable PRNG of the task plugins (xoshiro256** seeded through
 * splitmix64, Blackman and Vigna), so that datasets built from a seed are the same on every
 * machine and C library. Plugins include only the public headers (include/hrm) and plugins/common. */
#ifndef HRM_PLUGINS_TASK_RNG_H
#define HRM_PLUGINS_TASK_RNG_H

#include <stdint.h>

typedef struct task_rng {
    uint64_t s[4];
} task_rng;

static inline uint64_t task_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline void task_rng_seed(task_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = task_splitmix64(&seed);
}

static inline uint64_t task_rng_next(task_rng *r) {
    uint64_t *s = r->s, x = s[1] * 5, result = ((x << 7) | (x >> 57)) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

/* Uniform in [0, 1). */
static inline double task_rng_uniform(task_rng *r) { return (double)(task_rng_next(r) >> 11) * 0x1.0p-53; }

/* Uniform integer in [0, n), n >= 1. */
static inline int task_rng_below(task_rng *r, int n) { return (int)(task_rng_next(r) % (uint64_t)n); }

/* Fisher-Yates shuffle of a[0..n). */
static inline void task_rng_shuffle(task_rng *r, int *a, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = task_rng_below(r, i + 1), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

#endif /* HRM_PLUGINS_TASK_RNG_H */
