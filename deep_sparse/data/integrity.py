"""Checksums of the files in a data folder: the ``SHA256SUMS`` manifest and verification on load.

A file is verified against, in order: the registry's published hashes for its name (CIFAR-10's MD5,
TFDS's SHA-256 of small NORB), else the SHA-256 recorded in ``<folder>/SHA256SUMS`` when this package
downloaded or extracted it (files with no published checksum, e.g. jittered-cluttered NORB, and the
batches extracted from a verified CIFAR-10 archive). A file that is in neither (placed by the user,
with no published checksum) is reported as unverified, not refused.

``SHA256SUMS`` has the format of ``sha256sum``: ``<64 hex digits>  <path relative to the folder>``,
one file a line; it is rewritten atomically.
"""
from __future__ import annotations

import os
import re
from typing import Mapping, Sequence

from .download import ChecksumError, atomic_write_bytes, check_file, file_hash

__all__ = ["MANIFEST", "read_manifest", "record", "recorder", "expected", "verify", "state", "sha256"]

MANIFEST = "SHA256SUMS"
_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


def _safe_relpath(relpath: str, where: str) -> str:
    norm = os.path.normpath(relpath)
    if os.path.isabs(norm) or norm == ".." or norm.startswith(".." + os.sep):
        raise ValueError(f"{where}: path {relpath!r} leaves the data folder")
    return norm


def read_manifest(directory: str) -> dict[str, str]:
    """``{relative path: sha256 hex}`` from ``directory/SHA256SUMS`` (``{}`` if there is none).

    A malformed line raises ``ValueError`` naming the file and the line number.
    """
    path = os.path.join(directory, MANIFEST)
    if not os.path.isfile(path):
        return {}
    out = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            match = _LINE.match(line.rstrip("\n"))
            if match is None:
                raise ValueError(f"{path}:{number}: expected '<sha256 hex>  <file>', got {line.strip()[:80]!r}")
            out[_safe_relpath(match.group(2), f"{path}:{number}")] = match.group(1)
    return out


def record(directory: str, digests: Mapping[str, str]) -> None:
    """Add or replace ``{relative path: sha256 hex}`` in ``directory/SHA256SUMS`` (atomic rewrite)."""
    table = read_manifest(directory)
    for relpath, digest in digests.items():
        table[_safe_relpath(relpath, MANIFEST)] = digest.lower()
    text = "".join(f"{digest}  {relpath}\n" for relpath, digest in sorted(table.items()))
    atomic_write_bytes(os.path.join(directory, MANIFEST), text.encode("utf-8"))


def recorder(directory: str, relpath: str, hashes: Sequence[str] = ()):
    """For :func:`.download.retrieve`'s ``on_verified``: a callback recording the SHA-256 of the
    downloaded temporary file as ``relpath`` in the manifest, or ``None`` when ``hashes`` (published
    checksums) exist and nothing needs recording."""
    if hashes:
        return None
    return lambda temporary: record(directory, {relpath: sha256(temporary)})


def expected(directory: str, relpath: str, registry: Mapping[str, Sequence[str]],
             manifest: Mapping[str, str] | None = None) -> tuple[tuple[str, ...], str]:
    """``(hashes, where from)`` that the file ``relpath`` must match; ``((), "none")`` if none is known."""
    hashes = tuple(registry.get(os.path.basename(relpath), ()))
    if hashes:
        return hashes, "registry hash"
    manifest = read_manifest(directory) if manifest is None else manifest
    digest = manifest.get(os.path.normpath(relpath))
    return ((f"sha256:{digest}",), f"SHA-256 in {MANIFEST}") if digest else ((), "none")


def verify(directory: str, relpaths: Sequence[str], registry: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Check every existing file of ``relpaths`` against its expected hash; ``{relpath: state}``.

    Only the first known hash is computed (a load need not hash twice). Raises :class:`ChecksumError`
    naming the file, the expected and the received hash at the first mismatch.
    """
    manifest = read_manifest(directory)
    states = {}
    for relpath in relpaths:
        path = os.path.join(directory, relpath)
        hashes, origin = expected(directory, relpath, registry, manifest)
        if hashes and os.path.isfile(path):
            check_file(path, hashes[:1], path)
        states[relpath] = f"verified ({origin})" if hashes else "unverified (no checksum known)"
    return states


def state(directory: str, relpath: str, registry: Mapping[str, Sequence[str]]) -> str:
    """``"verified (...)"``, ``"unverified (...)"`` or ``"CHECKSUM MISMATCH (...)"`` for one file (for ``info``)."""
    try:
        return verify(directory, [relpath], registry)[relpath]
    except ChecksumError as error:
        return f"CHECKSUM MISMATCH ({error})"


def sha256(path: str) -> str:
    """Hex SHA-256 of the file at ``path``."""
    return file_hash(path, "sha256")
