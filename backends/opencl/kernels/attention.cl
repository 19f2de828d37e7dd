/* attention.cl - multi-head scaled-dot-product attention. Nothing [seq, seq] is stored.
 *
 * Forward (hrm_attn_fwd): FlashAttention-style tiles in local memory. A work-group takes BQ
 * queries of one (batch, head) and walks the keys in tiles of BK: the tile's K and V rows are
 * loaded once into local memory and shared by the BQ queries, the BQ x BK scores go to local
 * memory, and each query keeps an online softmax (running max m, sum l) and its output
 * accumulator. T work-items share a query: each holds ATTN_ACC of its head_dim values (dims
 * t, t+T, ...), computes the scores of keys t, t+T, ... of the tile, and turns them into
 * probabilities; so no work-item needs a head_dim-sized private array. lse = m + log(l) is saved
 * for the backward. The host picks T (head_dim / ATTN_ACC rounded up to a power of two), BQ
 * and BK from the device's work-group and local-memory limits (ocl_ops.c); local rows are padded
 * by one float so that work-items reading different rows at the same column hit different banks.
 *
 * Backward, FIRST VERSION: one work-item per (batch, head, query) for dq and one per (batch,
 * head, key) for dk and dv, recomputing P from lse, head_dim-sized private arrays (they spill on
 * GPUs). head_dim <= 128. */
#define HD_MAX 128
#define ATTN_ACC 8 /* head_dim values per work-item in the forward: T * ATTN_ACC >= head_dim */

static float dot_g(__global const float *a, __global const float *b, int n)
{
    float s = 0.0f;
    for (int d = 0; d < n; d++) s += a[d] * b[d];
    return s;
}

/* Copies rows [r0, r0 + n) (of `seq`; rows past it read zeros) of one head's [seq, hd] slice,
 * rows `stride` apart, into local rows hd + 1 apart, scaled; the whole work-group takes part. */
static void load_rows(__local float *dst, __global const float *src, ulong r0, int n, ulong seq, long stride,
                      int hd, float scale)
{
    const int lid = (int)get_local_id(0), wg = (int)get_local_size(0);
    for (int e = lid; e < n * hd; e += wg) {
        int r = e / hd, d = e - r * hd;
        ulong row = r0 + (ulong)r;
        dst[r * (hd + 1) + d] = row < seq ? scale * src[row * (ulong)stride + (ulong)d] : 0.0f;
    }
}

/* Work-group size BQ * T; global size BQ * T * batch * heads * ceil(seq / BQ). Local: lq [BQ,
 * hd+1], lk and lv [BK, hd+1], ls [BQ, BK+1]. */
__kernel void hrm_attn_fwd(__global const float *q, ulong qo, __global const float *k, ulong ko,
                           __global const float *v, ulong vo, __global float *o, ulong oo, __global float *lse,
                           ulong lo, int batch, int seq, int heads, int hd, long qs, long os, float scale, int causal,
                           int T, int BQ, int BK, __local float *lq, __local float *lk, __local float *lv,
                           __local float *ls)
{
    const int lid = (int)get_local_id(0), r = lid / T, t = lid - r * T;
    const ulong tiles = ((ulong)seq + (ulong)BQ - 1) / (ulong)BQ, grp = get_group_id(0);
    const ulong tile = grp % tiles, h = (grp / tiles) % (ulong)heads, b = grp / (tiles * (ulong)heads);
    (void)batch;
    const ulong q0 = tile * (ulong)BQ, i = q0 + (ulong)r; /* this work-item's query */
    const ulong head = b * (ulong)seq * (ulong)qs + h * (ulong)hd;
    const int ld = hd + 1, lds = BK + 1;
    load_rows(lq, q + qo + head, q0, BQ, (ulong)seq, qs, hd, scale);

    float acc[ATTN_ACC];
    for (int u = 0; u < ATTN_ACC; u++) acc[u] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    /* causal: keys past the tile's last query are masked for every query of the tile */
    ulong last_q = min(q0 + (ulong)BQ, (ulong)seq), nkeys = causal ? last_q : (ulong)seq;
    for (ulong j0 = 0; j0 < nkeys; j0 += (ulong)BK) {
        barrier(CLK_LOCAL_MEM_FENCE); /* the previous tile's K, V and scores are no longer read */
        load_rows(lk, k + ko + head, j0, BK, (ulong)seq, qs, hd, 1.0f);
        load_rows(lv, v + vo + head, j0, BK, (ulong)seq, qs, hd, 1.0f);
        barrier(CLK_LOCAL_MEM_FENCE);
        /* scores of keys t, t+T, ... of the tile (-inf: past seq, or masked) */
        for (int c = t; c < BK; c += T) {
            ulong j = j0 + (ulong)c;
            float s = -INFINITY;
            if (j < (ulong)seq && !(causal && j > i)) {
                s = 0.0f;
                for (int d = 0; d < hd; d++) s += lq[r * ld + d] * lk[c * ld + d];
            }
            ls[r * lds + c] = s;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        /* every work-item of the query computes the same max in the same order */
        float mt = m;
        for (int c = 0; c < BK; c++) mt = fmax(mt, ls[r * lds + c]);
        barrier(CLK_LOCAL_MEM_FENCE); /* all maxima read before the scores become probabilities */
        for (int c = t; c < BK; c += T) ls[r * lds + c] = mt == -INFINITY ? 0.0f : exp(ls[r * lds + c] - mt);
        barrier(CLK_LOCAL_MEM_FENCE);
        float corr = mt == -INFINITY ? 1.0f : exp(m - mt), sum = 0.0f;
        for (int u = 0; u < ATTN_ACC; u++) acc[u] *= corr;
        for (int c = 0; c < BK; c++) {
            float p = ls[r * lds + c];
            sum += p;
            for (int u = 0; u < ATTN_ACC; u++) {
                int d = t + u * T;
                if (d < hd) acc[u] += p * lv[c * ld + d];
            }
        }
        l = l * corr + sum;
        m = mt;
    }
    if (i >= (ulong)seq) return;
    __global float *oi = o + oo + (b * (ulong)seq + i) * (ulong)os + h * (ulong)hd;
    for (int u = 0; u < ATTN_ACC; u++) {
        int d = t + u * T;
        if (d < hd) oi[d] = acc[u] / l;
    }
    if (t == 0) lse[lo + (b * (ulong)heads + h) * (ulong)seq + i] = m + log(l);
}

/* dq_i = scale * sum_j P_ij (dP_ij - D_i) k_j, with dP_ij = dO_i . v_j and D_i = dO_i . O_i. */
__kernel void hrm_attn_bwd_q(__global const float *q, ulong qo, __global const float *k, ulong ko,
                             __global const float *v, ulong vo, __global const float *o, ulong oo,
                             __global const float *lse, ulong lo, __global const float *dout, ulong doo,
                             __global float *dq, ulong dqo, int batch, int seq, int heads, int hd, long qs, long os,
                             long ds, float scale, int causal)
{
    ulong w = get_global_id(0);
    if (w >= (ulong)batch * (ulong)heads * (ulong)seq) return;
    ulong i = w % (ulong)seq, h = (w / (ulong)seq) % (ulong)heads, b = w / ((ulong)seq * (ulong)heads);
    __global const float *qi = q + qo + (b * seq + i) * (ulong)qs + h * (ulong)hd;
    __global const float *doi = dout + doo + (b * seq + i) * (ulong)os + h * (ulong)hd;
    __global const float *oi = o + oo + (b * seq + i) * (ulong)os + h * (ulong)hd;
    float Di = dot_g(doi, oi, hd), L = lse[lo + (b * heads + h) * seq + i];
    float acc[HD_MAX];
    for (int d = 0; d < hd; d++) acc[d] = 0.0f;
    ulong nj = causal ? i + 1 : (ulong)seq;
    for (ulong j = 0; j < nj; j++) {
        ulong row = (b * seq + j) * (ulong)qs + h * (ulong)hd;
        __global const float *kj = k + ko + row, *vj = v + vo + row;
        float p = exp(scale * dot_g(qi, kj, hd) - L), ds_ = p * (dot_g(doi, vj, hd) - Di);
        for (int d = 0; d < hd; d++) acc[d] += ds_ * kj[d];
    }
    __global float *dqi = dq + dqo + (b * seq + i) * (ulong)ds + h * (ulong)hd;
    for (int d = 0; d < hd; d++) dqi[d] = scale * acc[d];
}

/* dk_j = scale * sum_i P_ij (dP_ij - D_i) q_i,  dv_j = sum_i P_ij dO_i. */
__kernel void hrm_attn_bwd_kv(__global const float *q, ulong qo, __global const float *k, ulong ko,
                              __global const float *v, ulong vo, __global const float *o, ulong oo,
                              __global const float *lse, ulong lo, __global const float *dout, ulong doo,
                              __global float *dk, ulong dko, __global float *dv, ulong dvo, int batch, int seq,
                              int heads, int hd, long qs, long os, long ds, float scale, int causal)
{
    ulong w = get_global_id(0);
    if (w >= (ulong)batch * (ulong)heads * (ulong)seq) return;
    ulong j = w % (ulong)seq, h = (w / (ulong)seq) % (ulong)heads, b = w / ((ulong)seq * (ulong)heads);
    ulong rowj = (b * seq + j) * (ulong)qs + h * (ulong)hd;
    __global const float *kj = k + ko + rowj, *vj = v + vo + rowj;
    float ak[HD_MAX], av[HD_MAX];
    for (int d = 0; d < hd; d++) ak[d] = av[d] = 0.0f;
    for (ulong i = causal ? j : 0; i < (ulong)seq; i++) {
        __global const float *qi = q + qo + (b * seq + i) * (ulong)qs + h * (ulong)hd;
        __global const float *doi = dout + doo + (b * seq + i) * (ulong)os + h * (ulong)hd;
        __global const float *oi = o + oo + (b * seq + i) * (ulong)os + h * (ulong)hd;
        float p = exp(scale * dot_g(qi, kj, hd) - lse[lo + (b * heads + h) * seq + i]);
        float ds_ = p * (dot_g(doi, vj, hd) - dot_g(doi, oi, hd));
        for (int d = 0; d < hd; d++) {
            ak[d] += ds_ * qi[d];
            av[d] += p * doi[d];
        }
    }
    ulong out = (b * seq + j) * (ulong)ds + h * (ulong)hd;
    for (int d = 0; d < hd; d++) {
        dk[dko + out + d] = scale * ak[d];
        dv[dvo + out + d] = av[d];
    }
}
