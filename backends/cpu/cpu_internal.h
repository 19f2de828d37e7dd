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

/* ---- matrix products: engines and precisions -------------------------------------------------- */

/* Who computes fp32 products (HRM_CPU_GEMM; cpu_matmul.c). */
typedef enum cpu_gemm_mode {
    CPU_GEMM_SLICES,     /* OpenBLAS, single-threaded, one slice per pool thread */
    CPU_GEMM_OPENBLAS,   /* OpenBLAS with its own threads */
    CPU_GEMM_ONEDNN,     /* oneDNN, single-threaded, one slice per pool thread */
    CPU_GEMM_ONEDNN_OMP, /* oneDNN with be->threads OpenMP threads (for comparisons) */
    CPU_GEMM_MIXED,      /* in slices: oneDNN for products of an untransposed A, OpenBLAS for A^T */
} cpu_gemm_mode;

/* Whether an engine computes fp32 products on oneDNN (mixed: those of an untransposed A), and
 * whether it cuts them into slices over the pool. */
static inline bool cpu_gemm_mode_dnnl(cpu_gemm_mode m) {
    return m == CPU_GEMM_ONEDNN || m == CPU_GEMM_ONEDNN_OMP || m == CPU_GEMM_MIXED;
}
static inline bool cpu_gemm_mode_sliced(cpu_gemm_mode m) { return m != CPU_GEMM_OPENBLAS && m != CPU_GEMM_ONEDNN_OMP; }

/* What HRM_CPU_PRECISION asks for (cpu_precision.c). */
typedef enum cpu_precision_mode {
    CPU_PRECISION_AUTO,    /* medium when oneDNN has a validated bf16 unit faster than fp32 here */
    CPU_PRECISION_NATIVE,  /* medium whenever oneDNN has a validated non-reference bf16 unit */
    CPU_PRECISION_EMULATE, /* high and medium by rounding the operands, then fp32 (tests) */
    CPU_PRECISION_OFF,     /* highest only */
} cpu_precision_mode;

struct dnnl_engine;                         /* oneDNN's engine (dnnl_engine_t), NULL when oneDNN is absent or failed */
typedef struct cpu_dnnl cpu_dnnl;           /* per device: primitives, per-thread streams (cpu_dnnl.c) */
typedef struct cpu_dnnl_prim cpu_dnnl_prim; /* one cached primitive */

/* ---- handles --------------------------------------------------------------------------------- */
struct hrm_backend {
    void (*log)(void *user, hrm_log_level level, const char *backend, const char *message);
    void *log_user;
    int threads;
    cpu_pool *pool;
    cpu_gemm_mode gemm;
    struct dnnl_engine *dnnl_engine;
    cpu_precision_mode precision_mode;
    uint32_t precisions;     /* HRM_PRECISION_BIT set of what matmul_precision runs */
    bool medium_native;      /* medium runs on oneDNN's bf16 matmul (else emulated, or not at all) */
    char gemm_note[96];      /* who computes fp32 products, e.g. "oneDNN 2.6.3 (avx2)" */
    char precision_note[80]; /* "highest, medium (brg:avx512_core_bf16)" */
    char precision_why[160]; /* why medium is not reported, for the log */
    char error[256];
};

struct hrm_device {
    hrm_backend *be;
    hrm_memcount mem;    /* bytes in buffers now and at most */
    uint64_t max_buffer; /* HRM_CPU_MAX_BUFFER_KB in bytes; 0 = no limit */
    cpu_dnnl *dnnl;      /* NULL without oneDNN */
    void *scratch[2];    /* rounded or bf16 copies of A and B (cpu_precision.c) */
    size_t scratch_bytes[2];
};

struct hrm_buffer {
    hrm_device *dev;
    size_t bytes;
    void *data; /* 64-byte aligned */
};

/* ---- errors and checks (cpu_backend.c) ------------------------------------------------------ */
hrm_status cpu_fail(hrm_backend *be, hrm_status status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
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

#define CPU_TRY(expr)                \
    do {                             \
        hrm_status s_ = (expr);      \
        if (s_ != HRM_OK) return s_; \
    } while (0)

/* Returns INVALID_ARG from the enclosing op with a message when cond is false. */
#define CPU_REQUIRE(dev, cond, ...)                                                \
    do {                                                                           \
        if (!(cond)) return cpu_fail((dev)->be, HRM_ERR_INVALID_ARG, __VA_ARGS__); \
    } while (0)

/* ---- fast exp shared by attention and the activations (cpu_math.h) -------------------------- */
#include "cpu_math.h"

/* ---- matrix products (cpu_matmul.c) ------------------------------------------------------------
 * One strided-batched product on host pointers, already checked: C_i = alpha op(A_i) op(B_i) +
 * beta C_i as in hrm_matmul_args, strides and leading dimensions in elements. bf16: A and B hold
 * bf16 (uint16_t) elements, which only oneDNN multiplies. */
typedef struct cpu_gemm {
    int ta, tb, m, n, k, batch;
    float alpha, beta;
    const void *a, *b;
    float *c;
    int64_t lda, ldb, ldc, stride_a, stride_b, stride_c;
    bool bf16;
} cpu_gemm;
hrm_status cpu_gemm_run(hrm_device *dev, const cpu_gemm *g);
/* The product a describes, its shape and scalars only: the caller sets the pointers (a, b, c). */
cpu_gemm cpu_gemm_of(const hrm_matmul_args *a);
hrm_status cpu_matmul_check(hrm_device *dev, const hrm_matmul_args *a);
/* HRM_CPU_GEMM into be->gemm and be->gemm_note (after cpu_dnnl_init); warns on an unknown value. */
void cpu_gemm_select(hrm_backend *be);

/* ---- oneDNN (cpu_dnnl.c; stubs when it is not built in) ----------------------------------------- */
typedef struct cpu_dnnl_key { /* everything a primitive bakes in; compared with memcmp */
    int32_t ta, tb, m, n, k, bf16, threads, pad_;
    int64_t lda, ldb, ldc;
    uint32_t alpha_bits, beta_bits;
} cpu_dnnl_key;
#if HRM_CPU_ONEDNN
bool cpu_dnnl_init(hrm_backend *be, char *why, size_t why_size); /* sets be->dnnl_engine */
void cpu_dnnl_fini(hrm_backend *be);
void cpu_dnnl_version(char *out, size_t size); /* "oneDNN 2.6.3 (avx2)" */
cpu_dnnl *cpu_dnnl_open(hrm_backend *be);      /* NULL without an engine or memory */
void cpu_dnnl_close(cpu_dnnl *d);
void cpu_dnnl_key_init(cpu_dnnl_key *k, int ta, int tb, int m, int n, int kk, int64_t lda, int64_t ldb, int64_t ldc,
                       float alpha, float beta, bool bf16, int threads);
/* The calling thread only: finds or makes the primitive (HRM_ERR_UNSUPPORTED when oneDNN has none). */
hrm_status cpu_dnnl_get(cpu_dnnl *d, const cpu_dnnl_key *k, cpu_dnnl_prim **out, char *err, size_t err_size);
const char *cpu_dnnl_impl(const cpu_dnnl_prim *p); /* oneDNN's implementation name, e.g. "gemm:jit" */
/* Any pool thread (`thread` as the pool numbers it): C = the product of p on these pointers. */
bool cpu_dnnl_exec(cpu_dnnl *d, cpu_dnnl_prim *p, int thread, const void *a, const void *b, float *c);
/* The calling thread's OpenMP thread count set to want; returns the old one for _leave. */
int cpu_omp_threads_enter(int want);
void cpu_omp_threads_leave(int saved);
#else
static inline bool cpu_dnnl_init(hrm_backend *be, char *why, size_t why_size) {
    (void)be;
    if (why_size) why[0] = '\0';
    return false;
}
static inline void cpu_dnnl_fini(hrm_backend *be) { (void)be; }
static inline cpu_dnnl *cpu_dnnl_open(hrm_backend *be) {
    (void)be;
    return NULL;
}
static inline void cpu_dnnl_close(cpu_dnnl *d) { (void)d; }
#endif

/* ---- matmul precisions (cpu_precision.c) -------------------------------------------------------- */
/* At create: HRM_CPU_PRECISION, then what this CPU runs; sets precisions and the notes. */
void cpu_precision_setup(hrm_backend *be);
uint32_t cpu_matmul_precisions(hrm_device *dev);
hrm_status cpu_matmul_precision(hrm_device *dev, const hrm_matmul_args *a, hrm_matmul_precision p);
void cpu_precision_scratch_free(hrm_device *dev);
/* Round-to-nearest conversions of one fp32 value (NaN stays NaN, Inf stays Inf). */
float cpu_round_tf32(float x); /* ties away from zero, low 13 bits zero */
float cpu_round_bf16(float x); /* ties to even, low 16 bits zero */
uint16_t cpu_to_bf16(float x); /* the same, as the bf16 bit pattern */

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
