"""One Markdown report of every experiment run under a folder, in three sections by scale.

    python -m sweeps.report results --out results/report.md

Reads every ``results.json`` under the folder (each carries ``experiment`` and ``preset`` in its
metadata, and ``not_run`` with the reason when a data set could not be had) and every ``cells.json``
(our numbers with the id of the paper's cell, written by the experiment modules). Sections, in order:

1. Paper scale: cells of runs whose preset label is exactly ``paper`` (no command-line override),
   each beside the paper's number (``sweeps/paper_numbers.py``) with the difference (ours - paper);
   and the Figure 3 paper sweep (``sweeps.figure3.summarize`` of the networks recorded so far, how
   many of the planned networks that is, and its figure).
2. Paper scale with overrides: runs whose label is ``paper [--x y]``, each labelled with the
   options that differed; and the full-scale runs of ``python -m sweeps.train`` (full MNIST, 3 x 1000
   units): per setting (activation, L1, pre-training) the learning rate of lowest mean validation
   error, the network of lowest validation error among the seeds, and the mean and standard
   deviation of the test error over the seeds (never the best test error). The paper's Table 1
   "Rectifier" is the half-negated rectifier: plain-rectifier rows get no paper number, nor do rows
   whose L1 differs from the paper's.
3. Pipeline checks (reduced presets): quick and tiny presets and reduced runs, our numbers only, no
   paper number and no difference column: they check the code, they reproduce nothing.

Then the runs that could not be run, and every results file with its command. No local path
appears: the data directory is written DATA_DIR and any other absolute path as .../<its last part>.
One plot per compared section (ours against the paper's) is written beside the report.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import shlex
import statistics
from typing import Optional

from deep_sparse import experiment, health, results_io
from sweeps import common, figure3, paper_numbers, table1, train

ORDER = ["table1", "workshop_table2", "sparsity", "figure3", "figure4", "softplus_alpha", "sentiment",
         "pretrain_strategies", "train"]
PAPER, OVERRIDES, PIPELINE = "paper", "overrides", "pipeline"
SECTION_TITLES = {PAPER: "Paper scale", OVERRIDES: "Paper scale with overrides",
                  PIPELINE: "Pipeline checks (reduced presets)"}
SECTION_INTROS = {
    PAPER: "Runs of the unmodified `paper` preset only, beside the papers' numbers; difference = ours - paper.",
    OVERRIDES: "The paper's scale with command-line overrides (named in the column `overrides`: they replace "
               "the paper preset's values), and the full-scale runs of `python -m sweeps.train` (full MNIST, "
               "3 x 1000 units, their own settings, given with each row); difference = ours - paper.",
    PIPELINE: "Reduced presets (smaller networks, subsets, few epochs) and reduced runs: they check the code "
              "and the direction of an effect, they reproduce nothing, so no paper number stands beside them.",
}
TRAIN_PRESET = "train"  # cells of `python -m sweeps.train` runs: their own settings, no preset
TRAIN_FULL_SCALE = "full-scale run of sweeps.train"
FULL_SCALE_HIDDEN = (1000, 1000, 1000)
DATA_DIR = "DATA_DIR"
NOTE_FILE = "NOTE.md"  # a note written by hand beside a run's results, quoted in the report
_DATA_DIR_PATH = re.compile(r"(?<![\w.:/~\-…])(?:~|/[^\s`'\"()|]*?)/\.cache/deep_sparse(?![\w.\-])")
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~\-…])~?/[\w.+~\-]+(?:/[\w.+~\-]+)*/?")
_PAPER_MENTION = re.compile(r"\s*\(paper: [^)]*\)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sweeps.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="folder searched recursively for results.json and cells.json")
    parser.add_argument("--out", default="report.md", help="Markdown report to write (default: %(default)s); "
                                                           "plots go beside it")
    return parser


# ------------------------------------------------------------------------------ labels and paths
def section_of(preset: Optional[str]) -> str:
    """``paper`` for the unmodified paper preset, ``overrides`` for ``paper [...]``, else ``pipeline``."""
    if preset == "paper":
        return PAPER
    if str(preset).startswith("paper ["):
        return OVERRIDES
    return PIPELINE


def overrides_of(preset: Optional[str]) -> str:
    """The options in the brackets of a preset label: ``"--epochs 25; --lr 0.01"`` (empty when none)."""
    match = re.search(r"\[(.*)\]\s*$", str(preset or ""))
    return match.group(1) if match else ""


def scale_label(preset: Optional[str]) -> str:
    """What a preset label means for the scale of its numbers."""

    if preset == TRAIN_PRESET:
        return f"{TRAIN_FULL_SCALE}: settings in its command"
    if preset == REDUCED_TRAIN:
        return "reduced run of sweeps.train: settings in its command"
    if preset == "paper":
        return "paper scale"
    if common.is_paper_scale(preset):
        return "paper scale except the overrides in brackets"
    return common.QUICK_LABEL


def without_local_paths(text: str) -> str:
    """``text`` with the data directory written DATA_DIR and any other absolute path as ``.../<last part>``
    (paths relative to the results folder are kept)."""
    text = _DATA_DIR_PATH.sub(DATA_DIR, text)
    return _ABSOLUTE_PATH.sub(lambda m: "…/" + os.path.basename(m.group(0).rstrip("/")), text)


def local_paths(text: str) -> list[str]:
    """The absolute (local) paths left in ``text``: none in a report."""
    return _ABSOLUTE_PATH.findall(text)


# ------------------------------------------------------------------------------ gathering
def read_run(path: str, folder: str) -> dict:
    """One results.json as the report uses it (its rows kept, the path relative to ``folder``)."""

    payload = results_io.read_json(path)
    rows = payload.get("rows", [])
    plan_path = os.path.join(os.path.dirname(path), "plan.json")
    grid = results_io.read_json(plan_path)["grid"] if os.path.exists(plan_path) else None
    return {
        "path": os.path.relpath(path, folder), "folder": os.path.relpath(os.path.dirname(path), folder),
        "experiment": payload.get("experiment", "unknown"), "preset": payload.get("preset"),
        "preset_settings": payload.get("preset_settings") or {}, "dataset": payload.get("dataset", ""),
        "not_run": payload.get("not_run"), "complete": payload.get("complete"), "networks": len(rows),
        "sizes": payload.get("sizes") or {}, "wall_seconds": (payload.get("timings") or {}).get("wall_seconds"),
        "date": payload.get("date_utc"), "command": payload.get("command"),
        "synthetic": payload.get("synthetic", False), "rows": rows,
        "not_finetuned": payload.get("not_finetuned", []), "grid": grid,
    }


def gather(folder: str) -> tuple[list[dict], list[dict]]:
    """(runs, cells): one run per results.json, every distinct cell of every cells.json."""

    runs, cells, seen = [], [], set()
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in ("checkpoints", "chunks") and not d.startswith("."))
        if "results.json" in files:
            runs.append(read_run(os.path.join(root, "results.json"), folder))
        if "cells.json" in files:
            for cell in results_io.read_json(os.path.join(root, "cells.json"))["cells"]:
                key = (cell["experiment"], cell["preset"], cell["dataset"], cell["cell"], cell["metric"], cell["ours"])
                if key not in seen:
                    seen.add(key)
                    cells.append(cell)
    return runs, cells


def figure3_cells(runs: list[dict]) -> list[dict]:
    """Reduced Figure 3 runs (the module writes no cells.json): the mean test error of their L1 = 0.001
    networks, for the pipeline checks. Paper-scale Figure 3 runs get their own block instead."""

    cells = []
    for run in runs:
        if run["experiment"] != "figure3" or not run["rows"] or section_of(run["preset"]) != PIPELINE:
            continue
        near = [r for r in run["rows"] if abs(r["l1"] - 0.001) < 1e-9 and not r["diverged"]]
        if near:
            cells.append(experiment.cell(
                "figure3", run["preset"], "mnist", "rectifier, L1 0.001, mean over seeds", "test_error",
                sum(r["test_error"] for r in near) / len(near), None,
                n_test=run["sizes"].get("n_test"), networks=len(near)))
    return cells


# ------------------------------------------------------------------------------ sweeps.train runs
def train_options(command: Optional[str]) -> Optional[argparse.Namespace]:
    """The options of a recorded ``python -m sweeps.train`` command, defaults filled in (None if none)."""

    words = shlex.split(command or "")
    if "sweeps.train" not in words:
        return None
    try:
        args, _ = train.build_parser().parse_known_args(words[words.index("sweeps.train") + 1:])
    except SystemExit:  # a command this version's parser cannot read
        return None
    return args


def is_full_scale(args: argparse.Namespace) -> bool:
    """A sweeps.train command on all of MNIST with 3 x 1000 units and every label (the paper's scale)."""
    return (args.dataset == "mnist" and tuple(args.hidden_sizes) == FULL_SCALE_HIDDEN
            and args.train_size is None and args.valid_size is None and args.test_size is None
            and args.labeled_fraction == 1.0)


def train_runs(runs: list[dict], full_scale: bool) -> list[tuple[dict, argparse.Namespace]]:
    """(run, its command's options) of the sweeps.train runs at full scale (or the reduced ones)."""
    chosen = []
    for run in runs:
        args = train_options(run["command"]) if run["experiment"] == "train" and run["rows"] else None
        if args is not None and is_full_scale(args) == full_scale:
            chosen.append((run, args))
    return chosen


def setting_of(network: dict) -> tuple:
    """What makes networks seeds of one setting, apart from the learning rate."""
    pretrained = network.get("pretrain_epochs", 0) > 0
    return (network["activation"], float(network["l1"]), network.get("pretrain_epochs", 0),
            network.get("pretrain_lr") if pretrained else None, network.get("noise_level") if pretrained else None)


def train_networks(runs: list[dict]) -> list[dict]:
    """Every network of the full-scale sweeps.train runs, with its folder, epoch cap and patience; a
    seed of a setting trained in several runs (e.g. a lr-grid run capped at 15 epochs and a run of
    that lr alone capped at 40) counts once: the run with the highest epoch cap, then the folder name."""
    networks = [dict(row, seed=row.get("seed", 0), folder=run["folder"], max_epochs=args.epochs,
                     patience=args.patience) for run, args in train_runs(runs, full_scale=True) for row in run["rows"]]
    kept: dict = {}
    for network in sorted(networks, key=lambda n: (-n["max_epochs"], n["folder"])):
        kept.setdefault(setting_of(network) + (network["lr"], network["seed"]), network)
    return sorted(kept.values(), key=lambda n: (str(setting_of(n)), n["lr"], n["seed"]))


def mean_valid_error(networks: list[dict]) -> float:
    live = [n["valid_error"] for n in networks if not health.is_excluded(n)]
    return statistics.fmean(live) if live else math.inf


def choose_lr(networks: list[dict]) -> dict:
    """{setting: lr}: the learning rate of lowest mean validation error over the setting's seeds."""
    lrs: dict = {}
    for network in networks:
        lrs.setdefault(setting_of(network), set()).add(network["lr"])
    return {setting: min(sorted(values), key=lambda lr: mean_valid_error(
        [n for n in networks if setting_of(n) == setting and n["lr"] == lr])) for setting, values in lrs.items()}


def seed_summary(networks: list[dict]) -> dict:
    """The network of lowest validation error among the seeds (``pick``), and the mean and sample
    standard deviation (n - 1; None for one seed) of the test error and sparsity over the seeds
    that neither diverged nor collapsed."""
    live = [n for n in networks if not health.is_excluded(n)]
    tests = [n["test_error"] for n in live]
    return {
        "seeds": sorted(n["seed"] for n in networks), "diverged": sum(bool(n["diverged"]) for n in networks),
        "collapsed": sum(health.is_collapsed(n) and not n["diverged"] for n in networks),
        "pick": min(live, key=lambda n: (n["valid_error"], n["seed"])) if live else None,
        "mean": statistics.fmean(tests) if tests else None,
        "sd": statistics.stdev(tests) if len(tests) > 1 else None,
        "sparsity": statistics.fmean(n["sparsity"] for n in live) if live else None,
    }


def train_paper_key(activation: str, l1: float, pretrained: bool) -> tuple[Optional[str], str]:
    """(Table 1 cell, note): no paper number for the plain rectifier, nor where L1 differs from the paper's."""

    key = paper_numbers.table1_key_for("mnist", activation, pretrained)
    if key is None:
        return None, ("no paper number: the plain rectifier is an extra row (Table 1's Rectifier is the "
                      "half-negated variant, section 4.1)")
    paper_l1 = table1.PRESETS["paper"].l1 if activation in table1.L1_ACTIVATIONS else 0.0
    if not math.isclose(l1, paper_l1):
        return None, f"no paper number: L1 {l1:g} where the paper uses {paper_l1:g} (not the paper's network)"
    return key, ""


def runs_note(networks: list[dict]) -> str:
    """Which folder holds which seeds, with its epoch cap and patience (from its command)."""
    folders: dict = {}
    for network in networks:
        folders.setdefault(network["folder"], []).append(network)
    def pretraining(network: dict) -> str:
        epochs = network.get("pretrain_epochs") or 0
        return f"{epochs} pre-training epochs per layer, " if epochs else ""

    return "; ".join(f"{folder} (seed {', '.join(str(n['seed']) for n in group)}: {pretraining(group[0])}at most "
                     f"{group[0]['max_epochs']} epochs, patience {group[0]['patience']})"
                     for folder, group in sorted(folders.items()))


def train_setting_rows(networks: list[dict]) -> list[dict]:
    """One row per setting of the full-scale sweeps.train runs: lr chosen on validation (mean over
    seeds), the validation pick among the seeds, test error mean and sd over the seeds, the paper's."""

    rows = []
    for setting, lr in sorted(choose_lr(networks).items(), key=str):
        activation, l1, pretrain_epochs = setting[:3]
        group = [n for n in networks if setting_of(n) == setting and n["lr"] == lr]
        grid = sorted({n["lr"] for n in networks if setting_of(n) == setting}, reverse=True)
        summary = seed_summary(group)
        pick = summary["pick"]
        key, note = train_paper_key(activation, l1, pretrain_epochs > 0)
        paper = paper_numbers.lookup(key)
        theirs = None if paper is None else paper["value"]
        rows.append({
            "network": f"{activation}, {'with' if pretrain_epochs else 'without'} pre-training, lr {lr:g}, L1 {l1:g}",
            "metric": "test_error (%)", "lr chosen on validation from": "{" + ", ".join(f"{v:g}" for v in grid) + "}",
            "seeds": f"{len(group)}" + "".join(f" ({summary[what]} {what})" for what in ("diverged", "collapsed")
                                              if summary[what]),
            "validation pick": "" if pick is None else (f"seed {pick['seed']}: valid {100 * pick['valid_error']:.3f}, "
                                                       f"test {100 * pick['test_error']:.3f}"),
            "test mean ± sd over seeds": number(summary["mean"], summary["sd"], 100.0),
            "paper": number(theirs, scale=100.0),
            "mean - paper": number(None if theirs is None or summary["mean"] is None else summary["mean"] - theirs,
                                   scale=100.0, signed=True),
            "sparsity % (mean)": number(summary["sparsity"], scale=100.0, digits=1),
            "runs": runs_note(group), "note": note,
            "_experiment": "train", "_paper": theirs, "_ours": summary["mean"],
        })
    return rows


TRAIN_COLUMNS = ["network", "metric", "lr chosen on validation from", "seeds", "validation pick",
                 "test mean ± sd over seeds", "paper", "mean - paper", "sparsity % (mean)", "runs", "note"]


def train_block(networks: list[dict]) -> list[str]:
    """The full-scale sweeps.train subsection of the overrides section."""

    if not networks:
        return []
    return [f"### train: {TRAIN_FULL_SCALE} (MNIST 50k/10k/10k, 3 x 1000 units)", "",
            "Per setting: the lr of lowest mean validation error over the seeds; among the seeds of that lr, the "
            "network of lowest validation error (validation pick) and the mean and sample standard deviation "
            "(n - 1) of the test error over all of them; a seed trained in several runs counts once (the run with "
            "the highest epoch cap). The paper reports one network selected on validation; the mean over seeds "
            "estimates what that procedure gives. Paper's average exact sparsity on MNIST: 83.4% (section 4.1).",
            "", results_io.format_table(train_setting_rows(networks), TRAIN_COLUMNS), ""]


def reduced_train_cells(runs: list[dict]) -> list[dict]:
    """Reduced sweeps.train runs, for the pipeline checks: per run, activation, L1 and pre-training, the
    network selected on validation."""

    cells = []
    for run, args in train_runs(runs, full_scale=False):
        for row in common.best_by_validation(run["rows"], ["activation", "l1", "pretrain_epochs"]):
            label = (f"{row['activation']}, {'with' if row['pretrain_epochs'] else 'without'} pre-training, "
                     f"lr {row['lr']:g}, L1 {row['l1']:g} ({run['folder']})")
            cells.append(experiment.cell("train", REDUCED_TRAIN, args.dataset, label, "test_error", row["test_error"],
                                     None, n_test=(run["sizes"] or {}).get("n_test")))
    return cells


REDUCED_TRAIN = "sweeps.train, reduced"


# ------------------------------------------------------------------------------ cell tables
def number(value, sd=None, scale: float = 1.0, signed: bool = False, digits: int = 3) -> str:
    """``1.850``, ``1.160 ± 0.070`` or ``+0.420`` (scaled, e.g. to %); empty for None."""
    if value is None:
        return ""
    text = format(scale * value, f"{'+' if signed else ''}.{digits}f")
    return text if sd is None else f"{text} ± {scale * sd:.{digits}f}"


def metric_scale(metric: str) -> tuple[str, float]:
    """(label, scale): error rates and sparsities in %, RMSEs as they are."""

    return (f"{metric} (%)", 100.0) if common.percent_metric(metric) else (metric, 1.0)


def mcnemar_note(cell: dict) -> str:
    """Table 1's pairing of a cell with and without pre-training (the paper's bold cells), if tested."""
    if cell.get("p_value") is None:
        return ""
    verdict = "statistically equivalent" if cell.get("equivalent") else "different"
    return f"with vs without pre-training: McNemar p = {cell['p_value']:.2g}, {verdict}"


def compared_row(cell: dict) -> dict:
    """A cell of a paper-scale section: ours (± our sd), the paper's (± its sd), the difference."""

    label, scale = metric_scale(cell["metric"])
    paper = paper_numbers.lookup(cell.get("paper_key"))
    ours, theirs = cell.get("ours"), None if paper is None else paper["value"]
    note = "; ".join(part for part in (
        "" if paper is not None else "no paper number for this cell", mcnemar_note(cell), cell.get("note") or "") if part)
    return {"data set": cell["dataset"], "cell": cell["cell"], "metric": label,
            "ours": number(ours, cell.get("sd"), scale) if ours is not None else "",
            "paper": "" if paper is None else number(theirs, paper.get("sd"), scale),
            "difference": "" if ours is None or theirs is None else number(ours - theirs, scale=scale, signed=True),
            "overrides": overrides_of(cell["preset"]), "n test": cell.get("n_test"),
            "paper source": "" if paper is None else f"{paper['source']} {paper['where']}",
            "note": note if ours is not None or note else "not run",
            "_experiment": cell["experiment"], "_paper": theirs, "_ours": ours, "_scale": scale}


def pipeline_row(cell: dict) -> dict:
    """A cell of the pipeline checks: ours only, the preset, and the note without any paper number."""
    label, scale = metric_scale(cell["metric"])
    ours = cell.get("ours")
    return {"data set": cell["dataset"], "cell": cell["cell"], "metric": label,
            "ours": "" if ours is None else number(ours, cell.get("sd"), scale),
            "preset": f"{cell['preset']}: {scale_label(cell['preset'])}", "n test": cell.get("n_test"),
            "note": _PAPER_MENTION.sub("", cell.get("note") or "")}


COLUMNS = {
    PAPER: ["data set", "cell", "metric", "ours", "paper", "difference", "n test", "paper source", "note"],
    OVERRIDES: ["data set", "cell", "metric", "overrides", "ours", "paper", "difference", "n test", "paper source",
                "note"],
    PIPELINE: ["data set", "cell", "metric", "ours", "preset", "n test", "note"],
}


def cells_block(experiment: str, cells: list[dict], section: str) -> list[str]:
    """``### experiment`` and the table of its cells in ``section``; a pipeline check leaves out the
    cells that could not be run (listed with their reason under "Could not be run")."""

    if section == PIPELINE:
        cells = [c for c in cells if c.get("ours") is not None or not str(c.get("note", "")).startswith("not run")]
    if not cells:
        return []
    lines = [f"### {experiment}", ""]
    if any(c.get("synthetic") or "SYNTHETIC" in str(c.get("dataset")) for c in cells):
        lines += ["**SYNTHETIC DATA**: these rows come from a generated reviews file; they test the pipeline and "
                  "are not comparable with the paper's OpenTable numbers.", ""]
    rows = [pipeline_row(c) if section == PIPELINE else compared_row(c) for c in cells]
    return lines + [results_io.format_table(rows, COLUMNS[section]), ""]


# ------------------------------------------------------------------------------ Figure 3 sweeps
def figure3_block(run: dict, folder: str, out_dir: str) -> list[str]:
    """A paper-scale Figure 3 sweep: how many of its planned networks are recorded, the tables of
    ``sweeps.figure3.summarize`` and a link to its figure."""

    settings = run["preset_settings"]
    planned = len(settings.get("l1") or []) * int(settings.get("seeds") or 0)
    seeds = sorted({r["seed"] for r in run["rows"]})
    summary = figure3.summarize(run["rows"], run["preset"], settings.get("description", ""))
    held = f"{run['networks']} of its {planned} networks" if planned else f"{run['networks']} networks"
    lines = [f"### figure3: Figure 3 sweep ({run['folder']})", "",
             f"Preset `{run['preset']}`. The sweep holds {held} (seeds recorded: {', '.join(map(str, seeds))}"
             + (f", of {settings['seeds']} planned" if settings.get("seeds") else "")
             + "; the networks run seed after seed, so every finished seed is a complete figure)."
             + ("" if run["complete"] else " Sweep not finished: the rest resumes from what is recorded."), ""]
    image = os.path.join(folder, run["folder"], "figure3.png")
    if os.path.exists(image):
        link = os.path.relpath(image, out_dir).replace(os.sep, "/")
        lines += [f"![Figure 3, {run['preset']} preset]({link})", "",
                  "(the figure as sweeps.figure3 last drew it; its `--render` option redraws it from the recorded "
                  "networks)", ""]
    body = "\n".join(summary.splitlines()[1:]).strip("\n")  # its "# Figure 3 (...)" title is replaced by ours
    return lines + [("###" + line if line.startswith("#") else line) for line in body.splitlines()] + [""]


# ------------------------------------------------------------------------------ sections
def plot_against_paper(rows: list[dict], path: str, title: str) -> bool:
    """Ours against the paper's for every row that has both (one marker per experiment); False (no
    file) when none has."""
    from deep_sparse import plots

    points = [r for r in rows if r.get("_paper") is not None and r.get("_ours") is not None]
    if not points:
        return False
    figure, axes = plots.new_figure((5, 5))
    experiments = list(dict.fromkeys(r["_experiment"] for r in points))
    for name, marker in zip(experiments, "os^Dvx+*<>"):
        chosen = [r for r in points if r["_experiment"] == name]
        axes.scatter([r.get("_scale", 100.0) * r["_paper"] for r in chosen],
                     [r.get("_scale", 100.0) * r["_ours"] for r in chosen], marker=marker, label=name)
    values = [r.get("_scale", 100.0) * r[k] for r in points for k in ("_paper", "_ours")]
    axes.plot([min(values), max(values)], [min(values), max(values)], color="grey", linestyle="--", linewidth=1,
              label="ours = paper")
    plots.finish(figure, axes, path, title=title, xlabel="paper", ylabel="ours")
    return True


def ordered(experiments) -> list[str]:
    return sorted(set(experiments), key=lambda e: (ORDER.index(e) if e in ORDER else len(ORDER), e))


def pending_lines(runs: list[dict], cells: list[dict], section: str) -> list[str]:
    """Runs with recorded networks but no cells yet (a sweep still running or stopped early): their
    settled Table 1 cells, then every network finished so far."""
    pending = sweeps_with_cells(runs, cells, False)
    if not pending:
        return []
    lines = ["### Sweeps not finished (no cells.json yet)", ""]
    for r in pending:
        lines += [f"- {r['experiment']} / {r['dataset'] or '-'} (`{r['preset']}`, {r['folder']}): {r['networks']} "
                  f"networks recorded{'' if r['complete'] else ', sweep not finished'}; the module writes its cells "
                  "when the data set's sweep ends.", ""]
        lines += settled_lines(r, section)
        lines += ["The networks finished so far:", "", every_network_table(r), ""]
    return lines


def grid_lines(runs: list[dict], cells: list[dict]) -> list[str]:
    """Every network of the finished paper-scale sweeps: the grid their cells were selected from
    (validation error, never test error, chose them; the test errors of the rest are shown for the record)."""
    finished = sweeps_with_cells(runs, cells, True)
    lines = ["### The networks behind the cells", ""] if finished else []
    for r in finished:
        lines += [f"Every network of {r['experiment']} / {r['dataset'] or '-'} ({r['folder']}), the grid its cells "
                  "were selected from on validation error:", "", every_network_table(r), ""]
    return lines


def sweeps_with_cells(runs: list[dict], cells: list[dict], with_cells: bool) -> list[dict]:
    """The sweeps with recorded networks (not Figure 3 nor sweeps.train) whose module has written its
    cells (``with_cells``), or has not yet."""
    written = {(c["experiment"], c["preset"], c["dataset"]) for c in cells}
    return [r for r in runs if r["rows"] and r["experiment"] not in ("figure3", "train")
            and ((r["experiment"], r["preset"], r["dataset"]) in written) == with_cells]


def every_network_table(run: dict) -> str:
    """A sweep's networks, fine-tuned or left out by the pre-training selection, in network order."""
    return finished_networks_table(sorted(run["rows"] + run["not_finetuned"], key=lambda row: row["network"]))


def settled_cells(run: dict) -> list[dict]:
    """The cells of an unfinished Table 1 sweep whose networks are all recorded (``table1.settled``:
    the selection is the finished sweep's); none for other runs."""
    if run["experiment"] != table1.NAME or not run["grid"] or run["complete"]:
        return []
    cells = []
    for (activation, pretrained), (row, networks) in table1.settled(run["grid"], run["rows"],
                                                                    run["not_finetuned"]).items():
        key = paper_numbers.table1_key_for(run["dataset"], activation, pretrained)
        cells.append(experiment.cell(
            run["experiment"], run["preset"], run["dataset"], table1.cell_label(activation, pretrained), "test_error",
            None if row["diverged"] else row["test_error"], key, n_test=run["sizes"].get("n_test"),
            note=("" if paper_numbers.lookup(key) else "no paper number for this cell; ")
            + settled_note(row, networks, pretrained)))
    return cells


def settled_lines(run: dict, section: str) -> list[str]:
    """:func:`settled_cells`' table, beside the paper's numbers outside the pipeline checks."""
    cells = settled_cells(run)
    if not cells:
        return []
    table = [pipeline_row(c) if section == PIPELINE else compared_row(c) for c in cells]
    return ["Cells whose networks are all recorded (selected by the module's rule; the selection of a cell reads "
            "only its own networks, so it is final):", "", results_io.format_table(table, COLUMNS[section]), ""]


def settled_note(row: dict, networks: int, pretrained: bool) -> str:
    """What a settled cell's network is: how it was chosen, its lrs, validation error and zeros."""
    def percent(name):
        return "-" if row.get(name) is None else f"{100 * row[name]:.{1 if name == 'sparsity' else 2}f}%"

    lrs = f"pre-training lr {row['pretrain_lr']:g}, lr {row['lr']:g}" if pretrained else f"lr {row['lr']:g}"
    return (f"selected on validation among {networks} networks: {lrs}, valid {percent('valid_error')}, "
            f"zeros {percent('sparsity')}{'; diverged' if row['diverged'] else ''}"
            f"{'; collapsed' if health.is_collapsed(row) else ''}; no significance test until the "
            "sweep ends")


def finished_networks_table(rows: list[dict]) -> str:
    """Every finished network of an unfinished sweep, in grid order (errors and zeros in %); with
    pre-training, each stack's pre-training lr and reconstruction error, and the networks left
    untrained because their pre-training lr was not selected."""
    def percent(row, name):
        return None if row.get(name) is None else 100 * row[name]

    def flag(row):
        if not row.get("finetuned", True):
            return ("not fine-tuned: pre-training diverged" if row["diverged"]
                    else "not fine-tuned: pre-training lr not selected")
        flags = ["diverged" if row["diverged"] else ("dead" if row.get("dead") else "")]
        flags.append("collapsed" if health.is_collapsed(row) else "")
        flags.append(f"from {row['reused_from']}" if row.get("reused_from") else "")
        return "; ".join(f for f in flags if f)

    pretrained = any(r.get("pretrain_epochs") for r in rows)
    table = [{"network": r["network"], "activation": r["activation"], "pre-training": r.get("pretrain_epochs") or 0,
              **({"pre-training lr": r["pretrain_lr"] if r.get("pretrain_epochs") else None,
                  "reconstruction": r.get("pretrain_reconstruction")} if pretrained else {}),
              "lr": r["lr"], "L1": r["l1"], "valid %": percent(r, "valid_error"), "test %": percent(r, "test_error"),
              "zeros %": percent(r, "sparsity"), "best epoch": r.get("best_epoch"), "epochs": r.get("epochs_run"),
              "flag": flag(r)} for r in rows]
    return results_io.format_table(table, list(table[0]), {"lr": "g", "L1": "g", "valid %": ".2f", "test %": ".2f",
                                                          "zeros %": ".1f", "pre-training lr": "g",
                                                          "reconstruction": ".4g"})


def not_run_lines(runs: list[dict]) -> list[str]:
    not_run = [r for r in runs if r["not_run"]]
    if not not_run:
        return []
    return ["### Could not be run", ""] + [
        f"- {r['experiment']} / {r['dataset'] or '-'} ({r['preset']} preset): {r['not_run']}" for r in not_run] + [""]


def note_paths(runs: list[dict], folder: str) -> list[str]:
    """The developers' notes on ``runs`` (``NOTE.md`` in a run's folder or in the folder above it, an
    experiment's ``--out`` folder holding one folder per data set), each once, relative to ``folder``."""
    paths = []
    for run in runs:
        for where in (run["folder"], os.path.dirname(run["folder"])):
            path = os.path.join(where, NOTE_FILE)
            if where and path not in paths and os.path.isfile(os.path.join(folder, path)):
                paths.append(path)
    return paths


def notes_lines(runs: list[dict], folder: str) -> list[str]:
    """The notes of :func:`note_paths`, quoted: what the developers found out about these runs (a miss
    explained, a run stopped by hand), written by hand beside the results."""
    lines = []
    for path in note_paths(runs, folder):
        with open(os.path.join(folder, path), encoding="utf-8") as file:
            text = file.read().strip()
        lines += [f"### Developers' note: `{path}`", ""] + [f"> {line}".rstrip() for line in text.splitlines()] + [""]
    return lines


def render_section(section: str, runs: list[dict], cells: list[dict], networks: list[dict], folder: str,
                   out_path: str) -> list[str]:
    """One of the three sections: its experiments' tables, Figure 3 sweeps, sweeps.train runs (with
    the overrides), runs without cells, runs that could not be run, the developers' notes, and its plot."""
    runs = [r for r in runs if r["experiment"] != "train" and section_of(r["preset"]) == section]
    cells = [c for c in cells if section_of(c["preset"]) == section]
    out_dir = os.path.dirname(os.path.abspath(out_path))
    body, compared = [], []
    for name in ordered([c["experiment"] for c in cells] + [r["experiment"] for r in runs]):
        if name == "figure3" and section != PIPELINE:
            body += [line for r in runs if r["experiment"] == "figure3" and r["rows"]
                     for line in figure3_block(r, folder, out_dir)]
        group = [c for c in cells if c["experiment"] == name]
        body += cells_block(name, group, section)
        compared += [compared_row(c) for c in group] if section != PIPELINE else []
    if section == OVERRIDES:
        body += train_block(networks)
        compared += train_setting_rows(networks)
    body += grid_lines(runs, cells) if section == PAPER else []
    body += pending_lines(runs, cells, section) + not_run_lines(runs) + notes_lines(runs, folder)
    compared += [compared_row(c) for r in runs for c in settled_cells(r)] if section != PIPELINE else []
    image = f"{os.path.splitext(os.path.basename(out_path))[0]}_{section}.png"
    if section != PIPELINE and plot_against_paper(compared, os.path.join(out_dir, image),
                                                  f"{SECTION_TITLES[section]}: ours against the paper"):
        body += [f"![{SECTION_TITLES[section]}: ours against the paper]({image})", ""]
    return [f"## {SECTION_TITLES[section]}", "", SECTION_INTROS[section], ""] + (
        body or ["Nothing recorded at this scale yet.", ""])


def run_scale(run: dict) -> str:
    """The scale column of the runs table (sweeps.train runs by their command)."""
    if run["experiment"] == "train":
        args = train_options(run["command"])
        return TRAIN_FULL_SCALE if args is not None and is_full_scale(args) else "sweeps.train run, reduced"
    return scale_label(run["preset"])


def runs_appendix(runs: list[dict]) -> list[str]:
    """Every results file: experiment, preset, scale, sizes, wall time, status, file; then the commands."""

    rows = [{"experiment": r["experiment"], "data set": r["dataset"], "preset": r["preset"] or "-",
             "scale": run_scale(r), "networks": r["networks"],
             "train/valid/test": "/".join(str(r["sizes"].get(k, "?")) for k in ("n_train", "n_valid", "n_test"))
             if r["sizes"] else "", "wall s": r["wall_seconds"],
             "status": r["not_run"] or ("complete" if r["complete"] else "INCOMPLETE"),
             "date": r["date"], "file": r["path"]} for r in runs]
    lines = ["## Runs (every results file)", "",
             results_io.format_table(rows, list(rows[0]) if rows else ["experiment"], {"wall s": ".0f"})]
    folders: dict = {}
    for run in runs:
        if run["command"]:
            folders.setdefault(run["command"], []).append(run["folder"])
    if folders:
        lines += ["", "Commands, with the folders they wrote (an absolute output folder is shortened to its last "
                      "part: those runs were copied into the folder named here):", ""]
        lines += [f"- {', '.join(sorted(set(where)))}: `{command}`" for command, where in sorted(folders.items())]
    return lines


def render(folder: str, out_path: str) -> str:
    """The report's Markdown (and its plots, written beside ``out_path``)."""
    runs, cells = gather(folder)
    cells += figure3_cells(runs) + reduced_train_cells(runs)
    networks = train_networks(runs)
    lines = ["# deep-sparse: our numbers beside the papers'", "",
             f"Gathered from `{os.path.basename(os.path.normpath(folder))}`: {len(runs)} results files, "
             f"{len(cells)} cells. Percentages for error rates and sparsities, star units for RMSE. "
             f"{DATA_DIR} stands for the data directory (--data-dir, $DEEP_SPARSE_DATA or the default cache "
             "folder). Sections: paper scale; paper scale with overrides; pipeline checks (reduced presets, no "
             "paper numbers).", ""]
    for section in (PAPER, OVERRIDES, PIPELINE):
        lines += render_section(section, runs, cells, networks, folder, out_path)
    lines += runs_appendix(runs)
    return without_local_paths("\n".join(lines) + "\n")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    if not os.path.isdir(args.folder):
        raise SystemExit(f"{args.folder}: no such folder")
    text = render(args.folder, args.out)
    common.write_text(args.out, text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(common.cli(main))
