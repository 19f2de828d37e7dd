/* tests/discover.h - the backend plugins a check-based test program runs its cases on, found in a
 * short-lived child process so that the program's main() never initialises a device driver.
 *
 * A plugin's probe initialises its driver (the OpenCL backend calls clGetPlatformIDs). Some
 * drivers, NVIDIA's among them, do not work in a process forked after they were initialised, and
 * check forks every test case from main(). So main() calls discover_plugins(): a child loads and
 * probes the plugins and sends back only their names and paths; each test case then loads its
 * plugin by path in its own forked process. tests/forkguard/ holds the test of this rule. */
#ifndef HRM_TESTS_DISCOVER_H
#define HRM_TESTS_DISCOVER_H

#include "hrm/hrm.h"

typedef struct found_plugin {
    char name[64];   /* the table's name: "cpu", "opencl" */
    char path[4096]; /* the file: open it with hrm_ctx_open(path, ...) */
} found_plugin;

/* Fills out[0, max) with the usable plugins: the file $HRM_TEST_PLUGIN alone when it is set, else
 * every usable plugin that hrm_plugin_scan() finds, in its order. A plugin that is declined or
 * refused gets a line "WHO: skipping NAME: REASON" on stderr. Returns the count; 0, with a line on
 * stderr, when there is none or the child failed. Call it before any thread is started. */
int discover_plugins(const hrm_host *host, const char *who, found_plugin *out, int max);

/* The exit status meson reads as "skipped". */
#define DISCOVER_SKIP 77

/* For a test program that needs one backend, called first in main(): 0 when the backend NAME (or
 * the plugin file $HRM_TEST_PLUGIN, when that is set) is usable here. When its plugin loads but
 * its probe declines (no device: no OpenCL platform, say), says "skipped" and why, and returns
 * DISCOVER_SKIP; when the plugin is missing or refused (dlopen, ABI), or the discovery fails, says
 * why and returns 1: a broken build is a failure, not a skip. Probes in a child, as above. */
int discover_require(const hrm_host *host, const char *who, const char *name);

#endif /* HRM_TESTS_DISCOVER_H */
