"""LETOR / svmlight ranking data, as strict as include/dualrerank/data/letor.hpp.

One document per line: `<label> [qid:<Q>] <index>:<value> ... [# comment]`, or without `qid:` plus a
group file (one query size per line, LightGBM `.query` / XGBoost `.group`). The rules and caps are
the C++ reader's, and the error messages name "source:line" the same way (ValueError here,
format_error there):

* label: a finite number in [0, max_label]; qid: an unsigned integer, a query's documents
  contiguous (a qid going back to an earlier query is an error); a file uses qid: or a group file
  (whose queries get qids 1, 2, ..., Q, their numbers in the group file);
* index:value: index >= 0, <= max_feature_index and strictly increasing within a line, value a
  finite number that fits a float32; numbers use C++ `std::from_chars` syntax (one optional leading
  '+'; no underscores, no surrounding spaces, no inf/nan);
* '#' starts a comment, blank lines are skipped, a trailing '\\r' is dropped, NUL bytes are errors;
* caps (LetorLimits): line length 1 MiB, feature index 2^20 - 1, 65,536 documents per query,
  100,000,000 rows, label 31.

Indices are kept literally (a 1-based file leaves column 0 empty); the dense width is the fixed
`feature_width` if given, else max index + 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

__all__ = ["LetorLimits", "LetorQuery", "LetorDataset", "read_letor", "read_letor_file", "top_by_label"]

_FLT_MAX = float(np.finfo(np.float32).max)
_FLT_ROUND_LIMIT = 3.4028235677973366e38  # FLT_MAX + 2**103: from here on a value rounds to inf
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_SINT = re.compile(r"[+-]?[0-9]+\Z")
_UINT = re.compile(r"\+?[0-9]+\Z")


@dataclass
class LetorLimits:
    max_line_length: int = 1 << 20
    max_feature_index: int = (1 << 20) - 1
    max_docs_per_query: int = 1 << 16
    max_rows: int = 100_000_000
    max_label: float = 31.0


@dataclass
class LetorQuery:
    qid: int
    features: np.ndarray  # [n, width] float32, dense
    labels: np.ndarray    # [n] float32


@dataclass
class LetorDataset:
    queries: List[LetorQuery] = field(default_factory=list)
    width: int = 0
    max_index: int = -1


def _strip_plus(s: str) -> str:
    # the C++ parser drops one leading '+' unless a sign follows it
    if len(s) > 1 and s[0] == "+" and s[1] not in "+-":
        return s[1:]
    return s


def _parse_double(s: str) -> Optional[float]:
    s = _strip_plus(s)
    if not s or s[0] == "+" or not _FLOAT.match(s):
        return None
    v = float(s)
    return v if np.isfinite(v) else None


def _parse_int(s: str, signed: bool, bits: int = 64) -> Optional[int]:
    s = _strip_plus(s)
    if not s or s[0] == "+" or not (_SINT if signed else _UINT).match(s):
        return None
    v = int(s)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    return v if lo <= v <= hi else None


def _quoted(s: str) -> str:
    return "'" + s[:64] + ("..." if len(s) > 64 else "") + "'"


def _lines(data: bytes, name: str, cap: int):
    """(line number, text) of each line, with the C++ reader's cap, CR and NUL rules."""
    pos = 0
    no = 0
    n = len(data)
    while pos < n:
        end = data.find(b"\n", pos)
        stop = n if end < 0 else end
        no += 1
        if stop - pos > cap:
            raise ValueError(f"{name}:{no}: line longer than the limit of {cap} bytes")
        raw = data[pos:stop]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if b"\0" in raw:
            raise ValueError(f"{name}:{no}: NUL byte in a text line")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        yield no, text
        pos = stop + 1


def _tokens(line: str) -> List[str]:
    h = line.find("#")
    if h >= 0:
        line = line[:h]
    return [t for t in re.split(r"[ \t\r]+", line) if t]


def read_letor(data: bytes, source: str = "<bytes>", groups: Optional[bytes] = None, group_source: str = "<groups>",
               feature_width: int = 0, limits: Optional[LetorLimits] = None) -> LetorDataset:
    """Parse LETOR text (bytes); `groups` is the group file's content for files without qid:."""
    lim = limits or LetorLimits()
    if feature_width < 0:
        raise ValueError("feature_width must be >= 0")
    if feature_width > lim.max_feature_index + 1:
        raise ValueError("feature_width exceeds max_feature_index + 1")
    have_groups = groups is not None
    mode = 0  # 0 unknown, 1 qid in the data, 2 group file
    seen = set()
    qids: List[int] = []
    starts: List[int] = []
    labels: List[float] = []
    rows: List[tuple] = []  # (indices, values)
    current_qid = 0
    current_size = 0
    max_index = -1
    for no, line in _lines(data, source, lim.max_line_length):
        def fail(msg):
            raise ValueError(f"{source}:{no}: {msg}")

        tok = _tokens(line)
        if not tok:
            continue
        if len(labels) >= lim.max_rows:
            fail(f"more than {lim.max_rows} rows")
        label = _parse_double(tok[0])
        if label is None:
            fail(f"bad label {_quoted(tok[0])} (expected a finite number)")
        if label < 0.0 or label > lim.max_label:
            fail(f"label {_quoted(tok[0])} outside [0, {lim.max_label}]")
        first = 1
        if len(tok) > 1 and tok[1].startswith("qid:"):
            first = 2
            if have_groups:
                fail("qid: in the data and a group file given: use one or the other")
            if mode == 2:
                fail("qid: appears after lines without it")
            mode = 1
            qid = _parse_int(tok[1][4:], signed=False)
            if qid is None:
                fail(f"bad qid {_quoted(tok[1])}")
            if not labels or qid != current_qid:
                if qid in seen:
                    fail(f"qid {qid} goes back to an earlier query (after qid {current_qid}); "
                         "a query's documents must be contiguous")
                seen.add(qid)
                qids.append(qid)
                starts.append(len(labels))
                current_qid = qid
                current_size = 0
            current_size += 1
            if current_size > lim.max_docs_per_query:
                fail(f"query {qid} has more than {lim.max_docs_per_query} documents")
        else:
            if mode == 1:
                fail("line without qid: in a file that uses qid:")
            if not have_groups:
                fail("no qid: on the line and no group (query) file given")
            mode = 2
        prev = -1
        idx_list, val_list = [], []
        for t in tok[first:]:
            colon = t.find(":")
            if colon < 0:
                fail(f"expected index:value, got {_quoted(t)}")
            is_, vs = t[:colon], t[colon + 1:]
            if is_ == "qid":
                fail("qid: must come right after the label, and only once")
            idx = _parse_int(is_, signed=True)
            if idx is None:
                fail(f"bad feature index {_quoted(is_)}")
            if idx < 0:
                fail(f"negative feature index {idx}")
            if idx > lim.max_feature_index:
                fail(f"feature index {idx} exceeds the limit {lim.max_feature_index}")
            if feature_width > 0 and idx >= feature_width:
                fail(f"feature index {idx} does not fit the given width {feature_width}")
            if idx == prev:
                fail(f"duplicate feature index {idx}")
            if idx < prev:
                fail(f"feature indices not increasing: {idx} after {prev}")
            v = _parse_double(vs)
            if v is None:
                fail(f"bad value {_quoted(vs)} for feature {idx}")
            if not abs(v) < _FLT_ROUND_LIMIT:  # values rounding to a finite float are kept (as the C++ reader)
                fail(f"value {_quoted(vs)} of feature {idx} overflows float")
            v = max(-_FLT_MAX, min(v, _FLT_MAX))
            prev = idx
            idx_list.append(idx)
            val_list.append(v)
            max_index = max(max_index, idx)
        labels.append(label)
        rows.append((idx_list, val_list))

    if have_groups:
        starts = []
        total = 0
        for no, line in _lines(groups, group_source, lim.max_line_length):
            tok = _tokens(line)
            if not tok:
                continue
            if len(tok) != 1:
                raise ValueError(f"{group_source}:{no}: expected one query size per line")
            size = _parse_int(tok[0], signed=True)
            if size is None:
                raise ValueError(f"{group_source}:{no}: bad query size {_quoted(tok[0])}")
            if size <= 0:
                raise ValueError(f"{group_source}:{no}: query size must be positive, got {size}")
            if size > lim.max_docs_per_query:
                raise ValueError(f"{group_source}:{no}: query size {size} exceeds the limit {lim.max_docs_per_query}")
            starts.append(total)
            total += size
            if total > len(labels):
                raise ValueError(f"{group_source}:{no}: query sizes so far sum to {total}, more than the "
                                 f"{len(labels)} rows of {source}")
            qids.append(len(qids) + 1)  # the query's number in the group file, from 1 (as the C++ reader)
        if total != len(labels):
            raise ValueError(f"{group_source}: query sizes sum to {total} but {source} has {len(labels)} rows")

    ds = LetorDataset(width=feature_width if feature_width > 0 else max_index + 1, max_index=max_index)
    bounds = starts + [len(labels)]
    for q, qid in enumerate(qids):
        lo, hi = bounds[q], bounds[q + 1]
        x = np.zeros((hi - lo, max(ds.width, 0)), dtype=np.float32)
        for d in range(lo, hi):
            ii, vv = rows[d]
            if ii:
                x[d - lo, ii] = np.asarray(vv, dtype=np.float64).astype(np.float32)
        ds.queries.append(LetorQuery(qid, x, np.asarray(labels[lo:hi], dtype=np.float64).astype(np.float32)))
    return ds


def read_letor_file(path: str, group_path: Optional[str] = None, feature_width: int = 0,
                    limits: Optional[LetorLimits] = None) -> LetorDataset:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        raise ValueError(f"{path}: cannot open") from None
    groups = None
    if group_path is not None:
        try:
            with open(group_path, "rb") as f:
                groups = f.read()
        except OSError:
            raise ValueError(f"{group_path}: cannot open") from None
    return read_letor(data, path, groups, group_path or "<groups>", feature_width, limits)


def top_by_label(labels: np.ndarray, L: int) -> List[int]:
    """The top L documents by label, ties in file order (train::top_by_score's rule)."""
    order = np.argsort(-np.asarray(labels, dtype=np.float64), kind="stable")
    return [int(i) for i in order[:L]]
