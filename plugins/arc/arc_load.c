/* plugins/arc/arc_load.c - reads ARC task files ({"train": [{"input": G, "output": G}, ...],
 * "test": [...]}, other keys ignored) and single grids with jansson, checking what the published
 * builder asserts (sapientinc/HRM dataset/build_arc_dataset.py, arc_grid_to_np: a 2-D grid of at
 * most 30x30 with values 0-9) plus what numpy would have caught for it: ragged rows, empty grids,
 * non-integers. Every failure comes back as one line saying where in the file the problem is. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arc.h"

/* Writes the reason into why and returns false, so that checks read `return fail(...)`. */
__attribute__((format(printf, 3, 4))) static bool fail(char *why, size_t why_size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
    return false;
}

static bool row_from_json(const json_t *row, int r, arc_grid *g, char *why, size_t why_size) {
    if (!json_is_array(row)) return fail(why, why_size, "row %d is not a list", r);
    int w = (int)json_array_size(row);
    if (w > ARC_MAX) return fail(why, why_size, "grid larger than 30x30 (row %d has %d cells)", r, w);
    if (r == 0) g->w = w;
    if (w == 0) return fail(why, why_size, "empty row %d", r);
    if (w != g->w) return fail(why, why_size, "ragged rows (row %d has %d cells, row 0 has %d)", r, w, g->w);
    for (int c = 0; c < w; c++) {
        const json_t *v = json_array_get(row, (size_t)c);
        if (!json_is_integer(v)) return fail(why, why_size, "cell [%d][%d] is not an integer", r, c);
        json_int_t x = json_integer_value(v);
        if (x < 0 || x >= ARC_COLORS)
            return fail(why, why_size, "value %lld outside 0-9 in cell [%d][%d]", (long long)x, r, c);
        g->c[r * w + c] = (uint8_t)x;
    }
    return true;
}

bool arc_grid_from_json(const json_t *j, arc_grid *g, char *why, size_t why_size) {
    if (!json_is_array(j)) return fail(why, why_size, "not a list of rows");
    int h = (int)json_array_size(j);
    if (h == 0) return fail(why, why_size, "empty grid");
    if (h > ARC_MAX) return fail(why, why_size, "grid larger than 30x30 (%d rows)", h);
    g->h = h;
    for (int r = 0; r < h; r++)
        if (!row_from_json(json_array_get(j, (size_t)r), r, g, why, why_size)) return false;
    return true;
}

/* One {"input": G, "output": G} object; `where` is e.g. "train[2]". */
static bool pair_from_json(const json_t *p, const char *where, arc_pair *out, char *why, size_t why_size) {
    static const char *const keys[2] = {"input", "output"};
    if (!json_is_object(p)) return fail(why, why_size, "%s: not an object with input and output", where);
    for (int k = 0; k < 2; k++) {
        const json_t *g = json_object_get(p, keys[k]);
        char inner[160], at[64];
        snprintf(at, sizeof at, "%s.%s", where, keys[k]);
        if (!g) return fail(why, why_size, "%s: missing", at);
        if (!arc_grid_from_json(g, k ? &out->out : &out->in, inner, sizeof inner)) {
            snprintf(why, why_size, "%s: %s", at, inner);
            return false;
        }
    }
    return true;
}

static bool pairs_from_json(const json_t *list, const char *key, arc_pair *pairs, char *why, size_t why_size) {
    for (size_t i = 0; i < json_array_size(list); i++) {
        char where[32];
        snprintf(where, sizeof where, "%s[%zu]", key, i);
        if (!pair_from_json(json_array_get(list, i), where, &pairs[i], why, why_size)) return false;
    }
    return true;
}

/* The id is the file name without .json, as the published default_name. */
bool arc_task_id(const char *path, char *id, size_t id_size) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len > 5 && !strcmp(base + len - 5, ".json")) len -= 5;
    if (len == 0 || len >= id_size) return false;
    memcpy(id, base, len);
    id[len] = '\0';
    return true;
}

/* The separator of variant names may not occur in an id, or evaluation could not split the names. */
static bool set_id(arc_task *t, const char *path, char *why, size_t why_size) {
    if (!arc_task_id(path, t->id, sizeof t->id)) return fail(why, why_size, "file name unusable as a task id");
    if (strstr(t->id, ARC_NAME_SEP)) return fail(why, why_size, "task id contains \"" ARC_NAME_SEP "\"");
    return true;
}

static bool task_from_json(const json_t *root, arc_task *t, char *why, size_t why_size) {
    if (!json_is_object(root)) return fail(why, why_size, "not a JSON object");
    const json_t *train = json_object_get(root, "train"), *test = json_object_get(root, "test");
    if (!json_is_array(train)) return fail(why, why_size, "missing \"train\" list");
    if (!json_is_array(test)) return fail(why, why_size, "missing \"test\" list");
    t->n_train = (int)json_array_size(train);
    t->n_test = (int)json_array_size(test);
    if (t->n_train + t->n_test == 0) return fail(why, why_size, "no pairs in \"train\" or \"test\"");
    t->pairs = calloc((size_t)(t->n_train + t->n_test) + 1, sizeof *t->pairs);
    if (!t->pairs) return fail(why, why_size, "out of memory");
    return pairs_from_json(train, "train", t->pairs, why, why_size) &&
           pairs_from_json(test, "test", t->pairs + t->n_train, why, why_size);
}

bool arc_task_load(const char *path, arc_task *t, char *why, size_t why_size) {
    memset(t, 0, sizeof *t);
    if (!set_id(t, path, why, why_size)) return false;
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        if (je.line > 0) return fail(why, why_size, "invalid JSON at line %d: %s", je.line, je.text);
        return fail(why, why_size, "%s", je.text); /* could not open or read it */
    }
    bool ok = task_from_json(root, t, why, why_size);
    json_decref(root);
    if (!ok) arc_task_free(t);
    return ok;
}

void arc_task_free(arc_task *t) {
    free(t->pairs);
    t->pairs = NULL;
    t->n_train = t->n_test = 0;
}
