"""Figure 3 of Glorot, Bordes & Bengio (2011): test error against exact sparsity on MNIST.

Deep rectifier networks without pre-training, trained with L1 penalties on the activations from 0 to
0.01 and several random initializations; the paper (200 networks) finds no loss of accuracy until
about 85% of the hidden activations are exact zeros. Every network of the grid is trained in one
batched program by ``deep_sparse.sweep``. The report's Figure 3 section (:func:`report_lines`) is
drawn from the paper preset's recorded networks by the same code as this command's summary.
"""
from __future__ import annotations

import argparse
import dataclasses
import os

import numpy as np

import deep_sparse as ds
from deep_sparse import data as data_lib
from deep_sparse import health, presets
from deep_sparse.rows import row_is_dead
from deep_sparse.store import read_results
from sweeps import common
from sweeps.report_tables import FIGURE3, FIGURE3_MEAN_COST, live_rows, read

NAME = "figure3"
MODULE = "sweeps.figure3"
DATASET = "mnist"
NUM_CLASSES = data_lib.num_classes(DATASET)
# the preset's settings that --name options override (in the order labels list them)
OVERRIDES = ("lr", "epochs", "seeds")
# the bands of the fraction of exact zeros that test errors are summarised in (the paper's reading: no
# loss of accuracy until about 85% zeros)
ZERO_BANDS = ((0.0, 0.85), (0.85, 0.90), (0.90, 0.95), (0.95, 1.01))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Figure3Preset(presets.NetworkPreset):
    """A Figure 3 preset: the settings of every preset (architecture, epochs, patience) and

    train_size, valid_size, test_size: the first n examples of MNIST's splits (None: all); l1: the L1
    values on the figure's sparsity axis; seeds: networks per L1 value (a count: seeds 0 to n - 1, or
    the seeds themselves); lr: the learning rate (or several, each a network of its own); minibatch_cost:
    the cost the lr and L1 values are given for, "mean" (this library's) or "summed" (how Table 1's
    paper preset reads the paper: the networks train at :func:`deep_sparse.presets.trained_values`').
    """

    train_size: int | None
    valid_size: int | None
    test_size: int | None
    l1: tuple[float, ...]
    seeds: int | tuple[int, ...]
    lr: float | tuple[float, ...]
    minibatch_cost: str


PRESETS = presets.by_name(
    Figure3Preset(
        name="quick",
        description="REDUCED, for a CPU in minutes: 16 networks (8 L1 values x 2 seeds), 3 x 300 rectifier "
                    "units, the first 10,000 of MNIST's 50,000 training images, 2,000 validation images, the "
                    "full 10,000 test images, at most 8 epochs (patience 3), lr 0.01",
        hidden_sizes=(300, 300, 300), train_size=10_000, valid_size=2_000, test_size=None,
        epochs=8, patience=3, l1=(0.0, 1e-4, 3e-4, 1e-3, 2e-3, 4e-3, 7e-3, 1e-2), seeds=2, lr=0.01,
        minibatch_cost="mean",
    ),
    Figure3Preset(
        name="paper",
        description="PAPER SCALE: 200 networks (50 L1 values evenly spaced in [0, 0.01] x 4 seeds), "
                    "3 x 1000 rectifier units, MNIST 50k/10k/10k, mini-batch 10, at most 50 epochs "
                    "(patience 10), lr 0.01; the paper's mini-batch cost read as Table 1's paper preset reads it, "
                    "the NLL summed over the 10 examples and the L1 term averaged, so the networks train with "
                    "this library's mean cost at lr 0.1 and L1 from 0 to 0.001 (lr 0.01 is the one validation "
                    "picks for the rectifiers at L1 0.001 under this reading, results/table1-paper; the paper "
                    "names no lr for Figure 3); networks ordered seed after seed so that every finished prefix "
                    "is a complete figure",
        hidden_sizes=(1000, 1000, 1000), train_size=None, valid_size=None, test_size=None,
        epochs=50, patience=10, l1=np.linspace(0.0, 0.01, 50), seeds=4, lr=0.01, minibatch_cost="summed",
    ),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}",
        description=__doc__,
        epilog=common.preset_epilog(PRESETS, "results.csv (one row per network), results.json (the same with "
                                             "learning curves, command, versions, devices, timings), figure3.png, "
                                             "summary.md."),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common.add_preset_argument(parser, PRESETS)
    common.add_rule_arguments(parser, ("lr", "epochs", "seed"))
    parser.add_argument("--render", action="store_true",
                        help="train nothing: redraw figure3.png and summary.md in --out from the networks recorded "
                             "there so far (any finished prefix of the sweep)")
    common.add_run_arguments(parser, default_out="runs/figure3")
    return parser


def figure3_config(preset: Figure3Preset) -> ds.config.TrainConfig:
    """Rectifier networks without pre-training on the preset's part of MNIST."""
    return preset.train_config(DATASET, activation="rectifier", train_size=preset.train_size,
                               valid_size=preset.valid_size, test_size=preset.test_size, num_classes=NUM_CLASSES)


def figure3_grid(preset: Figure3Preset) -> list[dict]:
    """Seed outermost: every finished prefix of the sweep (seed 0 over all L1 values, then seed 1, ...)
    is a complete figure."""
    values = presets.trained_values(preset.minibatch_cost, l1=preset.l1, lr=preset.lr)
    return ds.sweep.product(seed=presets.seed_values(preset.seeds), l1=values["l1"], lr=values["lr"])


def main(argv=None) -> int:
    """Figure 3: the L1 x seed sweep, then the figure and its summary (or only them, with --render)."""
    args = build_parser().parse_args(argv)
    run = common.start(args, MODULE, NAME, PRESETS, OVERRIDES, "Figure 3")
    if args.render:
        rows = read_results(args.out)
    else:
        rows = run.sweep(figure3_config(run.preset), figure3_grid(run.preset), args.out, data=None)
    write_outputs(rows, args.out, run.preset.label, run.preset.description)
    return 0


def write_outputs(rows: list[dict], out: str, label: str, description: str) -> str:
    """figure3.png and summary.md from the rows recorded so far (any prefix of the sweep)."""
    draw(rows, os.path.join(out, "figure3.png"), f"Figure 3 ({label} preset): {len(rows)} rectifier networks on MNIST")
    summary = summarize(rows, label, description)
    common.write_text(os.path.join(out, "summary.md"), summary)
    print(summary)
    return summary


def draw(rows: list[dict], path: str, title: str) -> None:
    """The figure (:func:`deep_sparse.plots.error_vs_sparsity`) of ``rows``: test error against the
    fraction of exact zeros of the networks neither diverged, dead nor collapsed, those counted in the title."""
    dead = [row_is_dead(r, NUM_CLASSES) for r in rows]
    collapsed = [health.is_collapsed(r) and not d for r, d in zip(rows, dead)]
    live = [r for r, d, c in zip(rows, dead, collapsed) if not d and not c]
    ds.plots.error_vs_sparsity(live, path, dead=sum(dead), collapsed=sum(collapsed), title=title)


def band_table(kept: list[dict]) -> list[dict]:
    """Per band of :data:`ZERO_BANDS`: how many networks of ``kept`` have a fraction of exact zeros in
    [low, high), and their mean, min and max test error (%, None for an empty band)."""
    table = []
    for low, high in ZERO_BANDS:
        band = [r["test_error"] for r in kept if low <= r["sparsity"] < high]
        table.append({"fraction of zeros": f"{100 * low:.0f}-{min(100, 100 * high):.0f}%", "networks": len(band),
                      "mean test error %": 100 * float(np.mean(band)) if band else None,
                      "min %": 100 * float(np.min(band)) if band else None,
                      "max %": 100 * float(np.max(band)) if band else None})
    return table


def summarize(rows, preset: str, description: str) -> str:
    """Per-L1 means and the paper's observation, in Markdown; diverged, dead and collapsed networks
    are counted and left out of the means."""
    dead = {r["network"] for r in rows if row_is_dead(r, NUM_CLASSES)}
    collapsed = {r["network"] for r in rows if health.is_collapsed(r)}
    left_out = dead | collapsed
    by_l1: dict = {}
    for row in rows:
        by_l1.setdefault(row["l1"], []).append(row)
    table = []
    for l1 in sorted(by_l1):
        group = [r for r in by_l1[l1] if not r["diverged"] and r["network"] not in left_out]
        table.append({
            "L1": l1, "networks": len(by_l1[l1]), "diverged": sum(r["diverged"] for r in by_l1[l1]),
            "dead": sum(r["network"] in dead for r in by_l1[l1]),
            "collapsed": sum(r["network"] in collapsed for r in by_l1[l1]),
            "test error %": 100 * float(np.mean([r["test_error"] for r in group])) if group else None,
            "sparsity %": 100 * float(np.mean([r["sparsity"] for r in group])) if group else None,
        })
    kept = [r for r in rows if not r["diverged"] and r["network"] not in left_out]
    seeds = sorted({r["seed"] for r in rows})
    lines = [f"# Figure 3 ({preset} preset)", "", description, "",
             f"Recorded: {len(rows)} networks (seeds {', '.join(map(str, seeds))}); diverged "
             f"{sum(r['diverged'] for r in rows)}, dead {len(dead)} (a constant output or a layer silent on every "
             f"validation example), collapsed {len(collapsed)} (a training error no better than the most frequent "
             "class): left out of the means and the figure.", ""]
    lines.append(ds.results_io.format_table(table, ["L1", "networks", "diverged", "dead", "collapsed", "test error %",
                                                    "sparsity %"],
                                         {"L1": ".4g", "test error %": ".2f", "sparsity %": ".1f"}))
    if kept:
        # a reduced run reproduces nothing: its bands stand without the paper's reading beside them
        reading = ("Paper: no loss of accuracy until about 85% of true zeros." if preset == "paper"
                   else "Test error by fraction of zeros.")
        lines += ["", reading, ""]
        band_rows = band_table(kept)
        lines.append(ds.results_io.format_table(band_rows, list(band_rows[0]),
                                             {"mean test error %": ".2f", "min %": ".2f", "max %": ".2f"}))
    if preset != "paper":
        lines += ["", "This is a reduced run, not a paper-scale reproduction."]
    return "\n".join(lines) + "\n"


def report_lines(root: str, out_dir: str) -> list[str]:
    """Figure 3's section of the report (``sweeps/report.py``): the figure of the paper preset's
    networks recorded under the results folder ``root`` (written to ``report_figure3.png`` in
    ``out_dir``), how many were left out, and their test error by band of exact zeros."""
    record, lines = read(root, f"{FIGURE3}/results.json"), []
    if record is None:
        record = read(root, f"{FIGURE3_MEAN_COST}/results.json")
        lines = ["Not run yet under the paper preset's summed-cost reading (lr 0.1, L1 0 to 0.001 in our units: "
                 "one GPU call, the campaign's Figure 3 step). Shown: the networks recorded under the mean-cost "
                 f"reading (`{FIGURE3_MEAN_COST}`: lr 0.01, L1 0 to 0.01 as printed), no paper number beside them.",
                 ""]
    if record is None:
        return ["Figure 3: not run at the paper preset yet."]
    rows = record["rows"]
    live = live_rows(rows)
    left_out = [r for r in rows if r not in live]
    path = os.path.join(out_dir, "report_figure3.png")
    draw(rows, path, f"Figure 3, ours: {len(rows)} rectifier networks on MNIST, lr {rows[0]['lr']:g}, L1 from "
                     f"{min(r['l1'] for r in rows):g} to {max(r['l1'] for r in rows):g}")
    lines += [f"![Figure 3, ours]({os.path.relpath(path, out_dir)})", "",
             f"{len(rows)} networks recorded; {len(left_out)} left out as dead, diverged or collapsed"
             + (f" (L1 {min(r['l1'] for r in left_out):g} to {max(r['l1'] for r in left_out):g})" if left_out else "")
             + ". Mean test error by fraction of zeros:", "",
             "| zeros | networks | mean test error % | min | max |", "|---|---|---|---|---|"]
    lines += [f"| {band['fraction of zeros']} | {band['networks']} | {band['mean test error %']:.2f} | "
              f"{band['min %']:.2f} | {band['max %']:.2f} |" for band in band_table(live) if band["networks"]]
    return lines


if __name__ == "__main__":
    raise SystemExit(common.cli(main))
