#!/bin/bash
# tests/cli/test-bench.sh HRM - checks the `hrm bench` suite end to end on the CPU backend: one quick
# run whose JSON results must hold every measurement with valid fields; --compare of a stored run
# against itself (ratios exactly 1) and against a base with halved rates (ratios 2: this/base,
# not the other way round); `hrm bench plot` of two files gives an SVG that parses as XML with
# both devices and the measurements in it; a corrupt or foreign results file is one line naming
# it and exit 1; an unknown option exit 2; a file written before the activation-sized bandwidth
# roof still loads and compares; `hrm bench train` rates MFU against the GEMM peak of the device it
# ran on (CPU backend, and the OpenCL one where usable: PoCL here) and says so in its text and
# JSON; `hrm bench train --model trm` (the published TRM, batch 1, one step) gives its parameter
# count, the FLOPs of bench_train.c's formula and TRM's memory check (not growing with T, growing
# with n). About 80 s on the 2-core development VM.
set -euo pipefail
hrm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# $1: description, $2: wanted exit code, then the command; it must print exactly one line on
# stderr, naming $NAMED when that is set, and nothing on stdout
expect_error() {
    local what=$1 want=$2 rc=0
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    [ "$rc" -eq "$want" ] || fail "$what: exit $rc, want $want: $(cat "$tmp/err")"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$what: want one line on stderr, got: $(cat "$tmp/err")"
    [ ! -s "$tmp/out" ] || fail "$what: wrote to stdout: $(head -3 "$tmp/out")"
    if [ -n "${NAMED:-}" ]; then grep -qF -- "$NAMED" "$tmp/err" || fail "$what: the error does not name $NAMED"; fi
    echo "ok: $what -> $(cat "$tmp/err")"
}

# ---- one quick run ------------------------------------------------------------------------------
a=$tmp/a.json
if ! "$hrm" bench --backend cpu --quick --json "$a" >"$tmp/table" 2>"$tmp/progress"; then
    cat "$tmp/table" "$tmp/progress"
    fail "hrm bench --backend cpu --quick exited non-zero"
fi
cat "$tmp/table"
grep -q '^== cpu / device 0: ' "$tmp/table" || fail "the table has no heading for cpu device 0"
grep -q '^peak gemm fp32 ' "$tmp/table" || fail "the table has no 'peak gemm fp32' row"
grep -q '^peak add bandwidth, activation-sized ' "$tmp/table" ||
    fail "the table has no 'peak add bandwidth, activation-sized' row"
grep -q '^peak: .*, activation-sized bandwidth [0-9.]* GB/s' "$tmp/table" ||
    fail "the table's peak line does not give the activation-sized bandwidth"
grep -q '^hrm bench: cpu/0 \[.*\] peak add bandwidth, activation-sized  *[0-9.]* GB/s$' "$tmp/progress" ||
    fail "no progress line for the activation-sized bandwidth peak"
lines=$(grep -c '^hrm bench: cpu/0 \[' "$tmp/progress" || true)
[ "$lines" -ge 42 ] || fail "$lines progress lines on stderr, want one per measurement (>= 42)"

python3 - "$a" <<'PY'
import json, math, sys
r = json.load(open(sys.argv[1]))
assert r["format"] == "hrm-bench" and r["format_version"] == 1, (r.get("format"), r.get("format_version"))
assert r["hrm_version"] and r["git_commit"] and r["date"].endswith("Z"), r
assert r["quick"] is True
assert r["host"]["cores"] >= 1 and r["host"]["cpu"] and r["host"]["os"], r["host"]
assert len(r["runs"]) == 1, len(r["runs"])
run = r["runs"][0]
assert run["backend"] == "cpu" and run["device_index"] == 0 and run["device"] and run["driver"], run
assert run["peak_gflops"] > 0 and run["peak_gbps"] > 0, (run["peak_gflops"], run["peak_gbps"])

ops = [f"op matmul {l} {f}" for l in ("qkv", "o_proj", "gate_up", "down") for f in ("fwd", "dgrad", "wgrad")]
ops += [f"op attention {d} S={s}" for s in (82, 901) for d in ("fwd", "bwd")]
ops += ["op add a+b", "op add a+b+c"] + [f"op {o} {d}" for d in ("fwd", "bwd") for o in ("rmsnorm", "swiglu", "rope")]
ops += ["op embedding fwd", "op xent fwd", "op xent bwd", "op adam_atan2", "op signsgd_rows"]
models = [f"{k} {m}" for m in ("small", "sudoku") for k in ("train step", "eval segment", "peak memory")]
resident = "peak add bandwidth, activation-sized"
expected = ["peak gemm fp32", "peak copy bandwidth", "peak add bandwidth", resident] + ops + models
expected += ["memory 2x2 small", "memory 8x8 small", "memory growth 8x8/2x2 small"]

fields = {"name", "group", "unit", "detail", "median", "min", "max", "repeats", "fraction_of_peak", "peak",
          "status", "reason"}
names = [e["name"] for e in run["entries"]]
assert sorted(names) == sorted(expected), (set(expected) - set(names), set(names) - set(expected))
by = {}
for e in run["entries"]:
    assert fields <= set(e), (e["name"], fields - set(e))
    assert e["status"] in ("ok", "unsupported", "failed"), e
    if e["status"] == "ok":
        assert e["reason"] is None, e
        assert e["repeats"] >= 1 and 0 < e["min"] <= e["median"] <= e["max"], e
        f = e["fraction_of_peak"]
        assert f is None or (isinstance(f, float) and f > 0 and math.isfinite(f)), e
    else:
        assert isinstance(e["reason"], str) and e["reason"], e
        assert e["median"] is None and e["fraction_of_peak"] is None, e
    by[e["name"]] = e

# on the CPU backend everything runs, but the Sudoku model may be skipped by the quick bound on a
# loaded machine; a skip must say so
for name, e in by.items():
    if e["status"] != "ok":
        assert name.endswith("sudoku") and e["status"] == "unsupported" and "skipped" in e["reason"], e
# two bandwidth roofs: DRAM (the better of the 256 MiB copy and add) and the activation-sized add,
# which is not part of the DRAM one
p = by[resident]
assert p["status"] == "ok" and p["group"] == "peak" and p["unit"] == "GB/s" and p["median"] > 0, p
assert "2624x512" in p["detail"], p
assert math.isclose(run["peak_gbps_resident"], p["median"], rel_tol=1e-9), (run["peak_gbps_resident"], p)
dram = max(by[n]["median"] for n in ("peak copy bandwidth", "peak add bandwidth") if by[n]["status"] == "ok")
assert math.isclose(run["peak_gbps"], dram, rel_tol=1e-9), (run["peak_gbps"], dram)
# ops moving at most 128 MiB a call (the elementwise and row ops at batch 32, xent, signsgd) are
# held against the activation-sized roof; adam_atan2 (728 MiB, every parameter) against DRAM
elementwise = ["op add a+b", "op add a+b+c", "op embedding fwd"]
elementwise += [f"op {o} {d}" for d in ("fwd", "bwd") for o in ("rmsnorm", "swiglu", "rope")]
for name in ops:
    e = by[name]
    if "matmul" in name or "attention" in name:
        want = ("GFLOP/s", "gemm")
    elif name == "op adam_atan2":
        want = ("GB/s", "bandwidth")
    else:
        want = ("GB/s", "bandwidth_resident")
    assert (e["unit"], e["peak"]) == want and e["fraction_of_peak"] is not None, e
    if e["unit"] == "GB/s":
        roof = run["peak_gbps_resident"] if e["peak"] == "bandwidth_resident" else run["peak_gbps"]
        assert math.isclose(e["fraction_of_peak"], e["median"] / roof, rel_tol=1e-6), (e, roof)
for name in elementwise:
    assert by[name]["peak"] == "bandwidth_resident", by[name]
for name in ("train step small", "eval segment small"):
    e = by[name]
    assert e["unit"] == "samples/s" and e["peak"] == "gemm" and 0 < e["fraction_of_peak"] < 2, e
assert by["peak memory small"]["unit"] == "MiB" and by["peak memory small"]["median"] > 1, by["peak memory small"]
g = by["memory growth 8x8/2x2 small"]
assert g["status"] == "ok" and g["median"] == 1.0, g
assert by["memory 2x2 small"]["median"] == by["memory 8x8 small"]["median"] > 0
print("ok: results file: format 1, %d entries, every expected measurement, valid fields" % len(names))
PY

# ---- --compare ----------------------------------------------------------------------------------
"$hrm" bench --load "$a" --compare "$a" >"$tmp/cmp" || fail "hrm bench --load A --compare A exited non-zero"
grep -q '^42 measurements in both, 0 only in this run, 0 only in the base$' "$tmp/cmp" ||
    fail "--compare of a run with itself does not match every measurement: $(tail -1 "$tmp/cmp")"
# every row with a ratio: this/base = 1.000 exactly
awk '/^== compare / { on = 1; next }
     on && $NF ~ /^[0-9.]+$/ && $0 !~ /measurements in both/ { n++; if ($NF != "1.000") bad++ }
     END { if (n < 30 || bad) { print n " ratio rows, " bad " not 1.000"; exit 1 } }' "$tmp/cmp" ||
    fail "--compare A A: ratios are not all 1.000"
echo "ok: --compare of a run with itself: ratios 1.000"

python3 - "$a" "$tmp/half.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for e in r["runs"][0]["entries"]:
    for k in ("median", "min", "max"):
        if e[k] is not None:
            e[k] /= 2
json.dump(r, open(sys.argv[2], "w"))
PY
"$hrm" bench --load "$a" --compare "$tmp/half.json" >"$tmp/cmp2" || fail "--compare with a halved base failed"
grep -q '^peak gemm fp32 .* 2\.000$' "$tmp/cmp2" || fail "--compare does not print this/base = 2.000 against a halved base"
echo "ok: --compare against a base with halved rates: this/base 2.000"

# a file written before the activation-sized roof (no peak_gbps_resident, no such entry, every
# bandwidth op against "bandwidth") still loads, compares and plots; the new file compares with it
python3 - "$a" "$tmp/old.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
run = r["runs"][0]
del run["peak_gbps_resident"]
run["entries"] = [e for e in run["entries"] if e["name"] != "peak add bandwidth, activation-sized"]
for e in run["entries"]:
    if e["peak"] == "bandwidth_resident":
        e["peak"] = "bandwidth"
        e["fraction_of_peak"] = e["median"] / run["peak_gbps"]
json.dump(r, open(sys.argv[2], "w"))
PY
"$hrm" bench --load "$tmp/old.json" >"$tmp/old-table" ||
    fail "hrm bench --load of a file without the activation-sized roof"
grep -q '^peak: .*, activation-sized bandwidth - GB/s' "$tmp/old-table" ||
    fail "--load of an older file: the activation-sized bandwidth is not shown as unmeasured"
"$hrm" bench --load "$a" --compare "$tmp/old.json" >"$tmp/cmp3" || fail "--compare with an older file failed"
grep -q '^41 measurements in both, 1 only in this run, 0 only in the base$' "$tmp/cmp3" ||
    fail "--compare with an older file: $(tail -1 "$tmp/cmp3")"
"$hrm" bench plot "$a" "$tmp/old.json" --out "$tmp/old.svg" --metric fraction_of_peak >/dev/null ||
    fail "bench plot with an older file"
echo "ok: a results file without the activation-sized roof loads, compares (41 in both) and plots"

# ---- plot ---------------------------------------------------------------------------------------
python3 - "$a" "$tmp/b.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["runs"][0]["backend"] = "opencl"
r["runs"][0]["device"] = "Some <GPU> & Co"
json.dump(r, open(sys.argv[2], "w"))
PY
for metric in samples_per_s fraction_of_peak; do
    svg=$tmp/$metric.svg
    "$hrm" bench plot "$a" "$tmp/b.json" --out "$svg" --metric $metric >"$tmp/out" || fail "bench plot --metric $metric"
    python3 - "$svg" "$metric" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag.endswith("svg"), root.tag
text = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text") or t.tag.endswith("title"))
assert "cpu/" in text and "opencl/Some <GPU> & Co" in text, text[:300]
assert "train step small" in text, text[:300]
if sys.argv[2] == "fraction_of_peak":
    assert "op matmul qkv fwd" in text, text[:300]
PY
    echo "ok: bench plot --metric $metric: $(cat "$tmp/out")"
done

# ---- bad input ----------------------------------------------------------------------------------
head -c 300 "$a" >"$tmp/corrupt.json"
echo '{"format_version": 1, "entries": []}' >"$tmp/foreign.json"
sed 's/"format_version": 1/"format_version": 99/' "$a" >"$tmp/future.json"
NAMED=$tmp/corrupt.json expect_error "--compare with a truncated file" 1 "$hrm" bench --backend cpu --compare "$tmp/corrupt.json"
NAMED=$tmp/foreign.json expect_error "--compare with a file of another format" 1 "$hrm" bench --compare "$tmp/foreign.json"
NAMED=$tmp/future.json expect_error "--compare with format version 99" 1 "$hrm" bench --compare "$tmp/future.json"
NAMED=$tmp/missing.json expect_error "--compare with a missing file" 1 "$hrm" bench --compare "$tmp/missing.json"
NAMED=$tmp/corrupt.json expect_error "bench plot with a truncated file" 1 "$hrm" bench plot "$a" "$tmp/corrupt.json" --out "$tmp/x.svg"
[ ! -e "$tmp/x.svg" ] || fail "bench plot wrote a chart despite a bad input file"
expect_error "hrm bench --bogus" 2 "$hrm" bench --bogus
expect_error "hrm bench plot --bogus" 2 "$hrm" bench plot "$a" --out "$tmp/x.svg" --bogus
expect_error "hrm bench plot --metric nosuch" 2 "$hrm" bench plot "$a" --out "$tmp/x.svg" --metric nosuch
expect_error "hrm bench plot without --out" 2 "$hrm" bench plot "$a"
NAMED=nosuchdevice expect_error "hrm bench --device nosuchdevice" 1 "$hrm" bench --backend cpu --device nosuchdevice
NAMED=nosuchdevice expect_error "hrm bench --backend all --device nosuchdevice" 1 "$hrm" bench --device nosuchdevice
# ---- hrm bench train: MFU against the GEMM peak of the device it ran on --------------------------
# The peak is the backend's own GEMM (bench_peak.c, as `hrm bench` measures it), never the host's
# cblas_sgemm: against cblas an H200 showed MFU of 2123%. Checked on the CPU backend and, where
# one is usable (PoCL here), on the OpenCL backend, whose peak must name the OpenCL device.
# `--batch 8 --steps 1 --no-memory` keeps it to seconds on PoCL.
train_check() {
    local backend=$1 json=$tmp/train-$1.json
    if ! "$hrm" bench train --backend "$backend" --model small --batch 8 --steps 1 --no-memory --json "$json" \
        >"$tmp/train.txt" 2>"$tmp/train.err"; then
        cat "$tmp/train.txt" "$tmp/train.err"
        fail "hrm bench train --backend $backend exited non-zero"
    fi
    local line="^peak: fp32 GEMM of this device through the $backend backend, as \`hrm bench\` measures it: "
    grep -q "${line}[0-9.]* GFLOP/s (matmul m=n=k=[0-9]* " "$tmp/train.txt" ||
        fail "bench train --backend $backend: the peak is not the $backend GEMM: $(grep '^peak' "$tmp/train.txt")"
    grep -q "MFU = model FLOP/s / the device's GEMM peak" "$tmp/train.txt" ||
        fail "bench train --backend $backend: the MFU is not said to be against the device's GEMM peak"
    ! grep '^peak' "$tmp/train.txt" | grep -qi cblas || fail "bench train --backend $backend: the peak is cblas_sgemm's"
    python3 - "$json" "$backend" <<'PY'
import json, math, sys
r = json.load(open(sys.argv[1]))
backend = sys.argv[2]
p = r["peak"]
# which peak: kind, backend and device; n and gflops where older readers (bench-vs-torch.sh) read them
assert p.get("kind") == "backend_gemm", ("peak kind", p)
assert p["backend"] == backend and r["backend"].startswith(backend + " ("), (p, r["backend"])
assert p["device"] and p["device"] == r["device"]["name"], (p, r["device"])
assert p["n"] >= 256 and p["n"] & (p["n"] - 1) == 0 and p["n"] <= p["largest_n"], p
assert p["gflops"] > 0 and math.isclose(p["gflops"], max(p["gflops_before"], p["gflops_after"])), p
assert "m=n=k=%d" % p["n"] in p["detail"], p
m = r["models"][0]
for k in ("model", "batch", "params", "train_samples_per_s", "eval_samples_per_s", "train_flops_per_sample",
          "train_gflops", "eval_gflops", "mfu_train", "mfu_eval", "memory_peak_bytes"):
    assert k in m, ("missing", k)
assert m["model"] == "small" and m["batch"] == 8 and m["memory_peak_bytes"] > 0, m
# the MFU is against that peak and nothing else
for mfu, rate in (("mfu_train", "train_gflops"), ("mfu_eval", "eval_gflops")):
    assert math.isclose(m[mfu], m[rate] / p["gflops"], rel_tol=1e-9), (mfu, m[mfu], m[rate], p["gflops"])
    # models built of this device's GEMMs cannot run far above its GEMM peak
    assert 0 < m[mfu] < 1.5, (mfu, m[mfu], "against a peak that is not this device's")
print("ok: bench train --backend %s: MFU %.0f%% of the %s GEMM peak of %s (%.1f GFLOP/s at %d^3)"
      % (backend, 100 * m["mfu_train"], p["backend"], p["device"], p["gflops"], p["n"]))
PY
}
train_check cpu
if "$hrm" backends 2>/dev/null | grep -q '^opencl  *usable'; then
    train_check opencl
else
    echo "skip: bench train --backend opencl: no usable OpenCL device"
fi
grep -q "MFU against the GEMM peak of the device" <("$hrm" bench train --help) ||
    fail "bench train --help does not say what the MFU is against"
# --batch up to 4096 for every model (the published Sudoku batch is 768): parsed, then the backend
# is what fails here
NAMED=nosuch expect_error "bench train --model sudoku --batch 768 (the backend is refused, not the batch)" 1 \
    "$hrm" bench train --backend nosuch --model sudoku --batch 768
NAMED=--batch expect_error "bench train --batch 5000" 2 "$hrm" bench train --model sudoku --batch 5000
NAMED=nosuch expect_error "bench train --model trm,nosuch" 2 "$hrm" bench train --model trm,nosuch

# ---- hrm bench train: TRM -----------------------------------------------------------------------
# The published Sudoku attention form at batch 1, one timed step and segment, with the memory
# check: T = 1 and 4 at n = 6 equal, n = 2 less (the n + 1 saved calls of the last cycle).
tjson=$tmp/train-trm.json
if ! "$hrm" bench train --backend cpu --model trm --batch 1 --steps 1 --json "$tjson" >"$tmp/trm.txt" 2>"$tmp/trm.err"; then
    cat "$tmp/trm.txt" "$tmp/trm.err"
    fail "hrm bench train --model trm exited non-zero"
fi
cat "$tmp/trm.txt"
grep -q '^trm  *6828034  *1 ' "$tmp/trm.txt" || fail "bench train --model trm: no row with 6828034 parameters, batch 1"
grep -q 'at T=4 (n=6): does not grow with T; [0-9]* bytes at n=2 (T=1): [0-9.]* MiB per z-update' "$tmp/trm.txt" ||
    fail "bench train --model trm: the memory check does not say it does not grow with T"
python3 - "$tjson" <<'PY'
import json, math, sys
m = json.load(open(sys.argv[1]))["models"][0]
assert m["model"] == "trm" and m["arch"] == "trm" and m["params"] == 6828034, m
assert (m["hidden"], m["heads"], m["L_layers"], m["H_cycles"], m["L_cycles"], m["puzzle_emb_len"], m["full_seq"]) == \
    (512, 8, 2, 3, 6, 16, 97), m
# bench_train.c's formula, restated: T(n+1) calls of 2 blocks forward, the last n+1 backward, heads
D, I, S, T, n, B = 512, 1536, 97, 3, 6, 1
block = B * S * 2 * D * (3 * D + D + 2 * I + I)
heads = 2 * B * 81 * D * 11 + 2 * B * D * 2
fwd = T * (n + 1) * 2 * (block + 4 * B * S * S * D) + heads
bwd = (n + 1) * 2 * (2 * block + 10 * B * S * S * D) + 2 * heads
assert math.isclose(m["train_flops_per_sample"], (fwd + bwd) / B, rel_tol=1e-12), (m["train_flops_per_sample"], fwd + bwd)
assert math.isclose(m["eval_flops_per_sample"], fwd / B, rel_tol=1e-12), (m["eval_flops_per_sample"], fwd)
t1, t4, n2 = m["memory_peak_bytes_T1_n6"], m["memory_peak_bytes_T4_n6"], m["memory_peak_bytes_T1_n2"]
assert t1 == t4 > n2 > 0 and not m["memory_grows"], m
assert math.isclose(m["memory_per_z_update_bytes"], (t1 - n2) / 4), m
assert "memory_peak_bytes_2x2" not in m, m
print("ok: bench train --model trm: %d parameters, %.2f GFLOP per training sample, memory %.1f MiB at T 1 and 4, "
      "%.2f MiB per z-update" % (m["params"], m["train_flops_per_sample"] * 1e-9, t1 / 2**20,
                                 m["memory_per_z_update_bytes"] / 2**20))
PY

echo "all hrm bench checks passed"
