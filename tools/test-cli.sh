#!/bin/sh
# tools/test-cli.sh HRM - checks the `hrm` program end to end against the backends of the build
# tree: `hrm backends` lists cpu; `hrm bench ops --quick --json` writes a JSON report with
# entries; `hrm bench train` runs the small model once and its memory does not grow with the
# cycles; an unknown command or option gives exactly one line on stderr and a non-zero exit.
set -u
hrm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# $1: description; the rest: the command, which must exit non-zero with one line on stderr
expect_usage_error() {
    what=$1; shift
    if "$@" >"$tmp/out" 2>"$tmp/err"; then fail "$what: exit 0"; fi
    lines=$(wc -l <"$tmp/err")
    [ "$lines" -eq 1 ] || fail "$what: $lines lines on stderr, want 1: $(cat "$tmp/err")"
    [ -s "$tmp/out" ] && fail "$what: wrote to stdout"
    echo "ok: $what -> $(cat "$tmp/err")"
}

"$hrm" --version >"$tmp/out" || fail "hrm --version"
grep -q '^hrm ' "$tmp/out" || fail "hrm --version prints 'hrm VERSION'"
"$hrm" --help >/dev/null || fail "hrm --help"
"$hrm" bench ops --help | grep -q -- '--quick' || fail "hrm bench ops --help describes --quick"

if "$hrm" backends >"$tmp/backends" 2>"$tmp/err"; then
    grep -q '^cpu ' "$tmp/backends" || fail "hrm backends does not list cpu"
else
    fail "hrm backends exited non-zero: $(cat "$tmp/err")"
fi
cat "$tmp/backends"
"$hrm" backends --validate >"$tmp/validate" 2>&1 || fail "hrm backends --validate exited non-zero"
grep -q "^      validated" "$tmp/validate" || fail "hrm backends --validate shows no validated device"
if grep -q "^opencl .*usable" "$tmp/validate"; then
    HRM_OPENCL_TEST_CORRUPT_GEMM=1 "$hrm" backends --validate >"$tmp/validate" 2>&1
    grep -q "FAILED validation" "$tmp/validate" || fail "a device failing GEMM validation is not shown as FAILED"
    grep -q "CLBlast 1.6.3" "$tmp/validate" || fail "the validation failure does not name CLBlast 1.6.3"
fi

expect_usage_error "hrm nosuchcommand" "$hrm" nosuchcommand
expect_usage_error "hrm --bogus" "$hrm" --bogus
expect_usage_error "hrm bench ops --bogus" "$hrm" bench ops --bogus
expect_usage_error "hrm bench ops --batch x" "$hrm" bench ops --batch x
expect_usage_error "hrm bench nosuch" "$hrm" bench nosuch

json=$tmp/bench.json
if "$hrm" bench ops --quick --json "$json" >"$tmp/table" 2>"$tmp/err"; then
    cat "$tmp/table"
else
    cat "$tmp/table" "$tmp/err"
    fail "hrm bench ops --quick exited non-zero"
fi
if [ ! -s "$json" ]; then
    fail "no JSON written"
elif command -v python3 >/dev/null 2>&1; then
    python3 - "$json" <<'PY' || fail "JSON report is not valid or has no entries"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["format_version"] == 1 and r["backend"] and r["device"]["name"]
assert len(r["entries"]) >= 20, len(r["entries"])
for e in r["entries"]:
    assert "error" in e or ("fraction" in e and e["median_s"] > 0 and e["reps"] >= 3), e
PY
else
    grep -q '"entries"' "$json" || fail "JSON report has no entries"
fi

# hrm bench train: usage errors, and one tiny run (small model, batch 2, one timed call each)
expect_usage_error "hrm bench train --model nosuch" "$hrm" bench train --model nosuch
expect_usage_error "hrm bench train --steps 0" "$hrm" bench train --steps 0
tjson=$tmp/train.json
if "$hrm" bench train --model small --batch 2 --steps 1 --json "$tjson" >"$tmp/table" 2>"$tmp/err"; then
    cat "$tmp/table"
    grep -q 'does not grow' "$tmp/table" || fail "hrm bench train: peak memory grows from 2x2 to 8x8 cycles"
else
    cat "$tmp/table" "$tmp/err"
    fail "hrm bench train --model small exited non-zero"
fi
if command -v python3 >/dev/null 2>&1 && [ -s "$tjson" ]; then
    python3 - "$tjson" <<'PY' || fail "hrm bench train JSON is not valid"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["peak"]["gflops"] > 0 and len(r["models"]) == 1, r
m = r["models"][0]
assert m["model"] == "small" and m["batch"] == 2 and m["params"] == 1051650, m
assert m["train_samples_per_s"] > 0 and m["eval_samples_per_s"] > 0 and m["train_flops_per_sample"] > 0, m
assert m["memory_peak_bytes_8x8"] == m["memory_peak_bytes_2x2"] > 0, m
PY
fi

[ "$fails" -eq 0 ] && echo "all hrm CLI checks passed"
exit "$fails"
