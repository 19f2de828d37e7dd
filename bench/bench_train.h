/* bench/bench_train.h - whole-model measurements of bench_train.c, shared by `hrm bench train` and
 * the `hrm bench` suite: the models (HRM's "small" and the published "sudoku"; TRM's "trm", the
 * published Sudoku attention form, and "trm-small"), their FLOPs, training and evaluation
 * throughput on one device, and the peak memory at given cycles. */
#ifndef HRM_BENCH_TRAIN_H
#define HRM_BENCH_TRAIN_H

#include "bench_ops.h"

#include <stdint.h>

/* The models, by index: 0 "small", 1 "sudoku" (HRM), 2 "trm", 3 "trm-small" (TRM).
 * The `hrm bench` suite runs the first BENCH_SUITE_MODELS, the HRM ones. */
#define BENCH_NUM_MODELS 4
#define BENCH_SUITE_MODELS 2
int bench_model_find(const char *name); /* index, or -1 */
const char *bench_model_name(int model);
const char *bench_model_about(int model);
int bench_model_default_batch(int model);

/* Model FLOPs (formula in bench_train.c) of one training step and one evaluation segment of the
 * whole batch, at the cycles the model is timed at (HRM: H_cycles = L_cycles = 2; TRM: T = 3,
 * n = 6). */
void bench_model_flops(int model, int batch, double *train_step, double *eval_segment);

typedef struct bench_model_opts {
    const char *backend; /* hrm_ctx_open's spec */
    int device;
    int batch;                      /* 0: the model's default */
    int min_reps;                   /* timed steps and segments, at least */
    double min_time;                /* seconds of timed calls, at least (b->max_time bounds both) */
    int qkv_reference;              /* also time cblas_sgemm at the model's qkv shape, into qkv_gflops */
    const char *prog;               /* progress lines on stderr, prefixed by it; NULL: none */
    hrm_matmul_precision precision; /* of the model's products (the device may run a higher one) */
} bench_model_opts;

typedef struct bench_model_result {
    int model, batch, H_cycles, L_cycles; /* the cycles it ran at */
    int64_t params;
    double train_flops, eval_flops; /* of one step / one segment of the whole batch */
    timing train, eval;
    uint64_t mem_peak; /* the backend's peak memory after the timed steps and segments */
    double qkv_gflops;
    hrm_matmul_precision precision; /* what the model's products ran in */
    char error[640];                /* set when it returns 0 */
} bench_model_result;

/* Builds the model at its cycles (HRM 2x2; TRM T = 3, n = 6) on a freshly opened device and times training steps and
 * evaluation segments with bench_time_calls (b's times, max_time; b's context is borrowed for the
 * duration). Returns 1, or 0 with r->error set. */
int bench_model_throughput(bench *b, const bench_model_opts *o, int model, bench_model_result *r);

/* One training step and one evaluation segment at H_cycles x L_cycles (TRM: T and n) on a freshly
 * opened device (its peak memory is a high-water mark since device_open); the backend's peak
 * memory into *peak. Returns 1, or 0 with one line in err. */
int bench_model_memory(const bench_model_opts *o, int model, int batch, int H_cycles, int L_cycles, uint64_t *peak,
                       char *err, size_t err_size);

#endif /* HRM_BENCH_TRAIN_H */
