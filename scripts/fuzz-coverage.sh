#!/usr/bin/env bash
# scripts/fuzz-coverage.sh [--with-found] - the line coverage of each parser by the committed seed
# corpus (fuzz/corpus/NAME/): builds the harnesses with clang's source-based coverage into
# build-fuzz-cov/, runs each once over its corpus (and, with --with-found, over the inputs the
# fuzzer found too, build-fuzz/corpus/NAME/), and prints per harness the lines of the files it
# targets that ran. Needs llvm (llvm-profdata, llvm-cov); installs it where missing.
set -euo pipefail
cd "$(dirname "$0")/.."
found=0
case ${1:-} in
  --with-found) found=1 ;;
  -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  '') ;;
  *) echo "fuzz-coverage.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
esac
profdata=$(command -v llvm-profdata || command -v llvm-profdata-14 || true)
cov=$(command -v llvm-cov || command -v llvm-cov-14 || true)
if [ -z "$profdata" ] || [ -z "$cov" ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq llvm >/dev/null
  profdata=$(command -v llvm-profdata) cov=$(command -v llvm-cov)
fi
build=build-fuzz-cov
if [ ! -f "$build/build.ninja" ]; then
  CC=clang meson setup "$build" -Dfuzz=true -Dtests=false -Dopencl=disabled -Donednn=disabled --buildtype=debug \
    -Dc_args='-fprofile-instr-generate -fcoverage-mapping' -Dc_link_args='-fprofile-instr-generate' >/dev/null
fi
ninja -C "$build" fuzzers >/dev/null

# The files each harness is there to test.
files_of() {
  case $1 in
    npy) echo core/npy.c ;;
    safetensors) echo core/safetensors.c ;;
    checkpoint) echo core/checkpoint.c core/params.c ;;
    torch) echo core/torch_zip.c core/torch_ckpt.c core/convert.c ;;
    dataset) echo core/dataset.c ;;
    config) echo core/params.c core/sampler.c ;;
    bench) echo bench/bench_json.c bench/bench_plot.c ;;
    plot) echo tools/cmd_plot.c ;;
    sudoku-csv) echo plugins/sudoku/sudoku_task.c plugins/common/task_util.c ;;
    maze-csv) echo plugins/maze/maze_task.c plugins/common/task_util.c ;;
    sudoku-puzzle) echo plugins/sudoku/sudoku_task.c plugins/sudoku/sudoku_grid.c ;;
    maze-puzzle) echo plugins/maze/maze_task.c plugins/maze/maze_grid.c ;;
    arc-puzzle) echo plugins/arc/arc_plugin.c ;;
    arc-task) echo plugins/arc/arc_load.c ;;
  esac
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%-14s %-30s %s\n' harness file "lines run / lines (%)"
for d in fuzz/corpus/*/; do
  n=$(basename "$d")
  dirs=("$d")
  [ $found -eq 1 ] && [ -d "build-fuzz/corpus/$n" ] && dirs+=("build-fuzz/corpus/$n")
  LLVM_PROFILE_FILE="$tmp/$n-%p.profraw" ASAN_OPTIONS=detect_leaks=0 \
    "$build/fuzz/fuzz-$n" -runs=0 "${dirs[@]}" >/dev/null 2>&1 || echo "fuzz-coverage: fuzz-$n failed on its corpus" >&2
  "$profdata" merge -sparse "$tmp/$n"-*.profraw -o "$tmp/$n.profdata"
  "$cov" export -summary-only "$build/fuzz/fuzz-$n" -instr-profile="$tmp/$n.profdata" >"$tmp/$n.json"
  /usr/bin/env python3 - "$tmp/$n.json" "$n" $(files_of "$n") <<'PY'
import json, os, sys
data, name, wanted = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3:]
files = {os.path.relpath(os.path.realpath(f["filename"])): f["summary"]["lines"] for f in data["data"][0]["files"]}
for w in wanted:
    l = files.get(w)
    if l: print(f"{name:<14} {w:<30} {l['covered']:5d} / {l['count']:5d} ({l['percent']:.0f}%)")
    else: print(f"{name:<14} {w:<30} not compiled in")
PY
done
