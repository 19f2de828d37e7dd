/* plugins/arc/arc_eval.c - ARC pass@1 and pass@2 over a test split, as the published evaluator
 * computes them (sapientinc/HRM evaluators/arc.py, class ARC):
 * - each prediction, input and label is cropped (arc_decode_at) and mapped back through the
 *   inverse of its variant's transform and colour map, read from the identifier's name;
 * - predictions are pooled per test pair, a pair being (task, original input grid), and voted:
 *   candidates rank by votes, then by the mean of sigmoid(q_halt) over their votes, then by first
 *   appearance (Python's stable sort);
 * - a pair is solved at K when one of its top K candidates equals the original output; a task
 *   scores the fraction of its test pairs solved and pass@K is the mean over tasks. (With one test
 *   pair per task, as in most of ARC, this is the fraction of test pairs.)
 * Denominators as published when every test row reaches eval_add (as `hrm eval` does): a task's
 * test pairs are the rows of its original puzzle (named by the task alone), the published
 * len(puzzle["test"]) of test_puzzles.json, so two test pairs with the same input are scored from
 * the same votes and count twice; an input that only variants gave counts once. Each pair is
 * scored against the label of its first row. What stays different: a task none of whose rows is
 * added is not counted (the published divides by every task of test_puzzles.json, but
 * identifiers.json names the train split's tasks too, so eval_begin cannot tell the test tasks),
 * nor is a test pair no puzzle of its task gave a row for.
 * Rows of the blank identifier 0 are batch padding and are skipped, as published. Grids are
 * compared by 64-bit hashes as the published code compares SHA-256 digests. Unlike the Python,
 * grids are read from where the label's grid starts, so translated (train split) rows score too;
 * for the top-left test split this is the published crop. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arc.h"

typedef struct candidate {
    uint64_t hash;
    int votes;
    double q_sum;
    bool correct;
} candidate;

typedef struct test_pair {
    const char *task; /* owned by the evaluation's task_names */
    uint64_t input_hash, label_hash;
    candidate *cands;
    int n_cands, cap_cands;
    int orig_rows; /* rows of the task's original puzzle with this input: published test pairs */
} test_pair;

typedef struct ident {
    const char *task; /* NULL: not an ARC puzzle name */
    arc_aug aug;
    bool original; /* the task's own puzzle (a name without the separator) */
} ident;

struct hrm_task_eval {
    ident *ids; /* ids is (n_ids), by puzzle identifier */
    int n_ids;
    char **task_names;
    int n_task_names;
    test_pair *pairs;
    int n_pairs, cap_pairs;
    int *slots; /* open addressing over pairs: pair index + 1, 0 = empty; slot_mask + 1 of them */
    size_t slot_mask;
    hrm_status status; /* the first failure of eval_add, reported by eval_end */
    char error[256];
};

/* Writes one line into err (which may be NULL) and returns HRM_ERR_INVALID_ARG. */
__attribute__((format(printf, 3, 4))) static hrm_status eval_fail(char *err, size_t err_size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (err && err_size) vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    return HRM_ERR_INVALID_ARG;
}

static void eval_free(hrm_task_eval *e) {
    for (int i = 0; i < e->n_task_names; i++) free(e->task_names[i]);
    for (int i = 0; i < e->n_pairs; i++) free(e->pairs[i].cands);
    free(e->task_names);
    free(e->ids);
    free(e->pairs);
    free(e->slots);
    free(e);
}

/* ---- eval_begin: the identifier table ---------------------------------------------------- */

/* Variants of a task have consecutive identifiers in datasets built here and by the published
 * script, so a task's name is copied once per run of identifiers. */
static bool set_ident(hrm_task_eval *e, int i, const char *name) {
    char task[ARC_NAME_MAX];
    if (!name || !arc_name_parse(name, task, sizeof task, &e->ids[i].aug)) return true; /* left NULL */
    const char *prev = e->n_task_names ? e->task_names[e->n_task_names - 1] : NULL;
    if (!prev || strcmp(prev, task)) {
        if (!(e->task_names[e->n_task_names] = strdup(task))) return false;
        prev = e->task_names[e->n_task_names++];
    }
    e->ids[i].task = prev;
    e->ids[i].original = !strstr(name, ARC_NAME_SEP);
    return true;
}

hrm_status arc_eval_begin(const char *const *identifiers, int num_identifiers, hrm_task_eval **out, char *err,
                          size_t err_size) {
    if (!out || num_identifiers < 0 || (num_identifiers > 0 && !identifiers))
        return eval_fail(err, err_size, "eval_begin: no identifiers");
    hrm_task_eval *e = calloc(1, sizeof *e);
    size_t n = (size_t)num_identifiers + 1;
    if (e) e->ids = calloc(n, sizeof *e->ids), e->task_names = calloc(n, sizeof *e->task_names);
    if (e) e->slots = calloc(64, sizeof *e->slots), e->slot_mask = 63;
    bool ok = e && e->ids && e->task_names && e->slots;
    for (int i = 0; ok && i < num_identifiers; i++) ok = set_ident(e, i, identifiers[i]);
    if (!ok) {
        if (e) eval_free(e);
        if (err && err_size) snprintf(err, err_size, "out of memory reading %d identifiers", num_identifiers);
        return HRM_ERR_OUT_OF_MEMORY;
    }
    e->n_ids = num_identifiers;
    *out = e;
    return HRM_OK;
}

/* ---- eval_add: votes ----------------------------------------------------------------------- */

/* Remembered for eval_end, which has an err buffer; every later eval_add returns it too. */
__attribute__((format(printf, 3, 4))) static hrm_status add_fail(hrm_task_eval *e, hrm_status st, const char *fmt,
                                                                 ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->error, sizeof e->error, fmt, ap);
    va_end(ap);
    e->status = st;
    return st;
}

static uint64_t pair_key(const char *task, uint64_t input_hash) {
    return arc_hash_mix(arc_hash_bytes(ARC_HASH_INIT, task, strlen(task)) ^ input_hash);
}

static bool grow_slots(hrm_task_eval *e) {
    size_t n = 2 * (e->slot_mask + 1);
    int *slots = calloc(n, sizeof *slots);
    if (!slots) return false;
    for (int p = 0; p < e->n_pairs; p++) {
        size_t i = pair_key(e->pairs[p].task, e->pairs[p].input_hash) & (n - 1);
        while (slots[i]) i = (i + 1) & (n - 1);
        slots[i] = p + 1;
    }
    free(e->slots);
    e->slots = slots, e->slot_mask = n - 1;
    return true;
}

/* The pair of (task, input), added with its label on first sight; NULL when out of memory. */
static test_pair *find_pair(hrm_task_eval *e, const char *task, uint64_t input_hash, uint64_t label_hash) {
    size_t i = pair_key(task, input_hash) & e->slot_mask;
    for (; e->slots[i]; i = (i + 1) & e->slot_mask) {
        test_pair *p = &e->pairs[e->slots[i] - 1];
        if (p->input_hash == input_hash && !strcmp(p->task, task)) return p;
    }
    if (e->n_pairs == e->cap_pairs) {
        int cap = e->cap_pairs ? 2 * e->cap_pairs : 64;
        test_pair *pairs = realloc(e->pairs, (size_t)cap * sizeof *pairs);
        if (!pairs) return NULL;
        e->pairs = pairs, e->cap_pairs = cap;
    }
    test_pair *p = &e->pairs[e->n_pairs++];
    *p = (test_pair){.task = task, .input_hash = input_hash, .label_hash = label_hash};
    e->slots[i] = e->n_pairs;
    if (2 * (size_t)e->n_pairs > e->slot_mask && !grow_slots(e)) return NULL;
    return p;
}

static bool vote(test_pair *p, uint64_t hash, double q) {
    for (int i = 0; i < p->n_cands; i++)
        if (p->cands[i].hash == hash) {
            p->cands[i].votes++;
            p->cands[i].q_sum += q;
            return true;
        }
    if (p->n_cands == p->cap_cands) {
        int cap = p->cap_cands ? 2 * p->cap_cands : 8;
        candidate *c = realloc(p->cands, (size_t)cap * sizeof *c);
        if (!c) return false;
        p->cands = c, p->cap_cands = cap;
    }
    p->cands[p->n_cands++] = (candidate){.hash = hash, .votes = 1, .q_sum = q, .correct = hash == p->label_hash};
    return true;
}

/* The grid of tokens read from (row, col) and mapped back to the original task's frame. */
static uint64_t original_hash(const uint8_t *tokens, int row, int col, const arc_aug *a, int *cells) {
    arc_grid g, orig;
    arc_decode_at(tokens, row, col, &g);
    arc_unaugment(&g, a, &orig);
    if (cells) *cells = orig.h * orig.w;
    return arc_grid_hash(&orig);
}

hrm_status arc_eval_add(hrm_task_eval *e, int32_t puzzle_identifier, const uint8_t *input, const uint8_t *label,
                        const uint8_t *prediction, float q_halt) {
    if (!e) return HRM_ERR_INVALID_ARG;
    if (e->status != HRM_OK) return e->status;
    if (!input || !label || !prediction) return add_fail(e, HRM_ERR_INVALID_ARG, "eval_add: missing tokens");
    if (puzzle_identifier == 0) return HRM_OK;
    if (puzzle_identifier < 0 || puzzle_identifier >= e->n_ids)
        return add_fail(e, HRM_ERR_INVALID_ARG, "puzzle identifier %d is not in identifiers.json",
                        (int)puzzle_identifier);
    const ident *id = &e->ids[puzzle_identifier];
    if (!id->task)
        return add_fail(e, HRM_ERR_INVALID_ARG, "identifier %d is not an ARC puzzle name (TASK|||tT|||perm)",
                        (int)puzzle_identifier);
    int row, col, label_cells;
    arc_origin(label, &row, &col);
    uint64_t label_hash = original_hash(label, row, col, &id->aug, &label_cells);
    if (label_cells == 0)
        return add_fail(e, HRM_ERR_INVALID_ARG, "the label of identifier %d holds no grid", (int)puzzle_identifier);
    /* sigmoid, as published; a NaN logit counts as no confidence */
    double q = isnan(q_halt) ? 0.0 : 1.0 / (1.0 + exp(-(double)q_halt));
    test_pair *p = find_pair(e, id->task, original_hash(input, row, col, &id->aug, NULL), label_hash);
    if (!p || !vote(p, original_hash(prediction, row, col, &id->aug, NULL), q))
        return add_fail(e, HRM_ERR_OUT_OF_MEMORY, "out of memory at identifier %d", (int)puzzle_identifier);
    if (id->original) p->orig_rows++;
    return HRM_OK;
}

/* ---- eval_end: scores ---------------------------------------------------------------------- */

/* More votes, then a higher mean confidence; equal ones keep the order of first appearance. */
static bool ranks_above(const candidate *a, const candidate *b) {
    if (a->votes != b->votes) return a->votes > b->votes;
    return a->q_sum / a->votes > b->q_sum / b->votes;
}

/* Sets solved[0] (top 1) and solved[1] (top 2) for one pair. */
static void score_pair(const test_pair *p, bool solved[2]) {
    int first = 0, second = -1;
    for (int i = 1; i < p->n_cands; i++) {
        if (ranks_above(&p->cands[i], &p->cands[first]))
            second = first, first = i;
        else if (second < 0 || ranks_above(&p->cands[i], &p->cands[second]))
            second = i;
    }
    solved[0] = p->cands[first].correct;
    solved[1] = solved[0] || (second >= 0 && p->cands[second].correct);
}

static int by_task(const void *a, const void *b) {
    return strcmp((*(const test_pair *const *)a)->task, (*(const test_pair *const *)b)->task);
}

/* pass[k] = mean over tasks of the fraction of the task's pairs solved at k + 1; *pairs = the
 * test pairs of all tasks. */
static bool score(const hrm_task_eval *e, double pass[2], int *tasks, long *pairs) {
    const test_pair **order = malloc((size_t)e->n_pairs * sizeof *order + 1);
    if (!order) return false;
    for (int i = 0; i < e->n_pairs; i++) order[i] = &e->pairs[i];
    qsort(order, (size_t)e->n_pairs, sizeof *order, by_task);
    pass[0] = pass[1] = 0;
    *tasks = 0, *pairs = 0;
    for (int i = 0, j; i < e->n_pairs; i = j) {
        long solved[2] = {0, 0}, n_test = 0;
        for (j = i; j < e->n_pairs && !strcmp(order[j]->task, order[i]->task); j++) {
            bool s[2];
            int copies = order[j]->orig_rows ? order[j]->orig_rows : 1;
            score_pair(order[j], s);
            solved[0] += s[0] * copies, solved[1] += s[1] * copies;
            n_test += copies;
        }
        for (int k = 0; k < 2; k++) pass[k] += (double)solved[k] / (double)n_test;
        ++*tasks, *pairs += n_test;
    }
    for (int k = 0; *tasks && k < 2; k++) pass[k] /= *tasks;
    free(order);
    return true;
}

static void put_metric(hrm_task_metric *metrics, int max, int *count, const char *name, double value) {
    if (*count >= max) return;
    snprintf(metrics[*count].name, sizeof metrics[*count].name, "%s", name);
    metrics[(*count)++].value = value;
}

hrm_status arc_eval_end(hrm_task_eval *e, hrm_task_metric *metrics, int max, int *count, char *err, size_t err_size) {
    double pass[2];
    int tasks, n = 0;
    long pairs;
    if (count) *count = 0;
    if (!e) return eval_fail(err, err_size, "eval_end: no evaluation");
    hrm_status st = e->status;
    if (st != HRM_OK)
        eval_fail(err, err_size, "%s", e->error);
    else if (!score(e, pass, &tasks, &pairs))
        st = HRM_ERR_OUT_OF_MEMORY, eval_fail(err, err_size, "out of memory scoring %d test pairs", e->n_pairs);
    else if (metrics && count) {
        put_metric(metrics, max, &n, "arc_pass@1", pass[0]);
        put_metric(metrics, max, &n, "arc_pass@2", pass[1]);
        put_metric(metrics, max, &n, "arc_test_pairs", (double)pairs);
        put_metric(metrics, max, &n, "arc_tasks", tasks);
        *count = n;
    }
    eval_free(e);
    return st;
}
