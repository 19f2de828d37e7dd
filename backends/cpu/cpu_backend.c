/* cpu_backend.c - the CPU reference backend's plugin table, instance, device and buffers, plus
 * the error and bounds-check helpers every op uses. The one device is the host: buffers are
 * 64-byte aligned host memory, and every access is checked against the buffer's size so that a
 * core bug shows up as an INVALID_ARG with a message instead of memory corruption. Matrix products
 * are oneDNN's or OpenBLAS's (cpu_matmul.c, cpu_dnnl.c), in the precisions of cpu_precision.c. */
#include <cblas.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu_internal.h"

#define CPU_BACKEND_NAME "cpu"
#define CPU_ALIGN 64
#define CPU_PARALLEL_COPY_BYTES (256u << 10) /* below this one thread's memcpy wins */

/* ---- errors and logging --------------------------------------------------------------------- */

hrm_status cpu_fail(hrm_backend *be, hrm_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(be->error, sizeof be->error, fmt, ap);
    va_end(ap);
    cpu_log(be, HRM_LOG_DEBUG, "%s", be->error);
    return status;
}

void cpu_log(hrm_backend *be, hrm_log_level level, const char *fmt, ...) {
    if (!be->log) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    be->log(be->log_user, level, CPU_BACKEND_NAME, msg);
}

/* ---- bounds checks -------------------------------------------------------------------------- */

hrm_status cpu_check_batched(hrm_device *dev, const char *op, const char *name, hrm_ptr p, uint64_t count,
                             int64_t mstride, uint64_t rows, int64_t ld, uint64_t cols) {
    char msg[1024];
    hrm_status st = hrm_arg_check(op, name, p.buf != NULL, p.buf && p.buf->dev == dev, p.buf ? p.buf->bytes / 4 : 0,
                                  p.off, count, mstride, rows, ld, cols, msg, sizeof msg);
    return st == HRM_OK ? HRM_OK : cpu_fail(dev->be, st, "%s", msg);
}

static hrm_status cpu_invalid(hrm_device *dev, const char *msg) {
    return cpu_fail(dev->be, HRM_ERR_INVALID_ARG, "%s", msg);
}

const hrm_checker cpu_checker = {cpu_check_batched, cpu_invalid, cpu_check_ids};

/* ---- instance --------------------------------------------------------------------------------- */

static int cpu_probe(const hrm_host *host, char *why, size_t why_size) {
    (void)host;
    if (why && why_size) why[0] = '\0';
    return 10; /* always usable; any accelerator backend should outrank it */
}

static int host_threads(const hrm_host *host) {
    int n = 0;
    if (host && host->struct_size >= offsetof(hrm_host, num_threads) + sizeof host->num_threads) n = host->num_threads;
    if (n <= 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        n = online > 0 ? (int)online : 1;
    }
    return n > 1024 ? 1024 : n;
}

static hrm_status cpu_create(const hrm_host *host, hrm_backend **out) {
    if (!out) return HRM_ERR_INVALID_ARG;
    *out = NULL;
    hrm_backend *be = calloc(1, sizeof *be);
    if (!be) return HRM_ERR_OUT_OF_MEMORY;
    if (host && host->struct_size >= offsetof(hrm_host, log_user) + sizeof host->log_user) {
        be->log = host->log;
        be->log_user = host->log_user;
    }
    be->threads = host_threads(host);
    be->pool = cpu_pool_create(be->threads);
    if (!be->pool) {
        free(be);
        return HRM_ERR_OUT_OF_MEMORY;
    }
    /* OpenBLAS's own threads (the same count as the pool) serve HRM_CPU_GEMM=openblas and
     * products too narrow to slice; see cpu_matmul.c */
    openblas_set_num_threads(be->threads);
    char why[160] = "";
    if (!cpu_dnnl_init(be, why, sizeof why) && why[0]) cpu_log(be, HRM_LOG_WARN, "%s; using OpenBLAS alone", why);
    cpu_gemm_select(be);
    cpu_precision_setup(be);
    char no_medium[200] = "";
    if (be->precision_why[0]) snprintf(no_medium, sizeof no_medium, " (medium not reported: %s)", be->precision_why);
    cpu_log(be, HRM_LOG_INFO, "%d threads; sgemm: %s%s; matmul precisions: %s%s; %s", be->threads, be->gemm_note,
            cpu_gemm_mode_sliced(be->gemm) ? " in slices over the pool" : "", be->precision_note, no_medium,
            openblas_get_config());
    *out = be;
    return HRM_OK;
}

static void cpu_destroy(hrm_backend *be) {
    if (!be) return;
    cpu_pool_destroy(be->pool);
    cpu_dnnl_fini(be);
    free(be);
}

static const char *cpu_last_error(hrm_backend *be) { return be ? be->error : "cpu: no backend instance"; }

/* ---- the device: the host CPU ------------------------------------------------------------------- */

static int cpu_device_count(hrm_backend *be) { return be ? 1 : 0; }

/* Copies the value of the first "key<spaces>: value" line of a /proc file into out. */
static int proc_field(const char *path, const char *key, char *out, size_t size) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[512];
    size_t klen = strlen(key);
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) != 0) continue;
        const char *colon = strchr(line + klen, ':');
        if (!colon) continue;
        colon++;
        while (*colon == ' ' || *colon == '\t') colon++;
        snprintf(out, size, "%s", colon);
        out[strcspn(out, "\n")] = '\0';
        found = 1;
    }
    fclose(f);
    return found;
}

static uint64_t total_memory(void) {
    char kb[64];
    if (proc_field("/proc/meminfo", "MemTotal", kb, sizeof kb)) return strtoull(kb, NULL, 10) * 1024u;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
}

static hrm_status cpu_device_info(hrm_backend *be, int index, hrm_device_info *out) {
    if (!be || !out) return HRM_ERR_INVALID_ARG;
    if (index != 0)
        return cpu_fail(be, HRM_ERR_INVALID_ARG, "device_info: no device %d (the CPU backend has 1)", index);
    memset(out, 0, sizeof *out);
    if (!proc_field("/proc/cpuinfo", "model name", out->name, sizeof out->name))
        snprintf(out->name, sizeof out->name, "host CPU");
    if (!proc_field("/proc/cpuinfo", "vendor_id", out->vendor, sizeof out->vendor))
        snprintf(out->vendor, sizeof out->vendor, "unknown");
    if (cpu_gemm_mode_dnnl(be->gemm))
        snprintf(out->driver, sizeof out->driver, "%.*s", (int)sizeof out->driver - 1, be->gemm_note);
    else
        snprintf(out->driver, sizeof out->driver, "%s", openblas_get_config());
    out->memory_bytes = total_memory();
    out->compute_units = be->threads;
    out->validated = 1;
    /* e.g. "2 threads; sgemm: oneDNN 2.6.3 (avx2); matmul precisions: highest" (cut to 127 bytes) */
    char note[256];
    snprintf(note, sizeof note, "%d threads; sgemm: %s; matmul precisions: %s", be->threads, be->gemm_note,
             be->precision_note);
    size_t len = strlen(note) < sizeof out->note - 1 ? strlen(note) : sizeof out->note - 1;
    memcpy(out->note, note, len);
    out->note[len] = '\0';
    return HRM_OK;
}

static hrm_status cpu_device_open(hrm_backend *be, int index, hrm_device **out) {
    if (!be || !out) return HRM_ERR_INVALID_ARG;
    *out = NULL;
    if (index != 0)
        return cpu_fail(be, HRM_ERR_INVALID_ARG, "device_open: no device %d (the CPU backend has 1)", index);
    hrm_device *dev = calloc(1, sizeof *dev);
    if (!dev) return cpu_fail(be, HRM_ERR_OUT_OF_MEMORY, "device_open: out of host memory");
    dev->be = be;
    /* oneDNN's per-thread streams and primitive cache, where it computes anything */
    bool dnnl_used = cpu_gemm_mode_dnnl(be->gemm) || be->medium_native;
    if (be->dnnl_engine && dnnl_used && !(dev->dnnl = cpu_dnnl_open(be))) {
        free(dev);
        return cpu_fail(be, HRM_ERR_OUT_OF_MEMORY, "device_open: cannot set up oneDNN's streams");
    }
    hrm_memcount_init(&dev->mem);
    /* Test cap: a device whose buffers are limited (an OpenCL device's allocation limit) makes the
     * core split its activations; with it the ASan build checks that split on the host. */
    const char *kb = getenv("HRM_CPU_MAX_BUFFER_KB");
    if (kb && kb[0]) {
        char *end;
        unsigned long long v = strtoull(kb, &end, 10);
        if (*end == '\0' && v > 0 && v < (1ull << 50)) dev->max_buffer = (uint64_t)v << 10;
    }
    *out = dev;
    return HRM_OK;
}

static void cpu_device_close(hrm_device *dev) {
    if (!dev) return;
    cpu_dnnl_close(dev->dnnl);
    cpu_precision_scratch_free(dev);
    hrm_memcount_destroy(&dev->mem);
    free(dev);
}

static hrm_status cpu_memory_usage(hrm_device *dev, uint64_t *current, uint64_t *peak) {
    if (!dev) return HRM_ERR_INVALID_ARG;
    hrm_memcount_get(&dev->mem, current, peak);
    return HRM_OK;
}

static hrm_status cpu_finish(hrm_device *dev) { return dev ? HRM_OK : HRM_ERR_INVALID_ARG; }

/* ---- buffers ------------------------------------------------------------------------------------ */

static hrm_status cpu_buffer_alloc(hrm_device *dev, size_t bytes, hrm_buffer **out) {
    if (!dev || !out) return HRM_ERR_INVALID_ARG;
    *out = NULL;
    if (dev->max_buffer && bytes > dev->max_buffer)
        return cpu_fail(dev->be, HRM_ERR_OUT_OF_MEMORY,
                        "buffer_alloc: %zu bytes is over the largest buffer (HRM_CPU_MAX_BUFFER_KB=%llu)", bytes,
                        (unsigned long long)(dev->max_buffer >> 10));
    size_t rounded = (bytes + CPU_ALIGN - 1) & ~(size_t)(CPU_ALIGN - 1);
    if (rounded < bytes) return cpu_fail(dev->be, HRM_ERR_OUT_OF_MEMORY, "buffer_alloc: %zu bytes is too large", bytes);
    hrm_buffer *buf = malloc(sizeof *buf);
    void *data = NULL;
    if (!buf || posix_memalign(&data, CPU_ALIGN, rounded ? rounded : CPU_ALIGN) != 0) {
        free(buf);
        return cpu_fail(dev->be, HRM_ERR_OUT_OF_MEMORY, "buffer_alloc: cannot allocate %zu bytes of host memory",
                        bytes);
    }
    *buf = (hrm_buffer){.dev = dev, .bytes = bytes, .data = data};
    hrm_memcount_add(&dev->mem, bytes);
    *out = buf;
    return HRM_OK;
}

static uint64_t cpu_max_buffer_bytes(hrm_device *dev) { return dev ? dev->max_buffer : 0; }

static void cpu_buffer_free(hrm_buffer *buf) {
    if (!buf) return;
    hrm_device *dev = buf->dev;
    hrm_memcount_sub(&dev->mem, buf->bytes);
    free(buf->data);
    free(buf);
}

static hrm_status check_bytes(hrm_buffer *buf, const char *op, size_t offset, size_t bytes) {
    if (offset > buf->bytes || bytes > buf->bytes - offset)
        return cpu_fail(buf->dev->be, HRM_ERR_INVALID_ARG, "%s: bytes [%zu, %zu + %zu) lie outside a buffer of %zu", op,
                        offset, offset, bytes, buf->bytes);
    return HRM_OK;
}

typedef struct copy_job {
    char *dst;
    const char *src;
    size_t bytes;
} copy_job;

enum { COPY_BLOCK = 1 << 16 }; /* the copy is handed out in blocks of this many bytes */

static void copy_blocks(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const copy_job *j = ctx;
    size_t from = (size_t)begin * COPY_BLOCK, to = (size_t)end * COPY_BLOCK;
    if (to > j->bytes) to = j->bytes;
    memcpy(j->dst + from, j->src + from, to - from);
}

/* memcpy over all pool threads: one thread cannot saturate the memory system on its own. */
static void parallel_memcpy(hrm_backend *be, void *dst, const void *src, size_t bytes) {
    if (bytes < CPU_PARALLEL_COPY_BYTES || be->threads == 1) {
        memcpy(dst, src, bytes);
        return;
    }
    copy_job j = {.dst = dst, .src = src, .bytes = bytes};
    cpu_parallel_for(be->pool, (int64_t)((bytes + COPY_BLOCK - 1) / COPY_BLOCK), 1, copy_blocks, &j);
}

static hrm_status cpu_buffer_write(hrm_buffer *dst, size_t offset, const void *src, size_t bytes) {
    if (!dst || (!src && bytes)) return HRM_ERR_INVALID_ARG;
    CPU_TRY(check_bytes(dst, "buffer_write", offset, bytes));
    parallel_memcpy(dst->dev->be, (char *)dst->data + offset, src, bytes);
    return HRM_OK;
}

static hrm_status cpu_buffer_read(hrm_buffer *src, size_t offset, void *dst, size_t bytes) {
    if (!src || (!dst && bytes)) return HRM_ERR_INVALID_ARG;
    CPU_TRY(check_bytes(src, "buffer_read", offset, bytes));
    parallel_memcpy(src->dev->be, dst, (const char *)src->data + offset, bytes);
    return HRM_OK;
}

static hrm_status cpu_buffer_copy(hrm_buffer *dst, size_t dst_offset, hrm_buffer *src, size_t src_offset,
                                  size_t bytes) {
    if (!dst || !src) return HRM_ERR_INVALID_ARG;
    CPU_TRY(check_bytes(dst, "buffer_copy (dst)", dst_offset, bytes));
    CPU_TRY(check_bytes(src, "buffer_copy (src)", src_offset, bytes));
    char *d = (char *)dst->data + dst_offset;
    const char *s = (const char *)src->data + src_offset;
    if (d < s + bytes && s < d + bytes)
        memmove(d, s, bytes); /* overlapping ranges: the blocks would race */
    else
        parallel_memcpy(dst->dev->be, d, s, bytes);
    return HRM_OK;
}

typedef struct fill_job {
    uint32_t *dst;
    uint32_t bits;
} fill_job;

static void fill_range(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const fill_job *j = ctx;
    uint32_t *restrict dst = j->dst;
    uint32_t bits = j->bits;
    for (int64_t i = begin; i < end; i++) dst[i] = bits;
}

static hrm_status cpu_buffer_fill(hrm_buffer *buf, size_t offset, size_t count, float value) {
    if (!buf) return HRM_ERR_INVALID_ARG;
    if (offset > buf->bytes / 4 || count > buf->bytes / 4 - offset)
        return cpu_fail(buf->dev->be, HRM_ERR_INVALID_ARG,
                        "buffer_fill: elements [%zu, %zu + %zu) lie outside a buffer of %zu", offset, offset, count,
                        buf->bytes / 4);
    fill_job j = {.dst = (uint32_t *)buf->data + offset};
    memcpy(&j.bits, &value, sizeof j.bits);
    cpu_parallel_for(buf->dev->be->pool, (int64_t)count, CPU_PARALLEL_COPY_BYTES / 4, fill_range, &j);
    return HRM_OK;
}

/* ---- the table ----------------------------------------------------------------------------------- */

static const hrm_backend_iface cpu_iface = {
    .abi_version = HRM_BACKEND_ABI_VERSION,
    .struct_size = sizeof(hrm_backend_iface),
    .name = CPU_BACKEND_NAME,
    .description = "reference backend: host threads, oneDNN or OpenBLAS sgemm",
    .probe = cpu_probe,
    .create = cpu_create,
    .destroy = cpu_destroy,
    .last_error = cpu_last_error,
    .device_count = cpu_device_count,
    .device_info = cpu_device_info,
    .device_open = cpu_device_open,
    .device_close = cpu_device_close,
    .memory_usage = cpu_memory_usage,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .buffer_write = cpu_buffer_write,
    .buffer_read = cpu_buffer_read,
    .buffer_copy = cpu_buffer_copy,
    .buffer_fill = cpu_buffer_fill,
    .finish = cpu_finish,
    .matmul = cpu_matmul,
    .attention_forward = cpu_attention_forward,
    .attention_backward = cpu_attention_backward,
    .rope_forward = cpu_rope_forward,
    .rope_backward = cpu_rope_backward,
    .add = cpu_add,
    .rmsnorm_forward = cpu_rmsnorm_forward,
    .rmsnorm_backward = cpu_rmsnorm_backward,
    .swiglu_forward = cpu_swiglu_forward,
    .swiglu_backward = cpu_swiglu_backward,
    .embedding_forward = cpu_embedding_forward,
    .embedding_backward = cpu_embedding_backward,
    .xent_forward = cpu_xent_forward,
    .xent_backward = cpu_xent_backward,
    .adam_atan2 = cpu_adam_atan2,
    .signsgd_rows = cpu_signsgd_rows,
    .max_buffer_bytes = cpu_max_buffer_bytes,
    .matmul_precisions = cpu_matmul_precisions,
    .matmul_precision = cpu_matmul_precision,
};
/* struct_size is sizeof(hrm_backend_iface) of ABI 1.2: the table reaches the precision slots. */
_Static_assert(sizeof(hrm_backend_iface) >= HRM_IFACE_END(matmul_precision), "ABI 1.2 table");

HRM_BACKEND_EXPORT const hrm_backend_iface *hrm_backend_entry(void) { return &cpu_iface; }
