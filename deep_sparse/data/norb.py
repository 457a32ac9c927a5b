"""NORB (LeCun et al., 2004): the binary-matrix format, small NORB and jittered-cluttered NORB.

Binary-matrix format (shared by both NORB variants), all little-endian int32:
``magic, ndim, dim_0, ..., dim_{max(ndim, 3) - 1}`` then the data in C order. At least three sizes are
always stored; when ``ndim < 3`` the extra ones are 1 and ignored. Magic numbers (:data:`MAGIC`):
0x1E3D4C51 float32, 0x1E3D4C53 float64, 0x1E3D4C54 int32, 0x1E3D4C55 uint8, 0x1E3D4C56 int16
(0x1E3D4C52, "packed", is not supported). Files may also be gzipped (``.mat.gz``).

Preprocessing (paper, section 4.1, after Nair & Hinton 2010): each stereo pair (2 x 96 x 96 for small
NORB, 2 x 108 x 108 for jittered-cluttered NORB) is subsampled to 2 x 32 x 32 by *area averaging*
(:func:`area_resize`: each output pixel is the mean of the input area it covers, fractional pixels
weighted by their overlap), then scaled linearly from [0, 255] to [-1, 1] (``x / 127.5 - 1``).
Inputs are flattened to 2048 float32 (left image then right image).

Splits:

* ``norb`` (jittered-cluttered, 6 classes, category 5 = no object): files
  ``norb-5x46789x9x18x6x2x108x108-training-NN-{dat,cat}.mat`` (NN = 01..10) and
  ``norb-5x01235x9x18x6x2x108x108-testing-NN-{dat,cat}.mat`` (01..02; the test instances are 0, 1, 2, 3, 5).
  ``train`` = training files 01..08, ``valid`` = training files 09..10, ``test`` = the two testing files.
  With the full files this is 233,280 / 58,320 / 58,320; the paper reports 233,172 / 58,428 / 58,320
  (Nair & Hinton's exact validation selection is not public), a difference of 108 examples.
* ``smallnorb`` (5 classes): ``smallnorb-5x46789x9x18x6x2x96x96-training-{dat,cat}.mat`` and
  ``smallnorb-5x01235x9x18x6x2x96x96-testing-{dat,cat}.mat``;
  ``valid`` = the LAST 4,860 (1/5) of the training file, ``train`` the rest, ``test`` the testing file.

Large files are memory-mapped (uncompressed) and preprocessed in chunks; ``.mat.gz`` files are read
as they are downloaded (decompressed in memory, never unpacked to disk).

:func:`fetch` downloads the missing ``.mat.gz`` files with pooch from the official NORB pages (or
``mirrors=``, else ``$DEEP_SPARSE_SMALLNORB_MIRRORS`` / ``$DEEP_SPARSE_NORB_MIRRORS``), one file at a
time, each whole and verified or not at all (files fetched before a failure stay, so a second fetch
resumes). Small NORB is checked against TFDS's SHA-256 (:mod:`.registry`); jittered-cluttered NORB has
no published checksum, so the SHA-256 of each file is recorded in ``SHA256SUMS`` on first fetch. Every
load verifies the files it reads (:mod:`.integrity`).
"""
from __future__ import annotations

import os
import struct
import zlib

import numpy as np

from . import download as dl
from . import integrity, registry
from .download import atomic_write_bytes, open_maybe_gzip

__all__ = ["MAGIC", "read_header", "read_matrix", "encode_matrix", "write_matrix", "area_resize", "preprocess",
           "load_splits", "info", "file_names", "fetch", "verify_files"]

MAGIC = {
    0x1E3D4C51: np.dtype("<f4"), 0x1E3D4C53: np.dtype("<f8"), 0x1E3D4C54: np.dtype("<i4"),
    0x1E3D4C55: np.dtype("u1"), 0x1E3D4C56: np.dtype("<i2"),
}
_CODES = {v.newbyteorder("=").str: k for k, v in MAGIC.items()}
NUM_CLASSES = {"norb": 6, "smallnorb": 5}
SIDE = {"norb": 108, "smallnorb": 96}
SIZES = {"norb": {"train": 233_280, "valid": 58_320, "test": 58_320},
         "smallnorb": {"train": 19_440, "valid": 4_860, "test": 24_300}}
CHUNK = 2048


def file_names(variant: str) -> dict[str, list[tuple[str, str]]]:
    """``{split or file group: [(dat, cat), ...]}`` file names (without ``.gz``), as the NORB pages name them.

    ``smallnorb``: groups ``training`` and ``test``; ``norb``: splits ``train``, ``valid`` and ``test``.
    """
    if variant == "smallnorb":
        train, test = "smallnorb-5x46789x9x18x6x2x96x96-training", "smallnorb-5x01235x9x18x6x2x96x96-testing"
        return {"training": [(f"{train}-dat.mat", f"{train}-cat.mat")],
                "test": [(f"{test}-dat.mat", f"{test}-cat.mat")]}
    if variant != "norb":
        raise ValueError(f"unknown NORB variant {variant!r}; expected one of {sorted(SIDE)}")
    train, test = "norb-5x46789x9x18x6x2x108x108-training", "norb-5x01235x9x18x6x2x108x108-testing"
    pair = lambda p, i: (f"{p}-{i:02d}-dat.mat", f"{p}-{i:02d}-cat.mat")  # noqa: E731
    return {"train": [pair(train, i) for i in range(1, 9)], "valid": [pair(train, i) for i in (9, 10)],
            "test": [pair(test, i) for i in (1, 2)]}


def _all_names(variant: str) -> list[str]:
    return [name for pairs in file_names(variant).values() for pair in pairs for name in pair]


def read_header(f, name: str) -> tuple[np.dtype, tuple, int]:
    """``(dtype, shape, header bytes)`` from an open binary-matrix file; validates magic and ndim."""
    head = f.read(8)
    if len(head) < 8:
        raise ValueError(f"{name}: truncated NORB header, expected at least 8 bytes, got {len(head)}")
    magic, ndim = struct.unpack("<iI", head)
    magic &= 0xFFFFFFFF
    if magic not in MAGIC:
        raise ValueError(f"{name}: bad NORB magic number 0x{magic:08X}, expected one of "
                         f"{', '.join(f'0x{m:08X}' for m in MAGIC)}")
    if not 0 < ndim <= 16:
        raise ValueError(f"{name}: expected 1 to 16 dimensions in the NORB header, got {ndim}")
    stored = max(ndim, 3)
    raw = f.read(4 * stored)
    if len(raw) < 4 * stored:
        raise ValueError(f"{name}: truncated NORB header, expected {stored} dimension sizes")
    dims = struct.unpack(f"<{stored}i", raw)[:ndim]
    if any(d < 0 for d in dims):
        raise ValueError(f"{name}: negative dimension in NORB header {dims}")
    return MAGIC[magic], tuple(dims), 8 + 4 * stored


def read_matrix(path: str, *, ndim: int | None = None, mmap: bool = True) -> np.ndarray:
    """Read a NORB binary-matrix file (``.gz`` decompressed); validates magic, ``ndim`` and length.

    Uncompressed files are memory-mapped read-only when ``mmap`` (the default).
    """
    with open_maybe_gzip(path) as f:
        dtype, shape, header = read_header(f, path)
        if ndim is not None and len(shape) != ndim:
            raise ValueError(f"{path}: expected a {ndim}-dimensional NORB matrix, the header says {shape}")
        count = int(np.prod(shape, dtype=np.int64))
        expected = header + count * dtype.itemsize
        if path.endswith(".gz") or not mmap:
            data = f.read()
            actual = header + len(data)
        else:
            actual = os.path.getsize(path)
            data = None
    if actual != expected:
        what = "truncated" if actual < expected else "too long"
        raise ValueError(f"{path}: {what} NORB file, expected {expected} bytes for shape {shape} of "
                         f"{dtype.name}, got {actual}")
    if data is None:
        return np.memmap(path, dtype=dtype, mode="r", offset=header, shape=shape)
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def encode_matrix(array) -> bytes:
    """The binary-matrix encoding of ``array``."""
    array = np.asarray(array)
    key = array.dtype.newbyteorder("=").str
    if key not in _CODES:
        raise ValueError(f"NORB format cannot store dtype {array.dtype}")
    dims = list(array.shape) + [1] * max(0, 3 - array.ndim)
    header = struct.pack("<iI", _CODES[key] - (1 << 32) if _CODES[key] >= 1 << 31 else _CODES[key], array.ndim)
    header += struct.pack(f"<{len(dims)}i", *dims)
    return header + np.ascontiguousarray(array, dtype=MAGIC[_CODES[key]]).tobytes()


def write_matrix(path: str, array) -> str:
    """Write ``array`` as a NORB binary-matrix file at ``path`` (atomically)."""
    return atomic_write_bytes(path, encode_matrix(array))


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``R [n_out, n_in]``: row i averages input pixels over [i n_in/n_out, (i+1) n_in/n_out)."""
    edges = np.arange(n_out + 1) * (n_in / n_out)
    lo, hi = edges[:-1, None], edges[1:, None]
    j = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0.0, None)
    return (overlap / (n_in / n_out)).astype(np.float32)


def area_resize(images, size: int = 32) -> np.ndarray:
    """Area-average ``[..., H, W]`` images to ``[..., size, size]`` float32 (exact block mean if H % size == 0)."""
    images = np.asarray(images, np.float32)
    rows = _area_matrix(images.shape[-2], size)
    cols = _area_matrix(images.shape[-1], size)
    return np.einsum("ih,...hw,jw->...ij", rows, images, cols, optimize=True)


def preprocess(pairs, size: int = 32) -> np.ndarray:
    """Stereo pairs ``[n, 2, H, W]`` uint8 -> float32 ``[n, 2 * size * size]`` in [-1, 1]."""
    pairs = np.asarray(pairs)
    if pairs.ndim != 4 or pairs.shape[1] != 2:
        raise ValueError(f"expected stereo pairs of shape (n, 2, H, W), got {pairs.shape}")
    out = np.empty((pairs.shape[0], 2 * size * size), np.float32)
    for start in range(0, pairs.shape[0], CHUNK):
        small = area_resize(pairs[start:start + CHUNK], size)
        out[start:start + CHUNK] = small.reshape(small.shape[0], -1) / np.float32(127.5) - np.float32(1.0)
    return out


def _present(directory: str, name: str) -> str | None:
    """``name`` or ``name.gz`` (relative to ``directory``) if that file exists, raw first, else ``None``."""
    for candidate in (name, name + ".gz"):
        if os.path.isfile(os.path.join(directory, candidate)):
            return candidate
    return None


def _find(directory: str, name: str) -> str:
    found = _present(directory, name)
    if found is None:
        raise FileNotFoundError(f"NORB file {name} (or {name}.gz) not found in {directory}; run `python -m "
                                "deep_sparse.data fetch norb` (or smallnorb), or download it from "
                                "https://cs.nyu.edu/~ylclab/data/ and place it there")
    return os.path.join(directory, found)


def verify_files(directory: str, variant: str, hashes=None) -> dict[str, str]:
    """Check every NORB file present against its known hash; ``{relative path: state}``.

    Raises :class:`.download.ChecksumError` naming the file, the expected and the received hash.
    """
    present = [p for p in (_present(directory, n) for n in _all_names(variant)) if p is not None]
    return integrity.verify(directory, present, registry.hashes_for(registry.SOURCES[variant], hashes))


def fetch(directory: str, variant: str = "norb", *, mirrors=None, hashes=None, retries: int = 1,
          timeout: float = 60.0, progressbar: bool | None = None, download: bool = True, verify: bool = True) -> str:
    """Make the NORB ``variant`` (``"norb"`` or ``"smallnorb"``) files available and verified; return ``directory``.

    Present files are verified and never overwritten; missing ones are downloaded (module docstring;
    ``mirrors``: base URLs, ``hashes``: ``{file.mat.gz: "alg:hex" or None}``, ``retries``: pooch retries
    per mirror, ``progressbar``: ``None`` = only on a terminal). With ``download=False`` or
    ``DEEP_SPARSE_OFFLINE=1`` missing files raise ``FileNotFoundError``. ``verify=False`` skips the check
    of files already present. Idempotent.
    """
    names = _all_names(variant)
    if verify and os.path.isdir(directory):
        verify_files(directory, variant, hashes)
    missing = [n for n in names if not os.path.isdir(directory) or _present(directory, n) is None]
    # a file placed by hand has no published checksum (those are of the .gz files): its header is checked
    damaged = _damaged_headers(directory, [n for n in names if n not in missing])
    if not missing and damaged:
        raise ValueError(f"{damaged[0]}; delete it to download it again")
    if not missing:
        return directory
    if not download or dl.offline():
        why = f"{dl.OFFLINE_ENV}=1" if download else "download=False"
        raise FileNotFoundError("".join(f"{problem}; " for problem in damaged[:1])
                                + f"{variant}: {len(missing)} files missing in {directory} (first: {missing[0]}) and "
                                f"downloading is off ({why})")
    src = registry.SOURCES[variant]
    table = registry.hashes_for(src, hashes)
    bases = dl.mirrors_from_env(src.mirrors_env, src.mirrors, mirrors)
    downloader = dl.http_downloader(timeout, progressbar)
    try:
        for name in missing:
            gz = name + ".gz"
            dl.retrieve(directory, gz, table[gz], bases, downloader=downloader, retries=retries,
                        on_verified=integrity.recorder(directory, gz, table[gz]))
    except (dl.FetchError, dl.ChecksumError) as error:
        if damaged:  # the local file first: a download error alone would hide it
            raise dl.FetchError(f"{damaged[0]}; then the download of the {len(missing)} missing file(s) failed: "
                                f"{error}") from error
        raise
    if damaged:
        raise ValueError(f"{damaged[0]}; delete it to download it again")
    return directory


def _damaged_headers(directory: str, names: list[str]) -> list[str]:
    """``"<file>: <what its header holds and what was expected>"`` for each present file of ``names``
    whose NORB header cannot be read (the file is never loaded otherwise before a download)."""
    problems = []
    for name in names:
        path = os.path.join(directory, _present(directory, name))
        try:
            with open_maybe_gzip(path) as f:
                read_header(f, path)
        except (ValueError, OSError, EOFError, zlib.error) as error:
            problems.append(f"local file {error}" if str(error).startswith(path) else f"local file {path}: {error}")
    return problems


def _load_pair(directory: str, dat: str, cat: str, variant: str) -> tuple[np.ndarray, np.ndarray]:
    dpath, cpath = _find(directory, dat), _find(directory, cat)
    images = read_matrix(dpath, ndim=4)
    labels = read_matrix(cpath, ndim=1)
    side = SIDE[variant]
    if images.shape[1:] != (2, side, side) or images.dtype != np.uint8:
        raise ValueError(f"{dpath}: expected uint8 stereo pairs of shape (n, 2, {side}, {side}), "
                         f"got {images.dtype} {images.shape}")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"{cpath}: has {labels.shape[0]} labels but {dpath} has {images.shape[0]} images; "
                         "expected the same count")
    labels = np.asarray(labels, np.int32)
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES[variant]):
        raise ValueError(f"{cpath}: expected categories 0..{NUM_CLASSES[variant] - 1}, "
                         f"found {int(labels.min())}..{int(labels.max())}")
    return preprocess(images), labels


def _concat(parts):
    xs, ys = zip(*parts)
    return np.concatenate(xs), np.concatenate(ys)


def load_splits(directory: str, variant: str = "norb", size: int = 32, *, verify: bool = True,
                hashes=None) -> dict:
    """``{"train", "valid", "test"}`` -> ``(x float32 [n, 2048] in [-1, 1], y int32 [n])``.

    ``verify``: check the files present against their known hashes first (``hashes``: overrides).
    """
    if variant not in SIDE:
        raise ValueError(f"unknown NORB variant {variant!r}; expected one of {sorted(SIDE)}")
    names = file_names(variant)
    if verify:
        verify_files(directory, variant, hashes)
    if variant == "smallnorb":
        x, y = _load_pair(directory, *names["training"][0], variant)
        n_valid = x.shape[0] // 5
        if n_valid == 0:
            raise ValueError(f"{directory}: small NORB training file has {x.shape[0]} examples, expected >= 5")
        return {"train": (x[:-n_valid], y[:-n_valid]), "valid": (x[-n_valid:], y[-n_valid:]),
                "test": _load_pair(directory, *names["test"][0], variant)}
    return {split: _concat([_load_pair(directory, d, c, variant) for d, c in pairs]) for split, pairs in names.items()}


def info(directory: str, variant: str = "norb", hashes=None) -> dict:
    """Files present with sizes and checksum state, files missing, split sizes and the split rule."""
    table = registry.hashes_for(registry.SOURCES[variant], hashes)
    files, missing = [], []
    for name in _all_names(variant):
        found = _present(directory, name) if os.path.isdir(directory) else None
        if found is None:
            missing.append(name)
            continue
        path = os.path.join(directory, found)
        files.append({"name": found, "path": path, "size": os.path.getsize(path),
                      "state": integrity.state(directory, found, table)})
    rule = ("train = training files 01-08, valid = training files 09-10, test = testing files 01-02"
            if variant == "norb" else "train = first 4/5 of the training file, valid = its last 1/5, test = testing file")
    return {"files": files, "missing": missing, "splits": dict(SIZES[variant]), "split_rule": rule}
