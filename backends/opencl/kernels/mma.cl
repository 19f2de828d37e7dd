/* mma.cl - strided-batched GEMM C = alpha * op(A) op(B) + beta * C (row-major, the ABI's matmul)
 * with A's and B's elements rounded to tf32 ("high") or bf16 ("medium") and fp32 accumulation,
 * computed as warp-level m16n8k8 (tf32) or m16n8k16 (bf16) fragment products. Its own program
 * (ocl_mma.c builds it apart from the other kernels), so a build failure here only takes the
 * reduced precisions away.
 *
 * Everything but the matrix instruction is shared by every device: tiles, staging through local
 * memory, the rounding, the per-lane fragment loads, ragged edges and batching (the PTX variant
 * may also round with NVIDIA's cvt instructions, HRM_MMA_PTX_CVT below; same results). The
 * instruction is one macro per precision, MMA_TF32(c, a, b) and MMA_BF16(c, a, b) (c: 4 floats, updated in place;
 * a: 4 words; b: 2 words, in the registers and per-lane layout of the PTX ISA), chosen by a build
 * option:
 *   HRM_MMA_PTX        NVIDIA, compute capability >= 8.0: mma.sync as inline PTX.
 *   (none)             portable OpenCL C: the same fragment product, the lanes of a warp trading
 *                      their registers through local memory (slow: for tests and for checking a
 *                      new device; it is what runs on PoCL and under Oclgrind in CI).
 *   HRM_MMA_AMD_MFMA   hook, not implemented (below).
 *   HRM_MMA_INTEL_DPAS hook, not implemented (below).
 *
 * Fragment layouts: PTX ISA, "Warp Level Matrix Multiply-Accumulate Instructions", section "Matrix
 * Fragments for mma.m16n8k8" (.tf32: Figure 72 A, Figure 75 B, Figure 77 C/D) and "Matrix Fragments
 * for mma.m16n8k16 with floating point type" (.bf16: Figure 79 A, Figure 81 B, Figure 83 C/D);
 * 9.7.14.5.7 and 9.7.14.5.8 in PTX ISA 8.x (the numbering moves between versions). With
 *   groupID = %laneid >> 2,  threadID_in_group = %laneid % 4   (g and t below):
 *   tf32 A (4 regs): a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4)            [row, k]
 *   tf32 B (2 regs): b0 (t, g), b1 (t+4, g)                                         [k, col]
 *   bf16 A (4 regs of 2): a0,a1 (g, 2t..2t+1) a2,a3 (g+8, 2t..) a4,a5 (g, 2t+8..) a6,a7 (g+8, 2t+8..)
 *   bf16 B (2 regs of 2): b0,b1 (2t..2t+1, g)  b2,b3 (2t+8..2t+9, g)
 *   C/D, both (4 floats): c0,c1 (g, 2t..2t+1)  c2,c3 (g+8, 2t..2t+1)
 * Elements listed "low to high": in a bf16 pair register the first element is the low 16 bits.
 * Lanes are work-items in the order NVIDIA forms warps: the linear local id (a 1-D work-group
 * here), 32 per warp, so %laneid == local id % 32.
 *
 * Tiles. A work-group (MMA_WG = 32 * warps work-items) computes a BM x BM tile of C; warps form a
 * WARPS_M x WARPS_N grid, each computing a WTM x WTN sub-tile held in registers as MF x NF
 * fragments (128: 2 x 4 warps of 64 x 32, 4 x 4 fragments; 64: 2 x 2 warps of 32 x 32). The K loop
 * steps by 16 32-bit words of each operand row: 32 k of bf16 (two bf16 in a word, even k low) or
 * 16 k of tf32 (one per word), so both precisions share the word layout and fragment addressing:
 *   tf32 m16n8k8 step s: a0 = word (g, 8s+t), a1 (g+8, 8s+t), a2 (g, 8s+t+4), a3 (g+8, 8s+t+4),
 *                        b0 = word (col g, 8s+t), b1 (col g, 8s+t+4);
 *   bf16 m16n8k16 step s: the same words, each now holding k = 2w, 2w+1.
 * Local memory holds A's tile as [BM rows][20 words] and B's as [BN cols][20 words] (B
 * transposed, k contiguous, so a B register is one word), double-buffered: 4 x BM x 80 bytes
 * (40 KiB at 128, 20 KiB at 64). Rows are 20 words apart (16 + 4 of padding): the 32 lanes of a
 * fragment load read words 20g + t (+ a constant), which fall in 32 different banks of 4 bytes;
 * the transposing stores (below) hit 32 different banks too.
 * Operands are rounded when they are stored to local memory (tf32: to nearest, ties away, as
 * cvt.rna.tf32.f32; bf16: to nearest even, as cvt.rn.bf16.f32; NaN stays NaN, Inf stays Inf), and
 * elements past m, n or k are stored as zeros, so ragged edges cost nothing in the inner loop.
 * Global loads: each work-item loads 2 units of 4 words per operand and K step into registers
 * while the warps compute on the other buffer (one barrier per K step). A unit is, when the
 * operand's k is contiguous in memory (A not transposed, B transposed), 4 words along k of one row
 * (one or two float4); otherwise 4 rows at one word (one or two float4 along the rows, 2 k apart
 * for bf16) - the lanes of a warp then cover 16 words x 2 row-quads, so every 32-byte sector they
 * touch is used whole and the transposed stores into local memory are conflict-free. float4
 * loads need the operand's offset, leading dimension and batch stride to be multiples of 4
 * (MMA_FLAG_*_VEC, checked by the host), and a unit inside the matrix; others load by element.
 *
 * Arguments: each tensor as __global pointer + element offset (ulong) as everywhere in this
 * backend; leading dimensions and batch strides as long (offsets are 64-bit throughout; a stride
 * may be 0). Range: dimension 0 = n tiles x MMA_WG work-items, dimension 1 = m tiles, dimension 2 =
 * batch (both split by the host with global offsets, read with get_global_id). */

#ifndef HRM_MMA_BM
#define HRM_MMA_BM 128
#endif
#if HRM_MMA_BM == 128
#define MMA_WARPS_M 2
#define MMA_WARPS_N 4
#elif HRM_MMA_BM == 64
#define MMA_WARPS_M 2
#define MMA_WARPS_N 2
#else
#error "HRM_MMA_BM must be 64 or 128"
#endif

#define MMA_BM HRM_MMA_BM
#define MMA_BN HRM_MMA_BM
#define MMA_WARPS (MMA_WARPS_M * MMA_WARPS_N)
#define MMA_WG (32 * MMA_WARPS)
#define MMA_WTM (MMA_BM / MMA_WARPS_M) /* a warp's rows of C */
#define MMA_WTN (MMA_BN / MMA_WARPS_N) /* a warp's columns of C */
#define MMA_MF (MMA_WTM / 16)          /* m16 fragments per warp */
#define MMA_NF (MMA_WTN / 8)           /* n8 fragments per warp */
#define MMA_LDS 20                     /* words between tile rows in local memory: 16 + 4 padding */
#define MMA_TILE_WORDS (MMA_BM * MMA_LDS)
#define MMA_XCH_WORDS 192 /* portable exchange per warp: 4 A + 2 B registers x 32 lanes */
#if MMA_BM * 4 != 2 * MMA_WG
#error "each work-item stages exactly 2 units of 4 words per operand and K step"
#endif

/* Every helper is inlined: the accumulators, fragments and staging registers are private arrays
 * with constant indexes after unrolling, which must stay in registers (a call would put them in
 * memory), and mma_gemm is specialised for its constant `bf16` in each kernel. */
#define MMA_INLINE static inline __attribute__((always_inline))

/* Loops over registers are unrolled where a matrix instruction runs (the private arrays then have
 * constant indexes and stay in registers). The portable variant keeps every loop rolled: PoCL and
 * Oclgrind compile it several times faster, and its registers do not matter. */
#if defined(HRM_MMA_PTX) || defined(HRM_MMA_AMD_MFMA) || defined(HRM_MMA_INTEL_DPAS)
#define MMA_UNROLL _Pragma("unroll")
#else
#define MMA_UNROLL _Pragma("unroll 1")
#endif

#if defined(HRM_MMA_PTX)
#ifndef HRM_MMA_ASM
#define HRM_MMA_ASM asm
#endif
#ifndef HRM_MMA_PTX_CVT
#define HRM_MMA_PTX_CVT 1
#endif
#endif

#define MMA_FLAG_A_KC 1  /* A's k contiguous in memory (trans_a = 0) */
#define MMA_FLAG_B_KC 2  /* B's k contiguous in memory (trans_b = 1) */
#define MMA_FLAG_A_VEC 4 /* A's offset, lda and stride_a are multiples of 4: float4 loads */
#define MMA_FLAG_B_VEC 8

/* ---- the matrix instruction ------------------------------------------------------------------- */

#if defined(HRM_MMA_PTX)
/* NVIDIA, sm_80 and later. The asm keyword is HRM_MMA_ASM (default asm; the host retries a failed
 * build with __asm__, which clang-based compilers want in OpenCL C). Same operand order and
 * constraints as measured on the H200: outputs d (=f), inputs a (r), b (r), c (f). */
#define MMA_TF32(c, a, b)                                                                                             \
    HRM_MMA_ASM volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "                                        \
                         "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};"                                  \
                         : "=f"((c)[0]), "=f"((c)[1]), "=f"((c)[2]), "=f"((c)[3])                                     \
                         : "r"((a)[0]), "r"((a)[1]), "r"((a)[2]), "r"((a)[3]), "r"((b)[0]), "r"((b)[1]), "f"((c)[0]), \
                           "f"((c)[1]), "f"((c)[2]), "f"((c)[3]))
#define MMA_BF16(c, a, b)                                                                                             \
    HRM_MMA_ASM volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "                                       \
                         "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};"                                  \
                         : "=f"((c)[0]), "=f"((c)[1]), "=f"((c)[2]), "=f"((c)[3])                                     \
                         : "r"((a)[0]), "r"((a)[1]), "r"((a)[2]), "r"((a)[3]), "r"((b)[0]), "r"((b)[1]), "f"((c)[0]), \
                           "f"((c)[1]), "f"((c)[2]), "f"((c)[3]))
#define MMA_PORTABLE 0

#elif defined(HRM_MMA_AMD_MFMA)
/* Hook for AMD CDNA (MI100 and later), not implemented: __builtin_amdgcn_mfma_f32_16x16x4f32 /
 * _16x16x8bf16_1k (or _16x16x16bf16_1k on gfx90a+) on 64-lane wavefronts. Their operand layouts
 * differ from NVIDIA's, and a wavefront is 64 lanes, so a port supplies the macros below together
 * with the fragment loads of mma_gemm for its layout (and MMA_WG for 64-lane waves), then checks
 * itself against the portable variant with tests/test_mma.c. */
#error "HRM_MMA_AMD_MFMA: the AMD MFMA variant is a hook, not implemented"
#define MMA_TF32(c, a, b) /* __builtin_amdgcn_mfma_... */
#define MMA_BF16(c, a, b) /* __builtin_amdgcn_mfma_... */

#elif defined(HRM_MMA_INTEL_DPAS)
/* Hook for Intel Xe (cl_intel_subgroup_matrix_multiply_accumulate, with tf32 through
 * cl_intel_subgroup_matrix_multiply_accumulate_tf32), not implemented: intel_sub_group_bf16_bf16_
 * matrix_mad_k16 / intel_sub_group_tf32_tf32_matrix_mad_k8 on sub-groups of 8 or 16 work-items,
 * whose per-work-item layouts differ from NVIDIA's; same porting rule as the AMD hook. */
#error "HRM_MMA_INTEL_DPAS: the Intel DPAS variant is a hook, not implemented"
#define MMA_TF32(c, a, b) /* intel_sub_group_tf32_tf32_matrix_mad_k8 */
#define MMA_BF16(c, a, b) /* intel_sub_group_bf16_bf16_matrix_mad_k16 */

#else
/* Portable: the warp-wide product computed by its own lanes. Each lane publishes exactly the
 * registers the instruction would take from it into its warp's exchange area x (word
 * [register][lane]), and, after a barrier, computes its own C elements by reading every operand
 * element from the lane and register that the ISA places it in. The sum runs in fp32 over k in
 * order, starting from c; the products of rounded operands are exact in fp32. Every work-item of
 * the work-group must call it the same number of times (it holds two barriers): the callers' loops
 * have constant trip counts. */
#define MMA_PORTABLE 1
#define MMA_TF32(c, a, b) mma_tf32_portable((c), (a), (b), xch, lane)
#define MMA_BF16(c, a, b) mma_bf16_portable((c), (a), (b), xch, lane)

MMA_INLINE void mma_publish(const uint *a, const uint *b, __local uint *x, uint lane) {
    MMA_UNROLL
    for (int r = 0; r < 4; r++) x[r * 32 + lane] = a[r];
    MMA_UNROLL
    for (int r = 0; r < 2; r++) x[128 + r * 32 + lane] = b[r];
    barrier(CLK_LOCAL_MEM_FENCE);
}

/* m16n8k8 .tf32. Element A[row][k] (row < 16, k < 8) is in lane (row % 8) * 4 + k % 4, register
 * (row / 8) + 2 * (k / 4) (Figure 72 inverted); B[k][col] (col < 8) in lane col * 4 + k % 4,
 * register k / 4 (Figure 75); this lane's c_i is C[g + 8 * (i / 2)][2t + i % 2] (Figure 77). */
MMA_INLINE void mma_tf32_portable(float *c, const uint *a, const uint *b, __local uint *x, uint lane) {
    mma_publish(a, b, x, lane);
    const uint g = lane >> 2, t = lane & 3;
    MMA_UNROLL
    for (int i = 0; i < 4; i++) {
        const uint row = g + 8 * (i >> 1), col = 2 * t + (i & 1);
        float sum = c[i];
        MMA_UNROLL
        for (uint k = 0; k < 8; k++) {
            float av = as_float(x[((row >> 3) + 2 * (k >> 2)) * 32 + (row & 7) * 4 + (k & 3)]);
            float bv = as_float(x[128 + (k >> 2) * 32 + col * 4 + (k & 3)]);
            sum = fma(av, bv, sum);
        }
        c[i] = sum;
    }
    barrier(CLK_LOCAL_MEM_FENCE); /* x is written again by the next call */
}

MMA_INLINE float mma_bf16_at(uint word, uint high) { return as_float(high ? (word & 0xffff0000u) : (word << 16)); }

/* m16n8k16 .bf16. Element A[row][k] (row < 16, k < 16) is half k % 2 of register
 * (row / 8) + 2 * (k / 8) of lane (row % 8) * 4 + (k % 8) / 2 (Figure 79 inverted); B[k][col] is
 * half k % 2 of register k / 8 of lane col * 4 + (k % 8) / 2 (Figure 81); c_i as for tf32
 * (Figure 83). */
MMA_INLINE void mma_bf16_portable(float *c, const uint *a, const uint *b, __local uint *x, uint lane) {
    mma_publish(a, b, x, lane);
    const uint g = lane >> 2, t = lane & 3;
    MMA_UNROLL
    for (int i = 0; i < 4; i++) {
        const uint row = g + 8 * (i >> 1), col = 2 * t + (i & 1);
        float sum = c[i];
        MMA_UNROLL
        for (uint k = 0; k < 16; k++) {
            float av = mma_bf16_at(x[((row >> 3) + 2 * (k >> 3)) * 32 + (row & 7) * 4 + ((k & 7) >> 1)], k & 1);
            float bv = mma_bf16_at(x[128 + (k >> 3) * 32 + col * 4 + ((k & 7) >> 1)], k & 1);
            sum = fma(av, bv, sum);
        }
        c[i] = sum;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}
#endif

/* ---- rounding (when an operand element is stored to local memory) ----------------------------- */

#if defined(HRM_MMA_PTX) && HRM_MMA_PTX_CVT
/* The PTX variant rounds with the conversion instructions the roundings are defined by (PTX ISA,
 * "cvt": cvt.rna.tf32.f32 d, a; cvt.rn.bf16x2.f32 d, a, b puts a's bf16 in the upper half of d and
 * b's in the lower): one instruction per word where the integer code below takes a dozen, and
 * issue slots are this kernel's next limit after the tensor cores. -DHRM_MMA_PTX_CVT=0 (through
 * HRM_OPENCL_BUILD_OPTIONS) keeps the integer code, to compare. The mma ignores a tf32's low 13 bits. */
MMA_INLINE uint mma_round_tf32(float x) {
    uint d;
    HRM_MMA_ASM("cvt.rna.tf32.f32 %0, %1;" : "=r"(d) : "f"(x));
    return d;
}

MMA_INLINE uint mma_pack_bf16(float lo, float hi) {
    uint d;
    HRM_MMA_ASM("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(d) : "f"(hi), "f"(lo));
    return d;
}
#else
/* tf32 as cvt.rna.tf32.f32: to nearest, ties away from zero (adding half an ulp of tf32 to the
 * magnitude bits, then truncating), low 13 bits zero. Inf unchanged; a NaN keeps its sign and high
 * payload with the quiet bit set (truncation alone could turn a NaN into Inf). */
MMA_INLINE uint mma_round_tf32(float x) {
    uint u = as_uint(x);
    if ((u & 0x7f800000u) == 0x7f800000u) return (u & 0x007fffffu) ? ((u & 0xffffe000u) | 0x00400000u) : u;
    return (u + 0x1000u) & 0xffffe000u;
}

/* bf16 as cvt.rn.bf16.f32: to nearest, ties to even; returns the 16 bits. Inf unchanged, NaN quiet. */
MMA_INLINE uint mma_round_bf16(float x) {
    uint u = as_uint(x);
    if ((u & 0x7f800000u) == 0x7f800000u) return ((u & 0x007fffffu) ? (u | 0x00400000u) : u) >> 16;
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

/* Two bf16 in one word: `lo` (the even k) in the low 16 bits, as .bf16x2 operands hold a0, a1. */
MMA_INLINE uint mma_pack_bf16(float lo, float hi) { return mma_round_bf16(lo) | (mma_round_bf16(hi) << 16); }
#endif

/* ---- global -> registers -> local memory -------------------------------------------------------- */

/* 4 consecutive floats at p of which the first `valid` (<= 0 .. >= 4) exist, zeros after them: one
 * float4 load when vec (p 16-byte aligned) and all 4 exist. */
MMA_INLINE float4 mma_load4(__global const float *p, int valid, int vec) {
    if (vec && valid >= 4) return *(__global const float4 *)p;
    return (float4)(valid > 0 ? p[0] : 0.0f, valid > 1 ? p[1] : 0.0f, valid > 2 ? p[2] : 0.0f, valid > 3 ? p[3] : 0.0f);
}

/* Loads this work-item's 2 units of one operand for the K step starting at k0 into st[8] as words
 * (rounded, packed). x: the operand of this batch item; rows r0.. of the tile (m of A, n of B),
 * `rows` of them valid; `kdim` valid k. Elements outside are zeros. */
MMA_INLINE void mma_load(__global const float *x, long ld, int kc, int vec, int r0, int rows, int k0, int kdim,
                         const int bf16, uint *st, uint lid) {
    MMA_UNROLL
    for (int u = 0; u < 2; u++) {
        const int unit = u * MMA_WG + (int)lid;
        float4 q0, q1 = (float4)(0.0f);
        if (kc) { /* 4 words along k of row r: q0 = k kb .. kb + 3, q1 = kb + 4 .. kb + 7 (bf16) */
            const int r = r0 + (unit >> 2), kb = k0 + (unit & 3) * (bf16 ? 8 : 4);
            __global const float *p = x + (long)r * ld + kb;
            q0 = mma_load4(p, r < rows ? kdim - kb : 0, vec);
            if (bf16) q1 = mma_load4(p + 4, r < rows ? kdim - kb - 4 : 0, vec);
            if (bf16)
                st[4 * u] = mma_pack_bf16(q0.s0, q0.s1), st[4 * u + 1] = mma_pack_bf16(q0.s2, q0.s3),
                       st[4 * u + 2] = mma_pack_bf16(q1.s0, q1.s1), st[4 * u + 3] = mma_pack_bf16(q1.s2, q1.s3);
            else
                st[4 * u] = mma_round_tf32(q0.s0), st[4 * u + 1] = mma_round_tf32(q0.s1),
                       st[4 * u + 2] = mma_round_tf32(q0.s2), st[4 * u + 3] = mma_round_tf32(q0.s3);
        } else { /* rows r .. r + 3 at word w: q0 = k kb, q1 = k kb + 1 (bf16), 4 rows each */
            const int r = r0 + (unit >> 4) * 4, w = unit & 15, kb = k0 + (bf16 ? 2 * w : w);
            __global const float *p = x + (long)kb * ld + r;
            q0 = mma_load4(p, kb < kdim ? rows - r : 0, vec);
            if (bf16) q1 = mma_load4(p + ld, kb + 1 < kdim ? rows - r : 0, vec);
            if (bf16)
                st[4 * u] = mma_pack_bf16(q0.s0, q1.s0), st[4 * u + 1] = mma_pack_bf16(q0.s1, q1.s1),
                       st[4 * u + 2] = mma_pack_bf16(q0.s2, q1.s2), st[4 * u + 3] = mma_pack_bf16(q0.s3, q1.s3);
            else
                st[4 * u] = mma_round_tf32(q0.s0), st[4 * u + 1] = mma_round_tf32(q0.s1),
                       st[4 * u + 2] = mma_round_tf32(q0.s2), st[4 * u + 3] = mma_round_tf32(q0.s3);
        }
    }
}

/* Stores the 2 units of st[8] into a tile of local memory ([rows][MMA_LDS] words). */
MMA_INLINE void mma_store(__local uint *tile, int kc, const uint *st, uint lid) {
    MMA_UNROLL
    for (int u = 0; u < 2; u++) {
        const int unit = u * MMA_WG + (int)lid;
        if (kc) /* a row's 4 words: one 16-byte store (row * 20 + 4j words: 16-byte aligned) */
            *(__local uint4 *)(tile + (unit >> 2) * MMA_LDS + (unit & 3) * 4) =
                (uint4)(st[4 * u], st[4 * u + 1], st[4 * u + 2], st[4 * u + 3]);
        else
            MMA_UNROLL
        for (int i = 0; i < 4; i++) tile[((unit >> 4) * 4 + i) * MMA_LDS + (unit & 15)] = st[4 * u + i];
    }
}

/* ---- the GEMM ---------------------------------------------------------------------------------- */

MMA_INLINE void mma_gemm(const int bf16, __global const float *a, ulong a_off, long lda, long stride_a,
                         __global const float *b, ulong b_off, long ldb, long stride_b, __global float *c, ulong c_off,
                         long ldc, long stride_c, int m, int n, int k, float alpha, float beta, int flags,
                         __local uint *smem, __local uint *xch_all) {
    const uint lid = get_local_id(0), lane = lid & 31, warp = lid >> 5;
    const uint g = lane >> 2, t = lane & 3; /* groupID, threadID_in_group */
    const uint wm = warp % MMA_WARPS_M, wn = warp / MMA_WARPS_M;
#if MMA_PORTABLE
    __local uint *xch = xch_all + warp * MMA_XCH_WORDS;
#endif
    const int n0 = (int)(get_global_id(0) / MMA_WG) * MMA_BN, m0 = (int)get_global_id(1) * MMA_BM;
    const long item = (long)get_global_id(2);
    __global const float *A = a + a_off + item * stride_a;
    __global const float *B = b + b_off + item * stride_b;
    __global float *C = c + c_off + item * stride_c;
    const int akc = flags & MMA_FLAG_A_KC, bkc = flags & MMA_FLAG_B_KC;
    const int avec = flags & MMA_FLAG_A_VEC, bvec = flags & MMA_FLAG_B_VEC;
    const int kstep = bf16 ? 32 : 16, nk = (k + kstep - 1) / kstep;

    float acc[MMA_MF][MMA_NF][4];
    MMA_UNROLL
    for (int i = 0; i < MMA_MF; i++) MMA_UNROLL
    for (int j = 0; j < MMA_NF; j++) MMA_UNROLL
    for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;

    uint sa[8], sb[8];
    mma_load(A, lda, akc, avec, m0, m, 0, k, bf16, sa, lid);
    mma_load(B, ldb, bkc, bvec, n0, n, 0, k, bf16, sb, lid);
    mma_store(smem, akc, sa, lid);
    mma_store(smem + MMA_TILE_WORDS, bkc, sb, lid);
    barrier(CLK_LOCAL_MEM_FENCE);

    for (int kt = 0; kt < nk; kt++) {
        const int more = kt + 1 < nk; /* the same for the whole work-group */
        if (more) {                   /* the next K step's operands travel while this one is computed */
            mma_load(A, lda, akc, avec, m0, m, (kt + 1) * kstep, k, bf16, sa, lid);
            mma_load(B, ldb, bkc, bvec, n0, n, (kt + 1) * kstep, k, bf16, sb, lid);
        }
        __local const uint *As = smem + (kt & 1) * 2 * MMA_TILE_WORDS, *Bs = As + MMA_TILE_WORDS;
        MMA_UNROLL
        for (int s = 0; s < 2; s++) { /* two instruction k-steps of 8 words */
            uint fa[MMA_MF][4], fb[MMA_NF][2];
            MMA_UNROLL
            for (int i = 0; i < MMA_MF; i++) {
                __local const uint *p = As + (wm * MMA_WTM + i * 16 + g) * MMA_LDS + 8 * s + t;
                fa[i][0] = p[0];               /* row g,     word t     */
                fa[i][1] = p[8 * MMA_LDS];     /* row g + 8, word t     */
                fa[i][2] = p[4];               /* row g,     word t + 4 */
                fa[i][3] = p[8 * MMA_LDS + 4]; /* row g + 8, word t + 4 */
            }
            MMA_UNROLL
            for (int j = 0; j < MMA_NF; j++) {
                __local const uint *p = Bs + (wn * MMA_WTN + j * 8 + g) * MMA_LDS + 8 * s + t;
                fb[j][0] = p[0]; /* column g, word t     */
                fb[j][1] = p[4]; /* column g, word t + 4 */
            }
            MMA_UNROLL
            for (int i = 0; i < MMA_MF; i++) MMA_UNROLL
            for (int j = 0; j < MMA_NF; j++) {
                if (bf16)
                    MMA_BF16(acc[i][j], fa[i], fb[j]);
                else
                    MMA_TF32(acc[i][j], fa[i], fb[j]);
            }
        }
        if (more) {
            __local uint *next = smem + ((kt + 1) & 1) * 2 * MMA_TILE_WORDS;
            mma_store(next, akc, sa, lid);
            mma_store(next + MMA_TILE_WORDS, bkc, sb, lid);
        }
        barrier(CLK_LOCAL_MEM_FENCE); /* next is complete; nobody reads this buffer any more */
    }

    MMA_UNROLL
    for (int i = 0; i < MMA_MF; i++) MMA_UNROLL
    for (int j = 0; j < MMA_NF; j++) MMA_UNROLL
    for (int e = 0; e < 4; e++) {
        const int row = m0 + wm * MMA_WTM + i * 16 + (int)g + 8 * (e >> 1);
        const int col = n0 + wn * MMA_WTN + j * 8 + 2 * (int)t + (e & 1);
        if (row < m && col < n) {
            __global float *p = C + (long)row * ldc + col;
            float v = alpha * acc[i][j][e];
            if (beta != 0.0f) v += beta * *p; /* beta = 0: C is not read (NaN stays out) */
            *p = v;
        }
    }
}

/* Local memory: the double-buffered tiles, and for the portable variant the exchange areas. */
#define MMA_SMEM_WORDS (4 * MMA_TILE_WORDS)
#if MMA_PORTABLE
#define MMA_XCH_DECL __local uint xch_all[MMA_WARPS * MMA_XCH_WORDS];
#else
#define MMA_XCH_DECL __local uint *xch_all = 0;
#endif

#define MMA_KERNEL(name, is_bf16)                                                                                      \
    __kernel __attribute__((reqd_work_group_size(MMA_WG, 1, 1))) void name(                                            \
        __global const float *a, ulong a_off, long lda, long stride_a, __global const float *b, ulong b_off, long ldb, \
        long stride_b, __global float *c, ulong c_off, long ldc, long stride_c, int m, int n, int k, float alpha,      \
        float beta, int flags) {                                                                                       \
        __local uint4 smem4[MMA_SMEM_WORDS / 4]; /* uint4: 16-byte aligned for mma_store */                            \
        MMA_XCH_DECL                                                                                                   \
        mma_gemm(is_bf16, a, a_off, lda, stride_a, b, b_off, ldb, stride_b, c, c_off, ldc, stride_c, m, n, k, alpha,   \
                 beta, flags, (__local uint *)smem4, xch_all);                                                         \
    }

MMA_KERNEL(hrm_mma_tf32, 0)
MMA_KERNEL(hrm_mma_bf16, 1)
