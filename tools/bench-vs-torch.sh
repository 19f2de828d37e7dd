#!/bin/sh
# tools/bench-vs-torch.sh - the C engine's CPU backend beside the PyTorch reference, same threads,
# interleaved in one run: `hrm bench train` and `tools/reference/hrm_ref.py --bench` for the
# 'small' (hidden 128, 2+2 layers, batch 32) and 'sudoku' (published 27M model, batch 8)
# configurations, ROUNDS times in the order C, torch, C, torch; the table shows medians over the
# rounds.
#
# PyTorch runs twice per round: as it starts by default, and with OMP_WAIT_POLICY=PASSIVE (with
# OpenBLAS as its BLAS, torch's spinning OpenMP workers otherwise compete with OpenBLAS's threads
# for the cores). The ratios are against the faster of the two.
#
#   tools/bench-vs-torch.sh [BUILD_DIR]          (default: build)
# Environment: HRM_THREADS (default: all cores), ROUNDS (default 3), STEPS (exactly this many timed
# steps and segments per measurement; default at least 5 and 2 s), JSON_OUT (the table as JSON).
# Needs /usr/bin/python3 with torch (Debian's python3-torch). Takes about 8 minutes on 2 cores.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${1:-$root/build}
hrm=$build/tools/hrm
py=/usr/bin/python3
ref=$here/reference/hrm_ref.py
rounds=${ROUNDS:-3}
# STEPS unset: both sides time >= 5 calls and >= 2 s; set: exactly STEPS calls each
if [ -n "${STEPS:-}" ]; then
    c_steps="--steps $STEPS" t_steps="--steps $STEPS --min-time 0"
else
    c_steps='' t_steps="--steps 5 --min-time 2"
fi
threads=${HRM_THREADS:-$(nproc)}

if ! "$py" -c 'import torch' >/dev/null 2>&1; then
    echo "bench-vs-torch.sh: $py cannot import torch (Debian's python3-torch is needed)" >&2
    exit 1
fi
if [ ! -x "$hrm" ]; then
    echo "bench-vs-torch.sh: $hrm not found (build first: ninja -C $build)" >&2
    exit 1
fi

export HRM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

r=1
while [ "$r" -le "$rounds" ]; do
    for m in small sudoku; do
        mem=--no-memory
        [ "$r" -eq 1 ] && mem= # the 2x2 vs 8x8 memory check once
        echo "round $r/$rounds: $m: C ..." >&2
        # shellcheck disable=SC2086
        "$hrm" bench train --backend cpu --model "$m" $c_steps $mem --json "$tmp/c_${m}_$r.json" \
            >"$tmp/c_${m}_$r.txt" 2>"$tmp/c_${m}_$r.err" || {
            cat "$tmp/c_${m}_$r.err" >&2
            exit 1
        }
        echo "round $r/$rounds: $m: torch ..." >&2
        # shellcheck disable=SC2086
        "$py" "$ref" --bench --model "$m" --threads "$threads" $t_steps >"$tmp/t_${m}_$r.json"
        echo "round $r/$rounds: $m: torch, OMP_WAIT_POLICY=PASSIVE ..." >&2
        # shellcheck disable=SC2086
        OMP_WAIT_POLICY=PASSIVE "$py" "$ref" --bench --model "$m" --threads "$threads" $t_steps \
            >"$tmp/p_${m}_$r.json"
    done
    r=$((r + 1))
done

"$py" - "$tmp" "$rounds" "$threads" "${JSON_OUT:-}" <<'EOF'
import json, statistics, sys, time
tmp, rounds, threads, json_out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def load(kind, m, r):
    with open(f"{tmp}/{kind}_{m}_{r}.json") as f:
        return json.load(f)
med = statistics.median
rows, report = [], {"threads": threads, "rounds": rounds, "date": time.strftime("%Y-%m-%d"), "models": {}}
for m in ("small", "sudoku"):
    c = [load("c", m, r)["models"][0] for r in range(1, rounds + 1)]
    peak = [load("c", m, r)["peak"]["gflops"] for r in range(1, rounds + 1)]
    t = [load("t", m, r) for r in range(1, rounds + 1)]
    p = [load("p", m, r) for r in range(1, rounds + 1)]
    d = {
        "batch": c[0]["batch"], "params": c[0]["params"],
        "c_train": med(x["train_samples_per_s"] for x in c), "c_eval": med(x["eval_samples_per_s"] for x in c),
        "torch_default_train": med(x["train_samples_per_s"] for x in t),
        "torch_default_eval": med(x["eval_samples_per_s"] for x in t),
        "torch_passive_train": med(x["train_samples_per_s"] for x in p),
        "torch_passive_eval": med(x["eval_samples_per_s"] for x in p),
        "mfu_train": med(x["mfu_train"] for x in c), "mfu_eval": med(x["mfu_eval"] for x in c),
        "train_gflops": med(x["train_gflops"] for x in c), "peak_gflops": med(peak),
        "train_gflop_per_sample": c[0]["train_flops_per_sample"] * 1e-9,
        "mem_2x2": c[0].get("memory_peak_bytes_2x2"), "mem_8x8": c[0].get("memory_peak_bytes_8x8"),
    }
    d["torch_train"] = max(d["torch_default_train"], d["torch_passive_train"])
    d["torch_eval"] = max(d["torch_default_eval"], d["torch_passive_eval"])
    d["train_ratio"], d["eval_ratio"] = d["c_train"] / d["torch_train"], d["c_eval"] / d["torch_eval"]
    report["models"][m] = d
mib = lambda b: "-" if b is None else f"{b / 2**20:.1f} MiB"
print(f"C engine (CPU backend) vs PyTorch reference, fp32, {threads} threads, median of {rounds} interleaved "
      f"rounds; samples/s (a sample = one sequence through one segment); torch = the faster of its default "
      f"and OMP_WAIT_POLICY=PASSIVE runs\n")
hdr = ("config", "C train/s", "torch train/s", "ratio", "C eval/s", "torch eval/s", "ratio", "MFU C train",
       "mem 2x2", "mem 8x8")
print("| " + " | ".join(hdr) + " |")
print("|" + "|".join("---" for _ in hdr) + "|")
for m, d in report["models"].items():
    cfg = f"{m} (batch {d['batch']})"
    print(f"| {cfg} | {d['c_train']:.2f} | {d['torch_train']:.2f} | {d['train_ratio']:.2f}x | {d['c_eval']:.2f} | "
          f"{d['torch_eval']:.2f} | {d['eval_ratio']:.2f}x | {100 * d['mfu_train']:.0f}% of {d['peak_gflops']:.0f} "
          f"GFLOP/s | {mib(d['mem_2x2'])} | {mib(d['mem_8x8'])} |")
print("\ntorch by setting (train/s, eval/s): " + "; ".join(
    f"{m}: default {d['torch_default_train']:.2f}, {d['torch_default_eval']:.2f}; PASSIVE "
    f"{d['torch_passive_train']:.2f}, {d['torch_passive_eval']:.2f}" for m, d in report["models"].items()))
print("C model FLOPs per training sample (GFLOP): " + "; ".join(
    f"{m} {d['train_gflop_per_sample']:.2f}, {d['train_gflops']:.0f} GFLOP/s, MFU eval {100 * d['mfu_eval']:.0f}%"
    for m, d in report["models"].items()))
s, k = report["models"]["small"], report["models"]["sudoku"]
checks = [
    ("training >= 5x torch, small", s["train_ratio"] >= 5),
    ("training >= 5x torch, sudoku", k["train_ratio"] >= 5),
    ("MFU >= 40% of the sgemm peak, sudoku", k["mfu_train"] >= 0.40),
    ("peak memory 8x8 <= 2x2, both", all(d["mem_8x8"] is not None and d["mem_8x8"] <= d["mem_2x2"]
                                         for d in report["models"].values())),
]
print("\ntargets: " + "; ".join(f"{'PASS' if ok else 'MISS'} {what}" for what, ok in checks))
if json_out:
    with open(json_out, "w") as f:
        json.dump(report, f, indent=2)
EOF
