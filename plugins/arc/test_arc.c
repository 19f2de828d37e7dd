/* plugins/arc/test_arc.c - tests of the ARC task plugin, through its table (hrm_task_entry) and, for
 * the grid arithmetic, its internals: the token encoding, the dihedral transforms and colour maps
 * and their inverses, variant names, dataset builds into a recording sink (splits, identifiers,
 * de-duplication, determinism, malformed files), evaluation by voting, verify, render and
 * parse_puzzle. Fixtures are in testdata/ (see its README). With --shared-data, a small ARC-AGI-1
 * build from ../shared/data/arc (the meson test task-arc-shared-data; skipped where it is absent). */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "arc.h"
#include "task_test_main.h"

const hrm_task_iface *hrm_task_entry(void);

static const hrm_task_iface *arc(void) { return hrm_task_entry(); }

/* ---- a host that records log lines ---------------------------------------------------------- */

#define LOG_LINES 256
typedef struct logbuf {
    char lines[LOG_LINES][600];
    int n, warn;
} logbuf;

static void log_cb(void *user, hrm_log_level level, const char *task, const char *msg) {
    logbuf *l = user;
    ck_assert_str_eq(task, "arc");
    ck_assert_ptr_null(strchr(msg, '\n'));
    l->warn += level == HRM_LOG_WARN;
    if (l->n < LOG_LINES) snprintf(l->lines[l->n++], sizeof l->lines[0], "%s", msg);
}

static bool log_has(const logbuf *l, const char *a, const char *b) {
    for (int i = 0; i < l->n; i++)
        if (strstr(l->lines[i], a) && (!b || strstr(l->lines[i], b))) return true;
    return false;
}

/* ---- a sink that records a split ------------------------------------------------------------ */

typedef struct example {
    uint8_t in[ARC_SEQ_LEN], label[ARC_SEQ_LEN];
} example;

typedef struct puzzle_rec {
    char name[ARC_NAME_MAX + 32];
    int group, first, n; /* its examples are [first, first + n) */
} puzzle_rec;

typedef struct recorder {
    int n_groups;
    puzzle_rec *puzzles;
    int n_puzzles, cap_puzzles;
    example *ex;
    int n_ex, cap_ex;
} recorder;

static void *grow(void *p, int *cap, int need, size_t size) {
    if (need <= *cap) return p;
    *cap = need * 2;
    p = realloc(p, (size_t)*cap * size);
    ck_assert_ptr_nonnull(p);
    return p;
}

static hrm_status rec_group(void *user) {
    ((recorder *)user)->n_groups++;
    return HRM_OK;
}

static hrm_status rec_puzzle(void *user, const char *name) {
    recorder *r = user;
    ck_assert_int_gt(r->n_groups, 0);
    r->puzzles = grow(r->puzzles, &r->cap_puzzles, r->n_puzzles + 1, sizeof *r->puzzles);
    puzzle_rec *p = &r->puzzles[r->n_puzzles++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->group = r->n_groups - 1, p->first = r->n_ex, p->n = 0;
    return HRM_OK;
}

static hrm_status rec_example(void *user, const uint8_t *in, const uint8_t *label) {
    recorder *r = user;
    ck_assert_int_gt(r->n_puzzles, 0);
    int bad = 0;
    for (int k = 0; k < ARC_SEQ_LEN; k++) bad += in[k] >= ARC_VOCAB || label[k] >= ARC_VOCAB;
    ck_assert_int_eq(bad, 0);
    r->ex = grow(r->ex, &r->cap_ex, r->n_ex + 1, sizeof *r->ex);
    memcpy(r->ex[r->n_ex].in, in, ARC_SEQ_LEN);
    memcpy(r->ex[r->n_ex++].label, label, ARC_SEQ_LEN);
    r->puzzles[r->n_puzzles - 1].n++;
    return HRM_OK;
}

static void rec_free(recorder *r) {
    free(r->puzzles);
    free(r->ex);
    memset(r, 0, sizeof *r);
}

/* Runs build with the NULL-terminated options after "arc". */
static hrm_status build(recorder *train, recorder *test, logbuf *log, char *err, size_t err_size, ...) {
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, err_size);
    argv[argc++] = "arc";
    for (char *a; (a = va_arg(ap, char *));) argv[argc++] = a;
    va_end(ap);
    memset(log, 0, sizeof *log);
    hrm_task_host host = {.struct_size = sizeof host, .user = log, .log = log_cb};
    hrm_task_sink tr = {train, rec_group, rec_puzzle, rec_example}, te = {test, rec_group, rec_puzzle, rec_example};
    err[0] = '\0';
    return arc()->build(&host, argc, argv, &tr, &te, err, err_size);
}

static const char *td(const char *sub) {
    static char bufs[8][1024];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", ARC_TESTDATA, sub);
    return b;
}

/* ---- identifiers as the host numbers them: by first appearance, train split first ------------- */

typedef struct idmap {
    const char *names[4096];
    int n;
} idmap;

static int id_of(idmap *m, const char *name) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->names[i], name)) return i;
    ck_assert_int_lt(m->n, 4096);
    m->names[m->n] = name;
    return m->n++;
}

static void ids_from(idmap *m, const recorder *train, const recorder *test) {
    m->n = 0;
    id_of(m, "<blank>");
    for (int p = 0; p < train->n_puzzles; p++) id_of(m, train->puzzles[p].name);
    for (int p = 0; p < test->n_puzzles; p++) id_of(m, test->puzzles[p].name);
}

/* ---- evaluation of a test split with a chosen predictor ------------------------------------------ */

typedef struct predictor {
    void (*fn)(struct predictor *self, const char *name, const example *ex, uint8_t *pred, float *q);
    const char *target; /* the task a special predictor deals with */
    int mode, seen;     /* seen: calls for the target so far (its variants, in order) */
} predictor;

typedef struct scores {
    double pass1, pass2, pairs, tasks;
} scores;

static double metric(const hrm_task_metric *m, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(m[i].name, name)) return m[i].value;
    ck_abort_msg("metric %s missing", name);
    return -1;
}

static scores evaluate(const recorder *train, const recorder *test, predictor *pr) {
    static idmap m;
    hrm_task_eval *e = NULL;
    char err[256];
    ids_from(&m, train, test);
    ck_assert_int_eq(arc()->eval_begin(m.names, m.n, &e, err, sizeof err), HRM_OK);
    for (int p = 0; p < test->n_puzzles; p++) {
        const puzzle_rec *pz = &test->puzzles[p];
        for (int i = pz->first; i < pz->first + pz->n; i++) {
            uint8_t pred[ARC_SEQ_LEN];
            float q = 0;
            pr->fn(pr, pz->name, &test->ex[i], pred, &q);
            int id = id_of(&m, pz->name);
            ck_assert_int_eq(arc()->eval_add(e, id, test->ex[i].in, test->ex[i].label, pred, q), HRM_OK);
        }
    }
    hrm_task_metric met[8];
    int n = -1;
    ck_assert_int_eq(arc()->eval_end(e, met, 8, &n, err, sizeof err), HRM_OK);
    ck_assert_int_eq(n, 4);
    return (scores){metric(met, n, "arc_pass@1"), metric(met, n, "arc_pass@2"), metric(met, n, "arc_test_pairs"),
                    metric(met, n, "arc_tasks")};
}

static void predict_label(predictor *self, const char *name, const example *ex, uint8_t *pred, float *q) {
    (void)self, (void)name, (void)q;
    memcpy(pred, ex->label, ARC_SEQ_LEN);
}

/* The label with its first cell's colour changed: wrong in every frame. */
static void predict_wrong(predictor *self, const char *name, const example *ex, uint8_t *pred, float *q) {
    (void)self, (void)name, (void)q;
    memcpy(pred, ex->label, ARC_SEQ_LEN);
    pred[0] = (uint8_t)(ARC_COLOR0 + (pred[0] - ARC_COLOR0 + 1) % ARC_COLORS);
}

/* The true output of the original task with cell k changed, put in the frame of variant `name`. */
static void wrong_in_frame(const char *name, const example *ex, int k, uint8_t *pred) {
    char task[ARC_NAME_MAX];
    arc_aug a;
    arc_grid g, orig;
    ck_assert(arc_name_parse(name, task, sizeof task, &a));
    arc_decode_at(ex->label, 0, 0, &g);
    arc_unaugment(&g, &a, &orig);
    orig.c[k] = (uint8_t)((orig.c[k] + 1) % ARC_COLORS);
    arc_augment(&orig, &a, &g);
    arc_encode(&g, 0, 0, pred);
}

/* For the target task's variants 0, 1, 2 (one test pair):
 * mode 0: W, W, right         -> the wrong W wins the vote: pass@1 fails, pass@2 holds
 * mode 1: W (q 5), right (q -5), W2 (q 0) -> all one vote, confidence ranks W, W2: both fail
 * mode 2: W (q -5), right (q 5), W2 (q 0) -> the right one has the best confidence
 * mode 3: garbage tokens, all PAD, right -> both malformed read as the empty grid (2 votes)
 * mode 4: W, right, W2, all q 0 -> a full tie: first appearance ranks W, right (published stable sort)
 * mode 5: right, W, W2, all q 0 -> the right one appeared first */
static void predict_vote(predictor *self, const char *name, const example *ex, uint8_t *pred, float *q) {
    char task[ARC_NAME_MAX];
    arc_aug a;
    ck_assert(arc_name_parse(name, task, sizeof task, &a));
    memcpy(pred, ex->label, ARC_SEQ_LEN);
    if (strcmp(task, self->target)) return;
    int k = self->seen++;
    static const float conf[3][3] = {{0, 0, 0}, {5, -5, 0}, {-5, 5, 0}};
    *q = self->mode < 3 ? conf[self->mode][k] : 0;
    if (self->mode >= 4) {
        int wrong_at = self->mode == 4 ? 0 : 1;
        if (k == wrong_at) wrong_in_frame(name, ex, 0, pred);
        if (k == 2) wrong_in_frame(name, ex, 1, pred);
        return;
    }
    if (self->mode == 3 && k < 2) memset(pred, k == 0 ? 0xff : ARC_PAD, ARC_SEQ_LEN);
    if (self->mode < 3 && k == 0) wrong_in_frame(name, ex, 0, pred);
    if (self->mode == 0 && k == 1) wrong_in_frame(name, ex, 0, pred);
    if (self->mode > 0 && self->mode < 3 && k == 2) wrong_in_frame(name, ex, 1, pred);
}

/* ---- grids: encoding, transforms, names -------------------------------------------------------------- */

static arc_grid grid_2x3(void) {
    arc_grid g = {.h = 2, .w = 3, .c = {1, 2, 3, 4, 5, 6}};
    return g;
}

START_TEST(test_table) {
    const hrm_task_iface *t = arc();
    ck_assert_uint_eq(HRM_ABI_MAJOR_OF(t->abi_version), HRM_TASK_ABI_MAJOR);
    ck_assert_uint_eq(t->struct_size, sizeof(hrm_task_iface));
    ck_assert_str_eq(t->name, "arc");
    ck_assert_int_eq(t->format.seq_len, 900);
    ck_assert_int_eq(t->format.vocab_size, 12);
    ck_assert_int_eq(t->format.pad_id, 0);
    ck_assert(t->format.has_ignore_label);
    ck_assert_int_eq(t->format.ignore_label_id, 0);
    ck_assert_ptr_null(t->generate);
    ck_assert_ptr_null(t->verify_file);
    ck_assert(t->build && t->verify && t->render && t->parse_puzzle);
    ck_assert(t->eval_begin && t->eval_add && t->eval_end);
    ck_assert_ptr_nonnull(strstr(t->build_usage, "--train-dirs"));
}
END_TEST

START_TEST(test_encode_known_grid) {
    arc_grid g = grid_2x3(), back;
    uint8_t tok[ARC_SEQ_LEN], parsed[ARC_SEQ_LEN];
    arc_encode(&g, 0, 0, tok);
    static const uint8_t rows[3][5] = {{3, 4, 5, 1, 0}, {6, 7, 8, 1, 0}, {1, 1, 1, 0, 0}}; /* colour + 2, markers */
    for (int r = 0; r < ARC_MAX; r++)
        for (int c = 0; c < ARC_MAX; c++) ck_assert_uint_eq(tok[r * ARC_MAX + c], r < 3 && c < 5 ? rows[r][c] : 0);
    ck_assert_int_eq(arc()->parse_puzzle(" [[1, 2, 3],\n [4, 5, 6]]\n", parsed, NULL, 0), HRM_OK);
    ck_assert_mem_eq(parsed, tok, ARC_SEQ_LEN);
    arc_decode_at(tok, 0, 0, &back);
    ck_assert(arc_grid_equal(&g, &back));

    /* placed at (3, 4): markers below and right of it there */
    arc_encode(&g, 3, 4, tok);
    int row, col;
    arc_origin(tok, &row, &col);
    ck_assert_int_eq(row, 3);
    ck_assert_int_eq(col, 4);
    ck_assert_uint_eq(tok[3 * ARC_MAX + 4], 3);
    ck_assert_uint_eq(tok[3 * ARC_MAX + 7], ARC_EOS);
    ck_assert_uint_eq(tok[5 * ARC_MAX + 6], ARC_EOS);
    ck_assert_uint_eq(tok[5 * ARC_MAX + 7], ARC_PAD);
    ck_assert_uint_eq(tok[2 * ARC_MAX + 4], ARC_PAD);
    arc_decode_at(tok, row, col, &back);
    ck_assert(arc_grid_equal(&g, &back));

    /* a full 30x30 grid leaves no room for markers */
    arc_grid big = {.h = 30, .w = 30};
    for (int k = 0; k < ARC_SEQ_LEN; k++) big.c[k] = (uint8_t)(k % 10);
    arc_encode(&big, 0, 0, tok);
    for (int k = 0; k < ARC_SEQ_LEN; k++) ck_assert_uint_eq(tok[k], k % 10 + 2);
    arc_decode_at(tok, 0, 0, &back);
    ck_assert(arc_grid_equal(&big, &back));
}
END_TEST

/* numpy: rot90 k=1,2,3, fliplr, flipud, .T, fliplr(rot90) of [[1,2,3],[4,5,6]] */
START_TEST(test_dihedral_known) {
    static const int shapes[8][2] = {{2, 3}, {3, 2}, {2, 3}, {3, 2}, {2, 3}, {2, 3}, {3, 2}, {3, 2}};
    static const uint8_t cells[8][6] = {{1, 2, 3, 4, 5, 6}, {3, 6, 2, 5, 1, 4}, {6, 5, 4, 3, 2, 1}, {4, 1, 5, 2, 6, 3},
                                        {3, 2, 1, 6, 5, 4}, {4, 5, 6, 1, 2, 3}, {1, 4, 2, 5, 3, 6}, {6, 3, 5, 2, 4, 1}};
    arc_grid g = grid_2x3(), out;
    for (int t = 0; t < ARC_DIHEDRAL; t++) {
        arc_dihedral(&g, t, &out);
        ck_assert_int_eq(out.h, shapes[t][0]);
        ck_assert_int_eq(out.w, shapes[t][1]);
        ck_assert_mem_eq(out.c, cells[t], 6);
    }
}
END_TEST

START_TEST(test_transform_inverse) {
    arc_grid g = {.h = 4, .w = 7}, aug, back;
    for (int k = 0; k < 28; k++) g.c[k] = (uint8_t)(k * 7 % 10);
    arc_aug a = {.map = {0, 7, 3, 9, 1, 2, 8, 4, 6, 5}};
    for (int t = 0; t < ARC_DIHEDRAL; t++) {
        a.trans = t;
        arc_augment(&g, &a, &aug);
        ck_assert(t == 0 || !arc_grid_equal(&g, &aug));
        for (int k = 0; k < 28; k++) ck_assert(g.c[k] != 0 || aug.h != g.h || t != 0 || aug.c[k] == 0);
        arc_unaugment(&aug, &a, &back);
        ck_assert(arc_grid_equal(&g, &back));
        arc_dihedral(&g, t, &aug);
        arc_dihedral(&aug, arc_dihedral_inverse(t), &back);
        ck_assert(arc_grid_equal(&g, &back));
    }
    /* colour 0 stays 0, the others follow the map */
    a.trans = 0;
    arc_augment(&g, &a, &aug);
    for (int k = 0; k < 28; k++) ck_assert_uint_eq(aug.c[k], a.map[g.c[k]]);
}
END_TEST

START_TEST(test_names) {
    arc_aug a = {.trans = 5, .map = {0, 9, 8, 7, 6, 5, 4, 3, 2, 1}}, back;
    char name[64], task[64];
    ck_assert(arc_name_format(name, sizeof name, "007bbfb7", &a));
    ck_assert_str_eq(name, "007bbfb7|||t5|||0987654321");
    ck_assert(arc_name_parse(name, task, sizeof task, &back));
    ck_assert_str_eq(task, "007bbfb7");
    ck_assert_int_eq(back.trans, 5);
    ck_assert_mem_eq(back.map, a.map, ARC_COLORS);
    ck_assert(arc_name_format(name, sizeof name, "AboveBelow1", NULL));
    ck_assert_str_eq(name, "AboveBelow1");
    ck_assert(arc_name_parse(name, task, sizeof task, &back));
    ck_assert_str_eq(task, "AboveBelow1");
    ck_assert_int_eq(back.trans, 0);
    for (int c = 0; c < ARC_COLORS; c++) ck_assert_uint_eq(back.map[c], c);
    ck_assert(!arc_name_parse("x|||t8|||0123456789", task, sizeof task, &back));
    ck_assert(!arc_name_parse("x|||t1|||0123456788", task, sizeof task, &back));
    ck_assert(!arc_name_parse("x|||t1|||012345678", task, sizeof task, &back));
    ck_assert(!arc_name_parse("x|||1|||0123456789", task, sizeof task, &back));
    ck_assert(!arc_name_format(name, 8, "007bbfb7", &a));
}
END_TEST

/* ---- builds -------------------------------------------------------------------------------------- */

static int find_group_of(const recorder *r, const char *task) {
    for (int p = 0; p < r->n_puzzles; p++)
        if (!strcmp(r->puzzles[p].name, task)) return r->puzzles[p].group;
    return -1;
}

static int puzzles_in_group(const recorder *r, int group) {
    int n = 0;
    for (int p = 0; p < r->n_puzzles; p++) n += r->puzzles[p].group == group;
    return n;
}

static bool is_color_tok(uint8_t t) { return t >= ARC_COLOR0 && t < ARC_COLOR0 + ARC_COLORS; }

static void decode(const uint8_t *tok, arc_grid *g) {
    int row, col;
    arc_origin(tok, &row, &col);
    arc_decode_at(tok, row, col, g);
}

START_TEST(test_build_splits) {
    recorder train = {0}, test = {0};
    logbuf *log = calloc(1, sizeof *log);
    char err[512];
    ck_assert_int_eq(build(&train, &test, log, err, sizeof err, "--train-dirs", td("training"), "--eval-dirs",
                           td("evaluation"), "--aug", "3", NULL),
                     HRM_OK);
    /* 2 training tasks (one in a sub-folder) + 3 eval tasks; 4 variants each */
    ck_assert_int_eq(train.n_groups, 5);
    ck_assert_int_eq(test.n_groups, 3);
    ck_assert_int_eq(train.n_puzzles, 20);
    ck_assert_int_eq(test.n_puzzles, 12);
    /* pairs: 6150a2bd 2+1, 44f52bb0 6+2, eval demos 6+2+2; eval tests 2+1+1 */
    ck_assert_int_eq(train.n_ex, 4 * (3 + 8 + 10));
    ck_assert_int_eq(test.n_ex, 4 * 4);
    ck_assert_int_ge(find_group_of(&train, "44f52bb0"), 0);
    ck_assert(log_has(log, "train split: 5 groups, 20 puzzles, 84 examples", NULL));

    for (int p = 0; p < test.n_puzzles; p++) {
        const puzzle_rec *tp = &test.puzzles[p];
        bool in_train = false;
        for (int q = 0; q < train.n_puzzles; q++) {
            const puzzle_rec *rp = &train.puzzles[q];
            if (strcmp(rp->name, tp->name)) continue;
            in_train = true;
            /* the test pairs of an eval task never appear among its training examples */
            for (int i = rp->first; i < rp->first + rp->n; i++)
                for (int j = tp->first; j < tp->first + tp->n; j++) {
                    arc_grid a, b, c, d;
                    decode(train.ex[i].in, &a), decode(test.ex[j].in, &b);
                    decode(train.ex[i].label, &c), decode(test.ex[j].label, &d);
                    ck_assert(!(arc_grid_equal(&a, &b) && arc_grid_equal(&c, &d)));
                }
        }
        ck_assert_msg(in_train, "test puzzle %s has no identifier of the train split", tp->name);
        /* the test split is placed top-left */
        for (int j = tp->first; j < tp->first + tp->n; j++) ck_assert(is_color_tok(test.ex[j].label[0]));
    }

    /* train split: input and label at the same offset; one example per puzzle top-left; some moved */
    int moved = 0;
    for (int p = 0; p < train.n_puzzles; p++) {
        int at_origin = 0;
        for (int i = train.puzzles[p].first; i < train.puzzles[p].first + train.puzzles[p].n; i++) {
            int r1, c1, r2, c2;
            arc_origin(train.ex[i].in, &r1, &c1);
            arc_origin(train.ex[i].label, &r2, &c2);
            ck_assert(r1 == r2 && c1 == c2);
            at_origin += r1 == 0 && c1 == 0;
            moved += r1 != 0 || c1 != 0;
        }
        ck_assert_int_ge(at_origin, 1);
    }
    ck_assert_int_gt(moved, 20);
    rec_free(&train), rec_free(&test), free(log);
}
END_TEST

/* The fixture build used by the evaluation tests: aug 2, so each task has 3 variants. */
static void build_fixtures(recorder *train, recorder *test) {
    logbuf *log = calloc(1, sizeof *log);
    char err[512];
    ck_assert_int_eq(build(train, test, log, err, sizeof err, "--train-dirs", td("training"), "--eval-dirs",
                           td("evaluation"), "--aug", "2", NULL),
                     HRM_OK);
    free(log);
    ck_assert_int_eq(puzzles_in_group(test, find_group_of(test, "66e6c45b")), 3);
}

START_TEST(test_eval_labels_and_wrong) {
    recorder train = {0}, test = {0};
    build_fixtures(&train, &test);
    predictor right = {.fn = predict_label}, wrong = {.fn = predict_wrong};
    scores s = evaluate(&train, &test, &right);
    ck_assert_double_eq(s.pass1, 1.0);
    ck_assert_double_eq(s.pass2, 1.0);
    ck_assert_double_eq(s.pairs, 4); /* 6ea4a07e has 2 test pairs, 66e6c45b and 00576224 one each */
    ck_assert_double_eq(s.tasks, 3);
    s = evaluate(&train, &test, &wrong);
    ck_assert_double_eq(s.pass1, 0.0);
    ck_assert_double_eq(s.pass2, 0.0);
    ck_assert_double_eq(s.pairs, 4);
    rec_free(&train), rec_free(&test);
}
END_TEST

START_TEST(test_eval_votes) {
    recorder train = {0}, test = {0};
    build_fixtures(&train, &test);
    /* pass@K is the mean over the 3 tasks; only 66e6c45b (one test pair) is at stake */
    static const double want[6][2] = {{2.0 / 3, 1.0}, {2.0 / 3, 2.0 / 3}, {1.0, 1.0},
                                      {2.0 / 3, 1.0}, {2.0 / 3, 1.0},     {1.0, 1.0}};
    for (int mode = 0; mode < 6; mode++) {
        predictor pr = {.fn = predict_vote, .target = "66e6c45b", .mode = mode};
        scores s = evaluate(&train, &test, &pr);
        ck_assert_int_eq(pr.seen, 3);
        ck_assert_msg(fabs(s.pass1 - want[mode][0]) < 1e-12, "mode %d pass@1 %f", mode, s.pass1);
        ck_assert_msg(fabs(s.pass2 - want[mode][1]) < 1e-12, "mode %d pass@2 %f", mode, s.pass2);
        ck_assert_double_eq(s.pairs, 4);
    }
    rec_free(&train), rec_free(&test);
}
END_TEST

START_TEST(test_eval_bad_identifiers) {
    const char *names[] = {"<blank>", "66e6c45b", "66e6c45b|||t9|||0123456789"};
    uint8_t tok[ARC_SEQ_LEN];
    arc_grid g = grid_2x3();
    arc_encode(&g, 0, 0, tok);
    hrm_task_eval *e;
    hrm_task_metric m[4];
    int n = -1;
    char err[256];

    /* the blank identifier (batch padding) is skipped; an empty evaluation scores 0 */
    ck_assert_int_eq(arc()->eval_begin(names, 3, &e, err, sizeof err), HRM_OK);
    ck_assert_int_eq(arc()->eval_add(e, 0, tok, tok, tok, 0), HRM_OK);
    ck_assert_int_eq(arc()->eval_end(e, m, 4, &n, err, sizeof err), HRM_OK);
    ck_assert_double_eq(metric(m, n, "arc_test_pairs"), 0);
    ck_assert_double_eq(metric(m, n, "arc_pass@2"), 0);

    ck_assert_int_eq(arc()->eval_begin(names, 3, &e, err, sizeof err), HRM_OK);
    ck_assert_int_eq(arc()->eval_add(e, 3, tok, tok, tok, 0), HRM_ERR_INVALID_ARG);
    ck_assert_int_eq(arc()->eval_add(e, 1, tok, tok, tok, 0), HRM_ERR_INVALID_ARG); /* the first error sticks */
    ck_assert_int_eq(arc()->eval_end(e, m, 4, &n, err, sizeof err), HRM_ERR_INVALID_ARG);
    ck_assert_int_eq(n, 0);
    ck_assert_ptr_nonnull(strstr(err, "identifier 3"));

    ck_assert_int_eq(arc()->eval_begin(names, 3, &e, err, sizeof err), HRM_OK);
    ck_assert_int_eq(arc()->eval_add(e, 2, tok, tok, tok, 0), HRM_ERR_INVALID_ARG);
    ck_assert_int_eq(arc()->eval_end(e, m, 4, &n, err, sizeof err), HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "not an ARC puzzle name"));

    /* a label without a grid is refused; max limits the metrics written */
    uint8_t pad[ARC_SEQ_LEN] = {0};
    ck_assert_int_eq(arc()->eval_begin(names, 3, &e, err, sizeof err), HRM_OK);
    ck_assert_int_eq(arc()->eval_add(e, 1, tok, pad, tok, 0), HRM_ERR_INVALID_ARG);
    ck_assert_int_eq(arc()->eval_end(e, m, 4, &n, err, sizeof err), HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "no grid"));
    ck_assert_int_eq(arc()->eval_begin(names, 3, &e, err, sizeof err), HRM_OK);
    ck_assert_int_eq(arc()->eval_add(e, 1, tok, tok, tok, 0), HRM_OK);
    ck_assert_int_eq(arc()->eval_end(e, m, 2, &n, err, sizeof err), HRM_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(m[0].name, "arc_pass@1");
    ck_assert_double_eq(m[0].value, 1.0);
    ck_assert_str_eq(m[1].name, "arc_pass@2");
}
END_TEST

/* A 1x1 grid of colour c, top-left. */
static void cell_tokens(int c, uint8_t *tok) {
    arc_grid g = {.h = 1, .w = 1, .c = {(uint8_t)c}};
    arc_encode(&g, 0, 0, tok);
}

/* The published denominators (evaluators/arc.py, ARC.result): a task scores
 * sum(pairs solved) / len(puzzle["test"]), its original puzzle's test pairs, and two test pairs
 * with the same input are scored (and counted) separately from the same votes. Here task "dup"
 * has 3 test pairs A, A, B (A twice, same output: its original puzzle's rows) with A right and B
 * wrong, and its variant votes right on A; task "one" has one pair, right:
 *   pass@K = (2/3 + 1) / 2 = 5/6, over 3 + 1 = 4 test pairs.
 * Counting the distinct inputs seen instead: dup 1/2 -> (1/2 + 1) / 2 = 3/4 over 3 pairs.
 * (A task or test pair no row reaches eval_add for cannot be shown here: the published would
 * count it as failed, from test_puzzles.json, which the task iface does not receive.) */
START_TEST(test_eval_published_denominators) {
    const char *names[] = {"<blank>", "dup", "one", "dup|||t0|||0123456789"};
    uint8_t a[ARC_SEQ_LEN], b[ARC_SEQ_LEN], out_a[ARC_SEQ_LEN], out_b[ARC_SEQ_LEN], bad[ARC_SEQ_LEN];
    cell_tokens(1, a), cell_tokens(2, b), cell_tokens(3, out_a), cell_tokens(4, out_b), cell_tokens(5, bad);
    hrm_task_eval *e;
    hrm_task_metric m[4];
    int n = -1;
    char err[256];
    ck_assert_int_eq(arc()->eval_begin(names, 4, &e, err, sizeof err), HRM_OK);
    ck_assert_int_eq(arc()->eval_add(e, 1, a, out_a, out_a, 0), HRM_OK);
    ck_assert_int_eq(arc()->eval_add(e, 1, a, out_a, out_a, 0), HRM_OK);
    ck_assert_int_eq(arc()->eval_add(e, 1, b, out_b, bad, 0), HRM_OK);
    ck_assert_int_eq(arc()->eval_add(e, 3, a, out_a, out_a, 0), HRM_OK);
    ck_assert_int_eq(arc()->eval_add(e, 2, a, out_a, out_a, 0), HRM_OK);
    ck_assert_int_eq(arc()->eval_end(e, m, 4, &n, err, sizeof err), HRM_OK);
    ck_assert_int_eq(n, 4);
    ck_assert_msg(fabs(metric(m, n, "arc_pass@1") - 5.0 / 6) < 1e-12, "pass@1 %.6f, want 5/6 (published)",
                  metric(m, n, "arc_pass@1"));
    ck_assert_msg(fabs(metric(m, n, "arc_pass@2") - 5.0 / 6) < 1e-12, "pass@2 %.6f, want 5/6 (published)",
                  metric(m, n, "arc_pass@2"));
    ck_assert_double_eq(metric(m, n, "arc_test_pairs"), 4);
    ck_assert_double_eq(metric(m, n, "arc_tasks"), 2);
}
END_TEST

/* ---- de-duplication, determinism, bad input, options ------------------------------------------ */

static bool examples_equal(const recorder *r, const puzzle_rec *a, const puzzle_rec *b) {
    if (a->n != b->n) return false;
    for (int i = 0; i < a->n; i++)
        if (memcmp(&r->ex[a->first + i], &r->ex[b->first + i], sizeof(example))) return false;
    return true;
}

START_TEST(test_dedup) {
    recorder train = {0}, test = {0};
    logbuf *log = calloc(1, sizeof *log);
    char err[512];
    /* [[5]] -> [[5]]: transforms do nothing and only 9 colourings exist */
    ck_assert_int_eq(build(&train, &test, log, err, sizeof err, "--train-dirs", td("dup"), "--aug", "20", NULL),
                     HRM_OK);
    ck_assert_int_eq(train.n_groups, 1);
    ck_assert_int_eq(train.n_puzzles, 9);
    for (int p = 0; p < train.n_puzzles; p++)
        for (int q = 0; q < p; q++) {
            ck_assert_str_ne(train.puzzles[p].name, train.puzzles[q].name);
            ck_assert(!examples_equal(&train, &train.puzzles[p], &train.puzzles[q]));
        }
    ck_assert(log_has(log, "1 tasks have fewer than 20 distinct augmentations", NULL));
    rec_free(&train);
    ck_assert_int_eq(build(&train, &test, log, err, sizeof err, "--train-dirs", td("dup"), "--aug", "3", NULL), HRM_OK);
    ck_assert_int_eq(train.n_puzzles, 4);
    rec_free(&train);
    ck_assert_int_eq(build(&train, &test, log, err, sizeof err, "--train-dirs", td("dup"), "--aug", "0", NULL), HRM_OK);
    ck_assert_int_eq(train.n_puzzles, 1);
    ck_assert_str_eq(train.puzzles[0].name, "mono");
    rec_free(&train), free(log);
}
END_TEST

static bool same_build(const recorder *a, const recorder *b) {
    if (a->n_groups != b->n_groups || a->n_puzzles != b->n_puzzles || a->n_ex != b->n_ex) return false;
    for (int p = 0; p < a->n_puzzles; p++)
        if (strcmp(a->puzzles[p].name, b->puzzles[p].name) || a->puzzles[p].n != b->puzzles[p].n) return false;
    return !memcmp(a->ex, b->ex, (size_t)a->n_ex * sizeof *a->ex);
}

START_TEST(test_determinism) {
    recorder tr[3] = {{0}}, te[3] = {{0}};
    logbuf *log = calloc(1, sizeof *log);
    char err[512];
    const char *seeds[3] = {"7", "7", "8"};
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(build(&tr[i], &te[i], log, err, sizeof err, "--train-dirs", td("training"), "--eval-dirs",
                               td("evaluation"), "--aug=5", "--seed", seeds[i], NULL),
                         HRM_OK);
    ck_assert(same_build(&tr[0], &tr[1]) && same_build(&te[0], &te[1]));
    ck_assert(!same_build(&tr[0], &tr[2]));
    ck_assert(!same_build(&te[0], &te[2]));
    /* a task's data does not depend on the other files read */
    recorder alone = {0}, none = {0};
    ck_assert_int_eq(build(&alone, &none, log, err, sizeof err, "--eval-dirs", td("evaluation"), "--aug", "5", "--seed",
                           "7", "--max-tasks", "1", NULL),
                     HRM_OK);
    ck_assert_int_eq(none.n_groups, 1);
    ck_assert_str_eq(none.puzzles[0].name, "00576224"); /* the first file by name */
    ck_assert(!memcmp(none.ex, te[0].ex, (size_t)none.n_ex * sizeof *none.ex));
    for (int i = 0; i < 3; i++) rec_free(&tr[i]), rec_free(&te[i]);
    rec_free(&alone), rec_free(&none), free(log);
}
END_TEST

static const char *const BROKEN[5][2] = {
    {"bad_json", "invalid JSON at line"}, {"too_big", "larger than 30x30"},     {"ragged", "ragged rows"},
    {"value10", "value 10 outside 0-9"},  {"missing_test", "missing \"test\""},
};

START_TEST(test_malformed_skipped) {
    recorder train = {0}, test = {0};
    logbuf *log = calloc(1, sizeof *log);
    char err[512], dirs[2200];
    snprintf(dirs, sizeof dirs, "%s,%s", td("training"), td("broken"));
    ck_assert_int_eq(build(&train, &test, log, err, sizeof err, "--train-dirs", dirs, "--aug", "1", NULL), HRM_OK);
    ck_assert_int_eq(train.n_groups, 2);
    for (int k = 0; k < 5; k++) {
        char file[64];
        snprintf(file, sizeof file, "%s/%s.json", BROKEN[k][0], BROKEN[k][0]);
        ck_assert_msg(log_has(log, file, BROKEN[k][1]), "no warning naming %s", file);
    }
    ck_assert(log_has(log, "skipped 5 malformed task files", NULL));
    ck_assert_int_eq(log->warn, 6);
    rec_free(&train), free(log);
}
END_TEST

START_TEST(test_malformed_strict) {
    logbuf *log = calloc(1, sizeof *log);
    char err[512], dir[64];
    for (int k = 0; k < 5; k++) {
        recorder train = {0}, test = {0};
        snprintf(dir, sizeof dir, "broken/%s", BROKEN[k][0]);
        ck_assert_int_eq(build(&train, &test, log, err, sizeof err, "--strict", "--aug", "1", "--train-dirs",
                               td("training"), "--eval-dirs", td(dir), NULL),
                         HRM_ERR_INVALID_ARG);
        ck_assert_msg(strstr(err, BROKEN[k][0]) && strstr(err, ".json") && strstr(err, BROKEN[k][1]), "err: %s", err);
        rec_free(&train), rec_free(&test);
    }
    free(log);
}
END_TEST

START_TEST(test_extra_keys_and_options) {
    recorder train = {0}, test = {0};
    logbuf *log = calloc(1, sizeof *log);
    char err[512];
    ck_assert_int_eq(
        build(&train, &test, log, err, sizeof err, "--strict", "--train-dirs", td("extra"), "--aug", "0", NULL),
        HRM_OK);
    ck_assert_int_eq(train.n_ex, 2);
    ck_assert_str_eq(train.puzzles[0].name, "extra_keys");
    rec_free(&train);

    static const char *const bad[][3] = {
        {"--frobnicate", NULL, "unknown option"}, {"--aug", "-1", "--aug"},   {"--aug", "x", "--aug"},
        {"--max-tasks", "0", "--max-tasks"},      {"--seed", "-3", "--seed"}, {"--aug", NULL, "needs a value"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        hrm_status st =
            build(&train, &test, log, err, sizeof err, "--train-dirs", td("training"), bad[k][0], bad[k][1], NULL);
        ck_assert_int_eq(st, HRM_ERR_USAGE);
        ck_assert_msg(strstr(err, bad[k][2]) != NULL, "err: %s", err);
        rec_free(&train), rec_free(&test);
    }
    ck_assert_int_eq(build(&train, &test, log, err, sizeof err, NULL), HRM_ERR_USAGE);
    ck_assert_ptr_nonnull(strstr(err, "--train-dirs"));
    ck_assert_int_eq(build(&train, &test, log, err, sizeof err, "--train-dirs", td("no-such-folder"), NULL),
                     HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "no-such-folder"));
    ck_assert_int_eq(build(&train, &test, log, err, sizeof err, "--train-dirs", td("broken"), NULL),
                     HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "no usable"));
    rec_free(&train), rec_free(&test), free(log);
}
END_TEST

/* ---- verify, render, parse_puzzle ------------------------------------------------------------------ */

START_TEST(test_verify) {
    arc_grid g = grid_2x3(), h = grid_2x3();
    uint8_t label[ARC_SEQ_LEN], answer[ARC_SEQ_LEN];
    bool ok = false;
    char why[128];
    arc_encode(&g, 0, 0, label);
    ck_assert_int_eq(arc()->verify(label, label, NULL, &ok, why, sizeof why), HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(why, "label"));
    ck_assert_int_eq(arc()->verify(NULL, label, label, &ok, why, sizeof why), HRM_OK);
    ck_assert(ok);
    memcpy(answer, label, sizeof answer);
    answer[40] = 7; /* PAD cells past the markers are not looked at */
    ck_assert_int_eq(arc()->verify(NULL, answer, label, &ok, why, sizeof why), HRM_OK);
    ck_assert(ok);
    h.c[4] = 9;
    arc_encode(&h, 0, 0, answer);
    ck_assert_int_eq(arc()->verify(NULL, answer, label, &ok, why, sizeof why), HRM_OK);
    ck_assert(!ok);
    ck_assert_str_eq(why, "1 of 6 cells differ from the label");
    answer[3] = answer[ARC_MAX + 3] = 2; /* the markers became colours: a 2x4 grid */
    ck_assert_int_eq(arc()->verify(NULL, answer, label, &ok, why, sizeof why), HRM_OK);
    ck_assert(!ok);
    ck_assert_str_eq(why, "answer grid is 2x4, the label's 2x3");
    /* translated rows (train split) verify where the label's grid is */
    arc_encode(&g, 5, 9, label);
    ck_assert_int_eq(arc()->verify(NULL, label, label, &ok, why, sizeof why), HRM_OK);
    ck_assert(ok);
    arc_encode(&g, 0, 0, answer);
    ck_assert_int_eq(arc()->verify(NULL, answer, label, &ok, why, sizeof why), HRM_OK);
    ck_assert(!ok);
}
END_TEST

START_TEST(test_render) {
    arc_grid g = grid_2x3(), h = grid_2x3();
    uint8_t tok[ARC_SEQ_LEN], in[ARC_SEQ_LEN];
    char out[4096];
    arc_encode(&g, 0, 0, tok);
    ck_assert_int_eq(arc()->render(tok, NULL, false, out, sizeof out), HRM_OK);
    ck_assert_str_eq(out, "123\n456");
    h.c[1] = 0;
    arc_encode(&h, 0, 0, in);
    ck_assert_int_eq(arc()->render(tok, in, false, out, sizeof out), HRM_OK);
    ck_assert_str_eq(out, ".2.\n...");
    ck_assert_int_eq(arc()->render(tok, in, true, out, sizeof out), HRM_OK);
    ck_assert_ptr_nonnull(strstr(out, "\x1b[0;48;5;203;38;5;16;1;4m2")); /* red, changed: bold, underlined */
    ck_assert_ptr_nonnull(strstr(out, "\x1b[0;48;5;32;38;5;231m1"));     /* blue, unchanged */
    ck_assert_int_eq(arc()->render(tok, NULL, false, out, 7), HRM_ERR_INVALID_ARG);
    ck_assert_int_eq(arc()->render(tok, NULL, false, out, 8), HRM_OK);
    memset(tok, ARC_PAD, sizeof tok);
    ck_assert_int_eq(arc()->render(tok, NULL, false, out, sizeof out), HRM_OK);
    ck_assert_str_eq(out, "(no grid)");
}
END_TEST

START_TEST(test_parse_puzzle_errors) {
    static const char *const bad[][2] = {
        {"[[1, 2], [3]]", "ragged"}, {"[[10]]", "outside 0-9"},     {"nope", "not a JSON grid"},
        {"[]", "empty grid"},        {"[[1.5]]", "not an integer"}, {"{\"input\": [[1]]}", "not a list of rows"},
    };
    uint8_t tok[ARC_SEQ_LEN];
    char err[256];
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        ck_assert_int_eq(arc()->parse_puzzle(bad[k][0], tok, err, sizeof err), HRM_ERR_INVALID_ARG);
        ck_assert_msg(strstr(err, bad[k][1]) != NULL, "%s: %s", bad[k][0], err);
    }
    char big[4096] = "[";
    for (int r = 0; r < 31; r++) strcat(big, r ? ",[1]" : "[1]");
    strcat(big, "]");
    ck_assert_int_eq(arc()->parse_puzzle(big, tok, err, sizeof err), HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "larger than 30x30"));
}
END_TEST

/* ---- the real data, when the workspace has it ------------------------------------------------------ */

static bool have_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

START_TEST(test_arc_agi_1) {
    const char *tr = ARC_SHARED_DATA "/arc-agi-1/data/training", *ev = ARC_SHARED_DATA "/arc-agi-1/data/evaluation";
    ck_assert_msg(have_dir(tr) && have_dir(ev), "%s: no training and evaluation folders", ARC_SHARED_DATA);
    recorder train = {0}, test = {0};
    logbuf *log = calloc(1, sizeof *log);
    char err[512];
    ck_assert_int_eq(build(&train, &test, log, err, sizeof err, "--strict", "--train-dirs", tr, "--eval-dirs", ev,
                           "--aug", "2", "--max-tasks", "20", NULL),
                     HRM_OK);
    ck_assert_int_eq(train.n_groups, 40);
    ck_assert_int_eq(test.n_groups, 20);
    ck_assert_int_le(train.n_puzzles, 120);
    ck_assert_int_ge(train.n_puzzles, 100);
    /* the originals: all pairs of the first 20 training tasks and the demonstration pairs of the
     * first 20 evaluation tasks (149), and the evaluation tasks' 20 test pairs */
    int originals = 0, test_originals = 0;
    for (int p = 0; p < train.n_puzzles; p++)
        if (!strstr(train.puzzles[p].name, ARC_NAME_SEP)) originals += train.puzzles[p].n;
    for (int p = 0; p < test.n_puzzles; p++)
        if (!strstr(test.puzzles[p].name, ARC_NAME_SEP)) test_originals += test.puzzles[p].n;
    ck_assert_int_eq(originals, 149);
    ck_assert_int_eq(test_originals, 20);
    predictor right = {.fn = predict_label};
    scores s = evaluate(&train, &test, &right);
    ck_assert_double_eq(s.pass1, 1.0);
    ck_assert_double_eq(s.pairs, 20);
    ck_assert_double_eq(s.tasks, 20);
    rec_free(&train), rec_free(&test);

    /* ConceptARC nests its tasks one folder down */
    const char *concept = ARC_SHARED_DATA "/conceptarc/corpus";
    if (have_dir(concept)) {
        ck_assert_int_eq(build(&train, &test, log, err, sizeof err, "--strict", "--train-dirs", concept, "--aug", "1",
                               "--max-tasks", "12", NULL),
                         HRM_OK);
        ck_assert_int_eq(train.n_groups, 12);
        ck_assert_int_ge(find_group_of(&train, "AboveBelow1"), 0);
        ck_assert_int_ge(find_group_of(&train, "Center1"), 0); /* past the 10 files of AboveBelow/ */
        rec_free(&train), rec_free(&test);
    }
    free(log);
}
END_TEST

static Suite *arc_suite(void) {
    Suite *s = suite_create("task-arc");
    TCase *grids = tcase_create("grids"), *builds = tcase_create("build"), *evals = tcase_create("eval"),
          *slots = tcase_create("slots");
    tcase_add_test(grids, test_table);
    tcase_add_test(grids, test_encode_known_grid);
    tcase_add_test(grids, test_dihedral_known);
    tcase_add_test(grids, test_transform_inverse);
    tcase_add_test(grids, test_names);
    tcase_add_test(builds, test_build_splits);
    tcase_add_test(builds, test_dedup);
    tcase_add_test(builds, test_determinism);
    tcase_add_test(builds, test_malformed_skipped);
    tcase_add_test(builds, test_malformed_strict);
    tcase_add_test(builds, test_extra_keys_and_options);
    tcase_add_test(evals, test_eval_labels_and_wrong);
    tcase_add_test(evals, test_eval_votes);
    tcase_add_test(evals, test_eval_bad_identifiers);
    tcase_add_test(evals, test_eval_published_denominators);
    tcase_add_test(slots, test_verify);
    tcase_add_test(slots, test_render);
    tcase_add_test(slots, test_parse_puzzle_errors);
    tcase_set_timeout(builds, 60);
    tcase_set_timeout(evals, 60);
    TCase *all[] = {grids, builds, evals, slots};
    for (int i = 0; i < 4; i++) suite_add_tcase(s, all[i]);
    return s;
}

/* The cases on the benchmark data: their own meson test (task_test_main.h). */
static Suite *shared_suite(void) {
    Suite *s = suite_create("task-arc-shared-data");
    TCase *real = tcase_create("real-data");
    tcase_add_test(real, test_arc_agi_1);
    tcase_set_timeout(real, 240);
    suite_add_tcase(s, real);
    return s;
}

int main(int argc, char **argv) {
    return task_test_main(argc, argv, arc_suite, shared_suite, ARC_SHARED_DATA "/arc-agi-1/data/training");
}
