/* backends/opencl/tests/test_attention_tiles.c - the tiled attention forward of the OpenCL backend
 * (kernels/attention.cl) against the CPU backend at sequence lengths that need several query and
 * key tiles with a partial last one (HRM's 901-token mazes, 82-token Sudoku), causal and not, at
 * head_dims that give 2, 4, 8 and 16 work-items per query. Each shape runs with the device's own
 * local memory and with HRM_OPENCL_LOCAL_MEM_KB=32 (a GPU-sized local memory: smaller key and
 * query tiles). Same tolerances as the conformance suite: nmse(o) <= 1e-9, nmse(lse) <= 1e-10,
 * nmse = mse(got - want) / mse(want). Runs without fork (CK_NOFORK): OpenCL drivers' threads do
 * not survive a fork. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hrm/hrm.h"

typedef struct shape {
    int batch, seq, heads, hd, causal;
} shape;

static const shape SHAPES[] = {
    {1, 901, 2, 64, 0}, {2, 82, 2, 64, 0}, {1, 300, 1, 128, 1}, {1, 129, 3, 24, 1},
    {3, 65, 2, 16, 0},  {1, 1, 1, 128, 0}, {2, 17, 2, 32, 1},
};
enum { NSHAPES = (int)(sizeof SHAPES / sizeof SHAPES[0]) };

static void no_log(void *user, hrm_log_level level, const char *backend, const char *message) {
    (void)user, (void)level, (void)backend, (void)message;
}

static const hrm_host *quiet(void) {
    static hrm_host h;
    h = *hrm_default_host();
    h.log = no_log;
    return &h;
}

/* Runs the forward of s on backend `name` with packed qkv [B, S, 3H, hd] and o padded by 3 floats
 * per row; writes o [B*S, H*hd] (packed) and lse [B, H, S]. */
static void run(const char *name, const shape *s, const float *qkv, float *o, float *lse) {
    hrm_ctx c;
    char err[1024];
    ck_assert_msg(hrm_ctx_open(name, 0, quiet(), &c, err, sizeof err) == HRM_OK, "%s: %s", name, err);
    int64_t rows = (int64_t)s->batch * s->seq, width = (int64_t)s->heads * s->hd, ostride = width + 3;
    size_t nqkv = (size_t)(rows * 3 * width), no = (size_t)(rows * ostride), nl = (size_t)rows * (size_t)s->heads;
    hrm_buffer *bq = NULL, *bo = NULL, *bl = NULL;
    ck_assert_int_eq(c.f->buffer_alloc(c.dev, nqkv * 4, &bq), HRM_OK);
    ck_assert_int_eq(c.f->buffer_alloc(c.dev, no * 4, &bo), HRM_OK);
    ck_assert_int_eq(c.f->buffer_alloc(c.dev, nl * 4, &bl), HRM_OK);
    ck_assert_int_eq(c.f->buffer_write(bq, 0, qkv, nqkv * 4), HRM_OK);
    hrm_attention_args a = {.batch = s->batch,
                            .seq = s->seq,
                            .heads = s->heads,
                            .head_dim = s->hd,
                            .scale = 1.0f / 8.0f,
                            .causal = s->causal,
                            .q = {bq, 0},
                            .k = {bq, (size_t)width},
                            .v = {bq, (size_t)(2 * width)},
                            .qkv_row_stride = 3 * width,
                            .o = {bo, 0},
                            .o_row_stride = ostride,
                            .lse = {bl, 0}};
    ck_assert_msg(c.f->attention_forward(c.dev, &a) == HRM_OK, "%s: %s", name, c.f->last_error(c.be));
    float *padded = malloc(no * 4);
    ck_assert_ptr_nonnull(padded);
    ck_assert_msg(c.f->buffer_read(bo, 0, padded, no * 4) == HRM_OK, "%s: %s", name, c.f->last_error(c.be));
    ck_assert_int_eq(c.f->buffer_read(bl, 0, lse, nl * 4), HRM_OK);
    for (int64_t r = 0; r < rows; r++) memcpy(o + r * width, padded + r * ostride, (size_t)width * 4);
    free(padded);
    c.f->buffer_free(bq);
    c.f->buffer_free(bo);
    c.f->buffer_free(bl);
    hrm_ctx_close(&c);
}

static double nmse(const float *got, const float *want, size_t n) {
    double e = 0.0, w = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - want[i];
        e += d * d;
        w += (double)want[i] * want[i];
    }
    return w > 0.0 ? e / w : e;
}

static void check_shape(int index, const char *local_mem) {
    const shape *s = &SHAPES[index];
    if (local_mem)
        setenv("HRM_OPENCL_LOCAL_MEM_KB", local_mem, 1);
    else
        unsetenv("HRM_OPENCL_LOCAL_MEM_KB");
    size_t rows = (size_t)s->batch * (size_t)s->seq, width = (size_t)s->heads * (size_t)s->hd;
    size_t nqkv = rows * 3 * width, no = rows * width, nl = rows * (size_t)s->heads;
    float *qkv = malloc(nqkv * 4), *o_cpu = malloc(no * 4), *o_ocl = malloc(no * 4);
    float *l_cpu = malloc(nl * 4), *l_ocl = malloc(nl * 4);
    ck_assert(qkv && o_cpu && o_ocl && l_cpu && l_ocl);
    uint32_t x = 2463534242u + (uint32_t)index;
    for (size_t i = 0; i < nqkv; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        qkv[i] = 4.0f * ((float)(x >> 8) / 16777216.0f - 0.5f); /* [-2, 2): a peaky softmax */
    }
    run("cpu", s, qkv, o_cpu, l_cpu);
    run("opencl", s, qkv, o_ocl, l_ocl);
    double eo = nmse(o_ocl, o_cpu, no), el = nmse(l_ocl, l_cpu, nl);
    printf("B=%d S=%d H=%d hd=%d %s, local memory %s: nmse o %.2e, lse %.2e\n", s->batch, s->seq, s->heads, s->hd,
           s->causal ? "causal" : "non-causal", local_mem ? local_mem : "(device's)", eo, el);
    ck_assert_msg(eo <= 1e-9, "shape %d: nmse(o) %.3g > 1e-9", index, eo);
    ck_assert_msg(el <= 1e-10, "shape %d: nmse(lse) %.3g > 1e-10", index, el);
    free(qkv), free(o_cpu), free(o_ocl), free(l_cpu), free(l_ocl);
}

START_TEST(test_device_local_memory) {
    check_shape(_i, NULL);
}
END_TEST

START_TEST(test_gpu_local_memory) {
    check_shape(_i, "32");
}
END_TEST

int main(void) {
    Suite *s = suite_create("attention_tiles");
    TCase *tc = tcase_create("forward");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_device_local_memory, 0, NSHAPES);
    tcase_add_loop_test(tc, test_gpu_local_memory, 0, NSHAPES);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
