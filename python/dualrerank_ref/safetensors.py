"""A small, dependency-free safetensors reader and writer (numpy only).

Format (https://github.com/huggingface/safetensors): an 8-byte little-endian u64 N, then N bytes
of JSON header, then the data region. The header maps each tensor name to
{"dtype", "shape", "data_offsets": [begin, end]} (byte offsets relative to the start of the data
region) and may hold "__metadata__": {str: str}. Data is little-endian and row-major.

Like the C++ writer (include/dualrerank/io/safetensors.hpp) this writer pads the header with spaces
to a multiple of 8 bytes, lays the data out by element size (8-byte types first, stable), so every
tensor is naturally aligned, and records the CRC-32 of the data region in
__metadata__["dualrerank.crc32"] and of the whole file (header included) in
__metadata__["dualrerank.crc32_file"]: zlib.crc32 of every byte of the file with the 8 digits of
that value read as "00000000" (the pair is written compactly, "dualrerank.crc32_file":"xxxxxxxx",
and found by its bytes). Both readers verify both. The reader validates every dtype, shape and
offset before it touches the data.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Dict, Mapping, Optional, Tuple

import numpy as np

__all__ = ["save_file", "load_file", "read_header", "CRC32_KEY", "FILE_CRC32_KEY", "DTYPES", "SafetensorsError"]

CRC32_KEY = "dualrerank.crc32"
FILE_CRC32_KEY = "dualrerank.crc32_file"
_FILE_CRC_PATTERN = b'"' + FILE_CRC32_KEY.encode() + b'":"'


def _file_crc_digits(buf: bytes, header_end: int) -> int:
    """Offset of the 8 digits of the whole-file CRC in buf, or -1 unless the pair occurs once."""
    at = buf.find(_FILE_CRC_PATTERN, 8, header_end)
    if at < 0 or buf.find(_FILE_CRC_PATTERN, at + 1, header_end) >= 0:
        return -1
    d = at + len(_FILE_CRC_PATTERN)
    if d + 9 > header_end or buf[d + 8:d + 9] != b'"':
        return -1
    return d


def _file_crc(buf: bytes, digits: int) -> str:
    c = zlib.crc32(buf[:digits])
    c = zlib.crc32(b"00000000", c)
    c = zlib.crc32(buf[digits + 8:], c)
    return "%08x" % (c & 0xFFFFFFFF)

# safetensors dtype name -> little-endian numpy dtype
DTYPES: Dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NAMES = {v.str if v.itemsize > 1 else v.char: k for k, v in DTYPES.items()}

MAX_HEADER = 100 * 1024 * 1024  # the reference implementation's cap


class SafetensorsError(ValueError):
    """A malformed file or an unsupported tensor."""


def _dtype_name(a: np.ndarray) -> str:
    dt = a.dtype.newbyteorder("<") if a.dtype.itemsize > 1 else a.dtype
    key = dt.str if dt.itemsize > 1 else dt.char
    if key not in _NAMES:
        raise SafetensorsError(f"unsupported dtype {a.dtype}")
    return _NAMES[key]


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    try:  # torch tensors without importing torch here
        return x.detach().cpu().contiguous().numpy()
    except AttributeError:
        return np.asarray(x)


def save_file(tensors: Mapping[str, object], path: str, metadata: Optional[Mapping[str, str]] = None,
              checksum: bool = True) -> None:
    """Write `tensors` (name -> numpy array or torch tensor) to `path`.

    The header lists tensors in the order given; data is laid out 8-byte types first (stable).
    """
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    meta.pop(CRC32_KEY, None)
    meta.pop(FILE_CRC32_KEY, None)
    arrays = []
    for name, t in tensors.items():
        if name == "__metadata__":
            raise SafetensorsError("the name __metadata__ is reserved")
        a = _to_numpy(t)
        dname = _dtype_name(a)
        a = np.ascontiguousarray(a, dtype=DTYPES[dname])
        arrays.append((name, dname, a))
    order = sorted(range(len(arrays)), key=lambda i: -arrays[i][2].dtype.itemsize)  # stable
    offsets = {}
    pos = 0
    for i in order:
        nbytes = arrays[i][2].nbytes
        offsets[i] = (pos, pos + nbytes)
        pos += nbytes
    data = bytearray(pos)
    for i, (_, _, a) in enumerate(arrays):
        b, e = offsets[i]
        data[b:e] = a.tobytes(order="C")
    if checksum:
        meta[CRC32_KEY] = "%08x" % (zlib.crc32(bytes(data)) & 0xFFFFFFFF)
        meta[FILE_CRC32_KEY] = "00000000"  # patched below, once the whole file is known
    header: Dict[str, object] = {}
    if meta:
        header["__metadata__"] = meta
    for i, (name, dname, a) in enumerate(arrays):
        header[name] = {"dtype": dname, "shape": list(a.shape), "data_offsets": list(offsets[i])}
    hb = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    buf = bytearray(struct.pack("<Q", len(hb)) + hb + bytes(data))
    if checksum:
        d = _file_crc_digits(bytes(buf), 8 + len(hb))
        if d < 0:
            raise SafetensorsError("cannot place the whole-file checksum")
        buf[d:d + 8] = _file_crc(bytes(buf), d).encode()
    with open(path, "wb") as f:
        f.write(bytes(buf))


def read_header(buf: bytes) -> Tuple[dict, Dict[str, str], int]:
    """Parse and validate the header of a safetensors image: (entries, metadata, data_start)."""
    if len(buf) < 8:
        raise SafetensorsError("file shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > MAX_HEADER or n > len(buf) - 8:
        raise SafetensorsError(f"header length {n} exceeds the file ({len(buf) - 8} bytes after the length)")
    try:
        header = json.loads(buf[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError("header must be a JSON object")
    meta = header.pop("__metadata__", {}) or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise SafetensorsError("__metadata__ must be an object of strings")
    data_start = 8 + n
    data_size = len(buf) - data_start
    spans = []
    for name, e in header.items():
        if not isinstance(e, dict) or "dtype" not in e or "shape" not in e or "data_offsets" not in e:
            raise SafetensorsError(f"tensor {name!r}: entry needs dtype, shape and data_offsets")
        if e["dtype"] not in DTYPES:
            raise SafetensorsError(f"tensor {name!r}: unsupported dtype {e['dtype']!r}")
        shape = e["shape"]
        if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                  for s in shape):
            raise SafetensorsError(f"tensor {name!r}: shape must be a list of non-negative integers")
        offs = e["data_offsets"]
        if (not isinstance(offs, list) or len(offs) != 2 or not all(isinstance(o, int) for o in offs)
                or not 0 <= offs[0] <= offs[1] <= data_size):
            raise SafetensorsError(f"tensor {name!r}: data_offsets {offs} outside the data region ({data_size} bytes)")
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if count * DTYPES[e["dtype"]].itemsize != offs[1] - offs[0]:
            raise SafetensorsError(f"tensor {name!r}: shape {shape} x {e['dtype']} does not match "
                                   f"{offs[1] - offs[0]} bytes")
        spans.append((offs[0], offs[1], name))
    cursor = 0
    for b, e, name in sorted(spans):
        if b != cursor:
            raise SafetensorsError(f"tensor {name!r}: data region has a gap or overlap at byte {cursor}")
        cursor = e
    if cursor != data_size:
        raise SafetensorsError(f"tensors cover {cursor} bytes of a {data_size}-byte data region")
    return header, meta, data_start


def load_file(path: str, verify_checksum: bool = True) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """Read a safetensors file: ({name: numpy array (native byte order)}, metadata)."""
    with open(path, "rb") as f:
        buf = f.read()
    header, meta, start = read_header(buf)
    if verify_checksum and CRC32_KEY in meta:
        got = "%08x" % (zlib.crc32(buf[start:]) & 0xFFFFFFFF)
        if got != meta[CRC32_KEY]:
            raise SafetensorsError(f"checksum mismatch: data CRC-32 {got}, header records {meta[CRC32_KEY]}")
    if verify_checksum and FILE_CRC32_KEY in meta:
        d = _file_crc_digits(buf, start)
        if d < 0:
            raise SafetensorsError(f'the header does not hold "{FILE_CRC32_KEY}":"<8 digits>" exactly once')
        got = _file_crc(buf, d)
        if got != meta[FILE_CRC32_KEY]:
            raise SafetensorsError(f"checksum mismatch: whole-file CRC-32 {got}, header records {meta[FILE_CRC32_KEY]}")
    out = {}
    for name, e in header.items():
        b, en = e["data_offsets"]
        dt = DTYPES[e["dtype"]]
        a = np.frombuffer(buf, dtype=dt, count=(en - b) // dt.itemsize, offset=start + b).reshape(e["shape"])
        out[name] = a.astype(dt.newbyteorder("=") if dt.itemsize > 1 else dt, copy=True)
    return out, meta
