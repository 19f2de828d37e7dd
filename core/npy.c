/* core/npy.c - reads and writes NumPy .npy files (see npy.h for what is accepted).
 *
 * Layout: "\x93NUMPY", major, minor, the header length (2 bytes little-endian in version 1.0,
 * 4 bytes in 2.0 and 3.0), the header (a Python dict literal padded with spaces and ending in a
 * newline, so that the data starts at a multiple of 64 bytes), then the raw data. The reader
 * follows numpy's (numpy/lib/format.py: read_magic, _check_version, _read_array_header,
 * read_array): it refuses what numpy refuses, and parses only the subset of Python literals that
 * writers produce. */
#include "npy.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "io_util.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAX_HEADER 10000u /* numpy's _MAX_HEADER_SIZE: np.load refuses longer headers */
#define NPY_ALIGN 64

size_t hrm_npy_dtype_size(hrm_npy_dtype t) { return t == HRM_NPY_U8 ? 1 : 4; }

const char *hrm_npy_dtype_name(hrm_npy_dtype t) {
    return t == HRM_NPY_U8 ? "uint8" : t == HRM_NPY_I32 ? "int32" : "float32";
}

static const char *dtype_descr(hrm_npy_dtype t) { return t == HRM_NPY_U8 ? "|u1" : t == HRM_NPY_I32 ? "<i4" : "<f4"; }

void hrm_npy_free(hrm_npy_array *a) {
    free(a->data);
    memset(a, 0, sizeof *a);
}

int32_t hrm_npy_int_at(const hrm_npy_array *a, size_t i) {
    return a->dtype == HRM_NPY_U8 ? ((const uint8_t *)a->data)[i] : ((const int32_t *)a->data)[i];
}

/* ---- the header dict ---------------------------------------------------------------------- */

typedef struct npy_header {
    char descr[8];
    int fortran_order;
    int ndim;
    int64_t shape[HRM_NPY_MAX_DIMS];
} npy_header;

typedef struct cursor {
    const char *p, *end;
    int longs; /* Python 2 longs ("3L") allowed: format versions 1.0 and 2.0, as in numpy */
} cursor;

static void skip_ws(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int eat(cursor *c, char ch) {
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted string without escapes ('...' or "..."), at most size-1 characters. A NUL byte is
 * refused, as numpy (Python's parser) refuses it: it would cut "descr\0" to "descr" here. */
static int parse_str(cursor *c, char *out, size_t size) {
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || *c->p == '\0' || n + 1 >= size) return 0;
        out[n++] = *c->p++;
    }
    out[n] = 0;
    return c->p < c->end && *c->p++ == q;
}

/* A decimal integer as Python 3 spells it: no leading zeros ("03" is a SyntaxError, "00" is
 * 0); "3L" only where c->longs. */
static int parse_int(cursor *c, int64_t *v) {
    skip_ws(c);
    if (c->p >= c->end || !isdigit((unsigned char)*c->p)) return 0;
    int64_t x = 0;
    int leading_zero = *c->p == '0';
    while (c->p < c->end && isdigit((unsigned char)*c->p)) {
        int d = *c->p++ - '0';
        if (x > (INT64_MAX - d) / 10) return 0;
        x = x * 10 + d;
    }
    if (leading_zero && x) return 0;
    if (c->longs && c->p < c->end && *c->p == 'L') c->p++;
    *v = x;
    return 1;
}

static int parse_word(cursor *c, const char *w) {
    size_t n = strlen(w);
    skip_ws(c);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n)) return 0;
    c->p += n;
    return 1;
}

/* "()", "(5,)", "(3, 4)", "(3, 4,)" */
static const char *parse_shape(cursor *c, npy_header *h) {
    if (!eat(c, '(')) return "'shape' is not a tuple";
    h->ndim = 0;
    while (!eat(c, ')')) {
        if (h->ndim == HRM_NPY_MAX_DIMS) return "'shape' has more than 8 dimensions";
        if (!parse_int(c, &h->shape[h->ndim]))
            return "'shape' holds something other than non-negative decimal integers (without leading zeros)";
        h->ndim++;
        if (!eat(c, ',')) {
            if (!eat(c, ')')) return "'shape' tuple is malformed";
            return h->ndim == 1 ? "'shape' (n) is not a tuple (a 1-d shape is written (n,))" : NULL;
        }
    }
    return NULL;
}

static const char *parse_value(cursor *c, const char *key, npy_header *h, unsigned *seen) {
    if (!strcmp(key, "descr") && !(*seen & 1)) {
        *seen |= 1;
        return parse_str(c, h->descr, sizeof h->descr)
                   ? NULL
                   : "'descr' is not a short string (structured dtypes are not supported)";
    }
    if (!strcmp(key, "fortran_order") && !(*seen & 2)) {
        *seen |= 2;
        if (parse_word(c, "False"))
            h->fortran_order = 0;
        else if (parse_word(c, "True"))
            h->fortran_order = 1;
        else
            return "'fortran_order' is not True or False";
        return NULL;
    }
    if (!strcmp(key, "shape") && !(*seen & 4)) {
        *seen |= 4;
        return parse_shape(c, h);
    }
    return "unexpected or repeated key in the header dict";
}

/* The header dict of format version major.0. As numpy: whitespace may come before and after the
 * dict, and neither the 64-byte alignment nor the final newline that writers produce is
 * required. Stricter than numpy, on purpose: a repeated key (Python would keep the last value,
 * so two readers could disagree) and any Python syntax beyond what writers produce (comments,
 * "+3", "0x10", escapes) are refused. */
static const char *parse_header(const char *text, size_t len, int major, npy_header *h) {
    cursor c = {text, text + len, major <= 2};
    unsigned seen = 0;
    char key[32];
    memset(h, 0, sizeof *h);
    if (!eat(&c, '{')) return "header is not a dict";
    while (!eat(&c, '}')) {
        if (!parse_str(&c, key, sizeof key)) return "header dict key is not a string";
        if (!eat(&c, ':')) return "header dict lacks ':'";
        const char *e = parse_value(&c, key, h, &seen);
        if (e) return e;
        if (!eat(&c, ',') && !eat(&c, '}')) return "header dict lacks ','";
        if (c.p[-1] == '}') break;
    }
    skip_ws(&c);
    if (c.p != c.end) return "trailing characters after the header dict";
    if (seen != 7) return "header dict lacks one of 'descr', 'fortran_order', 'shape'";
    return NULL;
}

/* ---- dtypes ------------------------------------------------------------------------------- */

typedef struct src_type {
    char kind; /* 'u', 'i', 'f' */
    int size;  /* bytes per element in the file */
    hrm_npy_dtype out;
} src_type;

static int resolve_descr(const char *d, src_type *t) {
    if (strlen(d) != 3 || !strchr("<|=>", d[0]) || !strchr("uif", d[1]) || !strchr("1248", d[2])) return 0;
    t->kind = d[1];
    t->size = d[2] - '0';
    if (t->size > 1 && d[0] == '>') return 0; /* big-endian */
    if (t->kind == 'f') {
        t->out = HRM_NPY_F32;
        return t->size == 4;
    }
    t->out = (t->kind == 'u' && t->size == 1) ? HRM_NPY_U8 : HRM_NPY_I32;
    return 1;
}

static int64_t src_int_at(const unsigned char *p, const src_type *t) {
    int64_t v = 0;
    switch (t->size) {
    case 1: v = t->kind == 'i' ? (int64_t)(int8_t)p[0] : (int64_t)p[0]; break;
    case 2: v = t->kind == 'i' ? (int64_t)(int16_t)hrm_le16(p) : (int64_t)hrm_le16(p); break;
    case 4: v = t->kind == 'i' ? (int64_t)(int32_t)hrm_le32(p) : (int64_t)hrm_le32(p); break;
    default: v = (int64_t)hrm_le64(p); break;
    }
    return v;
}

/* Converts count integers of type t at src to int32; returns the index of the first value out
 * of range (with *bad), or count when all fit. An unsigned 64-bit value over INT64_MAX reads
 * as negative here and is refused too. */
static size_t to_int32(const unsigned char *src, const src_type *t, size_t count, int32_t *dst, int64_t *bad) {
    int unsigned64 = t->kind == 'u' && t->size == 8;
    for (size_t i = 0; i < count; i++) {
        int64_t v = src_int_at(src + i * (size_t)t->size, t);
        if (v < INT32_MIN || v > INT32_MAX || (unsigned64 && v < 0)) {
            *bad = v;
            return i;
        }
        dst[i] = (int32_t)v;
    }
    return count;
}

/* ---- reading ------------------------------------------------------------------------------ */

/* Reads the preamble; sets *major (the format version), *header_len and *prefix (bytes before the
 * header). */
static hrm_status read_preamble(FILE *f, const char *path, uint64_t size, int *major, uint32_t *header_len,
                                size_t *prefix, char *err, size_t n) {
    unsigned char pre[12];
    if (size < 10)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                           "truncated: %" PRIu64 " bytes, too short for a .npy preamble", size);
    hrm_status s = hrm_file_read(f, path, pre, 10, "the preamble", err, n);
    if (s) return s;
    if (memcmp(pre, NPY_MAGIC, 6))
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "not a .npy file (bad magic, expected \\x93NUMPY)");
    if (pre[6] < 1 || pre[6] > 3 || pre[7] != 0) /* numpy's _check_version */
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                           "unsupported .npy format version %d.%d (1.0, 2.0 or 3.0 expected)", pre[6], pre[7]);
    *major = pre[6];
    if (pre[6] == 1) {
        *header_len = hrm_le16(pre + 8);
        *prefix = 10;
        return HRM_OK;
    }
    if (size < 12)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                           "truncated: %" PRIu64 " bytes, too short for a .npy preamble", size);
    if ((s = hrm_file_read(f, path, pre + 10, 2, "the preamble", err, n))) return s;
    *header_len = hrm_le32(pre + 8);
    *prefix = 12;
    return HRM_OK;
}

static hrm_status read_header(FILE *f, const char *path, uint64_t size, npy_header *h, uint64_t *data_bytes, char *err,
                              size_t n) {
    uint32_t hlen = 0;
    size_t prefix = 0;
    int major = 0;
    hrm_status s = read_preamble(f, path, size, &major, &hlen, &prefix, err, n);
    if (s) return s;
    if (hlen > NPY_MAX_HEADER)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "header length %u is too large (limit %u bytes)", hlen,
                           NPY_MAX_HEADER);
    if (prefix + hlen > size)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                           "truncated: header length %u runs past the end of the file (%" PRIu64 " bytes)", hlen, size);
    char *text = malloc(hlen + 1u);
    if (!text) return hrm_io_fail(err, n, HRM_ERR_OUT_OF_MEMORY, path, "out of memory");
    s = hrm_file_read(f, path, text, hlen, "the header", err, n);
    const char *e = s ? NULL : parse_header(text, hlen, major, h);
    free(text);
    if (e) return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "bad header: %s", e);
    *data_bytes = size - prefix - hlen;
    return s;
}

/* "uint8", "int64", "float32": numpy's name of a type, for messages. */
static const char *type_name(const src_type *t, char *buf, size_t size) {
    snprintf(buf, size, "%s%d", t->kind == 'u' ? "uint" : t->kind == 'i' ? "int" : "float", t->size * 8);
    return buf;
}

/* Checks the header against the file: dtype, order, and the exact data size. numpy reads
 * Fortran-order arrays and ignores bytes after the data; we refuse both on purpose (we would
 * have to transpose, and bytes the shape does not account for mean a wrong shape or dtype). */
static hrm_status check_header(const char *path, const npy_header *h, uint64_t data_bytes, src_type *t, size_t *count,
                               char *err, size_t n) {
    char shape[128], type[16];
    size_t bytes = 1;
    if (!resolve_descr(h->descr, t))
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                           "unsupported dtype '%s' (expected |u1, <f4 or a little-endian integer type such as <i4)",
                           h->descr);
    if (h->fortran_order)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                           "Fortran-order arrays are not supported (save a C-contiguous array)");
    for (int i = 0; i < h->ndim; i++)
        if ((uint64_t)h->shape[i] > SIZE_MAX || !hrm_mul_size(bytes, (size_t)h->shape[i], &bytes))
            return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "shape %s is too large",
                               hrm_shape_str(shape, sizeof shape, h->ndim, h->shape));
    *count = bytes;
    if (!hrm_mul_size(bytes, (size_t)t->size, &bytes))
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "shape %s is too large",
                           hrm_shape_str(shape, sizeof shape, h->ndim, h->shape));
    if (data_bytes == bytes) return HRM_OK;
    return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                       "%s: header says %s %s (%zu bytes of data), file has %" PRIu64 " bytes of data",
                       data_bytes < bytes ? "truncated" : "trailing bytes after the data",
                       hrm_shape_str(shape, sizeof shape, h->ndim, h->shape), type_name(t, type, sizeof type), bytes,
                       data_bytes);
}

/* Reads count elements of type t into out->data, converting to out->dtype. */
static hrm_status read_data(FILE *f, const char *path, const src_type *t, size_t count, hrm_npy_array *out, char *err,
                            size_t n) {
    size_t bytes = count * (size_t)t->size;
    int convert = t->out == HRM_NPY_I32 && !(t->kind == 'i' && t->size == 4);
    void *raw = malloc(bytes ? bytes : 1);
    out->data = convert ? malloc(count ? count * 4 : 1) : raw;
    if (!raw || !out->data) {
        if (convert) free(raw);
        return hrm_io_fail(err, n, HRM_ERR_OUT_OF_MEMORY, path, "out of memory for %zu bytes of data", bytes);
    }
    hrm_status s = hrm_file_read(f, path, raw, bytes, "the data", err, n);
    if (!convert) return s;
    if (s) {
        free(raw);
        return s;
    }
    int64_t bad = 0;
    size_t at = to_int32(raw, t, count, out->data, &bad);
    free(raw);
    if (at < count)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                           "value %" PRId64 " at element %zu (dtype %s) does not fit in int32", bad, at, out->descr);
    return HRM_OK;
}

hrm_status hrm_npy_read(const char *path, hrm_npy_array *out, char *err, size_t err_size) {
    FILE *f;
    uint64_t size, data_bytes = 0;
    npy_header h;
    src_type t = {0};
    size_t count = 0;
    memset(out, 0, sizeof *out);
    hrm_status s = hrm_file_open_read(path, &f, &size, err, err_size);
    if (s) return s;
    s = read_header(f, path, size, &h, &data_bytes, err, err_size);
    if (!s) s = check_header(path, &h, data_bytes, &t, &count, err, err_size);
    if (!s) {
        memcpy(out->descr, h.descr, sizeof out->descr);
        out->dtype = t.out;
        out->ndim = h.ndim;
        memcpy(out->shape, h.shape, sizeof h.shape);
        out->count = count;
        s = read_data(f, path, &t, count, out, err, err_size);
    }
    fclose(f);
    if (s) hrm_npy_free(out);
    return s;
}

/* ---- writing ------------------------------------------------------------------------------ */

/* The preamble and header of a version 1.0 file (a header of at most 8 dimensions always fits
 * its 16-bit length), padded so that the data starts at a multiple of 64. Returns the length. */
static size_t build_header(char *buf, size_t size, hrm_npy_dtype dtype, int ndim, const int64_t *shape) {
    char dict[512];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", dtype_descr(dtype));
    for (int i = 0; i < ndim; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, i ? ", %lld" : "%lld", (long long)shape[i]);
    n += snprintf(dict + n, sizeof dict - (size_t)n, ndim == 1 ? ",), }" : "), }"); /* numpy's spelling */
    size_t prefix = 10, len = (size_t)n + 1;                                        /* + the closing newline */
    size_t total = (prefix + len + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    if (total > size) return 0;
    memcpy(buf, NPY_MAGIC "\x01\x00", 8);
    buf[8] = (char)((total - prefix) & 0xff);
    buf[9] = (char)((total - prefix) >> 8);
    memcpy(buf + prefix, dict, (size_t)n);
    memset(buf + prefix + n, ' ', total - prefix - (size_t)n - 1);
    buf[total - 1] = '\n';
    return total;
}

hrm_status hrm_npy_writer_open(hrm_npy_writer *w, const char *path, hrm_npy_dtype dtype, int ndim, const int64_t *shape,
                               char *err, size_t err_size) {
    char header[640];
    size_t count = 1, bytes;
    *w = (hrm_npy_writer){0};
    if (ndim < 0 || ndim > HRM_NPY_MAX_DIMS || dtype > HRM_NPY_F32)
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "cannot write: bad dtype or %d dimensions", ndim);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0 || !hrm_mul_size(count, (size_t)shape[i], &count))
            return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "cannot write: bad shape");
    if (!hrm_mul_size(count, hrm_npy_dtype_size(dtype), &bytes))
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "cannot write: shape too large");
    size_t hlen = build_header(header, sizeof header, dtype, ndim, shape);
    hrm_status s = hrm_atomic_open(&w->af, path, err, err_size);
    if (!s) s = hrm_atomic_write(&w->af, header, hlen, err, err_size);
    if (s)
        hrm_npy_writer_abort(w);
    else
        w->remaining = bytes;
    return s;
}

hrm_status hrm_npy_writer_append(hrm_npy_writer *w, const void *data, size_t bytes, char *err, size_t err_size) {
    if (bytes > w->remaining || (bytes && !data)) {
        hrm_status s =
            hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, w->af.path, "cannot write: more data than the shape holds");
        hrm_npy_writer_abort(w);
        return s;
    }
    hrm_status s = hrm_atomic_write(&w->af, data, bytes, err, err_size);
    if (s)
        hrm_npy_writer_abort(w);
    else
        w->remaining -= bytes;
    return s;
}

hrm_status hrm_npy_writer_commit(hrm_npy_writer *w, char *err, size_t err_size) {
    hrm_status s = w->remaining ? hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, w->af.path,
                                              "cannot write: %zu bytes short of the shape", w->remaining)
                                : hrm_atomic_commit(&w->af, err, err_size);
    if (s) hrm_npy_writer_abort(w);
    return s;
}

void hrm_npy_writer_abort(hrm_npy_writer *w) {
    hrm_atomic_abort(&w->af);
    w->remaining = 0;
}

hrm_status hrm_npy_write(const char *path, hrm_npy_dtype dtype, int ndim, const int64_t *shape, const void *data,
                         char *err, size_t err_size) {
    hrm_npy_writer w;
    hrm_status s = hrm_npy_writer_open(&w, path, dtype, ndim, shape, err, err_size);
    if (!s && w.remaining && !data) {
        hrm_npy_writer_abort(&w);
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "cannot write: no data");
    }
    if (!s) s = hrm_npy_writer_append(&w, data, w.remaining, err, err_size);
    if (!s) s = hrm_npy_writer_commit(&w, err, err_size);
    return s;
}
