"""A results folder as one table: every network every sweep under it recorded, with where and how.

    import deep_sparse as ds
    frame = ds.results.load("results")                  # one row per network, every results.json below
    frame[frame.folder == "table1-paper/mnist"].sort_values("valid_error")

Reads only what the runs wrote (``results.json``: its rows, and the run's experiment, preset, date and
commit); writes nothing. Learning curves and per-example errors stay out unless asked for
(``curves=True``), since they are lists per row.
"""
from __future__ import annotations

import os

import pandas as pd

from deep_sparse import results_io

RUN_FIELDS = ("experiment", "preset", "dataset", "date_utc", "git_commit")
LIST_FIELDS = ("curves", "test_wrong")


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
