/* bench/bench_ops.h - the parts of `hrm bench ops`: bench_measure.c measures (timing loop, scratch
 * buffers, rooflines); bench_cases.c says what to measure (HRM's ops and shapes); bench_ops.c is
 * the command (report, JSON). Calls go one way: bench_ops.c -> bench_cases.c -> bench_measure.c.
 *
 * Every entry is a rate beside its roofline measured in the same run, so that the fraction means
 * something on a shared, noisy machine:
 *   gemm        GFLOP/s   vs cblas_sgemm on host memory, same shape       ("% of OpenBLAS")
 *   attention   GFLOP/s   vs this backend's matmul at 512->1536 forward    ("% of GEMM rate")
 *   elementwise GB/s      vs this backend's buffer_copy of the same bytes  ("% of copy")
 *   update      GB/s      the same, for loss and optimizer ops */
#ifndef HRM_BENCH_OPS_H
#define HRM_BENCH_OPS_H

#include "hrm/hrm.h"

#include <stddef.h>
#include <stdint.h>

/* HRM's Sudoku shapes (docs/MODEL.md "Configuration"): S = 1 puzzle prefix + 81 cells. */
enum {
    BENCH_SEQ = 82,
    BENCH_SEQ_LONG = 901, /* Maze 30x30 + prefix: the long-sequence attention case */
    BENCH_LABELS = 81,
    BENCH_DIM = 512,
    BENCH_HEADS = 8,
    BENCH_HEAD_DIM = 64,
    BENCH_INTER = 1536,
    BENCH_VOCAB = 11,
    BENCH_PUZZLE_ROWS = 4096,
};
#define BENCH_PARAMS 27275266L /* the Sudoku model's parameter count: one AdamATan2 step */
#define BENCH_MAX_ENTRIES 48
#define BENCH_MAX_REPS 10000 /* b->times holds this many samples */
/* The suite (use_peak): an op rated in bytes whose call moves at most this many bytes is
 * activation-sized and held against peak_gbps_resident. At batch 32 the elementwise and row ops
 * move 5-77 MiB a call, xent and signsgd well under 1 MiB; adam_atan2 moves 728 MiB (every
 * parameter, a DRAM-sized working set on any device). The cut is half the DRAM probe's buffer. */
#define BENCH_RESIDENT_MAX_BYTES (128.0 * 1024 * 1024)

/* KIND_UPDATE: loss and optimizer ops, also rated against copy bandwidth but outside the
 * elementwise target: xent works on B*81*11 logits (tens of microseconds, dominated by per-call
 * cost and double-precision logs) and signsgd on B rows, not on B*S x 512 activations. */
typedef enum op_kind { KIND_GEMM, KIND_ATTENTION, KIND_ELEMENTWISE, KIND_UPDATE } op_kind;

typedef struct timing {
    double median_s, min_s, max_s;
    int reps;
} timing;

typedef struct bench_entry {
    char op[48];
    char shape[80];
    op_kind kind;
    int seq;            /* attention: its sequence length */
    double work;        /* FLOPs or bytes of one call */
    double rate;        /* GFLOP/s or GB/s from the median */
    double roofline;    /* same unit; <= 0 when it could not be measured */
    double fraction;    /* rate / roofline; < 0 when unknown */
    double memcpy_gbps; /* elementwise: host memcpy of the same bytes, for reference */
    int resident;       /* use_peak: activation-sized, rated against peak_gbps_resident */
    timing t;
    char error[320];       /* empty when the op ran */
    hrm_status err_status; /* the status behind error (HRM_ERR_UNSUPPORTED: op not implemented) */
} bench_entry;

typedef struct bench {
    hrm_ctx ctx;
    const hrm_backend_iface *f;
    hrm_device_info info;
    int batch, batch_long, quick;
    int64_t adam_params;
    double min_time;
    int min_reps;    /* timed calls at least (0: 3) */
    double max_time; /* > 0: stop repeating once the next call would pass this many seconds of timed
                      * calls (after at least 2, or 1 that alone passes it): bounds slow devices */
    /* set (the `hrm bench` suite): every fraction is against the device's peak, measured once,
     * instead of a per-shape roofline: GEMM and attention against peak_gflops, the rest against
     * peak_gbps_resident when activation-sized (BENCH_RESIDENT_MAX_BYTES), else against peak_gbps
     * (0: unknown, no fraction) */
    int use_peak;
    double peak_gflops, peak_gbps, peak_gbps_resident;
    /* set: called by bench_end with each finished entry instead of printing the progress line */
    void (*on_entry)(void *ctx, const struct bench *b, const bench_entry *e);
    void *on_entry_ctx;
    double gemm_rate; /* backend matmul GFLOP/s at the 512->1536 forward shape; 0 if unknown */
    /* --matmul-precision: asked, and what the device runs (hrm_precision_effective); every matmul
     * of the run (ops, peak probe) goes through hrm_ctx_matmul at `precision` */
    hrm_matmul_precision precision_asked, precision;
    bench_entry entries[BENCH_MAX_ENTRIES];
    int count;
    /* scratch of the entry being measured; a failure is sticky until bench_end() */
    hrm_buffer *bufs[24];
    int nbufs;
    hrm_status status;
    char error[320];
    double *times;
} bench;

/* Enqueues one call of an op; `arg` is its argument struct. */
typedef hrm_status (*bench_fn)(bench *b, const void *arg);

/* bench_fns shared by the ops (bench_measure.c, bench_cases.c) and the peak probe (bench_peak.c):
 * buffer_copy of a bench_copy (bytes from src to dst) and add of an hrm_add_args. */
typedef struct bench_copy {
    hrm_buffer *dst, *src;
    size_t bytes;
} bench_copy;
hrm_status bench_call_copy(bench *b, const void *arg);
hrm_status bench_call_add(bench *b, const void *arg);

/* bench_measure.c. A case: e = bench_begin(); take and fill buffers; measure_*(); bench_end();
 * bench_release(). Failures in between are sticky and end up in e->error. */
bench_entry *bench_begin(bench *b, op_kind kind, const char *op, const char *shape_fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
void bench_end(bench *b, bench_entry *e);   /* records the outcome, prints the progress line */
void bench_release(bench *b);               /* frees the scratch buffers */
hrm_ptr bench_take(bench *b, size_t count); /* count 4-byte elements */
void bench_random(bench *b, hrm_ptr p, size_t count, float lo, float hi);
void bench_fill(bench *b, hrm_ptr p, size_t count, float value);
void bench_upload(bench *b, hrm_ptr p, const void *values, size_t count); /* count 4-byte values */
void bench_fail(bench *b, hrm_status s, const char *what);                /* records s unless HRM_OK */
/* The matmul every measurement makes: hrm_ctx_matmul at b->precision. */
hrm_status bench_matmul(bench *b, const hrm_matmul_args *a);
/* Sets b->precision from b->precision_asked for the device just opened in b->ctx. */
void bench_settle_precision(bench *b);

/* Times fn (finish() after each call when on_device): one warm-up call, then calls until at least
 * min_reps calls and b->min_time seconds have passed, or b->max_time bounds them; median, minimum
 * and maximum into *t. Returns 1, or 0
 * after recording the failure (named `what`) in b. b->times holds the samples. */
int bench_time_calls(bench *b, bench_fn fn, const void *arg, int on_device, int min_reps, const char *what, timing *t);
/* cblas_sgemm called directly on host memory at a's shape (batch ignored; `flops` is the work of
 * one timed call): GFLOP/s, or 0 when host memory ran out. */
double bench_openblas_rate(bench *b, const hrm_matmul_args *a, double flops);

void measure_gemm(bench *b, bench_entry *e, const hrm_matmul_args *a);
void measure_flops(bench *b, bench_entry *e, bench_fn fn, const void *arg, double flops);
void measure_bytes(bench *b, bench_entry *e, bench_fn fn, const void *arg, double bytes);
/* By op_kind: the unit of its rate and the name of its per-shape roofline (progress line, table). */
extern const char *const bench_kind_unit[4];     /* "GFLOP/s", "GB/s" */
extern const char *const bench_roofline_name[4]; /* "OpenBLAS", "GEMM rate", "copy" */

/* bench_cases.c */
void bench_all_cases(bench *b);

#endif /* HRM_BENCH_OPS_H */
