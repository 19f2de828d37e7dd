/* cpu_ops.c - the row-wise and elementwise ops of one recurrent step: add, residual add +
 * RMSNorm, SwiGLU and RoPE, forward and backward. They are memory-bound, so each runs as one
 * pass (or two over a row still in L1) split over the pool threads by rows. Inner loops carry
 * `#pragma omp simd` rather than `restrict` because several ops allow out == in: every lane reads
 * its element before writing it, which is exactly what simd execution guarantees. */
#include <math.h>

#include "cpu_internal.h"

enum { MIN_CHUNK_ELEMS = 1 << 14 }; /* smaller shares do not repay waking a thread */

static int64_t min_rows(int64_t row_elems) { return row_elems >= MIN_CHUNK_ELEMS ? 1 : MIN_CHUNK_ELEMS / row_elems; }

/* ---- add ---------------------------------------------------------------------------------- */

CPU_VECTOR_CLONES static void add_range(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const hrm_add_args *a = ctx;
    float *out = cpu_f32(a->out);
    const float *x = cpu_f32(a->a), *y = cpu_f32(a->b);
    if (a->c.buf) {
        const float *z = cpu_f32(a->c);
#pragma omp simd
        for (int64_t i = begin; i < end; i++) out[i] = x[i] + y[i] + z[i];
    } else {
#pragma omp simd
        for (int64_t i = begin; i < end; i++) out[i] = x[i] + y[i];
    }
}

hrm_status cpu_add(hrm_device *dev, const hrm_add_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    CPU_TRY(hrm_check_add(&cpu_checker, dev, a));
    cpu_parallel_for(cpu_dev_pool(dev), a->n, MIN_CHUNK_ELEMS, add_range, (void *)a);
    return HRM_OK;
}

/* ---- RMSNorm ------------------------------------------------------------------------------ */

/* Row reductions keep LANES partial sums: one accumulator would chain every add on the previous
 * one's latency, which at dim = 512 costs more than reading the row. */
enum { LANES = 32 };

static inline float sum_lanes(const float *acc) {
    float s = 0.0f;
    for (int k = 0; k < LANES; k++) s += acc[k];
    return s;
}

/* sum((x + r)^2) over a row */
static inline float residual_sumsq(const float *x, const float *r, int dim) {
    float acc[LANES] = {0};
    int i = 0;
    for (; i + LANES <= dim; i += LANES)
#pragma omp simd
        for (int k = 0; k < LANES; k++) acc[k] += (x[i + k] + r[i + k]) * (x[i + k] + r[i + k]);
    for (; i < dim; i++) acc[0] += (x[i] + r[i]) * (x[i] + r[i]);
    return sum_lanes(acc);
}

static inline float dot_row(const float *a, const float *b, int dim) {
    float acc[LANES] = {0};
    int i = 0;
    for (; i + LANES <= dim; i += LANES)
#pragma omp simd
        for (int k = 0; k < LANES; k++) acc[k] += a[i + k] * b[i + k];
    for (; i < dim; i++) acc[0] += a[i] * b[i];
    return sum_lanes(acc);
}

CPU_VECTOR_CLONES static void rmsnorm_forward_rows(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const hrm_rmsnorm_args *a = ctx;
    int dim = a->dim;
    for (int64_t row = begin; row < end; row++) {
        const float *x = cpu_f32(a->x) + row * dim, *r = a->r.buf ? cpu_f32(a->r) + row * dim : NULL;
        float *y = cpu_f32(a->y) + row * dim;
        /* h is recomputed from the L1-hot row rather than stored and reloaded: y is written once */
        float ss = r ? residual_sumsq(x, r, dim) : dot_row(x, x, dim);
        float rstd = 1.0f / sqrtf(ss / (float)dim + a->eps);
        if (r) {
#pragma omp simd
            for (int i = 0; i < dim; i++) y[i] = (x[i] + r[i]) * rstd;
        } else {
#pragma omp simd
            for (int i = 0; i < dim; i++) y[i] = x[i] * rstd;
        }
        cpu_f32(a->rstd)[row] = rstd;
    }
}

CPU_VECTOR_CLONES static void rmsnorm_backward_rows(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const hrm_rmsnorm_args *a = ctx;
    int dim = a->dim;
    for (int64_t row = begin; row < end; row++) {
        const float *dy = cpu_f32(a->dy) + row * dim, *y = cpu_f32(a->y) + row * dim;
        float *dh = cpu_f32(a->dh) + row * dim, rstd = cpu_f32(a->rstd)[row];
        float mean = dot_row(dy, y, dim) / (float)dim;
#pragma omp simd
        for (int i = 0; i < dim; i++) dh[i] = rstd * (dy[i] - y[i] * mean);
    }
}

static hrm_status check_rmsnorm(hrm_device *dev, const hrm_rmsnorm_args *a, int backward) {
    return hrm_check_rmsnorm(&cpu_checker, dev, a, backward);
}

hrm_status cpu_rmsnorm_forward(hrm_device *dev, const hrm_rmsnorm_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    CPU_TRY(check_rmsnorm(dev, a, 0));
    cpu_parallel_for(cpu_dev_pool(dev), a->rows, min_rows(a->dim), rmsnorm_forward_rows, (void *)a);
    return HRM_OK;
}

hrm_status cpu_rmsnorm_backward(hrm_device *dev, const hrm_rmsnorm_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    CPU_TRY(check_rmsnorm(dev, a, 1));
    cpu_parallel_for(cpu_dev_pool(dev), a->rows, min_rows(a->dim), rmsnorm_backward_rows, (void *)a);
    return HRM_OK;
}

/* ---- SwiGLU ------------------------------------------------------------------------------- */

/* A SwiGLU row reads two 6 KB halves and writes a third: streams too short for the hardware
 * prefetcher to lock on to before they end, which measured 3x slower than one long stream. So
 * each block also prefetches the same columns of the next row. */
enum { SWIGLU_BLOCK = 256, FLOATS_PER_LINE = 16 };

static inline void prefetch_floats(const float *p, int n) {
    for (int k = 0; k < n; k += FLOATS_PER_LINE) __builtin_prefetch(p + k);
}

static inline void swiglu_forward_block(const float *g, const float *u, float *out, int n) {
#pragma omp simd
    for (int i = 0; i < n; i++) out[i] = g[i] / (1.0f + cpu_expf(-g[i])) * u[i];
}

static inline void swiglu_backward_block(const float *g, const float *u, const float *dout, float *dg, float *du,
                                         int n) {
#pragma omp simd
    for (int i = 0; i < n; i++) {
        float sig = 1.0f / (1.0f + cpu_expf(-g[i])), gi = g[i], ui = u[i], d = dout[i];
        dg[i] = d * ui * sig * (1.0f + gi * (1.0f - sig)); /* silu'(g) = sig (1 + g (1 - sig)) */
        du[i] = d * gi * sig;
    }
}

CPU_VECTOR_CLONES static void swiglu_forward_rows(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const hrm_swiglu_args *a = ctx;
    int inter = a->inter;
    for (int64_t row = begin; row < end; row++) {
        const float *g = cpu_f32(a->gu) + row * 2 * inter, *u = g + inter;
        float *out = cpu_f32(a->out) + row * inter;
        for (int i0 = 0; i0 < inter; i0 += SWIGLU_BLOCK) {
            int n = inter - i0 < SWIGLU_BLOCK ? inter - i0 : SWIGLU_BLOCK;
            if (row + 1 < end) {
                prefetch_floats(g + 2 * inter + i0, n);
                prefetch_floats(u + 2 * inter + i0, n);
            }
            swiglu_forward_block(g + i0, u + i0, out + i0, n);
        }
    }
}

CPU_VECTOR_CLONES static void swiglu_backward_rows(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const hrm_swiglu_args *a = ctx;
    int inter = a->inter;
    for (int64_t row = begin; row < end; row++) {
        const float *g = cpu_f32(a->gu) + row * 2 * inter, *u = g + inter, *dout = cpu_f32(a->d_out) + row * inter;
        float *dg = cpu_f32(a->d_gu) + row * 2 * inter, *du = dg + inter;
        for (int i0 = 0; i0 < inter; i0 += SWIGLU_BLOCK) {
            int n = inter - i0 < SWIGLU_BLOCK ? inter - i0 : SWIGLU_BLOCK;
            if (row + 1 < end) {
                prefetch_floats(g + 2 * inter + i0, n);
                prefetch_floats(u + 2 * inter + i0, n);
                prefetch_floats(dout + inter + i0, n);
            }
            swiglu_backward_block(g + i0, u + i0, dout + i0, dg + i0, du + i0, n);
        }
    }
}

static hrm_status check_swiglu(hrm_device *dev, const hrm_swiglu_args *a, int backward) {
    return hrm_check_swiglu(&cpu_checker, dev, a, backward);
}

hrm_status cpu_swiglu_forward(hrm_device *dev, const hrm_swiglu_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    CPU_TRY(check_swiglu(dev, a, 0));
    cpu_parallel_for(cpu_dev_pool(dev), a->rows, min_rows(3 * (int64_t)a->inter), swiglu_forward_rows, (void *)a);
    return HRM_OK;
}

hrm_status cpu_swiglu_backward(hrm_device *dev, const hrm_swiglu_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    CPU_TRY(check_swiglu(dev, a, 1));
    cpu_parallel_for(cpu_dev_pool(dev), a->rows, min_rows(5 * (int64_t)a->inter), swiglu_backward_rows, (void *)a);
    return HRM_OK;
}

/* ---- RoPE --------------------------------------------------------------------------------- */

typedef struct rope_job {
    const hrm_rope_args *a;
    float sign; /* +1 rotates by the angle (forward), -1 by minus the angle (backward) */
} rope_job;

/* Rotates every head of token rows [begin, end); token t sits at position t % seq. */
CPU_VECTOR_CLONES static void rope_rows(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const rope_job *job = ctx;
    const hrm_rope_args *a = job->a;
    int half = a->head_dim / 2;
    for (int64_t t = begin; t < end; t++) {
        int64_t pos = t % a->seq;
        const float *c = cpu_f32(a->cos) + pos * half, *s = cpu_f32(a->sin) + pos * half;
        for (int h = 0; h < a->heads; h++) {
            const float *x = cpu_f32(a->x) + t * a->row_stride + (int64_t)h * a->head_dim;
            float *y = cpu_f32(a->out) + t * a->row_stride + (int64_t)h * a->head_dim;
#pragma omp simd
            for (int i = 0; i < half; i++) {
                float x0 = x[i], x1 = x[i + half], sn = job->sign * s[i];
                y[i] = x0 * c[i] - x1 * sn;
                y[i + half] = x1 * c[i] + x0 * sn;
            }
        }
    }
}

static hrm_status rope_run(hrm_device *dev, const hrm_rope_args *a, float sign, const char *op) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    CPU_TRY(hrm_check_rope(&cpu_checker, dev, a, op));
    uint64_t rows = (uint64_t)a->batch * (uint64_t)a->seq, width = (uint64_t)a->heads * (uint64_t)a->head_dim;
    if (rows == 0) return HRM_OK;
    rope_job job = {.a = a, .sign = sign};
    cpu_parallel_for(cpu_dev_pool(dev), (int64_t)rows, min_rows((int64_t)width), rope_rows, &job);
    return HRM_OK;
}

hrm_status cpu_rope_forward(hrm_device *dev, const hrm_rope_args *a) { return rope_run(dev, a, 1.0f, "rope_forward"); }
hrm_status cpu_rope_backward(hrm_device *dev, const hrm_rope_args *a) {
    return rope_run(dev, a, -1.0f, "rope_backward");
}
