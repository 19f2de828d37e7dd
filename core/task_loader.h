/* core/task_loader.h - finds and loads task plugins (include/hrm/task.h), the way core/loader.c
 * does it for backends.
 *
 * Task plugins are shared modules named hrm-task-NAME.so, searched, in order, in every folder of
 * $HRM_PLUGIN_PATH, in the build tree next to the running executable (its folder, and every
 * subfolder of ../plugins and ../../plugins), in hrm/tasks beside the libhrm shared object
 * loaded, and in the compile-time install folder HRM_TASK_DIR (<libdir>/hrm/tasks). The first file found under a name wins. A plugin is refused, with one line
 * saying why, when it cannot be dlopen()ed, lacks the entry symbol, speaks another ABI major, has
 * a short table or no name/format. Loaded plugins are never dlclose()d. */
#ifndef HRM_CORE_TASK_LOADER_H
#define HRM_CORE_TASK_LOADER_H

#include "internal.h"
#include <stdbool.h>

#include "hrm/task.h"

typedef struct hrm_task_plugin {
    char name[64]; /* the task's name, or for a refused file the name from its file name */
    char path[4096];
    bool usable;
    char reason[512];            /* why refused */
    const hrm_task_iface *iface; /* NULL when refused */
} hrm_task_plugin;

typedef struct hrm_task_list {
    hrm_task_plugin *items;
    int count;
} hrm_task_list;

/* Every task plugin in the search path, sorted by name. */
HRM_INTERNAL hrm_status hrm_task_scan(hrm_task_list *out);
HRM_INTERNAL void hrm_task_list_free(hrm_task_list *list);

/* The usable task named `spec` (or the file `spec` when it contains '/' or ends in ".so"). On
 * failure one line in err (listing the tasks found when the name is unknown). */
HRM_INTERNAL hrm_status hrm_task_find(const char *spec, const hrm_task_iface **out, char *err, size_t err_size);

/* The usable task whose format has this seq_len and vocab_size (how `hrm eval` and `hrm solve`
 * recognise a dataset's or a checkpoint's task). HRM_ERR_NOT_AVAILABLE with a line when none or
 * more than one matches. */
HRM_INTERNAL hrm_status hrm_task_match(int seq_len, int vocab_size, const hrm_task_iface **out, char *err,
                                       size_t err_size);

#endif /* HRM_CORE_TASK_LOADER_H */
