#!/usr/bin/python3
"""make_trm_fixtures.py - the TRM golden fixtures of tests/golden, from reference/trm_ref.py.

Called by make_fixtures.py (the one command that regenerates tests/golden and its README):

    /usr/bin/python3 reference/make_fixtures.py [--out tests/golden]

Writes, on make_fixtures.py's tiny dataset (data/), two tiny TRMs and what the reference computes
from them, in the layout of the HRM fixtures:

    trm_init.safetensors, trm_expected.safetensors          attention form (RoPE, T 3, n 2)
    trm_mlp_init.safetensors, trm_mlp_expected.safetensors  MLP form (mlp_t, no positions, T 2, n 3)

then reruns everything in float64 and derives the tolerances. README.md, section "TRM fixtures"
(written by readme_section), lists every tensor and the metadata: the eval.* tensors of HRM's
fixtures plus the carry entering each step (eval.carry_y/z, so that step k can be compared from
the reference's carry k), train.* as HRM's plus the carries, grad{k}.*, step{K}.*, ema{K}.*.
Running this file directly runs make_fixtures.py.
"""
import json
import math
import os
import sys
from dataclasses import asdict

import numpy as np
import torch

sys.dont_write_bytecode = True  # keep reference/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hrm_ref as R  # noqa: E402
import make_fixtures as MF  # noqa: E402
import trm_ref as T  # noqa: E402

# The engine's hrm.config for a TRM: HRM's 16 keys in their order, then TRM's four.
TRM_EXTRA_KEYS = ("arch", "puzzle_emb_len", "mlp_t", "no_ACT_continue")

COMMON = dict(hidden_size=16, num_heads=2, H_layers=0, L_layers=2, expansion=2.0, puzzle_emb_ndim=16,
              puzzle_emb_len=3, rope_theta=10000.0, rms_norm_eps=1e-5, halt_max_steps=4,
              halt_exploration_prob=0.0, no_ACT_continue=True, loss_type="stablemax")
# Attention form: RoPE, T = 3 cycles of n = 2 latent updates; puzzle_emb_ndim 16 = hidden with
# puzzle_emb_len 3: one learned prefix row and two zero rows (the published 1 + 15, shrunk).
ATTN = dict(
    name="attention", arch=dict(COMMON, H_cycles=3, L_cycles=2, pos_encodings="rope", mlp_t=False),
    seed=11, q_bias=(-0.1, 0.2), eval_segments=4, train_steps=3,
    init="trm_init.safetensors", expected="trm_expected.safetensors")
# MLP form: token mixing by a SwiGLU across S = 19 positions (width 256), no position encoding,
# T = 2, n = 3 (the other way round from the attention form, so T and n cannot be swapped), one
# block (its 256-wide token SwiGLU doubles the parameters; tests/golden-trm has two blocks).
MLP = dict(
    name="MLP", arch=dict(COMMON, L_layers=1, H_cycles=2, L_cycles=3, pos_encodings="none", mlp_t=True),
    seed=12, q_bias=(-0.1, 0.2), eval_segments=4, train_steps=3,
    init="trm_mlp_init.safetensors", expected="trm_mlp_expected.safetensors")
MODELS = (ATTN, MLP)

# HRM's training run (make_fixtures.RUN) plus the EMA, at a rate of 0.5 rather than the published
# 0.999 so that 3 steps move it visibly (ema = 0.5 w3 + 0.25 w2 + 0.125 w1 + 0.125 w0).
RUN = dict(MF.RUN, ema=True, ema_rate=0.5)


def config_dict(cfg: T.TRMConfig) -> dict:
    d = {k: getattr(cfg, k) for k in R.CONFIG_KEYS}
    d["expansion"] = float(d["expansion"])
    d.update(arch="trm", puzzle_emb_len=cfg.puzzle_emb_len, mlp_t=bool(cfg.mlp_t),
             no_ACT_continue=bool(cfg.no_ACT_continue))
    assert tuple(d)[len(R.CONFIG_KEYS):] == TRM_EXTRA_KEYS
    return d


def config_json(cfg: T.TRMConfig) -> str:
    return json.dumps(config_dict(cfg))


def fixture_params(cfg: T.TRMConfig, seed: int, q_bias) -> R.Params:
    """The published TRM init (trm_ref.init_params), then make_fixtures.fixture_params's two
    changes: q_head.weight LeCun truncated-normal and q_head.bias = q_bias (halt, continue) instead
    of 0 and -5 (with which no slot ever halts early), and puzzle_emb.weights
    truncnormal(1/sqrt(hidden)) instead of 0 (so the learned prefix row changes the result)."""
    p = T.init_params(cfg, seed)
    g = torch.Generator().manual_seed(seed + 1000)
    R.trunc_normal_(p[R.PREFIX + "q_head.weight"], 1.0 / math.sqrt(cfg.hidden_size), g)
    p[R.PREFIX + "q_head.bias"].copy_(torch.tensor(q_bias))
    R.trunc_normal_(p[R.PUZZLE_EMB], 1.0 / math.sqrt(cfg.hidden_size), g)
    return p


def reset_state(p: R.Params, carry: R.Carry):
    """The (y, z) a supervision step's recursion starts from: H_init / L_init in the halted slots."""
    h = carry.halted.view(-1, 1, 1)
    return torch.where(h, p[R.H_INIT], carry.zH), torch.where(h, p[R.L_INIT], carry.zL)


def restart_carry(y, z, k: int, batch) -> R.Carry:
    """The carry from which evaluation step k (from 0) restarts: the stored (y, z), steps = k,
    no slot halted, the slots' examples = the batch (evaluation keeps them)."""
    B = y.shape[0]
    return R.Carry(y.clone(), z.clone(), torch.full((B,), k, dtype=torch.int32),
                   torch.zeros(B, dtype=torch.bool), {n: v.clone() for n, v in batch.items()})


def eval_step(p, cfg, carry, batch):
    with torch.no_grad():
        new, out = T.act_segment(p, cfg, carry, batch, training=False)
        loss, metrics, extras = R.act_loss(cfg, new, out)
    return new, out, loss, metrics


def eval_tensors(o: dict, steps: list):
    """Adds to o the eval.* tensors of the HRM fixtures, from a list of (new carry, out, loss,
    metrics) per step."""
    f32 = lambda t: t.detach().to(torch.float32)  # noqa: E731
    o["eval.logits"] = torch.stack([f32(s[1].logits) for s in steps])
    o["eval.q_halt"] = torch.stack([f32(s[1].q_halt) for s in steps])
    o["eval.q_continue"] = torch.stack([f32(s[1].q_continue) for s in steps])
    o["eval.halted"] = torch.stack([s[0].halted.to(torch.int32) for s in steps])
    o["eval.predictions"] = steps[-1][1].logits.argmax(-1).to(torch.int32)
    o["eval.loss"] = torch.stack([f32(s[2]) for s in steps])
    for k in ("lm_loss", "q_halt_loss"):
        o[f"eval.{k}"] = torch.stack([f32(s[3][k]) for s in steps])
    for k in MF.METRIC_KEYS:
        o[f"eval.metrics.{k}"] = torch.stack([s[3][k].to(torch.float32) for s in steps])
    return o


def run_eval(p: R.Params, cfg: T.TRMConfig, data_dir: str, model: dict, restart_from=None) -> dict:
    """Evaluation of the parameters p (dtype of p): the first B test examples as one batch, a
    fresh carry, M = eval_segments supervision steps. Records the (y, z) each step's recursion
    starts from (eval.carry_*[k]) and the carry after the last step (eval.carry_*[M]).
    restart_from: (carry_y, carry_z) of an earlier run; step k then restarts from their k-th entry
    (restart_carry) instead of running on its own carry."""
    test = R.load_split(data_dir, "test")
    B, M = RUN["global_batch_size"], model["eval_segments"]
    dtype = p[R.H_INIT].dtype
    idx = np.arange(B) % test["inputs"].shape[0]
    batch = R.collate(test, idx)
    carry = R.initial_carry(cfg, batch, dtype)
    ys, zs, steps, gaps = [], [], [], []
    for k in range(M):
        if restart_from is not None:
            carry = restart_carry(restart_from[0][k].to(dtype), restart_from[1][k].to(dtype), k, batch)
        y, z = reset_state(p, carry)
        ys.append(y)
        zs.append(z)
        s = eval_step(p, cfg, carry, batch)
        steps.append(s)
        carry = s[0]
        gaps.append(MF.top2_gap(s[1].logits, batch["labels"]))
    ys.append(carry.zH)
    zs.append(carry.zL)
    out = {"eval.example_index": torch.from_numpy(idx.astype(np.int32))}
    eval_tensors(out, steps)
    out["eval.carry_y"] = torch.stack(ys).to(torch.float32)
    out["eval.carry_z"] = torch.stack(zs).to(torch.float32)
    return {"tensors": out, "margins": {"eval_logit": gaps}}


def run_train(p: R.Params, cfg: T.TRMConfig, data_dir: str, model: dict) -> dict:
    """K = train_steps reproducible training steps of p (trained in place) with the EMA."""
    train = R.load_split(data_dir, "train")
    B, K = RUN["global_batch_size"], model["train_steps"]
    dtype = p[R.H_INIT].dtype
    f32 = lambda t: t.detach().to(torch.float32)  # noqa: E731
    out, margins = {}, {"q": [], "logit": [], "rules_differ": 0}
    settings = T.TRMTrainSettings(
        global_batch_size=B, lr=RUN["lr"], lr_min_ratio=RUN["lr_min_ratio"],
        lr_warmup_steps=RUN["lr_warmup_steps"], weight_decay=RUN["weight_decay"], beta1=RUN["beta1"],
        beta2=RUN["beta2"], puzzle_emb_lr=RUN["puzzle_emb_lr"],
        puzzle_emb_weight_decay=RUN["puzzle_emb_weight_decay"],
        total_steps=R.total_train_steps(train["meta"], RUN["epochs"], B), seed=RUN["seed"],
        ema=RUN["ema"], ema_rate=RUN["ema_rate"])
    tr = T.TRMTrainer(p, cfg, settings)
    n_train = train["inputs"].shape[0]
    slot_example = np.zeros(B, dtype=np.int64)
    rs = []
    for k in range(K):
        bidx = R.reproducible_batch_indices(n_train, B, k)
        tbatch = R.collate(train, bidx)
        before = tr.carry if tr.carry is not None else R.initial_carry(cfg, tbatch, dtype)
        slot_example = np.where(before.halted.numpy(), bidx, slot_example)
        y_in, z_in = reset_state(p, before)
        r = tr.train_step(tbatch)
        r["batch_index"], r["example_index"] = bidx, slot_example.copy()
        r["carry_in"] = (y_in.detach().clone(), z_in.detach().clone())
        rs.append(r)
        qh, qc = r["out"].q_halt.detach(), r["out"].q_continue.detach()
        margins["q"].append(qh.abs().min().item())
        margins["rules_differ"] += int(((qh > 0) != (qh > qc)).sum())
        margins["logit"].append(MF.top2_gap(r["out"].logits, r["carry"].data["labels"]))
        for n, g in r["grads"].items():
            out[f"grad{k + 1}." + n] = f32(g)
        out[f"grad{k + 1}." + PUZZLE_ROWS] = f32(r["puzzle_grad"])
        out[f"grad{k + 1}." + PUZZLE_IDS] = r["carry"].data["puzzle_identifiers"].clone()
    S = lambda key: torch.stack([key(r) for r in rs])  # noqa: E731
    out["train.batch_index"] = S(lambda r: torch.from_numpy(r["batch_index"].astype(np.int32)))
    out["train.example_index"] = S(lambda r: torch.from_numpy(r["example_index"].astype(np.int32)))
    out["train.inputs"] = S(lambda r: r["carry"].data["inputs"])
    out["train.labels"] = S(lambda r: MF.raw_labels(r["carry"].data["labels"]))
    out["train.puzzle_identifiers"] = S(lambda r: r["carry"].data["puzzle_identifiers"])
    out["train.logits"] = S(lambda r: f32(r["out"].logits))
    out["train.q_halt"] = S(lambda r: f32(r["out"].q_halt))
    out["train.q_continue"] = S(lambda r: f32(r["out"].q_continue))
    out["train.halted"] = S(lambda r: r["carry"].halted.to(torch.int32))
    out["train.steps"] = S(lambda r: r["carry"].steps.to(torch.int32))
    out["train.seq_correct"] = S(lambda r: r["extras"]["seq_correct"].to(torch.int32))
    out["train.loss"] = S(lambda r: f32(r["loss"]))
    for k in ("lm_loss", "q_halt_loss", "q_continue_loss"):
        out[f"train.{k}"] = S(lambda r: f32(r["metrics"][k]))
    for k in MF.METRIC_KEYS:
        out[f"train.metrics.{k}"] = S(lambda r: r["metrics"][k].to(torch.float32))
    out["train.lr"] = torch.tensor([r["lr"] for r in rs], dtype=torch.float32)
    out["train.puzzle_emb_lr"] = torch.tensor([r["lr_e"] for r in rs], dtype=torch.float32)
    out["train.carry_in_y"] = S(lambda r: f32(r["carry_in"][0]))
    out["train.carry_in_z"] = S(lambda r: f32(r["carry_in"][1]))
    out["train.carry_out_y"] = S(lambda r: f32(r["carry"].zH))
    out["train.carry_out_z"] = S(lambda r: f32(r["carry"].zL))
    for n in T.param_shapes(cfg):
        out[f"step{K}.{n}"] = f32(p[n])
    for n in R.adam_names(p):
        out[f"ema{K}.{n}"] = f32(tr.shadow[n])
    return {"tensors": out, "margins": margins, "total_steps": settings.total_steps}


PUZZLE_ROWS = R.PREFIX + "puzzle_emb.rows"
PUZZLE_IDS = R.PREFIX + "puzzle_emb.ids"


# ---------------------------------------------------------------------------------------------
# Tolerances: fp32 against fp64, per group of tensors
# ---------------------------------------------------------------------------------------------
# Error of a tensor: max|fp32 - fp64| / max|fp64| (hrm_ref.nerr), as for the HRM fixtures. The
# bound of a group is 10x the worst error measured in it, rounded up to 1, 2 or 5 x 10^e, and at
# least the group's floor. Evaluation tensors are measured as the C test should compare them:
# step k restarted from the fixture's carry k (fp64 from the fp32 carry, cast); training tensors
# free-running from the init (the engine trains on its own, as for HRM).
def groups_of(K: int):
    g = [("eval logits", lambda n: n == "eval.logits", 1e-5),
         ("eval Q values", lambda n: n in ("eval.q_halt", "eval.q_continue"), 1e-5),
         ("eval carry", lambda n: n.startswith("eval.carry_"), 1e-5),
         ("eval losses", lambda n: n.startswith("eval.") and n.endswith("loss"), 1e-5),
         ("train logits", lambda n: n == "train.logits", 1e-5),
         ("train Q values", lambda n: n in ("train.q_halt", "train.q_continue"), 1e-5),
         ("train carry", lambda n: n.startswith("train.carry_"), 1e-5),
         ("train losses", lambda n: n.startswith("train.") and n.endswith("loss"), 1e-5),
         ("metric sums", lambda n: ".metrics." in n, 1e-5),
         ("learning rates", lambda n: n in ("train.lr", "train.puzzle_emb_lr"), 1e-6)]
    for k in range(1, K + 1):
        g.append((f"gradients at step {k}", lambda n, k=k: n.startswith(f"grad{k}."), 1e-5))
    g.append((f"parameters after step {K}", lambda n: n.startswith(f"step{K}."), 1e-5))
    g.append((f"EMA after step {K}", lambda n: n.startswith(f"ema{K}."), 1e-5))
    return g


def group_of(groups, name: str):
    for g, test, floor in groups:
        if test(name):
            return g, floor
    raise KeyError(f"no tolerance group for {name}")


def ceil125(x: float) -> float:
    """The smallest of 1, 2, 5 x 10^e at or above x (x > 0), as a round decimal."""
    e = math.floor(math.log10(x))
    for m in (1, 2, 5, 10):
        b = float(f"{m}e{e}")
        if b >= x * (1 - 1e-12):
            return b
    raise AssertionError


def bound_of(measured: float, floor: float) -> float:
    return max(floor, ceil125(10 * measured)) if measured > 0 else floor


def per_step(a: torch.Tensor, b: torch.Tensor):
    return [R.nerr(a[k], b[k]) for k in range(a.shape[0])]


def derive(t32: dict, ref: dict, free: dict, K: int):
    """t32: the fixture; ref: fp64 tensors that hrm.tolerances is derived from (evaluation
    restarted from the fixture's carries, training free-running); free: fp64 evaluation on its own
    carry and the same training. Integer tensors must agree exactly with both.
    Returns (hrm.tolerances, hrm.tolerances_free_running, the group summary)."""
    groups = groups_of(K)
    summary = {g: {"worst": 0.0, "name": "-", "floor": f} for g, _, f in groups}
    for n, a in t32.items():
        if not a.is_floating_point():
            assert torch.equal(a, ref[n]) and torch.equal(a, free[n]), f"fp32 and fp64 disagree on {n}"
            continue
        g = summary[group_of(groups, n)[0]]
        e = R.nerr(a, ref[n])
        if e >= g["worst"]:
            g["worst"], g["name"] = e, n
    for g in summary.values():
        g["bound"] = bound_of(g["worst"], g["floor"])
    tol, tol_free = {}, {}
    for n, a in t32.items():
        if a.is_floating_point():
            g, floor = group_of(groups, n)
            tol[n] = summary[g]["bound"]
            if n.startswith("eval."):  # on its own carry: at least the restarted step's bound
                tol_free[n] = [max(tol[n], bound_of(e, floor)) for e in per_step(a, free[n])]
            elif n.startswith("train."):
                tol_free[n] = [bound_of(e, floor) for e in per_step(a, free[n])]
    return tol, tol_free, summary


# ---------------------------------------------------------------------------------------------
# The fixtures, and the generator's own checks
# ---------------------------------------------------------------------------------------------
def make_config(data_dir: str, model: dict) -> T.TRMConfig:
    meta = R.load_split(data_dir, "train")["meta"]
    return T.TRMConfig(vocab_size=meta["vocab_size"], seq_len=meta["seq_len"],
                       num_puzzle_identifiers=meta["num_puzzle_identifiers"], **model["arch"])


def check_invariants(p: R.Params, cfg: T.TRMConfig, data_dir: str, model: dict, e32: dict, tr32: dict):
    """Cheap properties of the fp32 fixture that the C test relies on; AssertionError otherwise."""
    name, K = model["name"], model["train_steps"]
    t = tr32["tensors"]
    # evaluation restarted from the stored carries reproduces the stored run bit for bit
    again = run_eval(R.cast_params(p, torch.float32), cfg, data_dir, model,
                     restart_from=(e32["tensors"]["eval.carry_y"], e32["tensors"]["eval.carry_z"]))
    assert all(torch.equal(v, again["tensors"][n]) for n, v in e32["tensors"].items()), \
        f"{name}: evaluation restarted from eval.carry_* differs from the stored run"
    # the training carry: step k + 1 starts from step k's new carry, or H_init / L_init where halted
    for k in range(K - 1):
        h = t["train.halted"][k].bool().view(-1, 1, 1)
        for c, init in (("y", R.H_INIT), ("z", R.L_INIT)):
            want = torch.where(h, p[init], t[f"train.carry_out_{c}"][k])
            assert torch.equal(t[f"train.carry_in_{c}"][k + 1], want), f"{name}: train.carry_in_{c}[{k + 1}]"
    # the gradient of a T-cycle step is that of a 1-cycle step from the carry of the T - 1 cycles
    # without gradient (trm_ref's self-test, applied to this fixture's model and first batch)
    train = R.load_split(data_dir, "train")
    batch = R.collate(train, R.reproducible_batch_indices(train["inputs"].shape[0], RUN["global_batch_size"], 0))
    p32 = R.cast_params(p, torch.float32)
    y, z = T._start(p32, cfg, RUN["global_batch_size"])
    gT, _ = T.saved_bytes(p32, cfg, y, z, batch)
    y1, z1 = T._no_grad_prefix(p32, cfg, y, z, batch)
    g1, _ = T.saved_bytes(p32, T.TRMConfig(**dict(asdict(cfg), H_cycles=1)), y1, z1, batch)
    assert all(torch.equal(gT[n], g1[n]) for n in gT), f"{name}: T-cycle gradient != last-cycle gradient"
    # q_continue is computed and used by nothing: no continue loss, zero gradient on its row
    assert not t["train.q_continue_loss"].any(), f"{name}: a continue loss"
    for k in range(1, K + 1):
        assert not t[f"grad{k}.{R.PREFIX}q_head.weight"][1].any() and float(t[f"grad{k}.{R.PREFIX}q_head.bias"][1]) == 0
    # the EMA moved visibly away from both the init and the trained weights
    for n in R.adam_names(p):
        ema = t[f"ema{K}.{n}"]
        assert R.nerr(ema, t[f"step{K}.{n}"]) > 1e-4 and R.nerr(ema, p[n]) > 1e-4, f"{name}: EMA of {n} did not move"


def check_coverage(e32: dict, tr32: dict, name: str):
    """Fail loudly if a fixture stops exercising what it is meant to (make_fixtures.check_coverage,
    with TRM's halting rule)."""
    halted = tr32["tensors"]["train.halted"]
    early = halted[:-1].sum().item()
    m = tr32["margins"]
    assert 0 < early < halted[:-1].numel(), f"{name}: no mix of halted and running slots"
    assert m["rules_differ"] > 0, f"{name}: q_halt > 0 and q_halt > q_continue never disagree"
    assert min(m["q"]) > 1e-2, f"{name}: a halting decision (q_halt against 0) is too close to call"
    assert min(m["logit"]) > 1e-4, f"{name}: an argmax in training is too close to call"
    assert e32["margins"]["eval_logit"][-1] > 1e-4, f"{name}: an argmax of eval.predictions is too close to call"


def make_model(out_dir: str, data_dir: str, model: dict) -> dict:
    cfg = make_config(data_dir, model)
    p = fixture_params(cfg, model["seed"], model["q_bias"])
    meta_cfg = {"hrm.config": config_json(cfg)}
    R.save_safetensors(os.path.join(out_dir, model["init"]), {n: p[n] for n in T.param_shapes(cfg)}, meta_cfg)
    p32, p64 = R.cast_params(p, torch.float32), R.cast_params(p, torch.float64)
    e32 = run_eval(p32, cfg, data_dir, model)
    carries = (e32["tensors"]["eval.carry_y"], e32["tensors"]["eval.carry_z"])
    e64_restart = run_eval(p64, cfg, data_dir, model, restart_from=carries)
    e64_free = run_eval(p64, cfg, data_dir, model)
    tr32 = run_train(R.cast_params(p, torch.float32), cfg, data_dir, model)
    tr64 = run_train(p64, cfg, data_dir, model)
    check_invariants(p, cfg, data_dir, model, e32, tr32)
    check_coverage(e32, tr32, model["name"])

    t32 = dict(e32["tensors"], **tr32["tensors"])
    ref = dict(e64_restart["tensors"], **tr64["tensors"])
    free = dict(e64_free["tensors"], **tr64["tensors"])
    tol, tol_free, summary = derive(t32, ref, free, model["train_steps"])
    K = model["train_steps"]
    run_meta = dict(RUN, loss_type=cfg.loss_type, total_steps=tr32["total_steps"], train_steps=K,
                    eval_segments=model["eval_segments"], eval_split="test", train_split="train",
                    init=model["init"], data="data")
    R.save_safetensors(os.path.join(out_dir, model["expected"]), t32,
                       dict(meta_cfg, **{"hrm.run": json.dumps(run_meta), "hrm.tolerances": json.dumps(tol),
                                         "hrm.tolerances_free_running": json.dumps(tol_free)}))
    pe = [n for n in t32 if n.startswith(f"step{K}.")]
    stats = {
        "param_err_lr": max((t32[n].double() - free[n].double()).abs().max().item() for n in pe) / RUN["lr"],
        "free": {n: per_step(t32[n], free[n]) for n in ("eval.logits", "eval.q_halt", "eval.carry_y", "eval.carry_z")},
        "train": {n: per_step(t32[n], free[n]) for n in ("train.logits", "train.q_halt", "train.carry_out_y")},
        "q": min(tr32["margins"]["q"]), "logit": min(tr32["margins"]["logit"]),
        "eval_logit": e32["margins"]["eval_logit"][-1], "rules_differ": tr32["margins"]["rules_differ"],
        "halted": t32["train.halted"].tolist(),
    }
    return {"model": model, "cfg": cfg, "tensors": t32, "tol": tol, "tol_free": tol_free, "summary": summary,
            "stats": stats, "run_meta": run_meta, "config_json": meta_cfg["hrm.config"]}


def make_all(out_dir: str, data_dir: str) -> list:
    """Write every TRM fixture into out_dir; returns what readme_section and report need."""
    return [make_model(out_dir, data_dir, m) for m in MODELS]


def report(results: list):
    for r in results:
        name = r["model"]["name"]
        for g, s in r["summary"].items():
            print(f"  trm {name:9s} {g:26s} fp32 vs fp64 {s['worst']:.1e}  (bound {s['bound']:.0e}) {s['name']}")
        st = r["stats"]
        print(f"  trm {name:9s} eval logits on its own carry, per step: "
              f"{', '.join(f'{e:.1e}' for e in st['free']['eval.logits'])}; train logits per step: "
              f"{', '.join(f'{e:.1e}' for e in st['train']['train.logits'])}")


if __name__ == "__main__":
    sys.exit(MF.main())


# ---------------------------------------------------------------------------------------------
# README.md, section TRM (make_fixtures.write_readme puts it in)
# ---------------------------------------------------------------------------------------------
def fmt_cfg(cfg: T.TRMConfig) -> str:
    return ", ".join(f"{k} {v}" for k, v in config_dict(cfg).items()) + f"; loss {cfg.loss_type}"


def fmt_errs(errs) -> str:
    return ", ".join(f"{e:.1e}" for e in errs)


def readme_section(results: list) -> str:
    a, m = results
    ta, tm = a["tensors"], m["tensors"]
    K, M = a["model"]["train_steps"], a["model"]["eval_segments"]
    assert (K, M) == (m["model"]["train_steps"], m["model"]["eval_segments"])
    cfg_a, cfg_m = a["cfg"], m["cfg"]
    names_a = "\n".join(f"  - `{n}` {list(s)}" for n, s in T.param_shapes(cfg_a).items())
    names_m = "\n".join(f"  - `{n}` {list(s)}" for n, s in T.param_shapes(cfg_m).items()
                        if n not in T.param_shapes(cfg_a))
    tables = []
    for r in results:
        st = r["stats"]
        rows = [f"{r['model']['init']} / {r['model']['expected']} ({r['model']['name']} form):", "",
                "| group | bound | measured fp32 vs fp64 | worst tensor |", "|---|---|---|---|"]
        for g, s in r["summary"].items():
            rows.append(f"| {g} | {s['bound']:.0e} | {s['worst']:.1e} | {s['name']} |")
        free = r["tol_free"]
        rows += ["", "Free-running, per step (measured; `hrm.tolerances_free_running` bound):", "",
                 "| tensor | measured per step | bound per step |", "|---|---|---|"]
        for n in ("eval.logits", "eval.q_halt", "eval.carry_y", "eval.carry_z"):
            rows.append(f"| {n} | {fmt_errs(st['free'][n])} | {', '.join(f'{b:.0e}' for b in free[n])} |")
        for n in ("train.logits", "train.q_halt", "train.carry_out_y"):
            rows.append(f"| {n} | {fmt_errs(st['train'][n])} | {', '.join(f'{b:.0e}' for b in free[n])} |")
        rows += ["", f"Parameters after the steps: max abs error {st['param_err_lr']:.1e} x lr. Training "
                 f"halted after each step: {st['halted']}. Decision margins: smallest |q_halt| in training "
                 f"{st['q']:.3f} (slots where q_halt > 0 and HRM's q_halt > q_continue disagree: "
                 f"{st['rules_differ']}), smallest top-2 logit gap at a valid position {st['logit']:.1e} in "
                 f"training, {st['eval_logit']:.1e} in eval.predictions."]
        tables.append("\n".join(rows))
    growth = [b / a_ for a_, b in zip(m["stats"]["free"]["eval.logits"], m["stats"]["free"]["eval.logits"][1:])]
    return TRM_README.format(
        cfg_a=fmt_cfg(cfg_a), cfg_m=fmt_cfg(cfg_m), S=cfg_a.full_seq, It=cfg_m.inter_t, I=cfg_a.inter,
        q_bias=a["model"]["q_bias"], q_bias_m=m["model"]["q_bias"], json_a=a["config_json"],
        json_m=m["config_json"], run=json.dumps(RUN), names_a=names_a, names_m=names_m, K=K, M=M,
        M1=M + 1, mu=RUN["ema_rate"], tables="\n\n".join(tables),
        growth=", ".join(f"{g:.1f}x" for g in growth), n_a=len(ta), n_m=len(tm))


TRM_README = """## TRM fixtures

Made by reference/make_trm_fixtures.py, which the command above runs, from reference/trm_ref.py,
the fp32 reference of the published TRM (docs/TRM.md; `/usr/bin/python3 reference/trm_ref.py
--selftest`). Same dataset, evaluation batch and reproducible training as the HRM fixtures, in
the same layout; what differs is below. (tests/golden-trm, from reference/make_trm_golden.py,
pins one supervision step of the network under a given upstream gradient; these files pin the
whole of TRM: ACT halting, the loss, the optimizers, the EMA.)

- `trm_init.safetensors`: the attention form: {cfg_a}. S = 16 + 3 = {S}; puzzle_emb_ndim 16 =
  hidden with puzzle_emb_len 3 gives one learned prefix row and two zero rows (the published
  1 + 15, shrunk); channel SwiGLU width {I}.
- `trm_mlp_init.safetensors`: the MLP form: {cfg_m}. Token SwiGLU width It = {It} (round(2 x 19 x
  2/3) = 25, up to a multiple of 256), channel width {I}; one block, because the token SwiGLU
  doubles the parameters (tests/golden-trm's MLP model has two). T and n are swapped between the
  two forms (attention T 3, n 2; MLP T 2, n 3).
- Both inits are the published TRM initialisation (trm_ref.init_params; H_layers 0, no H_level)
  with the HRM fixtures' two changes: q_head.weight LeCun truncated-normal and q_head.bias (halt,
  continue) = {q_bias} instead of 0 and -5 (with which no slot halts early), and
  puzzle_emb.weights truncnormal(1/sqrt(hidden)) instead of 0. The continue bias above the halt
  bias makes TRM's halting rule (q_halt > 0) and HRM's (q_halt > q_continue) disagree on some
  training slots (counted below; the generator requires at least one).
- Metadata `hrm.config`: HRM's 16 keys in their order, then "arch": "trm", "puzzle_emb_len",
  "mlp_t", "no_ACT_continue" (JSON booleans). Attention form:
  `{json_a}`;
  MLP form: `{json_m}`.
- Tensors of the init files, float32, in this order (attention form):
{names_a}

  The MLP form has no self_attn tensors and, per block, instead:
{names_m}
- `trm_expected.safetensors`, `trm_mlp_expected.safetensors`: what the reference computes.
  Metadata: `hrm.config` (as the init); `hrm.run`: {run} plus loss_type, total_steps, train_steps,
  eval_segments, eval_split, train_split, init, data (HRM's run plus "ema": true and "ema_rate"
  {mu}: a small rate so that {K} steps move the EMA visibly); `hrm.tolerances` {{tensor name:
  bound}} for every float tensor; `hrm.tolerances_free_running` {{tensor name: [bound per step]}}
  for every float eval.* and train.* tensor (below).

### Tensors in the TRM expected files
B = 6, L = 16, V = 11, D = 16, S = 19, M = {M} evaluation steps, K = {K} training steps; y is the
answer state (published z_H, the carry's zH), z the latent (z_L, zL). Dtypes: F32, and I32 for
flags, ids and indices. {n_a} tensors in the attention file, {n_m} in the MLP file.

Evaluation, of the init weights (the EMA equals them before any step), as the HRM fixtures': the
HRM names `eval.example_index` [B], `eval.logits` [M, B, L, V], `eval.q_halt`,
`eval.q_continue`, `eval.halted` [M, B], `eval.predictions` [B, L], `eval.loss`, `eval.lm_loss`,
`eval.q_halt_loss` [M], `eval.metrics.{{count,accuracy,exact_accuracy,q_halt_accuracy,steps}}` [M];
and
- `eval.carry_y`, `eval.carry_z` [M + 1, B, S, D] = [{M1}, 6, 19, 16]: entry k < M is the (y, z) that
  step k's recursion starts from (entry 0: H_init and L_init broadcast, the fresh carry after its
  reset), entry M the carry after the last step.
- Compare evaluation step by step: step k restarted from the carry (y, z) = (eval.carry_y[k],
  eval.carry_z[k]), steps = k, no slot halted, the slots' examples = the batch, gives
  eval.logits[k], q_halt[k], q_continue[k], halted[k], the losses and metrics [k], and the carry
  entries k + 1 (and eval.predictions at k = M - 1); the generator checks that this restart
  reproduces every stored eval tensor bit for bit. `hrm.tolerances` bounds this comparison. An
  engine that runs the M steps on its own carry instead should use the per-step bounds of
  `hrm.tolerances_free_running` (the MLP form amplifies rounding from step to step, docs/TRM.md
  "Precision").

Training, reproducible mode as the HRM fixtures' (file-order batches, exploration off, the ACT
carry kept across steps, one supervision step and one optimizer step per training step, then the
EMA update):
- The HRM names `train.batch_index`, `train.example_index` [K, B], `train.inputs`,
  `train.labels` [K, B, L], `train.puzzle_identifiers` [K, B], `train.logits` [K, B, L, V],
  `train.q_halt`, `train.q_continue`, `train.halted`, `train.steps`, `train.seq_correct` [K, B],
  `train.loss`, `train.lm_loss`, `train.q_halt_loss`, `train.q_continue_loss` [K],
  `train.metrics.*` [K], `train.lr`, `train.puzzle_emb_lr` [K]. No `train.target_q_continue`
  (no_ACT_continue: no second forward); `train.q_continue_loss` is 0 and train.loss = lm_loss +
  0.5 q_halt_loss. Halting in training: q_halt > 0, or steps >= halt_max_steps.
- `train.carry_in_y`, `train.carry_in_z` [K, B, S, D]: the (y, z) each step's recursion starts
  from (H_init / L_init in the slots reset at the start of the step); `train.carry_out_y`,
  `train.carry_out_z` [K, B, S, D]: the new carry (before the next step's reset). The generator
  checks carry_in[k + 1] = carry_out[k], or H_init / L_init where train.halted[k].
- `grad{{k}}.<parameter name>` for k = 1..K and every AdamATan2 tensor (the published names of the
  init file but puzzle_emb.weights, H_init, L_init): the gradient of training step k (of
  loss / global_batch_size, as for HRM). Row 1 of q_head.weight and element 1 of q_head.bias
  get exactly 0 (q_continue feeds nothing; checked). `grad{{k}}.model.inner.puzzle_emb.rows`
  [B, 16], `grad{{k}}.model.inner.puzzle_emb.ids` [B] as HRM's.
- `step{K}.<parameter name>`: every tensor of the init file after the K steps (puzzle_emb.weights
  after SignSGD on the batches' rows; H_init and L_init unchanged).
- `ema{K}.<parameter name>` for every AdamATan2 tensor: the EMA after the K steps (docs/TRM.md
  "EMA"): registered as the init weights, then after each optimizer step s = (1 - mu) w + mu s in
  fp32 with mu = {mu}, i.e. ema{K} = 0.5 w3 + 0.25 w2 + 0.125 w1 + 0.125 w0 up to rounding. No EMA
  of the puzzle embedding, H_init, L_init (buffers). The generator checks it moved away from both
  the init and step{K}.

### TRM tolerances
make_trm_fixtures.py reruns everything in float64 from the same fp32 initial weights. Evaluation
is measured as it should be compared: each fp64 step restarted from the fp32 carry k (cast); the
free-running bounds from an fp64 evaluation on its own carry. Training is measured free-running
(the fp64 run trains on its own). Error = max|fp32 - fp64| / max|fp64| per tensor (per step for
the free-running bounds: over entry k of the first axis, normalised by that entry). Each group's
bound is 10x the worst error measured in it, rounded up to 1, 2 or 5 x 10^e, and at least 1e-5
(learning rates 1e-6); a free-running evaluation bound is at least the restarted one. Every
integer tensor agrees exactly, restarted and free-running. Compare integer tensors exactly.

{tables}

The MLP form here (one block) grows the free-running evaluation error by {growth} from step to
step; docs/TRM.md "Precision" measured about 15x per step in trm_ref's two-block tiny model and
30x at the published Sudoku size, where only the restarted comparison is meaningful beyond the
first steps. Training has no restart (the weights change every step): its bounds are for the
engine's own 3-step run, the per-step ones in `hrm.tolerances_free_running`.
"""
