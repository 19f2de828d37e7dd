/* core/params.c - the HRM config (derived sizes, validation, the hrm.config JSON of the keys in
 * config_keys.c, which also holds the defaults) and the table that carves the flat parameter
 * buffer into the published checkpoint tensors. */
#include "params.h"

#include "config_keys.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hrm_config_head_dim(const hrm_config *c) { return c->hidden_size / c->num_heads; }

/* I = round(expansion * D * 2/3) up to a multiple of 256. Python's round() rounds halves to
 * even, as nearbyint() does in the default rounding mode. */
static int swiglu_width(double expansion, int in) {
    long r = (long)nearbyint(expansion * in * 2.0 / 3.0);
    return (int)((r + 255) / 256 * 256);
}

int hrm_config_intermediate(const hrm_config *c) { return swiglu_width(c->expansion, c->hidden_size); }

/* trm.py: the MLP form's token SwiGLU is built with hidden_size = seq_len + puzzle_emb_len */
int hrm_config_token_intermediate(const hrm_config *c) { return swiglu_width(c->expansion, hrm_config_full_seq(c)); }

/* trm.py: puzzle_emb_len, or HRM's ceil(puzzle_emb_ndim / hidden_size) where it is 0 */
int hrm_config_prefix(const hrm_config *c) {
    return c->puzzle_emb_len > 0 ? c->puzzle_emb_len : (c->puzzle_emb_ndim + c->hidden_size - 1) / c->hidden_size;
}

int hrm_config_full_seq(const hrm_config *c) { return hrm_config_prefix(c) + c->seq_len; }

#define CHECK(cond, ...)                          \
    do {                                          \
        if (!(cond)) {                            \
            snprintf(err, err_size, __VA_ARGS__); \
            return HRM_ERR_INVALID_ARG;           \
        }                                         \
    } while (0)

hrm_status hrm_config_validate(const hrm_config *c, char *err, size_t err_size) {
    CHECK(c->hidden_size >= 1 && c->num_heads >= 1, "hidden_size and num_heads must be >= 1");
    CHECK(c->hidden_size % c->num_heads == 0, "hidden_size %d is not a multiple of num_heads %d", c->hidden_size,
          c->num_heads);
    CHECK(hrm_config_head_dim(c) <= 128, "head_dim %d > 128 (hidden_size / num_heads)", hrm_config_head_dim(c));
    CHECK(hrm_config_head_dim(c) % 2 == 0 || c->pos_encodings != HRM_POS_ROPE, "rope needs an even head_dim");
    CHECK(c->arch == HRM_ARCH_HRM || c->arch == HRM_ARCH_TRM, "arch %d is not hrm_v1 or trm", (int)c->arch);
    CHECK(c->pos_encodings >= HRM_POS_ROPE && c->pos_encodings <= HRM_POS_NONE, "pos_encodings %d is not known",
          (int)c->pos_encodings);
    if (c->arch == HRM_ARCH_HRM) {
        CHECK(c->H_layers >= 1 && c->L_layers >= 1, "H_layers and L_layers must be >= 1");
        CHECK(!c->puzzle_emb_len && !c->mlp_t && !c->no_ACT_continue,
              "puzzle_emb_len, mlp_t and no_ACT_continue are TRM settings (arch=trm)");
    } else {
        CHECK(c->L_layers >= 1 && c->H_layers >= 0, "L_layers must be >= 1 (H_layers is ignored, >= 0)");
        /* trm.py pads the puzzle row to puzzle_emb_len * hidden_size values and cuts the first
         * puzzle_emb_len rows off for the LM head: a longer row or a prefix without a puzzle
         * embedding breaks it (docs/TRM.md "Configuration") */
        CHECK(c->puzzle_emb_ndim > 0 || c->puzzle_emb_len == 0, "puzzle_emb_ndim 0 needs puzzle_emb_len 0");
        CHECK((int64_t)c->puzzle_emb_ndim <= (int64_t)hrm_config_prefix(c) * c->hidden_size,
              "puzzle_emb_ndim %d > puzzle_emb_len %d x hidden_size %d", c->puzzle_emb_ndim, hrm_config_prefix(c),
              c->hidden_size);
    }
    CHECK(c->H_cycles >= 1 && c->L_cycles >= 1, "H_cycles and L_cycles must be >= 1");
    CHECK(c->expansion > 0 && c->expansion <= 64, "expansion %g out of (0, 64]", c->expansion);
    CHECK(c->puzzle_emb_ndim >= 0, "puzzle_emb_ndim must be >= 0");
    CHECK(c->rope_theta > 0 && c->rms_norm_eps > 0, "rope_theta and rms_norm_eps must be > 0");
    CHECK(c->halt_max_steps >= 1, "halt_max_steps must be >= 1");
    CHECK(c->halt_exploration_prob >= 0 && c->halt_exploration_prob <= 1, "halt_exploration_prob %g out of [0, 1]",
          c->halt_exploration_prob);
    CHECK(c->vocab_size >= 2, "vocab_size %d < 2", c->vocab_size);
    CHECK(c->seq_len >= 1, "seq_len %d < 1", c->seq_len);
    CHECK(c->num_puzzle_identifiers >= 1, "num_puzzle_identifiers %d < 1", c->num_puzzle_identifiers);
    return HRM_OK;
}

/* ---- hrm.config JSON: the keys of config_keys.c with a config_order --------------------------- */

/* HRM's 16 keys; TRM's four after them only in a TRM config, so that an HRM checkpoint is what
 * it was before TRM existed. */
char *hrm_config_to_json(const hrm_config *c) {
    int n;
    const hrm_key *const *keys = hrm_config_keys(&n);
    if (c->arch == HRM_ARCH_HRM) n = HRM_CONFIG_KEYS_HRM;
    json_t *o = json_object();
    for (int i = 0; o && i < n; i++) {
        const hrm_key *k = keys[i];
        double v = hrm_key_get(k, c);
        json_t *x = k->field == HRM_FIELD_INT      ? json_integer((json_int_t)v)
                    : k->field == HRM_FIELD_DOUBLE ? json_real(v)
                    : k->field == HRM_FIELD_BOOL   ? json_boolean(v != 0)
                    : k->field == HRM_FIELD_ARCH   ? json_string(hrm_arch_name((hrm_arch)v))
                                                   : json_string(hrm_pos_name((hrm_pos_encoding)v));
        json_object_set_new(o, hrm_key_config_name(k), x);
    }
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}

/* Stores one JSON value into its field; returns 0 with err set on a wrong type or value. The
 * caller names the source (a checkpoint's "hrm.config", convert's "settings"), so err does not. */
static hrm_status set_key(const hrm_key *k, json_t *v, hrm_config *c, char *err, size_t err_size) {
    const char *name = hrm_key_config_name(k);
    if (k->field == HRM_FIELD_INT) {
        CHECK(json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 1 << 30,
              "%s must be a non-negative integer", name);
        hrm_key_set(k, c, (double)json_integer_value(v));
    } else if (k->field == HRM_FIELD_DOUBLE) {
        CHECK(json_is_number(v), "%s must be a number", name);
        hrm_key_set(k, c, json_number_value(v));
    } else if (k->field == HRM_FIELD_BOOL) {
        CHECK(json_is_boolean(v), "%s must be true or false", name);
        hrm_key_set(k, c, json_is_true(v));
    } else {
        const char *s = json_string_value(v);
        double num;
        char why[256];
        CHECK(s && !hrm_key_parse(k, s, &num, why, sizeof why), "%s must be %s", name,
              k->field == HRM_FIELD_ARCH ? "\"hrm_v1\" or \"trm\"" : "\"rope\", \"learned\" or \"none\"");
        hrm_key_set(k, c, num);
    }
    return HRM_OK;
}

/* Keys this version does not know are ignored, so that newer writers stay readable. With
 * require_all, a missing key is an error: a stored config must say everything, or a truncated
 * or crafted one would run with defaults nobody chose. */
static hrm_status parse_config(const char *json, int require_all, hrm_config *c, char *err, size_t err_size) {
    json_error_t jerr;
    json_t *o = json_loads(json, 0, &jerr);
    if (!json_is_object(o)) {
        snprintf(err, err_size, "not a JSON object (%s)", o ? "wrong type" : jerr.text);
        json_decref(o);
        return HRM_ERR_INVALID_ARG;
    }
    int n;
    hrm_status st = HRM_OK;
    const hrm_key *const *keys = hrm_config_keys(&n);
    for (int i = 0; !st && i < n; i++) {
        json_t *v = json_object_get(o, hrm_key_config_name(keys[i]));
        if (v)
            st = set_key(keys[i], v, c, err, err_size);
        else if (require_all && i >= HRM_CONFIG_KEYS_HRM) /* an HRM config: TRM's keys at HRM's values */
            hrm_key_set(keys[i], c, 0);
        else if (require_all) {
            snprintf(err, err_size, "missing key %s", hrm_key_config_name(keys[i]));
            st = HRM_ERR_INVALID_ARG;
        }
    }
    json_decref(o);
    return st;
}

hrm_status hrm_config_parse(const char *json, hrm_config *c, char *err, size_t err_size) {
    return parse_config(json, 1, c, err, err_size);
}

hrm_status hrm_config_apply_json(const char *json, hrm_config *c, char *err, size_t err_size) {
    return parse_config(json, 0, c, err, err_size);
}

/* ---- the parameter table ---------------------------------------------------------------- */

typedef struct table_builder {
    hrm_param_table *t;
    int cap;
} table_builder;

/* Appends one tensor: [rows, cols], or [rows] when cols is 0. */
static bool add_param(table_builder *b, hrm_param_role role, hrm_param_init init, double value, int64_t rows,
                      int64_t cols, const char *name) {
    hrm_param_table *t = b->t;
    if (t->count == b->cap) {
        int cap = b->cap ? 2 * b->cap : 64;
        hrm_param *p = realloc(t->params, (size_t)cap * sizeof *p);
        if (!p) return false;
        t->params = p;
        b->cap = cap;
    }
    hrm_param *p = &t->params[t->count++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = cols > 0 ? 2 : 1;
    p->shape[0] = rows;
    p->shape[1] = cols > 0 ? cols : 0;
    p->numel = rows * (cols > 0 ? cols : 1);
    p->offset = t->total;
    p->role = role;
    p->init = init;
    p->init_value = value;
    t->total += p->numel;
    if (role == HRM_PARAM_ADAM) t->adam_total = t->total;
    return true;
}

/* A [out, in] weight of a block, truncnormal(1/sqrt(in)). */
static bool add_weight(table_builder *b, char level, int layer, const char *leaf, int64_t out, int64_t in) {
    char name[96];
    snprintf(name, sizeof name, "model.inner.%c_level.layers.%d.%s.weight", level, layer, leaf);
    return add_param(b, HRM_PARAM_ADAM, HRM_INIT_TRUNC_NORMAL, 1 / sqrt((double)in), out, in, name);
}

/* One block of a level: the token mixing (attention; TRM's MLP form: the token SwiGLU over the
 * S positions) and the SwiGLU, in the published construction order. */
static bool add_block(table_builder *b, const hrm_config *c, char level, int layer) {
    const int64_t D = c->hidden_size, I = hrm_config_intermediate(c);
    bool mix = c->mlp_t ? add_weight(b, level, layer, "mlp_t.gate_up_proj",
                                     2 * (int64_t)hrm_config_token_intermediate(c), hrm_config_full_seq(c)) &&
                              add_weight(b, level, layer, "mlp_t.down_proj", hrm_config_full_seq(c),
                                         hrm_config_token_intermediate(c))
                        : add_weight(b, level, layer, "self_attn.qkv_proj", 3 * D, D) &&
                              add_weight(b, level, layer, "self_attn.o_proj", D, D);
    return mix && add_weight(b, level, layer, "mlp.gate_up_proj", 2 * I, D) &&
           add_weight(b, level, layer, "mlp.down_proj", D, I);
}

hrm_status hrm_params_build(const hrm_config *c, hrm_param_table *t) {
    const int64_t D = c->hidden_size, V = c->vocab_size, S = hrm_config_full_seq(c);
    const double std_d = 1 / sqrt((double)D);
    table_builder b = {t, 0};
    bool ok;
    memset(t, 0, sizeof *t);
    ok = add_param(&b, HRM_PARAM_ADAM, HRM_INIT_TRUNC_NORMAL, std_d, V, D,
                   "model.inner.embed_tokens.embedding_weight") &&
         add_param(&b, HRM_PARAM_ADAM, HRM_INIT_TRUNC_NORMAL, std_d, V, D, "model.inner.lm_head.weight") &&
         add_param(&b, HRM_PARAM_ADAM, HRM_INIT_CONST, 0, 2, D, "model.inner.q_head.weight") &&
         add_param(&b, HRM_PARAM_ADAM, HRM_INIT_CONST, -5, 2, 0, "model.inner.q_head.bias");
    if (ok && c->pos_encodings == HRM_POS_LEARNED)
        ok =
            add_param(&b, HRM_PARAM_ADAM, HRM_INIT_TRUNC_NORMAL, std_d, S, D, "model.inner.embed_pos.embedding_weight");
    /* TRM has one network, named L_level; its H_layers is ignored */
    for (int i = 0; ok && c->arch == HRM_ARCH_HRM && i < c->H_layers; i++) ok = add_block(&b, c, 'H', i);
    for (int i = 0; ok && i < c->L_layers; i++) ok = add_block(&b, c, 'L', i);
    if (ok && c->puzzle_emb_ndim > 0)
        ok = add_param(&b, HRM_PARAM_PUZZLE, HRM_INIT_CONST, 0, c->num_puzzle_identifiers, c->puzzle_emb_ndim,
                       "model.inner.puzzle_emb.weights");
    ok = ok && add_param(&b, HRM_PARAM_FIXED, HRM_INIT_TRUNC_NORMAL, 1, D, 0, "model.inner.H_init") &&
         add_param(&b, HRM_PARAM_FIXED, HRM_INIT_TRUNC_NORMAL, 1, D, 0, "model.inner.L_init");
    if (!ok) hrm_params_free(t);
    return ok ? HRM_OK : HRM_ERR_OUT_OF_MEMORY;
}

void hrm_params_free(hrm_param_table *t) {
    free(t->params);
    memset(t, 0, sizeof *t);
}

const hrm_param *hrm_params_find(const hrm_param_table *t, const char *name) {
    for (int i = 0; i < t->count; i++)
        if (!strcmp(t->params[i].name, name)) return &t->params[i];
    return NULL;
}

int64_t hrm_params_count(const hrm_param_table *t) { return t->adam_total; }
