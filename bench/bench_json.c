/* bench/bench_json.c - the `hrm bench` results file: written atomically, read back with every
 * field checked, so that --compare and `hrm bench plot` fail with one line naming the file rather
 * than compare garbage.
 *
 * Format "hrm-bench", version 1 (a reader refuses other versions; fields may be added within one):
 *   { "format": "hrm-bench", "format_version": 1, "hrm_version": "0.1.0", "git_commit": "...",
 *     "date": "2026-11-28T12:00:00Z", "quick": false,
 *     "host": {"hostname", "os", "cpu", "cores"},
 *     "skipped_backends": [{"backend", "reason"}],
 *     "runs": [{ "backend", "backend_path", "device_index", "device", "vendor", "driver",
 *                "memory_gib", "compute_units", "peak_gflops", "peak_gbps", "peak_gbps_resident",
 *                "wall_s",
 *                "entries": [{ "name", "group", "unit", "detail", "median", "min", "max",
 *                              "repeats", "fraction_of_peak", "peak", "status", "reason" }] }] }
 * Numbers that were not measured are null (never NaN, which JSON lacks); fraction_of_peak is null
 * where no peak applies; reason is null when status is "ok". "peak" is "gemm", "bandwidth" (DRAM),
 * "bandwidth_resident" (the activation-sized add) or null; the reader takes any string there.
 * Added within version 1: "peak_gbps_resident" and "bandwidth_resident"; files written before
 * lack them and read as before (peak_gbps_resident unmeasured). */
#include "bench_suite.h"
#include "bench_commit.h"

#include "hrm_internal.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#ifndef HRM_GIT_COMMIT
#define HRM_GIT_COMMIT "unknown"
#endif

const char *const bench_status_name[3] = {"ok", "unsupported", "failed"};

/* ---- the host ------------------------------------------------------------------------------------ */

/* The first "model name" of /proc/cpuinfo (Linux); "unknown" elsewhere. */
static void cpu_model(char *out, size_t size) {
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    snprintf(out, size, "unknown");
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) || !colon) continue;
        colon += 1 + strspn(colon + 1, " \t");
        colon[strcspn(colon, "\n")] = 0;
        snprintf(out, size, "%s", colon);
        break;
    }
    if (f) fclose(f);
}

void bench_run_label(const bench_run *run, char *out, size_t size) {
    snprintf(out, size, "%s/%s", run->backend, run->device);
}

void bench_report_init(bench_report *rep, int quick) {
    struct utsname u;
    time_t now = time(NULL);
    struct tm tm;
    memset(rep, 0, sizeof *rep);
    snprintf(rep->hrm_version, sizeof rep->hrm_version, "%s", HRM_VERSION);
    snprintf(rep->git_commit, sizeof rep->git_commit, "%s", HRM_GIT_COMMIT[0] ? HRM_GIT_COMMIT : "unknown");
    if (gmtime_r(&now, &tm)) strftime(rep->date, sizeof rep->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    rep->quick = quick;
    if (gethostname(rep->hostname, sizeof rep->hostname - 1)) snprintf(rep->hostname, sizeof rep->hostname, "unknown");
    if (!uname(&u)) snprintf(rep->os, sizeof rep->os, "%.40s %.60s %.20s", u.sysname, u.release, u.machine);
    cpu_model(rep->cpu, sizeof rep->cpu);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    rep->host_cores = cores > 0 ? (int)cores : 0;
}

void bench_report_free(bench_report *rep) {
    for (int i = 0; i < rep->num_runs; i++) free(rep->runs[i].results);
    free(rep->runs);
    free(rep->skipped);
    memset(rep, 0, sizeof *rep);
}

/* ---- writing ------------------------------------------------------------------------------------- */

static json_t *number(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static json_t *result_json(const bench_result *r) {
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s}", "name", r->name, "group", r->group, "unit", r->unit, "detail", r->detail);
    int ok = r->status == BENCH_OK;
    json_object_set_new(o, "median", ok ? number(r->median) : json_null());
    json_object_set_new(o, "min", ok ? number(r->min) : json_null());
    json_object_set_new(o, "max", ok ? number(r->max) : json_null());
    json_object_set_new(o, "repeats", json_integer(ok ? r->repeats : 0));
    json_object_set_new(o, "fraction_of_peak", ok ? number(r->fraction) : json_null());
    json_object_set_new(o, "peak", r->peak[0] ? json_string(r->peak) : json_null());
    json_object_set_new(o, "status", json_string(bench_status_name[r->status]));
    json_object_set_new(o, "reason", ok ? json_null() : json_string(r->reason));
    return o;
}

static json_t *run_json(const bench_run *run) {
    json_t *entries = json_array();
    for (int i = 0; i < run->count; i++) json_array_append_new(entries, result_json(&run->results[i]));
    json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:i}", "backend", run->backend, "backend_path",
                          run->backend_path, "device_index", run->device_index, "device", run->device, "vendor",
                          run->vendor, "driver", run->driver, "compute_units", run->compute_units);
    json_object_set_new(o, "memory_gib", number(run->memory_gib));
    json_object_set_new(o, "peak_gflops", run->peak_gflops > 0 ? number(run->peak_gflops) : json_null());
    json_object_set_new(o, "peak_gbps", run->peak_gbps > 0 ? number(run->peak_gbps) : json_null());
    json_object_set_new(o, "peak_gbps_resident",
                        run->peak_gbps_resident > 0 ? number(run->peak_gbps_resident) : json_null());
    json_object_set_new(o, "wall_s", number(run->wall_s));
    json_object_set_new(o, "entries", entries);
    return o;
}

static json_t *report_json(const bench_report *rep) {
    json_t *runs = json_array(), *skipped = json_array();
    for (int i = 0; i < rep->num_runs; i++) json_array_append_new(runs, run_json(&rep->runs[i]));
    for (int i = 0; i < rep->num_skipped; i++)
        json_array_append_new(
            skipped, json_pack("{s:s, s:s}", "backend", rep->skipped[i].backend, "reason", rep->skipped[i].reason));
    return json_pack("{s:s, s:i, s:s, s:s, s:s, s:b, s:{s:s, s:s, s:s, s:i}, s:o, s:o}", "format", BENCH_FORMAT,
                     "format_version", BENCH_FORMAT_VERSION, "hrm_version", rep->hrm_version, "git_commit",
                     rep->git_commit, "date", rep->date, "quick", rep->quick, "host", "hostname", rep->hostname, "os",
                     rep->os, "cpu", rep->cpu, "cores", rep->host_cores, "skipped_backends", skipped, "runs", runs);
}

int bench_report_write(const bench_report *rep, const char *path, char *err, size_t err_size) {
    json_t *root = report_json(rep);
    char *text = root ? json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(root);
    if (!text) {
        snprintf(err, err_size, "%s: cannot build the JSON results (out of memory?)", path);
        return 0;
    }
    /* a trailing newline, so that the file is a text file */
    size_t len = strlen(text);
    char *buf = realloc(text, len + 2);
    if (!buf) {
        free(text);
        snprintf(err, err_size, "%s: out of memory", path);
        return 0;
    }
    buf[len] = '\n';
    hrm_status s = hrm_atomic_write_file(path, buf, len + 1, err, err_size);
    free(buf);
    return s == HRM_OK;
}

/* ---- reading ------------------------------------------------------------------------------------- */

typedef struct reader {
    const char *path;
    char *err;
    size_t err_size;
    char where[64]; /* "runs[1].entries[3]" */
} reader;

static int bad(reader *rd, const char *fmt, const char *key) {
    char what[256];
    snprintf(what, sizeof what, fmt, key);
    snprintf(rd->err, rd->err_size, "%s: %s%s%s", rd->path, rd->where, rd->where[0] ? ": " : "", what);
    return 0;
}

/* A string member into out (truncated to size); optional ones may be absent or null. */
static int get_string(reader *rd, json_t *o, const char *key, char *out, size_t size, int required) {
    json_t *v = json_object_get(o, key);
    out[0] = 0;
    if (!v || json_is_null(v)) return required ? bad(rd, "missing \"%s\"", key) : 1;
    if (!json_is_string(v)) return bad(rd, "\"%s\" is not a string", key);
    snprintf(out, size, "%s", json_string_value(v));
    return 1;
}

/* A number member (null or absent: NAN). */
static int get_number(reader *rd, json_t *o, const char *key, double *out) {
    json_t *v = json_object_get(o, key);
    *out = NAN;
    if (!v || json_is_null(v)) return 1;
    if (!json_is_number(v)) return bad(rd, "\"%s\" is not a number", key);
    *out = json_number_value(v);
    return 1;
}

static int get_int(reader *rd, json_t *o, const char *key, int *out, int required) {
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v) return required ? bad(rd, "missing \"%s\"", key) : 1;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000000)
        return bad(rd, "\"%s\" is not a non-negative integer", key);
    *out = (int)json_integer_value(v);
    return 1;
}

static int read_result(reader *rd, json_t *o, bench_result *r) {
    char status[32];
    memset(r, 0, sizeof *r);
    if (!json_is_object(o)) return bad(rd, "%s", "not an object");
    if (!get_string(rd, o, "name", r->name, sizeof r->name, 1) ||
        !get_string(rd, o, "unit", r->unit, sizeof r->unit, 1) ||
        !get_string(rd, o, "status", status, sizeof status, 1) ||
        !get_string(rd, o, "group", r->group, sizeof r->group, 0) ||
        !get_string(rd, o, "detail", r->detail, sizeof r->detail, 0) ||
        !get_string(rd, o, "peak", r->peak, sizeof r->peak, 0) ||
        !get_string(rd, o, "reason", r->reason, sizeof r->reason, 0) || !get_number(rd, o, "median", &r->median) ||
        !get_number(rd, o, "min", &r->min) || !get_number(rd, o, "max", &r->max) ||
        !get_number(rd, o, "fraction_of_peak", &r->fraction) || !get_int(rd, o, "repeats", &r->repeats, 1))
        return 0;
    if (!r->name[0]) return bad(rd, "%s", "empty \"name\"");
    int s = 0;
    while (s < 3 && strcmp(status, bench_status_name[s])) s++;
    if (s == 3) return bad(rd, "%s", "\"status\" is not ok, unsupported or failed");
    r->status = (bench_status)s;
    if (r->status == BENCH_OK && !isfinite(r->median)) return bad(rd, "%s", "status ok without a \"median\"");
    return 1;
}

static int read_run(reader *rd, json_t *o, bench_run *run) {
    memset(run, 0, sizeof *run);
    if (!json_is_object(o)) return bad(rd, "%s", "not an object");
    if (!get_string(rd, o, "backend", run->backend, sizeof run->backend, 1) ||
        !get_string(rd, o, "device", run->device, sizeof run->device, 1) ||
        !get_string(rd, o, "backend_path", run->backend_path, sizeof run->backend_path, 0) ||
        !get_string(rd, o, "vendor", run->vendor, sizeof run->vendor, 0) ||
        !get_string(rd, o, "driver", run->driver, sizeof run->driver, 0) ||
        !get_int(rd, o, "device_index", &run->device_index, 0) ||
        !get_int(rd, o, "compute_units", &run->compute_units, 0) ||
        !get_number(rd, o, "memory_gib", &run->memory_gib) || !get_number(rd, o, "peak_gflops", &run->peak_gflops) ||
        !get_number(rd, o, "peak_gbps", &run->peak_gbps) ||
        !get_number(rd, o, "peak_gbps_resident", &run->peak_gbps_resident) ||
        !get_number(rd, o, "wall_s", &run->wall_s))
        return 0;
    json_t *entries = json_object_get(o, "entries");
    if (!json_is_array(entries)) return bad(rd, "%s", "no \"entries\" array");
    size_t n = json_array_size(entries);
    run->results = calloc(n ? n : 1, sizeof *run->results);
    if (!run->results) return bad(rd, "%s", "out of memory");
    run->cap = (int)(n ? n : 1);
    size_t prefix = strlen(rd->where);
    for (size_t j = 0; j < n; j++) {
        snprintf(rd->where + prefix, sizeof rd->where - prefix, ".entries[%zu]", j);
        if (!read_result(rd, json_array_get(entries, j), &run->results[j])) return 0;
        run->count++;
    }
    rd->where[prefix] = 0;
    return 1;
}

static int read_root(reader *rd, json_t *root, bench_report *rep) {
    const char *format = json_string_value(json_object_get(root, "format"));
    json_t *version = json_object_get(root, "format_version");
    if (!json_is_object(root) || !format || strcmp(format, BENCH_FORMAT))
        return bad(rd, "%s", "not an 'hrm bench' results file (no \"format\": \"hrm-bench\")");
    if (!json_is_integer(version)) return bad(rd, "%s", "no integer \"format_version\"");
    if (json_integer_value(version) != BENCH_FORMAT_VERSION) {
        char what[96];
        snprintf(what, sizeof what, "format version %lld; this hrm reads version %d",
                 (long long)json_integer_value(version), BENCH_FORMAT_VERSION);
        return bad(rd, "%s", what);
    }
    json_t *host = json_object_get(root, "host"), *runs = json_object_get(root, "runs");
    if (!get_string(rd, root, "hrm_version", rep->hrm_version, sizeof rep->hrm_version, 1) ||
        !get_string(rd, root, "git_commit", rep->git_commit, sizeof rep->git_commit, 1) ||
        !get_string(rd, root, "date", rep->date, sizeof rep->date, 0))
        return 0;
    rep->quick = json_is_true(json_object_get(root, "quick"));
    if (json_is_object(host)) {
        if (!get_string(rd, host, "hostname", rep->hostname, sizeof rep->hostname, 0) ||
            !get_string(rd, host, "os", rep->os, sizeof rep->os, 0) ||
            !get_string(rd, host, "cpu", rep->cpu, sizeof rep->cpu, 0) ||
            !get_int(rd, host, "cores", &rep->host_cores, 0))
            return 0;
    }
    if (!json_is_array(runs)) return bad(rd, "%s", "no \"runs\" array");
    size_t n = json_array_size(runs);
    rep->runs = calloc(n ? n : 1, sizeof *rep->runs);
    if (!rep->runs) return bad(rd, "%s", "out of memory");
    for (size_t i = 0; i < n; i++) {
        snprintf(rd->where, sizeof rd->where, "runs[%zu]", i);
        if (!read_run(rd, json_array_get(runs, i), &rep->runs[i])) {
            free(rep->runs[i].results); /* the partly read run is not counted yet */
            return 0;
        }
        rep->num_runs++;
    }
    rd->where[0] = 0;
    return 1;
}

int bench_report_read(const char *path, bench_report *rep, char *err, size_t err_size) {
    json_error_t je;
    reader rd = {path, err, err_size, ""};
    memset(rep, 0, sizeof *rep);
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        FILE *f = fopen(path, "rb");
        if (!f)
            snprintf(err, err_size, "%s: cannot open (%s)", path, strerror(errno));
        else
            snprintf(err, err_size, "%s: not valid JSON (line %d: %s)", path, je.line, je.text);
        if (f) fclose(f);
        return 0;
    }
    int ok = read_root(&rd, root, rep);
    json_decref(root);
    if (!ok) bench_report_free(rep);
    return ok;
}
