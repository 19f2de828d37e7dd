/* common.cl - helpers shared by every kernel file. OpenCL C 1.2, fp32, no extension required.
 * Tensors arrive as a __global pointer plus an element offset (ulong): the ABI's hrm_ptr. Work-group
 * sizes are chosen by the host from device queries; a kernel that reduces over a row takes its
 * local scratch as a __local argument sized by the host, and assumes only that the local size is
 * a power of two. */

/* Sum of v over the work-group, through scratch[get_local_size(0)]; every item gets the total. */
static float group_sum(float v, __local float *scratch) {
    const size_t lid = get_local_id(0), n = get_local_size(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t s = n / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float total = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE); /* scratch may be reused right after */
    return total;
}

/* Ids and labels stay on the device (no host round trip inside a segment), so a kernel that meets
 * one outside its table records it here instead of returning an error: fault[0] = the op's code
 * (chosen by the host), fault[1] = the id, fault[2] = the table size, fault[3..4] = the id's
 * position (low, high 32 bits). Only the first fault is kept. The host reads the record at the
 * next synchronisation point (ocl_backend.c) and reports HRM_ERR_INVALID_ARG there. */
static void report_bad_id(__global int *fault, int code, int id, int limit, ulong pos) {
    if (atomic_cmpxchg(fault, 0, code) != 0) return;
    fault[1] = id;
    fault[2] = limit;
    fault[3] = (int)(uint)(pos & 0xffffffffu);
    fault[4] = (int)(uint)(pos >> 32);
}
