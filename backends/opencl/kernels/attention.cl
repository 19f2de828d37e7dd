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
 * Backward: the FlashAttention-2 split (Dao, "FlashAttention-2: Faster Attention with Better
 * Parallelism and Work Partitioning", 2023, Algorithm 2 and its section 3.1.2): P is recomputed
 * tile by tile from the saved lse, P_ij = exp(scale q_i.k_j - lse_i), and with
 * D_i = dO_i . O_i (= sum_j P_ij dP_ij), dP_ij = dO_i . v_j, dS_ij = P_ij (dP_ij - D_i):
 *   dq_i = scale sum_j dS_ij k_j,   dk_j = scale sum_i dS_ij q_i,   dv_j = sum_i P_ij dO_i.
 * Three launches, no atomics (OpenCL 1.2 has no float atomics; FlashAttention-2 adds dq with them
 * inside its dk/dv loop), each output element written by one work-item; the price is that the
 * dq pass recomputes the two dot products of every (query, key) pair:
 *   hrm_attn_bwd_dot  D_i for every query; T work-items per row and a tree sum over them.
 *   hrm_attn_bwd_kv   a work-group owns BK keys and walks the query tiles (BQ rows of q and dO,
 *                     their lse and D, in local memory); it accumulates dk and dv in registers.
 *   hrm_attn_bwd_q    a work-group owns BQ queries (q and dO in local memory) and walks the key
 *                     tiles (BK rows of k and v); it accumulates dq in registers.
 * D travels from hrm_attn_bwd_dot to the other two in dq's first column (dq[i, 0] of each head):
 * dq is an output of the op, so it is ours to write, and a scratch buffer would be an allocation
 * inside the training step (the core checks that a step allocates nothing). hrm_attn_bwd_kv runs
 * before hrm_attn_bwd_q, and each work-group of hrm_attn_bwd_q reads the D of its own queries into
 * local memory before it writes their dq rows; no other work-group reads them.
 * Work-items are split as in the forward: T per row, each holding ATTN_ACC values of head_dim for
 * each accumulator (dq: ATTN_ACC floats; dk and dv: 2 ATTN_ACC), and each computing the dot
 * products of the columns t, t+T, ... of the tile from local memory, ATTN_COLS of them at a time
 * (pair_dots). Tile sizes come from the host (ocl_ops.c: the kernel's work-group size, the
 * device's local memory); the results do not depend on them, since every sum runs in the same
 * order whatever the tiling. head_dim <= 128. */
#define ATTN_ACC 8  /* head_dim values per work-item in the forward: T * ATTN_ACC >= head_dim */
#define ATTN_COLS 4 /* backward: the columns of a tile whose scores a work-item computes together */

/* A work-item's walk over a row-major [n, hd] tile in steps of the work-group size wg: it starts
 * at element lid = (r0, d0) and each step adds (dr, dd) = (wg / hd, wg % hd), carrying a column
 * past hd into the row. Computed once per kernel, so that the tile loads divide nothing per
 * element (a division is tens of instructions on GPUs: elementwise.cl). */
typedef struct tile_walk {
    int r0, d0, dr, dd;
} tile_walk;

static tile_walk walk_of(int hd) {
    const int lid = (int)get_local_id(0), wg = (int)get_local_size(0);
    tile_walk w;
    w.r0 = lid / hd, w.d0 = lid - w.r0 * hd;
    w.dr = wg / hd, w.dd = wg - w.dr * hd;
    return w;
}

/* Copies rows [r0, r0 + n) (of `seq`; rows past it read zeros) of one head's [seq, hd] slice,
 * rows `stride` apart, into local rows hd + 1 apart, scaled; the whole work-group takes part,
 * element e = r * hd + d by work-item e % wg (walk from walk_of(hd)). */
static void load_rows(__local float *dst, __global const float *src, ulong r0, int n, ulong seq, long stride, int hd,
                      float scale, tile_walk w) {
    for (int r = w.r0, d = w.d0; r < n;) {
        ulong row = r0 + (ulong)r;
        dst[r * (hd + 1) + d] = row < seq ? scale * src[row * (ulong)stride + (ulong)d] : 0.0f;
        r += w.dr, d += w.dd;
        if (d >= hd) d -= hd, r++;
    }
}

/* Work-group size (BQ * T, 1, 1); global size (BQ * T * ceil(seq / BQ), heads, batch). Local: lq
 * [BQ, hd+1], lk and lv [BK, hd+1], ls [BQ, BK+1]. */
__kernel void hrm_attn_fwd(__global const float *q, ulong qo, __global const float *k, ulong ko,
                           __global const float *v, ulong vo, __global float *o, ulong oo, __global float *lse,
                           ulong lo, int batch, int seq, int heads, int hd, long qs, long os, float scale, int causal,
                           int T, int BQ, int BK, __local float *lq, __local float *lk, __local float *lv,
                           __local float *ls) {
    const int lid = (int)get_local_id(0), r = lid / T, t = lid - r * T;
    /* the work-group's tile, head and sequence come from the range's dimensions: no division */
    const ulong tile = get_group_id(0), h = get_global_id(1), b = get_global_id(2);
    const tile_walk walk = walk_of(hd);
    (void)batch;
    const ulong q0 = tile * (ulong)BQ, i = q0 + (ulong)r; /* this work-item's query */
    const ulong head = b * (ulong)seq * (ulong)qs + h * (ulong)hd;
    const int ld = hd + 1, lds = BK + 1;
    load_rows(lq, q + qo + head, q0, BQ, (ulong)seq, qs, hd, scale, walk);

    float acc[ATTN_ACC];
    for (int u = 0; u < ATTN_ACC; u++) acc[u] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    /* causal: keys past the tile's last query are masked for every query of the tile */
    ulong last_q = min(q0 + (ulong)BQ, (ulong)seq), nkeys = causal ? last_q : (ulong)seq;
    for (ulong j0 = 0; j0 < nkeys; j0 += (ulong)BK) {
        barrier(CLK_LOCAL_MEM_FENCE); /* the previous tile's K, V and scores are no longer read */
        load_rows(lk, k + ko + head, j0, BK, (ulong)seq, qs, hd, 1.0f, walk);
        load_rows(lv, v + vo + head, j0, BK, (ulong)seq, qs, hd, 1.0f, walk);
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

/* ---- backward ------------------------------------------------------------------------------- */

/* Where (batch b, head h) starts in a [batch, seq, heads, hd] tensor with row stride rs. */
static ulong head_at(ulong b, ulong h, int seq, long rs, int hd) { return b * (ulong)seq * (ulong)rs + h * (ulong)hd; }

/* D_i = dO_i . O_i, written to dq[i, 0] of each head (see above). Range (T, heads, rows), rows =
 * batch * seq: get_global_id gives the work-item's share t of the row, the head h and the token
 * row bi (no division: elementwise.cl); T is a power of two and the whole of dimension 0, so the T
 * work-items of a row are adjacent in the work-group. Neighbouring heads of a row are neighbours in
 * memory and in the work-group. Local: red [work-group size]. */
__kernel void hrm_attn_bwd_dot(__global const float *o, ulong oo, __global const float *dout, ulong doo,
                               __global float *dq, ulong dqo, ulong rows, int heads, int hd, long os, long ds,
                               __local float *red) {
    const int t = (int)get_local_id(0), T = (int)get_local_size(0);
    const int lid = t + T * (int)(get_local_id(1) + get_local_size(1) * get_local_id(2));
    const ulong h = get_global_id(1), bi = get_global_id(2);
    const int live = h < (ulong)heads && bi < rows;
    float part = 0.0f;
    if (live) {
        __global const float *oi = o + oo + bi * (ulong)os + h * (ulong)hd;
        __global const float *doi = dout + doo + bi * (ulong)os + h * (ulong)hd;
        for (int d = t; d < hd; d += T) part += doi[d] * oi[d];
    }
    red[lid] = part;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = T / 2; s > 0; s >>= 1) { /* the T items of a row are adjacent: lid - t .. lid - t + T */
        if (t < s) red[lid] += red[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (t == 0 && live) dq[dqo + bi * (ulong)ds + h * (ulong)hd] = red[lid];
}

/* s[n] = x_r . y_c and dp[n] = u_r . w_c for the columns c = c0 + n T < ncols (n < ATTN_COLS) of
 * a tile; x, u, y, w are local tiles with rows hd + 1 apart. The row's values are loaded once for
 * up to ATTN_COLS columns (a 1 x ATTN_COLS register tile): fewer local loads per multiply-add. The
 * loops over n have a constant bound so that s4, dp4 and at stay in registers; the columns past
 * the tile are skipped by a test that is the same for every d. */
static void pair_dots(__local const float *x, __local const float *u, int r, __local const float *y,
                      __local const float *w, int c0, int T, int ncols, int hd, float *s, float *dp) {
    const int ld = hd + 1, hd4 = hd & ~3, live = min(ATTN_COLS, (ncols - c0 + T - 1) / T);
    __local const float *xr = x + r * ld, *ur = u + r * ld;
    int at[ATTN_COLS];
    float4 s4[ATTN_COLS], dp4[ATTN_COLS];
    for (int n = 0; n < ATTN_COLS; n++) {
        at[n] = (c0 + n * T) * ld;
        s4[n] = dp4[n] = (float4)(0.0f);
    }
    for (int d = 0; d < hd4; d += 4) { /* float4: 4-wide products on CPUs, plain loads on GPUs */
        float4 xd = vload4(0, xr + d), ud = vload4(0, ur + d);
        for (int n = 0; n < ATTN_COLS; n++) {
            if (n >= live) break;
            s4[n] += xd * vload4(0, y + at[n] + d);
            dp4[n] += ud * vload4(0, w + at[n] + d);
        }
    }
    for (int n = 0; n < ATTN_COLS; n++) {
        if (n >= live) break;
        s[n] = (s4[n].x + s4[n].y) + (s4[n].z + s4[n].w);
        dp[n] = (dp4[n].x + dp4[n].y) + (dp4[n].z + dp4[n].w);
        for (int d = hd4; d < hd; d++) {
            s[n] += xr[d] * y[at[n] + d];
            dp[n] += ur[d] * w[at[n] + d];
        }
    }
}

/* lse and D of rows [r0, r0 + n) of one head into lrow[0, n) and lrow[n, 2n) (zeros past seq);
 * the whole work-group takes part. */
static void load_lse_d(__local float *lrow, __global const float *lse, __global const float *dcol, ulong r0, int n,
                       ulong seq, long ds) {
    for (int c = (int)get_local_id(0); c < n; c += (int)get_local_size(0)) {
        ulong row = r0 + (ulong)c;
        lrow[c] = row < seq ? lse[row] : 0.0f;
        lrow[n + c] = row < seq ? dcol[row * (ulong)ds] : 0.0f;
    }
}

/* dk and dv of BK keys per work-group. Work-group size (BK * T, 1, 1); global size (BK * T *
 * ceil(seq / BK), heads, batch). Local: lk, lv [BK, hd+1] (this group's keys), lq (scale * q), ldo
 * [BQ, hd+1] (the current query tile), lp, ldS [BK, BQ+1] (P and dS of the tile, a row per key),
 * lrow [2 BQ] (lse and D of the tile's queries). */
__kernel void hrm_attn_bwd_kv(__global const float *q, ulong qo, __global const float *k, ulong ko,
                              __global const float *v, ulong vo, __global const float *lse, ulong lo,
                              __global const float *dout, ulong doo, __global const float *dcol, ulong dco,
                              __global float *dk, ulong dko, __global float *dv, ulong dvo, int seq, int heads, int hd,
                              long qs, long os, long ds, float scale, int causal, int T, int BK, int BQ,
                              __local float *lk, __local float *lv, __local float *lq, __local float *ldo,
                              __local float *lp, __local float *ldS, __local float *lrow) {
    const int lid = (int)get_local_id(0), r = lid / T, t = lid - r * T;
    /* the work-group's tile, head and sequence come from the range's dimensions: no division */
    const ulong tile = get_group_id(0), h = get_global_id(1), b = get_global_id(2);
    const tile_walk walk = walk_of(hd);
    const ulong j0 = tile * (ulong)BK, j = j0 + (ulong)r; /* this work-item's key */
    const ulong hq = head_at(b, h, seq, qs, hd), ho = head_at(b, h, seq, os, hd), hdq = head_at(b, h, seq, ds, hd);
    const int ld = hd + 1, lpd = BQ + 1;
    __global const float *lse_h = lse + lo + (b * (ulong)heads + h) * (ulong)seq;
    load_rows(lk, k + ko + hq, j0, BK, (ulong)seq, qs, hd, 1.0f, walk);
    load_rows(lv, v + vo + hq, j0, BK, (ulong)seq, qs, hd, 1.0f, walk);

    float ak[ATTN_ACC], av[ATTN_ACC];
    for (int u = 0; u < ATTN_ACC; u++) ak[u] = av[u] = 0.0f;
    /* causal: queries before the tile's first key see none of its keys */
    for (ulong i0 = causal ? j0 : 0; i0 < (ulong)seq; i0 += (ulong)BQ) {
        barrier(CLK_LOCAL_MEM_FENCE); /* the previous query tile is no longer read */
        load_rows(lq, q + qo + hq, i0, BQ, (ulong)seq, qs, hd, scale, walk);
        load_rows(ldo, dout + doo + ho, i0, BQ, (ulong)seq, os, hd, 1.0f, walk);
        load_lse_d(lrow, lse_h, dcol + dco + hdq, i0, BQ, (ulong)seq, ds);
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int c0 = t; c0 < BQ; c0 += ATTN_COLS * T) {
            float s[ATTN_COLS], dp[ATTN_COLS];
            pair_dots(lk, lv, r, lq, ldo, c0, T, BQ, hd, s, dp);
            for (int n = 0; n < ATTN_COLS; n++) {
                int c = c0 + n * T;
                ulong i = i0 + (ulong)c;
                if (c >= BQ) break;
                float p = i < (ulong)seq && j < (ulong)seq && !(causal && j > i) ? exp(s[n] - lrow[c]) : 0.0f;
                lp[r * lpd + c] = p;
                ldS[r * lpd + c] = p * (dp[n] - lrow[BQ + c]);
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int c = 0; c < BQ; c++) {
            float p = lp[r * lpd + c], dsv = ldS[r * lpd + c];
            for (int u = 0; u < ATTN_ACC; u++) {
                int d = t + u * T;
                if (d < hd) {
                    av[u] += p * ldo[c * ld + d];
                    ak[u] += dsv * lq[c * ld + d]; /* lq holds scale * q: dk's factor scale is in it */
                }
            }
        }
    }
    if (j >= (ulong)seq) return;
    ulong out = hdq + j * (ulong)ds;
    for (int u = 0; u < ATTN_ACC; u++) {
        int d = t + u * T;
        if (d < hd) {
            dk[dko + out + (ulong)d] = ak[u];
            dv[dvo + out + (ulong)d] = av[u];
        }
    }
}

/* dq of BQ queries per work-group; D is read from dq's first column before dq is written. Work-group
 * size (BQ * T, 1, 1); global size (BQ * T * ceil(seq / BQ), heads, batch). Local: lq (scale * q), ldo
 * [BQ, hd+1] (this group's queries), lk, lv [BK, hd+1] (the current key tile), ls [BQ, BK+1] (dS of
 * the tile), lrow [2 BQ] (lse and D of this group's queries). */
__kernel void hrm_attn_bwd_q(__global const float *q, ulong qo, __global const float *k, ulong ko,
                             __global const float *v, ulong vo, __global const float *lse, ulong lo,
                             __global const float *dout, ulong doo, __global float *dq, ulong dqo, int seq, int heads,
                             int hd, long qs, long os, long ds, float scale, int causal, int T, int BQ, int BK,
                             __local float *lq, __local float *ldo, __local float *lk, __local float *lv,
                             __local float *ls, __local float *lrow) {
    const int lid = (int)get_local_id(0), r = lid / T, t = lid - r * T;
    /* the work-group's tile, head and sequence come from the range's dimensions: no division */
    const ulong tile = get_group_id(0), h = get_global_id(1), b = get_global_id(2);
    const tile_walk walk = walk_of(hd);
    const ulong q0 = tile * (ulong)BQ, i = q0 + (ulong)r; /* this work-item's query */
    const ulong hq = head_at(b, h, seq, qs, hd), ho = head_at(b, h, seq, os, hd), hdq = head_at(b, h, seq, ds, hd);
    const int ld = hd + 1, lds = BK + 1;
    load_rows(lq, q + qo + hq, q0, BQ, (ulong)seq, qs, hd, scale, walk);
    load_rows(ldo, dout + doo + ho, q0, BQ, (ulong)seq, os, hd, 1.0f, walk);
    load_lse_d(lrow, lse + lo + (b * (ulong)heads + h) * (ulong)seq, dq + dqo + hdq, q0, BQ, (ulong)seq, ds);
    /* D is read before any dq row of this group is written: a global fence too, since D lives in dq */
    barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
    const float L = lrow[r], D = lrow[BQ + r];

    float acc[ATTN_ACC];
    for (int u = 0; u < ATTN_ACC; u++) acc[u] = 0.0f;
    ulong last_q = min(q0 + (ulong)BQ, (ulong)seq), nkeys = causal ? last_q : (ulong)seq;
    for (ulong j0 = 0; j0 < nkeys; j0 += (ulong)BK) {
        barrier(CLK_LOCAL_MEM_FENCE); /* the previous key tile and its dS are no longer read */
        load_rows(lk, k + ko + hq, j0, BK, (ulong)seq, qs, hd, 1.0f, walk);
        load_rows(lv, v + vo + hq, j0, BK, (ulong)seq, qs, hd, 1.0f, walk);
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int c0 = t; c0 < BK; c0 += ATTN_COLS * T) {
            float s[ATTN_COLS], dp[ATTN_COLS];
            pair_dots(lq, ldo, r, lk, lv, c0, T, BK, hd, s, dp);
            for (int n = 0; n < ATTN_COLS; n++) {
                int c = c0 + n * T;
                ulong j = j0 + (ulong)c;
                if (c >= BK) break;
                ls[r * lds + c] =
                    i < (ulong)seq && j < (ulong)seq && !(causal && j > i) ? exp(s[n] - L) * (dp[n] - D) : 0.0f;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int c = 0; c < BK; c++) {
            float dsv = ls[r * lds + c];
            for (int u = 0; u < ATTN_ACC; u++) {
                int d = t + u * T;
                if (d < hd) acc[u] += dsv * lk[c * ld + d];
            }
        }
    }
    if (i >= (ulong)seq) return;
    __global float *dqi = dq + dqo + hdq + i * (ulong)ds;
    for (int u = 0; u < ATTN_ACC; u++) {
        int d = t + u * T;
        if (d < hd) dqi[d] = scale * acc[u];
    }
}
