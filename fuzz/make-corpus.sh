#!/usr/bin/env bash
# fuzz/make-corpus.sh BUILD - (re)writes the seed corpus fuzz/corpus/NAME/ of every harness from
# the test fixtures, small real files (../shared/data, when present) and files our own tools
# write (a tiny training run and a quick bench, with BUILD's `hrm`). The seeds are committed; run
# this only to refresh them, then commit what changed. Inputs the fuzzer finds are not seeds:
# they stay in the work corpus (scripts/fuzz.sh) unless one crashed, which goes to
# fuzz/regressions/NAME/ by hand, with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: fuzz/make-corpus.sh BUILD (a release build with the CPU backend)}
hrm=$build/tools/hrm
shared=../shared/data
c=fuzz/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf "$c"
mkdir -p "$c"/{npy,safetensors,checkpoint,torch,dataset,bench,plot,config,sudoku-csv,maze-csv,sudoku-puzzle,maze-puzzle,arc-puzzle,arc-task}

# A tiny model trained for two steps: its weights, its training state and its metrics.
HRM_LOG=error "$hrm" train data_path=tests/golden/data checkpoint_path="$tmp/run" global_batch_size=4 \
    arch.hidden_size=8 arch.num_heads=1 arch.H_layers=1 arch.L_layers=1 arch.expansion=1 \
    arch.H_cycles=1 arch.L_cycles=1 arch.halt_max_steps=2 max_steps=2 eval_interval=1 >/dev/null
ck=$(ls "$tmp"/run/step_*.safetensors | tail -1)
st=$(ls "$tmp"/run/step_*.state | tail -1)
cp "$ck" "$c/checkpoint/tiny.safetensors"
cp "$ck" "$c/safetensors/checkpoint.safetensors"
cp "$st" "$c/safetensors/train.state"
cp "$tmp/run/metrics.jsonl" "$c/plot/tiny-run.jsonl"
# Its hrm.config, hrm.train and hrm.sampler metadata, and convert's settings as JSON.
/usr/bin/python3 - "$ck" "$st" "$c/config" <<'PY'
import json, struct, sys
def meta(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8:8 + n])["__metadata__"]
out = sys.argv[3]
open(f"{out}/tiny-hrm.config", "w").write(meta(sys.argv[1])["hrm.config"])
open(f"{out}/tiny-hrm.train", "w").write(meta(sys.argv[1])["hrm.train"])
open(f"{out}/tiny-hrm.sampler", "w").write(meta(sys.argv[2])["hrm.sampler"])
open(f"{out}/convert-settings", "w").write('{"num_heads": 2, "seq_len": 16}')
PY

# safetensors and npy files of each dtype our readers take, and the edge cases they must refuse
# or accept (empty shapes, BF16, I32, format versions 2.0 and 3.0, int64).
/usr/bin/python3 - "$c" <<'PY'
import json, struct, sys, numpy as np
c = sys.argv[1]
def st(path, tensors, meta=None):
    header, blobs, off = {}, [], 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs.append(raw); off += len(raw)
    if meta: header["__metadata__"] = meta
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
f32 = np.arange(6, dtype="<f4").reshape(2, 3)
st(f"{c}/safetensors/mixed.safetensors", {
    "w": ("F32", [2, 3], f32.tobytes()),
    "b": ("BF16", [3], (np.array([1.0, -2.5, 3.0], "<f4").view("<u4") >> 16).astype("<u2").tobytes()),
    "i": ("I32", [2], np.array([7, -1], "<i4").tobytes()),
    "e": ("F32", [0, 4], b""),
    "s": ("F32", [], np.array(1.5, "<f4").tobytes())}, {"note": "seed", "hrm.config": "{}"})
np.save(f"{c}/npy/u8.npy", np.arange(12, dtype=np.uint8).reshape(3, 4))
np.save(f"{c}/npy/i64.npy", np.arange(5, dtype=np.int64))
np.save(f"{c}/npy/f32.npy", np.linspace(0, 1, 4, dtype=np.float32).reshape(2, 2))
np.save(f"{c}/npy/scalar.npy", np.int32(9))
np.save(f"{c}/npy/empty.npy", np.zeros((0, 3), np.int16))
from numpy.lib import format as fmt
for version in ((2, 0), (3, 0)):
    with open(f"{c}/npy/v{version[0]}.npy", "wb") as f:
        fmt.write_array(f, np.arange(4, dtype="<i4"), version=version)
PY
cp tests/golden/data/test/all__inputs.npy "$c/npy/inputs.npy"
cp tests/golden/data/train/all__puzzle_indices.npy "$c/npy/puzzle_indices.npy"

# torch.save files: the golden fixtures (a published-layout state dict, and the odd cases).
cp tests/golden/torch_ckpt.pt tests/golden/torch_misc.pt tests/golden/torch_noncontig.pt "$c/torch/"

# A dataset: the seven files of the golden test and train splits, cut as fuzz_dataset.c reads them.
sep=$'\n--8<-- fuzz part --8<--\n'
for split in test train; do
    d=tests/golden/data
    {
        cat "$d/$split/dataset.json"; printf '%s' "$sep"
        cat "$d/identifiers.json"; printf '%s' "$sep"
        cat "$d/$split/all__inputs.npy"; printf '%s' "$sep"
        cat "$d/$split/all__labels.npy"; printf '%s' "$sep"
        cat "$d/$split/all__puzzle_identifiers.npy"; printf '%s' "$sep"
        cat "$d/$split/all__puzzle_indices.npy"; printf '%s' "$sep"
        cat "$d/$split/all__group_indices.npy"
    } >"$c/dataset/golden-$split"
done

# A quick bench's results file.
HRM_LOG=error "$hrm" bench --backend cpu --quick --json "$c/bench/quick.json" >/dev/null 2>&1

# Task sources: the plugins' test files and the first rows of the real data.
cp plugins/sudoku/testdata/hard_train_5.csv "$c/sudoku-csv/"
cp plugins/maze/testdata/maze30_hard_3.csv "$c/maze-csv/"
for f in "$shared"/sudoku/*.csv; do [ -f "$f" ] && head -n 6 "$f" >"$c/sudoku-csv/shared-$(basename "$f")"; done
for f in "$shared"/maze/*.csv; do [ -f "$f" ] && head -n 3 "$f" >"$c/maze-csv/shared-$(basename "$f")"; done

# Typed puzzles, as a user gives them to `hrm solve`.
/usr/bin/python3 - "$c" plugins/sudoku/testdata/hard_train_5.csv plugins/maze/testdata/maze30_hard_3.csv <<'PY'
import csv, sys
c, sudoku, maze = sys.argv[1:4]
rows = list(csv.reader(open(sudoku)))[1:]
for i, r in enumerate(rows[:3]):
    q = r[1]
    open(f"{c}/sudoku-puzzle/line{i}", "w").write(q + "\n")
    open(f"{c}/sudoku-puzzle/grid{i}", "w").write("\n".join(q[k:k + 9] for k in range(0, 81, 9)) + "\n")
rows = list(csv.reader(open(maze)))[1:]
q = rows[0][1]
open(f"{c}/maze-puzzle/line", "w").write(q + "\n")
open(f"{c}/maze-puzzle/grid", "w").write("\n".join(q[k:k + 30] for k in range(0, 900, 30)) + "\n")
open(f"{c}/arc-puzzle/small", "w").write("[[0, 1, 2], [3, 4, 5]]\n")
open(f"{c}/arc-puzzle/one", "w").write("[[7]]")
PY

# ARC task files: the plugin's test tasks (good and broken).
n=0
for f in $(find plugins/arc/testdata -name '*.json' | sort); do
    n=$((n + 1))
    cp "$f" "$c/arc-task/$n-$(basename "$f")"
done
echo "fuzz corpus: $(find "$c" -type f | wc -l) files, $(du -sh "$c" | cut -f1) in $c"
