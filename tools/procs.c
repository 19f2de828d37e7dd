/* tools/procs.c - procs.h over MPI (when built with it) or a single process. */
#include "procs.h"
#include "cli.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HRM_HAVE_MPI
#include <mpi.h>
#endif

/* The number of processes a launcher says it started, 0 when none did. */
static int launched_size(void) {
    const char *names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_STEP_NUM_TASKS"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *v = getenv(names[i]);
        if (v && atoi(v) > 0) return atoi(v);
    }
    return getenv("PMIX_RANK") ? 1 : 0; /* PMIx without a size: MPI will tell */
}

#ifdef HRM_HAVE_MPI
static int mpi_failed(int rc, char *err, size_t err_size) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "MPI error %d", rc);
    snprintf(err, err_size, "MPI: %s", text);
    return 1;
}

static int allreduce_f32(void *user, float *x, size_t n, char *err, size_t err_size) {
    (void)user;
    /* in pieces below INT_MAX elements */
    for (size_t at = 0; at < n; at += 1 << 30) {
        int count = (int)(n - at < (size_t)1 << 30 ? n - at : (size_t)1 << 30);
        int rc = MPI_Allreduce(MPI_IN_PLACE, x + at, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_failed(rc, err, err_size);
    }
    return 0;
}

static int allreduce_f64(void *user, double *x, size_t n, char *err, size_t err_size) {
    (void)user;
    int rc = MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : mpi_failed(rc, err, err_size);
}

static int allgather(void *user, const void *in, size_t bytes, void *out, char *err, size_t err_size) {
    (void)user;
    if (bytes > (size_t)1 << 30) return snprintf(err, err_size, "allgather of %zu bytes: too large", bytes), 1;
    int rc = MPI_Allgather(in, (int)bytes, MPI_BYTE, out, (int)bytes, MPI_BYTE, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : mpi_failed(rc, err, err_size);
}

static int gather0(void *user, void *buf, size_t bytes, char *err, size_t err_size) {
    procs *p = user;
    /* in pieces of at most 1 GiB per process, each a gather into rank 0's buffer */
    size_t piece = (size_t)1 << 30;
    for (size_t at = 0; at < bytes; at += piece) {
        int n = (int)(bytes - at < piece ? bytes - at : piece);
        char *mine = (char *)buf + (size_t)p->rank * bytes + at;
        int rc;
        if (p->rank == 0) {
            /* rank r's piece lands at buf + r * bytes + at: a datatype of n bytes with a stride */
            MPI_Datatype t, resized;
            MPI_Type_contiguous(n, MPI_BYTE, &t);
            MPI_Type_create_resized(t, 0, (MPI_Aint)bytes, &resized);
            MPI_Type_commit(&resized);
            rc = MPI_Gather(MPI_IN_PLACE, n, MPI_BYTE, (char *)buf + at, 1, resized, 0, MPI_COMM_WORLD);
            MPI_Type_free(&resized);
            MPI_Type_free(&t);
        } else {
            rc = MPI_Gather(mine, n, MPI_BYTE, NULL, 0, MPI_BYTE, 0, MPI_COMM_WORLD);
        }
        if (rc != MPI_SUCCESS) return mpi_failed(rc, err, err_size);
    }
    return 0;
}
#endif

int procs_init(const char *prog, procs *p) {
    memset(p, 0, sizeof *p);
    p->size = 1;
    p->saved_stderr = -1;
    snprintf(p->prog, sizeof p->prog, "%s", prog);
    int launched = launched_size();
#ifdef HRM_HAVE_MPI
    /* one process of srun without a PMI (srun --mpi=none -n 1) needs no MPI */
    if (!launched || (launched == 1 && !getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE") && !getenv("PMIX_RANK")))
        return 0;
    int provided = 0, rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) {
        cli_error(prog, "started by an MPI launcher, but MPI_Init failed (error %d)", rc);
        return 1;
    }
    p->mpi = true;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &p->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &p->size);
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, p->rank, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
        MPI_Comm_rank(local, &p->local_rank);
        MPI_Comm_free(&local);
    }
    if (p->size > 1) {
        snprintf(p->prog, sizeof p->prog, "%s: rank %d of %d", prog, p->rank, p->size);
        p->dist = (hrm_dist){.rank = p->rank,
                             .size = p->size,
                             .user = p,
                             .allreduce_f32 = allreduce_f32,
                             .allreduce_f64 = allreduce_f64,
                             .allgather = allgather,
                             .gather0 = gather0};
    }
    return 0;
#else
    if (launched > 1) {
        cli_error(prog,
                  "started as one of %d processes (mpirun or srun), but this build has no MPI: rebuild with "
                  "libopenmpi-dev installed (meson -Dmpi=enabled), or run one process",
                  launched);
        return 1;
    }
    return 0;
#endif
}

void procs_finalize(procs *p) {
    procs_quiet(p, false);
#ifdef HRM_HAVE_MPI
    if (p->mpi) MPI_Finalize();
#endif
    p->mpi = false;
}

int procs_fail(procs *p, int rc) {
#ifdef HRM_HAVE_MPI
    if (p->mpi && p->size > 1) {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, rc ? rc : 1);
    }
#endif
    return rc;
}

void procs_quiet(procs *p, bool quiet) {
    if (quiet && p->rank != 0 && p->saved_stderr < 0) {
        int null = open("/dev/null", O_WRONLY);
        fflush(stderr);
        p->saved_stderr = dup(2);
        if (null >= 0) dup2(null, 2), close(null);
    } else if (!quiet && p->saved_stderr >= 0) {
        fflush(stderr);
        dup2(p->saved_stderr, 2);
        close(p->saved_stderr);
        p->saved_stderr = -1;
    }
}

int procs_max_int(procs *p, int x) {
#ifdef HRM_HAVE_MPI
    if (p->mpi && p->size > 1) {
        int y = x;
        if (MPI_Allreduce(&x, &y, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) == MPI_SUCCESS) return y;
        cli_error(p->prog, "MPI_Allreduce failed: ending the job");
        procs_fail(p, 1);
    }
#else
    (void)p;
#endif
    return x;
}

int procs_sum(procs *p, double *x, int n) {
    char err[512];
    if (p->size <= 1) return 0;
    if (p->dist.allreduce_f64(p->dist.user, x, (size_t)n, err, sizeof err)) return cli_error(p->prog, "%s", err), 1;
    return 0;
}

void procs_barrier(procs *p) {
#ifdef HRM_HAVE_MPI
    if (p->mpi && p->size > 1) MPI_Barrier(MPI_COMM_WORLD);
#else
    (void)p;
#endif
}
