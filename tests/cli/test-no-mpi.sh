#!/bin/bash
# tests/cli/test-no-mpi.sh HRM DATA - a build without MPI (-Dmpi=disabled, or no libopenmpi-dev):
# `hrm train` and `hrm eval` started as one of several processes (a launcher's variables: Open MPI's
# OMPI_COMM_WORLD_SIZE, PMI's PMI_SIZE, srun's SLURM_STEP_NUM_TASKS) refuse with one line and
# exit 1 instead of training N unsynchronised copies; as 1 of 1 they run as usual.
set -uo pipefail
hrm=$1
data=$2
. "$(dirname "$0")/test-lib.sh"
export HRM_THREADS=1
base="data_path=$data arch.hidden_size=16 arch.num_heads=2 arch.H_layers=1 arch.L_layers=1 global_batch_size=6 epochs=20 max_steps=1"
for var in OMPI_COMM_WORLD_SIZE PMI_SIZE SLURM_STEP_NUM_TASKS; do
    expect_exit "train with $var=2" 1 env "$var=2" "$hrm" train $base checkpoint_path="$tmp/x"
    grep -q "started as one of 2 processes (mpirun or srun), but this build has no MPI" "$tmp/err" ||
        fail "train with $var=2: $(cat "$tmp/err")"
    [ -e "$tmp/x" ] && fail "a refused run created its folder"
done
expect_exit "eval with OMPI_COMM_WORLD_SIZE=3" 1 env OMPI_COMM_WORLD_SIZE=3 "$hrm" eval --checkpoint "$tmp/none" --data "$data"
OMPI_COMM_WORLD_SIZE=1 "$hrm" train $base checkpoint_path="$tmp/one" >/dev/null 2>"$tmp/err" && [ -e "$tmp/one/step_1.safetensors" ] &&
    ok "as 1 of 1 process: trains" || fail "OMPI_COMM_WORLD_SIZE=1: $(cat "$tmp/err")"
finish
