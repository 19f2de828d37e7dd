#!/usr/bin/env bash
# test-mma-races.sh EXE - runs test_mma_races (the portable mma kernel at tf32 and bf16, checked
# against the host) under Oclgrind's data-race detector, twice: at the H200's limits (work-groups of
# 256, 48 KiB of local memory: tiles of 128 x 128, 8 warps) and at smaller ones (128, 32 KiB: tiles
# of 64 x 64, 4 warps). Fails when a result is wrong, Oclgrind reports any race or error, or the
# tiles are not the ones those limits call for; skips (77) without Oclgrind (Debian: oclgrind).
set -uo pipefail
exe="$1"
command -v oclgrind >/dev/null 2>&1 || { echo "oclgrind not installed: skipped"; exit 77; }
log="${TMPDIR:-/tmp}/hrm-mma-races.$$.log"
out="${TMPDIR:-/tmp}/hrm-mma-races.$$.out"
trap 'rm -f "$log" "$out"' EXIT
export HRM_OPENCL_MMA=portable HRM_OPENCL_TEST_MMA_UNVALIDATED=1
unset HRM_OPENCL_LOCAL_MEM_KB HRM_OPENCL_TEST_CORRUPT_MMA
status=0
for limits in "256 49152 128" "128 32768 64"; do
    set -- $limits
    echo "== oclgrind: work-groups of at most $1, $2 bytes of local memory (tiles of $3 x $3)"
    oclgrind --data-races --max-wgsize "$1" --local-mem-size "$2" --log "$log" "$exe" >"$out" 2>&1
    rc=$?
    cat "$out"
    if [ $rc -ne 0 ]; then
        echo "test_mma_races failed under oclgrind (exit status $rc)"
        status=1
    elif ! grep -q "tiles of $3 x $3" "$out"; then
        echo "not the tiles of $3 x $3"
        status=1
    fi
    if grep -Eiq "race|error|invalid" "$log"; then
        head -40 "$log"
        echo "oclgrind reported the above"
        status=1
    fi
done
exit $status
