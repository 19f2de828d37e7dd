/* tests/test_util.c - plugins under test, guarded device tensors, PRNG and error measure. */
#include "test_util.h"
#include "discover.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

test_env T;
const hrm_ptr NO_PTR = {NULL, 0};

/* ---- the plugins under test ------------------------------------------------------------- */

#define MAX_PLUGINS 32
static found_plugin plugins[MAX_PLUGINS];
static int plugin_count;

int plugins_discover(void) {
    return plugin_count = discover_plugins(hrm_default_host(), "conformance", plugins, MAX_PLUGINS);
}

const char *plugin_name(int i) { return i >= 0 && i < plugin_count ? plugins[i].name : "?"; }

/* ---- cleanup registry ---------------------------------------------------------------------- */

typedef struct owned {
    hrm_ctx *ctx; /* a device buffer of this context, or */
    hrm_buffer *buf;
    void *host; /* a host allocation */
} owned;
static owned *owned_items;
static size_t owned_count, owned_cap;

static void own(hrm_ctx *ctx, hrm_buffer *buf, void *host) {
    if (owned_count == owned_cap) {
        size_t cap = owned_cap ? 2 * owned_cap : 64;
        owned *items = realloc(owned_items, cap * sizeof *items);
        ck_assert_msg(items != NULL, "out of host memory");
        owned_items = items;
        owned_cap = cap;
    }
    owned_items[owned_count++] = (owned){ctx, buf, host};
}

void dut_open(int plugin_index) {
    char err[512] = "";
    ck_assert_msg(plugin_index >= 0 && plugin_index < plugin_count, "no plugin %d", plugin_index);
    const char *path = plugins[plugin_index].path;
    hrm_status s = hrm_ctx_open(path, 0, hrm_default_host(), &T.dut, err, sizeof err);
    ck_assert_msg(s == HRM_OK, "cannot open %s: %s", path, err);
    T.name = T.dut.plugin.name;
    T.ref = NULL;
    if (strcmp(T.name, "cpu") != 0) {
        s = hrm_ctx_open("cpu", 0, hrm_default_host(), &T.cpu, err, sizeof err);
        ck_assert_msg(s == HRM_OK, "%s: cannot open the cpu backend as reference: %s", T.name, err);
        T.ref = &T.cpu;
    }
}

void dut_close(void) {
    while (owned_count) {
        owned *o = &owned_items[--owned_count];
        if (o->buf) o->ctx->f->buffer_free(o->buf);
        free(o->host);
    }
    free(owned_items);
    owned_items = NULL;
    owned_cap = 0;
    if (T.cpu.f) hrm_ctx_close(&T.cpu);
    if (T.dut.f) hrm_ctx_close(&T.dut);
    memset(&T, 0, sizeof T);
}

static void *host_alloc(size_t bytes) {
    void *p = calloc(bytes ? bytes : 1, 1);
    ck_assert_msg(p != NULL, "out of host memory (%zu bytes)", bytes);
    own(NULL, NULL, p);
    return p;
}
float *fbuf(size_t n) { return host_alloc(n * sizeof(float)); }
double *dbuf(size_t n) { return host_alloc(n * sizeof(double)); }
int32_t *ibuf(size_t n) { return host_alloc(n * sizeof(int32_t)); }

/* ---- device tensors ----------------------------------------------------------------------- */

/* A quiet NaN with a payload no arithmetic produces. */
static const uint32_t GUARD_BITS = 0x7fc0deadu;
static float guard_value(void);
float guard_nan(void) { return guard_value(); }

void gather_f(const float *src, size_t rows, int64_t stride, size_t off, size_t width, float *dst) {
    for (size_t r = 0; r < rows; r++) memcpy(dst + r * width, src + off + r * (size_t)stride, width * sizeof *dst);
}

void gather_d(const double *src, size_t rows, int64_t stride, size_t off, size_t width, double *dst) {
    for (size_t r = 0; r < rows; r++) memcpy(dst + r * width, src + off + r * (size_t)stride, width * sizeof *dst);
}

static float guard_value(void) {
    float f;
    memcpy(&f, &GUARD_BITS, sizeof f);
    return f;
}

dten dt_new(hrm_ctx *c, size_t n) {
    dten t = {c, NULL, GUARD, n};
    size_t total = n + 2 * GUARD;
    CALL_OK(c, c->f->buffer_alloc(c->dev, total * 4, &t.buf), "buffer_alloc");
    own(c, t.buf, NULL);
    CALL_OK(c, c->f->buffer_fill(t.buf, 0, total, guard_value()), "buffer_fill");
    return t;
}

hrm_buffer *raw_alloc(hrm_ctx *c, size_t bytes) {
    hrm_buffer *b = NULL;
    CALL_OK(c, c->f->buffer_alloc(c->dev, bytes, &b), "buffer_alloc");
    own(c, b, NULL);
    return b;
}

void dt_set(dten t, const float *x) {
    CALL_OK(t.ctx, t.ctx->f->buffer_write(t.buf, t.off * 4, x, t.n * 4), "buffer_write");
}

dten dt_f(hrm_ctx *c, const float *x, size_t n) {
    dten t = dt_new(c, n);
    dt_set(t, x);
    return t;
}

dten dt_i(hrm_ctx *c, const int32_t *x, size_t n) {
    dten t = dt_new(c, n);
    CALL_OK(c, c->f->buffer_write(t.buf, t.off * 4, x, n * 4), "buffer_write");
    return t;
}

void dt_get(dten t, float *out) {
    CALL_OK(t.ctx, t.ctx->f->buffer_read(t.buf, t.off * 4, out, t.n * 4), "buffer_read");
}

void dt_geti(dten t, int32_t *out) {
    CALL_OK(t.ctx, t.ctx->f->buffer_read(t.buf, t.off * 4, out, t.n * 4), "buffer_read");
}

void dt_check_guards(dten t, const char *what) {
    uint32_t g[2 * GUARD];
    CALL_OK(t.ctx, t.ctx->f->buffer_read(t.buf, 0, g, GUARD * 4), "buffer_read");
    CALL_OK(t.ctx, t.ctx->f->buffer_read(t.buf, (t.off + t.n) * 4, g + GUARD, GUARD * 4), "buffer_read");
    for (int i = 0; i < 2 * GUARD; i++)
        ck_assert_msg(g[i] == GUARD_BITS, "%s: %s: wrote outside its tensor (%s guard element %d is 0x%08x)",
                      t.ctx->plugin.name, what, i < GUARD ? "leading" : "trailing", i % GUARD, g[i]);
}

void dt_expect_unchanged(dten t, const float *orig, const char *what) {
    float *now = fbuf(t.n);
    dt_get(t, now);
    expect_same_bits(now, orig, t.n, what);
    dt_check_guards(t, what);
}

hrm_ptr P(dten t) { return (hrm_ptr){t.buf, t.off}; }
hrm_ptr P_at(dten t, size_t elem) { return (hrm_ptr){t.buf, t.off + elem}; }

/* ---- PRNG ----------------------------------------------------------------------------------- */

uint64_t rng_next(rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double rng_unit(rng *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

float rng_range(rng *r, float lo, float hi) { return (float)(lo + (hi - lo) * rng_unit(r)); }

int rng_int(rng *r, int n) { return (int)(rng_unit(r) * n); }

void rng_fill(rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = rng_range(r, lo, hi);
}

/* ---- comparison ----------------------------------------------------------------------------- */

double mean_square(const double *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i] * x[i];
    return n ? s / (double)n : 0.0;
}

static double nmse_floor(const float *got, const double *ref, size_t n, double floor_ms) {
    double err = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - ref[i];
        err += d * d;
    }
    err /= n ? (double)n : 1.0;
    double norm = fmax(mean_square(ref, n), floor_ms);
    return norm > 0 ? err / norm : err;
}

double nmse(const float *got, const double *ref, size_t n) { return nmse_floor(got, ref, n, 0.0); }

void f2d(const float *x, double *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = x[i];
}

void expect_nmse(const float *got, const double *ref, size_t n, double tol, const char *what) {
    expect_nmse_floor(got, ref, n, 0.0, tol, what);
}

void expect_nmse_floor(const float *got, const double *ref, size_t n, double floor_ms, double tol, const char *what) {
    double e = nmse_floor(got, ref, n, floor_ms);
    if (getenv("HRM_TEST_VERBOSE")) fprintf(stderr, "%s: %s: nmse %.3g (tolerance %.0e)\n", T.name, what, e, tol);
    if (!(e <= tol)) {
        size_t worst = 0;
        double wd = -1;
        for (size_t i = 0; i < n; i++) {
            double d = fabs((double)got[i] - ref[i]);
            if (isnan(d)) d = INFINITY;
            if (d > wd) wd = d, worst = i;
        }
        ck_abort_msg("%s: %s: nmse %.3g > %.1g vs %s (worst element %zu: got %.9g, want %.9g)", T.name, what, e, tol,
                     T.ref ? "cpu" : "double reference", worst, n ? got[worst] : 0.0, n ? ref[worst] : 0.0);
    }
}

void expect_equal_i(const int32_t *got, const int32_t *ref, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == ref[i], "%s: %s: element %zu is %d, want %d", T.name, what, i, got[i], ref[i]);
}

void expect_same_bits(const float *got, const float *want, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(!memcmp(&got[i], &want[i], sizeof(float)), "%s: %s: element %zu changed (%.9g, was %.9g)", T.name,
                      what, i, got[i], want[i]);
}

/* ---- matmul operands ---------------------------------------------------------------------- */

size_t strided_extent(const strided *s) {
    if (s->rows == 0 || s->cols == 0) return s->off;
    return s->off + (size_t)((s->batch - 1) * s->stride + (int64_t)(s->rows - 1) * s->ld + s->cols);
}

int strided_has(const strided *s, size_t idx) {
    if (idx < s->off) return 0;
    idx -= s->off;
    size_t bi = s->stride ? idx / (size_t)s->stride : 0, rem = s->stride ? idx % (size_t)s->stride : idx;
    return bi < (size_t)(s->stride ? s->batch : 1) && rem / (size_t)s->ld < (size_t)s->rows &&
           rem % (size_t)s->ld < (size_t)s->cols;
}
