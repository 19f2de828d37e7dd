/* cpu_pool.c - a persistent pthread pool with a parallel-for. Threads are started once per
 * backend instance. Between jobs a worker spins briefly (ops come back to back, and a futex
 * wake-up costs as much as a small op) and then sleeps on a condition variable, so that idle
 * threads do not burn a shared machine. The caller works as thread 0, so a pool of T threads
 * starts T-1. One job at a time: concurrent callers queue on `dispatch`. Per-thread scratch is
 * allocated per call by the ops, so a job small enough to run inline needs no lock. */
#include <stdatomic.h>
#include <stdlib.h>

#include "cpu_internal.h"

enum { SPIN_ROUNDS = 4000 }; /* tens of microseconds of pause instructions */

struct cpu_pool {
    int threads;
    pthread_t *workers;       /* threads - 1 of them */
    pthread_mutex_t dispatch; /* held by the caller for a whole job */
    pthread_mutex_t lock;     /* pairs with the condition variables */
    pthread_cond_t wake, done;
    atomic_uint_fast64_t generation; /* bumped (under lock) for each job */
    atomic_int pending;              /* workers still busy with the current job */
    atomic_int quit;
    /* the current job, written before generation is bumped */
    cpu_task_fn fn;
    void *ctx;
    int64_t n, grain;
    atomic_int_fast64_t next; /* first item not yet handed out */
};

typedef struct worker_arg {
    cpu_pool *pool;
    int thread;
} worker_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void run_chunks(cpu_pool *p, int thread) {
    for (;;) {
        int64_t begin = atomic_fetch_add(&p->next, p->grain);
        if (begin >= p->n) return;
        int64_t end = begin + p->grain < p->n ? begin + p->grain : p->n;
        p->fn(p->ctx, begin, end, thread);
    }
}

/* Waits until the generation differs from seen (or quit); returns the new generation. */
static uint64_t wait_for_job(cpu_pool *p, uint64_t seen) {
    for (int i = 0; i < SPIN_ROUNDS && atomic_load(&p->generation) == seen && !atomic_load(&p->quit); i++) cpu_relax();
    pthread_mutex_lock(&p->lock);
    while (atomic_load(&p->generation) == seen && !atomic_load(&p->quit)) pthread_cond_wait(&p->wake, &p->lock);
    pthread_mutex_unlock(&p->lock);
    return atomic_load(&p->generation);
}

static void *worker_main(void *arg) {
    worker_arg w = *(worker_arg *)arg;
    free(arg);
    cpu_pool *p = w.pool;
    uint64_t seen = 0; /* not p->generation: a job may have been posted before this thread ran */
    for (;;) {
        seen = wait_for_job(p, seen);
        if (atomic_load(&p->quit)) break;
        run_chunks(p, w.thread);
        if (atomic_fetch_sub(&p->pending, 1) == 1) {
            pthread_mutex_lock(&p->lock); /* the caller may be between its check and its wait */
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
    return NULL;
}

static void stop_workers(cpu_pool *p, int started) {
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < started; i++) pthread_join(p->workers[i], NULL);
}

static int start_workers(cpu_pool *p) {
    for (int i = 0; i < p->threads - 1; i++) {
        worker_arg *w = malloc(sizeof *w);
        if (!w) return i;
        *w = (worker_arg){.pool = p, .thread = i + 1};
        if (pthread_create(&p->workers[i], NULL, worker_main, w) != 0) {
            free(w);
            return i;
        }
    }
    return p->threads - 1;
}

cpu_pool *cpu_pool_create(int threads) {
    cpu_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->threads = threads < 1 ? 1 : threads;
    p->workers = calloc((size_t)p->threads, sizeof *p->workers);
    if (!p->workers) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->dispatch, NULL);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->generation, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->quit, 0);
    atomic_init(&p->next, 0);
    int started = start_workers(p);
    if (started < p->threads - 1) {
        stop_workers(p, started);
        p->threads = 1; /* so that destroy joins nothing more */
        cpu_pool_destroy(p);
        return NULL;
    }
    return p;
}

void cpu_pool_destroy(cpu_pool *p) {
    if (!p) return;
    if (p->threads > 1) stop_workers(p, p->threads - 1);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->dispatch);
    free(p->workers);
    free(p);
}

int cpu_pool_threads(const cpu_pool *p) { return p->threads; }

static void wait_for_workers(cpu_pool *p) {
    for (int i = 0; i < SPIN_ROUNDS && atomic_load(&p->pending) > 0; i++) cpu_relax();
    pthread_mutex_lock(&p->lock);
    while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

void cpu_pool_run(cpu_pool *p, int64_t n, int64_t grain, cpu_task_fn fn, void *ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (p->threads == 1 || n <= grain) {
        fn(ctx, 0, n, 0);
        return;
    }
    pthread_mutex_lock(&p->dispatch);
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->grain = grain;
    atomic_store(&p->next, 0);
    atomic_store(&p->pending, p->threads - 1);
    pthread_mutex_lock(&p->lock); /* a worker about to sleep either sees the bump or the broadcast */
    atomic_fetch_add(&p->generation, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    run_chunks(p, 0);
    wait_for_workers(p);
    pthread_mutex_unlock(&p->dispatch);
}

void cpu_parallel_for(cpu_pool *p, int64_t n, int64_t min_chunk, cpu_task_fn fn, void *ctx) {
    int64_t share = (n + p->threads - 1) / p->threads;
    cpu_pool_run(p, n, share > min_chunk ? share : min_chunk, fn, ctx);
}
