#!/usr/bin/env python3
"""reference/make_trm_golden.py - golden fixtures of one TRM supervision step, from trm_ref.py.

    /usr/bin/python3 reference/make_trm_golden.py [--out tests/golden-trm]

Writes, for the attention form and the MLP form of a tiny TRM (trm_ref._tiny_cfg: hidden 16,
2 heads, 2 layers, T 2, n 2, 3 prefix rows, seq_len 12, vocab 11; perturbed published init:
trm_ref._perturbed), one safetensors file each (attn.safetensors, mlp.safetensors) and a README:

    params                     every tensor of the model under its published name (float32)
    inputs [B, L] i32, puzzle_identifiers [B] i32            B = 3
    carry_y, carry_z [K, B, S, D]     the carry entering step k; K = 4 steps, each step started
                                      from the reference's own carry (docs/TRM.md "Precision":
                                      the MLP form amplifies rounding across free-running steps)
    out_y, out_z [K, B, S, D], logits [K, B, L, V], q_halt, q_continue [K, B]
    d_logits [B, L, V], d_q [B, 2]    an upstream gradient for step 0 (random)
    grad.<name>                       d(sum(logits0 * d_logits) + sum(q0 * d_q)) / d(name) for
                                      every AdamATan2 tensor, through the whole step (T - 1
                                      cycles without gradient, the last through its n + 1 calls)
    grad_puzzle_rows [B, puzzle_emb_ndim]   the same per slot's puzzle-embedding row

Metadata: hrm.config (the engine's stored config JSON, "arch": "trm") and hrm.tolerances, a
bound per tensor, relative to the tensor's RMS, from this file's fp32 run against an fp64 run of
the same step (10x margin, at least 1e-5). The engine's test (tests/test_golden.c golden_trm) runs
each step from carry k on every backend and compares. The loss and the ACT loop are HRM's,
already covered by the HRM fixtures; this file pins the TRM network, its schedule and its
gradient."""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hrm_ref as R  # noqa: E402
import trm_ref as T  # noqa: E402

B, K = 3, 4


def config_json(cfg: T.TRMConfig) -> str:
    """The engine's hrm.config for a TRM: HRM's 16 keys, then TRM's four."""
    keys = ["hidden_size", "num_heads", "H_layers", "L_layers", "H_cycles", "L_cycles", "expansion",
            "puzzle_emb_ndim", "pos_encodings", "rope_theta", "rms_norm_eps", "halt_max_steps",
            "halt_exploration_prob", "vocab_size", "seq_len", "num_puzzle_identifiers"]
    d = {k: getattr(cfg, k) for k in keys}
    d["expansion"] = float(d["expansion"])
    d.update({"arch": "trm", "puzzle_emb_len": cfg.puzzle_emb_len, "mlp_t": bool(cfg.mlp_t),
              "no_ACT_continue": bool(cfg.no_ACT_continue)})
    return json.dumps(d, separators=(",", ":"))


def step(p, cfg, y, z, batch, d_logits=None, d_q=None):
    """One supervision step from (y, z); with an upstream gradient, also the gradients."""
    rows = None
    if cfg.puzzle_emb_ndim:
        rows = p[R.PUZZLE_EMB][batch["puzzle_identifiers"].long()].clone().requires_grad_(d_logits is not None)
    q = {n: t.detach().clone().requires_grad_(d_logits is not None) for n, t in p.items()}
    y2, z2, logits, qh, qc = T.inner_forward(q, cfg, y, z, batch["inputs"], rows)
    grads = None
    if d_logits is not None:
        obj = (logits * d_logits).sum() + (qh * d_q[:, 0]).sum() + (qc * d_q[:, 1]).sum()
        obj.backward()
        grads = {n: q[n].grad for n in R.adam_names(q)}
        grads["puzzle_rows"] = rows.grad if rows is not None else None
    return y2, z2, logits.detach(), qh.detach(), qc.detach(), grads


def run(cfg, dtype, seed):
    p = R.cast_params(T._perturbed(cfg, seed), dtype)
    batch = T._tiny_batch(cfg, B, seed + 10)
    g = torch.Generator().manual_seed(seed + 20)
    S, D = cfg.full_seq, cfg.hidden_size
    y = torch.randn(B, S, D, generator=g).to(dtype)
    z = torch.randn(B, S, D, generator=g).to(dtype)
    d_logits = torch.randn(B, cfg.seq_len, cfg.vocab_size, generator=g).to(dtype)
    d_q = torch.randn(B, 2, generator=g).to(dtype)
    out = {"carry_y": [], "carry_z": [], "out_y": [], "out_z": [], "logits": [], "q_halt": [], "q_continue": []}
    grads = None
    for k in range(K):
        out["carry_y"].append(y)
        out["carry_z"].append(z)
        y2, z2, lg, qh, qc, gr = step(p, cfg, y, z, batch, d_logits if k == 0 else None, d_q)
        if k == 0:
            grads = gr
        for n, v in (("out_y", y2), ("out_z", z2), ("logits", lg), ("q_halt", qh), ("q_continue", qc)):
            out[n].append(v)
        y, z = y2, z2
    return p, batch, {n: torch.stack(v) for n, v in out.items()}, d_logits, d_q, grads


def rms(t):
    return float(t.double().pow(2).mean().sqrt())


def fixture(cfg, seed):
    p, batch, out, d_logits, d_q, grads = run(cfg, torch.float32, seed)
    tensors, tol = {}, {}

    def put(name, t, t64=None):
        tensors[name] = t.to(torch.float32) if t.is_floating_point() else t
        if t64 is not None:
            err = float((t.double() - t64).abs().max()) / max(rms(t64), 1e-30)
            tol[name] = max(10 * err, 1e-5)

    for n in T.param_shapes(cfg):
        put("param." + n, p[n])
    put("inputs", batch["inputs"])
    put("puzzle_identifiers", batch["puzzle_identifiers"])
    put("d_logits", d_logits)
    put("d_q", d_q)
    # every step restarts from the fp32 reference's carry: compare the step, not the drift
    for n in ("carry_y", "carry_z"):
        put(n, out[n])
    p64s = {n: t.double() for n, t in p.items()}
    step64 = [step(p64s, cfg, out["carry_y"][k].double(), out["carry_z"][k].double(), batch,
                   d_logits.double() if k == 0 else None, d_q.double()) for k in range(K)]
    for i, n in enumerate(("out_y", "out_z", "logits", "q_halt", "q_continue")):
        put(n, out[n], torch.stack([s[i] for s in step64]))
    g64 = step64[0][5]
    for n, gt in grads.items():
        if gt is not None:
            put("grad." + n if n != "puzzle_rows" else "grad_puzzle_rows", gt, g64[n])
    meta = {"hrm.config": config_json(cfg), "hrm.tolerances": json.dumps(tol, separators=(",", ":"), sort_keys=True)}
    return tensors, meta, tol


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                                  "golden-trm"))
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(0)
    forms = {"attn": T._tiny_cfg(H_cycles=2, L_cycles=2),
             "mlp": T._tiny_cfg(H_cycles=2, L_cycles=2, mlp_t=True, pos_encodings="none")}
    lines = ["# Golden fixtures of one TRM supervision step", "",
             "Made by `/usr/bin/python3 reference/make_trm_golden.py` (reference/trm_ref.py, fp32, checked",
             "bitwise against the published code by reference/trm_vs_published.py); its docstring lists the",
             "tensors. Do not edit by hand.", "", "| file | form | config | worst tolerance |", "|---|---|---|---|"]
    for name, cfg in forms.items():
        tensors, meta, tol = fixture(cfg, 7)
        path = os.path.join(a.out, name + ".safetensors")
        R.save_safetensors(path, tensors, meta)
        lines.append(f"| {name}.safetensors | {'MLP' if cfg.mlp_t else 'attention'} | `{meta['hrm.config']}` | "
                     f"{max(tol.values()):.1e} |")
    with open(os.path.join(a.out, "README.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
