/* bench/bench_result.c - adding a result to a run and recording why it is not ok (bench_suite.h):
 * what the suite (bench_suite.c) and the peak probe (bench_peak.c) share, so that calls between them
 * go one way (bench_suite.c -> bench_peak.c). */
#include "bench_suite.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bench_result *bench_run_add(bench_run *run, const char *group, const char *unit, const char *name_fmt, ...) {
    if (run->count == run->cap) return NULL;
    bench_result *r = &run->results[run->count++];
    va_list ap;
    memset(r, 0, sizeof *r);
    va_start(ap, name_fmt);
    vsnprintf(r->name, sizeof r->name, name_fmt, ap);
    va_end(ap);
    snprintf(r->group, sizeof r->group, "%s", group);
    snprintf(r->unit, sizeof r->unit, "%s", unit);
    r->median = r->min = r->max = r->fraction = NAN;
    return r;
}

void bench_result_set_reason(bench_result *r, bench_status status, const char *fmt, ...) {
    va_list ap;
    r->status = status;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
    /* one line, whatever the backend's message held */
    for (char *c = r->reason; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t') *c = ' ';
}
