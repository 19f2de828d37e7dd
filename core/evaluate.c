/* core/evaluate.c - a dataset split through hrm_act_eval_batch (evaluate.h), with sampled
 * inference: a batch run several times, each example keeping its best run. */
#include "evaluate.h"

#include "sampler.h"
#include "status.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* binary_cross_entropy_with_logits(x, y) in double, the form that does not overflow. */
static double bce_logits(double x, double y) { return fmax(x, 0.0) - x * y + log1p(exp(-fabs(x))); }

/* What the metrics and the dump read of one batch's slots: a run's values, or with sampling each
 * slot's best run's. Host arrays for B slots; logits only when the dump wants rows. */
typedef struct slot_results {
    int B, M, L, V;
    float *lm_loss, *q_halt; /* [B]; q_halt of the last segment */
    int32_t *count, *correct, *steps;
    uint8_t *seq_correct, *accepted;
    float *qh, *qc; /* [M, B] */
    int32_t *preds; /* [B, L] */
    float *logits;  /* [B, L, V] or NULL */
    uint8_t *pred8; /* [L] scratch for accept */
    void *arena;    /* one allocation */
} slot_results;

/* The bytes of a results arena for B slots (floats and int32s, then bytes), a multiple of 8. */
static size_t results_bytes(int B, int M, int L) {
    size_t b = (size_t)B, words = 2 * b + 2 * (size_t)M * b + 3 * b + b * (size_t)L;
    /* rounded up to 8 bytes: arenas are laid end to end when several processes gather them */
    return (words * 4 + 2 * b + (size_t)L + 7) / 8 * 8;
}

/* Points r's arrays into the arena at `base` (results_bytes long). */
static void results_layout(slot_results *r, void *base) {
    size_t b = (size_t)r->B;
    float *f = base;
    r->lm_loss = f, f += b;
    r->q_halt = f, f += b;
    r->qh = f, f += (size_t)r->M * b;
    r->qc = f, f += (size_t)r->M * b;
    int32_t *i = (int32_t *)f;
    r->count = i, i += b;
    r->correct = i, i += b;
    r->steps = i, i += b;
    r->preds = i, i += b * (size_t)r->L;
    uint8_t *u = (uint8_t *)i;
    r->seq_correct = u, u += b;
    r->accepted = u, u += b;
    r->pred8 = u;
}

static bool results_alloc(slot_results *r, int B, int M, int L, int V, bool logits) {
    memset(r, 0, sizeof *r);
    r->B = B, r->M = M, r->L = L, r->V = V;
    r->arena = malloc(results_bytes(B, M, L));
    if (logits && !(r->logits = malloc((size_t)B * (size_t)L * (size_t)V * sizeof *r->logits))) return false;
    if (!r->arena) return false;
    results_layout(r, r->arena);
    return true;
}

static void results_free(slot_results *r) {
    free(r->arena);
    free(r->logits);
}

/* Slot b of the act's last run (with its Q values qh, qc [M, a->B], predictions preds [a->B, L]
 * and, where kept, the device logits read into run_logits) into r's slot b. */
static void take_slot(slot_results *r, const hrm_act *a, int b, const float *qh, const float *qc, const int32_t *preds,
                      const float *run_logits, bool accepted) {
    size_t L = (size_t)r->L, LV = L * (size_t)r->V;
    r->lm_loss[b] = a->lm_loss[b];
    r->q_halt[b] = a->q_halt[b];
    r->count[b] = a->count[b];
    r->correct[b] = a->correct[b];
    r->steps[b] = a->steps[b];
    r->seq_correct[b] = a->seq_correct[b];
    r->accepted[b] = accepted;
    for (int s = 0; s < r->M; s++) {
        r->qh[(size_t)s * r->B + b] = qh[(size_t)s * a->B + b];
        r->qc[(size_t)s * r->B + b] = qc[(size_t)s * a->B + b];
    }
    memcpy(r->preds + b * L, preds + b * L, L * sizeof *r->preds);
    if (r->logits) memcpy(r->logits + b * LV, run_logits + b * LV, LV * sizeof *r->logits);
}

/* Adds the real slots [0, valid) to the sums. */
static void add_slots(const slot_results *r, int valid, hrm_eval_sums *s) {
    for (int b = 0; b < valid; b++) {
        s->examples++;
        s->lm_loss += r->lm_loss[b];
        s->q_halt_loss += bce_logits(r->q_halt[b], r->seq_correct[b]);
        if (r->count[b] <= 0) continue;
        s->count++;
        s->accuracy += (double)r->correct[b] / r->count[b];
        s->exact_accuracy += r->seq_correct[b];
        s->q_halt_accuracy += (r->q_halt[b] >= 0) == r->seq_correct[b];
        s->steps += r->steps[b];
    }
}

/* total += the sums of one batch (batch by batch, so that the total does not depend on how the
 * batches were spread over processes) */
static void add_sums(hrm_eval_sums *t, const hrm_eval_sums *s) {
    t->examples += s->examples;
    t->count += s->count;
    t->accuracy += s->accuracy;
    t->exact_accuracy += s->exact_accuracy;
    t->q_halt_accuracy += s->q_halt_accuracy;
    t->steps += s->steps;
    t->lm_loss += s->lm_loss;
    t->q_halt_loss += s->q_halt_loss;
}

/* Copies batch columns [0, valid) of the Q values into the dump at example `first`, and hands the
 * batch's logits and predictions to the dump's callbacks (pred8: B x seq_len scratch). */
static hrm_status dump_batch(const slot_results *r, const hrm_dataset *ds, int first, int valid, uint8_t *pred8,
                             hrm_eval_dump *d, char *err, size_t err_size) {
    size_t N = (size_t)ds->num_examples, L = (size_t)r->L;
    for (int s = 0; s < r->M; s++)
        for (int b = 0; b < valid; b++) {
            size_t at = (size_t)s * N + (size_t)(first + b), from = (size_t)s * (size_t)r->B + (size_t)b;
            if (d->q_halt) d->q_halt[at] = r->qh[from];
            if (d->q_continue) d->q_continue[at] = r->qc[from];
        }
    if (!d->rows && !d->predictions) return HRM_OK;
    for (size_t i = 0; i < (size_t)valid * L; i++) pred8[i] = (uint8_t)r->preds[i];
    if (d->predictions) {
        hrm_status st = d->predictions(d->user, first, valid, pred8, r->q_halt, err, err_size);
        if (st || !d->rows) return st;
    }
    return d->rows(d->user, first, valid, r->logits, pred8, err, err_size);
}

/* Several processes: what the processes exchange after each round of `size` batches (the last
 * round may be short; a process without a batch in it gives valid = 0 and zero sums). Every
 * process gets the round's sums, added in batch order; with a dump, rank 0 also gets every
 * batch's results (the arena of slot_results, and the logits where the dump wants rows) and
 * hands them to the dump in batch order, as one process would. */
typedef struct dist_round {
    hrm_eval_sums *sums; /* [size] */
    int32_t *where;      /* [size, 2]: first, valid */
    uint8_t *arenas;     /* [size, results_bytes] or NULL without a dump */
    float *logits;       /* [size, B, L, V] or NULL */
    size_t arena_bytes, logit_floats;
} dist_round;

static bool round_alloc(dist_round *x, const hrm_dist *d, const slot_results *res, bool dump) {
    memset(x, 0, sizeof *x);
    size_t n = (size_t)d->size;
    x->arena_bytes = results_bytes(res->B, res->M, res->L);
    x->logit_floats = res->logits ? (size_t)res->B * (size_t)res->L * (size_t)res->V : 0;
    x->sums = calloc(n, sizeof *x->sums);
    x->where = calloc(2 * n, sizeof *x->where);
    if (dump) x->arenas = malloc(n * x->arena_bytes);
    if (dump && x->logit_floats) x->logits = malloc(n * x->logit_floats * sizeof(float));
    return x->sums && x->where && (!dump || x->arenas) && (!dump || !x->logit_floats || x->logits);
}

static void round_free(dist_round *x) {
    free(x->sums);
    free(x->where);
    free(x->arenas);
    free(x->logits);
}

static hrm_status exchange_round(const hrm_dist *d, dist_round *x, const hrm_eval_sums *mine, const slot_results *res,
                                 int first, int valid, int in_round, const hrm_dataset *ds, uint8_t *pred8,
                                 hrm_eval_dump *dump, hrm_eval_sums *t, char *err, size_t err_size) {
    char why[256];
    int me = d->rank;
    int fail = d->allgather(d->user, mine, sizeof *mine, x->sums, why, sizeof why);
    if (!fail && x->arenas) {
        x->where[2 * me] = first, x->where[2 * me + 1] = valid;
        memcpy(x->arenas + (size_t)me * x->arena_bytes, res->arena, x->arena_bytes);
        if (x->logits) memcpy(x->logits + (size_t)me * x->logit_floats, res->logits, x->logit_floats * sizeof(float));
        fail = d->gather0(d->user, x->where, 2 * sizeof *x->where, why, sizeof why) ||
               d->gather0(d->user, x->arenas, x->arena_bytes, why, sizeof why) ||
               (x->logits && d->gather0(d->user, x->logits, x->logit_floats * sizeof(float), why, sizeof why));
    }
    if (fail) {
        snprintf(err, err_size, "evaluation: exchanging the results of %d processes: %s", d->size, why);
        return HRM_ERR_DEVICE;
    }
    for (int r = 0; r < in_round; r++) add_sums(t, &x->sums[r]);
    if (!x->arenas || me != 0) return HRM_OK;
    for (int r = 0; r < in_round; r++) {
        slot_results view = *res;
        results_layout(&view, x->arenas + (size_t)r * x->arena_bytes);
        view.logits = x->logits ? x->logits + (size_t)r * x->logit_floats : NULL;
        TRY(dump_batch(&view, ds, x->where[2 * r], x->where[2 * r + 1], pred8, dump, err, err_size));
    }
    return HRM_OK;
}

static void report(const hrm_eval_sums *s, int M, hrm_eval_report *r) {
    double n = (double)(s->count > 0 ? s->count : 1);
    *r = (hrm_eval_report){.examples = s->examples,
                           .count = s->count,
                           .segments = M,
                           .accuracy = s->accuracy / n,
                           .exact_accuracy = s->exact_accuracy / n,
                           .q_halt_accuracy = s->q_halt_accuracy / n,
                           .steps = s->steps / n,
                           .lm_loss = s->lm_loss / n,
                           .q_halt_loss = s->q_halt_loss / n};
    r->loss = r->lm_loss + 0.5 * r->q_halt_loss;
}

/* The stream of run k of batch j: splitmix-style spreading, so that nearby (j, k) do not share
 * draws. */
static uint64_t run_seed(uint64_t seed, int64_t batch, int k) {
    uint64_t x = seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(batch + 1)) ^ (0xbf58476d1ce4e5b9ull * (uint64_t)k);
    return x ^ (x >> 31);
}

/* Runs one batch `samples` times and keeps each real slot's best run in res. */
static hrm_status run_batch(hrm_act *a, const hrm_act_batch *ab, int first, int valid, int M,
                            const hrm_eval_sampling *smp, int64_t batch_no, slot_results *res, float *qh, float *qc,
                            int32_t *preds, float *run_logits, char *err, size_t err_size) {
    int K = smp && smp->noise > 0 ? smp->samples : 1;
    size_t L = (size_t)res->L;
    hrm_ops ops = {a->ctx, err, err_size};
    for (int k = 0; k < K; k++) {
        if (K > 1 && hrm_model_set_noise(a->model, k ? smp->noise : 0.0f, run_seed(smp->seed, batch_no, k))) {
            snprintf(err, err_size, "%s", hrm_model_error(a->model));
            return HRM_ERR_INVALID_ARG;
        }
        hrm_status st = hrm_act_eval_batch(a, ab, M, qh, qc, preds, NULL);
        if (st) {
            snprintf(err, err_size, "%s", hrm_act_error(a));
            return st;
        }
        if (run_logits)
            TRY(op_read(&ops, hrm_model_logits(a->model), run_logits, (size_t)a->B * L * (size_t)res->V,
                        "reading the logits"));
        for (int b = 0; b < valid; b++) {
            bool ok = false;
            if (K > 1 && smp->accept) {
                for (size_t i = 0; i < L; i++) res->pred8[i] = (uint8_t)preds[(size_t)b * L + i];
                ok = smp->accept(smp->user, first + b, res->pred8);
            }
            /* accepted beats rejected; then the higher q_halt; ties keep the earlier run */
            if (k > 0 && (res->accepted[b] > ok || (res->accepted[b] == ok && !(a->q_halt[b] > res->q_halt[b]))))
                continue;
            take_slot(res, a, b, qh, qc, preds, run_logits, ok);
        }
    }
    if (K > 1 && hrm_model_set_noise(a->model, 0, 0)) {
        snprintf(err, err_size, "%s", hrm_model_error(a->model));
        return HRM_ERR_INVALID_ARG;
    }
    return HRM_OK;
}

hrm_status hrm_evaluate(hrm_act *a, const hrm_dataset *ds, int M, const hrm_eval_sampling *sampling,
                        hrm_eval_dump *dump, hrm_eval_report *out, char *err, size_t err_size) {
    if (M <= 0) M = hrm_model_config(a->model)->halt_max_steps;
    size_t B = (size_t)a->B, L = (size_t)ds->meta.seq_len, V = (size_t)ds->meta.vocab_size;
    bool rows = dump && (dump->rows || dump->predictions), want_logits = dump && dump->rows;
    if (rows && ds->meta.vocab_size > 256) {
        snprintf(err, err_size, "predictions are uint8 but vocab_size is %d", ds->meta.vocab_size);
        return HRM_ERR_INVALID_ARG;
    }
    if (sampling && (sampling->samples < 1 || !(sampling->noise >= 0) || !isfinite(sampling->noise))) {
        snprintf(err, err_size, "evaluation: samples %d, noise %g", sampling->samples, (double)sampling->noise);
        return HRM_ERR_INVALID_ARG;
    }
    hrm_batch batch = {0};
    slot_results res;
    bool res_ok = results_alloc(&res, a->B, M, (int)L, (int)V, want_logits);
    int32_t *inputs = malloc(B * L * sizeof *inputs), *labels = malloc(B * L * sizeof *labels),
            *preds = malloc(B * L * sizeof *preds);
    float *qh = malloc((size_t)M * B * sizeof *qh), *qc = malloc((size_t)M * B * sizeof *qc);
    float *lg = want_logits ? malloc(B * L * V * sizeof *lg) : NULL;
    uint8_t *pred8 = rows ? malloc(B * L) : NULL;
    hrm_status st = hrm_batch_alloc(&batch, a->B);
    if (!st && (!res_ok || !inputs || !labels || !preds || !qh || !qc || (rows && !pred8) || (want_logits && !lg)))
        st = HRM_ERR_OUT_OF_MEMORY;
    if (st) snprintf(err, err_size, "evaluation: out of host memory");
    /* several processes (act.h hrm_dist): batch j runs on process j mod size; after every round
     * of size batches the sums, and with a dump the results for rank 0's dump (exchange_round) */
    const hrm_dist *d = a->dist;
    dist_round x = {0};
    if (!st && d && !round_alloc(&x, d, &res, dump != NULL))
        st = HRM_ERR_OUT_OF_MEMORY, snprintf(err, err_size, "evaluation: out of host memory");
    hrm_eval_sums sums = {0}, mine = {0}; /* mine: this process's batch of the round in progress */
    int mine_first = 0, mine_valid = 0;
    hrm_eval_iter it;
    hrm_eval_iter_init(&it, ds);
    for (int64_t batch_no = 0; !st && hrm_eval_iter_next(&it, &batch); batch_no++) {
        int first = it.next - batch.valid, slot = d ? (int)(batch_no % d->size) : 0;
        bool last = it.next >= ds->num_examples;
        hrm_eval_sums bs = {0};
        if (!d || slot == d->rank) {
            hrm_batch_gather(ds, &batch, HRM_IGNORE_LABEL, inputs, labels);
            hrm_act_batch ab = {inputs, labels, batch.identifier};
            st = run_batch(a, &ab, first, batch.valid, M, sampling, batch_no, &res, qh, qc, preds, lg, err, err_size);
            if (st) break;
            add_slots(&res, batch.valid, &bs);
            mine = bs, mine_first = first, mine_valid = batch.valid;
            if (dump && !d) st = dump_batch(&res, ds, first, batch.valid, pred8, dump, err, err_size);
        }
        if (!d) {
            add_sums(&sums, &bs);
        } else if (!st && (slot == d->size - 1 || last)) {
            st = exchange_round(d, &x, &mine, &res, mine_first, mine_valid, slot + 1, ds, pred8, dump, &sums, err,
                                err_size);
            mine = (hrm_eval_sums){0}, mine_first = mine_valid = 0;
        }
    }
    round_free(&x);
    if (!st) report(&sums, M, out);
    hrm_batch_free(&batch);
    results_free(&res);
    free(inputs);
    free(labels);
    free(preds);
    free(qh);
    free(qc);
    free(lg);
    free(pred8);
    return st;
}
