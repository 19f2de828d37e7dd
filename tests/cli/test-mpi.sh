#!/bin/bash
# tests/cli/test-mpi.sh HRM DATA ARC_TESTDATA - `hrm train` and `hrm eval` as several processes under
# mpirun (issue 17; tools/procs.h, core/act.h hrm_dist), on this machine's CPU: every process on the
# CPU backend, HRM_THREADS=1, --oversubscribe (2 cores), and as root --allow-run-as-root's variables.
#   - 2 and 3 processes against 1 with the same global batch, after 6 steps: every weight within
#     1e-5 (|a - b| <= 1e-5 (1 + |a|)) and the train state (Adam moments, carry) within 1e-4; the
#     slots' examples, steps and halted flags exactly; every process holds the same weights, bit for
#     bit. The gradients are summed in another order (fp32 rounding, amplified by 6 Adam steps);
#   - the reproducible mode and the shuffled mode with halting exploration (the exploration draws
#     are the global batch's), HRM and TRM (attention and MLP forms, EMA);
#   - the puzzle embedding (SignSGD on the rows gathered from every process) with its default rate
#     at most 2 values beyond 1e-5: sign(g) turns a rounding-level difference of a gradient element
#     next to 0 into a step of 2 lr (seen once in the MLP form); the other runs give it
#     puzzle_emb_lr=1e-6 so that such a flip stays inside the tolerance;
#   - resume: 3 + 3 steps under 2 processes == 6 steps under 2, bit for bit; 3 steps under 1 then
#     3 under 2 == 6 under 1 within the tolerance (the state file holds the global state);
#   - metrics.jsonl (rank 0 alone): processes and the step's time split;
#   - SIGTERM to one process: every process stops after the same step, saves once, exit 143;
#   - a process failing at start (a device it does not have) or killed (SIGKILL) mid-run ends the
#     job, never a hang; the failing process's one line names its rank;
#   - `hrm eval` under 1, 2 and 3 processes: the same JSON and dump files byte for byte, plain,
#     sampled, and with the ARC task's verifier and pass@K.
set -uo pipefail
hrm=$1
data=$2
arc_data=$3
. "$(dirname "$0")/test-lib.sh"
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v mpirun >/dev/null 2>&1; then
    echo "SKIP: no mpirun (Debian: openmpi-bin)"
    exit 77
fi
export HRM_THREADS=1 HRM_BACKEND=cpu
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# a container without a network interface besides lo: keep Open MPI on shared memory and loopback
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
mpi() { local n=$1; shift; timeout 120 mpirun -np "$n" "$@"; }
# The pid of rank $2's `hrm train` process whose command line holds $1 (from /proc: no procps).
rank_pid() {
    local p cmd
    for p in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
        case "$cmd" in "$hrm train "*"$1"*) ;; *) continue ;; esac
        tr '\0' '\n' <"$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && echo "${p#/proc/}" && return
    done
}
compare() { python3 "$here/st_compare.py" "$@"; }

arch="arch.hidden_size=16 arch.num_heads=2 arch.H_layers=1 arch.L_layers=1 arch.halt_max_steps=4"
hrm_arch="data_path=$data $arch lr=1e-2 lr_warmup_steps=2 lr_min_ratio=0.1"
hrm_base="$hrm_arch global_batch_size=6 epochs=20"
trm_base="data_path=$data arch=trm arch.hidden_size=16 arch.num_heads=2 arch.H_cycles=2 arch.L_cycles=2 \
arch.puzzle_emb_len=2 global_batch_size=6 lr=1e-2 lr_warmup_steps=2 epochs=20 ema=true ema_rate=0.9"
pe=model.inner.puzzle_emb.weights

# $1 name, $2 processes, $3 flips allowed in the puzzle embedding, $4 the state's tolerance, rest:
# the settings
equivalence() {
    local name=$1 n=$2 flips=$3 state_tol=$4
    shift 4
    "$hrm" train "$@" checkpoint_path="$tmp/$name-1" max_steps=6 >/dev/null 2>"$tmp/err" || { fail "$name, 1 process: $(cat "$tmp/err")"; return; }
    HRM_TEST_RANK_WEIGHTS=1 mpi "$n" "$hrm" train "$@" checkpoint_path="$tmp/$name-$n" max_steps=6 >/dev/null 2>"$tmp/err" ||
        { fail "$name, $n processes: $(cat "$tmp/err")"; return; }
    local a=$tmp/$name-1/step_6 b=$tmp/$name-$n/step_6
    compare "$a.safetensors" "$b.safetensors" 1e-5 --flips "$pe:$flips" >"$tmp/cmp" 2>&1 &&
        ok "$name: $n processes == 1, weights: $(tail -n 1 "$tmp/cmp")" || fail "$name: weights: $(cat "$tmp/cmp")"
    if [ "$state_tol" != - ]; then
        compare "$a.state" "$b.state" "$state_tol" >"$tmp/cmp" 2>&1 && ok "$name: state: $(cat "$tmp/cmp")" || fail "$name: state: $(cat "$tmp/cmp")"
    fi
    # the slots (examples, steps, halted) exactly: no rounding reaches them in 6 steps
    python3 -c "
import sys; sys.path.insert(0, '$here'); from st_compare import read
a, _ = read('$a.state'); b, _ = read('$b.state')
bad = [k for k in a if k.startswith('slots.') and a[k][1].tobytes() != b[k][1].tobytes()]
sys.exit(1 if bad else 0)" || fail "$name: the slots (examples, steps, halted) differ from 1 process"
    for r in $(seq 1 $((n - 1))); do
        compare "$b.safetensors" "$tmp/$name-$n/step_6.rank$r.safetensors" 0 --exact >"$tmp/cmp" 2>&1 ||
            fail "$name: rank $r holds other weights than rank 0: $(cat "$tmp/cmp")"
    done
    [ "$n" -gt 1 ] && ok "$name: ranks 1..$((n - 1)) hold rank 0's weights bit for bit"
}

# ---- equivalence ---------------------------------------------------------------------------------
equivalence hrm-repro 2 0 1e-4 $hrm_base data_shuffle=false puzzle_emb_lr=1e-6
equivalence hrm-shuffle 3 0 1e-4 $hrm_base data_shuffle=true arch.halt_exploration_prob=0.5 seed=7 puzzle_emb_lr=1e-6
equivalence hrm-puzzle-lr 2 2 - $hrm_base data_shuffle=true arch.halt_exploration_prob=0.5 seed=7
equivalence trm 2 0 1e-4 $trm_base data_shuffle=true seed=3 puzzle_emb_lr=1e-6
# the MLP form's forward at 3 slots differs from 6 slots' by rounding (4e-6 in the carry after step
# 1: the sequence-axis products change shape with the batch), and the carry, run through T (n + 1)
# calls a step and carried across steps, grows it about 3x a step: 3e-3 after 6
equivalence trm-mlp 2 0 1e-2 $trm_base arch.mlp_t=true data_shuffle=true seed=3 puzzle_emb_lr=1e-6
equivalence trm-mlp-puzzle-lr 2 2 - $trm_base arch.mlp_t=true data_shuffle=true seed=3

# ---- metrics -------------------------------------------------------------------------------------
python3 - "$tmp/hrm-repro-2/metrics.jsonl" "$tmp/hrm-repro-1/metrics.jsonl" <<'PY' && ok "metrics.jsonl: rank 0's lines with processes and the time split, losses as 1 process's" || fail "metrics.jsonl under 2 processes"
import json, sys
two = [json.loads(l) for l in open(sys.argv[1])]
one = [json.loads(l) for l in open(sys.argv[2])]
train2 = [m for m in two if "train/loss" in m]
train1 = [m for m in one if "train/loss" in m]
assert len(train2) == 6 == len(train1), (len(train2), len(train1))
for a, b in zip(train1, train2):
    assert b["processes"] == 2
    for k in ("time/step_s", "time/compute_s", "time/transfer_s", "time/allreduce_s"):
        assert b[k] >= 0, k
    assert abs(b["time/compute_s"] + b["time/transfer_s"] + b["time/allreduce_s"] - b["time/step_s"]) < 1e-6
    assert b["train/count"] == a["train/count"]
    for k in ("train/loss", "train/lm_loss", "train/accuracy"):
        assert abs(a[k] - b[k]) <= 1e-5 * (1 + abs(a[k])), (k, a[k], b[k])
PY

# ---- resume --------------------------------------------------------------------------------------
set -- $hrm_base data_shuffle=true arch.halt_exploration_prob=0.5 seed=7 puzzle_emb_lr=1e-6
mpi 2 "$hrm" train "$@" checkpoint_path="$tmp/res" max_steps=3 >/dev/null 2>&1 &&
    mpi 2 "$hrm" train "$@" checkpoint_path="$tmp/res" max_steps=6 >/dev/null 2>"$tmp/err" || fail "resume under 2 processes: $(cat "$tmp/err")"
mpi 2 "$hrm" train "$@" checkpoint_path="$tmp/res6" max_steps=6 >/dev/null 2>&1 || fail "6 steps under 2 processes"
cmp -s "$tmp/res/step_6.safetensors" "$tmp/res6/step_6.safetensors" && cmp -s "$tmp/res/step_6.state" "$tmp/res6/step_6.state" &&
    ok "resume: 3 + 3 steps under 2 processes == 6 steps, bit for bit" || fail "resume under 2 processes differs from the run straight through"
"$hrm" train "$@" checkpoint_path="$tmp/across" max_steps=3 >/dev/null 2>&1 &&
    mpi 2 "$hrm" train "$@" checkpoint_path="$tmp/across" max_steps=6 >/dev/null 2>"$tmp/err" || fail "1 then 2 processes: $(cat "$tmp/err")"
compare "$tmp/hrm-shuffle-1/step_6.state" "$tmp/across/step_6.state" 1e-4 >"$tmp/cmp" 2>&1 &&
    ok "resume across counts: 3 steps under 1 then 3 under 2 == 6 under 1: $(cat "$tmp/cmp")" || fail "resume across counts: $(cat "$tmp/cmp")"

# ---- stops and failures --------------------------------------------------------------------------
# SIGTERM to one process: the others stop after the same step, rank 0 saves it, every one exits 143
slow="$hrm_arch global_batch_size=6 data_shuffle=false epochs=200 max_steps=60 checkpoint_path=$tmp/sig"
HRM_TEST_PAUSE_MS=200 mpi 2 "$hrm" train $slow >"$tmp/out" 2>"$tmp/err" &
job=$!
for i in $(seq 1 100); do
    [ "$(grep -c '' "$tmp/out" 2>/dev/null)" -ge 3 ] && break
    sleep 0.1
done
sleep 1
pid=$(rank_pid "checkpoint_path=$tmp/sig" 1)
[ -n "$pid" ] && kill -TERM "$pid"
wait "$job"
rc=$?
k=$(ls "$tmp/sig" | sed -n 's/^step_\([0-9]*\)\.safetensors$/\1/p')
[ "$rc" -ne 0 ] && [ -n "$k" ] && [ "$(grep -c 'stopped by signal 15 at step' "$tmp/err")" -eq 1 ] && [ -e "$tmp/sig/step_$k.state" ] &&
    ok "SIGTERM to one of 2 processes: both stopped at step $k, one line, saved (mpirun exit $rc)" ||
    fail "SIGTERM to one process: exit $rc, files $(ls "$tmp/sig"): $(cat "$tmp/err")"
HRM_TEST_PAUSE_MS=0 mpi 2 "$hrm" train ${slow/max_steps=60/max_steps=$((k + 2))} >/dev/null 2>"$tmp/err" && [ -e "$tmp/sig/step_$((k + 2)).state" ] &&
    ok "the stopped run resumes under 2 processes" || fail "resume after SIGTERM: $(cat "$tmp/err")"

# a process that cannot open its device: the job ends at once, its one line names its rank
start=$(date +%s)
mpirun -np 1 "$hrm" train $hrm_base checkpoint_path="$tmp/dev" : -np 1 "$hrm" train $hrm_base checkpoint_path="$tmp/dev" device=7 \
    >"$tmp/out" 2>"$tmp/err"
rc=$?
took=$(($(date +%s) - start))
[ "$rc" -ne 0 ] && [ "$took" -lt 60 ] && [ "$(grep -c '^hrm train' "$tmp/err")" -eq 1 ] && grep -q "^hrm train: rank 1 of 2: backend: .*no device 7" "$tmp/err" &&
    ok "a process without its device ends the job in ${took}s: $(grep '^hrm train' "$tmp/err")" || fail "a failing process: exit $rc after ${took}s: $(cat "$tmp/err")"

# SIGKILL to one process mid-run: mpirun ends the job (no process waits forever in a collective)
HRM_TEST_PAUSE_MS=200 mpi 2 "$hrm" train $hrm_arch global_batch_size=6 data_shuffle=false epochs=200 max_steps=60 checkpoint_path="$tmp/kill" >/dev/null 2>"$tmp/err" &
job=$!
sleep 2
pid=$(rank_pid "checkpoint_path=$tmp/kill" 1)
start=$(date +%s)
[ -n "$pid" ] && kill -KILL "$pid"
wait "$job"
rc=$?
took=$(($(date +%s) - start))
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$took" -lt 30 ] && grep -q "rank 1.*signal 9" "$tmp/err" &&
    ok "SIGKILL to rank 1: the job ended in ${took}s, exit $rc: $(grep 'signal 9' "$tmp/err")" || fail "SIGKILL to one process: exit $rc after ${took}s: $(cat "$tmp/err")"

# bad settings: one line, from rank 0
mpi 2 "$hrm" train $hrm_arch epochs=20 global_batch_size=5 checkpoint_path="$tmp/bad" >/dev/null 2>"$tmp/err"
rc=$?
[ "$rc" -ne 0 ] && [ "$(grep -c '^hrm train' "$tmp/err")" -eq 1 ] && grep -q "global_batch_size 5 does not split over 2 processes" "$tmp/err" &&
    ok "global_batch_size 5 over 2 processes: $(grep '^hrm train' "$tmp/err")" || fail "indivisible batch: exit $rc: $(cat "$tmp/err")"
mpi 2 "$hrm" train $hrm_base nosuchkey=1 >/dev/null 2>"$tmp/err"
[ "$(grep -c '^hrm train' "$tmp/err")" -eq 1 ] && ok "an unknown key under 2 processes: one line" || fail "unknown key under 2 processes: $(cat "$tmp/err")"

# ---- hrm eval -----------------------------------------------------------------------------------
ck=$tmp/hrm-repro-1/step_6.safetensors
for opts in "--batch 2" "--batch 4 --samples 3 --noise 0.3 --seed 5"; do
    "$hrm" eval --checkpoint "$ck" --data "$data" $opts --dump "$tmp/ev1" >"$tmp/ev1.json" 2>"$tmp/err" || fail "eval: $(cat "$tmp/err")"
    for n in 2 3; do
        rm -rf "$tmp/ev$n"
        mpi $n "$hrm" eval --checkpoint "$ck" --data "$data" $opts --dump "$tmp/ev$n" >"$tmp/ev$n.json" 2>"$tmp/err" || fail "eval under $n: $(cat "$tmp/err")"
        same=1
        cmp -s "$tmp/ev1.json" "$tmp/ev$n.json" || same=0
        for f in logits predictions q_halt q_continue; do cmp -s "$tmp/ev1/$f.npy" "$tmp/ev$n/$f.npy" || same=0; done
        [ "$same" = 1 ] && ok "eval $opts under $n processes: JSON and dump identical to 1 process" ||
            fail "eval $opts under $n processes differs: $(diff "$tmp/ev1.json" "$tmp/ev$n.json")"
    done
    rm -rf "$tmp/ev1"
done
a=$tmp/arc
"$hrm" data build arc --train-dirs "$arc_data/training" --eval-dirs "$arc_data/evaluation" --aug 2 --out "$a" >/dev/null 2>&1 &&
    "$hrm" train data_path="$a" checkpoint_path="$a-run" arch.hidden_size=32 arch.num_heads=2 arch.H_layers=1 arch.L_layers=1 \
        arch.H_cycles=1 arch.L_cycles=1 arch.halt_max_steps=2 global_batch_size=8 max_steps=3 epochs=1000 lr=1e-3 \
        lr_warmup_steps=1 >/dev/null 2>&1 || fail "arc: build and train"
ck=$(ls -v "$a"-run/step_*.safetensors 2>/dev/null | tail -n 1)
if [ -n "$ck" ]; then
    "$hrm" eval --checkpoint "$ck" --data "$a" --batch 3 >"$tmp/arc1.json" 2>"$tmp/err" || fail "arc eval: $(cat "$tmp/err")"
    mpi 2 "$hrm" eval --checkpoint "$ck" --data "$a" --batch 3 >"$tmp/arc2.json" 2>"$tmp/err" || fail "arc eval under 2: $(cat "$tmp/err")"
    grep -q '"arc_pass@1"' "$tmp/arc1.json" && cmp -s "$tmp/arc1.json" "$tmp/arc2.json" &&
        ok "arc eval (verifier, pass@K) under 2 processes == 1 process" || fail "arc eval under 2 processes: $(diff "$tmp/arc1.json" "$tmp/arc2.json")"
fi
finish
