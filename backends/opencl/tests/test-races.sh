#!/usr/bin/env bash
# test-races.sh ORACLE_EXE - runs test_races (the kernels that share local memory, checked against
# the CPU backend) under Oclgrind's data-race detector, twice: with GPU-like limits (work-groups of
# 256, 32 KiB of local memory) and with small ones (64 work-items, 16 KiB: more, smaller tiles).
# Fails when a result is wrong or Oclgrind reports any race or error; skips (77) without Oclgrind,
# which is the Debian package oclgrind.
set -uo pipefail
exe="$1"
command -v oclgrind >/dev/null 2>&1 || { echo "oclgrind not installed: skipped"; exit 77; }
log="${TMPDIR:-/tmp}/hrm-races.$$.log"
trap 'rm -f "$log"' EXIT
status=0
for limits in "256 32768" "64 16384"; do
    set -- $limits
    echo "== oclgrind: work-groups of at most $1, $2 bytes of local memory"
    if ! oclgrind --data-races --max-wgsize "$1" --local-mem-size "$2" --log "$log" "$exe"; then
        echo "test_races failed under oclgrind"
        status=1
    fi
    if grep -Eiq "race|error" "$log"; then
        head -40 "$log"
        echo "oclgrind reported the above"
        status=1
    fi
done
exit $status
