/* ocl_internal.h - what the files of the OpenCL backend share: handles, error reporting, argument
 * checks and kernel launch helpers. One device = one context + one in-order queue; every op is
 * enqueued and returns at once; buffer_read (blocking) and finish are the synchronisation points,
 * where the ids that kernels found outside their tables are reported (ocl_fault_code).
 * An hrm_ptr offset (elements) travels to the kernels as a ulong argument next to the cl_mem. */
#ifndef HRM_OCL_INTERNAL_H
#define HRM_OCL_INTERNAL_H

#include <CL/cl.h>
#include <pthread.h>
#include <stdint.h>

#include "hrm/backend.h"
#include "hrm_memcount.h"
#include "hrm_span.h"

#define OCL_BACKEND_NAME "opencl"

/* The kernels of the embedded program, created once per device at device_open. */
#define OCL_KERNELS(X)                            \
    X(add, "hrm_add")                             \
    X(scale_matrix, "hrm_scale_matrix")           \
    X(rmsnorm_fwd, "hrm_rmsnorm_fwd")             \
    X(rmsnorm_bwd, "hrm_rmsnorm_bwd")             \
    X(swiglu_fwd, "hrm_swiglu_fwd")               \
    X(swiglu_bwd, "hrm_swiglu_bwd")               \
    X(rope, "hrm_rope")                           \
    X(adam_atan2, "hrm_adam_atan2")               \
    X(signsgd_rows, "hrm_signsgd_rows")           \
    X(emb_fwd, "hrm_embedding_fwd")               \
    X(emb_bwd_tokens, "hrm_embedding_bwd_tokens") \
    X(emb_bwd_pos, "hrm_embedding_bwd_pos")       \
    X(emb_bwd_puzzle, "hrm_embedding_bwd_puzzle") \
    X(xent_fwd, "hrm_xent_fwd")                   \
    X(xent_bwd, "hrm_xent_bwd")                   \
    X(attn_fwd, "hrm_attn_fwd")                   \
    X(attn_bwd_dot, "hrm_attn_bwd_dot")           \
    X(attn_bwd_kv, "hrm_attn_bwd_kv")             \
    X(attn_bwd_q, "hrm_attn_bwd_q")

/* Argument faults only the device can see (an id or label outside its table: kernels/common.cl).
 * A kernel records the first one in the device's fault buffer; the next synchronisation point
 * (buffer_read, finish) reads the record along with its own work and returns HRM_ERR_INVALID_ARG
 * naming the op, the tensor and the id. So the ids never travel to the host inside a segment, and
 * the error reaches the caller at the next read of a result; the faulting op's outputs are
 * unspecified (the bad rows read zeros and get no update). */
typedef enum ocl_fault_code {
    OCL_FAULT_NONE = 0,
    OCL_FAULT_EMB_FWD_TOKENS,
    OCL_FAULT_EMB_FWD_PUZZLE_IDS,
    OCL_FAULT_EMB_BWD_TOKENS,
    OCL_FAULT_SIGNSGD_IDS,
    OCL_FAULT_XENT_FWD_LABELS,
    OCL_FAULT_XENT_BWD_LABELS,
} ocl_fault_code;
enum { OCL_FAULT_INTS = 5 }; /* code, id, limit, position low and high 32 bits */

typedef struct ocl_kernel {
    cl_kernel k;
    size_t wg;          /* work-group size to use: min(kernel's and device's limits), a power of two */
    size_t multiple;    /* CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE (the SIMD width, as the driver says) */
    size_t local_fixed; /* CL_KERNEL_LOCAL_MEM_SIZE before any argument is set: what the kernel itself needs */
    int plan[5];        /* the tiled kernels' last logged plan (ocl_ops.c), so each new one is logged once */
} ocl_kernel;

typedef struct ocl_devinfo {
    cl_platform_id platform;
    cl_device_id id;
    cl_device_type type;
    hrm_device_info info;
    int validated;  /* -1 until a device_open ran the checks */
    char where[96]; /* "platform P (NAME), GPU": starts info.note, so a platform name selects a device */
} ocl_devinfo;

struct hrm_backend {
    void (*log)(void *user, hrm_log_level level, const char *backend, const char *message);
    void *log_user;
    ocl_devinfo *devs;
    int ndevs;
    uint64_t max_alloc;   /* HRM_OPENCL_MAX_ALLOC_MB in bytes; 0 = no cap */
    pthread_mutex_t lock; /* guards error */
    char error[1024];
};

struct hrm_device {
    hrm_backend *be;
    int index;
    cl_device_id id;
    cl_context ctx;
    cl_command_queue queue;
    cl_program program;
    int fp64;                /* cl_khr_fp64 */
    size_t max_wg;           /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    size_t local_mem;        /* CL_DEVICE_LOCAL_MEM_SIZE */
    size_t max_items[3];     /* CL_DEVICE_MAX_WORK_ITEM_SIZES[0..2] floored to powers of two; 0 until the first
                              N-D launch queries them (ocl_ops.c) */
    int beta0_needs_clear;   /* CLBlast lets NaN in C through when beta == 0: zero C first */
    uint64_t max_buffer;     /* bytes: the largest buffer we allocate (max_buffer_bytes; ocl_backend.c) */
    char build_options[512]; /* of the kernel program (ocl_program.c) */
#define OCL_KERNEL_FIELD(name, str) ocl_kernel name;
    OCL_KERNELS(OCL_KERNEL_FIELD)
#undef OCL_KERNEL_FIELD
    hrm_memcount mem;                  /* bytes in buffers now and at most */
    cl_mem fault;                      /* cl_int[OCL_FAULT_INTS], zero while no fault is recorded */
    cl_int fault_host[OCL_FAULT_INTS]; /* where a synchronisation point reads it */
    int fault_armed;                   /* a kernel that may record a fault ran since the last read */
    struct ocl_profile *profile;       /* HRM_OPENCL_PROFILE (ocl_profile.c); NULL when off */
    cl_event profile_ev;               /* the event of the command just enqueued, while profiling */
    /* matmul at reduced precision (ocl_mma.c, kernels/mma.cl) */
    cl_program mma_program; /* NULL when no reduced precision is offered */
    ocl_kernel mma[2];      /* [OCL_MMA_TF32], [OCL_MMA_BF16] */
    int mma_variant;        /* ocl_mma_variant */
    int mma_bm;             /* the kernel's square tile of C: 128 or 64 */
    size_t mma_wg;          /* its work-group size: 256 or 128 */
    int mma_vec;            /* buffers start on 16 bytes: float4 loads where offsets allow */
    uint32_t precisions;    /* HRM_PRECISION_BIT of what matmul_precision runs; HIGHEST always */
};

struct hrm_buffer {
    hrm_device *dev;
    size_t bytes;
    cl_mem mem;
};

/* ---- errors (ocl_error.c) ----------------------------------------------------------------- */
const char *ocl_err_name(cl_int err);
hrm_status ocl_fail(hrm_backend *be, hrm_status status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void ocl_log(hrm_backend *be, hrm_log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Maps a failed OpenCL call to a status (allocation failures to OUT_OF_MEMORY) and a message. */
hrm_status ocl_cl_fail(hrm_backend *be, cl_int err, const char *op, const char *what);

/* p holds `count` matrices `mstride` apart, each `rows` x `cols` with leading dimension ld, inside
 * a buffer of dev; the per-op checks of hrm_span.h call it through ocl_checker. */
hrm_status ocl_check_batched(hrm_device *dev, const char *op, const char *name, hrm_ptr p, uint64_t count,
                             int64_t mstride, uint64_t rows, int64_t ld, uint64_t cols);

/* The shared per-op shape checks (backends/common/hrm_span.h) run through this. */
extern const hrm_checker ocl_checker;

#define OCL_TRY(expr)                \
    do {                             \
        hrm_status s_ = (expr);      \
        if (s_ != HRM_OK) return s_; \
    } while (0)

/* ---- kernel arguments and launches (ocl_ops.c) -------------------------------------------- */
/* Sets kernel args in order; each call site passes pairs through these helpers. */
typedef struct ocl_args {
    hrm_device *dev;
    cl_kernel k;
    cl_uint next;
    cl_int err;
} ocl_args;
ocl_args ocl_args_begin(hrm_device *dev, ocl_kernel *k);
void ocl_arg_ptr(ocl_args *a, hrm_ptr p); /* cl_mem (NULL when p.buf is NULL) + ulong offset */
void ocl_arg_raw(ocl_args *a, size_t size, const void *value);
void ocl_arg_local(ocl_args *a, size_t bytes);
/* The fault buffer and the code this launch records a bad id under (kernels/common.cl); arms the
 * check at the next synchronisation point. */
void ocl_arg_fault(ocl_args *a, ocl_fault_code code);
#define OCL_ARG(a, v) ocl_arg_raw((a), sizeof(v), &(v))
/* Enqueues a 1-D launch of n items (n > 0), rounded up to the kernel's work-group size. */
hrm_status ocl_launch1(ocl_args *a, ocl_kernel *k, const char *op, uint64_t n);
hrm_status ocl_launch(ocl_args *a, const char *op, cl_uint dims, const size_t *global, const size_t *local);
/* Work-group shape for a range of n[0] x .. x n[dims - 1] work-items (dims <= 3): powers of two,
 * dimension 0 (the contiguous one) first, within the kernel's work-group size and the device's
 * per-dimension limits. */
void ocl_grid_local(hrm_device *dev, ocl_kernel *k, cl_uint dims, const uint64_t *n, size_t *local);
/* Enqueues the range n (each n[d] > 0, rounded up to whole work-groups `local`; kernels test their
 * bounds), split into launches of at most OCL_MAX_GROUPS_YZ work-groups in dimensions 1 and 2, with
 * global offsets there: kernels read dimensions 1 and 2 with get_global_id, never get_group_id. */
hrm_status ocl_launch_split(ocl_args *a, const char *op, cl_uint dims, const uint64_t *n, const size_t *local);
/* ocl_grid_local, then ocl_launch_split. */
hrm_status ocl_launch_grid(ocl_args *a, ocl_kernel *k, const char *op, cl_uint dims, const uint64_t *n);
/* Work-groups one launch may have in dimensions 1 and 2: CUDA grids allow 65535 in y and z, 2^31 - 1
 * in x (CUDA C++ Programming Guide, "Technical Specifications per Compute Capability"), and NVIDIA's
 * OpenCL runs on the same hardware, so ranges stay within that everywhere. */
enum { OCL_MAX_GROUPS_YZ = 65535 };

/* ---- profile (ocl_profile.c): HRM_OPENCL_PROFILE=FILE ------------------------------------------ */
typedef struct ocl_profile ocl_profile;
/* NULL unless HRM_OPENCL_PROFILE names a file; then the queue must be created with profiling. */
ocl_profile *ocl_profile_create(void);
/* The event argument for the next enqueue: NULL when not profiling. */
cl_event *ocl_profile_event(hrm_device *dev);
/* After that enqueue succeeded: files its event under label (span: charged from the previous
 * command's end, for CLBlast calls), with the FLOPs it does (0 when not a matmul). */
void ocl_profile_record(hrm_device *dev, const char *label, int span, double flops);
/* ocl_profile_record labelled "op/kernel function name". */
void ocl_profile_kernel(hrm_device *dev, cl_kernel k, const char *op);
/* At a synchronisation point (everything enqueued has completed): folds the events in. */
void ocl_profile_sync(hrm_device *dev);
/* Writes the table and frees the profile (device_close). */
void ocl_profile_close(hrm_device *dev);

/* ---- program (ocl_program.c) -------------------------------------------------------------- */
/* Builds (or loads from the disk cache) the embedded program and creates every kernel. */
hrm_status ocl_program_init(hrm_device *dev);
void ocl_program_release(hrm_device *dev);
/* Builds src (src_size bytes with its NUL) with options, through the disk cache. On failure logs the
 * build log at `level`, copies its first error line into first[], sets *created = 0 when not even
 * the program object was made, and returns the OpenCL error. */
cl_int ocl_program_build(hrm_device *dev, const char *src, size_t src_size, const char *options, hrm_log_level level,
                         cl_program *out, int *created, char *first, size_t first_size);
/* Fills k->wg, multiple and local_fixed from the device and kernel k->k. */
void ocl_kernel_limits(hrm_device *dev, ocl_kernel *k);

/* ---- matmul and its start-up validation (ocl_matmul.c) ------------------------------------ */
hrm_status ocl_matmul(hrm_device *dev, const hrm_matmul_args *a);
/* Runs the GEMM checks against a host computation; VALIDATION with a message on a mismatch. */
hrm_status ocl_validate_gemm(hrm_device *dev, char *note, size_t note_size);
/* C = beta * C over a matmul's C (k = 0, or the clearing before a beta = 0 CLBlast call). */
hrm_status ocl_matmul_scale_c(hrm_device *dev, const hrm_matmul_args *a, float beta);

/* ---- matmul at reduced precision (ocl_mma.c) ------------------------------------------------ */
typedef enum ocl_mma_variant {
    OCL_MMA_NONE = 0,     /* fp32 only: CLBlast */
    OCL_MMA_PORTABLE = 1, /* kernels/mma.cl in plain OpenCL C: any device, slow */
    OCL_MMA_PTX = 2,      /* kernels/mma.cl with mma.sync as inline PTX: NVIDIA, compute capability >= 8.0 */
} ocl_mma_variant;
enum { OCL_MMA_TF32 = 0, OCL_MMA_BF16 = 1 };
/* At device_open, after the GEMM validation: picks the variant (HRM_OPENCL_MMA), builds and
 * validates the mma kernels, sets dev->precisions and appends the precisions to note. Never fails
 * the device: what does not build or validate is not offered, with one line in the log. */
void ocl_mma_init(hrm_device *dev, char *note, size_t note_size);
void ocl_mma_release(hrm_device *dev);
uint32_t ocl_matmul_precisions(hrm_device *dev);
hrm_status ocl_matmul_precision(hrm_device *dev, const hrm_matmul_args *a, hrm_matmul_precision p);

/* ---- ops (ocl_ops.c) ------------------------------------------------------------------------ */
hrm_status ocl_attention_forward(hrm_device *dev, const hrm_attention_args *a);
hrm_status ocl_attention_backward(hrm_device *dev, const hrm_attention_args *a);
hrm_status ocl_rope_forward(hrm_device *dev, const hrm_rope_args *a);
hrm_status ocl_rope_backward(hrm_device *dev, const hrm_rope_args *a);
hrm_status ocl_add(hrm_device *dev, const hrm_add_args *a);
hrm_status ocl_rmsnorm_forward(hrm_device *dev, const hrm_rmsnorm_args *a);
hrm_status ocl_rmsnorm_backward(hrm_device *dev, const hrm_rmsnorm_args *a);
hrm_status ocl_swiglu_forward(hrm_device *dev, const hrm_swiglu_args *a);
hrm_status ocl_swiglu_backward(hrm_device *dev, const hrm_swiglu_args *a);
hrm_status ocl_embedding_forward(hrm_device *dev, const hrm_embedding_args *a);
hrm_status ocl_embedding_backward(hrm_device *dev, const hrm_embedding_args *a);
hrm_status ocl_xent_forward(hrm_device *dev, const hrm_xent_args *a);
hrm_status ocl_xent_backward(hrm_device *dev, const hrm_xent_args *a);
hrm_status ocl_adam_atan2(hrm_device *dev, const hrm_adam_args *a);
hrm_status ocl_signsgd_rows(hrm_device *dev, const hrm_signsgd_args *a);

#endif
