/* cpu_embedding.c - the input embedding: a gather of puzzle-prefix and token rows plus optional
 * positions, and its backward scatter-add. A puzzle row has puzzle_width values, zero-padded to
 * prefix*dim; the padding reads as zeros and gets no gradient. The backward splits the token table
 * by columns over threads, so that repeated tokens add into the same row without races and every
 * thread gets an equal share whatever the token distribution. Ids are checked before anything is
 * written. */
#include "cpu_internal.h"

enum { COLUMN_GROUP = 16 }; /* 64 bytes: threads never share a cache line of a table row */

/* Every id of ids[0, n) lies in [0, limit) or equals *ignore (when ignore is not NULL). */
hrm_status cpu_check_ids(hrm_device *dev, const char *op, const char *name, hrm_ptr p, int64_t n, int limit,
                         const int32_t *ignore) {
    const int32_t *ids = cpu_i32(p);
    for (int64_t i = 0; i < n; i++) {
        if ((ids[i] >= 0 && ids[i] < limit) || (ignore && ids[i] == *ignore)) continue;
        if (ignore)
            return cpu_fail(dev->be, HRM_ERR_INVALID_ARG,
                            "%s: %s[%lld] = %d is outside [0, %d) and not the ignore label %d", op, name, (long long)i,
                            ids[i], limit, (int)*ignore);
        return cpu_fail(dev->be, HRM_ERR_INVALID_ARG, "%s: %s[%lld] = %d is outside [0, %d)", op, name, (long long)i,
                        ids[i], limit);
    }
    return HRM_OK;
}

static hrm_status check_embedding(hrm_device *dev, const hrm_embedding_args *a, int backward) {
    return hrm_check_embedding(&cpu_checker, dev, a, backward);
}

/* ---- forward: one output row [dim] per (b, s) ------------------------------------------------ */

/* The source of row (b, s): e[0, n) are its values, the rest of the row is zero padding. */
static const float *source_row(const hrm_embedding_args *a, int b, int s, int *n) {
    if (s < a->prefix) {
        int64_t start = (int64_t)s * a->dim, left = a->puzzle_width - start;
        *n = left <= 0 ? 0 : left < a->dim ? (int)left : a->dim;
        if (left <= 0) start = a->puzzle_width; /* all padding: stay inside the puzzle row */
        return cpu_f32(a->puzzle_table) + (int64_t)cpu_i32(a->puzzle_ids)[b] * a->puzzle_width + start;
    }
    int token = cpu_i32(a->tokens)[(int64_t)b * a->seq_len + (s - a->prefix)];
    *n = a->dim;
    return cpu_f32(a->token_table) + (int64_t)token * a->dim;
}

/* out[0, dim) = scale * (e + pos), with e[i] = 0 for i >= n; pos may be NULL. */
static inline void scaled_row(float *out, const float *e, int n, const float *pos, int dim, float scale) {
    if (pos) {
#pragma omp simd
        for (int i = 0; i < n; i++) out[i] = scale * (e[i] + pos[i]);
        for (int i = n; i < dim; i++) out[i] = scale * pos[i];
    } else {
#pragma omp simd
        for (int i = 0; i < n; i++) out[i] = scale * e[i];
        for (int i = n; i < dim; i++) out[i] = 0.0f;
    }
}

CPU_VECTOR_CLONES static void embedding_forward_rows(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const hrm_embedding_args *a = ctx;
    int S = a->prefix + a->seq_len, dim = a->dim;
    float scale = a->scale;
    for (int64_t row = begin; row < end; row++) {
        int b = (int)(row / S), s = (int)(row % S), n;
        const float *e = source_row(a, b, s, &n);
        const float *pos = a->pos.buf ? cpu_f32(a->pos) + (int64_t)s * dim : NULL;
        float *out = cpu_f32(a->out) + row * dim;
        if (n < dim) { /* a padded puzzle row */
            scaled_row(out, e, n, pos, dim, scale);
        } else if (pos) {
#pragma omp simd
            for (int i = 0; i < dim; i++) out[i] = scale * (e[i] + pos[i]);
        } else {
#pragma omp simd
            for (int i = 0; i < dim; i++) out[i] = scale * e[i];
        }
    }
}

hrm_status cpu_embedding_forward(hrm_device *dev, const hrm_embedding_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    CPU_TRY(check_embedding(dev, a, 0));
    int64_t rows = (int64_t)a->batch * (a->prefix + a->seq_len);
    cpu_parallel_for(cpu_dev_pool(dev), rows, 1 + 16384 / a->dim, embedding_forward_rows, (void *)a);
    return HRM_OK;
}

/* ---- backward ----------------------------------------------------------------------------------- */

/* d_token_table[:, cols] += scale * d_out rows, for column groups [begin, end). */
static void token_grad_columns(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const hrm_embedding_args *a = ctx;
    int S = a->prefix + a->seq_len, dim = a->dim;
    int c0 = (int)begin * COLUMN_GROUP, c1 = (int)end * COLUMN_GROUP < dim ? (int)end * COLUMN_GROUP : dim;
    for (int b = 0; b < a->batch; b++)
        for (int t = 0; t < a->seq_len; t++) {
            int token = cpu_i32(a->tokens)[(int64_t)b * a->seq_len + t];
            const float *g = cpu_f32(a->d_out) + ((int64_t)b * S + a->prefix + t) * dim;
            float *dst = cpu_f32(a->d_token_table) + (int64_t)token * dim;
#pragma omp simd
            for (int i = c0; i < c1; i++) dst[i] += a->scale * g[i];
        }
}

/* d_pos[s] += scale * sum over b of d_out[b, s], for positions [begin, end). */
static void pos_grad_rows(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const hrm_embedding_args *a = ctx;
    int S = a->prefix + a->seq_len, dim = a->dim;
    for (int64_t s = begin; s < end; s++) {
        float *dst = cpu_f32(a->d_pos) + s * dim;
        for (int b = 0; b < a->batch; b++) {
            const float *g = cpu_f32(a->d_out) + ((int64_t)b * S + s) * dim;
#pragma omp simd
            for (int i = 0; i < dim; i++) dst[i] += a->scale * g[i];
        }
    }
}

/* d_puzzle_rows[b] = scale * the first puzzle_width values of d_out[b, 0..prefix), for slots
 * [begin, end). */
static void puzzle_grad_rows(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const hrm_embedding_args *a = ctx;
    int64_t S = a->prefix + a->seq_len, width = a->puzzle_width;
    for (int64_t b = begin; b < end; b++) {
        const float *g = cpu_f32(a->d_out) + b * S * a->dim;
        float *dst = cpu_f32(a->d_puzzle_rows) + b * width;
#pragma omp simd
        for (int64_t i = 0; i < width; i++) dst[i] = a->scale * g[i];
    }
}

hrm_status cpu_embedding_backward(hrm_device *dev, const hrm_embedding_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    CPU_TRY(check_embedding(dev, a, 1));
    cpu_pool *pool = cpu_dev_pool(dev);
    int S = a->prefix + a->seq_len;
    int64_t work_rows = 1 + 16384 / a->dim;
    if (a->d_token_table.buf && a->seq_len > 0)
        cpu_parallel_for(pool, (a->dim + COLUMN_GROUP - 1) / COLUMN_GROUP, 1, token_grad_columns, (void *)a);
    if (a->d_pos.buf && a->batch > 0)
        cpu_parallel_for(pool, S, work_rows / (a->batch + 1) + 1, pos_grad_rows, (void *)a);
    if (a->d_puzzle_rows.buf && a->prefix > 0)
        cpu_parallel_for(pool, a->batch, work_rows / a->prefix + 1, puzzle_grad_rows, (void *)a);
    return HRM_OK;
}
