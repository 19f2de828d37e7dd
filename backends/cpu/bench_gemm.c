/* backends/cpu/bench_gemm.c - the CPU backend's matrix products side by side, at the shapes of the
 * 27M-parameter Sudoku HRM (docs/MODEL.md "Configuration": hidden 512, 8 heads, expansion 4 -> intermediate 1536,
 * vocabulary 11; 81 cells + 1 puzzle-embedding position = 82 rows per puzzle). Each linear layer
 * y = x W^T gives three products per training step: forward (B transposed), weight gradient
 * (A transposed, beta 1) and input gradient (no transposes); the LM head is batched per puzzle
 * as core/model_heads.c does it.
 *
 * One backend instance per engine (HRM_CPU_GEMM=onednn, slices, mixed, openblas, onednn-omp), plus the
 * medium precision emulated (HRM_CPU_PRECISION=emulate) and, where oneDNN has a bf16 unit, native
 * (HRM_CPU_PRECISION=native). Each engine runs all shapes in a block, the blocks alternating in
 * order over --passes so that a noisy neighbour on a shared machine slows them alike. Prints
 * GFLOP/s of the median (--best: fastest) call per shape and engine.
 *
 *   build-cpu/backends/cpu/bench_gemm [--batch 8] [--reps 7] [--passes 2] [--threads 0]
 *                                     [--engines onednn,slices,...] [--best] [plugin.so]
 *
 * Not a test: the numbers it printed on the development VM are in cpu_matmul.c's notes. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hrm/backend.h"

#define ADD_N (656 * 512) /* the element-wise op between products: a residual add at batch 8 */

#ifndef CPU_PLUGIN
#define CPU_PLUGIN "hrm-backend-cpu.so"
#endif

typedef struct engine {
    const char *label, *gemm, *precision;
    hrm_matmul_precision p;
    const hrm_backend_iface *f;
    hrm_backend *be;
    hrm_device *dev;
    hrm_buffer *a, *b, *c, *x; /* x: the element-wise op's, zeros */
} engine;

typedef struct shape {
    const char *name;
    int ta, tb, m, n, k, batch;
    float beta;
    int64_t lda, ldb, ldc, sa, sb, sc;
} shape;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static int shapes_for(int batch, shape *out) {
    const int D = 512, I = 1536, V = 11, S = 82, L = 81, rows = batch * S;
    static const struct {
        const char *name;
        int in, out;
    } lin[] = {{"qkv", 512, 1536}, {"o_proj", 512, 512}, {"gate_up", 512, 2 * 1536}, {"down", 1536, 512}};
    int n = 0;
    for (int l = 0; l < 4; l++) {
        int in = lin[l].in, o = lin[l].out;
        static char names[12][32];
        snprintf(names[3 * l], 32, "%s fwd", lin[l].name);
        snprintf(names[3 * l + 1], 32, "%s wgrad", lin[l].name);
        snprintf(names[3 * l + 2], 32, "%s dgrad", lin[l].name);
        out[n++] = (shape){names[3 * l], 0, 1, rows, o, in, 1, 0.0f, in, in, o, 0, 0, 0};
        out[n++] = (shape){names[3 * l + 1], 1, 0, o, in, rows, 1, 1.0f, o, in, in, 0, 0, 0};
        out[n++] = (shape){names[3 * l + 2], 0, 0, rows, in, o, 1, 0.0f, o, in, in, 0, 0, 0};
    }
    (void)I;
    /* lm_head as core/model_heads.c runs it, forward and backward */
    out[n++] = (shape){"lm_head fwd", 0, 1, L, V, D, batch, 0.0f, D, D, V, (int64_t)S * D, 0, (int64_t)L * V};
    out[n++] = (shape){"lm_head wgrad", 1, 0, V, D, batch * L, 1, 1.0f, V, D, D, 0, 0, 0};
    out[n++] = (shape){"lm_head dgrad", 0, 0, L, D, V, batch, 0.0f, V, D, D, (int64_t)L * V, 0, (int64_t)S * D};
    return n;
}

static size_t extent(int batch, int64_t stride, int rows, int64_t ld) {
    return (size_t)((batch - 1) * stride + rows * ld);
}

static int open_engine(const char *path, int threads, engine *e, size_t na, size_t nb, size_t nc) {
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "bench_gemm: %s\n", dlerror());
        return 0;
    }
    hrm_backend_entry_fn entry = (hrm_backend_entry_fn)dlsym(h, HRM_BACKEND_ENTRY_SYMBOL);
    e->f = entry();
    if (e->f->struct_size < HRM_IFACE_END(matmul_precision)) {
        fprintf(stderr, "bench_gemm: %s predates ABI 1.2\n", path);
        return 0;
    }
    setenv("HRM_CPU_GEMM", e->gemm, 1);
    if (e->precision)
        setenv("HRM_CPU_PRECISION", e->precision, 1);
    else
        unsetenv("HRM_CPU_PRECISION");
    hrm_host host = {.struct_size = sizeof host, .num_threads = threads};
    if (e->f->create(&host, &e->be) != HRM_OK || e->f->device_open(e->be, 0, &e->dev) != HRM_OK) {
        fprintf(stderr, "bench_gemm: %s: %s\n", e->label, e->be ? e->f->last_error(e->be) : "create failed");
        return 0;
    }
    if (e->p != HRM_PRECISION_HIGHEST && !(e->f->matmul_precisions(e->dev) & HRM_PRECISION_BIT(e->p))) {
        hrm_device_info info;
        e->f->device_info(e->be, 0, &info);
        fprintf(stderr, "bench_gemm: %s: not reported here (%s)\n", e->label, info.note);
        return 0;
    }
    if (e->f->buffer_alloc(e->dev, na * 4, &e->a) || e->f->buffer_alloc(e->dev, nb * 4, &e->b) ||
        e->f->buffer_alloc(e->dev, nc * 4, &e->c) || e->f->buffer_alloc(e->dev, ADD_N * 4, &e->x) ||
        e->f->buffer_fill(e->x, 0, ADD_N, 0.0f))
        return 0;
    float *x = malloc(na > nb ? na * 4 : nb * 4);
    uint64_t s = 1;
    for (size_t i = 0; i < (na > nb ? na : nb); i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(s >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
    }
    e->f->buffer_write(e->a, 0, x, na * 4);
    e->f->buffer_write(e->b, 0, x, nb * 4);
    e->f->buffer_fill(e->c, 0, nc, 0.0f);
    free(x);
    return 1;
}

static hrm_status run(engine *e, const shape *s) {
    hrm_matmul_args a = {.trans_a = s->ta,
                         .trans_b = s->tb,
                         .m = s->m,
                         .n = s->n,
                         .k = s->k,
                         .alpha = 1,
                         .beta = s->beta,
                         .a = {e->a, 0},
                         .lda = s->lda,
                         .stride_a = s->sa,
                         .b = {e->b, 0},
                         .ldb = s->ldb,
                         .stride_b = s->sb,
                         .c = {e->c, 0},
                         .ldc = s->ldc,
                         .stride_c = s->sc,
                         .batch = s->batch};
    return e->p == HRM_PRECISION_HIGHEST ? e->f->matmul(e->dev, &a) : e->f->matmul_precision(e->dev, &a, e->p);
}

int main(int argc, char **argv) {
    int batch = 8, reps = 7, threads = 0, passes = 2, best = 0;
    const char *path = CPU_PLUGIN, *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--passes") && i + 1 < argc)
            passes = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--best"))
            best = 1;
        else if (!strcmp(argv[i], "--engines") && i + 1 < argc)
            only = argv[++i];
        else if (argv[i][0] != '-')
            path = argv[i];
        else {
            fprintf(stderr,
                    "usage: %s [--batch 8] [--reps 7] [--passes 2] [--threads 0] [--engines a,b] [--best] "
                    "[plugin.so]\n",
                    argv[0]);
            return 2;
        }
    }
    if (batch < 1 || reps < 1 || passes < 1) return 2;
    shape shapes[16];
    int ns = shapes_for(batch, shapes);
    size_t na = 0, nb = 0, nc = 0;
    for (int i = 0; i < ns; i++) {
        const shape *s = &shapes[i];
        size_t a = extent(s->batch, s->sa, s->ta ? s->k : s->m, s->lda);
        size_t b = extent(s->batch, s->sb, s->tb ? s->n : s->k, s->ldb);
        size_t c = extent(s->batch, s->sc, s->m, s->ldc);
        na = a > na ? a : na, nb = b > nb ? b : nb, nc = c > nc ? c : nc;
    }
    engine all[] = {
        {.label = "onednn", .gemm = "onednn"},
        {.label = "slices", .gemm = "slices"},
        {.label = "mixed", .gemm = "mixed"},
        {.label = "openblas", .gemm = "openblas"},
        {.label = "onednn-omp", .gemm = "onednn-omp"},
        {.label = "bf16 emul", .gemm = "slices", .precision = "emulate", .p = HRM_PRECISION_MEDIUM},
        {.label = "bf16 native", .gemm = "onednn", .precision = "native", .p = HRM_PRECISION_MEDIUM},
    };
    engine *eng[6];
    int ne = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (!only || strstr(only, all[i].label)) /* "onednn" also selects onednn-omp */
            if (open_engine(path, threads, &all[i], na, nb, nc)) eng[ne++] = &all[i];
    if (!ne) return 1;
    hrm_device_info info;
    eng[0]->f->device_info(eng[0]->be, 0, &info);
    printf("bench_gemm: %s; %s; batch %d (rows %d), %s of %d calls in %d blocks, GFLOP/s\n", info.name, info.note,
           batch, batch * 82, best ? "best" : "median", passes * reps, passes);
    printf("%-14s %-22s", "product", "m x n x k");
    for (int e = 0; e < ne; e++) printf(" %11s", eng[e]->label);
    printf("\n");
    /* Engine after engine, each over all shapes, the order then reversed: engines that take turns
     * call by call measure each other's idle threads (OpenBLAS's spin for ~2^28 cycles after a
     * call, libgomp's for GOMP_SPINCOUNT rounds), which a process running one engine never sees.
     * A pause between blocks lets those threads go to sleep. */
    /* Row ns: the whole sequence of products, each followed by an `add` of 656x512 elements (a
     * residual connection; the pool's threads run it), as in a training step where element-wise
     * ops and products alternate: an engine whose idle threads spin after a product (OpenBLAS's,
     * libgomp's) slows the pool's op that follows, which the per-shape rows never show. */
    double *t = calloc((size_t)ne * (size_t)(ns + 1) * (size_t)passes * (size_t)reps, sizeof(double));
    for (int pass = 0; pass < passes; pass++)
        for (int o = 0; o < ne; o++) {
            int e = pass % 2 ? ne - 1 - o : o;
            nanosleep(&(struct timespec){0, 300000000}, NULL);
            for (int i = 0; i <= ns; i++) {
                if (i == ns) { /* the alternating sequence */
                    for (int r = 0; r < reps; r++) {
                        double t0 = now_s();
                        for (int j = 0; j < ns; j++) {
                            hrm_add_args ad = {
                                .n = ADD_N, .out = {eng[e]->x, 0}, .a = {eng[e]->x, 0}, .b = {eng[e]->x, 0}};
                            if (run(eng[e], &shapes[j]) != HRM_OK || eng[e]->f->add(eng[e]->dev, &ad) != HRM_OK) {
                                fprintf(stderr, "bench_gemm: %s: %s\n", eng[e]->label,
                                        eng[e]->f->last_error(eng[e]->be));
                                return 1;
                            }
                        }
                        t[(((size_t)e * (ns + 1) + i) * passes + pass) * reps + r] = now_s() - t0;
                    }
                    continue;
                }
                run(eng[e], &shapes[i]); /* warm-up: primitives, caches */
                for (int r = 0; r < reps; r++) {
                    double t0 = now_s();
                    hrm_status st = run(eng[e], &shapes[i]);
                    t[(((size_t)e * (ns + 1) + i) * passes + pass) * reps + r] = now_s() - t0;
                    if (st != HRM_OK) {
                        fprintf(stderr, "bench_gemm: %s %s: %s\n", eng[e]->label, shapes[i].name,
                                eng[e]->f->last_error(eng[e]->be));
                        return 1;
                    }
                }
            }
        }
    double *total = calloc((size_t)ne, sizeof(double));
    for (int i = 0; i < ns; i++) {
        const shape *s = &shapes[i];
        char dims[64];
        snprintf(dims, sizeof dims, "%dx%dx%d %c%c%s", s->m, s->n, s->k, s->ta ? 'T' : 'N', s->tb ? 'T' : 'N',
                 s->batch > 1 ? " b" : "");
        if (s->batch > 1) snprintf(dims + strlen(dims), sizeof dims - strlen(dims), "%d", s->batch);
        printf("%-14s %-22s", s->name, dims);
        double flops = 2.0 * s->m * s->n * s->k * s->batch;
        for (int e = 0; e < ne; e++) {
            size_t cnt = (size_t)passes * (size_t)reps;
            double *ti = &t[((size_t)e * (ns + 1) + i) * cnt];
            qsort(ti, cnt, sizeof(double), cmp_double);
            double med = best ? ti[0] : ti[cnt / 2];
            total[e] += med;
            printf(" %11.1f", flops / med * 1e-9);
        }
        printf("\n");
    }
    printf("%-37s", best ? "sum of bests (ms)" : "sum of medians (ms)");
    for (int e = 0; e < ne; e++) printf(" %11.2f", 1e3 * total[e]);
    printf("\n%-37s", "products + adds in turn (ms)");
    for (int e = 0; e < ne; e++) {
        size_t cnt = (size_t)passes * (size_t)reps;
        double *ti = &t[((size_t)e * (ns + 1) + ns) * cnt];
        qsort(ti, cnt, sizeof(double), cmp_double);
        printf(" %11.2f", 1e3 * (best ? ti[0] : ti[cnt / 2]));
    }
    printf("\n");
    return 0;
}
