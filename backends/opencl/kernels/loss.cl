/* loss.cl - per-token cross-entropy (softmax or stablemax) with per-sequence normalisation.
 *
 * Precision: the ABI computes both kinds in double. Where the device has cl_khr_fp64 the host
 * builds with -DHRM_FP64 and acc_t is double: every exp, log, sum and the per-sequence total run
 * in double, as on the CPU backend. Without fp64, acc_t is float (no extension is required), with
 * the row maximum subtracted before exp for softmax; against the double reference the loss and
 * gradient then differ by a few float ulps (relative 1e-7; nmse about 1e-14, inside the
 * conformance suite's 1e-10), and the per-sequence sum of up to seq_len terms is a tree sum, whose
 * error grows with log(seq_len) rather than seq_len.
 *
 * Layout of the work: one work-group per sequence, its work-items taking positions t, t+L, ...
 * (L the work-group size, a power of two). A work-item does one position's whole vocabulary row
 * (argmax, log-sum-exp, or the gradient row): HRM's vocabularies are small (11 for Sudoku, 256 at
 * most), so a row is a short serial loop, while the positions (81 to 900) fill the work-group.
 * The forward sums the negative log-likelihoods, valid counts and correct counts over the group
 * in local memory (one tree: no atomics, and the same result run to run); the backward counts the
 * sequence's valid positions the same way once, instead of every position recounting them.
 * A label outside [0, vocab) that is not the ignore label is treated as ignored and recorded in
 * the fault buffer (common.cl): the op then fails at the next synchronisation. */
#ifdef HRM_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double acc_t;
#else
typedef float acc_t;
#endif

static int row_argmax(__global const float *x, int n) {
    int best = 0;
    for (int j = 1; j < n; j++)
        if (x[j] > x[best]) best = j;
    return best;
}

static acc_t smax_s(acc_t x) { return x >= 0 ? x + 1 : 1 / (1 - x); }
static acc_t smax_ds(acc_t x) { return x >= 0 ? (acc_t)1 : 1 / ((1 - x) * (1 - x)); }

static int valid_label(int l, int vocab, int ignore) { return l != ignore && l >= 0 && l < vocab; }

/* -log p(l) of one row x[0, vocab) whose argmax is pred. */
static acc_t token_nll(__global const float *x, int vocab, int l, int pred, int kind) {
    acc_t sum = 0;
    if (kind == 1) {
        for (int j = 0; j < vocab; j++) sum += smax_s((acc_t)x[j]);
        return log(sum) - log(smax_s((acc_t)x[l]));
    }
    acc_t mx = (acc_t)x[pred];
    for (int j = 0; j < vocab; j++) sum += exp((acc_t)x[j] - mx);
    return mx + log(sum) - (acc_t)x[l];
}

/* Sum of v over the work-group (a power of two), through scratch[L]; every work-item gets it. */
static int group_sum_int(int v, __local int *scratch) {
    const int lid = (int)get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = (int)get_local_size(0) / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return scratch[0];
}

/* One work-group per sequence (global size batch * L). Local: lacc [L] acc_t, lcnt [L] long. The
 * valid and correct counts travel packed in one long (correct << 32 | valid; both <= seq_len), so
 * that one tree of log2(L) steps sums all three. */
__kernel void hrm_xent_fwd(__global const float *logits, ulong lo, __global const int *labels, ulong lbo,
                           __global float *loss, ulong lso, __global int *count, ulong co, __global int *correct,
                           ulong cro, __global int *preds, ulong po, int seq_len, int vocab, int kind, int ignore,
                           __global int *fault, int fault_labels, __local acc_t *lacc, __local long *lcnt) {
    const ulong b = get_group_id(0);
    const int lid = (int)get_local_id(0);
    acc_t nll = 0;
    long counts = 0;
    for (int t = lid; t < seq_len; t += (int)get_local_size(0)) {
        ulong pos = b * (ulong)seq_len + (ulong)t;
        __global const float *x = logits + lo + pos * (ulong)vocab;
        int pred = row_argmax(x, vocab), l = labels[lbo + pos];
        if (preds) preds[po + pos] = pred;
        if (!valid_label(l, vocab, ignore)) {
            if (l != ignore) report_bad_id(fault, fault_labels, l, vocab, pos);
            continue;
        }
        counts += 1 + ((long)(pred == l) << 32);
        nll += token_nll(x, vocab, l, pred, kind);
    }
    lacc[lid] = nll;
    lcnt[lid] = counts;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = (int)get_local_size(0) / 2; s > 0; s >>= 1) {
        if (lid < s) {
            lacc[lid] += lacc[lid + s];
            lcnt[lid] += lcnt[lid + s];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid != 0) return;
    int cnt = (int)(lcnt[0] & 0xffffffffL);
    loss[lso + b] = (float)(lacc[0] / (acc_t)(cnt > 1 ? cnt : 1));
    count[co + b] = cnt;
    correct[cro + b] = (int)(lcnt[0] >> 32);
}

/* One work-group per sequence (global size batch * L): the valid count, then each work-item's
 * gradient rows. Local: lint [L] int. */
__kernel void hrm_xent_bwd(__global const float *logits, ulong lo, __global const int *labels, ulong lbo,
                           __global float *dl, ulong dlo, int seq_len, int vocab, int kind, int ignore,
                           float grad_scale, __global int *fault, int fault_labels, __local int *lint) {
    const ulong b = get_group_id(0), first = b * (ulong)seq_len;
    const int lid = (int)get_local_id(0), L = (int)get_local_size(0);
    int cnt = 0;
    for (int t = lid; t < seq_len; t += L) cnt += valid_label(labels[lbo + first + (ulong)t], vocab, ignore);
    cnt = group_sum_int(cnt, lint);
    const acc_t g = (acc_t)grad_scale / (acc_t)(cnt > 1 ? cnt : 1);
    for (int t = lid; t < seq_len; t += L) {
        ulong p = first + (ulong)t, row = p * (ulong)vocab;
        __global const float *x = logits + lo + row;
        __global float *dx = dl + dlo + row;
        int l = labels[lbo + p];
        if (!valid_label(l, vocab, ignore)) {
            if (l != ignore) report_bad_id(fault, fault_labels, l, vocab, p);
            for (int j = 0; j < vocab; j++) dx[j] = 0.0f;
            continue;
        }
        acc_t sum = 0;
        if (kind == 1) {
            for (int j = 0; j < vocab; j++) sum += smax_s((acc_t)x[j]);
            for (int j = 0; j < vocab; j++) dx[j] = (float)(g * smax_ds((acc_t)x[j]) / sum);
            acc_t xl = (acc_t)x[l];
            dx[l] = (float)(g * (smax_ds(xl) / sum - smax_ds(xl) / smax_s(xl)));
        } else {
            acc_t mx = (acc_t)x[row_argmax(x, vocab)];
            for (int j = 0; j < vocab; j++) sum += exp((acc_t)x[j] - mx);
            for (int j = 0; j < vocab; j++) dx[j] = (float)(g * exp((acc_t)x[j] - mx) / sum);
            dx[l] = (float)(g * (exp((acc_t)x[l] - mx) / sum - 1));
        }
    }
}
