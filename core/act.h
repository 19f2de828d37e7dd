/* core/act.h - adaptive computation time (docs/MODEL.md "ACT halting", "Losses", "Deep supervision"): the state of
 * a batch of B slots across segments, one training step (one segment + one optimizer step, as the
 * published pretrain.py runs it) and the evaluation of a batch over M segments. The optimizers and
 * the published learning-rate schedule are optim.h's; the optimizer's state lives here.
 *
 * A training step (hrm_act_train_step = hrm_act_train_segment + hrm_act_optimizer_step):
 *   1. halted slots take the new batch's example at their position, restart from H_init /
 *      L_init, steps = 0;
 *   2. TRAIN forward, the carry updated in place;
 *   3. steps += 1; is_last = steps >= halt_max_steps; halted = is_last, and when
 *      halt_max_steps > 1: halted |= q_halt > q_continue (q_halt > 0 with TRM's no_ACT_continue,
 *      which has no target, no second forward and no q_continue loss); exploration (each slot draws
 *      u < halt_exploration_prob -> min_steps uniform in {2..halt_max_steps}, else 0; drawn every
 *      segment) halted &= steps >= min_steps; a Q_ONLY forward from the new carry gives
 *      target_q_continue = sigmoid(is_last ? q_halt' : max(q_halt', q_continue'));
 *   4. LM loss (per sequence) -> seq_correct; the metric sums over slots halted now with count > 0;
 *   5. gradients of (lm + 0.5 (q_halt BCE + q_continue BCE)) / global_batch_size;
 *   6. SignSGD on the slots' puzzle-embedding rows and AdamATan2 on [0, adam_total), both at
 *      schedule(step) with the step counter incremented first (the first step uses step 1)
 *      (optim.h).
 * With halt_max_steps == 1 there is no target and no q_continue loss (the published code).
 *
 * Evaluation (hrm_act_eval_segment / hrm_act_eval_batch): every slot restarts, then M segments of
 * EVAL forwards; halted = steps >= M (M = halt_max_steps by default, where this is exactly the
 * published evaluation; a larger M runs the carry further instead of restarting it, the
 * supported way to trade time for accuracy). No q_continue loss. Evaluation takes over the state's
 * carry and slots: evaluate during training with a second hrm_act (training false) on the same model.
 *
 * Resuming: the parameters (hrm_model_get_params), the optimizer (hrm_act_get_optimizer: Adam
 * m, v and the step), the carry (hrm_act_get_carry) and the plain fields of hrm_act (steps,
 * halted, the slots' examples, rng) are the whole state of a run; restored into a fresh hrm_act
 * with the same settings, training continues identically.
 *
 * Labels given to this file are the loader's: ignored positions hold HRM_IGNORE_LABEL
 * (hrm_batch_gather(ds, b, HRM_IGNORE_LABEL, ...)). */
#ifndef HRM_CORE_ACT_H
#define HRM_CORE_ACT_H

#include "internal.h"
#include <stdbool.h>
#include <stdint.h>

#include "model.h"
#include "ops.h"
#include "rng.h"

/* The published loader's label for ignored positions. */
#define HRM_IGNORE_LABEL (-100)

/* Training hyper-parameters, with the published pretrain.py names. halt_exploration_prob comes
 * from the model's config. */
typedef struct hrm_train_settings {
    int global_batch_size;
    double lr, lr_min_ratio;
    int64_t lr_warmup_steps, total_steps;
    double weight_decay, beta1, beta2;
    double puzzle_emb_lr, puzzle_emb_weight_decay;
    hrm_loss_kind loss_type; /* published arch.loss.loss_type: stablemax (default) or softmax */
    uint64_t seed;           /* halting exploration */
    int ema;                 /* keep an EMA of the AdamATan2 weights (pretrain.py ema, models/ema.py) */
    double ema_rate;         /* mu: ema = (1 - mu) w + mu ema after every optimizer step (0.999) */
} hrm_train_settings;

/* The published defaults, from the key table (config_keys.c): global_batch_size 768, lr 1e-4,
 * lr_min_ratio 1.0, warmup 2000, weight_decay 0.1, betas (0.9, 0.95), puzzle_emb_lr 1e-2,
 * puzzle_emb_weight_decay 0.1, stablemax, seed 0; total_steps 0: the caller sets it. */
HRM_INTERNAL hrm_train_settings hrm_train_settings_default(void);

/* The published metric sums of one segment (pretrain.py logs the losses / global_batch_size and
 * the others / max(count, 1)). count, accuracy, exact_accuracy, q_halt_accuracy and steps are
 * sums over the slots halted after the segment with at least one valid label; the losses are
 * sums over every slot; loss = lm_loss + 0.5 (q_halt_loss + q_continue_loss). */
typedef struct hrm_act_metrics {
    int64_t count;
    double accuracy, exact_accuracy, q_halt_accuracy, steps;
    double loss, lm_loss, q_halt_loss, q_continue_loss;
} hrm_act_metrics;

/* The examples of a batch, host arrays: inputs, labels int32 [B, seq_len] (labels as the loader
 * gives them), puzzle_ids int32 [B]. */
typedef struct hrm_act_batch {
    const int32_t *inputs, *labels, *puzzle_ids;
} hrm_act_batch;

/* Data parallelism (docs/ARCHITECTURE.md "Several processes"): `size` processes each run a
 * replica of the model on global_B / size of the global batch's slots, this one on
 * [offset, offset + B). The core knows no transport: the caller (tools/procs.c, MPI) gives the
 * collectives, which return 0 on success or non-zero after one line in err. Each must be called
 * by every process in the same order with the same sizes (the core guarantees that much). */
typedef struct hrm_dist {
    int rank, size;
    void *user;
    /* x [n] = the sum over processes of x [n], on every process (in place) */
    int (*allreduce_f32)(void *user, float *x, size_t n, char *err, size_t err_size);
    int (*allreduce_f64)(void *user, double *x, size_t n, char *err, size_t err_size);
    /* out [size * bytes] = every process's in [bytes], in rank order, on every process */
    int (*allgather)(void *user, const void *in, size_t bytes, void *out, char *err, size_t err_size);
    /* buf [size * bytes]: process r's bytes are buf + r * bytes on process r; afterwards rank 0's
     * buf holds every process's part (the others' buf is unchanged) */
    int (*gather0)(void *user, void *buf, size_t bytes, char *err, size_t err_size);
} hrm_dist;

/* Seconds this process spent in the data-parallel exchange of its optimizer steps, since creation. */
typedef struct hrm_dist_times {
    double transfer;  /* device <-> host copies of the gradients */
    double allreduce; /* the collectives themselves, waiting for the other processes included */
} hrm_dist_times;

/* The state of B slots. Plain fields are readable (and, for resuming, writable) by the caller;
 * the device tensors are reached through the functions below. */
typedef struct hrm_act {
    hrm_ctx *ctx;     /* borrowed: the model's backend */
    hrm_ops ops;      /* ctx, failures recorded in err */
    hrm_model *model; /* borrowed */
    int B;
    bool training; /* has an optimizer */
    hrm_train_settings settings;

    /* per slot, host */
    int32_t *steps;      /* (B,) segments run on the slot's current example */
    uint8_t *halted;     /* (B,) initially all 1 */
    int32_t *inputs;     /* (B, seq_len) the slots' current examples */
    int32_t *labels;     /* (B, seq_len) */
    int32_t *puzzle_ids; /* (B,) */
    hrm_rng rng;         /* halting exploration */

    /* the last segment's values, host (B,) each */
    float *q_halt, *q_continue, *target_q_continue; /* target: training with halt_max_steps > 1 */
    uint8_t *seq_correct;
    int32_t *count, *correct; /* valid positions, and those predicted right */
    float *lm_loss;           /* per sequence */
    uint8_t *work_flags;      /* (2B) scratch: reset mask, is_last */
    float *work;              /* (4B) scratch: q_continue', halt targets, d_q */

    /* optimizer */
    int64_t step; /* optimizer steps taken; the next uses step + 1 */
    double last_lr, last_puzzle_emb_lr;

    /* device */
    hrm_buffer *buf; /* carry, tokens, labels, puzzle ids */
    hrm_carry carry; /* zH, zL [B, S, D] */
    hrm_ptr d_inputs, d_labels, d_puzzle_ids;
    hrm_buffer *adam; /* m, v [adam_total] each, then with ema the EMA [adam_total] and a 1; NULL
                       * without an optimizer */
    /* data parallelism (hrm_act_set_dist): NULL alone */
    const hrm_dist *dist;
    int global_B, offset; /* B and 0 alone */
    hrm_buffer *dist_buf; /* training: every process's puzzle ids [global_B] and puzzle-row gradients */
    float *host_grads;    /* [adam_total] (and the puzzle rows' staging) */
    hrm_dist_times times;
    char err[512];
} hrm_act;

/* ctx: the context the model was created on. B <= the model's max batch. settings NULL: the
 * defaults (evaluation reads only loss_type). training false: evaluation only, no optimizer
 * memory. The Adam moments start at zero, every slot halted. */
HRM_INTERNAL hrm_status hrm_act_create(hrm_ctx *ctx, hrm_model *model, int B, const hrm_train_settings *settings,
                                       bool training, hrm_act **out, char *err, size_t err_size);
HRM_INTERNAL void hrm_act_free(hrm_act *a);
HRM_INTERNAL const char *hrm_act_error(const hrm_act *a);

/* The learned halting rule: q_halt > q_continue (HRM), q_halt > 0 with no_ACT_continue (TRM). */
static inline bool hrm_act_q_halts(const hrm_config *c, float q_halt, float q_continue) {
    return c->no_ACT_continue ? q_halt > 0 : q_halt > q_continue;
}

/* Makes a one of d->size processes, on the global batch's slots [d->rank * B, (d->rank + 1) * B)
 * (global_B = size * B). From then on: the halting exploration draws for all global_B slots in
 * slot order and uses this process's (so the stream is that of one process with global_B slots);
 * the optimizer step sums the gradients over the processes (allreduce_f32 over adam_total floats)
 * and gathers every process's puzzle ids and puzzle-row gradients, so that SignSGD runs on the
 * whole global batch's rows on every process; the train state files (checkpoint.h) hold the
 * global state. d must outlive a; NULL or size 1 is one process. */
HRM_INTERNAL hrm_status hrm_act_set_dist(hrm_act *a, const hrm_dist *d);

/* ---- training ------------------------------------------------------------------------------ */

/* Steps 1-5 above: after it, the model's grads and puzzle grads hold the step's gradients, the
 * model's logits the TRAIN forward's, and the per-slot fields this segment's values. */
HRM_INTERNAL hrm_status hrm_act_train_segment(hrm_act *a, const hrm_act_batch *batch, hrm_act_metrics *metrics);
/* Step 6: SignSGD on the current slots' puzzle rows and AdamATan2, at schedule(++step)
 * (hrm_optim_step, optim.h). */
HRM_INTERNAL hrm_status hrm_act_optimizer_step(hrm_act *a);
/* Both. */
HRM_INTERNAL hrm_status hrm_act_train_step(hrm_act *a, const hrm_act_batch *batch, hrm_act_metrics *metrics);

/* ---- evaluation ---------------------------------------------------------------------------- */

/* Segment `segment` (0-based) of M: segment 0 restarts every slot and takes the batch; later ones
 * continue. Writes the per-slot fields (q_halt, q_continue, seq_correct, ...), preds [B, seq_len]
 * (argmax, may be NULL) and the segment's metrics, with halted = steps >= M. */
HRM_INTERNAL hrm_status hrm_act_eval_segment(hrm_act *a, const hrm_act_batch *batch, int segment, int M, int32_t *preds,
                                             hrm_act_metrics *metrics);
/* M segments (M <= 0: halt_max_steps). q_halt, q_continue [M, B] (may be NULL) per segment;
 * preds [B, seq_len] and metrics of the final segment; the model's logits are the final ones. */
HRM_INTERNAL hrm_status hrm_act_eval_batch(hrm_act *a, const hrm_act_batch *batch, int M, float *q_halt,
                                           float *q_continue, int32_t *preds, hrm_act_metrics *metrics);

/* ---- state for checkpoints ------------------------------------------------------------------ */

/* ---- EMA of the weights (settings.ema; docs/TRM.md "EMA") ------------------------------------
 * Registered at creation as a copy of the model's AdamATan2 range (the nn.Parameters: not the
 * puzzle embedding, H_init, L_init), updated after every optimizer step. */
/* The EMA [adam_total] to the host; HRM_ERR_INVALID_ARG without one. */
HRM_INTERNAL hrm_status hrm_act_get_ema(hrm_act *a, float *ema);
HRM_INTERNAL hrm_status hrm_act_set_ema(hrm_act *a, const float *ema);
/* Exchanges the model's AdamATan2 range with the EMA, through the model's gradients (which the
 * next training step zeroes): call it before and after evaluating with the EMA weights. */
HRM_INTERNAL hrm_status hrm_act_ema_swap(hrm_act *a);

/* Adam m, v [adam_total] each and the step count (get: any may be NULL; set: m, v required). */
HRM_INTERNAL hrm_status hrm_act_get_optimizer(hrm_act *a, float *m, float *v, int64_t *step);
HRM_INTERNAL hrm_status hrm_act_set_optimizer(hrm_act *a, const float *m, const float *v, int64_t step);
/* The carry zH, zL [B, S, D] each. */
HRM_INTERNAL hrm_status hrm_act_get_carry(hrm_act *a, float *zH, float *zL);
HRM_INTERNAL hrm_status hrm_act_set_carry(hrm_act *a, const float *zH, const float *zL);

#endif /* HRM_CORE_ACT_H */
