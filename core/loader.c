/* core/loader.c - finds backend plugins, checks their ABI, and opens a backend and device.
 *
 * A plugin is refused (with one line saying why) when it cannot be dlopen()ed, lacks the entry
 * symbol, was built for another ABI major version, has a table shorter than this host needs, or
 * leaves a required slot empty. A plugin whose probe says "not here" is declined, not refused.
 * Usable and declined plugins are never dlclose()d: their tables stay referenced. */
#include "hrm/hrm.h"
#include "plugin_dirs.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef HRM_PLUGIN_DIR
#define HRM_PLUGIN_DIR "/usr/local/lib/hrm/backends"
#endif

#define PLUGIN_PREFIX "hrm-backend-"
#define PLUGIN_SUFFIX ".so"

/* ---- default host: logs to stderr ---------------------------------------------------------- */

static int log_threshold(void) {
    const char *s = getenv("HRM_LOG");
    if (!s) return HRM_LOG_WARN;
    if (!strcasecmp(s, "error")) return HRM_LOG_ERROR;
    if (!strcasecmp(s, "info")) return HRM_LOG_INFO;
    if (!strcasecmp(s, "debug")) return HRM_LOG_DEBUG;
    return HRM_LOG_WARN;
}

static void stderr_log(void *user, hrm_log_level level, const char *backend, const char *message) {
    static const char *names[] = {"error", "warning", "info", "debug"};
    (void)user;
    if ((int)level > log_threshold()) return;
    fprintf(stderr, "hrm: %s: %s: %s\n", backend ? backend : "core", names[level & 3], message);
}

const hrm_host *hrm_default_host(void) {
    static hrm_host host;
    if (!host.struct_size) {
        const char *t = getenv("HRM_THREADS");
        host.log = stderr_log;
        host.num_threads = t ? atoi(t) : 0;
        host.struct_size = sizeof host;
    }
    return &host;
}

static void host_log(const hrm_host *host, hrm_log_level level, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    if (!host || !host->log) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    host->log(host->log_user, level, "loader", msg);
}

const char *hrm_status_str(hrm_status s) {
    switch (s) {
    case HRM_OK: return "ok";
    case HRM_ERR_INVALID_ARG: return "invalid argument";
    case HRM_ERR_OUT_OF_MEMORY: return "out of memory";
    case HRM_ERR_UNSUPPORTED: return "unsupported";
    case HRM_ERR_DEVICE: return "device error";
    case HRM_ERR_BUILD: return "kernel build failed";
    case HRM_ERR_VALIDATION: return "validation failed";
    case HRM_ERR_NOT_AVAILABLE: return "not available";
    case HRM_ERR_USAGE: return "bad usage";
    }
    return "unknown status";
}

/* ---- loading one file ---------------------------------------------------------------------- */

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* "dir/hrm-backend-cpu.so" -> "cpu"; other file names are kept whole. */
static void name_from_path(const char *path, char *name, size_t size) {
    const char *b = base_name(path);
    size_t n = strlen(b), pl = strlen(PLUGIN_PREFIX), sl = strlen(PLUGIN_SUFFIX);
    if (n > pl + sl && !strncmp(b, PLUGIN_PREFIX, pl) && !strcmp(b + n - sl, PLUGIN_SUFFIX))
        snprintf(name, size, "%.*s", (int)(n - pl - sl), b + pl);
    else
        snprintf(name, size, "%s", b);
}

/* Names the first required slot that is NULL, or returns NULL when all are set. */
static const char *missing_slot(const hrm_backend_iface *f) {
    /* one macro call per table entry, packed */
    // clang-format off
#define REQUIRE(slot) \
    if (!f->slot) return #slot;
    REQUIRE(create) REQUIRE(destroy) REQUIRE(last_error) REQUIRE(device_count) REQUIRE(device_info)
    REQUIRE(device_open) REQUIRE(device_close) REQUIRE(memory_usage) REQUIRE(buffer_alloc)
    REQUIRE(buffer_free) REQUIRE(buffer_write) REQUIRE(buffer_read) REQUIRE(buffer_copy)
    REQUIRE(buffer_fill) REQUIRE(finish) REQUIRE(matmul) REQUIRE(attention_forward)
    REQUIRE(attention_backward) REQUIRE(rope_forward) REQUIRE(rope_backward) REQUIRE(add)
    REQUIRE(rmsnorm_forward) REQUIRE(rmsnorm_backward) REQUIRE(swiglu_forward)
    REQUIRE(swiglu_backward) REQUIRE(embedding_forward) REQUIRE(embedding_backward)
    REQUIRE(xent_forward) REQUIRE(xent_backward) REQUIRE(adam_atan2) REQUIRE(signsgd_rows)
#undef REQUIRE
    if (!f->name || !f->name[0]) return "name";
    return NULL;
    // clang-format on
}

/* Checks the table; on refusal writes the reason and returns 0. */
static int table_acceptable(const char *file, const hrm_backend_iface *f, char *reason, size_t size) {
    const size_t need = HRM_IFACE_END(signsgd_rows);
    const char *slot;
    if (HRM_ABI_MAJOR_OF(f->abi_version) != HRM_BACKEND_ABI_MAJOR) {
        snprintf(reason, size, "%s: ABI version %u.%u, this host speaks %u.%u", file, HRM_ABI_MAJOR_OF(f->abi_version),
                 HRM_ABI_MINOR_OF(f->abi_version), HRM_BACKEND_ABI_MAJOR, HRM_BACKEND_ABI_MINOR);
        return 0;
    }
    if (f->struct_size < need) {
        snprintf(reason, size, "%s: table too small (%u bytes, need %zu)", file, f->struct_size, need);
        return 0;
    }
    if ((slot = missing_slot(f))) {
        snprintf(reason, size, "%s: required slot '%s' is empty", file, slot);
        return 0;
    }
    return 1;
}

hrm_status hrm_plugin_load(const char *path, const hrm_host *host, hrm_plugin *out) {
    const char *file = base_name(path);
    hrm_backend_entry_fn entry;
    const hrm_backend_iface *f;
    void *dl;

    memset(out, 0, sizeof *out);
    snprintf(out->path, sizeof out->path, "%s", path);
    name_from_path(path, out->name, sizeof out->name);
    out->state = HRM_PLUGIN_REFUSED;

    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *e = dlerror();
        snprintf(out->reason, sizeof out->reason, "%s: cannot load: %s", file, e ? e : "unknown error");
        return HRM_ERR_NOT_AVAILABLE;
    }
    *(void **)&entry = dlsym(dl, HRM_BACKEND_ENTRY_SYMBOL);
    if (!entry) {
        snprintf(out->reason, sizeof out->reason, "%s: no symbol %s", file, HRM_BACKEND_ENTRY_SYMBOL);
        dlclose(dl);
        return HRM_ERR_NOT_AVAILABLE;
    }
    f = entry();
    if (!f) {
        snprintf(out->reason, sizeof out->reason, "%s: %s returned no table", file, HRM_BACKEND_ENTRY_SYMBOL);
        dlclose(dl);
        return HRM_ERR_NOT_AVAILABLE;
    }
    if (!table_acceptable(file, f, out->reason, sizeof out->reason)) {
        dlclose(dl);
        return HRM_ERR_NOT_AVAILABLE;
    }
    snprintf(out->name, sizeof out->name, "%s", f->name);
    out->iface = f;
    out->score = 1;
    if (f->probe) {
        char why[400] = "";
        out->score = f->probe(host, why, sizeof why);
        if (out->score <= 0) {
            out->state = HRM_PLUGIN_DECLINED;
            snprintf(out->reason, sizeof out->reason, "%s: %s", f->name, why[0] ? why : "declined by its probe");
            return HRM_ERR_NOT_AVAILABLE;
        }
    }
    out->state = HRM_PLUGIN_USABLE;
    return HRM_OK;
}

/* ---- the search path ----------------------------------------------------------------------- */

/* Writes "a/b" into out; returns 0 when it does not fit. */
static int path_join(char *out, size_t size, const char *a, const char *b) {
    int n = snprintf(out, size, "%s/%s", a, b);
    return n > 0 && (size_t)n < size;
}

static int is_plugin_file(const char *name) {
    size_t n = strlen(name), pl = strlen(PLUGIN_PREFIX), sl = strlen(PLUGIN_SUFFIX);
    return n > pl + sl && !strncmp(name, PLUGIN_PREFIX, pl) && !strcmp(name + n - sl, PLUGIN_SUFFIX);
}

static int list_has(const hrm_plugin_list *list, const char *file_name) {
    char name[64];
    name_from_path(file_name, name, sizeof name);
    for (int i = 0; i < list->count; i++) {
        char other[64];
        name_from_path(list->items[i].path, other, sizeof other);
        if (!strcmp(other, name)) return 1;
    }
    return 0;
}

static hrm_status list_push(hrm_plugin_list *list, int *cap, const char *path, const hrm_host *host) {
    if (list->count == *cap) {
        int c = *cap ? 2 * *cap : 8;
        hrm_plugin *items = realloc(list->items, (size_t)c * sizeof *items);
        if (!items) return HRM_ERR_OUT_OF_MEMORY;
        list->items = items;
        *cap = c;
    }
    hrm_plugin_load(path, host, &list->items[list->count++]);
    return HRM_OK;
}

static void scan_dir(const char *dir, const hrm_host *host, hrm_plugin_list *list, int *cap) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX];
    if (!d) return;
    while ((e = readdir(d))) {
        if (!is_plugin_file(e->d_name) || list_has(list, e->d_name)) continue;
        if (!path_join(path, sizeof path, dir, e->d_name)) continue;
        char *real = realpath(path, NULL);
        list_push(list, cap, real ? real : path, host);
        free(real);
    }
    closedir(d);
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const hrm_plugin *)a)->name, ((const hrm_plugin *)b)->name);
}

hrm_status hrm_plugin_scan(const hrm_host *host, hrm_plugin_list *out) {
    hrm_plugin_dirs dirs = {0};
    int cap = 0;
    memset(out, 0, sizeof *out);
    hrm_plugin_dirs_find(&dirs, "backends", "hrm/backends", HRM_PLUGIN_DIR);
    for (int i = 0; i < dirs.count; i++) scan_dir(dirs.dirs[i], host, out, &cap);
    hrm_plugin_dirs_free(&dirs);
    if (out->count > 1) qsort(out->items, (size_t)out->count, sizeof *out->items, by_name);
    return HRM_OK;
}

void hrm_plugin_list_free(hrm_plugin_list *list) {
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

/* ---- device specs ---------------------------------------------------------------------------- */

/* Appends "0 'name', 1 'name', ..." (or "none") to out: the device list of an error line. */
static void list_devices(const hrm_device_info *info, int n, char *out, size_t size) {
    size_t used = strlen(out);
    if (n == 0) snprintf(out + used, size - used, "none");
    for (int i = 0; i < n && used < size; i++) {
        snprintf(out + used, size - used, "%s%d '%s'", i ? ", " : "", i, info[i].name);
        used += strlen(out + used);
    }
}

/* 1 when s is an optional '-' followed by decimal digits only. */
static int is_index(const char *s) {
    if (*s == '-') s++;
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* The devices whose name (by_name) or vendor/note (!by_name) contain spec, ignoring case: their
 * count, and the first one's index in *first. */
static int count_matches(const char *spec, const hrm_device_info *info, int n, int by_name, int *first) {
    int hits = 0;
    for (int i = 0; i < n; i++) {
        int hit = by_name ? strcasestr(info[i].name, spec) != NULL
                          : strcasestr(info[i].vendor, spec) != NULL || strcasestr(info[i].note, spec) != NULL;
        if (hit && hits++ == 0) *first = i;
    }
    return hits;
}

int hrm_device_match(const char *device, const hrm_device_info *info, int n, char *err, size_t err_size) {
    char list[1024] = "";
    if (!device || !device[0]) device = "0";
    /* "@N": the N-th device counted round the devices (process N of a node, one device each) */
    if (device[0] == '@' && is_index(device + 1) && n > 0) return (int)(strtol(device + 1, NULL, 10) % n);
    if (is_index(device)) {
        errno = 0;
        long index = strtol(device, NULL, 10);
        if (errno == 0 && index >= 0 && index < n) return (int)index;
        list_devices(info, n, list, sizeof list);
        snprintf(err, err_size, "no device %s (it has %d: %s)", device, n, list);
        return -1;
    }
    int first = -1, hits = count_matches(device, info, n, 1, &first);
    if (hits == 0) hits = count_matches(device, info, n, 0, &first);
    if (hits == 1) return first;
    list_devices(info, n, list, sizeof list);
    if (hits == 0)
        snprintf(err, err_size, "no device matches '%s' (devices: %s)", device, list);
    else
        snprintf(err, err_size, "'%s' matches %d devices (%s): give an index or more of the name", device, hits, list);
    return -1;
}

/* The index of the device `device` names on an initialised backend, or -1 with err set. */
static int find_device(const hrm_backend_iface *f, hrm_backend *be, const char *device, char *err, size_t size) {
    int n = f->device_count(be);
    if (n < 0) n = 0;
    hrm_device_info *info = calloc(n ? (size_t)n : 1, sizeof *info);
    if (!info) {
        snprintf(err, size, "out of host memory");
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (f->device_info(be, i, &info[i]) != HRM_OK) snprintf(info[i].name, sizeof info[i].name, "(no info)");
    int index = hrm_device_match(device, info, n, err, size);
    free(info);
    return index;
}

/* ---- opening a backend and a device -------------------------------------------------------- */

/* Creates the backend instance and opens the device that `device` names; on failure fills err. */
static hrm_status open_plugin(const hrm_plugin *p, const char *device, const hrm_host *host, hrm_ctx *ctx, char *err,
                              size_t size) {
    const hrm_backend_iface *f = p->iface;
    hrm_backend *be = NULL;
    hrm_device *dev = NULL;
    hrm_status s = f->create(host, &be);
    if (s != HRM_OK) {
        snprintf(err, size, "%s: cannot initialise: %s", p->name, be ? f->last_error(be) : hrm_status_str(s));
        if (be) f->destroy(be);
        return s;
    }
    char why[1024];
    int index = find_device(f, be, device, why, sizeof why);
    if (index < 0) {
        snprintf(err, size, "%s: %s", p->name, why);
        f->destroy(be);
        return HRM_ERR_INVALID_ARG;
    }
    s = f->device_open(be, index, &dev);
    if (s != HRM_OK) {
        snprintf(err, size, "%s: cannot open device %d: %s", p->name, index, f->last_error(be));
        f->destroy(be);
        return s;
    }
    ctx->plugin = *p;
    ctx->f = f;
    ctx->be = be;
    ctx->dev = dev;
    ctx->device_index = index;
    return HRM_OK;
}

static int by_score_desc(const void *a, const void *b) {
    return ((const hrm_plugin *)b)->score - ((const hrm_plugin *)a)->score;
}

/* Under auto, a setup that runs out of memory skips its backend like a failed open: a device too
 * small for the model is only found out when the model is allocated. Its warning is logged only
 * when another backend is then tried, so that a machine with one backend still gets one line. */
static hrm_status open_auto(const char *device, const hrm_host *host, hrm_ctx_setup_fn setup, void *user, hrm_ctx *ctx,
                            char *err, size_t size) {
    hrm_plugin_list list;
    hrm_status s = HRM_ERR_NOT_AVAILABLE;
    char no_room[64 + 2 + 1024 + 16] = ""; /* "NAME: line" of the last setup out of memory, not yet logged */
    hrm_plugin_scan(host, &list);
    qsort(list.items, (size_t)list.count, sizeof *list.items, by_score_desc);
    snprintf(err, size, "no usable backend found (set HRM_PLUGIN_PATH or run `hrm backends`)");
    for (int i = 0; i < list.count; i++) {
        char why[1024];
        if (list.items[i].state != HRM_PLUGIN_USABLE) continue;
        if (no_room[0]) host_log(host, HRM_LOG_WARN, "auto: skipping %s", no_room);
        no_room[0] = 0;
        s = open_plugin(&list.items[i], device, host, ctx, why, sizeof why);
        if (s != HRM_OK) {
            host_log(host, HRM_LOG_WARN, "auto: skipping %s", why);
            snprintf(err, size, "no usable backend: last one said: %s", why);
            continue;
        }
        if (!setup || (s = setup(ctx, user, why, sizeof why)) == HRM_OK) break;
        snprintf(no_room, sizeof no_room, "%s: %s", ctx->plugin.name, why);
        hrm_ctx_close(ctx);
        snprintf(err, size, "%s", why);        /* the setup's own line, as with a named backend */
        if (s != HRM_ERR_OUT_OF_MEMORY) break; /* a bad model or checkpoint fails the same everywhere */
    }
    hrm_plugin_list_free(&list);
    return s;
}

static hrm_status open_named(const char *name, const char *device, const hrm_host *host, hrm_ctx *ctx, char *err,
                             size_t size) {
    hrm_plugin_list list;
    hrm_status s = HRM_ERR_NOT_AVAILABLE;
    char found[256] = "";
    int hit = 0;
    hrm_plugin_scan(host, &list);
    for (int i = 0; i < list.count && !hit; i++) {
        const hrm_plugin *p = &list.items[i];
        char stem[64];
        name_from_path(p->path, stem, sizeof stem);
        if (strcmp(p->name, name) && strcmp(stem, name)) {
            size_t used = strlen(found);
            snprintf(found + used, sizeof found - used, "%s%s", used ? ", " : "", p->name);
            continue;
        }
        hit = 1;
        if (p->state != HRM_PLUGIN_USABLE)
            snprintf(err, size, "%s", p->reason);
        else
            s = open_plugin(p, device, host, ctx, err, size);
    }
    if (!hit) snprintf(err, size, "no backend named '%s' (found: %s)", name, found[0] ? found : "none");
    hrm_plugin_list_free(&list);
    return s;
}

static int looks_like_path(const char *spec) {
    size_t n = strlen(spec), sl = strlen(PLUGIN_SUFFIX);
    return strchr(spec, '/') || (n > sl && !strcmp(spec + n - sl, PLUGIN_SUFFIX));
}

hrm_status hrm_ctx_open_with(const char *spec, const char *device, const hrm_host *host, hrm_ctx_setup_fn setup,
                             void *user, hrm_ctx *out, char *err, size_t err_size) {
    hrm_plugin p;
    hrm_status s;
    memset(out, 0, sizeof *out);
    if (!host) host = hrm_default_host();
    if (!spec || !spec[0]) spec = getenv("HRM_BACKEND");
    if (!spec || !spec[0]) spec = "auto";
    if (!strcmp(spec, "auto")) return open_auto(device, host, setup, user, out, err, err_size);
    if (!looks_like_path(spec)) {
        s = open_named(spec, device, host, out, err, err_size);
    } else if (hrm_plugin_load(spec, host, &p) != HRM_OK) {
        snprintf(err, err_size, "%s", p.reason);
        return HRM_ERR_NOT_AVAILABLE;
    } else {
        s = open_plugin(&p, device, host, out, err, err_size);
    }
    if (s == HRM_OK && setup && (s = setup(out, user, err, err_size)) != HRM_OK) hrm_ctx_close(out);
    return s;
}

hrm_status hrm_ctx_open_device(const char *spec, const char *device, const hrm_host *host, hrm_ctx *out, char *err,
                               size_t err_size) {
    return hrm_ctx_open_with(spec, device, host, NULL, NULL, out, err, err_size);
}

hrm_status hrm_ctx_open(const char *spec, int device_index, const hrm_host *host, hrm_ctx *out, char *err,
                        size_t err_size) {
    char device[16];
    snprintf(device, sizeof device, "%d", device_index);
    return hrm_ctx_open_device(spec, device, host, out, err, err_size);
}

uint64_t hrm_ctx_max_buffer_bytes(const hrm_ctx *ctx) {
    const hrm_backend_iface *f = ctx->f;
    if (!f || !ctx->dev || f->struct_size < HRM_IFACE_END(max_buffer_bytes) || !f->max_buffer_bytes) return 0;
    return f->max_buffer_bytes(ctx->dev);
}

static const char *const PRECISION_NAME[HRM_PRECISION_COUNT] = {"highest", "high", "medium"};
static const char *const PRECISION_FORMAT[HRM_PRECISION_COUNT] = {"fp32", "tf32", "bf16"};

const char *hrm_precision_name(hrm_matmul_precision p) {
    return (unsigned)p < HRM_PRECISION_COUNT ? PRECISION_NAME[p] : "unknown";
}

const char *hrm_precision_format(hrm_matmul_precision p) {
    return (unsigned)p < HRM_PRECISION_COUNT ? PRECISION_FORMAT[p] : "unknown";
}

int hrm_precision_parse(const char *text, hrm_matmul_precision *out) {
    for (int p = 0; text && p < HRM_PRECISION_COUNT; p++)
        if (!strcmp(text, PRECISION_NAME[p]) || !strcmp(text, PRECISION_FORMAT[p])) {
            *out = (hrm_matmul_precision)p;
            return 1;
        }
    return 0;
}

uint32_t hrm_ctx_matmul_precisions(const hrm_ctx *ctx) {
    const hrm_backend_iface *f = ctx->f;
    uint32_t bits = HRM_PRECISION_BIT(HRM_PRECISION_HIGHEST);
    if (!f || !ctx->dev || f->struct_size < HRM_IFACE_END(matmul_precision) || !f->matmul_precisions ||
        !f->matmul_precision)
        return bits;
    return bits | (f->matmul_precisions(ctx->dev) & ((1u << HRM_PRECISION_COUNT) - 1u));
}

hrm_matmul_precision hrm_precision_effective(uint32_t supported, hrm_matmul_precision asked) {
    int p = (unsigned)asked < HRM_PRECISION_COUNT ? (int)asked : HRM_PRECISION_HIGHEST;
    while (p > HRM_PRECISION_HIGHEST && !(supported & HRM_PRECISION_BIT(p))) p--;
    return (hrm_matmul_precision)p;
}

hrm_status hrm_ctx_matmul(const hrm_ctx *ctx, const hrm_matmul_args *a, hrm_matmul_precision p) {
    if (p == HRM_PRECISION_HIGHEST) return ctx->f->matmul(ctx->dev, a);
    if (!(hrm_ctx_matmul_precisions(ctx) & HRM_PRECISION_BIT(p))) return HRM_ERR_UNSUPPORTED;
    return ctx->f->matmul_precision(ctx->dev, a, p);
}

void hrm_ctx_close(hrm_ctx *ctx) {
    if (ctx->f) {
        if (ctx->dev) ctx->f->device_close(ctx->dev);
        if (ctx->be) ctx->f->destroy(ctx->be);
    }
    memset(ctx, 0, sizeof *ctx);
}
