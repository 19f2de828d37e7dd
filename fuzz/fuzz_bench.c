/* fuzz/fuzz_bench.c - a `hrm bench` results file, as `hrm bench --compare` and `hrm bench plot`
 * read it: bench_report_read, then, for an accepted one, the round trip (bench_report_write and
 * reading that back must succeed) and cmd_bench_plot drawing it. */
#include "bench.h"
#include "bench_suite.h"
#include "fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("results.json", data, size);
    bench_report rep, again;
    char err[512];
    if (!bench_report_read(path, &rep, err, sizeof err)) return 0;
    const char *copy = fuzz_write("copy.json", NULL, 0);
    if (!bench_report_write(&rep, copy, err, sizeof err)) abort();
    if (!bench_report_read(copy, &again, err, sizeof err)) {
        fprintf(stderr, "fuzz_bench: a results file we wrote does not read back: %s\n", err);
        abort();
    }
    bench_report_free(&again);
    bench_report_free(&rep);
    char svg[4200];
    snprintf(svg, sizeof svg, "%s/results.svg", fuzz_dir());
    char *argv[] = {"plot", (char *)path, "--out", svg, NULL};
    fuzz_quiet(cmd_bench_plot, "hrm bench plot", 4, argv); /* its warnings would flood the output */
    return 0;
}
