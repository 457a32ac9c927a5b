"""A results folder as one table: every network every sweep under it recorded, with where and how.

    import deep_sparse as ds
    frame = ds.results.load("results")                  # one row per network, every results.json below
    frame[frame.folder == "table1-paper-mean-cost/mnist"].sort_values("valid_error")

Reads only what the runs wrote (``results.json``: its rows, and the run's experiment, preset, date and
commit); writes nothing. Learning curves and per-example errors stay out unless asked for
(``curves=True``), since they are lists per row; :func:`curves` gives the learning curves as a table of
their own, one row per network per epoch.
"""
from __future__ import annotations

import os

import pandas as pd

from deep_sparse import metrics_log, results_io

RUN_FIELDS = ("experiment", "preset", "dataset", "date_utc", "git_commit")
LIST_FIELDS = ("curves", "test_wrong")
FINETUNE_CURVES = ("train_loss", "valid_error", "valid_sparsity")
PRETRAIN_CURVES = ("pretrain_loss", "pretrain_valid_loss")
CURVE_COLUMNS = ("folder", "network", "group", "stage", "epoch", *FINETUNE_CURVES, *PRETRAIN_CURVES)


def load(folder: str, curves: bool = False) -> pd.DataFrame:
    """One row per recorded network under ``folder`` (searched recursively for ``results.json``), with
    the columns of the rows and ``folder`` (the sweep's folder relative to ``folder``) and the run's
    ``experiment``, ``preset``, ``dataset``, ``date_utc`` and ``git_commit``. A folder that does not exist
    raises FileNotFoundError naming it; a damaged results file, ValueError naming it."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{folder}: no such results folder")
    records = []
    for relative in results_io.recorded_folders(folder):
        run = results_io.read_json(os.path.join(folder, relative, "results.json"))
        where = {"folder": relative, **{name: run.get(name) for name in RUN_FIELDS}}
        for row in run.get("rows", []):
            kept = {k: v for k, v in row.items() if curves or k not in LIST_FIELDS}
            records.append({**where, **kept})
    return pd.DataFrame.from_records(records, columns=None if records else ["folder", *RUN_FIELDS])


def curves(folder: str) -> pd.DataFrame:
    """The learning curves of every sweep under ``folder``, one row per network per epoch of a stage:
    ``folder`` (the sweep's, relative to ``folder``), ``network``, ``group``, ``stage`` (``finetune`` or
    ``pretrain_layer_N``), ``epoch`` (1-based within the stage) and the curves' values
    (:data:`CURVE_COLUMNS`; NaN where a stage does not record one). A sweep's ``metrics.jsonl``
    (:mod:`deep_sparse.metrics_log`, written as it runs) when it has one, else the curves its
    ``results.json`` rows recorded (finished networks only; epochs that did not run are left out).
    A folder that does not exist raises FileNotFoundError naming it."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{folder}: no such results folder")
    records = []
    for relative in results_io.recorded_folders(folder, (metrics_log.METRICS_FILE, "results.json")):
        sweep_folder = os.path.join(folder, relative)
        lines = metrics_log.read_lines(os.path.join(sweep_folder, metrics_log.METRICS_FILE))
        if not lines and os.path.exists(os.path.join(sweep_folder, "results.json")):
            rows = results_io.read_json(os.path.join(sweep_folder, "results.json")).get("rows", [])
            lines = [line for row in rows for line in _recorded_curves(row)]
        records += [{"folder": relative, **line} for line in lines]
    frame = pd.DataFrame.from_records(records, columns=None if records else list(CURVE_COLUMNS))
    return frame.reindex(columns=list(dict.fromkeys([*CURVE_COLUMNS, *frame.columns])))


def _recorded_curves(row: dict) -> list[dict]:
    """A results row's ``curves`` as lines of :func:`curves` (one per epoch run)."""
    recorded = row.get("curves") or {}
    where = {"network": row.get("network"), "group": row.get("group")}
    lines = []
    for epoch, values in enumerate(zip(*(recorded.get(name, []) for name in FINETUNE_CURVES)), 1):
        if any(_is_number(v) for v in values):
            lines.append({**where, "stage": "finetune", "epoch": epoch, **dict(zip(FINETUNE_CURVES, values))})
    per_layer = [recorded.get(name) or [] for name in PRETRAIN_CURVES]
    names = [name for name, layers in zip(PRETRAIN_CURVES, per_layer) if layers]
    for layer, layer_values in enumerate(zip(*(layers for layers in per_layer if layers)), 1):
        for epoch, values in enumerate(zip(*layer_values), 1):
            if any(_is_number(v) for v in values):
                lines.append({**where, "stage": f"pretrain_layer_{layer}", "epoch": epoch, **dict(zip(names, values))})
    return lines


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and value == value
