/* tests/test_convert.c - `hrm convert`: the torch.save reader (core/torch_ckpt.h) and the mapping
 * to our checkpoint (core/convert.h) on fixtures written by real torch
 * (reference/make_torch_ckpt.py, tests/golden/README.md), archives taken apart and rebuilt
 * with one defect each, a little fuzzing, and the command line.
 *
 * HRM_GOLDEN_DIR names tests/golden; HRM_EXE the hrm program (the command-line case is skipped
 * without it). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "convert.h"
#include "io_fixtures.h"
#include "io_util.h"
#include "rng.h"
#include "safetensors.h"
#include "torch_ckpt.h"

static const char *golden(const char *name) {
    static char ring[4][2048];
    static int next;
    const char *dir = getenv("HRM_GOLDEN_DIR");
    char *p = ring[next++ & 3];
    snprintf(p, sizeof ring[0], "%s/%s", dir && *dir ? dir : "tests/golden", name);
    return p;
}

/* The settings that, with the shapes, give the golden main model's config exactly. */
static const char *const main_settings[] = {
    "arch.num_heads=2", "arch.halt_max_steps=4", "arch.halt_exploration_prob=0", "arch.expansion=2",
    "seq_len=16",       "vocab_size=11",         "num_puzzle_identifiers=9"};
#define NUM_MAIN_SETTINGS ((int)(sizeof main_settings / sizeof main_settings[0]))

static float bf16_round(float x) { /* round to nearest even, as torch's .to(bfloat16) */
    uint32_t b;
    memcpy(&b, &x, 4);
    b = (b + 0x7fffu + ((b >> 16) & 1)) & 0xffff0000u;
    memcpy(&x, &b, 4);
    return x;
}

static int is_init(const char *name) {
    return !strcmp(name, "model.inner.H_init") || !strcmp(name, "model.inner.L_init");
}

static hrm_torch_file read_ok(const char *path) {
    hrm_torch_file f;
    char err[512];
    ck_assert_msg(hrm_torch_read(path, &f, err, sizeof err) == HRM_OK, "%s", err);
    return f;
}

/* ---- a ZIP writer for archives with one defect ------------------------------------------- */

typedef struct zentry {
    char *name;
    unsigned char *data;
    size_t size;
    int method;
} zentry;

typedef struct zarchive {
    zentry e[64];
    int n;
} zarchive;

static void put16(unsigned char **p, unsigned v) {
    (*p)[0] = (unsigned char)v, (*p)[1] = (unsigned char)(v >> 8);
    *p += 2;
}
static void put32(unsigned char **p, uint32_t v) {
    for (int i = 0; i < 4; i++) (*p)[i] = (unsigned char)(v >> (8 * i));
    *p += 4;
}

static void put64(unsigned char **p, uint64_t v) {
    put32(p, (uint32_t)v);
    put32(p, (uint32_t)(v >> 32));
}

/* ZIP64 end record and locator, then an end record that defers to them. */
static void put_zip64_end(unsigned char **p, int n, uint64_t cd_size, uint64_t cd_offset) {
    uint64_t at = cd_offset + cd_size;
    put32(p, 0x06064b50u), put64(p, 44), put16(p, 45), put16(p, 45), put32(p, 0), put32(p, 0);
    put64(p, (uint64_t)n), put64(p, (uint64_t)n), put64(p, cd_size), put64(p, cd_offset);
    put32(p, 0x07064b50u), put32(p, 0), put64(p, at), put32(p, 1);
    put32(p, 0x06054b50u), put16(p, 0), put16(p, 0), put16(p, 0xffff), put16(p, 0xffff);
    put32(p, 0xffffffffu), put32(p, 0xffffffffu), put16(p, 0);
}

/* Writes a ZIP without descriptors, entries in order; with zip64, every central record keeps
 * its sizes and offset in a ZIP64 extra field, as a writer does for entries past 4 GiB. */
static void zip_write_as(const char *path, const zarchive *a, int zip64) {
    size_t cap = 22 + 56 + 20;
    for (int i = 0; i < a->n; i++) cap += 30 + 46 + 28 + 2 * strlen(a->e[i].name) + a->e[i].size;
    unsigned char *buf = malloc(cap), *p = buf;
    uint32_t offsets[64];
    for (int i = 0; i < a->n; i++) {
        const zentry *e = &a->e[i];
        offsets[i] = (uint32_t)(p - buf);
        put32(&p, 0x04034b50u), put16(&p, 20), put16(&p, 0), put16(&p, (unsigned)e->method), put16(&p, 0), put16(&p, 0);
        put32(&p, hrm_crc32(0, e->data, e->size)), put32(&p, (uint32_t)e->size), put32(&p, (uint32_t)e->size);
        put16(&p, (unsigned)strlen(e->name)), put16(&p, 0);
        memcpy(p, e->name, strlen(e->name)), p += strlen(e->name);
        memcpy(p, e->data, e->size), p += e->size;
    }
    unsigned char *cd = p;
    for (int i = 0; i < a->n; i++) {
        const zentry *e = &a->e[i];
        uint32_t size = zip64 ? 0xffffffffu : (uint32_t)e->size, offset = zip64 ? 0xffffffffu : offsets[i];
        put32(&p, 0x02014b50u), put16(&p, 20), put16(&p, 20), put16(&p, 0), put16(&p, (unsigned)e->method);
        put16(&p, 0), put16(&p, 0), put32(&p, hrm_crc32(0, e->data, e->size)), put32(&p, size), put32(&p, size);
        put16(&p, (unsigned)strlen(e->name)), put16(&p, zip64 ? 28 : 0), put16(&p, 0), put16(&p, 0);
        put16(&p, 0), put32(&p, 0), put32(&p, offset);
        memcpy(p, e->name, strlen(e->name)), p += strlen(e->name);
        if (zip64) put16(&p, 1), put16(&p, 24), put64(&p, e->size), put64(&p, e->size), put64(&p, offsets[i]);
    }
    uint32_t cd_size = (uint32_t)(p - cd), cd_offset = (uint32_t)(cd - buf);
    if (zip64) {
        put_zip64_end(&p, a->n, cd_size, cd_offset);
    } else {
        put32(&p, 0x06054b50u), put16(&p, 0), put16(&p, 0), put16(&p, (unsigned)a->n), put16(&p, (unsigned)a->n);
        put32(&p, cd_size), put32(&p, cd_offset), put16(&p, 0);
    }
    fx_write(path, buf, (size_t)(p - buf));
    free(buf);
}

static void zip_write(const char *path, const zarchive *a) { zip_write_as(path, a, 0); }

/* Takes a torch.save archive apart with the reader's own ZIP layer. */
static void zip_load(const char *path, zarchive *a) {
    hrm_zip *z;
    char err[512];
    ck_assert_msg(hrm_zip_open(path, &z, err, sizeof err) == HRM_OK, "%s", err);
    a->n = hrm_zip_count(z);
    ck_assert_int_le(a->n, 64);
    for (int i = 0; i < a->n; i++) {
        zentry *e = &a->e[i];
        e->name = strdup(hrm_zip_name(z, i));
        e->size = (size_t)hrm_zip_size(z, i);
        e->data = malloc(e->size + 1);
        e->method = 0;
        ck_assert_msg(hrm_zip_read(z, i, e->data, err, sizeof err) == HRM_OK, "%s", err);
    }
    hrm_zip_close(z);
}

static void zip_free(zarchive *a) {
    for (int i = 0; i < a->n; i++) free(a->e[i].name), free(a->e[i].data);
    a->n = 0;
}

static zentry *zip_entry(zarchive *a, const char *suffix) {
    for (int i = 0; i < a->n; i++) {
        size_t n = strlen(a->e[i].name), k = strlen(suffix);
        if (n >= k && !strcmp(a->e[i].name + n - k, suffix)) return &a->e[i];
    }
    ck_abort_msg("no entry *%s", suffix);
    return NULL;
}

static void zip_drop(zarchive *a, const char *suffix) {
    zentry *e = zip_entry(a, suffix);
    free(e->name), free(e->data);
    *e = a->e[--a->n];
}

/* Replaces the first occurrence of `from` in e (same length). */
static void patch(zentry *e, const char *from, const char *to) {
    size_t n = strlen(from);
    ck_assert_uint_eq(n, strlen(to));
    for (size_t i = 0; i + n <= e->size; i++)
        if (!memcmp(e->data + i, from, n)) {
            memcpy(e->data + i, to, n);
            return;
        }
    ck_abort_msg("'%s' not found in %s", from, e->name);
}

/* Rebuilds the main fixture with one defect (applied by fn) and expects an error saying problem. */
static void expect_defect(void (*fn)(zarchive *), const char *problem) {
    zarchive a;
    hrm_torch_file f;
    char err[512];
    zip_load(golden("torch_ckpt.pt"), &a);
    fn(&a);
    zip_write(fx_path("bad.pt"), &a);
    zip_free(&a);
    FX_EXPECT_ERROR(hrm_torch_read(fx_path("bad.pt"), &f, err, sizeof err), err, "bad.pt", problem);
}

static void no_pickle(zarchive *a) { zip_drop(a, "/data.pkl"); }
static void no_version(zarchive *a) { zip_drop(a, "/version"); }
static void no_storage(zarchive *a) { zip_drop(a, "/data/3"); }
static void compressed(zarchive *a) { zip_entry(a, "/data/0")->method = 8; }
static void short_storage(zarchive *a) { zip_entry(a, "/data/2")->size -= 4; }
static void big_endian(zarchive *a) {
    zentry *e = &a->e[a->n++];
    e->name = strdup("torch_ckpt/byteorder"), e->data = (unsigned char *)strdup("big"), e->size = 3, e->method = 0;
}
static void bad_opcode(zarchive *a) { zip_entry(a, "/data.pkl")->data[2] = 0xff; }
static void unknown_global(zarchive *a) { patch(zip_entry(a, "/data.pkl"), "\nOrderedDict\n", "\nOrderedDixx\n"); }
static void os_system(zarchive *a) {
    patch(zip_entry(a, "/data.pkl"), "torch._utils\n_rebuild_tensor_v2", "os\nsystem\nxxxxxxxxxxxxxxxxxxxxx");
}
static void bad_persid(zarchive *a) { patch(zip_entry(a, "/data.pkl"), "storage", "storagf"); }
static void truncated_pickle(zarchive *a) { zip_entry(a, "/data.pkl")->size -= 3; }
static void trailing_bytes(zarchive *a) {
    zentry *e = zip_entry(a, "/data.pkl");
    e->data = realloc(e->data, e->size + 1);
    e->data[e->size++] = '.';
}

START_TEST(test_defects) {
    expect_defect(no_pickle, "no ARCHIVE/data.pkl");
    expect_defect(no_version, "no ARCHIVE/version");
    expect_defect(no_storage, "storage '3' is missing");
    expect_defect(compressed, "compressed (method 8)");
    expect_defect(short_storage, "does not have the size");
    expect_defect(big_endian, "byteorder");
    expect_defect(bad_opcode, "unsupported pickle opcode 0xff");
    expect_defect(unknown_global, "unsupported global collections.OrderedDixx");
    expect_defect(os_system, "unsupported global os.system");
    expect_defect(bad_persid, "persistent id");
    expect_defect(truncated_pickle, "truncated pickle");
    expect_defect(trailing_bytes, "bytes after STOP");
}
END_TEST

/* The same archive with ZIP64 records reads the same. */
START_TEST(test_zip64) {
    zarchive a;
    zip_load(golden("torch_misc.pt"), &a);
    zip_write_as(fx_path("z64.pt"), &a, 1);
    zip_free(&a);
    hrm_torch_file f = read_ok(golden("torch_misc.pt")), g = read_ok(fx_path("z64.pt"));
    ck_assert_int_eq(f.count, g.count);
    for (int i = 0; i < f.count; i++) {
        ck_assert_str_eq(f.tensors[i].name, g.tensors[i].name);
        ck_assert_int_eq(f.tensors[i].count, g.tensors[i].count);
        if (f.tensors[i].data)
            ck_assert(!memcmp(f.tensors[i].data, g.tensors[i].data, f.tensors[i].count * sizeof(float)));
    }
    hrm_torch_free(&f);
    hrm_torch_free(&g);
}
END_TEST

/* ---- the fixtures ------------------------------------------------------------------------- */

START_TEST(test_convert_fixture) {
    hrm_torch_file f = read_ok(golden("torch_ckpt.pt"));
    hrm_st_file want, got;
    hrm_config c, golden_cfg = hrm_config_default();
    hrm_convert_summary sum;
    char err[512];
    ck_assert_int_eq(f.count, 19);
    for (int i = 0; i < f.count; i++)
        ck_assert_msg(!strncmp(f.tensors[i].name, "_orig_mod.model.inner.", 22), "%s", f.tensors[i].name);
    ck_assert_int_eq(f.tensors[0].dtype, HRM_TORCH_BF16); /* H_init first, as published */
    ck_assert_msg(hrm_convert_config(&f, "torch_ckpt.pt", main_settings, NUM_MAIN_SETTINGS, &c, err, sizeof err) ==
                      HRM_OK,
                  "%s", err);
    const char *out = fx_path("out.safetensors");
    ck_assert_msg(hrm_convert_write(&f, "torch_ckpt.pt", &c, out, &sum, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert_int_eq(sum.tensors, 19);
    ck_assert_int_eq(sum.from_bf16, 2);
    ck_assert_int_eq(sum.skipped, 0);
    hrm_torch_free(&f);

    ck_assert_msg(hrm_st_read(golden("init.safetensors"), &want, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert_msg(hrm_st_read(out, &got, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert(hrm_config_parse(hrm_st_meta(&want, "hrm.config"), &golden_cfg, err, sizeof err) == HRM_OK);
    char *a = hrm_config_to_json(&golden_cfg), *b = hrm_config_to_json(&c);
    ck_assert_str_eq(a, b);
    ck_assert_str_eq(hrm_st_meta(&got, "hrm.config"), b);
    free(a), free(b);
    ck_assert_int_eq(got.count, want.count);
    for (int i = 0; i < want.count; i++) {
        const hrm_st_tensor *w = &want.tensors[i], *g = hrm_st_find(&got, w->name);
        ck_assert_msg(g != NULL, "%s missing", w->name);
        ck_assert_int_eq(g->dtype, HRM_ST_F32);
        ck_assert_int_eq(g->ndim, w->ndim);
        for (int d = 0; d < w->ndim; d++) ck_assert_int_eq(g->shape[d], w->shape[d]);
        for (size_t k = 0; k < w->count; k++) {
            float expect = is_init(w->name) ? bf16_round(w->data[k]) : w->data[k];
            ck_assert_msg(g->data[k] == expect, "%s[%zu]: %.9g, expected %.9g", w->name, k, g->data[k], expect);
        }
    }
    hrm_st_free(&want);
    hrm_st_free(&got);
}
END_TEST

/* With only seq_len, the rest is inferred or the published default. */
START_TEST(test_infer_defaults) {
    hrm_torch_file f = read_ok(golden("torch_ckpt.pt"));
    hrm_config c;
    char err[512];
    const char *settings[] = {"seq_len=16"};
    ck_assert_msg(hrm_convert_config(&f, "torch_ckpt.pt", settings, 1, &c, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert_int_eq(c.hidden_size, 16);
    ck_assert_int_eq(c.vocab_size, 11);
    ck_assert_int_eq(c.H_layers, 1);
    ck_assert_int_eq(c.L_layers, 2);
    ck_assert_int_eq(c.num_puzzle_identifiers, 9);
    ck_assert_int_eq(c.puzzle_emb_ndim, 16);
    ck_assert_int_eq(c.pos_encodings, HRM_POS_ROPE);
    ck_assert_int_eq(c.num_heads, 8);
    ck_assert_int_eq(c.H_cycles, 2);
    ck_assert_int_eq(c.halt_max_steps, 16);
    ck_assert(c.expansion == 4.0); /* gives the same SwiGLU width 256 as the 2.0 it was made with */
    hrm_torch_free(&f);
}
END_TEST

START_TEST(test_misc_fixture) {
    hrm_torch_file f = read_ok(golden("torch_misc.pt"));
    ck_assert_int_eq(f.count, 5);
    const hrm_torch_tensor *half = hrm_torch_find(&f, "half"), *a = hrm_torch_find(&f, "view_a"),
                           *b = hrm_torch_find(&f, "view_b"), *p = hrm_torch_find(&f, "param"),
                           *steps = hrm_torch_find(&f, "steps");
    ck_assert(half && a && b && p && steps);
    ck_assert_int_eq(half->dtype, HRM_TORCH_F16);
    ck_assert_int_eq(half->ndim, 2);
    ck_assert_int_eq(half->shape[0], 2);
    ck_assert_int_eq(half->shape[1], 3);
    for (int i = 0; i < 6; i++) ck_assert(half->data[i] == i / 4.0f - 0.5f);
    ck_assert_int_eq(a->dtype, HRM_TORCH_BF16);
    ck_assert_int_eq(a->count, 4);
    for (int i = 0; i < 4; i++) ck_assert(a->data[i] == (float)(i + 2 - 3));
    ck_assert_int_eq(b->count, 2);
    ck_assert(b->data[0] == 3.0f && b->data[1] == 4.0f);
    ck_assert_int_eq(p->dtype, HRM_TORCH_F32);
    ck_assert(p->data[0] == 1.5f && p->data[1] == -2.0f && p->data[2] == 0.25f);
    ck_assert_int_eq(steps->dtype, HRM_TORCH_OTHER);
    ck_assert_str_eq(steps->dtype_name, "int64");
    ck_assert_int_eq(steps->ndim, 0);
    ck_assert_int_eq(steps->count, 1);
    ck_assert_ptr_null(steps->data);
    hrm_torch_free(&f);

    hrm_torch_file g;
    char err[512];
    FX_EXPECT_ERROR(hrm_torch_read(golden("torch_noncontig.pt"), &g, err, sizeof err), err, "torch_noncontig.pt",
                    "non-contiguous");
}
END_TEST

START_TEST(test_half_conversion) {
    ck_assert(hrm_f16_to_f32(0x3c00) == 1.0f);
    ck_assert(hrm_f16_to_f32(0xc000) == -2.0f);
    ck_assert(hrm_f16_to_f32(0x7bff) == 65504.0f);
    ck_assert(hrm_f16_to_f32(0x0001) == 5.9604644775390625e-8f);
    ck_assert(hrm_f16_to_f32(0x03ff) == 6.097555160522461e-5f);
    ck_assert(hrm_f16_to_f32(0x7c00) > 3e38f);
    float nan = hrm_f16_to_f32(0x7e00);
    ck_assert(nan != nan);
    ck_assert(hrm_bf16_to_f32(0x3f80) == 1.0f);
    ck_assert(hrm_bf16_to_f32(0xc0a0) == -5.0f);
}
END_TEST

/* ---- files that are not well-formed archives ---------------------------------------------- */

START_TEST(test_truncated) {
    size_t n;
    unsigned char *bytes = fx_read(golden("torch_ckpt.pt"), &n);
    const size_t cuts[] = {0, 1, 21, 22, 100, 4096, n / 2, n - 200, n - 23, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        hrm_torch_file f;
        char err[512];
        fx_write(fx_path("cut.pt"), bytes, cuts[i]);
        FX_EXPECT_ERROR(hrm_torch_read(fx_path("cut.pt"), &f, err, sizeof err), err, "cut.pt", NULL);
    }
    /* A flipped byte inside a tensor's data (found by its first 16 bytes): the CRC says so. */
    zarchive a;
    zip_load(golden("torch_ckpt.pt"), &a);
    const zentry *e = zip_entry(&a, "/data/10");
    unsigned char *at = memmem(bytes, n, e->data, 16);
    ck_assert_ptr_nonnull(at);
    at[5] ^= 0x40;
    zip_free(&a);
    fx_write(fx_path("flip.pt"), bytes, n);
    hrm_torch_file f;
    char err[512];
    FX_EXPECT_ERROR(hrm_torch_read(fx_path("flip.pt"), &f, err, sizeof err), err, "flip.pt", "CRC mismatch");
    FX_EXPECT_ERROR(hrm_torch_read(fx_path("none.pt"), &f, err, sizeof err), err, "none.pt", "cannot open");
    free(bytes);
}
END_TEST

/* Random byte flips, in the file and (CRC recomputed) in the pickle: an error line or success,
 * never a crash; ASan and UBSan watch the reads. */
static void fuzz_file(hrm_rng *r, const unsigned char *bytes, size_t n, int rounds) {
    unsigned char *copy = malloc(n);
    for (int round = 0; round < rounds; round++) {
        memcpy(copy, bytes, n);
        int flips = 1 + (int)hrm_rng_below(r, 4);
        for (int k = 0; k < flips; k++) copy[hrm_rng_below(r, n)] ^= (unsigned char)(1 + hrm_rng_below(r, 255));
        fx_write(fx_path("fuzz.pt"), copy, n);
        hrm_torch_file f;
        char err[512] = "";
        if (hrm_torch_read(fx_path("fuzz.pt"), &f, err, sizeof err) == HRM_OK)
            hrm_torch_free(&f);
        else
            FX_EXPECT_ERROR(HRM_ERR_INVALID_ARG, err, "fuzz.pt", NULL);
    }
    free(copy);
}

static void fuzz_pickle(hrm_rng *r, const char *fixture, int rounds) {
    zarchive a;
    zip_load(golden(fixture), &a);
    zentry *pkl = zip_entry(&a, "/data.pkl");
    unsigned char *orig = malloc(pkl->size);
    size_t size = pkl->size;
    memcpy(orig, pkl->data, size);
    int ok = 0;
    for (int round = 0; round < rounds; round++) {
        memcpy(pkl->data, orig, size);
        pkl->size = hrm_rng_below(r, 8) ? size : (size_t)hrm_rng_below(r, size + 1);
        int flips = 1 + (int)hrm_rng_below(r, 3);
        for (int k = 0; k < flips && pkl->size; k++)
            pkl->data[hrm_rng_below(r, pkl->size)] = hrm_rng_below(r, 2)
                                                         ? (unsigned char)hrm_rng_below(r, 256)
                                                         : (unsigned char)(pkl->data[hrm_rng_below(r, pkl->size)]);
        zip_write(fx_path("fuzz.pt"), &a);
        hrm_torch_file f;
        char err[512] = "";
        if (hrm_torch_read(fx_path("fuzz.pt"), &f, err, sizeof err) == HRM_OK)
            hrm_torch_free(&f), ok++;
        else
            FX_EXPECT_ERROR(HRM_ERR_INVALID_ARG, err, "fuzz.pt", NULL);
    }
    pkl->size = size;
    free(orig);
    zip_free(&a);
    ck_assert_int_lt(ok, rounds); /* the mutations do reach the checks */
}

START_TEST(test_fuzz) {
    hrm_rng r;
    hrm_rng_seed(&r, 20240607);
    size_t n;
    unsigned char *bytes = fx_read(golden("torch_misc.pt"), &n);
    fuzz_file(&r, bytes, n, 400);
    free(bytes);
    fuzz_pickle(&r, "torch_misc.pt", 1500);
    fuzz_pickle(&r, "torch_ckpt.pt", 150);
}
END_TEST

/* ---- the mapping: what is missing, misshapen, extra or contradicted ----------------------- */

/* The fixture in memory with room for one more tensor; tensors beyond the file's own are
 * shallow copies, so restore the count before freeing. */
typedef struct edited {
    hrm_torch_file f;
    int count;
    hrm_torch_tensor *extra;
} edited;

static edited edit_open(void) {
    edited e = {read_ok(golden("torch_ckpt.pt")), 0, NULL};
    e.count = e.f.count;
    e.f.tensors = realloc(e.f.tensors, (size_t)(e.f.count + 1) * sizeof *e.f.tensors);
    return e;
}

static hrm_torch_tensor *edit_find(edited *e, const char *stripped) {
    for (int i = 0; i < e->f.count; i++)
        if (!strcmp(hrm_convert_strip(e->f.tensors[i].name), stripped)) return &e->f.tensors[i];
    ck_abort_msg("no tensor %s", stripped);
    return NULL;
}

/* Adds a copy of tensor `like` under another name. */
static void edit_add(edited *e, const char *name, const char *like) {
    hrm_torch_tensor *t = &e->f.tensors[e->f.count];
    *t = *edit_find(e, like);
    t->name = (char *)name;
    e->f.count++;
}

static void edit_close(edited *e) {
    e->f.count = e->count;
    hrm_torch_free(&e->f);
}

/* Runs config + write on e with the main settings, expects an error naming file and problem. */
static void expect_convert_error(edited *e, const char *const *settings, int n, const char *problem) {
    hrm_config c;
    hrm_convert_summary sum;
    char err[512];
    hrm_status s = hrm_convert_config(&e->f, "in.pt", settings ? settings : main_settings,
                                      settings ? n : NUM_MAIN_SETTINGS, &c, err, sizeof err);
    if (!s) s = hrm_convert_write(&e->f, "in.pt", &c, fx_path("out.safetensors"), &sum, err, sizeof err);
    FX_EXPECT_ERROR(s, err, settings ? "" : "in.pt", problem);
    ck_assert(!fx_exists(fx_path("out.safetensors")));
}

START_TEST(test_missing_and_misshapen) {
    edited e = edit_open();
    hrm_torch_tensor *bias = edit_find(&e, "model.inner.q_head.bias"), saved = *bias;
    bias->name = "_orig_mod.model.inner.q_head.biax";
    expect_convert_error(&e, NULL, 0, "missing tensor model.inner.q_head.bias (expected 2)");
    *bias = saved;

    hrm_torch_tensor *o = edit_find(&e, "model.inner.L_level.layers.1.self_attn.o_proj.weight");
    o->shape[1] = 15;
    expect_convert_error(
        &e, NULL, 0, "tensor model.inner.L_level.layers.1.self_attn.o_proj.weight has shape 16 x 15, expected 16 x 16");
    o->shape[1] = 16;

    hrm_torch_tensor *h = edit_find(&e, "model.inner.H_init");
    float *data = h->data;
    h->data = NULL, h->dtype = HRM_TORCH_OTHER, h->dtype_name = "int64";
    expect_convert_error(&e, NULL, 0, "tensor model.inner.H_init has dtype int64");
    h->data = data;
    edit_close(&e);
}
END_TEST

START_TEST(test_extra_tensors) {
    edited e = edit_open();
    edit_add(&e, "_orig_mod.model.inner.extra.weight", "model.inner.q_head.bias");
    expect_convert_error(&e, NULL, 0, "unexpected tensor model.inner.extra.weight");
    e.f.count--;
    edit_add(&e, "model.inner.q_head.bias", "model.inner.q_head.bias");
    expect_convert_error(&e, NULL, 0, "model.inner.q_head.bias appears twice");
    e.f.count--;
    edit_add(&e, "_orig_mod.model.inner.L_level.layers.2.mlp.down_proj.weight", "model.inner.q_head.bias");
    expect_convert_error(&e, NULL, 0, "unexpected tensor model.inner.L_level.layers.2.mlp.down_proj.weight");
    e.f.count--;

    /* A known non-parameter buffer is left out. */
    edit_add(&e, "_orig_mod.model.inner.rotary_emb.cos_cached", "model.inner.q_head.bias");
    hrm_config c;
    hrm_convert_summary sum;
    char err[512];
    ck_assert_msg(hrm_convert_config(&e.f, "in.pt", main_settings, NUM_MAIN_SETTINGS, &c, err, sizeof err) == HRM_OK,
                  "%s", err);
    ck_assert_msg(hrm_convert_write(&e.f, "in.pt", &c, fx_path("out.safetensors"), &sum, err, sizeof err) == HRM_OK,
                  "%s", err);
    ck_assert_int_eq(sum.skipped, 1);
    ck_assert_int_eq(sum.tensors, 19);
    edit_close(&e);
}
END_TEST

START_TEST(test_settings) {
    edited e = edit_open();
    const char *hidden[] = {"seq_len=16", "arch.hidden_size=32"};
    expect_convert_error(&e, hidden, 2,
                         "hidden_size=32 was given, but model.inner.embed_tokens.embedding_weight gives 16");
    const char *layers[] = {"seq_len=16", "L_layers=4"};
    expect_convert_error(&e, layers, 2, "L_layers=4 was given");
    const char *unknown[] = {"seq_len=16", "arch.hiden_size=16"};
    expect_convert_error(&e, unknown, 2, "unknown key 'arch.hiden_size'");
    const char *expansion[] = {"seq_len=16", "arch.expansion=32"};
    expect_convert_error(&e, expansion, 2, "SwiGLU width");
    const char *heads[] = {"seq_len=16", "arch.num_heads=3"};
    expect_convert_error(&e, heads, 2, "not a multiple of num_heads");
    const char *twice[] = {"seq_len=16", "seq_len=17"};
    expect_convert_error(&e, twice, 2, "seq_len given twice");
    const char *number[] = {"seq_len=sixteen"};
    expect_convert_error(&e, number, 1, "not a number");
    const char *learned[] = {"seq_len=16", "pos_encodings=learned"};
    expect_convert_error(&e, learned, 2, "has no model.inner.embed_pos.embedding_weight");
    edit_close(&e);
}
END_TEST

/* ---- the command line ----------------------------------------------------------------------- */

static int run(const char *cmd) {
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(test_cli) {
    const char *exe = getenv("HRM_EXE");
    if (!exe || !*exe) return; /* run by meson only */
    char cmd[8192];
    const char *out = fx_path("cli.safetensors"), *err = fx_path("stderr");
    snprintf(cmd, sizeof cmd,
             "'%s' convert '%s' '%s' arch.num_heads=2 arch.halt_max_steps=4 arch.expansion=2 --data '%s' >'%s' 2>'%s'",
             exe, golden("torch_ckpt.pt"), out, golden("data"), fx_path("stdout"), err);
    ck_assert_int_eq(run(cmd), 0);
    hrm_st_file f;
    char msg[512];
    ck_assert_msg(hrm_st_read(out, &f, msg, sizeof msg) == HRM_OK, "%s", msg);
    ck_assert_int_eq(f.count, 19);
    ck_assert_ptr_nonnull(strstr(hrm_st_meta(&f, "hrm.config"), "\"seq_len\":16"));
    hrm_st_free(&f);
    size_t n;
    char *text = fx_read(fx_path("stdout"), &n);
    text[n] = 0;
    ck_assert_msg(strstr(text, "19 tensors, 40322 parameters"), "%s", text);
    free(text);

    snprintf(cmd, sizeof cmd, "'%s' convert '%s' '%s' 2>'%s'", exe, golden("torch_noncontig.pt"), out, err);
    ck_assert_int_eq(run(cmd), 1);
    text = fx_read(err, &n);
    text[n] = 0;
    ck_assert_msg(strstr(text, "torch_noncontig.pt") && strchr(text, '\n') == text + n - 1, "%s", text);
    free(text);
    snprintf(cmd, sizeof cmd, "'%s' convert only-one-arg.pt 2>/dev/null", exe);
    ck_assert_int_eq(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "'%s' convert --help >/dev/null", exe);
    ck_assert_int_eq(run(cmd), 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("convert");
    TCase *reader = tcase_create("reader"), *mapping = tcase_create("mapping"), *cli = tcase_create("cli");
    tcase_add_checked_fixture(reader, fx_setup, fx_teardown);
    tcase_add_checked_fixture(mapping, fx_setup, fx_teardown);
    tcase_add_checked_fixture(cli, fx_setup, fx_teardown);
    tcase_set_timeout(reader, 120);
    tcase_add_test(reader, test_misc_fixture);
    tcase_add_test(reader, test_half_conversion);
    tcase_add_test(reader, test_truncated);
    tcase_add_test(reader, test_defects);
    tcase_add_test(reader, test_zip64);
    tcase_add_test(reader, test_fuzz);
    tcase_add_test(mapping, test_convert_fixture);
    tcase_add_test(mapping, test_infer_defaults);
    tcase_add_test(mapping, test_missing_and_misshapen);
    tcase_add_test(mapping, test_extra_tensors);
    tcase_add_test(mapping, test_settings);
    tcase_add_test(cli, test_cli);
    suite_add_tcase(s, reader);
    suite_add_tcase(s, mapping);
    suite_add_tcase(s, cli);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
