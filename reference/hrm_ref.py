#!/usr/bin/python3
"""hrm_ref.py - the PyTorch reference of the Hierarchical Reasoning Model (HRM, "ACT v1").

Intent: compute, in plain fp32 PyTorch on the CPU, exactly the function that the published
implementation (github.com/sapientinc/HRM: models/hrm/hrm_act_v1.py, models/layers.py,
models/losses.py, models/sparse_embedding.py, pretrain.py, puzzle_dataset.py) computes, so that
the C engine can be checked against it (tests/golden, made by make_fixtures.py beside this file).
Written from the published code (docs/MODEL.md states the model); where they differ this file
follows the published code, and the comment marked "published:" says why.

Everything is functional: the parameters are one dict of tensors keyed by their checkpoint names
(model.inner.H_level.layers.0.self_attn.qkv_proj.weight, ...), the forward pass, the ACT carry,
the loss head, the optimizers and the learning-rate schedule are plain functions over it. The
same code runs in float64 (cast the dict) to measure what fp32 rounding costs.

Also here: a small safetensors reader/writer (F32, I32 and F64 written; BF16 read) with the
checkpoint contract of docs/ARCHITECTURE.md (`__metadata__["hrm.config"]`), the reader of the published
dataset layout, and the reproducible sampler (data_shuffle=false).

Run with Debian's interpreter, which has torch: /usr/bin/python3 hrm_ref.py --selftest
"""
import argparse
import contextlib
import json
import math
import os
import resource
import struct
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

Params = Dict[str, torch.Tensor]

# The published loader maps labels equal to dataset.json's ignore_label_id to this value.
IGNORE_LABEL_ID = -100

# Keys of the `hrm.config` checkpoint metadata (docs/ARCHITECTURE.md "Checkpoint weights"), the published config names.
CONFIG_KEYS = ("hidden_size", "num_heads", "H_layers", "L_layers", "H_cycles", "L_cycles",
               "expansion", "puzzle_emb_ndim", "pos_encodings", "rope_theta", "rms_norm_eps",
               "halt_max_steps", "halt_exploration_prob", "vocab_size", "seq_len",
               "num_puzzle_identifiers")

PREFIX = "model.inner."
PUZZLE_EMB = PREFIX + "puzzle_emb.weights"
H_INIT = PREFIX + "H_init"
L_INIT = PREFIX + "L_init"
NOT_ADAM = (PUZZLE_EMB, H_INIT, L_INIT)  # buffers in the published model, never seen by Adam


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------
@dataclass
class HRMConfig:
    vocab_size: int
    seq_len: int
    num_puzzle_identifiers: int
    hidden_size: int = 512
    num_heads: int = 8
    H_layers: int = 4
    L_layers: int = 4
    H_cycles: int = 2
    L_cycles: int = 2
    expansion: float = 4.0
    puzzle_emb_ndim: int = 512
    pos_encodings: str = "rope"  # rope | learned
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    halt_max_steps: int = 16
    halt_exploration_prob: float = 0.1
    # Published as arch.loss.loss_type (stablemax_cross_entropy | softmax_cross_entropy); a
    # training setting, not part of the checkpoint's hrm.config.
    loss_type: str = "stablemax"

    def __post_init__(self):
        self.loss_type = {"stablemax_cross_entropy": "stablemax",
                          "softmax_cross_entropy": "softmax"}.get(self.loss_type, self.loss_type)
        if self.loss_type not in ("stablemax", "softmax"):
            raise ValueError(f"loss_type: expected stablemax or softmax, got {self.loss_type!r}")
        if self.pos_encodings not in ("rope", "learned"):
            raise ValueError(f"pos_encodings: expected rope or learned, got {self.pos_encodings!r}")
        if self.hidden_size % self.num_heads:
            raise ValueError("hidden_size must be a multiple of num_heads")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def puzzle_emb_len(self) -> int:  # P: prefix rows, ceil(puzzle_emb_ndim / D)
        return -(self.puzzle_emb_ndim // -self.hidden_size)

    @property
    def full_seq(self) -> int:  # S = P + seq_len
        return self.seq_len + self.puzzle_emb_len

    @property
    def inter(self) -> int:  # SwiGLU width: round(expansion * D * 2/3) up to a multiple of 256
        return -(round(self.expansion * self.hidden_size * 2 / 3) // -256) * 256

    def to_metadata(self) -> dict:
        d = asdict(self)
        return {k: d[k] for k in CONFIG_KEYS}

    @classmethod
    def from_metadata(cls, meta: dict, loss_type: str = "stablemax") -> "HRMConfig":
        unknown = set(meta) - set(CONFIG_KEYS)
        if unknown:
            raise ValueError(f"hrm.config: unknown keys {sorted(unknown)}")
        return cls(**meta, loss_type=loss_type)


def param_shapes(cfg: HRMConfig) -> Dict[str, Tuple[int, ...]]:
    """Every checkpoint tensor, in the published module registration order."""
    D, I, V = cfg.hidden_size, cfg.inter, cfg.vocab_size
    shapes = {
        PREFIX + "embed_tokens.embedding_weight": (V, D),
        PREFIX + "lm_head.weight": (V, D),
        PREFIX + "q_head.weight": (2, D),
        PREFIX + "q_head.bias": (2,),
    }
    if cfg.puzzle_emb_ndim > 0:
        shapes[PUZZLE_EMB] = (cfg.num_puzzle_identifiers, cfg.puzzle_emb_ndim)
    if cfg.pos_encodings == "learned":
        shapes[PREFIX + "embed_pos.embedding_weight"] = (cfg.full_seq, D)
    for level, n in (("H_level", cfg.H_layers), ("L_level", cfg.L_layers)):
        for i in range(n):
            b = f"{PREFIX}{level}.layers.{i}."
            shapes[b + "self_attn.qkv_proj.weight"] = (3 * D, D)
            shapes[b + "self_attn.o_proj.weight"] = (D, D)
            shapes[b + "mlp.gate_up_proj.weight"] = (2 * I, D)
            shapes[b + "mlp.down_proj.weight"] = (D, I)
    shapes[H_INIT] = (D,)
    shapes[L_INIT] = (D,)
    return shapes


def adam_names(params: Params) -> List[str]:
    return [n for n in params if n not in NOT_ADAM]


# ---------------------------------------------------------------------------------------------
# Initialisation
# ---------------------------------------------------------------------------------------------
def trunc_normal_(t: torch.Tensor, std: float, gen: torch.Generator) -> torch.Tensor:
    """JAX-style truncated normal on [-2c, 2c] whose real standard deviation is `std`."""
    if std == 0:
        return t.zero_()
    lo, hi = -2.0, 2.0
    sqrt2 = math.sqrt(2.0)
    a, b = math.erf(lo / sqrt2), math.erf(hi / sqrt2)
    z = (b - a) / 2
    pdf = math.exp(-0.5 * 4.0) / math.sqrt(2 * math.pi)  # phi(2) = phi(-2)
    c = std / math.sqrt(1 - (hi * pdf - lo * pdf) / z)
    with torch.no_grad():
        t.uniform_(a, b, generator=gen).erfinv_().mul_(sqrt2 * c).clamp_(lo * c, hi * c)
    return t


def init_params(cfg: HRMConfig, seed: int, shapes: Optional[Dict[str, Tuple[int, ...]]] = None) -> Params:
    """Published init, drawn in the published order from one generator.

    Linear weights [out, in]: truncnormal(1/sqrt(in)); embeddings: truncnormal(1/sqrt(D));
    q_head: drawn then overwritten with weight 0, bias -5; puzzle embeddings 0;
    H_init, L_init: truncnormal(1). `shapes` (name -> shape in construction order) defaults to
    HRM's param_shapes(cfg); trm_ref.py passes TRM's, whose init follows the same rules."""
    gen = torch.Generator().manual_seed(seed)
    D = cfg.hidden_size
    params = {}
    for name, shape in (param_shapes(cfg) if shapes is None else shapes).items():
        t = torch.empty(shape, dtype=torch.float32)
        if name in (H_INIT, L_INIT):
            trunc_normal_(t, 1.0, gen)
        elif name == PUZZLE_EMB or name.endswith(".bias"):
            t.zero_()
        elif name.endswith("embedding_weight"):
            trunc_normal_(t, 1.0 / math.sqrt(D), gen)
        else:
            trunc_normal_(t, 1.0 / math.sqrt(shape[1]), gen)
        params[name] = t
    params[PREFIX + "q_head.weight"].zero_()
    params[PREFIX + "q_head.bias"].fill_(-5.0)
    return params


def count_params(cfg: HRMConfig, shapes: Optional[Dict[str, Tuple[int, ...]]] = None) -> Tuple[int, int]:
    """(trainable parameters as the published model.parameters() counts them,
        all checkpoint tensors including the H_init/L_init/puzzle_emb buffers).
    `shapes` defaults to HRM's param_shapes(cfg)."""
    shapes = param_shapes(cfg) if shapes is None else shapes
    total = sum(math.prod(s) for s in shapes.values())
    trainable = sum(math.prod(s) for n, s in shapes.items() if n not in NOT_ADAM)
    return trainable, total


# ---------------------------------------------------------------------------------------------
# Forward pass of one segment
# ---------------------------------------------------------------------------------------------
def rope_cos_sin(cfg: HRMConfig, dtype: torch.dtype,
                 device: Optional[torch.device] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [S, head_dim], GPT-NeoX layout (the half-width table repeated twice).
    published: computed in float32 whatever the model dtype; here in the model dtype, which is
    float32 for the fixtures and float64 for the precision study."""
    hd = cfg.head_dim
    inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=dtype, device=device) / hd))
    t = torch.arange(cfg.full_seq, dtype=dtype, device=device)
    freqs = torch.outer(t, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rms_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.square().mean(-1, keepdim=True) + eps)


def attention(p: Params, pre: str, h: torch.Tensor, cfg: HRMConfig, cos_sin) -> torch.Tensor:
    B, S, D = h.shape
    H, hd = cfg.num_heads, cfg.head_dim
    qkv = (h @ p[pre + "qkv_proj.weight"].t()).view(B, S, 3 * H, hd)
    q, k, v = qkv[:, :, :H], qkv[:, :, H:2 * H], qkv[:, :, 2 * H:]
    if cos_sin is not None:
        cos, sin = cos_sin[0].unsqueeze(-2), cos_sin[1].unsqueeze(-2)  # [S, 1, hd]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, H, S, hd]
    att = torch.softmax((q @ k.transpose(-2, -1)) * (hd ** -0.5), dim=-1)  # not causal, no mask
    o = (att @ v).transpose(1, 2).reshape(B, S, D)
    return o @ p[pre + "o_proj.weight"].t()


def swiglu(p: Params, pre: str, h: torch.Tensor) -> torch.Tensor:
    gate, up = (h @ p[pre + "gate_up_proj.weight"].t()).chunk(2, dim=-1)
    return (F.silu(gate) * up) @ p[pre + "down_proj.weight"].t()


def block(p: Params, pre: str, h: torch.Tensor, cfg: HRMConfig, cos_sin) -> torch.Tensor:
    """Post-norm transformer block."""
    h = rms_norm(h + attention(p, pre + "self_attn.", h, cfg, cos_sin), cfg.rms_norm_eps)
    return rms_norm(h + swiglu(p, pre + "mlp.", h), cfg.rms_norm_eps)


def level(p: Params, name: str, n_layers: int, z, injection, cfg: HRMConfig, cos_sin):
    h = z + injection
    for i in range(n_layers):
        h = block(p, f"{PREFIX}{name}.layers.{i}.", h, cfg, cos_sin)
    return h


def input_embeddings(p: Params, cfg: HRMConfig, tokens: torch.Tensor,
                     puzzle_rows: Optional[torch.Tensor]) -> torch.Tensor:
    """x [B, S, D] from tokens [B, L] and the batch's puzzle-embedding rows [B, puzzle_emb_ndim]."""
    D = cfg.hidden_size
    e = F.embedding(tokens.long(), p[PREFIX + "embed_tokens.embedding_weight"])
    if cfg.puzzle_emb_ndim > 0:
        pad = cfg.puzzle_emb_len * D - puzzle_rows.shape[-1]
        if pad > 0:
            puzzle_rows = F.pad(puzzle_rows, (0, pad))
        e = torch.cat((puzzle_rows.view(-1, cfg.puzzle_emb_len, D), e), dim=-2)
    if cfg.pos_encodings == "learned":
        # published: the literal 0.707106781, not 1/sqrt(2) to full precision
        e = 0.707106781 * (e + p[PREFIX + "embed_pos.embedding_weight"])
    return math.sqrt(D) * e


def inner_forward(p: Params, cfg: HRMConfig, zH, zL, tokens, puzzle_rows):
    """One segment: N x T recurrent updates, gradient only through the last L and H updates.
    Returns (new zH, new zL) detached, logits [B, L, V], q_halt [B], q_continue [B]."""
    cos_sin = rope_cos_sin(cfg, zH.dtype, zH.device) if cfg.pos_encodings == "rope" else None
    x = input_embeddings(p, cfg, tokens, puzzle_rows)
    N, T = cfg.H_cycles, cfg.L_cycles
    with torch.no_grad():
        for n in range(N):
            for t in range(T):
                if not (n == N - 1 and t == T - 1):
                    zL = level(p, "L_level", cfg.L_layers, zL, zH + x, cfg, cos_sin)
            if n != N - 1:
                zH = level(p, "H_level", cfg.H_layers, zH, zL, cfg, cos_sin)
    assert not zH.requires_grad and not zL.requires_grad
    zL = level(p, "L_level", cfg.L_layers, zL, zH + x, cfg, cos_sin)
    zH = level(p, "H_level", cfg.H_layers, zH, zL, cfg, cos_sin)
    logits = (zH @ p[PREFIX + "lm_head.weight"].t())[:, cfg.puzzle_emb_len:]
    q = zH[:, 0] @ p[PREFIX + "q_head.weight"].t() + p[PREFIX + "q_head.bias"]
    return zH.detach(), zL.detach(), logits, q[..., 0], q[..., 1]


# ---------------------------------------------------------------------------------------------
# ACT: the carry and one segment for the whole batch
# ---------------------------------------------------------------------------------------------
@dataclass
class Carry:
    zH: torch.Tensor          # [B, S, D]
    zL: torch.Tensor          # [B, S, D]
    steps: torch.Tensor       # int32 [B]: segments run on the slot's current example
    halted: torch.Tensor      # bool [B]
    data: Dict[str, torch.Tensor]  # the slots' current examples: inputs, labels, puzzle_identifiers


def initial_carry(cfg: HRMConfig, batch: Dict[str, torch.Tensor], dtype=torch.float32) -> Carry:
    """All slots halted, so the first segment resets every one of them. (published: zH, zL and
    data start as torch.empty; their contents are never read.)"""
    B = batch["inputs"].shape[0]
    dev = batch["inputs"].device
    z = torch.zeros(B, cfg.full_seq, cfg.hidden_size, dtype=dtype, device=dev)
    return Carry(z, z.clone(), torch.zeros(B, dtype=torch.int32, device=dev), torch.ones(B, dtype=torch.bool, device=dev),
                 {k: torch.zeros_like(v) for k, v in batch.items()})


@dataclass
class SegmentOut:
    logits: torch.Tensor
    q_halt: torch.Tensor
    q_continue: torch.Tensor
    target_q_continue: Optional[torch.Tensor]
    puzzle_rows: Optional[torch.Tensor]  # leaf [B, puzzle_emb_ndim] that receives the gradient


def act_segment(p: Params, cfg: HRMConfig, carry: Carry, batch: Dict[str, torch.Tensor],
                training: bool, gen: Optional[torch.Generator] = None, inner=None,
                halt_on_q_halt: bool = False) -> Tuple[Carry, SegmentOut]:
    """One ACT segment. inner: the inner forward (default HRM's inner_forward; trm_ref passes
    TRM's, same signature). halt_on_q_halt: training halts on q_halt > 0 and there is no second
    forward and no continue target (TRM's no_ACT_continue = True); otherwise HRM's
    q_halt > q_continue and the Q target from the new carry."""
    inner = inner or inner_forward
    halted = carry.halted
    zH = torch.where(halted.view(-1, 1, 1), p[H_INIT], carry.zH)
    zL = torch.where(halted.view(-1, 1, 1), p[L_INIT], carry.zL)
    steps = torch.where(halted, torch.zeros_like(carry.steps), carry.steps)
    data = {k: torch.where(halted.view((-1,) + (1,) * (batch[k].ndim - 1)), batch[k], v)
            for k, v in carry.data.items()}

    puzzle_rows = None
    if cfg.puzzle_emb_ndim > 0:
        # published (CastedSparseEmbedding): training copies the rows into a per-slot leaf
        # (local_weights) whose gradient SignSGD consumes; evaluation gathers without gradient.
        puzzle_rows = p[PUZZLE_EMB][data["puzzle_identifiers"].long()].detach()
        if training:
            puzzle_rows.requires_grad_(True)

    zH, zL, logits, q_halt, q_cont = inner(p, cfg, zH, zL, data["inputs"], puzzle_rows)

    target = None
    with torch.no_grad():
        steps = steps + 1
        is_last = steps >= cfg.halt_max_steps
        new_halted = is_last
        if training and cfg.halt_max_steps > 1:
            new_halted = new_halted | ((q_halt > 0) if halt_on_q_halt else (q_halt > q_cont))
            # Exploration: with probability p a slot may not halt before min_halt_steps, drawn
            # uniformly in [2, halt_max_steps]. Drawn every segment (as published) even when p = 0.
            explore = torch.rand(q_halt.shape, generator=gen, dtype=q_halt.dtype,
                                 device=q_halt.device) < cfg.halt_exploration_prob
            min_steps = explore * torch.randint(2, cfg.halt_max_steps + 1, steps.shape, generator=gen,
                                                dtype=steps.dtype, device=steps.device)
            new_halted = new_halted & (steps >= min_steps)
            if not halt_on_q_halt:
                # Q target from a second forward from the NEW carry (no replay buffer, no target net).
                rows = puzzle_rows.detach() if puzzle_rows is not None else None
                nq_halt, nq_cont = inner(p, cfg, zH, zL, data["inputs"], rows)[3:]
                target = torch.sigmoid(torch.where(is_last, nq_halt, torch.maximum(nq_halt, nq_cont)))

    return (Carry(zH, zL, steps, new_halted, data),
            SegmentOut(logits, q_halt, q_cont, target, puzzle_rows))


# ---------------------------------------------------------------------------------------------
# Loss head (published ACTLossHead)
# ---------------------------------------------------------------------------------------------
def log_stablemax(x: torch.Tensor) -> torch.Tensor:
    # published: s(x) = 1/(1 - x + 1e-30) for x < 0; the 1e-30 never changes a float64 result
    # since 1 - x >= 1 there, it only keeps the unused branch finite.
    s = torch.where(x < 0, 1 / (1 - x + 1e-30), x + 1)
    return torch.log(s / s.sum(-1, keepdim=True))


def token_losses(logits: torch.Tensor, labels: torch.Tensor, loss_type: str) -> torch.Tensor:
    """-log p(label) per position, 0 at ignored positions."""
    valid = labels != IGNORE_LABEL_ID
    if loss_type == "stablemax":
        # published: in float64 (float32 only on Apple MPS)
        logp = log_stablemax(logits.to(torch.float64))
        picked = logp.gather(-1, torch.where(valid, labels, 0).long().unsqueeze(-1)).squeeze(-1)
        return -torch.where(valid, picked, torch.zeros_like(picked))
    # published: F.cross_entropy on float32 logits (float64 here only in the precision study)
    ce_dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32
    return F.cross_entropy(logits.to(ce_dtype).reshape(-1, logits.shape[-1]), labels.long().reshape(-1),
                           ignore_index=IGNORE_LABEL_ID, reduction="none").view(labels.shape)


def act_loss(cfg: HRMConfig, carry: Carry, out: SegmentOut):
    """Returns (loss: lm + 0.5 (q_halt + q_continue), summed over the batch, not yet divided by
    the global batch size; metrics: the published sums; extras)."""
    labels = carry.data["labels"]
    with torch.no_grad():
        mask = labels != IGNORE_LABEL_ID
        counts = mask.sum(-1)
        divisor = counts.clamp_min(1).unsqueeze(-1)
        is_correct = mask & (torch.argmax(out.logits, dim=-1) == labels)
        seq_correct = is_correct.sum(-1) == counts  # true for a sequence with no valid label
        valid = carry.halted & (counts > 0)
        metrics = {
            "count": valid.sum(),
            "accuracy": torch.where(valid, (is_correct.to(torch.float32) / divisor).sum(-1), 0).sum(),
            "exact_accuracy": (valid & seq_correct).sum(),
            "q_halt_accuracy": (valid & ((out.q_halt >= 0) == seq_correct)).sum(),
            "steps": torch.where(valid, carry.steps, 0).sum(),
        }
    lm_loss = (token_losses(out.logits, labels, cfg.loss_type) / divisor).sum()
    q_halt_loss = F.binary_cross_entropy_with_logits(out.q_halt, seq_correct.to(out.q_halt.dtype),
                                                     reduction="sum")
    q_cont_loss = torch.zeros((), dtype=out.q_halt.dtype, device=out.q_halt.device)
    if out.target_q_continue is not None:
        q_cont_loss = F.binary_cross_entropy_with_logits(out.q_continue, out.target_q_continue,
                                                         reduction="sum")
    metrics.update(lm_loss=lm_loss.detach(), q_halt_loss=q_halt_loss.detach(),
                   q_continue_loss=q_cont_loss.detach())
    loss = lm_loss + 0.5 * (q_halt_loss + q_cont_loss)
    return loss, metrics, {"seq_correct": seq_correct, "counts": counts, "correct": is_correct.sum(-1)}


def reduce_metrics(metrics: Dict[str, torch.Tensor], global_batch_size: int) -> Dict[str, float]:
    """pretrain.py's logging: losses / global batch size, everything else / max(count, 1)."""
    count = max(float(metrics["count"]), 1.0)
    return {k: float(v) / (global_batch_size if k.endswith("loss") else count)
            for k, v in metrics.items()}


# ---------------------------------------------------------------------------------------------
# Optimizers and schedule
# ---------------------------------------------------------------------------------------------
def lr_at(step: int, base_lr: float, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """pretrain.py's cosine_schedule_with_warmup_lr_lambda. The trainer increments its step
    counter before the optimizer step, so the first optimizer step uses step = 1."""
    if step < warmup_steps:
        return base_lr * float(step) / float(max(1, warmup_steps))
    progress = float(step - warmup_steps) / float(max(1, total_steps - warmup_steps))
    return base_lr * (min_ratio + max(0.0, (1 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))))


@dataclass
class AdamState:
    m: Params = field(default_factory=dict)
    v: Params = field(default_factory=dict)
    t: int = 0


def adam_atan2_step(p: Params, grads: Params, st: AdamState, lr: float, wd: float,
                    b1: float, b2: float) -> None:
    """The adam-atan2 package's CUDA kernel (what the published runs used):
    p *= 1 - lr wd; m = lerp(m, g, 1-b1); v = lerp(v, g^2, 1-b2);
    p -= lr * atan2(m / (1 - b1^t), sqrt(v) / sqrt(1 - b2^t)); bias corrections in double."""
    st.t += 1
    bc1 = 1.0 - b1 ** st.t
    bc2_sqrt = math.sqrt(1.0 - b2 ** st.t)
    with torch.no_grad():
        for name, g in grads.items():
            w = p[name]
            if name not in st.m:
                st.m[name] = torch.zeros_like(w)
                st.v[name] = torch.zeros_like(w)
            m, v = st.m[name], st.v[name]
            w.mul_(1.0 - lr * wd)
            m.lerp_(g, 1.0 - b1)
            v.lerp_(g * g, 1.0 - b2)
            w.sub_(lr * torch.atan2(m * (1.0 / bc1), v.sqrt() / bc2_sqrt))


def signsgd_rows(weights: torch.Tensor, ids: torch.Tensor, grad_rows: torch.Tensor,
                 lr: float, wd: float) -> None:
    """Published sparse-embedding SignSGD: sum the rows of repeated ids, then for each id present
    w = w (1 - lr wd) - lr sign(g)  (sign(0) = 0)."""
    with torch.no_grad():
        uniq, inv = ids.long().unique(return_inverse=True)
        g = torch.zeros(uniq.shape[0], grad_rows.shape[1], dtype=grad_rows.dtype, device=grad_rows.device)
        g.index_add_(0, inv, grad_rows)
        weights[uniq] = weights[uniq] * (1.0 - lr * wd) - lr * torch.sign(g)


@dataclass
class TrainSettings:
    global_batch_size: int
    lr: float = 1e-4
    lr_min_ratio: float = 1.0
    lr_warmup_steps: int = 2000
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    puzzle_emb_lr: float = 1e-2
    puzzle_emb_weight_decay: float = 0.1
    total_steps: int = 1
    seed: int = 0


class Trainer:
    """One optimizer step per segment, the ACT carry kept across steps (pretrain.py).
    `segment` replaces act_segment (same signature; trm_ref.py passes TRM's); None looks
    act_segment up in this module at each step, as the bf16 bench needs."""

    def __init__(self, p: Params, cfg: HRMConfig, s: TrainSettings, segment=None):
        self.p, self.cfg, self.s = p, cfg, s
        self.segment = segment
        self.adam = AdamState()
        self.step = 0
        self.carry: Optional[Carry] = None
        self.gen = torch.Generator().manual_seed(s.seed)

    def train_step(self, batch: Dict[str, torch.Tensor]) -> dict:
        s, p = self.s, self.p
        self.step += 1
        if self.carry is None:
            self.carry = initial_carry(self.cfg, batch, p[H_INIT].dtype)
        adam_params = {n: p[n].requires_grad_(True) for n in adam_names(p)}
        segment = self.segment if self.segment is not None else act_segment
        self.carry, out = segment(p, self.cfg, self.carry, batch, training=True, gen=self.gen)
        loss, metrics, extras = act_loss(self.cfg, self.carry, out)
        names = list(adam_params)
        leaves = [adam_params[n] for n in names]
        if out.puzzle_rows is not None:
            leaves.append(out.puzzle_rows)
        grads = torch.autograd.grad((1.0 / s.global_batch_size) * loss, leaves)
        for n in names:
            p[n].requires_grad_(False)
        adam_grads = dict(zip(names, grads))
        lr = lr_at(self.step, s.lr, s.lr_warmup_steps, s.total_steps, s.lr_min_ratio)
        lr_e = lr_at(self.step, s.puzzle_emb_lr, s.lr_warmup_steps, s.total_steps, s.lr_min_ratio)
        puzzle_grad = None
        if out.puzzle_rows is not None:
            puzzle_grad = grads[-1]
            signsgd_rows(p[PUZZLE_EMB], self.carry.data["puzzle_identifiers"], puzzle_grad,
                         lr_e, s.puzzle_emb_weight_decay)
        adam_atan2_step(p, adam_grads, self.adam, lr, s.weight_decay, s.beta1, s.beta2)
        return dict(loss=loss.detach(), metrics=metrics, extras=extras, out=out, lr=lr, lr_e=lr_e,
                    grads=adam_grads, puzzle_grad=puzzle_grad, carry=self.carry)


def evaluate_segments(p: Params, cfg: HRMConfig, batch: Dict[str, torch.Tensor], segments: int,
                      segment=None):
    """Evaluation: every slot runs `segments` segments from a fresh carry (halting only at
    halt_max_steps, which does not stop the loop here: more segments trade time for accuracy).
    `segment` replaces act_segment (trm_ref.py passes TRM's)."""
    segment = segment if segment is not None else act_segment
    carry = initial_carry(cfg, batch, p[H_INIT].dtype)
    results = []
    with torch.no_grad():
        for _ in range(segments):
            carry, out = segment(p, cfg, carry, batch, training=False)
            loss, metrics, extras = act_loss(cfg, carry, out)
            results.append(dict(loss=loss, metrics=metrics, extras=extras, out=out,
                                halted=carry.halted.clone(), steps=carry.steps.clone()))
    return results


# ---------------------------------------------------------------------------------------------
# Safetensors (F32, F64, I32 written; BF16 also read) and the checkpoint contract
# ---------------------------------------------------------------------------------------------
_ST_DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64,
              "U8": np.uint8, "BF16": np.uint16}
_NP_TO_ST = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64",
             np.dtype(np.int32): "I32", np.dtype(np.int64): "I64", np.dtype(np.uint8): "U8"}


def _to_numpy(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu()
        if t.dtype == torch.bool:
            t = t.to(torch.int32)
        t = t.numpy()
    return np.ascontiguousarray(t)


def save_safetensors(path: str, tensors: Dict[str, object], metadata: Optional[Dict[str, str]] = None):
    """Tensors in the given order, 8-byte aligned header (padded with spaces), little endian."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        a = _to_numpy(t)
        if a.dtype not in _NP_TO_ST:
            raise TypeError(f"{name}: dtype {a.dtype} not supported")
        data = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _NP_TO_ST[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hdr = json.dumps(header, separators=(",", ":")).encode()
    hdr += b" " * (-len(hdr) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hdr)))
        f.write(hdr)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def load_safetensors(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Returns (tensors, metadata). BF16 is widened to float32."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: truncated safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError(f"{path}: header length {n} past the end of the file")
    header = json.loads(raw[8:8 + n].decode())
    meta = header.pop("__metadata__", {}) or {}
    base, out = 8 + n, {}
    for name, info in header.items():
        dt = info["dtype"]
        if dt not in _ST_DTYPES:
            raise ValueError(f"{path}: {name}: dtype {dt} not supported")
        b, e = info["data_offsets"]
        shape = tuple(info["shape"])
        np_dt = np.dtype(_ST_DTYPES[dt]).newbyteorder("<")
        if base + e > len(raw) or e - b != math.prod(shape) * np_dt.itemsize:
            raise ValueError(f"{path}: {name}: bad data_offsets {b}..{e} for shape {shape}")
        a = np.frombuffer(raw, dtype=np_dt, count=math.prod(shape), offset=base + b).reshape(shape)
        if dt == "BF16":
            a = (a.astype(np.uint32) << 16).view(np.float32)
        out[name] = torch.from_numpy(a.astype(a.dtype.newbyteorder("="), copy=True))
    return out, meta


def save_checkpoint(path: str, p: Params, cfg: HRMConfig, extra_meta: Optional[dict] = None):
    meta = {"hrm.config": json.dumps(cfg.to_metadata())}
    if extra_meta:
        meta.update(extra_meta)
    save_safetensors(path, {n: p[n].to(torch.float32) for n in param_shapes(cfg)}, meta)


def load_checkpoint(path: str, loss_type: str = "stablemax") -> Tuple[Params, HRMConfig]:
    tensors, meta = load_safetensors(path)
    if "hrm.config" not in meta:
        raise ValueError(f"{path}: no hrm.config in the safetensors metadata")
    cfg = HRMConfig.from_metadata(json.loads(meta["hrm.config"]), loss_type)
    tensors = {(n[len("_orig_mod."):] if n.startswith("_orig_mod.") else n): t for n, t in tensors.items()}
    p = {}
    for n, shape in param_shapes(cfg).items():
        if n not in tensors:
            raise ValueError(f"{path}: missing tensor {n}")
        if tuple(tensors[n].shape) != shape:
            raise ValueError(f"{path}: {n}: shape {tuple(tensors[n].shape)}, expected {shape}")
        p[n] = tensors[n].to(torch.float32).contiguous()
    return p, cfg


# ---------------------------------------------------------------------------------------------
# Datasets: the published layout, and the reproducible sampler
# ---------------------------------------------------------------------------------------------
FIELDS = ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")


def load_split(root: str, split: str, set_name: Optional[str] = None) -> dict:
    with open(os.path.join(root, split, "dataset.json")) as f:
        meta = json.load(f)
    set_name = set_name or meta["sets"][0]
    d = {k: np.load(os.path.join(root, split, f"{set_name}__{k}.npy")) for k in FIELDS}
    d["meta"] = meta
    # example i belongs to puzzle searchsorted(puzzle_indices, i, right) - 1
    n = d["inputs"].shape[0]
    d["example_puzzle"] = np.searchsorted(d["puzzle_indices"], np.arange(n), side="right") - 1
    return d


def collate(ds: dict, idx: np.ndarray) -> Dict[str, torch.Tensor]:
    """Examples idx -> int32 tensors; labels equal to ignore_label_id become IGNORE_LABEL_ID."""
    labels = ds["labels"][idx].astype(np.int32)
    ign = ds["meta"].get("ignore_label_id")
    if ign is not None:
        labels[labels == ign] = IGNORE_LABEL_ID
    return {"inputs": torch.from_numpy(ds["inputs"][idx].astype(np.int32)),
            "labels": torch.from_numpy(labels),
            "puzzle_identifiers": torch.from_numpy(
                ds["puzzle_identifiers"][ds["example_puzzle"][idx]].astype(np.int32))}


def reproducible_batch_indices(n_examples: int, batch_size: int, step_index: int) -> np.ndarray:
    """data_shuffle=false: training step k (from 0) takes the next batch_size consecutive
    examples in file order, wrapping around."""
    return (step_index * batch_size + np.arange(batch_size)) % n_examples


def eval_batches(ds: dict, batch_size: int):
    """Published test-mode batching: consecutive examples; the last batch is padded with
    pad_id inputs, ignored labels and blank_identifier_id. Yields (batch, number of real examples)."""
    n = ds["inputs"].shape[0]
    meta = ds["meta"]
    for start in range(0, n, batch_size):
        idx = np.arange(start, min(start + batch_size, n))
        batch = collate(ds, idx)
        pad = batch_size - idx.size
        if pad:
            fill = {"inputs": meta["pad_id"], "labels": IGNORE_LABEL_ID,
                    "puzzle_identifiers": meta["blank_identifier_id"]}
            batch = {k: torch.cat((v, torch.full((pad,) + v.shape[1:], fill[k], dtype=v.dtype)))
                     for k, v in batch.items()}
        yield batch, idx.size


def total_train_steps(meta: dict, epochs: int, global_batch_size: int) -> int:
    """pretrain.py's estimate."""
    return int(epochs * meta["total_groups"] * meta["mean_puzzle_examples"] / global_batch_size)


# ---------------------------------------------------------------------------------------------
# Self-checks
# ---------------------------------------------------------------------------------------------
def cast_params(p: Params, dtype) -> Params:
    return {n: t.detach().to(dtype).clone() for n, t in p.items()}


def nerr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Normalised error max|a-b| / max|b| (0 when both are 0)."""
    a, b = a.double(), b.double()
    den = b.abs().max().item()
    num = (a - b).abs().max().item()
    return num / den if den > 0 else num


def _tiny_cfg(**kw) -> HRMConfig:
    base = dict(vocab_size=11, seq_len=16, num_puzzle_identifiers=5, hidden_size=32, num_heads=2,
                H_layers=1, L_layers=2, H_cycles=2, L_cycles=2, expansion=2, puzzle_emb_ndim=32,
                halt_max_steps=4, halt_exploration_prob=0.0)
    base.update(kw)
    return HRMConfig(**base)


def _tiny_batch(cfg: HRMConfig, B: int, seed: int, ignored: int = 3) -> Dict[str, torch.Tensor]:
    """Random tokens and labels (the first `ignored` positions ignored) and puzzle ids; trm_ref's
    self-test uses it too (any config with vocab_size, seq_len, num_puzzle_identifiers)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(1, cfg.vocab_size, (B, cfg.seq_len), generator=g, dtype=torch.int32)
    labels[:, :ignored] = IGNORE_LABEL_ID
    return {"inputs": torch.randint(0, cfg.vocab_size, (B, cfg.seq_len), generator=g, dtype=torch.int32),
            "labels": labels,
            "puzzle_identifiers": torch.randint(0, cfg.num_puzzle_identifiers, (B,), generator=g,
                                                dtype=torch.int32)}


def _perturbed(cfg: HRMConfig, seed: int, init=None) -> Params:
    """Init (`init`, default HRM's init_params; trm_ref passes TRM's), then a nonzero Q head and
    puzzle embedding so that every tensor carries gradient."""
    p = (init or init_params)(cfg, seed)
    g = torch.Generator().manual_seed(seed + 1)
    trunc_normal_(p[PREFIX + "q_head.weight"], 1.0 / math.sqrt(cfg.hidden_size), g)
    p[PREFIX + "q_head.bias"].zero_()
    if cfg.puzzle_emb_ndim:
        trunc_normal_(p[PUZZLE_EMB], 0.5, g)
    return p


def _segment_grads(p: Params, cfg: HRMConfig, zH, zL, batch) -> Tuple[Params, int]:
    """Gradients of the segment loss w.r.t. the Adam params, and the bytes autograd saved."""
    saved = [0]

    def pack(t):
        saved[0] += t.numel() * t.element_size()
        return t

    adam = {n: p[n].detach().clone().requires_grad_(True) for n in adam_names(p)}
    q = dict(p, **adam)
    rows = p[PUZZLE_EMB][batch["puzzle_identifiers"].long()]
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        _, _, logits, qh, qc = inner_forward(q, cfg, zH, zL, batch["inputs"], rows)
        labels = batch["labels"]
        loss = (token_losses(logits, labels, cfg.loss_type).sum() + qh.sum() + qc.square().sum())
    names = list(adam)
    grads = torch.autograd.grad(loss, [adam[n] for n in names])
    return dict(zip(names, grads)), saved[0]


def _implicit_device_calls() -> List[str]:
    """The torch factory calls made without device= during a tiny model's training step and
    evaluation segment (on the CPU, where a missing device= goes unnoticed; on a GPU it would make
    a CPU tensor): where each was called, empty when there is none."""
    import inspect
    names = ("zeros", "ones", "empty", "full", "arange", "rand", "randn", "randint", "tensor", "eye", "linspace")
    found: List[str] = []
    saved = {n: getattr(torch, n) for n in names}

    def guard(name, fn):
        def wrapped(*args, **kwargs):
            if "device" not in kwargs:
                caller = inspect.stack()[1]
                found.append(f"torch.{name} at line {caller.lineno} ({caller.function})")
            return fn(*args, **kwargs)
        return wrapped

    cfg = _tiny_cfg()
    p = _perturbed(cfg, 3)
    batch = _tiny_batch(cfg, 4, 5)
    tr = Trainer(p, cfg, TrainSettings(global_batch_size=4, lr=1e-3, lr_warmup_steps=0, total_steps=10))
    for n in names:
        setattr(torch, n, guard(n, saved[n]))
    try:
        tr.train_step(batch)
        with torch.no_grad():
            carry = initial_carry(cfg, batch, p[H_INIT].dtype)
            carry, out = act_segment(p, cfg, carry, batch, training=False)
            act_loss(cfg, carry, out)
    finally:
        for n, fn in saved.items():
            setattr(torch, n, fn)
    return sorted(set(found))


def selftest() -> int:
    torch.set_num_threads(1)
    ok = True

    def check(cond: bool, what: str):
        nonlocal ok
        print(("ok    " if cond else "FAIL  ") + what)
        ok &= bool(cond)

    # 1. Parameter count of the published Sudoku model.
    sudoku = HRMConfig(vocab_size=11, seq_len=81, num_puzzle_identifiers=1)
    trainable, total = count_params(sudoku)
    check(trainable == 27_275_266,
          f"Sudoku model: {trainable:,} trainable parameters (published 27,275,266); "
          f"{total:,} values in all checkpoint tensors (+H_init, L_init {2 * 512}, puzzle_emb {512})")
    p_big = init_params(sudoku, 0)
    check(sum(t.numel() for n, t in p_big.items() if n not in NOT_ADAM) == trainable,
          "init_params allocates exactly the counted tensors")
    del p_big

    # 2. Truncated normal: real std equals the requested std.
    t = trunc_normal_(torch.empty(400_000, dtype=torch.float64), 0.3, torch.Generator().manual_seed(1))
    check(abs(t.std().item() / 0.3 - 1) < 5e-3 and t.abs().max().item() <= 2 * 1.13684 * 0.3 + 1e-6,
          f"truncnormal(0.3): std {t.std().item():.5f}, max |x| {t.abs().max().item():.4f}")

    # 3. One-step gradient: only the last L and H updates carry gradient.
    cfg = _tiny_cfg()
    p = _perturbed(cfg, 3)
    batch = _tiny_batch(cfg, 4, 5)
    B, S, D = 4, cfg.full_seq, cfg.hidden_size
    zH = p[H_INIT].expand(B, S, D).clone()
    zL = p[L_INIT].expand(B, S, D).clone()
    g22, saved22 = _segment_grads(p, cfg, zH, zL, batch)
    # same gradient from a 1x1 model started at the carry the 2x2 no-grad part reaches
    with torch.no_grad():
        cos_sin = rope_cos_sin(cfg, torch.float32)
        x = input_embeddings(p, cfg, batch["inputs"], p[PUZZLE_EMB][batch["puzzle_identifiers"].long()])
        h, l = zH, zL
        for n in range(cfg.H_cycles):
            for t_ in range(cfg.L_cycles):
                if not (n == cfg.H_cycles - 1 and t_ == cfg.L_cycles - 1):
                    l = level(p, "L_level", cfg.L_layers, l, h + x, cfg, cos_sin)
            if n != cfg.H_cycles - 1:
                h = level(p, "H_level", cfg.H_layers, h, l, cfg, cos_sin)
    g11, saved11 = _segment_grads(p, HRMConfig(**dict(asdict(cfg), H_cycles=1, L_cycles=1)), h, l, batch)
    err = max(nerr(g22[n], g11[n]) for n in g22)
    check(err < 1e-6, f"2x2 gradient == 1x1 gradient from the 2x2 carry (max normalised diff {err:.1e})")
    _, saved88 = _segment_grads(p, HRMConfig(**dict(asdict(cfg), H_cycles=8, L_cycles=8)), zH, zL, batch)
    check(saved22 == saved88 == saved11,
          f"autograd saves {saved22} bytes for 2x2, {saved88} for 8x8 (independent of cycles)")

    # 4. float32 vs float64: one training step from the same weights.
    def one_step(dtype):
        q = cast_params(p, dtype)
        tr = Trainer(q, cfg, TrainSettings(global_batch_size=4, lr=1e-3, lr_warmup_steps=0,
                                           total_steps=10, puzzle_emb_lr=1e-2))
        r = tr.train_step(batch)
        return r
    r32, r64 = one_step(torch.float32), one_step(torch.float64)
    e_logits = nerr(r32["out"].logits, r64["out"].logits)
    e_grad = max(nerr(r32["grads"][n], r64["grads"][n]) for n in r32["grads"])
    e_loss = abs(float(r32["loss"]) - float(r64["loss"])) / abs(float(r64["loss"]))
    check(e_logits < 1e-4 and e_grad < 1e-3 and e_loss < 1e-5,
          f"fp32 vs fp64: logits {e_logits:.1e}, worst gradient tensor {e_grad:.1e}, loss {e_loss:.1e}")

    # 5. Loss pieces: stablemax matches its definition; the published lr schedule.
    x = torch.tensor([[-2.0, 0.0, 3.0]], dtype=torch.float64)
    s = torch.tensor([1 / 3, 1.0, 4.0], dtype=torch.float64)
    check(torch.allclose(log_stablemax(x)[0], torch.log(s / s.sum())), "stablemax log-probabilities")
    check(lr_at(1, 1.0, 4, 10, 0.0) == 0.25 and lr_at(4, 1.0, 4, 10, 0.0) == 1.0 and
          abs(lr_at(10, 1.0, 4, 10, 0.1) - 0.1) < 1e-12, "warmup + cosine schedule")

    # 6. AdamATan2 against the formula written out, SignSGD with a repeated id.
    w = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    g = torch.tensor([0.1, 0.0, -3.0], dtype=torch.float64)
    st = AdamState()
    pp = {"w": w.clone()}
    adam_atan2_step(pp, {"w": g}, st, 0.01, 0.5, 0.9, 0.95)
    m, v = 0.1 * g, 0.05 * g * g
    want = w * (1 - 0.005) - 0.01 * torch.atan2(m / 0.1, v.sqrt() / math.sqrt(0.05))
    check(torch.allclose(pp["w"], want), "AdamATan2 step 1")
    W = torch.zeros(3, 2)
    signsgd_rows(W, torch.tensor([2, 0, 2]), torch.tensor([[1.0, -1.0], [0.0, 2.0], [-3.0, 0.5]]), 0.1, 0.0)
    check(torch.equal(W, torch.tensor([[0.0, -0.1], [0.0, 0.0], [0.1, 0.1]])), "SignSGD sums repeated ids")

    # 7. Safetensors round trip, BF16 read, checkpoint contract.
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "c.safetensors")
        save_checkpoint(path, p, cfg)
        q, cfg2 = load_checkpoint(path)
        check(cfg2 == HRMConfig(**dict(asdict(cfg), loss_type="stablemax")) and
              all(torch.equal(q[n], p[n]) for n in p), "checkpoint round trip (names, shapes, config)")
        a = torch.tensor([1.0, -2.5, 3.140625])
        bf = (a.view(torch.int32) >> 16).to(torch.int32).numpy().astype(np.uint16)
        hdr = json.dumps({"x": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}}).encode()
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(hdr)) + hdr + bf.tobytes())
        check(torch.equal(load_safetensors(path)[0]["x"], a), "BF16 read")

    # 9. Device-explicit: no tensor of a training step or an evaluation segment is made without
    # naming its device (--bench --device cuda runs without a default-device context).
    missing = _implicit_device_calls()
    check(not missing, "every tensor of a training step and an evaluation segment names its device" +
          (f"; not: {', '.join(missing)}" if missing else ""))

    print("selftest " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


# The configurations of `hrm bench train` (bench/bench_train.c): (a) of issue 3 and the published
# Sudoku model. Both: expansion 4, vocab 11, seq 81, 1 puzzle identifier, puzzle_emb_ndim = hidden,
# RoPE, halt_max_steps 16, exploration 0.1, H_cycles = L_cycles = 2.
BENCH_MODELS = {
    "small": dict(hidden=128, heads=2, layers=2, batch=32),
    "sudoku": dict(hidden=512, heads=8, layers=4, batch=8),
}


BENCH_DTYPES = ("fp32", "tf32", "bf16")


def _timed(fn, warmup: int, min_steps: int, min_time: float, sync) -> List[float]:
    """warmup untimed calls, then calls until min_steps calls and min_time seconds: the times.
    sync() waits for the device, before and after each timed call: a GPU runs asynchronously, so
    without it the clock would time the kernel launches, not the work."""
    for _ in range(warmup):
        fn()
    times: List[float] = []
    while len(times) < min_steps or sum(times) < min_time:
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return times


def _median(x: List[float]) -> float:
    y = sorted(x)
    n = len(y)
    return y[n // 2] if n % 2 else 0.5 * (y[n // 2 - 1] + y[n // 2])


def bench_device(name: str) -> torch.device:
    """The torch device for --device (cpu, cuda, cuda:1, mps, xpu, ...), or ValueError with one line
    that says why it cannot be used."""
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"--device {name}: not a device this torch ({torch.__version__}) knows: "
                         f"{str(e).splitlines()[0]}")
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda" and torch.version.cuda is None and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available: this torch ({torch.__version__}) "
                         f"was built without CUDA")
    backend = getattr(torch.backends, dev.type, None) if dev.type == "mps" else getattr(torch, dev.type, None)
    if backend is None or not hasattr(backend, "is_available") or not backend.is_available():
        raise ValueError(f"--device {name}: {dev.type.upper()} is not available to this torch "
                         f"({torch.__version__}): no such device found")
    count = getattr(backend, "device_count", lambda: 1)()
    if dev.index is not None and dev.index >= count:
        raise ValueError(f"--device {name}: this machine has {count} {dev.type} device(s)")
    # Every tensor the model makes names its device (the selftest checks it): a default-device
    # context (`with torch.device(dev)`) would put a Python-level mode on every torch call, which
    # made a small add take 18 us instead of 15 on an H200 with torch 2.11 and understated torch's
    # rates at small batches (2026-12).
    return dev


def _set_precision(dtype: str) -> None:
    """fp32: true fp32 matmuls everywhere; tf32: TF32 tensor-core matmuls where the device has them
    (float32_matmul_precision 'high'); bf16: fp32 outside the autocast regions."""
    tf32 = dtype == "tf32"
    with warnings.catch_warnings():  # torch >= 2.9 warns that these settings have newer spellings
        warnings.simplefilter("ignore")
        torch.set_float32_matmul_precision("high" if tf32 else "highest")
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32


@contextlib.contextmanager
def _forwards_in_bf16(device_type: str):
    """act_segment and act_loss (the forward passes and the loss head, what the published
    forward_dtype=bfloat16 covers) under torch.autocast(bfloat16); Trainer.train_step's backward
    and optimizer updates stay outside it, as torch's autocast documentation asks. Trainer and the
    bench look both functions up in this module's globals when they call them."""
    g = globals()
    saved = {name: g[name] for name in ("act_segment", "act_loss")}

    def under_autocast(fn):
        def wrapped(*args, **kwargs):
            with torch.autocast(device_type, dtype=torch.bfloat16):
                return fn(*args, **kwargs)
        return wrapped

    g.update({name: under_autocast(fn) for name, fn in saved.items()})
    try:
        yield
    finally:
        g.update(saved)


def _device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    if dev.type == "cpu":
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
    return dev.type


def _sync_for(dev: torch.device):
    module = getattr(torch, dev.type, None)
    return module.synchronize if dev.type != "cpu" and hasattr(module, "synchronize") else (lambda: None)


def bench(args) -> dict:
    """Throughput of this reference on random data, as `hrm bench train` measures the C engine: a
    training step is Trainer.train_step (the ACT segment with its Q-target forward, the loss,
    backward, SignSGD and AdamATan2); an evaluation segment is act_segment + act_loss without
    gradient, the carry going on through halt_max_steps segments as in evaluate_segments. A sample
    is one sequence through one segment; rates come from the median call (batch / median).
    args.device (a torch.device from bench_device) and args.dtype (fp32, tf32, bf16) say where and
    how; the model's math is the same as everywhere else in this file."""
    dev = args.device
    torch.set_num_threads(args.threads)
    _set_precision(args.dtype)
    cfg = HRMConfig(vocab_size=11, seq_len=args.seq_len, num_puzzle_identifiers=1,
                    hidden_size=args.hidden, num_heads=args.heads, H_layers=args.layers,
                    L_layers=args.layers, H_cycles=args.cycles, L_cycles=args.cycles,
                    expansion=args.expansion, puzzle_emb_ndim=args.hidden, halt_max_steps=16,
                    halt_exploration_prob=0.1)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    # drawn on the CPU from seeded CPU generators (the same values on every device), then moved
    p = {k: v.to(dev) for k, v in init_params(cfg, 0).items()}
    g = torch.Generator().manual_seed(0)
    batch = {"inputs": torch.randint(1, 11, (args.batch, cfg.seq_len), generator=g, dtype=torch.int32),
             "labels": torch.randint(1, 11, (args.batch, cfg.seq_len), generator=g, dtype=torch.int32),
             "puzzle_identifiers": torch.zeros(args.batch, dtype=torch.int32)}
    batch = {k: v.to(dev) for k, v in batch.items()}
    in_bf16 = _forwards_in_bf16(dev.type) if args.dtype == "bf16" else contextlib.nullcontext()
    sync = _sync_for(dev)
    with in_bf16:
        tr = Trainer(p, cfg, TrainSettings(global_batch_size=args.batch, lr=1e-4, lr_warmup_steps=0,
                                           total_steps=10 ** 6))
        if dev.type != "cpu":  # the exploration draws are made on the device, from its generator
            tr.gen = torch.Generator(device=dev).manual_seed(tr.s.seed)
        t_train = _timed(lambda: tr.train_step(batch), args.warmup, args.steps, args.min_time, sync)

        carry = [initial_carry(cfg, batch, p[H_INIT].dtype)]

        def eval_segment():
            with torch.no_grad():
                carry[0], out = act_segment(p, cfg, carry[0], batch, training=False)
                act_loss(cfg, carry[0], out)

        t_eval = _timed(eval_segment, args.warmup, args.steps, args.min_time, sync)
    med_train, med_eval = _median(t_train), _median(t_eval)
    return {"model": args.model or "custom", "params": count_params(cfg)[0], "threads": args.threads,
            "torch_threads": torch.get_num_threads(), "torch_version": torch.__version__,
            "device": str(dev), "device_name": _device_name(dev), "dtype": args.dtype,
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "batch": args.batch, "hidden": args.hidden, "heads": args.heads, "layers": args.layers,
            "cycles": args.cycles, "seq_len": args.seq_len,
            "train_samples_per_s": args.batch / med_train,
            "eval_samples_per_s": args.batch / med_eval,
            "train_step_median_s": med_train, "train_step_min_s": min(t_train),
            "train_steps_timed": len(t_train),
            "eval_segment_median_s": med_eval, "eval_segment_min_s": min(t_eval),
            "eval_segments_timed": len(t_eval),
            # device memory: params, optimizer state and activations of training and evaluation
            # (the allocator's high-water mark); None where torch keeps no such count (the CPU)
            "memory_peak_bytes": torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else None,
            "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--selftest", action="store_true", help="run the self-checks")
    ap.add_argument("--bench", action="store_true",
                    help="print training/evaluation throughput on random data as JSON")
    ap.add_argument("--model", choices=sorted(BENCH_MODELS),
                    help="bench: a configuration of `hrm bench train` (sets hidden, heads, layers, "
                         "batch unless given)")
    ap.add_argument("--hidden", type=int, default=None, help="default 128")
    ap.add_argument("--heads", type=int, default=0, help="default hidden / 64")
    ap.add_argument("--layers", type=int, default=None, help="H_layers = L_layers (default 2)")
    ap.add_argument("--cycles", type=int, default=2, help="H_cycles = L_cycles")
    ap.add_argument("--expansion", type=float, default=4.0)
    ap.add_argument("--seq-len", type=int, default=81)
    ap.add_argument("--batch", type=int, default=None, help="default 32")
    ap.add_argument("--steps", type=int, default=5,
                    help="bench: at least this many timed training steps and eval segments")
    ap.add_argument("--warmup", type=int, default=1, help="bench: untimed calls first")
    ap.add_argument("--min-time", type=float, default=0.0,
                    help="bench: also time calls until this many seconds have passed")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--device", default="cpu",
                    help="bench: cpu (default), cuda, cuda:N, or another torch device type (mps, xpu, ...)")
    ap.add_argument("--dtype", default="fp32",
                    help="bench: fp32 (default; no TF32), tf32 (TF32 matmuls) or bf16 (autocast "
                         "bfloat16 forward passes, as the published forward_dtype)")
    args = ap.parse_args(argv)
    preset = BENCH_MODELS.get(args.model, {})
    for key, default in (("hidden", 128), ("layers", 2), ("batch", 32)):
        if getattr(args, key) is None:
            setattr(args, key, preset.get(key, default))
    if not args.heads and preset and args.hidden == preset["hidden"]:
        args.heads = preset["heads"]
    if args.selftest:
        return selftest()
    if args.bench:
        args.heads = args.heads or max(1, args.hidden // 64)
        try:
            if args.dtype not in BENCH_DTYPES:
                raise ValueError(f"--dtype {args.dtype}: expected one of {', '.join(BENCH_DTYPES)}")
            args.device = bench_device(args.device)
        except ValueError as e:
            print(f"hrm_ref.py: {e}", file=sys.stderr)
            return 2
        print(json.dumps(bench(args)))
        return 0
    ap.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
