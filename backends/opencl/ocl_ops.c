/* ocl_ops.c - kernel argument and launch helpers, and the ops that run our own kernels
 * (kernels/elementwise.cl). Each op checks its arguments like the CPU backend, sets the kernel's
 * arguments and enqueues it on the device's in-order queue; nothing waits. */
#include <math.h>

#include "ocl_internal.h"

/* ---- arguments and launches -------------------------------------------------------------------- */

ocl_args ocl_args_begin(hrm_device *dev, ocl_kernel *k) { return (ocl_args){.dev = dev, .k = k->k, .next = 0, .err = CL_SUCCESS}; }

void ocl_arg_raw(ocl_args *a, size_t size, const void *value)
{
    cl_int err = clSetKernelArg(a->k, a->next++, size, value);
    if (a->err == CL_SUCCESS) a->err = err;
}

void ocl_arg_ptr(ocl_args *a, hrm_ptr p)
{
    cl_ulong off = p.buf ? (cl_ulong)p.off : 0;
    ocl_arg_raw(a, sizeof(cl_mem), p.buf ? &p.buf->mem : NULL); /* NULL: a NULL __global pointer */
    ocl_arg_raw(a, sizeof off, &off);
}

void ocl_arg_local(ocl_args *a, size_t bytes) { ocl_arg_raw(a, bytes, NULL); }

void ocl_arg_fault(ocl_args *a, ocl_fault_code code)
{
    cl_int c = (cl_int)code;
    ocl_arg_raw(a, sizeof(cl_mem), &a->dev->fault);
    ocl_arg_raw(a, sizeof c, &c);
    a->dev->fault_armed = 1;
}

hrm_status ocl_launch(ocl_args *a, const char *op, cl_uint dims, const size_t *global, const size_t *local)
{
    if (a->err != CL_SUCCESS) return ocl_cl_fail(a->dev->be, a->err, op, "clSetKernelArg");
    cl_int err = clEnqueueNDRangeKernel(a->dev->queue, a->k, dims, NULL, global, local, 0, NULL, NULL);
    return err == CL_SUCCESS ? HRM_OK : ocl_cl_fail(a->dev->be, err, op, "clEnqueueNDRangeKernel");
}

hrm_status ocl_launch1(ocl_args *a, ocl_kernel *k, const char *op, uint64_t n)
{
    size_t local = k->wg, global = (size_t)((n + local - 1) / local * local);
    return ocl_launch(a, op, 1, &global, &local);
}

/* ---- add ------------------------------------------------------------------------------------------ */

hrm_status ocl_add(hrm_device *dev, const hrm_add_args *a)
{
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    OCL_TRY(hrm_check_add(&ocl_checker, dev, a));
    uint64_t n = (uint64_t)a->n;
    if (!n) return HRM_OK;
    ocl_args g = ocl_args_begin(dev, &dev->add);
    cl_ulong nn = n;
    ocl_arg_ptr(&g, a->out);
    ocl_arg_ptr(&g, a->a);
    ocl_arg_ptr(&g, a->b);
    ocl_arg_ptr(&g, a->c);
    OCL_ARG(&g, nn);
    return ocl_launch1(&g, &dev->add, "add", n);
}

/* ---- RMSNorm: one work-group per row ------------------------------------------------------------- */

static hrm_status check_rmsnorm(hrm_device *dev, const hrm_rmsnorm_args *a, int backward)
{
    return hrm_check_rmsnorm(&ocl_checker, dev, a, backward);
}

static hrm_status launch_rows(ocl_args *g, ocl_kernel *k, const char *op, int64_t rows, int dim)
{
    size_t local = k->wg;
    while (local > 32 && local / 2 >= (size_t)dim) local /= 2; /* short rows: smaller groups */
    ocl_arg_local(g, local * sizeof(float));
    size_t global = (size_t)rows * local;
    return ocl_launch(g, op, 1, &global, &local);
}

hrm_status ocl_rmsnorm_forward(hrm_device *dev, const hrm_rmsnorm_args *a)
{
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    OCL_TRY(check_rmsnorm(dev, a, 0));
    if (!a->rows) return HRM_OK;
    ocl_args g = ocl_args_begin(dev, &dev->rmsnorm_fwd);
    ocl_arg_ptr(&g, a->x);
    ocl_arg_ptr(&g, a->r);
    ocl_arg_ptr(&g, a->y);
    ocl_arg_ptr(&g, a->rstd);
    OCL_ARG(&g, a->dim);
    OCL_ARG(&g, a->eps);
    return launch_rows(&g, &dev->rmsnorm_fwd, "rmsnorm_forward", a->rows, a->dim);
}

hrm_status ocl_rmsnorm_backward(hrm_device *dev, const hrm_rmsnorm_args *a)
{
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    OCL_TRY(check_rmsnorm(dev, a, 1));
    if (!a->rows) return HRM_OK;
    ocl_args g = ocl_args_begin(dev, &dev->rmsnorm_bwd);
    ocl_arg_ptr(&g, a->dy);
    ocl_arg_ptr(&g, a->y);
    ocl_arg_ptr(&g, a->rstd);
    ocl_arg_ptr(&g, a->dh);
    OCL_ARG(&g, a->dim);
    return launch_rows(&g, &dev->rmsnorm_bwd, "rmsnorm_backward", a->rows, a->dim);
}

/* ---- SwiGLU ----------------------------------------------------------------------------------------- */

static hrm_status check_swiglu(hrm_device *dev, const hrm_swiglu_args *a, int backward)
{
    return hrm_check_swiglu(&ocl_checker, dev, a, backward);
}

hrm_status ocl_swiglu_forward(hrm_device *dev, const hrm_swiglu_args *a)
{
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    OCL_TRY(check_swiglu(dev, a, 0));
    cl_ulong n = (cl_ulong)a->rows * (cl_ulong)a->inter;
    if (!n) return HRM_OK;
    ocl_args g = ocl_args_begin(dev, &dev->swiglu_fwd);
    ocl_arg_ptr(&g, a->gu);
    ocl_arg_ptr(&g, a->out);
    OCL_ARG(&g, a->inter);
    OCL_ARG(&g, n);
    return ocl_launch1(&g, &dev->swiglu_fwd, "swiglu_forward", n);
}

hrm_status ocl_swiglu_backward(hrm_device *dev, const hrm_swiglu_args *a)
{
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    OCL_TRY(check_swiglu(dev, a, 1));
    cl_ulong n = (cl_ulong)a->rows * (cl_ulong)a->inter;
    if (!n) return HRM_OK;
    ocl_args g = ocl_args_begin(dev, &dev->swiglu_bwd);
    ocl_arg_ptr(&g, a->gu);
    ocl_arg_ptr(&g, a->d_out);
    ocl_arg_ptr(&g, a->d_gu);
    OCL_ARG(&g, a->inter);
    OCL_ARG(&g, n);
    return ocl_launch1(&g, &dev->swiglu_bwd, "swiglu_backward", n);
}

/* ---- RoPE -------------------------------------------------------------------------------------------- */

static hrm_status rope_run(hrm_device *dev, const hrm_rope_args *a, float sign, const char *op)
{
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    OCL_TRY(hrm_check_rope(&ocl_checker, dev, a, op));
    uint64_t rows = (uint64_t)a->batch * (uint64_t)a->seq;
    if (rows == 0) return HRM_OK;
    int half = a->head_dim / 2;
    cl_long stride = a->row_stride;
    cl_ulong n = rows * (uint64_t)a->heads * (uint64_t)half;
    ocl_args g = ocl_args_begin(dev, &dev->rope);
    ocl_arg_ptr(&g, a->x);
    ocl_arg_ptr(&g, a->out);
    ocl_arg_ptr(&g, a->cos);
    ocl_arg_ptr(&g, a->sin);
    OCL_ARG(&g, a->seq);
    OCL_ARG(&g, a->heads);
    OCL_ARG(&g, half);
    OCL_ARG(&g, stride);
    OCL_ARG(&g, sign);
    OCL_ARG(&g, n);
    return ocl_launch1(&g, &dev->rope, op, n);
}

hrm_status ocl_rope_forward(hrm_device *dev, const hrm_rope_args *a) { return rope_run(dev, a, 1.0f, "rope_forward"); }
hrm_status ocl_rope_backward(hrm_device *dev, const hrm_rope_args *a) { return rope_run(dev, a, -1.0f, "rope_backward"); }

/* ---- optimizers -------------------------------------------------------------------------------------- */

hrm_status ocl_adam_atan2(hrm_device *dev, const hrm_adam_args *a)
{
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    OCL_TRY(hrm_check_adam(&ocl_checker, dev, a));
    uint64_t n = (uint64_t)a->n;
    if (!n) return HRM_OK;
    /* bias corrections in double on the host, as the ABI asks */
    double bc1 = 1.0 - pow((double)a->beta1, (double)a->step), bc2 = 1.0 - pow((double)a->beta2, (double)a->step);
    float inv_bc1 = (float)(1.0 / bc1), inv_bc2_sqrt = (float)(1.0 / sqrt(bc2));
    float decay = 1.0f - a->lr * a->weight_decay, t1 = 1.0f - a->beta1, t2 = 1.0f - a->beta2;
    cl_ulong nn = n;
    ocl_args g = ocl_args_begin(dev, &dev->adam_atan2);
    ocl_arg_ptr(&g, a->param);
    ocl_arg_ptr(&g, a->grad);
    ocl_arg_ptr(&g, a->m);
    ocl_arg_ptr(&g, a->v);
    OCL_ARG(&g, a->lr);
    OCL_ARG(&g, decay);
    OCL_ARG(&g, t1);
    OCL_ARG(&g, t2);
    OCL_ARG(&g, inv_bc1);
    OCL_ARG(&g, inv_bc2_sqrt);
    OCL_ARG(&g, nn);
    return ocl_launch1(&g, &dev->adam_atan2, "adam_atan2", n);
}

hrm_status ocl_signsgd_rows(hrm_device *dev, const hrm_signsgd_args *a)
{
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    OCL_TRY(hrm_check_signsgd(&ocl_checker, dev, a));
    if (!a->batch || !a->width) return HRM_OK;
    /* ids stay on the device (no round trip): an id outside [0, num_rows) is skipped there and
     * reported at the next synchronisation (ocl_fault_code) */
    float decay = 1.0f - a->lr * a->weight_decay;
    ocl_kernel *k = &dev->signsgd_rows;
    ocl_args g = ocl_args_begin(dev, k);
    ocl_arg_ptr(&g, a->ids);
    ocl_arg_ptr(&g, a->grads);
    ocl_arg_ptr(&g, a->weights);
    OCL_ARG(&g, a->batch);
    OCL_ARG(&g, a->width);
    OCL_ARG(&g, a->num_rows);
    OCL_ARG(&g, a->lr);
    OCL_ARG(&g, decay);
    ocl_arg_fault(&g, OCL_FAULT_SIGNSGD_IDS);
    size_t local[2] = {k->wg, 1}, global[2] = {((size_t)a->width + k->wg - 1) / k->wg * k->wg, (size_t)a->batch};
    return ocl_launch(&g, "signsgd_rows", 2, global, local);
}

/* ---- embedding ---------------------------------------------------------------------------------------- */

static hrm_status check_embedding(hrm_device *dev, const hrm_embedding_args *a, int backward)
{
    /* ocl_checker has no ids check: ids stay on the device (no host round trip); an out-of-range
     * id reads zeros, gets no gradient and is reported at the next synchronisation */
    return hrm_check_embedding(&ocl_checker, dev, a, backward);
}

hrm_status ocl_embedding_forward(hrm_device *dev, const hrm_embedding_args *a)
{
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    OCL_TRY(check_embedding(dev, a, 0));
    cl_ulong n = (cl_ulong)a->batch * ((cl_ulong)a->prefix + (cl_ulong)a->seq_len) * (cl_ulong)a->dim;
    if (!n) return HRM_OK;
    hrm_ptr none = {NULL, 0};
    ocl_args g = ocl_args_begin(dev, &dev->emb_fwd);
    ocl_arg_ptr(&g, a->seq_len ? a->tokens : none);
    ocl_arg_ptr(&g, a->prefix ? a->puzzle_ids : none);
    ocl_arg_ptr(&g, a->token_table);
    ocl_arg_ptr(&g, a->prefix ? a->puzzle_table : none);
    ocl_arg_ptr(&g, a->pos);
    ocl_arg_ptr(&g, a->out);
    OCL_ARG(&g, a->seq_len);
    OCL_ARG(&g, a->prefix);
    OCL_ARG(&g, a->dim);
    OCL_ARG(&g, a->vocab);
    OCL_ARG(&g, a->num_puzzle_ids);
    OCL_ARG(&g, a->puzzle_width);
    OCL_ARG(&g, a->scale);
    OCL_ARG(&g, n);
    ocl_arg_fault(&g, OCL_FAULT_EMB_FWD_TOKENS);
    int pid_code = OCL_FAULT_EMB_FWD_PUZZLE_IDS;
    OCL_ARG(&g, pid_code);
    return ocl_launch1(&g, &dev->emb_fwd, "embedding_forward", n);
}

hrm_status ocl_embedding_backward(hrm_device *dev, const hrm_embedding_args *a)
{
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    OCL_TRY(check_embedding(dev, a, 1));
    const char *op = "embedding_backward";
    cl_ulong S = (cl_ulong)a->prefix + (cl_ulong)a->seq_len;
    if (a->d_token_table.buf && a->seq_len > 0 && a->batch > 0) {
        ocl_args g = ocl_args_begin(dev, &dev->emb_bwd_tokens);
        ocl_arg_ptr(&g, a->tokens);
        ocl_arg_ptr(&g, a->d_out);
        ocl_arg_ptr(&g, a->d_token_table);
        OCL_ARG(&g, a->batch);
        OCL_ARG(&g, a->seq_len);
        OCL_ARG(&g, a->prefix);
        OCL_ARG(&g, a->dim);
        OCL_ARG(&g, a->vocab);
        OCL_ARG(&g, a->scale);
        ocl_arg_fault(&g, OCL_FAULT_EMB_BWD_TOKENS);
        OCL_TRY(ocl_launch1(&g, &dev->emb_bwd_tokens, op, (uint64_t)a->dim));
    }
    if (a->d_pos.buf && S > 0) {
        cl_ulong sd = S * (cl_ulong)a->dim;
        ocl_args g = ocl_args_begin(dev, &dev->emb_bwd_pos);
        ocl_arg_ptr(&g, a->d_out);
        ocl_arg_ptr(&g, a->d_pos);
        OCL_ARG(&g, a->batch);
        OCL_ARG(&g, sd);
        OCL_ARG(&g, a->scale);
        OCL_TRY(ocl_launch1(&g, &dev->emb_bwd_pos, op, sd));
    }
    if (a->d_puzzle_rows.buf && a->prefix > 0 && a->batch > 0) {
        cl_ulong n = (cl_ulong)a->batch * (cl_ulong)a->puzzle_width, row = S * (cl_ulong)a->dim;
        ocl_args g = ocl_args_begin(dev, &dev->emb_bwd_puzzle);
        ocl_arg_ptr(&g, a->d_out);
        ocl_arg_ptr(&g, a->d_puzzle_rows);
        OCL_ARG(&g, a->puzzle_width);
        OCL_ARG(&g, row);
        OCL_ARG(&g, a->scale);
        OCL_ARG(&g, n);
        OCL_TRY(ocl_launch1(&g, &dev->emb_bwd_puzzle, op, n));
    }
    return HRM_OK;
}

/* ---- cross-entropy --------------------------------------------------------------------------------------- */

/* ocl_checker has no ids check: labels stay on the device (no host round trip); an out-of-range
 * label counts as ignored there and is reported at the next synchronisation (ocl_fault_code) */
static hrm_status check_xent(hrm_device *dev, const hrm_xent_args *a, int backward)
{
    return hrm_check_xent(&ocl_checker, dev, a, backward);
}

hrm_status ocl_xent_forward(hrm_device *dev, const hrm_xent_args *a)
{
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    OCL_TRY(check_xent(dev, a, 0));
    if (!a->batch) return HRM_OK;
    int kind = (int)a->kind;
    ocl_args g = ocl_args_begin(dev, &dev->xent_fwd);
    ocl_arg_ptr(&g, a->logits);
    ocl_arg_ptr(&g, a->labels);
    ocl_arg_ptr(&g, a->loss);
    ocl_arg_ptr(&g, a->count);
    ocl_arg_ptr(&g, a->correct);
    ocl_arg_ptr(&g, a->preds);
    OCL_ARG(&g, a->batch);
    OCL_ARG(&g, a->seq_len);
    OCL_ARG(&g, a->vocab);
    OCL_ARG(&g, kind);
    OCL_ARG(&g, a->ignore_label);
    ocl_arg_fault(&g, OCL_FAULT_XENT_FWD_LABELS);
    return ocl_launch1(&g, &dev->xent_fwd, "xent_forward", (uint64_t)a->batch);
}

hrm_status ocl_xent_backward(hrm_device *dev, const hrm_xent_args *a)
{
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    OCL_TRY(check_xent(dev, a, 1));
    uint64_t positions = (uint64_t)a->batch * (uint64_t)a->seq_len;
    if (!positions) return HRM_OK;
    int kind = (int)a->kind;
    ocl_args g = ocl_args_begin(dev, &dev->xent_bwd);
    ocl_arg_ptr(&g, a->logits);
    ocl_arg_ptr(&g, a->labels);
    ocl_arg_ptr(&g, a->d_logits);
    OCL_ARG(&g, a->batch);
    OCL_ARG(&g, a->seq_len);
    OCL_ARG(&g, a->vocab);
    OCL_ARG(&g, kind);
    OCL_ARG(&g, a->ignore_label);
    OCL_ARG(&g, a->grad_scale);
    ocl_arg_fault(&g, OCL_FAULT_XENT_BWD_LABELS);
    return ocl_launch1(&g, &dev->xent_bwd, "xent_backward", positions);
}

/* ---- attention (kernels/attention.cl: tiled forward, first-version backward) ----------------------------- */

static hrm_status check_attention(hrm_device *dev, const hrm_attention_args *a, int backward)
{
    OCL_TRY(hrm_check_attention_sizes(&ocl_checker, dev, a, backward));
    return hrm_check_attention_tensors(&ocl_checker, dev, a, backward);
}

static void attn_common(ocl_args *g, const hrm_attention_args *a)
{
    ocl_arg_ptr(g, a->q);
    ocl_arg_ptr(g, a->k);
    ocl_arg_ptr(g, a->v);
    ocl_arg_ptr(g, a->o);
    ocl_arg_ptr(g, a->lse);
}

/* The forward kernel's tiling (kernels/attention.cl): T work-items per query, BQ queries and BK
 * keys per tile. */
typedef struct attn_tiling {
    int T, BQ, BK;
} attn_tiling;

enum { ATTN_ACC = 8 }; /* head_dim values per work-item: ATTN_ACC in attention.cl */

static size_t attn_local_bytes(int hd, int bq, int bk)
{
    size_t row = (size_t)hd + 1; /* local rows are padded by one float (attention.cl) */
    return sizeof(float) * ((size_t)bq * row + 2 * (size_t)bk * row + (size_t)bq * (size_t)(bk + 1));
}

/* As many queries per work-group as the kernel's work-group size allows (fewer for a short
 * sequence), 64 keys per tile, both halved until the tiles fit the device's local memory. */
static hrm_status attn_tiles(hrm_device *dev, int hd, int seq, attn_tiling *out)
{
    int T = 1;
    while (T * ATTN_ACC < hd) T *= 2;
    int wg = (int)dev->attn_fwd.wg; /* a power of two within the kernel's and the device's limits */
    if (wg < T)
        return ocl_fail(dev->be, HRM_ERR_UNSUPPORTED,
                        "attention_forward: head_dim %d needs work-groups of %d, the device allows %d", hd, T, wg);
    int bq = wg / T, want = 1;
    while (want < seq && want < bq) want *= 2;
    bq = want;
    cl_ulong used = 0; /* local memory the kernel itself declares */
    clGetKernelWorkGroupInfo(dev->attn_fwd.k, dev->id, CL_KERNEL_LOCAL_MEM_SIZE, sizeof used, &used, NULL);
    size_t budget = dev->local_mem > used ? dev->local_mem - (size_t)used : 0;
    int bk = 64, min_bk = T > 8 ? T : 8;
    while (attn_local_bytes(hd, bq, bk) > budget && bk > min_bk) bk /= 2;
    while (attn_local_bytes(hd, bq, bk) > budget && bq > 1) bq /= 2;
    if (attn_local_bytes(hd, bq, bk) > budget)
        return ocl_fail(dev->be, HRM_ERR_UNSUPPORTED,
                        "attention_forward: head_dim %d needs %zu bytes of local memory, the device has %zu", hd,
                        attn_local_bytes(hd, bq, bk), budget);
    *out = (attn_tiling){.T = T, .BQ = bq, .BK = bk};
    return HRM_OK;
}

hrm_status ocl_attention_forward(hrm_device *dev, const hrm_attention_args *a)
{
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    OCL_TRY(check_attention(dev, a, 0));
    uint64_t n = (uint64_t)a->batch * (uint64_t)a->heads * (uint64_t)a->seq;
    if (!n) return HRM_OK;
    attn_tiling tl;
    OCL_TRY(attn_tiles(dev, a->head_dim, a->seq, &tl));
    cl_long qs = a->qkv_row_stride, os = a->o_row_stride;
    ocl_args g = ocl_args_begin(dev, &dev->attn_fwd);
    attn_common(&g, a);
    OCL_ARG(&g, a->batch);
    OCL_ARG(&g, a->seq);
    OCL_ARG(&g, a->heads);
    OCL_ARG(&g, a->head_dim);
    OCL_ARG(&g, qs);
    OCL_ARG(&g, os);
    OCL_ARG(&g, a->scale);
    OCL_ARG(&g, a->causal);
    OCL_ARG(&g, tl.T);
    OCL_ARG(&g, tl.BQ);
    OCL_ARG(&g, tl.BK);
    size_t hd1 = (size_t)a->head_dim + 1;
    ocl_arg_local(&g, sizeof(float) * (size_t)tl.BQ * hd1);
    ocl_arg_local(&g, sizeof(float) * (size_t)tl.BK * hd1);
    ocl_arg_local(&g, sizeof(float) * (size_t)tl.BK * hd1);
    ocl_arg_local(&g, sizeof(float) * (size_t)tl.BQ * (size_t)(tl.BK + 1));
    size_t tiles = ((size_t)a->seq + (size_t)tl.BQ - 1) / (size_t)tl.BQ;
    size_t local = (size_t)tl.BQ * (size_t)tl.T, global = local * tiles * (size_t)a->batch * (size_t)a->heads;
    return ocl_launch(&g, "attention_forward", 1, &global, &local);
}

hrm_status ocl_attention_backward(hrm_device *dev, const hrm_attention_args *a)
{
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    OCL_TRY(check_attention(dev, a, 1));
    uint64_t n = (uint64_t)a->batch * (uint64_t)a->heads * (uint64_t)a->seq;
    if (!n) return HRM_OK;
    cl_long qs = a->qkv_row_stride, os = a->o_row_stride, ds = a->dqkv_row_stride;
    ocl_args g = ocl_args_begin(dev, &dev->attn_bwd_q);
    attn_common(&g, a);
    ocl_arg_ptr(&g, a->d_o);
    ocl_arg_ptr(&g, a->dq);
    OCL_ARG(&g, a->batch);
    OCL_ARG(&g, a->seq);
    OCL_ARG(&g, a->heads);
    OCL_ARG(&g, a->head_dim);
    OCL_ARG(&g, qs);
    OCL_ARG(&g, os);
    OCL_ARG(&g, ds);
    OCL_ARG(&g, a->scale);
    OCL_ARG(&g, a->causal);
    OCL_TRY(ocl_launch1(&g, &dev->attn_bwd_q, "attention_backward", n));
    g = ocl_args_begin(dev, &dev->attn_bwd_kv);
    attn_common(&g, a);
    ocl_arg_ptr(&g, a->d_o);
    ocl_arg_ptr(&g, a->dk);
    ocl_arg_ptr(&g, a->dv);
    OCL_ARG(&g, a->batch);
    OCL_ARG(&g, a->seq);
    OCL_ARG(&g, a->heads);
    OCL_ARG(&g, a->head_dim);
    OCL_ARG(&g, qs);
    OCL_ARG(&g, os);
    OCL_ARG(&g, ds);
    OCL_ARG(&g, a->scale);
    OCL_ARG(&g, a->causal);
    return ocl_launch1(&g, &dev->attn_bwd_kv, "attention_backward", n);
}
