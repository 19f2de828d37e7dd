/* bench/bench.h - what bench/ offers the `hrm` program (tools/hrm.c puts them in its tables): the
 * suite, `hrm bench` (bench_suite.c), and its parts `hrm bench ops` (bench_ops.c), `hrm bench
 * gemm` (bench_gemm.c), `hrm bench train` (bench_train.c) and `hrm bench plot` (bench_plot.c).
 * Each is a cli_command_fn (common/cli.h). */
#ifndef HRM_BENCH_H
#define HRM_BENCH_H

int cmd_bench_suite(const char *prog, int argc, char **argv);
int cmd_bench_ops(const char *prog, int argc, char **argv);
int cmd_bench_gemm(const char *prog, int argc, char **argv);
int cmd_bench_train(const char *prog, int argc, char **argv);
int cmd_bench_plot(const char *prog, int argc, char **argv);

#endif /* HRM_BENCH_H */
