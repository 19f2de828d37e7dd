/* core/safetensors.c - reads and writes safetensors files (see safetensors.h for the rules).
 *
 * The header is parsed with jansson, which also refuses invalid UTF-8 anywhere in it (as the
 * reference's str::from_utf8 does) and duplicate keys (JSON_REJECT_DUPLICATES). Tensor data is
 * read straight into one arena of 4-byte values, tensor by tensor, so a checkpoint costs its
 * float32 size in memory once. */
#include "safetensors.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "io_util.h"

#define ST_MAX_HEADER 100000000u /* MAX_HEADER_SIZE of the reference (safetensors/src/tensor.rs) */
#define ST_META_KEY "__metadata__"

/* Where one tensor's bytes lie in the data section, for the tiling check and the reads. */
typedef struct st_span {
    uint64_t begin, end;
    int index;
} st_span;

void hrm_st_free(hrm_st_file *f) {
    for (int i = 0; i < f->count; i++) free(f->tensors[i].name);
    for (int i = 0; i < f->meta_count; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->arena);
    memset(f, 0, sizeof *f);
}

const hrm_st_tensor *hrm_st_find(const hrm_st_file *f, const char *name) {
    for (int i = 0; i < f->count; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

const char *hrm_st_meta(const hrm_st_file *f, const char *key) {
    for (int i = 0; i < f->meta_count; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_values[i];
    return NULL;
}

/* ---- parsing the header ------------------------------------------------------------------- */

static hrm_status parse_metadata(const char *path, json_t *m, hrm_st_file *out, char *err, size_t n) {
    const char *key;
    json_t *v;
    if (!json_is_object(m)) return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "__metadata__ is not an object");
    size_t count = json_object_size(m);
    out->meta_keys = calloc(count + 1, sizeof *out->meta_keys);
    out->meta_values = calloc(count + 1, sizeof *out->meta_values);
    if (!out->meta_keys || !out->meta_values) return hrm_io_fail(err, n, HRM_ERR_OUT_OF_MEMORY, path, "out of memory");
    json_object_foreach(m, key, v) {
        if (!json_is_string(v))
            return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "__metadata__ value of '%s' is not a string", key);
        char *k = strdup(key), *val = strdup(json_string_value(v));
        out->meta_keys[out->meta_count] = k;
        out->meta_values[out->meta_count++] = val;
        if (!k || !val) return hrm_io_fail(err, n, HRM_ERR_OUT_OF_MEMORY, path, "out of memory");
    }
    return HRM_OK;
}

/* mixed: I32 is accepted too (hrm_st_read_mixed). */
static int parse_dtype(const char *s, int mixed, hrm_st_dtype *t, size_t *size) {
    if (!strcmp(s, "F32"))
        *t = HRM_ST_F32, *size = 4;
    else if (!strcmp(s, "BF16"))
        *t = HRM_ST_BF16, *size = 2;
    else if (mixed && !strcmp(s, "I32"))
        *t = HRM_ST_I32, *size = 4;
    else
        return 0;
    return 1;
}

/* Non-negative integer j within [0, max]. */
static int json_uint(json_t *j, uint64_t max, uint64_t *v) {
    if (!json_is_integer(j) || json_integer_value(j) < 0 || (uint64_t)json_integer_value(j) > max) return 0;
    *v = (uint64_t)json_integer_value(j);
    return 1;
}

static hrm_status parse_shape(const char *path, const char *name, json_t *s, hrm_st_tensor *t, char *err, size_t n) {
    uint64_t d;
    t->count = 1;
    if (!json_is_array(s) || json_array_size(s) > HRM_ST_MAX_DIMS)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                           "tensor '%s': shape is not an array of at most %d dimensions", name, HRM_ST_MAX_DIMS);
    t->ndim = (int)json_array_size(s);
    for (int i = 0; i < t->ndim; i++) {
        if (!json_uint(json_array_get(s, (size_t)i), INT64_MAX, &d) || d > SIZE_MAX ||
            !hrm_mul_size(t->count, (size_t)d, &t->count))
            return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                               "tensor '%s': shape holds a negative, non-integer or too large dimension", name);
        t->shape[i] = (int64_t)d;
    }
    return HRM_OK;
}

static hrm_status parse_offsets(const char *path, const char *name, json_t *o, uint64_t data_len, st_span *sp,
                                char *err, size_t n) {
    if (!json_is_array(o) || json_array_size(o) != 2 || !json_uint(json_array_get(o, 0), INT64_MAX, &sp->begin) ||
        !json_uint(json_array_get(o, 1), INT64_MAX, &sp->end))
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                           "tensor '%s': data_offsets is not a pair of non-negative integers", name);
    if (sp->begin > sp->end || sp->end > data_len)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                           "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 ") lie outside the data section (%" PRIu64
                           " bytes)",
                           name, sp->begin, sp->end, data_len);
    return HRM_OK;
}

static hrm_status parse_tensor(const char *path, const char *name, json_t *v, int mixed, uint64_t data_len,
                               hrm_st_tensor *t, st_span *sp, char *err, size_t n) {
    char shape[128];
    size_t elem, bytes;
    json_t *dt = json_object_get(v, "dtype");
    if (!json_is_object(v))
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "tensor '%s': entry is not an object", name);
    if (!json_is_string(dt))
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "tensor '%s': dtype is missing or not a string", name);
    if (!parse_dtype(json_string_value(dt), mixed, &t->dtype, &elem))
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "tensor '%s': unsupported dtype '%s' (%s)", name,
                           json_string_value(dt), mixed ? "F32, BF16 or I32" : "F32 or BF16");
    hrm_status s = parse_shape(path, name, json_object_get(v, "shape"), t, err, n);
    if (!s) s = parse_offsets(path, name, json_object_get(v, "data_offsets"), data_len, sp, err, n);
    if (s) return s;
    if (!hrm_mul_size(t->count, elem, &bytes) || bytes != sp->end - sp->begin)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                           "tensor '%s': shape %s %s needs %zu x %zu bytes, data_offsets give %" PRIu64, name,
                           hrm_shape_str(shape, sizeof shape, t->ndim, t->shape), json_string_value(dt), t->count, elem,
                           sp->end - sp->begin);
    t->name = strdup(name);
    return t->name ? HRM_OK : hrm_io_fail(err, n, HRM_ERR_OUT_OF_MEMORY, path, "out of memory");
}

static hrm_status parse_header(const char *path, json_t *root, int mixed, uint64_t data_len, hrm_st_file *out,
                               st_span **spans, char *err, size_t n) {
    const char *key;
    json_t *v;
    if (!json_is_object(root)) return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "header is not a JSON object");
    size_t cap = json_object_size(root) + 1;
    out->tensors = calloc(cap, sizeof *out->tensors);
    *spans = calloc(cap, sizeof **spans);
    if (!out->tensors || !*spans) return hrm_io_fail(err, n, HRM_ERR_OUT_OF_MEMORY, path, "out of memory");
    json_object_foreach(root, key, v) {
        hrm_status s;
        if (!strcmp(key, ST_META_KEY)) {
            s = parse_metadata(path, v, out, err, n);
        } else {
            (*spans)[out->count].index = out->count;
            s = parse_tensor(path, key, v, mixed, data_len, &out->tensors[out->count], &(*spans)[out->count], err, n);
            if (!s) out->count++;
        }
        if (s) return s;
    }
    return HRM_OK;
}

/* (begin, end) in order, as the reference sorts its (begin, end) pairs. */
static int by_offsets(const void *a, const void *b) {
    const st_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Sorts the spans by offsets and checks that they tile the data section, as the reference's
 * Metadata::validate and read_metadata do: the first begins at 0, each begins where the one before
 * ends (no gap, no overlap, not even of an empty tensor), the last ends at the end of the section. */
static hrm_status check_tiling(const char *path, const hrm_st_file *f, st_span *spans, uint64_t data_len, char *err,
                               size_t n) {
    uint64_t at = 0;
    qsort(spans, (size_t)f->count, sizeof *spans, by_offsets);
    for (int i = 0; i < f->count; at = spans[i++].end) {
        const char *name = f->tensors[spans[i].index].name;
        if (spans[i].begin > at)
            return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                               "gap in the data section: bytes [%" PRIu64 ", %" PRIu64
                               ") before tensor '%s' belong to no tensor",
                               at, spans[i].begin, name);
        if (spans[i].begin < at)
            return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                               "tensors '%s' [%" PRIu64 ", %" PRIu64 ") and '%s' [%" PRIu64 ", %" PRIu64
                               ") overlap in the data section",
                               f->tensors[spans[i - 1].index].name, spans[i - 1].begin, spans[i - 1].end, name,
                               spans[i].begin, spans[i].end);
    }
    if (at != data_len) /* each end lies inside the section (parse_offsets), so at < data_len */
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                           "trailing bytes: the tensors end at byte %" PRIu64 " of the %" PRIu64 "-byte data section",
                           at, data_len);
    return HRM_OK;
}

/* ---- reading the data --------------------------------------------------------------------- */

/* Every value, float or int32, takes 4 bytes of the arena. */
static hrm_status alloc_arena(const char *path, hrm_st_file *f, char *err, size_t n) {
    _Static_assert(sizeof(float) == 4 && sizeof(int32_t) == 4, "4-byte values");
    size_t total = 0;
    for (int i = 0; i < f->count; i++) total += f->tensors[i].count; /* bounded by the file size */
    f->arena = malloc((total ? total : 1) * 4);
    if (!f->arena) return hrm_io_fail(err, n, HRM_ERR_OUT_OF_MEMORY, path, "out of memory for %zu values", total);
    unsigned char *at = f->arena;
    for (int i = 0; i < f->count; at += f->tensors[i++].count * 4) {
        if (f->tensors[i].dtype == HRM_ST_I32)
            f->tensors[i].ints = (int32_t *)at;
        else
            f->tensors[i].data = (float *)at;
    }
    return HRM_OK;
}

static hrm_status read_tensor(FILE *fp, const char *path, uint64_t data_start, const st_span *sp, hrm_st_tensor *t,
                              char *err, size_t n) {
    size_t bytes = (size_t)(sp->end - sp->begin);
    if (fseeko(fp, (off_t)(data_start + sp->begin), SEEK_SET))
        return hrm_io_fail(err, n, HRM_ERR_NOT_AVAILABLE, path, "cannot seek to tensor '%s'", t->name);
    if (t->dtype == HRM_ST_F32) return hrm_file_read(fp, path, t->data, bytes, "tensor data", err, n);
    if (t->dtype == HRM_ST_I32) return hrm_file_read(fp, path, t->ints, bytes, "tensor data", err, n);
    uint16_t *raw = malloc(bytes ? bytes : 1);
    if (!raw) return hrm_io_fail(err, n, HRM_ERR_OUT_OF_MEMORY, path, "out of memory");
    hrm_status s = hrm_file_read(fp, path, raw, bytes, "tensor data", err, n);
    for (size_t i = 0; !s && i < t->count; i++) t->data[i] = hrm_bf16_to_f32(raw[i]);
    free(raw);
    return s;
}

/* Reads the length and the JSON header; *data_len is what follows the header. */
static hrm_status read_json(FILE *fp, const char *path, uint64_t size, json_t **root, uint64_t *data_len, char *err,
                            size_t n) {
    unsigned char len8[8];
    json_error_t je;
    if (size < 8)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                           "truncated: %" PRIu64 " bytes, too short for the 8-byte header length", size);
    hrm_status s = hrm_file_read(fp, path, len8, 8, "the header length", err, n);
    uint64_t hlen = hrm_le64(len8);
    if (s) return s;
    if (hlen > ST_MAX_HEADER)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "header length %" PRIu64 " is too large (limit %u bytes)",
                           hlen, ST_MAX_HEADER);
    if (8 + hlen > size)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                           "truncated: header length %" PRIu64 " runs past the end of the file (%" PRIu64 " bytes)",
                           hlen, size);
    char *text = malloc(hlen ? hlen : 1);
    if (!text) return hrm_io_fail(err, n, HRM_ERR_OUT_OF_MEMORY, path, "out of memory");
    s = hrm_file_read(fp, path, text, (size_t)hlen, "the header", err, n);
    *root = s ? NULL : json_loadb(text, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (s) return s;
    if (!*root)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "invalid JSON header: %s (line %d, column %d)", je.text,
                           je.line, je.column);
    *data_len = size - 8 - hlen;
    return HRM_OK;
}

static hrm_status read_file(FILE *fp, const char *path, uint64_t size, int mixed, hrm_st_file *out, char *err,
                            size_t n) {
    json_t *root = NULL;
    st_span *spans = NULL;
    uint64_t data_len;
    hrm_status s = read_json(fp, path, size, &root, &data_len, err, n);
    if (!s) s = parse_header(path, root, mixed, data_len, out, &spans, err, n);
    if (!s) s = check_tiling(path, out, spans, data_len, err, n);
    if (!s) s = alloc_arena(path, out, err, n);
    for (int i = 0; !s && i < out->count; i++)
        s = read_tensor(fp, path, size - data_len, &spans[i], &out->tensors[spans[i].index], err, n);
    json_decref(root);
    free(spans);
    return s;
}

static hrm_status st_read(const char *path, int mixed, hrm_st_file *out, char *err, size_t err_size) {
    FILE *fp;
    uint64_t size;
    memset(out, 0, sizeof *out);
    hrm_status s = hrm_file_open_read(path, &fp, &size, err, err_size);
    if (s) return s;
    s = read_file(fp, path, size, mixed, out, err, err_size);
    fclose(fp);
    if (s) hrm_st_free(out);
    return s;
}

hrm_status hrm_st_read(const char *path, hrm_st_file *out, char *err, size_t err_size) {
    return st_read(path, 0, out, err, err_size);
}

hrm_status hrm_st_read_mixed(const char *path, hrm_st_file *out, char *err, size_t err_size) {
    return st_read(path, 1, out, err, err_size);
}

/* ---- writing ------------------------------------------------------------------------------ */

static int entry_bytes(const hrm_st_entry *e, size_t *bytes) {
    size_t count = 1;
    if (!e->name || !strcmp(e->name, ST_META_KEY) || e->ndim < 0 || e->ndim > HRM_ST_MAX_DIMS) return 0;
    for (int i = 0; i < e->ndim; i++)
        if (e->shape[i] < 0 || !hrm_mul_size(count, (size_t)e->shape[i], &count)) return 0;
    return hrm_mul_size(count, sizeof(float), bytes) && (!*bytes || e->data);
}

static json_t *tensor_json(const hrm_st_entry *e, size_t begin, size_t end) {
    json_t *shape = json_array();
    for (int i = 0; i < e->ndim; i++) json_array_append_new(shape, json_integer(e->shape[i]));
    return json_pack("{s:s, s:o, s:[I, I]}", "dtype", "F32", "shape", shape, "data_offsets", (json_int_t)begin,
                     (json_int_t)end);
}

/* The header object; NULL with the error line on bad entries. */
static json_t *build_header(const char *path, const hrm_st_entry *t, int count, const char *const *mk,
                            const char *const *mv, int meta_count, char *err, size_t n) {
    json_t *root = json_object(), *meta = json_object();
    size_t at = 0, bytes;
    for (int i = 0; i < meta_count; i++)
        if (json_object_set_new(meta, mk[i], json_string(mv[i]))) {
            json_decref(meta);
            json_decref(root);
            hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "cannot write metadata '%s': not valid UTF-8", mk[i]);
            return NULL;
        }
    if (meta_count) json_object_set(root, ST_META_KEY, meta);
    json_decref(meta);
    for (int i = 0; i < count; i++) {
        json_t *tj = entry_bytes(&t[i], &bytes) ? tensor_json(&t[i], at, at + bytes) : NULL;
        if (!tj || json_object_get(root, t[i].name)) {
            json_decref(tj);
            json_decref(root);
            hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                        "cannot write tensor %d ('%s'): bad or repeated name, bad shape or no data", i,
                        t[i].name ? t[i].name : "(null)");
            return NULL;
        }
        json_object_set_new(root, t[i].name, tj);
        at += bytes;
    }
    return root;
}

/* The length field and the header text, padded with spaces so the data starts 8-byte aligned. */
static hrm_status write_header(hrm_atomic_file *af, json_t *root, char *err, size_t n) {
    char *text = json_dumps(root, JSON_COMPACT);
    if (!text) return hrm_io_fail(err, n, HRM_ERR_OUT_OF_MEMORY, af->path, "cannot encode the header");
    size_t len = strlen(text), padded = (len + 7) / 8 * 8;
    unsigned char len8[8], spaces[8] = "        ";
    hrm_put_le64(len8, padded);
    hrm_status s = hrm_atomic_write(af, len8, 8, err, n);
    if (!s) s = hrm_atomic_write(af, text, len, err, n);
    if (!s) s = hrm_atomic_write(af, spaces, padded - len, err, n);
    free(text);
    return s;
}

hrm_status hrm_st_write(const char *path, const hrm_st_entry *tensors, int count, const char *const *meta_keys,
                        const char *const *meta_values, int meta_count, char *err, size_t err_size) {
    hrm_atomic_file af;
    size_t bytes;
    for (int i = 0; i < meta_count; i++)
        if (!meta_keys[i] || !meta_values[i])
            return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path,
                               "cannot write: metadata pair %d has a NULL key or value", i);
    json_t *root = build_header(path, tensors, count, meta_keys, meta_values, meta_count, err, err_size);
    if (!root) return HRM_ERR_INVALID_ARG;
    hrm_status s = hrm_atomic_open(&af, path, err, err_size);
    if (!s) s = write_header(&af, root, err, err_size);
    for (int i = 0; !s && i < count; i++)
        if (entry_bytes(&tensors[i], &bytes)) s = hrm_atomic_write(&af, tensors[i].data, bytes, err, err_size);
    if (!s) s = hrm_atomic_commit(&af, err, err_size);
    if (s) hrm_atomic_abort(&af);
    json_decref(root);
    return s;
}
