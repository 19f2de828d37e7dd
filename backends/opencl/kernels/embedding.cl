/* embedding.cl - the input embedding gather (puzzle prefix rows + token rows + optional positions,
 * scaled) and its backward. Ids are not read back to the host: an id outside its table's range
 * reads a zero row, gets no gradient, and is recorded in the fault buffer (common.cl).
 *
 * The token-table gradient is a scatter-add where many positions share a token. OpenCL 1.2 has
 * no float atomics, and atomics would make the sums depend on timing; instead each work-item owns
 * one element (v, i) of d_token_table and adds scale * d_out[position, i] over the positions that
 * hold token v, in position order, starting from the table's value: the same additions in the
 * same order as the CPU backend (the results agree to the rounding of a fused multiply-add at
 * most), and the same result run to run. A work-group shares one vocabulary row v and a run of L
 * columns; it walks the tokens in chunks of L, each work-item reading one, and lists the chunk's
 * positions holding v in local memory by a prefix sum over the group, so that the work-items loop
 * over the matches only. Cost: every group reads all batch * seq_len tokens once, so the token
 * reads and the prefix-sum steps (2 log2(L) barriers per chunk) grow with vocab * dim / L *
 * batch * seq_len, while the additions and the d_out reads (contiguous across the group) are the
 * scatter's own batch * seq_len * dim. HRM's vocabularies are small (11 for Sudoku, 256 at most),
 * which keeps the first term below the second. vocab * ceil(dim / L) work-groups run at once
 * where one work-item per column had only dim work-items, each walking every position. */

/* Range (dim, S, batch), S = prefix + seq_len: get_global_id gives the column i, the row s of the
 * sequence and the sequence b (no index division: elementwise.cl). */
__kernel void hrm_embedding_fwd(__global const int *tokens, ulong to, __global const int *pids, ulong po,
                                __global const float *ttab, ulong tto, __global const float *ptab, ulong pto,
                                __global const float *pos, ulong poso, __global float *out, ulong oo, int seq_len,
                                int prefix, int dim, int vocab, int num_pids, int width, float scale, int batch,
                                __global int *fault, int fault_tokens, int fault_pids) {
    const size_t i = get_global_id(0), s = get_global_id(1), b = get_global_id(2);
    const ulong S = (ulong)prefix + (ulong)seq_len;
    if (i >= (size_t)dim || s >= S || b >= (size_t)batch) return;
    float e = 0.0f;
    if (s < (ulong)prefix) {
        ulong j = s * (ulong)dim + i;
        int pid = pids[po + b];
        if (pid < 0 || pid >= num_pids) {
            if (s == 0 && i == 0) report_bad_id(fault, fault_pids, pid, num_pids, b);
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
    out[oo + (b * S + s) * (ulong)dim + i] = scale * e;
}

/* Work-group of L work-items (a power of two) on columns [group(0) * L, +L) of vocabulary row
 * v = global id 1; global size (ceil(dim / L) * L, vocab). Local: lscan, lidx [L] int. The groups of
 * row 0 and the first columns report the bad tokens, once each. The d_out row of a position is
 * found by the work-item that reads its token and listed in lidx, so the additions divide nothing;
 * that work-item keeps its position's sequence b and place s up to date as it steps by L (two
 * divisions before the loop, none inside: elementwise.cl). The host keeps batch * (prefix +
 * seq_len), the rows of d_out, within an int (ocl_ops.c). */
__kernel void hrm_embedding_bwd_tokens(__global const int *tokens, ulong to, __global const float *dout, ulong doo,
                                       __global float *dtab, ulong dto, int batch, int seq_len, int prefix, int dim,
                                       int vocab, float scale, __global int *fault, int fault_tokens,
                                       __local int *lscan, __local int *lidx) {
    const int lid = (int)get_local_id(0), L = (int)get_local_size(0), v = (int)get_global_id(1);
    const ulong i = get_global_id(0), n = (ulong)batch * (ulong)seq_len, S = (ulong)prefix + (ulong)seq_len;
    const int reporter = v == 0 && get_group_id(0) == 0;
    const uint sl = (uint)seq_len, Lb = (uint)L / sl, Ls = (uint)L - Lb * sl;
    uint b = (uint)lid / sl, s = (uint)lid - b * sl; /* of position t0 + lid */
    float acc = i < (ulong)dim ? dtab[dto + (ulong)v * (ulong)dim + i] : 0.0f;
    for (ulong t0 = 0; t0 < n; t0 += (ulong)L) {
        ulong t = t0 + (ulong)lid;
        int row = (int)((ulong)b * S + (ulong)prefix + (ulong)s);
        s += Ls, b += Lb;
        if (s >= sl) s -= sl, b++;
        int tok = t < n ? tokens[to + t] : -1;
        if (t < n && (tok < 0 || tok >= vocab) && reporter) report_bad_id(fault, fault_tokens, tok, vocab, t);
        int match = tok == v;
        /* the chunk's positions holding token v, in order: an inclusive prefix sum of the matches
         * (Hillis-Steele) gives each match its slot in lidx, where it puts its d_out row */
        barrier(CLK_LOCAL_MEM_FENCE); /* the previous chunk's lidx is no longer read */
        lscan[lid] = match;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int off = 1; off < L; off <<= 1) {
            int add = lid >= off ? lscan[lid - off] : 0;
            barrier(CLK_LOCAL_MEM_FENCE);
            lscan[lid] += add;
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        if (match) lidx[lscan[lid] - 1] = row;
        barrier(CLK_LOCAL_MEM_FENCE);
        int found = lscan[L - 1];
        if (i >= (ulong)dim) continue;
        for (int m = 0; m < found; m++) acc += scale * dout[doo + (ulong)lidx[m] * (ulong)dim + i];
    }
    if (i < (ulong)dim) dtab[dto + (ulong)v * (ulong)dim + i] = acc;
}

/* One work-item per element of d_pos [S, dim]. */
__kernel void hrm_embedding_bwd_pos(__global const float *dout, ulong doo, __global float *dpos, ulong dpo, int batch,
                                    ulong sd, float scale) {
    ulong g = get_global_id(0);
    if (g >= sd) return;
    float acc = 0.0f;
    for (ulong b = 0; b < (ulong)batch; b++) acc += dout[doo + b * sd + g];
    dpos[dpo + g] += scale * acc;
}

/* One work-item per element of d_puzzle_rows [batch, width]: range (width, batch). */
__kernel void hrm_embedding_bwd_puzzle(__global const float *dout, ulong doo, __global float *dp, ulong dpo, int width,
                                       ulong row_elems, float scale, int batch) {
    const size_t j = get_global_id(0), b = get_global_id(1);
    if (j >= (size_t)width || b >= (size_t)batch) return;
    dp[dpo + b * (ulong)width + j] = scale * dout[doo + b * row_elems + j];
}
