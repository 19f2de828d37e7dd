/* fuzz/fuzz_plot.c - `hrm plot RUN/metrics.jsonl --out F.svg`: cmd_plot reads a training run's
 * metrics (one JSON object a line; bad lines are skipped with a count) and draws them. */
#include "commands.h"
#include "fuzz_util.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("metrics.jsonl", data, size);
    char svg[4200];
    snprintf(svg, sizeof svg, "%s/metrics.svg", fuzz_dir());
    char *argv[] = {"plot", (char *)path, "--out", svg, NULL};
    fuzz_quiet(cmd_plot, "hrm plot", 4, argv); /* skipped-line warnings would flood the output */
    return 0;
}
