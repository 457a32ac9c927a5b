"""Plots of sweep results (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

import io
import math
from typing import Sequence

from deep_sparse import results_io


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: str) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    results_io.atomic_write_bytes(path, buffer.getvalue())


def new_figure(figsize: tuple[float, float] = (6.4, 4.4)):
    """``(figure, axes)``: one plot on the Agg backend, for :func:`finish`."""
    return _pyplot().subplots(figsize=figsize)


def new_panels(count: int, figsize: tuple[float, float]):
    """``(figure, axes)``: ``count`` plots side by side on the Agg backend (label each, then :func:`finish`
    the last)."""
    figure, axes = _pyplot().subplots(1, count, figsize=figsize, squeeze=False)
    return figure, list(axes[0])


def finish(figure, axes, path: str, *, title: str | None = None, xlabel: str | None = None,
           ylabel: str | None = None, legend_fontsize: float | None = 8, grid: bool = True) -> None:
    """Label ``axes``, add the grid and, if anything is labelled, the legend (``legend_fontsize=None``:
    none), write the PNG to
    ``path`` atomically and close the figure: the common end of every plot of the sweeps."""
    if title is not None:
        axes.set_title(title)
    if xlabel is not None:
        axes.set_xlabel(xlabel)
    if ylabel is not None:
        axes.set_ylabel(ylabel)
    if grid:
        axes.grid(alpha=0.3)
    if legend_fontsize is not None and axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=legend_fontsize)
    _save(figure, path)
    _pyplot().close(figure)


PERCENT_CURVES = ("valid_error", "valid_sparsity")


def stage_curves(frame, metric: str, path: str, title: str = "") -> None:
    """``metric`` per epoch of every network of ``frame`` (:func:`deep_sparse.results.curves`: one row per
    network per epoch), one line per network and one panel per stage that records it (fine-tuning, or
    each pre-trained layer); error rates and sparsity in %. A legend when 12 lines or fewer."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    recorded = frame.dropna(subset=[metric])
    stages = sorted(recorded["stage"].unique(), key=lambda stage: (stage == "finetune", stage))
    figure, panels = plt.subplots(1, len(stages), figsize=(5.2 * len(stages), 4.0), squeeze=False)
    scale = 100 if metric in PERCENT_CURVES else 1
    for axes, stage in zip(panels[0], stages):
        networks = recorded[recorded["stage"] == stage].groupby(["folder", "network"], sort=True)
        for (folder, network), curve in networks:
            curve = curve.sort_values("epoch")
            label = f"network {network}" if folder == "." else f"{folder}: network {network}"
            axes.plot(curve["epoch"], scale * curve[metric], label=label, linewidth=1,
                      marker="o" if len(curve) <= 20 else None, markersize=3)
        epochs = sorted(recorded.loc[recorded["stage"] == stage, "epoch"].unique())
        if len(epochs) <= 12:
            axes.set_xticks(epochs)
        else:
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_title("fine-tuning" if stage == "finetune" else stage.replace("_", " "))
        axes.set_xlabel("epoch")
        axes.set_ylabel(metric.replace("_", " ") + (" (%)" if scale == 100 else ""))
        axes.grid(alpha=0.3)
        if networks.ngroups <= 12:
            axes.legend(fontsize=7)
    if title:
        figure.suptitle(title, fontsize=10)
    _save(figure, path)
    plt.close(figure)


def error_vs_sparsity(rows: Sequence[dict], path: str, title: str = "", knee: float | None = 0.85,
                      dead: int = 0, collapsed: int = 0) -> None:
    """Figure 3: test error (%) against the mean fraction of exact zeros, coloured by L1 coefficient.

    Diverged networks are left out (their count is given in the title), and so are the ``dead``
    and ``collapsed`` networks the caller has already removed from ``rows`` (counted likewise). ``knee`` draws the
    paper's observation (no loss of accuracy up to about 85% of true zeros) as a dashed vertical line.
    """
    plt = _pyplot()
    from matplotlib.colors import Normalize

    kept = [r for r in rows if not r.get("diverged") and math.isfinite(r["test_error"])]
    figure, axes = plt.subplots(figsize=(6.4, 4.4))
    if kept:
        l1 = [r["l1"] for r in kept]
        points = axes.scatter(
            [100 * r["sparsity"] for r in kept], [100 * r["test_error"] for r in kept], c=l1, cmap="viridis",
            norm=Normalize(vmin=min(l1), vmax=max(max(l1), min(l1) + 1e-12)), s=22, edgecolors="none",
        )
        figure.colorbar(points, ax=axes, label="L1 coefficient")
    if knee is not None:
        axes.axvline(100 * knee, color="grey", linestyle="--", linewidth=1, label=f"{100 * knee:.0f}% zeros (paper)")
    diverged = len(rows) - len(kept)
    left_out = ", ".join(f"{n} {what}" for n, what in ((diverged, "diverged"), (dead, "dead"),
                                                         (collapsed, "collapsed")) if n)
    axes.set_xlabel("mean fraction of exact zeros in hidden layers (%)")
    axes.set_ylabel("test error (%)")
    axes.set_title((title + "\n" if title else "") + f"{len(kept)} networks shown"
                   + (f"; not shown: {left_out}" if left_out else ""), fontsize=9)
    if knee is not None:
        axes.legend(loc="upper left")
    axes.grid(alpha=0.3)
    _save(figure, path)
    plt.close(figure)


def learning_curves(rows: Sequence[dict], path: str, label_key: str = "network") -> None:
    """Validation error per epoch of every network in ``rows`` (curves from results.json)."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 4.4))
    for row in rows:
        curve = [100 * v if v is not None else float("nan") for v in row["curves"]["valid_error"]]
        axes.plot(range(1, len(curve) + 1), curve, label=str(row.get(label_key)), linewidth=1)
    axes.set_xlabel("epoch")
    axes.set_ylabel("validation error (%)")
    if len(rows) <= 12:
        axes.legend(fontsize=7)
    axes.grid(alpha=0.3)
    _save(figure, path)
    plt.close(figure)
