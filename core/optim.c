/* core/optim.c - the optimizers of a training step and the learning-rate schedule (optim.h),
 * following the published pretrain.py (the schedule, one optimizer step per segment, the step
 * counter incremented before the update), as reference/hrm_ref.py restates it (lr_at,
 * Trainer.train_step). */
#include "optim.h"

#include <math.h>

#include "status.h"

/* pretrain.py's cosine_schedule_with_warmup_lr_lambda (hrm_ref.py lr_at): linear warmup from 0,
 * then a half cosine from base down to base * min_ratio at total_steps. */
double hrm_lr_schedule(double base_lr, int64_t step, int64_t warmup_steps, int64_t total_steps, double min_ratio) {
    if (step < warmup_steps) return base_lr * (double)step / (double)(warmup_steps > 1 ? warmup_steps : 1);
    int64_t span = total_steps - warmup_steps;
    double progress = (double)(step - warmup_steps) / (double)(span > 1 ? span : 1);
    return base_lr * (min_ratio + fmax(0.0, (1.0 - min_ratio) * 0.5 * (1.0 + cos(3.14159265358979323846 * progress))));
}

/* pretrain.py's train_batch: both optimizers at lr_this_step = schedule(step); the puzzle
 * embedding first (hrm_ref.py Trainer.train_step: signsgd_rows, then adam_atan2_step). The
 * backend ops hold the formulas: SignSGD (the published models/sparse_embedding.py) sums the rows
 * of repeated ids, then w = w (1 - lr wd) - lr sign(g); AdamATan2 (adam-atan2's
 * csrc/adam_atan2.cu) takes the step for its bias corrections 1 - beta^step. */
hrm_status hrm_optim_step(hrm_act *a) {
    const hrm_train_settings *s = &a->settings;
    const hrm_config *c = hrm_model_config(a->model);
    const hrm_param_table *t = hrm_model_params_table(a->model);
    a->step++;
    a->last_lr = hrm_lr_schedule(s->lr, a->step, s->lr_warmup_steps, s->total_steps, s->lr_min_ratio);
    a->last_puzzle_emb_lr =
        hrm_lr_schedule(s->puzzle_emb_lr, a->step, s->lr_warmup_steps, s->total_steps, s->lr_min_ratio);
    if (c->puzzle_emb_ndim > 0) {
        const hrm_param *pe = hrm_params_find(t, "model.inner.puzzle_emb.weights");
        hrm_ptr w = hrm_model_params(a->model);
        w.off += (size_t)pe->offset;
        /* several processes: the rows of the whole global batch, gathered (act.c exchange_grads) */
        bool all = a->dist && a->dist_buf;
        hrm_signsgd_args sg = {.batch = all ? a->global_B : a->B,
                               .width = c->puzzle_emb_ndim,
                               .num_rows = c->num_puzzle_identifiers,
                               .lr = (float)a->last_puzzle_emb_lr,
                               .weight_decay = (float)s->puzzle_emb_weight_decay,
                               .ids = all ? (hrm_ptr){a->dist_buf, 0} : a->d_puzzle_ids,
                               .grads =
                                   all ? (hrm_ptr){a->dist_buf, (size_t)a->global_B} : hrm_model_puzzle_grads(a->model),
                               .weights = w};
        TRY(op_signsgd_rows(&a->ops, &sg, "act: signsgd_rows"));
    }
    size_t an = (size_t)t->adam_total;
    hrm_adam_args ad = {.n = (int64_t)an,
                        .step = a->step,
                        .lr = (float)a->last_lr,
                        .weight_decay = (float)s->weight_decay,
                        .beta1 = (float)s->beta1,
                        .beta2 = (float)s->beta2,
                        .param = hrm_model_params(a->model),
                        .grad = hrm_model_grads(a->model),
                        .m = {a->adam, 0},
                        .v = {a->adam, an}};
    return op_adam_atan2(&a->ops, &ad, "act: adam_atan2");
}
