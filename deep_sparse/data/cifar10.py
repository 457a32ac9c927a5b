"""CIFAR-10, binary version only (``cifar-10-binary.tar.gz``), split 50k / 5k / 5k as in the paper.

Each record of a ``.bin`` batch file is 1 label byte (0..9) followed by 3072 pixel bytes (1024 red,
1024 green, 1024 blue, each a 32x32 image in row-major order). The pickled Python version is never
read (no pickle, ever).

Where the files are looked for, in ``DIR`` (the ``cifar10`` folder of the data directory):
``DIR/data_batch_1.bin`` .. ``data_batch_5.bin`` and ``test_batch.bin``, or the same names under
``DIR/cifar-10-batches-bin/`` (the tarball's layout), or the tarball ``DIR/cifar-10-binary.tar.gz``
itself (its members are read by exact name into memory; nothing is extracted).

:func:`fetch` downloads the tarball with pooch from the official host (or ``mirrors=``, else
``$DEEP_SPARSE_CIFAR10_MIRRORS``), checks its published MD5 and TFDS's SHA-256 (:mod:`.registry`;
``hashes=`` overrides them), and extracts the six batches with pooch's ``Untar`` into
``DIR/cifar-10-batches-bin/``, all-or-nothing, recording their SHA-256 in ``DIR/SHA256SUMS``. Every
load verifies the files it reads (the tarball against its published MD5, extracted batches against
``SHA256SUMS``; batches you placed yourself have no checksum and are read as they are).

Splits (the paper reports 50k / 5k / 5k): ``train`` is the five training batches (50,000), ``valid``
the FIRST 5,000 records of ``test_batch.bin``, ``test`` its LAST 5,000. Inputs are ``uint8 / 255`` as
float32 in [0, 1], flattened to 3072 in the file's channel-major order (R plane, G plane, B plane).
"""
from __future__ import annotations

import os

import numpy as np

from . import download as dl
from . import integrity, registry
from .download import read_tar_members
from .processors import AtomicUntar

__all__ = ["TRAIN_FILES", "TEST_FILE", "RECORD", "NUM_CLASSES", "parse_batch", "encode_batch", "load_splits",
           "info", "fetch", "verify_files", "files_read"]

NUM_CLASSES = 10
RECORD = 1 + 3072
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
TARBALL = "cifar-10-binary.tar.gz"
SUBDIR = "cifar-10-batches-bin"
SIZES = {"train": 50_000, "valid": 5_000, "test": 5_000}
SOURCE = registry.SOURCES["cifar10"]
MEMBERS = tuple(f"{SUBDIR}/{n}" for n in TRAIN_FILES + (TEST_FILE,))


def parse_batch(data: bytes, name: str = "<bytes>") -> tuple[np.ndarray, np.ndarray]:
    """``(uint8 pixels [n, 3072], uint8 labels [n])`` from a binary batch; validates length and labels."""
    if len(data) == 0 or len(data) % RECORD:
        raise ValueError(f"{name}: expected a whole number of {RECORD}-byte records (1 label + 3072 pixels), "
                         f"got {len(data)} bytes")
    records = np.frombuffer(data, np.uint8).reshape(-1, RECORD)
    labels = records[:, 0].copy()
    if labels.max() >= NUM_CLASSES:
        bad = int(np.argmax(labels >= NUM_CLASSES))
        raise ValueError(f"{name}: record {bad} has label {int(labels[bad])}, expected 0..9")
    return records[:, 1:].copy(), labels


def encode_batch(pixels, labels) -> bytes:
    """The binary batch encoding of ``uint8 pixels [n, 3072]`` and ``labels [n]``."""
    pixels = np.asarray(pixels, np.uint8).reshape(len(labels), -1)
    if pixels.shape[1] != RECORD - 1:
        raise ValueError(f"expected 3072 pixel bytes per record, got {pixels.shape[1]}")
    labels = np.asarray(labels, np.uint8).reshape(-1, 1)
    return np.concatenate([labels, pixels], axis=1).tobytes()


def files_read(directory: str) -> list[str] | None:
    """Paths relative to ``directory`` that :func:`load_splits` reads: the six batches (directly or under
    ``cifar-10-batches-bin/``), else the tarball; ``None`` when neither is complete."""
    names = TRAIN_FILES + (TEST_FILE,)
    for prefix in ("", SUBDIR + "/"):
        if all(os.path.isfile(os.path.join(directory, prefix + n)) for n in names):
            return [prefix + n for n in names]
    return [TARBALL] if os.path.isfile(os.path.join(directory, TARBALL)) else None


def _not_found(directory: str, why: str | None = None) -> FileNotFoundError:
    names = TRAIN_FILES + (TEST_FILE,)
    off = f" and downloading is off ({why})" if why else ""
    return FileNotFoundError(f"CIFAR-10 binary files not found in {directory}{off}: expected {', '.join(names)} "
                             f"(directly or under {SUBDIR}/) or {TARBALL}; run `python -m deep_sparse.data fetch "
                             "cifar10`, or download the binary version from "
                             "https://www.cs.toronto.edu/~kriz/cifar.html and place it there")


def verify_files(directory: str, hashes=None) -> dict[str, str]:
    """Check the files :func:`load_splits` reads against their known hashes; ``{relative path: state}``.

    Raises :class:`.download.ChecksumError` (file, expected and received hash) or ``FileNotFoundError``.
    """
    relpaths = files_read(directory) if os.path.isdir(directory) else None
    if relpaths is None:
        raise _not_found(directory)
    return integrity.verify(directory, relpaths, registry.hashes_for(SOURCE, hashes))


def fetch(directory: str, *, mirrors=None, hashes=None, retries: int = 1, timeout: float = 60.0,
          progressbar: bool | None = None, download: bool = True, verify: bool = True) -> str:
    """Make CIFAR-10 available and verified in ``directory``; return it (idempotent).

    Files already there are verified and never overwritten. Otherwise the tarball is downloaded (see
    the module docstring; ``mirrors``: base URLs, ``hashes``: ``{"cifar-10-binary.tar.gz": "alg:hex"}``,
    ``retries``: pooch retries per mirror, ``progressbar``: ``None`` = only on a terminal) and its
    batches extracted. With ``download=False`` or ``DEEP_SPARSE_OFFLINE=1`` a missing file raises
    ``FileNotFoundError``. A failed download leaves ``directory`` as it was. ``verify=False`` skips the
    check of files already present.
    """
    if os.path.isdir(directory) and files_read(directory) is not None:
        if verify:
            verify_files(directory, hashes)
        return directory
    if not download or dl.offline():
        raise _not_found(directory, f"{dl.OFFLINE_ENV}=1" if download else "download=False")
    table = registry.hashes_for(SOURCE, hashes)

    def record_batches(paths):
        integrity.record(directory, {member: integrity.sha256(path) for member, path in paths.items()})

    dl.retrieve(directory, TARBALL, table[TARBALL], dl.mirrors_from_env(SOURCE.mirrors_env, SOURCE.mirrors, mirrors),
                downloader=dl.http_downloader(timeout, progressbar), retries=retries,
                processor=AtomicUntar(MEMBERS, before_commit=record_batches),
                on_verified=integrity.recorder(directory, TARBALL, table[TARBALL]))
    return directory


def _read_files(directory: str) -> dict[str, tuple[str, bytes]]:
    relpaths = files_read(directory) if os.path.isdir(directory) else None
    if relpaths is None:
        raise _not_found(directory)
    names = TRAIN_FILES + (TEST_FILE,)
    if relpaths != [TARBALL]:
        out = {}
        for n, rel in zip(names, relpaths):
            path = os.path.join(directory, rel)
            with open(path, "rb") as f:
                out[n] = (path, f.read())
        return out
    tarball = os.path.join(directory, TARBALL)
    data = read_tar_members(tarball, {f"{SUBDIR}/{n}": None for n in names})
    return {n: (f"{tarball}:{SUBDIR}/{n}", data[f"{SUBDIR}/{n}"]) for n in names}


def load_splits(directory: str, n_valid: int = 5_000, *, verify: bool = True, hashes=None) -> dict:
    """``{"train", "valid", "test"}`` -> ``(x float32 [n, 3072], y int32 [n])``; see the module docstring.

    ``verify``: check the files read against their known hashes first (``hashes``: overrides).
    """
    if verify:
        verify_files(directory, hashes)
    files = _read_files(directory)
    xs, ys = [], []
    for n in TRAIN_FILES:
        x, y = parse_batch(files[n][1], files[n][0])
        xs.append(x)
        ys.append(y)
    tx, ty = parse_batch(files[TEST_FILE][1], files[TEST_FILE][0])
    if not 0 < n_valid < tx.shape[0]:
        raise ValueError(f"{files[TEST_FILE][0]}: has {tx.shape[0]} records, expected more than n_valid={n_valid}")

    def xy(x, y):
        return x.astype(np.float32) / np.float32(255.0), y.astype(np.int32)

    return {"train": xy(np.concatenate(xs), np.concatenate(ys)), "valid": xy(tx[:n_valid], ty[:n_valid]),
            "test": xy(tx[n_valid:], ty[n_valid:])}


def info(directory: str, hashes=None) -> dict:
    """Files present with sizes, record counts and checksum state, files missing, and the split rule."""
    table = registry.hashes_for(SOURCE, hashes)
    files, missing = [], []
    for n in TRAIN_FILES + (TEST_FILE,):
        found = [rel for rel in (n, f"{SUBDIR}/{n}") if os.path.isfile(os.path.join(directory, rel))]
        if found:
            size = os.path.getsize(os.path.join(directory, found[0]))
            files.append({"name": n, "path": os.path.join(directory, found[0]), "size": size, "records": size / RECORD,
                          "state": integrity.state(directory, found[0], table)})
        else:
            missing.append(n)
    tarball = os.path.join(directory, TARBALL)
    if os.path.isfile(tarball):
        files.append({"name": TARBALL, "path": tarball, "size": os.path.getsize(tarball),
                      "state": integrity.state(directory, TARBALL, table)})
    return {"files": files, "missing": missing if not os.path.isfile(tarball) else [], "splits": dict(SIZES),
            "split_rule": "train = data_batch_1..5, valid = first 5,000 of test_batch, test = last 5,000"}
