"""The output folder of a sweep: what owns the files, apart from what computes (as orbax keeps its
checkpoint manager apart from the model).

A sweep's folder holds ``plan.json`` (the configuration and grid, to refuse resuming another sweep),
``chunks/`` (the rows of every finished chunk with their SHA-256: the record a resumed sweep, on this
machine or a fresh clone, continues from), ``results.csv`` / ``results.json`` (every finished network,
with the provenance of each invocation), ``chunking.json`` (chunk sizes used, for the record),
``metrics.jsonl`` and ``tensorboard/`` (each network's values after each epoch, written as the sweep
runs by :mod:`deep_sparse.metrics_log`), and the local working files ``checkpoints/`` and
``pretrained/`` (never committed). It never writes into a
non-empty folder that deep-sparse did not write.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from typing import Optional

from deep_sparse import portable, results_io

# kept beside the stacks it describes, so that a resume chunks them as they were trained
STACK_CHUNK_SIZE = "stack_chunk_size.json"
PROVENANCE_FIELDS = ("command", "date_utc", "versions", "git_commit", "machine", "batching", "matmul_precision",
                     "timings")


def rows_checksum(rows: list[dict]) -> str:
    """SHA-256 of the rows as canonical JSON (what a finished chunk file stores beside them)."""
    return hashlib.sha256(json.dumps(results_io._jsonable(rows), sort_keys=True).encode()).hexdigest()


# kept in results.json only: learning curves, and which test examples each network got wrong
JSON_ONLY_FIELDS = ("curves", "test_wrong")


def csv_columns(rows: list[dict]) -> list[str]:
    return [k for k in dict.fromkeys(k for row in rows for k in row) if k not in JSON_ONLY_FIELDS]


def is_finetuned(row: dict) -> bool:
    """Whether a recorded row is a trained network (not one whose pre-training lr was not selected)."""
    return row.get("finetuned", True)


def read_results(out_dir: str) -> list[dict]:
    """Rows of a sweep's ``results.json`` (curves included)."""
    path = os.path.join(out_dir, "results.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no results.json in {out_dir} (has the sweep run?)")
    return results_io.read_json(path)["rows"]


def with_new_defaults(plan: dict, defaults: dict) -> dict:
    """``plan`` with the fields added to the code since it was written set to their ``defaults``
    (``{"config": {...}, "base_hparams": {...}}``): the defaults are what the code that wrote it
    computed, so such a sweep is still the same sweep."""
    plan = dict(plan)
    for field, values in defaults.items():
        if isinstance(plan.get(field), dict):
            plan[field] = {**{k: v for k, v in values.items() if k not in plan[field]}, **plan[field]}
    return plan


class SweepExists(FileExistsError):
    """A sweep was asked for without ``resume`` in a folder that holds one; ``finished``: the folder's
    ``results.json`` says every network of it is recorded (a command line says so in its own words)."""

    def __init__(self, message: str, folder: str, finished: bool):
        super().__init__(message)
        self.folder, self.finished = folder, finished


def is_complete(out_dir: str) -> bool:
    """Whether the sweep in ``out_dir`` recorded every network (its ``results.json`` says complete)."""
    path = os.path.join(out_dir, "results.json")
    return os.path.exists(path) and results_io.read_json(path).get("complete") is True


def _missing_folders(path: str) -> list[str]:
    """``path`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    path = os.path.abspath(path)
    while not os.path.exists(path):
        missing.append(path)
        path = os.path.dirname(path)
    return missing


class SweepStore:
    """The files of one sweep in ``out_dir``. Reading methods write nothing; ``create`` is called once
    every input is checked."""

    def __init__(self, out_dir: str):
        self.out_dir = out_dir
        self.chunks_dir = os.path.join(out_dir, "chunks")
        self.plan_path = os.path.join(out_dir, "plan.json")
        self._before: Optional[tuple[list[str], set[str]]] = None  # what was there before create()

    def holds(self, record: dict, resume: bool, defaults: Optional[dict] = None) -> bool:
        """Whether the folder already holds this sweep; refuses another sweep, this one without
        ``resume``, and a non-empty folder that is not ours. Writes nothing. ``defaults``: the current
        defaults of the record's fields (see :func:`with_new_defaults`)."""
        results_io.check_output_folder(self.out_dir)
        if not os.path.exists(self.plan_path):
            return False
        if not resume:
            raise SweepExists(f"{self.out_dir} already holds a sweep (plan.json); pass resume=True to continue it or "
                              "choose another output directory", self.out_dir, is_complete(self.out_dir))
        existing = with_new_defaults(results_io.read_json(self.plan_path), defaults or {})
        for field in ("config", "grid", "base_hparams"):
            if existing.get(field) != record[field]:
                raise ValueError(f"{self.plan_path}: the {field} of the sweep there differs from the one asked for "
                                 "now; resume only continues the same sweep (choose another output directory)")
        return True

    def finished_rows(self, expected: dict[int, tuple[int, int]]) -> dict[int, dict]:
        """Rows of every finished network under ``chunks/``, each checked against its file's checksum
        and against ``expected`` (network -> (group, seed) of the plan)."""
        rows: dict[int, dict] = {}
        names = sorted(os.listdir(self.chunks_dir)) if os.path.isdir(self.chunks_dir) else []
        for name in (n for n in names if n.endswith(".json")):
            path = os.path.join(self.chunks_dir, name)
            record = results_io.read_json(path)
            if "sha256" in record and record["sha256"] != rows_checksum(record["rows"]):
                raise ValueError(f"{path}: the rows do not match their checksum: the file changed after the sweep "
                                 "wrote it; delete it to recompute that chunk (--resume)")
            for row in record["rows"]:
                key = row.get("network")
                if expected.get(key) != (row.get("group"), row.get("seed")):
                    raise ValueError(f"{path}: network {key!r} (group {row.get('group')!r}, seed "
                                     f"{row.get('seed')!r}) is not a network of this sweep's plan; the file "
                                     "belongs to another sweep")
                rows[key] = row
        return rows

    def standing(self) -> tuple[int, int]:
        """(networks recorded under ``chunks/``, networks planned): where a sweep stands, read without
        checking checksums (for a listing; resuming checks them)."""
        planned = len(results_io.read_json(self.plan_path)["grid"])
        names = sorted(os.listdir(self.chunks_dir)) if os.path.isdir(self.chunks_dir) else []
        recorded = {row.get("network") for name in names if name.endswith(".json")
                    for row in results_io.read_json(os.path.join(self.chunks_dir, name))["rows"]}
        return len(recorded), planned

    def previous_runs(self) -> list[dict]:
        """The provenance of every earlier invocation (command, code version, machine, timings), oldest
        first: rows finished on a GPU and resumed on a CPU say where each part ran."""
        path = os.path.join(self.out_dir, "results.json")
        if not os.path.exists(path):
            return []
        previous = results_io.read_json(path)
        runs = previous.get("previous_runs", []) + [{k: previous[k] for k in PROVENANCE_FIELDS if k in previous}]
        return [self._portable_run(run) for run in runs]

    def _portable_run(self, run: dict) -> dict:
        """An earlier invocation's record as this code records one: a folder written before commands were
        recorded relative to the repository must not carry its machine's paths into the new record."""
        out = portable.recorded_path(self.out_dir)
        run = dict(run)
        if isinstance(run.get("argv"), list):
            run["argv"] = portable.portable_argv(run["argv"], out=out)
        if isinstance(run.get("command"), str):
            run["command"] = " ".join(portable.portable_argv(run["command"].split(" "), out=out))
        return run

    def recorded_data_sha256(self) -> dict[str, str]:
        """``{group: SHA-256 of its data}`` as the last invocation recorded it ({} before any)."""
        path = os.path.join(self.out_dir, "results.json")
        return results_io.read_json(path).get("data_sha256", {}) if os.path.exists(path) else {}

    def create(self, record: dict, started_before: bool) -> None:
        self._before = (_missing_folders(self.out_dir),
                        set(os.listdir(self.out_dir)) if os.path.isdir(self.out_dir) else set())
        results_io.claim_output_folder(self.out_dir)
        if not started_before:
            results_io.atomic_write_json(self.plan_path, record)
        os.makedirs(self.chunks_dir, exist_ok=True)

    def undo_create(self) -> None:
        """Remove what this start wrote (entries of the folder that :meth:`create` did not find there,
        and the folders it made), for a start that failed before computing anything: the folder is
        left as it was, so that the corrected command finds it so."""
        if self._before is None:
            return
        made, found = self._before
        self._before = None
        for name in set(os.listdir(self.out_dir)) - found:
            path = os.path.join(self.out_dir, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
        for folder in made:  # deepest first
            if os.path.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)

    def save_chunk(self, name: str, rows: list[dict]) -> None:
        """A finished chunk's rows (atomically, with their checksum); its checkpoints go."""
        results_io.atomic_write_json(os.path.join(self.chunks_dir, name + ".json"),
                                     {"rows": rows, "sha256": rows_checksum(rows)})
        shutil.rmtree(self.checkpoint_dir(name), ignore_errors=True)

    def record_chunk_size(self, group_index: int, size: int) -> None:
        path = os.path.join(self.out_dir, "chunking.json")
        chunking = results_io.read_json(path) if os.path.exists(path) else {}
        chunking[str(group_index)] = size
        results_io.atomic_write_json(path, chunking)

    def checkpoint_dir(self, name: str) -> str:
        return os.path.join(self.out_dir, "checkpoints", name)

    def pretrained_dir(self, group_index: int, name: str = "") -> str:
        return os.path.join(self.out_dir, "pretrained", f"group{group_index:03d}", name)

    def stack_chunk_size(self, group_index: int) -> Optional[int]:
        """The chunk size the group's pre-trained stacks were trained in, if recorded with them."""
        path = os.path.join(self.pretrained_dir(group_index), STACK_CHUNK_SIZE)
        if not os.path.exists(path):
            return None
        recorded = results_io.read_json(path)
        size = recorded.get("chunk_size") if isinstance(recorded, dict) else None
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"{path}: expected {{\"chunk_size\": a positive integer}}, got {recorded!r}; "
                             "delete the group's pretrained/ folder to pre-train its stacks again")
        return size

    def record_stack_chunk_size(self, group_index: int, size: int) -> None:
        os.makedirs(self.pretrained_dir(group_index), exist_ok=True)
        results_io.atomic_write_json(os.path.join(self.pretrained_dir(group_index), STACK_CHUNK_SIZE),
                                     {"chunk_size": size})

    def discard_pretrained(self, group_index: int) -> None:
        shutil.rmtree(self.pretrained_dir(group_index), ignore_errors=True)

    def write_results(self, rows_by_network: dict, metadata: dict, timings: dict, started: float,
                      complete: bool) -> None:
        """``results.csv`` and ``results.json``: the rows of the trained networks; the networks left
        untrained because their pre-training lr was not selected go under ``not_finetuned``."""
        recorded = [rows_by_network[k] for k in sorted(rows_by_network)]
        rows = [row for row in recorded if is_finetuned(row)]
        skipped = [row for row in recorded if not is_finetuned(row)]
        results_io.atomic_write_csv(os.path.join(self.out_dir, "results.csv"), rows, csv_columns(rows))
        timings = dict(timings, wall_seconds=time.perf_counter() - started)
        results_io.atomic_write_json(os.path.join(self.out_dir, "results.json"), {
            **metadata, "complete": complete, "timings": timings, "rows": rows,
            **({"not_finetuned": skipped} if skipped else {})})
