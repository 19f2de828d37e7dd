/* core/config_keys.c - the table of every model and training key (config_keys.h). The defaults
 * and ranges are the published ones: config/cfg_pretrain.yaml and config/arch/hrm_v1.yaml of
 * sapientinc/HRM, and pretrain.py's PretrainConfig for the keys those files leave out. */
#include "config_keys.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hrm/hrm.h"

#define BIG 1e15
#define NONE HRM_FIELD_NONE, 0
#define CFG(kind, f) HRM_FIELD_##kind, offsetof(hrm_config, f)
#define SET(kind, f) HRM_FIELD_##kind, offsetof(hrm_train_settings, f)

static const hrm_key table[] = {
    {"data_path", HRM_KEY_STRING, HRM_STORE_TRAIN, 0, 0, NULL, "dataset folder in the published layout (required)",
     NONE, -1},
    {"global_batch_size", HRM_KEY_INT, HRM_STORE_TRAIN, 1, 1 << 20, "768", "examples per optimizer step",
     SET(INT, global_batch_size), -1},
    {"epochs", HRM_KEY_INT, HRM_STORE_TRAIN, 1, BIG, "100000", "passes over the groups; sets total_steps", NONE, -1},
    {"eval_interval", HRM_KEY_INT, HRM_STORE_TRAIN, 1, BIG, NULL,
     "evaluate + checkpoint every N epochs (default: at the end)", NONE, -1},
    {"lr", HRM_KEY_REAL, HRM_STORE_TRAIN, 0, 1e3, "1e-4", "AdamATan2 learning rate", SET(DOUBLE, lr), -1},
    {"lr_min_ratio", HRM_KEY_REAL, HRM_STORE_TRAIN, 0, 1, "1.0", "cosine floor as a fraction of lr (1: constant)",
     SET(DOUBLE, lr_min_ratio), -1},
    {"lr_warmup_steps", HRM_KEY_INT, HRM_STORE_TRAIN, 0, BIG, "2000", "linear warmup steps", SET(I64, lr_warmup_steps),
     -1},
    {"weight_decay", HRM_KEY_REAL, HRM_STORE_TRAIN, 0, 1e3, "0.1", "AdamATan2 decoupled weight decay",
     SET(DOUBLE, weight_decay), -1},
    {"puzzle_emb_lr", HRM_KEY_REAL, HRM_STORE_TRAIN, 0, 1e3, "1e-2", "SignSGD learning rate of the puzzle embeddings",
     SET(DOUBLE, puzzle_emb_lr), -1},
    {"puzzle_emb_weight_decay", HRM_KEY_REAL, HRM_STORE_TRAIN, 0, 1e3, "0.1", "SignSGD weight decay",
     SET(DOUBLE, puzzle_emb_weight_decay), -1},
    {"beta1", HRM_KEY_REAL, HRM_STORE_TRAIN, 0, 0.999999, "0.9", "AdamATan2 beta1, in [0, 1)", SET(DOUBLE, beta1), -1},
    {"beta2", HRM_KEY_REAL, HRM_STORE_TRAIN, 0, 0.999999, "0.95", "AdamATan2 beta2, in [0, 1)", SET(DOUBLE, beta2), -1},
    {"ema", HRM_KEY_BOOL, HRM_STORE_TRAIN, 0, 0, NULL,
     "keep an EMA of the weights; evaluation and checkpoints use it (false)", SET(BOOL, ema), -1},
    {"ema_rate", HRM_KEY_REAL, HRM_STORE_TRAIN, 0, 1, NULL, "EMA = (1 - rate) w + rate EMA per step (0.999)",
     SET(DOUBLE, ema_rate), -1},
    {"seed", HRM_KEY_INT, HRM_STORE_TRAIN, 0, BIG, "0", "initialisation, data order and halting exploration",
     SET(U64, seed), -1},
    {"data_shuffle", HRM_KEY_BOOL, HRM_STORE_TRAIN, 0, 0, "true",
     "false: reproducible mode (file-order batches; halt_exploration_prob 0 unless given)", NONE, -1},
    {"checkpoint_every_eval", HRM_KEY_BOOL, HRM_STORE_TRAIN, 0, 0, "true",
     "checkpoint after every evaluation; false: only the final step (and on SIGINT)", NONE, -1},
    {"arch.loss.loss_type", HRM_KEY_LOSS, HRM_STORE_TRAIN, 0, 0, "stablemax_cross_entropy", "or softmax_cross_entropy",
     SET(LOSS, loss_type), -1},
    {"matmul_precision", HRM_KEY_PRECISION, HRM_STORE_TRAIN, 0, 0, "highest",
     "matrix products: highest (fp32), high (tf32), medium (bf16) operands; fp32 accumulation", NONE, -1},
    {"checkpoint_path", HRM_KEY_STRING, HRM_STORE_RUN, 0, 0, NULL,
     "run folder (default checkpoints/PROJECT/RUN); resumes from its latest step_K", NONE, -1},
    {"project_name", HRM_KEY_STRING, HRM_STORE_RUN, 0, 0, NULL, "default: '<Data_path basename> ACT-torch'", NONE, -1},
    {"run_name", HRM_KEY_STRING, HRM_STORE_RUN, 0, 0, "HierarchicalReasoningModel_ACTV1",
     "names the default checkpoint_path", NONE, -1},
    {"init_checkpoint", HRM_KEY_STRING, HRM_STORE_RUN, 0, 0, NULL,
     "start from these weights (architecture from its metadata)", NONE, -1},
    {"max_steps", HRM_KEY_INT, HRM_STORE_RUN, 0, BIG, "0", "stop after K optimizer steps in all (0: total_steps)", NONE,
     -1},
    {"log_interval", HRM_KEY_INT, HRM_STORE_RUN, 1, BIG, "100", "steps per progress line when stderr is not a terminal",
     NONE, -1},
    {"backend", HRM_KEY_STRING, HRM_STORE_RUN, 0, 0, NULL,
     "cpu | opencl | auto | PATH.so (default $HRM_BACKEND or auto)", NONE, -1},
    {"device", HRM_KEY_STRING, HRM_STORE_RUN, 0, 0, "0",
     "device index, or a part of its name or platform name ('hrm backends' lists them)", NONE, -1},
    {"arch.name", HRM_KEY_ARCH_NAME, HRM_STORE_RUN, 0, 0, "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1",
     "or recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1 (sets arch); '<module>@' optional", NONE, -1},
    /* published keys with one possible value here, accepted so that pretrain.py command lines run */
    {"arch.loss.name", HRM_KEY_ONLY, HRM_STORE_RUN, 0, 0, "losses@ACTLossHead", "or ACTLossHead (the only loss head)",
     NONE, -1},
    {"eval_save_outputs", HRM_KEY_EMPTY_LIST, HRM_STORE_RUN, 0, 0, "[]", "only []: `hrm eval --dump DIR` saves outputs",
     NONE, -1},
    {"evaluators", HRM_KEY_EMPTY_LIST, HRM_STORE_RUN, 0, 0, "[]",
     "only []: `hrm eval --task NAME` scores a checkpoint with a task's evaluator", NONE, -1},
    {"data_paths", HRM_KEY_STRING, HRM_STORE_RUN, 0, 0, NULL,
     "TRM's form of data_path: a list of one folder, [DIR] (merging several is not supported)", NONE, -1},
    /* the architecture (hrm.config) */
    {"arch", HRM_KEY_ARCH, HRM_STORE_SHAPE, 0, 0, "hrm_v1",
     "or trm: the Tiny Recursive Model (docs/TRM.md), with trm.yaml's defaults where they differ", CFG(ARCH, arch), 16},
    {"arch.hidden_size", HRM_KEY_INT, HRM_STORE_SHAPE, 1, 1 << 16, "512", "", CFG(INT, hidden_size), 0},
    {"arch.num_heads", HRM_KEY_INT, HRM_STORE_SHAPE, 1, 1 << 12, "8", "", CFG(INT, num_heads), 1},
    {"arch.H_layers", HRM_KEY_INT, HRM_STORE_SHAPE, 0, 1024, "4", "trm: 0 (ignored)", CFG(INT, H_layers), 2},
    {"arch.L_layers", HRM_KEY_INT, HRM_STORE_SHAPE, 1, 1024, "4", "trm: 2", CFG(INT, L_layers), 3},
    {"arch.expansion", HRM_KEY_REAL, HRM_STORE_SHAPE, 0.01, 1024, "4", "", CFG(DOUBLE, expansion), 6},
    {"arch.puzzle_emb_ndim", HRM_KEY_INT, HRM_STORE_SHAPE, 0, 1 << 20, NULL, "default: hidden_size",
     CFG(INT, puzzle_emb_ndim), 7},
    {"arch.pos_encodings", HRM_KEY_POS, HRM_STORE_SHAPE, 0, 0, "rope", "or learned, or none", CFG(POS, pos_encodings),
     8},
    {"arch.puzzle_emb_len", HRM_KEY_INT, HRM_STORE_SHAPE, 0, 1 << 16, NULL,
     "trm only: prefix rows (trm: 16; 0: ceil(puzzle_emb_ndim / hidden_size))", CFG(INT, puzzle_emb_len), 17},
    {"arch.mlp_t", HRM_KEY_BOOL, HRM_STORE_SHAPE, 0, 0, NULL,
     "trm only: the MLP form, token mixing by a SwiGLU across the sequence (false)", CFG(BOOL, mlp_t), 18},
    {"arch.H_cycles", HRM_KEY_INT, HRM_STORE_ARCH, 1, 1024, "2", "trm: 3 (T)", CFG(INT, H_cycles), 4},
    {"arch.L_cycles", HRM_KEY_INT, HRM_STORE_ARCH, 1, 1024, "2", "trm: 6 (n)", CFG(INT, L_cycles), 5},
    {"arch.no_ACT_continue", HRM_KEY_BOOL, HRM_STORE_ARCH, 0, 0, NULL,
     "trm only: halt on q_halt > 0, no continue target (trm: true)", CFG(BOOL, no_ACT_continue), 19},
    {"arch.halt_max_steps", HRM_KEY_INT, HRM_STORE_ARCH, 1, 1 << 16, "16", "", CFG(INT, halt_max_steps), 11},
    {"arch.halt_exploration_prob", HRM_KEY_REAL, HRM_STORE_ARCH, 0, 1, "0.1", "", CFG(DOUBLE, halt_exploration_prob),
     12},
    {"arch.rope_theta", HRM_KEY_POSITIVE, HRM_STORE_ARCH, 0, BIG, "10000", "RoPE base, > 0", CFG(DOUBLE, rope_theta),
     9},
    {"arch.rms_norm_eps", HRM_KEY_POSITIVE, HRM_STORE_ARCH, 0, BIG, "1e-05", "RMSNorm epsilon, > 0",
     CFG(DOUBLE, rms_norm_eps), 10},
    /* from the dataset's dataset.json */
    {"vocab_size", HRM_KEY_INT, HRM_STORE_DATA, 2, 1 << 30, NULL, "", CFG(INT, vocab_size), 13},
    {"seq_len", HRM_KEY_INT, HRM_STORE_DATA, 1, 1 << 30, NULL, "", CFG(INT, seq_len), 14},
    {"num_puzzle_identifiers", HRM_KEY_INT, HRM_STORE_DATA, 1, 1 << 30, NULL, "", CFG(INT, num_puzzle_identifiers), 15},
};
#undef NONE
#undef CFG
#undef SET
enum { NKEYS = (int)(sizeof table / sizeof table[0]), NCONFIG = 20 };
_Static_assert(NKEYS <= HRM_KEYS_MAX, "HRM_KEYS_MAX is too small for the key table");

const hrm_key *hrm_keys(int *count) {
    *count = NKEYS;
    return table;
}

const hrm_key *hrm_key_find(const char *name) {
    for (int i = 0; i < NKEYS; i++)
        if (!strcmp(table[i].name, name)) return &table[i];
    return NULL;
}

int hrm_key_index(const hrm_key *k) { return (int)(k - table); }

const char *hrm_key_config_name(const hrm_key *k) { return strncmp(k->name, "arch.", 5) ? k->name : k->name + 5; }

const hrm_key *const *hrm_config_keys(int *count) {
    static const hrm_key *order[NCONFIG];
    if (!order[0])
        for (int i = 0; i < NKEYS; i++)
            if (table[i].config_order >= 0) order[table[i].config_order] = &table[i];
    *count = NCONFIG;
    return order;
}

/* ---- values ----------------------------------------------------------------------------------- */

/* The published model classes (config/arch/hrm_v1.yaml and trm.yaml `name`), by hrm_arch. */
static const char *const arch_class[] = {"hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1",
                                         "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1"};

const char *hrm_pos_name(hrm_pos_encoding p) {
    return p == HRM_POS_ROPE ? "rope" : p == HRM_POS_LEARNED ? "learned" : "none";
}

const char *hrm_arch_name(hrm_arch a) { return a == HRM_ARCH_TRM ? "trm" : "hrm_v1"; }

static hrm_status fail(char *err, size_t err_size, const char *fmt, const char *name, const char *text) {
    snprintf(err, err_size, fmt, name, text);
    return HRM_ERR_INVALID_ARG;
}

static bool parse_bool(const char *t, double *out) {
    static const char *yes[] = {"true", "True", "1", "yes"}, *no[] = {"false", "False", "0", "no"};
    for (int i = 0; i < 4; i++) {
        if (!strcmp(t, yes[i])) return *out = 1, 1;
        if (!strcmp(t, no[i])) return *out = 0, 1;
    }
    return 0;
}

hrm_status hrm_key_parse(const hrm_key *k, const char *text, double *num, char *err, size_t err_size) {
    char *end;
    double v = 0;
    errno = 0;
    switch (k->type) {
    case HRM_KEY_STRING:
        if (!text[0]) {
            snprintf(err, err_size, "%s: empty value", k->name);
            return HRM_ERR_INVALID_ARG;
        }
        *num = 0;
        return HRM_OK;
    case HRM_KEY_BOOL:
        if (!parse_bool(text, num)) return fail(err, err_size, "%s: '%s' is not true or false", k->name, text);
        return HRM_OK;
    case HRM_KEY_POS:
        for (int p = HRM_POS_ROPE; p <= HRM_POS_NONE; p++)
            if (!strcmp(text, hrm_pos_name((hrm_pos_encoding)p))) return *num = p, HRM_OK;
        return fail(err, err_size, "%s: '%s' is not rope, learned or none", k->name, text);
    case HRM_KEY_ARCH:
        for (int a = HRM_ARCH_HRM; a <= HRM_ARCH_TRM; a++)
            if (!strcmp(text, hrm_arch_name((hrm_arch)a))) return *num = a, HRM_OK;
        return fail(err, err_size, "%s: '%s' is not hrm_v1 or trm", k->name, text);
    case HRM_KEY_ARCH_NAME:
        for (int a = HRM_ARCH_HRM; a <= HRM_ARCH_TRM; a++) {
            const char *full = arch_class[a], *cls = strchr(full, '@') + 1;
            if (!strcmp(text, full) || !strcmp(text, cls)) return *num = a, HRM_OK;
        }
        return fail(err, err_size,
                    "%s: '%s' is not HierarchicalReasoningModel_ACTV1 or TinyRecursiveReasoningModel_ACTV1", k->name,
                    text);
    case HRM_KEY_ONLY: { /* the default, or its part after '@' (pretrain.py's "module@Class" names) */
        const char *at = strchr(k->def, '@');
        if (strcmp(text, k->def) && !(at && !strcmp(text, at + 1))) {
            snprintf(err, err_size, "%s: '%s' is not %s (the only one this engine has)", k->name, text,
                     at ? at + 1 : k->def);
            return HRM_ERR_INVALID_ARG;
        }
        *num = 0;
        return HRM_OK;
    }
    case HRM_KEY_EMPTY_LIST:
        if (strcmp(text, "[]"))
            return fail(
                err, err_size,
                strcmp(k->name, "evaluators")
                    ? "%s=%s: outputs are not saved during training; use `hrm eval --dump DIR` on a checkpoint"
                    : "%s=%s: training evaluates exact accuracy only; use `hrm eval --task NAME` on a checkpoint",
                k->name, text);
        *num = 0;
        return HRM_OK;
    case HRM_KEY_PRECISION: {
        hrm_matmul_precision p;
        if (!hrm_precision_parse(text, &p))
            return fail(err, err_size, "%s: '%s' is not highest, high or medium", k->name, text);
        *num = p;
        return HRM_OK;
    }
    case HRM_KEY_LOSS:
        if (strcmp(text, "stablemax_cross_entropy") && strcmp(text, "softmax_cross_entropy"))
            return fail(err, err_size, "%s: '%s' is not stablemax_cross_entropy or softmax_cross_entropy", k->name,
                        text);
        *num = !strcmp(text, "stablemax_cross_entropy") ? HRM_LOSS_STABLEMAX : HRM_LOSS_SOFTMAX;
        return HRM_OK;
    case HRM_KEY_INT:
        v = strtod(text, &end);
        if (errno || end == text || *end || v != floor(v) || v < k->lo || v > k->hi) {
            snprintf(err, err_size, "%s: '%s' is not an integer in [%.0f, %.0f]", k->name, text, k->lo, k->hi);
            return HRM_ERR_INVALID_ARG;
        }
        break;
    case HRM_KEY_REAL:
        v = strtod(text, &end);
        if (errno || end == text || *end || !isfinite(v) || v < k->lo || v > k->hi) {
            snprintf(err, err_size, "%s: '%s' is not a number in [%g, %g]", k->name, text, k->lo, k->hi);
            return HRM_ERR_INVALID_ARG;
        }
        break;
    case HRM_KEY_POSITIVE:
        v = strtod(text, &end);
        if (errno || end == text || *end || !isfinite(v) || v <= k->lo || v > k->hi) {
            snprintf(err, err_size, "%s: '%s' is not a number > %g and <= %g", k->name, text, k->lo, k->hi);
            return HRM_ERR_INVALID_ARG;
        }
        break;
    }
    *num = v;
    return HRM_OK;
}

double hrm_key_get(const hrm_key *k, const void *obj) {
    const char *f = (const char *)obj + k->offset;
    switch (k->field) {
    case HRM_FIELD_INT: return *(const int *)f;
    case HRM_FIELD_I64: return (double)*(const int64_t *)f;
    case HRM_FIELD_U64: return (double)*(const uint64_t *)f;
    case HRM_FIELD_DOUBLE: return *(const double *)f;
    case HRM_FIELD_POS: return *(const hrm_pos_encoding *)f;
    case HRM_FIELD_LOSS: return *(const hrm_loss_kind *)f;
    case HRM_FIELD_ARCH: return *(const hrm_arch *)f;
    case HRM_FIELD_BOOL: return *(const int *)f != 0;
    case HRM_FIELD_NONE: break;
    }
    return NAN;
}

void hrm_key_set(const hrm_key *k, void *obj, double v) {
    char *f = (char *)obj + k->offset;
    switch (k->field) {
    case HRM_FIELD_INT: *(int *)f = (int)v; break;
    case HRM_FIELD_I64: *(int64_t *)f = (int64_t)v; break;
    case HRM_FIELD_U64: *(uint64_t *)f = (uint64_t)v; break;
    case HRM_FIELD_DOUBLE: *(double *)f = v; break;
    case HRM_FIELD_POS: *(hrm_pos_encoding *)f = (hrm_pos_encoding)v; break;
    case HRM_FIELD_LOSS: *(hrm_loss_kind *)f = (hrm_loss_kind)v; break;
    case HRM_FIELD_ARCH: *(hrm_arch *)f = (hrm_arch)v; break;
    case HRM_FIELD_BOOL: *(int *)f = v != 0; break;
    case HRM_FIELD_NONE: break;
    }
}

/* ---- defaults ---------------------------------------------------------------------------------- */

/* The default of k as a number (0 for a key without one). */
static double default_of(const hrm_key *k) {
    double v = 0;
    char err[256];
    if (k->def && hrm_key_parse(k, k->def, &v, err, sizeof err)) abort(); /* the table's own default: a bug */
    return v;
}

hrm_config hrm_config_default(void) {
    hrm_config c;
    memset(&c, 0, sizeof c);
    for (int i = 0; i < NKEYS; i++)
        if (table[i].config_order >= 0) hrm_key_set(&table[i], &c, default_of(&table[i]));
    c.puzzle_emb_ndim = c.hidden_size; /* the published default: puzzle_emb_ndim = hidden_size */
    return c;
}

hrm_config hrm_config_default_arch(hrm_arch arch) {
    hrm_config c = hrm_config_default();
    if (arch == HRM_ARCH_TRM) { /* config/arch/trm.yaml where it differs from hrm_v1.yaml */
        c.arch = HRM_ARCH_TRM;
        c.H_layers = 0;
        c.L_layers = 2;
        c.H_cycles = 3;
        c.L_cycles = 6;
        c.puzzle_emb_len = 16;
        c.no_ACT_continue = 1;
    }
    return c;
}

hrm_train_settings hrm_train_settings_default(void) {
    hrm_train_settings s;
    memset(&s, 0, sizeof s);
    s.ema_rate = 0.999; /* cfg_pretrain.yaml; the key has no default text so that hrm.train names it only when given */
    for (int i = 0; i < NKEYS; i++)
        if (table[i].store == HRM_STORE_TRAIN && table[i].def) hrm_key_set(&table[i], &s, default_of(&table[i]));
    return s;
}

/* ---- one invocation's values ----------------------------------------------------------------- */

hrm_status hrm_key_values_init(hrm_key_values *v, char *err, size_t err_size) {
    memset(v, 0, sizeof *v);
    for (int i = 0; i < NKEYS; i++) {
        v->text[i] = table[i].def;
        hrm_status st = v->text[i] ? hrm_key_parse(&table[i], v->text[i], &v->num[i], err, err_size) : HRM_OK;
        if (st) return st;
    }
    return HRM_OK;
}

void hrm_key_values_free(hrm_key_values *v) {
    for (int i = 0; i < NKEYS; i++) free(v->owned[i]), v->owned[i] = NULL;
}

hrm_status hrm_key_values_give(hrm_key_values *v, const hrm_key *k, const char *text, char *err, size_t err_size) {
    int i = hrm_key_index(k);
    hrm_status st = hrm_key_parse(k, text, &v->num[i], err, err_size);
    if (st) return st;
    v->text[i] = text;
    v->given[i] = true;
    return HRM_OK;
}

char *hrm_train_json(const hrm_key_values *v, int64_t step, int64_t total_steps) {
    json_t *o = json_object();
    for (int i = 0; o && i < NKEYS; i++) {
        const hrm_key *k = &table[i];
        if (k->store != HRM_STORE_TRAIN || !v->text[i]) continue;
        json_t *x = k->type == HRM_KEY_INT                                   ? json_integer((json_int_t)v->num[i])
                    : k->type == HRM_KEY_REAL || k->type == HRM_KEY_POSITIVE ? json_real(v->num[i])
                    : k->type == HRM_KEY_BOOL                                ? json_boolean(v->num[i] != 0)
                                                                             : json_string(v->text[i]);
        json_object_set_new(o, k->name, x);
    }
    json_object_set_new(o, "step", json_integer((json_int_t)step));
    json_object_set_new(o, "total_steps", json_integer((json_int_t)total_steps));
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

hrm_status hrm_train_json_restore(hrm_key_values *v, const char *json, char *err, size_t err_size) {
    json_error_t je;
    json_t *o = json ? json_loads(json, 0, &je) : NULL;
    if (!o || !json_is_object(o)) {
        json_decref(o);
        snprintf(err, err_size, "no valid hrm.train metadata (not written by hrm train)");
        return HRM_ERR_INVALID_ARG;
    }
    bool ok = true;
    for (int i = 0; ok && i < NKEYS; i++) {
        const hrm_key *k = &table[i];
        json_t *x = json_object_get(o, k->name);
        if (k->store != HRM_STORE_TRAIN || v->given[i] || !x || json_is_null(x)) continue;
        char buf[64], why[512] = "not a string, boolean or number";
        char *text = NULL;
        if (json_is_string(x))
            text = strdup(json_string_value(x));
        else if (json_is_boolean(x))
            text = strdup(json_is_true(x) ? "true" : "false");
        else if (json_is_integer(x))
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(x)), text = strdup(buf);
        else if (json_is_real(x))
            snprintf(buf, sizeof buf, "%.17g", json_real_value(x)), text = strdup(buf);
        ok = text && !hrm_key_parse(k, text, &v->num[i], why, sizeof why);
        if (ok) {
            free(v->owned[i]);
            v->owned[i] = text;
            v->text[i] = text;
        } else {
            free(text);
            snprintf(err, err_size, "hrm.train has a bad %s (%s)", k->name, why);
        }
    }
    json_decref(o);
    return ok ? HRM_OK : HRM_ERR_INVALID_ARG;
}

hrm_train_settings hrm_key_values_settings(const hrm_key_values *v) {
    hrm_train_settings s = hrm_train_settings_default();
    for (int i = 0; i < NKEYS; i++)
        if (table[i].store == HRM_STORE_TRAIN && v->text[i]) hrm_key_set(&table[i], &s, v->num[i]);
    return s;
}

hrm_status hrm_train_json_settings(const char *json, hrm_train_settings *out, char *err, size_t err_size) {
    hrm_key_values v;
    *out = hrm_train_settings_default();
    if (!json) return HRM_OK;
    hrm_status st = hrm_key_values_init(&v, err, err_size);
    if (!st) st = hrm_train_json_restore(&v, json, err, err_size);
    if (!st) *out = hrm_key_values_settings(&v);
    hrm_key_values_free(&v);
    return st;
}
