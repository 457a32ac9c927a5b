"""pooch's ``Decompress`` and ``Untar`` processors, made all-or-nothing.

pooch's processors write their output in place, so an interrupted run would leave a half-written file
that a later fetch takes for done. These wrappers let the pooch processor write under a temporary
name (a ``.tmp-`` file or folder in the data folder, so the final rename is atomic), check the result,
and only then rename it into place. If anything fails (Ctrl-C included) the temporaries are removed,
and so is the archive when it was downloaded by this very fetch: the folder is left as it was.

Archives are checked before extraction: every member to extract must be a regular file (no link,
device or folder) whose name stays inside the folder, so no member can write elsewhere.
"""
from __future__ import annotations

import logging
import os
import shutil
import tarfile
import tempfile
import uuid
from contextlib import contextmanager
from typing import Callable, Mapping, Sequence

import pooch

from deep_sparse import results_io

from .download import FetchError, check_file

__all__ = ["AtomicDecompress", "AtomicUntar", "check_tar_members"]


@contextmanager
def _quiet_pooch():
    """pooch logs one line per extracted member, with our temporary names: keep only its warnings."""
    logger = pooch.get_logger()

    def warnings_only(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING

    logger.addFilter(warnings_only)  # a filter, not setLevel: pooch's logger is outside logging's manager
    try:
        yield
    finally:
        logger.removeFilter(warnings_only)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


class AtomicDecompress:
    """pooch processor: decompress the fetched file to ``target`` (a file name in the same folder).

    The output must match every ``"alg:hex"`` of ``hashes`` (e.g. MNIST's canonical MD5 of the
    uncompressed file). ``keep_archive=False`` removes the compressed file once the output is in place.
    Returns the path of ``target``.
    """

    def __init__(self, target: str, hashes: Sequence[str] = (), *, method: str = "gzip", keep_archive: bool = True):
        if os.path.basename(target) != target or target in ("", ".", ".."):
            raise ValueError(f"decompression target {target!r}: expected a plain file name")
        self.target, self.hashes, self.method, self.keep_archive = target, tuple(hashes), method, keep_archive

    def __call__(self, fname: str, action: str, pup) -> str:
        folder = os.path.dirname(fname)
        final = os.path.join(folder, self.target)
        temporary = os.path.join(folder, f".tmp-{self.target}-{uuid.uuid4().hex[:8]}")
        try:
            with _quiet_pooch():
                pooch.Decompress(method=self.method, name=os.path.basename(temporary))(fname, "download", pup)
            origin = pup.get_url(os.path.basename(fname)) if pup is not None else os.path.basename(fname)
            check_file(temporary, self.hashes, f"{self.target} (decompressed from {origin})")
            results_io.as_if_created(temporary)
            os.replace(temporary, final)
        except BaseException:
            _remove(temporary)
            if action == "download":
                _remove(fname)
            raise
        if not self.keep_archive:
            os.unlink(fname)
        return final


def check_tar_members(tarball: str, members: Sequence[str]) -> None:
    """Raise :class:`FetchError` unless every name in ``members`` is a regular file of ``tarball`` and
    every member that pooch's ``Untar`` would select for them (it selects by prefix) is one too."""
    wanted = [os.path.normpath(m) for m in members]
    try:
        with tarfile.open(tarball, "r:*") as archive:
            infos = archive.getmembers()
    except (OSError, EOFError, tarfile.TarError) as error:
        raise FetchError(f"{tarball}: not a readable tar archive ({error})") from error
    found = set()
    for info in infos:
        norm = os.path.normpath(info.name)
        if not any(norm.startswith(w) for w in wanted):
            continue
        if not info.isfile() or os.path.isabs(norm) or norm.startswith(".."):
            raise FetchError(f"{tarball}: member {info.name!r} is not a regular file inside the archive's folder")
        found.add(norm)
    missing = [m for m, w in zip(members, wanted) if w not in found]
    if missing:
        raise FetchError(f"{tarball}: expected members {missing}, the archive has none of that name")


def _commit(scratch: str, folder: str, members: Sequence[str]) -> list[str]:
    """Move the extracted ``members`` from ``scratch`` into ``folder``: one atomic rename of their common
    top folder when it does not exist there yet, else one rename per file."""
    for member in members:  # extracted with the archive's modes: give them the umask's, as a download gets
        results_io.as_if_created(os.path.join(scratch, member))
    tops = {m.replace(os.sep, "/").split("/", 1)[0] for m in members}
    top = tops.pop() if len(tops) == 1 else None
    if top is not None and all("/" in m.replace(os.sep, "/") for m in members) \
            and not os.path.lexists(os.path.join(folder, top)):
        results_io.as_if_created(os.path.join(scratch, top))
        os.replace(os.path.join(scratch, top), os.path.join(folder, top))
    else:
        for member in members:
            final = os.path.join(folder, member)
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(os.path.join(scratch, member), final)
    return [os.path.join(folder, m) for m in members]


class AtomicUntar:
    """pooch processor: extract exactly ``members`` of the fetched tar archive into its folder.

    Members keep their relative paths (``cifar-10-batches-bin/data_batch_1.bin``).
    ``before_commit({member: extracted path})`` runs once all are extracted and before any is renamed
    into place (e.g. to record their SHA-256). Returns the list of final paths.
    """

    def __init__(self, members: Sequence[str], before_commit: Callable[[Mapping[str, str]], None] | None = None):
        if not members:
            raise ValueError("AtomicUntar: expected at least one member name")
        self.members, self.before_commit = tuple(members), before_commit

    def __call__(self, fname: str, action: str, pup) -> list[str]:
        folder = os.path.dirname(fname)
        scratch = tempfile.mkdtemp(prefix=".tmp-untar-", dir=folder)
        try:
            check_tar_members(fname, self.members)
            with _quiet_pooch():
                pooch.Untar(members=list(self.members), extract_dir=scratch)(fname, "download", pup)
            extracted = {m: os.path.join(scratch, m) for m in self.members}
            for member, path in extracted.items():
                if os.path.islink(path) or not os.path.isfile(path):
                    raise FetchError(f"{fname}: member {member!r} was not extracted as a regular file")
            if self.before_commit is not None:
                self.before_commit(extracted)
            finals = _commit(scratch, folder, self.members)
        except BaseException:
            if action == "download":
                _remove(fname)
            raise
        finally:
            _remove(scratch)
        return finals
