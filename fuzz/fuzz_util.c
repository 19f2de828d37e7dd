/* fuzz/fuzz_util.c - see fuzz_util.h. */
#include "fuzz_util.h"

#include <errno.h>
#include <fcntl.h>
#include <sanitizer/common_interface_defs.h>
#include <stdint.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[PATH_MAX];

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st, (void)type, (void)ftw;
    return remove(path) ? -1 : 0;
}

static void remove_path(const char *path) {
    struct stat st;
    if (lstat(path, &st)) return;
    if (S_ISDIR(st.st_mode))
        nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    else
        remove(path);
}

static void cleanup(void) {
    if (dir[0]) remove_path(dir);
}

static void die(const char *what, const char *path) {
    fprintf(stderr, "fuzz harness: %s %s: %s\n", what, path, strerror(errno));
    abort();
}

const char *fuzz_dir(void) {
    if (!dir[0]) {
        /* tmpfs where there is one: the harness writes a file per execution */
        const char *base = getenv("TMPDIR");
        struct stat st;
        if (!base || !*base)
            base = !stat("/dev/shm", &st) && S_ISDIR(st.st_mode) && !access("/dev/shm", W_OK) ? "/dev/shm" : "/tmp";
        snprintf(dir, sizeof dir, "%s/hrm-fuzz-XXXXXX", base);
        if (!mkdtemp(dir)) die("cannot create a folder like", dir);
        atexit(cleanup);
    }
    return dir;
}

const char *fuzz_write(const char *name, const uint8_t *data, size_t size) {
    /* one buffer per distinct name is enough: harnesses use a handful of fixed names */
    static struct {
        char name[64];
        char path[PATH_MAX];
    } slots[16];
    int i = 0;
    while (i < 16 && slots[i].name[0] && strcmp(slots[i].name, name)) i++;
    if (i == 16) die("too many file names for", name);
    if (!slots[i].name[0]) {
        snprintf(slots[i].name, sizeof slots[i].name, "%s", name);
        snprintf(slots[i].path, sizeof slots[i].path, "%s/%s", fuzz_dir(), name);
    }
    const char *path = slots[i].path;
    FILE *f = fopen(path, "wb");
    if (!f) die("cannot write", path);
    if ((size && fwrite(data, 1, size, f) != size) || fclose(f)) die("cannot write", path);
    return path;
}

void fuzz_remove(const char *name) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    remove_path(path);
}

int fuzz_split(const uint8_t *data, size_t size, int max, size_t *off, size_t *len) {
    const size_t sep = strlen(FUZZ_SEPARATOR);
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; n < max - 1 && size >= sep && i <= size - sep; i++) {
        if (memcmp(data + i, FUZZ_SEPARATOR, sep)) continue;
        off[n] = start, len[n] = i - start, n++;
        start = i + sep;
        i = start - 1;
    }
    off[n] = start, len[n] = size - start;
    return n + 1;
}

int fuzz_same_config(const hrm_config *a, const hrm_config *b) {
    return a->hidden_size == b->hidden_size && a->num_heads == b->num_heads && a->H_layers == b->H_layers &&
           a->L_layers == b->L_layers && a->H_cycles == b->H_cycles && a->L_cycles == b->L_cycles &&
           a->expansion == b->expansion && a->puzzle_emb_ndim == b->puzzle_emb_ndim &&
           a->pos_encodings == b->pos_encodings && a->rope_theta == b->rope_theta &&
           a->rms_norm_eps == b->rms_norm_eps && a->halt_max_steps == b->halt_max_steps &&
           a->halt_exploration_prob == b->halt_exploration_prob && a->vocab_size == b->vocab_size &&
           a->seq_len == b->seq_len && a->num_puzzle_identifiers == b->num_puzzle_identifiers && a->arch == b->arch &&
           a->puzzle_emb_len == b->puzzle_emb_len && a->mlp_t == b->mlp_t && a->no_ACT_continue == b->no_ACT_continue;
}

void fuzz_quiet(int (*cmd)(const char *prog, int argc, char **argv), const char *prog, int argc, char **argv) {
    fflush(stdout);
    fflush(stderr);
    int null = open("/dev/null", O_WRONLY), out = dup(1), err = dup(2);
    if (null < 0 || out < 0 || err < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0) die("cannot silence", "stdout");
    /* a sanitizer report in the command still reaches the real stderr */
    __sanitizer_set_report_fd((void *)(intptr_t)err);
    (void)cmd(prog, argc, argv);
    fflush(stdout);
    fflush(stderr);
    __sanitizer_set_report_fd((void *)(intptr_t)2);
    dup2(out, 1);
    dup2(err, 2);
    close(null), close(out), close(err);
}
