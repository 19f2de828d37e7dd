#!/usr/bin/env bash
# tests/cli/test-tasks.sh HRM ARC_TESTDATA - the task plugins end to end through the `hrm` program:
# `hrm data tasks` finds sudoku, maze and arc; generated Sudoku puzzles and mazes pass
# `hrm data verify` and build into datasets that `hrm train` trains on for a few steps; `hrm eval`
# adds the task's verdicts (and ARC's pass@K) to its report; `hrm solve` prints the grids, the
# segments and a verdict for a typed puzzle, a file and a dataset example (and a typed ARC grid
# with its task's identifier, --puzzle-id); and bad input (an
# existing output folder, a corrupt CSV row, an unknown task, a malformed puzzle) gives one line
# and a non-zero exit without touching what was written before.
set -uo pipefail
hrm=$1
arc_data=$2
export HRM_THREADS=2

. "$(dirname "$0")/test-lib.sh"

# JSON field of a one-object file, through the shell only (hrm eval prints one key per line).
field() { sed -n "s/^ *\"$2\": \([^,]*\),\{0,1\}$/\1/p" "$1"; }

tiny_train() { # data_dir run_dir: 3 steps of a tiny model
    "$hrm" train data_path="$1" checkpoint_path="$2" arch.hidden_size=32 arch.num_heads=2 arch.H_layers=1 \
        arch.L_layers=1 arch.H_cycles=1 arch.L_cycles=1 arch.halt_max_steps=2 global_batch_size=8 max_steps=3 \
        epochs=1000 lr=1e-3 lr_warmup_steps=1 >"$tmp/train.out" 2>&1 || { cat "$tmp/train.out"; return 1; }
}

# ---- the plugins are found ------------------------------------------------------------------
"$hrm" data tasks >"$tmp/tasks" 2>&1 || fail "hrm data tasks exited non-zero"
for t in sudoku maze arc; do grep -q "^$t " "$tmp/tasks" || fail "hrm data tasks does not list $t"; done
ok "hrm data tasks: $(grep -c 'seq_len' "$tmp/tasks") usable"

# ---- Sudoku: generate, verify, build, train, eval, solve --------------------------------------
s=$tmp/sudoku
mkdir -p "$s"
"$hrm" data generate sudoku --count 60 --givens 60 --seed 3 --out "$s/p.csv" 2>/dev/null || fail "generate sudoku"
[ "$(wc -l <"$s/p.csv")" -eq 61 ] || fail "generate sudoku: $(wc -l <"$s/p.csv") lines, want 61"
"$hrm" data verify sudoku --csv "$s/p.csv" >"$tmp/out" 2>&1 || fail "verify of generated puzzles: $(cat "$tmp/out")"
grep -q "accepted 60 of 60" "$tmp/out" || fail "verify sudoku: $(cat "$tmp/out")"
"$hrm" data build sudoku --train "$s/p.csv" --holdout 12 --aug 1 --out "$s/data" >"$tmp/out" 2>&1 ||
    fail "build sudoku: $(cat "$tmp/out")"
grep -q "train 96 examples" "$tmp/out" || fail "build sudoku: 48 puzzles x (1 + 1 augmentation): $(cat "$tmp/out")"
grep -q "test 12 examples" "$tmp/out" || fail "build sudoku: 12 held out: $(cat "$tmp/out")"
ok "sudoku dataset built"

# a corrupt row: verify names its line and fails; build skips it with a count, --strict refuses
cp "$s/p.csv" "$s/bad.csv"
sed -i '5s/^\([^,]*\),\(.\)/\1,x/' "$s/bad.csv"
"$hrm" data verify sudoku --csv "$s/bad.csv" >"$tmp/out" 2>&1 && fail "verify accepted a corrupt row"
grep -q "bad.csv:5" "$tmp/out" || fail "verify does not name bad.csv:5: $(cat "$tmp/out")"
"$hrm" data build sudoku --train "$s/bad.csv" --out "$s/skip" >"$tmp/out" 2>&1 || fail "build with a skipped row failed"
grep -q "train 59 examples" "$tmp/out" || fail "build did not skip exactly the bad row: $(cat "$tmp/out")"
expect_exit "build --strict with a corrupt row" 1 "$hrm" data build sudoku --train "$s/bad.csv" --strict --out "$s/strict"
grep -q "bad.csv:5" "$tmp/err" || fail "--strict error does not name bad.csv:5"
[ -e "$s/strict" ] || [ -e "$s/strict.partial" ] && fail "a refused build left files behind"

# an existing output folder is kept unless --force
before=$(md5sum <"$s/data/train/all__inputs.npy")
expect_exit "build onto an existing folder" 1 "$hrm" data build sudoku --train "$s/p.csv" --holdout 12 --out "$s/data"
[ "$(md5sum <"$s/data/train/all__inputs.npy")" = "$before" ] || fail "a refused build changed the existing dataset"
# A DIR.partial left by a build that died (issue 13: no live build holds DIR.partial.lock) is
# removed by the next build, even one refused because DIR exists; one that a live build holds the
# lock of is refused with one line, and its DIR.partial left alone, --force or not.
mkdir -p "$s/data.partial/train" && : >"$s/data.partial/train/inputs.raw"
"$hrm" data build sudoku --train "$s/p.csv" --holdout 12 --out "$s/data" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 1 ] && grep -q "warning: removed .*/data.partial left by an interrupted build" "$tmp/err" &&
    grep -q "already exists" "$tmp/err" && [ ! -e "$s/data.partial" ] && [ ! -e "$s/data.partial.lock" ] &&
    [ "$(md5sum <"$s/data/train/all__inputs.npy")" = "$before" ] && ok "a stale data.partial is removed -> $(tr '\n' ' ' <"$tmp/err")" ||
    fail "stale data.partial: exit $rc: $(cat "$tmp/err")"
if command -v flock >/dev/null 2>&1; then
    mkdir -p "$s/data.partial"
    exec 9>"$s/data.partial.lock"
    flock -n 9 || fail "cannot lock data.partial.lock for the test"
    expect_exit "build while another build holds the lock" 1 "$hrm" data build sudoku --train "$s/p.csv" --force --out "$s/data"
    grep -q 'another `hrm data build` is writing' "$tmp/err" || fail "a concurrent build: $(cat "$tmp/err")"
    [ -d "$s/data.partial" ] && [ "$(md5sum <"$s/data/train/all__inputs.npy")" = "$before" ] ||
        fail "a build refused for a concurrent one touched data.partial or data"
    exec 9>&-
    rm -rf "$s/data.partial" "$s/data.partial.lock"
fi
expect_exit "unknown task" 2 "$hrm" data build nosuchtask --out "$s/x"
expect_exit "build without --out" 2 "$hrm" data build sudoku --train "$s/p.csv"
# Regressions from issue 13's mutation campaign. A CSV whose first line is empty: the reader stored
# the line's terminator before it had a buffer (SIGSEGV in the release build).
printf '\nsource,question,answer,rating\n' >"$s/empty-first.csv"
expect_exit "verify a CSV whose first line is empty" 1 "$hrm" data verify sudoku --csv "$s/empty-first.csv"
grep -q "empty-first.csv:1: header is ''" "$tmp/err" || fail "empty first line: the error does not name line 1"
expect_exit "build sudoku from a CSV whose first line is empty" 1 "$hrm" data build sudoku --train "$s/empty-first.csv" --out "$s/e1"
expect_exit "build maze from a CSV whose first line is empty" 1 "$hrm" data build maze --train "$s/empty-first.csv" --out "$s/e2"
# An ARC folder without *.json: qsort was handed a NULL array (UBSan in the ASan build stops on it).
mkdir -p "$s/no-json"
"$hrm" data build arc --train-dirs "$s/no-json" --out "$s/e3" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 1 ] && grep -q "no usable ARC task files" "$tmp/err" && ! grep -q "runtime error" "$tmp/err" &&
    [ ! -e "$s/e3" ] && ok "build arc from a folder without tasks -> one error, exit 1" ||
    fail "build arc from a folder without tasks: exit $rc: $(cat "$tmp/err")"

tiny_train "$s/data" "$s/run" || fail "training on the sudoku dataset"
ck=$(ls -v "$s"/run/step_*.safetensors 2>/dev/null | tail -n 1)
if [ -n "$ck" ]; then
    "$hrm" eval --checkpoint "$ck" --data "$s/data" >"$s/eval.json" 2>"$tmp/err" || fail "eval: $(cat "$tmp/err")"
    [ "$(field "$s/eval.json" task)" = '"sudoku"' ] || fail "eval does not name the sudoku task: $(cat "$s/eval.json")"
    v=$(field "$s/eval.json" verified)
    [ -n "$v" ] || fail "eval has no verified rate"
    ok "sudoku eval: verified $v, exact $(field "$s/eval.json" exact_accuracy)"
    puzzle=$(sed -n '2s/^[^,]*,\([^,]*\),.*/\1/p' "$s/p.csv")
    "$hrm" solve --checkpoint "$ck" "$puzzle" --color never >"$tmp/solve" 2>"$tmp/err"
    rc=$?
    [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || fail "solve exited $rc: $(cat "$tmp/err")"
    for w in "input:" "prediction:" "segments:" "verdict:"; do grep -q "^$w" "$tmp/solve" || fail "solve prints no '$w'"; done
    grep -q "^verdict: accepted" "$tmp/solve" && [ "$rc" -ne 0 ] && fail "solve: accepted but exit $rc"
    printf '%s\n' "$puzzle" >"$s/puzzle.txt"
    "$hrm" solve --checkpoint "$ck" --file "$s/puzzle.txt" --all-segments >"$tmp/solve2" 2>&1
    grep -q "^segments: 2 of 2" "$tmp/solve2" || fail "solve --all-segments: $(grep segments "$tmp/solve2")"
    "$hrm" solve --checkpoint "$ck" --data "$s/data" --index 3 >"$tmp/solve3" 2>&1
    grep -q "^matches the dataset's answer: " "$tmp/solve3" || fail "solve --data shows no comparison with the label"
    # the solver at bf16 operands (the CPU backend's emulation, issue 12): the same puzzle, said once
    HRM_CPU_PRECISION=emulate "$hrm" solve --checkpoint "$ck" --data "$s/data" --index 3 --backend cpu \
        --matmul-precision medium >"$tmp/solve4" 2>"$tmp/err4"
    grep -q "^matches the dataset's answer: " "$tmp/solve4" || fail "solve at medium: $(cat "$tmp/err4")"
    [ "$(cat "$tmp/err4")" = "hrm solve: matmul precision: medium (bf16 operands, fp32 accumulation)" ] ||
        fail "solve at medium: stderr is not the one precision line: $(cat "$tmp/err4")"
    # sampled inference: noise 0 (any K) is the plain answer; eval and solve take it and say so
    "$hrm" solve --checkpoint "$ck" --data "$s/data" --index 3 --samples 4 --noise 0 >"$tmp/solve5" 2>&1
    cmp -s "$tmp/solve3" "$tmp/solve5" || fail "solve --samples 4 --noise 0 differs from the plain solve"
    "$hrm" solve --checkpoint "$ck" --data "$s/data" --index 3 --samples 4 --noise 0.5 --seed 3 >"$tmp/solve6" 2>&1
    rc=$?
    { [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ]; } && grep -q "^verdict: " "$tmp/solve6" || fail "solve --samples 4: exit $rc"
    "$hrm" eval --checkpoint "$ck" --data "$s/data" --samples 3 --noise 0 >"$s/eval0.json" 2>"$tmp/err" || fail "eval --noise 0: $(cat "$tmp/err")"
    [ "$(field "$s/eval0.json" exact_accuracy)" = "$(field "$s/eval.json" exact_accuracy)" ] &&
        [ "$(field "$s/eval0.json" lm_loss)" = "$(field "$s/eval.json" lm_loss)" ] || fail "eval --noise 0 differs from plain"
    "$hrm" eval --checkpoint "$ck" --data "$s/data" --samples 3 --noise 0.5 >"$s/eval3.json" 2>"$tmp/err" || fail "eval --samples 3: $(cat "$tmp/err")"
    [ "$(field "$s/eval3.json" samples)" = 3 ] || fail "eval --samples 3 does not say samples 3: $(cat "$s/eval3.json")"
    v3=$(field "$s/eval3.json" verified)
    python3 -c "import sys; sys.exit(0 if float('$v3') >= float('$v') else 1)" || fail "sampled eval verified $v3 < plain $v (run 0 is the plain one)"
    expect_exit "solve --samples 0" 2 "$hrm" solve --checkpoint "$ck" "$puzzle" --samples 0
    expect_exit "eval --noise -1" 2 "$hrm" eval --checkpoint "$ck" --data "$s/data" --noise -1
    ok "sampled solve and eval: noise 0 is plain; verified $v -> $v3 with 3 samples"
    expect_exit "solve a malformed puzzle" 1 "$hrm" solve --checkpoint "$ck" "12345"
    expect_exit "solve with two puzzles" 2 "$hrm" solve --checkpoint "$ck" "$puzzle" "$puzzle"
    expect_exit "solve --index out of range" 1 "$hrm" solve --checkpoint "$ck" --data "$s/data" --index 99
    expect_exit "solve with the wrong task" 1 "$hrm" solve --checkpoint "$ck" --task maze "$puzzle"
    ok "sudoku solve"
else
    fail "no checkpoint after training"
fi

# ---- mazes: generate, verify, build -------------------------------------------------------------
m=$tmp/maze
mkdir -p "$m"
"$hrm" data generate maze --count 6 --seed 2 --out "$m/m.csv" 2>/dev/null || fail "generate maze"
"$hrm" data verify maze --csv "$m/m.csv" >"$tmp/out" 2>&1 || fail "verify of generated mazes: $(cat "$tmp/out")"
"$hrm" data build maze --train "$m/m.csv" --holdout 2 --out "$m/data" >"$tmp/out" 2>&1 || fail "build maze: $(cat "$tmp/out")"
grep -q "train 4 examples" "$tmp/out" || fail "build maze: $(cat "$tmp/out")"
ok "maze dataset built"
# bad options are bad usage (exit 2); options the file cannot satisfy are failures (exit 1)
expect_exit "build maze --aug (not a maze option)" 2 "$hrm" data build maze --train "$m/m.csv" --aug 1 --out "$m/x"
expect_exit "build maze --holdout 6 of 6 rows" 1 env HRM_LOG=warn "$hrm" data build maze --train "$m/m.csv" \
    --holdout 6 --out "$m/x"
expect_exit "generate maze --wall-min above --wall-max" 2 "$hrm" data generate maze --count 1 --wall-min 0.6 \
    --wall-max 0.5
[ -e "$m/x" ] || [ -e "$m/x.partial" ] && fail "a refused maze build left files behind"

# ---- ARC: build from the test fixtures, train, eval with pass@K --------------------------------
a=$tmp/arc
"$hrm" data build arc --train-dirs "$arc_data/training" --eval-dirs "$arc_data/evaluation" --aug 2 --out "$a" \
    >"$tmp/out" 2>&1 || fail "build arc: $(cat "$tmp/out")"
expect_exit "build arc --aug x" 2 "$hrm" data build arc --train-dirs "$arc_data/training" --aug x --out "$tmp/arc-x"
expect_exit "build arc without folders" 2 "$hrm" data build arc --out "$tmp/arc-x"
expect_exit "build arc from a missing folder" 1 "$hrm" data build arc --train-dirs "$tmp/no-such" --out "$tmp/arc-x"
# a symbolic link back up the tree (issue 13): one line naming the link, instead of a walk to the
# depth limit with hundreds of "already read" warnings and a build that succeeded
mkdir -p "$tmp/loop/tasks"
cp "$arc_data"/training/*.json "$tmp/loop/tasks/"
ln -s .. "$tmp/loop/tasks/back"
expect_exit "build arc through a symbolic-link loop" 1 "$hrm" data build arc --train-dirs "$tmp/loop" --out "$tmp/arc-loop"
grep -q "tasks/back: a symbolic-link loop" "$tmp/err" || fail "the loop error does not name the link"
[ -e "$tmp/arc-loop" ] && fail "a build refused for a loop left its output"
[ -e "$tmp/arc-x" ] || [ -e "$tmp/arc-x.partial" ] && fail "a refused arc build left files behind"
tiny_train "$a" "$a-run" || fail "training on the arc dataset"
ck=$(ls -v "$a"-run/step_*.safetensors 2>/dev/null | tail -n 1)
if [ -n "$ck" ]; then
    "$hrm" eval --checkpoint "$ck" --data "$a" >"$a-eval.json" 2>"$tmp/err" || fail "arc eval: $(cat "$tmp/err")"
    [ "$(field "$a-eval.json" task)" = '"arc"' ] || fail "eval does not name the arc task"
    for k in 'arc_pass@1' 'arc_pass@2' verified; do
        [ -n "$(field "$a-eval.json" "$k")" ] || fail "arc eval has no $k: $(cat "$a-eval.json")"
    done
    "$hrm" eval --checkpoint "$ck" --data "$a" --task none >"$tmp/out" 2>&1 || fail "eval --task none"
    [ "$(field "$tmp/out" task)" = "null" ] || fail "eval --task none still names a task"
    "$hrm" solve --checkpoint "$ck" --data "$a" --index 0 >"$tmp/out" 2>&1
    grep -q "^verdict: " "$tmp/out" || fail "arc solve prints no verdict"
    # a typed test grid of an evaluation task, with that task's identifier (its demonstrations
    # trained the embedding row) named through the dataset's identifiers.json
    task_file=$(ls "$arc_data"/evaluation/*.json | head -n 1)
    task=$(basename "$task_file" .json)
    python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["test"][0]["input"]))' \
        "$task_file" >"$tmp/grid.json"
    "$hrm" solve --checkpoint "$ck" --file "$tmp/grid.json" --data "$a" --puzzle-id "$task" >"$tmp/out" 2>&1
    grep -q "^puzzle identifier: [1-9][0-9]* $task\$" "$tmp/out" || fail "arc solve --puzzle-id: $(cat "$tmp/out")"
    expect_exit "solve --puzzle-id with an unknown name" 1 \
        "$hrm" solve --checkpoint "$ck" --file "$tmp/grid.json" --data "$a" --puzzle-id no-such-task
    expect_exit "solve --puzzle-id name without --data" 1 "$hrm" solve --checkpoint "$ck" --file "$tmp/grid.json" \
        --puzzle-id "$task"
    expect_exit "solve --puzzle-id out of range" 1 "$hrm" solve --checkpoint "$ck" --file "$tmp/grid.json" \
        --puzzle-id 1000000
    expect_exit "solve --puzzle-id for a dataset example" 2 "$hrm" solve --checkpoint "$ck" --data "$a" --puzzle-id 1
    ok "arc eval: pass@1 $(field "$a-eval.json" 'arc_pass@1'), pass@2 $(field "$a-eval.json" 'arc_pass@2')"
else
    fail "no arc checkpoint"
fi

[ "$fails" -eq 0 ] && echo "all task checks passed" || echo "$fails task checks failed"
[ "$fails" -eq 0 ]
