/* hrm/backend.h - the compute-backend plugin ABI.
 *
 * A backend is a shared module that exports one C symbol, HRM_BACKEND_ENTRY_SYMBOL, a function
 * returning a pointer to a static hrm_backend_iface table. The host (libhrm) checks the table's
 * abi_version before anything else, and never calls a slot that lies past struct_size: the
 * table is append-only within one major version, so an older plugin keeps loading in a newer
 * host. A backend knows nothing of HRM; it offers fp32 tensors (plain buffers) and the ops
 * below.
 *
 * Conventions for every op:
 * - Tensors are row-major and dense unless a row stride is given. Shapes are written beside the
 *   fields, e.g. `x [rows, dim]`.
 * - A tensor argument is an hrm_ptr: a buffer and an offset counted in 4-byte elements (every
 *   element type of this ABI, float32 or int32, is 4 bytes wide).
 * - An optional tensor is one whose buf is NULL.
 * - Every call returns an hrm_status; on failure the backend's last_error() says why in one
 *   line. A plugin never calls exit() or abort() and never writes to stdout; it reports through
 *   the host's log callback.
 * - Ops may run asynchronously. buffer_read() and finish() are the only synchronisation points:
 *   when they return, every op enqueued before them on that device has completed.
 * - One host thread at a time calls into a given device; ops on it run in call order.
 * - Output tensors must not alias inputs unless an op says so.
 * - An argument fault that only the device can see (a token, puzzle id or label outside its
 *   table) may be reported as HRM_ERR_INVALID_ARG by the next buffer_read() or finish() instead
 *   of by the op; the op's outputs are then unspecified.
 */
#ifndef HRM_BACKEND_H
#define HRM_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "hrm/status.h" /* hrm_status, hrm_log_level, HRM_ABI_MAJOR_OF, HRM_EXPORT */

#ifdef __cplusplus
extern "C" {
#endif

/* Major: incompatible change; a host refuses any other major. Minor: slots appended. */
#define HRM_BACKEND_ABI_MAJOR 1
#define HRM_BACKEND_ABI_MINOR 2
#define HRM_BACKEND_ABI_VERSION ((uint32_t)((HRM_BACKEND_ABI_MAJOR << 16) | HRM_BACKEND_ABI_MINOR))

/* The one exported symbol; its type is hrm_backend_entry_fn. */
#define HRM_BACKEND_ENTRY_SYMBOL "hrm_backend_entry"

/* The entry symbol's export macro (hrm/status.h's HRM_EXPORT). */
#define HRM_BACKEND_EXPORT HRM_EXPORT

/* What the host gives a backend. Read only fields below struct_size. */
typedef struct hrm_host {
    uint32_t struct_size; /* sizeof(hrm_host) as the host compiled it */
    /* Log sink; may be NULL. `backend` is the backend's name. */
    void (*log)(void *user, hrm_log_level level, const char *backend, const char *message);
    void *log_user;
    int num_threads; /* host threads a CPU-side backend may use; 0 = all online cores */
} hrm_host;

/* Opaque handles, defined by each backend. */
typedef struct hrm_backend hrm_backend; /* one initialised instance of a plugin */
typedef struct hrm_device hrm_device;   /* one opened device of that instance */
typedef struct hrm_buffer hrm_buffer;   /* device memory owned by one device */

typedef struct hrm_device_info {
    char name[128];
    char vendor[64];
    char driver[64];       /* driver or library version, free text */
    uint64_t memory_bytes; /* global memory usable by this backend */
    int compute_units;     /* cores, CUs or SMs */
    int validated;         /* 1: passed the backend's start-up checks; 0: failed; -1: not run */
    char note[128];        /* one line about validation or anything a user should know */
} hrm_device_info;

/* A tensor argument: buffer plus offset in 4-byte elements. */
typedef struct hrm_ptr {
    hrm_buffer *buf;
    size_t off;
} hrm_ptr;

/* ---- matmul: row-major strided-batched SGEMM --------------------------------------------
 * For each i < batch:
 *   C_i = alpha * op(A_i) * op(B_i) + beta * C_i
 * with A_i at a.off + i*stride_a, B_i at b.off + i*stride_b, C_i at c.off + i*stride_c,
 * op(A_i) [m, k], op(B_i) [k, n], C_i [m, n], all row-major with leading dimensions
 * lda/ldb/ldc (elements between consecutive rows as stored). trans_a = 1 means A_i is stored
 * as [k, m] (lda >= m); trans_b = 1 means B_i is stored as [n, k] (ldb >= k).
 * A linear layer y = x W^T with W [out, in] is m=rows, n=out, k=in, trans_b=1.
 * beta = 0 ignores C's previous contents (NaN included). */
typedef struct hrm_matmul_args {
    int trans_a, trans_b;
    int m, n, k;
    float alpha, beta;
    hrm_ptr a;
    int64_t lda, stride_a;
    hrm_ptr b;
    int64_t ldb, stride_b;
    hrm_ptr c;
    int64_t ldc, stride_c;
    int batch; /* >= 1 */
} hrm_matmul_args;

/* ---- matmul precision (appended in 1.2) --------------------------------------------------
 * The words of PyTorch's torch.set_float32_matmul_precision. Every precision reads and writes
 * fp32 tensors and accumulates in fp32; they differ in how each operand element of A and B is
 * rounded before it is multiplied:
 *   HIGHEST: not rounded (fp32 products): exactly `matmul`.
 *   HIGH:    rounded to tf32: 10 explicit mantissa bits (the low 13 bits of the fp32 pattern
 *            zero), round to nearest (ties away from zero, as PTX cvt.rna.tf32.f32), unit
 *            roundoff u = 2^-11.
 *   MEDIUM:  rounded to bf16: 7 explicit mantissa bits (the low 16 bits zero), round to nearest
 *            even (as PTX cvt.rn.bf16.f32 and PyTorch's conversion), u = 2^-8.
 * Operand products of the rounded values are exact in fp32; only the sum's order and rounding
 * differ between backends. alpha and beta are applied in fp32, C is never rounded. So each
 * element of C is within (2u + k*2^-23) * sum_p |a_p b_p| of the exact product of the
 * unrounded operands (plus beta*C's rounding), which is what the conformance tests check. */
typedef enum hrm_matmul_precision {
    HRM_PRECISION_HIGHEST = 0,
    HRM_PRECISION_HIGH = 1,
    HRM_PRECISION_MEDIUM = 2,
} hrm_matmul_precision;
#define HRM_PRECISION_COUNT 3
#define HRM_PRECISION_BIT(p) (1u << (unsigned)(p))

/* ---- attention: fused multi-head scaled-dot-product attention ----------------------------
 * Self-attention over seq tokens, for every (batch b, head h):
 *   P = softmax(scale * Q K^T [+ causal mask]) over keys,  O = P V
 * q, k, v, o and their gradients are laid out [batch, seq, heads, head_dim] where consecutive
 * tokens are row_stride elements apart (batch stride = seq * row_stride) and heads are
 * head_dim apart. For HRM's packed projection qkv [batch, seq, 3*heads, head_dim], pass
 * q = qkv, k = qkv + heads*head_dim, v = qkv + 2*heads*head_dim, qkv_row_stride = 3*heads*head_dim.
 * lse [batch, heads, seq] is the natural log of each row's softmax denominator including the
 * scale: lse = log(sum_j exp(scale * q.k_j)); forward writes it, backward reads it.
 * Non-causal by default (HRM attends to every position); causal = 1 masks j > i.
 * head_dim <= 128. Backward writes (not accumulates) dq, dk, dv, which share one row stride
 * (dqkv_row_stride) so that they can be carved from one packed gradient buffer. A backend must
 * not materialise a [seq, seq] matrix per (b, h) for the whole batch at once. */
typedef struct hrm_attention_args {
    int batch, seq, heads, head_dim;
    float scale;
    int causal;
    hrm_ptr q, k, v;
    int64_t qkv_row_stride;
    hrm_ptr o; /* forward: written; backward: read */
    int64_t o_row_stride;
    hrm_ptr lse;
    /* backward only */
    hrm_ptr d_o; /* layout of o (o_row_stride) */
    hrm_ptr dq, dk, dv;
    int64_t dqkv_row_stride;
} hrm_attention_args;

/* ---- RoPE: rotary position embedding, GPT-NeoX rotate-half layout, in place allowed ------
 * x [batch, seq, heads, head_dim] with token row stride row_stride (heads here are the heads
 * to rotate, e.g. 2*num_heads for the Q and K parts of a packed qkv). cos, sin [seq, head_dim/2].
 * With half = head_dim/2 and i < half:
 *   forward:  y[i] = x[i] cos - x[i+half] sin,   y[i+half] = x[i+half] cos + x[i] sin
 *   backward: the transpose (rotation by -angle) applied to dy.
 * out may equal x (same offset); it uses the same row stride. */
typedef struct hrm_rope_args {
    int batch, seq, heads, head_dim;
    int64_t row_stride;
    hrm_ptr x;   /* forward: x; backward: dy */
    hrm_ptr out; /* forward: y; backward: dx */
    hrm_ptr cos, sin;
} hrm_rope_args;

/* ---- add: out = a + b (+ c), n elements. out may equal any input. ----------------------- */
typedef struct hrm_add_args {
    int64_t n;
    hrm_ptr out, a, b, c; /* c optional */
} hrm_add_args;

/* ---- residual add + RMSNorm (no gain, no bias) ------------------------------------------
 * forward: h = x + r (r optional), y = h * rstd, rstd = 1/sqrt(mean(h^2 over dim) + eps)
 *   x, r, y [rows, dim]; rstd [rows] written (saved for backward). y may equal x.
 * backward: dh = rstd * (dy - y * mean(dy * y)), from dy, y, rstd; dh [rows, dim] written,
 *   and is the gradient of both x and r. dh may equal dy. */
typedef struct hrm_rmsnorm_args {
    int64_t rows;
    int dim;
    float eps;
    hrm_ptr x, r, y, rstd;
    hrm_ptr dy, dh; /* backward only */
} hrm_rmsnorm_args;

/* ---- SwiGLU activation ------------------------------------------------------------------
 * gu [rows, 2*inter]: the first inter columns are the gate g, the next inter the up part u.
 * forward: out [rows, inter] = silu(g) * u, silu(g) = g / (1 + exp(-g)).
 * backward: from d_out and gu, writes d_gu [rows, 2*inter]. */
typedef struct hrm_swiglu_args {
    int64_t rows;
    int inter;
    hrm_ptr gu, out;
    hrm_ptr d_out, d_gu; /* backward only */
} hrm_swiglu_args;

/* ---- embedding: token rows plus puzzle prefix rows, optional positions, scaled -----------
 * Full sequence S = prefix + seq_len. A puzzle embedding row has puzzle_width values
 * (HRM's puzzle_emb_ndim, 1 <= puzzle_width <= prefix*dim when prefix > 0); it is zero-padded to
 * prefix*dim and viewed as `prefix` rows of dim. With pz[b] that padded row of puzzle_ids[b]:
 *   e[b, p]        = pz[b][p*dim .. (p+1)*dim)                          for p < prefix
 *   e[b, prefix+t] = token_table[tokens[b, t]]                          for t < seq_len
 *   out[b, s]      = scale * (e[b, s] + pos[s])      (pos optional)
 * tokens int32 [batch, seq_len] in [0, vocab); puzzle_ids int32 [batch] in [0, num_puzzle_ids);
 * token_table [vocab, dim]; puzzle_table [num_puzzle_ids, puzzle_width] (needed when
 * prefix > 0); pos [S, dim]; out [batch, S, dim].
 * backward, from d_out [batch, S, dim]; each gradient optional:
 *   d_token_table [vocab, dim]  += scale * scatter-sum of token rows       (accumulates)
 *   d_puzzle_rows [batch, puzzle_width] = scale * the first puzzle_width values of
 *                                  d_out[b, 0..prefix) (written, per slot; the optimizer sums
 *                                  slots that share an id; the padding gets no gradient)
 *   d_pos [S, dim]              += scale * sum over b of d_out[b, s]       (accumulates) */
typedef struct hrm_embedding_args {
    int batch, seq_len, prefix, dim, vocab, num_puzzle_ids, puzzle_width;
    float scale;
    hrm_ptr tokens, puzzle_ids;
    hrm_ptr token_table, puzzle_table, pos;
    hrm_ptr out;
    /* backward only */
    hrm_ptr d_out, d_token_table, d_puzzle_rows, d_pos;
} hrm_embedding_args;

/* ---- per-token cross-entropy with per-sequence normalisation ----------------------------- */
typedef enum hrm_loss_kind {
    HRM_LOSS_SOFTMAX = 0,   /* log p_c = x_c - logsumexp(x) */
    HRM_LOSS_STABLEMAX = 1, /* s(x) = x+1 (x >= 0), 1/(1-x) (x < 0); log p_c = log(s(x_c)/sum s) */
} hrm_loss_kind;

/* logits [batch, seq_len, vocab], labels int32 [batch, seq_len]. A position is valid when its
 * label != ignore_label (valid labels lie in [0, vocab)). Per sequence b, count_b = number of
 * valid positions. Both kinds are computed in double precision.
 * forward writes:
 *   loss [batch] float:     sum over valid t of -log p(label) / max(count_b, 1)
 *   count [batch] int32:    count_b
 *   correct [batch] int32:  valid positions whose argmax (first maximum) equals the label
 *   preds [batch, seq_len] int32 (optional): argmax of every position
 * backward writes d_logits [batch, seq_len, vocab] = grad_scale * d(loss_b)/d(logits), i.e.
 *   the gradient of grad_scale * sum_b loss_b; zero rows at ignored positions. */
typedef struct hrm_xent_args {
    int batch, seq_len, vocab;
    hrm_loss_kind kind;
    int ignore_label;
    hrm_ptr logits, labels;
    hrm_ptr loss, count, correct, preds; /* forward */
    float grad_scale;                    /* backward */
    hrm_ptr d_logits;                    /* backward */
} hrm_xent_args;

/* ---- AdamATan2 over a flat buffer (Everett et al. 2024, arXiv 2407.05872) ----------------
 * As the adam-atan2 package that the published HRM trains with computes it (its CUDA kernel,
 * csrc/adam_atan2.cu): for n elements, at step t >= 1, with bias corrections computed by the
 * backend in double and m, v updated as lerps:
 *   p *= 1 - lr*weight_decay;  m += (1-b1) (g - m);  v += (1-b2) (g^2 - v);
 *   p -= lr * atan2(m / (1 - b1^t), sqrt(v) / sqrt(1 - b2^t)).
 * (Divided through by the bias correction of m the step is not the same: the form above, the
 * kernel's, is what the published model ran, so it is the contract.) */
typedef struct hrm_adam_args {
    int64_t n;
    int64_t step;
    float lr, weight_decay, beta1, beta2;
    hrm_ptr param, grad, m, v;
} hrm_adam_args;

/* ---- SignSGD over selected rows (puzzle embeddings) --------------------------------------
 * grads [batch, width] are per-slot gradients for rows ids[b] of weights [num_rows, width].
 * Slots with the same id are summed first; then for every distinct id present:
 *   w = w * (1 - lr*weight_decay) - lr * sign(g_sum)    (sign(0) = 0). */
typedef struct hrm_signsgd_args {
    int batch, width, num_rows;
    float lr, weight_decay;
    hrm_ptr ids, grads, weights;
} hrm_signsgd_args;

/* ---- the table ---------------------------------------------------------------------------- */
typedef struct hrm_backend_iface {
    uint32_t abi_version; /* HRM_BACKEND_ABI_VERSION the plugin was built with */
    uint32_t struct_size; /* sizeof(hrm_backend_iface) the plugin was built with */
    const char *name;     /* short name used by --backend, e.g. "cpu" */
    const char *description;

    /* Optional (may be NULL). Cheap check before create(): returns a score > 0 when usable here
     * (higher is preferred by `auto`), or <= 0 and a one-line reason in why. */
    int (*probe)(const hrm_host *host, char *why, size_t why_size);

    /* On failure, create may still set *out to an instance whose last_error() says why; the
     * host reads that line and then calls destroy(). */
    hrm_status (*create)(const hrm_host *host, hrm_backend **out);
    void (*destroy)(hrm_backend *be);
    /* Last error of this instance or of any of its devices, one line; never NULL. */
    const char *(*last_error)(hrm_backend *be);

    int (*device_count)(hrm_backend *be);
    hrm_status (*device_info)(hrm_backend *be, int index, hrm_device_info *out);
    hrm_status (*device_open)(hrm_backend *be, int index, hrm_device **out);
    void (*device_close)(hrm_device *dev);
    /* Bytes currently allocated and the high-water mark since device_open. */
    hrm_status (*memory_usage)(hrm_device *dev, uint64_t *current, uint64_t *peak);

    /* Buffers. Offsets and sizes here are in bytes. A new buffer's contents are undefined. */
    hrm_status (*buffer_alloc)(hrm_device *dev, size_t bytes, hrm_buffer **out);
    void (*buffer_free)(hrm_buffer *buf);
    hrm_status (*buffer_write)(hrm_buffer *dst, size_t offset, const void *src, size_t bytes);
    hrm_status (*buffer_read)(hrm_buffer *src, size_t offset, void *dst, size_t bytes);
    hrm_status (*buffer_copy)(hrm_buffer *dst, size_t dst_offset, hrm_buffer *src, size_t src_offset, size_t bytes);
    /* Fill `count` 4-byte elements starting at ELEMENT `offset` (not bytes, unlike the calls
     * above: it is a tensor op) with the bit pattern of value. */
    hrm_status (*buffer_fill)(hrm_buffer *buf, size_t offset, size_t count, float value);
    hrm_status (*finish)(hrm_device *dev); /* wait for all enqueued work */

    /* Ops; see the argument structs above. */
    hrm_status (*matmul)(hrm_device *dev, const hrm_matmul_args *a);
    hrm_status (*attention_forward)(hrm_device *dev, const hrm_attention_args *a);
    hrm_status (*attention_backward)(hrm_device *dev, const hrm_attention_args *a);
    hrm_status (*rope_forward)(hrm_device *dev, const hrm_rope_args *a);
    hrm_status (*rope_backward)(hrm_device *dev, const hrm_rope_args *a);
    hrm_status (*add)(hrm_device *dev, const hrm_add_args *a);
    hrm_status (*rmsnorm_forward)(hrm_device *dev, const hrm_rmsnorm_args *a);
    hrm_status (*rmsnorm_backward)(hrm_device *dev, const hrm_rmsnorm_args *a);
    hrm_status (*swiglu_forward)(hrm_device *dev, const hrm_swiglu_args *a);
    hrm_status (*swiglu_backward)(hrm_device *dev, const hrm_swiglu_args *a);
    hrm_status (*embedding_forward)(hrm_device *dev, const hrm_embedding_args *a);
    hrm_status (*embedding_backward)(hrm_device *dev, const hrm_embedding_args *a);
    hrm_status (*xent_forward)(hrm_device *dev, const hrm_xent_args *a);
    hrm_status (*xent_backward)(hrm_device *dev, const hrm_xent_args *a);
    hrm_status (*adam_atan2)(hrm_device *dev, const hrm_adam_args *a);
    hrm_status (*signsgd_rows)(hrm_device *dev, const hrm_signsgd_args *a);

    /* ---- appended in 1.1 (a host calls these only when struct_size reaches them) ---- */
    /* Optional (may be NULL: no limit). The largest single buffer, in bytes, that buffer_alloc
     * gives on this device and that every op of this backend addresses correctly: a device's
     * allocation limit, or the index width of its kernels (CLBlast's take 32-bit element
     * offsets, so an OpenCL buffer stays below 2^31 floats). 0 = no limit below the device's
     * memory. buffer_alloc refuses a larger buffer with HRM_ERR_OUT_OF_MEMORY; a host keeps each
     * buffer within the limit, splitting what can be split (the model's activations). */
    uint64_t (*max_buffer_bytes)(hrm_device *dev);

    /* ---- appended in 1.2 ---- */
    /* Optional (NULL: fp32 only). The precisions this opened device runs matmul_precision in,
     * as HRM_PRECISION_BIT(p) bits; HIGHEST is always implied. A backend reports a reduced
     * precision only when it has a fast path for it (a matrix unit, a bf16 instruction) that
     * passed its start-up validation, or when a test hook of the backend asks for it; a host
     * runs the next higher reported precision otherwise. The same set, in words, belongs in
     * device_info's note. */
    uint32_t (*matmul_precisions)(hrm_device *dev);
    /* Required when matmul_precisions reports anything but HIGHEST. matmul (same arguments,
     * same contract) with A's and B's elements rounded to precision p as described above;
     * p = HIGHEST is exactly matmul. A precision not reported: HRM_ERR_UNSUPPORTED. */
    hrm_status (*matmul_precision)(hrm_device *dev, const hrm_matmul_args *a, hrm_matmul_precision p);
    /* Append new slots here only (minor version bump). */
} hrm_backend_iface;

typedef const hrm_backend_iface *(*hrm_backend_entry_fn)(void);

/* Size of the table up to and including `slot`: a host calls a slot only when
 * iface->struct_size >= HRM_IFACE_END(slot). */
#define HRM_IFACE_END(slot) (offsetof(hrm_backend_iface, slot) + sizeof(((hrm_backend_iface *)0)->slot))

#ifdef __cplusplus
}
#endif
#endif /* HRM_BACKEND_H */
