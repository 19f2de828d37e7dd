#!/usr/bin/env bash
# tests/cli/test-cli.sh HRM - checks the `hrm` program end to end against the backends of the build
# tree: `hrm backends` lists cpu; `hrm bench ops --quick --json` writes a JSON report with
# entries; `hrm bench train` runs the small model once and its memory does not grow with the
# cycles; an unknown command or option gives exactly one line on stderr and a non-zero exit;
# `hrm data` subcommands print their usage for --help and exit 2 on bad usage.
set -uo pipefail
hrm=$1

. "$(dirname "$0")/test-lib.sh"

# $1: description; the rest: the command, which must exit non-zero with one line on stderr
expect_usage_error() {
    what=$1
    shift
    expect_exit "$what" nz "$@"
}

# $1: description; $2: a word the usage must show; the rest: the command, which must print its
# usage on stdout, nothing on stderr, and exit 0
expect_help() {
    what=$1 word=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err" || fail "$what: exit $?"
    [ -s "$tmp/err" ] && fail "$what: wrote to stderr: $(cat "$tmp/err")"
    grep -q '^usage: ' "$tmp/out" || fail "$what: no usage on stdout"
    grep -q -- "$word" "$tmp/out" || fail "$what: the usage does not show $word"
    echo "ok: $what"
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

# hrm data: --help everywhere, and bad usage (exit 2) apart from failures (exit 1)
expect_help "hrm data tasks --help" "data tasks" "$hrm" data tasks --help
expect_exit "hrm data tasks --bogus" 2 "$hrm" data tasks --bogus
expect_exit "hrm data tasks extra" 2 "$hrm" data tasks extra
expect_exit "hrm data build --bogus" 2 "$hrm" data build --bogus
expect_exit "hrm data build nosuch" 2 "$hrm" data build nosuch
expect_exit "hrm data generate nosuch" 2 "$hrm" data generate nosuch --count 1
expect_exit "hrm data verify nosuch" 2 "$hrm" data verify nosuch --csv "$tmp/none.csv"
if "$hrm" data tasks 2>/dev/null | grep -q '^sudoku '; then
    expect_help "hrm data verify sudoku --help" "--csv FILE" "$hrm" data verify sudoku --help
    expect_help "hrm data verify sudoku -h" "--csv FILE" "$hrm" data verify sudoku -h
    expect_help "hrm data build sudoku --help" "--train" "$hrm" data build sudoku --help
    expect_help "hrm data generate sudoku -h" "--count" "$hrm" data generate sudoku -h
    csv=$tmp/sudoku.csv
    "$hrm" data generate sudoku --count 2 --seed 1 --out "$csv" 2>/dev/null || fail "hrm data generate sudoku"
    "$hrm" data verify sudoku --csv "$csv" >/dev/null 2>&1 || fail "hrm data verify of generated puzzles"
    expect_exit "hrm data verify --force --out" 2 "$hrm" data verify sudoku --csv "$csv" --force --out "$tmp/zz"
    expect_exit "hrm data verify --out" 2 "$hrm" data verify sudoku --csv "$csv" --out "$tmp/zz"
    expect_exit "hrm data verify --strict" 2 "$hrm" data verify sudoku --csv "$csv" --strict
    expect_exit "hrm data verify without --csv" 2 "$hrm" data verify sudoku
    expect_exit "hrm data verify --csv without a value" 2 "$hrm" data verify sudoku --csv
    expect_exit "hrm data verify a missing file" 1 "$hrm" data verify sudoku --csv "$tmp/none.csv"
    [ -e "$tmp/zz" ] && fail "a refused hrm data verify wrote --out"
    # the task parses these itself and reports option errors as HRM_ERR_USAGE (include/hrm/task.h):
    # exit 2, apart from data failures (exit 1)
    expect_exit "hrm data build sudoku without --train" 2 "$hrm" data build sudoku --out "$tmp/x"
    expect_exit "hrm data build sudoku --bogus" 2 "$hrm" data build sudoku --train "$csv" --out "$tmp/x" --bogus 1
    expect_exit "hrm data build sudoku --train without a value" 2 "$hrm" data build sudoku --out "$tmp/x" --train
    expect_exit "hrm data build sudoku --seed abc" 2 "$hrm" data build sudoku --train "$csv" --out "$tmp/x" --seed abc
    expect_exit "hrm data build sudoku --holdout x" 2 "$hrm" data build sudoku --train "$csv" --out "$tmp/x" --holdout x
    expect_exit "hrm data build sudoku --holdout and --test" 2 "$hrm" data build sudoku --train "$csv" --test "$csv" \
        --holdout 1 --out "$tmp/x"
    expect_exit "hrm data generate sudoku without --count" 2 "$hrm" data generate sudoku
    expect_exit "hrm data generate sudoku --count x" 2 "$hrm" data generate sudoku --count x
    expect_exit "hrm data generate sudoku --bogus" 2 "$hrm" data generate sudoku --count 1 --bogus 1
    expect_exit "hrm data generate sudoku --out, bad option" 2 "$hrm" data generate sudoku --seed -1 --out "$tmp/g.csv"
    # well-formed options that the data cannot satisfy are failures, not bad usage (HRM_LOG=warn:
    # the build's info line on the rows read would come before the error)
    expect_exit "hrm data build sudoku --holdout larger than the file" 1 \
        env HRM_LOG=warn "$hrm" data build sudoku --train "$csv" --holdout 500 --out "$tmp/x"
    expect_exit "hrm data build sudoku --train a missing file" 1 "$hrm" data build sudoku --train "$tmp/none.csv" \
        --out "$tmp/x"
    [ -e "$tmp/x" ] || [ -e "$tmp/x.partial" ] && fail "a refused hrm data build left files behind"
    [ -e "$tmp/g.csv" ] || [ -e "$tmp/g.csv.tmp" ] && fail "a refused hrm data generate wrote --out"
else
    echo "skip: no sudoku task plugin found; hrm data checks of a task skipped"
fi

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

# hrm convert onto its own input (issue 13): refused before anything is read or written, by name and
# through a symbolic link; the input stays as it was
golden="$(dirname "$0")/../golden"
cp "$golden/torch_ckpt.pt" "$tmp/in.pt"
ln -s in.pt "$tmp/link.pt"
expect_exit "convert onto its input" 2 "$hrm" convert "$tmp/in.pt" "$tmp/in.pt"
expect_exit "convert onto a link to its input" 2 "$hrm" convert "$tmp/in.pt" "$tmp/link.pt"
cmp -s "$golden/torch_ckpt.pt" "$tmp/in.pt" || fail "convert onto its input changed the input"

[ "$fails" -eq 0 ] && echo "all hrm CLI checks passed"
finish
