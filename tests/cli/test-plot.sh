#!/bin/bash
# tests/cli/test-plot.sh HRM - checks `hrm plot` end to end on synthetic metrics.jsonl files written in
# the exact format of `hrm train` (cmd_train.c put_metrics: compact JSON, 9 significant digits, a
# train line every step, an eval line every 10 steps, accuracies written as 0 on steps where no
# example halted, a resumed run appending again from its checkpoint's step): the SVG parses as
# XML, has the expected series with the expected number of points and no "nan"/"inf"; a corrupt
# line is skipped with one warning naming FILE:LINE; a run folder named with XML specials is
# escaped; a missing file is exit 1 with one line; no arguments or no --out is exit 2; --help is 0.
set -euo pipefail
export LC_ALL=C
hrm=$1
. "$(dirname "$0")/test-lib.sh"

# run_rc CMD...: runs CMD with stdout in $tmp/out and stderr in $tmp/err, its exit status in $rc
run_rc() {
    set +e
    "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    set -e
}

# write_run FILE FIRST LAST SCALE: appends train lines for steps FIRST..LAST, an eval line every 10
write_run() {
    mkdir -p "$(dirname "$1")"
    awk -v first="$2" -v last="$3" -v scale="$4" '
    function r(v, s) { s = sprintf("%.9g", v); if (s !~ /[.e]/) s = s ".0"; return s }
    BEGIN {
        for (step = first; step <= last; step++) {
            loss = scale * (2.5 * exp(-step / 15) + 0.05); acc = 1 - exp(-step / 20); exact = acc * acc
            count = step % 4 == 1 ? 0 : 64
            printf "{\"step\":%d,\"lr\":%s,\"puzzle_emb_lr\":%s,\"samples_per_s\":%s,\"train/count\":%d,", step, r(1e-4), r(0.01), r(880.348982), count
            printf "\"train/accuracy\":%s,\"train/exact_accuracy\":%s,\"train/q_halt_accuracy\":%s,\"train/steps\":%s,", r(count ? acc : 0), r(count ? exact : 0), r(count ? 0.5 : 0), r(count ? 3.5 : 0)
            printf "\"train/loss\":%s,\"train/lm_loss\":%s,\"train/q_halt_loss\":%s,\"train/q_continue_loss\":%s}\n", r(loss), r(0.98 * loss), r(0.00671534849), r(0.0401796033)
            if (step % 10 == 0) {
                printf "{\"step\":%d,\"epoch\":%s,\"eval/count\":6,\"eval/accuracy\":%s,\"eval/exact_accuracy\":%s,", step, r(step / 1.1666), r(0.9 * acc), r(0.8 * exact)
                printf "\"eval/q_halt_accuracy\":1.0,\"eval/steps\":16.0,\"eval/lm_loss\":%s,\"eval/q_halt_loss\":%s,\"eval/loss\":%s}\n", r(1.1 * loss), r(0.00581581656), r(1.12 * loss)
            }
        }
    }' >>"$1"
}

# check_svg FILE [NAME=POINTS ...]: FILE is an SVG with no nan/inf; each NAME (a series' tooltip)
# has a path or dot with POINTS points in the first panel that has it
check_svg() {
    local svg=$1; shift
    [ -s "$svg" ] || { fail "$svg not written"; return; }
    if grep -qi 'nan\|inf' "$svg"; then fail "$svg: 'nan' or 'inf' in the file"; fi
    if ! command -v python3 >/dev/null 2>&1; then
        head -c 5 "$svg" | grep -q '<?xml' && tail -n 1 "$svg" | grep -q '^</svg>$' || fail "$svg is not an SVG"
        return
    fi
    python3 - "$svg" "$@" <<'PY' || fail "$svg: see the Python error above"
import math, re, sys, xml.etree.ElementTree as E
ns = "{http://www.w3.org/2000/svg}"
root = E.parse(sys.argv[1]).getroot()
assert root.tag == ns + "svg", root.tag
points = {}
for el in root.iter():
    title = el.find(ns + "title")
    if el.tag == ns + "path" and title is not None:
        n = len(re.findall("[ML]", el.get("d")))
        for v in re.findall(r"-?[0-9.]+", el.get("d")):
            assert math.isfinite(float(v)), el.get("d")
        points.setdefault(title.text, n)
    elif el.tag == ns + "circle" and title is not None:
        points.setdefault(title.text, 1)
texts = [t.text for t in root.iter(ns + "text")]
for want in ("loss", "exact accuracy", "token accuracy", "optimizer step"):
    assert want in texts, (want, texts)
for arg in sys.argv[2:]:
    name, n = arg.rsplit("=", 1)
    assert points.get(name) == int(n), (name, points.get(name), int(n), sorted(points))
PY
}

# ---- one run ------------------------------------------------------------------------------------
alpha=$tmp/alpha/metrics.jsonl
write_run "$alpha" 1 40 1
run_rc "$hrm" plot "$alpha" --out "$tmp/one.svg"
[ "$rc" -eq 0 ] || fail "hrm plot one run: exit $rc: $(cat "$tmp/err")"
[ -s "$tmp/err" ] && fail "hrm plot one run wrote to stderr: $(cat "$tmp/err")"
# accuracies are drawn only on the 30 steps where examples halted (train/count > 0)
check_svg "$tmp/one.svg" "train loss=40" "train lm_loss=40" "eval loss=4" "eval lm_loss=4" "train=30" "eval=4"
grep -q '>training curves<' "$tmp/one.svg" || fail "default title missing"

# ---- several runs, a resumed one, corrupt lines, a folder name with XML specials ------------------
beta=$tmp/beta/metrics.jsonl
write_run "$beta" 1 12 1                       # lines 1-13 (12 train, 1 eval)
echo 'this is not JSON {' >>"$beta"            # line 14
echo '{"no_step":1,"train/loss":2.0}' >>"$beta" # line 15
write_run "$beta" 13 25 1
write_run "$beta" 21 30 2                      # resumed from the checkpoint at step 20
odd="$tmp/r&d <\"x\">'"
write_run "$odd/metrics.jsonl" 1 10 3
run_rc "$hrm" plot "$alpha" "$beta" "$odd/metrics.jsonl" --out "$tmp/many.svg" --title 'runs <&> "compared"'
[ "$rc" -eq 0 ] || fail "hrm plot three runs: exit $rc: $(cat "$tmp/err")"
lines=$(wc -l <"$tmp/err")
[ "$lines" -eq 1 ] || fail "corrupt lines: $lines lines on stderr, want 1: $(cat "$tmp/err")"
grep -q "skipped 2 lines" "$tmp/err" || fail "warning does not count 2 skipped lines: $(cat "$tmp/err")"
grep -q "beta/metrics.jsonl:14 (.*), .*beta/metrics.jsonl:15" "$tmp/err" || fail "warning does not name FILE:LINE: $(cat "$tmp/err")"
echo "ok: warning -> $(cat "$tmp/err")"
check_svg "$tmp/many.svg" "alpha: train loss=40" "beta: train loss=30" "beta: eval loss=3" \
    "r&d <\"x\">': train loss=10" "r&d <\"x\">': eval loss=1"
grep -q '&lt;&amp;&gt; &quot;compared&quot;' "$tmp/many.svg" || fail "title not escaped"

# ---- failures -------------------------------------------------------------------------------------
run_rc "$hrm" plot "$tmp/nope/metrics.jsonl" --out "$tmp/missing.svg"
[ "$rc" -eq 1 ] || fail "missing file: exit $rc, want 1"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "missing file: want one line on stderr: $(cat "$tmp/err")"
[ -e "$tmp/missing.svg" ] && fail "missing file: an SVG was written"
echo "ok: missing file -> $(cat "$tmp/err")"

cp "$tmp/one.svg" "$tmp/keep.svg"
run_rc "$hrm" plot "$alpha" "$tmp/nope/metrics.jsonl" --out "$tmp/keep.svg"
[ "$rc" -eq 1 ] || fail "second file missing: exit $rc, want 1"
cmp -s "$tmp/one.svg" "$tmp/keep.svg" || fail "a failed plot changed the existing output"

echo 'garbage' >"$tmp/garbage.jsonl"
echo '{"step":3,"lr":0.001}' >>"$tmp/garbage.jsonl"
run_rc "$hrm" plot "$tmp/garbage.jsonl" --out "$tmp/garbage.svg"
[ "$rc" -eq 1 ] || fail "no metrics at all: exit $rc, want 1"
[ -e "$tmp/garbage.svg" ] && fail "no metrics at all: an SVG was written"
echo "ok: no metrics -> $(tail -n 1 "$tmp/err")"

run_rc "$hrm" plot "$alpha" --out "$tmp/no/such/dir/x.svg"
[ "$rc" -eq 1 ] || fail "unwritable output: exit $rc, want 1"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "unwritable output: want one line on stderr: $(cat "$tmp/err")"

run_rc "$hrm" plot
[ "$rc" -eq 2 ] || fail "no arguments: exit $rc, want 2"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "no arguments: want one line on stderr: $(cat "$tmp/err")"
run_rc "$hrm" plot "$alpha"
[ "$rc" -eq 2 ] || fail "no --out: exit $rc, want 2"
run_rc "$hrm" plot "$alpha" --out "$tmp/x.svg" --bogus
[ "$rc" -eq 2 ] || fail "unknown option: exit $rc, want 2"
run_rc "$hrm" plot "$alpha" --out
[ "$rc" -eq 2 ] || fail "--out without a value: exit $rc, want 2"
run_rc "$hrm" plot --help
[ "$rc" -eq 0 ] || fail "--help: exit $rc, want 0"
grep -q -- '--out' "$tmp/out" || fail "--help does not describe --out"

if [ "$fails" -ne 0 ]; then
    echo "test-plot: $fails check(s) failed"
    exit 1
fi
echo "test-plot: all checks passed"
