#!/usr/bin/env bash
# tests/test-skips.sh HRM TEST_CONFORMANCE TEST_SUDOKU [OPENCL_PLUGIN] - a test that cannot run
# here says "skipped" with exit status 77 (meson's SKIP, counted apart by scripts/test.sh), and a
# broken build is still a failure:
#   - the benchmark-data cases (TEST_SUDOKU --shared-data) where ../shared/data is absent: 77, one
#     line naming the file; with a data folder that has the file, they run and pass;
#   - a test program that needs one plugin (TEST_CONFORMANCE with HRM_TEST_PLUGIN=OPENCL_PLUGIN,
#     tests/discover.c's discover_require) where the OpenCL ICD loader finds no platform: 77 with
#     the backend's reason; a plugin file that is missing: 1, not 77;
#   - a shell test that needs a backend (test-lib.sh's need_backend): 77 without a platform, 1 for
#     a backend no plugin provides.
set -uo pipefail
hrm=$1 conformance=$2 sudoku=$3 opencl=${4:-}
. "$(dirname "$0")/cli/test-lib.sh"
export HRM_THREADS=2

# $1: description; $2: exit status wanted; $3: text the output must hold; the rest: the command.
expect() {
    what=$1 want=$2 text=$3
    shift 3
    "$@" >"$tmp/out" 2>&1
    got=$?
    if [ "$got" -ne "$want" ]; then
        fail "$what: exit $got, want $want: $(head -c 600 "$tmp/out")"
    elif ! grep -q -- "$text" "$tmp/out"; then
        fail "$what: no '$text' in: $(head -c 600 "$tmp/out")"
    else
        ok "$what: exit $got -> $(grep -m1 -- "$text" "$tmp/out")"
    fi
}

expect "benchmark data absent" 77 "skipped: the benchmark data .*/sudoku/hard_train_1k.csv is not here" \
    env HRM_SHARED_DATA="$tmp/nodata" "$sudoku" --shared-data
expect "HRM_SHARED_DATA unset" 77 "skipped" env -u HRM_SHARED_DATA "$sudoku" --shared-data
expect "an unknown argument" 2 "usage:" "$sudoku" --shared
# a data folder with the file: the case runs (1000 rows: a generated file that is not the benchmark
# fails it, which shows it ran). The line matched is check's failure line, not its "Checks: N,
# Failures: N" summary, which scripts/test.sh would count as a failure of this test.
mkdir -p "$tmp/data/sudoku"
printf 'source,q,a,rating\n' >"$tmp/data/sudoku/hard_train_1k.csv"
expect "benchmark data present (here a stand-in of 0 rows)" 1 ":F:shared-data:test_shared_data:" \
    env HRM_SHARED_DATA="$tmp/data" "$sudoku" --shared-data

# the plugin-wanting paths: a missing plugin file fails
expect "HRM_TEST_PLUGIN names no file" 1 "not usable" env HRM_TEST_PLUGIN="$tmp/none.so" "$conformance"
mkdir -p "$tmp/icd" # an empty vendors folder: the ICD loader finds no platform
shell_test() {
    . "$(dirname "$0")/cli/test-lib.sh"
    need_backend "$hrm" "$1"
    echo "ran"
    exit 0
}
export -f shell_test
export hrm
expect "need_backend: no plugin of that name" 1 "FAIL: the nosuch backend is missing" \
    bash -c 'shell_test nosuch' "$0"
expect "need_backend: cpu is usable" 0 "^ran$" bash -c 'shell_test cpu' "$0"
if [ -n "$opencl" ]; then
    expect "one plugin, no OpenCL platform" 77 "skipped: .*no OpenCL platform found" \
        env OCL_ICD_VENDORS="$tmp/icd" HRM_TEST_PLUGIN="$opencl" "$conformance"
    expect "need_backend: no OpenCL platform" 77 "skipped: the opencl backend finds no device here: .*no OpenCL platform" \
        env OCL_ICD_VENDORS="$tmp/icd" bash -c 'shell_test opencl' "$0"
fi
finish
