/* hrm/hrm.h - the libhrm public API: finding, loading and opening compute backends.
 *
 * Plugins are shared modules named hrm-backend-NAME.so. They are searched, in order, in:
 *   1. every folder of $HRM_PLUGIN_PATH (colon-separated);
 *   2. the build tree next to the running executable: its own folder, and every subfolder of
 *      ../backends and ../../backends relative to it (so build/tools/hrm and the test programs
 *      in build/tests find build/backends/cpu/hrm-backend-cpu.so without installing);
 *   3. hrm/backends beside the libhrm shared object actually loaded (found with dladdr), so that
 *      a relocated or DESTDIR install finds its own plugins;
 *   4. the compile-time install folder, HRM_PLUGIN_DIR (<libdir>/hrm/backends).
 * The first plugin found under a given name wins. Loaded plugins are never dlclose()d.
 */
#ifndef HRM_HRM_H
#define HRM_HRM_H

#include "hrm/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HRM_VERSION "0.1.0"

typedef enum hrm_plugin_state {
    HRM_PLUGIN_USABLE = 0,   /* loaded, ABI matches, probe says usable */
    HRM_PLUGIN_DECLINED = 1, /* loaded fine but its probe says "not here" (reason says why) */
    HRM_PLUGIN_REFUSED = 2,  /* not loadable: dlopen failed, no entry symbol, other ABI, ... */
} hrm_plugin_state;

typedef struct hrm_plugin {
    char name[64];   /* the backend's name; for a refused file, the name from its file name */
    char path[4096]; /* file it came from */
    hrm_plugin_state state;
    int score;                      /* probe score (> 0 when usable) */
    char reason[512];               /* one line: why declined or refused */
    const hrm_backend_iface *iface; /* NULL when refused */
} hrm_plugin;

typedef struct hrm_plugin_list {
    hrm_plugin *items;
    int count;
} hrm_plugin_list;

/* A host with a stderr logger; its level comes from $HRM_LOG (error|warn|info|debug, default
 * warn) and its thread count from $HRM_THREADS (default 0 = all cores). */
HRM_API const hrm_host *hrm_default_host(void);

/* Loads one plugin file and fills *out (state, reason, iface). Returns HRM_OK when the plugin is
 * usable, else an error status with out->reason set. Never aborts. */
HRM_API hrm_status hrm_plugin_load(const char *path, const hrm_host *host, hrm_plugin *out);

/* Every plugin in the search path (usable, declined and refused), sorted by name. */
HRM_API hrm_status hrm_plugin_scan(const hrm_host *host, hrm_plugin_list *out);
HRM_API void hrm_plugin_list_free(hrm_plugin_list *list);

/* An opened backend instance and one of its devices. */
typedef struct hrm_ctx {
    hrm_plugin plugin;
    const hrm_backend_iface *f; /* == plugin.iface */
    hrm_backend *be;
    hrm_device *dev;
    int device_index;
} hrm_ctx;

/* Opens a backend by spec and a device by index:
 *   spec = NULL or "" -> $HRM_BACKEND, else "auto";
 *   "auto"            -> usable plugins by descending score; one that fails to create or open
 *                        is skipped with a warning through the host log (hrm_ctx_open_with also
 *                        skips one too small for what the caller then allocates);
 *   a name ("cpu")    -> the plugin of that name in the search path;
 *   a path (contains '/' or ends in ".so") -> that file.
 * On failure writes one line into err and returns the status. */
HRM_API hrm_status hrm_ctx_open(const char *spec, int device_index, const hrm_host *host, hrm_ctx *out, char *err,
                                size_t err_size);

/* hrm_ctx_open with the device named by a device spec (hrm_device_match): an index ("1") or a
 * name substring ("radeon", "pocl"). NULL or "" is device 0. Under "auto", a backend with no
 * device matching the spec is skipped like one that fails to open. */
HRM_API hrm_status hrm_ctx_open_device(const char *spec, const char *device, const hrm_host *host, hrm_ctx *out,
                                       char *err, size_t err_size);

/* What a caller makes on a freshly opened context before it counts as open: its model, optimizer
 * state, ... On failure it frees everything it made on ctx (the context is closed next) and
 * writes one line into err. */
typedef hrm_status (*hrm_ctx_setup_fn)(hrm_ctx *ctx, void *user, char *err, size_t err_size);

/* hrm_ctx_open_device, then setup(ctx, user, ...) on the opened context (setup NULL: nothing, the
 * same as hrm_ctx_open_device). A device too small for the model is only found out when the model
 * is allocated, so under "auto" a setup that returns HRM_ERR_OUT_OF_MEMORY closes that backend,
 * is logged as "auto: skipping NAME: LINE" when another backend is then tried, and the next one
 * by score is tried; any other setup failure stops the search. With a named backend or a path a
 * failing setup closes the context. On failure *out is closed and err holds one line: the last
 * setup's own line, or the open failure's. On success the things setup made live on *out. */
HRM_API hrm_status hrm_ctx_open_with(const char *spec, const char *device, const hrm_host *host, hrm_ctx_setup_fn setup,
                                     void *user, hrm_ctx *out, char *err, size_t err_size);

/* Picks the device that `device` names among the n devices described by info[]:
 *   "N" (decimal digits only)  -> index N, which must be < n;
 *   "@N"                       -> index N mod n (a node's N-th process on its own device, round
 *                                 the devices when there are fewer: `hrm train` under mpirun);
 *   anything else              -> the one device whose name contains it, ignoring case; when no
 *                                 name does, the one whose vendor or note does (the OpenCL backend
 *                                 names the platform in the note, so a platform name selects too).
 * Returns the index, or -1 with one line in err naming the problem (no match, or several) and
 * listing the devices as "N 'name'". */
HRM_API int hrm_device_match(const char *device, const hrm_device_info *info, int n, char *err, size_t err_size);

HRM_API void hrm_ctx_close(hrm_ctx *ctx);

/* The largest single buffer the opened device takes, in bytes (the backend's max_buffer_bytes,
 * ABI 1.1); 0 when the backend states no limit (an ABI 1.0 plugin, or none below its memory). */
HRM_API uint64_t hrm_ctx_max_buffer_bytes(const hrm_ctx *ctx);

/* ---- matmul precision (ABI 1.2; see hrm_matmul_precision in hrm/backend.h) ---------------- */

/* "highest", "high", "medium": torch.set_float32_matmul_precision's words. */
HRM_API const char *hrm_precision_name(hrm_matmul_precision p);
/* The precision's operand format: "fp32", "tf32", "bf16". */
HRM_API const char *hrm_precision_format(hrm_matmul_precision p);
/* Parses a name above (or its format, e.g. "bf16"); 1 on success, 0 otherwise. */
HRM_API int hrm_precision_parse(const char *text, hrm_matmul_precision *out);
/* The precisions the opened device runs natively, as HRM_PRECISION_BIT bits; HIGHEST always set
 * (an ABI 1.0/1.1 plugin, or one without the slot, is fp32 only). */
HRM_API uint32_t hrm_ctx_matmul_precisions(const hrm_ctx *ctx);
/* The precision a device with that bit set runs `asked` in: asked when supported, else the next
 * higher one that is (medium -> high -> highest). */
HRM_API hrm_matmul_precision hrm_precision_effective(uint32_t supported, hrm_matmul_precision asked);
/* A matmul at precision p (which must be in hrm_ctx_matmul_precisions, or HIGHEST). */
HRM_API hrm_status hrm_ctx_matmul(const hrm_ctx *ctx, const hrm_matmul_args *a, hrm_matmul_precision p);

HRM_API const char *hrm_status_str(hrm_status s);

#ifdef __cplusplus
}
#endif
#endif /* HRM_HRM_H */
