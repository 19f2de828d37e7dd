/* cpu_matmul.c - strided-batched SGEMM on OpenBLAS.
 *
 * A large product is cut into one slice per pool thread (rows of C, or columns when C is wider
 * than tall), each a single-threaded cblas_sgemm: the backend then has one set of threads. Handing
 * the product to OpenBLAS's own threads instead leaves two pools on the same cores, each spinning
 * while the other works (sched_yield was ~8% of a profile of the small model's training step),
 * and measured slower on the 2-core development VM: training step of the small model 226-243 ms
 * vs 242-296 ms (min of 40 steps, alternated), the 27M model 1326-1347 ms vs 1390-1442 ms.
 * Results agree with OpenBLAS's threaded ones to rounding, not bit for bit (after 4 training steps
 * of the small model the weights differ by at most 1.3e-6 relative); slices are fixed, so runs
 * stay deterministic.
 * HRM_CPU_GEMM=openblas restores OpenBLAS's threads (for comparisons). A batch of small products
 * is spread over the pool, one single-threaded sgemm per item. */
#include <cblas.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"

static const char *const OP = "matmul";
#define SMALL_GEMM_FLOPS 2e7 /* below this, threads barely pay off */
#define MIN_SLICE 64          /* rows or columns of C per slice, at least */

/* C [m, n] (ldc) = beta * C for k == 0, which not every BLAS handles; beta = 0 clears NaNs. */
static void scale_c(float *c, int m, int n, int64_t ldc, float beta)
{
    for (int i = 0; i < m; i++) {
        float *row = c + i * ldc;
        if (beta == 0.0f)
            memset(row, 0, (size_t)n * sizeof *row);
        else
            for (int j = 0; j < n; j++) row[j] *= beta;
    }
}

static hrm_status check_matmul(hrm_device *dev, const hrm_matmul_args *a)
{
    CPU_TRY(hrm_check_matmul_sizes(&cpu_checker, dev, a));
    CPU_REQUIRE(dev, a->lda <= INT32_MAX && a->ldb <= INT32_MAX && a->ldc <= INT32_MAX,
                "%s: leading dimensions must fit in a BLAS int", OP);
    return hrm_check_matmul_tensors(&cpu_checker, dev, a);
}

/* C_i = alpha op(A_i) op(B_i) + beta C_i for one batch item i. */
static void gemm_item(const hrm_matmul_args *a, int64_t i)
{
    float *c = cpu_f32(a->c) + i * a->stride_c;
    if (a->k == 0) {
        scale_c(c, a->m, a->n, a->ldc, a->beta);
        return;
    }
    const float *A = cpu_f32(a->a) + i * a->stride_a, *B = cpu_f32(a->b) + i * a->stride_b;
    cblas_sgemm(CblasRowMajor, a->trans_a ? CblasTrans : CblasNoTrans, a->trans_b ? CblasTrans : CblasNoTrans, a->m, a->n,
                a->k, a->alpha, A, (int)a->lda, B, (int)a->ldb, a->beta, c, (int)a->ldc);
}

static void gemm_items(void *ctx, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    for (int64_t i = begin; i < end; i++) gemm_item(ctx, i);
}

typedef struct split_job {
    const hrm_matmul_args *a;
    int64_t item;
    int parts;
    bool by_rows;
} split_job;

/* Slice `part` of one product: rows of C (op(A) rows) or columns of C (op(B) columns). */
static void gemm_slice(void *ctx, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const split_job *j = ctx;
    const hrm_matmul_args *a = j->a;
    for (int64_t part = begin; part < end; part++) {
        int total = j->by_rows ? a->m : a->n;
        int64_t per = ((total + j->parts - 1) / j->parts + 15) / 16 * 16;
        int64_t lo = part * per, hi = lo + per < total ? lo + per : total;
        if (lo >= hi) continue;
        const float *A = cpu_f32(a->a) + j->item * a->stride_a, *B = cpu_f32(a->b) + j->item * a->stride_b;
        float *c = cpu_f32(a->c) + j->item * a->stride_c;
        int m = a->m, n = a->n;
        if (j->by_rows) {
            A += a->trans_a ? lo : lo * a->lda;
            c += lo * a->ldc;
            m = (int)(hi - lo);
        } else {
            B += a->trans_b ? lo * a->ldb : lo;
            c += lo;
            n = (int)(hi - lo);
        }
        cblas_sgemm(CblasRowMajor, a->trans_a ? CblasTrans : CblasNoTrans, a->trans_b ? CblasTrans : CblasNoTrans, m,
                    n, a->k, a->alpha, A, (int)a->lda, B, (int)a->ldb, a->beta, c, (int)a->ldc);
    }
}

hrm_status cpu_matmul(hrm_device *dev, const hrm_matmul_args *a)
{
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    CPU_TRY(check_matmul(dev, a));
    if (a->m == 0 || a->n == 0) return HRM_OK;
    hrm_backend *be = dev->be;
    double flops = 2.0 * a->m * a->n * a->k;
    /* Many small products (e.g. per head) go one per pool thread with OpenBLAS single-threaded;
     * a large one gets OpenBLAS's threads. Items may share C (stride_c 0) only when run in turn. */
    if (be->threads > 1 && a->batch >= be->threads && flops < SMALL_GEMM_FLOPS &&
        (a->stride_c >= (int64_t)(a->m - 1) * a->ldc + a->n)) {
        openblas_set_num_threads(1);
        cpu_pool_run(be->pool, a->batch, 1, gemm_items, (void *)a);
        openblas_set_num_threads(be->threads);
        return HRM_OK;
    }
    bool by_rows = a->m >= a->n;
    int parts = (by_rows ? a->m : a->n) / MIN_SLICE;
    if (parts > be->threads) parts = be->threads;
    if (be->slice_gemm && parts > 1 && a->k > 0 && flops >= SMALL_GEMM_FLOPS) {
        openblas_set_num_threads(1);
        for (int i = 0; i < a->batch; i++) {
            split_job j = {.a = a, .item = i, .parts = parts, .by_rows = by_rows};
            cpu_pool_run(be->pool, parts, 1, gemm_slice, &j);
        }
        openblas_set_num_threads(be->threads);
        return HRM_OK;
    }
    for (int i = 0; i < a->batch; i++) gemm_item(a, i);
    return HRM_OK;
}
