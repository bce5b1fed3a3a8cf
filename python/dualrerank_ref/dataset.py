"""Request sets and model outputs exchanged with the C++ examples (examples/dataset_io.hpp).

Request set, safetensors with __metadata__ format = "dualrerank-requests":
  data.n I32 [R]; data.features F32 [sum n, F]; data.context F32 [R, Fc] (when Fc > 0);
  data.upstream_rank I32 [sum n] (optional); data.targets I32 [R, L] (optional);
  data.labels F32 [sum n] (optional).
Written by `export_world` from the built-in world, or from LETOR files here.

Model outputs, format = "dualrerank-outputs": outputs.n I32 [R], outputs.slates I32 [R, L] (the
greedy slate: student `greedy`, teacher `teacher_greedy`), outputs.logits F32/F64 [sum L*n] (the
student's Z, or the teacher's teacher-forced Z on its own greedy slate; chosen items -inf).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
import torch

from . import decode
from .letor import read_letor_file
from .models import Request
from .safetensors import load_file, save_file

__all__ = ["RequestSet", "read_requests", "write_requests", "letor_requests", "Outputs", "run_model",
           "write_outputs", "read_outputs", "compare_outputs"]


@dataclass
class RequestSet:
    features: List[np.ndarray]                      # [n, F] float32 each
    context: Optional[np.ndarray] = None            # [R, Fc] float32
    ranks: Optional[List[np.ndarray]] = None        # [n] int64 each
    targets: Optional[np.ndarray] = None            # [R, L] int64
    labels: Optional[List[np.ndarray]] = None       # [n] float32 each
    metadata: Dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.features)

    @property
    def L(self) -> int:
        return 0 if self.targets is None else int(self.targets.shape[1])

    def request(self, i: int, dtype=torch.float64) -> Request:
        ctx = None if self.context is None else torch.from_numpy(self.context[i]).to(dtype)
        rank = None if self.ranks is None else torch.from_numpy(self.ranks[i]).long()
        return Request(torch.from_numpy(self.features[i]).to(dtype), ctx, rank)

    def subset(self, idx) -> "RequestSet":
        idx = list(idx)
        return RequestSet([self.features[i] for i in idx],
                          None if self.context is None else self.context[idx],
                          None if self.ranks is None else [self.ranks[i] for i in idx],
                          None if self.targets is None else self.targets[idx],
                          None if self.labels is None else [self.labels[i] for i in idx], dict(self.metadata))


def read_requests(path: str) -> RequestSet:
    t, meta = load_file(path)
    if meta.get("format") != "dualrerank-requests":
        raise ValueError(f"{path}: not a dualrerank-requests file (format {meta.get('format')!r})")
    n = t["data.n"].astype(np.int64)
    if n.ndim != 1 or (n < 1).any():
        raise ValueError(f"{path}: data.n must be a vector of positive sizes")
    off = np.concatenate([[0], np.cumsum(n)])
    X = t["data.features"]
    if X.ndim != 2 or X.shape[0] != off[-1]:
        raise ValueError(f"{path}: data.features must be [sum n, F]")
    split = lambda a: [a[off[i]:off[i + 1]] for i in range(len(n))]  # noqa: E731
    rs = RequestSet(split(X.astype(np.float32)), metadata=meta)
    R = len(n)
    if "data.context" in t:
        c = t["data.context"]
        if c.ndim != 2 or c.shape[0] != R:
            raise ValueError(f"{path}: data.context must be [R, Fc]")
        rs.context = c.astype(np.float32)
    if "data.upstream_rank" in t:
        rs.ranks = split(t["data.upstream_rank"].astype(np.int64).reshape(-1))
    if "data.targets" in t:
        y = t["data.targets"].astype(np.int64)
        if y.ndim != 2 or y.shape[0] != R or ((y < 0) | (y >= n[:, None])).any():
            raise ValueError(f"{path}: data.targets must be [R, L] with indices below each request's n")
        rs.targets = y
    if "data.labels" in t:
        rs.labels = split(t["data.labels"].astype(np.float32).reshape(-1))
    return rs


def write_requests(path: str, rs: RequestSet) -> None:
    t = {"data.n": np.array([f.shape[0] for f in rs.features], dtype=np.int32),
         "data.features": np.concatenate(rs.features).astype(np.float32)}
    if rs.context is not None:
        t["data.context"] = rs.context.astype(np.float32)
    if rs.ranks is not None:
        t["data.upstream_rank"] = np.concatenate(rs.ranks).astype(np.int32)
    if rs.targets is not None:
        t["data.targets"] = rs.targets.astype(np.int32)
    if rs.labels is not None:
        t["data.labels"] = np.concatenate(rs.labels).astype(np.float32)
    meta = dict(rs.metadata)
    meta["format"] = "dualrerank-requests"
    save_file(t, path, meta)


def letor_requests(path: str, group_path: Optional[str] = None, width: int = 0) -> RequestSet:
    """A LETOR file as a request set: features and labels (no context, ranks or targets)."""
    ds = read_letor_file(path, group_path, feature_width=width)
    return RequestSet([q.features for q in ds.queries], labels=[q.labels for q in ds.queries],
                      metadata={"source": path, "width": str(ds.width)})


@dataclass
class Outputs:
    kind: str
    L: int
    n: np.ndarray        # [R]
    slates: np.ndarray   # [R, L]
    logits: np.ndarray   # [sum L*n]
    metadata: Dict[str, str] = field(default_factory=dict)

    def logits_of(self, i: int) -> np.ndarray:
        off = int((self.n[:i] * self.L).sum())
        return self.logits[off:off + self.L * int(self.n[i])].reshape(self.L, int(self.n[i]))


@torch.no_grad()
def run_model(model: torch.nn.Module, rs: RequestSet, L: int, margins: Optional[list] = None) -> Outputs:
    """Greedy slates and logits of a student or teacher on every request, in the model's dtype.
    `margins` collects every greedy decision's margin (decode.py)."""
    dtype = next(model.parameters()).dtype
    slates, logits, ns = [], [], []
    for i in range(len(rs)):
        req = rs.request(i, dtype)
        if model.kind == "nar_student":
            Z = model.logits([req], L)[0]
            y = decode.greedy_slate(Z, margins)
        elif model.kind == "ar_teacher":
            y = decode.teacher_greedy(model, req, L, margins)
            Z = model.teacher_forced([req], torch.tensor([y]))[0]
        else:
            raise ValueError(f"run_model: no greedy decoder for a {model.kind}")
        ns.append(req.n)
        slates.append(y)
        logits.append(Z.double().reshape(-1).numpy())
    return Outputs(model.kind, L, np.array(ns, dtype=np.int32), np.array(slates, dtype=np.int32).reshape(-1, L),
                   np.concatenate(logits))


def write_outputs(path: str, o: Outputs, producer: str = "pytorch", extra: Optional[Dict[str, str]] = None) -> None:
    meta = {"format": "dualrerank-outputs", "kind": o.kind, "L": str(o.L), "producer": producer}
    meta.update(extra or {})
    save_file({"outputs.n": o.n.astype(np.int32), "outputs.slates": o.slates.astype(np.int32),
               "outputs.logits": o.logits}, path, meta)


def read_outputs(path: str) -> Outputs:
    t, meta = load_file(path)
    if meta.get("format") != "dualrerank-outputs":
        raise ValueError(f"{path}: not a dualrerank-outputs file (format {meta.get('format')!r})")
    L = int(meta["L"])
    n = t["outputs.n"].astype(np.int64)
    slates = t["outputs.slates"].astype(np.int64).reshape(len(n), L)
    logits = t["outputs.logits"].astype(np.float64).reshape(-1)
    if logits.size != int((n * L).sum()):
        raise ValueError(f"{path}: outputs.logits has {logits.size} values, expected {int((n * L).sum())}")
    return Outputs(meta.get("kind", ""), L, n, slates, logits, meta)


def compare_outputs(ref: Outputs, got: Outputs, rel_tol: float) -> Dict[str, object]:
    """Slates must be identical; per request, max |got - ref| over the finite logits must be
    <= rel_tol * max |ref|, and the -inf entries must coincide. Returns a summary with `ok`."""
    problems: List[str] = []
    if ref.kind != got.kind or ref.L != got.L or not np.array_equal(ref.n, got.n):
        problems.append(f"different shapes: {ref.kind} L {ref.L} R {len(ref.n)} vs {got.kind} L {got.L} R {len(got.n)}")
        return {"ok": False, "problems": problems}
    slate_diff = [i for i in range(len(ref.n)) if not np.array_equal(ref.slates[i], got.slates[i])]
    for i in slate_diff[:5]:
        problems.append(f"request {i}: slate {ref.slates[i].tolist()} vs {got.slates[i].tolist()}")
    worst = 0.0
    inf_mismatch = 0
    for i in range(len(ref.n)):
        a, b = ref.logits_of(i), got.logits_of(i)
        fa, fb = np.isfinite(a), np.isfinite(b)
        if not np.array_equal(fa, fb) or not np.array_equal(a[~fa], b[~fb]):
            inf_mismatch += 1
            continue
        scale = max(float(np.abs(a[fa]).max()) if fa.any() else 0.0, 1e-12)
        worst = max(worst, float(np.abs(a[fa] - b[fa]).max()) / scale if fa.any() else 0.0)
    if inf_mismatch:
        problems.append(f"{inf_mismatch} requests differ in their masked (-inf) entries")
    if not worst <= rel_tol:
        problems.append(f"logits differ by {worst:.3g} relative (tolerance {rel_tol:g})")
    return {"ok": not problems, "requests": int(len(ref.n)), "slates_differ": len(slate_diff),
            "max_rel_logit_error": worst, "tolerance": rel_tol, "problems": problems}


def min_margin(margins: List[float]) -> float:
    finite = [m for m in margins if math.isfinite(m)]
    return min(finite) if finite else float("inf")
