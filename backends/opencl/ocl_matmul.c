/* ocl_matmul.c - row-major strided-batched SGEMM through CLBlast, and the GEMM validation that
 * device_open runs against a host computation (Debian's CLBlast 1.5.3 computes wrong results on
 * some GPUs; 1.6.3 fixed it). k = 0 is a scaling of C by beta, done by our own kernel; so is the
 * clearing of C before a beta = 0 GEMM on devices where CLBlast lets NaN in C through. This is
 * matmul precision "highest"; "high" and "medium" (tf32 and bf16 operands) are ocl_mma.c's. */
#include <clblast_c.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocl_internal.h"

#ifndef OCL_CLBLAST_VERSION
#define OCL_CLBLAST_VERSION "(version unknown)"
#endif

static const char *const OP = "matmul";

static hrm_status check_matmul(hrm_device *dev, const hrm_matmul_args *a) {
    OCL_TRY(hrm_check_matmul_sizes(&ocl_checker, dev, a));
    return hrm_check_matmul_tensors(&ocl_checker, dev, a);
}

hrm_status ocl_matmul_scale_c(hrm_device *dev, const hrm_matmul_args *a, float beta) {
    ocl_kernel *k = &dev->scale_matrix;
    ocl_args g = ocl_args_begin(dev, k);
    cl_long ldc = a->ldc, stride = a->stride_c;
    ocl_arg_ptr(&g, a->c);
    OCL_ARG(&g, a->m);
    OCL_ARG(&g, a->n);
    OCL_ARG(&g, ldc);
    OCL_ARG(&g, stride);
    OCL_ARG(&g, beta);
    size_t lx = k->wg < 16 ? k->wg : 16, ly = k->wg / lx;
    uint64_t n[3] = {(uint64_t)a->n, (uint64_t)a->m, (uint64_t)a->batch};
    size_t local[3] = {lx, ly, 1};
    return ocl_launch_split(&g, OP, 3, n, local); /* rows and batch beyond the group-count limit: several launches */
}

static const char *clblast_name(CLBlastStatusCode s) {
    switch (s) {
    case CLBlastNotImplemented: return "CLBlastNotImplemented";
    case CLBlastInvalidMatrixA: return "CLBlastInvalidMatrixA";
    case CLBlastInvalidMatrixB: return "CLBlastInvalidMatrixB";
    case CLBlastInvalidMatrixC: return "CLBlastInvalidMatrixC";
    case CLBlastInsufficientMemoryA: return "CLBlastInsufficientMemoryA";
    case CLBlastInsufficientMemoryB: return "CLBlastInsufficientMemoryB";
    case CLBlastInsufficientMemoryC: return "CLBlastInsufficientMemoryC";
    case CLBlastInvalidLocalMemUsage: return "CLBlastInvalidLocalMemUsage";
    case CLBlastNoHalfPrecision: return "CLBlastNoHalfPrecision";
    case CLBlastNoDoublePrecision: return "CLBlastNoDoublePrecision";
    case CLBlastInvalidBatchCount: return "CLBlastInvalidBatchCount";
    case CLBlastInvalidLocalThreadsTotal: return "CLBlastInvalidLocalThreadsTotal";
    case CLBlastInvalidLocalThreadsDim: return "CLBlastInvalidLocalThreadsDim";
    case CLBlastInvalidOverrideKernel: return "CLBlastInvalidOverrideKernel";
    case CLBlastMissingOverrideParameter: return "CLBlastMissingOverrideParameter";
    case CLBlastDatabaseError: return "CLBlastDatabaseError";
    case CLBlastInvalidDimension: return "CLBlastInvalidDimension";
    case CLBlastInvalidLeadDimA: return "CLBlastInvalidLeadDimA";
    case CLBlastInvalidLeadDimB: return "CLBlastInvalidLeadDimB";
    case CLBlastInvalidLeadDimC: return "CLBlastInvalidLeadDimC";
    case CLBlastUnknownError: return "CLBlastUnknownError";
    case CLBlastUnexpectedError: return "CLBlastUnexpectedError";
    default: return ocl_err_name((cl_int)s); /* the OpenCL codes pass through unchanged */
    }
}

/* HRM_OPENCL_PROFILE: a CLBlast call is filed under its shape */
static void profile_matmul(hrm_device *dev, const hrm_matmul_args *a, int batch, CLBlastStatusCode s) {
    if (!dev->profile) return;
    if (s != CLBlastSuccess) {
        if (dev->profile_ev) clReleaseEvent(dev->profile_ev);
        dev->profile_ev = NULL;
        return;
    }
    char label[96];
    snprintf(label, sizeof label, "matmul m=%d n=%d k=%d %c%c batch=%d", a->m, a->n, a->k, a->trans_a ? 'T' : 'N',
             a->trans_b ? 'T' : 'N', batch);
    ocl_profile_record(dev, label, 1, 2.0 * a->m * a->n * (double)a->k * batch);
}

hrm_status ocl_matmul(hrm_device *dev, const hrm_matmul_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    OCL_TRY(check_matmul(dev, a));
    if (a->m == 0 || a->n == 0) return HRM_OK;
    if (a->k == 0) return ocl_matmul_scale_c(dev, a, a->beta);
    if (a->beta == 0.0f && dev->beta0_needs_clear) OCL_TRY(ocl_matmul_scale_c(dev, a, 0.0f));
    CLBlastTranspose ta = a->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = a->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastStatusCode s;
    if (a->batch > 1 && a->stride_a > 0 && a->stride_b > 0 && a->stride_c > 0) {
        s = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, (size_t)a->m, (size_t)a->n, (size_t)a->k,
                                       a->alpha, a->a.buf->mem, a->a.off, (size_t)a->lda, (size_t)a->stride_a,
                                       a->b.buf->mem, a->b.off, (size_t)a->ldb, (size_t)a->stride_b, a->beta,
                                       a->c.buf->mem, a->c.off, (size_t)a->ldc, (size_t)a->stride_c, (size_t)a->batch,
                                       &dev->queue, ocl_profile_event(dev));
        profile_matmul(dev, a, a->batch, s);
    } else {
        /* one matrix, or a zero stride (CLBlast's batched call refuses it): one SGEMM per item */
        s = CLBlastSuccess;
        for (int i = 0; i < a->batch && s == CLBlastSuccess; i++) {
            s = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, (size_t)a->m, (size_t)a->n, (size_t)a->k, a->alpha,
                             a->a.buf->mem, a->a.off + (size_t)(i * a->stride_a), (size_t)a->lda, a->b.buf->mem,
                             a->b.off + (size_t)(i * a->stride_b), (size_t)a->ldb, a->beta, a->c.buf->mem,
                             a->c.off + (size_t)(i * a->stride_c), (size_t)a->ldc, &dev->queue, ocl_profile_event(dev));
            profile_matmul(dev, a, 1, s);
        }
    }
    if (s == CLBlastSuccess) return HRM_OK;
    if (s == CLBlastTempBufferAllocFailure || s == CLBlastOpenCLOutOfResources || s == CLBlastOpenCLOutOfHostMemory)
        return ocl_fail(dev->be, HRM_ERR_OUT_OF_MEMORY, "%s: out of device memory: CLBlast failed (%s)", OP,
                        clblast_name(s));
    return ocl_fail(dev->be, HRM_ERR_DEVICE, "%s: CLBlast sgemm failed: %s (%d) for m=%d n=%d k=%d batch=%d", OP,
                    clblast_name(s), (int)s, a->m, a->n, a->k, a->batch);
}

/* ---- validation ------------------------------------------------------------------------------------ */

typedef struct vshape {
    int ta, tb, m, n, k, batch;
    float alpha, beta;
} vshape;

static const vshape SHAPES[] = {
    {0, 0, 7, 5, 3, 1, 1.0f, 0.0f},   {1, 0, 17, 13, 9, 1, 1.0f, 0.5f},   {0, 1, 33, 31, 65, 2, 0.5f, 0.0f},
    {1, 1, 5, 64, 11, 1, 1.0f, 1.0f}, {0, 1, 64, 96, 128, 1, 1.0f, 0.0f}, {0, 0, 129, 67, 130, 3, 1.0f, 0.0f},
};

static void host_gemm(const vshape *s, const float *A, const float *B, float *C, int lda, int ldb, int ldc, long sa,
                      long sb, long sc) {
    for (int i = 0; i < s->batch; i++)
        for (int r = 0; r < s->m; r++)
            for (int c = 0; c < s->n; c++) {
                double acc = 0.0;
                for (int p = 0; p < s->k; p++) {
                    float av = s->ta ? A[i * sa + (long)p * lda + r] : A[i * sa + (long)r * lda + p];
                    float bv = s->tb ? B[i * sb + (long)c * ldb + p] : B[i * sb + (long)p * ldb + c];
                    acc += (double)av * bv;
                }
                float *cv = &C[i * sc + (long)r * ldc + c];
                *cv = (float)(s->alpha * acc + (s->beta == 0.0f ? 0.0 : (double)s->beta * *cv));
            }
}

/* Runs one shape on the device; C starts as `init` (NaN tests the beta = 0 rule). Writes the
 * largest error relative to the largest magnitude of the expected result to *err_out. `corrupt`
 * (the HRM_OPENCL_TEST_CORRUPT_GEMM hook) makes one element of the device's result 1% wrong. */
static hrm_status run_shape(hrm_device *dev, const vshape *s, float init, int corrupt, double *err_out) {
    int lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n, ldc = s->n;
    long sa = (long)lda * (s->ta ? s->k : s->m), sb = (long)ldb * (s->tb ? s->n : s->k), sc = (long)ldc * s->m;
    size_t na = (size_t)(sa * s->batch), nb = (size_t)(sb * s->batch), nc = (size_t)(sc * s->batch);
    float *A = malloc(na * 4), *B = malloc(nb * 4), *C = malloc(nc * 4), *D = malloc(nc * 4);
    hrm_status st = HRM_OK;
    hrm_buffer ba = {dev, na * 4, NULL}, bb = {dev, nb * 4, NULL}, bc = {dev, nc * 4, NULL};
    if (!A || !B || !C || !D) {
        st = ocl_fail(dev->be, HRM_ERR_OUT_OF_MEMORY, "device_open: out of host memory");
        goto done;
    }
    uint32_t x = 12345u;
    for (size_t i = 0; i < na; i++) A[i] = (float)((x = x * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    for (size_t i = 0; i < nb; i++) B[i] = (float)((x = x * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    for (size_t i = 0; i < nc; i++) C[i] = init;
    memcpy(D, C, nc * 4);
    cl_int err;
    ba.mem = clCreateBuffer(dev->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, na * 4, A, &err);
    if (ba.mem) bb.mem = clCreateBuffer(dev->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, nb * 4, B, &err);
    if (bb.mem) bc.mem = clCreateBuffer(dev->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, nc * 4, C, &err);
    if (!bc.mem) {
        st = ocl_cl_fail(dev->be, err, "device_open", "clCreateBuffer (GEMM validation)");
        goto done;
    }
    hrm_matmul_args args = {.trans_a = s->ta,
                            .trans_b = s->tb,
                            .m = s->m,
                            .n = s->n,
                            .k = s->k,
                            .alpha = s->alpha,
                            .beta = s->beta,
                            .a = {&ba, 0},
                            .lda = lda,
                            .stride_a = sa,
                            .b = {&bb, 0},
                            .ldb = ldb,
                            .stride_b = sb,
                            .c = {&bc, 0},
                            .ldc = ldc,
                            .stride_c = sc,
                            .batch = s->batch};
    st = ocl_matmul(dev, &args);
    if (st != HRM_OK) goto done;
    err = clEnqueueReadBuffer(dev->queue, bc.mem, CL_TRUE, 0, nc * 4, C, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        st = ocl_cl_fail(dev->be, err, "device_open", "clEnqueueReadBuffer (GEMM validation)");
        goto done;
    }
    host_gemm(s, A, B, D, lda, ldb, ldc, sa, sb, sc);
    double scale = 1e-30, worst = 0.0;
    for (size_t i = 0; i < nc; i++) scale = fmax(scale, fabs(D[i]));
    if (corrupt) C[nc / 2] += (float)(0.01 * scale);
    for (size_t i = 0; i < nc; i++) {
        double e = fabs((double)C[i] - D[i]);
        if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
    }
    *err_out = worst / scale;
done:
    if (ba.mem) clReleaseMemObject(ba.mem);
    if (bb.mem) clReleaseMemObject(bb.mem);
    if (bc.mem) clReleaseMemObject(bc.mem);
    free(A);
    free(B);
    free(C);
    free(D);
    return st;
}

hrm_status ocl_validate_gemm(hrm_device *dev, char *note, size_t note_size) {
    const char *name = dev->be->devs[dev->index].info.name;
    /* does CLBlast keep NaN out of C when beta = 0? (the ABI says it must) */
    double e = 0.0;
    dev->beta0_needs_clear = 0;
    hrm_status st = run_shape(dev, &SHAPES[0], NAN, 0, &e);
    if (st != HRM_OK) {
        snprintf(note, note_size, "GEMM validation could not run: %s", dev->be->error);
        return st;
    }
    if (!(e < 1e-5)) {
        dev->beta0_needs_clear = 1;
        ocl_log(dev->be, HRM_LOG_DEBUG, "CLBlast lets NaN in C through with beta = 0; C is cleared first");
    }
    const char *hook = getenv("HRM_OPENCL_TEST_CORRUPT_GEMM");
    int corrupt = hook && hook[0] && strcmp(hook, "0") != 0;
    for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++) {
        const vshape *s = &SHAPES[i];
        st = run_shape(dev, s, 0.25f, corrupt, &e);
        if (st != HRM_OK) {
            snprintf(note, note_size, "GEMM validation could not run: %s", dev->be->error);
            return st;
        }
        if (!(e < 1e-4)) {
            snprintf(note, note_size, "failed GEMM validation (CLBlast gave wrong results)");
            return ocl_fail(
                dev->be, HRM_ERR_VALIDATION,
                "%s failed GEMM validation: CLBlast's sgemm (m=%d n=%d k=%d trans_a=%d trans_b=%d batch=%d) is "
                "off by %.3g relative to the host result; CLBlast " OCL_CLBLAST_VERSION " is known to be "
                "wrong on some GPUs (fixed in CLBlast 1.6.3): install CLBlast 1.6.3 or later, or use "
                "another backend",
                name, s->m, s->n, s->k, s->ta, s->tb, s->batch, e);
        }
    }
    snprintf(note, note_size, "passed GEMM validation (%zu shapes)%s", sizeof SHAPES / sizeof SHAPES[0],
             dev->fp64 ? ", fp64" : "");
    ocl_log(dev->be, HRM_LOG_INFO, "%s: %s", name, note);
    return HRM_OK;
}
