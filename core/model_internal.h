/* core/model_internal.h - the hrm_model struct and what its files share (model.c: creation,
 * memory and one segment's forward and backward; the layers, each forward next to its backward:
 * model_embedding.c, model_block.c, model_heads.c; model_loss.c). Not installed. */
#ifndef HRM_CORE_MODEL_INTERNAL_H
#define HRM_CORE_MODEL_INTERNAL_H

#include "model.h"
#include "ops.h"
#include "rng.h"
#include "status.h"

/* Where one block's weights start in the flat buffer; the same offsets index grads. -1 where the
 * block has no such tensor: the attention weights or TRM's MLP form's token SwiGLU. */
typedef struct block_weights {
    int64_t qkv;      /* [3D, D] */
    int64_t o;        /* [D, D] */
    int64_t tok_gu;   /* [2It, S] MLP form: token SwiGLU gate_up, across the sequence */
    int64_t tok_down; /* [S, It] */
    int64_t gate_up;  /* [2I, D] */
    int64_t down;     /* [D, I] */
} block_weights;

/* What a block's forward writes besides its output, and its backward reads (R = B*S rows). In
 * the no-save mode every block of every update writes the same scratch set. */
typedef struct block_acts {
    hrm_ptr qkv;   /* [R, 3D] after RoPE: the q, k, v the attention saw */
    hrm_ptr o;     /* [R, D] attention output before o_proj */
    hrm_ptr lse;   /* [B, heads, S] */
    hrm_ptr tgu;   /* MLP form instead of the three above: [B, 2It, D] the token gate_up output */
    hrm_ptr h1;    /* [R, D] rmsnorm(h + attn): the attention sub-layer's output */
    hrm_ptr rstd1; /* [R]; MLP form [B, D] (the norm over the sequence) */
    hrm_ptr gu;    /* [R, 2I] gate_up output, gate first */
    hrm_ptr rstd2; /* [R] */
} block_acts;

typedef struct level {
    int layers;
    block_weights *w; /* [layers] */
    /* Saved by the calls of this level that the gradient flows through, `slots` of them (HRM: its
     * last update; TRM: the n + 1 calls of the last cycle), call k in slot k: hidden[k (layers +
     * 1)] its input (z + injection), then block i's output, the last the level's output; [R, D]
     * each. saved[k layers + i]: what block i's backward needs. */
    int slots;
    hrm_ptr *hidden;   /* [slots (layers + 1)] */
    block_acts *saved; /* [slots layers] */
} level;

static inline hrm_ptr *level_hidden(const level *l, int slot) { return l->hidden + (size_t)slot * (l->layers + 1); }
static inline block_acts *level_saved(const level *l, int slot) { return l->saved + (size_t)slot * l->layers; }

struct hrm_model {
    hrm_config cfg;
    hrm_param_table table;
    hrm_ctx *ctx;
    hrm_ops ops; /* the backend, failures recorded in err */
    int max_batch;
    /* sizes: hidden, heads, head_dim, SwiGLU inter, prefix P, full sequence S, seq_len, vocab */
    int D, heads, head_dim, I, P, S, seq_len, V;
    int It; /* TRM's MLP form: the token SwiGLU width; 0 otherwise */
    float embed_scale;
    /* offsets in the flat buffer; -1 when the config has no such tensor */
    int64_t off_embed, off_lm, off_q_w, off_q_b, off_pos, off_puzzle, off_H_init, off_L_init;
    level H_level, L_level;

    hrm_buffer *params, *grads;
    /* The activations: one buffer, or several where the backend limits a buffer's size
     * (max_buffer_bytes); a tensor never straddles two. */
    hrm_buffer **acts;
    int n_acts;
    /* carved from acts */
    hrm_ptr x;                           /* [R, D] input embedding of the segment */
    hrm_ptr rope_cos, rope_sin;          /* [S, head_dim/2] */
    hrm_ptr ones;                        /* [max(B, S)] of 1: broadcasts and column sums by matmul */
    hrm_ptr eye_S, eye_D;                /* MLP form: identity matrices [S, S], [D, D] (exact transposes) */
    hrm_ptr tr_a, tr_b;                  /* MLP form: [B, D, S] each, the transposed layout of the norm */
    hrm_ptr logits, d_logits;            /* [B, seq_len, V] */
    hrm_ptr q, d_q;                      /* [B, 2] */
    hrm_ptr loss, count, correct, preds; /* [B], [B] i32, [B] i32, [B, seq_len] i32 */
    hrm_ptr d_puzzle_rows;               /* [B, puzzle_emb_ndim] */
    hrm_ptr d_h;                         /* [R, D] gradient flowing back through the levels */
    hrm_ptr d_x;                         /* [R, D] TRM: the gradient of x summed over the z updates */
    hrm_ptr spare_zH, spare_zL;          /* [R, D] the carry a forward without `out` writes */
    block_acts scratch;                  /* no-save activations; the backward reuses them as gradients */
    hrm_ptr scratch_a;                   /* [R, D] o_proj / down_proj output; zH[:, P:] rows in backward */
    hrm_ptr scratch_m;                   /* [R, I] SwiGLU output / its gradient; MLP form at least [B, It D] */

    float *q_host; /* [2B] host copy of q */

    /* Sampled inference (hrm_model_set_noise): sigma 0 = none; noise_host [S D] one slot's draw */
    float noise_sigma;
    hrm_rng noise_rng;
    float *noise_host;

    /* The precision of the linear layers' and the LM head's products (forward and backward; see
     * hrm_model_set_matmul_precision). Broadcasts, column sums and the two-wide Q head stay fp32:
     * they are tiny and some of them copy values (H_init, biases) that rounding would change. */
    hrm_matmul_precision prec;

    int logits_batch; /* B of the last forward that wrote logits */
    int train_batch;  /* B of the last TRAIN forward; 0 when nothing is saved */
    hrm_ptr train_tokens, train_puzzle_ids;
    char err[512];
};

static inline hrm_ptr ptr_at(hrm_ptr p, int64_t off) {
    p.off += (size_t)off;
    return p;
}
static inline hrm_ptr param_at(const hrm_model *m, int64_t off) { return (hrm_ptr){m->params, (size_t)off}; }
static inline hrm_ptr grad_at(const hrm_model *m, int64_t off) { return (hrm_ptr){m->grads, (size_t)off}; }
static inline int ptr_eq(hrm_ptr a, hrm_ptr b) { return a.buf == b.buf && a.off == b.off; }

/* Records a formatted message and returns st. */
hrm_status model_failf(hrm_model *m, hrm_status st, const char *fmt, ...);

/* Fails unless 1 <= B <= max_batch. */
hrm_status model_check_batch(hrm_model *m, int B, const char *what);

/* n floats from src to dst, on the device. */
static inline hrm_status copy_floats(hrm_model *m, hrm_ptr dst, hrm_ptr src, size_t n) {
    return op_copy(&m->ops, dst, src, n, "buffer_copy");
}

/* ---- the layers, each forward next to its backward in its file; model.c runs them ---------- */

/* model_embedding.c: x [R, D] = the input embedding of tokens and puzzle ids; its backward takes
 * d_h (the gradient of x) into the embedding tables' gradients and d_puzzle_rows, for the tokens
 * and puzzle ids of the last TRAIN forward. */
hrm_status embed_forward(hrm_model *m, int B, hrm_ptr tokens, hrm_ptr puzzle_ids);
hrm_status embed_backward(hrm_model *m, int B);

/* model_block.c: out = Level(z, inj_a + inj_b) (inj_b optional). Saving (slot >= 0), the level
 * works in its slot's hidden tensors and copies its output to out at the end; otherwise (slot -1)
 * it runs in place on out. out may equal z. The backward takes d_h from d(the slot's level
 * output) to d(level input) = d(z + injection). */
hrm_status level_forward(hrm_model *m, level *l, int B, hrm_ptr z, hrm_ptr inj_a, hrm_ptr inj_b, hrm_ptr out, int slot);
hrm_status level_backward(hrm_model *m, level *l, int B, int slot);

/* model_heads.c: logits = the LM head of zH (each slot's rows past the prefix); q = the Q head of
 * zH's first row (q_halt, q_continue copied to the host where not NULL). The backwards add the
 * heads' weight gradients and write d_h, the gradient of zH: the LM head's sets it (zero on the
 * prefix rows), the Q head's adds to row 0 of each slot. */
hrm_status lm_head_forward(hrm_model *m, int B, hrm_ptr zH);
hrm_status lm_head_backward(hrm_model *m, int B, hrm_ptr zH);
hrm_status q_head_forward(hrm_model *m, int B, hrm_ptr zH, float *q_halt, float *q_continue);
hrm_status q_head_backward(hrm_model *m, int B, hrm_ptr zH, const float *d_q);

#endif /* HRM_CORE_MODEL_INTERNAL_H */
