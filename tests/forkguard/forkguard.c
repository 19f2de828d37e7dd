/* tests/forkguard/forkguard.c - a backend plugin that treats fork() the way NVIDIA's OpenCL driver
 * does: once it has been initialised (its probe or create ran), a process forked from that one
 * finds no platform: there probe declines and create fails. That driver breaks check's forked test
 * cases when a test program probes the plugins in main(); PoCL, which CI has, does not, so this
 * plugin stands in for it. Everything else is the CPU backend's: the table is a copy of the one
 * of the plugin file that $HRM_FORKGUARD_BACKEND names, renamed "forkguard", so that the test
 * programs do real work on it (tests/meson.build, the forkguard-* tests). Never installed. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stub.h"

#define LOST "no OpenCL platform found (forkguard: initialised before this process was forked, as NVIDIA's driver)"

/* The instance a failed create hands back, so that the host can read why (backend.h). */
struct hrm_backend {
    char unused;
};
static hrm_backend lost_instance;

static const hrm_backend_iface *target; /* the CPU backend's table */
static hrm_backend_iface table;         /* target's, with the slots below */
static int initialised, forked_after_init;

/* Registered before the first probe, so it sees every fork() that follows an initialisation. */
static void on_fork_child(void) {
    if (initialised) forked_after_init = 1;
}

static int guard_probe(const hrm_host *host, char *why, size_t why_size) {
    if (forked_after_init) {
        snprintf(why, why_size, "%s", LOST);
        return 0;
    }
    initialised = 1;
    return target->probe ? target->probe(host, why, why_size) : 1;
}

static hrm_status guard_create(const hrm_host *host, hrm_backend **out) {
    if (forked_after_init) {
        *out = &lost_instance;
        return HRM_ERR_NOT_AVAILABLE;
    }
    initialised = 1;
    return target->create(host, out);
}

static void guard_destroy(hrm_backend *be) {
    if (be != &lost_instance) target->destroy(be);
}

static const char *guard_last_error(hrm_backend *be) { return be == &lost_instance ? LOST : target->last_error(be); }

/* ---- without a target: a table that declines, saying why ----------------------------------- */

static char no_target[600];

static int decline_probe(const hrm_host *host, char *why, size_t why_size) {
    (void)host;
    snprintf(why, why_size, "%s", no_target);
    return 0;
}

static const hrm_backend_iface declining = {
    .abi_version = HRM_BACKEND_ABI_VERSION,
    .struct_size = sizeof(hrm_backend_iface),
    .name = "forkguard",
    .description = "fork-sensitive test plugin without its target backend",
    .probe = decline_probe,
    STUB_SLOTS,
};

/* ---- the entry --------------------------------------------------------------------------------- */

static const hrm_backend_iface *load_target(void) {
    const char *path = getenv("HRM_FORKGUARD_BACKEND");
    if (!path || !path[0]) {
        snprintf(no_target, sizeof no_target, "HRM_FORKGUARD_BACKEND is not set (the path of hrm-backend-cpu.so)");
        return NULL;
    }
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL); /* never closed: its table stays in use */
    hrm_backend_entry_fn entry = NULL;
    if (dl) *(void **)&entry = dlsym(dl, HRM_BACKEND_ENTRY_SYMBOL);
    const hrm_backend_iface *f = entry ? entry() : NULL;
    if (!f) {
        const char *e = dlerror();
        snprintf(no_target, sizeof no_target, "HRM_FORKGUARD_BACKEND=%s: %s", path, e ? e : "no backend table");
    }
    return f;
}

static void build_table(void) {
    target = load_target();
    if (!target) return;
    size_t n = target->struct_size < sizeof table ? target->struct_size : sizeof table;
    memcpy(&table, target, n); /* a shorter table keeps its size: the host reads no further */
    table.struct_size = (uint32_t)n;
    table.name = "forkguard";
    table.description = "the CPU backend, refusing to work in a process forked after it was initialised";
    table.probe = guard_probe;
    table.create = guard_create;
    table.destroy = guard_destroy;
    table.last_error = guard_last_error;
    pthread_atfork(NULL, NULL, on_fork_child);
}

HRM_BACKEND_EXPORT const hrm_backend_iface *hrm_backend_entry(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, build_table);
    return target ? &table : &declining;
}
