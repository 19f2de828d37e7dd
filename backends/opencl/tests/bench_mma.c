/* backends/opencl/tests/bench_mma.c - times matmul on the OpenCL backend at every precision the
 * device offers (highest = CLBlast, high = tf32 mma, medium = bf16 mma) at one shape and the
 * transpose pairs NN, NT, TN, and checks a sample of each result against the host (the rounded
 * operands' product in double, within (k + 4) 2^-23 sum |a' b'| as in test_mma.c). Not a test: a
 * tool for a GPU session, e.g. `bench_mma 4096 4096 4096 20` on the H200 (targets: bf16 >= 200
 * TFLOP/s, tf32 >= 100). HRM_OPENCL_MMA selects the variant as usual.
 * usage: bench_mma [M N K [REPS]]   (default 4096 4096 4096 10) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hrm/hrm.h"
#include "mma_ref.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void log_line(void *user, hrm_log_level level, const char *backend, const char *message) {
    (void)user;
    if (level <= HRM_LOG_INFO) fprintf(stderr, "%s: %s\n", backend ? backend : "hrm", message);
}

static void ok(hrm_ctx *c, hrm_status s, const char *what) {
    if (s == HRM_OK) return;
    fprintf(stderr, "bench_mma: %s: %s\n", what, c->f->last_error(c->be));
    exit(2);
}

int main(int argc, char **argv) {
    int m = argc > 3 ? atoi(argv[1]) : 4096, n = argc > 3 ? atoi(argv[2]) : 4096, k = argc > 3 ? atoi(argv[3]) : 4096;
    int reps = argc > 4 ? atoi(argv[4]) : 10;
    if (m < 1 || n < 1 || k < 1 || reps < 1) {
        fprintf(stderr, "usage: bench_mma [M N K [REPS]]\n");
        return 2;
    }
    hrm_host host = *hrm_default_host();
    host.log = log_line;
    hrm_ctx c;
    char err[1024];
    if (hrm_ctx_open("opencl", 0, &host, &c, err, sizeof err) != HRM_OK) {
        fprintf(stderr, "bench_mma: %s\n", err);
        return 2;
    }
    hrm_device_info info;
    c.f->device_info(c.be, 0, &info);
    printf("device: %s; %s\n", info.name, info.note);
    size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
    float *A = malloc(na * 4), *B = malloc(nb * 4), *C = malloc(nc * 4);
    uint32_t s = 1u;
    for (size_t i = 0; i < na; i++) A[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    for (size_t i = 0; i < nb; i++) B[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    hrm_buffer *ba, *bb, *bc;
    ok(&c, c.f->buffer_alloc(c.dev, na * 4, &ba), "buffer_alloc");
    ok(&c, c.f->buffer_alloc(c.dev, nb * 4, &bb), "buffer_alloc");
    ok(&c, c.f->buffer_alloc(c.dev, nc * 4, &bc), "buffer_alloc");
    ok(&c, c.f->buffer_write(ba, 0, A, na * 4), "buffer_write");
    ok(&c, c.f->buffer_write(bb, 0, B, nb * 4), "buffer_write");
    uint32_t offered = hrm_ctx_matmul_precisions(&c);
    static const char *pairs[] = {"NT", "NN", "TN"};
    int failed = 0;
    for (int p = 0; p < HRM_PRECISION_COUNT; p++) {
        if (!(offered & HRM_PRECISION_BIT(p))) {
            printf("%-8s not offered\n", hrm_precision_name((hrm_matmul_precision)p));
            continue;
        }
        for (int t = 0; t < 3; t++) {
            /* A is [m, k] (N) or [k, m] (T), B [k, n] (N) or [n, k] (T): the same buffers, read as
             * the transposes say (the values differ, the host check follows the same reading) */
            int ta = pairs[t][0] == 'T', tb = pairs[t][1] == 'T';
            hrm_matmul_args a = {.trans_a = ta,
                                 .trans_b = tb,
                                 .m = m,
                                 .n = n,
                                 .k = k,
                                 .alpha = 1.0f,
                                 .beta = 0.0f,
                                 .a = {ba, 0},
                                 .lda = ta ? m : k,
                                 .b = {bb, 0},
                                 .ldb = tb ? k : n,
                                 .c = {bc, 0},
                                 .ldc = n,
                                 .batch = 1};
            ok(&c, hrm_ctx_matmul(&c, &a, (hrm_matmul_precision)p), "matmul (warm-up)");
            ok(&c, c.f->finish(c.dev), "finish");
            double t0 = now();
            for (int r = 0; r < reps; r++) ok(&c, hrm_ctx_matmul(&c, &a, (hrm_matmul_precision)p), "matmul");
            ok(&c, c.f->finish(c.dev), "finish");
            double dt = (now() - t0) / reps;
            ok(&c, c.f->buffer_read(bc, 0, C, nc * 4), "buffer_read");
            double worst = 0.0;
            uint32_t q = 7u;
            for (int e = 0; e < 256; e++) { /* a sample of C against the host */
                int i = (int)((q = q * 1664525u + 1013904223u) % (uint32_t)m);
                int j = (int)((q = q * 1664525u + 1013904223u) % (uint32_t)n);
                double acc = 0.0, mag = 0.0;
                for (int x = 0; x < k; x++) {
                    float av = ta ? A[(size_t)x * m + i] : A[(size_t)i * k + x];
                    float bv = tb ? B[(size_t)j * k + x] : B[(size_t)x * n + j];
                    double pr =
                        (double)mma_ref_round(av, (hrm_matmul_precision)p) * mma_ref_round(bv, (hrm_matmul_precision)p);
                    acc += pr, mag += fabs(pr);
                }
                double r = fabs(C[(size_t)i * n + j] - acc) / mma_ref_bound(k, mag);
                if (!(r <= worst)) worst = isnan(r) ? INFINITY : r;
            }
            printf("%-8s %s m=%d n=%d k=%d: %9.3f ms  %8.2f TFLOP/s  sample error %.3f of the bound%s\n",
                   hrm_precision_name((hrm_matmul_precision)p), pairs[t], m, n, k, dt * 1e3,
                   2.0 * m * n * (double)k / dt / 1e12, worst, worst <= 1.0 ? "" : "  WRONG");
            if (!(worst <= 1.0)) failed++;
        }
    }
    c.f->buffer_free(ba), c.f->buffer_free(bb), c.f->buffer_free(bc);
    hrm_ctx_close(&c);
    free(A), free(B), free(C);
    return failed ? 1 : 0;
}
