#!/usr/bin/python3
"""trm_vs_published.py - check trm_ref.py against the published TRM code itself.

    /usr/bin/python3 reference/trm_vs_published.py --published DIR
    /usr/bin/python3 reference/trm_vs_published.py --git-dir GITDIR    (a bare clone; HEAD is used)

DIR is a checkout of github.com/SamsungSAILMontreal/TinyRecursiveModels (checked at commit
e7b6871). The published modules (models/recursive_reasoning/trm.py, models/layers.py,
models/losses.py, models/sparse_embedding.py, models/ema.py, models/common.py) are imported
unchanged, with shims for what this machine's torch 1.13 and Python lack: pydantic.BaseModel
(field defaults only), einops.rearrange (the two patterns layers.py uses), torch.nn.Buffer
(torch >= 2.5: registers a buffer), torch.nn.functional.scaled_dot_product_attention
(torch >= 2.0: non-causal softmax(q k^T / sqrt(d)) v), torch.optim.optimizer.ParamsT and
@torch.no_grad without parentheses.

For the attention form (RoPE), the MLP form and learned positions, from the same fp32 weights
(trm_ref.init_params with a nonzero Q head and puzzle embedding; batch 8, halt_max_steps 4,
halt_exploration_prob 0.3, so that some slots halt early and some explore) it runs 4
training-mode and 4 evaluation-mode supervision steps of the published
ACTLossHead(TinyRecursiveReasoningModel_ACTV1) with forward_dtype float32, and trm_ref's
act_segment + act_loss from the same carry at each step (the published carry handed over, so
rounding cannot compound across steps; the exploration draws from generators seeded alike), and
compares logits, q_halt, q_continue, the new carry, halted/steps, the metrics, the loss and every
gradient (including the puzzle embedding's local_weights); then EMAHelper against trm_ref.ema_update, and checks
that the three settings docs/TRM.md "Surprises" says fail do fail. Exits 1 on a difference above
the tolerance. Not run by the test suite (needs the published code). Result at e7b6871 on this
machine's CPU: every quantity bitwise equal.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import types

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hrm_ref as R  # noqa: E402
import trm_ref as T  # noqa: E402

FILES = ("models/__init__.py", "models/common.py", "models/layers.py", "models/losses.py",
         "models/sparse_embedding.py", "models/ema.py", "models/recursive_reasoning/trm.py")


def install_shims():
    # pydantic.BaseModel: keyword construction with class defaults, like the published config uses
    pyd = types.ModuleType("pydantic")

    class BaseModel:
        def __init__(self, **kw):
            names = {}
            for klass in reversed(type(self).__mro__):
                names.update(getattr(klass, "__annotations__", {}))
            for n in names:
                if n in kw:
                    setattr(self, n, kw.pop(n))
                elif hasattr(type(self), n):
                    setattr(self, n, getattr(type(self), n))
                else:
                    raise TypeError(f"missing config field {n}")
            # extra keys are ignored, as pydantic does by default
    pyd.BaseModel = BaseModel
    sys.modules["pydantic"] = pyd

    ein = types.ModuleType("einops")

    def rearrange(t, pattern):
        if pattern.replace(" ", "") in ("BSHD->BHSD", "BHSD->BSHD"):
            return t.transpose(1, 2)
        raise NotImplementedError(pattern)
    ein.rearrange = rearrange
    sys.modules["einops"] = ein

    def Buffer(data, persistent=True):
        data._shim_buffer = persistent
        return data
    torch.nn.Buffer = Buffer
    orig_setattr = torch.nn.Module.__setattr__

    def setattr_(self, name, value):
        if isinstance(value, torch.Tensor) and hasattr(value, "_shim_buffer"):
            self.register_buffer(name, value, persistent=value._shim_buffer)
        else:
            orig_setattr(self, name, value)
    torch.nn.Module.__setattr__ = setattr_

    def sdpa(query, key, value, is_causal=False):
        assert not is_causal
        att = torch.softmax((query @ key.transpose(-2, -1)) * (query.shape[-1] ** -0.5), dim=-1)
        # laid out [B, S, H, D] in memory, as torch 2's fused kernels return it (layers.py
        # views the rearranged output without .contiguous())
        return (att @ value).transpose(1, 2).contiguous().transpose(1, 2)
    F.scaled_dot_product_attention = sdpa
    import torch.optim.optimizer as opt
    opt.ParamsT = object

    # torch >= 2.?: @torch.no_grad without parentheses (sparse_embedding.py)
    orig_no_grad = torch.no_grad

    class no_grad(orig_no_grad):
        def __new__(cls, func=None):
            if callable(func):
                return orig_no_grad()(func)
            return super().__new__(cls)

        def __init__(self, func=None):
            super().__init__()
    torch.no_grad = no_grad


def published_tree(args) -> str:
    if args.published:
        return args.published
    d = tempfile.mkdtemp(prefix="trm-published-")
    for f in FILES:
        os.makedirs(os.path.join(d, os.path.dirname(f)), exist_ok=True)
        if f.endswith("__init__.py"):
            open(os.path.join(d, f), "w").close()
            continue
        src = subprocess.run(["git", "--git-dir", args.git_dir, "show", "HEAD:" + f],
                             check=True, capture_output=True).stdout
        with open(os.path.join(d, f), "wb") as fh:
            fh.write(src)
    return d


def compare(form: str, kw: dict, tol: float) -> bool:
    from models.recursive_reasoning.trm import TinyRecursiveReasoningModel_ACTV1
    from models.losses import ACTLossHead
    from models.ema import EMAHelper

    B = 8
    cfg = T._tiny_cfg(halt_max_steps=4, halt_exploration_prob=0.3, **kw)
    p = T._perturbed(cfg, 3)
    p[T.PREFIX + "q_head.bias"].copy_(torch.tensor([0.05, 0.3]))  # some slots halt early
    model_cfg = dict(batch_size=B, seq_len=cfg.seq_len, puzzle_emb_ndim=cfg.puzzle_emb_ndim,
                     num_puzzle_identifiers=cfg.num_puzzle_identifiers, vocab_size=cfg.vocab_size,
                     H_cycles=cfg.H_cycles, L_cycles=cfg.L_cycles, H_layers=0, L_layers=cfg.L_layers,
                     hidden_size=cfg.hidden_size, expansion=cfg.expansion, num_heads=cfg.num_heads,
                     pos_encodings=cfg.pos_encodings, rms_norm_eps=cfg.rms_norm_eps,
                     rope_theta=cfg.rope_theta, halt_max_steps=cfg.halt_max_steps,
                     halt_exploration_prob=cfg.halt_exploration_prob, forward_dtype="float32",
                     mlp_t=cfg.mlp_t, puzzle_emb_len=cfg.puzzle_emb_len, no_ACT_continue=True)
    head = ACTLossHead(TinyRecursiveReasoningModel_ACTV1(model_cfg),
                       loss_type="stablemax_cross_entropy" if cfg.loss_type == "stablemax" else "softmax_cross_entropy")
    sd = head.state_dict()
    names_ok = set(sd) == set(T.param_shapes(cfg)) and all(
        tuple(sd[n].shape) == T.param_shapes(cfg)[n] for n in sd)
    head.load_state_dict({n: p[n] for n in sd})
    ok = names_ok
    print(("ok    " if names_ok else "FAIL  ") + f"{form}: published state_dict names and shapes == trm_ref.param_shapes")

    batches = [T._tiny_batch(cfg, B, 20 + k) for k in range(4)]
    for training in (True, False):
        head.train(training)
        carry = head.initial_carry(dict(batches[0], puzzle_identifiers=batches[0]["puzzle_identifiers"].long()))
        worst, halts = {}, []
        for k in range(4):
            batch = batches[k] if training else batches[0]
            mine_in = R.Carry(carry.inner_carry.z_H.clone(), carry.inner_carry.z_L.clone(),
                              carry.steps.clone(), carry.halted.clone(),
                              {n: v.to(torch.int32) for n, v in carry.current_data.items()})
            if k == 0:  # the published empty carry is never read: all slots start halted
                mine_in.zH.zero_()
                mine_in.zL.zero_()
                mine_in.data = {n: torch.zeros_like(v) for n, v in batch.items()}
            head.zero_grad()
            emb = head.model.inner.puzzle_emb
            if emb.local_weights.grad is not None:
                emb.local_weights.grad = None
            # torch 1.13 indexes only with int64 (the published code indexes with the int32 ids)
            pub_batch = dict(batch, puzzle_identifiers=batch["puzzle_identifiers"].long())
            torch.manual_seed(100 + k)  # the published exploration draws from torch's global generator
            carry, loss, metrics, outs, _ = head(carry=carry, batch=pub_batch,
                                                 return_keys=["logits", "q_halt_logits", "q_continue_logits"])
            if training:
                loss.backward()

            q = {n: t.clone() for n, t in p.items()}
            leaves = {n: q[n].requires_grad_(True) for n in R.adam_names(q)} if training else {}
            mc, mo = T.act_segment(q, cfg, mine_in, batch, training=training,
                                   gen=torch.Generator().manual_seed(100 + k))
            mloss, mmetrics, _ = R.act_loss(cfg, mc, mo)
            pairs = {"logits": (mo.logits, outs["logits"]), "q_halt": (mo.q_halt, outs["q_halt_logits"]),
                     "q_continue": (mo.q_continue, outs["q_continue_logits"]),
                     "carry y": (mc.zH, carry.inner_carry.z_H), "carry z": (mc.zL, carry.inner_carry.z_L),
                     "loss": (mloss.detach(), loss.detach())}
            if training:
                names = list(leaves)
                g = torch.autograd.grad(mloss, [leaves[n] for n in names] + [mo.puzzle_rows])
                named = dict(head.named_parameters())
                for n, gi in zip(names, g[:-1]):
                    pairs["grad " + n.split("model.inner.")[1]] = (gi, named[n].grad)
                pairs["grad puzzle rows"] = (g[-1], emb.local_weights.grad)
            for what, (a, b) in pairs.items():
                worst[what] = max(worst.get(what, 0.0), R.nerr(a.detach(), b.detach()))
            halts.append(int(carry.halted.sum()))
            same = torch.equal(mc.halted, carry.halted) and torch.equal(mc.steps, carry.steps)
            ok &= same
            if not same:
                print(f"FAIL  {form}: step {k}: halted/steps differ")
            for m in ("count", "exact_accuracy", "q_halt_accuracy", "steps"):
                if float(mmetrics[m]) != float(metrics[m]):
                    ok = False
                    print(f"FAIL  {form}: step {k}: metric {m} {float(mmetrics[m])} vs {float(metrics[m])}")
        bad = {w: e for w, e in worst.items() if not e <= tol}
        ok &= not bad
        mode = "training" if training else "evaluation"
        top = sorted(worst.items(), key=lambda kv: -kv[1])[:3]
        print(("ok    " if not bad else "FAIL  ") + f"{form}: 4 {mode} steps, {len(worst)} quantities "
              f"within {tol:.0e}, halted slots per step {halts} (worst: "
              + ", ".join(f"{w} {e:.1e}" for w, e in top) + ")"
              + (f"; over: {sorted(bad)}" if bad else ""))

    if form == "attention":
        ok &= published_failures(model_cfg, B)

    # EMA: the published helper against trm_ref.ema_update over 3 updates of moving weights.
    helper = EMAHelper(mu=0.999)
    helper.register(head)
    shadow = T.ema_register(p)
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        with torch.no_grad():
            for n, t in head.named_parameters():
                t.add_(torch.randn(t.shape, generator=g) * 0.01)
        helper.update(head)
        T.ema_update(shadow, {n: t.detach() for n, t in head.named_parameters()}, 0.999)
    same = set(helper.shadow) == set(shadow) and all(torch.equal(helper.shadow[n], shadow[n]) for n in shadow)
    ok &= same
    print(("ok    " if same else "FAIL  ") + f"{form}: EMAHelper.register/update == trm_ref ema_register/ema_update "
          f"(bitwise, {len(shadow)} tensors)")
    return ok


def published_failures(model_cfg: dict, B: int) -> bool:
    """The published settings that cannot run (docs/TRM.md "Surprises"): each must fail."""
    from models.recursive_reasoning.trm import TinyRecursiveReasoningModel_ACTV1
    from models.losses import ACTLossHead
    cases = {
        "no_ACT_continue=False (trm.py unpacks 5 values from 3)":
            (dict(no_ACT_continue=False), "stablemax_cross_entropy", ValueError),
        "loss_type=softmax_cross_entropy (losses.py passes valid_mask=)":
            ({}, "softmax_cross_entropy", TypeError),
        "puzzle_emb_ndim=0 with puzzle_emb_len=16 (x has no prefix rows)":
            (dict(puzzle_emb_ndim=0), "stablemax_cross_entropy", RuntimeError),
    }
    ok = True
    for what, (over, loss_type, exc) in cases.items():
        head = ACTLossHead(TinyRecursiveReasoningModel_ACTV1(dict(model_cfg, **over)), loss_type=loss_type)
        head.train(True)
        batch = T._tiny_batch(T._tiny_cfg(), B, 1)
        batch["puzzle_identifiers"] = batch["puzzle_identifiers"].long()
        try:
            head(carry=head.initial_carry(batch), batch=batch, return_keys=[])
            failed = False
        except exc:
            failed = True
        ok &= failed
        print(("ok    " if failed else "FAIL  ") + f"published code fails as documented: {what}")
    return ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--published", help="a checkout of SamsungSAILMontreal/TinyRecursiveModels")
    src.add_argument("--git-dir", help="its git directory (HEAD is read)")
    ap.add_argument("--tol", type=float, default=1e-5, help="normalised max error allowed (fp32 vs fp32)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    install_shims()
    sys.path.insert(0, published_tree(args))
    ok = True
    for form, kw in (("attention", {}),
                     ("mlp_t", dict(mlp_t=True, pos_encodings="none")),
                     # published: loss_type softmax_cross_entropy fails in TRM's losses.py
                     # (ACTLossHead passes valid_mask=, which only stablemax accepts)
                     ("learned", dict(pos_encodings="learned", puzzle_emb_ndim=40))):
        ok &= compare(form, kw, args.tol)
    print("published comparison " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
