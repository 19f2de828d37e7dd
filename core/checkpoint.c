/* core/checkpoint.c - weights files and training-state files (checkpoint.h), both safetensors. */
#include "checkpoint.h"

#include "io_util.h"
#include "safetensors.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_FORMAT "hrm-train-state"
#define EXACT_INT_LIMIT 16777216.0 /* 2^24: integers below it are exact in float32 */

/* ---- weights ----------------------------------------------------------------------------- */

void hrm_checkpoint_free(hrm_checkpoint *ck) {
    hrm_params_free(&ck->table);
    free(ck->params);
    free(ck->train_json);
    memset(ck, 0, sizeof *ck);
}

static int same_shape(const hrm_st_tensor *t, const hrm_param *p) {
    if (t->ndim != p->ndim) return 0;
    for (int d = 0; d < p->ndim; d++)
        if (t->shape[d] != p->shape[d]) return 0;
    return 1;
}

/* Copies every tensor of the table out of f; f must hold exactly those. */
static hrm_status take_params(const char *path, const hrm_st_file *f, hrm_checkpoint *ck, char *err, size_t err_size) {
    char want[64], got[64];
    for (int i = 0; i < ck->table.count; i++) {
        const hrm_param *p = &ck->table.params[i];
        const hrm_st_tensor *t = hrm_st_find(f, p->name);
        if (!t) return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "tensor %s is missing", p->name);
        if (!same_shape(t, p))
            return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "tensor %s is %s, hrm.config needs %s",
                               p->name, hrm_shape_str(got, sizeof got, t->ndim, t->shape),
                               hrm_shape_str(want, sizeof want, p->ndim, p->shape));
        memcpy(ck->params + p->offset, t->data, (size_t)p->numel * sizeof(float));
    }
    for (int i = 0; i < f->count; i++)
        if (!hrm_params_find(&ck->table, f->tensors[i].name))
            return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path,
                               "tensor %s is not a parameter of the model hrm.config describes", f->tensors[i].name);
    return HRM_OK;
}

hrm_status hrm_checkpoint_read(const char *path, hrm_checkpoint *out, char *err, size_t err_size) {
    hrm_st_file f;
    char why[512];
    memset(out, 0, sizeof *out);
    hrm_status s = hrm_st_read(path, &f, err, err_size);
    if (s) return s;
    const char *json = hrm_st_meta(&f, "hrm.config"), *train = hrm_st_meta(&f, "hrm.train");
    if (!json)
        s = hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path,
                        "no hrm.config in the metadata (not an HRM checkpoint)");
    else if (hrm_config_parse(json, &out->cfg, why, sizeof why) || hrm_config_validate(&out->cfg, why, sizeof why))
        s = hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "hrm.config: %s", why);
    else if (hrm_params_build(&out->cfg, &out->table) ||
             !(out->params = calloc((size_t)out->table.total, sizeof(float))) ||
             (train && !(out->train_json = strdup(train))))
        s = hrm_io_fail(err, err_size, HRM_ERR_OUT_OF_MEMORY, path, "out of host memory");
    if (!s) s = take_params(path, &f, out, err, err_size);
    hrm_st_free(&f);
    if (s) hrm_checkpoint_free(out);
    return s;
}

hrm_status hrm_checkpoint_write(const char *path, const hrm_config *cfg, const hrm_param_table *t, const float *params,
                                const char *train_json, char *err, size_t err_size) {
    char *json = hrm_config_to_json(cfg);
    hrm_st_entry *e = calloc((size_t)t->count, sizeof *e);
    if (!json || !e) {
        free(json);
        free(e);
        return hrm_io_fail(err, err_size, HRM_ERR_OUT_OF_MEMORY, path, "out of host memory");
    }
    for (int i = 0; i < t->count; i++)
        e[i] = (hrm_st_entry){t->params[i].name, t->params[i].ndim, t->params[i].shape, params + t->params[i].offset};
    const char *keys[2] = {"hrm.config", "hrm.train"}, *values[2] = {json, train_json};
    hrm_status s = hrm_st_write(path, e, t->count, keys, values, train_json ? 2 : 1, err, err_size);
    free(json);
    free(e);
    return s;
}

hrm_status hrm_checkpoint_check_dataset(const hrm_config *cfg, const char *ckpt_path, const hrm_dataset_meta *meta,
                                        const char *dir, const char *split, char *err, size_t err_size) {
    const char *names[3] = {"vocab_size", "seq_len", "num_puzzle_identifiers"};
    int have[3] = {cfg->vocab_size, cfg->seq_len, cfg->num_puzzle_identifiers},
        want[3] = {meta->vocab_size, meta->seq_len, meta->num_puzzle_identifiers};
    for (int i = 0; i < 3; i++)
        if (have[i] != want[i]) {
            snprintf(err, err_size,
                     "%s: hrm.config has %s %d but %s/%s/dataset.json has %d: the checkpoint was not "
                     "trained on this dataset",
                     ckpt_path, names[i], have[i], dir, split, want[i]);
            return HRM_ERR_INVALID_ARG;
        }
    return HRM_OK;
}

/* ---- training state ------------------------------------------------------------------------ */

/* The state's tensors in host memory, all float32. */
typedef struct state_arrays {
    int64_t adam_n, carry_n, B, L;
    int ema;                     /* the run keeps an EMA: train.params is there */
    float *m, *v, *zH, *zL;      /* [adam_n] x2, [carry_n] x2 */
    float *params;               /* [adam_n] with ema: the trained weights (the checkpoint has the EMA) */
    float *steps, *halted, *ids; /* [B] */
    float *inputs, *labels;      /* [B, L] */
    float *arena;
} state_arrays;

static int state_alloc(state_arrays *sa, hrm_act *a) {
    const hrm_config *c = hrm_model_config(a->model);
    sa->adam_n = hrm_model_params_table(a->model)->adam_total;
    sa->B = a->global_B; /* several processes: the global batch's slots (act.h hrm_act_set_dist) */
    sa->L = c->seq_len;
    sa->carry_n = sa->B * hrm_config_full_seq(c) * c->hidden_size;
    sa->ema = a->training && a->settings.ema;
    size_t n = (size_t)((2 + sa->ema) * sa->adam_n + 2 * sa->carry_n + 3 * sa->B + 2 * sa->B * sa->L);
    sa->arena = malloc(n * sizeof(float));
    if (!sa->arena) return 0;
    float *p = sa->arena;
    sa->m = p, p += sa->adam_n;
    sa->v = p, p += sa->adam_n;
    sa->zH = p, p += sa->carry_n;
    sa->zL = p, p += sa->carry_n;
    sa->steps = p, p += sa->B;
    sa->halted = p, p += sa->B;
    sa->ids = p, p += sa->B;
    sa->inputs = p, p += sa->B * sa->L;
    sa->labels = p, p += sa->B * sa->L;
    sa->params = sa->ema ? p : NULL;
    return 1;
}

/* 9 tensors; a run with an EMA adds train.params */
enum { N_STATE_TENSORS = 10 };
static int state_tensors(const state_arrays *sa) { return N_STATE_TENSORS - 1 + sa->ema; }

/* The tensor table of a state file: names, shapes, and where their data lives. */
static void state_entries(state_arrays *sa, const hrm_act *a, int64_t shapes[N_STATE_TENSORS][3],
                          hrm_st_entry e[N_STATE_TENSORS]) {
    const hrm_config *c = hrm_model_config(a->model);
    int64_t S = hrm_config_full_seq(c), D = c->hidden_size;
    const char *names[N_STATE_TENSORS] = {"adam.m",       "adam.v",       "carry.zH",         "carry.zL",
                                          "slots.steps",  "slots.halted", "slots.puzzle_ids", "slots.inputs",
                                          "slots.labels", "train.params"};
    float *data[N_STATE_TENSORS] = {sa->m,      sa->v,   sa->zH,     sa->zL,     sa->steps,
                                    sa->halted, sa->ids, sa->inputs, sa->labels, sa->params};
    int ndim[N_STATE_TENSORS] = {1, 1, 3, 3, 1, 1, 1, 2, 2, 1};
    int64_t sh[N_STATE_TENSORS][3] = {{sa->adam_n}, {sa->adam_n}, {sa->B, S, D},  {sa->B, S, D},  {sa->B},
                                      {sa->B},      {sa->B},      {sa->B, sa->L}, {sa->B, sa->L}, {sa->adam_n}};
    memcpy(shapes, sh, sizeof sh);
    for (int i = 0; i < N_STATE_TENSORS; i++) e[i] = (hrm_st_entry){names[i], ndim[i], shapes[i], data[i]};
}

static int to_exact_floats(float *dst, const int32_t *src, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (src[i] <= -EXACT_INT_LIMIT || src[i] >= EXACT_INT_LIMIT) return 0;
        dst[i] = (float)src[i];
    }
    return 1;
}

static char *state_json(const hrm_act *a) {
    char words[4][17];
    for (int i = 0; i < 4; i++) snprintf(words[i], sizeof words[i], "%016" PRIx64, a->rng.s[i]);
    json_t *o = json_pack("{s:s, s:i, s:I, s:i, s:i, s:[s,s,s,s]}", "format", STATE_FORMAT, "version",
                          HRM_TRAIN_STATE_VERSION, "step", (json_int_t)a->step, "batch", a->global_B, "seq_len",
                          hrm_model_config(a->model)->seq_len, "rng", words[0], words[1], words[2], words[3]);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

/* Several processes: rank 0 gathers every process's slots into the global arrays (each process
 * filled its own part; every per-slot tensor is slot-major). */
static hrm_status gather_slots(const char *path, hrm_act *a, const state_arrays *sa, char *err, size_t err_size) {
    const hrm_dist *d = a->dist;
    size_t SD = (size_t)(sa->carry_n / sa->B), L = (size_t)sa->L;
    size_t per_slot[7] = {SD, SD, 1, 1, 1, L, L}; /* floats per slot of each tensor below */
    float *base[7] = {sa->zH, sa->zL, sa->steps, sa->halted, sa->ids, sa->inputs, sa->labels};
    char why[256];
    for (int i = 0; i < 7; i++)
        if (d->gather0(d->user, base[i], per_slot[i] * (size_t)a->B * sizeof(float), why, sizeof why))
            return hrm_io_fail(err, err_size, HRM_ERR_DEVICE, path, "gathering the slots of %d processes: %s", d->size,
                               why);
    return HRM_OK;
}

hrm_status hrm_train_state_save(const char *path, hrm_act *a, const hrm_sampler *s, char *err, size_t err_size) {
    state_arrays sa;
    int64_t shapes[N_STATE_TENSORS][3];
    hrm_st_entry e[N_STATE_TENSORS];
    char sampler[HRM_SAMPLER_STATE_MAX];
    if (!state_alloc(&sa, a)) return hrm_io_fail(err, err_size, HRM_ERR_OUT_OF_MEMORY, path, "out of host memory");
    size_t o = (size_t)a->offset; /* this process's first slot */
    size_t SD = (size_t)(sa.carry_n / sa.B);
    /* the optimizer and the weights are the same on every process: only rank 0, which writes, reads them */
    bool writes = !a->dist || a->dist->rank == 0;
    hrm_status st = writes ? hrm_act_get_optimizer(a, sa.m, sa.v, NULL) : HRM_OK;
    if (!st) st = hrm_act_get_carry(a, sa.zH + o * SD, sa.zL + o * SD);
    if (!st && writes && sa.ema)
        st = op_read(&a->ops, hrm_model_params(a->model), sa.params, (size_t)sa.adam_n, "act: reading the weights");
    if (st) {
        free(sa.arena);
        return hrm_io_fail(err, err_size, st, path, "cannot read the training state: %s", hrm_act_error(a));
    }
    for (int b = 0; b < a->B; b++) sa.halted[o + b] = a->halted[b];
    int exact = to_exact_floats(sa.steps + o, a->steps, a->B) && to_exact_floats(sa.ids + o, a->puzzle_ids, a->B) &&
                to_exact_floats(sa.inputs + o * sa.L, a->inputs, (int64_t)a->B * sa.L) &&
                to_exact_floats(sa.labels + o * sa.L, a->labels, (int64_t)a->B * sa.L);
    /* every process takes part in the gathers, whatever its own values; only rank 0 writes */
    if (a->dist && gather_slots(path, a, &sa, err, err_size)) {
        free(sa.arena);
        return HRM_ERR_DEVICE;
    }
    if (!writes) {
        free(sa.arena);
        return exact ? HRM_OK
                     : hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path,
                                   "a slot value does not fit float32 exactly (>= 2^24)");
    }
    hrm_sampler_state ss = hrm_sampler_save(s);
    hrm_sampler_state_format(&ss, sampler, sizeof sampler);
    char *json = state_json(a);
    if (!exact)
        st = hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path,
                         "a slot value does not fit float32 exactly (>= 2^24)");
    else if (!json)
        st = hrm_io_fail(err, err_size, HRM_ERR_OUT_OF_MEMORY, path, "out of host memory");
    if (!st) {
        state_entries(&sa, a, shapes, e);
        const char *keys[2] = {"hrm.state", "hrm.sampler"}, *values[2] = {json, sampler};
        st = hrm_st_write(path, e, state_tensors(&sa), keys, values, 2, err, err_size);
    }
    free(json);
    free(sa.arena);
    return st;
}

/* Checks hrm.state against a; fills *step and *rng. */
static hrm_status parse_state_meta(const char *path, const char *text, const hrm_act *a, int64_t *step, hrm_rng *rng,
                                   char *err, size_t err_size) {
    json_error_t je;
    json_t *o = text ? json_loads(text, 0, &je) : NULL;
    const char *format = NULL, *w[4] = {NULL};
    json_int_t version = 0, stp = -1, batch = 0, L = 0;
    hrm_status st = HRM_ERR_INVALID_ARG;
    if (!o)
        hrm_io_fail(err, err_size, st, path, "no valid hrm.state metadata (not an hrm train state file)");
    else if (json_unpack(o, "{s:s, s:I, s:I, s:I, s:I, s:[ssss]}", "format", &format, "version", &version, "step", &stp,
                         "batch", &batch, "seq_len", &L, "rng", &w[0], &w[1], &w[2], &w[3]) ||
             strcmp(format, STATE_FORMAT))
        hrm_io_fail(err, err_size, st, path, "hrm.state is not an %s record", STATE_FORMAT);
    else if (version != HRM_TRAIN_STATE_VERSION)
        hrm_io_fail(err, err_size, st, path, "train state version %lld, this build reads version %d",
                    (long long)version, HRM_TRAIN_STATE_VERSION);
    else if (batch != a->global_B || L != hrm_model_config(a->model)->seq_len || stp < 0)
        hrm_io_fail(err, err_size, st, path, "saved for batch %lld, seq_len %lld; this run has batch %d, seq_len %d",
                    (long long)batch, (long long)L, a->global_B, hrm_model_config(a->model)->seq_len);
    else
        st = HRM_OK;
    for (int i = 0; !st && i < 4; i++) {
        char *end;
        rng->s[i] = strtoull(w[i], &end, 16);
        if (strlen(w[i]) != 16 || *end)
            st = hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "bad rng word '%s'", w[i]);
    }
    *step = stp;
    json_decref(o);
    return st;
}

static hrm_status check_state_tensors(const char *path, const hrm_st_file *f, const hrm_st_entry *e, int n, char *err,
                                      size_t err_size) {
    char got[64], want[64];
    int has_params = hrm_st_find(f, "train.params") != NULL;
    if (has_params != (n == N_STATE_TENSORS))
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path,
                           has_params ? "saved by a run with ema=true; this run has ema=false"
                                      : "saved by a run without an EMA; this run has ema=true");
    for (int i = 0; i < n; i++) {
        const hrm_st_tensor *t = hrm_st_find(f, e[i].name);
        if (!t) return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "tensor %s is missing", e[i].name);
        int ok = t->ndim == e[i].ndim;
        for (int d = 0; ok && d < e[i].ndim; d++) ok = t->shape[d] == e[i].shape[d];
        if (!ok)
            return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "tensor %s is %s, this run needs %s",
                               e[i].name, hrm_shape_str(got, sizeof got, t->ndim, t->shape),
                               hrm_shape_str(want, sizeof want, e[i].ndim, e[i].shape));
    }
    if (f->count != n)
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "%d tensors, a train state has %d", f->count, n);
    return HRM_OK;
}

static int from_exact_floats(int32_t *dst, const float *src, int64_t n, double lo, double hi) {
    for (int64_t i = 0; i < n; i++) {
        if (!(src[i] >= lo && src[i] <= hi) || src[i] != (float)(int32_t)src[i]) return 0;
        dst[i] = (int32_t)src[i];
    }
    return 1;
}

/* Moves the checked host state into a's plain fields (through scratch, so a is untouched on failure). */
static hrm_status restore_slots(const char *path, hrm_act *a, const state_arrays *sa, char *err, size_t err_size) {
    const hrm_config *c = hrm_model_config(a->model);
    /* this process's slots [o, o + B) of the global state's */
    size_t B = (size_t)a->B, BL = B * (size_t)sa->L, o = (size_t)a->offset, oL = o * (size_t)sa->L;
    int32_t *tmp = malloc((3 * B + 2 * BL) * sizeof *tmp);
    if (!tmp) return hrm_io_fail(err, err_size, HRM_ERR_OUT_OF_MEMORY, path, "out of host memory");
    int32_t *steps = tmp, *halted = tmp + B, *ids = tmp + 2 * B, *inputs = tmp + 3 * B, *labels = inputs + BL;
    int ok = from_exact_floats(steps, sa->steps + o, (int64_t)B, 0, 1e9) &&
             from_exact_floats(halted, sa->halted + o, (int64_t)B, 0, 1) &&
             from_exact_floats(ids, sa->ids + o, (int64_t)B, 0, c->num_puzzle_identifiers - 1) &&
             from_exact_floats(inputs, sa->inputs + oL, (int64_t)BL, 0, c->vocab_size - 1) &&
             from_exact_floats(labels, sa->labels + oL, (int64_t)BL, HRM_IGNORE_LABEL, c->vocab_size - 1);
    if (ok) {
        memcpy(a->steps, steps, B * sizeof *steps);
        for (size_t b = 0; b < B; b++) a->halted[b] = (uint8_t)halted[b];
        memcpy(a->puzzle_ids, ids, B * sizeof *ids);
        memcpy(a->inputs, inputs, BL * sizeof *inputs);
        memcpy(a->labels, labels, BL * sizeof *labels);
    }
    free(tmp);
    return ok ? HRM_OK
              : hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "slot values out of range for this model");
}

hrm_status hrm_train_state_load(const char *path, hrm_act *a, hrm_sampler *s, char *err, size_t err_size) {
    hrm_st_file f;
    state_arrays sa;
    int64_t shapes[N_STATE_TENSORS][3], step = 0;
    hrm_st_entry e[N_STATE_TENSORS];
    hrm_sampler_state ss;
    hrm_rng rng;
    char why[512];
    if (!state_alloc(&sa, a)) return hrm_io_fail(err, err_size, HRM_ERR_OUT_OF_MEMORY, path, "out of host memory");
    hrm_status st = hrm_st_read(path, &f, err, err_size);
    if (st) {
        free(sa.arena);
        return st;
    }
    state_entries(&sa, a, shapes, e);
    st = parse_state_meta(path, hrm_st_meta(&f, "hrm.state"), a, &step, &rng, err, err_size);
    if (!st) st = check_state_tensors(path, &f, e, state_tensors(&sa), err, err_size);
    if (!st) {
        const char *text = hrm_st_meta(&f, "hrm.sampler");
        if (!text || hrm_sampler_state_parse(text, &ss, why, sizeof why))
            st = hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "hrm.sampler: %s", text ? why : "missing");
    }
    for (int i = 0; !st && i < state_tensors(&sa); i++)
        memcpy((float *)e[i].data, hrm_st_find(&f, e[i].name)->data, hrm_st_find(&f, e[i].name)->count * sizeof(float));
    hrm_st_free(&f);
    if (!st) st = restore_slots(path, a, &sa, err, err_size);
    if (!st && hrm_sampler_restore(s, &ss, why, sizeof why))
        st = hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "%s", why);
    size_t SD = (size_t)(sa.carry_n / sa.B), o = (size_t)a->offset;
    if (!st && (hrm_act_set_optimizer(a, sa.m, sa.v, step) || hrm_act_set_carry(a, sa.zH + o * SD, sa.zL + o * SD)))
        st = hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "cannot restore: %s", hrm_act_error(a));
    /* with an EMA, the model was loaded from the checkpoint, which holds the EMA weights: they
     * become the EMA, and the trained weights come from here */
    if (!st && sa.ema &&
        (hrm_act_ema_swap(a) ||
         op_write(&a->ops, hrm_model_params(a->model), sa.params, (size_t)sa.adam_n, "act: restoring the weights")))
        st = hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "cannot restore: %s", hrm_act_error(a));
    if (!st) a->rng = rng;
    free(sa.arena);
    return st;
}
