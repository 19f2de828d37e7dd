/* cpu_matmul.c - strided-batched SGEMM on OpenBLAS. Each batch item is one cblas_sgemm call with
 * OpenBLAS's own threads: at HRM's shapes the batch is 1 (linear layers over B*S rows), where a
 * single large sgemm is exactly what OpenBLAS is tuned for. A batch of small products is spread
 * over the pool instead, one single-threaded sgemm per item. */
#include <cblas.h>
#include <string.h>

#include "cpu_internal.h"

static const char *const OP = "matmul";
#define SMALL_GEMM_FLOPS 2e7 /* below this OpenBLAS's own threads barely pay off */

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
    for (int i = 0; i < a->batch; i++) gemm_item(a, i);
    return HRM_OK;
}
