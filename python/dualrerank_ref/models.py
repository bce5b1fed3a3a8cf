"""PyTorch reference of the dualrerank models (docs/design.md sections 2-3).

Same math and the same tensor names as the C++ headers (include/dualrerank/model/*.hpp,
include/dualrerank/nn/*.hpp): a module's state_dict() keys are exactly the C++ tensor table's
names, so a model trained here loads in C++ and vice versa (see save_model / load_model).

Shapes: a batch of B requests padded to N candidates: features [B, N, F], context [B, Fc],
upstream ranks [B, N] (int64), valid [B, N] (bool, False for padding). Every forward works in the
dtype of the module (float32 or float64).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch
from torch import Tensor, nn

__all__ = [
    "ModelConfig", "Request", "pack", "SelfAttention", "CrossAttention", "FFN", "EncoderBlock", "DecoderBlock",
    "CandidateEncoder", "Decoder", "PointerHead", "NarStudent", "NarStudentEnsemble", "ArTeacher", "ListEvaluator",
    "MODEL_KINDS", "MAX_MEMBERS",
    "make_model",
]

NEG_INF = float("-inf")


@dataclass
class ModelConfig:
    """Mirror of dualrerank::model_config (include/dualrerank/model/config.hpp), same defaults."""

    features: int = 32
    context: int = 0
    d: int = 64
    heads: int = 4
    enc_layers: int = 2
    dec_layers: int = 2
    ffn: int = 256
    max_slate: int = 10
    max_candidates: int = 512
    rank_embedding: bool = False
    outputs: int = 1

    def validate(self) -> "ModelConfig":
        def bad(m):
            raise ValueError("invalid model config: " + m)

        if not 1 <= self.features <= 65536: bad("features must be in [1, 65536]")
        if not 0 <= self.context <= 65536: bad("context must be in [0, 65536]")
        if not 1 <= self.d <= 4096: bad("d must be in [1, 4096]")
        if not 1 <= self.heads <= 64 or self.d % self.heads: bad("heads must divide d (and be <= 64)")
        if not 0 <= self.enc_layers <= 64: bad("enc_layers must be in [0, 64]")
        if not 0 <= self.dec_layers <= 64: bad("dec_layers must be in [0, 64]")
        if not 1 <= self.ffn <= 16384: bad("ffn must be in [1, 16384]")
        if not 1 <= self.max_slate <= 1024: bad("max_slate must be in [1, 1024]")
        if not 1 <= self.max_candidates <= 16384: bad("max_candidates must be in [1, 16384]")
        if not 1 <= self.outputs <= 16: bad("outputs must be in [1, 16]")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        c = cls(**d)
        c.rank_embedding = bool(c.rank_embedding)
        return c.validate()

    @classmethod
    def from_json(cls, s: str) -> "ModelConfig":
        return cls.from_dict(json.loads(s))


@dataclass
class Request:
    """One request: features [n, F], optional context [Fc], optional upstream ranks [n] (0 = first)."""

    features: Tensor
    context: Optional[Tensor] = None
    upstream_rank: Optional[Tensor] = None

    @property
    def n(self) -> int:
        return int(self.features.shape[0])


def pack(reqs: Sequence[Request], dtype=None):
    """Pad requests to the largest N: (x [B,N,F], ctx [B,Fc] or None, rank [B,N] or None, valid [B,N])."""
    B = len(reqs)
    n = max(r.n for r in reqs)
    F = reqs[0].features.shape[1]
    dtype = dtype or reqs[0].features.dtype
    x = torch.zeros(B, n, F, dtype=dtype)
    valid = torch.zeros(B, n, dtype=torch.bool)
    for b, r in enumerate(reqs):
        x[b, :r.n] = r.features.to(dtype)
        valid[b, :r.n] = True
    ctx = None
    if reqs[0].context is not None:
        ctx = torch.stack([r.context.to(dtype) for r in reqs])
    rank = None
    if reqs[0].upstream_rank is not None:
        rank = torch.zeros(B, n, dtype=torch.long)
        for b, r in enumerate(reqs):
            rank[b, :r.n] = r.upstream_rank.long()
    return x, ctx, rank, valid


# ----------------------------------------------------------------------------------------- layers


def attend(q: Tensor, k: Tensor, v: Tensor, heads: int, causal: bool = False,
           key_valid: Optional[Tensor] = None) -> Tensor:
    """Multi-head scaled dot-product attention (nn/attention.hpp attention_forward).

    q [..., nq, d], k/v [..., nk, d]; head h uses columns h*dh:(h+1)*dh. Causal masks are aligned
    to the end: query i sees key j iff j <= i + nk - nq. key_valid [..., nk] masks padded keys.
    """
    *lead, nq, d = q.shape
    nk = k.shape[-2]
    dh = d // heads
    qh = q.reshape(*lead, nq, heads, dh).transpose(-3, -2)  # [..., h, nq, dh]
    kh = k.reshape(*lead, nk, heads, dh).transpose(-3, -2)
    vh = v.reshape(*lead, nk, heads, dh).transpose(-3, -2)
    s = torch.matmul(qh, kh.transpose(-1, -2)) * (1.0 / math.sqrt(dh))
    mask = None
    if causal:
        mask = torch.ones(nq, nk, dtype=torch.bool, device=q.device).triu(1 + nk - nq)  # True = hidden
    if key_valid is not None:
        kv = ~key_valid[..., None, None, :]  # [..., 1, 1, nk]
        mask = kv if mask is None else (mask | kv)
    if mask is not None:
        s = s.masked_fill(mask, NEG_INF)
    p = torch.softmax(s, dim=-1)
    o = torch.matmul(p, vh)  # [..., h, nq, dh]
    return o.transpose(-3, -2).reshape(*lead, nq, d)


class SelfAttention(nn.Module):
    """`qkv` Linear d -> 3d with output columns [q | k | v], `out` Linear d -> d."""

    def __init__(self, d: int, heads: int, causal: bool):
        super().__init__()
        self.d, self.heads, self.causal = d, heads, causal
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x: Tensor, key_valid: Optional[Tensor] = None) -> Tensor:
        q, k, v = self.qkv(x).split(self.d, dim=-1)
        return self.out(attend(q, k, v, self.heads, self.causal, key_valid))


class CrossAttention(nn.Module):
    """`q` Linear d -> d, `kv` Linear d -> 2d with columns [k | v], `out` Linear d -> d."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.d, self.heads = d, heads
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x: Tensor, mem: Tensor, mem_valid: Optional[Tensor] = None) -> Tensor:
        k, v = self.kv(mem).split(self.d, dim=-1)
        return self.out(attend(self.q(x), k, v, self.heads, False, mem_valid))


class FFN(nn.Module):
    """fc2(GELU(fc1(x))) with exact (erf) GELU."""

    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)
        self.act = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class EncoderBlock(nn.Module):
    """x1 = x + attn(ln1(x)); y = x1 + ffn(ln2(x1))."""

    def __init__(self, d: int, heads: int, hidden: int, causal: bool):
        super().__init__()
        self.ln1 = nn.LayerNorm(d, eps=1e-5)
        self.attn = SelfAttention(d, heads, causal)
        self.ln2 = nn.LayerNorm(d, eps=1e-5)
        self.ffn = FFN(d, hidden)

    def forward(self, x: Tensor, key_valid: Optional[Tensor] = None) -> Tensor:
        x = x + self.attn(self.ln1(x), key_valid)
        return x + self.ffn(self.ln2(x))


class DecoderBlock(nn.Module):
    """x1 = x + self(ln1(x)); x2 = x1 + cross(ln2(x1), mem); y = x2 + ffn(ln3(x2))."""

    def __init__(self, d: int, heads: int, hidden: int, causal: bool):
        super().__init__()
        self.ln1 = nn.LayerNorm(d, eps=1e-5)
        self.self_attn = SelfAttention(d, heads, causal)
        self.ln2 = nn.LayerNorm(d, eps=1e-5)
        self.cross_attn = CrossAttention(d, heads)
        self.ln3 = nn.LayerNorm(d, eps=1e-5)
        self.ffn = FFN(d, hidden)

    def forward(self, x: Tensor, mem: Tensor, mem_valid: Optional[Tensor] = None) -> Tensor:
        x = x + self.self_attn(self.ln1(x))
        x = x + self.cross_attn(self.ln2(x), mem, mem_valid)
        return x + self.ffn(self.ln3(x))


# ----------------------------------------------------------------------------------------- parts


class CandidateEncoder(nn.Module):
    """h0 = input(X) + item_ctx(X) * ctx(c) (+ rank_emb[rank]); n_enc blocks; ln_f -> H [.., N, d]."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.input = nn.Linear(c.features, c.d)
        if c.context > 0:
            self.item_ctx = nn.Linear(c.features, c.d, bias=False)
            self.ctx = nn.Linear(c.context, c.d, bias=False)
        else:
            self.item_ctx = None
            self.ctx = None
        if c.rank_embedding:
            self.rank_emb = nn.Embedding(c.max_candidates, c.d)
            nn.init.normal_(self.rank_emb.weight, 0.0, 0.1)
        else:
            self.rank_emb = None
        self.blocks = nn.ModuleList(EncoderBlock(c.d, c.heads, c.ffn, False) for _ in range(c.enc_layers))
        self.ln_f = nn.LayerNorm(c.d, eps=1e-5)

    def forward(self, x: Tensor, context: Optional[Tensor] = None, rank: Optional[Tensor] = None,
                valid: Optional[Tensor] = None) -> Tensor:
        """x [B, N, F], context [B, Fc], rank [B, N], valid [B, N] -> H [B, N, d]."""
        h = self.input(x)
        if self.ctx is not None:
            if context is None:
                raise ValueError("the model needs context features")
            h = h + self.item_ctx(x) * self.ctx(context).unsqueeze(-2)
        if self.rank_emb is not None:
            if rank is None:
                raise ValueError("the model uses upstream ranks but none were given")
            h = h + self.rank_emb(rank)
        for blk in self.blocks:
            h = blk(h, valid)
        return self.ln_f(h)


class Decoder(nn.Module):
    """`blocks.{i}` decoder blocks and the final `ln_f`."""

    def __init__(self, c: ModelConfig, causal: bool):
        super().__init__()
        self.blocks = nn.ModuleList(DecoderBlock(c.d, c.heads, c.ffn, causal) for _ in range(c.dec_layers))
        self.ln_f = nn.LayerNorm(c.d, eps=1e-5)

    def forward(self, x: Tensor, mem: Tensor, mem_valid: Optional[Tensor] = None) -> Tensor:
        for blk in self.blocks:
            x = blk(x, mem, mem_valid)
        return self.ln_f(x)


class PointerHead(nn.Module):
    """Z = (S Wq^T)(H Wk^T)^T / sqrt(d); padded candidates -inf."""

    def __init__(self, d: int):
        super().__init__()
        self.d = d
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, d, bias=False)

    def forward(self, S: Tensor, H: Tensor, valid: Optional[Tensor] = None) -> Tensor:
        z = torch.matmul(self.q(S), self.k(H).transpose(-1, -2)) * (1.0 / math.sqrt(self.d))
        if valid is not None:
            z = z.masked_fill(~valid.unsqueeze(-2), NEG_INF)
        return z


def _inputs(model, reqs: Sequence[Request]):
    return pack(reqs, dtype=next(model.parameters()).dtype)


# ----------------------------------------------------------------------------------------- models


class NarStudent(nn.Module):
    """NAR student: slot queries -> bidirectional slot blocks (cross-attending H) -> ln_f -> pointer."""

    kind = "nar_student"

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.config = c.validate()
        self.encoder = CandidateEncoder(c)
        self.slot_queries = nn.Parameter(torch.randn(c.max_slate, c.d))
        self.decoder = Decoder(c, causal=False)
        self.pointer = PointerHead(c.d)

    def forward(self, x: Tensor, context: Optional[Tensor], rank: Optional[Tensor], valid: Optional[Tensor],
                L: int) -> Tensor:
        """Logits Z [B, L, N] (padded candidates -inf)."""
        H = self.encoder(x, context, rank, valid)
        Q = self.slot_queries[:L].unsqueeze(0).expand(x.shape[0], L, -1)
        S = self.decoder(Q, H, valid)
        return self.pointer(S, H, valid)

    def logits(self, reqs: Sequence[Request], L: int) -> Tensor:
        x, ctx, rank, valid = _inputs(self, reqs)
        return self.forward(x, ctx, rank, valid, L)


MAX_MEMBERS = 64  # nar_student::max_members


class NarStudentEnsemble(nn.Module):
    """K students of one config served as one (C++ nar_student::ensemble): the slot logits are the
    mean of the members' (padded candidates stay -inf). Saved as format_version 3 (model_io.py)."""

    kind = "nar_student"

    def __init__(self, members: Sequence[NarStudent]):
        super().__init__()
        members = list(members)
        if not 2 <= len(members) <= MAX_MEMBERS:
            raise ValueError(f"an ensemble needs 2 to {MAX_MEMBERS} members, got {len(members)}")
        for k, m in enumerate(members):
            if not isinstance(m, NarStudent):
                raise ValueError(f"member {k} is a {type(m).__name__}, expected a NarStudent")
            if m.config != members[0].config:
                raise ValueError(f"member {k} has another config than member 0")
        self.config = members[0].config
        self.members = nn.ModuleList(members)

    def forward(self, x: Tensor, context: Optional[Tensor], rank: Optional[Tensor], valid: Optional[Tensor],
                L: int) -> Tensor:
        Z = self.members[0](x, context, rank, valid, L)
        for m in self.members[1:]:
            Z = Z + m(x, context, rank, valid, L)
        return Z / len(self.members)

    def logits(self, reqs: Sequence[Request], L: int) -> Tensor:
        x, ctx, rank, valid = _inputs(self, reqs)
        return self.forward(x, ctx, rank, valid, L)


class ArTeacher(nn.Module):
    """AR teacher: causal decoder over the slate prefix, rows s_0 = bos + slot_emb[0],
    s_p = H[y_{p-1}] + slot_emb[p]; row p's pointer logits score slot p (chosen items -inf)."""

    kind = "ar_teacher"

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.config = c.validate()
        self.encoder = CandidateEncoder(c)
        self.bos = nn.Parameter(torch.randn(c.d))
        self.slot_emb = nn.Parameter(0.1 * torch.randn(c.max_slate, c.d))
        self.decoder = Decoder(c, causal=True)
        self.pointer = PointerHead(c.d)

    def decoder_inputs(self, H: Tensor, prefix: Tensor) -> Tensor:
        """H [B, N, d], prefix [B, t] (items of slots 0..t-1) -> rows [B, t+1, d]."""
        B, t = prefix.shape
        first = (self.bos + self.slot_emb[0]).expand(B, 1, -1)
        if t == 0:
            return first
        idx = prefix.long().unsqueeze(-1).expand(B, t, H.shape[-1])
        rest = torch.gather(H, 1, idx) + self.slot_emb[1:t + 1]
        return torch.cat([first, rest], dim=1)

    def forward(self, x: Tensor, context: Optional[Tensor], rank: Optional[Tensor], valid: Optional[Tensor],
                targets: Tensor) -> Tensor:
        """Teacher-forced logits Z [B, L, N] over target slates targets [B, L]; row p masks
        targets[:, :p] and padding with -inf."""
        B, L = targets.shape
        H = self.encoder(x, context, rank, valid)
        S = self.decoder(self.decoder_inputs(H, targets[:, :L - 1]), H, valid)
        z = self.pointer(S, H, valid)
        chosen = torch.zeros(B, L, x.shape[1], dtype=torch.bool, device=x.device)
        for p in range(1, L):
            chosen[torch.arange(B, device=x.device), p:, targets[:, p - 1].long()] = True
        return z.masked_fill(chosen, NEG_INF)

    def teacher_forced(self, reqs: Sequence[Request], targets: Tensor) -> Tensor:
        x, ctx, rank, valid = _inputs(self, reqs)
        return self.forward(x, ctx, rank, valid, targets)

    def encode(self, req: Request) -> Tensor:
        x, ctx, rank, valid = _inputs(self, [req])
        return self.encoder(x, ctx, rank, valid)

    def step_logits(self, H: Tensor, prefixes: Tensor) -> Tensor:
        """Raw (unmasked) logits [P, N] for slot t of P prefixes [P, t] of one request, H [1, N, d].

        Mathematically what the C++ KV-cache `step` computes; here the prefix is re-run."""
        P = prefixes.shape[0]
        Hp = H.expand(P, -1, -1)
        S = self.decoder(self.decoder_inputs(Hp, prefixes), Hp)
        return self.pointer(S[:, -1:], Hp)[:, 0]


class ListEvaluator(nn.Module):
    """List evaluator: x_t = H[y_t] + slot_emb[t]; one causal block; ln_f; head -> E [K, L, outputs]."""

    kind = "list_evaluator"

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.config = c.validate()
        self.encoder = CandidateEncoder(c)
        self.slot_emb = nn.Parameter(0.1 * torch.randn(c.max_slate, c.d))
        self.block = EncoderBlock(c.d, c.heads, c.ffn, causal=True)
        self.ln_f = nn.LayerNorm(c.d, eps=1e-5)
        self.head = nn.Linear(c.d, c.outputs)

    def forward(self, x: Tensor, context: Optional[Tensor], rank: Optional[Tensor], slates: Tensor) -> Tensor:
        """One request (x [1, N, F], context [1, Fc], rank [1, N]) and K slates [K, L] -> E [K, L, outputs]."""
        K, L = slates.shape
        H = self.encoder(x, context, rank)[0]
        X = H[slates.long()] + self.slot_emb[:L]
        return self.head(self.ln_f(self.block(X)))

    def engagement(self, req: Request, slates: Tensor) -> Tensor:
        x, ctx, rank, _ = _inputs(self, [req])
        return self.forward(x, ctx, rank, slates)

    def score(self, req: Request, slates: Tensor, w: Optional[Tensor] = None) -> Tensor:
        """u_k = sum_t w_t sum_o sigmoid(e_{k,t,o}) (w = ones when None)."""
        s = torch.sigmoid(self.engagement(req, slates)).sum(-1)
        if w is not None:
            s = s * w
        return s.sum(-1)


MODEL_KINDS = {"nar_student": NarStudent, "ar_teacher": ArTeacher, "list_evaluator": ListEvaluator}


def make_model(kind: str, config: ModelConfig) -> nn.Module:
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r} (expected one of {sorted(MODEL_KINDS)})")
    return MODEL_KINDS[kind](config)


def state_names(model: nn.Module) -> List[str]:
    return list(model.state_dict().keys())
