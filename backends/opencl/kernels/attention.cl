/* attention.cl - multi-head scaled-dot-product attention, FIRST VERSION (not yet the tiled
 * local-memory kernel the issue asks for): one work-item per (batch, head, query) for the
 * forward and for dq, one per (batch, head, key) for dk and dv. The forward uses an online
 * softmax and saves lse; the backward recomputes P from lse. Nothing [seq, seq] is stored.
 * head_dim <= 128 (private arrays). */
#define HD_MAX 128

static float dot_g(__global const float *a, __global const float *b, int n)
{
    float s = 0.0f;
    for (int d = 0; d < n; d++) s += a[d] * b[d];
    return s;
}

__kernel void hrm_attn_fwd(__global const float *q, ulong qo, __global const float *k, ulong ko,
                           __global const float *v, ulong vo, __global float *o, ulong oo, __global float *lse,
                           ulong lo, int batch, int seq, int heads, int hd, long qs, long os, float scale, int causal)
{
    ulong w = get_global_id(0);
    if (w >= (ulong)batch * (ulong)heads * (ulong)seq) return;
    ulong i = w % (ulong)seq, h = (w / (ulong)seq) % (ulong)heads, b = w / ((ulong)seq * (ulong)heads);
    __global const float *qi = q + qo + (b * seq + i) * (ulong)qs + h * (ulong)hd;
    float qv[HD_MAX], acc[HD_MAX];
    for (int d = 0; d < hd; d++) {
        qv[d] = qi[d] * scale;
        acc[d] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    ulong nj = causal ? i + 1 : (ulong)seq;
    for (ulong j = 0; j < nj; j++) {
        ulong row = (b * seq + j) * (ulong)qs + h * (ulong)hd;
        __global const float *kj = k + ko + row, *vj = v + vo + row;
        float s = 0.0f;
        for (int d = 0; d < hd; d++) s += qv[d] * kj[d];
        float mn = fmax(m, s), c = exp(m - mn), p = exp(s - mn);
        l = l * c + p;
        for (int d = 0; d < hd; d++) acc[d] = acc[d] * c + p * vj[d];
        m = mn;
    }
    __global float *oi = o + oo + (b * seq + i) * (ulong)os + h * (ulong)hd;
    for (int d = 0; d < hd; d++) oi[d] = acc[d] / l;
    lse[lo + (b * heads + h) * seq + i] = m + log(l);
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
