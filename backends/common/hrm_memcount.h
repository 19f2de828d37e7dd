/* backends/common/hrm_memcount.h - a device's memory counters (bytes allocated now and the
 * high-water mark since device_open), for the ABI's memory_usage. Buffers may come and go from
 * any thread, so the counters are guarded by their own mutex. Shared by the backends in this tree;
 * header-only so that each plugin stays one self-contained module. */
#ifndef HRM_BACKENDS_MEMCOUNT_H
#define HRM_BACKENDS_MEMCOUNT_H

#include <pthread.h>
#include <stdint.h>

typedef struct hrm_memcount {
    pthread_mutex_t lock;
    uint64_t current, peak;
} hrm_memcount;

static inline void hrm_memcount_init(hrm_memcount *m) {
    pthread_mutex_init(&m->lock, NULL);
    m->current = m->peak = 0;
}

static inline void hrm_memcount_destroy(hrm_memcount *m) { pthread_mutex_destroy(&m->lock); }

static inline void hrm_memcount_add(hrm_memcount *m, uint64_t bytes) {
    pthread_mutex_lock(&m->lock);
    m->current += bytes;
    if (m->current > m->peak) m->peak = m->current;
    pthread_mutex_unlock(&m->lock);
}

static inline void hrm_memcount_sub(hrm_memcount *m, uint64_t bytes) {
    pthread_mutex_lock(&m->lock);
    m->current -= bytes;
    pthread_mutex_unlock(&m->lock);
}

/* Either pointer may be NULL. */
static inline void hrm_memcount_get(hrm_memcount *m, uint64_t *current, uint64_t *peak) {
    pthread_mutex_lock(&m->lock);
    if (current) *current = m->current;
    if (peak) *peak = m->peak;
    pthread_mutex_unlock(&m->lock);
}

#endif /* HRM_BACKENDS_MEMCOUNT_H */
