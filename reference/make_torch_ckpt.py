#!/usr/bin/python3
"""make_torch_ckpt.py - the torch.save fixtures of `hrm convert` (tests/test_convert.c).

    /usr/bin/python3 reference/make_torch_ckpt.py [--golden tests/golden]

Writes, from tests/golden/init.safetensors (the main golden model, made by make_fixtures.py):
- torch_ckpt.pt: its state dict as the published pretrain.py saves it, torch.save(
  model.state_dict(), path) of a torch.compile'd ACTLossHead: every name prefixed with
  `_orig_mod.`, the published state_dict order (the inner module's own buffers H_init and L_init
  first, then its children embed_tokens, lm_head, q_head, puzzle_emb, H_level, L_level), H_init
  and L_init in bfloat16 (the published forward dtype), everything else float32, and the
  `_metadata` attribute (module versions) that nn.Module.state_dict() attaches.
  Converting it must give init.safetensors exactly, except H_init and L_init, which are the
  init values rounded to bfloat16 (round to nearest even).
- torch_misc.pt: reader corner cases, pickle protocol 4 (FRAME, SHORT_BINUNICODE, MEMOIZE,
  STACK_GLOBAL): "half" = float16 [2, 3] = arange(6) / 4 - 0.5; "view_a" and "view_b" = bfloat16
  views of one storage arange(10) - 3 (elements 2..5 as [2, 2] and 6..7 as [2]);
  "param" = an nn.Parameter (torch._utils._rebuild_parameter) float32 [3] = (1.5, -2, 0.25);
  "steps" = int64 scalar 7 (listed without data).
- torch_noncontig.pt: {"t": the transpose of a float32 [2, 3]}, which the reader refuses.
The output is byte-for-byte reproducible. The script also (re)writes its section at the end of
tests/golden/README.md; make_fixtures.py rewrites that README (and init.safetensors), so run this
script after it.
"""
import argparse
import collections
import os
import sys

import torch

sys.dont_write_bytecode = True  # keep reference/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hrm_ref as R  # noqa: E402

ORIG = "_orig_mod."


def published_order(names):
    """nn.Module.state_dict order: a module's own parameters and buffers, then its children."""
    own = [R.H_INIT, R.L_INIT]
    children = ("embed_tokens.", "lm_head.", "q_head.", "puzzle_emb.", "embed_pos.", "H_level.", "L_level.")
    rest = [n for c in children for n in names if n.startswith(R.PREFIX + c)]
    assert sorted(own + rest) == sorted(names), "a checkpoint name outside the published modules"
    return own + rest


def module_versions(names):
    """The `_metadata` of a state dict: {module prefix: {"version": 1}} for every module."""
    meta = collections.OrderedDict([("", {"version": 1})])
    for n in names:
        parts = n.split(".")[:-1]
        for i in range(1, len(parts) + 1):
            meta.setdefault(".".join(parts[:i]), {"version": 1})
    return meta


def published_state_dict(params):
    sd = collections.OrderedDict()
    for n in published_order(list(params)):
        t = params[n].to(torch.float32)
        sd[ORIG + n] = t.to(torch.bfloat16) if n in (R.H_INIT, R.L_INIT) else t.clone()
    sd._metadata = module_versions(sd)
    return sd


def misc_state_dict():
    sd = collections.OrderedDict()
    sd["half"] = (torch.arange(6, dtype=torch.float32) / 4 - 0.5).to(torch.float16).view(2, 3)
    base = (torch.arange(10, dtype=torch.float32) - 3).to(torch.bfloat16)
    sd["view_a"] = base[2:6].view(2, 2)
    sd["view_b"] = base[6:8]
    sd["param"] = torch.nn.Parameter(torch.tensor([1.5, -2.0, 0.25]))
    sd["steps"] = torch.tensor(7, dtype=torch.int64)
    return sd


README_HEADING = "## torch.save fixtures: `hrm convert`"
README_SECTION = README_HEADING + """

Made by `/usr/bin/python3 reference/make_torch_ckpt.py` (after make_fixtures.py, which
rewrites this README and init.safetensors), read by tests/test_convert.c:

| file | bytes | what |
|---|---|---|
| torch_ckpt.pt | {ckpt} | init.safetensors as the published pretrain.py saves it: `torch.save(model.state_dict())` of the torch.compile'd model, names prefixed `_orig_mod.`, published state-dict order (H_init, L_init first), H_init and L_init bfloat16, the rest float32, the `_metadata` module versions |
| torch_misc.pt | {misc} | reader corner cases in pickle protocol 4: float16 [2, 3] `half` = arange(6)/4 - 0.5; two bfloat16 views of one storage arange(10) - 3 (`view_a` [2, 2] from element 2, `view_b` [2] from element 6); an nn.Parameter `param` = (1.5, -2, 0.25); an int64 scalar `steps` = 7 (listed, not loaded) |
| torch_noncontig.pt | {nc} | `t`: a transposed float32 [3, 2], which the reader refuses |

Converting torch_ckpt.pt (`hrm convert torch_ckpt.pt OUT arch.num_heads=2 arch.halt_max_steps=4
arch.halt_exploration_prob=0 arch.expansion=2 --data data`) gives init.safetensors exactly, with
the same hrm.config, except H_init and L_init, which equal init's values rounded to bfloat16
(nearest even). The shapes alone give expansion 4, the published default, which yields the same
SwiGLU width (256) as the 2.0 the model was made with. torch {torch} wrote these files: a ZIP of
STORED entries under `torch_ckpt/` (data.pkl, data/0..18, version = 3; local headers with bit 3
set and zero sizes, a ZIP64 end record), a protocol-2 pickle for torch_ckpt.pt.
"""


def write_readme_section(golden):
    path = os.path.join(golden, "README.md")
    with open(path) as f:
        text = f.read()
    cut = text.find(README_HEADING)
    text = (text[:cut] if cut >= 0 else text.rstrip("\n") + "\n\n")
    size = lambda n: os.path.getsize(os.path.join(golden, n))  # noqa: E731
    text += README_SECTION.format(ckpt=size("torch_ckpt.pt"), misc=size("torch_misc.pt"),
                                  nc=size("torch_noncontig.pt"), torch=torch.__version__)
    with open(path, "w") as f:
        f.write(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--golden", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                     "tests", "golden"))
    args = ap.parse_args(argv)
    args.golden = os.path.normpath(args.golden)
    write_fixtures(args.golden)
    write_readme_section(args.golden)
    return 0


def write_fixtures(golden):
    """The three .pt files from golden/init.safetensors (make_fixtures.py calls this, then its
    README, then write_readme_section)."""
    params, cfg = R.load_checkpoint(os.path.join(golden, "init.safetensors"))
    out = os.path.join(golden, "torch_ckpt.pt")
    torch.save(published_state_dict(params), out)
    torch.save(misc_state_dict(), os.path.join(golden, "torch_misc.pt"), pickle_protocol=4)
    torch.save({"t": torch.arange(6, dtype=torch.float32).view(2, 3).t()},
               os.path.join(golden, "torch_noncontig.pt"))

    # Check what was written: torch reads it back to the same values.
    back = torch.load(out)
    assert all(torch.equal(back[ORIG + n].to(torch.float32),
                           params[n].to(torch.bfloat16).to(torch.float32) if n in (R.H_INIT, R.L_INIT)
                           else params[n]) for n in params)
    print(f"{out}: {len(back)} tensors, {os.path.getsize(out)} bytes; config {cfg.to_metadata()}")


if __name__ == "__main__":
    sys.exit(main())
