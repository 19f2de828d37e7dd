/* core/dataset.c - loads, checks and writes puzzle datasets in the published HRM layout (see
 * dataset.h). Every check reports the first problem as one line naming the file it concerns. */
#include "dataset.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io_util.h"

#define SET_NAME "all"
#define MAX_VOCAB (1 << 24)

/* The file names of a split, in the order of the published builders. */
enum { F_META, F_INPUTS, F_LABELS, F_IDS, F_PUZZLES, F_GROUPS, F_COUNT };
static const char *const FILE_NAMES[F_COUNT] = {
    "dataset.json",
    "all__inputs.npy",
    "all__labels.npy",
    "all__puzzle_identifiers.npy",
    "all__puzzle_indices.npy",
    "all__group_indices.npy",
};

typedef struct split_paths {
    char file[F_COUNT][PATH_MAX];
    char identifiers[PATH_MAX];
} split_paths;

static void make_paths(split_paths *p, const char *dir, const char *split) {
    for (int i = 0; i < F_COUNT; i++) snprintf(p->file[i], sizeof p->file[i], "%s/%s/%s", dir, split, FILE_NAMES[i]);
    snprintf(p->identifiers, sizeof p->identifiers, "%s/identifiers.json", dir);
}

void hrm_dataset_free(hrm_dataset *ds) {
    hrm_npy_free(&ds->inputs);
    hrm_npy_free(&ds->labels);
    free(ds->puzzle_identifiers);
    free(ds->puzzle_indices);
    free(ds->group_indices);
    for (int i = 0; i < ds->num_identifiers; i++) free(ds->identifiers[i]);
    free(ds->identifiers);
    memset(ds, 0, sizeof *ds);
}

int hrm_dataset_puzzle_of(const hrm_dataset *ds, int row) {
    int lo = 0, hi = ds->num_puzzles - 1; /* the last p with puzzle_indices[p] <= row */
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (ds->puzzle_indices[mid] <= row)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* ---- dataset.json ------------------------------------------------------------------------- */

static int get_int(json_t *o, const char *key, int lo, int hi, int *v) {
    json_t *j = json_object_get(o, key);
    if (!json_is_integer(j) || json_integer_value(j) < lo || json_integer_value(j) > hi) return 0;
    *v = (int)json_integer_value(j);
    return 1;
}

static int sets_ok(json_t *sets) {
    return json_is_array(sets) && json_array_size(sets) == 1 && json_is_string(json_array_get(sets, 0)) &&
           !strcmp(json_string_value(json_array_get(sets, 0)), SET_NAME);
}

static hrm_status parse_meta(const char *path, json_t *o, hrm_dataset_meta *m, char *err, size_t n) {
    static const char *const ranged = "'%s' is missing, not an integer or outside [%d, %d]";
    json_t *ignore = json_object_get(o, "ignore_label_id"), *mean = json_object_get(o, "mean_puzzle_examples");
    if (!json_is_object(o)) return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "not a JSON object");
    if (!get_int(o, "vocab_size", 1, MAX_VOCAB, &m->vocab_size))
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, ranged, "vocab_size", 1, MAX_VOCAB);
    if (!get_int(o, "seq_len", 1, INT_MAX, &m->seq_len))
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, ranged, "seq_len", 1, INT_MAX);
    if (!get_int(o, "num_puzzle_identifiers", 1, INT_MAX, &m->num_puzzle_identifiers))
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, ranged, "num_puzzle_identifiers", 1, INT_MAX);
    if (!get_int(o, "pad_id", 0, m->vocab_size - 1, &m->pad_id))
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, ranged, "pad_id", 0, m->vocab_size - 1);
    if (!get_int(o, "blank_identifier_id", 0, m->num_puzzle_identifiers - 1, &m->blank_identifier_id))
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, ranged, "blank_identifier_id", 0,
                           m->num_puzzle_identifiers - 1);
    if (!get_int(o, "total_groups", 0, INT_MAX, &m->total_groups))
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, ranged, "total_groups", 0, INT_MAX);
    m->has_ignore_label = !json_is_null(ignore);
    if (m->has_ignore_label && !get_int(o, "ignore_label_id", INT_MIN, INT_MAX, &m->ignore_label_id))
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                           "'ignore_label_id' is missing or neither an integer nor null");
    if (!json_is_number(mean) || json_number_value(mean) < 0)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                           "'mean_puzzle_examples' is missing or not a non-negative number");
    m->mean_puzzle_examples = json_number_value(mean);
    if (!sets_ok(json_object_get(o, "sets")))
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                           "'sets' must be [\"" SET_NAME "\"] (the only set the published builders write)");
    return HRM_OK;
}

static hrm_status load_json(const char *path, json_t **out, char *err, size_t n) {
    json_error_t je;
    *out = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (*out) return HRM_OK;
    if (je.line < 0) return hrm_io_fail(err, n, HRM_ERR_NOT_AVAILABLE, path, "cannot read: %s", je.text);
    return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "invalid JSON: %s (line %d, column %d)", je.text, je.line,
                       je.column);
}

static hrm_status load_meta(const char *path, hrm_dataset_meta *m, char *err, size_t n) {
    json_t *o;
    hrm_status s = load_json(path, &o, err, n);
    if (s) return s;
    s = parse_meta(path, o, m, err, n);
    json_decref(o);
    return s;
}

/* ---- identifiers.json --------------------------------------------------------------------- */

static hrm_status parse_identifiers(const char *path, json_t *a, hrm_dataset *ds, char *err, size_t n) {
    if (!json_is_array(a)) return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "not a JSON list of names");
    size_t count = json_array_size(a);
    if (count > INT_MAX) return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "too many names");
    ds->identifiers = calloc(count + 1, sizeof *ds->identifiers);
    if (!ds->identifiers) return hrm_io_fail(err, n, HRM_ERR_OUT_OF_MEMORY, path, "out of memory");
    for (size_t i = 0; i < count; i++) {
        json_t *name = json_array_get(a, i);
        if (!json_is_string(name))
            return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "entry %zu is not a string", i);
        ds->identifiers[ds->num_identifiers] = strdup(json_string_value(name));
        if (!ds->identifiers[ds->num_identifiers++])
            return hrm_io_fail(err, n, HRM_ERR_OUT_OF_MEMORY, path, "out of memory");
    }
    return HRM_OK;
}

static hrm_status load_identifiers(const char *path, hrm_dataset *ds, char *err, size_t n) {
    json_t *a;
    hrm_status s = load_json(path, &a, err, n);
    if (s) return s;
    s = parse_identifiers(path, a, ds, err, n);
    json_decref(a);
    return s;
}

hrm_status hrm_dataset_load_identifiers(const char *dir, hrm_dataset *out, char *err, size_t err_size) {
    char path[PATH_MAX];
    memset(out, 0, sizeof *out);
    snprintf(path, sizeof path, "%s/identifiers.json", dir);
    hrm_status s = load_identifiers(path, out, err, err_size);
    if (s) hrm_dataset_free(out);
    return s;
}

/* ---- the arrays --------------------------------------------------------------------------- */

static hrm_status load_tokens(const char *path, hrm_npy_array *a, char *err, size_t n) {
    hrm_status s = hrm_npy_read(path, a, err, n);
    if (!s && a->dtype == HRM_NPY_F32)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                           "dtype %s is not an integer type (expected uint8 or int32)", a->descr);
    return s;
}

/* A 1-d integer array as int32 (uint8 widened); *len is its length. */
static hrm_status load_index(const char *path, int32_t **out, int *len, char *err, size_t n) {
    hrm_npy_array a;
    hrm_status s = hrm_npy_read(path, &a, err, n);
    if (s) return s;
    if (a.dtype == HRM_NPY_F32 || a.ndim != 1 || a.count > INT_MAX) {
        s = hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "expected a 1-d int32 array, got %d-d %s", a.ndim, a.descr);
    } else if (a.dtype == HRM_NPY_U8) {
        *out = malloc((a.count ? a.count : 1) * sizeof **out);
        if (!*out) s = hrm_io_fail(err, n, HRM_ERR_OUT_OF_MEMORY, path, "out of memory");
        for (size_t i = 0; !s && i < a.count; i++) (*out)[i] = ((uint8_t *)a.data)[i];
    } else {
        *out = a.data;
        a.data = NULL;
    }
    *len = (int)a.count;
    hrm_npy_free(&a);
    return s;
}

/* Loads the three index arrays and derives P and G from their lengths. */
static hrm_status load_indices(const split_paths *p, hrm_dataset *ds, char *err, size_t n) {
    int ids, puzzles, groups;
    hrm_status s = load_index(p->file[F_IDS], &ds->puzzle_identifiers, &ids, err, n);
    if (!s) s = load_index(p->file[F_PUZZLES], &ds->puzzle_indices, &puzzles, err, n);
    if (!s) s = load_index(p->file[F_GROUPS], &ds->group_indices, &groups, err, n);
    if (s) return s;
    if (puzzles != ids + 1)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, p->file[F_PUZZLES],
                           "has %d entries, expected one more than the %d puzzle identifiers", puzzles, ids);
    if (groups < 1)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, p->file[F_GROUPS],
                           "is empty (expected num_groups + 1 entries)");
    ds->num_puzzles = ids;
    ds->num_groups = groups - 1;
    return HRM_OK;
}

static hrm_status load_all(const char *dir, const char *split, hrm_dataset *ds, char *err, size_t n) {
    split_paths *p = malloc(sizeof *p);
    if (!p) return hrm_io_fail(err, n, HRM_ERR_OUT_OF_MEMORY, dir, "out of memory");
    make_paths(p, dir, split);
    hrm_status s = load_meta(p->file[F_META], &ds->meta, err, n);
    if (!s) s = load_tokens(p->file[F_INPUTS], &ds->inputs, err, n);
    if (!s) s = load_tokens(p->file[F_LABELS], &ds->labels, err, n);
    if (!s) s = load_indices(p, ds, err, n);
    if (!s) s = load_identifiers(p->identifiers, ds, err, n);
    if (!s && (ds->inputs.ndim < 1 || ds->inputs.shape[0] > INT_MAX))
        s = hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, p->file[F_INPUTS], "expected a 2-d array of at most 2^31-1 rows");
    if (!s) ds->num_examples = (int)ds->inputs.shape[0];
    free(p);
    return s;
}

hrm_status hrm_dataset_load(const char *dir, const char *split, hrm_dataset *out, char *err, size_t err_size) {
    memset(out, 0, sizeof *out);
    hrm_status s = load_all(dir, split, out, err, err_size);
    if (!s) s = hrm_dataset_validate(out, dir, split, err, err_size);
    if (s) hrm_dataset_free(out);
    return s;
}

/* ---- checks ------------------------------------------------------------------------------- */

static hrm_status check_token_shape(const char *path, const hrm_npy_array *a, const hrm_dataset *ds, char *err,
                                    size_t n) {
    char shape[128];
    if (!a->data || a->dtype == HRM_NPY_F32)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "expected a uint8 or int32 array");
    if (a->ndim != 2 || a->shape[0] != ds->num_examples || a->shape[1] != ds->meta.seq_len)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "shape %s, expected %d x %d (examples x seq_len)",
                           hrm_shape_str(shape, sizeof shape, a->ndim, a->shape), ds->num_examples, ds->meta.seq_len);
    return HRM_OK;
}

/* Every token in [0, vocab_size), or equal to ignore_label_id when ignore is set. */
static hrm_status check_tokens(const char *path, const hrm_npy_array *a, const hrm_dataset *ds, bool ignore, char *err,
                               size_t n) {
    int T = ds->meta.seq_len, V = ds->meta.vocab_size;
    for (size_t i = 0; i < a->count; i++) {
        int32_t v = hrm_npy_int_at(a, i);
        if ((v < 0 || v >= V) && !(ignore && v == ds->meta.ignore_label_id))
            return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                               "token %d at example %zu, position %zu is outside [0, vocab_size %d)", v, i / (size_t)T,
                               i % (size_t)T, V);
    }
    return HRM_OK;
}

/* idx (len+1 entries) starts at 0, never decreases and ends at end. */
static hrm_status check_index(const char *path, const int32_t *idx, int len, int end, const char *what, char *err,
                              size_t n) {
    if (!idx) return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "missing");
    if (idx[0] != 0) return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "starts at %d, expected 0", idx[0]);
    for (int i = 1; i <= len; i++)
        if (idx[i] < idx[i - 1])
            return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "decreases at entry %d (%d after %d)", i, idx[i],
                               idx[i - 1]);
    if (idx[len] != end)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "ends at %d, expected %d (the number of %s)", idx[len],
                           end, what);
    return HRM_OK;
}

static hrm_status check_identifiers(const split_paths *p, const hrm_dataset *ds, char *err, size_t n) {
    const hrm_dataset_meta *m = &ds->meta;
    if (ds->num_puzzles && !ds->puzzle_identifiers)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, p->file[F_IDS], "missing");
    for (int i = 0; i < ds->num_puzzles; i++)
        if (ds->puzzle_identifiers[i] < 0 || ds->puzzle_identifiers[i] >= m->num_puzzle_identifiers)
            return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, p->file[F_IDS],
                               "identifier %d of puzzle %d is outside [0, num_puzzle_identifiers %d)",
                               ds->puzzle_identifiers[i], i, m->num_puzzle_identifiers);
    if (ds->identifiers && ds->num_identifiers != m->num_puzzle_identifiers)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, p->identifiers,
                           "has %d names, but %s says num_puzzle_identifiers is %d", ds->num_identifiers,
                           p->file[F_META], m->num_puzzle_identifiers);
    return HRM_OK;
}

static hrm_status check_meta(const split_paths *p, const hrm_dataset *ds, char *err, size_t n) {
    const hrm_dataset_meta *m = &ds->meta;
    if (m->vocab_size < 1 || m->seq_len < 1 || m->num_puzzle_identifiers < 1 || m->pad_id < 0 ||
        m->pad_id >= m->vocab_size || m->blank_identifier_id < 0 || m->blank_identifier_id >= m->num_puzzle_identifiers)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, p->file[F_META],
                           "vocab_size, seq_len, num_puzzle_identifiers, pad_id or blank_identifier_id out of range");
    if (m->total_groups != ds->num_groups)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, p->file[F_META], "total_groups is %d, but %s holds %d groups",
                           m->total_groups, FILE_NAMES[F_GROUPS], ds->num_groups);
    return HRM_OK;
}

static hrm_status validate(const split_paths *p, const hrm_dataset *ds, char *err, size_t n) {
    hrm_status s = check_meta(p, ds, err, n);
    if (!s) s = check_token_shape(p->file[F_INPUTS], &ds->inputs, ds, err, n);
    if (!s) s = check_token_shape(p->file[F_LABELS], &ds->labels, ds, err, n);
    if (!s)
        s = check_index(p->file[F_PUZZLES], ds->puzzle_indices, ds->num_puzzles, ds->num_examples,
                        "examples in "
                        "all__inputs.npy",
                        err, n);
    if (!s)
        s = check_index(p->file[F_GROUPS], ds->group_indices, ds->num_groups, ds->num_puzzles,
                        "puzzles in "
                        "all__puzzle_identifiers.npy",
                        err, n);
    if (!s) s = check_identifiers(p, ds, err, n);
    if (!s) s = check_tokens(p->file[F_INPUTS], &ds->inputs, ds, false, err, n);
    if (!s) s = check_tokens(p->file[F_LABELS], &ds->labels, ds, ds->meta.has_ignore_label, err, n);
    return s;
}

hrm_status hrm_dataset_validate(const hrm_dataset *ds, const char *dir, const char *split, char *err, size_t err_size) {
    split_paths *p = malloc(sizeof *p);
    if (!p) return hrm_io_fail(err, err_size, HRM_ERR_OUT_OF_MEMORY, dir, "out of memory");
    make_paths(p, dir, split);
    hrm_status s = validate(p, ds, err, err_size);
    free(p);
    return s;
}

/* ---- writing ------------------------------------------------------------------------------ */

static hrm_status make_dir(const char *path, char *err, size_t n) {
    if (!mkdir(path, 0777) || errno == EEXIST) return HRM_OK;
    return hrm_io_fail(err, n, HRM_ERR_NOT_AVAILABLE, path, "cannot create folder: %s", strerror(errno));
}

static hrm_status write_json(const char *path, json_t *j, char *err, size_t n) {
    char *text = j ? json_dumps(j, 0) : NULL;
    json_decref(j);
    if (!text)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "cannot encode JSON (a string that is not UTF-8?)");
    hrm_status s = hrm_atomic_write_file(path, text, strlen(text), err, n);
    free(text);
    return s;
}

/* The published builders' field order. */
static json_t *meta_json(const hrm_dataset_meta *m) {
    return json_pack("{s:i, s:o, s:i, s:i, s:i, s:i, s:i, s:f, s:[s]}", "pad_id", m->pad_id, "ignore_label_id",
                     m->has_ignore_label ? json_integer(m->ignore_label_id) : json_null(), "blank_identifier_id",
                     m->blank_identifier_id, "vocab_size", m->vocab_size, "seq_len", m->seq_len,
                     "num_puzzle_identifiers", m->num_puzzle_identifiers, "total_groups", m->total_groups,
                     "mean_puzzle_examples", m->mean_puzzle_examples, "sets", SET_NAME);
}

static json_t *identifiers_json(const hrm_dataset *ds) {
    json_t *a = json_array();
    for (int i = 0; a && i < ds->num_identifiers; i++)
        if (json_array_append_new(a, json_string(ds->identifiers[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static hrm_status write_arrays(const split_paths *p, const hrm_dataset *ds, char *err, size_t n) {
    int64_t tokens[2] = {ds->num_examples, ds->meta.seq_len};
    int64_t ids = ds->num_puzzles, puzzles = ds->num_puzzles + 1, groups = ds->num_groups + 1;
    hrm_status s = hrm_npy_write(p->file[F_INPUTS], ds->inputs.dtype, 2, tokens, ds->inputs.data, err, n);
    if (!s) s = hrm_npy_write(p->file[F_LABELS], ds->labels.dtype, 2, tokens, ds->labels.data, err, n);
    if (!s) s = hrm_npy_write(p->file[F_IDS], HRM_NPY_I32, 1, &ids, ds->puzzle_identifiers, err, n);
    if (!s) s = hrm_npy_write(p->file[F_PUZZLES], HRM_NPY_I32, 1, &puzzles, ds->puzzle_indices, err, n);
    if (!s) s = hrm_npy_write(p->file[F_GROUPS], HRM_NPY_I32, 1, &groups, ds->group_indices, err, n);
    return s;
}

static hrm_status write_all(const split_paths *p, const hrm_dataset *ds, const char *dir, const char *split, char *err,
                            size_t n) {
    char split_dir[PATH_MAX];
    snprintf(split_dir, sizeof split_dir, "%s/%s", dir, split);
    hrm_status s = validate(p, ds, err, n);
    if (!s) s = make_dir(dir, err, n);
    if (!s) s = make_dir(split_dir, err, n);
    if (!s) s = write_arrays(p, ds, err, n);
    if (!s) s = write_json(p->file[F_META], meta_json(&ds->meta), err, n);
    if (!s && ds->identifiers) s = write_json(p->identifiers, identifiers_json(ds), err, n);
    return s;
}

hrm_status hrm_dataset_write(const hrm_dataset *ds, const char *dir, const char *split, char *err, size_t err_size) {
    split_paths *p = malloc(sizeof *p);
    if (!p) return hrm_io_fail(err, err_size, HRM_ERR_OUT_OF_MEMORY, dir, "out of memory");
    make_paths(p, dir, split);
    hrm_status s = write_all(p, ds, dir, split, err, err_size);
    free(p);
    return s;
}
