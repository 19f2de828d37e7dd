/* core/optim.h - the optimizers of a training step and their learning-rate schedule
 * (docs/MODEL.md "Optimizers", "Learning-rate schedule"), as the published pretrain.py runs them: SignSGD
 * (CastedSparseEmbeddingSignSGD_Distributed) on the puzzle-embedding rows of the batch's slots and
 * AdamATan2 (the adam-atan2 package) on every other learned tensor, both at the
 * cosine-with-warmup schedule of the step. The update formulas themselves are the backend ops'
 * (include/hrm/backend.h: hrm_adam_args, hrm_signsgd_args); this file counts the steps, computes
 * the learning rates and dispatches. Not installed. */
#ifndef HRM_CORE_OPTIM_H
#define HRM_CORE_OPTIM_H

#include "internal.h"
#include <stdint.h>

#include "act.h"

/* pretrain.py's cosine_schedule_with_warmup_lr_lambda at `step` (>= 1 for the first optimizer
 * step): base * step / max(1, W) for step < W, then base * (r + max(0, (1-r) * 0.5 * (1 + cos(pi *
 * progress)))) with progress = (step - W) / max(1, total - W). */
HRM_INTERNAL double hrm_lr_schedule(double base_lr, int64_t step, int64_t warmup_steps, int64_t total_steps,
                                    double min_ratio);

/* Step 6 of a training step (act.h) on the optimizer fields of a training state: a->step += 1
 * (the first step is 1, as pretrain.py increments its counter before the update); a->last_lr and
 * a->last_puzzle_emb_lr = the schedule at that step; SignSGD on the puzzle-embedding rows of the
 * slots' puzzle ids (when the model has a puzzle embedding); AdamATan2 on [0, adam_total) with the
 * moments m = a->adam[0, adam_total), v = a->adam[adam_total, 2 adam_total). On a backend failure
 * returns its status with a->err naming the call ("act: adam_atan2: <the backend's error>"). */
HRM_INTERNAL hrm_status hrm_optim_step(hrm_act *a);

#endif /* HRM_CORE_OPTIM_H */
