/* core/convert.c - a published PyTorch HRM state dict to our safetensors checkpoint (see
 * convert.h): config inference from the shapes, settings, and the tensor-by-tensor check.
 *
 * Names are looked up through sorted arrays, so a state dict with very many tensors costs
 * n log n and not n^2. */
#include "convert.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "config_keys.h"
#include "io_util.h"
#include "safetensors.h"

#define ORIG_MOD "_orig_mod."
#define P "model.inner."
#define MAX_INFERRED (1 << 30)

/* Buffers of the published model that are not checkpoint parameters: persistent=False in the
 * published code, but a modified or older training script may have saved them. */
static const char *const non_parameters[] = {
    P "rotary_emb.cos_cached",
    P "rotary_emb.sin_cached",
    P "puzzle_emb.local_weights",
    P "puzzle_emb.local_ids",
};

const char *hrm_convert_strip(const char *name) {
    while (!strncmp(name, ORIG_MOD, strlen(ORIG_MOD))) name += strlen(ORIG_MOD);
    return name;
}

/* ---- name lookup ------------------------------------------------------------------------------ */

typedef struct named {
    const char *name;
    int index;
} named;

typedef struct name_index {
    named *items;
    int n;
} name_index;

static int by_name(const void *a, const void *b) { return strcmp(((const named *)a)->name, ((const named *)b)->name); }

/* Sorts f's stripped names; two tensors with one stripped name are an error. */
static hrm_status index_state_dict(const hrm_torch_file *f, const char *path, name_index *ix, char *err, size_t n) {
    ix->n = f->count;
    ix->items = malloc((f->count ? (size_t)f->count : 1) * sizeof *ix->items);
    if (!ix->items) return hrm_io_fail(err, n, HRM_ERR_OUT_OF_MEMORY, path, "out of memory");
    for (int i = 0; i < f->count; i++) ix->items[i] = (named){hrm_convert_strip(f->tensors[i].name), i};
    qsort(ix->items, (size_t)ix->n, sizeof *ix->items, by_name);
    for (int i = 1; i < ix->n; i++)
        if (!strcmp(ix->items[i].name, ix->items[i - 1].name))
            return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path,
                               "tensor %s appears twice (with and without " ORIG_MOD ")", ix->items[i].name);
    return HRM_OK;
}

static int lookup(const name_index *ix, const char *name) {
    named key = {name, 0};
    const named *hit = ix->n ? bsearch(&key, ix->items, (size_t)ix->n, sizeof key, by_name) : NULL;
    return hit ? hit->index : -1;
}

/* ---- settings --------------------------------------------------------------------------------- */

static hrm_status setting_fail(char *err, size_t n, const char *fmt, const char *a, const char *b) {
    return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, "settings", fmt, a, b);
}

/* One "key=value" into given (key without "arch."); training-only arch keys are skipped. */
static hrm_status parse_setting(const char *setting, json_t *known, json_t *given, char *err, size_t n) {
    const char *eq = strchr(setting, '=');
    if (!eq || eq == setting) return setting_fail(err, n, "'%s%s' is not key=value", setting, "");
    char key[96];
    snprintf(key, sizeof key, "%.*s", (int)(eq - setting), setting);
    const char *name = strncmp(key, "arch.", 5) ? key : key + 5;
    if (name != key && (!strcmp(name, "name") || !strncmp(name, "loss.", 5))) return HRM_OK;
    if (!json_object_get(known, name)) return setting_fail(err, n, "unknown key '%s'%s", key, "");
    bool text = !strcmp(name, "pos_encodings") || !strcmp(name, "arch");
    json_t *v = text ? json_string(eq + 1) : json_loads(eq + 1, JSON_DECODE_ANY, NULL);
    if (!v || !(json_is_number(v) || json_is_string(v) || json_is_boolean(v))) {
        json_decref(v);
        return setting_fail(err, n, "%s: '%s' is not a number", key, eq + 1);
    }
    json_t *before = json_object_get(given, name);
    if (before && !json_equal(before, v)) {
        char *first = json_dumps(before, JSON_ENCODE_ANY);
        hrm_status s = hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, "settings", "%s given twice: %s, then %s", name,
                                   first ? first : "?", eq + 1);
        free(first);
        json_decref(v);
        return s;
    }
    json_object_set_new(given, name, v);
    return HRM_OK;
}

/* cfg = the published defaults of arch overridden by the settings; given = the keys set (TRM's
 * keys are known to both: an HRM config refuses them when validated). */
static hrm_status apply_settings(const char *const *settings, int count, hrm_arch arch, hrm_config *cfg, json_t *given,
                                 char *err, size_t n) {
    hrm_config trm = hrm_config_default_arch(HRM_ARCH_TRM);
    *cfg = hrm_config_default_arch(arch);
    char *defaults = hrm_config_to_json(&trm);
    json_t *known = defaults ? json_loads(defaults, 0, NULL) : NULL;
    free(defaults);
    if (!known) return hrm_io_fail(err, n, HRM_ERR_OUT_OF_MEMORY, "settings", "out of memory");
    hrm_status s = HRM_OK;
    for (int i = 0; !s && i < count; i++) s = parse_setting(settings[i], known, given, err, n);
    json_decref(known);
    char *text = s ? NULL : json_dumps(given, JSON_COMPACT);
    char msg[256];
    if (!s && !text) s = hrm_io_fail(err, n, HRM_ERR_OUT_OF_MEMORY, "settings", "out of memory");
    if (!s && hrm_config_apply_json(text, cfg, msg, sizeof msg)) s = setting_fail(err, n, "%s%s", msg, "");
    free(text);
    return s;
}

/* ---- inference ---------------------------------------------------------------------------------- */

typedef struct infer {
    const hrm_torch_file *f;
    const char *path;
    name_index ix;
    json_t *given;
    hrm_config *cfg;
    char *err;
    size_t err_size;
} infer;

static const hrm_torch_tensor *tensor(const infer *in, const char *name) {
    int i = lookup(&in->ix, name);
    return i < 0 ? NULL : &in->f->tensors[i];
}

/* The tensor named, which must exist with ndim dimensions. */
static hrm_status need_tensor(infer *in, const char *name, int ndim, const hrm_torch_tensor **t) {
    char shape[128];
    *t = tensor(in, name);
    if (!*t) return hrm_io_fail(in->err, in->err_size, HRM_ERR_INVALID_ARG, in->path, "missing tensor %s", name);
    if ((*t)->ndim != ndim)
        return hrm_io_fail(in->err, in->err_size, HRM_ERR_INVALID_ARG, in->path,
                           "tensor %s has shape %s, expected %d dimensions", name,
                           hrm_shape_str(shape, sizeof shape, (*t)->ndim, (*t)->shape), ndim);
    for (int d = 0; d < ndim; d++)
        if ((*t)->shape[d] > MAX_INFERRED)
            return hrm_io_fail(in->err, in->err_size, HRM_ERR_INVALID_ARG, in->path, "tensor %s is implausibly large",
                               name);
    return HRM_OK;
}

/* Sets an inferred integer field, unless a setting said otherwise. */
static hrm_status set_inferred(infer *in, const char *key, int64_t value, const char *source, int *field) {
    if (json_object_get(in->given, key) && *field != value)
        return hrm_io_fail(in->err, in->err_size, HRM_ERR_INVALID_ARG, in->path, "%s=%d was given, but %s gives %lld",
                           key, *field, source, (long long)value);
    *field = (int)value;
    return HRM_OK;
}

/* Layers of a level: the count of consecutive layers.i.<leaf>.weight from 0. */
static int count_layers(const infer *in, char level, const char *leaf) {
    char name[128];
    int i = 0;
    for (;; i++) {
        snprintf(name, sizeof name, P "%c_level.layers.%d.%s.weight", level, i, leaf);
        if (!tensor(in, name) || i >= MAX_INFERRED) return i;
    }
}

/* TRM (trm.py): one network, L_level, whose blocks mix tokens by attention or, in the MLP form,
 * by mlp_t; the token SwiGLU's down_proj [S, It] gives the full sequence S. */
static hrm_status infer_trm_layers(infer *in) {
    hrm_config *c = in->cfg;
    int attn = count_layers(in, 'L', "self_attn.qkv_proj"), mlp_t = count_layers(in, 'L', "mlp_t.down_proj");
    if (!attn == !mlp_t)
        return hrm_io_fail(in->err, in->err_size, HRM_ERR_INVALID_ARG, in->path,
                           attn ? "the L_level blocks have both self_attn and mlp_t tensors"
                                : "missing tensor " P "L_level.layers.0.self_attn.qkv_proj.weight (or mlp_t)");
    hrm_status s = set_inferred(in, "L_layers", attn + mlp_t, "the L_level.layers.* tensors", &c->L_layers);
    if (!s) s = set_inferred(in, "mlp_t", mlp_t > 0, "the mlp_t tensors", &c->mlp_t);
    if (s || !mlp_t) return s;
    const hrm_torch_tensor *t;
    if ((s = need_tensor(in, P "L_level.layers.0.mlp_t.down_proj.weight", 2, &t))) return s;
    if (!json_object_get(in->given, "pos_encodings")) c->pos_encodings = HRM_POS_NONE; /* the published recipe */
    int64_t seq_len = t->shape[0] - hrm_config_prefix(c);
    if (seq_len < 1)
        return hrm_io_fail(in->err, in->err_size, HRM_ERR_INVALID_ARG, in->path,
                           "tensor " P "L_level.layers.0.mlp_t.down_proj.weight has %lld rows, fewer than the puzzle "
                           "prefix + 1",
                           (long long)t->shape[0]);
    return set_inferred(in, "seq_len", seq_len, P "L_level.layers.0.mlp_t.down_proj.weight (rows minus the prefix)",
                        &c->seq_len);
}

static hrm_status infer_layers(infer *in) {
    hrm_config *c = in->cfg;
    if (c->arch == HRM_ARCH_TRM) return infer_trm_layers(in);
    int H = count_layers(in, 'H', "self_attn.qkv_proj"), L = count_layers(in, 'L', "self_attn.qkv_proj");
    if (!H || !L)
        return hrm_io_fail(in->err, in->err_size, HRM_ERR_INVALID_ARG, in->path,
                           "missing tensor " P "%c_level.layers.0.self_attn.qkv_proj.weight", H ? 'L' : 'H');
    hrm_status s = set_inferred(in, "H_layers", H, "the H_level.layers.* tensors", &c->H_layers);
    return s ? s : set_inferred(in, "L_layers", L, "the L_level.layers.* tensors", &c->L_layers);
}

static hrm_status infer_embeddings(infer *in) {
    hrm_config *c = in->cfg;
    const hrm_torch_tensor *t;
    hrm_status s = need_tensor(in, P "embed_tokens.embedding_weight", 2, &t);
    if (!s) s = set_inferred(in, "vocab_size", t->shape[0], P "embed_tokens.embedding_weight", &c->vocab_size);
    if (!s) s = set_inferred(in, "hidden_size", t->shape[1], P "embed_tokens.embedding_weight", &c->hidden_size);
    if (s) return s;
    if (!tensor(in, P "puzzle_emb.weights")) {
        /* No puzzle embedding: the identifiers count is the dataset's, and touches no weight. */
        if (!json_object_get(in->given, "num_puzzle_identifiers")) c->num_puzzle_identifiers = 1;
        return set_inferred(in, "puzzle_emb_ndim", 0, "the absence of " P "puzzle_emb.weights", &c->puzzle_emb_ndim);
    }
    if ((s = need_tensor(in, P "puzzle_emb.weights", 2, &t))) return s;
    s = set_inferred(in, "num_puzzle_identifiers", t->shape[0], P "puzzle_emb.weights", &c->num_puzzle_identifiers);
    return s ? s : set_inferred(in, "puzzle_emb_ndim", t->shape[1], P "puzzle_emb.weights", &c->puzzle_emb_ndim);
}

/* Learned positions when embed_pos is present; its rows are then the full sequence. */
static hrm_status infer_positions(infer *in) {
    hrm_config *c = in->cfg;
    const hrm_torch_tensor *t;
    int learned = tensor(in, P "embed_pos.embedding_weight") != NULL;
    if (json_object_get(in->given, "pos_encodings") && (c->pos_encodings == HRM_POS_LEARNED) != learned)
        return hrm_io_fail(in->err, in->err_size, HRM_ERR_INVALID_ARG, in->path,
                           "pos_encodings=%s was given, but the checkpoint %s " P "embed_pos.embedding_weight",
                           hrm_pos_name(c->pos_encodings), learned ? "has" : "has no");
    if (learned || c->pos_encodings == HRM_POS_LEARNED) c->pos_encodings = learned ? HRM_POS_LEARNED : HRM_POS_ROPE;
    if (!learned) {
        if (!json_object_get(in->given, "seq_len") && !(c->mlp_t && c->seq_len > 0))
            return hrm_io_fail(in->err, in->err_size, HRM_ERR_INVALID_ARG, in->path,
                               "seq_len is unknown (rope positions): pass --data DIR or seq_len=N");
        return HRM_OK;
    }
    hrm_status s = need_tensor(in, P "embed_pos.embedding_weight", 2, &t);
    if (s) return s;
    int64_t seq_len = t->shape[0] - hrm_config_prefix(c);
    if (seq_len < 1)
        return hrm_io_fail(in->err, in->err_size, HRM_ERR_INVALID_ARG, in->path,
                           "tensor " P "embed_pos.embedding_weight has %lld rows, fewer than the puzzle prefix + 1",
                           (long long)t->shape[0]);
    return set_inferred(in, "seq_len", seq_len, P "embed_pos.embedding_weight (rows minus the puzzle prefix)",
                        &c->seq_len);
}

/* The SwiGLU width fixes the expansion up to rounding: a given expansion must produce it; else
 * the published 4 when it does, else the smallest multiple of 0.5 that does. */
static hrm_status infer_expansion(infer *in) {
    hrm_config *c = in->cfg;
    const hrm_torch_tensor *t;
    const char *name = in->cfg->arch == HRM_ARCH_TRM ? P "L_level.layers.0.mlp.down_proj.weight"
                                                     : P "H_level.layers.0.mlp.down_proj.weight";
    hrm_status s = need_tensor(in, name, 2, &t);
    if (s) return s;
    int64_t I = t->shape[1];
    if (hrm_config_intermediate(c) == I) return HRM_OK;
    if (json_object_get(in->given, "expansion"))
        return hrm_io_fail(in->err, in->err_size, HRM_ERR_INVALID_ARG, in->path,
                           "expansion=%g gives a SwiGLU width of %d, but %s has %lld", c->expansion,
                           hrm_config_intermediate(c), name, (long long)I);
    for (int half = 1; half <= 128; half++) {
        c->expansion = half / 2.0;
        if (hrm_config_intermediate(c) == I) return HRM_OK;
    }
    return hrm_io_fail(in->err, in->err_size, HRM_ERR_INVALID_ARG, in->path,
                       "no expansion gives the SwiGLU width %lld of %s", (long long)I, name);
}

hrm_status hrm_convert_config(const hrm_torch_file *f, const char *path, const char *const *settings, int n,
                              hrm_config *out, char *err, size_t err_size) {
    infer in = {.f = f, .path = path, .given = json_object(), .cfg = out, .err = err, .err_size = err_size};
    if (!in.given) return hrm_io_fail(err, err_size, HRM_ERR_OUT_OF_MEMORY, path, "out of memory");
    hrm_status s = index_state_dict(f, path, &in.ix, err, err_size);
    /* no H level: TRM's one network (docs/TRM.md "Parameters") */
    hrm_arch arch = s || tensor(&in, P "H_level.layers.0.mlp.down_proj.weight") ? HRM_ARCH_HRM : HRM_ARCH_TRM;
    if (!s) s = apply_settings(settings, n, arch, out, in.given, err, err_size);
    if (!s && out->arch != arch)
        s = hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "arch=%s was given, but the checkpoint %s",
                        hrm_arch_name(out->arch),
                        arch == HRM_ARCH_TRM ? "has no H_level tensors (a TRM)" : "has H_level tensors (an HRM)");
    if (!s) s = infer_embeddings(&in);
    if (!s) s = infer_layers(&in);
    if (!s) s = infer_positions(&in);
    if (!s) s = infer_expansion(&in);
    char msg[256];
    if (!s && hrm_config_validate(out, msg, sizeof msg))
        s = hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "the architecture is not valid: %s", msg);
    free(in.ix.items);
    json_decref(in.given);
    return s;
}

/* ---- checking and writing ------------------------------------------------------------------------- */

static int is_non_parameter(const char *name) {
    for (size_t i = 0; i < sizeof non_parameters / sizeof non_parameters[0]; i++)
        if (!strcmp(name, non_parameters[i])) return 1;
    return 0;
}

/* The tensor for parameter p: present, a float type, of p's shape. */
static hrm_status match(const hrm_torch_file *f, const name_index *ix, const hrm_param *p, const char *path,
                        const hrm_torch_tensor **out, char *err, size_t n) {
    char want[128], got[128];
    int i = lookup(ix, p->name);
    hrm_shape_str(want, sizeof want, p->ndim, p->shape);
    if (i < 0) return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "missing tensor %s (expected %s)", p->name, want);
    const hrm_torch_tensor *t = &f->tensors[i];
    int same = t->ndim == p->ndim;
    for (int d = 0; same && d < p->ndim; d++) same = t->shape[d] == p->shape[d];
    if (!same)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "tensor %s has shape %s, expected %s", p->name,
                           hrm_shape_str(got, sizeof got, t->ndim, t->shape), want);
    if (!t->data)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "tensor %s has dtype %s, expected a float type", p->name,
                           t->dtype_name);
    *out = t;
    return HRM_OK;
}

/* Every tensor of f is a parameter of the table or a known non-parameter. */
static hrm_status check_extras(const hrm_torch_file *f, const hrm_param_table *table, const char *path, int *skipped,
                               char *err, size_t n) {
    name_index params = {malloc((table->count ? (size_t)table->count : 1) * sizeof(named)), table->count};
    if (!params.items) return hrm_io_fail(err, n, HRM_ERR_OUT_OF_MEMORY, path, "out of memory");
    for (int i = 0; i < table->count; i++) params.items[i] = (named){table->params[i].name, i};
    qsort(params.items, (size_t)params.n, sizeof(named), by_name);
    hrm_status s = HRM_OK;
    *skipped = 0;
    for (int i = 0; !s && i < f->count; i++) {
        const char *name = hrm_convert_strip(f->tensors[i].name);
        if (lookup(&params, name) >= 0) continue;
        if (is_non_parameter(name))
            ++*skipped;
        else
            s = hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, path, "unexpected tensor %s (not a parameter of this HRM)",
                            name);
    }
    free(params.items);
    return s;
}

static hrm_status write_checkpoint(const hrm_param_table *table, const hrm_torch_tensor **src, const hrm_config *c,
                                   const char *out_path, char *err, size_t n) {
    hrm_st_entry *entries = calloc((size_t)table->count, sizeof *entries);
    char *config = hrm_config_to_json(c);
    hrm_status s = HRM_OK;
    if (!entries || !config) s = hrm_io_fail(err, n, HRM_ERR_OUT_OF_MEMORY, out_path, "out of memory");
    for (int i = 0; !s && i < table->count; i++)
        entries[i] = (hrm_st_entry){table->params[i].name, table->params[i].ndim, table->params[i].shape, src[i]->data};
    const char *key = "hrm.config", *value = config;
    if (!s) s = hrm_st_write(out_path, entries, table->count, &key, (const char *const *)&value, 1, err, n);
    free(entries);
    free(config);
    return s;
}

hrm_status hrm_convert_write(const hrm_torch_file *f, const char *in_path, const hrm_config *c, const char *out_path,
                             hrm_convert_summary *summary, char *err, size_t err_size) {
    hrm_param_table table = {0};
    name_index ix = {0};
    const hrm_torch_tensor **src = NULL;
    char msg[256];
    memset(summary, 0, sizeof *summary);
    if (hrm_config_validate(c, msg, sizeof msg))
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, in_path, "the architecture is not valid: %s", msg);
    hrm_status s = hrm_params_build(c, &table)
                       ? hrm_io_fail(err, err_size, HRM_ERR_OUT_OF_MEMORY, in_path, "out of memory")
                       : HRM_OK;
    if (!s) s = index_state_dict(f, in_path, &ix, err, err_size);
    if (!s && !(src = calloc((size_t)table.count, sizeof *src)))
        s = hrm_io_fail(err, err_size, HRM_ERR_OUT_OF_MEMORY, in_path, "out of memory");
    for (int i = 0; !s && i < table.count; i++) {
        s = match(f, &ix, &table.params[i], in_path, &src[i], err, err_size);
        if (!s)
            summary->from_bf16 += src[i]->dtype == HRM_TORCH_BF16, summary->from_f16 += src[i]->dtype == HRM_TORCH_F16;
    }
    if (!s) s = check_extras(f, &table, in_path, &summary->skipped, err, err_size);
    if (!s) s = write_checkpoint(&table, src, c, out_path, err, err_size);
    if (!s) {
        summary->tensors = table.count;
        summary->parameters = hrm_params_count(&table);
        summary->values = table.total;
    }
    free(src);
    free(ix.items);
    hrm_params_free(&table);
    return s;
}
