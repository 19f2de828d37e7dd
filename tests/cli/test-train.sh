#!/bin/bash
# tests/cli/test-train.sh HRM DATA - `hrm train` and `hrm eval` end to end on the tiny dataset DATA
# (tests/golden/data) with a tiny architecture:
#   - a run writes step_K.safetensors + step_K.state and metrics.jsonl lines that parse;
#   - 6 steps straight and 3 + resume 3 give byte-identical checkpoints (weights, optimizer,
#     carry, sampler, RNG), in reproducible mode and in shuffled mode with halting exploration;
#   - the published arch.rope_theta / arch.rms_norm_eps reach hrm.config; arch.name and
#     checkpoint_every_eval=false (final checkpoint only) are accepted;
#   - `hrm eval --dump` writes .npy files of the contract's dtypes and shapes, streamed batch by
#     batch: --batch 4 (last batch padded) and --batch 64 give the same files (floats to 1e-5);
#   - TRM (arch=trm) with an EMA: resume equivalence in both modes, hrm.config and tensor names,
#     the checkpoint holds the EMA that evaluation used, ema_rate=0 equals training without one;
#   - bad input (unknown key, bad value, no data_path, broken datasets, truncated or corrupt
#     checkpoints and state, a checkpoint that disagrees with the dataset) gives one line on
#     stderr naming the key or file, a non-zero exit, and leaves existing checkpoints untouched.
# Interrupts (SIGINT, SIGTERM, a second signal, SIGKILL during a save): tests/cli/test-interrupt.sh.
set -uo pipefail
hrm=$1
data=$2
. "$(dirname "$0")/test-lib.sh"

export HRM_THREADS=2
# 16 hidden, 2 heads, 1 + 1 layers; halt_max_steps 4 with the published q_head init (bias -5):
# no slot halts before step 4, so a checkpoint at step 3 holds a live carry.
arch="arch.hidden_size=16 arch.num_heads=2 arch.H_layers=1 arch.L_layers=1 arch.halt_max_steps=4"
common="$arch global_batch_size=6 lr=1e-2 lr_warmup_steps=2 lr_min_ratio=0.1"
base="data_path=$data $common epochs=20"

# $1: description; $2: text the error line must contain; $3: wanted exit code (or "nz"); rest: command
expect_error() {
    what=$1 want=$2 code=$3
    shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$code" = nz ]; then [ "$rc" -ne 0 ] || fail "$what: exit 0"; else [ "$rc" -eq "$code" ] || fail "$what: exit $rc, want $code"; fi
    lines=$(wc -l <"$tmp/err")
    [ "$lines" -eq 1 ] || fail "$what: $lines lines on stderr, want 1: $(cat "$tmp/err")"
    grep -qF -- "$want" "$tmp/err" || fail "$what: the error does not name '$want': $(cat "$tmp/err")"
    echo "ok: $what -> $(cat "$tmp/err")"
}

# .npy header check: $1 file, $2 descr, $3 shape text as numpy writes it, e.g. "(6, 16, 11)"
expect_npy() {
    python3 - "$1" "$2" "$3" <<'PY' || fail "$1: not a .npy of $2 $3"
import ast, struct, sys
path, descr, shape = sys.argv[1], sys.argv[2], ast.literal_eval(sys.argv[3])
b = open(path, "rb").read()
assert b[:6] == b"\x93NUMPY", "magic"
n = struct.unpack("<H", b[8:10])[0] if b[6] == 1 else struct.unpack("<I", b[8:12])[0]
off = 10 if b[6] == 1 else 12
h = ast.literal_eval(b[off:off + n].decode("latin1"))
assert h["descr"] == descr and h["shape"] == shape and not h["fortran_order"], h
size = 1 if descr == "|u1" else 4
count = 1
for d in shape: count *= d
assert len(b) == off + n + count * size, "data size"
PY
}

# ---- a run, its files and metrics -----------------------------------------------------------
if ! $hrm train $base checkpoint_path="$tmp/run" max_steps=4 eval_interval=3 >"$tmp/out" 2>"$tmp/err"; then
    fail "hrm train exited non-zero: $(cat "$tmp/err")"
fi
cat "$tmp/out" "$tmp/err"
grep -q "parameters" "$tmp/out" || fail "no parameter count printed"
for f in step_3.safetensors step_3.state step_4.safetensors step_4.state metrics.jsonl; do
    [ -s "$tmp/run/$f" ] || fail "run folder lacks $f"
done
python3 - "$tmp/run/metrics.jsonl" <<'PY' || fail "metrics.jsonl does not parse or lacks keys"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
train = [l for l in lines if "train/loss" in l]
evals = [l for l in lines if "eval/exact_accuracy" in l]
assert [l["step"] for l in train] == [1, 2, 3, 4], train
assert [l["step"] for l in evals] == [3, 4], evals
for l in train:
    for k in ("lr", "samples_per_s", "train/accuracy", "train/exact_accuracy", "train/lm_loss", "train/count"):
        assert k in l, k
for l in evals:
    assert l["eval/count"] == 6 and 0 <= l["eval/accuracy"] <= 1
PY

# ---- published keys: arch.rope_theta, arch.rms_norm_eps, arch.name, checkpoint_every_eval ---------
if ! $hrm train $base checkpoint_path="$tmp/keys" max_steps=4 eval_interval=3 arch.rope_theta=5000 arch.rms_norm_eps=1e-6 \
    arch.name=hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1 checkpoint_every_eval=false >/dev/null 2>"$tmp/err"; then
    fail "hrm train with the published keys: $(cat "$tmp/err")"
fi
[ -e "$tmp/keys/step_3.safetensors" ] && fail "checkpoint_every_eval=false wrote step_3"
[ -s "$tmp/keys/step_4.safetensors" ] || fail "checkpoint_every_eval=false did not write the final step_4"
python3 - "$tmp/keys/step_4.safetensors" "$tmp/keys/metrics.jsonl" <<'PY' || fail "hrm.config lacks arch.rope_theta / arch.rms_norm_eps"
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
cfg = json.loads(json.loads(b[8:8 + n])["__metadata__"]["hrm.config"])
assert cfg["rope_theta"] == 5000 and cfg["rms_norm_eps"] == 1e-6, cfg
evals = [l["step"] for l in map(json.loads, open(sys.argv[2])) if "eval/exact_accuracy" in l]
assert evals == [3, 4], evals
PY
echo "ok: arch.rope_theta, arch.rms_norm_eps in hrm.config; checkpoint_every_eval=false: final checkpoint only"

# ---- resume equivalence ---------------------------------------------------------------------
for mode in "data_shuffle=false arch.halt_exploration_prob=0" "data_shuffle=true arch.halt_exploration_prob=0.5 seed=7"; do
    rm -rf "$tmp/a" "$tmp/b"
    $hrm train $base $mode checkpoint_path="$tmp/a" max_steps=6 >/dev/null 2>"$tmp/err" || fail "$mode: straight run: $(cat "$tmp/err")"
    $hrm train $base $mode checkpoint_path="$tmp/b" max_steps=3 >/dev/null 2>"$tmp/err" || fail "$mode: first half: $(cat "$tmp/err")"
    # the resumed run takes its settings from the checkpoint
    $hrm train checkpoint_path="$tmp/b" max_steps=6 >"$tmp/out" 2>"$tmp/err" || fail "$mode: resume: $(cat "$tmp/err")"
    grep -q "resuming from" "$tmp/out" || fail "$mode: did not say it resumed"
    if cmp -s "$tmp/a/step_6.safetensors" "$tmp/b/step_6.safetensors" && cmp -s "$tmp/a/step_6.state" "$tmp/b/step_6.state"; then
        echo "ok: $mode: 6 steps == 3 + resume 3, bit for bit"
    else
        fail "$mode: resumed run differs from the uninterrupted one"
    fi
done

# ---- the reproducible mode: data_shuffle=false alone also turns halting exploration off (as
# docs/MODEL.md "Training data order" defines the mode); pretrain.py's single-valued keys are accepted on the way
rm -rf "$tmp/r0" "$tmp/r1"
$hrm train $base data_shuffle=false checkpoint_path="$tmp/r0" max_steps=3 arch=hrm_v1 arch.loss.name=losses@ACTLossHead \
    eval_save_outputs=[] >/dev/null 2>"$tmp/err" || fail "data_shuffle=false with published keys: $(cat "$tmp/err")"
$hrm train $base data_shuffle=false arch.halt_exploration_prob=0 checkpoint_path="$tmp/r1" max_steps=3 >/dev/null \
    2>"$tmp/err" || fail "data_shuffle=false arch.halt_exploration_prob=0: $(cat "$tmp/err")"
if cmp -s "$tmp/r0/step_3.safetensors" "$tmp/r1/step_3.safetensors" && cmp -s "$tmp/r0/step_3.state" "$tmp/r1/step_3.state"; then
    echo "ok: data_shuffle=false == data_shuffle=false arch.halt_exploration_prob=0, bit for bit"
else
    fail "data_shuffle=false alone still explores (differs from arch.halt_exploration_prob=0)"
fi
python3 - "$tmp/r0/step_3.safetensors" <<'PY' || fail "reproducible mode: hrm.config"
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
cfg = json.loads(json.loads(b[8:8 + n])["__metadata__"]["hrm.config"])
assert cfg["halt_exploration_prob"] == 0, cfg
PY

# ---- eval and its dumps -----------------------------------------------------------------------
ck=$tmp/run/step_4.safetensors
if $hrm eval --checkpoint "$ck" --data "$data" --segments 5 --batch 4 --dump "$tmp/dump" >"$tmp/eval.json" 2>"$tmp/err"; then
    python3 - "$tmp/eval.json" <<'PY' || fail "eval JSON"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["count"] == 6 and r["examples"] == 6 and r["segments"] == 5, r
for k in ("accuracy", "exact_accuracy", "q_halt_accuracy", "steps", "lm_loss"):
    assert k in r, k
PY
    expect_npy "$tmp/dump/logits.npy" "<f4" "(6, 16, 11)"
    expect_npy "$tmp/dump/q_halt.npy" "<f4" "(5, 6)"
    expect_npy "$tmp/dump/q_continue.npy" "<f4" "(5, 6)"
    expect_npy "$tmp/dump/predictions.npy" "|u1" "(6, 16)"
    echo "ok: hrm eval --dump shapes"
    # the dump is streamed batch by batch: rows 4 + 2 (the last batch padded) must land where one
    # batch of 6 puts them. The CPU backend's sums depend on the batch size at the 1e-7 level, and
    # 5 segments of recurrence amplify that in the logits: over seeds 0-40 of this run the worst
    # relative difference was 1.9e-4 (logits), 3e-7 (Q values). So the floats are compared to 1e-3
    # (a misplaced row would be off by far more); the .npy headers, the file sizes and the
    # predictions must match exactly.
    if $hrm eval --checkpoint "$ck" --data "$data" --segments 5 --batch 64 --dump "$tmp/dump64" >/dev/null 2>"$tmp/err"; then
        cmp -s "$tmp/dump/predictions.npy" "$tmp/dump64/predictions.npy" || fail "--dump predictions.npy differs between --batch 4 and --batch 64"
        python3 - "$tmp/dump" "$tmp/dump64" <<'PY' || fail "--dump differs between --batch 4 and --batch 64"
import array, struct, sys
for f in ("logits.npy", "q_halt.npy", "q_continue.npy"):
    a, b = (open(f"{d}/{f}", "rb").read() for d in sys.argv[1:3])
    off = 10 + struct.unpack("<H", a[8:10])[0]
    assert len(a) == len(b) and a[:off] == b[:off], f + ": header or size"
    x, y = array.array("f"), array.array("f")
    x.frombytes(a[off:]), y.frombytes(b[off:])
    worst = max(abs(u - v) / max(1.0, abs(v)) for u, v in zip(x, y))
    assert worst <= 1e-3, f"{f}: differs by {worst}"
PY
        ! ls "$tmp/dump" "$tmp/dump64" | grep '\.tmp$' || fail "--dump left .tmp files"
        echo "ok: hrm eval --dump: --batch 4 (streamed in 2 batches) == --batch 64"
    else
        fail "hrm eval --batch 64: $(cat "$tmp/err")"
    fi
else
    fail "hrm eval: $(cat "$tmp/err")"
fi

# ---- bad input ----------------------------------------------------------------------------------
sum_before=$(cat "$tmp/run"/step_4.* | cksum)
expect_error "unknown key" "lrr" 2 $hrm train $base lrr=1 checkpoint_path="$tmp/x"
expect_error "bad value" "seed" 2 $hrm train $base seed=abc checkpoint_path="$tmp/x"
expect_error "value out of range" "beta2" 2 $hrm train $base beta2=1.5 checkpoint_path="$tmp/x"
expect_error "key given twice" "epochs" 2 $hrm train $base epochs=3 checkpoint_path="$tmp/x"
expect_error "bad loss type" "arch.loss.loss_type" 2 $hrm train $base arch.loss.loss_type=l2 checkpoint_path="$tmp/x"
expect_error "bad arch.rope_theta" "arch.rope_theta" 2 $hrm train $base arch.rope_theta=0 checkpoint_path="$tmp/x"
expect_error "bad arch.rms_norm_eps" "arch.rms_norm_eps" 2 $hrm train $base arch.rms_norm_eps=-1e-5 checkpoint_path="$tmp/x"
expect_error "unknown arch.name" "arch.name" 2 $hrm train $base arch.name=models.Transformer checkpoint_path="$tmp/x"
expect_error "unknown config group" "arch" 2 $hrm train $base arch=hrm_v2 checkpoint_path="$tmp/x"
expect_error "unknown loss head" "arch.loss.name" 2 $hrm train $base arch.loss.name=losses@Other checkpoint_path="$tmp/x"
expect_error "eval_save_outputs during training" "eval --dump" 2 $hrm train $base eval_save_outputs=[logits] checkpoint_path="$tmp/x"
expect_error "bad checkpoint_every_eval" "checkpoint_every_eval" 2 $hrm train $base checkpoint_every_eval=maybe checkpoint_path="$tmp/x"
expect_error "not key=value" "max_steps" 2 $hrm train $base max_steps checkpoint_path="$tmp/x"
expect_error "missing data_path" "data_path" 2 $hrm train $arch checkpoint_path="$tmp/x"
expect_error "eval without --data" "--data" 2 $hrm eval --checkpoint "$ck"

cp -r "$data" "$tmp/badtype" || fail "setup: cp $data"
python3 - "$tmp/badtype/train/all__inputs.npy" <<'PY' || fail "setup: badtype"
import sys
h = "{'descr': '<f8', 'fortran_order': False, 'shape': (14, 16), }"
h += " " * (127 - 10 - len(h)) + "\n"
open(sys.argv[1], "wb").write(b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h.encode() + bytes(14 * 16 * 8))
PY
expect_error "dataset with a wrong dtype" "all__inputs.npy" 1 $hrm train $common epochs=20 data_path="$tmp/badtype" checkpoint_path="$tmp/x"
cp -r "$data" "$tmp/badidx" || fail "setup: cp $data"
python3 - "$tmp/badidx/train/all__puzzle_indices.npy" <<'PY' || fail "setup: badidx"
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[-4:] = (99).to_bytes(4, "little")
open(sys.argv[1], "wb").write(b)
PY
expect_error "inconsistent puzzle_indices" "all__puzzle_indices.npy" 1 $hrm train $common epochs=20 data_path="$tmp/badidx" checkpoint_path="$tmp/x"
[ -e "$tmp/x" ] && fail "a failed start created $tmp/x"

head -c 2000 "$ck" >"$tmp/trunc.safetensors" || fail "setup: trunc.safetensors"
expect_error "eval: truncated checkpoint" "trunc.safetensors" 1 $hrm eval --checkpoint "$tmp/trunc.safetensors" --data "$data"
expect_error "train: truncated init_checkpoint" "trunc.safetensors" 1 $hrm train $base init_checkpoint="$tmp/trunc.safetensors" checkpoint_path="$tmp/x"
cp "$ck" "$tmp/corrupt.safetensors" || fail "setup: cp $ck"
printf 'XXXXXXXXXXXX' | dd of="$tmp/corrupt.safetensors" bs=1 seek=8 conv=notrunc status=none || fail "setup: corrupt.safetensors"
expect_error "eval: corrupt checkpoint" "corrupt.safetensors" 1 $hrm eval --checkpoint "$tmp/corrupt.safetensors" --data "$data"
expect_error "train: corrupt init_checkpoint" "corrupt.safetensors" 1 $hrm train $base init_checkpoint="$tmp/corrupt.safetensors" checkpoint_path="$tmp/x"
[ -e "$tmp/x" ] && fail "a failed start created $tmp/x"

cp -r "$data" "$tmp/vocab12" || fail "setup: cp $data"
sed -i 's/"vocab_size": 11/"vocab_size": 12/' "$tmp/vocab12/train/dataset.json" "$tmp/vocab12/test/dataset.json" || fail "setup: vocab12"
expect_error "eval: checkpoint vs dataset" "vocab12/test/dataset.json" 1 $hrm eval --checkpoint "$ck" --data "$tmp/vocab12"
expect_error "init_checkpoint vs dataset" "vocab12/train/dataset.json" 1 $hrm train $common epochs=20 data_path="$tmp/vocab12" init_checkpoint="$ck" checkpoint_path="$tmp/x"
expect_error "resume vs dataset" "step_4.safetensors" 1 $hrm train data_path="$tmp/vocab12" checkpoint_path="$tmp/run" max_steps=8
expect_error "resume with another architecture" "arch.hidden_size" 2 $hrm train checkpoint_path="$tmp/run" arch.hidden_size=32 max_steps=8
cp -r "$tmp/run" "$tmp/badstate" || fail "setup: cp $tmp/run"
head -c 5000 "$tmp/run/step_4.state" >"$tmp/badstate/step_4.state" || fail "setup: badstate"
expect_error "resume from a truncated state" "step_4.state" 1 $hrm train checkpoint_path="$tmp/badstate" max_steps=8
[ "$(cat "$tmp/run"/step_4.* | cksum)" = "$sum_before" ] || fail "a failed command changed step_4 of the run"
[ -e "$tmp/run/step_8.safetensors" ] && fail "a failed resume wrote step_8"

# init_checkpoint: weights and architecture from the file, a new run folder
$hrm train data_path="$data" init_checkpoint="$ck" global_batch_size=6 epochs=20 max_steps=1 checkpoint_path="$tmp/init" >"$tmp/out" 2>"$tmp/err" ||
    fail "init_checkpoint run: $(cat "$tmp/err")"
grep -q "hidden 16" "$tmp/out" || fail "init_checkpoint did not take the architecture from the file"

# ---- TRM (arch=trm) and the EMA of the weights --------------------------------------------------
trm="data_path=$data arch=trm arch.hidden_size=16 arch.num_heads=2 arch.H_cycles=2 arch.L_cycles=2 arch.puzzle_emb_len=2"
trm="$trm arch.halt_max_steps=4 global_batch_size=6 lr=1e-2 lr_warmup_steps=2 epochs=20 eval_interval=10"
for mode in "data_shuffle=false" "data_shuffle=true arch.halt_exploration_prob=0.5 seed=3"; do
    rm -rf "$tmp/ta" "$tmp/tb"
    $hrm train $trm $mode ema=true ema_rate=0.9 checkpoint_path="$tmp/ta" max_steps=6 >/dev/null 2>"$tmp/err" || fail "trm $mode: straight run: $(cat "$tmp/err")"
    $hrm train $trm $mode ema=true ema_rate=0.9 checkpoint_path="$tmp/tb" max_steps=3 >/dev/null 2>"$tmp/err" || fail "trm $mode: first half: $(cat "$tmp/err")"
    $hrm train checkpoint_path="$tmp/tb" max_steps=6 >/dev/null 2>"$tmp/err" || fail "trm $mode: resume: $(cat "$tmp/err")"
    if cmp -s "$tmp/ta/step_6.safetensors" "$tmp/tb/step_6.safetensors" && cmp -s "$tmp/ta/step_6.state" "$tmp/tb/step_6.state"; then
        echo "ok: trm with ema, $mode: 6 steps == 3 + resume 3, bit for bit"
    else
        fail "trm with ema, $mode: resumed run differs from the uninterrupted one"
    fi
done
# the checkpoint holds the EMA, which evaluation during training used: hrm eval of it agrees with
# the run's last eval line; ema_rate=0 is the trained weights themselves, ema_rate=0.9 is not
rm -rf "$tmp/t0" "$tmp/tn"
$hrm train $trm data_shuffle=false ema=true ema_rate=0 checkpoint_path="$tmp/t0" max_steps=6 >/dev/null 2>"$tmp/err" || fail "trm ema_rate=0: $(cat "$tmp/err")"
$hrm train $trm data_shuffle=false checkpoint_path="$tmp/tn" max_steps=6 >/dev/null 2>"$tmp/err" || fail "trm without ema: $(cat "$tmp/err")"
$hrm eval --checkpoint "$tmp/ta/step_6.safetensors" --data "$data" >"$tmp/eval.json" 2>"$tmp/err" || fail "trm: hrm eval: $(cat "$tmp/err")"
python3 - "$tmp/ta" "$tmp/eval.json" "$tmp/t0/step_6.safetensors" "$tmp/tn/step_6.safetensors" <<'PY' || fail "trm: checkpoint contents"
import json, struct, sys
def read(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop("__metadata__")
    return meta, {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items()}
meta, w = read(sys.argv[1] + "/step_6.safetensors")
cfg = json.loads(meta["hrm.config"])
assert cfg["arch"] == "trm" and cfg["H_layers"] == 0 and cfg["L_layers"] == 2 and cfg["puzzle_emb_len"] == 2, cfg
assert cfg["no_ACT_continue"] is True and cfg["mlp_t"] is False, cfg
assert not any("H_level" in k for k in w) and "model.inner.L_level.layers.1.mlp.down_proj.weight" in w, list(w)
last = [l for l in map(json.loads, open(sys.argv[1] + "/metrics.jsonl")) if "eval/lm_loss" in l][-1]
ev = json.load(open(sys.argv[2]))
assert abs(ev["lm_loss"] - last["eval/lm_loss"]) < 1e-6 * max(1, abs(ev["lm_loss"])), (ev["lm_loss"], last)
_, w0 = read(sys.argv[3])
_, wn = read(sys.argv[4])
assert w0 == wn, "ema_rate=0 differs from the trained weights"
PY
python3 - "$tmp/ta/step_6.safetensors" "$tmp/tn/step_6.safetensors" <<'PY' || fail "trm: ema_rate=0.9 wrote the trained weights"
import json, struct, sys
def tensor(path, name):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    v = json.loads(b[8:8 + n])[name]
    return b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]
name = "model.inner.lm_head.weight"
assert tensor(sys.argv[1], name) != tensor(sys.argv[2], name)
PY
echo "ok: trm: hrm.config, tensor names; the checkpoint is the EMA evaluation used; ema_rate=0 == no EMA"
# the published TRM command line's keys: data_paths (a list), evaluators=[], +run_name, ema=True
rm -rf "$tmp/tp"
$hrm train arch=trm "data_paths=[$data]" "evaluators=[]" +run_name=pretrain_att ema=True arch.hidden_size=16 arch.num_heads=2 \
    arch.L_layers=2 arch.H_cycles=2 arch.L_cycles=2 arch.halt_max_steps=2 global_batch_size=6 epochs=2 \
    checkpoint_path="$tmp/tp" >/dev/null 2>"$tmp/err" || fail "trm: the published keys: $(cat "$tmp/err")"
[ -s "$tmp/tp/step_2.safetensors" ] && echo "ok: trm: data_paths=[DIR] evaluators=[] +run_name ema=True" ||
    fail "trm: the published keys wrote no step_2: $(ls "$tmp/tp")"
expect_error "data_paths with two folders" "one folder only" 2 $hrm train "data_paths=[$data,$data]" checkpoint_path="$tmp/x"
expect_error "an evaluator list" "hrm eval --task" 2 $hrm train $base "evaluators=[arc@ARC]" checkpoint_path="$tmp/x"
expect_error "resume an ema run with ema=false" "ema=true" 1 $hrm train checkpoint_path="$tmp/ta" ema=false max_steps=8
expect_error "arch.name against arch" "disagrees with arch=hrm_v1" 2 $hrm train $base arch=hrm_v1 arch.name=TinyRecursiveReasoningModel_ACTV1 checkpoint_path="$tmp/x"
expect_error "a TRM key without arch=trm" "arch=trm" 2 $hrm train $base arch.mlp_t=true checkpoint_path="$tmp/x"
expect_error "resume a TRM run as HRM" "arch" 2 $hrm train checkpoint_path="$tmp/ta" arch=hrm_v1 max_steps=8
[ -e "$tmp/ta/step_8.safetensors" ] && fail "a failed resume wrote step_8"
[ -e "$tmp/x" ] && fail "a failed start created $tmp/x"

if [ "$fails" -ne 0 ]; then
    echo "$fails check(s) failed"
    exit 1
fi
echo "all hrm train/eval checks passed"
