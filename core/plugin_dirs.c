/* core/plugin_dirs.c - the plugin search path of both loaders (plugin_dirs.h). */
#include "plugin_dirs.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void dirs_add(hrm_plugin_dirs *d, const char *dir) {
    if (!dir || !dir[0]) return;
    for (int i = 0; i < d->count; i++)
        if (!strcmp(d->dirs[i], dir)) return;
    if (d->count == d->cap) {
        int cap = d->cap ? 2 * d->cap : 16;
        char **dirs = realloc(d->dirs, (size_t)cap * sizeof *dirs);
        if (!dirs) return;
        d->dirs = dirs;
        d->cap = cap;
    }
    char *copy = strdup(dir);
    if (copy) d->dirs[d->count++] = copy;
}

/* Adds a/b; skipped when it does not fit in PATH_MAX. */
static void dirs_add_joined(hrm_plugin_dirs *d, const char *a, const char *b) {
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", a, b);
    if (n > 0 && (size_t)n < sizeof path) dirs_add(d, path);
}

/* Adds every subfolder of a/b (the build tree's backends/<name>/ or plugins/<name>/). */
static void dirs_add_children(hrm_plugin_dirs *d, const char *a, const char *b) {
    char parent[PATH_MAX];
    int n = snprintf(parent, sizeof parent, "%s/%s", a, b);
    DIR *dir = n > 0 && (size_t)n < sizeof parent ? opendir(parent) : NULL;
    struct dirent *e;
    if (!dir) return;
    while ((e = readdir(dir)))
        if (e->d_name[0] != '.') dirs_add_joined(d, parent, e->d_name);
    closedir(dir);
}

/* Cuts an absolute path after its last '/': the folder of a file ("" for the root, which the
 * joins above turn back into "/x"). 0 when there is no '/'. */
static int strip_file(char *path) {
    char *slash = strrchr(path, '/');
    if (slash) *slash = 0;
    return slash != NULL;
}

/* Any object inside libhrm: dladdr on its address names the shared object that holds it. */
static const char libhrm_anchor;

void hrm_plugin_dirs_find(hrm_plugin_dirs *d, const char *tree, const char *lib_sub, const char *install_dir) {
    const char *env = getenv("HRM_PLUGIN_PATH");
    if (env) {
        char *copy = strdup(env), *save = NULL;
        for (char *tok = copy ? strtok_r(copy, ":", &save) : NULL; tok; tok = strtok_r(NULL, ":", &save))
            dirs_add(d, tok);
        free(copy);
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        if (strip_file(exe)) {
            char up[64];
            dirs_add(d, exe);
            snprintf(up, sizeof up, "../%s", tree);
            dirs_add_children(d, exe, up);
            snprintf(up, sizeof up, "../../%s", tree);
            dirs_add_children(d, exe, up);
        }
    }
    Dl_info info;
    if (dladdr(&libhrm_anchor, &info) && info.dli_fname) {
        char *lib = realpath(info.dli_fname, NULL); /* absolute, whatever LD_LIBRARY_PATH said */
        if (lib && strip_file(lib)) dirs_add_joined(d, lib, lib_sub);
        free(lib);
    }
    dirs_add(d, install_dir);
}

void hrm_plugin_dirs_free(hrm_plugin_dirs *d) {
    for (int i = 0; i < d->count; i++) free(d->dirs[i]);
    free(d->dirs);
    memset(d, 0, sizeof *d);
}
