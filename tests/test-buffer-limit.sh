#!/usr/bin/env bash
# tests/test-buffer-limit.sh HRM DATA BACKEND... - training and evaluation on a device whose
# buffers are limited in size. A real device limits one buffer (OpenCL's
# CL_DEVICE_MAX_MEM_ALLOC_SIZE, and CLBlast's 32-bit offsets: below 2^31 floats, 8 GiB); the
# model's activations of the published Sudoku batch 768 take 15 GB, so the core splits them over
# several buffers, none past the backend's max_buffer_bytes. Each backend's test cap
# (HRM_CPU_MAX_BUFFER_KB, HRM_OPENCL_MAX_BUFFER_KB) plays such a device with the tiny model of
# DATA (tests/golden/data), whose activations take about 1 MiB:
#   - 256 KiB buffers (the activations in 5): `hrm train` writes byte-identical checkpoints and
#     optimizer state to the run without a cap, and `hrm eval` prints the same metrics;
#   - 128 KiB, below the largest activation tensor: one line saying the batch is too large for
#     the device and which batch fits, a non-zero exit, no checkpoint;
#   - 64 KiB, below the parameters: the backend's buffer_alloc refuses them in one line.
# Under the AddressSanitizer build (CPU backend) a tensor carved across a buffer's end is caught.
set -uo pipefail
hrm=$1
data=$2
shift 2
. "$(dirname "$0")/cli/test-lib.sh"
for b in "$@"; do need_backend "$hrm" "$b"; done

export HRM_THREADS=2
unset HRM_BACKEND HRM_OPENCL_MAX_ALLOC_MB HRM_CPU_MAX_BUFFER_KB HRM_OPENCL_MAX_BUFFER_KB
common="data_path=$data arch.hidden_size=16 arch.num_heads=2 arch.H_layers=1 arch.L_layers=1 arch.halt_max_steps=4
        global_batch_size=6 lr=1e-2 lr_warmup_steps=2 epochs=20 max_steps=8 eval_interval=20
        data_shuffle=false seed=5"

for b in "$@"; do
    case $b in
    cpu) cap=HRM_CPU_MAX_BUFFER_KB ;;
    opencl) cap=HRM_OPENCL_MAX_BUFFER_KB ;;
    *) fail "unknown backend $b" && continue ;;
    esac
    # shellcheck disable=SC2086
    "$hrm" train $common backend="$b" checkpoint_path="$tmp/$b-whole" >"$tmp/out" 2>"$tmp/err" ||
        fail "$b: training without a cap failed: $(cat "$tmp/err")"
    # shellcheck disable=SC2086
    env "$cap=256" "$hrm" train $common backend="$b" checkpoint_path="$tmp/$b-split" >"$tmp/out" 2>"$tmp/err" ||
        fail "$b: training with $cap=256 failed: $(cat "$tmp/err")"
    grep -q "^backend $b, device 0: .*(activations in [2-9] buffers" "$tmp/out" ||
        fail "$b: with $cap=256 the activations were not split: $(grep '^backend' "$tmp/out")"
    for f in step_8.safetensors step_8.state; do
        if cmp -s "$tmp/$b-whole/$f" "$tmp/$b-split/$f"; then
            echo "ok: $b: $f is byte-identical with the activations split over 256 KiB buffers"
        else
            fail "$b: $f differs (or is missing) with $cap=256"
        fi
    done
    for run in whole split; do
        c=0
        [ "$run" = split ] && c=256
        if [ "$c" -gt 0 ]; then
            env "$cap=$c" "$hrm" eval --backend "$b" --checkpoint "$tmp/$b-whole/step_8.safetensors" --data "$data" \
                >"$tmp/eval-$run" 2>"$tmp/err" || fail "$b: eval with $cap=$c failed: $(cat "$tmp/err")"
        else
            "$hrm" eval --backend "$b" --checkpoint "$tmp/$b-whole/step_8.safetensors" --data "$data" \
                >"$tmp/eval-$run" 2>"$tmp/err" || fail "$b: eval failed: $(cat "$tmp/err")"
        fi
    done
    grep -q exact_accuracy "$tmp/eval-whole" || fail "$b: eval printed no metrics"
    # the rate is the only line allowed to differ
    grep -v samples_per_s "$tmp/eval-whole" >"$tmp/m-whole"
    grep -v samples_per_s "$tmp/eval-split" >"$tmp/m-split"
    if cmp -s "$tmp/m-whole" "$tmp/m-split"; then
        echo "ok: $b: hrm eval prints the same metrics with split activations"
    else
        fail "$b: hrm eval metrics differ with $cap=256: $(cat "$tmp/eval-whole") vs $(cat "$tmp/eval-split")"
    fi
    # shellcheck disable=SC2086
    env "$cap=128" "$hrm" train $common backend="$b" checkpoint_path="$tmp/$b-small" >"$tmp/out" 2>"$tmp/err"
    rc=$? before=$fails
    [ "$rc" -ne 0 ] || fail "$b: a cap below the largest tensor exited 0"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$b: want one error line, got: $(cat "$tmp/err")"
    grep -q "batch 6 is too large for this device.*batches up to about [0-9]* fit" "$tmp/err" ||
        fail "$b: the error does not say which batch fits: $(cat "$tmp/err")"
    ls "$tmp/$b-small"/step_* >/dev/null 2>&1 && fail "$b: a checkpoint was written by the refused run"
    [ "$fails" -eq "$before" ] && echo "ok: $b: $cap=128 -> $(cat "$tmp/err")"
    # 64 KiB: the parameters (106 KiB, one buffer the optimizer walks) meet the backend's refusal
    # shellcheck disable=SC2086
    expect_exit "$b: $cap=64, parameters over the cap" nz env "$cap=64" "$hrm" train $common backend="$b" \
        checkpoint_path="$tmp/$b-tiny"
    grep -q "allocating parameters.*bytes is over the largest buffer" "$tmp/err" ||
        fail "$b: the refusal does not name the parameters and the limit: $(cat "$tmp/err")"
done

[ "$fails" -eq 0 ] && echo "buffer limits: all passed"
finish
