"""One Markdown report of every experiment run under a folder, each of our numbers beside the paper's.

    python -m sweeps.report runs/ --out report.md

Reads every ``results.json`` under the folder (each carries ``experiment`` and ``preset`` in its
metadata, and ``not_run`` with the reason when a data set could not be had) and every ``cells.json``
(our numbers with the id of the paper's cell, written by the experiment modules). For each cell: our
number, the paper's (``sweeps/paper_numbers.py``), the difference, the preset, the sample size, and a
note. Numbers of any preset but ``paper`` are labelled "quick preset (reduced)": they are never a
paper-scale reproduction. Cells that could not be run are listed with their reason. Plots (ours
against the paper's, one per experiment) are written beside the report.
"""
from __future__ import annotations

import argparse
import os
from typing import Optional

ORDER = ["table1", "sparsity", "figure3", "figure4", "softplus_alpha", "sentiment", "pretrain_strategies"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sweeps.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="folder searched recursively for results.json and cells.json")
    parser.add_argument("--out", default="report.md", help="Markdown report to write (default: %(default)s); "
                                                           "plots go beside it")
    return parser


TRAIN_PRESET = "train"  # runs of `python -m sweeps.train`: their own settings, no preset


def scale_label(preset: Optional[str]) -> str:
    from sweeps import common

    if preset == TRAIN_PRESET:
        return "sweeps.train run: settings in its command (e.g. full data and 3 x 1000 units, capped epochs)"
    if preset == "paper":
        return "paper scale"
    if common.is_paper_scale(preset):
        return "paper scale except the overrides in brackets"
    return common.QUICK_LABEL


def gather(folder: str) -> tuple[list[dict], list[dict]]:
    """(runs, cells): one run per results.json (rows dropped), every distinct cell of every cells.json."""
    from deep_sparse import results_io

    runs, cells, seen = [], [], set()
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in ("checkpoints", "chunks") and not d.startswith("."))
        if "results.json" in files:
            path = os.path.join(root, "results.json")
            payload = results_io.read_json(path)
            rows = payload.get("rows", [])
            runs.append({
                "path": os.path.relpath(path, folder), "experiment": payload.get("experiment", "unknown"),
                "preset": payload.get("preset"), "dataset": payload.get("dataset", ""),
                "not_run": payload.get("not_run"), "complete": payload.get("complete"),
                "networks": len(rows), "sizes": payload.get("sizes") or {},
                "wall_seconds": (payload.get("timings") or {}).get("wall_seconds"),
                "date": payload.get("date_utc"), "command": payload.get("command"),
                "synthetic": payload.get("synthetic", False), "rows": rows,
            })
        if "cells.json" in files:
            for cell in results_io.read_json(os.path.join(root, "cells.json"))["cells"]:
                key = (cell["experiment"], cell["preset"], cell["dataset"], cell["cell"], cell["metric"], cell["ours"])
                if key not in seen:
                    seen.add(key)
                    cells.append(cell)
    return runs, cells


def figure3_cells(runs: list[dict]) -> list[dict]:
    """The figure3 module writes no cells.json: the mean of its L1 = 0.001 networks, with no paper
    number beside it (Figure 3 plots plain rectifiers; Table 1's 1.43% is the half-negated variant)."""
    from sweeps import common, paper_numbers as pn

    cells = []
    for run in runs:
        if run["experiment"] != "figure3" or not run["rows"]:
            continue
        near = [r for r in run["rows"] if abs(r["l1"] - 0.001) < 1e-9 and not r["diverged"]]
        if near:
            cells.append(common.cell(
                "figure3", run["preset"], "mnist", "rectifier, L1 0.001, mean over seeds", "test_error",
                sum(r["test_error"] for r in near) / len(near), None,
                n_test=run["sizes"].get("n_test"), networks=len(near)))
    return cells


def train_cells(runs: list[dict]) -> list[dict]:
    """Runs of ``python -m sweeps.train`` on MNIST: per activation and pre-training, the network
    selected on validation, beside Table 1 of the AISTATS paper (and its average sparsity)."""
    from sweeps import common, paper_numbers as pn

    cells = []
    for run in runs:
        if run["experiment"] != "train" or not run["rows"] or "--dataset mnist" not in (run["command"] or ""):
            continue
        for row in common.best_by_validation(run["rows"], ["activation", "pretrain_epochs"]):
            pretrained = row["pretrain_epochs"] > 0
            label = (f"{row['activation']}, {'with' if pretrained else 'without'} pre-training, "
                     f"lr {row['lr']:g}, L1 {row['l1']:g}, {row['epochs_run']} epochs ({run['path']})")
            key = pn.table1_key_for("mnist", row["activation"], pretrained)
            cells.append(common.cell("train", TRAIN_PRESET, "mnist", label, "test_error", row["test_error"],
                                     key, n_test=10_000))
            if row["activation"] == "rectifier":
                cells.append(common.cell("train", TRAIN_PRESET, "mnist", label, "sparsity", row["sparsity"],
                                         None, n_test=10_000, note="paper: 83.4% average exact sparsity (section 4.1)"))
    return cells


def plot_experiment(cells: list[dict], path: str, title: str) -> bool:
    """Ours against the paper's for every cell that has both; False (no file) when none has."""
    from deep_sparse import plots
    from sweeps import common, paper_numbers

    pairs = []
    for c in cells:
        paper = paper_numbers.lookup(c.get("paper_key"))
        if paper is not None and c.get("ours") is not None:
            scale = 100.0 if common.percent_metric(c["metric"]) else 1.0
            pairs.append((scale * paper["value"], scale * c["ours"], common.is_paper_scale(c["preset"])))
    if not pairs:
        return False
    figure, axes = plots.new_figure((5, 5))
    for paper_scale, marker, label in ((True, "o", "paper preset"), (False, "x", "quick preset (reduced)")):
        chosen = [(p, o) for p, o, s in pairs if s == paper_scale]
        if chosen:
            axes.scatter(*zip(*chosen), marker=marker, label=label)
    low = min(min(p, o) for p, o, _ in pairs)
    high = max(max(p, o) for p, o, _ in pairs)
    axes.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1, label="ours = paper")
    plots.finish(figure, axes, path, title=title, xlabel="paper", ylabel="ours")
    return True


def render(folder: str, out_path: str) -> str:
    from deep_sparse import results_io
    from sweeps import common

    runs, cells = gather(folder)
    cells += figure3_cells(runs) + train_cells(runs)
    experiments = sorted({r["experiment"] for r in runs} | {c["experiment"] for c in cells},
                         key=lambda e: (ORDER.index(e) if e in ORDER else len(ORDER), e))
    lines = ["# deep-sparse: our numbers beside the papers'", "",
             f"Gathered from `{folder}`: {len(runs)} results files, {len(cells)} comparable cells.", "",
             "Percentages for error rates and sparsities, star units for RMSE; difference = ours - paper. "
             "Every number of a preset other than `paper` is a **quick preset (reduced)** number "
             "(smaller networks, subsets, few epochs): it checks the pipeline and the direction of an effect, "
             "it is NOT a paper-scale reproduction. A `paper [...]` preset is the paper's scale with the "
             "command-line overrides listed in its brackets (e.g. a reduced lr grid or epoch cap).", ""]
    not_run = [r for r in runs if r["not_run"]]
    if not_run:
        lines += ["## Could not be run", ""]
        lines += [f"- {r['experiment']} / {r['dataset'] or '-'} ({r['preset']} preset): {r['not_run']}" for r in not_run]
        lines.append("")
    for experiment in experiments:
        group = [c for c in cells if c["experiment"] == experiment]
        lines += [f"## {experiment}", ""]
        if any(c.get("synthetic") or "SYNTHETIC" in str(c.get("dataset")) for c in group):
            lines += ["**SYNTHETIC DATA**: these rows come from a generated reviews file; they test the pipeline and "
                      "are not comparable with the paper's OpenTable numbers.", ""]
        if group:
            table = common.cells_table_rows(group)
            for row, c in zip(table, group):
                row["preset"] = f"{c['preset']}: {scale_label(c['preset'])}"
                if c.get("ours") is None and not row["note"]:
                    row["note"] = "not run"
            columns = ["data set", "cell", "metric", "ours", "paper", "difference", "preset", "n test",
                       "paper source", "note"]
            lines.append(results_io.format_table(table, columns, {"ours": ".3f", "paper": ".3f", "difference": "+.3f"}))
            image = f"{os.path.splitext(os.path.basename(out_path))[0]}_{experiment}.png"
            if plot_experiment(group, os.path.join(os.path.dirname(os.path.abspath(out_path)), image),
                               f"{experiment}: ours against the paper"):
                lines += ["", f"![{experiment}: ours against the paper]({image})"]
        else:
            lines.append("No comparable cells (the module writes none); see the runs below.")
        lines.append("")
    lines += ["## Runs", ""]
    run_rows = [{"experiment": r["experiment"], "data set": r["dataset"], "preset": r["preset"],
                 "scale": scale_label(r["preset"]), "networks": r["networks"],
                 "train/valid/test": "/".join(str(r["sizes"].get(k, "?")) for k in ("n_train", "n_valid", "n_test"))
                 if r["sizes"] else "", "wall s": r["wall_seconds"],
                 "status": r["not_run"] or ("complete" if r["complete"] else "INCOMPLETE"),
                 "date": r["date"], "file": r["path"]} for r in runs]
    lines.append(results_io.format_table(run_rows, list(run_rows[0]) if run_rows else ["experiment"],
                                         {"wall s": ".0f"}))
    commands = sorted({r["command"] for r in runs if r["command"]})
    if commands:
        lines += ["", "Commands:", ""] + [f"- `{c}`" for c in commands]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from sweeps import common

    if not os.path.isdir(args.folder):
        raise SystemExit(f"{args.folder}: no such folder")
    text = render(args.folder, args.out)
    common.write_text(args.out, text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
