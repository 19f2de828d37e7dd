/* tests/test_golden.c - the engine against the PyTorch reference (tests/golden, made by
 * reference/make_fixtures.py), on every usable backend plugin ($HRM_TEST_PLUGIN: that file
 * only). For each fixture (init*.safetensors -> expected*.safetensors, see tests/golden/README.md):
 *   evaluation: M segments from a fresh carry: logits and Q values per segment, halted flags,
 *     predictions, losses and metric sums;
 *   training in reproducible mode with the ACT carry: K steps: batches and the slots' examples,
 *     logits, Q values and targets, halted / steps / seq_correct, losses and their parts, metric
 *     sums, learning rates; every gradient of every step (AdamATan2 tensors and the per-slot
 *     puzzle rows); every tensor after K optimizer steps;
 *   resuming: 1 step saved and read back through the checkpoint writer and reader, + 2 steps, is
 *     the 3-step run bit for bit;
 *   hrm_evaluate (what `hrm eval` reports) over both splits in padded batches, for 1..M+1
 *     segments: every number of its report recomputed here with the published formulas from the
 *     logits, predictions and q_halt it dumped and, for the test split, from the reference's
 *     logits and q_halt of the same segment (and its own sums at M).
 * Float tensors: error = max|got - want| / max|want| over the tensor (the fixtures' measure), under
 * the bound of its group (the table below, the one make_fixtures.py states; the test also checks
 * that the file's hrm.tolerances says the same). Integer tensors: exactly equal. Missing fixtures
 * fail. The fixture folder comes from $HRM_GOLDEN_DIR. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "act.h"
#include "checkpoint.h"
#include "dataset.h"
#include "discover.h"
#include "evaluate.h"
#include "model.h"
#include "safetensors.h"
#include "sampler.h"

/* ---- tolerances: (group, bound), first match wins (make_fixtures.py TOLERANCES) ---------------- */

static bool ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && strcmp(s + n - k, tail) == 0;
}
static bool starts_with(const char *s, const char *head) { return strncmp(s, head, strlen(head)) == 0; }

/* TRM's fixtures (reference/make_trm_fixtures.py) state their bounds: hrm.tolerances, and for the
 * evaluation, which runs here on its own carry, the largest per-step bound of
 * hrm.tolerances_free_running. Set while a TRM fixture runs; NULL for HRM's table below. */
static json_t *file_tol, *file_tol_free;

static double bound_of(const char *n) {
    if (file_tol) {
        json_t *steps = starts_with(n, "eval.") ? json_object_get(file_tol_free, n) : NULL;
        double b = -1;
        size_t i;
        json_t *v;
        json_array_foreach(steps, i, v) b = fmax(b, json_number_value(v));
        if (b > 0) return b;
        v = json_object_get(file_tol, n);
        return json_is_number(v) ? json_number_value(v) : -1;
    }
    if (!strcmp(n, "eval.logits")) return 2e-4; /* error grows with depth: 4 segments of 2 x 2 updates */
    if (!strcmp(n, "eval.q_halt") || !strcmp(n, "eval.q_continue")) return 2e-4;
    if (starts_with(n, "eval.") && ends_with(n, "loss")) return 2e-5;
    if (!strcmp(n, "train.logits")) return 2e-5;
    if (!strcmp(n, "train.q_halt") || !strcmp(n, "train.q_continue") || !strcmp(n, "train.target_q_continue"))
        return 2e-5;
    if (starts_with(n, "train.") && ends_with(n, "loss")) return 2e-5;
    if (strstr(n, ".metrics.")) return 1e-5;
    if (!strcmp(n, "train.lr") || !strcmp(n, "train.puzzle_emb_lr")) return 1e-6;
    if (starts_with(n, "grad1.")) return 2e-5;
    if (starts_with(n, "grad")) return 1e-4; /* at parameters that carry the optimizer's error */
    if (starts_with(n, "step")) return 1e-4;
    return -1;
}

/* ---- the expected file: F32 and I32 tensors -------------------------------------------------- */

static void expected_read(const char *path, hrm_st_file *out) {
    char err[512];
    ck_assert_msg(hrm_st_read_mixed(path, out, err, sizeof err) == HRM_OK, "%s (is HRM_GOLDEN_DIR right?)", err);
}

static const hrm_st_tensor *expected_get(const hrm_st_file *f, const char *name, bool is_int, size_t count) {
    const hrm_st_tensor *t = hrm_st_find(f, name);
    ck_assert_msg(t != NULL, "expected file: no tensor %s", name);
    bool t_int = t->dtype == HRM_ST_I32;
    ck_assert_msg(t_int == is_int && t->count == count, "expected file: %s: %zu %s values, want %zu", name, t->count,
                  t_int ? "I32" : "F32", count);
    return t;
}

static json_t *expected_meta_json(const hrm_st_file *f, const char *key) {
    const char *s = hrm_st_meta(f, key);
    ck_assert_msg(s != NULL, "expected file: no %s metadata", key);
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);
    ck_assert_msg(j != NULL, "%s: %s", key, je.text);
    return j;
}

/* ---- comparisons, collected so that one run reports every mismatch -------------------------- */

typedef struct golden {
    const char *backend, *fixture;
    hrm_st_file exp;
    int failures;
    char first[512];
} golden;

static void mismatch(golden *g, const char *fmt, const char *name, double a, double b) {
    g->failures++;
    fprintf(stderr, "FAIL golden[%s] %s: ", g->backend, g->fixture);
    fprintf(stderr, fmt, name, a, b);
    fputc('\n', stderr);
    if (g->failures == 1) snprintf(g->first, sizeof g->first, fmt, name, a, b);
}

/* got (count,) doubles against the float tensor `name` (or its [first, first+count) part, logged
 * as `label`). */
static void expect_close_at(golden *g, const char *name, const char *label, size_t first, const double *got,
                            size_t count, size_t total) {
    const float *want = expected_get(&g->exp, name, false, total)->data + first;
    double num = 0, den = 0;
    for (size_t i = 0; i < count; i++) {
        double d = fabs(got[i] - (double)want[i]);
        num = (d > num || isnan(d)) ? d : num;
        den = fmax(den, fabs((double)want[i]));
    }
    double err = den > 0 ? num / den : num, bound = bound_of(name);
    printf("golden[%s] %-8s %-62s err %.2e (bound %.0e)\n", g->backend, g->fixture, label, err, bound);
    if (!(err <= bound)) mismatch(g, "%s: error %.3e over the bound %.0e", label, err, bound);
}

static void expect_close_d(golden *g, const char *name, const double *got, size_t count) {
    expect_close_at(g, name, name, 0, got, count, count);
}

static void expect_close_f(golden *g, const char *name, const float *got, size_t count) {
    double *d = malloc(count * sizeof *d);
    ck_assert(d != NULL);
    for (size_t i = 0; i < count; i++) d[i] = got[i];
    expect_close_d(g, name, d, count);
    free(d);
}

static void expect_equal(golden *g, const char *name, const int32_t *got, size_t count) {
    const int32_t *want = expected_get(&g->exp, name, true, count)->ints;
    for (size_t i = 0; i < count; i++)
        if (got[i] != want[i]) {
            mismatch(g, "%s: differs, got %g, want %g (first difference)", name, got[i], want[i]);
            return;
        }
    printf("golden[%s] %-8s %-62s exact\n", g->backend, g->fixture, name);
}

/* ---- the engine side --------------------------------------------------------------------- */

typedef struct run_settings {
    hrm_train_settings ts;
    int eval_segments, train_steps, epochs;
    bool data_shuffle;
} run_settings;

static double jnum(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    ck_assert_msg(json_is_number(v), "hrm.run: %s missing or not a number", k);
    return json_number_value(v);
}

static run_settings read_run(const hrm_st_file *exp) {
    json_t *r = expected_meta_json(exp, "hrm.run");
    run_settings s = {.ts = hrm_train_settings_default()};
    s.ts.global_batch_size = (int)jnum(r, "global_batch_size");
    s.ts.lr = jnum(r, "lr");
    s.ts.lr_min_ratio = jnum(r, "lr_min_ratio");
    s.ts.lr_warmup_steps = (int64_t)jnum(r, "lr_warmup_steps");
    s.ts.total_steps = (int64_t)jnum(r, "total_steps");
    s.ts.weight_decay = jnum(r, "weight_decay");
    s.ts.beta1 = jnum(r, "beta1");
    s.ts.beta2 = jnum(r, "beta2");
    s.ts.puzzle_emb_lr = jnum(r, "puzzle_emb_lr");
    s.ts.puzzle_emb_weight_decay = jnum(r, "puzzle_emb_weight_decay");
    s.ts.seed = (uint64_t)jnum(r, "seed");
    const char *loss = json_string_value(json_object_get(r, "loss_type"));
    ck_assert_msg(loss && (!strcmp(loss, "stablemax") || !strcmp(loss, "softmax")), "hrm.run: loss_type");
    s.ts.loss_type = !strcmp(loss, "softmax") ? HRM_LOSS_SOFTMAX : HRM_LOSS_STABLEMAX;
    s.eval_segments = (int)jnum(r, "eval_segments");
    s.train_steps = (int)jnum(r, "train_steps");
    s.epochs = (int)jnum(r, "epochs");
    s.data_shuffle = json_is_true(json_object_get(r, "data_shuffle"));
    s.ts.ema = json_is_true(json_object_get(r, "ema"));
    if (s.ts.ema) s.ts.ema_rate = jnum(r, "ema_rate");
    json_decref(r);
    return s;
}

/* The file's hrm.tolerances must be the bounds this test states. */
static void check_tolerances(golden *g) {
    json_t *tol = expected_meta_json(&g->exp, "hrm.tolerances");
    const char *k;
    json_t *v;
    json_object_foreach(tol, k, v) {
        double b = bound_of(k);
        ck_assert_msg(b > 0 && fabs(json_number_value(v) - b) <= 1e-12 * b,
                      "%s: the fixture's tolerance %g differs from this test's %g", k, json_number_value(v), b);
    }
    json_decref(tol);
}

typedef struct engine {
    hrm_ctx ctx;
    hrm_model *model;
    hrm_config cfg;
    float *params; /* [total] */
    int B, L, V;
} engine;

/* explore >= 0 overrides the config's halt_exploration_prob. */
static void engine_open(engine *e, const char *plugin_path, const char *init_path, int B, double explore) {
    char err[512];
    memset(e, 0, sizeof *e);
    ck_assert_msg(hrm_ctx_open(plugin_path, 0, hrm_default_host(), &e->ctx, err, sizeof err) == HRM_OK, "%s", err);
    hrm_st_file init;
    ck_assert_msg(hrm_st_read(init_path, &init, err, sizeof err) == HRM_OK, "%s", err);
    const char *json = hrm_st_meta(&init, "hrm.config");
    ck_assert_msg(json != NULL, "%s: no hrm.config", init_path);
    e->cfg = hrm_config_default();
    ck_assert_msg(hrm_config_parse(json, &e->cfg, err, sizeof err) == HRM_OK, "%s: %s", init_path, err);
    if (explore >= 0) e->cfg.halt_exploration_prob = explore;
    ck_assert_msg(hrm_model_create(&e->ctx, &e->cfg, B, &e->model, err, sizeof err) == HRM_OK, "%s", err);
    const hrm_param_table *t = hrm_model_params_table(e->model);
    e->params = malloc((size_t)t->total * sizeof *e->params);
    ck_assert(e->params != NULL);
    for (int i = 0; i < t->count; i++) {
        const hrm_st_tensor *x = hrm_st_find(&init, t->params[i].name);
        ck_assert_msg(x != NULL && (int64_t)x->count == t->params[i].numel, "%s: %s missing or wrong size", init_path,
                      t->params[i].name);
        memcpy(e->params + t->params[i].offset, x->data, x->count * sizeof *x->data);
    }
    ck_assert_msg(init.count == t->count, "%s: %d tensors, the table has %d", init_path, init.count, t->count);
    hrm_st_free(&init);
    ck_assert(hrm_model_set_params(e->model, e->params, t->total) == HRM_OK);
    e->B = B;
    e->L = e->cfg.seq_len;
    e->V = e->cfg.vocab_size;
}

static void engine_close(engine *e) {
    hrm_model_free(e->model);
    free(e->params);
    hrm_ctx_close(&e->ctx);
}

static void download(engine *e, hrm_ptr p, void *dst, size_t n) {
    ck_assert(e->ctx.f->buffer_read(p.buf, p.off * 4, dst, n * 4) == HRM_OK);
}

static void load_split(const char *dir, const char *split, hrm_dataset *ds) {
    char err[512], path[4096];
    snprintf(path, sizeof path, "%s/data", dir);
    ck_assert_msg(hrm_dataset_load(path, split, ds, err, sizeof err) == HRM_OK, "%s", err);
}

/* The metric sums and losses of M segments or K steps, [n] each, by published name. */
typedef struct metric_rows {
    double *count, *accuracy, *exact, *q_halt_acc, *steps, *loss, *lm, *q_halt, *q_cont;
} metric_rows;

static metric_rows rows_alloc(int n) {
    metric_rows r;
    double **f[] = {&r.count, &r.accuracy, &r.exact, &r.q_halt_acc, &r.steps, &r.loss, &r.lm, &r.q_halt, &r.q_cont};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) ck_assert((*f[i] = calloc((size_t)n, sizeof(double))) != NULL);
    return r;
}

static void rows_set(metric_rows *r, int i, const hrm_act_metrics *m) {
    r->count[i] = (double)m->count;
    r->accuracy[i] = m->accuracy;
    r->exact[i] = m->exact_accuracy;
    r->q_halt_acc[i] = m->q_halt_accuracy;
    r->steps[i] = m->steps;
    r->loss[i] = m->loss;
    r->lm[i] = m->lm_loss;
    r->q_halt[i] = m->q_halt_loss;
    r->q_cont[i] = m->q_continue_loss;
}

static void rows_check(golden *g, const char *prefix, metric_rows *r, int n, bool with_continue) {
    char name[128];
    const char *keys[] = {"metrics.count",
                          "metrics.accuracy",
                          "metrics.exact_accuracy",
                          "metrics.q_halt_accuracy",
                          "metrics.steps",
                          "loss",
                          "lm_loss",
                          "q_halt_loss",
                          "q_continue_loss"};
    double *vals[] = {r->count, r->accuracy, r->exact, r->q_halt_acc, r->steps, r->loss, r->lm, r->q_halt, r->q_cont};
    for (int i = 0; i < (with_continue ? 9 : 8); i++) {
        snprintf(name, sizeof name, "%s.%s", prefix, keys[i]);
        expect_close_d(g, name, vals[i], (size_t)n);
        free(vals[i]);
    }
    if (!with_continue) free(r->q_cont);
}

/* ---- evaluation ---------------------------------------------------------------------------- */

static void check_eval(golden *g, engine *e, const char *dir, int M, hrm_loss_kind loss) {
    int B = e->B, L = e->L, V = e->V;
    hrm_dataset ds;
    load_split(dir, "test", &ds);
    hrm_batch batch;
    ck_assert(hrm_batch_alloc(&batch, B) == HRM_OK);
    hrm_eval_iter it;
    hrm_eval_iter_init(&it, &ds);
    ck_assert(hrm_eval_iter_next(&it, &batch));
    expect_equal(g, "eval.example_index", batch.example, (size_t)B);

    int32_t *inputs = malloc((size_t)B * L * 4), *labels = malloc((size_t)B * L * 4),
            *preds = malloc((size_t)B * L * 4);
    int32_t *halted = malloc((size_t)M * B * 4);
    float *logits = malloc((size_t)M * B * L * V * 4), *qh = malloc((size_t)M * B * 4), *qc = malloc((size_t)M * B * 4);
    ck_assert(inputs && labels && preds && halted && logits && qh && qc);
    hrm_batch_gather(&ds, &batch, HRM_IGNORE_LABEL, inputs, labels);
    hrm_act_batch ab = {inputs, labels, batch.identifier};

    hrm_train_settings ts = hrm_train_settings_default();
    ts.loss_type = loss;
    hrm_act *a;
    char err[512];
    ck_assert_msg(hrm_act_create(&e->ctx, e->model, B, &ts, false, &a, err, sizeof err) == HRM_OK, "%s", err);
    metric_rows r = rows_alloc(M);
    size_t seg = (size_t)B * L * V;
    for (int s = 0; s < M; s++) {
        hrm_act_metrics mt;
        ck_assert_msg(hrm_act_eval_segment(a, &ab, s, M, preds, &mt) == HRM_OK, "%s", hrm_act_error(a));
        download(e, hrm_model_logits(e->model), logits + s * seg, seg);
        double *d = malloc(seg * sizeof *d);
        ck_assert(d != NULL);
        for (size_t i = 0; i < seg; i++) d[i] = logits[s * seg + i];
        char label[64];
        snprintf(label, sizeof label, "eval.logits, segment %d", s + 1);
        expect_close_at(g, "eval.logits", label, s * seg, d, seg, (size_t)M * seg);
        free(d);
        memcpy(qh + s * B, a->q_halt, (size_t)B * 4);
        memcpy(qc + s * B, a->q_continue, (size_t)B * 4);
        for (int b = 0; b < B; b++) halted[s * B + b] = a->halted[b];
        rows_set(&r, s, &mt);
    }
    expect_close_f(g, "eval.logits", logits, (size_t)M * seg);
    expect_close_f(g, "eval.q_halt", qh, (size_t)M * B);
    expect_close_f(g, "eval.q_continue", qc, (size_t)M * B);
    expect_equal(g, "eval.halted", halted, (size_t)M * B);
    expect_equal(g, "eval.predictions", preds, (size_t)B * L);
    rows_check(g, "eval", &r, M, false);

    hrm_act_free(a);
    free(inputs), free(labels), free(preds), free(halted), free(logits), free(qh), free(qc);
    hrm_batch_free(&batch);
    hrm_dataset_free(&ds);
}

/* ---- training ------------------------------------------------------------------------------ */

/* The gradients of training step k (from 1): every AdamATan2 tensor, and the per-slot puzzle rows
 * with their ids. */
static void check_grads(golden *g, engine *e, hrm_act *a, int k) {
    const hrm_param_table *t = hrm_model_params_table(e->model);
    float *grads = malloc((size_t)t->adam_total * 4);
    ck_assert(grads != NULL);
    download(e, hrm_model_grads(e->model), grads, (size_t)t->adam_total);
    char name[160];
    for (int i = 0; i < t->count; i++) {
        const hrm_param *p = &t->params[i];
        if (p->role != HRM_PARAM_ADAM) continue;
        snprintf(name, sizeof name, "grad%d.%s", k, p->name);
        expect_close_f(g, name, grads + p->offset, (size_t)p->numel);
    }
    free(grads);
    int W = e->cfg.puzzle_emb_ndim;
    if (W == 0) return;
    float *rows = malloc((size_t)e->B * W * 4);
    ck_assert(rows != NULL);
    download(e, hrm_model_puzzle_grads(e->model), rows, (size_t)e->B * W);
    snprintf(name, sizeof name, "grad%d.model.inner.puzzle_emb.rows", k);
    expect_close_f(g, name, rows, (size_t)e->B * W);
    snprintf(name, sizeof name, "grad%d.model.inner.puzzle_emb.ids", k);
    expect_equal(g, name, a->puzzle_ids, (size_t)e->B);
    free(rows);
}

/* Every tensor after K steps. */
static void check_params_after(golden *g, engine *e, int K) {
    const hrm_param_table *t = hrm_model_params_table(e->model);
    ck_assert(hrm_model_get_params(e->model, e->params, t->total) == HRM_OK);
    char name[160];
    for (int i = 0; i < t->count; i++) {
        const hrm_param *p = &t->params[i];
        snprintf(name, sizeof name, "step%d.%s", K, p->name);
        expect_close_f(g, name, e->params + p->offset, (size_t)p->numel);
    }
}

typedef struct train_rows {
    int32_t *batch_index, *example_index, *inputs, *labels, *ids, *halted, *steps, *seq_correct;
    float *logits, *q_halt, *q_cont, *target;
    double *lr, *lr_e;
} train_rows;

static void check_train(golden *g, engine *e, const char *dir, const run_settings *rs) {
    int B = e->B, L = e->L, V = e->V, K = rs->train_steps;
    hrm_dataset ds;
    load_split(dir, "train", &ds);
    /* pretrain.py's total_steps estimate from dataset.json */
    int64_t total = (int64_t)(rs->epochs * ds.meta.total_groups * ds.meta.mean_puzzle_examples / B);
    ck_assert_msg(total == rs->ts.total_steps, "total_steps %lld, the fixture says %lld", (long long)total,
                  (long long)rs->ts.total_steps);
    ck_assert_msg(!rs->data_shuffle && e->cfg.halt_exploration_prob == 0, "fixture not in reproducible mode");
    hrm_sampler smp;
    hrm_batch batch;
    char err[512];
    ck_assert_msg(hrm_sampler_init(&smp, &ds, B, false, 1, rs->ts.seed, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert(hrm_batch_alloc(&batch, B) == HRM_OK);
    hrm_act *a;
    ck_assert_msg(hrm_act_create(&e->ctx, e->model, B, &rs->ts, true, &a, err, sizeof err) == HRM_OK, "%s", err);

    size_t BL = (size_t)B * L, seg = BL * V;
    train_rows t;
    int32_t **iv[] = {&t.batch_index, &t.example_index, &t.ids, &t.halted, &t.steps, &t.seq_correct};
    for (size_t i = 0; i < sizeof iv / sizeof *iv; i++) ck_assert((*iv[i] = calloc((size_t)K * B, 4)) != NULL);
    float **fv[] = {&t.q_halt, &t.q_cont, &t.target};
    for (size_t i = 0; i < sizeof fv / sizeof *fv; i++) ck_assert((*fv[i] = calloc((size_t)K * B, 4)) != NULL);
    t.inputs = calloc((size_t)K * BL, 4);
    t.labels = calloc((size_t)K * BL, 4);
    t.logits = calloc((size_t)K * seg, 4);
    t.lr = calloc((size_t)K, sizeof(double));
    t.lr_e = calloc((size_t)K, sizeof(double));
    int32_t *inputs = malloc(BL * 4), *labels = malloc(BL * 4), *slot_example = calloc((size_t)B, 4);
    ck_assert(t.inputs && t.labels && t.logits && t.lr && t.lr_e && inputs && labels && slot_example);
    metric_rows r = rows_alloc(K);

    for (int k = 0; k < K; k++) {
        ck_assert_msg(hrm_sampler_next(&smp, &batch, err, sizeof err) == HRM_OK, "%s", err);
        hrm_batch_gather(&ds, &batch, HRM_IGNORE_LABEL, inputs, labels);
        for (int b = 0; b < B; b++) {
            t.batch_index[k * B + b] = batch.example[b];
            if (a->halted[b]) slot_example[b] = batch.example[b];
            t.example_index[k * B + b] = slot_example[b];
        }
        hrm_act_batch ab = {inputs, labels, batch.identifier};
        hrm_act_metrics mt;
        ck_assert_msg(hrm_act_train_segment(a, &ab, &mt) == HRM_OK, "%s", hrm_act_error(a));
        check_grads(g, e, a, k + 1);
        download(e, hrm_model_logits(e->model), t.logits + k * seg, seg);
        ck_assert_msg(hrm_act_optimizer_step(a) == HRM_OK, "%s", hrm_act_error(a));
        rows_set(&r, k, &mt);
        t.lr[k] = a->last_lr;
        t.lr_e[k] = a->last_puzzle_emb_lr;
        for (size_t i = 0; i < BL; i++) {
            t.inputs[k * BL + i] = a->inputs[i];
            t.labels[k * BL + i] = a->labels[i] == HRM_IGNORE_LABEL ? 0 : a->labels[i]; /* raw: 0 = ignored */
        }
        for (int b = 0; b < B; b++) {
            int i = k * B + b;
            t.ids[i] = a->puzzle_ids[b];
            t.halted[i] = a->halted[b];
            t.steps[i] = a->steps[b];
            t.seq_correct[i] = a->seq_correct[b];
            t.q_halt[i] = a->q_halt[b];
            t.q_cont[i] = a->q_continue[b];
            t.target[i] = a->target_q_continue[b];
        }
    }
    size_t KB = (size_t)K * B;
    expect_equal(g, "train.batch_index", t.batch_index, KB);
    expect_equal(g, "train.example_index", t.example_index, KB);
    expect_equal(g, "train.inputs", t.inputs, KB * L);
    expect_equal(g, "train.labels", t.labels, KB * L);
    expect_equal(g, "train.puzzle_identifiers", t.ids, KB);
    expect_close_f(g, "train.logits", t.logits, (size_t)K * seg);
    expect_close_f(g, "train.q_halt", t.q_halt, KB);
    expect_close_f(g, "train.q_continue", t.q_cont, KB);
    if (!e->cfg.no_ACT_continue) expect_close_f(g, "train.target_q_continue", t.target, KB);
    expect_equal(g, "train.halted", t.halted, KB);
    expect_equal(g, "train.steps", t.steps, KB);
    expect_equal(g, "train.seq_correct", t.seq_correct, KB);
    rows_check(g, "train", &r, K, true);
    expect_close_d(g, "train.lr", t.lr, (size_t)K);
    expect_close_d(g, "train.puzzle_emb_lr", t.lr_e, (size_t)K);
    check_params_after(g, e, K);
    if (rs->ts.ema) { /* the EMA of the AdamATan2 tensors after K steps (TRM's fixtures) */
        const hrm_param_table *pt = hrm_model_params_table(e->model);
        float *ema = malloc((size_t)pt->adam_total * 4);
        ck_assert(ema && hrm_act_get_ema(a, ema) == HRM_OK);
        char name[160];
        for (int i = 0; i < pt->count; i++) {
            const hrm_param *p = &pt->params[i];
            if (p->role != HRM_PARAM_ADAM) continue;
            snprintf(name, sizeof name, "ema%d.%s", K, p->name);
            expect_close_f(g, name, ema + p->offset, (size_t)p->numel);
        }
        free(ema);
    }

    hrm_act_free(a);
    for (size_t i = 0; i < sizeof iv / sizeof *iv; i++) free(*iv[i]);
    for (size_t i = 0; i < sizeof fv / sizeof *fv; i++) free(*fv[i]);
    free(t.inputs), free(t.labels), free(t.logits), free(t.lr), free(t.lr_e);
    free(inputs), free(labels), free(slot_example);
    hrm_batch_free(&batch);
    hrm_sampler_free(&smp);
    hrm_dataset_free(&ds);
}

/* ---- the plugins under test ------------------------------------------------------------ */

#define MAX_PLUGINS 16
static found_plugin plugins[MAX_PLUGINS]; /* found by a child process: see discover.h */
static int plugin_count;

/* ---- resuming ------------------------------------------------------------------------------- */

/* Runs steps [from, to) of reproducible training on a, drawing from smp; returns the last step's
 * metrics. */
static hrm_act_metrics train_steps(engine *e, hrm_act *a, const hrm_dataset *ds, hrm_sampler *smp, int from, int to) {
    char err[512];
    hrm_batch batch;
    ck_assert(hrm_batch_alloc(&batch, e->B) == HRM_OK);
    int32_t *inputs = malloc((size_t)e->B * e->L * 4), *labels = malloc((size_t)e->B * e->L * 4);
    ck_assert(inputs && labels);
    hrm_act_metrics mt = {0};
    for (int k = from; k < to; k++) {
        ck_assert_msg(hrm_sampler_next(smp, &batch, err, sizeof err) == HRM_OK, "%s", err);
        hrm_batch_gather(ds, &batch, HRM_IGNORE_LABEL, inputs, labels);
        hrm_act_batch ab = {inputs, labels, batch.identifier};
        ck_assert_msg(hrm_act_train_step(a, &ab, &mt) == HRM_OK, "%s", hrm_act_error(a));
    }
    free(inputs), free(labels);
    hrm_batch_free(&batch);
    return mt;
}

/* 3 steps in one run == 1 step saved through the checkpoint writer (step_1.safetensors and
 * step_1.state with the sampler, as `hrm train` saves them), then read back by the checkpoint
 * reader into the model (over scrambled parameters) and a fresh training state and sampler, and 2
 * more steps: bit for bit; with halting exploration on, so the rng state counts. */
static void run_resume(int plugin) {
    const char *dir = getenv("HRM_GOLDEN_DIR");
    ck_assert_msg(dir && dir[0], "HRM_GOLDEN_DIR is not set (meson sets it to tests/golden)");
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    hrm_st_file exp;
    expected_read(path, &exp);
    run_settings rs = read_run(&exp);
    hrm_st_free(&exp);
    rs.ts.seed = 7;
    snprintf(path, sizeof path, "%s/init.safetensors", dir);
    engine e;
    engine_open(&e, plugins[plugin].path, path, rs.ts.global_batch_size, 0.5); /* exploration draws matter */
    hrm_dataset ds;
    load_split(dir, "train", &ds);
    const hrm_param_table *t = hrm_model_params_table(e.model);
    float *straight = malloc((size_t)t->total * 4), *resumed = malloc((size_t)t->total * 4);
    ck_assert(straight && resumed);
    char tmp[] = "/tmp/hrm-golden-resume-XXXXXX", weights[64], state[64];
    ck_assert(mkdtemp(tmp) != NULL);
    snprintf(weights, sizeof weights, "%s/step_1.safetensors", tmp);
    snprintf(state, sizeof state, "%s/step_1.state", tmp);

    hrm_act *a;
    hrm_sampler smp;
    ck_assert_msg(hrm_act_create(&e.ctx, e.model, e.B, &rs.ts, true, &a, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert(hrm_sampler_init(&smp, &ds, e.B, false, 1, 0, err, sizeof err) == HRM_OK);
    hrm_act_metrics m1 = train_steps(&e, a, &ds, &smp, 0, 3);
    ck_assert(hrm_model_get_params(e.model, straight, t->total) == HRM_OK);
    hrm_act_free(a);
    hrm_sampler_free(&smp);

    /* 1 step, saved */
    ck_assert(hrm_model_set_params(e.model, e.params, t->total) == HRM_OK);
    ck_assert(hrm_act_create(&e.ctx, e.model, e.B, &rs.ts, true, &a, err, sizeof err) == HRM_OK);
    ck_assert(hrm_sampler_init(&smp, &ds, e.B, false, 1, 0, err, sizeof err) == HRM_OK);
    train_steps(&e, a, &ds, &smp, 0, 1);
    ck_assert(hrm_model_get_params(e.model, resumed, t->total) == HRM_OK);
    ck_assert_msg(hrm_checkpoint_write(weights, &e.cfg, t, resumed, NULL, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert_msg(hrm_train_state_save(state, a, &smp, err, sizeof err) == HRM_OK, "%s", err);
    hrm_act_free(a);
    hrm_sampler_free(&smp);

    /* read back over scrambled parameters, into a fresh state and sampler */
    for (int64_t i = 0; i < t->total; i++) resumed[i] = 1.0f;
    ck_assert(hrm_model_set_params(e.model, resumed, t->total) == HRM_OK);
    hrm_checkpoint ck;
    ck_assert_msg(hrm_checkpoint_read(weights, &ck, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert_msg(ck.table.total == t->total && ck.cfg.halt_exploration_prob == e.cfg.halt_exploration_prob,
                  "%s: read back another model", weights);
    ck_assert(hrm_model_set_params(e.model, ck.params, t->total) == HRM_OK);
    hrm_checkpoint_free(&ck);
    ck_assert(hrm_act_create(&e.ctx, e.model, e.B, &rs.ts, true, &a, err, sizeof err) == HRM_OK);
    ck_assert(hrm_sampler_init(&smp, &ds, e.B, false, 1, 0, err, sizeof err) == HRM_OK);
    ck_assert_msg(hrm_train_state_load(state, a, &smp, err, sizeof err) == HRM_OK, "%s", err);
    hrm_act_metrics m2 = train_steps(&e, a, &ds, &smp, 1, 3);
    ck_assert(hrm_model_get_params(e.model, resumed, t->total) == HRM_OK);
    ck_assert_msg(memcmp(straight, resumed, (size_t)t->total * 4) == 0, "%s: resumed parameters differ",
                  plugins[plugin].name);
    ck_assert_msg(m1.loss == m2.loss && m1.count == m2.count, "%s: resumed step-3 loss %.9g, straight %.9g",
                  plugins[plugin].name, m2.loss, m1.loss);
    printf("golden[%s] resume: 1 step, saved and read back by the checkpoint writer and reader, + 2 steps == 3 "
           "steps, bit for bit\n",
           plugins[plugin].name);

    hrm_act_free(a);
    hrm_sampler_free(&smp);
    ck_assert(remove(weights) == 0 && remove(state) == 0 && rmdir(tmp) == 0);
    free(straight), free(resumed);
    hrm_dataset_free(&ds);
    engine_close(&e);
}

/* ---- hrm_evaluate: the reported numbers recomputed --------------------------------------------- */

/* What hrm_evaluate hands its dump after each batch, kept for the whole split: logits [N, L, V]
 * and predictions [N, L] of the last segment. */
typedef struct eval_seen {
    size_t L, V;
    float *logits;
    uint8_t *preds;
    int64_t rows;
} eval_seen;

static hrm_status seen_rows(void *user, int64_t first, int valid, const float *logits, const uint8_t *predictions,
                            char *err, size_t err_size) {
    eval_seen *s = user;
    if (first != s->rows) {
        snprintf(err, err_size, "rows from %lld after %lld", (long long)first, (long long)s->rows);
        return HRM_ERR_INVALID_ARG;
    }
    memcpy(s->logits + (size_t)first * s->L * s->V, logits, (size_t)valid * s->L * s->V * sizeof *logits);
    memcpy(s->preds + (size_t)first * s->L, predictions, (size_t)valid * s->L);
    s->rows += valid;
    return HRM_OK;
}

/* The published evaluation's sums (losses.py ACTLossHead after the last segment, added up by
 * pretrain.py evaluate(), which then divides everything by count). */
typedef struct eval_sums {
    int64_t count;
    double accuracy, exact, q_halt_acc, steps, lm, q_halt_loss;
} eval_sums;

/* Cross-entropy of one position in double: stablemax (losses.py: s(x) = x + 1 for x >= 0,
 * 1 / (1 - x) below) or softmax. */
static double position_ce(const float *x, int V, int label, hrm_loss_kind kind) {
    double sum = 0, mx = -INFINITY;
    if (kind == HRM_LOSS_STABLEMAX) {
        for (int v = 0; v < V; v++) sum += x[v] >= 0 ? x[v] + 1.0 : 1.0 / (1.0 - x[v]);
        double s = x[label] >= 0 ? x[label] + 1.0 : 1.0 / (1.0 - x[label]);
        return -log(s / sum);
    }
    for (int v = 0; v < V; v++) mx = fmax(mx, x[v]);
    for (int v = 0; v < V; v++) sum += exp(x[v] - mx);
    return mx + log(sum) - x[label];
}

/* Adds example `row` seen through its logits [L, V] and q_halt after M segments, against the
 * dataset's own labels: a position counts when its label is not ignore_label_id; correct when
 * the first maximum of its logits is the label; seq_correct when every counted position is;
 * lm = the counted positions' CE / max(count, 1); q_halt_loss = BCE with logits(q_halt,
 * seq_correct). An example with no counted position adds to the losses only. preds [L] (may be
 * NULL): the predictions the evaluation reported, which must be those argmaxes. */
static void add_example(golden *g, eval_sums *s, const hrm_dataset *ds, int row, const float *logits, float q_halt,
                        int M, hrm_loss_kind kind, const uint8_t *preds) {
    int L = ds->meta.seq_len, V = ds->meta.vocab_size, count = 0, correct = 0;
    double lm = 0;
    for (int t = 0; t < L; t++) {
        const float *x = logits + (size_t)t * V;
        int best = 0;
        for (int v = 1; v < V; v++) best = x[v] > x[best] ? v : best;
        if (preds && preds[t] != best) {
            mismatch(g, "%s: the dumped prediction %g is not the logits' argmax %g", "evaluate", preds[t], best);
            preds = NULL;
        }
        int y = hrm_dataset_label(ds, row, t);
        if (ds->meta.has_ignore_label && y == ds->meta.ignore_label_id) continue;
        count++;
        correct += best == y;
        lm += position_ce(x, V, y, kind);
    }
    bool seq_correct = correct == count;
    s->lm += lm / (count > 0 ? count : 1);
    s->q_halt_loss += fmax(q_halt, 0.0) - q_halt * seq_correct + log1p(exp(-fabs((double)q_halt)));
    if (count == 0) return;
    s->count++;
    s->accuracy += (double)correct / count;
    s->exact += seq_correct;
    s->q_halt_acc += (q_halt >= 0) == seq_correct;
    s->steps += M;
}

/* The report against sums: count exactly, the fractions to 1e-12, the losses to rel_loss. */
static void expect_report(golden *g, const char *what, const hrm_eval_report *r, const eval_sums *s, int64_t examples,
                          int M, double rel_loss) {
    char name[160];
    double n = (double)(s->count > 0 ? s->count : 1), loss = (s->lm + 0.5 * s->q_halt_loss) / n;
    struct {
        const char *key;
        double got, want, tol;
    } v[] = {{"examples", (double)r->examples, (double)examples, 0},
             {"segments", r->segments, M, 0},
             {"count", (double)r->count, (double)s->count, 0},
             {"accuracy", r->accuracy, s->accuracy / n, 1e-12},
             {"exact_accuracy", r->exact_accuracy, s->exact / n, 1e-12},
             {"q_halt_accuracy", r->q_halt_accuracy, s->q_halt_acc / n, 1e-12},
             {"steps", r->steps, s->steps / n, 1e-12},
             {"lm_loss", r->lm_loss, s->lm / n, rel_loss * fabs(s->lm / n)},
             {"q_halt_loss", r->q_halt_loss, s->q_halt_loss / n, rel_loss * fabs(s->q_halt_loss / n)},
             {"loss", r->loss, loss, rel_loss * fabs(loss)}};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        snprintf(name, sizeof name, "%s %s", what, v[i].key);
        if (!(fabs(v[i].got - v[i].want) <= v[i].tol))
            mismatch(g, "%s: reported %.9g, recomputed %.9g", name, v[i].got, v[i].want);
    }
    printf("golden[%s] %-8s %-62s count %lld, exact %.6f, lm_loss %.6f\n", g->backend, g->fixture, what,
           (long long)r->count, r->exact_accuracy, r->lm_loss);
}

/* The fixture's own sums after its M segments (the reference's losses.py): the recomputation
 * from its logits must give them, which checks this file's formulas against PyTorch. */
static void expect_reference_sums(golden *g, const eval_sums *s, int M) {
    const char *keys[] = {"eval.metrics.count",
                          "eval.metrics.accuracy",
                          "eval.metrics.exact_accuracy",
                          "eval.metrics.q_halt_accuracy",
                          "eval.metrics.steps",
                          "eval.lm_loss",
                          "eval.q_halt_loss"};
    double got[] = {(double)s->count, s->accuracy, s->exact, s->q_halt_acc, s->steps, s->lm, s->q_halt_loss};
    for (int i = 0; i < 7; i++) {
        const float *want = expected_get(&g->exp, keys[i], false, (size_t)M)->data + M - 1;
        double err = fabs(got[i] - *want) / fmax(fabs(*want), 1e-30);
        if (!(err <= bound_of(keys[i])))
            mismatch(g, "%s: recomputed from the reference's logits %.9g, the reference says %.9g", keys[i], got[i],
                     *want);
    }
}

/* The untrained model gets no example wholly right, so exact_accuracy would be 0 throughout:
 * the test examples of these batch positions get the reference's predictions after its M
 * segments as labels (where a label is counted), which makes them exact at M segments. */
static const int RIGHT_ROWS[] = {1, 4};

static void label_right_rows(golden *g, hrm_dataset *ds, int Bref) {
    const int32_t *idx = expected_get(&g->exp, "eval.example_index", true, (size_t)Bref)->ints;
    const int32_t *pred = expected_get(&g->exp, "eval.predictions", true, (size_t)Bref * ds->meta.seq_len)->ints;
    ck_assert_msg(ds->labels.dtype == HRM_NPY_U8, "golden labels are not uint8");
    uint8_t *labels = ds->labels.data;
    for (size_t k = 0; k < sizeof RIGHT_ROWS / sizeof *RIGHT_ROWS; k++)
        for (int t = 0; t < ds->meta.seq_len; t++) {
            size_t at = (size_t)idx[RIGHT_ROWS[k]] * ds->meta.seq_len + t;
            if (labels[at] != ds->meta.ignore_label_id)
                labels[at] = (uint8_t)pred[RIGHT_ROWS[k] * ds->meta.seq_len + t];
        }
}

/* hrm_evaluate over a split in batches of 4 (the last padded) for 1..M+1 segments; its report
 * against (a) the published formulas applied here to the logits, predictions and q_halt it
 * dumped, to float rounding, and for the test split and m <= M (b) the same formulas applied to
 * the reference's logits and q_halt of segment m, within the fixture's bound for eval losses
 * (at m = M also the reference's own sums, unless right_rows changed the labels). The train
 * split has an example with no valid label (count 13 of 14). */
static void check_evaluate(golden *g, const char *plugin_path, const char *init_path, const char *dir,
                           const char *split, const run_settings *rs, bool right_rows) {
    const int B = 4, M_ref = rs->eval_segments;
    engine e;
    engine_open(&e, plugin_path, init_path, B, -1);
    hrm_dataset ds;
    load_split(dir, split, &ds);
    int N = ds.num_examples;
    size_t L = (size_t)e.L, V = (size_t)e.V;
    bool reference = !strcmp(split, "test");
    if (right_rows) label_right_rows(g, &ds, rs->ts.global_batch_size);
    hrm_train_settings ts = hrm_train_settings_default();
    ts.loss_type = rs->ts.loss_type;
    hrm_act *a;
    char err[512], what[96];
    ck_assert_msg(hrm_act_create(&e.ctx, e.model, B, &ts, false, &a, err, sizeof err) == HRM_OK, "%s", err);
    eval_seen seen = {.L = L, .V = V, .logits = malloc((size_t)N * L * V * 4), .preds = malloc((size_t)N * L)};
    float *qh = malloc((size_t)(M_ref + 1) * N * 4), *qc = malloc((size_t)(M_ref + 1) * N * 4);
    ck_assert(seen.logits && seen.preds && qh && qc);
    const hrm_st_tensor *ref_idx =
        reference ? expected_get(&g->exp, "eval.example_index", true, (size_t)rs->ts.global_batch_size) : NULL;
    for (int m = 1; m <= M_ref + 1; m++) {
        seen.rows = 0;
        hrm_eval_dump dump = {.q_halt = qh, .q_continue = qc, .rows = seen_rows, .user = &seen};
        hrm_eval_report r;
        ck_assert_msg(hrm_evaluate(a, &ds, m, NULL, &dump, &r, err, sizeof err) == HRM_OK, "%s", err);
        ck_assert_int_eq(seen.rows, N);
        eval_sums mine = {0};
        for (int i = 0; i < N; i++)
            add_example(g, &mine, &ds, i, seen.logits + (size_t)i * L * V, qh[(size_t)(m - 1) * N + i], m, ts.loss_type,
                        seen.preds + (size_t)i * L);
        snprintf(what, sizeof what, "evaluate %s%s, %d segments, B %d", split, right_rows ? " (2 rows right)" : "", m,
                 B);
        expect_report(g, what, &r, &mine, N, m, 1e-6);
        if (right_rows && m == M_ref)
            ck_assert_msg(mine.exact == 2, "%s: %g exact rows, the labels were set for 2", what, mine.exact);
        if (!reference || m > M_ref) continue;
        /* the reference's values of segment m, for its batch of the first Bref test examples */
        int Bref = rs->ts.global_batch_size;
        ck_assert_msg(Bref == N, "the fixture's eval batch (%d) is not the test split (%d)", Bref, N);
        const float *lg = expected_get(&g->exp, "eval.logits", false, (size_t)M_ref * Bref * L * V)->data;
        const float *rq = expected_get(&g->exp, "eval.q_halt", false, (size_t)M_ref * Bref)->data;
        eval_sums ref = {0};
        for (int b = 0; b < Bref; b++)
            add_example(g, &ref, &ds, ref_idx->ints[b], lg + ((size_t)(m - 1) * Bref + b) * L * V,
                        rq[(size_t)(m - 1) * Bref + b], m, ts.loss_type, NULL);
        snprintf(what, sizeof what, "evaluate test, %d segments, vs the reference", m);
        expect_report(g, what, &r, &ref, N, m, bound_of("eval.lm_loss"));
        if (m == M_ref && !right_rows) expect_reference_sums(g, &ref, M_ref);
    }
    hrm_act_free(a);
    free(seen.logits), free(seen.preds), free(qh), free(qc);
    hrm_dataset_free(&ds);
    engine_close(&e);
}

static void run_evaluate(int plugin, const char *fixture, const char *init_file, const char *expected_file) {
    const char *dir = getenv("HRM_GOLDEN_DIR");
    ck_assert_msg(dir && dir[0], "HRM_GOLDEN_DIR is not set (meson sets it to tests/golden)");
    char init_path[4096], exp_path[4096];
    snprintf(init_path, sizeof init_path, "%s/%s", dir, init_file);
    snprintf(exp_path, sizeof exp_path, "%s/%s", dir, expected_file);
    golden g = {.backend = plugins[plugin].name, .fixture = fixture};
    expected_read(exp_path, &g.exp);
    run_settings rs = read_run(&g.exp);
    check_evaluate(&g, plugins[plugin].path, init_path, dir, "test", &rs, false);
    check_evaluate(&g, plugins[plugin].path, init_path, dir, "test", &rs, true);
    check_evaluate(&g, plugins[plugin].path, init_path, dir, "train", &rs, false);
    hrm_st_free(&g.exp);
    ck_assert_msg(g.failures == 0, "golden[%s] %s evaluate: %d mismatches; first: %s", g.backend, fixture, g.failures,
                  g.first);
}

/* ---- sampled inference (hrm_eval_sampling) ----------------------------------------------- */

typedef struct sampled_run {
    hrm_eval_report r;
    float *qh;      /* [M, N] */
    eval_seen seen; /* logits, predictions [N] */
} sampled_run;

static void sampled_eval(hrm_act *a, const hrm_dataset *ds, int M, const hrm_eval_sampling *smp, sampled_run *out) {
    char err[512];
    size_t N = (size_t)ds->num_examples, L = (size_t)ds->meta.seq_len, V = (size_t)ds->meta.vocab_size;
    out->qh = malloc((size_t)M * N * 4);
    out->seen = (eval_seen){.L = L, .V = V, .logits = malloc(N * L * V * 4), .preds = malloc(N * L)};
    ck_assert(out->qh && out->seen.logits && out->seen.preds);
    hrm_eval_dump dump = {.q_halt = out->qh, .rows = seen_rows, .user = &out->seen};
    ck_assert_msg(hrm_evaluate(a, ds, M, smp, &dump, &out->r, err, sizeof err) == HRM_OK, "%s", err);
}

static void sampled_free(sampled_run *s) { free(s->qh), free(s->seen.logits), free(s->seen.preds); }

static bool same_report(const hrm_eval_report *a, const hrm_eval_report *b) {
    return a->count == b->count && a->accuracy == b->accuracy && a->exact_accuracy == b->exact_accuracy &&
           a->q_halt_accuracy == b->q_halt_accuracy && a->lm_loss == b->lm_loss && a->q_halt_loss == b->q_halt_loss;
}

/* accept: the plain run's prediction of the example only */
typedef struct accept_plain {
    const uint8_t *preds;
    size_t L;
    int calls;
} accept_plain;

static bool accept_if_plain(void *user, int64_t example, const uint8_t *prediction) {
    accept_plain *p = user;
    p->calls++;
    return memcmp(prediction, p->preds + (size_t)example * p->L, p->L) == 0;
}

static bool accept_none(void *user, int64_t example, const uint8_t *prediction) {
    (void)user, (void)example, (void)prediction;
    return false;
}

/* The selection rule of sampled evaluation, on the golden model's test split (batches of 4, the
 * last padded): noise 0 is the plain evaluation whatever K; with noise, run 0 is plain, so every
 * example's final q_halt is at least the plain one, the seed fixes the draws, the report is the
 * published formulas over the chosen rows, and a verifier's verdict comes before q_halt. */
static void run_sampled(int plugin) {
    const char *dir = getenv("HRM_GOLDEN_DIR");
    ck_assert_msg(dir && dir[0], "HRM_GOLDEN_DIR is not set (meson sets it to tests/golden)");
    char init_path[4096], exp_path[4096], err[512];
    snprintf(init_path, sizeof init_path, "%s/init.safetensors", dir);
    snprintf(exp_path, sizeof exp_path, "%s/expected.safetensors", dir);
    golden g = {.backend = plugins[plugin].name, .fixture = "main sampled"};
    expected_read(exp_path, &g.exp);
    run_settings rs = read_run(&g.exp);
    engine e;
    engine_open(&e, plugins[plugin].path, init_path, 4, -1);
    hrm_dataset ds;
    load_split(dir, "test", &ds);
    hrm_train_settings ts = hrm_train_settings_default();
    ts.loss_type = rs.ts.loss_type;
    hrm_act *a;
    ck_assert_msg(hrm_act_create(&e.ctx, e.model, 4, &ts, false, &a, err, sizeof err) == HRM_OK, "%s", err);
    int M = rs.eval_segments, N = ds.num_examples;
    size_t L = (size_t)e.L, V = (size_t)e.V;
    sampled_run plain, zero, noisy, again, other, verified, rejected;
    sampled_eval(a, &ds, M, NULL, &plain);
    hrm_eval_sampling smp = {.samples = 4, .noise = 0};
    sampled_eval(a, &ds, M, &smp, &zero);
    ck_assert_msg(same_report(&zero.r, &plain.r) && !memcmp(zero.qh, plain.qh, (size_t)M * N * 4),
                  "noise 0 differs from the plain evaluation");
    smp = (hrm_eval_sampling){.samples = 4, .noise = 1.0f, .seed = 5};
    sampled_eval(a, &ds, M, &smp, &noisy);
    sampled_eval(a, &ds, M, &smp, &again);
    ck_assert_msg(same_report(&noisy.r, &again.r) && !memcmp(noisy.qh, again.qh, (size_t)M * N * 4),
                  "the same seed gave different draws");
    smp.seed = 6;
    sampled_eval(a, &ds, M, &smp, &other);
    ck_assert_msg(memcmp(noisy.qh, other.qh, (size_t)M * N * 4), "another seed gave the same draws");
    int higher = 0;
    eval_sums mine = {0};
    for (int i = 0; i < N; i++) {
        float q = noisy.qh[(size_t)(M - 1) * N + i], q0 = plain.qh[(size_t)(M - 1) * N + i];
        ck_assert_msg(q >= q0, "example %d: chosen q_halt %g below the plain run's %g", i, q, q0);
        higher += q > q0;
        add_example(&g, &mine, &ds, i, noisy.seen.logits + (size_t)i * L * V, q, M, ts.loss_type,
                    noisy.seen.preds + (size_t)i * L);
    }
    ck_assert_msg(higher > 0, "noise 1.0 never raised a q_halt: no noise reached the model");
    expect_report(&g, "sampled evaluate (4 runs, noise 1)", &noisy.r, &mine, N, M, 1e-6);
    /* a verifier that accepts only the plain answers: every example keeps its plain prediction */
    accept_plain ap = {.preds = plain.seen.preds, .L = L};
    smp = (hrm_eval_sampling){.samples = 4, .noise = 1.0f, .seed = 5, .accept = accept_if_plain, .user = &ap};
    sampled_eval(a, &ds, M, &smp, &verified);
    ck_assert_int_eq(ap.calls, 4 * N);
    ck_assert_msg(!memcmp(verified.seen.preds, plain.seen.preds, (size_t)N * L), "an unaccepted answer was chosen");
    ck_assert_msg(verified.r.accuracy == plain.r.accuracy, "accuracy %g, plain %g", verified.r.accuracy,
                  plain.r.accuracy);
    /* a verifier that accepts nothing leaves the choice to q_halt */
    smp.accept = accept_none;
    sampled_eval(a, &ds, M, &smp, &rejected);
    ck_assert_msg(same_report(&rejected.r, &noisy.r) && !memcmp(rejected.qh, noisy.qh, (size_t)M * N * 4),
                  "rejecting every answer changed the choice");
    sampled_free(&plain), sampled_free(&zero), sampled_free(&noisy), sampled_free(&again), sampled_free(&other);
    sampled_free(&verified), sampled_free(&rejected);
    hrm_act_free(a);
    hrm_dataset_free(&ds);
    engine_close(&e);
    hrm_st_free(&g.exp);
    ck_assert_msg(g.failures == 0, "golden[%s] sampled: %d mismatches; first: %s", g.backend, g.failures, g.first);
}

/* ---- the test cases: fixture x plugin ------------------------------------------------------ */

static void run_fixture(int plugin, const char *fixture, const char *init_file, const char *expected_file) {
    const char *dir = getenv("HRM_GOLDEN_DIR");
    ck_assert_msg(dir && dir[0], "HRM_GOLDEN_DIR is not set (meson sets it to tests/golden)");
    char init_path[4096], exp_path[4096];
    snprintf(init_path, sizeof init_path, "%s/%s", dir, init_file);
    snprintf(exp_path, sizeof exp_path, "%s/%s", dir, expected_file);
    golden g = {.backend = plugins[plugin].name, .fixture = fixture};
    expected_read(exp_path, &g.exp);
    bool trm = !strncmp(fixture, "trm", 3);
    if (trm) {
        file_tol = expected_meta_json(&g.exp, "hrm.tolerances");
        file_tol_free = expected_meta_json(&g.exp, "hrm.tolerances_free_running");
    } else {
        check_tolerances(&g);
    }
    run_settings rs = read_run(&g.exp);
    engine e;
    engine_open(&e, plugins[plugin].path, init_path, rs.ts.global_batch_size, -1);
    check_eval(&g, &e, dir, rs.eval_segments, rs.ts.loss_type);
    check_train(&g, &e, dir, &rs);
    engine_close(&e);
    hrm_st_free(&g.exp);
    json_decref(file_tol), json_decref(file_tol_free);
    file_tol = file_tol_free = NULL;
    ck_assert_msg(g.failures == 0, "golden[%s] %s: %d mismatches; first: %s", g.backend, fixture, g.failures, g.first);
}

START_TEST(golden_main) { run_fixture(_i, "main", "init.safetensors", "expected.safetensors"); }
END_TEST

START_TEST(golden_learned) { run_fixture(_i, "learned", "init_learned.safetensors", "expected_learned.safetensors"); }
END_TEST

START_TEST(golden_trm) { run_fixture(_i, "trm", "trm_init.safetensors", "trm_expected.safetensors"); }
END_TEST

START_TEST(golden_trm_mlp_training) {
    run_fixture(_i, "trm_mlp", "trm_mlp_init.safetensors", "trm_mlp_expected.safetensors");
}
END_TEST

START_TEST(golden_resume) { run_resume(_i); }
END_TEST

START_TEST(golden_evaluate_main) { run_evaluate(_i, "main", "init.safetensors", "expected.safetensors"); }
END_TEST

START_TEST(golden_sampled) { run_sampled(_i); }
END_TEST

START_TEST(golden_evaluate_learned) {
    run_evaluate(_i, "learned", "init_learned.safetensors", "expected_learned.safetensors");
}
END_TEST

int main(void) {
    plugin_count = discover_plugins(hrm_default_host(), "golden", plugins, MAX_PLUGINS);
    if (plugin_count == 0) return EXIT_FAILURE;
    Suite *s = suite_create("golden");
    TCase *tc = tcase_create("reference");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, golden_main, 0, plugin_count);
    tcase_add_loop_test(tc, golden_learned, 0, plugin_count);
    tcase_add_loop_test(tc, golden_trm, 0, plugin_count);
    tcase_add_loop_test(tc, golden_trm_mlp_training, 0, plugin_count);
    tcase_add_loop_test(tc, golden_resume, 0, plugin_count);
    tcase_add_loop_test(tc, golden_evaluate_main, 0, plugin_count);
    tcase_add_loop_test(tc, golden_evaluate_learned, 0, plugin_count);
    tcase_add_loop_test(tc, golden_sampled, 0, plugin_count);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
