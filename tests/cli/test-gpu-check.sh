#!/bin/bash
# tests/cli/test-gpu-check.sh BUILD_DIR - checks scripts/gpu-check.sh end to end on the OpenCL device
# there is here (PoCL's CPU device): one --quick run in which the bench step is made to fail by a
# 1-second time limit, so that it must be reported FAIL ("timed out"), killed at once, and every
# later step must still run: summary.json and summary.txt list all eight steps in order with the
# right statuses (vs-torch SKIP without a GPU torch, bench-train-768 SKIP in quick mode) and the
# key numbers (tests passed, training samples/s, MFU and GEMM peak, accuracy, training time), and
# the exit status is 1. Then a run of the devices step alone exits 0, and bad usage exits 2 with
# one line. About a minute on the 2-core development VM.
set -uo pipefail
export LC_ALL=C
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/test-lib.sh"
need_backend "$build/tools/hrm" opencl
check=$here/../../scripts/gpu-check.sh

# ---- one quick run, the bench step failing ------------------------------------------------------
a=$tmp/a
start=$SECONDS
"$check" --quick --timeout bench=1 "$a" "$build" >"$tmp/a.out" 2>"$tmp/a.err"
rc=$?
echo "gpu-check --quick --timeout bench=1: exit $rc in $((SECONDS - start)) s"
cat "$tmp/a.err" "$tmp/a.out"
[ "$rc" -eq 1 ] || fail "a run with a failed step exited $rc, want 1"
cmp -s "$tmp/a.out" "$a/summary.txt" || fail "stdout is not summary.txt"

python3 - "$a" <<'PY' || fail "summary.json of the quick run"
import json, os, sys
out = sys.argv[1]
s = json.load(open(os.path.join(out, "summary.json")))
assert s["format"] == "hrm-gpu-check" and s["format_version"] == 1, s.get("format")
assert s["date"].endswith("Z") and s["hostname"] and s["git_commit"] and s["hrm_version"].startswith("hrm "), s
assert s["quick"] is True and s["exit_status"] == 1 and s["failed"] == 1 and s["interrupted"] is False, s
assert s["complete"] is True, s
assert s["machine"]["cores"] >= 1 and s["machine"]["os"], s["machine"]
ocl = [d for d in s["devices"] if d["backend"] == "opencl"]
assert ocl and ocl[0]["validation"] == "validated" and ocl[0]["type"] in ("CPU", "GPU", "accelerator"), s["devices"]
dev = s["device"]
assert dev["option"] == str(dev["index"]) and dev["name"] == ocl[dev["index"]]["name"] and dev["chosen_by"], dev

names = ["devices", "tests", "bench", "gemm", "vs-torch", "bench-train", "bench-train-768", "train"]
st = {x["name"]: x for x in s["steps"]}
assert [x["name"] for x in s["steps"]] == names, [x["name"] for x in s["steps"]]
want = {"devices": "PASS", "tests": "PASS", "bench": "FAIL", "gemm": "PASS", "vs-torch": "SKIP", "bench-train": "PASS",
        "bench-train-768": "SKIP", "train": "PASS"}
got = {n: st[n]["status"] for n in names}
assert got == want, got
for n in names:
    x = st[n]
    if n != "bench-train-768":
        assert x["seconds"] is not None and x["log"] == n + ".log" and os.path.getsize(os.path.join(out, x["log"])) > 0, x
b = st["bench"]
assert b["reason"] == "timed out after 1 s" and b["exit_code"] in (124, 137) and b["seconds"] < 15, b
assert st["bench-train-768"]["reason"] == "quick mode" and st["bench-train-768"]["seconds"] is None
assert "torch" in st["vs-torch"]["reason"], st["vs-torch"]

d = st["devices"]["results"]
assert d["devices"] >= 2 and d["validated"] == d["devices"] and d["failed"] == 0, d
t = st["tests"]["results"]
assert t["passed"] >= 5 and t["failed"] == 0 and t["checks_run"] > 0 and t["checks_passed"] == t["checks_run"], t
for x in t["tests"]:
    if x["status"] != "NOT RUN":
        assert os.path.getsize(os.path.join(out, x["log"])) > 0 and x["seconds"] > 0, x
assert {"golden", "opencl-faults"} <= {x["name"] for x in t["tests"] if x["status"] == "PASS"}, t["tests"]
assert not any("gpu-check" in x["name"] for x in t["tests"]), "the tests step runs gpu-check's own test"
g = st["gemm"]["results"]
assert g["n"] == 256 and g["rows"][0]["operands"] == "fp32" and g["rows"][0]["gflops"] > 0, g
assert len(g["rows"]) == 3 and all(x["ran"] == ("gflops" in x) for x in g["rows"]), g
bt = st["bench-train"]["results"]
assert bt["peak_gflops"] > 0 and len(bt["models"]) == 1, bt
m = bt["models"][0]
assert m["model"] == "small" and m["batch"] == 32 and m["train_samples_per_s"] > 0 and 0 < m["mfu_train"] < 2, m
tr = st["train"]["results"]
assert 0 <= tr["exact_accuracy"] <= 1 and 0 < tr["token_accuracy"] <= 1 and tr["eval_examples"] == 50, tr
assert tr["train_seconds"] > 0 and tr["steps"] > 0 and tr["train_samples_per_s_median"] > 0, tr
for f in ("devices.txt", "devices-validate.txt", "tests.json", "bench-train.json", "eval.json"):
    assert os.path.getsize(os.path.join(out, f)) > 0, f
print("ok: summary.json: 8 steps in order, bench FAIL (timed out, killed in %.1f s), later steps ran and passed, "
      "the numbers present" % b["seconds"])
PY

grep -Eq '^bench +FAIL +[0-9.]+s +timed out after 1 s' "$a/summary.txt" || fail "summary.txt: no 'bench FAIL ... timed out' row"
grep -Eq '^tests +PASS .* [0-9]+ passed, 0 failed' "$a/summary.txt" || fail "summary.txt: no tests row with counts"
grep -Eq '^bench-train +PASS .*small b32: [0-9.e+]+ train samples/s, MFU [0-9.]+%.*peak [0-9.]+ GFLOP/s' "$a/summary.txt" ||
    fail "summary.txt: no bench-train row with samples/s, MFU and peak"
grep -Eq '^train +PASS .*exact [0-9.]+%, token [0-9.]+% on 50 held-out; [0-9]+ steps in [0-9.]+ s' "$a/summary.txt" ||
    fail "summary.txt: no train row with the accuracy and training time"
grep -Eq '^bench-train-768 +SKIP +- +quick mode' "$a/summary.txt" || fail "summary.txt: bench-train-768 is not SKIP (quick mode)"
grep -q '^device under test: opencl --device [0-9]' "$a/summary.txt" || fail "summary.txt: no device under test"
grep -Eq '^gemm +PASS .*256\^3: fp32 [0-9.]+ TFLOP/s' "$a/summary.txt" || fail "summary.txt: no gemm row with the fp32 rate"
grep -q '^result: 5 passed, 1 failed (bench), 2 skipped; exit status 1$' "$a/summary.txt" ||
    fail "summary.txt: result line: $(grep '^result' "$a/summary.txt")"
[ "$fails" -eq 0 ] && ok "summary.txt rows"

# ---- the devices step alone: exit 0, the rest not selected ---------------------------------------
"$check" --only devices "$tmp/b" "$build" >"$tmp/b.out" 2>"$tmp/b.err"
rc=$?
[ "$rc" -eq 0 ] || fail "--only devices exited $rc: $(cat "$tmp/b.err")"
python3 - "$tmp/b/summary.json" <<'PY' || fail "summary.json of --only devices"
import json, sys
s = json.load(open(sys.argv[1]))
st = [(x["name"], x["status"], x["reason"]) for x in s["steps"]]
assert st[0][:2] == ("devices", "PASS") and all(x[1:] == ("SKIP", "not selected (--only)") for x in st[1:]), st
assert s["exit_status"] == 0 and s["quick"] is False, s
PY
ok "--only devices: exit 0, the other seven steps SKIP"

# ---- bad usage ----------------------------------------------------------------------------------
expect_exit "gpu-check.sh --bogus" 2 "$check" --bogus "$tmp/c"
expect_exit "gpu-check.sh --timeout nosuch=5" 2 "$check" --timeout nosuch=5 "$tmp/c" "$build"
expect_exit "gpu-check.sh --timeout bench=0" 2 "$check" --timeout bench=0 "$tmp/c" "$build"
expect_exit "gpu-check.sh without OUTDIR" 2 "$check"
expect_exit "gpu-check.sh with a build folder without hrm" 2 "$check" "$tmp/c" "$tmp"
"$check" --help >"$tmp/help" || fail "--help exited non-zero"
grep -q '^usage: scripts/gpu-check.sh' "$tmp/help" || fail "--help prints no usage line"

if [ "$fails" -ne 0 ]; then
    echo "test-gpu-check: $fails check(s) failed"
    exit 1
fi
echo "test-gpu-check: all checks passed"
