/* bench/bench_train.c - `hrm bench train`: training and evaluation throughput of whole HRM and TRM
 * models on one backend, with the model-FLOPs utilisation against the fp32 GEMM peak of the device
 * they ran on, and the backend's peak memory as the cycles change (HRM: H_cycles x L_cycles = 2x2
 * and 8x8; TRM: T = 1 and 4 at the model's n, and n = 2). Its model measurements (bench_train.h)
 * also serve the `hrm bench` suite.
 *
 * The peak is `hrm bench`'s compute roof (bench_peak.c): a square matmul through the same backend
 * and device, sized to the device, timed before the models and again after them at the same size;
 * the better median is the peak. Measured through the backend, it means the same on the CPU
 * backend, on PoCL and on a GPU (a host cblas_sgemm would put a GPU's MFU at thousands of percent).
 *
 * The models are built in memory (parameters from hrm_model_init_params, seed 0) and fed synthetic
 * data of the right shapes: tokens and labels uniform in [1, vocab), puzzle identifier 0. A sample
 * is one sequence through one segment (TRM: one supervision step): a training step
 * (hrm_act_train_step: the TRAIN forward, for HRM the Q-target forward, the losses, the backward,
 * SignSGD and AdamATan2, for TRM then the EMA update) moves B samples, an evaluation segment
 * (hrm_act_eval_segment, cycling through halt_max_steps segments) moves B samples. Each is timed
 * with bench_measure.c's loop (one warm-up call, then at least --steps calls and, without --steps,
 * at least 2 s), and the rates come from the median call.
 *
 * The memory check opens a fresh device for each configuration (the peak is a high-water mark
 * since device_open), builds the model and a training and an evaluation state at the same batch,
 * runs one training step and one evaluation segment, and reads memory_usage's peak. HRM keeps the
 * same activations whatever the cycles (one-step gradient): 2x2 and 8x8 must be equal. TRM
 * differentiates the whole last cycle, whose n + 1 network calls it keeps (docs/TRM.md "Memory"):
 * its memory must not depend on T (T = 1 and 4 at the model's n must be equal) and grows linearly
 * with n, which n = 2 against the model's n (both at T = 1) measures per z-update. */
#include "bench.h"
#include "bench_train.h"
#include "bench_suite.h"
#include "cli.h"

#include "hrm_internal.h"

#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_STEPS 5
#define DEFAULT_MIN_TIME 2.0 /* seconds of timed calls per measurement when --steps is not given */
#define MEMORY_CYCLES 8      /* HRM: the large H_cycles = L_cycles of the memory check */
#define MEMORY_TRM_T 4       /* TRM: the large T of the memory check (against T = 1) */
#define MEMORY_TRM_N 2       /* TRM: the small n of the memory check (against the model's n) */
#define MEMORY_RUNS 3        /* the most configurations of one model's memory check */
/* The peak probe's bounds, those of `hrm bench`'s full mode (bench_suite.c): at least 5 calls and
 * 0.5 s of them, at most 5 s, so that a slow device (CLBlast on PoCL: about 33 GFLOP/s at 1024^3
 * here) spends seconds on it and a fast one still gets enough calls for a median. */
#define PEAK_MIN_TIME 0.5
#define PEAK_MIN_REPS 5
#define PEAK_MAX_TIME 5.0

typedef struct model_spec {
    const char *name;
    hrm_arch arch;
    int hidden, heads, layers, mlp_t, batch;
    int H_cycles, L_cycles; /* what throughput runs at: HRM 2x2; TRM the published T = 3, n = 6 */
    const char *about;
} model_spec;

/* (a) of issue 3 and the published Sudoku model (27,275,266 parameters); TRM's published Sudoku
 * attention form (6,828,034 parameters) and a small TRM of the small HRM's width. (The MLP form
 * waits for the engine to build mlp_t; spec_config and count_flops already take it.)
 * The HRM ones come first: the `hrm bench` suite runs the first BENCH_SUITE_MODELS. */
static const model_spec specs[] = {
    {"small", HRM_ARCH_HRM, 128, 2, 2, 0, 32, 2, 2, "hidden 128, 2 heads, 2+2 layers"},
    {"sudoku", HRM_ARCH_HRM, 512, 8, 4, 0, 8, 2, 2, "hidden 512, 8 heads, 4+4 layers (published Sudoku, 27M)"},
    {"trm", HRM_ARCH_TRM, 512, 8, 2, 0, 8, 3, 6,
     "TRM, hidden 512, 8 heads, 2 layers, T 3, n 6 (published Sudoku attention form, 7M)"},
    {"trm-small", HRM_ARCH_TRM, 128, 2, 2, 0, 32, 3, 6, "TRM, hidden 128, 2 heads, 2 layers, T 3, n 6"},
};
#define NUM_SPECS ((int)(sizeof specs / sizeof specs[0]))
_Static_assert(NUM_SPECS == BENCH_NUM_MODELS, "bench_train.h numbers the models");

int bench_model_find(const char *name) {
    for (int i = 0; i < NUM_SPECS; i++)
        if (!strcmp(specs[i].name, name)) return i;
    return -1;
}
const char *bench_model_name(int model) { return specs[model].name; }
const char *bench_model_about(int model) { return specs[model].about; }
int bench_model_default_batch(int model) { return specs[model].batch; }

/* All: vocab 11, seq 81, 1 puzzle identifier, puzzle_emb_ndim = hidden, halt_max_steps 16,
 * exploration 0.1. HRM: hrm_config_default (expansion 4, RoPE), H_cycles and L_cycles as given.
 * TRM: hrm_config_default_arch (config/arch/trm.yaml: expansion 4, RoPE, puzzle_emb_len 16,
 * no_ACT_continue), T = H_cycles and n = L_cycles as given; the MLP form without positions, as
 * its published recipe. */
static hrm_config spec_config(const model_spec *s, int H_cycles, int L_cycles) {
    hrm_config c = hrm_config_default_arch(s->arch);
    c.hidden_size = s->hidden;
    c.num_heads = s->heads;
    if (s->arch == HRM_ARCH_TRM) {
        c.L_layers = s->layers;
        c.mlp_t = s->mlp_t;
        if (s->mlp_t) c.pos_encodings = HRM_POS_NONE;
    } else {
        c.H_layers = c.L_layers = s->layers;
    }
    c.H_cycles = H_cycles;
    c.L_cycles = L_cycles;
    c.puzzle_emb_ndim = s->hidden;
    c.vocab_size = 11;
    c.seq_len = 81;
    c.num_puzzle_identifiers = 1;
    return c;
}

/* ---- model FLOPs ------------------------------------------------------------------------------
 * Matmul and attention FLOPs of the model's arithmetic (2 per multiply-add), not counting norms,
 * RoPE, SwiGLU, embeddings, losses or the optimizers. With R = B*S rows (S = P + seq_len), D
 * hidden, I the SwiGLU width, hd = D/heads, V vocab:
 *   block forward   Fb = R * 2D(3D + D + 2I + I)            qkv, o_proj, gate_up, down_proj
 *                      + B * heads * 4 S^2 hd  = 4 B S^2 D   Q K^T and P V
 *   block backward  2 x its matmuls + B * heads * 10 S^2 hd  (dQ, dK, dV, dP and the recomputed
 *                                                             scores)
 *   heads           LM head 2 B seq_len D V + Q head 2 B D 2
 * HRM (N = H_cycles, T = L_cycles):
 *   level pass      layers x Fb
 *   forward         N*T L passes + N H passes (the no-grad ones included) + heads
 *   training step   TRAIN forward + Q-target forward (the same without the LM head; only when
 *                   halt_max_steps > 1) + backward of the last L and the last H pass and of the
 *                   heads: 2 x (L_layers + H_layers) x block matmuls + (L_layers + H_layers) x
 *                   B heads 10 S^2 hd + 2 x (LM head + Q head)
 *   eval segment    one forward
 * TRM (docs/TRM.md "One supervision step"; T = H_cycles, n = L_cycles, one network of L_layers
 * blocks; the attention form's block is HRM's, the MLP form's replaces qkv, o_proj and the
 * attention by the token SwiGLU S -> It -> S over each channel's S positions):
 *   MLP-form block  Fb = R * 2D * 3I + B * D * 2S * 3It      channel SwiGLU; token gate_up + down
 *   network call    L_layers x Fb
 *   forward         T(n + 1) network calls (the T - 1 no-grad cycles included) + heads
 *   training step   forward + backward of the last cycle's n + 1 calls and of the heads:
 *                   (n + 1) x L_layers x (2 x block matmuls + B heads 10 S^2 hd, attention form)
 *                   + 2 x (LM head + Q head); no Q-target forward (no_ACT_continue)
 *   eval segment    one forward
 * (the published Sudoku TRM: 28.6 GFLOP forward + 19.2 backward = 47.8 GFLOP per sample, 21
 * network calls; the EMA update and the n additions into the gradient of x are not counted)
 * Per sample: divide by B. */
typedef struct model_flops {
    double train_step, eval_segment; /* the whole batch */
} model_flops;

static model_flops count_flops(const hrm_config *c, int B) {
    double D = c->hidden_size, In = hrm_config_intermediate(c), S = hrm_config_full_seq(c);
    double R = B * S, L = c->seq_len, V = c->vocab_size;
    double heads = 2 * B * L * D * V + 2.0 * B * D * 2;
    double block_mm = R * 2 * D * (3 * D + D + 2 * In + In);
    double attn_fwd = 4.0 * B * S * S * D, attn_bwd = 10.0 * B * S * S * D;
    if (c->arch == HRM_ARCH_TRM) {
        double T = c->H_cycles, n = c->L_cycles;
        if (c->mlp_t) {
            block_mm = R * 2 * D * 3 * In + B * D * 2 * S * 3.0 * hrm_config_token_intermediate(c);
            attn_fwd = attn_bwd = 0;
        }
        double call = c->L_layers * (block_mm + attn_fwd);
        double forward = T * (n + 1) * call + heads;
        double backward = (n + 1) * c->L_layers * (2 * block_mm + attn_bwd) + 2 * heads;
        model_flops f = {forward + backward, forward};
        return f;
    }
    double N = c->H_cycles, T = c->L_cycles;
    double level_L = c->L_layers * (block_mm + attn_fwd), level_H = c->H_layers * (block_mm + attn_fwd);
    double forward_no_heads = N * T * level_L + N * level_H;
    double q_target = c->halt_max_steps > 1 ? forward_no_heads + 2.0 * B * D * 2 : 0;
    double backward = (c->L_layers + c->H_layers) * (2 * block_mm + attn_bwd) + 2 * heads;
    model_flops f = {forward_no_heads + heads + q_target + backward, forward_no_heads + heads};
    return f;
}

void bench_model_flops(int model, int batch, double *train_step, double *eval_segment) {
    const model_spec *sp = &specs[model];
    hrm_config c = spec_config(sp, sp->H_cycles, sp->L_cycles);
    model_flops f = count_flops(&c, batch);
    *train_step = f.train_step;
    *eval_segment = f.eval_segment;
}

/* ---- one model -------------------------------------------------------------------------------- */

typedef struct model_result {
    const model_spec *spec;
    hrm_config cfg;
    int batch;
    int64_t params;
    model_flops flops;
    timing train, eval;
    double qkv_gflops;              /* cblas_sgemm at this model's qkv shape, for reference */
    hrm_matmul_precision precision; /* what the products ran in */
    uint64_t mem_run;               /* backend memory_usage peak after the timed steps; 0 = not reported */
    /* the memory check: backend memory_usage peaks at (mem_H[i], mem_L[i]) cycles, mem_runs of them
     * (0: not run). HRM: 2x2, then MEMORY_CYCLES^2. TRM: T = 1, then T = MEMORY_TRM_T, at the
     * model's n; then n = MEMORY_TRM_N at T = 1. */
    uint64_t mem_peak[MEMORY_RUNS];
    int mem_H[MEMORY_RUNS], mem_L[MEMORY_RUNS], mem_runs;
} model_result;

typedef struct run_opts {
    const char *backend;
    int device, batch, steps, no_memory;
    double min_time;
    hrm_matmul_precision precision;
} run_opts;

/* What one model needs on one opened device. */
typedef struct session {
    hrm_ctx ctx;
    hrm_model *model;
    hrm_act *train, *eval;
    int32_t *inputs, *labels, *puzzle_ids;
    hrm_act_batch batch;
    int eval_segment; /* the next one, cycling through halt_max_steps */
    char err[640];
} session;

static void session_close(session *s) {
    hrm_act_free(s->train);
    hrm_act_free(s->eval);
    hrm_model_free(s->model);
    free(s->inputs);
    free(s->labels);
    free(s->puzzle_ids);
    if (s->ctx.f) hrm_ctx_close(&s->ctx);
    memset(&s->ctx, 0, sizeof s->ctx);
    s->train = s->eval = NULL;
    s->model = NULL;
    s->inputs = s->labels = s->puzzle_ids = NULL;
}

/* Opens the device, builds the model (random init), the training and evaluation states and a
 * synthetic batch. Returns 0 with s->err set on failure. */
static int session_open(session *s, const bench_model_opts *o, const hrm_config *cfg, int B) {
    char err[512];
    memset(s, 0, sizeof *s);
    hrm_status st = hrm_ctx_open(o->backend, o->device, hrm_default_host(), &s->ctx, err, sizeof err);
    if (st != HRM_OK) {
        snprintf(s->err, sizeof s->err, "%s", err);
        memset(&s->ctx, 0, sizeof s->ctx);
        return 0;
    }
    st = hrm_model_create(&s->ctx, cfg, B, &s->model, err, sizeof err);
    if (st != HRM_OK) {
        snprintf(s->err, sizeof s->err, "%s", err);
        return 0;
    }
    hrm_model_set_matmul_precision(s->model, o->precision);
    if (hrm_model_init_params(s->model, 0) != HRM_OK) {
        snprintf(s->err, sizeof s->err, "model init: %s", hrm_model_error(s->model));
        return 0;
    }
    hrm_train_settings ts = hrm_train_settings_default();
    ts.global_batch_size = B;
    ts.ema = cfg->arch == HRM_ARCH_TRM; /* as every published TRM command line (ema=True) */
    ts.lr_warmup_steps = 0;
    ts.total_steps = 1000000;
    st = hrm_act_create(&s->ctx, s->model, B, &ts, true, &s->train, err, sizeof err);
    if (st == HRM_OK) st = hrm_act_create(&s->ctx, s->model, B, &ts, false, &s->eval, err, sizeof err);
    if (st != HRM_OK) {
        snprintf(s->err, sizeof s->err, "act: %s", err);
        return 0;
    }
    size_t n = (size_t)B * (size_t)cfg->seq_len;
    s->inputs = malloc(n * sizeof *s->inputs);
    s->labels = malloc(n * sizeof *s->labels);
    s->puzzle_ids = calloc((size_t)B, sizeof *s->puzzle_ids);
    if (!s->inputs || !s->labels || !s->puzzle_ids) {
        snprintf(s->err, sizeof s->err, "out of host memory");
        return 0;
    }
    uint32_t seed = 12345u;
    for (size_t i = 0; i < 2 * n; i++) {
        seed = seed * 1664525u + 1013904223u;
        int32_t tok = 1 + (int32_t)((seed >> 8) % (uint32_t)(cfg->vocab_size - 1));
        if (i < n)
            s->inputs[i] = tok;
        else
            s->labels[i - n] = tok;
    }
    s->batch = (hrm_act_batch){s->inputs, s->labels, s->puzzle_ids};
    return 1;
}

static hrm_status run_train_step(bench *b, const void *arg) {
    session *s = (session *)arg;
    (void)b;
    hrm_act_metrics mt;
    hrm_status st = hrm_act_train_step(s->train, &s->batch, &mt);
    if (st != HRM_OK) snprintf(s->err, sizeof s->err, "train step: %s", hrm_act_error(s->train));
    return st;
}

static hrm_status run_eval_segment(bench *b, const void *arg) {
    session *s = (session *)arg;
    (void)b;
    int M = hrm_model_config(s->model)->halt_max_steps;
    hrm_act_metrics mt;
    hrm_status st = hrm_act_eval_segment(s->eval, &s->batch, s->eval_segment, M, NULL, &mt);
    if (st != HRM_OK) snprintf(s->err, sizeof s->err, "eval segment: %s", hrm_act_error(s->eval));
    s->eval_segment = (s->eval_segment + 1) % M;
    return st;
}

/* "2x2" (HRM) or "T=1, n=6" (TRM) */
static void cycles_label(const model_spec *sp, int H_cycles, int L_cycles, char *out, size_t size) {
    if (sp->arch == HRM_ARCH_TRM)
        snprintf(out, size, "T=%d, n=%d", H_cycles, L_cycles);
    else
        snprintf(out, size, "%dx%d", H_cycles, L_cycles);
}

int bench_model_memory(const bench_model_opts *o, int model, int B, int H_cycles, int L_cycles, uint64_t *peak,
                       char *err, size_t err_size) {
    session s;
    const model_spec *sp = &specs[model];
    hrm_config cfg = spec_config(sp, H_cycles, L_cycles);
    char at[32];
    cycles_label(sp, H_cycles, L_cycles, at, sizeof at);
    int ok = session_open(&s, o, &cfg, B);
    if (o->prog)
        fprintf(stderr, "%s: %s: memory at %s%s ...\n", o->prog, sp->name,
                sp->arch == HRM_ARCH_TRM ? "" : "H_cycles x L_cycles = ", at);
    if (ok) ok = run_train_step(NULL, &s) == HRM_OK && run_eval_segment(NULL, &s) == HRM_OK;
    uint64_t cur = 0;
    if (ok && s.ctx.f->memory_usage(s.ctx.dev, &cur, peak) != HRM_OK) {
        snprintf(s.err, sizeof s.err, "memory_usage: %s", s.ctx.f->last_error(s.ctx.be));
        ok = 0;
    }
    if (!ok) snprintf(err, err_size, "%s at %s cycles: %s", sp->name, at, s.err);
    session_close(&s);
    return ok;
}

/* cblas_sgemm at the qkv projection's shape: [B*S, D] x [3D, D]^T. */
static double qkv_rate(bench *b, const hrm_config *c, int B) {
    int R = B * hrm_config_full_seq(c), D = c->hidden_size;
    hrm_matmul_args a = {
        .trans_b = 1, .m = R, .n = 3 * D, .k = D, .alpha = 1, .lda = D, .ldb = D, .ldc = 3 * D, .batch = 1};
    return bench_openblas_rate(b, &a, 2.0 * R * 3.0 * D * D);
}

int bench_model_throughput(bench *b, const bench_model_opts *o, int model, bench_model_result *r) {
    const model_spec *sp = &specs[model];
    memset(r, 0, sizeof *r);
    r->model = model;
    r->batch = o->batch ? o->batch : sp->batch;
    r->H_cycles = sp->H_cycles;
    r->L_cycles = sp->L_cycles;
    hrm_config cfg = spec_config(sp, r->H_cycles, r->L_cycles);
    bench_model_flops(model, r->batch, &r->train_flops, &r->eval_flops);
    session s;
    int ok = session_open(&s, o, &cfg, r->batch);
    if (ok) {
        b->ctx = s.ctx;
        b->f = s.ctx.f;
        b->status = HRM_OK;
        b->min_time = o->min_time;
        r->params = hrm_params_count(hrm_model_params_table(s.model));
        r->precision = hrm_model_matmul_precision(s.model);
        if (o->prog)
            fprintf(stderr, "%s: %s: %lld parameters, batch %d: training steps ...\n", o->prog, sp->name,
                    (long long)r->params, r->batch);
        ok = bench_time_calls(b, run_train_step, &s, 1, o->min_reps, "train step", &r->train);
        if (ok) {
            if (o->prog)
                fprintf(stderr, "%s: %s: %.2f samples/s; evaluation segments ...\n", o->prog, sp->name,
                        r->batch / r->train.median_s);
            ok = bench_time_calls(b, run_eval_segment, &s, 1, o->min_reps, "eval segment", &r->eval);
        }
        if (ok) {
            if (o->prog) fprintf(stderr, "%s: %s: %.2f samples/s\n", o->prog, sp->name, r->batch / r->eval.median_s);
            uint64_t cur;
            if (s.ctx.f->memory_usage(s.ctx.dev, &cur, &r->mem_peak) != HRM_OK) r->mem_peak = 0;
            if (o->qkv_reference) {
                b->min_time = 0.5;
                r->qkv_gflops = qkv_rate(b, &cfg, r->batch);
            }
        }
        if (!ok && !s.err[0]) snprintf(s.err, sizeof s.err, "%s", b->error);
    }
    if (!ok) snprintf(r->error, sizeof r->error, "%s", s.err);
    memset(&b->ctx, 0, sizeof b->ctx);
    b->f = NULL;
    session_close(&s);
    return ok;
}

static int run_model(bench *b, const char *prog, const run_opts *o, const model_spec *sp, model_result *r) {
    bench_model_opts mo = {.backend = o->backend,
                           .device = o->device,
                           .batch = o->batch,
                           .min_reps = o->steps,
                           .min_time = o->min_time,
                           .qkv_reference = 1,
                           .prog = prog,
                           .precision = o->precision};
    bench_model_result m;
    char err[640];
    int model = (int)(sp - specs);
    memset(r, 0, sizeof *r);
    r->spec = sp;
    r->batch = o->batch ? o->batch : sp->batch;
    r->cfg = spec_config(sp, sp->H_cycles, sp->L_cycles);
    r->flops = count_flops(&r->cfg, r->batch);
    if (!bench_model_throughput(b, &mo, model, &m)) {
        cli_error(prog, "%s: %s", sp->name, m.error);
        return 0;
    }
    r->params = m.params;
    r->train = m.train;
    r->eval = m.eval;
    r->qkv_gflops = m.qkv_gflops;
    r->precision = m.precision;
    r->mem_run = m.mem_peak;
    if (o->no_memory) return 1;
    /* each configuration on a fresh device: the same sequence of calls */
    if (sp->arch == HRM_ARCH_TRM) {
        int H[] = {1, MEMORY_TRM_T, 1}, L[] = {sp->L_cycles, sp->L_cycles, MEMORY_TRM_N};
        r->mem_runs = 3;
        memcpy(r->mem_H, H, sizeof H);
        memcpy(r->mem_L, L, sizeof L);
    } else {
        int H[] = {2, MEMORY_CYCLES}, L[] = {2, MEMORY_CYCLES};
        r->mem_runs = 2;
        memcpy(r->mem_H, H, sizeof H);
        memcpy(r->mem_L, L, sizeof L);
    }
    for (int i = 0; i < r->mem_runs; i++)
        if (!bench_model_memory(&mo, model, r->batch, r->mem_H[i], r->mem_L[i], &r->mem_peak[i], err, sizeof err)) {
            cli_error(prog, "%s", err);
            r->mem_runs = 0;
            return 0;
        }
    return 1;
}

/* ---- the peak ------------------------------------------------------------------------------- */

/* The MFU denominator: the GEMM probe of `hrm bench` on the device the models run on. */
typedef struct device_peak {
    bench_run run;        /* gemm_n, gemm_largest, peak_gflops (the better of the two probes) */
    bench_result result;  /* run's one slot: "peak gemm fp32" of the first probe */
    double before, after; /* the medians of the probes before and after the models */
    hrm_device_info info;
    char backend[64];                      /* the plugin's name */
    hrm_matmul_precision asked, precision; /* --matmul-precision, and what the device runs */
    char supported[64];                    /* the device's precisions, e.g. "highest, medium" */
    char plugin[4200];                     /* "name (path)" */
} device_peak;

/* Opens the device for a probe, with the probe's time bounds. */
static int peak_open(bench *b, const char *prog, const run_opts *o) {
    char err[512];
    if (hrm_ctx_open(o->backend, o->device, hrm_default_host(), &b->ctx, err, sizeof err) != HRM_OK) {
        cli_error(prog, "%s", err);
        return 0;
    }
    b->f = b->ctx.f;
    b->status = HRM_OK;
    b->min_time = PEAK_MIN_TIME;
    b->min_reps = PEAK_MIN_REPS;
    b->max_time = PEAK_MAX_TIME;
    b->precision_asked = o->precision;
    bench_settle_precision(b);
    return 1;
}

/* The models' calls are bounded by --steps and --min-time, not by the probe's max_time. */
static void peak_close(bench *b) {
    hrm_ctx_close(&b->ctx); /* zeroes b->ctx */
    b->f = NULL;
    b->min_reps = 0;
    b->max_time = 0;
}

/* The first probe picks the GEMM size (bench_peak_gemm) and names the device. */
static int peak_before(bench *b, const char *prog, const run_opts *o, device_peak *p) {
    memset(p, 0, sizeof *p);
    if (!peak_open(b, prog, o)) return 0;
    const hrm_ctx *ctx = &b->ctx;
    if (ctx->f->device_info(ctx->be, ctx->device_index, &p->info) != HRM_OK)
        snprintf(p->info.name, sizeof p->info.name, "(no device info: %s)", ctx->f->last_error(ctx->be));
    snprintf(p->backend, sizeof p->backend, "%s", ctx->plugin.name);
    snprintf(p->plugin, sizeof p->plugin, "%s (%s)", ctx->plugin.name, ctx->plugin.path);
    p->run.results = &p->result;
    p->run.cap = 1;
    p->precision = b->precision;
    p->asked = o->precision;
    cli_precision_list(hrm_ctx_matmul_precisions(ctx), p->supported, sizeof p->supported);
    fprintf(stderr, "%s: %s: peak %s GEMM of %s ...\n", prog, p->backend, hrm_precision_format(p->precision),
            p->info.name);
    bench_peak_gemm(b, &p->run);
    peak_close(b);
    p->before = p->run.peak_gflops;
    if (p->before > 0) return 1;
    cli_error(prog, "%s: peak GEMM probe: %s", p->backend, p->result.reason[0] ? p->result.reason : "no result");
    return 0;
}

/* The same size again after the models: a shared machine's load comes and goes, so the better
 * median is the peak, as in `hrm bench`. */
static int peak_after(bench *b, const char *prog, const run_opts *o, device_peak *p) {
    bench_result again;
    if (!peak_open(b, prog, o)) return 0;
    fprintf(stderr, "%s: %s: peak %s GEMM again ...\n", prog, p->backend, hrm_precision_format(p->precision));
    int ok = bench_peak_gemm_again(b, &p->run, &again);
    peak_close(b);
    if (!ok) {
        cli_error(prog, "%s: peak GEMM probe after the models: %s", p->backend,
                  again.reason[0] ? again.reason : "no result");
        return 0;
    }
    p->after = again.median;
    if (p->after > p->run.peak_gflops) p->run.peak_gflops = p->after;
    return 1;
}

/* ---- report ------------------------------------------------------------------------------- */

static double sps(const model_result *r, const timing *t) { return t->median_s > 0 ? r->batch / t->median_s : 0; }
static double gflops(double flops, const timing *t) { return t->median_s > 0 ? flops / t->median_s * 1e-9 : 0; }
static double mib(uint64_t bytes) { return (double)bytes / (1024.0 * 1024.0); }
/* TRM: bytes per z-update, from n = MEMORY_TRM_N to the model's n at T = 1 (linear in n + 1) */
static double trm_per_update(const model_result *r) {
    int dn = r->mem_L[0] - r->mem_L[2];
    return dn ? ((double)r->mem_peak[0] - (double)r->mem_peak[2]) / dn : 0;
}

static void print_report(const model_result *rs, int n, const device_peak *p) {
    double peak = p->run.peak_gflops;
    printf("hrm bench train: backend %s\n", p->plugin);
    printf("device: %s | %s | %d compute units\n", p->info.name, p->info.driver, p->info.compute_units);
    printf("matmul precision: %s (%s operands, fp32 accumulation)", hrm_precision_name(p->precision),
           hrm_precision_format(p->precision));
    if (p->asked != p->precision)
        printf("; %s asked, which this device has no unit for (it runs: %s)", hrm_precision_name(p->asked),
               p->supported);
    printf("\npeak: %s GEMM of this device through the %s backend, as `hrm bench` measures it: %.1f GFLOP/s "
           "(%s; the better median of the probes before, %.1f, and after the models, %.1f)\n",
           hrm_precision_format(p->precision), p->backend, peak, p->result.detail, p->before, p->after);
    printf("a sample = one sequence through one segment (training: + its share of the optimizer step);\n"
           "rates from the median step; MFU = model FLOP/s / the device's GEMM peak at that precision\n\n");
    /* the name column fits the longest name (7, as it always was, for the HRM models alone); the
     * memory columns say HRM's cycles unless a TRM model is in the table */
    int name_w = 7, any_trm = 0;
    for (int i = 0; i < n; i++) {
        int len = (int)strlen(rs[i].spec->name);
        if (len > name_w) name_w = len;
        any_trm |= rs[i].spec->arch == HRM_ARCH_TRM;
    }
    printf("%-*s %10s %5s %11s %11s %11s %11s %10s %10s %8s %8s %10s %10s\n", name_w, "model", "params", "batch",
           "train smp/s", "ms/step", "eval smp/s", "ms/segment", "GFLOP/smp", "train GF/s", "MFU trn", "MFU eval",
           any_trm ? "mem lo" : "mem 2x2", any_trm ? "mem hi" : "mem 8x8");
    for (int i = 0; i < n; i++) {
        const model_result *r = &rs[i];
        printf("%-*s %10lld %5d %11.2f %11.1f %11.2f %11.1f %10.2f %10.1f %7.1f%% %7.1f%% ", name_w, r->spec->name,
               (long long)r->params, r->batch, sps(r, &r->train), 1e3 * r->train.median_s, sps(r, &r->eval),
               1e3 * r->eval.median_s, r->flops.train_step / r->batch * 1e-9, gflops(r->flops.train_step, &r->train),
               100 * gflops(r->flops.train_step, &r->train) / peak,
               100 * gflops(r->flops.eval_segment, &r->eval) / peak);
        if (r->mem_runs)
            printf("%7.1f MiB %7.1f MiB\n", mib(r->mem_peak[0]), mib(r->mem_peak[1]));
        else
            printf("%10s %10s\n", "-", "-");
    }
    if (any_trm)
        printf("mem lo, mem hi: peak training memory at HRM's 2x2 and %dx%d cycles, at TRM's T = 1 and %d (n as "
               "the model's); TRM's n = %d below\n",
               MEMORY_CYCLES, MEMORY_CYCLES, MEMORY_TRM_T, MEMORY_TRM_N);
    for (int i = 0; i < n; i++) {
        const model_result *r = &rs[i];
        printf("\n%s: %s, seq 81 + %d prefix, batch %d; training %d steps timed (median %.1f ms, min %.1f ms), "
               "evaluation %d segments (median %.1f ms, min %.1f ms); eval GFLOP/sample %.2f; cblas_sgemm at "
               "the qkv shape %.1f GFLOP/s",
               r->spec->name, r->spec->about, hrm_config_prefix(&r->cfg), r->batch, r->train.reps,
               1e3 * r->train.median_s, 1e3 * r->train.min_s, r->eval.reps, 1e3 * r->eval.median_s, 1e3 * r->eval.min_s,
               r->flops.eval_segment / r->batch * 1e-9, r->qkv_gflops);
        if (r->mem_run) printf("; backend peak memory of the timed run %llu bytes", (unsigned long long)r->mem_run);
        if (r->mem_runs && r->spec->arch == HRM_ARCH_TRM)
            printf("; backend peak memory %llu bytes at T=1, %llu at T=%d (n=%d): %s; %llu bytes at n=%d (T=1): "
                   "%.2f MiB per z-update",
                   (unsigned long long)r->mem_peak[0], (unsigned long long)r->mem_peak[1], r->mem_H[1], r->mem_L[1],
                   r->mem_peak[1] > r->mem_peak[0] ? "GROWS with T" : "does not grow with T",
                   (unsigned long long)r->mem_peak[2], r->mem_L[2], trm_per_update(r) / (1024.0 * 1024.0));
        else if (r->mem_runs)
            printf("; backend peak memory %llu bytes at 2x2, %llu at %dx%d: %s", (unsigned long long)r->mem_peak[0],
                   (unsigned long long)r->mem_peak[1], r->mem_H[1], r->mem_L[1],
                   r->mem_peak[1] > r->mem_peak[0] ? "GROWS" : "does not grow");
        printf("\n");
    }
}

static json_t *number(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static json_t *result_json(const model_result *r, double peak) {
    const hrm_config *c = &r->cfg;
    json_t *o = json_pack("{s:s, s:I, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "model", r->spec->name, "params",
                          (json_int_t)r->params, "batch", r->batch, "hidden", c->hidden_size, "heads", c->num_heads,
                          "H_layers", c->H_layers, "L_layers", c->L_layers, "H_cycles", c->H_cycles, "L_cycles",
                          c->L_cycles, "seq_len", c->seq_len, "full_seq", hrm_config_full_seq(c));
    json_object_set_new(o, "arch", json_string(c->arch == HRM_ARCH_TRM ? "trm" : "hrm"));
    if (c->arch == HRM_ARCH_TRM) {
        json_object_set_new(o, "puzzle_emb_len", json_integer(c->puzzle_emb_len));
        json_object_set_new(o, "mlp_t", json_boolean(c->mlp_t));
    }
    json_object_set_new(o, "train_samples_per_s", number(sps(r, &r->train)));
    json_object_set_new(o, "eval_samples_per_s", number(sps(r, &r->eval)));
    json_object_set_new(o, "train_step_median_s", number(r->train.median_s));
    json_object_set_new(o, "train_step_min_s", number(r->train.min_s));
    json_object_set_new(o, "train_steps_timed", json_integer(r->train.reps));
    json_object_set_new(o, "eval_segment_median_s", number(r->eval.median_s));
    json_object_set_new(o, "eval_segment_min_s", number(r->eval.min_s));
    json_object_set_new(o, "eval_segments_timed", json_integer(r->eval.reps));
    json_object_set_new(o, "train_flops_per_sample", number(r->flops.train_step / r->batch));
    json_object_set_new(o, "eval_flops_per_sample", number(r->flops.eval_segment / r->batch));
    json_object_set_new(o, "train_gflops", number(gflops(r->flops.train_step, &r->train)));
    json_object_set_new(o, "eval_gflops", number(gflops(r->flops.eval_segment, &r->eval)));
    json_object_set_new(o, "mfu_train", number(gflops(r->flops.train_step, &r->train) / peak));
    json_object_set_new(o, "mfu_eval", number(gflops(r->flops.eval_segment, &r->eval) / peak));
    json_object_set_new(o, "sgemm_qkv_shape_gflops", number(r->qkv_gflops));
    json_object_set_new(o, "matmul_precision", json_string(hrm_precision_name(r->precision)));
    if (r->mem_run) json_object_set_new(o, "memory_peak_bytes", json_integer((json_int_t)r->mem_run));
    if (r->mem_runs && r->spec->arch == HRM_ARCH_TRM) {
        /* memory_grows: with T, which it must not; with n it grows, by memory_per_z_update_bytes */
        char key[64];
        for (int i = 0; i < r->mem_runs; i++) {
            snprintf(key, sizeof key, "memory_peak_bytes_T%d_n%d", r->mem_H[i], r->mem_L[i]);
            json_object_set_new(o, key, json_integer((json_int_t)r->mem_peak[i]));
        }
        json_object_set_new(o, "memory_grows", json_boolean(r->mem_peak[1] > r->mem_peak[0]));
        json_object_set_new(o, "memory_per_z_update_bytes", number(trm_per_update(r)));
    } else if (r->mem_runs) {
        json_object_set_new(o, "memory_peak_bytes_2x2", json_integer((json_int_t)r->mem_peak[0]));
        json_object_set_new(o, "memory_peak_bytes_8x8", json_integer((json_int_t)r->mem_peak[1]));
        json_object_set_new(o, "memory_grows", json_boolean(r->mem_peak[1] > r->mem_peak[0]));
    }
    return o;
}

/* "peak" says which peak the MFU is against; n and gflops are where older readers found them. */
static json_t *peak_json(const device_peak *p) {
    return json_pack("{s:s, s:s, s:s, s:i, s:i, s:o, s:o, s:o, s:s, s:s, s:s, s:s, s:s}", "kind", "backend_gemm",
                     "backend", p->backend, "device", p->info.name, "n", p->run.gemm_n, "largest_n",
                     p->run.gemm_largest, "gflops", number(p->run.peak_gflops), "gflops_before", number(p->before),
                     "gflops_after", number(p->after), "detail", p->result.detail, "matmul_precision",
                     hrm_precision_name(p->precision), "matmul_precision_asked", hrm_precision_name(p->asked),
                     "operands", hrm_precision_format(p->precision), "device_precisions", p->supported);
}

static int write_json(const char *prog, const char *path, const model_result *rs, int n, const device_peak *p) {
    const hrm_device_info *info = &p->info;
    json_t *models = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(models, result_json(&rs[i], p->run.peak_gflops));
    json_t *root = json_pack("{s:i, s:s, s:s, s:{s:s, s:s, s:i}, s:o, s:o}", "format_version", 1, "hrm_version",
                             HRM_VERSION, "backend", p->plugin, "device", "name", info->name, "driver", info->driver,
                             "threads", info->compute_units, "peak", peak_json(p), "models", models);
    int ok = root && json_dump_file(root, path, JSON_INDENT(2)) == 0;
    if (!ok) cli_error(prog, "%s: cannot write the JSON report", path);
    json_decref(root);
    return ok;
}

/* ---- the command ------------------------------------------------------------------------------ */

enum { OPT_BACKEND, OPT_DEVICE, OPT_MODEL, OPT_BATCH, OPT_STEPS, OPT_JSON, OPT_NO_MEMORY, OPT_PRECISION, NUM_OPTS };
static const cli_opt options[NUM_OPTS] = {
    [OPT_BACKEND] = {"--backend", "B", "cpu, opencl, auto or PATH.so (default: $HRM_BACKEND, else auto)"},
    [OPT_DEVICE] = {"--device", "D", "device index, or a part of its name or platform name (default 0)"},
    [OPT_MODEL] = {"--model", "M", "small, sudoku, trm, trm-small, a comma-separated list of them, both or all"},
    [OPT_BATCH] = {"--batch", "N", "batch of every model (default: 32 for small and trm-small, else 8)"},
    [OPT_STEPS] = {"--steps", "K", "timed training steps and eval segments: exactly K (default: >= 5 and >= 2 s)"},
    [OPT_JSON] = {"--json", "FILE", "also write the results as JSON to FILE"},
    [OPT_NO_MEMORY] = {"--no-memory", NULL, "skip the memory check (HRM: 2x2 vs 8x8 cycles; TRM: T 1 vs 4, n 2)"},
    [OPT_PRECISION] = {"--matmul-precision", "P",
                       "highest (fp32, default), high (tf32) or medium (bf16) operands of\n"
                       "the models' products and of the peak probe"},
};

static const char *about =
    "Training and evaluation throughput of whole models, built in memory (random init, synthetic\n"
    "Sudoku-shaped tokens). HRM: 'small' (hidden 128, 2+2 layers, batch 32) and 'sudoku' (the\n"
    "published 27M model, batch 8), H_cycles = L_cycles = 2; a training step is hrm_act_train_step\n"
    "(TRAIN forward, Q-target forward, losses, backward, SignSGD + AdamATan2). TRM (arch=trm, T 3,\n"
    "n 6, puzzle_emb_len 16): 'trm' (the published Sudoku attention form, 7M, batch 8) and\n"
    "'trm-small' (hidden 128, batch 32); a training step is one supervision step (T(n+1) network\n"
    "calls, backward through the last n+1, no Q-target forward), SignSGD + AdamATan2 and the EMA\n"
    "update. Evaluation times segments.\n"
    "Reports samples/s, model FLOPs per sample, MFU against the GEMM peak of the device it ran\n"
    "on at the same --matmul-precision (as `hrm bench` measures it: a square matmul through the\n"
    "same backend, sized to the device, probed before and after the models, the better median;\n"
    "bounded to seconds on slow devices), and the backend's peak training memory as the cycles\n"
    "change: HRM at 2x2 and 8x8 cycles (it must not grow); TRM at T = 1 and 4 (it must not grow)\n"
    "and at n = 2 against the model's n (it grows, linearly in n + 1: the bytes per z-update).\n"
    "--model both (the default) runs small and sudoku, all every model.\n"
    "--json FILE names the peak: \"peak\": {\"kind\": \"backend_gemm\", \"backend\", \"device\", \"n\",\n"
    "\"gflops\", ...}. scripts/bench-vs-torch.sh runs it beside the PyTorch reference (CPU or GPU).";

/* --model: a name, a comma-separated list of names, both or all; the indices into *sel, in the
 * order given, each once. Returns 0 (with one line said) on an unknown name. */
static int select_models(const char *prog, const char *arg, int *sel, int *n) {
    *n = 0;
    if (!arg || !strcmp(arg, "both") || !strcmp(arg, "all")) {
        int last = arg && !strcmp(arg, "all") ? NUM_SPECS : BENCH_SUITE_MODELS;
        for (int i = 0; i < last; i++) sel[(*n)++] = i;
        return 1;
    }
    char name[64];
    for (const char *p = arg;;) {
        size_t len = strcspn(p, ",");
        snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), p);
        int m = len < sizeof name ? bench_model_find(name) : -1;
        if (m < 0) {
            cli_error(prog, "--model: '%.*s' is not small, sudoku, trm, trm-small, both or all", (int)len, p);
            return 0;
        }
        int seen = 0;
        for (int i = 0; i < *n; i++) seen |= sel[i] == m;
        if (!seen) sel[(*n)++] = m;
        if (!p[len]) return 1;
        p += len + 1;
    }
}

int cmd_bench_train(const char *prog, int argc, char **argv) {
    const char *v[NUM_OPTS];
    int r = cli_parse(prog, options, NUM_OPTS, argc, argv, v);
    if (r == CLI_HELP) {
        cli_usage(stdout, prog,
                  "[--backend B] [--device N] [--model M[,M...]|both|all] [--batch N] [--steps K] [--json FILE] "
                  "[--no-memory] [--matmul-precision P]",
                  about, options, NUM_OPTS);
        return CLI_EXIT_OK;
    }
    if (r == CLI_BAD) return CLI_EXIT_USAGE;
    run_opts o = {.backend = v[OPT_BACKEND],
                  .steps = DEFAULT_STEPS,
                  .min_time = DEFAULT_MIN_TIME,
                  .no_memory = v[OPT_NO_MEMORY] != NULL};
    if (!cli_device(prog, v[OPT_BACKEND], v[OPT_DEVICE], &o.device)) return CLI_EXIT_USAGE;
    if (v[OPT_BATCH] && !cli_int(prog, "--batch", v[OPT_BATCH], 1, 4096, &o.batch)) return CLI_EXIT_USAGE;
    if (!cli_precision(prog, "--matmul-precision", v[OPT_PRECISION], &o.precision)) return CLI_EXIT_USAGE;
    if (v[OPT_STEPS]) {
        if (!cli_int(prog, "--steps", v[OPT_STEPS], 1, BENCH_MAX_REPS, &o.steps)) return CLI_EXIT_USAGE;
        o.min_time = 0;
    }
    int sel[NUM_SPECS], num_sel;
    if (!select_models(prog, v[OPT_MODEL], sel, &num_sel)) return CLI_EXIT_USAGE;

    bench *b = calloc(1, sizeof *b);
    device_peak *peak = calloc(1, sizeof *peak);
    model_result results[NUM_SPECS];
    if (!b || !peak || !(b->times = malloc(BENCH_MAX_REPS * sizeof *b->times))) {
        cli_error(prog, "out of memory");
        free(b);
        free(peak);
        return CLI_EXIT_FAIL;
    }
    int ok = peak_before(b, prog, &o, peak), n = 0;
    for (int i = 0; ok && i < num_sel; i++) ok = run_model(b, prog, &o, &specs[sel[i]], &results[n++]);
    if (ok) ok = peak_after(b, prog, &o, peak);
    if (ok) print_report(results, n, peak);
    if (ok && v[OPT_JSON]) ok = write_json(prog, v[OPT_JSON], results, n, peak);
    free(b->times);
    free(b);
    free(peak);
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
