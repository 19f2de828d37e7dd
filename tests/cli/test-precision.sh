#!/usr/bin/env bash
# tests/cli/test-precision.sh HRM DATA - matmul_precision end to end on the CPU backend, with the tiny
# dataset DATA (tests/golden/data) and a tiny architecture:
#   - bad values of matmul_precision / --matmul-precision give one line and exit 2;
#   - on a device without the asked unit, training runs the next higher precision and says so,
#     and the asked one is kept in hrm.train (a resumed run asks for it again);
#   - with HRM_CPU_PRECISION=emulate (the CPU backend rounds operands to tf32 / bf16 and multiplies
#     in fp32: the numbers of a matrix unit, without its speed), 12 training steps at medium and at
#     high follow the fp32 run: every step's train/loss within BAND (relative) of fp32's, and not
#     bit-identical to it (the rounding really happened);
#   - hrm eval --matmul-precision medium reports what ran ("matmul_precision" in its JSON) and
#     metrics near fp32's (hrm solve's option: tests/cli/test-tasks.sh); hrm bench train's JSON names the precision
#     of the models and of the peak its MFU is against.
set -uo pipefail
hrm=$1
data=$2
. "$(dirname "$0")/test-lib.sh"

export HRM_THREADS=2 HRM_BACKEND=cpu
unset HRM_CPU_PRECISION
# Loss band: on the 2-core development VM the largest relative step-loss difference to highest
# over these 12 steps was 0.0143 at medium (bf16 operands, relative error 2^-8 each; it grows
# with the steps as halting decisions drift apart) and 0.0017 at high; the band is 3.5x that.
BAND=${HRM_TEST_PRECISION_BAND:-0.05}
arch="arch.hidden_size=32 arch.num_heads=2 arch.H_layers=1 arch.L_layers=1 arch.halt_max_steps=4"
base="data_path=$data $arch global_batch_size=6 lr=1e-2 lr_warmup_steps=2 lr_min_ratio=0.1 epochs=20 data_shuffle=false"

# ok only when nothing failed since the section began (mark)
mark() { section_fails=$fails; }
ok_if() { [ "$fails" -eq "$section_fails" ] && ok "$*"; }
mark

# ---- bad values --------------------------------------------------------------------------------
expect_exit "train matmul_precision=fast" 2 $hrm train $base checkpoint_path="$tmp/bad" matmul_precision=fast
grep -q "matmul_precision" "$tmp/err" || fail "the error does not name matmul_precision"
[ -e "$tmp/bad" ] && fail "a refused run created its folder"
expect_exit "eval --matmul-precision fp16" 2 $hrm eval --checkpoint x --data "$data" --matmul-precision fp16
expect_exit "bench train --matmul-precision 3" 2 $hrm bench train --matmul-precision 3

mark
# ---- no unit: the next higher precision, said once; the asked one kept --------------------------
# The CPU backend reports medium only where oneDNN has a bf16 kernel for this CPU; high (tf32) it
# never reports, so `high` shows the fallback everywhere.
if ! $hrm train $base checkpoint_path="$tmp/fb" max_steps=2 matmul_precision=high >"$tmp/out" 2>"$tmp/err"; then
    fail "train at high: $(cat "$tmp/err")"
else
    grep -q "^matmul precision: high asked, running highest (fp32 operands): backend cpu has no tf32 path" "$tmp/out" ||
        fail "train at high: no fallback line: $(grep -i precision "$tmp/out")"
    [ "$(grep -ci "precision" "$tmp/out" "$tmp/err" | awk -F: '{s += $2} END {print s}')" -eq 1 ] ||
        fail "the fallback is said more than once"
    python3 - "$tmp/fb/step_2.safetensors" <<'PY' || fail "hrm.train does not keep matmul_precision=high"
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
t = json.loads(json.loads(b[8:8 + n])["__metadata__"]["hrm.train"])
assert t["matmul_precision"] == "high", t
PY
    $hrm train $base checkpoint_path="$tmp/fb" max_steps=3 >"$tmp/out" 2>"$tmp/err" || fail "resume: $(cat "$tmp/err")"
    grep -q "^matmul precision: high asked" "$tmp/out" || fail "a resumed run does not ask for high again"
    ok_if "no tf32 unit: high runs highest, says so once, and is kept for the resumed run"
fi

mark
# ---- emulated reduced precision against fp32 ----------------------------------------------------
train() { # $1 precision, $2 dir
    HRM_CPU_PRECISION=emulate $hrm train $base checkpoint_path="$2" max_steps=12 eval_interval=20 \
        matmul_precision="$1" >"$tmp/out" 2>"$tmp/err" || { fail "train at $1: $(cat "$tmp/err")"; return 1; }
    grep -q "^matmul precision: $1 (" "$tmp/out" || fail "train at $1: no precision line: $(grep -i precision "$tmp/out")"
}
if train highest "$tmp/p0" && train medium "$tmp/p2" && train high "$tmp/p1"; then
    python3 - "$tmp" "$BAND" <<'PY' || fail "losses at reduced precision outside the band of fp32's"
import json, sys
tmp, band = sys.argv[1], float(sys.argv[2])
def losses(d):
    return [json.loads(l)["train/loss"] for l in open(f"{tmp}/{d}/metrics.jsonl") if '"train/loss"' in l]
ref = losses("p0")
assert len(ref) == 12, len(ref)
for d, name in (("p2", "medium"), ("p1", "high")):
    got = losses(d)
    assert len(got) == 12, (name, len(got))
    rel = [abs(a - b) / abs(b) for a, b in zip(got, ref)]
    print(f"{name}: largest relative step-loss difference to highest {max(rel):.3g} (band {band})")
    assert max(rel) <= band, (name, rel)
    assert max(rel) > 0, f"{name}: losses identical to fp32: nothing was rounded"
PY
    ok_if "12 steps at medium and high follow highest within $BAND"
fi

mark
# ---- a native bf16 unit (oneDNN on AVX512-BF16 / AMX) against the emulation ----------------------
# Where the CPU backend reports medium by itself, its products are oneDNN's bf16 kernels. They
# take the same rounded operands as the emulation and differ from it only in the order of the
# fp32 sums. The first step's loss is then the emulation's to 1e-6 (measured on an Intel Xeon with
# AMX, 2026-12-05: equal); later steps drift further, because a sum-order difference of 1e-7 flips
# the bf16 rounding of the values next to a boundary by a whole bf16 step (measured: 3e-5 at step
# 2, 4.4e-3 at step 11, against 1e-7 between two fp32 engines), so steps 2-4 are held to 1e-3
# and all 12 to the band. A CPU with a bf16 unit (avx512_bf16 or amx_bf16 in /proc/cpuinfo) whose
# backend, built with oneDNN, reports no native medium fails: its start-up check refused a real
# kernel (its bound was once NaN, and no CPU here had the unit to show it). Elsewhere this part
# says so and passes.
unit=$(grep -o -m1 -w 'amx_bf16\|avx512_bf16' /proc/cpuinfo 2>/dev/null | head -n 1)
HRM_CPU_PRECISION=native HRM_LOG=info $hrm backends --validate >"$tmp/native" 2>&1
if grep -q "matmul precisions: .*medium (oneDNN" "$tmp/native"; then
    if HRM_CPU_PRECISION=native $hrm train $base checkpoint_path="$tmp/pn" max_steps=12 eval_interval=20 \
        matmul_precision=medium >"$tmp/out" 2>"$tmp/err" && [ -f "$tmp/p2/metrics.jsonl" ]; then
        python3 - "$tmp" "$BAND" <<'PY' || fail "native bf16 losses are not the emulation's (1e-6 at step 1, 1e-3 to step 4)"
import json, sys
tmp = sys.argv[1]
def losses(d):
    return [json.loads(l)["train/loss"] for l in open(f"{tmp}/{d}/metrics.jsonl") if '"train/loss"' in l]
em, na = losses("p2"), losses("pn")
assert len(em) == len(na) == 12, (len(em), len(na))
rel = [abs(a - b) / abs(b) for a, b in zip(na, em)]
print("native medium: relative step-loss differences to the emulation " + " ".join(f"{r:.2g}" for r in rel))
assert rel[0] <= 1e-6 and max(rel[1:4]) <= 1e-3 and max(rel) <= float(sys.argv[2]), (na, em)
PY
        ok_if "native bf16 (oneDNN) trains as the emulation does, to the order of its sums"
    else
        fail "train at native medium: $(cat "$tmp/err")"
    fi
elif [ -n "$unit" ] && ! grep -q "built without oneDNN\|oneDNN is not available" "$tmp/native"; then
    fail "this CPU has $unit, but the CPU backend reports no native bf16 matmul: $(sed -n 's/.*(medium not reported: \(.*\)); OpenBLAS.*/\1/p' "$tmp/native")"
else
    ok "no native bf16 unit here (${unit:-no avx512_bf16 or amx_bf16}; or no oneDNN): native part not run"
fi

mark
# ---- eval and bench train at an emulated precision ----------------------------------------------
ck="$tmp/p0/step_12.safetensors"
if [ -f "$ck" ]; then
    $hrm eval --checkpoint "$ck" --data "$data" >"$tmp/e0.json" 2>"$tmp/err" || fail "eval: $(cat "$tmp/err")"
    HRM_CPU_PRECISION=emulate $hrm eval --checkpoint "$ck" --data "$data" --matmul-precision medium \
        >"$tmp/e2.json" 2>"$tmp/err" || fail "eval at medium: $(cat "$tmp/err")"
    python3 - "$tmp/e0.json" "$tmp/e2.json" <<'PY' || fail "eval at medium: wrong precision or metrics far from fp32"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a["matmul_precision"] == "highest" and b["matmul_precision"] == "medium", (a["matmul_precision"], b["matmul_precision"])
assert abs(a["lm_loss"] - b["lm_loss"]) <= 0.02 * abs(a["lm_loss"]), (a["lm_loss"], b["lm_loss"])
assert a["lm_loss"] != b["lm_loss"], "identical lm_loss: nothing was rounded"
PY
    ok_if "eval at medium: what ran, in the JSON; metrics near fp32's"
fi
mark
if HRM_CPU_PRECISION=emulate $hrm bench train --model small --batch 2 --steps 1 --no-memory --matmul-precision medium \
    --json "$tmp/bt.json" >"$tmp/out" 2>"$tmp/err"; then
    python3 - "$tmp/bt.json" <<'PY' || fail "bench train JSON: precision fields"
import json, sys
d = json.load(open(sys.argv[1]))
p = d["peak"]
assert p["matmul_precision"] == "medium" and p["operands"] == "bf16" and p["matmul_precision_asked"] == "medium", p
assert "medium" in p["device_precisions"], p
assert d["models"][0]["matmul_precision"] == "medium", d["models"][0]
PY
    grep -q "^peak: bf16 GEMM" "$tmp/out" || fail "bench train: the peak line does not say bf16"
    ok_if "bench train at medium: MFU against the bf16 peak"
else
    fail "bench train at medium: $(cat "$tmp/err")"
fi

mark
# hrm bench gemm: each precision the device runs, timed; the others listed as not run
if $hrm bench gemm --n 96 --min-time 0 --json "$tmp/g0.json" >"$tmp/g0.txt" 2>"$tmp/err" &&
    HRM_CPU_PRECISION=emulate $hrm bench gemm --n 96 --min-time 0 --json "$tmp/g1.json" >"$tmp/g1.txt" 2>"$tmp/err"; then
    python3 - "$tmp/g0.json" "$tmp/g1.json" <<'PY' || fail "bench gemm JSON"
import json, sys
g0, g1 = (json.load(open(p)) for p in sys.argv[1:])
r0 = {r["matmul_precision"]: r for r in g0["results"]}
assert r0["highest"]["ran"] and r0["highest"]["gflops"] > 0 and r0["highest"]["vs_fp32"] == 1.0, r0
assert not r0["high"]["ran"] and "gflops" not in r0["high"], r0   # no tf32 path on a CPU
r1 = {r["matmul_precision"]: r for r in g1["results"]}
assert all(r1[p]["ran"] and r1[p]["gflops"] > 0 for p in ("highest", "high", "medium")), r1
PY
    grep -q "^high      tf32  not run: this device has no tf32 path" "$tmp/g0.txt" || fail "bench gemm: high not listed as not run"
    ok_if "bench gemm: the precisions the device runs, timed; the others listed as not run"
else
    fail "bench gemm: $(cat "$tmp/err")"
fi

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all precision checks passed"
