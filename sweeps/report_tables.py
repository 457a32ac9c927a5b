"""The papers' tables and figures with our numbers, for the report: each laid out as the paper lays it
out, from the rows and cells the runs recorded at the unmodified ``paper`` preset, never from any
other run.

A cell's mark uses one rule for both signs: the paper's number p on n test examples has the 95%
interval p +- 1.96 sqrt(p (1 - p) / n); ours inside it is marked "within", outside it by the signed
miss in points. With 3 seeds or more the mark is the seed mean's, else the selected network's.
"""
from __future__ import annotations

import math
import os
import statistics
from typing import NamedTuple, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

from deep_sparse import results_io  # noqa: E402
from deep_sparse import health  # noqa: E402
from deep_sparse.rows import row_is_dead, unpack_wrong  # noqa: E402
from sweeps import diagnostics, paper_numbers, table1  # noqa: E402

# folders under the results folder
TABLE1 = "table1-paper"
# Table 1 as recorded when the paper preset read the mini-batch cost as a mean (its grid in our units)
TABLE1_MEAN_COST = "table1-paper-mean-cost"
SPARSITY = "sparsity-paper"
FIGURE3 = "figure3-paper"
# Figure 3 as recorded when the paper preset read the mini-batch cost as a mean
FIGURE3_MEAN_COST = "figure3-paper-mean-cost"
WORKSHOP_TABLE2 = "workshop_table2-paper"
STAND_INS = (("Figure 4 (semi-supervised), MNIST stand-in for NORB", "figure4-paper-mnist"),
             ("Rescaled softplus (alpha), MNIST stand-in for NORB", "softplus_alpha-paper-mnist"))
NOT_OBTAINABLE = "not run: data not obtainable here"
PAPER_ROWS = (("Rectifier", "half_negated_rectifier"), ("Tanh", "tanh"), ("Softplus", "softplus"))
SEEDS_FOR_MEAN = 3


class Spread(NamedTuple):
    mean: float
    sd: float
    n: int


def in_results(path: str) -> str:
    """A folder named relative to the repository (``results/x``) as relative to the results folder."""
    return path.removeprefix("results/")


def read(root: str, path: str) -> Optional[dict]:
    """The JSON file ``path`` under the results folder ``root``, or None when there is none."""
    full = os.path.join(root, path)
    return results_io.read_json(full) if os.path.exists(full) else None


def interval(paper: float, n_test: int) -> float:
    """Half-width of the 95% binomial interval of an error rate ``paper`` on ``n_test`` examples."""
    return 1.96 * math.sqrt(paper * (1.0 - paper) / n_test)


def mark(ours: Optional[float], paper: Optional[float], n_test: int) -> str:
    if ours is None or paper is None:
        return ""
    miss = ours - paper
    return "within" if abs(miss) <= interval(paper, n_test) else f"{100 * miss:+.2f}"


def pct(value: Optional[float], digits: int = 2) -> str:
    return "" if value is None else f"{100 * value:.{digits}f}"


def spread_text(spread: Optional[Spread]) -> str:
    return "" if spread is None else f"{100 * spread.mean:.2f} ± {100 * spread.sd:.2f} (n={spread.n})"


# ------------------------------------------------------------------------------ recorded data
def live_rows(rows: list[dict], num_classes: int = 10) -> list[dict]:
    """The networks that trained: not diverged, dead or collapsed (left out of every mean)."""
    return [r for r in rows if not health.is_excluded(r) and not row_is_dead(r, num_classes)]


def table1_cells(root: str, folder: str = TABLE1) -> dict[tuple[str, str, bool], dict]:
    """Table 1's cells at the unmodified paper preset: {(dataset, activation, pre-trained): cell}. A
    finished sweep's ``cells.json``; for MNIST, while its sweep runs, the cells its recorded rows already
    allow, each the network of lowest validation error among those trained (``partial``: how many of
    the cell's networks are trained, when not all)."""
    record = read(root, f"{folder}/cells.json") or {"cells": []}
    cells = {}
    for cell in record["cells"]:
        if cell.get("preset") == "paper" and cell.get("ours") is not None:
            activation, arm = cell["cell"].split(", ", 1)
            cells[(cell["dataset"], activation, arm == "with pre-training")] = cell
    if not any(dataset == "mnist" for dataset, _, _ in cells):
        cells.update(cells_so_far(read(root, f"{folder}/mnist/results.json")))
    return cells


def cells_so_far(record: Optional[dict]) -> dict[tuple[str, str, bool], dict]:
    """The MNIST cells of an unfinished Table 1 sweep (``results.json``) at the paper preset, by the
    sweep's own selection rule (:func:`sweeps.table1.select`) over its finished rows. A pre-trained cell
    is shown only when complete: its pre-training lr is chosen on all its stacks before any fine-tuning,
    so rows taken from other sweeps before that say nothing about the cell. A partial cell whose only
    networks diverged, died or collapsed has no value yet."""
    if record is None or record.get("preset") != "paper":
        return {}
    rows = [r for r in record["rows"] if r.get("finetuned", True)]
    per_cell = len(record["preset_settings"]["lr"])
    cells, chosen = {}, table1.select(rows)
    for (activation, pretrained), row in chosen.items():
        trained = sum(table1.cell_key(r) == (activation, pretrained) for r in rows)
        if pretrained and trained < per_cell:
            continue
        failed = row["diverged"] or row.get("collapsed") or row.get("dead")
        cells[("mnist", activation, pretrained)] = {
            "preset": "paper", "ours": None if failed else row["test_error"], "lr": row["lr"],
            "pretrain_lr": row["pretrain_lr"] if pretrained else None, "p_value": None,
            **({"partial": f"{trained} of {per_cell}"} if trained < per_cell else {})}
    for activation in {a for _, a, _ in cells}:
        pair = [cells.get(("mnist", activation, arm)) for arm in (True, False)]
        networks = [chosen[(activation, arm)] for arm in (True, False) if (activation, arm) in chosen]
        if any(c is None or c["ours"] is None or "partial" in c for c in pair) or \
                not all(r.get("test_wrong") for r in networks):
            continue
        # both cells final, both networks' per-example errors stored: the sweep's own test, as cells.json has it
        test = table1.paired_test(*(unpack_wrong(r["test_wrong"]) for r in networks))
        for cell in pair:
            cell.update(p_value=test["p_value"], equivalent=test["equivalent"])
    return cells


def table1_selected(root: str, folder: str = TABLE1) -> dict[tuple[str, bool], dict]:
    """The row of each MNIST Table 1 cell's selected network: {(activation, pre-trained): row}."""
    record = read(root, f"{folder}/mnist/results.json") or {"rows": []}
    selected = {}
    for (dataset, activation, pretrained), cell in table1_cells(root, folder).items():
        for row in record["rows"]:
            if (dataset == "mnist" and row["activation"] == activation and (row["pretrain_epochs"] > 0) == pretrained
                    and row["lr"] == cell["lr"] and (not pretrained or row["pretrain_lr"] == cell["pretrain_lr"])
                    and row.get("finetuned", True)):
                selected[(activation, pretrained)] = row
    return selected


def seed_spreads(root: str, selected: dict[tuple[str, bool], dict]) -> dict[tuple[str, bool], Spread]:
    """The test error over seeds of each cell's selected configuration: the selected network and the
    other seeds of the same activation, lrs and L1 that a seeds diagnostic trained."""
    spreads = {}
    for (activation, pretrained), chosen in selected.items():
        errors = {chosen["seed"]: chosen["test_error"]}
        for diagnostic in diagnostics.DIAGNOSTICS:
            if not diagnostic.seeds_only or diagnostic.cell != (activation, pretrained):
                continue
            record = read(root, f"{in_results(diagnostics.folder(diagnostic))}/results.json")
            if record is None:
                continue
            for row in record["rows"]:
                if row.get("test_error") is not None and same_configuration(row, chosen):
                    errors.setdefault(row["seed"], row["test_error"])
        if len(errors) >= 2:
            values = list(errors.values())
            spreads[(activation, pretrained)] = Spread(statistics.mean(values), statistics.stdev(values), len(values))
    return spreads


def same_configuration(row: dict, other: dict) -> bool:
    """Whether two rows are one network configuration (seeds aside): activation, L1 and the lrs it read."""
    names = ("activation", "lr", "l1", "pretrain_epochs") + (("pretrain_lr", "noise_level") if other["pretrain_epochs"]
                                                             else ())
    return all(row.get(name) == other.get(name) for name in names)


# ------------------------------------------------------------------------------ the tables
def judged(cells: dict, spreads: dict, folder: str, activation: str, pretrained: bool) -> dict:
    """One MNIST cell of Table 1 set against the paper: its record for report.json (``paper``, ``ours``,
    ``seeds``, ``partial``, ``mark``: the seed mean's with 3 seeds or more, else the selected network's;
    none for a cell not all trained)."""
    cell = cells.get(("mnist", activation, pretrained))
    paper = paper_numbers.lookup(paper_numbers.table1_key_for("mnist", activation, pretrained))
    spread = spreads.get((activation, pretrained))
    ours = None if cell is None else cell["ours"]
    partial = None if cell is None else cell.get("partial")
    value = spread.mean if spread is not None and spread.n >= SEEDS_FOR_MEAN else ours
    return {"table": "aistats.table1", "dataset": "mnist", "activation": activation, "pretrained": pretrained,
            "paper": paper["value"] if paper else None, "bold": bool(paper and paper["bold"]), "ours": ours,
            "folder": folder, "partial": partial, "recorded": cell is not None,
            "seeds": spread._asdict() if spread else None,
            "mark": "" if partial else mark(value, paper["value"] if paper else None, 10_000)}


def aistats_table1(root: str, folder: str = TABLE1) -> tuple[list[str], list[dict]]:
    """AISTATS Table 1 as the paper lays it out (MNIST filled in, the other data sets not obtainable),
    from the Table 1 sweep in ``folder``."""
    cells, spreads = table1_cells(root, folder), seed_spreads(root, table1_selected(root, folder))
    lines = [f"Ours: the network selected on validation (seed 0), and the same configuration's test error over seeds "
             f"(mean ± s.d., n). CIFAR10, NISTP, NORB: the paper's number / ours {NOT_OBTAINABLE}.", "",
             "| Neuron | MNIST: paper | ours (selected) | ours over seeds | mark | CIFAR10 | NISTP | NORB |",
             "|---|---|---|---|---|---|---|---|"]
    records = []
    for pretrained in (True, False):
        lines.append(f"| **{'With' if pretrained else 'Without'} unsupervised pre-training** | | | | | | | |")
        for label, activation in PAPER_ROWS + (("Rectifier, not half-negated (extra row)", "rectifier"),):
            record = judged(cells, spreads, folder, activation, pretrained)
            spread = spreads.get((activation, pretrained))
            row_name = paper_numbers.TABLE1_ROW_OF_ACTIVATION.get(activation)
            others = [f"{pct(paper_numbers.AISTATS_TABLE1[(d, pretrained, row_name)][0])} / not run"
                      if row_name else "" for d in ("cifar10", "nistp", "norb")]
            paper_text = "—" if record["paper"] is None else f"{pct(record['paper'])}{' (bold)' if record['bold'] else ''}"
            ours_text = ("not run yet" if not record["recorded"] else
                         f"{pct(record['ours']) or '—'} (so far: {record['partial']} lrs trained)" if record["partial"]
                         else pct(record["ours"]))
            lines.append(f"| {label} | {paper_text} | {ours_text} | {spread_text(spread)} | {record['mark']} | "
                         f"{' | '.join(others)} |")
            records.append(record)
    bold = "Bold (the paper): with and without pre-training statistically equivalent (p = 0.05)."
    tests = mcnemar_lines(cells)
    if len(tests) == 1:  # no pair yet: one sentence
        return lines + ["", f"{bold} {tests[0]}"], records
    return lines + ["", f"{bold} Ours, exact McNemar test of the two selected networks on the 10,000 test images:",
                    "", *tests], records


def compact_table1(root: str, folder: str) -> tuple[list[str], list[dict]]:
    """AISTATS Table 1 on MNIST in one line per neuron (with / without pre-training side by side, and the
    McNemar test of the pair): for a Table 1 sweep shown beside the main one."""
    cells = table1_cells(root, folder)
    spreads = seed_spreads(root, table1_selected(root, folder))
    lines = ["| Neuron | paper: with / without | ours: with | over seeds | mark | ours: without | over seeds | mark | "
             "McNemar p |", "|---|---|---|---|---|---|---|---|---|"]
    records, notes = [], []
    for label, activation in PAPER_ROWS + (("Rectifier, not half-negated (extra row)", "rectifier"),):
        parts, papers = [], []
        for pretrained in (True, False):
            record = judged(cells, spreads, folder, activation, pretrained)
            spread = spreads.get((activation, pretrained))
            papers.append("—" if record["paper"] is None else pct(record["paper"]))
            parts.append(f"{pct(record['ours'])} | {spread_text(spread)} | {record['mark']}")
            records.append(record)
        pair = cells.get(("mnist", activation, True)) or {}
        note = pair.get("note") or (cells.get(("mnist", activation, False)) or {}).get("note")
        # a test of a retrained copy that did not reproduce the table's network is not a test of that network
        p_value = "" if pair.get("p_value") is None else "— *" if note else f"{pair['p_value']:.2g}"
        lines.append(f"| {label} | {' / '.join(papers)} | {' | '.join(parts)} | {p_value} |")
        copy_p = "" if pair.get("p_value") is None else f" (p = {pair['p_value']:.2g} for the copy)"
        notes += [f"\\* {label}: no p shown: {note}{copy_p}."] if note else []
    return lines + ([""] + notes if notes else []), records


def mcnemar_lines(cells: dict) -> list[str]:
    lines = ["| Neuron | paper | ours: p | ours |", "|---|---|---|---|"]
    for label, activation in PAPER_ROWS + (("Rectifier, not half-negated", "rectifier"),):
        cell = cells.get(("mnist", activation, True)) or cells.get(("mnist", activation, False))
        if cell is None or cell.get("p_value") is None:
            continue
        row_name = paper_numbers.TABLE1_ROW_OF_ACTIVATION.get(activation)
        bold = [paper_numbers.AISTATS_TABLE1[("mnist", arm, row_name)][1] for arm in (True, False)] if row_name else []
        paper_text = "" if not bold else ("equivalent" if all(bold) else "different")
        note = f" ({cell['note']})" if cell.get("note") else ""
        lines.append(f"| {label} | {paper_text} | {cell['p_value']:.2g} | "
                     f"{'equivalent' if cell['equivalent'] else 'different'}{note} |")
    return lines if len(lines) > 2 else ["No pair of cells with and without pre-training is recorded yet."]


def pending_experiment(root: str, title: str, folder: str, command: str) -> list[str]:
    record = read(root, f"{folder}/cells.json")
    if record is None:
        return [f"**{title}**: not run at the paper preset yet (`{command}`)."]
    return [f"**{title}**: recorded in [{os.path.basename(folder)}]({os.path.basename(folder)}/summary.md)."]


# ------------------------------------------------------------------------------ figures
def curves_figure(selected: dict[tuple[str, bool], dict], path: str) -> bool:
    """Validation error and sparsity per epoch of each selected network (one figure)."""
    if not selected:
        return False
    figure, (error_axis, sparsity_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for (activation, pretrained), row in sorted(selected.items()):
        label = f"{activation}, {'pre-trained' if pretrained else 'no pre-training'}"
        curves = row.get("curves") or {}
        valid = [v for v in curves.get("valid_error", []) if v is not None and not math.isnan(v)]
        error_axis.plot(range(1, len(valid) + 1), [100 * v for v in valid], label=label)
        zeros = [v for v in curves.get("valid_sparsity", []) if v is not None and not math.isnan(v)]
        if zeros and activation != "tanh" and activation != "softplus":
            sparsity_axis.plot(range(1, len(zeros) + 1), [100 * v for v in zeros], label=label)
    error_axis.set(xlabel="fine-tuning epoch", ylabel="validation error (%)", ylim=(0.8, 4.0),
                   title="Table 1 (MNIST): selected networks")
    sparsity_axis.set(xlabel="fine-tuning epoch", ylabel="exact zeros on validation (%)", title="rectifiers' sparsity")
    error_axis.legend(fontsize=7)
    sparsity_axis.legend(fontsize=7)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return True
