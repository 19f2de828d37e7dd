/* core/plugin_dirs.h - the folders where plugins are searched, one list for both loaders: the
 * backend loader (loader.c, hrm-backend-*.so) and the task loader (task_loader.c, hrm-task-*.so).
 *
 * In order, without duplicates (the first file found under a name wins):
 *   1. every folder of $HRM_PLUGIN_PATH (':'-separated);
 *   2. the build tree next to the running executable: its folder, and every subfolder of
 *      ../TREE and ../../TREE (TREE = "backends" or "plugins", as laid out by meson);
 *   3. LIB/SUB, where LIB is the folder of the libhrm shared object actually loaded (dladdr), so
 *      that a relocated or DESTDIR install finds the plugins installed beside it (the install
 *      layout puts libhrm.so in <libdir> and the plugins in <libdir>/hrm/backends and
 *      <libdir>/hrm/tasks);
 *   4. the compile-time install folder, last. */
#ifndef HRM_CORE_PLUGIN_DIRS_H
#define HRM_CORE_PLUGIN_DIRS_H

#include "internal.h"

typedef struct hrm_plugin_dirs {
    char **dirs;
    int count, cap;
} hrm_plugin_dirs;

/* Fills *d (which the caller zeroes) in the order above; a folder that cannot be added for lack of
 * memory is skipped. tree: "backends"; lib_sub: "hrm/backends"; install_dir: HRM_PLUGIN_DIR. */
HRM_INTERNAL void hrm_plugin_dirs_find(hrm_plugin_dirs *d, const char *tree, const char *lib_sub,
                                       const char *install_dir);
HRM_INTERNAL void hrm_plugin_dirs_free(hrm_plugin_dirs *d);

#endif /* HRM_CORE_PLUGIN_DIRS_H */
