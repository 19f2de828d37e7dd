/* core/solver.c - the public inference API (hrm/solver.h) over the internal model and ACT state:
 * a checkpoint on a device, and runs of the evaluation schedule that stop at the learned halt.
 *
 * The ACT state has a fixed batch, so it is created for the batch a run asks for and kept while
 * runs keep that size: a puzzle alone costs one puzzle's compute, not max_batch's. */
#include "hrm/solver.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act.h"
#include "checkpoint.h"

struct hrm_solver {
    hrm_ctx ctx;
    hrm_config cfg;
    hrm_model *model; /* for max_batch slots */
    hrm_act *act;     /* evaluation-only, act->B slots; NULL until a run needs it */
    int max_batch;
    int32_t *labels;    /* [max_batch, seq_len] all HRM_IGNORE_LABEL: the ACT loss wants labels */
    int32_t *blank_ids; /* [max_batch] zeros, for puzzle_ids == NULL */
    int32_t *preds;     /* [max_batch, seq_len] the current segment's argmax */
    uint8_t *stopped;   /* [max_batch] */
    /* sampled inference (hrm_solver_set_sampling): one run's answers, then the best so far */
    int samples;
    float noise;
    uint64_t seed;
    hrm_solver_accept_fn accept;
    void *accept_user;
    int32_t *run_preds; /* [max_batch, seq_len] */
    int *run_used;      /* [max_batch] */
    float *run_q;       /* [max_batch] */
    uint8_t *run_ok;    /* [max_batch] the current best was accepted */
    float *best_q;      /* [max_batch] the current best's q_halt */
};

/* err may be NULL: a caller that only wants the status need not supply a buffer. */
static hrm_status failf(char *err, size_t err_size, hrm_status st, const char *fmt, ...) {
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return st;
}

void hrm_solver_close(hrm_solver *s) {
    if (!s) return;
    hrm_act_free(s->act);
    hrm_model_free(s->model);
    hrm_ctx_close(&s->ctx); /* a no-op on a context that never opened */
    free(s->labels);
    free(s->blank_ids);
    free(s->preds);
    free(s->stopped);
    free(s->run_preds);
    free(s->run_used);
    free(s->run_q);
    free(s->run_ok);
    free(s->best_q);
    free(s);
}

static hrm_status alloc_host(hrm_solver *s, char *err, size_t err_size) {
    size_t B = (size_t)s->max_batch, BL = B * (size_t)s->cfg.seq_len;
    s->labels = malloc(BL * sizeof *s->labels);
    s->blank_ids = calloc(B, sizeof *s->blank_ids);
    s->preds = malloc(BL * sizeof *s->preds);
    s->stopped = malloc(B);
    s->run_preds = malloc(BL * sizeof *s->run_preds);
    s->run_used = malloc(B * sizeof *s->run_used);
    s->run_q = malloc(B * sizeof *s->run_q);
    s->run_ok = malloc(B);
    s->best_q = malloc(B * sizeof *s->best_q);
    s->samples = 1;
    if (!s->labels || !s->blank_ids || !s->preds || !s->stopped || !s->run_preds || !s->run_used || !s->run_q ||
        !s->run_ok || !s->best_q)
        return failf(err, err_size, HRM_ERR_OUT_OF_MEMORY, "solver: out of host memory for %d puzzles", s->max_batch);
    for (size_t i = 0; i < BL; i++) s->labels[i] = HRM_IGNORE_LABEL;
    return HRM_OK;
}

typedef struct solver_setup {
    hrm_solver *s;
    const hrm_checkpoint *ck;
} solver_setup;

/* hrm_ctx_setup_fn: the model and its weights on a context just opened. */
static hrm_status setup_model(hrm_ctx *ctx, void *user, char *err, size_t err_size) {
    solver_setup *u = user;
    hrm_solver *s = u->s;
    hrm_status st = hrm_model_create(ctx, &u->ck->cfg, s->max_batch, &s->model, err, err_size);
    if (st == HRM_OK && (st = hrm_model_set_params(s->model, u->ck->params, u->ck->table.total)) != HRM_OK)
        snprintf(err, err_size, "%s", hrm_model_error(s->model));
    if (st != HRM_OK) {
        hrm_model_free(s->model);
        s->model = NULL;
    }
    return st;
}

/* The backend, the model and its weights; under auto, the next backend when the model does not
 * fit. ck is freed by the caller. */
static hrm_status load(hrm_solver *s, const hrm_checkpoint *ck, const char *backend, const char *device, char *buf,
                       size_t buf_size) {
    solver_setup u = {s, ck};
    return hrm_ctx_open_with(backend, device, hrm_default_host(), setup_model, &u, &s->ctx, buf, buf_size);
}

hrm_status hrm_solver_open(const char *checkpoint, const char *backend, const char *device, int max_batch,
                           hrm_solver **out, char *err, size_t err_size) {
    char buf[1024] = "";
    if (!out) return failf(err, err_size, HRM_ERR_INVALID_ARG, "solver: out is NULL");
    *out = NULL;
    if (!checkpoint) return failf(err, err_size, HRM_ERR_INVALID_ARG, "solver: no checkpoint given");
    if (max_batch < 1) return failf(err, err_size, HRM_ERR_INVALID_ARG, "solver: max_batch %d < 1", max_batch);
    hrm_checkpoint ck;
    hrm_status st = hrm_checkpoint_read(checkpoint, &ck, buf, sizeof buf);
    if (st != HRM_OK) return failf(err, err_size, st, "%s", buf);
    hrm_solver *s = calloc(1, sizeof *s);
    if (!s) {
        hrm_checkpoint_free(&ck);
        return failf(err, err_size, HRM_ERR_OUT_OF_MEMORY, "solver: out of host memory");
    }
    s->cfg = ck.cfg;
    s->max_batch = max_batch;
    st = alloc_host(s, buf, sizeof buf);
    if (st == HRM_OK) st = load(s, &ck, backend, device, buf, sizeof buf);
    hrm_checkpoint_free(&ck); /* the weights live on the device now */
    if (st != HRM_OK) {
        hrm_solver_close(s);
        return failf(err, err_size, st, "%s", buf);
    }
    *out = s;
    return HRM_OK;
}

void hrm_solver_info(const hrm_solver *s, int *seq_len, int *vocab_size, int *halt_max_steps,
                     int *num_puzzle_identifiers) {
    if (seq_len) *seq_len = s->cfg.seq_len;
    if (vocab_size) *vocab_size = s->cfg.vocab_size;
    if (halt_max_steps) *halt_max_steps = s->cfg.halt_max_steps;
    if (num_puzzle_identifiers) *num_puzzle_identifiers = s->cfg.num_puzzle_identifiers;
}

/* A backend given an out-of-range index may read out of bounds before it can report anything,
 * so every token and identifier is checked on the host first. */
static hrm_status check_inputs(const hrm_solver *s, int n, const int32_t *inputs, const int32_t *puzzle_ids, char *err,
                               size_t err_size) {
    int L = s->cfg.seq_len, V = s->cfg.vocab_size, P = s->cfg.num_puzzle_identifiers;
    for (int b = 0; b < n; b++)
        for (int k = 0; k < L; k++) {
            int32_t t = inputs[(size_t)b * L + k];
            if (t < 0 || t >= V)
                return failf(err, err_size, HRM_ERR_INVALID_ARG,
                             "solver: puzzle %d, token %d is %d, outside the vocabulary [0, %d)", b, k, (int)t, V);
        }
    for (int b = 0; puzzle_ids && b < n; b++)
        if (puzzle_ids[b] < 0 || puzzle_ids[b] >= P)
            return failf(err, err_size, HRM_ERR_INVALID_ARG, "solver: puzzle %d has identifier %d, outside [0, %d)", b,
                         (int)puzzle_ids[b], P);
    return HRM_OK;
}

/* An ACT state of exactly n slots: the old one is freed first so its memory is reused. */
static hrm_status fit_act(hrm_solver *s, int n, char *err, size_t err_size) {
    if (s->act && s->act->B == n) return HRM_OK;
    hrm_act_free(s->act);
    s->act = NULL;
    char buf[512] = "";
    hrm_status st = hrm_act_create(&s->ctx, s->model, n, NULL, false, &s->act, buf, sizeof buf);
    return st == HRM_OK ? HRM_OK : failf(err, err_size, st, "%s", buf);
}

/* One run of the segments: each puzzle's answer at the segment where it stops. Stopped puzzles
 * keep running with the rest (a slot's rows never mix with another's): their answers were taken
 * when they stopped. */
static hrm_status run_once(hrm_solver *s, int n, const hrm_act_batch *batch, int M, bool all_segments,
                           int32_t *predictions, int *segments_used, float *q_halt, char *err, size_t err_size) {
    size_t L = (size_t)s->cfg.seq_len;
    hrm_act *a = s->act;
    int left = n;
    hrm_status st;
    memset(s->stopped, 0, (size_t)n);
    for (int seg = 0; seg < M && left > 0; seg++) {
        if ((st = hrm_act_eval_segment(a, batch, seg, M, s->preds, NULL)) != HRM_OK)
            return failf(err, err_size, st, "%s", hrm_act_error(a));
        for (int b = 0; b < n; b++) {
            bool halts = hrm_act_q_halts(&s->cfg, a->q_halt[b], a->q_continue[b]);
            if (s->stopped[b] || !(seg == M - 1 || (!all_segments && halts))) continue;
            memcpy(predictions + b * L, s->preds + b * L, L * sizeof *predictions);
            if (segments_used) segments_used[b] = seg + 1;
            if (q_halt) q_halt[b] = a->q_halt[b];
            s->stopped[b] = 1;
            left--;
        }
    }
    return HRM_OK;
}

hrm_status hrm_solver_run(hrm_solver *s, int n, const int32_t *inputs, const int32_t *puzzle_ids, int max_segments,
                          bool all_segments, int32_t *predictions, int *segments_used, float *q_halt, char *err,
                          size_t err_size) {
    if (!s || !inputs || !predictions)
        return failf(err, err_size, HRM_ERR_INVALID_ARG, "solver: the solver, inputs and predictions are required");
    if (n < 1 || n > s->max_batch)
        return failf(err, err_size, HRM_ERR_INVALID_ARG, "solver: %d puzzles, outside [1, %d] (max_batch)", n,
                     s->max_batch);
    hrm_status st = check_inputs(s, n, inputs, puzzle_ids, err, err_size);
    if (st == HRM_OK) st = fit_act(s, n, err, err_size);
    if (st != HRM_OK) return st;

    int M = max_segments > 0 ? max_segments : s->cfg.halt_max_steps;
    hrm_act_batch batch = {inputs, s->labels, puzzle_ids ? puzzle_ids : s->blank_ids};
    if (s->samples <= 1 || s->noise == 0)
        return run_once(s, n, &batch, M, all_segments, predictions, segments_used, q_halt, err, err_size);
    size_t L = (size_t)s->cfg.seq_len;
    for (int k = 0; k < s->samples; k++) {
        /* run 0 is the plain one; run k draws from its own stream */
        if ((st = hrm_model_set_noise(s->model, k ? s->noise : 0.0f, s->seed + 0x9e3779b97f4a7c15ull * (uint64_t)k)))
            return failf(err, err_size, st, "%s", hrm_model_error(s->model));
        st = run_once(s, n, &batch, M, all_segments, s->run_preds, s->run_used, s->run_q, err, err_size);
        if (st) {
            hrm_model_set_noise(s->model, 0, 0);
            return st;
        }
        for (int b = 0; b < n; b++) {
            const int32_t *p = s->run_preds + (size_t)b * L;
            bool ok = s->accept && s->accept(s->accept_user, b, p);
            /* accepted beats rejected; then the higher q_halt; ties keep the earlier run */
            if (k > 0 && (s->run_ok[b] > ok || (s->run_ok[b] == ok && !(s->run_q[b] > s->best_q[b])))) continue;
            s->run_ok[b] = ok;
            memcpy(predictions + (size_t)b * L, p, L * sizeof *predictions);
            if (segments_used) segments_used[b] = s->run_used[b];
            s->best_q[b] = s->run_q[b];
            if (q_halt) q_halt[b] = s->run_q[b];
        }
    }
    return hrm_model_set_noise(s->model, 0, 0)
               ? failf(err, err_size, HRM_ERR_INVALID_ARG, "%s", hrm_model_error(s->model))
               : HRM_OK;
}

hrm_status hrm_solver_set_sampling(hrm_solver *s, int samples, float noise, uint64_t seed, hrm_solver_accept_fn accept,
                                   void *user) {
    if (!s || samples < 1 || samples > 4096 || !(noise >= 0) || !isfinite(noise)) return HRM_ERR_INVALID_ARG;
    s->samples = samples;
    s->noise = noise;
    s->seed = seed;
    s->accept = accept;
    s->accept_user = user;
    return HRM_OK;
}

hrm_status hrm_solver_set_matmul_precision(hrm_solver *s, hrm_matmul_precision asked, hrm_matmul_precision *runs) {
    if (!s || (unsigned)asked >= HRM_PRECISION_COUNT) return HRM_ERR_INVALID_ARG;
    hrm_matmul_precision p = hrm_model_set_matmul_precision(s->model, asked);
    if (runs) *runs = p;
    return HRM_OK;
}

const hrm_ctx *hrm_solver_ctx(const hrm_solver *s) { return s ? &s->ctx : NULL; }
