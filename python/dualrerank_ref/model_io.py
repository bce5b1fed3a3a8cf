"""Model files: safetensors with the dualrerank metadata (the C++ io/model_io.hpp counterpart).

__metadata__ = {"format": "dualrerank", "format_version": "2", "kind": "ar_teacher" | "nar_student" |
"list_evaluator", "config": <ModelConfig JSON>, "dualrerank.crc32_file": <CRC-32 of the whole file>};
tensors named as in state_dict(), all in one float dtype (F32 or F64). format_version 2 requires the
whole-file checksum (safetensors.py); format_version 1 files (data-region checksum only, a probe of
one run) still load. A student ensemble (NarStudentEnsemble, C++ nar_student::ensemble) is
format_version 3: __metadata__ "members" = K (2..64, a plain decimal integer), member k's tensors
under "member.{k}.", the self-test output the ensemble's (the mean of the members' slot logits).

Like the C++ writer, save_model embeds a self-test by default (__metadata__ "verify": "1"): a probe
request verify.features [n, F], verify.context [Fc], verify.slate [L] (I64) and the model's output
on it, verify.output (flattened: student Z [L*n], teacher-forced Z [L*n] with masked entries 0,
evaluator E [L*outputs]), with n = min(max_candidates, max(max_slate, 4)), L = min(max_slate, n)
and upstream ranks 0..n-1. With a rank embedding (format_version 2) the probe is run
R = ceil(max_candidates / n) times, run r with upstream ranks (r n + i) mod max_candidates, so every
rank row is exercised; verify.output holds the R outputs one after the other. Loaders (this one and
the C++ io::load_model) recompute it and reject the file when it disagrees by more than 1e-4
relative to the largest |output|.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import torch
from torch import nn

from .models import MAX_MEMBERS, MODEL_KINDS, ModelConfig, NarStudent, NarStudentEnsemble, Request, make_model
from .safetensors import FILE_CRC32_KEY, load_file, save_file

__all__ = ["FORMAT", "FORMAT_VERSION", "FORMAT_VERSION_ENSEMBLE", "save_model", "load_model", "model_metadata", "probe_output"]

FORMAT = "dualrerank"
FORMAT_VERSION = "2"
FORMAT_VERSION_1 = "1"  # still read: data-region checksum only, a one-run probe
FORMAT_VERSION_ENSEMBLE = "3"  # a student ensemble only


def _make(kind: str, config: ModelConfig, members: int) -> nn.Module:
    """A fresh module of `kind` (an ensemble of `members` students when members > 1)."""
    if members > 1:
        return NarStudentEnsemble([NarStudent(config) for _ in range(members)])
    return make_model(kind, config)


def _state(module: nn.Module) -> Dict[str, torch.Tensor]:
    """The module's tensors under their file names ("member.{k}." for an ensemble's members)."""
    if isinstance(module, NarStudentEnsemble):
        return {f"member.{k}.{n}": t for k, m in enumerate(module.members) for n, t in m.state_dict().items()}
    return dict(module.state_dict())


def _load_state(module: nn.Module, sd: Dict[str, torch.Tensor]) -> None:
    if isinstance(module, NarStudentEnsemble):
        for k, m in enumerate(module.members):
            p = f"member.{k}."
            m.load_state_dict({n[len(p):]: t for n, t in sd.items() if n.startswith(p)}, strict=True)
    else:
        module.load_state_dict(sd, strict=True)


def _members_of(path: str, meta: Dict[str, str]) -> int:
    """K from __metadata__ "members" (version 3 only), 1 for a single model; ValueError otherwise."""
    v = meta.get("format_version")
    if "members" not in meta:
        if v == FORMAT_VERSION_ENSEMBLE:
            raise ValueError(f'{path}: format_version 3 requires __metadata__["members"]')
        return 1
    if v != FORMAT_VERSION_ENSEMBLE:
        raise ValueError(f'{path}: __metadata__["members"] needs format_version 3, the file has {v!r}')
    text = meta["members"]
    if not (text.isdigit() and text.isascii() and not text.startswith("0") and len(text) <= 3
            and 2 <= int(text) <= MAX_MEMBERS):
        raise ValueError(f'{path}: __metadata__["members"] is {text!r}, expected an integer from 2 to {MAX_MEMBERS}')
    if meta.get("kind") != "nar_student":
        raise ValueError(f"{path}: only a nar_student can be an ensemble, the file holds {meta.get('kind')!r}")
    return int(text)


def model_metadata(kind: str, config: ModelConfig, extra: Optional[Dict[str, str]] = None,
                   members: int = 1) -> Dict[str, str]:
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind, "config": config.to_json()}
    if members > 1:
        meta["format_version"] = FORMAT_VERSION_ENSEMBLE
        meta["members"] = str(members)
    for k, v in (extra or {}).items():
        if k in meta:
            raise ValueError(f"metadata key {k!r} is reserved")
        meta[k] = str(v)
    return meta


def _probe_shape(c: ModelConfig):
    n = min(c.max_candidates, max(c.max_slate, 4))
    return n, min(c.max_slate, n)


def _probe_runs(c: ModelConfig, n: int) -> int:
    return (c.max_candidates + n - 1) // n if c.rank_embedding else 1


@torch.no_grad()
def probe_output(model: nn.Module, features: torch.Tensor, context: Optional[torch.Tensor],
                 slate: torch.Tensor, runs: int = 1) -> torch.Tensor:
    """The self-test output of `model` (flattened): `runs` runs of the probe request, run r with
    upstream ranks (r n + i) mod max_candidates, one after the other."""
    n = features.shape[0]
    L = slate.shape[0]
    outs = []
    for r in range(runs):
        ranks = (torch.arange(n) + r * n) % model.config.max_candidates
        req = Request(features, context, ranks)
        kind = model.kind
        if kind == "nar_student":
            out = model.logits([req], L)[0]
        elif kind == "ar_teacher":
            out = model.teacher_forced([req], slate.long()[None])[0]
            out = torch.where(torch.isfinite(out), out, torch.zeros_like(out))
        else:
            out = model.engagement(req, slate.long()[None])[0]
        outs.append(out.reshape(-1))
    return torch.cat(outs)


def save_model(module: nn.Module, path: str, kind: Optional[str] = None, config: Optional[ModelConfig] = None,
               dtype: Optional[torch.dtype] = None, extra_metadata: Optional[Dict[str, str]] = None,
               verify: bool = True, seed: int = 0x7E57) -> None:
    """Write a model's state_dict as safetensors (dtype: torch.float32 / torch.float64, default the
    module's own), with an embedded self-test unless verify=False."""
    kind = kind or module.kind
    config = config or module.config
    members = len(module.members) if isinstance(module, NarStudentEnsemble) else 1
    if kind not in MODEL_KINDS or not (isinstance(module, MODEL_KINDS[kind]) or
                                       (members > 1 and kind == "nar_student")):
        raise ValueError(f"module {type(module).__name__} is not a {kind!r}")
    tensors = {}
    for name, t in _state(module).items():
        t = t.detach()
        if dtype is not None:
            t = t.to(dtype)
        if t.dtype not in (torch.float32, torch.float64):
            raise ValueError(f"tensor {name}: only float32/float64 models are supported, got {t.dtype}")
        tensors[name] = t.cpu().contiguous().numpy()
    extra = dict(extra_metadata or {})
    if verify:
        file_dtype = torch.from_numpy(next(iter(tensors.values()))).dtype
        ref = _make(kind, config, members).double()
        _load_state(ref, {k: torch.from_numpy(v).double() for k, v in tensors.items()})
        n, L = _probe_shape(config)
        g = torch.Generator().manual_seed(seed)
        feats = torch.randn(n, config.features, generator=g, dtype=torch.float64).to(file_dtype).double()
        ctx = (torch.randn(config.context, generator=g, dtype=torch.float64).to(file_dtype).double()
               if config.context else None)
        slate = torch.arange(n - 1, n - 1 - L, -1, dtype=torch.int64)  # candidates in reverse order
        out = probe_output(ref, feats, ctx, slate, _probe_runs(config, n))
        tensors["verify.features"] = feats.to(file_dtype).numpy()
        if ctx is not None:
            tensors["verify.context"] = ctx.to(file_dtype).numpy()
        tensors["verify.slate"] = slate.numpy()
        tensors["verify.output"] = out.to(file_dtype).numpy()
        extra["verify"] = "1"
    if "members" in extra:
        raise ValueError("metadata key 'members' is reserved (set from the module)")
    save_file(tensors, path, model_metadata(kind, config, extra, members))


def load_model(path: str, dtype: Optional[torch.dtype] = None, kind: Optional[str] = None,
               verify: bool = True) -> nn.Module:
    """Read a model file; checks format, version, kind and that the tensor names and shapes are
    exactly the module's, and runs the embedded self-test (if any, unless verify=False).
    dtype defaults to the file's (F32 -> float32, F64 -> float64)."""
    tensors, meta = load_file(path)
    probe = {k: tensors.pop(k) for k in [k for k in tensors if k.startswith("verify.")]}
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: __metadata__ format is {meta.get('format')!r}, expected {FORMAT!r}")
    if meta.get("format_version") not in (FORMAT_VERSION, FORMAT_VERSION_1, FORMAT_VERSION_ENSEMBLE):
        raise ValueError(f"{path}: unsupported format_version {meta.get('format_version')!r}")
    v1 = meta.get("format_version") == FORMAT_VERSION_1
    if not v1 and FILE_CRC32_KEY not in meta:
        raise ValueError(f"{path}: format_version {meta.get('format_version')} requires __metadata__[{FILE_CRC32_KEY!r}]")
    members = _members_of(path, meta)
    k = meta.get("kind")
    if k not in MODEL_KINDS:
        raise ValueError(f"{path}: unknown model kind {k!r}")
    if kind is not None and k != kind:
        raise ValueError(f"{path}: holds a {k!r}, expected {kind!r}")
    if "config" not in meta:
        raise ValueError(f"{path}: __metadata__ has no config")
    config = ModelConfig.from_json(meta["config"])
    model = _make(k, config, members)
    want = _state(model)
    missing = [n for n in want if n not in tensors]
    extra = [n for n in tensors if n not in want]
    if missing or extra:
        raise ValueError(f"{path}: tensor names differ from the model: missing {missing}, unexpected {extra}")
    dtypes = {a.dtype for a in tensors.values()}
    if not dtypes <= {np.dtype(np.float32), np.dtype(np.float64)} or len(dtypes) > 1:
        raise ValueError(f"{path}: expected one float dtype (F32 or F64), found {sorted(map(str, dtypes))}")
    file_dtype = torch.float64 if np.dtype(np.float64) in dtypes else torch.float32
    dtype = dtype or file_dtype
    model = model.to(dtype)
    sd = {}
    for n, ref in want.items():
        a = tensors[n]
        if tuple(a.shape) != tuple(ref.shape):
            raise ValueError(f"{path}: tensor {n} has shape {list(a.shape)}, the config needs {list(ref.shape)}")
        sd[n] = torch.from_numpy(a).to(dtype)
    _load_state(model, sd)
    if verify and meta.get("verify") == "1":
        _self_test(path, model, config, probe, 1 if v1 else None)
    return model


def _self_test(path: str, model: nn.Module, config: ModelConfig, probe: Dict[str, np.ndarray],
               runs: Optional[int] = None) -> None:
    n, L = _probe_shape(config)
    try:
        feats = torch.from_numpy(probe["verify.features"]).double().reshape(n, config.features)
        ctx = torch.from_numpy(probe["verify.context"]).double().reshape(config.context) if config.context else None
        slate = torch.from_numpy(probe["verify.slate"]).long().reshape(L)
        want = torch.from_numpy(probe["verify.output"]).double().reshape(-1)
    except (KeyError, RuntimeError) as e:
        raise ValueError(f"{path}: malformed self-test tensors ({e})") from None
    if bool(((slate < 0) | (slate >= n)).any()) or len(set(slate.tolist())) != L:
        raise ValueError(f"{path}: verify.slate is not a slate of distinct candidates")
    members = len(model.members) if isinstance(model, NarStudentEnsemble) else 1
    ref = _make(model.kind, config, members).double()
    _load_state(ref, {k: v.double() for k, v in _state(model).items()})
    got = probe_output(ref, feats, ctx, slate, runs if runs is not None else _probe_runs(config, n))
    if got.shape != want.shape:
        raise ValueError(f"{path}: self-test output has {want.numel()} values, expected {got.numel()}")
    scale = max(1e-6, float(want.abs().max()) if want.numel() else 0.0)
    err = float((got - want).abs().max()) if want.numel() else 0.0
    if not err <= 1e-4 * scale:
        raise ValueError(f"{path}: self-test failed (max |output - stored| = {err:.3g}, max |stored| = {scale:.3g})")
