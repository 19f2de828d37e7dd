/* core/dataset_builder.c - task sink calls -> a dataset in the published layout (see
 * dataset_builder.h). Examples go to two raw files per split (inputs, labels: seq_len bytes per
 * example); at commit they are mapped and written as .npy through hrm_dataset_write, which checks
 * the whole split before anything is renamed into place. */
#include "dataset_builder.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset.h"
#include "io_util.h"

static const char *const SPLIT_NAMES[2] = {"train", "test"};

typedef struct i32_vec {
    int32_t *v;
    int64_t n, cap;
} i32_vec;

typedef struct split_state {
    hrm_dataset_builder *b;
    char inputs_path[PATH_MAX], labels_path[PATH_MAX];
    FILE *inputs, *labels;
    int64_t examples;
    i32_vec ids, puzzles, groups; /* puzzle_identifiers, puzzle_indices, group_indices */
    bool in_group, group_has_puzzle, have_puzzle, puzzle_open;
    int32_t puzzle_id; /* identifier of the puzzle begun last */
} split_state;

struct hrm_dataset_builder {
    char out[PATH_MAX], partial[PATH_MAX], lock_path[PATH_MAX]; /* OUT, OUT.partial, OUT.partial.lock */
    int lock_fd; /* holds the flock() on lock_path; -1 before it is taken */
    hrm_task_format fmt;
    bool replace;
    split_state split[2];
    char **names; /* identifier names; names[0] = "<blank>" */
    int num_names, names_cap;
    int32_t *table; /* open addressing: index into names, or -1 */
    int table_cap;
    char err[1024];
};

static hrm_status fail(hrm_dataset_builder *b, hrm_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static hrm_status fail(hrm_dataset_builder *b, hrm_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, sizeof b->err, fmt, ap);
    va_end(ap);
    return s;
}

static bool vec_push(i32_vec *v, int32_t x) {
    if (v->n == v->cap) {
        int64_t cap = v->cap ? 2 * v->cap : 1024;
        int32_t *p = realloc(v->v, (size_t)cap * sizeof *p);
        if (!p) return false;
        v->v = p;
        v->cap = cap;
    }
    v->v[v->n++] = x;
    return true;
}

/* ---- identifier names ---------------------------------------------------------------------- */

static uint64_t hash_name(const char *s) { /* FNV-1a */
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static bool table_grow(hrm_dataset_builder *b) {
    int cap = b->table_cap ? 2 * b->table_cap : 1024;
    int32_t *t = malloc((size_t)cap * sizeof *t);
    if (!t) return false;
    for (int i = 0; i < cap; i++) t[i] = -1;
    for (int i = 0; i < b->num_names; i++) {
        uint64_t h = hash_name(b->names[i]) & (uint64_t)(cap - 1);
        while (t[h] >= 0) h = (h + 1) & (uint64_t)(cap - 1);
        t[h] = i;
    }
    free(b->table);
    b->table = t;
    b->table_cap = cap;
    return true;
}

static bool add_name(hrm_dataset_builder *b, const char *name) {
    if (b->num_names == b->names_cap) {
        int cap = b->names_cap ? 2 * b->names_cap : 1024;
        char **p = realloc(b->names, (size_t)cap * sizeof *p);
        if (!p) return false;
        b->names = p;
        b->names_cap = cap;
    }
    if (!(b->names[b->num_names] = strdup(name))) return false;
    b->num_names++;
    if (2 * b->num_names > b->table_cap) return table_grow(b); /* rehashes every name, the new one too */
    uint64_t mask = (uint64_t)(b->table_cap - 1), h = hash_name(name) & mask;
    while (b->table[h] >= 0) h = (h + 1) & mask;
    b->table[h] = b->num_names - 1;
    return true;
}

/* The identifier of name, added on first sight. -1 when out of memory. */
static int32_t identifier_of(hrm_dataset_builder *b, const char *name) {
    if (!name || !name[0]) return 0;
    uint64_t mask = (uint64_t)(b->table_cap - 1), h = hash_name(name) & mask;
    for (; b->table[h] >= 0; h = (h + 1) & mask)
        if (!strcmp(b->names[b->table[h]], name)) return b->table[h];
    if (b->num_names == INT32_MAX || !add_name(b, name)) return -1;
    return b->num_names - 1;
}

/* ---- the sink ------------------------------------------------------------------------------ */

static void close_puzzle(split_state *s) {
    if (s->puzzle_open) vec_push(&s->puzzles, (int32_t)s->examples); /* capacity reserved by open */
    s->puzzle_open = false;
}

static void close_group(split_state *s) {
    close_puzzle(s);
    if (s->group_has_puzzle) vec_push(&s->groups, (int32_t)(s->puzzles.n - 1));
    s->group_has_puzzle = false;
}

static hrm_status sink_begin_group(void *user) {
    split_state *s = user;
    close_group(s);
    s->in_group = true;
    s->have_puzzle = false;
    return HRM_OK;
}

static hrm_status sink_begin_puzzle(void *user, const char *name) {
    split_state *s = user;
    hrm_dataset_builder *b = s->b;
    if (!s->in_group) return fail(b, HRM_ERR_INVALID_ARG, "task error: begin_puzzle before begin_group");
    close_puzzle(s);
    s->puzzle_id = identifier_of(b, name);
    if (s->puzzle_id < 0) return fail(b, HRM_ERR_OUT_OF_MEMORY, "out of memory for puzzle identifiers");
    s->have_puzzle = true;
    return HRM_OK;
}

static hrm_status check_tokens(split_state *s, const uint8_t *t, bool label) {
    const hrm_task_format *f = &s->b->fmt;
    for (int i = 0; i < f->seq_len; i++)
        if (t[i] >= f->vocab_size && !(label && f->has_ignore_label && t[i] == f->ignore_label_id))
            return fail(s->b, HRM_ERR_INVALID_ARG,
                        "task error: %s token %d at position %d is outside the vocabulary (%d)",
                        label ? "label" : "input", t[i], i, f->vocab_size);
    return HRM_OK;
}

/* The first example of a puzzle opens it (and its group): empty puzzles and groups never appear. */
static hrm_status open_puzzle(split_state *s) {
    hrm_dataset_builder *b = s->b;
    if (s->puzzles.n >= INT32_MAX - 1) return fail(b, HRM_ERR_INVALID_ARG, "more puzzles than int32 indices hold");
    if (!vec_push(&s->ids, s->puzzle_id) || !vec_push(&s->puzzles, 0) || !vec_push(&s->groups, 0))
        return fail(b, HRM_ERR_OUT_OF_MEMORY, "out of memory for dataset indices");
    s->puzzles.n--; /* reserve room for close_puzzle and close_group: they cannot fail */
    s->groups.n--;
    s->puzzle_open = true;
    s->group_has_puzzle = true;
    return HRM_OK;
}

static hrm_status sink_add_example(void *user, const uint8_t *input, const uint8_t *label) {
    split_state *s = user;
    hrm_dataset_builder *b = s->b;
    size_t L = (size_t)b->fmt.seq_len;
    hrm_status st;
    if (!s->have_puzzle) return fail(b, HRM_ERR_INVALID_ARG, "task error: add_example before begin_puzzle");
    if ((st = check_tokens(s, input, false)) || (st = check_tokens(s, label, true))) return st;
    if (s->examples >= INT32_MAX) return fail(b, HRM_ERR_INVALID_ARG, "more examples than int32 indices hold");
    if (!s->puzzle_open && (st = open_puzzle(s))) return st;
    if (fwrite(input, 1, L, s->inputs) != L || fwrite(label, 1, L, s->labels) != L)
        return fail(b, HRM_ERR_NOT_AVAILABLE, "%s: cannot write: %s", s->inputs_path, strerror(errno));
    s->examples++;
    return HRM_OK;
}

hrm_task_sink hrm_dsb_sink(hrm_dataset_builder *b, int split) {
    hrm_task_sink k = {.user = &b->split[split],
                       .begin_group = sink_begin_group,
                       .begin_puzzle = sink_begin_puzzle,
                       .add_example = sink_add_example};
    return k;
}

const char *hrm_dsb_error(const hrm_dataset_builder *b) { return b->err; }

hrm_dsb_counts hrm_dsb_counts_of(const hrm_dataset_builder *b, int split) {
    const split_state *s = &b->split[split];
    hrm_dsb_counts c = {s->examples, s->puzzles.n - 1 + s->puzzle_open, s->groups.n - 1 + s->group_has_puzzle};
    return c;
}

int hrm_dsb_identifiers(const hrm_dataset_builder *b) { return b->num_names; }

/* ---- open, commit, abort ------------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(const char *path) { nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

static hrm_status open_split(hrm_dataset_builder *b, int i) {
    split_state *s = &b->split[i];
    char dir[PATH_MAX];
    s->b = b;
    if (snprintf(dir, sizeof dir, "%s/%s", b->partial, SPLIT_NAMES[i]) >= (int)sizeof dir - 16)
        return fail(b, HRM_ERR_INVALID_ARG, "%s: path too long", b->partial);
    if (snprintf(s->inputs_path, sizeof s->inputs_path, "%s/inputs.raw", dir) < 0 ||
        snprintf(s->labels_path, sizeof s->labels_path, "%s/labels.raw", dir) < 0)
        return fail(b, HRM_ERR_INVALID_ARG, "%s: path too long", dir);
    if (mkdir(dir, 0777) && errno != EEXIST)
        return fail(b, HRM_ERR_NOT_AVAILABLE, "%s: cannot create: %s", dir, strerror(errno));
    if (!(s->inputs = fopen(s->inputs_path, "wb")) || !(s->labels = fopen(s->labels_path, "wb")))
        return fail(b, HRM_ERR_NOT_AVAILABLE, "%s: cannot create: %s", dir, strerror(errno));
    if (!vec_push(&s->puzzles, 0) || !vec_push(&s->groups, 0)) return fail(b, HRM_ERR_OUT_OF_MEMORY, "out of memory");
    return HRM_OK;
}

/* ---- the lock ------------------------------------------------------------------------------
 * A build of OUT holds an exclusive flock() on OUT.partial.lock from open to commit or abort, and
 * only the holder creates or removes OUT.partial. The kernel drops the lock when its process ends
 * in any way (SIGKILL, a crash), so an OUT.partial found while holding the lock was left by a build
 * that died. The file holds the holder's pid, for the message to a second build of OUT. */

/* The pid written in a lock file held by another build; 0 when not (yet) written. */
static long holder_pid(int fd) {
    char text[32];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    if (n <= 0) return 0;
    text[n] = 0;
    long pid = strtol(text, NULL, 10);
    return pid > 0 ? pid : 0;
}

/* Over a stale pid of any length: the reader stops at the newline. The pid only names this build
 * in another's message, so a failure to write it is not the build's. */
static void write_pid(int fd) {
    char text[32];
    int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    ssize_t written = pwrite(fd, text, (size_t)n, 0);
    (void)written;
}

static hrm_status take_lock(hrm_dataset_builder *b) {
    for (int tries = 0; tries < 16; tries++) {
        int fd = open(b->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0) return fail(b, HRM_ERR_NOT_AVAILABLE, "%s: cannot create: %s", b->lock_path, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB)) {
            int e = errno;
            long pid = e == EWOULDBLOCK ? holder_pid(fd) : 0;
            close(fd);
            if (e != EWOULDBLOCK)
                return fail(b, HRM_ERR_NOT_AVAILABLE, "%s: cannot lock: %s", b->lock_path, strerror(e));
            if (!pid)
                return fail(b, HRM_ERR_NOT_AVAILABLE, "%s: another `hrm data build` is writing %s", b->partial, b->out);
            return fail(b, HRM_ERR_NOT_AVAILABLE, "%s: another `hrm data build` is writing %s (pid %ld)", b->partial,
                        b->out, pid);
        }
        /* A build that ended between our open and flock unlinked the file we locked: lock the new one. */
        struct stat held, named;
        if (!fstat(fd, &held) && !stat(b->lock_path, &named) && held.st_dev == named.st_dev &&
            held.st_ino == named.st_ino) {
            write_pid(fd);
            b->lock_fd = fd;
            return HRM_OK;
        }
        close(fd);
    }
    return fail(b, HRM_ERR_NOT_AVAILABLE, "%s: cannot lock: the file keeps being replaced", b->lock_path);
}

/* Unlinks the lock file while still holding it, so that a build which opened it meanwhile finds it
 * unlinked once it gets the lock (take_lock) rather than sharing a removed file with a third. */
static void drop_lock(hrm_dataset_builder *b) {
    if (b->lock_fd < 0) return;
    unlink(b->lock_path);
    close(b->lock_fd);
    b->lock_fd = -1;
}

static void free_builder(hrm_dataset_builder *b) {
    for (int i = 0; i < 2; i++) {
        split_state *s = &b->split[i];
        if (s->inputs) fclose(s->inputs);
        if (s->labels) fclose(s->labels);
        free(s->ids.v), free(s->puzzles.v), free(s->groups.v);
    }
    drop_lock(b);
    for (int i = 0; i < b->num_names; i++) free(b->names[i]);
    free(b->names), free(b->table), free(b);
}

void hrm_dsb_abort(hrm_dataset_builder *b) {
    if (!b) return;
    for (int i = 0; i < 2; i++) { /* close before removing the files */
        if (b->split[i].inputs) fclose(b->split[i].inputs);
        if (b->split[i].labels) fclose(b->split[i].labels);
        b->split[i].inputs = b->split[i].labels = NULL;
    }
    if (b->lock_fd >= 0) remove_tree(b->partial); /* without the lock it is another build's */
    free_builder(b);
}

/* Appends one warning to warn ("; " between two). */
static void add_warning(char *warn, size_t warn_size, const char *fmt, const char *path) {
    size_t n = warn_size ? strlen(warn) : 0;
    if (n + 3 < warn_size) {
        if (n) n += (size_t)snprintf(warn + n, warn_size - n, "; ");
        snprintf(warn + n, warn_size - n, fmt, path);
    }
}

/* Cleans up after a build that died (we hold the lock: no live build writes these): its
 * OUT.partial goes; and its OUT.partial.old (move_into_place's copy of the OUT it replaces) comes
 * back as OUT when the build died between its two renames, leaving no OUT, or goes when it died
 * after them. Names that start with OUT.partial are the builder's; OUT.old could be the user's. */
static hrm_status remove_stale(hrm_dataset_builder *b, char *warn, size_t warn_size) {
    struct stat st;
    char old[PATH_MAX + 16];
    if (!lstat(b->partial, &st)) {
        remove_tree(b->partial);
        if (!lstat(b->partial, &st))
            return fail(b, HRM_ERR_NOT_AVAILABLE, "%s: left by an interrupted build and cannot be removed", b->partial);
        add_warning(warn, warn_size, "removed %s left by an interrupted build", b->partial);
    }
    snprintf(old, sizeof old, "%s.old", b->partial);
    if (lstat(old, &st)) return HRM_OK;
    if (lstat(b->out, &st)) {
        if (rename(old, b->out))
            return fail(b, HRM_ERR_NOT_AVAILABLE, "%s: cannot restore it from %s: %s", b->out, old, strerror(errno));
        add_warning(warn, warn_size, "restored %s from the copy an interrupted replacing build left", b->out);
        return HRM_OK;
    }
    remove_tree(old);
    if (!lstat(old, &st))
        return fail(b, HRM_ERR_NOT_AVAILABLE, "%s: left by an interrupted build and cannot be removed", old);
    add_warning(warn, warn_size, "removed %s left by an interrupted build", old);
    return HRM_OK;
}

hrm_status hrm_dsb_open(const char *out, const hrm_task_format *fmt, bool replace, hrm_dataset_builder **bp, char *warn,
                        size_t warn_size, char *err, size_t err_size) {
    struct stat st;
    hrm_dataset_builder *b = calloc(1, sizeof *b);
    *bp = NULL;
    if (warn_size) warn[0] = 0;
    if (b) b->lock_fd = -1;
    if (!b || !table_grow(b) || !add_name(b, "<blank>")) {
        if (b) free_builder(b);
        snprintf(err, err_size, "out of memory");
        return HRM_ERR_OUT_OF_MEMORY;
    }
    b->fmt = *fmt;
    b->replace = replace;
    if (snprintf(b->out, sizeof b->out, "%s", out) >= (int)sizeof b->out ||
        snprintf(b->partial, sizeof b->partial, "%s.partial", out) >= (int)sizeof b->partial ||
        snprintf(b->lock_path, sizeof b->lock_path, "%s.partial.lock", out) >= (int)sizeof b->lock_path) {
        free_builder(b);
        snprintf(err, err_size, "%s: path too long", out);
        return HRM_ERR_INVALID_ARG;
    }
    hrm_status s = take_lock(b);
    if (!s) s = remove_stale(b, warn, warn_size); /* also when OUT exists: the next step refuses */
    if (!s && !replace && !stat(out, &st))
        s = fail(b, HRM_ERR_INVALID_ARG, "%s: already exists (choose another --out, or --force to replace it)", out);
    if (!s && mkdir(b->partial, 0777))
        s = fail(b, HRM_ERR_NOT_AVAILABLE, "%s: cannot create: %s", b->partial, strerror(errno));
    for (int i = 0; !s && i < 2; i++) s = open_split(b, i);
    if (s) {
        snprintf(err, err_size, "%s", b->err);
        hrm_dsb_abort(b);
        return s;
    }
    *bp = b;
    return HRM_OK;
}

/* Maps a raw file of `bytes` bytes read-only (bytes > 0). */
static void *map_file(const char *path, size_t bytes) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    void *p = mmap(NULL, bytes, PROT_READ, MAP_PRIVATE, fileno(f), 0);
    fclose(f);
    return p == MAP_FAILED ? NULL : p;
}

static hrm_status write_split(hrm_dataset_builder *b, int i, char *err, size_t err_size) {
    split_state *s = &b->split[i];
    size_t bytes = (size_t)s->examples * (size_t)b->fmt.seq_len;
    hrm_dataset ds = {0};
    int closed = fclose(s->inputs) | fclose(s->labels);
    s->inputs = s->labels = NULL;
    if (closed)
        return hrm_io_fail(err, err_size, HRM_ERR_NOT_AVAILABLE, s->inputs_path, "cannot write: %s", strerror(errno));
    ds.meta = (hrm_dataset_meta){.pad_id = b->fmt.pad_id,
                                 .has_ignore_label = b->fmt.has_ignore_label,
                                 .ignore_label_id = b->fmt.ignore_label_id,
                                 .blank_identifier_id = 0,
                                 .vocab_size = b->fmt.vocab_size,
                                 .seq_len = b->fmt.seq_len,
                                 .num_puzzle_identifiers = b->num_names,
                                 .total_groups = (int)(s->groups.n - 1),
                                 .mean_puzzle_examples = (double)s->examples / (double)(s->puzzles.n - 1)};
    ds.num_examples = (int)s->examples;
    ds.num_puzzles = (int)(s->puzzles.n - 1);
    ds.num_groups = (int)(s->groups.n - 1);
    ds.puzzle_identifiers = s->ids.v;
    ds.puzzle_indices = s->puzzles.v;
    ds.group_indices = s->groups.v;
    ds.identifiers = b->names;
    ds.num_identifiers = b->num_names;
    hrm_npy_array *arrays[2] = {&ds.inputs, &ds.labels};
    const char *paths[2] = {s->inputs_path, s->labels_path};
    for (int k = 0; k < 2; k++) {
        *arrays[k] = (hrm_npy_array){.dtype = HRM_NPY_U8, .descr = "|u1", .ndim = 2, .count = bytes};
        arrays[k]->shape[0] = s->examples;
        arrays[k]->shape[1] = b->fmt.seq_len;
        arrays[k]->data = map_file(paths[k], bytes);
    }
    hrm_status st = HRM_OK;
    if (!ds.inputs.data || !ds.labels.data)
        st = hrm_io_fail(err, err_size, HRM_ERR_NOT_AVAILABLE, s->inputs_path, "cannot map: %s", strerror(errno));
    else
        st = hrm_dataset_write(&ds, b->partial, SPLIT_NAMES[i], err, err_size);
    for (int k = 0; k < 2; k++)
        if (arrays[k]->data) munmap(arrays[k]->data, bytes);
    remove(s->inputs_path);
    remove(s->labels_path);
    return st;
}

/* partial -> out; an existing out (replace) is moved aside first and removed after. */
static hrm_status move_into_place(hrm_dataset_builder *b, char *err, size_t err_size) {
    char old[PATH_MAX + 16];
    struct stat st;
    bool had = !stat(b->out, &st);
    snprintf(old, sizeof old, "%s.old", b->partial); /* OUT.partial.old: see remove_stale */
    if (had) {
        remove_tree(old);
        if (rename(b->out, old))
            return hrm_io_fail(err, err_size, HRM_ERR_NOT_AVAILABLE, b->out, "cannot replace: %s", strerror(errno));
    }
    if (rename(b->partial, b->out)) {
        int e = errno;
        if (had) rename(old, b->out);
        return hrm_io_fail(err, err_size, HRM_ERR_NOT_AVAILABLE, b->out, "cannot rename %s onto it: %s", b->partial,
                           strerror(e));
    }
    if (had) remove_tree(old);
    return HRM_OK;
}

hrm_status hrm_dsb_commit(hrm_dataset_builder *b, char *warn, size_t warn_size, char *err, size_t err_size) {
    hrm_status st = HRM_OK;
    if (warn_size) warn[0] = 0;
    for (int i = 0; i < 2; i++) close_group(&b->split[i]);
    if (!b->split[HRM_SPLIT_TRAIN].examples) {
        snprintf(err, err_size, "%s: the build produced no training examples", b->out);
        st = HRM_ERR_INVALID_ARG;
    }
    for (int i = 0; !st && i < 2; i++) {
        if (b->split[i].examples) {
            st = write_split(b, i, err, err_size);
        } else {
            snprintf(warn, warn_size, "no %s examples: %s/%s is not written", SPLIT_NAMES[i], b->out, SPLIT_NAMES[i]);
        }
    }
    if (!st) {
        char dir[PATH_MAX + 8];
        snprintf(dir, sizeof dir, "%s/test", b->partial);
        if (!b->split[HRM_SPLIT_TEST].examples) remove_tree(dir);
        st = move_into_place(b, err, err_size);
    }
    hrm_dsb_abort(b); /* after a successful rename there is no partial left to remove */
    return st;
}
