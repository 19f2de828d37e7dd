/* ocl_ops.c - kernel argument and launch helpers, and the ops that run our own kernels
 * (kernels/elementwise.cl). Each op checks its arguments like the CPU backend, sets the kernel's
 * arguments and enqueues it on the device's in-order queue; nothing waits. */
#include <math.h>
#include <string.h>

#include "ocl_internal.h"

/* ---- arguments and launches -------------------------------------------------------------------- */

ocl_args ocl_args_begin(hrm_device *dev, ocl_kernel *k) {
    return (ocl_args){.dev = dev, .k = k->k, .next = 0, .err = CL_SUCCESS};
}

void ocl_arg_raw(ocl_args *a, size_t size, const void *value) {
    cl_int err = clSetKernelArg(a->k, a->next++, size, value);
    if (a->err == CL_SUCCESS) a->err = err;
}

void ocl_arg_ptr(ocl_args *a, hrm_ptr p) {
    cl_ulong off = p.buf ? (cl_ulong)p.off : 0;
    ocl_arg_raw(a, sizeof(cl_mem), p.buf ? &p.buf->mem : NULL); /* NULL: a NULL __global pointer */
    ocl_arg_raw(a, sizeof off, &off);
}

void ocl_arg_local(ocl_args *a, size_t bytes) { ocl_arg_raw(a, bytes, NULL); }

void ocl_arg_fault(ocl_args *a, ocl_fault_code code) {
    cl_int c = (cl_int)code;
    ocl_arg_raw(a, sizeof(cl_mem), &a->dev->fault);
    ocl_arg_raw(a, sizeof c, &c);
    a->dev->fault_armed = 1;
}

hrm_status ocl_launch(ocl_args *a, const char *op, cl_uint dims, const size_t *global, const size_t *local) {
    if (a->err != CL_SUCCESS) return ocl_cl_fail(a->dev->be, a->err, op, "clSetKernelArg");
    cl_int err =
        clEnqueueNDRangeKernel(a->dev->queue, a->k, dims, NULL, global, local, 0, NULL, ocl_profile_event(a->dev));
    if (err != CL_SUCCESS) return ocl_cl_fail(a->dev->be, err, op, "clEnqueueNDRangeKernel");
    ocl_profile_kernel(a->dev, a->k, op);
    return HRM_OK;
}

hrm_status ocl_launch1(ocl_args *a, ocl_kernel *k, const char *op, uint64_t n) {
    size_t local = k->wg, global = (size_t)((n + local - 1) / local * local);
    return ocl_launch(a, op, 1, &global, &local);
}

/* The kernels over rows and columns take 2-D or 3-D ranges so that no work-item divides a flat
 * index (kernels/elementwise.cl: integer division is slow on GPUs). */

/* CL_DEVICE_MAX_WORK_ITEM_SIZES[0..2], floored to powers of two, queried once: a device's ops are
 * enqueued from one thread at a time (its kernels' arguments are set without a lock too). */
static const size_t *max_items(hrm_device *dev) {
    if (dev->max_items[0]) return dev->max_items;
    size_t got[16] = {0}, bytes = 0;
    cl_int err = clGetDeviceInfo(dev->id, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof got, got, &bytes);
    for (int d = 0; d < 3; d++) {
        size_t most = err == CL_SUCCESS && bytes >= (size_t)(d + 1) * sizeof(size_t) ? got[d] : (d ? 1 : dev->max_wg);
        size_t p = 1;
        while (p * 2 <= most) p *= 2;
        dev->max_items[d] = p;
    }
    return dev->max_items;
}

/* Work-items along one dimension of extent n, with at most `most` (a power of two) to spare: the
 * largest power of two up to that and to n rounded up whose padding of n is at most n / 8 (1536
 * columns: 512, not 1024 or 2048 with a quarter idle), but not below `least`. */
static size_t pick_local(uint64_t n, size_t most, size_t least) {
    size_t l = 1;
    while (l < n && l * 2 <= most) l *= 2;
    while (l > least && (n + l - 1) / l * l - n > n / 8) l /= 2;
    return l;
}

void ocl_grid_local(hrm_device *dev, ocl_kernel *k, cl_uint dims, const uint64_t *n, size_t *local) {
    const size_t *most = max_items(dev);
    size_t left = k->wg;
    for (cl_uint d = 0; d < dims; d++) {
        local[d] = pick_local(n[d], left < most[d] ? left : most[d], d == 0 ? k->multiple : 1);
        left /= local[d];
    }
}

hrm_status ocl_launch_split(ocl_args *a, const char *op, cl_uint dims, const uint64_t *n, const size_t *local) {
    if (a->err != CL_SUCCESS) return ocl_cl_fail(a->dev->be, a->err, op, "clSetKernelArg");
    uint64_t total[3] = {1, 1, 1}, step[3];
    for (cl_uint d = 0; d < 3; d++) {
        if (d < dims) total[d] = (n[d] + local[d] - 1) / local[d] * local[d];
        step[d] = d == 0 || d >= dims ? total[d] : (uint64_t)OCL_MAX_GROUPS_YZ * local[d];
    }
    for (uint64_t o2 = 0; o2 < total[2]; o2 += step[2])
        for (uint64_t o1 = 0; o1 < total[1]; o1 += step[1]) {
            size_t offset[3] = {0, (size_t)o1, (size_t)o2};
            size_t global[3] = {(size_t)total[0], (size_t)(total[1] - o1 < step[1] ? total[1] - o1 : step[1]),
                                (size_t)(total[2] - o2 < step[2] ? total[2] - o2 : step[2])};
            cl_int err = clEnqueueNDRangeKernel(a->dev->queue, a->k, dims, offset, global, local, 0, NULL,
                                                ocl_profile_event(a->dev));
            if (err != CL_SUCCESS) return ocl_cl_fail(a->dev->be, err, op, "clEnqueueNDRangeKernel");
            ocl_profile_kernel(a->dev, a->k, op);
        }
    return HRM_OK;
}

hrm_status ocl_launch_grid(ocl_args *a, ocl_kernel *k, const char *op, cl_uint dims, const uint64_t *n) {
    size_t local[3];
    ocl_grid_local(a->dev, k, dims, n, local);
    return ocl_launch_split(a, op, dims, n, local);
}

/* ---- add ------------------------------------------------------------------------------------------ */

hrm_status ocl_add(hrm_device *dev, const hrm_add_args *a) {
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

static hrm_status check_rmsnorm(hrm_device *dev, const hrm_rmsnorm_args *a, int backward) {
    return hrm_check_rmsnorm(&ocl_checker, dev, a, backward);
}

static hrm_status launch_rows(ocl_args *g, ocl_kernel *k, const char *op, int64_t rows, int dim) {
    size_t local = k->wg;
    while (local > 32 && local / 2 >= (size_t)dim) local /= 2; /* short rows: smaller groups */
    ocl_arg_local(g, local * sizeof(float));
    size_t global = (size_t)rows * local;
    return ocl_launch(g, op, 1, &global, &local);
}

hrm_status ocl_rmsnorm_forward(hrm_device *dev, const hrm_rmsnorm_args *a) {
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

hrm_status ocl_rmsnorm_backward(hrm_device *dev, const hrm_rmsnorm_args *a) {
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

static hrm_status check_swiglu(hrm_device *dev, const hrm_swiglu_args *a, int backward) {
    return hrm_check_swiglu(&ocl_checker, dev, a, backward);
}

hrm_status ocl_swiglu_forward(hrm_device *dev, const hrm_swiglu_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    OCL_TRY(check_swiglu(dev, a, 0));
    if (!a->rows || !a->inter) return HRM_OK;
    cl_ulong rows = (cl_ulong)a->rows;
    ocl_args g = ocl_args_begin(dev, &dev->swiglu_fwd);
    ocl_arg_ptr(&g, a->gu);
    ocl_arg_ptr(&g, a->out);
    OCL_ARG(&g, a->inter);
    OCL_ARG(&g, rows);
    uint64_t n[2] = {(uint64_t)a->inter, rows}; /* (column, row) */
    return ocl_launch_grid(&g, &dev->swiglu_fwd, "swiglu_forward", 2, n);
}

hrm_status ocl_swiglu_backward(hrm_device *dev, const hrm_swiglu_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    OCL_TRY(check_swiglu(dev, a, 1));
    if (!a->rows || !a->inter) return HRM_OK;
    cl_ulong rows = (cl_ulong)a->rows;
    ocl_args g = ocl_args_begin(dev, &dev->swiglu_bwd);
    ocl_arg_ptr(&g, a->gu);
    ocl_arg_ptr(&g, a->d_out);
    ocl_arg_ptr(&g, a->d_gu);
    OCL_ARG(&g, a->inter);
    OCL_ARG(&g, rows);
    uint64_t n[2] = {(uint64_t)a->inter, rows}; /* (column, row) */
    return ocl_launch_grid(&g, &dev->swiglu_bwd, "swiglu_backward", 2, n);
}

/* ---- RoPE -------------------------------------------------------------------------------------------- */

static hrm_status rope_run(hrm_device *dev, const hrm_rope_args *a, float sign, const char *op) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    OCL_TRY(hrm_check_rope(&ocl_checker, dev, a, op));
    int half = a->head_dim / 2;
    if (!a->batch || !a->seq || !a->heads || !half) return HRM_OK;
    cl_long stride = a->row_stride;
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
    OCL_ARG(&g, a->batch);
    /* range (heads * L, seq, batch), work-groups of L pairs of one head along dimension 0 (elementwise.cl):
     * the work-groups are shaped for (half, seq, batch), then dimension 0 is repeated for each head */
    uint64_t n[3] = {(uint64_t)half, (uint64_t)a->seq, (uint64_t)a->batch};
    size_t local[3];
    ocl_grid_local(dev, &dev->rope, 3, n, local);
    n[0] = (uint64_t)a->heads * local[0];
    return ocl_launch_split(&g, op, 3, n, local);
}

hrm_status ocl_rope_forward(hrm_device *dev, const hrm_rope_args *a) { return rope_run(dev, a, 1.0f, "rope_forward"); }
hrm_status ocl_rope_backward(hrm_device *dev, const hrm_rope_args *a) {
    return rope_run(dev, a, -1.0f, "rope_backward");
}

/* ---- optimizers -------------------------------------------------------------------------------------- */

hrm_status ocl_adam_atan2(hrm_device *dev, const hrm_adam_args *a) {
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

hrm_status ocl_signsgd_rows(hrm_device *dev, const hrm_signsgd_args *a) {
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
    size_t local[2] = {k->wg, 1};
    uint64_t n[2] = {(uint64_t)a->width, (uint64_t)a->batch}; /* (column, slot) */
    return ocl_launch_split(&g, "signsgd_rows", 2, n, local);
}

/* ---- embedding ---------------------------------------------------------------------------------------- */

static hrm_status check_embedding(hrm_device *dev, const hrm_embedding_args *a, int backward) {
    /* ocl_checker has no ids check: ids stay on the device (no host round trip); an out-of-range
     * id reads zeros, gets no gradient and is reported at the next synchronisation */
    return hrm_check_embedding(&ocl_checker, dev, a, backward);
}

hrm_status ocl_embedding_forward(hrm_device *dev, const hrm_embedding_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    OCL_TRY(check_embedding(dev, a, 0));
    uint64_t n[3] = {(uint64_t)a->dim, (uint64_t)a->prefix + (uint64_t)a->seq_len, (uint64_t)a->batch};
    if (!n[0] || !n[1] || !n[2]) return HRM_OK;
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
    OCL_ARG(&g, a->batch);
    ocl_arg_fault(&g, OCL_FAULT_EMB_FWD_TOKENS);
    int pid_code = OCL_FAULT_EMB_FWD_PUZZLE_IDS;
    OCL_ARG(&g, pid_code);
    return ocl_launch_grid(&g, &dev->emb_fwd, "embedding_forward", 3, n); /* (column, row, sequence) */
}

hrm_status ocl_embedding_backward(hrm_device *dev, const hrm_embedding_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    OCL_TRY(check_embedding(dev, a, 1));
    const char *op = "embedding_backward";
    cl_ulong S = (cl_ulong)a->prefix + (cl_ulong)a->seq_len;
    if (a->d_token_table.buf && a->seq_len > 0 && a->batch > 0) {
        if ((cl_ulong)a->batch * S > INT32_MAX) /* the kernel lists d_out rows as ints (embedding.cl) */
            return ocl_fail(dev->be, HRM_ERR_INVALID_ARG,
                            "%s: %llu rows of d_out, the token-table gradient takes "
                            "at most %d",
                            op, (unsigned long long)((cl_ulong)a->batch * S), INT32_MAX);
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
        /* a work-group per run of columns of one vocabulary row (embedding.cl) */
        size_t L = dev->emb_bwd_tokens.wg;
        while (L / 2 >= (size_t)a->dim && L / 2 >= dev->emb_bwd_tokens.multiple && L > 1) L /= 2;
        ocl_arg_local(&g, L * sizeof(cl_int));
        ocl_arg_local(&g, L * sizeof(cl_int));
        size_t local[2] = {L, 1};
        uint64_t n[2] = {(uint64_t)a->dim, (uint64_t)a->vocab};
        OCL_TRY(ocl_launch_split(&g, op, 2, n, local));
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
    if (a->d_puzzle_rows.buf && a->prefix > 0 && a->batch > 0 && a->puzzle_width > 0) {
        cl_ulong row = S * (cl_ulong)a->dim;
        ocl_args g = ocl_args_begin(dev, &dev->emb_bwd_puzzle);
        ocl_arg_ptr(&g, a->d_out);
        ocl_arg_ptr(&g, a->d_puzzle_rows);
        OCL_ARG(&g, a->puzzle_width);
        OCL_ARG(&g, row);
        OCL_ARG(&g, a->scale);
        OCL_ARG(&g, a->batch);
        uint64_t n[2] = {(uint64_t)a->puzzle_width, (uint64_t)a->batch}; /* (column, sequence) */
        OCL_TRY(ocl_launch_grid(&g, &dev->emb_bwd_puzzle, op, 2, n));
    }
    return HRM_OK;
}

/* ---- cross-entropy --------------------------------------------------------------------------------------- */

/* ocl_checker has no ids check: labels stay on the device (no host round trip); an out-of-range
 * label counts as ignored there and is reported at the next synchronisation (ocl_fault_code) */
static hrm_status check_xent(hrm_device *dev, const hrm_xent_args *a, int backward) {
    return hrm_check_xent(&ocl_checker, dev, a, backward);
}

/* Work-group size for one sequence of seq_len positions (loss.cl): the kernel's, halved while it
 * exceeds the sequence (81 positions: 64 work-items, 17 of them taking two; fewer idle work-items
 * than 128 would leave), but not below the driver's preferred multiple. */
static size_t xent_group(ocl_kernel *k, int seq_len) {
    size_t local = k->wg;
    while (local > (size_t)seq_len && local / 2 >= k->multiple && local > 1) local /= 2;
    return local;
}

hrm_status ocl_xent_forward(hrm_device *dev, const hrm_xent_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    OCL_TRY(check_xent(dev, a, 0));
    if (!a->batch) return HRM_OK;
    int kind = (int)a->kind;
    ocl_kernel *k = &dev->xent_fwd;
    ocl_args g = ocl_args_begin(dev, k);
    ocl_arg_ptr(&g, a->logits);
    ocl_arg_ptr(&g, a->labels);
    ocl_arg_ptr(&g, a->loss);
    ocl_arg_ptr(&g, a->count);
    ocl_arg_ptr(&g, a->correct);
    ocl_arg_ptr(&g, a->preds);
    OCL_ARG(&g, a->seq_len);
    OCL_ARG(&g, a->vocab);
    OCL_ARG(&g, kind);
    OCL_ARG(&g, a->ignore_label);
    ocl_arg_fault(&g, OCL_FAULT_XENT_FWD_LABELS);
    size_t local = xent_group(k, a->seq_len), global = local * (size_t)a->batch;
    ocl_arg_local(&g, local * sizeof(cl_double)); /* acc_t: double on fp64 devices, else float */
    ocl_arg_local(&g, local * sizeof(cl_long));
    return ocl_launch(&g, "xent_forward", 1, &global, &local);
}

hrm_status ocl_xent_backward(hrm_device *dev, const hrm_xent_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    OCL_TRY(check_xent(dev, a, 1));
    if (!a->batch || !a->seq_len) return HRM_OK;
    int kind = (int)a->kind;
    ocl_kernel *k = &dev->xent_bwd;
    ocl_args g = ocl_args_begin(dev, k);
    ocl_arg_ptr(&g, a->logits);
    ocl_arg_ptr(&g, a->labels);
    ocl_arg_ptr(&g, a->d_logits);
    OCL_ARG(&g, a->seq_len);
    OCL_ARG(&g, a->vocab);
    OCL_ARG(&g, kind);
    OCL_ARG(&g, a->ignore_label);
    OCL_ARG(&g, a->grad_scale);
    ocl_arg_fault(&g, OCL_FAULT_XENT_BWD_LABELS);
    size_t local = xent_group(k, a->seq_len), global = local * (size_t)a->batch;
    ocl_arg_local(&g, local * sizeof(cl_int));
    return ocl_launch(&g, "xent_backward", 1, &global, &local);
}

/* ---- attention (kernels/attention.cl: tiled forward and backward) ---------------------------------------- */

static hrm_status check_attention(hrm_device *dev, const hrm_attention_args *a, int backward) {
    OCL_TRY(hrm_check_attention_sizes(&ocl_checker, dev, a, backward));
    return hrm_check_attention_tensors(&ocl_checker, dev, a, backward);
}

/* The tiling of one attention kernel: T work-items per row, `rows` rows owned by a work-group (the
 * queries of hrm_attn_fwd and hrm_attn_bwd_q, the keys of hrm_attn_bwd_kv) and `cols` rows in each
 * tile that the work-group walks through (keys, or queries for hrm_attn_bwd_kv). */
typedef struct attn_tiling {
    int T, rows, cols;
} attn_tiling;

enum { ATTN_ACC = 8, ATTN_COLS = 4 }; /* as in attention.cl: head_dim values per work-item; scores per pass */

/* Local bytes of a kernel at a tiling; rows are padded by one float (attention.cl). */
typedef size_t (*attn_local_fn)(size_t hd1, size_t rows, size_t cols);

static size_t fwd_local(size_t hd1, size_t bq, size_t bk) /* lq; lk, lv; ls */
{
    return sizeof(float) * (bq * hd1 + 2 * bk * hd1 + bq * (bk + 1));
}

static size_t bwd_kv_local(size_t hd1, size_t bk, size_t bq) /* lk, lv; lq, ldo; lp, ldS; lrow */
{
    return sizeof(float) * (2 * bk * hd1 + 2 * bq * hd1 + 2 * bk * (bq + 1) + 2 * bq);
}

static size_t bwd_q_local(size_t hd1, size_t bq, size_t bk) /* lq, ldo; lk, lv; ls; lrow */
{
    return sizeof(float) * (2 * bq * hd1 + 2 * bk * hd1 + bq * (bk + 1) + 2 * bq);
}

/* Work-items per row: head_dim / ATTN_ACC rounded up to a power of two (attention.cl). */
static int attn_threads(int hd) {
    int T = 1;
    while (T * ATTN_ACC < hd) T *= 2;
    return T;
}

/* Rows per tile over seq rows: at most `most`, in as few tiles as that allows, these as even as
 * multiples of `step` (capped at `most`) allow. */
static int even_tiles(int seq, int most, int step) {
    int tiles = (seq + most - 1) / most, n = (seq + tiles - 1) / tiles;
    n = (n + step - 1) / step * step;
    return n < most ? n : most;
}

/* As many rows per work-group as the kernel's work-group size allows, and `cols` per tile at most;
 * the tile halved down to max(T, 8), then the rows halved, until the local arrays fit the device's
 * local memory (HRM_OPENCL_LOCAL_MEM_KB may lower it). Rows and tile are then spread evenly over
 * the sequence (82 rows: 3 tiles of 28, not 32 + 32 + 18), the work-group kept a multiple of the
 * driver's preferred size where that is a whole number of rows. */
static hrm_status attn_plan(hrm_device *dev, ocl_kernel *k, const char *op, int hd, int seq, int most_cols,
                            attn_local_fn bytes, attn_tiling *out) {
    int T = attn_threads(hd), wg = (int)k->wg; /* wg: a power of two within the kernel's and the device's limits */
    if (wg < T)
        return ocl_fail(dev->be, HRM_ERR_UNSUPPORTED, "%s: head_dim %d needs work-groups of %d, the device allows %d",
                        op, hd, T, wg);
    int step = (int)k->multiple > T && (int)k->multiple % T == 0 ? (int)k->multiple / T : 1;
    int most_rows = wg / T, min_cols = T > 8 ? T : 8, rows, cols;
    size_t budget = dev->local_mem > k->local_fixed ? dev->local_mem - k->local_fixed : 0, hd1 = (size_t)hd + 1, need;
    for (;;) {
        rows = even_tiles(seq, most_rows, step), cols = even_tiles(seq, most_cols, 1);
        need = bytes(hd1, (size_t)rows, (size_t)cols);
        if (need <= budget) break;
        if (most_cols > min_cols)
            most_cols /= 2;
        else if (most_rows > 1)
            most_rows /= 2;
        else
            return ocl_fail(dev->be, HRM_ERR_UNSUPPORTED,
                            "%s: head_dim %d needs %zu bytes of local memory, the device has %zu", op, hd, need,
                            budget);
    }
    *out = (attn_tiling){.T = T, .rows = rows, .cols = cols};
    int plan[5] = {hd, seq, T, rows, cols};
    if (memcmp(plan, k->plan, sizeof plan)) { /* once per new shape: tests read it to see the tiles shrink */
        memcpy(k->plan, plan, sizeof plan);
        ocl_log(dev->be, HRM_LOG_DEBUG,
                "%s: head_dim %d, seq %d: %d rows x %d work-items per work-group, tiles of %d, "
                "%zu of %zu bytes of local memory",
                op, hd, seq, rows, T, cols, need, budget);
    }
    return HRM_OK;
}

/* One work-group per `rows` rows of each (batch, head): range (tiles * work-group, heads, batch), so
 * that a work-group finds its tile, head and sequence without dividing (attention.cl). */
static hrm_status attn_launch(ocl_args *g, const char *op, const hrm_attention_args *a, const attn_tiling *tl) {
    uint64_t tiles = ((uint64_t)a->seq + (uint64_t)tl->rows - 1) / (uint64_t)tl->rows;
    size_t local[3] = {(size_t)tl->rows * (size_t)tl->T, 1, 1};
    uint64_t n[3] = {local[0] * tiles, (uint64_t)a->heads, (uint64_t)a->batch};
    return ocl_launch_split(g, op, 3, n, local);
}

static void attn_local_rows(ocl_args *g, size_t count, size_t rows, int hd) {
    for (size_t n = 0; n < count; n++) ocl_arg_local(g, sizeof(float) * rows * ((size_t)hd + 1));
}

hrm_status ocl_attention_forward(hrm_device *dev, const hrm_attention_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    const char *op = "attention_forward";
    OCL_TRY(check_attention(dev, a, 0));
    if (!a->batch || !a->seq) return HRM_OK;
    attn_tiling tl;
    OCL_TRY(attn_plan(dev, &dev->attn_fwd, op, a->head_dim, a->seq, 64, fwd_local, &tl));
    cl_long qs = a->qkv_row_stride, os = a->o_row_stride;
    ocl_args g = ocl_args_begin(dev, &dev->attn_fwd);
    ocl_arg_ptr(&g, a->q);
    ocl_arg_ptr(&g, a->k);
    ocl_arg_ptr(&g, a->v);
    ocl_arg_ptr(&g, a->o);
    ocl_arg_ptr(&g, a->lse);
    OCL_ARG(&g, a->batch);
    OCL_ARG(&g, a->seq);
    OCL_ARG(&g, a->heads);
    OCL_ARG(&g, a->head_dim);
    OCL_ARG(&g, qs);
    OCL_ARG(&g, os);
    OCL_ARG(&g, a->scale);
    OCL_ARG(&g, a->causal);
    OCL_ARG(&g, tl.T);
    OCL_ARG(&g, tl.rows);
    OCL_ARG(&g, tl.cols);
    attn_local_rows(&g, 1, (size_t)tl.rows, a->head_dim);
    attn_local_rows(&g, 2, (size_t)tl.cols, a->head_dim);
    ocl_arg_local(&g, sizeof(float) * (size_t)tl.rows * (size_t)(tl.cols + 1));
    return attn_launch(&g, op, a, &tl);
}

/* D_i = dO_i . O_i into dq's first column of each head (attention.cl): T work-items per row. */
static hrm_status attn_bwd_dot(hrm_device *dev, const hrm_attention_args *a, const char *op) {
    ocl_kernel *k = &dev->attn_bwd_dot;
    int T = 1;
    while (T * ATTN_ACC < a->head_dim && T * 2 <= (int)k->wg) T *= 2;
    cl_ulong rows = (cl_ulong)a->batch * (cl_ulong)a->seq; /* token rows, each with `heads` values of D */
    cl_long os = a->o_row_stride, ds = a->dqkv_row_stride;
    ocl_args g = ocl_args_begin(dev, k);
    ocl_arg_ptr(&g, a->o);
    ocl_arg_ptr(&g, a->d_o);
    ocl_arg_ptr(&g, a->dq);
    OCL_ARG(&g, rows);
    OCL_ARG(&g, a->heads);
    OCL_ARG(&g, a->head_dim);
    OCL_ARG(&g, os);
    OCL_ARG(&g, ds);
    /* range (T, heads, rows): dimension 0 is exactly a row's T work-items (attention.cl) */
    uint64_t n[3] = {(uint64_t)T, (uint64_t)a->heads, rows};
    size_t local[3];
    ocl_grid_local(dev, k, 3, n, local);
    if (local[0] != (size_t)T)
        return ocl_fail(dev->be, HRM_ERR_UNSUPPORTED,
                        "%s: head_dim %d needs %d work-items in dimension 0, the device "
                        "allows %zu",
                        op, a->head_dim, T, local[0]);
    ocl_arg_local(&g, sizeof(float) * local[0] * local[1] * local[2]);
    return ocl_launch_split(&g, op, 3, n, local);
}

/* The arguments hrm_attn_bwd_kv and hrm_attn_bwd_q share up to dO. */
static void attn_bwd_inputs(ocl_args *g, const hrm_attention_args *a) {
    ocl_arg_ptr(g, a->q);
    ocl_arg_ptr(g, a->k);
    ocl_arg_ptr(g, a->v);
    ocl_arg_ptr(g, a->lse);
    ocl_arg_ptr(g, a->d_o);
}

static void attn_bwd_scalars(ocl_args *g, const hrm_attention_args *a, const attn_tiling *tl) {
    cl_long qs = a->qkv_row_stride, os = a->o_row_stride, ds = a->dqkv_row_stride;
    OCL_ARG(g, a->seq);
    OCL_ARG(g, a->heads);
    OCL_ARG(g, a->head_dim);
    OCL_ARG(g, qs);
    OCL_ARG(g, os);
    OCL_ARG(g, ds);
    OCL_ARG(g, a->scale);
    OCL_ARG(g, a->causal);
    OCL_ARG(g, tl->T);
    OCL_ARG(g, tl->rows);
    OCL_ARG(g, tl->cols);
}

/* Three launches (attention.cl): D into dq's first column, then dk and dv, then dq. The walked tiles
 * have ATTN_COLS * T rows (32 at head_dim 64; at least 32), so that each work-item computes
 * ATTN_COLS scores per tile (pair_dots); longer tiles would only take local memory from the rows. */
hrm_status ocl_attention_backward(hrm_device *dev, const hrm_attention_args *a) {
    if (!dev || !a) return HRM_ERR_INVALID_ARG;
    const char *op = "attention_backward";
    OCL_TRY(check_attention(dev, a, 1));
    if (!a->batch || !a->seq) return HRM_OK;
    attn_tiling kv, qt;
    int cols = ATTN_COLS * attn_threads(a->head_dim);
    if (cols < 32) cols = 32;
    OCL_TRY(
        attn_plan(dev, &dev->attn_bwd_kv, "attention_backward (dk, dv)", a->head_dim, a->seq, cols, bwd_kv_local, &kv));
    OCL_TRY(attn_plan(dev, &dev->attn_bwd_q, "attention_backward (dq)", a->head_dim, a->seq, cols, bwd_q_local, &qt));
    OCL_TRY(attn_bwd_dot(dev, a, op));

    ocl_args g = ocl_args_begin(dev, &dev->attn_bwd_kv);
    attn_bwd_inputs(&g, a);
    ocl_arg_ptr(&g, a->dq); /* D, read */
    ocl_arg_ptr(&g, a->dk);
    ocl_arg_ptr(&g, a->dv);
    attn_bwd_scalars(&g, a, &kv);
    attn_local_rows(&g, 2, (size_t)kv.rows, a->head_dim);
    attn_local_rows(&g, 2, (size_t)kv.cols, a->head_dim);
    ocl_arg_local(&g, sizeof(float) * (size_t)kv.rows * (size_t)(kv.cols + 1));
    ocl_arg_local(&g, sizeof(float) * (size_t)kv.rows * (size_t)(kv.cols + 1));
    ocl_arg_local(&g, sizeof(float) * 2 * (size_t)kv.cols);
    OCL_TRY(attn_launch(&g, op, a, &kv));

    g = ocl_args_begin(dev, &dev->attn_bwd_q);
    attn_bwd_inputs(&g, a);
    ocl_arg_ptr(&g, a->dq);
    attn_bwd_scalars(&g, a, &qt);
    attn_local_rows(&g, 2, (size_t)qt.rows, a->head_dim);
    attn_local_rows(&g, 2, (size_t)qt.cols, a->head_dim);
    ocl_arg_local(&g, sizeof(float) * (size_t)qt.rows * (size_t)(qt.cols + 1));
    ocl_arg_local(&g, sizeof(float) * 2 * (size_t)qt.rows);
    return attn_launch(&g, op, a, &qt);
}
