/* backends/opencl/tests/test_attention_tiles.c - the tiled attention kernels of the OpenCL backend
 * (kernels/attention.cl), forward and backward, against the CPU backend at sequence lengths that
 * need several query and key tiles with a partial last one (HRM's 901-token mazes, 82-token
 * Sudoku), causal and not, at head_dims 16 to 128 (2, 4, 8 and 16 work-items per row). Each shape
 * runs with the device's own local memory and with HRM_OPENCL_LOCAL_MEM_KB=32 (a GPU-sized local
 * memory: smaller tiles, fewer rows per work-group).
 *
 * Tolerances are the conformance suite's, nmse = mse(got - want) / mse(want):
 *   forward  o <= 1e-9, lse <= 1e-10;
 *   backward dq, dk, dv <= 1e-8 each, the denominator floored at 1e-2 of the mean square of the
 *            whole gradient (with one token dq and dk are zero up to rounding noise).
 * The backward of both backends starts from the CPU forward's o and lse, so that it alone is
 * compared. Its dq, dk and dv are carved from one buffer whose rows are padded by 5 floats of NaN:
 * every gradient element must be written, and no padding. Each case opens its backends in its own
 * forked process (check's default); main() opens none, since a driver initialised before a fork
 * does not work in the child (NVIDIA's). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discover.h"
#include "hrm/hrm.h"
#include "nmse.h"

typedef struct shape {
    int batch, seq, heads, hd, causal;
} shape;

static const shape SHAPES[] = {
    {1, 901, 2, 64, 0}, {2, 82, 2, 64, 0}, {1, 300, 1, 128, 1}, {1, 129, 3, 24, 1}, {3, 65, 2, 16, 0},
    {1, 1, 1, 128, 0},  {2, 17, 2, 32, 1}, {1, 901, 1, 128, 0}, {1, 901, 1, 16, 1}, {2, 97, 1, 40, 0},
};
enum { NSHAPES = (int)(sizeof SHAPES / sizeof SHAPES[0]) };

#define TOL_O 1e-9
#define TOL_LSE 1e-10
#define TOL_GRAD 1e-8
enum { O_PAD = 3, D_PAD = 5 }; /* floats between the rows of o (and d_o), and of dq/dk/dv */

/* The backend logs each new tiling at debug level ("OP: head_dim .., seq ..: R rows x T work-items
 * per work-group, tiles of C, U of B bytes of local memory"); the test prints them and checks U
 * against the local memory it asked for, so that a run with HRM_OPENCL_LOCAL_MEM_KB=32 is seen to
 * use smaller tiles rather than assumed to. */
static size_t max_local_used; /* largest U logged since the last reset */

static void tiling_log(void *user, hrm_log_level level, const char *backend, const char *message) {
    (void)user;
    const char *at = strstr(message, " bytes of local memory");
    if (level != HRM_LOG_DEBUG || !backend || strcmp(backend, "opencl") || !at) return;
    size_t used = 0, budget = 0;
    const char *tiles = strstr(message, "tiles of ");
    if (tiles && sscanf(strchr(tiles, ',') + 1, " %zu of %zu", &used, &budget) == 2 && used > max_local_used)
        max_local_used = used;
    printf("    %s\n", message);
}

static const hrm_host *quiet(void) {
    static hrm_host h;
    h = *hrm_default_host();
    h.log = tiling_log;
    return &h;
}

/* Host copies of one shape's tensors. qkv packed [B, S, 3H, hd]; o, d_o [B*S, H*hd] packed;
 * lse [B, H, S]; dqkv [B*S, 3H*hd] packed. */
typedef struct problem {
    const shape *s;
    size_t rows, width, nqkv, no, nl;
    float *qkv, *d_o;
} problem;

static float *fbuf(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    ck_assert_ptr_nonnull(p);
    return p;
}

static void fill(float *x, size_t n, uint32_t seed, float amp) {
    uint32_t r = seed;
    for (size_t i = 0; i < n; i++) {
        r ^= r << 13, r ^= r >> 17, r ^= r << 5;
        x[i] = 2.0f * amp * ((float)(r >> 8) / 16777216.0f - 0.5f);
    }
}

static problem make_problem(int index) {
    problem p = {.s = &SHAPES[index]};
    p.rows = (size_t)p.s->batch * (size_t)p.s->seq, p.width = (size_t)p.s->heads * (size_t)p.s->hd;
    p.nqkv = p.rows * 3 * p.width, p.no = p.rows * p.width, p.nl = p.rows * (size_t)p.s->heads;
    p.qkv = fbuf(p.nqkv), p.d_o = fbuf(p.no);
    fill(p.qkv, p.nqkv, 2463534242u + (uint32_t)index, 2.0f); /* [-2, 2): a peaky softmax */
    fill(p.d_o, p.no, 88172645u + (uint32_t)index, 1.0f);
    return p;
}

static void free_problem(problem *p) { free(p->qkv), free(p->d_o); }

/* A device tensor of n floats whose rows of `width` lie `stride` apart (stride >= width). */
static hrm_buffer *upload_rows(hrm_ctx *c, const float *x, size_t rows, size_t width, size_t stride) {
    hrm_buffer *b = NULL;
    size_t n = rows * stride;
    ck_assert_int_eq(c->f->buffer_alloc(c->dev, n * 4, &b), HRM_OK);
    ck_assert_int_eq(c->f->buffer_fill(b, 0, n, NAN), HRM_OK);
    for (size_t r = 0; x && r < rows; r++)
        ck_assert_int_eq(c->f->buffer_write(b, r * stride * 4, x + r * width, width * 4), HRM_OK);
    return b;
}

/* Reads rows of `width` lying `stride` apart into x (packed); asserts the padding kept its NaN. */
static void download_rows(hrm_ctx *c, hrm_buffer *b, float *x, size_t rows, size_t width, size_t stride,
                          const char *what) {
    float *all = fbuf(rows * stride);
    ck_assert_msg(c->f->buffer_read(b, 0, all, rows * stride * 4) == HRM_OK, "%s: %s: %s", c->plugin.name, what,
                  c->f->last_error(c->be));
    for (size_t r = 0; r < rows; r++) {
        memcpy(x + r * width, all + r * stride, width * 4);
        for (size_t i = width; i < stride; i++)
            ck_assert_msg(isnan(all[r * stride + i]), "%s: %s: padding element %zu of row %zu was written",
                          c->plugin.name, what, i, r);
    }
    free(all);
}

static hrm_ctx open_ctx(const char *name) {
    hrm_ctx c;
    char err[1024];
    ck_assert_msg(hrm_ctx_open(name, 0, quiet(), &c, err, sizeof err) == HRM_OK, "%s: %s", name, err);
    return c;
}

static hrm_attention_args args_of(const problem *p, hrm_buffer *bqkv) {
    size_t w = p->width;
    return (hrm_attention_args){.batch = p->s->batch,
                                .seq = p->s->seq,
                                .heads = p->s->heads,
                                .head_dim = p->s->hd,
                                .scale = 1.0f / 8.0f,
                                .causal = p->s->causal,
                                .q = {bqkv, 0},
                                .k = {bqkv, w},
                                .v = {bqkv, 2 * w},
                                .qkv_row_stride = (int64_t)(3 * w),
                                .o_row_stride = (int64_t)(w + O_PAD)};
}

/* The forward on backend `name`: o [rows, width] packed, lse [B, H, S]. */
static void run_forward(const char *name, const problem *p, float *o, float *lse) {
    hrm_ctx c = open_ctx(name);
    hrm_buffer *bq = upload_rows(&c, p->qkv, p->rows, 3 * p->width, 3 * p->width);
    hrm_buffer *bo = upload_rows(&c, NULL, p->rows, p->width, p->width + O_PAD);
    hrm_buffer *bl = upload_rows(&c, NULL, p->nl, 1, 1);
    hrm_attention_args a = args_of(p, bq);
    a.o = (hrm_ptr){bo, 0}, a.lse = (hrm_ptr){bl, 0};
    ck_assert_msg(c.f->attention_forward(c.dev, &a) == HRM_OK, "%s: %s", name, c.f->last_error(c.be));
    download_rows(&c, bo, o, p->rows, p->width, p->width + O_PAD, "attention_forward o");
    download_rows(&c, bl, lse, p->nl, 1, 1, "attention_forward lse");
    c.f->buffer_free(bq), c.f->buffer_free(bo), c.f->buffer_free(bl);
    hrm_ctx_close(&c);
}

/* The backward on backend `name` from the given o and lse: dqkv [rows, 3 width] packed. */
static void run_backward(const char *name, const problem *p, const float *o, const float *lse, float *dqkv) {
    hrm_ctx c = open_ctx(name);
    size_t w = p->width, ds = 3 * w + D_PAD;
    hrm_buffer *bq = upload_rows(&c, p->qkv, p->rows, 3 * w, 3 * w);
    hrm_buffer *bo = upload_rows(&c, o, p->rows, w, w + O_PAD), *bd = upload_rows(&c, p->d_o, p->rows, w, w + O_PAD);
    hrm_buffer *bl = upload_rows(&c, lse, p->nl, 1, 1), *bg = upload_rows(&c, NULL, p->rows, 3 * w, ds);
    hrm_attention_args a = args_of(p, bq);
    a.o = (hrm_ptr){bo, 0}, a.lse = (hrm_ptr){bl, 0}, a.d_o = (hrm_ptr){bd, 0};
    a.dq = (hrm_ptr){bg, 0}, a.dk = (hrm_ptr){bg, w}, a.dv = (hrm_ptr){bg, 2 * w}, a.dqkv_row_stride = (int64_t)ds;
    ck_assert_msg(c.f->attention_backward(c.dev, &a) == HRM_OK, "%s: %s", name, c.f->last_error(c.be));
    download_rows(&c, bg, dqkv, p->rows, 3 * w, ds, "attention_backward dqkv");
    c.f->buffer_free(bq), c.f->buffer_free(bo), c.f->buffer_free(bd), c.f->buffer_free(bl), c.f->buffer_free(bg);
    hrm_ctx_close(&c);
}

static void set_local_mem(const char *kb) {
    max_local_used = 0;
    if (kb)
        setenv("HRM_OPENCL_LOCAL_MEM_KB", kb, 1);
    else
        unsetenv("HRM_OPENCL_LOCAL_MEM_KB");
}

/* The opencl runs planned their tiles (and logged them) within the local memory asked for. */
static void check_local_used(const char *kb, const char *what) {
    ck_assert_msg(max_local_used > 0, "%s: the backend logged no tiling", what);
    if (kb)
        ck_assert_msg(max_local_used <= strtoul(kb, NULL, 10) << 10, "%s: tiles use %zu bytes of local memory", what,
                      max_local_used);
}

static void describe(char *buf, size_t size, const shape *s, const char *kb) {
    snprintf(buf, size, "B=%d S=%d H=%d hd=%d %s, local memory %s", s->batch, s->seq, s->heads, s->hd,
             s->causal ? "causal" : "non-causal", kb ? kb : "(device's)");
}

static void check_forward(int index, const char *kb) {
    set_local_mem(kb);
    problem p = make_problem(index);
    float *o_cpu = fbuf(p.no), *o_ocl = fbuf(p.no), *l_cpu = fbuf(p.nl), *l_ocl = fbuf(p.nl);
    run_forward("cpu", &p, o_cpu, l_cpu);
    run_forward("opencl", &p, o_ocl, l_ocl);
    double eo = nmse_part(o_ocl, o_cpu, 1, p.no, 0, p.no, 0), el = nmse_part(l_ocl, l_cpu, 1, p.nl, 0, p.nl, 0);
    char what[160];
    describe(what, sizeof what, p.s, kb);
    printf("forward  %s: nmse o %.2e, lse %.2e\n", what, eo, el);
    check_local_used(kb, what);
    ck_assert_msg(eo <= TOL_O, "%s: nmse(o) %.3g > %g", what, eo, TOL_O);
    ck_assert_msg(el <= TOL_LSE, "%s: nmse(lse) %.3g > %g", what, el, TOL_LSE);
    free(o_cpu), free(o_ocl), free(l_cpu), free(l_ocl);
    free_problem(&p);
}

static void check_backward(int index, const char *kb) {
    set_local_mem(kb);
    problem p = make_problem(index);
    size_t nd = p.rows * 3 * p.width;
    float *o = fbuf(p.no), *lse = fbuf(p.nl), *g_cpu = fbuf(nd), *g_ocl = fbuf(nd);
    run_forward("cpu", &p, o, lse);
    run_backward("cpu", &p, o, lse, g_cpu);
    run_backward("opencl", &p, o, lse, g_ocl);
    double floor_ss = 0.0;
    for (size_t r = 0; r < nd; r++) floor_ss += 1e-2 / 3.0 * (double)g_cpu[r] * g_cpu[r];
    char what[160];
    describe(what, sizeof what, p.s, kb);
    static const char *names[3] = {"dq", "dk", "dv"};
    double e[3];
    for (int part = 0; part < 3; part++)
        e[part] = nmse_part(g_ocl, g_cpu, p.rows, 3 * p.width, (size_t)part * p.width, p.width, floor_ss);
    printf("backward %s: nmse dq %.2e, dk %.2e, dv %.2e\n", what, e[0], e[1], e[2]);
    check_local_used(kb, what);
    for (int part = 0; part < 3; part++)
        ck_assert_msg(e[part] <= TOL_GRAD, "%s: nmse(%s) %.3g > %g", what, names[part], e[part], TOL_GRAD);
    free(o), free(lse), free(g_cpu), free(g_ocl);
    free_problem(&p);
}

START_TEST(test_forward_device_local_memory) { check_forward(_i, NULL); }
END_TEST

START_TEST(test_forward_gpu_local_memory) { check_forward(_i, "32"); }
END_TEST

START_TEST(test_backward_device_local_memory) { check_backward(_i, NULL); }
END_TEST

START_TEST(test_backward_gpu_local_memory) { check_backward(_i, "32"); }
END_TEST

int main(void) {
    int need = discover_require(hrm_default_host(), "opencl-attention-tiles", "opencl");
    if (need) return need;
    Suite *s = suite_create("attention_tiles");
    TCase *tc = tcase_create("tiles");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_forward_device_local_memory, 0, NSHAPES);
    tcase_add_loop_test(tc, test_forward_gpu_local_memory, 0, NSHAPES);
    tcase_add_loop_test(tc, test_backward_device_local_memory, 0, NSHAPES);
    tcase_add_loop_test(tc, test_backward_gpu_local_memory, 0, NSHAPES);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
