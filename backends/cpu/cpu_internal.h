/* cpu_internal.h - what the files of the CPU reference backend share: the handle structs, the
 * thread pool, argument checks and error reporting. Ops run synchronously on the calling thread
 * plus the pool, so every op has completed when it returns and finish() has nothing to wait for.
 * Buffers are plain 64-byte aligned host memory; an hrm_ptr offset counts 4-byte elements. */
#ifndef HRM_CPU_INTERNAL_H
#define HRM_CPU_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hrm/backend.h"
#include "hrm_memcount.h"
#include "hrm_span.h"

/* ---- thread pool (cpu_pool.c) ---------------------------------------------------------------
 * fn runs on [begin, end) sub-ranges of [0, n); `thread` is in [0, threads) and unique among the
 * calls running at one time, so it can index per-thread scratch. Thread 0 is the caller. */
typedef void (*cpu_task_fn)(void *ctx, int64_t begin, int64_t end, int thread);
typedef struct cpu_pool cpu_pool;

cpu_pool *cpu_pool_create(int threads); /* NULL when a thread cannot be started */
void cpu_pool_destroy(cpu_pool *pool);
int cpu_pool_threads(const cpu_pool *pool);
/* Chunks of `grain` items handed out first come, first served (uneven work, e.g. attention). */
void cpu_pool_run(cpu_pool *pool, int64_t n, int64_t grain, cpu_task_fn fn, void *ctx);
/* One contiguous share per thread; ranges under min_chunk items run on fewer threads (even,
 * memory-bound work, where waking a thread costs more than it saves). */
void cpu_parallel_for(cpu_pool *pool, int64_t n, int64_t min_chunk, cpu_task_fn fn, void *ctx);

/* ---- handles --------------------------------------------------------------------------------- */
struct hrm_backend {
    void (*log)(void *user, hrm_log_level level, const char *backend, const char *message);
    void *log_user;
    int threads;
    cpu_pool *pool;
    bool slice_gemm; /* large sgemms in slices over the pool (else OpenBLAS's threads): cpu_matmul.c */
    char error[256];
};

struct hrm_device {
    hrm_backend *be;
    hrm_memcount mem; /* bytes in buffers now and at most */
    uint64_t max_buffer; /* HRM_CPU_MAX_BUFFER_KB in bytes; 0 = no limit */
};

struct hrm_buffer {
    hrm_device *dev;
    size_t bytes;
    void *data; /* 64-byte aligned */
};

/* ---- errors and checks (cpu_backend.c) ------------------------------------------------------ */
hrm_status cpu_fail(hrm_backend *be, hrm_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cpu_log(hrm_backend *be, hrm_log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Checks that p holds `count` matrices `mstride` apart, each `rows` x `cols` with leading
 * dimension ld, inside a buffer of dev (a NULL buffer fails). The per-op checks call it through
 * cpu_checker (backends/common/hrm_span.h). */
hrm_status cpu_check_batched(hrm_device *dev, const char *op, const char *name, hrm_ptr p, uint64_t count,
                             int64_t mstride, uint64_t rows, int64_t ld, uint64_t cols);

/* The shared per-op shape checks (backends/common/hrm_span.h) run through this. */
extern const hrm_checker cpu_checker;
/* Every id of p[0, n) lies in [0, limit), or equals *ignore when ignore is not NULL (cpu_embedding.c). */
hrm_status cpu_check_ids(hrm_device *dev, const char *op, const char *name, hrm_ptr p, int64_t n, int limit,
                         const int32_t *ignore);

static inline float *cpu_f32(hrm_ptr p) { return (float *)p.buf->data + p.off; }
static inline int32_t *cpu_i32(hrm_ptr p) { return (int32_t *)p.buf->data + p.off; }
static inline cpu_pool *cpu_dev_pool(hrm_device *dev) { return dev->be->pool; }

#define CPU_TRY(expr)                                                                              \
    do {                                                                                           \
        hrm_status s_ = (expr);                                                                    \
        if (s_ != HRM_OK) return s_;                                                               \
    } while (0)

/* Returns INVALID_ARG from the enclosing op with a message when cond is false. */
#define CPU_REQUIRE(dev, cond, ...)                                                                \
    do {                                                                                           \
        if (!(cond)) return cpu_fail((dev)->be, HRM_ERR_INVALID_ARG, __VA_ARGS__);                 \
    } while (0)

/* ---- fast exp shared by attention and the activations (cpu_math.h) -------------------------- */
#include "cpu_math.h"

/* ---- ops (one file each group) --------------------------------------------------------------- */
hrm_status cpu_matmul(hrm_device *dev, const hrm_matmul_args *a);
hrm_status cpu_attention_forward(hrm_device *dev, const hrm_attention_args *a);
hrm_status cpu_attention_backward(hrm_device *dev, const hrm_attention_args *a);
hrm_status cpu_rope_forward(hrm_device *dev, const hrm_rope_args *a);
hrm_status cpu_rope_backward(hrm_device *dev, const hrm_rope_args *a);
hrm_status cpu_add(hrm_device *dev, const hrm_add_args *a);
hrm_status cpu_rmsnorm_forward(hrm_device *dev, const hrm_rmsnorm_args *a);
hrm_status cpu_rmsnorm_backward(hrm_device *dev, const hrm_rmsnorm_args *a);
hrm_status cpu_swiglu_forward(hrm_device *dev, const hrm_swiglu_args *a);
hrm_status cpu_swiglu_backward(hrm_device *dev, const hrm_swiglu_args *a);
hrm_status cpu_embedding_forward(hrm_device *dev, const hrm_embedding_args *a);
hrm_status cpu_embedding_backward(hrm_device *dev, const hrm_embedding_args *a);
hrm_status cpu_xent_forward(hrm_device *dev, const hrm_xent_args *a);
hrm_status cpu_xent_backward(hrm_device *dev, const hrm_xent_args *a);
hrm_status cpu_adam_atan2(hrm_device *dev, const hrm_adam_args *a);
hrm_status cpu_signsgd_rows(hrm_device *dev, const hrm_signsgd_args *a);

#endif
