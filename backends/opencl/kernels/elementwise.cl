/* elementwise.cl - the row-wise and elementwise ops of one recurrent step (add, residual add +
 * RMSNorm, SwiGLU, RoPE), the matmul helper for k = 0 / beta = 0, and the optimizer updates.
 * Ops that allow out == in read every element before the same work-item writes it.
 * Kernels over rows x columns take a 2-D or 3-D range (ocl_launch_grid in ocl_ops.c): the row and
 * column come from get_global_id, never from dividing a flat index: GPUs have no integer divider,
 * a 32-bit division or modulo compiles to up to 20 instructions (CUDA C++ Programming Guide,
 * Performance Guidelines, "Arithmetic Instructions") and a 64-bit one to a longer software routine.
 * Dimensions 1 and 2 may arrive in several launches with a global offset, which get_global_id
 * includes and get_group_id does not. */

__kernel void hrm_add(__global float *out, ulong oo, __global const float *a, ulong ao, __global const float *b,
                      ulong bo, __global const float *c, ulong co, ulong n) {
    ulong i = get_global_id(0);
    if (i >= n) return;
    float s = a[ao + i] + b[bo + i];
    if (c) s += c[co + i];
    out[oo + i] = s;
}

/* C_i[r, col] = beta * C_i[r, col] (beta == 0 writes zero, ignoring NaN); dims (n, m, batch). */
__kernel void hrm_scale_matrix(__global float *c, ulong co, int m, int n, long ldc, long stride, float beta) {
    size_t col = get_global_id(0), r = get_global_id(1), i = get_global_id(2);
    if (col >= (size_t)n || r >= (size_t)m) return;
    ulong at = co + i * stride + r * ldc + col;
    c[at] = beta == 0.0f ? 0.0f : beta * c[at];
}

/* One work-group per row. */
__kernel void hrm_rmsnorm_fwd(__global const float *x, ulong xo, __global const float *r, ulong ro, __global float *y,
                              ulong yo, __global float *rstd, ulong so, int dim, float eps, __local float *scratch) {
    const ulong row = get_group_id(0);
    const size_t lid = get_local_id(0), L = get_local_size(0);
    const ulong base = row * (ulong)dim;
    float acc = 0.0f;
    for (size_t i = lid; i < (size_t)dim; i += L) {
        float h = x[xo + base + i] + (r ? r[ro + base + i] : 0.0f);
        acc += h * h;
    }
    float rs = 1.0f / sqrt(group_sum(acc, scratch) / (float)dim + eps);
    for (size_t i = lid; i < (size_t)dim; i += L) {
        float h = x[xo + base + i] + (r ? r[ro + base + i] : 0.0f);
        y[yo + base + i] = h * rs;
    }
    if (lid == 0) rstd[so + row] = rs;
}

__kernel void hrm_rmsnorm_bwd(__global const float *dy, ulong dyo, __global const float *y, ulong yo,
                              __global const float *rstd, ulong so, __global float *dh, ulong dho, int dim,
                              __local float *scratch) {
    const ulong row = get_group_id(0);
    const size_t lid = get_local_id(0), L = get_local_size(0);
    const ulong base = row * (ulong)dim;
    float acc = 0.0f;
    for (size_t i = lid; i < (size_t)dim; i += L) acc += dy[dyo + base + i] * y[yo + base + i];
    float mean = group_sum(acc, scratch) / (float)dim, rs = rstd[so + row];
    for (size_t i = lid; i < (size_t)dim; i += L) {
        float d = dy[dyo + base + i];
        dh[dho + base + i] = rs * (d - y[yo + base + i] * mean);
    }
}

/* Range (inter, rows): get_global_id(0) = column, get_global_id(1) = row. */
__kernel void hrm_swiglu_fwd(__global const float *gu, ulong go, __global float *out, ulong oo, int inter, ulong rows) {
    const size_t col = get_global_id(0), row = get_global_id(1);
    if (col >= (size_t)inter || row >= rows) return;
    ulong at = go + row * 2 * (ulong)inter + col;
    float g = gu[at], u = gu[at + inter];
    out[oo + row * (ulong)inter + col] = g / (1.0f + exp(-g)) * u;
}

/* Range (inter, rows), as the forward. */
__kernel void hrm_swiglu_bwd(__global const float *gu, ulong go, __global const float *dout, ulong doo,
                             __global float *dgu, ulong dgo, int inter, ulong rows) {
    const size_t col = get_global_id(0), row = get_global_id(1);
    if (col >= (size_t)inter || row >= rows) return;
    ulong off = row * 2 * (ulong)inter + col;
    float g = gu[go + off], u = gu[go + off + inter], d = dout[doo + row * (ulong)inter + col];
    float sig = 1.0f / (1.0f + exp(-g));
    dgu[dgo + off] = d * u * sig * (1.0f + g * (1.0f - sig));
    dgu[dgo + off + inter] = d * g * sig;
}

/* Range (heads * L, seq, batch) in work-groups of L (a power of two) along dimension 0: work-group
 * column h = get_group_id(0) is the head, and local item i < L rotates pairs i, i + L, ... of that
 * head (one, where L >= hlf) in token row (b, pos); no index division. sign = +1 forward, -1
 * backward. Each pair is read and written by one work-item, so out may equal x. */
__kernel void hrm_rope(__global const float *x, ulong xo, __global float *out, ulong oo, __global const float *cs,
                       ulong co, __global const float *sn, ulong sno, int seq, int heads, int hlf, long row_stride,
                       float dir, int batch) {
    const size_t L = get_local_size(0), h = get_group_id(0), pos = get_global_id(1), b = get_global_id(2);
    if (pos >= (size_t)seq || b >= (size_t)batch) return;
    (void)heads;
    const ulong head = (b * (ulong)seq + pos) * (ulong)row_stride + h * 2 * (ulong)hlf;
    for (size_t i = get_local_id(0); i < (size_t)hlf; i += L) {
        float c = cs[co + pos * (ulong)hlf + i], s = dir * sn[sno + pos * (ulong)hlf + i];
        ulong at = head + i;
        float x0 = x[xo + at], x1 = x[xo + at + hlf];
        out[oo + at] = x0 * c - x1 * s;
        out[oo + at + hlf] = x1 * c + x0 * s;
    }
}

__kernel void hrm_adam_atan2(__global float *p, ulong po, __global const float *g, ulong go, __global float *m,
                             ulong mo, __global float *v, ulong vo, float lr, float decay, float t1, float t2,
                             float inv_bc1, float inv_bc2_sqrt, ulong n) {
    ulong i = get_global_id(0);
    if (i >= n) return;
    float gi = g[go + i];
    float mi = m[mo + i] + t1 * (gi - m[mo + i]);
    float vi = v[vo + i] + t2 * (gi * gi - v[vo + i]);
    m[mo + i] = mi;
    v[vo + i] = vi;
    p[po + i] = p[po + i] * decay - lr * atan2(mi * inv_bc1, sqrt(vi) * inv_bc2_sqrt);
}

/* One work-item per (slot, column): the first slot with an id sums every slot with it and
 * updates the row; later slots with the same id do nothing, so each row is written once. */
__kernel void hrm_signsgd_rows(__global const int *ids, ulong io, __global const float *grads, ulong go,
                               __global float *w, ulong wo, int batch, int width, int num_rows, float lr, float decay,
                               __global int *fault, int fault_ids) {
    size_t col = get_global_id(0), slot = get_global_id(1);
    if (col >= (size_t)width || slot >= (size_t)batch) return;
    int id = ids[io + slot];
    if (id < 0 || id >= num_rows) {
        if (col == 0) report_bad_id(fault, fault_ids, id, num_rows, slot);
        return;
    }
    for (size_t j = 0; j < slot; j++)
        if (ids[io + j] == id) return;
    float sum = 0.0f;
    for (size_t j = slot; j < (size_t)batch; j++)
        if (ids[io + j] == id) sum += grads[go + j * (ulong)width + col];
    float sg = sum > 0.0f ? 1.0f : (sum < 0.0f ? -1.0f : 0.0f);
    ulong at = wo + (ulong)id * (ulong)width + col;
    w[at] = w[at] * decay - lr * sg;
}
