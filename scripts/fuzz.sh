#!/usr/bin/env bash
# scripts/fuzz.sh [--time S] [--jobs N] [--build DIR] [HARNESS...] - builds the libFuzzer harnesses
# of fuzz/ (clang, AddressSanitizer + UndefinedBehaviorSanitizer, into build-fuzz/) and runs each
# for S seconds (default 12) on top of its committed seed corpus, N harnesses at a time (default:
# the CPU count). Before fuzzing, every committed crash regression (fuzz/regressions/NAME/) is
# replayed. New inputs the fuzzer finds go to DIR/corpus/NAME (kept between runs, never
# committed); a crashing input is saved as DIR/artifacts/NAME/crash-* and fails the run. Any crash,
# leak, timeout (one input over 10 s), allocation over 2 GiB or sanitizer report is a failure.
# Prints one line per harness (runs, runs/s, coverage) and ends with "fuzz: N harnesses, N
# passed, N failed (S s)"; exit status 1 when any failed. fuzz/README.md says how to fuzz longer.
set -uo pipefail
cd "$(dirname "$0")/.."
time=12 jobs=$(nproc 2>/dev/null || echo 2) build=build-fuzz
names=()
while [ $# -gt 0 ]; do
  case $1 in
    --time) time=${2:?--time needs seconds}; shift 2 ;;
    --jobs) jobs=${2:?--jobs needs a count}; shift 2 ;;
    --build) build=${2:?--build needs a folder}; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
  esac
done
case $time in ''|*[!0-9]*) echo "fuzz.sh: --time wants whole seconds, not '$time'" >&2; exit 2 ;; esac
case $jobs in ''|*[!0-9]*|0) echo "fuzz.sh: --jobs wants a count of 1 or more, not '$jobs'" >&2; exit 2 ;; esac

# clang and its libFuzzer runtime (Debian: clang, libclang-rt-dev), on top of the build's packages.
need=()
command -v clang >/dev/null || need+=(clang)
dpkg-query -W -f='${Status}' libclang-rt-dev 2>/dev/null | grep -q "install ok installed" || need+=(libclang-rt-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "fuzz: installing ${need[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || exit 1
fi
if [ ! -f "$build/build.ninja" ]; then
  CC=clang meson setup "$build" -Dfuzz=true -Db_sanitize=address,undefined -Dtests=false -Dopencl=disabled \
    -Donednn=disabled --buildtype=debugoptimized >/dev/null || exit 1
fi
if ! out=$(ninja -C "$build" fuzzers 2>&1); then
  printf '%s\n' "$out" | tail -20 >&2
  echo "fuzz: building the harnesses in $build failed" >&2
  exit 1
fi

all=()
for f in fuzz/corpus/*/; do all+=("$(basename "$f")"); done
[ ${#names[@]} -gt 0 ] || names=("${all[@]}")
for n in "${names[@]}"; do
  [ -x "$build/fuzz/fuzz-$n" ] || { echo "fuzz.sh: no harness '$n' (there are: ${all[*]})" >&2; exit 2; }
done

dict_of() {
  case $1 in
    npy) echo fuzz/dict/npy.dict ;;
    torch) echo fuzz/dict/torch.dict ;;
    sudoku-csv|maze-csv|sudoku-puzzle|maze-puzzle) echo "" ;;
    *) echo fuzz/dict/json.dict ;;
  esac
}

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:handle_abort=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
logs=$build/logs
mkdir -p "$logs"

# One harness: replay its regressions, then fuzz. Writes $logs/NAME.log and $logs/NAME.result.
run_one() {
  local n=$1 exe=$build/fuzz/fuzz-$n log=$logs/$1.log work=$build/corpus/$1 art=$build/artifacts/$1
  local regress=fuzz/regressions/$n dict rc=0
  dict=$(dict_of "$n")
  mkdir -p "$work" "$art"
  : >"$log"
  if [ -d "$regress" ] && [ -n "$(ls -A "$regress" 2>/dev/null)" ]; then
    "$exe" -timeout=10 -rss_limit_mb=2048 "$regress"/* >>"$log" 2>&1 || rc=1
  fi
  if [ $rc -eq 0 ]; then
    "$exe" -max_total_time="$time" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      ${dict:+-dict="$dict"} -artifact_prefix="$art/" "$work" "fuzz/corpus/$n" >>"$log" 2>&1 || rc=1
  fi
  local runs rate cov
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  if [ $rc -eq 0 ]; then
    printf 'PASS %-14s %9s runs %6s/s  edges %5s\n' "$n" "${runs:-?}" "${rate:-?}" "${cov:-?}" >"$logs/$n.result"
  else
    printf 'FAIL %-14s see %s (inputs in %s)\n' "$n" "$log" "$art" >"$logs/$n.result"
  fi
}

for n in "${names[@]}"; do rm -f "$logs/$n.result"; done
running=0
for n in "${names[@]}"; do
  run_one "$n" &
  running=$((running + 1))
  if [ $running -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait

passed=0 failed=0
for n in "${names[@]}"; do
  line=$(cat "$logs/$n.result" 2>/dev/null || echo "FAIL $n (no result)")
  echo "fuzz: $line"
  case $line in
    PASS*) passed=$((passed + 1)) ;;
    *) failed=$((failed + 1))
       grep -m3 -E 'ERROR: |runtime error|SUMMARY' "$logs/$n.log" | sed 's/^/fuzz:   /' ;;
  esac
done
echo "fuzz: ${#names[@]} harnesses, $passed passed, $failed failed ($SECONDS s, set-up and build included)"
[ $failed -eq 0 ]
