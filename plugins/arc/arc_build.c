/* plugins/arc/arc_build.c - `hrm data build arc`: ARC task folders -> the published HRM ARC dataset.
 *
 * The recipe of sapientinc/HRM dataset/build_arc_dataset.py (the version that names variants
 * "task|||tT|||perm", which evaluators/arc.py inverts):
 * - one group per task and split; its puzzles are the original (named by the task id) and up to
 *   --aug variants, each a random dihedral transform and permutation of colours 1-9 (0 fixed),
 *   drawn at most 5 x --aug times; a variant whose multiset of (input, output) pairs equals one
 *   already taken, the original included, is dropped;
 * - tasks of --train-dirs give all their pairs to the train split; tasks of --eval-dirs give their
 *   demonstration pairs to the train split and their test pairs, with the same variants and
 *   names, to the test split;
 * - in the train split every example of a puzzle but one (drawn at random) is placed at a random
 *   offset in the 30x30 canvas (the same for its input and output); the test split is top-left.
 * Unlike the Python, a task's variants and offsets come from generators seeded by (--seed, task
 * id), so a task's data does not depend on which other files are read or skipped, and groups
 * follow the sorted file order instead of a shuffle (the sampler shuffles groups anyway). The
 * train split is written first, then the test split, so identifiers are numbered as published. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "arc.h"
#include "task_rng.h"

#define DEFAULT_AUG 1000 /* published num_aug */
#define DEFAULT_SEED 42  /* published seed */
#define RETRIES_FACTOR 5 /* published ARCAugmentRetriesFactor */
#define MAX_AUG 1000000
#define MAX_DEPTH 32 /* of folders below a given one: a guard against symbolic-link loops */

enum { SALT_PLAN = 1, SALT_TRAIN = 2, SALT_TEST = 3 };

const char arc_build_usage[] =
    "--train-dirs D1[,D2...]  task folders (searched recursively for *.json) whose pairs are all training data\n"
    "--eval-dirs E1[,E2...]   task folders whose demonstration pairs are training data and whose test pairs\n"
    "                         make the test split\n"
    "--aug N                  augmented variants per task besides the original (default 1000)\n"
    "--seed S                 seed of the augmentations and placements (default 42)\n"
    "--max-tasks N            keep the first N task files of each folder, sorted by path\n"
    "--strict                 stop at the first malformed task file instead of skipping it\n";

typedef struct dir_spec {
    char *path;
    bool eval; /* from --eval-dirs */
} dir_spec;

typedef struct task_file {
    char *path;
    char id[ARC_NAME_MAX]; /* "" when the name is unusable: the load reports it */
    bool eval, drop;
} task_file;

/* An eval task kept from the train pass for the test pass, with the variants it got. */
typedef struct held_task {
    arc_task task;
    arc_aug *plans;
    int n_plans;
} held_task;

typedef struct split_count {
    long groups, puzzles, examples;
} split_count;

typedef struct build_ctx {
    const hrm_task_host *host;
    char *err;
    size_t err_size;
    long aug, max_tasks;
    uint64_t seed;
    bool strict;
    dir_spec *dirs;
    int n_dirs;
    task_file *files;
    int n_files, cap_files;
    held_task *held;
    int n_held;
    uint64_t *seen; /* the variant hash set, seen_mask + 1 slots */
    size_t seen_mask;
    long malformed, duplicates, short_tasks;
    split_count train, test;
} build_ctx;

#define TRY(x)                                 \
    do {                                       \
        hrm_status try_st_ = (x);              \
        if (try_st_ != HRM_OK) return try_st_; \
    } while (0)

__attribute__((format(printf, 3, 4))) static void build_log(const build_ctx *b, hrm_log_level level, const char *fmt,
                                                            ...) {
    const hrm_task_host *h = b->host;
    if (!h || h->struct_size < offsetof(hrm_task_host, log) + sizeof h->log || !h->log) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    h->log(h->user, level, "arc", msg);
}

__attribute__((format(printf, 3, 4))) static hrm_status build_fail(build_ctx *b, hrm_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (b->err && b->err_size) vsnprintf(b->err, b->err_size, fmt, ap);
    va_end(ap);
    return st;
}

/* ---- options ---------------------------------------------------------------------------- */

/* Every error here is an option error, HRM_ERR_USAGE (hrm/task.h); a folder that cannot be opened
 * or holds no usable task is found later and is HRM_ERR_INVALID_ARG. */

/* Matches argv[*i] as --NAME VALUE or --NAME=VALUE. Returns 1 with *value set, 0 when it is
 * another option, -1 when the value is missing. */
static int match_valued(int argc, char **argv, int *i, const char *name, const char **value) {
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n)) return 0;
    if (argv[*i][n] == '=') {
        *value = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0') return 0;
    if (*i + 1 >= argc) return -1;
    *value = argv[++*i];
    return 1;
}

static hrm_status parse_count(build_ctx *b, const char *name, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return build_fail(b, HRM_ERR_USAGE, "%s wants an integer in [%ld, %ld], not '%s'", name, lo, hi, s);
    *out = (long)v;
    return HRM_OK;
}

static hrm_status parse_seed(build_ctx *b, const char *s) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return build_fail(b, HRM_ERR_USAGE, "--seed wants a non-negative integer, not '%s'", s);
    b->seed = v;
    return HRM_OK;
}

/* Appends each folder of a comma-separated list. */
static hrm_status add_dirs(build_ctx *b, const char *list, bool eval) {
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len) {
            dir_spec *dirs = realloc(b->dirs, (size_t)(b->n_dirs + 1) * sizeof *dirs);
            if (dirs) b->dirs = dirs;
            char *path = dirs ? strndup(p, len) : NULL;
            if (!path) return build_fail(b, HRM_ERR_OUT_OF_MEMORY, "out of memory reading the options");
            b->dirs[b->n_dirs++] = (dir_spec){path, eval};
        }
        p += len + (p[len] == ',');
    }
    return HRM_OK;
}

static hrm_status parse_option(build_ctx *b, int argc, char **argv, int *i) {
    static const char *const valued[] = {"--train-dirs", "--eval-dirs", "--aug", "--seed", "--max-tasks"};
    if (!strcmp(argv[*i], "--strict")) {
        b->strict = true;
        return HRM_OK;
    }
    for (int k = 0; k < (int)(sizeof valued / sizeof *valued); k++) {
        const char *v;
        int m = match_valued(argc, argv, i, valued[k], &v);
        if (m < 0) return build_fail(b, HRM_ERR_USAGE, "%s needs a value", valued[k]);
        if (m == 0) continue;
        switch (k) {
        case 0: return add_dirs(b, v, false);
        case 1: return add_dirs(b, v, true);
        case 2: return parse_count(b, "--aug", v, 0, MAX_AUG, &b->aug);
        case 3: return parse_seed(b, v);
        default: return parse_count(b, "--max-tasks", v, 1, 1000000000, &b->max_tasks);
        }
    }
    return build_fail(b, HRM_ERR_USAGE,
                      "unknown option '%s' (options: --train-dirs, --eval-dirs, --aug, "
                      "--seed, --max-tasks, --strict)",
                      argv[*i]);
}

static hrm_status parse_options(build_ctx *b, int argc, char **argv) {
    for (int i = 1; i < argc; i++) TRY(parse_option(b, argc, argv, &i));
    if (b->n_dirs == 0) return build_fail(b, HRM_ERR_USAGE, "give task folders with --train-dirs and/or --eval-dirs");
    return HRM_OK;
}

/* ---- task files ------------------------------------------------------------------------- */

static hrm_status add_file(build_ctx *b, const char *path, bool eval) {
    if (b->n_files == b->cap_files) {
        int cap = b->cap_files ? 2 * b->cap_files : 256;
        task_file *files = realloc(b->files, (size_t)cap * sizeof *files);
        if (!files) return build_fail(b, HRM_ERR_OUT_OF_MEMORY, "out of memory listing task files");
        b->files = files, b->cap_files = cap;
    }
    task_file *f = &b->files[b->n_files];
    memset(f, 0, sizeof *f);
    if (!(f->path = strdup(path))) return build_fail(b, HRM_ERR_OUT_OF_MEMORY, "out of memory listing task files");
    if (!arc_task_id(path, f->id, sizeof f->id)) f->id[0] = '\0';
    f->eval = eval;
    b->n_files++;
    return HRM_OK;
}

static bool is_json_name(const char *name) {
    size_t n = strlen(name);
    return n > 5 && !strcmp(name + n - 5, ".json");
}

/* The folders on the path from a given folder down to the one being read, by device and inode:
 * a folder that is its own ancestor (a symbolic link back up the tree) is a loop. */
typedef struct walk_path {
    dev_t dev[MAX_DEPTH + 1];
    ino_t ino[MAX_DEPTH + 1];
} walk_path;

/* Adds every *.json file below dir (hidden entries skipped); refuses a symbolic-link loop. */
static hrm_status walk(build_ctx *b, const char *dir, bool eval, int depth, walk_path *up) {
    struct stat self;
    if (stat(dir, &self) == 0) {
        for (int i = 0; i < depth; i++)
            if (up->dev[i] == self.st_dev && up->ino[i] == self.st_ino)
                return build_fail(b, HRM_ERR_INVALID_ARG, "%s: a symbolic-link loop (it is a folder above it again)",
                                  dir);
        up->dev[depth] = self.st_dev, up->ino[depth] = self.st_ino;
    } else {
        up->dev[depth] = 0, up->ino[depth] = 0; /* opendir below says why */
    }
    DIR *d = opendir(dir);
    if (!d) {
        if (depth == 0) return build_fail(b, HRM_ERR_INVALID_ARG, "cannot open folder %s: %s", dir, strerror(errno));
        build_log(b, HRM_LOG_WARN, "cannot open folder %s: %s (skipped)", dir, strerror(errno));
        return HRM_OK;
    }
    hrm_status st = HRM_OK;
    for (struct dirent *e; st == HRM_OK && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(len);
        struct stat sb;
        if (!path) {
            st = build_fail(b, HRM_ERR_OUT_OF_MEMORY, "out of memory listing %s", dir);
            break;
        }
        snprintf(path, len, "%s/%s", dir, e->d_name);
        bool known = stat(path, &sb) == 0;
        if (known && S_ISDIR(sb.st_mode) && depth < MAX_DEPTH)
            st = walk(b, path, eval, depth + 1, up);
        else if (known && S_ISREG(sb.st_mode) && is_json_name(e->d_name))
            st = add_file(b, path, eval);
        free(path);
    }
    closedir(d);
    return st;
}

static int by_path(const void *a, const void *b) {
    return strcmp(((const task_file *)a)->path, ((const task_file *)b)->path);
}

/* One folder's files, sorted by path (byte order, the same in every locale) and cut to --max-tasks. */
static hrm_status collect_dir(build_ctx *b, const char *dir, bool eval) {
    int first = b->n_files;
    walk_path up;
    TRY(walk(b, dir, eval, 0, &up));
    if (b->n_files > first) /* b->files may still be NULL: qsort's array must not be */
        qsort(b->files + first, (size_t)(b->n_files - first), sizeof *b->files, by_path);
    while (b->max_tasks > 0 && b->n_files - first > b->max_tasks) free(b->files[--b->n_files].path);
    if (b->n_files == first) build_log(b, HRM_LOG_WARN, "%s: no *.json task files", dir);
    return HRM_OK;
}

/* Same id first, eval tasks before training ones, then in listing order. */
static int by_id(const void *a, const void *b) {
    const task_file *x = *(const task_file *const *)a, *y = *(const task_file *const *)b;
    int c = strcmp(x->id, y->id);
    if (c) return c;
    if (x->eval != y->eval) return x->eval ? -1 : 1;
    return (x > y) - (x < y);
}

/* Equal ids would share identifiers (one task's variants would vote for another's), and a training
 * copy of an eval task would leak its test outputs: of each id only the first (an eval one if any)
 * is kept. ARC-AGI-2 training, for one, holds ARC-AGI-1 evaluation tasks under the same ids. */
static hrm_status drop_duplicates(build_ctx *b) {
    task_file **order = malloc((size_t)b->n_files * sizeof *order + 1);
    if (!order) return build_fail(b, HRM_ERR_OUT_OF_MEMORY, "out of memory listing task files");
    for (int i = 0; i < b->n_files; i++) order[i] = &b->files[i];
    qsort(order, (size_t)b->n_files, sizeof *order, by_id);
    for (int i = 1; i < b->n_files; i++) {
        task_file *kept = order[i - 1], *f = order[i];
        if (!f->id[0] || strcmp(f->id, kept->id)) continue;
        f->drop = true;
        order[i] = kept; /* the next duplicate compares with the kept one */
        b->duplicates++;
        build_log(b, HRM_LOG_WARN, "%s: task id %s already read from %s (skipped)", f->path, f->id, kept->path);
    }
    free(order);
    return HRM_OK;
}

/* ---- augmentation plans ----------------------------------------------------------------- */

/* A generator for one task and purpose: the same (seed, id, salt) gives the same draws on every
 * machine (bytes are serialised little-endian). */
static void seed_task_rng(task_rng *r, uint64_t seed, const char *id, int salt) {
    uint8_t bytes[9];
    for (int i = 0; i < 8; i++) bytes[i] = (uint8_t)(seed >> (8 * i));
    bytes[8] = (uint8_t)salt;
    uint64_t h = arc_hash_bytes(ARC_HASH_INIT, bytes, sizeof bytes);
    task_rng_seed(r, arc_hash_mix(arc_hash_bytes(h, id, strlen(id))));
}

static void random_aug(task_rng *r, arc_aug *a) {
    int perm[ARC_COLORS - 1];
    for (int k = 0; k < ARC_COLORS - 1; k++) perm[k] = k + 1;
    a->trans = task_rng_below(r, ARC_DIHEDRAL);
    task_rng_shuffle(r, perm, ARC_COLORS - 1);
    a->map[0] = 0;
    for (int k = 0; k < ARC_COLORS - 1; k++) a->map[k + 1] = (uint8_t)perm[k];
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The published puzzle_hash: a variant is its multiset of (input, output) pairs, all splits together.
 * scratch is (n_train + n_test). */
static uint64_t variant_hash(const arc_task *t, const arc_aug *a, uint64_t *scratch) {
    int n = t->n_train + t->n_test;
    arc_grid g;
    for (int i = 0; i < n; i++) {
        uint64_t h[2];
        arc_augment(&t->pairs[i].in, a, &g);
        h[0] = arc_grid_hash(&g);
        arc_augment(&t->pairs[i].out, a, &g);
        h[1] = arc_grid_hash(&g);
        scratch[i] = arc_hash_bytes(ARC_HASH_INIT, h, sizeof h);
    }
    qsort(scratch, (size_t)n, sizeof *scratch, cmp_u64);
    return arc_hash_mix(arc_hash_bytes(ARC_HASH_INIT, scratch, (size_t)n * sizeof *scratch));
}

/* Inserts h into the open-addressing set; false if it was there. 0 marks an empty slot. */
static bool seen_insert(build_ctx *b, uint64_t h) {
    h = h ? h : 1;
    for (size_t i = h & b->seen_mask;; i = (i + 1) & b->seen_mask) {
        if (b->seen[i] == h) return false;
        if (!b->seen[i]) {
            b->seen[i] = h;
            return true;
        }
    }
}

/* plans[0] is the original; returns how many distinct variants (at most aug + 1) were found. */
static int make_plans(build_ctx *b, const arc_task *t, arc_aug *plans, uint64_t *scratch) {
    task_rng r;
    int n = 1;
    seed_task_rng(&r, b->seed, t->id, SALT_PLAN);
    memset(b->seen, 0, (b->seen_mask + 1) * sizeof *b->seen);
    arc_aug_identity(&plans[0]);
    seen_insert(b, variant_hash(t, &plans[0], scratch));
    for (long trial = 0; trial < RETRIES_FACTOR * b->aug && n < b->aug + 1; trial++) {
        random_aug(&r, &plans[n]);
        if (seen_insert(b, variant_hash(t, &plans[n], scratch))) n++;
    }
    return n;
}

/* ---- writing groups --------------------------------------------------------------------- */

static hrm_status emit_example(const hrm_task_sink *sink, const arc_pair *pair, const arc_aug *a, task_rng *r) {
    arc_grid in, out;
    uint8_t tin[ARC_SEQ_LEN], tout[ARC_SEQ_LEN];
    arc_augment(&pair->in, a, &in);
    arc_augment(&pair->out, a, &out);
    int row = 0, col = 0;
    if (r) { /* published: the offset fits the larger of input and output */
        row = task_rng_below(r, ARC_MAX - (in.h > out.h ? in.h : out.h) + 1);
        col = task_rng_below(r, ARC_MAX - (in.w > out.w ? in.w : out.w) + 1);
    }
    arc_encode(&in, row, col, tin);
    arc_encode(&out, row, col, tout);
    return sink->add_example(sink->user, tin, tout);
}

/* One split's group of a task: every variant as a puzzle of pairs [first, first + n). With
 * `translate`, every example but one per puzzle (the published no_aug_id) is moved. */
static hrm_status emit_group(build_ctx *b, const hrm_task_sink *sink, split_count *count, const held_task *h, int first,
                             int n, bool translate) {
    task_rng r;
    if (n == 0) return HRM_OK;
    seed_task_rng(&r, b->seed, h->task.id, translate ? SALT_TRAIN : SALT_TEST);
    TRY(sink->begin_group(sink->user));
    for (int p = 0; p < h->n_plans; p++) {
        char name[ARC_NAME_MAX + 32];
        arc_name_format(name, sizeof name, h->task.id, p ? &h->plans[p] : NULL);
        TRY(sink->begin_puzzle(sink->user, name));
        int keep = task_rng_below(&r, n);
        for (int i = 0; i < n; i++)
            TRY(emit_example(sink, &h->task.pairs[first + i], &h->plans[p], translate && i != keep ? &r : NULL));
        count->puzzles++;
        count->examples += n;
    }
    count->groups++;
    return HRM_OK;
}

/* ---- the two passes ----------------------------------------------------------------------- */

static hrm_status bad_file(build_ctx *b, const char *path, const char *why) {
    if (b->strict) return build_fail(b, HRM_ERR_INVALID_ARG, "%s: %s", path, why);
    build_log(b, HRM_LOG_WARN, "%s: %s (skipped)", path, why);
    b->malformed++;
    return HRM_OK;
}

static void held_free(held_task *h) {
    arc_task_free(&h->task);
    free(h->plans);
    h->plans = NULL;
}

/* Loads a task and draws its variants; *loaded is false for a skipped file. */
static hrm_status load_task(build_ctx *b, const task_file *f, held_task *h, bool *loaded) {
    char why[256];
    *loaded = false;
    if (!arc_task_load(f->path, &h->task, why, sizeof why)) return bad_file(b, f->path, why);
    int n = h->task.n_train + h->task.n_test;
    uint64_t *scratch = malloc((size_t)n * sizeof *scratch);
    h->plans = malloc((size_t)(b->aug + 1) * sizeof *h->plans);
    if (!scratch || !h->plans) {
        free(scratch);
        held_free(h);
        return build_fail(b, HRM_ERR_OUT_OF_MEMORY, "out of memory augmenting %s", f->path);
    }
    h->n_plans = make_plans(b, &h->task, h->plans, scratch);
    free(scratch);
    if (h->n_plans < b->aug + 1) {
        b->short_tasks++;
        build_log(b, HRM_LOG_DEBUG, "%s: only %d distinct augmentations of %ld", f->path, h->n_plans - 1, b->aug);
    }
    *loaded = true;
    return HRM_OK;
}

/* Every task's group of the train split; eval tasks are kept for the test split. */
static hrm_status train_pass(build_ctx *b, const hrm_task_sink *train) {
    for (int i = 0; i < b->n_files; i++) {
        const task_file *f = &b->files[i];
        held_task h = {0};
        bool loaded;
        if (f->drop) continue;
        TRY(load_task(b, f, &h, &loaded));
        if (!loaded) continue;
        int n = f->eval ? h.task.n_train : h.task.n_train + h.task.n_test;
        hrm_status st = emit_group(b, train, &b->train, &h, 0, n, true);
        if (st != HRM_OK) {
            held_free(&h);
            return build_fail(b, st, "writing %s to the train split failed", f->path);
        }
        if (f->eval)
            b->held[b->n_held++] = h;
        else
            held_free(&h);
    }
    return HRM_OK;
}

static hrm_status test_pass(build_ctx *b, const hrm_task_sink *test) {
    for (int i = 0; i < b->n_held; i++) {
        const held_task *h = &b->held[i];
        hrm_status st = emit_group(b, test, &b->test, h, h->task.n_train, h->task.n_test, false);
        if (st != HRM_OK) return build_fail(b, st, "writing task %s to the test split failed", h->task.id);
    }
    return HRM_OK;
}

static hrm_status prepare(build_ctx *b, const hrm_task_sink *train, const hrm_task_sink *test) {
    bool any_eval = false;
    for (int i = 0; i < b->n_dirs; i++) any_eval |= b->dirs[i].eval;
    if (!train || (any_eval && !test)) return build_fail(b, HRM_ERR_INVALID_ARG, "no dataset sink for a split");
    for (int i = 0; i < b->n_dirs; i++) TRY(collect_dir(b, b->dirs[i].path, b->dirs[i].eval));
    TRY(drop_duplicates(b));
    size_t slots = 16;
    while (slots < 2 * (size_t)(b->aug + 1)) slots *= 2;
    b->seen = malloc(slots * sizeof *b->seen);
    b->held = malloc((size_t)b->n_files * sizeof *b->held + 1);
    if (!b->seen || !b->held) return build_fail(b, HRM_ERR_OUT_OF_MEMORY, "out of memory");
    b->seen_mask = slots - 1;
    return HRM_OK;
}

static void report(const build_ctx *b) {
    build_log(b, HRM_LOG_INFO,
              "train split: %ld groups, %ld puzzles, %ld examples; test split: %ld groups, %ld "
              "puzzles, %ld examples",
              b->train.groups, b->train.puzzles, b->train.examples, b->test.groups, b->test.puzzles, b->test.examples);
    if (b->short_tasks)
        build_log(b, HRM_LOG_INFO, "%ld tasks have fewer than %ld distinct augmentations", b->short_tasks, b->aug);
    if (b->duplicates) build_log(b, HRM_LOG_WARN, "skipped %ld task files with a duplicate task id", b->duplicates);
    if (b->malformed) build_log(b, HRM_LOG_WARN, "skipped %ld malformed task files", b->malformed);
}

static void build_free(build_ctx *b) {
    for (int i = 0; i < b->n_dirs; i++) free(b->dirs[i].path);
    for (int i = 0; i < b->n_files; i++) free(b->files[i].path);
    for (int i = 0; i < b->n_held; i++) held_free(&b->held[i]);
    free(b->dirs);
    free(b->files);
    free(b->held);
    free(b->seen);
}

hrm_status arc_build(const hrm_task_host *host, int argc, char **argv, const hrm_task_sink *train,
                     const hrm_task_sink *test, char *err, size_t err_size) {
    build_ctx b = {.host = host, .err = err, .err_size = err_size, .aug = DEFAULT_AUG, .seed = DEFAULT_SEED};
    if (err && err_size) err[0] = '\0';
    hrm_status st = parse_options(&b, argc, argv);
    if (st == HRM_OK) st = prepare(&b, train, test);
    if (st == HRM_OK) st = train_pass(&b, train);
    if (st == HRM_OK) st = test_pass(&b, test);
    if (st == HRM_OK) report(&b);
    if (st == HRM_OK && b.train.groups + b.test.groups == 0)
        st = build_fail(&b, HRM_ERR_INVALID_ARG, "no usable ARC task files in the given folders");
    build_free(&b);
    return st;
}
