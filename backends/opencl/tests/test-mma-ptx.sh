#!/usr/bin/env bash
# test-mma-ptx.sh MMA_CL - compiles kernels/mma.cl's PTX variant (-DHRM_MMA_PTX=1) with clang's
# OpenCL front end for NVIDIA (-target nvptx64-nvidia-nvcl, sm_80), the nearest this machine has to
# NVIDIA's own OpenCL compiler: the inline PTX must pass clang's asm constraint checks, and the PTX
# must hold the instructions the design calls for. For both tile sizes (128: 2 x 4 warps of 4 x 4
# fragments; 64: 2 x 2 warps of 2 x 4) and with and without the cvt roundings (HRM_MMA_PTX_CVT):
#   - per kernel, 2 instruction k-steps x fragments mma.sync of its precision, nothing else;
#   - no local-memory stack frame (the accumulators, fragments and staging stay in registers);
#   - the shared tiles of 4 x BM x 80 bytes and no exchange area (that is the portable variant's);
#   - with cvt: cvt.rna.tf32.f32 for the staged tf32 words, cvt.rn.bf16x2.f32 for the bf16 ones.
# clang wants __asm__ where NVIDIA's compiler takes asm (the host retries with it too). What this
# cannot check: ptxas (register count, spills), NVIDIA's front end, and of course the results.
# Skips (77) without a clang that targets nvptx.
set -uo pipefail
src="$1"
cc=""
for c in clang clang-15 clang-14 clang-16 clang-17 clang-18; do
    if command -v "$c" >/dev/null 2>&1 &&
        echo 'kernel void k(global int *x) { *x = 1; }' | "$c" -x cl -cl-std=CL1.2 -target nvptx64-nvidia-nvcl \
            -Xclang -target-cpu -Xclang sm_80 -S -o /dev/null - >/dev/null 2>&1; then
        cc=$c
        break
    fi
done
[ -n "$cc" ] || { echo "no clang with the nvptx target: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
fail() { echo "FAILED: $*"; status=1; }
for bm in 128 64; do
    if [ "$bm" = 128 ]; then frags=16; else frags=8; fi
    for cvt in 1 0; do
        what="tiles $bm, HRM_MMA_PTX_CVT=$cvt ($cc)"
        ptx="$tmp/mma-$bm-$cvt.ptx"
        if ! "$cc" -x cl -cl-std=CL1.2 -target nvptx64-nvidia-nvcl -Xclang -target-cpu -Xclang sm_80 -O2 -Wall -Werror \
            -Xclang -finclude-default-header -DHRM_MMA_PTX=1 -DHRM_MMA_ASM=__asm__ -DHRM_MMA_BM="$bm" \
            -DHRM_MMA_PTX_CVT="$cvt" -S "$src" -o "$ptx" 2>"$tmp/err"; then
            cat "$tmp/err"
            fail "$what: does not compile"
            continue
        fi
        # split the PTX per kernel: lines from ".entry NAME" to the next ".entry"
        for k in tf32 bf16; do
            awk -v k="hrm_mma_$k(" '/^\.entry /{on = index($0, k) > 0} on' "$ptx" >"$tmp/$k.ptx"
        done
        n=$(grep -c 'mma\.sync\.aligned\.m16n8k8\.row\.col\.f32\.tf32\.tf32\.f32' "$tmp/tf32.ptx")
        [ "$n" -eq $((2 * frags)) ] || fail "$what: hrm_mma_tf32 has $n tf32 mma.sync, not $((2 * frags))"
        n=$(grep -c 'mma\.sync\.aligned\.m16n8k16\.row\.col\.f32\.bf16\.bf16\.f32' "$tmp/bf16.ptx")
        [ "$n" -eq $((2 * frags)) ] || fail "$what: hrm_mma_bf16 has $n bf16 mma.sync, not $((2 * frags))"
        n=$(grep -c 'mma\.sync' "$ptx")
        [ "$n" -eq $((4 * frags)) ] || fail "$what: $n mma.sync in all, not $((4 * frags))"
        grep -q 'local_depot\|\.local ' "$ptx" && fail "$what: a local-memory stack frame (registers spilled to memory)"
        n=$(grep -c "\.shared \.align 16 \.b8 .*\[$((4 * bm * 80))\]" "$ptx")
        [ "$n" -eq 2 ] || fail "$what: not one shared array of $((4 * bm * 80)) bytes per kernel"
        [ "$(grep -c '^[[:space:]]*\.shared' "$ptx")" -eq 2 ] || fail "$what: shared memory beyond the tiles"
        if [ "$cvt" = 1 ]; then # (the compiler may copy the load code per layout: at least one per word)
            n=$(grep -c 'cvt\.rna\.tf32\.f32' "$tmp/tf32.ptx")
            [ "$n" -ge 32 ] || fail "$what: $n cvt.rna.tf32.f32 in hrm_mma_tf32, not 32 or more (2 x 2 units x 4 words x 2)"
            n=$(grep -c 'cvt\.rn\.bf16x2\.f32' "$tmp/bf16.ptx")
            [ "$n" -ge 32 ] || fail "$what: $n cvt.rn.bf16x2.f32 in hrm_mma_bf16, not 32 or more"
            grep -q 'cvt\.rn\.bf16x2' "$tmp/tf32.ptx" && fail "$what: bf16 conversions in the tf32 kernel"
        else
            grep -q 'cvt\.rna\.tf32\|cvt\.rn\.bf16x2' "$ptx" && fail "$what: cvt without HRM_MMA_PTX_CVT"
        fi
        echo "ok: $what: $((4 * frags)) mma.sync, no stack frame, $((4 * bm * 80)) bytes of shared tiles per kernel"
    done
done
exit $status
