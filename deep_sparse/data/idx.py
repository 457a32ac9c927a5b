"""The IDX file format of MNIST (LeCun et al.), read and written with validation.

An IDX file is a 4-byte magic number ``0x00 0x00 TYPE NDIM``, then ``NDIM`` big-endian uint32 sizes,
then the data in C order, big-endian. ``TYPE`` is 0x08 (uint8), 0x09 (int8), 0x0B (int16),
0x0C (int32), 0x0D (float32) or 0x0E (float64).
"""
from __future__ import annotations

import struct

import numpy as np

from .download import atomic_write_bytes, read_maybe_gzip

__all__ = ["IDX_TYPES", "parse_idx", "read_idx", "encode_idx", "write_idx"]

IDX_TYPES = {
    0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}
_CODES = {np.dtype(v).newbyteorder("=").str: k for k, v in IDX_TYPES.items()}


def parse_idx(data: bytes, name: str = "<bytes>", *, ndim: int | None = None,
              shape: tuple | None = None) -> np.ndarray:
    """Decode IDX ``data`` into a native-endian array.

    Validates: the two leading zero bytes, a known type code, ``ndim`` if given, the trailing sizes
    ``shape[1:]`` if ``shape`` is given (``shape[0]`` too unless it is ``None``), and that the length is
    exactly header + data. Every error is a ``ValueError`` naming ``name`` and what was expected.
    """
    if len(data) < 4:
        raise ValueError(f"{name}: truncated IDX file, expected at least a 4-byte header, got {len(data)} bytes")
    zero, code, dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or code not in IDX_TYPES:
        raise ValueError(f"{name}: bad IDX magic number 0x{data[:4].hex()}, expected 0x0000TTNN with type "
                         f"TT in {{{', '.join(f'0x{c:02X}' for c in IDX_TYPES)}}}")
    if ndim is not None and dims != ndim:
        raise ValueError(f"{name}: expected an IDX file of {ndim} dimension(s), the header says {dims}")
    header = 4 + 4 * dims
    if len(data) < header:
        raise ValueError(f"{name}: truncated IDX header, expected {header} bytes, got {len(data)}")
    sizes = struct.unpack(f">{dims}I", data[4:header])
    if shape is not None:
        want = tuple(shape)
        if len(want) != dims or any(w is not None and w != s for w, s in zip(want, sizes)):
            raise ValueError(f"{name}: expected IDX dimensions {want}, the header says {sizes}")
    dtype = IDX_TYPES[code]
    expected = header + int(np.prod(sizes, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "too long"
        raise ValueError(f"{name}: {what} IDX file, expected {expected} bytes for dimensions {sizes} of "
                         f"{dtype.newbyteorder('=').name}, got {len(data)}")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(sizes)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: str, **expect) -> np.ndarray:
    """Read the IDX file at ``path`` (``.gz`` is decompressed); see :func:`parse_idx` for ``expect``."""
    return parse_idx(read_maybe_gzip(path), path, **expect)


def encode_idx(array) -> bytes:
    """The IDX encoding of ``array`` (one of the IDX dtypes)."""
    array = np.asarray(array)
    key = array.dtype.newbyteorder("=").str
    if key not in _CODES:
        raise ValueError(f"IDX cannot store dtype {array.dtype}; expected one of "
                         f"{sorted(np.dtype(v).newbyteorder('=').name for v in IDX_TYPES.values())}")
    code = _CODES[key]
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()


def write_idx(path: str, array) -> str:
    """Write ``array`` as an IDX file at ``path`` (atomically)."""
    return atomic_write_bytes(path, encode_idx(array))
