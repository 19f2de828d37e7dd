#!/usr/bin/python3
"""trm_bench.py - training and evaluation throughput of the TRM PyTorch reference (trm_ref.py),
as `hrm bench train` measures the C engine's TRM models: the PyTorch side of
scripts/bench-vs-torch.sh for the configurations trm and trm-small.

It is `hrm_ref.py --bench` for TRM: the same timing loop (hrm_ref._timed: warm-up calls, then
calls until --steps calls and --min-time seconds, the device synchronised around each call), the
same device handling (--device cpu, cuda, cuda:N, ...; every tensor names its device), the same
dtypes (--dtype fp32, tf32, or bf16: the forward passes and the loss head under autocast, the
backward and the optimizers outside it) and the same JSON fields on stdout, plus the TRM
settings. The OMP_WAIT_POLICY=PASSIVE ("tuned") variant on the CPU is the shell script's: it
runs this file twice with different environments.

The model is trm_ref's, unchanged (random init, seed 0; synthetic Sudoku-shaped data: tokens and
labels uniform in [1, 11), puzzle identifier 0):

  training step   trm_ref.TRMTrainer.train_step, i.e. pretrain.py train_batch + the EMA: one
                  supervision step (trm_ref.act_segment: ACT reset of halted slots, the
                  published schedule of T - 1 cycles without gradient and one differentiated
                  cycle of n + 1 network calls, halting on q_halt > 0 with exploration, no
                  Q-target forward), the loss head (hrm_ref.act_loss: stablemax + 0.5 BCE),
                  backward (autograd, divided by the global batch), SignSGD on the puzzle rows,
                  AdamATan2 on every nn.Parameter, then the EMA update (ema=True, as every
                  published TRM command line; the C bench keeps an EMA too)
  eval segment    trm_ref.act_segment (training=False) + hrm_ref.act_loss without gradient, the
                  carry going on from segment to segment as in evaluate_segments

A sample is one sequence through one supervision step; rates come from the median call
(batch / median).

    /usr/bin/python3 reference/trm_bench.py --model trm [--batch N] [--steps K] [--device cuda]
"""
import argparse
import contextlib
import json
import os
import resource
import sys

import torch

sys.dont_write_bytecode = True  # keep reference/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hrm_ref as R  # noqa: E402
import trm_ref as T  # noqa: E402

# The TRM configurations of `hrm bench train` (bench/bench_train.c): both arch=trm with
# config/arch/trm.yaml's defaults (expansion 4, puzzle_emb_len 16, RoPE, no_ACT_continue,
# halt_max_steps 16, exploration 0.1), T = H_cycles 3, n = L_cycles 6, vocab 11, seq 81, 1 puzzle
# identifier, puzzle_emb_ndim = hidden. (--mlp-t runs the MLP form, pos_encodings none as its
# recipe: 5,028,866 parameters at trm's size; the engine does not build that form yet.)
BENCH_MODELS = {
    "trm": dict(hidden=512, heads=8, layers=2, batch=8, mlp_t=False),  # 6,828,034 parameters
    "trm-small": dict(hidden=128, heads=2, layers=2, batch=32, mlp_t=False),
}


def bench_config(args) -> T.TRMConfig:
    return T.TRMConfig(vocab_size=11, seq_len=args.seq_len, num_puzzle_identifiers=1,
                       hidden_size=args.hidden, num_heads=args.heads, L_layers=args.layers,
                       H_cycles=args.H_cycles, L_cycles=args.L_cycles, expansion=args.expansion,
                       puzzle_emb_ndim=args.hidden, mlp_t=args.mlp_t,
                       pos_encodings="none" if args.mlp_t else "rope",
                       halt_max_steps=16, halt_exploration_prob=0.1)


def bench(args) -> dict:
    """Throughput of trm_ref on random data (see the module's docstring). args.device is a
    torch.device (hrm_ref.bench_device), args.dtype fp32, tf32 or bf16."""
    dev = args.device
    torch.set_num_threads(args.threads)
    R._set_precision(args.dtype)
    cfg = bench_config(args)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    # drawn on the CPU from seeded CPU generators (the same values on every device), then moved
    p = {k: v.to(dev) for k, v in T.init_params(cfg, 0).items()}
    g = torch.Generator().manual_seed(0)
    batch = {"inputs": torch.randint(1, 11, (args.batch, cfg.seq_len), generator=g, dtype=torch.int32),
             "labels": torch.randint(1, 11, (args.batch, cfg.seq_len), generator=g, dtype=torch.int32),
             "puzzle_identifiers": torch.zeros(args.batch, dtype=torch.int32)}
    batch = {k: v.to(dev) for k, v in batch.items()}
    # bf16: hrm_ref's act_segment and act_loss under autocast; trm_ref.act_segment calls
    # hrm_ref.act_segment (with TRM's inner forward) through the module, so it is covered too
    in_bf16 = R._forwards_in_bf16(dev.type) if args.dtype == "bf16" else contextlib.nullcontext()
    sync = R._sync_for(dev)
    with in_bf16:
        tr = T.TRMTrainer(p, cfg, T.TRMTrainSettings(global_batch_size=args.batch, lr=1e-4, lr_warmup_steps=0,
                                                     total_steps=10 ** 6, ema=not args.no_ema))
        if dev.type != "cpu":  # the exploration draws are made on the device, from its generator
            tr.gen = torch.Generator(device=dev).manual_seed(tr.s.seed)
        t_train = R._timed(lambda: tr.train_step(batch), args.warmup, args.steps, args.min_time, sync)

        carry = [R.initial_carry(cfg, batch, p[R.H_INIT].dtype)]

        def eval_segment():
            with torch.no_grad():
                carry[0], out = T.act_segment(p, cfg, carry[0], batch, training=False)
                R.act_loss(cfg, carry[0], out)

        t_eval = R._timed(eval_segment, args.warmup, args.steps, args.min_time, sync)
    med_train, med_eval = R._median(t_train), R._median(t_eval)
    return {"model": args.model or "custom", "arch": "trm", "params": T.count_params(cfg)[0],
            "threads": args.threads, "torch_threads": torch.get_num_threads(), "torch_version": torch.__version__,
            "device": str(dev), "device_name": R._device_name(dev), "dtype": args.dtype,
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "batch": args.batch, "hidden": args.hidden, "heads": args.heads, "layers": args.layers,
            "H_cycles": cfg.H_cycles, "L_cycles": cfg.L_cycles, "puzzle_emb_len": cfg.puzzle_emb_len,
            "mlp_t": cfg.mlp_t, "ema": not args.no_ema, "seq_len": args.seq_len, "full_seq": cfg.full_seq,
            "train_samples_per_s": args.batch / med_train,
            "eval_samples_per_s": args.batch / med_eval,
            "train_step_median_s": med_train, "train_step_min_s": min(t_train),
            "train_steps_timed": len(t_train),
            "eval_segment_median_s": med_eval, "eval_segment_min_s": min(t_eval),
            "eval_segments_timed": len(t_eval),
            # device memory: params, optimizer state, EMA and activations of training and
            # evaluation (the allocator's high-water mark); None where torch keeps no such count
            "memory_peak_bytes": torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else None,
            "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", action="store_true",
                    help="accepted for hrm_ref.py's command line; benchmarking is all this does")
    ap.add_argument("--model", choices=sorted(BENCH_MODELS), default="trm",
                    help="a TRM configuration of `hrm bench train` (default trm: sets hidden, heads, layers, "
                         "the form and the batch unless given)")
    ap.add_argument("--hidden", type=int, default=None)
    ap.add_argument("--heads", type=int, default=0, help="default: the model's, else hidden / 64")
    ap.add_argument("--layers", type=int, default=None, help="L_layers, the network's blocks")
    ap.add_argument("--H-cycles", dest="H_cycles", type=int, default=3, help="T (default 3)")
    ap.add_argument("--L-cycles", dest="L_cycles", type=int, default=6, help="n (default 6)")
    ap.add_argument("--mlp-t", dest="mlp_t", action="store_true", default=None,
                    help="the MLP form (token SwiGLU, no positions); default: the model's")
    ap.add_argument("--expansion", type=float, default=4.0)
    ap.add_argument("--seq-len", type=int, default=81)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--no-ema", action="store_true", help="train without the EMA of the weights")
    ap.add_argument("--steps", type=int, default=5, help="at least this many timed training steps and eval segments")
    ap.add_argument("--warmup", type=int, default=1, help="untimed calls first")
    ap.add_argument("--min-time", type=float, default=0.0, help="also time calls until this many seconds have passed")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--device", default="cpu",
                    help="cpu (default), cuda, cuda:N, or another torch device type (mps, xpu, ...)")
    ap.add_argument("--dtype", default="fp32",
                    help="fp32 (default; no TF32), tf32 (TF32 matmuls) or bf16 (autocast bfloat16 forward "
                         "passes, as the published forward_dtype)")
    args = ap.parse_args(argv)
    preset = BENCH_MODELS[args.model]
    for key in ("hidden", "layers", "batch", "mlp_t"):
        if getattr(args, key) is None:
            setattr(args, key, preset[key])
    if not args.heads:
        args.heads = preset["heads"] if args.hidden == preset["hidden"] else max(1, args.hidden // 64)
    try:
        if args.dtype not in R.BENCH_DTYPES:
            raise ValueError(f"--dtype {args.dtype}: expected one of {', '.join(R.BENCH_DTYPES)}")
        args.device = R.bench_device(args.device)
        bench_config(args)  # refuses an impossible configuration before anything runs
    except ValueError as e:
        print(f"trm_bench.py: {e}", file=sys.stderr)
        return 2
    print(json.dumps(bench(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
