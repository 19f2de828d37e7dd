/* core/task_loader.c - finds, checks and loads task plugins (see task_loader.h). */
#include "task_loader.h"

#include "plugin_dirs.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HRM_TASK_DIR
#define HRM_TASK_DIR "/usr/local/lib/hrm/tasks"
#endif

#define TASK_PREFIX "hrm-task-"
#define TASK_SUFFIX ".so"
/* The size of the table as of ABI 1.0 (it ends at eval_end): the least a 1.x plugin can give.
 * Slots appended in a later 1.x go after it; keep this at the 1.0 end when appending. */
#define TASK_TABLE_1_0_SIZE (offsetof(hrm_task_iface, eval_end) + sizeof(((hrm_task_iface *)0)->eval_end))
#define STR_(x) #x
#define STR(x) STR_(x)
#define HRM_TASK_ABI_MAJOR_STR STR(HRM_TASK_ABI_MAJOR)

static int is_task_file(const char *name) {
    size_t n = strlen(name), pl = strlen(TASK_PREFIX), sl = strlen(TASK_SUFFIX);
    return n > pl + sl && !strncmp(name, TASK_PREFIX, pl) && !strcmp(name + n - sl, TASK_SUFFIX);
}

/* "hrm-task-sudoku.so" -> "sudoku". */
static void name_of_file(const char *path, char *name, size_t size) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!strncmp(base, TASK_PREFIX, strlen(TASK_PREFIX))) base += strlen(TASK_PREFIX);
    size_t n = strnlen(base, size - 1);
    memcpy(name, base, n);
    name[n] = 0;
    char *dot = strstr(name, TASK_SUFFIX);
    if (dot && !dot[strlen(TASK_SUFFIX)]) *dot = 0;
}

static bool refuse(hrm_task_plugin *p, const char *fmt, const char *arg) {
    snprintf(p->reason, sizeof p->reason, fmt, arg);
    p->iface = NULL;
    p->usable = false;
    return false;
}

/* Checks the table before anything in it is used: version and size first. Only the slots of the
 * 1.0 table are read here, which any struct_size that passes covers. */
static bool table_ok(hrm_task_plugin *p, const hrm_task_iface *f) {
    char v[32], size[96];
    if (!f) return refuse(p, "%s returned no table", HRM_TASK_ENTRY_SYMBOL);
    snprintf(v, sizeof v, "%u.%u", HRM_ABI_MAJOR_OF(f->abi_version), HRM_ABI_MINOR_OF(f->abi_version));
    if (HRM_ABI_MAJOR_OF(f->abi_version) != HRM_TASK_ABI_MAJOR)
        return refuse(p, "task ABI version %s, this host speaks major version " HRM_TASK_ABI_MAJOR_STR, v);
    if (f->struct_size < TASK_TABLE_1_0_SIZE) {
        snprintf(size, sizeof size, "%u bytes, the ABI 1.0 table has %zu", f->struct_size, TASK_TABLE_1_0_SIZE);
        return refuse(p, "task table too small (%s)", size);
    }
    if (!f->name || !f->name[0] || f->format.seq_len <= 0 || f->format.vocab_size <= 1 || f->format.vocab_size > 256)
        return refuse(p, "%s", "task table without a name or a valid format");
    if (!f->build || !f->verify || !f->render || !f->parse_puzzle)
        return refuse(p, "%s", "task table leaves a required slot (build, verify, render, parse_puzzle) empty");
    if (!f->eval_begin != !f->eval_add || !f->eval_add != !f->eval_end)
        return refuse(p, "%s", "task table sets only some of eval_begin, eval_add, eval_end");
    return true;
}

/* ---- the host's copy of a table -------------------------------------------------------------- */

/* The host reads an accepted table through a copy of sizeof(hrm_task_iface) bytes whose bytes past
 * the plugin's struct_size are zero: slots appended after the plugin was built read as absent
 * (NULL) instead of past the end of its table. One copy per table, kept as long as the plugin
 * (never dlclose()d, so its table's address is never reused). */
typedef struct table_copy {
    const hrm_task_iface *original;
    hrm_task_iface table;
    struct table_copy *next;
} table_copy;

static table_copy *copies;
static pthread_mutex_t copies_lock = PTHREAD_MUTEX_INITIALIZER;

static const hrm_task_iface *host_copy(const hrm_task_iface *f) {
    pthread_mutex_lock(&copies_lock);
    table_copy *c = copies;
    while (c && c->original != f) c = c->next;
    if (!c && (c = calloc(1, sizeof *c))) {
        c->original = f;
        memcpy(&c->table, f, f->struct_size < sizeof c->table ? f->struct_size : sizeof c->table);
        c->next = copies;
        copies = c;
    }
    pthread_mutex_unlock(&copies_lock);
    return c ? &c->table : NULL;
}

static void load_one(const char *path, hrm_task_plugin *p) {
    memset(p, 0, sizeof *p);
    snprintf(p->path, sizeof p->path, "%s", path);
    name_of_file(path, p->name, sizeof p->name);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        refuse(p, "cannot load: %s", dlerror());
        return;
    }
    hrm_task_entry_fn entry;
    *(void **)&entry = dlsym(h, HRM_TASK_ENTRY_SYMBOL);
    if (!entry) {
        refuse(p, "no symbol %s", HRM_TASK_ENTRY_SYMBOL);
        dlclose(h);
        return;
    }
    const hrm_task_iface *f = entry();
    if (!table_ok(p, f)) {
        dlclose(h);
        return;
    }
    snprintf(p->name, sizeof p->name, "%s", f->name);
    p->iface = host_copy(f);
    p->usable = p->iface != NULL;
    if (!p->usable) refuse(p, "%s", "out of host memory");
}

/* ---- the search path ----------------------------------------------------------------------- */

static bool have_name(const hrm_task_list *l, const char *file) {
    char name[64], other[64];
    name_of_file(file, name, sizeof name);
    for (int i = 0; i < l->count; i++) {
        name_of_file(l->items[i].path, other, sizeof other);
        if (!strcmp(name, other)) return true;
    }
    return false;
}

static hrm_status scan_dir(const char *dir, hrm_task_list *l, int *cap) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX];
    if (!d) return HRM_OK;
    while ((e = readdir(d))) {
        if (!is_task_file(e->d_name) || have_name(l, e->d_name)) continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
        if (l->count == *cap) {
            int c = *cap ? 2 * *cap : 8;
            hrm_task_plugin *items = realloc(l->items, (size_t)c * sizeof *items);
            if (!items) {
                closedir(d);
                return HRM_ERR_OUT_OF_MEMORY;
            }
            l->items = items;
            *cap = c;
        }
        char *real = realpath(path, NULL);
        load_one(real ? real : path, &l->items[l->count++]);
        free(real);
    }
    closedir(d);
    return HRM_OK;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const hrm_task_plugin *)a)->name, ((const hrm_task_plugin *)b)->name);
}

hrm_status hrm_task_scan(hrm_task_list *out) {
    hrm_plugin_dirs d = {0};
    int cap = 0;
    hrm_status s = HRM_OK;
    memset(out, 0, sizeof *out);
    hrm_plugin_dirs_find(&d, "plugins", "hrm/tasks", HRM_TASK_DIR);
    for (int i = 0; !s && i < d.count; i++) s = scan_dir(d.dirs[i], out, &cap);
    hrm_plugin_dirs_free(&d);
    if (out->count > 1) qsort(out->items, (size_t)out->count, sizeof *out->items, by_name);
    return s;
}

void hrm_task_list_free(hrm_task_list *list) {
    free(list->items);
    memset(list, 0, sizeof *list);
}

/* "sudoku, maze" into buf: the usable tasks, for messages. */
static const char *names_of(const hrm_task_list *l, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < l->count && used < size; i++)
        if (l->items[i].usable)
            used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "", l->items[i].name);
    return buf[0] ? buf : "none";
}

hrm_status hrm_task_find(const char *spec, const hrm_task_iface **out, char *err, size_t err_size) {
    *out = NULL;
    if (strchr(spec, '/') || strstr(spec, TASK_SUFFIX)) {
        hrm_task_plugin p;
        load_one(spec, &p);
        if (!p.usable) {
            snprintf(err, err_size, "%s: %s", spec, p.reason);
            return HRM_ERR_NOT_AVAILABLE;
        }
        *out = p.iface;
        return HRM_OK;
    }
    hrm_task_list l;
    bool refused = false;
    hrm_status s = hrm_task_scan(&l);
    for (int i = 0; !s && i < l.count && !*out && !refused; i++) {
        if (strcmp(l.items[i].name, spec)) continue;
        if (l.items[i].usable)
            *out = l.items[i].iface;
        else
            snprintf(err, err_size, "task %s (%s): %s", spec, l.items[i].path, l.items[i].reason);
        refused = !*out;
    }
    if (!s && !*out && !refused) {
        char names[512];
        snprintf(err, err_size, "no task plugin named '%s' (found: %s)", spec, names_of(&l, names, sizeof names));
    }
    hrm_task_list_free(&l);
    return *out ? HRM_OK : (s ? s : HRM_ERR_NOT_AVAILABLE);
}

hrm_status hrm_task_match(int seq_len, int vocab_size, const hrm_task_iface **out, char *err, size_t err_size) {
    hrm_task_list l;
    int matches = 0;
    *out = NULL;
    hrm_status s = hrm_task_scan(&l);
    for (int i = 0; !s && i < l.count; i++) {
        const hrm_task_iface *f = l.items[i].iface;
        if (l.items[i].usable && f->format.seq_len == seq_len && f->format.vocab_size == vocab_size) {
            *out = f;
            matches++;
        }
    }
    hrm_task_list_free(&l);
    if (s) return s;
    if (matches == 1) return HRM_OK;
    *out = NULL;
    snprintf(err, err_size, "%s task plugin has seq_len %d and vocab_size %d%s", matches ? "more than one" : "no",
             seq_len, vocab_size, matches ? ": name one with --task" : "");
    return HRM_ERR_NOT_AVAILABLE;
}
