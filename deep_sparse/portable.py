"""Recorded text without the machine it ran on: paths relative to the repository, the data folder as
``DATA_DIR``, download errors without hosts.

A results file is read on other machines and in other clones, so a path such as ``/tmp/runs/x`` or
``/root/.cache/deep_sparse`` says nothing there and names the machine that wrote it. Everything a run
records as text (its command, the folders it reused, its errors) goes through :func:`portable_text`;
:func:`machine_paths` finds what is left (the scan of ``results/``).
"""
from __future__ import annotations

import os
import re
from typing import Optional, Sequence

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = "DATA_DIR"
# the folders of the repository: a path through one of them is a path in some clone of it
REPO_FOLDERS = ("results", "sweeps", "deep_sparse", "tests", "benchmarks", "notebooks")
DEFAULT_DATA_DIR = re.compile(r"(?<![\w.:/~\-…])(?:~|/[^\s`'\"()|,;]*?)/\.cache/deep_sparse(?![\w.\-])")
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~\-…\]])(?:~/[\w.+~\-]+|/[\w.+~\-]+(?:/[\w.+~\-]+)*/?)")
URL = re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s'\"()<>`]+", re.IGNORECASE)
# requests' text for a failed connection names the host twice and the url path; the cause is enough
CONNECTION_POOL = re.compile(r"HTTPS?ConnectionPool\(host=.*?\(Caused by (\w+)\(.*?\)\)", re.DOTALL)
# what the scan refuses: an absolute path of two or more parts, a home folder, a host in an error
_LEAK = re.compile(r"(?<![\w.:/~\-…\]])(?:~/|/(?:[\w.+~\-]+/)+[\w.+~\-]*)|\.cache/|ConnectionPool\(host=|"
                   r"\bhost='")


def _relative_in_repo(path: str) -> Optional[str]:
    """``path`` relative to the repository it lies in (this clone or any other), or None."""
    parts = path.strip("/").split("/")
    if "site-packages" in parts:  # an installed library's file, as a traceback names it
        return "/".join(parts[parts.index("site-packages"):])
    for index, part in enumerate(parts):
        if part in REPO_FOLDERS and (index or path.startswith(REPO_ROOT)):
            return "/".join(parts[index:])
    if path.rstrip("/") == REPO_ROOT:
        return "."
    return None


def portable_path(path: str, data_dir: Optional[str] = None) -> str:
    """``path`` as recorded: the data folder as DATA_DIR, a path in the repository relative to it, any
    other absolute path as ``…/<its last part>``; a relative path is kept."""
    if data_dir:
        data_dir = os.path.abspath(os.path.expanduser(data_dir)).rstrip("/")
        if path == data_dir or path.startswith(data_dir + "/"):
            return DATA_DIR + path[len(data_dir):]
    if DEFAULT_DATA_DIR.match(path):
        return DEFAULT_DATA_DIR.sub(DATA_DIR, path, count=1)
    if not (path.startswith("/") or path.startswith("~")):
        return path
    relative = _relative_in_repo(os.path.normpath(os.path.expanduser(path)))
    if relative is not None:
        return relative
    return "…/" + os.path.basename(path.rstrip("/"))


def recorded_path(path: str) -> str:
    """A local file or folder (absolute or relative to the working directory) as a record names it."""
    return portable_path(os.path.abspath(os.path.expanduser(path)))


def portable_text(text: str, data_dir: Optional[str] = None) -> str:
    """``text`` with every path made portable (:func:`portable_path`) and every url written as its
    file name (a download error then names the file, not the host)."""
    text = CONNECTION_POOL.sub(lambda m: f"could not connect ({m.group(1)})", text)
    text = URL.sub(lambda m: m.group(0).rstrip("/").rsplit("/", 1)[-1], text)
    if data_dir:
        absolute = os.path.abspath(os.path.expanduser(data_dir)).rstrip("/")
        text = re.sub(re.escape(absolute) + r"(?![\w.\-])", DATA_DIR, text)
    text = DEFAULT_DATA_DIR.sub(DATA_DIR, text)
    return ABSOLUTE_PATH.sub(lambda m: portable_path(m.group(0), data_dir), text)


def portable_argv(argv: Sequence[str], out: Optional[str] = None, data_dir: Optional[str] = None) -> list[str]:
    """A command's arguments as recorded: the value of ``--out`` replaced by ``out`` when given (the
    folder's own path in the repository), every other argument through :func:`portable_text`."""
    recorded, previous = [], ""
    for argument in argv:
        if previous == "--out" and out is not None:
            recorded.append(out)
        elif argument.startswith("--out=") and out is not None:
            recorded.append("--out=" + out)
        elif previous == "--data-dir":
            recorded.append(DATA_DIR)
        elif argument.startswith("--data-dir="):
            recorded.append("--data-dir=" + DATA_DIR)
        else:
            recorded.append(portable_text(argument, data_dir))
        previous = argument
    return recorded


def machine_paths(text: str) -> list[str]:
    """What in ``text`` names the machine that wrote it: absolute paths, home and cache folders, hosts
    in connection errors ([] for a portable text)."""
    return [m.group(0) for m in _LEAK.finditer(text)]
