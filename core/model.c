/* core/model.c - an hrm_model: creating it (the parameter offsets it runs on, the device
 * allocations for every activation carved by a layout function, run twice: once to size them,
 * once to carve; one buffer, or several where the backend limits a buffer's size), the RoPE
 * tables, parameter upload/download, carry resets, the small helpers (copies, error lines) that
 * the layer files share, and one segment's forward and backward in the order of docs/MODEL.md "Segment schedule"
 * "Forward pass of one segment": the input embedding (model_embedding.c), the N x T schedule of
 * L and H updates (a level of transformer blocks: model_block.c) and the heads (model_heads.c);
 * the losses are model_loss.c's. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "init.h"
#include "model_internal.h"

/* ---- errors ---------------------------------------------------------------------------------- */

hrm_status model_failf(hrm_model *m, hrm_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->err, sizeof m->err, fmt, ap);
    va_end(ap);
    return st;
}

hrm_status model_check_batch(hrm_model *m, int B, const char *what) {
    if (B < 1 || B > m->max_batch)
        return model_failf(m, HRM_ERR_INVALID_ARG, "%s: batch %d outside [1, %d] (the model's max batch)", what, B,
                           m->max_batch);
    return HRM_OK;
}

const char *hrm_model_error(const hrm_model *m) { return m->err; }
const hrm_config *hrm_model_config(const hrm_model *m) { return &m->cfg; }
const hrm_param_table *hrm_model_params_table(const hrm_model *m) { return &m->table; }
int hrm_model_max_batch(const hrm_model *m) { return m->max_batch; }
int hrm_model_activation_buffers(const hrm_model *m) { return m->n_acts; }
hrm_matmul_precision hrm_model_set_matmul_precision(hrm_model *m, hrm_matmul_precision asked) {
    m->prec = hrm_precision_effective(hrm_ctx_matmul_precisions(m->ctx), asked);
    return m->prec;
}
hrm_matmul_precision hrm_model_matmul_precision(const hrm_model *m) { return m->prec; }
hrm_ptr hrm_model_params(const hrm_model *m) { return (hrm_ptr){m->params, 0}; }
hrm_ptr hrm_model_grads(const hrm_model *m) { return (hrm_ptr){m->grads, 0}; }
hrm_ptr hrm_model_puzzle_grads(const hrm_model *m) { return m->d_puzzle_rows; }
hrm_ptr hrm_model_logits(const hrm_model *m) { return m->logits; }
hrm_ptr hrm_model_d_logits(const hrm_model *m) { return m->d_logits; }

/* ---- parameter offsets -------------------------------------------------------------------- */

static int64_t offset_of(const hrm_param_table *t, const char *name) {
    const hrm_param *p = hrm_params_find(t, name);
    return p ? p->offset : -1;
}

static int64_t block_offset(const hrm_param_table *t, char lv, int layer, const char *leaf) {
    char name[128];
    snprintf(name, sizeof name, "model.inner.%c_level.layers.%d.%s.weight", lv, layer, leaf);
    return offset_of(t, name);
}

/* A level of `layers` blocks (0: none, TRM's H level) with `slots` saved calls. */
static int level_init(level *l, const hrm_param_table *t, char lv, int layers, int slots) {
    l->layers = layers;
    l->slots = slots;
    l->w = calloc((size_t)layers + 1, sizeof *l->w);
    l->hidden = calloc((size_t)slots * (layers + 1), sizeof *l->hidden);
    l->saved = calloc((size_t)slots * layers + 1, sizeof *l->saved);
    if (!l->w || !l->hidden || !l->saved) return 0;
    for (int i = 0; i < layers; i++)
        l->w[i] = (block_weights){.qkv = block_offset(t, lv, i, "self_attn.qkv_proj"),
                                  .o = block_offset(t, lv, i, "self_attn.o_proj"),
                                  .tok_gu = block_offset(t, lv, i, "mlp_t.gate_up_proj"),
                                  .tok_down = block_offset(t, lv, i, "mlp_t.down_proj"),
                                  .gate_up = block_offset(t, lv, i, "mlp.gate_up_proj"),
                                  .down = block_offset(t, lv, i, "mlp.down_proj")};
    return 1;
}

static void level_free(level *l) {
    free(l->w);
    free(l->hidden);
    free(l->saved);
}

static void resolve_offsets(hrm_model *m) {
    const hrm_param_table *t = &m->table;
    m->off_embed = offset_of(t, "model.inner.embed_tokens.embedding_weight");
    m->off_lm = offset_of(t, "model.inner.lm_head.weight");
    m->off_q_w = offset_of(t, "model.inner.q_head.weight");
    m->off_q_b = offset_of(t, "model.inner.q_head.bias");
    m->off_pos = offset_of(t, "model.inner.embed_pos.embedding_weight");
    m->off_puzzle = offset_of(t, "model.inner.puzzle_emb.weights");
    m->off_H_init = offset_of(t, "model.inner.H_init");
    m->off_L_init = offset_of(t, "model.inner.L_init");
}

/* ---- activation layout -------------------------------------------------------------------- */

/* Carves tensors out of the activation buffers; with bufs NULL it only counts. Tensors start on
 * 64-float (256-byte) boundaries, which device kernels and sub-buffers like. A tensor that would
 * take the current buffer past `cap` floats starts the next buffer: so no buffer passes the
 * backend's max_buffer_bytes (a device's allocation limit, or CLBlast's 32-bit offsets on OpenCL,
 * which broke the published batch of 768 on an H200 when the activations passed 2^31 floats). */
typedef struct arena {
    hrm_buffer **bufs; /* [n] when carving; NULL while sizing */
    size_t cap;        /* floats per buffer at most */
    size_t *used;      /* [n] floats carved from each buffer */
    int n, room;       /* buffers started; entries of used */
    size_t largest;    /* the largest tensor carved, in floats */
    int failed;        /* out of host memory while sizing */
} arena;

static hrm_ptr carve(arena *a, size_t n) {
    size_t len = (n + 63) & ~(size_t)63;
    if (len > a->largest) a->largest = len;
    if (a->n == 0 || len > a->cap - a->used[a->n - 1]) {
        if (!a->bufs && a->n == a->room) { /* sizing: one more buffer */
            int room = a->room ? 2 * a->room : 4;
            size_t *grown = realloc(a->used, (size_t)room * sizeof *grown);
            if (!grown) {
                a->failed = 1;
                return (hrm_ptr){0};
            }
            a->used = grown, a->room = room;
        }
        a->used[a->n++] = 0;
    }
    hrm_ptr p = {a->bufs ? a->bufs[a->n - 1] : NULL, a->used[a->n - 1]};
    a->used[a->n - 1] += len;
    return p;
}

static block_acts carve_block(arena *a, const hrm_model *m) {
    size_t B = (size_t)m->max_batch, R = B * m->S, D = m->D, I = m->I;
    if (m->It) /* TRM's MLP form: the token SwiGLU instead of attention, the first norm over S */
        return (block_acts){.tgu = carve(a, B * 2 * m->It * D),
                            .h1 = carve(a, R * D),
                            .rstd1 = carve(a, B * D),
                            .gu = carve(a, R * 2 * I),
                            .rstd2 = carve(a, R)};
    return (block_acts){.qkv = carve(a, R * 3 * D),
                        .o = carve(a, R * D),
                        .lse = carve(a, B * m->heads * m->S),
                        .h1 = carve(a, R * D),
                        .rstd1 = carve(a, R),
                        .gu = carve(a, R * 2 * I),
                        .rstd2 = carve(a, R)};
}

static void carve_level(arena *a, const hrm_model *m, level *l) {
    size_t R = (size_t)m->max_batch * m->S;
    for (int i = 0; i < l->slots * (l->layers + 1); i++) l->hidden[i] = carve(a, R * m->D);
    for (int i = 0; i < l->slots * l->layers; i++) l->saved[i] = carve_block(a, m);
}

/* Every activation of the model; the same sequence of carves both sizes (a->bufs NULL) and places
 * them (a->bufs from the sizing pass, so each buffer starts where the sizing pass started one). */
static void layout_acts(hrm_model *m, arena *a) {
    size_t B = (size_t)m->max_batch, R = B * m->S, D = m->D, BL = B * m->seq_len;
    m->x = carve(a, R * D);
    m->rope_cos = carve(a, (size_t)m->S * m->head_dim / 2);
    m->rope_sin = carve(a, (size_t)m->S * m->head_dim / 2);
    m->ones = carve(a, B > (size_t)m->S ? B : (size_t)m->S);
    if (m->It) {
        m->eye_S = carve(a, (size_t)m->S * m->S);
        m->eye_D = carve(a, D * D);
        m->tr_a = carve(a, R * D);
        m->tr_b = carve(a, R * D);
    }
    m->logits = carve(a, BL * m->V);
    m->d_logits = carve(a, BL * m->V);
    m->q = carve(a, 2 * B);
    m->d_q = carve(a, 2 * B);
    m->loss = carve(a, B);
    m->count = carve(a, B);
    m->correct = carve(a, B);
    m->preds = carve(a, BL);
    m->d_puzzle_rows = m->P > 0 ? carve(a, B * m->cfg.puzzle_emb_ndim) : (hrm_ptr){0};
    m->d_h = carve(a, R * D);
    m->d_x = m->cfg.arch == HRM_ARCH_TRM ? carve(a, R * D) : (hrm_ptr){0};
    m->spare_zH = carve(a, R * D);
    m->spare_zL = carve(a, R * D);
    m->scratch = carve_block(a, m);
    m->scratch_a = carve(a, R * D);
    m->scratch_m = carve(a, R * m->I > B * m->It * D ? R * m->I : B * m->It * D);
    carve_level(a, m, &m->H_level);
    carve_level(a, m, &m->L_level);
}

/* ---- constants on the device ---------------------------------------------------------------- */

/* cos/sin [S, head_dim/2] in float32 exactly as the published RotaryEmbedding builds them:
 * inv_freq = 1 / theta^(arange(0, hd, 2) / hd), freqs = outer(arange(S), inv_freq), all float32. */
static hrm_status upload_rope(hrm_model *m) {
    int half = m->head_dim / 2;
    size_t n = (size_t)m->S * half;
    float *cs = malloc(2 * n * sizeof *cs);
    if (!cs) return model_failf(m, HRM_ERR_OUT_OF_MEMORY, "model: out of host memory for the RoPE tables");
    for (int i = 0; i < half; i++) {
        float inv_freq = 1.0f / powf((float)m->cfg.rope_theta, (float)(2 * i) / (float)m->head_dim);
        for (int s = 0; s < m->S; s++) {
            float f = (float)s * inv_freq;
            cs[(size_t)s * half + i] = cosf(f);
            cs[n + (size_t)s * half + i] = sinf(f);
        }
    }
    const char *what = "model: uploading the RoPE tables";
    hrm_status st = op_write(&m->ops, m->rope_cos, cs, n, what);
    if (st == HRM_OK) st = op_write(&m->ops, m->rope_sin, cs + n, n, what);
    free(cs);
    return st;
}

static hrm_status upload_constants(hrm_model *m) {
    size_t ones = m->max_batch > m->S ? (size_t)m->max_batch : (size_t)m->S;
    TRY(op_fill(&m->ops, m->ones, ones, 1.0f, "model: filling ones"));
    TRY(op_fill(&m->ops, param_at(m, 0), (size_t)m->table.total, 0.0f, "model: zeroing parameters"));
    TRY(op_fill(&m->ops, grad_at(m, 0), (size_t)m->table.adam_total, 0.0f, "model: zeroing gradients"));
    for (int k = 0; m->It && k < 2; k++) { /* the MLP form's identities */
        size_t n = (size_t)(k ? m->D : m->S);
        float *eye = calloc(n * n, sizeof *eye);
        if (!eye) return model_failf(m, HRM_ERR_OUT_OF_MEMORY, "model: out of host memory for an identity");
        for (size_t i = 0; i < n; i++) eye[i * (n + 1)] = 1;
        hrm_status st = op_write(&m->ops, k ? m->eye_D : m->eye_S, eye, n * n, "model: uploading an identity");
        free(eye);
        TRY(st);
    }
    return upload_rope(m);
}

/* ---- create / free ------------------------------------------------------------------------- */

static hrm_status alloc_floats(hrm_model *m, size_t n, hrm_buffer **out, const char *what) {
    char line[128];
    snprintf(line, sizeof line, "model: allocating %s (%.1f MiB)", what, n * 4.0 / (1 << 20));
    return op_alloc(&m->ops, n, out, line);
}

/* floats per activation buffer at most: the backend's limit, rounded down to whole tensors' 64 */
static size_t acts_cap(const hrm_model *m) {
    uint64_t bytes = hrm_ctx_max_buffer_bytes(m->ctx);
    if (bytes == 0 || bytes / 4 > SIZE_MAX) return SIZE_MAX & ~(size_t)63;
    return (size_t)(bytes / 4) & ~(size_t)63;
}

/* Sizes the layout, allocates its buffers, carves. The one limit left is a single tensor larger
 * than a buffer may be: it is refused here, naming the largest batch that fits. */
static hrm_status alloc_acts(hrm_model *m) {
    arena a = {.cap = acts_cap(m)};
    layout_acts(m, &a);
    if (a.failed) {
        free(a.used);
        return model_failf(m, HRM_ERR_OUT_OF_MEMORY, "model: out of host memory");
    }
    if (a.largest > a.cap) {
        free(a.used);
        size_t per_sample = a.largest / (size_t)m->max_batch + 1;
        return model_failf(m, HRM_ERR_OUT_OF_MEMORY,
                           "model: batch %d is too large for this device: one activation tensor takes %.1f MiB, over "
                           "the largest buffer its backend takes (%.1f MiB); batches up to about %zu fit",
                           m->max_batch, a.largest * 4.0 / (1 << 20), a.cap * 4.0 / (1 << 20), a.cap / per_sample);
    }
    m->acts = calloc((size_t)a.n, sizeof *m->acts);
    if (!m->acts) {
        free(a.used);
        return model_failf(m, HRM_ERR_OUT_OF_MEMORY, "model: out of host memory");
    }
    hrm_status st = HRM_OK;
    for (int i = 0; i < a.n && st == HRM_OK; i++) {
        char what[64];
        snprintf(what, sizeof what, a.n > 1 ? "activations (buffer %d of %d)" : "activations", i + 1, a.n);
        st = alloc_floats(m, a.used[i], &m->acts[i], what);
        if (st == HRM_OK) m->n_acts = i + 1;
    }
    if (st == HRM_OK) {
        arena place = {.bufs = m->acts, .cap = a.cap, .used = a.used}; /* carve zeroes used[i] as it starts buffer i */
        layout_acts(m, &place);
    }
    free(a.used);
    return st;
}

static hrm_status model_setup(hrm_model *m) {
    const hrm_config *c = &m->cfg;
    m->D = c->hidden_size;
    m->heads = c->num_heads;
    m->head_dim = hrm_config_head_dim(c);
    m->I = hrm_config_intermediate(c);
    m->P = hrm_config_prefix(c);
    m->S = hrm_config_full_seq(c);
    m->seq_len = c->seq_len;
    m->V = c->vocab_size;
    m->It = c->mlp_t ? hrm_config_token_intermediate(c) : 0;
    /* The published embed_scale is sqrt(D); learned positions also scale by 1/sqrt(2) to keep
     * the forward variance, and the op computes scale * (e + pos). */
    m->embed_scale = sqrtf((float)m->D) * (c->pos_encodings == HRM_POS_LEARNED ? 0.707106781f : 1.0f);
    if ((int64_t)m->max_batch * m->S * 3 * (m->D > m->I ? m->D : m->I) > INT_MAX ||
        (int64_t)m->max_batch * 2 * m->It * m->D > INT_MAX)
        return model_failf(m, HRM_ERR_INVALID_ARG, "model: max batch %d x sequence %d is too large for one matmul",
                           m->max_batch, m->S);
    /* HRM saves its last H and last L update; TRM has one network (L_level) and saves the n + 1
     * calls of its last cycle */
    int trm = c->arch == HRM_ARCH_TRM;
    if (hrm_params_build(c, &m->table) || !level_init(&m->H_level, &m->table, 'H', trm ? 0 : c->H_layers, 1) ||
        !level_init(&m->L_level, &m->table, 'L', c->L_layers, trm ? c->L_cycles + 1 : 1))
        return model_failf(m, HRM_ERR_OUT_OF_MEMORY, "model: out of host memory");
    resolve_offsets(m);
    m->q_host = malloc(2 * (size_t)m->max_batch * sizeof *m->q_host);
    if (!m->q_host) return model_failf(m, HRM_ERR_OUT_OF_MEMORY, "model: out of host memory");
    TRY(alloc_floats(m, (size_t)m->table.total, &m->params, "parameters"));
    TRY(alloc_floats(m, (size_t)m->table.adam_total, &m->grads, "gradients"));
    TRY(alloc_acts(m));
    return upload_constants(m);
}

hrm_status hrm_model_create(hrm_ctx *ctx, const hrm_config *cfg, int max_batch, hrm_model **out, char *err,
                            size_t err_size) {
    *out = NULL;
    char why[256];
    if (hrm_config_validate(cfg, why, sizeof why)) {
        snprintf(err, err_size, "model: bad config: %s", why);
        return HRM_ERR_INVALID_ARG;
    }
    if (max_batch < 1) {
        snprintf(err, err_size, "model: max batch %d < 1", max_batch);
        return HRM_ERR_INVALID_ARG;
    }
    hrm_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, err_size, "model: out of host memory");
        return HRM_ERR_OUT_OF_MEMORY;
    }
    m->cfg = *cfg;
    m->ctx = ctx;
    m->ops = (hrm_ops){ctx, m->err, sizeof m->err};
    m->max_batch = max_batch;
    hrm_status st = model_setup(m);
    if (st != HRM_OK) {
        snprintf(err, err_size, "%s", m->err);
        hrm_model_free(m);
        return st;
    }
    *out = m;
    return HRM_OK;
}

void hrm_model_free(hrm_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_acts; i++) op_free(&m->ops, m->acts[i]);
    free(m->acts);
    op_free(&m->ops, m->grads);
    op_free(&m->ops, m->params);
    free(m->q_host);
    free(m->noise_host);
    level_free(&m->H_level);
    level_free(&m->L_level);
    hrm_params_free(&m->table);
    free(m);
}

/* ---- parameters ------------------------------------------------------------------------------ */

hrm_status hrm_model_set_params(hrm_model *m, const float *host, int64_t n) {
    if (n != m->table.total)
        return model_failf(m, HRM_ERR_INVALID_ARG, "set_params: %lld floats given, the model has %lld", (long long)n,
                           (long long)m->table.total);
    TRY(op_write(&m->ops, param_at(m, 0), host, (size_t)n, "set_params"));
    return HRM_OK;
}

hrm_status hrm_model_get_params(hrm_model *m, float *host, int64_t n) {
    if (n != m->table.total)
        return model_failf(m, HRM_ERR_INVALID_ARG, "get_params: room for %lld floats, the model has %lld", (long long)n,
                           (long long)m->table.total);
    TRY(op_read(&m->ops, param_at(m, 0), host, (size_t)n, "get_params"));
    return HRM_OK;
}

hrm_status hrm_model_init_params(hrm_model *m, uint64_t seed) {
    float *host = malloc((size_t)m->table.total * sizeof *host);
    if (!host) return model_failf(m, HRM_ERR_OUT_OF_MEMORY, "init_params: out of host memory");
    hrm_init_params(&m->table, host, seed);
    hrm_status st = hrm_model_set_params(m, host, m->table.total);
    free(host);
    return st;
}

hrm_status hrm_model_zero_grads(hrm_model *m) {
    TRY(op_fill(&m->ops, grad_at(m, 0), (size_t)m->table.adam_total, 0.0f, "zero_grads"));
    return HRM_OK;
}

/* ---- carry resets -------------------------------------------------------------------------- */

/* z[b0, b0+n) [S, D] = ones [S, 1] x init [1, D]: a broadcast as one strided-batched matmul, so a
 * reset needs no host data. */
static hrm_status broadcast_rows(hrm_model *m, hrm_ptr z, int b0, int n, int64_t init) {
    int64_t SD = (int64_t)m->S * m->D;
    hrm_matmul_args a = {.m = m->S,
                         .n = m->D,
                         .k = 1,
                         .alpha = 1,
                         .beta = 0,
                         .a = m->ones,
                         .lda = 1,
                         .b = param_at(m, init),
                         .ldb = m->D,
                         .c = ptr_at(z, b0 * SD),
                         .ldc = m->D,
                         .stride_c = SD,
                         .batch = n};
    TRY(op_matmul(&m->ops, &a, HRM_PRECISION_HIGHEST, "reset_slots (matmul)"));
    return HRM_OK;
}

hrm_status hrm_model_reset_slots(hrm_model *m, int B, hrm_carry carry, const uint8_t *reset) {
    TRY(model_check_batch(m, B, "reset_slots"));
    for (int b = 0; b < B;) {
        if (reset && !reset[b]) {
            b++;
            continue;
        }
        int n = 1; /* consecutive slots go in one call */
        while (b + n < B && (!reset || reset[b + n])) n++;
        TRY(broadcast_rows(m, carry.zH, b, n, m->off_H_init));
        TRY(broadcast_rows(m, carry.zL, b, n, m->off_L_init));
        b += n;
    }
    return HRM_OK;
}

/* ---- sampled inference ------------------------------------------------------------------------ */

hrm_status hrm_model_set_noise(hrm_model *m, float sigma, uint64_t seed) {
    if (!(sigma >= 0) || !isfinite(sigma)) return model_failf(m, HRM_ERR_INVALID_ARG, "noise: sigma %g", (double)sigma);
    if (sigma > 0 && !m->noise_host && !(m->noise_host = malloc((size_t)m->S * m->D * sizeof *m->noise_host)))
        return model_failf(m, HRM_ERR_OUT_OF_MEMORY, "noise: out of host memory");
    m->noise_sigma = sigma;
    hrm_rng_seed(&m->noise_rng, seed);
    return HRM_OK;
}

/* out = z + sigma N(0, 1) for B slots, drawn slot by slot on the host into d_h (free in a forward:
 * only a backward writes it) and added on the device. */
static hrm_status add_noise(hrm_model *m, int B, hrm_ptr z, hrm_ptr out) {
    size_t SD = (size_t)m->S * m->D;
    for (int b = 0; b < B; b++) {
        for (size_t i = 0; i < SD; i++) m->noise_host[i] = m->noise_sigma * (float)hrm_rng_normal(&m->noise_rng);
        TRY(op_write(&m->ops, ptr_at(m->d_h, (int64_t)(b * SD)), m->noise_host, SD, "noise: upload"));
    }
    hrm_add_args a = {.n = (int64_t)(B * SD), .out = out, .a = z, .b = m->d_h};
    return op_add(&m->ops, &a, "noise (add)");
}

/* ---- one segment: forward ------------------------------------------------------------------ */

typedef enum schedule_part {
    RUN_PREFIX,  /* every update but the last L and the last H */
    RUN_NO_SAVE, /* every update, nothing saved */
    RUN_TRAIN,   /* every update, the last L and the last H saved for the backward */
    RUN_NOISY,   /* as RUN_NO_SAVE, with noise on z_H and z_L before each cycle (hrm_model_set_noise) */
} schedule_part;

/* The N x T schedule from carry `in` to carry `out`. The current zH, zL are read from `in` until
 * an update first writes `out`. */
static hrm_status run_schedule(hrm_model *m, int B, hrm_carry in, hrm_carry out, schedule_part part) {
    const int N = m->cfg.H_cycles, T = m->cfg.L_cycles;
    hrm_ptr zH = in.zH, zL = in.zL;
    for (int n = 0; n < N; n++) {
        if (part == RUN_NOISY) {
            TRY(add_noise(m, B, zH, out.zH));
            TRY(add_noise(m, B, zL, out.zL));
            zH = out.zH, zL = out.zL;
        }
        for (int t = 0; t < T; t++) {
            int last = n == N - 1 && t == T - 1;
            if (last && part == RUN_PREFIX) break;
            TRY(level_forward(m, &m->L_level, B, zL, zH, m->x, out.zL, last && part == RUN_TRAIN ? 0 : -1));
            zL = out.zL;
        }
        if (n == N - 1 && part == RUN_PREFIX) break;
        TRY(level_forward(m, &m->H_level, B, zH, zL, (hrm_ptr){0}, out.zH, n == N - 1 && part == RUN_TRAIN ? 0 : -1));
        zH = out.zH;
    }
    /* a short prefix may leave part of the carry untouched */
    size_t n = (size_t)B * m->S * m->D;
    if (!ptr_eq(zH, out.zH)) TRY(copy_floats(m, out.zH, zH, n));
    if (!ptr_eq(zL, out.zL)) TRY(copy_floats(m, out.zL, zL, n));
    return HRM_OK;
}

/* TRM's schedule (docs/TRM.md "One supervision step"): T = H_cycles cycles of n = L_cycles
 * updates z <- net(z, y + x) and one y <- net(y, z), all with the one network (L_level); y is the
 * carry's zH, z its zL. Training saves the n + 1 calls of the last cycle in slots 0..n; the
 * prefix is the first T - 1 cycles. */
static hrm_status run_trm_schedule(hrm_model *m, int B, hrm_carry in, hrm_carry out, schedule_part part) {
    const int T = m->cfg.H_cycles, n = m->cfg.L_cycles;
    level *net = &m->L_level;
    hrm_ptr y = in.zH, z = in.zL;
    for (int c = 0; c < T - (part == RUN_PREFIX); c++) {
        int save = c == T - 1 && part == RUN_TRAIN;
        if (part == RUN_NOISY) {
            TRY(add_noise(m, B, y, out.zH));
            TRY(add_noise(m, B, z, out.zL));
            y = out.zH, z = out.zL;
        }
        for (int i = 0; i < n; i++) {
            TRY(level_forward(m, net, B, z, y, m->x, out.zL, save ? i : -1));
            z = out.zL;
        }
        TRY(level_forward(m, net, B, y, z, (hrm_ptr){0}, out.zH, save ? n : -1));
        y = out.zH;
    }
    size_t count = (size_t)B * m->S * m->D; /* a 1-cycle prefix leaves the carry untouched */
    if (!ptr_eq(y, out.zH)) TRY(copy_floats(m, out.zH, y, count));
    if (!ptr_eq(z, out.zL)) TRY(copy_floats(m, out.zL, z, count));
    return HRM_OK;
}

static hrm_status run_any_schedule(hrm_model *m, int B, hrm_carry in, hrm_carry out, schedule_part part) {
    return m->cfg.arch == HRM_ARCH_TRM ? run_trm_schedule(m, B, in, out, part) : run_schedule(m, B, in, out, part);
}

static hrm_status check_carry(hrm_model *m, hrm_carry c, const char *what) {
    if (!c.zH.buf || !c.zL.buf) return model_failf(m, HRM_ERR_INVALID_ARG, "%s: carry tensor is NULL", what);
    if (ptr_eq(c.zH, c.zL)) return model_failf(m, HRM_ERR_INVALID_ARG, "%s: zH and zL are the same tensor", what);
    return HRM_OK;
}

hrm_status hrm_model_forward(hrm_model *m, hrm_forward_mode mode, int B, hrm_ptr tokens, hrm_ptr puzzle_ids,
                             hrm_carry in, hrm_carry out, float *q_halt, float *q_continue) {
    TRY(model_check_batch(m, B, "forward"));
    if (!out.zH.buf) out = (hrm_carry){m->spare_zH, m->spare_zL};
    TRY(check_carry(m, in, "forward"));
    TRY(check_carry(m, out, "forward"));
    if (mode == HRM_FORWARD_TRAIN) m->train_batch = 0; /* the saves are being overwritten */
    TRY(embed_forward(m, B, tokens, puzzle_ids));
    schedule_part part = mode == HRM_FORWARD_TRAIN                        ? RUN_TRAIN
                         : mode == HRM_FORWARD_EVAL && m->noise_sigma > 0 ? RUN_NOISY
                                                                          : RUN_NO_SAVE;
    TRY(run_any_schedule(m, B, in, out, part));
    if (mode != HRM_FORWARD_Q_ONLY) {
        TRY(lm_head_forward(m, B, out.zH));
        m->logits_batch = B;
    }
    TRY(q_head_forward(m, B, out.zH, q_halt, q_continue));
    if (mode == HRM_FORWARD_TRAIN) {
        m->train_batch = B;
        m->train_tokens = tokens;
        m->train_puzzle_ids = puzzle_ids;
    }
    return HRM_OK;
}

hrm_status hrm_model_forward_prefix(hrm_model *m, int B, hrm_ptr tokens, hrm_ptr puzzle_ids, hrm_carry in,
                                    hrm_carry out) {
    TRY(model_check_batch(m, B, "forward_prefix"));
    TRY(check_carry(m, in, "forward_prefix"));
    TRY(check_carry(m, out, "forward_prefix"));
    TRY(embed_forward(m, B, tokens, puzzle_ids));
    return run_any_schedule(m, B, in, out, RUN_PREFIX);
}

/* ---- one segment: backward ----------------------------------------------------------------- */

/* The one-step-gradient backward of a TRAIN forward: output heads -> the last H update -> the
 * last L update -> the input embedding (docs/MODEL.md "One-step gradient": the carry going into those updates is
 * detached, so nothing flows further back). */
/* TRM's full backward through the last cycle (docs/TRM.md "One supervision step"): the heads ->
 * the y update (its input y + z_n: y entered detached, so d_h becomes the gradient of z_n) ->
 * the n z updates, last first (input z_{k-1} + (y + x): z_0 and y are detached; d_h goes on as
 * the gradient of z_{k-1}, and x gathers it from every update) -> the input embedding. */
static hrm_status trm_backward(hrm_model *m, int B) {
    const int n = m->cfg.L_cycles;
    level *net = &m->L_level;
    size_t count = (size_t)B * m->S * m->D;
    TRY(level_backward(m, net, B, n));
    for (int k = n - 1; k >= 0; k--) {
        TRY(level_backward(m, net, B, k));
        hrm_add_args acc = {.n = (int64_t)count, .out = m->d_x, .a = m->d_h, .b = m->d_x};
        if (k == n - 1)
            TRY(copy_floats(m, m->d_x, m->d_h, count));
        else
            TRY(op_add(&m->ops, &acc, "gradient of x (add)"));
    }
    TRY(copy_floats(m, m->d_h, m->d_x, count));
    return embed_backward(m, B);
}

hrm_status hrm_model_backward(hrm_model *m, const float *d_q) {
    int B = m->train_batch;
    if (B == 0) return model_failf(m, HRM_ERR_INVALID_ARG, "backward: no TRAIN forward to differentiate");
    level *out_level = m->cfg.arch == HRM_ARCH_TRM ? &m->L_level : &m->H_level;
    hrm_ptr zH = level_hidden(out_level, out_level->slots - 1)[out_level->layers];
    TRY(lm_head_backward(m, B, zH));
    if (d_q) TRY(q_head_backward(m, B, zH, d_q));
    if (m->cfg.arch == HRM_ARCH_TRM) return trm_backward(m, B);
    /* d(zH_prev + zL): zH_prev is detached, so this is the gradient of the new zL */
    TRY(level_backward(m, &m->H_level, B, 0));
    /* d(zL_prev + zH_prev + x): only x is not detached */
    TRY(level_backward(m, &m->L_level, B, 0));
    return embed_backward(m, B);
}
