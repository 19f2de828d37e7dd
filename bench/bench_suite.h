/* bench/bench_suite.h - the `hrm bench` suite's results and the files that share them:
 * bench_suite.c measures (peak probe, HRM ops, models, memory check) and prints; bench_result.c
 * adds results to a run; bench_peak.c probes the device's peak through the backend ABI;
 * bench_json.c writes and reads the JSON results (format "hrm-bench", version
 * BENCH_FORMAT_VERSION); bench_plot.c draws several result files side by side.
 *
 * A result is one measurement on one device. Its name is the key that --compare and plot match
 * across files, so it never contains what varies between devices or runs (sizes chosen at run
 * time go in `detail`). A measurement that could not be made is still a result: status
 * "unsupported" (the backend lacks the op, or the time bound skipped it) or "failed", with the
 * reason. */
#ifndef HRM_BENCH_SUITE_H
#define HRM_BENCH_SUITE_H

#include "bench_ops.h"

#include <stddef.h>

#define BENCH_FORMAT "hrm-bench"
#define BENCH_FORMAT_VERSION 1

/* The suite's batch for the HRM ops (the published shapes at S=82): the activations of its
 * elementwise and row ops are [BENCH_SUITE_BATCH * BENCH_SEQ, ...], 2624 x 512 floats and up, and
 * bench_peak.c's activation-sized bandwidth roof adds operands of 2624 x 512 floats. */
#define BENCH_SUITE_BATCH 32

typedef enum bench_status { BENCH_OK = 0, BENCH_UNSUPPORTED = 1, BENCH_FAILED = 2 } bench_status;
extern const char *const bench_status_name[3]; /* "ok", "unsupported", "failed" */

typedef struct bench_result {
    char name[64];           /* "peak gemm fp32", "op matmul qkv fwd", "train step sudoku", ... */
    char group[16];          /* peak, op, model, memory */
    char unit[16];           /* GFLOP/s, GB/s, samples/s, MiB, ratio */
    char detail[128];        /* the shape, size or batch measured */
    double median, min, max; /* in unit; the rate of the median, slowest and fastest call */
    int repeats;             /* timed calls (after the warm-up) */
    double fraction;         /* of the device peak named by `peak`; NAN when not meaningful */
    char peak[24];           /* "gemm", "bandwidth", "bandwidth_resident", or "" */
    bench_status status;
    char reason[400]; /* why unsupported or failed; "" when ok */
} bench_result;

typedef struct bench_run {
    char backend[64];
    char backend_path[4096];
    int device_index;
    char device[128], vendor[64], driver[64];
    double memory_gib;
    int compute_units;
    double peak_gflops, peak_gbps; /* measured by bench_peak.c; 0 when the probe failed */
    double peak_gbps_resident;     /* the activation-sized add's GB/s (bench_peak.c); 0: unmeasured */
    int gemm_n, gemm_largest;      /* the peak GEMM's size, the largest tried (not in the file) */
    double wall_s;
    bench_result *results;
    int count, cap;
} bench_run;

typedef struct bench_skipped {
    char backend[64];
    char reason[640];
} bench_skipped;

typedef struct bench_report {
    char hrm_version[32], git_commit[64], date[32];
    int quick;
    char hostname[128], os[128], cpu[128];
    int host_cores;
    bench_run *runs;
    int num_runs;
    bench_skipped *skipped; /* plugins found but not usable here, and why */
    int num_skipped;
} bench_report;

/* bench_result.c (shared by bench_suite.c and bench_peak.c). Appends a result (zeroed, fraction
 * NAN, status ok) to run; NULL when host memory ran out. */
bench_result *bench_run_add(bench_run *run, const char *group, const char *unit, const char *name_fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
void bench_result_set_reason(bench_result *r, bench_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* The run's line for legends and headings: "BACKEND/DEVICE". */
void bench_run_label(const bench_run *run, char *out, size_t size);

/* bench_peak.c: the device's fp32 GEMM rate, memory bandwidth and activation-sized bandwidth
 * through b's backend ABI, as results appended to run ("peak gemm fp32", "peak copy bandwidth",
 * "peak add bandwidth", "peak add bandwidth, activation-sized"); sets run->peak_gflops,
 * run->peak_gbps (the better of the two DRAM-sized ones) and run->peak_gbps_resident (0 when
 * unmeasured). b's context must be open. */
void bench_peak_probe(bench *b, bench_run *run);
/* The compute roof alone: "peak gemm fp32" appended to run (on failure with the reason), and
 * run->peak_gflops (when it ran), gemm_n and gemm_largest set. Bounded by b's min_time, min_reps
 * and max_time; b's context must be open. `hrm bench train` rates its models' MFU against it. */
void bench_peak_gemm(bench *b, bench_run *run);
/* The GEMM probe again at the same size, into *again (a fresh result, not appended). Returns 1
 * when it ran. A shared machine's load comes and goes: the suite keeps the better of the two. */
int bench_peak_gemm_again(bench *b, const bench_run *run, bench_result *again);

/* bench_json.c */
void bench_report_init(bench_report *rep, int quick); /* versions, commit, date, host */
void bench_report_free(bench_report *rep);
/* Writes the report atomically (PATH.tmp + rename). Returns 1, or 0 with one line in err. */
int bench_report_write(const bench_report *rep, const char *path, char *err, size_t err_size);
/* Reads and checks a results file. Returns 1, or 0 with one line "PATH: problem" in err. */
int bench_report_read(const char *path, bench_report *rep, char *err, size_t err_size);

#endif /* HRM_BENCH_SUITE_H */
