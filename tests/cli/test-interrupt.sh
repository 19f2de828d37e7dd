#!/bin/bash
# tests/cli/test-interrupt.sh HRM DATA - the interrupt contract of `hrm train` (tools/cmd_train.c's
# header comment) on the tiny dataset DATA (tests/golden/data) with a tiny architecture. Every run
# evaluates and saves at steps 3, 6, ...; the test hook HRM_TEST_PAUSE_MS=1000 pauses each step
# after its batch is drawn and each save between its state and weights files. A first signal is
# sent 0.3 s after the progress line of step 4, so it lands in step 5's pause (the batch drawn,
# not yet applied; step 4 not saved); a second one 0.1 s after step_5.state appears, in the save's
# pause, or 0.1 s after the first, still in step 5's pause:
#   - SIGINT in step 5 (reproducible mode): step 5 runs to its end and is saved, exit 130, one line;
#     step_5.* and step_3.* are byte for byte those of max_steps=5, and a resume to step 7 equals a
#     straight run;
#   - SIGTERM likewise in shuffled mode with halting exploration: exit 143;
#   - SIGTERM, then SIGTERM again during the save: the save ends, exit 143, one line that names the
#     held signal; step_5.* as max_steps=5, step_3.* unchanged, no .tmp file;
#   - SIGTERM, then SIGINT before the save: exit 130 at once, one line; no step_4 or step_5 file,
#     no .tmp file, step_3.* unchanged;
#   - SIGKILL during the save: no step_5.safetensors, so a resume starts from step_3 and its
#     step_7 equals a straight run's;
#   - a process that dies in the middle of writing step_5.state (SIGXFSZ from `ulimit -f`, which
#     stops it at a known byte) leaves no file under a checkpoint's name, only step_5.state.tmp.
set -uo pipefail
hrm=$1
data=$2
. "$(dirname "$0")/test-lib.sh"

export HRM_THREADS=2
arch="arch.hidden_size=16 arch.num_heads=2 arch.H_layers=1 arch.L_layers=1 arch.halt_max_steps=4"
base="data_path=$data $arch global_batch_size=6 lr=1e-2 lr_warmup_steps=2 lr_min_ratio=0.1 epochs=100000 eval_interval=3"
repro="data_shuffle=false"
shuffled="data_shuffle=true arch.halt_exploration_prob=0.5 seed=7"

# $1: run folder; $2: mode; rest: steps K. The runs of the same command with max_steps=K.
reference() {
    local dir=$1 mode=$2 k
    shift 2
    for k in "$@"; do
        $hrm train $base $mode checkpoint_path="$dir/ref$k" max_steps=$k >/dev/null 2>"$tmp/referr" ||
            fail "reference max_steps=$k: $(cat "$tmp/referr")"
    done
}

# $1: run folder ($d); $2: mode. Starts the paused run in the background: $pid.
start() {
    HRM_TEST_PAUSE_MS=1000 $hrm train $base $2 checkpoint_path="$1/run" log_interval=1 >"$1.out" 2>"$1.err" &
    pid=$!
}

# Waits (60 s at most, while the run in $d lives) for: $1 = line: the progress line of step $2;
# $1 = file: the file $2.
wait_for() {
    for _ in $(seq 1200); do
        if [ "$1" = line ]; then grep -q "^step $2/" "$d.err" && return 0; else [ -e "$2" ] && return 0; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    fail "$1 $2 did not appear: $(tail -1 "$d.err")"
    kill -KILL "$pid" 2>/dev/null
    return 1
}

# $1: what; $2: stderr file; $3: text the final line must contain. stderr holds progress lines,
# evaluation lines and exactly one more line, the last, which names the outcome.
one_line() {
    local rest
    rest=$(grep -v -e '^step [0-9]*/' -e ' eval: ' "$2")
    [ -n "$rest" ] && [ "$(wc -l <<<"$rest")" -eq 1 ] || fail "$1: want one line on stderr, got: '$rest'"
    [ "$(tail -1 "$2")" = "$rest" ] || fail "$1: the outcome is not the last line of stderr"
    grep -qF -- "$3" <<<"$rest" || fail "$1: the line does not say '$3': $rest"
}

# $1: what; $2, $3: run folders; rest: file names that must be byte for byte equal.
same() {
    local what=$1 a=$2 b=$3 f
    shift 3
    for f in "$@"; do
        if [ ! -e "$a/$f" ]; then fail "$what: $a/$f is missing"; else cmp -s "$a/$f" "$b/$f" || fail "$what: $a/$f differs from $b/$f"; fi
    done
}

no_tmp() { ! ls "$2" | grep '\.tmp$' || fail "$1: .tmp files left in $2"; }

# ---- SIGINT / SIGTERM in step 5: step 5 saved as max_steps=5 would, exit 130 / 143, resume ------
for t in "INT 130 $repro" "TERM 143 $shuffled"; do
    read -r sig code mode <<<"$t"
    d=$tmp/$sig
    mkdir -p "$d"
    reference "$d" "$mode" 5 7
    start "$d" "$mode"
    wait_for line 4 && sleep 0.3 && kill -"$sig" "$pid"
    wait "$pid"
    rc=$?
    [ "$rc" -eq "$code" ] || fail "SIG$sig: exit $rc, want $code"
    one_line "SIG$sig" "$d.err" "stopped by signal $(kill -l "$sig") at step 5: saved $d/run/step_5.safetensors"
    grep -q "run the same command to resume" "$d.err" || fail "SIG$sig: no resume hint"
    # whatever step K the run says it saved, its files must be those of max_steps=K
    k=$(sed -n 's/.*stopped by signal [0-9]* at step \([0-9]*\): saved .*/\1/p' "$d.err")
    [ -n "$k" ] && [ "$k" != 5 ] && reference "$d" "$mode" "$k"
    [ -n "$k" ] && same "SIG$sig: the step it saved, $k, vs max_steps=$k ($mode)" "$d/run" "$d/ref$k" step_$k.safetensors step_$k.state
    [ -e "$d/run/step_6.safetensors" ] && fail "SIG$sig: the run went on to step 6"
    same "SIG$sig in step 5 vs max_steps=5 ($mode)" "$d/run" "$d/ref5" step_3.safetensors step_3.state step_5.safetensors step_5.state
    no_tmp "SIG$sig" "$d/run"
    said=$(tail -1 "$d.err")
    $hrm train checkpoint_path="$d/run" max_steps=7 >"$d.out" 2>"$d.err" || fail "SIG$sig: resume: $(cat "$d.err")"
    grep -q "resuming from $d/run/step_5.safetensors" "$d.out" || fail "SIG$sig: did not resume from step 5"
    same "SIG$sig: resumed to step 7 vs a straight run ($mode)" "$d/run" "$d/ref7" step_7.safetensors step_7.state
    ok "SIG$sig in step 5 ($mode): exit $rc, step_5 == max_steps=5 byte for byte, resumes to the straight run's step_7 -> $said"
done

# ---- a second signal during the save: held, the save ends, exit 143 -----------------------------
d=$tmp/held
mkdir -p "$d"
reference "$d" "$repro" 5 7
start "$d" "$repro"
wait_for line 4 && sleep 0.3 && kill -TERM "$pid" && wait_for file "$d/run/step_5.state" && sleep 0.1 && kill -TERM "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 143 ] || fail "second signal during the save: exit $rc, want 143"
one_line "second signal during the save" "$d.err" "saved $d/run/step_5.safetensors (signal 15 came during the save: held"
same "second signal during the save" "$d/run" "$d/ref5" step_3.safetensors step_3.state step_5.safetensors step_5.state
no_tmp "second signal during the save" "$d/run"
ok "SIGTERM, then SIGTERM during the save: exit $rc, step_5 complete == max_steps=5, step_3 unchanged, no .tmp -> $(tail -1 "$d.err")"

# ---- a second signal before the save: stop at once, nothing of step 5 saved ---------------------
d=$tmp/second
mkdir -p "$d"
reference "$d" "$repro" 5 7
start "$d" "$repro"
wait_for line 4 && sleep 0.3 && kill -TERM "$pid" && sleep 0.1 && kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 130 ] || fail "second signal before the save: exit $rc, want 130 (128 + SIGINT)"
one_line "second signal before the save" "$d.err" "second signal: stopped at once without saving"
ls "$d/run" | grep -q '^step_[45]' && fail "second signal before the save: step 4 or 5 files written: $(ls "$d/run")"
same "second signal before the save" "$d/run" "$d/ref5" step_3.safetensors step_3.state
no_tmp "second signal before the save" "$d/run"
ok "SIGTERM then SIGINT in the step: exit $rc at once, no step_5 file, step_3 unchanged, no .tmp -> $(tail -1 "$d.err")"

# ---- SIGKILL during the save: the weights file never stands without its state -------------------
d=$tmp/kill
mkdir -p "$d"
reference "$d" "$repro" 5 7
start "$d" "$repro"
wait_for line 4 && sleep 0.3 && kill -TERM "$pid" && wait_for file "$d/run/step_5.state" && sleep 0.1 && kill -KILL "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 137 ] || fail "SIGKILL during the save: exit $rc, want 137"
[ -e "$d/run/step_5.safetensors" ] && fail "SIGKILL during the save left step_5.safetensors"
same "SIGKILL during the save" "$d/run" "$d/ref5" step_3.safetensors step_3.state
$hrm train checkpoint_path="$d/run" max_steps=7 >"$d.out" 2>"$d.err" || fail "resume after SIGKILL: $(cat "$d.err")"
grep -q "resuming from $d/run/step_3.safetensors" "$d.out" || fail "resume after SIGKILL: did not resume from step 3: $(cat "$d.out")"
same "resume after SIGKILL during the save" "$d/run" "$d/ref7" step_7.safetensors step_7.state
ok "SIGKILL during the save: no step_5.safetensors; resumed from step_3 to the straight run's step_7"

# ---- death in the middle of a file: step_5.state is 226 KiB, `ulimit -f 150` stops it at 150 KiB ---
d=$tmp/xfsz
mkdir -p "$d"
reference "$d" "$repro" 5 7
$hrm train $base $repro checkpoint_path="$d/run" max_steps=4 >/dev/null 2>"$d.err" || fail "run to step 4: $(cat "$d.err")"
(ulimit -c 0 -f 150 && exec $hrm train checkpoint_path="$d/run" max_steps=5 >/dev/null 2>"$d.err")
rc=$?
[ "$rc" -eq 153 ] || fail "SIGXFSZ in the save: exit $rc, want 153 (128 + SIGXFSZ): $(tail -1 "$d.err")"
[ -e "$d/run/step_5.state" ] || [ -e "$d/run/step_5.safetensors" ] && fail "SIGXFSZ in the save left a partial file under a checkpoint's name: $(ls -l "$d/run")"
[ -e "$d/run/step_5.state.tmp" ] || fail "SIGXFSZ in the save: no step_5.state.tmp, the test did not stop the write"
same "SIGXFSZ in the save" "$d/run" "$d/ref5" step_3.safetensors step_3.state
$hrm train checkpoint_path="$d/run" max_steps=7 >"$d.out" 2>"$d.err" || fail "resume after SIGXFSZ: $(cat "$d.err")"
same "resume after SIGXFSZ in the save" "$d/run" "$d/ref7" step_7.safetensors step_7.state
ok "SIGXFSZ at byte 153600 of step_5.state: only step_5.state.tmp; resumed from step_3 to the straight run's step_7"

if [ "$fails" -ne 0 ]; then
    echo "$fails check(s) failed"
    exit 1
fi
echo "all interrupt checks passed"
