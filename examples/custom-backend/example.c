/* example.c - a complete hrm backend plugin in one file, written to be read: "example".
 *
 * Every op of include/hrm/backend.h as plain single-threaded loops over host memory, with the
 * header's formulas written out. It is slow on purpose (no blocking, no threads, no SIMD) and
 * accurate on purpose (sums and softmaxes in double), which also makes it a second opinion for
 * the conformance suite. Build it against the installed headers only:
 *
 *   cc -shared -fPIC $(pkg-config --cflags hrm) example.c -o hrm-backend-example.so -lm
 *
 * The rules a backend follows (see README.md): export one symbol, hrm_backend_entry, returning
 * a static table; return a status from every call and keep a one-line last_error; never print,
 * never exit or abort. Ops here run synchronously, so finish() has nothing to wait for. */
#include <hrm/backend.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- handles: what the opaque types of backend.h are in this plugin ---------------------- */

struct hrm_backend {
    hrm_host host;   /* copied up to the host's struct_size */
    char error[256]; /* last_error(): one line */
};

struct hrm_device {
    hrm_backend *be;
    uint64_t current, peak; /* bytes allocated now, and the most ever */
};

struct hrm_buffer {
    hrm_device *dev;
    size_t bytes;
    float *data; /* float32 and int32 tensors alike: every element is 4 bytes */
};

/* Records a one-line error and returns its status: `return fail(be, HRM_ERR_..., "...")`. */
static hrm_status fail(hrm_backend *be, hrm_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(be->error, sizeof be->error, fmt, ap);
    va_end(ap);
    if (be->host.log) be->host.log(be->host.log_user, HRM_LOG_DEBUG, "example", be->error);
    return status;
}

/* The tensor an hrm_ptr points at; offsets count 4-byte elements. */
static float *F(hrm_ptr p) { return p.buf->data + p.off; }
static int32_t *I(hrm_ptr p) { return (int32_t *)(void *)(p.buf->data + p.off); }

/* Checks that elements [p.off, p.off + count) lie inside p's buffer; `name` names it in the error. */
static int fits(hrm_device *dev, hrm_ptr p, int64_t count, const char *name) {
    if (!p.buf) {
        fail(dev->be, HRM_ERR_INVALID_ARG, "%s: missing tensor", name);
        return 0;
    }
    if (count < 0 || p.off + (size_t)count > p.buf->bytes / 4) {
        fail(dev->be, HRM_ERR_INVALID_ARG, "%s: %lld elements at offset %zu exceed its buffer of %zu", name,
             (long long)count, p.off, p.buf->bytes / 4);
        return 0;
    }
    return 1;
}

/* Elements spanned by [batch, seq, heads, head_dim] with token rows `row_stride` apart. */
static int64_t strided_extent(int batch, int seq, int heads, int head_dim, int64_t row_stride) {
    return ((int64_t)batch * seq - 1) * row_stride + (int64_t)heads * head_dim;
}

/* ---- instance and devices ------------------------------------------------------------------ */

static int example_probe(const hrm_host *host, char *why, size_t why_size) {
    (void)host, (void)why, (void)why_size;
    return 1; /* usable everywhere, but lowest priority: `auto` prefers any real backend */
}

static hrm_status example_create(const hrm_host *host, hrm_backend **out) {
    hrm_backend *be = calloc(1, sizeof *be);
    *out = NULL;
    if (!be) return HRM_ERR_OUT_OF_MEMORY;
    /* read only the fields the host has: an older host passes a shorter struct */
    if (host) memcpy(&be->host, host, host->struct_size < sizeof be->host ? host->struct_size : sizeof be->host);
    snprintf(be->error, sizeof be->error, "no error");
    *out = be;
    return HRM_OK;
}

static void example_destroy(hrm_backend *be) { free(be); }
static const char *example_last_error(hrm_backend *be) { return be->error; }
static int example_device_count(hrm_backend *be) {
    (void)be;
    return 1;
}

static hrm_status example_device_info(hrm_backend *be, int index, hrm_device_info *out) {
    if (index != 0) return fail(be, HRM_ERR_INVALID_ARG, "device_info: no device %d (there is 1)", index);
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "naive C loops, one thread");
    snprintf(out->vendor, sizeof out->vendor, "hrm example");
    snprintf(out->driver, sizeof out->driver, "example 1.0");
    out->memory_bytes = 0; /* host memory; no limit of its own */
    out->compute_units = 1;
    out->validated = -1;
    snprintf(out->note, sizeof out->note, "teaching example: correct and slow");
    return HRM_OK;
}

static hrm_status example_device_open(hrm_backend *be, int index, hrm_device **out) {
    if (index != 0) return fail(be, HRM_ERR_INVALID_ARG, "device_open: no device %d (there is 1)", index);
    hrm_device *dev = calloc(1, sizeof *dev);
    if (!dev) return fail(be, HRM_ERR_OUT_OF_MEMORY, "device_open: out of host memory");
    dev->be = be;
    *out = dev;
    return HRM_OK;
}

static void example_device_close(hrm_device *dev) { free(dev); }

static hrm_status example_memory_usage(hrm_device *dev, uint64_t *current, uint64_t *peak) {
    *current = dev->current;
    *peak = dev->peak;
    return HRM_OK;
}

static hrm_status example_finish(hrm_device *dev) {
    (void)dev;
    return HRM_OK;
}

/* ---- buffers (offsets and sizes in bytes) ----------------------------------------------------- */

static hrm_status example_buffer_alloc(hrm_device *dev, size_t bytes, hrm_buffer **out) {
    hrm_buffer *buf = calloc(1, sizeof *buf);
    float *data = malloc(bytes ? bytes : 4);
    if (!buf || !data) {
        free(buf), free(data);
        return fail(dev->be, HRM_ERR_OUT_OF_MEMORY, "buffer_alloc: cannot allocate %zu bytes", bytes);
    }
    buf->dev = dev, buf->bytes = bytes, buf->data = data;
    dev->current += bytes;
    if (dev->current > dev->peak) dev->peak = dev->current;
    *out = buf;
    return HRM_OK;
}

static void example_buffer_free(hrm_buffer *buf) {
    if (!buf) return;
    buf->dev->current -= buf->bytes;
    free(buf->data);
    free(buf);
}

static int range_ok(hrm_buffer *buf, size_t offset, size_t bytes, const char *op) {
    if (offset > buf->bytes || bytes > buf->bytes - offset) {
        fail(buf->dev->be, HRM_ERR_INVALID_ARG, "%s: bytes [%zu, %zu) outside a buffer of %zu", op, offset,
             offset + bytes, buf->bytes);
        return 0;
    }
    return 1;
}

static hrm_status example_buffer_write(hrm_buffer *dst, size_t offset, const void *src, size_t bytes) {
    if (!range_ok(dst, offset, bytes, "buffer_write")) return HRM_ERR_INVALID_ARG;
    memcpy((char *)dst->data + offset, src, bytes);
    return HRM_OK;
}

static hrm_status example_buffer_read(hrm_buffer *src, size_t offset, void *dst, size_t bytes) {
    if (!range_ok(src, offset, bytes, "buffer_read")) return HRM_ERR_INVALID_ARG;
    memcpy(dst, (char *)src->data + offset, bytes);
    return HRM_OK;
}

static hrm_status example_buffer_copy(hrm_buffer *dst, size_t dst_offset, hrm_buffer *src, size_t src_offset,
                                      size_t bytes) {
    if (!range_ok(dst, dst_offset, bytes, "buffer_copy") || !range_ok(src, src_offset, bytes, "buffer_copy"))
        return HRM_ERR_INVALID_ARG;
    memmove((char *)dst->data + dst_offset, (char *)src->data + src_offset, bytes);
    return HRM_OK;
}

static hrm_status example_buffer_fill(hrm_buffer *buf, size_t offset, size_t count, float value) {
    if (offset > buf->bytes / 4 || count > buf->bytes / 4 - offset)
        return fail(buf->dev->be, HRM_ERR_INVALID_ARG, "buffer_fill: elements [%zu, %zu) outside a buffer of %zu",
                    offset, offset + count, buf->bytes / 4);
    uint32_t bits, *data = (uint32_t *)(void *)buf->data;
    memcpy(&bits, &value, sizeof bits); /* the exact bit pattern, also when it encodes an int32 */
    for (size_t i = 0; i < count; i++) data[offset + i] = bits;
    return HRM_OK;
}

/* ---- matmul: C_i = alpha op(A_i) op(B_i) + beta C_i ------------------------------------------ */

static hrm_status example_matmul(hrm_device *dev, const hrm_matmul_args *a) {
    if (a->m < 0 || a->n < 0 || a->k < 0 || a->batch < 1)
        return fail(dev->be, HRM_ERR_INVALID_ARG, "matmul: bad sizes m=%d n=%d k=%d batch=%d", a->m, a->n, a->k,
                    a->batch);
    int64_t rows_a = a->trans_a ? a->k : a->m, rows_b = a->trans_b ? a->n : a->k, last = a->batch - 1;
    if (!fits(dev, a->a, last * a->stride_a + rows_a * a->lda, "matmul a") ||
        !fits(dev, a->b, last * a->stride_b + rows_b * a->ldb, "matmul b") ||
        !fits(dev, a->c, last * a->stride_c + (int64_t)a->m * a->ldc, "matmul c"))
        return HRM_ERR_INVALID_ARG;
    for (int i = 0; i < a->batch; i++) {
        const float *A = F(a->a) + i * a->stride_a, *B = F(a->b) + i * a->stride_b;
        float *C = F(a->c) + i * a->stride_c;
        for (int r = 0; r < a->m; r++)
            for (int c = 0; c < a->n; c++) {
                double sum = 0;
                for (int k = 0; k < a->k; k++) {
                    float x = a->trans_a ? A[k * a->lda + r] : A[r * a->lda + k]; /* op(A)[r, k] */
                    float y = a->trans_b ? B[c * a->ldb + k] : B[k * a->ldb + c]; /* op(B)[k, c] */
                    sum += (double)x * y;
                }
                float *out = &C[r * a->ldc + c];
                *out = a->alpha * (float)sum + (a->beta == 0.0f ? 0.0f : a->beta * *out); /* beta 0: ignore C */
            }
    }
    return HRM_OK;
}

/* ---- attention: O = softmax(scale Q K^T) V per (batch, head) --------------------------------- */

/* The head_dim elements of token s, head h, batch b of a [batch, seq, heads, head_dim] tensor
 * whose token rows are `stride` elements apart. */
static float *head(hrm_ptr p, const hrm_attention_args *a, int b, int s, int h, int64_t stride) {
    return F(p) + ((int64_t)b * a->seq + s) * stride + (int64_t)h * a->head_dim;
}

static int attention_args_ok(hrm_device *dev, const hrm_attention_args *a, int backward) {
    if (a->batch < 1 || a->seq < 1 || a->heads < 1 || a->head_dim < 1 || a->head_dim > 128) {
        fail(dev->be, HRM_ERR_INVALID_ARG, "attention: bad sizes batch=%d seq=%d heads=%d head_dim=%d", a->batch,
             a->seq, a->heads, a->head_dim);
        return 0;
    }
    int64_t qkv = strided_extent(a->batch, a->seq, a->heads, a->head_dim, a->qkv_row_stride);
    int64_t o = strided_extent(a->batch, a->seq, a->heads, a->head_dim, a->o_row_stride);
    int64_t d = strided_extent(a->batch, a->seq, a->heads, a->head_dim, a->dqkv_row_stride);
    int ok = fits(dev, a->q, qkv, "attention q") && fits(dev, a->k, qkv, "attention k") &&
             fits(dev, a->v, qkv, "attention v") && fits(dev, a->o, o, "attention o") &&
             fits(dev, a->lse, (int64_t)a->batch * a->heads * a->seq, "attention lse");
    if (ok && backward)
        ok = fits(dev, a->d_o, o, "attention d_o") && fits(dev, a->dq, d, "attention dq") &&
             fits(dev, a->dk, d, "attention dk") && fits(dev, a->dv, d, "attention dv");
    return ok;
}

static double dot(const float *x, const float *y, int n) {
    double sum = 0;
    for (int i = 0; i < n; i++) sum += (double)x[i] * y[i];
    return sum;
}

/* Keys that query i sees: all of them, or j <= i when causal. */
static int keys_of(const hrm_attention_args *a, int i) { return a->causal ? i + 1 : a->seq; }

static float *lse_at(const hrm_attention_args *a, int b, int h, int i) {
    return F(a->lse) + ((int64_t)b * a->heads + h) * a->seq + i;
}

/* One query row: p_j = exp(scale q.k_j - max), o = sum p_j v_j / sum p_j, lse = max + log(sum p_j). */
static void attend_row(const hrm_attention_args *a, int b, int h, int i, double *p) {
    const int hd = a->head_dim, n = keys_of(a, i);
    const float *q = head(a->q, a, b, i, h, a->qkv_row_stride);
    double max = -INFINITY, sum = 0;
    for (int j = 0; j < n; j++) {
        p[j] = a->scale * dot(q, head(a->k, a, b, j, h, a->qkv_row_stride), hd);
        if (p[j] > max) max = p[j];
    }
    for (int j = 0; j < n; j++) p[j] = exp(p[j] - max), sum += p[j];
    float *o = head(a->o, a, b, i, h, a->o_row_stride);
    for (int d = 0; d < hd; d++) {
        double acc = 0;
        for (int j = 0; j < n; j++) acc += p[j] * head(a->v, a, b, j, h, a->qkv_row_stride)[d];
        o[d] = (float)(acc / sum);
    }
    *lse_at(a, b, h, i) = (float)(max + log(sum));
}

static hrm_status example_attention_forward(hrm_device *dev, const hrm_attention_args *a) {
    if (!attention_args_ok(dev, a, 0)) return HRM_ERR_INVALID_ARG;
    double *p = malloc(sizeof *p * (size_t)a->seq); /* one row of scores: never a [seq, seq] matrix */
    if (!p) return fail(dev->be, HRM_ERR_OUT_OF_MEMORY, "attention_forward: out of host memory");
    for (int b = 0; b < a->batch; b++)
        for (int h = 0; h < a->heads; h++)
            for (int i = 0; i < a->seq; i++) attend_row(a, b, h, i, p);
    free(p);
    return HRM_OK;
}

/* One query row's share of the gradients, with P_ij = exp(scale q_i.k_j - lse_i), D_i = dO_i.O_i:
 *   dV_j += P_ij dO_i;  dS_ij = P_ij (dO_i.V_j - D_i);  dQ_i += scale dS_ij K_j;  dK_j += scale dS_ij Q_i */
static void attend_row_backward(const hrm_attention_args *a, int b, int h, int i) {
    const int hd = a->head_dim;
    const int64_t qs = a->qkv_row_stride, ds = a->dqkv_row_stride;
    const float *q = head(a->q, a, b, i, h, qs), *d_o = head(a->d_o, a, b, i, h, a->o_row_stride);
    float *dq = head(a->dq, a, b, i, h, ds);
    double D = dot(d_o, head(a->o, a, b, i, h, a->o_row_stride), hd), lse = *lse_at(a, b, h, i);
    for (int j = 0; j < keys_of(a, i); j++) {
        const float *k = head(a->k, a, b, j, h, qs), *v = head(a->v, a, b, j, h, qs);
        float *dk = head(a->dk, a, b, j, h, ds), *dv = head(a->dv, a, b, j, h, ds);
        double p = exp(a->scale * dot(q, k, hd) - lse);
        double ds_scaled = a->scale * p * (dot(d_o, v, hd) - D);
        for (int d = 0; d < hd; d++) {
            dv[d] += (float)(p * d_o[d]);
            dq[d] += (float)(ds_scaled * k[d]);
            dk[d] += (float)(ds_scaled * q[d]);
        }
    }
}

static hrm_status example_attention_backward(hrm_device *dev, const hrm_attention_args *a) {
    if (!attention_args_ok(dev, a, 1)) return HRM_ERR_INVALID_ARG;
    const int64_t ds = a->dqkv_row_stride;
    for (int b = 0; b < a->batch; b++) /* dq, dk, dv are written, not accumulated: zero them first */
        for (int s = 0; s < a->seq; s++)
            for (int h = 0; h < a->heads; h++)
                for (int d = 0; d < a->head_dim; d++)
                    head(a->dq, a, b, s, h, ds)[d] = head(a->dk, a, b, s, h, ds)[d] = head(a->dv, a, b, s, h, ds)[d] =
                        0.0f;
    for (int b = 0; b < a->batch; b++)
        for (int h = 0; h < a->heads; h++)
            for (int i = 0; i < a->seq; i++) attend_row_backward(a, b, h, i);
    return HRM_OK;
}

/* ---- RoPE, rotate-half layout: (x0, x1) -> (x0 c - x1 s, x1 c + x0 s); backward rotates by -angle */

static hrm_status rope(hrm_device *dev, const hrm_rope_args *a, float direction) {
    if (a->batch < 1 || a->seq < 1 || a->heads < 1 || a->head_dim < 2 || a->head_dim % 2)
        return fail(dev->be, HRM_ERR_INVALID_ARG, "rope: bad sizes");
    const int half = a->head_dim / 2;
    int64_t extent = strided_extent(a->batch, a->seq, a->heads, a->head_dim, a->row_stride);
    if (!fits(dev, a->x, extent, "rope x") || !fits(dev, a->out, extent, "rope out") ||
        !fits(dev, a->cos, (int64_t)a->seq * half, "rope cos") ||
        !fits(dev, a->sin, (int64_t)a->seq * half, "rope sin"))
        return HRM_ERR_INVALID_ARG;
    for (int b = 0; b < a->batch; b++)
        for (int s = 0; s < a->seq; s++)
            for (int h = 0; h < a->heads; h++) {
                int64_t at = ((int64_t)b * a->seq + s) * a->row_stride + (int64_t)h * a->head_dim;
                const float *x = F(a->x) + at;
                float *y = F(a->out) + at; /* may be x: both halves are read before either is written */
                for (int i = 0; i < half; i++) {
                    float c = F(a->cos)[s * half + i], sn = direction * F(a->sin)[s * half + i];
                    float x0 = x[i], x1 = x[i + half];
                    y[i] = x0 * c - x1 * sn;
                    y[i + half] = x1 * c + x0 * sn;
                }
            }
    return HRM_OK;
}

static hrm_status example_rope_forward(hrm_device *dev, const hrm_rope_args *a) { return rope(dev, a, 1.0f); }
static hrm_status example_rope_backward(hrm_device *dev, const hrm_rope_args *a) { return rope(dev, a, -1.0f); }

/* ---- add: out = a + b (+ c) ------------------------------------------------------------------- */

static hrm_status example_add(hrm_device *dev, const hrm_add_args *a) {
    if (!fits(dev, a->out, a->n, "add out") || !fits(dev, a->a, a->n, "add a") || !fits(dev, a->b, a->n, "add b") ||
        (a->c.buf && !fits(dev, a->c, a->n, "add c")))
        return HRM_ERR_INVALID_ARG;
    for (int64_t i = 0; i < a->n; i++) F(a->out)[i] = F(a->a)[i] + F(a->b)[i] + (a->c.buf ? F(a->c)[i] : 0.0f);
    return HRM_OK;
}

/* ---- residual add + RMSNorm: h = x + r; y = h / sqrt(mean(h^2) + eps) -------------------------- */

static hrm_status example_rmsnorm_forward(hrm_device *dev, const hrm_rmsnorm_args *a) {
    const int64_t n = a->rows * a->dim;
    if (a->rows < 0 || a->dim < 1 || !fits(dev, a->x, n, "rmsnorm x") || !fits(dev, a->y, n, "rmsnorm y") ||
        !fits(dev, a->rstd, a->rows, "rmsnorm rstd") || (a->r.buf && !fits(dev, a->r, n, "rmsnorm r")))
        return HRM_ERR_INVALID_ARG;
    for (int64_t row = 0; row < a->rows; row++) {
        const float *x = F(a->x) + row * a->dim, *r = a->r.buf ? F(a->r) + row * a->dim : NULL;
        float *y = F(a->y) + row * a->dim; /* may be x: y[j] is written after x[j] is read */
        double squares = 0;
        for (int j = 0; j < a->dim; j++) {
            y[j] = x[j] + (r ? r[j] : 0.0f); /* h, kept in y */
            squares += (double)y[j] * y[j];
        }
        double rstd = 1.0 / sqrt(squares / a->dim + a->eps);
        for (int j = 0; j < a->dim; j++) y[j] = (float)(y[j] * rstd);
        F(a->rstd)[row] = (float)rstd;
    }
    return HRM_OK;
}

/* dh = rstd (dy - y mean(dy y)) */
static hrm_status example_rmsnorm_backward(hrm_device *dev, const hrm_rmsnorm_args *a) {
    const int64_t n = a->rows * a->dim;
    if (a->rows < 0 || a->dim < 1 || !fits(dev, a->dy, n, "rmsnorm dy") || !fits(dev, a->y, n, "rmsnorm y") ||
        !fits(dev, a->rstd, a->rows, "rmsnorm rstd") || !fits(dev, a->dh, n, "rmsnorm dh"))
        return HRM_ERR_INVALID_ARG;
    for (int64_t row = 0; row < a->rows; row++) {
        const float *dy = F(a->dy) + row * a->dim, *y = F(a->y) + row * a->dim;
        float *dh = F(a->dh) + row * a->dim; /* may be dy */
        double dot = 0, rstd = F(a->rstd)[row];
        for (int j = 0; j < a->dim; j++) dot += (double)dy[j] * y[j];
        double mean = dot / a->dim;
        for (int j = 0; j < a->dim; j++) dh[j] = (float)(rstd * (dy[j] - y[j] * mean));
    }
    return HRM_OK;
}

/* ---- SwiGLU: out = silu(g) u, silu(g) = g sigmoid(g); gu rows are [g | u] ----------------------- */

static int swiglu_args_ok(hrm_device *dev, const hrm_swiglu_args *a, int backward) {
    const int64_t n = a->rows * a->inter;
    if (a->rows < 0 || a->inter < 1) {
        fail(dev->be, HRM_ERR_INVALID_ARG, "swiglu: bad sizes");
        return 0;
    }
    if (!fits(dev, a->gu, 2 * n, "swiglu gu")) return 0;
    if (!backward) return fits(dev, a->out, n, "swiglu out");
    return fits(dev, a->d_out, n, "swiglu d_out") && fits(dev, a->d_gu, 2 * n, "swiglu d_gu");
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

static hrm_status example_swiglu_forward(hrm_device *dev, const hrm_swiglu_args *a) {
    if (!swiglu_args_ok(dev, a, 0)) return HRM_ERR_INVALID_ARG;
    for (int64_t row = 0; row < a->rows; row++) {
        const float *g = F(a->gu) + row * 2 * a->inter, *u = g + a->inter;
        float *out = F(a->out) + row * a->inter;
        for (int j = 0; j < a->inter; j++) out[j] = (float)(g[j] * sigmoid(g[j]) * u[j]);
    }
    return HRM_OK;
}

/* d_g = d_out u silu'(g), silu'(g) = s (1 + g (1 - s)) with s = sigmoid(g);  d_u = d_out silu(g) */
static hrm_status example_swiglu_backward(hrm_device *dev, const hrm_swiglu_args *a) {
    if (!swiglu_args_ok(dev, a, 1)) return HRM_ERR_INVALID_ARG;
    for (int64_t row = 0; row < a->rows; row++) {
        const float *g = F(a->gu) + row * 2 * a->inter, *u = g + a->inter, *dout = F(a->d_out) + row * a->inter;
        float *dg = F(a->d_gu) + row * 2 * a->inter, *du = dg + a->inter;
        for (int j = 0; j < a->inter; j++) {
            double s = sigmoid(g[j]);
            dg[j] = (float)(dout[j] * u[j] * s * (1.0 + g[j] * (1.0 - s)));
            du[j] = (float)(dout[j] * g[j] * s);
        }
    }
    return HRM_OK;
}

/* ---- embedding: out[b, s] = scale (e[b, s] + pos[s]), prefix rows from the puzzle table --------- */
/* A puzzle row has puzzle_width values, zero-padded to prefix*dim: the flat prefix index
 * p = s*dim + d reads puzzle_table[id][p] for p < puzzle_width and 0 beyond. */

static int embedding_args_ok(hrm_device *dev, const hrm_embedding_args *a) {
    if (a->batch < 1 || a->seq_len < 0 || a->prefix < 0 || a->dim < 1 || a->vocab < 1) {
        fail(dev->be, HRM_ERR_INVALID_ARG, "embedding: bad sizes");
        return 0;
    }
    if (a->prefix > 0 && (a->puzzle_width < 1 || a->puzzle_width > (int64_t)a->prefix * a->dim)) {
        fail(dev->be, HRM_ERR_INVALID_ARG, "embedding: puzzle_width %d outside [1, prefix*dim]", a->puzzle_width);
        return 0;
    }
    if (!fits(dev, a->tokens, (int64_t)a->batch * a->seq_len, "embedding tokens")) return 0;
    if (a->prefix > 0 && !fits(dev, a->puzzle_ids, a->batch, "embedding puzzle_ids")) return 0;
    for (int64_t i = 0; i < (int64_t)a->batch * a->seq_len; i++)
        if (I(a->tokens)[i] < 0 || I(a->tokens)[i] >= a->vocab) {
            fail(dev->be, HRM_ERR_INVALID_ARG, "embedding: token %d outside [0, %d)", I(a->tokens)[i], a->vocab);
            return 0;
        }
    for (int b = 0; a->prefix > 0 && b < a->batch; b++)
        if (I(a->puzzle_ids)[b] < 0 || I(a->puzzle_ids)[b] >= a->num_puzzle_ids) {
            fail(dev->be, HRM_ERR_INVALID_ARG, "embedding: puzzle id %d outside [0, %d)", I(a->puzzle_ids)[b],
                 a->num_puzzle_ids);
            return 0;
        }
    return 1;
}

static hrm_status example_embedding_forward(hrm_device *dev, const hrm_embedding_args *a) {
    const int S = a->prefix + a->seq_len, D = a->dim;
    if (!embedding_args_ok(dev, a) || !fits(dev, a->token_table, (int64_t)a->vocab * D, "embedding token_table") ||
        (a->prefix > 0 &&
         !fits(dev, a->puzzle_table, (int64_t)a->num_puzzle_ids * a->puzzle_width, "embedding puzzle_table")) ||
        (a->pos.buf && !fits(dev, a->pos, (int64_t)S * D, "embedding pos")) ||
        !fits(dev, a->out, (int64_t)a->batch * S * D, "embedding out"))
        return HRM_ERR_INVALID_ARG;
    for (int b = 0; b < a->batch; b++)
        for (int s = 0; s < S; s++) {
            int64_t n = D; /* e[0, n) are this row's values, e[d] = 0 for d >= n */
            const float *e = NULL;
            if (s >= a->prefix)
                e = F(a->token_table) + (int64_t)I(a->tokens)[b * a->seq_len + s - a->prefix] * D;
            else if ((n = a->puzzle_width - (int64_t)s * D) > 0)
                e = F(a->puzzle_table) + (int64_t)I(a->puzzle_ids)[b] * a->puzzle_width + (int64_t)s * D;
            float *out = F(a->out) + ((int64_t)b * S + s) * D;
            for (int d = 0; d < D; d++)
                out[d] = a->scale * ((d < n ? e[d] : 0.0f) + (a->pos.buf ? F(a->pos)[s * D + d] : 0.0f));
        }
    return HRM_OK;
}

/* d_token_table += scale scatter-sum; d_puzzle_rows = scale d_out prefix values below puzzle_width
 * (the padding gets no gradient); d_pos += scale sum over b */
static hrm_status example_embedding_backward(hrm_device *dev, const hrm_embedding_args *a) {
    const int S = a->prefix + a->seq_len, D = a->dim;
    if (!embedding_args_ok(dev, a) || !fits(dev, a->d_out, (int64_t)a->batch * S * D, "embedding d_out") ||
        (a->d_token_table.buf && !fits(dev, a->d_token_table, (int64_t)a->vocab * D, "embedding d_token_table")) ||
        (a->d_puzzle_rows.buf &&
         !fits(dev, a->d_puzzle_rows, (int64_t)a->batch * a->puzzle_width, "embedding d_puzzle_rows")) ||
        (a->d_pos.buf && !fits(dev, a->d_pos, (int64_t)S * D, "embedding d_pos")))
        return HRM_ERR_INVALID_ARG;
    for (int b = 0; b < a->batch; b++)
        for (int s = 0; s < S; s++) {
            const float *g = F(a->d_out) + ((int64_t)b * S + s) * D;
            if (s < a->prefix && a->d_puzzle_rows.buf)
                for (int d = 0; d < D && (int64_t)s * D + d < a->puzzle_width; d++)
                    F(a->d_puzzle_rows)[(int64_t)b * a->puzzle_width + (int64_t)s * D + d] = a->scale * g[d];
            if (s >= a->prefix && a->d_token_table.buf) {
                float *row = F(a->d_token_table) + (int64_t)I(a->tokens)[b * a->seq_len + s - a->prefix] * D;
                for (int d = 0; d < D; d++) row[d] += a->scale * g[d];
            }
            for (int d = 0; a->d_pos.buf && d < D; d++) F(a->d_pos)[s * D + d] += a->scale * g[d];
        }
    return HRM_OK;
}

/* ---- cross-entropy per token, normalised per sequence, in double -------------------------------- */

/* stablemax s(x) and its derivative */
static double smax(double x) { return x >= 0 ? x + 1.0 : 1.0 / (1.0 - x); }
static double smax_grad(double x) { return x >= 0 ? 1.0 : 1.0 / ((1.0 - x) * (1.0 - x)); }

/* p_k of one row [vocab] into p[] (softmax or stablemax probabilities) */
static void probabilities(const float *x, int vocab, hrm_loss_kind kind, double *p) {
    double max = x[0], sum = 0;
    for (int k = 1; k < vocab; k++) max = x[k] > max ? x[k] : max;
    for (int k = 0; k < vocab; k++) p[k] = kind == HRM_LOSS_STABLEMAX ? smax(x[k]) : exp(x[k] - max), sum += p[k];
    for (int k = 0; k < vocab; k++) p[k] /= sum;
}

static int argmax(const float *x, int vocab) {
    int best = 0;
    for (int k = 1; k < vocab; k++) best = x[k] > x[best] ? k : best; /* first maximum */
    return best;
}

static int xent_args_ok(hrm_device *dev, const hrm_xent_args *a) {
    const int64_t cells = (int64_t)a->batch * a->seq_len;
    if (a->batch < 1 || a->seq_len < 1 || a->vocab < 1 || a->vocab > 1 << 20) {
        fail(dev->be, HRM_ERR_INVALID_ARG, "xent: bad sizes");
        return 0;
    }
    if (!fits(dev, a->logits, cells * a->vocab, "xent logits") || !fits(dev, a->labels, cells, "xent labels")) return 0;
    for (int64_t i = 0; i < cells; i++) {
        int label = I(a->labels)[i];
        if (label != a->ignore_label && (label < 0 || label >= a->vocab)) {
            fail(dev->be, HRM_ERR_INVALID_ARG, "xent: label %d outside [0, %d)", label, a->vocab);
            return 0;
        }
    }
    return 1;
}

/* Valid positions of sequence b. */
static int valid_count(const hrm_xent_args *a, int b) {
    int count = 0;
    for (int t = 0; t < a->seq_len; t++) count += I(a->labels)[b * a->seq_len + t] != a->ignore_label;
    return count;
}

static hrm_status example_xent_forward(hrm_device *dev, const hrm_xent_args *a) {
    if (!xent_args_ok(dev, a) || !fits(dev, a->loss, a->batch, "xent loss") ||
        !fits(dev, a->count, a->batch, "xent count") || !fits(dev, a->correct, a->batch, "xent correct") ||
        (a->preds.buf && !fits(dev, a->preds, (int64_t)a->batch * a->seq_len, "xent preds")))
        return HRM_ERR_INVALID_ARG;
    double *p = malloc(sizeof *p * (size_t)a->vocab);
    if (!p) return fail(dev->be, HRM_ERR_OUT_OF_MEMORY, "xent_forward: out of host memory");
    for (int b = 0; b < a->batch; b++) {
        int count = valid_count(a, b), correct = 0;
        double loss = 0;
        for (int t = 0; t < a->seq_len; t++) {
            const float *x = F(a->logits) + ((int64_t)b * a->seq_len + t) * a->vocab;
            int label = I(a->labels)[b * a->seq_len + t], best = argmax(x, a->vocab);
            if (a->preds.buf) I(a->preds)[b * a->seq_len + t] = best;
            if (label == a->ignore_label) continue;
            probabilities(x, a->vocab, a->kind, p);
            loss -= log(p[label]);
            correct += best == label;
        }
        F(a->loss)[b] = (float)(loss / (count > 1 ? count : 1));
        I(a->count)[b] = count;
        I(a->correct)[b] = correct;
    }
    free(p);
    return HRM_OK;
}

/* d(-log p_c)/dx_k: softmax p_k - [k = c]; stablemax s'(x_k)/sum s - [k = c] s'(x_c)/s(x_c) */
static hrm_status example_xent_backward(hrm_device *dev, const hrm_xent_args *a) {
    if (!xent_args_ok(dev, a) || !fits(dev, a->d_logits, (int64_t)a->batch * a->seq_len * a->vocab, "xent d_logits"))
        return HRM_ERR_INVALID_ARG;
    double *p = malloc(sizeof *p * (size_t)a->vocab);
    if (!p) return fail(dev->be, HRM_ERR_OUT_OF_MEMORY, "xent_backward: out of host memory");
    for (int b = 0; b < a->batch; b++) {
        int count = valid_count(a, b);
        double weight = a->grad_scale / (double)(count > 1 ? count : 1);
        for (int t = 0; t < a->seq_len; t++) {
            const float *x = F(a->logits) + ((int64_t)b * a->seq_len + t) * a->vocab;
            float *dx = F(a->d_logits) + ((int64_t)b * a->seq_len + t) * a->vocab;
            int c = I(a->labels)[b * a->seq_len + t];
            if (c == a->ignore_label) {
                for (int k = 0; k < a->vocab; k++) dx[k] = 0.0f;
                continue;
            }
            probabilities(x, a->vocab, a->kind, p);
            for (int k = 0; k < a->vocab; k++) {
                double g = a->kind == HRM_LOSS_STABLEMAX ? p[k] * smax_grad(x[k]) / smax(x[k]) : p[k];
                if (k == c) g -= a->kind == HRM_LOSS_STABLEMAX ? smax_grad(x[c]) / smax(x[c]) : 1.0;
                dx[k] = (float)(weight * g);
            }
        }
    }
    free(p);
    return HRM_OK;
}

/* ---- optimizers ---------------------------------------------------------------------------- */

/* AdamATan2: p *= 1 - lr wd; m, v moments; p -= lr atan2(m / (1 - b1^t), sqrt(v) / sqrt(1 - b2^t)) */
static hrm_status example_adam_atan2(hrm_device *dev, const hrm_adam_args *a) {
    if (a->step < 1) return fail(dev->be, HRM_ERR_INVALID_ARG, "adam_atan2: step %lld < 1", (long long)a->step);
    if (!fits(dev, a->param, a->n, "adam param") || !fits(dev, a->grad, a->n, "adam grad") ||
        !fits(dev, a->m, a->n, "adam m") || !fits(dev, a->v, a->n, "adam v"))
        return HRM_ERR_INVALID_ARG;
    double bias1 = 1.0 - pow(a->beta1, (double)a->step), bias2 = 1.0 - pow(a->beta2, (double)a->step);
    float m_scale = (float)(1.0 / bias1), v_scale = (float)(1.0 / sqrt(bias2));
    float *p = F(a->param), *m = F(a->m), *v = F(a->v);
    const float *g = F(a->grad);
    for (int64_t i = 0; i < a->n; i++) {
        p[i] *= 1.0f - a->lr * a->weight_decay;
        m[i] += (1.0f - a->beta1) * (g[i] - m[i]);
        v[i] += (1.0f - a->beta2) * (g[i] * g[i] - v[i]);
        p[i] -= a->lr * atan2f(m[i] * m_scale, sqrtf(v[i]) * v_scale);
    }
    return HRM_OK;
}

/* SignSGD on the rows present: sum the slots of each distinct id, then w = w (1 - lr wd) - lr sign(sum) */
static hrm_status example_signsgd_rows(hrm_device *dev, const hrm_signsgd_args *a) {
    if (a->batch < 0 || a->width < 1 || !fits(dev, a->ids, a->batch, "signsgd ids") ||
        !fits(dev, a->grads, (int64_t)a->batch * a->width, "signsgd grads") ||
        !fits(dev, a->weights, (int64_t)a->num_rows * a->width, "signsgd weights"))
        return HRM_ERR_INVALID_ARG;
    const int32_t *ids = I(a->ids);
    for (int b = 0; b < a->batch; b++)
        if (ids[b] < 0 || ids[b] >= a->num_rows)
            return fail(dev->be, HRM_ERR_INVALID_ARG, "signsgd_rows: id %d outside [0, %d)", ids[b], a->num_rows);
    for (int b = 0; b < a->batch; b++) {
        int seen = 0;
        for (int e = 0; e < b && !seen; e++) seen = ids[e] == ids[b];
        if (seen) continue; /* this id was updated at its first slot */
        float *w = F(a->weights) + (int64_t)ids[b] * a->width;
        for (int j = 0; j < a->width; j++) {
            double sum = 0;
            for (int e = b; e < a->batch; e++)
                if (ids[e] == ids[b]) sum += F(a->grads)[(int64_t)e * a->width + j];
            float sign = (float)((sum > 0) - (sum < 0));
            w[j] = w[j] * (1.0f - a->lr * a->weight_decay) - a->lr * sign;
        }
    }
    return HRM_OK;
}

/* ---- the table and the one exported symbol ----------------------------------------------------- */

static const hrm_backend_iface example_iface = {
    .abi_version = HRM_BACKEND_ABI_VERSION,
    .struct_size = sizeof(hrm_backend_iface),
    .name = "example",
    .description = "teaching example: naive single-threaded C loops (examples/custom-backend)",
    .probe = example_probe,
    .create = example_create,
    .destroy = example_destroy,
    .last_error = example_last_error,
    .device_count = example_device_count,
    .device_info = example_device_info,
    .device_open = example_device_open,
    .device_close = example_device_close,
    .memory_usage = example_memory_usage,
    .buffer_alloc = example_buffer_alloc,
    .buffer_free = example_buffer_free,
    .buffer_write = example_buffer_write,
    .buffer_read = example_buffer_read,
    .buffer_copy = example_buffer_copy,
    .buffer_fill = example_buffer_fill,
    .finish = example_finish,
    .matmul = example_matmul,
    .attention_forward = example_attention_forward,
    .attention_backward = example_attention_backward,
    .rope_forward = example_rope_forward,
    .rope_backward = example_rope_backward,
    .add = example_add,
    .rmsnorm_forward = example_rmsnorm_forward,
    .rmsnorm_backward = example_rmsnorm_backward,
    .swiglu_forward = example_swiglu_forward,
    .swiglu_backward = example_swiglu_backward,
    .embedding_forward = example_embedding_forward,
    .embedding_backward = example_embedding_backward,
    .xent_forward = example_xent_forward,
    .xent_backward = example_xent_backward,
    .adam_atan2 = example_adam_atan2,
    .signsgd_rows = example_signsgd_rows,
};

HRM_BACKEND_EXPORT const hrm_backend_iface *hrm_backend_entry(void) { return &example_iface; }
