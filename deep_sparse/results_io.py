"""Results files that survive crashes and say where they came from.

Every file is written to a temporary name in the same directory, flushed, fsynced and renamed over the
target (``os.replace`` is atomic on POSIX), so a reader sees the old file or the new one, never half of
one. :func:`provenance` records the command, library versions, devices and machine that produced a
result, as the project's standards ask of every results file.
"""
from __future__ import annotations

import csv
import datetime
import io
import json
import math
import os
import platform
import sys
import tempfile
from typing import Any, Iterable, Sequence

from deep_sparse import portable


def current_umask() -> int:
    """The process's umask, read without changing it where the system tells (Linux's
    ``/proc/self/status``): setting it to read it back would race with threads creating files."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open()`` gives a new file: 0666 less the umask (0644 under umask 022)."""
    return 0o666 & ~current_umask()


def folder_mode() -> int:
    """The mode ``mkdir`` gives a new folder: 0777 less the umask."""
    return 0o777 & ~current_umask()


def as_if_created(path: str) -> None:
    """Give a file (or folder) made through a temporary name the mode a plain ``open`` (``mkdir``)
    would have: ``mkstemp`` and ``mkdtemp`` create 0600 / 0700 whatever the umask, and a rename keeps
    that, so a shared results or data folder would be unreadable to the group."""
    os.chmod(path, folder_mode() if os.path.isdir(path) else file_mode())


def atomic_write_bytes(path: str, payload: bytes) -> None:
    """Write ``payload`` to ``path`` atomically (temp file in the same directory, fsync, rename),
    with the mode the umask gives a new file."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temp_path = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(path), dir=directory)
    try:
        with os.fdopen(handle, "wb") as temp_file:
            temp_file.write(payload)
            temp_file.flush()
            os.fchmod(temp_file.fileno(), file_mode())
            os.fsync(temp_file.fileno())
        os.replace(temp_path, path)
    except BaseException:
        if os.path.exists(temp_path):
            os.unlink(temp_path)
        raise


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _jsonable(value: Any) -> Any:
    """Plain JSON types; non-finite floats become null (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy / jax arrays and scalars
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def atomic_write_json(path: str, payload: Any) -> None:
    atomic_write_text(path, json.dumps(_jsonable(payload), indent=2, sort_keys=False) + "\n")


def read_json(path: str) -> Any:
    """Read a JSON file, with an error naming the file if it is not valid JSON."""
    with open(path, "r", encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from None


def atomic_write_csv(path: str, rows: Sequence[dict], columns: Iterable[str] | None = None) -> None:
    """Write ``rows`` (dicts) as CSV with a header; lists become space-separated values."""
    columns = list(columns) if columns is not None else list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_cell(row.get(k)) for k in columns})
    atomic_write_text(path, buffer.getvalue())


def shortest_float(value: float) -> str:
    """``value`` at its shortest round-trip form: a float32 value (what the networks compute) as the
    shortest text that reads back as the same float32 (``1.67``, not ``1.6699999570846558``), any other
    float as ``repr``."""
    import numpy as np

    if math.isfinite(value) and float(np.float32(value)) == value:
        return str(np.float32(value))
    return repr(value)


def _csv_cell(value: Any) -> Any:
    value = _jsonable(value)
    if isinstance(value, list):
        return " ".join(shortest_float(v) if isinstance(v, float) else str(v) for v in value)
    if isinstance(value, float):
        return shortest_float(value)
    return "" if value is None else value


def _total_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> dict:
    """Versions of Python and of the libraries that shape the numbers."""
    import importlib.metadata as metadata

    found = {"python": platform.python_version()}
    for package in ("deep-sparse", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def machine() -> dict:
    """What ran it: CPU model, core count, memory, OS, and the JAX devices (not the host's name: it
    names the machine without saying anything about the numbers)."""
    import jax

    return {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": _total_memory_bytes(),
        "platform": platform.platform(),
        "jax_backend": jax.default_backend(),
        "devices": [str(device) for device in jax.devices()],
        "device_kinds": sorted({device.device_kind for device in jax.devices()}),
    }


def git_commit(results: Sequence[str] = (), root: str | None = None) -> str | None:
    """The commit of the deep-sparse checkout in use (with "+dirty" if its code has local changes), if
    any. Changes under ``results/`` and under the folders ``results`` (a run's --out) are the run's own
    output, not the code's state: they never make it dirty."""
    import subprocess

    root = os.path.abspath(root or os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    excluded = [":(exclude)results"] + [f":(exclude){os.path.relpath(os.path.abspath(folder), root)}"
                                        for folder in results
                                        if os.path.abspath(folder).startswith(root + os.sep)]
    try:
        commit = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no", "--", ".",
                                *excluded], capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


OURS_MARKER = ".deep-sparse"


def is_ours(folder: str) -> bool:
    """A folder deep-sparse wrote: it holds our marker file or a sweep (``plan.json``), itself or in
    a direct subfolder (an experiment module's one folder per data set)."""
    if os.path.exists(os.path.join(folder, OURS_MARKER)) or os.path.exists(os.path.join(folder, "plan.json")):
        return True
    return any(os.path.exists(os.path.join(folder, name, "plan.json")) for name in os.listdir(folder)
               if os.path.isdir(os.path.join(folder, name)))


def check_output_folder(folder: str) -> None:
    """Refuse an output folder that exists, is not empty and was not written by deep-sparse: we never
    overwrite files we did not write. Writes nothing."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise NotADirectoryError(f"{folder}: the output path is a file, expected a folder")
    if os.path.isdir(folder) and os.listdir(folder) and not is_ours(folder):
        shown = ", ".join(sorted(os.listdir(folder))[:5])
        raise FileExistsError(f"{folder} is not empty ({shown}{', ...' if len(os.listdir(folder)) > 5 else ''}) "
                              "and holds no output of deep-sparse: choose a new or empty folder for --out")


def claim_output_folder(folder: str) -> None:
    """:func:`check_output_folder`, then create ``folder`` with our marker (call once the inputs are
    checked: a failed start must leave nothing behind)."""
    check_output_folder(folder)
    os.makedirs(folder, exist_ok=True)
    marker = os.path.join(folder, OURS_MARKER)
    if not os.path.exists(marker):
        atomic_write_text(marker, "written by deep-sparse; its commands refuse non-empty folders without this file\n")


def command_line() -> list[str]:
    """``sys.argv``, or [] in a Jupyter kernel (a notebook, IPython's kernel launcher and its connection
    file: no command that runs the computation again)."""
    return [] if sys.argv and "ipykernel" in sys.argv[0] else list(sys.argv)


def provenance(argv: Sequence[str] | None = None, out: str | None = None) -> dict:
    """Command, UTC date, versions and machine, to store beside every result. The command names no
    machine (:mod:`deep_sparse.portable`): paths in the repository relative to it, others as
    ``…/<last part>``, the data folder as DATA_DIR; files written under ``out`` (the run's folder) do not
    make the commit dirty."""
    # --out as typed, made portable: the command a reader can run again (a run's sweeps may lie below it)
    argv = portable.portable_argv(list(command_line() if argv is None else argv))
    return {
        "command": " ".join([os.path.basename(sys.executable), *argv]) if argv else None,
        "argv": argv,
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        "git_commit": git_commit(() if out is None else (out,)),
        "machine": machine(),
    }


def format_table(rows: Sequence[dict], columns: Sequence[str], formats: dict | None = None) -> str:
    """A Markdown table of ``rows`` restricted to ``columns`` (``formats``: column -> format spec)."""
    formats = formats or {}
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            spec = formats.get(column)
            if value is None:
                cells.append("")
            elif spec and isinstance(value, (int, float)) and not isinstance(value, bool):
                cells.append(format(value, spec))
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# a sweep's working folders (per-chunk rows, checkpoints, pre-trained stacks, TensorBoard's copy of
# metrics.jsonl, a folder per network): not results of their own
WORKING_FOLDERS = ("chunks", "checkpoints", "pretrained", "tensorboard")


def recorded_folders(root: str, names: Sequence[str] = ("results.json",)) -> list[str]:
    """Every folder under ``root`` (``"."`` for itself) holding one of the files ``names``, relative to
    it, sorted; a sweep's working folders are not searched."""
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(s for s in subfolders if s not in WORKING_FOLDERS)
        if any(name in files for name in names):
            found.append(os.path.relpath(folder, root))
    return sorted(found)
