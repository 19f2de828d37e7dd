/* ocl_mma.c - matmul at precision high (tf32 operands) and medium (bf16 operands), fp32
 * accumulation, through our own tiled GEMM (kernels/mma.cl): its variant, build, start-up
 * validation and launch. CLBlast stays the fp32 path ("highest").
 *
 * The variant (HRM_OPENCL_MMA, read at device_open):
 *   auto      (default) PTX mma.sync on NVIDIA devices of compute capability 8.0 or later (from
 *             cl_nv_device_attribute_query); no reduced precision elsewhere.
 *   ptx       the PTX variant on any device (it builds only on NVIDIA's compiler).
 *   portable  the portable variant on any device: plain OpenCL C, slow; for tests (PoCL,
 *             Oclgrind) and for checking a new device against the same fragment logic.
 *   off       CLBlast only.
 * The kernels are their own program: a build failure (a driver whose compiler refuses the inline
 * PTX) costs the reduced precisions, with one info line, never the device. Each precision then
 * runs the validation below against a host GEMM of the rounded operands; one that fails is not
 * offered, with one warning line. HRM_OPENCL_TEST_CORRUPT_MMA=high|medium|tf32|bf16|all is the
 * test hook that makes that validation see a wrong element; HRM_OPENCL_TEST_MMA_UNVALIDATED=1 the
 * one that offers both precisions without running it (Oclgrind, where it takes minutes: the test
 * run there checks its own results). HRM_OPENCL_MMA_DUMP=FILE writes the program binary (PTX on
 * NVIDIA) to FILE after the build, to inspect what the compiler made. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocl_internal.h"
#include "ocl_mma_kernels.h"

static const char *const OP = "matmul_precision";
static const char *const VARIANT_NAME[] = {"none", "portable", "ptx"};

/* cl_nv_device_attribute_query (cl_ext.h has them as CL_DEVICE_COMPUTE_CAPABILITY_*_NV) */
#define OCL_NV_CC_MAJOR 0x4000
#define OCL_NV_CC_MINOR 0x4001

static const char *prec_name(hrm_matmul_precision p) {
    return p == HRM_PRECISION_HIGH ? "high (tf32)" : p == HRM_PRECISION_MEDIUM ? "medium (bf16)" : "highest (fp32)";
}

/* ---- the host's rounding: the kernel's (kernels/mma.cl), bit for bit --------------------------- */

static float bits_float(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* tf32: to nearest, ties away from zero; bf16: to nearest even. Inf unchanged, NaN stays NaN. */
static float round_operand(float x, hrm_matmul_precision p) {
    uint32_t u = float_bits(x);
    if ((u & 0x7f800000u) == 0x7f800000u) return (u & 0x007fffffu) ? bits_float(u | 0x00400000u) : x;
    if (p == HRM_PRECISION_HIGH) return bits_float((u + 0x1000u) & 0xffffe000u);
    if (p == HRM_PRECISION_MEDIUM) return bits_float((u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u);
    return x;
}

/* ---- launch ---------------------------------------------------------------------------------- */

static int multiple_of_4(uint64_t off, int64_t ld, int64_t stride) {
    return off % 4 == 0 && ld % 4 == 0 && stride % 4 == 0;
}

/* The kernel over n tiles x m tiles x batch, in launches of at most OCL_MAX_GROUPS_YZ work-groups in
 * dimensions 1 and 2 (ocl_launch_split's rule), each filed under its shape when profiling. */
static hrm_status mma_launch(hrm_device *dev, const hrm_matmul_args *a, hrm_matmul_precision p) {
    ocl_kernel *k = &dev->mma[p == HRM_PRECISION_MEDIUM ? OCL_MMA_BF16 : OCL_MMA_TF32];
    int vec = dev->mma_vec;
    cl_int flags = (a->trans_a ? 0 : 1) | (a->trans_b ? 2 : 0) |
                   (vec && multiple_of_4(a->a.off, a->lda, a->stride_a) ? 4 : 0) |
                   (vec && multiple_of_4(a->b.off, a->ldb, a->stride_b) ? 8 : 0);
    cl_long lda = a->lda, ldb = a->ldb, ldc = a->ldc, sa = a->stride_a, sb = a->stride_b, sc = a->stride_c;
    ocl_args g = ocl_args_begin(dev, k);
    ocl_arg_ptr(&g, a->a);
    OCL_ARG(&g, lda);
    OCL_ARG(&g, sa);
    ocl_arg_ptr(&g, a->b);
    OCL_ARG(&g, ldb);
    OCL_ARG(&g, sb);
    ocl_arg_ptr(&g, a->c);
    OCL_ARG(&g, ldc);
    OCL_ARG(&g, sc);
    OCL_ARG(&g, a->m);
    OCL_ARG(&g, a->n);
    OCL_ARG(&g, a->k);
    OCL_ARG(&g, a->alpha);
    OCL_ARG(&g, a->beta);
    OCL_ARG(&g, flags);
    if (g.err != CL_SUCCESS) return ocl_cl_fail(dev->be, g.err, OP, "clSetKernelArg");
    uint64_t bm = (uint64_t)dev->mma_bm, tiles_n = ((uint64_t)a->n + bm - 1) / bm,
             tiles_m = ((uint64_t)a->m + bm - 1) / bm;
    size_t local[3] = {dev->mma_wg, 1, 1};
    char label[96];
    if (dev->profile)
        snprintf(label, sizeof label, "matmul %s m=%d n=%d k=%d %c%c batch=%d",
                 p == HRM_PRECISION_MEDIUM ? "bf16" : "tf32", a->m, a->n, a->k, a->trans_a ? 'T' : 'N',
                 a->trans_b ? 'T' : 'N', a->batch);
    for (uint64_t o2 = 0; o2 < (uint64_t)a->batch; o2 += OCL_MAX_GROUPS_YZ)
        for (uint64_t o1 = 0; o1 < tiles_m; o1 += OCL_MAX_GROUPS_YZ) {
            uint64_t n1 = tiles_m - o1 < OCL_MAX_GROUPS_YZ ? tiles_m - o1 : OCL_MAX_GROUPS_YZ;
            uint64_t n2 = (uint64_t)a->batch - o2 < OCL_MAX_GROUPS_YZ ? (uint64_t)a->batch - o2 : OCL_MAX_GROUPS_YZ;
            size_t offset[3] = {0, (size_t)o1, (size_t)o2},
                   global[3] = {(size_t)(tiles_n * dev->mma_wg), (size_t)n1, (size_t)n2};
            cl_int err =
                clEnqueueNDRangeKernel(dev->queue, k->k, 3, offset, global, local, 0, NULL, ocl_profile_event(dev));
            if (err != CL_SUCCESS) return ocl_cl_fail(dev->be, err, OP, "clEnqueueNDRangeKernel (mma)");
            if (dev->profile) {
                double rows =
                    n1 * bm < (uint64_t)a->m - o1 * bm ? (double)(n1 * bm) : (double)((uint64_t)a->m - o1 * bm);
                ocl_profile_record(dev, label, 0, 2.0 * rows * a->n * (double)a->k * (double)n2);
            }
        }
    return HRM_OK;
}

uint32_t ocl_matmul_precisions(hrm_device *dev) {
    return dev ? dev->precisions : HRM_PRECISION_BIT(HRM_PRECISION_HIGHEST);
}

hrm_status ocl_matmul_precision(hrm_device *dev, const hrm_matmul_args *a, hrm_matmul_precision p) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    if (p == HRM_PRECISION_HIGHEST) return ocl_matmul(dev, a);
    if ((unsigned)p >= HRM_PRECISION_COUNT)
        return ocl_fail(dev->be, HRM_ERR_UNSUPPORTED, "%s: unknown precision %d", OP, (int)p);
    if (!(dev->precisions & HRM_PRECISION_BIT(p)))
        return ocl_fail(dev->be, HRM_ERR_UNSUPPORTED,
                        "%s: precision %s is not offered by this device (HRM_OPENCL_MMA variant %s; see the "
                        "device's note)",
                        OP, prec_name(p), VARIANT_NAME[dev->mma_variant]);
    OCL_TRY(hrm_check_matmul_sizes(&ocl_checker, dev, a));
    OCL_TRY(hrm_check_matmul_tensors(&ocl_checker, dev, a));
    if (a->m == 0 || a->n == 0) return HRM_OK;
    if (a->k == 0) return ocl_matmul_scale_c(dev, a, a->beta);
    if (a->batch > 1 && a->stride_c < (int64_t)(a->m - 1) * a->ldc + a->n) {
        /* the items' C overlap (stride_c 0: a sum over the batch with beta = 1): one at a time, in
         * order on the in-order queue, as the CPU backend and the CLBlast path run them */
        hrm_matmul_args one = *a;
        one.batch = 1;
        for (int i = 0; i < a->batch; i++) {
            one.a.off = a->a.off + (size_t)((int64_t)i * a->stride_a);
            one.b.off = a->b.off + (size_t)((int64_t)i * a->stride_b);
            one.c.off = a->c.off + (size_t)((int64_t)i * a->stride_c);
            OCL_TRY(mma_launch(dev, &one, p));
        }
        return HRM_OK;
    }
    return mma_launch(dev, a, p);
}

/* ---- validation ------------------------------------------------------------------------------- */

/* A shape of the start-up check: transposes, sizes, batch, alpha, beta; `pad` extra elements of
 * leading dimension on every operand, `off` elements before each operand, zero_b: B shared by the
 * batch (stride 0). C starts as NaN where beta = 0 (it must not be read). */
typedef struct mshape {
    int ta, tb, m, n, k, batch;
    float alpha, beta;
    int pad, off, zero_b;
} mshape;

static const mshape MSHAPES[] = {
    {0, 0, 1, 1, 1, 1, 1.0f, 0.0f, 0, 0, 0},    {1, 0, 17, 13, 9, 1, 1.0f, 0.5f, 3, 1, 0},
    {0, 1, 33, 31, 65, 2, 0.5f, 0.0f, 0, 4, 0}, {1, 1, 5, 40, 11, 1, 1.0f, 1.0f, 1, 0, 0},
    {0, 0, 70, 9, 33, 2, 1.0f, 0.0f, 4, 0, 1},  {0, 1, 131, 130, 20, 1, -1.0f, 0.25f, 0, 0, 0},
};
#define NMSHAPES (sizeof MSHAPES / sizeof MSHAPES[0])

/* The bound on |device - host| for one element, from fp32 accumulation: the products of rounded
 * operands are exact, the device adds k of them in fp32 (each addition off by at most 2^-23 of the
 * running magnitude, which also covers tensor cores that truncate), then alpha and beta in fp32;
 * the host sums in double. So |error| <= (k + 2) 2^-23 (|alpha| sum_p |a_p b_p| + |beta c|); the
 * check allows (k + 4) 2^-23 of that. A wrong fragment index or a missing operand is off by the
 * order of the whole sum. */
static double mma_bound(int k) { return (k + 4) * ldexp(1.0, -23); }

static float lcg(uint32_t *x) { return (float)((*x = *x * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f; }

/* Runs one shape at precision p and writes the largest error relative to its bound to *ratio
 * (<= 1 passes; NaN where the device gave NaN or Inf for a finite result). `corrupt` makes one
 * element of the device's result 1% (of the largest) wrong. */
static hrm_status mma_run_shape(hrm_device *dev, const mshape *s, hrm_matmul_precision p, int corrupt, double *ratio) {
    int64_t ar = s->ta ? s->k : s->m, ac = s->ta ? s->m : s->k, br = s->tb ? s->n : s->k, bc = s->tb ? s->k : s->n;
    int64_t lda = ac + s->pad, ldb = bc + s->pad, ldc = s->n + s->pad;
    int64_t sa = lda * ar, sb = s->zero_b ? 0 : ldb * br, sc = ldc * s->m;
    size_t na = (size_t)(s->off + sa * s->batch), nb = (size_t)(s->off + (s->zero_b ? ldb * br : sb * s->batch));
    size_t nc = (size_t)(s->off + sc * s->batch);
    float *A = malloc(na * 4), *B = malloc(nb * 4), *C = malloc(nc * 4), *C0 = malloc(nc * 4);
    hrm_status st = HRM_OK;
    hrm_buffer ba = {dev, na * 4, NULL}, bb = {dev, nb * 4, NULL}, bcb = {dev, nc * 4, NULL};
    if (!A || !B || !C || !C0) {
        st = ocl_fail(dev->be, HRM_ERR_OUT_OF_MEMORY, "device_open: out of host memory");
        goto done;
    }
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < na; i++) A[i] = lcg(&x);
    for (size_t i = 0; i < nb; i++) B[i] = lcg(&x);
    for (size_t i = 0; i < nc; i++) C0[i] = s->beta == 0.0f ? NAN : lcg(&x);
    cl_int err;
    ba.mem = clCreateBuffer(dev->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, na * 4, A, &err);
    if (ba.mem) bb.mem = clCreateBuffer(dev->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, nb * 4, B, &err);
    if (bb.mem) bcb.mem = clCreateBuffer(dev->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, nc * 4, C0, &err);
    if (!bcb.mem) {
        st = ocl_cl_fail(dev->be, err, "device_open", "clCreateBuffer (mma validation)");
        goto done;
    }
    hrm_matmul_args args = {.trans_a = s->ta,
                            .trans_b = s->tb,
                            .m = s->m,
                            .n = s->n,
                            .k = s->k,
                            .alpha = s->alpha,
                            .beta = s->beta,
                            .a = {&ba, (size_t)s->off},
                            .lda = lda,
                            .stride_a = sa,
                            .b = {&bb, (size_t)s->off},
                            .ldb = ldb,
                            .stride_b = sb,
                            .c = {&bcb, (size_t)s->off},
                            .ldc = ldc,
                            .stride_c = sc,
                            .batch = s->batch};
    st = mma_launch(dev, &args, p);
    if (st != HRM_OK) goto done;
    err = clEnqueueReadBuffer(dev->queue, bcb.mem, CL_TRUE, 0, nc * 4, C, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        st = ocl_cl_fail(dev->be, err, "device_open", "clEnqueueReadBuffer (mma validation)");
        goto done;
    }
    /* the host's result from the rounded operands (products exact, summed in double) and each
     * element's bound; the corruption hook then moves the largest element by 1% */
    double worst = 0.0, biggest = -1.0, big_bound = 1.0;
    for (int bi = 0; bi < s->batch; bi++)
        for (int r = 0; r < s->m; r++)
            for (int c = 0; c < s->n; c++) {
                double acc = 0.0, mag = 0.0;
                for (int q = 0; q < s->k; q++) {
                    size_t ia = (size_t)(s->off + bi * sa + (s->ta ? q * lda + r : r * lda + q));
                    size_t ib = (size_t)(s->off + bi * sb + (s->tb ? c * ldb + q : q * ldb + c));
                    double prod = (double)round_operand(A[ia], p) * round_operand(B[ib], p);
                    acc += prod, mag += fabs(prod);
                }
                size_t ic = (size_t)(s->off + bi * sc + r * ldc + c);
                double want = s->alpha * acc + (s->beta == 0.0f ? 0.0 : (double)s->beta * C0[ic]);
                double bound =
                    mma_bound(s->k) * (fabs(s->alpha) * mag + (s->beta == 0.0f ? 0.0 : fabs(s->beta * C0[ic])));
                if (corrupt && fabs(want) > biggest) biggest = fabs(want), big_bound = bound + 1e-30;
                double e = fabs(C[ic] - want) / (bound + 1e-30);
                if (isnan(e)) {
                    worst = NAN;
                    goto compared;
                }
                if (e > worst) worst = e;
            }
    if (corrupt && biggest > 0.0 && 0.01 * biggest / big_bound > worst) /* as if the device had been 1% off there */
        worst = 0.01 * biggest / big_bound;
    /* every element of C's buffer outside the m x n matrices (the padding, the offset) is untouched */
    for (size_t i = 0; i < nc; i++) {
        size_t j = i - (size_t)s->off;
        int inside = i >= (size_t)s->off && (int64_t)(j % (size_t)sc) % ldc < s->n;
        if (!inside && memcmp(&C[i], &C0[i], 4) != 0) worst = INFINITY;
    }
compared:
    *ratio = worst;
done:
    if (ba.mem) clReleaseMemObject(ba.mem);
    if (bb.mem) clReleaseMemObject(bb.mem);
    if (bcb.mem) clReleaseMemObject(bcb.mem);
    free(A);
    free(B);
    free(C);
    free(C0);
    return st;
}

/* The test hook HRM_OPENCL_TEST_CORRUPT_MMA: does it name precision p? */
static int corrupt_hook(hrm_matmul_precision p) {
    const char *h = getenv("HRM_OPENCL_TEST_CORRUPT_MMA");
    if (!h || !h[0] || !strcmp(h, "0")) return 0;
    if (!strcmp(h, "all") || !strcmp(h, "1")) return 1;
    if (p == HRM_PRECISION_HIGH) return !strcmp(h, "high") || !strcmp(h, "tf32");
    return !strcmp(h, "medium") || !strcmp(h, "bf16");
}

/* Validates precision p; 1 when it passed, else 0 with one warning line saying why. */
static int mma_validate(hrm_device *dev, hrm_matmul_precision p) {
    const char *name = dev->be->devs[dev->index].info.name;
    int corrupt = corrupt_hook(p);
    for (size_t i = 0; i < NMSHAPES; i++) {
        const mshape *s = &MSHAPES[i];
        double ratio = 0.0;
        hrm_status st = mma_run_shape(dev, s, p, corrupt, &ratio);
        if (st != HRM_OK) {
            ocl_log(dev->be, HRM_LOG_WARN, "%s: matmul precision %s not offered: its validation could not run: %s",
                    name, prec_name(p), dev->be->error);
            return 0;
        }
        if (!(ratio <= 1.0)) {
            ocl_log(
                dev->be, HRM_LOG_WARN,
                "%s: matmul precision %s not offered: the %s mma kernel failed validation (m=%d n=%d k=%d trans_a=%d "
                "trans_b=%d batch=%d: error %.3g times the fp32-accumulation bound (k+4)*2^-23*sum|a*b|)%s",
                name, prec_name(p), VARIANT_NAME[dev->mma_variant], s->m, s->n, s->k, s->ta, s->tb, s->batch, ratio,
                corrupt ? " [HRM_OPENCL_TEST_CORRUPT_MMA]" : "");
            return 0;
        }
    }
    return 1;
}

/* ---- variant, build, init ----------------------------------------------------------------------- */

/* The compute capability of an NVIDIA device (cl_nv_device_attribute_query); 0 when not one. */
static int nvidia_cc(hrm_device *dev, int *major, int *minor) {
    char ext[8192] = "";
    cl_uint ma = 0, mi = 0;
    *major = *minor = 0;
    clGetDeviceInfo(dev->id, CL_DEVICE_EXTENSIONS, sizeof ext - 1, ext, NULL);
    if (!strstr(ext, "cl_nv_device_attribute_query")) return 0;
    if (clGetDeviceInfo(dev->id, OCL_NV_CC_MAJOR, sizeof ma, &ma, NULL) != CL_SUCCESS ||
        clGetDeviceInfo(dev->id, OCL_NV_CC_MINOR, sizeof mi, &mi, NULL) != CL_SUCCESS)
        return 0;
    *major = (int)ma, *minor = (int)mi;
    return 1;
}

/* Local memory of the kernel at tile bm: 4 tiles of bm x 20 words, and the portable exchange
 * areas (192 words per warp). Mirrors MMA_SMEM_WORDS and MMA_XCH_WORDS of kernels/mma.cl. */
static size_t mma_local_bytes(int bm, int portable) {
    size_t warps = bm == 128 ? 8 : 4;
    return (size_t)4 * (size_t)bm * 20 * 4 + (portable ? warps * 192 * 4 : 0);
}

/* HRM_OPENCL_MMA_DUMP=FILE: the built program's binary (on NVIDIA the PTX, where the registers,
 * the mma.sync and any local-memory stack frame can be read) goes to FILE. */
static void dump_binary(hrm_device *dev) {
    const char *path = getenv("HRM_OPENCL_MMA_DUMP");
    if (!path || !path[0]) return;
    size_t len = 0;
    int ok = 0;
    unsigned char *bin = NULL;
    if (clGetProgramInfo(dev->mma_program, CL_PROGRAM_BINARY_SIZES, sizeof len, &len, NULL) == CL_SUCCESS && len &&
        (bin = malloc(len))) {
        unsigned char *bins[1] = {bin};
        FILE *f = NULL;
        if (clGetProgramInfo(dev->mma_program, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS &&
            (f = fopen(path, "wb"))) {
            ok = fwrite(bin, 1, len, f) == len;
            if (fclose(f) != 0) ok = 0;
        }
    }
    free(bin);
    ocl_log(dev->be, ok ? HRM_LOG_INFO : HRM_LOG_WARN,
            "HRM_OPENCL_MMA_DUMP: %s the mma program binary (%zu bytes) to %s", ok ? "wrote" : "could not write", len,
            path);
}

/* The compiler's messages about a program that built (NVIDIA's with -cl-nv-verbose in
 * HRM_OPENCL_BUILD_OPTIONS: ptxas' registers and spills per kernel), at debug level, line by line.
 * A binary loaded from the cache has none. */
static void log_build_messages(hrm_device *dev) {
    size_t n = 0;
    if (clGetProgramBuildInfo(dev->mma_program, dev->id, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) != CL_SUCCESS || n < 2)
        return;
    char *log = malloc(n + 1);
    if (!log) return;
    if (clGetProgramBuildInfo(dev->mma_program, dev->id, CL_PROGRAM_BUILD_LOG, n, log, NULL) == CL_SUCCESS) {
        log[n] = '\0';
        for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n"))
            if (line[strspn(line, " \t\r")]) ocl_log(dev->be, HRM_LOG_DEBUG, "mma build log: %s", line);
    }
    free(log);
}

/* Builds the program for dev->mma_variant and dev->mma_bm and creates the kernels; 0 with why[]
 * saying why when that fails. */
static int mma_build(hrm_device *dev, char *why, size_t why_size) {
    const char *extra = getenv("HRM_OPENCL_BUILD_OPTIONS");
    int ptx = dev->mma_variant == OCL_MMA_PTX;
    char options[640], first[256] = "";
    cl_int err = CL_SUCCESS;
    int created = 1;
    /* the PTX variant: asm (as measured on NVIDIA's compiler), then __asm__ (clang-based compilers) */
    for (int attempt = 0; attempt < (ptx ? 2 : 1); attempt++) {
        snprintf(options, sizeof options, "-cl-std=CL1.2 -DHRM_MMA_BM=%d%s%s%s%s", dev->mma_bm,
                 ptx ? " -DHRM_MMA_PTX=1" : "", attempt ? " -DHRM_MMA_ASM=__asm__" : "", extra && extra[0] ? " " : "",
                 extra ? extra : "");
        err = ocl_program_build(dev, ocl_mma_source, sizeof ocl_mma_source, options, HRM_LOG_DEBUG, &dev->mma_program,
                                &created, first, sizeof first);
        if (err == CL_SUCCESS || !created) break;
    }
    if (err != CL_SUCCESS) {
        snprintf(why, why_size, "the %s mma kernel did not build (%s: %s)", VARIANT_NAME[dev->mma_variant],
                 ocl_err_name(err), first[0] ? first : "no build log");
        return 0;
    }
    log_build_messages(dev);
    dump_binary(dev);
    static const char *const names[2] = {"hrm_mma_tf32", "hrm_mma_bf16"};
    for (int i = 0; i < 2; i++) {
        dev->mma[i].k = clCreateKernel(dev->mma_program, names[i], &err);
        if (!dev->mma[i].k) {
            snprintf(why, why_size, "clCreateKernel(%s) failed: %s", names[i], ocl_err_name(err));
            return 0;
        }
        size_t kw = 0;
        clGetKernelWorkGroupInfo(dev->mma[i].k, dev->id, CL_KERNEL_WORK_GROUP_SIZE, sizeof kw, &kw, NULL);
        ocl_kernel_limits(dev, &dev->mma[i]);
        if (kw < dev->mma_wg) {
            snprintf(why, why_size, "%s runs work-groups of at most %zu work-items, it needs %zu", names[i], kw,
                     dev->mma_wg);
            return 0;
        }
    }
    return 1;
}

void ocl_mma_release(hrm_device *dev) {
    for (int i = 0; i < 2; i++) {
        if (dev->mma[i].k) clReleaseKernel(dev->mma[i].k);
        dev->mma[i].k = NULL;
    }
    if (dev->mma_program) clReleaseProgram(dev->mma_program);
    dev->mma_program = NULL;
    dev->precisions = HRM_PRECISION_BIT(HRM_PRECISION_HIGHEST);
}

/* Appends "; precisions: highest[, high][, medium][ (VARIANT)]" to note; the variant only where the
 * device's note (its "where" prefix, "; ", note) keeps it within hrm_device_info.note. */
static void append_note(hrm_device *dev, char *note, size_t note_size) {
    uint32_t p = dev->precisions;
    char suffix[96], variant[24] = "";
    if (p != HRM_PRECISION_BIT(HRM_PRECISION_HIGHEST))
        snprintf(variant, sizeof variant, " (%s)", VARIANT_NAME[dev->mma_variant]);
    size_t room = sizeof dev->be->devs[dev->index].info.note - 1,
           used = strlen(dev->be->devs[dev->index].where) + 2 + strlen(note);
    snprintf(suffix, sizeof suffix, "; precisions: highest%s%s",
             p & HRM_PRECISION_BIT(HRM_PRECISION_HIGH) ? ", high" : "",
             p & HRM_PRECISION_BIT(HRM_PRECISION_MEDIUM) ? ", medium" : "");
    if (used + strlen(suffix) + strlen(variant) <= room) strcat(suffix, variant);
    size_t len = strlen(note);
    if (len < note_size) snprintf(note + len, note_size - len, "%s", suffix);
}

void ocl_mma_init(hrm_device *dev, char *note, size_t note_size) {
    hrm_backend *be = dev->be;
    const char *name = be->devs[dev->index].info.name;
    dev->precisions = HRM_PRECISION_BIT(HRM_PRECISION_HIGHEST);
    dev->mma_variant = OCL_MMA_NONE;
    const char *mode = getenv("HRM_OPENCL_MMA");
    if (!mode || !mode[0]) mode = "auto";
    int major = 0, minor = 0, nv = nvidia_cc(dev, &major, &minor);
    char why[400] = "";
    if (!strcmp(mode, "off")) {
        snprintf(why, sizeof why, "HRM_OPENCL_MMA=off");
    } else if (!strcmp(mode, "portable")) {
        dev->mma_variant = OCL_MMA_PORTABLE;
    } else if (!strcmp(mode, "ptx")) {
        dev->mma_variant = OCL_MMA_PTX;
    } else {
        if (strcmp(mode, "auto"))
            ocl_log(be, HRM_LOG_WARN, "HRM_OPENCL_MMA=%s is not one of auto, portable, ptx, off: using auto", mode);
        if (nv && major >= 8)
            dev->mma_variant = OCL_MMA_PTX;
        else if (nv)
            snprintf(why, sizeof why,
                     "NVIDIA compute capability %d.%d has no mma.sync for tf32 and bf16 (8.0 or later)", major, minor);
        else
            snprintf(why, sizeof why,
                     "no matrix-instruction variant for this device (HRM_OPENCL_MMA=portable runs "
                     "the portable kernel)");
    }
    if (dev->mma_variant != OCL_MMA_NONE) {
        int portable = dev->mma_variant == OCL_MMA_PORTABLE;
        cl_uint align_bits = 0; /* float4 loads need buffers that start on 16 bytes */
        clGetDeviceInfo(dev->id, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, NULL);
        dev->mma_vec = align_bits >= 128;
        if (dev->max_wg >= 256 && dev->local_mem >= mma_local_bytes(128, portable))
            dev->mma_bm = 128, dev->mma_wg = 256;
        else if (dev->max_wg >= 128 && dev->local_mem >= mma_local_bytes(64, portable))
            dev->mma_bm = 64, dev->mma_wg = 128;
        else {
            snprintf(why, sizeof why,
                     "the mma kernel needs work-groups of 128 and %zu bytes of local memory (the device: %zu, %zu)",
                     mma_local_bytes(64, portable), dev->max_wg, dev->local_mem);
            dev->mma_variant = OCL_MMA_NONE;
        }
    }
    if (dev->mma_variant != OCL_MMA_NONE && !mma_build(dev, why, sizeof why)) {
        ocl_log(be, HRM_LOG_INFO, "%s: matmul precisions high and medium not offered: %s", name, why);
        ocl_mma_release(dev);
        dev->mma_variant = OCL_MMA_NONE;
    } else if (dev->mma_variant != OCL_MMA_NONE) {
        const char *trust = getenv("HRM_OPENCL_TEST_MMA_UNVALIDATED");
        int unvalidated = trust && !strcmp(trust, "1");
        if (unvalidated || mma_validate(dev, HRM_PRECISION_HIGH))
            dev->precisions |= HRM_PRECISION_BIT(HRM_PRECISION_HIGH);
        if (unvalidated || mma_validate(dev, HRM_PRECISION_MEDIUM))
            dev->precisions |= HRM_PRECISION_BIT(HRM_PRECISION_MEDIUM);
        if (dev->precisions == HRM_PRECISION_BIT(HRM_PRECISION_HIGHEST)) {
            ocl_mma_release(dev);
            dev->mma_variant = OCL_MMA_NONE;
        } else {
            char how[80];
            if (unvalidated)
                snprintf(how, sizeof how, "NOT validated (HRM_OPENCL_TEST_MMA_UNVALIDATED=1)");
            else
                snprintf(how, sizeof how, "passed validation (%zu shapes each)", NMSHAPES);
            ocl_log(be, HRM_LOG_INFO,
                    "%s: matmul precisions highest (fp32: CLBlast)%s%s: the %s mma kernel, tiles of %d x %d, %s", name,
                    dev->precisions & HRM_PRECISION_BIT(HRM_PRECISION_HIGH) ? ", high (tf32)" : "",
                    dev->precisions & HRM_PRECISION_BIT(HRM_PRECISION_MEDIUM) ? ", medium (bf16)" : "",
                    VARIANT_NAME[dev->mma_variant], dev->mma_bm, dev->mma_bm, how);
        }
    } else {
        ocl_log(be, HRM_LOG_DEBUG, "%s: matmul precision highest only: %s", name, why);
    }
    append_note(dev, note, note_size);
}
