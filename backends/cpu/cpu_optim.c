/* cpu_optim.c - the optimizer updates: AdamATan2 over a flat parameter buffer (split over threads
 * by elements) and SignSGD over the puzzle-embedding rows a batch touched (split by slot; a slot
 * updates its row only when it is the first slot with that id, after summing all of them, so
 * every distinct row is written once and by one thread). */
#include <math.h>

#include "cpu_internal.h"

enum { ADAM_MIN_CHUNK = 1 << 14, SIGN_COLUMNS = 256 };

typedef struct adam_job {
    const hrm_adam_args *a;
    float inv_bc1;      /* 1 / (1 - beta1^t) */
    float inv_bc2_sqrt; /* 1 / sqrt(1 - beta2^t) */
} adam_job;

CPU_VECTOR_CLONES static void adam_range(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const adam_job *job = ctx;
    const hrm_adam_args *a = job->a;
    float *p = cpu_f32(a->param), *m = cpu_f32(a->m), *v = cpu_f32(a->v);
    const float *g = cpu_f32(a->grad);
    float decay = 1.0f - a->lr * a->weight_decay, t1 = 1.0f - a->beta1, t2 = 1.0f - a->beta2, lr = a->lr;
#pragma omp simd
    for (int64_t i = begin; i < end; i++) {
        float mi = m[i] + t1 * (g[i] - m[i]); /* the package's lerp */
        float vi = v[i] + t2 * (g[i] * g[i] - v[i]);
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - lr * cpu_atan2f_xpos(mi * job->inv_bc1, sqrtf(vi) * job->inv_bc2_sqrt);
    }
}

hrm_status cpu_adam_atan2(hrm_device *dev, const hrm_adam_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    CPU_TRY(hrm_check_adam(&cpu_checker, dev, a));
    double bc1 = 1.0 - pow((double)a->beta1, (double)a->step), bc2 = 1.0 - pow((double)a->beta2, (double)a->step);
    adam_job job = {.a = a, .inv_bc1 = (float)(1.0 / bc1), .inv_bc2_sqrt = (float)(1.0 / sqrt(bc2))};
    cpu_parallel_for(cpu_dev_pool(dev), a->n, ADAM_MIN_CHUNK, adam_range, &job);
    return HRM_OK;
}

/* The first slot holding id ids[slot] is the one that updates its row. */
static int first_slot(const int32_t *ids, int slot) {
    for (int i = 0; i < slot; i++)
        if (ids[i] == ids[slot]) return 0;
    return 1;
}

/* w[c0, c1) of row ids[slot] from the sum of the gradients of every slot with that id. */
static void sign_update_columns(const hrm_signsgd_args *a, int slot, int c0, int c1) {
    const int32_t *ids = cpu_i32(a->ids);
    float sum[SIGN_COLUMNS] = {0};
    for (int s = slot; s < a->batch; s++) {
        if (ids[s] != ids[slot]) continue;
        const float *g = cpu_f32(a->grads) + (int64_t)s * a->width;
        for (int c = c0; c < c1; c++) sum[c - c0] += g[c];
    }
    float *w = cpu_f32(a->weights) + (int64_t)ids[slot] * a->width, decay = 1.0f - a->lr * a->weight_decay;
    for (int c = c0; c < c1; c++) {
        float sign = (float)((sum[c - c0] > 0.0f) - (sum[c - c0] < 0.0f));
        w[c] = w[c] * decay - a->lr * sign;
    }
}

static void signsgd_slots(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const hrm_signsgd_args *a = ctx;
    for (int64_t slot = begin; slot < end; slot++) {
        if (!first_slot(cpu_i32(a->ids), (int)slot)) continue;
        for (int c0 = 0; c0 < a->width; c0 += SIGN_COLUMNS)
            sign_update_columns(a, (int)slot, c0, c0 + SIGN_COLUMNS < a->width ? c0 + SIGN_COLUMNS : a->width);
    }
}

hrm_status cpu_signsgd_rows(hrm_device *dev, const hrm_signsgd_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    CPU_TRY(hrm_check_signsgd(&cpu_checker, dev, a));
    if (a->width == 0) return HRM_OK;
    cpu_parallel_for(cpu_dev_pool(dev), a->batch, 1 + 65536 / (a->width + 1), signsgd_slots, (void *)a);
    return HRM_OK;
}
