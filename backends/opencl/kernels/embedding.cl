/* embedding.cl - the input embedding gather (puzzle prefix rows + token rows + optional positions,
 * scaled) and its backward. Ids are not read back to the host: an id outside its table's range
 * reads a zero row, gets no gradient, and is recorded in the fault buffer (common.cl). The
 * token-table gradient gives each work-item one column and walks every position in order, so
 * repeated tokens accumulate without atomics and the result is deterministic. */

__kernel void hrm_embedding_fwd(__global const int *tokens, ulong to, __global const int *pids, ulong po,
                                __global const float *ttab, ulong tto, __global const float *ptab, ulong pto,
                                __global const float *pos, ulong poso, __global float *out, ulong oo, int seq_len,
                                int prefix, int dim, int vocab, int num_pids, int width, float scale, ulong n,
                                __global int *fault, int fault_tokens, int fault_pids)
{
    ulong g = get_global_id(0);
    if (g >= n) return;
    ulong S = (ulong)prefix + (ulong)seq_len;
    ulong i = g % (ulong)dim, s = (g / (ulong)dim) % S, b = g / ((ulong)dim * S);
    float e = 0.0f;
    if (s < (ulong)prefix) {
        ulong j = s * (ulong)dim + i;
        int pid = pids[po + b];
        if (pid < 0 || pid >= num_pids) {
            if (g % (S * (ulong)dim) == 0) report_bad_id(fault, fault_pids, pid, num_pids, b);
        } else if (j < (ulong)width) {
            e = ptab[pto + (ulong)pid * (ulong)width + j];
        }
    } else {
        ulong t = b * (ulong)seq_len + (s - (ulong)prefix);
        int tok = tokens[to + t];
        if (tok >= 0 && tok < vocab)
            e = ttab[tto + (ulong)tok * (ulong)dim + i];
        else if (i == 0)
            report_bad_id(fault, fault_tokens, tok, vocab, t);
    }
    if (pos) e += pos[poso + s * (ulong)dim + i];
    out[oo + g] = scale * e;
}

/* One work-item per column of the token table. */
__kernel void hrm_embedding_bwd_tokens(__global const int *tokens, ulong to, __global const float *dout, ulong doo,
                                       __global float *dtab, ulong dto, int batch, int seq_len, int prefix, int dim,
                                       int vocab, float scale, __global int *fault, int fault_tokens)
{
    size_t i = get_global_id(0);
    if (i >= (size_t)dim) return;
    ulong S = (ulong)prefix + (ulong)seq_len;
    for (ulong b = 0; b < (ulong)batch; b++)
        for (ulong t = 0; t < (ulong)seq_len; t++) {
            int tok = tokens[to + b * (ulong)seq_len + t];
            if (tok < 0 || tok >= vocab) {
                if (i == 0) report_bad_id(fault, fault_tokens, tok, vocab, b * (ulong)seq_len + t);
                continue;
            }
            dtab[dto + (ulong)tok * (ulong)dim + i] += scale * dout[doo + (b * S + (ulong)prefix + t) * (ulong)dim + i];
        }
}

/* One work-item per element of d_pos [S, dim]. */
__kernel void hrm_embedding_bwd_pos(__global const float *dout, ulong doo, __global float *dpos, ulong dpo, int batch,
                                    ulong sd, float scale)
{
    ulong g = get_global_id(0);
    if (g >= sd) return;
    float acc = 0.0f;
    for (ulong b = 0; b < (ulong)batch; b++) acc += dout[doo + b * sd + g];
    dpos[dpo + g] += scale * acc;
}

/* One work-item per element of d_puzzle_rows [batch, width]. */
__kernel void hrm_embedding_bwd_puzzle(__global const float *dout, ulong doo, __global float *dp, ulong dpo, int width,
                                       ulong row_elems, float scale, ulong n)
{
    ulong g = get_global_id(0);
    if (g >= n) return;
    ulong b = g / (ulong)width, j = g % (ulong)width;
    dp[dpo + g] = scale * dout[doo + b * row_elems + j];
}
