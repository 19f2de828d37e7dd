/* tests/io_fixtures.c - temporary folders, hand-built files and a generated dataset for the
 * file-format tests (see io_fixtures.h). */
#include "io_fixtures.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io_util.h"
#include "sampler.h"

static char fx_root[1024];

void fx_setup(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(fx_root, sizeof fx_root, "%s/hrm-test-io-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_msg(mkdtemp(fx_root) != NULL, "mkdtemp(%s) failed", fx_root);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    chmod(path, 0700); /* a test may have left a folder read-only */
    return remove(path);
}

void fx_teardown(void) {
    if (fx_root[0]) nftw(fx_root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    fx_root[0] = 0;
}

const char *fx_path(const char *name) {
    static char ring[16][2048];
    static int next;
    char *p = ring[next++ & 15];
    snprintf(p, sizeof ring[0], "%s/%s", fx_root, name);
    return p;
}

void fx_write(const char *path, const void *data, size_t bytes) {
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(data, 1, bytes, f), bytes);
    ck_assert_int_eq(fclose(f), 0);
}

void *fx_read(const char *path, size_t *bytes) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *data = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *bytes = (size_t)n;
    return data;
}

int fx_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

void fx_npy_raw(const char *path, int major, const char *dict, const void *data, size_t bytes) {
    size_t prefix = major == 1 ? 10 : 12, len = strlen(dict) + 1;
    size_t total = (prefix + len + 63) / 64 * 64;
    unsigned char *buf = calloc(1, total + bytes + 1);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    for (size_t i = 0; i < prefix - 8; i++) buf[8 + i] = (unsigned char)((total - prefix) >> (8 * i));
    memcpy(buf + prefix, dict, len - 1);
    memset(buf + prefix + len - 1, ' ', total - prefix - len);
    buf[total - 1] = '\n';
    if (bytes) memcpy(buf + total, data, bytes);
    fx_write(path, buf, total + bytes);
    free(buf);
}

void fx_st_raw(const char *path, const char *header, const void *data, size_t bytes) {
    size_t hlen = strlen(header);
    unsigned char *buf = malloc(8 + hlen + bytes + 1);
    hrm_put_le64(buf, hlen);
    memcpy(buf + 8, header, hlen);
    if (bytes) memcpy(buf + 8 + hlen, data, bytes);
    fx_write(path, buf, 8 + hlen + bytes);
    free(buf);
}

void fx_expect_error(hrm_status status, const char *err, const char *file, const char *problem, int line) {
    ck_assert_msg(status != HRM_OK, "line %d: expected an error mentioning %s, got HRM_OK", line, file);
    ck_assert_msg(err[0] && !strchr(err, '\n'), "line %d: error is empty or not one line: '%s'", line, err);
    ck_assert_msg(strstr(err, file) != NULL, "line %d: error '%s' does not name '%s'", line, err, file);
    ck_assert_msg(!problem || strstr(err, problem), "line %d: error '%s' does not say '%s'", line, err, problem);
}

/* ---- a generated dataset ------------------------------------------------------------------ */

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Puzzle and group structure: P puzzles in G groups, N examples. */
static void fx_structure(hrm_dataset *ds, int groups, hrm_rng *r) {
    int P = 0, N = 0;
    ds->num_groups = groups;
    ds->group_indices = xcalloc((size_t)groups + 1, sizeof(int32_t));
    ds->puzzle_indices = xcalloc((size_t)groups * 3 + 1, sizeof(int32_t));
    ds->puzzle_identifiers = xcalloc((size_t)groups * 3, sizeof(int32_t));
    for (int g = 0; g < groups; g++) {
        int puzzles = 1 + (int)hrm_rng_below(r, 3);
        for (int k = 0; k < puzzles; k++, P++) {
            N += 1 + (int)hrm_rng_below(r, 4);
            ds->puzzle_indices[P + 1] = N;
            ds->puzzle_identifiers[P] = 1 + (int)hrm_rng_below(r, 4);
        }
        ds->group_indices[g + 1] = P;
    }
    ds->num_puzzles = P;
    ds->num_examples = N;
}

static void fx_tokens(hrm_npy_array *a, const hrm_dataset *ds, hrm_npy_dtype dtype, int lo, hrm_rng *r) {
    size_t count = (size_t)ds->num_examples * (size_t)ds->meta.seq_len;
    a->dtype = dtype;
    a->ndim = 2;
    a->shape[0] = ds->num_examples;
    a->shape[1] = ds->meta.seq_len;
    a->count = count;
    a->data = xcalloc(count, hrm_npy_dtype_size(dtype));
    for (size_t i = 0; i < count; i++) {
        int v = lo + (int)hrm_rng_below(r, ds->meta.vocab_size - lo);
        if (dtype == HRM_NPY_U8)
            ((uint8_t *)a->data)[i] = (uint8_t)v;
        else
            ((int32_t *)a->data)[i] = v;
    }
}

void fx_dataset(hrm_dataset *ds, int groups, uint64_t seed, hrm_npy_dtype tokens) {
    static const char *const names[] = {"<blank>", "alpha", "beta", "gamma", "delta"};
    hrm_rng r;
    hrm_rng_seed(&r, seed);
    memset(ds, 0, sizeof *ds);
    ds->meta = (hrm_dataset_meta){.pad_id = 0,
                                  .has_ignore_label = true,
                                  .ignore_label_id = 0,
                                  .blank_identifier_id = 0,
                                  .vocab_size = 6,
                                  .seq_len = 4,
                                  .num_puzzle_identifiers = 5,
                                  .total_groups = groups};
    fx_structure(ds, groups, &r);
    ds->meta.mean_puzzle_examples = (double)ds->num_examples / ds->num_puzzles;
    fx_tokens(&ds->inputs, ds, tokens, 1, &r);
    fx_tokens(&ds->labels, ds, tokens, 0, &r);
    ds->num_identifiers = 5;
    ds->identifiers = xcalloc(5, sizeof(char *));
    for (int i = 0; i < 5; i++) ds->identifiers[i] = strdup(names[i]);
}
