#!/bin/sh
# scripts/bench-vs-torch.sh - this engine beside the PyTorch reference on the same device, interleaved
# in one run: `hrm bench train` and `reference/hrm_ref.py --bench` (HRM) or
# `reference/trm_bench.py` (TRM) for each configuration, ROUNDS times in the order ours, torch,
# ours, torch; the tables show medians over the rounds.
#
#   scripts/bench-vs-torch.sh [BUILD_DIR]          (default: build)
#
# Environment:
#   BACKEND       our backend: cpu (default) or opencl (a GPU)
#   TORCH_DEVICE  torch's device: cpu (default), cuda, or another torch offers (mps, xpu, ...)
#   CONFIGS       model[:batch] entries (default "small sudoku": small, hidden 128, batch 32; the
#                 published 27M sudoku model, batch 8); e.g. "small:32 sudoku:8 sudoku:768". TRM:
#                 trm (the published Sudoku attention form, 7M, T 3, n 6, batch 8) and trm-small
#                 (hidden 128, batch 32); e.g. CONFIGS="sudoku trm"
#   DTYPES        dtypes (default fp32): fp32, tf32, bf16. Torch runs fp32, tf32
#                 (allow_tf32) or bf16 autocast; ours runs `hrm bench train --matmul-precision`
#                 highest, high or medium (tf32 / bf16 operands, fp32 accumulation; a device without
#                 that unit runs the next higher one and the table says which ran). fp32 always
#                 runs: the main table is ours fp32 against torch fp32; the dtype table sets each
#                 dtype beside torch's at the same dtype
#   PYTHON        the interpreter with torch (default: /usr/bin/python3 if it imports torch, else
#                 python3 on PATH)
#   ROUNDS        rounds (default 3); STEPS: exactly this many timed steps and segments per
#                 measurement (default: at least 5 and 2 s); HRM_THREADS: threads (default: all
#                 cores); JSON_OUT: also write the tables as JSON to this file
#
# On the CPU (TORCH_DEVICE=cpu), torch's fp32 runs twice per round: as it starts, and with
# OMP_WAIT_POLICY=PASSIVE (with OpenBLAS as its BLAS, torch's spinning OpenMP workers otherwise
# compete with OpenBLAS's threads for the cores); the ratios are against the faster of the two,
# and the tf32/bf16 runs use PASSIVE. On a GPU that is no matter, and torch runs once.
# The memory check (HRM: 2x2 against 8x8 cycles; TRM: T = 1 against 4 at n = 6, and n = 2) runs in
# round 1; where it fails, that round is run again without it. A configuration whose run fails on
# one side is a row that says so. Targets on the CPU: training >= 5x torch for HRM (issue 3),
# >= 1.5x for TRM (issue 16).
# Takes about 8 minutes on 2 cores with the defaults.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${1:-$root/build}
hrm=$build/tools/hrm
ref=$root/reference/hrm_ref.py
trm_ref=$root/reference/trm_bench.py
rounds=${ROUNDS:-3}
backend=${BACKEND:-cpu}
torch_device=${TORCH_DEVICE:-cpu}
configs=${CONFIGS:-small sudoku}
dtypes=${DTYPES:-fp32}
threads=${HRM_THREADS:-$(nproc)}
# STEPS unset: both sides time >= 5 calls and >= 2 s; set: exactly STEPS calls each
if [ -n "${STEPS:-}" ]; then
    c_steps="--steps $STEPS" t_steps="--steps $STEPS --min-time 0"
else
    c_steps='' t_steps="--steps 5 --min-time 2"
fi

die() {
    echo "bench-vs-torch.sh: $*" >&2
    exit 1
}

if [ -n "${PYTHON:-}" ]; then
    py=$PYTHON
elif /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then
    py=/usr/bin/python3
else
    py=python3
fi
"$py" -c 'import torch' >/dev/null 2>&1 ||
    die "$py cannot import torch (Debian's python3-torch, or set PYTHON to an interpreter with torch)"
[ -x "$hrm" ] || die "$hrm not found (build first: ninja -C $build)"
for d in $dtypes; do
    case $d in fp32 | tf32 | bf16) ;; *) die "DTYPES: '$d' is not fp32, tf32 or bf16" ;; esac
done
case " $dtypes " in *" fp32 "*) ;; *) dtypes="fp32 $dtypes" ;; esac
for cfg in $configs; do
    case ${cfg%%:*} in
    small | sudoku | trm | trm-small) ;;
    *) die "CONFIGS: '$cfg': the model is not small, sudoku, trm or trm-small" ;;
    esac
    case $cfg in *:*) case ${cfg#*:} in '' | *[!0-9]*) die "CONFIGS: '$cfg': the batch is not a number" ;; esac ;; esac
done
# one line, now, when torch cannot use the device, rather than a failed row per configuration
"$py" -c 'import sys; sys.path.insert(0, sys.argv[1]); import hrm_ref
try:
    hrm_ref.bench_device(sys.argv[2])
except ValueError as e:
    sys.exit(f"bench-vs-torch.sh: TORCH_DEVICE: {e}")' "$root/reference" "$torch_device"

export HRM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# $1: config (model[:batch]), $2: round, $3: dtype (default fp32). Ours on BACKEND; the memory
# check in round 1 at fp32.
run_ours() {
    dtype=${3:-fp32}
    tag=c prec=highest
    case $dtype in tf32) tag=c_tf32 prec=high ;; bf16) tag=c_bf16 prec=medium ;; esac
    m=${1%%:*} out=$tmp/${tag}_$(echo "$1" | tr : _)_$2
    batch=
    case $1 in *:*) batch="--batch ${1#*:}" ;; esac
    mem=--no-memory
    [ "$2" -eq 1 ] && [ "$dtype" = fp32 ] && mem=
    echo "round $2/$rounds: $1: ours ($backend, $prec) ..." >&2
    # shellcheck disable=SC2086
    if ! "$hrm" bench train --backend "$backend" --model "$m" $batch $c_steps $mem --matmul-precision "$prec" \
        --json "$out.json" \
        >"$out.txt" 2>"$out.err"; then
        [ -z "$mem" ] && echo "round $2/$rounds: $1: ours failed with the memory check; again without it" >&2 &&
            cp "$out.err" "$out.memerr" &&
            "$hrm" bench train --backend "$backend" --model "$m" $batch $c_steps --no-memory --matmul-precision "$prec" \
                --json "$out.json" \
                >"$out.txt" 2>"$out.err" && return 0
        rm -f "$out.json"
        tail -n 3 "$out.err" >&2
    fi
    return 0
}

# $1: config, $2: round, $3: dtype, $4: file tag, then environment assignments for torch
run_torch() {
    label=$1 m=${1%%:*} out=$tmp/$4_$(echo "$1" | tr : _)_$2 round=$2 dtype=$3
    script=$ref
    case $m in trm*) script=$trm_ref ;; esac
    batch=
    case $1 in *:*) batch="--batch ${1#*:}" ;; esac
    shift 4
    echo "round $round/$rounds: $label: torch $dtype on $torch_device${1:+ ($*)} ..." >&2
    # shellcheck disable=SC2086
    if ! env "$@" "$py" "$script" --bench --model "$m" $batch --threads "$threads" --device "$torch_device" \
        --dtype "$dtype" $t_steps >"$out.json" 2>"$out.err"; then
        rm -f "$out.json"
        tail -n 3 "$out.err" >&2
    fi
    return 0
}

r=1
while [ "$r" -le "$rounds" ]; do
    for cfg in $configs; do
        run_ours "$cfg" "$r"
        for d in $dtypes; do
            [ "$d" = fp32 ] || run_ours "$cfg" "$r" "$d"
            if [ "$torch_device" = cpu ]; then
                [ "$d" = fp32 ] && run_torch "$cfg" "$r" fp32 t_fp32
                run_torch "$cfg" "$r" "$d" "p_$d" OMP_WAIT_POLICY=PASSIVE
            else
                run_torch "$cfg" "$r" "$d" "t_$d"
            fi
        done
    done
    r=$((r + 1))
done

"$py" - "$tmp" "$rounds" "$threads" "${JSON_OUT:-}" "$backend" "$torch_device" "$configs" "$dtypes" <<'EOF'
import glob, json, os, statistics, sys, time
tmp, rounds, threads, json_out, backend, torch_device = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:7]
configs, dtypes = sys.argv[7].split(), sys.argv[8].split()
on_cpu = torch_device == "cpu"
med = statistics.median

def load(kind, cfg, r):
    try:
        with open(f"{tmp}/{kind}_{cfg.replace(':', '_')}_{r}.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def why(kind, cfg):
    """The last line of the first failed run's stderr."""
    for r in range(1, rounds + 1):
        path = f"{tmp}/{kind}_{cfg.replace(':', '_')}_{r}.err"
        if load(kind, cfg, r) is None and os.path.exists(path):
            lines = [l.strip() for l in open(path) if l.strip()]
            return lines[-1] if lines else "failed"
    return "failed"

def runs(kind, cfg):
    return [x for x in (load(kind, cfg, r) for r in range(1, rounds + 1)) if x is not None]

def peak_mem(xs, *keys):
    vals = [x.get(k) for x in xs for k in keys if x.get(k)]
    return max(vals) if vals else None

def torch_side(cfg, kind):
    t = runs(kind, cfg)
    if not t:
        return None
    return {"train": med(x["train_samples_per_s"] for x in t), "eval": med(x["eval_samples_per_s"] for x in t),
            "memory_peak_bytes": peak_mem(t, "memory_peak_bytes"), "runs": len(t),
            "device_name": t[0].get("device_name"), "torch_version": t[0].get("torch_version")}

report = {"threads": threads, "rounds": rounds, "date": time.strftime("%Y-%m-%d"), "backend": backend,
          "torch_device": torch_device, "dtypes": dtypes, "models": {}}
for cfg in configs:
    d = {"config": cfg}
    out = runs("c", cfg)
    c = [x["models"][0] for x in out]
    if c:
        peak = out[0]["peak"]
        d.update({
            "batch": c[0]["batch"], "params": c[0]["params"], "device": out[0]["device"]["name"],
            "c_train": med(x["train_samples_per_s"] for x in c), "c_eval": med(x["eval_samples_per_s"] for x in c),
            "mfu_train": med(x["mfu_train"] for x in c), "mfu_eval": med(x["mfu_eval"] for x in c),
            "train_gflops": med(x["train_gflops"] for x in c), "peak_gflops": med(x["peak"]["gflops"] for x in out),
            "peak_kind": peak.get("kind", "cblas_sgemm"),
            "train_gflop_per_sample": c[0]["train_flops_per_sample"] * 1e-9,
            "mem": peak_mem(c, "memory_peak_bytes", "memory_peak_bytes_2x2"),
            "mem_2x2": next((x["memory_peak_bytes_2x2"] for x in c if "memory_peak_bytes_2x2" in x), None),
            "mem_8x8": next((x["memory_peak_bytes_8x8"] for x in c if "memory_peak_bytes_8x8" in x), None),
        })
        if c[0].get("arch") == "trm":
            # TRM's memory check: T = 1 against T = 4 at the model's n (must not grow; in the
            # 2x2 and 8x8 columns), and n = 2 at T = 1 (grows by the bytes per z-update)
            n = c[0]["L_cycles"]
            mem = lambda key: next((x[key] for x in c if key in x), None)
            d.update({"arch": "trm", "L_cycles": n, "mem_2x2": mem(f"memory_peak_bytes_T1_n{n}"),
                      "mem_8x8": mem(f"memory_peak_bytes_T4_n{n}"), "mem_n2": mem("memory_peak_bytes_T1_n2"),
                      "mem_per_z_update": mem("memory_per_z_update_bytes"),
                      "mem": peak_mem(c, "memory_peak_bytes", f"memory_peak_bytes_T1_n{n}")})
    else:
        d["c_error"] = why("c", cfg)
    tags = {dt: f"p_{dt}" if on_cpu else f"t_{dt}" for dt in dtypes}
    d["torch"] = {dt: torch_side(cfg, tag) for dt, tag in tags.items()}
    d["ours"] = {}
    for dt in dtypes:
        o = [x["models"][0] for x in runs("c" if dt == "fp32" else f"c_{dt}", cfg)]
        d["ours"][dt] = {"train": med(x["train_samples_per_s"] for x in o), "eval": med(x["eval_samples_per_s"] for x in o),
                         "mfu_train": med(x["mfu_train"] for x in o), "ran": o[0].get("matmul_precision", "highest"),
                         "runs": len(o)} if o else None
    if on_cpu:
        d["torch_default_fp32"] = torch_side(cfg, "t_fp32")
        for setting, t in (("default", d["torch_default_fp32"]), ("passive", d["torch"]["fp32"])):
            if t:
                d[f"torch_{setting}_train"], d[f"torch_{setting}_eval"] = t["train"], t["eval"]
    memerr = f"{tmp}/c_{cfg.replace(':', '_')}_1.memerr"
    if os.path.exists(memerr):
        lines = [l.strip() for l in open(memerr) if l.strip()]
        d["memory_check_error"] = lines[-1] if lines else "failed"
    sides = [s for s in (d["torch"]["fp32"], d.get("torch_default_fp32")) if s]
    if sides:
        d["torch_train"] = max(s["train"] for s in sides)
        d["torch_eval"] = max(s["eval"] for s in sides)
        d["torch_mem"] = d["torch"]["fp32"]["memory_peak_bytes"] if d["torch"]["fp32"] else None
        d["torch_device_name"] = sides[0]["device_name"]
        d["torch_version"] = sides[0]["torch_version"]
    else:
        d["torch_error"] = why(tags["fp32"], cfg)
    if "c_train" in d and "torch_train" in d:
        d["train_ratio"], d["eval_ratio"] = d["c_train"] / d["torch_train"], d["c_eval"] / d["torch_eval"]
    if "batch" not in d:
        d["batch"] = int(cfg.split(":")[1]) if ":" in cfg else {"small": 32, "sudoku": 8, "trm": 8,
                                                                 "trm-small": 32}[cfg]
    report["models"][cfg] = d

mib = lambda b: "-" if b is None else f"{b / 2**20:.1f} MiB"
num = lambda x, f="{:.2f}": "-" if x is None else f.format(x)
ours_dev = next((d["device"] for d in report["models"].values() if "device" in d), "?")
torch_dev = next((d["torch_device_name"] for d in report["models"].values() if d.get("torch_device_name")), "?")
torch_ver = next((d["torch_version"] for d in report["models"].values() if d.get("torch_version")), "?")
print(f"hrm ({backend}: {ours_dev}) vs PyTorch {torch_ver} reference ({torch_device}: {torch_dev}), {threads} threads, "
      f"median of {rounds} interleaved rounds; samples/s (a sample = one sequence through one segment); ratio = ours "
      f"(fp32) / torch fp32 on the same device" +
      ("; torch = the faster of its default and OMP_WAIT_POLICY=PASSIVE runs" if on_cpu else "") + "\n")
any_trm = any(cfg.split(":")[0].startswith("trm") for cfg in configs)
hdr = ("config", "ours train/s", "torch train/s", "ratio", "ours eval/s", "torch eval/s", "ratio", "MFU ours train",
       "peak mem ours", "peak mem torch", "mem 2x2" + (" (TRM: T=1)" if any_trm else ""),
       "mem 8x8" + (" (TRM: T=4)" if any_trm else ""))
print("| " + " | ".join(hdr) + " |")
print("|" + "|".join("---" for _ in hdr) + "|")
for cfg, d in report["models"].items():
    label = f"{cfg.split(':')[0]} (batch {d['batch']})"
    if "c_train" not in d or "torch_train" not in d:
        print(f"| {label} | " + "; ".join(f"{side} failed: {d[k]}" for side, k in (("ours", "c_error"),
              ("torch", "torch_error")) if k in d) + " |" + " |" * (len(hdr) - 2))
        continue
    print(f"| {label} | {d['c_train']:.2f} | {d['torch_train']:.2f} | {d['train_ratio']:.2f}x | {d['c_eval']:.2f} | "
          f"{d['torch_eval']:.2f} | {d['eval_ratio']:.2f}x | {100 * d['mfu_train']:.0f}% of {d['peak_gflops']:.0f} "
          f"GFLOP/s | {mib(d['mem'])} | {mib(d['torch_mem'])} | {mib(d['mem_2x2'])} | {mib(d['mem_8x8'])} |")
for cfg, d in report["models"].items():
    if d.get("arch") == "trm" and d.get("mem_n2") is not None and d.get("mem_per_z_update") is not None:
        print(f"{cfg}: TRM's memory grows with n, not with T: {mib(d['mem_n2'])} at n = 2, {mib(d['mem_2x2'])} at "
              f"n = {d['L_cycles']} (T = 1): {mib(d['mem_per_z_update'])} per z-update")

if len(dtypes) > 1:
    print(f"\nby dtype (train samples/s, ours / torch on {torch_device}; ours ran the precision in brackets,"
          " MFU against our peak at that precision):")
    hdr = ["config"] + [f"{dt}: ours / torch" for dt in dtypes]
    print("| " + " | ".join(hdr) + " |")
    print("|" + "|".join("---" for _ in hdr) + "|")
    def cell(o, t):
        if not o or not t:
            return "failed" if not o and not t else ("ours failed" if not o else "torch failed")
        return (f"{o['train']:.2f} ({o['ran']}, MFU {100 * o['mfu_train']:.0f}%) / {t['train']:.2f} = "
                f"{o['train'] / t['train']:.2f}x")
    for cfg, d in report["models"].items():
        cells = [cell(d["ours"][dt], d["torch"][dt]) for dt in dtypes]
        print(f"| {cfg.split(':')[0]} (batch {d['batch']}) | " + " | ".join(cells) + " |")
if on_cpu:
    print("\ntorch fp32 by setting (train/s, eval/s): " + "; ".join(
        f"{cfg}: default {num((d.get('torch_default_fp32') or {}).get('train'))}, "
        f"{num((d.get('torch_default_fp32') or {}).get('eval'))}; PASSIVE "
        f"{num((d['torch']['fp32'] or {}).get('train'))}, {num((d['torch']['fp32'] or {}).get('eval'))}"
        for cfg, d in report["models"].items()))
ok_rows = {cfg: d for cfg, d in report["models"].items() if "c_train" in d}
if ok_rows:
    kinds = {d["peak_kind"] for d in ok_rows.values()}
    print("ours, model FLOPs per training sample (GFLOP): " + "; ".join(
        f"{cfg} {d['train_gflop_per_sample']:.2f}, {d['train_gflops']:.0f} GFLOP/s, MFU eval {100 * d['mfu_eval']:.0f}%"
        for cfg, d in ok_rows.items()) + f"; MFU against the {'/'.join(sorted(kinds))} peak of {ours_dev}")

def ratio_ok(d, want):
    return d.get("train_ratio") is not None and d["train_ratio"] >= want

checks = []
models = report["models"]
if on_cpu:
    is_trm = lambda cfg: cfg.split(":")[0].startswith("trm")
    for cfg, d in models.items():
        want = 1.5 if is_trm(cfg) else 5
        checks.append((f"training >= {want:g}x torch, {cfg}", ratio_ok(d, want)))
    for cfg, d in models.items():
        if cfg.startswith("sudoku"):
            checks.append((f"MFU >= 40% of the GEMM peak, {cfg}", d.get("mfu_train", 0) >= 0.40))
    mem_ok = lambda d: d.get("mem_8x8") is not None and d["mem_8x8"] <= d["mem_2x2"]
    hrm_models = [d for cfg, d in models.items() if not is_trm(cfg)]
    if hrm_models or not any_trm:
        checks.append(("peak memory 8x8 <= 2x2, all", all(mem_ok(d) for d in hrm_models)))
    if any_trm:
        checks.append(("TRM peak memory T=4 <= T=1, all", all(mem_ok(d) for cfg, d in models.items() if is_trm(cfg))))
else:
    largest = max(d["batch"] for d in models.values())
    for cfg, d in models.items():
        want = 1.0 if d["batch"] == largest else 2.0
        what = "at the largest batch" if want == 1.0 else "at a small batch"
        checks.append((f"training fp32 >= {want:.0f}x torch fp32 {what}, {cfg}", ratio_ok(d, want)))
    for cfg, d in models.items():
        checks.append((f"peak memory ours <= torch's, {cfg}", d.get("mem") is not None and
                       d.get("torch_mem") is not None and d["mem"] <= d["torch_mem"]))
for cfg, d in models.items():
    if "memory_check_error" in d:
        what = "T = 1 against 4, n = 2" if d.get("arch") == "trm" or cfg.startswith("trm") else "2x2 against 8x8 cycles"
        print(f"{cfg}: the memory check ({what}) failed: {d['memory_check_error']}")
print("\ntargets: " + "; ".join(f"{'PASS' if ok else 'MISS'} {what}" for what, ok in checks))
report["targets"] = [{"target": what, "pass": bool(ok)} for what, ok in checks]
if json_out:
    with open(json_out, "w") as f:
        json.dump(report, f, indent=2)
EOF
