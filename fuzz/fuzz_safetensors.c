/* fuzz/fuzz_safetensors.c - hrm_st_read_mixed and hrm_st_read on one safetensors file (the
 * container of checkpoints and training states). Every accepted tensor is read to its end, and
 * what hrm_st_read accepts must survive the round trip: hrm_st_write (F32), then hrm_st_read
 * again, gives the same names, shapes, values (bit for bit) and metadata. */
#include "fuzz_util.h"
#include "safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void touch(const hrm_st_file *f) {
    volatile float sink = 0;
    for (int i = 0; i < f->count; i++) {
        const hrm_st_tensor *t = &f->tensors[i];
        size_t count = 1;
        for (int d = 0; d < t->ndim; d++) count *= (size_t)t->shape[d];
        if (count != t->count || !t->name || hrm_st_find(f, t->name) != t) abort();
        if (t->count && t->data) sink += t->data[0] + t->data[t->count - 1];
        if (t->count && t->ints) sink += (float)t->ints[0] + (float)t->ints[t->count - 1];
    }
    for (int i = 0; i < f->meta_count; i++)
        if (hrm_st_meta(f, f->meta_keys[i]) != f->meta_values[i] || !f->meta_values[i]) abort();
    (void)sink;
}

static void round_trip(const hrm_st_file *f) {
    hrm_st_entry *e = calloc((size_t)f->count + 1, sizeof *e);
    if (!e) return;
    for (int i = 0; i < f->count; i++)
        e[i] = (hrm_st_entry){f->tensors[i].name, f->tensors[i].ndim, f->tensors[i].shape, f->tensors[i].data};
    const char *copy = fuzz_write("copy.safetensors", NULL, 0);
    hrm_st_file g;
    char err[512];
    if (hrm_st_write(copy, e, f->count, (const char *const *)f->meta_keys, (const char *const *)f->meta_values,
                     f->meta_count, err, sizeof err) ||
        hrm_st_read(copy, &g, err, sizeof err)) {
        fprintf(stderr, "fuzz_safetensors: a file we read does not write and read back: %s\n", err);
        abort();
    }
    if (g.count != f->count || g.meta_count != f->meta_count) abort();
    for (int i = 0; i < f->count; i++) {
        const hrm_st_tensor *a = &f->tensors[i], *b = &g.tensors[i];
        if (strcmp(a->name, b->name) || a->ndim != b->ndim || a->count != b->count ||
            memcmp(a->shape, b->shape, sizeof a->shape[0] * (size_t)a->ndim) ||
            (a->count && memcmp(a->data, b->data, a->count * sizeof *a->data)))
            abort();
    }
    for (int i = 0; i < f->meta_count; i++) {
        const char *v = hrm_st_meta(&g, f->meta_keys[i]);
        if (!v || strcmp(v, f->meta_values[i])) abort();
    }
    hrm_st_free(&g);
    free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("a.safetensors", data, size);
    hrm_st_file f;
    char err[512];
    if (!hrm_st_read_mixed(path, &f, err, sizeof err)) {
        touch(&f);
        hrm_st_free(&f);
    }
    if (!hrm_st_read(path, &f, err, sizeof err)) {
        touch(&f);
        round_trip(&f);
        hrm_st_free(&f);
    }
    return 0;
}
