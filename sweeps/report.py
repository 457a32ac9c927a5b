"""The report: the papers' tables and figures with our numbers at the unmodified ``paper`` preset
first, then why our numbers differ, then every other run listed without a paper number.

    python -m sweeps.report results --out results/report.md

Writes ``report.md``, ``report.json`` (the same cells, machine-readable) and its figures beside it.
It reads only what the runs recorded (``results.json``, ``cells.json``, ``plan.json``): AISTATS Table 1
comes from ``sweeps/report_tables.py``, the workshop's Table 1 from ``sweeps/sparsity.py``, Figure 3 from
``sweeps/figure3.py`` and section 3.1's ill-conditioning from ``sweeps/ill_conditioning.py`` (each experiment
module turns its own rows into its section), the diagnostics from
``sweeps/report_diagnostics.py``; this module assembles them. Runs of reduced presets, runs with
overrides and diagnostics never stand beside a paper number: they are listed under "Every other run",
by folder, with their provenance.
"""
from __future__ import annotations

import argparse
import os
from typing import Optional

from deep_sparse import results_io
from sweeps import diagnostics, figure3, ill_conditioning, report_diagnostics, report_tables, sparsity

NOT_OBTAINABLE = (
    ("CIFAR-10 (AISTATS Table 1)", "python -m sweeps.table1 --preset paper --datasets cifar10 --data-dir DATA_DIR"),
    ("NORB (Table 1, Figure 4, rescaled softplus)", "python -m sweeps.table1 --preset paper --datasets norb "
                                                   "--data-dir DATA_DIR"),
    ("NISTP (Table 1)", "no public host: not loadable"),
    ("OpenTable reviews (AISTATS Table 2)", "python -m sweeps.sentiment --preset paper --reviews FILE"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sweeps.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="the results folder (e.g. results)")
    parser.add_argument("--out", default=None, help="the report's path (default: FOLDER/report.md)")
    return parser


# ------------------------------------------------------------------------------ every run, listed
def run_line(root: str, top: str, folders: list[str], out_dir: str) -> str:
    """One line of the listing: what ran in the folder ``top``, at which preset, when, how many networks."""
    experiments, presets, dates, networks, complete = set(), set(), set(), 0, True
    for folder in folders:
        path = os.path.join(root, folder, "results.json")
        if not os.path.exists(path):
            continue
        record = results_io.read_json(path)
        experiments.add(str(record.get("experiment", "?")))
        preset = record.get("preset")
        presets.add("paper, as the preset was then (see its PROVENANCE.md)" if preset == "paper" else str(
            preset or ("the paper's procedure with one change" if top.startswith("diagnostics")
                       else "its own settings (sweeps.train: see its command)")))
        dates.add(str(record.get("date_utc", ""))[:10])
        networks += len(record.get("rows", []))
        complete &= bool(record.get("complete", True)) or bool(record.get("not_run"))
    link = os.path.relpath(os.path.join(root, top), out_dir)
    notes = [name for name in ("NOTE.md", "PROVENANCE.md", "summary.md") if os.path.exists(os.path.join(root, top, name))]
    note_links = ", ".join(f"[{name}]({link}/{name})" for name in notes)
    return (f"| [{top}]({link}) | {', '.join(sorted(experiments)) or 'cells only'} | {'; '.join(sorted(presets))} | "
            f"{networks}{'' if complete else ' (unfinished)'} | {', '.join(sorted(d for d in dates if d))} | {note_links} |")


def other_runs(root: str, out_dir: str, shown: set[str]) -> list[str]:
    by_top: dict[str, list[str]] = {}
    for folder in results_io.recorded_folders(root, ("results.json", "cells.json")):
        top = folder.split(os.sep)[0] if folder != "." else "."
        if folder.startswith("diagnostics" + os.sep):
            top = os.path.join(*folder.split(os.sep)[:2])
        by_top.setdefault(top, []).append(folder)
    lines = ["| folder | experiment | preset | networks | date | notes |", "|---|---|---|---|---|---|"]
    lines += [run_line(root, top, folders, out_dir) for top, folders in sorted(by_top.items()) if top not in shown]
    return lines


# ------------------------------------------------------------------------------ the report
TABLE1_READING = (
    "The paper preset reads the text's mini-batch cost as summed over the 10 examples for the NLL and "
    "reconstruction terms and averaged for the L1 term (the paper does not say which; under this reading the "
    "paper's lr 0.01 and L1 0.001 are our mean cost's lr 0.1 and L1 0.0001, and the paper's grids "
    "{0.1, ..., 0.0001} are our {1, ..., 0.001}: `sweeps/table1.py`, `deep_sparse.config.from_summed_cost`). "
    "A cell without pre-training whose networks are not all trained yet shows the best on validation so far "
    "and no mark; a pre-trained cell appears once all its networks are.")
TABLE1_MEAN_READING = (
    "Every term averaged over the mini-batch: the paper's lr and L1 values used as they are. Kept because most "
    "diagnostics below change one thing of these networks, and because the workshop's sparsity table still "
    "reads the cost this way.")
# the folders the sections above the listing show: not listed again
SHOWN_ABOVE = {report_tables.TABLE1, report_tables.TABLE1_MEAN_COST, report_tables.SPARSITY, report_tables.FIGURE3,
               report_tables.FIGURE3_MEAN_COST, ill_conditioning.PAPER_FOLDER,
               *(report_tables.in_results(diagnostics.folder(d)) for d in diagnostics.DIAGNOSTICS)}


def render(root: str, out_path: str) -> str:
    out_dir = os.path.dirname(os.path.abspath(out_path))
    table1, table1_cells = report_tables.aistats_table1(root)
    table1_mean, table1_mean_cells = report_tables.compact_table1(root, report_tables.TABLE1_MEAN_COST)
    workshop, workshop_cells = sparsity.workshop_table1(root)
    selected = report_tables.table1_selected(root)
    why, findings = report_diagnostics.section(root, out_dir, table1_cells)
    curves = os.path.join(out_dir, "report_table1_curves.png")
    has_curves = report_tables.curves_figure(selected, curves)
    lines = [
        "# deep-sparse: the papers' tables with our numbers", "",
        "Only runs of the unmodified `paper` preset stand beside a paper number here. " + report_tables.__doc__.split(
            "\n\n", 1)[1].strip().replace("\n", " "), "",
        "## AISTATS 2011, Table 1: test error of networks of depth 3 (%)", "", TABLE1_READING, "", *table1, "",
        *([f"![Learning curves of the selected networks]({os.path.basename(curves)})", ""] if has_curves else []),
        "### The same table under the mean-cost reading (the paper preset until 2026-12-03)", "",
        TABLE1_MEAN_READING, "", *table1_mean, "",
        "## Workshop paper, Table 1", "", *workshop, "",
        "## Workshop paper, Table 2 (DAE pre-training, mean of the 5 best on validation)", "",
        *report_tables.pending_experiment(root, "Workshop Table 2", report_tables.WORKSHOP_TABLE2,
                                          "python -m sweeps.workshop_table2 --preset paper"), "",
        "## AISTATS 2011, Figure 3: influence of final sparsity on accuracy (MNIST)", "",
        *figure3.report_lines(root, out_dir), "",
        "## MNIST stand-ins for the paper's NORB experiments", "",
        "Labelled stand-ins: the paper ran these on NORB; no paper number stands beside them.", "",
        *[line for title, folder in report_tables.STAND_INS for line in report_tables.pending_experiment(
            root, title, folder, "python -m sweeps.campaign --budget-minutes N")], "",
        "## Our experiment: section 3.1's ill-conditioning (not in the papers)", "",
        *ill_conditioning.report_lines(root, out_dir), "",
        "## Why our numbers differ from the paper's", "", *why, "",
        "## Not run: data not obtainable here", "",
        *[f"- {what}: `{command}` once the files are supplied." for what, command in NOT_OBTAINABLE], "",
        "## Every other run (pipeline checks, diagnostics, runs with overrides): no paper numbers", "",
        "The diagnostics are listed, linked, under \"Why our numbers differ\" above.", "",
        *other_runs(root, out_dir, shown=SHOWN_ABOVE), "",
    ]
    text = "\n".join(lines)
    results_io.atomic_write_text(out_path, text)
    results_io.atomic_write_json(os.path.splitext(out_path)[0] + ".json",
                                 {"aistats_table1": table1_cells, "aistats_table1_mean_cost": table1_mean_cells,
                                  "workshop_table1": workshop_cells,
                                  "diagnostics": findings})
    return text


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if not os.path.isdir(args.folder):
        raise SystemExit(f"error: {args.folder}: no such folder")
    out = args.out or os.path.join(args.folder, "report.md")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)  # its figures are written beside it
    render(args.folder, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
