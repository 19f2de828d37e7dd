/* core/model.h - the HRM network on a compute backend: one segment's forward pass (the N x T
 * recurrence of docs/MODEL.md "Segment schedule", the LM and Q heads) and its one-step-gradient backward, plus the
 * loss helpers a training step needs.
 *
 * The model owns its device memory, all allocated at creation for a maximum batch:
 *   params [total]        the flat parameter buffer carved by the table of params.h
 *   grads  [adam_total]   gradients of the AdamATan2 range, same offsets as params
 *   d_puzzle_rows [B, puzzle_emb_ndim]  per-slot puzzle-embedding gradients (for signsgd_rows)
 *   activations           x, the saved activations of the last L and H updates, scratch.
 * Nothing is allocated after creation, and the memory does not depend on H_cycles or L_cycles:
 * only the last L update and the last H update (the ones the gradient flows through) are saved.
 *
 * The carry (zH, zL [B, S, D] each) belongs to the caller: the ACT loop decides which slots
 * restart from H_init / L_init (hrm_model_reset_slots) and keeps the carry between segments.
 *
 * A training step:
 *   hrm_model_zero_grads
 *   hrm_model_forward(HRM_FORWARD_TRAIN, ...)         new carry, logits, q_halt / q_continue
 *   [hrm_model_forward(HRM_FORWARD_Q_ONLY, ...)        target Q from the new carry]
 *   hrm_model_lm_loss_forward / _backward              d_logits inside the model
 *   hrm_q_loss                                         d_q on the host
 *   hrm_model_backward(d_q)                            grads, d_puzzle_rows
 * Errors: every call returns an hrm_status; hrm_model_error() says why in one line. */
#ifndef HRM_CORE_MODEL_H
#define HRM_CORE_MODEL_H

#include "internal.h"
#include <stddef.h>
#include <stdint.h>

#include "hrm/hrm.h"
#include "params.h"

typedef struct hrm_model hrm_model;

/* The recurrent state of a batch: zH, zL [B, S, D] each, float32 device tensors. */
typedef struct hrm_carry {
    hrm_ptr zH, zL;
} hrm_carry;

typedef enum hrm_forward_mode {
    /* Saves the last L and H updates for hrm_model_backward; writes logits and q. */
    HRM_FORWARD_TRAIN = 0,
    /* Nothing saved; writes logits and q. Evaluation and inference. */
    HRM_FORWARD_EVAL = 1,
    /* Nothing saved, no logits: the target-Q forward of ACT training. Leaves the saved
     * activations and the logits of a preceding TRAIN forward intact. */
    HRM_FORWARD_Q_ONLY = 2,
} hrm_forward_mode;

/* Validates the config, builds the parameter table and allocates everything for batches of up
 * to max_batch on ctx's device (ctx must outlive the model). Parameters start as zeros: call
 * hrm_model_init_params or hrm_model_set_params. On failure writes one line into err. */
HRM_INTERNAL hrm_status hrm_model_create(hrm_ctx *ctx, const hrm_config *cfg, int max_batch, hrm_model **out, char *err,
                                         size_t err_size);
HRM_INTERNAL void hrm_model_free(hrm_model *m);

HRM_INTERNAL const char *hrm_model_error(const hrm_model *m); /* the last failure, one line */
HRM_INTERNAL const hrm_config *hrm_model_config(const hrm_model *m);
HRM_INTERNAL const hrm_param_table *hrm_model_params_table(const hrm_model *m);
HRM_INTERNAL int hrm_model_max_batch(const hrm_model *m);
/* Device buffers holding the activations: 1, or more where the backend limits a buffer's size. */
HRM_INTERNAL int hrm_model_activation_buffers(const hrm_model *m);
/* Sets the precision of the model's matrix products (the linear layers and the LM head, forward
 * and backward) and returns the one the device runs: `asked` where the backend reports it, else
 * the next higher one it does (hrm_precision_effective). New models run HRM_PRECISION_HIGHEST. */
HRM_INTERNAL hrm_matmul_precision hrm_model_set_matmul_precision(hrm_model *m, hrm_matmul_precision asked);
HRM_INTERNAL hrm_matmul_precision hrm_model_matmul_precision(const hrm_model *m);

/* ---- parameters ------------------------------------------------------------------------------ */

/* Initialises every tensor on the host per docs/MODEL.md "Parameters" (init.h) and uploads it. */
HRM_INTERNAL hrm_status hrm_model_init_params(hrm_model *m, uint64_t seed);
/* Upload / download the whole flat buffer: n must be the table's total. */
HRM_INTERNAL hrm_status hrm_model_set_params(hrm_model *m, const float *host, int64_t n);
HRM_INTERNAL hrm_status hrm_model_get_params(hrm_model *m, float *host, int64_t n);

/* Device tensors for the optimizers and checkpoints: params [total] at offset 0, grads
 * [adam_total] at offset 0, d_puzzle_rows [B, puzzle_emb_ndim] (buf NULL without a puzzle
 * embedding), logits and d_logits [B, seq_len, vocab] of the last forward that wrote logits. */
HRM_INTERNAL hrm_ptr hrm_model_params(const hrm_model *m);
HRM_INTERNAL hrm_ptr hrm_model_grads(const hrm_model *m);
HRM_INTERNAL hrm_ptr hrm_model_puzzle_grads(const hrm_model *m);
HRM_INTERNAL hrm_ptr hrm_model_logits(const hrm_model *m);
HRM_INTERNAL hrm_ptr hrm_model_d_logits(const hrm_model *m);

/* grads = 0 (d_puzzle_rows is written, not accumulated, by the backward). */
HRM_INTERNAL hrm_status hrm_model_zero_grads(hrm_model *m);

/* ---- carry -------------------------------------------------------------------------------- */

/* For every slot b < B with reset[b] != 0: zH[b] = H_init and zL[b] = L_init broadcast over
 * its S positions (docs/MODEL.md "ACT carry"). reset NULL resets every slot. */
HRM_INTERNAL hrm_status hrm_model_reset_slots(hrm_model *m, int B, hrm_carry carry, const uint8_t *reset);

/* ---- one segment ------------------------------------------------------------------------ */

/* Runs one segment on B <= max_batch slots. tokens int32 [B, seq_len] and puzzle_ids int32 [B]
 * are device tensors; for TRAIN they must stay unchanged until hrm_model_backward.
 * The carry goes from `in` to `out`; out may equal in (updated in place) but zH and zL must not
 * alias each other. out.zH.buf == NULL discards the new carry (the model's scratch takes it):
 * what a Q_ONLY forward wants. q_halt, q_continue [B] on the host receive the Q head's logits
 * (either may be NULL); they are the only values read back. */
HRM_INTERNAL hrm_status hrm_model_forward(hrm_model *m, hrm_forward_mode mode, int B, hrm_ptr tokens,
                                          hrm_ptr puzzle_ids, hrm_carry in, hrm_carry out, float *q_halt,
                                          float *q_continue);

/* The one-step-gradient backward of the last TRAIN forward: reads d_logits (hrm_model_d_logits,
 * e.g. from hrm_model_lm_loss_backward) and d_q [B, 2] on the host (column 0 halt, 1 continue;
 * NULL = 0) and accumulates into grads; writes d_puzzle_rows. */
HRM_INTERNAL hrm_status hrm_model_backward(hrm_model *m, const float *d_q);

/* Runs only the part of a TRAIN forward that no gradient flows through: every L and H update
 * but the last L and the last H update, from `in` to `out` (same rules as above). A TRAIN
 * forward of a 1 x 1 model (same weights) from the result computes exactly what the last two
 * updates of this model compute: the tests check the one-step gradient this way. */
HRM_INTERNAL hrm_status hrm_model_forward_prefix(hrm_model *m, int B, hrm_ptr tokens, hrm_ptr puzzle_ids, hrm_carry in,
                                                 hrm_carry out);

/* ---- sampled inference ------------------------------------------------------------------------ */

/* Gaussian noise on the recurrent state for sampled inference (Probabilistic TRM, arXiv
 * 2605.19943; docs/TRM.md "Sampled inference"): with sigma > 0, every EVAL forward adds
 * sigma * N(0, 1) to every slot's z_H and z_L (TRM's y and z) at the start of each cycle (HRM:
 * each of the N high-level cycles; TRM: each of the T deep-recursion cycles), drawn on the host
 * from a stream seeded here. sigma 0 (the default) turns it off: forwards are as without this call. TRAIN and
 * Q_ONLY forwards never add noise. */
HRM_INTERNAL hrm_status hrm_model_set_noise(hrm_model *m, float sigma, uint64_t seed);

/* ---- losses ------------------------------------------------------------------------------- */

/* Per-sequence cross-entropy of the last logits (docs/MODEL.md "Losses"), through the backend's xent
 * op in double precision: labels int32 [B, seq_len] on the device; positions whose label is
 * ignore_label do not count. Writes on the host (each may be NULL): loss [B] = lm_b, count [B]
 * valid positions, correct [B] valid positions predicted right, preds [B, seq_len] argmax. */
HRM_INTERNAL hrm_status hrm_model_lm_loss_forward(hrm_model *m, hrm_ptr labels, hrm_loss_kind kind, int ignore_label,
                                                  float *loss, int32_t *count, int32_t *correct, int32_t *preds);
/* d_logits = grad_scale * d(sum_b lm_b)/d(logits), into the model's d_logits. */
HRM_INTERNAL hrm_status hrm_model_lm_loss_backward(hrm_model *m, hrm_ptr labels, hrm_loss_kind kind, int ignore_label,
                                                   float grad_scale);

/* The Q losses on the host, in double: BCE with logits of q_halt against target_halt (the
 * slots' seq_correct, 0 or 1) and of q_continue against target_continue (NULL when there is no
 * target, i.e. outside training: no loss, no gradient). Returns the two sums in *halt_loss and
 * *continue_loss and writes d_q [B, 2] = grad_scale * 0.5 * dBCE/dq, the gradient of
 * grad_scale * 0.5 * (halt_loss + continue_loss) as docs/MODEL.md "Losses" weighs them. */
HRM_INTERNAL void hrm_q_loss(int B, const float *q_halt, const float *q_continue, const float *target_halt,
                             const float *target_continue, float grad_scale, double *halt_loss, double *continue_loss,
                             float *d_q);

#endif /* HRM_CORE_MODEL_H */
