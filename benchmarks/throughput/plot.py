"""The figure of a run: network-steps per second (left) and seconds per epoch of all K networks
(right) against K, one line per method, log-log. Drawn with matplotlib's object API (no pyplot, no
display), written atomically as a PNG."""
from __future__ import annotations

import io
from typing import Sequence

from matplotlib.figure import Figure

from benchmarks.throughput.problem import LABELS
from deep_sparse import results_io


def method_points(rows: Sequence[dict], method: str) -> list[dict]:
    """The method's successful rows, by increasing K."""
    return sorted((r for r in rows if r["method"] == method and "error" not in r), key=lambda r: r["k"])


def throughput_figure(rows: Sequence[dict], title: str) -> Figure:
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    left, right = figure.subplots(1, 2)
    for method in LABELS:
        points = method_points(rows, method)
        if points:
            ks = [r["k"] for r in points]
            left.plot(ks, [r["network_steps_per_s"] for r in points], marker="o", label=LABELS[method])
            right.plot(ks, [r["epoch_s_median"] for r in points], marker="o", label=LABELS[method])
    for axes in (left, right):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("K (networks)")
        axes.grid(True, which="both", alpha=0.3)
    left.set_ylabel("network-steps per second")
    right.set_ylabel("seconds per epoch of all K networks")
    left.legend(fontsize=8)
    figure.suptitle(title, fontsize=9)
    return figure


def plot_throughput(rows: Sequence[dict], path: str, title: str) -> None:
    """Write the figure of ``rows`` (summary rows) to ``path`` (PNG, 120 dpi)."""
    buffer = io.BytesIO()
    throughput_figure(rows, title).savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    results_io.atomic_write_bytes(path, buffer.getvalue())
