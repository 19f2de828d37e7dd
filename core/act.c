/* core/act.c - ACT training steps and evaluation (act.h), following the published hrm_act_v1.py
 * (the carry and halting), losses.py (ACTLossHead) and pretrain.py (one optimizer step per
 * segment; the optimizers and their schedule are optim.c's), as reference/hrm_ref.py restates
 * them. */
#include "act.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "optim.h"
#include "status.h"

/* ---- errors and device helpers ----------------------------------------------------------------- */

static hrm_status act_failf(hrm_act *a, hrm_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->err, sizeof a->err, fmt, ap);
    va_end(ap);
    return st;
}

const char *hrm_act_error(const hrm_act *a) { return a->err; }

/* A model call's status; on failure the model's error line becomes ours. */
static hrm_status model_call(hrm_act *a, hrm_status st) {
    return st == HRM_OK ? st : act_failf(a, st, "%s", hrm_model_error(a->model));
}

static hrm_status upload(hrm_act *a, hrm_ptr dst, const void *src, size_t n) {
    return op_write(&a->ops, dst, src, n, "act: uploading");
}

static hrm_status download(hrm_act *a, hrm_ptr src, void *dst, size_t n) {
    return op_read(&a->ops, src, dst, n, "act: downloading");
}

static int seq_len(const hrm_act *a) { return hrm_model_config(a->model)->seq_len; }

static size_t carry_floats(const hrm_act *a) {
    const hrm_config *c = hrm_model_config(a->model);
    return (size_t)a->B * (size_t)hrm_config_full_seq(c) * (size_t)c->hidden_size;
}

static size_t adam_floats(const hrm_act *a) { return (size_t)hrm_model_params_table(a->model)->adam_total; }

static hrm_ptr ptr_plus(hrm_ptr p, size_t n) {
    p.off += n;
    return p;
}

/* The EMA [adam_total] after Adam's m and v, then one float holding 1 */
static hrm_ptr ema_ptr(const hrm_act *a) { return (hrm_ptr){a->adam, 2 * adam_floats(a)}; }

/* ---- creation -------------------------------------------------------------------------------- */

static hrm_status alloc_host(hrm_act *a) {
    size_t B = (size_t)a->B, L = (size_t)seq_len(a);
    a->steps = calloc(B, sizeof *a->steps);
    a->halted = calloc(B, 1);
    a->inputs = calloc(B * L, sizeof *a->inputs);
    a->labels = calloc(B * L, sizeof *a->labels);
    a->puzzle_ids = calloc(B, sizeof *a->puzzle_ids);
    a->q_halt = calloc(B, sizeof *a->q_halt);
    a->q_continue = calloc(B, sizeof *a->q_continue);
    a->target_q_continue = calloc(B, sizeof *a->target_q_continue);
    a->seq_correct = calloc(B, 1);
    a->count = calloc(B, sizeof *a->count);
    a->correct = calloc(B, sizeof *a->correct);
    a->lm_loss = calloc(B, sizeof *a->lm_loss);
    a->work_flags = calloc(2 * B, 1);
    a->work = calloc(4 * B, sizeof *a->work);
    if (!a->work_flags || !a->work || !a->steps || !a->halted || !a->inputs || !a->labels || !a->puzzle_ids ||
        !a->q_halt || !a->q_continue || !a->target_q_continue || !a->seq_correct || !a->count || !a->correct ||
        !a->lm_loss)
        return act_failf(a, HRM_ERR_OUT_OF_MEMORY, "act: out of host memory for %d slots", a->B);
    memset(a->halted, 1, B);
    return HRM_OK;
}

/* One device buffer: zH, zL [B, S, D], inputs, labels [B, L], puzzle ids [B]; and Adam m, v. */
static hrm_status alloc_device(hrm_act *a) {
    size_t cn = carry_floats(a), BL = (size_t)a->B * (size_t)seq_len(a), n = 2 * cn + 2 * BL + (size_t)a->B;
    TRY(op_alloc(&a->ops, n, &a->buf, "act: allocating the carry"));
    a->carry.zH = (hrm_ptr){a->buf, 0};
    a->carry.zL = (hrm_ptr){a->buf, cn};
    a->d_inputs = (hrm_ptr){a->buf, 2 * cn};
    a->d_labels = (hrm_ptr){a->buf, 2 * cn + BL};
    a->d_puzzle_ids = (hrm_ptr){a->buf, 2 * cn + 2 * BL};
    /* every slot restarts at its first segment; zeros only keep the contents defined */
    TRY(op_fill(&a->ops, (hrm_ptr){a->buf, 0}, n, 0.0f, "act: clearing the carry"));
    if (!a->training) return HRM_OK;
    size_t an = adam_floats(a);
    bool ema = a->settings.ema;
    TRY(op_alloc(&a->ops, (ema ? 3 : 2) * an + ema, &a->adam, "act: allocating the AdamATan2 moments"));
    TRY(op_fill(&a->ops, (hrm_ptr){a->adam, 0}, 2 * an, 0.0f, "act: clearing the AdamATan2 moments"));
    if (!ema) return HRM_OK;
    /* ema.py register: the weights as they are now (initialised or loaded) */
    TRY(op_copy(&a->ops, ema_ptr(a), hrm_model_params(a->model), an, "act: registering the EMA"));
    TRY(op_fill(&a->ops, ptr_plus(ema_ptr(a), an), 1, 1.0f, "act: the EMA's 1"));
    return HRM_OK;
}

static hrm_status check_settings(hrm_act *a, const hrm_train_settings *s) {
    if (s->global_batch_size < 1) return act_failf(a, HRM_ERR_INVALID_ARG, "act: global_batch_size must be >= 1");
    if (s->loss_type != HRM_LOSS_STABLEMAX && s->loss_type != HRM_LOSS_SOFTMAX)
        return act_failf(a, HRM_ERR_INVALID_ARG, "act: unknown loss_type %d", (int)s->loss_type);
    if (!(s->beta1 >= 0 && s->beta1 < 1 && s->beta2 >= 0 && s->beta2 < 1))
        return act_failf(a, HRM_ERR_INVALID_ARG, "act: beta1 and beta2 must lie in [0, 1)");
    if (!(s->ema_rate >= 0 && s->ema_rate <= 1))
        return act_failf(a, HRM_ERR_INVALID_ARG, "act: ema_rate outside [0, 1]");
    return HRM_OK;
}

hrm_status hrm_act_create(hrm_ctx *ctx, hrm_model *model, int B, const hrm_train_settings *settings, bool training,
                          hrm_act **out, char *err, size_t err_size) {
    *out = NULL;
    hrm_act *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, err_size, "act: out of host memory");
        return HRM_ERR_OUT_OF_MEMORY;
    }
    a->ctx = ctx;
    a->ops = (hrm_ops){ctx, a->err, sizeof a->err};
    a->model = model;
    a->B = B;
    a->global_B = B;
    a->training = training;
    a->settings = settings ? *settings : hrm_train_settings_default();
    hrm_rng_seed(&a->rng, a->settings.seed);
    hrm_status st = HRM_OK;
    if (B < 1 || B > hrm_model_max_batch(model))
        st = act_failf(a, HRM_ERR_INVALID_ARG, "act: batch %d outside [1, %d] (the model's max batch)", B,
                       hrm_model_max_batch(model));
    if (st == HRM_OK && training) st = check_settings(a, &a->settings);
    if (st == HRM_OK) st = alloc_host(a);
    if (st == HRM_OK) st = alloc_device(a);
    if (st != HRM_OK) {
        snprintf(err, err_size, "%s", a->err);
        hrm_act_free(a);
        return st;
    }
    *out = a;
    return HRM_OK;
}

void hrm_act_free(hrm_act *a) {
    if (!a) return;
    op_free(&a->ops, a->buf);
    op_free(&a->ops, a->adam);
    free(a->steps);
    free(a->halted);
    free(a->inputs);
    free(a->labels);
    free(a->puzzle_ids);
    free(a->q_halt);
    free(a->q_continue);
    free(a->target_q_continue);
    free(a->seq_correct);
    free(a->count);
    free(a->correct);
    free(a->lm_loss);
    free(a->work_flags);
    free(a->work);
    free(a->host_grads);
    if (a->dist_buf) op_free(&a->ops, a->dist_buf);
    free(a);
}

/* ---- one segment's pieces ------------------------------------------------------------------------ */

/* Step 1: slots with reset[b] take the batch's example b and restart; then the slots' examples
 * go to the device (all of them: a resumed state may have changed any). */
static hrm_status take_examples(hrm_act *a, const hrm_act_batch *batch, const uint8_t *reset) {
    size_t L = (size_t)seq_len(a);
    for (int b = 0; b < a->B; b++) {
        if (!reset[b]) continue;
        memcpy(a->inputs + b * L, batch->inputs + b * L, L * sizeof *a->inputs);
        memcpy(a->labels + b * L, batch->labels + b * L, L * sizeof *a->labels);
        a->puzzle_ids[b] = batch->puzzle_ids[b];
        a->steps[b] = 0;
    }
    TRY(model_call(a, hrm_model_reset_slots(a->model, a->B, a->carry, reset)));
    TRY(upload(a, a->d_inputs, a->inputs, (size_t)a->B * L));
    TRY(upload(a, a->d_labels, a->labels, (size_t)a->B * L));
    return upload(a, a->d_puzzle_ids, a->puzzle_ids, (size_t)a->B);
}

/* Step 3 of training: halting with exploration (hrm_act_v1.py); is_last [B] for the target. Both
 * draws are made for every slot at every segment, as published, so that the stream of random
 * numbers does not depend on the Q values. */
static void training_halt(hrm_act *a, uint8_t *is_last) {
    const hrm_config *c = hrm_model_config(a->model);
    /* with several processes every one draws for the global batch's slots and keeps its own */
    for (int g = 0; g < a->global_B; g++) {
        int b = g - a->offset;
        bool mine = b >= 0 && b < a->B;
        if (mine) {
            is_last[b] = a->steps[b] >= c->halt_max_steps;
            a->halted[b] = is_last[b];
        }
        if (c->halt_max_steps <= 1) continue;
        double u = hrm_rng_uniform(&a->rng);
        int32_t draw = (int32_t)(2 + hrm_rng_below(&a->rng, c->halt_max_steps - 1));
        if (!mine) continue;
        int32_t min_steps = u < c->halt_exploration_prob ? draw : 0;
        bool halt = hrm_act_q_halts(c, a->q_halt[b], a->q_continue[b]);
        a->halted[b] = (uint8_t)((a->halted[b] || halt) && a->steps[b] >= min_steps);
    }
}

/* target_q_continue = sigmoid(is_last ? q_halt' : max(q_halt', q_continue')), from a Q_ONLY
 * forward from the new carry (no gradient, no replay buffer, no target network). */
static hrm_status q_target(hrm_act *a, const uint8_t *is_last) {
    float *nh = a->target_q_continue, *nc = a->work; /* nh becomes the target below */
    hrm_carry discard = {{0}, {0}};
    TRY(model_call(a, hrm_model_forward(a->model, HRM_FORWARD_Q_ONLY, a->B, a->d_inputs, a->d_puzzle_ids, a->carry,
                                        discard, nh, nc)));
    for (int b = 0; b < a->B; b++) {
        float x = is_last[b] ? nh[b] : fmaxf(nh[b], nc[b]);
        nh[b] = (float)(1.0 / (1.0 + exp(-(double)x)));
    }
    return HRM_OK;
}

/* Step 4: per-sequence LM loss, seq_correct, the Q losses (d_q when d_q != NULL) and the metric
 * sums over the slots halted now with a valid label (losses.py ACTLossHead). */
static hrm_status segment_loss(hrm_act *a, bool with_target, int32_t *preds, float grad_scale, float *d_q,
                               hrm_act_metrics *out) {
    int B = a->B;
    hrm_loss_kind kind = a->settings.loss_type;
    TRY(model_call(a, hrm_model_lm_loss_forward(a->model, a->d_labels, kind, HRM_IGNORE_LABEL, a->lm_loss, a->count,
                                                a->correct, preds)));
    float *target_halt = a->work + B;
    hrm_act_metrics mt = {0};
    for (int b = 0; b < B; b++) {
        a->seq_correct[b] = a->correct[b] == a->count[b]; /* true for a sequence with no valid label */
        target_halt[b] = a->seq_correct[b];
        mt.lm_loss += a->lm_loss[b];
        if (!a->halted[b] || a->count[b] <= 0) continue;
        mt.count++;
        mt.accuracy += (double)a->correct[b] / a->count[b];
        mt.exact_accuracy += a->seq_correct[b];
        mt.q_halt_accuracy += (a->q_halt[b] >= 0) == a->seq_correct[b];
        mt.steps += a->steps[b];
    }
    hrm_q_loss(B, a->q_halt, a->q_continue, target_halt, with_target ? a->target_q_continue : NULL, grad_scale,
               &mt.q_halt_loss, &mt.q_continue_loss, d_q);
    mt.loss = mt.lm_loss + 0.5 * (mt.q_halt_loss + mt.q_continue_loss);
    if (out) *out = mt;
    return HRM_OK;
}

/* ---- training -------------------------------------------------------------------------------- */

hrm_status hrm_act_train_segment(hrm_act *a, const hrm_act_batch *batch, hrm_act_metrics *metrics) {
    if (!a->training) return act_failf(a, HRM_ERR_INVALID_ARG, "act: train_segment on an evaluation-only state");
    const hrm_config *c = hrm_model_config(a->model);
    int B = a->B;
    uint8_t *reset = a->work_flags, *is_last = a->work_flags + B;
    memcpy(reset, a->halted, (size_t)B);
    TRY(take_examples(a, batch, reset));

    TRY(model_call(a, hrm_model_zero_grads(a->model)));
    TRY(model_call(a, hrm_model_forward(a->model, HRM_FORWARD_TRAIN, B, a->d_inputs, a->d_puzzle_ids, a->carry,
                                        a->carry, a->q_halt, a->q_continue)));
    for (int b = 0; b < B; b++) a->steps[b]++;
    training_halt(a, is_last);
    bool with_target = c->halt_max_steps > 1 && !c->no_ACT_continue;
    if (with_target) TRY(q_target(a, is_last));

    float grad_scale = (float)(1.0 / a->settings.global_batch_size), *d_q = a->work + 2 * B;
    TRY(segment_loss(a, with_target, NULL, grad_scale, d_q, metrics));
    TRY(model_call(
        a, hrm_model_lm_loss_backward(a->model, a->d_labels, a->settings.loss_type, HRM_IGNORE_LABEL, grad_scale)));
    TRY(model_call(a, hrm_model_backward(a->model, d_q)));
    return HRM_OK;
}

/* models/ema.py update: ema = (1 - mu) w + mu ema, with the scalars in fp32 as torch multiplies
 * a float tensor by them. As one matmul of k = 1: ema [an, 1] = (1 - mu) w [an, 1] x 1 + mu ema
 * (a backend may fuse the two products' sum: one rounding fewer than the published code). */
static hrm_status ema_update(hrm_act *a) {
    size_t an = adam_floats(a);
    float mu = (float)a->settings.ema_rate;
    hrm_matmul_args mm = {.m = (int)an,
                          .n = 1,
                          .k = 1,
                          .alpha = (float)(1.0 - a->settings.ema_rate),
                          .beta = mu,
                          .a = hrm_model_params(a->model),
                          .lda = 1,
                          .b = ptr_plus(ema_ptr(a), an),
                          .ldb = 1,
                          .c = ema_ptr(a),
                          .ldc = 1,
                          .batch = 1};
    return op_matmul(&a->ops, &mm, HRM_PRECISION_HIGHEST, "act: EMA update (matmul)");
}

/* ---- data parallelism ------------------------------------------------------------------------ */

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

hrm_status hrm_act_set_dist(hrm_act *a, const hrm_dist *d) {
    if (!d || d->size <= 1) {
        a->dist = NULL;
        a->global_B = a->B;
        a->offset = 0;
        return HRM_OK;
    }
    if (d->rank < 0 || d->rank >= d->size || !d->allreduce_f32 || !d->allreduce_f64 || !d->allgather || !d->gather0)
        return act_failf(a, HRM_ERR_INVALID_ARG, "act: bad process group (rank %d of %d)", d->rank, d->size);
    if ((int64_t)a->B * d->size > 1 << 30)
        return act_failf(a, HRM_ERR_INVALID_ARG, "act: %d slots x %d processes is too many", a->B, d->size);
    a->dist = d;
    a->global_B = a->B * d->size;
    a->offset = a->B * d->rank;
    if (!a->training || a->host_grads) return HRM_OK;
    const hrm_config *c = hrm_model_config(a->model);
    size_t G = (size_t)a->global_B, P = (size_t)c->puzzle_emb_ndim, B = (size_t)a->B;
    /* host: the gradients [adam_total], then the puzzle rows: local ids [B] and rows [B, P], the
     * gathered ids [G] and rows [G, P] */
    size_t n = adam_floats(a) + (B + G) * (1 + P);
    if (!(a->host_grads = malloc(n * sizeof(float))))
        return act_failf(a, HRM_ERR_OUT_OF_MEMORY, "act: out of host memory for the gradient exchange");
    if (P > 0) TRY(op_alloc(&a->ops, G * (1 + P), &a->dist_buf, "act: allocating the gathered puzzle rows"));
    return HRM_OK;
}

static hrm_status dist_fail(hrm_act *a, const char *what, const char *why) {
    return act_failf(a, HRM_ERR_DEVICE, "act: %s across %d processes: %s", what, a->dist->size, why);
}

/* Before the optimizer: the gradients summed over the processes, and every process's puzzle
 * ids and rows gathered into dist_buf (ids [global_B], then rows [global_B, P]). */
static hrm_status exchange_grads(hrm_act *a) {
    const hrm_dist *d = a->dist;
    const hrm_config *c = hrm_model_config(a->model);
    size_t an = adam_floats(a), B = (size_t)a->B, G = (size_t)a->global_B, P = (size_t)c->puzzle_emb_ndim;
    char why[256];
    double t0 = now_s();
    float *g = a->host_grads, *ids = g + an, *rows = ids + B, *all_ids = rows + B * P, *all_rows = all_ids + G;
    TRY(download(a, hrm_model_grads(a->model), g, an));
    if (P > 0) {
        TRY(download(a, a->d_puzzle_ids, ids, B));
        TRY(download(a, hrm_model_puzzle_grads(a->model), rows, B * P));
    }
    double t1 = now_s();
    if (d->allreduce_f32(d->user, g, an, why, sizeof why)) return dist_fail(a, "summing the gradients", why);
    if (P > 0 && (d->allgather(d->user, ids, B * sizeof(float), all_ids, why, sizeof why) ||
                  d->allgather(d->user, rows, B * P * sizeof(float), all_rows, why, sizeof why)))
        return dist_fail(a, "gathering the puzzle-embedding rows", why);
    double t2 = now_s();
    TRY(upload(a, hrm_model_grads(a->model), g, an));
    if (P > 0) TRY(upload(a, (hrm_ptr){a->dist_buf, 0}, all_ids, G * (1 + P)));
    a->times.transfer += (t1 - t0) + (now_s() - t2);
    a->times.allreduce += t2 - t1;
    return HRM_OK;
}

hrm_status hrm_act_optimizer_step(hrm_act *a) {
    if (!a->training) return act_failf(a, HRM_ERR_INVALID_ARG, "act: optimizer_step on an evaluation-only state");
    if (a->dist) TRY(exchange_grads(a));
    TRY(hrm_optim_step(a));
    return a->settings.ema ? ema_update(a) : HRM_OK;
}

hrm_status hrm_act_train_step(hrm_act *a, const hrm_act_batch *batch, hrm_act_metrics *metrics) {
    TRY(hrm_act_train_segment(a, batch, metrics));
    return hrm_act_optimizer_step(a);
}

/* ---- evaluation ---------------------------------------------------------------------------- */

hrm_status hrm_act_eval_segment(hrm_act *a, const hrm_act_batch *batch, int segment, int M, int32_t *preds,
                                hrm_act_metrics *metrics) {
    int B = a->B;
    if (segment < 0 || segment >= M)
        return act_failf(a, HRM_ERR_INVALID_ARG, "act: eval segment %d outside [0, %d)", segment, M);
    if (segment == 0) {
        memset(a->work_flags, 1, (size_t)B);
        TRY(take_examples(a, batch, a->work_flags));
    }
    TRY(model_call(a, hrm_model_forward(a->model, HRM_FORWARD_EVAL, B, a->d_inputs, a->d_puzzle_ids, a->carry, a->carry,
                                        a->q_halt, a->q_continue)));
    for (int b = 0; b < B; b++) {
        a->steps[b]++;
        a->halted[b] = a->steps[b] >= M;
    }
    return segment_loss(a, false, preds, 1.0f, NULL, metrics);
}

hrm_status hrm_act_eval_batch(hrm_act *a, const hrm_act_batch *batch, int M, float *q_halt, float *q_continue,
                              int32_t *preds, hrm_act_metrics *metrics) {
    if (M <= 0) M = hrm_model_config(a->model)->halt_max_steps;
    for (int s = 0; s < M; s++) {
        TRY(hrm_act_eval_segment(a, batch, s, M, s == M - 1 ? preds : NULL, s == M - 1 ? metrics : NULL));
        if (q_halt) memcpy(q_halt + (size_t)s * a->B, a->q_halt, (size_t)a->B * sizeof *q_halt);
        if (q_continue) memcpy(q_continue + (size_t)s * a->B, a->q_continue, (size_t)a->B * sizeof *q_continue);
    }
    return HRM_OK;
}

/* ---- state for checkpoints ------------------------------------------------------------------ */

hrm_status hrm_act_get_optimizer(hrm_act *a, float *m, float *v, int64_t *step) {
    if (!a->training) return act_failf(a, HRM_ERR_INVALID_ARG, "act: no optimizer in an evaluation-only state");
    size_t an = adam_floats(a);
    if (m) TRY(download(a, (hrm_ptr){a->adam, 0}, m, an));
    if (v) TRY(download(a, (hrm_ptr){a->adam, an}, v, an));
    if (step) *step = a->step;
    return HRM_OK;
}

hrm_status hrm_act_set_optimizer(hrm_act *a, const float *m, const float *v, int64_t step) {
    if (!a->training) return act_failf(a, HRM_ERR_INVALID_ARG, "act: no optimizer in an evaluation-only state");
    if (step < 0) return act_failf(a, HRM_ERR_INVALID_ARG, "act: optimizer step %lld < 0", (long long)step);
    size_t an = adam_floats(a);
    TRY(upload(a, (hrm_ptr){a->adam, 0}, m, an));
    TRY(upload(a, (hrm_ptr){a->adam, an}, v, an));
    a->step = step;
    return HRM_OK;
}

static hrm_status check_ema(hrm_act *a) {
    if (!a->training || !a->settings.ema) return act_failf(a, HRM_ERR_INVALID_ARG, "act: this state keeps no EMA");
    return HRM_OK;
}

hrm_status hrm_act_get_ema(hrm_act *a, float *ema) {
    TRY(check_ema(a));
    return download(a, ema_ptr(a), ema, adam_floats(a));
}

hrm_status hrm_act_set_ema(hrm_act *a, const float *ema) {
    TRY(check_ema(a));
    return upload(a, ema_ptr(a), ema, adam_floats(a));
}

hrm_status hrm_act_ema_swap(hrm_act *a) {
    TRY(check_ema(a));
    size_t an = adam_floats(a);
    hrm_ptr w = hrm_model_params(a->model), tmp = hrm_model_grads(a->model);
    TRY(op_copy(&a->ops, tmp, w, an, "act: EMA swap"));
    TRY(op_copy(&a->ops, w, ema_ptr(a), an, "act: EMA swap"));
    return op_copy(&a->ops, ema_ptr(a), tmp, an, "act: EMA swap");
}

hrm_status hrm_act_get_carry(hrm_act *a, float *zH, float *zL) {
    TRY(download(a, a->carry.zH, zH, carry_floats(a)));
    return download(a, a->carry.zL, zL, carry_floats(a));
}

hrm_status hrm_act_set_carry(hrm_act *a, const float *zH, const float *zL) {
    TRY(upload(a, a->carry.zH, zH, carry_floats(a)));
    return upload(a, a->carry.zL, zL, carry_floats(a));
}
