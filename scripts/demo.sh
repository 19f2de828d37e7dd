#!/usr/bin/env bash
# scripts/demo.sh - the main job, one command on a fresh machine: set up and build, make a Sudoku
# dataset with the generator, train a small HRM on the fastest backend found, evaluate it on
# held-out puzzles, solve one, and plot the training curves.
#
#   bash scripts/demo.sh [RUN_DIR]          (default demo-run/; re-running resumes or reuses it)
#
# Sizes (environment, defaults in brackets): DEMO_PUZZLES [4000] generated puzzles, DEMO_GIVENS
# [75] givens per puzzle (81 - givens cells to fill), DEMO_HOLDOUT [500] of them held out for
# evaluation, DEMO_EPOCHS [12] passes over the training puzzles in batches of DEMO_BATCH [64],
# evaluated every DEMO_EPOCHS/6 epochs; DEMO_PRECISION [highest] is the matmul_precision of the
# training and the evaluation (highest, high or medium); DEMO_ARCH [hrm] is hrm or trm (the Tiny
# Recursive Model: one network of 2 layers, 2 cycles of 2 latent updates and one answer update,
# an EMA of the weights); DEMO_SAMPLES [8] and DEMO_NOISE [0.3] are the sampled evaluation's
# runs and noise. The defaults train for about 8 minutes on 2 cores; README.md says what they reach.
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-demo-run}
puzzles=${DEMO_PUZZLES:-4000}
givens=${DEMO_GIVENS:-75}
holdout=${DEMO_HOLDOUT:-500}
epochs=${DEMO_EPOCHS:-12}
batch=${DEMO_BATCH:-64}
precision=${DEMO_PRECISION:-highest}
arch=${DEMO_ARCH:-hrm}
samples=${DEMO_SAMPLES:-8}
noise=${DEMO_NOISE:-0.3}
case $arch in
hrm)
  model="arch.hidden_size=128 arch.num_heads=2 arch.H_layers=2 arch.L_layers=2 arch.H_cycles=2 arch.L_cycles=2"
  about="HRM: hidden 128, 2 heads, H and L 2 layers each, 2x2 cycles"
  ;;
trm)
  model="arch=trm arch.hidden_size=128 arch.num_heads=2 arch.L_layers=2 arch.H_cycles=2 arch.L_cycles=2"
  model="$model arch.puzzle_emb_len=0 ema=true ema_rate=0.99"
  about="TRM: hidden 128, 2 heads, one network of 2 layers, 2 cycles of 2 latent updates + 1 answer update, EMA 0.99"
  ;;
*) echo "DEMO_ARCH must be hrm or trm, not '$arch'" >&2; exit 2 ;;
esac
every=$(( epochs / 6 > 0 ? epochs / 6 : 1 ))
epochs=$(( epochs / every * every )) # the published trainer wants epochs to be a multiple of eval_interval

bash scripts/setup.sh
hrm=build/tools/hrm
mkdir -p "$run"
say() { printf '\n== %s\n' "$*"; }

say "backends"
$hrm backends

say "data: $puzzles generated Sudoku puzzles with $givens givens (unique solutions), $holdout held out"
$hrm data generate sudoku --count "$puzzles" --givens "$givens" --seed 1 --out "$run/puzzles.csv"
$hrm data verify sudoku --csv "$run/puzzles.csv"
$hrm data build sudoku --train "$run/puzzles.csv" --holdout "$holdout" --seed 1 --out "$run/data" --force

say "training $about, up to 4 segments, $epochs epochs in batches of $batch"
# Resumes from $run/train when it holds a checkpoint of an earlier run of this script.
# shellcheck disable=SC2086 # $model is a list of key=value words
$hrm train data_path="$run/data" checkpoint_path="$run/train" $model \
  arch.halt_max_steps=4 arch.puzzle_emb_ndim=0 \
  global_batch_size="$batch" lr=2e-3 lr_warmup_steps=50 lr_min_ratio=0.1 weight_decay=0.1 \
  arch.loss.loss_type=softmax_cross_entropy \
  epochs="$epochs" eval_interval="$every" seed=0 log_interval=50 checkpoint_every_eval=false \
  matmul_precision="$precision"
ckpt=$(ls -v "$run"/train/step_*.safetensors | tail -n 1)

say "evaluation on the $holdout held-out puzzles ($ckpt)"
$hrm eval --checkpoint "$ckpt" --data "$run/data" --matmul-precision "$precision" | tee "$run/eval.json"

say "sampled evaluation: $samples runs per puzzle, the first plain, the others with noise $noise on the recurrent state"
$hrm eval --checkpoint "$ckpt" --data "$run/data" --matmul-precision "$precision" \
  --samples "$samples" --noise "$noise" | tee "$run/eval_sampled.json"

say "a held-out puzzle it solves (the first of the first 50 whose answer the verifier accepts)"
for i in $(seq 0 49); do
  if $hrm solve --checkpoint "$ckpt" --data "$run/data" --index "$i" --color never >"$run/solve.txt"; then
    echo "held-out puzzle $i:"
    break
  fi
done
cat "$run/solve.txt"

say "training curves"
$hrm plot "$run/train/metrics.jsonl" --out "$run/curves.svg" --title "${arch^^} on generated Sudoku ($givens givens)"
echo "done: $run/eval.json, $run/eval_sampled.json, $run/curves.svg"
