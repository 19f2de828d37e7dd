#!/usr/bin/env bash
# backends/opencl/tests/test-faults.sh HRM DATA - provokes the faults of the OpenCL backend through
# the `hrm` program and checks that each gives one clear line and a non-zero exit, or, under
# backend auto, a fall back to the CPU backend with a warning:
#   - no OpenCL platform (OCL_ICD_VENDORS pointing at an empty folder);
#   - device out of memory (HRM_OPENCL_MAX_ALLOC_MB, the plugin's allocation cap) when `hrm train`,
#     `hrm eval` and `hrm solve` allocate the model: under auto, the next backend is taken;
#   - a kernel that fails to build (HRM_OPENCL_BUILD_OPTIONS with a define that breaks a kernel);
#     the compiler's build log is shown before the error line;
#   - a device that fails the GEMM validation (HRM_OPENCL_TEST_CORRUPT_GEMM);
# DATA is the tiny dataset of tests/golden/data. The hooks are documented in ocl_backend.c.
# Under PoCL the OpenCL platform scores below the CPU backend, so `auto` picks cpu by itself;
# the auto cases set HRM_OPENCL_SCORE=20 (what a GPU platform scores) so that auto tries OpenCL
# first and the fall back is really exercised.
set -uo pipefail
hrm=$1
data=$2
. "$(dirname "$0")/../../../tests/cli/test-lib.sh"

export HRM_THREADS=2
unset HRM_BACKEND HRM_OPENCL_MAX_ALLOC_MB HRM_OPENCL_BUILD_OPTIONS HRM_OPENCL_SCORE HRM_OPENCL_TEST_CORRUPT_GEMM
# a tiny model (27k parameters) so that a run takes a fraction of a second
train="train data_path=$data arch.hidden_size=16 arch.num_heads=2 arch.H_layers=1 arch.L_layers=1
       arch.halt_max_steps=2 global_batch_size=6 epochs=20 max_steps=1"

# Runs "$@" with stdout and stderr in $tmp/out and $tmp/err; sets rc.
run() { "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; }

# The run must have failed (rc != 0, no crash: rc < 128) with, as the last stderr line, one
# line containing $2 (fixed text). Lines before it must be log lines ("hrm: ..." or a
# compiler's own line) unless $3 = one, which demands exactly one line on stderr.
expect_failure() {
    what=$1 want=$2 mode=${3:-}
    [ "$rc" -ne 0 ] || fail "$what: exit 0"
    [ "$rc" -lt 128 ] || fail "$what: killed by a signal (exit $rc)"
    last=$(tail -n 1 "$tmp/err")
    case "$last" in *"$want"*) ;; *) fail "$what: the last stderr line does not say '$want': $last" ;; esac
    if [ "$mode" = one ]; then
        lines=$(wc -l <"$tmp/err")
        [ "$lines" -eq 1 ] || fail "$what: $lines lines on stderr, want 1: $(cat "$tmp/err")"
    fi
    echo "ok: $what -> $last"
}

# ---- (a) no OpenCL platform: an ICD vendor folder without any .icd file ---------------------------
mkdir "$tmp/no-vendors"
export OCL_ICD_VENDORS="$tmp/no-vendors"
run "$hrm" backends
[ "$rc" -eq 0 ] || fail "hrm backends with no OpenCL platform: exit $rc (cpu is still usable)"
grep -q '^opencl  *declined ' "$tmp/out" || fail "hrm backends does not list opencl as declined: $(cat "$tmp/out")"
grep -qx '    reason: opencl: no OpenCL platform found' "$tmp/out" ||
    fail "hrm backends does not give the reason 'opencl: no OpenCL platform found': $(cat "$tmp/out")"
grep -q '^cpu  *usable ' "$tmp/out" || fail "hrm backends with no OpenCL platform lost cpu"
echo "ok: hrm backends -> $(grep -A2 '^opencl' "$tmp/out" | tail -n 1)"

run "$hrm" bench ops --backend opencl --quick
expect_failure "bench ops --backend opencl, no platform" "opencl: no OpenCL platform found" one
[ -s "$tmp/out" ] && fail "bench ops with no platform wrote to stdout"
run "$hrm" $train backend=opencl checkpoint_path="$tmp/run-a"
expect_failure "train backend=opencl, no platform" "opencl: no OpenCL platform found" one
run "$hrm" $train backend=auto checkpoint_path="$tmp/run-a-auto"
[ "$rc" -eq 0 ] || fail "train backend=auto with no OpenCL platform: exit $rc: $(cat "$tmp/err")"
grep -q '^backend cpu, device 0' "$tmp/out" || fail "train backend=auto with no platform did not run on cpu"
unset OCL_ICD_VENDORS

# ---- (b) out of device memory: the allocation cap ------------------------------------------------------
export HRM_OPENCL_MAX_ALLOC_MB=1
run "$hrm" $train backend=opencl checkpoint_path="$tmp/run-b"
expect_failure "train backend=opencl, 1 MiB cap" "out of device memory" one
grep -q "HRM_OPENCL_MAX_ALLOC_MB cap of 1 MiB" "$tmp/err" || fail "the out-of-memory line does not name the cap"
[ -e "$tmp/run-b/step_1.safetensors" ] && fail "train out of memory still wrote a checkpoint"
run "$hrm" bench train --backend opencl --model small --batch 2 --steps 1 --no-memory
expect_failure "bench train --backend opencl, 1 MiB cap" "out of device memory"
# auto with OpenCL preferred: the device opens (the cap counts model buffers, not the start-up
# checks) and the model does not fit; auto closes OpenCL before anything ran on it, says so in a
# warning and takes the next backend, cpu.
run env HRM_OPENCL_SCORE=20 "$hrm" $train backend=auto checkpoint_path="$tmp/run-b-auto"
[ "$rc" -eq 0 ] || fail "train backend=auto (OpenCL preferred), 1 MiB cap: exit $rc: $(cat "$tmp/err")"
grep -q '^backend cpu, device 0' "$tmp/out" || fail "train backend=auto did not fall back to cpu when out of memory"
grep -q 'warning: auto: skipping opencl: .*out of device memory' "$tmp/err" ||
    fail "train backend=auto fell back without a warning naming the out of memory: $(cat "$tmp/err")"
[ -e "$tmp/run-b-auto/step_1.safetensors" ] || fail "train backend=auto, 1 MiB cap: no checkpoint on cpu"
echo "ok: train auto falls back when out of memory -> $(grep 'auto: skipping' "$tmp/err" | cut -c1-120)..."
# hrm eval the same way, with the weights trained on cpu in (a)
ckpt="$tmp/run-a-auto/step_1.safetensors"
run "$hrm" eval --checkpoint "$ckpt" --data "$data" --backend opencl
expect_failure "eval --backend opencl, 1 MiB cap" "out of device memory" one
[ -s "$tmp/out" ] && fail "eval out of memory wrote to stdout"
run env HRM_OPENCL_SCORE=20 "$hrm" eval --checkpoint "$ckpt" --data "$data" --backend auto
[ "$rc" -eq 0 ] || fail "eval --backend auto (OpenCL preferred), 1 MiB cap: exit $rc: $(cat "$tmp/err")"
grep -q '"exact_accuracy"' "$tmp/out" || fail "eval --backend auto, 1 MiB cap printed no metrics: $(cat "$tmp/out")"
grep -q 'warning: auto: skipping opencl: .*out of device memory' "$tmp/err" ||
    fail "eval --backend auto fell back without a warning naming the out of memory: $(cat "$tmp/err")"
echo "ok: eval auto falls back when out of memory"
# hrm solve (the solver API) the same way: its model holds one puzzle, so the weights themselves
# must exceed the cap: a Sudoku model of hidden 128 (about 0.4 M parameters, 1.6 MB), trained one
# step on cpu
s=$tmp/sudoku
mkdir -p "$s"
if "$hrm" data generate sudoku --count 12 --givens 70 --seed 3 --out "$s/p.csv" >/dev/null 2>&1 &&
    "$hrm" data build sudoku --train "$s/p.csv" --holdout 2 --out "$s/data" >/dev/null 2>&1 &&
    "$hrm" train data_path="$s/data" arch.hidden_size=128 arch.num_heads=2 arch.H_layers=1 arch.L_layers=1 \
        arch.halt_max_steps=2 global_batch_size=4 epochs=10 max_steps=1 backend=cpu checkpoint_path="$s/run" \
        >/dev/null 2>&1; then
    puzzle=$(sed -n 2p "$s/p.csv" | cut -d, -f2)
    run "$hrm" solve --checkpoint "$s/run/step_1.safetensors" --backend opencl "$puzzle"
    expect_failure "solve --backend opencl, 1 MiB cap" "out of device memory" one
    run env HRM_OPENCL_SCORE=20 "$hrm" solve --checkpoint "$s/run/step_1.safetensors" --backend auto "$puzzle"
    [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || fail "solve --backend auto (OpenCL preferred), 1 MiB cap: exit $rc: $(cat "$tmp/err")"
    grep -q '^verdict: ' "$tmp/out" || fail "solve --backend auto, 1 MiB cap printed no verdict: $(cat "$tmp/out")"
    grep -q 'warning: auto: skipping opencl: .*out of device memory' "$tmp/err" ||
        fail "solve --backend auto fell back without a warning naming the out of memory: $(cat "$tmp/err")"
    echo "ok: solve auto falls back when out of memory"
else
    fail "could not make the Sudoku checkpoint for the solve case"
fi
# a cap large enough for the tiny model: the run completes on OpenCL
export HRM_OPENCL_MAX_ALLOC_MB=64
run "$hrm" $train backend=opencl checkpoint_path="$tmp/run-b-ok"
[ "$rc" -eq 0 ] || fail "train backend=opencl with a 64 MiB cap: exit $rc: $(cat "$tmp/err")"
unset HRM_OPENCL_MAX_ALLOC_MB

# ---- (c) a kernel that fails to build -----------------------------------------------------------------------
# hrm_add is the name of a kernel (kernels/elementwise.cl): defining it as 1 is a syntax error.
export HRM_OPENCL_BUILD_OPTIONS="-Dhrm_add=1"
run "$hrm" bench ops --backend opencl --quick
expect_failure "bench ops --backend opencl, kernel build error" "kernel build failed on"
grep -q 'CL_BUILD_PROGRAM_FAILURE' "$tmp/err" || fail "kernel build error: CL_BUILD_PROGRAM_FAILURE not named"
grep -q '^hrm: opencl: error: build log: .*error' "$tmp/err" || fail "kernel build error: no build log shown: $(cat "$tmp/err")"
run "$hrm" $train backend=opencl checkpoint_path="$tmp/run-c"
expect_failure "train backend=opencl, kernel build error" "kernel build failed on"
run env HRM_OPENCL_SCORE=20 "$hrm" $train backend=auto checkpoint_path="$tmp/run-c-auto"
[ "$rc" -eq 0 ] || fail "train backend=auto with an OpenCL build error: exit $rc: $(cat "$tmp/err")"
grep -q '^backend cpu, device 0' "$tmp/out" || fail "auto did not fall back to cpu after the build error"
grep -q 'warning: auto: skipping opencl: .*kernel build failed' "$tmp/err" ||
    fail "auto fell back without a warning naming the build failure: $(cat "$tmp/err")"
echo "ok: auto falls back after a build error -> $(grep 'auto: skipping' "$tmp/err" | cut -c1-120)..."
unset HRM_OPENCL_BUILD_OPTIONS

# ---- (d) a device that fails the GEMM validation ---------------------------------------------------------------
export HRM_OPENCL_TEST_CORRUPT_GEMM=1
run "$hrm" bench ops --backend opencl --quick
expect_failure "bench ops --backend opencl, GEMM validation fails" "fixed in CLBlast 1.6.3" one
grep -q 'failed GEMM validation' "$tmp/err" || fail "validation failure not named: $(cat "$tmp/err")"
run "$hrm" $train backend=opencl checkpoint_path="$tmp/run-d"
expect_failure "train backend=opencl, GEMM validation fails" "fixed in CLBlast 1.6.3" one
run env HRM_OPENCL_SCORE=20 "$hrm" $train backend=auto checkpoint_path="$tmp/run-d-auto"
[ "$rc" -eq 0 ] || fail "train backend=auto with a failing OpenCL device: exit $rc: $(cat "$tmp/err")"
grep -q '^backend cpu, device 0' "$tmp/out" || fail "auto did not fall back to cpu after the validation failure"
grep -q 'warning: auto: skipping opencl: .*failed GEMM validation' "$tmp/err" ||
    fail "auto fell back without a warning naming the validation failure: $(cat "$tmp/err")"
echo "ok: auto falls back after a failed validation"
unset HRM_OPENCL_TEST_CORRUPT_GEMM

# ---- the same device without hooks works (the faults above left nothing behind) -------------------
run "$hrm" $train backend=opencl checkpoint_path="$tmp/run-ok"
[ "$rc" -eq 0 ] || fail "train backend=opencl without hooks: exit $rc: $(cat "$tmp/err")"
grep -q '^backend opencl, device 0' "$tmp/out" || fail "train backend=opencl did not run on opencl"

[ "$fails" -eq 0 ] && echo "all OpenCL fault checks passed"
finish
