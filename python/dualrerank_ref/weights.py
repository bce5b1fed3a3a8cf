"""Portable deterministic weights: the same values in numpy and in C++ without torch.

Tensor `name` of a model gets values w[i] = float32(offset + x_i * 2**exponent), with
x_i = (2 k_i + 1 - 2**24) / 2**24 in (-1, 1) and k_i = splitmix64(base + (i + 1) * GOLDEN) >> 40,
base = seed XOR fnv1a64(name), all arithmetic on uint64 modulo 2**64. Every step is exact in
double (24-bit x, power-of-two scale, one addition of two doubles whose sum is exact) before the
single round-to-nearest to float32, so C++ (tests/test_parity.cpp) reproduces the values bit for
bit. The values are float32-representable, so a float and a double model hold the same weights.

A spec {name: [offset, exponent]} chooses the scale per tensor; default_spec() gives an O(1)
network (unit-ish activations, logits of a few units).
"""

from __future__ import annotations

import math
from typing import Dict, List, Tuple

import numpy as np
import torch
from torch import nn

__all__ = ["GOLDEN", "fnv1a64", "splitmix64", "portable_values", "default_spec", "apply_portable"]

GOLDEN = 0x9E3779B97F4A7C15
_M64 = (1 << 64) - 1


def fnv1a64(s: str) -> int:
    h = 0xCBF29CE484222325
    for b in s.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & _M64
    return h


def splitmix64(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    z = z.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z


def portable_values(seed: int, name: str, count: int, offset: float, exponent: int) -> np.ndarray:
    base = np.uint64((seed ^ fnv1a64(name)) & _M64)
    i = np.arange(1, count + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = base + i * np.uint64(GOLDEN)
    k = (splitmix64(z) >> np.uint64(40)).astype(np.float64)
    x = (2.0 * k + 1.0 - 2.0 ** 24) / 2.0 ** 24
    return (float(offset) + np.ldexp(x, exponent)).astype(np.float32)


def _pow2(x: float) -> int:
    return int(round(math.log2(x)))


def default_spec(model: nn.Module, pointer_gain: float = 1.0) -> Dict[str, Tuple[float, int]]:
    """[offset, exponent] per tensor: uniform(-a, a) with a ~ sqrt(3 / fan_in) for linear weights
    (unit gain), LayerNorm gains 1 +- 1/8, biases +- 1/8, slot queries / bos +- 1, slot and rank
    embeddings +- 1/4; the pointer weights get `pointer_gain` so logits have a spread of a few units."""
    spec = {}
    for name, t in model.state_dict().items():
        leaf = name.rsplit(".", 1)[-1]
        if name.startswith("pointer.") and leaf == "weight":
            spec[name] = (0.0, _pow2(pointer_gain * math.sqrt(3.0 / t.shape[1])))
        elif name in ("slot_queries", "bos"):
            spec[name] = (0.0, 0)
        elif name == "slot_emb" or name.endswith("rank_emb.weight"):
            spec[name] = (0.0, -2)
        elif leaf == "bias":
            spec[name] = (0.0, -3)
        elif t.dim() == 1:  # LayerNorm gain
            spec[name] = (1.0, -3)
        else:  # linear weight [out x in]
            spec[name] = (0.0, _pow2(math.sqrt(3.0 / t.shape[1])))
    return spec


@torch.no_grad()
def apply_portable(model: nn.Module, seed: int, spec: Dict[str, Tuple[float, int]]) -> None:
    """Fill every parameter of `model` from the portable generator (names must match spec exactly)."""
    sd = model.state_dict()
    if set(sd) != set(spec):
        raise ValueError(f"spec names differ from the model: {sorted(set(sd) ^ set(spec))}")
    params = dict(model.named_parameters())
    for name, t in sd.items():
        off, e = spec[name]
        v = portable_values(seed, name, t.numel(), off, e).reshape(tuple(t.shape))
        params[name].copy_(torch.from_numpy(v).to(t.dtype))
