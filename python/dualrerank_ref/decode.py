"""Deterministic decoders, mirroring include/dualrerank/decode/greedy.hpp decision for decision.

Student decoders read one logit matrix Z [L, n] (numpy or torch); teacher decoders run the AR
teacher step by step (re-running the prefix, which equals the C++ KV-cache step). Tie rules:
greedy -> lowest item; confident -> lowest slot, then lowest item; beam -> earlier beam, then
lower item (a stable sort of (beam, item) candidates by score).

Every decoder can record its decision margins in `margins` (a list): the gap between the chosen
option and the best option not chosen at each decision (for the beam, between the last kept and
the first dropped candidate, and between the final best and second-best slates). A fixture whose
margins are all well above float32 rounding decodes identically in float and double.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

from .models import ArTeacher, NarStudent, Request

__all__ = ["greedy_slate", "confident_slate", "slate_log_prob", "log_softmax_masked", "greedy", "confident",
           "teacher_beam", "teacher_greedy"]

NEG_INF = -np.inf


def _np(Z) -> np.ndarray:
    if isinstance(Z, torch.Tensor):
        Z = Z.detach().cpu().numpy()
    return np.asarray(Z, dtype=np.float64)


def _gap(values: np.ndarray, chosen: int) -> float:
    """values[chosen] minus the best other finite value (inf when there is none)."""
    others = np.delete(values, chosen)
    others = others[np.isfinite(others)]
    return float(values[chosen] - others.max()) if others.size else float("inf")


def greedy_slate(Z, margins: Optional[list] = None) -> List[int]:
    """Slot 0..L-1 in order, masked argmax (ties -> lowest index)."""
    Z = _np(Z)
    L, n = Z.shape
    used = np.zeros(n, dtype=bool)
    out = []
    for t in range(L):
        z = np.where(used, NEG_INF, Z[t])
        best = int(np.argmax(z))  # first maximum
        if margins is not None:
            margins.append(_gap(z, best))
        out.append(best)
        used[best] = True
    return out


def log_softmax_masked(z: np.ndarray, used: np.ndarray) -> np.ndarray:
    """log-softmax of z over the unused entries (used entries -> -inf), as nn::log_softmax_row."""
    z = np.where(used, NEG_INF, z)
    m = z.max()
    if not m > NEG_INF:
        return np.full_like(z, NEG_INF)
    s = np.exp(z[np.isfinite(z)] - m).sum()
    return z - (m + np.log(s))


def confident_slate(Z, margins: Optional[list] = None) -> List[int]:
    """Repeatedly commit the (free slot, unused item) with the highest log-probability, each free
    slot's distribution being the softmax over the unused items (ties -> lowest slot, lowest item)."""
    Z = _np(Z)
    L, n = Z.shape
    used = np.zeros(n, dtype=bool)
    out = [-1] * L
    for _ in range(L):
        best = None
        cand = []
        for t in range(L):
            if out[t] >= 0:
                continue
            lp = log_softmax_masked(Z[t], used)
            for i in range(n):
                if used[i]:
                    continue
                cand.append(lp[i])
                if best is None or lp[i] > best[0]:
                    best = (lp[i], t, i, len(cand) - 1)
        if margins is not None:
            margins.append(_gap(np.array(cand), best[3]))
        out[best[1]] = best[2]
        used[best[2]] = True
    return out


def slate_log_prob(Z, y: Sequence[int]) -> float:
    """log pi(y) = sum_t log softmax_{i not in y_<t}(Z_t)[y_t]."""
    Z = _np(Z)
    used = np.zeros(Z.shape[1], dtype=bool)
    total = 0.0
    for t, item in enumerate(y):
        total += float(log_softmax_masked(Z[t], used)[item])
        used[item] = True
    return total


@torch.no_grad()
def greedy(student: NarStudent, req: Request, L: int, margins: Optional[list] = None) -> List[int]:
    return greedy_slate(student.logits([req], L)[0], margins)


@torch.no_grad()
def confident(student: NarStudent, req: Request, L: int, margins: Optional[list] = None) -> List[int]:
    return confident_slate(student.logits([req], L)[0], margins)


@torch.no_grad()
def teacher_beam(teacher: ArTeacher, req: Request, L: int, beam: int,
                 margins: Optional[list] = None) -> Tuple[List[int], float]:
    """Beam search of width `beam` (1 = greedy) on summed masked log-softmax scores.

    Returns the best slate and its log-probability. Candidates (score, beam, item) are taken in
    beam order then item order and the best min(beam, n) kept by a stable sort, which is the C++
    insertion list's rule (a candidate displaces another only if strictly better)."""
    if beam < 1:
        raise ValueError("teacher_beam: beam width must be >= 1")
    n = req.n
    B = min(beam, n)
    H = teacher.encode(req)
    prefixes: List[List[int]] = [[]]
    scores = [0.0]
    for t in range(L):
        logits = _np(teacher.step_logits(H, torch.tensor(prefixes, dtype=torch.long).reshape(len(prefixes), t)))
        cands = []
        for b, pre in enumerate(prefixes):
            used = np.zeros(n, dtype=bool)
            used[pre] = True
            lsm = log_softmax_masked(logits[b], used)
            for i in range(n):
                if not used[i]:
                    cands.append((scores[b] + float(lsm[i]), b, i))
        order = sorted(range(len(cands)), key=lambda k: -cands[k][0])  # stable: (beam, item) order on ties
        kept = [cands[k] for k in order[:B]]
        if margins is not None and len(order) > B:
            margins.append(kept[-1][0] - cands[order[B]][0])
        prefixes = [prefixes[b] + [i] for (_, b, i) in kept]
        scores = [s for (s, _, _) in kept]
    if margins is not None and len(scores) > 1:
        margins.append(scores[0] - scores[1])
    return prefixes[0], scores[0]


def teacher_greedy(teacher: ArTeacher, req: Request, L: int, margins: Optional[list] = None) -> List[int]:
    return teacher_beam(teacher, req, L, 1, margins)[0]
