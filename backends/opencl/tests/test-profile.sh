#!/usr/bin/env bash
# backends/opencl/tests/test-profile.sh HRM DATA - HRM_OPENCL_PROFILE=FILE: a short `hrm train` on
# the OpenCL backend appends one table per device it opened, and the table holds what a GPU owner
# reads it for: our kernels by op and kernel name with counts, every matmul by shape with its
# GFLOP/s, the buffer transfers, and shares of the device's span that stay within 100%. Without
# the variable nothing is written; an unwritable FILE costs a warning, never the run.
set -uo pipefail
hrm=$1
data=$2
. "$(dirname "$0")/../../../tests/cli/test-lib.sh"
need_backend "$hrm" opencl

export HRM_THREADS=2
unset HRM_BACKEND HRM_OPENCL_MAX_ALLOC_MB HRM_OPENCL_MAX_BUFFER_KB HRM_OPENCL_PROFILE
run="data_path=$data arch.hidden_size=16 arch.num_heads=2 arch.H_layers=1 arch.L_layers=1 arch.halt_max_steps=4
     global_batch_size=6 epochs=4 max_steps=3 eval_interval=4 backend=opencl"

# shellcheck disable=SC2086
HRM_OPENCL_PROFILE="$tmp/prof.txt" "$hrm" train $run checkpoint_path="$tmp/a" >"$tmp/out" 2>"$tmp/err" ||
    fail "hrm train with HRM_OPENCL_PROFILE failed: $(cat "$tmp/err")"
[ -s "$tmp/prof.txt" ] || fail "no profile written"
n=$(grep -c '^# OpenCL profile of process [0-9]*: device ' "$tmp/prof.txt")
[ "$n" -ge 1 ] || fail "no table header in the profile"
for label in 'attention_forward/hrm_attn_fwd' 'attention_backward/hrm_attn_bwd_kv' 'rmsnorm_forward/hrm_rmsnorm_fwd' \
    'adam_atan2/hrm_adam_atan2' 'xent_forward/hrm_xent_fwd' 'buffer_read' 'buffer_write'; do
    grep -q "^$label " "$tmp/prof.txt" || fail "no '$label' line in the profile"
done
python3 - "$tmp/prof.txt" <<'PY' || fail "the profile's numbers do not hold together"
import re, sys
tables, cur = [], None
for line in open(sys.argv[1]):
    if line.startswith("# OpenCL profile"):
        m = re.search(r"(\d+) commands over ([\d.]+) ms", line)
        cur = {"commands": int(m.group(1)), "span": float(m.group(2)), "rows": []}
        tables.append(cur)
    elif cur is not None and line.strip() and not line.startswith("label"):
        parts = line.split()
        gf = float(parts[-1]) if parts[0] == "matmul" else None
        off = 1 if gf is not None else 0
        cur["rows"].append({"label": " ".join(parts[:len(parts) - 4 - off]), "count": int(parts[-4 - off]),
                            "ms": float(parts[-3 - off]), "share": float(parts[-1 - off].rstrip("%")), "gflops": gf})
big = max(tables, key=lambda t: t["commands"])
mm = [r for r in big["rows"] if r["label"].startswith("matmul m=")]
assert mm and all(r["gflops"] is not None and r["gflops"] > 0 for r in mm), "matmuls without a rate"
assert sum(r["count"] for r in big["rows"]) == big["commands"], "counts do not add up to the commands"
total = sum(r["share"] for r in big["rows"])
assert 0 < total <= 100.5, f"shares add up to {total}%"
print(f"profile: {len(tables)} tables; the training device: {big['commands']} commands, {len(mm)} matmul shapes, "
      f"{total:.1f}% of its span accounted")
PY
# shellcheck disable=SC2086
"$hrm" train $run checkpoint_path="$tmp/b" >"$tmp/out" 2>&1 || fail "hrm train without a profile failed"
[ "$(find "$tmp" -maxdepth 1 -name 'prof*' | wc -l)" -eq 1 ] || fail "a file appeared without HRM_OPENCL_PROFILE"
# shellcheck disable=SC2086
HRM_OPENCL_PROFILE=/nonexistent-dir/prof.txt "$hrm" train $run checkpoint_path="$tmp/c" >"$tmp/out" 2>"$tmp/err" ||
    fail "an unwritable profile file failed the run: $(cat "$tmp/err")"
grep -q "HRM_OPENCL_PROFILE: cannot write /nonexistent-dir/prof.txt" "$tmp/err" ||
    fail "no warning for an unwritable profile file: $(cat "$tmp/err")"

[ "$fails" -eq 0 ] && echo "opencl profile: all passed"
finish
