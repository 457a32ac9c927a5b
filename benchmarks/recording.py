"""Where a benchmark's measurements go: ``benchmarks/results/NAME.json`` and ``NAME.md`` under ``out``."""
from __future__ import annotations

import os

from deep_sparse import results_io


def write(out: str, name: str, result: dict, table: str) -> None:
    """Write ``result`` as JSON and its Markdown ``table`` beside it, then print the table."""
    folder = os.path.join(out, "benchmarks", "results")
    os.makedirs(folder, exist_ok=True)
    results_io.atomic_write_json(os.path.join(folder, f"{name}.json"), result)
    results_io.atomic_write_text(os.path.join(folder, f"{name}.md"), table)
    print(table)
