/* tools/procs.h - the processes of one job (docs/ARCHITECTURE.md "Several processes"): under
 * mpirun or srun, `hrm train` and `hrm eval` run as N cooperating processes over MPI (built with
 * -Dmpi, Debian's libopenmpi-dev); started any other way, or N = 1, as one process with no MPI at
 * all. procs.c is the only file that includes mpi.h; the core sees the collectives through
 * hrm_dist (core/act.h). */
#ifndef HRM_TOOLS_PROCS_H
#define HRM_TOOLS_PROCS_H
#include "hrm_internal.h"

#include <stdbool.h>

typedef struct procs {
    int rank, size, local_rank; /* 0, 1, 0 for one process */
    bool mpi;                   /* MPI_Init ran */
    char prog[256];             /* the program name for lines: "hrm train" or "hrm train: rank R of N" */
    hrm_dist dist;              /* size > 1 only */
    int saved_stderr;           /* procs_quiet: fd 2 while silenced, else -1 */
} procs;

/* Detects a launcher from its environment (Open MPI's OMPI_COMM_WORLD_SIZE, PMI's PMI_SIZE,
 * PMIx's PMIX_RANK, srun's SLURM_STEP_NUM_TASKS) and, when there is one and MPI was built,
 * initialises MPI. Returns 0, or 1 after one line: launched as N > 1 processes by a build
 * without MPI, or MPI failed to start. */
int procs_init(const char *prog, procs *p);
/* MPI_Finalize when it ran. */
void procs_finalize(procs *p);
/* Ends the whole job after a failure of this process: with N > 1, MPI_Abort (every process ends;
 * the failing one has written its line, naming its rank through p->prog); else returns rc. */
int procs_fail(procs *p, int rc);
/* Lines that every process would write alike (a bad option): on processes other than rank 0,
 * stderr goes to /dev/null between procs_quiet(p, true) and procs_quiet(p, false). */
void procs_quiet(procs *p, bool quiet);
/* The largest of every process's x (the first signal's number, a failure code). */
int procs_max_int(procs *p, int x);
/* Sums x [n] over the processes in place; 0, or 1 after one line. */
int procs_sum(procs *p, double *x, int n);
/* Every process waits for all the others. */
void procs_barrier(procs *p);
#endif /* HRM_TOOLS_PROCS_H */
