"""The paper-scale campaign: the papers' experiments at the ``paper`` preset, unmodified,
in order of priority, run within a time budget and resumed from what is recorded under ``results/``.

    python -m sweeps.campaign --budget-minutes 150          # run the next unfinished steps
    python -m sweeps.campaign --list                        # the steps and where each one stands

Each step is one experiment module run as ``python -m MODULE --preset paper ... --out FOLDER --resume``:
a step already finished recomputes nothing, a half-finished one continues from the finished chunks
recorded in FOLDER (``chunks/``, committed with the results, so a fresh clone continues too; the
running chunk's checkpoints are local and may be gone). The budget is passed on to the module
(``--budget-minutes``): a chunk stops at the first epoch after which it could not finish in time, so
that the campaign ends before the budget with everything finished written down. Exit code 0 when every
step is done, 3 when the budget ran out first, 1 when a step failed.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import NamedTuple, Sequence

from deep_sparse.store import SweepStore
from sweeps import diagnostics

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXIT_DEADLINE = 3
# Below this, no step is started: compiling and loading MNIST alone take a minute or two.
MIN_STEP_MINUTES = 5.0


class Step(NamedTuple):
    name: str
    module: str
    arguments: tuple[str, ...]
    out: str  # relative to the repository root
    reuse: tuple[str, ...] = ()  # folders of earlier steps whose identical networks are taken (--reuse-rows-from)


# Table 1 as recorded under the "mean" reading of the paper's mini-batch cost: the workshop sparsity
# table's preset still reads it so, and its networks that are the same computation are taken from it
TABLE1_MEAN_COST = f"{diagnostics.TABLE1_MEAN_COST}/mnist"
TABLE1_SUMMED = f"{diagnostics.TABLE1_SUMMED}/mnist"
# the diagnostics whose networks lie on the summed-cost preset's grid
TABLE1_DONORS = tuple(diagnostics.folder_of(name) for name in (
    "l1-strength-lr", "l1-weak-grid-ends-half-negated", "seeds-l1-weak-lr-0.1-half-negated",
    "seeds-l1-weak-lr-0.1-rectifier", "lr-grid-top-softplus", "lr-grid-top-tanh",
    "l1-strength-pretrained-half-negated"))
STEPS = (
    Step("Table 1, MNIST (without pre-training first, then with)", "sweeps.table1",
         ("--preset", "paper", "--datasets", "mnist"), "results/table1-paper", reuse=(TABLE1_MEAN_COST, *TABLE1_DONORS)),
    Step("Workshop Table 1: per-layer sparsity with and without L1, and test error without pre-training, "
         "MNIST and Shapeset (generated, not the original set)", "sweeps.sparsity",
         ("--preset", "paper", "--datasets", "mnist", "shapeset"), "results/sparsity-paper",
         reuse=(TABLE1_MEAN_COST,)),
    Step("Figure 3: 200 rectifier networks, L1 in [0, 0.01] (the summed cost's; ours 0 to 0.001 at lr 0.1), seed "
         "after seed", "sweeps.figure3",
         ("--preset", "paper"), "results/figure3-paper"),
    Step("Figure 4, MNIST stand-in for the paper's NORB: test error against the labeled fraction, rectifier and "
         "tanh, with and without pre-training", "sweeps.figure4", ("--preset", "paper", "--datasets", "mnist"),
         "results/figure4-paper-mnist", reuse=(TABLE1_SUMMED,)),
    Step("Rescaled softplus (alpha), MNIST stand-in for the paper's NORB: test error and sparsity against alpha",
         "sweeps.softplus_alpha", ("--preset", "paper", "--datasets", "mnist"), "results/softplus_alpha-paper-mnist",
         reuse=(TABLE1_SUMMED,)),
    Step("Our experiment, not in the papers: section 3.1's ill-conditioning, 16 rectifier networks that start as "
         "one function (alpha vectors of product 1), with and without L1", "sweeps.ill_conditioning",
         ("--preset", "paper"), "results/ill-conditioning-paper"),
    Step("Extra, no paper numbers: Table 1's procedure on Shapeset (generated), with and without pre-training",
         "sweeps.table1", ("--preset", "paper", "--datasets", "shapeset"), "results/table1-paper-shapeset"),
)

# The labelled diagnostics of Table 1's gap (never Table 1 cells): ``--diagnostics``.
DIAGNOSTIC_STEPS = tuple(
    Step(f"Diagnostic {d.name}: {d.question} Change: {d.change}", "sweeps.train", diagnostics.train_arguments(d),
         diagnostics.folder(d), reuse=(d.table1_mnist, *map(diagnostics.folder_of, d.reuse)))
    for d in diagnostics.DIAGNOSTICS)


def step_key(step: Step) -> str:
    """The name ``--only`` selects a step by: its folder's name."""
    return os.path.basename(step.out)


def command(step: Step, budget_minutes: float | None, python: str = sys.executable,
            chunk_size: int | None = None, root: str = "") -> list[str]:
    """The command line of ``step`` (always ``--resume``: a folder without a sweep simply starts one)."""
    out = os.path.join(root, step.out) if root else step.out
    line = [python, "-m", step.module, *step.arguments, "--out", out, "--resume", "--no-progress"]
    # a donor not run yet has nothing to give
    donors = [os.path.join(root, folder) if root else folder for folder in step.reuse
              if os.path.exists(os.path.join(root or REPO, folder, "plan.json"))]
    if donors:
        line += ["--reuse-rows-from", *donors]
    if budget_minutes is not None:
        line += ["--budget-minutes", f"{budget_minutes:.1f}"]
    if chunk_size is not None:
        line += ["--chunk-size", str(chunk_size)]
    return line


def standing(step: Step, root: str = "") -> str:
    """Where ``step`` stands: networks recorded of those planned, per sweep folder (the step's folder,
    or one per data set under it)."""
    out = os.path.join(root or REPO, step.out)
    folders = [out] + ([os.path.join(out, name) for name in sorted(os.listdir(out))] if os.path.isdir(out) else [])
    parts = []
    for folder in (f for f in folders if os.path.isfile(os.path.join(f, "plan.json"))):
        recorded, planned = SweepStore(folder).standing()
        parts.append(f"{os.path.relpath(folder, out) if folder != out else step.out}: "
                     f"{recorded} of {planned} networks recorded")
    return "; ".join(parts) if parts else "not started"


def run(steps: Sequence[Step], budget_minutes: float, chunk_size: int | None = None, root: str = "",
        log=print) -> int:
    """Run ``steps`` in order until one fails, the budget runs out, or all are done."""
    deadline = time.time() + 60 * budget_minutes
    for step in steps:
        left = (deadline - time.time()) / 60
        if left < MIN_STEP_MINUTES:
            log(f"campaign: {left:.1f} min left, not starting '{step.name}'")
            return EXIT_DEADLINE
        line = command(step, left, chunk_size=chunk_size, root=root)
        log(f"campaign: {step.name}\n  $ {' '.join(line[1:])}")
        started = time.time()
        code = subprocess.call(line, cwd=REPO)
        log(f"campaign: '{step.name}' exited {code} after {(time.time() - started) / 60:.1f} min")
        if code == EXIT_DEADLINE:
            return EXIT_DEADLINE
        if code != 0:
            return 1
    log("campaign: every step is done")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sweeps.campaign", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Steps, in order:\n" + "\n".join(f"  {i + 1}. {s.name}\n     python -m {s.module} {' '.join(s.arguments)} "
                                                f"--out {s.out}" for i, s in enumerate(STEPS))
        + "\n\nDiagnostics (--diagnostics): " + ", ".join(step_key(s) for s in DIAGNOSTIC_STEPS))
    parser.add_argument("--budget-minutes", type=float, help="stop cleanly before this many minutes have passed")
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="networks per chunk, passed on to every step (a run option, not a preset value: "
                             "on a CPU, 1 makes the unit of work that a stop can lose one network; default: "
                             "automatic)")
    parser.add_argument("--root", default="", metavar="DIR",
                        help="write each step's folder under DIR instead of the repository root (on a lent "
                             "machine: copy results/ to $OUT/results first, so that the steps resume from "
                             "what is committed and what they add comes back)")
    parser.add_argument("--diagnostics", action="store_true",
                        help="run the labelled diagnostics of Table 1's gap to the paper (sweeps/diagnostics.py; "
                             "each the paper preset changed in one named way, under results/diagnostics/) "
                             "instead of the paper's experiments")
    parser.add_argument("--only", nargs="+", default=None, metavar="STEP",
                        help="run only these steps, named by their folder (e.g. table1-paper, seeds-tanh): two "
                             "processes pinned to one core each, each with its own steps, train faster than one")
    parser.add_argument("--list", action="store_true",
                        help="print the steps, their commands and where each stands (networks recorded under "
                             "results/ of those planned, a pre-trained network whose pre-training lr was not "
                             "selected counting as recorded), run nothing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    steps = DIAGNOSTIC_STEPS if args.diagnostics else STEPS
    if args.only is not None:
        known = {step_key(step): step for step in steps}
        unknown = [name for name in args.only if name not in known]
        if unknown:
            parser.error(f"--only: unknown step {', '.join(unknown)}; the steps are {', '.join(known)}")
        steps = tuple(known[name] for name in args.only)
    if args.list:
        for step in steps:
            print(f"{step.name}\n  {' '.join(command(step, None, 'python'))}\n  stands: {standing(step)}")
        return 0
    if args.budget_minutes is None or not args.budget_minutes > 0:
        parser.error("--budget-minutes must be given and > 0")
    root = os.path.abspath(args.root) if args.root else ""
    return run(steps, args.budget_minutes, args.chunk_size, root, log=lambda message: print(message, flush=True))


if __name__ == "__main__":
    raise SystemExit(main())
