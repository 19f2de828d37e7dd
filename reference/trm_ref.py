#!/usr/bin/python3
"""trm_ref.py - the PyTorch reference of the Tiny Recursive Model (TRM, arXiv 2510.04871).

Intent: compute, in plain fp32 PyTorch on the CPU, exactly the function that the published
implementation computes (github.com/SamsungSAILMontreal/TinyRecursiveModels, commit e7b6871:
models/recursive_reasoning/trm.py, models/layers.py, models/losses.py, models/ema.py,
models/sparse_embedding.py, pretrain.py, config/arch/trm.yaml, config/cfg_pretrain.yaml), so
that the C engine can be built and checked against it. docs/TRM.md states the model in words.
Where the paper and the published code differ this file follows the code; the comments marked
"published:" say where and how.

Same style as hrm_ref.py, whose helpers this file imports rather than repeats (norm, attention,
SwiGLU, RoPE, input embedding, ACT carry, loss head, AdamATan2, SignSGD, LR schedule,
safetensors, dataset reader): the parameters are one dict of tensors keyed by their published
checkpoint names (model.inner.L_level.layers.0.self_attn.qkv_proj.weight, ...), everything else
is plain functions over it, and the same code runs in float64 (cast the dict).

Naming: the published code calls the answer y "z_H" and the latent z "z_L" and keeps HRM's
carry field names; here y and z in the model, Carry.zH (= y) and Carry.zL (= z) in the carry.

Run with Debian's interpreter, which has torch: /usr/bin/python3 trm_ref.py --selftest
(--counts prints the parameter counts of the published recipes.)
"""
import argparse
import json
import math
import os
import sys
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # keep reference/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hrm_ref as R  # noqa: E402
from hrm_ref import (H_INIT, IGNORE_LABEL_ID, L_INIT, NOT_ADAM, PREFIX, PUZZLE_EMB,  # noqa: E402,F401
                     Carry, Params, SegmentOut, act_loss, adam_names, attention, initial_carry,
                     input_embeddings, nerr, rms_norm, rope_cos_sin, swiglu)

ARCH = "trm"

# The published config keys (trm.py TinyRecursiveReasoningModel_ACTV1Config) that fix the
# function, in the order a checkpoint's metadata lists them. Dropped: batch_size (sizes the
# sparse embedding's per-batch buffers only) and forward_dtype (bfloat16 published; this
# reference computes in the dtype of the parameter dict).
CONFIG_KEYS = ("hidden_size", "num_heads", "H_layers", "L_layers", "H_cycles", "L_cycles",
               "expansion", "puzzle_emb_ndim", "puzzle_emb_len", "pos_encodings", "rope_theta",
               "rms_norm_eps", "halt_max_steps", "halt_exploration_prob", "mlp_t",
               "no_ACT_continue", "vocab_size", "seq_len", "num_puzzle_identifiers")


def _ceil_to(a: int, b: int) -> int:
    """layers.py _find_multiple: a rounded up to a multiple of b."""
    return -(a // -b) * b


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------
@dataclass
class TRMConfig:
    """Defaults: config/arch/trm.yaml (puzzle_emb_ndim: ${.hidden_size}) and the defaults of the
    pydantic config in trm.py; vocab_size, seq_len and num_puzzle_identifiers come from the
    dataset (pretrain.py create_model)."""
    vocab_size: int
    seq_len: int
    num_puzzle_identifiers: int
    hidden_size: int = 512
    num_heads: int = 8
    H_cycles: int = 3           # T: outer cycles per supervision step
    L_cycles: int = 6           # n: latent updates per cycle
    H_layers: int = 0           # published: declared ("# ignored") and never read
    L_layers: int = 2           # blocks of the one network (L_level)
    expansion: float = 4.0
    puzzle_emb_ndim: int = 512
    puzzle_emb_len: int = 16    # prefix rows P; published: 0 means ceil(puzzle_emb_ndim / D)
    pos_encodings: str = "rope"  # rope | learned | none (published: any other string is none)
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    halt_max_steps: int = 16
    halt_exploration_prob: float = 0.1
    mlp_t: bool = False         # token mixing by a SwiGLU across the sequence instead of attention
    no_ACT_continue: bool = True
    # arch.loss.loss_type, a training setting (not in the checkpoint's config)
    loss_type: str = "stablemax"

    def __post_init__(self):
        self.loss_type = {"stablemax_cross_entropy": "stablemax",
                          "softmax_cross_entropy": "softmax"}.get(self.loss_type, self.loss_type)
        if self.loss_type not in ("stablemax", "softmax"):
            raise ValueError(f"loss_type: expected stablemax or softmax, got {self.loss_type!r}")
        if self.pos_encodings not in ("rope", "learned", "none"):
            raise ValueError(f"pos_encodings: expected rope, learned or none, got {self.pos_encodings!r}")
        if self.hidden_size % self.num_heads:
            raise ValueError("hidden_size must be a multiple of num_heads")
        if self.H_cycles < 1 or self.L_cycles < 1 or self.L_layers < 1:
            raise ValueError("H_cycles, L_cycles and L_layers must be at least 1")
        # trm.py _Inner.__init__ and _Block.__init__: P = puzzle_emb_len, or ceil(ndim / D) if 0.
        # Normalised here to the value in use (same function either way).
        if self.puzzle_emb_len == 0:
            self.puzzle_emb_len = -(self.puzzle_emb_ndim // -self.hidden_size)
        if self.puzzle_emb_ndim == 0 and self.puzzle_emb_len != 0:
            # published: _input_embeddings adds no prefix rows when puzzle_emb_ndim = 0, but the
            # carry and the heads still assume P = puzzle_emb_len rows: z + (y + x) fails on shapes.
            raise ValueError("puzzle_emb_ndim = 0 needs puzzle_emb_len = 0 (the published code fails otherwise)")
        if self.puzzle_emb_ndim > self.puzzle_emb_len * self.hidden_size:
            # published: F.pad with a negative count would silently crop the puzzle embedding
            raise ValueError("puzzle_emb_ndim must be at most puzzle_emb_len * hidden_size")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def full_seq(self) -> int:  # S = P + seq_len
        return self.seq_len + self.puzzle_emb_len

    @property
    def inter(self) -> int:  # channel SwiGLU width (layers.py SwiGLU): 1536 for D = 512
        return _ceil_to(round(self.expansion * self.hidden_size * 2 / 3), 256)

    @property
    def inter_t(self) -> int:  # token SwiGLU width of the MLP form: the same rule applied to S
        return _ceil_to(round(self.expansion * self.full_seq * 2 / 3), 256)

    def to_metadata(self) -> dict:
        d = asdict(self)
        return dict({"arch": ARCH}, **{k: d[k] for k in CONFIG_KEYS})

    @classmethod
    def from_metadata(cls, meta: dict, loss_type: str = "stablemax") -> "TRMConfig":
        meta = dict(meta)
        if meta.pop("arch", ARCH) != ARCH:
            raise ValueError("not a TRM config")
        unknown = set(meta) - set(CONFIG_KEYS)
        if unknown:
            raise ValueError(f"trm config: unknown keys {sorted(unknown)}")
        return cls(**meta, loss_type=loss_type)


def param_shapes(cfg: TRMConfig) -> Dict[str, Tuple[int, ...]]:
    """Every checkpoint tensor under its published name, in construction order (trm.py
    _Inner.__init__: embed_tokens, lm_head, q_head, puzzle_emb, embed_pos, L_level, H_init,
    L_init; _Block.__init__: mlp_t or self_attn, then mlp). The published state_dict lists the
    inner module's own buffers H_init and L_init first; names, not order, are the contract."""
    D, I, V, S = cfg.hidden_size, cfg.inter, cfg.vocab_size, cfg.full_seq
    shapes = {
        PREFIX + "embed_tokens.embedding_weight": (V, D),
        PREFIX + "lm_head.weight": (V, D),
        # published: two outputs (halt, continue) whatever no_ACT_continue says
        PREFIX + "q_head.weight": (2, D),
        PREFIX + "q_head.bias": (2,),
    }
    if cfg.puzzle_emb_ndim > 0:
        shapes[PUZZLE_EMB] = (cfg.num_puzzle_identifiers, cfg.puzzle_emb_ndim)
    if cfg.pos_encodings == "learned":
        shapes[PREFIX + "embed_pos.embedding_weight"] = (S, D)
    for i in range(cfg.L_layers):
        b = f"{PREFIX}L_level.layers.{i}."
        if cfg.mlp_t:
            shapes[b + "mlp_t.gate_up_proj.weight"] = (2 * cfg.inter_t, S)
            shapes[b + "mlp_t.down_proj.weight"] = (S, cfg.inter_t)
        else:
            shapes[b + "self_attn.qkv_proj.weight"] = (3 * D, D)
            shapes[b + "self_attn.o_proj.weight"] = (D, D)
        shapes[b + "mlp.gate_up_proj.weight"] = (2 * I, D)
        shapes[b + "mlp.down_proj.weight"] = (D, I)
    shapes[H_INIT] = (D,)
    shapes[L_INIT] = (D,)
    return shapes


def init_params(cfg: TRMConfig, seed: int) -> Params:
    """The published init (hrm_ref.init_params's rules, which trm.py shares through layers.py
    and common.py): CastedLinear [out, in] truncnormal(1/sqrt(in)), so the MLP form's
    mlp_t.gate_up_proj gets 1/sqrt(S) and mlp_t.down_proj 1/sqrt(inter_t); embeddings
    (embed_tokens, embed_pos) truncnormal(1/sqrt(D)); q_head weight 0, bias -5 (both outputs);
    puzzle_emb 0 (init_std=0); H_init, L_init truncnormal(1), fixed buffers.
    published: H_init and L_init are drawn in forward_dtype (bfloat16) and stored so."""
    return R.init_params(cfg, seed, shapes=param_shapes(cfg))


def count_params(cfg: TRMConfig) -> Tuple[int, int]:
    """(trainable parameters as pretrain.py's num_params counts them, i.e. nn.Parameters: not
    the puzzle embedding, H_init, L_init, which are buffers; all checkpoint values)."""
    return R.count_params(cfg, shapes=param_shapes(cfg))


# ---------------------------------------------------------------------------------------------
# The network (trm.py TinyRecursiveReasoningModel_ACTV1Block / _ReasoningModule)
# ---------------------------------------------------------------------------------------------
def token_mixer(p: Params, pre: str, h: torch.Tensor, cfg: TRMConfig, cos_sin) -> torch.Tensor:
    """The first sub-layer of a block, with its residual and post-norm.

    Attention form: rmsnorm(h + Attn(h)) over D, exactly HRM's (hrm_ref.attention: one qkv
    projection, RoPE on q and k when pos_encodings = rope, non-causal softmax over all S
    positions, scale 1/sqrt(head_dim), o_proj).

    MLP form (mlp_t): h [B, S, D] is transposed to [B, D, S]; a SwiGLU of width inter_t mixes
    the S positions of each channel, with weights mlp_t.gate_up_proj [2 inter_t, S] and
    mlp_t.down_proj [S, inter_t]; the residual is added and the RMS norm is taken in that
    transposed layout, i.e. over the S positions of each (example, channel), not over D
    (published: trm.py _Block.forward calls rms_norm before transposing back); then transposed
    back to [B, S, D]. No position information enters (rope tables, if configured, go unused);
    paper (sec. 4.5): "an MLP applied on the sequence length" with "[L, L] parameters"."""
    if cfg.mlp_t:
        t = h.transpose(1, 2)  # [B, D, S]
        t = rms_norm(t + swiglu(p, pre + "mlp_t.", t), cfg.rms_norm_eps)  # norm over S
        return t.transpose(1, 2)
    return rms_norm(h + attention(p, pre + "self_attn.", h, cfg, cos_sin), cfg.rms_norm_eps)


def block(p: Params, pre: str, h: torch.Tensor, cfg: TRMConfig, cos_sin) -> torch.Tensor:
    """Post-norm block: token mixing, then rmsnorm(h + SwiGLU(h)) over D (no gains, no biases)."""
    h = token_mixer(p, pre, h, cfg, cos_sin)
    return rms_norm(h + swiglu(p, pre + "mlp.", h), cfg.rms_norm_eps)


def net(p: Params, cfg: TRMConfig, state: torch.Tensor, injection: torch.Tensor, cos_sin) -> torch.Tensor:
    """The one network (_ReasoningModule L_level): its blocks applied to state + injection."""
    h = state + injection
    for i in range(cfg.L_layers):
        h = block(p, f"{PREFIX}L_level.layers.{i}.", h, cfg, cos_sin)
    return h


def latent_recursion(p: Params, cfg: TRMConfig, y, z, x, cos_sin):
    """One cycle: n latent updates z <- net(z, y + x), then one answer update y <- net(y, z).
    The additions are in the published order: z + (y + x), y + z."""
    for _ in range(cfg.L_cycles):
        z = net(p, cfg, z, y + x, cos_sin)
    y = net(p, cfg, y, z, cos_sin)
    return y, z


def inner_forward(p: Params, cfg: TRMConfig, y, z, tokens, puzzle_rows):
    """One supervision step (trm.py _Inner.forward) from the carry (y, z), which enters without
    gradient. T - 1 = H_cycles - 1 cycles without gradient, then one cycle whose n + 1 network
    calls are all differentiated (full backprop through the cycle; HRM differentiates only its
    last L and H updates). Returns (new y, new z) detached, logits [B, seq_len, V] from y
    without the P prefix rows, q_halt [B], q_continue [B] from y at position 0."""
    cos_sin = rope_cos_sin(cfg, y.dtype, y.device) if cfg.pos_encodings == "rope" else None
    x = input_embeddings(p, cfg, tokens, puzzle_rows)  # with gradient; reused by every cycle
    with torch.no_grad():
        for _ in range(cfg.H_cycles - 1):
            y, z = latent_recursion(p, cfg, y, z, x, cos_sin)
    assert not y.requires_grad and not z.requires_grad
    y, z = latent_recursion(p, cfg, y, z, x, cos_sin)
    logits = (y @ p[PREFIX + "lm_head.weight"].t())[:, cfg.puzzle_emb_len:]
    # published: the Q head reads y[:, 0], the first prefix row (the puzzle-embedding row);
    # paper: Q_head(y). Both logits are computed; q_continue is used only when
    # no_ACT_continue = False.
    q = y[:, 0] @ p[PREFIX + "q_head.weight"].t() + p[PREFIX + "q_head.bias"]
    return y.detach(), z.detach(), logits, q[..., 0], q[..., 1]


# ---------------------------------------------------------------------------------------------
# ACT: one supervision step for the whole batch (trm.py TinyRecursiveReasoningModel_ACTV1)
# ---------------------------------------------------------------------------------------------
def act_segment(p: Params, cfg: TRMConfig, carry: Carry, batch: Dict[str, torch.Tensor],
                training: bool, gen: Optional[torch.Generator] = None) -> Tuple[Carry, SegmentOut]:
    """The carry, reset of halted slots (y <- H_init, z <- L_init, steps <- 0, the slot takes the
    batch's example) and the puzzle-embedding rows are HRM's (hrm_ref.act_segment). Halting,
    after steps += 1:

        halted = steps >= halt_max_steps                        (evaluation: only this)
        training and halt_max_steps > 1:
            halted |= q_halt > 0              (no_ACT_continue = True, the published setting)
            halted |= q_halt > q_continue     (no_ACT_continue = False)
            min_steps = (u < halt_exploration_prob) * randint{2..halt_max_steps}, drawn per slot
            halted &= steps >= min_steps

    With no_ACT_continue = True there is no second forward and no continue target. With False
    this computes HRM's target from a second forward from the new carry; published: that branch
    of trm.py unpacks five values from _Inner.forward's three and raises ValueError, so the
    published code cannot train with no_ACT_continue = False (paper Table 1 "w/ ACT" row)."""
    # trm.py draws the exploration as HRM does (torch.rand_like, then torch.randint_like(low=2,
    # high=halt_max_steps + 1), for every slot at every step, in this order); y and z ride in the
    # carry's zH and zL.
    return R.act_segment(p, cfg, carry, batch, training, gen, inner=inner_forward,
                         halt_on_q_halt=cfg.no_ACT_continue)


# The loss head is HRM's (losses.py ACTLossHead, shared): hrm_ref.act_loss. With
# no_ACT_continue = True, target_q_continue is None and the loss is
#     sum_b lm_b + 0.5 * sum_b BCE(q_halt_b, seq_correct_b)
# (published: weight 0.5 on the halt BCE and stablemax by default; the paper's Figure 3 shows
# softmax cross-entropy + BCE with weight 1).


# ---------------------------------------------------------------------------------------------
# EMA of the weights (models/ema.py EMAHelper, as pretrain.py drives it)
# ---------------------------------------------------------------------------------------------
def ema_register(p: Params) -> Params:
    """EMAHelper.register: a copy of every nn.Parameter with requires_grad, i.e. every Adam
    tensor; not the puzzle embedding, H_init or L_init (buffers). Registered once, after the
    model is built (and a checkpoint loaded), before the first step; no bias correction."""
    return {n: p[n].detach().clone() for n in adam_names(p)}


def ema_update(shadow: Params, p: Params, mu: float) -> None:
    """EMAHelper.update, after every train_batch call (pretrain.py launch):
    shadow = (1 - mu) * param + mu * shadow, evaluated in this order in the tensors' dtype
    (the two Python scalars 1 - mu and mu rounded to it)."""
    with torch.no_grad():
        for n in shadow:
            shadow[n] = (1.0 - mu) * p[n] + mu * shadow[n]


def ema_params(p: Params, shadow: Params) -> Params:
    """EMAHelper.ema_copy: the model evaluated (and, in pretrain.py, checkpointed) when ema=True:
    the shadow weights, with the live buffers (puzzle embedding, H_init, L_init)."""
    return dict(p, **{n: t.clone() for n, t in shadow.items()})


# ---------------------------------------------------------------------------------------------
# Training and evaluation
# ---------------------------------------------------------------------------------------------
@dataclass
class TRMTrainSettings(R.TrainSettings):
    """pretrain.py PretrainConfig training keys (cfg_pretrain.yaml defaults, shared with HRM:
    lr 1e-4, lr_min_ratio 1.0, lr_warmup_steps 2000, weight_decay 0.1, betas (0.9, 0.95),
    puzzle_emb_lr 1e-2, puzzle_emb_weight_decay 0.1) plus TRM's ema (default False; every
    published command line sets ema=True) and ema_rate (0.999)."""
    ema: bool = False
    ema_rate: float = 0.999


class TRMTrainer(R.Trainer):
    """pretrain.py train_batch + the EMA: one supervision step and one optimizer step per batch
    (SignSGD on the batch's puzzle-embedding rows, then AdamATan2 with decoupled weight decay on
    every nn.Parameter, both at the schedule's rate for the incremented step), then the EMA.
    The loss is divided by the global batch size before backward, as for HRM.
    published: train_batch returns without an update once step > total_steps, yet the EMA is
    still updated after it (toward unchanged weights); not modelled (runs stop at total_steps)."""

    def __init__(self, p: Params, cfg: TRMConfig, s: TRMTrainSettings):
        super().__init__(p, cfg, s, segment=act_segment)
        self.shadow: Optional[Params] = ema_register(p) if s.ema else None

    def train_step(self, batch: Dict[str, torch.Tensor]) -> dict:
        r = super().train_step(batch)
        if self.shadow is not None:
            ema_update(self.shadow, self.p, self.s.ema_rate)
        return r

    def eval_params(self) -> Params:
        """What pretrain.py evaluates and saves: the EMA copy when ema=True, else the weights."""
        return ema_params(self.p, self.shadow) if self.shadow is not None else self.p


def evaluate_segments(p: Params, cfg: TRMConfig, batch: Dict[str, torch.Tensor], segments: int):
    """pretrain.py evaluate: a fresh carry per batch, then supervision steps in eval mode until
    every slot has halted, i.e. exactly halt_max_steps steps (Q head ignored); the metrics of
    the last step are the reported ones."""
    return R.evaluate_segments(p, cfg, batch, segments, segment=act_segment)


# ---------------------------------------------------------------------------------------------
# Checkpoints: published state dicts and safetensors
# ---------------------------------------------------------------------------------------------
def from_published_state_dict(sd: Dict[str, torch.Tensor], cfg: TRMConfig) -> Params:
    """A published checkpoint (pretrain.py save_train_state: torch.save(model.state_dict()) of
    the torch.compile'd ACTLossHead) to a parameter dict: names lose `_orig_mod.`, then map 1:1;
    every tensor becomes float32 (H_init and L_init are stored in bfloat16). Non-persistent
    buffers (rotary tables, the sparse embedding's local_weights/local_ids) are never saved.
    published: with ema=True the file holds the EMA weights, not the trained ones, and no
    optimizer state or carry."""
    sd = {(n[len("_orig_mod."):] if n.startswith("_orig_mod.") else n): t for n, t in sd.items()}
    shapes = param_shapes(cfg)
    extra = sorted(set(sd) - set(shapes))
    if extra:
        raise ValueError(f"unexpected tensors {extra}")
    p = {}
    for n, shape in shapes.items():
        if n not in sd:
            raise ValueError(f"missing tensor {n}")
        if tuple(sd[n].shape) != shape:
            raise ValueError(f"{n}: shape {tuple(sd[n].shape)}, expected {shape}")
        p[n] = sd[n].detach().to(torch.float32).contiguous()
    return p


def save_checkpoint(path: str, p: Params, cfg: TRMConfig, extra_meta: Optional[dict] = None):
    """safetensors, float32, published names; metadata hrm.config = {"arch": "trm", the
    CONFIG_KEYS}. (The engine's final TRM contract is for the C side to fix; this is what the
    reference's fixtures will use.)"""
    meta = {"hrm.config": json.dumps(cfg.to_metadata())}
    if extra_meta:
        meta.update(extra_meta)
    R.save_safetensors(path, {n: p[n].to(torch.float32) for n in param_shapes(cfg)}, meta)


def load_checkpoint(path: str, loss_type: str = "stablemax") -> Tuple[Params, TRMConfig]:
    tensors, meta = R.load_safetensors(path)
    if "hrm.config" not in meta:
        raise ValueError(f"{path}: no hrm.config in the safetensors metadata")
    cfg = TRMConfig.from_metadata(json.loads(meta["hrm.config"]), loss_type)
    return from_published_state_dict(tensors, cfg), cfg


# ---------------------------------------------------------------------------------------------
# The published recipes (README.md command lines over cfg_pretrain.yaml + arch/trm.yaml)
# ---------------------------------------------------------------------------------------------
# Dataset-derived sizes (dataset/build_*_dataset.py): Sudoku-Extreme V = 11, seq_len 81, one
# identifier; Maze-Hard V = 6, seq_len 900, one identifier; ARC V = 12, seq_len 900, one
# identifier per augmented puzzle + blank (known only once the dataset is built).
DATASETS = {"sudoku": dict(vocab_size=11, seq_len=81, num_puzzle_identifiers=1),
            "maze": dict(vocab_size=6, seq_len=900, num_puzzle_identifiers=1),
            "arc": dict(vocab_size=12, seq_len=900, num_puzzle_identifiers=1)}
RECIPES = {
    # name: (dataset, arch overrides, training settings); all: global_batch_size 768, ema=True,
    # L_layers 2, H_cycles 3
    "sudoku_mlp": ("sudoku", dict(mlp_t=True, pos_encodings="none", L_cycles=6),
                   dict(epochs=50000, eval_interval=5000, lr=1e-4, puzzle_emb_lr=1e-4,
                        weight_decay=1.0, puzzle_emb_weight_decay=1.0)),
    "sudoku_att": ("sudoku", dict(L_cycles=6),
                   dict(epochs=50000, eval_interval=5000, lr=1e-4, puzzle_emb_lr=1e-4,
                        weight_decay=1.0, puzzle_emb_weight_decay=1.0)),
    "maze_att": ("maze", dict(L_cycles=4),
                 dict(epochs=50000, eval_interval=5000, lr=1e-4, puzzle_emb_lr=1e-4,
                      weight_decay=1.0, puzzle_emb_weight_decay=1.0)),
    "arc1_att": ("arc", dict(L_cycles=4),
                 dict(epochs=100000, eval_interval=10000, lr=1e-4, puzzle_emb_lr=1e-2,
                      weight_decay=0.1, puzzle_emb_weight_decay=0.1)),
    "arc2_att": ("arc", dict(L_cycles=4),
                 dict(epochs=100000, eval_interval=10000, lr=1e-4, puzzle_emb_lr=1e-2,
                      weight_decay=0.1, puzzle_emb_weight_decay=0.1)),
}


def recipe_config(name: str, **dataset_overrides) -> TRMConfig:
    ds, arch, _ = RECIPES[name]
    return TRMConfig(**dict(DATASETS[ds], **dataset_overrides), **arch)


def count_table() -> List[Tuple[str, int, int]]:
    """(name, trainable, per-identifier puzzle-embedding values) for the published recipes and
    the paper's MLP variants on the 30x30 tasks."""
    rows = []
    for name in RECIPES:
        cfg = recipe_config(name)
        rows.append((name, count_params(cfg)[0], cfg.puzzle_emb_ndim))
    for ds in ("maze", "arc"):
        cfg = TRMConfig(**DATASETS[ds], mlp_t=True, pos_encodings="none", L_cycles=4)
        rows.append((f"{ds}_mlp (paper only)", count_params(cfg)[0], cfg.puzzle_emb_ndim))
    return rows


# ---------------------------------------------------------------------------------------------
# Memory: what autograd keeps for one supervision step
# ---------------------------------------------------------------------------------------------
def saved_bytes(p: Params, cfg: TRMConfig, y, z, batch) -> Tuple[Params, int]:
    """Gradients of a loss of one supervision step w.r.t. the Adam tensors, and the bytes of
    the tensors autograd saved for the backward (hook count; a shared tensor counts each time
    it is saved, so this is an upper bound of what this functional code keeps)."""
    saved = [0]

    def pack(t):
        saved[0] += t.numel() * t.element_size()
        return t

    adam = {n: p[n].detach().clone().requires_grad_(True) for n in adam_names(p)}
    q = dict(p, **adam)
    rows = p[PUZZLE_EMB][batch["puzzle_identifiers"].long()] if cfg.puzzle_emb_ndim else None
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        _, _, logits, qh, qc = inner_forward(q, cfg, y, z, batch["inputs"], rows)
        loss = R.token_losses(logits, batch["labels"], cfg.loss_type).sum() + qh.sum() + qc.square().sum()
    names = list(adam)
    grads = torch.autograd.grad(loss, [adam[n] for n in names])
    return dict(zip(names, grads)), saved[0]


# ---------------------------------------------------------------------------------------------
# Self-checks
# ---------------------------------------------------------------------------------------------
def _tiny_cfg(**kw) -> TRMConfig:
    base = dict(vocab_size=11, seq_len=12, num_puzzle_identifiers=5, hidden_size=16, num_heads=2,
                H_cycles=3, L_cycles=2, L_layers=2, expansion=2.0, puzzle_emb_ndim=16,
                puzzle_emb_len=3, halt_max_steps=4, halt_exploration_prob=0.0)
    base.update(kw)
    return TRMConfig(**base)


def _tiny_batch(cfg: TRMConfig, B: int, seed: int) -> Dict[str, torch.Tensor]:
    return R._tiny_batch(cfg, B, seed, ignored=2)


def _perturbed(cfg: TRMConfig, seed: int, dtype=torch.float32) -> Params:
    """hrm_ref._perturbed over TRM's init, in dtype."""
    return R.cast_params(R._perturbed(cfg, seed, init=init_params), dtype)


def _start(p: Params, cfg: TRMConfig, B: int):
    S, D = cfg.full_seq, cfg.hidden_size
    return p[H_INIT].expand(B, S, D).clone(), p[L_INIT].expand(B, S, D).clone()


def _no_grad_prefix(p: Params, cfg: TRMConfig, y, z, batch):
    """The carry after the T - 1 cycles without gradient."""
    rows = p[PUZZLE_EMB][batch["puzzle_identifiers"].long()] if cfg.puzzle_emb_ndim else None
    cos_sin = rope_cos_sin(cfg, y.dtype) if cfg.pos_encodings == "rope" else None
    with torch.no_grad():
        x = input_embeddings(p, cfg, batch["inputs"], rows)
        for _ in range(cfg.H_cycles - 1):
            y, z = latent_recursion(p, cfg, y, z, x, cos_sin)
    return y, z


def _fd_check(p: Params, cfg: TRMConfig, y, z, batch, picks: int, seed: int) -> float:
    """Autograd of one supervision step against central differences of the function it
    differentiates: the last cycle from the carry the no-gradient cycles reach (float64).
    Returns the worst relative error over `picks` random elements of every Adam tensor."""
    grads, _ = saved_bytes(p, cfg, y, z, batch)
    y0, z0 = _no_grad_prefix(p, cfg, y, z, batch)
    last = TRMConfig(**dict(asdict(cfg), H_cycles=1))
    rows = p[PUZZLE_EMB][batch["puzzle_identifiers"].long()] if cfg.puzzle_emb_ndim else None

    def f(q):
        with torch.no_grad():
            _, _, logits, qh, qc = inner_forward(q, last, y0, z0, batch["inputs"], rows)
            return float(R.token_losses(logits, batch["labels"], cfg.loss_type).sum() + qh.sum()
                         + qc.square().sum())

    g = torch.Generator().manual_seed(seed)
    worst, h = 0.0, 1e-6
    for n, grad in grads.items():
        flat = p[n].view(-1)
        for _ in range(picks):
            i = int(torch.randint(0, flat.numel(), (1,), generator=g))
            old = float(flat[i])
            flat[i] = old + h
            fp = f(p)
            flat[i] = old - h
            fm = f(p)
            flat[i] = old
            fd = (fp - fm) / (2 * h)
            ad = float(grad.reshape(-1)[i])
            worst = max(worst, abs(fd - ad) / max(abs(fd), abs(ad), 1e-3))
    return worst


def stepwise_precision(p32: Params, p64: Params, cfg: TRMConfig, batch, steps: int):
    """Evaluation steps in fp32 and fp64 from the same start. Returns (the worst normalised
    error of logits, q_halt, q_continue and the new carry over `steps` steps when each fp32 step
    starts from the fp64 carry; the logits' error per step when fp32 runs on its own carry).
    The second grows with the steps where the recursion amplifies rounding (the MLP form)."""
    c64 = initial_carry(cfg, batch, torch.float64)
    c32 = initial_carry(cfg, batch, torch.float32)
    forced, free = 0.0, []
    with torch.no_grad():
        for _ in range(steps):
            start = Carry(c64.zH.float(), c64.zL.float(), c64.steps.clone(), c64.halted.clone(), c64.data)
            f32, o32 = act_segment(p32, cfg, start, batch, training=False)
            c64, o64 = act_segment(p64, cfg, c64, batch, training=False)
            c32, g32 = act_segment(p32, cfg, c32, batch, training=False)
            forced = max(forced, nerr(o32.logits, o64.logits), nerr(o32.q_halt, o64.q_halt),
                         nerr(o32.q_continue, o64.q_continue), nerr(f32.zH, c64.zH), nerr(f32.zL, c64.zL))
            free.append(nerr(g32.logits, o64.logits))
    return forced, free


def selftest() -> int:
    torch.set_num_threads(1)
    ok = True

    def check(cond: bool, what: str):
        nonlocal ok
        print(("ok    " if cond else "FAIL  ") + what)
        ok &= bool(cond)

    # 1. Parameter counts of the published sizes (D 512, 8 heads, 2 layers, expansion 4, P 16).
    counts = {name: n for name, n, _ in count_table()}
    want = {"sudoku_mlp": 5_028_866, "sudoku_att": 6_828_034, "maze_att": 6_822_914,
            "arc1_att": 6_829_058, "maze_mlp (paper only)": 18_795_522,
            "arc_mlp (paper only)": 18_801_666}
    check(all(counts[k] == v for k, v in want.items()),
          "trainable parameters: " + ", ".join(f"{k} {counts[k]:,}" for k in want))
    sud = recipe_config("sudoku_mlp")
    check(sud.full_seq == 97 and sud.inter_t == 512 and sud.inter == 1536 and
          param_shapes(sud)[PREFIX + "L_level.layers.0.mlp_t.gate_up_proj.weight"] == (1024, 97) and
          param_shapes(sud)[PREFIX + "L_level.layers.0.mlp_t.down_proj.weight"] == (97, 512),
          "Sudoku MLP form: S = 97, token SwiGLU width 512 (mlp_t.gate_up [1024, 97], down [97, 512])")
    p_big = init_params(sud, 0)
    check(sum(t.numel() for n, t in p_big.items() if n not in NOT_ADAM) == counts["sudoku_mlp"] and
          float(p_big[PREFIX + "q_head.bias"][1]) == -5.0,
          "init_params allocates exactly the counted tensors; q_head [2, D] + [2], bias -5")
    del p_big

    # 2. Gradient only through the last cycle, and through all its n + 1 calls.
    for form in ("attention", "mlp_t"):
        kw = dict(mlp_t=True, pos_encodings="none") if form == "mlp_t" else {}
        cfg = _tiny_cfg(**kw)
        p = _perturbed(cfg, 3)
        batch = _tiny_batch(cfg, 3, 5)
        y, z = _start(p, cfg, 3)
        g3, _ = saved_bytes(p, cfg, y, z, batch)
        y0, z0 = _no_grad_prefix(p, cfg, y, z, batch)
        g1, _ = saved_bytes(p, TRMConfig(**dict(asdict(cfg), H_cycles=1)), y0, z0, batch)
        err = max(nerr(g3[n], g1[n]) for n in g3)
        check(err == 0.0, f"{form}: T=3 gradient == T=1 gradient from the carry of the 2 no-grad "
                          f"cycles (max normalised diff {err:.1e})")
        p64 = R.cast_params(p, torch.float64)
        y64, z64 = _start(p64, cfg, 3)
        e_fd = _fd_check(p64, cfg, y64, z64, batch, picks=3, seed=7)
        check(e_fd < 1e-5, f"{form}: float64 gradient of all n+1 calls of the last cycle against "
                           f"central differences (worst relative error {e_fd:.1e})")

    # The truncation is real: the whole step's derivative (through the no-grad cycles) differs.
    cfg = _tiny_cfg(H_cycles=2)
    p64 = _perturbed(cfg, 4, torch.float64)
    batch = _tiny_batch(cfg, 2, 6)
    y, z = _start(p64, cfg, 2)
    grads, _ = saved_bytes(p64, cfg, y, z, batch)
    w_name = PREFIX + "L_level.layers.0.mlp.down_proj.weight"
    rows = p64[PUZZLE_EMB][batch["puzzle_identifiers"].long()]

    def whole(q):
        with torch.no_grad():
            _, _, logits, qh, qc = inner_forward(q, cfg, y, z, batch["inputs"], rows)
            return float(R.token_losses(logits, batch["labels"], "stablemax").sum() + qh.sum() + qc.square().sum())
    flat, i, h = p64[w_name].view(-1), 5, 1e-6
    old = float(flat[i])
    flat[i] = old + h
    fp = whole(p64)
    flat[i] = old - h
    fm = whole(p64)
    flat[i] = old
    fd, ad = (fp - fm) / (2 * h), float(grads[w_name].reshape(-1)[i])
    check(abs(fd - ad) > 1e-3 * max(abs(fd), abs(ad)),
          f"the no-grad cycle is not differentiated: d(step)/dw {fd:.6f} by differences of the whole "
          f"step, {ad:.6f} by autograd")

    # 3. Memory: what autograd keeps does not depend on T and grows linearly with n + 1.
    for form in ("attention", "mlp_t"):
        kw = dict(mlp_t=True, pos_encodings="none") if form == "mlp_t" else {}
        sizes = {}
        for T, n in ((1, 2), (3, 2), (5, 2), (3, 1), (3, 3)):
            cfg = _tiny_cfg(H_cycles=T, L_cycles=n, **kw)
            p = _perturbed(cfg, 3)
            batch = _tiny_batch(cfg, 2, 5)
            sizes[(T, n)] = saved_bytes(p, cfg, *_start(p, cfg, 2), batch)[1]
        per_call = sizes[(3, 3)] - sizes[(3, 2)]
        check(sizes[(1, 2)] == sizes[(3, 2)] == sizes[(5, 2)] and sizes[(3, 2)] - sizes[(3, 1)] == per_call > 0,
              f"{form}: autograd keeps {sizes[(3, 2)]} bytes for T=1,3,5 (n=2); {per_call} more per "
              f"latent update")

    # 4. fp32 against fp64: one training step (gradients, loss), then 4 evaluation steps of the
    # EMA weights, each fp32 step started from the fp64 carry (teacher-forced, as golden fixtures
    # should be compared: see "free-running" below).
    for form in ("attention", "mlp_t", "learned"):
        kw = {"attention": {}, "mlp_t": dict(mlp_t=True, pos_encodings="none"),
              "learned": dict(pos_encodings="learned", loss_type="softmax", puzzle_emb_ndim=40)}[form]
        cfg = _tiny_cfg(**kw)
        p = _perturbed(cfg, 3)
        batch = _tiny_batch(cfg, 4, 5)
        trained = {}
        for dtype in (torch.float32, torch.float64):
            tr = TRMTrainer(R.cast_params(p, dtype), cfg, TRMTrainSettings(
                global_batch_size=4, lr=1e-3, lr_warmup_steps=0, total_steps=10, ema=True))
            trained[dtype] = (tr.train_step(batch), tr.eval_params())
        (r32, e32), (r64, e64) = trained[torch.float32], trained[torch.float64]
        e_grad = max(nerr(r32["grads"][n], r64["grads"][n]) for n in r32["grads"])
        e_loss = abs(float(r32["loss"]) - float(r64["loss"])) / abs(float(r64["loss"]))
        forced, free = stepwise_precision(e32, e64, cfg, batch, 4)
        check(forced < 1e-4 and e_grad < 1e-3 and e_loss < 1e-5,
              f"{form}: fp32 vs fp64: training step: worst gradient tensor {e_grad:.1e}, loss "
              f"{e_loss:.1e}; 4 eval steps from the fp64 carry: logits, q, carry {forced:.1e}")
        print(f"      (free-running fp32, logits per step: {', '.join(f'{e:.0e}' for e in free)})")

    # 5. The MLP form: shapes, and its first post-norm is over the sequence axis.
    cfg = _tiny_cfg(mlp_t=True, pos_encodings="none")
    p = _perturbed(cfg, 3)
    h = torch.randn(2, cfg.full_seq, cfg.hidden_size, generator=torch.Generator().manual_seed(0))
    pre = PREFIX + "L_level.layers.0."
    t = token_mixer(p, pre, h, cfg, None)
    ms_seq = t.square().mean(1)  # [B, D]: mean square over the S positions
    check(t.shape == h.shape and torch.allclose(ms_seq, torch.ones_like(ms_seq), atol=1e-3) and
          not torch.allclose(t.square().mean(-1), torch.ones(2, cfg.full_seq), atol=1e-2),
          f"MLP form: token mixer maps [B, S, D] = {tuple(h.shape)} to itself; RMS over S is 1 for "
          f"every (b, d)")
    carry = initial_carry(cfg, _tiny_batch(cfg, 2, 1))
    carry, out = act_segment(p, cfg, carry, _tiny_batch(cfg, 2, 1), training=False)
    check(out.logits.shape == (2, cfg.seq_len, cfg.vocab_size) and carry.zH.shape == (2, cfg.full_seq, 16),
          "MLP form: logits [B, seq_len, V], carry [B, seq_len + P, D]")

    # 6. Halting and loss: halt when q_halt > 0 (training only), no continue target or loss.
    cfg = _tiny_cfg(halt_max_steps=4)
    p = _perturbed(cfg, 3)
    p[PREFIX + "q_head.weight"].zero_()
    batch = _tiny_batch(cfg, 4, 5)
    p[PREFIX + "q_head.bias"].copy_(torch.tensor([0.5, 9.0]))  # q_halt > 0 but < q_continue
    c, o = act_segment(p, cfg, initial_carry(cfg, batch), batch, training=True, gen=torch.Generator())
    loss, metrics, _ = act_loss(cfg, c, o)
    lm = (R.token_losses(o.logits, c.data["labels"], "stablemax") /
          (c.data["labels"] != IGNORE_LABEL_ID).sum(-1, keepdim=True).clamp_min(1)).sum()
    bce = F.binary_cross_entropy_with_logits(o.q_halt, torch.zeros(4), reduction="sum")
    check(bool(c.halted.all()) and o.target_q_continue is None and float(metrics["q_continue_loss"]) == 0 and
          torch.allclose(loss, lm + 0.5 * bce),
          "training halts on q_halt > 0 (not q_halt > q_continue); loss = lm + 0.5 BCE(q_halt), no continue term")
    p[PREFIX + "q_head.bias"].copy_(torch.tensor([0.5, -9.0]))
    c = initial_carry(cfg, batch)
    halted_at = []
    for _ in range(4):
        c, _ = act_segment(p, cfg, c, batch, training=False)
        halted_at.append(bool(c.halted.all()))
    check(halted_at == [False, False, False, True], "evaluation runs all halt_max_steps steps")
    cfg_x = _tiny_cfg(halt_max_steps=6, halt_exploration_prob=1.0)
    c = initial_carry(cfg_x, batch)
    gen = torch.Generator().manual_seed(0)
    c, _ = act_segment(p, cfg_x, c, batch, training=True, gen=gen)
    check(not bool(c.halted.any()), "exploration: with probability 1 no slot halts at step 1 (min_steps >= 2)")

    # 7. EMA arithmetic, and what it covers.
    w = {"a": torch.tensor([1.0, -2.0], dtype=torch.float64)}
    sh = {"a": torch.tensor([0.0, 4.0], dtype=torch.float64)}
    for _ in range(10):
        ema_update(sh, w, 0.9)
    want = 0.9 ** 10 * torch.tensor([0.0, 4.0], dtype=torch.float64) + (1 - 0.9 ** 10) * w["a"]
    check(torch.allclose(sh["a"], want, rtol=0, atol=1e-12), "EMA: 10 updates toward a constant = closed form")
    cfg = _tiny_cfg()
    p = _perturbed(cfg, 3)
    p0 = {n: t.clone() for n, t in p.items()}
    tr = TRMTrainer(p, cfg, TRMTrainSettings(global_batch_size=4, lr=1e-2, lr_warmup_steps=0,
                                             total_steps=10, ema=True, ema_rate=0.999))
    manual = {n: p0[n].clone() for n in adam_names(p0)}
    for k in range(3):
        tr.train_step(_tiny_batch(cfg, 4, 10 + k))
        for n in manual:
            manual[n] = (1.0 - 0.999) * p[n] + 0.999 * manual[n]
    ev = tr.eval_params()
    check(set(tr.shadow) == set(adam_names(p)) and all(torch.equal(tr.shadow[n], manual[n]) for n in manual) and
          torch.equal(ev[PUZZLE_EMB], p[PUZZLE_EMB]) and not torch.equal(ev[PUZZLE_EMB], p0[PUZZLE_EMB]) and
          torch.equal(ev[H_INIT], p[H_INIT]),
          "EMA after 3 steps = (1-mu) w + mu s per step over the nn.Parameters only; evaluation "
          "uses it with the live puzzle embedding and H_init/L_init")

    # 8. Published names map 1:1 (torch.compile prefix, bf16 buffers); safetensors round trip.
    cfg = _tiny_cfg(mlp_t=True, pos_encodings="none")
    p = init_params(cfg, 1)
    sd = {"_orig_mod." + n: (t.to(torch.bfloat16) if n in (H_INIT, L_INIT) else t) for n, t in p.items()}
    q = from_published_state_dict(sd, cfg)
    same = all(torch.equal(q[n], p[n]) for n in p if n not in (H_INIT, L_INIT))
    try:
        from_published_state_dict(dict(sd, **{"_orig_mod.model.inner.H_level.layers.0.x": p[H_INIT]}), cfg)
        refused = False
    except ValueError:
        refused = True
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "t.safetensors")
        save_checkpoint(path, p, cfg)
        p2, cfg2 = load_checkpoint(path)
    check(same and refused and cfg2 == cfg and all(torch.equal(p2[n], p[n]) for n in p),
          "published state dict names map 1:1 (extra tensors refused); checkpoint round trip")

    print("selftest " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--selftest", action="store_true", help="run the self-checks")
    ap.add_argument("--counts", action="store_true", help="print the parameter counts of the published recipes")
    args = ap.parse_args(argv)
    if args.selftest:
        return selftest()
    if args.counts:
        for name, n, row in count_table():
            print(f"{name:24s} {n:>12,} trainable  (+ {row} puzzle-embedding values per identifier, "
                  f"+ H_init, L_init)")
        return 0
    ap.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
