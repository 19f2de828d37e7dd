/* loss.cl - per-token cross-entropy (softmax or stablemax) with per-sequence normalisation.
 * Computed in double where the device has cl_khr_fp64 (the host then builds with -DHRM_FP64),
 * as the ABI asks; otherwise in float, with the max subtracted before exp for softmax (stablemax
 * sums of s(x) > 0 in float lose a few ulps against the double reference).
 * First version: one work-item per sequence, as the CPU reference does (parallel over batch
 * only). A label outside [0, vocab) that is not the ignore label is treated as ignored and
 * recorded in the fault buffer (common.cl): the op then fails at the next synchronisation. */
#ifdef HRM_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double acc_t;
#else
typedef float acc_t;
#endif

static int row_argmax(__global const float *x, int n)
{
    int best = 0;
    for (int j = 1; j < n; j++)
        if (x[j] > x[best]) best = j;
    return best;
}

static acc_t smax_s(acc_t x) { return x >= 0 ? x + 1 : 1 / (1 - x); }
static acc_t smax_ds(acc_t x) { return x >= 0 ? (acc_t)1 : 1 / ((1 - x) * (1 - x)); }

static int valid_label(int l, int vocab, int ignore) { return l != ignore && l >= 0 && l < vocab; }

__kernel void hrm_xent_fwd(__global const float *logits, ulong lo, __global const int *labels, ulong lbo,
                           __global float *loss, ulong lso, __global int *count, ulong co, __global int *correct,
                           ulong cro, __global int *preds, ulong po, int batch, int seq_len, int vocab, int kind,
                           int ignore, __global int *fault, int fault_labels)
{
    size_t b = get_global_id(0);
    if (b >= (size_t)batch) return;
    acc_t nll = 0;
    int cnt = 0, good = 0;
    for (int t = 0; t < seq_len; t++) {
        ulong pos = (ulong)b * (ulong)seq_len + (ulong)t;
        __global const float *x = logits + lo + pos * (ulong)vocab;
        int pred = row_argmax(x, vocab), l = labels[lbo + pos];
        if (preds) preds[po + pos] = pred;
        if (!valid_label(l, vocab, ignore)) {
            if (l != ignore) report_bad_id(fault, fault_labels, l, vocab, pos);
            continue;
        }
        cnt++;
        good += pred == l;
        acc_t sum = 0;
        if (kind == 1) {
            for (int j = 0; j < vocab; j++) sum += smax_s((acc_t)x[j]);
            nll += log(sum) - log(smax_s((acc_t)x[l]));
        } else {
            acc_t mx = (acc_t)x[pred];
            for (int j = 0; j < vocab; j++) sum += exp((acc_t)x[j] - mx);
            nll += mx + log(sum) - (acc_t)x[l];
        }
    }
    loss[lso + b] = (float)(nll / (acc_t)(cnt > 1 ? cnt : 1));
    count[co + b] = cnt;
    correct[cro + b] = good;
}

/* One work-item per position: its sequence's valid count is recounted (seq_len reads). */
__kernel void hrm_xent_bwd(__global const float *logits, ulong lo, __global const int *labels, ulong lbo,
                           __global float *dl, ulong dlo, int batch, int seq_len, int vocab, int kind, int ignore,
                           float grad_scale, __global int *fault, int fault_labels)
{
    size_t p = get_global_id(0);
    if (p >= (size_t)batch * (size_t)seq_len) return;
    size_t b = p / (size_t)seq_len;
    ulong row = (ulong)p * (ulong)vocab;
    __global const float *x = logits + lo + row;
    __global float *dx = dl + dlo + row;
    int l = labels[lbo + p];
    if (!valid_label(l, vocab, ignore)) {
        if (l != ignore) report_bad_id(fault, fault_labels, l, vocab, p);
        for (int j = 0; j < vocab; j++) dx[j] = 0.0f;
        return;
    }
    int cnt = 0;
    for (int t = 0; t < seq_len; t++) cnt += valid_label(labels[lbo + (ulong)b * (ulong)seq_len + (ulong)t], vocab, ignore);
    acc_t g = (acc_t)grad_scale / (acc_t)(cnt > 1 ? cnt : 1), sum = 0;
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
