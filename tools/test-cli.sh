#!/bin/sh
# tools/test-cli.sh HRM - checks the `hrm` program end to end against the backends of the build
# tree: `hrm backends` lists cpu; `hrm bench ops --quick --json` writes a JSON report with
# entries; an unknown command or option gives exactly one line on stderr and a non-zero exit.
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

[ "$fails" -eq 0 ] && echo "all hrm CLI checks passed"
exit "$fails"
