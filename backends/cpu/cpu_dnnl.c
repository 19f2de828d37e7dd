/* cpu_dnnl.c - matrix products through oneDNN's matmul primitive (built when meson finds oneDNN;
 * option -Donednn=disabled leaves it out and the backend computes with OpenBLAS alone).
 *
 * What oneDNN gives the CPU backend: the bf16 products (bf16 A and B, fp32 accumulation and C)
 * behind HRM_PRECISION_MEDIUM where the CPU has a bf16 unit (cpu_precision.c decides, at run
 * time, whether that is reported), and fp32 GEMM kernels it picks for the CPU at run time, used
 * with HRM_CPU_GEMM=onednn (OpenBLAS stays the default fp32 engine: cpu_matmul.c says why).
 *
 * Threads. Debian's oneDNN runs its parallel regions on OpenMP (libgomp). The backend already has
 * its pool of be->threads, so oneDNN gets no threads of its own: every primitive is created and
 * executed with OpenMP's thread count set to 1 (or be->threads in the comparison mode
 * HRM_CPU_GEMM=onednn-omp), and cpu_matmul.c cuts a large product into one slice per pool thread,
 * as it does for OpenBLAS. One set of threads then runs on the cores, and libgomp never starts a
 * team whose idle threads would spin beside the pool's. The count is OpenMP's nthreads-var, which
 * each thread outside a parallel region holds for itself (omp_set_num_threads sets the caller's),
 * so the calling thread's value is put back after each product and a pool thread's is set once.
 *
 * Primitives. Creating one took 23-160 us here (oneDNN 2.6.3, gemm:jit on AVX2; it may JIT a
 * kernel), as long as running a whole 0.9-MFLOP LM-head item, and HRM runs the same dozen shapes
 * millions of times, so each device keeps the primitives it made,
 * keyed by everything they bake in (transposes, sizes, leading dimensions, alpha, beta, data
 * type, threads), the least recently used of CACHE_SIZE evicted. Only the calling thread looks up
 * and creates primitives (before it hands slices to the pool), so the cache needs no lock; each
 * pool thread keeps its own stream, scratchpad (scratchpad mode "user") and memory objects.
 * alpha is an output scale and beta a sum post-op (dst = alpha*A*B + beta*dst); with beta = 0
 * there is no post-op, so C is never read and a NaN there does not matter. */
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"

#define CACHE_SIZE 64 /* HRM uses ~25 distinct products (with slices); tests cycle through more */
#define MEMS 4        /* src, weights, dst, scratchpad */

struct cpu_dnnl_prim {
    cpu_dnnl_key key;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t md[MEMS - 1]; /* src, weights, dst */
    dnnl_memory_desc_t scratch_md;
    size_t scratch_bytes;
    dnnl_memory_t *mem; /* [threads][MEMS], made on first use by each thread */
    uint64_t used;      /* clock of the last lookup, for eviction */
    char impl[48];
};

typedef struct thread_ctx {
    dnnl_stream_t stream;
    void *scratch;
    size_t scratch_bytes;
} thread_ctx;

struct cpu_dnnl {
    dnnl_engine_t engine; /* the backend's */
    int threads;
    thread_ctx *per_thread; /* [threads] */
    cpu_dnnl_prim cache[CACHE_SIZE];
    int count;
    uint64_t clock;
};

static const int ARG_OF[MEMS] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_SCRATCHPAD};

/* ---- engine, version ---------------------------------------------------------------------------- */

bool cpu_dnnl_init(hrm_backend *be, char *why, size_t why_size) {
    dnnl_status_t s = dnnl_engine_create(&be->dnnl_engine, dnnl_cpu, 0);
    if (s != dnnl_success) {
        be->dnnl_engine = NULL;
        snprintf(why, why_size, "oneDNN: no CPU engine (status %d)", (int)s);
        return false;
    }
    return true;
}

void cpu_dnnl_fini(hrm_backend *be) {
    if (be->dnnl_engine) dnnl_engine_destroy(be->dnnl_engine);
    be->dnnl_engine = NULL;
}

static const char *isa_name(dnnl_cpu_isa_t isa) {
    switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    default: return "no-isa";
    }
}

void cpu_dnnl_version(char *out, size_t size) {
    const dnnl_version_t *v = dnnl_version();
    snprintf(out, size, "oneDNN %d.%d.%d (%s)", v->major, v->minor, v->patch, isa_name(dnnl_get_effective_cpu_isa()));
}

/* ---- OpenMP threads of the calling thread --------------------------------------------------------- */

int cpu_omp_threads_enter(int want) {
    int saved = omp_get_max_threads();
    if (saved != want) omp_set_num_threads(want);
    return saved;
}

void cpu_omp_threads_leave(int saved) {
    if (omp_get_max_threads() != saved) omp_set_num_threads(saved);
}

/* ---- the per-device context ------------------------------------------------------------------------ */

cpu_dnnl *cpu_dnnl_open(hrm_backend *be) {
    if (!be->dnnl_engine) return NULL;
    cpu_dnnl *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->engine = be->dnnl_engine;
    d->threads = be->threads;
    d->per_thread = calloc((size_t)d->threads, sizeof *d->per_thread);
    if (!d->per_thread) {
        free(d);
        return NULL;
    }
    for (int t = 0; t < d->threads; t++)
        if (dnnl_stream_create(&d->per_thread[t].stream, d->engine, dnnl_stream_default_flags) != dnnl_success) {
            cpu_dnnl_close(d);
            return NULL;
        }
    return d;
}

static void entry_free(cpu_dnnl *d, cpu_dnnl_prim *e) {
    if (e->mem)
        for (int i = 0; i < d->threads * MEMS; i++)
            if (e->mem[i]) dnnl_memory_destroy(e->mem[i]);
    free(e->mem);
    if (e->prim) dnnl_primitive_destroy(e->prim);
    memset(e, 0, sizeof *e);
}

void cpu_dnnl_close(cpu_dnnl *d) {
    if (!d) return;
    for (int i = 0; i < d->count; i++) entry_free(d, &d->cache[i]);
    for (int t = 0; t < d->threads; t++) {
        if (d->per_thread[t].stream) dnnl_stream_destroy(d->per_thread[t].stream);
        free(d->per_thread[t].scratch);
    }
    free(d->per_thread);
    free(d);
}

/* ---- primitives ------------------------------------------------------------------------------------- */

/* Row-major [rows, cols] with leading dimension ld, or its transpose when trans (stored [cols, rows]). */
static dnnl_status_t matrix_md(dnnl_memory_desc_t *md, int64_t rows, int64_t cols, int64_t ld, int trans,
                               dnnl_data_type_t type) {
    dnnl_dims_t dims = {rows, cols};
    dnnl_dims_t strides = {trans ? 1 : ld, trans ? ld : 1};
    return dnnl_memory_desc_init_by_strides(md, 2, dims, type, strides);
}

/* Makes the primitive of key k into e (zeroed); on failure a message in err. */
static hrm_status entry_make(cpu_dnnl *d, const cpu_dnnl_key *k, cpu_dnnl_prim *e, char *err, size_t err_size) {
    dnnl_data_type_t in = k->bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t post = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_matmul_desc_t desc;
    const char *step = "memory descriptors";
    dnnl_status_t s = matrix_md(&e->md[0], k->m, k->k, k->lda, k->ta, in);
    if (s == dnnl_success) s = matrix_md(&e->md[1], k->k, k->n, k->ldb, k->tb, in);
    if (s == dnnl_success) s = matrix_md(&e->md[2], k->m, k->n, k->ldc, 0, dnnl_f32);
    if (s == dnnl_success)
        step = "matmul descriptor", s = dnnl_matmul_desc_init(&desc, &e->md[0], &e->md[1], NULL, &e->md[2]);
    if (s == dnnl_success) step = "attributes", s = dnnl_primitive_attr_create(&attr);
    if (s == dnnl_success) s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    float alpha, beta;
    memcpy(&alpha, &k->alpha_bits, sizeof alpha);
    memcpy(&beta, &k->beta_bits, sizeof beta);
    if (s == dnnl_success && alpha != 1.0f) s = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha);
    if (s == dnnl_success && beta != 0.0f) {
        s = dnnl_post_ops_create(&post);
        if (s == dnnl_success) s = dnnl_post_ops_append_sum(post, beta);
        if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(attr, post);
    }
    if (s == dnnl_success)
        step = "primitive descriptor", s = dnnl_primitive_desc_create(&pd, &desc, attr, d->engine, NULL);
    if (s == dnnl_success) {
        const char *impl = NULL;
        if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl) impl = "?";
        snprintf(e->impl, sizeof e->impl, "%s", impl);
        const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        if (smd) e->scratch_md = *smd;
        e->scratch_bytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
        step = "primitive", s = dnnl_primitive_create(&e->prim, pd);
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (post) dnnl_post_ops_destroy(post);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (s == dnnl_success) {
        e->mem = calloc((size_t)d->threads * MEMS, sizeof *e->mem);
        if (e->mem) {
            e->key = *k;
            return HRM_OK;
        }
        step = "memory objects", s = dnnl_out_of_memory;
    }
    snprintf(err, err_size, "oneDNN: %s %s matmul %c%c m=%d n=%d k=%d failed at the %s: %s", k->bf16 ? "bf16" : "fp32",
             k->threads > 1 ? "threaded" : "single-threaded", k->ta ? 'T' : 'N', k->tb ? 'T' : 'N', k->m, k->n, k->k,
             step, s == dnnl_unimplemented ? "no implementation on this CPU" : dnnl_status2str(s));
    entry_free(d, e);
    return s == dnnl_unimplemented   ? HRM_ERR_UNSUPPORTED
           : s == dnnl_out_of_memory ? HRM_ERR_OUT_OF_MEMORY
                                     : HRM_ERR_DEVICE;
}

hrm_status cpu_dnnl_get(cpu_dnnl *d, const cpu_dnnl_key *k, cpu_dnnl_prim **out, char *err, size_t err_size) {
    *out = NULL;
    d->clock++;
    int victim = 0;
    for (int i = 0; i < d->count; i++) {
        if (!memcmp(&d->cache[i].key, k, sizeof *k)) {
            d->cache[i].used = d->clock;
            *out = &d->cache[i];
            return HRM_OK;
        }
        if (d->cache[i].used < d->cache[victim].used) victim = i;
    }
    /* every primitive a product uses is looked up before any runs, so none in use is evicted:
     * a product needs at most 2 (a slice and the ragged last one) and was used more recently */
    if (d->count < CACHE_SIZE)
        victim = d->count++;
    else
        entry_free(d, &d->cache[victim]);
    cpu_dnnl_prim *e = &d->cache[victim];
    hrm_status st = entry_make(d, k, e, err, err_size);
    if (st != HRM_OK) {
        /* leave the slot empty at the end of the table */
        if (victim != d->count - 1) {
            d->cache[victim] = d->cache[d->count - 1];
            memset(&d->cache[d->count - 1], 0, sizeof d->cache[0]);
        }
        d->count--;
        return st;
    }
    e->used = d->clock;
    *out = e;
    return HRM_OK;
}

const char *cpu_dnnl_impl(const cpu_dnnl_prim *p) { return p->impl; }

void cpu_dnnl_key_init(cpu_dnnl_key *k, int ta, int tb, int m, int n, int kk, int64_t lda, int64_t ldb, int64_t ldc,
                       float alpha, float beta, bool bf16, int threads) {
    memset(k, 0, sizeof *k); /* padding too: keys are compared with memcmp */
    k->ta = ta, k->tb = tb, k->m = m, k->n = n, k->k = kk, k->bf16 = bf16, k->threads = threads;
    k->lda = lda, k->ldb = ldb, k->ldc = ldc;
    if (beta == 0.0f) beta = 0.0f; /* -0 and +0 are the same product */
    memcpy(&k->alpha_bits, &alpha, sizeof alpha);
    memcpy(&k->beta_bits, &beta, sizeof beta);
}

/* ---- execution (any pool thread) ---------------------------------------------------------------------- */

bool cpu_dnnl_exec(cpu_dnnl *d, cpu_dnnl_prim *p, int thread, const void *a, const void *b, float *c) {
    if (omp_get_max_threads() != p->key.threads) omp_set_num_threads(p->key.threads);
    thread_ctx *t = &d->per_thread[thread];
    if (p->scratch_bytes > t->scratch_bytes) {
        free(t->scratch);
        t->scratch_bytes = 0;
        t->scratch = aligned_alloc(64, (p->scratch_bytes + 63) / 64 * 64);
        if (!t->scratch) return false;
        t->scratch_bytes = p->scratch_bytes;
    }
    void *handles[MEMS] = {(void *)a, (void *)b, c, t->scratch};
    dnnl_memory_t *mem = p->mem + (size_t)thread * MEMS;
    dnnl_exec_arg_t args[MEMS];
    int nargs = p->scratch_bytes ? MEMS : MEMS - 1;
    for (int i = 0; i < nargs; i++) {
        dnnl_status_t s;
        if (!mem[i])
            s = dnnl_memory_create(&mem[i], i < MEMS - 1 ? &p->md[i] : &p->scratch_md, d->engine, handles[i]);
        else
            s = dnnl_memory_set_data_handle(mem[i], handles[i]);
        if (s != dnnl_success) return false;
        args[i] = (dnnl_exec_arg_t){ARG_OF[i], mem[i]};
    }
    return dnnl_primitive_execute(p->prim, t->stream, nargs, args) == dnnl_success &&
           dnnl_stream_wait(t->stream) == dnnl_success;
}
