"""Plot the learning curves of a results folder: one line per network, one panel per stage.

Reads each sweep's metrics.jsonl (written epoch by epoch while it runs: a running sweep can be
plotted) or, for a folder recorded before it, the curves its results.json rows hold.

Examples:
  python -m sweeps.curves runs/train                          # runs/train/curves_valid_error.png
  python -m sweeps.curves results/table1-quick --metric train_loss --out loss.png
"""
from __future__ import annotations

import argparse
import os
from typing import Sequence

from deep_sparse import plots, results
from sweeps import common

MODULE = "sweeps.curves"
METRICS = (*results.FINETUNE_CURVES, *results.PRETRAIN_CURVES)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", metavar="RESULTS_FOLDER",
                        help="a sweep's folder, or a folder of sweeps (every one below it is plotted)")
    parser.add_argument("--out", default=None, metavar="PNG",
                        help="the plot to write (default: RESULTS_FOLDER/curves_METRIC.png)")
    parser.add_argument("--metric", choices=METRICS, default="valid_error",
                        help="the value per epoch to plot (default: %(default)s)")
    parser.add_argument("--debug", action="store_true", help="on an error, print the Python traceback too")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    frame = results.curves(args.folder)
    if frame.empty:
        raise FileNotFoundError(f"{args.folder}: no learning curves there (no metrics.jsonl, and no results.json "
                                "whose rows hold curves); expected a sweep's output folder")
    if frame[args.metric].isna().all():
        recorded = [name for name in METRICS if frame[name].notna().any()]
        raise ValueError(f"{args.folder}: no {args.metric} recorded there; expected one of {', '.join(recorded)}")
    out = args.out or os.path.join(args.folder, f"curves_{args.metric}.png")
    networks = frame.dropna(subset=[args.metric])[["folder", "network"]].drop_duplicates().shape[0]
    plots.stage_curves(frame, args.metric, out, title=f"{os.path.normpath(args.folder)}: {networks} network(s)")
    print(f"{out}: {args.metric} per epoch of {networks} network(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(common.cli(main))
