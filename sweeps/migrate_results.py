"""Rewrite the recorded text of a results folder so that it names no machine: commands relative to
the repository (``--out`` as the folder's own path), the data folder as DATA_DIR, errors without hosts,
CSV floats at their shortest float32 form, and a reused row's ``reused_from`` naming the folder that
holds its donor now (``RENAMED_DONORS``: a folder renamed after rows had named it, whose old name another
run then took; a row is re-pointed only where the renamed folder's network has its values and curves).

    python -m sweeps.migrate_results results/

Only text fields change; every number keeps its value (a CSV float is rewritten only where its
shortest form reads back as the same float32). A chunk file whose rows change gets its checksum
recomputed as the sweep computes it, so that ``--resume`` and ``--reuse-rows-from`` still accept it.
Running it twice changes nothing the second time. Binary files (plots) are left alone.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from typing import Any, Optional, Sequence

import numpy as np

from deep_sparse import portable, results_io, store

RESULT_FILES = ("results.json", "cells.json")


def _out_folder(file_path: str, recorded_out: str, repo_root: str) -> str:
    """The repository path of the folder a recorded ``--out`` value wrote: the folder holding
    ``file_path`` (or the nearest one above it named like the recorded folder)."""
    folder = os.path.dirname(os.path.abspath(file_path))
    name = os.path.basename(recorded_out.rstrip("/"))
    candidate = folder
    while candidate.startswith(repo_root + os.sep):
        if os.path.basename(candidate) == name:
            folder = candidate
            break
        candidate = os.path.dirname(candidate)
    return os.path.relpath(folder, repo_root)


def _recorded_out(argv: Sequence[str]) -> Optional[str]:
    for index, argument in enumerate(argv):
        if argument == "--out" and index + 1 < len(argv):
            return argv[index + 1]
        if argument.startswith("--out="):
            return argument[len("--out="):]
    return None


def _portable_argv(argv: Sequence[str], file_path: str, repo_root: str) -> list[str]:
    out = _recorded_out(argv)
    if out is None or not os.path.isabs(out):
        return portable.portable_argv(argv)
    return portable.portable_argv(argv, out=_out_folder(file_path, out, repo_root))


def portable_json(value: Any, file_path: str, repo_root: str, key: str = "") -> Any:
    """``value`` (parsed JSON) with every string made portable; numbers untouched."""
    if isinstance(value, dict):
        return {k: portable_json(v, file_path, repo_root, k) for k, v in value.items()}
    if key == "argv" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return _portable_argv(value, file_path, repo_root)
    if isinstance(value, list):
        return [portable_json(v, file_path, repo_root) for v in value]
    if key == "command" and isinstance(value, str):
        return " ".join(_portable_argv(value.split(" "), file_path, repo_root))
    if isinstance(value, str):
        return portable.portable_text(value)
    return value


# donor folders renamed after rows had named them (``reused_from``: "FOLDER: network N"): old -> new name
RENAMED_DONORS = {"results/table1-paper/mnist": "results/table1-paper-mean-cost/mnist"}
# what a reused row copies from its donor: equal values here (learning curves included) are one network
SAME_NETWORK_FIELDS = ("activation", "seed", "lr", "l1", "valid_error", "test_error", "curves")


def _donor_row(repo_root: str, folder: str, network: int, cache: dict) -> Optional[dict]:
    if folder not in cache:
        path = os.path.join(repo_root, folder, "results.json")
        rows = results_io.read_json(path).get("rows", []) if os.path.exists(path) else []
        cache[folder] = {row.get("network"): row for row in rows}
    return cache[folder].get(network)


def _same_network(row: dict, donor: Optional[dict]) -> bool:
    return donor is not None and all(donor.get(k) == row.get(k) for k in SAME_NETWORK_FIELDS)


def repointed_reuse(row: dict, repo_root: str, cache: dict) -> dict:
    """``row`` with its ``reused_from`` naming the folder that now holds its donor: where the named
    folder's network is not this network (another run took the folder's name after a rename) and the
    renamed folder's is, the renamed folder; otherwise the row as it is."""
    named = row.get("reused_from")
    if not isinstance(named, str) or ": network " not in named:
        return row
    folder, network = named.rsplit(": network ", 1)
    renamed = RENAMED_DONORS.get(folder)
    if renamed is None or not network.isdigit():
        return row
    if _same_network(row, _donor_row(repo_root, folder, int(network), cache)) or \
            not _same_network(row, _donor_row(repo_root, renamed, int(network), cache)):
        return row
    return {**row, "reused_from": f"{renamed}: network {network}"}


def _migrate_json(text: str, path: str, repo_root: str) -> str:
    payload = json.loads(text)
    migrated = portable_json(payload, path, repo_root)
    if isinstance(migrated, dict) and isinstance(migrated.get("rows"), list):
        donors: dict = {}
        migrated["rows"] = [repointed_reuse(row, repo_root, donors) if isinstance(row, dict) else row
                            for row in migrated["rows"]]
    if isinstance(migrated, dict) and "sha256" in migrated and "rows" in migrated and migrated != payload:
        if payload["sha256"] != store.rows_checksum(payload["rows"]):
            raise ValueError(f"{path}: its rows do not match their checksum before migrating; left as it is")
        migrated["sha256"] = store.rows_checksum(migrated["rows"])
    if migrated == payload:
        return text
    return json.dumps(migrated, indent=2) + "\n"


def shortest_float32(cell: str) -> str:
    """``cell`` with each float that is exactly a float32 written at its shortest round-trip form
    (``1.6699999570846558`` -> ``1.67``); any other text is kept."""
    words = cell.split(" ")
    for index, word in enumerate(words):
        if not any(c in word for c in ".eE") or not word:
            continue
        try:
            value = float(word)
        except ValueError:
            continue
        if np.isfinite(value) and float(np.float32(value)) == value:
            short = str(np.float32(value))
            if float(np.float32(float(short))) == value:
                words[index] = short
    return " ".join(words)


def _repointed_by_network(json_path: str, repo_root: str) -> dict[str, str]:
    """{network: its ``reused_from``, re-pointed} for the reused rows of ``json_path`` (the CSV beside
    it follows it)."""
    if not os.path.exists(json_path):
        return {}
    donors: dict = {}
    rows = [row for row in results_io.read_json(json_path).get("rows", []) if isinstance(row, dict)]
    return {str(row.get("network")): repointed_reuse(dict(row, reused_from=portable.portable_text(
        row["reused_from"])), repo_root, donors)["reused_from"] for row in rows if row.get("reused_from")}


def _migrate_csv(text: str, moved_donors: Optional[dict[str, str]] = None) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return text
    migrated = [rows[0]] + [[shortest_float32(portable.portable_text(cell)) for cell in row] for row in rows[1:]]
    if moved_donors and {"network", "reused_from"} <= set(rows[0]):
        network, reused = rows[0].index("network"), rows[0].index("reused_from")
        for row in migrated[1:]:
            if row[reused].split(": network ")[0] in RENAMED_DONORS:
                row[reused] = moved_donors.get(row[network], row[reused])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(migrated)
    return buffer.getvalue() if migrated != rows else text


def migrated_text(path: str, repo_root: str = portable.REPO_ROOT) -> Optional[str]:
    """One file's text with its recorded text made portable, or None when nothing changes (binary
    files included)."""
    with open(path, "rb") as handle:
        raw = handle.read()
    if b"\0" in raw[:8192]:
        return None
    try:
        text = raw.decode("utf-8")
        if path.endswith(".json"):
            new = _migrate_json(text, path, repo_root)
        else:
            new = _migrate_csv(text, _repointed_by_network(os.path.join(os.path.dirname(path), "results.json"),
                                                           repo_root)) if path.endswith(".csv") \
                else portable.portable_text(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not valid UTF-8 text or JSON ({error}); nothing was rewritten") from None
    return None if new == text else new


def migrate(folder: str, repo_root: str = portable.REPO_ROOT) -> list[str]:
    """Migrate every file under ``folder`` (a folder of deep-sparse results); the files changed. Every
    file is read and checked before the first is rewritten, so a bad file leaves the folder as it was."""
    paths = sorted(os.path.join(d, name) for d, dirs, names in os.walk(folder) for name in names
                   if "checkpoints" not in d.split(os.sep) and "pretrained" not in d.split(os.sep))
    if not any(os.path.basename(p) in RESULT_FILES for p in paths):
        raise FileNotFoundError(f"{folder}: no results.json or cells.json below it; not a folder of deep-sparse "
                                "results, left as it is")
    root = os.path.abspath(repo_root)
    changed = {path: text for path in paths if (text := migrated_text(path, root)) is not None}
    for path, text in changed.items():
        results_io.atomic_write_text(path, text)
    return list(changed)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sweeps.migrate_results", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="results folder to rewrite in place (e.g. results/)")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.folder):
        print(f"error: {args.folder}: no such folder", file=sys.stderr)
        return 1
    try:
        changed = migrate(args.folder)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in changed:
        print(f"rewrote {path}")
    print(f"{len(changed)} file(s) rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
