"""Getting verified bytes onto disk with pooch: mirrors, hashes, progress bars, nothing half-written.

Every download goes through :func:`retrieve`, a thin loop over mirror base URLs around
:meth:`pooch.Pooch.fetch` (a one-file registry per mirror). The rules every fetcher follows:

* pooch streams each file to a temporary name in the data folder and renames it into place only after
  its hash matched (:func:`check_file` runs first and raises :class:`ChecksumError` with one line naming
  the file, the expected and the received hash); on any failure, Ctrl-C included, the temporary is
  removed, so the folder is left as it was and a second fetch restarts that file cleanly;
* a file already present is verified, never overwritten (a mismatch raises; delete it to fetch again);
* ``DEEP_SPARSE_OFFLINE=1`` forbids network access (:func:`offline`): fetchers then only verify.

Hashes are ``"alg:hex"`` strings (``md5:...``, ``sha256:...``), pooch's notation.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import sys
import tarfile
import zlib
from typing import Callable, Iterable, Mapping, Sequence

import pooch
import requests

from deep_sparse import results_io

__all__ = [
    "ChecksumError", "FetchError", "OFFLINE_ENV", "offline", "md5_bytes", "md5_file", "file_hash", "check_md5",
    "check_file", "atomic_write_bytes", "ensure_writable_dir", "http_downloader", "retrieve",
    "read_tar_members", "read_maybe_gzip", "open_maybe_gzip", "mirrors_from_env",
]

OFFLINE_ENV = "DEEP_SPARSE_OFFLINE"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
# What a failed transfer, a failed processor or a bad archive raises; anything else is a bug and propagates.
_TRANSFER_ERRORS = (requests.RequestException, OSError, ValueError, EOFError, zlib.error, tarfile.TarError)


class ChecksumError(ValueError):
    """A file's hash is not the expected one (the message names the file and both hashes)."""


class FetchError(RuntimeError):
    """No source could deliver a file (each source's reason is in the one-line message)."""


def offline() -> bool:
    """Whether ``$DEEP_SPARSE_OFFLINE`` forbids network access (``1``/``true``/``yes``/``on``).

    Raises ``ValueError`` for a value that is neither true nor false, rather than guessing.
    """
    value = os.environ.get(OFFLINE_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{OFFLINE_ENV}={value!r}: expected 1 (no network access) or 0")


def mirrors_from_env(variable: str, default: Sequence[str], mirrors=None) -> list[str]:
    """Base URLs: ``mirrors`` if given, else the comma-separated ``$variable``, else ``default``.

    Each base ends with ``/`` (a file name is appended to it).
    """
    if mirrors is None:
        env = os.environ.get(variable)
        mirrors = [m.strip() for m in env.split(",") if m.strip()] if env else list(default)
    elif isinstance(mirrors, str):
        mirrors = [mirrors]
    return [m if m.endswith("/") else m + "/" for m in mirrors]


def md5_bytes(data: bytes) -> str:
    """Hex MD5 of ``data``."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def file_hash(path: str, alg: str = "sha256") -> str:
    """Hex digest of the file at ``path`` with algorithm ``alg`` (pooch's :func:`pooch.file_hash`)."""
    return pooch.file_hash(path, alg=alg)


def md5_file(path: str, chunk: int | None = None) -> str:
    """Hex MD5 of the file at ``path`` (``chunk`` is accepted for compatibility; pooch reads in chunks)."""
    return file_hash(path, "md5")


def check_md5(data: bytes, expected: str, what: str) -> None:
    """Raise :class:`ChecksumError` naming ``what`` unless ``md5(data) == expected``."""
    got = md5_bytes(data)
    if got != expected.lower():
        raise ChecksumError(f"{what}: checksum mismatch, expected MD5 {expected} but got {got} "
                            f"({len(data)} bytes)")


def _split_hash(known: str) -> tuple[str, str]:
    if not isinstance(known, str) or ":" not in known:
        raise ValueError(f"hash {known!r}: expected 'alg:hex', e.g. 'sha256:...' or 'md5:...'")
    alg, hexdigest = known.split(":", 1)
    return alg.lower(), hexdigest.lower()


def check_file(path: str, hashes: Iterable[str], what: str | None = None) -> None:
    """Raise :class:`ChecksumError` unless the file at ``path`` matches every ``"alg:hex"`` in ``hashes``.

    The message is one line: ``WHAT: checksum mismatch, expected ALG X, received ALG Y (N bytes)``.
    """
    for known in hashes:
        alg, expected = _split_hash(known)
        got = file_hash(path, alg)
        if got != expected:
            raise ChecksumError(f"{what or path}: checksum mismatch, expected {alg.upper()} {expected}, "
                                f"received {alg.upper()} {got} ({os.path.getsize(path)} bytes)")


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


def http_downloader(timeout: float = 60.0, progressbar: bool | None = None) -> pooch.HTTPDownloader:
    """pooch's HTTP(S) downloader; ``progressbar=None`` shows a tqdm bar only when stderr is a terminal."""
    if progressbar is None:
        progressbar = sys.stderr.isatty()
    return pooch.HTTPDownloader(progressbar=bool(progressbar), timeout=timeout)


def _verifying(downloader: Callable, name: str, hashes: Sequence[str], on_verified: Callable | None) -> Callable:
    """Wrap a pooch downloader: check every known hash, give the file the mode the umask asks for
    (pooch's temporary file is 0600 and its rename keeps that), then ``on_verified(temporary path)``,
    before pooch renames the file into place."""

    def download(url, output_file, pup):
        downloader(url, output_file, pup)
        check_file(output_file, hashes, f"{name} from {url}")
        results_io.as_if_created(output_file)
        if on_verified is not None:
            on_verified(output_file)

    return download


def retrieve(directory: str, name: str, hashes: Sequence[str], bases: Sequence[str], *,
             downloader: Callable | None = None, processor: Callable | None = None, retries: int = 0,
             on_verified: Callable[[str], None] | None = None):
    """Fetch ``name`` into ``directory`` from the first base URL in ``bases`` that delivers it verified.

    ``hashes``: every ``"alg:hex"`` the file must match (empty: no published checksum; the caller
    records one). ``downloader``: a pooch downloader (default :func:`http_downloader`); ``processor``:
    a pooch processor run on the verified file (its return value is returned). ``retries``: pooch's
    ``retry_if_failed`` per mirror. ``on_verified(path)`` runs on the verified temporary file before it
    is renamed into place (e.g. to record its SHA-256). A present file is not downloaded again: verify
    it first.
    Raises :class:`ChecksumError` (one mirror) or :class:`FetchError` (one line listing every mirror).
    """
    if not bases:
        raise FetchError(f"{name}: no URL to fetch from (the mirror list is empty)")
    created = not os.path.isdir(directory)
    ensure_writable_dir(directory)
    downloader = _verifying(downloader or http_downloader(), name, list(hashes), on_verified)
    try:
        return _from_mirrors(directory, name, hashes, bases, downloader, processor, retries)
    except BaseException:
        if created and not os.listdir(directory):
            os.rmdir(directory)  # the folder did not exist before this fetch: leave none behind
        raise


def _from_mirrors(directory: str, name: str, hashes: Sequence[str], bases: Sequence[str], downloader: Callable,
                  processor: Callable | None, retries: int):
    """The mirror loop of :func:`retrieve` (one pooch registry per base URL)."""
    failures: list[Exception] = []
    for base in bases:
        pup = pooch.create(path=directory, base_url=base, registry={name: hashes[0] if hashes else None},
                           retry_if_failed=retries, allow_updates=False)
        try:
            return pup.fetch(name, processor=processor, downloader=downloader)
        except ChecksumError as error:
            failures.append(error)
        except _TRANSFER_ERRORS as error:
            failures.append(FetchError(f"{base}{name}: {type(error).__name__}: {_one_line(error)}"))
    if len(failures) == 1:
        raise failures[0]
    raise FetchError(f"{name}: every mirror failed: " + "; ".join(_one_line(f) for f in failures))


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def read_tar_members(tarball: str, members: Mapping[str, str | None]) -> dict[str, bytes]:
    """Read ``members`` (name -> expected MD5, or ``None`` for no check) of a tar file into memory.

    Members are looked up by exact name and must be regular files; nothing is extracted to disk.
    """
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
