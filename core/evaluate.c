/* core/evaluate.c - a dataset split through hrm_act_eval_batch (evaluate.h). */
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

/* Adds the real slots [0, valid) of the last segment to the sums. */
static void add_slots(const hrm_act *a, int valid, hrm_eval_sums *s) {
    for (int b = 0; b < valid; b++) {
        s->examples++;
        s->lm_loss += a->lm_loss[b];
        s->q_halt_loss += bce_logits(a->q_halt[b], a->seq_correct[b]);
        if (a->count[b] <= 0) continue;
        s->count++;
        s->accuracy += (double)a->correct[b] / a->count[b];
        s->exact_accuracy += a->seq_correct[b];
        s->q_halt_accuracy += (a->q_halt[b] >= 0) == a->seq_correct[b];
        s->steps += a->steps[b];
    }
}

/* Copies batch columns [0, valid) of the Q values into the dump at example `first`, and hands the
 * batch's logits and predictions to dump->rows (lg: B x seq_len x vocab floats, pred8: B x seq_len). */
static hrm_status dump_batch(hrm_act *a, const hrm_dataset *ds, int first, int valid, int M, const float *qh,
                             const float *qc, const int32_t *preds, float *lg, uint8_t *pred8, hrm_eval_dump *d,
                             char *err, size_t err_size) {
    size_t N = (size_t)ds->num_examples, L = (size_t)ds->meta.seq_len, V = (size_t)ds->meta.vocab_size;
    for (int s = 0; s < M; s++)
        for (int b = 0; b < valid; b++) {
            if (d->q_halt) d->q_halt[(size_t)s * N + (size_t)(first + b)] = qh[(size_t)s * (size_t)a->B + (size_t)b];
            if (d->q_continue)
                d->q_continue[(size_t)s * N + (size_t)(first + b)] = qc[(size_t)s * (size_t)a->B + (size_t)b];
        }
    if (!d->rows && !d->predictions) return HRM_OK;
    for (size_t i = 0; i < (size_t)valid * L; i++) pred8[i] = (uint8_t)preds[i];
    if (d->predictions) {
        hrm_status st =
            d->predictions(d->user, first, valid, pred8, qh + (size_t)(M - 1) * (size_t)a->B, err, err_size);
        if (st || !d->rows) return st;
    }
    hrm_ptr p = hrm_model_logits(a->model);
    hrm_ops ops = {a->ctx, err, err_size};
    TRY(op_read(&ops, p, lg, (size_t)valid * L * V, "reading the logits"));
    return d->rows(d->user, first, valid, lg, pred8, err, err_size);
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

hrm_status hrm_evaluate(hrm_act *a, const hrm_dataset *ds, int M, hrm_eval_dump *dump, hrm_eval_report *out, char *err,
                        size_t err_size) {
    if (M <= 0) M = hrm_model_config(a->model)->halt_max_steps;
    size_t B = (size_t)a->B, L = (size_t)ds->meta.seq_len;
    bool rows = dump && (dump->rows || dump->predictions);
    if (rows && ds->meta.vocab_size > 256) {
        snprintf(err, err_size, "predictions are uint8 but vocab_size is %d", ds->meta.vocab_size);
        return HRM_ERR_INVALID_ARG;
    }
    hrm_batch batch = {0};
    int32_t *inputs = malloc(B * L * sizeof *inputs), *labels = malloc(B * L * sizeof *labels),
            *preds = malloc(B * L * sizeof *preds);
    float *qh = malloc((size_t)M * B * sizeof *qh), *qc = malloc((size_t)M * B * sizeof *qc);
    float *lg = dump && dump->rows ? malloc(B * L * (size_t)ds->meta.vocab_size * sizeof *lg) : NULL;
    uint8_t *pred8 = rows ? malloc(B * L) : NULL;
    hrm_status st = hrm_batch_alloc(&batch, a->B);
    if (!st && (!inputs || !labels || !preds || !qh || !qc || (rows && !pred8) || (dump && dump->rows && !lg)))
        st = HRM_ERR_OUT_OF_MEMORY;
    if (st) snprintf(err, err_size, "evaluation: out of host memory");
    hrm_eval_sums sums = {0};
    hrm_eval_iter it;
    hrm_eval_iter_init(&it, ds);
    while (!st && hrm_eval_iter_next(&it, &batch)) {
        int first = it.next - batch.valid;
        hrm_batch_gather(ds, &batch, HRM_IGNORE_LABEL, inputs, labels);
        hrm_act_batch ab = {inputs, labels, batch.identifier};
        st = hrm_act_eval_batch(a, &ab, M, qh, qc, preds, NULL);
        if (st) {
            snprintf(err, err_size, "%s", hrm_act_error(a));
            break;
        }
        add_slots(a, batch.valid, &sums);
        if (dump) st = dump_batch(a, ds, first, batch.valid, M, qh, qc, preds, lg, pred8, dump, err, err_size);
    }
    if (!st) report(&sums, M, out);
    hrm_batch_free(&batch);
    free(inputs);
    free(labels);
    free(preds);
    free(qh);
    free(qc);
    free(lg);
    free(pred8);
    return st;
}
