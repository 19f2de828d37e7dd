/* backends/opencl/tests/test_mma_races.c - small products of the portable mma kernel (kernels/mma.cl
 * with HRM_OPENCL_MMA=portable) at both reduced precisions, checked against the host reference of
 * mma_ref.h. test-mma-races.sh runs it under Oclgrind's data-race detector, where a missing barrier
 * (between the K steps' buffers, or around a fragment exchange) or an access outside a buffer or
 * the local tiles shows as a reported error; PoCL runs a work-group's work-items one after
 * another between barriers, so there a race goes unseen.
 * The backend offers the precisions here without its start-up validation
 * (HRM_OPENCL_TEST_MMA_UNVALIDATED=1, set by the script): under the simulator that would take
 * minutes, and these cases check their results themselves. Cases: one per precision with k
 * contiguous in both operands (float4 loads, 2 or 3 K steps: the double buffer turns over) and one
 * with both transposed (the transposing loads), batch 2 with a shared operand, ragged m, n, k.
 * Tolerance as in test_mma.c: (k + 4) 2^-23 (|alpha| sum |a' b'| + |beta c|) per element.
 * Exit status 0 when every result matches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hrm/hrm.h"
#include "mma_ref.h"

static int failures;

static void show_log(void *user, hrm_log_level level, const char *backend, const char *message) {
    (void)user;
    if (level != HRM_LOG_DEBUG && backend && !strcmp(backend, "opencl") && strstr(message, "precision"))
        printf("    %s\n", message);
}

static float rnd(uint32_t *s) {
    *s ^= *s << 13, *s ^= *s >> 17, *s ^= *s << 5;
    return (float)(*s >> 8) / 16777216.0f - 0.5f;
}

static hrm_buffer *put(hrm_ctx *c, const float *x, size_t n) {
    hrm_buffer *b = NULL;
    if (c->f->buffer_alloc(c->dev, n * 4, &b) != HRM_OK || c->f->buffer_write(b, 0, x, n * 4) != HRM_OK) {
        fprintf(stderr, "opencl: %s\n", c->f->last_error(c->be));
        exit(2);
    }
    return b;
}

/* A packed (lda = width) product, batch 2 with B shared (stride 0), beta 0.5. */
static void check(hrm_ctx *c, hrm_matmul_precision p, int ta, int tb, int m, int n, int k) {
    const int batch = 2;
    int lda = ta ? m : k, ldb = tb ? k : n;
    size_t na = (size_t)m * k * batch, nb = (size_t)k * n, nc = (size_t)m * n * batch;
    float *A = malloc(na * 4), *B = malloc(nb * 4), *C = malloc(nc * 4), *got = malloc(nc * 4);
    uint32_t s = 12345u + (uint32_t)(m * 7 + n * 3 + k);
    for (size_t i = 0; i < na; i++) A[i] = rnd(&s);
    for (size_t i = 0; i < nb; i++) B[i] = rnd(&s);
    for (size_t i = 0; i < nc; i++) C[i] = rnd(&s);
    hrm_buffer *ba = put(c, A, na), *bb = put(c, B, nb), *bc = put(c, C, nc);
    hrm_matmul_args a = {.trans_a = ta,
                         .trans_b = tb,
                         .m = m,
                         .n = n,
                         .k = k,
                         .alpha = 1.0f,
                         .beta = 0.5f,
                         .a = {ba, 0},
                         .lda = lda,
                         .stride_a = (int64_t)m * k,
                         .b = {bb, 0},
                         .ldb = ldb,
                         .stride_b = 0,
                         .c = {bc, 0},
                         .ldc = n,
                         .stride_c = (int64_t)m * n,
                         .batch = batch};
    if (c->f->matmul_precision(c->dev, &a, p) != HRM_OK || c->f->buffer_read(bc, 0, got, nc * 4) != HRM_OK) {
        fprintf(stderr, "opencl: %s\n", c->f->last_error(c->be));
        exit(2);
    }
    double worst = 0.0;
    for (int bi = 0; bi < batch; bi++)
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double acc = 0.0, mag = 0.0;
                for (int q = 0; q < k; q++) {
                    float av = A[(size_t)bi * m * k + (ta ? (size_t)q * lda + i : (size_t)i * lda + q)];
                    float bv = B[tb ? (size_t)j * ldb + q : (size_t)q * ldb + j];
                    double pr = (double)mma_ref_round(av, p) * mma_ref_round(bv, p);
                    acc += pr, mag += fabs(pr);
                }
                size_t ic = (size_t)bi * m * n + (size_t)i * n + j;
                double want = acc + 0.5 * C[ic], r = fabs(got[ic] - want) / mma_ref_bound(k, mag + fabs(0.5 * C[ic]));
                if (!(r <= worst)) worst = isnan(r) ? INFINITY : r;
            }
    printf("%s %c%c m=%d n=%d k=%d batch=%d: error %.3f of the bound%s\n", p == HRM_PRECISION_HIGH ? "tf32" : "bf16",
           ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, batch, worst, worst <= 1.0 ? "" : "  FAILED");
    if (!(worst <= 1.0)) failures++;
    c->f->buffer_free(ba), c->f->buffer_free(bb), c->f->buffer_free(bc);
    free(A), free(B), free(C), free(got);
}

int main(void) {
    hrm_host host = *hrm_default_host();
    host.log = show_log;
    hrm_ctx c;
    char err[1024];
    if (hrm_ctx_open("opencl", 0, &host, &c, err, sizeof err) != HRM_OK) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    uint32_t want = HRM_PRECISION_BIT(HRM_PRECISION_HIGHEST) | HRM_PRECISION_BIT(HRM_PRECISION_HIGH) |
                    HRM_PRECISION_BIT(HRM_PRECISION_MEDIUM);
    if (hrm_ctx_matmul_precisions(&c) != want) {
        fprintf(stderr, "the backend offers precisions %#x, not %#x (HRM_OPENCL_MMA=portable?)\n",
                hrm_ctx_matmul_precisions(&c), want);
        return 2;
    }
    for (int p = HRM_PRECISION_HIGH; p <= HRM_PRECISION_MEDIUM; p++) {
        check(&c, (hrm_matmul_precision)p, 0, 1, 37, 21, 40);
        check(&c, (hrm_matmul_precision)p, 1, 0, 21, 37, 20);
    }
    hrm_ctx_close(&c);
    printf("%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
