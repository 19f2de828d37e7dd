#!/usr/bin/env bash
# tools/test.sh - does all set-up, then runs the whole test suite twice: in the release build and
# in an AddressSanitizer + UndefinedBehaviorSanitizer build (leaks are errors there). Ends with
# one line "N passed, N failed" counting the tests of both runs.
set -uo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh build || exit 1
if [ ! -f build-asan/build.ninja ]; then
  meson setup build-asan --buildtype=debugoptimized -Db_sanitize=address,undefined >/dev/null || exit 1
fi
ninja -C build-asan >/dev/null || exit 1

status=0
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
meson test -C build --print-errorlogs --num-processes 1 || status=1
meson test -C build-asan --print-errorlogs --num-processes 1 || status=1

results=$(cat build/meson-logs/testlog.json build-asan/meson-logs/testlog.json 2>/dev/null |
  grep -o '"result": "[A-Z]*"' | cut -d'"' -f4)
passed=$(grep -cE '^(OK|EXPECTEDFAIL)$' <<<"$results")
skipped=$(grep -cx 'SKIP' <<<"$results")
failed=$(grep -cvE '^(OK|EXPECTEDFAIL|SKIP)$' <<<"$results")
[ -n "$results" ] || failed=1
[ "$failed" -eq 0 ] || status=1
line="$passed passed, $failed failed"
[ "$skipped" -eq 0 ] || line="$line, $skipped skipped"
echo "$line"
exit $status
