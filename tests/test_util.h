/* tests/test_util.h - what every conformance test shares: the plugins under test, the backend
 * opened for one test (and the CPU backend as its reference when it is not the CPU backend),
 * device tensors framed by guard bands, a seeded PRNG, and the normalised error measure.
 *
 * A test opens its backend with dut_open(_i) and never frees by hand: every tensor made here is
 * freed, and every context closed, by dut_close(), the checked teardown of each test case, which
 * also runs after a failed assertion when CK_FORK=no. */
#ifndef HRM_TESTS_TEST_UTIL_H
#define HRM_TESTS_TEST_UTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "hrm/hrm.h"

/* ---- the plugins under test ------------------------------------------------------------- */

/* Fills the list from $HRM_TEST_PLUGIN (that file only) or hrm_plugin_scan() (every usable
 * plugin), found in a child process (discover.h): main() must not initialise a driver before
 * check forks the test cases. Returns the count; 0 with a message on stderr when there is nothing
 * to test. */
int plugins_discover(void);
const char *plugin_name(int i);

/* The backend of one test: dut is the device under test; ref is the CPU backend when dut is
 * another backend, else NULL (the naive double implementations of reference.c are the
 * reference then). */
typedef struct test_env {
    hrm_ctx dut;
    hrm_ctx cpu;
    hrm_ctx *ref; /* &cpu, or NULL when dut is the CPU backend */
    const char *name;
} test_env;
extern test_env T;

void dut_open(int plugin_index);
void dut_close(void); /* checked teardown: frees every tensor, closes every context */

/* ---- device tensors ----------------------------------------------------------------------- */

/* n elements at element offset off of buf; GUARD elements of a NaN pattern lie on each side
 * (and fill a fresh tensor), so that a stray write or read shows. */
#define GUARD 16
typedef struct dten {
    hrm_ctx *ctx;
    hrm_buffer *buf;
    size_t off, n;
} dten;

dten dt_new(hrm_ctx *c, size_t n);                 /* contents: the NaN guard pattern */
dten dt_f(hrm_ctx *c, const float *x, size_t n);   /* upload floats */
dten dt_i(hrm_ctx *c, const int32_t *x, size_t n); /* upload int32 */
void dt_set(dten t, const float *x);               /* overwrite all n elements */
void dt_get(dten t, float *out);                   /* download all n elements */
void dt_geti(dten t, int32_t *out);
void dt_check_guards(dten t, const char *what); /* asserts the guard bands are intact */
/* Asserts that an input tensor still holds `orig` bit for bit, guards included. */
void dt_expect_unchanged(dten t, const float *orig, const char *what);
/* A plain buffer of exactly `bytes` bytes (for buffer-op and bad-argument tests). */
hrm_buffer *raw_alloc(hrm_ctx *c, size_t bytes);
hrm_ptr P(dten t);
hrm_ptr P_at(dten t, size_t elem);
extern const hrm_ptr NO_PTR;

/* Asserts that an op returned HRM_OK, naming the backend, the op and its last error. */
#define CALL_OK(ctx, expr, what)                                                                              \
    do {                                                                                                      \
        hrm_status s_ = (expr);                                                                               \
        ck_assert_msg(s_ == HRM_OK, "%s: %s returned %s: %s", (ctx)->plugin.name, (what), hrm_status_str(s_), \
                      (ctx)->f->last_error((ctx)->be));                                                       \
    } while (0)

/* ---- matmul operands ---------------------------------------------------------------------- */

/* One operand: `batch` matrices [rows, cols] with leading dimension ld, stride apart (0: every
 * item uses the same matrix), at element off. */
typedef struct strided {
    size_t off;
    int batch, rows, cols;
    int64_t ld, stride;
} strided;

/* Elements the operand spans: the last row ends at its last column, not at ld; an empty operand
 * (k = 0) spans nothing past off. */
size_t strided_extent(const strided *s);
/* Whether element idx of the tensor belongs to the operand (not padding, gap or guard). */
int strided_has(const strided *s, size_t idx);

/* ---- PRNG: splitmix64 -------------------------------------------------------------------- */
typedef struct rng {
    uint64_t s;
} rng;
uint64_t rng_next(rng *r);
double rng_unit(rng *r); /* uniform in [0, 1) */
float rng_range(rng *r, float lo, float hi);
int rng_int(rng *r, int n); /* uniform in [0, n) */
void rng_fill(rng *r, float *x, size_t n, float lo, float hi);

/* ---- comparison ----------------------------------------------------------------------------- */

/* nmse = mse(ref, got) / mse(ref, 0), as ggml's test-backend-ops; when ref is all zero, the plain
 * mse(ref, got). NaN anywhere gives NaN (which fails every "<= tol"). */
double nmse(const float *got, const double *ref, size_t n);
void f2d(const float *x, double *out, size_t n);
/* Asserts nmse(got, ref) <= tol, naming the backend and `what`. */
void expect_nmse(const float *got, const double *ref, size_t n, double tol, const char *what);
/* The same with mse(ref, 0) replaced by max(mse(ref, 0), floor_ms): for a part of an output
 * whose exact value may be zero (where a float reference holds only rounding noise). */
void expect_nmse_floor(const float *got, const double *ref, size_t n, double floor_ms, double tol, const char *what);
double mean_square(const double *x, size_t n);
void expect_equal_i(const int32_t *got, const int32_t *ref, size_t n, const char *what);
/* Asserts that got equals want bit for bit (for elements an op must leave alone). */
void expect_same_bits(const float *got, const float *want, size_t n, const char *what);

/* The guard pattern (a NaN with a payload): fresh tensors hold it, gaps an op must skip keep it. */
float guard_nan(void);

/* Copies `width` elements from each of `rows` rows, row r starting at off + r*stride. */
void gather_f(const float *src, size_t rows, int64_t stride, size_t off, size_t width, float *dst);
void gather_d(const double *src, size_t rows, int64_t stride, size_t off, size_t width, double *dst);

/* Small allocation helpers that fail the test rather than return NULL. They are freed by
 * dut_close() too. */
float *fbuf(size_t n);
double *dbuf(size_t n);
int32_t *ibuf(size_t n);

#endif /* HRM_TESTS_TEST_UTIL_H */
