/* cpu_attention.c - fused multi-head attention, forward and backward, flash-attention style but
 * with an exact softmax: a work item sees a block of ATT_BQ query rows against all keys, so the
 * scratch is ATT_BQ x seq floats per thread and never seq x seq. The products are single-threaded
 * cblas_sgemm calls, one per pool thread, straight on the strided q/k/v rows (OpenBLAS packs its
 * operands anyway); OpenBLAS is switched to one thread for the duration so that the pool threads
 * and OpenBLAS's threads do not fight over the cores.
 *
 * Backward recomputes P from the saved lse and walks the query blocks of one (batch, head) in one
 * work item, so that dK and dV accumulate without races straight into the output. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "cpu_internal.h"

enum { ATT_BQ = 64 }; /* query rows per block: big enough for sgemm, small enough for L2 */

typedef struct att_job {
    const hrm_attention_args *a;
    int blocks;     /* query blocks per (batch, head) */
    float *scratch; /* per thread: scratch_floats */
    size_t scratch_floats;
} att_job;

/* Where (batch b, head h) starts in a [batch, seq, heads, head_dim] tensor with row stride rs. */
static float *head_base(hrm_ptr p, const hrm_attention_args *a, int b, int h, int64_t rs) {
    return cpu_f32(p) + (int64_t)b * a->seq * rs + (int64_t)h * a->head_dim;
}

/* s [bq, kn] (ld seq) = scale * q_blk k^T */
static void score_block(const hrm_attention_args *a, const float *q, const float *k, int bq, int kn, float *s) {
    int rs = (int)a->qkv_row_stride;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bq, kn, a->head_dim, a->scale, q, rs, k, rs, 0.0f, s, a->seq);
}

/* Softmax in place over s[0, valid), zeros in s[valid, kn); returns log(sum exp(s)). */
CPU_VECTOR_CLONES static float softmax_row(float *s, int valid, int kn) {
    float mx = -INFINITY, sum = 0.0f;
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < valid; j++) mx = s[j] > mx ? s[j] : mx;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < valid; j++) {
        float e = cpu_expf(s[j] - mx);
        s[j] = e;
        sum += e;
    }
    float inv = 1.0f / sum;
#pragma omp simd
    for (int j = 0; j < valid; j++) s[j] *= inv;
    for (int j = valid; j < kn; j++) s[j] = 0.0f;
    return mx + logf(sum);
}

/* p = exp(s - lse) over s[0, valid), zeros in s[valid, kn): P recomputed from the forward's lse. */
CPU_VECTOR_CLONES static void probs_row(float *s, float lse, int valid, int kn) {
#pragma omp simd
    for (int j = 0; j < valid; j++) s[j] = cpu_expf(s[j] - lse);
    for (int j = valid; j < kn; j++) s[j] = 0.0f;
}

/* Key count of a query block: causal rows never look past the block's last row. */
static int block_keys(const hrm_attention_args *a, int i0, int bq) { return a->causal ? i0 + bq : a->seq; }
static int row_keys(const hrm_attention_args *a, int i, int kn) { return a->causal ? i + 1 : kn; }

static void forward_items(void *ctx, int64_t begin, int64_t end, int thread) {
    const att_job *job = ctx;
    const hrm_attention_args *a = job->a;
    float *s = job->scratch + (size_t)thread * job->scratch_floats; /* [ATT_BQ, seq] */
    int64_t rs = a->qkv_row_stride, ors = a->o_row_stride;
    for (int64_t w = begin; w < end; w++) {
        int blk = (int)(w % job->blocks), bh = (int)(w / job->blocks), b = bh / a->heads, h = bh % a->heads;
        int i0 = blk * ATT_BQ, bq = a->seq - i0 < ATT_BQ ? a->seq - i0 : ATT_BQ, kn = block_keys(a, i0, bq);
        const float *q = head_base(a->q, a, b, h, rs) + i0 * rs;
        const float *k = head_base(a->k, a, b, h, rs), *v = head_base(a->v, a, b, h, rs);
        float *o = head_base(a->o, a, b, h, ors) + i0 * ors;
        float *lse = cpu_f32(a->lse) + (int64_t)bh * a->seq + i0; /* [bq] */
        score_block(a, q, k, bq, kn, s);
        for (int r = 0; r < bq; r++) lse[r] = softmax_row(s + (int64_t)r * a->seq, row_keys(a, i0 + r, kn), kn);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bq, a->head_dim, kn, 1.0f, s, a->seq, v, (int)rs, 0.0f,
                    o, (int)ors);
    }
}

/* ds = p * (dp - D) in place of p, D = rowsum(dO * O) per query row. */
CPU_VECTOR_CLONES static void dsoftmax_block(const hrm_attention_args *a, const float *d_o, const float *o,
                                             const float *dp, float *p, int bq, int kn) {
    int64_t ors = a->o_row_stride;
    for (int r = 0; r < bq; r++) {
        const float *dor = d_o + r * ors, *orow = o + r * ors, *dpr = dp + (int64_t)r * a->seq;
        float *pr = p + (int64_t)r * a->seq, dsum = 0.0f;
#pragma omp simd reduction(+ : dsum)
        for (int d = 0; d < a->head_dim; d++) dsum += dor[d] * orow[d];
#pragma omp simd
        for (int j = 0; j < kn; j++) pr[j] = pr[j] * (dpr[j] - dsum);
    }
}

/* One query block of one (b, h); beta 0 on the first block visited initialises dK and dV. */
static void backward_block(const hrm_attention_args *a, int bh, int blk, float beta, float *p, float *dp) {
    int b = bh / a->heads, h = bh % a->heads, hd = a->head_dim;
    int64_t rs = a->qkv_row_stride, ors = a->o_row_stride, drs = a->dqkv_row_stride;
    int i0 = blk * ATT_BQ, bq = a->seq - i0 < ATT_BQ ? a->seq - i0 : ATT_BQ, kn = block_keys(a, i0, bq);
    const float *q = head_base(a->q, a, b, h, rs) + i0 * rs;
    const float *k = head_base(a->k, a, b, h, rs), *v = head_base(a->v, a, b, h, rs);
    const float *o = head_base(a->o, a, b, h, ors) + i0 * ors, *d_o = head_base(a->d_o, a, b, h, ors) + i0 * ors;
    const float *lse = cpu_f32(a->lse) + (int64_t)bh * a->seq + i0;
    float *dq = head_base(a->dq, a, b, h, drs) + i0 * drs;
    float *dk = head_base(a->dk, a, b, h, drs), *dv = head_base(a->dv, a, b, h, drs);

    score_block(a, q, k, bq, kn, p);
    for (int r = 0; r < bq; r++) probs_row(p + (int64_t)r * a->seq, lse[r], row_keys(a, i0 + r, kn), kn);
    /* dV [kn, hd] (+)= P^T dO */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kn, hd, bq, 1.0f, p, a->seq, d_o, (int)ors, beta, dv,
                (int)drs);
    /* dP [bq, kn] = dO V^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bq, kn, hd, 1.0f, d_o, (int)ors, v, (int)rs, 0.0f, dp, a->seq);
    dsoftmax_block(a, d_o, o, dp, p, bq, kn);
    /* dQ [bq, hd] = scale dS K;  dK [kn, hd] (+)= scale dS^T Q */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bq, hd, kn, a->scale, p, a->seq, k, (int)rs, 0.0f, dq,
                (int)drs);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kn, hd, bq, a->scale, p, a->seq, q, (int)rs, beta, dk,
                (int)drs);
}

static void backward_items(void *ctx, int64_t begin, int64_t end, int thread) {
    const att_job *job = ctx;
    float *p = job->scratch + (size_t)thread * job->scratch_floats; /* [ATT_BQ, seq] */
    float *dp = p + (size_t)ATT_BQ * job->a->seq;                   /* [ATT_BQ, seq] */
    /* last block first: under a causal mask it is the one that reaches every key row of dK, dV */
    for (int64_t bh = begin; bh < end; bh++)
        for (int blk = job->blocks - 1; blk >= 0; blk--)
            backward_block(job->a, (int)bh, blk, blk == job->blocks - 1 ? 0.0f : 1.0f, p, dp);
}

static hrm_status check_attention(hrm_device *dev, const hrm_attention_args *a, int backward) {
    const char *op = backward ? "attention_backward" : "attention_forward";
    CPU_TRY(hrm_check_attention_sizes(&cpu_checker, dev, a, backward));
    CPU_REQUIRE(dev, a->qkv_row_stride <= INT32_MAX && a->o_row_stride <= INT32_MAX && a->dqkv_row_stride <= INT32_MAX,
                "%s: row strides must fit in a BLAS int", op);
    return hrm_check_attention_tensors(&cpu_checker, dev, a, backward);
}

/* Runs fn over `items` work items with per-thread scratch and OpenBLAS in single-thread mode. */
static hrm_status run_attention(hrm_device *dev, const hrm_attention_args *a, int64_t items, size_t scratch_floats,
                                cpu_task_fn fn, const char *op) {
    hrm_backend *be = dev->be;
    att_job job = {.a = a, .blocks = (a->seq + ATT_BQ - 1) / ATT_BQ, .scratch_floats = scratch_floats};
    job.scratch = malloc((size_t)be->threads * scratch_floats * sizeof(float));
    if (!job.scratch) return cpu_fail(be, HRM_ERR_OUT_OF_MEMORY, "%s: cannot allocate scratch", op);
    if (be->threads > 1) openblas_set_num_threads(1);
    cpu_pool_run(be->pool, items, 1, fn, &job);
    if (be->threads > 1) openblas_set_num_threads(be->threads);
    free(job.scratch);
    return HRM_OK;
}

hrm_status cpu_attention_forward(hrm_device *dev, const hrm_attention_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    CPU_TRY(check_attention(dev, a, 0));
    if (a->batch == 0 || a->seq == 0) return HRM_OK;
    int64_t blocks = (a->seq + ATT_BQ - 1) / ATT_BQ;
    return run_attention(dev, a, (int64_t)a->batch * a->heads * blocks, (size_t)ATT_BQ * (size_t)a->seq, forward_items,
                         "attention_forward");
}

hrm_status cpu_attention_backward(hrm_device *dev, const hrm_attention_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    CPU_TRY(check_attention(dev, a, 1));
    if (a->batch == 0 || a->seq == 0) return HRM_OK;
    return run_attention(dev, a, (int64_t)a->batch * a->heads, 2 * (size_t)ATT_BQ * (size_t)a->seq, backward_items,
                         "attention_backward");
}
